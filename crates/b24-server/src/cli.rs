//! The command line (its contract is relied on by scripts: keep outputs exactly as documented).

use crate::admin;
use crate::app::Application;
use crate::clock::Clock as _;
use crate::config::{OperatingConfig, SecurityConfig, ServeConfig, TlsSettings};
use crate::control::admin_token;
use crate::domain::permissions::RightGrant;
use crate::limits::{Plan, DEFAULT_OPERATING_LIMIT_SECS};
use crate::oauth;
use crate::store::{Store, DEFAULT_PORTAL};
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
    /// Show the request journal (every REST call, secrets removed), oldest first.
    Journal(JournalArgs),
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
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "B24_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
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
    #[arg(long, env = "B24_TLS_LISTEN", default_value = "127.0.0.1:8443")]
    pub tls_listen: SocketAddr,
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
    /// Threads that run database work (default: twice the cores, at least 4). SQLite has one
    /// writer, so more threads than that only queue on it and cost context switches; raise it if
    /// slow reads (counted pages over millions of rows) should not wait behind each other.
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

/// The database the global options name.
struct Database {
    data_dir: PathBuf,
    url: Option<String>,
}

fn open_store(db: &Database) -> anyhow::Result<Store> {
    Store::open(
        db.url.as_deref(),
        &db.data_dir,
        Arc::new(crate::clock::SystemClock),
    )
}

impl Cli {
    /// The size of the runtime's blocking pool, where every store call runs.
    pub fn blocking_threads(&self) -> usize {
        let configured = match &self.command {
            Command::Serve(args) => args.blocking_threads,
            _ => None,
        };
        configured.filter(|n| *n > 0).unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            (2 * cores).max(4)
        })
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let db = Database {
        data_dir: cli.data_dir,
        url: cli.database_url,
    };
    match cli.command {
        Command::Serve(args) => serve(db, *args).await,
        Command::User(UserCommand::Create {
            name,
            admin,
            rights,
        }) => {
            let store = open_store(&db)?;
            let id = admin::create_user(&store, DEFAULT_PORTAL, &name, admin, &rights)?;
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
                None => admin::public_url(&store, DEFAULT_PORTAL, https)?,
            };
            let (_, code) = admin::create_webhook(&store, DEFAULT_PORTAL, user, &scopes)?;
            println!("{}", admin::webhook_url(&base, user, &code));
            Ok(())
        }
        Command::Webhook(WebhookCommand::List) => {
            let store = open_store(&db)?;
            let webhooks = admin::list_webhooks(&store, DEFAULT_PORTAL)?;
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
            admin::set_webhook_blocked(&open_store(&db)?, DEFAULT_PORTAL, id, true)?;
            println!("blocked webhook {id}");
            Ok(())
        }
        Command::Webhook(WebhookCommand::Unblock { id }) => {
            admin::set_webhook_blocked(&open_store(&db)?, DEFAULT_PORTAL, id, false)?;
            println!("unblocked webhook {id}");
            Ok(())
        }
        Command::Portal(PortalCommand::DisableRest) => {
            admin::set_rest_enabled(&open_store(&db)?, DEFAULT_PORTAL, false)?;
            println!("REST switched off");
            Ok(())
        }
        Command::Portal(PortalCommand::EnableRest) => {
            admin::set_rest_enabled(&open_store(&db)?, DEFAULT_PORTAL, true)?;
            println!("REST switched on");
            Ok(())
        }
        Command::Portal(PortalCommand::Close) => {
            admin::set_closed(&open_store(&db)?, DEFAULT_PORTAL, true)?;
            println!("portal closed");
            Ok(())
        }
        Command::Portal(PortalCommand::Reopen) => {
            admin::set_closed(&open_store(&db)?, DEFAULT_PORTAL, false)?;
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
        Command::Journal(args) => run_journal(&db, args),
        Command::Portal(PortalCommand::SetPlan { plan }) => {
            let store = open_store(&db)?;
            admin::set_plan(&store, DEFAULT_PORTAL, plan)?;
            println!("plan set to {plan}");
            Ok(())
        }
        Command::Webhook(WebhookCommand::Revoke { id }) => {
            let store = open_store(&db)?;
            admin::revoke_webhook(&store, DEFAULT_PORTAL, id)?;
            println!("revoked webhook {id}");
            Ok(())
        }
    }
}

fn run_app(db: &Database, command: AppCommand) -> anyhow::Result<()> {
    let store = open_store(db)?;
    match command {
        AppCommand::Create {
            name,
            scopes,
            redirect_uri,
        } => {
            let scopes = admin::parse_scopes(Some(&scopes))?;
            let credentials =
                oauth::create_app(&store, DEFAULT_PORTAL, &name, &scopes, &redirect_uri)?;
            println!("{}", serde_json::to_string(&credentials)?);
        }
        AppCommand::Authorize { client_id, user } => {
            let now = crate::clock::SystemClock.now();
            let ttl = SecurityConfig::default().auth_code_ttl;
            println!(
                "{}",
                oauth::authorize(&store, DEFAULT_PORTAL, &client_id, user, now, ttl)?
            );
        }
        AppCommand::Deny { client_id, user } => {
            oauth::deny_user(&store, DEFAULT_PORTAL, &client_id, user)?;
            println!("application {client_id} closed to user {user}");
        }
        AppCommand::Block { client_id } => {
            oauth::set_blocked(&store, DEFAULT_PORTAL, &client_id, true)?;
            println!("blocked application {client_id}");
        }
        AppCommand::Unblock { client_id } => {
            oauth::set_blocked(&store, DEFAULT_PORTAL, &client_id, false)?;
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
            for d in admin::delivery_log(&store, DEFAULT_PORTAL, limit)? {
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
        EventsCommand::Webhook(EventWebhookCommand::Add { event, url }) => {
            let webhook = admin::add_outgoing_webhook(&store, DEFAULT_PORTAL, &event, &url)?;
            println!("{}", serde_json::to_string(&webhook)?);
        }
        EventsCommand::Webhook(EventWebhookCommand::List) => {
            println!("{:<6} {:<24} URL", "ID", "EVENT");
            for h in admin::outgoing_webhooks(&store, DEFAULT_PORTAL)? {
                println!("{:<6} {:<24} {}", h.id, h.event_name, h.handler);
            }
        }
        EventsCommand::Webhook(EventWebhookCommand::Remove { id }) => {
            admin::remove_outgoing_webhook(&store, DEFAULT_PORTAL, id)?;
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

async fn serve(db: Database, args: ServeArgs) -> anyhow::Result<()> {
    let data_dir = db.data_dir;
    let mut config = ServeConfig::new(data_dir.clone(), args.listen);
    config.database_url = db.url;
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
            listen: args.tls_listen,
            cert_and_key: args.tls_cert.zip(args.tls_key),
            names: args.tls_names,
        });
    }
    if !args.listen.ip().is_loopback() && !args.require_https {
        tracing::warn!(
            listen = %args.listen,
            "plain HTTP is reachable from other machines and webhook codes travel in clear; \
             add --require-https (clients then use the HTTPS listener)"
        );
    }
    let plan = args.plan;
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
    app.run_until_stopped(shutdown).await?;
    tracing::info!("stopped");
    Ok(())
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
    let seeded = crate::seed::seed(&store, DEFAULT_PORTAL, plan, |n| bar.set_position(n))?;
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
        .read(DEFAULT_PORTAL, |tx| page(tx, &filter, limit))
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
