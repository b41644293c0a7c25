//! Storage of captured events (`/_b24/events`, `b24-server events list`): an event is the outbox
//! row while it waits ([`OutboxRecord`]), then a row of `event_captures` under the same id once
//! it was delivered or given up, with the body last sent (secrets redacted). Its attempts are
//! the delivery log's entries for that id.

use super::driver::{args, Arg, SqlRow};
use super::sql::SqlTx;
use super::{DeliveryRecord, OutboxRecord};
use crate::error::ApiError;

/// How many of the latest queued events keep their capture once finished (each holds its data
/// and body, so fewer than the delivery log's one-line attempts).
pub const CAPTURES_KEEP: i64 = 10_000;

/// What became of a finished event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The handler answered 2xx.
    Delivered,
    /// The sender gave up (attempts exhausted, or the event cannot be delivered at all).
    Failed,
}

impl Finished {
    /// The name stored and shown (`delivered`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Finished::Delivered => "delivered",
            Finished::Failed => "failed",
        }
    }
}

/// A finished event: its outbox row as it last was, how it ended, and the body last sent.
#[derive(Debug, Clone)]
pub struct CaptureRecord {
    /// The outbox row (its id is the event's number).
    pub row: OutboxRecord,
    /// `delivered` or `failed`.
    pub status: String,
    /// The form body last POSTed with its secrets redacted; empty when none could be built.
    pub body: String,
}

/// Which events a listing wants.
#[derive(Debug, Clone, Default)]
pub struct CaptureFilter {
    /// Only ids above this one.
    pub since: i64,
    /// Only this event (upper-case).
    pub event: Option<String>,
    /// At most this many.
    pub limit: u64,
}

/// The captured-event statements.
pub trait CaptureTx {
    /// Keeps a finished event under its outbox id (call in the transaction that removes the
    /// outbox row); the oldest fall out once [`CAPTURES_KEEP`] newer ones were queued.
    fn insert_capture(
        &mut self,
        row: &OutboxRecord,
        status: Finished,
        body: &str,
    ) -> Result<(), ApiError>;
    /// Waiting events after `filter.since`, by id.
    fn pending_events(&mut self, filter: &CaptureFilter) -> Result<Vec<OutboxRecord>, ApiError>;
    /// Finished events after `filter.since`, by id; only those that ended as `status`, if given.
    fn finished_events(
        &mut self,
        filter: &CaptureFilter,
        status: Option<Finished>,
    ) -> Result<Vec<CaptureRecord>, ApiError>;
    /// The delivery log's attempts for one event, oldest first.
    fn delivery_attempts(&mut self, outbox_id: i64) -> Result<Vec<DeliveryRecord>, ApiError>;
    /// The event with this id, waiting or finished.
    fn captured_event(&mut self, id: i64) -> Result<Option<OutboxRecord>, ApiError>;
}

const OUTBOX: &str = "id, handler_id, app_id, event_name, handler, auth_user_id, data, ts, \
                      attempts, next_attempt_at";
const CAPTURES: &str = "id, handler_id, app_id, event_name, handler, auth_user_id, data, ts, \
                        attempts, finished, status, body";
const DELIVERIES: &str =
    "id, outbox_id, handler_id, event_name, handler, attempt, at, status, outcome, detail";

/// An outbox or capture row's first ten columns ([`OUTBOX`] / [`CAPTURES`]).
fn row_of(r: &dyn SqlRow) -> Result<OutboxRecord, ApiError> {
    Ok(OutboxRecord {
        id: r.int(0)?,
        handler_id: r.int(1)?,
        app_id: r.int(2)?,
        event_name: r.text(3)?,
        handler: r.text(4)?,
        auth_user_id: r.int(5)?,
        data: serde_json::from_str(&r.text(6)?).unwrap_or(serde_json::Value::Null),
        ts: r.int(7)?,
        attempts: r.int(8)?,
        next_attempt_at: r.real(9)?,
    })
}

fn capture_of(r: &dyn SqlRow) -> Result<CaptureRecord, ApiError> {
    Ok(CaptureRecord {
        row: row_of(r)?,
        status: r.text(10)?,
        body: r.text(11)?,
    })
}

