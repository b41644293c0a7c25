//! Staying under the service's limits (spec §5) instead of running into them.
//!
//! - [`Plan`]: a client-side leaky bucket with the same drain rate and burst as the portal's plan,
//!   so a busy program waits a little instead of collecting `QUERY_LIMIT_EXCEEDED`.
//! - Operating time: every answer reports how many seconds this method has used in the last ten
//!   minutes (`time.operating`) and when the oldest of them expires (`time.operating_reset_at`).
//!   Once a method has used more than half of its budget the client spaces its calls out, more
//!   the closer it gets, and at the budget it waits for the reset rather than be blocked (429).
//! - [`RetryPolicy`]: how often and how patiently a failed call is repeated, and which ones may be.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// A portal's request-rate plan (spec §5.1): requests drain from a bucket at a fixed rate and the
/// bucket holds a burst.
///
/// ```
/// use b24_client::{Client, Plan};
/// # fn demo() -> Result<(), b24_client::Error> {
/// let client = Client::builder("https://example.bitrix24.com/rest/1/secret/")
///     .plan(Plan::Enterprise)
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Plan {
    /// Every plan but Enterprise: 2 requests/s, burst 50. The default. (The client keeps one
    /// request of headroom below each burst, so that it never tips the server's bucket over.)
    Standard,
    /// Enterprise: 5 requests/s, burst 250.
    Enterprise,
    /// No client-side rate limit (a local server, or a portal with its limit switched off).
    Unlimited,
    /// Any other rate and burst.
    Custom {
        /// Requests drained per second.
        per_second: f64,
        /// How many requests the bucket holds.
        burst: f64,
    },
}

impl Plan {
    /// `(drain per second, burst)`, or `None` for [`Plan::Unlimited`].
    ///
    /// ```
    /// assert_eq!(b24_client::Plan::Standard.rate(), Some((2.0, 50.0)));
    /// ```
    pub fn rate(self) -> Option<(f64, f64)> {
        match self {
            Plan::Standard => b24_protocol::Plan::Standard.leaky_bucket(),
            Plan::Enterprise => b24_protocol::Plan::Enterprise.leaky_bucket(),
            Plan::Unlimited => None,
            Plan::Custom { per_second, burst } if per_second > 0.0 && burst >= 1.0 => {
                Some((per_second, burst))
            }
            Plan::Custom { .. } => None,
        }
    }
}

/// The leaky bucket itself. Each request reserves a slot; the wait it returns is how long until
/// the bucket has drained enough for that slot, so concurrent callers queue up fairly.
#[derive(Debug)]
pub(crate) struct LeakyBucket {
    per_second: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    level: f64,
    at: Instant,
}

impl LeakyBucket {
    pub(crate) fn new(plan: Plan) -> Option<Self> {
        let (per_second, burst) = plan.rate()?;
        Some(Self {
            per_second,
            // One request of headroom: the server measures arrivals, we measure departures, and
            // a slow first request (connection set-up) would otherwise leave the server's
            // bucket a fraction fuller than ours at the very edge of the burst.
            burst: (burst - 1.0).max(1.0),
            state: Mutex::new(BucketState {
                level: 0.0,
                at: Instant::now(),
            }),
        })
    }

    fn drained(&self, state: &mut BucketState, now: Instant) {
        let elapsed = now.saturating_duration_since(state.at).as_secs_f64();
        state.level = (state.level - elapsed * self.per_second).max(0.0);
        state.at = now;
    }

    /// Reserves one request and returns how long to wait before sending it.
    pub(crate) fn reserve(&self) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.drained(&mut state, Instant::now());
        let over = state.level + 1.0 - self.burst;
        state.level += 1.0;
        Duration::from_secs_f64((over / self.per_second).max(0.0))
    }

    /// The server said the bucket is full (`QUERY_LIMIT_EXCEEDED`): believe it, so that every
    /// task sharing this client slows down, not only the one that was refused.
    pub(crate) fn saturate(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.drained(&mut state, Instant::now());
        state.level = state.level.max(self.burst);
    }
}

/// The operating-time budget per method (spec §5.2) and the client's pacing around it.
///
/// ```
/// use b24_client::{Client, OperatingBudget};
/// # fn demo() -> Result<(), b24_client::Error> {
/// // A portal configured with 480 s per ten minutes.
/// let client = Client::builder("https://example.bitrix24.com/rest/1/secret/")
///     .operating_budget(OperatingBudget { limit_secs: 480.0, slow_down_from: 0.5 })
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperatingBudget {
    /// Seconds of execution a method may use per ten-minute window (the service default is 420).
    pub limit_secs: f64,
    /// The fraction of the budget from which calls are spaced out (0.5 = half).
    pub slow_down_from: f64,
}

