//! The web console under `/_b24/ui/`: server-rendered pages about one portal (its calls, data,
//! events, limits, faults, clock, credentials and snapshots), served on both listeners from this
//! binary alone (the stylesheet and the script are compiled in; nothing is fetched from the
//! internet, and there is no build step).
//!
//! Every page reads and writes through the same functions the admin API (`/_b24/…`,
//! [`crate::control`]) calls, so the console adds no state of its own and nothing to a REST
//! call's path: REST routes never reach this module (a browser's `GET /` is redirected here by
//! the router's fallback, which REST paths never reach).
//!
//! Protection (see SECURITY.md):
//! - Peers: loopback only, unless `--admin-remote` (then other peers over HTTPS only), as the
//!   admin API.
//! - `Host` must be a loopback name or address (`localhost`, `*.localhost`, `127.0.0.0/8`,
//!   `::1`) or a configured name (the public URL's host, `--tls-name`): a page of another site
//!   whose name was pointed at 127.0.0.1 (DNS rebinding) is refused.
//! - Sign-in: each start prints a link with a one-time code (`/_b24/ui/login?code=…`); opening
//!   it sets a session cookie (HttpOnly, SameSite=Strict, Path=/_b24/ui, Secure over HTTPS)
//!   signed with a key made from the admin token's digest, so rotating the token signs every
//!   console out. The admin token works too: typed into the sign-in form, or sent as
//!   `Authorization: Bearer` (scripts).
//! - Writes (every `POST`) must come from the console's own origin: `Sec-Fetch-Site`, when
//!   sent, must be `same-origin`, and `Origin`, when sent, must be this `Host`'s; a cookie
//!   session whose browser sends neither is refused.

mod html;
mod pages;

use super::{is_https, ViaTls};
use crate::secret::{digest, digests_equal, generate_code};
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "b24_console";
/// How long a console session lasts, in seconds.
pub const SESSION_TTL: u64 = 12 * 3600;

const CSS: &str = include_str!("console.css");
const JS: &str = include_str!("console.js");

/// The one-time sign-in code of this process (in memory: each start makes a new one).
#[derive(Debug, Default)]
pub struct ConsoleAuth {
    code: Mutex<Option<[u8; 32]>>,
}

impl ConsoleAuth {
    /// Makes a new one-time code (the previous one stops working) and answers it in clear.
    pub fn issue_code(&self) -> String {
        let code = generate_code(32);
        if let Ok(mut held) = self.code.lock() {
            *held = Some(digest(&code));
        }
        code
    }

    /// Uses the code up: true once for the right code.
    fn take(&self, code: &str) -> bool {
        let Ok(mut held) = self.code.lock() else {
            return false;
        };
        match *held {
            Some(stored) if digests_equal(&stored, &digest(code)) => {
                *held = None;
                true
            }
            _ => false,
        }
    }
}

/// The routes of the console, merged into the admin router (so under `/_b24`).
pub fn routes(state: AppState) -> Router<AppState> {
    let signed_in = Router::new()
        .route("/ui", get(pages::overview))
        .route("/ui/", get(pages::overview))
        .route("/ui/reset", post(pages::reset))
        .route("/ui/requests", get(pages::requests))
        .route("/ui/requests/{seq}", get(pages::request))
        .route("/ui/data", get(pages::data))
        .route("/ui/data/{type}/{id}", get(pages::item))
        .route("/ui/activity/{id}", get(pages::activity))
        .route("/ui/events", get(pages::events))
        .route("/ui/events/{seq}/redeliver", post(pages::redeliver))
        .route("/ui/faults", get(pages::faults).post(pages::add_fault))
        .route("/ui/faults/{id}/delete", post(pages::remove_fault))
        .route("/ui/clock", post(pages::clock))
        .route("/ui/access", get(pages::access))
        .route("/ui/access/webhooks", post(pages::create_webhook))
        .route(
            "/ui/access/webhooks/{id}/{action}",
            post(pages::webhook_action),
        )
        .route("/ui/access/apps/{client}/{action}", post(pages::app_action))
        .route(
            "/ui/snapshots",
            get(pages::snapshots).post(pages::save_snapshot),
        )
        .route(
            "/ui/snapshots/{name}/{action}",
            post(pages::snapshot_action),
        )
        .route("/ui/export", get(pages::export))
        .route("/ui/import", post(pages::import))
        .route("/ui/logout", post(logout))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_session,
        ));
    Router::new()
        .route("/ui/login", get(login_with_code).post(login_with_token))
        .route("/ui/assets/console.css", get(css))
        .route("/ui/assets/console.js", get(js))
        .merge(signed_in)
        .route_layer(middleware::from_fn_with_state(state, require_place))
}

