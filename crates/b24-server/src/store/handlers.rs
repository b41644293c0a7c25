//! Event handlers kept in memory on PostgreSQL, so that recording a change (every write of an
//! activity or an item, see `domain/changes.rs`) does not cost a round trip to find who listens.
//!
//! Every write transaction that changes a row of `event_handlers` (found from its statements'
//! text, as for credentials, see [`touches_handlers`]) bumps a handlers version in the same
//! transaction: row 3 of `b24_schema_version`. Every write transaction reads that version with
//! its first statement (in the same round trip as `BEGIN` and that statement, so it costs no
//! round trip of its own), and uses the handlers this process read for an event under that same
//! version. So a handler bound or unbound through any process, once its call has answered, is
//! seen by every write transaction that starts afterwards, in any process: exactly as when the
//! handlers were read each time. (A transaction that started before such a change committed is
//! concurrent with it; reading the handlers when it starts is one of the orders it may have.)
//!
//! A transaction that changed handlers itself reads them from the database, and caches nothing.
//! SQLite reads them each time: there a read is no round trip.

use super::callers::{may_change, TableNames};
use super::{EventHandlerRecord, PortalId};
use std::collections::HashMap;
use std::sync::Mutex;

/// Creates the version row (run by the migration step, idempotent). Rows of
/// `b24_schema_version`: 1 the schema, 2 credentials (`callers`), 3 the catalogue
/// (`catalogue`), 4 event handlers (here).
pub const CREATE: &str =
    "INSERT INTO b24_schema_version (id, version) VALUES (4, 0) ON CONFLICT (id) DO NOTHING";

/// Reads the version (with every write transaction's first statement).
pub const READ: &str = "SELECT version FROM b24_schema_version WHERE id = 4";

/// Bumps it, in the transaction that changed a handler.
pub const BUMP: &str = "UPDATE b24_schema_version SET version = version + 1 WHERE id = 4";

/// Past this many (portal, event) entries the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// Whether a statement may change `event_handlers` (anything but a plain `SELECT` naming it).
pub fn touches_handlers(sql: &str) -> bool {
    static NAMES: std::sync::LazyLock<TableNames> =
        std::sync::LazyLock::new(|| TableNames::new(&["event_handlers"]));
    may_change(sql, &NAMES)
}

/// The handlers of one event of one portal, and the version they were read under.
type Entry = (i64, Vec<EventHandlerRecord>);

/// The handlers of each (portal, event) as last read, with the version they were read under.
#[derive(Default)]
pub struct HandlerCache {
    entries: Mutex<HashMap<(PortalId, String), Entry>>,
}

impl HandlerCache {
    /// The handlers of `event` read under `version`, if that is what this process has.
    pub fn get(
        &self,
        portal: PortalId,
        event: &str,
        version: i64,
    ) -> Option<Vec<EventHandlerRecord>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (read_under, handlers) = entries.get(&(portal, event.to_owned()))?;
        (*read_under == version).then(|| handlers.clone())
    }

    /// Keeps the handlers of `event`, read from the database under `version`.
    pub fn put(
        &self,
        portal: PortalId,
        event: &str,
        version: i64,
        handlers: &[EventHandlerRecord],
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert((portal, event.to_owned()), (version, handlers.to_vec()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(id: i64) -> EventHandlerRecord {
        EventHandlerRecord {
            id,
            app_id: 0,
            event_name: "ONCRMACTIVITYUPDATE".into(),
            handler: "https://example.test/hook".into(),
            user_id: 1,
            connector_id: String::new(),
        }
    }

    #[test]
    fn handlers_are_served_only_under_the_version_they_were_read_under() {
        let cache = HandlerCache::default();
        cache.put(1, "ONCRMACTIVITYUPDATE", 7, &[handler(3)]);
        assert_eq!(
            cache.get(1, "ONCRMACTIVITYUPDATE", 7),
            Some(vec![handler(3)])
        );
        assert_eq!(cache.get(1, "ONCRMACTIVITYUPDATE", 8), None);
        assert_eq!(cache.get(2, "ONCRMACTIVITYUPDATE", 7), None);
        assert_eq!(cache.get(1, "ONCRMACTIVITYADD", 7), None);
    }

    #[test]
    fn statements_that_may_change_handlers_are_told_from_reads() {
        assert!(touches_handlers(
            "DELETE FROM event_handlers WHERE portal_id = ?1 AND id = ?2"
        ));
        assert!(touches_handlers(
            "INSERT INTO event_handlers (portal_id) VALUES (?1)"
        ));
        assert!(!touches_handlers(
            "SELECT id FROM event_handlers WHERE portal_id = ?1"
        ));
        assert!(!touches_handlers(
            "DELETE FROM event_outbox WHERE portal_id = ?1"
        ));
    }
}
