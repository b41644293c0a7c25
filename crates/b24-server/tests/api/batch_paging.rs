//! Paging through `batch`, as list helpers do it: one batch of `start` offsets, and one batch of
//! chained `>id` cursors (`$result[n][items][49][id]`) with `start=-1`. Every row is seen
//! exactly once.

use crate::helpers::{spawn_app, TestApp};
use serde_json::{json, Value};

async fn seed_deals(app: &TestApp, n: usize) {
    for i in 0..n {
        app.ok(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"title": format!("deal {i}")}}),
        )
        .await;
    }
}

fn item_ids(result: &Value) -> Vec<i64> {
    result["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {result}"))
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_batch_of_start_offsets_sees_every_item_exactly_once() {
    let app = spawn_app().await;
    seed_deals(&app, 123).await;
    let cmd: Vec<String> = [0, 50, 100]
        .iter()
        .map(|start| format!("crm.item.list?entityTypeId=2&select[]=id&start={start}"))
        .collect();
    let (status, body) = app.call("batch", json!({"cmd": cmd})).await;
    assert_eq!(status, 200, "{body}");
    let sections = &body["result"];
    assert_eq!(sections["result_error"], json!([]));
    assert_eq!(sections["result_total"], json!([123, 123, 123]));
    assert_eq!(sections["result_next"], json!([50, 100]));
    let seen: Vec<i64> = (0..3)
        .flat_map(|i| item_ids(&sections["result"][i]))
        .collect();
    assert_eq!(seen, (1..=123).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_batch_of_chained_id_cursors_without_counting_sees_every_item_exactly_once() {
    let app = spawn_app().await;
    seed_deals(&app, 121).await;
    let mut cmd =
        vec!["crm.item.list?entityTypeId=2&start=-1&order[id]=ASC&filter[%3Eid]=0".to_string()];
    for previous in 0..4 {
        cmd.push(format!(
            "crm.item.list?entityTypeId=2&start=-1&order[id]=ASC&filter[%3Eid]=%24result%5B{previous}%5D%5Bitems%5D%5B49%5D%5Bid%5D"
        ));
    }
    let (status, body) = app.call("batch", json!({"cmd": cmd})).await;
    assert_eq!(status, 200, "{body}");
    let sections = &body["result"];
    assert_eq!(sections["result_error"], json!([]));
    assert_eq!(sections["result_total"], json!([]), "start=-1 never counts");
    // As the SDKs do: read pages in order up to the first short one; the rest is the tail.
    let mut seen = Vec::new();
    for i in 0..cmd.len() {
        let page = item_ids(&sections["result"][i]);
        let short = page.len() < 50;
        seen.extend(page);
        if short {
            break;
        }
    }
    assert_eq!(seen, (1..=121).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_batch_of_legacy_activity_pages_sees_every_activity_exactly_once() {
    let app = spawn_app().await;
    let deal = app.new_item(2, None).await;
    for _ in 0..130 {
        app.new_todo(2, deal).await;
    }
    let list = format!(
        "crm.activity.list?order[ID]=ASC&filter[OWNER_TYPE_ID]=2&filter[OWNER_ID]={deal}&select[]=ID"
    );
    let cmd = json!({
        "a": list,
        "b": format!("{list}&start=$next[a]"),
        "c": format!("{list}&start=$next[b]"),
    });
    let (status, body) = app.call("batch", json!({"cmd": cmd})).await;
    assert_eq!(status, 200, "{body}");
    let sections = &body["result"];
    assert_eq!(sections["result_next"], json!({"a": 50, "b": 100}));
    let seen: Vec<i64> = ["a", "b", "c"]
        .iter()
        .flat_map(|k| {
            sections["result"][k]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["ID"].as_str().unwrap().parse::<i64>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(seen, (1..=130).collect::<Vec<_>>());
}
