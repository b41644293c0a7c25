//! The command line (its contract is relied on by scripts: keep outputs exactly as documented).

use crate::admin;
use crate::app::{Application, ServeConfig};
use crate::domain::permissions::RightGrant;
use crate::limits::{Plan, DEFAULT_OPERATING_LIMIT_SECS};
use crate::state::OperatingConfig;
use crate::store::{Store, DEFAULT_PORTAL};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A self-hosted, wire-compatible Bitrix24 REST API server.
///
/// Quick start: `b24-server serve` creates ./b24-data, an administrator (user 1) and a webhook
/// with every scope, and prints the webhook URL. Call it like the real service:
///
///   curl -s "$URL/crm.item.add" -H 'Content-Type: application/json' \
///        -d '{"entityTypeId":2,"fields":{"title":"First deal"}}'
///
/// Every command works while the server is running: they share the SQLite database in --data-dir.
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
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (plain HTTP). Stops cleanly on Ctrl-C or SIGTERM.
    Serve(ServeArgs),
    /// Manage users and their CRM rights.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage incoming webhooks.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Manage the portal (its request-rate plan).
    #[command(subcommand)]
    Portal(PortalCommand),
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
    #[arg(long, env = "B24_LISTEN", default_value = "127.0.0.1:8080")]
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
    /// operating-time limiter as if the call had taken that long. Example:
    /// --method-cost crm.item.list=60: with the default 480 s budget, the tenth list call within
    /// ten minutes answers 429.
    #[arg(long = "method-cost", value_name = "METHOD=SECONDS")]
    pub method_costs: Vec<MethodCost>,
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
}

fn open_store(data_dir: &std::path::Path) -> anyhow::Result<Store> {
    Store::open_sqlite_in(data_dir, Arc::new(crate::clock::SystemClock))
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(cli.data_dir, args).await,
        Command::User(UserCommand::Create {
            name,
            admin,
            rights,
        }) => {
            let store = open_store(&cli.data_dir)?;
            let id = admin::create_user(&store, DEFAULT_PORTAL, &name, admin, &rights)?;
            println!("{id}");
            Ok(())
        }
        Command::Webhook(WebhookCommand::Create {
            user,
            scopes,
            public_url,
        }) => {
            let scopes = admin::parse_scopes(scopes.as_deref())?;
            let store = open_store(&cli.data_dir)?;
            let base = match public_url {
                Some(url) => url,
                None => admin::public_url(&store, DEFAULT_PORTAL)?,
            };
            let (_, code) = admin::create_webhook(&store, DEFAULT_PORTAL, user, &scopes)?;
            println!("{}", admin::webhook_url(&base, user, &code));
            Ok(())
        }
        Command::Webhook(WebhookCommand::List) => {
            let store = open_store(&cli.data_dir)?;
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
        Command::Portal(PortalCommand::SetPlan { plan }) => {
            let store = open_store(&cli.data_dir)?;
            admin::set_plan(&store, DEFAULT_PORTAL, plan)?;
            println!("plan set to {plan}");
            Ok(())
        }
        Command::Webhook(WebhookCommand::Revoke { id }) => {
            let store = open_store(&cli.data_dir)?;
            admin::revoke_webhook(&store, DEFAULT_PORTAL, id)?;
            println!("revoked webhook {id}");
            Ok(())
        }
    }
}

async fn serve(data_dir: PathBuf, args: ServeArgs) -> anyhow::Result<()> {
    let mut config = ServeConfig::new(data_dir.clone(), args.listen);
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
    let plan = args.plan;
    let app = Application::build(config).await?;
    tracing::info!(data_dir = %data_dir.display(), "database ready");
    if let Some(url) = app.first_start_webhook_url() {
        println!("first start: created the portal, administrator (user 1) and a webhook with every scope:");
        println!("  {url}");
        println!("keep this URL: its code is stored only as a digest and cannot be shown again");
        println!("(create more with `b24-server webhook create --user 1`).");
    }
    tracing::info!(%plan, "request-rate plan");
    println!("listening on http://{}", app.local_addr());
    app.run_until_stopped(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
