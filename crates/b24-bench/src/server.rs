//! The server under test: the real `b24-server` binary, run as a child process on loopback with its
//! own data directory, exactly as an operator would run it.

use crate::client::{tls_connector, Connection, Endpoint, Transport};
use anyhow::{bail, Context as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Where the data lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// The embedded SQLite file in the data directory (WAL mode).
    Sqlite,
    /// PostgreSQL (`--database-url`): each size gets a fresh schema of its own.
    Postgres,
}

/// The `b24-server` executable and what its `serve --help` says it supports.
#[derive(Debug, Clone)]
pub struct ServerBinary {
    path: PathBuf,
    /// `--database-url` passed to every command (PostgreSQL runs), if any.
    database_url: Option<String>,
    /// `serve --plan` exists (the request-rate limiter); the bench then passes `--plan unlimited`.
    pub has_plan_flag: bool,
    /// `serve --tls-listen` exists (the HTTPS listener); the bench gives it a free port too.
    pub has_tls_listen_flag: bool,
    /// `serve --journal-size` exists (the request journal); `--journal-compare` needs it.
    pub has_journal_flag: bool,
    /// More `serve` arguments (the journal comparison's `--journal-size 0`).
    serve_args: Vec<String>,
}

/// How long the server may take to print its "listening on" line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

impl ServerBinary {
    /// Uses `path`, or the `b24-server` next to this executable (both are built into the same
    /// `target/<profile>/` directory).
    pub fn locate(path: Option<PathBuf>) -> anyhow::Result<Self> {
        let path = match path {
            Some(path) => path,
            None => std::env::current_exe()?
                .parent()
                .context("the bench executable has no directory")?
                .join(format!("b24-server{}", std::env::consts::EXE_SUFFIX)),
        };
        if !path.is_file() {
            bail!(
                "no server binary at {}: build it with `cargo build --release -p b24-server` \
                 (or pass --server-bin)",
                path.display()
            );
        }
        let help = std::process::Command::new(&path)
            .args(["serve", "--help"])
            .output()
            .with_context(|| format!("could not run {}", path.display()))?;
        let help = String::from_utf8_lossy(&help.stdout);
        Ok(Self {
            has_plan_flag: help.contains("--plan"),
            has_tls_listen_flag: help.contains("--tls-listen"),
            has_journal_flag: help.contains("--journal-size"),
            path,
            database_url: None,
            serve_args: Vec::new(),
        })
    }

    /// The same binary, pointed at a PostgreSQL database (`None`: the data directory's SQLite).
    pub fn with_database_url(&self, database_url: Option<String>) -> Self {
        Self {
            database_url,
            ..self.clone()
        }
    }

    /// The same binary, started with more `serve` arguments.
    pub fn with_serve_args(&self, serve_args: &[&str]) -> Self {
        Self {
            serve_args: serve_args.iter().map(|a| a.to_string()).collect(),
            ..self.clone()
        }
    }

