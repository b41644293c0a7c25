//! OAuth 2.0 for applications (spec §7.2): applications created by the operator, one-time
//! authorisation codes, `/oauth/token/` with the `authorization_code` and `refresh_token` grants.
//! Client secrets, application tokens, codes and tokens are stored only as SHA-256 digests.

use crate::config::SecurityConfig;
use crate::error::ApiError;
use crate::secret::{self, digest, digests_equal, generate_code};
use crate::state::AppState;
use crate::store::{AppRecord, PortalId, Store, TokenRecord, Tx};
use anyhow::anyhow;
use b24_protocol::{ErrorCode, RestError};
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// What `app create` prints, once: the secrets are not recoverable afterwards. `Debug` hides
/// the secrets; only the JSON printed by `app create` carries them.
#[derive(Serialize)]
pub struct AppCredentials {
    /// The public client id, `local.<hex>.<digits>` like the real service's local applications.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// The token sent with events so handlers can tell they came from this portal.
    pub application_token: String,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("application_token", &"<redacted>")
            .finish()
    }
}

fn new_client_id() -> String {
    let mut rng = rand::rng();
    let hex: String = (0..14)
        .map(|_| format!("{:x}", rng.random_range(0..16u8)))
        .collect();
    format!("local.{hex}.{:08}", rng.random_range(0..100_000_000u32))
}

fn internal(e: ApiError) -> anyhow::Error {
    match e {
        ApiError::Internal(e) => e,
        ApiError::Rest(e) => anyhow!("{}", e.message),
    }
}

/// The browser side of an application (spec frame-host.md §3): all empty for an application
/// that only calls REST from its own server.
#[derive(Debug, Clone, Default)]
pub struct AppSetup {
    /// The page the portal opens in its frame.
    pub handler_url: String,
    /// The page an administrator sees until `installFinish`; empty: installed when created.
    pub install_url: String,
    /// No browser side: installed when created, and the install URL (else the handler URL)
    /// gets the install POST (`ONAPPINSTALL`) then.
    pub api_only: bool,
}

/// The administrator the first start creates: who installs an application that needs no
/// install page.
const FIRST_ADMIN: i64 = 1;

/// Creates an application with the given scopes, installed on the portal (it has no install
/// page).
pub fn create_app(
    store: &Store,
    portal: PortalId,
    name: &str,
    scopes: &[String],
    redirect_uri: &str,
) -> anyhow::Result<AppCredentials> {
    create_app_with(
        store,
        portal,
        name,
        scopes,
        redirect_uri,
        &AppSetup::default(),
    )
}

/// Creates an application with a browser side: installed at once unless it has an install page
/// (then an administrator installs it by opening it, `installFinish`).
pub fn create_app_with(
    store: &Store,
    portal: PortalId,
    name: &str,
    scopes: &[String],
    redirect_uri: &str,
    setup: &AppSetup,
) -> anyhow::Result<AppCredentials> {
    let client_id = new_client_id();
    let client_secret = generate_code(50);
    store
        .write(portal, |tx| {
            if tx.portal_row()?.is_none() {
                return Err(ApiError::internal(anyhow!(
                    "the portal does not exist yet: start the server once with `b24-server serve`"
                )));
            }
            // Derived, not random: the sender recomputes it for every payload (SECURITY.md).
            let application_token = secret::application_token(&event_key(tx)?, &client_id);
            let mut app = AppRecord {
                id: 0,
                client_id: client_id.clone(),
                client_secret_digest: digest(&client_secret),
                application_token_digest: digest(&application_token),
                name: name.to_string(),
                scopes: scopes.to_vec(),
                redirect_uri: redirect_uri.to_string(),
                blocked: false,
                handler_url: setup.handler_url.clone(),
                install_url: setup.install_url.clone(),
                version: 1,
                api_only: setup.api_only,
            };
            app.id = tx.insert_app(&app)?;
            if setup.api_only || setup.install_url.is_empty() {
                crate::domain::apps::install(tx, &app, FIRST_ADMIN)?;
            } else {
                tx.set_app_install(app.id, false, app.version)?;
            }
            Ok(AppCredentials {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                application_token,
            })
        })
        .map_err(internal)
}

/// The server's key for application tokens, created (random, 32 bytes) on first use.
pub(crate) fn event_key(tx: &mut dyn Tx) -> Result<Vec<u8>, ApiError> {
    let mut fresh = [0u8; 32];
    rand::rng().fill(&mut fresh);
    tx.server_key(secret::EVENT_KEY, &fresh)
}

fn app_for(tx: &mut dyn Tx, client_id: &str) -> Result<AppRecord, ApiError> {
    tx.app_by_client_id(client_id)?.ok_or_else(|| {
        ApiError::internal(anyhow!(
            "there is no application {client_id}: `b24-server app create` makes one"
        ))
    })
}

