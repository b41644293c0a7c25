//! Limiter counters in PostgreSQL, so that limits hold across server processes sharing one
//! database. Each decision is one short transaction that locks the counter row it changes
//! (`SELECT … FOR UPDATE` after an `INSERT … ON CONFLICT DO NOTHING`); the arithmetic is the same
//! [`Bucket`] and [`window_of`] the in-memory state uses.
//!
//! The operating-time window is read before every call but changes only when a call takes more
//! than [`OPERATING_THRESHOLD_SECS`](super::OPERATING_THRESHOLD_SECS), so each process keeps the
//! window it last read per key for up to [`WINDOW_FRESH`]: time recorded by this process drops
//! its copy at once (the next call reads the sum anew), time recorded by another process is seen
//! within that second. Recording itself always adds to the shared row.

use super::SWEEP_EVERY;
use super::{
    minute_index, window_of, Bucket, LimiterState, MinuteBucket, OperatingWindow, RateDecision,
    OPERATING_BUCKETS,
};
use crate::error::ApiError;
use crate::store::postgres::{off_runtime, PgConnection, PgPool};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a process serves an operating-time window from memory before reading it again.
const WINDOW_FRESH: Duration = Duration::from_secs(1);

/// Past this many keys in the window cache, entries that are no longer fresh are dropped.
const WINDOW_CACHE_KEYS: usize = 4096;

/// How far a bucket's last update may lie ahead of now before it reads as the portal clock
/// set back rather than another process's clock running a little ahead.
const CLOCK_SET_BACK_SECS: f64 = 5.0;

/// Rows one sweep deletes at most (sweeps come every [`SWEEP_EVERY`] decisions, so this keeps
/// up with any number of new clients per decision below four).
const SWEEP_BATCH: i64 = 4 * SWEEP_EVERY as i64;

/// See the module docs.
pub struct PgLimiterState {
    pool: PgPool,
    decisions: AtomicU64,
    /// Per key, the window's buckets as last read.
    windows: Mutex<HashMap<String, CachedWindow>>,
}

/// An operating-time window as read from the database.
struct CachedWindow {
    /// When (this process's clock).
    read: Instant,
    /// For which minute of the portal clock.
    minute: i64,
    buckets: Vec<MinuteBucket>,
}

impl PgLimiterState {
    /// Counters in the database the pool connects to (tables from migration 5).
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            decisions: AtomicU64::new(0),
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedWindow>> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn connection(&self) -> Result<PgConnection, ApiError> {
        self.pool.get().map_err(|e| {
            ApiError::internal(anyhow::anyhow!(e).context("no database connection for the limiter"))
        })
    }
}

impl LimiterState for PgLimiterState {
    fn admit(
        &self,
        key: &str,
        now: f64,
        drain_per_sec: f64,
        burst: f64,
    ) -> Result<RateDecision, ApiError> {
        off_runtime(|| self.admit_here(key, now, drain_per_sec, burst))
    }

    fn operating(&self, key: &str, now: f64) -> Result<OperatingWindow, ApiError> {
        if let Some(window) = self.operating_in_memory(key, now) {
            return Ok(window);
        }
        let minute = minute_index(now);
        let buckets = off_runtime(|| self.operating_here(key, now))?;
        let window = window_of(&buckets, now);
        let mut windows = self.windows();
        if windows.len() >= WINDOW_CACHE_KEYS {
            windows.retain(|_, cached| cached.read.elapsed() < WINDOW_FRESH);
        }
        let read = Instant::now();
        windows.insert(
            key.to_owned(),
            CachedWindow {
                read,
                minute,
                buckets,
            },
        );
        Ok(window)
    }

    /// The window this process read less than `WINDOW_FRESH` ago, for this same minute of the
    /// portal clock (which tests and operators move).
    fn operating_in_memory(&self, key: &str, now: f64) -> Option<OperatingWindow> {
        let windows = self.windows();
        let cached = windows.get(key)?;
        (cached.minute == minute_index(now) && cached.read.elapsed() < WINDOW_FRESH)
            .then(|| window_of(&cached.buckets, now))
    }

    fn record_operating(&self, key: &str, now: f64, seconds: f64) -> Result<(), ApiError> {
        let recorded = off_runtime(|| self.record_here(key, now, seconds));
        // After the commit: a read racing with it in this process must not leave its copy.
        self.windows().remove(key);
        recorded
    }

    /// The counters are in the database (a reset's transaction deletes them); only the windows
    /// this process keeps in memory are dropped, so that the next call reads the emptied rows.
    fn forget_portal(&self, portal: crate::store::PortalId) -> (u64, u64) {
        let prefix = format!("{portal}|");
        self.windows().retain(|key, _| !key.starts_with(&prefix));
        (0, 0)
    }

