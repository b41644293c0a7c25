//! The PostgreSQL backend: many server processes share one database.
//!
//! Every call is one transaction on a pooled connection: writes `READ COMMITTED`, reads
//! `REPEATABLE READ, READ ONLY` (one snapshot, as SQLite readers see). Writes lock what they change: rows they update are locked by the update itself,
//! sequences by `INSERT … ON CONFLICT DO UPDATE`, and [`Tx::activity`] reads the activity row
//! `FOR UPDATE` in write transactions, so the last-binding check and the delete that follows are
//! serialised across processes. No advisory locks and no LISTEN/NOTIFY: the SQL stays within what
//! PostgreSQL-compatible distributed engines accept.
//!
//! The schema is the same [`MIGRATIONS`] list as SQLite's; progress is recorded in the
//! `b24_schema_version` table (SQLite uses `PRAGMA user_version`). A URL may pick a schema with
//! `?options=-csearch_path%3D<schema>`; the tables are created in the first schema of the path.

use super::schema::MIGRATIONS;
use super::*;
use crate::clock::{iso, Clock};
use crate::error::ApiError;
use ::postgres::types::ToSql;
use ::postgres::{NoTls, Row};
use anyhow::Context as _;
use b24_protocol::{ErrorCode, RestError};
use r2d2_postgres::PostgresConnectionManager;
use std::sync::Arc;
use std::time::Duration;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// A pooled connection.
pub type PgConnection = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// The connection pool. Closing a connection blocks like any other call of the sync client, so
/// each handle lets go of the pool off the async runtime (see [`off_runtime`]).
pub struct PgPool(Option<Pool>);

impl PgPool {
    /// A connection, waiting up to the pool's connection timeout.
    pub fn get(&self) -> Result<PgConnection, r2d2::Error> {
        self.0
            .as_ref()
            .expect("the pool is present until drop")
            .get()
    }
}

impl Clone for PgPool {
    fn clone(&self) -> Self {
        PgPool(self.0.clone())
    }
}

impl Drop for PgPool {
    fn drop(&mut self) {
        let pool = self.0.take();
        off_runtime(move || drop(pool));
    }
}

/// One bound parameter.
type Param = Box<dyn ToSql + Sync + Send>;

/// The values of an activity row: the portal, then `ACTIVITY_COLUMNS` in order (`$1`..`$22`).
fn activity_values<'a>(
    portal: &'a PortalId,
    id: &'a i64,
    a: &'a ActivityRecord,
    extra: &'a (dyn ToSql + Sync),
) -> [&'a (dyn ToSql + Sync); 22] {
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

/// How long a call waits for a free connection before failing.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// See the module docs.
pub struct PgStore {
    pool: PgPool,
    clock: Arc<dyn Clock>,
}

/// Whether a `--database-url` names PostgreSQL.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl PgStore {
    /// Connects and runs the migrations that have not run yet.
    pub fn open(url: &str, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let config: ::postgres::Config = url.parse().context("could not parse the database URL")?;
        let manager = PostgresConnectionManager::new(config, NoTls);
        off_runtime(move || {
            let pool = PgPool(Some(
                r2d2::Pool::builder()
                    .max_size(16)
                    .min_idle(Some(1))
                    .connection_timeout(CONNECTION_TIMEOUT)
                    .build(manager)
                    .context("could not connect to PostgreSQL")?,
            ));
            let mut conn = pool.get().context("could not connect to PostgreSQL")?;
            migrate(&mut conn).context("could not migrate the database schema")?;
            drop(conn);
            Ok(Self { pool, clock })
        })
    }

    /// The connection pool (the PostgreSQL limiter state shares it).
    pub fn pool(&self) -> PgPool {
        self.pool.clone()
    }

    fn connection(&self) -> Result<PgConnection, ApiError> {
        self.pool
            .get()
            .map_err(|e| ApiError::internal(anyhow::anyhow!(e).context("no database connection")))
    }

    pub(super) fn read<R: Send>(
        &self,
        portal: PortalId,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, ApiError> + Send,
    ) -> Result<R, ApiError> {
        off_runtime(|| self.read_here(portal, f))
    }

    fn read_here<R>(
        &self,
        portal: PortalId,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let mut conn = self.connection()?;
        // One snapshot for every statement, as SQLite's read transactions see (a page and its
        // count agree).
        let mut tx = conn
            .build_transaction()
            .isolation_level(::postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let mut ptx = PgTx {
            tx: &mut tx,
            portal,
            now: self.clock.now(),
            writing: false,
        };
        f(&mut ptx)
        // Rolled back on drop: nothing to commit.
    }

    pub(super) fn write<R: Send>(
        &self,
        portal: PortalId,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, ApiError> + Send,
    ) -> Result<R, ApiError> {
        off_runtime(|| self.write_here(portal, f))
    }

    fn write_here<R>(
        &self,
        portal: PortalId,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let mut conn = self.connection()?;
        let mut tx = conn.transaction()?;
        let mut ptx = PgTx {
            tx: &mut tx,
            portal,
            now: self.clock.now(),
            writing: true,
        };
        let out = f(&mut ptx)?;
        tx.commit()?;
        Ok(out)
    }

    /// `EXPLAIN` of the page statement `crm.item.list` would run, one line per plan node.
    pub fn explain_items_page(
        &self,
        portal: PortalId,
        entity_type_id: i64,
        query: &ListQuery,
    ) -> anyhow::Result<Vec<String>> {
        let (page_sql, _, args) = items_page_sql(portal, entity_type_id, query);
        self.explain(&page_sql, &args)
    }

    /// `EXPLAIN` of the page statement `crm.activity.list` would run.
    pub fn explain_activities_page(
        &self,
        portal: PortalId,
        query: &ListQuery,
    ) -> anyhow::Result<Vec<String>> {
        let (page_sql, _, args) = activities_page_sql(portal, query);
        self.explain(&page_sql, &args)
    }

    /// The plan with sequential scans switched off: on small tables the planner rightly prefers a
    /// scan, so this shows whether an index *can* serve the page, which is what large tables need.
    fn explain(&self, sql: &str, args: &[Param]) -> anyhow::Result<Vec<String>> {
        off_runtime(|| {
            let mut conn = self.pool.get()?;
            let mut tx = conn.transaction()?;
            tx.batch_execute("SET LOCAL enable_seqscan = off")?;
            let rows = tx.query(&format!("EXPLAIN {sql}"), &refs(args))?;
            Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
        })
    }
}

/// Runs `f` where the sync client may block. That client blocks on a runtime of its own, which
/// tokio forbids on a thread that drives async tasks. Outside any runtime, and on the blocking
/// threads the server's calls come from, `f` runs as is (`block_in_place` only runs it there); on
/// a worker of a multi-threaded runtime, `block_in_place` hands the worker's tasks to another
/// thread first; on a current-thread runtime (tests), `f` runs on a short-lived scoped thread.
pub fn off_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match tokio::runtime::Handle::try_current() {
        Err(_) => f(),
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        Ok(_) => std::thread::scope(|scope| match scope.spawn(f).join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
    }
}

/// Runs the pending migrations. The version row is read `FOR UPDATE`, so processes starting at
/// the same time migrate one after the other.
fn migrate(conn: &mut ::postgres::Client) -> Result<(), ::postgres::Error> {
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS b24_schema_version (id BIGINT PRIMARY KEY, version BIGINT NOT NULL);
         INSERT INTO b24_schema_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;",
    )
    .or_else(|_| {
        // Two processes creating the table at once: one loses on the catalog's unique index.
        conn.batch_execute(
            "INSERT INTO b24_schema_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;",
        )
    })?;
    let mut tx = conn.transaction()?;
    let version: i64 = tx
        .query_one(
            "SELECT version FROM b24_schema_version WHERE id = 1 FOR UPDATE",
            &[],
        )?
        .get(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        tx.batch_execute(sql)?;
        tx.execute(
            "UPDATE b24_schema_version SET version = $1 WHERE id = 1",
            &[&(i as i64 + 1)],
        )?;
    }
    tx.commit()
}

struct PgTx<'a, 'c> {
    tx: &'a mut ::postgres::Transaction<'c>,
    portal: PortalId,
    now: f64,
    /// Write transactions lock the activity rows they read.
    writing: bool,
}

/// What a caller is told when text holds a NUL character: PostgreSQL text cannot (SQLite's can).
pub const NUL_IN_TEXT: &str = "Invalid argument value: text cannot contain the NUL character";

