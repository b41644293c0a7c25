//! The web console's protection and pages over plain HTTP: sign-in by the one-time link or the
//! admin token, cookie flags, the `Host` check (DNS rebinding), same-origin writes, the redirect
//! of a browser's `GET /`, REST answers unchanged, and no page showing a secret.

use crate::helpers::*;
use reqwest::header;
use serde_json::json;

/// A client that does not follow redirects (so the tests see them).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in through a fresh one-time link; answers the session cookie (`name=value`).
async fn sign_in(app: &TestApp) -> String {
    let code = app.state.control.console.issue_code();
    let response = client()
        .get(format!("{}/_b24/ui/login?code={code}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

async fn page(app: &TestApp, path: &str, cookie: &str) -> (u16, String) {
    let response = client()
        .get(format!("{}/_b24/ui/{path}", app.base))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn the_printed_link_signs_in_once_with_an_http_only_same_site_strict_cookie() {
    let app = spawn_app().await;
    let code = app.state.control.console.issue_code();
    let url = format!("{}/_b24/ui/login?code={code}", app.base);

    let response = client().get(&url).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[header::LOCATION], "/_b24/ui/");
    let set_cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.starts_with("b24_console="), "{set_cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/_b24/ui"] {
        assert!(set_cookie.contains(flag), "{flag} missing: {set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP: {set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap();
    let (status, html) = page(&app, "", cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains("<h1>Overview</h1>"), "{html}");

    let again = client().get(&url).send().await.unwrap();
    assert_eq!(again.status(), 403, "a one-time code used twice is refused");
    assert!(again
        .headers()
        .get(header::SET_COOKIE)
        .is_none_or(|c| !c.to_str().unwrap().contains("b24_console=")));
    let wrong = client()
        .get(format!("{}/_b24/ui/login?code=nope", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
}

#[tokio::test]
async fn without_a_session_a_page_answers_the_sign_in_form_and_a_forged_cookie_is_refused() {
    let app = spawn_app().await;
    let response = client()
        .get(format!("{}/_b24/ui/requests", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let html = response.text().await.unwrap();
    assert!(html.contains("Sign in to the console"), "{html}");
    let forged = format!("b24_console={}.abc.{}", u64::MAX / 2, "0".repeat(64));
    let (status, _) = page(&app, "", &forged).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_admin_token_opens_the_console_as_a_header_or_through_the_sign_in_form() {
    let app = spawn_app().await;
    let bearer = client()
        .get(format!("{}/_b24/ui/", app.base))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    let wrong = client()
        .get(format!("{}/_b24/ui/", app.base))
        .bearer_auth("not-the-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let form = client()
        .post(format!("{}/_b24/ui/login", app.base))
        .header(header::ORIGIN, &app.base)
        .form(&[("token", app.admin_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 303);
    let cookie = form.headers()[header::SET_COOKIE].to_str().unwrap();
    let (status, _) = page(&app, "faults", cookie.split(';').next().unwrap()).await;
    assert_eq!(status, 200);
    let refused = client()
        .post(format!("{}/_b24/ui/login", app.base))
        .header(header::ORIGIN, &app.base)
        .form(&[("token", "wrong-token-0123456789")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn a_host_that_is_not_loopback_or_configured_is_refused() {
    let app = spawn_app().await;
    let port = app.base.rsplit(':').next().unwrap();
    for (host, expected) in [
        ("evil.example".to_string(), 403),
        (format!("evil.example:{port}"), 403),
        (format!("127.0.0.1:{port}"), 200),
        (format!("localhost:{port}"), 200),
        (format!("t1.localhost:{port}"), 200),
        (format!("[::1]:{port}"), 200),
    ] {
        let response = client()
            .get(format!("{}/_b24/ui/", app.base))
            .header(header::HOST, &host)
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "Host: {host}");
    }
    let login = client()
        .get(format!("{}/_b24/ui/login", app.base))
        .header(header::HOST, "rebound.example")
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 403, "the sign-in page is refused too");
}

#[tokio::test]
async fn a_cross_origin_write_is_refused_and_a_same_origin_one_is_done() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let add = |origin: Option<&str>, site: Option<&str>| {
        let mut request = client()
            .post(format!("{}/_b24/ui/faults", app.base))
            .header(header::COOKIE, &cookie)
            .form(&[("preset", "html-502")]);
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        request.send()
    };
    for (origin, site) in [
        (Some("http://evil.example"), None),
        (None, Some("cross-site")),
        (Some(app.base.as_str()), Some("same-site")),
        (None, None),
    ] {
        let response = add(origin, site).await.unwrap();
        assert_eq!(
            response.status(),
            403,
            "Origin {origin:?}, Sec-Fetch-Site {site:?}"
        );
    }
    let (_, rules) = app.control(reqwest::Method::GET, "/faults", None).await;
    assert_eq!(rules["faults"], json!([]), "nothing was added");

    let done = add(Some(&app.base), Some("same-origin")).await.unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(
        done.headers()[header::LOCATION],
        "/_b24/ui/faults?done=fault"
    );
    let (_, rules) = app.control(reqwest::Method::GET, "/faults", None).await;
    assert_eq!(rules["faults"][0]["action"], json!({"network": "html502"}));
}

#[tokio::test]
async fn a_browser_opening_the_root_is_sent_to_the_console_and_rest_answers_stay_as_they_were() {
    let app = spawn_app().await;
    let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let browser = client()
        .get(format!("{}/", app.base))
        .header(header::ACCEPT, html)
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 302);
    assert_eq!(browser.headers()[header::LOCATION], "/_b24/ui/");

    // Not a browser's page request: the unknown-method answer, as before.
    for accept in [None, Some("application/json"), Some("*/*")] {
        let mut request = client().get(format!("{}/", app.base));
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        let (status, body) = read(request.send().await.unwrap()).await;
        assert_eq!(
            (status, &body["error"]),
            (404, &json!("ERROR_METHOD_NOT_FOUND"))
        );
    }
    let post = client()
        .post(format!("{}/", app.base))
        .header(header::ACCEPT, html)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 404, "only GET is redirected");

    // REST and the token endpoint answer JSON even to a browser.
    let rest = |accept: Option<&'static str>| {
        let mut request = client().get(format!("{}server.time", app.admin_url));
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        request.send()
    };
    let (plain_status, plain) = read(rest(None).await.unwrap()).await;
    let (browser_status, browsed) = read(rest(Some(html)).await.unwrap()).await;
    assert_eq!((plain_status, browser_status), (200, 200));
    assert!(plain["result"].is_string() && browsed["result"].is_string());
    let unknown = client()
        .get(format!("{}/rest/no.such.method", app.base))
        .header(header::ACCEPT, html)
        .send()
        .await
        .unwrap();
    let (status, body) = read(unknown).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "ERROR_METHOD_NOT_FOUND");
    let token = client()
        .get(format!("{}/oauth/token/", app.base))
        .header(header::ACCEPT, html)
        .send()
        .await
        .unwrap();
    assert_ne!(token.status(), 302);
}

#[tokio::test]
async fn every_page_renders_for_a_second_portal_and_an_unknown_portal_is_not_found() {
    let app = spawn_app().await;
    let (status, created) = app
        .control(
            reqwest::Method::POST,
            "/portals",
            Some(json!({"name": "t1"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let cookie = sign_in(&app).await;
    for path in [
        "",
        "requests",
        "data",
        "events",
        "faults",
        "access",
        "snapshots",
    ] {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, html) = page(&app, &format!("{path}{sep}portal=t1"), &cookie).await;
        assert_eq!(status, 200, "{path}: {html}");
        assert!(
            html.contains("id=\"portal-select\""),
            "{path}: the selector"
        );
        assert!(html.contains("<option value=\"t1\" selected>"), "{path}");
    }
    let (status, _) = page(&app, "?portal=nope", &cookie).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn no_console_page_shows_a_secret_the_test_created() {
    let app = spawn_app().await;
    let mut secrets: Vec<String> = vec![app.admin_token.clone()];
    // The administrator's webhook code and a second webhook's.
    let code_of = |url: &str| {
        url.trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap()
            .to_string()
    };
    secrets.push(code_of(&app.admin_url));
    let second = app.create_webhook(1, None);
    secrets.push(code_of(&second));
    // An application, its tokens and application token.
    let now = app.state.clock.now();
    let installed = app.install_app("crm,user", 1, now).await;
    secrets.push(installed.client_secret.clone());
    secrets.push(installed.application_token.clone());
    let access = installed.tokens["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let refresh = installed.tokens["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    secrets.push(access.clone());
    secrets.push(refresh.clone());
    // An outgoing webhook's application token.
    let outgoing = b24_server::admin::add_outgoing_webhook(
        &app.state.store,
        1,
        "ONCRMDEALADD",
        "http://127.0.0.1:9/hook",
    )
    .unwrap();
    secrets.push(outgoing.application_token.clone());
    // Calls that carry secrets in their parameters, data, events, a fault and a snapshot.
    let deal = app.new_item(2, None).await;
    let other = app.new_item(2, None).await;
    let todo = app.new_todo(2, deal).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": todo, "entityTypeId": 2, "entityId": other}),
    )
    .await;
    let (status, _) = app
        .get(&format!("{}/rest/user.current?auth={access}", app.base))
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post_form(
            &format!("{}/rest/batch", app.base),
            &format!("auth={access}&cmd[a]=user.current%3Fauth%3D{access}&cmd[b]=server.time"),
        )
        .await;
    assert_eq!(status, 200);
    let refreshed = client()
        .get(format!(
            "{}/oauth/token/?grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={refresh}",
            app.base, installed.client_id, installed.client_secret
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let (status, _) = app
        .control(
            reqwest::Method::POST,
            "/faults",
            Some(json!({"times": 1, "action": {"error": "QUERY_LIMIT_EXCEEDED"}})),
        )
        .await;
    assert_eq!(status, 201);
    app.control(
        reqwest::Method::POST,
        "/snapshots",
        Some(json!({"name": "baseline"})),
    )
    .await;

    let cookie = sign_in(&app).await;
    let (_, journal) = app
        .control(reqwest::Method::GET, "/journal?limit=1000", None)
        .await;
    let mut paths: Vec<String> = [
        "",
        "requests",
        "data",
        "data?type=2",
        "events",
        "faults",
        "access",
        "snapshots",
        "export",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    for entry in journal["entries"].as_array().unwrap() {
        paths.push(format!("requests/{}", entry["seq"]));
    }
    assert!(paths.len() > 12, "the journal holds the calls: {journal}");
    paths.push(format!("data/2/{deal}"));
    paths.push(format!("data/2/{other}"));
    paths.push(format!("activity/{todo}"));
    for path in &paths {
        let (status, html) = page(&app, path, &cookie).await;
        assert_eq!(status, 200, "{path}: {html}");
        for secret in &secrets {
            assert!(
                !html.contains(secret.as_str()),
                "the page {path} shows a secret the test created"
            );
        }
    }
}

#[tokio::test]
async fn the_activity_page_draws_its_bindings_with_the_owner_marked() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    let todo = app.new_todo(2, deal).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": todo, "entityTypeId": 3, "entityId": contact}),
    )
    .await;
    let cookie = sign_in(&app).await;
    let (status, html) = page(&app, &format!("activity/{todo}"), &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains("data-testid=\"binding-graph\""), "{html}");
    assert!(
        html.contains(&format!("aria-label=\"Deal {deal}: item (owner)\"")),
        "{html}"
    );
    assert!(
        html.contains(&format!("aria-label=\"Contact {contact}: ")),
        "{html}"
    );
    assert!(
        !html.contains(&format!("Contact {contact}: item (owner)")),
        "{html}"
    );
    assert_eq!(html.matches("class=\"owner-label\"").count(), 1);
}

#[tokio::test]
async fn item_titles_are_escaped_on_every_page_that_shows_them() {
    let app = spawn_app().await;
    let title = "<script>alert(1)</script> & \"quoted\"";
    let result = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": title}}),
        )
        .await;
    let id = result["item"]["id"].as_i64().unwrap();
    let cookie = sign_in(&app).await;
    for path in [
        "data".to_string(),
        format!("data/2/{id}"),
        "requests".into(),
    ] {
        let (_, html) = page(&app, &path, &cookie).await;
        assert!(!html.contains("<script>alert(1)"), "{path}");
    }
    let (_, html) = page(&app, &format!("data/2/{id}"), &cookie).await;
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;"));
}

#[tokio::test]
async fn the_overview_shows_the_callers_bucket_and_a_methods_operating_seconds_as_gauges() {
    let app = spawn_app_with(|config| {
        config.plan = Some(b24_server::limits::Plan::Standard);
        config
            .operating
            .simulated_cost
            .insert("crm.item.list".to_string(), 60.0);
    })
    .await;
    for _ in 0..3 {
        app.ok("crm.item.list", json!({"entityTypeId": 2})).await;
    }
    let cookie = sign_in(&app).await;
    let (status, html) = page(&app, "", &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains("Bucket of 127.0.0.1"), "{html}");
    assert!(html.contains("of 50</span>"), "{html}");
    assert!(html.contains("crm.item.list by apauth:1"), "{html}");
    assert!(html.contains("180.0 s of 480 s"), "{html}");
    assert!(html.contains("<meter"), "{html}");
}

#[tokio::test]
async fn the_events_page_shows_a_delivery_with_its_payload_redacted_and_redelivers_it() {
    let app = spawn_app_with(|config| config.events = quick_delivery()).await;
    let hook = b24_server::admin::add_outgoing_webhook(
        &app.state.store,
        1,
        "ONCRMDEALADD",
        "http://127.0.0.1:9/hook",
    )
    .unwrap();
    let deal = app.new_item(2, None).await;
    let cookie = sign_in(&app).await;
    let (status, html) = page(&app, "events", &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains("ONCRMDEALADD"), "{html}");
    assert!(
        html.contains(&format!("data[FIELDS][ID] = {deal}")),
        "{html}"
    );
    assert!(html.contains("REDACTED"), "{html}");
    assert!(!html.contains(&hook.application_token));
    let (_, listed) = app.control(reqwest::Method::GET, "/events", None).await;
    let seq = listed["entries"][0]["seq"].as_i64().unwrap();

    let redelivered = client()
        .post(format!("{}/_b24/ui/events/{seq}/redeliver", app.base))
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(redelivered.status(), 303);
    assert_eq!(
        redelivered.headers()[header::LOCATION],
        "/_b24/ui/events?done=redelivered"
    );
    let (_, listed) = app.control(reqwest::Method::GET, "/events", None).await;
    assert_eq!(listed["entries"].as_array().unwrap().len(), 2, "{listed}");
}

#[tokio::test]
async fn the_clock_moves_and_faults_are_removed_from_their_page() {
    let app = spawn_app().await;
    let cookie = sign_in(&app).await;
    let post = |path: &str, form: &[(&str, &str)]| {
        client()
            .post(format!("{}/_b24/ui/{path}", app.base))
            .header(header::COOKIE, &cookie)
            .header(header::ORIGIN, &app.base)
            .form(form)
            .send()
    };
    let moved = post("clock", &[("advance", "3600")]).await.unwrap();
    assert_eq!(moved.status(), 303);
    let (_, clock) = app.control(reqwest::Method::GET, "/clock", None).await;
    assert!(clock["offset_s"].as_f64().unwrap() >= 3600.0, "{clock}");
    let real = post("clock", &[("real", "1")]).await.unwrap();
    assert_eq!(real.status(), 303);
    let (_, clock) = app.control(reqwest::Method::GET, "/clock", None).await;
    assert_eq!(clock["offset_s"], json!(0.0));

    for preset in ["rate-limit-storm", "flaky"] {
        let added = post("faults", &[("preset", preset), ("method", "crm.item.*")])
            .await
            .unwrap();
        assert_eq!(added.status(), 303);
    }
    let (_, rules) = app.control(reqwest::Method::GET, "/faults", None).await;
    assert_eq!(rules["faults"][1]["probability"], json!(0.1));
    assert_eq!(rules["faults"][1]["seed"], json!(42));
    assert_eq!(rules["faults"][0]["match"], json!({"method": "crm.item.*"}));
    let first = rules["faults"][0]["id"].as_i64().unwrap();
    let removed = post(&format!("faults/{first}/delete"), &[]).await.unwrap();
    assert_eq!(removed.status(), 303);
    let (_, rules) = app.control(reqwest::Method::GET, "/faults", None).await;
    assert_eq!(rules["faults"].as_array().unwrap().len(), 1);
    let cleared = post("faults/all/delete", &[]).await.unwrap();
    assert_eq!(cleared.status(), 303);
    let (_, rules) = app.control(reqwest::Method::GET, "/faults", None).await;
    assert_eq!(rules["faults"], json!([]));
}

#[tokio::test]
async fn over_https_the_console_is_served_with_a_secure_cookie_and_answers_its_configured_name() {
    let app = spawn_app_with(|config| {
        config.tls = Some(b24_server::app::TlsSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert_and_key: None,
            names: vec!["b24.test".into()],
        });
    })
    .await;
    let https = app.https_base.clone().unwrap();
    let pem = std::fs::read(app.ca_pem.as_ref().unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let code = app.state.control.console.issue_code();
    let response = client
        .get(format!("{https}/_b24/ui/login?code={code}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let set_cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap();
    let overview = client
        .get(format!("{https}/_b24/ui/"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), 200);
    // A name given with --tls-name is the console's too; any other is not.
    let port = https.rsplit(':').next().unwrap();
    for (host, expected) in [
        (format!("b24.test:{port}"), 200),
        ("other.test".into(), 403),
    ] {
        let response = client
            .get(format!("{https}/_b24/ui/"))
            .header(header::HOST, host.as_str())
            .header(header::COOKIE, cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{host}");
    }
}

#[tokio::test]
async fn a_calls_page_shows_the_answer_it_sent_while_this_server_holds_it() {
    let app = spawn_app().await;
    let (status, added) = app
        .call(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "Answer probe 7"}}),
        )
        .await;
    assert_eq!(status, 200, "{added}");
    let id = added["result"]["item"]["id"].clone();
    let (_, journal) = app
        .control(reqwest::Method::GET, "/journal?method=crm.item.add", None)
        .await;
    let seq = journal["entries"][0]["seq"].clone();
    let cookie = sign_in(&app).await;

    let (status, html) = page(&app, &format!("requests/{seq}"), &cookie).await;

    assert_eq!(status, 200, "{html}");
    assert!(html.contains("The answer sent"), "{html}");
    assert!(html.contains("Answer probe 7"), "{html}");
    assert!(html.contains(&format!("&quot;id&quot;: {id}")), "{html}");
    assert!(html.contains("&quot;time&quot;"), "{html}");
}
