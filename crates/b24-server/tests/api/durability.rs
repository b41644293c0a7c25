//! The real binary under process faults: SIGKILL in the middle of a write load loses no
//! acknowledged write and breaks no invariant; SIGTERM lets requests in flight finish.

use crate::helpers::{postgres_url, TestSchema};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server process and what it printed on start (shared with `scale_out` and `races` through
/// `b24-test-support`).
pub(crate) type Server = crate::helpers::ServerProcess;

pub(crate) use crate::helpers::rebase;

/// Starts the binary on the data directory, and on the PostgreSQL schema when given.
pub(crate) fn start(dir: &Path, schema: Option<&TestSchema>) -> Server {
    start_with_plan(dir, schema, "unlimited")
}

/// [`start`] with a request-rate plan.
pub(crate) fn start_with_plan(dir: &Path, schema: Option<&TestSchema>, plan: &str) -> Server {
    Server::start(dir, schema.map(|s| s.url.as_str()), plan)
}

pub(crate) fn signal(child: &Child, name: &str) {
    assert!(Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

pub(crate) async fn call(
    client: &reqwest::Client,
    url: &str,
    method: &str,
    params: Value,
) -> Option<(u16, Value)> {
    let response = client
        .post(format!("{url}{method}"))
        .json(&params)
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_write_survives_sigkill_and_invariants_hold() {
    let dir = tempfile::tempdir().unwrap();
    let schema = postgres_url().map(|url| TestSchema::create(&url));
    let mut server = start(dir.path(), schema.as_ref());
    let webhook = server.webhook.clone().unwrap();
    let client = reqwest::Client::new();
    let deal = call(
        &client,
        &webhook,
        "crm.item.add",
        json!({"entityTypeId": 2, "fields": {"title": "d"}}),
    )
    .await
    .unwrap()
    .1;
    let deal = deal["result"]["item"]["id"].as_i64().unwrap();
    let activity = call(
        &client,
        &webhook,
        "crm.activity.todo.add",
        json!({"ownerTypeId": 2, "ownerId": deal, "deadline": "2030-01-01T10:00:00"}),
    )
    .await
    .unwrap()
    .1["result"]["id"]
        .as_i64()
        .unwrap();

    // Eight writers: each adds contacts and binds them to the activity, then unbinds some.
    let mut writers = Vec::new();
    for w in 0..8 {
        let client = client.clone();
        let webhook = webhook.clone();
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for n in 0.. {
                let title = format!("w{w}-{n}");
                let Some((200, body)) = call(
                    &client,
                    &webhook,
                    "crm.item.add",
                    json!({"entityTypeId": 3, "fields": {"name": title}}),
                )
                .await
                else {
                    break;
                };
                let contact = body["result"]["item"]["id"].as_i64().unwrap();
                acknowledged.push(("item", contact, title));
                let bind = json!({"activityId": activity, "entityTypeId": 3, "entityId": contact});
                match call(&client, &webhook, "crm.activity.binding.add", bind.clone()).await {
                    Some((200, _)) => acknowledged.push(("bound", contact, String::new())),
                    _ => break,
                }
                if n % 3 == 0 {
                    // If the kill lands during this call, it may or may not have committed.
                    acknowledged.push(("unbind attempted", contact, String::new()));
                    match call(&client, &webhook, "crm.activity.binding.delete", bind).await {
                        Some((200, _)) => acknowledged.push(("unbound", contact, String::new())),
                        Some((400, _)) => {}
                        _ => break,
                    }
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    signal(&server.child, "-KILL");
    let _ = server.child.wait();
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(
        acknowledged.len() > 20,
        "the load did too little to prove anything"
    );

    let mut restarted = start(dir.path(), schema.as_ref());
    assert!(
        restarted.webhook.is_none(),
        "a restart is not a first start"
    );
    let url = rebase(&webhook, &restarted.base);
    let (_, list) = call(
        &client,
        &url,
        "crm.activity.binding.list",
        json!({"activityId": activity}),
    )
    .await
    .unwrap();
    let bound: Vec<(i64, i64)> = list["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["entityTypeId"].as_i64().unwrap(),
                b["entityId"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(!bound.is_empty(), "the activity kept at least one binding");
    let mut unique = bound.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), bound.len(), "bindings are unique");
    for (kind, contact, title) in &acknowledged {
        match *kind {
            "item" => {
                let (status, body) = call(
                    &client,
                    &url,
                    "crm.item.get",
                    json!({"entityTypeId": 3, "id": contact}),
                )
                .await
                .unwrap();
                assert_eq!(
                    (status, body["result"]["item"]["name"].as_str()),
                    (200, Some(title.as_str()))
                );
            }
            "bound" => {
                let attempted = acknowledged
                    .iter()
                    .any(|(k, c, _)| *k == "unbind attempted" && c == contact);
                if !attempted {
                    assert!(
                        bound.contains(&(3, *contact)),
                        "contact {contact} was bound"
                    );
                }
            }
            "unbound" => assert!(
                !bound.contains(&(3, *contact)),
                "contact {contact} was unbound"
            ),
            _ => {}
        }
    }
    signal(&restarted.child, "-TERM");
    assert!(restarted.child.wait().unwrap().success());
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish_and_write() {
    let dir = tempfile::tempdir().unwrap();
    let schema = postgres_url().map(|url| TestSchema::create(&url));
    let mut server = start(dir.path(), schema.as_ref());
    let webhook = server.webhook.clone().unwrap();
    let path = &webhook[webhook.find("/rest/").unwrap()..];
    let addr = server.base.trim_start_matches("http://").to_string();

    // Start a request, send half its body, then ask the server to stop.
    let body =
        json!({"entityTypeId": 2, "fields": {"title": "written during shutdown"}}).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST {path}crm.item.add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{first}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    signal(&server.child, "-TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        server.child.wait().unwrap().success(),
        "a clean exit after the last request"
    );

    let mut restarted = start(dir.path(), schema.as_ref());
    let url = rebase(&webhook, &restarted.base);
    let (_, body) = call(
        &reqwest::Client::new(),
        &url,
        "crm.item.list",
        json!({"entityTypeId": 2}),
    )
    .await
    .unwrap();
    assert_eq!(
        body["result"]["items"][0]["title"],
        "written during shutdown"
    );
    signal(&restarted.child, "-TERM");
    assert!(restarted.child.wait().unwrap().success());
}
