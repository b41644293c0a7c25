//! `/_b24/events`: the outbound event deliveries, so a test can see (and wait for) what its
//! handler is sent without standing up a public URL, and send one again.
//!
//! An event keeps one number (`seq`, its outbox id) from the moment its change committed to its
//! last attempt: `pending` while it waits in the outbox, then `delivered` (a 2xx answer) or
//! `failed` (the sender gave up). `body` is the form body the handler receives (for a pending
//! event, what would be sent now; for a finished one, the body last sent), with the secrets in
//! it (`auth[access_token]`, `auth[application_token]`) shown as `REDACTED`: the admin API is
//! secret-free. `attempts` come from the delivery log (`{"at","http","outcome","detail"}`, with
//! outcome `retry`, `delivered` or `gave_up`); `next_attempt` is when a pending event is tried
//! next (while a delivery is in flight: when its claim lapses), `null` once it finished.
//!
//! `GET /_b24/events?event=&status=&since=&limit=&wait_ms=` answers `{"next","entries"}`:
//! entries with a `seq` above `since`, oldest first; `next` is the last `seq` answered, to pass
//! as `since` next time. With `wait_ms` (at most 30 s) and nothing to answer yet, it waits for
//! the first entry: woken when this process queues or records one, and looking at the
//! database every 200 ms for those of other processes. `POST /_b24/events/{seq}/redeliver`
//! queues the event again for its handler (same data, due now) as a new `seq`.

use super::{blocking, AdminPortal, AdminScope, ControlError, ControlResult};
use crate::clock::iso;
use crate::config::SecurityConfig;
use crate::error::ApiError;
use crate::events::sender::{payload_pairs, Secrets};
use crate::events::{form_encode, scope_of};
use crate::state::AppState;
use crate::store::captures::{CaptureFilter, Finished};
use crate::store::{OutboxRecord, PortalId, Store, Tx};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The routes of this family.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/events", get(list))
        .route("/events/{seq}/redeliver", post(redeliver))
}

/// Entries per answer unless `limit` says otherwise, and the most it may ask for.
pub const DEFAULT_LIMIT: u64 = 100;
/// See [`DEFAULT_LIMIT`].
pub const MAX_LIMIT: u64 = 1000;
/// The longest a listing waits for a new entry (`wait_ms` is capped to it).
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// How often a waiting listing looks at the database anyway: events queued or delivered by
/// another process on the same database wake nobody here.
const POLL: Duration = Duration::from_millis(200);

/// Wakes listings waiting for captured events. A REST call that may have queued events wakes
/// it, so it costs one atomic read while nobody waits.
#[derive(Debug, Default)]
pub struct EventsWatch {
    notify: Notify,
    waiters: AtomicUsize,
}

impl EventsWatch {
    /// Wakes every waiting listing, if there is one.
    pub fn wake(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }

    /// Counts a waiting listing for as long as the guard lives. Take it before looking at the
    /// database: a change committed after the look then finds the count and wakes the waiter.
    fn waiting(&self) -> WaitingGuard<'_> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        WaitingGuard(self)
    }
}

struct WaitingGuard<'a>(&'a EventsWatch);

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An event's state, as `status=` filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// Waiting in the outbox (never tried, or to be tried again).
    Pending,
    /// Delivered or given up.
    Finished(Finished),
}

impl EventStatus {
    /// `pending`, `delivered` or `failed`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Finished(Finished::Delivered)),
            "failed" => Some(Self::Finished(Finished::Failed)),
            _ => None,
        }
    }
}

/// Which captured events a listing wants.
#[derive(Debug, Clone)]
pub struct EventQuery {
    /// Only `seq` above this.
    pub since: i64,
    /// Only this event (upper-case).
    pub event: Option<String>,
    /// Only in this state.
    pub status: Option<EventStatus>,
    /// At most this many.
    pub limit: u64,
}

