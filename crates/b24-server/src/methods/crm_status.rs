//! `crm.status.list / get / fields / entity.types / entity.items / add / update / delete` — the
//! CRM dictionaries: lead statuses, sources, types, and the stages of every pipeline (legacy
//! proxy: UPPER_CASE fields, numbers as strings, errors HTTP 400 with `"error": ""` and the
//! text). Docs: api-reference/crm/status/*.md. Rules and writes: [`crate::domain::statuses`].

use super::legacy_entity::{legacy_fields, legacy_map};
use super::listing::{self, Dialect, ListField, ListFields};
use super::{Call, Handler, MethodSpec, Output};
use crate::domain::statuses::{self, Dictionary};
use crate::domain::EntityTypeId;
use crate::error::ApiError;
use crate::store::statuses::StatusRecord;
use crate::store::{Column, Filter, ListQuery, SqlValue, Tx};
use b24_protocol::values::bind_int;
use b24_protocol::{RestError, PAGE_SIZE};
use serde_json::{json, Map, Value};

/// `crm.status.add(fields)`.
pub const ADD: MethodSpec = MethodSpec {
    name: "crm.status.add",
    scope: Some("crm"),
    handler: Handler::Blocking(add),
    doc: "Add an entry (a stage, a source, …) to a CRM dictionary; administrators only.",
};

/// `crm.status.delete(id, params)`.
pub const DELETE: MethodSpec = MethodSpec {
    name: "crm.status.delete",
    scope: Some("crm"),
    handler: Handler::Blocking(delete),
    doc: "Delete a dictionary entry no item uses (a system one only with FORCED=Y).",
};

/// `crm.status.entity.items(entityId)`.
pub const ENTITY_ITEMS: MethodSpec = MethodSpec {
    name: "crm.status.entity.items",
    scope: Some("crm"),
    handler: Handler::Blocking(entity_items),
    doc: "List the entries of one CRM dictionary by SORT.",
};

/// `crm.status.entity.types()`.
pub const ENTITY_TYPES: MethodSpec = MethodSpec {
    name: "crm.status.entity.types",
    scope: Some("crm"),
    handler: Handler::Blocking(entity_types),
    doc: "List the CRM dictionaries, pipelines' stage lists included.",
};

/// `crm.status.fields()`.
pub const FIELDS: MethodSpec = MethodSpec {
    name: "crm.status.fields",
    scope: Some("crm"),
    handler: Handler::Blocking(fields),
    doc: "Describe the fields of CRM dictionary entries.",
};

/// `crm.status.get(id)`.
pub const GET: MethodSpec = MethodSpec {
    name: "crm.status.get",
    scope: Some("crm"),
    handler: Handler::Blocking(get),
    doc: "Read one CRM dictionary entry.",
};

/// `crm.status.list(order, filter, start)`.
pub const LIST: MethodSpec = MethodSpec {
    name: "crm.status.list",
    scope: Some("crm"),
    handler: Handler::Blocking(list),
    doc: "List CRM dictionary entries, 50 per page, with filter and order.",
};

/// `crm.status.update(id, fields)`.
pub const UPDATE: MethodSpec = MethodSpec {
    name: "crm.status.update",
    scope: Some("crm"),
    handler: Handler::Blocking(update),
    doc: "Rename, re-sort or recolour a dictionary entry; administrators only.",
};

/// Whether the entry belongs to a dictionary of stages (those carry semantics and `EXTRA`).
fn is_stage(status: &StatusRecord) -> bool {
    matches!(
        statuses::parse_entity_id(&status.entity_id),
        Some(Dictionary::Stages { .. })
    )
}

