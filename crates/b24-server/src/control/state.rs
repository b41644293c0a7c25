//! `POST /_b24/reset` and snapshots (`/_b24/snapshots`): a test suite wipes the portal between
//! tests without restarting the server, or saves a baseline once and brings it back, ids and
//! sequences included, in one transaction each.
//!
//! Reset deletes the portal's CRM data, their id sequences, the outbox, delivery log and offline
//! queue, the journal, the fault rules, the limiter counters and the clock setting; it keeps
//! users, rights, webhooks, applications, tokens, event handlers, server keys, snapshots and the
//! portal's settings (plan, switches) (`{"keep":[]}` wipes auth too and makes a new
//! administrator and webhook, as a first start does).
//! A snapshot holds the data reset deletes, without the records of the run (journal, faults,
//! limiter counters, clock), which a restore leaves as they are, and without any secret.

use super::{AdminJson, AdminPortal, ControlError, ControlResult};
use crate::admin::{seed_administrator, webhook_url};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::reset::{DataSet, SnapshotInfo};
use crate::store::{PortalId, Store};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The routes of this family.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/reset", post(reset_route))
        .route("/snapshots", get(list_route).post(save_route))
        .route("/snapshots/{name}", delete(delete_route))
        .route("/snapshots/{name}/restore", post(restore_route))
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

/// Runs store work that answers a [`ControlError`] itself on the blocking pool.
pub(crate) async fn on_store<R: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Store) -> Result<R, ControlError> + Send + 'static,
) -> Result<R, ControlError> {
    let store: Arc<Store> = state.store.clone();
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .unwrap_or_else(|e| {
            Err(ApiError::internal(anyhow::anyhow!("admin task panicked: {e}")).into())
        })
}

/// What `keep` may name.
const KEEPABLE: &[&str] = &["auth"];

/// The body of `POST /_b24/reset`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    /// What survives: `["auth"]` (the default) or `[]`.
    #[serde(default = "keep_auth")]
    keep: Vec<String>,
}

fn keep_auth() -> Vec<String> {
    vec!["auth".to_string()]
}

/// What a reset did.
#[derive(Debug)]
pub struct ResetOutcome {
    /// Rows deleted per table.
    pub deleted: Map<String, Value>,
    /// With auth wiped: the new administrator webhook's URLs (plain, HTTPS if served).
    pub webhook: Option<(String, Option<String>)>,
    /// The portal's reset count after this one.
    pub generation: i64,
}

impl ResetOutcome {
    /// The answer of `POST /_b24/reset` (and the CLI's output).
    pub fn answer(&self) -> Value {
        let mut answer = json!({ "deleted": self.deleted });
        if let Some((webhook, https)) = &self.webhook {
            answer["webhook"] = json!(webhook);
            answer["https_webhook"] = json!(https);
        }
        answer
    }
}

/// Checks `keep`: whether auth is kept.
pub fn keeps_auth(keep: &[String]) -> Result<bool, ControlError> {
    if let Some(unknown) = keep.iter().find(|k| !KEEPABLE.contains(&k.as_str())) {
        return Err(ControlError::bad_request(format!(
            "keep may name only \"auth\" (users, rights, webhooks, applications, tokens, event handlers), not {unknown:?}"
        )));
    }
    Ok(keep.iter().any(|k| k == "auth"))
}

/// Resets a portal in one transaction (see the module's documentation). Limiter counters a
/// server holds in memory are not reached from here: the caller forgets them, or the server
/// does within a second when it sees the reset count change.
pub fn reset(
    store: &Store,
    portal: PortalId,
    keep_auth: bool,
) -> Result<ResetOutcome, ControlError> {
    let outcome = store.write(portal, |tx| {
        // Before the first start there is nothing to reset, and an administrator made here
        // would be followed by a second one when the server bootstraps the portal.
        if tx.portal_row()?.is_none() {
            return Ok(None);
        }
        let counts = tx.reset_portal(keep_auth)?;
        crate::domain::statuses::ensure_defaults(tx)?;
        let webhook = if keep_auth {
            None
        } else {
            let first = seed_administrator(tx)?;
            let row = tx.portal_row()?;
            row.map(|row| {
                let plain = webhook_url(&row.public_url, first.admin_user_id, &first.webhook_code);
                let https = (!row.public_https_url.is_empty()).then(|| {
                    webhook_url(
                        &row.public_https_url,
                        first.admin_user_id,
                        &first.webhook_code,
                    )
                });
                (plain, https)
            })
        };
        Ok(Some(ResetOutcome {
            deleted: counts
                .into_iter()
                .map(|(table, n)| (table, Value::from(n)))
                .collect(),
            webhook,
            generation: tx.reset_generation()?,
        }))
    })?;
    outcome.ok_or_else(no_portal)
}

/// The portal is made on the server's first start.
pub(super) fn no_portal() -> ControlError {
    ControlError::not_found(
        "The portal does not exist yet: start the server once with `b24-server serve`",
    )
}

async fn reset_route(
    State(state): State<AppState>,
    AdminPortal(portal): AdminPortal,
    AdminJson(request): AdminJson<ResetRequest>,
) -> ControlResult {
    let keep_auth = keeps_auth(&request.keep)?;
    let outcome = reset_portal(&state, portal, keep_auth).await?;
    Ok(Json(outcome.answer()))
}

