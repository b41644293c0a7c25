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

use super::schema::MIGRATIONS;
use super::*;
use crate::clock::{iso, Clock};
use crate::error::ApiError;
use anyhow::Context as _;
use b24_protocol::{ErrorCode, RestError};
use r2d2_sqlite::rusqlite::{
    self, params, Connection, ErrorCode as SqliteErrorCode, OptionalExtension, Row,
    TransactionBehavior,
};
use r2d2_sqlite::SqliteConnectionManager;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    writer: Mutex<Connection>,
    readers: r2d2::Pool<SqliteConnectionManager>,
    clock: Arc<dyn Clock>,
    path: PathBuf,
    /// Dropping this stops the checkpoint thread.
    _stop_checkpoints: std::sync::mpsc::Sender<()>,
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
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

/// How much of the database file is memory-mapped (the rest is read with pread).
const MMAP_BYTES: u64 = 1 << 30;

impl SqliteStore {
    /// Opens the database in `data_dir`, creating the directory and file and running migrations.
    pub fn open_with_clock(data_dir: &Path, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir).with_context(|| {
            format!("could not create the data directory {}", data_dir.display())
        })?;
        let path = data_dir.join(DB_FILE);
        let mut writer = Connection::open(&path)
            .with_context(|| format!("could not open the database {}", path.display()))?;
        configure(&writer).context("could not configure the database")?;
        writer
            .pragma_update(None, "wal_autocheckpoint", INLINE_CHECKPOINT_PAGES)
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
            writer: Mutex::new(writer),
            readers,
            clock,
            path,
            _stop_checkpoints,
        })
    }

    /// Opens with the system clock.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        Self::open_with_clock(data_dir, Arc::new(crate::clock::SystemClock))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn read<R>(
        &self,
        portal: PortalId,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let mut conn = self
            .readers
            .get()
            .map_err(|e| ApiError::internal(anyhow::anyhow!(e).context("no reader connection")))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let mut stx = SqliteTx {
            conn: &tx,
            portal,
            now: self.clock.now(),
        };
        f(&mut stx)
        // The read transaction is rolled back on drop: nothing to commit.
    }

    pub(super) fn write<R>(
        &self,
        portal: PortalId,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let mut conn = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut stx = SqliteTx {
            conn: &tx,
            portal,
            now: self.clock.now(),
        };
        let out = f(&mut stx)?;
        tx.commit()?;
        Ok(out)
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

impl SqliteStore {
    /// `EXPLAIN QUERY PLAN` of the page statement `crm.item.list` would run: one line per plan
    /// step. Tests and the scaling example use it to prove pages are served by an index.
    pub fn explain_items_page(
        &self,
        portal: PortalId,
        entity_type_id: i64,
        query: &ListQuery,
    ) -> anyhow::Result<Vec<String>> {
        let (page_sql, _, args) = items_page_sql(portal, entity_type_id, query);
        self.explain(&page_sql, &args)
    }

    /// `EXPLAIN QUERY PLAN` of the page statement `crm.activity.list` would run.
    pub fn explain_activities_page(
        &self,
        portal: PortalId,
        query: &ListQuery,
    ) -> anyhow::Result<Vec<String>> {
        let (page_sql, _, args) = activities_page_sql(portal, query);
        self.explain(&page_sql, &args)
    }

    fn explain(&self, sql: &str, args: &[SqlArg]) -> anyhow::Result<Vec<String>> {
        let conn = self.readers.get()?;
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    tx.commit()
}

struct SqliteTx<'a> {
    conn: &'a Connection,
    portal: PortalId,
    now: f64,
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::internal(anyhow::Error::new(e).context("database error"))
    }
}

fn is_constraint_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == SqliteErrorCode::ConstraintViolation)
}

fn json_map(text: String) -> Map<String, Value> {
    serde_json::from_str(&text).unwrap_or_default()
}

fn item_from_row(r: &Row<'_>) -> rusqlite::Result<ItemRecord> {
    Ok(ItemRecord {
        entity_type_id: r.get(0)?,
        id: r.get(1)?,
        title: r.get(2)?,
        assigned_by_id: r.get(3)?,
        created_by: r.get(4)?,
        updated_by: r.get(5)?,
        created_time: r.get(6)?,
        updated_time: r.get(7)?,
        extra: json_map(r.get(8)?),
    })
}

const ITEM_COLUMNS: &str = "entity_type_id, id, title, assigned_by_id, created_by, updated_by, \
                            created_time, updated_time, extra";

const DYNAMIC_TYPE_COLUMNS: &str =
    "id, entity_type_id, title, created_by, updated_by, created_time, \
                                    updated_time, settings";

fn dynamic_type_from_row(r: &Row<'_>) -> rusqlite::Result<DynamicTypeRecord> {
    Ok(DynamicTypeRecord {
        id: r.get(0)?,
        entity_type_id: r.get(1)?,
        title: r.get(2)?,
        created_by: r.get(3)?,
        updated_by: r.get(4)?,
        created_time: r.get(5)?,
        updated_time: r.get(6)?,
        settings: json_map(r.get(7)?),
    })
}

const ACTIVITY_COLUMNS: &str = "id, type_id, provider_id, provider_type_id, subject, description, \
    responsible_id, author_id, editor_id, owner_type_id, owner_id, deadline, start_time, end_time, \
    completed, status, priority, direction, created, last_updated, extra";

/// The values of an activity row: the portal, then [`ACTIVITY_COLUMNS`] in order (`?1`..`?22`).
fn activity_values<'a>(
    portal: &'a PortalId,
    id: &'a i64,
    a: &'a ActivityRecord,
    extra: &'a dyn rusqlite::ToSql,
) -> [&'a dyn rusqlite::ToSql; 22] {
    [
        portal,
        id,
        &a.type_id,
        &a.provider_id,
        &a.provider_type_id,
        &a.subject,
        &a.description,
        &a.responsible_id,
        &a.author_id,
        &a.editor_id,
        &a.owner_type_id,
        &a.owner_id,
        &a.deadline,
        &a.start_time,
        &a.end_time,
        &a.completed,
        &a.status,
        &a.priority,
        &a.direction,
        &a.created,
        &a.last_updated,
        extra,
    ]
}

fn activity_from_row(r: &Row<'_>) -> rusqlite::Result<ActivityRecord> {
    Ok(ActivityRecord {
        id: r.get(0)?,
        type_id: r.get(1)?,
        provider_id: r.get(2)?,
        provider_type_id: r.get(3)?,
        subject: r.get(4)?,
        description: r.get(5)?,
        responsible_id: r.get(6)?,
        author_id: r.get(7)?,
        editor_id: r.get(8)?,
        owner_type_id: r.get(9)?,
        owner_id: r.get(10)?,
        deadline: r.get(11)?,
        start_time: r.get(12)?,
        end_time: r.get(13)?,
        completed: r.get(14)?,
        status: r.get(15)?,
        priority: r.get(16)?,
        direction: r.get(17)?,
        created: r.get(18)?,
        last_updated: r.get(19)?,
        extra: json_map(r.get(20)?),
    })
}

fn webhook_from_row(r: &Row<'_>) -> rusqlite::Result<WebhookRecord> {
    let digest: Vec<u8> = r.get(2)?;
    let scopes: String = r.get(3)?;
    Ok(WebhookRecord {
        id: r.get(0)?,
        user_id: r.get(1)?,
        code_digest: digest.try_into().unwrap_or([0; 32]),
        scopes: scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        active: r.get(4)?,
        created: r.get(5)?,
        blocked: r.get(6)?,
    })
}

fn digest_from(bytes: Vec<u8>) -> [u8; 32] {
    bytes.try_into().unwrap_or([0; 32])
}

