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
use super::driver::{
    check_expected, postgres_placeholders, sql_row_getters, Arg, Conn, Dialect, EachRow, Expect,
    SqlRow,
};
use super::handlers::{self, touches_handlers, HandlerCache};
use super::schema::MIGRATIONS;
use super::sql::{SqlTx, NUL_IN_TEXT};
use super::*;
use crate::clock::Clock;
use crate::error::ApiError;
use anyhow::Context as _;
use b24_protocol::{ErrorCode, RestError};
use bytes::BytesMut;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{NoTls, Row, Statement, ToStatement};

/// A database error (the sync `postgres` crate's is the same type).
type PgError = tokio_postgres::Error;

/// Statement arguments as the client takes them.
type Params<'a> = [&'a (dyn ToSql + Sync)];

/// A pooled connection: the asynchronous client, driven on the calling thread by a runtime of
/// its own, and the statements it has prepared, so each statement text is parsed and planned
/// once per connection and every later run is one round trip.
///
/// Why not the sync `postgres` crate (which wraps the same client the same way): it waits for
/// each statement's answer before sending the next, so a transaction costs one round trip per
/// statement plus `BEGIN`. Here `PgClient::pipeline` sends several statements at once and
/// reads their answers in order: `BEGIN` goes with a transaction's first statement, and a write
/// whose answer nobody needs at once goes with the statement after it (see `PgConn`).
pub struct PgClient {
    client: tokio_postgres::Client,
    /// A current-thread runtime: the connection's socket is served only while a call of this
    /// client waits in `block_on`, on the caller's own thread (no hop to another thread).
    runtime: tokio::runtime::Runtime,
    statements: HashMap<String, Statement>,
    /// When a call last finished with this connection (see [`PgManager::is_valid`]).
    returned: Instant,
    /// A transaction on it could not be ended: never hand it out again.
    broken: bool,
}

/// One step of a pipeline and what it answers.
type Step<'f> = Pin<Box<dyn Future<Output = Result<Answer, PgError>> + 'f>>;

/// What a pipelined step answered.
enum Answer {
    Rows(Vec<Row>),
    Changed(u64),
    Done,
}

