//! Test support shared by the workspace's test suites (a dev-dependency only):
//!
//! - [`spawn_app`] / [`spawn_app_with`]: a fresh server with its own temporary data directory,
//!   on an ephemeral port, and a [`TestApp`] to talk to it.
//! - [`TestSchema`]: with `B24_TEST_POSTGRES_URL` set, every server stores its data in a
//!   PostgreSQL schema of its own in that database instead of SQLite (emptied when the test ends
//!   and reused by a later test of the same process), so a whole suite runs against both backends.
//! - [`postgres_url`] and [`postgres_only`]: the backend rule (see `b24_server::test_env`);
//!   PostgreSQL-only tests skip without a database, except under CI.
//! - [`server_binary`]: the `b24-server` executable of the same target directory.

use b24_server::admin;
use b24_server::domain::permissions::RightGrant;
use b24_server::store::DEFAULT_PORTAL;
use b24_server::{Application, ServeConfig};
use serde_json::{json, Value};
use std::path::PathBuf;
use tempfile::TempDir;
use tokio::sync::oneshot;

pub use b24_server::test_env::{postgres_only, postgres_url};

/// A running server and what tests need to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The administrator's webhook URL (ends with `/`).
    pub admin_url: String,
    /// A keep-alive HTTP client.
    pub client: reqwest::Client,
    /// The server's data directory (the CLI may share it).
    pub dir: TempDir,
    /// `https://127.0.0.1:PORT` when the test turned HTTPS on.
    pub https_base: Option<String>,
    /// The local CA certificate when HTTPS is on.
    pub ca_pem: Option<std::path::PathBuf>,
    /// The server's shared state, for setup through the library.
    pub state: b24_server::state::AppState,
    /// The PostgreSQL URL (with its own schema) when the suite runs against PostgreSQL.
    pub database_url: Option<String>,
    /// The admin token of the test-double controls (`/_b24/`), as the token file holds it.
    pub admin_token: String,
    _stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Declared after `_stop`: the server is told to stop before its schema is emptied.
    _schema: Option<TestSchema>,
}

/// A schema of its own in the test database, empty when handed out.
pub struct TestSchema {
    base: String,
    name: String,
    /// The URL that points a server at this schema.
    pub url: String,
}

/// Emptied schemas of this process, ready for the next test: creating and migrating a schema
/// costs PostgreSQL a few hundred milliseconds of catalog work, emptying one a few.
static FREE_SCHEMAS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Schemas are named `t_<pid>_<n>`; those of processes that no longer run are dropped once.
static SWEEP_STALE: std::sync::Once = std::sync::Once::new();

fn pg_execute(url: &str, sql: &str) {
    let (url, sql) = (url.to_string(), sql.to_string());
    off_runtime(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls)
            .expect("B24_TEST_POSTGRES_URL: PostgreSQL is reachable");
        client.batch_execute(&sql).expect("SQL runs");
    });
}

/// Drops the test schemas of processes that are gone (a test binary that was killed, or the
/// emptied schemas every run leaves behind).
fn sweep_stale_schemas(base: &str) {
    let base = base.to_string();
    off_runtime(move || {
        let mut client = postgres::Client::connect(&base, postgres::NoTls)
            .expect("B24_TEST_POSTGRES_URL: PostgreSQL is reachable");
        let rows = client
            .query(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%\\_%'",
                &[],
            )
            .expect("list schemas");
        for row in rows {
            let name: String = row.get(0);
            let pid = name.split('_').nth(1).and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists()) {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
            }
        }
    });
}

impl TestSchema {
    /// An empty schema in the database `base` names: an emptied one of this process, or a new
    /// `t_<pid>_<n>`.
    pub fn create(base: &str) -> TestSchema {
        SWEEP_STALE.call_once(|| sweep_stale_schemas(base));
        let reused = FREE_SCHEMAS.lock().unwrap().pop();
        let name = reused.unwrap_or_else(|| {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = format!("t_{}_{n}", std::process::id());
            pg_execute(base, &format!("CREATE SCHEMA {name}"));
            name
        });
        let glue = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{glue}options=-csearch_path%3D{name}");
        TestSchema {
            base: base.to_string(),
            name,
            url,
        }
    }

    /// Runs SQL in this schema (tests that inject failures).
    pub fn execute(&self, sql: &str) {
        pg_execute(&self.url, sql);
    }
}

