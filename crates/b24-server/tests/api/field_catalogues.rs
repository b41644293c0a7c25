//! The field catalogues (`crm.deal/lead/contact/company.fields`, `crm.item.fields`,
//! `crm.type.fields`, `crm.activity.fields`) list what the service's pages list, and every listed
//! field is stored, shown, selected and filtered; the computed ones follow the stage, the
//! communications and the activities (spec §12, "CRM field catalogues").

use crate::helpers::*;
use b24_server::clock::ManualClock;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

const T0: f64 = 1_800_000_000.0;

/// A server whose clock stands at `T0` until the test moves it.
async fn clocked_app() -> TestApp {
    let clock = Arc::new(ManualClock::new(T0));
    spawn_app_with(move |config| config.clock = clock).await
}

async fn advance(app: &TestApp, seconds: f64) {
    let (status, answer) = app
        .control(Method::POST, "/clock", Some(json!({"advance_s": seconds})))
        .await;
    assert_eq!(status, 200, "{answer}");
}

fn keys(catalogue: &Value) -> BTreeSet<String> {
    catalogue.as_object().unwrap().keys().cloned().collect()
}

fn names(list: &str) -> BTreeSet<String> {
    list.split_whitespace().map(str::to_string).collect()
}

#[tokio::test]
async fn legacy_catalogues_list_every_documented_field() {
    let app = spawn_app().await;
    let deal = app.ok("crm.deal.fields", json!({})).await;
    assert_eq!(
        keys(&deal),
        names(
            "ID TITLE TYPE_ID CATEGORY_ID STAGE_ID STAGE_SEMANTIC_ID IS_NEW IS_RECURRING
             IS_RETURN_CUSTOMER IS_REPEATED_APPROACH PROBABILITY CURRENCY_ID OPPORTUNITY
             IS_MANUAL_OPPORTUNITY TAX_VALUE COMPANY_ID CONTACT_ID CONTACT_IDS QUOTE_ID BEGINDATE
             CLOSEDATE OPENED CLOSED COMMENTS ASSIGNED_BY_ID CREATED_BY_ID MODIFY_BY_ID MOVED_BY_ID
             DATE_CREATE DATE_MODIFY MOVED_TIME SOURCE_ID SOURCE_DESCRIPTION LEAD_ID
             ADDITIONAL_INFO LOCATION_ID ORIGINATOR_ID ORIGIN_ID UTM_SOURCE UTM_MEDIUM
             UTM_CAMPAIGN UTM_CONTENT UTM_TERM LAST_ACTIVITY_TIME LAST_ACTIVITY_BY"
        )
    );
    let lead = app.ok("crm.lead.fields", json!({})).await;
    assert_eq!(
        keys(&lead),
        names(
            "ID TITLE HONORIFIC NAME SECOND_NAME LAST_NAME BIRTHDATE COMPANY_TITLE SOURCE_ID
             SOURCE_DESCRIPTION STATUS_ID STATUS_DESCRIPTION STATUS_SEMANTIC_ID POST ADDRESS
             ADDRESS_2 ADDRESS_CITY ADDRESS_POSTAL_CODE ADDRESS_REGION ADDRESS_PROVINCE
             ADDRESS_COUNTRY ADDRESS_COUNTRY_CODE ADDRESS_LOC_ADDR_ID CURRENCY_ID OPPORTUNITY
             IS_MANUAL_OPPORTUNITY OPENED COMMENTS HAS_PHONE HAS_EMAIL HAS_IMOL ASSIGNED_BY_ID
             CREATED_BY_ID MODIFY_BY_ID MOVED_BY_ID DATE_CREATE DATE_MODIFY MOVED_TIME COMPANY_ID
             CONTACT_ID CONTACT_IDS IS_RETURN_CUSTOMER DATE_CLOSED ORIGINATOR_ID ORIGIN_ID
             UTM_SOURCE UTM_MEDIUM UTM_CAMPAIGN UTM_CONTENT UTM_TERM LAST_ACTIVITY_TIME
             LAST_ACTIVITY_BY PHONE EMAIL WEB IM LINK"
        )
    );
    // PARENT_ID_* appear with smart-process relations only (field_links.rs).
    let contact = app.ok("crm.contact.fields", json!({})).await;
    assert_eq!(
        keys(&contact),
        names(
            "ID HONORIFIC NAME SECOND_NAME LAST_NAME PHOTO BIRTHDATE TYPE_ID SOURCE_ID
             SOURCE_DESCRIPTION POST ADDRESS ADDRESS_2 ADDRESS_CITY ADDRESS_POSTAL_CODE
             ADDRESS_REGION ADDRESS_PROVINCE ADDRESS_COUNTRY ADDRESS_COUNTRY_CODE
             ADDRESS_LOC_ADDR_ID COMMENTS OPENED EXPORT HAS_PHONE HAS_EMAIL HAS_IMOL
             ASSIGNED_BY_ID CREATED_BY_ID MODIFY_BY_ID DATE_CREATE DATE_MODIFY COMPANY_ID
             COMPANY_IDS LEAD_ID ORIGINATOR_ID ORIGIN_ID ORIGIN_VERSION UTM_SOURCE UTM_MEDIUM
             UTM_CAMPAIGN UTM_CONTENT UTM_TERM LAST_ACTIVITY_TIME LAST_ACTIVITY_BY
             LAST_COMMUNICATION_TIME PHONE EMAIL WEB IM LINK"
        )
    );
    let company = app.ok("crm.company.fields", json!({})).await;
    assert_eq!(
        keys(&company),
        names(
            "ID TITLE COMPANY_TYPE LOGO ADDRESS ADDRESS_2 ADDRESS_CITY ADDRESS_POSTAL_CODE
             ADDRESS_REGION ADDRESS_PROVINCE ADDRESS_COUNTRY ADDRESS_COUNTRY_CODE
             ADDRESS_LOC_ADDR_ID ADDRESS_LEGAL REG_ADDRESS REG_ADDRESS_2 REG_ADDRESS_CITY
             REG_ADDRESS_POSTAL_CODE REG_ADDRESS_REGION REG_ADDRESS_PROVINCE REG_ADDRESS_COUNTRY
             REG_ADDRESS_COUNTRY_CODE REG_ADDRESS_LOC_ADDR_ID BANKING_DETAILS INDUSTRY EMPLOYEES
             CURRENCY_ID REVENUE OPENED COMMENTS HAS_PHONE HAS_EMAIL HAS_IMOL IS_MY_COMPANY
             ASSIGNED_BY_ID CREATED_BY_ID MODIFY_BY_ID DATE_CREATE DATE_MODIFY CONTACT_ID LEAD_ID
             ORIGINATOR_ID ORIGIN_ID ORIGIN_VERSION UTM_SOURCE UTM_MEDIUM UTM_CAMPAIGN UTM_CONTENT
             UTM_TERM LAST_ACTIVITY_TIME LAST_ACTIVITY_BY LAST_COMMUNICATION_TIME SOURCE_ID
             SOURCE_DESCRIPTION PHONE EMAIL WEB IM LINK"
        )
    );
}

