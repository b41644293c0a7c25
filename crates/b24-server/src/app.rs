//! Start-up you can call from tests: [`Application::build`] opens the store, binds the listeners
//! (plain HTTP, and HTTPS when configured) and bootstraps the portal;
//! [`Application::run_until_stopped`] serves until the shutdown future resolves, letting
//! in-flight requests finish, and runs the event sender meanwhile.

use crate::admin::{self, FirstStart};
use crate::clock::Clock;
pub use crate::config::{ServeConfig, TlsSettings, TransportLimits};
use crate::control::admin_token::{self, TokenAtStart};
use crate::control::{ControlState, Endpoints};
use crate::portals::Portals;
use crate::state::AppState;
use crate::store::{PortalId, Store, DEFAULT_PORTAL};
use crate::tls::{self, TlsFiles};
use anyhow::Context as _;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How often a running server re-reads the portal's plan and switches (so CLI changes apply).
const PORTAL_REFRESH: Duration = Duration::from_secs(1);

/// The bound HTTPS side.
struct TlsListener {
    listener: std::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    files: TlsFiles,
}

/// A built, bound, not yet serving server.
pub struct Application {
    listener: std::net::TcpListener,
    tls: Option<TlsListener>,
    transport: TransportLimits,
    state: AppState,
    first_start: Option<FirstStart>,
    admin_token: TokenAtStart,
    data_dir: std::path::PathBuf,
    console_code: String,
}

