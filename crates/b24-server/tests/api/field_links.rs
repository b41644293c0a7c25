//! The item fields that name other items or follow other records (spec §12, "CRM field
//! catalogues"): a contact's `COMPANY_IDS` and a company's contacts mirror the link rows
//! `crm.contact.company.*` manage; `LEAD_ID` / `QUOTE_ID` are stored and must name an item;
//! `LAST_COMMUNICATION_TIME` follows calls, e-mails and chats; required fields are enforced.

use crate::helpers::*;
use b24_server::clock::ManualClock;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

async fn company(app: &TestApp, title: &str) -> i64 {
    app.ok("crm.company.add", json!({"fields": {"TITLE": title}}))
        .await
        .as_i64()
        .unwrap()
}

fn legacy(description: &str) -> Value {
    json!({"error": "", "error_description": description})
}

#[tokio::test]
async fn a_contacts_companies_and_a_companys_contacts_are_the_link_rows_in_both_dialects() {
    let app = spawn_app().await;
    let (a, b) = (company(&app, "A").await, company(&app, "B").await);
    let contact = app
        .ok(
            "crm.contact.add",
            json!({"fields": {"NAME": "Ann", "COMPANY_IDS": [b, a]}}),
        )
        .await
        .as_i64()
        .unwrap();
    let got = app.ok("crm.contact.get", json!({"id": contact})).await;
    assert_eq!(
        (&got["COMPANY_ID"], &got["COMPANY_IDS"]),
        (
            &json!(b.to_string()),
            &json!([b.to_string(), a.to_string()])
        )
    );
    // The same rows `crm.contact.company.items.get` reads, the first one primary.
    assert_eq!(
        app.ok("crm.contact.company.items.get", json!({"id": contact}))
            .await,
        json!([{"COMPANY_ID": b, "SORT": 10, "ROLE_ID": 0, "IS_PRIMARY": "Y"},
               {"COMPANY_ID": a, "SORT": 20, "ROLE_ID": 0, "IS_PRIMARY": "N"}])
    );
    let item = app
        .ok("crm.item.get", json!({"entityTypeId": 3, "id": contact}))
        .await;
    assert_eq!(
        (&item["item"]["companyId"], &item["item"]["companyIds"]),
        (&json!(b), &json!([b, a]))
    );
    let of_a = app
        .ok("crm.item.get", json!({"entityTypeId": 4, "id": a}))
        .await;
    assert_eq!(of_a["item"]["contactIds"], json!([contact]));
    let company_fields = app.ok("crm.company.fields", json!({})).await;
    assert_eq!(
        company_fields["CONTACT_ID"],
        json!({"type": "crm_contact", "isRequired": false, "isReadOnly": false,
               "isImmutable": false, "isMultiple": true, "isDynamic": false, "title": "Contact"})
    );
    let contact_fields = app.ok("crm.item.fields", json!({"entityTypeId": 3})).await;
    assert_eq!(
        contact_fields["fields"]["companyIds"],
        json!({"type": "crm_company", "isRequired": false, "isReadOnly": false,
               "isImmutable": false, "isMultiple": true, "isDynamic": false,
               "title": "COMPANY_IDS", "upperName": "COMPANY_IDS"})
    );
    // The legacy company answer leaves its contact list out, as the service's does.
    let legacy_a = app.ok("crm.company.get", json!({"id": a})).await;
    assert!(legacy_a.get("CONTACT_ID").is_none(), "{legacy_a}");

    // A link removed by `crm.contact.company.delete` leaves both lists.
    app.ok(
        "crm.contact.company.delete",
        json!({"id": contact, "fields": {"COMPANY_ID": b}}),
    )
    .await;
    let got = app.ok("crm.contact.get", json!({"id": contact})).await;
    assert_eq!(
        (&got["COMPANY_ID"], &got["COMPANY_IDS"]),
        (&json!(a.to_string()), &json!([a.to_string()]))
    );
    let of_b = app
        .ok("crm.item.get", json!({"entityTypeId": 4, "id": b}))
        .await;
    assert_eq!(of_b["item"]["contactIds"], Value::Null);

    // A company's CONTACT_ID list replaces its contacts; the contacts keep their primary.
    let other = app.new_item(3, None).await;
    app.ok(
        "crm.company.update",
        json!({"id": b, "fields": {"CONTACT_ID": [other, contact]}}),
    )
    .await;
    assert_eq!(
        app.ok("crm.company.contact.items.get", json!({"id": b}))
            .await,
        json!([{"CONTACT_ID": other, "SORT": 10, "ROLE_ID": 0, "IS_PRIMARY": "Y"},
               {"CONTACT_ID": contact, "SORT": 20, "ROLE_ID": 0, "IS_PRIMARY": "N"}])
    );
    let got = app.ok("crm.contact.get", json!({"id": contact})).await;
    assert_eq!(
        (&got["COMPANY_ID"], &got["COMPANY_IDS"]),
        (
            &json!(a.to_string()),
            &json!([a.to_string(), b.to_string()])
        )
    );
    // crm.item.update of a contact's companyIds: the list replaces the links, the first primary.
    let updated = app
        .ok(
            "crm.item.update",
            json!({"entityTypeId": 3, "id": contact, "fields": {"companyIds": [b]}}),
        )
        .await;
    assert_eq!(
        (
            &updated["item"]["companyId"],
            &updated["item"]["companyIds"]
        ),
        (&json!(b), &json!([b]))
    );
    let of_a = app
        .ok("crm.item.get", json!({"entityTypeId": 4, "id": a}))
        .await;
    assert_eq!(of_a["item"]["contactIds"], Value::Null);
    // Selected in lists, both dialects.
    let (_, list) = app
        .call(
            "crm.contact.list",
            json!({"filter": {"ID": contact}, "select": ["ID", "COMPANY_IDS"]}),
        )
        .await;
    assert_eq!(
        list["result"],
        json!([{"ID": contact.to_string(), "COMPANY_IDS": [b.to_string()]}])
    );
    let (_, list) = app
        .call(
            "crm.item.list",
            json!({"entityTypeId": 4, "filter": {"id": b}, "select": ["id", "contactIds"]}),
        )
        .await;
    assert_eq!(
        list["result"]["items"],
        json!([{"id": b, "contactIds": [other, contact]}])
    );
    // Deleting the contact takes it off its companies' lists.
    app.ok("crm.contact.delete", json!({"id": contact})).await;
    let of_b = app
        .ok("crm.item.get", json!({"entityTypeId": 4, "id": b}))
        .await;
    assert_eq!(of_b["item"]["contactIds"], json!([other]));
}