#[tokio::test]
async fn descriptors_carry_the_services_flags_dictionaries_and_parents() {
    let app = spawn_app().await;
    let deal = app.ok("crm.deal.fields", json!({})).await;
    assert_eq!(
        deal["STAGE_SEMANTIC_ID"],
        json!({"type": "string", "isRequired": false, "isReadOnly": true, "isImmutable": false,
               "isMultiple": false, "isDynamic": false, "title": "Stage Group"})
    );
    assert_eq!(
        deal["STAGE_ID"],
        json!({"type": "crm_status", "isRequired": false, "isReadOnly": false,
               "isImmutable": false, "isMultiple": false, "isDynamic": false,
               "statusType": "DEAL_STAGE", "title": "Deal Stage"})
    );
    assert_eq!(
        deal["COMPANY_ID"],
        json!({"type": "crm_company", "isRequired": false, "isReadOnly": false,
               "isImmutable": false, "isMultiple": false, "isDynamic": false, "title": "Company",
               "settings": {"parentEntityTypeId": 4}})
    );
    assert_eq!(deal["CONTACT_ID"]["isDeprecated"], true);
    assert_eq!(deal["CATEGORY_ID"]["isImmutable"], true);
    assert_eq!(deal["QUOTE_ID"]["settings"]["parentEntityTypeId"], 7);
    assert_eq!(
        (
            &deal["CLOSED"]["isReadOnly"],
            &deal["MOVED_TIME"]["isReadOnly"]
        ),
        (&json!(false), &json!(true))
    );
    let contact = app.ok("crm.contact.fields", json!({})).await;
    assert_eq!(contact["NAME"]["isRequired"], true);
    assert_eq!(contact["TYPE_ID"]["statusType"], "CONTACT_TYPE");
    assert_eq!(contact["PHOTO"]["type"], "file");
    let company = app.ok("crm.company.fields", json!({})).await;
    assert_eq!(company["TITLE"]["isRequired"], true);
    assert_eq!(company["INDUSTRY"]["statusType"], "INDUSTRY");

    let item = app.ok("crm.item.fields", json!({"entityTypeId": 2})).await;
    let fields = &item["fields"];
    assert_eq!(fields["opened"]["type"], "boolean");
    assert_eq!(fields["stageSemanticId"]["upperName"], "STAGE_SEMANTIC_ID");
    assert_eq!(fields["utmSource"]["upperName"], "UTM_SOURCE");
    assert!(fields.get("phone").is_none() && fields.get("PHONE").is_none());
    let t = app
        .ok(
            "crm.type.add",
            json!({"fields": {"title": "Orders", "entityTypeId": 150, "isStagesEnabled": "Y"}}),
        )
        .await;
    assert_eq!(t["type"]["entityTypeId"], 150);
    let item = app
        .ok("crm.item.fields", json!({"entityTypeId": 150}))
        .await;
    let fields = &item["fields"];
    for name in [
        "xmlId",
        "webformId",
        "observers",
        "movedTime",
        "movedBy",
        "previousStageId",
        "taxValue",
        "mycompanyId",
        "lastActivityTime",
        "lastActivityBy",
    ] {
        assert!(fields.get(name).is_some(), "a smart process lacks {name}");
    }
    let category = app
        .ok("crm.category.list", json!({"entityTypeId": 150}))
        .await["categories"][0]["id"]
        .clone();
    assert_eq!(
        fields["stageId"]["statusType"],
        format!("DYNAMIC_150_STAGE_{category}")
    );
    assert_eq!(fields["observers"]["isMultiple"], true);
    assert_eq!(
        fields["mycompanyId"]["settings"],
        json!({"parentEntityTypeId": 4, "isMyCompany": true, "isEmbeddedEditorEnabled": true})
    );
}

