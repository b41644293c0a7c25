//! Tasks (`tasks.task.*`, docs api-reference/tasks/) and their comments, checklists and
//! elapsed time (`task.commentitem.*`, `task.checklistitem.*`, `task.elapseditem.*`): the
//! wrapped answers, every error's envelope and status, the roles that decide access, paging,
//! the CRM activity a task with `UF_CRM_TASK` is (kept consistent with its bindings both ways,
//! also under concurrency), and the task events.

use crate::events::receiver;
use crate::helpers::{envelope, spawn_app, TestApp};
use b24_server::admin;
use serde_json::{json, Value};

const DEAL: i64 = 2;
const CONTACT: i64 = 3;
const COMPANY: i64 = 4;
const LEAD: i64 = 1;

/// A non-administrator and a webhook of hers with the `task` and `crm` scopes.
fn member(app: &TestApp) -> (i64, String) {
    let user = app.create_user(&[]);
    (user, app.create_webhook(user, Some("task,crm")))
}

/// Adds a task as the administrator; returns its id.
async fn new_task(app: &TestApp, fields: Value) -> i64 {
    let task = app.ok("tasks.task.add", json!({"fields": fields})).await;
    task["task"]["id"].as_str().unwrap().parse().unwrap()
}

async fn as_user(app: &TestApp, hook: &str, method: &str, params: Value) -> (u16, Value) {
    app.call_as(hook, method, params).await
}

/// The task's `UF_CRM_TASK` as `tasks.task.get` answers it (`false` when unbound).
async fn crm_of(app: &TestApp, task: i64) -> Value {
    let got = app
        .ok(
            "tasks.task.get",
            json!({"taskId": task, "select": ["ID", "UF_CRM_TASK"]}),
        )
        .await;
    got["task"]["ufCrmTask"].clone()
}

/// The id of the task's CRM activity, if it has one.
async fn activity_of(app: &TestApp, task: i64) -> Option<i64> {
    let list = app
        .ok(
            "crm.activity.list",
            json!({"filter": {"TYPE_ID": 3}, "select": ["ID", "ASSOCIATED_ENTITY_ID"]}),
        )
        .await;
    list.as_array()
        .unwrap()
        .iter()
        .find(|a| a["ASSOCIATED_ENTITY_ID"] == json!(task.to_string()))
        .map(|a| a["ID"].as_str().unwrap().parse().unwrap())
}

// ------------------------------------------------------------------ add / get / update

#[tokio::test]
async fn a_task_is_added_and_read_back_wrapped_with_camel_case_string_fields() {
    let app = spawn_app().await;
    let (ann, _) = member(&app);

    let added = app
        .ok(
            "tasks.task.add",
            json!({"fields": {"TITLE": "Call the client", "RESPONSIBLE_ID": ann,
                              "DEADLINE": "2030-12-31T23:59:59", "ACCOMPLICES": [1], "PRIORITY": 2}}),
        )
        .await;
    let task = &added["task"];
    let id = task["id"].as_str().unwrap();
    assert_eq!(task["title"], json!("Call the client"));
    assert_eq!(task["status"], json!("2"));
    assert_eq!(task["priority"], json!("2"));
    assert_eq!(task["responsibleId"], json!(ann.to_string()));
    assert_eq!(task["createdBy"], json!("1"));
    assert_eq!(task["deadline"], json!("2030-12-31T23:59:59+00:00"));
    assert_eq!(task["accomplices"], json!(["1"]));
    assert_eq!(task["auditors"], json!([]));
    assert_eq!(task["parentId"], Value::Null);
    assert_eq!(task["closedDate"], Value::Null);
    assert_eq!(task["responsible"]["id"], json!(ann.to_string()));
    assert_eq!(task["action"]["edit"], json!(true));
    assert!(
        task.get("ufCrmTask").is_none(),
        "UF_CRM_TASK only when selected"
    );

    let got = app.ok("tasks.task.get", json!({"taskId": id})).await;
    assert_eq!(got, added);
    let narrow = app
        .ok("tasks.task.get", json!({"taskId": id, "select": ["TITLE"]}))
        .await;
    assert_eq!(narrow["task"]["id"], json!(id));
    assert_eq!(narrow["task"]["title"], json!("Call the client"));
    assert!(narrow["task"].get("status").is_none(), "{narrow}");
}

#[tokio::test]
async fn add_errors_are_answered_with_their_documented_envelopes_and_change_nothing() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({}),
            "100",
            "Could not find value for parameter {fields} (internal error)",
        ),
        (
            json!({"fields": {"RESPONSIBLE_ID": 1}}),
            "ERROR_CORE",
            "Task title is not specified<br>",
        ),
        (
            json!({"fields": {"TITLE": "x"}}),
            "ERROR_CORE",
            "Responsible person is not specified<br>",
        ),
        (
            json!({"fields": {"TITLE": "x", "RESPONSIBLE_ID": 999}}),
            "ERROR_CORE",
            "User specified in the \"Responsible\" field not found<br>",
        ),
        (
            json!({"fields": {"TITLE": "x", "RESPONSIBLE_ID": 1, "STATUS": 9}}),
            "ERROR_CORE",
            "Incorrect status<br>",
        ),
        (
            json!({"fields": {"TITLE": "x", "RESPONSIBLE_ID": 1, "PARENT_ID": 77}}),
            "ERROR_CORE",
            "Task specified in the \"Parent Task\" field not found<br>",
        ),
        (
            json!({"fields": {"TITLE": "x", "RESPONSIBLE_ID": 1,
                              "START_DATE_PLAN": "2030-01-02", "END_DATE_PLAN": "2030-01-01"}}),
            "ERROR_CORE",
            "The end date in scheduling is earlier than the start date<br>",
        ),
    ];
    for (params, code, text) in cases {
        let (status, body) = app.call("tasks.task.add", params.clone()).await;
        assert_eq!((status, body), (400, envelope(code, text)), "{params}");
    }
    let list = app.call("tasks.task.list", json!({})).await.1;
    assert_eq!(list["total"], json!(0), "{list}");
}