fn scopes_from(text: String) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

const APP_COLUMNS: &str = "id, client_id, client_secret_digest, application_token_digest, name, scopes, redirect_uri, blocked";

fn app_from_row(r: &Row<'_>) -> rusqlite::Result<AppRecord> {
    Ok(AppRecord {
        id: r.get(0)?,
        client_id: r.get(1)?,
        client_secret_digest: digest_from(r.get(2)?),
        application_token_digest: digest_from(r.get(3)?),
        name: r.get(4)?,
        scopes: scopes_from(r.get(5)?),
        redirect_uri: r.get(6)?,
        blocked: r.get(7)?,
    })
}

const TOKEN_COLUMNS: &str = "access_digest, refresh_digest, app_id, user_id, scopes, access_expires, refresh_expires, refresh_used";

fn token_from_row(r: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        access_digest: digest_from(r.get(0)?),
        refresh_digest: digest_from(r.get(1)?),
        app_id: r.get(2)?,
        user_id: r.get(3)?,
        scopes: scopes_from(r.get(4)?),
        access_expires: r.get(5)?,
        refresh_expires: r.get(6)?,
        refresh_used: r.get(7)?,
    })
}

impl SqliteTx<'_> {
    /// Items of a type, from `crm_item_counts`.
    fn item_count(&mut self, entity_type_id: i64) -> Result<u64, ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT items FROM crm_item_counts WHERE portal_id = ?1 AND entity_type_id = ?2",
        )?;
        let items: Option<i64> = stmt
            .query_row(params![self.portal, entity_type_id], |r| r.get(0))
            .optional()?;
        Ok(items.unwrap_or(0).max(0) as u64)
    }

    /// Keeps `crm_item_counts` in step with `crm_items` (same transaction).
    fn count_items(&mut self, entity_type_id: i64, change: i64) -> Result<(), ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO crm_item_counts (portal_id, entity_type_id, items) VALUES (?1, ?2, ?3)
             ON CONFLICT (portal_id, entity_type_id) DO UPDATE SET items = crm_item_counts.items + ?3",
        )?;
        stmt.execute(params![self.portal, entity_type_id, change])?;
        Ok(())
    }
}

