//! The HTTP face of the server: routes, request decoding, and rendering envelopes.
//!
//! Order of checks (spec §1.3, §11): method lookup (404, before authentication), authentication
//! (401), then scope, limits and handler; [`authenticate_and_dispatch`] runs authentication and
//! the method on one blocking task (or, for a method answered from memory, where the request
//! arrived). Every answer is JSON, success or error (unless a fault rule
//! asks for an HTML page or no answer: [`crate::control::faults`], [`cut`]). Request URLs carry
//! webhook codes, so they are never logged. `/rest/api/…` is REST 3.0 (`v3.rs`): the same checks
//! and machinery, its own envelope and method table.

pub mod console;
pub mod cut;
pub mod disk;
pub mod host;
mod oauth_server;
mod v3;

use crate::auth::{Credentials, Presented, Transport};
use crate::control::faults::{self, Place, Reply};
use crate::control::recorder::{self, AnsweredError, CallRecord};
use crate::error::ApiError;
use crate::limits::RateDecision;
use crate::methods::{authenticate_and_dispatch, lookup, Dispatched, Params};
use crate::state::AppState;
use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Extension, Router};
use b24_protocol::params::ParamError;
use b24_protocol::request::{request_params, BodyKind};
use b24_protocol::{ErrorCode, RestError, SuccessEnvelope, TimeBlock, RESERVED_PARAMS};
use cut::Cut;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};
use std::net::SocketAddr;

/// Marks requests that arrived on the HTTPS listener.
#[derive(Debug, Clone, Copy)]
pub struct ViaTls;

/// The server's service: `/rest/` is the REST API, `/oauth/token/` the OAuth server, `/_b24/`
/// the test-double controls and the web console `/_b24/ui/` (unless switched off); anything else
/// is an unknown method (a browser asking for a page there is sent to the console).
pub fn router(state: AppState) -> App {
    let mut router = Router::new();
    if state.control.enabled {
        router = router.nest("/_b24", crate::control::router(state.clone()));
    }
    let journal = || axum::middleware::from_fn_with_state(state.clone(), recorder::layer);
    let token = Router::new()
        .route("/oauth/token", any(oauth_token))
        .route("/oauth/token/", any(oauth_token))
        .route_layer(journal());
    // The OAuth server's own `app.info` (not a portal call: not in the journal).
    let routes = router
        .merge(token)
        .route("/oauth/rest/app.info", any(oauth_server::app_info))
        .route("/oauth/rest/app.info/", any(oauth_server::app_info))
        .merge(disk::routes())
        .merge(host::routes())
        .fallback(any(unknown_path))
        .with_state(state.clone());
    App {
        rest: any(rest).with_state(state),
        routes,
    }
}

/// Whether a path is a REST call's: `/rest/` and something after it.
fn is_rest_path(path: &str) -> bool {
    path.len() > "/rest/".len() && path.starts_with("/rest/")
}

/// The server as one service: a REST call goes straight to its handler, everything else
/// through the router. Matching `/rest/{*path}` in the router cost a
/// `server.time` call about 8% of its instructions (the route table, and the captured path
/// percent-decoded into a parameter list that nothing reads: `rest` splits the path itself).
#[derive(Clone)]
pub struct App {
    rest: axum::routing::MethodRouter,
    routes: Router,
}

impl<B> tower::Service<axum::http::Request<B>> for App
where
    B: axum::body::HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = axum::routing::future::RouteFuture<std::convert::Infallible>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::http::Request<B>) -> Self::Future {
        let request = request.map(Body::new);
        if is_rest_path(request.uri().path()) {
            self.rest.call(request)
        } else {
            self.routes.call(request)
        }
    }
}

/// The caller's address for the request-rate limiter: the TCP peer, or — when the peer is a
/// trusted proxy — the last address that proxy appended to `X-Forwarded-For` (the one it saw).
fn client_ip(state: &AppState, client: SocketAddr, headers: &HeaderMap) -> std::net::IpAddr {
    if !state.security.trusted_proxies.contains(&client.ip()) {
        return client.ip();
    }
    last_forwarded(headers, "x-forwarded-for")
        .and_then(|last| last.parse().ok())
        .unwrap_or(client.ip())
}

/// The last value of a list header, over all its lines joined with commas (RFC 9110 §5.3): the
/// one the nearest proxy appended, whether it added a line or extended the last one. A client can
/// put anything in the earlier values. Empty elements are ignored (§5.6.1); a line that is not
/// text makes the header unusable.
fn last_forwarded<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    for line in headers.get_all(name).iter().rev() {
        let value = line.to_str().ok()?;
        if let Some(last) = value.rsplit(',').map(str::trim).find(|v| !v.is_empty()) {
            return Some(last);
        }
    }
    None
}

