//! REST 3.0: `/rest/api/{user}/{code}/{method}` (webhook) and `/rest/api/{method}` (token in
//! `Authorization: Bearer`, the body's `auth` or the query's `auth`), spec "REST 3.0".
//!
//! What differs from v2 is only the envelope: the request is the JSON body alone (the query
//! string carries no parameters, only a client's `auth`), a success is `{"result", "time"}`, an
//! error `{"error": {"code", "message"}}` with codes `BITRIX_REST_V3_EXCEPTION_*`. Everything
//! else is v2's: the request-rate limiter, the closed-portal check, authentication, scopes, the
//! operating-time limiter, fault rules and the journal, through the same
//! [`authenticate_and_dispatch`]. The methods come from their own table,
//! [`crate::methods::v3`].
//!
//! The request-rate limit (`QUERY_LIMIT_EXCEEDED`) and a closed portal are answered in v2's
//! shape: on the real service they come from layers in front of the REST 3.0 server, and the
//! official JS SDK expects them flat on a `/rest/api/` URL.

use super::cut::Cut;
use super::{
    close_if_body_unread, error_response, is_https, parse_rest_path, rate_limited, read_body,
    token_from, with_common_headers, RestPath,
};
use crate::auth::{Credentials, Presented, Transport};
use crate::control::faults::{self, Reply};
use crate::control::recorder::{AnsweredError, CallRecord};
use crate::error::ApiError;
use crate::methods::v3::{answers_raw, lookup, method_not_found};
use crate::methods::{authenticate_and_dispatch, Dispatched, MethodSpec, Params};
use crate::state::AppState;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use b24_protocol::request::{request_params, BodyKind};
use b24_protocol::{ErrorCode, RestError, TimeBlock, RESERVED_PARAMS};
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::net::SocketAddr;

/// Where REST 3.0 lives: everything under it is a 3.0 call, never a v2 webhook of user `api`.
const ROOT: &str = "/rest/api";

