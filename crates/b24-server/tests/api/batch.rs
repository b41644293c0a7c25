//! `batch` (spec §6): command shapes, halt, references, limits, and the PHP shape of the answer.

use crate::helpers::{spawn_app, TestApp};
use serde_json::{json, Value};

/// A deal with a to-do and `n` contacts, for binding commands.
async fn setup(app: &TestApp, contacts: usize) -> (i64, i64, Vec<i64>) {
    let deal = app.new_item(2, None).await;
    let activity = app.new_todo(2, deal).await;
    let mut ids = Vec::new();
    for _ in 0..contacts {
        ids.push(app.new_item(3, None).await);
    }
    (deal, activity, ids)
}

fn sections(body: &Value) -> &Value {
    &body["result"]
}

#[tokio::test]
async fn a_batch_of_fifty_binding_calls_with_one_failure_runs_them_all_without_halt() {
    let app = spawn_app().await;
    let (_, activity, contacts) = setup(&app, 25).await;
    let mut cmd = Vec::new();
    for c in &contacts {
        cmd.push(format!(
            "crm.activity.binding.add?activityId={activity}&entityTypeId=3&entityId={c}"
        ));
    }
    for c in &contacts[..24] {
        cmd.push(format!(
            "crm.activity.binding.list?activityId={activity}&x={c}"
        ));
    }
    cmd.insert(
        10,
        format!(
            "crm.activity.binding.add?activityId={activity}&entityTypeId=3&entityId={}",
            contacts[0]
        ),
    );
    assert_eq!(cmd.len(), 50);

    let (status, body) = app.call("batch", json!({"cmd": cmd, "halt": 0})).await;

    assert_eq!(status, 200);
    let s = sections(&body);
    assert_eq!(
        s["result"].as_object().unwrap().len(),
        49,
        "keys 0..49 minus 10 make an object"
    );
    assert_eq!(
        s["result_error"],
        json!({"10": {"error": "ACTIVITY_IS_ALREADY_BOUND", "error_description": "Activity is already linked to this entity"}})
    );
    assert_eq!(s["result"]["0"], json!(true));
    assert_eq!(s["result"]["49"].as_array().unwrap().len(), 26);
    assert_eq!(s["result_time"].as_object().unwrap().len(), 49);
    assert_eq!(app.bindings(activity).await.len(), 26);
}

#[tokio::test]
async fn with_halt_the_batch_stops_at_the_first_failure() {
    let app = spawn_app().await;
    let (deal, activity, contacts) = setup(&app, 3).await;
    let cmd = json!([
        format!(
            "crm.activity.binding.add?activityId={activity}&entityTypeId=3&entityId={}",
            contacts[0]
        ),
        format!("crm.activity.binding.add?activityId={activity}&entityTypeId=2&entityId={deal}"),
        format!(
            "crm.activity.binding.add?activityId={activity}&entityTypeId=3&entityId={}",
            contacts[1]
        ),
    ]);

    let (status, body) = app.call("batch", json!({"cmd": cmd, "halt": true})).await;

    assert_eq!(status, 200);
    let s = sections(&body);
    assert_eq!(
        s["result"],
        json!([true]),
        "a key set of exactly 0 makes a list"
    );
    assert_eq!(
        s["result_error"],
        json!({"1": {"error": "ACTIVITY_IS_ALREADY_BOUND", "error_description": "Activity is already linked to this entity"}})
    );
    assert_eq!(s["result_total"], json!([]));
    assert_eq!(s["result_next"], json!([]));
    assert_eq!(
        app.bindings(activity).await,
        vec![(2, deal), (3, contacts[0])]
    );
}

#[tokio::test]
async fn halt_follows_php_truthiness_so_the_text_false_halts() {
    let app = spawn_app().await;
    let cmd = json!({"a": "crm.item.get?entityTypeId=2&id=99", "b": "server.time"});
    let (_, body) = app
        .call("batch", json!({"cmd": cmd, "halt": "false"}))
        .await;
    assert_eq!(sections(&body)["result"], json!([]));
    let (_, body) = app.call("batch", json!({"cmd": cmd, "halt": "0"})).await;
    assert!(sections(&body)["result"]["b"].is_string());
}