#[tokio::test]
async fn leads_and_estimates_named_by_items_are_stored_and_must_exist() {
    let app = spawn_app().await;
    let lead = app.new_item(1, None).await;
    let quote = app.new_item(7, None).await;
    let deal = app
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "d", "LEAD_ID": lead, "QUOTE_ID": quote}}),
        )
        .await;
    let got = app.ok("crm.deal.get", json!({"id": deal})).await;
    assert_eq!(
        (&got["LEAD_ID"], &got["QUOTE_ID"]),
        (&json!(lead.to_string()), &json!(quote.to_string()))
    );
    let contact = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 3, "fields": {"name": "Ann", "leadId": lead}}),
        )
        .await;
    assert_eq!(contact["item"]["leadId"], lead);
    let (_, list) = app
        .call(
            "crm.deal.list",
            json!({"filter": {"LEAD_ID": lead}, "select": ["ID", "LEAD_ID"]}),
        )
        .await;
    assert_eq!(
        list["result"],
        json!([{"ID": deal.to_string(), "LEAD_ID": lead.to_string()}])
    );
    // Cleared with an empty value.
    app.ok(
        "crm.deal.update",
        json!({"id": deal, "fields": {"QUOTE_ID": ""}}),
    )
    .await;
    let got = app.ok("crm.deal.get", json!({"id": deal})).await;
    assert_eq!(got["QUOTE_ID"], Value::Null);

    // An item that does not exist is refused, and nothing is stored.
    assert_eq!(
        app.call(
            "crm.deal.update",
            json!({"id": deal, "fields": {"LEAD_ID": 9999, "TITLE": "changed"}}),
        )
        .await,
        (
            400,
            legacy("The value of the field \"LEAD_ID\" is not valid.")
        )
    );
    assert_eq!(
        app.ok("crm.deal.get", json!({"id": deal})).await["TITLE"],
        "d"
    );
    assert_eq!(
        app.call(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "x", "quoteId": 9999}}),
        )
        .await,
        (
            400,
            envelope(
                "CRM_FIELD_ERROR_VALUE_NOT_VALID",
                "The value of the field \"quoteId\" is not valid"
            )
        )
    );
    assert_eq!(
        app.call(
            "crm.company.add",
            json!({"fields": {"TITLE": "x", "LEAD_ID": lead + 1}}),
        )
        .await,
        (
            400,
            legacy("The value of the field \"LEAD_ID\" is not valid.")
        ),
        "there is no such lead"
    );
}

