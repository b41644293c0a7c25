//! Authenticated callers kept in memory, so that a call with a credential seen before reads
//! nothing to authenticate: on PostgreSQL no round trip, on SQLite no read transaction (whose
//! reader connection, after any write, drops its cached pages and memory map and faults them in
//! again: most of a write-heavy load's kernel time, BENCHMARKS.md).
//!
//! Authentication reads the credential's row, the user, and the user's rights (`webhooks`,
//! `oauth_tokens`, `oauth_apps`, `oauth_app_users`, `users`, `user_rights`). A write transaction
//! that changes a row of those tables (found from its statements' text, see
//! [`touches_credentials`]) bumps a credentials version in the database in the same transaction
//! (PostgreSQL: row 2 of `b24_schema_version`; SQLite: the server-wide `credentials` sequence),
//! and this process's generation once it has committed: a cached caller carries the generation
//! it was read under and is used only while that is still the current one. So a change made
//! through this process is seen by its next call, and one made through another process (another
//! server, or the CLI) once this process has read the version again, which it does at most
//! [`RECHECK`] after it last did, on the next call.
//!
//! What is checked on every call still is: HTTPS, the portal's REST switch, and a token's expiry.

use crate::auth::Caller;
use crate::store::PortalId;
use foldhash::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long this process trusts the credentials version it last read.
pub const RECHECK: Duration = Duration::from_secs(1);

/// Past this many entries the cache starts over.
const MAX_CALLERS: usize = 10_000;

/// The tables authentication reads: a write to any of them may change who a credential is.
const CREDENTIAL_TABLES: &[&str] = &[
    "webhooks",
    "oauth_tokens",
    "oauth_apps",
    "oauth_app_users",
    "users",
    "user_rights",
    "portals",
];

/// The statement that bumps the shared credentials version (in the writing transaction).
pub const BUMP: &str = "UPDATE b24_schema_version SET version = version + 1 WHERE id = 2";

/// The statement that reads it.
pub const READ: &str = "SELECT version FROM b24_schema_version WHERE id = 2";

/// SQLite's [`BUMP`]: the server-wide (portal 0) `credentials` sequence, made on first use.
pub const SQLITE_BUMP: &str =
    "INSERT INTO sequences (portal_id, name, value) VALUES (0, 'credentials', 1)
     ON CONFLICT (portal_id, name) DO UPDATE SET value = sequences.value + 1";

/// SQLite's [`READ`] (no row yet: no credential written since the database was made).
pub const SQLITE_READ: &str =
    "SELECT value FROM sequences WHERE portal_id = 0 AND name = 'credentials'";

/// Creates the version row (run by the migration step, idempotent).
pub const CREATE: &str =
    "INSERT INTO b24_schema_version (id, version) VALUES (2, 0) ON CONFLICT (id) DO NOTHING";

/// Whether a statement may change a table authentication reads: anything but a plain `SELECT`
/// that names one of them as a whole word. Erring towards yes costs only a re-read.
pub fn touches_credentials(sql: &str) -> bool {
    static NAMES: std::sync::LazyLock<TableNames> =
        std::sync::LazyLock::new(|| TableNames::new(CREDENTIAL_TABLES));
    may_change(sql, &NAMES)
}

/// Whether a statement may change one of `tables`: anything but a plain `SELECT` that names one
/// of them as a whole word.
pub fn may_change(sql: &str, tables: &TableNames) -> bool {
    let head = sql.trim_start();
    if head.len() >= 6 && head.is_char_boundary(6) && head[..6].eq_ignore_ascii_case("SELECT") {
        return false;
    }
    tables.named_in(sql)
}

