//! crm.status.*: the CRM dictionaries a new portal has, their answers and errors, and the rule
//! that an item's stage is an entry of its pipeline's dictionary (docs: api-reference/crm/status).

use crate::helpers::{envelope, spawn_app, TestApp};
use serde_json::{json, Value};

async fn stages(app: &TestApp, entity_id: &str) -> Vec<String> {
    let items = app
        .ok("crm.status.entity.items", json!({"entityId": entity_id}))
        .await;
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["STATUS_ID"].as_str().unwrap().to_string())
        .collect()
}

fn legacy(text: &str) -> Value {
    envelope("", text)
}

#[tokio::test]
async fn a_new_portal_has_the_deal_stages_the_docs_list_with_their_semantics() {
    let app = spawn_app().await;
    let (status, body) = app
        .call(
            "crm.status.list",
            json!({"order": {"SORT": "ASC"}, "filter": {"ENTITY_ID": "DEAL_STAGE"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 8);
    let rows = body["result"].as_array().unwrap();
    let codes: Vec<&str> = rows
        .iter()
        .map(|r| r["STATUS_ID"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "NEW",
            "PREPARATION",
            "PREPAYMENT_INVOICE",
            "EXECUTING",
            "FINAL_INVOICE",
            "WON",
            "LOSE",
            "APOLOGY"
        ]
    );
    let new = &rows[0];
    let keys: Vec<&String> = new.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "ID",
            "ENTITY_ID",
            "STATUS_ID",
            "NAME",
            "NAME_INIT",
            "SORT",
            "SYSTEM",
            "CATEGORY_ID",
            "COLOR",
            "SEMANTICS",
            "EXTRA"
        ]
    );
    assert!(new["ID"].is_string());
    assert_eq!(new["NAME"], "New");
    assert_eq!(new["NAME_INIT"], "New");
    assert_eq!(new["SORT"], "10");
    assert_eq!(new["SYSTEM"], "Y");
    assert_eq!(new["CATEGORY_ID"], Value::Null);
    assert_eq!(new["SEMANTICS"], Value::Null);
    assert_eq!(
        new["EXTRA"],
        json!({"SEMANTICS": "process", "COLOR": "#39A8EF"})
    );
    assert_eq!(rows[1]["SYSTEM"], "N");
    assert_eq!(rows[1]["NAME_INIT"], "");
    assert_eq!(rows[5]["SEMANTICS"], "S");
    assert_eq!(rows[5]["EXTRA"]["SEMANTICS"], "success");
    assert_eq!(rows[6]["EXTRA"]["SEMANTICS"], "failure");
    assert_eq!(rows[7]["SEMANTICS"], "F");
    assert_eq!(rows[7]["EXTRA"]["SEMANTICS"], "apology");
    let got = app.ok("crm.status.get", json!({"id": new["ID"]})).await;
    let mut expected = new.clone();
    expected.as_object_mut().unwrap().remove("EXTRA");
    assert_eq!(got, expected);
}

#[tokio::test]
async fn lead_statuses_sources_and_types_are_seeded_and_listed_by_entity_types() {
    let app = spawn_app().await;
    assert_eq!(
        stages(&app, "STATUS").await,
        ["NEW", "IN_PROCESS", "PROCESSED", "CONVERTED", "JUNK"]
    );
    for entity in [
        "SOURCE",
        "CONTACT_TYPE",
        "COMPANY_TYPE",
        "EMPLOYEES",
        "INDUSTRY",
        "DEAL_TYPE",
    ] {
        assert!(!stages(&app, entity).await.is_empty(), "{entity}");
    }
    let items = app
        .ok("crm.status.entity.items", json!({"entityId": "SOURCE"}))
        .await;
    assert_eq!(
        items[0],
        json!({"NAME": "Call", "SORT": 10, "STATUS_ID": "CALL"})
    );
    let source = app
        .ok(
            "crm.status.list",
            json!({"filter": {"ENTITY_ID": "SOURCE", "STATUS_ID": "CALL"}}),
        )
        .await;
    assert_eq!(source[0]["COLOR"], Value::Null);
    assert!(
        source[0].get("EXTRA").is_none(),
        "plain dictionaries carry no EXTRA"
    );
    let types = app.ok("crm.status.entity.types", json!({})).await;
    let ids: Vec<&str> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ID"].as_str().unwrap())
        .collect();
    for id in ["STATUS", "SOURCE", "DEAL_STAGE", "DEAL_TYPE", "INDUSTRY"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    assert_eq!(
        types[0],
        json!({"ID": "STATUS", "NAME": "Lead stages", "ENTITY_TYPE_ID": 1,
               "SEMANTIC_INFO": {"START_FIELD": "NEW", "FINAL_SUCCESS_FIELD": "CONVERTED",
                                 "FINAL_UNSUCCESS_FIELD": "JUNK", "FINAL_SORT": 0}})
    );
    let fields = app.ok("crm.status.fields", json!({})).await;
    assert_eq!(
        fields["STATUS_ID"],
        json!({"type": "string", "isRequired": true, "isReadOnly": false, "isImmutable": true,
               "isMultiple": false, "isDynamic": false, "title": "Status"})
    );
}

#[tokio::test]
async fn list_pages_by_fifty_and_start_minus_one_skips_the_count() {
    let app = spawn_app().await;
    let (_, first) = app.call("crm.status.list", json!({})).await;
    let total = first["total"].as_u64().unwrap();
    assert!(total > 50, "{total}");
    assert_eq!(first["result"].as_array().unwrap().len(), 50);
    assert_eq!(first["next"], 50);
    let (_, second) = app.call("crm.status.list", json!({"start": 50})).await;
    assert_eq!(
        second["result"].as_array().unwrap().len() as u64,
        total - 50
    );
    assert!(second.get("next").is_none());
    let (_, uncounted) = app.call("crm.status.list", json!({"start": -1})).await;
    assert!(uncounted.get("total").is_none());
    let desc = app
        .ok(
            "crm.status.list",
            json!({"order": {"SORT": "DESC"}, "filter": {"ENTITY_ID": "STATUS", ">SORT": 20}}),
        )
        .await;
    let codes: Vec<&str> = desc
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["STATUS_ID"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["JUNK", "CONVERTED", "PROCESSED"]);
}

#[tokio::test]
async fn add_update_and_delete_an_entry() {
    let app = spawn_app().await;
    let id = app
        .ok(
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "DECISION",
                              "NAME": "Decision making", "SORT": 45, "COLOR": "#FFA900"}}),
        )
        .await;
    assert!(id.is_i64(), "{id}");
    let got = app.ok("crm.status.get", json!({"id": id})).await;
    assert_eq!(
        got,
        json!({"ID": id.to_string(), "ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "DECISION",
               "NAME": "Decision making", "NAME_INIT": "", "SORT": "45", "SYSTEM": "N",
               "CATEGORY_ID": null, "COLOR": "#FFA900", "SEMANTICS": null})
    );
    assert_eq!(
        app.ok(
            "crm.status.update",
            json!({"id": id, "fields": {"NAME": "Decision", "SORT": 46}})
        )
        .await,
        json!(true)
    );
    let got = app.ok("crm.status.get", json!({"id": id})).await;
    assert_eq!(
        (&got["NAME"], &got["SORT"]),
        (&json!("Decision"), &json!("46"))
    );
    let deal = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "d", "stageId": "DECISION"}}),
        )
        .await;
    assert_eq!(deal["item"]["stageId"], "DECISION");
    assert_eq!(
        app.call("crm.status.delete", json!({"id": id})).await,
        (400, legacy("There are active items in this status."))
    );
    let deal_id = deal["item"]["id"].clone();
    app.ok("crm.item.delete", json!({"entityTypeId": 2, "id": deal_id}))
        .await;
    assert_eq!(
        app.ok("crm.status.delete", json!({"id": id})).await,
        json!(true)
    );
    assert_eq!(
        app.call("crm.status.get", json!({"id": id})).await,
        (400, legacy("Status is not found."))
    );
}

