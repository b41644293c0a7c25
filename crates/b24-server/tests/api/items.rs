//! crm.item.* and the activity methods that create binding targets, and list paging (spec §1.6, §10).

use crate::helpers::{envelope, spawn_app};
use serde_json::{json, Value};
use std::collections::HashSet;

#[tokio::test]
async fn item_add_returns_the_item_wrapped_with_camel_case_fields_and_real_numbers() {
    let app = spawn_app().await;
    let (status, body) = app
        .call(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "Deal", "opportunity": "150.5", "categoryId": "0", "contactIds": ["1", 2]}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&String> = body["result"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["item"], "a single-key wrapper");
    let item = &body["result"]["item"];
    assert_eq!(item["id"], 1);
    assert_eq!(item["entityTypeId"], 2);
    assert_eq!(item["title"], "Deal");
    assert_eq!(item["opportunity"], 150.5);
    assert_eq!(item["categoryId"], 0);
    assert_eq!(item["contactIds"], json!([1, 2]));
    assert_eq!(item["assignedById"], 1);
    assert_eq!(item["createdBy"], 1);
}

#[tokio::test]
async fn ids_are_counted_per_entity_type() {
    let app = spawn_app().await;
    assert_eq!(app.new_item(2, None).await, 1);
    assert_eq!(app.new_item(2, None).await, 2);
    assert_eq!(app.new_item(3, None).await, 1);
    assert_eq!(app.new_item(4, None).await, 1);
    assert_eq!(app.new_item(1, None).await, 1);
}

#[tokio::test]
async fn item_get_reads_back_and_a_missing_item_is_not_found() {
    let app = spawn_app().await;
    let id = app.new_item(4, None).await;
    let item = app
        .ok("crm.item.get", json!({"entityTypeId": 4, "id": id}))
        .await;
    assert_eq!(item["item"]["id"], id);
    let (status, body) = app
        .call("crm.item.get", json!({"entityTypeId": 4, "id": 99}))
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("NOT_FOUND", "Item not found"))
    );
}

#[tokio::test]
async fn an_unknown_entity_type_is_smart_process_not_found() {
    let app = spawn_app().await;
    for method in [
        "crm.item.add",
        "crm.item.get",
        "crm.item.list",
        "crm.item.delete",
    ] {
        let (status, body) = app
            .call(method, json!({"entityTypeId": 150, "id": 1, "fields": {}}))
            .await;
        assert_eq!(
            (status, body),
            (400, envelope("NOT_FOUND", "Smart process not found")),
            "{method}"
        );
    }
}

#[tokio::test]
async fn item_methods_check_the_users_rights() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let user = app.create_user(&["deal.read=own"]);
    let url = app.create_webhook(user, None);
    let denied = (400, envelope("ACCESS_DENIED", "Access denied."));
    assert_eq!(
        app.call_as(
            &url,
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {}})
        )
        .await,
        denied
    );
    assert_eq!(
        app.call_as(&url, "crm.item.get", json!({"entityTypeId": 2, "id": deal}))
            .await,
        denied
    );
    assert_eq!(
        app.call_as(
            &url,
            "crm.item.delete",
            json!({"entityTypeId": 2, "id": deal})
        )
        .await,
        denied
    );
    assert_eq!(
        app.call_as(&url, "crm.item.list", json!({"entityTypeId": 3}))
            .await,
        denied
    );
    let mine = app.new_item(2, Some(user)).await;
    let (status, body) = app
        .call_as(&url, "crm.item.list", json!({"entityTypeId": 2}))
        .await;
    assert_eq!(status, 200);
    let ids: Vec<i64> = body["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![mine],
        "own read right lists only the user's items"
    );
}

#[tokio::test]
async fn item_delete_answers_an_empty_array_and_is_not_found_afterwards() {
    let app = spawn_app().await;
    let id = app.new_item(3, None).await;
    assert_eq!(
        app.ok("crm.item.delete", json!({"entityTypeId": 3, "id": id}))
            .await,
        json!([])
    );
    let (status, body) = app
        .call("crm.item.delete", json!({"entityTypeId": 3, "id": id}))
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("NOT_FOUND", "Item not found"))
    );
}

