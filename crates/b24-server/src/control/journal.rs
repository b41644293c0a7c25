//! The request journal: `GET /_b24/journal`, `POST /_b24/journal/count`, `DELETE /_b24/journal`.
//!
//! Every REST call (also failed, limited, unauthenticated and unknown-method ones) and every
//! `/oauth/token/` call (as method `oauth.token`) is recorded once answered, with its parameters
//! stripped of secrets ([`super::recorder`] does the recording, off the request path).
//!
//! Consistency: entries are written by a background task, so each route here first waits until
//! this server process has written everything it answered before the route was called. A test
//! that makes a call and then reads the journal from the same server always sees the call. Calls
//! answered by another server process on the same database appear once that process wrote them
//! (it gathers entries for up to 50 ms before writing them).
//!
//! Paging: `since` selects entries with a larger `seq`; `next` is the value to pass as `since`
//! for the following page. When the page is the last one, `next` is the last number the journal
//! gave out, so `next` also works as a "from now on" mark.

use super::{blocking, AdminJson, AdminPortal, ControlError, ControlResult};
use crate::clock::iso;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::journal::{ErrorFilter, JournalEntry, JournalFilter};
use crate::store::Tx;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

/// Entries a page holds unless `limit` says otherwise.
pub const DEFAULT_LIMIT: u64 = 100;
/// The most entries one page holds.
pub const MAX_LIMIT: u64 = 1000;

/// The routes of this family.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/journal", get(list).delete(clear))
        .route("/journal/count", post(count))
}

/// The filters as given (query string or JSON body), before checking.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterRequest {
    /// A method name or glob (`crm.item.*`), without case.
    pub method: Option<String>,
    /// `ANY`, `NONE` or an error code.
    pub error: Option<String>,
    /// `none`, `webhook:ID` or `app:CLIENT_ID`.
    pub via: Option<String>,
    /// Only entries after this `seq`.
    pub since: Option<i64>,
}

impl FilterRequest {
    /// The checked filter; a 400 that says what is allowed otherwise.
    pub fn check(&self) -> Result<JournalFilter, ControlError> {
        let since = match self.since {
            None => 0,
            Some(n) if n >= 0 => n,
            Some(_) => {
                return Err(ControlError::bad_request(
                    "since must be a journal seq: a whole number, 0 or more",
                ))
            }
        };
        let method = self.method.as_deref().map(method_glob).transpose()?;
        let error = match self.error.as_deref() {
            None => ErrorFilter::All,
            Some(e) if e.eq_ignore_ascii_case("any") => ErrorFilter::Any,
            Some(e) if e.eq_ignore_ascii_case("none") => ErrorFilter::None,
            Some(code)
                if !code.is_empty()
                    && code.len() <= 100
                    && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                ErrorFilter::Code(code.to_string())
            }
            Some(_) => {
                return Err(ControlError::bad_request(
                    "error must be ANY (answers with an error), NONE (answers without one) or an error code such as QUERY_LIMIT_EXCEEDED",
                ))
            }
        };
        let via = match self.via.as_deref() {
            None => None,
            Some(via) if valid_via(via) => Some(via.to_string()),
            Some(_) => {
                return Err(ControlError::bad_request(
                    "via must be none, webhook:ID (a number) or app:CLIENT_ID",
                ))
            }
        };
        Ok(JournalFilter {
            since,
            method,
            error,
            via,
        })
    }
}

fn valid_via(via: &str) -> bool {
    if via == "none" {
        return true;
    }
    if let Some(id) = via.strip_prefix("webhook:") {
        return !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    }
    via.strip_prefix("app:").is_some_and(|client| {
        !client.is_empty() && client.len() <= 200 && client.bytes().all(|b| b.is_ascii_graphic())
    })
}

/// A method glob (`*` any run of characters, case ignored), checked and lower-cased.
fn method_glob(glob: &str) -> Result<String, ControlError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '*' | '-');
    if glob.is_empty() || glob.len() > 200 || !glob.chars().all(allowed) {
        return Err(ControlError::bad_request(
            "method must be a method name or a glob of letters, digits, '.', '_', '-' and '*' (any run of characters), such as crm.item.*",
        ));
    }
    Ok(glob.to_ascii_lowercase())
}

