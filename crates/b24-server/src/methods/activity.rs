//! `crm.activity.todo.add` (D7: codes, HTTP 400) and the legacy `crm.activity.get / delete`
//! (`"error": ""` and the text). Docs: api-reference/crm/timeline/activities/**.

use super::{Call, Handler, MethodSpec, Output};
use crate::domain::access::{can, is_item_type, item_exists};
use crate::domain::{Action, Binding};
use crate::error::ApiError;
use crate::store::{ActivityRecord, Tx};
use b24_protocol::values::bind_int;
use b24_protocol::{ErrorCode, RestError};
use chrono::{DateTime, NaiveDateTime};
use serde_json::{json, Map, Value};

/// `crm.activity.todo.add(ownerTypeId, ownerId, deadline, title?, description?, responsibleId?)`.
pub const TODO_ADD: MethodSpec = MethodSpec {
    name: "crm.activity.todo.add",
    scope: Some("crm"),
    handler: Handler::Blocking(todo_add),
    doc: "Create a to-do activity bound to one CRM item.",
};

/// `crm.activity.get(id)`.
pub const GET: MethodSpec = MethodSpec {
    name: "crm.activity.get",
    scope: Some("crm"),
    handler: Handler::Blocking(get),
    doc: "Read one activity (legacy fields, string values).",
};

/// `crm.activity.delete(id)`.
pub const DELETE: MethodSpec = MethodSpec {
    name: "crm.activity.delete",
    scope: Some("crm"),
    handler: Handler::Blocking(delete),
    doc: "Delete an activity and its bindings.",
};

/// TYPE_ID of provider-managed activities such as to-dos.
const TYPE_PROVIDER: i64 = 6;

/// Parses the date-time forms callers send (`2025-02-03T15:00:00`, with or without an offset, or
/// with a space instead of `T`); naive times are taken as UTC, the server's time zone.
fn parse_datetime(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.format("%Y-%m-%dT%H:%M:%S%:z").to_string());
    }
    [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%d.%m.%Y %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .map(|dt| dt.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
}

fn todo_add(call: &Call<'_>) -> Result<Output, ApiError> {
    let p = call.params;
    let owner = Binding::new(p.int("ownerTypeId")?, p.int("ownerId")?);
    let deadline_text = p.string("deadline")?;
    let deadline = parse_datetime(&deadline_text).ok_or(ErrorCode::WrongDatetimeFormat)?;
    let title = p
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let description = p
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let responsible_id = p.opt_int("responsibleId")?;
    let caller = call.caller;
    let id = call.state.store.write(caller.portal_id, |tx| {
        if !is_item_type(tx, owner.entity_type_id)? || !item_exists(tx, owner)? {
            return Err(ErrorCode::OwnerNotFound.into());
        }
        if !can(tx, &caller.permissions, owner, Action::Update)? {
            return Err(ErrorCode::AccessDenied.into());
        }
        let responsible_id = responsible_id.filter(|&r| r > 0).unwrap_or(caller.user.id);
        if tx.user(responsible_id)?.is_none() {
            return Err(RestError::with_message(
                ErrorCode::FieldValueNotValid,
                format!("User with ID {responsible_id} not found"),
            )
            .into());
        }
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
        Ok(id)
    })?;
    Ok(Output::result(json!({ "id": id })))
}

/// The legacy `id` / `ID` parameter: a positive integer, else "ID is not defined or invalid."
fn legacy_id(call: &Call<'_>) -> Result<i64, ApiError> {
    call.params
        .get_ci("id")
        .and_then(bind_int)
        .filter(|&id| id > 0)
        .ok_or_else(|| RestError::legacy("ID is not defined or invalid.").into())
}

fn not_found() -> ApiError {
    RestError::legacy("Activity is not found.").into()
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

/// The activity as the legacy methods show it: UPPER_CASE keys, every value a string.
pub fn legacy_json(a: &ActivityRecord) -> Value {
    let s = |v: i64| Value::String(v.to_string());
    let t = |v: &str| {
        if v.is_empty() {
            Value::Null
        } else {
            Value::String(v.to_string())
        }
    };
    json!({
        "ID": s(a.id),
        "OWNER_ID": s(a.owner_id),
        "OWNER_TYPE_ID": s(a.owner_type_id),
        "TYPE_ID": s(a.type_id),
        "PROVIDER_ID": a.provider_id,
        "PROVIDER_TYPE_ID": a.provider_type_id,
        "PROVIDER_GROUP_ID": null,
        "ASSOCIATED_ENTITY_ID": "0",
        "SUBJECT": a.subject,
        "CREATED": a.created,
        "LAST_UPDATED": a.last_updated,
        "START_TIME": t(&a.start_time),
        "END_TIME": t(&a.end_time),
        "DEADLINE": t(&a.deadline),
        "COMPLETED": if a.completed { "Y" } else { "N" },
        "STATUS": s(a.status),
        "RESPONSIBLE_ID": s(a.responsible_id),
        "PRIORITY": s(a.priority),
        "NOTIFY_TYPE": "0",
        "NOTIFY_VALUE": "0",
        "DESCRIPTION": a.description,
        "DESCRIPTION_TYPE": "1",
        "DIRECTION": s(a.direction),
        "LOCATION": "",
        "SETTINGS": [],
        "ORIGINATOR_ID": null,
        "ORIGIN_ID": null,
        "AUTHOR_ID": s(a.author_id),
        "EDITOR_ID": s(a.editor_id),
        "PROVIDER_PARAMS": [],
        "PROVIDER_DATA": null,
        "RESULT_MARK": "0",
        "RESULT_VALUE": null,
        "RESULT_SUM": null,
        "RESULT_CURRENCY_ID": null,
        "RESULT_STATUS": "0",
        "RESULT_STREAM": "0",
        "RESULT_SOURCE_ID": null,
        "AUTOCOMPLETE_RULE": "0",
    })
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
    Ok(Output::result(legacy_json(&activity)))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        let activity = tx.activity(id)?.ok_or_else(not_found)?;
        let owner = Binding::new(activity.owner_type_id, activity.owner_id);
        if !can(tx, &call.caller.permissions, owner, Action::Delete)? {
            return Err(RestError::legacy("Access denied.").into());
        }
        tx.delete_activity(id)?;
        Ok(())
    })?;
    Ok(Output::result(Value::Bool(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_accept_the_forms_callers_send() {
        assert_eq!(
            parse_datetime("2025-02-03T15:00:00").as_deref(),
            Some("2025-02-03T15:00:00+00:00")
        );
        assert_eq!(
            parse_datetime("2025-02-03T15:00:00+03:00").as_deref(),
            Some("2025-02-03T15:00:00+03:00")
        );
        assert_eq!(
            parse_datetime("2025-02-03 15:00:00").as_deref(),
            Some("2025-02-03T15:00:00+00:00")
        );
        assert_eq!(parse_datetime("tomorrow"), None);
    }
}
