//! crm.category.* and crm.dealcategory.*: pipelines of deals and smart processes, their stages
//! in crm.status, and items' `categoryId` (docs: api-reference/crm/universal/category,
//! api-reference/crm/outdated/category-old).

use crate::helpers::{envelope, spawn_app, TestApp};
use serde_json::{json, Value};

fn legacy(text: &str) -> Value {
    envelope("", text)
}

async fn stage_codes(app: &TestApp, entity_id: &str) -> Vec<String> {
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

#[tokio::test]
async fn deals_always_have_the_default_pipeline_zero() {
    let app = spawn_app().await;
    let (status, body) = app
        .call("crm.category.list", json!({"entityTypeId": 2}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"],
        json!({"categories": [{"id": 0, "name": "General", "sort": 300, "entityTypeId": 2, "isDefault": "Y"}]})
    );
    assert_eq!(body["total"], 1);
    assert!(body.get("next").is_none());
    let got = app
        .ok("crm.category.get", json!({"entityTypeId": 2, "id": 0}))
        .await;
    assert_eq!(got["category"]["id"], 0);
    assert_eq!(
        app.ok("crm.dealcategory.default.get", json!({})).await,
        json!({"ID": 0, "NAME": "General"})
    );
}

#[tokio::test]
async fn a_new_deal_pipeline_gets_prefixed_stages_and_its_deals_start_there() {
    let app = spawn_app().await;
    let added = app
        .ok(
            "crm.category.add",
            json!({"entityTypeId": 2, "fields": {"name": "Wholesale", "sort": 200}}),
        )
        .await;
    let id = added["category"]["id"].as_i64().unwrap();
    assert_eq!(
        added,
        json!({"category": {"id": id, "name": "Wholesale", "sort": 200, "entityTypeId": 2,
                            "isDefault": "N", "originId": "", "originatorId": ""}})
    );
    let entity_id = format!("DEAL_STAGE_{id}");
    let codes = stage_codes(&app, &entity_id).await;
    assert_eq!(codes.first(), Some(&format!("C{id}:NEW")));
    assert!(codes.contains(&format!("C{id}:WON")));
    let types = app.ok("crm.status.entity.types", json!({})).await;
    let listed = types
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["ID"] == json!(entity_id))
        .expect("the pipeline's stages are listed")
        .clone();
    assert_eq!(listed["PREFIX"], json!(format!("C{id}")));
    assert_eq!(listed["CATEGORY_ID"], json!(id.to_string()));
    let deal = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "big", "categoryId": id}}),
        )
        .await;
    assert_eq!(deal["item"]["categoryId"], id);
    assert_eq!(deal["item"]["stageId"], json!(format!("C{id}:NEW")));
    let legacy_deal = app
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "old", "CATEGORY_ID": id, "STAGE_ID": format!("C{id}:WON")}}),
        )
        .await;
    let got = app.ok("crm.deal.get", json!({"id": legacy_deal})).await;
    assert_eq!(got["STAGE_ID"], json!(format!("C{id}:WON")));
    // Moving a deal to another pipeline without a stage puts it at that pipeline's first stage.
    let moved = app
        .ok(
            "crm.item.update",
            json!({"entityTypeId": 2, "id": deal["item"]["id"], "fields": {"categoryId": 0}}),
        )
        .await;
    assert_eq!(moved["item"]["stageId"], "NEW");
    let (_, list) = app
        .call("crm.category.list", json!({"entityTypeId": 2}))
        .await;
    let ids: Vec<i64> = list["result"]["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [id, 0], "by sort: 200 before the default's 300");
    assert_eq!(list["total"], 2);
    let stages = app
        .ok("crm.dealcategory.stage.list", json!({"id": id}))
        .await;
    assert_eq!(
        stages[0],
        json!({"NAME": "New", "SORT": 10, "STATUS_ID": format!("C{id}:NEW")})
    );
    assert_eq!(
        app.ok("crm.dealcategory.stage.list", json!({})).await[0]["STATUS_ID"],
        "NEW"
    );
    assert_eq!(
        app.ok("crm.dealcategory.stage.list", json!({"id": 999}))
            .await,
        json!([])
    );
}