impl From<::postgres::Error> for ApiError {
    fn from(e: ::postgres::Error) -> Self {
        use ::postgres::error::SqlState;
        // A NUL character in a caller's text: their input, not our failure (nothing is written,
        // the transaction rolls back).
        if matches!(
            e.code(),
            Some(&SqlState::CHARACTER_NOT_IN_REPERTOIRE)
                | Some(&SqlState::UNTRANSLATABLE_CHARACTER)
        ) {
            return RestError::with_message(ErrorCode::InvalidArgValue, NUL_IN_TEXT).into();
        }
        ApiError::internal(anyhow::Error::new(e).context("database error"))
    }
}

/// A JSON object as stored text. `jsonb` (which list filters read it as) cannot hold `\u0000`,
/// so such text is refused as the caller's input rather than stored to break later reads.
fn json_text(map: &Map<String, Value>) -> Result<String, ApiError> {
    fn has_nul(value: &Value) -> bool {
        match value {
            Value::String(text) => text.contains('\0'),
            Value::Array(values) => values.iter().any(has_nul),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    let value = Value::Object(map.clone());
    if has_nul(&value) {
        return Err(RestError::with_message(ErrorCode::InvalidArgValue, NUL_IN_TEXT).into());
    }
    Ok(value.to_string())
}

fn refs(args: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter()
        .map(|a| a.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

fn json_map(text: String) -> Map<String, Value> {
    serde_json::from_str(&text).unwrap_or_default()
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

const ITEM_COLUMNS: &str = "entity_type_id, id, title, assigned_by_id, created_by, updated_by, \
                            created_time, updated_time, extra";

fn item_from_row(r: &Row) -> Result<ItemRecord, ::postgres::Error> {
    Ok(ItemRecord {
        entity_type_id: r.try_get(0)?,
        id: r.try_get(1)?,
        title: r.try_get(2)?,
        assigned_by_id: r.try_get(3)?,
        created_by: r.try_get(4)?,
        updated_by: r.try_get(5)?,
        created_time: r.try_get(6)?,
        updated_time: r.try_get(7)?,
        extra: json_map(r.try_get(8)?),
    })
}

const DYNAMIC_TYPE_COLUMNS: &str =
    "id, entity_type_id, title, created_by, updated_by, created_time, updated_time, settings";

fn dynamic_type_from_row(r: &Row) -> Result<DynamicTypeRecord, ::postgres::Error> {
    Ok(DynamicTypeRecord {
        id: r.try_get(0)?,
        entity_type_id: r.try_get(1)?,
        title: r.try_get(2)?,
        created_by: r.try_get(3)?,
        updated_by: r.try_get(4)?,
        created_time: r.try_get(5)?,
        updated_time: r.try_get(6)?,
        settings: json_map(r.try_get(7)?),
    })
}

const ACTIVITY_COLUMNS: &str = "id, type_id, provider_id, provider_type_id, subject, description, \
    responsible_id, author_id, editor_id, owner_type_id, owner_id, deadline, start_time, end_time, \
    completed, status, priority, direction, created, last_updated, extra";

fn activity_from_row(r: &Row) -> Result<ActivityRecord, ::postgres::Error> {
    Ok(ActivityRecord {
        id: r.try_get(0)?,
        type_id: r.try_get(1)?,
        provider_id: r.try_get(2)?,
        provider_type_id: r.try_get(3)?,
        subject: r.try_get(4)?,
        description: r.try_get(5)?,
        responsible_id: r.try_get(6)?,
        author_id: r.try_get(7)?,
        editor_id: r.try_get(8)?,
        owner_type_id: r.try_get(9)?,
        owner_id: r.try_get(10)?,
        deadline: r.try_get(11)?,
        start_time: r.try_get(12)?,
        end_time: r.try_get(13)?,
        completed: r.try_get(14)?,
        status: r.try_get(15)?,
        priority: r.try_get(16)?,
        direction: r.try_get(17)?,
        created: r.try_get(18)?,
        last_updated: r.try_get(19)?,
        extra: json_map(r.try_get(20)?),
    })
}

const WEBHOOK_COLUMNS: &str = "id, user_id, code_digest, scopes, active, created, blocked";

fn webhook_from_row(r: &Row) -> Result<WebhookRecord, ::postgres::Error> {
    Ok(WebhookRecord {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        code_digest: digest_from(r.try_get(2)?),
        scopes: scopes_from(r.try_get(3)?),
        active: r.try_get(4)?,
        created: r.try_get(5)?,
        blocked: r.try_get(6)?,
    })
}

const APP_COLUMNS: &str = "id, client_id, client_secret_digest, application_token_digest, name, \
                           scopes, redirect_uri, blocked";

fn app_from_row(r: &Row) -> Result<AppRecord, ::postgres::Error> {
    Ok(AppRecord {
        id: r.try_get(0)?,
        client_id: r.try_get(1)?,
        client_secret_digest: digest_from(r.try_get(2)?),
        application_token_digest: digest_from(r.try_get(3)?),
        name: r.try_get(4)?,
        scopes: scopes_from(r.try_get(5)?),
        redirect_uri: r.try_get(6)?,
        blocked: r.try_get(7)?,
    })
}

const TOKEN_COLUMNS: &str = "access_digest, refresh_digest, app_id, user_id, scopes, \
                             access_expires, refresh_expires, refresh_used";

fn token_from_row(r: &Row) -> Result<TokenRecord, ::postgres::Error> {
    Ok(TokenRecord {
        access_digest: digest_from(r.try_get(0)?),
        refresh_digest: digest_from(r.try_get(1)?),
        app_id: r.try_get(2)?,
        user_id: r.try_get(3)?,
        scopes: scopes_from(r.try_get(4)?),
        access_expires: r.try_get(5)?,
        refresh_expires: r.try_get(6)?,
        refresh_used: r.try_get(7)?,
    })
}

impl PgTx<'_, '_> {
    /// Executes a statement, returning the rows it changed.
    fn exec(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, ApiError> {
        Ok(self.tx.execute(sql, params)?)
    }

    /// At most one row, decoded.
    fn opt<T>(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        decode: fn(&Row) -> Result<T, ::postgres::Error>,
    ) -> Result<Option<T>, ApiError> {
        match self.tx.query_opt(sql, params)? {
            Some(row) => Ok(Some(decode(&row)?)),
            None => Ok(None),
        }
    }

    /// Every row, decoded.
    fn all<T>(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        decode: fn(&Row) -> Result<T, ::postgres::Error>,
    ) -> Result<Vec<T>, ApiError> {
        let rows = self.tx.query(sql, params)?;
        Ok(rows.iter().map(decode).collect::<Result<_, _>>()?)
    }

    /// A page query and, when asked, its count query with the same arguments.
    fn page<T>(
        &mut self,
        page_sql: &str,
        count_sql: &str,
        args: &[Param],
        count: bool,
        decode: fn(&Row) -> Result<T, ::postgres::Error>,
    ) -> Result<PageOf<T>, ApiError> {
        let params = refs(args);
        let total = if count {
            let n: i64 = self.tx.query_one(count_sql, &params)?.try_get(0)?;
            Some(n.max(0) as u64)
        } else {
            None
        };
        let rows = self.all(page_sql, &params, decode)?;
        Ok(PageOf { rows, total })
    }
}

impl PgTx<'_, '_> {
    /// Items of a type, from `crm_item_counts`.
    fn item_count(&mut self, entity_type_id: i64) -> Result<u64, ApiError> {
        let portal = self.portal;
        let items = self.opt(
            "SELECT items FROM crm_item_counts WHERE portal_id = $1 AND entity_type_id = $2",
            &[&portal, &entity_type_id],
            first_i64,
        )?;
        Ok(items.unwrap_or(0).max(0) as u64)
    }

    /// Keeps `crm_item_counts` in step with `crm_items` (same transaction; the row lock makes
    /// concurrent writers of one type add up).
    fn count_items(&mut self, entity_type_id: i64, change: i64) -> Result<(), ApiError> {
        self.exec(
            "INSERT INTO crm_item_counts (portal_id, entity_type_id, items) VALUES ($1, $2, $3)
             ON CONFLICT (portal_id, entity_type_id) DO UPDATE SET items = crm_item_counts.items + $3",
            &[&{ self.portal }, &entity_type_id, &change],
        )?;
        Ok(())
    }
}

fn first_i64(r: &Row) -> Result<i64, ::postgres::Error> {
    r.try_get(0)
}

fn unit(_: &Row) -> Result<(), ::postgres::Error> {
    Ok(())
}

impl Tx for PgTx<'_, '_> {
    fn portal(&self) -> PortalId {
        self.portal
    }

    fn now_iso(&self) -> String {
        iso(self.now)
    }

    fn next_id(&mut self, sequence: &str) -> Result<i64, ApiError> {
        let row = self.tx.query_one(
            "INSERT INTO sequences (portal_id, name, value) VALUES ($1, $2, 1)
             ON CONFLICT (portal_id, name) DO UPDATE SET value = sequences.value + 1
             RETURNING value",
            &[&{ self.portal }, &sequence],
        )?;
        Ok(row.try_get(0)?)
    }

    fn portal_row(&mut self) -> Result<Option<Portal>, ApiError> {
        let portal = self.portal;
        self.opt(
            "SELECT id, domain, member_id, public_url, rest_enabled, closed, public_https_url
             FROM portals WHERE id = $1",
            &[&portal],
            |r| {
                Ok(Portal {
                    id: r.try_get(0)?,
                    domain: r.try_get(1)?,
                    member_id: r.try_get(2)?,
                    public_url: r.try_get(3)?,
                    rest_enabled: r.try_get(4)?,
                    closed: r.try_get(5)?,
                    public_https_url: r.try_get(6)?,
                })
            },
        )
    }

    fn ensure_portal(
        &mut self,
        domain: &str,
        member_id: &str,
        public_url: &str,
    ) -> Result<bool, ApiError> {
        let now = self.now_iso();
        let n = self.exec(
            "INSERT INTO portals (id, domain, member_id, public_url, created) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO NOTHING",
            &[&{ self.portal }, &domain, &member_id, &public_url, &now],
        )?;
        Ok(n == 1)
    }

    fn set_public_url(&mut self, public_url: &str, https: &str) -> Result<(), ApiError> {
        self.exec(
            "UPDATE portals SET public_url = $2, public_https_url = $3 WHERE id = $1",
            &[&{ self.portal }, &public_url, &https],
        )?;
        Ok(())
    }

    fn plan(&mut self) -> Result<Option<String>, ApiError> {
        let portal = self.portal;
        self.opt("SELECT plan FROM portals WHERE id = $1", &[&portal], |r| {
            r.try_get(0)
        })
    }

    fn set_plan(&mut self, plan: &str) -> Result<bool, ApiError> {
        let n = self.exec(
            "UPDATE portals SET plan = $2 WHERE id = $1",
            &[&{ self.portal }, &plan],
        )?;
        Ok(n == 1)
    }

    fn user(&mut self, id: i64) -> Result<Option<User>, ApiError> {
        let portal = self.portal;
        self.opt(
            "SELECT id, name, last_name, admin, active FROM users WHERE portal_id = $1 AND id = $2",
            &[&portal, &id],
            |r| {
                Ok(User {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    last_name: r.try_get(2)?,
                    admin: r.try_get(3)?,
                    active: r.try_get(4)?,
                })
            },
        )
    }

    fn insert_user(&mut self, name: &str, last_name: &str, admin: bool) -> Result<i64, ApiError> {
        let id = self.next_id("user")?;
        let now = self.now_iso();
        self.exec(
            "INSERT INTO users (portal_id, id, name, last_name, admin, active, created)
             VALUES ($1, $2, $3, $4, $5, TRUE, $6)",
            &[&{ self.portal }, &id, &name, &last_name, &admin, &now],
        )?;
        Ok(id)
    }

    fn user_rights(&mut self, user_id: i64) -> Result<Vec<(i64, Action, Level)>, ApiError> {
        let portal = self.portal;
        let rows = self.all(
            "SELECT entity_type_id, action, level FROM user_rights WHERE portal_id = $1 AND user_id = $2",
            &[&portal, &user_id],
            |r| {
                Ok((
                    r.try_get::<_, i64>(0)?,
                    r.try_get::<_, String>(1)?,
                    r.try_get::<_, String>(2)?,
                ))
            },
        )?;
        // Rows are written only through `set_user_right`; an unreadable one grants nothing.
        Ok(rows
            .into_iter()
            .filter_map(|(t, action, level)| Some((t, action.parse().ok()?, level.parse().ok()?)))
            .collect())
    }

    fn set_user_right(
        &mut self,
        user_id: i64,
        entity_type_id: i64,
        action: Action,
        level: Level,
    ) -> Result<(), ApiError> {
        self.exec(
            "INSERT INTO user_rights (portal_id, user_id, entity_type_id, action, level)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (portal_id, user_id, entity_type_id, action) DO UPDATE SET level = excluded.level",
            &[
                &{ self.portal },
                &user_id,
                &entity_type_id,
                &action.as_str(),
                &level.as_str(),
            ],
        )?;
        Ok(())
    }

    fn set_rest_enabled(&mut self, enabled: bool) -> Result<(), ApiError> {
        self.exec(
            "UPDATE portals SET rest_enabled = $2 WHERE id = $1",
            &[&{ self.portal }, &enabled],
        )?;
        Ok(())
    }

    fn set_closed(&mut self, closed: bool) -> Result<(), ApiError> {
        self.exec(
            "UPDATE portals SET closed = $2 WHERE id = $1",
            &[&{ self.portal }, &closed],
        )?;
        Ok(())
    }

    fn set_webhook_blocked(&mut self, id: i64, blocked: bool) -> Result<bool, ApiError> {
        let n = self.exec(
            "UPDATE webhooks SET blocked = $3 WHERE portal_id = $1 AND id = $2",
            &[&{ self.portal }, &id, &blocked],
        )?;
        Ok(n == 1)
    }

    fn insert_app(&mut self, app: &AppRecord) -> Result<i64, ApiError> {
        let id = self.next_id("app")?;
        let now = self.now_iso();
        self.exec(
            "INSERT INTO oauth_apps (portal_id, id, client_id, client_secret_digest,
                 application_token_digest, name, scopes, redirect_uri, blocked, created)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE, $9)",
            &[
                &{ self.portal },
                &id,
                &app.client_id,
                &&app.client_secret_digest[..],
                &&app.application_token_digest[..],
                &app.name,
                &app.scopes.join(","),
                &app.redirect_uri,
                &now,
            ],
        )?;
        Ok(id)
    }

    fn app_by_client_id(&mut self, client_id: &str) -> Result<Option<AppRecord>, ApiError> {
        let portal = self.portal;
        self.opt(
            &format!(
                "SELECT {APP_COLUMNS} FROM oauth_apps WHERE portal_id = $1 AND client_id = $2"
            ),
            &[&portal, &client_id],
            app_from_row,
        )
    }

    fn app(&mut self, id: i64) -> Result<Option<AppRecord>, ApiError> {
        let portal = self.portal;
        self.opt(
            &format!("SELECT {APP_COLUMNS} FROM oauth_apps WHERE portal_id = $1 AND id = $2"),
            &[&portal, &id],
            app_from_row,
        )
    }

    fn set_app_blocked(&mut self, id: i64, blocked: bool) -> Result<(), ApiError> {
        self.exec(
            "UPDATE oauth_apps SET blocked = $3 WHERE portal_id = $1 AND id = $2",
            &[&{ self.portal }, &id, &blocked],
        )?;
        Ok(())
    }

    fn set_app_user(&mut self, app_id: i64, user_id: i64, allowed: bool) -> Result<(), ApiError> {
        let sql = if allowed {
            "INSERT INTO oauth_app_users (portal_id, app_id, user_id) VALUES ($1, $2, $3)
             ON CONFLICT (portal_id, app_id, user_id) DO NOTHING"
        } else {
            "DELETE FROM oauth_app_users WHERE portal_id = $1 AND app_id = $2 AND user_id = $3"
        };
        self.exec(sql, &[&{ self.portal }, &app_id, &user_id])?;
        Ok(())
    }

    fn app_user_allowed(&mut self, app_id: i64, user_id: i64) -> Result<bool, ApiError> {
        let portal = self.portal;
        Ok(self
            .opt(
                "SELECT 1 FROM oauth_app_users WHERE portal_id = $1 AND app_id = $2 AND user_id = $3",
                &[&portal, &app_id, &user_id],
                unit,
            )?
            .is_some())
    }

    fn insert_auth_code(
        &mut self,
        digest: &[u8; 32],
        app_id: i64,
        user_id: i64,
        expires_at: f64,
    ) -> Result<(), ApiError> {
        self.exec(
            "INSERT INTO oauth_codes (portal_id, code_digest, app_id, user_id, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &{ self.portal },
                &&digest[..],
                &app_id,
                &user_id,
                &expires_at,
            ],
        )?;
        Ok(())
    }

    fn take_auth_code(&mut self, digest: &[u8; 32]) -> Result<Option<(i64, i64, f64)>, ApiError> {
        let portal = self.portal;
        self.opt(
            "DELETE FROM oauth_codes WHERE portal_id = $1 AND code_digest = $2
             RETURNING app_id, user_id, expires_at",
            &[&portal, &&digest[..]],
            |r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)),
        )
    }

    fn insert_token(&mut self, t: &TokenRecord) -> Result<(), ApiError> {
        self.exec(
            &format!(
                "INSERT INTO oauth_tokens (portal_id, {TOKEN_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ),
            &[
                &{ self.portal },
                &&t.access_digest[..],
                &&t.refresh_digest[..],
                &t.app_id,
                &t.user_id,
                &t.scopes.join(","),
                &t.access_expires,
                &t.refresh_expires,
                &t.refresh_used,
            ],
        )?;
        Ok(())
    }

    fn token_by_access(&mut self, digest: &[u8; 32]) -> Result<Option<TokenRecord>, ApiError> {
        let portal = self.portal;
        self.opt(
            &format!(
                "SELECT {TOKEN_COLUMNS} FROM oauth_tokens WHERE portal_id = $1 AND access_digest = $2"
            ),
            &[&portal, &&digest[..]],
            token_from_row,
        )
    }

    fn token_by_refresh(&mut self, digest: &[u8; 32]) -> Result<Option<TokenRecord>, ApiError> {
        let portal = self.portal;
        self.opt(
            &format!(
                "SELECT {TOKEN_COLUMNS} FROM oauth_tokens WHERE portal_id = $1 AND refresh_digest = $2"
            ),
            &[&portal, &&digest[..]],
            token_from_row,
        )
    }

    fn use_refresh_token(&mut self, digest: &[u8; 32]) -> Result<(), ApiError> {
        self.exec(
            "UPDATE oauth_tokens SET refresh_used = TRUE WHERE portal_id = $1 AND refresh_digest = $2",
            &[&{ self.portal }, &&digest[..]],
        )?;
        Ok(())
    }

    fn webhooks_of_user(&mut self, user_id: i64) -> Result<Vec<WebhookRecord>, ApiError> {
        let portal = self.portal;
        self.all(
            &format!(
                "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE portal_id = $1 AND user_id = $2 ORDER BY id"
            ),
            &[&portal, &user_id],
            webhook_from_row,
        )
    }

    fn webhooks(&mut self) -> Result<Vec<WebhookRecord>, ApiError> {
        let portal = self.portal;
        self.all(
            &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE portal_id = $1 ORDER BY id"),
            &[&portal],
            webhook_from_row,
        )
    }

    fn insert_webhook(
        &mut self,
        user_id: i64,
        code_digest: &[u8; 32],
        scopes: &[String],
    ) -> Result<i64, ApiError> {
        let id = self.next_id("webhook")?;
        let now = self.now_iso();
        self.exec(
            "INSERT INTO webhooks (portal_id, id, user_id, code_digest, scopes, active, created)
             VALUES ($1, $2, $3, $4, $5, TRUE, $6)",
            &[
                &{ self.portal },
                &id,
                &user_id,
                &&code_digest[..],
                &scopes.join(","),
                &now,
            ],
        )?;
        Ok(id)
    }

    fn revoke_webhook(&mut self, id: i64) -> Result<bool, ApiError> {
        let n = self.exec(
            "UPDATE webhooks SET active = FALSE WHERE portal_id = $1 AND id = $2",
            &[&{ self.portal }, &id],
        )?;
        Ok(n == 1)
    }

    fn item(&mut self, entity_type_id: i64, id: i64) -> Result<Option<ItemRecord>, ApiError> {
        let portal = self.portal;
        self.opt(
            &format!(
                "SELECT {ITEM_COLUMNS} FROM crm_items WHERE portal_id = $1 AND entity_type_id = $2 AND id = $3"
            ),
            &[&portal, &entity_type_id, &id],
            item_from_row,
        )
    }

    fn item_assignee(&mut self, entity_type_id: i64, id: i64) -> Result<Option<i64>, ApiError> {
        let portal = self.portal;
        self.opt(
            "SELECT assigned_by_id FROM crm_items WHERE portal_id = $1 AND entity_type_id = $2 AND id = $3",
            &[&portal, &entity_type_id, &id],
            first_i64,
        )
    }

    fn insert_item(&mut self, item: &ItemRecord) -> Result<i64, ApiError> {
        let id = self.next_id(&format!("item:{}", item.entity_type_id))?;
        self.exec(
            "INSERT INTO crm_items (portal_id, entity_type_id, id, title, assigned_by_id, created_by,
                 updated_by, created_time, updated_time, extra)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &{ self.portal },
                &item.entity_type_id,
                &id,
                &item.title,
                &item.assigned_by_id,
                &item.created_by,
                &item.updated_by,
                &item.created_time,
                &item.updated_time,
                &json_text(&item.extra)?,
            ],
        )?;
        self.count_items(item.entity_type_id, 1)?;
        Ok(id)
    }

    fn update_item(&mut self, item: &ItemRecord) -> Result<(), ApiError> {
        self.exec(
            "UPDATE crm_items SET title = $4, assigned_by_id = $5, created_by = $6, updated_by = $7,
                 created_time = $8, updated_time = $9, extra = $10
             WHERE portal_id = $1 AND entity_type_id = $2 AND id = $3",
            &[
                &{ self.portal },
                &item.entity_type_id,
                &item.id,
                &item.title,
                &item.assigned_by_id,
                &item.created_by,
                &item.updated_by,
                &item.created_time,
                &item.updated_time,
                &json_text(&item.extra)?,
            ],
        )?;
        Ok(())
    }

    fn delete_item(&mut self, entity_type_id: i64, id: i64) -> Result<bool, ApiError> {
        let n = self.exec(
            "DELETE FROM crm_items WHERE portal_id = $1 AND entity_type_id = $2 AND id = $3",
            &[&{ self.portal }, &entity_type_id, &id],
        )?;
        if n == 1 {
            self.count_items(entity_type_id, -1)?;
        }
        Ok(n == 1)
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
        let portal = self.portal;
        Ok(self
            .opt(
                "SELECT 1 FROM crm_items WHERE portal_id = $1 AND entity_type_id = $2 LIMIT 1",
                &[&portal, &entity_type_id],
                unit,
            )?
            .is_some())
    }

    fn dynamic_type(&mut self, id: i64) -> Result<Option<DynamicTypeRecord>, ApiError> {
        let portal = self.portal;
        self.opt(
            &format!(
                "SELECT {DYNAMIC_TYPE_COLUMNS} FROM crm_dynamic_types WHERE portal_id = $1 AND id = $2"
            ),
            &[&portal, &id],
            dynamic_type_from_row,
        )
    }

    fn dynamic_type_by_entity_type(
        &mut self,
        entity_type_id: i64,
    ) -> Result<Option<DynamicTypeRecord>, ApiError> {
        let portal = self.portal;
        self.opt(
            &format!(
                "SELECT {DYNAMIC_TYPE_COLUMNS} FROM crm_dynamic_types
                 WHERE portal_id = $1 AND entity_type_id = $2"
            ),
            &[&portal, &entity_type_id],
            dynamic_type_from_row,
        )
    }

    fn dynamic_entity_type_ids(&mut self) -> Result<Vec<i64>, ApiError> {
        let portal = self.portal;
        self.all(
            "SELECT entity_type_id FROM crm_dynamic_types WHERE portal_id = $1 ORDER BY entity_type_id",
            &[&portal],
            first_i64,
        )
    }

    fn insert_dynamic_type(&mut self, t: &DynamicTypeRecord) -> Result<i64, ApiError> {
        let id = self.next_id("dynamic_type")?;
        self.exec(
            &format!(
                "INSERT INTO crm_dynamic_types (portal_id, {DYNAMIC_TYPE_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ),
            &[
                &{ self.portal },
                &id,
                &t.entity_type_id,
                &t.title,
                &t.created_by,
                &t.updated_by,
                &t.created_time,
                &t.updated_time,
                &json_text(&t.settings)?,
            ],
        )?;
        Ok(id)
    }

    fn update_dynamic_type(&mut self, t: &DynamicTypeRecord) -> Result<(), ApiError> {
        self.exec(
            "UPDATE crm_dynamic_types SET title = $3, updated_by = $4, updated_time = $5, settings = $6
             WHERE portal_id = $1 AND id = $2",
            &[
                &{ self.portal },
                &t.id,
                &t.title,
                &t.updated_by,
                &t.updated_time,
                &json_text(&t.settings)?,
            ],
        )?;
        Ok(())
    }

    fn delete_dynamic_type(&mut self, id: i64) -> Result<bool, ApiError> {
        let n = self.exec(
            "DELETE FROM crm_dynamic_types WHERE portal_id = $1 AND id = $2",
            &[&{ self.portal }, &id],
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
            "SELECT {DYNAMIC_TYPE_COLUMNS} FROM crm_dynamic_types WHERE portal_id = $1
             ORDER BY id LIMIT {limit} OFFSET {offset}"
        );
        let count_sql = "SELECT COUNT(*) FROM crm_dynamic_types WHERE portal_id = $1";
        let args: Vec<Param> = vec![Box::new(self.portal)];
        self.page(&page_sql, count_sql, &args, count, dynamic_type_from_row)
    }

    fn activity(&mut self, id: i64) -> Result<Option<ActivityRecord>, ApiError> {
        // In a write transaction the row stays locked until commit: concurrent binding changes
        // and deletes of one activity (from any process) run one after the other.
        let lock = if self.writing { " FOR UPDATE" } else { "" };
        let portal = self.portal;
        self.opt(
            &format!(
                "SELECT {ACTIVITY_COLUMNS} FROM activities WHERE portal_id = $1 AND id = $2{lock}"
            ),
            &[&portal, &id],
            activity_from_row,
        )
    }

    fn insert_activity(&mut self, a: &ActivityRecord) -> Result<i64, ApiError> {
        let id = self.next_id("activity")?;
        let (portal, extra) = (self.portal, json_text(&a.extra)?);
        self.exec(
            &format!(
                "INSERT INTO activities (portal_id, {ACTIVITY_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                         $18, $19, $20, $21, $22)"
            ),
            &activity_values(&portal, &id, a, &extra),
        )?;
        Ok(id)
    }

    fn set_activity_owner(
        &mut self,
        id: i64,
        owner: Binding,
        editor_id: i64,
    ) -> Result<(), ApiError> {
        let now = self.now_iso();
        self.exec(
            "UPDATE activities SET owner_type_id = $3, owner_id = $4, editor_id = $5, last_updated = $6
             WHERE portal_id = $1 AND id = $2",
            &[
                &{ self.portal },
                &id,
                &owner.entity_type_id,
                &owner.entity_id,
                &editor_id,
                &now,
            ],
        )?;
        Ok(())
    }

    fn update_activity(&mut self, a: &ActivityRecord) -> Result<(), ApiError> {
        let (portal, extra) = (self.portal, json_text(&a.extra)?);
        self.exec(
            "UPDATE activities SET type_id = $3, provider_id = $4, provider_type_id = $5, subject = $6,
                 description = $7, responsible_id = $8, author_id = $9, editor_id = $10,
                 owner_type_id = $11, owner_id = $12, deadline = $13, start_time = $14, end_time = $15,
                 completed = $16, status = $17, priority = $18, direction = $19, created = $20,
                 last_updated = $21, extra = $22
             WHERE portal_id = $1 AND id = $2",
            &activity_values(&portal, &a.id, a, &extra),
        )?;
        Ok(())
    }

    fn delete_activity(&mut self, id: i64) -> Result<bool, ApiError> {
        self.exec(
            "DELETE FROM activity_bindings WHERE portal_id = $1 AND activity_id = $2",
            &[&{ self.portal }, &id],
        )?;
        let n = self.exec(
            "DELETE FROM activities WHERE portal_id = $1 AND id = $2",
            &[&{ self.portal }, &id],
        )?;
        Ok(n == 1)
    }

    fn list_activities(&mut self, query: &ListQuery) -> Result<PageOf<ActivityRecord>, ApiError> {
        let (page_sql, count_sql, args) = activities_page_sql(self.portal, query);
        self.page(&page_sql, &count_sql, &args, query.count, activity_from_row)
    }

    fn bindings(&mut self, activity_id: i64) -> Result<Vec<Binding>, ApiError> {
        let portal = self.portal;
        self.all(
            "SELECT entity_type_id, entity_id FROM activity_bindings
             WHERE portal_id = $1 AND activity_id = $2 ORDER BY seq",
            &[&portal, &activity_id],
            |r| Ok(Binding::new(r.try_get(0)?, r.try_get(1)?)),
        )
    }

    fn insert_binding(&mut self, activity_id: i64, b: Binding) -> Result<(), ApiError> {
        // `ON CONFLICT DO NOTHING` rather than catching the violation: in PostgreSQL a failed
        // statement aborts the whole transaction.
        let n = self.exec(
            "INSERT INTO activity_bindings (portal_id, activity_id, seq, entity_type_id, entity_id)
             VALUES ($1, $2,
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM activity_bindings WHERE portal_id = $1 AND activity_id = $2),
                 $3, $4)
             ON CONFLICT (portal_id, activity_id, entity_type_id, entity_id) DO NOTHING",
            &[&{ self.portal }, &activity_id, &b.entity_type_id, &b.entity_id],
        )?;
        if n == 0 {
            return Err(RestError::new(ErrorCode::ActivityIsAlreadyBound).into());
        }
        Ok(())
    }

    fn delete_binding(&mut self, activity_id: i64, b: Binding) -> Result<bool, ApiError> {
        let n = self.exec(
            "DELETE FROM activity_bindings
             WHERE portal_id = $1 AND activity_id = $2 AND entity_type_id = $3 AND entity_id = $4",
            &[
                &{ self.portal },
                &activity_id,
                &b.entity_type_id,
                &b.entity_id,
            ],
        )?;
        Ok(n == 1)
    }

    fn replace_bindings(&mut self, activity_id: i64, bindings: &[Binding]) -> Result<(), ApiError> {
        self.exec(
            "DELETE FROM activity_bindings WHERE portal_id = $1 AND activity_id = $2",
            &[&{ self.portal }, &activity_id],
        )?;
        for (seq, b) in bindings.iter().enumerate() {
            self.exec(
                "INSERT INTO activity_bindings (portal_id, activity_id, seq, entity_type_id, entity_id)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &{ self.portal },
                    &activity_id,
                    &(seq as i64 + 1),
                    &b.entity_type_id,
                    &b.entity_id,
                ],
            )?;
        }
        Ok(())
    }

    fn now_unix(&self) -> f64 {
        self.now
    }

    fn server_key(&mut self, name: &str, fresh: &[u8; 32]) -> Result<Vec<u8>, ApiError> {
        self.exec(
            "INSERT INTO server_keys (portal_id, name, secret) VALUES ($1, $2, $3)
             ON CONFLICT (portal_id, name) DO NOTHING",
            &[&{ self.portal }, &name, &&fresh[..]],
        )?;
        let row = self.tx.query_one(
            "SELECT secret FROM server_keys WHERE portal_id = $1 AND name = $2",
            &[&{ self.portal }, &name],
        )?;
        Ok(row.try_get(0)?)
    }

    fn insert_event_handler(&mut self, h: &EventHandlerRecord) -> Result<Option<i64>, ApiError> {
        let id = self.next_id("event_handler")?;
        let now = self.now_iso();
        let n = self.exec(
            "INSERT INTO event_handlers (portal_id, id, app_id, event_name, handler, user_id, connector_id, created)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (portal_id, app_id, event_name, handler, user_id, connector_id) DO NOTHING",
            &[
                &{ self.portal },
                &id,
                &h.app_id,
                &h.event_name,
                &h.handler,
                &h.user_id,
                &h.connector_id,
                &now,
            ],
        )?;
        Ok((n == 1).then_some(id))
    }

    fn event_handlers_of_app(&mut self, app_id: i64) -> Result<Vec<EventHandlerRecord>, ApiError> {
        let portal = self.portal;
        self.all(
            &format!(
                "SELECT {HANDLER_COLUMNS} FROM event_handlers WHERE portal_id = $1 AND app_id = $2 ORDER BY id"
            ),
            &[&portal, &app_id],
            handler_from_row,
        )
    }

    fn event_handlers_for(
        &mut self,
        event_name: &str,
    ) -> Result<Vec<EventHandlerRecord>, ApiError> {
        let portal = self.portal;
        self.all(
            &format!(
                "SELECT {HANDLER_COLUMNS} FROM event_handlers WHERE portal_id = $1 AND event_name = $2 ORDER BY id"
            ),
            &[&portal, &event_name],
            handler_from_row,
        )
    }

    fn delete_event_handler(&mut self, id: i64) -> Result<bool, ApiError> {
        let n = self.exec(
            "DELETE FROM event_handlers WHERE portal_id = $1 AND id = $2",
            &[&{ self.portal }, &id],
        )?;
        Ok(n == 1)
    }

    fn insert_outbox(&mut self, o: &OutboxRecord) -> Result<i64, ApiError> {
        let id = self.next_id("event_outbox")?;
        // JSON text: a NUL is escaped, and this column is never read as `jsonb`.
        let data = o.data.to_string();
        self.exec(
            &format!(
                "INSERT INTO event_outbox (portal_id, {OUTBOX_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            &[
                &{ self.portal },
                &id,
                &o.handler_id,
                &o.app_id,
                &o.event_name,
                &o.handler,
                &o.auth_user_id,
                &data,
                &o.ts,
                &o.attempts,
                &o.next_attempt_at,
            ],
        )?;
        Ok(id)
    }

    fn claim_outbox(
        &mut self,
        now: f64,
        claim_until: f64,
        limit: u64,
    ) -> Result<Vec<OutboxRecord>, ApiError> {
        let portal = self.portal;
        let candidates = self.all(
            &format!(
                "SELECT {OUTBOX_COLUMNS} FROM event_outbox WHERE portal_id = $1 AND next_attempt_at <= $2
                 ORDER BY next_attempt_at, id LIMIT $3"
            ),
            &[&portal, &now, &(limit.min(i64::MAX as u64) as i64)],
            outbox_from_row,
        )?;
        // Another process may claim the same rows at the same time: the update waits for its
        // row lock and, once that process committed, finds the row no longer due and skips it.
        let mut claimed = Vec::with_capacity(candidates.len());
        for row in candidates {
            let n = self.exec(
                "UPDATE event_outbox SET next_attempt_at = $3
                 WHERE portal_id = $1 AND id = $2 AND next_attempt_at <= $4",
                &[&portal, &row.id, &claim_until, &now],
            )?;
            if n == 1 {
                claimed.push(row);
            }
        }
        Ok(claimed)
    }

    fn reschedule_outbox(&mut self, id: i64, attempts: i64, due: f64) -> Result<(), ApiError> {
        self.exec(
            "UPDATE event_outbox SET attempts = $3, next_attempt_at = $4 WHERE portal_id = $1 AND id = $2",
            &[&{ self.portal }, &id, &attempts, &due],
        )?;
        Ok(())
    }

    fn delete_outbox(&mut self, id: i64) -> Result<(), ApiError> {
        self.exec(
            "DELETE FROM event_outbox WHERE portal_id = $1 AND id = $2",
            &[&{ self.portal }, &id],
        )?;
        Ok(())
    }

    fn insert_delivery(&mut self, d: &DeliveryRecord) -> Result<(), ApiError> {
        let id = self.next_id("event_delivery")?;
        self.exec(
            &format!(
                "INSERT INTO event_deliveries (portal_id, {DELIVERY_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            &[
                &{ self.portal },
                &id,
                &d.outbox_id,
                &d.handler_id,
                &d.event_name,
                &d.handler,
                &d.attempt,
                &d.at,
                &d.status,
                &d.outcome,
                &d.detail,
            ],
        )?;
        // A primary-key range: only the few entries that just fell out of the window.
        self.exec(
            "DELETE FROM event_deliveries WHERE portal_id = $1 AND id <= $2",
            &[&{ self.portal }, &(id - DELIVERY_LOG_KEEP)],
        )?;
        Ok(())
    }

    fn deliveries(&mut self, limit: u64) -> Result<Vec<DeliveryRecord>, ApiError> {
        let portal = self.portal;
        self.all(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM event_deliveries WHERE portal_id = $1 ORDER BY id DESC LIMIT $2"
            ),
            &[&portal, &(limit.min(i64::MAX as u64) as i64)],
            |r| {
                Ok(DeliveryRecord {
                    id: r.try_get(0)?,
                    outbox_id: r.try_get(1)?,
                    handler_id: r.try_get(2)?,
                    event_name: r.try_get(3)?,
                    handler: r.try_get(4)?,
                    attempt: r.try_get(5)?,
                    at: r.try_get(6)?,
                    status: r.try_get(7)?,
                    outcome: r.try_get(8)?,
                    detail: r.try_get(9)?,
                })
            },
        )
    }

    fn record_offline_event(&mut self, e: &OfflineEventRecord) -> Result<(), ApiError> {
        let id = self.next_id("event_offline")?;
        self.exec(
            &format!(
                "INSERT INTO event_offline (portal_id, {OFFLINE_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (portal_id, app_id, connector_id, process_id, error, message_id)
                 DO UPDATE SET timestamp_x = excluded.timestamp_x, user_id = excluded.user_id"
            ),
            &[
                &{ self.portal },
                &id,
                &e.app_id,
                &e.connector_id,
                &e.event_name,
                &e.message_id,
                &e.data,
                &e.user_id,
                &e.timestamp_x,
                &e.process_id,
                &(e.error as i64),
            ],
        )?;
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
        for id in ids {
            self.exec(
                "UPDATE event_offline SET process_id = $3 WHERE portal_id = $1 AND id = $2",
                &[&{ self.portal }, id, &process_id],
            )?;
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
        for message_id in message_ids {
            self.exec(
                "UPDATE event_offline SET error = 1, process_id = ''
                 WHERE portal_id = $1 AND app_id = $2 AND connector_id = $3 AND process_id = $4
                     AND message_id = $5",
                &[
                    &{ self.portal },
                    &app_id,
                    &connector_id,
                    &process_id,
                    message_id,
                ],
            )?;
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
        let scope = "portal_id = $1 AND app_id = $2 AND connector_id = $3 AND process_id = $4";
        let portal = self.portal;
        match only {
            OfflineSelection::All => {
                self.exec(
                    &format!("DELETE FROM event_offline WHERE {scope}"),
                    &[&portal, &app_id, &connector_id, &process_id],
                )?;
            }
            OfflineSelection::Ids(ids) => {
                for id in ids {
                    self.exec(
                        &format!("DELETE FROM event_offline WHERE {scope} AND id = $5"),
                        &[&portal, &app_id, &connector_id, &process_id, id],
                    )?;
                }
            }
            OfflineSelection::MessageIds(message_ids) => {
                for message_id in message_ids {
                    self.exec(
                        &format!("DELETE FROM event_offline WHERE {scope} AND message_id = $5"),
                        &[&portal, &app_id, &connector_id, &process_id, message_id],
                    )?;
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// List queries. The semantics match the SQLite compiler (store/sqlite.rs); what differs is the
// dialect: `$n` placeholders with explicit types, JSON through `jsonb`, case-insensitive `ILIKE`
// (SQLite's `LIKE` ignores ASCII case), and `NULLS FIRST` ascending as SQLite sorts.
// ---------------------------------------------------------------------------------------------

/// Collects parameters and hands out their `$n` placeholders.
#[derive(Default)]
struct Args(Vec<Param>);

impl Args {
    fn push(&mut self, value: Param, cast: &str) -> String {
        self.0.push(value);
        format!("${}::{cast}", self.0.len())
    }

    fn int(&mut self, value: i64) -> String {
        self.push(Box::new(value), "bigint")
    }

    /// A value as a placeholder typed after it; `NULL` needs no parameter.
    fn value(&mut self, value: &SqlValue) -> String {
        match value {
            SqlValue::Int(i) => self.int(*i),
            SqlValue::Real(f) => self.push(Box::new(*f), "float8"),
            SqlValue::Text(t) => self.push(Box::new(t.clone()), "text"),
            SqlValue::Null => "NULL".into(),
        }
    }
}

/// Typed columns that are not integers (everything else typed is `BIGINT`).
const TEXT_COLUMNS: &[&str] = &[
    "connector_id",
    "event_name",
    "message_id",
    "data",
    "timestamp_x",
    "process_id",
    "title",
    "created_time",
    "updated_time",
    "provider_id",
    "provider_type_id",
    "subject",
    "description",
    "deadline",
    "start_time",
    "end_time",
    "created",
    "last_updated",
];
const BOOLEAN_COLUMNS: &[&str] = &["completed"];

/// What kind of value a comparison is about, so both sides get one SQL type.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Number,
    Text,
}

fn kind_of(value: &SqlValue) -> Option<Kind> {
    match value {
        SqlValue::Int(_) | SqlValue::Real(_) => Some(Kind::Number),
        SqlValue::Text(_) => Some(Kind::Text),
        SqlValue::Null => None,
    }
}

/// The JSON value under an `extra` key; JSON `null` counts as missing, as in SQLite's
/// `json_extract`.
fn extra_json(key: &str) -> String {
    format!("NULLIF(extra::jsonb -> '{key}', 'null'::jsonb)")
}

/// A column as an SQL expression of the wanted kind. JSON values of another type yield `NULL`
/// (SQLite never finds a number equal to text either); JSON booleans count as 1 / 0.
fn column_expr(column: Column, kind: Kind) -> String {
    match (column, kind) {
        (Column::Plain(name), Kind::Number) if BOOLEAN_COLUMNS.contains(&name) => {
            format!("({name}::int)")
        }
        (Column::Plain(name), Kind::Text) if BOOLEAN_COLUMNS.contains(&name) => {
            format!("({name}::int::text)")
        }
        (Column::Plain(name), Kind::Text) if !TEXT_COLUMNS.contains(&name) => {
            format!("({name}::text)")
        }
        (Column::Plain(name), _) => name.to_string(),
        (Column::Extra(key), Kind::Number) => {
            let j = extra_json(key);
            format!(
                "(CASE jsonb_typeof({j}) WHEN 'number' THEN ({j} #>> '{{}}')::float8 \
                 WHEN 'boolean' THEN (CASE WHEN {j} = 'true'::jsonb THEN 1 ELSE 0 END) END)"
            )
        }
        (Column::Extra(key), Kind::Text) => {
            let j = extra_json(key);
            format!("(CASE jsonb_typeof({j}) WHEN 'string' THEN {j} #>> '{{}}' END)")
        }
    }
}

/// A column as text of any JSON type, for `LIKE` (SQLite applies `LIKE` to numbers' text too).
fn column_as_text(column: Column) -> String {
    match column {
        Column::Plain(_) => column_expr(column, Kind::Text),
        Column::Extra(key) => format!("({} #>> '{{}}')", extra_json(key)),
    }
}

/// A column in `ORDER BY`: typed columns as they are; JSON values in jsonb order.
fn order_expr(column: Column) -> String {
    match column {
        Column::Plain(name) => name.to_string(),
        Column::Extra(key) => extra_json(key),
    }
}

/// `ORDER BY` keys with an `id` tie-breaker in the last key's direction; missing values first
/// ascending, last descending, as SQLite sorts `NULL`.
fn order_by(order: &[(Column, bool)], id: &str) -> String {
    let dir = |desc: bool| if desc { "DESC" } else { "ASC" };
    let mut keys: Vec<String> = order
        .iter()
        .map(|(c, desc)| match c {
            Column::Plain("id") => format!("{id} {}", dir(*desc)),
            Column::Plain(_) => format!("{} {}", order_expr(*c), dir(*desc)),
            Column::Extra(_) => format!(
                "{} {} NULLS {}",
                order_expr(*c),
                dir(*desc),
                if *desc { "LAST" } else { "FIRST" }
            ),
        })
        .collect();
    if !order.iter().any(|(c, _)| *c == Column::Plain("id")) {
        let last_desc = order.last().is_some_and(|(_, desc)| *desc);
        keys.push(format!("{id} {}", dir(last_desc)));
    }
    keys.join(", ")
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

fn compile_compare(column: Column, op: CompareOp, values: &[SqlValue], args: &mut Args) -> String {
    let first = values.first().unwrap_or(&SqlValue::Null);
    let kind = kind_of(first)
        .or_else(|| values.iter().find_map(kind_of))
        .unwrap_or(Kind::Text);
    let c = column_expr(column, kind);
    let empty_text = matches!(first, SqlValue::Text(t) if t.is_empty());
    let null = *first == SqlValue::Null;
    // "Missing" means SQL NULL for typed columns and an absent (or JSON null) key for `extra`.
    let missing = match column {
        Column::Plain(_) => format!("{c} IS NULL"),
        Column::Extra(key) => format!("{} IS NULL", extra_json(key)),
    };
    match op {
        CompareOp::Eq if null => missing,
        CompareOp::Eq if empty_text => format!("({missing} OR {} = '')", column_as_text(column)),
        CompareOp::Eq => format!("{c} = {}", args.value(first)),
        CompareOp::NotEq if null => format!("NOT ({missing})"),
        CompareOp::NotEq if empty_text => {
            format!("(NOT ({missing}) AND {} <> '')", column_as_text(column))
        }
        CompareOp::NotEq => format!("({c} IS NULL OR {c} <> {})", args.value(first)),
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le if null => "1 = 0".into(),
        CompareOp::Gt => format!("{c} > {}", args.value(first)),
        CompareOp::Ge => format!("{c} >= {}", args.value(first)),
        CompareOp::Lt => format!("{c} < {}", args.value(first)),
        CompareOp::Le => format!("{c} <= {}", args.value(first)),
        CompareOp::In if values.is_empty() => "1 = 0".into(),
        CompareOp::In => format!("{c} IN ({})", list(values, kind, args)),
        CompareOp::NotIn if values.is_empty() => "1 = 1".into(),
        CompareOp::NotIn => format!("({c} IS NULL OR {c} NOT IN ({}))", list(values, kind, args)),
        CompareOp::Like => format!(
            "{} ILIKE {} ESCAPE '\\'",
            column_as_text(column),
            args.value(first)
        ),
        CompareOp::NotLike => {
            let t = column_as_text(column);
            format!(
                "({t} IS NULL OR {t} NOT ILIKE {} ESCAPE '\\')",
                args.value(first)
            )
        }
    }
}

/// Placeholders for an `IN` list; values of another kind than the column's cannot match.
fn list(values: &[SqlValue], kind: Kind, args: &mut Args) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| {
            if kind_of(v) == Some(kind) {
                args.value(v)
            } else {
                "NULL".into()
            }
        })
        .collect();
    items.join(", ")
}

fn compile_filter(filter: &Filter, args: &mut Args) -> String {
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
                    parts.push(format!("entity_type_id = {}", args.int(*t)));
                }
                if let Some(i) = entity_id {
                    parts.push(format!("entity_id = {}", args.int(*i)));
                }
                alternatives.push(if parts.is_empty() {
                    "1 = 1".to_string()
                } else {
                    format!("({})", parts.join(" AND "))
                });
            }
            format!(
                "activities.id IN (SELECT activity_id FROM activity_bindings WHERE portal_id = activities.portal_id AND ({}))",
                alternatives.join(" OR ")
            )
        }
        Filter::ReadableThroughBindings {
            all_types,
            own_types,
            user_id,
        } => {
            let user = args.int(*user_id);
            format!(
                "EXISTS (SELECT 1 FROM activity_bindings b WHERE b.portal_id = activities.portal_id
                     AND b.activity_id = activities.id
                     AND (b.entity_type_id IN ({}) OR (b.entity_type_id IN ({}) AND EXISTS (
                         SELECT 1 FROM crm_items i WHERE i.portal_id = b.portal_id
                             AND i.entity_type_id = b.entity_type_id AND i.id = b.entity_id
                             AND i.assigned_by_id = {user}))))",
                int_list(all_types),
                int_list(own_types)
            )
        }
    }
}

