//! The console's pages. Each reads what it shows in one store transaction through the same
//! functions the admin API uses, and renders it with [`super::html`]. Secrets are never read
//! here: webhooks are listed by id, applications by client id, events with their secrets
//! redacted, journal parameters as the journal keeps them (secrets removed).

use super::html::{attr, button_form, esc, gauge, json_block, link, page, sparkline, Frame};
use super::{message, read_form, Ctx};
use crate::admin;
use crate::clock::iso;
use crate::control::clock::{change_clock, ClockChange, ClockView};
use crate::control::events::{list_events, redeliver_event, EventQuery};
use crate::control::faults::{self, Rule};
use crate::control::journal::FilterRequest;
use crate::control::recorder::KeptAnswer;
use crate::control::state::{
    delete_snapshot, list_snapshots, reset_portal, restore_snapshot,
    save_snapshot as store_snapshot,
};
use crate::control::transfer::{export as export_document, import_document};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::journal::{JournalEntry, JournalFilter};
use crate::store::query::{Column, CompareOp, Filter, ListQuery, SqlValue};
use crate::store::users::UserQuery;
use crate::store::{PortalId, Store};
use axum::body::Body;
use axum::extract::{Multipart, Path};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use b24_protocol::binding::Binding;
use b24_protocol::RestError;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::sync::Arc;

/// Calls shown on the Requests page at most.
const REQUEST_ROWS: usize = 100;
/// How far back (in journal entries) the Requests page looks for matches.
const REQUEST_WINDOW: i64 = 2000;
/// Items and activities per Data page.
const DATA_ROWS: u64 = 50;
/// The sparkline: this many buckets of this many seconds.
const SPARK_BUCKETS: usize = 30;
const SPARK_SECONDS: f64 = 10.0;

/// Runs store work on the blocking pool; an error becomes a page that says so.
async fn run<R: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Arc<Store>, PortalId) -> Result<R, String> + Send + 'static,
) -> Result<R, Response> {
    let (store, portal) = (state.store.clone(), state.portal_id);
    match tokio::task::spawn_blocking(move || work(&store, portal)).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(message(StatusCode::BAD_REQUEST, "That did not work", &e)),
        Err(e) => {
            tracing::error!(error = %e, "a console page panicked");
            Err(message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error",
                "The page failed inside the server; its log says why.",
            ))
        }
    }
}

fn api(e: ApiError) -> String {
    match e {
        ApiError::Rest(e) => e.message.to_string(),
        ApiError::Internal(e) => {
            tracing::error!(error = format!("{e:#}"), "a console page failed");
            "the server failed; its log says why".to_string()
        }
    }
}

fn html(body: String) -> Response {
    (StatusCode::OK, body).into_response()
}

fn frame<'a>(ctx: &'a Ctx, title: &'a str, current: &'a str) -> Frame<'a> {
    Frame {
        title,
        current,
        portal: &ctx.portal,
        portals: &ctx.portals,
        notice: ctx.query.get("done").and_then(|d| notice(d)),
    }
}

/// The messages a page shows after a change (`?done=KEY`): a fixed table, so a link cannot make
/// the console say anything else.
fn notice(key: &str) -> Option<&'static str> {
    Some(match key {
        "reset" => "The portal was reset: its data, journal, faults, limiter counters and clock are gone; users, webhooks and applications stay.",
        "fault" => "The fault rule was added. It applies to the next matching call.",
        "fault-removed" => "The fault rule was removed.",
        "faults-removed" => "Every fault rule was removed.",
        "clock" => "The portal clock moved.",
        "redelivered" => "The event was queued again for its handler.",
        "revoked" => "The webhook was revoked: its URL stops working at once.",
        "blocked" => "Done: blocked calls answer 401 OVERLOAD_LIMIT until unblocked.",
        "unblocked" => "Unblocked.",
        "expired" => "The application's access tokens expired: its next call answers expired_token.",
        "saved" => "The snapshot was saved.",
        "restored" => "The snapshot was restored.",
        "deleted" => "The snapshot was deleted.",
        "imported" => "The document was imported.",
        _ => return None,
    })
}

/// The answer after a change: back to `path` (with the portal) showing notice `done`.
fn done(ctx: &Ctx, path: &str, key: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    let target = link(&ctx.portal, &format!("{path}{sep}done={key}"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, target)]).into_response()
}

fn type_name(entity_type_id: i64) -> String {
    match entity_type_id {
        1 => "Lead".into(),
        2 => "Deal".into(),
        3 => "Contact".into(),
        4 => "Company".into(),
        7 => "Quote".into(),
        31 => "Invoice".into(),
        t => format!("Type {t}"),
    }
}

fn counted(limit: u64) -> ListQuery {
    ListQuery {
        filter: Filter::everything(),
        order: Vec::new(),
        offset: 0,
        limit,
        count: true,
    }
}

// --- Overview ------------------------------------------------------------------------------

/// What the overview shows, read in one transaction.
struct OverviewData {
    webhooks: Vec<crate::store::WebhookRecord>,
    clock: (f64, Option<f64>),
    counts: Vec<(String, u64)>,
    recent: Vec<JournalEntry>,
    faults: Vec<Value>,
    public_url: String,
    public_https_url: String,
}