impl Default for OperatingBudget {
    fn default() -> Self {
        Self {
            limit_secs: 420.0,
            slow_down_from: 0.5,
        }
    }
}

/// The last `time.operating` / `operating_reset_at` seen per method.
#[derive(Debug, Default)]
pub(crate) struct OperatingTracker {
    budget: OperatingBudget,
    seen: Mutex<HashMap<String, Reported>>,
}

#[derive(Debug, Clone, Copy)]
struct Reported {
    operating: f64,
    reset_at: i64,
}

pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl OperatingTracker {
    pub(crate) fn new(budget: OperatingBudget) -> Self {
        Self {
            budget,
            seen: Mutex::default(),
        }
    }

    /// Remembers what an answer reported for `method`.
    pub(crate) fn record(&self, method: &str, operating: f64, reset_at: i64) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.insert(
            method.to_ascii_lowercase(),
            Reported {
                operating,
                reset_at,
            },
        );
    }

    /// The method was blocked (429): treat it as at its budget until the reset.
    pub(crate) fn blocked(&self, method: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let key = method.to_ascii_lowercase();
        let limit = self.budget.limit_secs;
        let entry = seen.entry(key).or_insert(Reported {
            operating: limit,
            reset_at: 0,
        });
        entry.operating = entry.operating.max(limit);
    }

    /// The reset time last reported for `method`, if it lies ahead.
    pub(crate) fn reset_in(&self, method: &str) -> Option<Duration> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let reported = seen.get(&method.to_ascii_lowercase())?;
        let left = reported.reset_at as f64 - unix_now();
        (left > 0.0).then(|| Duration::from_secs_f64(left))
    }

    /// How long to hold back the next call of `method`: nothing below the slow-down point, then
    /// a growing share of the time left until the reset, all of it at the budget.
    pub(crate) fn delay(&self, method: &str) -> Duration {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let Some(reported) = seen.get(&method.to_ascii_lowercase()).copied() else {
            return Duration::ZERO;
        };
        drop(seen);
        pacing_delay(
            self.budget,
            reported.operating,
            reported.reset_at,
            unix_now(),
        )
    }
}

/// The pacing rule, on plain numbers so it can be checked exactly.
fn pacing_delay(budget: OperatingBudget, operating: f64, reset_at: i64, now: f64) -> Duration {
    let soft = budget.limit_secs * budget.slow_down_from.clamp(0.0, 1.0);
    if operating <= soft || budget.limit_secs <= 0.0 {
        return Duration::ZERO;
    }
    let share = ((operating - soft) / (budget.limit_secs - soft).max(f64::EPSILON)).min(1.0);
    let until_reset = (reset_at as f64 - now).max(0.0);
    Duration::from_secs_f64(share * until_reset)
}

/// When a failed call is repeated, and how patiently.
///
/// **The policy.** A call is repeated (up to [`max_retries`](Self::max_retries) times, with
/// exponential back-off and jitter, or after the server's `Retry-After`) only when repeating it
/// cannot do anything twice:
///
/// - any call refused by a limiter: `QUERY_LIMIT_EXCEEDED` (503) and `OPERATION_TIME_LIMIT`
///   (429) are answered before the method runs;
/// - any call whose connection could not be opened (nothing was sent);
/// - a **read** (`*.get`, `*.list`, `*.fields`, `server.time`, `profile`, …, or a `batch` of
///   reads) after any transport error or 5xx.
///
/// A **write** that failed ambiguously — sent, but the answer was lost (time-out, reset
/// connection) or was a 5xx — is **never repeated blindly**: it may have been carried out, and
/// repeating `crm.item.add` would create a second item. The error is returned with
/// [`Error::is_ambiguous`](crate::Error::is_ambiguous) set; read the state back before deciding.
/// Deterministic errors (4xx with a Bitrix code) are never repeated. An `expired_token` answer is
/// not a retry: the token is refreshed and the call replayed once (the server rejected it
/// before running it).
///
/// ```
/// use b24_client::{Client, RetryPolicy};
/// use std::time::Duration;
/// # fn demo() -> Result<(), b24_client::Error> {
/// let client = Client::builder("https://example.bitrix24.com/rest/1/secret/")
///     .retry(RetryPolicy { max_retries: 5, ..RetryPolicy::default() })
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Repetitions after the first attempt; 0 disables retrying.
    pub max_retries: u32,
    /// The first back-off delay; it doubles each time.
    pub base_delay: Duration,
    /// The longest single back-off delay.
    pub max_delay: Duration,
    /// The longest wait the client accepts from `Retry-After` or an operating-time reset; a
    /// longer one returns the error instead of sleeping.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            max_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    ///
    /// ```
    /// assert_eq!(b24_client::RetryPolicy::none().max_retries, 0);
    /// ```
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The back-off before retry number `attempt` (0-based): exponential, with jitter between
    /// half and all of it so that many clients do not retry in step.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.min(16)));
        let capped = exp.min(self.max_delay);
        capped.mul_f64(rand::random_range(0.5..=1.0))
    }
}

