//! Limiter counters in process memory: right for one server process on SQLite.

use super::{
    minute_index, window_of, Bucket, LimiterState, MinuteBucket, OperatingWindow, RateDecision,
    OPERATING_BUCKETS,
};
use crate::error::ApiError;
use std::collections::HashMap;
use std::sync::Mutex;

/// Counters behind `std::sync::Mutex`es: held for a few arithmetic operations, never across `.await`.
#[derive(Debug, Default)]
pub struct MemoryLimiterState {
    buckets: Mutex<HashMap<String, Bucket>>,
    operating: Mutex<HashMap<String, Vec<MinuteBucket>>>,
}

impl LimiterState for MemoryLimiterState {
    fn admit(
        &self,
        key: &str,
        now: f64,
        drain_per_sec: f64,
        burst: f64,
    ) -> Result<RateDecision, ApiError> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            level: 0.0,
            updated: now,
        });
        Ok(bucket.admit(now, drain_per_sec, burst))
    }

    fn operating(&self, key: &str, now: f64) -> Result<OperatingWindow, ApiError> {
        let operating = self.operating.lock().unwrap_or_else(|p| p.into_inner());
        Ok(operating
            .get(key)
            .map(|b| window_of(b, now))
            .unwrap_or_default())
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
}
