//! Browser applications (spec frame-host.md): installation through the install page and
//! `ONAPPINSTALL`, `app.info.INSTALLED`, the portal page's launch codes, session and launch form,
//! its server actions, and the methods `placement.*`, `app.option.*`, `user.option.*` with every
//! error pinned. The parent script itself runs in a real browser in `frame_browser`.

use crate::events::receiver;
use crate::helpers::*;
use b24_server::clock::{Clock, ManualClock};
use b24_server::oauth::{self, AppSetup};
use serde_json::{json, Value};
use std::sync::Arc;

const T0: f64 = 1_800_000_000.0;
const HANDLER: &str = "http://app.localhost:5173/handler";
const INSTALL: &str = "http://app.localhost:5173/install";

/// A server on a manual clock with quick event delivery, an application created with `setup`,
/// and a token of the administrator (user 1).
struct FrameApp {
    app: TestApp,
    clock: Arc<ManualClock>,
    client_id: String,
    client_secret: String,
    application_token: String,
    app_id: i64,
    token: String,
    /// A client that does not follow redirects (to read the launch answer).
    browser: reqwest::Client,
}

async fn frame_app(scopes: &str, setup: AppSetup) -> FrameApp {
    let clock = Arc::new(ManualClock::new(T0));
    let c = clock.clone();
    let app = spawn_app_with(move |config| {
        config.clock = c;
        config.events = quick_delivery();
    })
    .await;
    let scopes = b24_server::admin::parse_scopes(Some(scopes)).unwrap();
    let credentials =
        oauth::create_app_with(&app.state.store, 1, "Frame app", &scopes, "", &setup).unwrap();
    let mut frame = FrameApp {
        app,
        clock,
        client_id: credentials.client_id,
        client_secret: credentials.client_secret,
        application_token: credentials.application_token,
        app_id: 0,
        token: String::new(),
        browser: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    frame.token = frame.token_for(1).await;
    frame.app_id = frame.ok("app.info", json!({})).await["ID"]
        .as_i64()
        .unwrap();
    frame
}

impl FrameApp {
    async fn token_for(&self, user: i64) -> String {
        let store = &self.app.state.store;
        let code =
            oauth::authorize(store, 1, &self.client_id, user, self.clock.now(), 30.0).unwrap();
        let response = self
            .app
            .client
            .post(format!("{}/oauth/token/", self.app.base))
            .form(
                &json!({"grant_type": "authorization_code", "client_id": self.client_id,
                          "client_secret": self.client_secret, "code": code}),
            )
            .send()
            .await
            .unwrap();
        let (status, tokens) = read(response).await;
        assert_eq!(status, 200, "{tokens}");
        tokens["access_token"].as_str().unwrap().to_string()
    }

    async fn rest_as(&self, token: &str, method: &str, params: Value) -> (u16, Value) {
        let mut body = params;
        body["auth"] = json!(token);
        let response = self
            .app
            .client
            .post(format!("{}/rest/{method}.json", self.app.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    async fn rest(&self, method: &str, params: Value) -> (u16, Value) {
        self.rest_as(&self.token, method, params).await
    }

    async fn ok(&self, method: &str, params: Value) -> Value {
        let (status, body) = self.rest(method, params).await;
        assert_eq!(status, 200, "{method}: {body}");
        body["result"].clone()
    }

    /// `b24-server app open`'s URL for `user` (and a placement).
    fn launch(&self, user: i64, placement: Option<&str>, options: Option<&str>) -> String {
        let url = b24_server::http::host::launch_url(
            &self.app.state.store,
            1,
            &self.client_id,
            user,
            placement,
            options,
            self.clock.now(),
        )
        .unwrap();
        // The stored public URL is the server's; the test talks to its listening address.
        let path = url.split_once("/b24host/").unwrap().1;
        format!("{}/b24host/{path}", self.app.base)
    }

    /// Follows a launch URL: the session cookie and where it leads.
    async fn sign_in(&self, user: i64) -> (String, String) {
        let response = self
            .browser
            .get(self.launch(user, None, None))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_string();
        let target = response.headers()["location"].to_str().unwrap().to_string();
        (cookie.split(';').next().unwrap().to_string(), target)
    }

    /// A page of the portal with the session cookie: status and body.
    async fn page(&self, cookie: &str, path: &str) -> (u16, String) {
        let response = self
            .browser
            .get(format!("{}{path}", self.app.base))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// The parent script's configuration embedded in a page.
    async fn page_config(&self, cookie: &str, path: &str) -> Value {
        let (status, html) = self.page(cookie, path).await;
        assert_eq!(status, 200, "{html}");
        let start = html.find(r#"id="b24host-config">"#).unwrap() + r#"id="b24host-config">"#.len();
        let end = start + html[start..].find("</script>").unwrap();
        serde_json::from_str(&html[start..end]).unwrap()
    }

    async fn action(&self, cookie: &str, body: Value) -> (u16, Value) {
        let mut body = body;
        body["app_id"] = json!(self.app_id);
        let response = self
            .browser
            .post(format!("{}/b24host/action", self.app.base))
            .header("cookie", cookie)
            .header("x-b24-host", "1")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

fn with_pages() -> AppSetup {
    AppSetup {
        handler_url: HANDLER.into(),
        install_url: INSTALL.into(),
        api_only: false,
    }
}

fn field<'a>(config: &'a Value, name: &str) -> &'a str {
    config["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f[0] == name)
        .unwrap_or_else(|| panic!("{name} missing"))[1]
        .as_str()
        .unwrap()
}

fn wrong_auth_type() -> Value {
    envelope(
        "WRONG_AUTH_TYPE",
        "Current authorization type is denied for this method Application context required",
    )
}

fn argument_null(argument: &str) -> Value {
    json!({
        "error": "ERROR_ARGUMENT",
        "error_description": format!("Argument '{argument}' is null or empty"),
        "argument": argument,
    })
}

#[tokio::test]
async fn an_application_with_an_install_page_is_installed_by_install_finish_which_fires_onappinstall(
) {
    let f = frame_app("crm,placement", with_pages()).await;
    assert_eq!(f.ok("app.info", json!({})).await["INSTALLED"], json!(false));
    let r = receiver(0).await;
    f.ok(
        "event.bind",
        json!({"event": "ONAPPINSTALL", "handler": r.url}),
    )
    .await;

    let (cookie, target) = f.sign_in(1).await;
    assert_eq!(target, format!("/marketplace/app/{}/", f.app_id));
    let config = f.page_config(&cookie, &target).await;
    assert!(config["action"].as_str().unwrap().starts_with(INSTALL));
    assert_eq!(config["data"]["INSTALL"], json!(true));
    assert_eq!(config["data"]["FIRST_RUN"], json!(true));

    let (status, body) = f.action(&cookie, json!({"action": "install-finish"})).await;
    assert_eq!((status, body), (200, json!({"installed": true})));
    assert_eq!(f.ok("app.info", json!({})).await["INSTALLED"], json!(true));

    let got = r.wait_for(1).await;
    assert_eq!(got[0].get("event"), "ONAPPINSTALL");
    assert_eq!(got[0].get("data[VERSION]"), "1");
    assert_eq!(got[0].get("data[ACTIVE]"), "Y");
    assert_eq!(got[0].get("data[INSTALLED]"), "Y");
    assert_eq!(got[0].get("data[LANGUAGE_ID]"), "en");
    assert_eq!(got[0].get("auth[application_token]"), f.application_token);
    assert_eq!(got[0].get("auth[member_id]").len(), 32);
    // The install event hands the application its own refresh token, which works.
    assert_eq!(got[0].get("auth[refresh_token]").len(), 64);
    let fresh = got[0].get("auth[access_token]").to_string();
    let (status, _) = f.rest_as(&fresh, "app.info", json!({})).await;
    assert_eq!(status, 200);

    // Installed: the page now opens the handler; installing again fires nothing.
    let config = f.page_config(&cookie, &target).await;
    assert!(config["action"].as_str().unwrap().starts_with(HANDLER));
    assert_eq!(config["data"]["INSTALL"], json!(false));
    f.action(&cookie, json!({"action": "install-finish"})).await;
    r.assert_no_more_than(1).await;
}

#[tokio::test]
async fn a_non_administrator_cannot_finish_the_installation_and_is_told_so() {
    let f = frame_app("crm", with_pages()).await;
    let user = f.app.create_user(&[]);
    let (cookie, target) = f.sign_in(user).await;
    let (status, html) = f.page(&cookie, &target).await;
    assert_eq!(status, 200);
    assert!(html.contains("not fully installed"), "{html}");
    let (status, body) = f.action(&cookie, json!({"action": "install-finish"})).await;
    assert_eq!(
        (status, body),
        (403, json!({"error": "administrators only"}))
    );
    // An administrator who reopens the page as a non-administrator is one too.
    let (cookie, target) = f.sign_in(1).await;
    let (_, html) = f.page(&cookie, &format!("{target}?b24host_as=user")).await;
    assert!(html.contains("not fully installed"), "{html}");
    assert_eq!(f.ok("app.info", json!({})).await["INSTALLED"], json!(false));
}

#[tokio::test]
async fn an_api_only_application_is_installed_when_created_and_its_install_url_gets_the_install_post(
) {
    let clock = Arc::new(ManualClock::new(T0));
    let app = spawn_app_with(move |config| {
        config.clock = clock;
        config.events = quick_delivery();
    })
    .await;
    let r = receiver(0).await;
    let setup = AppSetup {
        handler_url: String::new(),
        install_url: r.url.clone(),
        api_only: true,
    };
    let scopes = vec!["crm".to_string()];
    let credentials =
        oauth::create_app_with(&app.state.store, 1, "API app", &scopes, "", &setup).unwrap();
    app.state.events_wake.notify_one();
    let got = r.wait_for(1).await;
    assert_eq!(got[0].get("event"), "ONAPPINSTALL");
    assert_eq!(got[0].get("event_handler_id"), "0");
    assert_eq!(
        got[0].get("auth[application_token]"),
        credentials.application_token
    );
    assert_eq!(got[0].get("auth[scope]"), "crm");
    r.assert_no_more_than(1).await;
}

#[tokio::test]
async fn a_launch_code_works_once_and_for_a_minute_only() {
    let f = frame_app("crm", with_pages()).await;
    let url = f.launch(1, None, None);
    let first = f.browser.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 303);
    let cookie = first.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let again = f.browser.get(&url).send().await.unwrap();
    assert_eq!(again.status(), 403);

    let late = f.launch(1, None, None);
    f.clock.advance(61.0);
    assert_eq!(f.browser.get(&late).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn pages_and_actions_need_a_session_and_actions_need_the_host_header() {
    let f = frame_app("crm", with_pages()).await;
    let path = format!("/marketplace/app/{}/", f.app_id);
    let (status, _) = f.page("b24host_session=forged", &path).await;
    assert_eq!(status, 401);
    let (status, body) = f
        .action("b24host_session=forged", json!({"action": "refresh"}))
        .await;
    assert_eq!((status, body), (401, json!({"error": "not signed in"})));
    let (cookie, _) = f.sign_in(1).await;
    let response = f
        .browser
        .post(format!("{}/b24host/action", f.app.base))
        .header("cookie", &cookie)
        .json(&json!({"action": "refresh", "app_id": f.app_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn the_page_posts_the_launch_fields_of_the_signed_in_user_into_a_frame_named_domain_protocol_sid(
) {
    let f = frame_app(
        "crm,placement",
        AppSetup {
            handler_url: HANDLER.into(),
            ..AppSetup::default()
        },
    )
    .await;
    let user = f.app.create_user(&[]);
    let (cookie, target) = f.sign_in(user).await;
    let config = f.page_config(&cookie, &format!("{target}?from=menu")).await;
    let host = f.app.base.trim_start_matches("http://");
    let sid = config["sid"].as_str().unwrap();
    assert_eq!(sid.len(), 32);
    assert_eq!(config["frameName"], json!(format!("{host}|0|{sid}")));
    assert_eq!(config["handlerOrigin"], json!("http://app.localhost:5173"));
    let action = reqwest::Url::parse(config["action"].as_str().unwrap()).unwrap();
    let query: Vec<(String, String)> = action.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        [
            ("DOMAIN", host),
            ("PROTOCOL", "0"),
            ("LANG", "en"),
            ("APP_SID", sid)
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    let names: Vec<&str> = config["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f[0].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "AUTH_ID",
            "AUTH_EXPIRES",
            "REFRESH_ID",
            "member_id",
            "status",
            "PLACEMENT",
            "PLACEMENT_OPTIONS",
            "SERVER_ENDPOINT",
            "APPLICATION_TOKEN",
            "APPLICATION_SCOPE"
        ]
    );
    assert_eq!(field(&config, "AUTH_EXPIRES"), "3600");
    assert_eq!(field(&config, "status"), "L");
    assert_eq!(field(&config, "PLACEMENT"), "DEFAULT");
    assert_eq!(field(&config, "PLACEMENT_OPTIONS"), r#"{"from":"menu"}"#);
    assert_eq!(
        field(&config, "SERVER_ENDPOINT"),
        format!("{}/rest/", f.app.base)
    );
    assert_eq!(field(&config, "APPLICATION_TOKEN"), f.application_token);
    assert_eq!(field(&config, "APPLICATION_SCOPE"), "crm,placement");
    assert_eq!(config["data"]["IS_ADMIN"], json!(false));
    assert_eq!(config["data"]["PROTOCOL"], json!(0));
    assert_eq!(config["data"]["PATH"], json!("/rest"));
    assert_eq!(config["data"]["APP_OPTIONS"], json!([]));
    assert_eq!(config["data"]["PLACEMENT_OPTIONS"], json!({"from": "menu"}));
    // The token is the signed-in user's.
    let (status, me) = f
        .rest_as(field(&config, "AUTH_ID"), "user.current", json!({}))
        .await;
    assert_eq!(status, 401, "{me}"); // no `user` scope: the token is valid but narrow
    let (status, info) = f
        .rest_as(field(&config, "AUTH_ID"), "profile", json!({}))
        .await;
    assert_eq!(
        (status, info["result"]["ID"].clone()),
        (200, json!(user.to_string()))
    );
}

#[tokio::test]
async fn refresh_issues_a_working_pair_and_expire_ends_the_applications_tokens() {
    let f = frame_app(
        "crm",
        AppSetup {
            handler_url: HANDLER.into(),
            ..AppSetup::default()
        },
    )
    .await;
    let (cookie, target) = f.sign_in(1).await;
    let config = f.page_config(&cookie, &target).await;
    let old = field(&config, "AUTH_ID").to_string();
    let (status, body) = f.action(&cookie, json!({"action": "expire"})).await;
    assert_eq!(status, 200);
    assert!(body["expired"].as_i64().unwrap() >= 1);
    let (status, body) = f.rest_as(&old, "app.info", json!({})).await;
    assert_eq!(
        (status, body["error"].clone()),
        (401, json!("expired_token"))
    );
    let (status, fresh) = f.action(&cookie, json!({"action": "refresh"})).await;
    assert_eq!(status, 200);
    assert_eq!(fresh["AUTH_EXPIRES"], json!("3600"));
    let (status, _) = f
        .rest_as(fresh["AUTH_ID"].as_str().unwrap(), "app.info", json!({}))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn options_set_from_the_frame_and_through_rest_are_one_store() {
    let f = frame_app(
        "crm",
        AppSetup {
            handler_url: HANDLER.into(),
            ..AppSetup::default()
        },
    )
    .await;
    let (cookie, target) = f.sign_in(1).await;
    let (status, all) = f
        .action(
            &cookie,
            json!({"action": "app-option", "name": "color", "value": "red"}),
        )
        .await;
    assert_eq!((status, all), (200, json!({"color": "red"})));
    f.action(
        &cookie,
        json!({"action": "user-option", "name": "tab", "value": "2"}),
    )
    .await;
    assert_eq!(
        f.ok("app.option.get", json!({"option": "color"})).await,
        json!("red")
    );
    assert_eq!(
        f.ok("user.option.get", json!({})).await,
        json!({"tab": "2"})
    );

    assert_eq!(
        f.ok("app.option.set", json!({"options": {"size": "L"}}))
            .await,
        json!(true)
    );
    // Without `options`, every parameter is an option.
    assert_eq!(
        f.ok("user.option.set", json!({"lang": "de"})).await,
        json!(true)
    );
    assert_eq!(
        f.ok("app.option.get", json!({})).await,
        json!({"color": "red", "size": "L"})
    );
    assert_eq!(
        f.ok("app.option.get", json!({"option": "none"})).await,
        Value::Null
    );
    let config = f.page_config(&cookie, &target).await;
    assert_eq!(
        config["data"]["APP_OPTIONS"],
        json!({"color": "red", "size": "L"})
    );
    assert_eq!(
        config["data"]["USER_OPTIONS"],
        json!({"lang": "de", "tab": "2"})
    );
}

#[tokio::test]
async fn option_methods_refuse_webhooks_non_administrators_and_empty_options() {
    let f = frame_app("crm", AppSetup::default()).await;
    for method in [
        "app.option.get",
        "app.option.set",
        "user.option.get",
        "user.option.set",
    ] {
        let (status, body) = f.app.call(method, json!({"options": {"a": "1"}})).await;
        assert_eq!((status, body), (403, wrong_auth_type()), "{method}");
    }
    let user = f.app.create_user(&[]);
    let token = f.token_for(user).await;
    let (status, body) = f
        .rest_as(&token, "app.option.set", json!({"options": {"a": "1"}}))
        .await;
    assert_eq!(
        (status, body),
        (
            403,
            envelope(
                "ACCESS_DENIED",
                "Access denied! Administrator authorization required"
            )
        )
    );
    assert_eq!(f.ok("app.option.get", json!({})).await, json!([]));
    let (status, _) = f
        .rest_as(&token, "user.option.set", json!({"options": {"a": "1"}}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = f.rest("app.option.set", json!({"options": {}})).await;
    assert_eq!((status, body), (400, argument_null("options")));
    let (status, body) = f.rest("user.option.set", json!({})).await;
    assert_eq!((status, body), (400, argument_null("options")));
}

#[tokio::test]
async fn placements_are_bound_listed_read_and_unbound_by_an_administrator_application() {
    let f = frame_app("crm,placement", AppSetup::default()).await;
    let bound = f
        .ok(
            "placement.bind",
            json!({"PLACEMENT": "crm_deal_detail_tab", "HANDLER": "https://app.example.com/tab",
                   "TITLE": "Tab", "OPTIONS": {"color": "red"}}),
        )
        .await;
    assert_eq!(bound, json!(true));
    assert_eq!(
        f.ok("placement.get", json!({})).await,
        json!([{"placement": "CRM_DEAL_DETAIL_TAB", "userId": 0,
                "handler": "https://app.example.com/tab", "options": {"color": "red"},
                "title": "Tab", "description": "",
                "langAll": {"en": {"TITLE": "Tab", "DESCRIPTION": "", "GROUP_NAME": ""}}}])
    );
    let list = f.ok("placement.list", json!({})).await;
    assert!(list
        .as_array()
        .unwrap()
        .contains(&json!("CRM_DEAL_DETAIL_TAB")));
    assert!(list.as_array().unwrap().contains(&json!("REST_APP_URI")));
    assert!(!list
        .as_array()
        .unwrap()
        .contains(&json!("USER_PROFILE_MENU")));
    assert!(f
        .ok("placement.list", json!({"FULL": true}))
        .await
        .as_array()
        .unwrap()
        .contains(&json!("USER_PROFILE_MENU")));
    assert_eq!(
        f.ok("placement.list", json!({"SCOPE": "user"})).await,
        json!(["USER_PROFILE_MENU", "USER_PROFILE_TOOLBAR"])
    );
    // Each binding counts twice: found, then deleted.
    assert_eq!(
        f.ok(
            "placement.unbind",
            json!({"PLACEMENT": "CRM_DEAL_DETAIL_TAB"})
        )
        .await,
        json!({"count": 2})
    );
    assert_eq!(
        f.ok(
            "placement.unbind",
            json!({"PLACEMENT": "CRM_DEAL_DETAIL_TAB"})
        )
        .await,
        json!({"count": 0})
    );
    assert_eq!(f.ok("placement.get", json!({})).await, json!([]));
}

#[tokio::test]
async fn placement_bind_errors_are_the_real_services() {
    let f = frame_app("crm,placement", AppSetup::default()).await;
    let bind = |params: Value| async { f.rest("placement.bind", params).await };
    let h = "https://app.example.com/h";
    assert_eq!(
        bind(json!({"HANDLER": h})).await,
        (400, argument_null("PLACEMENT"))
    );
    assert_eq!(
        bind(json!({"PLACEMENT": "DEFAULT", "HANDLER": h})).await,
        (400, argument_null("PLACEMENT"))
    );
    assert_eq!(
        bind(json!({"PLACEMENT": "CRM_DEAL_DETAIL_TAB"})).await,
        (400, argument_null("HANDLER"))
    );
    assert_eq!(
        bind(json!({"PLACEMENT": "TASK_VIEW_TAB", "HANDLER": h})).await,
        (
            400,
            envelope("ERROR_PLACEMENT_NOT_FOUND", "Placement not found")
        )
    );
    assert_eq!(
        bind(json!({"PLACEMENT": "CRM_DEAL_DETAIL_TAB", "HANDLER": "ftp://app.example.com/"}))
            .await,
        (
            400,
            envelope("ERROR_UNSUPPORTED_PROTOCOL", "Unsupported handler protocol")
        )
    );
    assert_eq!(
        bind(json!({"PLACEMENT": "CRM_DEAL_DETAIL_TAB", "HANDLER": h, "USER_ID": 1})).await,
        (
            400,
            envelope(
                "ERROR_PLACEMENT_USER_MODE",
                "Placement does not support user mode"
            )
        )
    );
    assert_eq!(
        bind(json!({"PLACEMENT": "CRM_DEAL_DETAIL_TAB", "HANDLER": h}))
            .await
            .0,
        200
    );
    assert_eq!(
        bind(json!({"PLACEMENT": "CRM_DEAL_DETAIL_TAB", "HANDLER": h})).await,
        (
            400,
            envelope(
                "ERROR_CORE",
                "Unable to set placement handler: Handler already binded"
            )
        )
    );
    assert_eq!(
        bind(json!({"PLACEMENT": "REST_APP_URI", "HANDLER": h}))
            .await
            .0,
        200
    );
    assert_eq!(
        bind(json!({"PLACEMENT": "REST_APP_URI", "HANDLER": "https://app.example.com/2"})).await,
        (
            400,
            envelope("ERROR_PLACEMENT_MAX_COUNT", "Placement max count exceeded")
        )
    );

    for method in [
        "placement.bind",
        "placement.unbind",
        "placement.get",
        "placement.list",
    ] {
        let (status, body) = f.app.call(method, json!({})).await;
        assert_eq!((status, body), (403, wrong_auth_type()), "{method}");
    }
    let user = f.app.create_user(&[]);
    let token = f.token_for(user).await;
    for method in ["placement.bind", "placement.unbind", "placement.get"] {
        let (status, body) = f
            .rest_as(&token, method, json!({"PLACEMENT": "REST_APP_URI"}))
            .await;
        assert_eq!(
            (status, body),
            (403, envelope("ACCESS_DENIED", "Access denied!")),
            "{method}"
        );
    }
    let (status, _) = f.rest_as(&token, "placement.list", json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_bound_placement_opens_with_its_handler_and_options_and_rest_app_uri_with_params() {
    let f = frame_app(
        "crm,placement",
        AppSetup {
            handler_url: HANDLER.into(),
            ..AppSetup::default()
        },
    )
    .await;
    f.ok(
        "placement.bind",
        json!({"PLACEMENT": "CRM_DEAL_DETAIL_TAB", "HANDLER": "http://app.localhost:5173/tab"}),
    )
    .await;
    f.ok(
        "placement.bind",
        json!({"PLACEMENT": "REST_APP_URI", "HANDLER": "http://app.localhost:5173/uri"}),
    )
    .await;
    let url = f.launch(1, Some("crm_deal_detail_tab"), Some(r#"{"ID":"8061"}"#));
    let response = f.browser.get(url).send().await.unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let target = response.headers()["location"].to_str().unwrap().to_string();
    let config = f.page_config(&cookie, &target).await;
    assert!(config["action"]
        .as_str()
        .unwrap()
        .starts_with("http://app.localhost:5173/tab?"));
    assert_eq!(field(&config, "PLACEMENT"), "CRM_DEAL_DETAIL_TAB");
    assert_eq!(field(&config, "PLACEMENT_OPTIONS"), r#"{"ID":"8061"}"#);
    assert_eq!(config["data"]["PLACEMENT_OPTIONS"], json!({"ID": "8061"}));

    let config = f
        .page_config(
            &cookie,
            &format!("/marketplace/view/{}/?params[order]=5", f.client_id),
        )
        .await;
    assert!(config["action"]
        .as_str()
        .unwrap()
        .starts_with("http://app.localhost:5173/uri?"));
    assert_eq!(field(&config, "PLACEMENT"), "REST_APP_URI");
    assert_eq!(
        config["data"]["PLACEMENT_OPTIONS"],
        json!({"params": {"order": "5"}, "URI": format!("/marketplace/view/{}/", f.client_id)})
    );
    let (status, _) = f
        .page(
            &cookie,
            &format!("/marketplace/placement/{}/CRM_LEAD_DETAIL_TAB/", f.app_id),
        )
        .await;
    assert_eq!(status, 404);
}
