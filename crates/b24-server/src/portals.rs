//! The portals a running server holds, and each one's runtime state: its clock, switches, plan
//! and base URL. A call finds its portal from its credential (webhook codes and OAuth tokens are
//! unique server-wide) through a map of credential digests, so finding it costs a hash lookup
//! whatever the number of portals; a miss asks the database once. Runtime state is filled
//! lazily, refreshed from the database every second with the other portal settings
//! ([`crate::app`]), and dropped when a portal is deleted.

use crate::clock::{Clock, PortalClock};
use crate::error::ApiError;
use crate::limits::{Plan, PlanCache};
use crate::state::PortalFlags;
use crate::store::portals::PortalState;
use crate::store::{PortalId, Store, DEFAULT_PORTAL};
use foldhash::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, RwLock};

/// The name of the portal every installation has.
pub const DEFAULT_PORTAL_NAME: &str = "default";

/// Credential digests remembered at most; past it the map starts over (a miss costs one
/// indexed read).
const MAX_REMEMBERED_CREDENTIALS: usize = 200_000;

/// Whether `name` is a portal name: `[a-z0-9-]{1,40}`.
pub fn valid_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// One portal's runtime state.
pub struct PortalRuntime {
    /// Its id.
    pub id: PortalId,
    /// Its name.
    pub name: String,
    /// Its time (`/_b24/clock` moves it).
    pub clock: Arc<PortalClock>,
    /// Its switches.
    pub flags: Arc<PortalFlags>,
    /// Its request-rate plan.
    pub plan: Arc<PlanCache>,
    /// The base URL its answers name (`client_endpoint`, event payloads).
    pub public_url: Arc<str>,
    /// The reset count this process has seen, so a reset made elsewhere clears this process's
    /// limiter counters too.
    pub reset_seen: AtomicI64,
}

/// Every portal's runtime state, and the way from a credential or a host name to a portal.
pub struct Portals {
    base: Arc<dyn Clock>,
    by_id: RwLock<HashMap<PortalId, Arc<PortalRuntime>>>,
    by_name: RwLock<HashMap<String, PortalId>>,
    credentials: RwLock<HashMap<[u8; 32], PortalId>>,
    /// The base URL of the default portal's answers, and the one the others' are made from.
    base_url: RwLock<Arc<str>>,
    /// Portals whose event outbox may hold rows, each with the count of times it was marked.
    outbox: Mutex<HashMap<PortalId, u64>>,
}

/// What the credential of a call is, to find its portal by.
#[derive(Debug, Clone, Copy)]
pub enum CredentialKind {
    /// A webhook code.
    Webhook,
    /// An OAuth access token.
    AccessToken,
    /// An OAuth refresh token.
    RefreshToken,
    /// An OAuth authorisation code.
    AuthCode,
}

impl Portals {
    /// No portals yet; times read before the default portal is loaded are `base`'s.
    pub fn new(base: Arc<dyn Clock>) -> Self {
        Self {
            base,
            by_id: RwLock::default(),
            by_name: RwLock::default(),
            credentials: RwLock::default(),
            base_url: RwLock::new(Arc::from("")),
            outbox: Mutex::default(),
        }
    }

    /// Sets the base URL the default portal answers with; the others answer with it on
    /// `{name}.localhost`.
    pub fn set_base_url(&self, url: &str) {
        if let Ok(mut base) = self.base_url.write() {
            *base = Arc::from(url.trim_end_matches('/'));
        }
    }

    /// The base URL a portal's answers name.
    pub fn url_of(&self, id: PortalId, name: &str) -> Arc<str> {
        let base = self
            .base_url
            .read()
            .map(|b| b.clone())
            .unwrap_or_else(|_| Arc::from(""));
        if id == DEFAULT_PORTAL {
            base
        } else {
            Arc::from(portal_url(&base, name))
        }
    }

    /// A portal's runtime state, if this process holds it.
    pub fn get(&self, id: PortalId) -> Option<Arc<PortalRuntime>> {
        self.by_id.read().ok()?.get(&id).cloned()
    }

    /// The default portal's runtime state (loaded at start).
    pub fn default_portal(&self) -> Option<Arc<PortalRuntime>> {
        self.get(DEFAULT_PORTAL)
    }

    /// The id of a portal by name, if this process holds it.
    pub fn id_of(&self, name: &str) -> Option<PortalId> {
        self.by_name.read().ok()?.get(name).copied()
    }

    /// The portals this process holds, by id.
    pub fn all(&self) -> Vec<Arc<PortalRuntime>> {
        let mut all: Vec<_> = self
            .by_id
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        all.sort_by_key(|p| p.id);
        all
    }

