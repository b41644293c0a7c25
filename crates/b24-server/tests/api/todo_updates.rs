//! The rest of the activity section: `crm.activity.todo.updateDeadline / updateDescription /
//! updateResponsibleUser / updateColor` (D7: codes, HTTP 400, `{"id": N}`) and an application's
//! custom activity types, `crm.activity.type.add / list / delete`.

use crate::helpers::{envelope, read, spawn_app, TestApp};
use serde_json::{json, Value};

const DEAL: i64 = 2;

fn d7(code: &str, text: &str) -> (u16, Value) {
    (400, envelope(code, text))
}

/// An administrator's webhook call reading back the to-do.
async fn todo(app: &TestApp, id: i64) -> Value {
    app.ok("crm.activity.get", json!({"id": id})).await
}

#[tokio::test]
async fn each_update_changes_its_one_value_and_answers_the_id() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let id = app.new_todo(DEAL, deal).await;
    let other_user = app.create_user(&["deal.read=all"]);
    let owner = json!({"id": id, "ownerTypeId": DEAL, "ownerId": deal});
    let with = |key: &str, value: Value| {
        let mut params = owner.clone();
        params[key] = value;
        params
    };

    assert_eq!(
        app.ok(
            "crm.activity.todo.updateDeadline",
            with("value", json!("2031-05-06T07:08:09+00:00"))
        )
        .await,
        json!({"id": id})
    );
    let got = todo(&app, id).await;
    assert!(
        got["DEADLINE"].as_str().unwrap().starts_with("2031-05-06T"),
        "{got}"
    );
    assert_eq!(got["START_TIME"], got["DEADLINE"]);

    assert_eq!(
        app.ok(
            "crm.activity.todo.updateDescription",
            with("value", json!("Bring the contract"))
        )
        .await,
        json!({"id": id})
    );
    assert_eq!(todo(&app, id).await["DESCRIPTION"], "Bring the contract");

    assert_eq!(
        app.ok(
            "CRM.Activity.Todo.UpdateResponsibleUser",
            with("responsibleId", json!(other_user))
        )
        .await,
        json!({"id": id})
    );
    assert_eq!(
        todo(&app, id).await["RESPONSIBLE_ID"],
        json!(other_user.to_string())
    );

    assert_eq!(
        app.ok("crm.activity.todo.updateColor", with("colorId", json!(3)))
            .await,
        json!({"id": id})
    );
}

