//! `crm.duplicate.findbycomm`: leads, contacts and companies found by phone (digits, without the
//! extension) or e-mail (any case), kept current by every item write; the legacy errors, read
//! rights, the per-type cap of 20, and `batch`.

use crate::helpers::{envelope, spawn_app, TestApp};
use serde_json::{json, Value};

fn legacy(text: &str) -> (u16, Value) {
    (400, envelope("", text))
}

async fn with_comms(app: &TestApp, method: &str, phone: &str, email: &str) -> i64 {
    app.ok(
        method,
        json!({"fields": {"TITLE": "t", "NAME": "n",
            "PHONE": [{"VALUE": phone, "VALUE_TYPE": "WORK"}],
            "EMAIL": [{"VALUE": email, "VALUE_TYPE": "WORK"}]}}),
    )
    .await
    .as_i64()
    .unwrap()
}

async fn find(app: &TestApp, params: Value) -> Value {
    app.ok("crm.duplicate.findbycomm", params).await
}

#[tokio::test]
async fn phones_and_emails_find_leads_contacts_and_companies() {
    let app = spawn_app().await;
    let lead = with_comms(
        &app,
        "crm.lead.add",
        "+7 (900) 123-45-67",
        "Ann@Example.com",
    )
    .await;
    let contact = with_comms(
        &app,
        "crm.contact.add",
        "79001234567 ext. 12",
        "bob@example.com",
    )
    .await;
    let company = with_comms(&app, "crm.company.add", "+1 555 0100", "ann@example.COM").await;

    assert_eq!(
        find(
            &app,
            json!({"type": "PHONE", "values": ["+7 900 123 45 67"]})
        )
        .await,
        json!({"LEAD": [lead], "CONTACT": [contact]})
    );
    assert_eq!(
        find(
            &app,
            json!({"type": "email", "values": ["ANN@example.com", "nobody@x.y"]})
        )
        .await,
        json!({"LEAD": [lead], "COMPANY": [company]})
    );
    assert_eq!(
        find(
            &app,
            json!({"type": "EMAIL", "values": ["ann@example.com"], "entity_type": "COMPANY"})
        )
        .await,
        json!({"COMPANY": [company]})
    );
    // Nothing found is PHP's empty array.
    assert_eq!(
        find(&app, json!({"type": "PHONE", "values": ["000"]})).await,
        json!([])
    );
}

#[tokio::test]
async fn the_index_follows_updates_and_deletes() {
    let app = spawn_app().await;
    let contact = with_comms(&app, "crm.contact.add", "111-222", "old@example.com").await;
    let stored = app.ok("crm.contact.get", json!({"id": contact})).await;
    let phone_id = stored["PHONE"][0]["ID"].clone();
    app.ok(
        "crm.contact.update",
        json!({"id": contact, "fields": {"PHONE": [{"ID": phone_id, "VALUE": "333-444"}]}}),
    )
    .await;
    assert_eq!(
        find(&app, json!({"type": "PHONE", "values": ["111222"]})).await,
        json!([])
    );
    assert_eq!(
        find(&app, json!({"type": "PHONE", "values": ["333444"]})).await,
        json!({"CONTACT": [contact]})
    );
    // The e-mail was not touched by the phone change.
    assert_eq!(
        find(
            &app,
            json!({"type": "EMAIL", "values": ["old@example.com"]})
        )
        .await,
        json!({"CONTACT": [contact]})
    );
    app.ok("crm.contact.delete", json!({"id": contact})).await;
    assert_eq!(
        find(&app, json!({"type": "PHONE", "values": ["333444"]})).await,
        json!([])
    );
}