    /// Takes a portal's state as read from the database: its runtime is made if this process
    /// did not hold it, else brought up to date (a clock set here since `clock_generation` was
    /// taken is newer than the read and stays). Returns the runtime and whether the portal was
    /// reset since this process last looked.
    pub fn apply(
        &self,
        state: &PortalState,
        clock_generation: Option<u64>,
    ) -> (Arc<PortalRuntime>, bool) {
        let plan: Plan = state.plan.parse().unwrap_or(Plan::Standard);
        if let Some(runtime) = self.get(state.id) {
            match clock_generation {
                Some(generation) => {
                    runtime.clock.set_if_unchanged(
                        generation,
                        state.clock_offset,
                        state.clock_frozen_at,
                    );
                }
                None => runtime.clock.set(state.clock_offset, state.clock_frozen_at),
            }
            runtime.flags.set(state.rest_enabled, state.closed);
            if runtime.plan.get() != plan {
                tracing::info!(portal = %state.name, %plan, "request-rate plan changed");
                runtime.plan.set(plan);
            }
            let seen = runtime
                .reset_seen
                .fetch_max(state.reset_generation, std::sync::atomic::Ordering::SeqCst);
            return (runtime, seen >= 0 && state.reset_generation > seen);
        }
        let clock = Arc::new(PortalClock::new(self.base.clone()));
        clock.set(state.clock_offset, state.clock_frozen_at);
        let runtime = Arc::new(PortalRuntime {
            id: state.id,
            name: state.name.clone(),
            clock,
            flags: Arc::new(PortalFlags::new(state.rest_enabled, state.closed)),
            plan: Arc::new(PlanCache::new(plan)),
            public_url: self.url_of(state.id, &state.name),
            reset_seen: AtomicI64::new(state.reset_generation),
        });
        if let Ok(mut by_id) = self.by_id.write() {
            // Another thread may have loaded it meanwhile: keep the first, which calls use.
            let kept = by_id.entry(state.id).or_insert_with(|| runtime.clone());
            if let Ok(mut by_name) = self.by_name.write() {
                by_name.insert(state.name.clone(), state.id);
            }
            return (kept.clone(), false);
        }
        (runtime, false)
    }

    /// Forgets a portal (deleted here or by another process): its runtime, its name and the
    /// credentials remembered for it.
    pub fn forget(&self, id: PortalId) {
        let removed = self.by_id.write().ok().and_then(|mut m| m.remove(&id));
        if let Some(runtime) = removed {
            if let Ok(mut by_name) = self.by_name.write() {
                if by_name.get(&runtime.name) == Some(&id) {
                    by_name.remove(&runtime.name);
                }
            }
        }
        if let Ok(mut credentials) = self.credentials.write() {
            credentials.retain(|_, portal| *portal != id);
        }
        if let Ok(mut outbox) = self.outbox.lock() {
            outbox.remove(&id);
        }
    }

    /// Forgets every portal not in `live` (the ids the database holds now).
    pub fn retain(&self, live: &std::collections::HashSet<PortalId>) {
        let gone: Vec<PortalId> = self
            .by_id
            .read()
            .map(|m| m.keys().filter(|id| !live.contains(id)).copied().collect())
            .unwrap_or_default();
        for id in gone {
            self.forget(id);
        }
    }

    /// Loads a portal's runtime from the database if this process does not hold it yet
    /// (created by another process or the CLI). Blocking: call it off the async runtime.
    pub fn load(
        &self,
        store: &Store,
        id: PortalId,
    ) -> Result<Option<Arc<PortalRuntime>>, ApiError> {
        if let Some(runtime) = self.get(id) {
            return Ok(Some(runtime));
        }
        let state = store.read(id, |tx| tx.portal_state(id))?;
        Ok(state.map(|state| self.apply(&state, None).0))
    }

    /// Loads a portal's runtime by name, as [`Portals::load`] does.
    pub fn load_by_name(
        &self,
        store: &Store,
        name: &str,
    ) -> Result<Option<Arc<PortalRuntime>>, ApiError> {
        if let Some(runtime) = self.id_of(name).and_then(|id| self.get(id)) {
            return Ok(Some(runtime));
        }
        let id = store.read(DEFAULT_PORTAL, |tx| tx.portal_by_name(name))?;
        match id {
            Some(id) => self.load(store, id),
            None => Ok(None),
        }
    }

    /// The portal a credential (given by its digest) belongs to, if this process has seen it.
    pub fn remembered(&self, digest: &[u8; 32]) -> Option<PortalId> {
        self.credentials.read().ok()?.get(digest).copied()
    }

