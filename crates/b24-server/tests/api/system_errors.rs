//! The system errors an operator can cause (spec §7, §12): blocked webhooks, REST switched off,
//! a closed portal, and our own failures.

use crate::helpers::{envelope, eventually, spawn_app};
use serde_json::json;

#[tokio::test]
async fn a_blocked_webhook_gets_overload_limit_until_unblocked() {
    let app = spawn_app().await;
    let url = app.create_webhook(1, None);
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
    assert_eq!(
        app.call("server.time", json!({})).await.0,
        200,
        "other webhooks keep working"
    );

    b24_server::admin::set_webhook_blocked(&app.state.store, 1, id, false).unwrap();
    assert_eq!(app.call_as(&url, "server.time", json!({})).await.0, 200);
}

#[tokio::test]
async fn rest_switched_off_answers_access_denied_for_every_caller() {
    let app = spawn_app().await;
    b24_server::admin::set_rest_enabled(&app.state.store, 1, false).unwrap();
    eventually(|| !app.state.portal_flags.rest_enabled()).await;

    let (status, body) = app.call("crm.item.list", json!({"entityTypeId": 2})).await;
    assert_eq!(
        (status, body),
        (
            401,
            envelope(
                "ACCESS_DENIED",
                "REST is available only on commercial plans."
            )
        )
    );

    b24_server::admin::set_rest_enabled(&app.state.store, 1, true).unwrap();
    eventually(|| app.state.portal_flags.rest_enabled()).await;
    assert_eq!(app.call("server.time", json!({})).await.0, 200);
}

#[tokio::test]
async fn a_closed_portal_answers_portal_deleted_even_for_unknown_methods() {
    let app = spawn_app().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_b24-server"))
        .args(["portal", "close"])
        .env("B24_DATA_DIR", app.dir.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "portal closed\n");
    eventually(|| app.state.portal_flags.closed()).await;

    for method in ["server.time", "no.such.method"] {
        let (status, body) = app.call(method, json!({})).await;
        assert_eq!(
            (status, body),
            (403, envelope("PORTAL_DELETED", "Portal was deleted")),
            "{method}"
        );
    }
}

/// A failure inside the server (here a database trigger that aborts the owner update, after the
/// binding row was already inserted in the same transaction) is a generic 500, and nothing of
/// the call is left behind.
#[tokio::test]
async fn an_internal_failure_is_a_generic_500_and_writes_nothing() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    let activity = app.new_todo(2, deal).await;
    let db = app.dir.path().join("b24.sqlite3");
    let conn = r2d2_sqlite::rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER injected_failure BEFORE UPDATE ON activities
         BEGIN SELECT RAISE(ABORT, 'injected failure with secret-looking detail'); END;",
    )
    .unwrap();

    let (status, body) = app
        .call(
            "crm.activity.binding.add",
            json!({"activityId": activity, "entityTypeId": 3, "entityId": contact}),
        )
        .await;

    assert_eq!(
        (status, body),
        (
            500,
            envelope("INTERNAL_SERVER_ERROR", "Internal server error")
        )
    );
    conn.execute_batch("DROP TRIGGER injected_failure").unwrap();
    assert_eq!(app.bindings(activity).await, vec![(2, deal)]);
}
