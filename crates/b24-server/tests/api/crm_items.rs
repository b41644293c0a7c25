//! crm.item.update / fields, the general list filters (every operator, `logic: OR`, nested
//! groups), order, select, and smart-process items (spec §1.6, §10.1).

use crate::helpers::spawn_app;
use crate::helpers::{envelope, TestApp};
use serde_json::{json, Value};

async fn add(app: &TestApp, entity_type_id: i64, fields: Value) -> Value {
    app.ok(
        "crm.item.add",
        json!({"entityTypeId": entity_type_id, "fields": fields}),
    )
    .await["item"]
        .clone()
}

fn ids(body: &Value) -> Vec<i64> {
    body["result"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {body}"))
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

async fn list_ids(app: &TestApp, params: Value) -> Vec<i64> {
    let (status, body) = app.call("crm.item.list", params).await;
    assert_eq!(status, 200, "{body}");
    ids(&body)
}

#[tokio::test]
async fn item_update_changes_only_the_given_fields_and_stamps_the_editor() {
    let app = spawn_app().await;
    let deal = add(
        &app,
        2,
        json!({"title": "Old", "opportunity": 10, "stageId": "NEW"}),
    )
    .await;
    let id = deal["id"].as_i64().unwrap();
    let (status, body) = app
        .call(
            "crm.item.update",
            json!({"entityTypeId": 2, "id": id, "fields": {"title": "New", "stageId": "WON", "createdBy": 99}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let item = &body["result"]["item"];
    assert_eq!(item["title"], "New");
    assert_eq!(item["stageId"], "WON");
    assert_eq!(item["opportunity"], 10);
    assert_eq!(item["createdBy"], 1, "read-only fields are ignored");
    assert_eq!(item["updatedBy"], 1);
    let got = app
        .ok("crm.item.get", json!({"entityTypeId": 2, "id": id}))
        .await;
    assert_eq!(got["item"], *item);
}

#[tokio::test]
async fn item_update_errors_are_pinned() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let cases = [
        (
            json!({"entityTypeId": 2, "fields": {}}),
            envelope("100", "Could not find value for parameter {id}"),
        ),
        (
            json!({"entityTypeId": 2, "id": deal}),
            envelope("100", "Could not find value for parameter {fields}"),
        ),
        (
            json!({"entityTypeId": 2, "id": 999, "fields": {"title": "x"}}),
            envelope("NOT_FOUND", "Item not found"),
        ),
        (
            json!({"entityTypeId": 2, "id": deal, "fields": {"opportunity": "lots"}}),
            envelope(
                "CRM_FIELD_ERROR_VALUE_NOT_VALID",
                "The value of the field \"opportunity\" is not valid",
            ),
        ),
        (
            json!({"entityTypeId": 150, "id": deal, "fields": {}}),
            envelope("NOT_FOUND", "Smart process not found"),
        ),
    ];
    for (params, expected) in cases {
        assert_eq!(
            app.call("crm.item.update", params.clone()).await,
            (400, expected),
            "{params}"
        );
    }
    let reader = app.create_user(&["deal.read=all", "deal.update=own"]);
    let url = app.create_webhook(reader, None);
    assert_eq!(
        app.call_as(
            &url,
            "crm.item.update",
            json!({"entityTypeId": 2, "id": deal, "fields": {"title": "x"}})
        )
        .await,
        (400, envelope("ACCESS_DENIED", "Access denied."))
    );
    let item = app
        .ok("crm.item.get", json!({"entityTypeId": 2, "id": deal}))
        .await;
    assert_eq!(
        item["item"]["title"], "item",
        "a refused update changes nothing"
    );
}

#[tokio::test]
async fn item_fields_describes_each_types_own_fields() {
    let app = spawn_app().await;
    let deal = app.ok("crm.item.fields", json!({"entityTypeId": 2})).await;
    let fields = deal["fields"].as_object().unwrap();
    assert_eq!(
        fields["id"],
        json!({"type": "integer", "isRequired": false, "isReadOnly": true, "isImmutable": false,
               "isMultiple": false, "isDynamic": false, "title": "ID", "upperName": "ID"})
    );
    for name in [
        "title",
        "stageId",
        "categoryId",
        "opportunity",
        "currencyId",
        "contactIds",
        "companyId",
        "assignedById",
        "createdTime",
    ] {
        assert!(fields.contains_key(name), "deal lacks {name}");
    }
    assert_eq!(fields["contactIds"]["isMultiple"], true);
    let contact = app.ok("crm.item.fields", json!({"entityTypeId": 3})).await;
    let fields = contact["fields"].as_object().unwrap();
    assert!(fields.contains_key("name") && fields.contains_key("lastName"));
    assert!(!fields.contains_key("title") && !fields.contains_key("stageId"));
    assert_eq!(
        app.call("crm.item.fields", json!({"entityTypeId": 9}))
            .await,
        (400, envelope("NOT_FOUND", "Smart process not found"))
    );
}

#[tokio::test]
async fn contacts_carry_names_and_every_item_shows_all_its_fields() {
    let app = spawn_app().await;
    let contact = add(
        &app,
        3,
        json!({"name": "Ada", "lastName": "Lovelace", "companyId": "4"}),
    )
    .await;
    assert_eq!(contact["name"], "Ada");
    assert_eq!(contact["lastName"], "Lovelace");
    assert_eq!(contact["companyId"], 4);
    assert_eq!(contact["secondName"], Value::Null, "unset fields are null");
    assert!(contact.get("title").is_none());
    let deal = add(&app, 2, json!({"title": "D"})).await;
    assert_eq!(deal["stageId"], "NEW");
    assert_eq!(deal["categoryId"], 0);
    assert_eq!(deal["opportunity"], 0);
    assert_eq!(deal["contactIds"], Value::Null);
}

/// Five deals with distinct titles, stages and amounts for the filter tests.
async fn five_deals(app: &TestApp) {
    for (title, stage, amount) in [
        ("Alpha", "NEW", 100),
        ("Beta", "WON", 200),
        ("Gamma 50%", "WON", 300),
        ("alphabet", "LOSE", 400),
        ("Delta", "NEW", 500),
    ] {
        add(
            app,
            2,
            json!({"title": title, "stageId": stage, "opportunity": amount}),
        )
        .await;
    }
}

#[tokio::test]
async fn every_filter_operator_selects_the_documented_rows() {
    let app = spawn_app().await;
    five_deals(&app).await;
    let cases = [
        (json!({"stageId": "WON"}), vec![2, 3]),
        (json!({"=stageId": "WON"}), vec![2, 3]),
        (json!({"!stageId": "WON"}), vec![1, 4, 5]),
        (json!({"!=stageId": "WON"}), vec![1, 4, 5]),
        (json!({">opportunity": 300}), vec![4, 5]),
        (json!({">=opportunity": "300"}), vec![3, 4, 5]),
        (json!({"<opportunity": 300}), vec![1, 2]),
        (json!({"<=opportunity": 300}), vec![1, 2, 3]),
        (json!({"@stageId": ["NEW", "LOSE"]}), vec![1, 4, 5]),
        (json!({"!@stageId": ["NEW", "LOSE"]}), vec![2, 3]),
        (json!({"%title": "alpha"}), vec![1, 4]),
        (json!({"%title": "50%"}), vec![3]),
        (json!({"=%title": "al%"}), vec![1, 4]),
        (json!({"%=title": "%ta"}), vec![2, 5]),
        (json!({"!%title": "alpha"}), vec![2, 3, 5]),
        (json!({"@id": [2, "4"]}), vec![2, 4]),
        (json!({">ID": 3}), vec![4, 5]),
        (json!({"<=id": 2}), vec![1, 2]),
        (json!({"!=title": ""}), vec![1, 2, 3, 4, 5]),
        (json!({"stageId": "WON", ">opportunity": 250}), vec![3]),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            list_ids(&app, json!({"entityTypeId": 2, "filter": filter})).await,
            expected,
            "{filter}"
        );
    }
}

#[tokio::test]
async fn logic_or_and_nested_groups_combine_conditions() {
    let app = spawn_app().await;
    five_deals(&app).await;
    let filter = json!({"logic": "OR", "stageId": "LOSE", ">opportunity": 450});
    assert_eq!(
        list_ids(&app, json!({"entityTypeId": 2, "filter": filter})).await,
        vec![4, 5]
    );
    let nested = json!({"0": {"logic": "OR", "0": {"title": "Alpha"}, "1": {"title": "Beta"}}, "<opportunity": 150});
    assert_eq!(
        list_ids(&app, json!({"entityTypeId": 2, "filter": nested})).await,
        vec![1]
    );
}

#[tokio::test]
async fn filters_arrive_intact_through_php_form_encoding() {
    let app = spawn_app().await;
    five_deals(&app).await;
    let url = format!(
        "{}crm.item.list?entityTypeId=2&filter[@stageId][]=NEW&filter[@stageId][]=LOSE&filter[>opportunity]=100&order[opportunity]=desc",
        app.admin_url
    );
    let (status, body) = app.get(&url).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), vec![5, 4]);
}

#[tokio::test]
async fn order_by_any_field_with_the_id_as_tie_breaker() {
    let app = spawn_app().await;
    five_deals(&app).await;
    assert_eq!(
        list_ids(
            &app,
            json!({"entityTypeId": 2, "order": {"stageId": "ASC"}})
        )
        .await,
        vec![4, 1, 5, 2, 3]
    );
    assert_eq!(
        list_ids(
            &app,
            json!({"entityTypeId": 2, "order": {"opportunity": "DESC"}})
        )
        .await,
        vec![5, 4, 3, 2, 1]
    );
    assert_eq!(
        list_ids(&app, json!({"entityTypeId": 2, "order": {"ID": "desc"}})).await,
        vec![5, 4, 3, 2, 1]
    );
}

#[tokio::test]
async fn bad_filters_and_orders_are_invalid_arg_value() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"filter": {">id": "x"}}),
            "Invalid filter: field 'id' has invalid value",
        ),
        (
            json!({"filter": {"%nope": "x"}}),
            "Invalid filter: field 'nope' is not allowed in filter",
        ),
        (
            json!({"order": {"nope": "ASC"}}),
            "Invalid order: field 'nope' is not allowed in order",
        ),
        (
            json!({"order": {"title": "UP"}}),
            "Invalid order: allowed sort directions are ASC, DESC. But got 'UP' for field 'title'",
        ),
    ];
    for (mut params, message) in cases {
        params["entityTypeId"] = json!(2);
        assert_eq!(
            app.call("crm.item.list", params.clone()).await,
            (400, envelope("INVALID_ARG_VALUE", message)),
            "{params}"
        );
    }
}

