//! `crm.type.add / get / getByEntityTypeId / list / update / delete / fields` — smart-process
//! types (D7 controller: camelCase, HTTP 400 with codes). A type's `entityTypeId` (128..191)
//! becomes a valid `crm.item.*` type and binding target as soon as it exists.
//! Docs: api-reference/crm/universal/user-defined-object-types/*.md. Rules and writes:
//! [`crate::domain::dynamic_types`].

use super::listing::{self, Dialect, ListField, ListFields};
use super::{Call, Handler, MethodSpec, Output};
use crate::domain::dynamic_types::{self, FLAGS};
use crate::error::ApiError;
use crate::store::{Column, CompareOp, DynamicTypeRecord, Filter, SqlValue};
use b24_protocol::values::bind_int;
use b24_protocol::{RestError, PAGE_SIZE};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;

/// `crm.type.add(fields)`.
pub const ADD: MethodSpec = MethodSpec {
    name: "crm.type.add",
    scope: Some("crm"),
    handler: Handler::Blocking(add),
    doc: "Create a smart-process type (entityTypeId 128..191).",
};

/// `crm.type.get(id)`.
pub const GET: MethodSpec = MethodSpec {
    name: "crm.type.get",
    scope: Some("crm"),
    handler: Handler::Blocking(get),
    doc: "Read a smart-process type by its id.",
};

/// `crm.type.getByEntityTypeId(entityTypeId)`.
pub const GET_BY_ENTITY_TYPE_ID: MethodSpec = MethodSpec {
    name: "crm.type.getbyentitytypeid",
    scope: Some("crm"),
    handler: Handler::Blocking(get_by_entity_type_id),
    doc: "Read a smart-process type by the entityTypeId of its items.",
};

/// `crm.type.list(start)`.
pub const LIST: MethodSpec = MethodSpec {
    name: "crm.type.list",
    scope: Some("crm"),
    handler: Handler::Blocking(list),
    doc: "List smart-process types, 50 per page.",
};

/// `crm.type.update(id, fields)`.
pub const UPDATE: MethodSpec = MethodSpec {
    name: "crm.type.update",
    scope: Some("crm"),
    handler: Handler::Blocking(update),
    doc: "Change a smart-process type's title or settings.",
};

/// `crm.type.delete(id)`.
pub const DELETE: MethodSpec = MethodSpec {
    name: "crm.type.delete",
    scope: Some("crm"),
    handler: Handler::Blocking(delete),
    doc: "Delete a smart-process type that has no items.",
};

/// `crm.type.fields()`.
pub const FIELDS: MethodSpec = MethodSpec {
    name: "crm.type.fields",
    scope: Some("crm"),
    handler: Handler::Blocking(fields),
    doc: "Describe the fields of smart-process types.",
};

fn type_json(t: &DynamicTypeRecord) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(t.id));
    out.insert("createdBy".into(), json!(t.created_by));
    out.insert("entityTypeId".into(), json!(t.entity_type_id));
    for (flag, default) in FLAGS {
        let value = t.settings.get(*flag).cloned().unwrap_or(json!(default));
        out.insert((*flag).into(), value);
    }
    out.insert(
        "code".into(),
        t.settings.get("code").cloned().unwrap_or(Value::Null),
    );
    out.insert("createdTime".into(), json!(t.created_time));
    out.insert("updatedTime".into(), json!(t.updated_time));
    out.insert("updatedBy".into(), json!(t.updated_by));
    out.insert("title".into(), json!(t.title));
    out.insert(
        "relations".into(),
        t.settings
            .get("relations")
            .cloned()
            .unwrap_or_else(|| json!({"parent": [], "child": []})),
    );
    out.insert("linkedUserFields".into(), json!({}));
    out.insert("customSections".into(), json!([]));
    out.insert(
        "customSectionId".into(),
        t.settings
            .get("customSectionId")
            .cloned()
            .unwrap_or(Value::Null),
    );
    Value::Object(out)
}

fn wrapped(t: &DynamicTypeRecord) -> Output {
    Output::result(json!({ "type": type_json(t) }))
}

