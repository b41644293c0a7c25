//! The request-rate plan presets (spec §5.1): a leaky bucket per portal and client address.

use std::fmt;
use std::str::FromStr;

/// A request-rate preset.
///
/// ```
/// use b24_protocol::Plan;
/// assert_eq!(Plan::Standard.leaky_bucket(), Some((2.0, 50.0)));
/// assert_eq!("enterprise".parse::<Plan>(), Ok(Plan::Enterprise));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Drain 2 requests/s, burst 50: every plan but Enterprise.
    Standard,
    /// Drain 5 requests/s, burst 250.
    Enterprise,
    /// No request-rate limit.
    Unlimited,
}

impl Plan {
    /// Every plan, for messages.
    pub const ALL: [Plan; 3] = [Plan::Standard, Plan::Enterprise, Plan::Unlimited];

    /// `(drain per second, burst)`, or `None` when unlimited.
    pub fn leaky_bucket(self) -> Option<(f64, f64)> {
        match self {
            Plan::Standard => Some((2.0, 50.0)),
            Plan::Enterprise => Some((5.0, 250.0)),
            Plan::Unlimited => None,
        }
    }

    /// The stored and command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Standard => "standard",
            Plan::Enterprise => "enterprise",
            Plan::Unlimited => "unlimited",
        }
    }

    /// The `LICENSE` code `app.info` reports for the plan.
    pub fn license(self) -> &'static str {
        match self {
            Plan::Standard => "en_std",
            Plan::Enterprise => "en_ent250",
            Plan::Unlimited => "en_ent10000",
        }
    }
}

impl FromStr for Plan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Plan::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown plan '{s}': use standard, enterprise or unlimited"))
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