#[tokio::test]
async fn select_star_keeps_everything_and_names_match_in_either_case() {
    let app = spawn_app().await;
    five_deals(&app).await;
    let (_, body) = app
        .call(
            "crm.item.list",
            json!({"entityTypeId": 2, "select": ["*"], "filter": {"id": 1}}),
        )
        .await;
    let all = body["result"]["items"][0].as_object().unwrap().clone();
    assert!(all.contains_key("stageId") && all.contains_key("entityTypeId"));
    let (_, body) = app
        .call(
            "crm.item.list",
            json!({"entityTypeId": 2, "select": ["STAGE_ID", "opportunity"], "filter": {"id": 1}}),
        )
        .await;
    let keys: Vec<String> = body["result"]["items"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["id", "stageId", "opportunity"]);
}

#[tokio::test]
async fn filtered_paging_walks_every_matching_row_exactly_once() {
    let app = spawn_app().await;
    for i in 0..130 {
        let stage = if i % 10 == 0 { "LOSE" } else { "NEW" };
        add(&app, 2, json!({"title": format!("d{i}"), "stageId": stage})).await;
    }
    let mut seen = Vec::new();
    let mut start = Some(0);
    while let Some(s) = start {
        let (status, body) = app
            .call(
                "crm.item.list",
                json!({"entityTypeId": 2, "filter": {"stageId": "NEW"}, "start": s}),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["total"], 117);
        seen.extend(ids(&body));
        start = body.get("next").and_then(Value::as_i64);
    }
    let expected: Vec<i64> = (1..=130).filter(|i| (i - 1) % 10 != 0).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn smart_process_items_work_once_their_type_exists() {
    let app = spawn_app().await;
    let params = json!({"entityTypeId": 130, "fields": {"title": "Case"}});
    assert_eq!(
        app.call("crm.item.add", params.clone()).await,
        (400, envelope("NOT_FOUND", "Smart process not found"))
    );
    app.ok(
        "crm.type.add",
        json!({"fields": {"title": "Cases", "entityTypeId": 130}}),
    )
    .await;
    let item = app.ok("crm.item.add", params).await;
    assert_eq!(item["item"]["entityTypeId"], 130);
    assert_eq!(item["item"]["stageId"], "NEW");
    let id = item["item"]["id"].as_i64().unwrap();
    let deal = app.new_item(2, None).await;
    let activity = app.new_todo(2, deal).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": 130, "entityId": id}),
    )
    .await;
    assert_eq!(app.bindings(activity).await, vec![(2, deal), (130, id)]);
    let (status, body) = app
        .call(
            "crm.activity.binding.add",
            json!({"activityId": activity, "entityTypeId": 132, "entityId": 1}),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("ACCESS_DENIED", "Access denied.")),
        "an unknown smart process stays ACCESS_DENIED for bindings"
    );
}