#[tokio::test]
async fn a_pipeline_with_deals_is_not_deleted_and_an_empty_one_goes_with_its_stages() {
    let app = spawn_app().await;
    let added = app
        .ok(
            "crm.category.add",
            json!({"entityTypeId": 2, "fields": {"name": "Retail"}}),
        )
        .await;
    let id = added["category"]["id"].as_i64().unwrap();
    assert_eq!(added["category"]["sort"], 500);
    let deal = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"categoryId": id}}),
        )
        .await;
    assert_eq!(
        app.call("crm.category.delete", json!({"entityTypeId": 2, "id": id}))
            .await,
        (
            400,
            envelope("0", "Deals related to the funnel Retail found")
        )
    );
    assert_eq!(
        app.call("crm.dealcategory.delete", json!({"id": id})).await,
        (400, legacy("Deals related to the funnel Retail found"))
    );
    app.ok(
        "crm.item.delete",
        json!({"entityTypeId": 2, "id": deal["item"]["id"]}),
    )
    .await;
    let (status, body) = app
        .call("crm.category.delete", json!({"entityTypeId": 2, "id": id}))
        .await;
    assert_eq!((status, &body["result"]), (200, &Value::Null), "{body}");
    assert!(stage_codes(&app, &format!("DEAL_STAGE_{id}"))
        .await
        .is_empty());
    assert_eq!(
        app.call("crm.category.get", json!({"entityTypeId": 2, "id": id}))
            .await,
        (400, envelope("NOT_FOUND", "Element not found"))
    );
    assert_eq!(
        app.call(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"categoryId": id}})
        )
        .await,
        (
            400,
            envelope(
                "CRM_FIELD_ERROR_VALUE_NOT_VALID",
                "The value of the field \"categoryId\" is not valid"
            )
        )
    );
}

#[tokio::test]
async fn update_renames_and_resorts_a_pipeline() {
    let app = spawn_app().await;
    let added = app
        .ok(
            "crm.category.add",
            json!({"entityTypeId": 2, "fields": {"name": "A", "sort": 10}}),
        )
        .await;
    let id = added["category"]["id"].clone();
    let updated = app
        .ok(
            "crm.category.update",
            json!({"entityTypeId": 2, "id": id, "fields": {"name": "B", "sort": -5, "isDefault": "Y"}}),
        )
        .await;
    assert_eq!(updated["category"]["name"], "B");
    assert_eq!(updated["category"]["sort"], 0, "a negative sort becomes 0");
    assert_eq!(
        updated["category"]["isDefault"], "N",
        "the deals' default pipeline is fixed"
    );
    assert_eq!(
        app.ok("crm.category.get", json!({"entityTypeId": 2, "id": id}))
            .await,
        updated
    );
}

#[tokio::test]
async fn smart_process_pipelines_move_the_default_and_refuse_deleting_it() {
    let app = spawn_app().await;
    app.ok(
        "crm.type.add",
        json!({"fields": {"title": "Cases", "isStagesEnabled": "Y", "isCategoriesEnabled": "Y"}}),
    )
    .await;
    let list = app
        .ok("crm.category.list", json!({"entityTypeId": 128}))
        .await;
    let first = list["categories"][0].clone();
    assert_eq!(
        first,
        json!({"id": first["id"], "name": "General", "sort": 500, "entityTypeId": 128, "isDefault": "Y"})
    );
    let first_id = first["id"].as_i64().unwrap();
    let second = app
        .ok(
            "crm.category.add",
            json!({"entityTypeId": 128, "fields": {"name": "Second", "isDefault": "Y"}}),
        )
        .await;
    let second_id = second["category"]["id"].as_i64().unwrap();
    assert_eq!(second["category"]["isDefault"], "Y");
    let first_now = app
        .ok(
            "crm.category.get",
            json!({"entityTypeId": 128, "id": first_id}),
        )
        .await;
    assert_eq!(first_now["category"]["isDefault"], "N");
    let item = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 128, "fields": {"title": "x"}}),
        )
        .await;
    assert_eq!(item["item"]["categoryId"], second_id);
    assert_eq!(
        item["item"]["stageId"],
        json!(format!("DT128_{second_id}:NEW"))
    );
    assert_eq!(
        app.call(
            "crm.category.delete",
            json!({"entityTypeId": 128, "id": second_id})
        )
        .await,
        (
            400,
            envelope("BX_ERROR", "This funnel is the default funnel")
        )
    );
    let in_first = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 128, "fields": {"title": "y", "categoryId": first_id}}),
        )
        .await;
    assert_eq!(
        in_first["item"]["stageId"],
        json!(format!("DT128_{first_id}:NEW"))
    );
    assert_eq!(
        app.call(
            "crm.category.delete",
            json!({"entityTypeId": 128, "id": first_id})
        )
        .await,
        (
            400,
            envelope("BX_ERROR", "Elements related to the funnel found")
        )
    );
    // A deleted smart process takes its pipelines and their stages along.
    app.ok(
        "crm.item.delete",
        json!({"entityTypeId": 128, "id": in_first["item"]["id"]}),
    )
    .await;
    app.ok(
        "crm.item.delete",
        json!({"entityTypeId": 128, "id": item["item"]["id"]}),
    )
    .await;
    app.ok("crm.type.delete", json!({"id": 1})).await;
    assert!(stage_codes(&app, &format!("DYNAMIC_128_STAGE_{first_id}"))
        .await
        .is_empty());
}

