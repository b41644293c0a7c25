//! `department.get / fields / add / update / delete` (docs: api-reference/departments/): the
//! company structure, root department 1 on every portal, users' `UF_DEPARTMENT` and `UF_HEAD`.

use crate::helpers::{envelope, spawn_app, TestApp};
use serde_json::{json, Value};

async fn add(app: &TestApp, params: Value) -> i64 {
    let id = app.ok("department.add", params).await;
    id.as_i64()
        .unwrap_or_else(|| panic!("department.add answers an integer: {id}"))
}

#[tokio::test]
async fn a_new_portal_has_the_root_department_and_its_administrator_in_it() {
    let app = spawn_app().await;

    let (status, body) = app.call("department.get", json!({})).await;

    assert_eq!(status, 200);
    assert_eq!(
        body["result"],
        json!([{"ID": "1", "NAME": "Company", "SORT": 500}])
    );
    assert_eq!(body["total"], 1);
    let (_, admin) = app.call("user.get", json!({"ID": 1})).await;
    assert_eq!(admin["result"][0]["UF_DEPARTMENT"], json!([1]));
}

#[tokio::test]
async fn departments_are_added_read_updated_and_deleted_in_the_documented_shapes() {
    let app = spawn_app().await;
    let head = app.create_user(&[]);

    let sales = add(&app, json!({"NAME": "Sales", "PARENT": 1, "UF_HEAD": head})).await;
    let east = add(&app, json!({"name": "East", "parent": sales, "sort": 100})).await;

    assert_eq!((sales, east), (2, 3));
    let (_, body) = app.call("department.get", json!({"ID": sales})).await;
    assert_eq!(
        body["result"],
        json!([{"ID": "2", "NAME": "Sales", "SORT": 500, "PARENT": "1", "UF_HEAD": head.to_string()}])
    );
    let (_, body) = app.call("department.get", json!({"PARENT": sales})).await;
    assert_eq!(
        body["result"],
        json!([{"ID": "3", "NAME": "East", "SORT": 100, "PARENT": "2"}])
    );

    let updated = app
        .ok(
            "department.update",
            json!({"ID": east, "NAME": "East Coast", "PARENT": 1, "UF_HEAD": head}),
        )
        .await;
    assert_eq!(updated, true);
    let (_, body) = app.call("department.get", json!({"UF_HEAD": head})).await;
    let names: Vec<&str> = body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["NAME"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Sales", "East Coast"]);

    assert_eq!(app.ok("department.delete", json!({"ID": east})).await, true);
    let (_, body) = app.call("department.get", json!({})).await;
    assert_eq!(body["total"], 2);
}

#[tokio::test]
async fn department_get_filters_by_name_and_sorts_and_pages_by_fifty() {
    let app = spawn_app().await;
    let cmd: Vec<String> = (0..50)
        .map(|i| format!("department.add?NAME=D{i:02}&PARENT=1&SORT={}", 1000 - i))
        .collect();
    let (_, body) = app.call("batch", json!({"cmd": cmd})).await;
    assert_eq!(body["result"]["result_error"], json!([]), "{body}");
    add(&app, json!({"NAME": "Last", "PARENT": 1})).await;

    let (_, first) = app.call("department.get", json!({})).await;
    let (_, second) = app.call("department.get", json!({"START": 50})).await;
    let (_, named) = app.call("department.get", json!({"NAME": "D07"})).await;
    let (_, sorted) = app
        .call(
            "department.get",
            json!({"sort": "SORT", "order": "ASC", "PARENT": 1}),
        )
        .await;

    assert_eq!((&first["next"], &first["total"]), (&json!(50), &json!(52)));
    assert_eq!(first["result"].as_array().unwrap().len(), 50);
    assert_eq!(second["result"].as_array().unwrap().len(), 2);
    assert!(second.get("next").is_none());
    assert_eq!(named["result"][0]["ID"], "9");
    assert_eq!(named["total"], 1);
    assert_eq!(sorted["result"][0]["NAME"], "Last");
    assert_eq!(sorted["result"][1]["NAME"], "D49");
    // The root has no parent: first ascending, last descending, on both backends.
    let (_, by_parent) = app
        .call("department.get", json!({"sort": "PARENT", "order": "DESC"}))
        .await;
    let (_, last_page) = app
        .call(
            "department.get",
            json!({"sort": "PARENT", "order": "DESC", "start": 50}),
        )
        .await;
    assert_eq!(by_parent["result"][0]["ID"], "52");
    assert_eq!(last_page["result"][1]["NAME"], "Company");
}

#[tokio::test]
async fn department_fields_lists_the_five_fields() {
    let app = spawn_app().await;

    let fields = app.ok("department.fields", json!({})).await;

    assert_eq!(
        fields,
        json!({"ID": "ID", "NAME": "Department Name", "SORT": "Sort Order",
               "PARENT": "Parent Department", "UF_HEAD": "Manager"})
    );
}

#[tokio::test]
async fn department_errors_carry_the_documented_texts_and_change_nothing() {
    let app = spawn_app().await;
    let sales = add(&app, json!({"NAME": "Sales", "PARENT": 1})).await;
    let east = add(&app, json!({"NAME": "East", "PARENT": sales})).await;
    let core = |text: &str| envelope("ERROR_CORE", text);
    let cases = [
        (
            "department.add",
            json!({"PARENT": 1}),
            core("Department name not provided.<br>"),
        ),
        (
            "department.add",
            json!({"NAME": "Top"}),
            core("There can only be one top-level department in the company structure"),
        ),
        (
            "department.add",
            json!({"NAME": "Orphan", "PARENT": 77}),
            core("Department not found"),
        ),
        (
            "department.add",
            json!({"NAME": "Headless", "PARENT": 1, "UF_HEAD": 99}),
            core("User not found"),
        ),
        (
            "department.update",
            json!({"ID": 77, "NAME": "X"}),
            core("Department not found"),
        ),
        (
            "department.update",
            json!({"NAME": "X"}),
            core("Department not found"),
        ),
        (
            "department.update",
            json!({"ID": sales, "PARENT": east}),
            core("A department cannot be moved into itself or its sub-department"),
        ),
        (
            "department.update",
            json!({"ID": sales, "PARENT": 0}),
            core("There can only be one top-level department in the company structure"),
        ),
        (
            "department.delete",
            json!({"ID": 77}),
            core("Department not found"),
        ),
        (
            "department.delete",
            json!({"ID": 1}),
            core("The top-level department of the company structure cannot be deleted"),
        ),
    ];

    for (method, params, expected) in cases {
        let (status, body) = app.call(method, params.clone()).await;
        assert_eq!((status, &body), (400, &expected), "{method} {params}");
    }
    let (_, body) = app.call("department.get", json!({})).await;
    assert_eq!(body["total"], 3);
    let (_, body) = app.call("department.get", json!({"ID": sales})).await;
    assert_eq!(body["result"][0]["PARENT"], "1");
}

#[tokio::test]
async fn only_administrators_change_the_structure() {
    let app = spawn_app().await;
    let user = app.create_user(&[]);
    let hook = app.create_webhook(user, Some("department"));
    let denied = envelope("ERROR_CORE", "Access denied");

    for (method, params) in [
        ("department.add", json!({"NAME": "X", "PARENT": 1})),
        ("department.update", json!({"ID": 1, "NAME": "X"})),
        ("department.delete", json!({"ID": 1})),
    ] {
        let (status, body) = app.call_as(&hook, method, params).await;
        assert_eq!((status, &body), (400, &denied), "{method}");
    }
    let (status, body) = app.call_as(&hook, "department.get", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"][0]["NAME"], "Company");
}

#[tokio::test]
async fn a_webhook_without_the_department_scope_is_refused() {
    let app = spawn_app().await;
    let user_only = app.create_webhook(1, Some("user"));

    let (status, body) = app.call_as(&user_only, "department.get", json!({})).await;

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
}

#[tokio::test]
async fn deleting_a_department_deletes_its_sub_departments_and_its_members_leave_it() {
    let app = spawn_app().await;
    let sales = add(&app, json!({"NAME": "Sales", "PARENT": 1})).await;
    let east = add(&app, json!({"NAME": "East", "PARENT": sales})).await;
    let user = app
        .ok(
            "user.add",
            json!({"EMAIL": "e@example.com", "UF_DEPARTMENT": [1, east]}),
        )
        .await;

    app.ok("department.delete", json!({"ID": sales})).await;

    let (_, body) = app.call("department.get", json!({})).await;
    assert_eq!(
        body["result"],
        json!([{"ID": "1", "NAME": "Company", "SORT": 500}])
    );
    let (_, body) = app.call("user.get", json!({"ID": user})).await;
    assert_eq!(body["result"][0]["UF_DEPARTMENT"], json!([1]));
    let (_, body) = app.call("user.get", json!({"UF_DEPARTMENT": east})).await;
    assert_eq!(body["total"], 0);
}

#[tokio::test]
async fn a_reset_that_wipes_auth_leaves_the_root_department_and_one_that_keeps_auth_keeps_all() {
    let app = spawn_app().await;
    add(&app, json!({"NAME": "Sales", "PARENT": 1})).await;

    let (status, _) = app
        .control(
            reqwest::Method::POST,
            "/reset",
            Some(json!({"keep": ["auth"]})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = app.call("department.get", json!({})).await;
    assert_eq!(body["total"], 2, "the structure stays with the users");

    let (status, answer) = app
        .control(reqwest::Method::POST, "/reset", Some(json!({"keep": []})))
        .await;
    assert_eq!(status, 200);
    let webhook = answer["webhook"].as_str().unwrap();
    let (_, body) = app.call_as(webhook, "department.get", json!({})).await;
    assert_eq!(
        body["result"],
        json!([{"ID": "1", "NAME": "Company", "SORT": 500}])
    );
    let (_, body) = app.call_as(webhook, "user.current", json!({})).await;
    assert_eq!(body["result"]["UF_DEPARTMENT"], json!([1]));
    let next = app
        .call_as(
            webhook,
            "department.add",
            json!({"NAME": "New", "PARENT": 1}),
        )
        .await;
    assert_eq!(next.1["result"], 2, "ids start over with the structure");
}
