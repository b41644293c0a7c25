//! OAuth 2.0 application credentials (spec §7.2): an access token sent with each call, refreshed
//! with the refresh token when the server answers `expired_token`, then the call replayed once.

use crate::error::{Error, ErrorKind};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::{Arc, Mutex};

/// The token pair an application holds for one portal and user.
///
/// ```
/// use b24_client::OAuthTokens;
/// let tokens = OAuthTokens::new("access…", "refresh…");
/// assert_eq!(tokens.expires, None);
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthTokens {
    /// Sent with every call; valid for an hour.
    pub access_token: String,
    /// Exchanged for a new pair; valid for 180 days, and replaced at each refresh.
    pub refresh_token: String,
    /// Unix time (by this machine's clock) at which the access token expires, when known; the
    /// client refreshes a token past it before sending.
    #[serde(default)]
    pub expires: Option<i64>,
}

impl OAuthTokens {
    /// A pair whose expiry is not known (the first `expired_token` answer will tell).
    ///
    /// ```
    /// let t = b24_client::OAuthTokens::new("a", "r");
    /// assert_eq!(t.access_token, "a");
    /// ```
    pub fn new(access_token: impl Into<String>, refresh_token: impl Into<String>) -> Self {
        Self {
            access_token: access_token.into(),
            refresh_token: refresh_token.into(),
            expires: None,
        }
    }
}

/// Tokens are secrets: never print them.
impl fmt::Debug for OAuthTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthTokens")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires", &self.expires)
            .finish()
    }
}

/// Everything needed to call as an application and to refresh its tokens.
///
/// ```no_run
/// use b24_client::{Client, OAuthConfig, OAuthTokens};
/// # fn demo() -> Result<(), b24_client::Error> {
/// let config = OAuthConfig::new("app.123", "secret", OAuthTokens::new("access", "refresh"))
///     .on_refresh(|tokens| {
///         // Store them: the old refresh token no longer works.
///         std::fs::write("tokens.json", serde_json::to_vec(tokens).unwrap()).ok();
///     });
/// let client = Client::builder_oauth("https://example.bitrix24.com/rest/", config).build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct OAuthConfig {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) tokens: OAuthTokens,
    pub(crate) token_url: String,
    pub(crate) on_refresh: Option<Arc<RefreshCallback>>,
}

/// The client secret and the tokens are secrets: never print them.
impl fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("tokens", &self.tokens)
            .field("token_url", &self.token_url)
            .field("on_refresh", &self.on_refresh.is_some())
            .finish()
    }
}

/// Called with the new tokens after every refresh.
///
/// ```
/// use std::sync::Arc;
/// let callback: Arc<b24_client::RefreshCallback> = Arc::new(|tokens| println!("{:?}", tokens.expires));
/// # let _ = callback;
/// ```
pub type RefreshCallback = dyn Fn(&OAuthTokens) + Send + Sync;

/// Where Bitrix24 cloud portals refresh tokens.
///
/// ```
/// assert!(b24_client::DEFAULT_TOKEN_URL.starts_with("https://"));
/// ```
pub const DEFAULT_TOKEN_URL: &str = "https://oauth.bitrix.info/oauth/token/";

impl OAuthConfig {
    /// The application's id and secret and its current tokens; refreshes go to
    /// [`DEFAULT_TOKEN_URL`].
    ///
    /// ```
    /// let c = b24_client::OAuthConfig::new("id", "secret", b24_client::OAuthTokens::new("a", "r"));
    /// # let _ = c;
    /// ```
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        tokens: OAuthTokens,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            tokens,
            token_url: DEFAULT_TOKEN_URL.to_string(),
            on_refresh: None,
        }
    }

    /// Another token endpoint, such as a self-hosted portal's `https://host/oauth/token/`.
    ///
    /// ```
    /// # use b24_client::{OAuthConfig, OAuthTokens};
    /// let c = OAuthConfig::new("id", "s", OAuthTokens::new("a", "r"))
    ///     .token_url("https://crm.example.com/oauth/token/");
    /// # let _ = c;
    /// ```
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self
    }

    /// Persists new tokens: called once per refresh, before the replayed call is sent. The
    /// refresh token changes at every refresh, so a program that does not store it loses
    /// access when it restarts.
    ///
    /// ```
    /// # use b24_client::{OAuthConfig, OAuthTokens};
    /// let c = OAuthConfig::new("id", "s", OAuthTokens::new("a", "r"))
    ///     .on_refresh(|t| println!("new token expires at {:?}", t.expires));
    /// # let _ = c;
    /// ```
    pub fn on_refresh(mut self, callback: impl Fn(&OAuthTokens) + Send + Sync + 'static) -> Self {
        self.on_refresh = Some(Arc::new(callback));
        self
    }
}

