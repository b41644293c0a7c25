//! The OAuth server's REST root, `/oauth/rest/` (the real one is `https://oauth.bitrix.info/rest/`):
//! only `app.info`, which answers for a token in the OAuth server's own shape (spec §12). A request
//! for `/rest/app.info` whose `Host` is the real OAuth server's (`oauth.bitrix.info`, or
//! `oauth.bitrix24.tech` as the official Python SDK calls it, redirected here by a proxy or a
//! hosts entry) is answered here too.

use super::{
    close_if_body_unread, error_response, is_https, preflight, rate_limited, read_params,
    token_from, with_common_headers, ViaTls,
};
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use b24_protocol::{ErrorCode, SuccessEnvelope, TimeBlock};
use std::net::SocketAddr;

/// The real OAuth server's host names.
const OAUTH_HOSTS: &[&str] = &["oauth.bitrix.info", "oauth.bitrix24.tech"];

/// Whether a request on the REST root is the OAuth server's `app.info` (by its `Host`).
pub(super) fn answers(headers: &HeaderMap, path: &str) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name));
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".json").unwrap_or(path);
    host.is_some_and(|h| OAUTH_HOSTS.iter().any(|o| h.eq_ignore_ascii_case(o)))
        && path.eq_ignore_ascii_case("/rest/app.info")
}

/// `/oauth/rest/app.info` (GET or POST, `auth=TOKEN` or `Authorization: Bearer`): the token's
/// application, scopes, expiry, installation and user, with a `time` block like any REST answer.
pub(super) async fn app_info(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    via_tls: Option<Extension<ViaTls>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    const NAME: &str = "oauth/rest/app.info";
    if method == Method::OPTIONS {
        return preflight();
    }
    let params = read_params(&state, &method, &uri, &headers, body).await;
    let token = params
        .as_ref()
        .ok()
        .and_then(|params| token_from(&headers, params));
    let credentials = token.clone().map_or(
        crate::auth::Credentials::None,
        crate::auth::Credentials::Token,
    );
    let state = super::portal_state(&state, &credentials, &headers).await;
    let start = state.clock.now();
    if let Some(limited) = rate_limited(&state, client, &headers, start) {
        return limited;
    }
    if state.security.require_https && !is_https(&state, via_tls.is_some(), client, &headers) {
        return error_response(&ErrorCode::HttpsRequired.into(), NAME);
    }
    if let Err(e) = params {
        return close_if_body_unread(error_response(&e, NAME));
    }
    let task_state = state.clone();
    let answer = tokio::task::spawn_blocking(move || {
        crate::oauth::app_info(&task_state, token.as_deref(), start)
    })
    .await
    .unwrap_or_else(|e| {
        Err(ApiError::internal(anyhow::anyhow!(
            "app.info panicked: {e}"
        )))
    });
    let finish = state.clock.now();
    match answer {
        Ok(result) => {
            let envelope = SuccessEnvelope {
                result,
                next: None,
                total: None,
                time: TimeBlock::new(start, finish, finish - start, 0.0, None),
            };
            match serde_json::to_vec(&envelope) {
                Ok(body) => with_common_headers(StatusCode::OK, body),
                Err(e) => error_response(&ApiError::internal(e.into()), NAME),
            }
        }
        Err(e) => error_response(&e, NAME),
    }
}
