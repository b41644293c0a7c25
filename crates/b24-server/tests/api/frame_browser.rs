//! The local portal page in a real browser: `tests/browser/e2e.mjs` drives headless Chromium
//! (Debian's `chromium`, through the pinned `playwright-core`) against this server, with a tiny
//! application on `app.localhost` using the pinned `@bitrix24/b24jssdk` frame mode, then a
//! fixture of BX24.js's wire format. Needs `node`, `chromium` and `npm ci` in `tests/browser/`
//! (`.ci/run` provides them): without them the test skips with a note, except under CI, where
//! that is a failure (as PostgreSQL-only tests treat a missing database).

use crate::helpers::*;
use b24_server::oauth::{self, AppSetup};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The npm project of the browser test.
pub(crate) fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `node` and the Chromium executable, or `None` (with a note) when this machine lacks them.
///
/// # Panics
/// Under CI, when something is missing.
pub(crate) fn browser_tools() -> Option<PathBuf> {
    let chromium = std::env::var_os("B24_TEST_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
        });
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let modules = ["playwright-core", "@bitrix24/b24jssdk"].iter().all(|m| {
        browser_dir()
            .join("node_modules")
            .join(m)
            .join("package.json")
            .exists()
    });
    let missing: Vec<&str> = [
        (
            chromium.is_none(),
            "chromium (apt-get install chromium, or B24_TEST_CHROMIUM=path)",
        ),
        (!node, "node"),
        (
            !modules,
            "node_modules (npm ci in crates/b24-server/tests/browser)",
        ),
    ]
    .into_iter()
    .filter_map(|(gone, what)| gone.then_some(what))
    .collect();
    if missing.is_empty() {
        return chromium;
    }
    assert!(
        !b24_server::test_env::under_ci(),
        "the browser test cannot run under CI: missing {}",
        missing.join(", ")
    );
    eprintln!("browser test skipped: missing {}", missing.join(", "));
    None
}

/// A free port on 127.0.0.1 for the test application (the browser reaches it as app.localhost).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_b24jssdk_application_installs_and_runs_in_the_portal_page_of_a_headless_browser() {
    let Some(chromium) = browser_tools() else {
        return;
    };
    let app = spawn_app_with(|config| config.events = quick_delivery()).await;
    let port = free_port();
    let setup = AppSetup {
        handler_url: format!("http://app.localhost:{port}/handler"),
        install_url: format!("http://app.localhost:{port}/install"),
        api_only: false,
    };
    let scopes = vec!["crm".to_string(), "placement".to_string()];
    let credentials =
        oauth::create_app_with(&app.state.store, 1, "Browser test", &scopes, "", &setup).unwrap();
    let deal1 = app.new_item(2, None).await;
    let deal2 = app.new_item(2, None).await;
    let activity = app.new_todo(2, deal1).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": 2, "entityId": deal2}),
    )
    .await;
    let app_id = app
        .state
        .store
        .read(1, |tx| {
            Ok(tx.app_by_client_id(&credentials.client_id)?.unwrap().id)
        })
        .unwrap();
    let launch = b24_server::http::host::launch_url(
        &app.state.store,
        1,
        &credentials.client_id,
        1,
        None,
        None,
        app.state.clock.now(),
    )
    .unwrap();
    let launch = format!(
        "{}/b24host/{}",
        app.base,
        launch.split_once("/b24host/").unwrap().1
    );

    let run = tokio::process::Command::new("node")
        .arg("e2e.mjs")
        .current_dir(browser_dir())
        .env("PORTAL", &app.base)
        .env("LAUNCH", &launch)
        .env("APP_PORT", port.to_string())
        .env("APP_ID", app_id.to_string())
        .env("WEBHOOK", &app.admin_url)
        .env("ACTIVITY", activity.to_string())
        .env("DEAL1", deal1.to_string())
        .env("DEAL2", deal2.to_string())
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser test finishes within 3 minutes")
        .expect("node runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "the browser test failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("[e2e] all passed"), "{stdout}");
}