impl PgClient {
    fn connect(config: &tokio_postgres::Config) -> Result<PgClient, PgError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime builds");
        let (client, connection) = runtime.block_on(config.connect(NoTls))?;
        // Its error, if any, closes the client: `is_closed` reports it and the pool drops it.
        runtime.spawn(async move {
            let _ = connection.await;
        });
        Ok(PgClient {
            client,
            runtime,
            statements: HashMap::new(),
            returned: Instant::now(),
            broken: false,
        })
    }

    /// The statement prepared on this connection, preparing it the first time; `sql` is
    /// already in PostgreSQL's `$n` form.
    pub fn prepared(&mut self, sql: &str) -> Result<Statement, PgError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        self.prepare_as(sql, sql)
    }

    /// Prepares `sql` and keeps it under `key` (the text as the caller writes it).
    fn prepare_as(&mut self, key: &str, sql: &str) -> Result<Statement, PgError> {
        let statement = self.runtime.block_on(self.client.prepare(sql))?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(key.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Every row of a query.
    pub fn query<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &Params<'_>,
    ) -> Result<Vec<Row>, PgError> {
        self.runtime.block_on(self.client.query(statement, params))
    }

    /// The one row of a query (an error without exactly one).
    pub fn query_one<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &Params<'_>,
    ) -> Result<Row, PgError> {
        self.runtime
            .block_on(self.client.query_one(statement, params))
    }

    /// Runs a statement, returning how many rows it changed.
    pub fn execute<T: ?Sized + ToStatement>(
        &mut self,
        statement: &T,
        params: &Params<'_>,
    ) -> Result<u64, PgError> {
        self.runtime
            .block_on(self.client.execute(statement, params))
    }

    /// Runs statements separated by semicolons, without arguments (the simple protocol).
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), PgError> {
        self.runtime.block_on(self.client.batch_execute(sql))
    }

    /// Opens a transaction (`BEGIN` at once), rolled back unless committed.
    pub fn transaction(&mut self) -> Result<PgTransaction<'_>, PgError> {
        self.batch_execute("BEGIN")?;
        Ok(PgTransaction {
            client: self,
            open: true,
        })
    }

    /// Sends every step before reading any answer, then reads the answers in order: one round
    /// trip for all of them. PostgreSQL still runs them one after the other, each a statement of
    /// its own (in `READ COMMITTED`, with a snapshot taken when it starts); after a failure, the
    /// later steps of an open transaction fail too ("current transaction is aborted").
    ///
    /// A step that fails before it is sent (an argument that does not fit its parameter) stops
    /// the steps after it from being sent at all: they answer `None`. Otherwise a `COMMIT` at the
    /// end would commit the transaction without that statement.
    fn pipeline(&self, steps: Vec<Step<'_>>) -> Vec<Option<Result<Answer, PgError>>> {
        let mut steps = steps;
        let mut answers: Vec<Option<Result<Answer, PgError>>> =
            steps.iter().map(|_| None).collect();
        // Steps polled so far: each is polled first in order, so its messages are queued after
        // the previous step's.
        let mut started = 0;
        let mut refused = false;
        self.runtime.block_on(std::future::poll_fn(|cx| {
            let mut waiting = false;
            for (i, (step, answer)) in steps.iter_mut().zip(answers.iter_mut()).enumerate() {
                if answer.is_some() {
                    continue;
                }
                let first = i >= started;
                if first {
                    if refused {
                        break;
                    }
                    started = i + 1;
                }
                match step.as_mut().poll(cx) {
                    Poll::Ready(out) => {
                        refused |= first && out.is_err();
                        *answer = Some(out);
                    }
                    Poll::Pending => waiting = true,
                }
            }
            if waiting {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        }));
        answers
    }
}

/// A transaction of [`PgClient::transaction`], for the statements outside the store's calls
/// (migrations, the limiter, plans): rolled back when dropped uncommitted.
pub struct PgTransaction<'c> {
    client: &'c mut PgClient,
    open: bool,
}

impl PgTransaction<'_> {
    /// Commits.
    pub fn commit(mut self) -> Result<(), PgError> {
        self.open = false;
        self.client.batch_execute("COMMIT")
    }
}

impl std::ops::Deref for PgTransaction<'_> {
    type Target = PgClient;
    fn deref(&self) -> &PgClient {
        self.client
    }
}

impl std::ops::DerefMut for PgTransaction<'_> {
    fn deref_mut(&mut self) -> &mut PgClient {
        self.client
    }
}

impl Drop for PgTransaction<'_> {
    fn drop(&mut self) {
        if self.open && self.client.batch_execute("ROLLBACK").is_err() {
            self.client.broken = true;
        }
    }
}

/// How long after its last use a pooled connection is handed out without a check.
const TRUSTED_FOR: Duration = Duration::from_secs(1);

/// Prepared statements kept per connection: every fixed statement plus the recent list shapes.
/// Past it the cache starts over (list filters can produce many shapes).
const STATEMENT_CACHE: usize = 256;

/// Opens [`PgClient`]s for the pool.
pub struct PgManager {
    config: tokio_postgres::Config,
}

impl r2d2::ManageConnection for PgManager {
    type Connection = PgClient;
    type Error = PgError;

    fn connect(&self) -> Result<PgClient, PgError> {
        PgClient::connect(&self.config)
    }

    /// Checked on every checkout. A connection that answered a moment ago is taken as it is:
    /// the empty query costs a round trip, and a busy server checks out a connection several
    /// times per call. One idle for longer (the database may have restarted meanwhile) is asked.
    fn is_valid(&self, conn: &mut PgClient) -> Result<(), PgError> {
        if conn.returned.elapsed() < TRUSTED_FOR && !conn.client.is_closed() {
            return Ok(());
        }
        conn.batch_execute("")
    }

