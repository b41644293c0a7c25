//! `crm.activity.type.add / list / delete`: an application's custom activity types (legacy
//! proxy; `true` on success, `INVALID_ARG_VALUE` for a bad or duplicate `TYPE_ID`).
//! Docs: api-reference/crm/timeline/activities/types/. Rules: [`crate::domain::activity_types`].

use super::legacy_entity::legacy_fields;
use super::{Call, Handler, MethodSpec, Output};
use crate::auth::CallerKind;
use crate::domain::activity_types;
use crate::error::ApiError;
use b24_protocol::ErrorCode;
use serde_json::Value;

/// `crm.activity.type.add(fields{TYPE_ID, NAME, ICON_FILE, IS_CONFIGURABLE_TYPE})`.
pub const ADD: MethodSpec = MethodSpec {
    name: "crm.activity.type.add",
    scope: Some("crm"),
    handler: Handler::Blocking(add),
    doc: "Register a custom activity type of the calling application (administrators).",
};

/// `crm.activity.type.list()`.
pub const LIST: MethodSpec = MethodSpec {
    name: "crm.activity.type.list",
    scope: Some("crm"),
    handler: Handler::Blocking(list),
    doc: "List the calling application's custom activity types.",
};

/// `crm.activity.type.delete(TYPE_ID)`.
pub const DELETE: MethodSpec = MethodSpec {
    name: "crm.activity.type.delete",
    scope: Some("crm"),
    handler: Handler::Blocking(delete),
    doc: "Delete a custom activity type of the calling application (administrators).",
};

/// The calling application (a webhook is refused with 403), and, for changes, an administrator.
fn app_id(call: &Call<'_>, change: bool) -> Result<i64, ApiError> {
    let CallerKind::App { app_id, .. } = call.caller.kind else {
        return Err(activity_types::application_required());
    };
    if change && !call.caller.user.admin {
        return Err(ErrorCode::AccessDenied.into());
    }
    Ok(app_id)
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let app_id = app_id(call, true)?;
    let fields = legacy_fields(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        activity_types::add(tx, app_id, &fields)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    let app_id = app_id(call, false)?;
    let types = call
        .state
        .store
        .read(call.caller.portal_id, |tx| activity_types::list(tx, app_id))?;
    Ok(Output::result(types))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let app_id = app_id(call, true)?;
    let type_id = activity_types::type_id(call.params.get_ci("TYPE_ID"))?;
    call.state.store.write(call.caller.portal_id, |tx| {
        activity_types::delete(tx, app_id, &type_id)
    })?;
    Ok(Output::result(Value::Bool(true)))
}