/// `GET /_b24/ui/`.
pub async fn overview(ctx: Ctx) -> Response {
    let data = run(&ctx.state, |store, portal| {
        let faults = faults::list(store, portal).map_err(api)?;
        store
            .read(portal, |tx| {
                let row = tx.portal_row()?;
                let mut counts = Vec::new();
                let mut types = vec![1, 2, 3, 4];
                types.extend(tx.dynamic_entity_type_ids()?);
                for t in types {
                    let n = tx.list_items(t, &counted(1))?.total.unwrap_or(0);
                    counts.push((format!("{} items", type_name(t)), n));
                }
                let n = tx.list_activities(&counted(1))?.total.unwrap_or(0);
                counts.push(("Activities".into(), n));
                let users = tx
                    .users_page(&UserQuery {
                        list: counted(1),
                        departments: None,
                    })?
                    .total
                    .unwrap_or(0);
                counts.push(("Users".into(), users));
                let last = tx.journal_last_seq()?;
                let recent = tx.journal_page(
                    &JournalFilter {
                        since: (last - REQUEST_WINDOW).max(0),
                        ..JournalFilter::default()
                    },
                    REQUEST_WINDOW as u64,
                )?;
                counts.push(("Journal entries (kept)".into(), recent.len() as u64));
                Ok(OverviewData {
                    webhooks: tx.webhooks()?,
                    clock: tx.clock_setting()?,
                    counts,
                    recent,
                    faults,
                    public_url: row
                        .as_ref()
                        .map(|r| r.public_url.clone())
                        .unwrap_or_default(),
                    public_https_url: row.map(|r| r.public_https_url).unwrap_or_default(),
                })
            })
            .map_err(api)
    })
    .await;
    let data = match data {
        Ok(d) => d,
        Err(r) => return r,
    };
    let state = &ctx.state;
    let now = state.clock.now();
    let plan = state.plan.get();
    let drain = plan.leaky_bucket().map_or(0.0, |(d, _)| d);
    let limiter = {
        let (limiter, portal) = (state.limiter.clone(), state.portal_id);
        tokio::task::spawn_blocking(move || limiter.portal_view(portal, now, drain))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    };
    let mut body = String::new();

    // Where the server is.
    let endpoints = &state.control.endpoints;
    body.push_str(
        "<section aria-labelledby=\"urls\"><h2 id=\"urls\">Addresses</h2><dl class=\"facts\">",
    );
    let _ = write!(
        body,
        "<dt>REST (HTTP)</dt><dd><code>{}/rest/</code></dd>",
        esc(&data.public_url)
    );
    if !data.public_https_url.is_empty() {
        let _ = write!(
            body,
            "<dt>REST (HTTPS)</dt><dd><code>{}/rest/</code></dd>",
            esc(&data.public_https_url)
        );
    }
    if let Some(ca) = &endpoints.ca {
        let _ = write!(
            body,
            "<dt>Local CA certificate</dt><dd><code>{}</code></dd>",
            esc(ca)
        );
    }
    let _ = write!(
        body,
        "<dt>Backend</dt><dd>{}</dd><dt>Plan</dt><dd>{}</dd></dl>",
        esc(endpoints.backend),
        esc(plan.as_str())
    );
    body.push_str("<h3>Webhooks</h3><p class=\"hint\">Codes are stored only as digests: the URL of a webhook is shown once, when it is made (Access page).</p>");
    body.push_str("<table><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">URL</th><th scope=\"col\">User</th><th scope=\"col\">Status</th></tr></thead><tbody>");
    for w in &data.webhooks {
        let _ = write!(
            body,
            "<tr><td>{}</td><td><code>{}/rest/{}/…/</code></td><td>{}</td><td>{}</td></tr>",
            w.id,
            esc(&data.public_url),
            w.user_id,
            w.user_id,
            webhook_status(w)
        );
    }
    body.push_str("</tbody></table></section>");

    // Limits.
    body.push_str("<section aria-labelledby=\"limits\"><h2 id=\"limits\">Limits</h2>");
    match plan.leaky_bucket() {
        None => body.push_str("<p>No request-rate limit: the portal is on the unlimited plan.</p>"),
        Some((drain, burst)) => {
            let _ = write!(
                body,
                "<p>Request-rate bucket per client address: {burst} requests, draining {drain} a second.</p>"
            );
            if limiter.buckets.is_empty() {
                body.push_str("<p class=\"hint\">Every bucket is empty.</p>");
            }
            for (client, level) in &limiter.buckets {
                body.push_str(&gauge(
                    &format!("Bucket of {client}"),
                    *level,
                    burst,
                    &format!("{level:.1} of {burst}"),
                ));
            }
        }
    }
    let budget = state.operating.limit_secs;
    let _ = write!(
        body,
        "<p>Operating time per client and method: {budget} s in a 10-minute window.</p>"
    );
    if limiter.operating.is_empty() {
        body.push_str("<p class=\"hint\">No method has counted operating time in the window.</p>");
    }
    for (client, method, seconds) in &limiter.operating {
        body.push_str(&gauge(
            &format!("{method} by {client}"),
            *seconds,
            budget,
            &format!("{seconds:.1} s of {budget} s"),
        ));
    }
    body.push_str("</section>");

    // Traffic.
    let mut calls = [0.0; SPARK_BUCKETS];
    let mut errors = [0.0; SPARK_BUCKETS];
    let start = now - SPARK_SECONDS * SPARK_BUCKETS as f64;
    for e in &data.recent {
        if e.entry.at >= start && e.entry.at <= now {
            let i = (((e.entry.at - start) / SPARK_SECONDS) as usize).min(SPARK_BUCKETS - 1);
            calls[i] += 1.0;
            if e.entry.error.is_some() {
                errors[i] += 1.0;
            }
        }
    }
    let per_second: Vec<f64> = calls.iter().map(|c| c / SPARK_SECONDS).collect();
    let error_rate: Vec<f64> = calls
        .iter()
        .zip(&errors)
        .map(|(c, e)| if *c > 0.0 { e / c * 100.0 } else { 0.0 })
        .collect();
    body.push_str("<section aria-labelledby=\"traffic\"><h2 id=\"traffic\">Traffic, last 5 minutes</h2><div class=\"sparks\">");
    body.push_str(&sparkline("Requests per second", &per_second, "/s"));
    body.push_str(&sparkline("Error rate", &error_rate, "%"));
    body.push_str("</div></section>");

    // Clock, faults, counts.
    let view = ClockView::of(data.clock, state.portal_clock.base_now());
    let _ = write!(
        body,
        "<section aria-labelledby=\"clock\"><h2 id=\"clock\">Clock</h2><p>Portal time <strong>{}</strong>{}{}. <a href=\"{}\">Move it</a>.</p></section>",
        esc(&view.now),
        if view.offset_s != 0.0 {
            format!(", {} s ahead of real time", view.offset_s)
        } else {
            ", real time".into()
        },
        if view.frozen { ", frozen" } else { "" },
        attr(&link(&ctx.portal, "faults"))
    );
    let _ = write!(
        body,
        "<section aria-labelledby=\"active\"><h2 id=\"active\">Active faults</h2>"
    );
    let live: Vec<&Value> = data
        .faults
        .iter()
        .filter(|f| f["remaining"].as_i64() != Some(0))
        .collect();
    if live.is_empty() {
        body.push_str("<p>None.</p>");
    } else {
        body.push_str("<ul>");
        for f in live {
            let _ = write!(body, "<li>{}</li>", esc(&fault_summary(f)));
        }
        body.push_str("</ul>");
    }
    let _ = write!(
        body,
        "<p><a href=\"{}\">Faults and clock</a></p></section>",
        attr(&link(&ctx.portal, "faults"))
    );
    body.push_str("<section aria-labelledby=\"rows\"><h2 id=\"rows\">Rows</h2><table><tbody>");
    for (what, n) in &data.counts {
        let _ = write!(
            body,
            "<tr><th scope=\"row\">{}</th><td>{n}</td></tr>",
            esc(what)
        );
    }
    body.push_str("</tbody></table></section>");

    // Reset.
    let _ = write!(
        body,
        "<section aria-labelledby=\"reset\"><h2 id=\"reset\">Reset</h2>\
<p>Deletes the portal's CRM data, events, journal, fault rules, limiter counters and clock setting; keeps users, webhooks, applications and event handlers.</p>\
<form method=\"post\" action=\"{}\" data-confirm=\"Reset the portal? Its data is deleted.\">\
<input type=\"checkbox\" id=\"confirm-reset\" name=\"confirm\" value=\"yes\" required> <label for=\"confirm-reset\">Yes, delete this portal's data</label> \
<button type=\"submit\" class=\"danger\">Reset the portal</button></form></section>",
        attr(&link(&ctx.portal, "reset"))
    );
    html(page(&frame(&ctx, "Overview", ""), &body))
}

fn webhook_status(w: &crate::store::WebhookRecord) -> &'static str {
    if !w.active {
        "revoked"
    } else if w.blocked {
        "blocked"
    } else {
        "active"
    }
}

fn fault_summary(f: &Value) -> String {
    let method = f["match"]["method"].as_str().unwrap_or("every method");
    let via = f["match"]["via"]
        .as_str()
        .map_or(String::new(), |v| format!(" by {v}"));
    let times = match f["remaining"].as_i64() {
        Some(n) => format!("{n} more time{}", if n == 1 { "" } else { "s" }),
        None => "every time".into(),
    };
    let probability = f["probability"].as_f64().unwrap_or(1.0);
    let chance = if probability < 1.0 {
        format!(
            ", {:.0}% of calls (seed {})",
            probability * 100.0,
            f["seed"]
        )
    } else {
        String::new()
    };
    format!(
        "#{}: {method}{via} → {} ({times}{chance}; {} hits)",
        f["id"], f["action"], f["hits"]
    )
}