/// Resets a portal as `POST /_b24/reset` does (the console's reset too): waits for the journal
/// writer, resets in one transaction, then makes this process forget the portal's limiter
/// counters and clock setting at once.
pub async fn reset_portal(
    state: &AppState,
    portal: PortalId,
    keep_auth: bool,
) -> Result<ResetOutcome, ControlError> {
    // Calls answered before the reset are in the journal it wipes, not written after it.
    state.control.recorder.flush().await;
    let mut outcome = on_store(state, move |store| reset(store, portal, keep_auth)).await?;
    state.control.recorder.answers().forget_portal(portal);
    // The counters this process holds in memory, and its clock, follow at once.
    let (buckets, operating) = state.limiter.forget_portal(portal);
    for (table, forgotten) in [
        ("limiter_buckets", buckets),
        ("limiter_operating", operating),
    ] {
        let stored = outcome
            .deleted
            .get(table)
            .and_then(Value::as_u64)
            .unwrap_or(0);
        outcome
            .deleted
            .insert(table.to_string(), Value::from(stored + forgotten));
    }
    if portal == crate::store::DEFAULT_PORTAL {
        state
            .control
            .reset_seen
            .fetch_max(outcome.generation, std::sync::atomic::Ordering::SeqCst);
    }
    if let Some(runtime) = state.portals.get(portal) {
        runtime
            .reset_seen
            .fetch_max(outcome.generation, std::sync::atomic::Ordering::SeqCst);
        runtime.clock.set(0.0, None);
    }
    Ok(outcome)
}

/// Whether a snapshot name is acceptable: `[A-Za-z0-9._-]{1,64}`.
pub fn check_snapshot_name(name: &str) -> Result<(), ControlError> {
    let fits = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if fits {
        Ok(())
    } else {
        Err(ControlError::bad_request(
            "A snapshot name is 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
        ))
    }
}

fn unknown_snapshot(name: &str) -> ControlError {
    ControlError::not_found(format!(
        "There is no snapshot named '{name}'; GET /_b24/snapshots lists them"
    ))
}

/// The body of `POST /_b24/snapshots`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SaveRequest {
    /// The snapshot's name.
    name: String,
    /// Replace a snapshot of that name instead of answering 409.
    #[serde(default)]
    replace: bool,
}

fn info_json(info: &SnapshotInfo) -> Value {
    json!({"name": info.name, "rows": info.rows, "created": info.created})
}

/// Saves the portal's data as a snapshot, in one transaction.
pub fn save_snapshot(
    store: &Store,
    portal: PortalId,
    name: &str,
    replace: bool,
) -> Result<SnapshotInfo, ControlError> {
    check_snapshot_name(name)?;
    let saved = store.write(portal, |tx| {
        let data = tx.data_set()?;
        let text = serde_json::to_string(&data).map_err(|e| ApiError::internal(e.into()))?;
        tx.save_snapshot(name, data.rows(), &text, replace)
    })?;
    saved.ok_or_else(|| {
        ControlError::new(
            StatusCode::CONFLICT,
            "ALREADY_EXISTS",
            format!("A snapshot named '{name}' exists; send \"replace\":true to overwrite it, or delete it first"),
        )
    })
}

/// Replaces the portal's data with a snapshot's, in one transaction; returns the rows restored.
pub fn restore_snapshot(store: &Store, portal: PortalId, name: &str) -> Result<u64, ControlError> {
    check_snapshot_name(name)?;
    let restored = store.write(portal, |tx| {
        let Some(text) = tx.snapshot_data(name)? else {
            return Ok(None);
        };
        let data: DataSet = serde_json::from_str(&text).map_err(|e| {
            ApiError::internal(anyhow::anyhow!("snapshot {name} is unreadable: {e}"))
        })?;
        let rows = tx.restore_data_set(&data)?;
        // A snapshot taken before dictionaries were stored holds none.
        crate::domain::statuses::ensure_defaults(tx)?;
        Ok(Some(rows))
    })?;
    restored.ok_or_else(|| unknown_snapshot(name))
}

/// The portal's snapshots.
pub fn list_snapshots(store: &Store, portal: PortalId) -> Result<Vec<SnapshotInfo>, ControlError> {
    Ok(store.read(portal, |tx| tx.snapshots())?)
}

/// Deletes a snapshot.
pub fn delete_snapshot(store: &Store, portal: PortalId, name: &str) -> Result<(), ControlError> {
    check_snapshot_name(name)?;
    if store.write(portal, |tx| tx.delete_snapshot(name))? {
        Ok(())
    } else {
        Err(unknown_snapshot(name))
    }
}

async fn save_route(
    State(state): State<AppState>,
    AdminPortal(portal): AdminPortal,
    AdminJson(request): AdminJson<SaveRequest>,
) -> ControlResult<impl IntoResponse> {
    let info = on_store(&state, move |store| {
        save_snapshot(store, portal, &request.name, request.replace)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(info_json(&info))))
}

async fn restore_route(
    State(state): State<AppState>,
    AdminPortal(portal): AdminPortal,
    Path(name): Path<String>,
) -> ControlResult {
    let answer_name = name.clone();
    let rows = on_store(&state, move |store| restore_snapshot(store, portal, &name)).await?;
    Ok(Json(json!({"name": answer_name, "rows": rows})))
}

async fn list_route(
    State(state): State<AppState>,
    AdminPortal(portal): AdminPortal,
) -> ControlResult {
    let list = on_store(&state, move |store| list_snapshots(store, portal)).await?;
    let list: Vec<Value> = list.iter().map(info_json).collect();
    Ok(Json(json!({ "snapshots": list })))
}

async fn delete_route(
    State(state): State<AppState>,
    AdminPortal(portal): AdminPortal,
    Path(name): Path<String>,
) -> ControlResult<StatusCode> {
    on_store(&state, move |store| delete_snapshot(store, portal, &name)).await?;
    Ok(StatusCode::NO_CONTENT)
}
