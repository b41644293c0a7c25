//! The background sender: claims due outbox rows, POSTs each payload (spec §9.2) and records
//! every attempt in the delivery log.
//!
//! Policy (also in README and SECURITY.md): at most [`DeliveryConfig::concurrency`] requests in
//! flight, each cut off after [`DeliveryConfig::timeout`]; any 2xx answer is a delivery; anything
//! else is retried after `first_retry`, doubling each time up to `max_backoff`, for at most
//! `max_attempts` attempts, then given up. Redirects are not followed. Delivery is at least once:
//! a row is claimed for a while before it is sent, so a crash mid-send sends it again later,
//! and a restart resumes with everything still in the outbox.

use super::{application_token, flatten, form_encode, webhook_token, TargetPolicy};
pub use crate::config::DeliveryConfig;
use crate::config::SecurityConfig;
use crate::error::ApiError;
use crate::oauth::{event_key, issue_tokens};
use crate::state::AppState;
use crate::store::captures::Finished;
use crate::store::{DeliveryRecord, OutboxRecord, Tx};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::sync::{Notify, Semaphore};

/// What one attempt came to.
enum Attempt {
    /// A 2xx answer.
    Delivered(u16),
    /// Worth another try: a non-2xx answer (status) or no answer (0).
    Failed(u16, String),
    /// Not deliverable at all (the application is gone or blocked).
    Undeliverable(String),
}

/// Runs until aborted: delivers whatever is due, then waits for a wake-up or the poll interval.
pub async fn run(state: AppState, config: DeliveryConfig, wake: Arc<Notify>) {
    let client = match client(&config) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "could not build the event sender's HTTP client");
            return;
        }
    };
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    loop {
        // One wave per portal and pass, so that a busy portal does not hold up the others;
        // only portals whose outbox may hold rows are looked at.
        let mut busy = false;
        for (portal, marks) in state.portals.outbox_portals() {
            let Some(runtime) = state.portals.get(portal) else {
                state.portals.outbox_drained(portal, marks);
                continue;
            };
            let state = state.for_portal(&runtime);
            let Some(rows) = claim(&state, &config).await else {
                if !outbox_holds_rows(&state).await {
                    state.portals.outbox_drained(portal, marks);
                }
                continue;
            };
            busy = true;
            let mut wave = tokio::task::JoinSet::new();
            for row in rows {
                let permit = slots.clone().acquire_owned().await;
                let (state, config, client) = (state.clone(), config.clone(), client.clone());
                wave.spawn(async move {
                    let _permit = permit;
                    deliver(&state, &config, &client, row).await;
                });
            }
            while wave.join_next().await.is_some() {}
        }
        if busy {
            continue;
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(config.poll_interval) => {}
        }
    }
}

/// Whether the portal's outbox holds rows (due later, or claimed): while it does, the sender
/// keeps looking at the portal. A failed read says yes.
async fn outbox_holds_rows(state: &AppState) -> bool {
    let (store, portal) = (state.store.clone(), state.portal_id);
    tokio::task::spawn_blocking(move || store.read(portal, |tx| tx.outbox_holds_rows()))
        .await
        .map_or(true, |read| read.unwrap_or(true))
}

/// Claims the next due rows; `None` when there are none (or the store failed, which is logged).
async fn claim(state: &AppState, config: &DeliveryConfig) -> Option<Vec<OutboxRecord>> {
    let store = state.store.clone();
    let portal = state.portal_id;
    let now = state.clock.now();
    // One row per slot, so the whole wave is tried within one timeout; the claim outlasts it
    // comfortably. If we die meanwhile, the claim lapses and the rows are sent again.
    let claim_until = now + 2.0 * config.timeout.as_secs_f64() + 5.0;
    let limit = config.concurrency.max(1) as u64;
    let claimed = tokio::task::spawn_blocking(move || {
        store.write(portal, |tx| tx.claim_outbox(now, claim_until, limit))
    })
    .await;
    match claimed {
        Ok(Ok(rows)) if !rows.is_empty() => Some(rows),
        Ok(Ok(_)) => None,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not read the event outbox");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "reading the event outbox panicked");
            None
        }
    }
}

async fn deliver(
    state: &AppState,
    config: &DeliveryConfig,
    client: &reqwest::Client,
    row: OutboxRecord,
) {
    let body = {
        let (state, row) = (state.clone(), row.clone());
        tokio::task::spawn_blocking(move || {
            state
                .store
                .write(state.portal_id, |tx| payload(&state, tx, &row))
        })
        .await
    };
    // What the admin API shows of the body sent: the same bytes, secrets redacted.
    let mut shown = None;
    let attempt = match body {
        Ok(Ok(Ok(mut pairs))) => {
            let body = form_encode(&pairs);
            redact(&mut pairs);
            shown = Some(form_encode(&pairs));
            post(client, config, &row.handler, body).await
        }
        Ok(Ok(Err(why))) => Attempt::Undeliverable(why),
        Ok(Err(e)) => Attempt::Failed(0, format!("could not prepare the payload: {e}")),
        Err(e) => Attempt::Failed(0, format!("preparing the payload panicked: {e}")),
    };
    let (store, portal, config) = (state.store.clone(), state.portal_id, config.clone());
    let recorded = tokio::task::spawn_blocking(move || {
        store.write(portal, |tx| {
            record(tx, &config, &row, attempt, shown.as_deref())
        })
    })
    .await;
    // Whoever waits for captured events (`/_b24/events?wait_ms=`) looks again.
    state.control.events_changed.wake();
    match recorded {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not record an event delivery"),
        Err(e) => tracing::warn!(error = %e, "recording an event delivery panicked"),
    }
}

