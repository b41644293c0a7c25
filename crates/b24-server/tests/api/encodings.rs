//! One scenario — create a deal and a contact, add a to-do, bind, list, move, delete — driven three
//! ways: JSON POST, form POST with PHP keys, and GET query strings with raw and percent-encoded
//! brackets. All three must see the same answers.

use crate::helpers::{spawn_app, TestApp};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug)]
enum Encoding {
    JsonPost,
    FormPost,
    GetRawBrackets,
    GetEncodedBrackets,
}

/// Encodes one call as the encoding dictates; `form` is the PHP-style `k=v&…` form of `json`.
async fn call(app: &TestApp, encoding: Encoding, method: &str, json: Value, form: &str) -> Value {
    let (status, body) = match encoding {
        Encoding::JsonPost => app.call(method, json).await,
        Encoding::FormPost => {
            app.post_form(&format!("{}{method}", app.admin_url), form)
                .await
        }
        Encoding::GetRawBrackets => app.get(&format!("{}{method}?{form}", app.admin_url)).await,
        Encoding::GetEncodedBrackets => {
            let encoded = form.replace('[', "%5B").replace(']', "%5D");
            app.get(&format!("{}{method}.json?{encoded}", app.admin_url))
                .await
        }
    };
    assert_eq!(status, 200, "{encoding:?} {method}: {body}");
    body["result"].clone()
}

async fn scenario(encoding: Encoding) {
    let app = spawn_app().await;
    let deal = call(
        &app,
        encoding,
        "crm.item.add",
        json!({"entityTypeId": 2, "fields": {"title": "Big deal", "opportunity": 100}}),
        "entityTypeId=2&fields[title]=Big+deal&fields[opportunity]=100",
    )
    .await;
    assert_eq!(deal["item"]["title"], "Big deal", "{encoding:?}");
    let contact = call(
        &app,
        encoding,
        "crm.item.add",
        json!({"entityTypeId": 3, "fields": {"name": "Ann Lee", "contactIds": []}}),
        "entityTypeId=3&fields[name]=Ann%20Lee",
    )
    .await;
    assert_eq!(contact["item"]["name"], "Ann Lee", "{encoding:?}");
    let other_deal = call(
        &app,
        encoding,
        "crm.item.add",
        json!({"entityTypeId": 2, "fields": {}}),
        "entityTypeId=2&fields[]=",
    )
    .await;
    let (deal, contact, other_deal) = (
        deal["item"]["id"].as_i64().unwrap(),
        contact["item"]["id"].as_i64().unwrap(),
        other_deal["item"]["id"].as_i64().unwrap(),
    );
    let todo = call(
        &app,
        encoding,
        "crm.activity.todo.add",
        json!({"ownerTypeId": 2, "ownerId": deal, "deadline": "2030-05-01T10:00:00", "title": "Call back"}),
        &format!("ownerTypeId=2&ownerId={deal}&deadline=2030-05-01T10:00:00&title=Call+back"),
    )
    .await;
    let activity = todo["id"].as_i64().unwrap();

    let added = call(
        &app,
        encoding,
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": 3, "entityId": contact}),
        &format!("activityId={activity}&entityTypeId=3&entityId={contact}"),
    )
    .await;
    assert_eq!(added, json!(true));
    let moved = call(
        &app,
        encoding,
        "crm.activity.binding.move",
        json!({"activityId": activity, "sourceEntityTypeId": 2, "sourceEntityId": deal, "targetEntityTypeId": 2, "targetEntityId": other_deal}),
        &format!("activityId={activity}&sourceEntityTypeId=2&sourceEntityId={deal}&targetEntityTypeId=2&targetEntityId={other_deal}"),
    )
    .await;
    assert_eq!(moved, json!(true));
    let deleted = call(
        &app,
        encoding,
        "crm.activity.binding.delete",
        json!({"activityId": activity, "entityTypeId": 3, "entityId": contact}),
        &format!("activityId={activity}&entityTypeId=3&entityId={contact}"),
    )
    .await;
    assert_eq!(deleted, json!(true));
    let list = call(
        &app,
        encoding,
        "crm.activity.binding.list",
        json!({"activityId": activity}),
        &format!("activityId={activity}"),
    )
    .await;
    assert_eq!(
        list,
        json!([{"entityTypeId": 2, "entityId": other_deal}]),
        "{encoding:?}"
    );
}

#[tokio::test]
async fn the_scenario_passes_with_json_post() {
    scenario(Encoding::JsonPost).await;
}

#[tokio::test]
async fn the_scenario_passes_with_form_post() {
    scenario(Encoding::FormPost).await;
}

#[tokio::test]
async fn the_scenario_passes_with_get_and_raw_brackets() {
    scenario(Encoding::GetRawBrackets).await;
}

#[tokio::test]
async fn the_scenario_passes_with_get_and_percent_encoded_brackets() {
    scenario(Encoding::GetEncodedBrackets).await;
}
