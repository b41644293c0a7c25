//! Application options (spec frame-host.md §3): `app.option.get / set` (per application and
//! portal; setting needs an administrator) and `user.option.get / set` (per application, portal
//! and user). The same store answers the frame's `APP_OPTIONS` / `USER_OPTIONS` and its
//! `setAppOption` / `setUserOption`. Applications only: a webhook gets 403 `WRONG_AUTH_TYPE`.

use super::placement::app_context;
use super::{Call, Handler, MethodSpec, Output};
use crate::error::ApiError;
use b24_protocol::{ErrorCode, RestError};
use serde_json::{Map, Value};

/// `app.option.get(option?)`.
pub const APP_GET: MethodSpec = MethodSpec {
    name: "app.option.get",
    scope: None,
    handler: Handler::Blocking(app_get),
    doc: "One option of the application (option=NAME) or all of them.",
};

/// `app.option.set(options{name: value})`.
pub const APP_SET: MethodSpec = MethodSpec {
    name: "app.option.set",
    scope: None,
    handler: Handler::Blocking(app_set),
    doc: "Stores options of the application (administrators).",
};

/// `user.option.get(option?)`.
pub const USER_GET: MethodSpec = MethodSpec {
    name: "user.option.get",
    scope: None,
    handler: Handler::Blocking(user_get),
    doc: "One option of the application for the calling user, or all of them.",
};

/// `user.option.set(options{name: value})`.
pub const USER_SET: MethodSpec = MethodSpec {
    name: "user.option.set",
    scope: None,
    handler: Handler::Blocking(user_set),
    doc: "Stores options of the application for the calling user.",
};

/// Options as the frame and `*.option.get` show them: an object, or `[]` when there are none
/// (PHP's empty array).
pub fn options_value(options: Vec<(String, Value)>) -> Value {
    if options.is_empty() {
        return Value::Array(Vec::new());
    }
    Value::Object(options.into_iter().collect())
}

/// The options to set: `options{…}`, else every parameter (the real service's fallback).
fn options_to_set(call: &Call<'_>) -> Result<Map<String, Value>, ApiError> {
    let options = match call.params.get_ci("options") {
        Some(Value::Object(map)) => map.clone(),
        Some(_) => Map::new(),
        None => call.params.0.clone(),
    };
    if options.is_empty() {
        return Err(RestError::argument_null("options").into());
    }
    Ok(options)
}

fn get(call: &Call<'_>, user_id: i64) -> Result<Output, ApiError> {
    let app_id = app_context(call.caller)?;
    let options = call
        .state
        .store
        .read(call.caller.portal_id, |tx| tx.app_options(app_id, user_id))?;
    let wanted = match call.params.get_ci("option") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    Ok(Output::result(match wanted {
        Some(name) => options
            .into_iter()
            .find(|(k, _)| *k == name)
            .map_or(Value::Null, |(_, v)| v),
        None => options_value(options),
    }))
}

fn set(call: &Call<'_>, user_id: i64) -> Result<Output, ApiError> {
    let app_id = app_context(call.caller)?;
    if user_id == 0 && !call.caller.user.admin {
        return Err(RestError::with_message(
            ErrorCode::AccessDeniedSystem,
            "Access denied! Administrator authorization required",
        )
        .into());
    }
    let options = options_to_set(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        for (name, value) in &options {
            tx.set_app_option(app_id, user_id, name, value)?;
        }
        Ok(())
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn app_get(call: &Call<'_>) -> Result<Output, ApiError> {
    get(call, 0)
}

fn app_set(call: &Call<'_>) -> Result<Output, ApiError> {
    set(call, 0)
}

fn user_get(call: &Call<'_>) -> Result<Output, ApiError> {
    get(call, call.caller.user.id)
}

fn user_set(call: &Call<'_>) -> Result<Output, ApiError> {
    set(call, call.caller.user.id)
}
