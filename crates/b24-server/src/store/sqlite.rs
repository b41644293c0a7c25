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

const ACTIVITY_COLUMNS: &str = "id, type_id, provider_id, provider_type_id, subject, description, \
    responsible_id, author_id, editor_id, owner_type_id, owner_id, deadline, start_time, end_time, \
    completed, status, priority, direction, created, last_updated, extra";

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

    fn list_items(
        &mut self,
        entity_type_id: i64,
        query: &ItemQuery,
    ) -> Result<PageOf<ItemRecord>, ApiError> {
        let mut conditions = vec!["portal_id = ?1", "entity_type_id = ?2"];
        let mut args: Vec<i64> = vec![self.portal, entity_type_id];
        let mut push = |cond: &'static str, value: Option<i64>| {
            if let Some(v) = value {
                conditions.push(cond);
                args.push(v);
            }
        };
        push("assigned_by_id = ?", query.assigned_to);
        push("id > ?", query.id_greater_than);
        push("id < ?", query.id_less_than);
        push("id = ?", query.id_equals);
        let where_clause = conditions.join(" AND ");
        let unfiltered = args.len() == 2;
        let total = if query.count && unfiltered {
            let mut stmt = self.conn.prepare_cached(
                "SELECT items FROM crm_item_counts WHERE portal_id = ?1 AND entity_type_id = ?2",
            )?;
            let items: Option<i64> = stmt
                .query_row(params![self.portal, entity_type_id], |r| r.get(0))
                .optional()?;
            Some(items.unwrap_or(0).max(0) as u64)
        } else if query.count {
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT COUNT(*) FROM crm_items WHERE {where_clause}"
            ))?;
            Some(stmt.query_row(rusqlite::params_from_iter(&args), |r| r.get::<_, i64>(0))? as u64)
        } else {
            None
        };
        let direction = if query.descending { "DESC" } else { "ASC" };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ITEM_COLUMNS} FROM crm_items WHERE {where_clause} ORDER BY id {direction} LIMIT {} OFFSET {}",
            query.limit, query.offset
        ))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(&args), item_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(PageOf { rows, total })
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
        stmt.execute(params![
            self.portal,
            id,
            a.type_id,
            a.provider_id,
            a.provider_type_id,
            a.subject,
            a.description,
            a.responsible_id,
            a.author_id,
            a.editor_id,
            a.owner_type_id,
            a.owner_id,
            a.deadline,
            a.start_time,
            a.end_time,
            a.completed,
            a.status,
            a.priority,
            a.direction,
            a.created,
            a.last_updated,
            Value::Object(a.extra.clone()).to_string(),
        ])?;
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

    fn total(store: &SqliteStore, entity_type_id: i64, query: ItemQuery) -> Option<u64> {
        let query = ItemQuery {
            limit: 50,
            count: true,
            ..query
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
        assert_eq!(total(&store, 2, ItemQuery::default()), Some(0));
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
        assert_eq!(total(&store, 2, ItemQuery::default()), Some(4));
        assert_eq!(total(&store, 3, ItemQuery::default()), Some(1));
        let after_two = ItemQuery {
            id_greater_than: Some(2),
            ..Default::default()
        };
        assert_eq!(total(&store, 2, after_two), Some(2), "ids 3 and 5");
        let failed: Result<(), ApiError> = store.write(1, |tx| {
            tx.insert_item(&item(2))?;
            Err(ErrorCode::AccessDenied.into())
        });
        assert!(failed.is_err());
        assert_eq!(
            total(&store, 2, ItemQuery::default()),
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
        assert_eq!(total(&store, 2, ItemQuery::default()), Some(2));
        assert_eq!(total(&store, 4, ItemQuery::default()), Some(1));
        assert_eq!(total(&store, 3, ItemQuery::default()), Some(0));
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