/// The form-encoded payload of spec §9.2, as pairs, or why the event cannot be delivered.
/// Tokens for the handler's user are minted here, at send time, and stored as digests like any
/// others.
fn payload(
    state: &AppState,
    tx: &mut dyn Tx,
    row: &OutboxRecord,
) -> Result<Result<Vec<(String, String)>, String>, ApiError> {
    let now = state.clock.now();
    payload_pairs(
        tx,
        &state.public_url,
        &state.security,
        row,
        now,
        Secrets::Mint,
    )
}

/// The value shown in place of a secret in a captured event (`/_b24/events`): the admin API is
/// secret-free, and the tokens a handler receives are secrets.
pub const REDACTED: &str = "REDACTED";

/// The payload fields that carry secrets.
const SECRET_FIELDS: &[&str] = &[
    "auth[access_token]",
    "auth[refresh_token]",
    "auth[application_token]",
];

/// How [`payload_pairs`] fills in the secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// Real ones, minted for the handler's user: only for sending.
    Mint,
    /// [`REDACTED`] in their place, nothing minted, nothing written: for showing.
    Redact,
}

/// Puts [`REDACTED`] in place of every secret of a payload.
pub fn redact(pairs: &mut [(String, String)]) {
    for (key, value) in pairs {
        if SECRET_FIELDS.contains(&key.as_str()) {
            *value = REDACTED.to_string();
        }
    }
}

/// The payload of spec §9.2 for an outbox row, in order, or why it cannot be delivered. The
/// sender POSTs it with [`Secrets::Mint`]; the admin API shows it with [`Secrets::Redact`], so
/// what is shown is what is sent, but for the secrets (and `auth[expires]`, which counts from
/// the moment of sending).
pub fn payload_pairs(
    tx: &mut dyn Tx,
    public_url: &str,
    security: &SecurityConfig,
    row: &OutboxRecord,
    now: f64,
    secrets: Secrets,
) -> Result<Result<Vec<(String, String)>, String>, ApiError> {
    let portal = tx
        .portal_row()?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the portal row is missing")))?;
    let endpoint = format!("{}/rest/", public_url.trim_end_matches('/'));
    let mut auth: Vec<(&str, String)> = Vec::new();
    let mut refresh = None;
    let key = match secrets {
        Secrets::Mint => Some(event_key(tx)?),
        Secrets::Redact => None,
    };
    let token = if row.app_id == 0 {
        key.map_or(REDACTED.to_string(), |key| {
            webhook_token(&key, row.handler_id)
        })
    } else {
        let Some(app) = tx.app(row.app_id)?.filter(|a| !a.blocked) else {
            return Ok(Err("the application was removed or is blocked".into()));
        };
        let user_ok = row.auth_user_id > 0
            && tx.user(row.auth_user_id)?.is_some_and(|u| u.active)
            && tx.app_user_allowed(app.id, row.auth_user_id)?;
        if user_ok {
            let (access_token, refresh_token, expires) = match secrets {
                Secrets::Mint => {
                    let issued =
                        issue_tokens(tx, app.id, row.auth_user_id, &app.scopes, now, security)?;
                    (issued.access_token, issued.refresh_token, issued.expires)
                }
                Secrets::Redact => (
                    REDACTED.to_string(),
                    REDACTED.to_string(),
                    (now + security.access_token_ttl).floor(),
                ),
            };
            // Only the install event hands the application a refresh token (the portal's
            // `sendRefreshToken`): it is how an application's backend starts its own session.
            if row.event_name == crate::domain::apps::ON_APP_INSTALL {
                refresh = Some(refresh_token);
            }
            auth.push(("access_token", access_token));
            auth.push(("expires", (expires as i64).to_string()));
            auth.push(("expires_in", (security.access_token_ttl as i64).to_string()));
            auth.push(("scope", app.scopes.join(",")));
        }
        key.map_or(REDACTED.to_string(), |key| {
            application_token(&key, &app.client_id)
        })
    };
    auth.push(("domain", portal.domain));
    auth.push(("server_endpoint", endpoint.clone()));
    if auth.iter().any(|(k, _)| *k == "access_token") {
        auth.push(("status", "L".into()));
    }
    auth.push(("client_endpoint", endpoint));
    auth.push(("member_id", portal.member_id));
    if let Some(refresh_token) = refresh {
        auth.push(("refresh_token", refresh_token));
    }
    auth.push(("application_token", token));

    let mut pairs = vec![
        ("event".to_string(), row.event_name.clone()),
        ("event_handler_id".to_string(), row.handler_id.to_string()),
    ];
    flatten("data", &row.data, &mut pairs);
    pairs.push(("ts".into(), row.ts.to_string()));
    pairs.extend(auth.into_iter().map(|(k, v)| (format!("auth[{k}]"), v)));
    Ok(Ok(pairs))
}

