//! The test-double controls: an admin API under the reserved prefix `/_b24/` (real portals never
//! serve it), for test suites that use the server in place of a paid portal. Reset, snapshots,
//! the request journal, faults, the clock and captured events each live in a file of their own;
//! this module holds what they share: who may call them, how they answer, and which portal a
//! call is about.
//!
//! Every control keeps its state in the database, keyed by portal, so that every server process
//! on one database agrees, and so that the CLI twins (`b24-server reset`, …) can work on the
//! database directly while the server runs.
//!
//! Protection (see SECURITY.md): `GET /_b24/health` is open; everything else needs
//! `Authorization: Bearer <admin token>`, and is answered only to loopback peers unless the
//! server runs with `--admin-remote`, which allows other peers over HTTPS only. The token is
//! stored as a digest and compared in constant time.

pub mod admin_token;
pub mod clock;
pub mod events;
pub mod faults;
pub mod glob;
pub mod journal;
pub mod portals;
pub mod recorder;
pub mod state;
pub mod tokens;
pub mod transfer;

use crate::error::ApiError;
use crate::http::ViaTls;
use crate::secret::{digest, digests_equal};
use crate::state::AppState;
use crate::store::{PortalId, Store, DEFAULT_PORTAL};
use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

/// The largest request body an admin route reads (an import document can be large).
pub const MAX_ADMIN_BODY: usize = 64 * 1024 * 1024;

/// What the admin routes share at run time.
#[derive(Debug)]
pub struct ControlState {
    /// The routes are served (`--no-admin` removes them).
    pub enabled: bool,
    /// Other peers than loopback may call, over HTTPS only.
    pub remote: bool,
    /// Journal entries kept per portal; 0: no journal.
    pub journal_size: u64,
    /// The request journal's channel to its writer.
    pub recorder: recorder::Recorder,
    /// Where the server can be reached, for `/_b24/health` and ready files.
    pub endpoints: Endpoints,
    /// This process's view of the fault rules (`/_b24/faults`).
    pub faults: faults::FaultView,
    /// The admin token's digest as last read from the database (the CLI can rotate it while the
    /// server runs; the portal refresh re-reads it every second).
    token_digest: RwLock<Option<[u8; 32]>>,
    /// The portal's reset count this process last acted on (-1: not read yet); when the portal
    /// refresh sees a higher one, it forgets the limiter counters held in memory.
    pub reset_seen: std::sync::atomic::AtomicI64,
    /// Woken when events are queued or a delivery is recorded, for `/_b24/events?wait_ms=`.
    pub events_changed: events::EventsWatch,
    /// The web console's one-time sign-in code.
    pub console: crate::http::console::ConsoleAuth,
}

impl ControlState {
    /// Control settings for a server reachable at `endpoints`.
    pub fn new(
        config: &crate::config::ControlConfig,
        endpoints: Endpoints,
        token_digest: Option<[u8; 32]>,
    ) -> Self {
        Self {
            enabled: config.enabled,
            remote: config.remote,
            journal_size: config.journal_size,
            recorder: recorder::Recorder::new(config.journal_size),
            endpoints,
            faults: faults::FaultView::default(),
            token_digest: RwLock::new(token_digest),
            reset_seen: std::sync::atomic::AtomicI64::new(-1),
            events_changed: events::EventsWatch::default(),
            console: crate::http::console::ConsoleAuth::default(),
        }
    }

    /// Replaces the admin token digest in force.
    pub fn set_token_digest(&self, digest: Option<[u8; 32]>) {
        if let Ok(mut current) = self.token_digest.write() {
            *current = digest;
        }
    }

    /// The admin token's digest in force (the console's sessions are signed with a key made
    /// from it, so rotating the token signs every console out).
    pub(crate) fn token_digest(&self) -> Option<[u8; 32]> {
        self.token_digest.read().ok().and_then(|d| *d)
    }

    /// Whether `token` is the admin token (constant time).
    pub(crate) fn token_matches(&self, token: &str) -> bool {
        let Ok(current) = self.token_digest.read() else {
            return false;
        };
        current
            .as_ref()
            .is_some_and(|stored| digests_equal(stored, &digest(token)))
    }
}

