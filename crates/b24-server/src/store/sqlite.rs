//! The embedded SQLite backend: one file in the data directory, WAL mode.
//!
//! Writes go through one connection behind a `std::sync::Mutex` (held only inside a blocking
//! task, never across an `.await`): SQLite admits one writer at a time anyway, and queueing on a
//! mutex is far cheaper than SQLite's sleeping busy handler. Each write still opens
//! `BEGIN IMMEDIATE`, so CLI processes writing to the same file at the same time are serialised by
//! SQLite itself. Reads use a small pool of connections and never wait for the writer.
//!
//! WAL checkpoints (copying committed pages back into the database file, with an fsync) run on a
//! background thread, not in whichever request's commit happens to cross SQLite's threshold: done
//! inline they cost that one caller milliseconds.
//!
//! A `batch` may run all its commands in one write transaction, a savepoint per transaction a
//! command opens ([`SqliteStore::batch_scope`], in `sqlite/shared.rs`): one commit instead of one
//! per command.

use super::callers::{self, CallerCache, CallerKey};
use super::driver::{sql_row_getters, Arg, Conn, Dialect, EachRow, SqlRow};
use super::schema::{MIGRATIONS, SQLITE_WITHOUT_ROWID};
use super::sql::SqlTx;
use super::*;
use crate::clock::Clock;
use crate::error::ApiError;
use anyhow::Context as _;
use r2d2_sqlite::rusqlite::types::{ToSqlOutput, ValueRef};
use r2d2_sqlite::rusqlite::{self, Connection, OptionalExtension, Row, TransactionBehavior};
use r2d2_sqlite::SqliteConnectionManager;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

mod shared;

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "b24.sqlite3";

/// How long a writer waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the background thread checkpoints the WAL.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(200);

/// WAL pages after which a commit checkpoints inline anyway: a safety net for when the background
/// thread cannot keep up (about 40 MB with 4 KiB pages).
const INLINE_CHECKPOINT_PAGES: u32 = 10_000;

/// See the module docs.
pub struct SqliteStore {
    /// The one write connection. Empty while a `batch` holds it for its shared transaction
    /// (see [`SqliteStore::batch_scope`]); [`SqliteStore::lock_writer`] waits for it then.
    writer: Mutex<Option<Connection>>,
    /// Signalled when a batch puts the write connection back.
    writer_back: Condvar,
    /// Tells this store's shared batch transaction apart from another store's on the same
    /// thread (tests run many servers in one process).
    id: u64,
    readers: r2d2::Pool<SqliteConnectionManager>,
    clock: Arc<dyn Clock>,
    path: PathBuf,
    /// Dropping this stops the checkpoint thread.
    _stop_checkpoints: std::sync::mpsc::Sender<()>,
    /// Set when the background integrity check found the database damaged (see
    /// [`CHECK_AT_OPEN_BYTES`]); every call is refused from then on.
    damaged: Arc<std::sync::OnceLock<String>>,
    /// Callers authenticated before (see [`callers`]).
    callers: CallerCache,
    /// Smart-process types and user fields read before (see [`super::catalogue`]).
    catalogue: Arc<super::catalogue::CatalogueCache>,
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Every statement of `sql.rs` stays prepared (rusqlite keeps 16 by default).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // WAL: readers never block the writer. NORMAL: a commit is durable against a process crash
    // (the WAL is in the OS cache); only an OS crash can lose the last commits, never integrity.
    // mmap: reads of the database file are memory accesses into the OS page cache, shared by
    // every connection, instead of a pread() and a copy into each connection's own 2 MB cache;
    // without it, random reads in a large database cost a system call each.
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF; \
         PRAGMA mmap_size={MMAP_BYTES};"
    ))
}

/// Prepared statements kept per connection: every fixed statement plus the recent list shapes.
const STATEMENT_CACHE: usize = 256;

/// How much of the database file is memory-mapped (the rest is read with pread).
const MMAP_BYTES: u64 = 1 << 30;

