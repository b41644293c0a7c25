//! Captured events (`/_b24/events`, `b24-server events list | redeliver`): every outbound
//! delivery with the body its handler receives (secrets redacted) and its attempts, filters,
//! the long-poll, and redelivery. Handlers are receivers on 127.0.0.1 inside the test; the
//! server runs on a manual clock, moved through the clock control when a retry must fall due.

use crate::clock::logged;
use crate::events::{receiver, Received};
use crate::helpers::*;
use b24_server::admin;
use b24_server::clock::{iso, ManualClock};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const T0: f64 = 1_800_000_000.0;

/// A server with quick, deterministic delivery on a manual clock, giving up after `attempts`.
async fn events_app(attempts: u32) -> TestApp {
    let clock = Arc::new(ManualClock::new(T0));
    spawn_app_with(move |config| {
        config.clock = clock;
        config.events = quick_delivery();
        config.events.max_attempts = attempts;
    })
    .await
}

async fn events(app: &TestApp, query: &str) -> Value {
    let (status, body) = app
        .control(Method::GET, &format!("/events{query}"), None)
        .await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

/// The entries' `seq`s.
fn seqs(page: &Value) -> Vec<i64> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect()
}

/// A form body's pairs, decoded.
fn pairs(body: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// What a receiver got, with the secrets the admin API shows as `REDACTED`.
fn redacted(received: &Received) -> Vec<(String, String)> {
    received
        .pairs
        .iter()
        .map(|(k, v)| match k.as_str() {
            "auth[access_token]" | "auth[application_token]" => (k.clone(), "REDACTED".into()),
            _ => (k.clone(), v.clone()),
        })
        .collect()
}

#[tokio::test]
async fn an_item_change_is_captured_with_the_body_its_handler_received() {
    let app = events_app(3).await;
    let r = receiver(0).await;
    let hook = admin::add_outgoing_webhook(&app.state.store, 1, "ONCRMDEALADD", &r.url).unwrap();
    let deal = app.new_item(2, None).await;

    let page = events(&app, "?status=delivered&wait_ms=10000").await;
    let got = r.wait_for(1).await;
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{page}");
    let entry = &entries[0];
    let seq = entry["seq"].as_i64().unwrap();
    assert_eq!(page["next"], json!(seq));
    assert_eq!(
        (
            &entry["event"],
            &entry["handler"],
            &entry["handler_id"],
            &entry["status"],
            &entry["next_attempt"]
        ),
        (
            &json!("ONCRMDEALADD"),
            &json!(r.url),
            &json!(hook.id),
            &json!("delivered"),
            &Value::Null
        )
    );
    let attempts = entry["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (
            &attempts[0]["http"],
            &attempts[0]["outcome"],
            &attempts[0]["detail"],
            &attempts[0]["at"]
        ),
        (
            &json!(200),
            &json!("delivered"),
            &json!(""),
            &json!(iso(T0))
        )
    );
    let shown = pairs(entry["body"].as_str().unwrap());
    assert_eq!(shown, redacted(&got[0]));
    assert!(shown.contains(&("data[FIELDS][ID]".to_string(), deal.to_string())));
}

