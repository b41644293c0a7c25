//! crm.type.*: smart-process types (docs: api-reference/crm/universal/user-defined-object-types).

use crate::helpers::{envelope, spawn_app};
use serde_json::{json, Value};

#[tokio::test]
async fn type_add_returns_the_type_with_the_next_free_entity_type_id() {
    let app = spawn_app().await;
    let (status, body) = app
        .call(
            "crm.type.add",
            json!({"fields": {"title": "Cases", "isStagesEnabled": "Y"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&String> = body["result"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["type"]);
    let t = &body["result"]["type"];
    assert_eq!(t["id"], 1);
    assert_eq!(t["entityTypeId"], 128);
    assert_eq!(t["title"], "Cases");
    assert_eq!(t["isStagesEnabled"], "Y");
    assert_eq!(t["isCategoriesEnabled"], "N");
    assert_eq!(t["isSetOpenPermissions"], "Y");
    assert_eq!(t["createdBy"], 1);
    let second = app
        .ok("crm.type.add", json!({"fields": {"title": "More"}}))
        .await;
    assert_eq!(second["type"]["entityTypeId"], 129);
}

#[tokio::test]
async fn type_get_update_list_and_get_by_entity_type_id() {
    let app = spawn_app().await;
    app.ok(
        "crm.type.add",
        json!({"fields": {"title": "A", "entityTypeId": 140}}),
    )
    .await;
    let updated = app
        .ok(
            "crm.type.update",
            json!({"id": 1, "fields": {"title": "B", "isClientEnabled": true}}),
        )
        .await;
    assert_eq!(updated["type"]["title"], "B");
    assert_eq!(updated["type"]["isClientEnabled"], "Y");
    let got = app.ok("crm.type.get", json!({"id": 1})).await;
    assert_eq!(got, updated);
    let by_entity = app
        .ok("crm.type.getByEntityTypeId", json!({"entityTypeId": 140}))
        .await;
    assert_eq!(by_entity, updated);
    let (status, body) = app.call("crm.type.list", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], 1);
    assert_eq!(body["result"]["types"][0]["entityTypeId"], 140);
    let fields = app.ok("crm.type.fields", json!({})).await;
    assert_eq!(fields["fields"]["title"]["isRequired"], true);
}

#[tokio::test]
async fn type_errors_are_pinned() {
    let app = spawn_app().await;
    let not_found = envelope("0", "Smart process not found");
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "crm.type.add",
            json!({}),
            envelope("100", "Could not find value for parameter {fields}"),
        ),
        (
            "crm.type.add",
            json!({"fields": {"title": "X", "entityTypeId": 5}}),
            envelope("INVALID_ARG_VALUE", "entityTypeId is out of allowed range"),
        ),
        (
            "crm.type.add",
            json!({"fields": {"entityTypeId": 130}}),
            envelope(
                "CRM_FIELD_ERROR_REQUIRED",
                "The field \"title\" is required.",
            ),
        ),
        ("crm.type.get", json!({"id": 9}), not_found.clone()),
        (
            "crm.type.get",
            json!({}),
            envelope("100", "Could not find value for parameter {id}"),
        ),
        (
            "crm.type.update",
            json!({"id": 9, "fields": {"title": "x"}}),
            not_found.clone(),
        ),
        ("crm.type.delete", json!({"id": 9}), not_found.clone()),
        (
            "crm.type.getbyentitytypeid",
            json!({"entityTypeId": 150}),
            not_found,
        ),
    ];
    for (method, params, expected) in cases {
        assert_eq!(
            app.call(method, params.clone()).await,
            (400, expected),
            "{method} {params}"
        );
    }
    app.ok(
        "crm.type.add",
        json!({"fields": {"title": "A", "entityTypeId": 130}}),
    )
    .await;
    assert_eq!(
        app.call(
            "crm.type.add",
            json!({"fields": {"title": "B", "entityTypeId": 130}})
        )
        .await,
        (
            400,
            envelope("INVALID_ARG_VALUE", "entityTypeId 130 is already in use")
        )
    );
    let user = app.create_user(&["deal.read=all"]);
    let url = app.create_webhook(user, None);
    for (method, params) in [
        ("crm.type.add", json!({"fields": {"title": "C"}})),
        (
            "crm.type.update",
            json!({"id": 1, "fields": {"title": "C"}}),
        ),
        ("crm.type.delete", json!({"id": 1})),
    ] {
        assert_eq!(
            app.call_as(&url, method, params).await,
            (400, envelope("ACCESS_DENIED", "Access denied.")),
            "{method} is for CRM administrators"
        );
    }
}

#[tokio::test]
async fn every_smart_process_id_can_be_used_once_then_the_limit_is_reported() {
    let app = spawn_app().await;
    for _ in 128..192 {
        app.ok("crm.type.add", json!({"fields": {"title": "T"}}))
            .await;
    }
    assert_eq!(
        app.call("crm.type.add", json!({"fields": {"title": "T"}}))
            .await,
        (
            400,
            envelope(
                "CREATE_DYNAMIC_TYPE_RESTRICTED",
                "Maximum number of SPAs exceeded"
            )
        )
    );
}

#[tokio::test]
async fn a_type_with_items_cannot_be_deleted_and_an_empty_one_can() {
    let app = spawn_app().await;
    app.ok("crm.type.add", json!({"fields": {"title": "A"}}))
        .await;
    let item = app.new_item(128, None).await;
    assert_eq!(
        app.call("crm.type.delete", json!({"id": 1})).await,
        (
            400,
            envelope(
                "BX_ERROR",
                "You cannot delete an entity type that has elements"
            )
        )
    );
    app.ok("crm.item.delete", json!({"entityTypeId": 128, "id": item}))
        .await;
    assert_eq!(app.ok("crm.type.delete", json!({"id": 1})).await, json!([]));
    assert_eq!(
        app.call("crm.item.list", json!({"entityTypeId": 128}))
            .await,
        (400, envelope("NOT_FOUND", "Smart process not found"))
    );
}

#[tokio::test]
async fn type_update_validates_its_fields_and_changes_nothing_on_error() {
    let app = spawn_app().await;
    app.ok("crm.type.add", json!({"fields": {"title": "A"}}))
        .await;
    assert_eq!(
        app.call("crm.type.update", json!({"id": 1, "fields": {"title": ""}}))
            .await,
        (
            400,
            envelope(
                "CRM_FIELD_ERROR_REQUIRED",
                "The field \"title\" is required."
            )
        )
    );
    assert_eq!(
        app.call(
            "crm.type.update",
            json!({"id": 1, "fields": {"isStagesEnabled": "maybe"}})
        )
        .await,
        (
            400,
            envelope(
                "CRM_FIELD_ERROR_VALUE_NOT_VALID",
                "The value of the field \"isStagesEnabled\" is not valid"
            )
        )
    );
    assert_eq!(
        app.call("crm.type.update", json!({"id": 1})).await,
        (
            400,
            envelope("100", "Could not find value for parameter {fields}")
        )
    );
    let got = app.ok("crm.type.get", json!({"id": 1})).await;
    assert_eq!(
        (&got["type"]["title"], &got["type"]["isStagesEnabled"]),
        (&json!("A"), &json!("N"))
    );
}

#[tokio::test]
async fn type_list_refuses_a_filter_on_a_field_types_do_not_have_and_applies_the_others() {
    let app = spawn_app().await;
    for (entity_type_id, title) in [(140, "Alpha"), (141, "Beta"), (142, "Gamma")] {
        app.ok(
            "crm.type.add",
            json!({"fields": {"title": title, "entityTypeId": entity_type_id}}),
        )
        .await;
    }

    let (status, body) = app
        .call("crm.type.list", json!({"filter": {"nope": 1}}))
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
    let (status, body) = app
        .call("crm.type.list", json!({"filter": {">entityTypeId": "x"}}))
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "INVALID_ARG_VALUE",
                "Invalid filter: field 'entityTypeId' has invalid value"
            )
        )
    );

    let titles = |body: &Value| -> Vec<String> {
        body["result"]["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, body) = app
        .call(
            "crm.type.list",
            json!({"filter": {">entityTypeId": 140, "!title": "Gamma"}}),
        )
        .await;
    assert_eq!(
        (status, titles(&body), body["total"].clone()),
        (200, vec!["Beta".to_string()], json!(1))
    );
    let (_, body) = app
        .call(
            "crm.type.list",
            json!({"filter": {"%title": "a", "@id": [1, 3]}}),
        )
        .await;
    assert_eq!(titles(&body), ["Alpha", "Gamma"]);
}
