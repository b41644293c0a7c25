//! OAuth applications (spec §7.2): both grants, token placement, expiry with a manual clock, and
//! every token-related error with its status.

use crate::helpers::{envelope, read, spawn_app_with, TestApp};
use b24_server::clock::ManualClock;
use b24_server::oauth;
use serde_json::{json, Value};
use std::sync::Arc;

const T0: f64 = 1_800_000_000.0;

struct OAuthApp {
    app: TestApp,
    clock: Arc<ManualClock>,
    client_id: String,
    client_secret: String,
}

async fn oauth_app(scopes: &str) -> OAuthApp {
    let clock = Arc::new(ManualClock::new(T0));
    let c = clock.clone();
    let app = spawn_app_with(move |config| config.clock = c).await;
    let scopes = b24_server::admin::parse_scopes(Some(scopes)).unwrap();
    let credentials = oauth::create_app(&app.state.store, 1, "Test app", &scopes, "").unwrap();
    OAuthApp {
        app,
        clock,
        client_id: credentials.client_id,
        client_secret: credentials.client_secret,
    }
}

impl OAuthApp {
    fn code_for(&self, user: i64) -> String {
        oauth::authorize(
            &self.app.state.store,
            1,
            &self.client_id,
            user,
            self.clock_now(),
            30.0,
        )
        .unwrap()
    }

    fn clock_now(&self) -> f64 {
        use b24_server::clock::Clock;
        self.clock.now()
    }

    async fn token(&self, params: Value) -> (u16, Value) {
        let response = self
            .app
            .client
            .post(format!("{}/oauth/token/", self.app.base))
            .form(&params)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    async fn exchange(&self, code: &str) -> Value {
        let (status, body) = self
            .token(json!({"grant_type": "authorization_code", "client_id": self.client_id, "client_secret": self.client_secret, "code": code}))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn rest(&self, method: &str, token: &str, params: Value) -> (u16, Value) {
        let mut params = params;
        params["auth"] = json!(token);
        let response = self
            .app
            .client
            .post(format!("{}/rest/{method}", self.app.base))
            .json(&params)
            .send()
            .await
            .unwrap();
        read(response).await
    }
}

#[tokio::test]
async fn the_authorization_code_grant_answers_the_documented_shape() {
    let o = oauth_app("crm,user").await;
    let code = o.code_for(1);

    let body = o.exchange(&code).await;

    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "access_token",
        "expires",
        "expires_in",
        "scope",
        "domain",
        "server_endpoint",
        "status",
        "client_endpoint",
        "member_id",
        "user_id",
        "refresh_token",
    ] {
        assert!(keys.contains(&key), "{key} missing: {body}");
    }
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["expires"], T0 as i64 + 3600);
    assert_eq!(body["scope"], "crm,user");
    assert_eq!(body["user_id"], 1);
    assert_eq!(body["status"], "L");
    assert_eq!(body["client_endpoint"], format!("{}/rest/", o.app.base));
    assert!(body["access_token"].as_str().unwrap().len() >= 32);
}

