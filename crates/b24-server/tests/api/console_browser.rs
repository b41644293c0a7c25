//! The web console in a real browser: `tests/browser/console.mjs` drives headless Chromium
//! (Debian's `chromium`, through the pinned `playwright-core`) against the real `b24-server
//! serve` binary, signing in through the link it printed. Each page's screenshot is written to
//! `target/console-screenshots/` for a reviewer. Skips (with a note) without node, chromium or
//! `npm ci` in `tests/browser/`, except under CI, as the frame test does.

use super::frame_browser::{browser_dir, browser_tools};
use crate::helpers::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

async fn call(webhook: &str, method: &str, params: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{webhook}{method}"))
        .json(&params)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 200, "{method}: {body}");
    body["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_signs_in_by_the_printed_link_and_shows_calls_faults_data_and_a_binding_graph_in_a_headless_browser(
) {
    let Some(chromium) = browser_tools() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), None, "unlimited");
    let webhook = server
        .webhook
        .clone()
        .expect("the first start prints the webhook");
    let console = server
        .console
        .clone()
        .expect("the start prints the console link");
    let deal = |title: &'static str| {
        let webhook = webhook.clone();
        async move {
            call(
                &webhook,
                "crm.item.add",
                json!({"entityTypeId": 2, "fields": {"title": title}}),
            )
            .await["item"]["id"]
                .as_i64()
                .unwrap()
        }
    };
    let (first, second) = (deal("First deal").await, deal("Second deal").await);
    let activity = call(
        &webhook,
        "crm.activity.todo.add",
        json!({"ownerTypeId": 2, "ownerId": first, "deadline": "2030-01-01T10:00:00", "title": "Call back"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    call(
        &webhook,
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": 2, "entityId": second}),
    )
    .await;
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");

    let run = tokio::process::Command::new("node")
        .arg("console.mjs")
        .current_dir(browser_dir())
        .env("CONSOLE", &console)
        .env("WEBHOOK", &webhook)
        .env("ACTIVITY", activity.to_string())
        .env("CHROMIUM", &chromium)
        .env("SHOTS", &shots)
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
    server.stop();
    assert!(
        output.status.success(),
        "the console browser test failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("[console] all passed"), "{stdout}");
    for page in [
        "overview",
        "requests",
        "data",
        "activity",
        "faults",
        "events",
        "access",
        "snapshots",
        "data-empty",
    ] {
        assert!(shots.join(format!("{page}.png")).is_file(), "{page}.png");
    }
}