impl Application {
    /// Opens the store, binds the listeners and bootstraps the portal on first start.
    pub async fn build(config: ServeConfig) -> anyhow::Result<Self> {
        let data_dir = config.data_dir.clone();
        // The portal's time (the admin API can move it) is the time of everything, the store's
        // created and updated times included.
        // Each portal has its own clock: the store stamps rows with the time of theirs.
        let portals = Arc::new(Portals::new(config.clock.clone()));
        let clock: Arc<dyn Clock> = portals.clone();
        let database_url = config.database_url.clone();
        let store = tokio::task::spawn_blocking(move || {
            Store::open(database_url.as_deref(), &data_dir, clock)
        })
        .await
        .context("opening the store panicked")??;
        let listener = std::net::TcpListener::bind(config.listen).with_context(|| {
            format!(
                "could not listen on {}: is another server running there? Choose another address with --listen",
                config.listen
            )
        })?;
        let addr = listener.local_addr()?;
        let tls = match &config.tls {
            Some(settings) => Some(bind_tls(&config.data_dir, settings)?),
            None => None,
        };
        let public_url = config
            .public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{addr}"));
        let public_https_url = match (&tls, &config.public_url) {
            (Some(t), _) => format!("https://{}", t.listener.local_addr()?),
            (None, Some(url)) if url.starts_with("https://") => public_url.clone(),
            (None, _) => String::new(),
        };
        let store_limiter = store.default_limiter();
        let backend = match &store {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        };
        let store = Arc::new(store);
        // OAuth answers name the endpoint SDKs should use: HTTPS when we serve it.
        let api_base = if public_https_url.is_empty() || config.public_url.is_some() {
            public_url.clone()
        } else {
            public_https_url.clone()
        };
        portals.set_base_url(&api_base);
        let (first_start, default_portal, (token_digest, admin_token)) = {
            let store = store.clone();
            let (url, https_url) = (public_url.clone(), public_https_url.clone());
            let wanted = config.plan;
            let data_dir = config.data_dir.clone();
            let given_token = config.control.token.clone();
            let portals = portals.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let first_start = admin::bootstrap(&store, DEFAULT_PORTAL, &url, &https_url)?;
                if let Some(plan) = wanted {
                    admin::set_plan(&store, DEFAULT_PORTAL, plan)?;
                }
                admin::name_portal_hosts(&store, &url, &https_url)?;
                let token = admin_token::ensure(&store, &data_dir, given_token.as_deref())?;
                let states = store
                    .read(DEFAULT_PORTAL, |tx| tx.portal_states())
                    .map_err(|e| anyhow::anyhow!("reading the portals: {e}"))?;
                for state in &states {
                    portals.apply(state, None);
                    // Events queued before a restart are sent once the server is up.
                    portals.mark_outbox(state.id);
                }
                let default_portal = portals
                    .default_portal()
                    .context("the default portal is missing after the bootstrap")?;
                Ok((first_start, default_portal, token))
            })
            .await
            .context("bootstrap panicked")??
        };
        let endpoints = Endpoints {
            backend,
            http: format!("http://{addr}"),
            https: match &tls {
                Some(t) => Some(format!("https://{}", t.listener.local_addr()?)),
                None => None,
            },
            ca: tls
                .as_ref()
                .and_then(|t| t.files.ca_cert.as_ref())
                .map(|p| p.display().to_string()),
            names: console_names(&public_url, config.tls.as_ref()),
        };
        let control = ControlState::new(&config.control, endpoints, Some(token_digest));
        let console_code = control.console.issue_code();
        Ok(Self {
            listener,
            tls,
            transport: config.transport,
            state: AppState {
                store,
                clock: default_portal.clock.clone(),
                portal_clock: default_portal.clock.clone(),
                portal_id: DEFAULT_PORTAL,
                portals,
                limits: config.limits,
                plan: default_portal.plan.clone(),
                limiter: config.limiter.unwrap_or(store_limiter),
                operating: Arc::new(config.operating),
                security: Arc::new(config.security),
                portal_flags: default_portal.flags.clone(),
                public_url: default_portal.public_url.clone(),
                events: Arc::new(config.events),
                events_wake: Arc::new(tokio::sync::Notify::new()),
                control: Arc::new(control),
            },
            first_start,
            admin_token,
            data_dir: config.data_dir,
            console_code,
        })
    }

    /// The plain-HTTP address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The HTTPS address actually bound, if HTTPS is on.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().and_then(|t| t.listener.local_addr().ok())
    }

    /// The local CA certificate clients should trust, if the server generated its certificate.
    pub fn ca_cert_path(&self) -> Option<&std::path::Path> {
        self.tls.as_ref().and_then(|t| t.files.ca_cert.as_deref())
    }

    /// The base URL REST and OAuth answers name (HTTPS when served).
    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    /// The administrator's webhook code and user, on the first start only (the code is never
    /// stored in clear).
    pub fn first_start(&self) -> Option<&FirstStart> {
        self.first_start.as_ref()
    }

    /// The admin token, when this start made it (shown once; it is also in the data
    /// directory's `admin-token` file).
    pub fn new_admin_token(&self) -> Option<&str> {
        match &self.admin_token {
            TokenAtStart::Made(token) => Some(token),
            TokenAtStart::Given(_) | TokenAtStart::Kept => None,
        }
    }

    /// The admin token in force, in clear: made or given at this start, else as the data
    /// directory's token file holds it (`None` when that file is gone).
    pub fn admin_token(&self) -> Option<String> {
        match &self.admin_token {
            TokenAtStart::Made(token) | TokenAtStart::Given(token) => Some(token.clone()),
            TokenAtStart::Kept => admin_token::read_token_file(&self.data_dir).ok().flatten(),
        }
    }

    /// The administrator's HTTPS webhook URL, on the first start only, when HTTPS is on.
    pub fn first_start_https_webhook_url(&self) -> Option<String> {
        let base = format!("https://{}", self.tls_addr()?);
        self.first_start
            .as_ref()
            .map(|f| admin::webhook_url(&base, f.admin_user_id, &f.webhook_code))
    }

    /// The administrator's plain-HTTP webhook URL, on the first start only.
    pub fn first_start_webhook_url(&self) -> Option<String> {
        let base = format!("http://{}", self.local_addr());
        self.first_start
            .as_ref()
            .map(|f| admin::webhook_url(&base, f.admin_user_id, &f.webhook_code))
    }

    /// The web console's sign-in link with the one-time code made at this start (printed
    /// beside the webhook; opening it sets the console's session cookie). `None` with
    /// `--no-admin`.
    pub fn console_url(&self) -> Option<String> {
        self.state.control.enabled.then(|| {
            format!(
                "http://{}/_b24/ui/login?code={}",
                self.local_addr(),
                self.console_code
            )
        })
    }

    /// The shared state (tests use its store for setup).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves; in-flight requests finish first (for up to 30 s).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let refresher = tokio::spawn(refresh_portal(self.state.clone()));
        let journal = crate::control::recorder::start(&self.state);
        let sender = tokio::spawn(crate::events::sender::run(
            self.state.clone(),
            (*self.state.events).clone(),
            self.state.events_wake.clone(),
        ));
        let handle: axum_server::Handle<SocketAddr> = axum_server::Handle::new();
        let stopper = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing requests in flight");
            stopper.graceful_shutdown(Some(GRACE_PERIOD));
        });
        let limits = self.transport;
        let configure = |builder: &mut hyper_util::server::conn::auto::Builder<_>| {
            builder
                .http1()
                .max_buf_size(limits.max_header_bytes)
                .header_read_timeout(Some(limits.header_read_timeout));
        };

        let tls_task = match self.tls {
            Some(tls) => {
                let app = tower::Layer::layer(
                    &axum::Extension(crate::http::ViaTls),
                    crate::http::router(self.state.clone()),
                );
                tls.listener.set_nonblocking(true)?;
                let mut server = axum_server::from_tcp_rustls(
                    tls.listener,
                    axum_server::tls_rustls::RustlsConfig::from_config(tls.config),
                )?
                .map(|tls| tls.acceptor(crate::http::cut::CutAcceptor))
                .handle(handle.clone())
                .first_request_timeout(limits.first_request_timeout);
                configure(server.http_builder());
                Some(tokio::spawn(async move {
                    server
                        .serve(axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                            SocketAddr,
                        >(app))
                        .await
                }))
            }
            None => None,
        };

        let app = crate::http::router(self.state);
        self.listener.set_nonblocking(true)?;
        let mut server = axum_server::from_tcp(self.listener)?
            .acceptor(crate::http::cut::CutAcceptor)
            .handle(handle)
            .first_request_timeout(limits.first_request_timeout);
        configure(server.http_builder());
        let served = server
            .serve(
                axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                    SocketAddr,
                >(app),
            )
            .await;
        if let Some(task) = tls_task {
            match task.await {
                Ok(result) => result?,
                Err(e) => tracing::error!(error = %e, "the HTTPS server task failed"),
            }
        }
        refresher.abort();
        if let Some(journal) = journal {
            journal.stop().await;
        }
        // Deliveries cut short are sent again once their claim lapses (at least once).
        sender.abort();
        let _ = sender.await;
        served
    }
}

