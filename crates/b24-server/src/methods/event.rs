//! Event methods (spec §9.1): `events`, `event.bind`, `event.unbind`, `event.get`, and the offline
//! queue `event.offline.get / clear / error / list`. Applications only: a webhook gets 403
//! `WRONG_AUTH_TYPE`. Parameter names are case-insensitive, as in the real service.
//!
//! Checks run in the order of the real service's `Bitrix\Rest\Api\Event`; the rules and writes
//! are [`crate::domain::events`].

use super::listing::{parse_filter, parse_order, Dialect, ListField, ListFields};
use super::{Call, Handler, MethodSpec, Output};
use crate::auth::{Caller, CallerKind};
use crate::domain::events::{self as domain_events, EventApp, HandlerRequest, OfflineTake};
use crate::domain::text_limits::{self, Record};
use crate::error::ApiError;
use crate::events::EVENTS;
use crate::store::{Column, Filter, ListQuery, OfflineEventRecord, OfflineSelection, SqlValue};
use b24_protocol::values::{bind_int, php_intval, php_truthy};
use b24_protocol::{ErrorCode, RestError, PAGE_SIZE};
use serde_json::{json, Map, Value};

/// `events(SCOPE?, FULL?)`: the events an application may bind.
pub const EVENTS_LIST: MethodSpec = MethodSpec {
    name: "events",
    scope: None,
    handler: Handler::Blocking(events),
    doc: "The events the application may bind (SCOPE: one scope's; FULL: all).",
};

/// `event.bind(event, handler, auth_type?, event_type?)`.
pub const BIND: MethodSpec = MethodSpec {
    name: "event.bind",
    scope: None,
    handler: Handler::Blocking(bind),
    doc: "Binds a handler URL (or the offline queue) to an event.",
};

/// `event.unbind(event, handler, auth_type?, event_type?)`.
pub const UNBIND: MethodSpec = MethodSpec {
    name: "event.unbind",
    scope: None,
    handler: Handler::Blocking(unbind),
    doc: "Removes matching handlers; answers how many.",
};

/// `event.get`: the application's handlers.
pub const GET: MethodSpec = MethodSpec {
    name: "event.get",
    scope: None,
    handler: Handler::Blocking(get),
    doc: "The application's bound handlers.",
};

/// `event.offline.get(filter?, order?, limit?, clear?, process_id?, error?)`.
pub const OFFLINE_GET: MethodSpec = MethodSpec {
    name: "event.offline.get",
    scope: None,
    handler: Handler::Blocking(offline_get),
    doc:
        "Takes the next offline events from the queue (clear=0: hands them out under a process id).",
};

/// `event.offline.clear(process_id, id? | message_id?)`.
pub const OFFLINE_CLEAR: MethodSpec = MethodSpec {
    name: "event.offline.clear",
    scope: None,
    handler: Handler::Blocking(offline_clear),
    doc: "Deletes offline events handed out under a process id.",
};

/// `event.offline.error(process_id, message_id)`.
pub const OFFLINE_ERROR: MethodSpec = MethodSpec {
    name: "event.offline.error",
    scope: None,
    handler: Handler::Blocking(offline_error),
    doc: "Marks offline events handed out under a process id as failed (event.offline.get error=1 returns them).",
};

/// `event.offline.list(filter?, order?, start?)`.
pub const OFFLINE_LIST: MethodSpec = MethodSpec {
    name: "event.offline.list",
    scope: None,
    handler: Handler::Blocking(offline_list),
    doc: "Reads the offline queue without changing it.",
};

/// The most entries one `event.offline.get` hands out, whatever `limit` says.
const MAX_OFFLINE_BATCH: i64 = 1000;

/// The calling application's id; webhooks are refused (`AuthTypeException`).
fn app_id(caller: &Caller) -> Result<i64, ApiError> {
    match caller.kind {
        CallerKind::App { app_id, .. } => Ok(app_id),
        CallerKind::Webhook { .. } => Err(ErrorCode::WrongAuthType.into()),
    }
}

/// Runs `f` with the calling application (webhooks are refused first).
fn with_app<R>(
    call: &Call<'_>,
    f: impl FnOnce(&EventApp<'_>) -> Result<R, ApiError>,
) -> Result<R, ApiError> {
    let app_id = app_id(call.caller)?;
    let has_scope = |scope: &str| call.caller.has_scope(Some(scope));
    f(&EventApp {
        app_id,
        user_id: call.caller.user.id,
        admin: call.caller.user.admin,
        has_scope: &has_scope,
    })
}

/// A parameter as PHP's string conversion sees it; arrays and null are empty.
fn text(call: &Call<'_>, name: &str) -> String {
    match call.params.get_ci(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(true)) => "1".into(),
        _ => String::new(),
    }
}

fn events(call: &Call<'_>) -> Result<Output, ApiError> {
    app_id(call.caller)?;
    let scope = call.params.get_ci("scope");
    let full = call.params.get_ci("full").is_some_and(php_truthy);
    let wanted = |event_scope: &str| match scope {
        Some(s) => s.as_str() == Some(event_scope),
        None => full || event_scope.is_empty() || call.caller.has_scope(Some(event_scope)),
    };
    let names: Vec<&str> = EVENTS
        .iter()
        .filter(|(scope, _)| wanted(scope))
        .map(|(_, name)| *name)
        .collect();
    Ok(Output::result(json!(names)))
}

