//! `crm.timeline.comment.*`: the D7 `add / update / delete` (codes, only a lower-case `fields`),
//! the legacy `get / list` (`"error": ""`), rights that follow the items a comment is bound to,
//! `MULTIPLE_BINDINGS`, the `ONCRMTIMELINECOMMENT*` events, and `batch`.

use crate::helpers::{envelope, spawn_app, TestApp};
use serde_json::{json, Value};

const DEAL: i64 = 2;
const CONTACT: i64 = 3;

fn legacy(text: &str) -> (u16, Value) {
    (400, envelope("", text))
}

fn d7(code: &str, text: &str) -> (u16, Value) {
    (400, envelope(code, text))
}

async fn add_comment(app: &TestApp, entity_type: &str, entity_id: i64, text: &str) -> i64 {
    app.ok(
        "crm.timeline.comment.add",
        json!({"fields": {"ENTITY_TYPE": entity_type, "ENTITY_ID": entity_id, "COMMENT": text}}),
    )
    .await
    .as_i64()
    .unwrap()
}

#[tokio::test]
async fn a_comment_is_added_read_listed_updated_and_deleted() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let id = add_comment(&app, "deal", deal, "First call went well").await;

    let got = app.ok("crm.timeline.comment.get", json!({"id": id})).await;
    assert_eq!(got["ID"], json!(id.to_string()));
    assert_eq!(got["ENTITY_ID"], json!(deal.to_string()));
    assert_eq!(got["ENTITY_TYPE"], "deal");
    assert_eq!(got["COMMENT"], "First call went well");
    assert_eq!(got["AUTHOR_ID"], "1");
    assert_eq!(got["FILES"], json!({}));
    assert!(got["CREATED"].as_str().unwrap().contains('T'));

    let second = add_comment(&app, "DEAL", deal, "Second").await;
    let (status, body) = app
        .call(
            "crm.timeline.comment.list",
            json!({"filter": {"ENTITY_ID": deal, "ENTITY_TYPE": "deal"}, "order": {"ID": "ASC"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 2);
    let ids: Vec<&str> = body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.to_string(), second.to_string()]);

    // Without an order the newest come first; `select` keeps only the fields named.
    let newest = app
        .ok(
            "crm.timeline.comment.list",
            json!({"filter": {"ENTITY_ID": deal, "ENTITY_TYPE": "deal"}, "select": ["ID", "COMMENT"]}),
        )
        .await;
    assert_eq!(
        newest,
        json!([{"ID": second.to_string(), "COMMENT": "Second"}, {"ID": id.to_string(), "COMMENT": "First call went well"}])
    );

    assert_eq!(
        app.ok(
            "crm.timeline.comment.update",
            json!({"id": id, "fields": {"COMMENT": "Changed"}})
        )
        .await,
        json!(id)
    );
    assert_eq!(
        app.ok("crm.timeline.comment.get", json!({"id": id})).await["COMMENT"],
        "Changed"
    );
    assert_eq!(
        app.ok(
            "crm.timeline.comment.delete",
            json!({"id": id, "ownerTypeId": DEAL, "ownerId": deal})
        )
        .await,
        Value::Null
    );
    assert_eq!(
        app.call("crm.timeline.comment.get", json!({"id": id}))
            .await,
        legacy("Not found.")
    );
}