impl Tx for SqliteTx<'_> {
    fn portal(&self) -> PortalId {
        self.portal
    }

    fn now_iso(&self) -> String {
        iso(self.now)
    }

    fn next_id(&mut self, sequence: &str) -> Result<i64, ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO sequences (portal_id, name, value) VALUES (?1, ?2, 1)
             ON CONFLICT (portal_id, name) DO UPDATE SET value = sequences.value + 1
             RETURNING value",
        )?;
        Ok(stmt.query_row(params![self.portal, sequence], |r| r.get(0))?)
    }

    fn portal_row(&mut self) -> Result<Option<Portal>, ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, domain, member_id, public_url, rest_enabled, closed, public_https_url FROM portals WHERE id = ?1",
        )?;
        Ok(stmt
            .query_row([self.portal], |r| {
                Ok(Portal {
                    id: r.get(0)?,
                    domain: r.get(1)?,
                    member_id: r.get(2)?,
                    public_url: r.get(3)?,
                    rest_enabled: r.get(4)?,
                    closed: r.get(5)?,
                    public_https_url: r.get(6)?,
                })
            })
            .optional()?)
    }

    fn ensure_portal(
        &mut self,
        domain: &str,
        member_id: &str,
        public_url: &str,
    ) -> Result<bool, ApiError> {
        let n = self.conn.execute(
            "INSERT INTO portals (id, domain, member_id, public_url, created) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO NOTHING",
            params![self.portal, domain, member_id, public_url, self.now_iso()],
        )?;
        Ok(n == 1)
    }

    fn set_public_url(&mut self, public_url: &str, https: &str) -> Result<(), ApiError> {
        self.conn.execute(
            "UPDATE portals SET public_url = ?2, public_https_url = ?3 WHERE id = ?1",
            params![self.portal, public_url, https],
        )?;
        Ok(())
    }

    fn plan(&mut self) -> Result<Option<String>, ApiError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT plan FROM portals WHERE id = ?1")?;
        Ok(stmt.query_row([self.portal], |r| r.get(0)).optional()?)
    }

    fn set_plan(&mut self, plan: &str) -> Result<bool, ApiError> {
        let n = self.conn.execute(
            "UPDATE portals SET plan = ?2 WHERE id = ?1",
            params![self.portal, plan],
        )?;
        Ok(n == 1)
    }

    fn user(&mut self, id: i64) -> Result<Option<User>, ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, name, last_name, admin, active FROM users WHERE portal_id = ?1 AND id = ?2",
        )?;
        Ok(stmt
            .query_row(params![self.portal, id], |r| {
                Ok(User {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    last_name: r.get(2)?,
                    admin: r.get(3)?,
                    active: r.get(4)?,
                })
            })
            .optional()?)
    }

    fn insert_user(&mut self, name: &str, last_name: &str, admin: bool) -> Result<i64, ApiError> {
        let id = self.next_id("user")?;
        self.conn.execute(
            "INSERT INTO users (portal_id, id, name, last_name, admin, active, created)
             VALUES (?1, ?2, ?3, ?4, ?5, TRUE, ?6)",
            params![self.portal, id, name, last_name, admin, self.now_iso()],
        )?;
        Ok(id)
    }

    fn user_rights(&mut self, user_id: i64) -> Result<Vec<(i64, Action, Level)>, ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT entity_type_id, action, level FROM user_rights WHERE portal_id = ?1 AND user_id = ?2",
        )?;
        let rows = stmt.query_map(params![self.portal, user_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (t, action, level) = row?;
            // Rows are written only through `set_user_right`; an unreadable one grants nothing.
            if let (Ok(action), Ok(level)) = (action.parse(), level.parse()) {
                out.push((t, action, level));
            }
        }
        Ok(out)
    }

    fn set_user_right(
        &mut self,
        user_id: i64,
        entity_type_id: i64,
        action: Action,
        level: Level,
    ) -> Result<(), ApiError> {
        self.conn.execute(
            "INSERT INTO user_rights (portal_id, user_id, entity_type_id, action, level)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (portal_id, user_id, entity_type_id, action) DO UPDATE SET level = excluded.level",
            params![self.portal, user_id, entity_type_id, action.as_str(), level.as_str()],
        )?;
        Ok(())
    }

    fn set_rest_enabled(&mut self, enabled: bool) -> Result<(), ApiError> {
        self.conn.execute(
            "UPDATE portals SET rest_enabled = ?2 WHERE id = ?1",
            params![self.portal, enabled],
        )?;
        Ok(())
    }

    fn set_closed(&mut self, closed: bool) -> Result<(), ApiError> {
        self.conn.execute(
            "UPDATE portals SET closed = ?2 WHERE id = ?1",
            params![self.portal, closed],
        )?;
        Ok(())
    }

    fn set_webhook_blocked(&mut self, id: i64, blocked: bool) -> Result<bool, ApiError> {
        let n = self.conn.execute(
            "UPDATE webhooks SET blocked = ?3 WHERE portal_id = ?1 AND id = ?2",
            params![self.portal, id, blocked],
        )?;
        Ok(n == 1)
    }

    fn insert_app(&mut self, app: &AppRecord) -> Result<i64, ApiError> {
        let id = self.next_id("app")?;
        self.conn.execute(
            "INSERT INTO oauth_apps (portal_id, id, client_id, client_secret_digest,
                 application_token_digest, name, scopes, redirect_uri, blocked, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, FALSE, ?9)",
            params![
                self.portal,
                id,
                app.client_id,
                &app.client_secret_digest[..],
                &app.application_token_digest[..],
                app.name,
                app.scopes.join(","),
                app.redirect_uri,
                self.now_iso()
            ],
        )?;
        Ok(id)
    }

    fn app_by_client_id(&mut self, client_id: &str) -> Result<Option<AppRecord>, ApiError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {APP_COLUMNS} FROM oauth_apps WHERE portal_id = ?1 AND client_id = ?2"
        ))?;
        Ok(stmt
            .query_row(params![self.portal, client_id], app_from_row)
            .optional()?)
    }

    fn app(&mut self, id: i64) -> Result<Option<AppRecord>, ApiError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {APP_COLUMNS} FROM oauth_apps WHERE portal_id = ?1 AND id = ?2"
        ))?;
        Ok(stmt
            .query_row(params![self.portal, id], app_from_row)
            .optional()?)
    }

    fn set_app_blocked(&mut self, id: i64, blocked: bool) -> Result<(), ApiError> {
        self.conn.execute(
            "UPDATE oauth_apps SET blocked = ?3 WHERE portal_id = ?1 AND id = ?2",
            params![self.portal, id, blocked],
        )?;
        Ok(())
    }

    fn set_app_user(&mut self, app_id: i64, user_id: i64, allowed: bool) -> Result<(), ApiError> {
        if allowed {
            self.conn.execute(
                "INSERT INTO oauth_app_users (portal_id, app_id, user_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (portal_id, app_id, user_id) DO NOTHING",
                params![self.portal, app_id, user_id],
            )?;
        } else {
            self.conn.execute(
                "DELETE FROM oauth_app_users WHERE portal_id = ?1 AND app_id = ?2 AND user_id = ?3",
                params![self.portal, app_id, user_id],
            )?;
        }
        Ok(())
    }

    fn app_user_allowed(&mut self, app_id: i64, user_id: i64) -> Result<bool, ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT 1 FROM oauth_app_users WHERE portal_id = ?1 AND app_id = ?2 AND user_id = ?3",
        )?;
        Ok(stmt
            .query_row(params![self.portal, app_id, user_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn insert_auth_code(
        &mut self,
        digest: &[u8; 32],
        app_id: i64,
        user_id: i64,
        expires_at: f64,
    ) -> Result<(), ApiError> {
        self.conn.execute(
            "INSERT INTO oauth_codes (portal_id, code_digest, app_id, user_id, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![self.portal, &digest[..], app_id, user_id, expires_at],
        )?;
        Ok(())
    }

    fn take_auth_code(&mut self, digest: &[u8; 32]) -> Result<Option<(i64, i64, f64)>, ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "DELETE FROM oauth_codes WHERE portal_id = ?1 AND code_digest = ?2
             RETURNING app_id, user_id, expires_at",
        )?;
        Ok(stmt
            .query_row(params![self.portal, &digest[..]], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?)
    }

    fn insert_token(&mut self, t: &TokenRecord) -> Result<(), ApiError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "INSERT INTO oauth_tokens (portal_id, {TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ))?;
        stmt.execute(params![
            self.portal,
            &t.access_digest[..],
            &t.refresh_digest[..],
            t.app_id,
            t.user_id,
            t.scopes.join(","),
            t.access_expires,
            t.refresh_expires,
            t.refresh_used
        ])?;
        Ok(())
    }

    fn token_by_access(&mut self, digest: &[u8; 32]) -> Result<Option<TokenRecord>, ApiError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM oauth_tokens WHERE portal_id = ?1 AND access_digest = ?2"
        ))?;
        Ok(stmt
            .query_row(params![self.portal, &digest[..]], token_from_row)
            .optional()?)
    }

    fn token_by_refresh(&mut self, digest: &[u8; 32]) -> Result<Option<TokenRecord>, ApiError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM oauth_tokens WHERE portal_id = ?1 AND refresh_digest = ?2"
        ))?;
        Ok(stmt
            .query_row(params![self.portal, &digest[..]], token_from_row)
            .optional()?)
    }

    fn use_refresh_token(&mut self, digest: &[u8; 32]) -> Result<(), ApiError> {
        self.conn.execute(
            "UPDATE oauth_tokens SET refresh_used = TRUE WHERE portal_id = ?1 AND refresh_digest = ?2",
            params![self.portal, &digest[..]],
        )?;
        Ok(())
    }

    fn webhooks_of_user(&mut self, user_id: i64) -> Result<Vec<WebhookRecord>, ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, user_id, code_digest, scopes, active, created, blocked FROM webhooks
             WHERE portal_id = ?1 AND user_id = ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![self.portal, user_id], webhook_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn webhooks(&mut self) -> Result<Vec<WebhookRecord>, ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, user_id, code_digest, scopes, active, created, blocked FROM webhooks
             WHERE portal_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([self.portal], webhook_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn insert_webhook(
        &mut self,
        user_id: i64,
        code_digest: &[u8; 32],
        scopes: &[String],
    ) -> Result<i64, ApiError> {
        let id = self.next_id("webhook")?;
        self.conn.execute(
            "INSERT INTO webhooks (portal_id, id, user_id, code_digest, scopes, active, created)
             VALUES (?1, ?2, ?3, ?4, ?5, TRUE, ?6)",
            params![
                self.portal,
                id,
                user_id,
                &code_digest[..],
                scopes.join(","),
                self.now_iso()
            ],
        )?;
        Ok(id)
    }

    fn revoke_webhook(&mut self, id: i64) -> Result<bool, ApiError> {
        let n = self.conn.execute(
            "UPDATE webhooks SET active = FALSE WHERE portal_id = ?1 AND id = ?2",
            params![self.portal, id],
        )?;
        Ok(n == 1)
    }

    fn item(&mut self, entity_type_id: i64, id: i64) -> Result<Option<ItemRecord>, ApiError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ITEM_COLUMNS} FROM crm_items WHERE portal_id = ?1 AND entity_type_id = ?2 AND id = ?3"
        ))?;
        Ok(stmt
            .query_row(params![self.portal, entity_type_id, id], item_from_row)
            .optional()?)
    }

    fn item_assignee(&mut self, entity_type_id: i64, id: i64) -> Result<Option<i64>, ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT assigned_by_id FROM crm_items WHERE portal_id = ?1 AND entity_type_id = ?2 AND id = ?3",
        )?;
        Ok(stmt
            .query_row(params![self.portal, entity_type_id, id], |r| r.get(0))
            .optional()?)
    }

    fn insert_item(&mut self, item: &ItemRecord) -> Result<i64, ApiError> {
        let id = self.next_id(&format!("item:{}", item.entity_type_id))?;
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO crm_items (portal_id, entity_type_id, id, title, assigned_by_id, created_by,
                 updated_by, created_time, updated_time, extra)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        stmt.execute(params![
            self.portal,
            item.entity_type_id,
            id,
            item.title,
            item.assigned_by_id,
            item.created_by,
            item.updated_by,
            item.created_time,
            item.updated_time,
            Value::Object(item.extra.clone()).to_string(),
        ])?;
        self.count_items(item.entity_type_id, 1)?;
        Ok(id)
    }

    fn delete_item(&mut self, entity_type_id: i64, id: i64) -> Result<bool, ApiError> {
        let n = self.conn.execute(
            "DELETE FROM crm_items WHERE portal_id = ?1 AND entity_type_id = ?2 AND id = ?3",
            params![self.portal, entity_type_id, id],
        )?;
        if n == 1 {
            self.count_items(entity_type_id, -1)?;
        }
        Ok(n == 1)
    }

    fn update_item(&mut self, item: &ItemRecord) -> Result<(), ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE crm_items SET title = ?4, assigned_by_id = ?5, created_by = ?6, updated_by = ?7,
                 created_time = ?8, updated_time = ?9, extra = ?10
             WHERE portal_id = ?1 AND entity_type_id = ?2 AND id = ?3",
        )?;
        stmt.execute(params![
            self.portal,
            item.entity_type_id,
            item.id,
            item.title,
            item.assigned_by_id,
            item.created_by,
            item.updated_by,
            item.created_time,
            item.updated_time,
            Value::Object(item.extra.clone()).to_string(),
        ])?;
        Ok(())
    }

    fn list_items(
        &mut self,
        entity_type_id: i64,
        query: &ListQuery,
    ) -> Result<PageOf<ItemRecord>, ApiError> {
        let (page_sql, count_sql, args) = items_page_sql(self.portal, entity_type_id, query);
        if query.count && query.filter.matches_everything() {
            // The total of a whole type is kept in `crm_item_counts`: one row, not a table count.
            let mut page = self.page(&page_sql, &count_sql, &args, false, item_from_row)?;
            page.total = Some(self.item_count(entity_type_id)?);
            return Ok(page);
        }
        self.page(&page_sql, &count_sql, &args, query.count, item_from_row)
    }

    fn has_items(&mut self, entity_type_id: i64) -> Result<bool, ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT 1 FROM crm_items WHERE portal_id = ?1 AND entity_type_id = ?2 LIMIT 1",
        )?;
        Ok(stmt
            .query_row(params![self.portal, entity_type_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn dynamic_type(&mut self, id: i64) -> Result<Option<DynamicTypeRecord>, ApiError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {DYNAMIC_TYPE_COLUMNS} FROM crm_dynamic_types WHERE portal_id = ?1 AND id = ?2"
        ))?;
        Ok(stmt
            .query_row(params![self.portal, id], dynamic_type_from_row)
            .optional()?)
    }

    fn dynamic_type_by_entity_type(
        &mut self,
        entity_type_id: i64,
    ) -> Result<Option<DynamicTypeRecord>, ApiError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {DYNAMIC_TYPE_COLUMNS} FROM crm_dynamic_types
             WHERE portal_id = ?1 AND entity_type_id = ?2"
        ))?;
        Ok(stmt
            .query_row(params![self.portal, entity_type_id], dynamic_type_from_row)
            .optional()?)
    }

    fn dynamic_entity_type_ids(&mut self) -> Result<Vec<i64>, ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT entity_type_id FROM crm_dynamic_types WHERE portal_id = ?1 ORDER BY entity_type_id",
        )?;
        let rows = stmt.query_map([self.portal], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn insert_dynamic_type(&mut self, t: &DynamicTypeRecord) -> Result<i64, ApiError> {
        let id = self.next_id("dynamic_type")?;
        self.conn.execute(
            &format!(
                "INSERT INTO crm_dynamic_types (portal_id, {DYNAMIC_TYPE_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            params![
                self.portal,
                id,
                t.entity_type_id,
                t.title,
                t.created_by,
                t.updated_by,
                t.created_time,
                t.updated_time,
                Value::Object(t.settings.clone()).to_string(),
            ],
        )?;
        Ok(id)
    }

    fn update_dynamic_type(&mut self, t: &DynamicTypeRecord) -> Result<(), ApiError> {
        self.conn.execute(
            "UPDATE crm_dynamic_types SET title = ?3, updated_by = ?4, updated_time = ?5, settings = ?6
             WHERE portal_id = ?1 AND id = ?2",
            params![
                self.portal,
                t.id,
                t.title,
                t.updated_by,
                t.updated_time,
                Value::Object(t.settings.clone()).to_string(),
            ],
        )?;
        Ok(())
    }

    fn delete_dynamic_type(&mut self, id: i64) -> Result<bool, ApiError> {
        let n = self.conn.execute(
            "DELETE FROM crm_dynamic_types WHERE portal_id = ?1 AND id = ?2",
            params![self.portal, id],
        )?;
        Ok(n == 1)
    }

    fn list_dynamic_types(
        &mut self,
        offset: u64,
        limit: u64,
        count: bool,
    ) -> Result<PageOf<DynamicTypeRecord>, ApiError> {
        let page_sql = format!(
            "SELECT {DYNAMIC_TYPE_COLUMNS} FROM crm_dynamic_types WHERE portal_id = ?
             ORDER BY id LIMIT {limit} OFFSET {offset}"
        );
        let count_sql = "SELECT COUNT(*) FROM crm_dynamic_types WHERE portal_id = ?";
        let args = vec![SqlArg::Integer(self.portal)];
        self.page(&page_sql, count_sql, &args, count, dynamic_type_from_row)
    }

    fn activity(&mut self, id: i64) -> Result<Option<ActivityRecord>, ApiError> {
        // SQLite's BEGIN IMMEDIATE already holds the database write lock: no row lock needed.
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ACTIVITY_COLUMNS} FROM activities WHERE portal_id = ?1 AND id = ?2"
        ))?;
        Ok(stmt
            .query_row(params![self.portal, id], activity_from_row)
            .optional()?)
    }

    fn insert_activity(&mut self, a: &ActivityRecord) -> Result<i64, ApiError> {
        let id = self.next_id("activity")?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "INSERT INTO activities (portal_id, {ACTIVITY_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)"
        ))?;
        let extra = Value::Object(a.extra.clone()).to_string();
        stmt.execute(&activity_values(&self.portal, &id, a, &extra)[..])?;
        Ok(id)
    }

    fn set_activity_owner(
        &mut self,
        id: i64,
        owner: Binding,
        editor_id: i64,
    ) -> Result<(), ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE activities SET owner_type_id = ?3, owner_id = ?4, editor_id = ?5, last_updated = ?6
             WHERE portal_id = ?1 AND id = ?2",
        )?;
        stmt.execute(params![
            self.portal,
            id,
            owner.entity_type_id,
            owner.entity_id,
            editor_id,
            self.now_iso()
        ])?;
        Ok(())
    }

    fn update_activity(&mut self, a: &ActivityRecord) -> Result<(), ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE activities SET type_id = ?3, provider_id = ?4, provider_type_id = ?5, subject = ?6,
                 description = ?7, responsible_id = ?8, author_id = ?9, editor_id = ?10,
                 owner_type_id = ?11, owner_id = ?12, deadline = ?13, start_time = ?14, end_time = ?15,
                 completed = ?16, status = ?17, priority = ?18, direction = ?19, created = ?20,
                 last_updated = ?21, extra = ?22
             WHERE portal_id = ?1 AND id = ?2",
        )?;
        let extra = Value::Object(a.extra.clone()).to_string();
        stmt.execute(&activity_values(&self.portal, &a.id, a, &extra)[..])?;
        Ok(())
    }

    fn list_activities(&mut self, query: &ListQuery) -> Result<PageOf<ActivityRecord>, ApiError> {
        let (page_sql, count_sql, args) = activities_page_sql(self.portal, query);
        self.page(&page_sql, &count_sql, &args, query.count, activity_from_row)
    }

    fn delete_activity(&mut self, id: i64) -> Result<bool, ApiError> {
        self.conn.execute(
            "DELETE FROM activity_bindings WHERE portal_id = ?1 AND activity_id = ?2",
            params![self.portal, id],
        )?;
        let n = self.conn.execute(
            "DELETE FROM activities WHERE portal_id = ?1 AND id = ?2",
            params![self.portal, id],
        )?;
        Ok(n == 1)
    }

    fn bindings(&mut self, activity_id: i64) -> Result<Vec<Binding>, ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT entity_type_id, entity_id FROM activity_bindings
             WHERE portal_id = ?1 AND activity_id = ?2 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![self.portal, activity_id], |r| {
            Ok(Binding::new(r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn insert_binding(&mut self, activity_id: i64, b: Binding) -> Result<(), ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO activity_bindings (portal_id, activity_id, seq, entity_type_id, entity_id)
             VALUES (?1, ?2,
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM activity_bindings WHERE portal_id = ?1 AND activity_id = ?2),
                 ?3, ?4)",
        )?;
        match stmt.execute(params![
            self.portal,
            activity_id,
            b.entity_type_id,
            b.entity_id
        ]) {
            Ok(_) => Ok(()),
            Err(e) if is_constraint_violation(&e) => {
                Err(RestError::new(ErrorCode::ActivityIsAlreadyBound).into())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn delete_binding(&mut self, activity_id: i64, b: Binding) -> Result<bool, ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "DELETE FROM activity_bindings
             WHERE portal_id = ?1 AND activity_id = ?2 AND entity_type_id = ?3 AND entity_id = ?4",
        )?;
        let n = stmt.execute(params![
            self.portal,
            activity_id,
            b.entity_type_id,
            b.entity_id
        ])?;
        Ok(n == 1)
    }

    fn replace_bindings(&mut self, activity_id: i64, bindings: &[Binding]) -> Result<(), ApiError> {
        self.conn.execute(
            "DELETE FROM activity_bindings WHERE portal_id = ?1 AND activity_id = ?2",
            params![self.portal, activity_id],
        )?;
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO activity_bindings (portal_id, activity_id, seq, entity_type_id, entity_id)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (seq, b) in bindings.iter().enumerate() {
            stmt.execute(params![
                self.portal,
                activity_id,
                seq as i64 + 1,
                b.entity_type_id,
                b.entity_id
            ])?;
        }
        Ok(())
    }

    fn now_unix(&self) -> f64 {
        self.now
    }

    fn server_key(&mut self, name: &str, fresh: &[u8; 32]) -> Result<Vec<u8>, ApiError> {
        self.conn.execute(
            "INSERT INTO server_keys (portal_id, name, secret) VALUES (?1, ?2, ?3)
             ON CONFLICT (portal_id, name) DO NOTHING",
            params![self.portal, name, &fresh[..]],
        )?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT secret FROM server_keys WHERE portal_id = ?1 AND name = ?2")?;
        Ok(stmt.query_row(params![self.portal, name], |r| r.get(0))?)
    }

    fn insert_event_handler(&mut self, h: &EventHandlerRecord) -> Result<Option<i64>, ApiError> {
        let id = self.next_id("event_handler")?;
        let n = self.conn.execute(
            "INSERT INTO event_handlers (portal_id, id, app_id, event_name, handler, user_id, connector_id, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (portal_id, app_id, event_name, handler, user_id, connector_id) DO NOTHING",
            params![
                self.portal,
                id,
                h.app_id,
                h.event_name,
                h.handler,
                h.user_id,
                h.connector_id,
                self.now_iso()
            ],
        )?;
        Ok((n == 1).then_some(id))
    }

    fn event_handlers_of_app(&mut self, app_id: i64) -> Result<Vec<EventHandlerRecord>, ApiError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {HANDLER_COLUMNS} FROM event_handlers WHERE portal_id = ?1 AND app_id = ?2 ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![self.portal, app_id], handler_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn event_handlers_for(
        &mut self,
        event_name: &str,
    ) -> Result<Vec<EventHandlerRecord>, ApiError> {
        let mut stmt = self.conn.prepare_cached(&handlers_for_sql())?;
        let rows = stmt.query_map(params![self.portal, event_name], handler_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn delete_event_handler(&mut self, id: i64) -> Result<bool, ApiError> {
        let n = self.conn.execute(
            "DELETE FROM event_handlers WHERE portal_id = ?1 AND id = ?2",
            params![self.portal, id],
        )?;
        Ok(n == 1)
    }

    fn insert_outbox(&mut self, o: &OutboxRecord) -> Result<i64, ApiError> {
        let id = self.next_id("event_outbox")?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "INSERT INTO event_outbox (portal_id, {OUTBOX_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ))?;
        stmt.execute(params![
            self.portal,
            id,
            o.handler_id,
            o.app_id,
            o.event_name,
            o.handler,
            o.auth_user_id,
            o.data.to_string(),
            o.ts,
            o.attempts,
            o.next_attempt_at
        ])?;
        Ok(id)
    }

    fn claim_outbox(
        &mut self,
        now: f64,
        claim_until: f64,
        limit: u64,
    ) -> Result<Vec<OutboxRecord>, ApiError> {
        let mut stmt = self.conn.prepare_cached(&due_outbox_sql())?;
        let rows: Vec<OutboxRecord> = stmt
            .query_map(params![self.portal, now, limit as i64], outbox_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        let mut claim = self.conn.prepare_cached(
            "UPDATE event_outbox SET next_attempt_at = ?3 WHERE portal_id = ?1 AND id = ?2",
        )?;
        for row in &rows {
            claim.execute(params![self.portal, row.id, claim_until])?;
        }
        Ok(rows)
    }

    fn reschedule_outbox(&mut self, id: i64, attempts: i64, due: f64) -> Result<(), ApiError> {
        self.conn.execute(
            "UPDATE event_outbox SET attempts = ?3, next_attempt_at = ?4 WHERE portal_id = ?1 AND id = ?2",
            params![self.portal, id, attempts, due],
        )?;
        Ok(())
    }

    fn delete_outbox(&mut self, id: i64) -> Result<(), ApiError> {
        self.conn.execute(
            "DELETE FROM event_outbox WHERE portal_id = ?1 AND id = ?2",
            params![self.portal, id],
        )?;
        Ok(())
    }

    fn insert_delivery(&mut self, d: &DeliveryRecord) -> Result<(), ApiError> {
        let id = self.next_id("event_delivery")?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "INSERT INTO event_deliveries (portal_id, {DELIVERY_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ))?;
        stmt.execute(params![
            self.portal,
            id,
            d.outbox_id,
            d.handler_id,
            d.event_name,
            d.handler,
            d.attempt,
            d.at,
            d.status,
            d.outcome,
            d.detail
        ])?;
        // A primary-key range: only the few entries that just fell out of the window.
        let mut prune = self
            .conn
            .prepare_cached("DELETE FROM event_deliveries WHERE portal_id = ?1 AND id <= ?2")?;
        prune.execute(params![self.portal, id - DELIVERY_LOG_KEEP])?;
        Ok(())
    }

    fn deliveries(&mut self, limit: u64) -> Result<Vec<DeliveryRecord>, ApiError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM event_deliveries WHERE portal_id = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![self.portal, limit as i64], |r| {
            Ok(DeliveryRecord {
                id: r.get(0)?,
                outbox_id: r.get(1)?,
                handler_id: r.get(2)?,
                event_name: r.get(3)?,
                handler: r.get(4)?,
                attempt: r.get(5)?,
                at: r.get(6)?,
                status: r.get(7)?,
                outcome: r.get(8)?,
                detail: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn record_offline_event(&mut self, e: &OfflineEventRecord) -> Result<(), ApiError> {
        let id = self.next_id("event_offline")?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "INSERT INTO event_offline (portal_id, {OFFLINE_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (portal_id, app_id, connector_id, process_id, error, message_id)
             DO UPDATE SET timestamp_x = excluded.timestamp_x, user_id = excluded.user_id"
        ))?;
        stmt.execute(params![
            self.portal,
            id,
            e.app_id,
            e.connector_id,
            e.event_name,
            e.message_id,
            e.data,
            e.user_id,
            e.timestamp_x,
            e.process_id,
            e.error as i64
        ])?;
        Ok(())
    }

    fn offline_events(
        &mut self,
        app_id: i64,
        connector_id: &str,
        query: &ListQuery,
    ) -> Result<PageOf<OfflineEventRecord>, ApiError> {
        let (page_sql, count_sql, args) =
            offline_page_sql(self.portal, app_id, connector_id, query);
        self.page(&page_sql, &count_sql, &args, query.count, offline_from_row)
    }

    fn mark_offline_events(&mut self, ids: &[i64], process_id: &str) -> Result<(), ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE event_offline SET process_id = ?3 WHERE portal_id = ?1 AND id = ?2",
        )?;
        for id in ids {
            stmt.execute(params![self.portal, id, process_id])?;
        }
        Ok(())
    }

    fn mark_offline_errors(
        &mut self,
        app_id: i64,
        connector_id: &str,
        process_id: &str,
        message_ids: &[String],
    ) -> Result<(), ApiError> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE event_offline SET error = 1, process_id = ''
             WHERE portal_id = ?1 AND app_id = ?2 AND connector_id = ?3 AND process_id = ?4
                 AND message_id = ?5",
        )?;
        for message_id in message_ids {
            stmt.execute(params![
                self.portal,
                app_id,
                connector_id,
                process_id,
                message_id
            ])?;
        }
        Ok(())
    }

    fn clear_offline_events(
        &mut self,
        app_id: i64,
        connector_id: &str,
        process_id: &str,
        only: OfflineSelection<'_>,
    ) -> Result<(), ApiError> {
        let scope = "portal_id = ?1 AND app_id = ?2 AND connector_id = ?3 AND process_id = ?4";
        match only {
            OfflineSelection::All => {
                self.conn.execute(
                    &format!("DELETE FROM event_offline WHERE {scope}"),
                    params![self.portal, app_id, connector_id, process_id],
                )?;
            }
            OfflineSelection::Ids(ids) => {
                let mut stmt = self.conn.prepare_cached(&format!(
                    "DELETE FROM event_offline WHERE {scope} AND id = ?5"
                ))?;
                for id in ids {
                    stmt.execute(params![self.portal, app_id, connector_id, process_id, id])?;
                }
            }
            OfflineSelection::MessageIds(message_ids) => {
                let mut stmt = self.conn.prepare_cached(&format!(
                    "DELETE FROM event_offline WHERE {scope} AND message_id = ?5"
                ))?;
                for message_id in message_ids {
                    stmt.execute(params![
                        self.portal,
                        app_id,
                        connector_id,
                        process_id,
                        message_id
                    ])?;
                }
            }
        }
        Ok(())
    }
}

