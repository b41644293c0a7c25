//! `im.notify`, `im.notify.system.add`, `im.notify.personal.add` (scope `im`; docs:
//! api-reference/chats/notifications/): notifications to a user. This server has no messenger:
//! each notification is recorded, and `b24-server notifications list` shows them.
//!
//! Parameters are read case-insensitively (`USER_ID` and `user_id`); old code sends `to` for
//! `USER_ID`, which the real service still reads. `WRONG_AUTH_TYPE` is the real answer to a
//! call made with a browser session; every call here comes with a webhook or a token, so it
//! never arises (spec §12).

use super::{Call, Handler, MethodSpec, Output};
use crate::error::ApiError;
use b24_protocol::{ErrorCode, RestError};
use serde_json::{json, Value};

/// `im.notify(USER_ID|to, MESSAGE, TYPE?, TAG?)`: a personal (`TYPE=USER`, the default) or
/// system (`TYPE=SYSTEM`) notification.
pub const NOTIFY: MethodSpec = MethodSpec {
    name: "im.notify",
    scope: Some("im"),
    handler: Handler::Blocking(notify),
    doc: "Sends a notification (TYPE USER or SYSTEM) to USER_ID; returns its id.",
};

/// `im.notify.system.add(USER_ID, MESSAGE, TAG?)`: a system notification.
pub const SYSTEM_ADD: MethodSpec = MethodSpec {
    name: "im.notify.system.add",
    scope: Some("im"),
    handler: Handler::Blocking(system_add),
    doc: "Sends a system notification to USER_ID; returns its id.",
};

/// `im.notify.personal.add(USER_ID, MESSAGE, TAG?)`: a notification from the calling user.
pub const PERSONAL_ADD: MethodSpec = MethodSpec {
    name: "im.notify.personal.add",
    scope: Some("im"),
    handler: Handler::Blocking(personal_add),
    doc: "Sends a notification from the calling user to USER_ID; returns its id.",
};

/// A parameter's text: strings trimmed (NUL characters dropped), numbers in decimal.
fn text(call: &Call<'_>, name: &str) -> String {
    match call.params.get_ci(name) {
        Some(Value::String(s)) => s.replace('\0', "").trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn send(call: &Call<'_>, system: bool) -> Result<Output, ApiError> {
    let recipient = call
        .params
        .get_ci("USER_ID")
        .or_else(|| call.params.get_ci("to"));
    let user_id = match recipient {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    };
    if user_id <= 0 {
        return Err(RestError::new(ErrorCode::UserIdEmpty).into());
    }
    let message = text(call, "MESSAGE");
    if message.is_empty() {
        return Err(RestError::new(ErrorCode::MessageEmpty).into());
    }
    let tag = text(call, "TAG");
    let (kind, from) = if system {
        ("system", 0)
    } else {
        ("personal", call.caller.user.id)
    };
    let id = call.state.store.write(call.caller.portal_id, |tx| {
        // A notification to a user who does not exist is not created: the real answer is `false`.
        if tx.user(user_id)?.is_none() {
            return Ok(None);
        }
        tx.insert_notification(kind, user_id, from, &message, &tag)
            .map(Some)
    })?;
    Ok(Output::result(
        id.map_or(Value::Bool(false), |id| json!(id)),
    ))
}

fn notify(call: &Call<'_>) -> Result<Output, ApiError> {
    let system = text(call, "TYPE").eq_ignore_ascii_case("SYSTEM");
    send(call, system)
}

fn system_add(call: &Call<'_>) -> Result<Output, ApiError> {
    send(call, true)
}

fn personal_add(call: &Call<'_>) -> Result<Output, ApiError> {
    send(call, false)
}
