//! crm.activity.add / update / list / fields, crm.activity.communication.fields and
//! crm.activity.todo.update (spec §4): communications become bindings, COMMUNICATIONS rebuild
//! them, lists filter by owner, by BINDINGS and by the caller's read rights.

use crate::helpers::{envelope, spawn_app, TestApp};
use serde_json::{json, Value};

fn legacy(text: &str) -> (u16, Value) {
    (400, envelope("", text))
}

/// A call on `owner` whose one communication is with `contact`.
fn call_fields(owner: (i64, i64), contact: i64) -> Value {
    json!({"fields": {
        "OWNER_TYPE_ID": owner.0, "OWNER_ID": owner.1, "TYPE_ID": 2, "SUBJECT": "Call back",
        "START_TIME": "2030-01-02T10:00:00", "END_TIME": "2030-01-02T10:30:00",
        "COMMUNICATIONS": [{"VALUE": "+100", "ENTITY_TYPE_ID": 3, "ENTITY_ID": contact}]
    }})
}

#[tokio::test]
async fn activity_add_binds_the_owner_and_every_communication_entity() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    let (status, body) = app
        .call("crm.activity.add", call_fields((2, deal), contact))
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["result"]
        .as_i64()
        .expect("the new id as a JSON integer");
    assert_eq!(app.bindings(id).await, vec![(2, deal), (3, contact)]);
    let got = app.ok("crm.activity.get", json!({"id": id})).await;
    assert_eq!(got["OWNER_TYPE_ID"], "2");
    assert_eq!(got["TYPE_ID"], "2");
    assert_eq!(got["SUBJECT"], "Call back");
    assert_eq!(got["START_TIME"], "2030-01-02T10:00:00+00:00");
    assert_eq!(got["COMMUNICATIONS"][0]["VALUE"], "+100");
    assert_eq!(got["COMMUNICATIONS"][0]["TYPE"], "PHONE");
    assert_eq!(got["COMMUNICATIONS"][0]["ENTITY_ID"], contact.to_string());
}

#[tokio::test]
async fn activity_add_without_an_owner_takes_it_from_the_communications() {
    let app = spawn_app().await;
    let contact = app.new_item(3, None).await;
    let company = app.new_item(4, None).await;
    let id = app
        .ok(
            "crm.activity.add",
            json!({"fields": {"TYPE_ID": 4, "SUBJECT": "Mail", "COMMUNICATIONS": [
                {"VALUE": "a@b.c", "ENTITY_TYPE_ID": 3, "ENTITY_ID": contact},
                {"VALUE": "d@e.f", "ENTITY_TYPE_ID": 4, "ENTITY_ID": company}]}}),
        )
        .await
        .as_i64()
        .unwrap();
    assert_eq!(app.bindings(id).await, vec![(3, contact), (4, company)]);
    assert_eq!(app.owner(id).await, ("3".into(), contact.to_string()));
}

#[tokio::test]
async fn activity_add_errors_follow_the_legacy_order_and_texts() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let base = |patch: Value| {
        let mut fields = json!({"OWNER_TYPE_ID": 2, "OWNER_ID": deal, "TYPE_ID": 2, "SUBJECT": "s",
                                "COMMUNICATIONS": [{"VALUE": "+1"}]});
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                fields.as_object_mut().unwrap().remove(k);
            } else {
                fields[k] = v.clone();
            }
        }
        json!({ "fields": fields })
    };
    let cases = [
        (json!({"fields": 5}), "Parameter 'fields' must be array."),
        (
            base(json!({"TYPE_ID": null})),
            "The field TYPE_ID is not defined or invalid.",
        ),
        (
            base(json!({"TYPE_ID": 3})),
            "The activity type \"Task is not supported in current context\".",
        ),
        (
            base(json!({"COMMUNICATIONS": null})),
            "The field COMMUNICATIONS is not defined or invalid.",
        ),
        (
            base(json!({"COMMUNICATIONS": [{"VALUE": "a@b", "TYPE": "EMAIL"}]})),
            "The field COMMUNICATIONS is not defined or invalid.",
        ),
        (
            base(json!({"COMMUNICATIONS": [{"VALUE": "+1"}, {"VALUE": "+2"}]})),
            "The only one communication is allowed for activity of specified type.",
        ),
        (
            base(json!({"OWNER_ID": 99})),
            "Could not find 'DEAL' with ID: 99",
        ),
        (
            base(json!({"SUBJECT": ""})),
            "The field SUBJECT is not defined or empty",
        ),
        (
            base(json!({"START_TIME": "soon"})),
            "The value of the field \"START_TIME\" is not valid.",
        ),
    ];
    for (params, text) in cases {
        assert_eq!(
            app.call("crm.activity.add", params.clone()).await,
            legacy(text),
            "{params}"
        );
    }
    let user = app.create_user(&["deal.read=all"]);
    let url = app.create_webhook(user, None);
    assert_eq!(
        app.call_as(&url, "crm.activity.add", base(json!({}))).await,
        legacy("Access denied.")
    );
    let (_, body) = app.call("crm.activity.list", json!({})).await;
    assert_eq!(body["total"], 0, "no failed add left anything behind");
}

