//! crm.enum.*: the CRM's enumerations (docs: api-reference/crm/auxiliary/enum/).

use crate::helpers::{envelope, spawn_app};
use serde_json::{json, Value};

fn row(id: i64, name: &str) -> Value {
    json!({"ID": id, "NAME": name, "SYMBOL_CODE": null, "SYMBOL_CODE_SHORT": null})
}

#[tokio::test]
async fn every_fixed_enumeration_answers_its_rows_in_the_documented_order() {
    let app = spawn_app().await;
    let cases: &[(&str, &[(i64, &str)])] = &[
        (
            "crm.enum.activitytype",
            &[
                (0, ""),
                (1, "Meeting"),
                (2, "Call"),
                (3, "Task"),
                (4, "E-mail"),
                (5, "Action"),
                (6, "UserAction"),
            ],
        ),
        (
            "crm.enum.activitystatus",
            &[
                (0, ""),
                (1, "Pending"),
                (2, "Completed"),
                (3, "AutomaticallyCompleted"),
            ],
        ),
        (
            "crm.enum.activitydirection",
            &[(0, ""), (1, "Incoming"), (2, "Outgoing")],
        ),
        (
            "crm.enum.activitypriority",
            &[(0, ""), (1, "low"), (2, "medium"), (3, "high")],
        ),
        (
            "crm.enum.activitynotifytype",
            &[(0, ""), (1, "min."), (2, "h."), (3, "d.")],
        ),
        (
            "crm.enum.contenttype",
            &[(0, ""), (1, "Plaintext"), (2, "bbCode"), (3, "HTML")],
        ),
        (
            "crm.enum.addresstype",
            &[
                (11, "Shipping address"),
                (1, "Physical address"),
                (6, "Legal address"),
                (4, "Registered address"),
                (8, "Mailing address"),
                (9, "Beneficiary address"),
            ],
        ),
        (
            "crm.enum.settings.mode",
            &[(1, "Classic CRM"), (2, "Simple CRM")],
        ),
    ];
    for (method, rows) in cases {
        let expected: Vec<Value> = rows.iter().map(|(id, name)| row(*id, name)).collect();
        assert_eq!(app.ok(method, json!({})).await, json!(expected), "{method}");
    }
}

#[tokio::test]
async fn ownertype_lists_the_fixed_types_then_the_portals_smart_processes() {
    let app = spawn_app().await;
    app.ok(
        "crm.type.add",
        json!({"fields": {"title": "Purchase", "entityTypeId": 156}}),
    )
    .await;
    app.ok(
        "crm.type.add",
        json!({"fields": {"title": "Equipment", "entityTypeId": 177}}),
    )
    .await;
    let owner = |id: i64, name: &str, code: &str, short: &str| json!({"ID": id, "NAME": name, "SYMBOL_CODE": code, "SYMBOL_CODE_SHORT": short});
    let expected = json!([
        owner(1, "Lead", "LEAD", "L"),
        owner(2, "Deal", "DEAL", "D"),
        owner(3, "Contact", "CONTACT", "C"),
        owner(4, "Company", "COMPANY", "CO"),
        owner(5, "Invoice (old version)", "INVOICE", "I"),
        owner(31, "Invoice", "SMART_INVOICE", "SI"),
        owner(7, "Quote", "QUOTE", "Q"),
        owner(8, "Billing Details", "REQUISITE", "RQ"),
        owner(156, "Purchase", "DYNAMIC_156", "T9c"),
        owner(177, "Equipment", "DYNAMIC_177", "Tb1"),
    ]);
    assert_eq!(app.ok("crm.enum.ownertype", json!({})).await, expected);
    // A deleted smart process is no longer a type.
    app.ok("crm.type.delete", json!({"id": 1})).await;
    let after = app.ok("crm.enum.ownertype", json!({})).await;
    assert_eq!(after.as_array().unwrap().len(), 9);
    assert_eq!(after[8]["ID"], 177);
}

#[tokio::test]
async fn fields_describes_the_four_item_fields_read_only() {
    let app = spawn_app().await;
    let fields = app.ok("crm.enum.fields", json!({})).await;
    let keys: Vec<&String> = fields.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["ID", "NAME", "SYMBOL_CODE", "SYMBOL_CODE_SHORT"]);
    assert_eq!(
        fields["SYMBOL_CODE_SHORT"],
        json!({"type": "string", "isRequired": false, "isReadOnly": true, "isImmutable": false,
               "isMultiple": false, "isDynamic": false, "title": "Short symbol code"})
    );
    assert_eq!(fields["ID"]["type"], "int");
}

#[tokio::test]
async fn getorderownertypes_offers_the_deal_only() {
    let app = spawn_app().await;
    assert_eq!(
        app.ok("crm.enum.getorderownertypes", json!({})).await,
        json!([{"attribute": "DYN", "code": "DEAL", "id": 2, "name": "Deal"}])
    );
}

#[tokio::test]
async fn enumerations_need_the_crm_scope_and_run_in_batch() {
    let app = spawn_app().await;
    let user = app.create_user(&[]);
    let without_crm = app.create_webhook(user, Some("user"));
    let (status, body) = app
        .call_as(&without_crm, "crm.enum.ownertype", json!({}))
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        body,
        envelope(
            "insufficient_scope",
            "The request requires higher privileges than provided by the webhook token"
        )
    );
    let batch = app
        .ok(
            "batch",
            json!({"cmd": {"a": "crm.enum.activitystatus", "b": "crm.enum.fields", "c": "crm.enum.nope"}}),
        )
        .await;
    assert_eq!(batch["result"]["a"][1], row(1, "Pending"));
    assert_eq!(batch["result"]["b"]["NAME"]["title"], "Name");
    assert_eq!(
        batch["result_error"]["c"]["error"],
        "ERROR_METHOD_NOT_FOUND"
    );
    let methods = app.ok("methods", json!({"scope": "crm"})).await;
    assert!(methods
        .as_array()
        .unwrap()
        .contains(&json!("crm.enum.settings.mode")));
}