/// The conjuncts of nested `All` groups.
fn flatten_all<'a>(filter: &'a Filter, out: &mut Vec<&'a Filter>) {
    match filter {
        Filter::All(parts) => parts.iter().for_each(|p| flatten_all(p, out)),
        other => out.push(other),
    }
}

/// The page and count statements of `crm.item.list`-style queries, with their arguments.
fn items_page_sql(
    portal: PortalId,
    entity_type_id: i64,
    query: &ListQuery,
) -> (String, String, Vec<Param>) {
    let mut args = Args::default();
    let where_clause = format!(
        "portal_id = {} AND entity_type_id = {} AND {}",
        args.int(portal),
        args.int(entity_type_id),
        compile_filter(&query.filter, &mut args)
    );
    (
        format!(
            "SELECT {ITEM_COLUMNS} FROM crm_items WHERE {where_clause} ORDER BY {} LIMIT {} OFFSET {}",
            order_by(&query.order, "id"),
            query.limit,
            query.offset
        ),
        format!("SELECT COUNT(*) FROM crm_items WHERE {where_clause}"),
        args.0,
    )
}

/// The page and count statements of `crm.activity.list`. A filter on the activities bound to
/// one item joins from the `(item, activity)` binding index, as the SQLite backend does.
fn activities_page_sql(portal: PortalId, query: &ListQuery) -> (String, String, Vec<Param>) {
    let mut conjuncts = Vec::new();
    flatten_all(&query.filter, &mut conjuncts);
    let bound_to_one = conjuncts.iter().position(
        |f| matches!(f, Filter::BoundTo(pairs) if matches!(pairs.as_slice(), [(Some(_), Some(_))])),
    );
    let columns = ACTIVITY_COLUMNS
        .split(", ")
        .map(|c| format!("activities.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut args = Args::default();
    let Some(position) = bound_to_one else {
        let where_clause = format!(
            "activities.portal_id = {} AND {}",
            args.int(portal),
            compile_filter(&query.filter, &mut args)
        );
        return (
            format!(
                "SELECT {columns} FROM activities WHERE {where_clause} ORDER BY {} LIMIT {} OFFSET {}",
                order_by(&query.order, "activities.id"),
                query.limit,
                query.offset
            ),
            format!("SELECT COUNT(*) FROM activities WHERE {where_clause}"),
            args.0,
        );
    };
    let Filter::BoundTo(pairs) = conjuncts.remove(position) else {
        unreachable!("position found a BoundTo")
    };
    let (entity_type_id, entity_id) = (pairs[0].0.unwrap_or(0), pairs[0].1.unwrap_or(0));
    let mut where_clause = format!(
        "jb.portal_id = {} AND jb.entity_type_id = {} AND jb.entity_id = {}",
        args.int(portal),
        args.int(entity_type_id),
        args.int(entity_id),
    );
    // The id bounds, repeated on the binding row so the index range starts at the cursor.
    for f in &conjuncts {
        if let Filter::Compare {
            column: Column::Plain("id"),
            op: op @ (CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le | CompareOp::Eq),
            values,
        } = f
        {
            if let [SqlValue::Int(id)] = values.as_slice() {
                let sql_op = match op {
                    CompareOp::Gt => ">",
                    CompareOp::Ge => ">=",
                    CompareOp::Lt => "<",
                    CompareOp::Le => "<=",
                    _ => "=",
                };
                where_clause.push_str(&format!(" AND jb.activity_id {sql_op} {}", args.int(*id)));
            }
        }
    }
    let rest = Filter::All(conjuncts.into_iter().cloned().collect());
    where_clause.push_str(&format!(
        " AND activities.portal_id = jb.portal_id AND {}",
        compile_filter(&rest, &mut args)
    ));
    let from = "activities JOIN activity_bindings jb
                 ON jb.portal_id = activities.portal_id AND jb.activity_id = activities.id";
    let order = if query.order.is_empty() || query.order == [(Column::Plain("id"), false)] {
        "jb.activity_id ASC".to_string()
    } else if query.order == [(Column::Plain("id"), true)] {
        "jb.activity_id DESC".to_string()
    } else {
        order_by(&query.order, "activities.id")
    };
    (
        format!(
            "SELECT {columns} FROM {from} WHERE {where_clause} ORDER BY {order} LIMIT {} OFFSET {}",
            query.limit, query.offset
        ),
        format!("SELECT COUNT(*) FROM {from} WHERE {where_clause}"),
        args.0,
    )
}

const HANDLER_COLUMNS: &str = "id, app_id, event_name, handler, user_id, connector_id";

fn handler_from_row(r: &Row) -> Result<EventHandlerRecord, ::postgres::Error> {
    Ok(EventHandlerRecord {
        id: r.try_get(0)?,
        app_id: r.try_get(1)?,
        event_name: r.try_get(2)?,
        handler: r.try_get(3)?,
        user_id: r.try_get(4)?,
        connector_id: r.try_get(5)?,
    })
}

const OUTBOX_COLUMNS: &str =
    "id, handler_id, app_id, event_name, handler, auth_user_id, data, ts, \
                              attempts, next_attempt_at";

fn outbox_from_row(r: &Row) -> Result<OutboxRecord, ::postgres::Error> {
    let data: String = r.try_get(6)?;
    Ok(OutboxRecord {
        id: r.try_get(0)?,
        handler_id: r.try_get(1)?,
        app_id: r.try_get(2)?,
        event_name: r.try_get(3)?,
        handler: r.try_get(4)?,
        auth_user_id: r.try_get(5)?,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
        ts: r.try_get(7)?,
        attempts: r.try_get(8)?,
        next_attempt_at: r.try_get(9)?,
    })
}

const DELIVERY_COLUMNS: &str =
    "id, outbox_id, handler_id, event_name, handler, attempt, at, status, outcome, detail";

const OFFLINE_COLUMNS: &str = "id, app_id, connector_id, event_name, message_id, data, user_id, \
                               timestamp_x, process_id, error";

fn offline_from_row(r: &Row) -> Result<OfflineEventRecord, ::postgres::Error> {
    Ok(OfflineEventRecord {
        id: r.try_get(0)?,
        app_id: r.try_get(1)?,
        connector_id: r.try_get(2)?,
        event_name: r.try_get(3)?,
        message_id: r.try_get(4)?,
        data: r.try_get(5)?,
        user_id: r.try_get(6)?,
        timestamp_x: r.try_get(7)?,
        process_id: r.try_get(8)?,
        error: r.try_get::<_, i64>(9)? != 0,
    })
}

/// The page and count statements over one application's offline queue.
fn offline_page_sql(
    portal: PortalId,
    app_id: i64,
    connector_id: &str,
    query: &ListQuery,
) -> (String, String, Vec<Param>) {
    let mut args = Args::default();
    let where_clause = format!(
        "portal_id = {} AND app_id = {} AND connector_id = {} AND {}",
        args.int(portal),
        args.int(app_id),
        args.push(Box::new(connector_id.to_string()), "text"),
        compile_filter(&query.filter, &mut args)
    );
    (
        format!(
            "SELECT {OFFLINE_COLUMNS} FROM event_offline WHERE {where_clause} ORDER BY {} LIMIT {} OFFSET {}",
            order_by(&query.order, "id"),
            query.limit,
            query.offset
        ),
        format!("SELECT COUNT(*) FROM event_offline WHERE {where_clause}"),
        args.0,
    )
}

#[cfg(test)]
pub(crate) mod testing {
    //! A store on a schema of its own, for unit tests; `None` (and a note on stderr) without
    //! `B24_TEST_POSTGRES_URL`.

    use super::*;
    use std::io::Write as _;

    /// A store on a fresh schema, dropped by the guard.
    pub(crate) struct Schema {
        base: String,
        name: String,
        pub(crate) store: PgStore,
    }

    impl Drop for Schema {
        fn drop(&mut self) {
            let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
            if let Ok(mut client) = ::postgres::Client::connect(&self.base, NoTls) {
                let _ = client.batch_execute(&sql);
            }
        }
    }

    pub(crate) fn store() -> Option<Schema> {
        let Some(base) = std::env::var("B24_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            let _ = writeln!(
                std::io::stderr(),
                "PostgreSQL unit tests skipped: set B24_TEST_POSTGRES_URL to run them"
            );
            return None;
        };
        let name = format!("p_{:016x}", rand::random::<u64>());
        let mut client = ::postgres::Client::connect(&base, NoTls).expect("PostgreSQL");
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .unwrap();
        let glue = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{glue}options=-csearch_path%3D{name}");
        let store = PgStore::open(&url, Arc::new(crate::clock::SystemClock)).unwrap();
        Some(Schema { base, name, store })
    }
}

#[cfg(test)]
mod plan_tests {
    //! Every list page shape can be served by an index: no sequential scan of the listed table and
    //! no sort of the whole result. Run with `B24_TEST_POSTGRES_URL`; skipped (and said so) without.

    use super::testing::store;
    use super::*;

    use crate::store::query::plan_test_queries::{cmp, cursor, uncounted};

    #[track_caller]
    fn assert_indexed(plan: &[String], table: &str, index: &str) {
        let text = plan.join("\n");
        assert!(
            plan.iter()
                .any(|l| l.contains(&format!(" on {table}")) && l.contains(index)),
            "no index scan of {table} via {index}:\n{text}"
        );
        assert!(
            !text.contains(&format!("Seq Scan on {table}")),
            "sequential scan of {table}:\n{text}"
        );
        assert!(!text.contains("Sort"), "sorts the result:\n{text}");
    }

    const ID_ASC: (Column, bool) = (Column::Plain("id"), false);

    #[test]
    fn item_pages_by_id_and_by_assignee_use_an_index() {
        let Some(s) = store() else { return };
        let plan = s
            .store
            .explain_items_page(1, 2, &uncounted(cursor(500_000), vec![ID_ASC]))
            .unwrap();
        assert_indexed(&plan, "crm_items", "crm_items_pkey");
        let own = Filter::All(vec![
            cmp(
                Column::Plain("assigned_by_id"),
                CompareOp::Eq,
                SqlValue::Int(7),
            ),
            cursor(10),
        ]);
        let plan = s
            .store
            .explain_items_page(1, 2, &uncounted(own, vec![]))
            .unwrap();
        assert_indexed(&plan, "crm_items", "crm_items_by_assignee");
    }

    #[test]
    fn activity_pages_by_start_time_owner_and_binding_use_an_index() {
        let Some(s) = store() else { return };
        let by_start = uncounted(
            Filter::everything(),
            vec![(Column::Plain("start_time"), false)],
        );
        let plan = s.store.explain_activities_page(1, &by_start).unwrap();
        assert_indexed(&plan, "activities", "activities_by_start_time");
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
            .store
            .explain_activities_page(1, &uncounted(owner, vec![ID_ASC]))
            .unwrap();
        assert_indexed(&plan, "activities", "activities_by_owner");
        let bound = Filter::All(vec![Filter::BoundTo(vec![(Some(2), Some(5))]), cursor(0)]);
        let plan = s
            .store
            .explain_activities_page(1, &uncounted(bound, vec![ID_ASC]))
            .unwrap();
        assert_indexed(&plan, "activity_bindings", "activity_bindings_by_item");
    }
}