impl Drop for TestSchema {
    /// Empties every table but the schema version (the next test skips the migrations) and
    /// hands the schema on; if that fails, drops it.
    fn drop(&mut self) {
        let name = self.name.clone();
        let empty = format!(
            "DO $$ DECLARE t record; BEGIN
                 FOR t IN SELECT tablename FROM pg_tables
                          WHERE schemaname = '{name}' AND tablename <> 'b24_schema_version' LOOP
                     EXECUTE format('DELETE FROM %I.%I', '{name}', t.tablename);
                 END LOOP;
             END $$;"
        );
        let drop = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
        let base = self.base.clone();
        let emptied = off_runtime(move || {
            let Ok(mut client) = postgres::Client::connect(&base, postgres::NoTls) else {
                return false;
            };
            if client.batch_execute(&empty).is_ok() {
                return true;
            }
            // Best effort: a leftover schema is swept by a later run.
            let _ = client.batch_execute(&drop);
            false
        });
        if emptied && !std::thread::panicking() {
            FREE_SCHEMAS.lock().unwrap().push(self.name.clone());
        }
    }
}

/// Starts a server on 127.0.0.1:0 with a new data directory (no request-rate limit).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after letting the test adjust its configuration (plan, clock, costs, …).
pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let schema = postgres_url().map(|base| TestSchema::create(&base));
    spawn_app_in(dir, schema, None, configure).await
}

/// Starts a server on an existing data directory; `admin_url` is required when the portal
/// already exists (its webhook code is only shown on the first start).
pub async fn spawn_app_in(
    dir: TempDir,
    schema: Option<TestSchema>,
    admin_url: Option<String>,
    configure: impl FnOnce(&mut ServeConfig),
) -> TestApp {
    let mut config = ServeConfig::new(dir.path().to_path_buf(), "127.0.0.1:0".parse().unwrap());
    config.database_url = schema.as_ref().map(|s| s.url.clone());
    configure(&mut config);
    let database_url = config.database_url.clone();
    let app = Application::build(config).await.expect("server builds");
    let base = format!("http://{}", app.local_addr());
    let https_base = app.tls_addr().map(|a| format!("https://{a}"));
    let ca_pem = app.ca_cert_path().map(|p| p.to_path_buf());
    let admin_url = app
        .first_start_webhook_url()
        .or(admin_url)
        .expect("first start creates a webhook");
    let state = app.state().clone();
    let admin_token = std::fs::read_to_string(dir.path().join("admin-token"))
        .expect("the server writes its admin token file")
        .trim()
        .to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        https_base,
        ca_pem,
        base,
        admin_url,
        client: reqwest::Client::new(),
        dir,
        state,
        database_url,
        admin_token,
        _stop: stop,
        server,
        _schema: schema,
    }
}

impl TestApp {
    /// Stops the server (waiting until it has stopped, background tasks included) and starts a
    /// new one on the same data directory, as a process restart would.
    pub async fn restart(self, configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let TestApp {
            dir,
            _stop,
            server,
            admin_url,
            _schema,
            ..
        } = self;
        drop(_stop);
        server
            .await
            .expect("the server task ends")
            .expect("the server stops cleanly");
        // The old webhook URL names the old port; keep its user and code.
        let path = admin_url
            .split_once("/rest/")
            .map(|(_, p)| p.to_string())
            .expect("a webhook URL");
        let mut app = spawn_app_in(dir, _schema, Some(String::new()), configure).await;
        app.admin_url = format!("{}/rest/{path}", app.base);
        app
    }
}

impl TestApp {
    /// Calls an admin route (`path` after `/_b24`, with its query) with the admin token and an
    /// optional JSON body; returns the status and JSON answer (`null` for an empty one).
    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}/_b24{path}", self.base))
            .bearer_auth(&self.admin_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin request");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        if bytes.is_empty() {
            return (status, Value::Null);
        }
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
        (status, value)
    }
}

/// Status and JSON body of an answer; asserts the JSON content type every answer must carry.
pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "content type was {content_type:?}"
    );
    let body = response.bytes().await.expect("body");
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&body)));
    (status, value)
}