const HANDLER_COLUMNS: &str = "id, app_id, event_name, handler, user_id, connector_id";

/// The handlers of one event (`?1` portal, `?2` event): run on every change.
fn handlers_for_sql() -> String {
    format!(
        "SELECT {HANDLER_COLUMNS} FROM event_handlers WHERE portal_id = ?1 AND event_name = ?2 ORDER BY id"
    )
}

/// The outbox rows due (`?1` portal, `?2` now, `?3` limit), oldest first.
fn due_outbox_sql() -> String {
    format!(
        "SELECT {OUTBOX_COLUMNS} FROM event_outbox WHERE portal_id = ?1 AND next_attempt_at <= ?2
         ORDER BY next_attempt_at, id LIMIT ?3"
    )
}

/// The page and count statements over one application's offline queue.
fn offline_page_sql(
    portal: PortalId,
    app_id: i64,
    connector_id: &str,
    query: &ListQuery,
) -> (String, String, Vec<SqlArg>) {
    let mut args = vec![
        SqlArg::Integer(portal),
        SqlArg::Integer(app_id),
        SqlArg::Text(connector_id.to_string()),
    ];
    let condition = compile_filter(&query.filter, &mut args);
    let where_clause = format!("portal_id = ? AND app_id = ? AND connector_id = ? AND {condition}");
    (
        format!(
            "SELECT {OFFLINE_COLUMNS} FROM event_offline WHERE {where_clause} ORDER BY {} LIMIT {} OFFSET {}",
            order_by(&query.order),
            query.limit,
            query.offset
        ),
        format!("SELECT COUNT(*) FROM event_offline WHERE {where_clause}"),
        args,
    )
}

