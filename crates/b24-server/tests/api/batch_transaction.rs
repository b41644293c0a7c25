//! `batch` in one transaction (issue 21): on SQLite a batch's commands share one write
//! transaction, a savepoint each; what callers see must be what one transaction per command gave.
//! Every test here runs on PostgreSQL too (with `B24_TEST_POSTGRES_URL`), where each command
//! still commits on its own.

use crate::helpers::{envelope, spawn_app};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;

fn add_binding(activity: i64, entity_type_id: i64, entity_id: i64) -> String {
    format!("crm.activity.binding.add?activityId={activity}&entityTypeId={entity_type_id}&entityId={entity_id}")
}

fn delete_binding(activity: i64, entity_type_id: i64, entity_id: i64) -> String {
    format!("crm.activity.binding.delete?activityId={activity}&entityTypeId={entity_type_id}&entityId={entity_id}")
}

/// The middle command inserts its binding row, then fails on the owner update (a trigger):
/// neither that row nor anything else of it remains, not even for the commands after it in the
/// same batch, while the commands before and after it are committed.
#[tokio::test]
async fn a_failing_command_in_the_middle_of_a_batch_leaves_no_trace_while_the_commands_around_it_are_committed(
) {
    // Arrange
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    let activity = app.new_todo(2, deal).await;
    let failure = app.fail_updates_of("activities");

    // Act
    let result = app
        .ok(
            "batch",
            json!({"cmd": {
                "before": "crm.item.add?entityTypeId=2&fields[title]=Before",
                "failing": add_binding(activity, 3, contact),
                "seen": format!("crm.activity.binding.list?activityId={activity}"),
                "after": "crm.item.add?entityTypeId=2&fields[title]=After",
            }}),
        )
        .await;
    drop(failure);

    // Assert
    assert_eq!(
        result["result_error"],
        json!({"failing": envelope("INTERNAL_SERVER_ERROR", "Internal server error")})
    );
    assert_eq!(
        result["result"]["seen"],
        json!([{"entityTypeId": 2, "entityId": deal}]),
        "the next command no longer sees the failed command's binding"
    );
    assert_eq!(app.item_titles(2).await, ["item", "Before", "After"]);
    assert_eq!(app.bindings(activity).await, vec![(2, deal)]);
    // No half-made pair is left behind to make the same binding a duplicate.
    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": 3, "entityId": contact}),
    )
    .await;
    assert_eq!(app.bindings(activity).await, vec![(2, deal), (3, contact)]);
}