impl SqliteStore {
    /// Opens the database in `data_dir`, creating the directory and file and running migrations.
    pub fn open_with_clock(data_dir: &Path, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        create_private_dir(data_dir)?;
        let path = data_dir.join(DB_FILE);
        make_private_files(&path)?;
        let mut writer = Connection::open(&path)
            .with_context(|| format!("could not open the database {}", path.display()))?;
        check_database(&writer, &path)?;
        let damaged = Arc::new(std::sync::OnceLock::new());
        if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) > CHECK_AT_OPEN_BYTES {
            check_in_background(&path, damaged.clone());
        }
        configure(&writer).context("could not configure the database")?;
        writer
            .pragma_update(None, "wal_autocheckpoint", INLINE_CHECKPOINT_PAGES)
            .context("could not configure the database")?;
        // The writer reads through its own page cache, not the memory map. In WAL mode a mapped
        // page fetch first searches the WAL index for a newer copy of the page, on every fetch,
        // cached or not; and a page written thousands of times since the WAL last restarted
        // makes that search long (`walFindFrame` was a sixth of a binding write's instructions).
        // The writer's cache stays valid across its own commits, so it rarely needs the WAL.
        writer
            .pragma_update(None, "mmap_size", 0)
            .context("could not configure the database")?;
        migrate(&mut writer).context("could not migrate the database schema")?;
        let _stop_checkpoints = start_checkpoints(&path)?;
        let manager = SqliteConnectionManager::file(&path).with_init(|c| configure(c));
        let readers = r2d2::Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            .build(manager)
            .context("could not open the reader connections")?;
        Ok(Self {
            writer: Mutex::new(Some(writer)),
            writer_back: Condvar::new(),
            id: shared::next_store_id(),
            readers,
            clock,
            path,
            _stop_checkpoints,
            damaged,
            callers: CallerCache::default(),
            catalogue: Arc::default(),
        })
    }

    /// Opens with the system clock.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        Self::open_with_clock(data_dir, Arc::new(crate::clock::SystemClock))
    }

    /// Smart-process types and user fields read before (see [`super::catalogue`]).
    pub fn catalogue_cache(&self) -> &Arc<super::catalogue::CatalogueCache> {
        &self.catalogue
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one transaction: a write (`BEGIN IMMEDIATE` on the writer connection,
    /// committed when `f` returns `Ok`) or a read on a reader connection (rolled back on drop).
    pub(super) fn transaction<R>(
        &self,
        portal: PortalId,
        writing: bool,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        if let Some(damage) = self.damaged.get() {
            return Err(ApiError::internal(anyhow::anyhow!("{damage}")));
        }
        let now = self.clock.now_in(portal);
        match self.route(writing) {
            shared::Route::Own => {}
            shared::Route::Shared(lent) => return self.in_shared(lent, portal, now, writing, f),
            shared::Route::Refuse(e) => return Err(e),
        }
        if !writing {
            let mut conn = self.readers.get().map_err(|e| {
                ApiError::internal(anyhow::anyhow!(e).context("no reader connection"))
            })?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            return f(&mut SqlTx::new(
                &mut SqliteConn::new(&tx, false),
                portal,
                now,
                false,
            ));
        }
        let mut guard = self.lock_writer();
        let Some(conn) = guard.as_mut() else {
            return Err(ApiError::internal(anyhow::anyhow!(
                "the write connection is missing"
            )));
        };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut on_tx = SqliteConn::new(&tx, true);
        let out = f(&mut SqlTx::new(&mut on_tx, portal, now, true))?;
        let credentials_changed = on_tx.credentials_changed;
        if credentials_changed {
            tx.prepare_cached(callers::SQLITE_BUMP)?.execute([])?;
        }
        tx.commit()?;
        if credentials_changed {
            self.callers.bump();
        }
        Ok(out)
    }

    /// Locks the write connection, waiting while a batch on another thread holds it (then the
    /// slot is empty); the slot is full when this returns.
    fn lock_writer(&self) -> MutexGuard<'_, Option<Connection>> {
        let mut guard = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while guard.is_none() {
            guard = self
                .writer_back
                .wait(guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        guard
    }

    /// The caller cached for a credential, with a token's expiry, if it is still current; and
    /// the generation to [`SqliteStore::remember_caller`] a caller read now under.
    pub fn cached_caller(&self, key: &CallerKey) -> (Option<callers::CachedCaller>, u64) {
        let generation = self.callers.generation(|| self.credentials_version().ok());
        // A damaged database answers no call, not even one that needs nothing else from it:
        // the miss sends authentication to the store, which refuses.
        if self.damaged.get().is_some() {
            return (None, generation);
        }
        (self.callers.get(key, generation), generation)
    }

    /// The caller cached for a credential, when that needs no read of the database.
    pub fn cached_caller_in_memory(&self, key: &CallerKey) -> Option<callers::CachedCaller> {
        if self.damaged.get().is_some() {
            return None;
        }
        let generation = self.callers.generation_in_memory()?;
        self.callers.get(key, generation)
    }

    /// Keeps a caller authenticated from the database, read under `generation`.
    pub fn remember_caller(
        &self,
        key: CallerKey,
        generation: u64,
        caller: std::sync::Arc<crate::auth::Caller>,
        expires: Option<f64>,
    ) {
        self.callers.put(key, generation, caller, expires);
    }

    /// The credentials version other processes (the CLI, another server on this file) raise.
    fn credentials_version(&self) -> anyhow::Result<i64> {
        let conn = self.readers.get()?;
        let version = conn
            .prepare_cached(callers::SQLITE_READ)?
            .query_row([], |r| r.get::<_, i64>(0))
            .optional()?;
        Ok(version.unwrap_or(0))
    }
}

/// Starts the thread that checkpoints the WAL every [`CHECKPOINT_INTERVAL`] on a connection of
/// its own. PASSIVE mode never blocks readers or the writer; it copies what it can and the rest
/// waits for the next round. The thread ends when the returned sender is dropped.
fn start_checkpoints(path: &Path) -> anyhow::Result<std::sync::mpsc::Sender<()>> {
    let conn = Connection::open(path)
        .with_context(|| format!("could not open the database {}", path.display()))?;
    configure(&conn).context("could not configure the database")?;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(CHECKPOINT_INTERVAL)
            {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                }
            }
        })
        .context("could not start the checkpoint thread")?;
    Ok(stop)
}

impl ExplainPages for SqliteStore {
    const DIALECT: Dialect = Dialect::Sqlite;