#[tokio::test]
async fn a_token_works_in_the_auth_and_access_token_parameters_and_a_bearer_header() {
    let o = oauth_app("crm").await;
    let token = o.exchange(&o.code_for(1)).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = o
        .rest(
            "crm.item.add",
            &token,
            json!({"entityTypeId": 2, "fields": {"title": "via oauth"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let url = format!("{}/rest/server.time.json?access_token={token}", o.app.base);
    assert_eq!(o.app.get(&url).await.0, 200);

    let response = o
        .app
        .client
        .get(format!("{}/rest/crm.item.list?entityTypeId=2", o.app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], 1);
}

#[tokio::test]
async fn an_access_token_expires_after_an_hour_and_the_refresh_grant_renews_it() {
    let o = oauth_app("crm").await;
    let first = o.exchange(&o.code_for(1)).await;
    let token = first["access_token"].as_str().unwrap();
    o.clock.advance(3599.0);
    assert_eq!(o.rest("server.time", token, json!({})).await.0, 200);
    o.clock.advance(1.0);

    let (status, body) = o.rest("server.time", token, json!({})).await;
    assert_eq!(
        (status, body),
        (
            401,
            envelope("expired_token", "The access token provided has expired")
        )
    );

    let refresh = first["refresh_token"].as_str().unwrap();
    let url = format!(
        "{}/oauth/token/?grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={refresh}",
        o.app.base, o.client_id, o.client_secret
    );
    let (status, renewed) = o.app.get(&url).await;
    assert_eq!(status, 200, "{renewed}");
    assert_ne!(renewed["access_token"], first["access_token"]);
    assert_eq!(renewed["scope"], "crm");
    let new_token = renewed["access_token"].as_str().unwrap();
    assert_eq!(o.rest("server.time", new_token, json!({})).await.0, 200);

    let (status, body) = o.app.get(&url).await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_grant")),
        "a refresh token works once"
    );
}

#[tokio::test]
async fn a_refresh_token_expires_after_180_days() {
    let o = oauth_app("crm").await;
    let first = o.exchange(&o.code_for(1)).await;
    o.clock.advance(180.0 * 86400.0 + 1.0);
    let (status, body) = o
        .token(json!({"grant_type": "refresh_token", "client_id": o.client_id, "client_secret": o.client_secret, "refresh_token": first["refresh_token"]}))
        .await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_grant"))
    );
}

#[tokio::test]
async fn an_authorization_code_works_once_and_for_thirty_seconds() {
    let o = oauth_app("crm").await;
    let code = o.code_for(1);
    o.exchange(&code).await;
    let again = json!({"grant_type": "authorization_code", "client_id": o.client_id, "client_secret": o.client_secret, "code": code});
    let (status, body) = o.token(again).await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_grant"))
    );

    let late = o.code_for(1);
    o.clock.advance(30.0);
    let (status, body) = o
        .token(json!({"grant_type": "authorization_code", "client_id": o.client_id, "client_secret": o.client_secret, "code": late}))
        .await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_grant"))
    );
}

