//! Events (spec §9): `event.bind` and friends with every error pinned, and delivery to a receiver
//! running on 127.0.0.1 inside the test: the exact payload of each event, nothing for a failed
//! call, retries against a receiver that fails first, and nothing lost across a restart.
//!
//! The server runs on a manual clock: retries fall due only when the test moves the clock, so
//! backoff is tested without sleeping.

use crate::helpers::{envelope, read, spawn_app_with, TestApp};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use b24_server::clock::ManualClock;
use b24_server::{admin, oauth, ServeConfig};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T0: f64 = 1_800_000_000.0;

/// One received POST: its content type and its form pairs, decoded, in order.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    content_type: String,
    pub(crate) pairs: Vec<(String, String)>,
}

impl Received {
    pub(crate) fn get(&self, key: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{key} missing from {:?}", self.pairs))
    }

    /// `(event, data[FIELDS][ID])`.
    fn event(&self) -> (String, i64) {
        (
            self.get("event").to_string(),
            self.get("data[FIELDS][ID]").parse().unwrap(),
        )
    }
}

/// A handler on 127.0.0.1 that records every POST and answers 500 to the first `fail_first`.
pub(crate) struct Receiver {
    pub(crate) url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

pub(crate) async fn receiver(fail_first: usize) -> Receiver {
    receiver_with(fail_first, Duration::ZERO).await.0
}

/// A receiver that takes `delay` to answer each POST; also returns the most POSTs it ever had
/// in progress at once.
async fn receiver_with(fail_first: usize, delay: Duration) -> (Receiver, Arc<AtomicUsize>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(AtomicUsize::new(fail_first));
    let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (log, left, peak) = (received.clone(), failures.clone(), most.clone());
    let app = axum::Router::new().route(
        "/handler/",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (log, left, in_flight, peak) =
                (log.clone(), left.clone(), in_flight.clone(), peak.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                let body = String::from_utf8_lossy(&body).into_owned();
                let pairs = body
                    .split('&')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap_or((p, ""));
                        (decode(k), decode(v))
                    })
                    .collect();
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                log.lock().unwrap().push(Received {
                    content_type,
                    pairs,
                });
                let failing = left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if failing {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/handler/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (Receiver { url, received }, most)
}

impl Receiver {
    /// Waits (up to 30 s: a loaded 2-core CI machine can be slow) until `n` POSTs have arrived;
    /// returns all of them.
    pub(crate) async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.received.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "expected {n} deliveries, got {}: {got:?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Asserts that nothing beyond the first `n` arrives within a short wait.
    pub(crate) async fn assert_no_more_than(&self, n: usize) {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = self.received.lock().unwrap().clone();
        assert_eq!(got.len(), n, "unexpected deliveries: {got:?}");
    }
}

/// Short, deterministic delivery settings: one request at a time (so events arrive in order),
/// quick polling, three attempts, retries 60 s apart on the manual clock.
fn test_delivery(config: &mut ServeConfig, clock: Arc<ManualClock>) {
    config.clock = clock;
    config.events = crate::helpers::quick_delivery();
}

/// A server, an application with `scopes` installed for user 1 (the administrator), and its token.
struct EventsApp {
    app: TestApp,
    clock: Arc<ManualClock>,
    client_id: String,
    client_secret: String,
    application_token: String,
    token: String,
    member_id: String,
}

async fn events_app(scopes: &str) -> EventsApp {
    let clock = Arc::new(ManualClock::new(T0));
    let c = clock.clone();
    let app = spawn_app_with(move |config| test_delivery(config, c)).await;
    let scopes = admin::parse_scopes(Some(scopes)).unwrap();
    let credentials = oauth::create_app(&app.state.store, 1, "Events app", &scopes, "").unwrap();
    let mut e = EventsApp {
        app,
        clock,
        client_id: credentials.client_id,
        client_secret: credentials.client_secret,
        application_token: credentials.application_token,
        token: String::new(),
        member_id: String::new(),
    };
    let answer = e.token_for(1).await;
    e.token = answer["access_token"].as_str().unwrap().to_string();
    e.member_id = answer["member_id"].as_str().unwrap().to_string();
    e
}

impl EventsApp {
    /// Installs the application for `user` and exchanges a code for their tokens.
    async fn token_for(&self, user: i64) -> Value {
        use b24_server::clock::Clock;
        let code = oauth::authorize(
            &self.app.state.store,
            1,
            &self.client_id,
            user,
            self.clock.now(),
            30.0,
        )
        .unwrap();
        let response = self
            .app
            .client
            .post(format!("{}/oauth/token/", self.app.base))
            .form(
                &json!({"grant_type": "authorization_code", "client_id": self.client_id,
                          "client_secret": self.client_secret, "code": code}),
            )
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// A REST call with an access token.
    async fn rest_as(&self, token: &str, method: &str, params: Value) -> (u16, Value) {
        let mut params = params;
        params["auth"] = json!(token);
        let response = self
            .app
            .client
            .post(format!("{}/rest/{method}", self.app.base))
            .json(&params)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    async fn rest(&self, method: &str, params: Value) -> (u16, Value) {
        self.rest_as(&self.token, method, params).await
    }

    async fn ok(&self, method: &str, params: Value) -> Value {
        let (status, body) = self.rest(method, params).await;
        assert_eq!(status, 200, "{method}: {body}");
        body["result"].clone()
    }

    async fn bind(&self, event: &str, handler: &str) {
        let result = self
            .ok("event.bind", json!({"event": event, "handler": handler}))
            .await;
        assert_eq!(result, json!(true));
    }

    fn endpoint(&self) -> String {
        format!("{}/rest/", self.app.base)
    }

    fn domain(&self) -> String {
        self.app.base.trim_start_matches("http://").to_string()
    }

    /// The delivery log, oldest first: `(outcome, attempt, status)`.
    fn log(&self) -> Vec<(String, i64, i64)> {
        delivery_log(&self.app)
    }
}

fn delivery_log(app: &TestApp) -> Vec<(String, i64, i64)> {
    admin::delivery_log(&app.state.store, 1, 100)
        .unwrap()
        .into_iter()
        .rev()
        .map(|d| (d.outcome, d.attempt, d.status))
        .collect()
}

fn entry(outcome: &str, attempt: i64, status: i64) -> (String, i64, i64) {
    (outcome.to_string(), attempt, status)
}

// --- delivery -------------------------------------------------------------------------------

#[tokio::test]
async fn an_activity_added_by_an_application_reaches_its_handler_with_the_exact_payload() {
    let e = events_app("crm").await;
    let r = receiver(0).await;
    e.bind("onCrmActivityAdd", &r.url).await;
    let deal = e
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "D"}}),
        )
        .await["item"]["id"]
        .as_i64()
        .unwrap();