fn fields_param(call: &Call<'_>) -> Result<Map<String, Value>, ApiError> {
    call.params
        .map("fields")?
        .ok_or_else(|| RestError::missing_parameter("fields").into())
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = fields_param(call)?;
    let permissions = &call.caller.permissions;
    let record = call.state.store.write(call.caller.portal_id, |tx| {
        dynamic_types::add(tx, permissions, &fields)
    })?;
    Ok(wrapped(&record))
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = call.params.int("id")?;
    let record = call
        .state
        .store
        .read(call.caller.portal_id, |tx| dynamic_types::get(tx, id))?;
    Ok(wrapped(&record))
}

fn get_by_entity_type_id(call: &Call<'_>) -> Result<Output, ApiError> {
    let entity_type_id = call.params.int("entityTypeId")?;
    let record = call.state.store.read(call.caller.portal_id, |tx| {
        dynamic_types::get_by_entity_type_id(tx, entity_type_id)
    })?;
    Ok(wrapped(&record))
}

/// The fields `crm.type.list` filters by: the scalar fields of `crm.type.fields`.
struct TypeListFields;

const INT_FIELDS: &[&str] = &[
    "id",
    "entityTypeId",
    "createdBy",
    "updatedBy",
    "customSectionId",
];
const TEXT_FIELDS: &[&str] = &["title", "code", "createdTime", "updatedTime"];

