//! `spawn_server()`: a fresh b24-server with its own data directory (the shared
//! `b24-test-support` server, on SQLite), and clients for it.

use b24_client::{Client, Plan, RetryPolicy};
use b24_server::ServeConfig;
use b24_test_support::{TestApp, spawn_app_in};
use std::time::Duration;

/// A running server: a [`TestApp`] (`base`, `admin_url`, `state`, `create_user`,
/// `create_webhook`, …) plus clients for it.
pub struct Server(TestApp);

impl std::ops::Deref for Server {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

/// A server with the default test configuration (no request-rate limit).
pub async fn spawn_server() -> Server {
    spawn_server_with(|_| {}).await
}

/// A server after the test adjusted its configuration (plan, operating costs, …).
pub async fn spawn_server_with(configure: impl FnOnce(&mut ServeConfig)) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    Server(spawn_app_in(dir, None, None, configure).await)
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
