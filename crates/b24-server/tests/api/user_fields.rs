//! CRM user fields (`UF_CRM_*`): `crm.deal / lead / contact / company .userfield.*` and
//! `userfieldconfig.*`, every error envelope, rights and scopes, and the fields' values on items
//! in both forms (legacy `UF_CRM_…`, `crm.item`'s `ufCrm…`): stored, shown, selected, filtered,
//! ordered, snapshotted and exported (spec §12.U "CRM user fields"; docs:
//! api-reference/crm/deals/user-defined-fields/, crm/universal/userfieldconfig/).

use crate::helpers::{envelope, spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

fn legacy(text: &str) -> Value {
    envelope("", text)
}

/// Adds a deal user field; returns its id.
async fn deal_field(app: &TestApp, fields: Value) -> i64 {
    app.ok("crm.deal.userfield.add", json!({ "fields": fields }))
        .await
        .as_i64()
        .expect("field id")
}

async fn deal_field_count(app: &TestApp) -> usize {
    app.ok("crm.deal.userfield.list", json!({}))
        .await
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_deal_user_field_is_added_read_listed_updated_and_deleted() {
    let app = spawn_app().await;
    let id = deal_field(
        &app,
        json!({"FIELD_NAME": "HELLO_WORLD", "USER_TYPE_ID": "string", "LABEL": "Hello",
               "EDIT_FORM_LABEL": {"en": "Hello, edit", "de": "Hallo"}, "SORT": 2000,
               "MULTIPLE": "Y", "SETTINGS": {"DEFAULT_VALUE": "x"}}),
    )
    .await;
    let got = app.ok("crm.deal.userfield.get", json!({"id": id})).await;
    assert_eq!(got["ID"], json!(id.to_string()));
    assert_eq!(got["ENTITY_ID"], "CRM_DEAL");
    assert_eq!(got["FIELD_NAME"], "UF_CRM_HELLO_WORLD");
    assert_eq!(got["USER_TYPE_ID"], "string");
    assert_eq!(got["XML_ID"], Value::Null);
    assert_eq!(got["SORT"], "2000");
    assert_eq!(got["MULTIPLE"], "Y");
    assert_eq!(got["MANDATORY"], "N");
    assert_eq!(got["SHOW_FILTER"], "N");
    assert_eq!(got["SHOW_IN_LIST"], "N");
    assert_eq!(got["EDIT_IN_LIST"], "Y");
    assert_eq!(got["IS_SEARCHABLE"], "N");
    assert_eq!(got["SETTINGS"]["DEFAULT_VALUE"], "x");
    assert_eq!(got["SETTINGS"]["ROWS"], 1);
    assert_eq!(got["EDIT_FORM_LABEL"]["en"], "Hello, edit");
    assert_eq!(got["EDIT_FORM_LABEL"]["de"], "Hallo");
    assert_eq!(
        got["EDIT_FORM_LABEL"]["ru"], "Hello",
        "LABEL fills the others"
    );
    assert_eq!(got["LIST_COLUMN_LABEL"]["ua"], "Hello");
    assert_eq!(got["HELP_MESSAGE"].as_object().unwrap().len(), 21);
    assert!(got.get("LIST").is_none(), "only enumerations have LIST");

    let (status, body) = app
        .call(
            "crm.deal.userfield.list",
            json!({"filter": {"USER_TYPE_ID": "string"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    let row = &body["result"][0];
    assert_eq!(row["FIELD_NAME"], "UF_CRM_HELLO_WORLD");
    assert_eq!(
        row["EDIT_FORM_LABEL"], "Hello, edit",
        "list labels are text"
    );
    assert_eq!(row["LIST_FILTER_LABEL"], "Hello");

    let updated = app
        .ok(
            "crm.deal.userfield.update",
            json!({"id": id, "fields": {"SORT": 50, "MANDATORY": "Y", "LIST_COLUMN_LABEL": "Column",
                   "FIELD_NAME": "OTHER", "USER_TYPE_ID": "integer", "MULTIPLE": "N",
                   "XML_ID": "hello"}}),
        )
        .await;
    assert_eq!(updated, json!(true));
    let got = app.ok("crm.deal.userfield.get", json!({"id": id})).await;
    assert_eq!(got["SORT"], "50");
    assert_eq!(got["MANDATORY"], "Y");
    assert_eq!(got["XML_ID"], "hello");
    assert_eq!(got["LIST_COLUMN_LABEL"]["fr"], "Column");
    assert_eq!(got["EDIT_FORM_LABEL"]["en"], "Hello, edit", "untouched");
    assert_eq!(got["FIELD_NAME"], "UF_CRM_HELLO_WORLD", "immutable");
    assert_eq!(got["USER_TYPE_ID"], "string", "immutable");
    assert_eq!(got["MULTIPLE"], "Y", "not changed by an update");

    let deleted = app.ok("crm.deal.userfield.delete", json!({"id": id})).await;
    assert_eq!(deleted, json!(true));
    let (status, body) = app.call("crm.deal.userfield.get", json!({"id": id})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        envelope(
            "ERROR_NOT_FOUND",
            &format!("The entity with ID '{id}' is not found.")
        )
    );
    assert_eq!(deal_field_count(&app).await, 0);
}

#[tokio::test]
async fn field_names_get_the_uf_crm_prefix_as_the_service_builds_them() {
    let app = spawn_app().await;
    for (given, full) in [
        ("manager_note", "UF_CRM_MANAGER_NOTE"),
        ("UF_OTHER_NOTE", "UF_CRM_OTHER_NOTE"),
        ("UF_CRM_THIRD", "UF_CRM_THIRD"),
        ("1712345", "UF_CRM_1712345"),
    ] {
        let id = deal_field(&app, json!({"FIELD_NAME": given, "USER_TYPE_ID": "string"})).await;
        let got = app.ok("crm.deal.userfield.get", json!({"id": id})).await;
        assert_eq!(got["FIELD_NAME"], full, "{given}");
    }
    let order = app
        .ok(
            "crm.deal.userfield.list",
            json!({"order": {"FIELD_NAME": "DESC"}}),
        )
        .await;
    let names: Vec<&str> = order
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["FIELD_NAME"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "UF_CRM_THIRD",
            "UF_CRM_OTHER_NOTE",
            "UF_CRM_MANAGER_NOTE",
            "UF_CRM_1712345"
        ]
    );
}

#[tokio::test]
async fn each_add_error_has_the_envelope_the_docs_give_and_changes_nothing() {
    let app = spawn_app().await;
    deal_field(
        &app,
        json!({"FIELD_NAME": "TAKEN", "USER_TYPE_ID": "string"}),
    )
    .await;
    let cases = [
        (
            json!({"USER_TYPE_ID": "string"}),
            legacy("The 'FIELD_NAME' field is not found."),
        ),
        (
            json!({"FIELD_NAME": "", "USER_TYPE_ID": "string"}),
            legacy("The 'FIELD_NAME' field is not found."),
        ),
        (
            json!({"FIELD_NAME": "NO_TYPE"}),
            legacy("The 'USER_TYPE_ID' field is not found."),
        ),
        (
            json!({"FIELD_NAME": "X".repeat(44), "USER_TYPE_ID": "string"}),
            envelope(
                "ERROR_CORE",
                "Field name is too long (more than 50 characters).",
            ),
        ),
        (
            json!({"FIELD_NAME": "bad-name", "USER_TYPE_ID": "string"}),
            envelope(
                "ERROR_CORE",
                "Field name contains invalid characters. Allowed characters are: A-Z, 0-9 and _.",
            ),
        ),
        (
            json!({"FIELD_NAME": "NEW", "USER_TYPE_ID": "no_such_type"}),
            envelope("ERROR_CORE", "Incorrect custom type specified."),
        ),
        (
            json!({"FIELD_NAME": "taken", "USER_TYPE_ID": "integer"}),
            envelope(
                "ERROR_CORE",
                "The field UF_CRM_TAKEN for the CRM_DEAL object already exists",
            ),
        ),
        (
            json!({"FIELD_NAME": "LIST_DUP", "USER_TYPE_ID": "enumeration",
                   "LIST": [{"VALUE": "a", "XML_ID": "same"}, {"VALUE": "b", "XML_ID": "same"}]}),
            envelope(
                "ERROR_CORE",
                "List item with value XML_ID=same already exists.",
            ),
        ),
    ];
    for (fields, expected) in cases {
        let (status, body) = app
            .call("crm.deal.userfield.add", json!({ "fields": fields }))
            .await;
        assert_eq!((status, &body), (400, &expected), "{fields}");
    }
    let (status, body) = app
        .call("crm.deal.userfield.add", json!({"fields": "nope"}))
        .await;
    assert_eq!(
        (status, body),
        (400, legacy("Parameter 'fields' must be array."))
    );
    assert_eq!(deal_field_count(&app).await, 1);
    // The 43-character code is the longest one.
    deal_field(
        &app,
        json!({"FIELD_NAME": "Y".repeat(43), "USER_TYPE_ID": "string"}),
    )
    .await;
}

#[tokio::test]
async fn get_update_and_delete_errors_have_their_envelopes() {
    let app = spawn_app().await;
    let deal = deal_field(&app, json!({"FIELD_NAME": "D", "USER_TYPE_ID": "string"})).await;
    for method in [
        "crm.deal.userfield.get",
        "crm.deal.userfield.update",
        "crm.deal.userfield.delete",
    ] {
        for id in [json!(null), json!(0), json!(-3), json!("x")] {
            let (status, body) = app
                .call(method, json!({"id": id, "fields": {"SORT": 1}}))
                .await;
            assert_eq!(
                (status, body),
                (400, legacy("ID is not defined or invalid.")),
                "{method} {id}"
            );
        }
        let (status, body) = app
            .call(method, json!({"id": 999999, "fields": {"SORT": 1}}))
            .await;
        assert_eq!(
            (status, body),
            (
                400,
                envelope(
                    "ERROR_NOT_FOUND",
                    "The entity with ID '999999' is not found."
                )
            ),
            "{method}"
        );
        // A deal's field through the lead methods.
        let lead_method = method.replace("crm.deal.", "crm.lead.");
        let (status, body) = app
            .call(&lead_method, json!({"id": deal, "fields": {"SORT": 1}}))
            .await;
        assert_eq!((status, body), (400, legacy("Access denied.")), "{method}");
    }
    for parameter in ["filter", "order"] {
        let (status, body) = app
            .call("crm.deal.userfield.list", json!({ parameter: "x" }))
            .await;
        assert_eq!(
            (status, body),
            (
                400,
                legacy(&format!("Parameter '{parameter}' must be array."))
            )
        );
    }
    let got = app.ok("crm.deal.userfield.get", json!({"id": deal})).await;
    assert_eq!(got["SORT"], "100", "nothing changed");
}

#[tokio::test]
async fn every_type_has_its_own_fields_under_its_entity_id() {
    let app = spawn_app().await;
    for (prefix, entity) in [
        ("crm.lead", "CRM_LEAD"),
        ("crm.deal", "CRM_DEAL"),
        ("crm.contact", "CRM_CONTACT"),
        ("crm.company", "CRM_COMPANY"),
    ] {
        let id = app
            .ok(
                &format!("{prefix}.userfield.add"),
                json!({"fields": {"FIELD_NAME": "SHARED_NAME", "USER_TYPE_ID": "integer"}}),
            )
            .await;
        let got = app
            .ok(&format!("{prefix}.userfield.get"), json!({ "id": id }))
            .await;
        assert_eq!(got["ENTITY_ID"], entity);
        let list = app.ok(&format!("{prefix}.userfield.list"), json!({})).await;
        assert_eq!(list.as_array().unwrap().len(), 1, "{prefix}");
        assert_eq!(list[0]["ENTITY_ID"], entity);
        assert!(app
            .ok(
                &format!("{prefix}.userfield.update"),
                json!({"id": id, "fields": {"SORT": 7}})
            )
            .await
            .as_bool()
            .unwrap());
        assert!(app
            .ok(&format!("{prefix}.userfield.delete"), json!({ "id": id }))
            .await
            .as_bool()
            .unwrap());
    }
}

#[tokio::test]
async fn only_crm_administrators_change_user_fields_and_readers_read_them() {
    let app = spawn_app().await;
    let id = deal_field(&app, json!({"FIELD_NAME": "F", "USER_TYPE_ID": "string"})).await;
    let reader = app.create_user(&["deal.read=all", "deal.add=all", "deal.update=all"]);
    let reader = app.create_webhook(reader, Some("crm"));
    let blind = app.create_user(&["contact.read=all"]);
    let blind = app.create_webhook(blind, Some("crm"));
    let denied = (400, legacy("Access denied."));
    for (method, params) in [
        (
            "crm.deal.userfield.add",
            json!({"fields": {"FIELD_NAME": "G", "USER_TYPE_ID": "string"}}),
        ),
        (
            "crm.deal.userfield.update",
            json!({"id": id, "fields": {"SORT": 5}}),
        ),
        ("crm.deal.userfield.delete", json!({ "id": id })),
    ] {
        assert_eq!(
            app.call_as(&reader, method, params).await,
            denied.clone(),
            "{method}"
        );
    }
    let (status, body) = app
        .call_as(&reader, "crm.deal.userfield.get", json!({ "id": id }))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .call_as(&reader, "crm.deal.userfield.list", json!({}))
        .await;
    assert_eq!((status, body["total"].clone()), (200, json!(1)));
    for method in ["crm.deal.userfield.get", "crm.deal.userfield.list"] {
        assert_eq!(
            app.call_as(&blind, method, json!({ "id": id })).await,
            denied.clone(),
            "{method}"
        );
    }
    let user = app.create_user(&[]);
    let without_crm = app.create_webhook(user, Some("user"));
    let (status, body) = app
        .call_as(&without_crm, "crm.deal.userfield.list", json!({}))
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        body,
        envelope(
            "insufficient_scope",
            "The request requires higher privileges than provided by the webhook token"
        )
    );
    assert_eq!(deal_field_count(&app).await, 1);
}

#[tokio::test]
async fn enumeration_items_are_added_changed_and_deleted_through_list() {
    let app = spawn_app().await;
    let id = deal_field(
        &app,
        json!({"FIELD_NAME": "COLOUR", "USER_TYPE_ID": "enumeration",
               "LIST": [{"VALUE": "Red", "SORT": 20, "XML_ID": "red"},
                        {"VALUE": "Green", "SORT": 10, "DEF": "Y"},
                        {"VALUE": ""}]}),
    )
    .await;
    let got = app.ok("crm.deal.userfield.get", json!({"id": id})).await;
    let list = got["LIST"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "an element without VALUE is dropped");
    assert_eq!(list[0]["VALUE"], "Green", "by SORT");
    assert_eq!(list[0]["DEF"], "Y");
    assert_eq!(list[0]["SORT"], "10");
    assert_eq!(list[0]["XML_ID"].as_str().unwrap().len(), 32);
    assert_eq!(list[1]["XML_ID"], "red");
    assert_eq!(list[1]["DEF"], "N");
    assert!(list[1]["ID"].as_str().unwrap().parse::<i64>().is_ok());
    let (green, red) = (list[0]["ID"].clone(), list[1]["ID"].clone());
    app.ok(
        "crm.deal.userfield.update",
        json!({"id": id, "fields": {"LIST": [
            {"ID": red, "VALUE": "Crimson"},
            {"ID": green, "DEL": "Y"},
            {"VALUE": "Blue", "SORT": 30}]}}),
    )
    .await;
    let got = app.ok("crm.deal.userfield.get", json!({"id": id})).await;
    let values: Vec<&str> = got["LIST"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["VALUE"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["Crimson", "Blue"]);
    assert_eq!(got["LIST"][0]["ID"], red, "ids stay");
    let (status, body) = app
        .call(
            "crm.deal.userfield.update",
            json!({"id": id, "fields": {"LIST": [{"VALUE": "Again", "XML_ID": "red"}]}}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "ERROR_CORE",
                "List item with value XML_ID=red already exists."
            )
        )
    );
    // The catalogue lists the items.
    let fields = app.ok("crm.deal.fields", json!({})).await;
    assert_eq!(
        fields["UF_CRM_COLOUR"]["items"],
        json!([{"ID": red, "VALUE": "Crimson"}, {"ID": got["LIST"][1]["ID"], "VALUE": "Blue"}])
    );
}

/// The deal fields of the value tests: their ids by short name.
async fn value_fields(app: &TestApp) -> (i64, i64) {
    for (name, user_type, multiple) in [
        ("TEXT", "string", "N"),
        ("COUNT", "integer", "N"),
        ("RATE", "double", "N"),
        ("FLAG", "boolean", "N"),
        ("DAY", "date", "N"),
        ("TAGS", "string", "Y"),
        ("OWNER", "employee", "N"),
    ] {
        deal_field(
            app,
            json!({"FIELD_NAME": name, "USER_TYPE_ID": user_type, "MULTIPLE": multiple}),
        )
        .await;
    }
    let colour = deal_field(
        app,
        json!({"FIELD_NAME": "COLOUR", "USER_TYPE_ID": "enumeration", "MULTIPLE": "Y",
               "LIST": [{"VALUE": "Red"}, {"VALUE": "Green"}]}),
    )
    .await;
    let got = app
        .ok("crm.deal.userfield.get", json!({ "id": colour }))
        .await;
    let id = |i: usize| got["LIST"][i]["ID"].as_str().unwrap().parse().unwrap();
    (id(0), id(1))
}

#[tokio::test]
async fn values_round_trip_through_the_legacy_methods_and_crm_item() {
    let app = spawn_app().await;
    let (red, green) = value_fields(&app).await;
    let deal = app
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "with values", "UF_CRM_TEXT": "hello", "UF_CRM_COUNT": "42",
                   "UF_CRM_RATE": "2.5", "UF_CRM_FLAG": "Y", "UF_CRM_DAY": "2025-03-04",
                   "UF_CRM_TAGS": ["a", "b"], "UF_CRM_COLOUR": [red, green], "UF_CRM_OWNER": 1,
                   "UF_CRM_UNKNOWN": "ignored"}}),
        )
        .await
        .as_i64()
        .unwrap();
    let got = app.ok("crm.deal.get", json!({ "id": deal })).await;
    assert_eq!(got["UF_CRM_TEXT"], "hello");
    assert_eq!(got["UF_CRM_COUNT"], "42");
    assert_eq!(got["UF_CRM_RATE"], "2.5");
    assert_eq!(got["UF_CRM_FLAG"], "1");
    assert_eq!(got["UF_CRM_DAY"], "2025-03-04T00:00:00+00:00");
    assert_eq!(got["UF_CRM_TAGS"], json!(["a", "b"]));
    assert_eq!(
        got["UF_CRM_COLOUR"],
        json!([red.to_string(), green.to_string()])
    );
    assert_eq!(got["UF_CRM_OWNER"], "1");
    assert!(got.get("UF_CRM_UNKNOWN").is_none());

    let item = app
        .ok("crm.item.get", json!({"entityTypeId": 2, "id": deal}))
        .await;
    let item = &item["item"];
    assert_eq!(item["ufCrmText"], "hello");
    assert_eq!(item["ufCrmCount"], 42);
    assert_eq!(item["ufCrmRate"], 2.5);
    assert_eq!(item["ufCrmFlag"], "Y");
    assert_eq!(item["ufCrmDay"], "2025-03-04T00:00:00+00:00");
    assert_eq!(item["ufCrmTags"], json!(["a", "b"]));
    assert_eq!(item["ufCrmColour"], json!([red, green]));

    // crm.item writes in camelCase; unset values are null (multiple: []).
    let updated = app
        .ok(
            "crm.item.update",
            json!({"entityTypeId": 2, "id": deal, "fields": {"ufCrmCount": 7, "ufCrmFlag": false,
                   "ufCrmTags": [], "ufCrmText": ""}}),
        )
        .await;
    assert_eq!(updated["item"]["ufCrmCount"], 7);
    assert_eq!(updated["item"]["ufCrmFlag"], "N");
    assert_eq!(updated["item"]["ufCrmTags"], json!([]));
    assert_eq!(updated["item"]["ufCrmText"], Value::Null);
    let got = app.ok("crm.deal.get", json!({ "id": deal })).await;
    assert_eq!(got["UF_CRM_COUNT"], "7");
    assert_eq!(got["UF_CRM_FLAG"], "0");
    assert_eq!(got["UF_CRM_TAGS"], json!([]));
    assert_eq!(got["UF_CRM_TEXT"], Value::Null);
    assert_eq!(got["UF_CRM_RATE"], "2.5", "untouched");

    // A name that is digits only keeps its digits behind `ufCrm_` (the docs' simplified form).
    deal_field(
        &app,
        json!({"FIELD_NAME": "1712345", "USER_TYPE_ID": "string"}),
    )
    .await;
    let updated = app
        .ok(
            "crm.item.update",
            json!({"entityTypeId": 2, "id": deal, "fields": {"ufCrm_1712345": "n"}}),
        )
        .await;
    assert_eq!(updated["item"]["ufCrm_1712345"], "n");
    let got = app.ok("crm.deal.get", json!({ "id": deal })).await;
    assert_eq!(got["UF_CRM_1712345"], "n");

    // A new item through crm.item.add, and a contact's field.
    let item = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "d7", "ufCrmText": "from d7"}}),
        )
        .await;
    assert_eq!(item["item"]["ufCrmText"], "from d7");
    assert_eq!(item["item"]["ufCrmCount"], Value::Null);
    app.ok(
        "crm.contact.userfield.add",
        json!({"fields": {"FIELD_NAME": "NICK", "USER_TYPE_ID": "string"}}),
    )
    .await;
    let contact = app
        .ok(
            "crm.contact.add",
            json!({"fields": {"NAME": "A", "UF_CRM_NICK": "ace"}}),
        )
        .await;
    let got = app
        .ok("crm.item.get", json!({"entityTypeId": 3, "id": contact}))
        .await;
    assert_eq!(got["item"]["ufCrmNick"], "ace");
}

