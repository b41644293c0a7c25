//! The request journal (`/_b24/journal`, `b24-server journal`): what a call leaves behind, the
//! filters and pages, the cap, and that no secret ever reaches it.

use crate::helpers::*;
use b24_server::clock::ManualClock;
use b24_server::limits::Plan;
use b24_server::store::DEFAULT_PORTAL;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

/// The whole journal, oldest first (one page of up to 1000).
async fn entries(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.control(Method::GET, "/journal?limit=1000", None).await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().expect("entries").clone()
}

/// The newest entry.
async fn last(app: &TestApp) -> Value {
    entries(app).await.pop().expect("an entry")
}

/// The user id in the admin webhook URL (`…/rest/{user}/{code}/`).
fn admin_user(app: &TestApp) -> i64 {
    let path = app.admin_url.split_once("/rest/").unwrap().1;
    path.split('/').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_successful_call_is_recorded_with_its_caller_parameters_and_time() {
    let app = spawn_app().await;
    let item = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "Journal"}}),
        )
        .await;
    let entry = last(&app).await;
    assert_eq!(entry["method"], "crm.item.add");
    assert_eq!(entry["http"], 200);
    assert_eq!(entry["error"], Value::Null);
    assert!(
        entry["via"].as_str().unwrap().starts_with("webhook:"),
        "{entry}"
    );
    assert_eq!(entry["user"], admin_user(&app));
    assert_eq!(
        entry["params"],
        json!({"entityTypeId": 2, "fields": {"title": "Journal"}})
    );
    assert_eq!(entry["batch"], Value::Null);
    assert_eq!(entry["fault"], Value::Null);
    assert!(entry["seq"].as_i64().unwrap() >= 1);
    assert!(entry["ms"].as_f64().unwrap() >= 0.0);
    let at = entry["at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(at).is_ok(),
        "at is ISO: {at}"
    );
    assert!(item["item"]["id"].as_i64().is_some());
}

/// `server.time` from a caller seen before is answered from memory, without the blocking pool
/// (`Handler::InMemory`); it is journaled with its caller all the same.
#[tokio::test]
async fn a_call_answered_from_memory_is_recorded_with_its_caller() {
    let app = spawn_app().await;
    app.ok("server.time", json!({})).await;
    app.ok("server.time", json!({"second": "Y"})).await;
    let entry = last(&app).await;
    assert_eq!(entry["method"], "server.time");
    assert_eq!(entry["http"], 200);
    assert_eq!(entry["error"], Value::Null);
    assert!(
        entry["via"].as_str().unwrap().starts_with("webhook:"),
        "{entry}"
    );
    assert_eq!(entry["user"], admin_user(&app));
    assert_eq!(entry["params"], json!({"second": "Y"}));
}

#[tokio::test]
async fn a_failed_call_is_recorded_with_its_status_and_error_code() {
    let app = spawn_app().await;
    let (status, body) = app
        .call("crm.item.get", json!({"entityTypeId": 2, "id": 999_999}))
        .await;
    assert_ne!(status, 200);
    let entry = last(&app).await;
    assert_eq!(entry["method"], "crm.item.get");
    assert_eq!(entry["http"], status);
    assert_eq!(entry["error"], body["error"]);
    assert!(entry["via"].as_str().unwrap().starts_with("webhook:"));
}

#[tokio::test]
async fn unauthenticated_and_unknown_method_calls_are_recorded_without_a_caller() {
    let app = spawn_app().await;
    let (status, body) = app.get(&format!("{}/rest/server.time?x=1", app.base)).await;
    assert_eq!(status, 401, "{body}");
    let (unknown_status, unknown) = app.call("No.Such.Method", json!({})).await;
    assert_eq!(unknown_status, 404, "{unknown}");

    let all = entries(&app).await;
    let [anonymous, missing] = &all[all.len() - 2..] else {
        panic!("two entries: {all:?}")
    };
    assert_eq!(anonymous["method"], "server.time");
    assert_eq!(anonymous["via"], "none");
    assert_eq!(anonymous["user"], Value::Null);
    assert_eq!(anonymous["http"], 401);
    assert_eq!(anonymous["error"], body["error"]);
    assert_eq!(anonymous["params"], json!({"x": "1"}));
    assert_eq!(missing["method"], "no.such.method");
    assert_eq!(missing["via"], "none");
    assert_eq!(missing["http"], 404);
    assert_eq!(missing["error"], "ERROR_METHOD_NOT_FOUND");
}

