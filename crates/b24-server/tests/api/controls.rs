//! The admin API's foundation (`/_b24/`): the open health route, who may call the rest, how its
//! errors look, and the token expiry control.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn health_is_open_and_tells_where_the_server_listens() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/_b24/health", app.base))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 200);
    let backend = if app.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(
        body,
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "backend": backend,
               "http": app.base, "https": null, "ca": null})
    );
}

#[tokio::test]
async fn health_names_the_https_listener_and_the_local_ca_when_https_is_on() {
    let app = spawn_app_with(|c| {
        c.tls = Some(b24_server::app::TlsSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert_and_key: None,
            names: vec![],
        })
    })
    .await;
    let (status, body) = app.get(&format!("{}/_b24/health", app.base)).await;
    assert_eq!(status, 200);
    assert_eq!(body["https"], json!(app.https_base.clone().unwrap()));
    assert_eq!(
        body["ca"],
        json!(app.ca_pem.as_ref().unwrap().display().to_string())
    );
}

#[tokio::test]
async fn an_admin_route_without_the_token_answers_401_and_says_where_the_token_is() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/_b24/tokens/expire", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer"
    );
    let (status, body) = read(response).await;
    assert_eq!(
        (status, body),
        (
            401,
            envelope(
                "ADMIN_TOKEN_REQUIRED",
                "Send the admin token as 'Authorization: Bearer TOKEN'; it is in the data directory's admin-token file"
            )
        )
    );
}

#[tokio::test]
async fn an_admin_route_with_a_wrong_token_answers_401() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/_b24/tokens/expire", app.base))
        .bearer_auth("not-the-admin-token-at-all")
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(
        (status, body),
        (
            401,
            envelope(
                "INVALID_ADMIN_TOKEN",
                "The admin token is wrong; read it from the data directory's admin-token file, or set one with --admin-token"
            )
        )
    );
}

#[tokio::test]
async fn the_admin_token_file_is_readable_by_its_owner_only() {
    let app = spawn_app().await;
    assert_eq!(app.admin_token.len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(app.dir.path().join("admin-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn a_token_given_in_the_configuration_replaces_the_stored_one() {
    let app = spawn_app().await;
    let old = app.admin_token.clone();
    let app = app
        .restart(|c| c.control.token = Some("a-token-chosen-by-the-fixture".into()))
        .await;
    assert_eq!(app.admin_token, "a-token-chosen-by-the-fixture");
    let response = app
        .client
        .post(format!("{}/_b24/tokens/expire", app.base))
        .bearer_auth(&old)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (status, _) = app
        .control(Method::POST, "/tokens/expire", Some(json!({})))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_token_is_kept_across_restarts() {
    let app = spawn_app().await;
    let token = app.admin_token.clone();
    let app = app.restart(|_| {}).await;
    assert_eq!(app.admin_token, token);
    let (status, _) = app.control(Method::POST, "/tokens/expire", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_unknown_admin_route_answers_404_in_the_error_envelope() {
    let app = spawn_app().await;
    let (status, body) = app.control(Method::GET, "/no-such-route", None).await;
    assert_eq!(
        (status, body),
        (
            404,
            envelope(
                "NOT_FOUND",
                "No such admin route; see the README's \"Testing your integration\" for the routes under /_b24/"
            )
        )
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_answers_400_and_changes_nothing() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/_b24/tokens/expire", app.base))
        .bearer_auth(&app.admin_token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "INVALID_REQUEST");
    let (status, body) = app
        .control(
            Method::POST,
            "/tokens/expire",
            Some(json!({"clientId": "x"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "INVALID_REQUEST");
}

#[tokio::test]
async fn a_portal_that_does_not_exist_answers_404() {
    let app = spawn_app().await;
    let (status, body) = app
        .control(Method::POST, "/tokens/expire?portal=nope", None)
        .await;
    assert_eq!(
        (status, body),
        (
            404,
            envelope(
                "NOT_FOUND",
                "There is no portal named 'nope'; GET /_b24/portals lists them"
            )
        )
    );
}

#[tokio::test]
async fn expiring_tokens_makes_the_next_call_answer_expired_token_and_refresh_still_works() {
    let app = spawn_app().await;
    let installed = app.install_app("crm", 1, app.state.clock.now()).await;
    let token = installed.tokens["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let call = |token: String| {
        let app = &app;
        async move {
            let response = app
                .client
                .get(format!("{}/rest/server.time", app.base))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            read(response).await
        }
    };
    assert_eq!(call(token.clone()).await.0, 200);

    let (status, body) = app
        .control(
            Method::POST,
            "/tokens/expire",
            Some(json!({"client_id": installed.client_id})),
        )
        .await;
    assert_eq!((status, body), (200, json!({"expired": 1})));
    assert_eq!(
        call(token).await,
        (
            401,
            envelope("expired_token", "The access token provided has expired")
        )
    );
    // Already expired: nothing more to expire.
    let (_, body) = app.control(Method::POST, "/tokens/expire", None).await;
    assert_eq!(body, json!({"expired": 0}));

    let refresh = installed.tokens["refresh_token"].as_str().unwrap();
    let (status, renewed) = app
        .get(&format!(
            "{}/oauth/token/?grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={refresh}",
            app.base, installed.client_id, installed.client_secret
        ))
        .await;
    assert_eq!(status, 200, "{renewed}");
    let fresh = renewed["access_token"].as_str().unwrap().to_string();
    assert_eq!(call(fresh).await.0, 200);
}

#[tokio::test]
async fn expiring_the_tokens_of_an_unknown_application_answers_404() {
    let app = spawn_app().await;
    let (status, body) = app
        .control(
            Method::POST,
            "/tokens/expire",
            Some(json!({"client_id": "local.nope"})),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            404,
            envelope(
                "NOT_FOUND",
                "No application has this client_id; `b24-server app create` makes one"
            )
        )
    );
}

/// A non-loopback address of this machine, if it has one with a route (the address a UDP
/// socket would send from; nothing is sent).
fn non_loopback_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    ["192.0.2.1:9", "10.255.255.255:9", "8.8.8.8:53"]
        .iter()
        .find_map(|target| {
            socket.connect(target).ok()?;
            let ip = socket.local_addr().ok()?.ip();
            (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
        })
}

#[tokio::test]
async fn other_machines_are_refused_unless_admin_remote_and_then_only_over_https() {
    let Some(ip) = non_loopback_address() else {
        eprintln!("skipped: this machine has no non-loopback address");
        return;
    };
    for remote in [false, true] {
        let app = spawn_app_with(|c| {
            c.listen = "0.0.0.0:0".parse().unwrap();
            c.control.remote = remote;
        })
        .await;
        let port = app.base.rsplit(':').next().unwrap();
        let response = app
            .client
            .post(format!("http://{ip}:{port}/_b24/tokens/expire"))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        let expected = if remote {
            envelope(
                "HTTPS_REQUIRED",
                "The admin API answers other machines only over HTTPS; use the server's HTTPS listener",
            )
        } else {
            envelope(
                "ACCESS_DENIED",
                "The admin API answers only clients on this machine; start the server with --admin-remote to allow others (over HTTPS)",
            )
        };
        assert_eq!((status, body), (403, expected), "remote: {remote}");
        // Health stays open to every peer.
        let (status, _) = app.get(&format!("http://{ip}:{port}/_b24/health")).await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn no_admin_removes_the_routes() {
    let app = spawn_app_with(|c| c.control.enabled = false).await;
    let (status, body) = app.get(&format!("{}/_b24/health", app.base)).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "ERROR_METHOD_NOT_FOUND");
}
