//! `crm.item.add / get / list / delete` — the universal CRM item methods (D7 controller: camelCase
//! parameters, errors always HTTP 400 with a code). Docs: api-reference/crm/universal/*.md.
//! This is the part binding targets need; the full breadth (update, fields, filters) comes later.

use super::{Call, Handler, MethodSpec, Output};
use crate::domain::access::{can, is_item_type};
use crate::domain::{Action, Binding, Level};
use crate::error::ApiError;
use crate::store::{ItemQuery, ItemRecord, Tx};
use b24_protocol::values::bind_int;
use b24_protocol::{ErrorCode, RestError, PAGE_SIZE};
use serde_json::{json, Map, Value};

/// `crm.item.add(entityTypeId, fields)`.
pub const ADD: MethodSpec = MethodSpec {
    name: "crm.item.add",
    scope: Some("crm"),
    handler: Handler::Blocking(add),
    doc: "Create a CRM item of any type (lead, deal, contact, company, …).",
};

/// `crm.item.get(entityTypeId, id)`.
pub const GET: MethodSpec = MethodSpec {
    name: "crm.item.get",
    scope: Some("crm"),
    handler: Handler::Blocking(get),
    doc: "Read one CRM item.",
};

/// `crm.item.list(entityTypeId, select, filter, order, start)`.
pub const LIST: MethodSpec = MethodSpec {
    name: "crm.item.list",
    scope: Some("crm"),
    handler: Handler::Blocking(list),
    doc: "List CRM items of a type, 50 per page.",
};

/// `crm.item.delete(entityTypeId, id)`.
pub const DELETE: MethodSpec = MethodSpec {
    name: "crm.item.delete",
    scope: Some("crm"),
    handler: Handler::Blocking(delete),
    doc: "Delete a CRM item; activities bound to it keep their other bindings.",
};

/// Writable fields kept beside the core columns, with how each is stored.
const EXTRA_FIELDS: &[(&str, FieldKind)] = &[
    ("name", FieldKind::Text),
    ("secondName", FieldKind::Text),
    ("lastName", FieldKind::Text),
    ("stageId", FieldKind::Text),
    ("statusId", FieldKind::Text),
    ("categoryId", FieldKind::Int),
    ("opportunity", FieldKind::Number),
    ("currencyId", FieldKind::Text),
    ("companyId", FieldKind::Int),
    ("contactId", FieldKind::Int),
    ("contactIds", FieldKind::IntList),
    ("comments", FieldKind::Text),
    ("sourceId", FieldKind::Text),
    ("sourceDescription", FieldKind::Text),
    ("opened", FieldKind::YesNo),
    ("post", FieldKind::Text),
    ("typeId", FieldKind::Text),
    ("probability", FieldKind::Int),
    ("begindate", FieldKind::Text),
    ("closedate", FieldKind::Text),
];

#[derive(Clone, Copy)]
enum FieldKind {
    Text,
    Int,
    Number,
    IntList,
    YesNo,
}

fn invalid_field(name: &str) -> ApiError {
    RestError::with_message(
        ErrorCode::FieldValueNotValid,
        format!("The value of the field \"{name}\" is not valid"),
    )
    .into()
}

fn normalise(name: &str, kind: FieldKind, value: &Value) -> Result<Value, ApiError> {
    Ok(match kind {
        FieldKind::Text => match value {
            Value::String(s) => Value::String(s.clone()),
            Value::Number(n) => Value::String(n.to_string()),
            Value::Null => Value::String(String::new()),
            _ => return Err(invalid_field(name)),
        },
        FieldKind::Int => json!(bind_int(value).ok_or_else(|| invalid_field(name))?),
        FieldKind::Number => match value {
            Value::Number(n) => Value::Number(n.clone()),
            Value::String(s) if s.trim().is_empty() => json!(0),
            Value::String(s) => json!(s.trim().parse::<f64>().map_err(|_| invalid_field(name))?),
            _ => return Err(invalid_field(name)),
        },
        FieldKind::IntList => {
            let items: Vec<&Value> = match value {
                Value::Array(a) => a.iter().collect(),
                Value::Object(o) => o.values().collect(),
                other => vec![other],
            };
            let ids: Option<Vec<i64>> = items.into_iter().map(bind_int).collect();
            json!(ids.ok_or_else(|| invalid_field(name))?)
        }
        FieldKind::YesNo => match value {
            Value::Bool(b) => json!(if *b { "Y" } else { "N" }),
            Value::String(s) if s == "Y" || s == "N" => json!(s),
            _ => return Err(invalid_field(name)),
        },
    })
}

