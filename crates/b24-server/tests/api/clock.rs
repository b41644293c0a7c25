//! The portal clock (`/_b24/clock`, `b24-server clock`): what it answers, that it only moves
//! forward, and that everything that reads time reads it: token and code expiry, the limiters,
//! the `time` block, created and updated times, and event retries. The server's own clock is a
//! manual one that these tests never move (except to show a frozen clock stands still), so every
//! effect seen comes from the control, and no test sleeps for the time it moves.

use crate::events::receiver;
use crate::helpers::*;
use b24_server::clock::{iso, ManualClock};
use b24_server::limits::Plan;
use b24_server::{admin, oauth};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

const T0: f64 = 1_800_000_000.0;

/// A server whose base clock stands at [`T0`] until the test moves it.
async fn clocked_app(
    configure: impl FnOnce(&mut b24_server::ServeConfig),
) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let c = clock.clone();
    let app = spawn_app_with(move |config| {
        config.clock = c;
        configure(config);
    })
    .await;
    (app, clock)
}

async fn set_clock(app: &TestApp, body: Value) -> Value {
    let (status, answer) = app
        .control(Method::POST, "/clock", Some(body.clone()))
        .await;
    assert_eq!(status, 200, "{body} -> {answer}");
    answer
}

async fn advance(app: &TestApp, seconds: f64) -> Value {
    set_clock(app, json!({"advance_s": seconds})).await
}

/// `server.time`'s answer (the portal's time, ISO-8601).
async fn server_time(app: &TestApp) -> String {
    app.ok("server.time", json!({}))
        .await
        .as_str()
        .unwrap()
        .to_string()
}

/// Waits until the sender has recorded `n` attempts (it schedules a retry from the portal's
/// time when it records the attempt, after the handler answered: moving the clock before that
/// would move the retry too).
pub(crate) async fn logged(app: &TestApp, n: usize) {
    eventually(|| admin::delivery_log(&app.state.store, 1, 100).unwrap().len() >= n).await;
}

#[tokio::test]
async fn the_clock_moves_forward_freezes_and_returns_to_real_time() {
    let (app, base) = clocked_app(|_| {}).await;
    let (status, shown) = app.control(Method::GET, "/clock", None).await;
    assert_eq!(
        (status, shown),
        (
            200,
            json!({"now": iso(T0), "offset_s": 0.0, "frozen": false})
        )
    );

    assert_eq!(
        advance(&app, 3601.0).await,
        json!({"now": iso(T0 + 3601.0), "offset_s": 3601.0, "frozen": false})
    );
    assert_eq!(server_time(&app).await, iso(T0 + 3601.0));

    let set = set_clock(&app, json!({"set": "2030-01-01T10:00:00Z"})).await;
    assert_eq!(set["now"], "2030-01-01T10:00:00+00:00");
    assert_eq!(set["offset_s"], json!(1_893_492_000.0 - T0));
    assert_eq!(server_time(&app).await, "2030-01-01T10:00:00+00:00");

    // Frozen, the portal's time stands still while real time runs on.
    let frozen = set_clock(&app, json!({"freeze": true})).await;
    assert_eq!(frozen["frozen"], true);
    base.advance(100.0);
    let (_, shown) = app.control(Method::GET, "/clock", None).await;
    assert_eq!(shown["now"], "2030-01-01T10:00:00+00:00");
    assert_eq!(shown["frozen"], true);
    assert_eq!(server_time(&app).await, "2030-01-01T10:00:00+00:00");
    // Advancing a frozen clock moves the frozen instant.
    let moved = advance(&app, 60.0).await;
    assert_eq!(
        (moved["now"].clone(), moved["frozen"].clone()),
        (json!("2030-01-01T10:01:00+00:00"), json!(true))
    );
    // Thawed, it runs on from where it stood.
    let thawed = set_clock(&app, json!({"freeze": false})).await;
    assert_eq!(
        (thawed["now"].clone(), thawed["frozen"].clone()),
        (json!("2030-01-01T10:01:00+00:00"), json!(false))
    );
    base.advance(10.0);
    assert_eq!(server_time(&app).await, "2030-01-01T10:01:10+00:00");

    let (status, real) = app.control(Method::DELETE, "/clock", None).await;
    assert_eq!(
        (status, real),
        (
            200,
            json!({"now": iso(T0 + 110.0), "offset_s": 0.0, "frozen": false})
        )
    );
    assert_eq!(server_time(&app).await, iso(T0 + 110.0));
    // Stored with the portal: what a restarted server (or another process) reads.
    let stored = admin::clock_setting(&app.state.store, 1).unwrap();
    assert_eq!(stored, (0.0, None));
}