#[tokio::test]
async fn calls_emails_and_chats_set_the_last_communication_time_of_contacts_and_companies() {
    let clock = Arc::new(ManualClock::new(1_800_000_000.0));
    let app = spawn_app_with(move |config| config.clock = clock).await;
    let contact = app.new_item(3, None).await;
    let company = app.new_item(4, None).await;
    let deal = app.new_item(2, None).await;
    let got = app.ok("crm.contact.get", json!({"id": contact})).await;
    assert_eq!(got["LAST_COMMUNICATION_TIME"], Value::Null);
    // A to-do is an activity, not a communication.
    app.new_todo(3, contact).await;
    let got = app.ok("crm.contact.get", json!({"id": contact})).await;
    assert_eq!(got["LAST_COMMUNICATION_TIME"], Value::Null);

    let (status, _) = app
        .control(Method::POST, "/clock", Some(json!({"advance_s": 60})))
        .await;
    assert_eq!(status, 200);
    app.ok(
        "crm.activity.add",
        json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal,
                          "TYPE_ID": 4, "DIRECTION": 1, "SUBJECT": "Mail",
                          "COMMUNICATIONS": [
                              {"VALUE": "a@b.c", "ENTITY_TYPE_ID": 3, "ENTITY_ID": contact},
                              {"VALUE": "c@d.e", "ENTITY_TYPE_ID": 4, "ENTITY_ID": company}]}}),
    )
    .await;
    let got = app.ok("crm.contact.get", json!({"id": contact})).await;
    let time = got["LAST_COMMUNICATION_TIME"].clone();
    assert!(time.is_string(), "{got}");
    assert_eq!(time, got["LAST_ACTIVITY_TIME"]);
    let item = app
        .ok("crm.item.get", json!({"entityTypeId": 4, "id": company}))
        .await;
    assert_eq!(item["item"]["lastCommunicationTime"], time);
    // Deals have no such field.
    let item = app
        .ok("crm.item.get", json!({"entityTypeId": 2, "id": deal}))
        .await;
    assert!(item["item"].get("lastCommunicationTime").is_none());
    // Filtered and selected like any stored field.
    let (_, list) = app
        .call(
            "crm.company.list",
            json!({"filter": {">=LAST_COMMUNICATION_TIME": time}, "select": ["ID"]}),
        )
        .await;
    assert_eq!(list["result"], json!([{"ID": company.to_string()}]));
    // Read-only: a caller's value is dropped.
    app.ok(
        "crm.contact.update",
        json!({"id": contact, "fields": {"LAST_COMMUNICATION_TIME": "2001-01-01T00:00:00+00:00"}}),
    )
    .await;
    let got = app.ok("crm.contact.get", json!({"id": contact})).await;
    assert_eq!(got["LAST_COMMUNICATION_TIME"], time);
}

