//! `crm.timeline.bindings.*` (legacy proxies: `"error": ""` and the text): bind and unbind by
//! `fields{OWNER_ID, ENTITY_ID, ENTITY_TYPE}`, `false` (not an error) without the update right,
//! the list of string triples, paging and `batch`.

use crate::helpers::{envelope, spawn_app, TestApp};
use serde_json::{json, Value};

const DEAL: i64 = 2;
const COMPANY: i64 = 4;

fn legacy(text: &str) -> (u16, Value) {
    (400, envelope("", text))
}

async fn comment_on_deal(app: &TestApp) -> (i64, i64) {
    let deal = app.new_item(DEAL, None).await;
    let id = app
        .ok(
            "crm.timeline.comment.add",
            json!({"fields": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal, "COMMENT": "c"}}),
        )
        .await
        .as_i64()
        .unwrap();
    (id, deal)
}

fn triple(owner: i64, entity_id: i64, entity_type: &str) -> Value {
    json!({"OWNER_ID": owner.to_string(), "ENTITY_ID": entity_id.to_string(), "ENTITY_TYPE": entity_type})
}

#[tokio::test]
async fn a_record_is_bound_listed_and_unbound() {
    let app = spawn_app().await;
    let (id, deal) = comment_on_deal(&app).await;
    let company = app.new_item(COMPANY, None).await;
    let bind = |fields: Value| app.call("crm.timeline.bindings.bind", json!({"fields": fields}));

    let (status, body) =
        bind(json!({"OWNER_ID": id, "ENTITY_ID": company, "ENTITY_TYPE": "Company"})).await;
    assert_eq!((status, body["result"].clone()), (200, json!(true)));
    // A second bind of the same triple is `true` and adds nothing.
    let (_, again) =
        bind(json!({"OWNER_ID": id, "ENTITY_ID": company, "ENTITY_TYPE": "company"})).await;
    assert_eq!(again["result"], json!(true));

    let (status, listed) = app
        .call(
            "crm.timeline.bindings.list",
            json!({"filter": {"OWNER_ID": id}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        listed["result"],
        json!([triple(id, deal, "deal"), triple(id, company, "company")])
    );
    assert_eq!(listed["total"], 2);

    let unbind =
        |fields: Value| app.call("crm.timeline.bindings.unbind", json!({"fields": fields}));
    let (_, done) = unbind(json!({"OWNER_ID": id, "ENTITY_ID": deal, "ENTITY_TYPE": "deal"})).await;
    assert_eq!(done["result"], json!(true));
    assert_eq!(
        unbind(json!({"OWNER_ID": id, "ENTITY_ID": deal, "ENTITY_TYPE": "deal"})).await,
        legacy("Not found.")
    );
    assert_eq!(
        app.ok(
            "crm.timeline.bindings.list",
            json!({"filter": {"OWNER_ID": id}})
        )
        .await,
        json!([triple(id, company, "company")])
    );
    // The comment now shows on the company's timeline only.
    let (_, on_deal) = app
        .call(
            "crm.timeline.comment.list",
            json!({"filter": {"ENTITY_ID": deal, "ENTITY_TYPE": "deal"}}),
        )
        .await;
    assert_eq!(on_deal["total"], 0);
}

#[tokio::test]
async fn each_missing_or_invalid_field_has_its_legacy_error() {
    let app = spawn_app().await;
    let (id, deal) = comment_on_deal(&app).await;
    for method in ["crm.timeline.bindings.bind", "crm.timeline.bindings.unbind"] {
        let call = |fields: Value| app.call(method, json!({"fields": fields}));
        assert_eq!(
            call(json!({"ENTITY_ID": deal, "ENTITY_TYPE": "deal"})).await,
            legacy("OWNER_ID is not defined or invalid."),
            "{method}"
        );
        assert_eq!(
            call(json!({"OWNER_ID": "abc", "ENTITY_ID": deal, "ENTITY_TYPE": "deal"})).await,
            legacy("OWNER_ID is not defined or invalid.")
        );
        assert_eq!(
            call(json!({"OWNER_ID": id, "ENTITY_ID": 0, "ENTITY_TYPE": "deal"})).await,
            legacy("ENTITY_ID is not defined or invalid.")
        );
        assert_eq!(
            call(json!({"OWNER_ID": id, "ENTITY_ID": deal, "ENTITY_TYPE": "requisite"})).await,
            legacy("ENTITY_TYPE is not defined or invalid.")
        );
        assert_eq!(
            call(json!({"OWNER_ID": id, "ENTITY_ID": deal, "ENTITY_TYPE": "dynamic_190"})).await,
            legacy("ENTITY_TYPE is not defined or invalid.")
        );
        for params in [json!({}), json!({"fields": "x"})] {
            assert_eq!(
                app.call(method, params).await,
                (400, envelope("ERROR_ARGUMENT", "Wrong params."))
            );
        }
    }
    assert_eq!(
        app.call("crm.timeline.bindings.list", json!({"filter": {}}))
            .await,
        legacy("OWNER_ID is not defined or invalid.")
    );
    assert_eq!(
        app.call("crm.timeline.bindings.list", json!({})).await,
        legacy("OWNER_ID is not defined or invalid.")
    );
    assert_eq!(
        app.ok(
            "crm.timeline.bindings.list",
            json!({"filter": {"OWNER_ID": id}})
        )
        .await,
        json!([triple(id, deal, "deal")]),
        "nothing changed"
    );
}

#[tokio::test]
async fn without_the_update_right_on_the_item_bind_and_unbind_answer_false() {
    let app = spawn_app().await;
    let (id, deal) = comment_on_deal(&app).await;
    let company = app.new_item(COMPANY, None).await;
    let reader = app.create_user(&["deal.read=all", "company.read=all"]);
    let reader = app.create_webhook(reader, Some("crm"));
    for (method, entity_id, entity_type) in [
        ("crm.timeline.bindings.bind", company, "company"),
        ("crm.timeline.bindings.unbind", deal, "deal"),
    ] {
        let (status, body) = app
            .call_as(
                &reader,
                method,
                json!({"fields": {"OWNER_ID": id, "ENTITY_ID": entity_id, "ENTITY_TYPE": entity_type}}),
            )
            .await;
        assert_eq!(
            (status, body["result"].clone()),
            (200, json!(false)),
            "{method}"
        );
    }
    assert_eq!(
        app.ok(
            "crm.timeline.bindings.list",
            json!({"filter": {"OWNER_ID": id}})
        )
        .await,
        json!([triple(id, deal, "deal")])
    );
}

#[tokio::test]
async fn bindings_page_fifty_at_a_time_and_work_in_batch() {
    let app = spawn_app().await;
    let (id, deal) = comment_on_deal(&app).await;
    let mut commands = serde_json::Map::new();
    for n in 0..50 {
        let company = app.new_item(COMPANY, None).await;
        commands.insert(
            format!("b{n}"),
            json!(format!(
                "crm.timeline.bindings.bind?fields[OWNER_ID]={id}&fields[ENTITY_ID]={company}&fields[ENTITY_TYPE]=company"
            )),
        );
    }
    let batch = app.ok("batch", json!({"halt": 1, "cmd": commands})).await;
    assert_eq!(batch["result"]["b0"], json!(true));
    assert_eq!(batch["result"]["b49"], json!(true));

    let (_, first) = app
        .call(
            "crm.timeline.bindings.list",
            json!({"filter": {"OWNER_ID": id}}),
        )
        .await;
    assert_eq!(first["total"], 51);
    assert_eq!(first["next"], 50);
    assert_eq!(first["result"][0], triple(id, deal, "deal"));
    let (_, second) = app
        .call(
            "crm.timeline.bindings.list",
            json!({"filter": {"OWNER_ID": id}, "start": 50}),
        )
        .await;
    assert_eq!(second["result"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn fields_describe_the_binding() {
    let app = spawn_app().await;
    let fields = app.ok("crm.timeline.bindings.fields", json!({})).await;
    assert_eq!(
        fields["OWNER_ID"],
        json!({"type": "integer", "isRequired": true, "isReadOnly": false, "isImmutable": true,
               "isMultiple": false, "isDynamic": false, "title": "Timeline record ID"})
    );
    assert_eq!(
        fields.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["OWNER_ID", "ENTITY_ID", "ENTITY_TYPE"]
    );
}