#[tokio::test]
async fn every_section_is_present_and_time_blocks_are_complete() {
    let app = spawn_app().await;
    for _ in 0..3 {
        app.new_item(2, None).await;
    }
    let (status, body) = app
        .call(
            "batch",
            json!({"cmd": {"list": "crm.item.list?entityTypeId=2", "t": "server.time"}}),
        )
        .await;
    assert_eq!(status, 200);
    let keys: Vec<&String> = body["result"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "result",
            "result_error",
            "result_total",
            "result_next",
            "result_time"
        ]
    );
    let s = sections(&body);
    assert_eq!(s["result_error"], json!([]));
    assert_eq!(s["result_total"], json!({"list": 3}));
    assert_eq!(s["result_next"], json!([]));
    for key in ["list", "t"] {
        let time = &s["result_time"][key];
        for field in [
            "start",
            "finish",
            "duration",
            "processing",
            "date_start",
            "date_finish",
            "operating_reset_at",
            "operating",
        ] {
            assert!(!time[field].is_null(), "{key}.{field} missing: {time}");
        }
    }
    assert!(body["time"]["operating"].is_number());
}

#[tokio::test]
async fn result_references_pass_raw_values_between_commands() {
    let app = spawn_app().await;
    let cmd = json!({
        "deal": "crm.item.add?entityTypeId=2&fields[title]=Batch+deal",
        "contact": "crm.item.add?entityTypeId=3&fields[name]=Ann",
        "todo": "crm.activity.todo.add?ownerTypeId=2&ownerId=$result[deal][item][id]&deadline=2030-01-01T10:00:00&title=For $result[deal][item][title]",
        "bind": "crm.activity.binding.add?activityId=$result[todo][id]&entityTypeId=3&entityId=$result[contact][item][id]",
        "list": "crm.activity.binding.list?activityId=$result[todo][id]",
        "get": "crm.activity.get?id=$result[todo][id]",
    });

    let (status, body) = app.call("batch", json!({"cmd": cmd})).await;

    assert_eq!(status, 200, "{body}");
    let s = sections(&body);
    assert_eq!(s["result_error"], json!([]), "{body}");
    assert_eq!(s["result"]["bind"], json!(true));
    assert_eq!(
        s["result"]["list"],
        json!([{"entityTypeId": 2, "entityId": 1}, {"entityTypeId": 3, "entityId": 1}])
    );
    assert_eq!(
        s["result"]["get"]["SUBJECT"], "For Batch deal",
        "text substitution"
    );
}

#[tokio::test]
async fn next_total_time_and_error_references_resolve() {
    let app = spawn_app().await;
    for _ in 0..60 {
        app.new_item(2, None).await;
    }
    let cmd = json!({
        "p0": "crm.item.list?entityTypeId=2&select[]=id",
        "p1": "crm.item.list?entityTypeId=2&select[]=id&start=$next[p0]",
        "bad": "crm.item.get?entityTypeId=2&id=999",
        "echo": "crm.item.add?entityTypeId=3&fields[name]=$total[p0]&fields[lastName]=$error[bad][error]&fields[comments]=started $time[p0][date_start]",
    });

    let (_, body) = app.call("batch", json!({"cmd": cmd})).await;

    let s = sections(&body);
    assert_eq!(s["result_next"], json!({"p0": 50}));
    assert_eq!(s["result"]["p1"]["items"][0]["id"], 51);
    let item = &s["result"]["echo"]["item"];
    assert_eq!(item["name"], "60");
    assert_eq!(item["lastName"], "NOT_FOUND");
    assert!(
        item["comments"].as_str().unwrap().starts_with("started 20"),
        "{item}"
    );
}

#[tokio::test]
async fn a_reference_past_the_end_of_a_short_page_resolves_to_empty_and_does_not_fail_the_batch() {
    let app = spawn_app().await;
    for _ in 0..3 {
        app.new_item(2, None).await;
    }
    // As the Python SDK's fast list sends it: the filter key and the reference percent-encoded.
    let cmd = json!([
        "crm.item.list?entityTypeId=2&start=-1&order[id]=ASC",
        "crm.item.list?entityTypeId=2&start=-1&order[id]=ASC&filter[%3Eid]=%24result%5B0%5D%5Bitems%5D%5B49%5D%5Bid%5D",
    ]);
    let (status, body) = app.call("batch", json!({"cmd": cmd})).await;
    assert_eq!(status, 200);
    let s = sections(&body);
    assert_eq!(s["result"][0]["items"].as_array().unwrap().len(), 3);
    assert_eq!(s["result_error"], json!([]), "{s}");
    assert_eq!(
        s["result"][1]["items"].as_array().unwrap().len(),
        3,
        "an empty filter value is no condition"
    );
}

