//! Limiter counters in process memory: right for one server process on SQLite.

use super::SWEEP_EVERY;
use super::{
    minute_index, window_of, Bucket, LimiterState, MinuteBucket, OperatingWindow, RateDecision,
    OPERATING_BUCKETS,
};
use crate::error::ApiError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Counters behind `std::sync::Mutex`es: held for a few arithmetic operations, never across `.await`.
#[derive(Debug, Default)]
pub struct MemoryLimiterState {
    buckets: Mutex<HashMap<String, Bucket>>,
    operating: Mutex<HashMap<String, Vec<MinuteBucket>>>,
    decisions: AtomicU64,
}

impl MemoryLimiterState {
    /// How many keys are held (buckets, operating windows): for tests of the sweep.
    pub fn keys(&self) -> (usize, usize) {
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len();
        let operating = self
            .operating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        (buckets, operating)
    }

    /// Every [`SWEEP_EVERY`] decisions: forgets drained buckets and empty windows (a pass over
    /// the map, so amortised over the decisions since the last one).
    fn sweep_now_and_then(&self, now: f64, drain_per_sec: f64) {
        if self.decisions.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY != SWEEP_EVERY - 1 {
            return;
        }
        self.buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, b| !b.drained(now, drain_per_sec));
        let current = minute_index(now);
        self.operating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, buckets| {
                buckets
                    .iter()
                    .any(|b| b.index > current - OPERATING_BUCKETS)
            });
    }
}

impl LimiterState for MemoryLimiterState {
    fn admit(
        &self,
        key: &str,
        now: f64,
        drain_per_sec: f64,
        burst: f64,
    ) -> Result<RateDecision, ApiError> {
        let decision = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
                level: 0.0,
                updated: now,
            });
            bucket.admit(now, drain_per_sec, burst)
        };
        self.sweep_now_and_then(now, drain_per_sec);
        Ok(decision)
    }

    fn operating(&self, key: &str, now: f64) -> Result<OperatingWindow, ApiError> {
        let operating = self.operating.lock().unwrap_or_else(|p| p.into_inner());
        Ok(operating
            .get(key)
            .map(|b| window_of(b, now))
            .unwrap_or_default())
    }

    fn operating_in_memory(&self, key: &str, now: f64) -> Option<OperatingWindow> {
        self.operating(key, now).ok()
    }

    fn record_operating(&self, key: &str, now: f64, seconds: f64) -> Result<(), ApiError> {
        let mut operating = self.operating.lock().unwrap_or_else(|p| p.into_inner());
        let buckets = operating.entry(key.to_string()).or_default();
        let current = minute_index(now);
        buckets.retain(|b| b.index > current - OPERATING_BUCKETS);
        match buckets.iter_mut().find(|b| b.index == current) {
            Some(bucket) => bucket.seconds += seconds,
            None => buckets.push(MinuteBucket {
                index: current,
                seconds,
                first_call: now,
            }),
        }
        Ok(())
    }

    fn portal_view(
        &self,
        portal: crate::store::PortalId,
        now: f64,
        drain_per_sec: f64,
    ) -> Result<super::LimiterView, ApiError> {
        let prefix = format!("{portal}|");
        let buckets: Vec<(String, f64)> = self
            .buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(key, _)| key.starts_with(&prefix))
            .map(|(key, b)| {
                let level = b.level - (now - b.updated).max(0.0) * drain_per_sec;
                (key.clone(), level.max(0.0))
            })
            .collect();
        let operating: Vec<(String, f64)> = self
            .operating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(key, _)| key.starts_with(&prefix))
            .map(|(key, minutes)| (key.clone(), window_of(minutes, now).seconds))
            .collect();
        Ok(super::LimiterView::of(buckets, operating))
    }

    fn forget_portal(&self, portal: crate::store::PortalId) -> (u64, u64) {
        let prefix = format!("{portal}|");
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let before = buckets.len();
        buckets.retain(|key, _| !key.starts_with(&prefix));
        let buckets_dropped = (before - buckets.len()) as u64;
        drop(buckets);
        let mut operating = self.operating.lock().unwrap_or_else(|p| p.into_inner());
        let before = operating.len();
        operating.retain(|key, _| !key.starts_with(&prefix));
        (buckets_dropped, (before - operating.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100,000 clients, each calling once, two a second (a crawler walking an address range):
    /// only the buckets that have not drained yet are held.
    #[test]
    fn a_hundred_thousand_distinct_clients_leave_memory_bounded() {
        let state = MemoryLimiterState::default();
        let t0 = 1_000_000.0;
        crate::limits::crawl(&state, 100_000, t0);
        let (buckets, operating) = state.keys();
        assert!(buckets <= SWEEP_EVERY as usize, "{buckets} buckets held");
        // Ten minutes of clients stay in the window (1,200 at two a second), plus those since
        // the last sweep.
        assert!(
            operating <= 1_200 + SWEEP_EVERY as usize,
            "{operating} windows held"
        );
    }
}