#[tokio::test]
async fn task_ids_that_are_missing_or_not_numbers_get_the_documented_errors() {
    let app = spawn_app().await;
    let (status, body) = app.call("tasks.task.get", json!({})).await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "100",
                "CTaskItem All parameters in the constructor must have real class type (internal error)"
            )
        )
    );
    let (status, body) = app.call("tasks.task.get", json!({"taskId": "abc"})).await;
    assert_eq!((status, body), (400, envelope("0", "wrong task id")));
    let (status, body) = app
        .call("tasks.task.get", json!({"taskId": 4242, "select": "ID"}))
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "100",
                "Invalid value {ID} to match with parameter {select}. Should be value of type array. (internal error)"
            )
        )
    );
    let (status, body) = app.call("tasks.task.get", json!({"taskId": 4242})).await;
    assert_eq!(
        (status, &body["result"]),
        (200, &json!([])),
        "an unknown task is an empty result"
    );
    let (status, body) = app.call("tasks.task.update", json!({"taskId": 1})).await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "100",
                "Could not find value for parameter {fields} (internal error)"
            )
        )
    );
}

#[tokio::test]
async fn only_members_see_a_task_and_only_its_creator_or_an_administrator_changes_it() {
    let app = spawn_app().await;
    let (ann, ann_hook) = member(&app);
    let (bob, bob_hook) = member(&app);
    let (_, eve_hook) = member(&app);

    let (status, added) = as_user(
        &app,
        &ann_hook,
        "tasks.task.add",
        json!({"fields": {"TITLE": "Ann's", "RESPONSIBLE_ID": bob}}),
    )
    .await;
    assert_eq!(status, 200, "{added}");
    let id = added["result"]["task"]["id"].as_str().unwrap().to_string();
    assert_eq!(added["result"]["task"]["createdBy"], json!(ann.to_string()));

    // The responsible person reads it but may not edit it; a stranger sees nothing.
    let (_, seen) = as_user(&app, &bob_hook, "tasks.task.get", json!({"taskId": id})).await;
    assert_eq!(seen["result"]["task"]["action"]["edit"], json!(false));
    let (status, body) = as_user(
        &app,
        &bob_hook,
        "tasks.task.update",
        json!({"taskId": id, "fields": {"TITLE": "Bob's"}}),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, envelope("0", "Action on the task is not allowed"))
    );
    let (_, hidden) = as_user(&app, &eve_hook, "tasks.task.get", json!({"taskId": id})).await;
    assert_eq!(hidden["result"], json!([]));
    let (_, listed) = as_user(&app, &eve_hook, "tasks.task.list", json!({})).await;
    assert_eq!(
        (&listed["result"], &listed["total"]),
        (&json!({"tasks": []}), &json!(0))
    );
    let (status, body) = as_user(
        &app,
        &eve_hook,
        "tasks.task.update",
        json!({"taskId": id, "fields": {"TITLE": "Eve's"}}),
    )
    .await;
    assert_eq!(
        (status, body),
        (400, envelope("0", "Action on the task is not allowed"))
    );

    // The creator edits it; an auditor added now reads it.
    let eve_user = app.create_user(&[]);
    let (status, updated) = as_user(
        &app,
        &ann_hook,
        "tasks.task.update",
        json!({"taskId": id, "fields": {"TITLE": "Renamed", "AUDITORS": [eve_user]}}),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["result"]["task"]["title"], json!("Renamed"));
    assert_eq!(
        updated["result"]["task"]["auditors"],
        json!([eve_user.to_string()])
    );
    let auditor_hook = app.create_webhook(eve_user, Some("task"));
    let (_, seen) = as_user(&app, &auditor_hook, "tasks.task.get", json!({"taskId": id})).await;
    assert_eq!(seen["result"]["task"]["title"], json!("Renamed"));
    // The administrator edits any task.
    let renamed = app
        .ok(
            "tasks.task.update",
            json!({"taskId": id, "fields": {"TITLE": "By admin"}}),
        )
        .await;
    assert_eq!(renamed["task"]["title"], json!("By admin"));
}

#[tokio::test]
async fn the_task_scope_is_required() {
    let app = spawn_app().await;
    let user = app.create_user(&[]);
    let hook = app.create_webhook(user, Some("crm"));
    let (status, body) = app
        .call_as(
            &hook,
            "tasks.task.add",
            json!({"fields": {"TITLE": "x", "RESPONSIBLE_ID": user}}),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], json!("insufficient_scope"));
    let (status, _) = app
        .call_as(&hook, "task.commentitem.getlist", json!([1]))
        .await;
    assert_eq!(status, 401);
}

// ------------------------------------------------------------------ status moves

async fn moved(app: &TestApp, hook: &str, method: &str, id: &str) -> (u16, Value) {
    let (status, body) = app.call_as(hook, method, json!({"taskId": id})).await;
    if status == 200 {
        return (status, body["result"]["task"]["status"].clone());
    }
    (status, body)
}

