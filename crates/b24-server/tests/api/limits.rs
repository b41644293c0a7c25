//! The request-rate and operating-time limiters (spec §5), driven by a manual clock.

use crate::helpers::{envelope, read, spawn_app_with, TestApp};
use b24_server::clock::ManualClock;
use b24_server::limits::Plan;
use serde_json::json;
use std::sync::Arc;

const T0: f64 = 1_800_000_000.0;

async fn limited_app(plan: Plan) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let c = clock.clone();
    let app = spawn_app_with(move |config| {
        config.plan = Some(plan);
        config.clock = c;
    })
    .await;
    (app, clock)
}

async fn server_time(app: &TestApp) -> (u16, serde_json::Value, Option<String>) {
    let response = app
        .client
        .get(format!("{}server.time", app.admin_url))
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, body) = read(response).await;
    (status, body, retry_after)
}

#[tokio::test]
async fn the_standard_plan_admits_exactly_the_burst_then_two_requests_a_second() {
    let (app, clock) = limited_app(Plan::Standard).await;
    for i in 0..50 {
        assert_eq!(server_time(&app).await.0, 200, "request {i}");
    }

    let (status, body, retry_after) = server_time(&app).await;
    assert_eq!(
        (status, body),
        (503, envelope("QUERY_LIMIT_EXCEEDED", "Too many requests"))
    );
    assert_eq!(retry_after.as_deref(), Some("1"));

    clock.advance(0.5);
    assert_eq!(
        server_time(&app).await.0,
        200,
        "half a second drains one request"
    );
    assert_eq!(server_time(&app).await.0, 503);
    clock.advance(5.0);
    for _ in 0..10 {
        assert_eq!(server_time(&app).await.0, 200);
    }
    assert_eq!(server_time(&app).await.0, 503);
}

#[tokio::test]
async fn the_enterprise_plan_admits_a_burst_of_250() {
    let (app, clock) = limited_app(Plan::Enterprise).await;
    for _ in 0..250 {
        assert_eq!(server_time(&app).await.0, 200);
    }
    assert_eq!(server_time(&app).await.0, 503);
    clock.advance(0.2);
    assert_eq!(server_time(&app).await.0, 200, "5 per second");
}

#[tokio::test]
async fn a_batch_counts_as_one_request() {
    let (app, _clock) = limited_app(Plan::Standard).await;
    let cmd: Vec<&str> = vec!["server.time"; 50];
    for _ in 0..49 {
        assert_eq!(server_time(&app).await.0, 200);
    }
    let (status, body) = app.call("batch", json!({"cmd": cmd})).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["result"].as_array().unwrap().len(), 50);
    assert_eq!(server_time(&app).await.0, 503);
}

#[tokio::test]
async fn limited_requests_change_nothing() {
    let (app, _clock) = limited_app(Plan::Standard).await;
    for _ in 0..50 {
        server_time(&app).await;
    }
    let (status, _) = app
        .call(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "x"}}),
        )
        .await;
    assert_eq!(status, 503);
    let list = b24_server::store::Store::open(
        app.database_url.as_deref(),
        app.dir.path(),
        Arc::new(b24_server::clock::SystemClock),
    )
    .unwrap()
    .read(1, |tx| tx.item_assignee(2, 1))
    .unwrap();
    assert_eq!(list, None);
}

async fn costly_app(cost: f64) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let c = clock.clone();
    let app = spawn_app_with(move |config| {
        config.clock = c;
        config.operating.limit_secs = 480.0;
        config
            .operating
            .simulated_cost
            .insert("crm.item.list".into(), cost);
    })
    .await;
    (app, clock)
}

#[tokio::test]
async fn the_operating_limiter_blocks_a_method_over_its_budget_and_unblocks_when_buckets_expire() {
    let (app, clock) = costly_app(100.0).await;
    let list = json!({"entityTypeId": 2});
    let mut operating = Vec::new();
    for _ in 0..5 {
        let (status, body) = app.call("crm.item.list", list.clone()).await;
        assert_eq!(status, 200);
        operating.push(body["time"]["operating"].as_f64().unwrap().round() as i64);
        assert_eq!(body["time"]["operating_reset_at"], json!(T0 as i64 + 600));
        clock.advance(30.0);
    }
    assert_eq!(operating, [100, 200, 300, 400, 500]);

    let response = app
        .client
        .post(format!("{}crm.item.list", app.admin_url))
        .json(&list)
        .send()
        .await
        .unwrap();
    let retry_after = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .to_string();
    let (status, body) = read(response).await;
    assert_eq!(
        (status, body),
        (
            429,
            envelope(
                "OPERATION_TIME_LIMIT",
                "Method is blocked due to operation time limit."
            )
        )
    );
    assert_eq!(
        retry_after, "450",
        "the first bucket expires 600 s after the first call, 150 s ago"
    );
    let (status, body) = app.call("server.time", json!({})).await;
    assert_eq!(status, 200, "other methods keep working");
    assert_eq!(body["time"]["operating"], 0);

    // The first two calls fall in the first minute; once that bucket leaves the window the
    // total drops to 300 and the method works again.
    clock.advance(600.0 - 150.0 + 1.0);
    let (status, body) = app.call("crm.item.list", list).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["time"]["operating"].as_f64().unwrap().round() as i64,
        400
    );
}

#[tokio::test]
async fn calls_under_a_tenth_of_a_second_are_not_counted() {
    let (app, _clock) = costly_app(0.05).await;
    for _ in 0..3 {
        let (_, body) = app.call("crm.item.list", json!({"entityTypeId": 2})).await;
        assert_eq!(body["time"]["operating"], 0);
    }
}

#[tokio::test]
async fn a_blocked_method_inside_a_batch_fails_only_that_command() {
    let (app, _clock) = costly_app(500.0).await;
    app.ok("crm.item.list", json!({"entityTypeId": 2})).await;
    let (status, body) = app
        .call(
            "batch",
            json!({"cmd": ["crm.item.list?entityTypeId=2", "server.time"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"]["result_error"],
        json!([{"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked due to operation time limit."}])
    );
    assert_eq!(body["time"]["operating"], 0, "batch itself is exempt");
}

#[tokio::test]
async fn portal_set_plan_applies_to_a_running_server() {
    let (app, _clock) = limited_app(Plan::Unlimited).await;
    for _ in 0..60 {
        assert_eq!(server_time(&app).await.0, 200);
    }
    let out = app
        .cli()
        .args(["portal", "set-plan", "standard"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "plan set to standard\n"
    );
    // The server re-reads the plan every second (real time, not the test clock).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if app.state.plan.get() == Plan::Standard {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the plan was not applied"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..51 {
            v.push(server_time(&app).await.0);
        }
        v
    };
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), 1);
}

/// Behind a trusted proxy every client arrives from the proxy's address; the bucket follows the
/// address the proxy appended to `X-Forwarded-For` instead. From anyone else the header is ignored.
#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let clock = Arc::new(ManualClock::new(T0));
    let c = clock.clone();
    let app = spawn_app_with(move |config| {
        config.plan = Some(Plan::Standard);
        config.clock = c;
        config.security.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let from = |client: &'static str| {
        let request = app
            .client
            .get(format!("{}server.time", app.admin_url))
            .header("x-forwarded-for", format!("203.0.113.9, {client}"));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    for _ in 0..50 {
        assert_eq!(from("198.51.100.1").await, 200);
    }
    assert_eq!(
        from("198.51.100.1").await,
        503,
        "the first client's burst is spent"
    );
    assert_eq!(
        from("198.51.100.2").await,
        200,
        "another client behind the proxy is not"
    );
}