    fn explain(&self, sql: &str, args: &[Arg<'_>]) -> anyhow::Result<Vec<String>> {
        let conn = self.readers.get()?;
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Marks the file as b24-server's (`PRAGMA application_id`), so another program's SQLite file
/// is never mistaken for ours: "B24S".
const APPLICATION_ID: i32 = 0x4232_3453;

/// Creates the database file readable by its owner only (SQLite gives its WAL and shared-memory
/// files the same mode), and tightens the files of a data directory made before.
fn make_private_files(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                for suffix in ["", "-wal", "-shm"] {
                    let file = PathBuf::from(format!("{}{suffix}", path.display()));
                    if file.exists() {
                        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                            .with_context(|| format!("could not restrict {}", file.display()))?;
                    }
                }
            }
            Err(e) => {
                return Err(e).with_context(|| format!("could not create {}", path.display()))
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Refuses, with what to do instead, a file that is not a SQLite database, another program's
/// database, a schema newer than this binary knows, and a damaged database (`quick_check`).
fn check_database(conn: &Connection, path: &Path) -> anyhow::Result<()> {
    let shown = path.display();
    let header = |e: rusqlite::Error| {
        anyhow::anyhow!(
            "{shown} is not a SQLite database ({e}). Move it away, or start with another --data-dir."
        )
    };
    let application_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(header)?;
    // Damage may hit the schema pages themselves, before `quick_check` could say so.
    let read = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => damaged(path, &e.to_string()),
        _ => anyhow::Error::from(e),
    };
    let version: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(read)?;
    let (tables, ours): (i64, bool) = conn
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(name = 'portals'), 0) > 0 FROM sqlite_master WHERE type = 'table'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(read)?;
    let foreign = match application_id {
        APPLICATION_ID => false,
        0 => (version == 0 && tables > 0) || (version > 0 && !ours),
        _ => true,
    };
    if foreign {
        anyhow::bail!(
            "{shown} is a SQLite database of another program, not b24-server's. Start with an \
             empty --data-dir (or move the file away); b24-server never changes a database it \
             did not create."
        );
    }
    if version > MIGRATIONS.len() {
        anyhow::bail!(
            "{shown} has schema version {version}, newer than this b24-server knows ({}): it was \
             written by a newer release. Run that release (or newer), or start with another \
             --data-dir; this one will not change it.",
            MIGRATIONS.len()
        );
    }
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size <= CHECK_AT_OPEN_BYTES {
        integrity(conn, path)?;
    }
    Ok(())
}

/// Databases up to this size are checked (`PRAGMA quick_check`, which reads every page) before
/// the store opens: at most about 50 ms (measured: 0.3-0.45 s for a 29 MB database of 100,000
/// activities on the 2-core machine). Larger ones are checked in the background, so
/// that start-up stays fast whatever the size.
const CHECK_AT_OPEN_BYTES: u64 = 8 << 20;

/// `PRAGMA quick_check`, and what to do when it fails.
fn integrity(conn: &Connection, path: &Path) -> anyhow::Result<()> {
    // Damage can also stop the check itself ("database disk image is malformed").
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap_or_else(|e| e.to_string());
    if check != "ok" {
        return Err(damaged(path, &check));
    }
    Ok(())
}

/// A damaged database, and what to do about it.
fn damaged(path: &Path, check: &str) -> anyhow::Error {
    let shown = path.display();
    anyhow::anyhow!(
        "{shown} is damaged (PRAGMA quick_check: {check}). Stop every b24-server using it, \
         then restore it from a backup, or recover what is readable with \
         `sqlite3 {shown} .recover | sqlite3 recovered.sqlite3` and move recovered.sqlite3 \
         into place as {DB_FILE}."
    )
}

/// Checks a large database on a thread of its own; a damaged one is recorded in `damaged`, and
/// from then on every call is refused (logged with what to do) instead of reading damaged pages.
fn check_in_background(path: &Path, damaged: Arc<std::sync::OnceLock<String>>) {
    let path = path.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("sqlite-check".into())
        .spawn(move || {
            let checked = Connection::open(&path)
                .map_err(anyhow::Error::from)
                .and_then(|conn| integrity(&conn, &path));
            if let Err(e) = checked {
                tracing::error!("{e:#}");
                let _ = damaged.set(format!("{e:#}"));
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the integrity check");
    }
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    let version: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(&sql.replace(SQLITE_WITHOUT_ROWID, "WITHOUT ROWID"))?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    tx.commit()
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(anyhow::Error::new(e).context("database error"))
    }
}

/// A connection inside an open SQLite transaction, for [`SqlTx`].
struct SqliteConn<'a> {
    conn: &'a Connection,
    writing: bool,
    /// Whether a statement changed a row authentication reads (see [`callers`]).
    credentials_changed: bool,
}

impl<'a> SqliteConn<'a> {
    fn new(conn: &'a Connection, writing: bool) -> Self {
        Self {
            conn,
            writing,
            credentials_changed: false,
        }
    }
}

impl Conn for SqliteConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, ApiError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let changed = stmt.execute(rusqlite::params_from_iter(args))? as u64;
        if self.writing && changed > 0 && !self.credentials_changed {
            self.credentials_changed = callers::touches_credentials(sql);
        }
        Ok(changed)
    }

    fn query(&mut self, sql: &str, args: &[Arg<'_>], each: EachRow<'_>) -> Result<(), ApiError> {
        if self.writing && !self.credentials_changed {
            self.credentials_changed = callers::touches_credentials(sql);
        }
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
        while let Some(row) = rows.next()? {
            each(row)?;
        }
        Ok(())
    }

    fn broke_unique_key(&self, error: &ApiError) -> bool {
        let ApiError::Internal(error) = error else {
            return false;
        };
        matches!(
            error.downcast_ref::<rusqlite::Error>(),
            Some(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        )
    }
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match *self {
            Arg::Int(i) => ValueRef::Integer(i),
            Arg::Real(f) => ValueRef::Real(f),
            Arg::Bool(b) => ValueRef::Integer(b as i64),
            Arg::Text(t) => ValueRef::Text(t.as_bytes()),
            Arg::Blob(b) => ValueRef::Blob(b),
            Arg::Null => ValueRef::Null,
        }))
    }
}

impl SqlRow for Row<'_> {
    sql_row_getters!(get);
}

#[cfg(test)]
mod plan_tests {
    //! Every list page shape must be served by an index: no full `SCAN` of the listed table and no
    //! sort of the whole result (`USE TEMP B-TREE FOR ORDER BY`).

