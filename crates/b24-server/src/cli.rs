//! The command line (its contract is relied on by scripts: keep outputs exactly as documented).

use crate::admin;
use crate::app::Application;
use crate::clock::Clock as _;
use crate::config::{OperatingConfig, SecurityConfig, ServeConfig, TlsSettings};
use crate::control::admin_token;
use crate::domain::permissions::RightGrant;
use crate::limits::{Plan, DEFAULT_OPERATING_LIMIT_SECS};
use crate::oauth;
use crate::store::{PortalId, Store, DEFAULT_PORTAL};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Where `serve` listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// A self-hosted, wire-compatible Bitrix24 REST API server.
///
/// Quick start: `b24-server serve` creates ./b24-data, an administrator (user 1) and a webhook
/// with every scope, and prints the webhook URL. Call it like the real service:
///
///   curl -s "$URL/crm.item.add" -H 'Content-Type: application/json' \
///        -d '{"entityTypeId":2,"fields":{"title":"First deal"}}'
///
/// Every command works while the server is running: they share the SQLite database in --data-dir,
/// or the PostgreSQL database named by --database-url (which many servers can share).
#[derive(Debug, Parser)]
#[command(name = "b24-server", version, about, long_about, verbatim_doc_comment)]
pub struct Cli {
    /// Directory holding the database (created if missing).
    #[arg(
        long,
        env = "B24_DATA_DIR",
        default_value = "./b24-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// A PostgreSQL database to use instead of SQLite, e.g. postgres://user@host:5432/b24.
    /// Several servers may share it; TLS files stay in --data-dir.
    #[arg(long, env = "B24_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// The portal a command is about (`b24-server portal list` shows them); `default` is the
    /// one every server has.
    #[arg(long, env = "B24_PORTAL", default_value = "default", global = true)]
    pub portal: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (plain HTTP). Stops cleanly on Ctrl-C or SIGTERM.
    Serve(Box<ServeArgs>),
    /// Manage users and their CRM rights.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage incoming webhooks.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Add deals and to-do activities in bulk (for benchmarks and demos); shows a progress bar.
    ///
    /// Example: b24-server seed --activities 1000000   (about 15 s on 2 cores)
    ///
    /// On an empty data directory it first creates the portal, as `serve` would, and prints the
    /// administrator's webhook URL. Works while the server is running.
    #[command(verbatim_doc_comment)]
    Seed(SeedArgs),
    /// Manage the portal (its request-rate plan, REST switch, closing).
    #[command(subcommand)]
    Portal(PortalCommand),
    /// Manage OAuth applications.
    #[command(subcommand)]
    App(AppCommand),
    /// Outbound events: the delivery log and outgoing webhooks.
    #[command(subcommand)]
    Events(EventsCommand),
    /// The admin API of the test-double controls (/_b24/): its token.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Fault rules that make chosen calls fail (the twin of /_b24/faults).
    #[command(subcommand)]
    Fault(FaultCommand),
    /// Wipe the portal's CRM data, ids, events, journal, faults, limiter counters and clock
    /// setting (keeping users, webhooks, applications and handlers); prints
    /// {"deleted":{TABLE:COUNT,…}}. With --all also wipes auth and prints the new webhook.
    /// A running server forgets its in-memory limiter counters within a second.
    Reset {
        /// Also wipe users, rights, webhooks, applications, tokens and handlers, then make a new
        /// administrator and webhook (as on first start).
        #[arg(long)]
        all: bool,
    },
    /// Save, restore, list or delete snapshots of the portal's data.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Write the portal's users, types, items, activities, bindings and handlers as one JSON
    /// document (no secrets) to FILE, or to stdout with `-`.
    Export {
        /// The file to write, or `-`.
        file: PathBuf,
    },
    /// Load a document `export` wrote (FILE, or `-` for stdin): replacing the portal's data, or
    /// with --merge writing each row over the one with its id. Prints {"rows":N}.
    Import {
        /// The file to read, or `-`.
        file: PathBuf,
        /// Merge by id instead of replacing.
        #[arg(long)]
        merge: bool,
    },
    /// The portal's clock (as /_b24/clock): show it, or move it forward, freeze it, or return
    /// to real time. Prints {"now","offset_s","frozen"}. A running server follows within a
    /// second.
    Clock {
        /// What to do; without one, show the clock.
        #[command(subcommand)]
        command: Option<ClockCommand>,
    },
    /// Show the request journal (every REST call, secrets removed), oldest first.
    Journal(JournalArgs),
    /// Run a command against a fresh server, then stop the server: one line in any CI.
    ///
    /// Starts an ephemeral server (a temporary data directory; HTTP and HTTPS on free ports
    /// unless --listen/--tls-listen say otherwise), runs the command with these variables set,
    /// stops the server and exits with the command's status:
    ///
    ///   B24_WEBHOOK, B24_HTTPS_WEBHOOK   the administrator's all-scope webhook URLs
    ///   B24_URL, B24_ADMIN_URL           the server, and its admin API (/_b24)
    ///   B24_ADMIN_TOKEN                  the admin token (Authorization: Bearer …)
    ///   B24_DATA_DIR                     the data directory, for the CLI twins (reset, …)
    ///   REQUESTS_CA_BUNDLE, SSL_CERT_FILE, NODE_EXTRA_CA_CERTS   the local CA (HTTPS)
    ///
    /// Example: b24-server exec --plan unlimited -- pytest -q tests/
    #[command(verbatim_doc_comment)]
    Exec(Box<ExecArgs>),
    /// Notifications sent with im.notify, im.notify.system.add and im.notify.personal.add.
    #[command(subcommand)]
    Notifications(NotificationsCommand),
}

/// `notifications` subcommands.
#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// The newest notifications, oldest first: ID, AT, KIND (personal, system), TO (user id),
    /// FROM (user id, 0 for system), TAG and MESSAGE; with --json, one JSON array.
    List {
        /// Only those numbered above this.
        #[arg(long, default_value_t = 0)]
        since: i64,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `exec` options: those of `serve`, then the command after `--`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Server options, as for `serve`.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `snapshot` subcommands: each prints the admin API's answer as JSON.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Save the portal's data under NAME: {"name","rows","created"}.
    Save {
        /// `[A-Za-z0-9._-]{1,64}`.
        name: String,
        /// Overwrite a snapshot of that name.
        #[arg(long)]
        replace: bool,
    },
    /// Replace the portal's data with the snapshot's, ids and sequences included: {"name","rows"}.
    Restore {
        /// The snapshot.
        name: String,
    },
    /// List snapshots: {"snapshots":[{"name","rows","created"}]}.
    List,
    /// Delete a snapshot.
    Delete {
        /// The snapshot.
        name: String,
    },
}

/// `admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Print the admin token (from DATA_DIR/admin-token), or make a new one with --rotate.
    ///
    /// Admin calls send it as `Authorization: Bearer TOKEN`. A running server takes a rotated
    /// token within a second; the old one stops working then.
    Token {
        /// Replace the token with a new one and print it.
        #[arg(long)]
        rotate: bool,
    },
}