/// The entry as `crm.status.get` shows it: numbers as strings, `CATEGORY_ID` null outside
/// pipelines (and in the default deal pipeline), empty colour and semantics as null.
fn status_json(s: &StatusRecord) -> Map<String, Value> {
    let or_null = |text: &str| {
        if text.is_empty() {
            Value::Null
        } else {
            json!(text)
        }
    };
    let mut out = Map::new();
    out.insert("ID".into(), json!(s.id.to_string()));
    out.insert("ENTITY_ID".into(), json!(s.entity_id));
    out.insert("STATUS_ID".into(), json!(s.status_id));
    out.insert("NAME".into(), json!(s.name));
    out.insert("NAME_INIT".into(), json!(s.name_init));
    out.insert("SORT".into(), json!(s.sort.to_string()));
    out.insert("SYSTEM".into(), json!(if s.system { "Y" } else { "N" }));
    out.insert(
        "CATEGORY_ID".into(),
        if s.category_id == 0 {
            Value::Null
        } else {
            json!(s.category_id.to_string())
        },
    );
    out.insert("COLOR".into(), or_null(&s.color));
    out.insert("SEMANTICS".into(), or_null(&s.semantics));
    out
}

/// The entry as `crm.status.list` shows it: a stage also carries `EXTRA` with its semantics
/// spelled out (`process`, `success`, `failure`; `apology` for a failure stage other than the
/// pipeline's own).
fn list_json(s: &StatusRecord) -> Value {
    let mut out = status_json(s);
    if is_stage(s) {
        let semantics = match (s.semantics.as_str(), s.system) {
            ("S", _) => "success",
            ("F", true) => "failure",
            ("F", false) => "apology",
            _ => "process",
        };
        out.insert(
            "EXTRA".into(),
            json!({"SEMANTICS": semantics, "COLOR": s.color}),
        );
    }
    Value::Object(out)
}

/// The legacy `id` of `crm.status.get / update / delete`: a positive integer.
fn status_id_param(call: &Call<'_>) -> Result<i64, ApiError> {
    call.params
        .get_ci("id")
        .and_then(bind_int)
        .filter(|&id| id > 0)
        .ok_or_else(|| RestError::legacy("Invalid identifier.").into())
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = status_id_param(call)?;
    let status = call
        .state
        .store
        .read(call.caller.portal_id, |tx| statuses::get(tx, id))?;
    Ok(Output::result(Value::Object(status_json(&status))))
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = legacy_fields(call)?;
    let permissions = &call.caller.permissions;
    let id = call.state.store.write(call.caller.portal_id, |tx| {
        statuses::add(tx, permissions, &fields)
    })?;
    Ok(Output::result(json!(id)))
}

fn update(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = status_id_param(call)?;
    let fields = legacy_fields(call)?;
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        statuses::update(tx, permissions, id, &fields)
    })?;
    Ok(Output::result(json!(true)))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = status_id_param(call)?;
    let params = legacy_map(call, "params")?.unwrap_or_default();
    let forced = params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("FORCED"))
        .and_then(|(_, v)| v.as_str())
        .is_some_and(|v| v.eq_ignore_ascii_case("Y"));
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        statuses::delete(tx, permissions, id, forced)
    })?;
    Ok(Output::result(json!(true)))
}

fn entity_items(call: &Call<'_>) -> Result<Output, ApiError> {
    let entity_id = match call.params.get_ci("entityId") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => {
            return Err(
                RestError::legacy("The parameter entityId is not defined or invalid.").into(),
            )
        }
    };
    let rows = call
        .state
        .store
        .read(call.caller.portal_id, |tx| tx.statuses_of(&entity_id))?;
    let items: Vec<Value> = rows
        .iter()
        .map(|s| json!({"NAME": s.name, "SORT": s.sort, "STATUS_ID": s.status_id}))
        .collect();
    Ok(Output::result(Value::Array(items)))
}

/// `SEMANTIC_INFO` of a pipeline whose codes carry `prefix`.
fn semantic_info(prefix: &str, start: &str, success: &str, failure: &str) -> Value {
    json!({
        "START_FIELD": format!("{prefix}{start}"),
        "FINAL_SUCCESS_FIELD": format!("{prefix}{success}"),
        "FINAL_UNSUCCESS_FIELD": format!("{prefix}{failure}"),
        "FINAL_SORT": 0,
    })
}

