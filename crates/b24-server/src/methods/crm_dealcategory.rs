//! `crm.dealcategory.*` — the older deal-pipeline methods (legacy proxy: UPPER_CASE fields,
//! numbers as strings, errors HTTP 400 with `"error": ""` and the text), over the same pipelines
//! as `crm.category.*` with `entityTypeId` 2. The default pipeline 0 is not among the listed
//! ones: `default.get` / `default.set` read and rename it. Docs:
//! api-reference/crm/outdated/category-old/*.md. Rules: [`crate::domain::categories`].

use super::legacy_entity::{legacy_fields, legacy_id, legacy_map};
use super::listing;
use super::{Call, Handler, MethodSpec, Output};
use crate::domain::categories::{self, CategoryError, LEGACY_NAMES};
use crate::domain::statuses;
use crate::domain::EntityTypeId;
use crate::error::ApiError;
use crate::store::categories::CategoryRecord;
use b24_protocol::values::bind_int;
use b24_protocol::{RestError, PAGE_SIZE};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;

const DEAL: i64 = EntityTypeId::DEAL;

macro_rules! spec {
    ($const:ident, $name:literal, $handler:ident, $doc:literal) => {
        #[doc = concat!("`", $name, "`.")]
        pub const $const: MethodSpec = MethodSpec {
            name: $name,
            scope: Some("crm"),
            handler: Handler::Blocking($handler),
            doc: $doc,
        };
    };
}

spec!(
    ADD,
    "crm.dealcategory.add",
    add,
    "Create a deal pipeline (legacy fields); returns its id."
);
spec!(
    DEFAULT_GET,
    "crm.dealcategory.default.get",
    default_get,
    "Read the default deal pipeline's id and name."
);
spec!(
    DEFAULT_SET,
    "crm.dealcategory.default.set",
    default_set,
    "Rename the default deal pipeline."
);
spec!(
    DELETE,
    "crm.dealcategory.delete",
    delete,
    "Delete a deal pipeline that holds no deals."
);
spec!(
    FIELDS,
    "crm.dealcategory.fields",
    fields,
    "Describe the legacy fields of deal pipelines."
);
spec!(
    GET,
    "crm.dealcategory.get",
    get,
    "Read a deal pipeline (legacy fields)."
);
spec!(
    LIST,
    "crm.dealcategory.list",
    list,
    "List deal pipelines other than the default one, 50 per page."
);
spec!(
    STAGE_LIST,
    "crm.dealcategory.stage.list",
    stage_list,
    "List the stages of a deal pipeline (0: the default one)."
);
spec!(
    STATUS,
    "crm.dealcategory.status",
    status,
    "The crm.status dictionary holding a deal pipeline's stages."
);
spec!(
    UPDATE,
    "crm.dealcategory.update",
    update,
    "Rename or re-sort a deal pipeline."
);

/// Words a pipeline rule's refusal as the legacy proxy does.
fn legacy_error(e: CategoryError) -> ApiError {
    let text = match e {
        CategoryError::Store(e) => return e,
        CategoryError::TypeNotFound | CategoryError::TypeNotSupported(_) => "Not found".into(),
        CategoryError::NotFound => "Not found".into(),
        CategoryError::AccessDenied => "Access denied.".into(),
        CategoryError::NameRequired => "The field NAME is required.".into(),
        CategoryError::DefaultNotDeletable { .. } => {
            "Default deal category cannot be deleted".to_string()
        }
        CategoryError::HasItems { name, .. } => format!("Deals related to the funnel {name} found"),
    };
    RestError::legacy(text).into()
}

/// A pipeline with legacy names and string values.
fn legacy_json(c: &CategoryRecord) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("ID".into(), json!(c.id.to_string()));
    out.insert("CREATED_DATE".into(), json!(c.created));
    out.insert("NAME".into(), json!(c.name));
    out.insert("IS_LOCKED".into(), json!("N"));
    out.insert("SORT".into(), json!(c.sort.to_string()));
    out
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = legacy_fields(call)?;
    let permissions = &call.caller.permissions;
    let category = call.state.store.write(call.caller.portal_id, |tx| {
        categories::add(tx, permissions, DEAL, &fields, LEGACY_NAMES).map_err(legacy_error)
    })?;
    Ok(Output::result(json!(category.id)))
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let permissions = &call.caller.permissions;
    let category = call.state.store.read(call.caller.portal_id, |tx| {
        categories::get(tx, permissions, DEAL, id).map_err(legacy_error)
    })?;
    Ok(Output::result(Value::Object(legacy_json(&category))))
}

fn update(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let fields = legacy_fields(call)?;
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        categories::update(tx, permissions, DEAL, id, &fields, LEGACY_NAMES).map_err(legacy_error)
    })?;
    Ok(Output::result(json!(true)))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        categories::delete(tx, permissions, DEAL, id).map_err(legacy_error)
    })?;
    Ok(Output::result(json!(true)))
}