/// `events` subcommands.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Show the newest delivery attempts, newest first: ID, AT, EVENT, HANDLER (handler id),
    /// ATTEMPT, OUTCOME (delivered, retry, gave_up), STATUS (the receiver's HTTP status, 0 for
    /// none), URL and DETAIL.
    Log {
        /// How many attempts to show.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Outgoing webhooks: events POSTed to a URL without an application.
    #[command(subcommand)]
    Webhook(EventWebhookCommand),
    /// Captured events (as /_b24/events), oldest first: SEQ, STATUS (pending, delivered,
    /// failed), EVENT, HANDLER (handler id), ATTEMPTS and URL; with --json, the admin API's
    /// answer, bodies included (secrets redacted).
    List {
        /// Only this event, e.g. ONCRMACTIVITYUPDATE (case-insensitive).
        #[arg(long)]
        event: Option<String>,
        /// Only pending, delivered or failed ones.
        #[arg(long)]
        status: Option<String>,
        /// Only those numbered above this.
        #[arg(long, default_value_t = 0)]
        since: i64,
        /// At most this many (up to 1000).
        #[arg(long, default_value_t = 100)]
        limit: u64,
        /// When there are none yet, wait up to this many seconds for the first.
        #[arg(long, default_value_t = 0.0)]
        wait: f64,
        /// Print the JSON answer instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Queue a captured event again for its handler (same data, due now); prints
    /// {"queued":1,"seq":NEW}.
    Redeliver {
        /// Its number, as `events list` shows it.
        seq: i64,
    },
}

/// `events webhook` subcommands.
#[derive(Debug, Subcommand)]
pub enum EventWebhookCommand {
    /// Send an event to a URL; prints {"id","event","url","application_token"} as one JSON
    /// object and nothing else. Payloads carry the token in auth[application_token].
    // The doc comment is the `--help` text, written for a terminal, not for rustdoc.
    #[allow(rustdoc::broken_intra_doc_links)]
    Add {
        /// The event, e.g. ONCRMACTIVITYUPDATE (case-insensitive).
        #[arg(long)]
        event: String,
        /// The handler URL (http or https, a host with a dot).
        #[arg(long)]
        url: String,
    },
    /// List outgoing webhooks (ID, EVENT, URL).
    List,
    /// Remove an outgoing webhook.
    Remove {
        /// Its id, as `events webhook list` shows it.
        id: i64,
    },
}

/// `seed` options.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// How many activities to add.
    #[arg(long)]
    pub activities: u64,
    /// Create one deal for every this many activities; each activity is bound to its deal.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub activities_per_deal: u64,
    /// The user the deals are assigned to and the activities authored by.
    #[arg(long, default_value_t = 1)]
    pub user: i64,
}

/// `app` subcommands.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create an application; prints {"client_id","client_secret","application_token"} as one
    /// JSON object and nothing else. The secrets are shown only here.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes the application may use, e.g. crm,user.
        #[arg(long)]
        scopes: String,
        /// Redirect URI of the application's OAuth flow.
        #[arg(long, default_value = "")]
        redirect_uri: String,
        /// The page the portal opens in its frame (`b24-server app open`), e.g.
        /// `http://app.localhost:5173/`.
        #[arg(long, default_value = "")]
        handler: String,
        /// The page an administrator sees until it calls installFinish; without it the
        /// application is installed when created.
        #[arg(long, default_value = "")]
        install_url: String,
        /// No browser side: installed when created; the install URL (else the handler) gets
        /// the install POST (ONAPPINSTALL) right away.
        #[arg(long)]
        api_only: bool,
    },
    /// Sign a user in to the local portal page and print a one-time launch URL (valid 60 s)
    /// that opens the application (or one of its placements) in a frame, as a portal does.
    Open {
        /// The application's client id.
        #[arg(long)]
        client_id: String,
        /// The user the page is signed in as.
        #[arg(long)]
        user: i64,
        /// Open this bound placement (e.g. CRM_DEAL_DETAIL_TAB) instead of the main page.
        #[arg(long)]
        placement: Option<String>,
        /// The placement's options, a JSON object (e.g. '{"ID":"1"}').
        #[arg(long)]
        options: Option<String>,
    },
    /// Install the application for a user (if needed) and print a one-time authorisation code,
    /// valid 30 s, to exchange at /oauth/token/ with grant_type=authorization_code.
    Authorize {
        /// The application's client id.
        #[arg(long)]
        client_id: String,
        /// The user the tokens will act for.
        #[arg(long)]
        user: i64,
    },
    /// Close the application to a user: their tokens answer 401 user_access_error.
    Deny {
        /// The application's client id.
        #[arg(long)]
        client_id: String,
        /// The user.
        #[arg(long)]
        user: i64,
    },
    /// Block the application: its calls answer 401 OVERLOAD_LIMIT.
    Block {
        /// The application's client id.
        #[arg(long)]
        client_id: String,
    },
    /// Lift a block.
    Unblock {
        /// The application's client id.
        #[arg(long)]
        client_id: String,
    },
}

