//! Every setting the server takes, in one place: [`ServeConfig`] and its parts. The command line
//! fills it in, tests build it with [`ServeConfig::new`]; the `state` module keeps the parts a
//! running server needs. This module imports no other server module but the clock and the
//! limiter's types, so everything can depend on it.

use crate::clock::{Clock, SystemClock};
use crate::limits::{LimiterState, Plan, DEFAULT_OPERATING_LIMIT_SECS};
use b24_protocol::params::DecodeLimits;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// HTTPS settings.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// Address of the HTTPS listener; port 0 picks a free port.
    pub listen: SocketAddr,
    /// A certificate and key to use instead of the local CA's.
    pub cert_and_key: Option<(PathBuf, PathBuf)>,
    /// Extra names (DNS or IP) for the generated server certificate.
    pub names: Vec<String>,
}

/// Everything `serve` needs.
pub struct ServeConfig {
    /// Where the SQLite database (and the TLS files) live.
    pub data_dir: PathBuf,
    /// A `postgres://` URL: the database many server processes can share. `None`: SQLite in
    /// `data_dir`.
    pub database_url: Option<String>,
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Base URL printed in webhook URLs; defaults to `http://{listen}`.
    pub public_url: Option<String>,
    /// HTTPS beside plain HTTP, if wanted.
    pub tls: Option<TlsSettings>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Request size limits.
    pub limits: RequestLimits,
    /// The request-rate plan to set at start; `None` keeps the one stored for the portal.
    pub plan: Option<Plan>,
    /// Operating-time limit and simulated method costs.
    pub operating: OperatingConfig,
    /// Where limiter counters live; `None` picks the store's own (in memory with SQLite, in the
    /// database with PostgreSQL, so limits hold across processes).
    pub limiter: Option<Arc<dyn LimiterState>>,
    /// HTTPS requirement, trusted proxies, token lifetimes.
    pub security: SecurityConfig,
    /// Header size and timeouts that protect the listeners from abusive clients.
    pub transport: TransportLimits,
    /// Event delivery: concurrency, timeout, retries, allowed handler addresses.
    pub events: DeliveryConfig,
    /// The test-double controls under `/_b24/`.
    pub control: ControlConfig,
}

/// The test-double controls (`/_b24/`: reset, snapshots, journal, faults, clock, captured
/// events) and who may use them.
#[derive(Clone)]
pub struct ControlConfig {
    /// Serve the routes at all (`--no-admin` removes them, for shared deployments).
    pub enabled: bool,
    /// Serve peers other than loopback, over HTTPS only (`--admin-remote`).
    pub remote: bool,
    /// The admin token to use (`--admin-token`); `None` keeps the stored one, or makes one on
    /// first start.
    pub token: Option<String>,
    /// Journal entries kept per portal, the oldest dropped first; 0 turns the journal off.
    pub journal_size: u64,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            remote: false,
            token: None,
            journal_size: DEFAULT_JOURNAL_SIZE,
        }
    }
}

/// The admin token is a secret: `Debug` shows only whether one was given.
impl std::fmt::Debug for ControlConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlConfig")
            .field("enabled", &self.enabled)
            .field("remote", &self.remote)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("journal_size", &self.journal_size)
            .finish()
    }
}

/// Journal entries kept per portal unless `--journal-size` says otherwise.
pub const DEFAULT_JOURNAL_SIZE: u64 = 10_000;

/// Bounds that protect the listeners from slow or oversized requests (slowloris and the like).
#[derive(Debug, Clone, Copy)]
pub struct TransportLimits {
    /// Largest request line plus headers, in bytes; larger requests are refused with 431 and the
    /// connection closed. Must allow a 50-command GET batch (about 8.4 KB, spec §13).
    pub max_header_bytes: usize,
    /// A client must send a request's complete headers within this time.
    pub header_read_timeout: Duration,
    /// A new connection must deliver its first complete request within this time.
    pub first_request_timeout: Duration,
}

impl Default for TransportLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: 128 * 1024,
            header_read_timeout: Duration::from_secs(15),
            first_request_timeout: Duration::from_secs(30),
        }
    }
}

