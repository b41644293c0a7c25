//! Issue 22 ("Reliability and security, round two"), items 4–6: repeated slashes in webhook
//! paths, an oversized declared body refused at once, simulated method costs, refused event
//! targets, blocked applications at the token endpoint, and `Debug` output without secrets.

use crate::helpers::{envelope, quick_delivery, read, spawn_app_with, TestApp};
use b24_server::clock::{Clock, ManualClock};
use b24_server::store::{EventHandlerRecord, DEFAULT_PORTAL};
use b24_server::{admin, oauth};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T0: f64 = 1_800_000_000.0;

// --- item 4: repeated slashes ---------------------------------------------------------------

#[tokio::test]
async fn a_webhook_path_with_repeated_slashes_before_the_method_is_served_like_the_single_slash_path(
) {
    let app = spawn_app_with(|_| {}).await;
    let id = app.new_item(2, None).await;
    // `admin_url` ends with a slash: one more makes `/rest/1/CODE//crm.item.get/`.
    for url in [
        format!("{}/crm.item.get/?entityTypeId=2&id={id}", app.admin_url),
        format!("{}/crm.item.get.json?entityTypeId=2&id={id}", app.admin_url),
        format!("{}//crm.item.get?entityTypeId=2&id={id}", app.admin_url),
    ] {
        let (status, body) = app.get(&url).await;
        assert_eq!(status, 200, "{url}: {body}");
        assert_eq!(body["result"]["item"]["id"], json!(id), "{url}");
    }
    let (status, body) = app
        .post_form(
            &format!("{}/crm.item.add", app.admin_url),
            "entityTypeId=2&fields[title]=via+double+slash",
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

// --- item 5: a declared body over the limit -------------------------------------------------

/// Sends only the headers of a POST declaring `length` bytes and reads until the server closes
/// the connection; returns what it answered and how long that took.
async fn headers_only(app: &TestApp, path: &str, length: u64) -> (String, Duration) {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    );
    let started = Instant::now();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "no answer and no close within 10 s; so far: {}",
        String::from_utf8_lossy(&answer)
    );
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_declared_content_length_over_the_body_limit_is_refused_with_413_at_once_and_the_connection_closed(
) {
    let app = spawn_app_with(|_| {}).await;
    let webhook_path = &app.admin_url[app.base.len()..];
    let over = 9 * 1024 * 1024;
    for path in [
        format!("{webhook_path}crm.item.add"),
        "/rest/crm.item.add".to_string(),
        "/oauth/token/".to_string(),
    ] {
        let (answer, took) = headers_only(&app, &path, over).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{path}: {answer}"
        );
        let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
        let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{answer}"));
        assert_eq!(body["error"], "ERROR_REQUEST_TOO_LARGE", "{path}");
        assert!(took < Duration::from_secs(3), "{path}: took {took:?}");
    }
    // A body within the limit is still read and served.
    let (status, body) = app
        .call(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "fits"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

// --- item 6: simulated method cost ----------------------------------------------------------

#[tokio::test]
async fn with_a_method_cost_of_60_seconds_the_tenth_call_is_the_first_refused() {
    let app = spawn_app_with(|config| {
        config.operating.limit_secs = 480.0;
        config
            .operating
            .simulated_cost
            .insert("crm.item.list".into(), 60.0);
    })
    .await;
    let list = json!({"entityTypeId": 2});
    for n in 1..=9 {
        let (status, body) = app.call("crm.item.list", list.clone()).await;
        assert_eq!(status, 200, "call {n}: {body}");
        assert_eq!(
            body["time"]["operating"].as_f64(),
            Some(60.0 * n as f64),
            "call {n} counts exactly the simulated cost"
        );
    }
    let (status, body) = app.call("crm.item.list", list).await;
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
}

// --- item 6: event targets ------------------------------------------------------------------

/// A server on a manual clock with quick delivery settings, and an application token of user 1.
async fn events_app(
    configure: impl FnOnce(&mut b24_server::ServeConfig),
) -> (TestApp, Arc<ManualClock>, String) {
    let clock = Arc::new(ManualClock::new(T0));
    let c = clock.clone();
    let app = spawn_app_with(move |config| {
        config.clock = c;
        config.events = quick_delivery();
        configure(config);
    })
    .await;
    let installed = app.install_app("crm", 1, clock.now()).await;
    let token = installed.tokens["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    (app, clock, token)
}

async fn token_call(app: &TestApp, params: Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/oauth/token/", app.base))
        .form(&params)
        .send()
        .await
        .unwrap();
    read(response).await
}

#[tokio::test]
async fn event_bind_refuses_handlers_in_the_benchmarking_range_198_18_0_0_slash_15() {
    let (app, _clock, token) = events_app(|_| {}).await;
    let bind = |handler: &'static str| {
        let request = app
            .client
            .post(format!("{}/rest/event.bind", app.base))
            .json(&json!({"auth": token, "event": "ONCRMDEALADD", "handler": handler}));
        async move { read(request.send().await.unwrap()).await }
    };
    for handler in [
        "http://198.18.0.1/h",
        "https://198.19.255.254/h",
        "http://[::ffff:198.18.7.7]/h",
    ] {
        let (status, body) = bind(handler).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("ERROR_WRONG_HANDLER_URL")),
            "{handler}: {body}"
        );
    }
    let (status, body) = bind("http://198.20.0.1/h").await;
    assert_eq!(status, 200, "just outside the range: {body}");
}

