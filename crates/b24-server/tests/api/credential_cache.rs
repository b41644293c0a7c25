//! Authenticated callers are kept in memory (`store/callers.rs`; spec §12, "several processes on
//! one database"): every change to what a caller is made of reaches the very next call of the
//! same server.

use crate::helpers::{envelope, spawn_app};
use b24_server::domain::{Action, Level};
use serde_json::json;

#[tokio::test]
async fn a_right_granted_between_two_calls_applies_to_the_second() {
    let app = spawn_app().await;
    let user = app.create_user(&[]);
    let url = app.create_webhook(user, Some("crm"));
    let deal = app.new_item(2, None).await;
    let update = json!({"entityTypeId": 2, "id": deal, "fields": {"title": "renamed"}});

    let (status, body) = app.call_as(&url, "crm.item.update", update.clone()).await;
    assert_eq!(
        (status, body),
        (400, envelope("ACCESS_DENIED", "Access denied."))
    );
    app.state
        .store
        .write(1, |tx| {
            tx.set_user_right(user, 2, Action::Read, Level::All)?;
            tx.set_user_right(user, 2, Action::Update, Level::All)
        })
        .unwrap();

    let (status, body) = app.call_as(&url, "crm.item.update", update).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["item"]["title"], json!("renamed"));
}

#[tokio::test]
async fn a_user_deactivated_between_two_calls_is_refused_on_the_second() {
    let app = spawn_app().await;
    let user = app.create_user(&[]);
    let url = app.create_webhook(user, None);
    assert_eq!(app.call_as(&url, "server.time", json!({})).await.0, 200);

    let (status, body) = app
        .call("user.update", json!({"ID": user, "ACTIVE": false}))
        .await;
    assert_eq!((status, body["result"].clone()), (200, json!(true)));

    let (status, body) = app.call_as(&url, "server.time", json!({})).await;
    assert_eq!(
        (status, body),
        (
            401,
            envelope("INVALID_CREDENTIALS", "Invalid request credentials")
        )
    );
}

#[tokio::test]
async fn a_webhook_blocked_between_two_calls_answers_overload_limit_on_the_second() {
    let app = spawn_app().await;
    let url = app.create_webhook(1, None);
    assert_eq!(app.call_as(&url, "server.time", json!({})).await.0, 200);
    let id = b24_server::admin::list_webhooks(&app.state.store, 1)
        .unwrap()
        .last()
        .unwrap()
        .id;
    b24_server::admin::set_webhook_blocked(&app.state.store, 1, id, true).unwrap();

    let (status, body) = app.call_as(&url, "server.time", json!({})).await;
    assert_eq!(
        (status, body),
        (
            401,
            envelope("OVERLOAD_LIMIT", "REST API is blocked due to overload.")
        )
    );

    b24_server::admin::set_webhook_blocked(&app.state.store, 1, id, false).unwrap();
    assert_eq!(app.call_as(&url, "server.time", json!({})).await.0, 200);
}

#[tokio::test]
async fn a_remembered_webhook_is_refused_after_a_reset_that_wipes_auth() {
    let app = spawn_app().await;
    let user = app.create_user(&[]);
    let url = app.create_webhook(user, None);
    assert_eq!(app.call_as(&url, "server.time", json!({})).await.0, 200);

    let reset = app
        .control(reqwest::Method::POST, "/reset", Some(json!({"keep": []})))
        .await;
    assert_eq!(reset.0, 200, "{}", reset.1);

    let (status, body) = app.call_as(&url, "server.time", json!({})).await;
    assert_eq!(
        (status, body),
        (
            401,
            envelope("INVALID_CREDENTIALS", "Invalid request credentials")
        )
    );
}