fn handler_from_row(r: &Row<'_>) -> rusqlite::Result<EventHandlerRecord> {
    Ok(EventHandlerRecord {
        id: r.get(0)?,
        app_id: r.get(1)?,
        event_name: r.get(2)?,
        handler: r.get(3)?,
        user_id: r.get(4)?,
        connector_id: r.get(5)?,
    })
}

const OUTBOX_COLUMNS: &str =
    "id, handler_id, app_id, event_name, handler, auth_user_id, data, ts, \
                              attempts, next_attempt_at";

fn outbox_from_row(r: &Row<'_>) -> rusqlite::Result<OutboxRecord> {
    let data: String = r.get(6)?;
    Ok(OutboxRecord {
        id: r.get(0)?,
        handler_id: r.get(1)?,
        app_id: r.get(2)?,
        event_name: r.get(3)?,
        handler: r.get(4)?,
        auth_user_id: r.get(5)?,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
        ts: r.get(7)?,
        attempts: r.get(8)?,
        next_attempt_at: r.get(9)?,
    })
}

const DELIVERY_COLUMNS: &str =
    "id, outbox_id, handler_id, event_name, handler, attempt, at, status, outcome, detail";

const OFFLINE_COLUMNS: &str = "id, app_id, connector_id, event_name, message_id, data, user_id, \
                               timestamp_x, process_id, error";

