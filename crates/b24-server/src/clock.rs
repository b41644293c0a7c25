//! Time as the server sees it, replaceable in tests so that expiry and limits are tested without
//! sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of Unix time in seconds (with sub-second precision).
pub trait Clock: Send + Sync + 'static {
    /// Now, as Unix seconds.
    fn now(&self) -> f64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    micros: AtomicU64,
}

impl ManualClock {
    /// A clock stopped at `unix` seconds.
    pub fn new(unix: f64) -> Self {
        Self {
            micros: AtomicU64::new((unix * 1e6) as u64),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, seconds: f64) {
        self.micros
            .fetch_add((seconds * 1e6) as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> f64 {
        self.micros.load(Ordering::SeqCst) as f64 / 1e6
    }
}

/// Unix seconds as ISO-8601 in UTC, the way CRM fields are shown (`2024-04-03T10:26:32+00:00`).
pub fn iso(unix: f64) -> String {
    b24_protocol::envelope::php_date(unix)
}