fn entity_types(call: &Call<'_>) -> Result<Output, ApiError> {
    let (deal_categories, dynamic) = call.state.store.read(call.caller.portal_id, |tx| {
        let deals = tx
            .categories(EntityTypeId::DEAL, 0, u64::MAX >> 1, false)?
            .rows;
        let mut dynamic = Vec::new();
        for t in tx.list_dynamic_types(0, 64, false)?.rows {
            if statuses::has_stages(&t) {
                let categories = tx.categories(t.entity_type_id, 0, u64::MAX >> 1, false)?;
                dynamic.push((t, categories.rows));
            }
        }
        Ok((deals, dynamic))
    })?;
    let mut out = vec![json!({
        "ID": "STATUS",
        "NAME": "Lead stages",
        "SEMANTIC_INFO": semantic_info("", "NEW", "CONVERTED", "JUNK"),
        "ENTITY_TYPE_ID": EntityTypeId::LEAD,
    })];
    let plain: Vec<(&str, &str)> = statuses::plain_dictionaries().collect();
    for (id, name) in plain.iter().filter(|(id, _)| *id != "HONORIFIC") {
        out.push(json!({"ID": id, "NAME": name}));
    }
    for c in deal_categories.iter().filter(|c| c.id != 0) {
        let prefix = format!("C{}", c.id);
        out.push(json!({
            "ID": format!("DEAL_STAGE_{}", c.id),
            "NAME": format!("{} deal stages", c.name),
            "PARENT_ID": "DEAL_STAGE",
            "SEMANTIC_INFO": semantic_info(&format!("{prefix}:"), "NEW", "WON", "LOSE"),
            "PREFIX": prefix,
            "FIELD_ATTRIBUTE_SCOPE": format!("category_{}", c.id),
            "ENTITY_TYPE_ID": EntityTypeId::DEAL,
            "CATEGORY_ID": c.id.to_string(),
        }));
    }
    out.push(json!({
        "ID": "DEAL_STAGE",
        "NAME": "General deal stages",
        "SEMANTIC_INFO": semantic_info("", "NEW", "WON", "LOSE"),
        "FIELD_ATTRIBUTE_SCOPE": "",
        "ENTITY_TYPE_ID": EntityTypeId::DEAL,
        "CATEGORY_ID": 0,
    }));
    out.push(json!({
        "ID": "QUOTE_STATUS",
        "NAME": "Quote stages",
        "SEMANTIC_INFO": semantic_info("", "DRAFT", "APPROVED", "DECLAINED"),
        "ENTITY_TYPE_ID": EntityTypeId::QUOTE,
    }));
    for (id, name) in plain.iter().filter(|(id, _)| *id == "HONORIFIC") {
        out.push(json!({"ID": id, "NAME": name}));
    }
    for (t, categories) in &dynamic {
        for c in categories {
            out.push(json!({
                "ID": format!("DYNAMIC_{}_STAGE_{}", t.entity_type_id, c.id),
                "NAME": format!("{} ({})", t.title, c.name),
                "SEMANTIC_INFO": [],
                "PREFIX": format!("DT{}_{}", t.entity_type_id, c.id),
                "FIELD_ATTRIBUTE_SCOPE": format!("category_{}", c.id),
                "ENTITY_TYPE_ID": t.entity_type_id,
                "IS_ENABLED": true,
                "CATEGORY_ID": c.id,
                "CATEGORY_NAME": c.name,
                "CATEGORY_SORT": c.sort,
                "IS_DEFAULT_CATEGORY": c.is_default,
            }));
        }
    }
    Ok(Output::result(Value::Array(out)))
}

