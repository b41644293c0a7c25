//! Read-then-write paths under concurrent callers. SQLite serialises writers, so these matter on
//! PostgreSQL (where each call reads, then writes, on its own connection): every row a call
//! reads in order to change it must stay locked until the call commits.

use crate::helpers::{read, spawn_app};
use b24_server::clock::{Clock, SystemClock};
use serde_json::{json, Value};
use std::collections::HashSet;

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
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_different_fields_of_one_item_both_stay() {
    let app = spawn_app().await;
    for round in 0..12 {
        let deal = app.new_item(2, None).await;
        let url = format!("{}crm.item.update", app.admin_url);
        let answers = at_once(2, |i| {
            let fields = if i == 0 {
                json!({"title": format!("title {round}")})
            } else {
                json!({"comments": format!("comments {round}")})
            };
            fresh_client()
                .post(&url)
                .json(&json!({"entityTypeId": 2, "id": deal, "fields": fields}))
        })
        .await;
        for (status, body) in &answers {
            assert_eq!(*status, 200, "{body}");
        }
        let item = app
            .ok("crm.item.get", json!({"entityTypeId": 2, "id": deal}))
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
/// answers new tokens, the others `invalid_grant`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_refresh_grants_with_one_token_succeed_once() {
    let app = spawn_app().await;
    for round in 0..4 {
        let installed = app.install_app("crm", 1, SystemClock.now()).await;
        let (client_id, client_secret) = (installed.client_id, installed.client_secret);
        let tokens = installed.tokens;
        let url = format!("{}/oauth/token/", app.base);
        let answers = at_once(16, |_| {
            fresh_client().post(&url).form(&json!({
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
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_offline_gets_hand_each_entry_to_one_caller() {
    let app = spawn_app().await;
    let installed = app.install_app("crm", 1, SystemClock.now()).await;
    let token = installed.tokens["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let rest = |method: &str| format!("{}/rest/{method}", app.base);
    let (status, bound) = read(
        app.client
            .post(rest("event.bind"))
            .json(&json!({"auth": token, "event": "ONCRMDEALUPDATE", "event_type": "offline"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{bound}");
    const ENTRIES: usize = 24;
    for _ in 0..ENTRIES {
        let deal = app.new_item(2, None).await;
        app.ok(
            "crm.deal.update",
            json!({"id": deal, "fields": {"TITLE": "changed"}}),
        )
        .await;
    }

    let mut seen = HashSet::new();
    for round in 0..3 {
        let answers = at_once(8, |_| {
            fresh_client()
                .post(rest("event.offline.get"))
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
