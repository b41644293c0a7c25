//! The ceiling: a bare hyper HTTP/1.1 server answering every request with one fixed JSON body
//! (a `server.time` answer). It runs as a process of its own (this executable, started with the
//! hidden `--baseline-server` flag), so that it is driven and measured exactly like b24-server:
//! same connections, same client, same CPU accounting from `/proc/PID/stat`. What `server.time`
//! costs beyond it is what our own request path costs.

use crate::client::Endpoint;
use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The answer: what b24-server's `server.time` answers, with fixed times.
const BODY: &str = r#"{"result":"2026-11-30T12:00:00+00:00","time":{"start":1764504000.0,"finish":1764504000.0001,"duration":0.0001,"processing":0.00001,"date_start":"2026-11-30T12:00:00+00:00","date_finish":"2026-11-30T12:00:00+00:00","operating_reset_at":1764504600,"operating":0}}"#;

/// Serves on 127.0.0.1 (a free port) until killed; prints `listening on http://ADDR` first.
/// A multi-threaded runtime with one worker per core, as b24-server has.
pub fn serve() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on http://{}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(|_: Request<hyper::body::Incoming>| async {
                        let mut response =
                            Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
                        response.headers_mut().insert(
                            CONTENT_TYPE,
                            HeaderValue::from_static("application/json; charset=utf-8"),
                        );
                        Ok::<_, Infallible>(response)
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// The baseline server, started from this executable.
pub struct Baseline {
    child: Child,
    /// Its process id, for the CPU and memory figures.
    pub pid: u32,
    /// Where it answers (any path).
    pub endpoint: Endpoint,
}

impl Baseline {
    /// Starts it and waits for its "listening on" line.
    pub async fn start(webhook_path: &str) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("could not find this executable")?;
        let mut child = Command::new(exe)
            .arg("--baseline-server")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("could not start the baseline server")?;
        let pid = child.id().context("the baseline server exited at once")?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let addr = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .context("the baseline server did not start in time")??
            .and_then(|l| l.strip_prefix("listening on http://").map(str::to_string))
            .context("the baseline server printed no address")?
            .parse()?;
        Ok(Self {
            child,
            pid,
            endpoint: Endpoint {
                addr,
                webhook_path: webhook_path.to_string(),
                tls: None,
            },
        })
    }

    /// Stops it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