#[tokio::test]
async fn a_value_that_does_not_fit_its_field_is_refused_and_nothing_changes() {
    let app = spawn_app().await;
    let (_, _) = value_fields(&app).await;
    let deal = app
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "d", "UF_CRM_COUNT": 1}}),
        )
        .await;
    for (field, value) in [
        ("UF_CRM_COUNT", json!("many")),
        ("UF_CRM_RATE", json!("x")),
        ("UF_CRM_FLAG", json!("maybe")),
        ("UF_CRM_DAY", json!("not a date")),
        ("UF_CRM_COLOUR", json!([999999])),
    ] {
        let (status, body) = app
            .call(
                "crm.deal.update",
                json!({"id": deal, "fields": { "TITLE": "changed", field: value.clone() }}),
            )
            .await;
        assert_eq!(
            (status, body),
            (
                400,
                legacy(&format!("The value of the field \"{field}\" is not valid."))
            ),
            "{field}"
        );
        let (status, body) = app
            .call(
                "crm.deal.add",
                json!({"fields": { "TITLE": "new", field: value }}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
    }
    let (status, body) = app
        .call(
            "crm.item.update",
            json!({"entityTypeId": 2, "id": deal, "fields": {"ufCrmCount": "many"}}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "CRM_FIELD_ERROR_VALUE_NOT_VALID",
                "The value of the field \"ufCrmCount\" is not valid"
            )
        )
    );
    let got = app.ok("crm.deal.get", json!({ "id": deal })).await;
    assert_eq!(
        (got["TITLE"].clone(), got["UF_CRM_COUNT"].clone()),
        (json!("d"), json!("1"))
    );
    let (status, body) = app.call("crm.deal.list", json!({})).await;
    assert_eq!((status, body["total"].clone()), (200, json!(1)));
}