/// `portal` subcommands.
#[derive(Debug, Subcommand)]
pub enum PortalCommand {
    /// Change the request-rate plan; a running server applies it within a second.
    ///
    /// standard: 2 requests/s, burst 50 · enterprise: 5/s, burst 250 · unlimited: no limit.
    SetPlan {
        /// standard, enterprise or unlimited.
        plan: Plan,
    },
    /// Switch REST off, as on a plan without it: every call answers 401 ACCESS_DENIED
    /// "REST is available only on commercial plans.".
    DisableRest,
    /// Switch REST back on.
    EnableRest,
    /// Close the portal: every call answers 403 PORTAL_DELETED.
    Close,
    /// Reopen a closed portal.
    Reopen,
    /// Create a portal with its own data, an administrator and an all-scope webhook (one per
    /// test, or per test worker). Prints its webhook URL, or with --json
    /// {"portal","webhook","https_webhook","member_id","domain"}.
    Create {
        /// Its name: 1 to 40 of a-z, 0-9 and '-' (generated when left out).
        #[arg(long)]
        name: Option<String>,
        /// Its request-rate plan (the default portal's when left out).
        #[arg(long)]
        plan: Option<Plan>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the portals: NAME, MEMBER_ID, DOMAIN, PLAN (or, with --json, as GET /_b24/portals).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a portal and every row of it, in one transaction (not `default`).
    Delete {
        /// Its name.
        name: String,
    },
}

/// A `--method-cost METHOD=SECONDS` option.
#[derive(Debug, Clone)]
pub struct MethodCost {
    /// The method, lower-case.
    pub method: String,
    /// Seconds of simulated execution time per call.
    pub seconds: f64,
}

impl std::str::FromStr for MethodCost {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (method, seconds) = s
            .split_once('=')
            .ok_or_else(|| format!("'{s}' is not METHOD=SECONDS, e.g. crm.item.list=2.5"))?;
        let seconds: f64 = seconds
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("'{seconds}' is not a number of seconds"))?;
        let method = method.trim().to_ascii_lowercase();
        if crate::methods::lookup(&method).is_none() {
            return Err(format!("unknown method '{method}'"));
        }
        Ok(MethodCost { method, seconds })
    }
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port and the printed lines (and the ready
    /// file) show the real one [default: 127.0.0.1:8080; for `exec`: 127.0.0.1:0].
    #[arg(long, env = "B24_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Base URL clients reach the server at, used in printed webhook URLs
    /// (default: http://LISTEN).
    #[arg(long, env = "B24_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Request-rate plan: standard (2/s, burst 50), enterprise (5/s, burst 250) or unlimited.
    /// Stored with the portal; change it while running with `b24-server portal set-plan`.
    #[arg(long, env = "B24_PLAN", default_value = "standard")]
    pub plan: Plan,
    /// Operating-time budget, in seconds of execution per (webhook or app, method) and
    /// 10-minute window; over it the method answers 429 OPERATION_TIME_LIMIT.
    #[arg(long, env = "B24_OPERATING_LIMIT", default_value_t = DEFAULT_OPERATING_LIMIT_SECS)]
    pub operating_limit: f64,
    /// Simulated execution time for a method, METHOD=SECONDS (repeatable), counted by the
    /// operating-time limiter instead of the call's measured time. Example:
    /// --method-cost crm.item.list=60: with the default 480 s budget, the tenth list call within
    /// ten minutes answers 429.
    #[arg(long = "method-cost", value_name = "METHOD=SECONDS")]
    pub method_costs: Vec<MethodCost>,
    /// Address of the HTTPS listener (the official SDKs speak only HTTPS).
    /// [default: 127.0.0.1:8443; for `exec`: 127.0.0.1:0]
    #[arg(long, env = "B24_TLS_LISTEN")]
    pub tls_listen: Option<SocketAddr>,
    /// Serve plain HTTP only.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key", "tls_names"])]
    pub no_tls: bool,
    /// Extra name (DNS name or IP) for the generated certificate, besides localhost, 127.0.0.1
    /// and ::1; repeatable.
    #[arg(long = "tls-name", value_name = "NAME")]
    pub tls_names: Vec<String>,
    /// Use this certificate chain (PEM) instead of the local CA's; needs --tls-key.
    #[arg(long, requires = "tls_key", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) for --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Refuse webhook and token calls over plain HTTP (401 INVALID_REQUEST "Https required.").
    #[arg(long, env = "B24_REQUIRE_HTTPS")]
    pub require_https: bool,
    /// A reverse proxy whose `X-Forwarded-Proto: https` counts as HTTPS; repeatable.
    #[arg(long = "trusted-proxy", value_name = "IP")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Threads that run database work (default: twice the cores, at least 4; with PostgreSQL 16,
    /// its connections per process). SQLite has one writer, so more threads than that only queue
    /// on it and cost context switches; raise it if slow reads (counted pages over millions of
    /// rows) should not wait behind each other. On PostgreSQL a call holds its thread while it
    /// waits for the database server, which serves many writers at once.
    #[arg(long, env = "B24_BLOCKING_THREADS")]
    pub blocking_threads: Option<usize>,
    /// Lifetime of OAuth access tokens, in seconds.
    #[arg(long, env = "B24_ACCESS_TOKEN_TTL", default_value_t = 3600)]
    pub access_token_ttl: u64,
    /// Let event handlers be on private, link-local and other internal addresses (10/8,
    /// 172.16/12, 192.168/16, 169.254/16, fc00::/7, …). Off by default: the server would
    /// otherwise POST into its own network wherever an application asks.
    #[arg(long, env = "B24_ALLOW_PRIVATE_EVENT_TARGETS")]
    pub allow_private_event_targets: bool,
    /// Refuse event handlers on loopback addresses too (allowed by default for local setups).
    #[arg(long, env = "B24_DENY_LOOPBACK_EVENT_TARGETS")]
    pub deny_loopback_event_targets: bool,
    /// The admin token for the test-double controls under /_b24/ (16 to 256 printable
    /// characters). Without it, one is made on first start, printed once and written to
    /// DATA_DIR/admin-token.
    #[arg(long, env = "B24_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Remove the admin API (/_b24/) altogether, for shared deployments.
    #[arg(long, env = "B24_NO_ADMIN", conflicts_with = "admin_remote")]
    pub no_admin: bool,
    /// Answer admin calls from other machines too, over HTTPS only (by default only clients
    /// on this machine are answered).
    #[arg(long, env = "B24_ADMIN_REMOTE")]
    pub admin_remote: bool,
    /// Once listening, write this file (atomically, mode 0600) as JSON for test fixtures:
    /// {"http","https","webhook","https_webhook","ca","admin_token","pid"}. "webhook" is null
    /// when the data directory existed before (webhook codes are stored only as digests).
    #[arg(long, value_name = "FILE")]
    pub ready_file: Option<PathBuf>,
    /// Keep the data in a new temporary directory, removed when the server stops (SQLite only):
    /// a fresh portal on every start, for tests.
    #[arg(long, conflicts_with = "tls_cert")]
    pub ephemeral: bool,
    /// Journal entries kept per portal (every REST call, for GET /_b24/journal); the oldest go
    /// first. 0 turns the journal off.
    #[arg(long, env = "B24_JOURNAL_SIZE", default_value_t = crate::config::DEFAULT_JOURNAL_SIZE)]
    pub journal_size: u64,
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints the new user's id and nothing else.
    ///
    /// Example: b24-server user create --name "Ann Lee" --right deal.update=own --right contact.read=all
    Create {
        /// Full name ("First Last").
        #[arg(long)]
        name: String,
        /// Make the user an administrator (every right on every type).
        #[arg(long)]
        admin: bool,
        // The doc comment is the `--help` text, written for a terminal, not for rustdoc.
        #[allow(rustdoc::invalid_html_tags)]
        /// A CRM right TYPE.ACTION=LEVEL; repeatable. TYPE: lead|deal|contact|company|<entityTypeId>;
        /// ACTION: read|add|update|delete; LEVEL: none|own|all (own = items assigned to the user).
        #[arg(long = "right", value_name = "TYPE.ACTION=LEVEL")]
        rights: Vec<RightGrant>,
    },
}

/// `webhook` subcommands.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Create a webhook for a user; prints its URL and nothing else. The code is shown only here.
    Create {
        /// Print the https:// form of the URL (the server's HTTPS listener).
        #[arg(long)]
        https: bool,
        /// The user whose rights the webhook carries.
        #[arg(long)]
        user: i64,
        /// Comma-separated scopes, e.g. crm,user (default: every scope).
        #[arg(long)]
        scopes: Option<String>,
        /// Base URL for the printed URL (default: the one the server was last started with).
        #[arg(long)]
        public_url: Option<String>,
    },
    /// List webhooks (id, user, scopes, status, created). Codes cannot be shown: only digests are kept.
    List,
    /// Revoke a webhook; its URL stops working immediately.
    Revoke {
        /// The webhook id, as `webhook list` shows it.
        id: i64,
    },
    /// Block a webhook: its calls answer 401 OVERLOAD_LIMIT until unblocked.
    Block {
        /// The webhook id.
        id: i64,
    },
    /// Lift a block.
    Unblock {
        /// The webhook id.
        id: i64,
    },
}

/// The database and portal the global options name.
struct Database {
    data_dir: PathBuf,
    url: Option<String>,
    /// The `--portal` name.
    portal_name: String,
    /// Its id, found when the store is opened.
    portal: std::sync::OnceLock<PortalId>,
}

impl Database {
    /// The portal `--portal` names (found by [`open_store`], which every command calls first).
    fn portal(&self) -> PortalId {
        self.portal.get().copied().unwrap_or(DEFAULT_PORTAL)
    }
}