/// With `halt`, nothing runs after the failing command, and what ran before it is committed.
#[tokio::test]
async fn halt_stops_after_the_failure_and_the_commands_before_it_stay_committed() {
    // Arrange
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let activity = app.new_todo(2, deal).await;
    let contacts = [
        app.new_item(3, None).await,
        app.new_item(3, None).await,
        app.new_item(3, None).await,
    ];

    // Act
    let result = app
        .ok(
            "batch",
            json!({"halt": 1, "cmd": [
                add_binding(activity, 3, contacts[0]),
                add_binding(activity, 3, contacts[1]),
                delete_binding(activity, 3, contacts[2]),
                add_binding(activity, 3, contacts[2]),
            ]}),
        )
        .await;

    // Assert
    assert_eq!(result["result"], json!([true, true]));
    assert_eq!(
        result["result_error"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["2"]
    );
    assert_eq!(result["result_time"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.bindings(activity).await,
        vec![(2, deal), (3, contacts[0]), (3, contacts[1])]
    );
}

/// Add, delete, then delete the last: the third command sees the first two and is refused as a
/// single call would be; the activity keeps its one binding, and its owner follows.
#[tokio::test]
async fn the_last_binding_rule_holds_across_the_commands_of_one_batch() {
    // Arrange
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let contact = app.new_item(3, None).await;
    let activity = app.new_todo(2, deal).await;

    // Act
    let result = app
        .ok(
            "batch",
            json!({"cmd": {
                "add": add_binding(activity, 3, contact),
                "delete": delete_binding(activity, 2, deal),
                "last": delete_binding(activity, 3, contact),
                "again": add_binding(activity, 3, contact),
            }}),
        )
        .await;

    // Assert
    assert_eq!(result["result"], json!({"add": true, "delete": true}));
    assert_eq!(
        result["result_error"],
        json!({
            "last": envelope(
                "LAST_BINDING_CANNOT_BE_DELETED",
                "Cannot delete the only one activity-to-entity link."
            ),
            "again": envelope("ACTIVITY_IS_ALREADY_BOUND", "Activity is already linked to this entity"),
        })
    );
    assert_eq!(app.bindings(activity).await, vec![(3, contact)]);
    assert_eq!(
        app.owner(activity).await,
        ("3".to_string(), contact.to_string())
    );
}

/// A small deterministic generator (the test must not depend on luck to be repeatable).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// Random binding calls on a few activities and items.
#[derive(Clone)]
struct Pick {
    activities: Vec<i64>,
    targets: Vec<(i64, i64)>,
}

impl Pick {
    /// `(method, activityId, entityTypeId, entityId)`.
    fn call(&self, rng: &mut Lcg) -> (&'static str, i64, i64, i64) {
        let activity = self.activities[rng.below(self.activities.len())];
        let (entity_type_id, entity_id) = self.targets[rng.below(self.targets.len())];
        let method = if rng.below(2) == 0 {
            "crm.activity.binding.add"
        } else {
            "crm.activity.binding.delete"
        };
        (method, activity, entity_type_id, entity_id)
    }
}

/// One client sends batches of random binding adds and deletes while another sends the same
/// kinds of calls one by one, on the same few activities: every answer is a success or one of
/// the binding rules' own errors, and no activity is ever left without a binding or with a pair
/// bound twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_and_single_calls_racing_on_the_same_activities_never_leave_zero_or_duplicate_bindings(
) {
    // Arrange
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    let mut activities = Vec::new();
    for _ in 0..4 {
        activities.push(app.new_todo(2, deal).await);
    }
    let mut contacts = Vec::new();
    for _ in 0..3 {
        contacts.push(app.new_item(3, None).await);
    }
    let targets: Vec<(i64, i64)> = std::iter::once((2, deal))
        .chain(contacts.iter().map(|c| (3, *c)))
        .collect();
    let pick = Pick {
        activities: activities.clone(),
        targets,
    };
    let allowed = [
        "ACTIVITY_IS_ALREADY_BOUND",
        "LAST_BINDING_CANNOT_BE_DELETED",
        "BINDING_NOT_FOUND",
    ];

    // Act
    let batches = {
        let (client, url) = (app.client.clone(), format!("{}batch", app.admin_url));
        let pick = pick.clone();
        tokio::spawn(async move {
            let mut rng = Lcg(1);
            let mut errors = Vec::new();
            for _ in 0..8 {
                let cmd: Vec<String> = (0..50)
                    .map(|_| {
                        let (method, a, t, e) = pick.call(&mut rng);
                        format!("{method}?activityId={a}&entityTypeId={t}&entityId={e}")
                    })
                    .collect();
                let body: Value = client
                    .post(&url)
                    .json(&json!({"cmd": cmd}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if let Some(failed) = body["result"]["result_error"].as_object() {
                    errors.extend(failed.values().map(|e| e["error"].clone()));
                }
            }
            errors
        })
    };
    let singles = {
        let (client, base) = (app.client.clone(), app.admin_url.clone());
        let pick = pick.clone();
        tokio::spawn(async move {
            let mut rng = Lcg(2);
            let mut errors = Vec::new();
            for _ in 0..300 {
                let (method, a, t, e) = pick.call(&mut rng);
                let body: Value = client
                    .post(format!("{base}{method}"))
                    .json(&json!({"activityId": a, "entityTypeId": t, "entityId": e}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if body.get("error").is_some() {
                    errors.push(body["error"].clone());
                }
            }
            errors
        })
    };
    let mut errors = batches.await.unwrap();
    errors.extend(singles.await.unwrap());

    // Assert
    for error in &errors {
        assert!(
            allowed.iter().any(|a| error == a),
            "an error the binding rules do not give: {error}"
        );
    }
    for activity in activities {
        let bindings = app.bindings(activity).await;
        assert!(!bindings.is_empty(), "activity {activity} has no binding");
        let distinct: HashSet<_> = bindings.iter().collect();
        assert_eq!(
            distinct.len(),
            bindings.len(),
            "activity {activity}: {bindings:?}"
        );
    }
}

/// With a fault rule on the portal each command runs in its own transaction, as before: the rule
/// fires on its one command and counts every hit, and the commands around it are committed.
#[tokio::test]
async fn a_batch_with_a_fault_rule_present_still_answers_and_counts_as_before() {
    // Arrange
    let app = spawn_app().await;
    let (status, rule) = app
        .control(
            Method::POST,
            "/faults",
            Some(
                json!({"match": {"method": "crm.item.add"}, "after": 1, "times": 1,
                        "action": {"error": "ACCESS_DENIED"}}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{rule}");

    // Act
    let result = app
        .ok(
            "batch",
            json!({"cmd": [
                "crm.item.add?entityTypeId=2&fields[title]=First",
                "crm.item.add?entityTypeId=2&fields[title]=Refused",
                "crm.item.add?entityTypeId=2&fields[title]=Third",
            ]}),
        )
        .await;

    // Assert
    assert_eq!(
        result["result_error"],
        json!({"1": envelope("ACCESS_DENIED", "Access denied.")})
    );
    assert_eq!(app.item_titles(2).await, ["First", "Third"]);
    let (_, listed) = app.control(Method::GET, "/faults", None).await;
    assert_eq!(
        (
            &listed["faults"][0]["hits"],
            &listed["faults"][0]["remaining"]
        ),
        (&json!(2), &json!(0))
    );
}