#[tokio::test]
async fn category_errors_are_pinned() {
    let app = spawn_app().await;
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "crm.category.list",
            json!({}),
            envelope("100", "Could not find value for parameter {entityTypeId}"),
        ),
        (
            "crm.category.list",
            json!({"entityTypeId": 150}),
            envelope("NOT_FOUND", "Smart process not found"),
        ),
        (
            "crm.category.list",
            json!({"entityTypeId": 999}),
            envelope("NOT_FOUND", "Smart process not found"),
        ),
        (
            "crm.category.list",
            json!({"entityTypeId": 1}),
            envelope("ENTITY_TYPE_NOT_SUPPORTED", "Entity type LEAD is not supported"),
        ),
        (
            "crm.category.fields",
            json!({"entityTypeId": 3}),
            envelope("ENTITY_TYPE_NOT_SUPPORTED", "Entity type CONTACT is not supported"),
        ),
        (
            "crm.category.get",
            json!({"entityTypeId": 2, "id": 77}),
            envelope("NOT_FOUND", "Element not found"),
        ),
        (
            "crm.category.get",
            json!({"entityTypeId": 2}),
            envelope("100", "Could not find value for parameter {id}"),
        ),
        (
            "crm.category.add",
            json!({"entityTypeId": 2}),
            envelope("100", "Could not find value for parameter {fields}"),
        ),
        (
            "crm.category.add",
            json!({"entityTypeId": 2, "fields": {"name": "  "}}),
            envelope("0", "Field 'NAME' is required"),
        ),
        (
            "crm.category.update",
            json!({"entityTypeId": 2, "id": 77, "fields": {"name": "x"}}),
            envelope("NOT_FOUND", "Element not found"),
        ),
        (
            "crm.category.delete",
            json!({"entityTypeId": 2, "id": 0}),
            envelope("0", "Default deal category cannot be deleted"),
        ),
        (
            "crm.category.delete",
            json!({"entityTypeId": "x", "id": 0}),
            envelope(
                "100",
                "Invalid value {x} to match with parameter {entityTypeId}. Should be value of type int.",
            ),
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
            "crm.category.add",
            json!({"entityTypeId": 2, "fields": {"name": "x"}}),
        ),
        (
            "crm.category.update",
            json!({"entityTypeId": 2, "id": 0, "fields": {"name": "x"}}),
        ),
        ("crm.category.delete", json!({"entityTypeId": 2, "id": 0})),
    ] {
        assert_eq!(
            app.call_as(&url, method, params).await,
            (400, envelope("ACCESS_DENIED", "Access denied.")),
            "{method} is for CRM administrators"
        );
    }
    let (status, body) = app
        .call_as(&url, "crm.category.list", json!({"entityTypeId": 2}))
        .await;
    assert_eq!((status, &body["total"]), (200, &json!(1)), "{body}");
    let blind = app.create_user(&["contact.read=all"]);
    let blind_url = app.create_webhook(blind, None);
    let (_, body) = app
        .call_as(&blind_url, "crm.category.list", json!({"entityTypeId": 2}))
        .await;
    assert_eq!(body["result"], json!({"categories": []}));
    assert_eq!(
        app.call_as(
            &blind_url,
            "crm.category.get",
            json!({"entityTypeId": 2, "id": 0})
        )
        .await,
        (400, envelope("ACCESS_DENIED", "Access denied."))
    );
}

