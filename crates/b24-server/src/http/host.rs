//! The local portal page (spec frame-host.md §2, §4.3): opens a browser application in a frame
//! the way a Bitrix24 portal does, so BX24.js and b24jssdk's `initializeB24Frame()` run against
//! this server. `b24-server app open` prints a one-time launch URL; `/b24host/login/{code}` turns
//! it into an HttpOnly session cookie; the pages mint tokens for the signed-in user and POST them
//! into the frame; the parent script (`host.js`, compiled in) answers the frame's messages, and
//! `/b24host/action` does what needs the server (fresh tokens, install, options).
//!
//! Tokens appear only in the frame's form POST and in the parent script's memory: never shown on
//! the page, never logged. Launch codes and sessions are stored as digests.

use super::{is_https, ViaTls};
use crate::domain::apps;
use crate::error::ApiError;
use crate::methods::app_option_value;
use crate::oauth::issue_tokens;
use crate::secret::{self, digest, generate_code};
use crate::state::AppState;
use crate::store::apps::HostGrant;
use crate::store::{AppRecord, PortalId, Store, Tx, User};
use anyhow::anyhow;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;

/// The parent script, compiled into the binary.
const HOST_JS: &str = include_str!("host/host.js");
/// The page around the frame.
const PAGE_HTML: &str = include_str!("host/page.html");

/// How long a launch code works: long enough to paste into a browser, too short to be worth
/// stealing from a terminal's scrollback.
pub const LAUNCH_CODE_TTL: f64 = 60.0;
/// How long a session of the portal page lasts.
pub const SESSION_TTL: f64 = 12.0 * 3600.0;
/// The session cookie.
const COOKIE: &str = "b24host_session";
/// The header every `/b24host/action` call must carry: a cross-site form cannot set it, and the
/// route answers no CORS preflight, so another site cannot call it with the user's cookie.
const ACTION_HEADER: &str = "x-b24-host";
/// The query parameter that reopens a page as a non-administrator (it can only lower rights).
const AS_USER: &str = "b24host_as";

/// The routes of the portal page.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/b24host/login/{code}", get(login))
        .route("/b24host/host.js", get(script))
        .route("/b24host/action", post(action))
        .route("/marketplace/app/{id}", get(app_page))
        .route("/marketplace/app/{id}/", get(app_page))
        .route("/marketplace/view/{client_id}", get(view_page))
        .route("/marketplace/view/{client_id}/", get(view_page))
        .route(
            "/marketplace/placement/{app_id}/{code}",
            get(placement_page),
        )
        .route(
            "/marketplace/placement/{app_id}/{code}/",
            get(placement_page),
        )
}

/// Checks an application's handler or install URL (`app create`): http or https with a host.
/// The browser loads it, not the server, so loopback names such as `app.localhost` are fine.
pub fn check_app_url(url: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).map_err(|e| anyhow!("{url} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(anyhow!("{url}: an application page must be an http(s) URL"));
    }
    Ok(())
}

fn internal(e: ApiError) -> anyhow::Error {
    match e {
        ApiError::Internal(e) => e,
        ApiError::Rest(e) => anyhow!("{}", e.message),
    }
}

/// Issues a one-time launch code for `user_id` and answers the URL that signs them in and
/// opens the application's main page, or one bound placement (with its options).
pub fn launch_url(
    store: &Store,
    portal: PortalId,
    client_id: &str,
    user_id: i64,
    placement: Option<&str>,
    options: Option<&str>,
    now: f64,
) -> anyhow::Result<String> {
    if let Some(options) = options {
        let parsed: Value = serde_json::from_str(options)
            .map_err(|e| anyhow!("--options must be a JSON object: {e}"))?;
        if !parsed.is_object() {
            return Err(anyhow!("--options must be a JSON object"));
        }
    }
    let code = generate_code(32);
    let base = store
        .write(portal, |tx| {
            let app = tx.app_by_client_id(client_id)?.ok_or_else(|| {
                ApiError::internal(anyhow!(
                    "there is no application {client_id}: `b24-server app create` makes one"
                ))
            })?;
            if tx.user(user_id)?.is_none_or(|u| !u.active) {
                return Err(ApiError::internal(anyhow!(
                    "there is no active user {user_id}: create one with `b24-server user create --name NAME`"
                )));
            }
            let target = match placement {
                None => format!("/marketplace/app/{}/", app.id),
                Some(code) => {
                    let code = code.to_ascii_uppercase();
                    let query = options.map_or(String::new(), |o| {
                        format!("?options={}", urlencoding(o))
                    });
                    format!("/marketplace/placement/{}/{code}/{query}", app.id)
                }
            };
            tx.insert_host_grant(
                &digest(&code),
                &HostGrant {
                    user_id,
                    target,
                    expires_at: now + LAUNCH_CODE_TTL,
                },
            )?;
            let portal = tx
                .portal_row()?
                .ok_or_else(|| ApiError::internal(anyhow!("the portal row is missing")))?;
            Ok(portal.public_url)
        })
        .map_err(internal)?;
    Ok(format!(
        "{}/b24host/login/{code}",
        base.trim_end_matches('/')
    ))
}