impl TestApp {
    /// The command line, pointed at this server's database (data directory, and PostgreSQL
    /// schema when the suite runs against PostgreSQL).
    pub fn cli(&self) -> std::process::Command {
        let mut command = std::process::Command::new(server_binary());
        command
            .env("B24_DATA_DIR", self.dir.path())
            .env("B24_LOG", "warn");
        match &self.database_url {
            Some(url) => command.env("B24_DATABASE_URL", url),
            None => command.env_remove("B24_DATABASE_URL"),
        };
        command
    }

    /// Makes every update of `table` fail inside the database (a trigger), as a broken disk or
    /// constraint would; the returned guard removes the trigger.
    pub fn fail_updates_of(&self, table: &str) -> InjectedFailure<'_> {
        self.inject_failure("UPDATE", table, "TRUE")
    }

    /// Makes inserts into `table` of rows for which `when` holds fail inside the database (a
    /// trigger; `when` is an SQL condition on `NEW` that both backends accept, such as
    /// `NEW.handler = 'http://…'`); the returned guard removes the trigger.
    pub fn fail_inserts_into(&self, table: &str, when: &str) -> InjectedFailure<'_> {
        self.inject_failure("INSERT", table, when)
    }

    fn inject_failure(&self, operation: &str, table: &str, when: &str) -> InjectedFailure<'_> {
        let message = "injected failure with secret-looking detail";
        match &self._schema {
            Some(schema) => schema.execute(&format!(
                "CREATE FUNCTION injected_failure() RETURNS trigger LANGUAGE plpgsql AS
                     $$ BEGIN RAISE EXCEPTION '{message}'; END $$;
                 CREATE TRIGGER injected_failure BEFORE {operation} ON {table}
                     FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION injected_failure();"
            )),
            None => self
                .sqlite()
                .execute_batch(&format!(
                    "CREATE TRIGGER injected_failure BEFORE {operation} ON {table} WHEN {when}
                 BEGIN SELECT RAISE(ABORT, '{message}'); END;"
                ))
                .unwrap(),
        }
        InjectedFailure {
            app: self,
            table: table.to_string(),
        }
    }

    fn sqlite(&self) -> r2d2_sqlite::rusqlite::Connection {
        r2d2_sqlite::rusqlite::Connection::open(self.dir.path().join("b24.sqlite3")).unwrap()
    }
    /// JSON POST through the administrator's webhook.
    pub async fn call(&self, method: &str, params: Value) -> (u16, Value) {
        self.call_as(&self.admin_url, method, params).await
    }

    /// JSON POST through any webhook URL.
    pub async fn call_as(&self, webhook_url: &str, method: &str, params: Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{webhook_url}{method}"))
            .json(&params)
            .send()
            .await
            .expect("request");
        read(response).await
    }

    /// GET of a full URL.
    pub async fn get(&self, url: &str) -> (u16, Value) {
        read(self.client.get(url).send().await.expect("request")).await
    }

    /// Form POST of a raw body to a full URL.
    pub async fn post_form(&self, url: &str, body: &str) -> (u16, Value) {
        let response = self
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        read(response).await
    }

    /// The call must succeed; returns `result`.
    pub async fn ok(&self, method: &str, params: Value) -> Value {
        let (status, body) = self.call(method, params).await;
        assert_eq!(status, 200, "{method} failed: {body}");
        body["result"].clone()
    }

    /// The titles of a type's items, oldest first.
    pub async fn item_titles(&self, entity_type_id: i64) -> Vec<String> {
        let result = self
            .ok(
                "crm.item.list",
                json!({"entityTypeId": entity_type_id, "select": ["id", "title"], "order": {"id": "ASC"}}),
            )
            .await;
        result["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["title"].as_str().expect("title").to_string())
            .collect()
    }

    /// A user with rights such as `deal.update=own`.
    pub fn create_user(&self, rights: &[&str]) -> i64 {
        let rights: Vec<RightGrant> = rights.iter().map(|r| r.parse().unwrap()).collect();
        admin::create_user(
            &self.state.store,
            DEFAULT_PORTAL,
            "Test User",
            false,
            &rights,
        )
        .unwrap()
    }

    /// A webhook URL for a user with the given scopes (`None`: all).
    pub fn create_webhook(&self, user_id: i64, scopes: Option<&str>) -> String {
        let scopes = admin::parse_scopes(scopes).unwrap();
        let (_, code) =
            admin::create_webhook(&self.state.store, DEFAULT_PORTAL, user_id, &scopes).unwrap();
        admin::webhook_url(&self.base, user_id, &code)
    }

    /// A new item of a type, assigned to `assigned` (default: the administrator).
    pub async fn new_item(&self, entity_type_id: i64, assigned: Option<i64>) -> i64 {
        let mut fields = json!({"title": "item"});
        if let Some(user) = assigned {
            fields["assignedById"] = json!(user);
        }
        let result = self
            .ok(
                "crm.item.add",
                json!({"entityTypeId": entity_type_id, "fields": fields}),
            )
            .await;
        result["item"]["id"].as_i64().expect("item id")
    }

    /// A to-do bound to one item.
    pub async fn new_todo(&self, owner_type_id: i64, owner_id: i64) -> i64 {
        let result = self
            .ok(
                "crm.activity.todo.add",
                json!({"ownerTypeId": owner_type_id, "ownerId": owner_id, "deadline": "2030-01-01T10:00:00", "title": "todo"}),
            )
            .await;
        result["id"].as_i64().expect("activity id")
    }

    /// The bindings of an activity as `(type, id)` pairs, as the administrator sees them.
    pub async fn bindings(&self, activity_id: i64) -> Vec<(i64, i64)> {
        let result = self
            .ok(
                "crm.activity.binding.list",
                json!({"activityId": activity_id}),
            )
            .await;
        result
            .as_array()
            .expect("a list")
            .iter()
            .map(|b| {
                (
                    b["entityTypeId"].as_i64().unwrap(),
                    b["entityId"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    /// The activity's `(OWNER_TYPE_ID, OWNER_ID)` from `crm.activity.get`.
    pub async fn owner(&self, activity_id: i64) -> (String, String) {
        let a = self
            .ok("crm.activity.get", json!({"id": activity_id}))
            .await;
        (
            a["OWNER_TYPE_ID"].as_str().unwrap().to_string(),
            a["OWNER_ID"].as_str().unwrap().to_string(),
        )
    }
}

/// An OAuth application installed for a user, and the token pair a real code exchange gave.
pub struct InstalledApp {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: String,
    /// The application token events carry.
    pub application_token: String,
    /// The `/oauth/token/` answer (`access_token`, `refresh_token`, …).
    pub tokens: Value,
}

impl TestApp {
    /// Creates an application with `scopes`, authorizes it for `user` at `now` (the server's
    /// clock), and exchanges the code at `/oauth/token/`.
    pub async fn install_app(&self, scopes: &str, user: i64, now: f64) -> InstalledApp {
        let scopes = admin::parse_scopes(Some(scopes)).unwrap();
        let credentials = b24_server::oauth::create_app(
            &self.state.store,
            DEFAULT_PORTAL,
            "Test app",
            &scopes,
            "",
        )
        .unwrap();
        let code = b24_server::oauth::authorize(
            &self.state.store,
            DEFAULT_PORTAL,
            &credentials.client_id,
            user,
            now,
            30.0,
        )
        .unwrap();
        let response = self
            .client
            .post(format!("{}/oauth/token/", self.base))
            .form(
                &json!({"grant_type": "authorization_code", "client_id": credentials.client_id,
                          "client_secret": credentials.client_secret, "code": code}),
            )
            .send()
            .await
            .unwrap();
        let (status, tokens) = read(response).await;
        assert_eq!(status, 200, "{tokens}");
        InstalledApp {
            client_id: credentials.client_id,
            client_secret: credentials.client_secret,
            application_token: credentials.application_token,
            tokens,
        }
    }
}

/// Short, deterministic event delivery for tests: one request at a time (so events arrive in
/// order), quick polling, three attempts, retries 60 s apart (on a manual clock).
pub fn quick_delivery() -> b24_server::events::sender::DeliveryConfig {
    b24_server::events::sender::DeliveryConfig {
        concurrency: 1,
        timeout: std::time::Duration::from_secs(5),
        max_attempts: 3,
        first_retry: std::time::Duration::from_secs(60),
        max_backoff: std::time::Duration::from_secs(600),
        poll_interval: std::time::Duration::from_millis(20),
        ..Default::default()
    }
}

/// The exact error envelope `{error, error_description}`.
pub fn envelope(code: &str, description: &str) -> Value {
    json!({"error": code, "error_description": description})
}

/// Waits (up to 10 s of real time) until the running server has picked up a change an operator
/// made in the database; the server re-reads portal settings every second.
pub async fn eventually(mut applied: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !applied() {
        assert!(
            std::time::Instant::now() < deadline,
            "the change was not applied in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// See [`TestApp::fail_updates_of`] and [`TestApp::fail_inserts_into`].
pub struct InjectedFailure<'a> {
    app: &'a TestApp,
    table: String,
}

impl Drop for InjectedFailure<'_> {
    fn drop(&mut self) {
        match &self.app._schema {
            Some(schema) => schema.execute(&format!(
                "DROP TRIGGER injected_failure ON {}; DROP FUNCTION injected_failure();",
                self.table
            )),
            None => self
                .app
                .sqlite()
                .execute_batch("DROP TRIGGER injected_failure")
                .unwrap(),
        }
    }
}

/// Runs `f` on a thread of its own: the synchronous PostgreSQL client must not run on the async
/// runtime's threads.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .expect("the PostgreSQL helper thread panicked")
    })
}

/// `b24-server` from the same target directory as the running test binary
/// (`target/<profile>/deps/<test>` → `target/<profile>/b24-server`). Cargo builds it for the
/// server's own integration tests, and `cargo test --workspace` for everyone.
///
/// # Panics
/// When the binary has not been built.
pub fn server_binary() -> PathBuf {
    let deps = std::env::current_exe().expect("the test binary's path");
    let profile_dir = deps
        .parent()
        .and_then(|d| d.parent())
        .expect("a test binary lives in target/<profile>/deps");
    let server = profile_dir.join(format!("b24-server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        server.is_file(),
        "{} is missing: run `cargo build -p b24-server` first (cargo test --workspace does)",
        server.display()
    );
    server
}

/// A `b24-server serve` process (the real binary) and what it printed on start.
pub struct ServerProcess {
    /// The process.
    pub child: std::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The administrator's webhook URL (ending in `/`), printed only by the start that created
    /// the portal.
    pub webhook: Option<String>,
    /// The web console's sign-in link with its one-time code, as printed.
    pub console: Option<String>,
}

/// A server a failed assertion left running is stopped with the test.
impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl ServerProcess {
    /// Starts `serve` on plain HTTP, port 0, with the request-rate `plan`, on the data directory
    /// and, when given, the PostgreSQL database `database_url`.
    pub fn start(dir: &std::path::Path, database_url: Option<&str>, plan: &str) -> ServerProcess {
        let server = Self::spawn(dir, database_url, plan);
        assert!(!server.base.is_empty(), "the server printed its address");
        server
    }

    /// Like [`ServerProcess::start`], for a start that may be refused: `base` is empty when the
    /// process ended without listening.
    pub fn spawn(dir: &std::path::Path, database_url: Option<&str>, plan: &str) -> ServerProcess {
        Self::spawn_with(dir, database_url, plan, &[])
    }

    /// Like [`ServerProcess::start`], with more `serve` arguments.
    pub fn start_with(
        dir: &std::path::Path,
        database_url: Option<&str>,
        plan: &str,
        args: &[&str],
    ) -> ServerProcess {
        let server = Self::spawn_with(dir, database_url, plan, args);
        assert!(!server.base.is_empty(), "the server printed its address");
        server
    }

    fn spawn_with(
        dir: &std::path::Path,
        database_url: Option<&str>,
        plan: &str,
        args: &[&str],
    ) -> ServerProcess {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(server_binary())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--no-tls",
                "--plan",
                plan,
            ])
            .args(args)
            .env("B24_DATA_DIR", dir)
            .env("B24_LOG", "warn")
            .env_remove("B24_DATABASE_URL")
            .envs(database_url.map(|url| ("B24_DATABASE_URL", url)))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the server starts");
        let mut webhook = None;
        let mut console = None;
        let mut base = String::new();
        for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
            let line = line.expect("a line of the start-up output");
            if line.trim_start().starts_with("http://") && line.contains("/rest/1/") {
                webhook = Some(line.trim().to_string());
            }
            if line.contains("/_b24/ui/login?code=") {
                console = Some(line.trim().to_string());
            }
            if let Some(addr) = line.strip_prefix("listening on ") {
                base = addr.to_string();
                break;
            }
        }
        ServerProcess {
            child,
            base,
            webhook,
            console,
        }
    }

    /// Stops the process with SIGTERM and waits for it.
    pub fn stop(mut self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM was delivered");
        self.child.wait().expect("the server stops");
    }
}

/// A webhook URL re-pointed at another server's address (same user and code).
pub fn rebase(webhook: &str, base: &str) -> String {
    let path = &webhook[webhook.find("/rest/").expect("a webhook URL")..];
    format!("{base}{path}")
}

/// Two server processes on one PostgreSQL schema: the first creates the portal (and prints the
/// administrator's webhook, which works on both), the second finds it.
pub struct TwoServers {
    /// The first process.
    pub first: ServerProcess,
    /// The second process.
    pub second: ServerProcess,
    /// The administrator's webhook, on the first process.
    pub webhook: String,
    /// The shared schema; declared after the processes, so it is emptied after they stop.
    pub schema: TestSchema,
    /// The (shared) data directory.
    pub dir: TempDir,
}

impl TwoServers {
    /// Starts both processes with the request-rate `plan` on `schema`.
    pub fn start(schema: TestSchema, plan: &str) -> TwoServers {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = ServerProcess::start(dir.path(), Some(&schema.url), plan);
        let webhook = first
            .webhook
            .clone()
            .expect("the first start prints a webhook");
        let second = ServerProcess::start(dir.path(), Some(&schema.url), plan);
        assert!(
            second.webhook.is_none(),
            "the second process found the portal"
        );
        TwoServers {
            first,
            second,
            webhook,
            schema,
            dir,
        }
    }

    /// The two base URLs, first then second.
    pub fn bases(&self) -> [String; 2] {
        [self.first.base.clone(), self.second.base.clone()]
    }

    /// The administrator's webhook on each process, first then second.
    pub fn webhooks(&self) -> [String; 2] {
        [
            rebase(&self.webhook, &self.first.base),
            rebase(&self.webhook, &self.second.base),
        ]
    }

    /// The command line, pointed at the shared schema.
    pub fn cli(&self) -> std::process::Command {
        let mut command = std::process::Command::new(server_binary());
        command
            .env("B24_DATA_DIR", self.dir.path())
            .env("B24_LOG", "warn")
            .env("B24_DATABASE_URL", &self.schema.url);
        command
    }

    /// Runs the command line on the shared schema; returns its trimmed standard output.
    fn run_cli(&self, args: &[&str]) -> String {
        let out = self.cli().args(args).output().expect("the CLI runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("UTF-8")
            .trim()
            .to_string()
    }

    /// `app create`: a new application with `scopes`; its `client_id`, `client_secret` and
    /// `application_token`.
    pub fn create_app(&self, scopes: &str) -> (String, String, String) {
        let created: Value = serde_json::from_str(
            &self.run_cli(&["app", "create", "--name", "Test app", "--scopes", scopes]),
        )
        .expect("app create prints JSON");
        let text = |key: &str| created[key].as_str().expect(key).to_string();
        (
            text("client_id"),
            text("client_secret"),
            text("application_token"),
        )
    }

    /// `app authorize`: a one-time authorisation code of the application for `user`.
    pub fn authorize(&self, client_id: &str, user: i64) -> String {
        self.run_cli(&[
            "app",
            "authorize",
            "--client-id",
            client_id,
            "--user",
            &user.to_string(),
        ])
    }

    /// [`TestApp::install_app`] through the command line ([`Self::create_app`],
    /// [`Self::authorize`]), the code exchanged at the first process.
    pub async fn install_app(&self, scopes: &str, user: i64) -> InstalledApp {
        let (client_id, client_secret, application_token) = self.create_app(scopes);
        let code = self.authorize(&client_id, user);
        let response = reqwest::Client::new()
            .post(format!("{}/oauth/token/", self.first.base))
            .form(
                &json!({"grant_type": "authorization_code", "client_id": client_id,
                          "client_secret": client_secret, "code": code}),
            )
            .send()
            .await
            .expect("the token endpoint answers");
        let (status, tokens) = read(response).await;
        assert_eq!(status, 200, "{tokens}");
        InstalledApp {
            client_id,
            client_secret,
            application_token,
            tokens,
        }
    }

    /// Stops both processes (SIGTERM) and waits for them.
    pub fn stop(self) {
        let TwoServers { first, second, .. } = self;
        first.stop();
        second.stop();
    }
}