/// Whether a path is a REST 3.0 call.
pub(super) fn is_v3(path: &str) -> bool {
    path.strip_prefix(ROOT)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The webhook and method of a REST 3.0 path: the same two shapes as v2 after `/rest/api`.
pub(super) fn parse(path: &str) -> Option<RestPath> {
    let tail = path.strip_prefix(ROOT)?;
    parse_rest_path(&format!("/rest{tail}"))
}

/// The REST 3.0 system answers to what v2 reports with its system codes: `(v2 row, code,
/// status, message)`. The core's `CRestApiServer` throws `AccessDeniedException` for any failed
/// authentication (403 when the failure is a scope, else 401) and `RateLimitException` when the
/// operating-time limiter refuses; the docs name `INSUFFICIENTSCOPEEXCEPTION` for a missing
/// scope. Messages are the core's English phrases; the scope one has none published, so it
/// keeps v2's text.
const SYSTEM: &[(ErrorCode, &str, u16, Option<&str>)] = &[
    (ErrorCode::NoAuthFound, ACCESS_DENIED, 401, Some(DENIED)),
    (
        ErrorCode::InvalidCredentials,
        ACCESS_DENIED,
        401,
        Some(DENIED),
    ),
    (ErrorCode::ExpiredToken, ACCESS_DENIED, 401, Some(DENIED)),
    (ErrorCode::InvalidToken, ACCESS_DENIED, 401, Some(DENIED)),
    (ErrorCode::UserAccessError, ACCESS_DENIED, 401, Some(DENIED)),
    (ErrorCode::HttpsRequired, ACCESS_DENIED, 401, Some(DENIED)),
    (
        ErrorCode::AuthorizationError,
        ACCESS_DENIED,
        401,
        Some(DENIED),
    ),
    (
        ErrorCode::AccessDeniedSystem,
        ACCESS_DENIED,
        403,
        Some(DENIED),
    ),
    (ErrorCode::WrongAuthType, ACCESS_DENIED, 403, Some(DENIED)),
    (
        ErrorCode::InsufficientScopeWebhook,
        INSUFFICIENT_SCOPE,
        403,
        None,
    ),
    (
        ErrorCode::InsufficientScopeToken,
        INSUFFICIENT_SCOPE,
        403,
        None,
    ),
    (
        ErrorCode::OperationTimeLimit,
        RATE_LIMIT,
        429,
        Some("Request was blocked because the limit was exceeded."),
    ),
    (
        ErrorCode::InternalServerError,
        INTERNAL,
        500,
        Some("Something's gone wrong."),
    ),
];

const ACCESS_DENIED: &str = "BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION";
const INSUFFICIENT_SCOPE: &str = "BITRIX_REST_V3_EXCEPTION_INSUFFICIENTSCOPEEXCEPTION";
const RATE_LIMIT: &str = "BITRIX_REST_V3_EXCEPTION_RATELIMITEXCEPTION";
const INTERNAL: &str = "BITRIX_REST_V3_EXCEPTION_INTERNAL_INTERNALEXCEPTION";
const DENIED: &str = "Access denied.";

/// A REST 3.0 error: `(code, HTTP status, message)`, or `None` for an error REST 3.0 answers in
/// v2's shape (the layers in front of it: request rate, closed portal, blocked webhook, REST off
/// for the plan, and this server's own transport limits).
fn translate(error: &RestError) -> Option<(&'static str, u16, Cow<'_, str>)> {
    let wire = error.code.wire();
    if wire.starts_with("BITRIX_REST_V3_") {
        return Some((wire, error.code.status(), Cow::Borrowed(&error.message)));
    }
    if error.code == ErrorCode::MethodNotFound {
        let v3 = method_not_found("");
        return Some((v3.code.wire(), v3.code.status(), v3.message));
    }
    SYSTEM
        .iter()
        .find(|(row, ..)| *row == error.code)
        .map(|(_, code, status, message)| {
            let message = message.map_or(Cow::Borrowed(&*error.message), Cow::Borrowed);
            (*code, *status, message)
        })
}

/// Renders an error in REST 3.0's shape (or v2's, see [`translate`]).
fn error_v3(error: &ApiError, method: &str) -> Response {
    let rest = error.to_rest();
    let Some((code, status, message)) = translate(&rest) else {
        return error_response(error, method);
    };
    if let ApiError::Internal(cause) = error {
        tracing::error!(
            method,
            error = format!("{cause:#}"),
            "request failed inside the server"
        );
    }
    let body = json!({"error": {"code": code, "message": message}});
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = with_common_headers(status, serde_json::to_vec(&body).unwrap_or_default());
    response.extensions_mut().insert(AnsweredError(code));
    if let Some(seconds) = rest.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// `{"result": …, "time": {…}}` — the `time` block is v2's — or, for a method that answers its
/// document raw, the document alone.
fn success_v3(
    dispatched: Dispatched,
    spec: &MethodSpec,
    (start, finish): (f64, f64),
    call: &mut CallRecord,
) -> Response {
    let Dispatched {
        output,
        processing,
        operating,
        operating_reset_at,
    } = dispatched;
    let body = if answers_raw(spec) {
        serde_json::to_vec(&output.result)
    } else {
        let time = TimeBlock::new(start, finish, processing, operating, operating_reset_at);
        serde_json::to_vec(&json!({"result": output.result, "time": time}))
    };
    match body {
        Ok(body) => {
            let body = Bytes::from(body);
            call.answered(&body);
            super::answer_of(StatusCode::OK, body)
        }
        Err(e) => error_v3(&ApiError::internal(e.into()), "response encoding"),
    }
}

/// A REST 3.0 call, from the rate limiter to the answer.
#[allow(clippy::too_many_arguments)]
pub(super) async fn rest(
    state: AppState,
    client: SocketAddr,
    (via_tls, cut): (bool, Option<Extension<Cut>>),
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // The portal, from what the credential shows before the body is read (a token in the body
    // is looked at again once it is: `handle`).
    let parsed = parse(uri.path());
    let early = early_credentials(&state, parsed.as_ref(), uri, &headers);
    let state = super::portal_state(&state, &early, &headers).await;
    let start = state.clock.now();
    if let Some(limited) = rate_limited(&state, client, &headers, start) {
        return limited;
    }
    if state.portal_flags.closed() {
        return error_response(&ErrorCode::PortalDeleted.into(), "");
    }
    let Some(path) = parsed else {
        return error_v3(&ApiError::from(method_not_found("")), "");
    };
    let mut call = CallRecord::new(&state, start);
    // An unknown method is answered before anything is read or authenticated, as in v2.
    let response = match lookup(&path.method) {
        None => {
            call.method(&path.method);
            error_v3(&method_not_found(&path.method).into(), &path.method)
        }
        Some(spec) => {
            call.known_method(spec.name);
            let transport = Transport {
                https: is_https(&state, via_tls, client, &headers),
                now: start,
            };
            let answer = handle(
                &state, &method, uri, &headers, body, &path, spec, transport, &mut call,
            );
            match answer.await {
                Ok(reply) => faults::respond_as(
                    reply,
                    &path.method,
                    cut.as_deref(),
                    |outcome| match outcome {
                        Ok(dispatched) => {
                            let times = (start, state.clock.now());
                            success_v3(dispatched, spec, times, &mut call)
                        }
                        Err(e) => error_v3(&e, &path.method),
                    },
                    error_v3,
                ),
                Err(e) => error_v3(&e, &path.method),
            }
        }
    };
    call.attach(close_if_body_unread(response))
}

/// The body as REST 3.0 reads it: a JSON document (an object, or the array of a `batch`);
/// nothing at all is no parameters. Anything else, a form body included, is `Invalid JSON.`
fn body_params(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(Value::Array(list)) => Ok(list
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect()),
        _ => Err(ErrorCode::V3InvalidJson.into()),
    }
}

/// `auth` from the query string: the one thing REST 3.0 reads there (the JS SDK puts a token
/// there in browsers, where `Authorization` fails the CORS preflight).
fn query_auth(state: &AppState, uri: &Uri) -> Option<Value> {
    let query = uri.query()?;
    let params = request_params(
        query.as_bytes(),
        &[],
        BodyKind::from_content_type(None),
        state.limits.decode,
    )
    .ok()?;
    params.get("auth").cloned()
}

/// The credentials a REST 3.0 call shows outside its body: the webhook in its path, the
/// `Authorization` header, or `auth` in the query string.
fn early_credentials(
    state: &AppState,
    path: Option<&RestPath>,
    uri: &Uri,
    headers: &HeaderMap,
) -> Credentials {
    if let Some((user, code)) = path.and_then(|p| p.webhook.as_ref()) {
        return Credentials::Webhook {
            user: user.clone(),
            code: code.clone(),
        };
    }
    let mut auth = Map::new();
    if let Some(token) = query_auth(state, uri) {
        auth.insert("auth".into(), token);
    }
    token_from(headers, &auth).map_or(Credentials::None, Credentials::Token)
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    path: &RestPath,
    spec: &'static MethodSpec,
    transport: Transport,
    call: &mut CallRecord,
) -> Result<Reply<Result<Dispatched, ApiError>>, ApiError> {
    let body = read_body(state, method, headers, body).await?;
    let mut params = body_params(&body)?;
    call.params(&params);
    let credentials = match &path.webhook {
        Some((user, code)) => Credentials::Webhook {
            user: user.clone(),
            code: code.clone(),
        },
        None => {
            let mut auth = Map::new();
            if let Some(token) = params
                .get("auth")
                .cloned()
                .or_else(|| query_auth(state, uri))
            {
                auth.insert("auth".into(), token);
            }
            token_from(headers, &auth).map_or(Credentials::None, Credentials::Token)
        }
    };
    for key in RESERVED_PARAMS {
        params.shift_remove(*key);
    }
    // A token in the body names its portal only now. The secret's digest is taken once: the
    // portal and the caller are both found by it.
    let credentials = Presented::new(credentials);
    let state = &super::portal_state_of(state, &credentials, headers).await;
    authenticate_and_dispatch(state, credentials, transport, spec, Params(params), call).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_under_rest_api_are_v3() {
        assert!(is_v3("/rest/api/server.time"));
        assert!(is_v3("/rest/api/1/abc/batch"));
        assert!(is_v3("/rest/api"));
        assert!(!is_v3("/rest/apix/1/abc"));
        assert!(!is_v3("/rest/1/abc/server.time"));
        let p = parse("/rest/api/1/abc/rest.scope.list/").unwrap();
        assert_eq!(p.webhook, Some(("1".into(), "abc".into())));
        assert_eq!(p.method, "rest.scope.list");
        assert_eq!(parse("/rest/api/batch").unwrap().webhook, None);
        assert!(parse("/rest/api/").is_none());
        assert!(parse("/rest/api/1/batch").is_none());
    }

    #[test]
    fn system_errors_take_the_rest_3_shape_and_the_front_layers_keep_v2s() {
        let cases = [
            (ErrorCode::NoAuthFound, Some((ACCESS_DENIED, 401, DENIED))),
            (ErrorCode::ExpiredToken, Some((ACCESS_DENIED, 401, DENIED))),
            (ErrorCode::WrongAuthType, Some((ACCESS_DENIED, 403, DENIED))),
            (
                ErrorCode::InsufficientScopeWebhook,
                Some((
                    INSUFFICIENT_SCOPE,
                    403,
                    "The request requires higher privileges than provided by the webhook token",
                )),
            ),
            (
                ErrorCode::OperationTimeLimit,
                Some((
                    RATE_LIMIT,
                    429,
                    "Request was blocked because the limit was exceeded.",
                )),
            ),
            (
                ErrorCode::MethodNotFound,
                Some((
                    "BITRIX_REST_V3_EXCEPTION_METHODNOTFOUNDEXCEPTION",
                    404,
                    "Method \"\" was not found.",
                )),
            ),
            (
                ErrorCode::InternalServerError,
                Some((INTERNAL, 500, "Something's gone wrong.")),
            ),
            (ErrorCode::QueryLimitExceeded, None),
            (ErrorCode::OverloadLimit, None),
            (ErrorCode::PortalDeleted, None),
            (ErrorCode::RequestTooLarge, None),
        ];
        for (code, expected) in cases {
            let rest = RestError::new(code);
            let got = translate(&rest).map(|(c, s, m)| (c, s, m.into_owned()));
            assert_eq!(
                got,
                expected.map(|(c, s, m)| (c, s, m.to_string())),
                "{code:?}"
            );
        }
    }

    #[test]
    fn a_body_is_json_or_nothing() {
        assert!(body_params(b"").unwrap().is_empty());
        assert!(body_params(b" \n").unwrap().is_empty());
        assert_eq!(body_params(br#"{"a":1}"#).unwrap()["a"], 1);
        assert_eq!(
            body_params(br#"[{"method":"x"}]"#).unwrap()["0"]["method"],
            "x"
        );
        for bad in [&b"a=1&b=2"[..], b"{", b"5", b"\"x\"", b"\xff"] {
            let e = body_params(bad).unwrap_err().to_rest();
            assert_eq!(e.code, ErrorCode::V3InvalidJson);
        }
    }
}