    /// Called as a connection goes back to the pool: a connection whose socket closed, or whose
    /// transaction could not be ended, is dropped.
    fn has_broken(&self, conn: &mut PgClient) -> bool {
        conn.returned = Instant::now();
        conn.broken || conn.client.is_closed()
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

/// Connections per server process. Also the default of `serve`'s blocking pool on PostgreSQL
/// (`--blocking-threads`): a store call holds its thread while it waits for the database, and
/// more threads than connections would only wait for a connection.
pub const POOL_SIZE: u32 = 16;

/// How long a call waits for a free connection before failing.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// See the module docs.
pub struct PgStore {
    pool: PgPool,
    clock: Arc<dyn Clock>,
    callers: CallerCache,
    /// Smart-process types and user fields read before (see `store/catalogue.rs`).
    catalogue: Arc<super::catalogue::CatalogueCache>,
    handlers: HandlerCache,
}

/// Whether a `--database-url` names PostgreSQL.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl PgStore {
    /// Connects and runs the migrations that have not run yet.
    pub fn open(url: &str, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let config: tokio_postgres::Config =
            url.parse().context("could not parse the database URL")?;
        let manager = PgManager { config };
        off_runtime(move || {
            let pool = PgPool(Some(
                r2d2::Pool::builder()
                    .max_size(POOL_SIZE)
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
                handlers: HandlerCache::default(),
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
            // A write reads the handlers version with its first statement (`store/handlers.rs`).
            let handlers_version = match writing {
                true => Some(conn.prepared(handlers::READ)?),
                false => None,
            };
            let mut pg = PgConn {
                client: &mut conn,
                pending: Pending {
                    begin: Some(match writing {
                        true => "BEGIN",
                        false => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                    }),
                    handlers_version,
                    later: Vec::new(),
                    credentials_changed: false,
                    handlers_read_under: None,
                    handlers_changed: false,
                },
                writing,
                handlers: &self.handlers,
                ended: false,
            };
            let now = self.clock.now_in(portal);
            let ended = f(&mut SqlTx::new(&mut pg, portal, now, writing))
                .and_then(|out| Ok((out, pg.end()?)));
            match ended {
                Ok((out, credentials_changed)) => {
                    if credentials_changed {
                        self.callers.bump();
                    }
                    Ok(out)
                }
                Err(e) => {
                    pg.roll_back();
                    Err(e)
                }
            }
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
        caller: std::sync::Arc<crate::auth::Caller>,
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
fn migrate(conn: &mut PgClient) -> anyhow::Result<()> {
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
    tx.batch_execute(handlers::CREATE)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        tx.batch_execute(sql)?;
        tx.execute(
            "UPDATE b24_schema_version SET version = $1 WHERE id = 1",
            &[&(i as i64 + 1)],
        )?;
    }
    Ok(tx.commit()?)
}

impl From<PgError> for ApiError {
    fn from(e: PgError) -> Self {
        use tokio_postgres::error::SqlState;
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

/// A connection inside a PostgreSQL transaction, for [`SqlTx`]. Nothing is sent until the
/// first statement: `BEGIN` goes with it. A write whose answer the caller does not need at once
/// ([`Conn::execute_later`]) waits for the next statement and goes with it (or with `COMMIT`):
/// its failure, or a changed-row count other than expected, still fails the call, reported by
/// that next statement, and the transaction rolls back.
struct PgConn<'a> {
    client: &'a mut PgClient,
    pending: Pending,
    writing: bool,
    handlers: &'a HandlerCache,
    /// Committed or rolled back: nothing left to end when dropped.
    ended: bool,
}

/// What a [`PgConn`] has not sent yet, and what its statements changed.
struct Pending {
    /// `BEGIN …` until it has been sent.
    begin: Option<&'static str>,
    /// A write's [`handlers::READ`], sent right after `BEGIN`.
    handlers_version: Option<Statement>,
    /// Statements sent with the next one.
    later: Vec<Later>,
    /// Whether a statement changed a row authentication reads (see `callers`).
    credentials_changed: bool,
    /// The handlers version this transaction read.
    handlers_read_under: Option<i64>,
    /// Whether a statement changed an event handler (see `store/handlers.rs`).
    handlers_changed: bool,
}

/// A statement of [`Conn::execute_later`], with what it must change.
struct Later {
    statement: Statement,
    args: Vec<OwnedArg>,
    expect: Option<Expect>,
    /// Whether it may change a table authentication reads (when it changes rows).
    credentials: bool,
    /// Whether it may change an event handler (when it changes rows).
    handlers: bool,
}

/// An [`Arg`] that owns its text, for a statement sent later.
#[derive(Debug)]
enum OwnedArg {
    Int(i64),
    Real(f64),
    Bool(bool),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

impl OwnedArg {
    fn of(arg: &Arg<'_>) -> Self {
        match *arg {
            Arg::Int(i) => OwnedArg::Int(i),
            Arg::Real(f) => OwnedArg::Real(f),
            Arg::Bool(b) => OwnedArg::Bool(b),
            Arg::Text(t) => OwnedArg::Text(t.to_owned()),
            Arg::Blob(b) => OwnedArg::Blob(b.to_vec()),
            Arg::Null => OwnedArg::Null,
        }
    }

    fn arg(&self) -> Arg<'_> {
        match self {
            OwnedArg::Int(i) => Arg::Int(*i),
            OwnedArg::Real(f) => Arg::Real(*f),
            OwnedArg::Bool(b) => Arg::Bool(*b),
            OwnedArg::Text(t) => Arg::Text(t),
            OwnedArg::Blob(b) => Arg::Blob(b),
            OwnedArg::Null => Arg::Null,
        }
    }
}

impl ToSql for OwnedArg {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.arg().to_sql(ty, out)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn to_sql_checked(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.arg().to_sql_checked(ty, out)
    }
}

impl Pending {
    /// Sends `BEGIN` (if not sent yet), the `later` statements and then `tail` in one pipeline
    /// ([`PgClient::pipeline`]), and checks the answers in order: the first failure, or the first
    /// `later` statement that changed another number of rows than expected, is the error.
    /// Returns `tail`'s answers.
    fn send<'c>(
        &mut self,
        client: &'c PgClient,
        tail: Vec<Step<'c>>,
    ) -> Result<Vec<Answer>, ApiError> {
        let db = &client.client;
        let begin = self.begin.take();
        let later = std::mem::take(&mut self.later);
        let mut steps: Vec<Step<'c>> = Vec::with_capacity(1 + later.len() + tail.len());
        let version = begin.and(self.handlers_version.take());
        if let Some(begin) = begin {
            steps.push(Box::pin(async move {
                db.batch_execute(begin).await.map(|()| Answer::Done)
            }));
        }
        let reads_version = version.is_some();
        if let Some(version) = version {
            steps.push(Box::pin(async move {
                db.query(&version, &[]).await.map(Answer::Rows)
            }));
        }
        let mut checks = Vec::with_capacity(later.len());
        for Later {
            statement,
            args,
            expect,
            credentials,
            handlers,
        } in later
        {
            checks.push((expect, credentials, handlers));
            steps.push(Box::pin(async move {
                let params: Vec<&(dyn ToSql + Sync)> =
                    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
                db.execute(&statement, &params).await.map(Answer::Changed)
            }));
        }
        steps.extend(tail);
        let mut answers = client.pipeline(steps).into_iter().map(|answer| {
            // Not sent after an earlier step failed: that failure is reported first.
            answer.ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("a statement was not sent after a failure"))
            })
        });
        if begin.is_some() {
            answers.next().expect("one answer per step")??;
        }
        if reads_version {
            if let Answer::Rows(rows) = answers.next().expect("one answer per step")?? {
                self.handlers_read_under = match rows.first() {
                    Some(row) => Some(row.try_get(0)?),
                    None => None,
                };
            }
        }
        for (expect, credentials, handlers) in checks {
            let changed = match answers.next().expect("one answer per step")? {
                Ok(Answer::Changed(n)) => n,
                Ok(_) => 0,
                Err(e) => return Err(unique_as_expected(e, expect)),
            };
            check_expected(changed, expect)?;
            self.credentials_changed |= credentials && changed > 0;
            self.handlers_changed |= handlers && changed > 0;
        }
        let mut tail = Vec::new();
        for answer in answers {
            tail.push(answer??);
        }
        Ok(tail)
    }
}

impl PgConn<'_> {
    /// The statement prepared on this connection, preparing it the first time.
    fn prepared(&mut self, sql: &str) -> Result<Statement, ApiError> {
        if let Some(statement) = self.client.statements.get(sql) {
            return Ok(statement.clone());
        }
        Ok(self.client.prepare_as(sql, &postgres_placeholders(sql))?)
    }

    /// Ends the transaction: a write commits (with what still waits; the credentials version is
    /// bumped first when a credential changed), a read rolls back. Nothing is sent for a
    /// transaction that sent nothing. Returns whether a credential changed.
    fn end(&mut self) -> Result<bool, ApiError> {
        if !self.writing {
            if self.pending.begin.is_none() {
                self.client.batch_execute("ROLLBACK")?;
            }
            self.ended = true;
            return Ok(false);
        }
        // Their answers decide the call, so they are read before `COMMIT` is sent: a count that
        // does not match fails a call PostgreSQL would otherwise commit, and a changed credential
        // needs the version bump inside the transaction.
        let pending = &mut self.pending;
        if pending
            .later
            .iter()
            .any(|l| matches!(l.expect, Some(Expect::Rows(..))) || l.credentials || l.handlers)
        {
            pending.send(&*self.client, Vec::new())?;
        }
        if self.pending.credentials_changed {
            self.execute_later(callers::BUMP, &[], None)?;
        }
        if self.pending.handlers_changed {
            self.execute_later(handlers::BUMP, &[], None)?;
        }
        let pending = &mut self.pending;
        if pending.begin.is_none() || !pending.later.is_empty() {
            let db = &self.client.client;
            let commit: Step<'_> =
                Box::pin(async move { db.batch_execute("COMMIT").await.map(|()| Answer::Done) });
            pending.send(&*self.client, vec![commit])?;
        }
        self.ended = true;
        Ok(self.pending.credentials_changed)
    }

    /// After a failure: rolls back what was sent (a connection that cannot is not reused).
    fn roll_back(&mut self) {
        self.ended = true;
        self.pending.later.clear();
        if self.pending.begin.is_none() && self.client.batch_execute("ROLLBACK").is_err() {
            self.client.broken = true;
        }
    }
}

/// A call that panicked in the middle of its transaction leaves it here: rolled back, so the
/// connection goes back to the pool outside any transaction.
impl Drop for PgConn<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.roll_back();
        }
    }
}