#[tokio::test]
async fn the_clock_refuses_to_go_back_and_bodies_that_are_not_one_change() {
    let (app, _) = clocked_app(|_| {}).await;
    advance(&app, 3600.0).await;
    let cases = [
        (
            json!({"advance_s": -1}),
            "advance_s must be a number of seconds, 0 or more (got -1): the clock only moves forward; DELETE /_b24/clock (b24-server clock real) returns to real time".to_string(),
        ),
        (
            json!({"set": "2027-01-01T00:00:00Z"}),
            format!(
                "set 2027-01-01T00:00:00+00:00 is before the portal's time {}: the clock only moves forward; DELETE /_b24/clock (b24-server clock real) returns to real time",
                iso(T0 + 3600.0)
            ),
        ),
        (
            json!({}),
            "Send exactly one of {\"advance_s\":SECONDS}, {\"set\":\"2030-01-01T10:00:00Z\"} or {\"freeze\":true|false}".to_string(),
        ),
        (
            json!({"advance_s": 1, "freeze": true}),
            "Send exactly one of {\"advance_s\":SECONDS}, {\"set\":\"2030-01-01T10:00:00Z\"} or {\"freeze\":true|false}".to_string(),
        ),
        (
            json!({"advance_s": 1e12}),
            "The clock cannot go past 9999-12-31T23:59:59Z".to_string(),
        ),
    ];
    for (body, description) in cases {
        let answer = app
            .control(Method::POST, "/clock", Some(body.clone()))
            .await;
        assert_eq!(
            answer,
            (400, envelope("INVALID_REQUEST", &description)),
            "{body}"
        );
    }
    for body in [
        json!({"set": "tomorrow"}),
        json!({"set": "2030-01-01"}),
        json!({"advance_s": "3600"}),
        json!({"rewind_s": 10}),
        json!({"freeze": "yes"}),
        json!([1]),
    ] {
        let (status, answer) = app
            .control(Method::POST, "/clock", Some(body.clone()))
            .await;
        assert_eq!(
            (status, answer["error"].clone()),
            (400, json!("INVALID_REQUEST")),
            "{body} -> {answer}"
        );
    }
    let response = app
        .client
        .post(format!("{}/_b24/clock", app.base))
        .bearer_auth(&app.admin_token)
        .body("advance_s=3600")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Nothing was changed by any of them.
    let (_, shown) = app.control(Method::GET, "/clock", None).await;
    assert_eq!(shown["now"], iso(T0 + 3600.0));
}

#[tokio::test]
async fn advancing_an_hour_expires_access_tokens() {
    let (app, _) = clocked_app(|_| {}).await;
    let installed = app.install_app("crm", 1, T0).await;
    let token = installed.tokens["access_token"].as_str().unwrap();
    let call = || async {
        let response = app
            .client
            .post(format!("{}/rest/server.time", app.base))
            .json(&json!({"auth": token}))
            .send()
            .await
            .unwrap();
        read(response).await
    };
    assert_eq!(call().await.0, 200);

    advance(&app, 3601.0).await;
    assert_eq!(
        call().await,
        (
            401,
            envelope("expired_token", "The access token provided has expired")
        )
    );
}

#[tokio::test]
async fn advancing_past_thirty_seconds_expires_an_authorization_code_and_180_days_a_refresh_token()
{
    let (app, _) = clocked_app(|_| {}).await;
    let installed = app.install_app("crm", 1, T0).await;
    let exchange = |code: String| {
        let (client, base) = (app.client.clone(), app.base.clone());
        let (id, secret) = (installed.client_id.clone(), installed.client_secret.clone());
        async move {
            let response = client
                .post(format!("{base}/oauth/token/"))
                .form(&json!({"grant_type": "authorization_code", "client_id": id,
                              "client_secret": secret, "code": code}))
                .send()
                .await
                .unwrap();
            read(response).await
        }
    };
    let authorize = || {
        oauth::authorize(
            &app.state.store,
            1,
            &installed.client_id,
            1,
            app.state.clock.now(),
            30.0,
        )
        .unwrap()
    };
    let code = authorize();
    advance(&app, 31.0).await;
    let (status, body) = exchange(code).await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_grant"))
    );
    // A code made at the portal's new time works.
    let (status, body) = exchange(authorize()).await;
    assert_eq!(status, 200, "{body}");

    advance(&app, 180.0 * 86400.0 + 1.0).await;
    let response = app
        .client
        .post(format!("{}/oauth/token/", app.base))
        .form(
            &json!({"grant_type": "refresh_token", "client_id": installed.client_id,
                      "client_secret": installed.client_secret,
                      "refresh_token": body["refresh_token"]}),
        )
        .send()
        .await
        .unwrap();
    let (status, refused) = read(response).await;
    assert_eq!(
        (status, refused["error"].clone()),
        (400, json!("invalid_grant"))
    );
}