/// `POST /_b24/ui/reset` (needs `confirm=yes`).
pub async fn reset(ctx: Ctx, body: Body) -> Response {
    let form = match read_form(body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    if form.get("confirm").map(String::as_str) != Some("yes") {
        return message(
            StatusCode::BAD_REQUEST,
            "Not reset",
            "Tick the confirmation box to reset the portal.",
        );
    }
    match reset_portal(&ctx.state, ctx.state.portal_id, true).await {
        Ok(_) => done(&ctx, "", "reset"),
        Err(e) => message(StatusCode::BAD_REQUEST, "Not reset", e.description()),
    }
}

// --- Requests ------------------------------------------------------------------------------

/// `GET /_b24/ui/requests?method=&error=&via=` (with `rows=1`: only the table's rows, for the
/// live update).
pub async fn requests(ctx: Ctx) -> Response {
    let text = |name: &str| {
        ctx.query
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let request = FilterRequest {
        method: text("method"),
        error: text("error"),
        via: text("via"),
        since: None,
    };
    let filter = match request.check() {
        Ok(f) => f,
        Err(e) => return message(StatusCode::BAD_REQUEST, "Bad filter", e.description()),
    };
    // The live update polls every second: it takes what is written (calls appear within the
    // writer's 50 ms) rather than making the writer commit more often while a console is open.
    if ctx.query.get("rows").map(String::as_str) != Some("1") {
        ctx.state.control.recorder.flush().await;
    }
    let entries = run(&ctx.state, move |store, portal| {
        store
            .read(portal, |tx| {
                let last = tx.journal_last_seq()?;
                let filter = JournalFilter {
                    since: (last - REQUEST_WINDOW).max(0),
                    ..filter
                };
                tx.journal_page(&filter, REQUEST_WINDOW as u64)
            })
            .map_err(api)
    })
    .await;
    let mut entries = match entries {
        Ok(e) => e,
        Err(r) => return r,
    };
    entries.reverse();
    entries.truncate(REQUEST_ROWS);
    let mut rows = String::new();
    if entries.is_empty() {
        rows.push_str("<tr><td colspan=\"7\">No calls yet.</td></tr>");
    }
    for e in &entries {
        let x = &e.entry;
        let _ = write!(
            rows,
            "<tr class=\"{cls}\"><td>{seq}</td><td>{at}</td><td><a href=\"{href}\" aria-label=\"Call {seq}: {method}\"><code>{method}</code></a></td><td>{http}</td><td>{error}</td><td>{via}</td><td>{ms:.1}</td></tr>",
            cls = if x.error.is_some() { "failed" } else { "ok" },
            href = attr(&link(&ctx.portal, &format!("requests/{}", e.seq))),
            seq = e.seq,
            at = esc(&iso(x.at)),
            method = esc(&x.method),
            http = x.http,
            error = esc(x.error.as_deref().unwrap_or("")),
            via = esc(&x.via),
            ms = x.ms,
        );
    }
    if ctx.query.get("rows").map(String::as_str) == Some("1") {
        return html(rows);
    }
    let value = |name: &str| attr(ctx.query.get(name).map_or("", String::as_str));
    let mut body = String::new();
    let _ = write!(
        body,
        "<form class=\"filters\" method=\"get\" action=\"/_b24/ui/requests\">{}\
<label>Method <input name=\"method\" value=\"{}\" placeholder=\"crm.item.*\"></label> \
<label>Error <input name=\"error\" value=\"{}\" placeholder=\"ANY, NONE or a code\"></label> \
<label>Credential <input name=\"via\" value=\"{}\" placeholder=\"webhook:1 or app:CLIENT_ID\"></label> \
<button type=\"submit\">Filter</button></form>\
<p><label><input type=\"checkbox\" id=\"live\" checked> Live updates</label> \
<span class=\"hint\">Newest first; the {REQUEST_ROWS} newest matches among the last {REQUEST_WINDOW} calls.</span></p>\
<div class=\"scroll\"><table id=\"requests\" data-live=\"{}\" aria-live=\"polite\"><caption class=\"sr-only\">Calls, newest first</caption><thead><tr>\
<th scope=\"col\">#</th><th scope=\"col\">At</th><th scope=\"col\">Method</th><th scope=\"col\">HTTP</th><th scope=\"col\">Error</th><th scope=\"col\">Credential</th><th scope=\"col\">ms</th>\
</tr></thead><tbody>{rows}</tbody></table></div>",
        if ctx.portal == crate::portals::DEFAULT_PORTAL_NAME {
            String::new()
        } else {
            super::html::portal_field(&ctx.portal)
        },
        value("method"),
        value("error"),
        value("via"),
        attr(&live_url(&ctx)),
    );
    html(page(&frame(&ctx, "Requests", "requests"), &body))
}

/// The URL the live update polls: this page's filters with `rows=1`.
fn live_url(ctx: &Ctx) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for name in ["method", "error", "via", "portal"] {
        if let Some(v) = ctx.query.get(name) {
            query.append_pair(name, v);
        }
    }
    query.append_pair("rows", "1");
    format!("/_b24/ui/requests?{}", query.finish())
}

/// `GET /_b24/ui/requests/{seq}`: one call.
pub async fn request(ctx: Ctx, Path(seq): Path<i64>) -> Response {
    ctx.state.control.recorder.flush().await;
    let found = run(&ctx.state, move |store, portal| {
        store
            .read(portal, |tx| {
                tx.journal_page(
                    &JournalFilter {
                        since: (seq - 1).max(0),
                        ..JournalFilter::default()
                    },
                    1,
                )
            })
            .map_err(api)
    })
    .await;
    let entry = match found {
        Ok(list) => list.into_iter().find(|e| e.seq == seq),
        Err(r) => return r,
    };
    let Some(entry) = entry else {
        return message(
            StatusCode::NOT_FOUND,
            "No such call",
            "The journal does not hold this call (it keeps the newest entries only).",
        );
    };
    let x = &entry.entry;
    let mut body = String::new();
    let _ = write!(
        body,
        "<p><a href=\"{}\">← All requests</a></p><dl class=\"facts\">\
<dt>Method</dt><dd><code>{}</code></dd><dt>At</dt><dd>{}</dd><dt>Credential</dt><dd>{}</dd><dt>User</dt><dd>{}</dd>\
<dt>HTTP status</dt><dd>{}</dd><dt>Took</dt><dd>{:.3} ms</dd>",
        attr(&link(&ctx.portal, "requests")),
        esc(&x.method),
        esc(&iso(x.at)),
        esc(&x.via),
        x.user.map_or("—".to_string(), |u| u.to_string()),
        x.http,
        x.ms
    );
    match x.fault {
        Some(id) => {
            let _ = write!(
                body,
                "<dt>Fault rule</dt><dd><a href=\"{}\">#{id}</a> made this answer</dd>",
                attr(&link(&ctx.portal, "faults"))
            );
        }
        None => body.push_str("<dt>Fault rule</dt><dd>none fired</dd>"),
    }
    body.push_str("</dl><h2>Answer</h2>");
    // The answer itself while this process still holds it in memory (its newest calls only);
    // else an error answer rebuilt from the error table.
    let held = ctx
        .state
        .control
        .recorder
        .answers()
        .get(ctx.state.portal_id, seq);
    match (held, &x.error) {
        (Some(KeptAnswer::Json(answer)), _) => {
            body.push_str(&json_block(&answer, "The answer sent"));
            body.push_str(
                "<p class=\"hint\">Values of secret-named keys are shown as REDACTED.</p>",
            );
        }
        (Some(KeptAnswer::Text(text)), _) => {
            let _ = write!(
                body,
                "<pre aria-label=\"The answer sent\">{}</pre>",
                esc(&text)
            );
        }
        (None, Some(code)) => {
            let description = faults::error_code(code)
                .map(|c| RestError::new(c).message.to_string())
                .unwrap_or_default();
            body.push_str(&json_block(
                &json!({"error": code, "error_description": description}),
                "The error answered",
            ));
            body.push_str("<p class=\"hint\">The answer itself is no longer held; this is the error table's description (a method may have worded it for the call).</p>");
        }
        (None, None) => {
            let _ = write!(
                body,
                "<p>HTTP {}. The answer itself is no longer held: this server keeps the answers of its newest calls in memory only (the journal in the database keeps parameters and outcome).</p>",
                x.http
            );
        }
    }
    let start = x.at;
    let finish = x.at + x.ms / 1000.0;
    body.push_str("<h2>Time</h2>");
    body.push_str(&json_block(
        &json!({
            "start": start,
            "finish": finish,
            "duration": x.ms / 1000.0,
            "date_start": iso(start),
            "date_finish": iso(finish),
        }),
        "The time block",
    ));
    body.push_str("<h2>Parameters</h2><p class=\"hint\">Secrets (auth, tokens, codes, client secrets) were removed before the call was journaled.</p>");
    body.push_str(&json_block(&x.params, "The parameters"));
    if let Some(Value::Array(commands)) = &x.batch {
        body.push_str("<h2>Batch commands</h2><table><thead><tr><th scope=\"col\">Key</th><th scope=\"col\">Method</th><th scope=\"col\">Error</th></tr></thead><tbody>");
        for c in commands {
            let _ = write!(
                body,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                esc(c["key"].as_str().unwrap_or("")),
                esc(c["method"].as_str().unwrap_or("")),
                esc(c["error"].as_str().unwrap_or("—"))
            );
        }
        body.push_str("</tbody></table>");
    }
    html(page(
        &frame(&ctx, &format!("Call #{}", entry.seq), "requests"),
        &body,
    ))
}

// --- Data ----------------------------------------------------------------------------------

/// `GET /_b24/ui/data?type=2&q=`: items of a type, searched by id or title; the newest
/// activities.
pub async fn data(ctx: Ctx) -> Response {
    let entity_type: i64 = ctx
        .query
        .get("type")
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let search = ctx
        .query
        .get("q")
        .map(|q| q.trim().to_string())
        .unwrap_or_default();
    let filter = if search.is_empty() {
        Filter::everything()
    } else if let Ok(id) = search.parse::<i64>() {
        Filter::Compare {
            column: Column::Plain("id"),
            op: CompareOp::Eq,
            values: vec![SqlValue::Int(id)],
        }
    } else {
        Filter::Compare {
            column: Column::Plain("title"),
            op: CompareOp::Like,
            values: vec![SqlValue::Text(format!(
                "%{}%",
                crate::store::query::like_literal(&search)
            ))],
        }
    };
    let loaded = run(&ctx.state, move |store, portal| {
        store
            .read(portal, |tx| {
                let mut types: Vec<(i64, String)> =
                    [1, 2, 3, 4].iter().map(|t| (*t, type_name(*t))).collect();
                for t in tx.list_dynamic_types(0, 50, false)?.rows {
                    types.push((t.entity_type_id, t.title));
                }
                let items = tx.list_items(
                    entity_type,
                    &ListQuery {
                        filter,
                        order: vec![(Column::Plain("id"), true)],
                        offset: 0,
                        limit: DATA_ROWS,
                        count: true,
                    },
                )?;
                let activities = tx.list_activities(&ListQuery {
                    filter: Filter::everything(),
                    order: vec![(Column::Plain("id"), true)],
                    offset: 0,
                    limit: DATA_ROWS,
                    count: true,
                })?;
                Ok((types, items, activities))
            })
            .map_err(api)
    })
    .await;
    let (types, items, activities) = match loaded {
        Ok(l) => l,
        Err(r) => return r,
    };
    let mut body = String::new();
    let _ = write!(
        body,
        "<form class=\"filters\" method=\"get\" action=\"/_b24/ui/data\" role=\"search\">{}<label>Type <select name=\"type\">",
        if ctx.portal == crate::portals::DEFAULT_PORTAL_NAME {
            String::new()
        } else {
            super::html::portal_field(&ctx.portal)
        }
    );
    for (t, name) in &types {
        let _ = write!(
            body,
            "<option value=\"{t}\"{}>{} ({t})</option>",
            if *t == entity_type { " selected" } else { "" },
            esc(name)
        );
    }
    let _ = write!(
        body,
        "</select></label> <label>Search <input name=\"q\" value=\"{}\" placeholder=\"id or part of the title\"></label> <button type=\"submit\">Search</button></form>",
        attr(&search)
    );
    let _ = write!(
        body,
        "<section aria-labelledby=\"items\"><h2 id=\"items\">{} items ({})</h2>",
        esc(&type_name(entity_type)),
        items.total.unwrap_or(0)
    );
    if items.rows.is_empty() {
        body.push_str("<p class=\"empty\">No items.</p>");
    } else {
        body.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Title</th><th scope=\"col\">Assigned to</th><th scope=\"col\">Updated</th></tr></thead><tbody>");
        for item in &items.rows {
            let _ = write!(
                body,
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                attr(&link(
                    &ctx.portal,
                    &format!("data/{}/{}", item.entity_type_id, item.id)
                )),
                item.id,
                esc(&item.title),
                item.assigned_by_id,
                esc(&item.updated_time)
            );
        }
        body.push_str("</tbody></table></div>");
    }
    body.push_str("</section>");
    let _ = write!(
        body,
        "<section aria-labelledby=\"activities\"><h2 id=\"activities\">Activities ({}), newest first</h2>",
        activities.total.unwrap_or(0)
    );
    activity_table(&mut body, &ctx.portal, &activities.rows);
    body.push_str("</section>");
    html(page(&frame(&ctx, "Data", "data"), &body))
}