#[tokio::test]
async fn required_fields_are_refused_when_left_empty() {
    let app = spawn_app().await;
    assert_eq!(
        app.call("crm.company.add", json!({"fields": {"COMMENTS": "x"}}))
            .await,
        (400, legacy("The \"Company Name\" field is required."))
    );
    assert_eq!(
        app.call(
            "crm.item.add",
            json!({"entityTypeId": 4, "fields": {"title": "  "}}),
        )
        .await,
        (
            400,
            envelope(
                "CRM_FIELD_ERROR_REQUIRED",
                "The \"Company Name\" field is required"
            )
        )
    );
    let (_, list) = app.call("crm.company.list", json!({})).await;
    assert_eq!(list["total"], 0, "nothing was stored");
    // A contact without a name is created (the service names it itself); clearing every
    // name of a contact is refused.
    let contact = app.ok("crm.contact.add", json!({"fields": {}})).await;
    app.ok(
        "crm.contact.update",
        json!({"id": contact, "fields": {"NAME": "Ann"}}),
    )
    .await;
    let names = "The \"First Name\" or \"Middle Name\" or \"Last Name\" field is required";
    assert_eq!(
        app.call(
            "crm.contact.update",
            json!({"id": contact, "fields": {"NAME": ""}}),
        )
        .await,
        (400, legacy(&format!("{names}.")))
    );
    assert_eq!(
        app.call(
            "crm.item.update",
            json!({"entityTypeId": 3, "id": contact, "fields": {"name": null}}),
        )
        .await,
        (400, envelope("CRM_FIELD_ERROR_REQUIRED", names))
    );
    assert_eq!(
        app.ok("crm.contact.get", json!({"id": contact})).await["NAME"],
        "Ann"
    );
    // An update that leaves the required fields alone is not checked.
    let company = app.new_item(4, None).await;
    app.ok(
        "crm.company.update",
        json!({"id": company, "fields": {"COMMENTS": "y"}}),
    )
    .await;
    assert_eq!(
        app.call(
            "crm.company.update",
            json!({"id": company, "fields": {"TITLE": ""}}),
        )
        .await,
        (400, legacy("The \"Company Name\" field is required."))
    );
}