#[tokio::test]
async fn commands_past_the_fiftieth_are_not_run() {
    let app = spawn_app().await;
    let cmd: Vec<String> = (0..52)
        .map(|_| "crm.item.add?entityTypeId=4&fields[title]=x".to_string())
        .collect();

    let (status, body) = app.call("batch", json!({"cmd": cmd})).await;

    assert_eq!(status, 200);
    let s = sections(&body);
    assert_eq!(s["result"].as_array().unwrap().len(), 50);
    let too_many = json!({"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"});
    assert_eq!(s["result_error"], json!({"50": too_many, "51": too_many}));
    let (_, list) = app.call("crm.item.list", json!({"entityTypeId": 4})).await;
    assert_eq!(list["total"], 50);
}

#[tokio::test]
async fn a_batch_inside_a_batch_is_not_allowed() {
    let app = spawn_app().await;
    let (_, body) = app
        .call(
            "batch",
            json!({"cmd": {"inner": "batch?cmd[0]=server.time", "ok": "server.time"}}),
        )
        .await;
    let s = sections(&body);
    assert_eq!(
        s["result_error"],
        json!({"inner": {"error": "ERROR_BATCH_METHOD_NOT_ALLOWED", "error_description": "Method is not allowed for batch usage"}})
    );
    assert!(s["result"]["ok"].is_string());
}

#[tokio::test]
async fn unknown_methods_and_missing_scopes_fail_only_their_command() {
    let app = spawn_app().await;
    let url = app.create_webhook(1, Some("user"));
    let (status, body) = app
        .call_as(
            &url,
            "batch",
            json!({"cmd": ["no.such.method", "crm.item.list?entityTypeId=2", "user.current"]}),
        )
        .await;
    assert_eq!(status, 200);
    let s = sections(&body);
    assert_eq!(
        s["result_error"],
        json!([
            {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"},
            {"error": "insufficient_scope", "error_description": "The request requires higher privileges than provided by the webhook token"}
        ]),
        "error keys 0 and 1 make a list"
    );
    assert_eq!(
        s["result"]["2"]["ID"], "1",
        "result key 2 alone makes an object"
    );
}

#[tokio::test]
async fn a_form_encoded_batch_with_doubly_encoded_commands_works() {
    let app = spawn_app().await;
    let body = "cmd%5Bdeal%5D=crm.item.add%3FentityTypeId%3D2%26fields%5Btitle%5D%3DA%2520%2526%2520B\
                &cmd%5Bget%5D=crm.item.get%3FentityTypeId%3D2%26id%3D%24result%5Bdeal%5D%5Bitem%5D%5Bid%5D&halt=1";
    let (status, body) = app
        .post_form(&format!("{}batch", app.admin_url), body)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sections(&body)["result"]["get"]["item"]["title"], "A & B");
}

#[tokio::test]
async fn a_get_encoded_batch_works_like_the_2bad_client_sends_it() {
    let app = spawn_app().await;
    let query = "cmd[a]=crm.item.add%3FentityTypeId%3D3%26fields%5Bname%5D%3DZo%25C3%25AB\
                 &cmd[b]=crm.item.list%3FentityTypeId%3D3&halt=0";
    let (status, body) = app.get(&format!("{}batch?{query}", app.admin_url)).await;
    assert_eq!(status, 200, "{body}");
    let s = sections(&body);
    assert_eq!(s["result"]["a"]["item"]["name"], "Zoë");
    assert_eq!(s["result_total"]["b"], 1);
}

#[tokio::test]
async fn paging_through_batch_sees_every_row_exactly_once() {
    let app = spawn_app().await;
    for _ in 0..120 {
        app.new_item(2, None).await;
    }
    let cmd: Vec<String> = (0..3)
        .map(|p| format!("crm.item.list?entityTypeId=2&start={}", p * 50))
        .collect();
    let (_, body) = app.call("batch", json!({"cmd": cmd})).await;
    let s = sections(&body);
    let mut ids: Vec<i64> = (0..3)
        .flat_map(|p| {
            s["result"][p]["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, (1..=120).collect::<Vec<_>>());
    assert_eq!(s["result_next"], json!([50, 100]));
    assert_eq!(s["result_total"], json!([120, 120, 120]));
}

#[tokio::test]
async fn an_empty_batch_answers_five_empty_sections() {
    let app = spawn_app().await;
    let (status, body) = app.call("batch", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"],
        json!({"result": [], "result_error": [], "result_total": [], "result_next": [], "result_time": []})
    );
}
