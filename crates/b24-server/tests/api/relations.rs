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

// Contacts and companies, many to many: `crm.contact.company.*` from the contact and
// `crm.company.contact.*` from the company answer the same links.

const COMPANY: i64 = 4;

fn company_link(company: i64, sort: i64, primary: bool) -> Value {
    json!({"COMPANY_ID": company, "SORT": sort, "ROLE_ID": 0, "IS_PRIMARY": if primary { "Y" } else { "N" }})
}

#[tokio::test]
async fn a_contacts_companies_and_a_companys_contacts_are_the_same_links() {
    let app = spawn_app().await;
    let contact = app.new_item(CONTACT, None).await;
    let other = app.new_item(CONTACT, None).await;
    let (a, b, c) = (
        app.new_item(COMPANY, None).await,
        app.new_item(COMPANY, None).await,
        app.new_item(COMPANY, None).await,
    );
    assert_eq!(
        app.ok("crm.contact.company.items.get", json!({"id": contact}))
            .await,
        json!([])
    );
    assert_eq!(
        app.ok(
            "crm.contact.company.items.set",
            json!({"id": contact, "items": [
                {"COMPANY_ID": a, "SORT": 100},
                {"COMPANY_ID": b, "SORT": 50, "IS_PRIMARY": "Y"},
            ]})
        )
        .await,
        json!(true)
    );
    assert_eq!(
        app.ok("crm.contact.company.items.get", json!({"id": contact}))
            .await,
        json!([company_link(b, 50, true), company_link(a, 100, false)])
    );
    // The contact's own field follows its primary company.
    let got = app.ok("crm.contact.get", json!({"id": contact})).await;
    assert_eq!(got["COMPANY_ID"], json!(b.to_string()));
    // From the company: the same link, the same SORT and IS_PRIMARY.
    assert_eq!(
        app.ok("crm.company.contact.items.get", json!({"id": b}))
            .await,
        json!([link(contact, 50, true)])
    );
    // The company gains a second contact; without SORT it goes after the others.
    assert_eq!(
        app.ok(
            "crm.company.contact.add",
            json!({"id": b, "fields": {"CONTACT_ID": other}})
        )
        .await,
        json!(true)
    );
    assert_eq!(
        app.ok(
            "crm.company.contact.add",
            json!({"id": b, "fields": {"CONTACT_ID": other}})
        )
        .await,
        json!(false)
    );
    assert_eq!(
        app.ok("crm.company.contact.items.get", json!({"id": b}))
            .await,
        json!([link(contact, 50, true), link(other, 60, true)])
    );
    assert_eq!(
        app.ok("crm.contact.company.items.get", json!({"id": other}))
            .await,
        json!([company_link(b, 60, true)])
    );
    // From company c, IS_PRIMARY makes c the contact's primary company.
    assert_eq!(
        app.ok(
            "crm.company.contact.add",
            json!({"id": c, "fields": {"CONTACT_ID": contact, "SORT": 5, "IS_PRIMARY": "Y"}})
        )
        .await,
        json!(true)
    );
    assert_eq!(
        app.ok("crm.contact.company.items.get", json!({"id": contact}))
            .await,
        json!([
            company_link(c, 5, true),
            company_link(b, 50, false),
            company_link(a, 100, false)
        ])
    );
    let got = app.ok("crm.contact.get", json!({"id": contact})).await;
    assert_eq!(got["COMPANY_ID"], json!(c.to_string()));
    // Removing the primary link promotes the next by SORT.
    assert_eq!(
        app.ok(
            "crm.contact.company.delete",
            json!({"id": contact, "fields": {"COMPANY_ID": c}})
        )
        .await,
        json!(true)
    );
    assert_eq!(
        app.ok(
            "crm.contact.company.delete",
            json!({"id": contact, "fields": {"COMPANY_ID": c}})
        )
        .await,
        json!(false)
    );
    assert_eq!(
        app.ok("crm.contact.company.items.get", json!({"id": contact}))
            .await,
        json!([company_link(b, 50, true), company_link(a, 100, false)])
    );
    assert_eq!(
        app.ok("crm.company.contact.items.get", json!({"id": c}))
            .await,
        json!([])
    );
    // Replacing a company's contacts drops the contact's link to it, nothing else.
    assert_eq!(
        app.ok(
            "crm.company.contact.items.set",
            json!({"id": b, "items": [{"CONTACT_ID": other}]})
        )
        .await,
        json!(true)
    );
    assert_eq!(
        app.ok("crm.contact.company.items.get", json!({"id": contact}))
            .await,
        json!([company_link(a, 100, true)])
    );
    let got = app.ok("crm.contact.get", json!({"id": contact})).await;
    assert_eq!(got["COMPANY_ID"], json!(a.to_string()));
    assert_eq!(
        app.ok("crm.company.contact.items.get", json!({"id": b}))
            .await,
        json!([link(other, 60, true)])
    );
    // items.delete from the contact empties it, and its company field.
    assert_eq!(
        app.ok("crm.contact.company.items.delete", json!({"id": contact}))
            .await,
        json!(true)
    );
    assert_eq!(
        app.ok("crm.contact.company.items.get", json!({"id": contact}))
            .await,
        json!([])
    );
    let got = app.ok("crm.contact.get", json!({"id": contact})).await;
    assert!(
        got["COMPANY_ID"].is_null() || got["COMPANY_ID"] == json!(""),
        "{got}"
    );
    assert_eq!(
        app.ok("crm.company.contact.items.get", json!({"id": a}))
            .await,
        json!([])
    );
}

