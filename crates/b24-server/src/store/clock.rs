//! Storage of the portal clock's changes (`/_b24/clock`, `b24-server clock`): the setting itself
//! is read and written through [`super::control::ControlTx`]; a change reads it with the portal
//! row locked, so that two changes made at once (two processes, or the CLI beside a server)
//! apply one after the other instead of one overwriting the other.

use super::control::ControlTx;
use super::driver::args;
use super::sql::SqlTx;
use crate::error::ApiError;

/// The clock setting, read for a change.
pub trait ClockTx {
    /// The portal clock's setting (offset in seconds, frozen instant), with the portal row
    /// locked until the transaction ends.
    fn clock_setting_for_update(&mut self) -> Result<(f64, Option<f64>), ApiError>;
    /// Brings the outbox's due times `seconds` earlier, for a clock set back by that much, so
    /// that a retry due a minute from the portal's time is still due a minute from it. Rows due
    /// already stay as they are.
    fn shift_outbox_back(&mut self, seconds: f64, now: f64) -> Result<u64, ApiError>;
}

impl ClockTx for SqlTx<'_> {
    fn clock_setting_for_update(&mut self) -> Result<(f64, Option<f64>), ApiError> {
        // A write to the row takes its lock on PostgreSQL (SQLite's write transactions are
        // serial already), and works on both, where `SELECT … FOR UPDATE` would not.
        self.exec(
            "UPDATE portals SET clock_offset = clock_offset WHERE id = ?1",
            &args![self.portal],
        )?;
        self.clock_setting()
    }

    fn shift_outbox_back(&mut self, seconds: f64, now: f64) -> Result<u64, ApiError> {
        self.exec(
            "UPDATE event_outbox SET next_attempt_at = next_attempt_at - ?2
             WHERE portal_id = ?1 AND next_attempt_at > ?3",
            &args![self.portal, seconds, now],
        )
    }
}