#[tokio::test]
async fn update_errors_are_pinned_and_change_nothing() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let other = app.new_item(DEAL, None).await;
    let id = app.new_todo(DEAL, deal).await;
    let before = todo(&app, id).await;
    let p = |id: i64, owner: i64, key: &str, value: Value| {
        let mut params = json!({"id": id, "ownerTypeId": DEAL, "ownerId": owner});
        params[key] = value;
        params
    };
    let cases = [
        (
            "crm.activity.todo.updateDeadline",
            json!({"ownerTypeId": DEAL, "ownerId": deal, "value": "2030-01-01T00:00:00"}),
            d7("100", "Could not find value for parameter {id}"),
        ),
        (
            "crm.activity.todo.updateDeadline",
            json!({"id": id, "ownerId": deal, "value": "2030-01-01T00:00:00"}),
            d7("100", "Could not find value for parameter {ownerTypeId}"),
        ),
        (
            "crm.activity.todo.updateDeadline",
            json!({"id": id, "ownerTypeId": DEAL, "ownerId": deal}),
            d7("100", "Could not find value for parameter {value}"),
        ),
        (
            "crm.activity.todo.updateDeadline",
            p(id, deal, "value", json!("tomorrow")),
            d7("WRONG_DATETIME_FORMAT", "Wrong datetime format"),
        ),
        (
            "crm.activity.todo.updateDescription",
            p(99, deal, "value", json!("x")),
            d7("NOT_FOUND", "Not found."),
        ),
        (
            "crm.activity.todo.updateDescription",
            p(id, other, "value", json!("x")),
            d7("NOT_FOUND", "Not found."),
        ),
        (
            "crm.activity.todo.updateResponsibleUser",
            p(id, deal, "responsibleId", json!(404)),
            d7("CRM_FIELD_ERROR_VALUE_NOT_VALID", "User with ID 404 not found"),
        ),
        (
            "crm.activity.todo.updateResponsibleUser",
            p(id, deal, "responsibleId", json!("x")),
            d7(
                "100",
                "Invalid value {x} to match with parameter {responsibleId}. Should be value of type int.",
            ),
        ),
        (
            "crm.activity.todo.updateColor",
            p(id, deal, "colorId", json!(8)),
            d7("CAN_NOT_UPDATE_WRONG_COLOR_TODO", "Wrong color"),
        ),
        (
            "crm.activity.todo.updateColor",
            p(id, deal, "colorId", json!(0)),
            d7("CAN_NOT_UPDATE_WRONG_COLOR_TODO", "Wrong color"),
        ),
    ];
    for (method, params, expected) in cases {
        assert_eq!(
            app.call(method, params.clone()).await,
            expected,
            "{method} {params}"
        );
    }
    assert_eq!(todo(&app, id).await, before);

    // An owner that is gone, a user without the update right, a completed to-do.
    let gone = app.new_item(DEAL, None).await;
    let on_gone = app.new_todo(DEAL, gone).await;
    app.ok("crm.deal.delete", json!({"id": gone})).await;
    assert_eq!(
        app.call(
            "crm.activity.todo.updateDescription",
            p(on_gone, gone, "value", json!("x"))
        )
        .await,
        d7("OWNER_NOT_FOUND", "Owner was not found")
    );
    let reader = app.create_user(&["deal.read=all"]);
    let reader = app.create_webhook(reader, Some("crm"));
    for (method, key, value) in [
        (
            "crm.activity.todo.updateDeadline",
            "value",
            json!("2030-01-01T00:00:00"),
        ),
        ("crm.activity.todo.updateDescription", "value", json!("x")),
        (
            "crm.activity.todo.updateResponsibleUser",
            "responsibleId",
            json!(1),
        ),
        ("crm.activity.todo.updateColor", "colorId", json!(2)),
    ] {
        assert_eq!(
            app.call_as(&reader, method, p(id, deal, key, value)).await,
            d7("ACCESS_DENIED", "Access denied."),
            "{method}"
        );
    }
    app.ok(
        "crm.activity.update",
        json!({"id": id, "fields": {"COMPLETED": "Y"}}),
    )
    .await;
    assert_eq!(
        app.call(
            "crm.activity.todo.updateDeadline",
            p(id, deal, "value", json!("2030-01-01T00:00:00"))
        )
        .await,
        d7(
            "CAN_NOT_UPDATE_COMPLETED_TODO",
            "Completed activity cannot be modified"
        )
    );
    assert_eq!(
        app.call(
            "crm.activity.todo.updateColor",
            p(id, deal, "colorId", json!(2))
        )
        .await,
        d7(
            "CAN_NOT_UPDATE_COLOR_COMPLETED_TODO",
            "Cannot change the color of a completed activity"
        )
    );
}

#[tokio::test]
async fn todo_updates_run_inside_batch() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let id = app.new_todo(DEAL, deal).await;
    let batch = app
        .ok(
            "batch",
            json!({"halt": 0, "cmd": {
                "d": format!("crm.activity.todo.updateDescription?id={id}&ownerTypeId=2&ownerId={deal}&value=batched"),
                "c": format!("crm.activity.todo.updateColor?id={id}&ownerTypeId=2&ownerId={deal}&colorId=9"),
            }}),
        )
        .await;
    assert_eq!(batch["result"]["d"], json!({"id": id}));
    assert_eq!(
        batch["result_error"]["c"],
        envelope("CAN_NOT_UPDATE_WRONG_COLOR_TODO", "Wrong color")
    );
    assert_eq!(todo(&app, id).await["DESCRIPTION"], "batched");
}

/// An application's OAuth call.
async fn app_call(app: &TestApp, token: &str, method: &str, mut params: Value) -> (u16, Value) {
    params["auth"] = json!(token);
    let response = app
        .client
        .post(format!("{}/rest/{method}", app.base))
        .json(&params)
        .send()
        .await
        .unwrap();
    read(response).await
}