    /// The portal a credential belongs to: remembered, or looked up by its digest (blocking on
    /// a miss). `None` when no portal has it.
    pub fn find_credential(
        &self,
        store: &Store,
        kind: CredentialKind,
        digest: &[u8; 32],
    ) -> Result<Option<PortalId>, ApiError> {
        if let Some(portal) = self.remembered(digest) {
            return Ok(Some(portal));
        }
        let found = store.read(DEFAULT_PORTAL, |tx| match kind {
            CredentialKind::Webhook => tx.portal_of_webhook(digest),
            CredentialKind::AccessToken => tx.portal_of_access_token(digest),
            CredentialKind::RefreshToken => tx.portal_of_refresh_token(digest),
            CredentialKind::AuthCode => tx.portal_of_auth_code(digest),
        })?;
        if let Some(portal) = found {
            // Codes and refresh tokens work once: not worth remembering.
            if matches!(kind, CredentialKind::Webhook | CredentialKind::AccessToken) {
                if let Ok(mut credentials) = self.credentials.write() {
                    if credentials.len() >= MAX_REMEMBERED_CREDENTIALS {
                        credentials.clear();
                    }
                    credentials.insert(*digest, portal);
                }
            }
        }
        Ok(found)
    }

    /// Notes that a portal's outbox may hold rows, for the event sender.
    pub fn mark_outbox(&self, id: PortalId) {
        if let Ok(mut outbox) = self.outbox.lock() {
            *outbox.entry(id).or_default() += 1;
        }
    }

    /// The portals whose outbox may hold rows, each with its mark count.
    pub fn outbox_portals(&self) -> Vec<(PortalId, u64)> {
        let mut marked: Vec<_> = self
            .outbox
            .lock()
            .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default();
        marked.sort_unstable();
        marked
    }

    /// Drops a portal from the sender's list, unless it was marked again since `count`.
    pub fn outbox_drained(&self, id: PortalId, count: u64) {
        if let Ok(mut outbox) = self.outbox.lock() {
            if outbox.get(&id) == Some(&count) {
                outbox.remove(&id);
            }
        }
    }
}

/// Store timestamps follow each portal's own clock.
impl Clock for Portals {
    fn now(&self) -> f64 {
        self.now_in(DEFAULT_PORTAL)
    }

    fn now_in(&self, portal: PortalId) -> f64 {
        match self.get(portal) {
            Some(runtime) => runtime.clock.now(),
            None => self.base.now(),
        }
    }
}

/// A portal's base URL: the server's, on the host `{name}.localhost` (browsers and most
/// resolvers send `*.localhost` to the loopback address), port kept.
pub fn portal_url(base: &str, name: &str) -> String {
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{name}.localhost{}", port_of(authority))
}

/// `:port` of `host[:port]`, or empty.
pub fn port_of(authority: &str) -> &str {
    match authority.rfind(':') {
        Some(i)
            if !authority[i..].contains(']')
                && authority[i + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            &authority[i..]
        }
        _ => "",
    }
}

/// The portal a `Host` header names: `{name}.localhost[:port]`.
pub fn name_from_host(host: &str) -> Option<&str> {
    let host = host.trim();
    let host = &host[..host.len() - port_of(host).len()];
    let name = host
        .strip_suffix(".localhost")
        .or_else(|| host.strip_suffix(".localhost."))?;
    valid_name(name).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_portal_url_keeps_the_scheme_and_port_of_the_server() {
        assert_eq!(
            portal_url("http://127.0.0.1:8080", "ci-1"),
            "http://ci-1.localhost:8080"
        );
        assert_eq!(
            portal_url("https://b24.example/base", "a"),
            "https://a.localhost"
        );
        assert_eq!(portal_url("http://[::1]:99", "x"), "http://x.localhost:99");
    }

    #[test]
    fn a_host_names_a_portal_only_under_localhost() {
        assert_eq!(name_from_host("ci-1.localhost:8080"), Some("ci-1"));
        assert_eq!(name_from_host("ci-1.localhost"), Some("ci-1"));
        assert_eq!(name_from_host("127.0.0.1:8080"), None);
        assert_eq!(name_from_host("Bad_Name.localhost"), None);
        assert_eq!(name_from_host("a.b.localhost"), None);
    }

    #[test]
    fn names_are_lower_case_letters_digits_and_dashes_up_to_40() {
        assert!(valid_name("default"));
        assert!(valid_name("w-0"));
        assert!(!valid_name(""));
        assert!(!valid_name("A"));
        assert!(!valid_name(&"a".repeat(41)));
        assert!(!valid_name("a_b"));
    }
}