#[tokio::test]
async fn status_moves_follow_the_documented_statuses_and_refusals() {
    let app = spawn_app().await;
    let (ann, hook) = member(&app);
    let id = new_task(&app, json!({"TITLE": "Work", "RESPONSIBLE_ID": ann}))
        .await
        .to_string();

    assert_eq!(
        moved(&app, &hook, "tasks.task.start", &id).await,
        (200, json!("3"))
    );
    assert_eq!(
        moved(&app, &hook, "tasks.task.start", &id).await,
        (400, envelope("0", "Action on the task is not allowed"))
    );
    assert_eq!(
        moved(&app, &hook, "tasks.task.pause", &id).await,
        (200, json!("2"))
    );
    assert_eq!(
        moved(&app, &hook, "tasks.task.pause", &id).await,
        (
            400,
            envelope("1048582", "Action on the task is not allowed")
        )
    );
    assert_eq!(
        moved(&app, &hook, "tasks.task.defer", &id).await,
        (200, json!("6"))
    );
    assert_eq!(
        moved(&app, &hook, "tasks.task.defer", &id).await,
        (
            400,
            envelope("1048582", "Action on the task is not allowed")
        )
    );
    assert_eq!(
        moved(&app, &hook, "tasks.task.renew", &id).await,
        (200, json!("2"))
    );
    assert_eq!(
        moved(&app, &hook, "tasks.task.renew", &id).await,
        (
            400,
            envelope("1048582", "Action on the task is not allowed")
        )
    );
    assert_eq!(
        moved(&app, &hook, "tasks.task.complete", &id).await,
        (200, json!("5"))
    );
    assert_eq!(
        moved(&app, &hook, "tasks.task.complete", &id).await,
        (400, envelope("0", "Action on the task is not allowed"))
    );
    let done = app.ok("tasks.task.get", json!({"taskId": id})).await;
    assert_eq!(done["task"]["closedBy"], json!(ann.to_string()));
    assert!(done["task"]["closedDate"].is_string());
    // A task that does not exist is refused alike.
    assert_eq!(
        moved(&app, &hook, "tasks.task.start", "999").await,
        (400, envelope("0", "Action on the task is not allowed"))
    );
    assert_eq!(
        moved(&app, &hook, "tasks.task.start", "x").await,
        (400, envelope("0", "wrong task id"))
    );
}

#[tokio::test]
async fn a_task_under_control_completed_by_its_responsible_waits_for_the_creators_approval() {
    let app = spawn_app().await;
    let (_, ann_hook) = member(&app);
    let (bob, bob_hook) = member(&app);
    let (_, added) = app
        .call_as(
            &ann_hook,
            "tasks.task.add",
            json!({"fields": {"TITLE": "Report", "RESPONSIBLE_ID": bob, "TASK_CONTROL": "Y"}}),
        )
        .await;
    let id = added["result"]["task"]["id"].as_str().unwrap().to_string();

    assert_eq!(
        moved(&app, &bob_hook, "tasks.task.complete", &id).await,
        (200, json!("4"))
    );
    assert_eq!(
        moved(&app, &bob_hook, "tasks.task.approve", &id).await,
        (
            400,
            envelope("1048582", "Action on the task is not allowed")
        )
    );
    assert_eq!(
        moved(&app, &ann_hook, "tasks.task.disapprove", &id).await,
        (200, json!("2"))
    );
    assert_eq!(
        moved(&app, &ann_hook, "tasks.task.approve", &id).await,
        (
            400,
            envelope("1048582", "Action on the task is not allowed")
        )
    );
    assert_eq!(
        moved(&app, &bob_hook, "tasks.task.complete", &id).await,
        (200, json!("4"))
    );
    assert_eq!(
        moved(&app, &ann_hook, "tasks.task.approve", &id).await,
        (200, json!("5"))
    );
}

#[tokio::test]
async fn delegating_hands_the_task_over_and_keeps_the_former_responsible_as_an_observer() {
    let app = spawn_app().await;
    let (ann, ann_hook) = member(&app);
    let (bob, _) = member(&app);
    let (carl, carl_hook) = member(&app);
    let id = new_task(
        &app,
        json!({"TITLE": "Pass it on", "RESPONSIBLE_ID": ann, "AUDITORS": [carl]}),
    )
    .await
    .to_string();

    let (status, body) = app
        .call_as(&ann_hook, "tasks.task.delegate", json!({"taskId": id}))
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope("100", "Could not find value for parameter {userId}")
        )
    );
    let (status, body) = app
        .call_as(
            &carl_hook,
            "tasks.task.delegate",
            json!({"taskId": id, "userId": bob}),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("0", "Action on the task is not allowed"))
    );
    let (status, body) = app
        .call_as(
            &ann_hook,
            "tasks.task.delegate",
            json!({"taskId": id, "userId": 999}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "ERROR_CORE",
                "User specified in the \"Responsible\" field not found<br>"
            )
        )
    );

    let (status, body) = app
        .call_as(
            &ann_hook,
            "tasks.task.delegate",
            json!({"taskId": id, "userId": bob}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let task = &body["result"]["task"];
    assert_eq!(task["responsibleId"], json!(bob.to_string()));
    assert_eq!(task["auditors"], json!([carl.to_string(), ann.to_string()]));
}

#[tokio::test]
async fn deleting_is_the_creators_and_refused_to_others_with_1048582() {
    let app = spawn_app().await;
    let (ann, ann_hook) = member(&app);
    let id = new_task(&app, json!({"TITLE": "Doomed", "RESPONSIBLE_ID": ann})).await;

    let (status, body) = app
        .call_as(&ann_hook, "tasks.task.delete", json!({"taskId": id}))
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("1048582", "No access to delete the task"))
    );
    let (status, body) = app.call("tasks.task.delete", json!({"taskId": 999})).await;
    assert_eq!(
        (status, body),
        (400, envelope("1048582", "No access to delete the task"))
    );

    assert_eq!(
        app.ok("tasks.task.delete", json!({"taskId": id})).await,
        json!({"task": true})
    );
    assert_eq!(
        app.ok("tasks.task.get", json!({"taskId": id})).await,
        json!([])
    );
}

