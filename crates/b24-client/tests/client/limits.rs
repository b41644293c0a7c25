//! Limits and retries. The request-rate and operating-time limiters are the real server's; the
//! failures a server cannot be told to produce (a lost answer, a 5xx, a proxy's HTML) come from
//! the stub.

use crate::helpers::{assert_api_error, fast_retries, spawn_server_with};
use crate::stub::{Reply, Stub, start_black_hole};
use b24_client::{Client, ErrorKind, OperatingBudget, Plan, RetryPolicy};
use b24_server::clock::ManualClock;
use b24_server::limits::Plan as ServerPlan;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn client(url: &str, plan: Plan, retry: RetryPolicy) -> Client {
    Client::builder(url)
        .plan(plan)
        .retry(retry)
        .build()
        .unwrap()
}

/// A standard-plan server on a manual clock: its bucket drains only when the test says so.
async fn standard_plan_server() -> (crate::helpers::Server, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_800_000_000.0));
    let c = clock.clone();
    let server = spawn_server_with(move |config| {
        config.plan = Some(ServerPlan::Standard);
        config.clock = c;
    })
    .await;
    (server, clock)
}

#[tokio::test]
async fn a_write_refused_by_the_servers_rate_limit_waits_for_retry_after_and_lands_once() {
    let (server, clock) = standard_plan_server().await;
    // No client-side bucket: let the server's refuse the 51st request.
    let client = client(&server.admin_url, Plan::Unlimited, fast_retries());
    for _ in 0..50 {
        client.server_time().await.unwrap();
    }
    // Half a second of drain (one request's worth) happens while the client waits.
    let drain = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        clock.advance(0.5);
    });

    let started = Instant::now();
    let deal = client
        .crm()
        .item()
        .add(2, json!({"title": "once"}))
        .await
        .unwrap();

    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited for Retry-After: 1"
    );
    drain.await.unwrap();
    // Had the refused attempt created a deal, this one would be deal 2.
    assert_eq!(deal.id, 1, "the refused attempt created nothing");
}

#[tokio::test]
async fn without_retries_the_rate_limit_is_query_limit_exceeded_503() {
    let (server, _clock) = standard_plan_server().await;
    let client = client(&server.admin_url, Plan::Unlimited, RetryPolicy::none());
    for _ in 0..50 {
        client.server_time().await.unwrap();
    }
    let result = client.server_time().await;
    let error = result.as_ref().unwrap_err();
    assert!(error.is_rate_limited() && !error.is_ambiguous());
    assert_api_error(
        result,
        "QUERY_LIMIT_EXCEEDED",
        "Too many requests",
        Some(503),
    );
}

#[tokio::test]
async fn the_client_side_bucket_keeps_a_standard_plan_caller_under_the_servers_limit() {
    let server = spawn_server_with(|c| c.plan = Some(ServerPlan::Standard)).await;
    // No retries: a single 503 would fail the test.
    let client = client(&server.admin_url, Plan::Standard, RetryPolicy::none());
    let started = Instant::now();
    for i in 0..52 {
        client
            .server_time()
            .await
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
    }
    // 52 requests through a bucket of 49 (50 less the client's headroom) at 2/s: the last
    // three had to wait for 1.5 s of drain in all.
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_method_over_its_operating_budget_is_operation_time_limit_429() {
    let server = spawn_server_with(|c| {
        c.operating.limit_secs = 480.0;
        c.operating
            .simulated_cost
            .insert("crm.item.list".into(), 250.0);
    })
    .await;
    // Pacing off (a huge budget) and a short patience: the 10-minute wait is not taken.
    let client = Client::builder(&server.admin_url)
        .plan(Plan::Unlimited)
        .retry(fast_retries())
        .operating_budget(OperatingBudget {
            limit_secs: 1e9,
            slow_down_from: 1.0,
        })
        .build()
        .unwrap();
    let list = json!({"entityTypeId": 2});
    for expected in [250.0, 500.0] {
        let answer = client.call("crm.item.list", list.clone()).await.unwrap();
        let time = answer.time.unwrap();
        assert_eq!(time.operating.round(), expected);
        assert!(time.operating_reset_at as f64 > b24_now() + 590.0);
    }

    let started = Instant::now();
    let result = client.call("crm.item.list", list).await;

    assert!(
        started.elapsed() < Duration::from_secs(1),
        "did not sleep until the reset"
    );
    assert_api_error(
        result,
        "OPERATION_TIME_LIMIT",
        "Method is blocked due to operation time limit.",
        Some(429),
    );
    client
        .server_time()
        .await
        .expect("other methods keep working");
}

#[tokio::test]
async fn the_client_slows_a_method_down_as_its_operating_time_nears_the_budget() {
    let server = spawn_server_with(|c| {
        c.operating
            .simulated_cost
            .insert("crm.item.list".into(), 300.0);
    })
    .await;
    let client = Client::builder(&server.admin_url)
        .plan(Plan::Unlimited)
        .retry(RetryPolicy {
            max_wait: Duration::from_millis(700),
            ..fast_retries()
        })
        .build()
        .unwrap();
    let list = json!({"entityTypeId": 2});
    let started = Instant::now();
    client.call("crm.item.list", list.clone()).await.unwrap();
    client.server_time().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "other methods are not paced"
    );

    // 300 of 420 s used: well past half, so the next call of this method is held back (capped
    // here at max_wait, 0.7 s).
    let started = Instant::now();
    client.call("crm.item.list", list).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(650),
        "{:?}",
        started.elapsed()
    );
}

