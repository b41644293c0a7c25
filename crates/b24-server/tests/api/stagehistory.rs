//! crm.stagehistory.list: a row for every creation of a lead, deal or smart-process item and
//! for every change of its stage or pipeline (docs: api-reference/crm/crm-stage-history-list.md).

use crate::helpers::{envelope, spawn_app};
use serde_json::{json, Value};

#[tokio::test]
async fn a_deal_leaves_a_row_when_created_moved_finished_and_moved_to_another_pipeline() {
    let app = spawn_app().await;
    let category = app
        .ok(
            "crm.category.add",
            json!({"entityTypeId": 2, "fields": {"name": "Second"}}),
        )
        .await["category"]["id"]
        .as_i64()
        .unwrap();
    let deal = app.new_item(2, None).await;
    for fields in [
        json!({"stageId": "PREPARATION"}),
        json!({"title": "no stage change"}),
        json!({"stageId": "WON"}),
        json!({"categoryId": category}),
    ] {
        app.ok(
            "crm.item.update",
            json!({"entityTypeId": 2, "id": deal, "fields": fields}),
        )
        .await;
    }
    let (status, body) = app
        .call(
            "crm.stagehistory.list",
            json!({"entityTypeId": 2, "order": {"ID": "ASC"}, "filter": {"OWNER_ID": deal}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 4);
    let items = body["result"]["items"].as_array().unwrap();
    let keys: Vec<&String> = items[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "ID",
            "TYPE_ID",
            "OWNER_ID",
            "CREATED_TIME",
            "CATEGORY_ID",
            "STAGE_SEMANTIC_ID",
            "STAGE_ID"
        ]
    );
    let summary: Vec<(Value, Value, Value, Value)> = items
        .iter()
        .map(|i| {
            (
                i["TYPE_ID"].clone(),
                i["CATEGORY_ID"].clone(),
                i["STAGE_SEMANTIC_ID"].clone(),
                i["STAGE_ID"].clone(),
            )
        })
        .collect();
    let c = category.to_string();
    assert_eq!(
        summary,
        [
            (json!("1"), json!("0"), json!("P"), json!("NEW")),
            (json!("2"), json!("0"), json!("P"), json!("PREPARATION")),
            (json!("3"), json!("0"), json!("S"), json!("WON")),
            (
                json!("5"),
                json!(c),
                json!("P"),
                json!(format!("C{category}:NEW"))
            ),
        ]
    );
    assert_eq!(items[0]["OWNER_ID"], json!(deal.to_string()));
    assert!(
        items[0]["ID"].is_string(),
        "values are strings, as real answers carry them"
    );
}

#[tokio::test]
async fn leads_report_status_fields_and_select_keeps_the_asked_ones() {
    let app = spawn_app().await;
    let lead = app
        .ok("crm.lead.add", json!({"fields": {"TITLE": "l"}}))
        .await;
    app.ok(
        "crm.lead.update",
        json!({"id": lead, "fields": {"STATUS_ID": "JUNK"}}),
    )
    .await;
    let items = app
        .ok(
            "crm.stagehistory.list",
            json!({"entityTypeId": 1, "select": ["STATUS_ID", "TYPE_ID", "STATUS_SEMANTIC_ID"],
                   "order": {"ID": "DESC"}}),
        )
        .await;
    assert_eq!(
        items["items"],
        json!([
            {"STATUS_ID": "JUNK", "TYPE_ID": "3", "STATUS_SEMANTIC_ID": "F"},
            {"STATUS_ID": "NEW", "TYPE_ID": "1", "STATUS_SEMANTIC_ID": "P"},
        ])
    );
}

#[tokio::test]
async fn smart_process_items_with_stages_have_history_and_pages_hold_fifty() {
    let app = spawn_app().await;
    app.ok(
        "crm.type.add",
        json!({"fields": {"title": "Cases", "isStagesEnabled": "Y"}}),
    )
    .await;
    for _ in 0..51 {
        app.new_item(128, None).await;
    }
    let (_, first) = app
        .call("crm.stagehistory.list", json!({"entityTypeId": 128}))
        .await;
    assert_eq!(first["total"], 51);
    assert_eq!(first["next"], 50);
    assert_eq!(first["result"]["items"].as_array().unwrap().len(), 50);
    let stage = first["result"]["items"][0]["STAGE_ID"].as_str().unwrap();
    assert!(
        stage.starts_with("DT128_") && stage.ends_with(":NEW"),
        "{stage}"
    );
    let (_, second) = app
        .call(
            "crm.stagehistory.list",
            json!({"entityTypeId": 128, "start": 50}),
        )
        .await;
    assert_eq!(second["result"]["items"].as_array().unwrap().len(), 1);
    assert!(second.get("next").is_none());
}

#[tokio::test]
async fn stagehistory_errors_are_pinned() {
    let app = spawn_app().await;
    let cases: Vec<(Value, Value)> = vec![
        (
            json!({"entityTypeId": 3}),
            envelope(
                "ENTITY_TYPE_NOT_SUPPORTED",
                "Entity type CONTACT is not supported",
            ),
        ),
        (
            json!({"entityTypeId": 150}),
            envelope(
                "ENTITY_TYPE_NOT_SUPPORTED",
                "Entity type DYNAMIC_150 is not supported",
            ),
        ),
        (
            json!({"entityTypeId": 2, "filter": {"TITLE": "x"}}),
            envelope(
                "INVALID_ARG_VALUE",
                "Invalid filter: field 'TITLE' is not allowed in filter",
            ),
        ),
        (
            json!({"entityTypeId": 2, "order": {"STAGE_ID": "UP"}}),
            envelope(
                "INVALID_ARG_VALUE",
                "Invalid order: allowed sort directions are ASC, DESC. But got 'UP' for field 'STAGE_ID'",
            ),
        ),
        (
            json!({"entityTypeId": "x"}),
            envelope(
                "100",
                "Invalid value {x} to match with parameter {entityTypeId}. Should be value of type int.",
            ),
        ),
    ];
    for (params, expected) in cases {
        assert_eq!(
            app.call("crm.stagehistory.list", params.clone()).await,
            (400, expected),
            "{params}"
        );
    }
    let user = app.create_user(&["contact.read=all"]);
    let url = app.create_webhook(user, None);
    assert_eq!(
        app.call_as(&url, "crm.stagehistory.list", json!({"entityTypeId": 2}))
            .await,
        (400, envelope("ACCESS_DENIED", "Access denied."))
    );
}

#[tokio::test]
async fn an_own_read_right_sees_the_history_of_own_deals_only() {
    let app = spawn_app().await;
    let user = app.create_user(&["deal.read=own"]);
    let url = app.create_webhook(user, None);
    let mine = app.new_item(2, Some(user)).await;
    app.new_item(2, None).await;
    let (status, body) = app
        .call_as(&url, "crm.stagehistory.list", json!({"entityTypeId": 2}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    assert_eq!(
        body["result"]["items"][0]["OWNER_ID"],
        json!(mine.to_string())
    );
}

#[tokio::test]
async fn stagehistory_runs_in_batch() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let body = app
        .ok(
            "batch",
            json!({"cmd": {
                "history": format!("crm.stagehistory.list?entityTypeId=2&filter[OWNER_ID]={deal}"),
                "bad": "crm.stagehistory.list?entityTypeId=4",
            }}),
        )
        .await;
    assert_eq!(body["result"]["history"]["items"][0]["STAGE_ID"], "NEW");
    assert_eq!(body["result_total"]["history"], 1);
    assert_eq!(
        body["result_error"]["bad"],
        envelope(
            "ENTITY_TYPE_NOT_SUPPORTED",
            "Entity type COMPANY is not supported"
        )
    );
}
