//! `batch` against the real server: typed results, per-command errors, splitting past 50,
//! `$result` references within and across requests, and `halt`.

use crate::helpers::spawn_server;
use b24_client::ErrorKind;
use b24_client::methods::binding::{self, Binding};
use b24_client::methods::{activity::TodoAdd, item, system::ServerTime};
use serde_json::{Value, json};

#[tokio::test]
async fn a_batch_returns_typed_results_and_per_command_errors() {
    let server = spawn_server().await;
    let client = server.admin();
    let mut batch = client.batch();
    let deal = batch.push(&item::Add {
        entity_type_id: 2,
        fields: json!({"title": "A"}),
    });
    let missing = batch.push(&binding::List { activity_id: 999 });
    let time = batch.push(&ServerTime);

    let results = batch.send().await.unwrap();

    assert_eq!(results.get(&deal).unwrap().title.as_deref(), Some("A"));
    let error = results.get(&missing).unwrap_err();
    assert_eq!(
        (error.code(), error.description(), error.status()),
        (Some("NOT_FOUND"), Some("Entity not found"), None)
    );
    assert!(results.get(&time).unwrap().ends_with("+00:00"));
    assert!(results.response(&time).unwrap().time.is_some());
    assert!(results.failure().is_none());
}

#[tokio::test]
async fn a_reference_to_an_earlier_command_in_the_same_request_is_resolved_by_the_server() {
    let server = spawn_server().await;
    let client = server.admin();
    let mut batch = client.batch();
    let deal = batch.push(&item::Add {
        entity_type_id: 2,
        fields: json!({"title": "D"}),
    });
    let todo = batch.push_raw::<Value>(
        "crm.activity.todo.add",
        json!({"ownerTypeId": 2, "ownerId": deal.reference(&["item", "id"]),
               "deadline": "2030-01-01T10:00:00", "title": "T"}),
    );

    let results = batch.halt(true).send().await.unwrap();

    let deal_id = results.get(&deal).unwrap().id;
    let todo_id = results.get(&todo).unwrap()["id"].as_i64().unwrap();
    assert_eq!(
        client
            .crm()
            .activity()
            .binding()
            .list(todo_id)
            .await
            .unwrap(),
        [Binding::new(2, deal_id)]
    );
}

#[tokio::test]
async fn past_fifty_commands_the_batch_is_split_and_references_across_requests_are_filled_in() {
    let server = spawn_server().await;
    let client = server.admin();
    let mut batch = client.batch();
    let first = batch.push(&item::Add {
        entity_type_id: 2,
        fields: json!({"title": "first"}),
    });
    let fillers: Vec<_> = (0..70)
        .map(|i| {
            batch.push(&item::Add {
                entity_type_id: 3,
                fields: json!({"title": format!("c{i}")}),
            })
        })
        .collect();
    // Command 71 lands in the second request; `first` was answered by the first one.
    let todo = batch.push_raw::<Value>(
        "crm.activity.todo.add",
        json!({"ownerTypeId": 2, "ownerId": first.reference(&["item", "id"]),
               "deadline": "2030-01-01T10:00:00", "title": format!("for {}", first.reference(&["item", "title"]))}),
    );
    assert_eq!(batch.len(), 72);

    let results = batch.send().await.unwrap();

    let contact_ids: Vec<i64> = fillers.iter().map(|h| results.get(h).unwrap().id).collect();
    assert_eq!(contact_ids, (1..=70).collect::<Vec<_>>());
    let todo_id = results.get(&todo).unwrap()["id"].as_i64().unwrap();
    let activity = client.crm().activity().get(todo_id).await.unwrap();
    assert_eq!(activity.owner_id, Some(results.get(&first).unwrap().id));
    assert_eq!(activity.subject.as_deref(), Some("for first"));
}

