//! The typed CRM methods that arrived with the server's CRM breadth (`crm.item.update`,
//! `crm.activity.add / update / list`), against the real server.

use crate::helpers::spawn_server;
use b24_client::methods::activity::Query;
use futures::TryStreamExt;
use serde_json::json;

#[tokio::test]
async fn item_update_changes_the_item_and_returns_it() {
    let server = spawn_server().await;
    let client = server.admin();
    let items = client.crm().item();
    let created = items.add(2, json!({"title": "First"})).await.unwrap();

    let item = items
        .update(2, created.id, json!({"title": "Renamed"}))
        .await
        .unwrap();

    assert_eq!(
        (item.id, item.title.as_deref()),
        (created.id, Some("Renamed"))
    );
    let read_back = items.get(2, created.id).await.unwrap();
    assert_eq!(read_back.title.as_deref(), Some("Renamed"));
}

#[tokio::test]
async fn activity_add_binds_its_communications_and_update_completes_it() {
    let server = spawn_server().await;
    let client = server.admin();
    let deal = client
        .crm()
        .item()
        .add(2, json!({"title": "Deal"}))
        .await
        .unwrap()
        .id;
    let contact = client
        .crm()
        .item()
        .add(3, json!({"name": "Ann"}))
        .await
        .unwrap()
        .id;
    let activities = client.crm().activity();

    let id = activities
        .add(json!({
            "OWNER_TYPE_ID": 2, "OWNER_ID": deal, "TYPE_ID": 2, "SUBJECT": "Call",
            "COMMUNICATIONS": [{"VALUE": "+100200300", "ENTITY_TYPE_ID": 3, "ENTITY_ID": contact}],
        }))
        .await
        .unwrap();
    assert!(
        activities
            .update(id, json!({"COMPLETED": "Y"}))
            .await
            .unwrap()
    );

    let activity = activities.get(id).await.unwrap();
    assert_eq!(
        (
            activity.owner_type_id,
            activity.owner_id,
            activity.completed
        ),
        (Some(2), Some(deal), Some(true))
    );
    let bindings: Vec<(i64, i64)> = activities
        .binding()
        .list(id)
        .await
        .unwrap()
        .into_iter()
        .map(|b| (b.entity_type_id, b.entity_id))
        .collect();
    assert_eq!(bindings, vec![(2, deal), (3, contact)]);
}

#[tokio::test]
async fn activity_list_walks_every_activity_of_an_owner_with_the_id_cursor() {
    let server = spawn_server().await;
    let client = server.admin();
    let deal = client
        .crm()
        .item()
        .add(2, json!({"title": "Deal"}))
        .await
        .unwrap()
        .id;
    let other = client
        .crm()
        .item()
        .add(2, json!({"title": "Other"}))
        .await
        .unwrap()
        .id;
    let mut expected = Vec::new();
    for n in 0..70 {
        let owner = if n % 7 == 0 { other } else { deal };
        let id = client
            .crm()
            .activity()
            .todo_add(2, owner, "2030-01-01T10:00:00", "t")
            .await
            .unwrap();
        if owner == deal {
            expected.push(id);
        }
    }
    let query = Query {
        filter: json!({"OWNER_TYPE_ID": 2, "OWNER_ID": deal})
            .as_object()
            .unwrap()
            .clone(),
        ..Query::default()
    };

    let all: Vec<_> = client
        .crm()
        .activity()
        .list(query)
        .try_collect()
        .await
        .unwrap();

    assert_eq!(all.iter().map(|a| a.id).collect::<Vec<_>>(), expected);
    assert!(all.iter().all(|a| a.owner_id == Some(deal)));
}