fn open_store(db: &Database) -> anyhow::Result<Store> {
    // The portal's time (`b24-server clock`), so that what the CLI writes is dated as the
    // server would date it.
    let clock = Arc::new(crate::clock::PortalClock::new(Arc::new(
        crate::clock::SystemClock,
    )));
    let store = Store::open(db.url.as_deref(), &db.data_dir, clock.clone())?;
    // The default portal is there from the first start on; before it, commands say so.
    let portal = if db.portal_name == crate::portals::DEFAULT_PORTAL_NAME {
        DEFAULT_PORTAL
    } else {
        admin::portal_id(&store, &db.portal_name)?
    };
    let _ = db.portal.set(portal);
    // A database that cannot be read is reported by the command itself, with the advice that
    // goes with its failure (a damaged file, say); until then, real time.
    if let Ok((offset, frozen_at)) = admin::clock_setting(&store, portal) {
        clock.set(offset, frozen_at);
    }
    Ok(store)
}

impl Cli {
    /// The size of the runtime's blocking pool, where every store call runs.
    pub fn blocking_threads(&self) -> usize {
        let configured = match &self.command {
            Command::Serve(args) => args.blocking_threads,
            Command::Exec(args) => args.serve.blocking_threads,
            _ => None,
        };
        let postgres = self
            .database_url
            .as_deref()
            .is_some_and(crate::store::postgres::is_postgres_url);
        configured.filter(|n| *n > 0).unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            let threads = (2 * cores).max(4);
            match postgres {
                true => threads.max(crate::store::postgres::POOL_SIZE as usize),
                false => threads,
            }
        })
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let db = Database {
        data_dir: cli.data_dir,
        url: cli.database_url,
        portal_name: cli.portal,
        portal: std::sync::OnceLock::new(),
    };
    match cli.command {
        Command::Serve(args) => serve(db, *args).await,
        Command::Exec(args) => {
            let code = exec(db, *args).await?;
            // Everything is stopped and removed by now; pass the command's status on.
            use std::io::Write as _;
            let _ = std::io::stdout().flush();
            std::process::exit(code)
        }
        Command::Fault(command) => run_fault(&db, command),
        Command::User(UserCommand::Create {
            name,
            admin,
            rights,
        }) => {
            let store = open_store(&db)?;
            let id = admin::create_user(&store, db.portal(), &name, admin, &rights)?;
            println!("{id}");
            Ok(())
        }
        Command::Webhook(WebhookCommand::Create {
            https,
            user,
            scopes,
            public_url,
        }) => {
            let scopes = admin::parse_scopes(scopes.as_deref())?;
            let store = open_store(&db)?;
            let base = match public_url {
                Some(url) => url,
                None => admin::public_url(&store, db.portal(), https)?,
            };
            let (_, code) = admin::create_webhook(&store, db.portal(), user, &scopes)?;
            println!("{}", admin::webhook_url(&base, user, &code));
            Ok(())
        }
        Command::Webhook(WebhookCommand::List) => {
            let store = open_store(&db)?;
            let webhooks = admin::list_webhooks(&store, db.portal())?;
            println!(
                "{:<6} {:<6} {:<8} {:<26} SCOPES",
                "ID", "USER", "STATUS", "CREATED"
            );
            for w in webhooks {
                let status = if w.active { "active" } else { "revoked" };
                println!(
                    "{:<6} {:<6} {:<8} {:<26} {}",
                    w.id,
                    w.user_id,
                    status,
                    w.created,
                    w.scopes.join(",")
                );
            }
            Ok(())
        }
        Command::Seed(args) => seed(&db, args),
        Command::Webhook(WebhookCommand::Block { id }) => {
            admin::set_webhook_blocked(&open_store(&db)?, db.portal(), id, true)?;
            println!("blocked webhook {id}");
            Ok(())
        }
        Command::Webhook(WebhookCommand::Unblock { id }) => {
            admin::set_webhook_blocked(&open_store(&db)?, db.portal(), id, false)?;
            println!("unblocked webhook {id}");
            Ok(())
        }
        Command::Portal(PortalCommand::DisableRest) => {
            admin::set_rest_enabled(&open_store(&db)?, db.portal(), false)?;
            println!("REST switched off");
            Ok(())
        }
        Command::Portal(PortalCommand::EnableRest) => {
            admin::set_rest_enabled(&open_store(&db)?, db.portal(), true)?;
            println!("REST switched on");
            Ok(())
        }
        Command::Portal(PortalCommand::Close) => {
            admin::set_closed(&open_store(&db)?, db.portal(), true)?;
            println!("portal closed");
            Ok(())
        }
        Command::Portal(PortalCommand::Create { name, plan, json }) => {
            let store = open_store(&db)?;
            let created = admin::create_portal(&store, name.as_deref(), plan)?;
            if json {
                println!("{}", serde_json::to_string(&created)?);
            } else {
                println!("{}", created.webhook);
            }
            Ok(())
        }
        Command::Portal(PortalCommand::List { json }) => {
            let portals = admin::list_portals(&open_store(&db)?)?;
            if json {
                let list: Vec<_> = portals
                    .iter()
                    .map(|p| {
                        serde_json::json!({
                            "portal": p.name, "member_id": p.member_id, "domain": p.domain,
                            "plan": p.plan, "closed": p.closed,
                        })
                    })
                    .collect();
                println!("{}", serde_json::json!({ "portals": list }));
                return Ok(());
            }
            println!("{:<40} {:<32} {:<40} PLAN", "NAME", "MEMBER_ID", "DOMAIN");
            for p in portals {
                println!(
                    "{:<40} {:<32} {:<40} {}",
                    p.name, p.member_id, p.domain, p.plan
                );
            }
            Ok(())
        }
        Command::Portal(PortalCommand::Delete { name }) => {
            let (_, rows) = admin::delete_portal(&open_store(&db)?, &name)?;
            println!("deleted portal {name} ({rows} rows)");
            Ok(())
        }
        Command::Portal(PortalCommand::Reopen) => {
            admin::set_closed(&open_store(&db)?, db.portal(), false)?;
            println!("portal reopened");
            Ok(())
        }
        Command::App(command) => run_app(&db, command),
        Command::Admin(AdminCommand::Token { rotate }) => {
            if rotate {
                let store = open_store(&db)?;
                println!("{}", admin_token::rotate(&store, &db.data_dir)?);
                return Ok(());
            }
            match admin_token::read_token_file(&db.data_dir)? {
                Some(token) => println!("{token}"),
                None => anyhow::bail!(
                    "{} does not exist: start the server once, or make a token with `b24-server admin token --rotate`",
                    admin_token::token_file(&db.data_dir).display()
                ),
            }
            Ok(())
        }
        Command::Events(command) => run_events(&db, command),
        Command::Clock { command } => run_clock(&db, command),
        Command::Journal(args) => run_journal(&db, args),
        Command::Portal(PortalCommand::SetPlan { plan }) => {
            let store = open_store(&db)?;
            admin::set_plan(&store, db.portal(), plan)?;
            println!("plan set to {plan}");
            Ok(())
        }
        Command::Reset { .. }
        | Command::Snapshot(_)
        | Command::Export { .. }
        | Command::Import { .. } => run_state(&db, cli.command),
        Command::Webhook(WebhookCommand::Revoke { id }) => {
            let store = open_store(&db)?;
            admin::revoke_webhook(&store, db.portal(), id)?;
            println!("revoked webhook {id}");
            Ok(())
        }
        Command::Notifications(command) => run_notifications(&db, command),
    }
}