#[tokio::test]
async fn system_entries_are_deleted_only_when_forced() {
    let app = spawn_app().await;
    let call = app
        .ok(
            "crm.status.list",
            json!({"filter": {"ENTITY_ID": "SOURCE", "STATUS_ID": "CALL"}}),
        )
        .await;
    let id = call[0]["ID"].clone();
    assert_eq!(
        app.call("crm.status.delete", json!({"id": id})).await,
        (
            400,
            legacy(
                "CRM System Status can be deleted only if parameter FORCED is specified and equal to \"Y\"."
            )
        )
    );
    assert_eq!(
        app.ok(
            "crm.status.delete",
            json!({"id": id, "params": {"FORCED": "Y"}})
        )
        .await,
        json!(true)
    );
    assert!(!stages(&app, "SOURCE").await.contains(&"CALL".to_string()));
}

#[tokio::test]
async fn status_errors_are_pinned() {
    let app = spawn_app().await;
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "crm.status.add",
            json!({"fields": {"STATUS_ID": "X", "NAME": "X"}}),
            legacy("The field ENTITY_ID is required."),
        ),
        (
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "NOPE", "STATUS_ID": "X", "NAME": "X"}}),
            legacy("Specified entity type is not supported."),
        ),
        (
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "DEAL_STAGE_9", "STATUS_ID": "X", "NAME": "X"}}),
            legacy("Specified entity type is not supported."),
        ),
        (
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "SOURCE", "NAME": "X"}}),
            legacy("The field STATUS_ID is required."),
        ),
        (
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "X"}}),
            legacy("The field NAME is required."),
        ),
        (
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "CALL", "NAME": "X"}}),
            legacy("Duplicate STATUS_ID."),
        ),
        (
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "TWO WORDS", "NAME": "X"}}),
            legacy("Error on creating status."),
        ),
        (
            "crm.status.add",
            json!({"fields": "x"}),
            legacy("Parameter 'fields' must be array."),
        ),
        ("crm.status.get", json!({}), legacy("Invalid identifier.")),
        (
            "crm.status.get",
            json!({"id": 99999}),
            legacy("Status is not found."),
        ),
        (
            "crm.status.update",
            json!({"id": "x", "fields": {"NAME": "X"}}),
            legacy("Invalid identifier."),
        ),
        (
            "crm.status.update",
            json!({"id": 99999, "fields": {"NAME": "X"}}),
            legacy("Status is not found."),
        ),
        (
            "crm.status.delete",
            json!({"id": 0}),
            legacy("Invalid identifier."),
        ),
        (
            "crm.status.delete",
            json!({"id": 99999}),
            legacy("Status is not found."),
        ),
        (
            "crm.status.entity.items",
            json!({}),
            legacy("The parameter entityId is not defined or invalid."),
        ),
    ];
    for (method, params, expected) in cases {
        assert_eq!(
            app.call(method, params.clone()).await,
            (400, expected),
            "{method} {params}"
        );
    }
    let user = app.create_user(&["deal.read=all"]);
    let url = app.create_webhook(user, None);
    for (method, params) in [
        (
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "X", "NAME": "X"}}),
        ),
        (
            "crm.status.update",
            json!({"id": 1, "fields": {"NAME": "X"}}),
        ),
        ("crm.status.delete", json!({"id": 1})),
    ] {
        assert_eq!(
            app.call_as(&url, method, params).await,
            (400, legacy("Access denied.")),
            "{method} is for CRM administrators"
        );
    }
    let (status, body) = app.call_as(&url, "crm.status.list", json!({})).await;
    assert_eq!(status, 200, "any user reads dictionaries: {body}");
}

