//! Installing a browser application on a portal (spec frame-host.md §3): the installed flag per
//! portal, and `ONAPPINSTALL` through the outbox to the application's bound handlers (and, for an
//! API-only application, to its install URL, as the portal POSTs right after creation).

use crate::error::ApiError;
use crate::store::{AppRecord, OutboxRecord, Tx};
use serde_json::json;

/// The event the portal fires when an application is installed.
pub const ON_APP_INSTALL: &str = "ONAPPINSTALL";

/// Whether the application is installed on the transaction's portal.
pub fn is_installed(tx: &mut dyn Tx, app_id: i64) -> Result<bool, ApiError> {
    Ok(tx
        .app_install(app_id)?
        .is_some_and(|(installed, _)| installed))
}

/// Marks the application installed on this portal by `user_id` (an administrator) and queues
/// `ONAPPINSTALL`, with tokens of that user, to every handler the application bound for it; an
/// API-only application's install URL gets it too. Installing an installed application again
/// changes nothing and fires nothing.
pub fn install(tx: &mut dyn Tx, app: &AppRecord, user_id: i64) -> Result<(), ApiError> {
    if is_installed(tx, app.id)? {
        return Ok(());
    }
    tx.set_app_install(app.id, true, app.version)?;
    tx.set_app_user(app.id, user_id, true)?;
    let mut targets: Vec<(i64, String)> = tx
        .event_handlers_of_app(app.id)?
        .into_iter()
        .filter(|h| h.event_name == ON_APP_INSTALL && !h.handler.is_empty())
        .map(|h| (h.id, h.handler))
        .collect();
    if app.api_only {
        let url = if app.install_url.is_empty() {
            &app.handler_url
        } else {
            &app.install_url
        };
        if !url.is_empty() {
            targets.push((0, url.clone()));
        }
    }
    let now = tx.now_unix();
    let data = json!({
        "VERSION": app.version.to_string(),
        "ACTIVE": "Y",
        "INSTALLED": "Y",
        "LANGUAGE_ID": "en",
    });
    for (handler_id, handler) in targets {
        tx.insert_outbox(&OutboxRecord {
            id: 0,
            handler_id,
            app_id: app.id,
            event_name: ON_APP_INSTALL.to_string(),
            handler,
            auth_user_id: user_id,
            data: data.clone(),
            ts: now.floor() as i64,
            attempts: 0,
            next_attempt_at: now,
        })?;
    }
    Ok(())
}

/// Marks the application not installed on this portal (`installFinish` with `value: false`, or
/// an operator): its install page shows again.
pub fn uninstall(tx: &mut dyn Tx, app: &AppRecord) -> Result<(), ApiError> {
    tx.set_app_install(app.id, false, app.version)
}