/// A statement's error as its [`Expect`] has it: a broken unique key is an [`Expect::Unique`]'s
/// error.
fn unique_as_expected(error: PgError, expect: Option<Expect>) -> ApiError {
    match expect {
        Some(Expect::Unique(code)) if breaks_unique_key(&error) => code.into(),
        _ => error.into(),
    }
}

fn breaks_unique_key(error: &PgError) -> bool {
    error.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

fn params<'a>(args: &'a [Arg<'_>]) -> Vec<&'a (dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

impl Conn for PgConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, ApiError> {
        let statement = self.prepared(sql)?;
        let params = params(args);
        let db = &self.client.client;
        let step: Step<'_> =
            Box::pin(async { db.execute(&statement, &params).await.map(Answer::Changed) });
        let changed = match self.pending.send(&*self.client, vec![step])?.pop() {
            Some(Answer::Changed(n)) => n,
            _ => 0,
        };
        if self.writing && changed > 0 {
            self.pending.credentials_changed |= callers::touches_credentials(sql);
            self.pending.handlers_changed |= touches_handlers(sql);
        }
        Ok(changed)
    }

    fn execute_later(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        expect: Option<Expect>,
    ) -> Result<(), ApiError> {
        if !self.writing {
            // A read-only transaction refuses it: at once, as any other write.
            let changed = match self.execute(sql, args) {
                Ok(changed) => changed,
                Err(e) => return Err(self.unique_as_expected(e, expect)),
            };
            return check_expected(changed, expect);
        }
        let statement = self.prepared(sql)?;
        self.pending.later.push(Later {
            statement,
            args: args.iter().map(OwnedArg::of).collect(),
            expect,
            credentials: callers::touches_credentials(sql),
            handlers: touches_handlers(sql),
        });
        Ok(())
    }

    fn query(&mut self, sql: &str, args: &[Arg<'_>], each: EachRow<'_>) -> Result<(), ApiError> {
        self.query_many(&[(sql, args)], &mut |_, row| each(row))
    }

    fn query_many(
        &mut self,
        queries: &[(&str, &[Arg<'_>])],
        each: &mut dyn FnMut(usize, &dyn SqlRow) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        let statements = queries
            .iter()
            .map(|(sql, _)| self.prepared(sql))
            .collect::<Result<Vec<_>, _>>()?;
        let params: Vec<_> = queries.iter().map(|(_, args)| params(args)).collect();
        let db = &self.client.client;
        let steps: Vec<Step<'_>> = statements
            .iter()
            .zip(&params)
            .map(|(statement, params)| -> Step<'_> {
                Box::pin(async move { db.query(statement, params).await.map(Answer::Rows) })
            })
            .collect();
        let answers = self.pending.send(&*self.client, steps)?;
        if self.writing {
            for (sql, _) in queries {
                self.pending.credentials_changed |= callers::touches_credentials(sql);
                self.pending.handlers_changed |= touches_handlers(sql);
            }
        }
        for (i, answer) in answers.into_iter().enumerate() {
            if let Answer::Rows(rows) = answer {
                for row in rows {
                    each(i, &row)?;
                }
            }
        }
        Ok(())
    }

    fn broke_unique_key(&self, error: &ApiError) -> bool {
        let ApiError::Internal(error) = error else {
            return false;
        };
        error
            .downcast_ref::<PgError>()
            .is_some_and(breaks_unique_key)
    }

    fn remembered_handlers(
        &mut self,
        portal: PortalId,
        event: &str,
    ) -> Option<Vec<EventHandlerRecord>> {
        // Not after a change of handlers in this transaction, sent or still waiting.
        let changing =
            self.pending.handlers_changed || self.pending.later.iter().any(|l| l.handlers);
        match self.pending.handlers_read_under {
            Some(version) if !changing => self.handlers.get(portal, event, version),
            _ => None,
        }
    }

    fn remember_handlers(
        &mut self,
        portal: PortalId,
        event: &str,
        handlers: &[EventHandlerRecord],
    ) {
        if let (Some(version), false) = (
            self.pending.handlers_read_under,
            self.pending.handlers_changed,
        ) {
            self.handlers.put(portal, event, version, handlers);
        }
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

#[cfg(test)]
mod transaction_tests {
    use super::testing::store;
    use super::*;

    #[test]
    fn a_call_that_panics_mid_transaction_leaves_nothing_behind_for_the_next_call() {
        let Some(s) = store() else { return };
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            s.store
                .transaction(DEFAULT_PORTAL, true, |tx| -> Result<(), ApiError> {
                    tx.server_key("panicked", &[1; 32])?;
                    panic!("a bug in the middle of a call");
                })
        }));
        assert!(panicked.is_err());
        // The next call gets the same pooled connection: had the panicked transaction stayed
        // open on it, this would run inside it and find the key that call wrote.
        let key = s
            .store
            .transaction(DEFAULT_PORTAL, true, |tx| {
                tx.server_key("panicked", &[2; 32])
            })
            .unwrap();
        assert_eq!(key, vec![2; 32]);
    }
}