#[tokio::test]
async fn add_refuses_other_spellings_of_fields_unknown_owners_and_empty_comments() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    for key in ["FIELDS", "Fields", "arFields"] {
        assert_eq!(
            app.call(
                "crm.timeline.comment.add",
                json!({key: {"ENTITY_TYPE": "deal", "ENTITY_ID": deal, "COMMENT": "x"}})
            )
            .await,
            d7("100", "Could not find value for parameter {fields}"),
            "{key}"
        );
    }
    let add = |fields: Value| app.call("crm.timeline.comment.add", json!({"fields": fields}));
    let owner_not_found = d7("OWNER_NOT_FOUND", "Owner was not found");
    assert_eq!(
        add(json!({"ENTITY_TYPE": "deal", "ENTITY_ID": deal + 100, "COMMENT": "x"})).await,
        owner_not_found
    );
    assert_eq!(
        add(json!({"ENTITY_TYPE": "dynamic_150", "ENTITY_ID": 1, "COMMENT": "x"})).await,
        owner_not_found
    );
    assert_eq!(
        add(json!({"ENTITY_TYPE": "requisite", "ENTITY_ID": 1, "COMMENT": "x"})).await,
        owner_not_found
    );
    assert_eq!(
        add(json!({"ENTITY_ID": deal, "COMMENT": "x"})).await,
        owner_not_found
    );
    assert_eq!(
        add(json!({"ENTITY_TYPE": "deal", "ENTITY_ID": deal, "COMMENT": "  "})).await,
        d7("INVALID_ARG_VALUE", "Comment is empty.")
    );
    assert_eq!(
        add(json!({"ENTITY_TYPE": "deal", "ENTITY_ID": deal})).await,
        d7("INVALID_ARG_VALUE", "Comment is empty.")
    );
    let (status, body) = app
        .call("crm.timeline.comment.add", json!({"fields": "text"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "100");
    // Nothing was stored by any of them.
    let (_, listed) = app
        .call(
            "crm.timeline.comment.list",
            json!({"filter": {"ENTITY_ID": deal, "ENTITY_TYPE": "deal"}}),
        )
        .await;
    assert_eq!(listed["total"], 0);
}

#[tokio::test]
async fn a_smart_process_item_takes_comments_as_dynamic_its_type() {
    let app = spawn_app().await;
    let created = app
        .ok("crm.type.add", json!({"fields": {"title": "Orders"}}))
        .await;
    let entity_type_id = created["type"]["entityTypeId"].as_i64().unwrap();
    let item = app.new_item(entity_type_id, None).await;
    let name = format!("dynamic_{entity_type_id}");
    let id = add_comment(&app, &name.to_uppercase(), item, "On a smart process").await;
    let got = app.ok("crm.timeline.comment.get", json!({"id": id})).await;
    assert_eq!(got["ENTITY_TYPE"], json!(name));
    assert_eq!(got["ENTITY_ID"], json!(item.to_string()));
}

#[tokio::test]
async fn get_and_list_answer_in_the_legacy_form() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    for params in [json!({}), json!({"id": 0}), json!({"id": "x"})] {
        assert_eq!(
            app.call("crm.timeline.comment.get", params).await,
            legacy("ID is not defined or invalid.")
        );
    }
    assert_eq!(
        app.call("crm.timeline.comment.get", json!({"id": 999}))
            .await,
        legacy("Not found.")
    );
    let list = |filter: Value| app.call("crm.timeline.comment.list", json!({"filter": filter}));
    assert_eq!(
        list(json!({"ENTITY_TYPE": "deal"})).await,
        legacy("ENTITY_ID is not defined or invalid.")
    );
    assert_eq!(
        list(json!({"ENTITY_ID": deal})).await,
        legacy("ENTITY_TYPE is not defined or invalid.")
    );
    assert_eq!(
        list(json!({"ENTITY_ID": deal, "ENTITY_TYPE": "order"})).await,
        legacy("ENTITY_TYPE is not defined or invalid.")
    );
}

#[tokio::test]
async fn update_and_delete_errors_carry_their_codes() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let other = app.new_item(DEAL, None).await;
    let id = add_comment(&app, "deal", deal, "x").await;

    assert_eq!(
        app.call(
            "crm.timeline.comment.update",
            json!({"fields": {"COMMENT": "y"}})
        )
        .await,
        d7("100", "Could not find value for parameter {id}")
    );
    assert_eq!(
        app.call("crm.timeline.comment.update", json!({"id": id}))
            .await,
        d7("100", "Could not find value for parameter {fields}")
    );
    assert_eq!(
        app.call(
            "crm.timeline.comment.update",
            json!({"id": id + 50, "fields": {"COMMENT": "y"}})
        )
        .await,
        d7("NOT_FOUND", "Not found.")
    );
    assert_eq!(
        app.call(
            "crm.timeline.comment.update",
            json!({"id": id, "fields": {"COMMENT": ""}})
        )
        .await,
        d7("INVALID_ARG_VALUE", "Comment is empty.")
    );
    assert_eq!(
        app.call(
            "crm.timeline.comment.update",
            json!({"id": id, "fields": {"COMMENT": "y"}, "ownerTypeId": DEAL, "ownerId": deal + 100})
        )
        .await,
        d7("OWNER_NOT_FOUND", "Owner was not found")
    );
    assert_eq!(
        app.call(
            "crm.timeline.comment.delete",
            json!({"id": id, "ownerTypeId": DEAL, "ownerId": other})
        )
        .await,
        d7("NOT_FOUND", "Not found.")
    );
    assert_eq!(
        app.call("crm.timeline.comment.delete", json!({"id": "x"}))
            .await,
        d7(
            "100",
            "Invalid value {x} to match with parameter {id}. Should be value of type int."
        )
    );
    assert_eq!(
        app.ok("crm.timeline.comment.get", json!({"id": id})).await["COMMENT"],
        "x",
        "nothing changed"
    );
}