impl ListFields for TypeListFields {
    fn field(&self, key: &str) -> Option<ListField> {
        let known = |names: &[&'static str]| names.iter().copied().find(|n| *n == key);
        if let Some(name) = known(INT_FIELDS).or_else(|| (key == "ID").then_some("id")) {
            return Some(ListField {
                column: Column::Plain(name),
                convert: Box::new(|v| bind_int(v).map(SqlValue::Int)),
            });
        }
        let flag = FLAGS.iter().map(|(f, _)| *f).find(|f| *f == key);
        let name = known(TEXT_FIELDS).or(flag)?;
        Some(ListField {
            column: Column::Plain(name),
            convert: Box::new(|v| match v {
                Value::String(s) => Some(SqlValue::Text(s.clone())),
                Value::Bool(b) => Some(SqlValue::Text(if *b { "Y" } else { "N" }.into())),
                _ => None,
            }),
        })
    }
}

/// A type's value of a filter column, as the filter compares it.
fn type_value(t: &DynamicTypeRecord, column: Column) -> SqlValue {
    let (Column::Plain(name) | Column::Extra(name)) = column else {
        return SqlValue::Null;
    };
    match name {
        "id" => SqlValue::Int(t.id),
        "entityTypeId" => SqlValue::Int(t.entity_type_id),
        "createdBy" => SqlValue::Int(t.created_by),
        "updatedBy" => SqlValue::Int(t.updated_by),
        "title" => SqlValue::Text(t.title.clone()),
        "createdTime" => SqlValue::Text(t.created_time.clone()),
        "updatedTime" => SqlValue::Text(t.updated_time.clone()),
        "code" | "customSectionId" => match t.settings.get(name) {
            Some(Value::String(s)) => SqlValue::Text(s.clone()),
            Some(Value::Number(n)) => n.as_i64().map_or(SqlValue::Null, SqlValue::Int),
            _ => SqlValue::Null,
        },
        flag => {
            let default = FLAGS
                .iter()
                .find(|(f, _)| *f == flag)
                .map_or("N", |(_, d)| d);
            let value = t.settings.get(flag).and_then(Value::as_str);
            SqlValue::Text(value.unwrap_or(default).to_string())
        }
    }
}

fn order_of(a: &SqlValue, b: &SqlValue) -> Option<Ordering> {
    match (a, b) {
        (SqlValue::Int(a), SqlValue::Int(b)) => Some(a.cmp(b)),
        (SqlValue::Text(a), SqlValue::Text(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// SQL `LIKE` on text: `%` any run, `_` one character, `\` escapes the next one.
fn like(text: &[char], pattern: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('%', rest)) => (0..=text.len()).any(|i| like(&text[i..], rest)),
        Some(('_', rest)) => !text.is_empty() && like(&text[1..], rest),
        Some(('\\', [c, rest @ ..])) | Some((c, rest)) => {
            text.first() == Some(c) && like(&text[1..], rest)
        }
    }
}

/// Evaluates a filter tree on one type: the types are few (at most 64), so `crm.type.list`
/// filters them in memory with the same parser, and the same meaning, as the item lists.
fn matches(t: &DynamicTypeRecord, filter: &Filter) -> bool {
    match filter {
        Filter::All(parts) => parts.iter().all(|p| matches(t, p)),
        Filter::Any(parts) => parts.iter().any(|p| matches(t, p)),
        Filter::Compare { column, op, values } => {
            let value = type_value(t, *column);
            let first = values.first();
            let cmp = || first.and_then(|v| order_of(&value, v));
            match op {
                CompareOp::Eq => cmp() == Some(Ordering::Equal),
                CompareOp::NotEq => cmp() != Some(Ordering::Equal),
                CompareOp::Gt => cmp() == Some(Ordering::Greater),
                CompareOp::Ge => matches!(cmp(), Some(Ordering::Greater | Ordering::Equal)),
                CompareOp::Lt => cmp() == Some(Ordering::Less),
                CompareOp::Le => matches!(cmp(), Some(Ordering::Less | Ordering::Equal)),
                CompareOp::In => values
                    .iter()
                    .any(|v| order_of(&value, v) == Some(Ordering::Equal)),
                CompareOp::NotIn => !values
                    .iter()
                    .any(|v| order_of(&value, v) == Some(Ordering::Equal)),
                CompareOp::Like | CompareOp::NotLike => {
                    let hit = match (&value, first) {
                        (SqlValue::Text(text), Some(SqlValue::Text(pattern))) => {
                            let text: Vec<char> = text.to_lowercase().chars().collect();
                            let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
                            like(&text, &pattern)
                        }
                        _ => false,
                    };
                    hit == (*op == CompareOp::Like)
                }
            }
        }
        Filter::BoundTo(_) | Filter::ReadableThroughBindings { .. } => false,
    }
}

/// The most types a portal can hold (entity type ids 128..191).
const MAX_TYPES: u64 = 64;

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    let page = call.params.page();
    // A filter on a field the type does not have is refused as `crm.item.list` refuses it
    // (400 `INVALID_ARG_VALUE`), before anything is read.
    let filter = match call.params.get("filter") {
        Some(Value::Object(map)) => listing::parse_filter(map, &TypeListFields, Dialect::D7)?,
        _ => Filter::All(Vec::new()),
    };
    let all = call.state.store.read(call.caller.portal_id, |tx| {
        dynamic_types::list(tx, 0, MAX_TYPES, false)
    })?;
    let kept: Vec<&DynamicTypeRecord> = all.rows.iter().filter(|t| matches(t, &filter)).collect();
    let total = kept.len() as u64;
    let types: Vec<Value> = kept
        .into_iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(PAGE_SIZE as usize)
        .map(type_json)
        .collect();
    let total = page.count.then_some(total);
    let next = total.and_then(|total| page.next(types.len(), total));
    Ok(Output {
        result: super::keyed("types", Value::from(types)),
        next,
        total,
    })
}

fn update(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = call.params.int("id")?;
    let fields = fields_param(call)?;
    let permissions = &call.caller.permissions;
    let record = call.state.store.write(call.caller.portal_id, |tx| {
        dynamic_types::update(tx, permissions, id, &fields)
    })?;
    Ok(wrapped(&record))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = call.params.int("id")?;
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        dynamic_types::delete(tx, permissions, id)
    })?;
    Ok(Output::result(json!([])))
}

