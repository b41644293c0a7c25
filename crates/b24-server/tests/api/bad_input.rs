//! Hostile and malformed input, table-driven: every case gets a Bitrix-shaped 4xx (or, for
//! transport abuse, a refusal at the HTTP layer or a closed connection) — never a 5xx, never a
//! panic — and the data is exactly the same afterwards.
//!
//! Requests are written as raw bytes on a TCP socket so that invalid UTF-8, NUL bytes, broken
//! framing and oversized headers reach the server unaltered.

use crate::helpers::{spawn_app_with, TestApp};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What came back: a status and (for JSON answers) the body; `None` when the server closed the
/// connection without answering.
#[derive(Debug)]
struct Outcome {
    status: Option<u16>,
    body: Option<Value>,
}

/// Sends raw bytes and reads until the server closes the connection (every request here says
/// `Connection: close`) or 5 s pass.
async fn raw(app: &TestApp, request: Vec<u8>) -> Outcome {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may refuse before reading everything; a failed write is part of the outcome.
    let _ = stream.write_all(&request).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
    parse_response(&response)
}

fn parse_response(bytes: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(bytes);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok());
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b.trim()).ok());
    Outcome { status, body }
}

fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// What a case must get back.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// This status and this `error` code in a Bitrix envelope.
    Error(u16, &'static str),
    /// Any 4xx with a Bitrix envelope.
    AnyBitrix4xx,
    /// Refused at the HTTP layer (a 4xx without our envelope) or the connection closed.
    TransportRefusal,
}

struct Case {
    name: String,
    request: Vec<u8>,
    expect: Expect,
}

/// The webhook path prefix, e.g. `/rest/1/<code>/`.
fn prefix(app: &TestApp) -> String {
    app.admin_url.trim_start_matches(&app.base).to_string()
}

fn json_post(app: &TestApp, method: &str, body: &[u8]) -> Vec<u8> {
    request(
        "POST",
        &format!("{}{method}", prefix(app)),
        &[("Content-Type", "application/json")],
        body,
    )
}

