//! The rules and writes of the event methods (spec §9.1): who may bind and unbind which handlers,
//! which handlers an application sees, and the offline queue (`event.offline.get / clear / error
//! / list`), in the order of the real service's `Bitrix\Rest\Api\Event`. Recording a change for
//! the bound handlers is [`super::changes`]; delivering it is [`crate::events`].

use crate::config::TargetPolicy;
use crate::error::ApiError;
use crate::events::{check_handler_url, scope_of};
use crate::secret::generate_code;
use crate::store::{
    Column, CompareOp, EventHandlerRecord, Filter, ListQuery, OfflineEventRecord, OfflineSelection,
    PageOf, SqlValue, Tx,
};
use b24_protocol::{ErrorCode, RestError};

/// The application calling an event method, and its user. Webhooks never get this far
/// (`WRONG_AUTH_TYPE`).
pub struct EventApp<'a> {
    /// The application.
    pub app_id: i64,
    /// The user the call runs as.
    pub user_id: i64,
    /// Whether that user is an administrator.
    pub admin: bool,
    /// Whether the call's credential grants a scope.
    pub has_scope: &'a (dyn Fn(&str) -> bool + Sync),
}

/// The parameters of `event.bind` and `event.unbind`, as PHP's string conversion reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandlerRequest {
    /// `event`, upper-cased.
    pub event: String,
    /// `handler`.
    pub handler: String,
    /// `auth_type` as PHP's `intval` reads it, when given.
    pub auth_type: Option<i64>,
    /// `event_type`: empty, `online` or `offline` (any case).
    pub event_type: String,
}

/// A 403 `AccessException` with a detail: `Access denied! <detail>`.
fn access_denied(detail: &str) -> ApiError {
    RestError::with_message(
        ErrorCode::AccessDeniedSystem,
        format!("Access denied! {detail}"),
    )
    .into()
}

/// Whether the handler is for the offline queue; `ERROR_ARGUMENT` for anything but online/offline.
fn is_offline(event_type: &str) -> Result<bool, ApiError> {
    match event_type.to_ascii_lowercase().as_str() {
        "" | "online" => Ok(false),
        "offline" => Ok(true),
        _ => Err(RestError::argument("EVENT_TYPE", "Value must be one of {online|offline}").into()),
    }
}

/// Handlers one application may bind (online and offline together), so that no application can
/// make every change of the portal fan out to unbounded deliveries.
pub const MAX_HANDLERS_PER_APP: usize = 500;

/// `event.bind`: binds a handler URL (or, for administrators, the offline queue) to an event
/// the application's scopes cover. With `auth_type` the handler gets tokens of that user (only
/// administrators may name another user); without it, of the caller, unless an administrator
/// binds it. A handler bound already is `HANDLER_ALREADY_BINDED`.
pub fn bind(
    tx: &mut dyn Tx,
    app: &EventApp<'_>,
    request: HandlerRequest,
    targets: TargetPolicy,
) -> Result<(), ApiError> {
    let mut auth_user = request.auth_type.unwrap_or(0);
    if auth_user > 0 {
        if !app.admin && auth_user != app.user_id {
            return Err(access_denied(
                "Event binding with AUTH_TYPE requires administrator access rights",
            ));
        }
    } else if !app.admin {
        auth_user = app.user_id;
    }
    let event = request.event;
    if event.is_empty() {
        return Err(RestError::argument_null("EVENT").into());
    }
    let offline = is_offline(&request.event_type)?;
    let mut handler = request.handler;
    if offline {
        if !app.admin {
            return Err(access_denied(
                "Offline events binding requires administrator access rights",
            ));
        }
        handler.clear();
        auth_user = 0;
    } else if handler.is_empty() {
        return Err(RestError::argument_null("HANDLER").into());
    } else {
        check_handler_url(&handler, targets)?;
    }
    if !scope_of(&event).is_some_and(|scope| scope.is_empty() || (app.has_scope)(scope)) {
        return Err(ErrorCode::EventNotFound.into());
    }
    if tx.event_handlers_of_app(app.app_id)?.len() >= MAX_HANDLERS_PER_APP {
        return Err(ErrorCode::TooManyHandlers.into());
    }
    let record = EventHandlerRecord {
        id: 0,
        app_id: app.app_id,
        event_name: event,
        handler,
        user_id: auth_user,
        connector_id: String::new(),
    };
    tx.insert_event_handler(&record)?
        .ok_or(ErrorCode::HandlerAlreadyBound)?;
    Ok(())
}