/// The application as this portal knows it. An application is created once, on one portal,
/// and found by its client id on any: authorising it on another portal gives that portal its
/// own record of it (same client id and secrets, the portal's own id), which its codes and
/// tokens refer to, as the real service keeps one installation per portal.
fn app_on_portal(tx: &mut dyn Tx, client_id: &str) -> Result<AppRecord, ApiError> {
    if let Some(app) = tx.app_by_client_id(client_id)? {
        return Ok(app);
    }
    let here = tx.portal();
    let Some(origin) = tx.portal_of_client_id(client_id)? else {
        return app_for(tx, client_id);
    };
    tx.enter_portal(origin);
    let found = tx.app_by_client_id(client_id);
    tx.enter_portal(here);
    let mut app = found?.ok_or_else(|| {
        ApiError::internal(anyhow!("the application {client_id} went away meanwhile"))
    })?;
    app.id = tx.insert_app(&app)?;
    // Installed here as on the portal it was created on: at once, unless an administrator
    // installs it through its install page.
    if app.api_only || app.install_url.is_empty() {
        crate::domain::apps::install(tx, &app, FIRST_ADMIN)?;
    } else {
        tx.set_app_install(app.id, false, app.version)?;
    }
    Ok(app)
}

/// Opens the application to a user (installing it for them) and issues a one-time
/// authorisation code valid for `ttl` seconds from `now`.
pub fn authorize(
    store: &Store,
    portal: PortalId,
    client_id: &str,
    user_id: i64,
    now: f64,
    ttl: f64,
) -> anyhow::Result<String> {
    let code = generate_code(32);
    store
        .write(portal, |tx| {
            let app = app_on_portal(tx, client_id)?;
            if tx.user(user_id)?.is_none_or(|u| !u.active) {
                return Err(ApiError::internal(anyhow!(
                    "there is no active user {user_id}: create one with `b24-server user create --name NAME`"
                )));
            }
            tx.set_app_user(app.id, user_id, true)?;
            tx.insert_auth_code(&digest(&code), app.id, user_id, now + ttl)
        })
        .map_err(internal)?;
    Ok(code)
}

/// Closes the application to a user: their tokens answer `user_access_error` from now on.
pub fn deny_user(
    store: &Store,
    portal: PortalId,
    client_id: &str,
    user_id: i64,
) -> anyhow::Result<()> {
    store
        .write(portal, |tx| {
            let app = app_for(tx, client_id)?;
            tx.set_app_user(app.id, user_id, false)
        })
        .map_err(internal)
}

/// Blocks or unblocks an application (blocked: its calls answer `OVERLOAD_LIMIT`).
pub fn set_blocked(
    store: &Store,
    portal: PortalId,
    client_id: &str,
    blocked: bool,
) -> anyhow::Result<()> {
    store
        .write(portal, |tx| {
            let app = app_for(tx, client_id)?;
            tx.set_app_blocked(app.id, blocked)
        })
        .map_err(internal)
}

fn text<'a>(params: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    params
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn invalid_grant(why: &'static str) -> ApiError {
    RestError::with_message(ErrorCode::OAuthInvalidGrant, why).into()
}

/// A freshly issued token pair, in clear (stored only as digests).
pub(crate) struct IssuedTokens {
    /// The access token.
    pub access_token: String,
    /// The refresh token.
    pub refresh_token: String,
    /// Unix time the access token expires (whole seconds).
    pub expires: f64,
}

/// Issues and stores a token pair for `user_id` of application `app_id`: what `/oauth/token/`
/// answers, and what event payloads carry for the handler's user.
pub(crate) fn issue_tokens(
    tx: &mut dyn Tx,
    app_id: i64,
    user_id: i64,
    scopes: &[String],
    now: f64,
    security: &SecurityConfig,
) -> Result<IssuedTokens, ApiError> {
    let issued = IssuedTokens {
        access_token: generate_code(64),
        refresh_token: generate_code(64),
        expires: (now + security.access_token_ttl).floor(),
    };
    tx.insert_token(&TokenRecord {
        access_digest: digest(&issued.access_token),
        refresh_digest: digest(&issued.refresh_token),
        app_id,
        user_id,
        scopes: scopes.to_vec(),
        access_expires: issued.expires,
        refresh_expires: now + security.refresh_token_ttl,
        refresh_used: false,
    })?;
    Ok(issued)
}