/// Whether the request counts as HTTPS: it came in on the TLS listener, or from a trusted proxy
/// that says it terminated TLS (`X-Forwarded-Proto: https`).
fn is_https(state: &AppState, via_tls: bool, client: SocketAddr, headers: &HeaderMap) -> bool {
    via_tls
        || (state.security.trusted_proxies.contains(&client.ip())
            && last_forwarded(headers, "x-forwarded-proto")
                .is_some_and(|p| p.eq_ignore_ascii_case("https")))
}

/// A REST path, split: `/rest/{method}` or `/rest/{user}/{code}/{method}`.
#[derive(Debug, PartialEq, Eq)]
struct RestPath {
    webhook: Option<(String, String)>,
    method: String,
}

/// The method a `/rest/` path names (for the journal; never the path itself, which may carry a
/// webhook code).
pub(crate) fn rest_method(path: &str) -> Option<String> {
    if v3::is_v3(path) {
        return v3::parse(path).map(|p| p.method);
    }
    parse_rest_path(path).map(|p| p.method)
}

/// Splits the path after `/rest/`; a trailing slash and a `.json` suffix are allowed.
fn parse_rest_path(path: &str) -> Option<RestPath> {
    let rest = path.strip_prefix("/rest/")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    // Empty segments (`/rest/1/CODE//method`, as the official PHP SDK sends) are dropped, as a
    // web server that merges slashes would. Segments are decoded in place (borrowed unless they
    // hold a `%`) and each is copied once.
    let mut segments = rest.split('/').filter(|s| !s.is_empty());
    fn decoded(s: &str) -> Option<std::borrow::Cow<'_, str>> {
        percent_decode_str(s).decode_utf8().ok()
    }
    let (webhook, method) = match [segments.next(), segments.next(), segments.next()] {
        _ if segments.next().is_some() => return None,
        [Some(method), None, None] => (None, decoded(method)?),
        [Some(user), Some(code), Some(method)] => {
            let webhook = (decoded(user)?.into_owned(), decoded(code)?.into_owned());
            (Some(webhook), decoded(method)?)
        }
        _ => return None,
    };
    let method = match method.len().checked_sub(5) {
        Some(cut)
            if method.is_char_boundary(cut) && method[cut..].eq_ignore_ascii_case(".json") =>
        {
            &method[..cut]
        }
        _ => &method[..],
    };
    (!method.is_empty()).then(|| RestPath {
        webhook,
        method: method.to_string(),
    })
}

/// Headers sent with every answer (spec §1.4).
pub(crate) fn with_common_headers(status: StatusCode, body: Vec<u8>) -> Response {
    answer_of(status, Bytes::from(body))
}

