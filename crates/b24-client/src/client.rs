//! [`Client`]: one portal, one set of credentials, the limits and the retry policy. Every call —
//! plain, typed, list page or batch — goes through [`Client::send`], so pacing, retries and token
//! refresh apply to all of them alike.

use crate::error::{Error, ErrorKind, body_excerpt, error_from_envelope};
use crate::limits::{self, LeakyBucket, OperatingBudget, OperatingTracker, Plan, RetryPolicy};
use crate::oauth::{OAuthConfig, OAuthState, OAuthTokens};
use b24_protocol::TimeBlock;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// A successful answer: `result` plus, for lists, `next` and `total`, and the `time` block.
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let answer = client.call("crm.item.list", serde_json::json!({"entityTypeId": 2})).await?;
/// println!("{} deals, next page at {:?}", answer.total.unwrap_or(0), answer.next);
/// if let Some(time) = &answer.time {
///     println!("server spent {} s; operating {} s", time.processing, time.operating);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Whatever the method returned.
    pub result: Value,
    /// Offset of the next page, only when more rows exist.
    pub next: Option<u64>,
    /// Total matching rows, on counted list calls.
    pub total: Option<u64>,
    /// The server's timing block (absent only from servers that do not send it).
    pub time: Option<TimeBlock>,
}

/// A typed method: its name, its parameters (built with serde) and the type of its result.
/// Every typed call in this crate is one of these, and so can also go into a
/// [`Batch`](crate::Batch).
///
/// ```no_run
/// use b24_client::Method;
/// use serde::Serialize;
///
/// /// `crm.deal.get`, as a typed method of your own.
/// #[derive(Serialize)]
/// struct DealGet { id: i64 }
///
/// impl Method for DealGet {
///     type Output = serde_json::Map<String, serde_json::Value>;
///     const NAME: &'static str = "crm.deal.get";
/// }
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let deal = client.execute(&DealGet { id: 5 }).await?;
/// # Ok(()) }
/// ```
pub trait Method: Serialize {
    /// What the call returns, after [`Method::output`].
    type Output: DeserializeOwned;
    /// The REST method name.
    const NAME: &'static str;

    /// Whether the method only reads, so that it may be repeated after an ambiguous failure
    /// (see [`RetryPolicy`]). Derived from the name by default.
    fn read_only(&self) -> bool {
        limits::is_read_only(Self::NAME)
    }

    /// Turns `result` into the output; override to unwrap single-key wrappers such as
    /// `{"item": {...}}`.
    fn output(result: Value) -> Result<Self::Output, serde_json::Error> {
        serde_json::from_value(result)
    }
}

/// The parameters of a typed method as a JSON object.
pub(crate) fn method_params<M: Method>(method: &M) -> Result<Value, Error> {
    serde_json::to_value(method).map_err(|e| Error::decode(M::NAME, e))
}

/// A Bitrix24 REST client. Cheap to clone: clones share the connection pool, the rate limiter
/// and the OAuth tokens.
///
/// ```no_run
/// use b24_client::Client;
/// use serde_json::json;
/// # async fn demo() -> Result<(), b24_client::Error> {
/// let client = Client::from_webhook("https://example.bitrix24.com/rest/1/0123456789abcdef/")?;
/// let time = client.call("server.time", json!({})).await?;
/// println!("{}", time.result);
/// let unbound = client.crm().activity().binding().delete(7, 2, 15).await?;
/// assert!(unbound);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    /// `https://host/rest/1/code/` or `https://host/rest/`, always ending with `/`.
    endpoint: String,
    oauth: Option<OAuthState>,
    bucket: Option<LeakyBucket>,
    pub(crate) operating: OperatingTracker,
    pub(crate) retry: RetryPolicy,
}

impl std::fmt::Debug for Client {
    /// The endpoint of a webhook holds its secret, so only the host is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = reqwest::Url::parse(&self.inner.endpoint)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        f.debug_struct("Client")
            .field("host", &host)
            .field("oauth", &self.inner.oauth.is_some())
            .field("retry", &self.inner.retry)
            .finish()
    }
}

