//! The small global methods (spec §8).

use crate::helpers::{envelope, spawn_app};
use serde_json::json;

#[tokio::test]
async fn scope_lists_the_webhooks_scopes_or_all_with_full() {
    let app = spawn_app().await;
    let url = app.create_webhook(1, Some("crm,user"));
    let (_, body) = app.call_as(&url, "scope", json!({})).await;
    assert_eq!(body["result"], json!(["crm", "user"]));
    let (_, body) = app.call_as(&url, "scope", json!({"full": "true"})).await;
    assert!(body["result"].as_array().unwrap().len() > 2);
}

#[tokio::test]
async fn scope_with_full_lists_every_scope_code_a_portal_knows_not_only_the_grantable_ones() {
    let app = spawn_app().await;
    let url = app.create_webhook(1, Some("crm"));

    let (status, body) = app.call_as(&url, "scope", json!({"full": true})).await;

    assert_eq!(status, 200);
    assert_eq!(
        body["result"],
        json!([
            "ai_admin",
            "appform",
            "baas",
            "biconnector",
            "bizproc",
            "booking",
            "calendar",
            "calendarmobile",
            "call",
            "cashbox",
            "catalog",
            "catalogmobile",
            "configuration.import",
            "contact_center",
            "crm",
            "delivery",
            "department",
            "disk",
            "documentgenerator",
            "entity",
            "faceid",
            "forum",
            "humanresources.hcmlink",
            "iblock",
            "im",
            "im.import",
            "imbot",
            "imconnector",
            "imopenlines",
            "intranet",
            "landing",
            "landing_cloud",
            "lists",
            "log",
            "mailservice",
            "messageservice",
            "mobile",
            "notifications",
            "pay_system",
            "placement",
            "pull",
            "pull_channel",
            "rating",
            "rpa",
            "sale",
            "salescenter",
            "sign.b2e",
            "smile",
            "socialnetwork",
            "sonet_group",
            "task",
            "tasks",
            "tasks_extended",
            "tasksmobile",
            "telephony",
            "timeman",
            "user",
            "user.userfield",
            "user_basic",
            "user_brief",
            "userconsent",
            "userfieldconfig",
            "vote"
        ])
    );
    // JSON `false` and `0` are the caller's own list; the text "false" (what a form carries) is
    // PHP-truthy, so it asks for the full list, as the docs warn.
    for own in [json!(false), json!(0), json!("0")] {
        let (_, body) = app.call_as(&url, "scope", json!({ "full": own })).await;
        assert_eq!(body["result"], json!(["crm"]), "{own}");
    }
    let (_, body) = app.call_as(&url, "scope", json!({"full": "false"})).await;
    assert_eq!(body["result"].as_array().unwrap().len(), 63);
}

#[tokio::test]
async fn methods_lists_what_the_caller_may_call_by_scope() {
    let app = spawn_app().await;
    let url = app.create_webhook(1, Some("user"));
    let (_, body) = app.call_as(&url, "methods", json!({})).await;
    let names: Vec<&str> = body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(names.contains(&"batch") && names.contains(&"user.current"));
    assert!(!names.contains(&"crm.activity.binding.delete"));
    let (_, body) = app.call_as(&url, "methods", json!({"scope": "crm"})).await;
    assert!(body["result"]
        .as_array()
        .unwrap()
        .contains(&json!("crm.activity.binding.delete")));
    let (_, body) = app.call_as(&url, "methods", json!({"full": true})).await;
    assert!(body["result"]
        .as_array()
        .unwrap()
        .contains(&json!("crm.item.add")));
}

#[tokio::test]
async fn method_get_tells_existence_and_availability() {
    let app = spawn_app().await;
    let url = app.create_webhook(1, Some("user"));
    for (name, existing, available) in [
        ("crm.activity.binding.delete", true, false),
        ("CRM.ITEM.LIST", true, false),
        ("user.current", true, true),
        ("no.such", false, false),
        ("", false, false),
    ] {
        let (_, body) = app.call_as(&url, "method.get", json!({"name": name})).await;
        assert_eq!(
            body["result"],
            json!({"isExisting": existing, "isAvailable": available}),
            "{name}"
        );
    }
}

#[tokio::test]
async fn profile_and_user_current_describe_the_caller() {
    let app = spawn_app().await;
    let (_, body) = app.call("profile", json!({})).await;
    assert_eq!(body["result"]["ID"], "1");
    assert_eq!(body["result"]["ADMIN"], true);
    assert_eq!(body["result"]["NAME"], "Administrator");
    let (_, body) = app.call("user.current", json!({})).await;
    assert_eq!(body["result"]["ID"], "1");
    assert_eq!(body["result"]["ACTIVE"], true);
}

#[tokio::test]
async fn user_current_needs_the_user_scope_or_an_alternative() {
    let app = spawn_app().await;
    let crm_only = app.create_webhook(1, Some("crm"));
    let (status, body) = app.call_as(&crm_only, "user.current", json!({})).await;
    assert_eq!(
        (status, body),
        (
            401,
            envelope(
                "insufficient_scope",
                "The request requires higher privileges than provided by the webhook token"
            )
        )
    );
    let brief = app.create_webhook(1, Some("user_brief"));
    assert_eq!(app.call_as(&brief, "user.current", json!({})).await.0, 200);
}

#[tokio::test]
async fn app_info_for_a_webhook_shows_its_scopes_and_the_licence() {
    let app = spawn_app().await;
    let url = app.create_webhook(1, Some("crm"));
    let (status, body) = app.call_as(&url, "app.info", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"],
        json!({"SCOPE": ["crm"], "LICENSE": "en_ent10000"})
    );
}
