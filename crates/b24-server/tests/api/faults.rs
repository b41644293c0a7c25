//! Fault injection (`/_b24/faults`): rules that make chosen calls fail as the real service fails,
//! on REST calls, batch commands and the token endpoint; the connection closed without an
//! answer; reproducible chance; the admin routes, their validation and the CLI twin.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The page nginx answers when the application behind it is down.
const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// Adds a rule; it must be stored.
async fn add(app: &TestApp, rule: Value) -> Value {
    let (status, body) = app.control(Method::POST, "/faults", Some(rule)).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn rules(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.control(Method::GET, "/faults", None).await;
    assert_eq!(status, 200);
    body["faults"].as_array().unwrap().clone()
}

/// A call through the administrator's webhook, with its `Retry-After`.
async fn call_with_retry_after(
    app: &TestApp,
    method: &str,
    params: Value,
) -> (u16, Value, Option<String>) {
    let response = app
        .client
        .post(format!("{}{method}", app.admin_url))
        .json(&params)
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, body) = read(response).await;
    (status, body, retry_after)
}

/// Sends a request on a fresh TCP connection and reads until the server closes it: everything
/// the server wrote.
async fn raw_exchange(app: &TestApp, method: &str, body: &str) -> std::io::Result<Vec<u8>> {
    let path = app.admin_url.strip_prefix(&app.base).unwrap();
    let address = app.base.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let request = format!(
        "POST {path}{method} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")?;
    Ok(answer)
}

/// "Fail the third call with a 503": `after` lets two matches through, `times` fires once, the
/// answer is the rate limiter's own (with `Retry-After: 1`), and the fourth call passes.
#[tokio::test]
async fn the_third_call_fails_with_a_503_when_a_rule_lets_two_through_and_fires_once() {
    let app = spawn_app().await;
    let rule = add(
        &app,
        json!({"match": {"method": "server.time"}, "after": 2, "times": 1, "seed": 42,
               "action": {"error": "QUERY_LIMIT_EXCEEDED"}}),
    )
    .await;
    let created = rule["created"].clone();
    assert_eq!(
        rule,
        json!({"id": 1, "match": {"method": "server.time"}, "after": 2, "times": 1,
               "probability": 1.0, "seed": 42, "action": {"error": "QUERY_LIMIT_EXCEEDED"},
               "hits": 0, "remaining": 1, "draws": 0, "created": created})
    );
    for _ in 0..2 {
        let (status, body, _) = call_with_retry_after(&app, "server.time", json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body, retry_after) = call_with_retry_after(&app, "server.time", json!({})).await;
    assert_eq!(
        (status, body, retry_after.as_deref()),
        (
            503,
            envelope("QUERY_LIMIT_EXCEEDED", "Too many requests"),
            Some("1")
        )
    );
    let (status, _, _) = call_with_retry_after(&app, "server.time", json!({})).await;
    assert_eq!(status, 200);
    let listed = rules(&app).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (&listed[0]["hits"], &listed[0]["remaining"]),
        (&json!(3), &json!(0))
    );
}

/// `retry_after` replaces the table's default `Retry-After`.
#[tokio::test]
async fn an_error_rule_may_name_its_own_retry_after() {
    let app = spawn_app().await;
    add(
        &app,
        json!({"action": {"error": "OPERATION_TIME_LIMIT", "retry_after": 5}}),
    )
    .await;
    let (status, body, retry_after) =
        call_with_retry_after(&app, "crm.item.list", json!({"entityTypeId": 2})).await;
    assert_eq!(
        (status, body, retry_after.as_deref()),
        (
            429,
            envelope(
                "OPERATION_TIME_LIMIT",
                "Method is blocked due to operation time limit."
            ),
            Some("5")
        )
    );
}

/// A table code is answered with the table's status and description, without `Retry-After`.
#[tokio::test]
async fn an_expired_token_rule_answers_401_as_the_token_check_does() {
    let app = spawn_app().await;
    add(
        &app,
        json!({"match": {"method": "crm.item.list"}, "action": {"error": "expired_token"}}),
    )
    .await;
    let (status, body, retry_after) =
        call_with_retry_after(&app, "crm.item.list", json!({"entityTypeId": 2})).await;
    assert_eq!(
        (status, body, retry_after),
        (
            401,
            envelope("expired_token", "The access token provided has expired"),
            None
        )
    );
}

