//! Activities. `crm.activity.todo.add / update` are D7 controllers (codes, HTTP 400); the legacy
//! `crm.activity.add / get / list / update / delete / fields` and
//! `crm.activity.communication.fields` answer `"error": ""` and the text (spec §4).
//! Docs: api-reference/crm/timeline/activities/**. Rules and writes: [`crate::domain::activities`],
//! [`crate::domain::todo`].

use super::legacy_entity::{legacy_fields, legacy_id, legacy_map};
use super::listing::{self, Dialect, ListField, ListFields};
use super::{Call, Handler, MethodSpec, Output};
use crate::domain::activities::{self, ActivityFieldKind, ACTIVITY_FIELDS};
use crate::domain::disk;
use crate::domain::todo::{self, TodoFields};
use crate::domain::values::parse_datetime_utc;
use crate::domain::Binding;
use crate::error::ApiError;
use crate::store::{Column, Filter, ListQuery};
use b24_protocol::values::bind_int;
use b24_protocol::{ErrorCode, RestError, PAGE_SIZE};
use serde_json::{json, Map, Value};

/// `crm.activity.todo.add(ownerTypeId, ownerId, deadline, title?, description?, responsibleId?)`.
pub const TODO_ADD: MethodSpec = MethodSpec {
    name: "crm.activity.todo.add",
    scope: Some("crm"),
    handler: Handler::Blocking(todo_add),
    doc: "Create a to-do activity bound to one CRM item.",
};

/// `crm.activity.todo.update(id, ownerTypeId, ownerId, deadline, title?, description?, responsibleId?)`.
pub const TODO_UPDATE: MethodSpec = MethodSpec {
    name: "crm.activity.todo.update",
    scope: Some("crm"),
    handler: Handler::Blocking(todo_update),
    doc: "Change a to-do activity's deadline, title, description or responsible user.",
};

/// `crm.activity.add(fields)`.
pub const ADD: MethodSpec = MethodSpec {
    name: "crm.activity.add",
    scope: Some("crm"),
    handler: Handler::Blocking(add),
    doc: "Create a meeting, call or e-mail; its owner and communications become its bindings.",
};

/// `crm.activity.get(id)`.
pub const GET: MethodSpec = MethodSpec {
    name: "crm.activity.get",
    scope: Some("crm"),
    handler: Handler::Blocking(get),
    doc: "Read one activity (legacy fields, string values).",
};

/// `crm.activity.list(order, filter, select, start)`.
pub const LIST: MethodSpec = MethodSpec {
    name: "crm.activity.list",
    scope: Some("crm"),
    handler: Handler::Blocking(list),
    doc: "List activities the caller may read, 50 per page; filter by owner or BINDINGS.",
};

/// `crm.activity.update(id, fields)`.
pub const UPDATE: MethodSpec = MethodSpec {
    name: "crm.activity.update",
    scope: Some("crm"),
    handler: Handler::Blocking(update),
    doc: "Change an activity; COMMUNICATIONS rebuild its bindings.",
};

/// `crm.activity.delete(id)`.
pub const DELETE: MethodSpec = MethodSpec {
    name: "crm.activity.delete",
    scope: Some("crm"),
    handler: Handler::Blocking(delete),
    doc: "Delete an activity and its bindings.",
};

/// `crm.activity.fields()`.
pub const FIELDS: MethodSpec = MethodSpec {
    name: "crm.activity.fields",
    scope: Some("crm"),
    handler: Handler::Blocking(fields),
    doc: "Describe the fields of activities.",
};

/// `crm.activity.communication.fields()`.
pub const COMMUNICATION_FIELDS: MethodSpec = MethodSpec {
    name: "crm.activity.communication.fields",
    scope: Some("crm"),
    handler: Handler::Blocking(communication_fields),
    doc: "Describe the fields of an activity's communications.",
};

