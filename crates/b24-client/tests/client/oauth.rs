//! OAuth against the real server (spec §7.2): the code exchange, refresh on `expired_token` and
//! one replay, the refresh callback, one refresh for many concurrent calls, proactive refresh.
//! The server runs on a manual clock so that an hour passes instantly.

use crate::helpers::{Server, fast_retries, spawn_server_with};
use crate::stub::{Recorded, Reply, Stub};
use b24_client::{Client, OAuthConfig, OAuthTokens, Plan, exchange_code};
use b24_server::clock::{Clock, ManualClock};
use b24_server::oauth;
use serde_json::json;
use std::sync::{Arc, Mutex};

struct Portal {
    server: Server,
    clock: Arc<ManualClock>,
    client_id: String,
    client_secret: String,
}

async fn portal() -> Portal {
    let clock = Arc::new(ManualClock::new(1_800_000_000.0));
    let c = clock.clone();
    let server = spawn_server_with(move |config| config.clock = c).await;
    let scopes = b24_server::admin::parse_scopes(Some("crm")).unwrap();
    let app = oauth::create_app(&server.state.store, 1, "Test app", &scopes, "").unwrap();
    Portal {
        server,
        clock,
        client_id: app.client_id,
        client_secret: app.client_secret,
    }
}

impl Portal {
    fn token_url(&self) -> String {
        format!("{}/oauth/token/", self.server.base)
    }

    /// The first token pair, through the authorization-code grant.
    async fn tokens(&self) -> OAuthTokens {
        let code = oauth::authorize(
            &self.server.state.store,
            1,
            &self.client_id,
            1,
            self.clock.now(),
            30.0,
        )
        .unwrap();
        let grant = exchange_code(
            &self.token_url(),
            &self.client_id,
            &self.client_secret,
            &code,
        )
        .await
        .unwrap();
        assert_eq!(
            grant.client_endpoint,
            Some(format!("{}/rest/", self.server.base))
        );
        assert_eq!(grant.scope.as_deref(), Some("crm"));
        grant.tokens
    }

    fn client(&self, tokens: OAuthTokens, seen: Arc<Mutex<Vec<OAuthTokens>>>) -> Client {
        let config = OAuthConfig::new(&self.client_id, &self.client_secret, tokens)
            .token_url(self.token_url())
            .on_refresh(move |t| seen.lock().unwrap().push(t.clone()));
        Client::builder_oauth(&format!("{}/rest/", self.server.base), config)
            .plan(Plan::Unlimited)
            .retry(fast_retries())
            .build()
            .unwrap()
    }
}

#[tokio::test]
async fn an_expired_token_is_refreshed_handed_to_the_callback_and_the_call_replayed_once() {
    let portal = portal().await;
    let first = portal.tokens().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = portal.client(first.clone(), seen.clone());
    let deal = client
        .crm()
        .item()
        .add(2, json!({"title": "before"}))
        .await
        .unwrap();

    portal.clock.advance(3600.0);
    let again = client
        .crm()
        .item()
        .add(2, json!({"title": "after"}))
        .await
        .unwrap();

    assert_eq!(again.id, deal.id + 1, "the replayed write landed once");
    let refreshed = seen.lock().unwrap().clone();
    assert_eq!(refreshed.len(), 1);
    assert_ne!(refreshed[0].access_token, first.access_token);
    assert_ne!(refreshed[0].refresh_token, first.refresh_token);
    assert_eq!(client.oauth_tokens(), Some(refreshed[0].clone()));
}

#[tokio::test]
async fn concurrent_calls_that_all_see_an_expired_token_refresh_it_once() {
    let portal = portal().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = portal.client(portal.tokens().await, seen.clone());
    portal.clock.advance(3600.0);

    let calls: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.server_time().await })
        })
        .collect();

    for call in calls {
        // A second refresh would fail: a refresh token works once.
        call.await.unwrap().unwrap();
    }
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_refused_refresh_is_returned_with_the_token_endpoints_error() {
    let portal = portal().await;
    let mut tokens = portal.tokens().await;
    tokens.refresh_token = "not-a-refresh-token".into();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = portal.client(tokens.clone(), seen.clone());
    portal.clock.advance(3600.0);

    let error = client.server_time().await.unwrap_err();

    assert_eq!(
        (error.code(), error.description(), error.status()),
        (
            Some("invalid_grant"),
            Some("The refresh token is invalid or was already used"),
            Some(400)
        )
    );
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(client.oauth_tokens(), Some(tokens));
}

#[tokio::test]
async fn a_token_known_to_have_expired_is_refreshed_before_the_call() {
    let portal = portal().await;
    let mut tokens = portal.tokens().await;
    tokens.expires = Some(1_000_000_000);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = portal.client(tokens, seen.clone());

    client.server_time().await.unwrap();

    let refreshed = seen.lock().unwrap().clone();
    assert_eq!(refreshed.len(), 1);
    let expires = refreshed[0].expires.unwrap() as f64;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (expires - (now + 3600.0)).abs() < 60.0,
        "expiry by our clock: {expires}"
    );
}

#[tokio::test]
async fn batches_lists_and_typed_calls_work_with_a_token() {
    let portal = portal().await;
    let client = portal.client(portal.tokens().await, Arc::default());
    let mut batch = client.batch();
    for i in 0..60 {
        batch.push(&b24_client::methods::item::Add {
            entity_type_id: 2,
            fields: json!({"title": format!("{i}")}),
        });
    }
    batch.send().await.unwrap();
    portal.clock.advance(3600.0);
    let deals: Vec<_> =
        futures::TryStreamExt::try_collect(client.crm().item().list_fast(2, Default::default()))
            .await
            .unwrap();
    assert_eq!(deals.len(), 60);
}

#[tokio::test]
async fn a_token_still_refused_after_the_refresh_is_returned_not_replayed_again() {
    // Stands in for a misbehaving portal that keeps answering `expired_token` to fresh tokens,
    // which b24-server never does.
    let stub = Stub::start(|request: &Recorded, _| {
        if request.path == "/oauth/token/" {
            Reply::json(
                200,
                json!({"access_token": "also-stale", "refresh_token": "r2", "expires_in": 3600}),
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
    let config = OAuthConfig::new("app.1", "s3cret", OAuthTokens::new("stale", "r1"))
        .token_url(format!("{}/oauth/token/", stub.base));
    let client = Client::builder_oauth(&stub.base, config)
        .plan(Plan::Unlimited)
        .retry(fast_retries())
        .build()
        .unwrap();

    let error = client.call("server.time", json!({})).await.unwrap_err();

    assert_eq!(
        (error.code(), error.description(), error.status()),
        (
            Some("expired_token"),
            Some("The access token provided has expired"),
            Some(401)
        )
    );
    let requests = stub.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/rest/server.time", "/oauth/token/", "/rest/server.time"]
    );
    assert_eq!(requests[0].body["auth"], "stale");
    assert_eq!(requests[2].body["auth"], "also-stale");
    assert_eq!(
        requests[1].query,
        "grant_type=refresh_token&client_id=app.1&client_secret=s3cret&refresh_token=r1"
    );
}

#[test]
fn tokens_are_never_printed() {
    let printed = format!("{:?}", OAuthTokens::new("secret-access", "secret-refresh"));
    assert!(!printed.contains("secret"), "{printed}");
}