fn run_app(db: &Database, command: AppCommand) -> anyhow::Result<()> {
    let store = open_store(db)?;
    match command {
        AppCommand::Create {
            name,
            scopes,
            redirect_uri,
            handler,
            install_url,
            api_only,
        } => {
            let scopes = admin::parse_scopes(Some(&scopes))?;
            for url in [&handler, &install_url]
                .into_iter()
                .filter(|u| !u.is_empty())
            {
                crate::http::host::check_app_url(url)?;
            }
            let setup = oauth::AppSetup {
                handler_url: handler,
                install_url,
                api_only,
            };
            let credentials =
                oauth::create_app_with(&store, db.portal(), &name, &scopes, &redirect_uri, &setup)?;
            println!("{}", serde_json::to_string(&credentials)?);
        }
        AppCommand::Open {
            client_id,
            user,
            placement,
            options,
        } => {
            let now = portal_now(&store, db.portal())?;
            let url = crate::http::host::launch_url(
                &store,
                db.portal(),
                &client_id,
                user,
                placement.as_deref(),
                options.as_deref(),
                now,
            )?;
            println!("{url}");
        }
        AppCommand::Authorize { client_id, user } => {
            let now = portal_now(&store, db.portal())?;
            let ttl = SecurityConfig::default().auth_code_ttl;
            println!(
                "{}",
                oauth::authorize(&store, db.portal(), &client_id, user, now, ttl)?
            );
        }
        AppCommand::Deny { client_id, user } => {
            oauth::deny_user(&store, db.portal(), &client_id, user)?;
            println!("application {client_id} closed to user {user}");
        }
        AppCommand::Block { client_id } => {
            oauth::set_blocked(&store, db.portal(), &client_id, true)?;
            println!("blocked application {client_id}");
        }
        AppCommand::Unblock { client_id } => {
            oauth::set_blocked(&store, db.portal(), &client_id, false)?;
            println!("unblocked application {client_id}");
        }
    }
    Ok(())
}

fn run_events(db: &Database, command: EventsCommand) -> anyhow::Result<()> {
    let store = open_store(db)?;
    match command {
        EventsCommand::Log { limit } => {
            println!(
                "{:<6} {:<26} {:<22} {:<8} {:<8} {:<9} {:<6} {:<30} DETAIL",
                "ID", "AT", "EVENT", "HANDLER", "ATTEMPT", "OUTCOME", "STATUS", "URL"
            );
            for d in admin::delivery_log(&store, db.portal(), limit)? {
                println!(
                    "{:<6} {:<26} {:<22} {:<8} {:<8} {:<9} {:<6} {:<30} {}",
                    d.id,
                    d.at,
                    d.event_name,
                    d.handler_id,
                    d.attempt,
                    d.outcome,
                    d.status,
                    d.handler,
                    d.detail
                );
            }
        }
        EventsCommand::List {
            event,
            status,
            since,
            limit,
            wait,
            json,
        } => list_captured_events(&store, db.portal(), event, status, since, limit, wait, json)?,
        EventsCommand::Redeliver { seq } => {
            let queued = crate::control::events::redeliver_event(&store, db.portal(), seq)
                .map_err(|e| anyhow::anyhow!("could not queue the event: {e}"))?;
            match queued {
                Some(id) => println!("{}", serde_json::json!({"queued": 1, "seq": id})),
                None => anyhow::bail!(
                    "there is no captured event {seq}; `b24-server events list` shows them"
                ),
            }
        }
        EventsCommand::Webhook(EventWebhookCommand::Add { event, url }) => {
            let webhook = admin::add_outgoing_webhook(&store, db.portal(), &event, &url)?;
            println!("{}", serde_json::to_string(&webhook)?);
        }
        EventsCommand::Webhook(EventWebhookCommand::List) => {
            println!("{:<6} {:<24} URL", "ID", "EVENT");
            for h in admin::outgoing_webhooks(&store, db.portal())? {
                println!("{:<6} {:<24} {}", h.id, h.event_name, h.handler);
            }
        }
        EventsCommand::Webhook(EventWebhookCommand::Remove { id }) => {
            admin::remove_outgoing_webhook(&store, db.portal(), id)?;
            println!("removed outgoing webhook {id}");
        }
    }
    Ok(())
}

/// `println!` that cannot panic: `serve` keeps running when its output went away (`| head -n 3`).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Where `serve` listens for HTTPS unless told otherwise.
const DEFAULT_TLS_LISTEN: &str = "127.0.0.1:8443";

/// The configuration the `serve` options describe; `free_ports` makes port 0 the default
/// (`exec`).
fn serve_config(
    data_dir: PathBuf,
    database_url: Option<String>,
    args: ServeArgs,
    free_ports: bool,
) -> anyhow::Result<ServeConfig> {
    let (default_listen, default_tls_listen) = if free_ports {
        ("127.0.0.1:0", "127.0.0.1:0")
    } else {
        (DEFAULT_LISTEN, DEFAULT_TLS_LISTEN)
    };
    let listen = args
        .listen
        .unwrap_or_else(|| default_listen.parse().expect("a valid default address"));
    let tls_listen = args
        .tls_listen
        .unwrap_or_else(|| default_tls_listen.parse().expect("a valid default address"));
    let mut config = ServeConfig::new(data_dir, listen);
    config.database_url = database_url;
    config.public_url = args.public_url;
    config.plan = Some(args.plan);
    if !(args.operating_limit.is_finite() && args.operating_limit > 0.0) {
        anyhow::bail!("--operating-limit must be a positive number of seconds");
    }
    config.operating = OperatingConfig {
        limit_secs: args.operating_limit,
        simulated_cost: args
            .method_costs
            .into_iter()
            .map(|c| (c.method, c.seconds))
            .collect(),
    };
    config.security = SecurityConfig {
        require_https: args.require_https,
        trusted_proxies: args.trusted_proxies,
        access_token_ttl: args.access_token_ttl as f64,
        ..SecurityConfig::default()
    };
    config.control = crate::config::ControlConfig {
        enabled: !args.no_admin,
        remote: args.admin_remote,
        token: args.admin_token,
        journal_size: args.journal_size,
    };
    if args.admin_remote && args.no_tls {
        anyhow::bail!("--admin-remote answers other machines over HTTPS only: drop --no-tls");
    }
    config.events.targets = crate::config::TargetPolicy {
        allow_loopback: !args.deny_loopback_event_targets,
        allow_private: args.allow_private_event_targets,
    };
    if !args.no_tls {
        config.tls = Some(TlsSettings {
            listen: tls_listen,
            cert_and_key: args.tls_cert.zip(args.tls_key),
            names: args.tls_names,
        });
    }
    if !listen.ip().is_loopback() && !args.require_https {
        tracing::warn!(
            %listen,
            "plain HTTP is reachable from other machines and webhook codes travel in clear; \
             add --require-https (clients then use the HTTPS listener)"
        );
    }
    Ok(config)
}

/// The temporary data directory of `--ephemeral` (kept alive until the server stops), or the
/// configured one.
fn data_dir_for(
    db: &Database,
    ephemeral: bool,
) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    if !ephemeral {
        return Ok((db.data_dir.clone(), None));
    }
    if db.url.is_some() {
        anyhow::bail!(
            "--ephemeral keeps the data in a temporary SQLite directory: drop --database-url (a PostgreSQL database is never thrown away)"
        );
    }
    let dir = crate::fixture::ephemeral_dir()?;
    Ok((dir.path().to_path_buf(), Some(dir)))
}