fn fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    let describe = |kind: &str, title: &str, required: bool, read_only: bool| {
        json!({"type": kind, "isRequired": required, "isReadOnly": read_only,
               "isImmutable": false, "isMultiple": false, "isDynamic": false, "title": title})
    };
    Ok(Output::result(json!({
        "ID": describe("integer", "ID", false, true),
        "CREATED_DATE": describe("datetime", "Created on", false, true),
        "NAME": describe("string", "Name", true, false),
        "IS_LOCKED": describe("char", "Locked", false, true),
        "SORT": describe("integer", "Sort", false, false),
    })))
}

/// A pipeline's value of a legacy field, for `list`'s filter and order.
fn field_value(c: &CategoryRecord, key: &str) -> Option<Value> {
    Some(match key.to_ascii_uppercase().as_str() {
        "ID" => json!(c.id),
        "NAME" => json!(c.name),
        "SORT" => json!(c.sort),
        "IS_LOCKED" => json!("N"),
        "CREATED_DATE" => json!(c.created),
        _ => return None,
    })
}

fn same(stored: &Value, wanted: &Value) -> bool {
    match stored {
        Value::Number(n) => bind_int(wanted) == n.as_i64(),
        Value::String(s) => wanted.as_str() == Some(s.as_str()),
        _ => false,
    }
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_i64().cmp(&b.as_i64()),
        (Value::String(a), Value::String(b)) => a.cmp(b),
        _ => Ordering::Equal,
    }
}

/// `list(order, filter, select, start)`: pipelines are few, so the filter (equality, by field
/// name with an optional `=`; other keys are dropped, as the legacy proxies drop unknown
/// fields) and the order are applied here.
fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    let filter = legacy_map(call, "filter")?.unwrap_or_default();
    let order = legacy_map(call, "order")?.unwrap_or_default();
    let select = listing::parse_select(call.params.get_ci("select"));
    let page = call.params.page();
    let permissions = &call.caller.permissions;
    let all = call.state.store.read(call.caller.portal_id, |tx| {
        categories::list(tx, permissions, DEAL).map_err(legacy_error)
    })?;
    let mut rows: Vec<&CategoryRecord> = all
        .rows
        .iter()
        .filter(|c| c.id != 0)
        .filter(|c| {
            filter.iter().all(|(key, wanted)| {
                let key = key.strip_prefix('=').unwrap_or(key);
                match field_value(c, key) {
                    Some(stored) => same(&stored, wanted),
                    None => true,
                }
            })
        })
        .collect();
    let keys: Vec<(String, bool)> = order
        .iter()
        .map(|(k, v)| {
            let desc = v.as_str().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
            (k.clone(), desc)
        })
        .collect();
    rows.sort_by(|a, b| {
        for (key, desc) in &keys {
            if let (Some(x), Some(y)) = (field_value(a, key), field_value(b, key)) {
                let o = compare(&x, &y);
                if o != Ordering::Equal {
                    return if *desc { o.reverse() } else { o };
                }
            }
        }
        (a.sort, a.id).cmp(&(b.sort, b.id))
    });
    let total = rows.len() as u64;
    let shown: Vec<Value> = rows
        .into_iter()
        .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
        .take(PAGE_SIZE as usize)
        .map(|c| {
            let mut row = legacy_json(c);
            if !select.is_empty() && !listing::selects_all(&select) {
                row.retain(|k, _| k == "ID" || select.iter().any(|s| s.eq_ignore_ascii_case(k)));
            }
            Value::Object(row)
        })
        .collect();
    let total = page.count.then_some(total);
    Ok(Output {
        next: total.and_then(|t| page.next(shown.len(), t)),
        total,
        result: Value::Array(shown),
    })
}

/// The pipeline id of `stage.list` and `status`: absent, empty or 0 is the default pipeline.
fn pipeline_id(call: &Call<'_>) -> i64 {
    call.params.get_ci("id").and_then(bind_int).unwrap_or(0)
}

fn stage_list(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = pipeline_id(call);
    let stages = call.state.store.read(call.caller.portal_id, |tx| {
        // A pipeline that does not exist has no stages.
        if id < 0 || tx.category(DEAL, id)?.is_none() {
            return Ok(Vec::new());
        }
        let entity_id = statuses::stage_entity_id(DEAL, id).unwrap_or_default();
        tx.statuses_of(&entity_id)
    })?;
    let rows: Vec<Value> = stages
        .iter()
        .map(|s| json!({"NAME": s.name, "SORT": s.sort, "STATUS_ID": s.status_id}))
        .collect();
    Ok(Output::result(Value::Array(rows)))
}

fn status(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = pipeline_id(call).max(0);
    Ok(Output::result(json!(
        statuses::stage_entity_id(DEAL, id).unwrap_or_default()
    )))
}

fn default_get(call: &Call<'_>) -> Result<Output, ApiError> {
    let category = call
        .state
        .store
        .read(call.caller.portal_id, |tx| tx.category(DEAL, 0))?;
    let name = category.map(|c| c.name).unwrap_or_default();
    Ok(Output::result(json!({"ID": 0, "NAME": name})))
}

fn default_set(call: &Call<'_>) -> Result<Output, ApiError> {
    let name = match call.params.get_ci("name") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        categories::rename_default_deal_category(tx, permissions, &name).map_err(legacy_error)
    })?;
    Ok(Output::result(json!(true)))
}