fn fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    let describe = |kind: &str, title: &str, required: bool, read_only: bool, immutable: bool| {
        json!({"type": kind, "isRequired": required, "isReadOnly": read_only,
               "isImmutable": immutable, "isMultiple": false, "isDynamic": false, "title": title})
    };
    let mut out = Map::new();
    out.insert("ID".into(), describe("integer", "ID", false, true, false));
    out.insert(
        "ENTITY_ID".into(),
        describe("string", "Entity ID", true, false, true),
    );
    out.insert(
        "STATUS_ID".into(),
        describe("string", "Status", true, false, true),
    );
    out.insert(
        "SORT".into(),
        describe("integer", "Sorting", false, false, false),
    );
    out.insert(
        "NAME".into(),
        describe("string", "Name", true, false, false),
    );
    out.insert(
        "NAME_INIT".into(),
        describe("string", "Default Name", false, true, false),
    );
    out.insert(
        "SYSTEM".into(),
        describe("char", "System", false, true, false),
    );
    out.insert(
        "CATEGORY_ID".into(),
        describe("integer", "CATEGORY_ID", false, false, true),
    );
    out.insert(
        "COLOR".into(),
        describe("string", "COLOR", false, false, false),
    );
    out.insert(
        "SEMANTICS".into(),
        describe("char", "SEMANTICS", false, false, true),
    );
    out.insert(
        "EXTRA".into(),
        describe("crm_status_extra", "Additional Fields", false, false, false),
    );
    Ok(Output::result(Value::Object(out)))
}

/// The columns `crm.status.list` filters and sorts by, under their field names (any case).
struct StatusListFields;

const INT_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("SORT", "sort"),
    ("CATEGORY_ID", "category_id"),
];
const TEXT_COLUMNS: &[(&str, &str)] = &[
    ("ENTITY_ID", "entity_id"),
    ("STATUS_ID", "status_id"),
    ("NAME", "name"),
    ("NAME_INIT", "name_init"),
    ("COLOR", "color"),
    ("SEMANTICS", "semantics"),
];

impl ListFields for StatusListFields {
    fn field(&self, key: &str) -> Option<ListField> {
        let find = |columns: &[(&'static str, &'static str)]| {
            columns
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(key))
                .map(|(_, column)| *column)
        };
        if let Some(column) = find(INT_COLUMNS) {
            return Some(ListField {
                column: Column::Plain(column),
                convert: Box::new(|v| match v {
                    // `CATEGORY_ID` null (outside pipelines) is stored as 0.
                    Value::Null => Some(SqlValue::Int(0)),
                    v => bind_int(v).map(SqlValue::Int),
                }),
            });
        }
        let column = find(TEXT_COLUMNS)?;
        Some(ListField {
            column: Column::Plain(column),
            convert: Box::new(|v| match v {
                Value::String(s) => Some(SqlValue::Text(s.clone())),
                Value::Number(n) => Some(SqlValue::Text(n.to_string())),
                Value::Null => Some(SqlValue::Text(String::new())),
                _ => None,
            }),
        })
    }
}

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    let filter = match legacy_map(call, "filter")? {
        Some(map) => listing::parse_filter(&map, &StatusListFields, Dialect::LegacyCrm)?,
        None => Filter::everything(),
    };
    let mut order = match legacy_map(call, "order")? {
        Some(map) => listing::parse_order(&map, &StatusListFields, Dialect::LegacyCrm)?,
        None => Vec::new(),
    };
    if order.is_empty() {
        order.push((Column::Plain("sort"), false));
    }
    let page = call.params.page();
    let query = ListQuery {
        filter,
        order,
        offset: page.offset,
        limit: PAGE_SIZE,
        count: page.count,
    };
    let result = call
        .state
        .store
        .read(call.caller.portal_id, |tx: &mut dyn Tx| {
            tx.list_statuses(&query)
        })?;
    let rows: Vec<Value> = result.rows.iter().map(list_json).collect();
    Ok(Output {
        next: result.total.and_then(|total| page.next(rows.len(), total)),
        total: result.total,
        result: Value::Array(rows),
    })
}