    let activity = e
        .ok(
            "crm.activity.todo.add",
            json!({"ownerTypeId": 2, "ownerId": deal, "deadline": "2030-01-01T10:00:00", "title": "call"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();

    let got = r.wait_for(1).await;
    let post = &got[0];
    assert_eq!(post.content_type, "application/x-www-form-urlencoded");
    let access_token = post.get("auth[access_token]").to_string();
    assert_eq!(access_token.len(), 64);
    let expected: Vec<(String, String)> = [
        ("event", "ONCRMACTIVITYADD".to_string()),
        ("event_handler_id", "1".into()),
        ("data[FIELDS][ID]", activity.to_string()),
        ("ts", (T0 as i64).to_string()),
        ("auth[access_token]", access_token.clone()),
        ("auth[expires]", (T0 as i64 + 3600).to_string()),
        ("auth[expires_in]", "3600".into()),
        ("auth[scope]", "crm".into()),
        ("auth[domain]", e.domain()),
        ("auth[server_endpoint]", e.endpoint()),
        ("auth[status]", "L".into()),
        ("auth[client_endpoint]", e.endpoint()),
        ("auth[member_id]", e.member_id.clone()),
        ("auth[application_token]", e.application_token.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(post.pairs, expected);
    assert_eq!(e.application_token.len(), 32);

    // The token in the payload is a working token of the handler's user.
    let (status, profile) = e.rest_as(&access_token, "profile", json!({})).await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["result"]["ID"], "1");
    // The sender logs the attempt once the handler's answer is in: wait for it, then compare.
    crate::helpers::eventually(|| !e.log().is_empty()).await;
    assert_eq!(e.log(), vec![entry("delivered", 1, 200)]);
    r.assert_no_more_than(1).await;
}

#[tokio::test]
async fn every_successful_crm_change_fires_its_event_in_order() {
    let e = events_app("crm").await;
    let r = receiver(0).await;
    for event in [
        "ONCRMACTIVITYADD",
        "ONCRMACTIVITYUPDATE",
        "ONCRMACTIVITYDELETE",
        "ONCRMDEALADD",
        "ONCRMDEALUPDATE",
        "ONCRMDEALDELETE",
        "ONCRMLEADADD",
        "ONCRMCONTACTADD",
        "ONCRMCOMPANYADD",
    ] {
        e.bind(event, &r.url).await;
    }
    let admin = &e.app;
    let deal = admin.new_item(2, None).await;
    let deal2 = admin.new_item(2, None).await;
    let lead = admin.new_item(1, None).await;
    let contact: i64 = admin
        .ok("crm.contact.add", json!({"fields": {"NAME": "C"}}))
        .await
        .as_i64()
        .unwrap();
    let company = admin.new_item(4, None).await;
    let activity = admin.new_todo(2, deal).await;
    admin
        .ok(
            "crm.activity.binding.add",
            json!({"activityId": activity, "entityTypeId": 3, "entityId": contact}),
        )
        .await;
    admin
        .ok(
            "crm.activity.binding.move",
            json!({"activityId": activity, "sourceEntityTypeId": 2, "sourceEntityId": deal,
                   "targetEntityTypeId": 2, "targetEntityId": deal2}),
        )
        .await;
    admin
        .ok(
            "crm.activity.binding.delete",
            json!({"activityId": activity, "entityTypeId": 3, "entityId": contact}),
        )
        .await;
    admin
        .ok(
            "crm.activity.update",
            json!({"id": activity, "fields": {"SUBJECT": "new"}}),
        )
        .await;
    admin
        .ok(
            "crm.deal.update",
            json!({"id": deal, "fields": {"TITLE": "renamed"}}),
        )
        .await;
    admin
        .ok("crm.activity.delete", json!({"id": activity}))
        .await;
    admin
        .ok("crm.item.delete", json!({"entityTypeId": 2, "id": deal}))
        .await;

    let got: Vec<(String, i64)> = r.wait_for(13).await.iter().map(Received::event).collect();
    let want: Vec<(String, i64)> = [
        ("ONCRMDEALADD", deal),
        ("ONCRMDEALADD", deal2),
        ("ONCRMLEADADD", lead),
        ("ONCRMCONTACTADD", contact),
        ("ONCRMCOMPANYADD", company),
        ("ONCRMACTIVITYADD", activity),
        ("ONCRMACTIVITYUPDATE", activity),
        ("ONCRMACTIVITYUPDATE", activity),
        ("ONCRMACTIVITYUPDATE", activity),
        ("ONCRMACTIVITYUPDATE", activity),
        ("ONCRMDEALUPDATE", deal),
        ("ONCRMACTIVITYDELETE", activity),
        ("ONCRMDEALDELETE", deal),
    ]
    .into_iter()
    .map(|(n, id)| (n.to_string(), id))
    .collect();
    assert_eq!(got, want);
    r.assert_no_more_than(13).await;
}

#[tokio::test]
async fn a_failed_call_fires_no_event() {
    let e = events_app("crm").await;
    let r = receiver(0).await;
    e.bind("ONCRMACTIVITYUPDATE", &r.url).await;
    e.bind("ONCRMDEALADD", &r.url).await;
    let deal = e.app.new_item(2, None).await;
    let activity = e.app.new_todo(2, deal).await;
    r.wait_for(1).await;

    // The last binding cannot be deleted; a binding to a missing item cannot be added; an
    // item without rights cannot be created: each call fails and must leave no event behind.
    let (status, body) = e
        .app
        .call(
            "crm.activity.binding.delete",
            json!({"activityId": activity, "entityTypeId": 2, "entityId": deal}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("LAST_BINDING_CANNOT_BE_DELETED"))
    );
    let (status, _) = e
        .app
        .call(
            "crm.activity.binding.add",
            json!({"activityId": activity, "entityTypeId": 2, "entityId": 999_999}),
        )
        .await;
    assert_eq!(status, 400);
    let user = e.app.create_user(&["deal.read=all"]);
    let hook = e.app.create_webhook(user, Some("crm"));
    let (status, _) = e
        .app
        .call_as(
            &hook,
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "x"}}),
        )
        .await;
    assert_eq!(status, 400);
    // A change that succeeds afterwards is the next (and only) event.
    let deal2 = e.app.new_item(2, None).await;

    let got: Vec<(String, i64)> = r.wait_for(2).await.iter().map(Received::event).collect();
    assert_eq!(
        got,
        vec![
            ("ONCRMDEALADD".to_string(), deal),
            ("ONCRMDEALADD".to_string(), deal2)
        ]
    );
    r.assert_no_more_than(2).await;
}

/// A batch's events are queued with its commands: each committed command's event arrives once,
/// and a command that fails after queueing its event (the second handler's row is refused by a
/// trigger, after the first handler's row went in) leaves none behind, nor its item.
#[tokio::test]
async fn events_raised_inside_a_batch_arrive_once_and_none_for_a_command_that_rolled_back() {
    // Arrange
    let e = events_app("crm").await;
    let (first, second) = (receiver(0).await, receiver(0).await);
    e.bind("ONCRMCONTACTADD", &first.url).await;
    e.bind("ONCRMDEALADD", &first.url).await;
    e.bind("ONCRMDEALADD", &second.url).await;
    let failure = e
        .app
        .fail_inserts_into("event_outbox", &format!("NEW.handler = '{}'", second.url));

    // Act
    let result = e
        .app
        .ok(
            "batch",
            json!({"cmd": {
                "a": "crm.item.add?entityTypeId=3&fields[title]=A",
                "deal": "crm.item.add?entityTypeId=2&fields[title]=D",
                "b": "crm.item.add?entityTypeId=3&fields[title]=B",
            }}),
        )
        .await;
    drop(failure);

    // Assert
    assert_eq!(
        result["result_error"],
        json!({"deal": envelope("INTERNAL_SERVER_ERROR", "Internal server error")})
    );
    let id = |key: &str| result["result"][key]["item"]["id"].as_i64().unwrap();
    let got: Vec<(String, i64)> = first
        .wait_for(2)
        .await
        .iter()
        .map(Received::event)
        .collect();
    assert_eq!(
        got,
        vec![
            ("ONCRMCONTACTADD".to_string(), id("a")),
            ("ONCRMCONTACTADD".to_string(), id("b"))
        ]
    );
    first.assert_no_more_than(2).await;
    second.assert_no_more_than(0).await;
    let deals = e.app.ok("crm.item.list", json!({"entityTypeId": 2})).await;
    assert_eq!(deals["items"], json!([]));
}

#[tokio::test]
async fn a_receiver_that_fails_first_gets_the_event_on_a_retry_after_the_backoff() {
    let e = events_app("crm").await;
    let r = receiver(1).await;
    e.bind("ONCRMDEALADD", &r.url).await;
    let deal = e.app.new_item(2, None).await;

    r.wait_for(1).await;
    eventually_log(&e.app, 1).await;
    assert_eq!(e.log(), vec![entry("retry", 1, 500)]);
    // Not due before the backoff (60 s on the manual clock) has passed.
    e.clock.advance(59.0);
    r.assert_no_more_than(1).await;
    e.clock.advance(1.0);

    let got = r.wait_for(2).await;
    assert_eq!(got[1].event(), ("ONCRMDEALADD".to_string(), deal));
    assert_eq!(got[1].pairs.len(), got[0].pairs.len());
    eventually_log(&e.app, 2).await;
    assert_eq!(
        e.log(),
        vec![entry("retry", 1, 500), entry("delivered", 2, 200)]
    );
}

#[tokio::test]
async fn delivery_gives_up_after_the_last_attempt_and_says_so_in_the_log() {
    let e = events_app("crm").await;
    let r = receiver(usize::MAX).await;
    e.bind("ONCRMDEALADD", &r.url).await;
    e.app.new_item(2, None).await;

    r.wait_for(1).await;
    // The retry is scheduled from the clock when the attempt is recorded: wait for that first.
    eventually_log(&e.app, 1).await;
    e.clock.advance(60.0);
    r.wait_for(2).await;
    eventually_log(&e.app, 2).await;
    // The second wait is twice the first.
    e.clock.advance(119.0);
    r.assert_no_more_than(2).await;
    e.clock.advance(1.0);
    r.wait_for(3).await;
    eventually_log(&e.app, 3).await;
    assert_eq!(
        e.log(),
        vec![
            entry("retry", 1, 500),
            entry("retry", 2, 500),
            entry("gave_up", 3, 500)
        ]
    );
    e.clock.advance(10_000.0);
    r.assert_no_more_than(3).await;
}

#[tokio::test]
async fn undelivered_events_are_sent_after_a_restart() {
    let e = events_app("crm").await;
    let r = receiver(1).await;
    e.bind("ONCRMDEALADD", &r.url).await;
    let deal = e.app.new_item(2, None).await;
    r.wait_for(1).await;
    eventually_log(&e.app, 1).await;

    // Stop the server with the event still owed, and start a new one on the same data
    // directory after the retry fell due.
    let later = Arc::new(ManualClock::new(T0 + 3600.0));
    let c = later.clone();
    let app = e.app.restart(move |config| test_delivery(config, c)).await;

    let got = r.wait_for(2).await;
    assert_eq!(got[1].event(), ("ONCRMDEALADD".to_string(), deal));
    assert_eq!(
        got[1].get("ts"),
        (T0 as i64).to_string(),
        "ts is the change's time"
    );
    eventually_log(&app, 2).await;
    assert_eq!(
        delivery_log(&app),
        vec![entry("retry", 1, 500), entry("delivered", 2, 200)]
    );
    r.assert_no_more_than(2).await;
}

#[tokio::test]
async fn an_outgoing_webhook_payload_carries_only_the_portal_auth_fields() {
    let e = events_app("crm").await;
    let r = receiver(0).await;
    let hook = admin::add_outgoing_webhook(&e.app.state.store, 1, "onCrmDealAdd", &r.url).unwrap();
    assert_eq!(hook.event, "ONCRMDEALADD");
    assert_eq!(hook.application_token.len(), 32);
    let deal = e.app.new_item(2, None).await;

    let got = r.wait_for(1).await;
    let expected: Vec<(String, String)> = [
        ("event", "ONCRMDEALADD".to_string()),
        ("event_handler_id", hook.id.to_string()),
        ("data[FIELDS][ID]", deal.to_string()),
        ("ts", (T0 as i64).to_string()),
        ("auth[domain]", e.domain()),
        ("auth[server_endpoint]", e.endpoint()),
        ("auth[client_endpoint]", e.endpoint()),
        ("auth[member_id]", e.member_id.clone()),
        ("auth[application_token]", hook.application_token.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(got[0].pairs, expected);

    admin::remove_outgoing_webhook(&e.app.state.store, 1, hook.id).unwrap();
    e.app.new_item(2, None).await;
    r.assert_no_more_than(1).await;
    assert!(admin::remove_outgoing_webhook(&e.app.state.store, 1, hook.id).is_err());
}

#[tokio::test]
async fn a_handler_bound_with_auth_type_gets_tokens_of_that_user() {
    let e = events_app("crm").await;
    let r = receiver(0).await;
    let user = e.app.create_user(&["deal.read=all"]);
    e.token_for(user).await;
    let result = e
        .ok(
            "event.bind",
            json!({"EVENT": "ONCRMDEALADD", "HANDLER": r.url, "AUTH_TYPE": user}),
        )
        .await;
    assert_eq!(result, json!(true));
    e.app.new_item(2, None).await;

    let got = r.wait_for(1).await;
    let token = got[0].get("auth[access_token]");
    let (status, profile) = e.rest_as(token, "profile", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(profile["result"]["ID"], user.to_string());
}

#[tokio::test]
async fn handlers_on_private_addresses_are_refused_at_delivery_time_too() {
    // A handler bound while private targets were allowed, then the policy tightened: the
    // sender refuses to connect and gives up at once.
    let e = events_app("crm").await;
    admin::add_outgoing_webhook(
        &e.app.state.store,
        1,
        "ONCRMDEALADD",
        "http://10.255.255.1/h",
    )
    .unwrap();
    e.app.new_item(2, None).await;
    eventually_log(&e.app, 1).await;
    assert_eq!(e.log(), vec![entry("gave_up", 1, 0)]);
}

#[tokio::test]
async fn a_handler_that_does_not_answer_in_time_is_retried_and_requests_in_flight_are_bounded() {
    let clock = Arc::new(ManualClock::new(T0));
    let c = clock.clone();
    let app = spawn_app_with(move |config| {
        test_delivery(config, c);
        config.events.concurrency = 2;
        config.events.timeout = Duration::from_millis(300);
    })
    .await;
    let (slow, _) = receiver_with(0, Duration::from_secs(3)).await;
    admin::add_outgoing_webhook(&app.state.store, 1, "ONCRMLEADADD", &slow.url).unwrap();
    app.new_item(1, None).await;
    eventually_log(&app, 1).await;
    let log = admin::delivery_log(&app.state.store, 1, 1).unwrap();
    assert_eq!((log[0].outcome.as_str(), log[0].status), ("retry", 0));
    assert_eq!(log[0].detail, "the handler did not answer in time");

    let (busy, peak) = receiver_with(0, Duration::from_millis(200)).await;
    admin::add_outgoing_webhook(&app.state.store, 1, "ONCRMDEALADD", &busy.url).unwrap();
    // Six changes in one request, so that they are all due when the sender looks.
    let cmd: serde_json::Map<String, Value> = (0..6)
        .map(|i| {
            (
                format!("d{i}"),
                json!("crm.item.add?entityTypeId=2&fields[title]=x"),
            )
        })
        .collect();
    app.ok("batch", json!({"cmd": cmd})).await;
    busy.wait_for(6).await;
    assert_eq!(
        peak.load(Ordering::SeqCst),
        2,
        "at most `concurrency` requests at once"
    );
}

async fn eventually_log(app: &TestApp, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while delivery_log(app).len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "log: {:?}",
            delivery_log(app)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// --- event.bind / unbind / get / events ----------------------------------------------------

#[tokio::test]
async fn event_methods_refuse_webhooks_with_wrong_auth_type() {
    let e = events_app("crm").await;
    for method in [
        "event.bind",
        "event.unbind",
        "event.get",
        "events",
        "event.offline.get",
        "event.offline.clear",
        "event.offline.error",
        "event.offline.list",
    ] {
        let (status, body) = e
            .app
            .call(
                method,
                json!({"event": "ONCRMDEALADD", "handler": "https://example.com/h"}),
            )
            .await;
        assert_eq!(status, 403, "{method}");
        assert_eq!(
            body,
            envelope(
                "WRONG_AUTH_TYPE",
                "Current authorization type is denied for this method"
            ),
            "{method}"
        );
    }
}

#[tokio::test]
async fn event_bind_errors_have_the_documented_codes_and_change_nothing() {
    let e = events_app("crm").await;
    let argument = |name: &str, description: &str| json!({"error": "ERROR_ARGUMENT", "error_description": description, "argument": name});
    let cases = [
        (
            json!({"handler": "https://example.com/h"}),
            argument("EVENT", "Argument 'EVENT' is null or empty"),
        ),
        (
            json!({"event": "ONCRMDEALADD"}),
            argument("HANDLER", "Argument 'HANDLER' is null or empty"),
        ),
        (
            json!({"event": "ONCRMDEALADD", "handler": "https://example.com/h", "event_type": "sometimes"}),
            argument("EVENT_TYPE", "Value must be one of {online|offline}"),
        ),
        (
            json!({"event": "ONCRMDEALADD", "handler": "https://localhost/h"}),
            envelope("ERROR_WRONG_HANDLER_URL", "Wrong handler URL"),
        ),
        (
            json!({"event": "ONCRMDEALADD", "handler": "example.com/h"}),
            envelope("ERROR_WRONG_HANDLER_URL", "Wrong handler URL"),
        ),
        (
            json!({"event": "ONCRMDEALADD", "handler": "ftp://example.com/h"}),
            envelope("ERROR_UNSUPPORTED_PROTOCOL", "Unsupported handler protocol"),
        ),
        (
            json!({"event": "ONCRMDEALADD", "handler": "http://192.168.1.10/h"}),
            envelope(
                "ERROR_WRONG_HANDLER_URL",
                "Wrong handler URL: this server does not send events to private network addresses",
            ),
        ),
        (
            json!({"event": "ONCRMNOSUCHTHING", "handler": "https://example.com/h"}),
            envelope("ERROR_EVENT_NOT_FOUND", "Event not found"),
        ),
    ];
    for (params, want) in cases {
        let (status, body) = e.rest("event.bind", params.clone()).await;
        assert_eq!((status, &body), (400, &want), "{params}");
    }
    assert_eq!(e.ok("event.get", json!({})).await, json!([]));

    e.bind("ONCRMDEALADD", "https://example.com/h").await;
    let (status, body) = e
        .rest(
            "event.bind",
            json!({"event": "onCrmDealAdd", "handler": "https://example.com/h"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        envelope(
            "ERROR_CORE",
            "Unable to set event handler: Handler already binded"
        )
    );
    assert_eq!(
        e.ok("event.get", json!({})).await.as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn events_outside_the_applications_scopes_are_not_found() {
    let e = events_app("user").await;
    let (status, body) = e
        .rest(
            "event.bind",
            json!({"event": "ONCRMDEALADD", "handler": "https://example.com/h"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body, envelope("ERROR_EVENT_NOT_FOUND", "Event not found"));
    // Only the events every application may bind (the install event).
    assert_eq!(e.ok("events", json!({})).await, json!(["ONAPPINSTALL"]));
    let crm = e.ok("events", json!({"SCOPE": "crm"})).await;
    assert!(crm
        .as_array()
        .unwrap()
        .contains(&json!("ONCRMACTIVITYUPDATE")));
    let task = e.ok("events", json!({"SCOPE": "task"})).await;
    assert_eq!(
        task,
        json!([
            "ONTASKADD",
            "ONTASKUPDATE",
            "ONTASKDELETE",
            "ONTASKCOMMENTADD",
            "ONTASKCOMMENTDELETE"
        ])
    );
    let full = e.ok("events", json!({"FULL": true})).await;
    let mut expected = vec![json!("ONAPPINSTALL")];
    expected.extend(crm.as_array().unwrap().iter().cloned());
    expected.extend(task.as_array().unwrap().iter().cloned());
    assert_eq!(full, Value::Array(expected));
}

#[tokio::test]
async fn non_administrators_bind_only_for_themselves_and_never_offline() {
    let e = events_app("crm").await;
    let user = e.app.create_user(&["deal.read=all"]);
    let token = e.token_for(user).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let bind = |params: Value| e.rest_as(&token, "event.bind", params);

    let (status, body) =
        bind(json!({"event": "ONCRMDEALADD", "handler": "https://example.com/h", "auth_type": 1}))
            .await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        envelope(
            "ACCESS_DENIED",
            "Access denied! Event binding with AUTH_TYPE requires administrator access rights"
        )
    );
    let (status, body) = bind(json!({"event": "ONCRMDEALADD", "event_type": "offline"})).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        envelope(
            "ACCESS_DENIED",
            "Access denied! Offline events binding requires administrator access rights"
        )
    );
    for method in [
        "event.offline.get",
        "event.offline.list",
        "event.offline.clear",
        "event.offline.error",
    ] {
        let (status, body) = e.rest_as(&token, method, json!({"process_id": "x"})).await;
        assert_eq!(
            (status, body),
            (403, envelope("ACCESS_DENIED", "Access denied!")),
            "{method}"
        );
    }

    // Without auth_type the handler is bound for the caller; they see only their own.
    let (status, _) =
        bind(json!({"event": "ONCRMDEALADD", "handler": "https://example.com/mine"})).await;
    assert_eq!(status, 200);
    e.bind("ONCRMDEALADD", "https://example.com/admins").await;
    let (_, mine) = e.rest_as(&token, "event.get", json!({})).await;
    assert_eq!(
        mine["result"],
        json!([{"event": "ONCRMDEALADD", "handler": "https://example.com/mine",
                "auth_type": user.to_string(), "offline": 0}])
    );
    let (status, body) = e
        .rest_as(&token, "event.unbind", json!({"event": "ONCRMDEALADD", "handler": "https://example.com/admins", "auth_type": 0}))
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        envelope(
            "ACCESS_DENIED",
            "Access denied! Event unbinding with AUTH_TYPE requires administrator access rights"
        )
    );
    // The administrator sees both.
    assert_eq!(
        e.ok("event.get", json!({})).await.as_array().unwrap().len(),
        2
    );
}

#[tokio::test]
async fn event_get_and_unbind_list_and_remove_matching_handlers() {
    let e = events_app("crm").await;
    e.bind("ONCRMDEALADD", "https://example.com/a").await;
    e.bind("ONCRMDEALADD", "https://example.com/b").await;
    assert_eq!(
        e.ok(
            "event.bind",
            json!({"event": "ONCRMDEALUPDATE", "event_type": "offline"})
        )
        .await,
        json!(true)
    );
    assert_eq!(
        e.ok("event.get", json!({})).await,
        json!([
            {"event": "ONCRMDEALADD", "handler": "https://example.com/a", "auth_type": "0", "offline": 0},
            {"event": "ONCRMDEALADD", "handler": "https://example.com/b", "auth_type": "0", "offline": 0},
            {"event": "ONCRMDEALUPDATE", "connector_id": "", "offline": 1},
        ])
    );

    let unbind = |params: Value| e.ok("event.unbind", params);
    assert_eq!(
        unbind(json!({"event": "oncrmdealadd", "handler": "https://example.com/a"})).await,
        json!({"count": 1})
    );
    assert_eq!(
        unbind(json!({"event": "ONCRMDEALADD", "handler": "https://example.com/a"})).await,
        json!({"count": 0})
    );
    assert_eq!(
        unbind(json!({"event": "ONCRMDEALUPDATE", "event_type": "offline"})).await,
        json!({"count": 1})
    );
    let (status, body) = e
        .rest("event.unbind", json!({"handler": "https://example.com/b"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "ERROR_ARGUMENT", "error_description": "Argument 'EVENT' is null or empty", "argument": "EVENT"})
    );
    let (status, body) = e
        .rest("event.unbind", json!({"event": "ONCRMDEALADD"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["argument"], "HANDLER");
    assert_eq!(
        e.ok("event.get", json!({})).await.as_array().unwrap().len(),
        1
    );
}

// --- offline events -------------------------------------------------------------------------

#[tokio::test]
async fn offline_events_queue_one_entry_per_object_until_taken() {
    let e = events_app("crm").await;
    e.ok(
        "event.bind",
        json!({"event": "ONCRMDEALUPDATE", "event_type": "offline"}),
    )
    .await;
    let deal = e.app.new_item(2, None).await;
    let other = e.app.new_item(2, None).await;
    for (id, title) in [(deal, "a"), (deal, "b"), (other, "c")] {
        e.app
            .ok(
                "crm.deal.update",
                json!({"id": id, "fields": {"TITLE": title}}),
            )
            .await;
    }

    let (status, listed) = e.rest("event.offline.list", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(listed["total"], 2);
    let first = &listed["result"][0];
    assert_eq!(first["EVENT_NAME"], "ONCRMDEALUPDATE");
    assert_eq!(first["EVENT_DATA"], json!({"FIELDS": {"ID": deal}}));
    assert_eq!(first["EVENT_ADDITIONAL"], json!({"user_id": "1"}));
    assert_eq!(first["PROCESS_ID"], "");
    assert_eq!(first["ERROR"], "0");
    assert_eq!(first["MESSAGE_ID"].as_str().unwrap().len(), 32);

    // clear=0 hands the entries out under a process id and keeps them until cleared.
    let taken = e
        .ok("event.offline.get", json!({"clear": 0, "limit": 1}))
        .await;
    let process = taken["process_id"].as_str().unwrap().to_string();
    assert_eq!(taken["events"].as_array().unwrap().len(), 1);
    assert_eq!(taken["events"][0]["EVENT_DATA"]["FIELDS"]["ID"], deal);
    assert!(taken["events"][0].get("PROCESS_ID").is_none());
    let again = e.ok("event.offline.get", json!({"clear": 0})).await;
    assert_eq!(
        again["events"][0]["EVENT_DATA"]["FIELDS"]["ID"], other,
        "parallel callers get other entries"
    );
    let (_, listed) = e
        .rest(
            "event.offline.list",
            json!({"filter": {"PROCESS_ID": process}}),
        )
        .await;
    assert_eq!(listed["total"], 1);
    assert_eq!(
        e.ok("event.offline.clear", json!({"process_id": process}))
            .await,
        json!(true)
    );
    let (_, listed) = e.rest("event.offline.list", json!({})).await;
    assert_eq!(listed["total"], 1);

    // With the default clear=1 the entries are gone once returned.
    e.app
        .ok(
            "crm.deal.update",
            json!({"id": deal, "fields": {"TITLE": "d"}}),
        )
        .await;
    let taken = e.ok("event.offline.get", json!({})).await;
    assert_eq!(taken["process_id"], Value::Null);
    assert_eq!(taken["events"].as_array().unwrap().len(), 1);
    let (_, listed) = e.rest("event.offline.list", json!({})).await;
    assert_eq!(
        listed["total"], 1,
        "only the entry handed out earlier is left"
    );

    // event.offline.error returns an entry to the queue marked as failed; error=1 finds it.
    let message = listed["result"][0]["MESSAGE_ID"].clone();
    let process = listed["result"][0]["PROCESS_ID"].clone();
    let marked = e
        .ok(
            "event.offline.error",
            json!({"process_id": process, "message_id": [message]}),
        )
        .await;
    assert_eq!(marked, json!(true));
    assert_eq!(
        e.ok("event.offline.get", json!({})).await["events"],
        json!([])
    );
    let failed = e.ok("event.offline.get", json!({"error": 1})).await;
    assert_eq!(failed["events"][0]["MESSAGE_ID"], message);
    let (_, listed) = e.rest("event.offline.list", json!({})).await;
    assert_eq!(listed["total"], 0);
}

#[tokio::test]
async fn offline_methods_validate_their_arguments() {
    let e = events_app("crm").await;
    let argument = |name: &str, description: &str| json!({"error": "ERROR_ARGUMENT", "error_description": description, "argument": name});
    let cases = [
        (
            "event.offline.error",
            json!({"message_id": []}),
            argument("PROCESS_ID", "Argument 'PROCESS_ID' is null or empty"),
        ),
        (
            "event.offline.error",
            json!({"process_id": "p", "message_id": "x"}),
            argument("message_id", "Value must be array of MESSAGE_ID values"),
        ),
        (
            "event.offline.get",
            json!({"limit": 0}),
            argument("LIMIT", "Value must be positive integer"),
        ),
        (
            "event.offline.clear",
            json!({}),
            argument("PROCESS_ID", "Argument 'PROCESS_ID' is null or empty"),
        ),
        (
            "event.offline.clear",
            json!({"process_id": "p", "id": [0]}),
            argument("id", "Value must be array of integers"),
        ),
        (
            "event.offline.clear",
            json!({"process_id": "p", "id": "5"}),
            argument("id", "Value must be array of integers"),
        ),
        (
            "event.offline.clear",
            json!({"process_id": "p", "message_id": ["short"]}),
            argument("message_id", "Value must be array of MESSAGE_ID values"),
        ),
        (
            "event.offline.list",
            json!({"filter": {"NOPE": 1}}),
            envelope("", "Invalid filter: field 'NOPE' is not allowed in filter"),
        ),
        (
            "event.offline.get",
            json!({"filter": {"PROCESS_ID": "p"}}),
            envelope("", "Invalid filter: field 'PROCESS_ID' is not allowed in filter"),
        ),
        (
            "event.offline.list",
            json!({"order": {"NOPE": "ASC"}}),
            envelope("", "Invalid order: field 'NOPE' is not allowed in order"),
        ),
        (
            "event.offline.get",
            json!({"order": {"ID": "sideways"}}),
            envelope(
                "",
                "Invalid order: allowed sort directions are ASC, DESC. But got 'sideways' for field 'ID'",
            ),
        ),
        (
            "event.offline.list",
            json!({"filter": "abc"}),
            envelope(
                "100",
                "Invalid value {abc} to match with parameter {filter}. Should be value of type array.",
            ),
        ),
    ];
    for (method, params, want) in cases {
        let (status, body) = e.rest(method, params.clone()).await;
        assert_eq!((status, &body), (400, &want), "{method} {params}");
    }
}

// --- command line ---------------------------------------------------------------------------

/// The command line on the app's database (SQLite file, or its PostgreSQL schema).
fn b24(app: &crate::helpers::TestApp, args: &[&str]) -> std::process::Output {
    app.cli().args(args).output().expect("the binary runs")
}

fn stdout(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn outgoing_webhooks_and_the_delivery_log_are_managed_from_the_command_line() {
    let app = crate::helpers::spawn_app().await;
    let r = receiver(0).await;
    let dir = &app;

    let added: Value = serde_json::from_str(&stdout(&b24(
        dir,
        &[
            "events",
            "webhook",
            "add",
            "--event",
            "onCrmDealAdd",
            "--url",
            &r.url,
        ],
    )))
    .unwrap();
    assert_eq!(added["event"], "ONCRMDEALADD");
    assert_eq!(added["url"], r.url.as_str());
    let id = added["id"].as_i64().unwrap();
    let token = added["application_token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    let listed = stdout(&b24(dir, &["events", "webhook", "list"]));
    assert!(listed.starts_with("ID"), "{listed}");
    assert!(
        listed.contains(&format!("{id:<6} ONCRMDEALADD")),
        "{listed}"
    );

    let deal = app.new_item(2, None).await;
    let got = r.wait_for(1).await;
    assert_eq!(got[0].event(), ("ONCRMDEALADD".to_string(), deal));
    assert_eq!(got[0].get("auth[application_token]"), token);
    eventually_log(&app, 1).await;
    let log = stdout(&b24(dir, &["events", "log"]));
    let line = log.lines().nth(1).expect("one delivery");
    for part in ["ONCRMDEALADD", "delivered", "200", r.url.as_str()] {
        assert!(line.contains(part), "{part} missing: {log}");
    }

    let removed = stdout(&b24(dir, &["events", "webhook", "remove", &id.to_string()]));
    assert_eq!(removed.trim(), format!("removed outgoing webhook {id}"));
    let again = b24(dir, &["events", "webhook", "remove", &id.to_string()]);
    assert!(!again.status.success());
    let unknown = b24(
        dir,
        &[
            "events",
            "webhook",
            "add",
            "--event",
            "ONNOTHING",
            "--url",
            &r.url,
        ],
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown event 'ONNOTHING'"));
    let bad_url = b24(
        dir,
        &[
            "events",
            "webhook",
            "add",
            "--event",
            "ONCRMDEALADD",
            "--url",
            "ftp://example.com/x",
        ],
    );
    assert!(!bad_url.status.success());
    assert!(String::from_utf8_lossy(&bad_url.stderr).contains("Unsupported handler protocol"));
}