#[tokio::test]
async fn activity_update_with_communications_rebuilds_the_bindings() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    let other = app.new_item(3, None).await;
    let id = app
        .ok("crm.activity.add", call_fields((2, deal), contact))
        .await
        .as_i64()
        .unwrap();
    let company = app.new_item(4, None).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": id, "entityTypeId": 4, "entityId": company}),
    )
    .await;
    assert_eq!(
        app.ok(
            "crm.activity.update",
            json!({"id": id, "fields": {"SUBJECT": "Moved", "COMPLETED": "Y",
                   "COMMUNICATIONS": [{"VALUE": "+200", "ENTITY_TYPE_ID": 3, "ENTITY_ID": other}]}}),
        )
        .await,
        json!(true)
    );
    assert_eq!(
        app.bindings(id).await,
        vec![(2, deal), (3, other)],
        "owner + communications replace every other binding"
    );
    let got = app.ok("crm.activity.get", json!({"id": id})).await;
    assert_eq!(
        (&got["SUBJECT"], &got["COMPLETED"], &got["STATUS"]),
        (&json!("Moved"), &json!("Y"), &json!("2"))
    );
    app.ok(
        "crm.activity.update",
        json!({"id": id, "fields": {"DESCRIPTION": "only this"}}),
    )
    .await;
    assert_eq!(
        app.bindings(id).await,
        vec![(2, deal), (3, other)],
        "no COMMUNICATIONS, no rebuild"
    );
}

#[tokio::test]
async fn activity_update_moves_the_owner_binding_when_the_owner_changes() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let next = app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    let id = app
        .ok("crm.activity.add", call_fields((2, deal), contact))
        .await
        .as_i64()
        .unwrap();
    app.ok(
        "crm.activity.update",
        json!({"id": id, "fields": {"OWNER_ID": next}}),
    )
    .await;
    assert_eq!(app.bindings(id).await, vec![(2, next), (3, contact)]);
    assert_eq!(app.owner(id).await, ("2".into(), next.to_string()));
}

#[tokio::test]
async fn activity_update_errors_are_pinned() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let id = app.new_todo(2, deal).await;
    assert_eq!(
        app.call("crm.activity.update", json!({"fields": {}})).await,
        legacy("ID is not defined or invalid.")
    );
    assert_eq!(
        app.call("crm.activity.update", json!({"id": 99, "fields": {}}))
            .await,
        legacy("Activity is not found.")
    );
    assert_eq!(
        app.call("crm.activity.update", json!({"id": id, "fields": "x"}))
            .await,
        legacy("Parameter 'fields' must be array.")
    );
    assert_eq!(
        app.call(
            "crm.activity.update",
            json!({"id": id, "fields": {"OWNER_ID": 77}})
        )
        .await,
        legacy("Could not find 'DEAL' with ID: 77")
    );
    assert_eq!(
        app.call(
            "crm.activity.update",
            json!({"id": id, "fields": {"RESPONSIBLE_ID": 0}})
        )
        .await,
        legacy("The field RESPONSIBLE_ID is not defined or invalid.")
    );
    let user = app.create_user(&["deal.read=all"]);
    let url = app.create_webhook(user, None);
    assert_eq!(
        app.call_as(
            &url,
            "crm.activity.update",
            json!({"id": id, "fields": {"SUBJECT": "x"}})
        )
        .await,
        legacy("Access denied.")
    );
    let got = app.ok("crm.activity.get", json!({"id": id})).await;
    assert_eq!(got["SUBJECT"], "todo", "refused updates change nothing");
}

