//! Legacy crm.deal / contact / company / lead methods: UPPER_CASE fields, string values, the
//! legacy error shape `"error": ""` (spec §1.5, §10.2).

use crate::helpers::{envelope, spawn_app, TestApp};
use serde_json::{json, Value};

fn legacy(text: &str) -> (u16, Value) {
    (400, envelope("", text))
}

#[tokio::test]
async fn deal_add_get_update_delete_round_trip_with_string_values() {
    let app = spawn_app().await;
    let (status, body) = app
        .call(
            "crm.deal.add",
            json!({"fields": {"TITLE": "Big", "OPPORTUNITY": 1500, "CURRENCY_ID": "EUR", "CONTACT_IDS": [3, 4], "UNKNOWN": 1}, "params": {"REGISTER_SONET_EVENT": "Y"}}),
        )
        .await;
    assert_eq!((status, &body["result"]), (200, &json!(1)), "{body}");
    let deal = app.ok("crm.deal.get", json!({"id": 1})).await;
    assert_eq!(deal["ID"], "1");
    assert_eq!(deal["TITLE"], "Big");
    assert_eq!(deal["OPPORTUNITY"], "1500.00");
    assert_eq!(deal["CURRENCY_ID"], "EUR");
    assert_eq!(
        (&deal["CONTACT_ID"], deal.get("CONTACT_IDS")),
        (&json!("3"), None),
        "CONTACT_IDS is written but never shown"
    );
    assert_eq!(deal["ASSIGNED_BY_ID"], "1");
    assert_eq!(deal["STAGE_ID"], "NEW");
    assert_eq!(deal["CATEGORY_ID"], "0");
    assert!(deal["DATE_CREATE"].as_str().unwrap().ends_with("+00:00"));
    assert_eq!(
        app.ok(
            "crm.deal.update",
            json!({"ID": "1", "fields": {"STAGE_ID": "WON"}})
        )
        .await,
        json!(true)
    );
    let item = app
        .ok("crm.item.get", json!({"entityTypeId": 2, "id": 1}))
        .await;
    assert_eq!(
        item["item"]["stageId"], "WON",
        "the same item under both APIs"
    );
    assert_eq!(
        app.ok("crm.deal.delete", json!({"id": 1})).await,
        json!(true)
    );
    assert_eq!(
        app.call("crm.deal.get", json!({"id": 1})).await,
        legacy("Not found")
    );
}

#[tokio::test]
async fn contact_company_and_lead_use_their_own_fields() {
    let app = spawn_app().await;
    let contact = app
        .ok(
            "crm.contact.add",
            json!({"fields": {"NAME": "Ada", "LAST_NAME": "Lovelace", "COMPANY_ID": 1}}),
        )
        .await;
    let got = app.ok("crm.contact.get", json!({"id": contact})).await;
    assert_eq!(
        (&got["NAME"], &got["LAST_NAME"], &got["COMPANY_ID"]),
        (&json!("Ada"), &json!("Lovelace"), &json!("1"))
    );
    assert!(got.get("TITLE").is_none());
    let company = app
        .ok(
            "crm.company.add",
            json!({"fields": {"TITLE": "ACME", "INDUSTRY": "IT"}}),
        )
        .await;
    let got = app.ok("crm.company.get", json!({"id": company})).await;
    assert_eq!(
        (&got["TITLE"], &got["INDUSTRY"]),
        (&json!("ACME"), &json!("IT"))
    );
    let lead = app
        .ok(
            "crm.lead.add",
            json!({"fields": {"TITLE": "Inbound", "NAME": "Bob"}}),
        )
        .await;
    let got = app.ok("crm.lead.get", json!({"id": lead})).await;
    assert_eq!(
        (&got["STATUS_ID"], &got["NAME"]),
        (&json!("NEW"), &json!("Bob"))
    );
    let fields = app.ok("crm.lead.fields", json!({})).await;
    assert_eq!(
        fields["STATUS_ID"],
        json!({"type": "crm_status", "isRequired": false, "isReadOnly": false, "isImmutable": false,
               "isMultiple": false, "isDynamic": false, "statusType": "STATUS", "title": "Stage"})
    );
    assert!(fields.get("STAGE_ID").is_none());
}

