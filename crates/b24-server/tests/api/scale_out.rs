//! Scaling out: two server processes (the real binary) on one PostgreSQL schema. Runs when
//! `B24_TEST_POSTGRES_URL` is set (CI sets it); otherwise each test says it was skipped.

use crate::durability::{call, rebase, signal, start_with_plan, Server};
use crate::helpers::{postgres_only, TestSchema};
use serde_json::json;

/// The PostgreSQL schema for a two-process test, or `None` (and a note on stderr) when the suite
/// runs without PostgreSQL; under CI that is a failure (see `b24_server::test_env`).
pub(crate) fn schema_or_skip(test: &str) -> Option<TestSchema> {
    postgres_only(test).map(|url| TestSchema::create(&url))
}

/// Two servers on one schema: the first start's webhook works on both.
pub(crate) fn two_servers(
    dir: &std::path::Path,
    schema: &TestSchema,
    plan: &str,
) -> (Server, Server, String) {
    let first = start_with_plan(dir, Some(schema), plan);
    let webhook = first
        .webhook
        .clone()
        .expect("the first start prints a webhook");
    let second = start_with_plan(dir, Some(schema), plan);
    assert!(
        second.webhook.is_none(),
        "the second process found the portal"
    );
    (first, second, webhook)
}

pub(crate) fn stop(mut server: Server) {
    signal(&server.child, "-TERM");
    server.child.wait().unwrap();
}

/// The last-binding race with the deletes spread over both processes: per activity, exactly one
/// binding survives and every caller gets `true` or `LAST_BINDING_CANNOT_BE_DELETED`. (Without
/// the activity row lock this fails at once: both last deletes succeed and none is left.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deletes_spread_over_two_processes_leave_exactly_one_binding() {
    let Some(schema) = schema_or_skip("last binding across processes") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b, webhook) = two_servers(dir.path(), &schema, "unlimited");
    let urls = [rebase(&webhook, &a.base), rebase(&webhook, &b.base)];
    let client = reqwest::Client::new();

    for round in 0..4 {
        let mut targets = Vec::new();
        for i in 0..20 {
            let (_, item) = call(
                &client,
                &urls[i % 2],
                "crm.item.add",
                json!({"entityTypeId": 3, "fields": {"title": "c"}}),
            )
            .await
            .unwrap();
            targets.push(item["result"]["item"]["id"].as_i64().unwrap());
        }
        let (_, todo) = call(
            &client,
            &urls[0],
            "crm.activity.todo.add",
            json!({"ownerTypeId": 3, "ownerId": targets[0], "deadline": "2030-01-01T10:00:00", "title": "t"}),
        )
        .await
        .unwrap();
        let activity = todo["result"]["id"].as_i64().unwrap();
        for (i, contact) in targets.iter().enumerate().skip(1) {
            let (status, body) = call(
                &client,
                &urls[i % 2],
                "crm.activity.binding.add",
                json!({"activityId": activity, "entityTypeId": 3, "entityId": contact}),
            )
            .await
            .unwrap();
            assert_eq!(status, 200, "{body}");
        }

        let tasks: Vec<_> = targets
            .iter()
            .enumerate()
            .map(|(i, &contact)| {
                let url = urls[i % 2].clone();
                tokio::spawn(async move {
                    call(
                        &reqwest::Client::new(),
                        &url,
                        "crm.activity.binding.delete",
                        json!({"activityId": activity, "entityTypeId": 3, "entityId": contact}),
                    )
                    .await
                    .unwrap()
                })
            })
            .collect();
        let (mut deleted, mut refused) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                (200, body) => {
                    assert_eq!(body["result"], json!(true));
                    deleted += 1;
                }
                (400, body) => {
                    assert_eq!(body["error"], "LAST_BINDING_CANNOT_BE_DELETED", "{body}");
                    refused += 1;
                }
                (status, body) => panic!("unexpected {status}: {body}"),
            }
        }
        assert_eq!((deleted, refused), (19, 1), "round {round}");
        for url in &urls {
            let (_, list) = call(
                &client,
                url,
                "crm.activity.binding.list",
                json!({"activityId": activity}),
            )
            .await
            .unwrap();
            assert_eq!(list["result"].as_array().unwrap().len(), 1, "round {round}");
        }
    }
    stop(a);
    stop(b);
}

/// Plan `standard` admits a burst of 50 per client: spread over two processes it is still 50 in
/// all (plus what drains at 2 per second while the burst is sent), not 100.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_spread_over_two_processes_is_admitted_once() {
    let Some(schema) = schema_or_skip("shared request-rate limit") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b, webhook) = two_servers(dir.path(), &schema, "standard");
    let urls = [rebase(&webhook, &a.base), rebase(&webhook, &b.base)];
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let url = format!("{}server.time", urls[i % 2]);
            tokio::spawn(async move {
                reqwest::Client::new()
                    .get(url)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 503).count();
    let drained = (2.0 * elapsed).ceil() as usize;
    assert!(
        (50..=50 + drained).contains(&admitted),
        "admitted {admitted} of 100 in {elapsed:.2} s (refused {refused}): the bucket is not shared"
    );
    assert_eq!(admitted + refused, 100, "{statuses:?}");
    stop(a);
    stop(b);
}