// ------------------------------------------------------------------ list

#[tokio::test]
async fn the_list_is_paged_by_fifty_with_total_and_next_newest_first() {
    let app = spawn_app().await;
    let (ann, _) = member(&app);
    for i in 0..51 {
        let responsible = if i % 2 == 0 { 1 } else { ann };
        new_task(
            &app,
            json!({"TITLE": format!("Task {i}"), "RESPONSIBLE_ID": responsible}),
        )
        .await;
    }

    let (status, first) = app
        .call("tasks.task.list", json!({"select": ["ID", "TITLE"]}))
        .await;
    assert_eq!(status, 200);
    let tasks = first["result"]["tasks"].as_array().unwrap();
    assert_eq!(
        (tasks.len(), &first["total"], &first["next"]),
        (50, &json!(51), &json!(50))
    );
    assert_eq!(
        tasks[0]["title"],
        json!("Task 50"),
        "newest first by default"
    );
    let (_, second) = app
        .call("tasks.task.list", json!({"select": ["ID"], "start": 50}))
        .await;
    assert_eq!(second["result"]["tasks"].as_array().unwrap().len(), 1);
    assert_eq!((&second["total"], second.get("next")), (&json!(51), None));

    let (_, mine) = app
        .call(
            "tasks.task.list",
            json!({"filter": {"RESPONSIBLE_ID": ann}, "order": {"ID": "asc"}, "select": ["TITLE"]}),
        )
        .await;
    assert_eq!(mine["total"], json!(25));
    assert_eq!(mine["result"]["tasks"][0]["title"], json!("Task 1"));
    let (_, titled) = app
        .call(
            "tasks.task.list",
            json!({"filter": {"%TITLE": "k 50"}, "select": ["TITLE"]}),
        )
        .await;
    assert_eq!(titled["total"], json!(1), "{titled}");
    let (_, open) = app
        .call(
            "tasks.task.list",
            json!({"filter": {"REAL_STATUS": [2, 3]}, "start": -1}),
        )
        .await;
    assert_eq!(open["result"]["tasks"].as_array().unwrap().len(), 50);
    assert!(open.get("total").is_none());

    let (status, body) = app
        .call("tasks.task.list", json!({"order": {"NOPE": "asc"}}))
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("0", "Invalid sorting key (internal error)"))
    );
}

// ------------------------------------------------------------------ CRM

#[tokio::test]
async fn a_task_with_uf_crm_task_is_a_task_activity_bound_to_those_items() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let contact = app.new_item(CONTACT, None).await;
    let id = new_task(
        &app,
        json!({"TITLE": "Follow up", "RESPONSIBLE_ID": 1, "DESCRIPTION": "Call back",
               "UF_CRM_TASK": [format!("D_{deal}"), format!("C_{contact}"), "D_999999", "X_1"]}),
    )
    .await;

    assert_eq!(
        crm_of(&app, id).await,
        json!([format!("D_{deal}"), format!("C_{contact}")]),
        "codes of missing items and unknown types are dropped"
    );
    let activity = activity_of(&app, id).await.expect("the task's activity");
    let got = app.ok("crm.activity.get", json!({"id": activity})).await;
    assert_eq!(
        (
            &got["TYPE_ID"],
            &got["PROVIDER_ID"],
            &got["SUBJECT"],
            &got["DESCRIPTION"]
        ),
        (
            &json!("3"),
            &json!("TASKS"),
            &json!("Follow up"),
            &json!("Call back")
        )
    );
    assert_eq!(
        (&got["OWNER_TYPE_ID"], &got["OWNER_ID"]),
        (&json!("2"), &json!(deal.to_string()))
    );
    assert_eq!(
        app.bindings(activity).await,
        vec![(DEAL, deal), (CONTACT, contact)]
    );
    let by_deal = app
        .ok(
            "crm.activity.list",
            json!({"filter": {"OWNER_TYPE_ID": DEAL, "OWNER_ID": deal}, "select": ["ID"]}),
        )
        .await;
    assert_eq!(by_deal, json!([{"ID": activity.to_string()}]));
    let (_, by_crm) = app
        .call(
            "tasks.task.list",
            json!({"filter": {"UF_CRM_TASK": format!("C_{contact}")}, "select": ["ID"]}),
        )
        .await;
    assert_eq!(by_crm["total"], json!(1), "{by_crm}");

    // Completing the task completes its activity.
    app.ok("tasks.task.complete", json!({"taskId": id})).await;
    let done = app.ok("crm.activity.get", json!({"id": activity})).await;
    assert_eq!(done["COMPLETED"], json!("Y"));
}

