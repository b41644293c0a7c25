//! Hostile input to the CRM methods: wrong types, nesting where scalars belong, huge lists and
//! numbers. Every case is a Bitrix-shaped 4xx and leaves the data as it was.

use crate::helpers::spawn_app;
use serde_json::{json, Value};

#[tokio::test]
async fn malformed_crm_parameters_are_4xx_and_change_nothing() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let activity = app.new_todo(2, deal).await;
    let huge: Vec<i64> = (0..20_000).collect();
    let nested = json!({"a": {"b": {"c": [1, {"d": 2}]}}});
    let cases: Vec<(&str, Value)> = vec![
        (
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": "title"}),
        ),
        (
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": nested, "opportunity": "1e999"}}),
        ),
        ("crm.item.add", json!({"entityTypeId": [2], "fields": {}})),
        (
            "crm.item.add",
            json!({"entityTypeId": "99999999999999999999", "fields": {}}),
        ),
        (
            "crm.item.update",
            json!({"entityTypeId": 2, "id": deal, "fields": {"assignedById": nested}}),
        ),
        (
            "crm.item.update",
            json!({"entityTypeId": 2, "id": deal, "fields": {"contactIds": [nested]}}),
        ),
        (
            "crm.item.list",
            json!({"entityTypeId": 2, "filter": {">id": nested}}),
        ),
        (
            "crm.item.list",
            json!({"entityTypeId": 2, "filter": {"@id": huge}}),
        ),
        (
            "crm.item.list",
            json!({"entityTypeId": 2, "filter": {"0": "not a group"}}),
        ),
        (
            "crm.item.list",
            json!({"entityTypeId": 2, "filter": {"%title": nested}}),
        ),
        (
            "crm.item.list",
            json!({"entityTypeId": 2, "filter": {"contactIds": 1}}),
        ),
        ("crm.item.list", json!({"entityTypeId": 2, "order": "id"})),
        (
            "crm.item.list",
            json!({"entityTypeId": 2, "order": {"id": nested}}),
        ),
        (
            "crm.type.add",
            json!({"fields": {"title": "T", "entityTypeId": nested}}),
        ),
        ("crm.type.update", json!({"id": nested, "fields": {}})),
        ("crm.deal.add", json!({"fields": [1, 2, 3]})),
        (
            "crm.deal.update",
            json!({"id": deal, "fields": {"CATEGORY_ID": nested}}),
        ),
        ("crm.deal.list", json!({"filter": {"@ID": huge}})),
        ("crm.deal.list", json!({"order": {"ID": 5}})),
        ("crm.contact.get", json!({"id": nested})),
        (
            "crm.activity.add",
            json!({"fields": {"TYPE_ID": nested, "COMMUNICATIONS": "x"}}),
        ),
        (
            "crm.activity.add",
            json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal, "TYPE_ID": 2, "SUBJECT": nested, "COMMUNICATIONS": [{"VALUE": nested}]}}),
        ),
        (
            "crm.activity.update",
            json!({"id": activity, "fields": {"PRIORITY": nested}}),
        ),
        (
            "crm.activity.update",
            json!({"id": activity, "fields": {"COMMUNICATIONS": [[1], "x", 5]}}),
        ),
        ("crm.activity.list", json!({"filter": {"BINDINGS": [1, 2]}})),
        (
            "crm.activity.list",
            json!({"filter": {"COMMUNICATIONS": "x"}}),
        ),
        ("crm.activity.list", json!({"filter": {"@ID": huge}})),
        (
            "crm.activity.todo.update",
            json!({"id": activity, "ownerTypeId": 2, "ownerId": deal, "deadline": nested}),
        ),
    ];
    for (method, params) in &cases {
        let (status, body) = app.call(method, params.clone()).await;
        assert!(
            (400..500).contains(&status),
            "{method} {params} answered {status}: {body}"
        );
        assert!(body["error"].is_string(), "{method}: {body}");
    }
    let (_, items) = app.call("crm.item.list", json!({"entityTypeId": 2})).await;
    assert_eq!(items["total"], 1);
    assert_eq!(items["result"]["items"][0]["title"], "item");
    let (_, activities) = app.call("crm.activity.list", json!({})).await;
    assert_eq!(activities["total"], 1);
    assert_eq!(activities["result"][0]["SUBJECT"], "todo");
    assert_eq!(app.bindings(activity).await, vec![(2, deal)]);
}

/// A NUL character in text: SQLite stores it and reads it back; PostgreSQL text cannot hold it,
/// so there it is refused as the caller's input (400, nothing stored), never a 500.
#[tokio::test]
async fn text_with_a_nul_character_round_trips_on_sqlite_and_is_refused_on_postgres() {
    let app = crate::helpers::spawn_app().await;
    let title = "a\u{0}b";
    let refused = || {
        (
            400,
            crate::helpers::envelope(
                "INVALID_ARG_VALUE",
                "Invalid argument value: text cannot contain the NUL character",
            ),
        )
    };
    for fields in [
        serde_json::json!({"title": title}),
        serde_json::json!({"title": "t", "comments": title}),
    ] {
        let (status, body) = app
            .call(
                "crm.item.add",
                serde_json::json!({"entityTypeId": 2, "fields": fields}),
            )
            .await;
        if app.database_url.is_some() {
            assert_eq!((status, body), refused());
            continue;
        }
        assert_eq!(status, 200, "{body}");
        let id = body["result"]["item"]["id"].as_i64().unwrap();
        let item = app
            .ok(
                "crm.item.get",
                serde_json::json!({"entityTypeId": 2, "id": id}),
            )
            .await;
        assert_eq!(item["item"]["title"], fields["title"]);
    }
    let (status, body) = app
        .call(
            "crm.item.list",
            serde_json::json!({"entityTypeId": 2, "filter": {"title": title}}),
        )
        .await;
    if app.database_url.is_some() {
        assert_eq!((status, body), refused());
        let (_, all) = app
            .call("crm.item.list", serde_json::json!({"entityTypeId": 2}))
            .await;
        assert_eq!(all["total"], 0, "nothing was stored: {all}");
    } else {
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["result"]["items"].as_array().unwrap().len(),
            1,
            "{body}"
        );
    }
}