fn ids(body: &Value) -> Vec<i64> {
    body["result"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {body}"))
        .iter()
        .map(|a| a["ID"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn list_filters_by_owner_only_and_by_any_binding_with_bindings() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    let on_deal = app.new_todo(2, deal).await;
    let on_contact = app.new_todo(3, contact).await;
    let also_on_deal = app.new_todo(3, contact).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": also_on_deal, "entityTypeId": 2, "entityId": deal}),
    )
    .await;
    let (_, body) = app
        .call(
            "crm.activity.list",
            json!({"filter": {"OWNER_TYPE_ID": 3, "OWNER_ID": contact}}),
        )
        .await;
    assert_eq!(
        ids(&body),
        vec![on_contact],
        "the owner moved to the deal for the third"
    );
    let (_, body) = app
        .call(
            "crm.activity.list",
            json!({"filter": {"BINDINGS": [{"OWNER_TYPE_ID": 2, "OWNER_ID": deal}]}, "order": {"ID": "ASC"}}),
        )
        .await;
    assert_eq!(ids(&body), vec![on_deal, also_on_deal]);
    assert_eq!(body["total"], 2);
}

#[tokio::test]
async fn list_select_shows_communications_only_when_named() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    app.ok("crm.activity.add", call_fields((2, deal), contact))
        .await;
    let (_, body) = app.call("crm.activity.list", json!({})).await;
    assert!(body["result"][0].get("COMMUNICATIONS").is_none());
    assert_eq!(body["result"][0]["SUBJECT"], "Call back");
    let (_, body) = app
        .call(
            "crm.activity.list",
            json!({"select": ["SUBJECT", "COMMUNICATIONS"]}),
        )
        .await;
    let row = body["result"][0].as_object().unwrap();
    assert_eq!(
        row.keys().collect::<Vec<_>>(),
        ["ID", "SUBJECT", "COMMUNICATIONS"]
    );
    assert_eq!(row["COMMUNICATIONS"][0]["VALUE"], "+100");
}

#[tokio::test]
async fn list_shows_only_activities_bound_to_items_the_caller_may_read() {
    let app = spawn_app().await;
    let user = app.create_user(&["deal.read=own", "contact.read=all"]);
    let mine = app.new_item(2, Some(user)).await;
    let theirs = app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    let a = app.new_todo(2, mine).await;
    app.new_todo(2, theirs).await;
    let c = app.new_todo(3, contact).await;
    let url = app.create_webhook(user, None);
    let (status, body) = app
        .call_as(&url, "crm.activity.list", json!({"order": {"ID": "ASC"}}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), vec![a, c]);
    assert_eq!(body["total"], 2);
}

#[tokio::test]
async fn list_default_order_is_start_time_and_bad_keys_are_refused() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    for day in ["2030-01-03", "2030-01-01", "2030-01-02"] {
        app.ok(
            "crm.activity.todo.add",
            json!({"ownerTypeId": 2, "ownerId": deal, "deadline": format!("{day}T10:00:00")}),
        )
        .await;
    }
    let (_, body) = app.call("crm.activity.list", json!({})).await;
    assert_eq!(ids(&body), vec![2, 3, 1]);
    let (_, body) = app
        .call(
            "crm.activity.list",
            json!({"filter": {">=DEADLINE": "2030-01-02T00:00:00"}, "order": {"DEADLINE": "DESC"}}),
        )
        .await;
    assert_eq!(ids(&body), vec![1, 3]);
    // A field activities do not have is dropped from the filter, as the CRM drops it (spec §12).
    let (status, body) = app
        .call(
            "crm.activity.list",
            json!({"filter": {"NOPE": 1, "<>SUBJECT": "x"}}),
        )
        .await;
    assert_eq!((status, ids(&body)), (200, vec![2, 3, 1]));
    assert_eq!(
        app.call("crm.activity.list", json!({"order": {"SUBJECT": "sideways"}})).await,
        legacy("Invalid order: allowed sort directions are ASC, DESC. But got 'sideways' for field 'SUBJECT'")
    );
    assert_eq!(
        app.call("crm.activity.list", json!({"filter": "x"})).await,
        legacy("Parameter 'filter' must be array.")
    );
}

async fn seed_todos(app: &TestApp, n: usize) -> i64 {
    let deal = app.new_item(2, None).await;
    for _ in 0..n {
        app.new_todo(2, deal).await;
    }
    deal
}