#[tokio::test]
async fn binding_changes_and_task_changes_stay_consistent_both_ways() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let company = app.new_item(COMPANY, None).await;
    let lead = app.new_item(LEAD, None).await;
    let id = new_task(
        &app,
        json!({"TITLE": "Sync", "RESPONSIBLE_ID": 1, "UF_CRM_TASK": [format!("D_{deal}")]}),
    )
    .await;
    let activity = activity_of(&app, id).await.unwrap();

    app.ok(
        "crm.activity.binding.add",
        json!({"activityId": activity, "entityTypeId": COMPANY, "entityId": company}),
    )
    .await;
    assert_eq!(
        crm_of(&app, id).await,
        json!([format!("D_{deal}"), format!("CO_{company}")])
    );
    app.ok(
        "crm.activity.binding.delete",
        json!({"activityId": activity, "entityTypeId": DEAL, "entityId": deal}),
    )
    .await;
    assert_eq!(crm_of(&app, id).await, json!([format!("CO_{company}")]));

    // The last binding stays, as for any activity.
    let (status, body) = app
        .call(
            "crm.activity.binding.delete",
            json!({"activityId": activity, "entityTypeId": COMPANY, "entityId": company}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "LAST_BINDING_CANNOT_BE_DELETED",
                "Cannot delete the only one activity-to-entity link."
            )
        )
    );

    app.ok(
        "tasks.task.update",
        json!({"taskId": id, "fields": {"UF_CRM_TASK": [format!("L_{lead}")]}}),
    )
    .await;
    assert_eq!(app.bindings(activity).await, vec![(LEAD, lead)]);
    assert_eq!(
        app.owner(activity).await,
        ("1".to_string(), lead.to_string())
    );

    // Emptying UF_CRM_TASK deletes the activity: an activity never stays unbound.
    app.ok(
        "tasks.task.update",
        json!({"taskId": id, "fields": {"UF_CRM_TASK": []}}),
    )
    .await;
    assert_eq!(crm_of(&app, id).await, json!(false));
    let (status, body) = app.call("crm.activity.get", json!({"id": activity})).await;
    assert_eq!(
        (status, body),
        (400, envelope("", "Activity is not found."))
    );

    // Binding again makes a new activity.
    app.ok(
        "tasks.task.update",
        json!({"taskId": id, "fields": {"UF_CRM_TASK": [format!("D_{deal}")]}}),
    )
    .await;
    let again = activity_of(&app, id).await.unwrap();
    assert_ne!(again, activity);
    assert_eq!(app.bindings(again).await, vec![(DEAL, deal)]);
}

#[tokio::test]
async fn deleting_a_tasks_activity_unbinds_the_task_and_deleting_a_task_deletes_its_activity() {
    let app = spawn_app().await;
    let deal = app.new_item(DEAL, None).await;
    let crm = json!([format!("D_{deal}")]);
    let kept = new_task(
        &app,
        json!({"TITLE": "Kept", "RESPONSIBLE_ID": 1, "UF_CRM_TASK": crm}),
    )
    .await;
    let gone = new_task(
        &app,
        json!({"TITLE": "Gone", "RESPONSIBLE_ID": 1, "UF_CRM_TASK": crm}),
    )
    .await;
    let kept_activity = activity_of(&app, kept).await.unwrap();
    let gone_activity = activity_of(&app, gone).await.unwrap();

    app.ok("crm.activity.delete", json!({"id": kept_activity}))
        .await;
    assert_eq!(crm_of(&app, kept).await, json!(false));
    let task = app.ok("tasks.task.get", json!({"taskId": kept})).await;
    assert_eq!(task["task"]["title"], json!("Kept"), "the task stays");

    app.ok("tasks.task.delete", json!({"taskId": gone})).await;
    let (status, body) = app
        .call("crm.activity.get", json!({"id": gone_activity}))
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("", "Activity is not found."))
    );
}

/// Unbinding through the task and through the binding methods at once: whichever order the
/// writes take, the task's `UF_CRM_TASK` is its activity's bindings, and an activity that
/// exists keeps at least one. Two binding deletes racing for the last two bindings: exactly
/// one wins.
#[tokio::test]
async fn concurrent_unbinding_through_the_task_and_the_binding_methods_stays_consistent() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let deal = app.new_item(DEAL, None).await;
        let contact = app.new_item(CONTACT, None).await;
        let id = new_task(
            &app,
            json!({"TITLE": "Race", "RESPONSIBLE_ID": 1,
                   "UF_CRM_TASK": [format!("D_{deal}"), format!("C_{contact}")]}),
        )
        .await;
        let activity = activity_of(&app, id).await.unwrap();

        let delete = |entity_type_id: i64, entity_id: i64| {
            app.call(
                "crm.activity.binding.delete",
                json!({"activityId": activity, "entityTypeId": entity_type_id, "entityId": entity_id}),
            )
        };
        let (a, b) = tokio::join!(delete(DEAL, deal), delete(CONTACT, contact));
        let wins = [a.0, b.0].iter().filter(|s| **s == 200).count();
        assert_eq!(wins, 1, "{a:?} {b:?}");
        assert_eq!(app.bindings(activity).await.len(), 1);

        let (update, delete_last) = tokio::join!(
            app.call("tasks.task.update", json!({"taskId": id, "fields": {"UF_CRM_TASK": [format!("D_{deal}"), format!("C_{contact}")]}})),
            delete(DEAL, deal),
        );
        assert_eq!(update.0, 200, "{update:?}");
        assert!(matches!(delete_last.0, 200 | 400), "{delete_last:?}");
        let codes = crm_of(&app, id).await;
        let bound: Vec<String> = app
            .bindings(activity)
            .await
            .into_iter()
            .map(|(t, e)| format!("{}_{e}", if t == DEAL { "D" } else { "C" }))
            .collect();
        assert_eq!(codes, json!(bound));
        assert!(!bound.is_empty());
    }
}

// ------------------------------------------------------------------ comments, checklist, time