/// Optional text parameter of a D7 method.
fn opt_text(call: &Call<'_>, name: &str) -> Option<String> {
    match call.params.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// The deadline of a to-do: required, ISO-8601.
fn deadline_param(call: &Call<'_>) -> Result<String, ApiError> {
    let text = call.params.string("deadline")?;
    Ok(parse_datetime_utc(&text).ok_or(ErrorCode::WrongDatetimeFormat)?)
}

/// The parameters `crm.activity.todo.add` and `.update` share, in declaration order.
fn todo_fields(call: &Call<'_>) -> Result<TodoFields, ApiError> {
    let p = call.params;
    let owner = Binding::new(p.int("ownerTypeId")?, p.int("ownerId")?);
    let deadline = deadline_param(call)?;
    let title = opt_text(call, "title");
    let description = opt_text(call, "description");
    let responsible_id = p.opt_int("responsibleId")?;
    Ok(TodoFields {
        owner,
        deadline,
        title,
        description,
        responsible_id,
    })
}

fn todo_add(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = todo_fields(call)?;
    let permissions = &call.caller.permissions;
    let id = call.state.store.write(call.caller.portal_id, |tx| {
        todo::add(tx, permissions, fields)
    })?;
    Ok(Output::result(json!({ "id": id })))
}

fn todo_update(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = call.params.int("id")?;
    let fields = todo_fields(call)?;
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        todo::update(tx, permissions, id, fields)
    })?;
    Ok(Output::result(json!({ "id": id })))
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let permissions = &call.caller.permissions;
    let portal = call.caller.portal_id;
    let base = &*call.state.public_url;
    let shown = call.state.store.read(portal, |tx| {
        let activity = activities::get(tx, permissions, id)?;
        let mut select = vec!["*".to_string(), "COMMUNICATIONS".to_string()];
        if !activities::file_ids(&activity).is_empty() {
            select.extend(["STORAGE_TYPE_ID", "STORAGE_ELEMENT_IDS", "FILES"].map(String::from));
        }
        let mut shown = activities::legacy_json(&activity, &select);
        with_files(tx, &mut shown, &activity, base, portal)?;
        Ok(shown)
    })?;
    Ok(Output::result(shown))
}

/// Fills in the `FILES` of an activity's JSON, when it shows them, with download URLs.
fn with_files(
    tx: &mut dyn crate::store::Tx,
    shown: &mut Value,
    activity: &crate::store::ActivityRecord,
    base: &str,
    portal: i64,
) -> Result<(), ApiError> {
    if let Some(files) = shown.get_mut("FILES") {
        let key = disk::url_key_read(tx)?;
        let context = disk::Shown {
            base,
            key: &key,
            portal,
        };
        *files = activities::files_json(tx, activity, &context)?;
    }
    Ok(())
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = legacy_fields(call)?;
    let permissions = &call.caller.permissions;
    let max_file_bytes = call.state.limits.max_file_bytes;
    let id = call.state.store.write(call.caller.portal_id, |tx| {
        let id = activities::add(tx, permissions, &fields)?;
        activities::store_files(tx, permissions, id, &fields, max_file_bytes)?;
        Ok(id)
    })?;
    Ok(Output::result(Value::from(id)))
}