#[tokio::test]
async fn a_deals_stage_sets_its_semantics_closed_new_and_moved_fields() {
    let app = clocked_app().await;
    let id = app
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "D", "CLOSED": "Y", "UTM_SOURCE": "google",
                              "ADDITIONAL_INFO": "vip", "IS_RECURRING": "N", "TAX_VALUE": "12.5",
                              "STAGE_SEMANTIC_ID": "S", "MOVED_BY_ID": 9}}),
        )
        .await;
    let deal = app.ok("crm.deal.get", json!({"id": id})).await;
    assert_eq!(
        (
            &deal["STAGE_SEMANTIC_ID"],
            &deal["CLOSED"],
            &deal["IS_NEW"],
            &deal["MOVED_BY_ID"],
        ),
        (&json!("P"), &json!("N"), &json!("Y"), &json!("1")),
        "computed fields ignore the caller's values"
    );
    assert_eq!(deal["MOVED_TIME"], deal["DATE_CREATE"]);
    assert_eq!(deal["LAST_ACTIVITY_TIME"], deal["DATE_CREATE"]);
    assert_eq!(deal["LAST_ACTIVITY_BY"], "1");
    assert_eq!(
        (
            &deal["UTM_SOURCE"],
            &deal["ADDITIONAL_INFO"],
            &deal["TAX_VALUE"]
        ),
        (&json!("google"), &json!("vip"), &json!("12.50"))
    );
    advance(&app, 60.0).await;
    app.ok(
        "crm.deal.update",
        json!({"id": id, "fields": {"STAGE_ID": "WON"}}),
    )
    .await;
    let deal = app.ok("crm.deal.get", json!({"id": id})).await;
    assert_eq!(
        (&deal["STAGE_SEMANTIC_ID"], &deal["CLOSED"], &deal["IS_NEW"]),
        (&json!("S"), &json!("Y"), &json!("N"))
    );
    assert_ne!(deal["MOVED_TIME"], deal["DATE_CREATE"]);
    assert_eq!(deal["MOVED_TIME"], deal["DATE_MODIFY"]);
    advance(&app, 60.0).await;
    app.ok(
        "crm.deal.update",
        json!({"id": id, "fields": {"COMMENTS": "no move"}}),
    )
    .await;
    let later = app.ok("crm.deal.get", json!({"id": id})).await;
    assert_eq!(
        later["MOVED_TIME"], deal["MOVED_TIME"],
        "an update without a stage change is no move"
    );
    let item = app
        .ok("crm.item.get", json!({"entityTypeId": 2, "id": id}))
        .await;
    assert_eq!(
        (
            &item["item"]["stageSemanticId"],
            &item["item"]["closed"],
            &item["item"]["utmSource"],
            &item["item"]["movedBy"],
        ),
        (&json!("S"), &json!("Y"), &json!("google"), &json!(1))
    );
}