impl Default for EventQuery {
    fn default() -> Self {
        Self {
            since: 0,
            event: None,
            status: None,
            limit: DEFAULT_LIMIT,
        }
    }
}

impl EventQuery {
    /// Checks an event name given as a filter (case-insensitive), so a typo is an error rather
    /// than an empty answer forever.
    pub fn event_name(name: &str) -> Result<String, String> {
        let upper = name.trim().to_ascii_uppercase();
        match scope_of(&upper) {
            Some(_) => Ok(upper),
            None => Err(format!(
                "event={name} is not an event this server sends (ONCRMDEALADD, ONCRMACTIVITYUPDATE, …)"
            )),
        }
    }

    /// Parses `event`, `status`, `since`, `limit` and `wait_ms` from a query string; `portal`
    /// is the portal's, anything else is refused.
    fn from_query(query: &str) -> Result<(Self, Duration), String> {
        let mut parsed = Self::default();
        let mut wait = Duration::ZERO;
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let number = |max: u64| {
                value
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n <= max)
                    .ok_or_else(|| format!("{key} must be a whole number from 0 to {max}"))
            };
            match key.as_ref() {
                "event" => parsed.event = Some(Self::event_name(&value)?),
                "status" => {
                    parsed.status = Some(EventStatus::parse(value.trim()).ok_or_else(|| {
                        "status must be pending, delivered or failed".to_string()
                    })?)
                }
                "since" => parsed.since = number(i64::MAX as u64)? as i64,
                "limit" => {
                    parsed.limit = number(MAX_LIMIT)?;
                    if parsed.limit == 0 {
                        return Err(format!("limit must be from 1 to {MAX_LIMIT}"));
                    }
                }
                // Capped rather than refused: a test may well ask for a minute.
                "wait_ms" => wait = Duration::from_millis(number(u64::MAX)?).min(MAX_WAIT),
                "portal" => {}
                other => {
                    return Err(format!(
                        "Unknown parameter {other}: this route takes event, status, since, limit and wait_ms"
                    ))
                }
            }
        }
        Ok((parsed, wait))
    }
}

/// The captured events `query` asks for, as `{"next","entries"}`; `next` is the last `seq`
/// answered (`since` when there is none), to pass as `since` next time. `public_url` is the base
/// URL payloads name (`auth[client_endpoint]`), `now` the portal's time.
pub fn list_events(
    store: &Store,
    portal: PortalId,
    public_url: &str,
    security: &SecurityConfig,
    now: f64,
    query: &EventQuery,
) -> Result<Value, ApiError> {
    store.read(portal, |tx| {
        let filter = CaptureFilter {
            since: query.since,
            event: query.event.clone(),
            limit: query.limit,
        };
        let pending = match query.status {
            None | Some(EventStatus::Pending) => tx.pending_events(&filter)?,
            Some(EventStatus::Finished(_)) => Vec::new(),
        };
        let finished = match query.status {
            None => tx.finished_events(&filter, None)?,
            Some(EventStatus::Finished(how)) => tx.finished_events(&filter, Some(how))?,
            Some(EventStatus::Pending) => Vec::new(),
        };
        // Both are ordered by id and an id is in one table only: merge, keep the first `limit`.
        let mut merged: Vec<(OutboxRecord, Option<(String, String)>)> = pending
            .into_iter()
            .map(|row| (row, None))
            .chain(
                finished
                    .into_iter()
                    .map(|c| (c.row, Some((c.status, c.body)))),
            )
            .collect();
        merged.sort_by_key(|(row, _)| row.id);
        merged.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
        let next = merged.last().map_or(query.since, |(row, _)| row.id);
        let mut entries = Vec::with_capacity(merged.len());
        for (row, finished) in merged {
            entries.push(entry(tx, public_url, security, now, row, finished)?);
        }
        Ok(json!({ "next": next, "entries": entries }))
    })
}