fn offline_from_row(r: &Row<'_>) -> rusqlite::Result<OfflineEventRecord> {
    Ok(OfflineEventRecord {
        id: r.get(0)?,
        app_id: r.get(1)?,
        connector_id: r.get(2)?,
        event_name: r.get(3)?,
        message_id: r.get(4)?,
        data: r.get(5)?,
        user_id: r.get(6)?,
        timestamp_x: r.get(7)?,
        process_id: r.get(8)?,
        error: r.get::<_, i64>(9)? != 0,
    })
}

impl SqliteTx<'_> {
    /// Runs a page query and, when asked, its count query with the same arguments.
    fn page<T>(
        &self,
        page_sql: &str,
        count_sql: &str,
        args: &[SqlArg],
        count: bool,
        from_row: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<PageOf<T>, ApiError> {
        let total = if count {
            let mut stmt = self.conn.prepare_cached(count_sql)?;
            let n: i64 = stmt.query_row(rusqlite::params_from_iter(args), |r| r.get(0))?;
            Some(n.max(0) as u64)
        } else {
            None
        };
        let mut stmt = self.conn.prepare_cached(page_sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(PageOf { rows, total })
    }
}

/// A bound SQL parameter.
type SqlArg = rusqlite::types::Value;

/// The page and count statements of `crm.item.list`-style queries, with their arguments.
fn items_page_sql(
    portal: PortalId,
    entity_type_id: i64,
    query: &ListQuery,
) -> (String, String, Vec<SqlArg>) {
    let mut args = vec![SqlArg::Integer(portal), SqlArg::Integer(entity_type_id)];
    let condition = compile_filter(&query.filter, &mut args);
    let where_clause = format!("portal_id = ? AND entity_type_id = ? AND {condition}");
    (
        format!(
            "SELECT {ITEM_COLUMNS} FROM crm_items WHERE {where_clause} ORDER BY {} LIMIT {} OFFSET {}",
            order_by(&query.order),
            query.limit,
            query.offset
        ),
        format!("SELECT COUNT(*) FROM crm_items WHERE {where_clause}"),
        args,
    )
}

/// The page and count statements of `crm.activity.list`, with their arguments.
///
/// A filter on the activities bound to one item is served from the `(item, activity)` binding
/// index as a join, so that a page costs the same however many activities the item has; other
/// filters run against the activity table and its indexes.
fn activities_page_sql(portal: PortalId, query: &ListQuery) -> (String, String, Vec<SqlArg>) {
    let mut conjuncts = Vec::new();
    flatten_all(&query.filter, &mut conjuncts);
    let bound_to_one = conjuncts.iter().position(
        |f| matches!(f, Filter::BoundTo(pairs) if matches!(pairs.as_slice(), [(Some(_), Some(_))])),
    );
    let Some(position) = bound_to_one else {
        let mut args = vec![SqlArg::Integer(portal)];
        let condition = compile_filter(&query.filter, &mut args);
        let where_clause = format!("portal_id = ? AND {condition}");
        return (
            format!(
                "SELECT {ACTIVITY_COLUMNS} FROM activities WHERE {where_clause} ORDER BY {} LIMIT {} OFFSET {}",
                order_by(&query.order),
                query.limit,
                query.offset
            ),
            format!("SELECT COUNT(*) FROM activities WHERE {where_clause}"),
            args,
        );
    };
    let Filter::BoundTo(pairs) = conjuncts.remove(position) else {
        unreachable!("position found a BoundTo")
    };
    let (entity_type_id, entity_id) = (pairs[0].0.unwrap_or(0), pairs[0].1.unwrap_or(0));
    let mut args = vec![
        SqlArg::Integer(portal),
        SqlArg::Integer(entity_type_id),
        SqlArg::Integer(entity_id),
    ];
    // The id bounds, repeated on the binding row so the index range starts at the cursor.
    let mut id_bounds = Vec::new();
    for f in &conjuncts {
        if let Filter::Compare {
            column: Column::Plain("id"),
            op: op @ (CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le | CompareOp::Eq),
            values,
        } = f
        {
            if let [value @ SqlValue::Int(_)] = values.as_slice() {
                let sql_op = match op {
                    CompareOp::Gt => ">",
                    CompareOp::Ge => ">=",
                    CompareOp::Lt => "<",
                    CompareOp::Le => "<=",
                    _ => "=",
                };
                id_bounds.push(format!(" AND jb.activity_id {sql_op} ?"));
                args.push(sql_arg(value));
            }
        }
    }
    args.push(SqlArg::Integer(portal));
    let rest: Vec<Filter> = conjuncts.into_iter().cloned().collect();
    let condition = compile_filter(&Filter::All(rest), &mut args);
    // Without statistics SQLite may walk the binding primary key by activity id instead, which
    // costs O(bindings after the cursor); name the index (SQLite syntax, this backend only).
    let from = "activities JOIN activity_bindings jb INDEXED BY activity_bindings_by_item
                 ON jb.portal_id = activities.portal_id AND jb.activity_id = activities.id";
    let where_clause = format!(
        "jb.portal_id = ? AND jb.entity_type_id = ? AND jb.entity_id = ?{} AND activities.portal_id = ? AND {condition}",
        id_bounds.concat()
    );
    let order = if query.order.is_empty() || query.order == [(Column::Plain("id"), false)] {
        "jb.activity_id ASC".to_string()
    } else if query.order == [(Column::Plain("id"), true)] {
        "jb.activity_id DESC".to_string()
    } else {
        order_by(&query.order)
    };
    (
        format!(
            "SELECT {ACTIVITY_COLUMNS} FROM {from} WHERE {where_clause} ORDER BY {order} LIMIT {} OFFSET {}",
            query.limit, query.offset
        ),
        format!("SELECT COUNT(*) FROM {from} WHERE {where_clause}"),
        args,
    )
}

/// The conjuncts of nested `All` groups.
fn flatten_all<'a>(filter: &'a Filter, out: &mut Vec<&'a Filter>) {
    match filter {
        Filter::All(parts) => parts.iter().for_each(|p| flatten_all(p, out)),
        other => out.push(other),
    }
}