#[tokio::test]
async fn comments_are_added_listed_and_deleted_with_the_legacy_errors() {
    let app = spawn_app().await;
    let (_, eve_hook) = member(&app);
    let id = new_task(&app, json!({"TITLE": "Talk", "RESPONSIBLE_ID": 1})).await;

    let first = app
        .ok(
            "task.commentitem.add",
            json!([id, {"POST_MESSAGE": "First"}]),
        )
        .await;
    let second = app
        .ok(
            "task.commentitem.add",
            json!({"TASKID": id, "FIELDS": {"POST_MESSAGE": "Second"}}),
        )
        .await;
    let list = app.ok("task.commentitem.getlist", json!([id])).await;
    let ids: Vec<&Value> = list.as_array().unwrap().iter().map(|c| &c["ID"]).collect();
    assert_eq!(
        ids,
        [&json!(second.to_string()), &json!(first.to_string())],
        "newest first"
    );
    assert_eq!(list[0]["POST_MESSAGE"], json!("Second"));
    assert_eq!(list[0]["AUTHOR_ID"], json!("1"));
    assert_eq!(list[0]["ATTACHED_OBJECTS"], json!({}));
    let task = app.ok("tasks.task.get", json!({"taskId": id})).await;
    assert_eq!(task["task"]["commentsCount"], json!("2"));
    let filtered = app
        .ok(
            "task.commentitem.getlist",
            json!([id, {"ID": "asc"}, {">ID": first}]),
        )
        .await;
    assert_eq!(filtered.as_array().unwrap().len(), 1);

    let core = |text: &str| envelope("ERROR_CORE", text);
    let cases = [
        ("task.commentitem.add", json!([id, {}]), core("TASKS_ERROR_EXCEPTION_#256; Param #1 (arFields) expected by method ctaskcommentitem::add(), but not given.; 256/TE/WRONG_ARGUMENTS<br>")),
        ("task.commentitem.add", json!(["x", {"POST_MESSAGE": "a"}]), core("TASKS_ERROR_EXCEPTION_#256; Param #0 (taskId) for method ctaskcommentitem::add() expected to be of type \"integer\", but given something else.; 256/TE/WRONG_ARGUMENTS<br>")),
        ("task.commentitem.add", json!([id, {"POST_MESSAGE": " "}]), core("Comment text is not specified<br>")),
        ("task.commentitem.add", json!([id, {"POST_MESSAGE": "a", "TITLE": "b"}]), core("TASKS_ERROR_EXCEPTION_#256; Param #1 (arFields) for method ctaskcommentitem::add() must not contain key `TITLE`.; 256/TE/WRONG_ARGUMENTS<br>")),
        ("task.commentitem.getlist", json!([id, {}, {"%POST_DATE": "x"}]), core("TASKS_ERROR_EXCEPTION_#256; Param #2 (arFilter) for method ctaskcommentitem::getlist() must not contain key \"%POST_DATE\".; 256/TE/WRONG_ARGUMENTS<br>")),
        ("task.commentitem.getlist", json!([id, {">=POST_DATE": "asc"}]), core("TASKS_ERROR_EXCEPTION_#256; Param #1 (arOrder) for method ctaskcommentitem::getlist() must not contain key \">=POST_DATE\".; 256/TE/WRONG_ARGUMENTS<br>")),
        ("task.commentitem.getlist", json!([9999]), core("TASKS_ERROR_EXCEPTION_#8; Action failed; 8/TE/ACTION_FAILED_TO_BE_PROCESSED<br>")),
        ("task.commentitem.delete", json!([id]), core("TASKS_ERROR_EXCEPTION_#256; Param #1 (itemId) expected by method ctaskcommentitem::delete(), but not given.; 256/TE/WRONG_ARGUMENTS<br>")),
        ("task.commentitem.delete", json!([id, 9999]), core("TASKS_ERROR_EXCEPTION_#4; Action is not allowed; 4/TE/ACTION_NOT_ALLOWED<br>")),
    ];
    for (method, params, expected) in cases {
        let (status, body) = app.call(method, params.clone()).await;
        assert_eq!((status, body), (400, expected), "{method} {params}");
    }
    let (status, body) = app
        .call_as(
            &eve_hook,
            "task.commentitem.add",
            json!([id, {"POST_MESSAGE": "hi"}]),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, core("Insufficient permissions to add a comment<br>"))
    );

    assert_eq!(
        app.ok("task.commentitem.delete", json!([id, first])).await,
        json!(true)
    );
    assert_eq!(
        app.ok("task.commentitem.getlist", json!([id]))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn checklist_items_are_added_under_a_checklist_completed_and_deleted() {
    let app = spawn_app().await;
    let (_, eve_hook) = member(&app);
    let id = new_task(&app, json!({"TITLE": "Steps", "RESPONSIBLE_ID": 1})).await;

    let item = app
        .ok("task.checklistitem.add", json!([id, {"TITLE": "Step one"}]))
        .await;
    let list = app
        .ok("task.checklistitem.getlist", json!([id, {"ID": "asc"}]))
        .await;
    let rows = list.as_array().unwrap();
    assert_eq!(
        rows.len(),
        2,
        "the item and the checklist made for it: {list}"
    );
    assert_eq!(
        (&rows[0]["TITLE"], &rows[0]["PARENT_ID"]),
        (&json!("Checklist 1"), &json!(0))
    );
    assert_eq!(
        (
            &rows[1]["ID"],
            &rows[1]["PARENT_ID"],
            &rows[1]["IS_COMPLETE"],
            &rows[1]["TOGGLED_BY"]
        ),
        (
            &json!(item.to_string()),
            &rows[0]["ID"],
            &json!("N"),
            &Value::Null
        )
    );

    assert_eq!(
        app.ok("task.checklistitem.complete", json!([id, item]))
            .await,
        json!(true)
    );
    let list = app
        .ok("task.checklistitem.getlist", json!([id, {"ID": "asc"}]))
        .await;
    assert_eq!(
        (&list[1]["IS_COMPLETE"], &list[1]["TOGGLED_BY"]),
        (&json!("Y"), &json!("1"))
    );

    let core = |text: &str| envelope("ERROR_CORE", text);
    let cases = [
        ("task.checklistitem.add", json!([id, {"IS_COMPLETE": "Y"}]), core("TASKS_ERROR_EXCEPTION_#8; Item name not specified; 8/TE/ACTION_FAILED_TO_BE_PROCESSED<br>")),
        ("task.checklistitem.add", json!([id]), core("TASKS_ERROR_EXCEPTION_#256; Param #1 (arFields) expected by method ctaskchecklistitem::add(), but not given.; 256/TE/WRONG_ARGUMENTS<br>")),
        ("task.checklistitem.complete", json!([id, 0]), core("TASKS_ERROR_ASSERT_EXCEPTION<br>")),
        ("task.checklistitem.complete", json!([id]), core("TASKS_ERROR_EXCEPTION_#256; Param #1 (itemId) expected by method ctaskchecklistitem::complete(), but not given.; 256/TE/WRONG_ARGUMENTS<br>")),
        ("task.checklistitem.delete", json!([id, 9999]), core("TASKS_ERROR_EXCEPTION_#8; Deleting item: action not allowed; 8/TE/ACTION_FAILED_TO_BE_PROCESSED<br>")),
    ];
    for (method, params, expected) in cases {
        let (status, body) = app.call(method, params.clone()).await;
        assert_eq!((status, body), (400, expected), "{method} {params}");
    }
    let (status, body) = app
        .call_as(
            &eve_hook,
            "task.checklistitem.add",
            json!([id, {"TITLE": "Mine"}]),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, core("TASKS_ERROR_EXCEPTION_#8; Adding item: action not allowed; 8/TE/ACTION_FAILED_TO_BE_PROCESSED<br>"))
    );

    let checklist: i64 = list[0]["ID"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        app.ok("task.checklistitem.delete", json!([id, checklist]))
            .await,
        json!(true)
    );
    assert_eq!(
        app.ok("task.checklistitem.getlist", json!([id])).await,
        json!([]),
        "its items go with it"
    );
}

