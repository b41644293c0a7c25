//! `Client::from_webhook` and `Client::call` against the real server: the envelope read into
//! `Response`, and every failure read into `Error` with its code, description and status.

use crate::helpers::{assert_api_error, client_for, spawn_server};
use b24_client::{Client, ErrorKind};
use serde_json::json;

#[tokio::test]
async fn from_webhook_calls_a_method_and_returns_result_and_the_time_block() {
    let server = spawn_server().await;
    let client = Client::from_webhook(&server.admin_url).unwrap();

    let answer = client.call("server.time", json!({})).await.unwrap();

    let now = answer.result.as_str().expect("an ISO-8601 string");
    assert!(now.ends_with("+00:00"), "{now}");
    assert_eq!((answer.next, answer.total), (None, None));
    let time = answer.time.expect("a time block");
    assert!(time.finish >= time.start && time.start > 1.7e9);
    assert_eq!(time.operating, 0.0);
    assert!(time.operating_reset_at > 0);
}

#[tokio::test]
async fn list_calls_return_next_and_total() {
    let server = spawn_server().await;
    let client = server.admin();
    for _ in 0..51 {
        client
            .crm()
            .item()
            .add(2, json!({"title": "d"}))
            .await
            .unwrap();
    }

    let first = client
        .call("crm.item.list", json!({"entityTypeId": 2}))
        .await
        .unwrap();
    let second = client
        .call("crm.item.list", json!({"entityTypeId": 2, "start": 50}))
        .await
        .unwrap();

    assert_eq!((first.next, first.total), (Some(50), Some(51)));
    assert_eq!((second.next, second.total), (None, Some(51)));
    assert_eq!(second.result["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_wrong_webhook_code_is_invalid_credentials_401() {
    let server = spawn_server().await;
    let client = client_for(&format!("{}/rest/1/wrongcode/", server.base));
    assert_api_error(
        client.call("server.time", json!({})).await,
        "INVALID_CREDENTIALS",
        "Invalid request credentials",
        Some(401),
    );
}

#[tokio::test]
async fn an_unknown_method_is_error_method_not_found_404() {
    let server = spawn_server().await;
    assert_api_error(
        server.admin().call("crm.nothing.here", json!({})).await,
        "ERROR_METHOD_NOT_FOUND",
        "Method not found!",
        Some(404),
    );
}

#[tokio::test]
async fn a_method_outside_the_webhooks_scopes_is_insufficient_scope_401() {
    let server = spawn_server().await;
    let user = server.create_user(&["deal.read=all"]);
    let url = server.create_webhook(user, Some("user"));
    assert_api_error(
        client_for(&url)
            .call("crm.item.list", json!({"entityTypeId": 2}))
            .await,
        "insufficient_scope",
        "The request requires higher privileges than provided by the webhook token",
        Some(401),
    );
}

#[tokio::test]
async fn a_legacy_method_error_has_an_empty_code_and_the_text() {
    let server = spawn_server().await;
    assert_api_error(
        server
            .admin()
            .call("crm.activity.get", json!({"id": 999}))
            .await,
        "",
        "Activity is not found.",
        Some(400),
    );
}

#[tokio::test]
async fn method_names_are_sent_as_given_and_the_server_matches_them_case_insensitively() {
    let server = spawn_server().await;
    let answer = server
        .admin()
        .call(
            "crm.item.Add",
            json!({"entityTypeId": 2, "fields": {"title": "x"}}),
        )
        .await
        .unwrap();
    assert_eq!(answer.result["item"]["title"], "x");
}

#[test]
fn urls_that_are_not_webhooks_are_refused_before_any_request() {
    for bad in [
        "not a url",
        "https://example.bitrix24.com/",
        "https://example.bitrix24.com/rest/1/",
        "ftp://example.bitrix24.com/rest/1/abc/",
    ] {
        let error = Client::from_webhook(bad).unwrap_err();
        assert!(
            matches!(error.kind(), ErrorKind::InvalidUrl { .. }),
            "{bad}"
        );
        assert_eq!((error.code(), error.status()), (None, None));
    }
}

#[tokio::test]
async fn params_that_are_not_an_object_are_refused_without_a_request() {
    let client = Client::from_webhook("http://127.0.0.1:9/rest/1/abc/").unwrap();
    let error = client.call("server.time", json!([1, 2])).await.unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::InvalidParams { .. }));
    let error = client.call("../../x", json!({})).await.unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::InvalidParams { .. }));
}

#[tokio::test]
async fn the_client_speaks_https_to_a_server_whose_local_ca_it_trusts() {
    use b24_server::app::TlsSettings;
    let dir = tempfile::tempdir().unwrap();
    let mut config =
        b24_server::ServeConfig::new(dir.path().to_path_buf(), "127.0.0.1:0".parse().unwrap());
    config.tls = Some(TlsSettings {
        listen: "127.0.0.1:0".parse().unwrap(),
        cert_and_key: None,
        names: vec!["b24.test".into()],
    });
    let app = b24_server::Application::build(config).await.unwrap();
    let https = format!("https://localhost:{}", app.tls_addr().unwrap().port());
    let webhook = app.first_start_webhook_url().unwrap();
    let path = &webhook[webhook.find("/rest/").unwrap()..];
    let pem = std::fs::read(app.ca_cert_path().unwrap()).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let client = Client::builder(&format!("{https}{path}"))
        .add_root_certificate_pem(&pem)
        .build()
        .unwrap();
    assert!(client.server_time().await.unwrap().ends_with("+00:00"));

    let untrusting = Client::builder(&format!("{https}{path}"))
        .retry(b24_client::RetryPolicy::none())
        .build()
        .unwrap();
    let error = untrusting.server_time().await.unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::Transport { .. }),
        "{error}"
    );
    let _ = stop.send(());
}

#[test]
fn a_root_certificate_that_is_not_pem_is_refused_at_build() {
    let error = Client::builder("https://example.bitrix24.com/rest/1/abc/")
        .add_root_certificate_pem(b"not a certificate")
        .build()
        .unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::InvalidParams { .. }),
        "{error}"
    );
}