#[tokio::test]
async fn legacy_errors_have_an_empty_code_and_the_legacy_text() {
    let app = spawn_app().await;
    assert_eq!(
        app.call("crm.deal.add", json!({"fields": "x"})).await,
        legacy("Parameter 'fields' must be array.")
    );
    assert_eq!(
        app.call("crm.deal.add", json!({"fields": {}, "params": 5}))
            .await,
        legacy("Parameter 'params' must be array.")
    );
    assert_eq!(
        app.call("crm.deal.add", json!({"fields": {"OPPORTUNITY": "lots"}}))
            .await,
        legacy("The value of the field \"OPPORTUNITY\" is not valid.")
    );
    for method in [
        "crm.deal.get",
        "crm.contact.update",
        "crm.company.delete",
        "crm.lead.get",
    ] {
        assert_eq!(
            app.call(method, json!({"id": 0})).await,
            legacy("ID is not defined or invalid."),
            "{method}"
        );
        assert_eq!(
            app.call(method, json!({"id": 77, "fields": {}})).await,
            legacy("Not found"),
            "{method}"
        );
    }
    let deal = app
        .ok("crm.deal.add", json!({"fields": {"TITLE": "x"}}))
        .await;
    let user = app.create_user(&["contact.read=all"]);
    let url = app.create_webhook(user, None);
    for (method, params) in [
        ("crm.deal.add", json!({"fields": {"TITLE": "y"}})),
        ("crm.deal.get", json!({"id": deal})),
        (
            "crm.deal.update",
            json!({"id": deal, "fields": {"TITLE": "y"}}),
        ),
        ("crm.deal.delete", json!({"id": deal})),
        ("crm.deal.list", json!({})),
    ] {
        assert_eq!(
            app.call_as(&url, method, params).await,
            legacy("Access denied."),
            "{method}"
        );
    }
    // A field deals do not have is dropped from the filter, as the CRM drops it (spec §12).
    let (status, all) = app.call("crm.deal.list", json!({})).await;
    let (filtered_status, filtered) = app
        .call("crm.deal.list", json!({"filter": {"NOPE": 1}}))
        .await;
    assert_eq!(
        (filtered_status, &filtered["result"], &filtered["total"]),
        (status, &all["result"], &all["total"])
    );
}

async fn seed_deals(app: &TestApp, n: usize) {
    for i in 0..n {
        app.ok(
            "crm.deal.add",
            json!({"fields": {"TITLE": format!("deal {i}"), "OPPORTUNITY": i}}),
        )
        .await;
    }
}