#[tokio::test]
async fn a_comment_on_several_items_is_deleted_from_one_or_refused_without_an_owner() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let contact = app.new_item(CONTACT, None).await;
    let id = add_comment(&app, "deal", deal, "shared").await;
    assert_eq!(
        app.ok(
            "crm.timeline.bindings.bind",
            json!({"fields": {"OWNER_ID": id, "ENTITY_ID": contact, "ENTITY_TYPE": "contact"}})
        )
        .await,
        json!(true)
    );
    // The contact's timeline shows it too, with the contact as its entity.
    let on_contact = app
        .ok(
            "crm.timeline.comment.list",
            json!({"filter": {"ENTITY_ID": contact, "ENTITY_TYPE": "contact"}}),
        )
        .await;
    assert_eq!(on_contact[0]["ENTITY_TYPE"], "contact");
    assert_eq!(on_contact[0]["ENTITY_ID"], json!(contact.to_string()));

    let multiple = d7(
        "MULTIPLE_BINDINGS",
        "The comment is bound to several items: give ownerTypeId and ownerId to delete it from one of them.",
    );
    assert_eq!(
        app.call("crm.timeline.comment.delete", json!({"id": id}))
            .await,
        multiple
    );
    app.ok(
        "crm.timeline.comment.delete",
        json!({"id": id, "ownerTypeId": CONTACT, "ownerId": contact}),
    )
    .await;
    assert_eq!(
        app.ok(
            "crm.timeline.bindings.list",
            json!({"filter": {"OWNER_ID": id}})
        )
        .await,
        json!([{"OWNER_ID": id.to_string(), "ENTITY_ID": deal.to_string(), "ENTITY_TYPE": "deal"}])
    );
    // Now bound to one item, it is deleted without naming it.
    app.ok("crm.timeline.comment.delete", json!({"id": id}))
        .await;
    assert_eq!(
        app.call("crm.timeline.comment.get", json!({"id": id}))
            .await,
        legacy("Not found.")
    );
    assert_eq!(
        app.ok(
            "crm.timeline.bindings.list",
            json!({"filter": {"OWNER_ID": id}})
        )
        .await,
        json!([])
    );
}

#[tokio::test]
async fn a_user_without_rights_on_the_item_can_neither_read_nor_change_its_comments() {
    let app = spawn_app().await;
    let reader = app.create_user(&["deal.read=all"]);
    let reader = app.create_webhook(reader, Some("crm"));
    let stranger = app.create_user(&[]);
    let stranger = app.create_webhook(stranger, Some("crm"));
    let deal = app.new_item(DEAL, None).await;
    let id = add_comment(&app, "deal", deal, "secret").await;

    let (status, body) = app
        .call_as(&reader, "crm.timeline.comment.get", json!({"id": id}))
        .await;
    assert_eq!(
        (status, body["result"]["COMMENT"].clone()),
        (200, json!("secret"))
    );
    assert_eq!(
        app.call_as(
            &reader,
            "crm.timeline.comment.add",
            json!({"fields": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal, "COMMENT": "x"}})
        )
        .await,
        d7("ACCESS_DENIED", "Access denied.")
    );
    assert_eq!(
        app.call_as(
            &reader,
            "crm.timeline.comment.update",
            json!({"id": id, "fields": {"COMMENT": "x"}})
        )
        .await,
        d7("ACCESS_DENIED", "Access denied.")
    );
    assert_eq!(
        app.call_as(
            &reader,
            "crm.timeline.comment.delete",
            json!({"id": id, "ownerTypeId": DEAL, "ownerId": deal})
        )
        .await,
        d7("ACCESS_DENIED", "Access denied.")
    );
    assert_eq!(
        app.call_as(&stranger, "crm.timeline.comment.get", json!({"id": id}))
            .await,
        legacy("Access denied.")
    );
    assert_eq!(
        app.call_as(
            &stranger,
            "crm.timeline.comment.list",
            json!({"filter": {"ENTITY_ID": deal, "ENTITY_TYPE": "deal"}})
        )
        .await,
        legacy("Access denied.")
    );
    assert_eq!(
        app.ok("crm.timeline.comment.get", json!({"id": id})).await["COMMENT"],
        "secret"
    );
}