async fn serve(db: Database, args: ServeArgs) -> anyhow::Result<()> {
    let (data_dir, _ephemeral) = data_dir_for(&db, args.ephemeral)?;
    let ready_file = args.ready_file.clone();
    let plan = args.plan;
    let config = serve_config(data_dir.clone(), db.url, args, false)?;
    let app = Application::build(config).await?;
    let shutdown = shutdown_signal()?;
    tracing::info!(data_dir = %data_dir.display(), "database ready");
    if let Some(url) = app.first_start_webhook_url() {
        say!("first start: created the portal, administrator (user 1) and a webhook with every scope:");
        say!("  {url}");
        say!("keep this URL: its code is stored only as a digest and cannot be shown again");
        say!("(create more with `b24-server webhook create --user 1`).");
    }
    if let Some(token) = app.new_admin_token() {
        say!(
            "admin token for the test-double controls under /_b24/ (also in {}):",
            admin_token::token_file(&data_dir).display()
        );
        say!("  {token}");
    }
    if let Some(url) = app.console_url() {
        say!("web console (this link signs you in once; the admin token works too):");
        say!("  {url}");
    }
    tracing::info!(%plan, "request-rate plan");
    if let Some(ca) = app.ca_cert_path() {
        let ca = ca.display();
        say!("HTTPS uses a local certificate authority: {ca}");
        say!("  trust it with REQUESTS_CA_BUNDLE={ca} (Python requests), SSL_CERT_FILE={ca} (aiohttp),");
        say!("  NODE_EXTRA_CA_CERTS={ca} (Node.js), or curl --cacert {ca}");
    }
    say!("listening on http://{}", app.local_addr());
    if let Some(addr) = app.tls_addr() {
        say!("listening on https://{addr}");
    }
    if let Some(path) = &ready_file {
        crate::fixture::ReadyInfo::of(&app).write(path)?;
        tracing::info!(path = %path.display(), "ready file written");
    }
    app.run_until_stopped(shutdown).await?;
    if let Some(path) = &ready_file {
        // A stale ready file would point fixtures at a server that is gone.
        let _ = std::fs::remove_file(path);
    }
    tracing::info!("stopped");
    Ok(())
}

/// `exec`: an ephemeral server around one command; returns the command's exit code.
async fn exec(db: Database, args: ExecArgs) -> anyhow::Result<i32> {
    let ExecArgs {
        serve: mut serve_args,
        command,
    } = args;
    serve_args.ephemeral = true;
    let (data_dir, _ephemeral) = data_dir_for(&db, true)?;
    let ready_file = serve_args.ready_file.clone();
    let config = serve_config(data_dir.clone(), db.url, serve_args, true)?;
    let app = Application::build(config).await?;
    let info = crate::fixture::ReadyInfo::of(&app);
    if let Some(path) = &ready_file {
        info.write(path)?;
    }
    tracing::info!(http = %info.http, https = ?info.https, "server ready; running the command");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let interrupted = shutdown_signal()?;
    let status = crate::fixture::run_command(&info, &data_dir, &command, interrupted).await;
    let _ = stop.send(());
    match server.await {
        Ok(result) => result?,
        Err(e) => tracing::error!(error = %e, "the server task failed"),
    }
    if let Some(path) = &ready_file {
        let _ = std::fs::remove_file(path);
    }
    Ok(crate::fixture::exit_code(status?))
}