/// One captured event as answered.
fn entry(
    tx: &mut dyn Tx,
    public_url: &str,
    security: &SecurityConfig,
    now: f64,
    row: OutboxRecord,
    finished: Option<(String, String)>,
) -> Result<Value, ApiError> {
    let attempts: Vec<Value> = tx
        .delivery_attempts(row.id)?
        .into_iter()
        .map(|d| json!({"at": d.at, "http": d.status, "outcome": d.outcome, "detail": d.detail}))
        .collect();
    let (status, body, next_attempt) = match finished {
        Some((status, body)) => (status, body, Value::Null),
        None => {
            let body = match payload_pairs(tx, public_url, security, &row, now, Secrets::Redact)? {
                Ok(pairs) => form_encode(&pairs),
                // It will be given up on its next attempt; there is nothing to send.
                Err(_) => String::new(),
            };
            // While a delivery is in flight: when its claim lapses.
            let due = Value::String(iso(row.next_attempt_at));
            ("pending".to_string(), body, due)
        }
    };
    Ok(json!({
        "seq": row.id,
        "event": row.event_name,
        "handler": row.handler,
        "handler_id": row.handler_id,
        "status": status,
        "next_attempt": next_attempt,
        "body": body,
        "attempts": attempts,
    }))
}

/// Queues the event numbered `seq` again for its handler, with the same data, due now; returns
/// the new event's number, or `None` when there is no such event.
pub fn redeliver_event(store: &Store, portal: PortalId, seq: i64) -> Result<Option<i64>, ApiError> {
    store.write(portal, |tx| {
        let Some(row) = tx.captured_event(seq)? else {
            return Ok(None);
        };
        let now = tx.now_unix();
        let id = tx.insert_outbox(&OutboxRecord {
            id: 0,
            attempts: 0,
            next_attempt_at: now,
            ..row
        })?;
        Ok(Some(id))
    })
}

/// `GET /_b24/events`: answers at once when there are entries; otherwise waits up to `wait_ms`
/// for the first one.
async fn list(
    AdminScope(state): AdminScope,
    AdminPortal(portal): AdminPortal,
    RawQuery(query): RawQuery,
) -> ControlResult {
    let (query, wait) = EventQuery::from_query(query.as_deref().unwrap_or(""))
        .map_err(ControlError::bad_request)?;
    let deadline = Instant::now() + wait;
    let control = state.control.clone();
    let _waiting = control.events_changed.waiting();
    loop {
        // Registered before looking, so a change between the look and the wait is not missed.
        let changed = control.events_changed.notify.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let page = {
            let (query, public_url, security) = (
                query.clone(),
                state.public_url.clone(),
                state.security.clone(),
            );
            let now = state.clock.now();
            blocking(&state, move |store| {
                list_events(store, portal, &public_url, &security, now, &query)
            })
            .await?
        };
        let found = page["entries"].as_array().is_some_and(|e| !e.is_empty());
        let left = deadline.saturating_duration_since(Instant::now());
        if found || left.is_zero() {
            return Ok(Json(page));
        }
        tokio::select! {
            _ = &mut changed => {}
            _ = tokio::time::sleep(left.min(POLL)) => {}
        }
    }
}

/// `POST /_b24/events/{seq}/redeliver` → 202 `{"queued":1,"seq":NEW}`.
async fn redeliver(
    State(state): State<AppState>,
    AdminPortal(portal): AdminPortal,
    Path(seq): Path<String>,
) -> ControlResult<(StatusCode, Json<Value>)> {
    let unknown = || {
        ControlError::not_found(format!(
            "There is no captured event {seq}; GET /_b24/events lists them with their seq"
        ))
    };
    let number: i64 = seq.trim().parse().map_err(|_| unknown())?;
    let queued = blocking(&state, move |store| redeliver_event(store, portal, number)).await?;
    let id = queued.ok_or_else(unknown)?;
    state.portals.mark_outbox(portal);
    state.events_wake.notify_one();
    state.control.events_changed.wake();
    Ok((StatusCode::ACCEPTED, Json(json!({"queued": 1, "seq": id}))))
}