impl ServeConfig {
    /// Defaults for a data directory and listen address. Embedded use starts with the
    /// request-rate limit off (`Plan::Unlimited`) and without HTTPS; the CLI's defaults are
    /// `standard` and HTTPS on 127.0.0.1:8443, like a real portal.
    pub fn new(data_dir: PathBuf, listen: SocketAddr) -> Self {
        Self {
            data_dir,
            database_url: None,
            listen,
            public_url: None,
            tls: None,
            clock: Arc::new(SystemClock),
            limits: RequestLimits::default(),
            plan: Some(Plan::Unlimited),
            operating: OperatingConfig::default(),
            limiter: None,
            security: SecurityConfig::default(),
            transport: TransportLimits::default(),
            events: DeliveryConfig::default(),
            control: ControlConfig::default(),
        }
    }
}

/// Transport and token settings.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// Refuse webhook and token calls that did not arrive over HTTPS (`INVALID_REQUEST`).
    pub require_https: bool,
    /// Proxies whose `X-Forwarded-Proto: https` counts as HTTPS.
    pub trusted_proxies: Vec<IpAddr>,
    /// Lifetime of an access token, seconds.
    pub access_token_ttl: f64,
    /// Lifetime of a refresh token, seconds.
    pub refresh_token_ttl: f64,
    /// Lifetime of an authorisation code, seconds.
    pub auth_code_ttl: f64,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            require_https: false,
            trusted_proxies: Vec::new(),
            access_token_ttl: 3600.0,
            refresh_token_ttl: 180.0 * 24.0 * 3600.0,
            auth_code_ttl: 30.0,
        }
    }
}

/// Bounds on what one request may carry.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Largest accepted body, in bytes.
    pub max_body_bytes: usize,
    /// Parameter decoding bounds (nesting depth, number of variables).
    pub decode: DecodeLimits,
    /// A request body must arrive within this time (slow uploads are cut off with 408).
    pub body_read_timeout: Duration,
    /// Largest file `disk.*` stores, in bytes (either upload form; the base64 form is bounded by
    /// `max_body_bytes` first).
    pub max_file_bytes: u64,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 * 1024 * 1024,
            decode: DecodeLimits::default(),
            body_read_timeout: Duration::from_secs(30),
            max_file_bytes: 100 * 1024 * 1024,
        }
    }
}

/// The operating-time limiter's settings (spec §5.2).
#[derive(Debug, Clone)]
pub struct OperatingConfig {
    /// Seconds of execution time one (client, method) may use per 10-minute window.
    pub limit_secs: f64,
    /// Simulated execution time per method, counted instead of the measured time. Our methods
    /// run in microseconds; this lets an operator exercise the limiter the way slow real methods
    /// would, with exact sums (`M=60` and a 480 s budget: the tenth call is the first refused).
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

/// How events are delivered. The defaults suit production; tests shorten the delays.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// A handler must answer within this time.
    pub timeout: Duration,
    /// Attempts per event, the first included.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled before each further one.
    pub first_retry: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// How often the outbox is checked when nothing wakes the sender (retries falling due,
    /// changes made by another process).
    pub poll_interval: Duration,
    /// Which addresses handlers may reach.
    pub targets: TargetPolicy,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            timeout: Duration::from_secs(10),
            max_attempts: 8,
            first_retry: Duration::from_secs(10),
            max_backoff: Duration::from_secs(600),
            poll_interval: Duration::from_secs(1),
            targets: TargetPolicy::default(),
        }
    }
}

impl DeliveryConfig {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        self.first_retry
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Which addresses handler URLs may reach. A server that POSTs wherever its callers say must not
/// become a way into the network it runs in; see SECURITY.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Loopback (127.0.0.0/8, ::1): allowed by default, local test setups need it.
    pub allow_loopback: bool,
    /// Private, link-local, shared, unspecified and multicast ranges: refused unless the operator
    /// opts in (`serve --allow-private-event-targets`).
    pub allow_private: bool,
}

impl Default for TargetPolicy {
    fn default() -> Self {
        Self {
            allow_loopback: true,
            allow_private: false,
        }
    }
}

impl TargetPolicy {
    /// Whether an event may be sent to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if ip.is_loopback() {
            return self.allow_loopback;
        }
        self.allow_private || is_public(ip)
    }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || (a == 198 && (b & 0xfe) == 18)
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}