fn row_ids(body: &Value) -> Vec<i64> {
    body["result"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {body}"))
        .iter()
        .map(|d| d["ID"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn deal_list_pages_with_start_and_next_and_selects_fields() {
    let app = spawn_app().await;
    seed_deals(&app, 121).await;
    let mut seen = Vec::new();
    let mut start = Some(0);
    while let Some(s) = start {
        let (status, body) = app
            .call("crm.deal.list", json!({"start": s, "select": ["TITLE"]}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total"], 121);
        let first = body["result"][0].as_object().unwrap();
        assert_eq!(first.keys().collect::<Vec<_>>(), ["ID", "TITLE"]);
        seen.extend(row_ids(&body));
        start = body.get("next").and_then(Value::as_i64);
    }
    assert_eq!(seen, (1..=121).collect::<Vec<_>>());
}

#[tokio::test]
async fn deal_list_walks_with_start_minus_one_and_an_id_cursor() {
    let app = spawn_app().await;
    seed_deals(&app, 120).await;
    let mut seen: Vec<i64> = Vec::new();
    let mut last = 0;
    loop {
        let (status, body) = app
            .call(
                "crm.deal.list",
                json!({"start": -1, "order": {"ID": "ASC"}, "filter": {">ID": last}}),
            )
            .await;
        assert_eq!(status, 200);
        assert!(body.get("total").is_none() && body.get("next").is_none());
        let page = row_ids(&body);
        seen.extend(&page);
        if page.len() < 50 {
            break;
        }
        last = *page.last().unwrap();
    }
    assert_eq!(seen, (1..=120).collect::<Vec<_>>());
}

#[tokio::test]
async fn deal_list_filters_and_orders_by_legacy_names() {
    let app = spawn_app().await;
    seed_deals(&app, 10).await;
    let (_, body) = app
        .call(
            "crm.deal.list",
            json!({"filter": {">=OPPORTUNITY": 7, "%TITLE": "deal"}, "order": {"OPPORTUNITY": "DESC"}}),
        )
        .await;
    assert_eq!(row_ids(&body), vec![10, 9, 8]);
    assert_eq!(body["total"], 3);
}

#[tokio::test]
async fn contact_phones_and_emails_are_multi_fields_changed_by_id() {
    let app = spawn_app().await;
    let id = app
        .ok(
            "crm.contact.add",
            json!({"fields": {"NAME": "Ada", "PHONE": [{"VALUE": "+100", "VALUE_TYPE": "WORK"}, {"VALUE": "+200"}],
                   "EMAIL": [{"VALUE": "ada@example.com", "VALUE_TYPE": "HOME"}]}}),
        )
        .await;
    let got = app.ok("crm.contact.get", json!({"id": id})).await;
    assert_eq!(
        got["PHONE"],
        json!([{"ID": "1", "VALUE_TYPE": "WORK", "VALUE": "+100", "TYPE_ID": "PHONE"},
               {"ID": "2", "VALUE_TYPE": "WORK", "VALUE": "+200", "TYPE_ID": "PHONE"}])
    );
    assert_eq!(got["EMAIL"][0]["VALUE_TYPE"], "HOME");
    app.ok(
        "crm.contact.update",
        json!({"id": id, "fields": {"PHONE": [{"ID": 1, "VALUE": "+111"}, {"ID": "2", "DELETE": "Y"}, {"VALUE": "+300", "VALUE_TYPE": "MOBILE"}]}}),
    )
    .await;
    let got = app.ok("crm.contact.get", json!({"id": id})).await;
    assert_eq!(
        got["PHONE"],
        json!([{"ID": "1", "VALUE_TYPE": "WORK", "VALUE": "+111", "TYPE_ID": "PHONE"},
               {"ID": "4", "VALUE_TYPE": "MOBILE", "VALUE": "+300", "TYPE_ID": "PHONE"}])
    );
    assert_eq!(
        got["EMAIL"][0]["VALUE"], "ada@example.com",
        "untouched multi-fields stay"
    );
    let (_, list) = app.call("crm.contact.list", json!({})).await;
    assert!(
        list["result"][0].get("PHONE").is_none(),
        "lists show multi-fields only when named"
    );
    let (_, list) = app
        .call("crm.contact.list", json!({"select": ["*", "PHONE"]}))
        .await;
    assert_eq!(list["result"][0]["PHONE"][1]["VALUE"], "+300");
    let item = app
        .ok("crm.item.get", json!({"entityTypeId": 3, "id": id}))
        .await;
    assert!(item["item"].get("phone").is_none() && item["item"].get("PHONE").is_none());
    let fields = app.ok("crm.contact.fields", json!({})).await;
    assert_eq!(fields["PHONE"]["type"], "crm_multifield");
    assert_eq!(fields["PHONE"]["isMultiple"], true);
    assert_eq!(
        app.call(
            "crm.contact.update",
            json!({"id": id, "fields": {"PHONE": "x"}})
        )
        .await,
        legacy("The value of the field \"PHONE\" is not valid.")
    );
}

async fn listed(app: &TestApp, method: &str, filter: Value) -> (u16, Vec<i64>, Value) {
    let (status, body) = app.call(method, json!({ "filter": filter })).await;
    (status, row_ids(&body), body["total"].clone())
}

#[tokio::test]
async fn legacy_list_filters_read_every_operator_prefix_as_the_crm_reads_it() {
    let app = spawn_app().await;
    seed_deals(&app, 10).await; // ids 1..=10, OPPORTUNITY 0..=9, TITLE "deal 0".."deal 9"
    let all: Vec<i64> = (1..=10).collect();
    let cases: Vec<(Value, Vec<i64>)> = vec![
        (json!({"ID": 5}), vec![5]),
        (json!({"=ID": 5}), vec![5]),
        (
            json!({"!ID": 5}),
            all.iter().copied().filter(|&i| i != 5).collect(),
        ),
        (
            json!({"!=ID": 5}),
            all.iter().copied().filter(|&i| i != 5).collect(),
        ),
        (json!({">OPPORTUNITY": 7}), vec![9, 10]),
        (json!({">=OPPORTUNITY": 8}), vec![9, 10]),
        (json!({"<OPPORTUNITY": 2}), vec![1, 2]),
        (json!({"<=OPPORTUNITY": 1}), vec![1, 2]),
        (json!({"!>OPPORTUNITY": 7}), (1..=8).collect()),
        (json!({"!>=OPPORTUNITY": 2}), vec![1, 2]),
        (json!({"!<OPPORTUNITY": 8}), vec![9, 10]),
        (json!({"!<=OPPORTUNITY": 8}), vec![10]),
        (json!({"@ID": [2, 4]}), vec![2, 4]),
        (json!({"!@ID": [2, 4]}), vec![1, 3, 5, 6, 7, 8, 9, 10]),
        (json!({"ID": [3, 6]}), vec![3, 6]),
        (json!({"%TITLE": "l 3"}), vec![4]),
        (json!({"!%TITLE": "deal"}), vec![]),
        (json!({"=%TITLE": "deal 1%"}), vec![2]),
        (json!({"%=TITLE": "%9"}), vec![10]),
        (json!({"!=%TITLE": "deal%"}), vec![]),
        (json!({"!%=TITLE": "%0"}), (2..=10).collect()),
        (json!({"?TITLE": "deal 7"}), vec![8]),
        (json!({"+>OPPORTUNITY": 8}), vec![10]),
        // No substring search on numbers: `%`, `=%` and `?` compare for equality there.
        (json!({"%ID": 1}), vec![1]),
        (json!({"=%OPPORTUNITY": 1}), vec![2]),
        (json!({"?ID": 1}), vec![1]),
        (json!({"!%ID": 1}), (2..=10).collect()),
        // Nor on status fields unless negated: `%STAGE_ID` is `=`, `!%STAGE_ID` a substring.
        (json!({"%STAGE_ID": "NE"}), vec![]),
        (json!({"%STAGE_ID": "NEW"}), all.clone()),
        (json!({"!%STAGE_ID": "NE"}), vec![]),
    ];
    for (filter, expected) in cases {
        let total = json!(expected.len());
        assert_eq!(
            listed(&app, "crm.deal.list", filter.clone()).await,
            (200, expected, total),
            "{filter}"
        );
    }
}

#[tokio::test]
async fn legacy_list_filters_drop_the_keys_the_crm_drops() {
    let app = spawn_app().await;
    for title in ["a", "b", "c"] {
        app.ok("crm.lead.add", json!({"fields": {"TITLE": title}}))
            .await;
    }
    app.ok(
        "crm.lead.update",
        json!({"id": 2, "fields": {"STATUS_ID": "IN_PROCESS"}}),
    )
    .await;
    assert_eq!(
        listed(&app, "crm.lead.list", json!({"STATUS_ID": "NEW"})).await,
        (200, vec![1, 3], json!(2))
    );
    // `<>` is not an operator of the legacy syntax: `<>STATUS_ID` is `<` on a field named
    // `>STATUS_ID`, which leads do not have, so the condition is dropped and every lead listed.
    // The same for `><` (not between), unknown and user fields, `LOGIC`, numbered groups and
    // the full-text `*` operators.
    for ignored in [
        json!({"<>STATUS_ID": "NEW"}),
        json!({"><ID": [1, 2]}),
        json!({"NOPE": 1}),
        json!({"UF_CRM_NOPE": "x"}),
        json!({"*TITLE": "a"}),
        json!({"0": {"ID": 1}}),
        json!({"LOGIC": "OR"}),
    ] {
        assert_eq!(
            listed(&app, "crm.lead.list", ignored.clone()).await,
            (200, vec![1, 2, 3], json!(3)),
            "{ignored}"
        );
    }
    // `LOGIC: OR` is dropped with the rest: the conditions still all hold.
    assert_eq!(
        listed(
            &app,
            "crm.lead.list",
            json!({"LOGIC": "OR", "ID": 1, "TITLE": "b"})
        )
        .await,
        (200, vec![], json!(0))
    );
    // A field leads have but this server cannot filter by is refused, not dropped: dropping it
    // would silently widen the list.
    assert_eq!(
        app.call("crm.lead.list", json!({"filter": {"PHONE": "+100"}}))
            .await,
        legacy("Invalid filter: field 'PHONE' is not allowed in filter")
    );
    // A known field with a value that does not fit it is still refused.
    assert_eq!(
        app.call("crm.lead.list", json!({"filter": {">ID": "x"}}))
            .await,
        legacy("Invalid filter: field 'ID' has invalid value")
    );
}