/// `/oauth/token/`: exchanges a code or a refresh token for a new token pair.
pub fn token(state: &AppState, params: &Map<String, Value>, now: f64) -> Result<Value, ApiError> {
    let grant = text(params, "grant_type").ok_or(ErrorCode::OAuthInvalidRequest)?;
    let client_id = text(params, "client_id").ok_or(ErrorCode::OAuthInvalidRequest)?;
    let client_secret = text(params, "client_secret").ok_or(ErrorCode::OAuthInvalidRequest)?;
    let presented = match grant {
        "authorization_code" => text(params, "code"),
        "refresh_token" => text(params, "refresh_token"),
        _ => None,
    }
    .ok_or(ErrorCode::OAuthInvalidRequest)?;
    let security = &state.security;
    let public_url = state.public_url.clone();
    state.store.write(state.portal_id, |tx| {
        // An unknown client id is not an HTTP error at the real OAuth server: it answers 200
        // with `{"error": "wrong_client"}`, which the official SDKs map (spec §12).
        let Some(app) = tx.app_by_client_id(client_id)? else {
            return Ok(json!({ "error": "wrong_client" }));
        };
        if !digests_equal(&app.client_secret_digest, &digest(client_secret)) {
            return Err(ErrorCode::OAuthInvalidClient.into());
        }
        // A blocked application gets no tokens: `invalid_client` (RFC 6749 §5.2), as an OAuth
        // server answers for a client it will not serve. Checked before the code or refresh
        // token is used up, so they work again once the application is unblocked.
        if app.blocked {
            return Err(RestError::with_message(
                ErrorCode::OAuthInvalidClient,
                "The application is blocked",
            )
            .into());
        }
        let (user_id, scopes) = if grant == "authorization_code" {
            let (app_id, user_id, expires_at) =
                tx.take_auth_code(&digest(presented))?.ok_or_else(|| {
                    invalid_grant("The authorization code is invalid or was already used")
                })?;
            if app_id != app.id {
                return Err(invalid_grant(
                    "The authorization code was issued to another client",
                ));
            }
            if expires_at <= now {
                return Err(invalid_grant("The authorization code has expired"));
            }
            (user_id, app.scopes.clone())
        } else {
            let refresh_digest = digest(presented);
            let old = tx
                .token_by_refresh(&refresh_digest)?
                .filter(|t| t.app_id == app.id && !t.refresh_used)
                .ok_or_else(|| invalid_grant("The refresh token is invalid or was already used"))?;
            if old.refresh_expires <= now {
                return Err(invalid_grant("The refresh token has expired"));
            }
            tx.use_refresh_token(&refresh_digest)?;
            (old.user_id, old.scopes)
        };
        let issued = issue_tokens(tx, app.id, user_id, &scopes, now, security)?;
        let (access_token, refresh_token, expires) =
            (issued.access_token, issued.refresh_token, issued.expires);
        let portal = tx
            .portal_row()?
            .ok_or_else(|| ApiError::internal(anyhow!("the portal row is missing")))?;
        let endpoint = format!("{}/rest/", public_url.trim_end_matches('/'));
        Ok(json!({
            "access_token": access_token,
            "expires": expires as i64,
            "expires_in": security.access_token_ttl as i64,
            "scope": scopes.join(","),
            "domain": portal.domain,
            "server_endpoint": endpoint,
            "status": "L",
            "client_endpoint": endpoint,
            "member_id": portal.member_id,
            "user_id": user_id,
            "refresh_token": refresh_token,
        }))
    })
}

/// `app.info` asked of the OAuth server (`/oauth/rest/app.info`, the real one's
/// `https://oauth.bitrix.info/rest/app.info`) with `auth=TOKEN`: what the server knows about the
/// token and the installation behind it, in the OAuth server's own lower-case shape (spec §12),
/// not the portal's `app.info`. No token is `NO_AUTH_FOUND`; an unknown one 400 `invalid_client`
/// (what the official Python SDK documents for a token-like invalid token); an expired one 401
/// `expired_token`.
pub fn app_info(state: &AppState, token: Option<&str>, now: f64) -> Result<Value, ApiError> {
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or(ErrorCode::NoAuthFound)?;
    let public_url = state.public_url.clone();
    state.store.read(state.portal_id, |tx| {
        let record = tx
            .token_by_access(&digest(token))?
            .ok_or(ErrorCode::OAuthInvalidClient)?;
        let app = tx
            .app(record.app_id)?
            .ok_or(ErrorCode::OAuthInvalidClient)?;
        if record.access_expires <= now {
            return Err(ErrorCode::ExpiredToken.into());
        }
        let portal = tx
            .portal_row()?
            .ok_or_else(|| ApiError::internal(anyhow!("the portal row is missing")))?;
        let base = public_url.trim_end_matches('/');
        let installed = crate::domain::apps::is_installed(tx, app.id)?;
        Ok(json!({
            "client_id": app.client_id,
            "scope": record.scopes.join(","),
            "expires": crate::clock::iso(record.access_expires),
            "install": {
                "installed": installed,
                "version": app.version,
                "status": "L",
                "scope": app.scopes.join(","),
                "domain": portal.domain,
                "uri": base,
                "client_endpoint": format!("{base}/rest/"),
                "member_id": portal.member_id,
                "member_type": "company",
            },
            "user_id": record.user_id,
        }))
    })
}
