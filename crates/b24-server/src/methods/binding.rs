//! `crm.activity.binding.list / add / delete / move` — links between an activity and CRM items.
//! Docs: api-reference/crm/timeline/activities/binding/*.md; rules in [`crate::domain::binding`].

use super::{Call, Handler, MethodSpec, Output};
use crate::domain::{binding, Binding};
use crate::error::ApiError;
use serde_json::Value;

/// `crm.activity.binding.list(activityId)`.
pub const LIST: MethodSpec = MethodSpec {
    name: "crm.activity.binding.list",
    scope: Some("crm"),
    handler: Handler::Blocking(list),
    doc: "List the CRM items an activity is linked to (those the caller may read).",
};

/// `crm.activity.binding.add(activityId, entityTypeId, entityId)`.
pub const ADD: MethodSpec = MethodSpec {
    name: "crm.activity.binding.add",
    scope: Some("crm"),
    handler: Handler::Blocking(add),
    doc: "Link an activity to one more CRM item.",
};

/// `crm.activity.binding.delete(activityId, entityTypeId, entityId)`.
pub const DELETE: MethodSpec = MethodSpec {
    name: "crm.activity.binding.delete",
    scope: Some("crm"),
    handler: Handler::Blocking(delete),
    doc: "Remove a link between an activity and a CRM item; the last link cannot be removed.",
};

/// `crm.activity.binding.move(activityId, sourceEntityTypeId, sourceEntityId, targetEntityTypeId, targetEntityId)`.
pub const MOVE: MethodSpec = MethodSpec {
    name: "crm.activity.binding.move",
    scope: Some("crm"),
    handler: Handler::Blocking(move_),
    doc: "Move an activity's link from one CRM item to another of the same type.",
};

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    let activity_id = call.params.int("activityId")?;
    let permissions = &call.caller.permissions;
    let bindings = call.state.store.read(call.caller.portal_id, |tx| {
        binding::list(tx, permissions, activity_id)
    })?;
    Ok(Output::result(Value::Array(
        bindings.into_iter().map(Binding::to_json).collect(),
    )))
}

/// Binds the three parameters shared by `add` and `delete`, in declaration order.
fn activity_and_target(call: &Call<'_>) -> Result<(i64, Binding), ApiError> {
    let activity_id = call.params.int("activityId")?;
    let entity_type_id = call.params.int("entityTypeId")?;
    let entity_id = call.params.int("entityId")?;
    Ok((activity_id, Binding::new(entity_type_id, entity_id)))
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let (activity_id, target) = activity_and_target(call)?;
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        binding::add(tx, permissions, activity_id, target)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let (activity_id, target) = activity_and_target(call)?;
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        binding::delete(tx, permissions, activity_id, target)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn move_(call: &Call<'_>) -> Result<Output, ApiError> {
    let p = call.params;
    let activity_id = p.int("activityId")?;
    let source = Binding::new(p.int("sourceEntityTypeId")?, p.int("sourceEntityId")?);
    let target = Binding::new(p.int("targetEntityTypeId")?, p.int("targetEntityId")?);
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        binding::move_binding(tx, permissions, activity_id, source, target)
    })?;
    Ok(Output::result(Value::Bool(true)))
}
