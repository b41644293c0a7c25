//! Requisites (`crm.requisite.*`), templates (`crm.requisite.preset.list`), bank details
//! (`crm.requisite.bankdetail.*`) and addresses (`crm.address.*`): the legacy shapes, rights
//! from the company or contact, cascades when a requisite or its owner goes, every error text.

use crate::helpers::{envelope, spawn_app, TestApp};
use serde_json::{json, Value};

const LEAD: i64 = 1;
const CONTACT: i64 = 3;
const COMPANY: i64 = 4;

fn legacy(text: &str) -> (u16, Value) {
    (400, envelope("", text))
}

async fn new_requisite(app: &TestApp, entity_type_id: i64, entity_id: i64) -> i64 {
    app.ok(
        "crm.requisite.add",
        json!({"fields": {"ENTITY_TYPE_ID": entity_type_id, "ENTITY_ID": entity_id,
                          "PRESET_ID": 1, "NAME": "Organization", "RQ_INN": "1717586110"}}),
    )
    .await
    .as_i64()
    .expect("requisite id")
}

#[tokio::test]
async fn a_companys_requisite_is_added_read_listed_changed_and_deleted() {
    let app = spawn_app().await;
    let company = app.new_item(COMPANY, None).await;
    let id = new_requisite(&app, COMPANY, company).await;
    let got = app.ok("crm.requisite.get", json!({"id": id})).await;
    let expected = [
        ("ID", json!(id.to_string())),
        ("ENTITY_TYPE_ID", json!("4")),
        ("ENTITY_ID", json!(company.to_string())),
        ("PRESET_ID", json!("1")),
        ("NAME", json!("Organization")),
        ("ACTIVE", json!("Y")),
        ("ADDRESS_ONLY", json!("N")),
        ("SORT", json!("500")),
        ("RQ_INN", json!("1717586110")),
        ("RQ_KPP", Value::Null),
        ("RQ_VAT_PAYER", json!("N")),
        ("CREATED_BY_ID", json!("1")),
        ("MODIFY_BY_ID", Value::Null),
        ("DATE_MODIFY", json!("")),
    ];
    for (key, value) in expected {
        assert_eq!(got[key], value, "{key}");
    }
    assert_eq!(got.as_object().map(|o| o.len()), Some(15 + 60));
    assert_eq!(
        app.ok(
            "crm.requisite.update",
            json!({"id": id, "fields": {"RQ_KPP": "770501001", "SORT": 10}})
        )
        .await,
        json!(true)
    );
    let got = app.ok("crm.requisite.get", json!({"id": id})).await;
    assert_eq!(
        (&got["RQ_KPP"], &got["SORT"], &got["MODIFY_BY_ID"]),
        (&json!("770501001"), &json!("10"), &json!("1"))
    );

    let contact = app.new_item(CONTACT, None).await;
    let other = new_requisite(&app, CONTACT, contact).await;
    let (status, listed) = app
        .call(
            "crm.requisite.list",
            json!({"filter": {"ENTITY_TYPE_ID": COMPANY, "ENTITY_ID": company},
                   "select": ["ID", "NAME"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        listed["result"],
        json!([{"ID": id.to_string(), "NAME": "Organization"}])
    );
    assert_eq!(listed["total"], json!(1));
    let (_, all) = app
        .call("crm.requisite.list", json!({"order": {"ID": "DESC"}}))
        .await;
    let ids: Vec<&str> = all["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [other.to_string(), id.to_string()]);

    assert_eq!(
        app.ok("crm.requisite.delete", json!({"id": id})).await,
        json!(true)
    );
    assert_eq!(
        app.call("crm.requisite.get", json!({"id": id})).await,
        legacy(&format!("The Requisite with ID '{id}' is not found"))
    );
    let fields = app.ok("crm.requisite.fields", json!({})).await;
    assert_eq!(
        fields["PRESET_ID"],
        json!({"type": "integer", "isRequired": true, "isReadOnly": false, "isImmutable": false,
               "isMultiple": false, "isDynamic": false, "title": "Template"})
    );
    assert_eq!(fields["ID"]["isReadOnly"], json!(true));
}

#[tokio::test]
async fn the_default_templates_are_listed() {
    let app = spawn_app().await;
    let (status, body) = app
        .call(
            "crm.requisite.preset.list",
            json!({"select": ["ID", "NAME"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"],
        json!([
            {"ID": "1", "NAME": "Organization"},
            {"ID": "2", "NAME": "Sole Proprietorship"},
            {"ID": "3", "NAME": "Individual"},
        ])
    );
    assert_eq!(body["total"], json!(3));
    let (_, one) = app
        .call("crm.requisite.preset.list", json!({"filter": {"ID": 3}}))
        .await;
    assert_eq!(
        one["result"][0]["XML_ID"],
        json!("#CRM_REQUISITE_PRESET_DEF_RU_PERSON#")
    );
    assert_eq!(one["total"], json!(1));
}

#[tokio::test]
async fn bank_details_and_addresses_belong_to_requisites_and_go_with_them() {
    let app = spawn_app().await;
    let company = app.new_item(COMPANY, None).await;
    let requisite = new_requisite(&app, COMPANY, company).await;
    let bank = app
        .ok(
            "crm.requisite.bankdetail.add",
            json!({"fields": {"ENTITY_ID": requisite, "NAME": "Ltd. Superbank",
                              "RQ_BANK_NAME": "Ltd. Superbank", "RQ_ACC_NUM": "40702810938000060473",
                              "RQ_ACC_CURRENCY": "USD", "SORT": 600}}),
        )
        .await
        .as_i64()
        .expect("bank detail id");
    let got = app
        .ok("crm.requisite.bankdetail.get", json!({"id": bank}))
        .await;
    assert_eq!(
        (
            &got["ID"],
            &got["ENTITY_ID"],
            &got["COUNTRY_ID"],
            &got["NAME"],
            &got["SORT"],
            &got["RQ_ACC_NUM"],
            &got["RQ_IBAN"],
            &got["COMMENTS"]
        ),
        (
            &json!(bank.to_string()),
            &json!(requisite.to_string()),
            &json!("1"),
            &json!("Ltd. Superbank"),
            &json!("600"),
            &json!("40702810938000060473"),
            &Value::Null,
            &Value::Null
        )
    );
    app.ok(
        "crm.requisite.bankdetail.update",
        json!({"id": bank, "fields": {"RQ_SWIFT": "SABRRUMM"}}),
    )
    .await;
    let (_, listed) = app
        .call(
            "crm.requisite.bankdetail.list",
            json!({"filter": {"ENTITY_ID": requisite}}),
        )
        .await;
    assert_eq!(listed["result"][0]["RQ_SWIFT"], json!("SABRRUMM"));
    assert_eq!(listed["total"], json!(1));

    // Addresses: one per type and owner.
    let address = json!({"TYPE_ID": 1, "ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite,
                         "ADDRESS_1": "Address 1", "CITY": "Los Angeles", "COUNTRY": "USA"});
    assert_eq!(
        app.ok("crm.address.add", json!({"fields": address})).await,
        json!(true)
    );
    assert_eq!(
        app.call("crm.address.add", json!({"fields": address}))
            .await,
        legacy("TypeAddress exists.")
    );
    app.ok(
        "crm.address.update",
        json!({"fields": {"TYPE_ID": 1, "ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite,
                          "POSTAL_CODE": "625003"}}),
    )
    .await;
    app.ok(
        "crm.address.add",
        json!({"fields": {"TYPE_ID": 6, "ENTITY_TYPE_ID": COMPANY, "ENTITY_ID": company,
                          "CITY": "Boston"}}),
    )
    .await;
    let (status, addresses) = app
        .call(
            "crm.address.list",
            json!({"filter": {"ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite}}),
        )
        .await;
    assert_eq!(status, 200);
    let loc = addresses["result"][0]["LOC_ADDR_ID"].clone();
    assert!(loc.is_string(), "{addresses}");
    assert_eq!(
        addresses["result"],
        json!([{
            "TYPE_ID": "1", "ENTITY_TYPE_ID": "8", "ENTITY_ID": requisite.to_string(),
            "ADDRESS_1": "Address 1", "ADDRESS_2": null, "CITY": "Los Angeles",
            "POSTAL_CODE": "625003", "REGION": null, "PROVINCE": null, "COUNTRY": "USA",
            "COUNTRY_CODE": null, "LOC_ADDR_ID": loc, "ANCHOR_TYPE_ID": "4",
            "ANCHOR_ID": company.to_string(),
        }])
    );
    let (_, of_company) = app
        .call(
            "crm.address.list",
            json!({"filter": {"ANCHOR_TYPE_ID": COMPANY, "ANCHOR_ID": company},
                   "order": {"TYPE_ID": "ASC"}}),
        )
        .await;
    assert_eq!(of_company["total"], json!(2));

    // Deleting the requisite takes its bank details and addresses; the company's own stays.
    app.ok("crm.requisite.delete", json!({"id": requisite}))
        .await;
    assert_eq!(
        app.call("crm.requisite.bankdetail.get", json!({"id": bank}))
            .await,
        legacy(&format!(
            "The RequisiteBankDetail with ID '{bank}' is not found"
        ))
    );
    let (_, left) = app.call("crm.address.list", json!({})).await;
    assert_eq!(left["total"], json!(1));
    assert_eq!(left["result"][0]["CITY"], json!("Boston"));
    assert_eq!(
        app.ok(
            "crm.address.delete",
            json!({"fields": {"TYPE_ID": 6, "ENTITY_TYPE_ID": COMPANY, "ENTITY_ID": company}})
        )
        .await,
        json!(true)
    );
    let fields = app.ok("crm.address.fields", json!({})).await;
    assert_eq!(fields["TYPE_ID"]["isRequired"], json!(true));
    let fields = app.ok("crm.requisite.bankdetail.fields", json!({})).await;
    assert_eq!(fields["ENTITY_ID"]["isRequired"], json!(true));
}

#[tokio::test]
async fn requisites_go_with_their_deleted_company_or_contact() {
    let app = spawn_app().await;
    let (gone, kept) = (
        app.new_item(CONTACT, None).await,
        app.new_item(CONTACT, None).await,
    );
    let requisite = new_requisite(&app, CONTACT, gone).await;
    new_requisite(&app, CONTACT, kept).await;
    app.ok(
        "crm.requisite.bankdetail.add",
        json!({"fields": {"ENTITY_ID": requisite, "NAME": "bank"}}),
    )
    .await;
    app.ok(
        "crm.address.add",
        json!({"fields": {"TYPE_ID": 1, "ENTITY_TYPE_ID": CONTACT, "ENTITY_ID": gone}}),
    )
    .await;
    let lead = app.new_item(LEAD, None).await;
    app.ok(
        "crm.address.add",
        json!({"fields": {"TYPE_ID": 1, "ENTITY_TYPE_ID": LEAD, "ENTITY_ID": lead}}),
    )
    .await;
    app.ok("crm.contact.delete", json!({"id": gone})).await;
    app.ok("crm.lead.delete", json!({"id": lead})).await;
    let (_, requisites) = app.call("crm.requisite.list", json!({})).await;
    assert_eq!(requisites["total"], json!(1));
    assert_eq!(
        requisites["result"][0]["ENTITY_ID"],
        json!(kept.to_string())
    );
    let (_, banks) = app.call("crm.requisite.bankdetail.list", json!({})).await;
    assert_eq!(banks["total"], json!(0));
    let (_, addresses) = app.call("crm.address.list", json!({})).await;
    assert_eq!(addresses["total"], json!(0));
}

#[tokio::test]
async fn requisite_errors_are_in_the_legacy_form_and_change_nothing() {
    let app = spawn_app().await;
    let company = app.new_item(COMPANY, None).await;
    let requisite = new_requisite(&app, COMPANY, company).await;
    let deal = app.new_item(2, None).await;
    let fields = |extra: Value| {
        let mut base = json!({"ENTITY_TYPE_ID": COMPANY, "ENTITY_ID": company, "PRESET_ID": 1,
                              "NAME": "x"});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        json!({ "fields": base })
    };
    let cases = [
        (
            "crm.requisite.add",
            fields(json!({"ENTITY_TYPE_ID": 2, "ENTITY_ID": deal})),
            "ENTITY_TYPE_ID is not defined or invalid.",
        ),
        (
            "crm.requisite.add",
            fields(json!({"ENTITY_ID": 0})),
            "ENTITY_ID is not defined or invalid.",
        ),
        (
            "crm.requisite.add",
            fields(json!({"PRESET_ID": 99})),
            "PRESET_ID is not defined or invalid.",
        ),
        (
            "crm.requisite.add",
            fields(json!({"ENTITY_ID": 999_999})),
            "Entity not found.",
        ),
        (
            "crm.requisite.add",
            fields(json!({"NAME": ""})),
            "The field \"Name\" is required.",
        ),
        (
            "crm.requisite.add",
            fields(json!({"SORT": "abc"})),
            "The value of the field \"SORT\" is not valid.",
        ),
        (
            "crm.requisite.get",
            json!({}),
            "ID is not defined or invalid.",
        ),
        (
            "crm.requisite.get",
            json!({"id": 999_999}),
            "The Requisite with ID '999999' is not found",
        ),
        (
            "crm.requisite.update",
            json!({"id": 999_999, "fields": {"NAME": "y"}}),
            "The Requisite with ID '999999' is not found",
        ),
        (
            "crm.requisite.update",
            json!({"id": requisite, "fields": {"PRESET_ID": 42}}),
            "PRESET_ID is not defined or invalid.",
        ),
        (
            "crm.requisite.delete",
            json!({"id": 999_999}),
            "The Requisite with ID '999999' is not found",
        ),
        (
            "crm.requisite.bankdetail.add",
            json!({"fields": {"NAME": "b"}}),
            "ENTITY_ID is not defined or invalid.",
        ),
        (
            "crm.requisite.bankdetail.add",
            json!({"fields": {"ENTITY_ID": 999_999, "NAME": "b"}}),
            "ENTITY_ID is not defined or invalid.",
        ),
        (
            "crm.requisite.bankdetail.get",
            json!({"id": 999_999}),
            "The RequisiteBankDetail with ID '999999' is not found",
        ),
        (
            "crm.requisite.bankdetail.delete",
            json!({}),
            "ID is not defined or invalid.",
        ),
        (
            "crm.address.add",
            json!({"fields": {"TYPE_ID": 2, "ENTITY_TYPE_ID": COMPANY, "ENTITY_ID": company}}),
            "TYPE_ID is not defined or invalid.",
        ),
        (
            "crm.address.add",
            json!({"fields": {"TYPE_ID": 1, "ENTITY_TYPE_ID": 2, "ENTITY_ID": deal}}),
            "ENTITY_TYPE_ID is not defined or invalid.",
        ),
        (
            "crm.address.add",
            json!({"fields": {"TYPE_ID": 1, "ENTITY_TYPE_ID": COMPANY, "ENTITY_ID": 999_999}}),
            "ENTITY_ID is not defined or invalid.",
        ),
        (
            "crm.address.update",
            json!({"fields": {"TYPE_ID": 1, "ENTITY_TYPE_ID": COMPANY, "ENTITY_ID": company}}),
            "TypeAddress not found.",
        ),
        (
            "crm.address.delete",
            json!({"fields": {"TYPE_ID": 4, "ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite}}),
            "TypeAddress not found.",
        ),
        (
            "crm.requisite.add",
            json!({"fields": "x"}),
            "Parameter 'fields' must be array.",
        ),
    ];
    for (method, params, text) in cases {
        assert_eq!(
            app.call(method, params.clone()).await,
            legacy(text),
            "{method} {params}"
        );
    }
    let (_, listed) = app.call("crm.requisite.list", json!({})).await;
    assert_eq!(listed["total"], json!(1));
    let got = app.ok("crm.requisite.get", json!({"id": requisite})).await;
    assert_eq!(got["PRESET_ID"], json!("1"));
    let (_, addresses) = app.call("crm.address.list", json!({})).await;
    assert_eq!(addresses["total"], json!(0));
}

#[tokio::test]
async fn requisites_follow_the_rights_on_their_company_or_contact() {
    let app = spawn_app().await;
    let company = app.new_item(COMPANY, None).await;
    let contact = app.new_item(CONTACT, None).await;
    let requisite = new_requisite(&app, COMPANY, company).await;
    new_requisite(&app, CONTACT, contact).await;
    let bank = app
        .ok(
            "crm.requisite.bankdetail.add",
            json!({"fields": {"ENTITY_ID": requisite, "NAME": "b"}}),
        )
        .await;
    app.ok(
        "crm.address.add",
        json!({"fields": {"TYPE_ID": 1, "ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite}}),
    )
    .await;
    let denied = legacy("Access denied.");

    // Reading companies only: their requisites, not the contact's; no changes.
    let reader = app.create_user(&["company.read=all"]);
    let reader = app.create_webhook(reader, Some("crm"));
    assert_eq!(
        app.call_as(&reader, "crm.requisite.get", json!({"id": requisite}))
            .await
            .0,
        200
    );
    let (_, listed) = app.call_as(&reader, "crm.requisite.list", json!({})).await;
    assert_eq!(listed["total"], json!(1));
    assert_eq!(listed["result"][0]["ENTITY_TYPE_ID"], json!("4"));
    let (_, bank_list) = app
        .call_as(
            &reader,
            "crm.requisite.bankdetail.list",
            json!({"filter": {"ENTITY_ID": requisite}}),
        )
        .await;
    assert_eq!(bank_list["total"], json!(1));
    assert_eq!(
        app.call_as(&reader, "crm.requisite.bankdetail.list", json!({}))
            .await,
        denied
    );
    let (_, addresses) = app.call_as(&reader, "crm.address.list", json!({})).await;
    assert_eq!(addresses["total"], json!(1));
    for (method, params) in [
        (
            "crm.requisite.add",
            json!({"fields": {"ENTITY_TYPE_ID": COMPANY, "ENTITY_ID": company, "PRESET_ID": 1,
                              "NAME": "n"}}),
        ),
        (
            "crm.requisite.update",
            json!({"id": requisite, "fields": {"NAME": "n"}}),
        ),
        ("crm.requisite.delete", json!({"id": requisite})),
        (
            "crm.requisite.bankdetail.add",
            json!({"fields": {"ENTITY_ID": requisite, "NAME": "b"}}),
        ),
        ("crm.requisite.bankdetail.delete", json!({"id": bank})),
        (
            "crm.address.add",
            json!({"fields": {"TYPE_ID": 6, "ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite}}),
        ),
        (
            "crm.address.delete",
            json!({"fields": {"TYPE_ID": 1, "ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite}}),
        ),
    ] {
        assert_eq!(
            app.call_as(&reader, method, params.clone()).await,
            denied,
            "{method}"
        );
    }
    // No CRM rights at all: nothing to read.
    let stranger = app.create_user(&[]);
    let stranger = app.create_webhook(stranger, Some("crm"));
    for (method, params) in [
        ("crm.requisite.get", json!({"id": requisite})),
        ("crm.requisite.list", json!({})),
        ("crm.requisite.bankdetail.get", json!({"id": bank})),
        ("crm.address.list", json!({})),
        ("crm.requisite.preset.list", json!({})),
    ] {
        assert_eq!(
            app.call_as(&stranger, method, params.clone()).await,
            denied,
            "{method}"
        );
    }
    // Everything is as it was.
    let (_, all) = app.call("crm.requisite.list", json!({})).await;
    assert_eq!(all["total"], json!(2));
    let (_, addresses) = app.call("crm.address.list", json!({})).await;
    assert_eq!(addresses["total"], json!(1));
}

#[tokio::test]
async fn requisite_lists_are_paged_by_fifty() {
    let app = spawn_app().await;
    let company = app.new_item(COMPANY, None).await;
    let calls: Vec<Value> = (0..51)
        .map(|i| {
            json!(format!(
                "crm.requisite.add?fields[ENTITY_TYPE_ID]=4&fields[ENTITY_ID]={company}&fields[PRESET_ID]=1&fields[NAME]=r{i}"
            ))
        })
        .collect();
    let mut cmd = serde_json::Map::new();
    for (i, c) in calls.into_iter().enumerate().take(50) {
        cmd.insert(format!("c{i}"), c);
    }
    app.ok("batch", json!({"halt": 1, "cmd": cmd})).await;
    new_requisite(&app, COMPANY, company).await;
    let filter = json!({"ENTITY_TYPE_ID": COMPANY, "ENTITY_ID": company});
    let (_, first) = app
        .call("crm.requisite.list", json!({"filter": filter}))
        .await;
    assert_eq!(
        (first["total"].clone(), first["next"].clone()),
        (json!(51), json!(50))
    );
    let (_, second) = app
        .call("crm.requisite.list", json!({"filter": filter, "start": 50}))
        .await;
    assert_eq!(second["result"].as_array().map(Vec::len), Some(1));
    assert!(second.get("next").is_none());
}

#[tokio::test]
async fn catalogue_and_requisite_changes_fire_their_events() {
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
    let names = [
        "ONCRMPRODUCTADD",
        "ONCRMPRODUCTUPDATE",
        "ONCRMPRODUCTDELETE",
        "ONCRMREQUISITEADD",
        "ONCRMREQUISITEUPDATE",
        "ONCRMREQUISITEDELETE",
        "ONCRMBANKDETAILADD",
        "ONCRMBANKDETAILUPDATE",
        "ONCRMBANKDETAILDELETE",
        "ONCRMADDRESSREGISTER",
        "ONCRMADDRESSUNREGISTER",
    ];
    for event in names {
        let (status, body) = rest(
            "event.bind",
            json!({"event": event, "event_type": "offline"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let product = app
        .ok("crm.product.add", json!({"fields": {"NAME": "p"}}))
        .await;
    app.ok(
        "crm.product.update",
        json!({"id": product, "fields": {"PRICE": 1}}),
    )
    .await;
    app.ok("crm.product.delete", json!({"id": product})).await;
    let company = app.new_item(COMPANY, None).await;
    let requisite = new_requisite(&app, COMPANY, company).await;
    app.ok(
        "crm.requisite.update",
        json!({"id": requisite, "fields": {"NAME": "n"}}),
    )
    .await;
    let bank = app
        .ok(
            "crm.requisite.bankdetail.add",
            json!({"fields": {"ENTITY_ID": requisite, "NAME": "b"}}),
        )
        .await;
    app.ok(
        "crm.requisite.bankdetail.update",
        json!({"id": bank, "fields": {"NAME": "c"}}),
    )
    .await;
    app.ok("crm.requisite.bankdetail.delete", json!({"id": bank}))
        .await;
    let key = json!({"TYPE_ID": 1, "ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite});
    app.ok("crm.address.add", json!({"fields": key})).await;
    app.ok("crm.address.delete", json!({"fields": key})).await;
    app.ok("crm.requisite.delete", json!({"id": requisite}))
        .await;
    // A failed call records nothing.
    app.call("crm.requisite.delete", json!({"id": requisite}))
        .await;

    let (status, taken) = rest("event.offline.get", json!({"limit": 50})).await;
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
    let address = json!({"FIELDS": {"TYPE_ID": 1, "ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite,
                                    "ANCHOR_ID": company, "ANCHOR_TYPE_ID": COMPANY}});
    let id = |n: &Value| json!({"FIELDS": {"ID": n}});
    assert_eq!(
        events,
        [
            ("ONCRMPRODUCTADD".to_string(), id(&product)),
            ("ONCRMPRODUCTUPDATE".to_string(), id(&product)),
            ("ONCRMPRODUCTDELETE".to_string(), id(&product)),
            ("ONCRMREQUISITEADD".to_string(), id(&json!(requisite))),
            ("ONCRMREQUISITEUPDATE".to_string(), id(&json!(requisite))),
            ("ONCRMBANKDETAILADD".to_string(), id(&bank)),
            ("ONCRMBANKDETAILUPDATE".to_string(), id(&bank)),
            ("ONCRMBANKDETAILDELETE".to_string(), id(&bank)),
            ("ONCRMADDRESSREGISTER".to_string(), address.clone()),
            ("ONCRMADDRESSUNREGISTER".to_string(), address),
            ("ONCRMREQUISITEDELETE".to_string(), id(&json!(requisite))),
        ]
    );
}
