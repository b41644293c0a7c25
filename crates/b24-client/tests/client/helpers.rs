//! `spawn_server()`: a fresh b24-server with its own data directory, and clients for it.

use b24_client::{Client, Plan, RetryPolicy};
use b24_server::admin;
use b24_server::domain::permissions::RightGrant;
use b24_server::store::DEFAULT_PORTAL;
use b24_server::{Application, ServeConfig};
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// A running server.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The administrator's webhook URL.
    pub admin_url: String,
    /// Shared state, for setup through the library.
    pub state: b24_server::state::AppState,
    _dir: TempDir,
    _stop: oneshot::Sender<()>,
}

/// A server with the default test configuration (no request-rate limit).
pub async fn spawn_server() -> Server {
    spawn_server_with(|_| {}).await
}

/// A server after the test adjusted its configuration (plan, operating costs, …).
pub async fn spawn_server_with(configure: impl FnOnce(&mut ServeConfig)) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = ServeConfig::new(dir.path().to_path_buf(), "127.0.0.1:0".parse().unwrap());
    configure(&mut config);
    let app = Application::build(config).await.expect("server builds");
    let base = format!("http://{}", app.local_addr());
    let admin_url = app
        .first_start_webhook_url()
        .expect("a first-start webhook");
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    Server {
        base,
        admin_url,
        state,
        _dir: dir,
        _stop: stop,
    }
}

/// Quick retries, so that tests of the retry policy take milliseconds.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_wait: Duration::from_secs(2),
    }
}

/// A client for a webhook URL without client-side rate limiting and with quick retries.
pub fn client_for(url: &str) -> Client {
    Client::builder(url)
        .plan(Plan::Unlimited)
        .retry(fast_retries())
        .build()
        .expect("a valid webhook URL")
}

impl Server {
    /// A client on the administrator's webhook.
    pub fn admin(&self) -> Client {
        client_for(&self.admin_url)
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
}

/// Asserts an API error's code, description and HTTP status all at once.
#[track_caller]
pub fn assert_api_error(
    result: Result<impl std::fmt::Debug, b24_client::Error>,
    code: &str,
    description: &str,
    status: Option<u16>,
) {
    let error = result.expect_err("the call should fail");
    assert_eq!(
        (error.code(), error.description(), error.status()),
        (Some(code), Some(description), status),
        "{error}"
    );
}
