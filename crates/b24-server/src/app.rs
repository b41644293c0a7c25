//! Start-up you can call from tests: [`Application::build`] opens the store, binds the listener
//! and bootstraps the portal; [`Application::run_until_stopped`] serves until the shutdown future
//! resolves, letting in-flight requests finish.

use crate::admin::{self, FirstStart};
use crate::clock::{Clock, SystemClock};
use crate::limits::{LimiterState, MemoryLimiterState, Plan, PlanCache};
use crate::state::{AppState, OperatingConfig, RequestLimits};
use crate::store::{Store, DEFAULT_PORTAL};
use anyhow::Context as _;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Everything `serve` needs.
pub struct ServeConfig {
    /// Where the database lives.
    pub data_dir: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Base URL printed in webhook URLs; defaults to `http://{listen}`.
    pub public_url: Option<String>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Request size limits.
    pub limits: RequestLimits,
    /// The request-rate plan to set at start; `None` keeps the one stored for the portal.
    pub plan: Option<Plan>,
    /// Operating-time limit and simulated method costs.
    pub operating: OperatingConfig,
    /// Where limiter counters live (in memory unless a shared backend is given).
    pub limiter: Arc<dyn LimiterState>,
}

impl ServeConfig {
    /// Defaults for a data directory and listen address. Embedded use starts with the
    /// request-rate limit off (`Plan::Unlimited`); the CLI's default is `standard`, like the
    /// real service.
    pub fn new(data_dir: PathBuf, listen: SocketAddr) -> Self {
        Self {
            data_dir,
            listen,
            public_url: None,
            clock: Arc::new(SystemClock),
            limits: RequestLimits::default(),
            plan: Some(Plan::Unlimited),
            operating: OperatingConfig::default(),
            limiter: Arc::new(MemoryLimiterState::default()),
        }
    }
}

/// How often a running server re-reads the portal's plan (so `portal set-plan` applies).
const PLAN_REFRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// A built, bound, not yet serving server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    public_url: String,
    first_start: Option<FirstStart>,
}

impl Application {
    /// Opens the store, binds the listener and bootstraps the portal on first start.
    pub async fn build(config: ServeConfig) -> anyhow::Result<Self> {
        let data_dir = config.data_dir.clone();
        let clock = config.clock.clone();
        let store = tokio::task::spawn_blocking(move || Store::open_sqlite_in(&data_dir, clock))
            .await
            .context("opening the store panicked")??;
        let listener = TcpListener::bind(config.listen).await.with_context(|| {
            format!(
                "could not listen on {}: is another server running there? Choose another address with --listen",
                config.listen
            )
        })?;
        let addr = listener.local_addr()?;
        let public_url = config
            .public_url
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{addr}"));
        let store = Arc::new(store);
        let (first_start, plan) = {
            let store = store.clone();
            let url = public_url.clone();
            let wanted = config.plan;
            tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let first_start = admin::bootstrap(&store, DEFAULT_PORTAL, &url)?;
                if let Some(plan) = wanted {
                    admin::set_plan(&store, DEFAULT_PORTAL, plan)?;
                }
                Ok((first_start, admin::plan(&store, DEFAULT_PORTAL)?))
            })
            .await
            .context("bootstrap panicked")??
        };
        Ok(Self {
            listener,
            state: AppState {
                store,
                clock: config.clock,
                portal_id: DEFAULT_PORTAL,
                limits: config.limits,
                plan: Arc::new(PlanCache::new(plan)),
                limiter: config.limiter,
                operating: Arc::new(config.operating),
            },
            public_url,
            first_start,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The base URL webhook URLs are printed with.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The administrator's webhook URL, on the first start only (its code is never stored in clear).
    pub fn first_start_webhook_url(&self) -> Option<String> {
        self.first_start
            .as_ref()
            .map(|f| admin::webhook_url(&self.public_url, f.admin_user_id, &f.webhook_code))
    }

    /// The shared state (tests use its store for setup).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves; in-flight requests finish first.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let refresher = tokio::spawn(refresh_plan(self.state.clone()));
        let app = crate::http::router(self.state);
        let served = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        refresher.abort();
        served
    }
}

/// Re-reads the portal's plan every second; a failed read keeps the plan in force.
async fn refresh_plan(state: AppState) {
    let mut ticks = tokio::time::interval(PLAN_REFRESH);
    loop {
        ticks.tick().await;
        let store = state.store.clone();
        let portal = state.portal_id;
        match tokio::task::spawn_blocking(move || admin::plan(&store, portal)).await {
            Ok(Ok(plan)) => {
                if plan != state.plan.get() {
                    tracing::info!(%plan, "request-rate plan changed");
                    state.plan.set(plan);
                }
            }
            Ok(Err(e)) => tracing::warn!(error = format!("{e:#}"), "could not re-read the plan"),
            Err(e) => tracing::warn!(error = %e, "plan refresh panicked"),
        }
    }
}
