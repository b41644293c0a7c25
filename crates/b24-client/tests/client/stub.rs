//! A stub HTTP server for behaviour the real server cannot be made to show on demand: a lost
//! answer, a 5xx, a proxy's HTML page, a token endpoint. It records every request and answers
//! with whatever the test's script says, in the spec's wire format.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// One request as the stub saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The path, e.g. `/rest/1/code/crm.item.add`.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// The JSON body (`null` when there was none).
    pub body: Value,
}

/// What the stub answers.
pub struct Reply {
    status: u16,
    body: String,
    retry_after: Option<u64>,
}

impl Reply {
    /// A success envelope with a full time block.
    pub fn ok(result: Value) -> Self {
        Self::json(200, envelope(result, 0.0, 0))
    }

    /// Any JSON with any status.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: body.to_string(),
            retry_after: None,
        }
    }

    /// A Bitrix24 error envelope.
    pub fn error(status: u16, code: &str, description: &str) -> Self {
        Self::json(
            status,
            serde_json::json!({"error": code, "error_description": description}),
        )
    }

    /// A body that is not JSON (a proxy's error page).
    pub fn html(status: u16) -> Self {
        Self {
            status,
            body: "<html><body>Bad Gateway</body></html>".into(),
            retry_after: None,
        }
    }

    /// Adds a `Retry-After` header.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

/// `{result, time}` with the given operating figures.
pub fn envelope(result: Value, operating: f64, operating_reset_at: i64) -> Value {
    serde_json::json!({
        "result": result,
        "time": {"start": 1.5, "finish": 1.6, "duration": 0.1, "processing": 0,
                 "date_start": "2026-01-01T00:00:00+00:00", "date_finish": "2026-01-01T00:00:00+00:00",
                 "operating_reset_at": operating_reset_at, "operating": operating}
    })
}

type Script = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

/// A running stub.
pub struct Stub {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

#[derive(Clone)]
struct StubState {
    requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Script>,
}

impl Stub {
    /// Starts a stub answering each request with `script(request, index of the request)`.
    pub async fn start(script: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Stub {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = StubState {
            requests: requests.clone(),
            script: Arc::new(script),
        };
        let app = axum::Router::new().fallback(answer).with_state(state);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Stub { base, requests }
    }

    /// A webhook URL on the stub.
    pub fn webhook(&self) -> String {
        format!("{}/rest/1/stubcode/", self.base)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn answer(
    State(state): State<StubState>,
    uri: Uri,
    _headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let index = {
        let mut requests = state.requests.lock().unwrap();
        requests.push(recorded.clone());
        requests.len() - 1
    };
    let reply = (state.script)(&recorded, index);
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Some(secs) = reply.retry_after {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
    }
    response
}

/// A server that reads each request and closes the connection without answering: the request
/// was delivered, the answer lost. Returns its webhook URL and a counter of requests.
pub async fn start_black_hole() -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/rest/1/stubcode/", listener.local_addr().unwrap());
    let count = Arc::new(Mutex::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut seen = Vec::new();
                // Read until the body has arrived (headers end + Content-Length bytes).
                loop {
                    let Ok(n) = socket.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if let Some(end) = find(&seen, b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if seen.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                *counter.lock().unwrap() += 1;
                drop(socket);
            });
        }
    });
    (url, count)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