async fn post(
    client: &reqwest::Client,
    config: &DeliveryConfig,
    url: &str,
    body: String,
) -> Attempt {
    let literal_ip = reqwest::Url::parse(url).ok().and_then(|u| {
        u.host_str()
            .and_then(|h| h.trim_matches(['[', ']']).parse::<IpAddr>().ok())
    });
    if literal_ip.is_some_and(|ip| !config.targets.allows(ip)) {
        return Attempt::Undeliverable(
            "the handler's address is refused by the target policy".into(),
        );
    }
    let sent = client
        .post(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => {
            Attempt::Delivered(response.status().as_u16())
        }
        Ok(response) => {
            let status = response.status().as_u16();
            Attempt::Failed(status, format!("the handler answered HTTP {status}"))
        }
        Err(e) if e.is_timeout() => Attempt::Failed(0, "the handler did not answer in time".into()),
        // The host name resolves only to refused addresses: no later attempt can do better.
        Err(e) if refused_by_policy(&e) => Attempt::Undeliverable(root_cause(&e)),
        Err(e) => Attempt::Failed(
            0,
            format!("could not reach the handler: {}", root_cause(&e)),
        ),
    }
}

/// Whether a failed request was stopped by [`PolicyResolver`].
fn refused_by_policy(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(error) = cause {
        if error.downcast_ref::<RefusedTarget>().is_some() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// The resolver's refusal: every address of the host name is outside the target policy.
#[derive(Debug)]
struct RefusedTarget(String);

impl std::fmt::Display for RefusedTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} resolves only to addresses the target policy refuses",
            self.0
        )
    }
}

impl std::error::Error for RefusedTarget {}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Logs the attempt and moves the row to the captured events (with `shown`, the body sent with
/// its secrets redacted), or schedules the next attempt.
fn record(
    tx: &mut dyn Tx,
    config: &DeliveryConfig,
    row: &OutboxRecord,
    attempt: Attempt,
    shown: Option<&str>,
) -> Result<(), ApiError> {
    let number = row.attempts + 1;
    let (status, outcome, detail) = match attempt {
        Attempt::Delivered(status) => (status, "delivered", String::new()),
        Attempt::Undeliverable(why) => (0, "gave_up", why),
        Attempt::Failed(status, why) if number >= i64::from(config.max_attempts) => {
            (status, "gave_up", why)
        }
        Attempt::Failed(status, why) => (status, "retry", why),
    };
    if outcome == "retry" {
        let wait = config.backoff(number as u32).as_secs_f64();
        tx.reschedule_outbox(row.id, number, tx.now_unix() + wait)?;
    } else {
        tx.delete_outbox(row.id)?;
        let finished = if outcome == "delivered" {
            Finished::Delivered
        } else {
            Finished::Failed
        };
        let last = OutboxRecord {
            attempts: number,
            ..row.clone()
        };
        tx.insert_capture(&last, finished, shown.unwrap_or_default())?;
    }
    if outcome != "delivered" {
        tracing::info!(event = %row.event_name, handler_id = row.handler_id, attempt = number, outcome, %detail, "event not delivered");
    }
    tx.insert_delivery(&DeliveryRecord {
        id: 0,
        outbox_id: row.id,
        handler_id: row.handler_id,
        event_name: row.event_name.clone(),
        handler: row.handler.clone(),
        attempt: number,
        at: tx.now_iso(),
        status: i64::from(status),
        outcome: outcome.into(),
        detail,
    })
}

/// The HTTP client: no proxies, no redirects, a timeout, and a resolver that drops addresses
/// the target policy refuses (so a host name cannot lead into the private network).
fn client(config: &DeliveryConfig) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent("Bitrix24 Webhook Engine")
        .dns_resolver(Arc::new(PolicyResolver(config.targets)))
        .build()
}

struct PolicyResolver(TargetPolicy);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0;
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = found.filter(|a| policy.allows(a.ip())).collect();
            if allowed.is_empty() {
                return Err(Box::new(RefusedTarget(name.as_str().to_string())) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_first_retry_up_to_the_cap() {
        let config = DeliveryConfig::default();
        let secs: Vec<u64> = (1..=8).map(|n| config.backoff(n).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 80, 160, 320, 600, 600]);
    }
}
