//! The wire protocol: URL forms, verbs, parameter sources, envelopes, headers, auth and scopes.

use crate::helpers::{envelope, read, spawn_app};
use serde_json::{json, Value};

#[tokio::test]
async fn an_unknown_method_is_404_even_without_credentials() {
    let app = spawn_app().await;
    for url in [
        format!("{}/rest/crm.activity.binding.nope", app.base),
        format!("{}crm.nope.json", app.admin_url),
        format!("{}/rest/1/wrongcode/no.such.method", app.base),
    ] {
        let (status, body) = app.get(&url).await;
        assert_eq!(
            (status, body),
            (404, envelope("ERROR_METHOD_NOT_FOUND", "Method not found!")),
            "{url}"
        );
    }
}

#[tokio::test]
async fn paths_outside_the_rest_root_answer_json_too() {
    let app = spawn_app().await;
    for path in ["/", "/rest/", "/rest/1/x", "/something/else"] {
        let (status, body) = app.get(&format!("{}{path}", app.base)).await;
        assert_eq!(
            (status, body),
            (404, envelope("ERROR_METHOD_NOT_FOUND", "Method not found!")),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_known_method_without_credentials_is_no_auth_found() {
    let app = spawn_app().await;
    let (status, body) = app
        .get(&format!(
            "{}/rest/crm.activity.binding.list?activityId=1",
            app.base
        ))
        .await;
    assert_eq!(
        (status, body),
        (401, envelope("NO_AUTH_FOUND", "Wrong authorization data"))
    );
}

#[tokio::test]
async fn an_unknown_token_is_invalid_token() {
    let app = spawn_app().await;
    let (status, body) = app
        .get(&format!("{}/rest/server.time?auth=abc", app.base))
        .await;
    assert_eq!(
        (status, body),
        (
            401,
            envelope("invalid_token", "The access token provided is invalid.")
        )
    );
}

#[tokio::test]
async fn a_wrong_webhook_code_or_user_is_invalid_credentials() {
    let app = spawn_app().await;
    let good = app.admin_url.trim_end_matches('/').to_string();
    let code = good.rsplit('/').next().unwrap().to_string();
    for url in [
        format!("{}/rest/1/{}x/server.time", app.base, code),
        format!("{}/rest/2/{code}/server.time", app.base),
        format!("{}/rest/admin/{code}/server.time", app.base),
        format!("{}/rest/1/{}/server.time", app.base, code.to_uppercase()),
    ] {
        let (status, body) = app.get(&url).await;
        assert_eq!(
            (status, body),
            (
                401,
                envelope("INVALID_CREDENTIALS", "Invalid request credentials")
            ),
            "{url}"
        );
    }
}

#[tokio::test]
async fn a_revoked_webhook_stops_working_at_once() {
    let app = spawn_app().await;
    let user = app.create_user(&[]);
    let url = app.create_webhook(user, None);
    assert_eq!(app.get(&format!("{url}server.time")).await.0, 200);
    let store = &app.state.store;
    let id = b24_server::admin::list_webhooks(store, 1)
        .unwrap()
        .last()
        .unwrap()
        .id;
    b24_server::admin::revoke_webhook(store, 1, id).unwrap();

    let (status, body) = app.get(&format!("{url}server.time")).await;

    assert_eq!(
        (status, body),
        (
            401,
            envelope("INVALID_CREDENTIALS", "Invalid request credentials")
        )
    );
}

#[tokio::test]
async fn a_method_outside_the_webhooks_scopes_is_insufficient_scope() {
    let app = spawn_app().await;
    let url = app.create_webhook(1, Some("user"));
    let (status, body) = app
        .call_as(&url, "crm.activity.binding.list", json!({"activityId": 1}))
        .await;
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
    let (status, _) = app.call_as(&url, "server.time", json!({})).await;
    assert_eq!(status, 200, "global methods need no scope");
}

#[tokio::test]
async fn method_names_are_case_insensitive_with_optional_json_suffix_and_trailing_slash() {
    let app = spawn_app().await;
    for method in [
        "server.time",
        "Server.Time",
        "SERVER.TIME.json",
        "server.time/",
        "server.time.JSON/",
    ] {
        let (status, body) = app.get(&format!("{}{method}", app.admin_url)).await;
        assert_eq!(status, 200, "{method}: {body}");
        assert!(body["result"].is_string());
    }
}

#[tokio::test]
async fn every_success_carries_the_full_time_block_and_the_cors_headers() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}server.time", app.admin_url))
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    let (status, body) = read(response).await;

    assert_eq!(status, 200);
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["result", "time"]);
    let time = body["time"].as_object().unwrap();
    for key in [
        "start",
        "finish",
        "duration",
        "processing",
        "operating",
        "operating_reset_at",
    ] {
        assert!(time[key].is_number(), "{key} is {:?}", time[key]);
    }
    for key in ["date_start", "date_finish"] {
        let text = time[key].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            "{key} = {text}"
        );
    }
    assert!(time["finish"].as_f64() >= time["start"].as_f64());
    assert_eq!(
        body["result"].as_str().unwrap().len(),
        "2024-08-05T09:02:13+00:00".len()
    );
}

#[tokio::test]
async fn unknown_parameters_added_by_clients_are_ignored() {
    let app = spawn_app().await;
    let url = format!(
        "{}crm.item.add?bx24_request_id=abc&bx24_sdk_ver=1&bx24_sdk_type=js",
        app.admin_url
    );
    let response = app
        .client
        .post(url)
        .json(&json!({"entityTypeId": 2, "fields": {"title": "x"}, "__order": 5, "whatever": [1]}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["item"]["title"], "x");
}

#[tokio::test]
async fn query_parameters_and_a_json_body_are_merged_with_the_body_winning() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!(
            "{}crm.item.add?entityTypeId=2&fields[title]=from-query",
            app.admin_url
        ))
        .json(&json!({"fields": {"title": "from-body"}}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["item"]["entityTypeId"], 2);
    assert_eq!(body["result"]["item"]["title"], "from-body");
}

#[tokio::test]
async fn invalid_json_is_read_as_no_parameters_like_php_does() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}crm.activity.binding.list", app.admin_url))
        .header("content-type", "application/json")
        .body("{\"activityId\": 1")
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope("100", "Could not find value for parameter {activityId}")
        )
    );
}

#[tokio::test]
async fn invalid_utf8_in_parameters_is_wrong_encoding() {
    let app = spawn_app().await;
    let (status, body) = app
        .get(&format!(
            "{}crm.activity.binding.list?activityId=%FF",
            app.admin_url
        ))
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("WRONG_ENCODING", "Wrong request encoding"))
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_a_bitrix_shaped_413() {
    let app = spawn_app().await;
    let huge = "a".repeat(9 * 1024 * 1024);
    let response = app
        .client
        .post(format!("{}server.time", app.admin_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("x={huge}"))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"], "ERROR_REQUEST_TOO_LARGE");
}

#[tokio::test]
async fn credentials_in_parameters_never_reach_a_method() {
    let app = spawn_app().await;
    let (status, body): (u16, Value) = app
        .call("crm.item.add", json!({"entityTypeId": 2, "fields": {"title": "t"}, "auth": "x", "ap": "y", "aplogin": "z"}))
        .await;
    assert_eq!(status, 200, "webhook path credentials win: {body}");
}