/// Whether a `GET` that fell through every route is a browser's page request the console
/// should answer instead (`Accept: text/html`, outside `/rest/` and `/oauth/`).
pub fn wants_console(state: &AppState, method: &Method, path: &str, headers: &HeaderMap) -> bool {
    state.control.enabled
        && *method == Method::GET
        && !path.starts_with("/rest/")
        && !path.starts_with("/oauth/")
        && headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("text/html"))
}

/// The redirect to the console's overview.
pub fn redirect_to_console() -> Response {
    (StatusCode::FOUND, [(header::LOCATION, "/_b24/ui/")]).into_response()
}

/// A short HTML page for refusals and errors.
fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t}</title><link rel=\"stylesheet\" href=\"/_b24/ui/assets/console.css\"></head>\
<body><main id=\"main\"><h1>{t}</h1><p>{x}</p></main></body></html>",
        t = html::esc(title),
        x = html::esc(text)
    );
    with_page_headers((status, body).into_response())
}

/// The headers of every console answer: no caching, no framing, no sniffing, and a content
/// security policy that allows only this server's own stylesheet and script.
fn with_page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    // Pages are built as strings, which axum labels text/plain.
    let plain = headers
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if plain {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

/// The host name of a `Host` header, without port or IPv6 brackets, lower-cased.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name)
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether the console answers requests naming `host`.
fn allowed_host(state: &AppState, host: Option<&str>) -> bool {
    let Some(host) = host else {
        return false;
    };
    let name = host_name(host);
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    if name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        return true;
    }
    state.control.endpoints.names.contains(&name)
}

/// Checks the peer and the `Host` of every console request (sign-in included).
async fn require_place(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    via_tls: Option<Extension<ViaTls>>,
    request: Request,
    next: Next,
) -> Response {
    use crate::control::{peer_refused, PeerRefused};
    match peer_refused(&state.control, &peer, via_tls.is_some()) {
        Some(PeerRefused::NotLocal) => {
            return message(
                StatusCode::FORBIDDEN,
                "Only this machine may open the console",
                "The console answers only clients on this machine; start the server with --admin-remote to allow others (over HTTPS).",
            );
        }
        Some(PeerRefused::PlainHttp) => {
            return message(
                StatusCode::FORBIDDEN,
                "HTTPS required",
                "The console answers other machines only over HTTPS; use the server's HTTPS listener.",
            );
        }
        None => {}
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    if !allowed_host(&state, host) {
        return message(
            StatusCode::FORBIDDEN,
            "Unknown host name",
            "The console answers only to localhost, loopback addresses and the names the server was configured with (--public-url, --tls-name).",
        );
    }
    with_page_headers(next.run(request).await)
}

/// How a request proved it may use the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proof {
    /// The session cookie.
    Cookie,
    /// `Authorization: Bearer <admin token>`.
    Token,
}

/// The key console sessions are signed with: made from the admin token's digest.
fn session_key(token_digest: &[u8; 32]) -> Vec<u8> {
    let mut key = b"b24-server console session\0".to_vec();
    key.extend_from_slice(token_digest);
    digest_bytes(&key).to_vec()
}

fn digest_bytes(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    Sha256::digest(bytes).into()
}