#[tokio::test]
async fn a_rate_limited_call_is_recorded_with_the_limit_error() {
    let clock = Arc::new(ManualClock::new(1_800_000_000.0));
    let app = spawn_app_with(|config| {
        config.plan = Some(Plan::Standard);
        config.clock = clock.clone();
    })
    .await;
    let url = format!("{}server.time?from=test", app.admin_url);
    let mut refused = None;
    for _ in 0..60 {
        let (status, body) = app.get(&url).await;
        if status == 503 {
            refused = Some(body);
            break;
        }
    }
    let refused = refused.expect("the standard plan's burst runs out");
    assert_eq!(refused["error"], "QUERY_LIMIT_EXCEEDED");
    let (status, counted) = app
        .control(
            Method::POST,
            "/journal/count",
            Some(json!({"error": "QUERY_LIMIT_EXCEEDED"})),
        )
        .await;
    assert_eq!((status, counted), (200, json!({"count": 1})));
    let entry = last(&app).await;
    assert_eq!(entry["method"], "server.time");
    assert_eq!(entry["http"], 503);
    assert_eq!(entry["params"], json!({"from": "test"}));
    // Refused before authentication: the caller is not known.
    assert_eq!(entry["via"], "none");
}

#[tokio::test]
async fn a_batch_is_recorded_with_each_command_and_its_error() {
    let app = spawn_app().await;
    let result = app
        .ok(
            "batch",
            json!({"halt": 0, "cmd": {
                "time": "server.time",
                "missing": "crm.item.get?entityTypeId=2&id=999999",
                "unknown": "No.Such.Method",
            }}),
        )
        .await;
    let missing_error = result["result_error"]["missing"]["error"].clone();
    assert!(missing_error.is_string(), "{result}");
    let entry = last(&app).await;
    assert_eq!(entry["method"], "batch");
    assert_eq!(entry["http"], 200);
    assert_eq!(entry["error"], Value::Null);
    assert_eq!(
        entry["batch"],
        json!([
            {"key": "time", "method": "server.time", "error": null},
            {"key": "missing", "method": "crm.item.get", "error": missing_error},
            {"key": "unknown", "method": "no.such.method", "error": "ERROR_METHOD_NOT_FOUND"},
        ])
    );
}

#[tokio::test]
async fn token_endpoint_calls_are_recorded_as_oauth_token() {
    let app = spawn_app().await;
    let installed = app.install_app("crm", 1, app.state.clock.now()).await;
    let (status, _) = app
        .post_form(
            &format!("{}/oauth/token/", app.base),
            &format!(
                "grant_type=refresh_token&client_id={}&client_secret=wrong&refresh_token=x",
                installed.client_id
            ),
        )
        .await;
    assert_ne!(status, 200);
    let all = entries(&app).await;
    let tokens: Vec<&Value> = all
        .iter()
        .filter(|e| e["method"] == "oauth.token")
        .collect();
    let [granted, refused] = tokens.as_slice() else {
        panic!("two token calls: {all:?}")
    };
    assert_eq!(granted["http"], 200);
    assert_eq!(granted["via"], format!("app:{}", installed.client_id));
    assert_eq!(
        granted["params"],
        json!({"grant_type": "authorization_code", "client_id": installed.client_id})
    );
    assert_eq!(refused["http"], status);
    assert_eq!(refused["via"], "none");
    assert!(refused["error"].is_string());
}

#[tokio::test]
async fn an_app_call_is_recorded_as_the_app_and_its_user() {
    let app = spawn_app().await;
    let installed = app.install_app("crm,user", 1, app.state.clock.now()).await;
    let access = installed.tokens["access_token"].as_str().unwrap();
    let response = app
        .client
        .get(format!("{}/rest/user.current", app.base))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let entry = last(&app).await;
    assert_eq!(entry["method"], "user.current");
    assert_eq!(entry["via"], format!("app:{}", installed.client_id));
    assert_eq!(entry["user"], 1);
}

/// Five calls: three `server.time`, a failing `crm.item.get`, a `crm.item.list`.
async fn five_calls(app: &TestApp) {
    for _ in 0..3 {
        app.ok("server.time", json!({})).await;
    }
    let (status, _) = app
        .call("crm.item.get", json!({"entityTypeId": 2, "id": 999_999}))
        .await;
    assert_ne!(status, 200);
    app.ok("crm.item.list", json!({"entityTypeId": 2})).await;
}

