//! The two limits the real service applies (spec §5): the request-rate leaky bucket (503
//! `QUERY_LIMIT_EXCEEDED`) and the per-method operating-time budget (429 `OPERATION_TIME_LIMIT`).
//!
//! The arithmetic lives here; where the counters are kept is behind [`LimiterState`], so that a
//! shared backend (PostgreSQL) can make limits hold across server processes. Time always comes
//! from the caller (the server's [`crate::clock::Clock`]), so tests drive limits with a manual clock.

mod memory;
mod plan;
mod postgres;

pub use memory::MemoryLimiterState;
pub use plan::{Plan, PlanCache};
pub use postgres::PgLimiterState;

use crate::error::ApiError;

/// One minute: the operating-time bucket width.
pub const OPERATING_BUCKET_SECS: i64 = 60;
/// Ten buckets make the operating-time window.
pub const OPERATING_BUCKETS: i64 = 10;
/// Calls whose execution time (per request) is at most this are not counted at all.
pub const OPERATING_THRESHOLD_SECS: f64 = 0.1;
/// Default operating-time budget per (client, method) and window.
pub const DEFAULT_OPERATING_LIMIT_SECS: f64 = 480.0;

/// Every this many decisions, a limiter state forgets the buckets that have drained and the
/// operating-time buckets that left the window: a forgotten key is the same as a new one, so
/// memory (and rows) stay bounded by the clients of the last few minutes, not all clients ever.
pub const SWEEP_EVERY: u64 = 1024;

impl Bucket {
    /// Whether the bucket is empty at `now`, so that forgetting it changes nothing.
    pub fn drained(&self, now: f64, drain_per_sec: f64) -> bool {
        self.level - (now - self.updated).max(0.0) * drain_per_sec <= 0.0
    }
}

/// A request-rate decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateDecision {
    /// The request may proceed.
    Admitted,
    /// The bucket is full; try again after this many seconds.
    Rejected {
        /// Seconds until one request's worth has drained (for `Retry-After`).
        retry_after_secs: u64,
    },
}

/// The state of a leaky bucket: its level and when it was last drained.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bucket {
    /// Requests currently in the bucket.
    pub level: f64,
    /// When `level` was computed (Unix seconds).
    pub updated: f64,
}

impl Bucket {
    /// Drains the bucket to `now`, then admits one request if it fits under `burst`.
    pub fn admit(&mut self, now: f64, drain_per_sec: f64, burst: f64) -> RateDecision {
        let elapsed = (now - self.updated).max(0.0);
        self.level = (self.level - elapsed * drain_per_sec).max(0.0);
        self.updated = now;
        if self.level + 1.0 > burst + 1e-9 {
            let wait = (self.level + 1.0 - burst) / drain_per_sec;
            return RateDecision::Rejected {
                retry_after_secs: wait.ceil().max(1.0) as u64,
            };
        }
        self.level += 1.0;
        RateDecision::Admitted
    }
}

/// One minute's operating-time bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinuteBucket {
    /// `floor(unix / 60)`.
    pub index: i64,
    /// Seconds of execution time recorded in that minute.
    pub seconds: f64,
    /// When the first call was recorded in it (its expiry is this + 600 s).
    pub first_call: f64,
}

/// What the operating-time window holds for one key right now.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OperatingWindow {
    /// Sum of the buckets still in the window.
    pub seconds: f64,
    /// First-call time of the oldest bucket still counted.
    pub oldest_first_call: Option<f64>,
}

/// The bucket index of a moment.
pub fn minute_index(now: f64) -> i64 {
    (now / OPERATING_BUCKET_SECS as f64).floor() as i64
}

/// Sums the buckets that are still inside the 10-minute window ending at `now`.
pub fn window_of(buckets: &[MinuteBucket], now: f64) -> OperatingWindow {
    let current = minute_index(now);
    let live = buckets
        .iter()
        .filter(|b| b.index > current - OPERATING_BUCKETS && b.index <= current);
    live.fold(OperatingWindow::default(), |w, b| OperatingWindow {
        seconds: w.seconds + b.seconds,
        oldest_first_call: Some(
            w.oldest_first_call
                .map_or(b.first_call, |t| t.min(b.first_call)),
        ),
    })
}

