//! What test fixtures start the server with: `--ready-file`, `--ephemeral`, free ports, and
//! `b24-server exec`.

use crate::helpers::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_b24-server"));
    command
        .env("B24_LOG", "warn")
        .env_remove("B24_DATABASE_URL")
        .env_remove("B24_DATA_DIR");
    command
}

/// Waits for the ready file and reads it.
fn wait_for_ready_file(path: &Path, child: &mut std::process::Child) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return serde_json::from_str(&text).expect("the ready file is whole JSON");
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the server exited before it was ready: {status:?}");
        }
        assert!(Instant::now() < deadline, "no ready file after 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server process that is killed if the test fails before stopping it.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn sigterm(child: &mut std::process::Child) -> std::process::ExitStatus {
    crate::durability::signal(child, "-TERM");
    child.wait().unwrap()
}

#[tokio::test]
async fn an_ephemeral_server_writes_a_ready_file_that_is_enough_to_call_it_and_cleans_up_at_exit() {
    let scratch = tempfile::tempdir().unwrap();
    let ready = scratch.path().join("ready.json");
    let child = binary()
        .args(["serve", "--ephemeral", "--plan", "unlimited"])
        .args(["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"])
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let child = &mut running.0;
    let info = wait_for_ready_file(&ready, child);
    let keys: Vec<&str> = info
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "http",
            "https",
            "webhook",
            "https_webhook",
            "ca",
            "admin_token",
            "pid"
        ]
    );
    assert_eq!(info["pid"], child.id());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&ready).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the ready file holds secrets");
    }
    let http = info["http"].as_str().unwrap();
    assert!(http.starts_with("http://127.0.0.1:") && !http.ends_with(":0"));
    let webhook = info["webhook"].as_str().unwrap();
    assert!(webhook.starts_with(&format!("{http}/rest/1/")), "{webhook}");

    let client = reqwest::Client::new();
    let (status, body) = read(
        client
            .get(format!("{webhook}server.time"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ca = info["ca"].as_str().unwrap();
    let https_webhook = info["https_webhook"].as_str().unwrap();
    assert!(https_webhook.starts_with(info["https"].as_str().unwrap()));
    let (status, _) = read(
        crate::tls::client_trusting(Path::new(ca))
            .get(format!("{https_webhook}profile"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = read(
        client
            .post(format!("{http}/_b24/tokens/expire"))
            .bearer_auth(info["admin_token"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);

    let data_dir = Path::new(ca)
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    assert!(data_dir.exists());
    assert!(sigterm(child).success());
    assert!(
        !data_dir.exists(),
        "the ephemeral data directory is removed"
    );
    assert!(
        !ready.exists(),
        "a stopped server leaves no ready file behind"
    );
}

#[tokio::test]
async fn a_ready_file_for_an_existing_data_directory_has_no_webhook_but_the_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let mut tokens = Vec::new();
    for run in 0..2 {
        let child = binary()
            .args(["serve", "--no-tls", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--ready-file")
            .arg(&ready)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut running = Running(child);
        let child = &mut running.0;
        let info = wait_for_ready_file(&ready, child);
        assert_eq!(info["webhook"].is_string(), run == 0, "{info}");
        assert_eq!(info["https"], Value::Null);
        assert_eq!(info["ca"], Value::Null);
        tokens.push(info["admin_token"].as_str().unwrap().to_string());
        assert!(sigterm(child).success());
    }
    assert_eq!(tokens[0], tokens[1], "the admin token is kept");
    assert!(dir.path().join("data").exists(), "a data directory stays");
}

#[test]
fn exec_runs_the_command_with_the_server_in_its_environment_and_passes_its_status_on() {
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("env.txt");
    let script = format!(
        "env > {out}; curl -sf \"$B24_WEBHOOK/server.time\" >> {out} && \
         curl -sf --cacert \"$SSL_CERT_FILE\" \"$B24_HTTPS_WEBHOOK/server.time\" >> {out} && \
         curl -sf -H \"Authorization: Bearer $B24_ADMIN_TOKEN\" -X POST \"$B24_ADMIN_URL/tokens/expire\" >> {out}; \
         exit 3",
        out = out.display()
    );
    let status = binary()
        .args(["exec", "--", "sh", "-c", &script])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    let seen = std::fs::read_to_string(&out).unwrap();
    for name in [
        "B24_WEBHOOK=http://127.0.0.1:",
        "B24_HTTPS_WEBHOOK=https://127.0.0.1:",
        "B24_URL=http://127.0.0.1:",
        "B24_ADMIN_URL=http://127.0.0.1:",
        "B24_ADMIN_TOKEN=",
        "B24_DATA_DIR=/",
        "REQUESTS_CA_BUNDLE=/",
        "SSL_CERT_FILE=/",
        "NODE_EXTRA_CA_CERTS=/",
    ] {
        assert!(seen.contains(name), "{name} missing from {seen}");
    }
    assert_eq!(seen.matches("\"result\":\"").count(), 2, "{seen}");
    assert!(seen.contains("{\"expired\":0}"), "{seen}");
    let ca = seen
        .lines()
        .find_map(|l| l.strip_prefix("SSL_CERT_FILE="))
        .unwrap();
    assert!(!Path::new(ca).exists(), "exec removes its data directory");
}

#[test]
fn exec_exits_zero_when_the_command_succeeds_and_says_what_to_do_when_it_cannot_run() {
    let status = binary().args(["exec", "--", "true"]).status().unwrap();
    assert_eq!(status.code(), Some(0));

    let out = binary()
        .args(["exec", "--", "no-such-command-b24"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("could not run `no-such-command-b24`: is it installed and on PATH?"),
        "{stderr}"
    );

    let out = binary().args(["exec"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("<COMMAND>"));
}

#[test]
fn ephemeral_refuses_a_postgresql_database() {
    let out = binary()
        .args([
            "serve",
            "--ephemeral",
            "--no-tls",
            "--listen",
            "127.0.0.1:0",
        ])
        .args([
            "--database-url",
            "postgres://postgres@127.0.0.1:5432/postgres",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--ephemeral keeps the data in a temporary SQLite directory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