#[tokio::test]
async fn list_pages_with_start_and_next_see_every_activity_once() {
    let app = spawn_app().await;
    seed_todos(&app, 125).await;
    let mut seen: Vec<i64> = Vec::new();
    let mut start = Some(0);
    while let Some(s) = start {
        let (status, body) = app
            .call(
                "crm.activity.list",
                json!({"start": s, "order": {"ID": "ASC"}}),
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(body["total"], 125);
        seen.extend(ids(&body));
        start = body.get("next").and_then(Value::as_i64);
    }
    assert_eq!(seen, (1..=125).collect::<Vec<_>>());
}

#[tokio::test]
async fn list_pages_with_start_minus_one_and_an_id_cursor_see_every_activity_once() {
    let app = spawn_app().await;
    let deal = seed_todos(&app, 120).await;
    let mut seen: Vec<i64> = Vec::new();
    let mut last = 0;
    loop {
        let (status, body) = app
            .call(
                "crm.activity.list",
                json!({"start": -1, "order": {"ID": "ASC"},
                       "filter": {">ID": last, "OWNER_TYPE_ID": 2, "OWNER_ID": deal}}),
            )
            .await;
        assert_eq!(status, 200);
        assert!(body.get("total").is_none() && body.get("next").is_none());
        let page = ids(&body);
        seen.extend(&page);
        if page.len() < 50 {
            break;
        }
        last = *page.last().unwrap();
    }
    assert_eq!(seen, (1..=120).collect::<Vec<_>>());
}

#[tokio::test]
async fn fields_methods_describe_activities_and_communications() {
    let app = spawn_app().await;
    let fields = app.ok("crm.activity.fields", json!({})).await;
    assert_eq!(
        fields["BINDINGS"],
        json!({"type": "crm_activity_binding", "isRequired": false, "isReadOnly": true,
               "isImmutable": false, "isMultiple": true, "isDynamic": false, "title": "Bindings"})
    );
    assert_eq!(fields["COMMUNICATIONS"]["isRequired"], true);
    assert_eq!(fields["TYPE_ID"]["isImmutable"], true);
    let comm = app.ok("crm.activity.communication.fields", json!({})).await;
    let keys: Vec<&String> = comm.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "ID",
            "ACTIVITY_ID",
            "ENTITY_ID",
            "ENTITY_TYPE_ID",
            "TYPE",
            "VALUE"
        ]
    );
    assert_eq!(comm["ID"]["isReadOnly"], true);
}

#[tokio::test]
async fn todo_update_changes_the_todo_and_returns_its_id() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let id = app.new_todo(2, deal).await;
    let result = app
        .ok(
            "crm.activity.todo.update",
            json!({"id": id, "ownerTypeId": 2, "ownerId": deal, "deadline": "2031-05-06T07:08:09+02:00", "title": "Renamed"}),
        )
        .await;
    assert_eq!(result, json!({"id": id}));
    let got = app.ok("crm.activity.get", json!({"id": id})).await;
    assert_eq!(got["SUBJECT"], "Renamed");
    assert_eq!(got["DEADLINE"], "2031-05-06T05:08:09+00:00");
}

#[tokio::test]
async fn todo_update_errors_are_pinned() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let other = app.new_item(2, None).await;
    let id = app.new_todo(2, deal).await;
    let p = |id: i64, owner: i64, deadline: &str| json!({"id": id, "ownerTypeId": 2, "ownerId": owner, "deadline": deadline});
    let cases = [
        (
            json!({"ownerTypeId": 2, "ownerId": deal, "deadline": "2030-01-01T00:00:00"}),
            envelope("100", "Could not find value for parameter {id}"),
        ),
        (
            p(id, deal, "later"),
            envelope("WRONG_DATETIME_FORMAT", "Wrong datetime format"),
        ),
        (
            p(99, deal, "2030-01-01T00:00:00"),
            envelope("NOT_FOUND", "Not found."),
        ),
        (
            p(id, other, "2030-01-01T00:00:00"),
            envelope("NOT_FOUND", "Not found."),
        ),
    ];
    for (params, expected) in cases {
        assert_eq!(
            app.call("crm.activity.todo.update", params.clone()).await,
            (400, expected),
            "{params}"
        );
    }
    app.ok("crm.item.delete", json!({"entityTypeId": 2, "id": deal}))
        .await;
    assert_eq!(
        app.call(
            "crm.activity.todo.update",
            p(id, deal, "2030-01-01T00:00:00")
        )
        .await,
        (400, envelope("OWNER_NOT_FOUND", "Owner was not found"))
    );
    let live = app.new_todo(2, other).await;
    let user = app.create_user(&["deal.read=all"]);
    let url = app.create_webhook(user, None);
    assert_eq!(
        app.call_as(
            &url,
            "crm.activity.todo.update",
            p(live, other, "2030-01-01T00:00:00")
        )
        .await,
        (400, envelope("ACCESS_DENIED", "Access denied."))
    );
    app.ok(
        "crm.activity.update",
        json!({"id": live, "fields": {"COMPLETED": "Y"}}),
    )
    .await;
    assert_eq!(
        app.call(
            "crm.activity.todo.update",
            p(live, other, "2030-01-01T00:00:00")
        )
        .await,
        (
            400,
            envelope(
                "CAN_NOT_UPDATE_COMPLETED_TODO",
                "Completed activity cannot be modified"
            )
        )
    );
}