fn column_sql(column: Column) -> String {
    match column {
        Column::Plain(name) => name.to_string(),
        Column::Extra(key) => format!("json_extract(extra, '$.{key}')"),
    }
}

/// `ORDER BY` keys with an `id` tie-breaker in the last key's direction, so pages never overlap.
fn order_by(order: &[(Column, bool)]) -> String {
    let dir = |desc: bool| if desc { "DESC" } else { "ASC" };
    let mut keys: Vec<String> = order
        .iter()
        .map(|(c, desc)| format!("{} {}", column_sql(*c), dir(*desc)))
        .collect();
    if !order.iter().any(|(c, _)| *c == Column::Plain("id")) {
        let last_desc = order.last().is_some_and(|(_, desc)| *desc);
        keys.push(format!("id {}", dir(last_desc)));
    }
    keys.join(", ")
}

fn sql_arg(value: &SqlValue) -> SqlArg {
    match value {
        SqlValue::Int(i) => SqlArg::Integer(*i),
        SqlValue::Real(f) => SqlArg::Real(*f),
        SqlValue::Text(t) => SqlArg::Text(t.clone()),
        SqlValue::Null => SqlArg::Null,
    }
}

fn placeholders(values: &[SqlValue], args: &mut Vec<SqlArg>) -> String {
    args.extend(values.iter().map(sql_arg));
    vec!["?"; values.len()].join(", ")
}