/// Where the server listens, as `/_b24/health` and the ready file tell fixtures.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The plain-HTTP base URL (`http://127.0.0.1:8080`).
    pub http: String,
    /// The HTTPS base URL, when served.
    pub https: Option<String>,
    /// The local CA certificate clients should trust, when the server made its certificate.
    pub ca: Option<String>,
    /// Host names besides loopback ones the web console answers to (the public URL's host and
    /// the certificate's extra names); any other `Host` is refused (DNS rebinding).
    pub names: Vec<String>,
}

/// An admin API answer that is not a success: the REST error envelope with a 4xx (or a 500 for a
/// failure inside the server, logged with its cause).
#[derive(Debug)]
pub struct ControlError {
    status: StatusCode,
    code: String,
    description: String,
}

impl ControlError {
    /// An error with its HTTP status, wire code and a description that says what to do.
    pub fn new(status: StatusCode, code: &str, description: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            description: description.into(),
        }
    }

    /// 400 `INVALID_REQUEST`: the request's body or parameters are not what the route takes.
    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", description)
    }

    /// What the error says, for the CLI twins.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", description)
    }
}

impl From<ApiError> for ControlError {
    fn from(error: ApiError) -> Self {
        if let ApiError::Internal(cause) = &error {
            tracing::error!(
                error = format!("{cause:#}"),
                "admin request failed inside the server"
            );
        }
        let rest = error.to_rest();
        Self {
            status: StatusCode::from_u16(rest.status()).unwrap_or(StatusCode::BAD_REQUEST),
            code: rest.code.wire().to_string(),
            description: rest.message.to_string(),
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code, "error_description": self.description});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// What an admin route answers.
pub type ControlResult<T = Json<Value>> = Result<T, ControlError>;

/// The admin routes, to be nested under `/_b24`. `health` is open; the rest pass the guard.
/// Each control family adds its routes here with one `merge`.
pub fn router(state: AppState) -> Router<AppState> {
    let guarded = Router::new()
        .merge(tokens::routes())
        .merge(faults::routes())
        .merge(state::routes())
        .merge(transfer::routes())
        .merge(clock::routes())
        .merge(events::routes())
        .merge(journal::routes())
        .merge(portals::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), guard));
    Router::new()
        .route("/health", get(health))
        .merge(guarded)
        .merge(crate::http::console::routes(state))
        .fallback(unknown_route)
}

/// `GET /_b24/health`: open, so fixtures can wait for readiness without the token.
async fn health(State(state): State<AppState>) -> Json<Value> {
    let endpoints = &state.control.endpoints;
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "backend": endpoints.backend,
        "http": endpoints.http,
        "https": endpoints.https,
        "ca": endpoints.ca,
    }))
}

async fn unknown_route() -> ControlError {
    ControlError::not_found(
        "No such admin route; see the README's \"Testing your integration\" for the routes under /_b24/",
    )
}

/// Why a peer may not reach the admin API or the web console: one rule for both.
pub(crate) enum PeerRefused {
    /// Another machine, and the server was not started with `--admin-remote`.
    NotLocal,
    /// Another machine over plain HTTP.
    PlainHttp,
}

/// Loopback peers always pass; others only with `--admin-remote` and over HTTPS.
pub(crate) fn peer_refused(
    control: &ControlState,
    peer: &SocketAddr,
    via_tls: bool,
) -> Option<PeerRefused> {
    if peer.ip().is_loopback() {
        None
    } else if !control.remote {
        Some(PeerRefused::NotLocal)
    } else if !via_tls {
        Some(PeerRefused::PlainHttp)
    } else {
        None
    }
}

/// Lets a call through only from an allowed peer with the admin token.
async fn guard(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    via_tls: Option<Extension<ViaTls>>,
    request: Request,
    next: Next,
) -> Response {
    let control = &state.control;
    match peer_refused(control, &peer, via_tls.is_some()) {
        Some(PeerRefused::NotLocal) => {
            return ControlError::new(
                StatusCode::FORBIDDEN,
                "ACCESS_DENIED",
                "The admin API answers only clients on this machine; start the server with --admin-remote to allow others (over HTTPS)",
            )
            .into_response();
        }
        Some(PeerRefused::PlainHttp) => {
            return ControlError::new(
                StatusCode::FORBIDDEN,
                "HTTPS_REQUIRED",
                "The admin API answers other machines only over HTTPS; use the server's HTTPS listener",
            )
            .into_response();
        }
        None => {}
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    match token {
        None => ControlError::new(
            StatusCode::UNAUTHORIZED,
            "ADMIN_TOKEN_REQUIRED",
            "Send the admin token as 'Authorization: Bearer TOKEN'; it is in the data directory's admin-token file",
        )
        .into_response(),
        Some(token) if !control.token_matches(token) => ControlError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_ADMIN_TOKEN",
            "The admin token is wrong; read it from the data directory's admin-token file, or set one with --admin-token",
        )
        .into_response(),
        Some(_) => next.run(request).await,
    }
}