/// Table names looked for as whole words in statements, with one prebuilt (SIMD) substring
/// searcher per name: the checks run for every statement of a write transaction, where a plain
/// search per name cost more than some of the statements themselves.
pub struct TableNames(Vec<memchr::memmem::Finder<'static>>);

impl TableNames {
    /// Searchers for `names`.
    pub fn new(names: &[&'static str]) -> Self {
        Self(
            names
                .iter()
                .map(|name| memchr::memmem::Finder::new(name.as_bytes()))
                .collect(),
        )
    }

    /// Whether `sql` names one of the tables as a whole word.
    pub fn named_in(&self, sql: &str) -> bool {
        let bytes = sql.as_bytes();
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        self.0.iter().any(|finder| {
            finder.find_iter(bytes).any(|at| {
                let before = at.checked_sub(1).map(|i| bytes[i]);
                let after = bytes.get(at + finder.needle().len()).copied();
                !before.is_some_and(word) && !after.is_some_and(word)
            })
        })
    }
}

/// A cached caller (shared with the cache: a hit copies no scopes, names or rights) and, for a
/// token, when it expires.
pub type CachedCaller = (Arc<Caller>, Option<f64>);

/// What a cached caller is found by: the portal, the digest of the presented secret, and for a
/// webhook the user id in its path (a token: `None`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallerKey {
    /// The portal the credential was presented to.
    pub portal: PortalId,
    /// SHA-256 of the webhook code or the access token.
    pub digest: [u8; 32],
    /// The webhook's user id.
    pub user: Option<i64>,
}

/// A cached caller: who, read under which generation, and (tokens) until when it is valid.
struct Entry {
    generation: u64,
    caller: Arc<Caller>,
    expires: Option<f64>,
}

/// This process's generation of a cache kept under a version that every process raises in the
/// transaction that changes what the cache holds: raised here once such a change has committed
/// ([`SharedVersion::bump`]), and when the shared version is seen to have moved (read at most
/// every [`RECHECK`]). Entries are filed under the generation they were read at. One each for the
/// callers and for the catalogue (`store/catalogue.rs`).
pub struct SharedVersion {
    generation: AtomicU64,
    /// When the shared version was last read, and what it was.
    checked: Mutex<(Instant, Option<i64>)>,
}

impl Default for SharedVersion {
    fn default() -> Self {
        Self {
            generation: AtomicU64::new(0),
            checked: Mutex::new((Instant::now() - RECHECK, None)),
        }
    }
}

impl SharedVersion {
    /// The current generation, reading the shared version first when it is due (`read` runs the
    /// query; one thread does at a time, the others go on with the generation they have). A
    /// failed read leaves the version unknown: every entry is dropped.
    pub fn generation(&self, read: impl FnOnce() -> Option<i64>) -> u64 {
        if let Ok(mut checked) = self.checked.try_lock() {
            if checked.0.elapsed() >= RECHECK {
                let version = read();
                if version.is_none() || version != checked.1 {
                    self.bump();
                }
                *checked = (Instant::now(), version);
            }
        }
        self.generation.load(Ordering::Acquire)
    }

    /// The current generation when the shared version need not be read now (read less than
    /// [`RECHECK`] ago, or being read by another thread): for callers that must not wait on the
    /// database. `None`: it is due.
    pub fn generation_in_memory(&self) -> Option<u64> {
        let due = self
            .checked
            .try_lock()
            .is_ok_and(|checked| checked.0.elapsed() >= RECHECK);
        (!due).then(|| self.generation.load(Ordering::Acquire))
    }

    /// Drops every entry (this process changed what they were read from).
    pub fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// See the module docs.
#[derive(Default)]
pub struct CallerCache {
    version: SharedVersion,
    callers: Mutex<HashMap<CallerKey, Entry>>,
}

impl CallerCache {
    /// See [`SharedVersion::generation`].
    pub fn generation(&self, read: impl FnOnce() -> Option<i64>) -> u64 {
        self.version.generation(read)
    }

    /// See [`SharedVersion::generation_in_memory`].
    pub fn generation_in_memory(&self) -> Option<u64> {
        self.version.generation_in_memory()
    }

    /// Drops every cached caller (a credential table changed).
    pub fn bump(&self) {
        self.version.bump();
    }

    /// The caller cached for `key` under `generation`, and a token's expiry.
    pub fn get(&self, key: &CallerKey, generation: u64) -> Option<CachedCaller> {
        let callers = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        let entry = callers.get(key)?;
        (entry.generation == generation).then(|| (entry.caller.clone(), entry.expires))
    }

    /// Keeps `caller`, read under `generation` (taken before the read).
    pub fn put(&self, key: CallerKey, generation: u64, caller: Arc<Caller>, expires: Option<f64>) {
        let mut callers = self.callers.lock().unwrap_or_else(|e| e.into_inner());
        if callers.len() >= MAX_CALLERS {
            callers.clear();
        }
        callers.insert(
            key,
            Entry {
                generation,
                caller,
                expires,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::touches_credentials;

    #[test]
    fn writes_to_the_tables_authentication_reads_are_recognised() {
        assert!(touches_credentials(
            "UPDATE webhooks SET active = ?3 WHERE portal_id = ?1 AND id = ?2"
        ));
        assert!(touches_credentials(
            "DELETE FROM users WHERE portal_id = ?1"
        ));
        assert!(touches_credentials(
            "INSERT INTO user_rights (portal_id) VALUES (?1)"
        ));
        assert!(touches_credentials(
            "UPDATE users SET last_activity = ?3 WHERE id = ?2"
        ));
        assert!(!touches_credentials(
            "SELECT id FROM users WHERE portal_id = ?1"
        ));
        assert!(!touches_credentials(
            "INSERT INTO activity_bindings (portal_id) VALUES (?1)"
        ));
        assert!(!touches_credentials("UPDATE user_fields_users SET x = 1"));
    }
}
