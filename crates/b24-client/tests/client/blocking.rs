//! The blocking wrapper, from plain threads, against a server running on its own runtime.

use crate::helpers::spawn_server;
use b24_client::Paging;
use b24_client::blocking::Client;
use b24_client::methods::binding::{self, Binding};
use b24_client::methods::item;
use serde_json::{Value, json};

/// A server on a runtime of its own thread, since the blocking client must not run inside one.
fn server_in_background() -> (
    String,
    std::thread::JoinHandle<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let server = spawn_server().await;
            url_tx.send(server.admin_url.clone()).unwrap();
            let _ = stop_rx.await;
            drop(server);
        });
    });
    (url_rx.recv().unwrap(), thread, stop_tx)
}

#[test]
fn the_blocking_client_calls_lists_batches_and_reaches_the_typed_api() {
    let (url, thread, stop) = server_in_background();
    let client = Client::from_webhook(&url).unwrap();

    let time = client.call("server.time", json!({})).unwrap();
    assert!(time.result.is_string());

    let deal = client
        .execute(&item::Add {
            entity_type_id: 2,
            fields: json!({"title": "B"}),
        })
        .unwrap();
    let todo = client
        .run(|c| async move {
            c.crm()
                .activity()
                .todo_add(2, deal.id, "2030-01-01T10:00:00", "T")
                .await
        })
        .unwrap();
    assert_eq!(
        client
            .execute(&binding::List { activity_id: todo })
            .unwrap(),
        [Binding::new(2, deal.id)]
    );

    let mut batch = client.batch();
    let handles: Vec<_> = (0..55)
        .map(|i| {
            batch.push(&item::Add {
                entity_type_id: 2,
                fields: json!({"title": format!("{i}")}),
            })
        })
        .collect();
    let results = client.send_batch(batch).unwrap();
    assert_eq!(results.get(&handles[54]).unwrap().id, 56);

    let ids: Vec<i64> = client
        .list::<Value>(
            "crm.item.list",
            json!({"entityTypeId": 2}),
            Paging::IdCursor {
                id_field: "id".into(),
            },
        )
        .map(|row| row.unwrap()["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (1..=56).collect::<Vec<_>>());

    stop.send(()).unwrap();
    thread.join().unwrap();
}
