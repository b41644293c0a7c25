//! Plan presets for the request-rate limit, and the running server's view of the portal's plan.

use std::sync::atomic::{AtomicU8, Ordering};

/// A request-rate preset (spec §5.1), defined in `b24-protocol` and shared with the client.
pub use b24_protocol::Plan;

/// The plan in force, read on every request without a lock. The server refreshes it from the
/// database every second, so `b24-server portal set-plan` takes effect while it runs.
#[derive(Debug)]
pub struct PlanCache(AtomicU8);

impl PlanCache {
    /// Starts with `plan`.
    pub fn new(plan: Plan) -> Self {
        Self(AtomicU8::new(plan as u8))
    }

    /// The plan now.
    pub fn get(&self) -> Plan {
        match self.0.load(Ordering::Relaxed) {
            0 => Plan::Standard,
            1 => Plan::Enterprise,
            _ => Plan::Unlimited,
        }
    }

    /// Changes the plan.
    pub fn set(&self, plan: Plan) {
        self.0.store(plan as u8, Ordering::Relaxed);
    }
}
