//! `POST /_b24/tokens/expire`: ends the life of OAuth access tokens now, so a test sees the
//! `expired_token` answer and its client's refresh without waiting an hour.

use super::{blocking, AdminJson, AdminPortal, ControlError, ControlResult};
use crate::state::AppState;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

/// The routes of this family.
pub fn routes() -> Router<AppState> {
    Router::new().route("/tokens/expire", post(expire))
}

/// The body of `POST /_b24/tokens/expire`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpireRequest {
    /// Only this application's tokens; every application's when absent.
    client_id: Option<String>,
}

async fn expire(
    State(state): State<AppState>,
    AdminPortal(portal): AdminPortal,
    AdminJson(request): AdminJson<ExpireRequest>,
) -> ControlResult {
    let expired = blocking(&state, move |store| {
        store.write(portal, |tx| {
            let app_id = match &request.client_id {
                None => None,
                Some(client_id) => match tx.app_by_client_id(client_id)? {
                    Some(app) => Some(app.id),
                    None => return Ok(None),
                },
            };
            tx.expire_access_tokens(app_id).map(Some)
        })
    })
    .await?;
    match expired {
        Some(n) => Ok(Json(json!({ "expired": n }))),
        None => Err(ControlError::not_found(
            "No application has this client_id; `b24-server app create` makes one",
        )),
    }
}