#[tokio::test]
async fn item_add_without_fields_is_code_100() {
    let app = spawn_app().await;
    let (status, body) = app.call("crm.item.add", json!({"entityTypeId": 2})).await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope("100", "Could not find value for parameter {fields}")
        )
    );
}

#[tokio::test]
async fn an_unsupported_filter_field_is_refused_rather_than_ignored() {
    let app = spawn_app().await;
    let (status, body) = app
        .call(
            "crm.item.list",
            json!({"entityTypeId": 2, "filter": {"nope": 1}}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "INVALID_ARG_VALUE",
                "Invalid filter: field 'nope' is not allowed in filter"
            )
        )
    );
}

async fn seed(app: &crate::helpers::TestApp, n: usize) {
    for _ in 0..n {
        app.new_item(2, None).await;
    }
}

fn ids(body: &Value) -> Vec<i64> {
    body["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn paging_with_start_and_next_walks_every_row_exactly_once() {
    let app = spawn_app().await;
    seed(&app, 123).await;
    let mut seen = HashSet::new();
    let mut start = Some(0);
    let mut pages = 0;
    while let Some(s) = start {
        let (status, body) = app
            .call("crm.item.list", json!({"entityTypeId": 2, "start": s}))
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["total"], 123);
        for id in ids(&body) {
            assert!(seen.insert(id), "row {id} seen twice");
        }
        start = body.get("next").and_then(Value::as_i64);
        pages += 1;
    }
    assert_eq!((seen.len(), pages), (123, 3));
}

#[tokio::test]
async fn start_is_rounded_down_to_a_page_and_past_the_end_is_empty() {
    let app = spawn_app().await;
    seed(&app, 60).await;
    let (_, body) = app
        .get(&format!(
            "{}crm.item.list?entityTypeId=2&start=75",
            app.admin_url
        ))
        .await;
    assert_eq!(ids(&body), (51..=60).collect::<Vec<_>>());
    assert!(body.get("next").is_none());
    let (_, body) = app
        .call("crm.item.list", json!({"entityTypeId": 2, "start": 500}))
        .await;
    assert_eq!(body["result"]["items"], json!([]));
    assert_eq!(body["total"], 60);
    assert!(body.get("next").is_none());
}

#[tokio::test]
async fn start_minus_one_with_an_id_cursor_walks_every_row_without_counting() {
    let app = spawn_app().await;
    seed(&app, 121).await;
    let mut seen: Vec<i64> = Vec::new();
    let mut last = 0;
    loop {
        let (status, body) = app
            .call(
                "crm.item.list",
                json!({"entityTypeId": 2, "start": -1, "order": {"ID": "ASC"}, "filter": {">ID": last}}),
            )
            .await;
        assert_eq!(status, 200);
        assert!(body.get("total").is_none() && body.get("next").is_none());
        let page = ids(&body);
        seen.extend(&page);
        if page.len() < 50 {
            break;
        }
        last = *page.last().unwrap();
    }
    assert_eq!(seen, (1..=121).collect::<Vec<_>>());
}

#[tokio::test]
async fn list_select_keeps_the_selected_fields_and_the_id() {
    let app = spawn_app().await;
    seed(&app, 1).await;
    let (_, body) = app
        .call(
            "crm.item.list",
            json!({"entityTypeId": 2, "select": ["title"]}),
        )
        .await;
    let item = body["result"]["items"][0].as_object().unwrap();
    assert_eq!(item.keys().collect::<Vec<_>>(), ["id", "title"]);
}

