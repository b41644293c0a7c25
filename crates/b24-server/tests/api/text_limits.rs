//! Text-field limits (issue 22, spec §14): each field holds what the real service's column holds,
//! counted as MySQL counts it (`VARCHAR` in characters, `TEXT` in bytes); one more refuses the
//! whole call with a Bitrix-shaped 400 and changes nothing.

use crate::helpers::{envelope, read, spawn_app, TestApp};
use b24_server::clock::{Clock, SystemClock};
use serde_json::{json, Value};

fn d7_too_long(field: &str, limit: &str) -> (u16, Value) {
    (
        400,
        envelope(
            "CRM_FIELD_ERROR_VALUE_NOT_VALID",
            &format!("The value of the field \"{field}\" is too long ({limit})"),
        ),
    )
}

fn legacy_too_long(field: &str, limit: &str) -> (u16, Value) {
    (
        400,
        envelope(
            "",
            &format!("The value of the field \"{field}\" is too long ({limit})."),
        ),
    )
}

async fn deal_count(app: &TestApp) -> i64 {
    let (status, body) = app.call("crm.item.list", json!({"entityTypeId": 2})).await;
    assert_eq!(status, 200, "{body}");
    body["total"].as_i64().unwrap()
}

#[tokio::test]
async fn a_deal_title_holds_255_characters_and_256_are_refused_by_both_method_families() {
    let app = spawn_app().await;
    // Two bytes each: the limit counts characters, as MySQL's utf8mb4 VARCHAR(255) does.
    let at_limit = "é".repeat(255);
    let item = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": at_limit}}),
        )
        .await;
    assert_eq!(item["item"]["title"], json!(at_limit));
    let id = item["item"]["id"].as_i64().unwrap();

    let over = "é".repeat(256);
    let limit = "at most 255 characters";
    assert_eq!(
        app.call(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": over}})
        )
        .await,
        d7_too_long("title", limit)
    );
    assert_eq!(
        app.call("crm.deal.add", json!({"fields": {"TITLE": over}}))
            .await,
        legacy_too_long("TITLE", limit)
    );
    assert_eq!(
        app.call(
            "crm.item.update",
            json!({"entityTypeId": 2, "id": id, "fields": {"title": over, "comments": "kept?"}})
        )
        .await,
        d7_too_long("title", limit)
    );
    assert_eq!(
        app.call(
            "crm.deal.update",
            json!({"id": id, "fields": {"TITLE": "x".repeat(4 << 20)}})
        )
        .await,
        legacy_too_long("TITLE", limit)
    );
    assert_eq!(deal_count(&app).await, 1, "nothing was created");
    let stored = app
        .ok("crm.item.get", json!({"entityTypeId": 2, "id": id}))
        .await;
    assert_eq!(stored["item"]["title"], json!(at_limit));
    assert_eq!(
        stored["item"]["comments"],
        Value::Null,
        "nothing was changed"
    );
}

