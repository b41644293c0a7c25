//! Small global methods (spec §8): `server.time`, `scope`, `methods`, `method.get`, `profile`,
//! `user.current`, `app.info`. `server.time` is also the cheapest authenticated call, the
//! benchmark's floor.

use super::{lookup, Call, Handler, MethodSpec, Output};
use crate::auth::CallerKind;
use crate::clock::iso;
use crate::error::ApiError;
use b24_protocol::values::php_truthy;
use serde_json::{json, Value};

/// `server.time`: the server's current time, PHP `date('c')`.
pub const SERVER_TIME: MethodSpec = MethodSpec {
    name: "server.time",
    scope: None,
    handler: Handler::InMemory(server_time),
    doc: "The server's current time as ISO-8601.",
};

/// `scope(full?)`: the scopes granted to the caller, or (`full=true`) every scope code a portal
/// knows, [`b24_protocol::PORTAL_SCOPES`].
pub const SCOPE: MethodSpec = MethodSpec {
    name: "scope",
    scope: None,
    handler: Handler::InMemory(scope),
    doc: "The scopes granted to this webhook or application (full=true: all scopes).",
};

/// `methods(scope?, full?)`: method names available to the caller.
pub const METHODS: MethodSpec = MethodSpec {
    name: "methods",
    scope: None,
    handler: Handler::InMemory(methods),
    doc: "The methods available to the caller, by scope.",
};

/// `method.get(name)`: whether a method exists and whether the caller may call it.
pub const METHOD_GET: MethodSpec = MethodSpec {
    name: "method.get",
    scope: None,
    handler: Handler::InMemory(method_get),
    doc: "Whether a method exists and is available to the caller.",
};

/// `profile`: the calling user, briefly.
pub const PROFILE: MethodSpec = MethodSpec {
    name: "profile",
    scope: None,
    handler: Handler::InMemory(profile),
    doc: "The calling user's basic profile.",
};

/// `user.current`: the calling user.
pub const USER_CURRENT: MethodSpec = MethodSpec {
    name: "user.current",
    scope: Some("user"),
    handler: Handler::Blocking(user_current),
    doc: "The calling user's record.",
};

/// `app.info`: the calling application, or for a webhook its scopes and licence.
pub const APP_INFO: MethodSpec = MethodSpec {
    name: "app.info",
    scope: None,
    handler: Handler::Blocking(app_info),
    doc: "The calling application (for a webhook: its scopes and the portal licence).",
};

fn server_time(call: &Call<'_>) -> Result<Output, ApiError> {
    Ok(Output::result(Value::String(iso(call.state.clock.now()))))
}

fn full(call: &Call<'_>) -> bool {
    call.params.get("full").is_some_and(php_truthy)
}

fn scope(call: &Call<'_>) -> Result<Output, ApiError> {
    let scopes: Vec<&str> = if full(call) {
        b24_protocol::PORTAL_SCOPES.to_vec()
    } else {
        call.caller.scopes.iter().map(String::as_str).collect()
    };
    Ok(Output::result(json!(scopes)))
}

fn methods(call: &Call<'_>) -> Result<Output, ApiError> {
    let wanted = call.params.get("scope").and_then(Value::as_str);
    let names: Vec<&str> = super::METHODS
        .iter()
        .filter(|m| {
            if full(call) {
                true
            } else if let Some(scope) = wanted {
                match m.scope {
                    None => scope.is_empty(),
                    Some(s) => s == scope,
                }
            } else {
                super::allowed(call.caller, m)
            }
        })
        .map(|m| m.name)
        .collect();
    Ok(Output::result(json!(names)))
}

fn method_get(call: &Call<'_>) -> Result<Output, ApiError> {
    let name = call
        .params
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let spec = (!name.is_empty()).then(|| lookup(name)).flatten();
    Ok(Output::result(json!({
        "isExisting": spec.is_some(),
        "isAvailable": spec.is_some_and(|s| super::allowed(call.caller, s)),
    })))
}

fn profile(call: &Call<'_>) -> Result<Output, ApiError> {
    let user = &call.caller.user;
    Ok(Output::result(json!({
        "ID": user.id.to_string(),
        "ADMIN": user.admin,
        "NAME": user.name,
        "LAST_NAME": user.last_name,
        "PERSONAL_GENDER": "",
        "TIME_ZONE": "",
        "TIME_ZONE_OFFSET": 0,
    })))
}

/// The calling user's whole record, rendered as `user.get` renders users (one renderer, in
/// `users.rs`), with the fields its scopes show.
fn user_current(call: &Call<'_>) -> Result<Output, ApiError> {
    super::users::current(call)
}

fn app_info(call: &Call<'_>) -> Result<Output, ApiError> {
    let license = call.state.plan.get().license();
    let family = license.split('_').nth(1).unwrap_or("");
    match &call.caller.kind {
        CallerKind::Webhook { .. } => Ok(Output::result(json!({
            "SCOPE": call.caller.scopes,
            "LICENSE": license,
        }))),
        CallerKind::App { app_id, client_id } => {
            let (installed, version) = call.state.store.read(call.caller.portal_id, |tx| {
                let version = tx.app(*app_id)?.map_or(1, |app| app.version);
                Ok((crate::domain::apps::is_installed(tx, *app_id)?, version))
            })?;
            Ok(Output::result(json!({
                "ID": app_id,
                "CODE": client_id,
                "VERSION": version,
                "STATUS": "L",
                "INSTALLED": installed,
                "PAYMENT_EXPIRED": "N",
                "DAYS": null,
                "LANGUAGE_ID": "en",
                "LICENSE": license,
                "LICENSE_TYPE": family,
                "LICENSE_FAMILY": family,
            })))
        }
    }
}
