//! The PostgreSQL backend: many server processes share one database.
//!
//! This file holds the connections, transactions, migrations and the driver glue; the statements
//! themselves are the one SQL implementation in `store/sql.rs`, run through the PostgreSQL
//! [`Dialect`]. Each pooled connection prepares a statement text once and reuses it.
//!
//! Every call is one transaction on a pooled connection: writes `READ COMMITTED`, reads
//! `REPEATABLE READ, READ ONLY` (one snapshot, as SQLite readers see). Writes lock what they
//! change: rows they update are locked by the update itself, sequences by `INSERT … ON CONFLICT
//! DO UPDATE`, and what a write reads in order to change it (the activity, the item, the
//! smart-process type, the refresh token, the offline-queue page) is read `FOR UPDATE`, so the
//! last-binding check and the delete that follows, or two updates of one item, are serialised
//! across processes. No advisory locks and no LISTEN/NOTIFY: the SQL stays within what
//! PostgreSQL-compatible distributed engines accept.
//!
//! The schema is the same migration list as SQLite's; progress is recorded in the
//! `b24_schema_version` table (SQLite uses `PRAGMA user_version`). A URL may pick a schema with
//! `?options=-csearch_path%3D<schema>`; the tables are created in the first schema of the path.

use super::callers::{self as callers, CallerCache, CallerKey};
use super::driver::{postgres_placeholders, sql_row_getters, Arg, Conn, Dialect, EachRow, SqlRow};
use super::schema::MIGRATIONS;
use super::sql::{SqlTx, NUL_IN_TEXT};
use super::*;
use crate::clock::Clock;
use crate::error::ApiError;
use ::postgres::types::{IsNull, ToSql, Type};
use ::postgres::{Client, NoTls, Row, Statement};
use anyhow::Context as _;
use b24_protocol::{ErrorCode, RestError};
use bytes::BytesMut;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A pooled client with the statements it has prepared, so each statement text is parsed and
/// planned once per connection and every later run is one round trip.
pub struct PgClient {
    client: Client,
    statements: HashMap<String, Statement>,
    /// When a call last finished with this connection (see [`PgManager::is_valid`]).
    returned: Instant,
}

impl PgClient {
    /// The statement prepared on this connection, preparing it the first time (for the limiter,
    /// whose statements run outside a store transaction).
    pub fn prepared(&mut self, sql: &str) -> Result<Statement, ::postgres::Error> {
        prepare_cached(&mut self.client, &mut self.statements, sql)
    }
}

/// See [`PgClient::prepared`]; `sql` is already in PostgreSQL's `$n` form.
fn prepare_cached(
    client: &mut impl ::postgres::GenericClient,
    statements: &mut HashMap<String, Statement>,
    sql: &str,
) -> Result<Statement, ::postgres::Error> {
    if let Some(statement) = statements.get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(sql)?;
    if statements.len() >= STATEMENT_CACHE {
        statements.clear();
    }
    statements.insert(sql.to_owned(), statement.clone());
    Ok(statement)
}

impl std::ops::Deref for PgClient {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl std::ops::DerefMut for PgClient {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// How long after its last use a pooled connection is handed out without a check.
const TRUSTED_FOR: Duration = Duration::from_secs(1);

/// Prepared statements kept per connection: every fixed statement plus the recent list shapes.
/// Past it the cache starts over (list filters can produce many shapes).
const STATEMENT_CACHE: usize = 256;

/// Opens [`PgClient`]s for the pool.
pub struct PgManager {
    config: ::postgres::Config,
}

impl r2d2::ManageConnection for PgManager {
    type Connection = PgClient;
    type Error = ::postgres::Error;

    fn connect(&self) -> Result<PgClient, ::postgres::Error> {
        Ok(PgClient {
            client: self.config.connect(NoTls)?,
            statements: HashMap::new(),
            returned: Instant::now(),
        })
    }

