//! OAuth: refresh on `expired_token` and one replay, the refresh callback, proactive refresh.
//!
//! These run against the stub until b24-server serves OAuth (`/oauth/token/`, `expired_token`):
//! the stub answers exactly the wire format of spec §7.2 — `auth` in the parameters, 401
//! `expired_token` for a stale token, and the token endpoint's JSON answer.

use crate::helpers::fast_retries;
use crate::stub::{Recorded, Reply, Stub};
use b24_client::{Client, OAuthConfig, OAuthTokens, Plan};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A portal whose only valid access token is `valid`, and a token endpoint that exchanges the
/// refresh token `r1` for it (and `r2`), once.
async fn portal() -> Stub {
    Stub::start(|request: &Recorded, _| {
        if request.path == "/oauth/token/" {
            let query: HashMap<String, String> = url_pairs(&request.query).into_iter().collect();
            let expected = [
                ("grant_type", "refresh_token"),
                ("client_id", "app.1"),
                ("client_secret", "s3cret"),
                ("refresh_token", "r1"),
            ];
            if expected
                .iter()
                .all(|(k, v)| query.get(*k).map(String::as_str) == Some(v))
            {
                return Reply::json(
                    200,
                    json!({"access_token": "valid", "refresh_token": "r2", "expires": 4102444800i64,
                           "expires_in": 3600, "scope": "crm", "domain": "oauth.bitrix.info",
                           "member_id": "m", "status": "L", "user_id": 1}),
                );
            }
            return Reply::error(400, "invalid_grant", "Invalid refresh token");
        }
        match request.body.get("auth").and_then(|v| v.as_str()) {
            Some("valid") => Reply::ok(json!(true)),
            Some(_) => Reply::error(
                401,
                "expired_token",
                "The access token provided has expired",
            ),
            None => Reply::error(401, "NO_AUTH_FOUND", "Wrong authorization data"),
        }
    })
    .await
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn oauth_client(stub: &Stub, tokens: OAuthTokens, seen: Arc<Mutex<Vec<OAuthTokens>>>) -> Client {
    let config = OAuthConfig::new("app.1", "s3cret", tokens)
        .token_url(format!("{}/oauth/token/", stub.base))
        .on_refresh(move |t| seen.lock().unwrap().push(t.clone()));
    Client::builder_oauth(&format!("{}/rest/", stub.base), config)
        .plan(Plan::Unlimited)
        .retry(fast_retries())
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_expired_token_is_refreshed_the_new_tokens_are_handed_over_and_the_call_replayed_once() {
    let stub = portal().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = oauth_client(&stub, OAuthTokens::new("stale", "r1"), seen.clone());

    let added = client
        .crm()
        .activity()
        .binding()
        .add(1, 2, 3)
        .await
        .unwrap();

    assert!(added);
    let paths: Vec<String> = stub.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/rest/crm.activity.binding.add",
            "/oauth/token/",
            "/rest/crm.activity.binding.add"
        ]
    );
    let requests = stub.requests();
    assert_eq!(requests[2].body["auth"], "valid");
    assert_eq!(requests[2].body["activityId"], 1);
    let fresh = OAuthTokens {
        access_token: "valid".into(),
        refresh_token: "r2".into(),
        expires: Some(4102444800),
    };
    assert_eq!(client.oauth_tokens().as_ref(), Some(&fresh));
    assert_eq!(*seen.lock().unwrap(), [fresh]);
}

#[tokio::test]
async fn concurrent_calls_that_all_see_an_expired_token_refresh_it_once() {
    let stub = portal().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = oauth_client(&stub, OAuthTokens::new("stale", "r1"), seen.clone());

    let calls = (0..8).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.call("server.time", json!({})).await })
    });
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().result, json!(true));
    }
    let refreshes = stub
        .requests()
        .iter()
        .filter(|r| r.path == "/oauth/token/")
        .count();
    assert_eq!(refreshes, 1);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_token_still_expired_after_the_refresh_is_returned_not_replayed_again() {
    let stub = Stub::start(|request: &Recorded, _| {
        if request.path == "/oauth/token/" {
            Reply::json(
                200,
                json!({"access_token": "also-stale", "refresh_token": "r2"}),
            )
        } else {
            Reply::error(
                401,
                "expired_token",
                "The access token provided has expired",
            )
        }
    })
    .await;
    let client = oauth_client(&stub, OAuthTokens::new("stale", "r1"), Arc::default());

    let error = client.call("server.time", json!({})).await.unwrap_err();

    assert_eq!(
        (error.code(), error.description(), error.status()),
        (
            Some("expired_token"),
            Some("The access token provided has expired"),
            Some(401)
        )
    );
    assert_eq!(stub.requests().len(), 3, "call, refresh, one replay");
}

#[tokio::test]
async fn a_refused_refresh_is_returned_with_the_token_endpoints_error() {
    let stub = portal().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = oauth_client(
        &stub,
        OAuthTokens::new("stale", "wrong-refresh"),
        seen.clone(),
    );

    let error = client.call("server.time", json!({})).await.unwrap_err();

    assert_eq!(
        (error.code(), error.description(), error.status()),
        (
            Some("invalid_grant"),
            Some("Invalid refresh token"),
            Some(400)
        )
    );
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(client.oauth_tokens().unwrap().access_token, "stale");
}

#[tokio::test]
async fn a_token_known_to_have_expired_is_refreshed_before_the_call() {
    let stub = portal().await;
    let tokens = OAuthTokens {
        access_token: "stale".into(),
        refresh_token: "r1".into(),
        expires: Some(1_000_000_000),
    };
    let client = oauth_client(&stub, tokens, Arc::default());

    client.call("server.time", json!({})).await.unwrap();

    let paths: Vec<String> = stub.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/oauth/token/", "/rest/server.time"]);
}

#[tokio::test]
async fn a_batch_carries_the_token_once_for_all_its_commands() {
    let stub = portal().await;
    let client = oauth_client(&stub, OAuthTokens::new("valid", "r1"), Arc::default());
    let mut batch = client.batch();
    batch.push(&b24_client::methods::system::ServerTime);
    batch.send().await.unwrap();
    let requests = stub.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].body["auth"], "valid");
    assert_eq!(requests[0].body["cmd"], json!({"c0": "server.time"}));
}

#[test]
fn tokens_are_never_printed() {
    let printed = format!("{:?}", OAuthTokens::new("secret-access", "secret-refresh"));
    assert!(!printed.contains("secret"), "{printed}");
}