/// A literal id list for `IN (…)`; `NULL` for none, which matches nothing.
fn int_list(ids: &[i64]) -> String {
    if ids.is_empty() {
        return "NULL".into();
    }
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn compile_compare(
    column: Column,
    op: CompareOp,
    values: &[SqlValue],
    args: &mut Vec<SqlArg>,
) -> String {
    let c = column_sql(column);
    let first = values.first().unwrap_or(&SqlValue::Null);
    let empty_text = matches!(first, SqlValue::Text(t) if t.is_empty());
    let one = |args: &mut Vec<SqlArg>, sql: String| {
        args.push(sql_arg(first));
        sql
    };
    match op {
        CompareOp::Eq if *first == SqlValue::Null => format!("{c} IS NULL"),
        CompareOp::Eq if empty_text => format!("({c} IS NULL OR {c} = '')"),
        CompareOp::Eq => one(args, format!("{c} = ?")),
        CompareOp::NotEq if *first == SqlValue::Null => format!("{c} IS NOT NULL"),
        CompareOp::NotEq if empty_text => format!("({c} IS NOT NULL AND {c} <> '')"),
        CompareOp::NotEq => one(args, format!("({c} IS NULL OR {c} <> ?)")),
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
            if *first == SqlValue::Null =>
        {
            "1 = 0".into()
        }
        CompareOp::Gt => one(args, format!("{c} > ?")),
        CompareOp::Ge => one(args, format!("{c} >= ?")),
        CompareOp::Lt => one(args, format!("{c} < ?")),
        CompareOp::Le => one(args, format!("{c} <= ?")),
        CompareOp::In if values.is_empty() => "1 = 0".into(),
        CompareOp::In => format!("{c} IN ({})", placeholders(values, args)),
        CompareOp::NotIn if values.is_empty() => "1 = 1".into(),
        CompareOp::NotIn => format!(
            "({c} IS NULL OR {c} NOT IN ({}))",
            placeholders(values, args)
        ),
        CompareOp::Like => one(args, format!("{c} LIKE ? ESCAPE '\\'")),
        CompareOp::NotLike => one(args, format!("({c} IS NULL OR {c} NOT LIKE ? ESCAPE '\\')")),
    }
}

/// Compiles a filter tree to a condition with `?` placeholders, pushing the arguments in order.
fn compile_filter(filter: &Filter, args: &mut Vec<SqlArg>) -> String {
    match filter {
        Filter::All(parts) if parts.is_empty() => "1 = 1".into(),
        Filter::Any(parts) if parts.is_empty() => "1 = 0".into(),
        Filter::All(parts) | Filter::Any(parts) => {
            let glue = if matches!(filter, Filter::All(_)) {
                " AND "
            } else {
                " OR "
            };
            let parts: Vec<String> = parts.iter().map(|p| compile_filter(p, args)).collect();
            format!("({})", parts.join(glue))
        }
        Filter::Compare { column, op, values } => compile_compare(*column, *op, values, args),
        Filter::BoundTo(pairs) => {
            if pairs.is_empty() {
                return "1 = 0".into();
            }
            let mut alternatives = Vec::new();
            for (entity_type_id, entity_id) in pairs {
                let mut parts = Vec::new();
                if let Some(t) = entity_type_id {
                    parts.push("entity_type_id = ?");
                    args.push(SqlArg::Integer(*t));
                }
                if let Some(i) = entity_id {
                    parts.push("entity_id = ?");
                    args.push(SqlArg::Integer(*i));
                }
                alternatives.push(if parts.is_empty() {
                    "1 = 1".to_string()
                } else {
                    format!("({})", parts.join(" AND "))
                });
            }
            format!(
                "id IN (SELECT activity_id FROM activity_bindings WHERE portal_id = activities.portal_id AND ({}))",
                alternatives.join(" OR ")
            )
        }
        Filter::ReadableThroughBindings {
            all_types,
            own_types,
            user_id,
        } => {
            args.push(SqlArg::Integer(*user_id));
            format!(
                "EXISTS (SELECT 1 FROM activity_bindings b WHERE b.portal_id = activities.portal_id
                     AND b.activity_id = activities.id
                     AND (b.entity_type_id IN ({}) OR (b.entity_type_id IN ({}) AND EXISTS (
                         SELECT 1 FROM crm_items i WHERE i.portal_id = b.portal_id
                             AND i.entity_type_id = b.entity_type_id AND i.id = b.entity_id
                             AND i.assigned_by_id = ?))))",
                int_list(all_types),
                int_list(own_types)
            )
        }
    }
}

#[cfg(test)]
mod plan_tests {
    //! Every list page shape must be served by an index: no full `SCAN` of the listed table and no
    //! sort of the whole result (`USE TEMP B-TREE FOR ORDER BY`).

    use super::*;
    use crate::store::query::like_literal;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        (dir, store)
    }

    use crate::store::query::plan_test_queries::{cmp, cursor, uncounted};

    #[track_caller]
    fn assert_indexed(plan: &[String], table: &str, index: &str) {
        let text = plan.join("\n");
        assert!(
            plan.iter()
                .any(|l| l.starts_with(&format!("SEARCH {table} ")) && l.contains(index)),
            "no indexed search of {table} via {index}:\n{text}"
        );
        assert!(
            !plan.iter().any(|l| l.starts_with(&format!("SCAN {table}"))),
            "full scan of {table}:\n{text}"
        );
        assert!(
            !text.contains("TEMP B-TREE FOR ORDER BY"),
            "sorts the result:\n{text}"
        );
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
        let plan = s
            .explain_items_page(1, 2, &uncounted(cursor(500_000), vec![ID_ASC]))
            .unwrap();
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
            .explain_items_page(1, 2, &uncounted(extra, vec![ID_ASC]))
            .unwrap();
        assert_indexed(&plan, "crm_items", "id>?");
    }

    #[test]
    fn own_item_pages_use_the_assignee_index() {
        let (_dir, s) = store();
        let own = Filter::All(vec![
            cmp(
                Column::Plain("assigned_by_id"),
                CompareOp::Eq,
                SqlValue::Int(7),
            ),
            cursor(10),
        ]);
        let plan = s.explain_items_page(1, 2, &uncounted(own, vec![])).unwrap();
        assert_indexed(&plan, "crm_items", "crm_items_by_assignee");
    }

    #[test]
    fn activity_pages_in_default_order_use_the_start_time_index() {
        let (_dir, s) = store();
        let query = uncounted(
            Filter::everything(),
            vec![(Column::Plain("start_time"), false)],
        );
        let plan = s.explain_activities_page(1, &query).unwrap();
        assert_indexed(&plan, "activities", "activities_by_start_time");
    }

    #[test]
    fn activity_pages_with_an_id_cursor_seek_the_primary_key() {
        let (_dir, s) = store();
        let plan = s
            .explain_activities_page(1, &uncounted(cursor(500_000), vec![ID_ASC]))
            .unwrap();
        assert_indexed(&plan, "activities", "id>?");
    }

    #[test]
    fn activity_pages_by_owner_use_the_owner_index() {
        let (_dir, s) = store();
        let owner = Filter::All(vec![
            cmp(
                Column::Plain("owner_type_id"),
                CompareOp::Eq,
                SqlValue::Int(2),
            ),
            cmp(Column::Plain("owner_id"), CompareOp::Eq, SqlValue::Int(5)),
            cursor(0),
        ]);
        let plan = s
            .explain_activities_page(1, &uncounted(owner, vec![ID_ASC]))
            .unwrap();
        assert_indexed(&plan, "activities", "activities_by_owner");
    }

    #[test]
    fn event_lookups_use_their_indexes() {
        let (_dir, s) = store();
        let args = [SqlArg::Integer(1), SqlArg::Text("ONCRMDEALADD".into())];
        let plan = s.explain(&handlers_for_sql(), &args).unwrap();
        assert_indexed(&plan, "event_handlers", "event_handlers_by_event");
        let args = [SqlArg::Integer(1), SqlArg::Real(1e9), SqlArg::Integer(8)];
        let plan = s.explain(&due_outbox_sql(), &args).unwrap();
        assert_indexed(&plan, "event_outbox", "event_outbox_due");
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
        let (sql, _, args) = offline_page_sql(1, 1, "", &by_time);
        let plan = s.explain(&sql, &args).unwrap();
        assert_indexed(&plan, "event_offline", "event_offline_by_time");
        let by_id = uncounted(Filter::everything(), vec![ID_ASC]);
        let (sql, _, args) = offline_page_sql(1, 1, "", &by_id);
        let plan = s.explain(&sql, &args).unwrap();
        assert_indexed(&plan, "event_offline", "event_offline_by_id");
    }

    #[test]
    fn activity_pages_by_binding_use_the_binding_index() {
        let (_dir, s) = store();
        let bound = Filter::All(vec![Filter::BoundTo(vec![(Some(2), Some(5))]), cursor(0)]);
        let plan = s
            .explain_activities_page(1, &uncounted(bound, vec![ID_ASC]))
            .unwrap();
        let text = plan.join("\n");
        assert!(text.contains("activity_bindings_by_item"), "{text}");
        assert!(
            !plan.iter().any(|l| l.starts_with("SCAN activities")),
            "{text}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            .read(1, |tx| tx.list_items(entity_type_id, &query))
            .unwrap()
            .total
    }

    #[test]
    fn list_totals_follow_inserts_and_deletes_per_type_with_and_without_filters() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(total(&store, 2, Filter::everything()), Some(0));
        store
            .write(1, |tx| {
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
        let failed: Result<(), ApiError> = store.write(1, |tx| {
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

    /// Commits reach the database file without any commit crossing SQLite's inline checkpoint
    /// threshold: the background thread copied them out of the WAL.
    #[test]
    fn commits_are_checkpointed_into_the_database_file_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .write(1, |tx| {
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