/// A page's `limit`: 1 to [`MAX_LIMIT`].
pub fn check_limit(limit: Option<i64>) -> Result<u64, ControlError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => Ok(n as u64),
        Some(_) => Err(ControlError::bad_request(format!(
            "limit must be a whole number from 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})"
        ))),
    }
}

/// One entry as the routes and the CLI show it.
pub fn entry_json(entry: &JournalEntry) -> Value {
    let e = &entry.entry;
    json!({
        "seq": entry.seq,
        "at": iso(e.at),
        "via": e.via,
        "user": e.user,
        "method": e.method,
        "http": e.http,
        "error": e.error,
        "ms": e.ms,
        "params": e.params,
        "batch": e.batch,
        "fault": e.fault,
    })
}

/// The document `GET /_b24/journal` answers (and `b24-server journal --json` prints).
pub fn page(tx: &mut dyn Tx, filter: &JournalFilter, limit: u64) -> Result<Value, ApiError> {
    let entries = tx.journal_page(filter, limit)?;
    let next = match entries.last() {
        Some(last) if entries.len() as u64 >= limit => last.seq,
        _ => tx.journal_last_seq()?.max(filter.since),
    };
    let entries: Vec<Value> = entries.iter().map(entry_json).collect();
    Ok(json!({"next": next, "entries": entries}))
}

/// The query string of `GET /_b24/journal`.
fn list_query(query: &str) -> Result<(FilterRequest, Option<i64>), ControlError> {
    let mut request = FilterRequest::default();
    let mut limit = None;
    let number = |name: &str, value: &str| {
        value.trim().parse::<i64>().map_err(|_| {
            ControlError::bad_request(format!("{name} must be a whole number, not '{value}'"))
        })
    };
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let value = value.into_owned();
        match &*key {
            "method" => request.method = Some(value),
            "error" => request.error = Some(value),
            "via" => request.via = Some(value),
            "since" => request.since = Some(number("since", &value)?),
            "limit" => limit = Some(number("limit", &value)?),
            "portal" => {}
            other => {
                return Err(ControlError::bad_request(format!(
                    "unknown parameter '{other}'; the journal takes method, error, via, since and limit"
                )))
            }
        }
    }
    Ok((request, limit))
}

async fn list(
    State(state): State<AppState>,
    AdminPortal(portal): AdminPortal,
    RawQuery(query): RawQuery,
) -> ControlResult {
    let (request, limit) = list_query(query.as_deref().unwrap_or(""))?;
    let filter = request.check()?;
    let limit = check_limit(limit)?;
    state.control.recorder.flush().await;
    let document = blocking(&state, move |store| {
        store.read(portal, |tx| page(tx, &filter, limit))
    })
    .await?;
    Ok(Json(document))
}

async fn count(
    State(state): State<AppState>,
    AdminPortal(portal): AdminPortal,
    AdminJson(request): AdminJson<FilterRequest>,
) -> ControlResult {
    let filter = request.check()?;
    state.control.recorder.flush().await;
    let n = blocking(&state, move |store| {
        store.read(portal, |tx| tx.journal_count(&filter))
    })
    .await?;
    Ok(Json(json!({ "count": n })))
}

async fn clear(
    State(state): State<AppState>,
    AdminPortal(portal): AdminPortal,
) -> ControlResult<StatusCode> {
    state.control.recorder.flush().await;
    blocking(&state, move |store| {
        store.write(portal, |tx| tx.clear_journal())
    })
    .await?;
    state.control.recorder.answers().forget_portal(portal);
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_glob_is_checked_and_lower_cased() {
        assert_eq!(method_glob("CRM.Item.*").unwrap(), "crm.item.*");
        assert_eq!(method_glob("user_current").unwrap(), "user_current");
        assert!(method_glob("crm%").is_err());
        assert!(method_glob("").is_err());
    }

    #[test]
    fn via_takes_three_shapes() {
        assert!(valid_via("none"));
        assert!(valid_via("webhook:12"));
        assert!(valid_via("app:local.abc"));
        assert!(!valid_via("webhook:x"));
        assert!(!valid_via("app:"));
        assert!(!valid_via("user:1"));
    }
}