/// Configures a [`Client`] before it is built.
///
/// ```
/// use b24_client::{Client, Plan, RetryPolicy};
/// use std::time::Duration;
/// # fn demo() -> Result<(), b24_client::Error> {
/// let client = Client::builder("https://example.bitrix24.com/rest/1/secret/")
///     .plan(Plan::Enterprise)
///     .retry(RetryPolicy::none())
///     .timeout(Duration::from_secs(30))
///     .build()?;
/// # Ok(()) }
/// ```
pub struct ClientBuilder {
    url: String,
    oauth: Option<OAuthConfig>,
    plan: Plan,
    retry: RetryPolicy,
    budget: OperatingBudget,
    timeout: Duration,
    http: Option<reqwest::Client>,
    extra_roots: Vec<Vec<u8>>,
}

impl ClientBuilder {
    /// The portal's request-rate plan; [`Plan::Standard`] unless set.
    ///
    /// ```
    /// # let b = b24_client::Client::builder("https://e.bitrix24.com/rest/1/s/");
    /// let b = b.plan(b24_client::Plan::Unlimited);
    /// # let _ = b;
    /// ```
    pub fn plan(mut self, plan: Plan) -> Self {
        self.plan = plan;
        self
    }

    /// When failed calls are repeated; see [`RetryPolicy`] for the policy itself.
    ///
    /// ```
    /// # let b = b24_client::Client::builder("https://e.bitrix24.com/rest/1/s/");
    /// let b = b.retry(b24_client::RetryPolicy::none());
    /// # let _ = b;
    /// ```
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The operating-time budget the client paces itself against.
    ///
    /// ```
    /// # let b = b24_client::Client::builder("https://e.bitrix24.com/rest/1/s/");
    /// let b = b.operating_budget(b24_client::OperatingBudget::default());
    /// # let _ = b;
    /// ```
    pub fn operating_budget(mut self, budget: OperatingBudget) -> Self {
        self.budget = budget;
        self
    }

    /// The time-out of one HTTP request (default 60 s, the cloud's own hard limit). Ignored
    /// when [`http_client`](Self::http_client) is set.
    ///
    /// ```
    /// # let b = b24_client::Client::builder("https://e.bitrix24.com/rest/1/s/");
    /// let b = b.timeout(std::time::Duration::from_secs(10));
    /// # let _ = b;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A `reqwest::Client` of your own (proxies, extra root certificates).
    ///
    /// ```
    /// # let b = b24_client::Client::builder("https://e.bitrix24.com/rest/1/s/");
    /// let b = b.http_client(reqwest::Client::new());
    /// # let _ = b;
    /// ```
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Trusts more certificate authorities (one PEM file, possibly a bundle), such as the local
    /// CA that `b24-server` generates for HTTPS. Ignored when [`http_client`](Self::http_client)
    /// is set; a PEM without a certificate makes [`build`](Self::build) fail.
    ///
    /// ```no_run
    /// let pem = std::fs::read("b24-data/tls/ca.pem").unwrap();
    /// let client = b24_client::Client::builder("https://localhost:8443/rest/1/code/")
    ///     .add_root_certificate_pem(&pem)
    ///     .build()?;
    /// # Ok::<(), b24_client::Error>(())
    /// ```
    pub fn add_root_certificate_pem(mut self, pem: &[u8]) -> Self {
        self.extra_roots.push(pem.to_vec());
        self
    }

    /// Checks the URL and builds the client.
    ///
    /// ```
    /// let bad = b24_client::Client::builder("https://example.com/not-a-webhook").build();
    /// assert!(bad.is_err());
    /// ```
    pub fn build(self) -> Result<Client, Error> {
        let endpoint = match &self.oauth {
            None => webhook_endpoint(&self.url)?,
            Some(_) => rest_endpoint(&self.url)?,
        };
        let http = match self.http {
            Some(http) => http,
            None => {
                // No redirects: a portal that moved answers 302, and following it would
                // resend credentials to another host.
                let mut builder = reqwest::Client::builder()
                    .timeout(self.timeout)
                    .redirect(reqwest::redirect::Policy::none());
                for pem in &self.extra_roots {
                    let certificates = reqwest::Certificate::from_pem_bundle(pem)
                        .ok()
                        .filter(|c| !c.is_empty())
                        .ok_or_else(|| {
                            Error::new(ErrorKind::InvalidParams {
                                reason: "the root certificate is not PEM".into(),
                            })
                        })?;
                    for certificate in certificates {
                        builder = builder.add_root_certificate(certificate);
                    }
                }
                builder.build().map_err(Error::transport)?
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                endpoint,
                oauth: self.oauth.map(OAuthState::new),
                bucket: LeakyBucket::new(self.plan),
                operating: OperatingTracker::new(self.budget),
                retry: self.retry,
            }),
        })
    }
}