#[tokio::test]
async fn items_refuse_a_stage_that_is_not_in_their_pipeline() {
    let app = spawn_app().await;
    let invalid = |name: &str| {
        envelope(
            "CRM_FIELD_ERROR_VALUE_NOT_VALID",
            &format!("The value of the field \"{name}\" is not valid"),
        )
    };
    assert_eq!(
        app.call(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "d", "stageId": "NOPE"}})
        )
        .await,
        (400, invalid("stageId"))
    );
    let deal = app.new_item(2, None).await;
    assert_eq!(
        app.call(
            "crm.item.update",
            json!({"entityTypeId": 2, "id": deal, "fields": {"stageId": "C5:NEW"}})
        )
        .await,
        (400, invalid("stageId"))
    );
    assert_eq!(
        app.call(
            "crm.deal.update",
            json!({"id": deal, "fields": {"STAGE_ID": "NOPE"}})
        )
        .await,
        (
            400,
            legacy("The value of the field \"STAGE_ID\" is not valid.")
        )
    );
    assert_eq!(
        app.call(
            "crm.deal.add",
            json!({"fields": {"TITLE": "x", "CATEGORY_ID": 77}})
        )
        .await,
        (
            400,
            legacy("The value of the field \"CATEGORY_ID\" is not valid.")
        )
    );
    assert_eq!(
        app.call(
            "crm.lead.add",
            json!({"fields": {"TITLE": "x", "STATUS_ID": "NOPE"}})
        )
        .await,
        (
            400,
            legacy("The value of the field \"STATUS_ID\" is not valid.")
        )
    );
    let lead = app
        .ok(
            "crm.lead.add",
            json!({"fields": {"TITLE": "x", "STATUS_ID": "IN_PROCESS"}}),
        )
        .await;
    let got = app.ok("crm.lead.get", json!({"id": lead})).await;
    assert_eq!(got["STATUS_ID"], "IN_PROCESS");
    // Every stage a new deal gets is an entry of its pipeline's dictionary.
    let item = app
        .ok("crm.item.get", json!({"entityTypeId": 2, "id": deal}))
        .await;
    assert!(stages(&app, "DEAL_STAGE")
        .await
        .contains(&item["item"]["stageId"].as_str().unwrap().to_string()));
}