/// The type, or `NOT_FOUND` "Smart process not found" for a type that holds no items here.
fn entity_type(call: &Call<'_>, tx: &mut dyn Tx) -> Result<i64, ApiError> {
    let entity_type_id = call.params.int("entityTypeId")?;
    if !is_item_type(tx, entity_type_id)? {
        return Err(ErrorCode::SmartProcessNotFound.into());
    }
    Ok(entity_type_id)
}

/// The item as `crm.item.*` shows it: camelCase keys, real JSON numbers.
pub fn item_json(item: &ItemRecord) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(item.id));
    out.insert("title".into(), json!(item.title));
    out.insert("assignedById".into(), json!(item.assigned_by_id));
    out.insert("createdBy".into(), json!(item.created_by));
    out.insert("updatedBy".into(), json!(item.updated_by));
    out.insert("createdTime".into(), json!(item.created_time));
    out.insert("updatedTime".into(), json!(item.updated_time));
    for (name, _) in EXTRA_FIELDS {
        if let Some(v) = item.extra.get(*name) {
            out.insert((*name).into(), v.clone());
        }
    }
    out.insert("entityTypeId".into(), json!(item.entity_type_id));
    Value::Object(out)
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let caller = call.caller;
    let item = call.state.store.write(caller.portal_id, |tx| {
        let entity_type_id = entity_type(call, tx)?;
        let fields = call
            .params
            .map("fields")?
            .ok_or_else(|| RestError::missing_parameter("fields"))?;
        let level = caller.permissions.level(entity_type_id, Action::Add);
        let assigned_by_id = match fields.get("assignedById") {
            Some(v) => bind_int(v).ok_or_else(|| invalid_field("assignedById"))?,
            None => caller.user.id,
        };
        if level == Level::None || (level == Level::Own && assigned_by_id != caller.user.id) {
            return Err(ErrorCode::AccessDenied.into());
        }
        let title = match fields.get("title") {
            Some(v) => normalise("title", FieldKind::Text, v)?
                .as_str()
                .unwrap_or_default()
                .to_string(),
            None => String::new(),
        };
        let mut extra = Map::new();
        for (name, kind) in EXTRA_FIELDS {
            if let Some(v) = fields.get(*name) {
                extra.insert((*name).into(), normalise(name, *kind, v)?);
            }
        }
        let now = tx.now_iso();
        let mut item = ItemRecord {
            entity_type_id,
            id: 0,
            title,
            assigned_by_id,
            created_by: caller.user.id,
            updated_by: caller.user.id,
            created_time: now.clone(),
            updated_time: now,
            extra,
        };
        item.id = tx.insert_item(&item)?;
        Ok(item)
    })?;
    Ok(Output::result(json!({ "item": item_json(&item) })))
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let item = call.state.store.read(call.caller.portal_id, |tx| {
        let entity_type_id = entity_type(call, tx)?;
        let id = call.params.int("id")?;
        let item = tx
            .item(entity_type_id, id)?
            .ok_or(ErrorCode::ItemNotFound)?;
        if !can(
            tx,
            &call.caller.permissions,
            Binding::new(entity_type_id, id),
            Action::Read,
        )? {
            return Err(ErrorCode::AccessDenied.into());
        }
        Ok(item)
    })?;
    Ok(Output::result(json!({ "item": item_json(&item) })))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    call.state.store.write(call.caller.portal_id, |tx| {
        let entity_type_id = entity_type(call, tx)?;
        let id = call.params.int("id")?;
        tx.item_assignee(entity_type_id, id)?
            .ok_or(ErrorCode::ItemNotFound)?;
        if !can(
            tx,
            &call.caller.permissions,
            Binding::new(entity_type_id, id),
            Action::Delete,
        )? {
            return Err(ErrorCode::AccessDenied.into());
        }
        tx.delete_item(entity_type_id, id)?;
        Ok(())
    })?;
    Ok(Output::result(json!([])))
}