#[tokio::test]
async fn advancing_drains_the_request_rate_bucket() {
    let (app, _) = clocked_app(|config| config.plan = Some(Plan::Standard)).await;
    let server_time = || async {
        let response = app
            .client
            .get(format!("{}server.time", app.admin_url))
            .send()
            .await
            .unwrap();
        read(response).await
    };
    for i in 0..50 {
        assert_eq!(server_time().await.0, 200, "request {i}");
    }
    assert_eq!(
        server_time().await,
        (503, envelope("QUERY_LIMIT_EXCEEDED", "Too many requests"))
    );
    // 25 s drain the 50 admitted (2 a second); the admin API itself is not limited.
    advance(&app, 25.0).await;
    for i in 0..50 {
        assert_eq!(server_time().await.0, 200, "request {i} after advancing");
    }
    assert_eq!(server_time().await.0, 503);
}

#[tokio::test]
async fn advancing_ten_minutes_clears_the_operating_limit() {
    let (app, _) = clocked_app(|config| {
        config.operating.limit_secs = 480.0;
        config
            .operating
            .simulated_cost
            .insert("crm.item.list".into(), 100.0);
    })
    .await;
    let list = json!({"entityTypeId": 2});
    for i in 0..5 {
        let (status, body) = app.call("crm.item.list", list.clone()).await;
        assert_eq!(status, 200, "call {i}: {body}");
        assert_eq!(body["time"]["operating_reset_at"], json!(T0 as i64 + 600));
    }
    assert_eq!(
        app.call("crm.item.list", list.clone()).await,
        (
            429,
            envelope(
                "OPERATION_TIME_LIMIT",
                "Method is blocked due to operation time limit."
            )
        )
    );

    advance(&app, 600.0).await;
    let (status, body) = app.call("crm.item.list", list).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["time"]["operating"], 100);
    assert_eq!(
        body["time"]["operating_reset_at"],
        json!(T0 as i64 + 1200),
        "the window restarts at the portal's time"
    );
}