/// The host names the web console answers to besides loopback ones: the public URL's, and the
/// extra names of the generated certificate.
fn console_names(public_url: &str, tls: Option<&TlsSettings>) -> Vec<String> {
    let mut names: Vec<String> = tls.map(|t| t.names.clone()).unwrap_or_default();
    if let Ok(url) = reqwest::Url::parse(public_url) {
        if let Some(host) = url.host_str() {
            names.push(
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
            );
        }
    }
    names.iter().map(|n| n.to_ascii_lowercase()).collect()
}

/// How long in-flight requests may take to finish after a shutdown signal.
const GRACE_PERIOD: Duration = Duration::from_secs(30);

fn bind_tls(data_dir: &std::path::Path, settings: &TlsSettings) -> anyhow::Result<TlsListener> {
    let files = match &settings.cert_and_key {
        Some((cert, key)) => TlsFiles {
            ca_cert: None,
            cert: cert.clone(),
            key: key.clone(),
        },
        None => tls::ensure_local_ca(data_dir, &settings.names)?,
    };
    let config = tls::server_config(&files)?;
    let listener = std::net::TcpListener::bind(settings.listen).with_context(|| {
        format!(
            "could not listen on {} for HTTPS: choose another address with --tls-listen",
            settings.listen
        )
    })?;
    Ok(TlsListener {
        listener,
        config,
        files,
    })
}

/// Re-reads every portal's plan, switches, clock and fault rules, and the admin token, every
/// second; a failed read keeps what is in force. Portals made elsewhere (the CLI, another
/// process) are taken in, deleted ones dropped. One statement reads all portals, one all live
/// fault rules, whatever their number.
async fn refresh_portal(state: AppState) {
    let mut ticks = tokio::time::interval(PORTAL_REFRESH);
    loop {
        ticks.tick().await;
        let store = state.store.clone();
        let faults_generation = state.control.faults.generation();
        // A setting made through the admin API while this read runs is newer than the read.
        let clock_generations: HashMap<PortalId, u64> = state
            .portals
            .all()
            .iter()
            .map(|p| (p.id, p.clock.generation()))
            .collect();
        let read = move || -> anyhow::Result<_> {
            let (portals, faults) = store
                .read(DEFAULT_PORTAL, |tx| {
                    Ok((
                        (tx.portal_states()?, tx.portals_with_outbox_rows()?),
                        tx.live_faults_of_every_portal()?,
                    ))
                })
                .map_err(|e| anyhow::anyhow!("reading the portals: {e}"))?;
            Ok((portals, faults, admin_token::stored_digest(&store)?))
        };
        match tokio::task::spawn_blocking(read).await {
            Ok(Ok(((portals, outboxes), faults, token_digest))) => {
                let live: HashSet<PortalId> = portals.iter().map(|p| p.id).collect();
                state.portals.retain(&live);
                for portal in &portals {
                    let (_, was_reset) = state
                        .portals
                        .apply(portal, clock_generations.get(&portal.id).copied());
                    // A reset made elsewhere (another process, the CLI): forget this process's
                    // in-memory limiter counters too.
                    if was_reset {
                        state.limiter.forget_portal(portal.id);
                    }
                    if portal.id == DEFAULT_PORTAL {
                        state
                            .control
                            .reset_seen
                            .fetch_max(portal.reset_generation, Ordering::SeqCst);
                    }
                }
                // Events queued elsewhere (another process, the CLI) are sent from here too.
                let mut woken = false;
                for portal in outboxes {
                    if state.portals.get(portal).is_some() {
                        state.portals.mark_outbox(portal);
                        woken = true;
                    }
                }
                if woken {
                    state.events_wake.notify_one();
                }
                let mut rules: HashMap<PortalId, Vec<_>> =
                    live.iter().map(|id| (*id, Vec::new())).collect();
                for (portal, fault) in faults {
                    rules.entry(portal).or_default().push(fault);
                }
                state
                    .control
                    .faults
                    .refresh_all_since(faults_generation, &rules);
                state.control.set_token_digest(token_digest);
            }
            Ok(Err(e)) => tracing::warn!(error = format!("{e:#}"), "could not re-read the portals"),
            // The runtime is shutting down.
            Err(e) if e.is_cancelled() => return,
            Err(e) => tracing::warn!(error = %e, "portal refresh panicked"),
        }
    }
}
