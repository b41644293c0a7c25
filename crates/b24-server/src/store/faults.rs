//! Storage of fault rules (`/_b24/faults`): one row per rule, its definition as JSON and its
//! counters (`hits`, `remaining`, `draws`) beside it, so that counting happens in the same
//! write transaction as matching and is exact across every server process on the database.

use super::driver::{args, Arg};
use super::sql::SqlTx;
use super::Tx;
use crate::clock::iso;
use crate::error::ApiError;

/// A stored fault rule.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFault {
    /// The rule's id (from the `faults` sequence: never reused until a reset).
    pub id: i64,
    /// The rule as JSON (`match`, `after`, `times`, `probability`, `seed`, `action`).
    pub rule: String,
    /// Calls the rule matched so far (see `control::faults`).
    pub hits: i64,
    /// Fires left; `None`: forever.
    pub remaining: Option<i64>,
    /// Numbers drawn so far from the rule's generator.
    pub draws: i64,
    /// When the rule was added, ISO-8601.
    pub created: String,
}

const COLUMNS: &str = "id, rule, hits, remaining, draws, created";

fn decode(row: &dyn super::driver::SqlRow) -> Result<StoredFault, ApiError> {
    Ok(StoredFault {
        id: row.int(0)?,
        rule: row.text(1)?,
        hits: row.int(2)?,
        remaining: row.opt_int(3)?,
        draws: row.int(4)?,
        created: row.text(5)?,
    })
}

/// The statements of the fault rules, for one portal.
pub trait FaultTx {
    /// Stores a new rule (with no hits yet) and returns it.
    fn add_fault(&mut self, rule: &str, remaining: Option<i64>) -> Result<StoredFault, ApiError>;
    /// Every rule, in evaluation (creation) order.
    fn faults(&mut self) -> Result<Vec<StoredFault>, ApiError>;
    /// The rules that can still fire (`remaining` absent or above 0), in evaluation order; with
    /// `lock` (in a write transaction) locked until it ends, so that concurrent calls count one
    /// after another.
    fn live_faults(&mut self, lock: bool) -> Result<Vec<StoredFault>, ApiError>;
    /// The rules that can still fire on every portal, with their portal, for the refresh of a
    /// running server (rules are few: a test's handful per portal).
    fn live_faults_of_every_portal(
        &mut self,
    ) -> Result<Vec<(super::PortalId, StoredFault)>, ApiError>;
    /// Stores a rule's counters.
    fn set_fault_counts(
        &mut self,
        id: i64,
        hits: i64,
        remaining: Option<i64>,
        draws: i64,
    ) -> Result<(), ApiError>;
    /// Deletes one rule; whether it existed.
    fn remove_fault(&mut self, id: i64) -> Result<bool, ApiError>;
    /// Deletes every rule; how many there were.
    fn clear_faults(&mut self) -> Result<u64, ApiError>;
}

impl FaultTx for SqlTx<'_> {
    fn add_fault(&mut self, rule: &str, remaining: Option<i64>) -> Result<StoredFault, ApiError> {
        let id = self.next_id("faults")?;
        let created = iso(self.now);
        self.exec(
            "INSERT INTO faults (portal_id, id, rule, hits, remaining, draws, created)
             VALUES (?1, ?2, ?3, 0, ?4, 0, ?5)",
            &[
                Arg::Int(self.portal),
                Arg::Int(id),
                Arg::Text(rule),
                remaining.map_or(Arg::Null, Arg::Int),
                Arg::Text(&created),
            ],
        )?;
        Ok(StoredFault {
            id,
            rule: rule.to_string(),
            hits: 0,
            remaining,
            draws: 0,
            created,
        })
    }

    fn faults(&mut self) -> Result<Vec<StoredFault>, ApiError> {
        self.all(
            &format!("SELECT {COLUMNS} FROM faults WHERE portal_id = ?1 ORDER BY id"),
            &args![self.portal],
            decode,
        )
    }

    fn live_faults_of_every_portal(
        &mut self,
    ) -> Result<Vec<(super::PortalId, StoredFault)>, ApiError> {
        self.all(
            &format!(
                "SELECT {COLUMNS}, portal_id FROM faults
                 WHERE remaining IS NULL OR remaining > 0
                 ORDER BY portal_id, id"
            ),
            &args![],
            |row| Ok((row.int(6)?, decode(row)?)),
        )
    }

    fn live_faults(&mut self, lock: bool) -> Result<Vec<StoredFault>, ApiError> {
        // SQLite's `BEGIN IMMEDIATE` already holds the one write lock.
        let lock = self.dialect.lock_row(lock);
        self.all(
            &format!(
                "SELECT {COLUMNS} FROM faults
                 WHERE portal_id = ?1 AND (remaining IS NULL OR remaining > 0)
                 ORDER BY id{lock}"
            ),
            &args![self.portal],
            decode,
        )
    }

    fn set_fault_counts(
        &mut self,
        id: i64,
        hits: i64,
        remaining: Option<i64>,
        draws: i64,
    ) -> Result<(), ApiError> {
        self.exec(
            "UPDATE faults SET hits = ?3, remaining = ?4, draws = ?5
             WHERE portal_id = ?1 AND id = ?2",
            &[
                Arg::Int(self.portal),
                Arg::Int(id),
                Arg::Int(hits),
                remaining.map_or(Arg::Null, Arg::Int),
                Arg::Int(draws),
            ],
        )?;
        Ok(())
    }

    fn remove_fault(&mut self, id: i64) -> Result<bool, ApiError> {
        Ok(self.exec(
            "DELETE FROM faults WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id],
        )? > 0)
    }

    fn clear_faults(&mut self) -> Result<u64, ApiError> {
        self.exec(
            "DELETE FROM faults WHERE portal_id = ?1",
            &args![self.portal],
        )
    }
}
