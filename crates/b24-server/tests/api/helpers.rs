//! `spawn_app()`: a fresh server with its own temporary data directory, on an ephemeral port.

use b24_server::admin;
use b24_server::domain::permissions::RightGrant;
use b24_server::store::DEFAULT_PORTAL;
use b24_server::{Application, ServeConfig};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;

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
    _stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts a server on 127.0.0.1:0 with a new data directory (no request-rate limit).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after letting the test adjust its configuration (plan, clock, costs, …).
pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    spawn_app_in(dir, None, configure).await
}

/// Starts a server on an existing data directory; `admin_url` is required when the portal
/// already exists (its webhook code is only shown on the first start).
async fn spawn_app_in(
    dir: TempDir,
    admin_url: Option<String>,
    configure: impl FnOnce(&mut ServeConfig),
) -> TestApp {
    let mut config = ServeConfig::new(dir.path().to_path_buf(), "127.0.0.1:0".parse().unwrap());
    configure(&mut config);
    let app = Application::build(config).await.expect("server builds");
    let base = format!("http://{}", app.local_addr());
    let https_base = app.tls_addr().map(|a| format!("https://{a}"));
    let ca_pem = app.ca_cert_path().map(|p| p.to_path_buf());
    let admin_url = app
        .first_start_webhook_url()
        .or(admin_url)
        .expect("first start creates a webhook");
    let state = app.state().clone();
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
        _stop: stop,
        server,
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
        let mut app = spawn_app_in(dir, Some(String::new()), configure).await;
        app.admin_url = format!("{}/rest/{path}", app.base);
        app
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