fn activity_table(body: &mut String, portal: &str, rows: &[crate::store::ActivityRecord]) {
    if rows.is_empty() {
        body.push_str("<p class=\"empty\">No activities.</p>");
        return;
    }
    body.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Subject</th><th scope=\"col\">Owner</th><th scope=\"col\">Responsible</th><th scope=\"col\">Completed</th></tr></thead><tbody>");
    for a in rows {
        let _ = write!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td></tr>",
            attr(&link(portal, &format!("activity/{}", a.id))),
            a.id,
            esc(&a.subject),
            esc(&type_name(a.owner_type_id)),
            a.owner_id,
            a.responsible_id,
            if a.completed { "yes" } else { "no" }
        );
    }
    body.push_str("</tbody></table></div>");
}

/// `GET /_b24/ui/data/{type}/{id}`: an item and its activities.
pub async fn item(ctx: Ctx, Path((entity_type, id)): Path<(i64, i64)>) -> Response {
    let loaded = run(&ctx.state, move |store, portal| {
        store
            .read(portal, |tx| {
                let Some(item) = tx.item(entity_type, id)? else {
                    return Ok(None);
                };
                let activities = tx.list_activities(&ListQuery {
                    filter: Filter::BoundTo(vec![(Some(entity_type), Some(id))]),
                    order: Vec::new(),
                    offset: 0,
                    limit: DATA_ROWS,
                    count: true,
                })?;
                Ok(Some((item, activities)))
            })
            .map_err(api)
    })
    .await;
    let (item, activities) = match loaded {
        Ok(Some(found)) => found,
        Ok(None) => {
            return message(
                StatusCode::NOT_FOUND,
                "No such item",
                "The item does not exist.",
            )
        }
        Err(r) => return r,
    };
    let mut body = String::new();
    let _ = write!(
        body,
        "<p><a href=\"{}\">← {} items</a></p><dl class=\"facts\"><dt>Title</dt><dd>{}</dd><dt>Assigned to</dt><dd>user {}</dd>\
<dt>Created</dt><dd>{} by user {}</dd><dt>Updated</dt><dd>{} by user {}</dd></dl>",
        attr(&link(&ctx.portal, &format!("data?type={entity_type}"))),
        esc(&type_name(entity_type)),
        esc(&item.title),
        item.assigned_by_id,
        esc(&item.created_time),
        item.created_by,
        esc(&item.updated_time),
        item.updated_by
    );
    body.push_str("<h2>Other fields</h2>");
    body.push_str(&json_block(
        &Value::Object(item.extra.clone()),
        "Other fields",
    ));
    let _ = write!(
        body,
        "<h2>Activities bound to it ({})</h2>",
        activities.total.unwrap_or(0)
    );
    activity_table(&mut body, &ctx.portal, &activities.rows);
    html(page(
        &frame(
            &ctx,
            &format!("{} {}: {}", type_name(entity_type), id, item.title),
            "data",
        ),
        &body,
    ))
}

/// `GET /_b24/ui/activity/{id}`: an activity and a graph of its bindings.
pub async fn activity(ctx: Ctx, Path(id): Path<i64>) -> Response {
    let loaded = run(&ctx.state, move |store, portal| {
        store
            .read(portal, |tx| {
                let Some(activity) = tx.activity(id)? else {
                    return Ok(None);
                };
                let mut bound = Vec::new();
                for b in tx.bindings(id)? {
                    let title = tx.item(b.entity_type_id, b.entity_id)?.map(|i| i.title);
                    bound.push((b, title));
                }
                Ok(Some((activity, bound)))
            })
            .map_err(api)
    })
    .await;
    let (activity, bound) = match loaded {
        Ok(Some(found)) => found,
        Ok(None) => {
            return message(
                StatusCode::NOT_FOUND,
                "No such activity",
                "The activity does not exist.",
            )
        }
        Err(r) => return r,
    };
    let owner = Binding::new(activity.owner_type_id, activity.owner_id);
    let mut body = String::new();
    let _ = write!(
        body,
        "<p><a href=\"{}\">← Data</a></p><dl class=\"facts\"><dt>Subject</dt><dd>{}</dd><dt>Type</dt><dd>{} {}</dd>\
<dt>Owner</dt><dd>{} {}</dd><dt>Responsible</dt><dd>user {}</dd><dt>Deadline</dt><dd>{}</dd><dt>Completed</dt><dd>{}</dd></dl>",
        attr(&link(&ctx.portal, "data")),
        esc(&activity.subject),
        esc(&activity.provider_id),
        esc(&activity.provider_type_id),
        esc(&type_name(owner.entity_type_id)),
        owner.entity_id,
        activity.responsible_id,
        esc(&activity.deadline),
        if activity.completed { "yes" } else { "no" }
    );
    body.push_str("<h2 id=\"graph-title\">Bindings</h2>");
    body.push_str(&binding_graph(&ctx.portal, &activity, &bound, owner));
    body.push_str("<table><caption>Bound items (the owner is marked)</caption><thead><tr><th scope=\"col\">Type</th><th scope=\"col\">Id</th><th scope=\"col\">Title</th><th scope=\"col\">Owner</th></tr></thead><tbody>");
    for (b, title) in &bound {
        let _ = write!(
            body,
            "<tr><td>{}</td><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
            esc(&type_name(b.entity_type_id)),
            attr(&link(
                &ctx.portal,
                &format!("data/{}/{}", b.entity_type_id, b.entity_id)
            )),
            b.entity_id,
            esc(title.as_deref().unwrap_or("(deleted)")),
            if *b == owner { "owner" } else { "" }
        );
    }
    body.push_str("</tbody></table><h2>Other fields</h2>");
    body.push_str(&json_block(
        &Value::Object(activity.extra.clone()),
        "Other fields",
    ));
    html(page(
        &frame(&ctx, &format!("Activity {}", activity.id), "data"),
        &body,
    ))
}