#[tokio::test]
async fn the_time_block_and_created_and_updated_times_follow_the_clock() {
    let (app, _) = clocked_app(|_| {}).await;
    advance(&app, 86400.0).await;
    let day = T0 + 86400.0;
    let (status, body) = app.call("server.time", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"], iso(day));
    assert_eq!(body["time"]["start"], json!(day as i64));
    assert_eq!(body["time"]["date_start"], iso(day));
    assert_eq!(body["time"]["date_finish"], iso(day));

    let item = app.new_item(2, None).await;
    let activity = app.new_todo(2, item).await;
    advance(&app, 3600.0).await;
    let later = day + 3600.0;
    app.ok(
        "crm.item.update",
        json!({"entityTypeId": 2, "id": item, "fields": {"title": "moved"}}),
    )
    .await;
    app.ok(
        "crm.activity.update",
        json!({"id": activity, "fields": {"SUBJECT": "moved"}}),
    )
    .await;

    let got = app
        .ok("crm.item.get", json!({"entityTypeId": 2, "id": item}))
        .await;
    let fields = &got["item"];
    assert_eq!(
        (fields["createdTime"].clone(), fields["updatedTime"].clone()),
        (json!(iso(day)), json!(iso(later)))
    );
    let got = app.ok("crm.activity.get", json!({"id": activity})).await;
    let fields = &got;
    assert_eq!(
        (fields["CREATED"].clone(), fields["LAST_UPDATED"].clone()),
        (json!(iso(day)), json!(iso(later)))
    );
}

#[tokio::test]
async fn an_event_retry_falls_due_when_the_clock_is_advanced_past_it() {
    let (app, _) = clocked_app(|config| config.events = quick_delivery()).await;
    let r = receiver(1).await;
    admin::add_outgoing_webhook(&app.state.store, 1, "ONCRMDEALADD", &r.url).unwrap();
    app.new_item(2, None).await;
    r.wait_for(1).await;
    logged(&app, 1).await;
    // The retry is due 60 s after the failed attempt (quick_delivery's first wait).
    advance(&app, 59.0).await;
    r.assert_no_more_than(1).await;
    let started = std::time::Instant::now();
    advance(&app, 1.0).await;
    let got = r.wait_for(2).await;
    assert_eq!(got[1].pairs, got[0].pairs);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the retry went out {:?} after the clock passed it",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_clock_change_made_through_the_cli_reaches_the_running_server() {
    let (app, _) = clocked_app(|_| {}).await;
    let run = |args: &[&str]| {
        let output = app.cli().args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };

    let advanced = run(&["clock", "advance", "3601"]);
    assert_eq!(
        (advanced["offset_s"].clone(), advanced["frozen"].clone()),
        (json!(3601.0), json!(false))
    );
    let clock = app.state.clock.clone();
    eventually(|| (clock.now() - (T0 + 3601.0)).abs() < 1e-3).await;
    assert_eq!(server_time(&app).await, iso(T0 + 3601.0));
    let shown = run(&["clock"]);
    assert_eq!(shown["offset_s"], json!(3601.0));

    let frozen = run(&["clock", "freeze"]);
    assert_eq!(frozen["frozen"], true);
    let refused = app
        .cli()
        .args(["clock", "advance", "--", "-5"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("only moves forward"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    run(&["clock", "unfreeze"]);

    run(&["clock", "real"]);
    eventually(|| (clock.now() - T0).abs() < 1e-3).await;
    let (_, shown) = app.control(Method::GET, "/clock", None).await;
    assert_eq!(
        shown,
        json!({"now": iso(T0), "offset_s": 0.0, "frozen": false})
    );
}

#[tokio::test]
async fn a_clock_change_through_one_server_reaches_another_on_the_same_database() {
    let (a, _) = clocked_app(|_| {}).await;
    // A second server process on the same data directory (or PostgreSQL schema), with a base
    // clock of its own at the same instant.
    let mut config =
        b24_server::ServeConfig::new(a.dir.path().to_path_buf(), "127.0.0.1:0".parse().unwrap());
    config.database_url = a.database_url.clone();
    config.clock = Arc::new(ManualClock::new(T0));
    let b = b24_server::Application::build(config).await.unwrap();
    let b_base = format!("http://{}", b.local_addr());
    let b_clock = b.state().clock.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let b_server = tokio::spawn(b.run_until_stopped(async {
        let _ = stopped.await;
    }));

    advance(&a, 3601.0).await;
    // B's admin API reads the stored setting at once; its running clock follows within a second.
    let response = a
        .client
        .get(format!("{b_base}/_b24/clock"))
        .bearer_auth(&a.admin_token)
        .send()
        .await
        .unwrap();
    let (status, shown) = read(response).await;
    assert_eq!(
        (status, shown),
        (
            200,
            json!({"now": iso(T0 + 3601.0), "offset_s": 3601.0, "frozen": false})
        )
    );
    eventually(|| (b_clock.now() - (T0 + 3601.0)).abs() < 1e-3).await;

    let (status, _) = a.control(Method::DELETE, "/clock", None).await;
    assert_eq!(status, 200);
    eventually(|| (b_clock.now() - T0).abs() < 1e-3).await;
    drop(stop);
    b_server.await.unwrap().unwrap();
}

#[tokio::test]
async fn returning_to_real_time_leaves_the_request_rate_bucket_draining_from_then() {
    let (app, _) = clocked_app(|config| config.plan = Some(Plan::Standard)).await;
    let server_time = || async {
        let response = app
            .client
            .get(format!("{}server.time", app.admin_url))
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    };
    advance(&app, 86400.0).await;
    for i in 0..50 {
        assert_eq!(server_time().await, 200, "request {i}");
    }
    assert_eq!(server_time().await, 503);
    let (status, _) = app.control(Method::DELETE, "/clock", None).await;
    assert_eq!(status, 200);
    // The bucket keeps its level and drains from the new time, not a day later.
    assert_eq!(server_time().await, 503);
    advance(&app, 25.0).await;
    for i in 0..50 {
        assert_eq!(server_time().await, 200, "request {i} after returning");
    }
}

#[tokio::test]
async fn returning_to_real_time_keeps_a_retry_as_far_away_as_it_was() {
    let (app, _) = clocked_app(|config| config.events = quick_delivery()).await;
    let r = receiver(1).await;
    admin::add_outgoing_webhook(&app.state.store, 1, "ONCRMDEALADD", &r.url).unwrap();
    advance(&app, 3600.0).await;
    app.new_item(2, None).await;
    r.wait_for(1).await;
    logged(&app, 1).await;
    // Due 60 s after the failure; back at real time, it is due 60 s from there.
    let (status, _) = app.control(Method::DELETE, "/clock", None).await;
    assert_eq!(status, 200);
    advance(&app, 59.0).await;
    r.assert_no_more_than(1).await;
    advance(&app, 1.0).await;
    r.wait_for(2).await;
}