fn seed(db: &Database, args: SeedArgs) -> anyhow::Result<()> {
    let store = open_store(db)?;
    let portal_exists = store
        .read(DEFAULT_PORTAL, |tx| Ok(tx.portal_row()?.is_some()))
        .map_err(|e| anyhow::anyhow!("{}", e.to_rest().message))?;
    if !portal_exists {
        let url = format!("http://{DEFAULT_LISTEN}");
        if let Some(first) = admin::bootstrap(&store, DEFAULT_PORTAL, &url, "")? {
            println!("first start: created the portal, administrator (user 1) and a webhook with every scope:");
            println!(
                "  {}",
                admin::webhook_url(&url, first.admin_user_id, &first.webhook_code)
            );
        }
    }
    let bar = indicatif::ProgressBar::new(args.activities).with_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} activities, {per_sec}, eta {eta}",
        )?
        .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let plan = crate::seed::SeedPlan {
        activities: args.activities,
        activities_per_deal: args.activities_per_deal,
        user_id: args.user,
    };
    let seeded = crate::seed::seed(&store, db.portal(), plan, |n| bar.set_position(n))?;
    bar.finish_and_clear();
    println!(
        "seeded {} activities and {} deal{} in {:.1} s",
        seeded.activities,
        seeded.deals,
        if seeded.deals == 1 { "" } else { "s" },
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A future that resolves on Ctrl-C or SIGTERM. The handlers are installed here, before the
/// server announces itself, so a signal sent right after "listening on" is never missed.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// `fault` subcommands: the fault rules of `/_b24/faults`, on the database directly (a running
/// server applies a change within a second).
#[derive(Debug, Subcommand)]
pub enum FaultCommand {
    /// Add a rule; prints its id (or, with --json, the rule as the admin API shows it).
    ///
    /// Example: fail the third crm.item.add with the rate limiter's 503:
    ///   b24-server fault add --method crm.item.add --after 2 --times 1 --error QUERY_LIMIT_EXCEEDED
    #[command(verbatim_doc_comment)]
    Add(Box<FaultAddArgs>),
    /// List the rules in evaluation order: ID, METHOD, VIA, AFTER, TIMES, REMAINING, HITS,
    /// PROBABILITY, ACTION (or, with --json, as GET /_b24/faults answers).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete every rule.
    Clear,
    /// Delete one rule.
    Remove {
        /// The rule's id.
        id: i64,
    },
}

/// `fault add`: which calls, how often, and one action.
#[derive(Debug, Args)]
pub struct FaultAddArgs {
    /// The method name; `*` stands for any characters (e.g. crm.item.*); `oauth.token` is the
    /// token endpoint. Every method when absent.
    #[arg(long)]
    method: Option<String>,
    /// Only calls of this caller: webhook:ID or app:CLIENT_ID.
    #[arg(long)]
    via: Option<String>,
    /// Answer this error of the table (e.g. QUERY_LIMIT_EXCEEDED, expired_token); with
    /// --status, any error code.
    #[arg(long)]
    error: Option<String>,
    /// With --error: the Retry-After seconds to send.
    #[arg(long)]
    retry_after: Option<u64>,
    /// Answer this HTTP status (400-599) with --error and --description.
    #[arg(long)]
    status: Option<u64>,
    /// With --status: the error_description.
    #[arg(long)]
    description: Option<String>,
    /// Wait this many milliseconds (at most 60000), then answer as usual.
    #[arg(long)]
    delay_ms: Option<u64>,
    /// Run the call (it commits), then close the connection without an answer.
    #[arg(long)]
    commit_then_close: bool,
    /// close: close the connection without an answer; html502: nginx's 502 page.
    #[arg(long)]
    network: Option<String>,
    /// Let this many matching calls through first.
    #[arg(long)]
    after: Option<u64>,
    /// Fire this many times (every time when absent).
    #[arg(long)]
    times: Option<u64>,
    /// The chance (0 to 1) that a matching call fires.
    #[arg(long)]
    probability: Option<f64>,
    /// The seed of the rule's generator (random when absent).
    #[arg(long)]
    seed: Option<u64>,
    /// Print the rule as JSON.
    #[arg(long)]
    json: bool,
}

/// `journal`: the request journal, read from the database (also while the server runs; calls
/// answered in the last 50 ms or so may not be written yet: the server writes in batches).
#[derive(Debug, clap::Args)]
pub struct JournalArgs {
    /// Only this method, or a glob such as crm.item.* (case ignored).
    #[arg(long)]
    method: Option<String>,
    /// Only calls answered with an error.
    #[arg(long)]
    errors: bool,
    /// Only calls after this journal seq (the `next` of an earlier page).
    #[arg(long)]
    since: Option<i64>,
    /// How many entries to show (1 to 1000).
    #[arg(long, default_value_t = 100)]
    limit: i64,
    /// Print the JSON document GET /_b24/journal answers instead of a table.
    #[arg(long)]
    json: bool,
}

impl FaultAddArgs {
    /// The rule as the admin API takes it, to be checked by the same code.
    fn to_json(&self) -> anyhow::Result<serde_json::Value> {
        use serde_json::json;
        let mut actions = Vec::new();
        if let Some(status) = self.status {
            let mut action = json!({"status": status, "error": self.error});
            if let Some(description) = &self.description {
                action["description"] = json!(description);
            }
            actions.push(action);
        } else if let Some(error) = &self.error {
            let mut action = json!({ "error": error });
            if let Some(seconds) = self.retry_after {
                action["retry_after"] = json!(seconds);
            }
            actions.push(action);
        }
        if let Some(ms) = self.delay_ms {
            actions.push(json!({ "delay_ms": ms }));
        }
        if self.commit_then_close {
            actions.push(json!({"commit_then": "close"}));
        }
        if let Some(network) = &self.network {
            actions.push(json!({ "network": network }));
        }
        let [action] = <[serde_json::Value; 1]>::try_from(actions).map_err(|_| {
            anyhow::anyhow!(
                "give one action: --error CODE, --status N --error TEXT --description TEXT, --delay-ms N, --commit-then-close or --network close|html502"
            )
        })?;
        let mut matcher = serde_json::Map::new();
        if let Some(method) = &self.method {
            matcher.insert("method".into(), json!(method));
        }
        if let Some(via) = &self.via {
            matcher.insert("via".into(), json!(via));
        }
        Ok(json!({
            "match": matcher,
            "after": self.after,
            "times": self.times,
            "probability": self.probability,
            "seed": self.seed,
            "action": action,
        }))
    }
}

fn run_fault(db: &Database, command: FaultCommand) -> anyhow::Result<()> {
    use crate::control::faults;
    let store = open_store(db)?;
    let fail = |e: crate::error::ApiError| anyhow::anyhow!("{}", e.to_rest().message);
    match command {
        FaultCommand::Add(args) => {
            let rule = faults::Rule::from_json(&args.to_json()?).map_err(anyhow::Error::msg)?;
            let (shown, _) = faults::add(&store, db.portal(), &rule).map_err(|e| match e {
                faults::AddError::TooMany => anyhow::anyhow!(
                    "a portal holds at most {} fault rules; remove some first",
                    faults::MAX_RULES
                ),
                faults::AddError::Store(e) => fail(e),
            })?;
            if args.json {
                println!("{shown}");
            } else {
                println!("{}", shown["id"]);
            }
        }
        FaultCommand::List { json } => {
            let rules = faults::list(&store, db.portal()).map_err(fail)?;
            if json {
                println!("{}", serde_json::json!({ "faults": rules }));
                return Ok(());
            }
            println!(
                "{:<5} {:<24} {:<20} {:<6} {:<6} {:<9} {:<6} {:<11} ACTION",
                "ID", "METHOD", "VIA", "AFTER", "TIMES", "REMAINING", "HITS", "PROBABILITY"
            );
            let shown = |v: &serde_json::Value| match v {
                serde_json::Value::Null => "*".to_string(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            for rule in rules {
                println!(
                    "{:<5} {:<24} {:<20} {:<6} {:<6} {:<9} {:<6} {:<11} {}",
                    rule["id"],
                    shown(&rule["match"]["method"]),
                    shown(&rule["match"]["via"]),
                    rule["after"],
                    shown(&rule["times"]),
                    shown(&rule["remaining"]),
                    rule["hits"],
                    rule["probability"],
                    rule["action"]
                );
            }
        }
        FaultCommand::Clear => {
            let n = faults::clear(&store, db.portal()).map_err(fail)?;
            println!("removed {n} fault rules");
        }
        FaultCommand::Remove { id } => {
            if !faults::remove(&store, db.portal(), id).map_err(fail)? {
                anyhow::bail!("there is no fault rule {id}; `b24-server fault list` shows them");
            }
            println!("removed fault rule {id}");
        }
    }
    Ok(())
}

/// `clock` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClockCommand {
    /// Move the clock forward by SECONDS (e.g. 3601: every access token issued until now has
    /// expired).
    Advance {
        /// Seconds, 0 or more.
        seconds: f64,
    },
    /// Move the clock forward to an RFC 3339 instant, e.g. 2030-01-01T10:00:00Z.
    Set {
        /// The instant; not before the portal's time.
        at: String,
    },
    /// Stop the clock where it stands.
    Freeze,
    /// Let a frozen clock run again from where it stands.
    Unfreeze,
    /// Back to real time.
    Real,
}

/// The portal's time now, as the server sees it (the stored clock setting over the system clock).
fn portal_now(store: &Store, portal: PortalId) -> anyhow::Result<f64> {
    let clock = crate::clock::PortalClock::new(Arc::new(crate::clock::SystemClock));
    let (offset, frozen_at) = admin::clock_setting(store, portal)?;
    clock.set(offset, frozen_at);
    Ok(clock.now())
}

fn run_clock(db: &Database, command: Option<ClockCommand>) -> anyhow::Result<()> {
    use crate::control::clock::{change_clock, parse_instant, ClockChange, ClockView};
    let store = open_store(db)?;
    let real = || crate::clock::SystemClock.now();
    let change = match command {
        None => {
            let setting = admin::clock_setting(&store, db.portal())?;
            println!(
                "{}",
                serde_json::to_string(&ClockView::of(setting, real()))?
            );
            return Ok(());
        }
        Some(ClockCommand::Advance { seconds }) => ClockChange::Advance(seconds),
        Some(ClockCommand::Set { at }) => {
            ClockChange::Set(parse_instant(&at).map_err(|e| anyhow::anyhow!(e))?)
        }
        Some(ClockCommand::Freeze) => ClockChange::Freeze(true),
        Some(ClockCommand::Unfreeze) => ClockChange::Freeze(false),
        Some(ClockCommand::Real) => ClockChange::Real,
    };
    match change_clock(&store, db.portal(), real, &change) {
        Ok(Ok((_, view))) => println!("{}", serde_json::to_string(&view)?),
        Ok(Err(why)) => anyhow::bail!(why),
        Err(e) => anyhow::bail!("could not change the clock: {e}"),
    }
    Ok(())
}

/// `reset`, `snapshot`, `export` and `import`: the admin API's reset, snapshot and transfer
/// controls, on the database directly.
fn run_state(db: &Database, command: Command) -> anyhow::Result<()> {
    use crate::control::{state, transfer};
    use serde_json::json;
    let store = open_store(db)?;
    let portal = db.portal();
    let fail = |e: crate::control::ControlError| anyhow::anyhow!("{e}");
    let answer = match command {
        Command::Reset { all } => state::reset(&store, portal, !all).map_err(fail)?.answer(),
        Command::Snapshot(SnapshotCommand::Save { name, replace }) => {
            let info = state::save_snapshot(&store, portal, &name, replace).map_err(fail)?;
            json!({"name": info.name, "rows": info.rows, "created": info.created})
        }
        Command::Snapshot(SnapshotCommand::Restore { name }) => {
            let rows = state::restore_snapshot(&store, portal, &name).map_err(fail)?;
            json!({"name": name, "rows": rows})
        }
        Command::Snapshot(SnapshotCommand::List) => {
            let list: Vec<_> = state::list_snapshots(&store, portal)
                .map_err(fail)?
                .into_iter()
                .map(|i| json!({"name": i.name, "rows": i.rows, "created": i.created}))
                .collect();
            json!({ "snapshots": list })
        }
        Command::Snapshot(SnapshotCommand::Delete { name }) => {
            state::delete_snapshot(&store, portal, &name).map_err(fail)?;
            println!("deleted snapshot {name}");
            return Ok(());
        }
        Command::Export { file } => {
            let document = transfer::export(&store, portal).map_err(fail)?;
            let text = serde_json::to_string_pretty(&document)? + "\n";
            if file.as_os_str() == "-" {
                print!("{text}");
            } else {
                std::fs::write(&file, text)
                    .map_err(|e| anyhow::anyhow!("could not write {}: {e}", file.display()))?;
            }
            return Ok(());
        }
        Command::Import { file, merge } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| anyhow::anyhow!("could not read {}: {e}", file.display()))?
            };
            let document: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", file.display()))?;
            let (rows, _) = transfer::import(&store, portal, &document, !merge).map_err(fail)?;
            json!({ "rows": rows })
        }
        _ => unreachable!("run_state is called only for its own commands"),
    };
    println!("{answer}");
    Ok(())
}

