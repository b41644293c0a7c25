//! Who is calling: incoming webhooks now, OAuth tokens later (spec §7).

use crate::domain::Permissions;
use crate::error::ApiError;
use crate::secret::{digest, digests_equal};
use crate::state::AppState;
use crate::store::callers::CallerKey;
use crate::store::{PortalId, Tx, User};
use b24_protocol::ErrorCode;
use std::sync::Arc;

/// The credentials a request carried, before they are checked.
#[derive(Clone)]
pub enum Credentials {
    /// `/rest/{user}/{code}/{method}`.
    Webhook {
        /// The user part of the path (an id).
        user: String,
        /// The secret code.
        code: String,
    },
    /// An OAuth access token (header `Authorization: Bearer`, or `auth` / `access_token`).
    Token(String),
    /// Nothing.
    None,
}

impl std::fmt::Debug for Credentials {
    /// Never prints a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Webhook { user, .. } => {
                write!(f, "Webhook {{ user: {user:?}, code: *** }}")
            }
            Credentials::Token(_) => f.write_str("Token(***)"),
            Credentials::None => f.write_str("None"),
        }
    }
}

impl Credentials {
    /// SHA-256 of the secret (webhook code or access token), the form secrets are stored,
    /// looked up and compared in.
    pub fn secret_digest(&self) -> Option<[u8; 32]> {
        match self {
            Credentials::Webhook { code, .. } => Some(digest(code)),
            Credentials::Token(token) => Some(digest(token)),
            Credentials::None => None,
        }
    }
}

/// Credentials with the digest of their secret, computed once for a call: finding the call's
/// portal and authenticating both look the secret up by its digest.
#[derive(Clone)]
pub struct Presented {
    credentials: Credentials,
    digest: Option<[u8; 32]>,
}

impl Presented {
    /// The credentials and their digest.
    pub fn new(credentials: Credentials) -> Self {
        let digest = credentials.secret_digest();
        Self {
            credentials,
            digest,
        }
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// SHA-256 of the secret (`None`: no credentials).
    pub fn digest(&self) -> Option<&[u8; 32]> {
        self.digest.as_ref()
    }
}

impl From<Credentials> for Presented {
    fn from(credentials: Credentials) -> Self {
        Self::new(credentials)
    }
}

impl std::fmt::Debug for Presented {
    /// Never prints a secret or its digest.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.credentials.fmt(f)
    }
}

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerKind {
    /// An incoming webhook, by id.
    Webhook {
        /// The webhook's id.
        id: i64,
    },
    /// An OAuth application acting for a user.
    App {
        /// The application's internal id.
        app_id: i64,
        /// Its public client id.
        client_id: String,
    },
}

/// An authenticated caller: the user whose rights apply, and the scopes granted.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The portal.
    pub portal_id: PortalId,
    /// The user the call runs as.
    pub user: User,
    /// That user's CRM rights.
    pub permissions: Permissions,
    /// Scopes granted to the webhook or token.
    pub scopes: Vec<String>,
    /// Webhook or application.
    pub kind: CallerKind,
}

impl Caller {
    /// Whether the call may use a method of `scope` (`None`: a global method).
    /// `user` is also satisfied by `user_brief` or `user_basic` (spec §7.4).
    pub fn has_scope(&self, scope: Option<&str>) -> bool {
        let Some(scope) = scope else { return true };
        self.scopes
            .iter()
            .any(|s| s == scope || (scope == "user" && (s == "user_brief" || s == "user_basic")))
    }

    /// Identifies the client for the operating-time limiter: `apauth:<webhook id>` or, for OAuth,
    /// `oauth:<client id>`.
    pub fn client_key(&self) -> String {
        match &self.kind {
            CallerKind::Webhook { id } => format!("apauth:{id}"),
            CallerKind::App { client_id, .. } => format!("oauth:{client_id}"),
        }
    }

    /// The `insufficient_scope` error worded for this caller's kind of credentials.
    pub fn insufficient_scope(&self) -> ErrorCode {
        match self.kind {
            CallerKind::Webhook { .. } => ErrorCode::InsufficientScopeWebhook,
            CallerKind::App { .. } => ErrorCode::InsufficientScopeToken,
        }
    }
}

/// What the HTTP layer knows about the request beyond its credentials.
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    /// Whether the request arrived over TLS (or from a trusted proxy that terminated TLS).
    pub https: bool,
    /// Unix time of the request.
    pub now: f64,
}

/// Checks credentials and loads the caller, in the real service's order (spec §7): HTTPS when
/// required, the credentials, operator blocks (`OVERLOAD_LIMIT`), REST switched off for the portal
/// (`ACCESS_DENIED`), token expiry, then the user.
pub fn authenticate(
    state: &AppState,
    credentials: &Presented,
    transport: Transport,
) -> Result<Arc<Caller>, ApiError> {
    let key = match precheck(state, credentials, transport)? {
        Some(key) => key,
        // Not a form the cache keeps (a webhook user that is not a number): read and refused.
        None => {
            let rest_enabled = state.portal_flags.rest_enabled();
            return read_caller(state, credentials, transport, rest_enabled)
                .map(|(c, _)| Arc::new(c));
        }
    };
    // The store keeps callers it has read (see `store/callers.rs`): a hit stands for
    // the reads below up to the checks that do not depend on credential rows.
    let generation = match state.store.cached_caller(&key) {
        (Some((caller, expires)), _) => return checked_cached(state, caller, expires, transport),
        (None, generation) => generation,
    };
    let rest_enabled = state.portal_flags.rest_enabled();
    let (caller, expires) = read_caller(state, credentials, transport, rest_enabled)?;
    let caller = Arc::new(caller);
    state
        .store
        .remember_caller(key, generation, &caller, expires);
    Ok(caller)
}