#[tokio::test]
async fn an_event_keeps_its_seq_from_pending_to_delivered() {
    let app = events_app(3).await;
    let r = receiver(1).await;
    admin::add_outgoing_webhook(&app.state.store, 1, "ONCRMDEALADD", &r.url).unwrap();
    app.new_item(2, None).await;
    r.wait_for(1).await;

    // The first attempt failed: pending, due again 60 s later, showing what will be sent.
    let pending = loop {
        let page = events(&app, "?status=pending").await;
        let entry = page["entries"][0].clone();
        if entry["attempts"].as_array().is_some_and(|a| a.len() == 1) {
            break entry;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(pending["next_attempt"], json!(iso(T0 + 60.0)));
    assert_eq!(
        (
            &pending["attempts"][0]["http"],
            &pending["attempts"][0]["outcome"]
        ),
        (&json!(500), &json!("retry"))
    );
    let received = r.wait_for(1).await;
    assert_eq!(
        pairs(pending["body"].as_str().unwrap()),
        redacted(&received[0])
    );
    assert_eq!(
        events(&app, "?status=delivered").await["entries"],
        json!([])
    );

    let (status, _) = app
        .control(Method::POST, "/clock", Some(json!({"advance_s": 60})))
        .await;
    assert_eq!(status, 200);
    let page = events(&app, "?status=delivered&wait_ms=10000").await;
    assert_eq!(seqs(&page), vec![pending["seq"].as_i64().unwrap()]);
    let outcomes: Vec<&Value> = page["entries"][0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["outcome"])
        .collect();
    assert_eq!(outcomes, [&json!("retry"), &json!("delivered")]);
    assert_eq!(events(&app, "?status=pending").await["entries"], json!([]));
}

#[tokio::test]
async fn a_waiting_listing_returns_as_soon_as_an_event_is_queued() {
    let app = Arc::new(events_app(3).await);
    let r = receiver(0).await;
    admin::add_outgoing_webhook(&app.state.store, 1, "ONCRMDEALADD", &r.url).unwrap();

    // Nothing comes: the wait ends after wait_ms with nothing, and `next` stays.
    let started = Instant::now();
    let page = events(&app, "?since=7&wait_ms=300").await;
    assert_eq!(page, json!({"next": 7, "entries": []}));
    assert!(started.elapsed() >= Duration::from_millis(300));

    let waiting = {
        let app = app.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let page = events(&app, "?wait_ms=20000").await;
            (page, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the listing waits while there is nothing"
    );
    app.new_item(2, None).await;
    let (page, took) = waiting.await.unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["entries"][0]["event"], "ONCRMDEALADD");
    assert!(
        took < Duration::from_secs(5),
        "answered {took:?} after it began, for a 20 s wait"
    );
}

#[tokio::test]
async fn status_event_since_and_limit_select_entries() {
    let app = events_app(2).await;
    let ok = receiver(0).await;
    let failing = receiver(usize::MAX).await;
    admin::add_outgoing_webhook(&app.state.store, 1, "ONCRMDEALADD", &ok.url).unwrap();
    admin::add_outgoing_webhook(&app.state.store, 1, "ONCRMLEADADD", &failing.url).unwrap();
    admin::add_outgoing_webhook(&app.state.store, 1, "ONCRMCOMPANYADD", &failing.url).unwrap();

    app.new_item(2, None).await;
    ok.wait_for(1).await;
    app.new_item(1, None).await;
    failing.wait_for(1).await;
    logged(&app, 2).await;
    // The lead's second and last attempt fails: given up.
    app.control(Method::POST, "/clock", Some(json!({"advance_s": 60})))
        .await;
    failing.wait_for(2).await;
    app.new_item(4, None).await;
    failing.wait_for(3).await;

    let all = events(&app, "").await;
    let [deal, lead, company] = seqs(&all)[..] else {
        panic!("three events expected: {all}")
    };
    let settled = || async {
        let failed = events(&app, "?status=failed").await;
        let pending = events(&app, "?status=pending").await;
        seqs(&failed) == vec![lead]
            && pending["entries"][0]["attempts"]
                .as_array()
                .is_some_and(|a| a.len() == 1)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !settled().await {
        assert!(Instant::now() < deadline, "{}", events(&app, "").await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seqs(&events(&app, "?status=delivered").await), vec![deal]);
    assert_eq!(seqs(&events(&app, "?status=failed").await), vec![lead]);
    assert_eq!(seqs(&events(&app, "?status=pending").await), vec![company]);
    assert_eq!(seqs(&events(&app, "?event=onCrmLeadAdd").await), vec![lead]);
    assert_eq!(
        seqs(&events(&app, &format!("?since={deal}")).await),
        vec![lead, company]
    );
    let first = events(&app, "?limit=1").await;
    assert_eq!(
        (seqs(&first), first["next"].clone()),
        (vec![deal], json!(deal))
    );
    let failed = events(&app, "?status=failed").await;
    let outcomes: Vec<(Value, Value)> = failed["entries"][0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["http"].clone(), a["outcome"].clone()))
        .collect();
    assert_eq!(
        outcomes,
        [(json!(500), json!("retry")), (json!(500), json!("gave_up"))]
    );

    for (query, description) in [
        ("?status=done", "status must be pending, delivered or failed"),
        (
            "?event=ONCRMNOTHING",
            "event=ONCRMNOTHING is not an event this server sends (ONCRMDEALADD, ONCRMACTIVITYUPDATE, …)",
        ),
        ("?since=-1", "since must be a whole number from 0 to 9223372036854775807"),
        ("?limit=0", "limit must be from 1 to 1000"),
        ("?limit=1001", "limit must be a whole number from 0 to 1000"),
        ("?wait_ms=soon", "wait_ms must be a whole number from 0 to 18446744073709551615"),
        (
            "?state=pending",
            "Unknown parameter state: this route takes event, status, since, limit and wait_ms",
        ),
    ] {
        assert_eq!(
            app.control(Method::GET, &format!("/events{query}"), None).await,
            (400, envelope("INVALID_REQUEST", description)),
            "{query}"
        );
    }
}

#[tokio::test]
async fn redelivering_an_event_sends_it_to_its_handler_again() {
    let app = events_app(3).await;
    let r = receiver(0).await;
    admin::add_outgoing_webhook(&app.state.store, 1, "ONCRMDEALADD", &r.url).unwrap();
    app.new_item(2, None).await;
    let first = r.wait_for(1).await;
    let page = events(&app, "?status=delivered&wait_ms=10000").await;
    let seq = seqs(&page)[0];

    let (status, queued) = app
        .control(Method::POST, &format!("/events/{seq}/redeliver"), None)
        .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["queued"], 1);
    let again = queued["seq"].as_i64().unwrap();
    assert!(again > seq);
    let got = r.wait_for(2).await;
    assert_eq!(got[1].pairs, first[0].pairs, "the same data, again");
    let page = events(
        &app,
        &format!("?since={seq}&status=delivered&wait_ms=10000"),
    )
    .await;
    assert_eq!(seqs(&page), vec![again]);

    for unknown in ["999", "abc"] {
        let (status, body) = app
            .control(Method::POST, &format!("/events/{unknown}/redeliver"), None)
            .await;
        assert_eq!(
            (status, body),
            (
                404,
                envelope(
                    "NOT_FOUND",
                    &format!("There is no captured event {unknown}; GET /_b24/events lists them with their seq")
                )
            )
        );
    }
    r.assert_no_more_than(2).await;
}

#[tokio::test]
async fn captured_events_show_no_secret_of_an_application_handler() {
    let app = events_app(3).await;
    let r = receiver(0).await;
    let installed = app.install_app("crm", 1, T0).await;
    let token = installed.tokens["access_token"].as_str().unwrap();
    let response = app
        .client
        .post(format!("{}/rest/event.bind", app.base))
        .json(&json!({"auth": token, "event": "ONCRMDEALADD", "handler": r.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(read(response).await.0, 200);
    app.new_item(2, None).await;
    let got = r.wait_for(1).await;
    let sent_token = got[0].get("auth[access_token]").to_string();
    assert_eq!(
        got[0].get("auth[application_token]"),
        installed.application_token
    );

    let page = events(&app, "?status=delivered&wait_ms=10000").await;
    let shown = pairs(page["entries"][0]["body"].as_str().unwrap());
    assert_eq!(shown, redacted(&got[0]));
    let text = page.to_string();
    let code = app
        .admin_url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap();
    for secret in [
        sent_token.as_str(),
        token,
        installed.tokens["refresh_token"].as_str().unwrap(),
        installed.application_token.as_str(),
        installed.client_secret.as_str(),
        code,
        app.admin_token.as_str(),
    ] {
        assert!(!text.contains(secret), "a secret in {text}");
    }
}

#[tokio::test]
async fn events_are_listed_and_redelivered_from_the_command_line() {
    let app = events_app(3).await;
    let r = receiver(0).await;
    admin::add_outgoing_webhook(&app.state.store, 1, "ONCRMDEALADD", &r.url).unwrap();
    app.new_item(2, None).await;
    r.wait_for(1).await;
    let page = events(&app, "?status=delivered&wait_ms=10000").await;
    let seq = seqs(&page)[0];

    let output = app
        .cli()
        .args(["events", "list", "--status", "delivered", "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(seqs(&listed), vec![seq]);
    assert_eq!(listed["entries"][0]["status"], "delivered");

    let output = app.cli().args(["events", "list"]).output().unwrap();
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.starts_with("SEQ"), "{table}");
    assert!(
        table.contains("ONCRMDEALADD") && table.contains(&r.url),
        "{table}"
    );

    let output = app
        .cli()
        .args(["events", "redeliver", &seq.to_string()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let queued: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(queued["queued"], 1);
    // The server's sender picks it up at its next poll.
    r.wait_for(2).await;

    let output = app
        .cli()
        .args(["events", "redeliver", "999"])
        .output()
        .unwrap();
    assert!(!output.status.success());

    // A waiting CLI listing ends when nothing comes.
    let started = Instant::now();
    let output = app
        .cli()
        .args([
            "events", "list", "--since", "999", "--wait", "0.5", "--json",
        ])
        .output()
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(500));
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listed, json!({"next": 999, "entries": []}));
}

#[tokio::test]
async fn finished_events_are_kept_for_the_latest_ten_thousand_queued() {
    use b24_server::store::captures::{Finished, CAPTURES_KEEP};
    use b24_server::store::OutboxRecord;
    let app = events_app(3).await;
    let finish = |id: i64| {
        app.state
            .store
            .write(1, |tx| {
                let row = OutboxRecord {
                    id,
                    handler_id: 1,
                    app_id: 0,
                    event_name: "ONCRMDEALADD".into(),
                    handler: "http://127.0.0.1:9/h".into(),
                    auth_user_id: 0,
                    data: json!({"FIELDS": {"ID": id}}),
                    ts: T0 as i64,
                    attempts: 1,
                    next_attempt_at: T0,
                };
                tx.insert_capture(&row, Finished::Delivered, "event=ONCRMDEALADD")
            })
            .unwrap();
    };
    for id in [1, 2, 3] {
        finish(id);
    }
    finish(CAPTURES_KEEP + 2);
    let page = events(&app, "").await;
    assert_eq!(seqs(&page), vec![3, CAPTURES_KEEP + 2]);
    assert_eq!(page["entries"][0]["body"], "event=ONCRMDEALADD");
}
