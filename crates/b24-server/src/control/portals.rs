//! `/_b24/portals`: many portals on one server, so that every test (or test worker) gets one
//! of its own. `POST` creates one (with an administrator and an all-scope webhook) and answers
//! 201 with what `b24-server portal create --json` prints; `GET` lists them; `DELETE
//! /_b24/portals/{name}` removes every row of one, in one transaction.

use super::{blocking, AdminJson, ControlError, ControlResult};
use crate::admin::{self, PortalError};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

/// The routes, merged into the admin router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/portals", get(list).post(create))
        .route("/portals/{name}", delete(remove))
}

/// `POST /_b24/portals` body. Without `name` a unique one is generated.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: Option<String>,
    plan: Option<String>,
}

impl From<PortalError> for ControlError {
    fn from(error: PortalError) -> Self {
        match error {
            PortalError::Store(e) => ControlError::from(e),
            PortalError::Taken(_) => {
                ControlError::new(StatusCode::CONFLICT, "PORTAL_EXISTS", capitalised(&error))
            }
            PortalError::Unknown(_) => ControlError::not_found(capitalised(&error)),
            PortalError::NotStarted => ControlError::not_found(capitalised(&error)),
            PortalError::BadName(_) | PortalError::Default => {
                ControlError::bad_request(capitalised(&error))
            }
        }
    }
}

fn capitalised(error: &PortalError) -> String {
    let text = error.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

async fn create(
    State(state): State<AppState>,
    AdminJson(request): AdminJson<CreateRequest>,
) -> Result<(StatusCode, Json<Value>), ControlError> {
    let plan = match request.plan.as_deref() {
        None => None,
        Some(plan) => Some(plan.parse().map_err(ControlError::bad_request)?),
    };
    let portals = state.portals.clone();
    let created = blocking(&state, move |store| {
        let created = admin::create_portal(store, request.name.as_deref(), plan);
        if let Ok(created) = &created {
            // Taken in now, so the first call with its webhook needs no database look-up for it.
            portals.load(store, created.id)?;
        }
        Ok(created)
    })
    .await??;
    let body = serde_json::to_value(&created).map_err(|e| ApiError::internal(e.into()))?;
    Ok((StatusCode::CREATED, Json(body)))
}

async fn list(State(state): State<AppState>) -> ControlResult {
    let portals = blocking(&state, |store| {
        admin::list_portals(store).map_err(ApiError::internal)
    })
    .await?;
    let portals: Vec<Value> = portals
        .into_iter()
        .map(|p| {
            json!({
                "portal": p.name,
                "member_id": p.member_id,
                "domain": p.domain,
                "plan": p.plan,
                "closed": p.closed,
            })
        })
        .collect();
    Ok(Json(json!({ "portals": portals })))
}

async fn remove(State(state): State<AppState>, Path(name): Path<String>) -> ControlResult {
    // Calls answered before the delete are in the journal it removes, not written after it.
    state.control.recorder.flush().await;
    let deleted = blocking(&state, move |store| Ok(admin::delete_portal(store, &name))).await??;
    let (id, rows) = deleted;
    state.portals.forget(id);
    state.limiter.forget_portal(id);
    Ok(Json(json!({ "deleted": rows })))
}
