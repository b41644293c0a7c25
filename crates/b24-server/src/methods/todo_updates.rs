//! The single-value to-do updates, D7 controllers (codes, HTTP 400):
//! `crm.activity.todo.updateDeadline / updateDescription / updateResponsibleUser / updateColor`,
//! each `(id, ownerTypeId, ownerId, value | responsibleId | colorId)` answering `{"id": N}`.
//! Docs: api-reference/crm/timeline/activities/todo/. Rules: [`crate::domain::todo::update_one`].

use super::{Call, Handler, MethodSpec, Output};
use crate::domain::todo::{self, TodoChange};
use crate::domain::values::parse_datetime_utc;
use crate::domain::Binding;
use crate::error::ApiError;
use b24_protocol::ErrorCode;
use serde_json::json;

/// `crm.activity.todo.updateDeadline(id, ownerTypeId, ownerId, value)`.
pub const UPDATE_DEADLINE: MethodSpec = MethodSpec {
    name: "crm.activity.todo.updatedeadline",
    scope: Some("crm"),
    handler: Handler::Blocking(update_deadline),
    doc: "Move a to-do's deadline.",
};

/// `crm.activity.todo.updateDescription(id, ownerTypeId, ownerId, value)`.
pub const UPDATE_DESCRIPTION: MethodSpec = MethodSpec {
    name: "crm.activity.todo.updatedescription",
    scope: Some("crm"),
    handler: Handler::Blocking(update_description),
    doc: "Change a to-do's description.",
};

/// `crm.activity.todo.updateResponsibleUser(id, ownerTypeId, ownerId, responsibleId)`.
pub const UPDATE_RESPONSIBLE_USER: MethodSpec = MethodSpec {
    name: "crm.activity.todo.updateresponsibleuser",
    scope: Some("crm"),
    handler: Handler::Blocking(update_responsible_user),
    doc: "Give a to-do to another user.",
};

/// `crm.activity.todo.updateColor(id, ownerTypeId, ownerId, colorId)`.
pub const UPDATE_COLOR: MethodSpec = MethodSpec {
    name: "crm.activity.todo.updatecolor",
    scope: Some("crm"),
    handler: Handler::Blocking(update_color),
    doc: "Change a to-do's colour in the timeline (1 to 7).",
};

/// Reads `id`, `ownerTypeId`, `ownerId` (in that order, code `100` each), then the change, and
/// runs the update.
fn run(
    call: &Call<'_>,
    change: impl FnOnce(&Call<'_>) -> Result<TodoChange, ApiError>,
) -> Result<Output, ApiError> {
    let p = call.params;
    let id = p.int("id")?;
    let owner = Binding::new(p.int("ownerTypeId")?, p.int("ownerId")?);
    let change = change(call)?;
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        todo::update_one(tx, permissions, id, owner, change)
    })?;
    Ok(Output::result(json!({ "id": id })))
}

fn update_deadline(call: &Call<'_>) -> Result<Output, ApiError> {
    run(call, |call| {
        let text = call.params.string("value")?;
        let deadline = parse_datetime_utc(&text).ok_or(ErrorCode::WrongDatetimeFormat)?;
        Ok(TodoChange::Deadline(deadline))
    })
}

fn update_description(call: &Call<'_>) -> Result<Output, ApiError> {
    run(call, |call| {
        Ok(TodoChange::Description(call.params.string("value")?))
    })
}

fn update_responsible_user(call: &Call<'_>) -> Result<Output, ApiError> {
    run(call, |call| {
        Ok(TodoChange::Responsible(call.params.int("responsibleId")?))
    })
}

fn update_color(call: &Call<'_>) -> Result<Output, ApiError> {
    run(call, |call| {
        Ok(TodoChange::Color(call.params.int("colorId")?))
    })
}