/// [`authenticate`] from memory alone, for calls that never leave the async worker: `None` when
/// an answer would need the database (a caller not cached, or the shared credentials version
/// due to be read again), else the same answer `authenticate` gives.
pub fn authenticate_in_memory(
    state: &AppState,
    credentials: &Presented,
    transport: Transport,
) -> Option<Result<Arc<Caller>, ApiError>> {
    let key = match precheck(state, credentials, transport) {
        Ok(key) => key?,
        Err(e) => return Some(Err(e)),
    };
    let (caller, expires) = state.store.cached_caller_in_memory(&key)?;
    Some(checked_cached(state, caller, expires, transport))
}

/// The checks made before any credential is looked at (no credential: 401; HTTP where HTTPS is
/// required), then the cache key of the credential, if it has one.
fn precheck(
    state: &AppState,
    presented: &Presented,
    transport: Transport,
) -> Result<Option<CallerKey>, ApiError> {
    let (credentials, digest) = (presented.credentials(), presented.digest());
    if matches!(credentials, Credentials::None) {
        return Err(ErrorCode::NoAuthFound.into());
    }
    if state.security.require_https && !transport.https {
        return Err(ErrorCode::HttpsRequired.into());
    }
    let portal = state.portal_id;
    Ok(match (credentials, digest) {
        (Credentials::Webhook { user, .. }, Some(digest)) => {
            user.parse().ok().map(|user| CallerKey {
                portal,
                digest: *digest,
                user: Some(user),
            })
        }
        (Credentials::Token(_), Some(digest)) => Some(CallerKey {
            portal,
            digest: *digest,
            user: None,
        }),
        _ => None,
    })
}

/// A cached caller, with the checks that do not depend on credential rows: the portal's REST
/// switch and a token's expiry.
fn checked_cached(
    state: &AppState,
    caller: Arc<Caller>,
    expires: Option<f64>,
    transport: Transport,
) -> Result<Arc<Caller>, ApiError> {
    if !state.portal_flags.rest_enabled() {
        return Err(ErrorCode::RestUnavailable.into());
    }
    if expires.is_some_and(|at| at <= transport.now) {
        return Err(ErrorCode::ExpiredToken.into());
    }
    Ok(caller)
}

/// Authentication's reads: the caller, and for a token when it expires.
fn read_caller(
    state: &AppState,
    credentials: &Presented,
    transport: Transport,
    rest_enabled: bool,
) -> Result<(Caller, Option<f64>), ApiError> {
    let portal = state.portal_id;
    let presented = match credentials.digest() {
        Some(digest) => *digest,
        None => return Err(ErrorCode::NoAuthFound.into()),
    };
    state
        .store
        .read(portal, |tx| match credentials.credentials() {
            Credentials::None => Err(ErrorCode::NoAuthFound.into()),
            Credentials::Webhook { user, .. } => {
                let user_id: i64 = user
                    .parse()
                    .map_err(|_| ApiError::from(ErrorCode::InvalidCredentials))?;
                let webhooks = tx.webhooks_of_user(user_id)?;
                // Compare against every webhook of the user so timing does not depend on which matched.
                let matched = webhooks.iter().fold(None, |found, w| {
                    if digests_equal(&w.code_digest, &presented) && w.active {
                        Some(w)
                    } else {
                        found
                    }
                });
                let webhook = matched.ok_or(ErrorCode::InvalidCredentials)?;
                if webhook.blocked {
                    return Err(ErrorCode::OverloadLimit.into());
                }
                if !rest_enabled {
                    return Err(ErrorCode::RestUnavailable.into());
                }
                let user = tx
                    .user(user_id)?
                    .filter(|u| u.active)
                    .ok_or(ErrorCode::InvalidCredentials)?;
                let permissions = load_permissions(tx, &user)?;
                let caller = Caller {
                    portal_id: portal,
                    permissions,
                    scopes: webhook.scopes.clone(),
                    kind: CallerKind::Webhook { id: webhook.id },
                    user,
                };
                Ok((caller, None))
            }
            Credentials::Token(_) => {
                let record = tx
                    .token_by_access(&presented)?
                    .filter(|t| digests_equal(&t.access_digest, &presented))
                    .ok_or(ErrorCode::InvalidToken)?;
                let app = tx.app(record.app_id)?.ok_or(ErrorCode::InvalidToken)?;
                if app.blocked {
                    return Err(ErrorCode::OverloadLimit.into());
                }
                if !rest_enabled {
                    return Err(ErrorCode::RestUnavailable.into());
                }
                if record.access_expires <= transport.now {
                    return Err(ErrorCode::ExpiredToken.into());
                }
                let user = tx
                    .user(record.user_id)?
                    .filter(|u| u.active)
                    .ok_or(ErrorCode::AuthorizationError)?;
                if !tx.app_user_allowed(app.id, user.id)? {
                    return Err(ErrorCode::UserAccessError.into());
                }
                let permissions = load_permissions(tx, &user)?;
                let caller = Caller {
                    portal_id: portal,
                    permissions,
                    scopes: record.scopes.clone(),
                    kind: CallerKind::App {
                        app_id: app.id,
                        client_id: app.client_id.clone(),
                    },
                    user,
                };
                Ok((caller, Some(record.access_expires)))
            }
        })
}

/// Loads a user's CRM rights.
pub fn load_permissions(tx: &mut dyn Tx, user: &User) -> Result<Permissions, ApiError> {
    let mut permissions = Permissions {
        user_id: user.id,
        admin: user.admin,
        ..Default::default()
    };
    if !user.admin {
        for (entity_type_id, action, level) in tx.user_rights(user.id)? {
            permissions.rights.insert((entity_type_id, action), level);
        }
    }
    Ok(permissions)
}
