//! Activities. `crm.activity.todo.add / update` are D7 controllers (codes, HTTP 400); the legacy
//! `crm.activity.add / get / list / update / delete / fields` and
//! `crm.activity.communication.fields` answer `"error": ""` and the text (spec §4).
//! Docs: api-reference/crm/timeline/activities/**. Rules: [`crate::domain::activities`].

use super::legacy_entity::{legacy_fields, legacy_id, legacy_map};
use super::listing::{self, Dialect, ListField, ListFields};
use super::{Call, Handler, MethodSpec, Output};
use crate::domain::access::{can, is_item_type, item_exists};
use crate::domain::activities::{self, ActivityFieldKind, ACTIVITY_FIELDS};
use crate::domain::changes::{self, Change};
use crate::domain::values::parse_datetime_utc;
use crate::domain::{Action, Binding};
use crate::error::ApiError;
use crate::store::{ActivityRecord, Column, Filter, ListQuery, Tx};
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

/// TYPE_ID of provider-managed activities such as to-dos.
const TYPE_PROVIDER: i64 = 6;

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

/// The responsible user of a to-do must exist.
fn check_user(tx: &mut dyn Tx, user_id: i64) -> Result<(), ApiError> {
    if tx.user(user_id)?.is_none() {
        return Err(RestError::with_message(
            ErrorCode::FieldValueNotValid,
            format!("User with ID {user_id} not found"),
        )
        .into());
    }
    Ok(())
}

/// A to-do's owner must be an existing item the caller may update.
fn check_todo_owner(tx: &mut dyn Tx, call: &Call<'_>, owner: Binding) -> Result<(), ApiError> {
    if !is_item_type(tx, owner.entity_type_id)? || !item_exists(tx, owner)? {
        return Err(ErrorCode::OwnerNotFound.into());
    }
    if !can(tx, &call.caller.permissions, owner, Action::Update)? {
        return Err(ErrorCode::AccessDenied.into());
    }
    Ok(())
}

fn todo_add(call: &Call<'_>) -> Result<Output, ApiError> {
    let p = call.params;
    let owner = Binding::new(p.int("ownerTypeId")?, p.int("ownerId")?);
    let deadline = deadline_param(call)?;
    let title = opt_text(call, "title").unwrap_or_default();
    let description = opt_text(call, "description").unwrap_or_default();
    let responsible_id = p.opt_int("responsibleId")?;
    let caller = call.caller;
    let id = call.state.store.write(caller.portal_id, |tx| {
        check_todo_owner(tx, call, owner)?;
        let responsible_id = responsible_id.filter(|&r| r > 0).unwrap_or(caller.user.id);
        check_user(tx, responsible_id)?;
        let now = tx.now_iso();
        let activity = ActivityRecord {
            id: 0,
            type_id: TYPE_PROVIDER,
            provider_id: "CRM_TODO".into(),
            provider_type_id: "TODO".into(),
            subject: title.clone(),
            description: description.clone(),
            responsible_id,
            author_id: caller.user.id,
            editor_id: caller.user.id,
            owner_type_id: owner.entity_type_id,
            owner_id: owner.entity_id,
            deadline: deadline.clone(),
            start_time: deadline.clone(),
            end_time: deadline.clone(),
            completed: false,
            status: 1,
            priority: 2,
            direction: 0,
            created: now.clone(),
            last_updated: now,
            extra: Map::new(),
        };
        let id = tx.insert_activity(&activity)?;
        tx.insert_binding(id, owner)?;
        changes::activity_changed(tx, Change::Added, id, caller.user.id)?;
        Ok(id)
    })?;
    Ok(Output::result(json!({ "id": id })))
}

