//! Read-then-write paths under concurrent callers. SQLite serialises writers, so these matter on
//! PostgreSQL (where each call reads, then writes, on its own connection): every row a call
//! reads in order to change it must stay locked until the call commits.
//!
//! Each race runs twice: against one server (on whichever backend the suite uses), and against
//! two server processes on one PostgreSQL schema with the callers spread over both (skipped
//! without `B24_TEST_POSTGRES_URL`, see `scale_out`).

use crate::helpers::{read, spawn_app, InstalledApp, TestApp, TwoServers};
use crate::scale_out::schema_or_skip;
use b24_server::clock::{Clock, SystemClock};
use serde_json::{json, Value};
use std::collections::HashSet;

/// Where the callers go: one server, or several processes on one database (call `i` goes to
/// server `i % n`).
struct Servers {
    /// `http://host:port` of each server.
    bases: Vec<String>,
    /// The administrator's webhook on each server (ending in `/`).
    webhooks: Vec<String>,
}

impl Servers {
    fn base(&self, i: usize) -> &str {
        &self.bases[i % self.bases.len()]
    }

    fn webhook(&self, i: usize, method: &str) -> String {
        format!("{}{method}", self.webhooks[i % self.webhooks.len()])
    }

    /// A call through the administrator's webhook on server `i`; must succeed.
    async fn ok(&self, i: usize, method: &str, params: Value) -> Value {
        let (status, body) = read(
            fresh_client()
                .post(self.webhook(i, method))
                .json(&params)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{method}: {body}");
        body["result"].clone()
    }
}

/// Sends the same kind of call `n` times at once, each on its own connection.
async fn at_once(n: usize, call: impl Fn(usize) -> reqwest::RequestBuilder) -> Vec<(u16, Value)> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let request = call(i);
            tokio::spawn(async move { read(request.send().await.unwrap()).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

/// Two updates of one deal at the same time, one changing `title` and one `comments`: both are
/// answered 200, so both changes must be kept (a lost update answers 200 and drops one).
async fn updates_of_different_fields_of_one_item_both_stay(servers: &Servers) {
    for round in 0..12 {
        let deal = servers
            .ok(
                round,
                "crm.item.add",
                json!({"entityTypeId": 2, "fields": {"title": "deal"}}),
            )
            .await["item"]["id"]
            .as_i64()
            .unwrap();
        let answers = at_once(2, |i| {
            let fields = if i == 0 {
                json!({"title": format!("title {round}")})
            } else {
                json!({"comments": format!("comments {round}")})
            };
            fresh_client()
                .post(servers.webhook(i, "crm.item.update"))
                .json(&json!({"entityTypeId": 2, "id": deal, "fields": fields}))
        })
        .await;
        for (status, body) in &answers {
            assert_eq!(*status, 200, "{body}");
        }
        let item = servers
            .ok(
                round + 1,
                "crm.item.get",
                json!({"entityTypeId": 2, "id": deal}),
            )
            .await;
        assert_eq!(
            item["item"]["title"],
            format!("title {round}"),
            "round {round}"
        );
        assert_eq!(
            item["item"]["comments"],
            format!("comments {round}"),
            "round {round}"
        );
    }
}

/// A refresh token works once, also when sixteen grants with it arrive at the same time: one
/// answers new tokens, the others `invalid_grant`. One installed application per round.
async fn refresh_grants_with_one_token_succeed_once(servers: &Servers, apps: Vec<InstalledApp>) {
    for (round, installed) in apps.into_iter().enumerate() {
        let (client_id, client_secret) = (installed.client_id, installed.client_secret);
        let tokens = installed.tokens;
        let answers = at_once(16, |i| {
            fresh_client()
                .post(format!("{}/oauth/token/", servers.base(i)))
                .form(&json!({
                    "grant_type": "refresh_token", "client_id": client_id,
                    "client_secret": client_secret, "refresh_token": tokens["refresh_token"],
                }))
        })
        .await;
        let granted: Vec<_> = answers
            .iter()
            .filter(|(status, _)| *status == 200)
            .collect();
        assert_eq!(granted.len(), 1, "round {round}: {answers:?}");
        for (status, body) in answers.iter().filter(|(status, _)| *status != 200) {
            assert_eq!(*status, 400, "{body}");
            assert_eq!(body["error"], "invalid_grant", "{body}");
        }
    }
}

/// `event.offline.get` without clearing hands each queued entry to one caller only, however
/// many ask at once.
async fn offline_gets_hand_each_entry_to_one_caller(servers: &Servers, installed: InstalledApp) {
    let token = installed.tokens["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let rest = |i: usize, method: &str| format!("{}/rest/{method}", servers.base(i));
    let (status, bound) = read(
        fresh_client()
            .post(rest(0, "event.bind"))
            .json(&json!({"auth": token, "event": "ONCRMDEALUPDATE", "event_type": "offline"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{bound}");
    const ENTRIES: usize = 24;
    for i in 0..ENTRIES {
        let deal = servers
            .ok(i, "crm.deal.add", json!({"fields": {"TITLE": "deal"}}))
            .await;
        servers
            .ok(
                i + 1,
                "crm.deal.update",
                json!({"id": deal, "fields": {"TITLE": "changed"}}),
            )
            .await;
    }

    let mut seen = HashSet::new();
    for round in 0..3 {
        let answers = at_once(8, |i| {
            fresh_client()
                .post(rest(i, "event.offline.get"))
                .json(&json!({"auth": token, "clear": 0, "limit": 3}))
        })
        .await;
        for (status, body) in answers {
            assert_eq!(status, 200, "{body}");
            for event in body["result"]["events"].as_array().unwrap() {
                let id = event["ID"].to_string();
                assert!(
                    seen.insert(id.clone()),
                    "round {round}: entry {id} handed out twice"
                );
            }
        }
    }
    assert_eq!(seen.len(), ENTRIES, "every entry was handed out once");
}

/// The legacy methods too: `crm.deal.update` of `TITLE` and of `COMMENTS` at once keeps both.
async fn legacy_updates_of_different_fields_both_stay(servers: &Servers) {
    for round in 0..12 {
        let deal = servers
            .ok(round, "crm.deal.add", json!({"fields": {"TITLE": "deal"}}))
            .await;
        let answers = at_once(2, |i| {
            let fields = if i == 0 {
                json!({"TITLE": format!("title {round}")})
            } else {
                json!({"COMMENTS": format!("comments {round}")})
            };
            fresh_client()
                .post(servers.webhook(i, "crm.deal.update"))
                .json(&json!({"id": deal, "fields": fields}))
        })
        .await;
        for (status, body) in &answers {
            assert_eq!(*status, 200, "{body}");
        }
        let got = servers
            .ok(round + 1, "crm.deal.get", json!({"id": deal}))
            .await;
        assert_eq!(got["TITLE"], format!("title {round}"), "round {round}");
        assert_eq!(
            got["COMMENTS"],
            format!("comments {round}"),
            "round {round}"
        );
    }
}

/// An authorisation code is exchanged once, also when sixteen exchanges arrive at the same time:
/// one answers tokens, the others `invalid_grant`. `(client_id, client_secret, code)` per round.
async fn a_code_is_exchanged_once(servers: &Servers, codes: Vec<(String, String, String)>) {
    for (round, (client_id, client_secret, code)) in codes.into_iter().enumerate() {
        let answers = at_once(16, |i| {
            fresh_client()
                .post(format!("{}/oauth/token/", servers.base(i)))
                .form(
                    &json!({"grant_type": "authorization_code", "client_id": client_id,
                              "client_secret": client_secret, "code": code}),
                )
        })
        .await;
        let granted = answers.iter().filter(|(status, _)| *status == 200).count();
        assert_eq!(granted, 1, "round {round}: {answers:?}");
        for (status, body) in answers.iter().filter(|(status, _)| *status != 200) {
            assert_eq!(*status, 400, "{body}");
            assert_eq!(body["error"], "invalid_grant", "{body}");
        }
    }
}

/// Adds at the same time each get an id of their own (the id sequences): items and activities.
async fn parallel_adds_get_ids_of_their_own(servers: &Servers) {
    let deal = servers
        .ok(
            0,
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "owner"}}),
        )
        .await["item"]["id"]
        .as_i64()
        .unwrap();
    let answers = at_once(48, |i| {
        let request = fresh_client();
        if i % 2 == 0 {
            request
                .post(servers.webhook(i / 2, "crm.item.add"))
                .json(&json!({"entityTypeId": 2, "fields": {"title": format!("deal {i}")}}))
        } else {
            request
                .post(servers.webhook(i / 2, "crm.activity.todo.add"))
                .json(
                    &json!({"ownerTypeId": 2, "ownerId": deal, "deadline": "2030-01-01T10:00:00"}),
                )
        }
    })
    .await;
    let (mut items, mut activities) = (HashSet::new(), HashSet::new());
    for (i, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "{body}");
        let fresh = if i % 2 == 0 {
            items.insert(body["result"]["item"]["id"].as_i64().unwrap())
        } else {
            activities.insert(body["result"]["id"].as_i64().unwrap())
        };
        assert!(fresh, "an id was handed out twice: {body}");
    }
    assert_eq!((items.len(), activities.len()), (24, 24));
    let (status, listed) = read(
        fresh_client()
            .post(servers.webhook(1, "crm.item.list"))
            .json(&json!({"entityTypeId": 2}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, listed["total"].as_i64()), (200, Some(25)));
}

/// Ten callers adding the same binding at once: one wins, the others are told it is bound.
async fn parallel_adds_of_one_binding_bind_it_once(servers: &Servers) {
    let new_item = |i: usize, entity_type_id: i64| async move {
        servers
            .ok(
                i,
                "crm.item.add",
                json!({"entityTypeId": entity_type_id, "fields": {"title": "x"}}),
            )
            .await["item"]["id"]
            .as_i64()
            .unwrap()
    };
    for round in 0..4 {
        let deal = new_item(round, 2).await;
        let contact = new_item(round + 1, 3).await;
        let activity = servers
            .ok(
                round,
                "crm.activity.todo.add",
                json!({"ownerTypeId": 2, "ownerId": deal, "deadline": "2030-01-01T10:00:00"}),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        let answers = at_once(10, |i| {
            fresh_client()
                .post(servers.webhook(i, "crm.activity.binding.add"))
                .json(&json!({"activityId": activity, "entityTypeId": 3, "entityId": contact}))
        })
        .await;
        let mut wins = 0;
        for (status, body) in answers {
            if status == 200 {
                wins += 1;
            } else {
                assert_eq!(
                    (status, body["error"].as_str()),
                    (400, Some("ACTIVITY_IS_ALREADY_BOUND")),
                    "{body}"
                );
            }
        }
        assert_eq!(wins, 1, "round {round}");
        let listed = servers
            .ok(
                round + 1,
                "crm.activity.binding.list",
                json!({"activityId": activity}),
            )
            .await;
        assert_eq!(
            listed,
            json!([{"entityTypeId": 2, "entityId": deal}, {"entityTypeId": 3, "entityId": contact}]),
            "round {round}"
        );
    }
}

/// Two server processes on one PostgreSQL schema, or `None` (skipped) without PostgreSQL.
fn two_processes(test: &str) -> Option<(TwoServers, Servers)> {
    let two = TwoServers::start(schema_or_skip(test)?, "unlimited");
    let servers = Servers {
        bases: two.bases().to_vec(),
        webhooks: two.webhooks().to_vec(),
    };
    Some((two, servers))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_different_fields_of_one_item_both_stay() {
    let app = spawn_app().await;
    updates_of_different_fields_of_one_item_both_stay(&one(&app)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_one_item_on_two_processes_both_stay() {
    let Some((two, servers)) = two_processes("item updates across processes") else {
        return;
    };
    updates_of_different_fields_of_one_item_both_stay(&servers).await;
    two.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_refresh_grants_with_one_token_succeed_once() {
    let app = spawn_app().await;
    let mut apps = Vec::new();
    for _ in 0..4 {
        apps.push(app.install_app("crm", 1, SystemClock.now()).await);
    }
    refresh_grants_with_one_token_succeed_once(&one(&app), apps).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_refresh_grants_on_two_processes_succeed_once() {
    let Some((two, servers)) = two_processes("refresh grants across processes") else {
        return;
    };
    let mut apps = Vec::new();
    for _ in 0..4 {
        apps.push(two.install_app("crm", 1).await);
    }
    refresh_grants_with_one_token_succeed_once(&servers, apps).await;
    two.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_offline_gets_hand_each_entry_to_one_caller() {
    let app = spawn_app().await;
    let installed = app.install_app("crm", 1, SystemClock.now()).await;
    offline_gets_hand_each_entry_to_one_caller(&one(&app), installed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_offline_gets_on_two_processes_hand_each_entry_to_one_caller() {
    let Some((two, servers)) = two_processes("offline queue across processes") else {
        return;
    };
    let installed = two.install_app("crm", 1).await;
    offline_gets_hand_each_entry_to_one_caller(&servers, installed).await;
    two.stop();
}

/// One server's [`Servers`].
fn one(app: &TestApp) -> Servers {
    Servers {
        bases: vec![app.base.clone()],
        webhooks: vec![app.admin_url.clone()],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_legacy_updates_of_different_fields_both_stay() {
    let app = spawn_app().await;
    legacy_updates_of_different_fields_both_stay(&one(&app)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_legacy_updates_on_two_processes_both_stay() {
    let Some((two, servers)) = two_processes("legacy updates across processes") else {
        return;
    };
    legacy_updates_of_different_fields_both_stay(&servers).await;
    two.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_exchanges_of_one_code_succeed_once() {
    let app = spawn_app().await;
    let mut codes = Vec::new();
    for _ in 0..4 {
        let scopes = b24_server::admin::parse_scopes(Some("crm")).unwrap();
        let store = &app.state.store;
        let portal = b24_server::store::DEFAULT_PORTAL;
        let app_credentials =
            b24_server::oauth::create_app(store, portal, "Test app", &scopes, "").unwrap();
        let code = b24_server::oauth::authorize(
            store,
            portal,
            &app_credentials.client_id,
            1,
            SystemClock.now(),
            30.0,
        )
        .unwrap();
        codes.push((
            app_credentials.client_id,
            app_credentials.client_secret,
            code,
        ));
    }
    a_code_is_exchanged_once(&one(&app), codes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_exchanges_of_one_code_on_two_processes_succeed_once() {
    let Some((two, servers)) = two_processes("code exchanges across processes") else {
        return;
    };
    let mut codes = Vec::new();
    for _ in 0..4 {
        let (client_id, client_secret, _) = two.create_app("crm");
        let code = two.authorize(&client_id, 1);
        codes.push((client_id, client_secret, code));
    }
    a_code_is_exchanged_once(&servers, codes).await;
    two.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_adds_get_ids_of_their_own_on_one_server() {
    let app = spawn_app().await;
    parallel_adds_get_ids_of_their_own(&one(&app)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_adds_on_two_processes_get_ids_of_their_own() {
    let Some((two, servers)) = two_processes("id sequences across processes") else {
        return;
    };
    parallel_adds_get_ids_of_their_own(&servers).await;
    two.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_adds_of_one_binding_on_one_server_bind_it_once() {
    let app = spawn_app().await;
    parallel_adds_of_one_binding_bind_it_once(&one(&app)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_adds_of_one_binding_on_two_processes_bind_it_once() {
    let Some((two, servers)) = two_processes("binding adds across processes") else {
        return;
    };
    parallel_adds_of_one_binding_bind_it_once(&servers).await;
    two.stop();
}