    /// Checked on every checkout. A connection that answered a moment ago is taken as it is:
    /// the empty query costs a round trip, and a busy server checks out a connection several
    /// times per call. One idle for longer (the database may have restarted meanwhile) is asked.
    fn is_valid(&self, conn: &mut PgClient) -> Result<(), ::postgres::Error> {
        if conn.returned.elapsed() < TRUSTED_FOR && !conn.client.is_closed() {
            return Ok(());
        }
        conn.client.simple_query("").map(|_| ())
    }

    /// Called as a connection goes back to the pool: a connection whose socket closed is dropped.
    fn has_broken(&self, conn: &mut PgClient) -> bool {
        conn.returned = Instant::now();
        conn.client.is_closed()
    }
}

type Pool = r2d2::Pool<PgManager>;

/// A pooled connection.
pub type PgConnection = r2d2::PooledConnection<PgManager>;

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

/// How long a call waits for a free connection before failing.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// See the module docs.
pub struct PgStore {
    pool: PgPool,
    clock: Arc<dyn Clock>,
    callers: CallerCache,
    /// Smart-process types and user fields read before (see `store/catalogue.rs`).
    catalogue: Arc<super::catalogue::CatalogueCache>,
}

/// Whether a `--database-url` names PostgreSQL.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl PgStore {
    /// Connects and runs the migrations that have not run yet.
    pub fn open(url: &str, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let config: ::postgres::Config = url.parse().context("could not parse the database URL")?;
        let manager = PgManager { config };
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
            Ok(Self {
                pool,
                clock,
                callers: CallerCache::default(),
                catalogue: Arc::default(),
            })
        })
    }

    /// Smart-process types and user fields read before (see `store/catalogue.rs`).
    pub fn catalogue_cache(&self) -> &Arc<super::catalogue::CatalogueCache> {
        &self.catalogue
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

    /// Runs `f` in one transaction: a write (`READ COMMITTED`, committed when `f` returns `Ok`)
    /// or a read (`REPEATABLE READ, READ ONLY`: one snapshot for every statement, as SQLite's
    /// readers see, so a page and its count agree; rolled back on drop).
    pub(super) fn transaction<R: Send>(
        &self,
        portal: PortalId,
        writing: bool,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, ApiError> + Send,
    ) -> Result<R, ApiError> {
        off_runtime(|| {
            let mut conn = self.connection()?;
            let PgClient {
                client, statements, ..
            } = &mut *conn;
            let mut tx = match writing {
                true => client.transaction()?,
                false => client
                    .build_transaction()
                    .isolation_level(::postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()?,
            };
            let mut conn = PgConn {
                tx: &mut tx,
                statements,
                writing,
                credentials_changed: false,
            };
            let out = f(&mut SqlTx::new(
                &mut conn,
                portal,
                self.clock.now_in(portal),
                writing,
            ))?;
            if writing {
                let changed = conn.credentials_changed;
                if changed {
                    let bump = conn.prepared(callers::BUMP)?;
                    tx.execute(&bump, &[])?;
                }
                tx.commit()?;
                if changed {
                    self.callers.bump();
                }
            }
            Ok(out)
        })
    }

    /// The caller cached for a credential, with a token's expiry, if it is still current; and
    /// the generation to [`PgStore::remember_caller`] a caller read now under.
    pub fn cached_caller(&self, key: &CallerKey) -> (Option<callers::CachedCaller>, u64) {
        let generation = self.callers.generation(|| self.credentials_version().ok());
        (self.callers.get(key, generation), generation)
    }

    /// The caller cached for a credential, when that needs no read of the database.
    pub fn cached_caller_in_memory(&self, key: &CallerKey) -> Option<callers::CachedCaller> {
        let generation = self.callers.generation_in_memory()?;
        self.callers.get(key, generation)
    }

    /// Keeps a caller authenticated from the database, read under `generation`.
    pub fn remember_caller(
        &self,
        key: CallerKey,
        generation: u64,
        caller: crate::auth::Caller,
        expires: Option<f64>,
    ) {
        self.callers.put(key, generation, caller, expires);
    }

    fn credentials_version(&self) -> Result<i64, ApiError> {
        off_runtime(|| {
            let mut conn = self.connection()?;
            let statement = conn.prepared(callers::READ)?;
            Ok(conn.query_one(&statement, &[])?.try_get(0)?)
        })
    }
}

impl ExplainPages for PgStore {
    const DIALECT: Dialect = Dialect::Postgres;

    /// The plan with sequential scans switched off: on small tables the planner rightly prefers a
    /// scan, so this shows whether an index *can* serve the page, which is what large tables need.
    fn explain(&self, sql: &str, args: &[Arg<'_>]) -> anyhow::Result<Vec<String>> {
        off_runtime(|| {
            let mut conn = self.pool.get()?;
            let mut tx = conn.transaction()?;
            tx.batch_execute("SET LOCAL enable_seqscan = off")?;
            let rows = tx.query(
                &format!("EXPLAIN {}", postgres_placeholders(sql)),
                &params(args),
            )?;
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
fn migrate(conn: &mut ::postgres::Client) -> anyhow::Result<()> {
    // One statement, one snapshot: another process may be creating our tables right now.
    let ours_or_empty: bool = conn
        .query_one(
            "SELECT to_regclass('b24_schema_version') IS NOT NULL
                 OR NOT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema())",
            &[],
        )?
        .get(0);
    if !ours_or_empty {
        anyhow::bail!(
            "the database schema already holds tables of another program, not b24-server's. Use \
             an empty database, or pick an empty schema with ?options=-csearch_path%3D<schema> \
             in --database-url; b24-server never changes tables it did not create."
        );
    }
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
    if version > MIGRATIONS.len() as i64 {
        anyhow::bail!(
            "the database has schema version {version}, newer than this b24-server knows ({}): \
             it was written by a newer release. Run that release (or newer), or use another \
             database; this one will not change it.",
            MIGRATIONS.len()
        );
    }
    // The credentials version (see `callers`), once the schema is known to be ours.
    tx.batch_execute(callers::CREATE)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        tx.batch_execute(sql)?;
        tx.execute(
            "UPDATE b24_schema_version SET version = $1 WHERE id = 1",
            &[&(i as i64 + 1)],
        )?;
    }
    Ok(tx.commit()?)
}

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

/// A connection inside an open PostgreSQL transaction, for [`SqlTx`].
struct PgConn<'a, 'c> {
    tx: &'a mut ::postgres::Transaction<'c>,
    statements: &'a mut HashMap<String, Statement>,
    writing: bool,
    /// Whether a statement changed a row authentication reads (see `callers`).
    credentials_changed: bool,
}

impl PgConn<'_, '_> {
    /// The statement prepared on this connection, preparing it the first time.
    fn prepared(&mut self, sql: &str) -> Result<Statement, ApiError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(&postgres_placeholders(sql))?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

fn params<'a>(args: &'a [Arg<'_>]) -> Vec<&'a (dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

impl Conn for PgConn<'_, '_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, ApiError> {
        let statement = self.prepared(sql)?;
        let changed = self.tx.execute(&statement, &params(args))?;
        if self.writing && changed > 0 && !self.credentials_changed {
            self.credentials_changed = callers::touches_credentials(sql);
        }
        Ok(changed)
    }

    fn query(&mut self, sql: &str, args: &[Arg<'_>], each: EachRow<'_>) -> Result<(), ApiError> {
        let statement = self.prepared(sql)?;
        let rows = self.tx.query(&statement, &params(args))?;
        if self.writing && !self.credentials_changed {
            self.credentials_changed = callers::touches_credentials(sql);
        }
        for row in rows {
            each(&row)?;
        }
        Ok(())
    }
}

/// Arguments take the type the statement expects of them: an integer may fill a `DOUBLE
/// PRECISION` or `INTEGER` parameter too.
impl ToSql for Arg<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Arg::Int(i) if *ty == Type::FLOAT8 => (i as f64).to_sql(ty, out),
            Arg::Int(i) if *ty == Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
            Arg::Int(i) => i.to_sql(ty, out),
            Arg::Real(f) => f.to_sql(ty, out),
            Arg::Bool(b) => b.to_sql(ty, out),
            Arg::Text(t) => t.to_sql(ty, out),
            Arg::Blob(b) => b.to_sql(ty, out),
            Arg::Null => Ok(IsNull::Yes),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn to_sql_checked(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match *self {
            Arg::Int(i) if *ty == Type::FLOAT8 => (i as f64).to_sql_checked(ty, out),
            Arg::Int(i) if *ty == Type::INT4 => i32::try_from(i)?.to_sql_checked(ty, out),
            Arg::Int(i) => i.to_sql_checked(ty, out),
            Arg::Real(f) => f.to_sql_checked(ty, out),
            Arg::Bool(b) => b.to_sql_checked(ty, out),
            Arg::Text(t) => t.to_sql_checked(ty, out),
            Arg::Blob(b) => b.to_sql_checked(ty, out),
            Arg::Null => Ok(IsNull::Yes),
        }
    }
}

impl SqlRow for Row {
    sql_row_getters!(try_get);
}

#[cfg(test)]
pub(crate) mod testing {
    //! A store on a schema of its own, for unit tests; `None` (and a note on stderr) without
    //! `B24_TEST_POSTGRES_URL`.

    use super::*;

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
        let base = crate::test_env::postgres_only("store unit tests")?;
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

    use crate::store::query::plan_test_queries::*;

    #[track_caller]
    fn assert_indexed(plan: &[String], table: &str, index: &str) {
        PlanText {
            searches: |l, table, index| l.contains(&format!(" on {table}")) && l.contains(index),
            scans: |l, table| l.contains(&format!("Seq Scan on {table}")),
            sort: "Sort",
        }
        .assert_indexed(plan, table, index)
    }

    #[test]
    fn item_pages_by_id_and_by_assignee_use_an_index() {
        let Some(s) = store() else { return };
        let plan = s
            .store
            .explain_items_page(1, 2, &after_id(500_000))
            .unwrap();
        assert_indexed(&plan, "crm_items", "crm_items_pkey");
        let plan = s.store.explain_items_page(1, 2, &own_items()).unwrap();
        assert_indexed(&plan, "crm_items", "crm_items_by_assignee");
    }

    #[test]
    fn activity_pages_by_start_time_owner_and_binding_use_an_index() {
        let Some(s) = store() else { return };
        let plan = s
            .store
            .explain_activities_page(1, &by_start_time())
            .unwrap();
        assert_indexed(&plan, "activities", "activities_by_start_time");
        let plan = s.store.explain_activities_page(1, &by_owner()).unwrap();
        assert_indexed(&plan, "activities", "activities_by_owner");
        let plan = s
            .store
            .explain_activities_page(1, &bound_to_one_item())
            .unwrap();
        assert_indexed(&plan, "activity_bindings", "activity_bindings_by_item");
    }

    #[test]
    fn disk_pages_and_lookups_use_an_index() {
        use crate::store::disk::{CHILDREN_PAGE, CHUNK, DETACH_EVERYWHERE};
        let Some(s) = store() else { return };
        let page = [Arg::Int(1), Arg::Int(7), Arg::Int(50), Arg::Int(0)];
        let plan = s.store.explain(CHILDREN_PAGE, &page).unwrap();
        assert_indexed(&plan, "disk_objects", "disk_objects_by_parent");
        // The storages page (administrators only; one storage per user) is pinned to the primary
        // key by SQLite's plan test: on an empty, unanalysed table PostgreSQL's planner rather
        // sorts its estimated three rows, whichever index is there.
        let plan = s
            .store
            .explain(CHUNK, &[Arg::Int(1), Arg::Int(3), Arg::Int(0)])
            .unwrap();
        assert_indexed(&plan, "disk_chunks", "disk_chunks_pkey");
        let plan = s
            .store
            .explain(DETACH_EVERYWHERE, &[Arg::Int(1), Arg::Int(3)])
            .unwrap();
        assert_indexed(&plan, "timeline_files", "timeline_files_by_object");
    }
}
