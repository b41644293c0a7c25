//! REST 3.0 (`/rest/api/…`, spec "REST 3.0"): its envelope, its errors, its batch, and the limits,
//! authentication and journal it shares with v2.

use crate::helpers::{envelope, read, spawn_app, spawn_app_with, TestApp};
use b24_server::clock::ManualClock;
use b24_server::limits::Plan;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;

const T0: f64 = 1_800_000_000.0;
const METHOD_NOT_FOUND: &str = "BITRIX_REST_V3_EXCEPTION_METHODNOTFOUNDEXCEPTION";
const ACCESS_DENIED: &str = "BITRIX_REST_V3_EXCEPTION_ACCESSDENIEDEXCEPTION";
const INVALID_SELECT: &str = "BITRIX_REST_V3_EXCEPTION_INVALIDSELECTEXCEPTION";

/// The administrator's webhook, REST 3.0 form: `…/rest/api/{user}/{code}/`.
fn v3_url(app: &TestApp) -> String {
    app.admin_url.replacen("/rest/", "/rest/api/", 1)
}

fn v3_error(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

/// POST of a JSON body to a full URL, with the `Retry-After` header.
async fn post(app: &TestApp, url: &str, body: Value) -> (u16, Value, Option<String>) {
    let response = app.client.post(url).json(&body).send().await.unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, body) = read(response).await;
    (status, body, retry_after)
}

async fn v3(app: &TestApp, method: &str, body: Value) -> (u16, Value) {
    let (status, body, _) = post(app, &format!("{}{method}", v3_url(app)), body).await;
    (status, body)
}