#[tokio::test]
async fn elapsed_time_is_recorded_and_listed_in_pages_with_a_total() {
    let app = spawn_app().await;
    let (_, eve_hook) = member(&app);
    let id = new_task(&app, json!({"TITLE": "Hours", "RESPONSIBLE_ID": 1})).await;
    let first = app
        .ok(
            "task.elapseditem.add",
            json!([id, {"SECONDS": 3600, "COMMENT_TEXT": "Research"}]),
        )
        .await;
    app.ok(
        "task.elapseditem.add",
        json!([id, {"SECONDS": 60, "COMMENT_TEXT": "Call"}]),
    )
    .await;

    let (status, body) = app.call("task.elapseditem.getlist", json!([id])).await;
    assert_eq!(status, 200);
    assert_eq!(body["total"], json!(2));
    let row = &body["result"][0];
    assert_eq!(
        (
            &row["ID"],
            &row["SECONDS"],
            &row["MINUTES"],
            &row["COMMENT_TEXT"],
            &row["USER_ID"]
        ),
        (
            &json!(first.to_string()),
            &json!("3600"),
            &json!("60"),
            &json!("Research"),
            &json!("1")
        )
    );
    let (_, paged) = app
        .call(
            "task.elapseditem.getlist",
            json!([id, {}, {}, [], {"NAV_PARAMS": {"nPageSize": 1, "iNumPage": 1}}]),
        )
        .await;
    assert_eq!(
        (paged["result"].as_array().unwrap().len(), &paged["next"]),
        (1, &json!(1))
    );
    let (status, body) = app
        .call(
            "task.elapseditem.getlist",
            json!([id, {"ID": "desc"}, {">SECONDS": 1}]),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("ERROR_CORE", "TASKS_ERROR_EXCEPTION_#256; Param #2 (arFilter) for method ctaskelapseditem::getlist() must not contain key \">SECONDS\".; 256/TE/WRONG_ARGUMENTS<br>"))
    );
    let newest = app
        .ok(
            "task.elapseditem.getlist",
            json!([id, {"ID": "desc"}, {"USER_ID": 1}]),
        )
        .await;
    assert_eq!(newest.as_array().unwrap().len(), 2);
    assert_eq!(newest[0]["COMMENT_TEXT"], json!("Call"));

    let (status, body) = app
        .call_as(
            &eve_hook,
            "task.elapseditem.add",
            json!([id, {"SECONDS": 5, "COMMENT_TEXT": "x"}]),
        )
        .await;
    assert_eq!(
        (status, body),
        (400, envelope("ERROR_CORE", "Task not found.<br>"))
    );
    let (status, body) = app.call("task.elapseditem.getlist", json!(["x"])).await;
    assert_eq!(
        (status, body),
        (400, envelope("ERROR_CORE", "TASKS_ERROR_EXCEPTION_#256; Param #0 (taskId) for method ctaskelapseditem::getlist() expected to be of type \"integer\", but given something else.; 256/TE/WRONG_ARGUMENTS<br>"))
    );
}

// ------------------------------------------------------------------ fields, counters, events

