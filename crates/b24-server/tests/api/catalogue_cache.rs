//! Smart-process types and user-field definitions are kept in memory (`store/catalogue.rs`):
//! every change to them reaches the very next item call of the same server, and a change made
//! by another process (the CLI, another server on the same PostgreSQL database) within a second.

use crate::helpers::{envelope, spawn_app, TestApp};
use crate::scale_out::schema_or_skip;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A deal as `crm.item.get` shows it.
async fn deal(app: &TestApp, id: i64) -> Value {
    app.ok("crm.item.get", json!({"entityTypeId": 2, "id": id}))
        .await["item"]
        .clone()
}

/// The keys of an answer object, in order.
fn keys(item: &Value) -> Vec<String> {
    item.as_object().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn a_user_field_added_changed_and_deleted_is_seen_by_the_very_next_item_call() {
    let app = spawn_app().await;
    let id = app.new_item(2, None).await;
    // Read once, so the deal's (empty) set of user fields is kept.
    assert!(deal(&app, id).await.get("ufCrmColour").is_none());

    let colour = app
        .ok(
            "crm.deal.userfield.add",
            json!({"fields": {"FIELD_NAME": "COLOUR", "USER_TYPE_ID": "string", "SORT": 10}}),
        )
        .await
        .as_i64()
        .unwrap();
    let size = app
        .ok(
            "crm.deal.userfield.add",
            json!({"fields": {"FIELD_NAME": "SIZE", "USER_TYPE_ID": "integer", "SORT": 20,
                              "EDIT_FORM_LABEL": "Size"}}),
        )
        .await
        .as_i64()
        .unwrap();
    let got = deal(&app, id).await;
    assert_eq!(got["ufCrmColour"], Value::Null);
    let names = keys(&got);
    assert_eq!(&names[names.len() - 2..], ["ufCrmColour", "ufCrmSize"]);
    let (status, body) = app
        .call(
            "crm.item.list",
            json!({"entityTypeId": 2, "filter": {"ufCrmSize": 3}}),
        )
        .await;
    assert_eq!(status, 200, "a filter on the new field: {body}");

    // A changed SORT orders the answer's fields at once; a changed label titles them.
    app.ok(
        "crm.deal.userfield.update",
        json!({"id": colour, "fields": {"SORT": 30}}),
    )
    .await;
    app.ok(
        "crm.deal.userfield.update",
        json!({"id": size, "fields": {"EDIT_FORM_LABEL": "Bigness"}}),
    )
    .await;
    let names = keys(&deal(&app, id).await);
    assert_eq!(&names[names.len() - 2..], ["ufCrmSize", "ufCrmColour"]);
    let fields = app.ok("crm.item.fields", json!({"entityTypeId": 2})).await;
    assert_eq!(fields["fields"]["ufCrmSize"]["title"], "Bigness");

    app.ok("crm.deal.userfield.delete", json!({"id": colour}))
        .await;
    let got = deal(&app, id).await;
    assert!(got.get("ufCrmColour").is_none(), "{got}");
    assert!(got.get("ufCrmSize").is_some());
    let (status, body) = app
        .call(
            "crm.item.list",
            json!({"entityTypeId": 2, "filter": {"ufCrmColour": "red"}}),
        )
        .await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("INVALID_ARG_VALUE")),
        "the deleted field no longer filters: {body}"
    );
}

#[tokio::test]
async fn a_smart_process_added_changed_and_deleted_is_seen_by_the_very_next_item_call() {
    let app = spawn_app().await;
    let not_found = (400, envelope("NOT_FOUND", "Smart process not found"));
    let list = json!({"entityTypeId": 150});
    assert_eq!(app.call("crm.item.list", list.clone()).await, not_found);

    let t = app
        .ok(
            "crm.type.add",
            json!({"fields": {"title": "Orders", "entityTypeId": 150}}),
        )
        .await;
    let type_id = t["type"]["id"].as_i64().unwrap();
    let order = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 150, "fields": {"title": "o"}}),
        )
        .await["item"]
        .clone();
    assert!(order.get("parentId2").is_none());
    let order = order["id"].as_i64().unwrap();

    // A deal parent, given by the type's relations, is a field of the very next answer.
    app.ok(
        "crm.type.update",
        json!({"id": type_id, "fields": {"relations": {"parent": [{"entityTypeId": 2}]}}}),
    )
    .await;
    let got = app
        .ok("crm.item.get", json!({"entityTypeId": 150, "id": order}))
        .await;
    assert_eq!(got["item"]["parentId2"], Value::Null);
    let fields = app.ok("crm.item.fields", json!({"entityTypeId": 2})).await;
    assert!(fields["fields"].get("parentId150").is_none());

    // A renamed type titles its parent field at once.
    app.ok(
        "crm.type.update",
        json!({"id": type_id, "fields": {"relations": {"parent": [], "child": [{"entityTypeId": 2}]}}}),
    )
    .await;
    let fields = app.ok("crm.item.fields", json!({"entityTypeId": 2})).await;
    assert_eq!(fields["fields"]["parentId150"]["title"], "Orders");
    app.ok(
        "crm.type.update",
        json!({"id": type_id, "fields": {"title": "Big orders"}}),
    )
    .await;
    let fields = app.ok("crm.item.fields", json!({"entityTypeId": 2})).await;
    assert_eq!(fields["fields"]["parentId150"]["title"], "Big orders");

    app.ok("crm.item.delete", json!({"entityTypeId": 150, "id": order}))
        .await;
    app.ok("crm.type.delete", json!({"id": type_id})).await;
    assert_eq!(app.call("crm.item.list", list).await, not_found);
    let fields = app.ok("crm.item.fields", json!({"entityTypeId": 2})).await;
    assert!(fields["fields"].get("parentId150").is_none());
}