/// `crm.type.fields`, as the service describes it: name, type, `isRequired`, `isReadOnly`,
/// `isImmutable`, title, upper-case name.
const TYPE_FIELDS: &[(&str, &str, bool, bool, bool, &str, &str)] = &[
    ("id", "integer", false, true, false, "ID", "ID"),
    ("title", "string", true, false, false, "Title", "TITLE"),
    (
        "code",
        "string",
        false,
        false,
        false,
        "Symbolic Code",
        "CODE",
    ),
    (
        "createdBy",
        "user",
        false,
        true,
        false,
        "Created By",
        "CREATED_BY",
    ),
    (
        "entityTypeId",
        "integer",
        true,
        false,
        true,
        "Type Identifier",
        "ENTITY_TYPE_ID",
    ),
    (
        "customSectionId",
        "integer",
        false,
        false,
        true,
        "Digital Workspace",
        "CUSTOM_SECTION_ID",
    ),
    (
        "isCategoriesEnabled",
        "boolean",
        false,
        false,
        false,
        "Use custom funnels and sales tunnels in the smart process",
        "IS_CATEGORIES_ENABLED",
    ),
    (
        "isStagesEnabled",
        "boolean",
        false,
        false,
        false,
        "Use custom stages and Kanban in the smart process",
        "IS_STAGES_ENABLED",
    ),
    (
        "isBeginCloseDatesEnabled",
        "boolean",
        false,
        false,
        false,
        "Fields 'Start Date' and 'End Date'",
        "IS_BEGIN_CLOSE_DATES_ENABLED",
    ),
    (
        "isClientEnabled",
        "boolean",
        false,
        false,
        false,
        "Field 'Client'",
        "IS_CLIENT_ENABLED",
    ),
    (
        "isUseInUserfieldEnabled",
        "boolean",
        false,
        false,
        false,
        "Use in user field",
        "IS_USE_IN_USERFIELD_ENABLED",
    ),
    (
        "isLinkWithProductsEnabled",
        "boolean",
        false,
        false,
        false,
        "Link with catalog products",
        "IS_LINK_WITH_PRODUCTS_ENABLED",
    ),
    (
        "isMycompanyEnabled",
        "boolean",
        false,
        false,
        false,
        "Field 'Your Company Details'",
        "IS_MYCOMPANY_ENABLED",
    ),
    (
        "isDocumentsEnabled",
        "boolean",
        false,
        false,
        false,
        "Document Printing",
        "IS_DOCUMENTS_ENABLED",
    ),
    (
        "isSourceEnabled",
        "boolean",
        false,
        false,
        false,
        "Fields 'Source' and 'Additional Information about Source'",
        "IS_SOURCE_ENABLED",
    ),
    (
        "isObserversEnabled",
        "boolean",
        false,
        false,
        false,
        "Field 'Observers'",
        "IS_OBSERVERS_ENABLED",
    ),
    (
        "isRecyclebinEnabled",
        "boolean",
        false,
        false,
        false,
        "Use Recycle Bin",
        "IS_RECYCLEBIN_ENABLED",
    ),
    (
        "isAutomationEnabled",
        "boolean",
        false,
        false,
        false,
        "Use Automation rules and triggers in the smart process",
        "IS_AUTOMATION_ENABLED",
    ),
    (
        "isBizProcEnabled",
        "boolean",
        false,
        false,
        false,
        "Use business process designer in the smart process",
        "IS_BIZ_PROC_ENABLED",
    ),
    (
        "isSetOpenPermissions",
        "boolean",
        false,
        false,
        false,
        "Make new funnels available to everyone",
        "IS_SET_OPEN_PERMISSIONS",
    ),
    (
        "isPaymentsEnabled",
        "boolean",
        false,
        false,
        false,
        "Payments",
        "IS_PAYMENTS_ENABLED",
    ),
    (
        "isCountersEnabled",
        "boolean",
        false,
        false,
        false,
        "Counters",
        "IS_COUNTERS_ENABLED",
    ),
    (
        "createdTime",
        "datetime",
        false,
        false,
        false,
        "Creation Date",
        "CREATED_TIME",
    ),
    (
        "updatedTime",
        "datetime",
        false,
        false,
        false,
        "Modification Date",
        "UPDATED_TIME",
    ),
    (
        "updatedBy",
        "user",
        false,
        true,
        false,
        "Modified By",
        "UPDATED_BY",
    ),
];

fn fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    let out: Map<String, Value> = TYPE_FIELDS
        .iter()
        .map(
            |(name, kind, required, read_only, immutable, title, upper)| {
                let d = json!({"type": kind, "isRequired": required, "isReadOnly": read_only,
                           "isImmutable": immutable, "isMultiple": false, "isDynamic": false,
                           "title": title, "upperName": upper});
                (name.to_string(), d)
            },
        )
        .collect();
    Ok(Output::result(super::keyed("fields", Value::from(out))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_describes_every_flag_a_type_carries() {
        for (flag, _) in FLAGS {
            assert!(
                TYPE_FIELDS.iter().any(|(name, ..)| name == flag),
                "crm.type.fields lacks {flag}"
            );
        }
    }
}