async fn download(app: &TestApp, url: &str) -> (u16, Vec<u8>) {
    let response = app.client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn photos_and_logos_are_uploaded_shown_downloaded_replaced_and_removed() {
    let app = spawn_app().await;
    // "hello" and "world" in base64, in the documented object form and the bare pair.
    let contact = app
        .ok(
            "crm.contact.add",
            json!({"fields": {"NAME": "Ann", "PHOTO": {"fileData": ["me.png", "aGVsbG8="]}}}),
        )
        .await;
    let got = app.ok("crm.contact.get", json!({"id": contact})).await;
    let photo = got["PHOTO"].clone();
    let id = photo["id"].as_i64().expect("a file id");
    let url = photo["downloadUrl"].as_str().unwrap().to_string();
    assert_eq!(photo, json!({"id": id, "showUrl": url, "downloadUrl": url}));
    assert!(
        url.starts_with(&format!("{}/disk/download/", app.base)),
        "{url}"
    );
    assert_eq!(download(&app, &url).await, (200, b"hello".to_vec()));
    let item = app
        .ok("crm.item.get", json!({"entityTypeId": 3, "id": contact}))
        .await;
    assert_eq!(
        item["item"]["photo"],
        json!({"id": id, "url": url, "urlMachine": url})
    );
    // Sending the answer's own object back keeps the file.
    app.ok(
        "crm.contact.update",
        json!({"id": contact, "fields": {"PHOTO": photo}}),
    )
    .await;
    assert_eq!(
        app.ok("crm.contact.get", json!({"id": contact})).await["PHOTO"]["id"],
        id
    );
    // A new upload replaces it; the old file's URL stops working.
    let updated = app
        .ok(
            "crm.item.update",
            json!({"entityTypeId": 3, "id": contact,
                   "fields": {"photo": ["you.png", "d29ybGQ="]}}),
        )
        .await;
    let new_url = updated["item"]["photo"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(updated["item"]["photo"]["id"], json!(id));
    assert_eq!(download(&app, &new_url).await, (200, b"world".to_vec()));
    assert_eq!(download(&app, &url).await.0, 400);
    // `{"remove": "Y"}` removes it.
    app.ok(
        "crm.contact.update",
        json!({"id": contact, "fields": {"PHOTO": {"remove": "Y"}}}),
    )
    .await;
    assert_eq!(
        app.ok("crm.contact.get", json!({"id": contact})).await["PHOTO"],
        Value::Null
    );
    assert_eq!(download(&app, &new_url).await.0, 400);

    // A company's logo, in a list answer.
    let company = app
        .ok(
            "crm.company.add",
            json!({"fields": {"TITLE": "Co", "LOGO": ["logo.png", "aGVsbG8="]}}),
        )
        .await;
    let (_, list) = app
        .call(
            "crm.company.list",
            json!({"filter": {"ID": company}, "select": ["ID", "LOGO"]}),
        )
        .await;
    let logo = &list["result"][0]["LOGO"];
    assert_eq!(
        download(&app, logo["downloadUrl"].as_str().unwrap()).await,
        (200, b"hello".to_vec())
    );

    // Base64 that does not decode is refused, and nothing changes.
    assert_eq!(
        app.call(
            "crm.contact.update",
            json!({"id": contact, "fields": {"NAME": "Bob",
                                             "PHOTO": {"fileData": ["a.png", "not base64!"]}}}),
        )
        .await,
        (
            400,
            legacy("The value of the field \"PHOTO\" is not valid.")
        )
    );
    assert_eq!(
        app.ok("crm.contact.get", json!({"id": contact})).await["NAME"],
        "Ann"
    );
    assert_eq!(
        app.call(
            "crm.item.add",
            json!({"entityTypeId": 4, "fields": {"title": "x", "logo": ["a.png", "%%%"]}}),
        )
        .await,
        (
            400,
            envelope(
                "CRM_FIELD_ERROR_VALUE_NOT_VALID",
                "The value of the field \"logo\" is not valid"
            )
        )
    );
}

#[tokio::test]
async fn parent_fields_follow_the_relations_of_smart_processes() {
    let app = spawn_app().await;
    let t = app
        .ok(
            "crm.type.add",
            json!({"fields": {"title": "Orders", "entityTypeId": 150,
                              "relations": {"parent": [{"entityTypeId": 2, "isChildrenListEnabled": "true"}],
                                            "child": [{"entityTypeId": 3}]}}}),
        )
        .await;
    assert_eq!(
        t["type"]["relations"],
        json!({"parent": [{"entityTypeId": 2, "isChildrenListEnabled": "Y", "isPredefined": "N"}],
               "child": [{"entityTypeId": 3, "isChildrenListEnabled": "N", "isPredefined": "N"}]})
    );
    // The order has a deal parent; contacts have an order parent.
    let fields = app
        .ok("crm.item.fields", json!({"entityTypeId": 150}))
        .await;
    assert_eq!(
        fields["fields"]["parentId2"],
        json!({"type": "crm_entity", "isRequired": false, "isReadOnly": false,
               "isImmutable": false, "isMultiple": false, "isDynamic": false,
               "title": "Deal", "settings": {"parentEntityTypeId": 2},
               "upperName": "PARENT_ID_2"})
    );
    let contact_fields = app.ok("crm.contact.fields", json!({})).await;
    assert_eq!(contact_fields["PARENT_ID_150"]["title"], "Orders");
    assert_eq!(contact_fields["PARENT_ID_150"]["type"], "crm_entity");
    assert!(app
        .ok("crm.deal.fields", json!({}))
        .await
        .get("PARENT_ID_150")
        .is_none());

    let deal = app.new_item(2, None).await;
    let order = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 150, "fields": {"title": "o", "parentId2": deal}}),
        )
        .await;
    assert_eq!(order["item"]["parentId2"], deal);
    let order = order["item"]["id"].as_i64().unwrap();
    let contact = app
        .ok(
            "crm.contact.add",
            json!({"fields": {"NAME": "Ann", "PARENT_ID_150": order}}),
        )
        .await;
    let got = app.ok("crm.contact.get", json!({"id": contact})).await;
    assert_eq!(got["PARENT_ID_150"], order.to_string());
    // Filtered and selected in both dialects.
    let (_, list) = app
        .call(
            "crm.item.list",
            json!({"entityTypeId": 150, "filter": {"parentId2": deal},
                   "select": ["id", "parentId2"]}),
        )
        .await;
    assert_eq!(
        list["result"]["items"],
        json!([{"id": order, "parentId2": deal}])
    );
    let (_, list) = app
        .call(
            "crm.contact.list",
            json!({"filter": {"PARENT_ID_150": order}, "select": ["ID", "PARENT_ID_150"]}),
        )
        .await;
    assert_eq!(
        list["result"],
        json!([{"ID": contact.to_string(), "PARENT_ID_150": order.to_string()}])
    );
    // A parent that does not exist is refused; a parent field the relations do not give is
    // ignored, as any unknown field.
    assert_eq!(
        app.call(
            "crm.item.update",
            json!({"entityTypeId": 150, "id": order, "fields": {"parentId2": 9999}}),
        )
        .await,
        (
            400,
            envelope(
                "CRM_FIELD_ERROR_VALUE_NOT_VALID",
                "The value of the field \"parentId2\" is not valid"
            )
        )
    );
    assert_eq!(
        app.call(
            "crm.contact.update",
            json!({"id": contact, "fields": {"PARENT_ID_150": 9999}}),
        )
        .await,
        (
            400,
            legacy("The value of the field \"PARENT_ID_150\" is not valid.")
        )
    );
    let updated = app
        .ok(
            "crm.item.update",
            json!({"entityTypeId": 150, "id": order, "fields": {"parentId4": 1}}),
        )
        .await;
    assert!(updated["item"].get("parentId4").is_none());
    assert_eq!(updated["item"]["parentId2"], deal);
    // Relations of the wrong shape are refused; no type is made.
    assert_eq!(
        app.call(
            "crm.type.add",
            json!({"fields": {"title": "Bad", "relations": {"parent": "x"}}}),
        )
        .await,
        (
            400,
            envelope(
                "CRM_FIELD_ERROR_VALUE_NOT_VALID",
                "The value of the field \"relations\" is not valid"
            )
        )
    );
    let (_, types) = app.call("crm.type.list", json!({})).await;
    assert_eq!(types["total"], 1);
}

#[tokio::test]
async fn an_import_restores_every_link_a_contacts_company_list_names() {
    let a = spawn_app().await;
    let (x, y) = (company(&a, "X").await, company(&a, "Y").await);
    let contact = a
        .ok(
            "crm.contact.add",
            json!({"fields": {"NAME": "Ann", "COMPANY_IDS": [x, y]}}),
        )
        .await;
    let (_, document) = a.control(Method::GET, "/export", None).await;

    let b = spawn_app().await;
    let (status, answer) = b
        .control(Method::POST, "/import?mode=replace", Some(document))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        b.ok("crm.contact.company.items.get", json!({"id": contact}))
            .await,
        json!([{"COMPANY_ID": x, "SORT": 10, "ROLE_ID": 0, "IS_PRIMARY": "Y"},
               {"COMPANY_ID": y, "SORT": 20, "ROLE_ID": 0, "IS_PRIMARY": "N"}])
    );
    let of_y = b
        .ok("crm.item.get", json!({"entityTypeId": 4, "id": y}))
        .await;
    assert_eq!(of_y["item"]["contactIds"], json!([contact]));
}