/// A custom action answers any status with the envelope it names.
#[tokio::test]
async fn a_custom_rule_answers_its_status_and_envelope() {
    let app = spawn_app().await;
    add(
        &app,
        json!({"match": {"method": "crm.item.get"},
               "action": {"status": 500, "error": "INTERNAL_SERVER_ERROR", "description": "Database went away"}}),
    )
    .await;
    let (status, body) = app
        .call("crm.item.get", json!({"entityTypeId": 2, "id": 1}))
        .await;
    assert_eq!(
        (status, body),
        (500, envelope("INTERNAL_SERVER_ERROR", "Database went away"))
    );
}

/// A fired error rule replaces the method: nothing is written, not even an id is taken.
#[tokio::test]
async fn an_error_rule_stands_in_for_the_method_and_leaves_the_data_unchanged() {
    let app = spawn_app().await;
    add(
        &app,
        json!({"match": {"method": "crm.item.add"}, "times": 1,
               "action": {"error": "QUERY_LIMIT_EXCEEDED"}}),
    )
    .await;
    let (status, _) = app
        .call(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "Refused"}}),
        )
        .await;
    assert_eq!(status, 503);
    assert!(app.item_titles(2).await.is_empty());
    // Not even an id was taken.
    let added = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "Accepted"}}),
        )
        .await;
    assert_eq!(added["item"]["id"], json!(1));
}

/// A delay rule waits, then the call runs and answers as usual.
#[tokio::test]
async fn a_delay_rule_holds_the_answer_then_the_call_runs() {
    let app = spawn_app().await;
    add(
        &app,
        json!({"match": {"method": "crm.item.add"}, "action": {"delay_ms": 400}}),
    )
    .await;
    let started = Instant::now();
    let added = app
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": "Late"}}),
        )
        .await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(added["item"]["title"], json!("Late"));
    assert_eq!(app.item_titles(2).await, vec!["Late"]);
}