    fn portal_view(
        &self,
        portal: crate::store::PortalId,
        now: f64,
        drain_per_sec: f64,
    ) -> Result<super::LimiterView, ApiError> {
        off_runtime(|| self.view_here(portal, now, drain_per_sec))
    }
}

/// The decisions on the calling thread (see [`off_runtime`]).
impl PgLimiterState {
    fn admit_here(
        &self,
        key: &str,
        now: f64,
        drain_per_sec: f64,
        burst: f64,
    ) -> Result<RateDecision, ApiError> {
        let mut conn = self.connection()?;
        // One statement creates or locks the row and reads it, so a sweep deleting it in between
        // cannot leave this call without one.
        let lock = conn.prepared(
            "INSERT INTO limiter_buckets (key, level, updated) VALUES ($1, 0, $2)
             ON CONFLICT (key) DO UPDATE SET key = excluded.key
             RETURNING level, updated",
        )?;
        let update =
            conn.prepared("UPDATE limiter_buckets SET level = $2, updated = $3 WHERE key = $1")?;
        let mut tx = conn.transaction()?;
        let row = tx.query_one(&lock, &[&key, &now])?;
        let mut bucket = Bucket {
            level: row.try_get(0)?,
            updated: row.try_get(1)?,
        };
        // Another process may have a clock slightly ahead: never move `updated` backwards for
        // that. Far ahead, the portal clock was set back (`DELETE /_b24/clock`): the bucket keeps
        // its level and drains from now, rather than standing still until time catches up.
        let at = if bucket.updated - now > CLOCK_SET_BACK_SECS {
            now
        } else {
            now.max(bucket.updated)
        };
        let decision = bucket.admit(at, drain_per_sec, burst);
        tx.execute(&update, &[&key, &bucket.level, &bucket.updated])?;
        tx.commit()?;
        if self.decisions.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(&mut conn, now, drain_per_sec, burst)?;
        }
        Ok(decision)
    }

    /// Deletes buckets that have drained (none updated since a full bucket would have drained,
    /// found through the `updated` index, a bounded batch at a time) and operating-time buckets
    /// that left the window. The `updated` test is repeated on each row as it is deleted, so a
    /// bucket another process just used stays.
    fn sweep(
        &self,
        conn: &mut PgConnection,
        now: f64,
        drain_per_sec: f64,
        burst: f64,
    ) -> Result<(), ApiError> {
        let drained_before = now - (burst + 1.0) / drain_per_sec.max(f64::MIN_POSITIVE);
        conn.execute(
            "DELETE FROM limiter_buckets WHERE updated < $1 AND key IN (
                 SELECT key FROM limiter_buckets WHERE updated < $1 ORDER BY updated LIMIT $2)",
            &[&drained_before, &SWEEP_BATCH],
        )?;
        conn.execute(
            "DELETE FROM limiter_operating WHERE minute <= $1 AND (key, minute) IN (
                 SELECT key, minute FROM limiter_operating WHERE minute <= $1 ORDER BY minute LIMIT $2)",
            &[&(minute_index(now) - OPERATING_BUCKETS), &SWEEP_BATCH],
        )?;
        Ok(())
    }

    fn operating_here(&self, key: &str, now: f64) -> Result<Vec<MinuteBucket>, ApiError> {
        let current = minute_index(now);
        let mut conn = self.connection()?;
        let statement = conn.prepared(
            "SELECT minute, seconds, first_call FROM limiter_operating
             WHERE key = $1 AND minute > $2 AND minute <= $3",
        )?;
        let rows = conn.query(
            &statement,
            &[&key, &(current - OPERATING_BUCKETS), &current],
        )?;
        let buckets = rows
            .iter()
            .map(|r| {
                Ok(MinuteBucket {
                    index: r.try_get(0)?,
                    seconds: r.try_get(1)?,
                    first_call: r.try_get(2)?,
                })
            })
            .collect::<Result<Vec<_>, ::postgres::Error>>()?;
        Ok(buckets)
    }

    /// The portal's keys start with `"{portal}|"` (a `LIKE` prefix: right whatever the
    /// database's collation; the tables hold only the clients of the last minutes).
    fn view_here(
        &self,
        portal: crate::store::PortalId,
        now: f64,
        drain_per_sec: f64,
    ) -> Result<super::LimiterView, ApiError> {
        let prefix = format!("{portal}|%");
        let mut conn = self.connection()?;
        let buckets = conn
            .query(
                "SELECT key, level, updated FROM limiter_buckets WHERE key LIKE $1",
                &[&prefix],
            )?
            .iter()
            .map(|r| {
                let (level, updated): (f64, f64) = (r.try_get(1)?, r.try_get(2)?);
                let level = (level - (now - updated).max(0.0) * drain_per_sec).max(0.0);
                Ok((r.try_get::<_, String>(0)?, level))
            })
            .collect::<Result<Vec<_>, ::postgres::Error>>()?;
        let current = minute_index(now);
        let operating = conn
            .query(
                "SELECT key, SUM(seconds) FROM limiter_operating
                 WHERE key LIKE $1 AND minute > $2 AND minute <= $3 GROUP BY key",
                &[&prefix, &(current - OPERATING_BUCKETS), &current],
            )?
            .iter()
            .map(|r| Ok((r.try_get::<_, String>(0)?, r.try_get::<_, f64>(1)?)))
            .collect::<Result<Vec<_>, ::postgres::Error>>()?;
        Ok(super::LimiterView::of(buckets, operating))
    }

    fn record_here(&self, key: &str, now: f64, seconds: f64) -> Result<(), ApiError> {
        let current = minute_index(now);
        let mut conn = self.connection()?;
        let mut tx = conn.transaction()?;
        // Buckets that left the window: a bounded range of this key's primary key.
        tx.execute(
            "DELETE FROM limiter_operating WHERE key = $1 AND minute <= $2",
            &[&key, &(current - OPERATING_BUCKETS)],
        )?;
        tx.execute(
            "INSERT INTO limiter_operating (key, minute, seconds, first_call) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key, minute) DO UPDATE SET seconds = limiter_operating.seconds + excluded.seconds",
            &[&key, &current, &seconds, &now],
        )?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::testing::store;

    #[test]
    fn two_limiter_states_on_one_database_share_their_counters() {
        let Some(schema) = store() else { return };
        let (a, b) = (
            PgLimiterState::new(schema.store.pool()),
            PgLimiterState::new(schema.store.pool()),
        );
        let t0 = 1_000_000.0;
        let admitted = (0..10)
            .map(|i| [&a, &b][i % 2].admit("1|10.0.0.1", t0, 2.0, 6.0).unwrap())
            .filter(|d| *d == RateDecision::Admitted)
            .count();
        assert_eq!(admitted, 6, "one bucket for both");
        assert_eq!(
            b.admit("1|10.0.0.2", t0, 2.0, 6.0).unwrap(),
            RateDecision::Admitted,
            "another client has its own bucket"
        );

        a.record_operating("1|app|crm.item.list", t0, 2.5).unwrap();
        b.record_operating("1|app|crm.item.list", t0 + 1.0, 1.5)
            .unwrap();
        let window = a.operating("1|app|crm.item.list", t0 + 2.0).unwrap();
        assert_eq!(window.seconds, 4.0);
        assert_eq!(window.oldest_first_call, Some(t0));
        let later = b
            .operating("1|app|crm.item.list", t0 + 60.0 * OPERATING_BUCKETS as f64)
            .unwrap();
        assert_eq!(later.seconds, 0.0, "ten minutes later the window is empty");
    }

    /// Many distinct clients, each calling once, two a second: the sweeps keep the tables to the
    /// clients whose buckets have not drained (and windows of the last ten minutes). 3,000
    /// clients, three sweeps: every commit here waits for the disk (the memory state's test
    /// takes 100,000).
    #[test]
    fn distinct_clients_leave_the_limiter_tables_bounded() {
        let Some(schema) = store() else { return };
        let state = PgLimiterState::new(schema.store.pool());
        let t0 = 1_000_000.0;
        const CLIENTS: u32 = 3_000;
        crate::limits::crawl(&state, CLIENTS, t0);
        let mut conn = schema.store.pool().get().unwrap();
        let count = |conn: &mut PgConnection, table: &str| -> i64 {
            conn.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
                .unwrap()
                .get(0)
        };
        // A full bucket drains in (50 + 1) / 2 s: 51 clients; plus those since the last sweep.
        let buckets = count(&mut conn, "limiter_buckets");
        assert!(buckets <= 60 + SWEEP_EVERY as i64, "{buckets} bucket rows");
        let operating = count(&mut conn, "limiter_operating");
        assert!(
            operating <= 1_200 + SWEEP_EVERY as i64,
            "{operating} operating rows"
        );
        assert!(
            buckets + operating < 2 * i64::from(CLIENTS),
            "rows were swept"
        );
    }
}
