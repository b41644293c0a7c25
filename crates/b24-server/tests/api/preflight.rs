//! `OPTIONS` (issue 22, item 3): a browser's CORS preflight is answered for `/rest/…` and
//! `/oauth/token/` before rate limiting and authentication, and runs nothing; elsewhere 405.

use crate::helpers::spawn_app_with;
use b24_server::clock::ManualClock;
use b24_server::limits::Plan;
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;

fn assert_preflight(response: &reqwest::Response, what: &str) {
    assert!(
        response.status().is_success(),
        "{what}: {}",
        response.status()
    );
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_string()
    };
    assert_eq!(header("access-control-allow-origin"), "*", "{what}");
    assert_eq!(
        header("access-control-allow-headers"),
        "origin, content-type, accept",
        "{what}"
    );
    let methods = header("access-control-allow-methods");
    for verb in ["GET", "POST"] {
        assert!(methods.contains(verb), "{what}: {methods}");
    }
}

#[tokio::test]
async fn an_options_preflight_runs_nothing_needs_no_credentials_is_not_rate_limited_and_carries_the_cors_headers(
) {
    let clock = Arc::new(ManualClock::new(1_800_000_000.0));
    let app = spawn_app_with(move |config| {
        config.plan = Some(Plan::Standard);
        config.clock = clock;
    })
    .await;
    let options = |url: String| app.client.request(Method::OPTIONS, url).send();

    // Through the webhook, with everything a write needs in the query string: nothing is written.
    let add = format!(
        "{}crm.item.add?entityTypeId=2&fields[title]=preflight",
        app.admin_url
    );
    let response = options(add).await.unwrap();
    assert_preflight(&response, "webhook path");
    assert_eq!(
        response.text().await.unwrap(),
        "",
        "a preflight has no body"
    );

    // With a JSON body that would add an item: nothing is read or written either.
    let response = app
        .client
        .request(Method::OPTIONS, format!("{}crm.item.add", app.admin_url))
        .json(&json!({"entityTypeId": 2, "fields": {"title": "preflight body"}}))
        .send()
        .await
        .unwrap();
    assert_preflight(&response, "webhook path with a JSON body");

    // Sixty preflights, more than the burst of 50: none is refused, and none spends the bucket.
    for n in 0..60 {
        let response = options(format!("{}crm.item.list", app.admin_url))
            .await
            .unwrap();
        assert_preflight(&response, &format!("preflight {n}"));
    }
    // Without credentials, on the token form of the path and on the token endpoint.
    for path in [
        "/rest/crm.item.list",
        "/rest/crm.item.list.json",
        "/oauth/token/",
        "/oauth/token",
    ] {
        let response = options(format!("{}{path}", app.base)).await.unwrap();
        assert_preflight(&response, path);
    }

    let result = app.ok("crm.item.list", json!({"entityTypeId": 2})).await;
    assert_eq!(result["items"], json!([]), "the preflight added nothing");
    for n in 0..49 {
        let (status, body) = app.call("server.time", json!({})).await;
        assert_eq!(status, 200, "call {n} after the preflights: {body}");
    }
    let (status, _) = app.call("server.time", json!({})).await;
    assert_eq!(status, 503, "the burst of 50 is all the real calls'");
}

#[tokio::test]
async fn options_outside_the_rest_api_and_the_token_endpoint_is_405() {
    let app = spawn_app_with(|_| {}).await;
    for path in ["/", "/index.php", "/oauth/authorize/"] {
        let response = app
            .client
            .request(Method::OPTIONS, format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405, "{path}");
    }
}