/// The parameters of `event.bind` and `event.unbind`.
fn handler_request(call: &Call<'_>) -> HandlerRequest {
    HandlerRequest {
        event: text(call, "event").to_ascii_uppercase(),
        handler: text(call, "handler"),
        auth_type: call.params.get_ci("auth_type").map(php_intval),
        event_type: text(call, "event_type"),
    }
}

fn bind(call: &Call<'_>) -> Result<Output, ApiError> {
    let request = handler_request(call);
    let targets = call.state.events.targets;
    with_app(call, |app| {
        call.state.store.write(call.caller.portal_id, |tx| {
            domain_events::bind(tx, app, request, targets)
        })
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn unbind(call: &Call<'_>) -> Result<Output, ApiError> {
    let request = handler_request(call);
    let count = with_app(call, |app| {
        call.state.store.write(call.caller.portal_id, |tx| {
            domain_events::unbind(tx, app, request)
        })
    })?;
    Ok(Output::result(json!({ "count": count })))
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let handlers = with_app(call, |app| {
        call.state
            .store
            .read(call.caller.portal_id, |tx| domain_events::handlers(tx, app))
    })?;
    let listed: Vec<Value> = handlers
        .into_iter()
        .map(|h| {
            if h.handler.is_empty() {
                json!({"event": h.event_name, "connector_id": h.connector_id, "offline": 1})
            } else {
                json!({"event": h.event_name, "handler": h.handler,
                       "auth_type": h.user_id.to_string(), "offline": 0})
            }
        })
        .collect();
    Ok(Output::result(Value::Array(listed)))
}

/// The offline queue's filterable fields; `event.offline.list` also offers `PROCESS_ID` and
/// `ERROR`.
struct OfflineFields {
    with_process: bool,
}

impl ListFields for OfflineFields {
    fn field(&self, key: &str) -> Option<ListField> {
        let (column, numeric) = match key.to_ascii_uppercase().as_str() {
            "ID" => ("id", true),
            "TIMESTAMP_X" => ("timestamp_x", false),
            "EVENT_NAME" => ("event_name", false),
            "MESSAGE_ID" => ("message_id", false),
            "PROCESS_ID" if self.with_process => ("process_id", false),
            "ERROR" if self.with_process => ("error", true),
            _ => return None,
        };
        Some(ListField {
            column: Column::Plain(column),
            convert: Box::new(move |v| {
                if numeric {
                    bind_int(v).map(SqlValue::Int)
                } else {
                    match v {
                        Value::String(s) => Some(SqlValue::Text(s.clone())),
                        Value::Number(n) => Some(SqlValue::Text(n.to_string())),
                        _ => None,
                    }
                }
            }),
        })
    }
}

/// The caller's `filter` and `order` over the offline fields (default order: `default_order`).
fn offline_query(
    call: &Call<'_>,
    with_process: bool,
    default_order: &'static str,
) -> Result<(Filter, Vec<(Column, bool)>), ApiError> {
    let fields = OfflineFields { with_process };
    let filter = match call.params.map_ci("filter")? {
        Some(map) => parse_filter(&map, &fields, Dialect::Legacy)?,
        None => Filter::everything(),
    };
    let order = match call.params.map_ci("order")? {
        Some(map) if !map.is_empty() => parse_order(&map, &fields, Dialect::Legacy)?,
        _ => vec![(Column::Plain(default_order), false)],
    };
    Ok((filter, order))
}

fn offline_json(e: &OfflineEventRecord, with_process: bool) -> Value {
    let mut out = Map::new();
    out.insert("ID".into(), json!(e.id.to_string()));
    out.insert("TIMESTAMP_X".into(), json!(e.timestamp_x));
    out.insert("EVENT_NAME".into(), json!(e.event_name));
    out.insert(
        "EVENT_DATA".into(),
        serde_json::from_str(&e.data).unwrap_or(Value::Bool(false)),
    );
    out.insert(
        "EVENT_ADDITIONAL".into(),
        json!({"user_id": e.user_id.to_string()}),
    );
    out.insert("MESSAGE_ID".into(), json!(e.message_id));
    if with_process {
        out.insert("PROCESS_ID".into(), json!(e.process_id));
        out.insert("ERROR".into(), json!(if e.error { "1" } else { "0" }));
    }
    Value::Object(out)
}

/// Runs an offline method for the calling application, which must be an administrator's,
/// before its parameters are read.
fn offline_method(
    call: &Call<'_>,
    f: impl FnOnce(&EventApp<'_>) -> Result<Output, ApiError>,
) -> Result<Output, ApiError> {
    with_app(call, |app| {
        domain_events::check_offline_access(app)?;
        f(app)
    })
}

fn offline_get(call: &Call<'_>) -> Result<Output, ApiError> {
    offline_method(call, |app| {
        let clear = call
            .params
            .get_ci("clear")
            .is_none_or(|v| php_intval(v) != 0);
        let given_process = call
            .params
            .get_ci("process_id")
            .map(|_| text(call, "process_id").trim().to_string());
        if let Some(process_id) = &given_process {
            // Stored on every entry it takes (spec §14).
            text_limits::check(Record::OfflineEvent, "PROCESS_ID", process_id)
                .map_err(|limit| RestError::argument("PROCESS_ID", limit.message("PROCESS_ID")))?;
        }
        let limit = call
            .params
            .get_ci("limit")
            .map_or(PAGE_SIZE as i64, php_intval);
        if limit <= 0 {
            return Err(RestError::argument("LIMIT", "Value must be positive integer").into());
        }
        let errors = call
            .params
            .get_ci("error")
            .is_some_and(|v| php_intval(v) == 1);
        let (filter, order) = offline_query(call, false, "timestamp_x")?;
        let take = OfflineTake {
            filter,
            order,
            limit: limit.min(MAX_OFFLINE_BATCH) as u64,
            errors,
            process_id: given_process.clone(),
            clear,
        };
        let (process_id, rows) = call.state.store.write(call.caller.portal_id, |tx| {
            domain_events::take_offline(tx, app, &take)
        })?;
        let shown_process = (!clear || given_process.is_some()).then_some(process_id);
        Ok(Output::result(json!({
            "process_id": shown_process,
            "events": rows.iter().map(|e| offline_json(e, false)).collect::<Vec<_>>(),
        })))
    })
}

fn offline_clear(call: &Call<'_>) -> Result<Output, ApiError> {
    offline_method(call, |app| {
        if call.params.get_ci("process_id").is_none() {
            return Err(RestError::argument_null("PROCESS_ID").into());
        }
        let process_id = text(call, "process_id").trim().to_string();
        let list = |name: &str| -> Option<Vec<Value>> {
            match call.params.get_ci(name)? {
                Value::Array(a) => Some(a.clone()),
                Value::Object(o) => Some(o.values().cloned().collect()),
                _ => None,
            }
        };
        let message_ids: Option<Vec<String>>;
        let ids: Option<Vec<i64>>;
        if call.params.get_ci("message_id").is_some() {
            let bad =
                || RestError::argument("message_id", "Value must be array of MESSAGE_ID values");
            let values = list("message_id").ok_or_else(bad)?;
            let mut out = Vec::new();
            for v in values {
                let text = v.as_str().map(str::trim).unwrap_or("");
                if text.len() != 32 {
                    return Err(bad().into());
                }
                out.push(text.to_string());
            }
            message_ids = Some(out);
            ids = None;
        } else if call.params.get_ci("id").is_some() {
            let bad = || RestError::argument("id", "Value must be array of integers");
            let values = list("id").ok_or_else(bad)?;
            let mut out = Vec::new();
            for v in values {
                let id = php_intval(&v);
                if id <= 0 {
                    return Err(bad().into());
                }
                out.push(id);
            }
            message_ids = None;
            ids = Some(out);
        } else {
            message_ids = None;
            ids = None;
        }
        let only = match (&ids, &message_ids) {
            (Some(ids), _) => OfflineSelection::Ids(ids),
            (_, Some(m)) => OfflineSelection::MessageIds(m),
            _ => OfflineSelection::All,
        };
        call.state.store.write(call.caller.portal_id, |tx| {
            domain_events::clear_offline(tx, app, &process_id, only)
        })?;
        Ok(Output::result(Value::Bool(true)))
    })
}

fn offline_error(call: &Call<'_>) -> Result<Output, ApiError> {
    offline_method(call, |app| {
        if call.params.get_ci("process_id").is_none() {
            return Err(RestError::argument_null("PROCESS_ID").into());
        }
        let process_id = text(call, "process_id").trim().to_string();
        let bad = || RestError::argument("message_id", "Value must be array of MESSAGE_ID values");
        let message_ids: Vec<String> = match call.params.get_ci("message_id") {
            Some(Value::Array(a)) => a.iter().map(|v| text_of(v).trim().to_string()).collect(),
            Some(Value::Object(o)) => o.values().map(|v| text_of(v).trim().to_string()).collect(),
            _ => return Err(bad().into()),
        };
        call.state.store.write(call.caller.portal_id, |tx| {
            domain_events::mark_offline_errors(tx, app, &process_id, &message_ids)
        })?;
        Ok(Output::result(Value::Bool(true)))
    })
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn offline_list(call: &Call<'_>) -> Result<Output, ApiError> {
    offline_method(call, |app| {
        let (filter, order) = offline_query(call, true, "id")?;
        let page = call.params.page();
        let query = ListQuery {
            filter,
            order,
            offset: page.offset,
            limit: PAGE_SIZE,
            count: page.count,
        };
        let result = call.state.store.read(call.caller.portal_id, |tx| {
            domain_events::list_offline(tx, app, &query)
        })?;
        let count = result.rows.len();
        Ok(Output {
            result: Value::Array(result.rows.iter().map(|e| offline_json(e, true)).collect()),
            next: result.total.and_then(|total| page.next(count, total)),
            total: result.total,
        })
    })
}
