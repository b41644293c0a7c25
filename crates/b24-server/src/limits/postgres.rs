//! Limiter counters in PostgreSQL, so that limits hold across server processes sharing one
//! database. Each decision is one short transaction that locks the counter row it changes
//! (`SELECT … FOR UPDATE` after an `INSERT … ON CONFLICT DO NOTHING`); the arithmetic is the same
//! [`Bucket`] and [`window_of`] the in-memory state uses.

use super::{
    minute_index, window_of, Bucket, LimiterState, MinuteBucket, OperatingWindow, RateDecision,
    OPERATING_BUCKETS,
};
use crate::error::ApiError;
use crate::store::postgres::{off_runtime, PgConnection, PgPool};

/// See the module docs.
pub struct PgLimiterState {
    pool: PgPool,
}

impl PgLimiterState {
    /// Counters in the database the pool connects to (tables from migration 5).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
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
        off_runtime(|| self.operating_here(key, now))
    }

    fn record_operating(&self, key: &str, now: f64, seconds: f64) -> Result<(), ApiError> {
        off_runtime(|| self.record_here(key, now, seconds))
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
        let mut tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO limiter_buckets (key, level, updated) VALUES ($1, 0, $2)
             ON CONFLICT (key) DO NOTHING",
            &[&key, &now],
        )?;
        let row = tx.query_one(
            "SELECT level, updated FROM limiter_buckets WHERE key = $1 FOR UPDATE",
            &[&key],
        )?;
        let mut bucket = Bucket {
            level: row.try_get(0)?,
            updated: row.try_get(1)?,
        };
        // Another process may have a clock slightly ahead: never move `updated` backwards.
        let decision = bucket.admit(now.max(bucket.updated), drain_per_sec, burst);
        tx.execute(
            "UPDATE limiter_buckets SET level = $2, updated = $3 WHERE key = $1",
            &[&key, &bucket.level, &bucket.updated],
        )?;
        tx.commit()?;
        Ok(decision)
    }

    fn operating_here(&self, key: &str, now: f64) -> Result<OperatingWindow, ApiError> {
        let current = minute_index(now);
        let mut conn = self.connection()?;
        let rows = conn.query(
            "SELECT minute, seconds, first_call FROM limiter_operating
             WHERE key = $1 AND minute > $2 AND minute <= $3",
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
        Ok(window_of(&buckets, now))
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
}