#[tokio::test]
async fn legacy_lists_show_user_fields_only_when_selected() {
    let app = spawn_app().await;
    value_fields(&app).await;
    app.ok(
        "crm.deal.add",
        json!({"fields": {"TITLE": "d", "UF_CRM_TEXT": "t", "UF_CRM_COUNT": 3}}),
    )
    .await;
    let plain = app.ok("crm.deal.list", json!({})).await;
    assert!(plain[0].get("UF_CRM_TEXT").is_none(), "{plain}");
    let star = app.ok("crm.deal.list", json!({"select": ["*"]})).await;
    assert!(star[0].get("UF_CRM_TEXT").is_none());
    let all = app
        .ok("crm.deal.list", json!({"select": ["*", "UF_*"]}))
        .await;
    assert_eq!(all[0]["UF_CRM_TEXT"], "t");
    assert_eq!(all[0]["UF_CRM_COUNT"], "3");
    assert_eq!(all[0]["UF_CRM_TAGS"], json!([]));
    assert_eq!(all[0]["TITLE"], "d");
    let one = app
        .ok("crm.deal.list", json!({"select": ["ID", "UF_CRM_COUNT"]}))
        .await;
    let keys: Vec<&String> = one[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["ID", "UF_CRM_COUNT"]);
    // crm.item.list: `*` includes them; a select names them in either form.
    let items = app.ok("crm.item.list", json!({"entityTypeId": 2})).await;
    assert_eq!(items["items"][0]["ufCrmText"], "t");
    let items = app
        .ok(
            "crm.item.list",
            json!({"entityTypeId": 2, "select": ["id", "ufCrmCount", "UF_CRM_TEXT"]}),
        )
        .await;
    assert_eq!(
        items["items"][0],
        json!({"id": items["items"][0]["id"], "ufCrmCount": 3, "ufCrmText": "t"})
    );
}