#[tokio::test]
async fn token_endpoint_errors_are_oauth_shaped() {
    let o = oauth_app("crm").await;
    let code = o.code_for(1);
    let (status, body) = o
        .token(json!({"grant_type": "authorization_code", "client_id": o.client_id, "client_secret": "wrong", "code": code}))
        .await;
    // 400, not 401: the official Python SDK's live test expects a bad request here (spec §12).
    assert_eq!(
        (status, body),
        (
            400,
            envelope("invalid_client", "Invalid client credentials")
        )
    );
    let (status, body) = o.token(json!({"client_id": o.client_id})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    let (status, body) = o
        .token(json!({"grant_type": "password", "client_id": o.client_id, "client_secret": o.client_secret}))
        .await;
    assert_eq!(
        (status, body["error"].clone()),
        (400, json!("invalid_request"))
    );
}

#[tokio::test]
async fn an_unknown_token_is_invalid_token() {
    let o = oauth_app("crm").await;
    let (status, body) = o.rest("server.time", "not-a-token", json!({})).await;
    assert_eq!(
        (status, body),
        (
            401,
            envelope("invalid_token", "The access token provided is invalid.")
        )
    );
}

#[tokio::test]
async fn a_user_the_app_is_closed_to_gets_user_access_error() {
    let o = oauth_app("crm").await;
    let user = o.app.create_user(&["deal.read=all"]);
    let token = o.exchange(&o.code_for(user)).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(o.rest("server.time", &token, json!({})).await.0, 200);
    oauth::deny_user(&o.app.state.store, 1, &o.client_id, user).unwrap();

    let (status, body) = o.rest("server.time", &token, json!({})).await;

    assert_eq!(
        (status, body),
        (
            401,
            envelope(
                "user_access_error",
                "The user does not have access to the application."
            )
        )
    );
}

#[tokio::test]
async fn a_method_outside_the_apps_scopes_is_insufficient_scope_with_the_token_wording() {
    let o = oauth_app("user").await;
    let token = o.exchange(&o.code_for(1)).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = o
        .rest("crm.item.list", &token, json!({"entityTypeId": 2}))
        .await;
    assert_eq!(
        (status, body),
        (
            401,
            envelope(
                "insufficient_scope",
                "The request requires higher privileges than provided by the access token"
            )
        )
    );
}

#[tokio::test]
async fn app_info_answers_the_application_form_for_a_token() {
    let o = oauth_app("crm").await;
    let token = o.exchange(&o.code_for(1)).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = o.rest("app.info", &token, json!({})).await;
    assert_eq!(status, 200);
    let info = &body["result"];
    assert_eq!(info["CODE"], o.client_id);
    assert_eq!(info["STATUS"], "L");
    assert_eq!(info["INSTALLED"], true);
    assert!(info["ID"].is_number());
}

#[tokio::test]
async fn a_blocked_application_gets_overload_limit() {
    let o = oauth_app("crm").await;
    let token = o.exchange(&o.code_for(1)).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    oauth::set_blocked(&o.app.state.store, 1, &o.client_id, true).unwrap();
    let (status, body) = o.rest("server.time", &token, json!({})).await;
    assert_eq!(
        (status, body),
        (
            401,
            envelope("OVERLOAD_LIMIT", "REST API is blocked due to overload.")
        )
    );
    oauth::set_blocked(&o.app.state.store, 1, &o.client_id, false).unwrap();
    assert_eq!(o.rest("server.time", &token, json!({})).await.0, 200);
}

#[tokio::test]
async fn an_unknown_client_id_gets_wrong_client_in_a_200_answer() {
    let o = oauth_app("crm").await;
    let code = o.code_for(1);
    let (status, body) = o
        .token(json!({"grant_type": "authorization_code", "client_id": "local.nope.1", "client_secret": o.client_secret, "code": code}))
        .await;
    assert_eq!((status, body), (200, json!({"error": "wrong_client"})));
    // The code was not used up by the refused exchange.
    o.exchange(&code).await;
}

async fn oauth_server_app_info(o: &OAuthApp, query: &str) -> (u16, Value) {
    let response = o
        .app
        .client
        .get(format!("{}/oauth/rest/app.info/?{query}", o.app.base))
        .send()
        .await
        .unwrap();
    read(response).await
}

#[tokio::test]
async fn the_oauth_servers_app_info_answers_its_own_shape_for_a_token() {
    let o = oauth_app("crm,user").await;
    let issued = o.exchange(&o.code_for(1)).await;
    let token = issued["access_token"].as_str().unwrap();

    let (status, mut body) = oauth_server_app_info(&o, &format!("auth={token}")).await;

    assert_eq!(status, 200, "{body}");
    let time = body.as_object_mut().unwrap().remove("time").unwrap();
    assert!(time["operating"].is_number() && time["date_start"].is_string());
    let base = o.app.base.trim_end_matches('/').to_string();
    assert_eq!(
        body,
        json!({"result": {
            "client_id": o.client_id,
            "scope": "crm,user",
            "expires": b24_server::clock::iso(T0 + 3600.0),
            "install": {
                "installed": true,
                "version": 1,
                "status": "L",
                "scope": "crm,user",
                "domain": issued["domain"],
                "uri": base,
                "client_endpoint": format!("{base}/rest/"),
                "member_id": issued["member_id"],
                "member_type": "company",
            },
            "user_id": 1,
        }})
    );
    // The portal's own app.info keeps its upper-case shape.
    let (status, portal) = o.rest("app.info", token, json!({})).await;
    assert_eq!(
        (status, portal["result"]["CODE"].clone()),
        (200, json!(o.client_id))
    );
}

#[tokio::test]
async fn the_oauth_servers_app_info_refuses_missing_unknown_and_expired_tokens() {
    let o = oauth_app("crm").await;
    let token = o.exchange(&o.code_for(1)).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        oauth_server_app_info(&o, "").await,
        (401, envelope("NO_AUTH_FOUND", "Wrong authorization data"))
    );
    assert_eq!(
        oauth_server_app_info(&o, "auth=not-a-token").await,
        (
            400,
            envelope("invalid_client", "Invalid client credentials")
        )
    );
    o.clock.advance(3600.0);
    assert_eq!(
        oauth_server_app_info(&o, &format!("auth={token}")).await,
        (
            401,
            envelope("expired_token", "The access token provided has expired")
        )
    );
}

#[tokio::test]
async fn rest_app_info_asked_with_the_oauth_servers_host_name_is_the_oauth_servers_app_info() {
    let o = oauth_app("crm").await;
    let token = o.exchange(&o.code_for(1)).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, direct) = oauth_server_app_info(&o, &format!("auth={token}")).await;
    assert_eq!(status, 200);
    for host in ["oauth.bitrix24.tech", "oauth.bitrix.info"] {
        let response = o
            .app
            .client
            .get(format!("{}/rest/app.info/?auth={token}", o.app.base))
            .header("Host", host)
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        assert_eq!(
            (status, &body["result"]),
            (200, &direct["result"]),
            "{host}"
        );
    }
    // Without that host name, /rest/app.info is the portal's method.
    let (_, portal) = o.rest("app.info", &token, json!({})).await;
    assert_eq!(portal["result"]["CODE"], json!(o.client_id));
}