#[tokio::test]
async fn a_delivery_to_a_host_name_that_resolves_only_to_refused_addresses_is_logged_gave_up_and_not_retried(
) {
    let (app, clock, _token) = events_app(|config| {
        config.events.targets.allow_loopback = false;
    })
    .await;
    // `localhost` resolves to loopback only, refused here. (An outgoing webhook added through
    // the store directly: the CLI asks for a dotted host, and no dotted name resolves offline.)
    app.state
        .store
        .write(DEFAULT_PORTAL, |tx| {
            tx.insert_event_handler(&EventHandlerRecord {
                id: 0,
                app_id: 0,
                event_name: "ONCRMDEALADD".into(),
                handler: "http://localhost:9/h".into(),
                user_id: 0,
                connector_id: String::new(),
            })
        })
        .unwrap();
    app.new_item(2, None).await;
    let log = || {
        admin::delivery_log(&app.state.store, 1, 100)
            .unwrap()
            .into_iter()
            .map(|d| (d.outcome, d.attempt, d.detail))
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while log().is_empty() {
        assert!(Instant::now() < deadline, "no delivery attempt was logged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = log();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(
        (first[0].0.as_str(), first[0].1),
        ("gave_up", 1),
        "{first:?}"
    );
    assert!(first[0].2.contains("target policy"), "{first:?}");
    // Past every backoff: no second attempt.
    clock.advance(3600.0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(log().len(), 1, "{:?}", log());
}

// --- item 6: blocked applications at the token endpoint -------------------------------------

#[tokio::test]
async fn a_blocked_application_can_exchange_neither_codes_nor_refresh_tokens_and_keeps_them_for_later(
) {
    let clock = Arc::new(ManualClock::new(T0));
    let c = clock.clone();
    let app = spawn_app_with(move |config| config.clock = c).await;
    let scopes = admin::parse_scopes(Some("crm")).unwrap();
    let credentials = oauth::create_app(&app.state.store, 1, "App", &scopes, "").unwrap();
    let (client_id, secret) = (
        credentials.client_id.clone(),
        credentials.client_secret.clone(),
    );
    let code = || oauth::authorize(&app.state.store, 1, &client_id, 1, clock.now(), 30.0).unwrap();
    let exchange = |code: String| {
        json!({"grant_type": "authorization_code", "client_id": client_id,
               "client_secret": secret, "code": code})
    };
    let refresh = |token: &Value| {
        json!({"grant_type": "refresh_token", "client_id": client_id,
               "client_secret": secret, "refresh_token": token["refresh_token"]})
    };
    let (status, first) = token_call(&app, exchange(code())).await;
    assert_eq!(status, 200, "{first}");
    let pending_code = code();

    oauth::set_blocked(&app.state.store, 1, &client_id, true).unwrap();
    let refused = envelope("invalid_client", "The application is blocked");
    assert_eq!(
        token_call(&app, exchange(pending_code.clone())).await,
        (400, refused.clone())
    );
    assert_eq!(token_call(&app, refresh(&first)).await, (400, refused));

    // Nothing was used up: once unblocked, the same code and refresh token work.
    oauth::set_blocked(&app.state.store, 1, &client_id, false).unwrap();
    let (status, body) = token_call(&app, exchange(pending_code)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = token_call(&app, refresh(&first)).await;
    assert_eq!(status, 200, "{body}");
}

// --- item 6: Debug without secrets ----------------------------------------------------------

#[tokio::test]
async fn debug_output_of_application_credentials_and_their_records_shows_no_secret_or_digest() {
    let clock = Arc::new(ManualClock::new(T0));
    let c = clock.clone();
    let app = spawn_app_with(move |config| config.clock = c).await;
    let scopes = admin::parse_scopes(Some("crm")).unwrap();
    let credentials = oauth::create_app(&app.state.store, 1, "App", &scopes, "").unwrap();
    let printed = format!("{credentials:?}");
    assert!(printed.contains(&credentials.client_id), "{printed}");
    assert!(!printed.contains(&credentials.client_secret), "{printed}");
    assert!(
        !printed.contains(&credentials.application_token),
        "{printed}"
    );

    let code = oauth::authorize(
        &app.state.store,
        1,
        &credentials.client_id,
        1,
        clock.now(),
        30.0,
    )
    .unwrap();
    let (status, tokens) = token_call(
        &app,
        json!({"grant_type": "authorization_code", "client_id": credentials.client_id,
               "client_secret": credentials.client_secret, "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let refresh_digest = b24_server::secret::digest(tokens["refresh_token"].as_str().unwrap());
    let (record, token) = app
        .state
        .store
        .read(DEFAULT_PORTAL, |tx| {
            Ok((
                tx.app_by_client_id(&credentials.client_id)?.unwrap(),
                tx.token_by_refresh(&refresh_digest)?.unwrap(),
            ))
        })
        .unwrap();
    let shown_digest = |d: &[u8; 32]| format!("{d:?}");
    let printed = format!("{record:?}");
    assert!(printed.contains(&credentials.client_id), "{printed}");
    assert!(
        !printed.contains(&shown_digest(&record.client_secret_digest)),
        "{printed}"
    );
    assert!(
        !printed.contains(&shown_digest(&record.application_token_digest)),
        "{printed}"
    );
    let printed = format!("{token:?}");
    assert!(
        !printed.contains(&shown_digest(&token.access_digest)),
        "{printed}"
    );
    assert!(
        !printed.contains(&shown_digest(&token.refresh_digest)),
        "{printed}"
    );

    let first = admin::FirstStart {
        admin_user_id: 1,
        webhook_code: "thewebhookcode0123456789abcdefgh".into(),
    };
    assert!(!format!("{first:?}").contains("thewebhookcode"));

    let outgoing =
        admin::add_outgoing_webhook(&app.state.store, 1, "ONCRMDEALADD", "https://example.com/h")
            .unwrap();
    let printed = format!("{outgoing:?}");
    assert!(printed.contains("example.com"), "{printed}");
    assert!(!printed.contains(&outgoing.application_token), "{printed}");
}

#[tokio::test]
async fn debug_output_of_a_stored_webhook_shows_no_code_digest() {
    let app = spawn_app_with(|_| {}).await;
    let webhooks = app
        .state
        .store
        .read(DEFAULT_PORTAL, |tx| tx.webhooks())
        .unwrap();
    let webhook = webhooks.first().expect("the first start made a webhook");
    let printed = format!("{webhook:?}");
    assert!(printed.contains("WebhookRecord"), "{printed}");
    assert!(
        !printed.contains(&format!("{:?}", webhook.code_digest)),
        "{printed}"
    );
    assert!(
        !printed.contains(
            &webhook.code_digest[0..4]
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "{printed}"
    );
}

/// An application binds at most 500 handlers; the next one is refused with the real service's
/// generic handler error (`ERROR_CORE`, "Unable to set event handler: …") and nothing is stored.
#[tokio::test]
async fn an_application_binds_at_most_five_hundred_handlers() {
    let (app, _clock, token) = events_app(|_| {}).await;
    let bind = |n: usize| {
        let request = app.client.post(format!("{}/rest/event.bind", app.base)).json(
            &json!({"auth": token, "event": "ONCRMDEALADD", "handler": format!("https://example.com/h{n}")}),
        );
        async move { read(request.send().await.unwrap()).await }
    };
    for n in 0..500 {
        let (status, body) = bind(n).await;
        assert_eq!(status, 200, "handler {n}: {body}");
    }
    let (status, body) = bind(500).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        envelope(
            "ERROR_CORE",
            "Unable to set event handler: The application has too many handlers (at most 500)"
        )
    );
    let handlers = app
        .state
        .store
        .read(DEFAULT_PORTAL, |tx| tx.event_handlers_for("ONCRMDEALADD"))
        .unwrap();
    assert_eq!(handlers.len(), 500);
}