#[tokio::test]
async fn new_fields_are_filtered_ordered_and_selected_in_both_dialects() {
    let app = spawn_app().await;
    let open = app
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "open", "UTM_SOURCE": "b"}}),
        )
        .await;
    let won = app
        .ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": "won", "STAGE_ID": "WON", "UTM_SOURCE": "a"}}),
        )
        .await;
    let (_, list) = app
        .call(
            "crm.deal.list",
            json!({"filter": {"CLOSED": "Y"}, "select": ["ID", "UTM_SOURCE", "STAGE_SEMANTIC_ID"]}),
        )
        .await;
    assert_eq!(
        list["result"],
        json!([{"ID": won.to_string(), "UTM_SOURCE": "a", "STAGE_SEMANTIC_ID": "S"}])
    );
    let (_, list) = app
        .call(
            "crm.deal.list",
            json!({"order": {"UTM_SOURCE": "DESC"}, "select": ["ID"]}),
        )
        .await;
    assert_eq!(
        list["result"],
        json!([{"ID": open.to_string()}, {"ID": won.to_string()}])
    );
    let (_, list) = app
        .call(
            "crm.item.list",
            json!({"entityTypeId": 2, "filter": {"=stageSemanticId": "P"},
                   "select": ["id", "utmSource", "isNew"]}),
        )
        .await;
    assert_eq!(
        list["result"]["items"],
        json!([{"id": open, "utmSource": "b", "isNew": "Y"}])
    );
}

#[tokio::test]
async fn a_leads_status_sets_its_semantics_and_closing_date() {
    let app = clocked_app().await;
    let id = app
        .ok(
            "crm.lead.add",
            json!({"fields": {"TITLE": "L", "HONORIFIC": "HNR_EN_1", "ADDRESS_CITY": "Riga",
                              "STATUS_DESCRIPTION": "cold"}}),
        )
        .await;
    let lead = app.ok("crm.lead.get", json!({"id": id})).await;
    assert_eq!(
        (
            &lead["STATUS_SEMANTIC_ID"],
            &lead["DATE_CLOSED"],
            &lead["ADDRESS_CITY"]
        ),
        (&json!("P"), &Value::Null, &json!("Riga"))
    );
    assert_eq!(lead["HONORIFIC"], "HNR_EN_1");
    advance(&app, 30.0).await;
    app.ok(
        "crm.lead.update",
        json!({"id": id, "fields": {"STATUS_ID": "JUNK"}}),
    )
    .await;
    let lead = app.ok("crm.lead.get", json!({"id": id})).await;
    assert_eq!(lead["STATUS_SEMANTIC_ID"], "F");
    assert_eq!(lead["DATE_CLOSED"], lead["DATE_MODIFY"]);
    assert_eq!(lead["MOVED_TIME"], lead["DATE_MODIFY"]);
    app.ok(
        "crm.lead.update",
        json!({"id": id, "fields": {"STATUS_ID": "IN_PROCESS"}}),
    )
    .await;
    let lead = app.ok("crm.lead.get", json!({"id": id})).await;
    assert_eq!(
        (&lead["STATUS_SEMANTIC_ID"], &lead["DATE_CLOSED"]),
        (&json!("P"), &Value::Null)
    );
}