#[tokio::test]
async fn comments_page_fifty_at_a_time() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let mut commands = serde_json::Map::new();
    for i in 0..50 {
        commands.insert(
            format!("c{i}"),
            json!(format!(
                "crm.timeline.comment.add?fields[ENTITY_TYPE]=deal&fields[ENTITY_ID]={deal}&fields[COMMENT]=n{i}"
            )),
        );
    }
    let batch = app.ok("batch", json!({"halt": 1, "cmd": commands})).await;
    assert_eq!(batch["result_error"], json!([]));
    add_comment(&app, "deal", deal, "n50").await;
    let (_, first) = app
        .call(
            "crm.timeline.comment.list",
            json!({"filter": {"ENTITY_ID": deal, "ENTITY_TYPE": "deal"}}),
        )
        .await;
    assert_eq!(first["total"], 51);
    assert_eq!(first["next"], 50);
    assert_eq!(first["result"].as_array().unwrap().len(), 50);
    let (_, second) = app
        .call(
            "crm.timeline.comment.list",
            json!({"filter": {"ENTITY_ID": deal, "ENTITY_TYPE": "deal"}, "start": 50}),
        )
        .await;
    assert_eq!(second["result"].as_array().unwrap().len(), 1);
    assert_eq!(second["result"][0]["COMMENT"], "n0");
    assert!(second.get("next").is_none());
}

#[tokio::test]
async fn fields_describe_the_comment() {
    let app = spawn_app().await;
    let fields = app.ok("crm.timeline.comment.fields", json!({})).await;
    let keys: Vec<&String> = fields.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "ID",
            "CREATED",
            "ENTITY_ID",
            "ENTITY_TYPE",
            "AUTHOR_ID",
            "COMMENT",
            "FILES"
        ]
    );
    assert_eq!(
        fields["FILES"],
        json!({"type": "attached_diskfile", "isRequired": false, "isReadOnly": false,
               "isImmutable": false, "isMultiple": true, "isDynamic": false, "title": "List of Files"})
    );
    assert_eq!(fields["ENTITY_ID"]["isImmutable"], true);
}

#[tokio::test]
async fn comment_changes_fire_the_timeline_comment_events() {
    let app = spawn_app().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let installed = app.install_app("crm", 1, now).await;
    let token = installed.tokens["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let rest = |method: &str, mut params: Value| {
        params["auth"] = json!(token);
        let url = format!("{}/rest/{method}", app.base);
        let client = app.client.clone();
        async move {
            let response = client.post(url).json(&params).send().await.unwrap();
            crate::helpers::read(response).await
        }
    };
    for event in [
        "ONCRMTIMELINECOMMENTADD",
        "ONCRMTIMELINECOMMENTUPDATE",
        "ONCRMTIMELINECOMMENTDELETE",
    ] {
        let (status, body) = rest(
            "event.bind",
            json!({"event": event, "event_type": "offline"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let deal = app.new_item(DEAL, None).await;
    let id = add_comment(&app, "deal", deal, "x").await;
    app.ok(
        "crm.timeline.comment.update",
        json!({"id": id, "fields": {"COMMENT": "y"}}),
    )
    .await;
    app.ok("crm.timeline.comment.delete", json!({"id": id}))
        .await;
    // A failed call records nothing.
    app.call("crm.timeline.comment.delete", json!({"id": id}))
        .await;

    let (status, taken) = rest("event.offline.get", json!({})).await;
    assert_eq!(status, 200, "{taken}");
    let events: Vec<(String, Value)> = taken["result"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["EVENT_NAME"].as_str().unwrap().to_string(),
                e["EVENT_DATA"].clone(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("ONCRMTIMELINECOMMENTADD".to_string(), json!({"ID": id})),
            ("ONCRMTIMELINECOMMENTUPDATE".to_string(), json!({"ID": id})),
            ("ONCRMTIMELINECOMMENTDELETE".to_string(), json!({"ID": id})),
        ]
    );
}

#[tokio::test]
async fn comment_methods_run_inside_batch_with_their_errors() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let batch = app
        .ok(
            "batch",
            json!({"halt": 0, "cmd": {
                "add": format!("crm.timeline.comment.add?fields[ENTITY_TYPE]=deal&fields[ENTITY_ID]={deal}&fields[COMMENT]=hi"),
                "get": "crm.timeline.comment.get?id=$result[add]",
                "bad": "crm.timeline.comment.get?id=0",
            }}),
        )
        .await;
    let id = batch["result"]["add"].as_i64().unwrap();
    assert_eq!(batch["result"]["get"]["ID"], json!(id.to_string()));
    assert_eq!(batch["result"]["get"]["COMMENT"], "hi");
    assert_eq!(
        batch["result_error"]["bad"],
        envelope("", "ID is not defined or invalid.")
    );
}
