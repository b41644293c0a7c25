//! `im.notify`, `im.notify.system.add`, `im.notify.personal.add` (docs:
//! api-reference/chats/notifications/): recorded notifications, read back with
//! `b24-server notifications list`.

use crate::helpers::{envelope, spawn_app, TestApp};
use serde_json::{json, Value};

fn listed(app: &TestApp) -> Value {
    let output = app
        .cli()
        .args(["notifications", "list", "--json"])
        .output()
        .expect("the CLI runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[tokio::test]
async fn notifications_answer_integer_ids_and_the_cli_lists_them() {
    let app = spawn_app().await;
    let user = app.create_user(&[]);

    let personal = app
        .ok(
            "im.notify.personal.add",
            json!({"USER_ID": user, "MESSAGE": "  Call the client  "}),
        )
        .await;
    let system = app
        .ok(
            "im.notify.system.add",
            json!({"user_id": user, "message": "Deal won", "TAG": "deal|7"}),
        )
        .await;
    let old_style = app
        .ok(
            "im.notify",
            json!({"to": user, "message": "Old code", "type": "SYSTEM"}),
        )
        .await;
    let default_type = app
        .ok("im.notify", json!({"USER_ID": 1, "MESSAGE": "To myself"}))
        .await;

    assert_eq!(
        (personal, system, old_style, default_type),
        (json!(1), json!(2), json!(3), json!(4))
    );
    let rows = listed(&app);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let summary: Vec<(i64, &str, i64, i64, &str, &str)> = rows
        .iter()
        .map(|n| {
            (
                n["id"].as_i64().unwrap(),
                n["kind"].as_str().unwrap(),
                n["to"].as_i64().unwrap(),
                n["from"].as_i64().unwrap(),
                n["tag"].as_str().unwrap(),
                n["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "personal", user, 1, "", "Call the client"),
            (2, "system", user, 0, "deal|7", "Deal won"),
            (3, "system", user, 0, "", "Old code"),
            (4, "personal", 1, 1, "", "To myself"),
        ]
    );
    assert!(rows[0]["at"].as_str().unwrap().starts_with("20"));
}

#[tokio::test]
async fn a_notification_without_a_recipient_or_a_text_is_refused_and_not_recorded() {
    let app = spawn_app().await;
    let no_user = envelope("USER_ID_EMPTY", "User ID can't be empty");
    let no_text = envelope("MESSAGE_EMPTY", "Message can't be empty");
    let cases = [
        ("im.notify", json!({"MESSAGE": "x"}), no_user.clone()),
        (
            "im.notify.system.add",
            json!({"USER_ID": 0, "MESSAGE": "x"}),
            no_user.clone(),
        ),
        (
            "im.notify.personal.add",
            json!({"USER_ID": "abc", "MESSAGE": "x"}),
            no_user,
        ),
        ("im.notify", json!({"USER_ID": 1}), no_text.clone()),
        (
            "im.notify.system.add",
            json!({"USER_ID": 1, "MESSAGE": "   "}),
            no_text.clone(),
        ),
        (
            "im.notify.personal.add",
            json!({"USER_ID": 1, "MESSAGE": ""}),
            no_text,
        ),
    ];

    for (method, params, expected) in cases {
        let (status, body) = app.call(method, params.clone()).await;
        assert_eq!((status, &body), (400, &expected), "{method} {params}");
    }
    assert_eq!(listed(&app), json!([]));
}

#[tokio::test]
async fn a_notification_to_a_user_who_does_not_exist_answers_false() {
    let app = spawn_app().await;

    let result = app
        .ok(
            "im.notify.system.add",
            json!({"USER_ID": 99, "MESSAGE": "Hello"}),
        )
        .await;

    assert_eq!(result, false);
    assert_eq!(listed(&app), json!([]));
}

#[tokio::test]
async fn notifications_need_the_im_scope() {
    let app = spawn_app().await;
    let crm_only = app.create_webhook(1, Some("crm"));

    for method in [
        "im.notify",
        "im.notify.system.add",
        "im.notify.personal.add",
    ] {
        let (status, body) = app
            .call_as(&crm_only, method, json!({"USER_ID": 1, "MESSAGE": "x"}))
            .await;
        assert_eq!(
            (status, body),
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
}

#[tokio::test]
async fn a_batch_notifies_the_user_it_just_invited() {
    let app = spawn_app().await;
    let cmd = json!({
        "add": "user.add?EMAIL=n@example.com&UF_DEPARTMENT[]=1",
        "note": "im.notify.system.add?USER_ID=$result[add]&MESSAGE=Welcome",
    });

    let (status, body) = app.call("batch", json!({"cmd": cmd})).await;

    assert_eq!(status, 200);
    assert_eq!(body["result"]["result"]["note"], 1, "{body}");
    assert_eq!(listed(&app)[0]["to"], 2);
}