fn parse_http_url(url: &str) -> Result<reqwest::Url, Error> {
    let parsed = reqwest::Url::parse(url).map_err(|e| Error::invalid_url(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::invalid_url("the scheme must be https (or http)"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::invalid_url(
            "the URL must not carry a query or fragment",
        ));
    }
    Ok(parsed)
}

/// `https://host/rest/{user}/{code}[/]` → the same, ending with `/`.
fn webhook_endpoint(url: &str) -> Result<String, Error> {
    let parsed = parse_http_url(url)?;
    let segments: Vec<&str> = parsed
        .path()
        .trim_end_matches('/')
        .split('/')
        .skip(1)
        .collect();
    match segments.as_slice() {
        [.., "rest", user, code] if !user.is_empty() && !code.is_empty() => {}
        _ => {
            return Err(Error::invalid_url(
                "a webhook URL has the form https://{portal}/rest/{user id}/{code}/",
            ));
        }
    }
    let mut endpoint = parsed.to_string();
    if !endpoint.ends_with('/') {
        endpoint.push('/');
    }
    Ok(endpoint)
}

/// An OAuth client endpoint, `https://host/rest/`; a bare host gets `/rest/` appended.
fn rest_endpoint(url: &str) -> Result<String, Error> {
    let mut parsed = parse_http_url(url)?;
    if parsed.path() == "/" {
        parsed.set_path("/rest/");
    }
    let mut endpoint = parsed.to_string();
    if !endpoint.ends_with('/') {
        endpoint.push('/');
    }
    Ok(endpoint)
}

/// A failed attempt and, when the server sent one, its `Retry-After`.
struct Failure {
    error: Error,
    retry_after: Option<Duration>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

impl Client {
    /// A client for an incoming webhook URL (`https://{portal}/rest/{user}/{code}/`) with the
    /// default settings: [`Plan::Standard`], [`RetryPolicy::default`].
    ///
    /// ```
    /// let client = b24_client::Client::from_webhook("https://example.bitrix24.com/rest/1/abc/")?;
    /// # let _ = client;
    /// # Ok::<(), b24_client::Error>(())
    /// ```
    pub fn from_webhook(url: &str) -> Result<Client, Error> {
        Self::builder(url).build()
    }

    /// A builder for a webhook client, to change the defaults.
    ///
    /// ```
    /// let client = b24_client::Client::builder("https://example.bitrix24.com/rest/1/abc/")
    ///     .plan(b24_client::Plan::Unlimited)
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), b24_client::Error>(())
    /// ```
    pub fn builder(webhook_url: &str) -> ClientBuilder {
        ClientBuilder {
            url: webhook_url.to_string(),
            oauth: None,
            plan: Plan::Standard,
            retry: RetryPolicy::default(),
            budget: OperatingBudget::default(),
            timeout: Duration::from_secs(60),
            http: None,
            extra_roots: Vec::new(),
        }
    }

    /// A builder for an application client: the portal's REST endpoint
    /// (`https://{portal}/rest/`, the `client_endpoint` of the token answer) and the OAuth
    /// configuration.
    ///
    /// ```
    /// use b24_client::{Client, OAuthConfig, OAuthTokens};
    /// let config = OAuthConfig::new("app.1", "secret", OAuthTokens::new("access", "refresh"));
    /// let client = Client::builder_oauth("https://example.bitrix24.com/rest/", config).build()?;
    /// # let _ = client;
    /// # Ok::<(), b24_client::Error>(())
    /// ```
    pub fn builder_oauth(rest_endpoint: &str, config: OAuthConfig) -> ClientBuilder {
        ClientBuilder {
            oauth: Some(config),
            ..Self::builder(rest_endpoint)
        }
    }

    /// The current OAuth tokens (after any refresh), or `None` for a webhook client.
    ///
    /// ```no_run
    /// # fn demo(client: b24_client::Client) {
    /// if let Some(tokens) = client.oauth_tokens() {
    ///     println!("expires at {:?}", tokens.expires);
    /// }
    /// # }
    /// ```
    pub fn oauth_tokens(&self) -> Option<OAuthTokens> {
        self.inner.oauth.as_ref().map(OAuthState::tokens)
    }

    /// Calls any method. `params` is a JSON object (or `null`); it is sent as a JSON body, so
    /// arrays and nested objects keep their types.
    ///
    /// ```no_run
    /// use serde_json::json;
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let answer = client
    ///     .call("crm.activity.binding.list", json!({"activityId": 7}))
    ///     .await?;
    /// for binding in answer.result.as_array().into_iter().flatten() {
    ///     println!("{} {}", binding["entityTypeId"], binding["entityId"]);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn call(&self, method: &str, params: Value) -> Result<Response, Error> {
        let read_only = limits::is_read_only(method);
        self.send(method, params, read_only).await
    }

    /// Calls a typed [`Method`].
    ///
    /// ```no_run
    /// use b24_client::methods::binding::Add;
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let added: bool = client
    ///     .execute(&Add { activity_id: 7, entity_type_id: 2, entity_id: 15 })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn execute<M: Method>(&self, method: &M) -> Result<M::Output, Error> {
        let params = method_params(method)?;
        let response = self.send(M::NAME, params, method.read_only()).await?;
        M::output(response.result).map_err(|e| Error::decode(M::NAME, e))
    }

    /// One call with pacing, retries and token refresh (see [`RetryPolicy`]).
    pub(crate) async fn send(
        &self,
        method: &str,
        params: Value,
        read_only: bool,
    ) -> Result<Response, Error> {
        check_method_name(method)?;
        let mut params = match params {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            _ => {
                return Err(Error::new(ErrorKind::InvalidParams {
                    reason: "params must be a JSON object".into(),
                }));
            }
        };
        let inner = &self.inner;
        let policy = inner.retry;
        let mut retries = 0;
        let mut replayed_after_refresh = false;
        loop {
            let pacing = inner.operating.delay(method).min(policy.max_wait);
            if !pacing.is_zero() {
                tracing::debug!(method, ?pacing, "pacing for the operating-time budget");
                tokio::time::sleep(pacing).await;
            }
            if let Some(bucket) = &inner.bucket {
                let wait = bucket.reserve();
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            let token = match &inner.oauth {
                Some(oauth) => {
                    let tokens = oauth.tokens();
                    let expired = tokens
                        .expires
                        .is_some_and(|at| (at as f64) <= limits::unix_now());
                    if expired && !replayed_after_refresh {
                        replayed_after_refresh = true;
                        oauth.refresh(&inner.http, &tokens.access_token).await?;
                        continue;
                    }
                    params.insert("auth".into(), Value::String(tokens.access_token.clone()));
                    Some(tokens.access_token)
                }
                None => None,
            };
            let failure = match self.attempt(method, &params).await {
                Ok(response) => {
                    if let Some(time) = &response.time {
                        if time.operating_reset_at > 0 {
                            inner
                                .operating
                                .record(method, time.operating, time.operating_reset_at);
                        }
                    }
                    return Ok(response);
                }
                Err(failure) => failure,
            };
            let error = &failure.error;
            if let (Some(oauth), Some(token)) = (&inner.oauth, &token) {
                if error.code() == Some("expired_token") && !replayed_after_refresh {
                    replayed_after_refresh = true;
                    oauth.refresh(&inner.http, token).await?;
                    continue;
                }
            }
            let operating_blocked = error.code() == Some("OPERATION_TIME_LIMIT");
            if error.code() == Some("QUERY_LIMIT_EXCEEDED") {
                if let Some(bucket) = &inner.bucket {
                    bucket.saturate();
                }
            }
            if operating_blocked {
                inner.operating.blocked(method);
            }
            if retries >= policy.max_retries || !may_repeat(error, read_only) {
                return Err(failure.error);
            }
            let wait = failure
                .retry_after
                .or_else(|| {
                    operating_blocked
                        .then(|| inner.operating.reset_in(method))
                        .flatten()
                })
                .unwrap_or_else(|| policy.backoff(retries));
            if wait > policy.max_wait {
                return Err(failure.error);
            }
            tracing::debug!(method, ?wait, error = %failure.error, "retrying");
            tokio::time::sleep(wait).await;
            retries += 1;
        }
    }

    /// One HTTP request and its answer, nothing more.
    async fn attempt(
        &self,
        method: &str,
        params: &Map<String, Value>,
    ) -> Result<Response, Failure> {
        let url = format!("{}{}", self.inner.endpoint, method);
        let response = self
            .inner
            .http
            .post(url)
            .json(params)
            .send()
            .await
            .map_err(Error::transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.bytes().await.map_err(Error::transport)?;
        parse_answer(status, &body).map_err(|error| Failure { error, retry_after })
    }
}

/// Method names go into the URL path: refuse anything that would change the URL's meaning.
fn check_method_name(method: &str) -> Result<(), Error> {
    let ok = !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::new(ErrorKind::InvalidParams {
            reason: format!("{method:?} is not a method name"),
        }))
    }
}