fn session_mac(key: &[u8], message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A new session's cookie value: `EXPIRES.NONCE.MAC`.
fn new_session(state: &AppState) -> Option<String> {
    let key = session_key(&state.control.token_digest()?);
    let message = format!("{}.{}", unix_now() + SESSION_TTL, generate_code(16));
    let mac = session_mac(&key, &message);
    Some(format!("{message}.{mac}"))
}

/// Whether a cookie value is a live session signed with the current admin token's key.
fn session_valid(state: &AppState, value: &str) -> bool {
    let Some(token_digest) = state.control.token_digest() else {
        return false;
    };
    let Some((message, mac)) = value.rsplit_once('.') else {
        return false;
    };
    let expires = message
        .split('.')
        .next()
        .and_then(|e| e.parse::<u64>().ok());
    if expires.is_none_or(|e| e <= unix_now()) {
        return false;
    }
    let wanted = session_mac(&session_key(&token_digest), message);
    wanted.as_bytes().ct_eq(mac.as_bytes()).into()
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then(|| value.to_string())
        })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn proof(state: &AppState, headers: &HeaderMap) -> Option<Proof> {
    if bearer(headers).is_some_and(|token| state.control.token_matches(token)) {
        return Some(Proof::Token);
    }
    cookie_value(headers)
        .filter(|value| session_valid(state, value))
        .map(|_| Proof::Cookie)
}

/// Whether a write comes from the console's own origin (see the module docs).
fn same_origin(headers: &HeaderMap, https: bool, proof: Option<Proof>) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site.is_some_and(|site| site != "same-origin") {
        return false;
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if let Some(origin) = origin {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let scheme = if https { "https" } else { "http" };
        if !origin.eq_ignore_ascii_case(&format!("{scheme}://{host}")) {
            return false;
        }
    }
    // A browser sends at least one of them with a form POST; a cookie without either is not
    // from one we can check.
    fetch_site.is_some() || origin.is_some() || proof == Some(Proof::Token)
}

/// Lets a request through with a session (or the admin token); writes only from the console's
/// own origin. Without a session a page answers the sign-in form.
async fn require_session(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    via_tls: Option<Extension<ViaTls>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let proof = proof(&state, headers);
    if proof.is_none() {
        return sign_in_page(StatusCode::UNAUTHORIZED, None);
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let https = is_https(&state, via_tls.is_some(), client, headers);
        if !same_origin(headers, https, proof) {
            return message(
                StatusCode::FORBIDDEN,
                "Cross-site request refused",
                "Changes are accepted only from the console's own pages.",
            );
        }
    }
    next.run(request).await
}

fn sign_in_page(status: StatusCode, problem: Option<&str>) -> Response {
    let problem = problem.map_or(String::new(), |p| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", html::esc(p))
    });
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Sign in · b24-server console</title><link rel=\"stylesheet\" href=\"/_b24/ui/assets/console.css\"></head>\
<body><main id=\"main\" class=\"signin\"><h1>Sign in to the console</h1>{problem}\
<p>Open the console link the server printed when it started (it works once), or enter the admin token \
(<code>b24-server admin token</code> prints it; it is also in the data directory's <code>admin-token</code> file).</p>\
<form method=\"post\" action=\"/_b24/ui/login\"><label for=\"token\">Admin token</label> \
<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required> \
<button type=\"submit\">Sign in</button></form></main></body></html>"
    );
    with_page_headers((status, body).into_response())
}

/// Answers a redirect into the console with a new session cookie.
fn signed_in(state: &AppState, https: bool) -> Response {
    let Some(session) = new_session(state) else {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            "No admin token",
            "The server has no admin token yet; start it again.",
        );
    };
    let secure = if https { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={session}; Path=/_b24/ui; HttpOnly; SameSite=Strict; Max-Age={SESSION_TTL}{secure}"
    );
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/_b24/ui/")]).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `GET /_b24/ui/login?code=…`: the printed link. The code works once.
async fn login_with_code(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    via_tls: Option<Extension<ViaTls>>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let code = crate::control::query_value(query.as_deref().unwrap_or(""), "code");
    match code {
        Some(code) if state.control.console.take(&code) => {
            signed_in(&state, is_https(&state, via_tls.is_some(), client, &headers))
        }
        Some(_) => sign_in_page(
            StatusCode::FORBIDDEN,
            Some("This sign-in link was used already (each works once). Enter the admin token instead."),
        ),
        None if proof(&state, &headers).is_some() => {
            (StatusCode::SEE_OTHER, [(header::LOCATION, "/_b24/ui/")]).into_response()
        }
        None => sign_in_page(StatusCode::OK, None),
    }
}