async fn deal_ids(app: &TestApp, params: Value) -> Vec<i64> {
    let (status, body) = app.call("crm.deal.list", params.clone()).await;
    assert_eq!(status, 200, "{params}: {body}");
    body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["ID"].as_str().unwrap().parse().unwrap())
        .collect()
}

async fn item_ids(app: &TestApp, params: Value) -> Vec<i64> {
    let mut params = params;
    params["entityTypeId"] = json!(2);
    let (status, body) = app.call("crm.item.list", params.clone()).await;
    assert_eq!(status, 200, "{params}: {body}");
    body["result"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn lists_filter_and_order_by_user_fields_in_both_forms() {
    let app = spawn_app().await;
    let (red, green) = value_fields(&app).await;
    let mut ids = Vec::new();
    for (count, text, tags, colours, day) in [
        (5, "apple", json!(["x"]), json!([red]), "2025-01-10"),
        (1, "banana", json!(["x", "y"]), json!([green]), "2025-02-10"),
        (9, "cherry", json!([]), json!([red, green]), "2025-03-10"),
    ] {
        let id = app
            .ok(
                "crm.deal.add",
                json!({"fields": {"TITLE": text, "UF_CRM_COUNT": count, "UF_CRM_TEXT": text,
                       "UF_CRM_TAGS": tags, "UF_CRM_COLOUR": colours, "UF_CRM_DAY": day}}),
            )
            .await
            .as_i64()
            .unwrap();
        ids.push(id);
    }
    let blank = app
        .ok("crm.deal.add", json!({"fields": {"TITLE": "blank"}}))
        .await
        .as_i64()
        .unwrap();
    let [a, b, c] = [ids[0], ids[1], ids[2]];
    let cases = [
        (json!({"UF_CRM_COUNT": 5}), vec![a]),
        (json!({"=UF_CRM_COUNT": "5"}), vec![a]),
        (json!({">UF_CRM_COUNT": 1}), vec![a, c]),
        (json!({"<=UF_CRM_COUNT": 5}), vec![a, b]),
        (json!({"!UF_CRM_COUNT": 5}), vec![b, c, blank]),
        (json!({"UF_CRM_COUNT": [1, 9]}), vec![b, c]),
        (json!({"%UF_CRM_TEXT": "an"}), vec![b]),
        (json!({"!%UF_CRM_TEXT": "an"}), vec![a, c, blank]),
        (json!({"UF_CRM_TAGS": "x"}), vec![a, b]),
        (json!({"UF_CRM_COLOUR": red}), vec![a, c]),
        (json!({">=UF_CRM_DAY": "2025-02-10"}), vec![b, c]),
        (
            json!({"UF_CRM_TEXT": "cherry", ">UF_CRM_COUNT": 2}),
            vec![c],
        ),
        (json!({"uf_crm_text": "apple"}), vec![a]),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            deal_ids(
                &app,
                json!({ "filter": filter.clone(), "order": {"ID": "ASC"} })
            )
            .await,
            expected,
            "{filter}"
        );
    }
    assert_eq!(
        deal_ids(&app, json!({"order": {"UF_CRM_COUNT": "DESC"}})).await,
        vec![c, a, b, blank]
    );
    assert_eq!(
        deal_ids(&app, json!({"order": {"UF_CRM_TEXT": "ASC"}})).await,
        vec![blank, a, b, c]
    );
    // crm.item.list, camelCase.
    assert_eq!(
        item_ids(
            &app,
            json!({"filter": {">ufCrmCount": 1}, "order": {"id": "asc"}})
        )
        .await,
        vec![a, c]
    );
    assert_eq!(
        item_ids(
            &app,
            json!({"filter": {"ufCrmColour": green}, "order": {"id": "asc"}})
        )
        .await,
        vec![b, c]
    );
    assert_eq!(
        item_ids(&app, json!({"order": {"ufCrmCount": "asc"}})).await,
        vec![blank, b, a, c]
    );
}

#[tokio::test]
async fn user_fields_appear_in_the_field_catalogues() {
    let app = spawn_app().await;
    deal_field(
        &app,
        json!({"FIELD_NAME": "MY_FIELD", "USER_TYPE_ID": "integer", "MULTIPLE": "Y",
               "MANDATORY": "Y", "EDIT_FORM_LABEL": "My field", "LIST_COLUMN_LABEL": "Mine"}),
    )
    .await;
    let legacy = app.ok("crm.deal.fields", json!({})).await;
    assert_eq!(
        legacy["UF_CRM_MY_FIELD"],
        json!({"type": "integer", "isRequired": true, "isReadOnly": false, "isImmutable": false,
               "isMultiple": true, "isDynamic": true, "title": "UF_CRM_MY_FIELD",
               "listLabel": "Mine", "formLabel": "My field", "filterLabel": "",
               "settings": {"SIZE": 20, "MIN_VALUE": 0, "MAX_VALUE": 0, "DEFAULT_VALUE": null}})
    );
    let d7 = app.ok("crm.item.fields", json!({"entityTypeId": 2})).await;
    let field = &d7["fields"]["ufCrmMyField"];
    assert_eq!(field["upperName"], "UF_CRM_MY_FIELD");
    assert_eq!(field["title"], "My field");
    assert_eq!(field["isMultiple"], true);
    assert_eq!(field["isRequired"], true);
    let contact = app.ok("crm.contact.fields", json!({})).await;
    assert!(
        contact.get("UF_CRM_MY_FIELD").is_none(),
        "a deal's field only"
    );
}

#[tokio::test]
async fn deleting_a_field_or_an_item_deletes_its_values() {
    let app = spawn_app().await;
    let id = deal_field(
        &app,
        json!({"FIELD_NAME": "GONE", "USER_TYPE_ID": "integer"}),
    )
    .await;
    let kept = deal_field(
        &app,
        json!({"FIELD_NAME": "KEPT", "USER_TYPE_ID": "integer"}),
    )
    .await;
    let deal = app
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "d", "UF_CRM_GONE": 3, "UF_CRM_KEPT": 4}}),
        )
        .await;
    let other = app
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "e", "UF_CRM_KEPT": 5}}),
        )
        .await;
    app.ok("crm.deal.userfield.delete", json!({ "id": id }))
        .await;
    let got = app.ok("crm.deal.get", json!({ "id": deal })).await;
    assert!(got.get("UF_CRM_GONE").is_none());
    // A new field of the same name starts empty.
    deal_field(
        &app,
        json!({"FIELD_NAME": "GONE", "USER_TYPE_ID": "integer"}),
    )
    .await;
    let got = app.ok("crm.deal.get", json!({ "id": deal })).await;
    assert_eq!(got["UF_CRM_GONE"], Value::Null);
    assert_eq!(got["UF_CRM_KEPT"], "4");
    assert_eq!(
        deal_ids(&app, json!({"filter": {"UF_CRM_GONE": 3}})).await,
        Vec::<i64>::new()
    );
    app.ok("crm.deal.delete", json!({ "id": other })).await;
    let _ = kept;
    // What is left: the kept value of the first deal (the deleted field's row went with it).
    let (status, answer) = app.control(Method::POST, "/reset", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["deleted"]["crm_uf_values"], 1, "{answer}");
}