fn delivery_of(r: &dyn SqlRow) -> Result<DeliveryRecord, ApiError> {
    Ok(DeliveryRecord {
        id: r.int(0)?,
        outbox_id: r.int(1)?,
        handler_id: r.int(2)?,
        event_name: r.text(3)?,
        handler: r.text(4)?,
        attempt: r.int(5)?,
        at: r.text(6)?,
        status: r.int(7)?,
        outcome: r.text(8)?,
        detail: r.text(9)?,
    })
}

/// `limit` as a bind value.
fn limit_arg(limit: u64) -> i64 {
    limit.min(i64::MAX as u64) as i64
}

impl CaptureTx for SqlTx<'_> {
    fn insert_capture(
        &mut self,
        row: &OutboxRecord,
        status: Finished,
        body: &str,
    ) -> Result<(), ApiError> {
        let data = row.data.to_string();
        self.exec(
            &format!(
                "INSERT INTO event_captures (portal_id, {CAPTURES})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT (portal_id, id) DO UPDATE SET attempts = excluded.attempts,
                   finished = excluded.finished, status = excluded.status, body = excluded.body"
            ),
            &args![
                self.portal,
                row.id,
                row.handler_id,
                row.app_id,
                &row.event_name,
                &row.handler,
                row.auth_user_id,
                &data,
                row.ts,
                row.attempts,
                self.now,
                status.as_str(),
                body,
            ],
        )?;
        // Outbox ids count every event queued: a primary-key range holds the few that just fell
        // out of the window.
        self.exec(
            "DELETE FROM event_captures WHERE portal_id = ?1 AND id <= ?2",
            &args![self.portal, row.id - CAPTURES_KEEP],
        )?;
        Ok(())
    }

    fn pending_events(&mut self, filter: &CaptureFilter) -> Result<Vec<OutboxRecord>, ApiError> {
        let limit = limit_arg(filter.limit);
        match &filter.event {
            Some(event) => self.all(
                &format!(
                    "SELECT {OUTBOX} FROM event_outbox
                     WHERE portal_id = ?1 AND id > ?2 AND event_name = ?3 ORDER BY id LIMIT ?4"
                ),
                &args![self.portal, filter.since, event.as_str(), limit],
                row_of,
            ),
            None => self.all(
                &format!(
                    "SELECT {OUTBOX} FROM event_outbox
                     WHERE portal_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
                ),
                &args![self.portal, filter.since, limit],
                row_of,
            ),
        }
    }

    fn finished_events(
        &mut self,
        filter: &CaptureFilter,
        status: Option<Finished>,
    ) -> Result<Vec<CaptureRecord>, ApiError> {
        let mut sql =
            format!("SELECT {CAPTURES} FROM event_captures WHERE portal_id = ?1 AND id > ?2");
        let mut bound: Vec<Arg<'_>> = vec![Arg::Int(self.portal), Arg::Int(filter.since)];
        if let Some(event) = &filter.event {
            bound.push(Arg::Text(event));
            sql.push_str(&format!(" AND event_name = ?{}", bound.len()));
        }
        if let Some(status) = status {
            bound.push(Arg::Text(status.as_str()));
            sql.push_str(&format!(" AND status = ?{}", bound.len()));
        }
        bound.push(Arg::Int(limit_arg(filter.limit)));
        sql.push_str(&format!(" ORDER BY id LIMIT ?{}", bound.len()));
        self.all(&sql, &bound, capture_of)
    }

    fn delivery_attempts(&mut self, outbox_id: i64) -> Result<Vec<DeliveryRecord>, ApiError> {
        self.all(
            &format!(
                "SELECT {DELIVERIES} FROM event_deliveries
                 WHERE portal_id = ?1 AND outbox_id = ?2 ORDER BY id"
            ),
            &args![self.portal, outbox_id],
            delivery_of,
        )
    }

    fn captured_event(&mut self, id: i64) -> Result<Option<OutboxRecord>, ApiError> {
        let waiting = self.opt(
            &format!("SELECT {OUTBOX} FROM event_outbox WHERE portal_id = ?1 AND id = ?2"),
            &args![self.portal, id],
            row_of,
        )?;
        if waiting.is_some() {
            return Ok(waiting);
        }
        self.opt(
            &format!("SELECT {CAPTURES} FROM event_captures WHERE portal_id = ?1 AND id = ?2"),
            &args![self.portal, id],
            row_of,
        )
    }
}