/// The live OAuth state of a client: the current tokens and a lock so that concurrent calls that
/// all see `expired_token` refresh once.
pub(crate) struct OAuthState {
    config: OAuthConfig,
    current: Mutex<OAuthTokens>,
    refreshing: tokio::sync::Mutex<()>,
}

/// The token endpoint's answer (spec §7.2); other keys are ignored.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: String,
    #[serde(default)]
    expires: Option<i64>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    client_endpoint: Option<String>,
    #[serde(default)]
    member_id: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// What the token endpoint granted.
///
/// ```no_run
/// # async fn demo() -> Result<(), b24_client::Error> {
/// let grant = b24_client::exchange_code(b24_client::DEFAULT_TOKEN_URL, "app.1", "secret", "code").await?;
/// println!("portal endpoint {:?}", grant.client_endpoint);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OAuthGrant {
    /// The new token pair.
    pub tokens: OAuthTokens,
    /// The portal's REST endpoint (`https://{portal}/rest/`), for
    /// [`Client::builder_oauth`](crate::Client::builder_oauth).
    pub client_endpoint: Option<String>,
    /// The portal's id.
    pub member_id: Option<String>,
    /// The granted scopes, comma-separated.
    pub scope: Option<String>,
}

/// Exchanges an authorization code (valid for 30 s after the user approved the application)
/// for the first token pair: `grant_type=authorization_code`.
///
/// ```no_run
/// use b24_client::{exchange_code, Client, OAuthConfig, DEFAULT_TOKEN_URL};
/// # async fn demo(code: &str) -> Result<(), b24_client::Error> {
/// let grant = exchange_code(DEFAULT_TOKEN_URL, "app.1", "secret", code).await?;
/// let endpoint = grant.client_endpoint.clone().unwrap_or_default();
/// let client = Client::builder_oauth(&endpoint, OAuthConfig::new("app.1", "secret", grant.tokens))
///     .build()?;
/// # Ok(()) }
/// ```
pub async fn exchange_code(
    token_url: &str,
    client_id: &str,
    client_secret: &str,
    code: &str,
) -> Result<OAuthGrant, Error> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(Error::transport)?;
    request_tokens(
        &http,
        token_url,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("code", code),
        ],
    )
    .await
}

/// One request to the token endpoint. The expiry is kept as the client's own clock reads it
/// (`now + expires_in`), so that a server clock that differs from ours cannot make every call
/// look expired.
async fn request_tokens(
    http: &reqwest::Client,
    token_url: &str,
    query: &[(&str, &str)],
) -> Result<OAuthGrant, Error> {
    let response = http
        .get(token_url)
        .query(query)
        .send()
        .await
        .map_err(Error::transport)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(Error::transport)?;
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
        Error::new(ErrorKind::UnexpectedResponse {
            status,
            body: crate::error::body_excerpt(&body),
        })
    })?;
    if let Some(err) = crate::error::error_from_envelope(&value, status) {
        return Err(err);
    }
    let answer: TokenAnswer =
        serde_json::from_value(value).map_err(|e| Error::decode("oauth/token", e))?;
    let expires = answer
        .expires_in
        .map(|s| crate::limits::unix_now() as i64 + s)
        .or(answer.expires);
    Ok(OAuthGrant {
        tokens: OAuthTokens {
            access_token: answer.access_token,
            refresh_token: answer.refresh_token,
            expires,
        },
        client_endpoint: answer.client_endpoint,
        member_id: answer.member_id,
        scope: answer.scope,
    })
}

impl OAuthState {
    pub(crate) fn new(config: OAuthConfig) -> Self {
        Self {
            current: Mutex::new(config.tokens.clone()),
            config,
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn tokens(&self) -> OAuthTokens {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Refreshes unless another task already replaced `stale_access_token` while we waited.
    pub(crate) async fn refresh(
        &self,
        http: &reqwest::Client,
        stale_access_token: &str,
    ) -> Result<(), Error> {
        let _one_at_a_time = self.refreshing.lock().await;
        let current = self.tokens();
        if current.access_token != stale_access_token {
            return Ok(());
        }
        let grant = request_tokens(
            http,
            &self.config.token_url,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", self.config.client_id.as_str()),
                ("client_secret", self.config.client_secret.as_str()),
                ("refresh_token", current.refresh_token.as_str()),
            ],
        )
        .await?;
        let fresh = grant.tokens;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        if let Some(callback) = &self.config.on_refresh {
            callback(&fresh);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_of_an_oauth_config_hides_the_client_secret_and_tokens() {
        let config = OAuthConfig::new(
            "app.1",
            "the-client-secret",
            OAuthTokens::new("the-access-token", "the-refresh-token"),
        );
        let printed = format!("{config:?}");
        assert!(printed.contains("app.1"), "{printed}");
        for secret in ["the-client-secret", "the-access-token", "the-refresh-token"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }
}