#[tokio::test]
async fn a_reset_and_a_snapshot_restore_are_seen_by_the_very_next_item_call() {
    let app = spawn_app().await;
    let id = app.new_item(2, None).await;
    let saved = app
        .control(
            reqwest::Method::POST,
            "/snapshots",
            Some(json!({"name": "plain"})),
        )
        .await;
    assert_eq!(saved.0, 201, "{}", saved.1);
    app.ok(
        "crm.deal.userfield.add",
        json!({"fields": {"FIELD_NAME": "COLOUR", "USER_TYPE_ID": "string"}}),
    )
    .await;
    assert!(deal(&app, id).await.get("ufCrmColour").is_some());

    let restored = app
        .control(reqwest::Method::POST, "/snapshots/plain/restore", None)
        .await;
    assert_eq!(restored.0, 200, "{}", restored.1);
    assert!(deal(&app, id).await.get("ufCrmColour").is_none());

    app.ok(
        "crm.deal.userfield.add",
        json!({"fields": {"FIELD_NAME": "COLOUR", "USER_TYPE_ID": "string"}}),
    )
    .await;
    let id = app.new_item(2, None).await;
    assert!(deal(&app, id).await.get("ufCrmColour").is_some());
    let reset = app
        .control(reqwest::Method::POST, "/reset", Some(json!({})))
        .await;
    assert_eq!(reset.0, 200, "{}", reset.1);
    let id = app.new_item(2, None).await;
    assert!(deal(&app, id).await.get("ufCrmColour").is_none());
}

/// Polls `seen` every 50 ms until it holds, failing after 1.5 s (a second, and a margin for a
/// loaded machine).
async fn within_a_second_and_a_half(mut seen: impl AsyncFnMut() -> bool) {
    let by = Instant::now() + Duration::from_millis(1500);
    loop {
        if seen().await {
            return;
        }
        assert!(Instant::now() < by, "not seen within 1.5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_snapshot_restored_by_the_cli_is_seen_by_the_server_within_a_second() {
    let app = spawn_app().await;
    let id = app.new_item(2, None).await;
    let saved = app
        .cli()
        .args(["snapshot", "save", "plain"])
        .output()
        .unwrap();
    assert!(saved.status.success(), "{saved:?}");
    app.ok(
        "crm.deal.userfield.add",
        json!({"fields": {"FIELD_NAME": "COLOUR", "USER_TYPE_ID": "string"}}),
    )
    .await;
    assert!(deal(&app, id).await.get("ufCrmColour").is_some());

    // The CLI is another process: the server sees its change once it reads the catalogue
    // version again, within a second.
    let restored = app
        .cli()
        .args(["snapshot", "restore", "plain"])
        .output()
        .unwrap();
    assert!(restored.status.success(), "{restored:?}");
    within_a_second_and_a_half(async || deal(&app, id).await.get("ufCrmColour").is_none()).await;
}

/// Calls a method on a server process through a webhook URL.
async fn call(webhook: &str, method: &str, params: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{webhook}{method}"))
        .json(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{method}");
    response.json::<Value>().await.unwrap()["result"].clone()
}

#[tokio::test]
async fn a_user_field_added_through_one_server_is_seen_by_the_other_within_a_second() {
    let Some(schema) = schema_or_skip("catalogue across processes") else {
        return;
    };
    let servers = crate::helpers::TwoServers::start(schema, "unlimited");
    let [first, second] = servers.webhooks();
    let added = call(
        &first,
        "crm.item.add",
        json!({"entityTypeId": 2, "fields": {"title": "d"}}),
    )
    .await;
    let get = json!({"entityTypeId": 2, "id": added["item"]["id"]});
    // The second server keeps the deal's (empty) set of user fields.
    let got = call(&second, "crm.item.get", get.clone()).await;
    assert!(got["item"].get("ufCrmColour").is_none());

    call(
        &first,
        "crm.deal.userfield.add",
        json!({"fields": {"FIELD_NAME": "COLOUR", "USER_TYPE_ID": "string"}}),
    )
    .await;
    within_a_second_and_a_half(async || {
        let got = call(&second, "crm.item.get", get.clone()).await;
        got["item"].get("ufCrmColour").is_some()
    })
    .await;
    servers.stop();
}