#[tokio::test]
async fn a_contact_set_without_sort_keeps_existing_sorts_and_numbers_new_ones_after_the_highest() {
    let app = spawn_app().await;
    let contact = app.new_item(CONTACT, None).await;
    let (a, b, c) = (
        app.new_item(COMPANY, None).await,
        app.new_item(COMPANY, None).await,
        app.new_item(COMPANY, None).await,
    );
    app.ok(
        "crm.contact.company.add",
        json!({"id": contact, "fields": {"COMPANY_ID": a, "SORT": 30}}),
    )
    .await;
    // No IS_PRIMARY: the first item becomes primary; a keeps 30, b and c follow it.
    app.ok(
        "crm.contact.company.items.set",
        json!({"id": contact, "items": [{"COMPANY_ID": b}, {"COMPANY_ID": a}, {"COMPANY_ID": c}]}),
    )
    .await;
    assert_eq!(
        app.ok("crm.contact.company.items.get", json!({"id": contact}))
            .await,
        json!([
            company_link(b, 40, true),
            company_link(a, 30, false),
            company_link(c, 50, false)
        ])
    );
}

#[tokio::test]
async fn contact_company_errors_are_in_the_legacy_form_and_change_nothing() {
    let app = spawn_app().await;
    let contact = app.new_item(CONTACT, None).await;
    let company = app.new_item(COMPANY, None).await;
    app.ok(
        "crm.contact.company.add",
        json!({"id": contact, "fields": {"COMPANY_ID": company}}),
    )
    .await;
    let owner = "The parameter 'ownerEntityID' is invalid or not defined.";
    let cases = [
        ("crm.contact.company.items.get", json!({}), owner),
        ("crm.company.contact.items.get", json!({"id": -1}), owner),
        (
            "crm.contact.company.items.get",
            json!({"id": contact + 100}),
            "Not found.",
        ),
        (
            "crm.company.contact.items.get",
            json!({"id": company + 100}),
            "Not found.",
        ),
        (
            "crm.contact.company.items.set",
            json!({"id": contact}),
            "The parameter 'items' must be array.",
        ),
        (
            "crm.company.contact.items.set",
            json!({"id": company, "items": [{"COMPANY_ID": 1}]}),
            "The parameter 'items' is not valid.",
        ),
        (
            "crm.contact.company.items.set",
            json!({"id": contact, "items": ["x"]}),
            "The parameter 'items' is not valid.",
        ),
        (
            "crm.company.contact.items.set",
            json!({"id": company + 100, "items": []}),
            "Not found.",
        ),
        (
            "crm.contact.company.items.delete",
            json!({"id": contact + 100}),
            "Not found.",
        ),
        (
            "crm.company.contact.items.delete",
            json!({"id": "x"}),
            owner,
        ),
        (
            "crm.contact.company.add",
            json!({"id": contact, "fields": "x"}),
            "The parameter 'fields' must be array.",
        ),
        (
            "crm.company.contact.add",
            json!({"id": company, "fields": {"CONTACT_ID": 0}}),
            "The parameter 'fields' is not valid.",
        ),
        (
            "crm.company.contact.add",
            json!({"id": company + 100, "fields": {"CONTACT_ID": contact}}),
            "Not found.",
        ),
        (
            "crm.contact.company.delete",
            json!({"id": contact, "fields": {"CONTACT_ID": company}}),
            "The parameter 'fields' is not valid.",
        ),
        (
            "crm.company.contact.delete",
            json!({"id": company}),
            "The parameter 'fields' must be array.",
        ),
        (
            "crm.company.contact.delete",
            json!({"fields": {"CONTACT_ID": contact}}),
            owner,
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
        app.ok("crm.contact.company.items.get", json!({"id": contact}))
            .await,
        json!([company_link(company, 10, true)])
    );
    assert_eq!(
        app.ok("crm.company.contact.items.get", json!({"id": company}))
            .await,
        json!([link(contact, 10, true)])
    );
}

#[tokio::test]
async fn contact_company_links_need_read_to_list_and_update_to_change_on_the_owner() {
    let app = spawn_app().await;
    let contact = app.new_item(CONTACT, None).await;
    let company = app.new_item(COMPANY, None).await;
    let reader = app.create_user(&["contact.read=all", "company.read=all"]);
    let reader = app.create_webhook(reader, Some("crm"));
    let stranger = app.create_user(&[]);
    let stranger = app.create_webhook(stranger, Some("crm"));
    for (method, id) in [
        ("crm.contact.company.items.get", contact),
        ("crm.company.contact.items.get", company),
    ] {
        let (status, _) = app.call_as(&reader, method, json!({"id": id})).await;
        assert_eq!(status, 200, "{method}");
        assert_eq!(
            app.call_as(&stranger, method, json!({"id": id})).await,
            legacy("Access denied."),
            "{method}"
        );
    }
    for (method, params) in [
        (
            "crm.contact.company.add",
            json!({"id": contact, "fields": {"COMPANY_ID": company}}),
        ),
        (
            "crm.company.contact.add",
            json!({"id": company, "fields": {"CONTACT_ID": contact}}),
        ),
        (
            "crm.contact.company.items.set",
            json!({"id": contact, "items": [{"COMPANY_ID": company}]}),
        ),
        (
            "crm.company.contact.items.set",
            json!({"id": company, "items": [{"CONTACT_ID": contact}]}),
        ),
        ("crm.contact.company.items.delete", json!({"id": contact})),
        ("crm.company.contact.items.delete", json!({"id": company})),
        (
            "crm.contact.company.delete",
            json!({"id": contact, "fields": {"COMPANY_ID": company}}),
        ),
        (
            "crm.company.contact.delete",
            json!({"id": company, "fields": {"CONTACT_ID": contact}}),
        ),
    ] {
        assert_eq!(
            app.call_as(&reader, method, params).await,
            legacy("Access denied."),
            "{method}"
        );
    }
    assert_eq!(
        app.ok("crm.contact.company.items.get", json!({"id": contact}))
            .await,
        json!([])
    );
}

#[tokio::test]
async fn contact_company_methods_run_inside_batch_and_fields_describe_a_link() {
    let app = spawn_app().await;
    let contact = app.new_item(CONTACT, None).await;
    let company = app.new_item(COMPANY, None).await;
    let batch = app
        .ok(
            "batch",
            json!({"halt": 0, "cmd": {
                "add": format!("crm.company.contact.add?id={company}&fields[CONTACT_ID]={contact}"),
                "get": format!("crm.contact.company.items.get?id={contact}"),
                "bad": "crm.contact.company.items.get?id=0",
            }}),
        )
        .await;
    assert_eq!(batch["result"]["add"], json!(true));
    assert_eq!(
        batch["result"]["get"],
        json!([company_link(company, 10, true)])
    );
    assert_eq!(
        batch["result_error"]["bad"],
        envelope(
            "",
            "The parameter 'ownerEntityID' is invalid or not defined."
        )
    );
    for (method, key) in [
        ("crm.contact.company.fields", "COMPANY_ID"),
        ("crm.company.contact.fields", "CONTACT_ID"),
    ] {
        let fields = app.ok(method, json!({})).await;
        assert_eq!(
            fields.as_object().unwrap().keys().collect::<Vec<_>>(),
            [key, "SORT", "ROLE_ID", "IS_PRIMARY"],
            "{method}"
        );
        assert_eq!(fields[key]["isRequired"], true, "{method}");
    }
}

#[tokio::test]
async fn a_contacts_company_field_and_deleted_items_keep_the_links_in_step() {
    let app = spawn_app().await;
    let (a, b) = (
        app.new_item(COMPANY, None).await,
        app.new_item(COMPANY, None).await,
    );
    let contact = app
        .ok(
            "crm.contact.add",
            json!({"fields": {"NAME": "Ann", "COMPANY_ID": a}}),
        )
        .await;
    let contact = contact.as_i64().unwrap();
    assert_eq!(
        app.ok("crm.company.contact.items.get", json!({"id": a}))
            .await,
        json!([link(contact, 10, true)])
    );
    // A new COMPANY_ID links that company as the primary one; the old link stays.
    app.ok(
        "crm.contact.update",
        json!({"id": contact, "fields": {"COMPANY_ID": b}}),
    )
    .await;
    assert_eq!(
        app.ok("crm.contact.company.items.get", json!({"id": contact}))
            .await,
        json!([company_link(b, 20, true), company_link(a, 10, false)])
    );
    // Deleting the primary company promotes the next one, in the contact's field too.
    app.ok("crm.company.delete", json!({"id": b})).await;
    assert_eq!(
        app.ok("crm.contact.company.items.get", json!({"id": contact}))
            .await,
        json!([company_link(a, 10, true)])
    );
    let got = app.ok("crm.contact.get", json!({"id": contact})).await;
    assert_eq!(got["COMPANY_ID"], json!(a.to_string()));
    // Deleting the contact removes its links from the company's side.
    app.ok("crm.contact.delete", json!({"id": contact})).await;
    assert_eq!(
        app.ok("crm.company.contact.items.get", json!({"id": a}))
            .await,
        json!([])
    );
}
