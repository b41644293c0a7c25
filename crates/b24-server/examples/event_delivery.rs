//! How fast the event sender drains its outbox to a handler on 127.0.0.1: N deal additions are
//! made through the domain layer (each writes its outbox row in its own transaction), then the
//! time until the handler has received all N events is measured, with the default delivery
//! settings (8 requests in flight).
//!
//! Run: `cargo run --release -p b24-server --example event_delivery [-- 5000]`

use b24_server::domain::{items, Permissions};
use b24_server::{admin, Application, ServeConfig};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(2000);
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let handler = axum::Router::new().route(
        "/handler/",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/handler/", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, handler).await });

    let dir = tempfile::tempdir()?;
    let app = Application::build(ServeConfig::new(
        dir.path().to_path_buf(),
        "127.0.0.1:0".parse()?,
    ))
    .await?;
    let store = app.state().store.clone();
    admin::add_outgoing_webhook(&store, 1, "ONCRMDEALADD", &url)?;

    // Queue everything first (the sender is not running yet), then time the draining alone.
    let admin_rights = Permissions {
        user_id: 1,
        admin: true,
        ..Permissions::default()
    };
    let mut fields = Map::new();
    fields.insert("title".into(), Value::from("deal"));
    let queued = Instant::now();
    for _ in 0..n {
        store
            .write(1, |tx| {
                items::add(tx, &admin_rights, 2, &fields, 0)
                    .map(|_| ())
                    .map_err(|e| b24_server::ApiError::internal(anyhow::anyhow!("{e:?}")))
            })
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    let queue_secs = queued.elapsed().as_secs_f64();

    let started = Instant::now();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    while received.load(Ordering::Relaxed) < n {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "not all events arrived"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "events": n,
            "queue_seconds": (queue_secs * 1000.0).round() / 1000.0,
            "changes_per_second_with_outbox_write": (n as f64 / queue_secs).round(),
            "delivery_seconds": (secs * 1000.0).round() / 1000.0,
            "events_delivered_per_second": (n as f64 / secs).round(),
        })
    );
    Ok(())
}