/// The portal an admin call is about: the `X-B24-Portal` header, else the `portal` query
/// parameter, else `default`.
#[derive(Debug, Clone, Copy)]
pub struct AdminPortal(pub PortalId);

/// The state of the portal an admin call is about (its clock, plan, switches and base URL), as
/// [`AdminPortal`] picks it.
#[derive(Clone)]
pub struct AdminScope(pub AppState);

pub use crate::portals::DEFAULT_PORTAL_NAME;

/// The name an admin call gives, if any.
fn requested_portal(parts: &Parts) -> Result<Option<String>, ControlError> {
    let from_header = parts
        .headers
        .get("x-b24-portal")
        .map(|v| v.to_str().map(str::to_string));
    match from_header {
        Some(Ok(name)) => Ok(Some(name.trim().to_string())),
        Some(Err(_)) => Err(ControlError::bad_request(
            "X-B24-Portal must be a portal name ([a-z0-9-]{1,40})",
        )),
        None => Ok(query_value(parts.uri.query().unwrap_or(""), "portal")
            .map(|name| name.trim().to_string())),
    }
}

/// The runtime of the portal an admin call names.
async fn admin_runtime(
    parts: &Parts,
    state: &AppState,
) -> Result<Arc<crate::portals::PortalRuntime>, ControlError> {
    let name = requested_portal(parts)?.unwrap_or_else(|| DEFAULT_PORTAL_NAME.to_string());
    if !crate::portals::valid_name(&name) {
        return Err(ControlError::bad_request(
            "X-B24-Portal must be a portal name ([a-z0-9-]{1,40})",
        ));
    }
    let portals = state.portals.clone();
    let found = match portals.id_of(&name).and_then(|id| portals.get(id)) {
        Some(runtime) => Some(runtime),
        None => {
            let lookup = name.clone();
            blocking(state, move |store| portals.load_by_name(store, &lookup)).await?
        }
    };
    found.ok_or_else(|| {
        ControlError::not_found(format!(
            "There is no portal named '{name}'; GET /_b24/portals lists them"
        ))
    })
}

impl FromRequestParts<AppState> for AdminPortal {
    type Rejection = ControlError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if requested_portal(parts)?.is_none_or(|name| name == DEFAULT_PORTAL_NAME) {
            return Ok(AdminPortal(DEFAULT_PORTAL));
        }
        Ok(AdminPortal(admin_runtime(parts, state).await?.id))
    }
}

impl FromRequestParts<AppState> for AdminScope {
    type Rejection = ControlError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let runtime = admin_runtime(parts, state).await?;
        Ok(AdminScope(state.for_portal(&runtime)))
    }
}

/// One parameter of a query string, decoded.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A JSON request body: an empty body reads as `{}`; anything that is not the JSON the route
/// takes is a 400 that says what was wrong.
pub struct AdminJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequest<S> for AdminJson<T> {
    type Rejection = ControlError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(request.into_body()).await?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text).map(AdminJson).map_err(|e| {
            ControlError::bad_request(format!("The body is not the JSON this route takes: {e}"))
        })
    }
}

/// Reads a request body of at most [`MAX_ADMIN_BODY`] bytes.
pub async fn read_body(body: Body) -> Result<axum::body::Bytes, ControlError> {
    to_bytes(body, MAX_ADMIN_BODY).await.map_err(|_| {
        ControlError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "REQUEST_TOO_LARGE",
            format!("Admin request bodies are limited to {MAX_ADMIN_BODY} bytes"),
        )
    })
}

/// Runs store work on the blocking pool, as REST calls do.
pub async fn blocking<R: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Arc<Store>) -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ControlError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .unwrap_or_else(|e| {
            Err(ApiError::internal(anyhow::anyhow!(
                "admin task panicked: {e}"
            )))
        })
        .map_err(ControlError::from)
}

/// Put in an answer's extensions by the fault rule that made it (`/_b24/faults`), so that the
/// journal can name the rule that fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultFired(pub i64);
