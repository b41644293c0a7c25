//! Time as the server sees it, replaceable in tests so that expiry and limits are tested without
//! sleeping.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of Unix time in seconds (with sub-second precision).
pub trait Clock: Send + Sync + 'static {
    /// Now, as Unix seconds.
    fn now(&self) -> f64;

    /// Now on one portal's clock (each portal may have moved its own); the same time for every
    /// portal unless the clock keeps one per portal ([`crate::portals::Portals`]).
    fn now_in(&self, _portal: crate::store::PortalId) -> f64 {
        self.now()
    }
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

/// The portal's time, as the admin API's clock control sets it (`/_b24/clock`): the server's
/// clock moved by an offset, or frozen at an instant. Everything that reads time (token and code
/// expiry, the limiters, the `time` block, created and updated times, event retries) reads this
/// one. The setting is stored with the portal, so every process on a database shares it; this
/// copy is refreshed from there.
pub struct PortalClock {
    base: Arc<dyn Clock>,
    offset_micros: AtomicI64,
    /// [`NOT_FROZEN`] while time runs.
    frozen_micros: AtomicI64,
    /// Counts the settings applied, so that a refresh that read the database before a setting
    /// made here does not put the older one back ([`PortalClock::set_if_unchanged`]).
    generation: Mutex<u64>,
}

const NOT_FROZEN: i64 = i64::MIN;

impl PortalClock {
    /// Real time (the base clock's) until told otherwise.
    pub fn new(base: Arc<dyn Clock>) -> Self {
        Self {
            base,
            offset_micros: AtomicI64::new(0),
            frozen_micros: AtomicI64::new(NOT_FROZEN),
            generation: Mutex::new(0),
        }
    }

    /// Applies a setting: seconds added to the base clock, and the instant time stands still
    /// at, if frozen.
    pub fn set(&self, offset_secs: f64, frozen_at: Option<f64>) {
        let mut generation = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        *generation += 1;
        self.store(offset_secs, frozen_at);
    }

    /// The count of settings applied so far; pass it to [`PortalClock::set_if_unchanged`].
    pub fn generation(&self) -> u64 {
        *self.generation.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a setting read from the database, unless another was applied since `generation`
    /// was taken (that one is newer than what was read). Returns whether it was applied.
    pub fn set_if_unchanged(
        &self,
        generation: u64,
        offset_secs: f64,
        frozen_at: Option<f64>,
    ) -> bool {
        let mut current = self.generation.lock().unwrap_or_else(|e| e.into_inner());
        if *current != generation {
            return false;
        }
        *current += 1;
        self.store(offset_secs, frozen_at);
        true
    }

    fn store(&self, offset_secs: f64, frozen_at: Option<f64>) {
        self.offset_micros
            .store((offset_secs * 1e6) as i64, Ordering::SeqCst);
        self.frozen_micros.store(
            frozen_at.map_or(NOT_FROZEN, |at| (at * 1e6) as i64),
            Ordering::SeqCst,
        );
    }

    /// The setting in force: the offset in seconds and the frozen instant, if any.
    pub fn setting(&self) -> (f64, Option<f64>) {
        let offset = self.offset_micros.load(Ordering::SeqCst) as f64 / 1e6;
        let frozen = self.frozen_micros.load(Ordering::SeqCst);
        (offset, (frozen != NOT_FROZEN).then(|| frozen as f64 / 1e6))
    }

    /// The base clock's time, without the portal's offset.
    pub fn base_now(&self) -> f64 {
        self.base.now()
    }
}

impl Clock for PortalClock {
    fn now(&self) -> f64 {
        match self.setting() {
            (_, Some(frozen)) => frozen,
            (offset, None) => self.base.now() + offset,
        }
    }
}

/// Unix seconds as ISO-8601 in UTC, the way CRM fields are shown (`2024-04-03T10:26:32+00:00`).
pub fn iso(unix: f64) -> String {
    b24_protocol::envelope::php_date(unix)
}