/// The bindings as a small SVG graph: the activity in the middle, bound items on a circle
/// around it, the owner drawn bold and labelled. Each item is a link to its page.
fn binding_graph(
    portal: &str,
    activity: &crate::store::ActivityRecord,
    bound: &[(Binding, Option<String>)],
    owner: Binding,
) -> String {
    let (w, h, cx, cy, r) = (480.0, 340.0, 240.0, 170.0, 120.0);
    let mut svg = format!(
        "<svg class=\"graph\" viewBox=\"0 0 {w} {h}\" role=\"group\" aria-labelledby=\"graph-title\" data-testid=\"binding-graph\">"
    );
    let n = bound.len().max(1) as f64;
    let mut nodes = String::new();
    for (i, (b, title)) in bound.iter().enumerate() {
        let angle = -std::f64::consts::FRAC_PI_2 + i as f64 / n * std::f64::consts::TAU;
        let (x, y) = (cx + r * angle.cos(), cy + r * angle.sin());
        let is_owner = *b == owner;
        let _ = write!(
            svg,
            "<line x1=\"{cx}\" y1=\"{cy}\" x2=\"{x:.1}\" y2=\"{y:.1}\" class=\"edge{}\"/>",
            if is_owner { " owner" } else { "" }
        );
        let label = format!("{} {}", type_name(b.entity_type_id), b.entity_id);
        let title = title.as_deref().unwrap_or("(deleted)");
        let _ = write!(
            nodes,
            "<a href=\"{href}\" aria-label=\"{aria}\"><g class=\"node item{cls}\"><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"30\"/>\
<text x=\"{x:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\">{label}</text>{owner_text}</g></a>",
            href = attr(&link(portal, &format!("data/{}/{}", b.entity_type_id, b.entity_id))),
            aria = attr(&format!(
                "{label}: {title}{}",
                if is_owner { " (owner)" } else { "" }
            )),
            cls = if is_owner { " owner" } else { "" },
            ty = y + 4.0,
            label = esc(&label),
            owner_text = if is_owner {
                format!(
                    "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"owner-label\">owner</text>",
                    y + 44.0
                )
            } else {
                String::new()
            },
        );
    }
    svg.push_str(&nodes);
    let _ = write!(
        svg,
        "<g class=\"node activity\" aria-label=\"{}\"><circle cx=\"{cx}\" cy=\"{cy}\" r=\"38\"/>\
<text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\">Activity {}</text></g></svg>",
        attr(&format!("Activity {}: {}", activity.id, activity.subject)),
        cy + 4.0,
        activity.id
    );
    svg
}

// --- Events --------------------------------------------------------------------------------

/// `GET /_b24/ui/events?since=`: handlers, deliveries with their attempts, the offline queue.
pub async fn events(ctx: Ctx) -> Response {
    let since: i64 = ctx
        .query
        .get("since")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
        .max(0);
    let state = ctx.state.clone();
    let (public_url, security, now) = (
        state.public_url.clone(),
        state.security.clone(),
        state.clock.now(),
    );
    let loaded = run(&state, move |store, portal| {
        let deliveries = list_events(
            store,
            portal,
            &public_url,
            &security,
            now,
            &EventQuery {
                since,
                ..EventQuery::default()
            },
        )
        .map_err(api)?;
        let outgoing = admin::outgoing_webhooks(store, portal).map_err(|e| e.to_string())?;
        let (handlers, offline) = store
            .read(portal, |tx| {
                let mut handlers = Vec::new();
                let mut offline = Vec::new();
                for app in tx.apps_after(0, 200)? {
                    for h in tx.event_handlers_of_app(app.id)? {
                        handlers.push((app.name.clone(), h));
                    }
                    for e in tx.offline_events(app.id, "", &counted(50))?.rows {
                        offline.push((app.name.clone(), e));
                    }
                }
                Ok((handlers, offline))
            })
            .map_err(api)?;
        Ok((deliveries, outgoing, handlers, offline))
    })
    .await;
    let (deliveries, outgoing, handlers, offline) = match loaded {
        Ok(l) => l,
        Err(r) => return r,
    };
    let mut body = String::new();
    body.push_str("<section aria-labelledby=\"handlers\"><h2 id=\"handlers\">Handlers</h2><div class=\"scroll\"><table><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Of</th><th scope=\"col\">Event</th><th scope=\"col\">Handler</th></tr></thead><tbody>");
    if handlers.is_empty() && outgoing.is_empty() {
        body.push_str("<tr><td colspan=\"4\">No handlers bound.</td></tr>");
    }
    for (app, h) in &handlers {
        let target = if h.handler.is_empty() {
            "offline queue".to_string()
        } else {
            h.handler.clone()
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            h.id,
            esc(app),
            esc(&h.event_name),
            esc(&target)
        );
    }
    for w in &outgoing {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>outgoing webhook</td><td>{}</td><td><code>{}</code></td></tr>",
            w.id,
            esc(&w.event_name),
            esc(&w.handler)
        );
    }
    body.push_str("</tbody></table></div></section>");
    body.push_str("<section aria-labelledby=\"deliveries\"><h2 id=\"deliveries\">Deliveries</h2><p class=\"hint\">Payload secrets (auth[access_token], auth[application_token]) are shown as REDACTED.</p>");
    let entries = deliveries["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if entries.is_empty() {
        body.push_str("<p class=\"empty\">No events.</p>");
    }
    for e in &entries {
        let seq = e["seq"].as_i64().unwrap_or(0);
        let attempts = e["attempts"].as_array().cloned().unwrap_or_default();
        let _ = write!(
            body,
            "<details class=\"event\"><summary>#{seq} <strong>{}</strong> → <code>{}</code>: {} ({} attempt{})</summary>",
            esc(e["event"].as_str().unwrap_or("")),
            esc(e["handler"].as_str().unwrap_or("")),
            esc(e["status"].as_str().unwrap_or("")),
            attempts.len(),
            if attempts.len() == 1 { "" } else { "s" }
        );
        if let Some(next) = e["next_attempt"].as_str() {
            let _ = write!(body, "<p>Next attempt at {}.</p>", esc(next));
        }
        body.push_str("<table><thead><tr><th scope=\"col\">At</th><th scope=\"col\">HTTP</th><th scope=\"col\">Outcome</th><th scope=\"col\">Error</th></tr></thead><tbody>");
        for a in &attempts {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(a["at"].as_str().unwrap_or("")),
                a["http"],
                esc(a["outcome"].as_str().unwrap_or("")),
                esc(a["detail"].as_str().unwrap_or(""))
            );
        }
        body.push_str("</tbody></table><h3>Payload</h3>");
        let pairs: Vec<String> =
            form_urlencoded::parse(e["body"].as_str().unwrap_or("").as_bytes())
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
        let _ = write!(
            body,
            "<pre tabindex=\"0\" aria-label=\"Payload of event {seq}\">{}</pre>",
            esc(&pairs.join("\n"))
        );
        body.push_str(&button_form(
            &ctx.portal,
            &link(&ctx.portal, &format!("events/{seq}/redeliver")),
            "Redeliver",
            "",
        ));
        body.push_str("</details>");
    }
    if let Some(next) = deliveries["next"]
        .as_i64()
        .filter(|n| *n > since && entries.len() >= 100)
    {
        let _ = write!(
            body,
            "<p><a href=\"{}\">Later events</a></p>",
            attr(&link(&ctx.portal, &format!("events?since={next}")))
        );
    }
    body.push_str(
        "</section><section aria-labelledby=\"offline\"><h2 id=\"offline\">Offline queue</h2>",
    );
    if offline.is_empty() {
        body.push_str("<p class=\"empty\">Empty.</p>");
    } else {
        body.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Application</th><th scope=\"col\">Event</th><th scope=\"col\">Changed</th><th scope=\"col\">Handed out</th><th scope=\"col\">Error</th></tr></thead><tbody>");
        for (app, e) in &offline {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e.id,
                esc(app),
                esc(&e.event_name),
                esc(&e.timestamp_x),
                if e.process_id.is_empty() { "no" } else { "yes" },
                if e.error { "yes" } else { "no" }
            );
        }
        body.push_str("</tbody></table></div>");
    }
    body.push_str("</section>");
    html(page(&frame(&ctx, "Events", "events"), &body))
}

