//! Placement methods (spec frame-host.md §3): `placement.bind / unbind / get / list`. Applications
//! only (a webhook gets 403 `WRONG_AUTH_TYPE`); binding, unbinding and reading the bindings need
//! an administrator. Parameter names are case-insensitive, as in the real service's
//! `Bitrix\Rest\Api\Placement`, whose checks run in this order.

use super::{Call, Handler, MethodSpec, Output};
use crate::auth::{Caller, CallerKind};
use crate::error::ApiError;
use crate::events::check_handler_url;
use crate::store::apps::PlacementRecord;
use b24_protocol::values::php_truthy;
use b24_protocol::{ErrorCode, RestError};
use serde_json::{json, Map, Value};

/// `placement.bind(PLACEMENT, HANDLER, TITLE?, DESCRIPTION?, GROUP_NAME?, LANG_ALL?, OPTIONS?)`.
pub const BIND: MethodSpec = MethodSpec {
    name: "placement.bind",
    scope: Some("placement"),
    handler: Handler::Blocking(bind),
    doc: "Binds a page of the application to a placement (administrators).",
};

/// `placement.unbind(PLACEMENT, HANDLER?, USER_ID?)`.
pub const UNBIND: MethodSpec = MethodSpec {
    name: "placement.unbind",
    scope: Some("placement"),
    handler: Handler::Blocking(unbind),
    doc: "Removes the application's handlers of a placement; answers a count.",
};

/// `placement.get`: the application's bound placements.
pub const GET: MethodSpec = MethodSpec {
    name: "placement.get",
    scope: Some("placement"),
    handler: Handler::Blocking(get),
    doc: "The application's bound placements (administrators).",
};

/// `placement.list(SCOPE?, FULL?)`: placement codes the application may bind.
pub const LIST: MethodSpec = MethodSpec {
    name: "placement.list",
    scope: Some("placement"),
    handler: Handler::Blocking(list),
    doc: "Placement codes of the application's scopes and the global ones.",
};

/// The placements this server knows, by the scope that offers them (`""`: global, any
/// application), and whether one application may bind them only once.
pub const PLACEMENTS: &[(&str, &str, bool)] = &[
    ("", "REST_APP_URI", true),
    ("", "PAGE_BACKGROUND_WORKER", true),
    ("crm", "CRM_LEAD_LIST_MENU", false),
    ("crm", "CRM_LEAD_LIST_TOOLBAR", false),
    ("crm", "CRM_LEAD_DETAIL_TAB", false),
    ("crm", "CRM_LEAD_DETAIL_TOOLBAR", false),
    ("crm", "CRM_LEAD_DETAIL_ACTIVITY", false),
    ("crm", "CRM_LEAD_ACTIVITY_TIMELINE_MENU", false),
    ("crm", "CRM_DEAL_LIST_MENU", false),
    ("crm", "CRM_DEAL_LIST_TOOLBAR", false),
    ("crm", "CRM_DEAL_DETAIL_TAB", false),
    ("crm", "CRM_DEAL_DETAIL_TOOLBAR", false),
    ("crm", "CRM_DEAL_DETAIL_ACTIVITY", false),
    ("crm", "CRM_DEAL_ACTIVITY_TIMELINE_MENU", false),
    ("crm", "CRM_CONTACT_LIST_MENU", false),
    ("crm", "CRM_CONTACT_LIST_TOOLBAR", false),
    ("crm", "CRM_CONTACT_DETAIL_TAB", false),
    ("crm", "CRM_CONTACT_DETAIL_TOOLBAR", false),
    ("crm", "CRM_CONTACT_DETAIL_ACTIVITY", false),
    ("crm", "CRM_COMPANY_LIST_MENU", false),
    ("crm", "CRM_COMPANY_LIST_TOOLBAR", false),
    ("crm", "CRM_COMPANY_DETAIL_TAB", false),
    ("crm", "CRM_COMPANY_DETAIL_TOOLBAR", false),
    ("crm", "CRM_COMPANY_DETAIL_ACTIVITY", false),
    ("crm", "CRM_ACTIVITY_LIST_MENU", false),
    ("crm", "CRM_ANALYTICS_MENU", false),
    ("user", "USER_PROFILE_MENU", false),
    ("user", "USER_PROFILE_TOOLBAR", false),
];

/// The calling application's id; a webhook is `WRONG_AUTH_TYPE` with the real service's
/// "Application context required".
pub(super) fn app_context(caller: &Caller) -> Result<i64, ApiError> {
    match caller.kind {
        CallerKind::App { app_id, .. } => Ok(app_id),
        CallerKind::Webhook { .. } => Err(RestError::with_message(
            ErrorCode::WrongAuthType,
            "Current authorization type is denied for this method Application context required",
        )
        .into()),
    }
}

/// An application whose user is an administrator (`bitrix24_config`), else 403 `Access denied!`.
fn admin_app(caller: &Caller) -> Result<i64, ApiError> {
    let app_id = app_context(caller)?;
    if !caller.user.admin {
        return Err(ErrorCode::AccessDeniedSystem.into());
    }
    Ok(app_id)
}