#[tokio::test]
async fn get_fields_describes_the_task_fields_and_counters_count_expired_tasks() {
    let app = spawn_app().await;
    let fields = app.ok("tasks.task.getFields", json!({})).await;
    assert_eq!(
        fields["fields"]["TITLE"],
        json!({"title": "Title", "type": "string", "required": true})
    );
    assert_eq!(
        fields["fields"]["UF_CRM_TASK"],
        json!({"title": "CRM Entities", "type": "crm"})
    );

    new_task(
        &app,
        json!({"TITLE": "Late", "RESPONSIBLE_ID": 1, "DEADLINE": "2001-01-01T00:00:00"}),
    )
    .await;
    new_task(
        &app,
        json!({"TITLE": "On time", "RESPONSIBLE_ID": 1, "DEADLINE": "2099-01-01T00:00:00"}),
    )
    .await;
    let counters = app.ok("tasks.task.counters.get", json!({})).await;
    assert_eq!(
        counters,
        json!({"expired": {"counter": 1, "code": 6291456}, "new_comments": {"counter": 0, "code": 12582912}})
    );
    let auditor = app
        .ok(
            "tasks.task.counters.get",
            json!({"type": "view_role_auditor"}),
        )
        .await;
    assert_eq!(auditor["expired"]["counter"], json!(0));
    let (status, body) = app
        .call("tasks.task.counters.get", json!({"userId": "me"}))
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            envelope(
                "0",
                "Invalid value {me} to match with parameter {userId}. Should be value of type int."
            )
        )
    );
}

#[tokio::test]
async fn task_and_comment_events_go_through_the_outbox() {
    let app = spawn_app().await;
    let r = receiver(0).await;
    for event in [
        "ONTASKADD",
        "ONTASKUPDATE",
        "ONTASKDELETE",
        "ONTASKCOMMENTADD",
    ] {
        admin::add_outgoing_webhook(&app.state.store, 1, event, &r.url).unwrap();
    }
    let id = new_task(&app, json!({"TITLE": "Evented", "RESPONSIBLE_ID": 1})).await;
    app.ok("tasks.task.start", json!({"taskId": id})).await;
    let comment = app
        .ok("task.commentitem.add", json!([id, {"POST_MESSAGE": "hi"}]))
        .await;
    app.ok("tasks.task.delete", json!({"taskId": id})).await;
    // A failed call fires nothing.
    app.call("tasks.task.add", json!({"fields": {"TITLE": ""}}))
        .await;

    let got = r.wait_for(4).await;
    let mut seen: Vec<(String, String)> = got
        .iter()
        .map(|g| {
            let key = match g.get("event") {
                "ONTASKDELETE" => "data[FIELDS_BEFORE][ID]",
                _ => "data[FIELDS_AFTER][ID]",
            };
            (g.get("event").to_string(), g.get(key).to_string())
        })
        .collect();
    seen.sort();
    let id = id.to_string();
    assert_eq!(
        seen,
        vec![
            ("ONTASKADD".to_string(), id.clone()),
            ("ONTASKCOMMENTADD".to_string(), comment.to_string()),
            ("ONTASKDELETE".to_string(), id.clone()),
            ("ONTASKUPDATE".to_string(), id.clone()),
        ]
    );
    let comment_event = got
        .iter()
        .find(|g| g.get("event") == "ONTASKCOMMENTADD")
        .unwrap();
    assert_eq!(comment_event.get("data[FIELDS_AFTER][TASK_ID]"), id);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(r.wait_for(4).await.len(), 4, "nothing for the failed call");
}

#[tokio::test]
async fn methods_lists_the_task_methods_for_a_task_webhook() {
    let app = spawn_app().await;
    let user = app.create_user(&[]);
    let hook = app.create_webhook(user, Some("task"));
    let (_, body) = app.call_as(&hook, "methods", json!({})).await;
    let names = body["result"].as_array().unwrap();
    for name in [
        "tasks.task.add",
        "tasks.task.list",
        "tasks.task.counters.get",
        "task.commentitem.add",
        "task.checklistitem.complete",
        "task.elapseditem.getlist",
    ] {
        assert!(names.contains(&json!(name)), "{name} missing from {body}");
    }
    assert!(!names.contains(&json!("crm.item.add")));
}

#[tokio::test]
async fn update_refuses_a_parent_that_is_the_task_or_its_subtask_and_unreadable_dates() {
    let app = spawn_app().await;
    let parent = new_task(&app, json!({"TITLE": "Parent", "RESPONSIBLE_ID": 1})).await;
    let child = new_task(
        &app,
        json!({"TITLE": "Child", "RESPONSIBLE_ID": 1, "PARENT_ID": parent}),
    )
    .await;
    let got = app.ok("tasks.task.get", json!({"taskId": child})).await;
    assert_eq!(got["task"]["parentId"], json!(parent.to_string()));

    let core = |text: &str| envelope("ERROR_CORE", text);
    let cases = [
        (
            json!({"taskId": parent, "fields": {"PARENT_ID": parent}}),
            core("Cannot bind the node to itself<br>"),
        ),
        (
            json!({"taskId": parent, "fields": {"PARENT_ID": child}}),
            core("Creating cyclic links in tasks is prohibited<br>"),
        ),
        (
            json!({"taskId": parent, "fields": {"DEADLINE": "soon"}}),
            core("Incorrect date in the \"DEADLINE\" field<br>"),
        ),
    ];
    for (params, expected) in cases {
        let (status, body) = app.call("tasks.task.update", params.clone()).await;
        assert_eq!((status, body), (400, expected), "{params}");
    }
    let unchanged = app.ok("tasks.task.get", json!({"taskId": parent})).await;
    assert_eq!(
        (
            &unchanged["task"]["parentId"],
            &unchanged["task"]["deadline"]
        ),
        (&Value::Null, &Value::Null)
    );
}
