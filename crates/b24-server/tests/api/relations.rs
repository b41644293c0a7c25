//! A deal's contacts (`crm.deal.contact.*`, legacy proxy): items.get / set / delete, add /
//! delete with `false` for nothing to do, the primary contact first, rights on the deal, errors
//! in the legacy form, and `batch`.

use crate::helpers::{envelope, spawn_app};
use serde_json::{json, Value};

const DEAL: i64 = 2;
const CONTACT: i64 = 3;

fn legacy(text: &str) -> (u16, Value) {
    (400, envelope("", text))
}

fn link(contact: i64, sort: i64, primary: bool) -> Value {
    json!({"CONTACT_ID": contact, "SORT": sort, "ROLE_ID": 0, "IS_PRIMARY": if primary { "Y" } else { "N" }})
}

#[tokio::test]
async fn a_deals_contacts_are_set_added_read_and_removed() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let (a, b, c) = (
        app.new_item(CONTACT, None).await,
        app.new_item(CONTACT, None).await,
        app.new_item(CONTACT, None).await,
    );
    assert_eq!(
        app.ok("crm.deal.contact.items.get", json!({"id": deal}))
            .await,
        json!([])
    );
    assert_eq!(
        app.ok(
            "crm.deal.contact.items.set",
            json!({"id": deal, "items": [{"CONTACT_ID": a, "SORT": 20}, {"CONTACT_ID": b, "SORT": 10}]})
        )
        .await,
        json!(true)
    );
    assert_eq!(
        app.ok("crm.deal.contact.items.get", json!({"id": deal}))
            .await,
        json!([link(b, 10, true), link(a, 20, false)])
    );
    // The deal's own fields follow: the primary contact and the list.
    let got = app.ok("crm.deal.get", json!({"id": deal})).await;
    assert_eq!(got["CONTACT_ID"], json!(b.to_string()));

    assert_eq!(
        app.ok(
            "crm.deal.contact.add",
            json!({"id": deal, "fields": {"CONTACT_ID": c, "IS_PRIMARY": "Y"}})
        )
        .await,
        json!(true)
    );
    assert_eq!(
        app.ok(
            "crm.deal.contact.add",
            json!({"id": deal, "fields": {"CONTACT_ID": c}})
        )
        .await,
        json!(false)
    );
    assert_eq!(
        app.ok("crm.deal.contact.items.get", json!({"id": deal}))
            .await,
        json!([link(c, 10, true), link(b, 20, false), link(a, 30, false)])
    );
    assert_eq!(
        app.ok(
            "crm.deal.contact.delete",
            json!({"id": deal, "fields": {"CONTACT_ID": c}})
        )
        .await,
        json!(true)
    );
    assert_eq!(
        app.ok(
            "crm.deal.contact.delete",
            json!({"id": deal, "fields": {"CONTACT_ID": c}})
        )
        .await,
        json!(false)
    );
    assert_eq!(
        app.ok("crm.deal.contact.items.get", json!({"id": deal}))
            .await,
        json!([link(b, 10, true), link(a, 20, false)])
    );
    assert_eq!(
        app.ok("crm.deal.contact.items.delete", json!({"id": deal}))
            .await,
        json!(true)
    );
    assert_eq!(
        app.ok("crm.deal.contact.items.get", json!({"id": deal}))
            .await,
        json!([])
    );
}