#[tokio::test]
async fn a_webhook_call_answers_result_and_the_time_block() {
    let app = spawn_app().await;
    let (status, body) = v3(&app, "rest.scope.list", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["result", "time"]);
    // Every REST 3.0 method served here is open to any caller: no scope to list.
    assert_eq!(body["result"], json!([]));
    for key in [
        "start",
        "finish",
        "duration",
        "processing",
        "operating",
        "operating_reset_at",
    ] {
        assert!(body["time"][key].is_number(), "time.{key}: {body}");
    }
    assert!(body["time"]["date_start"].is_string());
    // The alias, GET, the method name in any case: the same method.
    let (status, alias) = app.get(&format!("{}scopes", v3_url(&app))).await;
    assert_eq!((status, &alias["result"]), (200, &json!([])));
    let (status, _) = v3(&app, "REST.Scope.List", json!({"filterModule": "crm"})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn documentation_answers_the_openapi_document_alone() {
    let app = spawn_app().await;
    let (status, doc) = app.get(&format!("{}documentation", v3_url(&app))).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["openapi"], "3.0.0");
    assert_eq!(doc["info"]["title"], "Bitrix24 REST V3 API");
    assert!(doc.get("result").is_none() && doc.get("time").is_none());
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    for path in [
        "/batch",
        "/rest.documentation.openapi",
        "/rest.scope.list",
        "/documentation",
        "/scopes",
    ] {
        assert!(paths.contains(&&path.to_string()), "{path} in {paths:?}");
    }
    let (_, same) = v3(&app, "rest.documentation.openapi", json!({})).await;
    assert_eq!(same, doc);
}

#[tokio::test]
async fn a_method_rest_3_does_not_have_is_404_method_not_found_before_authentication() {
    let app = spawn_app().await;
    // `server.time` and the CRM methods are REST v2 methods only.
    for method in ["server.time", "crm.item.list", "no.such.method"] {
        let (status, body) = v3(&app, method, json!({})).await;
        assert_eq!(status, 404, "{method}: {body}");
        assert_eq!(
            body,
            v3_error(
                METHOD_NOT_FOUND,
                &format!("Method \"{method}\" was not found.")
            )
        );
    }
    let url = format!("{}/rest/api/1/wrong-code/server.time", app.base);
    let (status, body, _) = post(&app, &url, json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some(METHOD_NOT_FOUND))
    );
    let (status, body) = app.get(&format!("{}/rest/api/", app.base)).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        v3_error(METHOD_NOT_FOUND, "Method \"\" was not found.")
    );
    // The same name on the v2 path is still served there.
    let (status, _) = app.call("server.time", json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_401_access_denied() {
    let app = spawn_app().await;
    let denied = v3_error(ACCESS_DENIED, "Access denied.");
    let url = format!("{}/rest/api/1/wrong-code/rest.scope.list", app.base);
    let (status, body, _) = post(&app, &url, json!({})).await;
    assert_eq!((status, body), (401, denied.clone()));
    let token_url = format!("{}/rest/api/rest.scope.list", app.base);
    let (status, body, _) = post(&app, &token_url, json!({})).await;
    assert_eq!((status, body), (401, denied.clone()));
    let (status, body, _) = post(&app, &token_url, json!({"auth": "not-a-token"})).await;
    assert_eq!((status, body), (401, denied));
}

#[tokio::test]
async fn an_application_token_is_read_from_the_body_the_query_or_the_bearer_header() {
    let app = spawn_app().await;
    let installed = app.install_app("crm", 1, app.state.clock.now()).await;
    let token = installed.tokens["access_token"].as_str().unwrap();
    let url = format!("{}/rest/api/rest.scope.list", app.base);
    let (status, body, _) = post(&app, &url, json!({"auth": token})).await;
    assert_eq!(status, 200, "{body}");
    let query = format!("{url}?auth={token}&bx24_request_id=abc");
    let (status, body, _) = post(&app, &query, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let response = app
        .client
        .post(format!("{}/rest/api/batch", app.base))
        .bearer_auth(token)
        .json(&json!([{"method": "scopes", "query": {}}]))
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!((status, &body["result"]), (200, &json!([[]])), "{body}");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_invalid_json() {
    let app = spawn_app().await;
    let url = format!("{}rest.scope.list", v3_url(&app));
    let (status, body) = app.post_form(&url, "filterModule=crm").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        v3_error(
            "BITRIX_REST_V3_EXCEPTION_INVALIDJSONEXCEPTION",
            "Invalid JSON."
        )
    );
}

#[tokio::test]
async fn batch_runs_its_items_in_order_and_answers_their_results_as_a_list() {
    let app = spawn_app().await;
    let (status, body) = v3(
        &app,
        "batch",
        json!([
            {"method": "scopes", "query": {}, "as": "first"},
            {"method": "rest.scope.list", "query": {"filterModule": "crm"}},
            {"method": "documentation", "query": {}},
        ]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let results = body["result"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0], json!([]));
    assert_eq!(results[2]["openapi"], "3.0.0");
    assert!(body["time"]["operating"].is_number());
    let (status, empty) = v3(&app, "batch", json!([])).await;
    assert_eq!((status, &empty["result"]), (200, &json!([])));
}

#[tokio::test]
async fn a_failing_batch_item_fails_the_whole_batch_with_its_error() {
    let app = spawn_app().await;
    let select = |detail: &str| {
        v3_error(
            INVALID_SELECT,
            &format!("Unable to parse select expression `{detail}`"),
        )
    };
    let cases = [
        (
            json!([{"method": "scopes", "query": {}}, {"method": "server.time", "query": {}}]),
            404,
            v3_error(METHOD_NOT_FOUND, "Method \"server.time\" was not found."),
        ),
        (
            json!([{"method": "batch", "query": []}]),
            404,
            v3_error(METHOD_NOT_FOUND, "Method \"batch\" was not found."),
        ),
        (
            json!([{"method": "scopes"}]),
            400,
            select("Each request item must have a \"method\" and \"query\" attribute"),
        ),
        // The v2 form is not REST 3.0's.
        (
            json!({"cmd": {"a": "server.time"}}),
            400,
            select("Each request item must have a \"method\" and \"query\" attribute"),
        ),
        (
            json!([{"method": "scopes", "query": {}, "as": "a"},
                   {"method": "scopes", "query": {}, "as": "a"}]),
            400,
            select("You are can not have two aliases with same name: a"),
        ),
        (
            json!([{"method": "scopes", "query": {}, "as": "a"},
                   {"method": "scopes", "query": {"filterModule": {"$ref": "a.id"}}}]),
            400,
            select("Path 'a.id' not found in context"),
        ),
    ];
    for (batch, status, expected) in cases {
        let (got_status, body) = v3(&app, "batch", batch.clone()).await;
        assert_eq!((got_status, &body), (status, &expected), "{batch}");
    }
}

async fn limited_app(
    configure: impl FnOnce(&mut b24_server::ServeConfig) + Send + 'static,
) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let c = clock.clone();
    let app = spawn_app_with(move |config| {
        config.clock = c;
        configure(config);
    })
    .await;
    (app, clock)
}

#[tokio::test]
async fn the_request_rate_limit_answers_rest_3_calls_in_the_flat_503_form() {
    let (app, clock) = limited_app(|config| config.plan = Some(Plan::Standard)).await;
    let url = format!("{}rest.scope.list", v3_url(&app));
    for _ in 0..50 {
        let (status, body, _) = post(&app, &url, json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body, retry_after) = post(&app, &url, json!({})).await;
    assert_eq!(
        (status, body),
        (503, envelope("QUERY_LIMIT_EXCEEDED", "Too many requests"))
    );
    assert_eq!(retry_after.as_deref(), Some("1"));
    clock.advance(1.0);
    let (status, _, _) = post(&app, &url, json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_operating_time_limit_is_429_rate_limit_exception() {
    let (app, clock) = limited_app(|config| {
        config.operating.limit_secs = 480.0;
        config
            .operating
            .simulated_cost
            .insert("rest.scope.list".into(), 300.0);
    })
    .await;
    let url = format!("{}rest.scope.list", v3_url(&app));
    for expected in [300, 600] {
        let (status, body, _) = post(&app, &url, json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["time"]["operating"].as_f64().unwrap().round() as i64,
            expected
        );
        clock.advance(10.0);
    }
    let (status, body, retry_after) = post(&app, &url, json!({})).await;
    assert_eq!(status, 429);
    assert_eq!(
        body,
        v3_error(
            "BITRIX_REST_V3_EXCEPTION_RATELIMITEXCEPTION",
            "Request was blocked because the limit was exceeded."
        )
    );
    assert_eq!(retry_after.as_deref(), Some("580"));
    // Other methods keep working.
    let (status, _) = v3(&app, "documentation", json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn rest_3_calls_are_recorded_in_the_journal() {
    let app = spawn_app().await;
    v3(&app, "rest.scope.list", json!({"filterModule": "crm"})).await;
    v3(&app, "server.time", json!({})).await;
    let (status, body) = app.control(Method::GET, "/journal?limit=1000", None).await;
    assert_eq!(status, 200, "{body}");
    let entries = body["entries"].as_array().unwrap();
    let [.., ok, missing] = entries.as_slice() else {
        panic!("two entries: {body}")
    };
    assert_eq!(ok["method"], "rest.scope.list");
    assert_eq!(ok["http"], 200);
    assert_eq!(ok["error"], Value::Null);
    assert!(ok["via"].as_str().unwrap().starts_with("webhook:"), "{ok}");
    assert_eq!(ok["params"], json!({"filterModule": "crm"}));
    assert_eq!(missing["method"], "server.time");
    assert_eq!(missing["http"], 404);
    assert_eq!(missing["error"], METHOD_NOT_FOUND);
}

#[tokio::test]
async fn fault_rules_fire_on_rest_3_calls_and_answer_in_its_shape() {
    let app = spawn_app().await;
    let rule = json!({"match": {"method": "rest.scope.list"}, "times": 1,
                      "action": {"error": "OPERATION_TIME_LIMIT"}});
    let (status, body) = app.control(Method::POST, "/faults", Some(rule)).await;
    assert_eq!(status, 201, "{body}");
    let url = format!("{}rest.scope.list", v3_url(&app));
    let (status, body, retry_after) = post(&app, &url, json!({})).await;
    assert_eq!(status, 429);
    assert_eq!(
        body,
        v3_error(
            "BITRIX_REST_V3_EXCEPTION_RATELIMITEXCEPTION",
            "Request was blocked because the limit was exceeded."
        )
    );
    assert_eq!(retry_after.as_deref(), Some("600"));
    let (status, _, _) = post(&app, &url, json!({})).await;
    assert_eq!(status, 200, "the rule fired once");
    let (_, journal) = app.control(Method::GET, "/journal?limit=1000", None).await;
    let entries = journal["entries"].as_array().unwrap();
    let faulted = &entries[entries.len() - 2];
    assert_eq!(
        faulted["error"],
        "BITRIX_REST_V3_EXCEPTION_RATELIMITEXCEPTION"
    );
    assert_eq!(faulted["fault"], 1, "{faulted}");
}