/// `events list`: the admin API's listing, waiting up to `wait` seconds for a first entry.
#[allow(clippy::too_many_arguments)]
fn list_captured_events(
    store: &Store,
    portal: PortalId,
    event: Option<String>,
    status: Option<String>,
    since: i64,
    limit: u64,
    wait: f64,
    json: bool,
) -> anyhow::Result<()> {
    use crate::control::events::{list_events, EventQuery, EventStatus, MAX_LIMIT};
    let status = match status {
        None => None,
        Some(s) => Some(
            EventStatus::parse(&s.to_ascii_lowercase())
                .ok_or_else(|| anyhow::anyhow!("--status must be pending, delivered or failed"))?,
        ),
    };
    if limit == 0 || limit > MAX_LIMIT {
        anyhow::bail!("--limit must be from 1 to {MAX_LIMIT}");
    }
    let query = EventQuery {
        since,
        event: event
            .map(|e| EventQuery::event_name(&e))
            .transpose()
            .map_err(|e| anyhow::anyhow!(e))?,
        status,
        limit,
    };
    let row = store
        .read(portal, |tx| tx.portal_row())
        .map_err(|e| anyhow::anyhow!("could not read the portal: {e}"))?
        .ok_or_else(|| anyhow::anyhow!("there is no portal yet: start the server once"))?;
    let public_url = if row.public_https_url.is_empty() {
        row.public_url
    } else {
        row.public_https_url
    };
    let security = SecurityConfig::default();
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_secs_f64(wait.clamp(0.0, 3600.0));
    let page = loop {
        let page = list_events(
            store,
            portal,
            &public_url,
            &security,
            portal_now(store, portal)?,
            &query,
        )
        .map_err(|e| anyhow::anyhow!("could not read the events: {e}"))?;
        let found = page["entries"].as_array().is_some_and(|e| !e.is_empty());
        if found || std::time::Instant::now() >= deadline {
            break page;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    if json {
        println!("{}", serde_json::to_string(&page)?);
        return Ok(());
    }
    println!(
        "{:<6} {:<10} {:<24} {:<8} {:<8} URL",
        "SEQ", "STATUS", "EVENT", "HANDLER", "ATTEMPTS"
    );
    for e in page["entries"].as_array().into_iter().flatten() {
        println!(
            "{:<6} {:<10} {:<24} {:<8} {:<8} {}",
            e["seq"],
            e["status"].as_str().unwrap_or(""),
            e["event"].as_str().unwrap_or(""),
            e["handler_id"],
            e["attempts"].as_array().map_or(0, Vec::len),
            e["handler"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

fn run_journal(db: &Database, args: JournalArgs) -> anyhow::Result<()> {
    use crate::control::journal::{check_limit, page, FilterRequest};
    let request = FilterRequest {
        method: args.method,
        error: args.errors.then(|| "ANY".to_string()),
        via: None,
        since: args.since,
    };
    let refused = |e: crate::control::ControlError| anyhow::anyhow!("{}", e.description());
    let filter = request.check().map_err(refused)?;
    let limit = check_limit(Some(args.limit)).map_err(refused)?;
    let store = open_store(db)?;
    let document = store
        .read(db.portal(), |tx| page(tx, &filter, limit))
        .map_err(|e| anyhow::anyhow!("could not read the journal: {e}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(());
    }
    println!(
        "{:<8} {:<26} {:<24} {:<32} {:<5} {:<28} MS",
        "SEQ", "AT", "VIA", "METHOD", "HTTP", "ERROR"
    );
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
    for e in document["entries"].as_array().into_iter().flatten() {
        println!(
            "{:<8} {:<26} {:<24} {:<32} {:<5} {:<28} {}",
            e["seq"],
            text(&e["at"]),
            text(&e["via"]),
            text(&e["method"]),
            e["http"],
            text(&e["error"]),
            e["ms"]
        );
    }
    Ok(())
}

fn run_notifications(db: &Database, command: NotificationsCommand) -> anyhow::Result<()> {
    let NotificationsCommand::List { since, limit, json } = command;
    let store = open_store(db)?;
    let rows = store
        .read(db.portal(), |tx| tx.notifications(since, limit))
        .map_err(|e| anyhow::anyhow!("could not read the notifications: {e}"))?;
    if json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|n| {
                serde_json::json!({
                    "id": n.id, "at": n.created, "kind": n.kind, "to": n.user_id,
                    "from": n.from_user, "tag": n.tag, "message": n.message,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    println!(
        "{:<6} {:<26} {:<9} {:<6} {:<6} {:<16} MESSAGE",
        "ID", "AT", "KIND", "TO", "FROM", "TAG"
    );
    for n in rows {
        println!(
            "{:<6} {:<26} {:<9} {:<6} {:<6} {:<16} {}",
            n.id,
            n.created,
            n.kind,
            n.user_id,
            n.from_user,
            n.tag,
            n.message.replace('\n', " ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_blocking_pool_defaults_to_the_connection_pool_on_postgresql() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).expect("a valid command line");
        let url = "postgres://b24@db.internal:5432/b24";
        let sqlite = parse(&["b24-server", "--data-dir", "/tmp/d", "serve"]);
        let postgres = parse(&["b24-server", "--database-url", url, "serve"]);
        let chosen = parse(&[
            "b24-server",
            "--database-url",
            url,
            "serve",
            "--blocking-threads",
            "3",
        ]);
        if std::env::var_os("B24_DATABASE_URL").is_none() {
            assert!(sqlite.blocking_threads() >= 4);
            assert_eq!(
                postgres.blocking_threads(),
                sqlite
                    .blocking_threads()
                    .max(crate::store::postgres::POOL_SIZE as usize)
            );
        }
        assert_eq!(chosen.blocking_threads(), 3);
    }
}