/// The retry rule of [`RetryPolicy`]: limiter refusals and unsent requests always; other
/// transport errors and 5xx only for reads.
fn may_repeat(error: &Error, read_only: bool) -> bool {
    if error.is_rate_limited() {
        return true;
    }
    match error.kind() {
        ErrorKind::Transport {
            maybe_sent: false, ..
        } => true,
        _ => read_only && error.is_ambiguous(),
    }
}

/// A JSON number or a numeric string as `u64` (`next` and `total` arrive both ways).
pub(crate) fn as_count(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Reads `{result, next?, total?, time}` out of an object (a whole answer, or a batch command's
/// outputs put together).
pub(crate) fn response_from_parts(
    result: Value,
    next: Option<&Value>,
    total: Option<&Value>,
    time: Option<&Value>,
) -> Response {
    Response {
        result,
        next: as_count(next),
        total: as_count(total),
        time: time.and_then(|t| serde_json::from_value(t.clone()).ok()),
    }
}

fn parse_answer(status: u16, body: &[u8]) -> Result<Response, Error> {
    let unexpected = || {
        Error::new(ErrorKind::UnexpectedResponse {
            status,
            body: body_excerpt(body),
        })
    };
    let mut value: Value = serde_json::from_slice(body).map_err(|_| unexpected())?;
    if let Some(error) = error_from_envelope(&value, status) {
        return Err(error);
    }
    if status != 200 {
        return Err(unexpected());
    }
    let object = value.as_object_mut().ok_or_else(unexpected)?;
    let result = object.remove("result").ok_or_else(unexpected)?;
    Ok(response_from_parts(
        result,
        object.get("next"),
        object.get("total"),
        object.get("time"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn webhook_urls_are_checked_and_normalised() {
        assert_eq!(
            webhook_endpoint("https://example.bitrix24.com/rest/1/abc").unwrap(),
            "https://example.bitrix24.com/rest/1/abc/"
        );
        assert_eq!(
            webhook_endpoint("http://127.0.0.1:8080/rest/1/abc/").unwrap(),
            "http://127.0.0.1:8080/rest/1/abc/"
        );
        for bad in [
            "example.bitrix24.com/rest/1/abc/",
            "ftp://example.com/rest/1/abc/",
            "https://example.com/rest/1/",
            "https://example.com/rest/1/abc/?x=1",
            "https://example.com/api/1/abc/",
        ] {
            let err = webhook_endpoint(bad).unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::InvalidUrl { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn an_oauth_endpoint_without_a_path_gets_rest() {
        assert_eq!(
            rest_endpoint("https://example.bitrix24.com").unwrap(),
            "https://example.bitrix24.com/rest/"
        );
        assert_eq!(
            rest_endpoint("https://example.bitrix24.com/rest").unwrap(),
            "https://example.bitrix24.com/rest/"
        );
    }

    #[test]
    fn answers_are_parsed_into_result_next_total_and_time() {
        let body = json!({"result": [1], "next": 50, "total": "120", "time": {
            "start": 1.5, "finish": 2, "duration": 0.5, "processing": 0,
            "date_start": "x", "date_finish": "y", "operating_reset_at": 700, "operating": 0}});
        let r = parse_answer(200, body.to_string().as_bytes()).unwrap();
        assert_eq!(r.result, json!([1]));
        assert_eq!((r.next, r.total), (Some(50), Some(120)));
        assert_eq!(r.time.unwrap().operating_reset_at, 700);
    }

    #[test]
    fn numeric_error_codes_from_older_servers_read_as_strings() {
        let err = parse_answer(400, br#"{"error":100,"error_description":"x"}"#).unwrap_err();
        assert_eq!(err.code(), Some("100"));
        assert_eq!(err.status(), Some(400));
    }

    #[test]
    fn a_non_json_answer_is_an_unexpected_response() {
        let err = parse_answer(502, b"<html>Bad gateway</html>").unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::UnexpectedResponse { status: 502, .. }
        ));
        assert!(err.is_ambiguous());
    }

    #[test]
    fn method_names_cannot_change_the_url() {
        assert!(check_method_name("crm.item.Add").is_ok());
        for bad in ["", "../1/x/profile", "a?b=c", "a#b", "a b"] {
            assert!(check_method_name(bad).is_err(), "{bad}");
        }
    }
}