    /// The executable's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn command(&self, data_dir: &Path) -> std::process::Command {
        let mut command = std::process::Command::new(&self.path);
        command
            .arg("--data-dir")
            .arg(data_dir)
            .env("B24_LOG", "warn")
            .env_remove("B24_DATABASE_URL");
        if let Some(url) = &self.database_url {
            command.arg("--database-url").arg(url);
        }
        command
    }

    /// `b24-server seed --activities N`; its progress bar goes to this terminal.
    pub fn seed(&self, data_dir: &Path, activities: u64) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let output = self
            .command(data_dir)
            .args(["seed", "--activities", &activities.to_string()])
            .stderr(Stdio::inherit())
            .output()
            .context("could not run the seed command")?;
        if !output.status.success() {
            bail!("seeding {activities} activities failed ({})", output.status);
        }
        Ok(started.elapsed())
    }

    /// A new all-scope webhook for the administrator; returns its path `/rest/1/{code}/`.
    pub fn create_webhook(&self, data_dir: &Path) -> anyhow::Result<String> {
        let output = self
            .command(data_dir)
            .args(["webhook", "create", "--user", "1"])
            .output()
            .context("could not run `webhook create`")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "`webhook create` failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let path = stdout
            .find("/rest/")
            .map(|i| stdout[i..].trim().to_string())
            .with_context(|| format!("`webhook create` printed no URL: {stdout}"))?;
        Ok(path)
    }

    /// Starts `serve` on 127.0.0.1 (a free port) and waits for the first answered request.
    pub async fn start(
        &self,
        data_dir: &Path,
        webhook_path: &str,
        transport: Transport,
        backend: Backend,
    ) -> anyhow::Result<RunningServer> {
        let started = Instant::now();
        let mut command = Command::from(self.command(data_dir));
        command.args(["serve", "--listen", "127.0.0.1:0"]);
        if self.has_plan_flag {
            command.args(["--plan", "unlimited"]);
        }
        command.args(&self.serve_args);
        if self.has_tls_listen_flag {
            // The HTTPS listener's default port is fixed: two servers on one machine would clash.
            command.args(["--tls-listen", "127.0.0.1:0"]);
        } else if transport == Transport::Https {
            bail!("this server has no HTTPS listener (`serve --tls-listen`)");
        }
        // The backend is already in `command` (`--database-url` for PostgreSQL).
        let _ = backend;
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("could not start {}", self.path.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let wanted = match transport {
            Transport::Http => "listening on http://",
            Transport::Https => "listening on https://",
        };
        let (addr, ca) = tokio::time::timeout(START_TIMEOUT, async {
            let mut ca = None;
            while let Some(line) = lines.next_line().await? {
                if let Some(path) = line.strip_prefix("HTTPS uses a local certificate authority: ")
                {
                    ca = Some(PathBuf::from(path.trim()));
                }
                if let Some(rest) = line.strip_prefix(wanted) {
                    return Ok((rest.trim().parse::<SocketAddr>()?, ca));
                }
            }
            bail!("the server exited before it printed \"{wanted}\"")
        })
        .await
        .context("the server did not print its \"listening on\" line in time")??;
        let listening_after = started.elapsed();
        // Keep reading so the server never blocks on a full stdout pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let tls = match transport {
            Transport::Http => None,
            Transport::Https => Some(tls_connector(
                &ca.context("the server printed no local certificate authority to trust")?,
            )?),
        };
        let endpoint = Endpoint {
            addr,
            webhook_path: webhook_path.to_string(),
            tls,
        };
        let first_answer_after = loop {
            if let Ok(mut connection) = Connection::open(&endpoint).await {
                if let Ok(answer) = connection.call("server.time", String::new()).await {
                    anyhow::ensure!(
                        answer.status == 200,
                        "server.time answered {}: {}",
                        answer.status,
                        String::from_utf8_lossy(&answer.body)
                    );
                    break started.elapsed();
                }
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("the server did not answer server.time in time");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        Ok(RunningServer {
            child,
            pid,
            endpoint,
            listening_after,
            first_answer_after,
        })
    }
}

/// A started server.
pub struct RunningServer {
    child: Child,
    pid: u32,
    /// Where it answers.
    pub endpoint: Endpoint,
    /// From spawning the process to its "listening on" line.
    pub listening_after: Duration,
    /// From spawning the process to the first answered `server.time`.
    pub first_answer_after: Duration,
}

impl RunningServer {
    /// The process id (for `/proc/PID/status`).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Stops the server the way an operator would (SIGTERM), killing it if it lingers.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await?;
            bail!("the server did not stop within 10 s of SIGTERM");
        }
        Ok(())
    }
}

/// Resident memory of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`, KiB: everything resident, including pages of the memory-mapped database file,
    /// which are counted once per mapping (each SQLite connection maps the file).
    pub rss_kib: u64,
    /// `RssAnon`, KiB: the process's private memory (heap, stacks, SQLite page caches).
    pub anon_kib: u64,
}

impl Memory {
    /// The larger of each figure.
    pub fn max(self, other: Memory) -> Memory {
        Memory {
            rss_kib: self.rss_kib.max(other.rss_kib),
            anon_kib: self.anon_kib.max(other.anon_kib),
        }
    }
}

/// Resident memory of a process (Linux only; `None` elsewhere or once the process is gone).
pub fn resident(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        anon_kib: field("RssAnon:")?,
    })
}

/// CPU time a process has used (user + system), from `/proc/PID/stat`; `None` where unavailable.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports these in USER_HZ, which is 100 on every architecture it supports.
    Some(Duration::from_millis(ticks * 10))
}
