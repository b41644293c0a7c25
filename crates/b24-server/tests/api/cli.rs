//! The command-line contract, exercised against a running server sharing the data directory.

use crate::helpers::{envelope, postgres_url, spawn_app, TestApp, TestSchema};
use serde_json::json;
use std::process::Command;

fn b24(app: &TestApp, args: &[&str]) -> std::process::Output {
    app.cli().args(args).output().expect("the binary runs")
}

/// The binary on a fresh data directory (and a fresh PostgreSQL schema when the suite runs on
/// PostgreSQL), with no server.
fn b24_fresh(
    dir: &std::path::Path,
    schema: Option<&TestSchema>,
    args: &[&str],
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_b24-server"))
        .args(args)
        .env("B24_DATA_DIR", dir)
        .env("B24_LOG", "warn")
        .env_remove("B24_DATABASE_URL")
        .envs(schema.map(|s| ("B24_DATABASE_URL", s.url.clone())))
        .output()
        .expect("the binary runs")
}

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn user_and_webhook_commands_work_while_the_server_runs() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let activity = app.new_todo(2, deal).await;

    let user = stdout(&b24(
        &app,
        &[
            "user",
            "create",
            "--name",
            "Ann Lee",
            "--right",
            "deal.read=all",
        ],
    ));
    assert_eq!(user, "2\n", "prints the id and nothing else");
    let url = stdout(&b24(
        &app,
        &["webhook", "create", "--user", "2", "--scopes", "crm"],
    ));
    let url = url.trim_end();
    assert!(url.starts_with(&format!("{}/rest/2/", app.base)), "{url}");
    assert!(url.ends_with('/'));

    let (status, body) = app
        .call_as(
            url,
            "crm.activity.binding.list",
            json!({"activityId": activity}),
        )
        .await;
    assert_eq!(
        (status, body["result"].clone()),
        (200, json!([{"entityTypeId": 2, "entityId": deal}]))
    );
    let (status, body) = app
        .call_as(
            url,
            "crm.activity.binding.delete",
            json!({"activityId": activity, "entityTypeId": 2, "entityId": deal}),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("ACCESS_DENIED", "Access denied."))
    );

    let list = stdout(&b24(&app, &["webhook", "list"]));
    assert!(
        list.lines()
            .any(|l| l.starts_with("2 ") && l.contains("active") && l.ends_with("crm")),
        "{list}"
    );
    assert_eq!(
        stdout(&b24(&app, &["webhook", "revoke", "2"])),
        "revoked webhook 2\n"
    );
    // The CLI is another process: the server sees the revoke once it reads the credentials
    // version again, within a second (spec §12; 1.5 s leaves a margin for a loaded machine).
    let revoked_by = std::time::Instant::now() + std::time::Duration::from_millis(1500);
    loop {
        let (status, _) = app.call_as(url, "server.time", json!({})).await;
        if status == 401 || std::time::Instant::now() > revoked_by {
            assert_eq!(status, 401);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn bad_cli_input_explains_what_to_do() {
    let app = spawn_app().await;
    let out = b24(
        &app,
        &["user", "create", "--name", "X", "--right", "deal.fly=all"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("use read, add, update or delete"));
    let out = b24(&app, &["webhook", "create", "--user", "99"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("user create"));
    let out = b24(
        &app,
        &["webhook", "create", "--user", "1", "--scopes", "crm,bogus"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scope 'bogus'"));
    let out = b24(&app, &["webhook", "revoke", "42"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("webhook list"));
}

#[test]
fn serve_prints_the_webhook_once_the_ca_and_both_listening_lines_then_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let schema = postgres_url().map(|url| TestSchema::create(&url));
    for run in 0..2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_b24-server"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--tls-listen",
                "127.0.0.1:0",
            ])
            .env("B24_DATA_DIR", dir.path())
            .env("B24_LOG", "warn")
            .env_remove("B24_DATABASE_URL")
            .envs(schema.as_ref().map(|s| ("B24_DATABASE_URL", s.url.clone())))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            let done = line.starts_with("listening on https://127.0.0.1:");
            printed.push(line);
            if done {
                break;
            }
        }
        assert!(
            printed
                .iter()
                .any(|l| l.starts_with("listening on http://127.0.0.1:")),
            "{printed:?}"
        );
        assert!(
            printed.iter().any(|l| l.contains("REQUESTS_CA_BUNDLE=")),
            "{printed:?}"
        );
        let has_webhook = printed.iter().any(|l| l.contains("/rest/1/"));
        assert_eq!(has_webhook, run == 0, "run {run}: {printed:?}");
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let status = child.wait().unwrap();
        assert!(status.success(), "clean stop on SIGTERM, got {status:?}");
    }
}

#[tokio::test]
async fn seed_adds_deals_with_bound_activities_while_the_server_runs() {
    let app = spawn_app().await;
    let out = stdout(&b24(
        &app,
        &["seed", "--activities", "120", "--activities-per-deal", "40"],
    ));
    assert!(
        out.starts_with("seeded 120 activities and 3 deals in "),
        "{out}"
    );
    assert!(
        !out.contains("/rest/"),
        "the portal existed: no new webhook"
    );

    let (status, body) = app
        .call("crm.item.list", json!({"entityTypeId": 2, "start": -1}))
        .await;
    assert_eq!(status, 200, "{body}");
    let deals: Vec<i64> = body["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(deals, vec![1, 2, 3]);
    assert_eq!(app.bindings(1).await, vec![(2, 1)]);
    assert_eq!(app.bindings(120).await, vec![(2, 3)]);
    assert_eq!(app.owner(81).await, ("2".to_string(), "3".to_string()));
    let (status, _) = app
        .call("crm.activity.binding.list", json!({"activityId": 121}))
        .await;
    assert_eq!(status, 400, "exactly 120 activities");
}

#[test]
fn seed_on_an_empty_data_dir_creates_the_portal_and_prints_its_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let schema = postgres_url().map(|url| TestSchema::create(&url));
    let out = stdout(&b24_fresh(
        dir.path(),
        schema.as_ref(),
        &["seed", "--activities", "3"],
    ));
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("first start: created the portal, administrator (user 1) and a webhook with every scope:")
    );
    assert!(lines
        .next()
        .is_some_and(|l| l.starts_with("  http://127.0.0.1:8080/rest/1/")));
    assert!(lines
        .next()
        .is_some_and(|l| l.starts_with("seeded 3 activities and 1 deal in ")));
}

#[test]
fn seed_refuses_bad_input_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let schema = postgres_url().map(|url| TestSchema::create(&url));
    let out = b24_fresh(
        dir.path(),
        schema.as_ref(),
        &["seed", "--activities", "5", "--activities-per-deal", "0"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--activities-per-deal"));
    let out = b24_fresh(
        dir.path(),
        schema.as_ref(),
        &["seed", "--activities", "5", "--user", "7"],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("there is no user 7"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn app_create_prints_one_json_object_and_authorize_prints_a_code_that_exchanges() {
    let app = spawn_app().await;
    let out = b24(
        &app,
        &["app", "create", "--name", "CLI app", "--scopes", "crm"],
    );
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    let credentials: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&String> = credentials.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["client_id", "client_secret", "application_token"]);
    let client_id = credentials["client_id"].as_str().unwrap();
    assert!(client_id.starts_with("local."));

    let code = stdout(&b24(
        &app,
        &["app", "authorize", "--client-id", client_id, "--user", "1"],
    ));
    let code = code.trim_end();
    assert!(!code.is_empty() && !code.contains(' '));
    let url = format!(
        "{}/oauth/token/?grant_type=authorization_code&client_id={client_id}&client_secret={}&code={code}",
        app.base,
        credentials["client_secret"].as_str().unwrap()
    );
    let (status, body) = app.get(&url).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "crm");

    let out = b24(
        &app,
        &[
            "app",
            "authorize",
            "--client-id",
            "local.nope",
            "--user",
            "1",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("app create"));
}

#[test]
fn a_database_url_that_is_not_postgres_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_b24-server"))
        .args([
            "--database-url",
            "mysql://db/b24",
            "user",
            "create",
            "--name",
            "A",
        ])
        .env("B24_DATA_DIR", dir.path())
        .env("B24_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--database-url must start with postgres://"),
        "{stderr}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no SQLite file was created"
    );
}

#[tokio::test]
async fn app_create_with_a_handler_and_app_open_print_a_launch_url_that_signs_in_once() {
    let app = spawn_app().await;
    let created = stdout(&b24(
        &app,
        &[
            "app",
            "create",
            "--name",
            "Frame app",
            "--scopes",
            "crm,placement",
            "--handler",
            "http://app.localhost:5173/",
            "--install-url",
            "http://app.localhost:5173/install",
        ],
    ));
    let credentials: serde_json::Value = serde_json::from_str(&created).unwrap();
    let client_id = credentials["client_id"].as_str().unwrap();
    let url = stdout(&b24(
        &app,
        &["app", "open", "--client-id", client_id, "--user", "1"],
    ));
    let url = url.trim_end();
    let code = url.rsplit_once("/b24host/login/").unwrap().1;
    assert_eq!(code.len(), 32, "{url}");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = format!("{}/b24host/login/{code}", app.base);
    let response = browser.get(&login).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert!(response.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/marketplace/app/"));
    assert_eq!(browser.get(&login).send().await.unwrap().status(), 403);

    let out = b24(
        &app,
        &[
            "app",
            "create",
            "--name",
            "Bad",
            "--scopes",
            "crm",
            "--handler",
            "ftp://app.localhost/",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("http(s)"));
    let out = b24(
        &app,
        &[
            "app",
            "open",
            "--client-id",
            client_id,
            "--user",
            "1",
            "--placement",
            "CRM_DEAL_DETAIL_TAB",
            "--options",
            "[1]",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("JSON object"));
}