fn b24_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Stands in for a server or proxy that fails with a 5xx; b24-server answers deterministic
/// errors with 4xx and cannot be told to fail this way.
async fn failing_stub(failures: usize, failure: fn() -> Reply) -> Stub {
    Stub::start(move |_, index| {
        if index < failures {
            failure()
        } else {
            Reply::ok(json!({"item": {"id": 1}}))
        }
    })
    .await
}

#[tokio::test]
async fn a_write_answered_with_a_5xx_is_not_retried_and_is_reported_ambiguous() {
    let stub = failing_stub(1, || {
        Reply::error(500, "INTERNAL_SERVER_ERROR", "Internal server error")
    })
    .await;
    let client = client(&stub.webhook(), Plan::Unlimited, fast_retries());

    let error = client
        .crm()
        .item()
        .add(2, json!({"title": "x"}))
        .await
        .unwrap_err();

    assert!(error.is_ambiguous());
    assert_eq!(
        (error.code(), error.status()),
        (Some("INTERNAL_SERVER_ERROR"), Some(500))
    );
    assert_eq!(
        stub.requests().len(),
        1,
        "a write is never repeated blindly"
    );
}

#[tokio::test]
async fn a_read_answered_with_a_5xx_or_a_proxy_page_is_retried() {
    let stub = failing_stub(2, || Reply::html(502)).await;
    let client = client(&stub.webhook(), Plan::Unlimited, fast_retries());

    let item = client.crm().item().get(2, 1).await.unwrap();

    assert_eq!(item.id, 1);
    assert_eq!(stub.requests().len(), 3);
}

#[tokio::test]
async fn a_proxy_page_on_a_write_is_an_ambiguous_unexpected_response() {
    let stub = failing_stub(1, || Reply::html(504)).await;
    let client = client(&stub.webhook(), Plan::Unlimited, fast_retries());
    let error = client
        .crm()
        .activity()
        .binding()
        .delete(1, 2, 3)
        .await
        .unwrap_err();
    assert!(matches!(
        error.kind(),
        ErrorKind::UnexpectedResponse { status: 504, .. }
    ));
    assert!(error.is_ambiguous());
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test]
async fn a_429_is_retried_even_for_a_write_because_the_server_refused_it_before_running_it() {
    let stub = failing_stub(1, || {
        Reply::error(
            429,
            "OPERATION_TIME_LIMIT",
            "Method is blocked due to operation time limit.",
        )
        .retry_after(0)
    })
    .await;
    let client = client(&stub.webhook(), Plan::Unlimited, fast_retries());
    client
        .crm()
        .item()
        .add(2, json!({"title": "x"}))
        .await
        .unwrap();
    assert_eq!(stub.requests().len(), 2);
}

#[tokio::test]
async fn retries_stop_after_max_retries() {
    let stub = failing_stub(usize::MAX, || {
        Reply::error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
    })
    .await;
    let client = client(&stub.webhook(), Plan::Unlimited, fast_retries());
    assert_api_error(
        client.server_time().await,
        "QUERY_LIMIT_EXCEEDED",
        "Too many requests",
        Some(503),
    );
    assert_eq!(stub.requests().len(), 4, "one attempt and three retries");
}

