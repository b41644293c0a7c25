//! `b24-server seed`: fills a portal with deals and activities quickly, for benchmarks and demos.
//!
//! To-dos are built and stored by the same domain functions `crm.activity.todo.add` uses
//! ([`todo::new_todo`], [`todo::insert`]), so seeded data is indistinguishable from data created
//! over HTTP, but no change is recorded (no events fire) and many rows share one write
//! transaction: a transaction per row would spend nearly all its time syncing the WAL.

use crate::domain::todo::{self, new_todo};
use crate::domain::Binding;
use crate::error::ApiError;
use crate::store::{ItemRecord, PortalId, Store};
use anyhow::anyhow;
use serde_json::Map;

/// Activities written per transaction: large enough that commits cost little, small enough that
/// another writer (the running server, a CLI command) waits well under a second.
pub const ACTIVITIES_PER_TRANSACTION: u64 = 20_000;

/// Entity type id of deals, the items seeded activities are bound to.
const DEAL: i64 = b24_protocol::entity_type::DEAL;

/// What to seed.
#[derive(Debug, Clone, Copy)]
pub struct SeedPlan {
    /// How many activities to add.
    pub activities: u64,
    /// A new deal is created for every this many activities (at least 1).
    pub activities_per_deal: u64,
    /// The user the deals are assigned to and the activities are authored by.
    pub user_id: i64,
}

/// What was added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seeded {
    /// Activities added.
    pub activities: u64,
    /// Deals added.
    pub deals: u64,
    /// Id of the first activity added, if any.
    pub first_activity_id: Option<i64>,
}

/// Adds `plan.activities` to-do activities, each bound to a deal, creating a deal for every
/// `plan.activities_per_deal` activities. Calls `progress` with the running count after each
/// transaction. Each transaction is complete on its own: an interrupted seed leaves whole deals
/// with their activities.
pub fn seed(
    store: &Store,
    portal: PortalId,
    plan: SeedPlan,
    progress: impl FnMut(u64),
) -> anyhow::Result<Seeded> {
    seed_in_transactions_of(store, portal, plan, ACTIVITIES_PER_TRANSACTION, progress)
}

fn seed_in_transactions_of(
    store: &Store,
    portal: PortalId,
    plan: SeedPlan,
    activities_per_transaction: u64,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<Seeded> {
    let per_deal = plan.activities_per_deal.max(1);
    let user_exists = store
        .read(portal, |tx| Ok(tx.user(plan.user_id)?.is_some()))
        .map_err(to_anyhow)?;
    if !user_exists {
        return Err(anyhow!(
            "there is no user {}: start the server once (or pick an existing user with --user)",
            plan.user_id
        ));
    }
    // Chunks hold whole deals, so every deal gets exactly `per_deal` activities (the last one fewer).
    let chunk = (activities_per_transaction / per_deal).max(1) * per_deal;
    let mut done = Seeded {
        activities: 0,
        deals: 0,
        first_activity_id: None,
    };
    while done.activities < plan.activities {
        let n = chunk.min(plan.activities - done.activities);
        let (deals, first) = store
            .write(portal, |tx| {
                let now = tx.now_iso();
                let mut deal = ItemRecord {
                    entity_type_id: DEAL,
                    id: 0,
                    title: String::new(),
                    assigned_by_id: plan.user_id,
                    created_by: plan.user_id,
                    updated_by: plan.user_id,
                    created_time: now.clone(),
                    updated_time: now.clone(),
                    extra: Map::new(),
                };
                let mut activity = new_todo(
                    Binding::new(DEAL, 0),
                    plan.user_id,
                    plan.user_id,
                    &now,
                    &now,
                );
                let mut deals = 0;
                let mut first = None;
                for i in 0..n {
                    if i % per_deal == 0 {
                        deal.title = format!("Seeded deal {}", done.deals + deals + 1);
                        deal.id = tx.insert_item(&deal)?;
                        deals += 1;
                    }
                    activity.owner_id = deal.id;
                    activity.subject = format!("Seeded to-do {}", done.activities + i + 1);
                    let id = todo::insert(tx, &activity)?;
                    first.get_or_insert(id);
                }
                Ok((deals, first))
            })
            .map_err(to_anyhow)?;
        done.activities += n;
        done.deals += deals;
        if done.first_activity_id.is_none() {
            done.first_activity_id = first;
        }
        progress(done.activities);
    }
    Ok(done)
}

fn to_anyhow(e: ApiError) -> anyhow::Error {
    match e {
        ApiError::Internal(e) => e,
        ApiError::Rest(e) => anyhow!("{}", e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ListQuery, DEFAULT_PORTAL};
    use std::sync::Arc;

    fn store_with_admin() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite_in(dir.path(), Arc::new(crate::clock::SystemClock)).unwrap();
        crate::admin::bootstrap(&store, DEFAULT_PORTAL, "http://127.0.0.1:8080", "").unwrap();
        (dir, store)
    }

    #[test]
    fn every_activity_is_bound_to_its_deal_and_deals_fill_up_in_order() {
        let (_dir, store) = store_with_admin();
        let plan = SeedPlan {
            activities: 25,
            activities_per_deal: 10,
            user_id: 1,
        };
        let mut reports = Vec::new();
        let seeded = seed(&store, DEFAULT_PORTAL, plan, |n| reports.push(n)).unwrap();
        assert_eq!(
            seeded,
            Seeded {
                activities: 25,
                deals: 3,
                first_activity_id: Some(1)
            }
        );
        assert_eq!(reports, vec![25]);
        store
            .read(DEFAULT_PORTAL, |tx| {
                for id in 1..=25 {
                    let deal = (id - 1) / 10 + 1;
                    let a = tx.activity(id)?.expect("seeded activity");
                    assert_eq!((a.owner_type_id, a.owner_id), (DEAL, deal));
                    assert_eq!(tx.bindings(id)?, vec![Binding::new(DEAL, deal)]);
                }
                assert!(tx.activity(26)?.is_none());
                let deals = tx.list_items(DEAL, &ListQuery::first_page(50))?;
                assert_eq!(deals.total, Some(3));
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn large_seeds_commit_in_whole_deals_and_report_progress_per_transaction() {
        let (_dir, store) = store_with_admin();
        let plan = SeedPlan {
            activities: 23,
            activities_per_deal: 3,
            user_id: 1,
        };
        let mut reports = Vec::new();
        let seeded =
            seed_in_transactions_of(&store, DEFAULT_PORTAL, plan, 10, |n| reports.push(n)).unwrap();
        assert_eq!((seeded.activities, seeded.deals), (23, 8));
        assert_eq!(
            reports,
            vec![9, 18, 23],
            "9 = three whole deals per transaction"
        );
        let last = store.read(DEFAULT_PORTAL, |tx| tx.bindings(23)).unwrap();
        assert_eq!(last, vec![Binding::new(DEAL, 8)]);
    }

    #[test]
    fn a_missing_user_is_refused_before_anything_is_written() {
        let (_dir, store) = store_with_admin();
        let plan = SeedPlan {
            activities: 5,
            activities_per_deal: 1,
            user_id: 99,
        };
        let err = seed(&store, DEFAULT_PORTAL, plan, |_| {}).unwrap_err();
        assert!(err.to_string().contains("there is no user 99"), "{err}");
        let nothing = store
            .read(DEFAULT_PORTAL, |tx| tx.activity(1))
            .unwrap()
            .is_none();
        assert!(nothing);
    }
}