#[tokio::test]
async fn a_clients_communication_flags_follow_its_phones_emails_and_open_lines() {
    let app = spawn_app().await;
    let id = app
        .ok(
            "crm.company.add",
            json!({"fields": {"TITLE": "ACME", "PHONE": [{"VALUE": "+100", "VALUE_TYPE": "WORK"}],
                              "IS_MY_COMPANY": "Y", "BANKING_DETAILS": "IBAN 1",
                              "REG_ADDRESS_CITY": "Oslo", "HAS_EMAIL": "Y"}}),
        )
        .await;
    let company = app.ok("crm.company.get", json!({"id": id})).await;
    assert_eq!(
        (
            &company["HAS_PHONE"],
            &company["HAS_EMAIL"],
            &company["HAS_IMOL"]
        ),
        (&json!("Y"), &json!("N"), &json!("N"))
    );
    assert_eq!(
        (
            &company["IS_MY_COMPANY"],
            &company["BANKING_DETAILS"],
            &company["REG_ADDRESS_CITY"]
        ),
        (&json!("Y"), &json!("IBAN 1"), &json!("Oslo"))
    );
    let phone_id = company["PHONE"][0]["ID"].clone();
    app.ok(
        "crm.company.update",
        json!({"id": id, "fields": {
            "PHONE": [{"ID": phone_id, "DELETE": "Y"}],
            "EMAIL": [{"VALUE": "a@b.c"}],
            "IM": [{"VALUE": "imol|telegram|1", "VALUE_TYPE": "IMOL"}]}}),
    )
    .await;
    let company = app.ok("crm.company.get", json!({"id": id})).await;
    assert_eq!(
        (
            &company["HAS_PHONE"],
            &company["HAS_EMAIL"],
            &company["HAS_IMOL"]
        ),
        (&json!("N"), &json!("Y"), &json!("Y"))
    );
    let (_, list) = app
        .call(
            "crm.company.list",
            json!({"filter": {"HAS_EMAIL": "Y", "IS_MY_COMPANY": "Y"}, "select": ["ID"]}),
        )
        .await;
    assert_eq!(list["result"], json!([{"ID": id.to_string()}]));
}

#[tokio::test]
async fn an_activity_makes_its_items_last_active_by_its_author() {
    let app = clocked_app().await;
    let deal = app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    let before = app.ok("crm.deal.get", json!({"id": deal})).await;
    advance(&app, 120.0).await;
    app.new_todo(2, deal).await;
    let after = app.ok("crm.deal.get", json!({"id": deal})).await;
    assert_ne!(after["LAST_ACTIVITY_TIME"], before["LAST_ACTIVITY_TIME"]);
    assert_eq!(after["LAST_ACTIVITY_BY"], "1");
    assert_eq!(
        after["DATE_MODIFY"], before["DATE_MODIFY"],
        "the item itself is not modified"
    );
    advance(&app, 120.0).await;
    app.ok(
        "crm.activity.add",
        json!({"fields": {"OWNER_TYPE_ID": 3, "OWNER_ID": contact, "TYPE_ID": 2,
                          "SUBJECT": "Call", "COMMUNICATIONS": [{"VALUE": "+1"}]}}),
    )
    .await;
    let item = app
        .ok("crm.item.get", json!({"entityTypeId": 3, "id": contact}))
        .await;
    assert!(
        item["item"]["lastActivityTime"].as_str().unwrap()
            > after["LAST_ACTIVITY_TIME"].as_str().unwrap()
    );
    let (_, list) = app
        .call(
            "crm.item.list",
            json!({"entityTypeId": 3, "filter": {">lastActivityTime": after["LAST_ACTIVITY_TIME"]},
                   "select": ["id"]}),
        )
        .await;
    assert_eq!(list["result"]["items"], json!([{"id": contact}]));
}