fn urlencoding(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A small HTML page with a message (errors of the portal page are for a person, not a client).
fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>{t}</title><h1>{t}</h1><p>{x}</p>",
        t = escape_html(title),
        x = escape_html(text)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// JSON safe inside a `<script>` element.
fn script_json(value: &Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn failed(e: ApiError) -> Response {
    match e {
        ApiError::Rest(e) => message(
            StatusCode::BAD_REQUEST,
            "Cannot open the application",
            &e.message,
        ),
        ApiError::Internal(e) => {
            tracing::error!(error = %e, "the portal page failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error",
                "The server could not open the application; its log says why.",
            )
        }
    }
}

async fn blocking<R: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Store, PortalId) -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    let (store, portal) = (state.store.clone(), state.portal_id);
    tokio::task::spawn_blocking(move || f(&store, portal))
        .await
        .map_err(|e| ApiError::internal(anyhow!("the page task panicked: {e}")))?
}

async fn login(State(state): State<AppState>, Path(code): Path<String>) -> Response {
    let now = state.clock.now();
    let session = generate_code(48);
    let session_digest = digest(&session);
    let granted = blocking(&state, move |store, portal| {
        store.write(portal, |tx| {
            let Some(grant) = tx.take_launch_code(&digest(&code))? else {
                return Ok(None);
            };
            if grant.expires_at <= now {
                return Ok(None);
            }
            tx.insert_host_grant(
                &session_digest,
                &HostGrant {
                    user_id: grant.user_id,
                    target: String::new(),
                    expires_at: now + SESSION_TTL,
                },
            )?;
            Ok(Some(grant.target))
        })
    })
    .await;
    match granted {
        Ok(Some(target)) => {
            let cookie = format!(
                "{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
                SESSION_TTL as i64
            );
            let mut response =
                (StatusCode::SEE_OTHER, [(header::LOCATION, target)]).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Ok(None) => message(
            StatusCode::FORBIDDEN,
            "This launch link does not work",
            "Launch links work once and for a minute. Run `b24-server app open` again.",
        ),
        Err(e) => failed(e),
    }
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        HOST_JS,
    )
        .into_response()
}

/// The session's cookie value, if the request carries one.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
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

/// The signed-in user of a request, inside its transaction.
fn session_user(tx: &mut dyn Tx, cookie: Option<&str>, now: f64) -> Result<Option<User>, ApiError> {
    let Some(cookie) = cookie else {
        return Ok(None);
    };
    let Some(grant) = tx.host_session(&digest(cookie))? else {
        return Ok(None);
    };
    if grant.expires_at <= now {
        return Ok(None);
    }
    Ok(tx.user(grant.user_id)?.filter(|u| u.active))
}

/// What a page opens in its frame.
struct Opening {
    app: AppRecord,
    /// The page loaded in the frame.
    url: String,
    /// `PLACEMENT`.
    placement: String,
    /// `PLACEMENT_OPTIONS`.
    options: Map<String, Value>,
    /// The install page (`INSTALL`).
    install: bool,
}

/// The request facts a page needs.
struct PageRequest {
    cookie: Option<String>,
    host: String,
    https: bool,
    as_user: bool,
    now: f64,
}