#[tokio::test]
async fn halt_stops_at_the_first_failure_including_later_requests() {
    let server = spawn_server().await;
    let client = server.admin();
    let mut batch = client.batch();
    let before = batch.push(&ServerTime);
    let failing = batch.push(&TodoAdd::new(2, 999, "2030-01-01T10:00:00"));
    let after: Vec<_> = (0..60)
        .map(|_| {
            batch.push(&item::Add {
                entity_type_id: 2,
                fields: json!({"title": "never"}),
            })
        })
        .collect();

    let results = batch.halt(true).send().await.unwrap();

    assert!(results.get(&before).is_ok());
    assert_eq!(
        results.get(&failing).unwrap_err().code(),
        Some("OWNER_NOT_FOUND")
    );
    for handle in &after {
        assert!(matches!(
            results.get(handle).unwrap_err().kind(),
            ErrorKind::NotExecuted
        ));
    }
    let deals: Vec<Value> = futures::TryStreamExt::try_collect(client.list(
        "crm.item.list",
        json!({"entityTypeId": 2}),
        b24_client::Paging::Offset,
    ))
    .await
    .unwrap();
    assert!(deals.is_empty(), "no command after the failure ran");
}

#[tokio::test]
async fn without_halt_every_command_runs() {
    let server = spawn_server().await;
    let client = server.admin();
    let mut batch = client.batch();
    let failing = batch.push(&binding::List { activity_id: 1 });
    let after = batch.push(&item::Add {
        entity_type_id: 2,
        fields: json!({"title": "runs"}),
    });

    let results = batch.send().await.unwrap();

    assert_eq!(results.get(&failing).unwrap_err().code(), Some("NOT_FOUND"));
    assert_eq!(results.get(&after).unwrap().id, 1);
}

#[tokio::test]
async fn an_empty_batch_sends_nothing() {
    let server = spawn_server().await;
    let results = server.admin().batch().send().await.unwrap();
    assert!(results.failure().is_none());
}

/// Stands in for a proxy that loses the answer to the second request of a split batch;
/// b24-server cannot be made to do that.
#[tokio::test]
async fn when_a_later_request_of_a_split_batch_fails_earlier_results_stay_readable() {
    use crate::stub::{Reply, Stub};
    let stub = Stub::start(|request, index| {
        if index > 0 {
            return Reply::html(502);
        }
        let cmd = request.body["cmd"].as_object().unwrap();
        let results: serde_json::Map<String, Value> =
            cmd.keys().map(|k| (k.clone(), json!(true))).collect();
        Reply::ok(
            json!({"result": results, "result_error": [], "result_total": [],
                         "result_next": [], "result_time": []}),
        )
    })
    .await;
    let client = crate::helpers::client_for(&stub.webhook());
    let mut batch = client.batch();
    let handles: Vec<_> = (0..120)
        .map(|i| {
            batch.push(&binding::Add {
                activity_id: i,
                entity_type_id: 2,
                entity_id: 1,
            })
        })
        .collect();

    let results = batch.send().await.unwrap();

    assert!(handles[..50].iter().all(|h| results.get(h).unwrap()));
    for h in &handles[50..100] {
        let error = results.get(h).unwrap_err();
        assert!(matches!(error.kind(), ErrorKind::Indeterminate) && error.is_ambiguous());
    }
    for h in &handles[100..] {
        assert!(matches!(
            results.get(h).unwrap_err().kind(),
            ErrorKind::NotExecuted
        ));
    }
    assert_eq!(results.failure().unwrap().status(), Some(502));
    assert_eq!(
        stub.requests().len(),
        2,
        "a write batch is not repeated, nor continued"
    );
}

#[tokio::test]
async fn commands_are_sent_as_php_query_strings_under_their_keys() {
    use crate::stub::{Reply, Stub};
    let stub = Stub::start(|_, _| Reply::ok(json!({"result": [], "result_error": []}))).await;
    let client = crate::helpers::client_for(&stub.webhook());
    let mut batch = client.batch();
    batch.push(&binding::Delete {
        activity_id: 7,
        entity_type_id: 2,
        entity_id: 15,
    });
    batch.push_raw::<Value>(
        "crm.item.list",
        json!({"entityTypeId": 2, "filter": {">id": 5, "title": "a&b c"}, "select": ["id"]}),
    );
    batch.push(&ServerTime);
    batch.halt(true).send().await.unwrap();

    let body = &stub.requests()[0].body;
    assert_eq!(body["halt"], 1);
    assert_eq!(
        body["cmd"],
        json!({
            "c0": "crm.activity.binding.delete?activityId=7&entityTypeId=2&entityId=15",
            "c1": "crm.item.list?entityTypeId=2&filter%5B%3Eid%5D=5&filter%5Btitle%5D=a%26b%20c&select%5B0%5D=id",
            "c2": "server.time",
        })
    );
}