#[tokio::test]
async fn type_catalogue_has_code_and_custom_section_and_types_keep_them() {
    let app = spawn_app().await;
    let fields = app.ok("crm.type.fields", json!({})).await;
    assert_eq!(
        fields["fields"]["code"],
        json!({"type": "string", "isRequired": false, "isReadOnly": false, "isImmutable": false,
               "isMultiple": false, "isDynamic": false, "title": "Symbolic Code",
               "upperName": "CODE"})
    );
    assert_eq!(fields["fields"]["customSectionId"]["isImmutable"], true);
    assert_eq!(fields["fields"]["entityTypeId"]["isRequired"], true);
    let t = app
        .ok(
            "crm.type.add",
            json!({"fields": {"title": "Orders", "code": "orders", "customSectionId": 3}}),
        )
        .await;
    assert_eq!(
        (&t["type"]["code"], &t["type"]["customSectionId"]),
        (&json!("orders"), &json!(3))
    );
    let id = t["type"]["id"].clone();
    let updated = app
        .ok(
            "crm.type.update",
            json!({"id": id, "fields": {"code": "sales", "customSectionId": 9}}),
        )
        .await;
    assert_eq!(
        (
            &updated["type"]["code"],
            &updated["type"]["customSectionId"]
        ),
        (&json!("sales"), &json!(3)),
        "customSectionId is immutable"
    );
    app.ok("crm.type.add", json!({"fields": {"title": "Other"}}))
        .await;
    let (_, list) = app
        .call("crm.type.list", json!({"filter": {"code": "sales"}}))
        .await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["result"]["types"][0]["id"], id);
    assert_eq!(
        app.call(
            "crm.type.add",
            json!({"fields": {"title": "Bad", "code": {"a": 1}}})
        )
        .await,
        (
            400,
            envelope(
                "CRM_FIELD_ERROR_VALUE_NOT_VALID",
                "The value of the field \"code\" is not valid"
            )
        )
    );
}

#[tokio::test]
async fn activity_catalogue_lists_every_documented_field_and_stores_the_result_fields() {
    let app = spawn_app().await;
    let fields = app.ok("crm.activity.fields", json!({})).await;
    assert_eq!(
        keys(&fields),
        names(
            "ID OWNER_ID OWNER_TYPE_ID TYPE_ID PROVIDER_ID PROVIDER_TYPE_ID PROVIDER_GROUP_ID
             ASSOCIATED_ENTITY_ID SUBJECT START_TIME END_TIME DEADLINE COMPLETED STATUS
             RESPONSIBLE_ID PRIORITY NOTIFY_TYPE NOTIFY_VALUE DESCRIPTION DESCRIPTION_TYPE
             DIRECTION LOCATION CREATED AUTHOR_ID LAST_UPDATED EDITOR_ID SETTINGS ORIGIN_ID
             ORIGINATOR_ID RESULT_STATUS RESULT_STREAM RESULT_SOURCE_ID PROVIDER_PARAMS
             PROVIDER_DATA RESULT_MARK RESULT_VALUE RESULT_SUM RESULT_CURRENCY_ID
             AUTOCOMPLETE_RULE BINDINGS COMMUNICATIONS FILES WEBDAV_ELEMENTS IS_INCOMING_CHANNEL"
        )
    );
    assert_eq!(fields["WEBDAV_ELEMENTS"]["isDeprecated"], true);
    assert_eq!(fields["START_TIME"]["title"], "Start");
    let deal = app.new_item(2, None).await;
    let id = app
        .ok(
            "crm.activity.add",
            json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal, "TYPE_ID": 2,
                   "SUBJECT": "Call", "COMMUNICATIONS": [{"VALUE": "+1"}],
                   "RESULT_MARK": 4, "RESULT_SUM": "99.5", "RESULT_CURRENCY_ID": "EUR",
                   "PROVIDER_GROUP_ID": "g1", "PROVIDER_PARAMS": {"k": "v"}}}),
        )
        .await;
    let got = app.ok("crm.activity.get", json!({"id": id})).await;
    assert_eq!(
        (
            &got["RESULT_MARK"],
            &got["RESULT_SUM"],
            &got["RESULT_CURRENCY_ID"],
            &got["PROVIDER_GROUP_ID"],
            &got["PROVIDER_PARAMS"],
            &got["IS_INCOMING_CHANNEL"],
        ),
        (
            &json!("4"),
            &json!("99.5"),
            &json!("EUR"),
            &json!("g1"),
            &json!({"k": "v"}),
            &json!("N")
        )
    );
    let (_, list) = app
        .call(
            "crm.activity.list",
            json!({"filter": {">RESULT_SUM": 50, "RESULT_MARK": 4}, "select": ["ID"]}),
        )
        .await;
    assert_eq!(list["result"], json!([{"ID": id.to_string()}]));
    assert_eq!(
        app.call(
            "crm.activity.update",
            json!({"id": id, "fields": {"RESULT_SUM": "lots"}})
        )
        .await,
        (
            400,
            envelope("", "The value of the field \"RESULT_SUM\" is not valid.")
        )
    );
}