/// `POST /_b24/ui/events/{seq}/redeliver`.
pub async fn redeliver(ctx: Ctx, Path(seq): Path<i64>) -> Response {
    let queued = run(&ctx.state, move |store, portal| {
        redeliver_event(store, portal, seq).map_err(api)
    })
    .await;
    match queued {
        Ok(Some(_)) => {
            let state = &ctx.state;
            state.portals.mark_outbox(state.portal_id);
            state.events_wake.notify_one();
            state.control.events_changed.wake();
            done(&ctx, "events", "redelivered")
        }
        Ok(None) => message(
            StatusCode::NOT_FOUND,
            "No such event",
            "There is no such event.",
        ),
        Err(r) => r,
    }
}

// --- Faults and clock ----------------------------------------------------------------------

/// The presets the Faults page offers: (key, label, rule without `match`).
const PRESETS: &[(&str, &str, &str)] = &[
    (
        "rate-limit-storm",
        "Rate-limit storm: the next 20 calls answer 503 QUERY_LIMIT_EXCEEDED",
        r#"{"times":20,"action":{"error":"QUERY_LIMIT_EXCEEDED"}}"#,
    ),
    (
        "operating-limit",
        "Operating limit: the next call answers 429 OPERATION_TIME_LIMIT",
        r#"{"times":1,"action":{"error":"OPERATION_TIME_LIMIT"}}"#,
    ),
    (
        "expired-token",
        "Expired token: the next call answers 401 expired_token",
        r#"{"times":1,"action":{"error":"expired_token"}}"#,
    ),
    (
        "flaky",
        "10% flaky: one call in ten answers 500 INTERNAL_SERVER_ERROR (seed 42)",
        r#"{"probability":0.1,"seed":42,"action":{"status":500,"error":"INTERNAL_SERVER_ERROR","description":"Internal server error"}}"#,
    ),
    (
        "html-502",
        "HTML 502: the next call gets nginx's 502 Bad Gateway page",
        r#"{"times":1,"action":{"network":"html502"}}"#,
    ),
    (
        "commit-then-close",
        "Commit then close: the next call runs, then the connection closes without an answer",
        r#"{"times":1,"action":{"commit_then":"close"}}"#,
    ),
];

/// `GET /_b24/ui/faults`: rules, presets, the clock.
pub async fn faults(ctx: Ctx) -> Response {
    let loaded = run(&ctx.state, |store, portal| {
        let rules = faults::list(store, portal).map_err(api)?;
        let clock = store.read(portal, |tx| tx.clock_setting()).map_err(api)?;
        Ok((rules, clock))
    })
    .await;
    let (rules, clock) = match loaded {
        Ok(l) => l,
        Err(r) => return r,
    };
    let mut body = String::new();
    body.push_str("<section aria-labelledby=\"rules\"><h2 id=\"rules\">Rules</h2>");
    if rules.is_empty() {
        body.push_str("<p class=\"empty\">No fault rules: every call runs normally.</p>");
    } else {
        body.push_str("<ul class=\"rules\">");
        for f in &rules {
            let id = f["id"].as_i64().unwrap_or(0);
            let _ = write!(body, "<li><span>{}</span> ", esc(&fault_summary(f)));
            body.push_str(&button_form(
                &ctx.portal,
                &link(&ctx.portal, &format!("faults/{id}/delete")),
                &format!("Remove rule {id}"),
                "",
            ));
            body.push_str("</li>");
        }
        body.push_str("</ul>");
        body.push_str(&button_form(
            &ctx.portal,
            &link(&ctx.portal, "faults/all/delete"),
            "Remove every rule",
            "",
        ));
    }
    let _ = write!(
        body,
        "</section><section aria-labelledby=\"add\"><h2 id=\"add\">Add a rule</h2><form method=\"post\" action=\"{}\"><fieldset><legend>Preset</legend>",
        attr(&link(&ctx.portal, "faults"))
    );
    for (i, (key, label, _)) in PRESETS.iter().enumerate() {
        let _ = write!(
            body,
            "<div><input type=\"radio\" name=\"preset\" id=\"preset-{key}\" value=\"{key}\"{}> <label for=\"preset-{key}\">{}</label></div>",
            if i == 0 { " checked" } else { "" },
            esc(label)
        );
    }
    body.push_str("</fieldset><label for=\"fault-method\">Only for methods (optional; <code>*</code> matches any characters)</label> \
<input id=\"fault-method\" name=\"method\" placeholder=\"crm.item.*\"> <button type=\"submit\">Add the rule</button></form></section>");
    let view = ClockView::of(clock, ctx.state.portal_clock.base_now());
    let clock_action = attr(&link(&ctx.portal, "clock"));
    let _ = write!(
        body,
        "<section aria-labelledby=\"clock\"><h2 id=\"clock\">Clock</h2><p>Portal time <strong>{}</strong> ({} s ahead of real time{}).</p>\
<form method=\"post\" action=\"{clock_action}\" class=\"inline\"><input type=\"hidden\" name=\"advance\" value=\"600\"><button type=\"submit\">Advance 10 minutes</button></form> \
<form method=\"post\" action=\"{clock_action}\" class=\"inline\"><input type=\"hidden\" name=\"advance\" value=\"3600\"><button type=\"submit\">Advance 1 hour</button></form> \
<form method=\"post\" action=\"{clock_action}\" class=\"inline\"><input type=\"hidden\" name=\"real\" value=\"1\"><button type=\"submit\">Back to real time</button></form>\
<p class=\"hint\">An hour expires OAuth access tokens; ten minutes clear the operating-time window.</p></section>",
        esc(&view.now),
        view.offset_s,
        if view.frozen { ", frozen" } else { "" }
    );
    html(page(&frame(&ctx, "Faults and clock", "faults"), &body))
}