/// [`with_common_headers`] for a body already in shared bytes.
pub(super) fn answer_of(status: StatusCode, body: Bytes) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("origin, content-type, accept"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Renders an error envelope; internal errors are logged here with their cause and answered
/// with a generic message.
pub fn error_response(error: &ApiError, method: &str) -> Response {
    if let ApiError::Internal(cause) = error {
        tracing::error!(
            method,
            error = format!("{cause:#}"),
            "request failed inside the server"
        );
    }
    let rest = error.to_rest();
    let status = StatusCode::from_u16(rest.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = serde_json::to_vec(&rest.envelope()).unwrap_or_default();
    let mut response = with_common_headers(status, body);
    response
        .extensions_mut()
        .insert(AnsweredError(rest.code.wire()));
    if let Some(seconds) = rest.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The success envelope; the journal keeps its bytes (shared with the answer, not copied).
fn success_response(
    dispatched: Dispatched,
    start: f64,
    finish: f64,
    call: &mut CallRecord,
) -> Response {
    let Dispatched {
        output,
        processing,
        operating,
        operating_reset_at,
    } = dispatched;
    let envelope = SuccessEnvelope {
        result: output.result,
        next: output.next,
        total: output.total,
        time: TimeBlock::new(start, finish, processing, operating, operating_reset_at),
    };
    match envelope.to_json() {
        Ok(body) => {
            let body = Bytes::from(body);
            call.answered(&body);
            answer_of(StatusCode::OK, body)
        }
        Err(e) => error_response(&ApiError::internal(e.into()), "response encoding"),
    }
}

fn param_error(e: ParamError) -> ApiError {
    match e {
        ParamError::InvalidUtf8 => ErrorCode::WrongEncoding.into(),
        e @ ParamError::TooManyVariables { .. } => {
            RestError::with_message(ErrorCode::RequestTooLarge, e.to_string()).into()
        }
    }
}

/// Where the OAuth token comes from: `Authorization: Bearer`, then `auth`, then `access_token`.
fn token_from(headers: &HeaderMap, params: &Map<String, Value>) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string());
    bearer
        .or_else(|| {
            params
                .get("auth")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .or_else(|| {
            params
                .get("access_token")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .filter(|t| !t.is_empty())
}

/// The request-rate limiter (spec §5.1): one leaky bucket per portal and client IP, checked before
/// anything else. A `batch` is one request here. Returns the refusal, if any.
fn rate_limited(
    state: &AppState,
    client: SocketAddr,
    headers: &HeaderMap,
    now: f64,
) -> Option<Response> {
    let (drain, burst) = state.plan.get().leaky_bucket()?;
    let key = format!("{}|{}", state.portal_id, client_ip(state, client, headers));
    match state.limiter.admit(&key, now, drain, burst) {
        Ok(RateDecision::Admitted) => None,
        Ok(RateDecision::Rejected { retry_after_secs }) => {
            let refused =
                RestError::new(ErrorCode::QueryLimitExceeded).with_retry_after(retry_after_secs);
            Some(error_response(&refused.into(), ""))
        }
        Err(e) => Some(error_response(&e, "")),
    }
}

/// A call under `/rest/`, journaled once answered (preflights excepted). The journal's work is
/// done here rather than by its middleware layer (which wraps the token endpoint): a layer
/// costs every call a boxed future and a request rebuilt around it.
async fn rest(
    State(state): State<AppState>,
    client: ConnectInfo<SocketAddr>,
    connection: (Option<Extension<ViaTls>>, Option<Extension<Cut>>),
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if method == Method::OPTIONS {
        return preflight();
    }
    if !state.control.recorder.on() {
        return rest_call(&state, client, connection, method, &uri, headers, body)
            .await
            .0;
    }
    let timing = recorder::Timing::start();
    let (response, call) = rest_call(&state, client, connection, method, &uri, headers, body).await;
    match recorder::record(&state, timing, &uri, response, call) {
        Ok(response) => response,
        Err(unread) => unread.record(&state, &uri).await,
    }
}

/// A REST call's answer, and what the journal should know of it (`None`: the answer carries it,
/// if anything).
async fn rest_call(
    state: &AppState,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    // The connection's handle for fault rules that close it without an answer.
    (via_tls, cut): (Option<Extension<ViaTls>>, Option<Extension<Cut>>),
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Body,
) -> (Response, Option<CallRecord>) {
    if oauth_server::answers(&headers, uri.path()) {
        let (state, client, uri) = (State(state.clone()), ConnectInfo(client), uri.clone());
        let answer = oauth_server::app_info(state, client, via_tls, method, uri, headers, body);
        return (answer.await, None);
    }
    if v3::is_v3(uri.path()) {
        let connection = (via_tls.is_some(), cut);
        let state = state.clone();
        let answer = v3::rest(state, client, connection, method, uri, headers, body);
        return (answer.await, None);
    }
    // The portal comes from the credential, which a POST may carry in its body: the body is
    // read first (within its limits); an error reading it is answered where it was before.
    let path = parse_rest_path(uri.path());
    let params = read_params(state, &method, uri, &headers, body).await;
    // The secret's digest, taken once: the portal and the caller are both found by it.
    let credentials = Presented::new(credentials_of(
        path.as_ref(),
        &headers,
        params.as_ref().ok(),
    ));
    let state = portal_state_of(state, &credentials, &headers).await;
    let start = state.clock.now();
    // Made first, so that even an early answer is journaled for the call's portal.
    let mut call = CallRecord::new(&state, start);
    if let Some(limited) = rate_limited(&state, client, &headers, start) {
        return (limited, Some(call));
    }
    if state.portal_flags.closed() {
        let closed = error_response(&ErrorCode::PortalDeleted.into(), "");
        return (closed, Some(call));
    }
    let Some(path) = path else {
        let unknown = error_response(&ErrorCode::MethodNotFound.into(), "");
        return (unknown, Some(call));
    };
    let transport = Transport {
        https: is_https(&state, via_tls.is_some(), client, &headers),
        now: start,
    };
    let answer = handle(&state, params, credentials, &path, transport, &mut call);
    let response = match answer.await {
        Ok(reply) => faults::respond(
            reply,
            &path.method,
            cut.as_deref(),
            |outcome| match outcome {
                Ok(dispatched) => success_response(dispatched, start, state.clock.now(), &mut call),
                Err(e) => error_response(&e, &path.method),
            },
        ),
        Err(e) => error_response(&e, &path.method),
    };
    let response = close_if_body_unread(response);
    // The method name and outcome only: paths carry webhook codes and parameters carry tokens.
    tracing::debug!(
        method = %path.method,
        status = response.status().as_u16(),
        micros = ((state.clock.now() - start) * 1e6) as u64,
        "rest call"
    );
    (response, Some(call))
}

/// A body refused for its size (413) may still be on its way, unread: the answer closes the
/// connection, so the rest of the body is never waited for or taken for a next request.
fn close_if_body_unread(mut response: Response) -> Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads the parameters of a request: the query string and, for POST, the body (spec §1.2).
async fn read_params(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Map<String, Value>, ApiError> {
    let body = read_body(state, method, headers, body).await?;
    let kind = BodyKind::from_content_type(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    );
    let query = uri.query().unwrap_or("").as_bytes();
    request_params(query, &body, kind, state.limits.decode).map_err(param_error)
}

/// The body of a POST within the size and time limits (other verbs: none).
async fn read_body(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    // PHP reads a body only for POST; other verbs carry their parameters in the query string.
    let too_large = || {
        RestError::with_message(
            ErrorCode::RequestTooLarge,
            format!(
                "Request body is larger than {} bytes",
                state.limits.max_body_bytes
            ),
        )
    };
    // A declared length over the limit is refused before a byte of the body is awaited.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if method == Method::POST && declared.is_some_and(|n| n > state.limits.max_body_bytes as u64) {
        return Err(too_large().into());
    }
    if method != Method::POST {
        return Ok(Bytes::new());
    }
    let read = tokio::time::timeout(
        state.limits.body_read_timeout,
        to_bytes(body, state.limits.max_body_bytes),
    );
    Ok(read
        .await
        .map_err(|_| ErrorCode::RequestTimeout)?
        .map_err(|_| too_large())?)
}

/// The credentials of a REST call: the webhook in its path, else its OAuth token.
fn credentials_of(
    path: Option<&RestPath>,
    headers: &HeaderMap,
    params: Option<&Map<String, Value>>,
) -> Credentials {
    if let Some((user, code)) = path.and_then(|p| p.webhook.as_ref()) {
        return Credentials::Webhook {
            user: user.clone(),
            code: code.clone(),
        };
    }
    let empty = Map::new();
    token_from(headers, params.unwrap_or(&empty)).map_or(Credentials::None, Credentials::Token)
}

/// The state of the portal a request is about: its credential's portal (webhook codes and
/// tokens are unique server-wide), else the one its host names (`{name}.localhost`), else the
/// default portal. A credential seen before costs a hash lookup; a new one, one indexed read.
pub(crate) async fn portal_state(
    state: &AppState,
    credentials: &Credentials,
    headers: &HeaderMap,
) -> AppState {
    let digest = credentials.secret_digest();
    portal_state_by(state, credential_of(credentials, digest.as_ref()), headers).await
}

/// [`portal_state`] for credentials whose digest is already taken.
pub(crate) async fn portal_state_of(
    state: &AppState,
    credentials: &Presented,
    headers: &HeaderMap,
) -> AppState {
    let credential = credential_of(credentials.credentials(), credentials.digest());
    portal_state_by(state, credential, headers).await
}

/// The kind and digest a portal's credential is remembered under.
fn credential_of(
    credentials: &Credentials,
    digest: Option<&[u8; 32]>,
) -> Option<(crate::portals::CredentialKind, [u8; 32])> {
    use crate::portals::CredentialKind;
    match (credentials, digest) {
        (Credentials::Webhook { .. }, Some(digest)) => Some((CredentialKind::Webhook, *digest)),
        (Credentials::Token(_), Some(digest)) => Some((CredentialKind::AccessToken, *digest)),
        _ => None,
    }
}

/// [`portal_state`] by the credential's kind and digest.
async fn portal_state_by(
    state: &AppState,
    credential: Option<(crate::portals::CredentialKind, [u8; 32])>,
    headers: &HeaderMap,
) -> AppState {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::portals::name_from_host)
        .map(str::to_string);
    let portals = &state.portals;
    let fast = match &credential {
        Some((_, digest)) => portals.remembered(digest).and_then(|id| portals.get(id)),
        None => None,
    }
    .or_else(|| {
        credential.is_none().then(|| {
            host.as_deref()
                .and_then(|name| portals.id_of(name))
                .and_then(|id| portals.get(id))
        })?
    });
    if let Some(runtime) = fast {
        return state.for_portal(&runtime);
    }
    if credential.is_none() && host.is_none() {
        return state.clone();
    }
    let (store, portals) = (state.store.clone(), state.portals.clone());
    let found = tokio::task::spawn_blocking(move || {
        if let Some((kind, digest)) = credential {
            if let Some(id) = portals.find_credential(&store, kind, &digest)? {
                return portals.load(&store, id);
            }
        }
        match host {
            Some(name) => portals.load_by_name(&store, &name),
            None => Ok(None),
        }
    })
    .await;
    match found {
        Ok(Ok(Some(runtime))) => state.for_portal(&runtime),
        Ok(Ok(None)) => state.clone(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not find the portal of a request");
            state.clone()
        }
        Err(e) => {
            tracing::warn!(error = %e, "finding the portal of a request panicked");
            state.clone()
        }
    }
}

async fn handle(
    state: &AppState,
    params: Result<Map<String, Value>, ApiError>,
    credentials: Presented,
    path: &RestPath,
    transport: Transport,
    call: &mut CallRecord,
) -> Result<Reply<Result<Dispatched, ApiError>>, ApiError> {
    let mut params = params?;
    call.params(&params);
    let Some(spec) = lookup(&path.method) else {
        call.method(&path.method);
        return Err(ErrorCode::MethodNotFound.into());
    };
    call.known_method(spec.name);
    for key in RESERVED_PARAMS {
        params.shift_remove(*key);
    }
    let reply =
        authenticate_and_dispatch(state, credentials, transport, spec, Params(params), call)
            .await?;
    if matches!(spec.handler, crate::methods::Handler::Batch) {
        if let Some(Ok(dispatched)) = reply.outcome() {
            call.batch(&dispatched.output.result);
        }
    }
    Ok(reply)
}

/// The state of the portal an `/oauth/token/` grant is about: the one its code or refresh token
/// was issued on (each is unique server-wide), else the default portal.
async fn grant_portal_state(state: &AppState, params: &Map<String, Value>) -> AppState {
    use crate::portals::CredentialKind;
    let text = |name: &str| {
        params
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let presented = match text("grant_type") {
        Some("authorization_code") => text("code").map(|c| (CredentialKind::AuthCode, c)),
        Some("refresh_token") => text("refresh_token").map(|t| (CredentialKind::RefreshToken, t)),
        _ => None,
    };
    let Some((kind, secret)) = presented else {
        return state.clone();
    };
    let digest = crate::secret::digest(secret);
    let (store, portals) = (state.store.clone(), state.portals.clone());
    let found = tokio::task::spawn_blocking(move || {
        match portals.find_credential(&store, kind, &digest)? {
            Some(id) => portals.load(&store, id),
            None => Ok(None),
        }
    })
    .await;
    match found {
        Ok(Ok(Some(runtime))) => state.for_portal(&runtime),
        _ => state.clone(),
    }
}

/// `/oauth/token/` (GET or POST): the token endpoint of the OAuth server. Answers carry no `time`
/// block: they come from the OAuth server, not the REST API.
async fn oauth_token(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    // The connection's handle for fault rules that close it without an answer.
    (via_tls, cut): (Option<Extension<ViaTls>>, Option<Extension<Cut>>),
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if method == Method::OPTIONS {
        return preflight();
    }
    // The answer is about the portal the code or refresh token was issued on.
    let params = read_params(&state, &method, &uri, &headers, body).await;
    let state = match &params {
        Ok(params) => grant_portal_state(&state, params).await,
        Err(_) => state,
    };
    let now = state.clock.now();
    if let Some(limited) = rate_limited(&state, client, &headers, now) {
        return limited;
    }
    if state.security.require_https && !is_https(&state, via_tls.is_some(), client, &headers) {
        return error_response(&ErrorCode::HttpsRequired.into(), "oauth/token");
    }
    let params = match params {
        Ok(params) => params,
        Err(e) => return close_if_body_unread(error_response(&e, "oauth/token")),
    };
    let mut call = CallRecord::new(&state, now);
    call.oauth_params(&params);
    let task_state = state.clone();
    let reply = tokio::task::spawn_blocking(move || {
        // Fault rules see the token endpoint as method `oauth.token`, called by the client it names.
        let client_id = params.get("client_id").and_then(Value::as_str);
        let fired = faults::check(&task_state, "oauth.token", Place::Call, || {
            client_id.map(|id| format!("app:{id}"))
        });
        faults::around(fired, || crate::oauth::token(&task_state, &params, now))
    })
    .await
    .unwrap_or_else(|e| {
        Reply::Ran(Err(ApiError::internal(anyhow::anyhow!(
            "token endpoint panicked: {e}"
        ))))
    });
    let response = faults::respond(reply, "oauth/token", cut.as_deref(), |answer| match answer
        .and_then(|v| serde_json::to_vec(&v).map_err(|e| ApiError::internal(e.into())))
    {
        Ok(body) => with_common_headers(StatusCode::OK, body),
        Err(e) => error_response(&e, "oauth/token"),
    });
    call.attach(response)
}

async fn unknown_path(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    // A browser opening the server's address (`/`, or any page that is not the API) gets the
    // console. REST and token paths never reach this fallback, so their answers are unchanged.
    if console::wants_console(&state, &method, uri.path(), &headers) {
        return console::redirect_to_console();
    }
    if method == Method::OPTIONS {
        let body = serde_json::to_vec(&serde_json::json!({
            "error": "METHOD_NOT_ALLOWED",
            "error_description": "OPTIONS is answered only for /rest/ and /oauth/token/",
        }))
        .unwrap_or_default();
        let mut response = with_common_headers(StatusCode::METHOD_NOT_ALLOWED, body);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
        return response;
    }
    error_response(&ErrorCode::MethodNotFound.into(), "")
}

/// The verbs the REST API and the token endpoint answer.
const ALLOWED_METHODS: &str = "GET, POST, OPTIONS";

/// The answer to an `OPTIONS` request (a browser's CORS preflight) for `/rest/…` and
/// `/oauth/token/`: 204 with the CORS headers every answer carries (spec §1.4) plus the allowed
/// verbs. Nothing runs: no method, no authentication, no rate limit, no body read.
fn preflight() -> Response {
    let mut response = with_common_headers(StatusCode::NO_CONTENT, Vec::new());
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOWED_METHODS),
    );
    headers.insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(path: &str) -> Option<(Option<(&str, &str)>, String)> {
        parse_rest_path(path).map(|r| {
            let webhook = r.webhook.map(|(u, c)| {
                (
                    &*Box::leak(u.into_boxed_str()),
                    &*Box::leak(c.into_boxed_str()),
                )
            });
            (webhook, r.method)
        })
    }

    #[test]
    fn both_url_forms_with_suffix_and_trailing_slash() {
        assert_eq!(p("/rest/server.time"), Some((None, "server.time".into())));
        assert_eq!(
            p("/rest/server.time.json/"),
            Some((None, "server.time".into()))
        );
        assert_eq!(
            p("/rest/1/abc/crm.item.Add.JSON"),
            Some((Some(("1", "abc")), "crm.item.Add".into()))
        );
        assert_eq!(
            p("/rest/1/abc/crm.item.add/"),
            Some((Some(("1", "abc")), "crm.item.add".into()))
        );
        assert_eq!(
            p("/rest/1/abc//crm.item.add/"),
            Some((Some(("1", "abc")), "crm.item.add".into()))
        );
        assert_eq!(
            p("/rest//1//abc///crm.item.add//"),
            Some((Some(("1", "abc")), "crm.item.add".into()))
        );
    }

    #[test]
    fn other_shapes_are_not_rest_paths() {
        assert_eq!(p("/rest/"), None);
        assert_eq!(p("/rest/1/crm.item.add"), None);
        assert_eq!(p("/rest/1/a/b/c"), None);
        assert_eq!(p("/rest/.json"), None);
        assert_eq!(p("/rest/%FF"), None);
        assert_eq!(p("/rest/1/ab%FF/crm.item.add"), None);
        assert_eq!(p("/rest/1/abc/crm.item.add%FF"), None);
    }

    #[test]
    fn segments_are_percent_decoded() {
        assert_eq!(
            p("/rest/%31/a%62c/crm.item.add%2Ejson"),
            Some((Some(("1", "abc")), "crm.item.add".into()))
        );
        assert_eq!(p("/rest/server%2Etime"), Some((None, "server.time".into())));
    }
}
