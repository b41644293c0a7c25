//! The real binary with its output gone (issue 22, item 1): a log pipe whose reader has exited, or
//! stderr closed outright, must neither break a request nor stop SIGTERM from stopping the server.

use crate::durability::{call, signal, Server};
use crate::helpers::{postgres_url, TestSchema};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `serve` with `B24_LOG=level` through `command`, reads the webhook and address it prints,
/// then closes stdout too: from then on every write to either stream fails. A piped stderr is
/// closed before the server starts (`early`) or once it listens.
fn start(
    mut command: Command,
    dir: &std::path::Path,
    schema: Option<&TestSchema>,
    early: bool,
    level: &str,
) -> (Server, String) {
    command
        .env("B24_DATA_DIR", dir)
        .env("B24_LOG", level)
        .env_remove("B24_DATABASE_URL")
        .envs(schema.map(|s| ("B24_DATABASE_URL", s.url.clone())))
        .stdout(Stdio::piped());
    // Killed when dropped, should an assertion fail while it runs.
    let mut server = Server {
        child: command.spawn().unwrap(),
        base: String::new(),
        webhook: None,
        console: None,
    };
    let child = &mut server.child;
    // A log pipe whose reader has exited: writes to it fail with EPIPE.
    let stderr = child.stderr.take();
    if early {
        drop(stderr);
    }
    let mut webhook = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.trim_start().starts_with("http://") && line.contains("/rest/1/") {
            webhook = Some(line.trim().to_string());
        }
        if line.starts_with("listening on ") {
            break;
        }
    }
    let webhook = webhook.expect("the first start prints a webhook");
    // Otherwise the log pipe goes away now, while the server runs.
    (server, webhook)
}

fn serve_args() -> [&'static str; 6] {
    [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--no-tls",
        "--plan",
        "unlimited",
    ]
}

/// Calls answer, then SIGTERM stops the process within a few seconds, cleanly.
async fn answers_and_stops_on_sigterm(mut server: Server, webhook: &str) {
    let child = &mut server.child;
    let client = reqwest::Client::new();
    for n in 0..5 {
        let answer = call(
            &client,
            webhook,
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": format!("deal {n}")}}),
        )
        .await;
        let (status, body) = answer.expect("the call is answered, not cut off");
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = call(
        &client,
        webhook,
        "crm.item.list",
        json!({"entityTypeId": 2}),
    )
    .await
    .expect("the call is answered, not cut off");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 5);

    signal(child, "-TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server ignored SIGTERM for 10 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "a clean stop: {exit:?}");
}

#[tokio::test]
async fn a_server_whose_log_pipe_reader_has_exited_still_answers_with_debug_logging_and_stops_on_sigterm(
) {
    let dir = tempfile::tempdir().unwrap();
    let schema = postgres_url().map(|url| TestSchema::create(&url));
    let mut command = Command::new(env!("CARGO_BIN_EXE_b24-server"));
    command.args(serve_args()).stderr(Stdio::piped());
    let (server, webhook) = start(command, dir.path(), schema.as_ref(), true, "debug");
    answers_and_stops_on_sigterm(server, &webhook).await;
}

#[tokio::test]
async fn a_server_whose_log_pipe_goes_away_while_it_runs_still_answers_with_debug_logging_and_stops_on_sigterm(
) {
    let dir = tempfile::tempdir().unwrap();
    let schema = postgres_url().map(|url| TestSchema::create(&url));
    let mut command = Command::new(env!("CARGO_BIN_EXE_b24-server"));
    command.args(serve_args()).stderr(Stdio::piped());
    let (server, webhook) = start(command, dir.path(), schema.as_ref(), false, "debug");
    answers_and_stops_on_sigterm(server, &webhook).await;
}

/// At the default level no call logs anything; the shutdown does, and must still happen.
#[tokio::test]
async fn sigterm_stops_a_server_whose_log_pipe_went_away_while_it_ran() {
    let dir = tempfile::tempdir().unwrap();
    let schema = postgres_url().map(|url| TestSchema::create(&url));
    let mut command = Command::new(env!("CARGO_BIN_EXE_b24-server"));
    command.args(serve_args()).stderr(Stdio::piped());
    let (server, webhook) = start(command, dir.path(), schema.as_ref(), false, "info");
    answers_and_stops_on_sigterm(server, &webhook).await;
}

#[cfg(unix)]
#[tokio::test]
async fn a_server_started_with_stderr_closed_still_answers_with_debug_logging_and_stops_on_sigterm()
{
    let dir = tempfile::tempdir().unwrap();
    let schema = postgres_url().map(|url| TestSchema::create(&url));
    // `exec … 2>&-`: the server process starts with descriptor 2 closed.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("exec \"$0\" \"$@\" 2>&-")
        .arg(env!("CARGO_BIN_EXE_b24-server"))
        .args(serve_args());
    let (server, webhook) = start(command, dir.path(), schema.as_ref(), true, "debug");
    answers_and_stops_on_sigterm(server, &webhook).await;
}
