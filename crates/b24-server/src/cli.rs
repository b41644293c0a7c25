//! The command line (its contract is relied on by scripts: keep outputs exactly as documented).

use crate::admin;
use crate::app::{Application, ServeConfig};
use crate::domain::permissions::RightGrant;
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
    /// Add deals and to-do activities in bulk (for benchmarks and demos); shows a progress bar.
    ///
    /// Example: b24-server seed --activities 1000000   (about a minute on 2 cores)
    ///
    /// On an empty data directory it first creates the portal, as `serve` would, and prints the
    /// administrator's webhook URL. Works while the server is running.
    #[command(verbatim_doc_comment)]
    Seed(SeedArgs),
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
        Command::Seed(args) => seed(&cli.data_dir, args),
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
    let app = Application::build(config).await?;
    tracing::info!(data_dir = %data_dir.display(), "database ready");
    if let Some(url) = app.first_start_webhook_url() {
        println!("first start: created the portal, administrator (user 1) and a webhook with every scope:");
        println!("  {url}");
        println!("keep this URL: its code is stored only as a digest and cannot be shown again");
        println!("(create more with `b24-server webhook create --user 1`).");
    }
    let shutdown = shutdown_signal()?;
    println!("listening on http://{}", app.local_addr());
    app.run_until_stopped(shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

fn seed(data_dir: &std::path::Path, args: SeedArgs) -> anyhow::Result<()> {
    let store = open_store(data_dir)?;
    let portal_exists = store
        .read(DEFAULT_PORTAL, |tx| Ok(tx.portal_row()?.is_some()))
        .map_err(|e| anyhow::anyhow!("{}", e.to_rest().message))?;
    if !portal_exists {
        let url = format!("http://{DEFAULT_LISTEN}");
        if let Some(first) = admin::bootstrap(&store, DEFAULT_PORTAL, &url)? {
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

/// A future that resolves on Ctrl-C or SIGTERM. The handlers are installed before this returns,
/// so a signal sent as soon as "listening on" is printed stops the server cleanly instead of
/// killing it.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
