//! The state every request shares.

use crate::clock::Clock;
use crate::store::{PortalId, Store};
use b24_protocol::params::DecodeLimits;
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
