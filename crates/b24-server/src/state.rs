//! The state every request shares.

use crate::clock::{Clock, PortalClock};
use crate::config::{DeliveryConfig, OperatingConfig, RequestLimits, SecurityConfig};
use crate::control::ControlState;
use crate::limits::{LimiterState, PlanCache};
use crate::portals::{PortalRuntime, Portals};
use crate::store::{PortalId, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One `Clone` struct of `Arc`s, passed to axum with `with_state`.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<Store>,
    /// The portal's time: `portal_clock`, as the clock everything reads.
    pub clock: Arc<dyn Clock>,
    /// The portal clock, to set from the admin API and the refresh.
    pub portal_clock: Arc<PortalClock>,
    /// The portal this state is about: the default portal's until a request names its own
    /// ([`AppState::for_portal`]).
    pub portal_id: PortalId,
    /// Every portal's runtime state.
    pub portals: Arc<Portals>,
    /// Request size limits.
    pub limits: RequestLimits,
    /// The portal's request-rate plan.
    pub plan: Arc<PlanCache>,
    /// Where limiter counters live.
    pub limiter: Arc<dyn LimiterState>,
    /// Operating-time settings.
    pub operating: Arc<OperatingConfig>,
    /// Transport and token settings.
    pub security: Arc<SecurityConfig>,
    /// The portal's switches as last read from the database.
    pub portal_flags: Arc<PortalFlags>,
    /// The base URL OAuth answers name as `client_endpoint` (HTTPS when served).
    pub public_url: Arc<str>,
    /// How events are delivered (and which handler addresses are allowed).
    pub events: Arc<DeliveryConfig>,
    /// Wakes the event sender after a call that may have queued events.
    pub events_wake: Arc<tokio::sync::Notify>,
    /// The test-double controls under `/_b24/`.
    pub control: Arc<ControlState>,
}

impl AppState {
    /// The same state about another portal: its id, clock, plan, switches and base URL.
    pub fn for_portal(&self, portal: &PortalRuntime) -> AppState {
        // Field by field: cloning the whole state and replacing five of its `Arc`s would count
        // each of them up and down again, on every request.
        AppState {
            store: self.store.clone(),
            clock: portal.clock.clone(),
            portal_clock: portal.clock.clone(),
            portal_id: portal.id,
            portals: self.portals.clone(),
            limits: self.limits,
            plan: portal.plan.clone(),
            limiter: self.limiter.clone(),
            operating: self.operating.clone(),
            security: self.security.clone(),
            portal_flags: portal.flags.clone(),
            public_url: portal.public_url.clone(),
            events: self.events.clone(),
            events_wake: self.events_wake.clone(),
            control: self.control.clone(),
        }
    }

    /// Tells the event sender that this portal's outbox may hold new rows.
    pub fn wake_events(&self) {
        self.portals.mark_outbox(self.portal_id);
        self.events_wake.notify_one();
    }
}

/// Portal switches an operator flips from the CLI; read on every request without a lock and
/// refreshed from the database every second.
#[derive(Debug)]
pub struct PortalFlags {
    rest_enabled: AtomicBool,
    closed: AtomicBool,
}

impl PortalFlags {
    /// Flags as given.
    pub fn new(rest_enabled: bool, closed: bool) -> Self {
        Self {
            rest_enabled: AtomicBool::new(rest_enabled),
            closed: AtomicBool::new(closed),
        }
    }

    /// Whether REST is on for the portal's plan.
    pub fn rest_enabled(&self) -> bool {
        self.rest_enabled.load(Ordering::Relaxed)
    }

    /// Whether the portal was closed.
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Updates both flags.
    pub fn set(&self, rest_enabled: bool, closed: bool) {
        self.rest_enabled.store(rest_enabled, Ordering::Relaxed);
        self.closed.store(closed, Ordering::Relaxed);
    }
}