async fn page(app: &TestApp, query: &str) -> Value {
    let (status, body) = app
        .control(Method::GET, &format!("/journal?{query}"), None)
        .await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn methods(page: &Value) -> Vec<String> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["method"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_filters_select_by_method_glob_and_error() {
    let app = spawn_app().await;
    five_calls(&app).await;
    assert_eq!(
        methods(&page(&app, "method=CRM.Item.*").await),
        ["crm.item.get", "crm.item.list"]
    );
    assert_eq!(methods(&page(&app, "method=server.time").await).len(), 3);
    assert_eq!(methods(&page(&app, "method=*.time").await).len(), 3);
    assert_eq!(methods(&page(&app, "error=ANY").await), ["crm.item.get"]);
    assert_eq!(methods(&page(&app, "error=NONE").await).len(), 4);
    let failed = page(&app, "error=ANY").await["entries"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        methods(&page(&app, &format!("error={failed}")).await),
        ["crm.item.get"]
    );
    assert!(methods(&page(&app, "error=QUERY_LIMIT_EXCEEDED").await).is_empty());
    let via = page(&app, "").await["entries"][0]["via"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(methods(&page(&app, &format!("via={via}")).await).len(), 5);
    assert!(methods(&page(&app, "via=none").await).is_empty());
}

#[tokio::test]
async fn since_and_next_page_through_the_journal_oldest_first() {
    let app = spawn_app().await;
    five_calls(&app).await;
    let first = page(&app, "limit=2").await;
    assert_eq!(methods(&first), ["server.time", "server.time"]);
    let next = first["next"].as_i64().unwrap();
    assert_eq!(next, first["entries"][1]["seq"].as_i64().unwrap());
    let second = page(&app, &format!("since={next}&limit=2")).await;
    assert_eq!(methods(&second), ["server.time", "crm.item.get"]);
    let third = page(&app, &format!("since={}&limit=2", second["next"])).await;
    assert_eq!(methods(&third), ["crm.item.list"]);
    // The last page's next marks "now": nothing yet after it, then only newer calls.
    let now = third["next"].as_i64().unwrap();
    assert_eq!(now, third["entries"][0]["seq"].as_i64().unwrap());
    let empty = page(&app, &format!("since={now}")).await;
    assert_eq!(
        (methods(&empty).len(), empty["next"].as_i64()),
        (0, Some(now))
    );
    app.ok("app.info", json!({})).await;
    assert_eq!(
        methods(&page(&app, &format!("since={now}")).await),
        ["app.info"]
    );
    // With a filter, next passes the entries the filter skipped.
    let filtered = page(&app, "method=crm.*").await;
    assert_eq!(filtered["next"].as_i64().unwrap(), now + 1);
}

#[tokio::test]
async fn limit_defaults_to_100_and_must_be_1_to_1000() {
    let app = spawn_app().await;
    for _ in 0..3 {
        app.ok("server.time", json!({})).await;
    }
    assert_eq!(methods(&page(&app, "limit=1000").await).len(), 3);
    assert_eq!(methods(&page(&app, "limit=1").await).len(), 1);
    for bad in ["limit=0", "limit=1001", "limit=-1", "limit=ten"] {
        let (status, body) = app
            .control(Method::GET, &format!("/journal?{bad}"), None)
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"], "INVALID_REQUEST");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("limit"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn bad_filter_values_are_refused_with_what_is_allowed() {
    let app = spawn_app().await;
    for (query, says) in [
        ("method=crm%25", "glob"),
        ("method=", "glob"),
        ("error=not-a-code", "ANY"),
        ("via=user:1", "webhook:ID"),
        ("via=webhook:abc", "webhook:ID"),
        ("since=-1", "since"),
        ("since=x", "since"),
        ("colour=red", "method, error, via, since and limit"),
    ] {
        let (status, body) = app
            .control(Method::GET, &format!("/journal?{query}"), None)
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"], "INVALID_REQUEST", "{query}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(says), "{query}: {description}");
    }
    for bad in [
        json!({"error": "?"}),
        json!({"since": -5}),
        json!({"limit": 5}),
        json!({"method": 5}),
    ] {
        let (status, body) = app
            .control(Method::POST, "/journal/count", Some(bad.clone()))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"], "INVALID_REQUEST");
    }
}

#[tokio::test]
async fn count_takes_the_same_filters_and_delete_empties_the_journal() {
    let app = spawn_app().await;
    five_calls(&app).await;
    let count = |body: Value| {
        let app = &app;
        async move {
            let (status, answer) = app
                .control(Method::POST, "/journal/count", Some(body))
                .await;
            assert_eq!(status, 200, "{answer}");
            answer["count"].as_i64().unwrap()
        }
    };
    assert_eq!(count(json!({})).await, 5);
    assert_eq!(count(json!({"method": "crm.item.*"})).await, 2);
    assert_eq!(count(json!({"error": "ANY"})).await, 1);
    assert_eq!(
        count(json!({"error": "NONE", "method": "server.*"})).await,
        3
    );
    let second = page(&app, "limit=2").await["next"].as_i64().unwrap();
    assert_eq!(count(json!({"since": second})).await, 3);

    let (status, body) = app.control(Method::DELETE, "/journal", None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(count(json!({})).await, 0);
    // Numbering goes on after a delete, so earlier `since` marks keep their meaning.
    app.ok("server.time", json!({})).await;
    let entry = last(&app).await;
    assert!(entry["seq"].as_i64().unwrap() > second + 3, "{entry}");
}

#[tokio::test]
async fn the_journal_keeps_only_the_newest_journal_size_entries() {
    let app = spawn_app_with(|config| config.control.journal_size = 5).await;
    for i in 0..12 {
        app.ok("server.time", json!({"n": i})).await;
    }
    let all = entries(&app).await;
    let kept: Vec<&Value> = all.iter().map(|e| &e["params"]["n"]).collect();
    assert_eq!(
        kept,
        [&json!(7), &json!(8), &json!(9), &json!(10), &json!(11)]
    );
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

#[tokio::test]
async fn journal_size_0_records_nothing() {
    let app = spawn_app_with(|config| config.control.journal_size = 0).await;
    five_calls(&app).await;
    let (status, body) = app
        .control(Method::POST, "/journal/count", Some(json!({})))
        .await;
    assert_eq!((status, body), (200, json!({"count": 0})));
    assert!(entries(&app).await.is_empty());
    assert!(!app.state.control.recorder.on());
}

#[tokio::test]
async fn the_journal_routes_need_the_admin_token() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/_b24/journal", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn the_cli_prints_the_journal_as_a_table_or_as_the_routes_document() {
    let app = spawn_app().await;
    five_calls(&app).await;
    // The CLI reads the database: let the server's writer catch up first (a read does).
    assert_eq!(entries(&app).await.len(), 5);
    let run = |args: &[&str]| {
        let out = app.cli().arg("journal").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let table = run(&["--errors"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    for column in ["SEQ", "AT", "VIA", "METHOD", "HTTP", "ERROR", "MS"] {
        assert!(lines[0].contains(column), "{table}");
    }
    assert!(lines[1].contains("crm.item.get"), "{table}");
    let document: Value =
        serde_json::from_str(&run(&["--json", "--method", "crm.item.*"])).unwrap();
    assert_eq!(document, page(&app, "method=crm.item.*").await);
    let document: Value =
        serde_json::from_str(&run(&["--json", "--limit", "2", "--since", "1"])).unwrap();
    assert_eq!(document, page(&app, "limit=2&since=1").await);

    let refused = app
        .cli()
        .args(["journal", "--limit", "0"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("limit"));
}

#[tokio::test]
async fn no_secret_reaches_the_journal_or_the_cli() {
    let app = spawn_app().await;
    let mut secrets: Vec<String> = Vec::new();
    let admin_code = app
        .admin_url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap();
    secrets.push(admin_code.to_string());

    // A webhook of its own: its code is in every URL it calls.
    let user = app.create_user(&["deal.read=all"]);
    let hook = app.create_webhook(user, Some("crm,user"));
    secrets.push(
        hook.trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap()
            .to_string(),
    );
    let (status, _) = app.call_as(&hook, "user.current", json!({})).await;
    assert_eq!(status, 200);

    // An app: client secret, application token, a code, access and refresh tokens.
    let installed = app.install_app("crm,user", 1, app.state.clock.now()).await;
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
    let code = b24_server::oauth::authorize(
        &app.state.store,
        DEFAULT_PORTAL,
        &installed.client_id,
        1,
        app.state.clock.now(),
        30.0,
    )
    .unwrap();
    secrets.push(code.clone());
    let (status, exchanged) = app
        .get(&format!(
            "{}/oauth/token/?grant_type=authorization_code&client_id={}&client_secret={}&code={code}",
            app.base, installed.client_id, installed.client_secret
        ))
        .await;
    assert_eq!(status, 200, "{exchanged}");
    secrets.push(exchanged["access_token"].as_str().unwrap().to_string());
    secrets.push(exchanged["refresh_token"].as_str().unwrap().to_string());

    // A refresh, in the body.
    let (status, refreshed) = app
        .post_form(
            &format!("{}/oauth/token/", app.base),
            &format!(
                "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={refresh}",
                installed.client_id, installed.client_secret
            ),
        )
        .await;
    assert_eq!(status, 200, "{refreshed}");
    let fresh = refreshed["access_token"].as_str().unwrap().to_string();
    secrets.push(fresh.clone());
    secrets.push(refreshed["refresh_token"].as_str().unwrap().to_string());

    // Calls carrying the token as `auth` in the query, a form body, a JSON body, `access_token`,
    // `auth[...]`, and inside batch commands.
    let (status, body) = app
        .get(&format!("{}/rest/user.current?auth={fresh}", app.base))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = app
        .post_form(
            &format!("{}/rest/user.current", app.base),
            &format!(
                "access_token={fresh}&auth[member_id]={fresh}&application_token={}",
                installed.application_token
            ),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call_as(
            &format!("{}/rest/", app.base),
            "crm.item.list",
            json!({"auth": fresh, "entityTypeId": 2, "client_secret": installed.client_secret}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .get(&format!("{}/rest/app.info?access_token={fresh}", app.base))
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call_as(
            &format!("{}/rest/", app.base),
            "batch",
            json!({"auth": fresh, "cmd": {"a": format!("user.current?auth={fresh}"),
                                          "b": format!("app.info?access_token={access}&x=1")}}),
        )
        .await;
    assert_eq!(status, 200);
    // A wrong token (a secret too, as far as the caller knows) and an expired-looking one.
    let (status, _) = app
        .get(&format!("{}/rest/user.current?auth={access}x", app.base))
        .await;
    assert_eq!(status, 401);
    // An unknown method called through the webhook.
    let (status, _) = app.call_as(&hook, "no.such.method", json!({})).await;
    assert_eq!(status, 404);

    let all = entries(&app).await;
    assert_eq!(all.len(), 11, "every call is recorded");
    assert!(all
        .iter()
        .any(|e| e["method"] == "oauth.token" && e["params"]["grant_type"] == "refresh_token"));
    assert!(all
        .iter()
        .any(|e| e["method"] == "batch" && e["params"]["cmd"]["b"] == "app.info?x=1"));
    let journal = serde_json::to_string(&all).unwrap();
    let cli_json = app
        .cli()
        .args(["journal", "--json", "--limit", "1000"])
        .output()
        .unwrap();
    let cli_table = app
        .cli()
        .args(["journal", "--limit", "1000"])
        .output()
        .unwrap();
    assert!(cli_json.status.success() && cli_table.status.success());
    let cli = format!(
        "{}{}{}{}",
        String::from_utf8_lossy(&cli_json.stdout),
        String::from_utf8_lossy(&cli_json.stderr),
        String::from_utf8_lossy(&cli_table.stdout),
        String::from_utf8_lossy(&cli_table.stderr)
    );
    assert!(cli.contains("oauth.token"), "{cli}");
    for secret in &secrets {
        assert!(secret.len() >= 8, "a real secret: {secret}");
        assert!(
            !journal.contains(secret.as_str()),
            "{secret} in the journal: {journal}"
        );
        assert!(!cli.contains(secret.as_str()), "{secret} in the CLI output");
    }
}

/// Two servers on one PostgreSQL database write one portal's journal at once: every call gets a
/// number of its own (a clash would fail the writer's transaction and lose entries).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_database_number_their_entries_without_clashes() {
    if postgres_only("journal across two servers").is_none() {
        return;
    }
    let first = spawn_app().await;
    let second = spawn_app_in(
        tempfile::tempdir().unwrap(),
        None,
        Some(first.admin_url.clone()),
        |config| {
            config.database_url = first.database_url.clone();
            config.control.token = Some(first.admin_token.clone());
        },
    )
    .await;
    let path = first.admin_url.split_once("/rest/").unwrap().1;
    let urls = [
        first.admin_url.clone(),
        format!("{}/rest/{path}", second.base),
    ];
    let mut calls = Vec::new();
    for i in 0..60 {
        let client = first.client.clone();
        let url = format!("{}server.time?n={i}", urls[i % 2]);
        calls.push(tokio::spawn(async move {
            client.get(url).send().await.unwrap().status().as_u16()
        }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap(), 200);
    }
    // Each read waits for its own server's writer.
    assert!(!entries(&second).await.is_empty());
    let all = entries(&first).await;
    assert_eq!(all.len(), 60, "{all:?}");
    let mut seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {seqs:?}"
    );
    seqs.dedup();
    assert_eq!(seqs.len(), 60);
    let mut numbers: Vec<i64> = all
        .iter()
        .map(|e| e["params"]["n"].as_str().unwrap().parse().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..60).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_large_batch_of_entries_is_numbered_in_order_and_capped_in_one_write() {
    use b24_server::store::journal::NewJournalEntry;
    let app = spawn_app().await;
    let written: Vec<NewJournalEntry> = (0..70)
        .map(|i| NewJournalEntry {
            at: 1_800_000_000.0,
            via: "none".into(),
            user: None,
            method: "server.time".into(),
            http: 200,
            error: (i % 2 == 1).then(|| "E".to_string()),
            ms: 0.5,
            params: json!({ "i": i }),
            batch: None,
            fault: (i == 69).then_some(3),
        })
        .collect();
    let chunk = b24_server::store::journal::JournalChunk::encode(&written).unwrap();
    let last = app
        .state
        .store
        .write(DEFAULT_PORTAL, |tx| tx.append_journal(&chunk, 50))
        .unwrap();
    let all = entries(&app).await;
    assert_eq!(all.len(), 50);
    assert_eq!(all[49]["seq"].as_i64().unwrap(), last);
    let kept: Vec<i64> = all
        .iter()
        .map(|e| e["params"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(kept, (20..70).collect::<Vec<_>>());
    assert_eq!(all[49]["fault"], 3);
    assert_eq!(all[49]["error"], "E");
    assert_eq!(all[48]["error"], Value::Null);
}

/// An answer a fault rule made names the rule in the journal: an error rule's code, an HTML 502
/// without one, and a batch command's rule inside the batch's commands.
#[tokio::test]
async fn answers_made_by_fault_rules_name_the_rule_in_the_journal() {
    let app = spawn_app().await;
    let (status, rule) = app
        .control(
            Method::POST,
            "/faults",
            Some(json!({"match": {"method": "server.time"}, "times": 1,
                        "action": {"error": "QUERY_LIMIT_EXCEEDED"}})),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    assert_eq!(app.call("server.time", json!({})).await.0, 503);
    let entry = last(&app).await;
    assert_eq!(entry["method"], "server.time");
    assert_eq!(entry["http"], 503);
    assert_eq!(entry["error"], "QUERY_LIMIT_EXCEEDED");
    assert_eq!(entry["fault"], rule["id"]);

    let (_, page_rule) = app
        .control(
            Method::POST,
            "/faults",
            Some(json!({"match": {"method": "profile"}, "times": 1,
                        "action": {"network": "html502"}})),
        )
        .await;
    let response = app
        .client
        .get(format!("{}profile", app.admin_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let entry = last(&app).await;
    assert_eq!(
        (
            &entry["method"],
            &entry["http"],
            &entry["error"],
            &entry["fault"]
        ),
        (
            &json!("profile"),
            &json!(502),
            &Value::Null,
            &page_rule["id"]
        )
    );

    // A call no rule touched names none.
    assert_eq!(app.call("server.time", json!({})).await.0, 200);
    assert_eq!(last(&app).await["fault"], Value::Null);
}

/// Calls answered just before a reset are wiped by it, not written into the journal after it
/// (the writer gathers entries for a moment before it writes them).
#[tokio::test]
async fn a_reset_right_after_calls_leaves_the_journal_empty() {
    let app = spawn_app().await;
    for _ in 0..20 {
        assert_eq!(app.call("server.time", json!({})).await.0, 200);
    }
    let (status, answer) = app.control(Method::POST, "/reset", None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["deleted"]["journal"], 20);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(entries(&app).await, Vec::<Value>::new());
}