/// `POST /_b24/ui/faults` with `preset=KEY` and an optional `method` glob.
pub async fn add_fault(ctx: Ctx, body: Body) -> Response {
    let form = match read_form(body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some((_, _, rule)) = PRESETS
        .iter()
        .find(|(key, _, _)| Some(*key) == form.get("preset").map(String::as_str))
    else {
        return message(
            StatusCode::BAD_REQUEST,
            "No preset",
            "Choose one of the presets.",
        );
    };
    let mut rule: Value = serde_json::from_str(rule).unwrap_or_default();
    if let Some(method) = form
        .get("method")
        .map(|m| m.trim())
        .filter(|m| !m.is_empty())
    {
        rule["match"] = json!({ "method": method });
    }
    let rule = match Rule::from_json(&rule) {
        Ok(r) => r,
        Err(e) => return message(StatusCode::BAD_REQUEST, "Not added", &e),
    };
    let added = run(&ctx.state, move |store, portal| {
        match faults::add(store, portal, &rule) {
            Ok((_, live)) => Ok(live),
            Err(faults::AddError::TooMany) => Err(format!(
                "A portal holds at most {} fault rules; remove some first",
                faults::MAX_RULES
            )),
            Err(faults::AddError::Store(e)) => Err(api(e)),
        }
    })
    .await;
    match added {
        Ok(live) => {
            ctx.state.control.faults.refresh(ctx.state.portal_id, &live);
            done(&ctx, "faults", "fault")
        }
        Err(r) => r,
    }
}

/// `POST /_b24/ui/faults/{id}/delete` (`all`: every rule).
pub async fn remove_fault(ctx: Ctx, Path(id): Path<String>) -> Response {
    let all = id == "all";
    let Ok(number) = (if all { Ok(0) } else { id.parse::<i64>() }) else {
        return message(
            StatusCode::NOT_FOUND,
            "No such rule",
            "There is no such rule.",
        );
    };
    let removed = run(&ctx.state, move |store, portal| {
        if all {
            faults::clear(store, portal).map_err(api)?;
        } else {
            faults::remove(store, portal, number).map_err(api)?;
        }
        faults::live_rules(store, portal).map_err(api)
    })
    .await;
    match removed {
        Ok(live) => {
            ctx.state.control.faults.refresh(ctx.state.portal_id, &live);
            done(
                &ctx,
                "faults",
                if all {
                    "faults-removed"
                } else {
                    "fault-removed"
                },
            )
        }
        Err(r) => r,
    }
}

/// `POST /_b24/ui/clock` with `advance=SECONDS` or `real=1`.
pub async fn clock(ctx: Ctx, body: Body) -> Response {
    let form = match read_form(body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let change = if form.contains_key("real") {
        ClockChange::Real
    } else {
        match form.get("advance").and_then(|a| a.parse::<f64>().ok()) {
            Some(seconds) => ClockChange::Advance(seconds),
            None => {
                return message(
                    StatusCode::BAD_REQUEST,
                    "Clock not moved",
                    "Say how far to move it.",
                )
            }
        }
    };
    let state = ctx.state.clone();
    let clock = state.portal_clock.clone();
    let changed = run(&state, move |store, portal| {
        change_clock(store, portal, move || clock.base_now(), &change)
            .map_err(api)?
            .map_err(|why| why.to_string())
    })
    .await;
    match changed {
        Ok((setting, _)) => {
            state.portal_clock.set(setting.0, setting.1);
            state.wake_events();
            done(&ctx, "faults", "clock")
        }
        Err(r) => r,
    }
}

// --- Access --------------------------------------------------------------------------------

/// `GET /_b24/ui/access`: users and rights, webhooks, applications.
pub async fn access(ctx: Ctx) -> Response {
    let loaded = run(&ctx.state, |store, portal| {
        store
            .read(portal, |tx| {
                let users = tx
                    .users_page(&UserQuery {
                        list: counted(200),
                        departments: None,
                    })?
                    .rows;
                let mut with_rights = Vec::new();
                for u in users {
                    let rights = tx.user_rights(u.id)?;
                    with_rights.push((u, rights));
                }
                Ok((with_rights, tx.webhooks()?, tx.apps_after(0, 200)?))
            })
            .map_err(api)
    })
    .await;
    let (users, webhooks, apps) = match loaded {
        Ok(l) => l,
        Err(r) => return r,
    };
    let mut body = String::new();
    body.push_str("<section aria-labelledby=\"users\"><h2 id=\"users\">Users</h2><div class=\"scroll\"><table><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Name</th><th scope=\"col\">Administrator</th><th scope=\"col\">Active</th><th scope=\"col\">CRM rights</th></tr></thead><tbody>");
    for (u, rights) in &users {
        let rights: Vec<String> = rights
            .iter()
            .map(|(t, a, l)| format!("{}.{}={}", type_name(*t), a.as_str(), l))
            .collect();
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            u.id,
            esc(&format!("{} {}", u.name, u.last_name)),
            if u.admin { "yes (every right)" } else { "no" },
            if u.active { "yes" } else { "no" },
            esc(&rights.join(", "))
        );
    }
    body.push_str("</tbody></table></div></section>");

    body.push_str("<section aria-labelledby=\"webhooks\"><h2 id=\"webhooks\">Webhooks</h2><p class=\"hint\">A webhook's URL is shown once, when it is made; only digests of codes are kept.</p><div class=\"scroll\"><table><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">User</th><th scope=\"col\">Scopes</th><th scope=\"col\">Status</th><th scope=\"col\">Created</th><th scope=\"col\">Actions</th></tr></thead><tbody>");
    for w in &webhooks {
        let mut actions = String::new();
        if w.active {
            let (action, label) = if w.blocked {
                ("unblock", "Unblock")
            } else {
                ("block", "Block")
            };
            actions.push_str(&button_form(
                &ctx.portal,
                &link(&ctx.portal, &format!("access/webhooks/{}/{action}", w.id)),
                &format!("{label} webhook {}", w.id),
                "",
            ));
            actions.push_str(&button_form(
                &ctx.portal,
                &link(&ctx.portal, &format!("access/webhooks/{}/revoke", w.id)),
                &format!("Revoke webhook {}", w.id),
                "",
            ));
        }
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{actions}</td></tr>",
            w.id,
            w.user_id,
            esc(&w.scopes.join(", ")),
            webhook_status(w),
            esc(&w.created)
        );
    }
    body.push_str("</tbody></table></div>");
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{}\"><h3>New webhook</h3><label for=\"wh-user\">User</label> <select id=\"wh-user\" name=\"user\">",
        attr(&link(&ctx.portal, "access/webhooks"))
    );
    for (u, _) in users.iter().filter(|(u, _)| u.active) {
        let _ = write!(
            body,
            "<option value=\"{}\">{} {}</option>",
            u.id,
            u.id,
            esc(&format!("{} {}", u.name, u.last_name))
        );
    }
    body.push_str("</select> <label for=\"wh-scopes\">Scopes</label> <input id=\"wh-scopes\" name=\"scopes\" placeholder=\"every scope (or crm,user,…)\"> <button type=\"submit\">Create webhook</button></form></section>");

    body.push_str("<section aria-labelledby=\"apps\"><h2 id=\"apps\">Applications</h2>");
    if apps.is_empty() {
        body.push_str("<p class=\"empty\">No applications (<code>b24-server app create</code> makes one).</p>");
    } else {
        body.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Client id</th><th scope=\"col\">Scopes</th><th scope=\"col\">Status</th><th scope=\"col\">Actions</th></tr></thead><tbody>");
        for app in &apps {
            let base = format!("access/apps/{}", super::html::q(&app.client_id));
            let mut actions = button_form(
                &ctx.portal,
                &link(&ctx.portal, &format!("{base}/authorize")),
                &format!("Authorize {} for user 1", app.name),
                "<input type=\"hidden\" name=\"user\" value=\"1\">",
            );
            actions.push_str(&button_form(
                &ctx.portal,
                &link(&ctx.portal, &format!("{base}/expire")),
                &format!("Expire {}'s tokens", app.name),
                "",
            ));
            let (action, label) = if app.blocked {
                ("unblock", "Unblock")
            } else {
                ("block", "Block")
            };
            actions.push_str(&button_form(
                &ctx.portal,
                &link(&ctx.portal, &format!("{base}/{action}")),
                &format!("{label} {}", app.name),
                "",
            ));
            let _ = write!(
                body,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{actions}</td></tr>",
                esc(&app.name),
                esc(&app.client_id),
                esc(&app.scopes.join(", ")),
                if app.blocked { "blocked" } else { "active" }
            );
        }
        body.push_str("</tbody></table></div>");
    }
    body.push_str("</section>");
    html(page(&frame(&ctx, "Access", "access"), &body))
}

/// A page that shows a new secret once (never cached).
fn shown_once(ctx: &Ctx, title: &str, what: &str, secret: &str, hint: &str) -> Response {
    let body = format!(
        "<p>{}</p><p><label for=\"secret\">{}</label><br><input id=\"secret\" class=\"secret\" readonly value=\"{}\" size=\"80\"></p><p class=\"hint\">{}</p><p><a href=\"{}\">Back to Access</a></p>",
        esc("This is shown once: copy it now. Only its digest is stored."),
        esc(what),
        attr(secret),
        esc(hint),
        attr(&link(&ctx.portal, "access"))
    );
    html(page(&frame(ctx, title, "access"), &body))
}

