//! How much one list page costs at 1,000 rows and at 1,000,000 rows, through the store the list
//! methods use. Pages without counting (`start=-1`) and `>ID` cursor pages must cost about the
//! same at both sizes; the counted first page (`start=0`) is shown for comparison, since `total`
//! has to count every matching row.
//!
//! Run: `cargo run --release -p b24-server --example list_scaling [-- 1000 1000000]`

use b24_server::clock::SystemClock;
use b24_server::domain::todo::{self, new_todo};
use b24_server::domain::Binding;
use b24_server::store::{
    ActivityRecord, Column, CompareOp, Filter, ItemRecord, ListQuery, SqlValue, Store,
    DEFAULT_PORTAL,
};
use serde_json::{json, Map};
use std::sync::Arc;
use std::time::Instant;

const DEAL: i64 = 2;
const BATCH: usize = 20_000;

fn item(i: usize) -> ItemRecord {
    let mut extra = Map::new();
    extra.insert(
        "stageId".into(),
        json!(if i % 10 == 0 { "WON" } else { "NEW" }),
    );
    extra.insert("opportunity".into(), json!(i % 1000));
    ItemRecord {
        entity_type_id: DEAL,
        id: 0,
        title: format!("deal {i}"),
        assigned_by_id: 1 + (i % 20) as i64,
        created_by: 1,
        updated_by: 1,
        created_time: "2030-01-01T00:00:00+00:00".into(),
        updated_time: "2030-01-01T00:00:00+00:00".into(),
        extra,
    }
}

fn activity(i: usize, owner: i64) -> ActivityRecord {
    let time = format!("2030-01-01T{:02}:{:02}:00+00:00", (i / 60) % 24, i % 60);
    let mut todo = new_todo(
        Binding::new(DEAL, owner),
        1,
        1,
        &time,
        "2030-01-01T00:00:00+00:00",
    );
    todo.subject = format!("todo {i}");
    todo
}

fn seed(store: &Store, rows: usize) -> anyhow::Result<()> {
    let mut done = 0;
    while done < rows {
        let n = BATCH.min(rows - done);
        store
            .write(DEFAULT_PORTAL, |tx| {
                for i in done..done + n {
                    let id = tx.insert_item(&item(i))?;
                    let owner = 1 + (i as i64 % 20);
                    todo::insert(tx, &activity(i, owner))?;
                    debug_assert_eq!(id, i as i64 + 1);
                }
                Ok(())
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        done += n;
    }
    Ok(())
}

fn cmp(column: Column, op: CompareOp, value: SqlValue) -> Filter {
    Filter::Compare {
        column,
        op,
        values: vec![value],
    }
}

/// Median time of one page over `runs` runs, in microseconds, and the rows it returned.
fn time_page(runs: usize, mut page: impl FnMut() -> usize) -> (f64, usize) {
    let mut samples = Vec::with_capacity(runs);
    let mut rows = 0;
    for _ in 0..runs {
        let started = Instant::now();
        rows = page();
        samples.push(started.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    (samples[runs / 2], rows)
}

fn measure(rows: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open_sqlite_in(dir.path(), Arc::new(SystemClock))?;
    let started = Instant::now();
    seed(&store, rows)?;
    println!(
        "\n{rows} deals and {rows} activities seeded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let middle = rows as i64 / 2;
    let id_asc = vec![(Column::Plain("id"), false)];
    let uncounted = |filter: Filter, order: Vec<(Column, bool)>| ListQuery {
        filter,
        order,
        offset: 0,
        limit: 50,
        count: false,
    };
    let cursor = |id: i64| cmp(Column::Plain("id"), CompareOp::Gt, SqlValue::Int(id));
    let item_shapes: Vec<(&str, ListQuery)> = vec![
        (
            "crm.item.list start=-1",
            uncounted(Filter::everything(), vec![]),
        ),
        (
            "crm.item.list start=-1 >ID=middle",
            uncounted(cursor(middle), id_asc.clone()),
        ),
        (
            "crm.item.list start=-1 >ID=middle stageId=WON",
            uncounted(
                Filter::All(vec![
                    cursor(middle),
                    cmp(
                        Column::Extra("stageId"),
                        CompareOp::Eq,
                        SqlValue::Text("WON".into()),
                    ),
                ]),
                id_asc.clone(),
            ),
        ),
        (
            "crm.item.list start=-1 >ID=middle/2 own items",
            uncounted(
                Filter::All(vec![
                    cmp(
                        Column::Plain("assigned_by_id"),
                        CompareOp::Eq,
                        SqlValue::Int(7),
                    ),
                    cursor(middle / 2),
                ]),
                vec![],
            ),
        ),
        (
            "crm.item.list start=0 (counts total)",
            ListQuery::first_page(50),
        ),
    ];
    for (name, query) in &item_shapes {
        let (us, n) = time_page(200, || {
            store
                .read(DEFAULT_PORTAL, |tx| tx.list_items(DEAL, query))
                .map(|p| p.rows.len())
                .unwrap_or(0)
        });
        println!("{name:<50} {us:>10.1} µs/page ({n} rows)");
    }
    let activity_shapes: Vec<(&str, ListQuery)> = vec![
        (
            "crm.activity.list start=-1 (START_TIME order)",
            uncounted(
                Filter::everything(),
                vec![(Column::Plain("start_time"), false)],
            ),
        ),
        (
            "crm.activity.list start=-1 >ID=middle",
            uncounted(cursor(middle), id_asc.clone()),
        ),
        (
            "crm.activity.list start=-1 owner deal 7 >ID",
            uncounted(
                Filter::All(vec![
                    cmp(
                        Column::Plain("owner_type_id"),
                        CompareOp::Eq,
                        SqlValue::Int(DEAL),
                    ),
                    cmp(Column::Plain("owner_id"), CompareOp::Eq, SqlValue::Int(7)),
                    cursor(0),
                ]),
                id_asc.clone(),
            ),
        ),
        (
            "crm.activity.list start=-1 BINDINGS deal 7 >ID",
            uncounted(
                Filter::All(vec![
                    Filter::BoundTo(vec![(Some(DEAL), Some(7))]),
                    cursor(0),
                ]),
                id_asc.clone(),
            ),
        ),
    ];
    for (name, query) in &activity_shapes {
        let (us, n) = time_page(200, || {
            store
                .read(DEFAULT_PORTAL, |tx| tx.list_activities(query))
                .map(|p| p.rows.len())
                .unwrap_or(0)
        });
        println!("{name:<50} {us:>10.1} µs/page ({n} rows)");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 1_000_000]
    } else {
        sizes
    };
    for rows in sizes {
        measure(rows)?;
    }
    Ok(())
}