#[tokio::test]
async fn a_retry_after_longer_than_max_wait_returns_the_error_at_once() {
    let stub = failing_stub(usize::MAX, || {
        Reply::error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests").retry_after(3600)
    })
    .await;
    let client = client(&stub.webhook(), Plan::Unlimited, fast_retries());
    let started = Instant::now();
    assert!(client.server_time().await.unwrap_err().is_rate_limited());
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test]
async fn a_400_is_never_retried() {
    let stub = failing_stub(usize::MAX, || {
        Reply::error(400, "NOT_FOUND", "Entity not found")
    })
    .await;
    let client = client(&stub.webhook(), Plan::Unlimited, fast_retries());
    assert_api_error(
        client.crm().activity().binding().list(1).await,
        "NOT_FOUND",
        "Entity not found",
        Some(400),
    );
    assert_eq!(stub.requests().len(), 1);
}

#[tokio::test]
async fn a_lost_answer_to_a_write_is_not_retried_but_a_lost_answer_to_a_read_is() {
    let (url, delivered) = start_black_hole().await;
    let client = client(&url, Plan::Unlimited, fast_retries());

    let error = client
        .crm()
        .item()
        .add(2, json!({"title": "x"}))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.kind(),
            ErrorKind::Transport {
                maybe_sent: true,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_ambiguous());
    assert_eq!(
        *delivered.lock().unwrap(),
        1,
        "the write went out exactly once"
    );

    let error = client.crm().item().get(2, 1).await.unwrap_err();
    assert!(error.is_ambiguous());
    assert_eq!(
        *delivered.lock().unwrap(),
        1 + 4,
        "the read was tried four times"
    );
}

#[tokio::test]
async fn a_refused_connection_is_not_ambiguous() {
    // Bind and drop a listener: its port is now closed.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = client(
        &format!("http://127.0.0.1:{port}/rest/1/x/"),
        Plan::Unlimited,
        fast_retries(),
    );
    let error = client.crm().item().add(2, json!({})).await.unwrap_err();
    assert!(
        matches!(
            error.kind(),
            ErrorKind::Transport {
                maybe_sent: false,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.is_ambiguous());
}

#[tokio::test]
async fn a_batch_of_writes_is_a_write_and_a_batch_of_reads_is_a_read() {
    let stub = failing_stub(usize::MAX, || Reply::html(502)).await;
    let client = client(&stub.webhook(), Plan::Unlimited, fast_retries());

    let mut writes = client.batch();
    writes.push(&b24_client::methods::binding::Add {
        activity_id: 1,
        entity_type_id: 2,
        entity_id: 3,
    });
    writes.push(&b24_client::methods::system::ServerTime);
    assert!(writes.send().await.unwrap_err().is_ambiguous());
    assert_eq!(stub.requests().len(), 1);

    let mut reads = client.batch();
    reads.push(&b24_client::methods::binding::List { activity_id: 1 });
    reads.push(&b24_client::methods::system::ServerTime);
    assert!(reads.send().await.is_err());
    assert_eq!(stub.requests().len(), 1 + 4);
}

#[tokio::test]
async fn a_batch_is_paced_by_the_operating_time_of_its_commands() {
    let server = spawn_server_with(|c| {
        c.operating
            .simulated_cost
            .insert("crm.item.list".into(), 300.0);
    })
    .await;
    let client = Client::builder(&server.admin_url)
        .plan(Plan::Unlimited)
        .retry(RetryPolicy {
            max_wait: Duration::from_millis(700),
            ..fast_retries()
        })
        .build()
        .unwrap();
    let mut first = client.batch();
    first.push_raw::<serde_json::Value>("crm.item.list", json!({"entityTypeId": 2}));
    let started = Instant::now();
    first.send().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(500));

    // The command reported 300 of 420 s: the next batch carrying it waits (capped at 0.7 s).
    let mut second = client.batch();
    second.push_raw::<serde_json::Value>("crm.item.list", json!({"entityTypeId": 2}));
    let started = Instant::now();
    second.send().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(650),
        "{:?}",
        started.elapsed()
    );
}