/// A new smart process: `(its id, its entityTypeId)`.
async fn smart_process(app: &TestApp) -> (i64, i64) {
    let created = app
        .ok("crm.type.add", json!({"fields": {"title": "Cases"}}))
        .await;
    (
        created["type"]["id"].as_i64().unwrap(),
        created["type"]["entityTypeId"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn userfieldconfig_gives_a_smart_process_fields_whose_values_crm_item_takes() {
    let app = spawn_app().await;
    let (type_id, entity_type_id) = smart_process(&app).await;
    let entity = format!("CRM_{type_id}");
    let name = format!("UF_CRM_{type_id}_SIZE");
    let camel = format!("ufCrm{type_id}Size");
    let added = app
        .ok(
            "userfieldconfig.add",
            json!({"moduleId": "crm", "field": {"entityId": entity, "fieldName": name,
                   "userTypeId": "integer", "editFormLabel": {"en": "Size", "de": "Größe"},
                   "listColumnLabel": "ignored by add"}}),
        )
        .await;
    let field = &added["field"];
    let id: i64 = field["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(field["entityId"], json!(entity));
    assert_eq!(field["fieldName"], json!(name));
    assert_eq!(field["userTypeId"], "integer");
    assert_eq!(field["sort"], "100");
    assert_eq!(field["multiple"], "N");
    assert_eq!(field["languageId"], json!({"en": "en", "de": "de"}));
    assert_eq!(field["editFormLabel"], json!({"en": "Size", "de": "Größe"}));
    assert_eq!(field["listColumnLabel"], json!({"en": null, "de": null}));

    let item = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": entity_type_id, "fields": {"title": "big", camel.clone(): "12"}}),
        )
        .await;
    assert_eq!(item["item"][&camel], 12);
    let small = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": entity_type_id, "fields": {"title": "small", camel.clone(): 2}}),
        )
        .await;
    let (status, body) = app
        .call(
            "crm.item.list",
            json!({"entityTypeId": entity_type_id, "filter": {format!(">{camel}"): 5}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    assert_eq!(body["result"]["items"][0]["id"], item["item"]["id"]);
    let (_, body) = app
        .call(
            "crm.item.list",
            json!({"entityTypeId": entity_type_id, "order": {camel.clone(): "asc"}}),
        )
        .await;
    assert_eq!(body["result"]["items"][0]["id"], small["item"]["id"]);
    let fields = app
        .ok("crm.item.fields", json!({"entityTypeId": entity_type_id}))
        .await;
    assert_eq!(fields["fields"][&camel]["upperName"], json!(name));
    assert_eq!(fields["fields"][&camel]["title"], "Size");

    let got = app
        .ok("userfieldconfig.get", json!({"moduleId": "crm", "id": id}))
        .await;
    assert_eq!(got["field"], added["field"]);
    let updated = app
        .ok(
            "userfieldconfig.update",
            json!({"moduleId": "crm", "id": id, "field": {"sort": 10, "mandatory": "Y"}}),
        )
        .await;
    assert_eq!(updated["field"]["sort"], "10");
    assert_eq!(updated["field"]["mandatory"], "Y");
    // The deals' fields are there too, under their own entity.
    deal_field(&app, json!({"FIELD_NAME": "D", "USER_TYPE_ID": "string"})).await;
    let (status, body) = app
        .call(
            "userfieldconfig.list",
            json!({"moduleId": "crm", "filter": {"entityId": entity}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1);
    assert_eq!(body["result"]["fields"][0]["fieldName"], json!(name));
    let all = app
        .ok(
            "userfieldconfig.list",
            json!({"moduleId": "crm", "order": {"id": "desc"}}),
        )
        .await;
    let names: Vec<&str> = all["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fieldName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["UF_CRM_D", name.as_str()]);
    let deleted = app
        .ok(
            "userfieldconfig.delete",
            json!({"moduleId": "crm", "id": id}),
        )
        .await;
    assert_eq!(deleted, Value::Null);
    let again = app
        .ok(
            "crm.item.get",
            json!({"entityTypeId": entity_type_id, "id": item["item"]["id"]}),
        )
        .await;
    assert!(again["item"].get(&camel).is_none());
}

#[tokio::test]
async fn userfieldconfig_errors_have_their_envelopes() {
    let app = spawn_app().await;
    let (type_id, _) = smart_process(&app).await;
    let entity = format!("CRM_{type_id}");
    let cases = [
        (
            "userfieldconfig.list",
            json!({}),
            envelope("100", "Could not find value for parameter {moduleId}"),
        ),
        (
            "userfieldconfig.list",
            json!({"moduleId": "tasks"}),
            legacy("No settings for UserFieldAccess"),
        ),
        (
            "userfieldconfig.add",
            json!({"moduleId": "crm", "field": {"entityId": entity, "fieldName": "UF_CRM_OTHER",
                   "userTypeId": "string"}}),
            legacy("You cannot create custom fields"),
        ),
        (
            "userfieldconfig.add",
            json!({"moduleId": "crm", "field": {"entityId": "CRM_999", "fieldName": "UF_CRM_999_X",
                   "userTypeId": "string"}}),
            legacy("You cannot create custom fields"),
        ),
        (
            "userfieldconfig.add",
            json!({"moduleId": "crm", "field": {"entityId": entity, "userTypeId": "string"}}),
            legacy("The 'FIELD_NAME' field is not found."),
        ),
        (
            "userfieldconfig.add",
            json!({"moduleId": "crm"}),
            envelope("100", "Could not find value for parameter {field}"),
        ),
        (
            "userfieldconfig.get",
            json!({"moduleId": "crm", "id": 424242}),
            legacy("You do not have permission to view user field settings"),
        ),
        (
            "userfieldconfig.update",
            json!({"moduleId": "crm", "id": 424242, "field": {"sort": 1}}),
            legacy("You cannot change the settings of the user field"),
        ),
        (
            "userfieldconfig.delete",
            json!({"moduleId": "crm", "id": 424242}),
            legacy("You cannot delete the user field"),
        ),
    ];
    for (method, params, expected) in cases {
        let (status, body) = app.call(method, params.clone()).await;
        assert_eq!((status, body), (400, expected), "{method} {params}");
    }
    let id = app
        .ok(
            "userfieldconfig.add",
            json!({"moduleId": "crm", "field": {"entityId": entity,
                   "fieldName": format!("UF_CRM_{type_id}_LIST"), "userTypeId": "enumeration",
                   "enum": [{"value": "A", "def": "Y"}, {"value": "B", "sort": 10}]}}),
        )
        .await;
    let field = &id["field"];
    assert_eq!(field["enum"][0]["value"], "B");
    assert_eq!(field["enum"][0]["userFieldId"], field["id"]);
    assert_eq!(field["enum"][1]["def"], "Y");
    let id = field["id"].clone();
    let reader = app.create_user(&["deal.read=all"]);
    let reader = app.create_webhook(reader, None);
    for (method, params, text) in [
        (
            "userfieldconfig.add",
            json!({"moduleId": "crm", "field": {"entityId": entity,
                   "fieldName": format!("UF_CRM_{type_id}_Z"), "userTypeId": "string"}}),
            "Access denied.",
        ),
        (
            "userfieldconfig.update",
            json!({"moduleId": "crm", "id": id, "field": {"sort": 1}}),
            "You cannot change the settings of the user field",
        ),
        (
            "userfieldconfig.delete",
            json!({"moduleId": "crm", "id": id}),
            "You cannot delete the user field",
        ),
        (
            "userfieldconfig.get",
            json!({"moduleId": "crm", "id": id}),
            "You do not have permission to view user field settings",
        ),
        (
            "userfieldconfig.list",
            json!({"moduleId": "crm"}),
            "You do not have permission to view user field settings",
        ),
    ] {
        assert_eq!(
            app.call_as(&reader, method, params).await,
            (400, legacy(text)),
            "{method}"
        );
    }
    let (status, body) = app
        .call_as(
            &reader,
            "userfieldconfig.list",
            json!({"moduleId": "crm", "filter": {"entityId": "CRM_DEAL"}}),
        )
        .await;
    assert_eq!((status, body["total"].clone()), (200, json!(0)), "{body}");
    let user = app.create_user(&[]);
    let no_crm = app.create_webhook(user, Some("userfieldconfig"));
    assert_eq!(
        app.call_as(&no_crm, "userfieldconfig.list", json!({"moduleId": "crm"}))
            .await,
        (
            400,
            legacy("The current method required more scopes. (crm)")
        )
    );
}

#[tokio::test]
async fn snapshots_and_export_import_carry_fields_and_filterable_values() {
    let a = spawn_app().await;
    let (red, _) = value_fields(&a).await;
    let deal = a
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "kept", "UF_CRM_COUNT": 8, "UF_CRM_COLOUR": [red]}}),
        )
        .await
        .as_i64()
        .unwrap();
    let (status, saved) = a
        .control(Method::POST, "/snapshots", Some(json!({"name": "uf"})))
        .await;
    assert_eq!(status, 201, "{saved}");
    let field = a.ok("crm.deal.userfield.list", json!({})).await[0]["ID"].clone();
    a.ok("crm.deal.userfield.delete", json!({ "id": field }))
        .await;
    a.ok(
        "crm.deal.update",
        json!({"id": deal, "fields": {"UF_CRM_COUNT": 1}}),
    )
    .await;
    let (status, restored) = a.control(Method::POST, "/snapshots/uf/restore", None).await;
    assert_eq!(status, 200, "{restored}");
    assert_eq!(
        deal_ids(
            &a,
            json!({"filter": {">UF_CRM_COUNT": 5, "UF_CRM_COLOUR": red}})
        )
        .await,
        vec![deal]
    );

    let (_, document) = a.control(Method::GET, "/export", None).await;
    let b = spawn_app().await;
    let (status, answer) = b
        .control(Method::POST, "/import?mode=replace", Some(document))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        deal_ids(
            &b,
            json!({"filter": {">UF_CRM_COUNT": 5, "UF_CRM_COLOUR": red}})
        )
        .await,
        vec![deal]
    );
    let got = b.ok("crm.deal.get", json!({ "id": deal })).await;
    assert_eq!(got["UF_CRM_COUNT"], "8");
    // The enumeration ids go on from the imported ones.
    let colour = b
        .ok(
            "crm.deal.userfield.list",
            json!({"filter": {"FIELD_NAME": "UF_CRM_COLOUR"}}),
        )
        .await[0]["ID"]
        .clone();
    b.ok(
        "crm.deal.userfield.update",
        json!({"id": colour, "fields": {"LIST": [{"VALUE": "Blue"}]}}),
    )
    .await;
    let list = b
        .ok("crm.deal.userfield.get", json!({ "id": colour }))
        .await["LIST"]
        .clone();
    let ids: std::collections::HashSet<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ID"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{list}");
}