#[tokio::test]
async fn user_field_catalogues_list_the_types_and_properties() {
    let app = spawn_app().await;
    let types = app.ok("crm.userfield.types", json!({})).await;
    let ids: Vec<&str> = types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ID"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "string",
            "integer",
            "double",
            "boolean",
            "enumeration",
            "datetime",
            "date",
            "money",
            "url",
            "address",
            "file",
            "employee",
            "crm_status",
            "iblock_section",
            "iblock_element",
            "crm"
        ]
    );
    assert_eq!(types[4], json!({"ID": "enumeration", "title": "List"}));
    let fields = app.ok("crm.userfield.fields", json!({})).await;
    assert_eq!(
        keys(&fields),
        names(
            "ID ENTITY_ID FIELD_NAME USER_TYPE_ID XML_ID SORT MULTIPLE MANDATORY SHOW_FILTER
             SHOW_IN_LIST EDIT_IN_LIST IS_SEARCHABLE EDIT_FORM_LABEL LIST_COLUMN_LABEL
             LIST_FILTER_LABEL ERROR_MESSAGE HELP_MESSAGE LIST SETTINGS"
        )
    );
    assert_eq!(
        (
            &fields["ID"],
            &fields["FIELD_NAME"],
            &fields["LIST"],
            &fields["SORT"]
        ),
        (
            &json!({"type": "int", "title": "ID", "isReadOnly": true}),
            &json!({"type": "string", "title": "Code", "isImmutable": true}),
            &json!({"type": "uf_enum_element", "title": "List elements", "isMultiple": true}),
            &json!({"type": "int", "title": "Sorting"}),
        )
    );
    assert_eq!(
        app.ok("crm.userfield.enumeration.fields", json!({})).await,
        json!({
            "ID": {"type": "int", "title": "ID", "isReadOnly": true},
            "SORT": {"type": "int", "title": "Sorting"},
            "VALUE": {"type": "string", "title": "Value"},
            "DEF": {"type": "string", "title": "Default Value"},
            "DEL": {"type": "string", "title": "Element Deletion Flag"},
        })
    );
}

#[tokio::test]
async fn user_field_catalogues_need_the_crm_scope_and_are_listed_by_methods() {
    let app = spawn_app().await;
    let user = app.create_user(&[]);
    let without_crm = app.create_webhook(user, Some("user"));
    for method in [
        "crm.userfield.types",
        "crm.userfield.fields",
        "crm.userfield.enumeration.fields",
    ] {
        assert_eq!(
            app.call_as(&without_crm, method, json!({})).await,
            (
                401,
                envelope(
                    "insufficient_scope",
                    "The request requires higher privileges than provided by the webhook token"
                )
            ),
            "{method}"
        );
    }
    let methods = app.ok("methods", json!({"scope": "crm"})).await;
    let listed: Vec<&str> = methods
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for method in [
        "crm.userfield.types",
        "crm.userfield.fields",
        "crm.userfield.enumeration.fields",
    ] {
        assert!(listed.contains(&method), "methods lacks {method}");
    }
}