/// `POST /_b24/ui/login` with `token=…`: the admin token typed into the sign-in form.
async fn login_with_token(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    via_tls: Option<Extension<ViaTls>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let https = is_https(&state, via_tls.is_some(), client, &headers);
    if !same_origin(&headers, https, None) {
        return message(
            StatusCode::FORBIDDEN,
            "Cross-site request refused",
            "Sign in from the console's own page.",
        );
    }
    let form = match read_form(body).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    match form.get("token") {
        Some(token) if state.control.token_matches(token.trim()) => signed_in(&state, https),
        _ => sign_in_page(
            StatusCode::UNAUTHORIZED,
            Some("That is not the admin token."),
        ),
    }
}

/// `POST /_b24/ui/logout`: forgets the cookie.
async fn logout() -> Response {
    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, "/_b24/ui/login")],
    )
        .into_response();
    let cookie = format!("{COOKIE}=; Path=/_b24/ui; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// A form body (`application/x-www-form-urlencoded`), at most 1 MiB.
async fn read_form(body: axum::body::Body) -> Result<HashMap<String, String>, Response> {
    let bytes = axum::body::to_bytes(body, 1 << 20).await.map_err(|_| {
        message(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too large",
            "The form is larger than 1 MiB.",
        )
    })?;
    Ok(form_urlencoded::parse(&bytes).into_owned().collect())
}

/// The portal a page is about (`?portal=NAME`, default `default`) with its state, and every
/// portal's name for the selector.
pub struct Ctx {
    /// The state of the portal shown.
    pub state: AppState,
    /// Its name.
    pub portal: String,
    /// Every portal's name.
    pub portals: Vec<String>,
    /// The query string's parameters.
    pub query: HashMap<String, String>,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let query: HashMap<String, String> =
            form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let name = query
            .get("portal")
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| crate::portals::DEFAULT_PORTAL_NAME.to_string());
        let unknown = || {
            message(
                StatusCode::NOT_FOUND,
                "No such portal",
                "There is no portal of that name; the selector lists them.",
            )
        };
        if !crate::portals::valid_name(&name) {
            return Err(unknown());
        }
        let (store, portals, lookup) = (state.store.clone(), state.portals.clone(), name.clone());
        let found = tokio::task::spawn_blocking(move || {
            let runtime = match portals.id_of(&lookup).and_then(|id| portals.get(id)) {
                Some(runtime) => Some(runtime),
                None => portals.load_by_name(&store, &lookup).ok().flatten(),
            };
            let names = crate::admin::list_portals(&store)
                .map(|list| list.into_iter().map(|p| p.name).collect::<Vec<_>>())
                .unwrap_or_default();
            (runtime, names)
        })
        .await
        .map_err(|_| unknown())?;
        let (Some(runtime), portals) = found else {
            return Err(unknown());
        };
        Ok(Ctx {
            state: state.for_portal(&runtime),
            portal: name,
            portals,
            query,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port_and_brackets() {
        assert_eq!(host_name("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_name("[::1]:8443"), "::1");
        assert_eq!(host_name("LocalHost"), "localhost");
        assert_eq!(host_name("t1.localhost:80"), "t1.localhost");
        assert_eq!(host_name("evil.example."), "evil.example");
    }

    #[test]
    fn a_one_time_code_works_once() {
        let auth = ConsoleAuth::default();
        let code = auth.issue_code();
        assert!(!auth.take("wrong"));
        assert!(auth.take(&code));
        assert!(!auth.take(&code));
    }
}
