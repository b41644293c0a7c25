//! Behind a trusted proxy, forwarding headers sent as several lines (issue 22, item 2): the value
//! that counts is the last of all lines joined (RFC 9110 §5.3) — the one the proxy appended —
//! never a line the client wrote itself.

use crate::helpers::{read, spawn_app_with};
use b24_server::clock::ManualClock;
use b24_server::limits::Plan;
use std::sync::Arc;

#[tokio::test]
async fn the_rate_limit_key_is_the_last_x_forwarded_for_value_over_all_lines_not_the_first_line() {
    let clock = Arc::new(ManualClock::new(1_800_000_000.0));
    let app = spawn_app_with(move |config| {
        config.plan = Some(Plan::Standard);
        config.clock = clock;
        config.security.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    // The client sends a line of its own, new on every request; the proxy adds its own line.
    let from = |forged: String, appended: &'static str| {
        let request = app
            .client
            .get(format!("{}server.time", app.admin_url))
            .header("x-forwarded-for", forged)
            .header("x-forwarded-for", appended);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    for n in 0..50 {
        assert_eq!(from(format!("203.0.113.{n}"), "198.51.100.7").await, 200);
    }
    assert_eq!(
        from("203.0.113.200".into(), "198.51.100.7").await,
        503,
        "a forged first line does not buy a fresh bucket"
    );
    assert_eq!(
        from("203.0.113.201".into(), "198.51.100.8").await,
        200,
        "another client behind the proxy has its own bucket"
    );
    // One line extended by the proxy, then a line of its own: still the last value.
    let request = app
        .client
        .get(format!("{}server.time", app.admin_url))
        .header("x-forwarded-for", "203.0.113.250, 203.0.113.251")
        .header("x-forwarded-for", "198.51.100.7");
    assert_eq!(request.send().await.unwrap().status().as_u16(), 503);
}

#[tokio::test]
async fn require_https_reads_the_last_x_forwarded_proto_value_over_all_lines_not_the_first_line() {
    let app = spawn_app_with(|config| {
        config.security.require_https = true;
        config.security.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let with_proto = |lines: &[&str]| {
        let mut request = app.client.get(format!("{}server.time", app.admin_url));
        for line in lines {
            request = request.header("x-forwarded-proto", *line);
        }
        async move { read(request.send().await.unwrap()).await }
    };
    let (status, body) = with_proto(&["https", "http"]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("INVALID_REQUEST")),
        "the client's own `https` line does not count when the proxy says http: {body}"
    );
    let (status, body) = with_proto(&["http", "https"]).await;
    assert_eq!(status, 200, "the proxy terminated TLS: {body}");
    let (status, body) = with_proto(&["https, http"]).await;
    assert_eq!(status, 401, "{body}");
}
