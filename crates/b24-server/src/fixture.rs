//! What test fixtures need to start a server and find it: the ready file (`--ready-file`), a
//! throw-away data directory (`--ephemeral`), and `b24-server exec`, which runs a command against
//! a fresh server and exits with the command's status.

use crate::app::Application;
use crate::control::admin_token::write_private_file;
use anyhow::Context as _;
use serde::Serialize;
use std::path::Path;
use std::process::ExitStatus;

/// The ready file's document: where the server listens and how to call it. It holds the webhook
/// and admin token in clear, so it is written readable by its owner only.
#[derive(Serialize)]
pub struct ReadyInfo {
    /// `http://127.0.0.1:PORT`.
    pub http: String,
    /// `https://127.0.0.1:PORT`, when HTTPS is on.
    pub https: Option<String>,
    /// The administrator's webhook URL over plain HTTP; `null` when the data directory existed
    /// before (its code is stored only as a digest).
    pub webhook: Option<String>,
    /// The same webhook over HTTPS.
    pub https_webhook: Option<String>,
    /// The local CA certificate to trust, when the server made its certificate.
    pub ca: Option<String>,
    /// The admin token for `/_b24/`.
    pub admin_token: Option<String>,
    /// The server's process id (to stop it with SIGTERM).
    pub pid: u32,
}

/// The token and webhook are secrets: `Debug` shows only where the server listens.
impl std::fmt::Debug for ReadyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadyInfo")
            .field("http", &self.http)
            .field("https", &self.https)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl ReadyInfo {
    /// What a built (bound) server tells fixtures.
    pub fn of(app: &Application) -> Self {
        Self {
            http: format!("http://{}", app.local_addr()),
            https: app.tls_addr().map(|a| format!("https://{a}")),
            webhook: app.first_start_webhook_url(),
            https_webhook: app.first_start_https_webhook_url(),
            ca: app.ca_cert_path().map(|p| p.display().to_string()),
            admin_token: app.admin_token(),
            pid: std::process::id(),
        }
    }

    /// Writes the document to `path` atomically (a fixture polling for the file never reads half
    /// of it), mode 0600.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut json = serde_json::to_vec_pretty(self)?;
        json.push(b'\n');
        write_private_file(path, &json)
            .with_context(|| format!("could not write the ready file {}", path.display()))
    }

    /// The environment `exec` gives its command.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("B24_ADMIN_URL", format!("{}/_b24", self.http)),
            ("B24_URL", self.http.clone()),
        ];
        if let Some(webhook) = &self.webhook {
            env.push(("B24_WEBHOOK", webhook.clone()));
        }
        if let Some(webhook) = &self.https_webhook {
            env.push(("B24_HTTPS_WEBHOOK", webhook.clone()));
        }
        if let Some(token) = &self.admin_token {
            env.push(("B24_ADMIN_TOKEN", token.clone()));
        }
        if let Some(ca) = &self.ca {
            // Python requests, OpenSSL-based clients (aiohttp, curl, PHP) and Node.js.
            for name in ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS"] {
                env.push((name, ca.clone()));
            }
        }
        env
    }
}

/// A data directory that lives as long as the server: created empty, removed at exit.
pub fn ephemeral_dir() -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("b24-server-")
        .tempdir()
        .context("could not create a temporary data directory for --ephemeral")
}

/// How long the command may take to end after `exec` was interrupted before it is killed.
const COMMAND_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs `command` with the server's environment and waits for it. When `interrupted` resolves
/// (Ctrl-C, which a terminal also sends the command, or SIGTERM), the command gets a few seconds
/// to end and is then killed, so that `exec` always stops its server and removes its data.
pub async fn run_command(
    info: &ReadyInfo,
    data_dir: &Path,
    command: &[String],
    interrupted: impl std::future::Future<Output = ()>,
) -> anyhow::Result<ExitStatus> {
    let (program, args) = command
        .split_first()
        .context("exec needs a command after `--`, e.g. `b24-server exec -- pytest -q`")?;
    let mut child = tokio::process::Command::new(program);
    // B24_DATA_DIR: the CLI twins (`b24-server reset`, `app create`, …) run inside find the
    // same database.
    child
        .args(args)
        .envs(info.environment())
        .env("B24_DATA_DIR", data_dir);
    let mut child = child
        .spawn()
        .with_context(|| format!("could not run `{program}`: is it installed and on PATH?"))?;
    tokio::select! {
        status = child.wait() => Ok(status?),
        () = interrupted => {
            match tokio::time::timeout(COMMAND_GRACE, child.wait()).await {
                Ok(status) => Ok(status?),
                Err(_) => {
                    tracing::warn!("the command did not end after the interrupt; killing it");
                    child.start_kill()?;
                    Ok(child.wait().await?)
                }
            }
        }
    }
}

/// The exit code `exec` passes on: the command's, or 128 + the signal that ended it (as shells
/// report it).
pub fn exit_code(status: ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    1
}