#[tokio::test]
async fn quotes_and_smart_invoices_are_item_types() {
    let app = spawn_app().await;
    for entity_type_id in [7, 31] {
        let item = add(
            &app,
            entity_type_id,
            json!({"title": "Doc", "opportunity": "12.5"}),
        )
        .await;
        assert_eq!(item["entityTypeId"], entity_type_id);
        assert_eq!(item["opportunity"], 12.5);
        assert_eq!(
            list_ids(&app, json!({"entityTypeId": entity_type_id})).await,
            vec![1]
        );
    }
}

#[tokio::test]
async fn every_item_method_binds_entity_type_id_first_and_checks_values_on_add() {
    let app = spawn_app().await;
    for method in [
        "crm.item.add",
        "crm.item.get",
        "crm.item.list",
        "crm.item.update",
        "crm.item.delete",
        "crm.item.fields",
    ] {
        assert_eq!(
            app.call(method, json!({"id": 1, "fields": {}})).await,
            (
                400,
                envelope("100", "Could not find value for parameter {entityTypeId}")
            ),
            "{method}"
        );
    }
    assert_eq!(
        app.call("crm.item.get", json!({"entityTypeId": 2})).await,
        (
            400,
            envelope("100", "Could not find value for parameter {id}")
        )
    );
    assert_eq!(
        app.call(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "x", "categoryId": "first"}})
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
    let (_, body) = app.call("crm.item.list", json!({"entityTypeId": 2})).await;
    assert_eq!(body["total"], 0, "the refused add stored nothing");
}