#[tokio::test]
async fn a_smart_process_with_stages_gets_a_default_pipeline_and_prefixed_stages() {
    let app = spawn_app().await;
    app.ok(
        "crm.type.add",
        json!({"fields": {"title": "Cases", "isStagesEnabled": "Y"}}),
    )
    .await;
    let types = app.ok("crm.status.entity.types", json!({})).await;
    let dynamic = types
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["ENTITY_TYPE_ID"] == 128)
        .expect("the smart process's stages are a dictionary")
        .clone();
    let category = dynamic["CATEGORY_ID"].as_i64().unwrap();
    let entity_id = format!("DYNAMIC_128_STAGE_{category}");
    assert_eq!(dynamic["ID"], json!(entity_id));
    assert_eq!(dynamic["PREFIX"], json!(format!("DT128_{category}")));
    assert_eq!(dynamic["IS_DEFAULT_CATEGORY"], true);
    let codes = stages(&app, &entity_id).await;
    assert_eq!(codes[0], format!("DT128_{category}:NEW"));
    let item = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 128, "fields": {"title": "case"}}),
        )
        .await;
    assert_eq!(item["item"]["categoryId"], category);
    assert_eq!(
        item["item"]["stageId"],
        json!(format!("DT128_{category}:NEW"))
    );
    let success = format!("DT128_{category}:SUCCESS");
    let moved = app
        .ok(
            "crm.item.update",
            json!({"entityTypeId": 128, "id": item["item"]["id"], "fields": {"stageId": success}}),
        )
        .await;
    assert_eq!(moved["item"]["stageId"], json!(success));
    let status = app
        .ok(
            "crm.status.list",
            json!({"filter": {"ENTITY_ID": entity_id, "STATUS_ID": success}}),
        )
        .await;
    assert_eq!(status[0]["CATEGORY_ID"], json!(category.to_string()));
    assert_eq!(status[0]["SEMANTICS"], "S");
    // A prefix is added to a new stage's code.
    let id = app
        .ok(
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": entity_id, "STATUS_ID": "REVIEW", "NAME": "Review", "SORT": 25}}),
        )
        .await;
    let got = app.ok("crm.status.get", json!({"id": id})).await;
    assert_eq!(got["STATUS_ID"], json!(format!("DT128_{category}:REVIEW")));
}

#[tokio::test]
async fn status_methods_run_in_batch() {
    let app = spawn_app().await;
    let body = app
        .ok(
            "batch",
            json!({"halt": 0, "cmd": {
                "add": "crm.status.add?fields[ENTITY_ID]=SOURCE&fields[STATUS_ID]=FAIR&fields[NAME]=Fair",
                "get": "crm.status.get?id=$result[add]",
                "bad": "crm.status.get?id=99999",
            }}),
        )
        .await;
    assert_eq!(body["result"]["get"]["STATUS_ID"], "FAIR");
    assert_eq!(body["result_error"]["bad"], legacy("Status is not found."));
}

#[tokio::test]
async fn a_reset_portal_gets_its_dictionaries_back() {
    let app = spawn_app().await;
    let (status, _) = app
        .control(
            reqwest::Method::POST,
            "/reset",
            Some(json!({"keep": ["auth"]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(stages(&app, "DEAL_STAGE").await.len(), 8);
    let categories = app
        .ok("crm.category.list", json!({"entityTypeId": 2}))
        .await;
    assert_eq!(categories["categories"][0]["id"], 0);
}