#[tokio::test]
async fn dealcategory_methods_serve_the_same_pipelines_with_legacy_fields() {
    let app = spawn_app().await;
    let id = app
        .ok(
            "crm.dealcategory.add",
            json!({"fields": {"NAME": "New Direction", "SORT": "20"}}),
        )
        .await;
    let id = id.as_i64().expect("the new pipeline's id");
    let got = app.ok("crm.dealcategory.get", json!({"id": id})).await;
    let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["ID", "CREATED_DATE", "NAME", "IS_LOCKED", "SORT"]);
    assert_eq!(
        (&got["ID"], &got["NAME"], &got["IS_LOCKED"], &got["SORT"]),
        (
            &json!(id.to_string()),
            &json!("New Direction"),
            &json!("N"),
            &json!("20")
        )
    );
    let d7 = app
        .ok("crm.category.get", json!({"entityTypeId": 2, "id": id}))
        .await;
    assert_eq!(d7["category"]["name"], "New Direction");
    assert_eq!(
        app.ok(
            "crm.dealcategory.update",
            json!({"id": id, "fields": {"NAME": "Renamed"}})
        )
        .await,
        json!(true)
    );
    let (status, list) = app
        .call(
            "crm.dealcategory.list",
            json!({"order": {"SORT": "ASC"}, "filter": {"IS_LOCKED": "N"}, "select": ["ID", "NAME"]}),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        list["result"],
        json!([{"ID": id.to_string(), "NAME": "Renamed"}])
    );
    assert_eq!(list["total"], 1);
    assert_eq!(
        app.ok("crm.dealcategory.status", json!({"id": id})).await,
        json!(format!("DEAL_STAGE_{id}"))
    );
    assert_eq!(
        app.ok("crm.dealcategory.status", json!({})).await,
        json!("DEAL_STAGE")
    );
    assert_eq!(
        app.ok("crm.dealcategory.default.set", json!({"name": "Main"}))
            .await,
        json!(true)
    );
    assert_eq!(
        app.ok("crm.dealcategory.default.get", json!({})).await,
        json!({"ID": 0, "NAME": "Main"})
    );
    let fields = app.ok("crm.dealcategory.fields", json!({})).await;
    assert_eq!(fields["NAME"]["isRequired"], true);
    assert_eq!(
        app.ok("crm.dealcategory.delete", json!({"id": id})).await,
        json!(true)
    );
    assert_eq!(
        app.call("crm.dealcategory.get", json!({"id": id})).await,
        (400, legacy("Not found"))
    );
}

#[tokio::test]
async fn dealcategory_errors_are_pinned() {
    let app = spawn_app().await;
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "crm.dealcategory.get",
            json!({}),
            legacy("ID is not defined or invalid."),
        ),
        (
            "crm.dealcategory.get",
            json!({"id": 55}),
            legacy("Not found"),
        ),
        (
            "crm.dealcategory.update",
            json!({"id": 55, "fields": {"NAME": "x"}}),
            legacy("Not found"),
        ),
        (
            "crm.dealcategory.delete",
            json!({"id": 55}),
            legacy("Not found"),
        ),
        (
            "crm.dealcategory.add",
            json!({"fields": {"SORT": 10}}),
            legacy("The field NAME is required."),
        ),
        (
            "crm.dealcategory.add",
            json!({"fields": "x"}),
            legacy("Parameter 'fields' must be array."),
        ),
        (
            "crm.dealcategory.default.set",
            json!({"name": ""}),
            legacy("The field NAME is required."),
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
        ("crm.dealcategory.add", json!({"fields": {"NAME": "x"}})),
        ("crm.dealcategory.default.set", json!({"name": "x"})),
    ] {
        assert_eq!(
            app.call_as(&url, method, params).await,
            (400, legacy("Access denied.")),
            "{method}"
        );
    }
}

#[tokio::test]
async fn category_methods_run_in_batch() {
    let app = spawn_app().await;
    let body = app
        .ok(
            "batch",
            json!({"halt": 0, "cmd": {
                "add": "crm.category.add?entityTypeId=2&fields[name]=Batch",
                "stages": "crm.dealcategory.stage.list?id=$result[add][category][id]",
                "missing": "crm.category.get?entityTypeId=2&id=404",
            }}),
        )
        .await;
    let id = body["result"]["add"]["category"]["id"].as_i64().unwrap();
    assert_eq!(
        body["result"]["stages"][0]["STATUS_ID"],
        json!(format!("C{id}:NEW"))
    );
    assert_eq!(
        body["result_error"]["missing"],
        envelope("NOT_FOUND", "Element not found")
    );
}
