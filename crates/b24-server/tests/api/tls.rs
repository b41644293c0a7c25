//! HTTPS with the generated local CA, and `--require-https` (spec §7.1, §13).

use crate::helpers::{envelope, read, spawn_app_with, TestApp};
use b24_server::app::TlsSettings;
use serde_json::json;

async fn https_app(require_https: bool, trusted_proxy: bool) -> TestApp {
    spawn_app_with(move |config| {
        config.tls = Some(TlsSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert_and_key: None,
            names: vec!["b24.test".into()],
        });
        config.security.require_https = require_https;
        if trusted_proxy {
            config.security.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        }
    })
    .await
}

/// A client that trusts only the certificate authority in `ca` (PEM).
pub(crate) fn client_trusting(ca: &std::path::Path) -> reqwest::Client {
    let pem = std::fs::read(ca).unwrap();
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

fn https_url(app: &TestApp) -> String {
    let path = app.admin_url.strip_prefix(&app.base).unwrap();
    format!("{}{path}", app.https_base.as_ref().unwrap())
}

#[tokio::test]
async fn a_client_trusting_only_the_generated_ca_connects_over_https() {
    let app = https_app(false, false).await;
    let client = client_trusting(app.ca_pem.as_ref().unwrap());
    for host in ["127.0.0.1", "localhost"] {
        let url = https_url(&app).replace("127.0.0.1", host);
        let response = client
            .get(format!("{url}server.time"))
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        assert_eq!(status, 200, "{host}");
        assert!(body["result"].is_string());
    }
}

#[tokio::test]
async fn a_client_trusting_nothing_is_refused_by_tls() {
    let app = https_app(false, false).await;
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    let result = client
        .get(format!("{}server.time", https_url(&app)))
        .send()
        .await;
    assert!(result.is_err(), "the handshake must fail without the CA");
}

#[tokio::test]
async fn the_ca_survives_restarts_and_new_names_get_a_new_server_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let first = b24_server::tls::ensure_local_ca(dir.path(), &[]).unwrap();
    let ca = std::fs::read(first.ca_cert.as_ref().unwrap()).unwrap();
    let cert = std::fs::read(&first.cert).unwrap();
    let again = b24_server::tls::ensure_local_ca(dir.path(), &[]).unwrap();
    assert_eq!(std::fs::read(again.ca_cert.unwrap()).unwrap(), ca);
    assert_eq!(std::fs::read(&again.cert).unwrap(), cert);
    let renamed = b24_server::tls::ensure_local_ca(dir.path(), &["b24.example".into()]).unwrap();
    assert_eq!(std::fs::read(renamed.ca_cert.unwrap()).unwrap(), ca);
    assert_ne!(std::fs::read(renamed.cert).unwrap(), cert);
}

#[tokio::test]
async fn with_require_https_plain_http_webhook_calls_are_refused() {
    let app = https_app(true, false).await;
    let (status, body) = app.call("server.time", json!({})).await;
    assert_eq!(
        (status, body),
        (401, envelope("INVALID_REQUEST", "Https required."))
    );

    let client = client_trusting(app.ca_pem.as_ref().unwrap());
    let response = client
        .post(format!("{}server.time", https_url(&app)))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(read(response).await.0, 200);
}

#[tokio::test]
async fn with_require_https_plain_http_token_requests_are_refused() {
    let app = https_app(true, false).await;
    let (status, body) = app
        .get(&format!("{}/rest/server.time?auth=x", app.base))
        .await;
    assert_eq!(
        (status, body),
        (401, envelope("INVALID_REQUEST", "Https required."))
    );
    let (status, body) = app
        .get(&format!(
            "{}/oauth/token/?grant_type=refresh_token",
            app.base
        ))
        .await;
    assert_eq!(
        (status, body),
        (401, envelope("INVALID_REQUEST", "Https required."))
    );
}

#[tokio::test]
async fn forwarded_proto_counts_only_from_a_trusted_proxy() {
    let untrusted = https_app(true, false).await;
    let response = untrusted
        .client
        .get(format!("{}server.time", untrusted.admin_url))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(read(response).await.0, 401);

    let trusted = https_app(true, true).await;
    let response = trusted
        .client
        .get(format!("{}server.time", trusted.admin_url))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(read(response).await.0, 200);
}

#[tokio::test]
async fn webhook_create_with_https_prints_the_https_url() {
    let app = https_app(false, false).await;
    let out = app
        .cli()
        .args([
            "webhook", "create", "--user", "1", "--https", "--scopes", "crm",
        ])
        .output()
        .unwrap();
    let url = String::from_utf8(out.stdout).unwrap();
    assert!(
        url.starts_with(&format!("{}/rest/1/", app.https_base.as_ref().unwrap())),
        "{url}"
    );
    let client = client_trusting(app.ca_pem.as_ref().unwrap());
    let response = client
        .get(format!("{}server.time", url.trim_end()))
        .send()
        .await
        .unwrap();
    assert_eq!(read(response).await.0, 200);
}

#[tokio::test]
async fn a_given_certificate_and_key_are_served_instead_of_the_local_cas() {
    let elsewhere = tempfile::tempdir().unwrap();
    let files = b24_server::tls::ensure_local_ca(elsewhere.path(), &[]).unwrap();
    let (cert, key, ca) = (
        files.cert.clone(),
        files.key.clone(),
        files.ca_cert.clone().unwrap(),
    );
    let app = spawn_app_with(move |config| {
        config.tls = Some(TlsSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert_and_key: Some((cert, key)),
            names: vec![],
        });
    })
    .await;
    assert!(
        app.ca_pem.is_none(),
        "no local CA is generated for a given certificate"
    );
    assert!(!app.dir.path().join("tls").exists());
    let client = client_trusting(&ca);
    let response = client
        .get(format!("{}server.time", https_url(&app)))
        .send()
        .await
        .unwrap();
    assert_eq!(read(response).await.0, 200);
}