/// Where limiter counters live. The in-memory implementation serves one process; a database
/// implementation makes the limits hold across processes.
pub trait LimiterState: Send + Sync + 'static {
    /// Runs the leaky bucket for `key`.
    fn admit(
        &self,
        key: &str,
        now: f64,
        drain_per_sec: f64,
        burst: f64,
    ) -> Result<RateDecision, ApiError>;
    /// The operating-time window for `key` at `now`.
    fn operating(&self, key: &str, now: f64) -> Result<OperatingWindow, ApiError>;
    /// [`LimiterState::operating`] when it can be answered from this process's memory without
    /// waiting on a database; `None` otherwise (the default).
    fn operating_in_memory(&self, _key: &str, _now: f64) -> Option<OperatingWindow> {
        None
    }
    /// Adds `seconds` of execution time for `key` to the bucket of `now`.
    fn record_operating(&self, key: &str, now: f64, seconds: f64) -> Result<(), ApiError>;
    /// Forgets the counters of one portal held in process memory (keys `"{portal}|…"`), as
    /// `/_b24/reset` does; returns how many bucket and operating-time keys were dropped.
    /// Counters kept in the database are deleted by the reset's own transaction, so such states
    /// hold nothing to forget here.
    fn forget_portal(&self, _portal: crate::store::PortalId) -> (u64, u64) {
        (0, 0)
    }
    /// What one portal's counters hold at `now`, for the web console: each client's bucket
    /// level (drained to `now` at `drain_per_sec`) and each (client, method)'s operating seconds
    /// in the window. Read only; a pass over the portal's keys (not on any REST call's path).
    fn portal_view(
        &self,
        _portal: crate::store::PortalId,
        _now: f64,
        _drain_per_sec: f64,
    ) -> Result<LimiterView, ApiError> {
        Ok(LimiterView::default())
    }
}

/// One portal's limiter counters as the console shows them ([`LimiterState::portal_view`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimiterView {
    /// `(client address, requests in its bucket)`, fullest first.
    pub buckets: Vec<(String, f64)>,
    /// `(client, method, seconds in the window)`, largest first.
    pub operating: Vec<(String, String, f64)>,
}

impl LimiterView {
    /// Builds a view from `(key, level)` and `(key, window)` pairs of keys `"{portal}|…"`.
    pub fn of(
        buckets: impl IntoIterator<Item = (String, f64)>,
        operating: impl IntoIterator<Item = (String, f64)>,
    ) -> Self {
        let strip = |key: &str| {
            key.split_once('|')
                .map_or(key.to_string(), |(_, k)| k.to_string())
        };
        let mut view = LimiterView {
            buckets: buckets
                .into_iter()
                .filter(|(_, level)| *level > 0.0)
                .map(|(key, level)| (strip(&key), level))
                .collect(),
            operating: operating
                .into_iter()
                .filter(|(_, seconds)| *seconds > 0.0)
                .map(|(key, seconds)| {
                    let rest = strip(&key);
                    let (client, method) = rest.rsplit_once('|').unwrap_or((&rest, ""));
                    (client.to_string(), method.to_string(), seconds)
                })
                .collect(),
        };
        view.buckets.sort_by(|a, b| b.1.total_cmp(&a.1));
        view.operating.sort_by(|a, b| b.2.total_cmp(&a.2));
        view
    }
}

/// For the sweep tests of both states: `clients` distinct clients, each calling once, two a
/// second from `t0` (a crawler walking an address range); each also spends 0.2 s of operating
/// time under a key of its own.
#[cfg(test)]
pub(crate) fn crawl(state: &dyn LimiterState, clients: u32, t0: f64) {
    for i in 0..clients {
        let now = t0 + f64::from(i) * 0.5;
        let key = format!("1|10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        assert_eq!(
            state.admit(&key, now, 2.0, 50.0).unwrap(),
            RateDecision::Admitted
        );
        state
            .record_operating(&format!("1|hook:{i}|server.time"), now, 0.2)
            .unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_exactly_the_burst_then_the_drain_rate() {
        let mut bucket = Bucket::default();
        let t0 = 1000.0;
        for i in 0..50 {
            assert_eq!(
                bucket.admit(t0, 2.0, 50.0),
                RateDecision::Admitted,
                "request {i}"
            );
        }
        assert_eq!(
            bucket.admit(t0, 2.0, 50.0),
            RateDecision::Rejected {
                retry_after_secs: 1
            }
        );
        // Half a second drains one request's worth at 2/s.
        assert_eq!(bucket.admit(t0 + 0.5, 2.0, 50.0), RateDecision::Admitted);
        assert!(matches!(
            bucket.admit(t0 + 0.5, 2.0, 50.0),
            RateDecision::Rejected { .. }
        ));
        // Ten seconds drain twenty.
        for _ in 0..20 {
            assert_eq!(bucket.admit(t0 + 10.5, 2.0, 50.0), RateDecision::Admitted);
        }
        assert!(matches!(
            bucket.admit(t0 + 10.5, 2.0, 50.0),
            RateDecision::Rejected { .. }
        ));
    }

    #[test]
    fn the_window_counts_ten_minutes_of_buckets() {
        let b = |index, seconds| MinuteBucket {
            index,
            seconds,
            first_call: (index * 60) as f64,
        };
        let buckets = [b(100, 1.0), b(105, 2.0), b(109, 4.0)];
        let now = 109.0 * 60.0 + 5.0;
        assert_eq!(window_of(&buckets, now).seconds, 7.0);
        assert_eq!(window_of(&buckets, now).oldest_first_call, Some(6000.0));
        assert_eq!(window_of(&buckets, 110.0 * 60.0).seconds, 6.0);
        assert_eq!(window_of(&buckets, 119.0 * 60.0).seconds, 0.0);
    }
}