fn todo_update(call: &Call<'_>) -> Result<Output, ApiError> {
    let p = call.params;
    let id = p.int("id")?;
    let owner = Binding::new(p.int("ownerTypeId")?, p.int("ownerId")?);
    let deadline = deadline_param(call)?;
    let title = opt_text(call, "title");
    let description = opt_text(call, "description");
    let responsible_id = p.opt_int("responsibleId")?;
    let caller = call.caller;
    call.state.store.write(caller.portal_id, |tx| {
        let not_found = || RestError::with_message(ErrorCode::NotFound, "Not found.");
        let mut activity = tx.activity(id)?.ok_or_else(not_found)?;
        if activity.provider_id != "CRM_TODO" || !tx.bindings(id)?.contains(&owner) {
            return Err(not_found().into());
        }
        check_todo_owner(tx, call, owner)?;
        if activity.completed {
            return Err(ErrorCode::CompletedTodo.into());
        }
        if let Some(responsible_id) = responsible_id.filter(|&r| r > 0) {
            check_user(tx, responsible_id)?;
            activity.responsible_id = responsible_id;
        }
        if let Some(title) = title {
            activity.subject = title;
        }
        if let Some(description) = description {
            activity.description = description;
        }
        activity.deadline = deadline.clone();
        activity.start_time = deadline.clone();
        activity.end_time = deadline;
        activity.editor_id = caller.user.id;
        activity.last_updated = tx.now_iso();
        tx.update_activity(&activity)?;
        changes::activity_changed(tx, Change::Updated, id, caller.user.id)
    })?;
    Ok(Output::result(json!({ "id": id })))
}

fn not_found() -> ApiError {
    RestError::legacy("Activity is not found.").into()
}

fn access_denied() -> ApiError {
    RestError::legacy("Access denied.").into()
}

/// Whether the caller may act on the activity: the right on its owner, or on any of its bindings.
fn allowed(
    tx: &mut dyn Tx,
    call: &Call<'_>,
    activity: &ActivityRecord,
    action: Action,
) -> Result<bool, ApiError> {
    let permissions = &call.caller.permissions;
    if can(
        tx,
        permissions,
        Binding::new(activity.owner_type_id, activity.owner_id),
        action,
    )? {
        return Ok(true);
    }
    for binding in tx.bindings(activity.id)? {
        if can(tx, permissions, binding, action)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let activity = call.state.store.read(call.caller.portal_id, |tx| {
        let activity = tx.activity(id)?.ok_or_else(not_found)?;
        if !allowed(tx, call, &activity, Action::Read)? {
            return Err(not_found());
        }
        Ok(activity)
    })?;
    Ok(Output::result(activities::legacy_json(
        &activity,
        &["*".into(), "COMMUNICATIONS".into()],
    )))
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = legacy_fields(call)?;
    let caller = call.caller;
    let id = call.state.store.write(caller.portal_id, |tx| {
        let (activity, bindings) =
            activities::build_new(tx, &caller.permissions, caller.user.id, &fields)?;
        let id = tx.insert_activity(&activity)?;
        tx.replace_bindings(id, &bindings)?;
        changes::activity_changed(tx, Change::Added, id, caller.user.id)?;
        Ok(id)
    })?;
    Ok(Output::result(Value::from(id)))
}

fn update(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let fields = legacy_fields(call)?;
    let caller = call.caller;
    call.state.store.write(caller.portal_id, |tx| {
        let activity = tx.activity(id)?.ok_or_else(not_found)?;
        let owner = Binding::new(activity.owner_type_id, activity.owner_id);
        if !can(tx, &caller.permissions, owner, Action::Update)? {
            return Err(access_denied());
        }
        let bindings = tx.bindings(id)?;
        let (mut updated, new_bindings) =
            activities::apply_update(tx, &caller.permissions, activity, bindings.clone(), &fields)?;
        updated.editor_id = caller.user.id;
        updated.last_updated = tx.now_iso();
        if new_bindings != bindings {
            tx.replace_bindings(id, &new_bindings)?;
        }
        tx.update_activity(&updated)?;
        changes::activity_changed(tx, Change::Updated, id, caller.user.id)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        let activity = tx.activity(id)?.ok_or_else(not_found)?;
        let owner = Binding::new(activity.owner_type_id, activity.owner_id);
        if !can(tx, &call.caller.permissions, owner, Action::Delete)? {
            return Err(access_denied());
        }
        tx.delete_activity(id)?;
        changes::activity_changed(tx, Change::Deleted, id, call.caller.user.id)
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
            Dialect::Legacy,
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
    let mut query = list_query(call)?;
    if let Some(readable) = activities::readable_filter(&call.caller.permissions) {
        query.filter = Filter::All(vec![readable, query.filter]);
    }
    let page = call.params.page();
    let result = call
        .state
        .store
        .read(call.caller.portal_id, |tx| tx.list_activities(&query))?;
    let count = result.rows.len();
    let rows: Vec<Value> = result
        .rows
        .iter()
        .map(|a| activities::legacy_json(a, &select))
        .collect();
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
