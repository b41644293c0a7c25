//! Typed methods of the spec that b24-server does not serve yet (`crm.item.update`,
//! `crm.activity.add / update / list`). Until it does, the stub stands in: it checks the exact
//! parameters each sends and answers in the documented shape (spec §4, §10.1).

use crate::helpers::client_for;
use crate::stub::{Recorded, Reply, Stub};
use b24_client::methods::activity::Query;
use futures::TryStreamExt;
use serde_json::{Value, json};

/// A legacy activity row, every value a string as `crm.activity.list` sends it.
fn activity_row(id: i64) -> Value {
    json!({"ID": id.to_string(), "OWNER_TYPE_ID": "2", "OWNER_ID": "5", "SUBJECT": "s", "COMPLETED": "Y"})
}

#[tokio::test]
async fn item_update_sends_entity_type_id_and_fields_and_unwraps_the_item() {
    let stub = Stub::start(|r: &Recorded, _| {
        assert_eq!(r.path, "/rest/1/stubcode/crm.item.update");
        assert_eq!(
            r.body,
            json!({"entityTypeId": 2, "id": 5, "fields": {"title": "Renamed"}})
        );
        Reply::ok(json!({"item": {"id": 5, "title": "Renamed", "entityTypeId": 2}}))
    })
    .await;
    let item = client_for(&stub.webhook())
        .crm()
        .item()
        .update(2, 5, json!({"title": "Renamed"}))
        .await
        .unwrap();
    assert_eq!((item.id, item.title.as_deref()), (5, Some("Renamed")));
}

#[tokio::test]
async fn activity_add_and_update_send_upper_case_fields_and_read_the_legacy_answers() {
    let stub = Stub::start(|r: &Recorded, _| match r.path.rsplit('/').next().unwrap() {
        "crm.activity.add" => {
            assert_eq!(r.body["fields"]["SUBJECT"], "Call");
            Reply::ok(json!(42))
        }
        "crm.activity.update" => {
            assert_eq!(r.body, json!({"id": 42, "fields": {"COMPLETED": "Y"}}));
            Reply::ok(json!(true))
        }
        other => panic!("unexpected {other}"),
    })
    .await;
    let client = client_for(&stub.webhook());
    let activities = client.crm().activity();
    let id = activities
        .add(json!({"OWNER_TYPE_ID": 2, "OWNER_ID": 5, "TYPE_ID": 2, "SUBJECT": "Call"}))
        .await
        .unwrap();
    assert_eq!(id, 42);
    assert!(
        activities
            .update(42, json!({"COMPLETED": "Y"}))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn activity_list_walks_the_legacy_id_cursor() {
    let stub = Stub::start(|r: &Recorded, _| {
        assert_eq!(r.body["start"], -1);
        assert_eq!(r.body["order"], json!({"ID": "ASC"}));
        assert_eq!(r.body["filter"]["OWNER_ID"], 5);
        let after = r.body["filter"][">ID"].as_i64().unwrap_or(0);
        let rows: Vec<Value> = (after + 1..=70.min(after + 50)).map(activity_row).collect();
        Reply::ok(Value::Array(rows))
    })
    .await;
    let query = Query {
        filter: json!({"OWNER_ID": 5}).as_object().unwrap().clone(),
        ..Query::default()
    };

    let all: Vec<_> = client_for(&stub.webhook())
        .crm()
        .activity()
        .list(query)
        .try_collect()
        .await
        .unwrap();

    assert_eq!(
        all.iter().map(|a| a.id).collect::<Vec<_>>(),
        (1..=70).collect::<Vec<_>>()
    );
    assert_eq!((all[0].owner_id, all[0].completed), (Some(5), Some(true)));
    assert_eq!(stub.requests().len(), 2);
    assert_eq!(stub.requests()[1].body["filter"][">ID"], 50);
}