#[tokio::test]
async fn person_names_hold_50_characters_and_multi_field_values_250() {
    let app = spawn_app().await;
    let (status, body) = app
        .call(
            "crm.contact.add",
            json!({"fields": {"NAME": "n".repeat(50), "PHONE": [{"VALUE": "1".repeat(250), "VALUE_TYPE": "WORK"}]}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.call(
            "crm.contact.add",
            json!({"fields": {"NAME": "n".repeat(51)}})
        )
        .await,
        legacy_too_long("NAME", "at most 50 characters")
    );
    assert_eq!(
        app.call(
            "crm.contact.add",
            json!({"fields": {"PHONE": [{"VALUE": "1".repeat(251)}]}})
        )
        .await,
        legacy_too_long("PHONE", "at most 250 characters")
    );
    assert_eq!(
        app.call(
            "crm.item.add",
            json!({"entityTypeId": 3, "fields": {"lastName": "l".repeat(51)}})
        )
        .await,
        d7_too_long("lastName", "at most 50 characters")
    );
}

#[tokio::test]
async fn comments_hold_65535_bytes_counted_in_bytes_not_characters() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let at_limit = "a".repeat(65_535);
    app.ok(
        "crm.item.update",
        json!({"entityTypeId": 2, "id": deal, "fields": {"comments": at_limit}}),
    )
    .await;
    // 32,768 characters, 65,536 bytes: a MySQL TEXT column does not hold it.
    let over = "é".repeat(32_768);
    let limit = "at most 65535 bytes";
    assert_eq!(
        app.call(
            "crm.item.update",
            json!({"entityTypeId": 2, "id": deal, "fields": {"comments": over}})
        )
        .await,
        d7_too_long("comments", limit)
    );
    assert_eq!(
        app.call(
            "crm.deal.update",
            json!({"id": deal, "fields": {"COMMENTS": "a".repeat(65_536)}})
        )
        .await,
        legacy_too_long("COMMENTS", limit)
    );
    let stored = app.ok("crm.deal.get", json!({"id": deal})).await;
    assert_eq!(stored["COMMENTS"], json!(at_limit), "unchanged");
}

#[tokio::test]
async fn activity_subject_description_location_and_communications_have_the_service_limits() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let fields = |subject: String, value: String| {
        json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal, "TYPE_ID": 2, "SUBJECT": subject,
            "COMMUNICATIONS": [{"VALUE": value}]}})
    };
    let id = app
        .ok("crm.activity.add", fields("s".repeat(512), "1".repeat(256)))
        .await
        .as_i64()
        .unwrap();
    assert_eq!(
        app.call("crm.activity.add", fields("s".repeat(513), "1".into()))
            .await,
        legacy_too_long("SUBJECT", "at most 512 characters")
    );
    assert_eq!(
        app.call("crm.activity.add", fields("s".into(), "1".repeat(257)))
            .await,
        legacy_too_long("VALUE", "at most 256 characters")
    );
    let update = |fields: Value| json!({"id": id, "fields": fields});
    app.ok(
        "crm.activity.update",
        update(json!({"LOCATION": "l".repeat(256), "DESCRIPTION": "d".repeat(1 << 20)})),
    )
    .await;
    assert_eq!(
        app.call(
            "crm.activity.update",
            update(json!({"LOCATION": "l".repeat(257)}))
        )
        .await,
        legacy_too_long("LOCATION", "at most 256 characters")
    );
    assert_eq!(
        app.call(
            "crm.activity.update",
            update(json!({"SUBJECT": "new", "DESCRIPTION": "d".repeat((1 << 20) + 1)}))
        )
        .await,
        legacy_too_long("DESCRIPTION", "at most 1048576 bytes")
    );
    assert_eq!(
        app.call(
            "crm.activity.update",
            update(json!({"SETTINGS": {"x": "s".repeat(65_536)}}))
        )
        .await,
        legacy_too_long("SETTINGS", "at most 65535 bytes")
    );
    let stored = app.ok("crm.activity.get", json!({"id": id})).await;
    assert_eq!(stored["SUBJECT"], json!("s".repeat(512)), "unchanged");
    assert_eq!(stored["LOCATION"], json!("l".repeat(256)));
}

#[tokio::test]
async fn todo_titles_hold_512_characters_and_type_titles_255() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let todo = |title: String| json!({"ownerTypeId": 2, "ownerId": deal, "deadline": "2030-01-01T10:00:00", "title": title});
    app.ok("crm.activity.todo.add", todo("t".repeat(512))).await;
    assert_eq!(
        app.call("crm.activity.todo.add", todo("t".repeat(513)))
            .await,
        d7_too_long("title", "at most 512 characters")
    );
    app.ok(
        "crm.type.add",
        json!({"fields": {"title": "t".repeat(255)}}),
    )
    .await;
    assert_eq!(
        app.call(
            "crm.type.add",
            json!({"fields": {"title": "t".repeat(256)}})
        )
        .await,
        d7_too_long("title", "at most 255 characters")
    );
}

#[tokio::test]
async fn an_offline_queue_process_id_holds_255_characters() {
    let app = spawn_app().await;
    let installed = app.install_app("crm", 1, SystemClock.now()).await;
    let token = installed.tokens["access_token"].clone();
    let url = format!("{}/rest/event.offline.get", app.base);
    let offline_get = |process_id: String| {
        app.client
            .post(&url)
            .json(&json!({"auth": token, "clear": 0, "process_id": process_id}))
            .send()
    };
    let (status, body) = read(offline_get("p".repeat(255)).await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = read(offline_get("p".repeat(256)).await.unwrap()).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": "ERROR_ARGUMENT",
                   "error_description": "The value of the field \"PROCESS_ID\" is too long (at most 255 characters)",
                   "argument": "PROCESS_ID"})
        )
    );
}

#[tokio::test]
async fn communications_bind_at_most_100_items_as_binding_add_does() {
    let app = spawn_app().await;
    let mut contacts = Vec::new();
    for _ in 0..101 {
        contacts.push(app.new_item(3, None).await);
    }
    let fields = |n: usize| {
        let list: Vec<Value> = contacts[..n]
            .iter()
            .map(|c| json!({"VALUE": "a@b.c", "ENTITY_TYPE_ID": 3, "ENTITY_ID": c}))
            .collect();
        json!({"fields": {"TYPE_ID": 4, "SUBJECT": "Mail", "COMMUNICATIONS": list}})
    };
    let id = app
        .ok("crm.activity.add", fields(100))
        .await
        .as_i64()
        .unwrap();
    assert_eq!(app.bindings(id).await.len(), 100);
    let refused = (
        400,
        envelope("", "Maximum number of activity bindings exceeded (100)."),
    );
    assert_eq!(app.call("crm.activity.add", fields(101)).await, refused);
    let mut update = fields(101);
    update["id"] = json!(id);
    assert_eq!(app.call("crm.activity.update", update).await, refused);
    assert_eq!(app.bindings(id).await.len(), 100, "unchanged");
}