#[tokio::test]
async fn todo_add_creates_a_single_bound_activity() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let (status, body) = app
        .call("crm.activity.todo.add", json!({"ownerTypeId": 2, "ownerId": deal, "deadline": "2030-01-01 10:00:00", "title": "Call"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["result"], json!({"id": 1}));
    assert_eq!(app.bindings(1).await, vec![(2, deal)]);
    let activity = app.ok("crm.activity.get", json!({"id": 1})).await;
    assert_eq!(activity["SUBJECT"], "Call");
    assert_eq!(activity["DEADLINE"], "2030-01-01T10:00:00+00:00");
    assert_eq!(activity["PROVIDER_ID"], "CRM_TODO");
    assert_eq!(activity["RESPONSIBLE_ID"], "1");
}

#[tokio::test]
async fn todo_add_errors_follow_the_documented_codes() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let cases: Vec<(Value, Value)> = vec![
        (
            json!({"ownerId": deal, "deadline": "2030-01-01T10:00:00"}),
            envelope("100", "Could not find value for parameter {ownerTypeId}"),
        ),
        (
            json!({"ownerTypeId": 2, "ownerId": deal}),
            envelope("100", "Could not find value for parameter {deadline}"),
        ),
        (
            json!({"ownerTypeId": 2, "ownerId": deal, "deadline": "soon"}),
            envelope("WRONG_DATETIME_FORMAT", "Wrong datetime format"),
        ),
        (
            json!({"ownerTypeId": 2, "ownerId": 42, "deadline": "2030-01-01T10:00:00"}),
            envelope("OWNER_NOT_FOUND", "Owner was not found"),
        ),
    ];
    for (params, expected) in cases {
        let (status, body) = app.call("crm.activity.todo.add", params.clone()).await;
        assert_eq!((status, body), (400, expected), "{params}");
    }
    let reader = app.create_user(&["deal.read=all"]);
    let url = app.create_webhook(reader, None);
    let (status, body) = app
        .call_as(
            &url,
            "crm.activity.todo.add",
            json!({"ownerTypeId": 2, "ownerId": deal, "deadline": "2030-01-01T10:00:00"}),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("ACCESS_DENIED", "Access denied."))
    );
}

#[tokio::test]
async fn legacy_activity_methods_answer_with_an_empty_code_and_the_text() {
    let app = spawn_app().await;
    let legacy = |text: &str| (400, envelope("", text));
    assert_eq!(
        app.call("crm.activity.get", json!({})).await,
        legacy("ID is not defined or invalid.")
    );
    assert_eq!(
        app.call("crm.activity.get", json!({"id": "x"})).await,
        legacy("ID is not defined or invalid.")
    );
    assert_eq!(
        app.call("crm.activity.get", json!({"ID": 5})).await,
        legacy("Activity is not found.")
    );
    assert_eq!(
        app.call("crm.activity.delete", json!({"id": 5})).await,
        legacy("Activity is not found.")
    );
}

#[tokio::test]
async fn activity_delete_removes_it_and_its_bindings() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let activity = app.new_todo(2, deal).await;
    let reader = app.create_user(&["deal.read=all", "deal.update=all"]);
    let url = app.create_webhook(reader, None);
    assert_eq!(
        app.call_as(&url, "crm.activity.delete", json!({"id": activity}))
            .await,
        (400, envelope("", "Access denied."))
    );
    assert_eq!(
        app.ok("crm.activity.delete", json!({"id": activity})).await,
        json!(true)
    );
    let (status, body) = app
        .call("crm.activity.binding.list", json!({"activityId": activity}))
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("NOT_FOUND", "Entity not found"))
    );
}

#[tokio::test]
async fn deleting_an_item_leaves_activities_bound_to_other_items_intact() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    let activity = app.new_todo(2, deal).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": 3, "entityId": contact}),
    )
    .await;
    app.ok("crm.item.delete", json!({"entityTypeId": 2, "id": deal}))
        .await;
    let got = app.ok("crm.activity.get", json!({"id": activity})).await;
    assert_eq!(got["ID"], activity.to_string());
    assert_eq!(app.bindings(activity).await, vec![(2, deal), (3, contact)]);
}