    use super::*;
    use crate::store::query::like_literal;
    use crate::store::sql::{DUE_OUTBOX, HANDLERS_FOR_EVENT};

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        (dir, store)
    }

    use crate::store::query::plan_test_queries::*;

    #[track_caller]
    fn assert_indexed(plan: &[String], table: &str, index: &str) {
        PlanText {
            searches: |l, table, index| {
                l.starts_with(&format!("SEARCH {table} ")) && l.contains(index)
            },
            scans: |l, table| l.starts_with(&format!("SCAN {table}")),
            sort: "TEMP B-TREE FOR ORDER BY",
        }
        .assert_indexed(plan, table, index)
    }

    #[test]
    fn a_credential_finds_its_portal_through_an_index_of_its_digest() {
        let (_dir, s) = store();
        let digest = [7u8; 32];
        for (sql, table, index) in crate::store::portals::CREDENTIAL_LOOKUPS {
            let plan = s
                .explain(sql, &crate::store::driver::args![&digest])
                .unwrap();
            assert_indexed(&plan, table, index);
        }
    }

    const ITEMS_PK: &str = "sqlite_autoindex_crm_items_1";
    const ID_ASC: (Column, bool) = (Column::Plain("id"), false);

    #[test]
    fn item_pages_in_default_order_use_the_primary_key() {
        let (_dir, s) = store();
        let plan = s
            .explain_items_page(1, 2, &ListQuery::first_page(50))
            .unwrap();
        assert_indexed(&plan, "crm_items", ITEMS_PK);
    }

    #[test]
    fn item_pages_with_an_id_cursor_seek_the_primary_key() {
        let (_dir, s) = store();
        let plan = s.explain_items_page(1, 2, &after_id(500_000)).unwrap();
        assert_indexed(&plan, "crm_items", "id>?");
        let extra = Filter::All(vec![
            cursor(500_000),
            cmp(
                Column::Extra("stageId"),
                CompareOp::Eq,
                SqlValue::Text("WON".into()),
            ),
            cmp(
                Column::Plain("title"),
                CompareOp::Like,
                SqlValue::Text(format!("%{}%", like_literal("a"))),
            ),
        ]);
        let plan = s
            .explain_items_page(1, 2, &uncounted(extra, vec![(Column::Plain("id"), false)]))
            .unwrap();
        assert_indexed(&plan, "crm_items", "id>?");
    }

    #[test]
    fn own_item_pages_use_the_assignee_index() {
        let (_dir, s) = store();
        let plan = s.explain_items_page(1, 2, &own_items()).unwrap();
        assert_indexed(&plan, "crm_items", "crm_items_by_assignee");
    }

    #[test]
    fn activity_pages_in_default_order_use_the_start_time_index() {
        let (_dir, s) = store();
        let plan = s.explain_activities_page(1, &by_start_time()).unwrap();
        assert_indexed(&plan, "activities", "activities_by_start_time");
    }

    #[test]
    fn activity_pages_with_an_id_cursor_seek_the_primary_key() {
        let (_dir, s) = store();
        let plan = s.explain_activities_page(1, &after_id(500_000)).unwrap();
        assert_indexed(&plan, "activities", "id>?");
    }

    #[test]
    fn activity_pages_by_owner_use_the_owner_index() {
        let (_dir, s) = store();
        let plan = s.explain_activities_page(1, &by_owner()).unwrap();
        assert_indexed(&plan, "activities", "activities_by_owner");
    }

    #[test]
    fn event_lookups_use_their_indexes() {
        let (_dir, s) = store();
        let args = [Arg::Int(1), Arg::Text("ONCRMDEALADD")];
        let plan = s.explain(HANDLERS_FOR_EVENT, &args).unwrap();
        assert_indexed(&plan, "event_handlers", "event_handlers_by_event");
        let args = [Arg::Int(1), Arg::Real(1e9), Arg::Int(8)];
        let plan = s.explain(DUE_OUTBOX, &args).unwrap();
        assert_indexed(&plan, "event_outbox", "event_outbox_due");
    }

    #[test]
    fn disk_pages_and_lookups_use_their_indexes() {
        use crate::store::disk::{
            CHILDREN_COUNT, CHILDREN_PAGE, CHUNK, DETACH_EVERYWHERE, STORAGES_PAGE,
        };
        let (_dir, s) = store();
        let page = [Arg::Int(1), Arg::Int(7), Arg::Int(50), Arg::Int(0)];
        let plan = s.explain(CHILDREN_PAGE, &page).unwrap();
        assert_indexed(&plan, "disk_objects", "disk_objects_by_parent");
        let plan = s.explain(CHILDREN_COUNT, &page[..2]).unwrap();
        assert_indexed(&plan, "disk_objects", "disk_objects_by_parent");
        let plan = s
            .explain(STORAGES_PAGE, &[Arg::Int(1), Arg::Int(50), Arg::Int(0)])
            .unwrap();
        assert_indexed(&plan, "disk_storages", "sqlite_autoindex_disk_storages_1");
        let plan = s
            .explain(CHUNK, &[Arg::Int(1), Arg::Int(3), Arg::Int(0)])
            .unwrap();
        assert_indexed(&plan, "disk_chunks", "sqlite_autoindex_disk_chunks_1");
        let plan = s
            .explain(DETACH_EVERYWHERE, &[Arg::Int(1), Arg::Int(3)])
            .unwrap();
        assert_indexed(&plan, "timeline_files", "timeline_files_by_object");
    }

    #[test]
    fn an_applications_placements_and_options_use_their_indexes() {
        use crate::store::apps::{OPTIONS_OF, PLACEMENTS_OF_APP};
        let (_dir, s) = store();
        let plan = s
            .explain(PLACEMENTS_OF_APP, &[Arg::Int(1), Arg::Int(1)])
            .unwrap();
        assert!(
            plan.iter().any(|l| l.starts_with("SEARCH placements ")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|l| l.starts_with("SCAN placements")),
            "{plan:?}"
        );
        let plan = s
            .explain(OPTIONS_OF, &[Arg::Int(1), Arg::Int(1), Arg::Int(0)])
            .unwrap();
        assert_indexed(&plan, "app_options", "sqlite_autoindex_app_options_1");
    }

    #[test]
    fn offline_queue_pages_use_their_indexes() {
        let (_dir, s) = store();
        let pending = Filter::All(vec![
            cmp(Column::Plain("error"), CompareOp::Eq, SqlValue::Int(0)),
            cmp(
                Column::Plain("process_id"),
                CompareOp::Eq,
                SqlValue::Text("p".into()),
            ),
        ]);
        let by_time = uncounted(pending, vec![(Column::Plain("timestamp_x"), false)]);
        let sql = lists::offline_page(Dialect::Sqlite, 1, 1, "", &by_time, "");
        let plan = s.explain(&sql.page, &sql.args).unwrap();
        assert_indexed(&plan, "event_offline", "event_offline_by_time");
        let by_id = uncounted(Filter::everything(), vec![ID_ASC]);
        let sql = lists::offline_page(Dialect::Sqlite, 1, 1, "", &by_id, "");
        let plan = s.explain(&sql.page, &sql.args).unwrap();
        assert_indexed(&plan, "event_offline", "event_offline_by_id");
    }

    #[test]
    fn activity_pages_by_binding_use_the_binding_index() {
        let (_dir, s) = store();
        let plan = s.explain_activities_page(1, &bound_to_one_item()).unwrap();
        let text = plan.join("\n");
        assert!(text.contains("activity_bindings_by_item"), "{text}");
        assert!(
            !plan.iter().any(|l| l.starts_with("SCAN activities")),
            "{text}"
        );
    }

    #[test]
    fn status_pages_of_one_dictionary_use_the_sort_index() {
        let (_dir, s) = store();
        let query = uncounted(
            cmp(
                Column::Plain("entity_id"),
                CompareOp::Eq,
                SqlValue::Text("DEAL_STAGE".into()),
            ),
            vec![(Column::Plain("sort"), false)],
        );
        let sql = crate::store::lists::statuses_page(Dialect::Sqlite, 1, &query);
        let plan = s.explain(&sql.page, &sql.args).unwrap();
        assert_indexed(&plan, "crm_statuses", "crm_statuses_by_sort");
    }

    #[test]
    fn record_pages_use_the_primary_key_or_the_owner_index() {
        let (_dir, s) = store();
        let plan_of = |kind: &'static str, query: &ListQuery| {
            let sql = crate::store::lists::records_page(Dialect::Sqlite, 1, kind, query);
            s.explain(&sql.page, &sql.args).unwrap()
        };
        let catalogue = uncounted(Filter::everything(), Vec::new());
        assert_indexed(
            &plan_of("product", &catalogue),
            "crm_records",
            "sqlite_autoindex_crm_records_1",
        );
        let of_one_owner = |order| {
            uncounted(
                Filter::All(vec![
                    cmp(
                        Column::Plain("owner_type_id"),
                        CompareOp::Eq,
                        SqlValue::Int(2),
                    ),
                    cmp(Column::Plain("owner_id"), CompareOp::Eq, SqlValue::Int(5)),
                ]),
                order,
            )
        };
        for kind in ["product_row", "requisite", "bank_detail", "address"] {
            assert_indexed(
                &plan_of(kind, &of_one_owner(vec![(Column::Plain("sort"), false)])),
                "crm_records",
                "crm_records_by_owner ",
            );
            assert_indexed(
                &plan_of(kind, &of_one_owner(vec![ID_ASC])),
                "crm_records",
                "crm_records_by_owner_id",
            );
        }
    }

    #[test]
    fn stage_history_pages_use_the_primary_key_or_the_owner_index() {
        let (_dir, s) = store();
        let plan_of = |query: &ListQuery| {
            let sql = crate::store::lists::stage_history_page(Dialect::Sqlite, 1, 2, query, None);
            s.explain(&sql.page, &sql.args).unwrap()
        };
        let all = uncounted(Filter::everything(), Vec::new());
        assert_indexed(
            &plan_of(&all),
            "crm_stage_history",
            "sqlite_autoindex_crm_stage_history_1",
        );
        let of_one_deal = uncounted(
            cmp(Column::Plain("owner_id"), CompareOp::Eq, SqlValue::Int(5)),
            Vec::new(),
        );
        assert_indexed(
            &plan_of(&of_one_deal),
            "crm_stage_history",
            "crm_stage_history_by_owner",
        );
    }

    #[test]
    fn an_items_timeline_comments_come_from_the_entity_index_and_in_id_order_unsorted() {
        use crate::store::timeline::{comments_page, CommentOrder};
        let (_dir, s) = store();
        let args = crate::store::driver::args![1i64, 2i64, 10i64, 50i64, 0i64];
        for descending in [false, true] {
            let plan = s
                .explain(&comments_page(CommentOrder::Id, descending), &args)
                .unwrap();
            assert_indexed(&plan, "b", "timeline_bindings_by_entity");
            assert!(
                plan.iter().any(|l| l.starts_with("SEARCH c USING")),
                "each comment by its key: {plan:?}"
            );
        }
        // By CREATED or AUTHOR_ID the entity's own comments are sorted, never the table's.
        for order in [CommentOrder::Created, CommentOrder::AuthorId] {
            let plan = s.explain(&comments_page(order, true), &args).unwrap();
            assert!(
                plan.iter().any(|l| l.starts_with("SEARCH b USING")
                    && l.contains("timeline_bindings_by_entity")),
                "{plan:?}"
            );
            assert!(!plan.iter().any(|l| l.starts_with("SCAN")), "{plan:?}");
        }
    }

    /// `tasks.task.list` pages: newest first by primary key, a user's tasks through the member
    /// index, a responsible person's through theirs, by deadline through its index, and the
    /// tasks bound to an item through the binding index.
    #[test]
    fn task_pages_use_the_primary_key_the_member_index_and_the_binding_index() {
        use crate::store::tasks::{Role, TaskQuery};
        let (_dir, s) = store();
        let plan_of = |query: &TaskQuery| {
            let sql = crate::store::lists::tasks_page(
                Dialect::Sqlite,
                1,
                crate::store::tasks::TASK_COLUMNS,
                query,
            );
            s.explain(&sql.page, &sql.args).unwrap()
        };
        let query = |filter: Filter, order: Vec<(Column, bool)>| TaskQuery {
            list: uncounted(filter, order),
            member: None,
            roles: Vec::new(),
            crm: None,
        };
        let newest = vec![(Column::Plain("id"), true)];
        let all = query(Filter::everything(), newest.clone());
        assert_indexed(&plan_of(&all), "tasks", "sqlite_autoindex_tasks_1");

        let mut mine = query(Filter::everything(), newest.clone());
        mine.member = Some(7);
        mine.roles = vec![(Role::Auditor, vec![8])];
        let plan = plan_of(&mine);
        assert_indexed(&plan, "tasks", "sqlite_autoindex_tasks_1");
        assert_indexed(&plan, "task_members", "task_members_by_user");

        let responsible = query(
            cmp(
                Column::Plain("responsible_id"),
                CompareOp::Eq,
                SqlValue::Int(7),
            ),
            newest.clone(),
        );
        assert_indexed(&plan_of(&responsible), "tasks", "tasks_by_responsible");

        let by_deadline = query(
            Filter::everything(),
            vec![(Column::Plain("deadline"), false)],
        );
        assert_indexed(&plan_of(&by_deadline), "tasks", "tasks_by_deadline");

        let mut bound = query(Filter::everything(), newest);
        bound.crm = Some(vec![(2, 10)]);
        let plan = plan_of(&bound);
        assert_indexed(&plan, "activity_bindings", "activity_bindings_by_item");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use b24_protocol::ErrorCode;

    fn item(entity_type_id: i64) -> ItemRecord {
        ItemRecord {
            entity_type_id,
            id: 0,
            title: "t".into(),
            assigned_by_id: 1,
            created_by: 1,
            updated_by: 1,
            created_time: String::new(),
            updated_time: String::new(),
            extra: Map::new(),
        }
    }

    fn total(store: &SqliteStore, entity_type_id: i64, filter: Filter) -> Option<u64> {
        let query = ListQuery {
            filter,
            ..ListQuery::first_page(50)
        };
        store
            .transaction(1, false, |tx| tx.list_items(entity_type_id, &query))
            .unwrap()
            .total
    }

    #[test]
    fn list_totals_follow_inserts_and_deletes_per_type_with_and_without_filters() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(total(&store, 2, Filter::everything()), Some(0));
        store
            .transaction(1, true, |tx| {
                for _ in 0..5 {
                    tx.insert_item(&item(2))?;
                }
                tx.insert_item(&item(3))?;
                assert!(tx.delete_item(2, 4)?);
                assert!(!tx.delete_item(2, 4)?, "a second delete changes no count");
                Ok(())
            })
            .unwrap();
        assert_eq!(total(&store, 2, Filter::everything()), Some(4));
        assert_eq!(total(&store, 3, Filter::everything()), Some(1));
        let after_two = Filter::Compare {
            column: Column::Plain("id"),
            op: CompareOp::Gt,
            values: vec![SqlValue::Int(2)],
        };
        assert_eq!(total(&store, 2, after_two), Some(2), "ids 3 and 5");
        let failed: Result<(), ApiError> = store.transaction(1, true, |tx| {
            tx.insert_item(&item(2))?;
            Err(ErrorCode::AccessDenied.into())
        });
        assert!(failed.is_err());
        assert_eq!(
            total(&store, 2, Filter::everything()),
            Some(4),
            "rolled back"
        );
    }

    fn activity(owner: Binding) -> ActivityRecord {
        ActivityRecord {
            id: 0,
            type_id: 2,
            provider_id: "VOXIMPLANT_CALL".into(),
            provider_type_id: "CALL".into(),
            subject: "s".into(),
            description: String::new(),
            responsible_id: 1,
            author_id: 1,
            editor_id: 1,
            owner_type_id: owner.entity_type_id,
            owner_id: owner.entity_id,
            deadline: String::new(),
            start_time: String::new(),
            end_time: String::new(),
            completed: false,
            status: 1,
            priority: 2,
            direction: 1,
            created: String::new(),
            last_updated: String::new(),
            extra: Map::new(),
        }
    }

    /// Database pages the writer connection has written to the WAL so far.
    fn pages_written(store: &SqliteStore) -> i32 {
        let guard = store.lock_writer();
        let conn = guard.as_ref().unwrap();
        let (mut current, mut highest) = (0, 0);
        // SAFETY: the handle is a live connection, held locked for the call.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_db_status(
                conn.handle(),
                rusqlite::ffi::SQLITE_DBSTATUS_CACHE_WRITE,
                &mut current,
                &mut highest,
                0,
            )
        };
        assert_eq!(rc, rusqlite::ffi::SQLITE_OK);
        current
    }

    /// A binding change that keeps the activity's owner stamps the editor and time without
    /// naming the owner columns, so SQLite leaves the row's `activities_by_owner` entry alone
    /// (one page written, not three); a changed owner is written and found through the index.
    #[test]
    fn an_unchanged_owner_leaves_the_owner_index_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let deal = Binding::new(2, 7);
        let id = store
            .transaction(1, true, |tx| tx.insert_activity(&activity(deal)))
            .unwrap();
        let owned_by = |owner: Binding| {
            let query = ListQuery {
                filter: Filter::Compare {
                    column: Column::Plain("owner_id"),
                    op: CompareOp::Eq,
                    values: vec![SqlValue::Int(owner.entity_id)],
                },
                ..ListQuery::first_page(50)
            };
            store
                .transaction(1, false, |tx| tx.list_activities(&query))
                .unwrap()
                .rows
                .iter()
                .filter(|a| a.owner_type_id == owner.entity_type_id)
                .map(|a| (a.id, a.editor_id))
                .collect::<Vec<_>>()
        };

        let before = pages_written(&store);
        store
            .transaction(1, true, |tx| tx.set_activity_owner(id, deal, 5))
            .unwrap();
        let stamped = pages_written(&store) - before;
        assert_eq!(owned_by(deal), [(id, 5)], "the editor is stamped");
        let last_updated = |store: &SqliteStore| {
            store
                .transaction(1, false, |tx| Ok(tx.activity(id)?.unwrap().last_updated))
                .unwrap()
        };
        assert!(!last_updated(&store).is_empty(), "and the time");

        let contact = Binding::new(3, 9);
        let before = pages_written(&store);
        store
            .transaction(1, true, |tx| tx.set_activity_owner(id, contact, 6))
            .unwrap();
        let moved = pages_written(&store) - before;
        assert_eq!(
            owned_by(contact),
            [(id, 6)],
            "the new owner is found by its index"
        );
        assert_eq!(owned_by(deal), [], "the old one no longer");
        assert!(
            stamped < moved,
            "stamping wrote {stamped} pages, changing the owner {moved}"
        );
    }

    #[test]
    fn the_count_migration_counts_items_that_already_exist() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "PRAGMA user_version = 1;
                 INSERT INTO crm_items VALUES (1, 2, 1, 'a', 1, 1, 1, '', '', '{}'),
                                              (1, 2, 2, 'b', 1, 1, 1, '', '', '{}'),
                                              (1, 4, 1, 'c', 1, 1, 1, '', '', '{}');",
            )
            .unwrap();
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(total(&store, 2, Filter::everything()), Some(2));
        assert_eq!(total(&store, 4, Filter::everything()), Some(1));
        assert_eq!(total(&store, 3, Filter::everything()), Some(0));
    }

    #[test]
    fn items_from_before_the_derived_tables_are_indexed_and_linked_once_on_the_next_start() {
        use crate::domain::duplicates::CommunicationKind;
        let dir = tempfile::tempdir().unwrap();
        let index = MIGRATIONS
            .iter()
            .position(|m| m.contains("CREATE TABLE crm_communications"))
            .unwrap();
        {
            let mut conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            let tx = conn.transaction().unwrap();
            for migration in &MIGRATIONS[..index] {
                tx.execute_batch(&migration.replace(SQLITE_WITHOUT_ROWID, "WITHOUT ROWID"))
                    .unwrap();
            }
            tx.execute_batch(&format!(
                r#"PRAGMA user_version = {index};
                 INSERT INTO portals (id, domain, member_id, public_url, created)
                     VALUES (1, 'example.test', 'member', 'http://example.test', '');
                 INSERT INTO crm_items VALUES (1, 3, 7, 'Ann', 1, 1, 1, '', '',
                     '{{"PHONE":[{{"VALUE":"+7 (999) 123-45-67","VALUE_TYPE":"WORK"}}],"companyId":5}}'),
                     (1, 2, 8, 'Deal', 1, 1, 1, '', '', '{{"stageId":"C2:NEW","categoryId":2}}');"#
            ))
            .unwrap();
            tx.commit().unwrap();
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        let find = |tx: &mut dyn Tx| {
            tx.items_with_communications(
                CommunicationKind::Phone,
                &["79991234567".to_string()],
                &[3],
            )
        };
        assert_eq!(store.transaction(1, false, |tx| find(tx)).unwrap(), vec![]);
        let at_stage = |tx: &mut dyn Tx| {
            Ok((
                tx.any_item_at_stage(2, "C2:NEW")?,
                tx.any_item_in_category(2, 2)?,
            ))
        };
        assert_eq!(
            store.transaction(1, false, |tx| at_stage(tx)).unwrap(),
            (false, false)
        );
        let ran = store
            .transaction(1, true, |tx| {
                tx.finish_upgrades().map(|done| !done.is_empty())
            })
            .unwrap();
        assert!(ran);
        assert_eq!(
            store.transaction(1, false, |tx| find(tx)).unwrap(),
            vec![Binding::new(3, 7)]
        );
        let links = store
            .transaction(1, false, |tx| tx.companies_of_contact(7))
            .unwrap();
        assert_eq!(
            links,
            vec![crate::store::contact_companies::ContactCompanyRecord {
                contact_id: 7,
                company_id: 5,
                sort: 10,
                primary: true,
            }]
        );
        assert_eq!(
            store.transaction(1, false, |tx| at_stage(tx)).unwrap(),
            (true, true)
        );
        let again = store
            .transaction(1, true, |tx| {
                tx.finish_upgrades().map(|done| !done.is_empty())
            })
            .unwrap();
        assert!(!again, "the mark is taken by the first start");
    }

    #[test]
    fn items_from_before_the_computed_fields_get_them_once_on_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let index = MIGRATIONS
            .iter()
            .position(|m| m.contains("pending:derive_item_fields"))
            .unwrap();
        {
            let mut conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            let tx = conn.transaction().unwrap();
            for migration in &MIGRATIONS[..index] {
                tx.execute_batch(&migration.replace(SQLITE_WITHOUT_ROWID, "WITHOUT ROWID"))
                    .unwrap();
            }
            tx.execute_batch(&format!(
                r#"PRAGMA user_version = {index};
                 INSERT INTO portals (id, domain, member_id, public_url, created)
                     VALUES (1, 'example.test', 'member', 'http://example.test', '');
                 INSERT INTO crm_items VALUES
                     (1, 2, 8, 'Deal', 1, 1, 1, 'T1', 'T2', '{{"stageId":"WON","categoryId":0}}'),
                     (1, 3, 9, 'Ann', 1, 4, 1, 'T1', 'T2',
                      '{{"EMAIL":[{{"ID":1,"VALUE":"a@b.c","VALUE_TYPE":"WORK"}}],"lastActivityTime":"T3"}}');"#
            ))
            .unwrap();
            tx.commit().unwrap();
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        let ran = store
            .transaction(1, true, |tx| {
                crate::domain::statuses::ensure_defaults(tx)?;
                tx.finish_upgrades().map(|done| !done.is_empty())
            })
            .unwrap();
        assert!(ran);
        let (deal, contact) = store
            .transaction(1, false, |tx| {
                Ok((tx.item(2, 8)?.unwrap(), tx.item(3, 9)?.unwrap()))
            })
            .unwrap();
        assert_eq!(deal.extra["stageSemanticId"], "S");
        assert_eq!(deal.extra["closed"], "Y");
        assert_eq!(deal.extra["movedTime"], "T1");
        assert_eq!(
            (&contact.extra["hasEmail"], &contact.extra["hasPhone"]),
            (&serde_json::json!("Y"), &serde_json::json!("N"))
        );
        assert_eq!(
            (
                &contact.extra["lastActivityTime"],
                &contact.extra["lastActivityBy"]
            ),
            (&serde_json::json!("T3"), &serde_json::json!(4)),
            "a last activity already there is kept"
        );
        let again = store
            .transaction(1, true, |tx| {
                tx.finish_upgrades().map(|done| !done.is_empty())
            })
            .unwrap();
        assert!(!again, "the mark is taken by the first start");
    }

    #[test]
    fn contacts_and_companies_from_before_the_mirrors_list_their_links_on_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let index = MIGRATIONS
            .iter()
            .position(|m| m.contains("pending:mirror_contact_companies"))
            .unwrap();
        {
            let mut conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            let tx = conn.transaction().unwrap();
            for migration in &MIGRATIONS[..index] {
                tx.execute_batch(&migration.replace(SQLITE_WITHOUT_ROWID, "WITHOUT ROWID"))
                    .unwrap();
            }
            tx.execute_batch(&format!(
                r#"PRAGMA user_version = {index};
                 INSERT INTO portals (id, domain, member_id, public_url, created)
                     VALUES (1, 'example.test', 'member', 'http://example.test', '');
                 INSERT INTO crm_items VALUES
                     (1, 3, 9, '', 1, 1, 1, 'T1', 'T2', '{{"companyId":5}}'),
                     (1, 4, 5, 'A', 1, 1, 1, 'T1', 'T2', '{{}}'),
                     (1, 4, 6, 'B', 1, 1, 1, 'T1', 'T2', '{{}}');
                 INSERT INTO crm_contact_companies VALUES (1, 9, 6, 5, 0), (1, 9, 5, 20, 1);"#
            ))
            .unwrap();
            tx.commit().unwrap();
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        let ran = store
            .transaction(1, true, |tx| {
                tx.finish_upgrades().map(|done| !done.is_empty())
            })
            .unwrap();
        assert!(ran);
        let (contact, a, b) = store
            .transaction(1, false, |tx| {
                Ok((
                    tx.item(3, 9)?.unwrap(),
                    tx.item(4, 5)?.unwrap(),
                    tx.item(4, 6)?.unwrap(),
                ))
            })
            .unwrap();
        assert_eq!(contact.extra["companyIds"], serde_json::json!([5, 6]));
        assert_eq!(contact.extra["companyId"], 5);
        assert_eq!(a.extra["contactIds"], serde_json::json!([9]));
        assert_eq!(b.extra["contactIds"], serde_json::json!([9]));
    }

    /// Commits reach the database file without any commit crossing SQLite's inline checkpoint
    /// threshold: the background thread copied them out of the WAL.
    #[test]
    fn commits_are_checkpointed_into_the_database_file_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .transaction(1, true, |tx| {
                tx.ensure_portal("example.test", "member", "http://example.test")?;
                tx.insert_user("Ann", "Lee", false)
            })
            .unwrap();
        let copy = tempfile::tempdir().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            // The database file alone, without its WAL: only checkpointed pages are in it.
            std::fs::copy(store.path(), copy.path().join(DB_FILE)).unwrap();
            let users: i64 = Connection::open(copy.path().join(DB_FILE))
                .unwrap()
                .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
                .unwrap_or(0);
            if users == 1 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the commit was never checkpointed"
            );
            std::thread::sleep(CHECKPOINT_INTERVAL / 4);
        }
    }
}