fn cases(app: &TestApp, activity: i64) -> Vec<Case> {
    let p = prefix(app);
    let mut cases = Vec::new();
    let mut add = |name: &str, request: Vec<u8>, expect: Expect| {
        cases.push(Case {
            name: name.to_string(),
            request,
            expect,
        });
    };
    let missing = Expect::Error(400, "100");

    // Malformed JSON: PHP reads it as no parameters at all.
    for (i, body) in [
        "{",
        "{\"activityId\":",
        "[1,2",
        "nul",
        "{\"a\":1}}",
        "\"text\"",
        "123",
        "true",
        "{'activityId':1}",
        "{\"activityId\":1,}",
        "\u{feff}{\"activityId\":1}",
        "{\"activityId\":1 \"entityTypeId\":2}",
    ]
    .iter()
    .enumerate()
    {
        add(
            &format!("malformed json {i}"),
            json_post(app, "crm.activity.binding.delete", body.as_bytes()),
            missing,
        );
    }
    // Wrong or missing content types.
    let body = format!("{{\"activityId\":{activity},\"entityTypeId\":2,\"entityId\":1}}");
    for ct in [
        "text/plain",
        "application/xml",
        "application/json-patch+json",
        "multipart/form-data",
        "",
        "application/x-www-form-urlencoded",
    ] {
        let headers: Vec<(&str, &str)> = if ct.is_empty() {
            vec![]
        } else {
            vec![("Content-Type", ct)]
        };
        add(
            &format!("content type {ct:?} with a JSON body"),
            request(
                "POST",
                &format!("{p}crm.activity.binding.delete"),
                &headers,
                body.as_bytes(),
            ),
            missing,
        );
    }
    // Invalid UTF-8.
    add(
        "invalid utf-8 in the query",
        request(
            "GET",
            &format!("{p}crm.activity.binding.list?activityId=%FF%FE"),
            &[],
            b"",
        ),
        Expect::Error(400, "WRONG_ENCODING"),
    );
    add(
        "invalid utf-8 in a form body",
        request(
            "POST",
            &format!("{p}crm.activity.binding.list"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"activityId=\xff\xfe",
        ),
        Expect::Error(400, "WRONG_ENCODING"),
    );
    add(
        "invalid utf-8 in a JSON body",
        json_post(
            app,
            "crm.activity.binding.list",
            b"{\"activityId\":\"\xff\"}",
        ),
        missing,
    );
    add(
        "invalid utf-8 in the method name",
        request("GET", &format!("{p}crm.%FF"), &[], b""),
        Expect::Error(404, "ERROR_METHOD_NOT_FOUND"),
    );
    add(
        "invalid utf-8 in the webhook code",
        request("GET", "/rest/1/%FF/server.time", &[], b""),
        Expect::Error(404, "ERROR_METHOD_NOT_FOUND"),
    );
    // Huge bodies and parameter counts.
    let huge = vec![b'a'; 9 * 1024 * 1024];
    add(
        "a 9 MiB body",
        request(
            "POST",
            &format!("{p}server.time"),
            &[("Content-Type", "text/plain")],
            &huge,
        ),
        Expect::Error(413, "ERROR_REQUEST_TOO_LARGE"),
    );
    let many = "a[]=1&".repeat(20_000);
    add(
        "20,000 form variables",
        request(
            "POST",
            &format!("{p}crm.activity.binding.list"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            many.as_bytes(),
        ),
        Expect::Error(413, "ERROR_REQUEST_TOO_LARGE"),
    );
    let big_json_array = format!("{{\"select\":[{}]}}", vec!["1"; 500_000].join(","));
    add(
        "a JSON array of 500,000 numbers",
        json_post(app, "crm.activity.binding.list", big_json_array.as_bytes()),
        missing,
    );
    // Deep nesting.
    let deep_query = format!("activityId{}=1", "[a]".repeat(10_000));
    add(
        "PHP keys nested 10,000 deep in a form body",
        request(
            "POST",
            &format!("{p}crm.activity.binding.list"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            deep_query.as_bytes(),
        ),
        missing,
    );
    let deep_get = format!(
        "{p}crm.activity.binding.list?x{}=1",
        "%5Ba%5D".repeat(5_000)
    );
    add(
        "PHP keys nested 5,000 deep in the query",
        request("GET", &deep_get, &[], b""),
        missing,
    );
    let deep_json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    add(
        "JSON nested 10,000 deep",
        json_post(app, "crm.activity.binding.list", deep_json.as_bytes()),
        missing,
    );
    let deep_object = format!(
        "{{\"activityId\":{}1{}}}",
        "{\"a\":".repeat(5_000),
        "}".repeat(5_000)
    );
    add(
        "a JSON object nested 5,000 deep",
        json_post(app, "crm.activity.binding.list", deep_object.as_bytes()),
        Expect::AnyBitrix4xx,
    );
    // Long method names and paths, traversal.
    let long_method = "a".repeat(10_000);
    add(
        "a 10,000-character method name",
        request("GET", &format!("{p}{long_method}"), &[], b""),
        Expect::Error(404, "ERROR_METHOD_NOT_FOUND"),
    );
    let long_path = format!("/rest/{}", "x/".repeat(30_000));
    add(
        "a 60 KB path",
        request("GET", &long_path, &[], b""),
        Expect::Error(404, "ERROR_METHOD_NOT_FOUND"),
    );
    let too_long = format!("/rest/{}", "y".repeat(200_000));
    add(
        "a 200 KB request line",
        request("GET", &too_long, &[], b""),
        Expect::TransportRefusal,
    );
    for path in [
        "/rest/../etc/passwd",
        "/rest/1/x/../../server.time",
        "/rest/%2e%2e/%2e%2e/etc/passwd",
        "/../../etc/passwd",
        "/rest/..%2f..%2fserver.time",
        "/rest/1/code/server.time/../../x",
    ] {
        add(
            &format!("path traversal {path}"),
            request("GET", path, &[], b""),
            Expect::AnyBitrix4xx,
        );
    }
    // Injection-looking values.
    for (i, value) in [
        "1; DROP TABLE activities",
        "1 OR 1=1",
        "1' OR '1'='1",
        "1)--",
        "0x1A",
        "1/**/",
        "1\u{0}",
        "\u{0}",
    ]
    .iter()
    .enumerate()
    {
        let body = json!({"activityId": value, "entityTypeId": 2, "entityId": 1}).to_string();
        add(
            &format!("injection-looking activityId {i}"),
            json_post(app, "crm.activity.binding.delete", body.as_bytes()),
            missing,
        );
    }
    add(
        "a SQL-looking filter key",
        json_post(
            app,
            "crm.item.list",
            br#"{"entityTypeId":2,"filter":{"id) OR (1=1":1}}"#,
        ),
        Expect::Error(400, "INVALID_ARG_VALUE"),
    );
    add(
        "a SQL-looking order field",
        json_post(
            app,
            "crm.item.list",
            br#"{"entityTypeId":2,"order":{"id; DROP TABLE crm_items":"ASC"}}"#,
        ),
        Expect::Error(400, "INVALID_ARG_VALUE"),
    );
    add(
        "a NUL byte in the method name",
        request("GET", &format!("{p}server.time%00"), &[], b""),
        Expect::Error(404, "ERROR_METHOD_NOT_FOUND"),
    );
    add(
        "a NUL byte in a form value",
        request(
            "POST",
            &format!("{p}crm.activity.binding.list"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"activityId=1%00",
        ),
        missing,
    );
    add(
        "a raw NUL byte in a header",
        request(
            "GET",
            &format!("{p}server.time"),
            &[("X-Evil", "a\0b")],
            b"",
        ),
        Expect::TransportRefusal,
    );
    // Integers out of range and values of the wrong type, for each id parameter.
    for param in ["activityId", "entityTypeId", "entityId"] {
        for (label, value) in [
            ("2^63", json!(9223372036854775808u64)),
            ("2^64 as text", json!("18446744073709551616")),
            ("1e400 as text", json!("1e400")),
            ("a float array", json!([1.5])),
            ("true", json!(true)),
            ("false", json!(false)),
            ("null", Value::Null),
            ("an object", json!({"id": 1})),
            ("a list", json!([1])),
            ("hex text", json!("0x10")),
            ("empty text", json!("")),
        ] {
            let mut body = json!({"activityId": activity, "entityTypeId": 2, "entityId": 1});
            body[param] = value;
            add(
                &format!("{param} = {label}"),
                json_post(
                    app,
                    "crm.activity.binding.delete",
                    body.to_string().as_bytes(),
                ),
                missing,
            );
        }
    }
    add(
        "a JSON number 1e400",
        json_post(
            app,
            "crm.activity.binding.delete",
            br#"{"activityId":1e400,"entityTypeId":2,"entityId":1}"#,
        ),
        missing,
    );
    add(
        "activityId = -1",
        json_post(
            app,
            "crm.activity.binding.delete",
            br#"{"activityId":-1,"entityTypeId":2,"entityId":1}"#,
        ),
        Expect::Error(400, "NOT_FOUND"),
    );
    let float = format!("{{\"activityId\":{activity}.9,\"entityTypeId\":2,\"entityId\":999}}");
    add(
        "a float activityId truncates and finds no such binding",
        json_post(app, "crm.activity.binding.delete", float.as_bytes()),
        Expect::Error(400, "BINDING_NOT_FOUND"),
    );
    // Duplicate keys: the last one wins, as in PHP.
    add(
        "duplicate JSON keys",
        json_post(
            app,
            "crm.activity.binding.list",
            br#"{"activityId":1,"activityId":"x"}"#,
        ),
        missing,
    );
    add(
        "duplicate query keys",
        request(
            "GET",
            &format!("{p}crm.activity.binding.list?activityId=1&activityId=x"),
            &[],
            b"",
        ),
        missing,
    );
    // Other verbs carry no body parameters. (`OPTIONS` runs no method at all: it answers the
    // CORS preflight, see `preflight.rs`, which checks that it writes nothing.)
    for verb in ["PUT", "DELETE", "PATCH"] {
        add(
            &format!("{verb} with a JSON body"),
            request(
                verb,
                &format!("{p}crm.activity.binding.delete"),
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            ),
            missing,
        );
    }
    add(
        "HEAD of a method",
        request("HEAD", &format!("{p}crm.activity.binding.list"), &[], b""),
        Expect::AnyBitrix4xx,
    );
    // Oversized headers.
    let big_header = "h".repeat(200 * 1024);
    add(
        "a 200 KB header",
        request(
            "GET",
            &format!("{p}server.time"),
            &[("X-Big", &big_header)],
            b"",
        ),
        Expect::TransportRefusal,
    );
    let many_headers: Vec<(String, String)> = (0..500)
        .map(|i| (format!("X-H{i}"), "v".to_string()))
        .collect();
    let refs: Vec<(&str, &str)> = many_headers
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    add(
        "500 headers",
        request("GET", &format!("{p}server.time"), &refs, b""),
        Expect::TransportRefusal,
    );
    // Broken framing.
    add(
        "garbage instead of HTTP",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 not http\r\n\r\n".to_vec(),
        Expect::TransportRefusal,
    );
    add("a bad Content-Length", b"POST /rest/server.time HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n".to_vec(), Expect::TransportRefusal);
    add("an unknown transfer encoding", b"POST /rest/server.time HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n".to_vec(), Expect::TransportRefusal);
    cases
}

/// Everything a case could have changed, read through the API.
async fn snapshot(app: &TestApp, activity: i64) -> Value {
    let mut state = json!({
        "bindings": app.bindings(activity).await,
        "activity": app.ok("crm.activity.get", json!({"id": activity})).await,
    });
    for entity_type_id in [1, 2, 3, 4] {
        let (_, list) = app
            .call("crm.item.list", json!({"entityTypeId": entity_type_id}))
            .await;
        state[format!("items{entity_type_id}")] = list["result"].clone();
    }
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_hostile_requests_get_4xx_and_change_nothing() {
    let app = spawn_app_with(|config| {
        config.transport.header_read_timeout = Duration::from_secs(2);
        config.limits.body_read_timeout = Duration::from_secs(2);
    })
    .await;
    let deal = app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    let activity = app.new_todo(2, deal).await;
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": 3, "entityId": contact}),
    )
    .await;
    let before = snapshot(&app, activity).await;

    let cases = cases(&app, activity);
    assert!(cases.len() >= 80, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let outcome = raw(&app, case.request.clone()).await;
        let ok = match case.expect {
            Expect::Error(status, code) => {
                outcome.status == Some(status)
                    && outcome.body.as_ref().and_then(|b| b["error"].as_str()) == Some(code)
                    && outcome
                        .body
                        .as_ref()
                        .is_some_and(|b| b["error_description"].is_string())
            }
            Expect::AnyBitrix4xx => {
                outcome.status.is_some_and(|s| (400..500).contains(&s))
                    && (outcome
                        .body
                        .as_ref()
                        .is_some_and(|b| b["error"].is_string())
                        || outcome.status == Some(400))
            }
            Expect::TransportRefusal => outcome.status.is_none_or(|s| (400..500).contains(&s)),
        };
        if !ok {
            failures.push(format!(
                "{}: expected {:?}, got {:?} {:?}",
                case.name, case.expect, outcome.status, outcome.body
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    assert_eq!(
        snapshot(&app, activity).await,
        before,
        "a bad request changed data"
    );
}

#[tokio::test]
async fn a_client_that_sends_headers_too_slowly_is_disconnected() {
    let app = spawn_app_with(|config| {
        config.transport.header_read_timeout = Duration::from_millis(500);
        config.transport.first_request_timeout = Duration::from_millis(800);
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(b"GET /rest/server.time HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server kept a slowloris connection open");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn a_body_that_arrives_too_slowly_gets_408() {
    let app =
        spawn_app_with(|config| config.limits.body_read_timeout = Duration::from_millis(300)).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST {}server.time HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"a\":",
        prefix(&app)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    let outcome = parse_response(&buf);
    assert_eq!(
        outcome.status,
        Some(408),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    assert_eq!(outcome.body.unwrap()["error"], "ERROR_REQUEST_TIMEOUT");
}

#[tokio::test]
async fn a_fifty_command_get_batch_fits_in_the_request_line() {
    let app = spawn_app_with(|_| {}).await;
    let cmd: String = (0..50)
        .map(|i| format!("cmd[c{i}]=crm.item.list%3FentityTypeId%3D2%26select%5B%5D%3Did%26select%5B%5D%3Dtitle%26select%5B%5D%3DassignedById%26select%5B%5D%3DcreatedTime%26order%5Bid%5D%3DASC%26filter%5B%3Eid%5D%3D%24result%5Bc0%5D%5Bitems%5D%5B49%5D%5Bid%5D"))
        .collect::<Vec<_>>()
        .join("&");
    assert!(cmd.len() > 8 * 1024);
    let outcome = raw(
        &app,
        request("GET", &format!("{}batch?{cmd}", prefix(&app)), &[], b""),
    )
    .await;
    assert_eq!(outcome.status, Some(200));
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(|config| {
        config.transport.header_read_timeout = Duration::from_millis(500);
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let first = format!(
        "GET {}server.time HTTP/1.1\r\nHost: x\r\n\r\n",
        prefix(&app)
    );
    stream.write_all(first.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Now stay silent: the server must close the connection rather than hold it forever.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "an idle keep-alive connection was kept open"
    );
}