/// `server.time` and the other methods answered from memory never wait for the blocking pool,
/// where calls that talk to the database run: with every blocking thread held by a delay rule,
/// they still answer at once.
#[tokio::test]
async fn calls_answered_from_memory_do_not_wait_for_blocking_threads_held_by_a_delay_rule() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        dir.path(),
        None,
        "unlimited",
        &["--blocking-threads", "2", "--journal-size", "0"],
    );
    let webhook = server
        .webhook
        .clone()
        .expect("the first webhook is printed");
    let admin_token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    let client = reqwest::Client::new();
    let added = client
        .post(format!("{}/_b24/faults", server.base))
        .bearer_auth(admin_token.trim())
        .json(&json!({"match": {"method": "crm.item.list"}, "action": {"delay_ms": 3000}}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let time = || client.get(format!("{webhook}server.time")).send();
    assert_eq!(time().await.unwrap().status(), 200);

    let started = Instant::now();
    let held: Vec<_> = (0..2)
        .map(|_| {
            let list = client.get(format!("{webhook}crm.item.list?entityTypeId=2"));
            tokio::spawn(list.send())
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    let (status, body) = read(time().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        asked.elapsed() < Duration::from_millis(1500),
        "server.time waited {:?} for a blocking thread",
        asked.elapsed()
    );
    for call in held {
        assert_eq!(call.await.unwrap().unwrap().status(), 200);
    }
    assert!(started.elapsed() >= Duration::from_millis(3000));
    server.stop();
}

/// `html502` answers nginx's page as `text/html`, and the method does not run.
#[tokio::test]
async fn an_html502_rule_answers_nginx_s_page_as_html() {
    let app = spawn_app().await;
    add(
        &app,
        json!({"match": {"method": "crm.item.add"}, "action": {"network": "html502"}}),
    )
    .await;
    let response = app
        .client
        .post(format!("{}crm.item.add", app.admin_url))
        .json(&json!({"entityTypeId": 2, "fields": {"title": "Lost"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 502);
    assert_eq!(response.headers()["content-type"], "text/html");
    assert_eq!(response.text().await.unwrap(), NGINX_502);
    assert!(app.item_titles(2).await.is_empty());
}

/// `network: close` ends the connection with an orderly close and not one byte (a raw socket
/// reads EOF at once; reqwest fails), and the method does not run.
#[tokio::test]
async fn a_network_close_rule_closes_the_connection_without_a_byte_and_nothing_runs() {
    let app = spawn_app().await;
    add(
        &app,
        json!({"match": {"method": "crm.item.add"}, "times": 2, "action": {"network": "close"}}),
    )
    .await;
    let answer = raw_exchange(
        &app,
        "crm.item.add",
        r#"{"entityTypeId":2,"fields":{"title":"Lost"}}"#,
    )
    .await
    .expect("an orderly close, not a reset");
    assert_eq!(answer, b"");
    let sent = app
        .client
        .post(format!("{}crm.item.add", app.admin_url))
        .json(&json!({"entityTypeId": 2, "fields": {"title": "Lost too"}}))
        .send()
        .await;
    assert!(sent.is_err(), "an answer came: {sent:?}");
    assert!(app.item_titles(2).await.is_empty());
}

/// `commit_then: close` runs the write, then ends the connection without a byte: the item
/// exists although the client saw no answer.
#[tokio::test]
async fn a_commit_then_close_rule_commits_the_write_and_closes_without_an_answer() {
    let app = spawn_app().await;
    add(
        &app,
        json!({"match": {"method": "crm.item.add"}, "times": 2, "action": {"commit_then": "close"}}),
    )
    .await;
    let answer = raw_exchange(
        &app,
        "crm.item.add",
        r#"{"entityTypeId":2,"fields":{"title":"First"}}"#,
    )
    .await
    .expect("an orderly close, not a reset");
    assert_eq!(answer, b"");
    let sent = app
        .client
        .post(format!("{}crm.item.add", app.admin_url))
        .json(&json!({"entityTypeId": 2, "fields": {"title": "Second"}}))
        .send()
        .await;
    assert!(sent.is_err(), "an answer came: {sent:?}");
    // Both writes committed: a client that retried would now hold duplicates.
    assert_eq!(app.item_titles(2).await, vec!["First", "Second"]);
}

/// Cutting works on the HTTPS listener too, and the next connection is served.
#[tokio::test]
async fn connections_over_https_are_cut_below_tls() {
    let app = spawn_app_with(|c| {
        c.tls = Some(b24_server::app::TlsSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            cert_and_key: None,
            names: vec![],
        })
    })
    .await;
    add(
        &app,
        json!({"match": {"method": "server.time"}, "times": 1, "action": {"network": "close"}}),
    )
    .await;
    let client = crate::tls::client_trusting(app.ca_pem.as_ref().unwrap());
    let path = app.admin_url.strip_prefix(&app.base).unwrap();
    let url = format!("{}{path}server.time", app.https_base.as_ref().unwrap());
    assert!(client.post(&url).send().await.is_err());
    let (status, _) = read(client.post(&url).send().await.unwrap()).await;
    assert_eq!(status, 200);
}

/// Table and custom errors of batch commands land in `result_error[key]`; the other commands
/// run and the refused write does not happen.
#[tokio::test]
async fn a_batch_command_rule_lands_in_result_error_while_the_other_commands_run() {
    let app = spawn_app().await;
    add(
        &app,
        json!({"match": {"method": "crm.item.add"}, "action": {"error": "ACCESS_DENIED"}}),
    )
    .await;
    add(
        &app,
        json!({"match": {"method": "crm.activity.list"},
               "action": {"status": 503, "error": "SERVICE_UNAVAILABLE", "description": "Try later"}}),
    )
    .await;
    let result = app
        .ok(
            "batch",
            json!({"cmd": {
                "a": "crm.item.add?entityTypeId=2&fields[title]=Refused",
                "b": "crm.item.list?entityTypeId=2",
                "c": "crm.activity.list",
            }}),
        )
        .await;
    assert_eq!(
        result["result_error"],
        json!({"a": envelope("ACCESS_DENIED", "Access denied."),
               "c": envelope("SERVICE_UNAVAILABLE", "Try later")})
    );
    assert_eq!(result["result"]["b"]["items"], json!([]));
    assert!(app.item_titles(2).await.is_empty());
}

/// Connection actions never match a batch command (not even counted), but a rule on `batch`
/// itself closes the connection after the whole batch committed.
#[tokio::test]
async fn connection_rules_apply_to_a_batch_as_a_whole_and_not_to_its_commands() {
    let app = spawn_app().await;
    let command_rule = add(
        &app,
        json!({"match": {"method": "crm.item.add"}, "action": {"network": "close"}}),
    )
    .await;
    let result = app
        .ok(
            "batch",
            json!({"cmd": {"a": "crm.item.add?entityTypeId=2&fields[title]=Kept"}}),
        )
        .await;
    assert_eq!(result["result_error"], json!([]));
    assert_eq!(app.item_titles(2).await, vec!["Kept"]);
    assert_eq!(rules(&app).await[0]["hits"], json!(0));
    let (status, _) = app
        .control(
            Method::DELETE,
            &format!("/faults/{}", command_rule["id"]),
            None,
        )
        .await;
    assert_eq!(status, 204);

    add(
        &app,
        json!({"match": {"method": "batch"}, "times": 1, "action": {"commit_then": "close"}}),
    )
    .await;
    let sent = app
        .client
        .post(format!("{}batch", app.admin_url))
        .json(&json!({"cmd": {"a": "crm.item.add?entityTypeId=2&fields[title]=Committed"}}))
        .send()
        .await;
    assert!(sent.is_err(), "an answer came: {sent:?}");
    assert_eq!(app.item_titles(2).await, vec!["Kept", "Committed"]);
}

/// `/oauth/token/` is method `oauth.token`, matched by the client it names; the refused
/// exchange leaves the refresh token usable.
#[tokio::test]
async fn an_oauth_token_rule_answers_as_the_oauth_server_and_uses_nothing_up() {
    let app = spawn_app().await;
    let installed = app.install_app("crm", 1, app.state.clock.now()).await;
    add(
        &app,
        json!({"match": {"method": "oauth.token", "via": format!("app:{}", installed.client_id)},
               "times": 1, "action": {"error": "invalid_grant"}}),
    )
    .await;
    let refresh = json!({"grant_type": "refresh_token", "client_id": installed.client_id,
                         "client_secret": installed.client_secret,
                         "refresh_token": installed.tokens["refresh_token"]});
    let token_call = || {
        app.client
            .post(format!("{}/oauth/token/", app.base))
            .form(&refresh)
            .send()
    };
    let (status, body) = read(token_call().await.unwrap()).await;
    assert_eq!(
        (status, body),
        (400, envelope("invalid_grant", "Invalid or expired grant"))
    );
    // The refresh token was not used up by the refused call.
    let (status, body) = read(token_call().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
}

/// `via` limits a rule to one webhook or one application's tokens.
#[tokio::test]
async fn via_limits_a_rule_to_one_webhook_or_one_application() {
    let app = spawn_app().await;
    let other = app.create_webhook(1, None);
    // The administrator's webhook is the first one made; the other is the second.
    add(
        &app,
        json!({"match": {"method": "server.time", "via": "webhook:2"},
               "action": {"error": "QUERY_LIMIT_EXCEEDED"}}),
    )
    .await;
    assert_eq!(app.call("server.time", json!({})).await.0, 200);
    assert_eq!(app.call_as(&other, "server.time", json!({})).await.0, 503);

    let installed = app.install_app("crm", 1, app.state.clock.now()).await;
    add(
        &app,
        json!({"match": {"via": format!("app:{}", installed.client_id)},
               "action": {"error": "expired_token"}}),
    )
    .await;
    let token = installed.tokens["access_token"].as_str().unwrap();
    let response = app
        .client
        .post(format!("{}/rest/crm.item.list", app.base))
        .bearer_auth(token)
        .json(&json!({"entityTypeId": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        read(response).await,
        (
            401,
            envelope("expired_token", "The access token provided has expired")
        )
    );
    assert_eq!(
        app.call("crm.item.list", json!({"entityTypeId": 2}))
            .await
            .0,
        200
    );
}

/// Method patterns are case-insensitive globs; calls they do not match are not counted.
#[tokio::test]
async fn method_patterns_are_case_insensitive_globs() {
    let app = spawn_app().await;
    add(
        &app,
        json!({"match": {"method": "CRM.ITEM.*"}, "action": {"error": "QUERY_LIMIT_EXCEEDED"}}),
    )
    .await;
    assert_eq!(
        app.call("crm.item.list", json!({"entityTypeId": 2}))
            .await
            .0,
        503
    );
    assert_eq!(
        app.call("crm.Item.List", json!({"entityTypeId": 2}))
            .await
            .0,
        503
    );
    assert_eq!(app.call("crm.activity.list", json!({})).await.0, 200);
    assert_eq!(app.call("server.time", json!({})).await.0, 200);
    assert_eq!(rules(&app).await[0]["hits"], json!(2));
}

/// Rules are tried in creation order: one still in its `after` lets the call on to the next; the
/// first that fires answers, and later rules are not counted.
#[tokio::test]
async fn the_first_rule_that_fires_wins_and_a_rule_that_lets_a_call_through_leaves_it_to_the_next()
{
    let app = spawn_app().await;
    add(
        &app,
        json!({"match": {"method": "server.time"}, "after": 1, "action": {"error": "OPERATION_TIME_LIMIT"}}),
    )
    .await;
    add(&app, json!({"action": {"error": "QUERY_LIMIT_EXCEEDED"}})).await;
    assert_eq!(app.call("server.time", json!({})).await.0, 503);
    assert_eq!(app.call("server.time", json!({})).await.0, 429);
    let listed = rules(&app).await;
    assert_eq!(
        (&listed[0]["hits"], &listed[1]["hits"]),
        (&json!(2), &json!(1))
    );
}

/// The statuses of `n` calls of `server.time` on a fresh server with a 50 % rule seeded 42.
async fn seeded_pattern(n: usize) -> (Vec<u16>, Value) {
    let app = spawn_app().await;
    add(
        &app,
        json!({"match": {"method": "server.time"}, "probability": 0.5, "seed": 42,
               "action": {"error": "QUERY_LIMIT_EXCEEDED"}}),
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..n {
        statuses.push(app.call("server.time", json!({})).await.0);
    }
    (statuses, rules(&app).await[0].clone())
}

/// The same seeded rule over the same calls fails the same calls on two fresh servers, and
/// counts one draw per match.
#[tokio::test]
async fn a_seeded_probability_fails_the_same_calls_on_two_fresh_servers() {
    let (first, rule) = seeded_pattern(24).await;
    let (second, _) = seeded_pattern(24).await;
    assert_eq!(first, second);
    assert!(first.contains(&200) && first.contains(&503), "{first:?}");
    assert_eq!((&rule["hits"], &rule["draws"]), (&json!(24), &json!(24)));
}

/// A rule without a seed shows the random one it was given (exact in a JavaScript number).
#[tokio::test]
async fn a_rule_without_a_seed_is_given_one_to_repeat_the_run_with() {
    let app = spawn_app().await;
    let rule = add(&app, json!({"probability": 0.3, "action": {"delay_ms": 1}})).await;
    assert!(rule["seed"].as_u64().is_some_and(|s| s < 1 << 53), "{rule}");
}

/// A used-up rule stays listed with `remaining` 0 and stops counting hits.
#[tokio::test]
async fn a_rule_whose_times_are_used_up_stays_listed_and_matches_no_more() {
    let app = spawn_app().await;
    add(
        &app,
        json!({"match": {"method": "server.time"}, "times": 2, "action": {"error": "QUERY_LIMIT_EXCEEDED"}}),
    )
    .await;
    let statuses = [
        app.call("server.time", json!({})).await.0,
        app.call("server.time", json!({})).await.0,
        app.call("server.time", json!({})).await.0,
        app.call("server.time", json!({})).await.0,
    ];
    assert_eq!(statuses, [503, 503, 200, 200]);
    let listed = rules(&app).await;
    assert_eq!(
        (&listed[0]["hits"], &listed[0]["remaining"]),
        (&json!(2), &json!(0))
    );
}

/// The list is in evaluation order with full rules; deleting one, an unknown one, a bad id, and
/// all; ids are not reused.
#[tokio::test]
async fn rules_are_listed_in_evaluation_order_and_deleted_one_by_one_or_all_at_once() {
    let app = spawn_app().await;
    let first = add(&app, json!({"action": {"delay_ms": 0}})).await;
    let second = add(
        &app,
        json!({"match": {"method": "crm.*", "via": "app:local.x"}, "times": 3,
               "probability": 0.25, "seed": 9, "action": {"network": "close"}}),
    )
    .await;
    let third = add(
        &app,
        json!({"action": {"commit_then": "close"}, "times": 1}),
    )
    .await;
    assert_eq!(
        second,
        json!({"id": 2, "match": {"method": "crm.*", "via": "app:local.x"}, "after": 0,
               "times": 3, "probability": 0.25, "seed": 9, "action": {"network": "close"},
               "hits": 0, "remaining": 3, "draws": 0, "created": second["created"]})
    );
    assert_eq!(
        rules(&app).await,
        vec![first.clone(), second.clone(), third.clone()]
    );

    let (status, body) = app.control(Method::DELETE, "/faults/2", None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(rules(&app).await, vec![first, third]);
    let (status, body) = app.control(Method::DELETE, "/faults/2", None).await;
    assert_eq!(
        (status, body),
        (
            404,
            envelope(
                "NOT_FOUND",
                "There is no fault rule 2; GET /_b24/faults lists them"
            )
        )
    );
    let (status, body) = app.control(Method::DELETE, "/faults/two", None).await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "INVALID_REQUEST",
                "'two' is not a fault rule id; ids are the whole numbers GET /_b24/faults shows"
            )
        )
    );
    let (status, body) = app.control(Method::DELETE, "/faults", None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(rules(&app).await, Vec::<Value>::new());
    // Ids are not reused.
    assert_eq!(
        add(&app, json!({"action": {"delay_ms": 0}})).await["id"],
        json!(4)
    );
}

/// The fault routes are behind the admin token like every admin route.
#[tokio::test]
async fn the_fault_routes_need_the_admin_token() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/_b24/faults", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

/// Every field is checked, and each refusal is a 400 that says what is allowed; nothing is
/// stored.
#[tokio::test]
async fn every_invalid_rule_is_refused_with_a_400_that_says_what_is_allowed() {
    let app = spawn_app().await;
    let takes = "a fault rule takes 'match', 'after', 'times', 'probability', 'seed' and 'action', e.g. {\"match\":{\"method\":\"crm.item.add\"},\"after\":2,\"times\":1,\"action\":{\"error\":\"QUERY_LIMIT_EXCEEDED\"}}";
    let shapes = "an action is one of {\"error\":CODE} (optionally with \"retry_after\":SECONDS), {\"status\":400-599,\"error\":TEXT,\"description\":TEXT}, {\"delay_ms\":0-60000}, {\"commit_then\":\"close\"}, {\"network\":\"close\"} or {\"network\":\"html502\"}";
    let match_takes = "'match' takes 'method' (a method name; '*' stands for any characters, e.g. \"crm.item.*\") and 'via' (\"webhook:ID\" or \"app:CLIENT_ID\")";
    let ok = json!({"error": "QUERY_LIMIT_EXCEEDED"});
    let cases: Vec<(Value, String)> = vec![
        (json!([1]), format!("The body must be a JSON object: {takes}")),
        (json!({}), format!("A fault rule needs an 'action'; {takes}")),
        (json!({"action": ok, "when": 1}), format!("Unknown key 'when'; {takes}")),
        (json!({"match": "crm.item.add", "action": ok}), format!("'match' must be a JSON object: {match_takes}")),
        (json!({"match": {"name": "x"}, "action": ok}), format!("Unknown key 'match.name'; {match_takes}")),
        (json!({"match": {"method": "crm item"}, "action": ok}), "'match.method' must be a method name pattern of letters, digits, '.', '_' and '*' (any characters), e.g. \"crm.item.*\"; \"oauth.token\" matches /oauth/token/".into()),
        (json!({"match": {"method": ""}, "action": ok}), "'match.method' must be a method name pattern of letters, digits, '.', '_' and '*' (any characters), e.g. \"crm.item.*\"; \"oauth.token\" matches /oauth/token/".into()),
        (json!({"match": {"via": "webhook:x"}, "action": ok}), "'match.via' must be \"webhook:ID\" (a webhook's id) or \"app:CLIENT_ID\" (an application's client_id)".into()),
        (json!({"match": {"via": "user:1"}, "action": ok}), "'match.via' must be \"webhook:ID\" (a webhook's id) or \"app:CLIENT_ID\" (an application's client_id)".into()),
        (json!({"after": -1, "action": ok}), "'after' must be a whole number from 0 to 1000000000: the matching calls let through before the rule fires".into()),
        (json!({"after": 1.5, "action": ok}), "'after' must be a whole number from 0 to 1000000000: the matching calls let through before the rule fires".into()),
        (json!({"after": "2", "action": ok}), "'after' must be a whole number from 0 to 1000000000: the matching calls let through before the rule fires".into()),
        (json!({"times": 0, "action": ok}), "'times' must be a whole number from 1 to 1000000000: how often the rule fires (absent: every time)".into()),
        (json!({"times": -3, "action": ok}), "'times' must be a whole number from 1 to 1000000000: how often the rule fires (absent: every time)".into()),
        (json!({"probability": 1.5, "action": ok}), "'probability' must be a number from 0 to 1: the chance the rule fires on a matching call".into()),
        (json!({"probability": -0.1, "action": ok}), "'probability' must be a number from 0 to 1: the chance the rule fires on a matching call".into()),
        (json!({"seed": -1, "action": ok}), "'seed' must be a whole number from 0 to 9007199254740991".into()),
        (json!({"seed": 9007199254740992u64, "action": ok}), "'seed' must be a whole number from 0 to 9007199254740991".into()),
        (json!({"action": "QUERY_LIMIT_EXCEEDED"}), format!("'action' must be a JSON object: {shapes}")),
        (json!({"action": {}}), format!("The action's keys () do not make one action; {shapes}")),
        (json!({"action": {"explode": true}}), format!("Unknown action key 'explode'; {shapes}")),
        (json!({"action": {"error": "QUERY_LIMIT_EXCEEDED", "delay_ms": 5}}), format!("The action's keys (delay_ms, error) do not make one action; {shapes}")),
        (json!({"action": {"error": 503}}), "'action.error' must be an error code (a string)".into()),
        (json!({"action": {"error": "QUERY_LIMIT_EXCEEDED", "retry_after": -1}}), "'action.retry_after' must be a whole number of seconds from 0 to 86400".into()),
        (json!({"action": {"status": 200, "error": "X", "description": "d"}}), "'action.status' must be an HTTP status from 400 to 599".into()),
        (json!({"action": {"status": 600, "error": "X", "description": "d"}}), "'action.status' must be an HTTP status from 400 to 599".into()),
        (json!({"action": {"status": 500, "error": "", "description": "d"}}), "'action.error' must be a non-empty string of at most 200 characters".into()),
        (json!({"action": {"status": 500, "error": "X", "description": 5}}), "'action.description' must be a string of at most 2000 characters".into()),
        (json!({"action": {"delay_ms": 60001}}), "'action.delay_ms' must be a whole number of milliseconds from 0 to 60000".into()),
        (json!({"action": {"delay_ms": -5}}), "'action.delay_ms' must be a whole number of milliseconds from 0 to 60000".into()),
        (json!({"action": {"commit_then": "reset"}}), "'action.commit_then' takes \"close\" (the call commits, then the connection is closed without an answer)".into()),
        (json!({"action": {"network": "truncate"}}), "'action.network' takes \"close\" (closed without an answer) or \"html502\" (nginx's 502 page)".into()),
    ];
    for (rule, description) in cases {
        let (status, body) = app
            .control(Method::POST, "/faults", Some(rule.clone()))
            .await;
        assert_eq!(
            (status, body),
            (400, envelope("INVALID_REQUEST", &description)),
            "for {rule}"
        );
    }
    // An unknown code: the answer lists the codes of the table.
    let (status, body) = app
        .control(
            Method::POST,
            "/faults",
            Some(json!({"action": {"error": "TEAPOT"}})),
        )
        .await;
    assert_eq!(status, 400);
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with("'action.error' \"TEAPOT\" is not a code of the error table; known codes: ERROR_METHOD_NOT_FOUND, NO_AUTH_FOUND,"),
        "{description}"
    );
    assert!(description.contains(", QUERY_LIMIT_EXCEEDED, "));
    assert!(description.ends_with(". For another code give 'status' and 'description' too"));
    // A body that is not JSON.
    let response = app
        .client
        .post(format!("{}/_b24/faults", app.base))
        .bearer_auth(&app.admin_token)
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert!(rules(&app).await.is_empty());
}

/// The CLI twin writes to the database; the running server fires the rule within a second;
/// list, remove and clear work too.
#[tokio::test]
async fn a_rule_added_through_the_cli_fires_on_the_running_server() {
    let app = spawn_app().await;
    // The server has looked at the (empty) rules once.
    assert_eq!(app.call("server.time", json!({})).await.0, 200);
    let output = app
        .cli()
        .args([
            "fault",
            "add",
            "--method",
            "server.time",
            "--error",
            "OPERATION_TIME_LIMIT",
            "--times",
            "1",
            "--seed",
            "5",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let added: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        added,
        json!({"id": 1, "match": {"method": "server.time"}, "after": 0, "times": 1,
               "probability": 1.0, "seed": 5, "action": {"error": "OPERATION_TIME_LIMIT"},
               "hits": 0, "remaining": 1, "draws": 0, "created": added["created"]})
    );
    // The server takes it within a second.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (body, retry_after) = loop {
        let (status, body, retry_after) =
            call_with_retry_after(&app, "server.time", json!({})).await;
        if status == 429 {
            break (body, retry_after);
        }
        assert_eq!(status, 200);
        assert!(Instant::now() < deadline, "the rule never fired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (body, retry_after.as_deref()),
        (
            envelope(
                "OPERATION_TIME_LIMIT",
                "Method is blocked due to operation time limit."
            ),
            Some("600")
        )
    );

    let listed = app
        .cli()
        .args(["fault", "list", "--json"])
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["faults"][0]["remaining"], json!(0));
    assert_eq!(listed["faults"][0]["hits"], json!(1));
    let table = app.cli().args(["fault", "list"]).output().unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with("ID    METHOD"), "{table}");
    assert!(table.contains("server.time"), "{table}");

    let removed = app.cli().args(["fault", "remove", "1"]).output().unwrap();
    assert_eq!(
        String::from_utf8(removed.stdout).unwrap(),
        "removed fault rule 1\n"
    );
    let again = app.cli().args(["fault", "remove", "1"]).output().unwrap();
    assert!(!again.status.success());
    let added = app
        .cli()
        .args(["fault", "add", "--network", "html502"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(added.stdout).unwrap(), "2\n");
    let cleared = app.cli().args(["fault", "clear"]).output().unwrap();
    assert_eq!(
        String::from_utf8(cleared.stdout).unwrap(),
        "removed 1 fault rules\n"
    );
    assert!(rules(&app).await.is_empty());
}

/// The CLI checks rules with the same code as the API.
#[tokio::test]
async fn the_cli_refuses_a_rule_the_api_would_refuse() {
    let app = spawn_app().await;
    let no_action = app
        .cli()
        .args(["fault", "add", "--method", "server.time"])
        .output()
        .unwrap();
    assert!(!no_action.status.success());
    assert!(String::from_utf8_lossy(&no_action.stderr).contains("give one action"));
    let bad_code = app
        .cli()
        .args(["fault", "add", "--error", "TEAPOT"])
        .output()
        .unwrap();
    assert!(!bad_code.status.success());
    assert!(String::from_utf8_lossy(&bad_code.stderr).contains("is not a code of the error table"));
    let custom = app
        .cli()
        .args([
            "fault",
            "add",
            "--status",
            "500",
            "--error",
            "BROKEN",
            "--description",
            "It broke",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(custom.status.success(), "{custom:?}");
    let custom: Value = serde_json::from_slice(&custom.stdout).unwrap();
    assert_eq!(
        custom["action"],
        json!({"status": 500, "error": "BROKEN", "description": "It broke"})
    );
}

/// Two servers on one PostgreSQL: a rule added through one fires on the other within a second,
/// and `after`/`times` count calls on both exactly.
#[tokio::test]
async fn a_rule_added_through_one_server_fires_on_another_on_the_same_database_with_exact_counts() {
    let Some(_) = postgres_only("fault rules across two servers") else {
        return;
    };
    let a = spawn_app().await;
    let (database_url, token) = (a.database_url.clone(), a.admin_token.clone());
    let mut b = spawn_app_in(
        tempfile::tempdir().unwrap(),
        None,
        Some(a.admin_url.clone()),
        |c| {
            c.database_url = database_url;
            c.control.token = Some(token);
        },
    )
    .await;
    b.admin_url = a.admin_url.replace(&a.base, &b.base);
    // B has looked at the (empty) rules once.
    assert_eq!(b.call("server.time", json!({})).await.0, 200);
    add(
        &a,
        json!({"match": {"method": "server.time"}, "after": 1, "times": 2,
               "action": {"error": "QUERY_LIMIT_EXCEEDED"}}),
    )
    .await;
    // B takes the rule within a second: its first match is let through, the second fires.
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.call("server.time", json!({})).await.0 != 503 {
        assert!(Instant::now() < deadline, "the rule never fired on B");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(a.call("server.time", json!({})).await.0, 503);
    assert_eq!(b.call("server.time", json!({})).await.0, 200);
    let listed = rules(&b).await;
    assert_eq!(
        (&listed[0]["hits"], &listed[0]["remaining"]),
        (&json!(3), &json!(0))
    );
}