async fn app_token(app: &TestApp, user: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let installed = app.install_app("crm", user, now).await;
    installed.tokens["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_application_adds_lists_and_deletes_its_activity_types() {
    let app = spawn_app().await;
    let token = app_token(&app, 1).await;
    let other = app_token(&app, 1).await;
    let add = |fields: Value| {
        let token = token.clone();
        let app = &app;
        async move {
            app_call(
                app,
                &token,
                "crm.activity.type.add",
                json!({"fields": fields}),
            )
            .await
        }
    };
    let (status, body) = add(
        json!({"TYPE_ID": "QUICKBOOKS", "NAME": "QuickBooks activity",
                                   "IS_CONFIGURABLE_TYPE": "Y"}),
    )
    .await;
    assert_eq!((status, body["result"].clone()), (200, json!(true)));
    add(json!({"TYPE_ID": "PLAIN"})).await;
    let (_, listed) = app_call(&app, &token, "crm.activity.type.list", json!({})).await;
    assert_eq!(
        listed["result"],
        json!([
            {"TYPE_ID": "PLAIN", "NAME": "", "IS_CONFIGURABLE_TYPE": "N", "ICON_ID": "0"},
            {"TYPE_ID": "QUICKBOOKS", "NAME": "QuickBooks activity", "IS_CONFIGURABLE_TYPE": "Y", "ICON_ID": "0"},
        ])
    );
    // Another application sees only its own.
    let (_, theirs) = app_call(&app, &other, "crm.activity.type.list", json!({})).await;
    assert_eq!(theirs["result"], json!([]));

    assert_eq!(
        add(json!({"TYPE_ID": "QUICKBOOKS"})).await,
        d7(
            "INVALID_ARG_VALUE",
            "Activity type with TYPE_ID \"QUICKBOOKS\" already exists."
        )
    );
    assert_eq!(
        add(json!({"NAME": "no id"})).await,
        d7("INVALID_ARG_VALUE", "TYPE_ID is not defined or invalid.")
    );
    assert_eq!(
        add(json!({"TYPE_ID": "x".repeat(101)})).await,
        d7("INVALID_ARG_VALUE", "TYPE_ID is not defined or invalid.")
    );
    let (status, body) = app_call(
        &app,
        &token,
        "crm.activity.type.delete",
        json!({"TYPE_ID": "PLAIN"}),
    )
    .await;
    assert_eq!((status, body["result"].clone()), (200, json!(true)));
    assert_eq!(
        app_call(
            &app,
            &token,
            "crm.activity.type.delete",
            json!({"TYPE_ID": "PLAIN"})
        )
        .await,
        d7(
            "INVALID_ARG_VALUE",
            "Activity type with TYPE_ID \"PLAIN\" not found."
        )
    );
    let (_, listed) = app_call(&app, &token, "crm.activity.type.list", json!({})).await;
    assert_eq!(listed["result"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn activity_types_need_an_application_and_an_administrator_to_change() {
    let app = spawn_app().await;
    for method in [
        "crm.activity.type.add",
        "crm.activity.type.list",
        "crm.activity.type.delete",
    ] {
        assert_eq!(
            app.call(method, json!({"fields": {"TYPE_ID": "X"}, "TYPE_ID": "X"}))
                .await,
            (
                403,
                envelope(
                    "ACCESS_DENIED",
                    "Access denied! Application context required"
                )
            ),
            "{method}"
        );
    }
    let user = app.create_user(&["deal.read=all"]);
    let token = app_token(&app, user).await;
    assert_eq!(
        app_call(
            &app,
            &token,
            "crm.activity.type.add",
            json!({"fields": {"TYPE_ID": "X"}})
        )
        .await,
        d7("ACCESS_DENIED", "Access denied.")
    );
    assert_eq!(
        app_call(
            &app,
            &token,
            "crm.activity.type.delete",
            json!({"TYPE_ID": "X"})
        )
        .await,
        d7("ACCESS_DENIED", "Access denied.")
    );
    let (status, listed) = app_call(&app, &token, "crm.activity.type.list", json!({})).await;
    assert_eq!((status, listed["result"].clone()), (200, json!([])));
}