/// `POST /_b24/ui/access/webhooks` with `user` and `scopes`: shows the new URL once.
pub async fn create_webhook(ctx: Ctx, body: Body) -> Response {
    let form = match read_form(body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(user) = form.get("user").and_then(|u| u.parse::<i64>().ok()) else {
        return message(StatusCode::BAD_REQUEST, "No webhook", "Choose a user.");
    };
    let scopes = form
        .get("scopes")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let base = ctx.state.public_url.to_string();
    let made = run(&ctx.state, move |store, portal| {
        let scopes = admin::parse_scopes(scopes.as_deref()).map_err(|e| format!("{e:#}"))?;
        let (_, code) =
            admin::create_webhook(store, portal, user, &scopes).map_err(|e| format!("{e:#}"))?;
        let plain = admin::public_url(store, portal, false).unwrap_or(base);
        Ok(admin::webhook_url(&plain, user, &code))
    })
    .await;
    match made {
        Ok(url) => shown_once(
            &ctx,
            "New webhook",
            "Webhook URL",
            &url,
            "Call it as you would a real portal's: URL + method, e.g. …/crm.item.list.",
        ),
        Err(r) => r,
    }
}

/// A change to one webhook.
type WebhookChange = fn(&Store, PortalId, i64) -> anyhow::Result<()>;

/// `POST /_b24/ui/access/webhooks/{id}/{block|unblock|revoke}`.
pub async fn webhook_action(ctx: Ctx, Path((id, action)): Path<(i64, String)>) -> Response {
    let (key, work): (&str, WebhookChange) = match &*action {
        "block" => ("blocked", |s, p, id| {
            admin::set_webhook_blocked(s, p, id, true)
        }),
        "unblock" => ("unblocked", |s, p, id| {
            admin::set_webhook_blocked(s, p, id, false)
        }),
        "revoke" => ("revoked", admin::revoke_webhook),
        _ => return message(StatusCode::NOT_FOUND, "No such action", "Unknown action."),
    };
    match run(&ctx.state, move |store, portal| {
        work(store, portal, id).map_err(|e| format!("{e:#}"))
    })
    .await
    {
        Ok(()) => done(&ctx, "access", key),
        Err(r) => r,
    }
}

/// `POST /_b24/ui/access/apps/{client_id}/{authorize|expire|block|unblock}`.
pub async fn app_action(
    ctx: Ctx,
    Path((client_id, action)): Path<(String, String)>,
    body: Body,
) -> Response {
    let form = match read_form(body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let now = ctx.state.clock.now();
    match &*action {
        "authorize" => {
            let user = form
                .get("user")
                .and_then(|u| u.parse::<i64>().ok())
                .unwrap_or(1);
            let code = run(&ctx.state, move |store, portal| {
                crate::oauth::authorize(store, portal, &client_id, user, now, 30.0)
                    .map_err(|e| format!("{e:#}"))
            })
            .await;
            match code {
                Ok(code) => shown_once(
                    &ctx,
                    "Application authorized",
                    "Authorization code (works once, for 30 seconds)",
                    &code,
                    "Exchange it at /oauth/token/ with grant_type=authorization_code, your client_id and client_secret.",
                ),
                Err(r) => r,
            }
        }
        "expire" => {
            let expired = run(&ctx.state, move |store, portal| {
                store
                    .write(portal, |tx| {
                        let Some(app) = tx.app_by_client_id(&client_id)? else {
                            return Ok(None);
                        };
                        tx.expire_access_tokens(Some(app.id)).map(Some)
                    })
                    .map_err(api)?
                    .ok_or_else(|| "There is no such application".to_string())
            })
            .await;
            match expired {
                Ok(_) => done(&ctx, "access", "expired"),
                Err(r) => r,
            }
        }
        "block" | "unblock" => {
            let blocked = action == "block";
            match run(&ctx.state, move |store, portal| {
                crate::oauth::set_blocked(store, portal, &client_id, blocked)
                    .map_err(|e| format!("{e:#}"))
            })
            .await
            {
                Ok(()) => done(
                    &ctx,
                    "access",
                    if blocked { "blocked" } else { "unblocked" },
                ),
                Err(r) => r,
            }
        }
        _ => message(StatusCode::NOT_FOUND, "No such action", "Unknown action."),
    }
}

// --- Snapshots -----------------------------------------------------------------------------

/// `GET /_b24/ui/snapshots`.
pub async fn snapshots(ctx: Ctx) -> Response {
    let list = match run(&ctx.state, |store, portal| {
        list_snapshots(store, portal).map_err(|e| e.to_string())
    })
    .await
    {
        Ok(l) => l,
        Err(r) => return r,
    };
    let mut body = String::new();
    body.push_str("<section aria-labelledby=\"saved\"><h2 id=\"saved\">Saved snapshots</h2>");
    if list.is_empty() {
        body.push_str("<p class=\"empty\">None yet.</p>");
    } else {
        body.push_str("<table><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Rows</th><th scope=\"col\">Taken</th><th scope=\"col\">Actions</th></tr></thead><tbody>");
        for s in &list {
            let base = format!("snapshots/{}", super::html::q(&s.name));
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
                esc(&s.name),
                s.rows,
                esc(&s.created),
                button_form(
                    &ctx.portal,
                    &link(&ctx.portal, &format!("{base}/restore")),
                    &format!("Restore {}", s.name),
                    ""
                ),
                button_form(
                    &ctx.portal,
                    &link(&ctx.portal, &format!("{base}/delete")),
                    &format!("Delete {}", s.name),
                    ""
                )
            );
        }
        body.push_str("</tbody></table>");
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{}\"><label for=\"snap-name\">Name</label> <input id=\"snap-name\" name=\"name\" required pattern=\"[A-Za-z0-9._-]{{1,64}}\" placeholder=\"baseline\"> \
<button type=\"submit\">Save a snapshot</button></form></section>\
<section aria-labelledby=\"transfer\"><h2 id=\"transfer\">Export and import</h2>\
<p><a href=\"{}\" download>Download the portal's data (JSON)</a></p>\
<form method=\"post\" action=\"{}\" enctype=\"multipart/form-data\"><label for=\"import-file\">Document</label> <input id=\"import-file\" type=\"file\" name=\"document\" accept=\"application/json,.json\" required> \
<label for=\"import-mode\">Mode</label> <select id=\"import-mode\" name=\"mode\"><option value=\"replace\">replace (reset, then load)</option><option value=\"merge\">merge</option></select> \
<button type=\"submit\">Import</button></form></section>",
        attr(&link(&ctx.portal, "snapshots")),
        attr(&link(&ctx.portal, "export")),
        attr(&link(&ctx.portal, "import"))
    );
    html(page(&frame(&ctx, "Snapshots", "snapshots"), &body))
}

/// `POST /_b24/ui/snapshots` with `name`.
pub async fn save_snapshot(ctx: Ctx, body: Body) -> Response {
    let form = match read_form(body).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let name = form
        .get("name")
        .map(|n| n.trim().to_string())
        .unwrap_or_default();
    match run(&ctx.state, move |store, portal| {
        store_snapshot(store, portal, &name, false).map_err(|e| e.description().to_string())
    })
    .await
    {
        Ok(_) => done(&ctx, "snapshots", "saved"),
        Err(r) => r,
    }
}

/// `POST /_b24/ui/snapshots/{name}/{restore|delete}`.
pub async fn snapshot_action(ctx: Ctx, Path((name, action)): Path<(String, String)>) -> Response {
    let restore = match &*action {
        "restore" => true,
        "delete" => false,
        _ => return message(StatusCode::NOT_FOUND, "No such action", "Unknown action."),
    };
    match run(&ctx.state, move |store, portal| {
        if restore {
            restore_snapshot(store, portal, &name).map(|_| ())
        } else {
            delete_snapshot(store, portal, &name)
        }
        .map_err(|e| e.description().to_string())
    })
    .await
    {
        Ok(()) => done(
            &ctx,
            "snapshots",
            if restore { "restored" } else { "deleted" },
        ),
        Err(r) => r,
    }
}

/// `GET /_b24/ui/export`: the export document as a download.
pub async fn export(ctx: Ctx) -> Response {
    let document = match run(&ctx.state, |store, portal| {
        export_document(store, portal).map_err(|e| e.description().to_string())
    })
    .await
    {
        Ok(d) => d,
        Err(r) => return r,
    };
    let body = serde_json::to_vec_pretty(&document).unwrap_or_default();
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(value) =
        HeaderValue::from_str(&format!("attachment; filename=\"b24-{}.json\"", ctx.portal))
    {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// `POST /_b24/ui/import` (multipart: `document`, `mode`).
pub async fn import(ctx: Ctx, mut multipart: Multipart) -> Response {
    let mut document = None;
    let mut replace = true;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return message(StatusCode::BAD_REQUEST, "Not imported", &e.to_string()),
        };
        match field.name() {
            Some("document") => match field.bytes().await {
                Ok(bytes) => document = Some(bytes),
                Err(e) => return message(StatusCode::BAD_REQUEST, "Not imported", &e.to_string()),
            },
            Some("mode") => replace = field.text().await.map_or(true, |m| m != "merge"),
            _ => {}
        }
    }
    let Some(bytes) = document else {
        return message(StatusCode::BAD_REQUEST, "Not imported", "Choose a file.");
    };
    let document: Value = match serde_json::from_slice(&bytes) {
        Ok(d) => d,
        Err(e) => {
            return message(
                StatusCode::BAD_REQUEST,
                "Not imported",
                &format!("The file is not JSON: {e}"),
            )
        }
    };
    match import_document(&ctx.state, ctx.state.portal_id, document, replace).await {
        Ok(_) => done(&ctx, "snapshots", "imported"),
        Err(e) => message(StatusCode::BAD_REQUEST, "Not imported", e.description()),
    }
}
