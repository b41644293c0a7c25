//! [`Error`]: every way a call can fail, with the Bitrix24 code, description and HTTP status when
//! the server gave them.

use serde_json::Value;
use std::fmt;

/// A failed call. Match on [`Error::kind`] or use the accessors; [`ErrorKind`] is
/// `#[non_exhaustive]` and Bitrix24 codes are plain strings, so new codes never break callers.
///
/// ```
/// # async fn demo(client: b24_client::Client) {
/// match client.crm().activity().binding().delete(7, 2, 15).await {
///     Ok(_) => println!("unbound"),
///     Err(e) if e.code() == Some("LAST_BINDING_CANNOT_BE_DELETED") => println!("keep the last one"),
///     Err(e) => eprintln!("failed: {e} (HTTP {:?})", e.status()),
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
}

/// What went wrong.
///
/// ```
/// use b24_client::ErrorKind;
/// # fn demo(e: b24_client::Error) {
/// if let ErrorKind::Api { code, .. } = e.kind() {
///     println!("Bitrix24 said {code}");
/// }
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server answered with an error envelope `{"error", "error_description"}`.
    Api {
        /// The `error` value, always as a string (`"NOT_FOUND"`, `"100"`, `""`).
        code: String,
        /// The `error_description`.
        description: String,
        /// The HTTP status; `None` for a command inside `batch`, whose status the server drops.
        status: Option<u16>,
        /// The `argument` key that `ERROR_ARGUMENT` answers carry.
        argument: Option<String>,
    },
    /// The request did not complete at the HTTP level.
    Transport {
        /// The underlying error.
        source: reqwest::Error,
        /// `false` only when the request certainly never reached the server (connection
        /// refused, DNS failure); `true` means a write may have been carried out.
        maybe_sent: bool,
    },
    /// An answer that is not a Bitrix24 envelope (a proxy's HTML error page, truncated JSON).
    UnexpectedResponse {
        /// The HTTP status.
        status: u16,
        /// The start of the body, for diagnostics.
        body: String,
    },
    /// The result did not have the shape the typed method expects.
    Decode {
        /// The method whose result it was.
        method: String,
        /// Why it did not fit.
        source: serde_json::Error,
    },
    /// A webhook or endpoint URL that cannot be used.
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
    },
    /// Parameters or a method name the client refuses to send (not a JSON object, a method
    /// name with `/` or `?` in it).
    InvalidParams {
        /// What is wrong with them.
        reason: String,
    },
    /// A `batch` command that was never run: an earlier one failed with `halt` set, or an
    /// earlier request of a split batch failed before this one was sent.
    NotExecuted,
    /// A `batch` command whose request failed after it was sent: it may or may not have run
    /// (see [`BatchResults::failure`](crate::BatchResults::failure) for the cause).
    Indeterminate,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self { kind }
    }

    #[cfg(test)]
    pub(crate) fn api(
        code: impl Into<String>,
        description: impl Into<String>,
        status: Option<u16>,
    ) -> Self {
        Self::new(ErrorKind::Api {
            code: code.into(),
            description: description.into(),
            status,
            argument: None,
        })
    }

    pub(crate) fn invalid_url(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidUrl {
            reason: reason.into(),
        })
    }

    pub(crate) fn transport(source: reqwest::Error) -> Self {
        // A connect error (refused, DNS, TLS handshake) or a request that could not be built
        // never reached the server; anything later might have.
        let maybe_sent = !(source.is_connect() || source.is_builder());
        Self::new(ErrorKind::Transport { source, maybe_sent })
    }

    pub(crate) fn decode(method: &str, source: serde_json::Error) -> Self {
        Self::new(ErrorKind::Decode {
            method: method.to_string(),
            source,
        })
    }

    /// What went wrong.
    ///
    /// ```
    /// # fn demo(e: b24_client::Error) {
    /// println!("{:?}", e.kind());
    /// # }
    /// ```
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The Bitrix24 error code (`"NOT_FOUND"`, `"100"`, `"expired_token"`, `""` for legacy
    /// methods), when the server sent one.
    ///
    /// ```
    /// # fn demo(e: b24_client::Error) {
    /// if e.code() == Some("BINDING_NOT_FOUND") { /* already unbound */ }
    /// # }
    /// ```
    pub fn code(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The server's `error_description`, when it sent one.
    ///
    /// ```
    /// # fn demo(e: b24_client::Error) {
    /// println!("{}", e.description().unwrap_or("no description"));
    /// # }
    /// ```
    pub fn description(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::Api { description, .. } => Some(description),
            _ => None,
        }
    }

    /// The HTTP status of the answer, when there was one (not for `batch` commands).
    ///
    /// ```
    /// # fn demo(e: b24_client::Error) {
    /// if e.status() == Some(401) { /* credentials problem */ }
    /// # }
    /// ```
    pub fn status(&self) -> Option<u16> {
        match &self.kind {
            ErrorKind::Api { status, .. } => *status,
            ErrorKind::UnexpectedResponse { status, .. } => Some(*status),
            ErrorKind::Transport { source, .. } => source.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// `true` when the call may have been carried out even though it failed: the request was
    /// sent but no definite answer came back (time-out, dropped connection, a 5xx other than
    /// the limiters' rejections, a 2xx whose body is not an envelope). The client never
    /// retries a write in this state; check the server's state before repeating it yourself.
    ///
    /// ```
    /// # fn demo(e: b24_client::Error) {
    /// if e.is_ambiguous() { /* read back before retrying the write */ }
    /// # }
    /// ```
    pub fn is_ambiguous(&self) -> bool {
        match &self.kind {
            ErrorKind::Transport { maybe_sent, .. } => *maybe_sent,
            ErrorKind::Indeterminate => true,
            // A 2xx whose body is not an envelope was most likely carried out.
            ErrorKind::UnexpectedResponse { status, .. } => {
                (*status >= 500 || (200..300).contains(status)) && !is_rejection(self)
            }
            ErrorKind::Api { status, .. } => {
                status.is_some_and(|s| s >= 500) && !is_rejection(self)
            }
            _ => false,
        }
    }

    /// `true` for the limiters' answers (`QUERY_LIMIT_EXCEEDED` 503, `OPERATION_TIME_LIMIT`
    /// 429): the server refused the call before running it, so repeating it later is safe.
    ///
    /// ```
    /// # fn demo(e: b24_client::Error) {
    /// if e.is_rate_limited() { /* slow down */ }
    /// # }
    /// ```
    pub fn is_rate_limited(&self) -> bool {
        is_rejection(self)
    }
}

/// A limiter's refusal: 503 with `QUERY_LIMIT_EXCEEDED`, or 429 (`OPERATION_TIME_LIMIT`, or a
/// proxy's bare 429). Both are answered before the method runs.
fn is_rejection(e: &Error) -> bool {
    match &e.kind {
        ErrorKind::Api { code, status, .. } => {
            code == "QUERY_LIMIT_EXCEEDED" || code == "OPERATION_TIME_LIMIT" || *status == Some(429)
        }
        ErrorKind::UnexpectedResponse { status, .. } => *status == 429,
        _ => false,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Api {
                code,
                description,
                status: Some(status),
                ..
            } => write!(f, "Bitrix24 error {code:?} (HTTP {status}): {description}"),
            ErrorKind::Api {
                code, description, ..
            } => write!(f, "Bitrix24 error {code:?}: {description}"),
            ErrorKind::Transport { source, .. } => write!(f, "HTTP transport error: {source}"),
            ErrorKind::UnexpectedResponse { status, body } => {
                write!(f, "unexpected answer (HTTP {status}): {body}")
            }
            ErrorKind::Decode { method, source } => {
                write!(
                    f,
                    "the result of {method} has an unexpected shape: {source}"
                )
            }
            ErrorKind::InvalidUrl { reason } => write!(f, "invalid URL: {reason}"),
            ErrorKind::InvalidParams { reason } => write!(f, "invalid call: {reason}"),
            ErrorKind::NotExecuted => write!(f, "not executed: the batch stopped before it"),
            ErrorKind::Indeterminate => write!(
                f,
                "unknown outcome: the batch request carrying this command failed after it was sent"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Transport { source, .. } => Some(source),
            ErrorKind::Decode { source, .. } => Some(source),
            _ => None,
        }
    }
}

// Envelope helpers: reading `{"error", "error_description"}` answers into an `Error`.

/// The first bytes of a body that is not an envelope, for the error message.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    text.chars().take(200).collect()
}

/// `{"error", "error_description"}` → [`ErrorKind::Api`]. Older servers sent numeric codes;
/// they are read as strings.
pub(crate) fn error_from_envelope(value: &Value, status: u16) -> Option<Error> {
    error_from_object(value, Some(status))
}

pub(crate) fn error_from_object(value: &Value, status: Option<u16>) -> Option<Error> {
    let code = match value.get("error")? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let description = value
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let argument = value
        .get("argument")
        .and_then(Value::as_str)
        .map(str::to_string);
    Some(Error::new(ErrorKind::Api {
        code,
        description,
        status,
        argument,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_rejections_are_safe_to_repeat_and_other_5xx_are_ambiguous() {
        let query_limit = Error::api("QUERY_LIMIT_EXCEEDED", "Too many requests", Some(503));
        assert!(query_limit.is_rate_limited());
        assert!(!query_limit.is_ambiguous());
        let operating = Error::api(
            "OPERATION_TIME_LIMIT",
            "Method is blocked due to operation time limit.",
            Some(429),
        );
        assert!(operating.is_rate_limited());
        assert!(!operating.is_ambiguous());
        let internal = Error::api("INTERNAL_SERVER_ERROR", "Internal server error", Some(500));
        assert!(internal.is_ambiguous());
        let gateway = Error::new(ErrorKind::UnexpectedResponse {
            status: 502,
            body: "<html>".into(),
        });
        assert!(gateway.is_ambiguous());
        let garbled = Error::new(ErrorKind::UnexpectedResponse {
            status: 200,
            body: "{\"result\":".into(),
        });
        assert!(garbled.is_ambiguous());
        let moved = Error::new(ErrorKind::UnexpectedResponse {
            status: 302,
            body: String::new(),
        });
        assert!(!moved.is_ambiguous());
        let not_found = Error::api("NOT_FOUND", "Entity not found", Some(400));
        assert!(!not_found.is_ambiguous() && !not_found.is_rate_limited());
    }

    #[test]
    fn accessors_expose_code_description_and_status() {
        let e = Error::api(
            "100",
            "Could not find value for parameter {activityId}",
            Some(400),
        );
        assert_eq!(e.code(), Some("100"));
        assert_eq!(
            e.description(),
            Some("Could not find value for parameter {activityId}")
        );
        assert_eq!(e.status(), Some(400));
        assert_eq!(
            e.to_string(),
            "Bitrix24 error \"100\" (HTTP 400): Could not find value for parameter {activityId}"
        );
    }
}