#[tokio::test]
async fn relation_errors_are_in_the_legacy_form_and_change_nothing() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let contact = app.new_item(CONTACT, None).await;
    app.ok(
        "crm.deal.contact.add",
        json!({"id": deal, "fields": {"CONTACT_ID": contact}}),
    )
    .await;
    let cases = [
        (
            "crm.deal.contact.items.get",
            json!({}),
            "The parameter 'ownerEntityID' is invalid or not defined.",
        ),
        (
            "crm.deal.contact.items.get",
            json!({"id": 0}),
            "The parameter 'ownerEntityID' is invalid or not defined.",
        ),
        (
            "crm.deal.contact.items.get",
            json!({"id": deal + 100}),
            "Not found.",
        ),
        (
            "crm.deal.contact.items.set",
            json!({"id": deal}),
            "The parameter 'items' must be array.",
        ),
        (
            "crm.deal.contact.items.set",
            json!({"id": deal, "items": [{"SORT": 1}]}),
            "The parameter 'items' is not valid.",
        ),
        (
            "crm.deal.contact.items.delete",
            json!({"id": deal + 100}),
            "Not found.",
        ),
        (
            "crm.deal.contact.add",
            json!({"id": deal}),
            "The parameter 'fields' must be array.",
        ),
        (
            "crm.deal.contact.add",
            json!({"id": deal, "fields": {"CONTACT_ID": 0}}),
            "The parameter 'fields' is not valid.",
        ),
        (
            "crm.deal.contact.add",
            json!({"id": deal, "fields": "x"}),
            "The parameter 'fields' must be array.",
        ),
        (
            "crm.deal.contact.delete",
            json!({"id": deal, "fields": {}}),
            "The parameter 'fields' is not valid.",
        ),
        (
            "crm.deal.contact.delete",
            json!({"fields": {"CONTACT_ID": contact}}),
            "The parameter 'ownerEntityID' is invalid or not defined.",
        ),
    ];
    for (method, params, text) in cases {
        assert_eq!(
            app.call(method, params.clone()).await,
            legacy(text),
            "{method} {params}"
        );
    }
    assert_eq!(
        app.ok("crm.deal.contact.items.get", json!({"id": deal}))
            .await,
        json!([link(contact, 10, true)])
    );
}

#[tokio::test]
async fn a_user_without_rights_on_the_deal_neither_reads_nor_changes_its_contacts() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let contact = app.new_item(CONTACT, None).await;
    let reader = app.create_user(&["deal.read=all"]);
    let reader = app.create_webhook(reader, Some("crm"));
    let stranger = app.create_user(&[]);
    let stranger = app.create_webhook(stranger, Some("crm"));
    let (status, _) = app
        .call_as(&reader, "crm.deal.contact.items.get", json!({"id": deal}))
        .await;
    assert_eq!(status, 200);
    for (method, params) in [
        (
            "crm.deal.contact.add",
            json!({"id": deal, "fields": {"CONTACT_ID": contact}}),
        ),
        (
            "crm.deal.contact.items.set",
            json!({"id": deal, "items": [{"CONTACT_ID": contact}]}),
        ),
        ("crm.deal.contact.items.delete", json!({"id": deal})),
        (
            "crm.deal.contact.delete",
            json!({"id": deal, "fields": {"CONTACT_ID": contact}}),
        ),
    ] {
        assert_eq!(
            app.call_as(&reader, method, params).await,
            legacy("Access denied."),
            "{method}"
        );
    }
    assert_eq!(
        app.call_as(&stranger, "crm.deal.contact.items.get", json!({"id": deal}))
            .await,
        legacy("Access denied.")
    );
    assert_eq!(
        app.ok("crm.deal.contact.items.get", json!({"id": deal}))
            .await,
        json!([])
    );
}

#[tokio::test]
async fn relation_methods_run_inside_batch_and_fields_describe_a_link() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let contact = app.new_item(CONTACT, None).await;
    let batch = app
        .ok(
            "batch",
            json!({"halt": 0, "cmd": {
                "add": format!("crm.deal.contact.add?id={deal}&fields[CONTACT_ID]={contact}"),
                "get": format!("crm.deal.contact.items.get?id={deal}"),
                "bad": "crm.deal.contact.items.get?id=0",
            }}),
        )
        .await;
    assert_eq!(batch["result"]["add"], json!(true));
    assert_eq!(batch["result"]["get"], json!([link(contact, 10, true)]));
    assert_eq!(
        batch["result_error"]["bad"],
        envelope(
            "",
            "The parameter 'ownerEntityID' is invalid or not defined."
        )
    );
    let fields = app.ok("crm.deal.contact.fields", json!({})).await;
    assert_eq!(
        fields.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["CONTACT_ID", "SORT", "ROLE_ID", "IS_PRIMARY"]
    );
    assert_eq!(fields["CONTACT_ID"]["isRequired"], true);
}
