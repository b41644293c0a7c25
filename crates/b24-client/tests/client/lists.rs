//! Lists as streams against the real server: offset paging with `start`/`next`, and the fast
//! `>ID` cursor with `start=-1`.

use crate::helpers::{assert_api_error, spawn_server};
use b24_client::methods::item::{Item, Query};
use b24_client::{Client, Paging};
use futures::TryStreamExt;
use serde_json::{Value, json};

/// `n` deals, created in one batch per 50.
async fn seed_deals(client: &Client, n: usize) {
    let mut batch = client.batch();
    for i in 0..n {
        batch.push(&b24_client::methods::item::Add {
            entity_type_id: 2,
            fields: json!({"title": format!("deal {i}")}),
        });
    }
    batch.send().await.unwrap();
}

fn ids(items: &[Item]) -> Vec<i64> {
    items.iter().map(|i| i.id).collect()
}

#[tokio::test]
async fn the_offset_stream_yields_every_row_once_in_order() {
    let server = spawn_server().await;
    let client = server.admin();
    seed_deals(&client, 123).await;

    let all: Vec<Item> = client
        .crm()
        .item()
        .list(2, Query::default())
        .try_collect()
        .await
        .unwrap();

    assert_eq!(ids(&all), (1..=123).collect::<Vec<_>>());
    assert_eq!(all[0].title.as_deref(), Some("deal 0"));
}

#[tokio::test]
async fn the_fast_cursor_stream_yields_every_row_once_in_id_order() {
    let server = spawn_server().await;
    let client = server.admin();
    seed_deals(&client, 101).await;

    let all: Vec<Item> = client
        .crm()
        .item()
        .list_fast(2, Query::default())
        .try_collect()
        .await
        .unwrap();

    assert_eq!(ids(&all), (1..=101).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_cursor_keeps_the_callers_filter_and_select() {
    let server = spawn_server().await;
    let client = server.admin();
    seed_deals(&client, 120).await;
    let query = Query {
        select: vec!["id".into()],
        filter: json!({">id": 60}).as_object().unwrap().clone(),
        ..Query::default()
    };

    let all: Vec<Item> = client
        .crm()
        .item()
        .list_fast(2, query)
        .try_collect()
        .await
        .unwrap();

    assert_eq!(ids(&all), (61..=120).collect::<Vec<_>>());
    assert!(
        all.iter().all(|i| i.title.is_none()),
        "only the id was selected"
    );
}

#[tokio::test]
async fn pages_hold_at_most_fifty_rows() {
    let server = spawn_server().await;
    let client = server.admin();
    seed_deals(&client, 110).await;

    for paging in [
        Paging::Offset,
        Paging::IdCursor {
            id_field: "id".into(),
        },
    ] {
        let sizes: Vec<usize> = client
            .list_pages::<Value>("crm.item.list", json!({"entityTypeId": 2}), paging.clone())
            .map_ok(|page| page.len())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(sizes, [50, 50, 10], "{paging:?}");
    }
}

#[tokio::test]
async fn an_empty_list_is_an_empty_stream() {
    let server = spawn_server().await;
    let all: Vec<Item> = server
        .admin()
        .crm()
        .item()
        .list_fast(3, Query::default())
        .try_collect()
        .await
        .unwrap();
    assert!(all.is_empty());
}

#[tokio::test]
async fn an_error_ends_the_stream_with_the_servers_error() {
    let server = spawn_server().await;
    let query = Query {
        filter: json!({"noSuchField": "NEW"}).as_object().unwrap().clone(),
        ..Query::default()
    };
    let result: Result<Vec<Item>, _> = server
        .admin()
        .crm()
        .item()
        .list(2, query)
        .try_collect()
        .await;
    assert_api_error(
        result,
        "INVALID_ARG_VALUE",
        "Invalid filter: field 'noSuchField' is not allowed in filter",
        Some(400),
    );
}

#[tokio::test]
async fn list_params_that_are_not_an_object_end_the_stream_with_an_error() {
    let client = Client::from_webhook("http://127.0.0.1:9/rest/1/abc/").unwrap();
    let result: Result<Vec<Value>, _> = client
        .list("crm.item.list", json!([1]), Paging::Offset)
        .try_collect()
        .await;
    assert!(matches!(
        result.unwrap_err().kind(),
        b24_client::ErrorKind::InvalidParams { .. }
    ));
}