/// Methods that only read: repeating them after an ambiguous failure is harmless.
pub(crate) fn is_read_only(method: &str) -> bool {
    let method = method.to_ascii_lowercase();
    const GLOBAL_READS: &[&str] = &[
        "server.time",
        "profile",
        "scope",
        "methods",
        "app.info",
        "method.get",
        "user.current",
        "feature.get",
        "event.get",
    ];
    if GLOBAL_READS.contains(&method.as_str()) {
        return true;
    }
    matches!(
        method.rsplit('.').next(),
        Some("get" | "list" | "fields" | "current")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_lets_a_burst_through_and_then_drains_at_the_plan_rate() {
        let bucket = LeakyBucket::new(Plan::Standard).unwrap();
        // The burst of 50, less one request of headroom, passes at once.
        for _ in 0..49 {
            assert_eq!(bucket.reserve(), Duration::ZERO);
        }
        // The next waits for one slot to drain (0.5 s at 2/s), the one after for two.
        assert_eq!(bucket.reserve(), Duration::from_millis(500));
        assert_eq!(bucket.reserve(), Duration::from_millis(1000));
        tokio::time::advance(Duration::from_secs(30)).await;
        // 60 slots drained: the bucket is empty again.
        for _ in 0..49 {
            assert_eq!(bucket.reserve(), Duration::ZERO);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_from_the_server_fills_the_bucket() {
        let bucket = LeakyBucket::new(Plan::Enterprise).unwrap();
        bucket.saturate();
        assert_eq!(bucket.reserve(), Duration::from_millis(200));
        assert_eq!(bucket.reserve(), Duration::from_millis(400));
    }

    #[test]
    fn unlimited_and_nonsense_plans_have_no_bucket() {
        assert!(LeakyBucket::new(Plan::Unlimited).is_none());
        assert!(
            LeakyBucket::new(Plan::Custom {
                per_second: 0.0,
                burst: 5.0
            })
            .is_none()
        );
    }

    #[test]
    fn pacing_starts_at_half_the_budget_and_waits_for_the_reset_at_the_budget() {
        let budget = OperatingBudget::default();
        let now = 1_000.0;
        assert_eq!(pacing_delay(budget, 0.0, 1_600, now), Duration::ZERO);
        assert_eq!(pacing_delay(budget, 210.0, 1_600, now), Duration::ZERO);
        // Three quarters of the budget: half of the 600 s left.
        assert_eq!(
            pacing_delay(budget, 315.0, 1_600, now),
            Duration::from_secs(300)
        );
        assert_eq!(
            pacing_delay(budget, 500.0, 1_600, now),
            Duration::from_secs(600)
        );
        // A reset in the past means nothing to wait for.
        assert_eq!(pacing_delay(budget, 500.0, 900, now), Duration::ZERO);
    }

    #[test]
    fn back_off_doubles_up_to_the_cap_with_jitter() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        for _ in 0..20 {
            let first = policy.backoff(0);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.backoff(2);
            assert!(third >= Duration::from_millis(175) && third <= Duration::from_millis(350));
        }
    }

    #[test]
    fn reads_are_recognised_by_name_and_everything_else_is_a_write() {
        for read in [
            "crm.item.list",
            "crm.activity.binding.list",
            "crm.item.get",
            "CRM.ITEM.FIELDS",
            "server.time",
            "profile",
        ] {
            assert!(is_read_only(read), "{read}");
        }
        for write in [
            "crm.item.add",
            "crm.activity.binding.delete",
            "crm.activity.binding.move",
            "crm.activity.todo.add",
            "batch",
            "some.unknown.method",
        ] {
            assert!(!is_read_only(write), "{write}");
        }
    }
}