fn invalid_arg(message: String) -> ApiError {
    RestError::with_message(ErrorCode::InvalidArgValue, message).into()
}

/// Reads the id conditions of `filter`: `id`, `=id`, `>id`, `<id` in either case. Other keys are
/// refused rather than silently ignored, so a caller never mistakes an unfiltered page for a result.
fn apply_filter(filter: &Map<String, Value>, query: &mut ItemQuery) -> Result<(), ApiError> {
    for (key, value) in filter {
        // As in Bitrix24's list filters, an empty value sets no condition (this is also what an
        // unresolved batch reference leaves behind).
        if value.as_str() == Some("") {
            continue;
        }
        let (op, field) = match key.find(|c: char| c.is_ascii_alphabetic()) {
            Some(i) => key.split_at(i),
            None => ("", key.as_str()),
        };
        if !field.eq_ignore_ascii_case("id") {
            return Err(invalid_arg(format!(
                "Invalid filter: field '{field}' is not allowed in filter"
            )));
        }
        let id = bind_int(value).ok_or_else(|| {
            invalid_arg(format!(
                "Invalid filter: value of '{key}' is not an integer"
            ))
        })?;
        match op {
            "" | "=" => query.id_equals = Some(id),
            ">" => query.id_greater_than = Some(id),
            ">=" => query.id_greater_than = Some(id.saturating_sub(1)),
            "<" => query.id_less_than = Some(id),
            "<=" => query.id_less_than = Some(id.saturating_add(1)),
            _ => {
                return Err(invalid_arg(format!(
                    "Invalid filter: operation '{op}' is not supported"
                )))
            }
        }
    }
    Ok(())
}

fn apply_order(order: &Map<String, Value>, query: &mut ItemQuery) -> Result<(), ApiError> {
    for (field, direction) in order {
        if !field.eq_ignore_ascii_case("id") {
            return Err(invalid_arg(format!(
                "Invalid order: field '{field}' is not allowed in order"
            )));
        }
        query.descending = direction
            .as_str()
            .is_some_and(|d| d.eq_ignore_ascii_case("desc"));
    }
    Ok(())
}

/// Keeps only selected keys (plus `id`); `*` or no select keeps everything.
fn project(item: Value, select: &[String]) -> Value {
    if select.is_empty() || select.iter().any(|s| s == "*") {
        return item;
    }
    match item {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| k == "id" || select.iter().any(|s| s == k))
                .collect(),
        ),
        other => other,
    }
}

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    call.params.int("entityTypeId")?;
    let page = call.params.page();
    let select: Vec<String> = match call.params.get("select") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::Object(o)) => o
            .values()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let mut query = ItemQuery {
        offset: page.offset,
        limit: PAGE_SIZE,
        count: page.count,
        ..Default::default()
    };
    if let Some(filter) = call.params.map("filter")? {
        apply_filter(&filter, &mut query)?;
    }
    if let Some(order) = call.params.map("order")? {
        apply_order(&order, &mut query)?;
    }
    let caller = call.caller;
    let result = call.state.store.read(caller.portal_id, |tx| {
        let entity_type_id = entity_type(call, tx)?;
        match caller.permissions.level(entity_type_id, Action::Read) {
            Level::None => return Err(ErrorCode::AccessDenied.into()),
            Level::Own => query.assigned_to = Some(caller.user.id),
            Level::All => {}
        }
        tx.list_items(entity_type_id, &query)
    })?;
    let count = result.rows.len();
    let items: Vec<Value> = result
        .rows
        .iter()
        .map(|item| project(item_json(item), &select))
        .collect();
    Ok(Output {
        result: json!({ "items": items }),
        next: result.total.and_then(|total| page.next(count, total)),
        total: result.total,
    })
}