fn page_request(
    state: &AppState,
    client: SocketAddr,
    via_tls: Option<Extension<ViaTls>>,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> PageRequest {
    PageRequest {
        cookie: session_cookie(headers),
        host: headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_string(),
        https: is_https(state, via_tls.is_some(), client, headers),
        as_user: query.iter().any(|(k, v)| k == AS_USER && v == "user"),
        now: state.clock.now(),
    }
}

/// Why a page shows no frame.
enum Refusal {
    SignIn,
    NotFound(&'static str),
    NotInstalled,
}

type Choose = dyn FnOnce(&mut dyn Tx, &User) -> Result<Result<Opening, Refusal>, ApiError> + Send;

async fn render(state: AppState, request: PageRequest, choose: Box<Choose>) -> Response {
    let security = state.security.clone();
    let rendered = blocking(&state, move |store, portal| {
        store.write(portal, |tx| {
            let Some(user) = session_user(tx, request.cookie.as_deref(), request.now)? else {
                return Ok(Err(Refusal::SignIn));
            };
            let opening = match choose(tx, &user)? {
                Ok(opening) => opening,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let admin = user.admin && !request.as_user;
            if opening.install && !admin {
                return Ok(Err(Refusal::NotInstalled));
            }
            let app = &opening.app;
            tx.set_app_user(app.id, user.id, true)?;
            let issued = issue_tokens(tx, app.id, user.id, &app.scopes, request.now, &security)?;
            let first_run = !tx.app_has_run(app.id, user.id, app.version)?;
            let app_options = app_option_value(tx.app_options(app.id, 0)?);
            let user_options = app_option_value(tx.app_options(app.id, user.id)?);
            let key = crate::oauth::event_key(tx)?;
            let portal = tx
                .portal_row()?
                .ok_or_else(|| ApiError::internal(anyhow!("the portal row is missing")))?;
            let sid = hex::encode(rand::random::<[u8; 16]>());
            let protocol = u8::from(request.https);
            let scheme = if request.https { "https" } else { "http" };
            let endpoint = format!("{scheme}://{}/rest/", request.host);
            let ttl = (security.access_token_ttl as i64).to_string();
            let options = if opening.options.is_empty() {
                json!([])
            } else {
                Value::Object(opening.options.clone())
            };
            let options_text = if opening.options.is_empty() {
                String::new()
            } else {
                Value::Object(opening.options.clone()).to_string()
            };
            let mut action = reqwest::Url::parse(&opening.url)
                .map_err(|e| ApiError::internal(anyhow!("a stored page URL is invalid: {e}")))?;
            action
                .query_pairs_mut()
                .append_pair("DOMAIN", &request.host)
                .append_pair("PROTOCOL", &protocol.to_string())
                .append_pair("LANG", "en")
                .append_pair("APP_SID", &sid);
            let handler_origin = action.origin().ascii_serialization();
            let fields = vec![
                ("AUTH_ID", issued.access_token.clone()),
                ("AUTH_EXPIRES", ttl.clone()),
                ("REFRESH_ID", issued.refresh_token.clone()),
                ("member_id", portal.member_id.clone()),
                ("status", "L".to_string()),
                ("PLACEMENT", opening.placement.clone()),
                ("PLACEMENT_OPTIONS", options_text),
                ("SERVER_ENDPOINT", endpoint),
                (
                    "APPLICATION_TOKEN",
                    secret::application_token(&key, &app.client_id),
                ),
                ("APPLICATION_SCOPE", app.scopes.join(",")),
            ];
            let config = json!({
                "sid": sid,
                "appId": app.id,
                "appName": app.name,
                "handlerOrigin": handler_origin,
                "frameName": format!("{}|{protocol}|{sid}", request.host),
                "admin": admin,
                "canLower": user.admin && !request.as_user,
                "placement": opening.placement,
                "action": action.as_str(),
                "fields": fields.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
                "data": {
                    "DOMAIN": request.host,
                    "PROTOCOL": protocol,
                    "PATH": "/rest",
                    "LANG": "en",
                    "AUTH_ID": issued.access_token,
                    "AUTH_EXPIRES": ttl,
                    "REFRESH_ID": issued.refresh_token,
                    "MEMBER_ID": portal.member_id,
                    "IS_ADMIN": admin,
                    "INSTALL": opening.install,
                    "FIRST_RUN": first_run,
                    "APP_OPTIONS": app_options,
                    "USER_OPTIONS": user_options,
                    "PLACEMENT": opening.placement,
                    "PLACEMENT_OPTIONS": options,
                },
            });
            Ok(Ok((app.name.clone(), config)))
        })
    })
    .await;
    match rendered {
        Ok(Ok((name, config))) => {
            let frame_name = config["frameName"].as_str().unwrap_or_default().to_string();
            let html = PAGE_HTML
                .replace("{{TITLE}}", &escape_html(&name))
                .replace("{{FRAME_NAME}}", &escape_html(&frame_name))
                .replace("{{CONFIG}}", &script_json(&config));
            (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-store"),
                    (header::REFERRER_POLICY, "no-referrer"),
                ],
                html,
            )
                .into_response()
        }
        Ok(Err(Refusal::SignIn)) => message(
            StatusCode::UNAUTHORIZED,
            "Sign in first",
            "Open the page with the URL `b24-server app open --client-id ID --user UID` prints.",
        ),
        Ok(Err(Refusal::NotFound(what))) => message(StatusCode::NOT_FOUND, "Not found", what),
        Ok(Err(Refusal::NotInstalled)) => message(
            StatusCode::OK,
            "The application is not fully installed",
            "An administrator must open it once to finish its installation.",
        ),
        Err(e) => failed(e),
    }
}

/// The main page, or the install page while an administrator has not finished installing.
fn main_opening(
    tx: &mut dyn Tx,
    app: AppRecord,
    options: Map<String, Value>,
) -> Result<Result<Opening, Refusal>, ApiError> {
    let installed = apps::is_installed(tx, app.id)?;
    let (url, install) = if !installed && !app.install_url.is_empty() {
        (app.install_url.clone(), true)
    } else {
        (app.handler_url.clone(), false)
    };
    if url.is_empty() {
        return Ok(Err(Refusal::NotFound(
            "The application has no page: create it with `app create --handler URL`.",
        )));
    }
    Ok(Ok(Opening {
        app,
        url,
        placement: "DEFAULT".into(),
        options,
        install,
    }))
}

/// GET parameters that become `PLACEMENT_OPTIONS` (the page's own are left out).
fn page_options(query: &[(String, String)]) -> Map<String, Value> {
    query
        .iter()
        .filter(|(k, _)| k != AS_USER && k != "install_finished")
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

async fn app_page(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    via_tls: Option<Extension<ViaTls>>,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let request = page_request(&state, client, via_tls, &headers, &query);
    let options = page_options(&query);
    let id = id.parse::<i64>().unwrap_or(0);
    render(
        state,
        request,
        Box::new(move |tx, _user| {
            let Some(app) = tx.app(id)?.filter(|a| !a.blocked) else {
                return Ok(Err(Refusal::NotFound("There is no such application.")));
            };
            main_opening(tx, app, options)
        }),
    )
    .await
}

/// `REST_APP_URI` (`/marketplace/view/{client_id}/?params[k]=v`): the application's
/// `REST_APP_URI` handler with `params` and `URI` as options, else its main page.
async fn view_page(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    via_tls: Option<Extension<ViaTls>>,
    Path(client_id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let request = page_request(&state, client, via_tls, &headers, &query);
    let mut params = Map::new();
    for (k, v) in &query {
        if let Some(name) = k.strip_prefix("params[").and_then(|k| k.strip_suffix(']')) {
            params.insert(name.to_string(), Value::String(v.clone()));
        }
    }
    let uri = format!("/marketplace/view/{client_id}/");
    render(
        state,
        request,
        Box::new(move |tx, _user| {
            let Some(app) = tx.app_by_client_id(&client_id)?.filter(|a| !a.blocked) else {
                return Ok(Err(Refusal::NotFound("There is no such application.")));
            };
            let bound = tx
                .placements_of_app(app.id)?
                .into_iter()
                .find(|p| p.placement == "REST_APP_URI");
            match bound {
                Some(p) if apps::is_installed(tx, app.id)? => {
                    let mut options = Map::new();
                    options.insert("params".into(), Value::Object(params));
                    options.insert("URI".into(), Value::String(uri));
                    Ok(Ok(Opening {
                        app,
                        url: p.handler,
                        placement: p.placement,
                        options,
                        install: false,
                    }))
                }
                _ => main_opening(tx, app, params),
            }
        }),
    )
    .await
}

/// A bound placement of the application (`?options=` a JSON object), as the portal would open it
/// on its page: only once the application is installed.
async fn placement_page(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    via_tls: Option<Extension<ViaTls>>,
    Path((app_id, code)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let request = page_request(&state, client, via_tls, &headers, &query);
    let options = query
        .iter()
        .find(|(k, _)| k == "options")
        .and_then(|(_, v)| serde_json::from_str::<Value>(v).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    let app_id = app_id.parse::<i64>().unwrap_or(0);
    let code = code.to_ascii_uppercase();
    render(
        state,
        request,
        Box::new(move |tx, user| {
            let Some(app) = tx.app(app_id)?.filter(|a| !a.blocked) else {
                return Ok(Err(Refusal::NotFound("There is no such application.")));
            };
            if !apps::is_installed(tx, app.id)? {
                return Ok(Err(Refusal::NotInstalled));
            }
            let bound = tx
                .placements_of_app(app.id)?
                .into_iter()
                .find(|p| p.placement == code && (p.user_id == 0 || p.user_id == user.id));
            let Some(bound) = bound else {
                return Ok(Err(Refusal::NotFound(
                    "The application has not bound this placement (placement.bind).",
                )));
            };
            Ok(Ok(Opening {
                app,
                url: bound.handler,
                placement: bound.placement,
                options,
                install: false,
            }))
        }),
    )
    .await
}

/// A request of the parent script.
#[derive(Debug, Deserialize)]
struct ActionRequest {
    /// `refresh`, `install`, `install-finish`, `app-option`, `user-option`, `expire`, `user`.
    action: String,
    /// The application of the page.
    app_id: i64,
    /// The page was opened as a non-administrator.
    #[serde(default)]
    as_user: bool,
    /// An option's name.
    #[serde(default)]
    name: String,
    /// An option's value.
    #[serde(default)]
    value: Value,
    /// `user`: the user picked in the `selectUser` dialog.
    #[serde(default)]
    user_id: i64,
    /// `install-finish`: `false` leaves the application not installed.
    #[serde(default = "yes")]
    installed: bool,
}

fn yes() -> bool {
    true
}

fn action_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

async fn action(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<ActionRequest>,
) -> Response {
    if headers.get(ACTION_HEADER).is_none() {
        return action_error(StatusCode::FORBIDDEN, "missing X-B24-Host header");
    }
    let cookie = session_cookie(&headers);
    let now = state.clock.now();
    let security = state.security.clone();
    let done = blocking(&state, move |store, portal| {
        store.write(portal, |tx| {
            let Some(user) = session_user(tx, cookie.as_deref(), now)? else {
                return Ok(Err((StatusCode::UNAUTHORIZED, "not signed in")));
            };
            let Some(app) = tx.app(request.app_id)?.filter(|a| !a.blocked) else {
                return Ok(Err((StatusCode::NOT_FOUND, "no such application")));
            };
            let admin = user.admin && !request.as_user;
            let answer = match request.action.as_str() {
                "refresh" => {
                    let issued = issue_tokens(tx, app.id, user.id, &app.scopes, now, &security)?;
                    json!({
                        "AUTH_ID": issued.access_token,
                        "AUTH_EXPIRES": (security.access_token_ttl as i64).to_string(),
                        "REFRESH_ID": issued.refresh_token,
                    })
                }
                "install" => {
                    tx.mark_app_run(app.id, user.id, app.version)?;
                    json!({})
                }
                "install-finish" if admin => {
                    if request.installed {
                        apps::install(tx, &app, user.id)?;
                    } else {
                        apps::uninstall(tx, &app)?;
                    }
                    json!({ "installed": request.installed })
                }
                "app-option" if admin => {
                    tx.set_app_option(app.id, 0, &request.name, &request.value)?;
                    app_option_value(tx.app_options(app.id, 0)?)
                }
                "user-option" => {
                    tx.set_app_option(app.id, user.id, &request.name, &request.value)?;
                    json!({})
                }
                "expire" => json!({ "expired": tx.expire_access_tokens(Some(app.id))? }),
                // `selectUser`: what the portal's user dialog answers for the picked user.
                "user" => match tx.user(request.user_id)?.filter(|u| u.active) {
                    Some(picked) => json!({
                        "id": picked.id.to_string(),
                        "name": format!("{} {}", picked.name, picked.last_name).trim().to_string(),
                        "photo": "",
                        "position": "",
                        "url": format!("/company/personal/user/{}/", picked.id),
                        "sub": false,
                        "sup": false,
                    }),
                    None => return Ok(Err((StatusCode::NOT_FOUND, "no such user"))),
                },
                "install-finish" | "app-option" => {
                    return Ok(Err((StatusCode::FORBIDDEN, "administrators only")))
                }
                _ => return Ok(Err((StatusCode::BAD_REQUEST, "unknown action"))),
            };
            Ok(Ok(answer))
        })
    })
    .await;
    let response = match done {
        Ok(Ok(answer)) => Json(answer).into_response(),
        Ok(Err((status, error))) => action_error(status, error),
        Err(e) => {
            tracing::error!(error = %e, "a portal page action failed");
            action_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    };
    state.events_wake.notify_one();
    let mut response = response;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
