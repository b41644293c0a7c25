//! The state every request shares.

use crate::clock::Clock;
use crate::limits::{LimiterState, PlanCache, DEFAULT_OPERATING_LIMIT_SECS};
use crate::store::{PortalId, Store};
use b24_protocol::params::DecodeLimits;
use std::collections::HashMap;
use std::sync::Arc;

/// One `Clone` struct of `Arc`s, passed to axum with `with_state`.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<Store>,
    /// The time source (a manual clock in tests).
    pub clock: Arc<dyn Clock>,
    /// The portal served (one per installation today).
    pub portal_id: PortalId,
    /// Request size limits.
    pub limits: RequestLimits,
    /// The request-rate plan in force.
    pub plan: Arc<PlanCache>,
    /// Where limiter counters live.
    pub limiter: Arc<dyn LimiterState>,
    /// Operating-time settings.
    pub operating: Arc<OperatingConfig>,
}

/// Bounds on what one request may carry.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Largest accepted body, in bytes.
    pub max_body_bytes: usize,
    /// Parameter decoding bounds (nesting depth, number of variables).
    pub decode: DecodeLimits,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 * 1024 * 1024,
            decode: DecodeLimits::default(),
        }
    }
}

/// The operating-time limiter's settings (spec §5.2).
#[derive(Debug, Clone)]
pub struct OperatingConfig {
    /// Seconds of execution time one (client, method) may use per 10-minute window.
    pub limit_secs: f64,
    /// Simulated execution time per method, added to the measured time. Our methods run in
    /// microseconds; this lets an operator exercise the limiter the way slow real methods would.
    pub simulated_cost: HashMap<String, f64>,
}

impl Default for OperatingConfig {
    fn default() -> Self {
        Self {
            limit_secs: DEFAULT_OPERATING_LIMIT_SECS,
            simulated_cost: HashMap::new(),
        }
    }
}
