//! The last-binding invariant under concurrent clients (DESIGN "Invariants").

use crate::helpers::spawn_app;
use serde_json::json;

/// Twenty bindings, twenty concurrent deletes (one per binding, each on its own connection):
/// exactly one binding must survive, and every caller gets `true` or
/// `LAST_BINDING_CANNOT_BE_DELETED` — never an error of ours, never zero bindings.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deletes_always_leave_exactly_one_binding() {
    let app = spawn_app().await;
    let first = app.new_item(3, None).await;
    let activity = app.new_todo(3, first).await;
    let mut targets = vec![(3, first)];
    for _ in 0..19 {
        let contact = app.new_item(3, None).await;
        app.ok(
            "crm.activity.binding.add",
            json!({"activityId": activity, "entityTypeId": 3, "entityId": contact}),
        )
        .await;
        targets.push((3, contact));
    }

    let mut tasks = Vec::new();
    for (entity_type_id, entity_id) in targets {
        let client = reqwest::Client::new();
        let url = format!("{}crm.activity.binding.delete", app.admin_url);
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"activityId": activity, "entityTypeId": entity_type_id, "entityId": entity_id}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            (status, body)
        }));
    }
    let mut deleted = 0;
    let mut refused = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            200 => {
                assert_eq!(body["result"], json!(true));
                deleted += 1;
            }
            400 => {
                assert_eq!(body["error"], "LAST_BINDING_CANNOT_BE_DELETED", "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }

    assert_eq!((deleted, refused), (19, 1));
    assert_eq!(app.bindings(activity).await.len(), 1);
}

/// Two clients racing to add the same pair: one wins, the other is told it is already bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adds_of_one_pair_bind_it_once() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    let activity = app.new_todo(2, deal).await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let client = reqwest::Client::new();
        let url = format!("{}crm.activity.binding.add", app.admin_url);
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"activityId": activity, "entityTypeId": 3, "entityId": contact}))
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<serde_json::Value>().await.unwrap(),
            )
        }));
    }
    let mut wins = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        if status == 200 {
            wins += 1;
        } else {
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("ACTIVITY_IS_ALREADY_BOUND"))
            );
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(app.bindings(activity).await, vec![(2, deal), (3, contact)]);
}