#[tokio::test]
async fn bad_parameters_have_their_legacy_errors() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"values": ["1"]}),
            "Communication type is not defined",
        ),
        (
            json!({"type": "FAX", "values": ["1"]}),
            "Communication type 'FAX' is not supported in current context",
        ),
        (
            json!({"type": "PHONE"}),
            "Communication values is not defined",
        ),
        (
            json!({"type": "PHONE", "values": []}),
            "Communication values is not defined",
        ),
        (
            json!({"type": "PHONE", "values": "123"}),
            "Communication values is not defined",
        ),
        (
            json!({"type": "PHONE", "values": ["1"], "entity_type": "DEAL"}),
            "Entity type 'DEAL' is not supported in current context",
        ),
    ];
    for (params, text) in cases {
        assert_eq!(
            app.call("crm.duplicate.findbycomm", params.clone()).await,
            legacy(text),
            "{params}"
        );
    }
}

#[tokio::test]
async fn a_user_finds_only_what_they_may_read() {
    let app = spawn_app().await;
    let own_contacts = app.create_user(&["contact.read=own"]);
    let mine = app
        .ok(
            "crm.contact.add",
            json!({"fields": {"NAME": "m", "ASSIGNED_BY_ID": own_contacts,
                "PHONE": [{"VALUE": "555", "VALUE_TYPE": "WORK"}]}}),
        )
        .await
        .as_i64()
        .unwrap();
    with_comms(&app, "crm.contact.add", "555", "x@y.z").await;
    with_comms(&app, "crm.lead.add", "555", "x@y.z").await;
    let url = app.create_webhook(own_contacts, Some("crm"));
    let (status, body) = app
        .call_as(
            &url,
            "crm.duplicate.findbycomm",
            json!({"type": "PHONE", "values": ["555"]}),
        )
        .await;
    assert_eq!(
        (status, body["result"].clone()),
        (200, json!({"CONTACT": [mine]}))
    );

    let nobody = app.create_user(&[]);
    let url = app.create_webhook(nobody, Some("crm"));
    assert_eq!(
        app.call_as(
            &url,
            "crm.duplicate.findbycomm",
            json!({"type": "PHONE", "values": ["555"]})
        )
        .await,
        (403, envelope("ACCESS_DENIED", "Access denied"))
    );
}

#[tokio::test]
async fn twenty_matches_in_one_type_end_the_search_and_batch_runs_it() {
    let app = spawn_app().await;
    let mut commands = serde_json::Map::new();
    for n in 0..21 {
        commands.insert(
            format!("l{n}"),
            json!("crm.lead.add?fields[TITLE]=t&fields[PHONE][0][VALUE]=777&fields[PHONE][0][VALUE_TYPE]=WORK"),
        );
    }
    let batch = app.ok("batch", json!({"halt": 1, "cmd": commands})).await;
    assert_eq!(batch["result_error"], json!([]));
    with_comms(&app, "crm.contact.add", "777", "c@d.e").await;
    let found = find(&app, json!({"type": "PHONE", "values": ["777"]})).await;
    assert_eq!(found["LEAD"].as_array().unwrap().len(), 20);
    assert!(found.get("CONTACT").is_none(), "{found}");

    let batch = app
        .ok(
            "batch",
            json!({"halt": 0, "cmd": {
                "ok": "crm.duplicate.findbycomm?type=EMAIL&values[]=C@D.E",
                "bad": "crm.duplicate.findbycomm?values[]=1",
            }}),
        )
        .await;
    assert_eq!(
        batch["result"]["ok"]["CONTACT"].as_array().unwrap().len(),
        1
    );
    assert_eq!(
        batch["result_error"]["bad"],
        envelope("", "Communication type is not defined")
    );
}

#[tokio::test]
async fn imported_items_are_found_by_their_communications() {
    let a = spawn_app().await;
    let contact = with_comms(&a, "crm.contact.add", "+49 30 1234", "imp@example.com").await;
    let (_, document) = a.control(reqwest::Method::GET, "/export", None).await;

    let b = spawn_app().await;
    let (status, answer) = b
        .control(
            reqwest::Method::POST,
            "/import?mode=replace",
            Some(document),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        find(&b, json!({"type": "PHONE", "values": ["49301234"]})).await,
        json!({"CONTACT": [contact]})
    );
}