fn update(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let fields = legacy_fields(call)?;
    let permissions = &call.caller.permissions;
    let max_file_bytes = call.state.limits.max_file_bytes;
    call.state.store.write(call.caller.portal_id, |tx| {
        activities::update(tx, permissions, id, &fields)?;
        activities::store_files(tx, permissions, id, &fields, max_file_bytes)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        activities::delete(tx, permissions, id)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

/// The activity fields lists filter and sort by (any plain field of `crm.activity.fields`).
struct ActivityListFields;

impl ListFields for ActivityListFields {
    fn field(&self, key: &str) -> Option<ListField> {
        let field = ACTIVITY_FIELDS
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(key) && f.kind != ActivityFieldKind::Other)?;
        let kind = field.kind;
        Some(ListField {
            column: field.column?,
            convert: Box::new(move |v| activities::filter_value(kind, v)),
        })
    }

    fn knows(&self, key: &str) -> bool {
        ACTIVITY_FIELDS
            .iter()
            .any(|f| f.name.eq_ignore_ascii_case(key))
    }
}

/// The `BINDINGS` filter: a list of `{OWNER_TYPE_ID?, OWNER_ID?}` pairs.
fn bindings_filter(value: &Value) -> Result<Filter, ApiError> {
    let entries: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) if o.keys().all(|k| k.bytes().all(|b| b.is_ascii_digit())) => {
            o.values().collect()
        }
        single @ Value::Object(_) => vec![single],
        _ => {
            return Err(
                RestError::legacy("Invalid filter: field 'BINDINGS' has invalid value").into(),
            )
        }
    };
    let mut pairs = Vec::new();
    for entry in entries {
        let Value::Object(pair) = entry else {
            return Err(
                RestError::legacy("Invalid filter: field 'BINDINGS' has invalid value").into(),
            );
        };
        let get = |names: [&str; 2]| {
            pair.iter()
                .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
                .and_then(|(_, v)| bind_int(v))
        };
        pairs.push((
            get(["OWNER_TYPE_ID", "ENTITY_TYPE_ID"]),
            get(["OWNER_ID", "ENTITY_ID"]),
        ));
    }
    if 2 * pairs.len() > listing::MAX_FILTER_VALUES {
        return Err(RestError::legacy("Invalid filter: field 'BINDINGS' has invalid value").into());
    }
    Ok(Filter::BoundTo(pairs))
}

/// Reads `filter` (with `BINDINGS`), `order` (default `START_TIME` ascending) and `start`.
fn list_query(call: &Call<'_>) -> Result<ListQuery, ApiError> {
    let mut parts = Vec::new();
    if let Some(mut filter) = legacy_map(call, "filter")? {
        if let Some(key) = filter
            .keys()
            .find(|k| k.eq_ignore_ascii_case("BINDINGS"))
            .cloned()
        {
            let value = filter.remove(&key).unwrap_or(Value::Null);
            parts.push(bindings_filter(&value)?);
        }
        parts.push(listing::parse_filter(
            &filter,
            &ActivityListFields,
            Dialect::LegacyCrm,
        )?);
    }
    let order = match legacy_map(call, "order")? {
        Some(order) if !order.is_empty() => {
            listing::parse_order(&order, &ActivityListFields, Dialect::Legacy)?
        }
        _ => vec![(Column::Plain("start_time"), false)],
    };
    let page = call.params.page();
    Ok(ListQuery {
        filter: Filter::All(parts),
        order,
        offset: page.offset,
        limit: PAGE_SIZE,
        count: page.count,
    })
}

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    let select = listing::parse_select(call.params.get_ci("select"));
    let query = list_query(call)?;
    let page = call.params.page();
    let permissions = &call.caller.permissions;
    let portal = call.caller.portal_id;
    let base = &*call.state.public_url;
    let (result, rows) = call.state.store.read(portal, |tx| {
        let result = activities::list(tx, permissions, query)?;
        let mut rows = Vec::new();
        for a in &result.rows {
            let mut shown = activities::legacy_json(a, &select);
            with_files(tx, &mut shown, a, base, portal)?;
            rows.push(shown);
        }
        Ok((result, rows))
    })?;
    let count = result.rows.len();
    Ok(Output {
        result: Value::Array(rows),
        next: result.total.and_then(|total| page.next(count, total)),
        total: result.total,
    })
}

fn fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    let mut out = Map::new();
    for f in ACTIVITY_FIELDS {
        out.insert(f.name.into(), f.descriptor());
    }
    Ok(Output::result(Value::Object(out)))
}

fn communication_fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    let describe = |kind: &str, title: &str, read_only: bool| {
        json!({"type": kind, "isRequired": false, "isReadOnly": read_only, "isImmutable": false,
               "isMultiple": false, "isDynamic": false, "title": title})
    };
    Ok(Output::result(json!({
        "ID": describe("integer", "ID", true),
        "ACTIVITY_ID": describe("integer", "Activity ID", true),
        "ENTITY_ID": describe("integer", "Entity ID", false),
        "ENTITY_TYPE_ID": describe("integer", "Entity type ID", false),
        "TYPE": describe("string", "Type", false),
        "VALUE": describe("string", "Value", false),
    })))
}