#[tokio::test]
async fn a_deleted_items_binding_stays_deletable_and_other_bindings_stay_intact() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    let id = app
        .ok("crm.activity.add", call_fields((2, deal), contact))
        .await
        .as_i64()
        .unwrap();
    assert_eq!(
        app.ok("crm.deal.delete", json!({"id": deal})).await,
        json!(true)
    );
    assert_eq!(app.bindings(id).await, vec![(2, deal), (3, contact)]);
    app.ok(
        "crm.activity.binding.delete",
        json!({"activityId": id, "entityTypeId": 2, "entityId": deal}),
    )
    .await;
    assert_eq!(app.bindings(id).await, vec![(3, contact)]);
    assert_eq!(app.owner(id).await, ("3".into(), contact.to_string()));
}

#[tokio::test]
async fn activity_update_validates_like_add() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    let id = app
        .ok("crm.activity.add", call_fields((2, deal), contact))
        .await
        .as_i64()
        .unwrap();
    let cases = [
        (
            json!({"SUBJECT": ""}),
            "The field SUBJECT is not defined or empty",
        ),
        (
            json!({"DEADLINE": "whenever"}),
            "The value of the field \"DEADLINE\" is not valid.",
        ),
        (
            json!({"COMMUNICATIONS": []}),
            "The field COMMUNICATIONS is not defined or invalid.",
        ),
        (
            json!({"COMMUNICATIONS": [{"VALUE": "+1"}, {"VALUE": "+2", "ENTITY_TYPE_ID": 3, "ENTITY_ID": contact}]}),
            "The only one communication is allowed for activity of specified type.",
        ),
        (
            json!({"COMMUNICATIONS": [{"VALUE": "+1", "ENTITY_TYPE_ID": 3, "ENTITY_ID": 404}]}),
            "Could not find 'CONTACT' with ID: 404",
        ),
    ];
    for (fields, text) in cases {
        assert_eq!(
            app.call("crm.activity.update", json!({"id": id, "fields": fields}))
                .await,
            legacy(text),
            "{fields}"
        );
    }
    assert_eq!(
        app.bindings(id).await,
        vec![(2, deal), (3, contact)],
        "nothing changed"
    );
}

#[tokio::test]
async fn activity_delete_and_list_refuse_bad_parameters() {
    let app = spawn_app().await;
    assert_eq!(
        app.call("crm.activity.delete", json!({"id": "abc"})).await,
        legacy("ID is not defined or invalid.")
    );
    assert_eq!(
        app.call("crm.activity.list", json!({"order": {"NOPE": "ASC"}}))
            .await,
        legacy("Invalid order: field 'NOPE' is not allowed in order")
    );
    assert_eq!(
        app.call("crm.activity.list", json!({"filter": {"BINDINGS": "x"}}))
            .await,
        legacy("Invalid filter: field 'BINDINGS' has invalid value")
    );
    assert_eq!(
        app.call("crm.activity.list", json!({"filter": {">ID": "x"}}))
            .await,
        legacy("Invalid filter: field 'ID' has invalid value")
    );
}

#[tokio::test]
async fn todo_methods_refuse_an_unknown_responsible_user() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let id = app.new_todo(2, deal).await;
    let unknown = envelope(
        "CRM_FIELD_ERROR_VALUE_NOT_VALID",
        "User with ID 404 not found",
    );
    assert_eq!(
        app.call(
            "crm.activity.todo.add",
            json!({"ownerTypeId": 2, "ownerId": deal, "deadline": "2030-01-01T00:00:00", "responsibleId": 404})
        )
        .await,
        (400, unknown.clone())
    );
    assert_eq!(
        app.call(
            "crm.activity.todo.update",
            json!({"id": id, "ownerTypeId": 2, "ownerId": deal, "deadline": "2030-01-01T00:00:00", "responsibleId": 404})
        )
        .await,
        (400, unknown)
    );
}