/// A parameter as PHP's string conversion sees it, trimmed; arrays and null are empty.
fn text(call: &Call<'_>, name: &str) -> String {
    match call.params.get_ci(name) {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(true)) => "1".into(),
        _ => String::new(),
    }
}

/// An object parameter (`OPTIONS`, `LANG_ALL`); anything else is empty.
fn object(call: &Call<'_>, name: &str) -> Map<String, Value> {
    match call.params.get_ci(name) {
        Some(Value::Object(map)) => map.clone(),
        _ => Map::new(),
    }
}

/// A PHP array as JSON: an empty one is `[]`.
fn php_array(map: &Map<String, Value>) -> Value {
    if map.is_empty() {
        json!([])
    } else {
        Value::Object(map.clone())
    }
}

/// The placement named, upper-cased; `DEFAULT` is not bindable.
fn placement_code(call: &Call<'_>) -> Result<String, ApiError> {
    let code = text(call, "PLACEMENT").to_ascii_uppercase();
    if code.is_empty() || code == "DEFAULT" {
        return Err(RestError::argument_null("PLACEMENT").into());
    }
    Ok(code)
}

/// Whether the caller may bind `code`: a global placement, or one of a scope it holds.
fn offered(caller: &Caller, code: &str) -> Option<bool> {
    PLACEMENTS
        .iter()
        .find(|(scope, c, _)| *c == code && (scope.is_empty() || caller.has_scope(Some(scope))))
        .map(|(_, _, single)| *single)
}

fn bind(call: &Call<'_>) -> Result<Output, ApiError> {
    let app_id = admin_app(call.caller)?;
    let placement = placement_code(call)?;
    let handler = text(call, "HANDLER");
    if handler.is_empty() {
        return Err(RestError::argument_null("HANDLER").into());
    }
    let single = offered(call.caller, &placement).ok_or(ErrorCode::PlacementNotFound)?;
    check_handler_url(&handler, call.state.events.targets)?;
    let user_id = text(call, "USER_ID").parse::<i64>().unwrap_or(0);
    if user_id > 0 {
        return Err(ErrorCode::PlacementUserMode.into());
    }
    let (title, description, group_name) = (
        text(call, "TITLE"),
        text(call, "DESCRIPTION"),
        text(call, "GROUP_NAME"),
    );
    let mut lang_all = object(call, "LANG_ALL");
    if lang_all.is_empty() {
        lang_all.insert(
            "en".into(),
            json!({"TITLE": title, "DESCRIPTION": description, "GROUP_NAME": group_name}),
        );
    }
    let record = PlacementRecord {
        id: 0,
        app_id,
        placement,
        handler,
        user_id,
        title,
        description,
        group_name,
        options: php_array(&object(call, "OPTIONS")),
        lang_all: Value::Object(lang_all),
    };
    call.state.store.write(call.caller.portal_id, |tx| {
        if single
            && tx
                .placements_of_app(app_id)?
                .iter()
                .any(|p| p.placement == record.placement)
        {
            return Err(ErrorCode::PlacementMaxCount.into());
        }
        if !tx.insert_placement(&record)? {
            return Err(ErrorCode::PlacementAlreadyBound.into());
        }
        Ok(())
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn unbind(call: &Call<'_>) -> Result<Output, ApiError> {
    let app_id = admin_app(call.caller)?;
    let placement = placement_code(call)?;
    let handler = text(call, "HANDLER");
    let user_id = text(call, "USER_ID").parse::<i64>().ok();
    let deleted = call.state.store.write(call.caller.portal_id, |tx| {
        tx.delete_placements(
            app_id,
            &placement,
            (!handler.is_empty()).then_some(handler.as_str()),
            user_id,
        )
    })?;
    // The real service counts each binding twice: once found, once deleted (spec frame-host §3).
    Ok(Output::result(json!({ "count": deleted * 2 })))
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let app_id = admin_app(call.caller)?;
    let placements = call
        .state
        .store
        .read(call.caller.portal_id, |tx| tx.placements_of_app(app_id))?;
    let listed: Vec<Value> = placements
        .into_iter()
        .map(|p| {
            json!({
                "placement": p.placement,
                "userId": p.user_id,
                "handler": p.handler,
                "options": p.options,
                "title": p.title,
                "description": p.description,
                "langAll": p.lang_all,
            })
        })
        .collect();
    Ok(Output::result(Value::Array(listed)))
}

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    app_context(call.caller)?;
    let scope = text(call, "SCOPE");
    let full = call.params.get_ci("FULL").is_some_and(php_truthy);
    let codes: Vec<&str> = PLACEMENTS
        .iter()
        .filter(|(s, _, _)| {
            if !scope.is_empty() {
                *s == scope
            } else {
                full || s.is_empty() || call.caller.has_scope(Some(s))
            }
        })
        .map(|(_, code, _)| *code)
        .collect();
    Ok(Output::result(json!(codes)))
}