/// `event.unbind`: removes the application's handlers of the event with that handler URL (or
/// the offline queue, for administrators): of the `auth_type` user when given (only
/// administrators may name another user), else the caller's own, or every user's for an
/// administrator. Answers how many were removed.
pub fn unbind(
    tx: &mut dyn Tx,
    app: &EventApp<'_>,
    request: HandlerRequest,
) -> Result<i64, ApiError> {
    let event = request.event;
    if event.is_empty() {
        return Err(RestError::argument_null("EVENT").into());
    }
    let offline = is_offline(&request.event_type)?;
    let mut handler = request.handler;
    // `None`: handlers of every user.
    let mut only_user = None;
    if offline {
        if !app.admin {
            return Err(access_denied(
                "Offline events unbinding requires administrator access rights",
            ));
        }
        handler.clear();
    } else if handler.is_empty() {
        return Err(RestError::argument_null("HANDLER").into());
    } else if let Some(auth_user) = request.auth_type {
        if !app.admin && auth_user != app.user_id {
            return Err(access_denied(
                "Event unbinding with AUTH_TYPE requires administrator access rights",
            ));
        }
        only_user = Some(auth_user);
    } else if !app.admin {
        only_user = Some(app.user_id);
    }
    let mut count = 0;
    for h in tx.event_handlers_of_app(app.app_id)? {
        let matches = h.event_name == event
            && h.handler == handler
            && h.connector_id.is_empty()
            && only_user.is_none_or(|u| h.user_id == u);
        if matches && tx.delete_event_handler(h.id)? {
            count += 1;
        }
    }
    Ok(count)
}

/// `event.get`: the application's handlers the caller sees (an administrator all, anyone else
/// their own).
pub fn handlers(tx: &mut dyn Tx, app: &EventApp<'_>) -> Result<Vec<EventHandlerRecord>, ApiError> {
    let mut handlers = tx.event_handlers_of_app(app.app_id)?;
    handlers.retain(|h| app.admin || h.user_id == app.user_id);
    Ok(handlers)
}

/// The offline methods need an administrator (a bare `AccessException`); checked before their
/// parameters are read.
pub fn check_offline_access(app: &EventApp<'_>) -> Result<(), ApiError> {
    if !app.admin {
        return Err(ErrorCode::AccessDeniedSystem.into());
    }
    Ok(())
}

/// What `event.offline.get` takes from the queue.
#[derive(Debug, Clone)]
pub struct OfflineTake {
    /// The caller's filter.
    pub filter: Filter,
    /// The caller's order.
    pub order: Vec<(Column, bool)>,
    /// The most entries to take.
    pub limit: u64,
    /// Take failed entries (`error=1`) instead of fresh ones.
    pub errors: bool,
    /// Take the entries handed out earlier under this process id; `None` hands out the next
    /// ones under a new process id.
    pub process_id: Option<String>,
    /// Delete the entries taken.
    pub clear: bool,
}

fn eq(column: &'static str, value: SqlValue) -> Filter {
    Filter::Compare {
        column: Column::Plain(column),
        op: CompareOp::Eq,
        values: vec![value],
    }
}

/// `event.offline.get`: the entries of a process (a new one unless `take.process_id` names
/// one), deleted when `take.clear`. Returns the process id and the entries.
pub fn take_offline(
    tx: &mut dyn Tx,
    app: &EventApp<'_>,
    take: &OfflineTake,
) -> Result<(String, Vec<OfflineEventRecord>), ApiError> {
    let selection = |process_id: &str| ListQuery {
        filter: Filter::All(vec![
            take.filter.clone(),
            eq("error", SqlValue::Int(take.errors as i64)),
            eq("process_id", SqlValue::Text(process_id.to_string())),
        ]),
        order: take.order.clone(),
        offset: 0,
        limit: take.limit,
        count: false,
    };
    let process_id = match &take.process_id {
        Some(p) => p.clone(),
        None => {
            // Hand the next entries out under a new process id, so that parallel callers
            // never receive the same ones.
            let fresh = generate_code(32);
            let pending = tx.offline_events(app.app_id, "", &selection(""))?;
            let ids: Vec<i64> = pending.rows.iter().map(|e| e.id).collect();
            tx.mark_offline_events(&ids, &fresh)?;
            fresh
        }
    };
    let rows = tx
        .offline_events(app.app_id, "", &selection(&process_id))?
        .rows;
    if take.clear && !rows.is_empty() {
        tx.clear_offline_events(app.app_id, "", &process_id, OfflineSelection::All)?;
    }
    Ok((process_id, rows))
}

/// `event.offline.clear`: deletes entries handed out under `process_id`.
pub fn clear_offline(
    tx: &mut dyn Tx,
    app: &EventApp<'_>,
    process_id: &str,
    only: OfflineSelection<'_>,
) -> Result<(), ApiError> {
    tx.clear_offline_events(app.app_id, "", process_id, only)
}

/// `event.offline.error`: marks entries handed out under `process_id` as failed.
pub fn mark_offline_errors(
    tx: &mut dyn Tx,
    app: &EventApp<'_>,
    process_id: &str,
    message_ids: &[String],
) -> Result<(), ApiError> {
    tx.mark_offline_errors(app.app_id, "", process_id, message_ids)
}

/// `event.offline.list`: a page of the queue, unchanged.
pub fn list_offline(
    tx: &mut dyn Tx,
    app: &EventApp<'_>,
    query: &ListQuery,
) -> Result<PageOf<OfflineEventRecord>, ApiError> {
    tx.offline_events(app.app_id, "", query)
}
