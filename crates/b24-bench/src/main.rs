//! `b24-bench`: how fast b24-server is, and how the cost grows with the data.
//!
//! # Layout
//! - [`server`]: runs the real `b24-server` binary (seed, webhook, serve, stop, memory).
//! - [`client`]: keep-alive HTTP/1.1 connections with as little client CPU as possible.
//! - [`load`]: the workloads and the closed-loop and open-loop drivers.
//! - [`report`]: the Markdown tables printed at the end.

mod baseline;
mod client;
mod load;
mod report;
mod server;

use anyhow::Context as _;
use clap::Parser;
use client::{Connection, Endpoint, Transport};
use load::{
    closed_loop, closed_loop_on, open_loop, Fixture, Measurement, Worker, Workload, CONTACT,
};
use report::{Machine, SizeReport, Startup};
use server::{resident, Backend, ServerBinary};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Load benchmark for b24-server.
///
/// For each data size it seeds a fresh data directory (`b24-server seed`), creates a webhook,
/// starts the real server binary on 127.0.0.1 (with `--plan unlimited` when the server has
/// rate limits), and drives it over a pool of keep-alive HTTP connections. It reports, per size:
///
///   - start-up: process start to the "listening on" line and to the first answered request;
///   - resident memory (VmRSS, and RssAnon: the private part) idle after start-up, the peak
///     under load, and idle again after;
///   - for each scenario, calls per second, p50/p90/p99/max latency and the server's CPU time
///     per call (closed loop: every connection sends its next call as soon as the previous one
///     is answered); the batch scenario also runs on one connection alone;
///   - p99 of binding calls at half of their peak rate (open loop, fixed schedule, latency
///     counted from when a call was due, so a stalled server cannot hide its stalls);
///
/// then the ratios measured in this same run: binding calls/s ÷ server.time calls/s, and latency
/// at each size ÷ latency at the smallest one.
///
/// Build the server first, in release mode, and run the bench in release mode too:
///
///   cargo build --release -p b24-server
///   cargo run --release -p b24-bench                          # 1k, 100k, 1M activities
///   cargo run --release -p b24-bench -- --sizes 1000 -d 2     # a quick look
///   cargo run --release -p b24-bench -- --data-dir /tmp/b24-bench   # keep and reuse seeded data
///   cargo run --release -p b24-bench -- --transport https     # through the HTTPS listener
///
/// Targets (DESIGN.md): binding pairs ≥ 50% of server.time throughput and ≥ 10,000 calls/s on
/// 2 cores; p99 < 2 ms at half of peak load; a 50-command batch < 5 ms; 1M vs 1k within 20%;
/// start-up < 300 ms; idle RSS < 30 MB. The client shares the machine with the server: on a
/// small machine, give it one thread (the default) and compare runs made the same way.
#[derive(Debug, Parser)]
#[command(name = "b24-bench", version, about, long_about, verbatim_doc_comment)]
struct Args {
    /// Data sizes to measure, as numbers of seeded activities (one deal per 10 activities).
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 100_000, 1_000_000])]
    sizes: Vec<u64>,
    /// Scenarios to run at each size, in order (server-time is always run: it is the floor).
    #[arg(long, value_delimiter = ',', value_enum, default_values_t = [
        Workload::ServerTime, Workload::BindingPairs, Workload::BindingList, Workload::Batch,
        Workload::ItemListFirst, Workload::ItemListCursor,
    ])]
    scenarios: Vec<Workload>,
    /// Keep-alive connections (each one sends its next call when the previous is answered).
    #[arg(short, long, default_value_t = 16)]
    connections: usize,
    /// Measured seconds per scenario.
    #[arg(short, long, default_value_t = 5.0)]
    duration: f64,
    /// Unmeasured warm-up seconds before each scenario.
    #[arg(short, long, default_value_t = 1.0)]
    warmup: f64,
    /// Threads of the load generator (1 leaves the most CPU to the server).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Skip the open-loop run at half of the peak binding rate.
    #[arg(long)]
    no_half_load: bool,
    /// The server executable (default: b24-server next to this executable).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Keep seeded data in DIR/activities-N and reuse it on later runs (default: a temporary
    /// directory, removed at the end).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// How the client reaches the server.
    #[arg(long, value_enum, default_value_t = Transport::Http)]
    transport: Transport,
    /// The server's storage backend.
    #[arg(long, value_enum, default_value_t = Backend::Sqlite)]
    backend: Backend,
    /// The PostgreSQL database for `--backend postgres`; each size runs in a fresh schema
    /// `b24_bench_<size>` of it (dropped and recreated with `psql`).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Also measure what the request journal costs: at each size, server.time and binding
    /// pairs on fresh servers with the journal on (the default) and off (`--journal-size 0`),
    /// alternating, `--journal-rounds` times each.
    #[arg(long)]
    journal_compare: bool,
    /// Rounds of the journal comparison (each: one server with the journal, one without).
    #[arg(long, default_value_t = 3)]
    journal_rounds: usize,
    /// Also measure many portals on one server: at each size, server.time and binding pairs
    /// on the seeded portal, then `--extra-portals` portals created through `POST
    /// /_b24/portals` (each creation timed), then the same scenarios again; the created
    /// portals are deleted at the end (each deletion timed too).
    #[arg(long)]
    portals_compare: bool,
    /// How many portals the portal comparison creates.
    #[arg(long, default_value_t = 1000)]
    extra_portals: usize,
    /// Skip the bare hyper baseline: a server answering every request with one fixed JSON body
    /// (this executable, run as a process of its own), driven like the real server at each
    /// size; `server.time` is reported as a ratio of it.
    #[arg(long)]
    no_hyper_baseline: bool,
    /// Also run server.time and binding pairs on PostgreSQL (`--database-url`, a fresh schema
    /// `b24_bench_pg_<size>`, one server process) at each size, reported as ratios of the SQLite
    /// figures of the same run. For `--backend sqlite` (the default).
    #[arg(long)]
    compare_postgres: bool,
    /// Server processes sharing one PostgreSQL database for the scale-out run: at each size,
    /// server.time and binding pairs on one process, then on this many at once (the connections
    /// spread over them round robin; server CPU summed), reported as a ratio. With `--backend
    /// postgres` or `--compare-postgres`; 1 (the default) skips it.
    #[arg(long, default_value_t = 1)]
    processes: usize,
    /// Internal: serve the bare hyper baseline (see `--no-hyper-baseline`) and nothing else.
    #[arg(long, hide = true)]
    baseline_server: bool,
}

/// A fresh, empty schema for one size, and the URL that points a server at it.
fn fresh_postgres_schema(base: &str, schema: &str) -> anyhow::Result<String> {
    let status = std::process::Command::new("psql")
        .args([
            base,
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"),
        ])
        .status()
        .map_err(|e| anyhow::anyhow!("could not run psql to create schema {schema}: {e}"))?;
    anyhow::ensure!(
        status.success(),
        "psql could not create schema {schema} in {base}"
    );
    let separator = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{separator}options=-csearch_path%3D{schema}"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.baseline_server {
        return baseline::serve();
    }
    let runtime = if args.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.client_threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(
        !args.sizes.is_empty() && args.sizes.iter().all(|&n| n > 0),
        "--sizes must list positive numbers"
    );
    let server = ServerBinary::locate(args.server_bin.clone())?;
    let temp = tempfile::tempdir()?;
    let data_root = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let machine = Machine::read(&args, &server);
    println!("{}", machine.describe());
    if !server.has_plan_flag {
        println!("note: this server has no `serve --plan` (no rate limiter yet): run as is.\n");
    }
    let mut reports = Vec::new();
    for &size in &args.sizes {
        let report = measure_size(&args, &server, &data_root, size).await?;
        println!("{}", report::size_section(&report));
        let hyper = match args.no_hyper_baseline {
            true => None,
            false => Some(hyper_baseline(&args, size).await?),
        };
        let postgres = match args.compare_postgres
            || (args.backend == Backend::Postgres && args.processes > 1)
        {
            true => Some(postgres_runs(&args, &server, &data_root, size).await?),
            false => None,
        };
        println!(
            "{}",
            report::comparison_section(&args, &report, hyper.as_ref(), postgres.as_ref())
        );
        if args.journal_compare {
            let rounds = journal_cost(&args, &server, &data_root, size).await?;
            println!("{}", report::journal_section(size, &rounds));
        }
        if args.portals_compare {
            let run = portals_cost(&args, &server, &data_root, size).await?;
            println!("{}", report::portals_section(size, &run));
        }
        reports.push(report);
    }
    println!("{}", report::ratios_section(&reports));
    Ok(())
}

async fn measure_size(
    args: &Args,
    server: &ServerBinary,
    data_root: &std::path::Path,
    activities: u64,
) -> anyhow::Result<SizeReport> {
    let data_dir = data_root.join(format!("activities-{activities}"));
    let server = &match args.backend {
        Backend::Sqlite => server.clone(),
        Backend::Postgres => server.with_database_url(Some(fresh_postgres_schema(
            &args.database_url,
            &format!("b24_bench_{activities}"),
        )?)),
    };
    let seeded_in = if args.backend == Backend::Sqlite && data_dir.join("b24.sqlite3").is_file() {
        eprintln!("reusing seeded data in {}", data_dir.display());
        None
    } else {
        eprintln!(
            "seeding {activities} activities into {}",
            data_dir.display()
        );
        Some(server.seed(&data_dir, activities)?)
    };
    let webhook_path = server.create_webhook(&data_dir)?;
    let running = server
        .start(&data_dir, &webhook_path, args.transport, args.backend)
        .await?;
    let pid = running.pid();
    // Let start-up work (thread pools, caches) finish before calling the process idle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_memory = resident(pid);
    let startup = Startup {
        listening: running.listening_after,
        first_answer: running.first_answer_after,
    };

    let endpoint = running.endpoint.clone();
    let fixture = Arc::new(Fixture {
        activities,
        deals: activities.div_ceil(10),
    });
    let mut workers = open_workers(&endpoint, args.connections).await?;
    let batch_available = batch_is_served(&endpoint).await?;

    let warmup = Duration::from_secs_f64(args.warmup);
    let duration = Duration::from_secs_f64(args.duration);
    let mut scenarios: Vec<(Workload, Measurement)> = Vec::new();
    let mut batch_alone = None;
    let mut order = vec![Workload::ServerTime];
    order.extend(
        args.scenarios
            .iter()
            .copied()
            .filter(|w| *w != Workload::ServerTime),
    );
    for workload in order {
        if workload == Workload::Batch && !batch_available {
            eprintln!("skipping the batch scenario: this server does not serve `batch` yet");
            continue;
        }
        eprintln!("{activities} activities: {}", workload.label());
        let (back, m) =
            closed_loop(workers, workload, fixture.clone(), warmup, duration, pid).await?;
        workers = back;
        scenarios.push((workload, m));
        if workload == Workload::Batch {
            // The batch target is about one batch's own latency, not its wait behind 15 others.
            eprintln!("{activities} activities: one batch at a time");
            let alone = workers.split_off(1);
            let (back, m) =
                closed_loop(workers, workload, fixture.clone(), warmup, duration, pid).await?;
            workers = back;
            workers.extend(alone);
            batch_alone = Some(m);
        }
    }

    let mut half_load = None;
    let pairs_peak = scenarios
        .iter()
        .find(|(w, _)| *w == Workload::BindingPairs)
        .map(|(_, m)| m.requests_per_second());
    if let (false, Some(peak)) = (args.no_half_load, pairs_peak) {
        let rate = peak / 2.0;
        eprintln!("{activities} activities: binding pairs at half of peak ({rate:.0} calls/s)");
        let (back, m) = open_loop(
            workers,
            Workload::BindingPairs,
            fixture.clone(),
            rate,
            duration,
            pid,
        )
        .await?;
        workers = back;
        half_load = Some((rate, m));
    }
    drop(workers);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_memory = resident(pid);
    running.stop().await?;
    Ok(SizeReport {
        activities,
        seeded_in,
        startup,
        idle_memory,
        after_memory,
        scenarios,
        half_load,
        batch_alone,
        batch_available,
    })
}

/// The bare hyper baseline at one size: server.time's workload against a server that answers
/// one fixed body, same connections, same client.
async fn hyper_baseline(args: &Args, activities: u64) -> anyhow::Result<Measurement> {
    let baseline = baseline::Baseline::start("/rest/1/baseline/").await?;
    let mut workers = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let connection = Connection::open(&baseline.endpoint).await?;
        workers.push(Worker::new(connection, 0, i as u64 + 1));
    }
    eprintln!("{activities} activities: bare hyper baseline");
    let fixture = Arc::new(Fixture {
        activities,
        deals: activities.div_ceil(10),
    });
    let (_, m) = closed_loop(
        workers,
        Workload::ServerTime,
        fixture,
        Duration::from_secs_f64(args.warmup),
        Duration::from_secs_f64(args.duration),
        baseline.pid,
    )
    .await?;
    baseline.stop().await;
    Ok(m)
}

/// What the PostgreSQL runs measured at one size.
pub struct PostgresRuns {
    /// server.time and binding pairs on one server process.
    pub one: Vec<(Workload, Measurement)>,
    /// The same on `--processes` processes at once (empty when that is 1).
    pub many: Vec<(Workload, Measurement)>,
}

/// server.time and binding pairs on PostgreSQL: one process, then `--processes` at once on the
/// same schema. With `--backend postgres` the schema `measure_size` seeded is reused; otherwise
/// a fresh one is seeded.
async fn postgres_runs(
    args: &Args,
    server: &ServerBinary,
    data_root: &std::path::Path,
    activities: u64,
) -> anyhow::Result<PostgresRuns> {
    let glue = if args.database_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let (data_dir, url) = match args.backend {
        Backend::Postgres => (
            data_root.join(format!("activities-{activities}")),
            format!(
                "{}{glue}options=-csearch_path%3Db24_bench_{activities}",
                args.database_url
            ),
        ),
        Backend::Sqlite => (
            data_root.join(format!("postgres-{activities}")),
            fresh_postgres_schema(&args.database_url, &format!("b24_bench_pg_{activities}"))?,
        ),
    };
    let server = server.with_database_url(Some(url));
    if args.backend == Backend::Sqlite {
        eprintln!("seeding {activities} activities into PostgreSQL");
        server.seed(&data_dir, activities)?;
    }
    let webhook_path = server.create_webhook(&data_dir)?;
    let fixture = Arc::new(Fixture {
        activities,
        deals: activities.div_ceil(10),
    });
    let warmup = Duration::from_secs_f64(args.warmup);
    let duration = Duration::from_secs_f64(args.duration);
    let scenarios = [Workload::ServerTime, Workload::BindingPairs];
    let mut running = vec![
        server
            .start(&data_dir, &webhook_path, args.transport, Backend::Postgres)
            .await?,
    ];
    let mut one = Vec::new();
    let mut workers = open_workers(&running[0].endpoint, args.connections).await?;
    for workload in scenarios {
        eprintln!(
            "{activities} activities, PostgreSQL, 1 process: {}",
            workload.label()
        );
        let pids = vec![running[0].pid()];
        let (back, m) =
            closed_loop_on(workers, workload, fixture.clone(), warmup, duration, pids).await?;
        workers = back;
        one.push((workload, m));
    }
    drop(workers);
    let mut many = Vec::new();
    if args.processes > 1 {
        for k in 1..args.processes {
            // A data directory each (admin token, certificates); the data is the shared schema.
            let dir = data_dir.join(format!("process-{k}"));
            running.push(
                server
                    .start(&dir, &webhook_path, args.transport, Backend::Postgres)
                    .await?,
            );
        }
        let mut workers = Vec::with_capacity(args.connections);
        for i in 0..args.connections {
            let endpoint = &running[i % running.len()].endpoint;
            workers.extend(
                open_workers(endpoint, 1)
                    .await?
                    .into_iter()
                    .map(|w| w.reseeded(i)),
            );
        }
        for workload in scenarios {
            eprintln!(
                "{activities} activities, PostgreSQL, {} processes: {}",
                args.processes,
                workload.label()
            );
            let pids = running.iter().map(|r| r.pid()).collect();
            let (back, m) =
                closed_loop_on(workers, workload, fixture.clone(), warmup, duration, pids).await?;
            workers = back;
            many.push((workload, m));
        }
    }
    for server in running {
        server.stop().await?;
    }
    Ok(PostgresRuns { one, many })
}

/// One connection per worker, each with a contact of its own to bind activities to.
async fn open_workers(endpoint: &Endpoint, count: usize) -> anyhow::Result<Vec<Worker>> {
    let mut workers = Vec::with_capacity(count);
    for i in 0..count {
        let mut connection = Connection::open(endpoint).await?;
        let added = connection
            .call_ok(
                "crm.item.add",
                format!(r#"{{"entityTypeId":{CONTACT},"fields":{{"title":"bench contact {i}"}}}}"#),
            )
            .await?;
        let contact = added["result"]["item"]["id"]
            .as_i64()
            .context("crm.item.add returned no item id")?;
        workers.push(Worker::new(connection, contact, i as u64 + 1));
    }
    Ok(workers)
}

/// Whether the server serves `batch` (it is being added): an unknown method answers 404.
async fn batch_is_served(endpoint: &Endpoint) -> anyhow::Result<bool> {
    let mut connection = Connection::open(endpoint).await?;
    let answer = connection
        .call("batch", r#"{"cmd":{"t":"server.time"}}"#.to_string())
        .await?;
    Ok(answer.status != 404)
}

/// One round of the journal comparison: server.time and binding pairs with the journal off, then
/// on (or the other way round, every other round, so drift in the machine's load evens out).
pub struct JournalRound {
    /// Measured with `--journal-size 0`.
    pub off: Vec<(Workload, Measurement)>,
    /// Measured with the default journal.
    pub on: Vec<(Workload, Measurement)>,
}

/// Runs the journal comparison on the data of one size (already seeded by [`measure_size`]).
async fn journal_cost(
    args: &Args,
    server: &ServerBinary,
    data_root: &std::path::Path,
    activities: u64,
) -> anyhow::Result<Vec<JournalRound>> {
    anyhow::ensure!(
        server.has_journal_flag,
        "--journal-compare needs a server with `serve --journal-size`"
    );
    anyhow::ensure!(
        args.backend == Backend::Sqlite,
        "--journal-compare runs on SQLite (the seeded data directory is reused)"
    );
    let data_dir = data_root.join(format!("activities-{activities}"));
    let webhook_path = server.create_webhook(&data_dir)?;
    let fixture = Arc::new(Fixture {
        activities,
        deals: activities.div_ceil(10),
    });
    let warmup = Duration::from_secs_f64(args.warmup);
    let duration = Duration::from_secs_f64(args.duration);
    let mut rounds = Vec::new();
    for round in 0..args.journal_rounds.max(1) {
        let mut off = Vec::new();
        let mut on = Vec::new();
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for journal in order {
            let binary = if journal {
                server.clone()
            } else {
                server.with_serve_args(&["--journal-size", "0"])
            };
            let running = binary
                .start(&data_dir, &webhook_path, args.transport, args.backend)
                .await?;
            let pid = running.pid();
            let mut workers = open_workers(&running.endpoint, args.connections).await?;
            for workload in [Workload::ServerTime, Workload::BindingPairs] {
                eprintln!(
                    "{activities} activities, journal {}: {} (round {})",
                    if journal { "on" } else { "off" },
                    workload.label(),
                    round + 1
                );
                let (back, m) =
                    closed_loop(workers, workload, fixture.clone(), warmup, duration, pid).await?;
                workers = back;
                if journal { &mut on } else { &mut off }.push((workload, m));
            }
            drop(workers);
            running.stop().await?;
        }
        rounds.push(JournalRound { off, on });
    }
    Ok(rounds)
}

/// What the portal comparison measured.
pub struct PortalsRun {
    /// The scenarios before the extra portals.
    pub before: Vec<(Workload, Measurement)>,
    /// The same scenarios with them.
    pub after: Vec<(Workload, Measurement)>,
    /// How long each `POST /_b24/portals` took, in order.
    pub creates: Vec<Duration>,
    /// How long each `DELETE /_b24/portals/{name}` took.
    pub deletes: Vec<Duration>,
}

/// Runs the portal comparison on the data of one size (already seeded by [`measure_size`]).
async fn portals_cost(
    args: &Args,
    server: &ServerBinary,
    data_root: &std::path::Path,
    activities: u64,
) -> anyhow::Result<PortalsRun> {
    let data_dir = data_root.join(format!("activities-{activities}"));
    let server = &match args.backend {
        Backend::Sqlite => server.clone(),
        Backend::Postgres => server.with_database_url(Some(format!(
            "{}{}options=-csearch_path%3Db24_bench_{activities}",
            args.database_url,
            if args.database_url.contains('?') {
                '&'
            } else {
                '?'
            }
        ))),
    };
    let webhook_path = server.create_webhook(&data_dir)?;
    let running = server
        .start(&data_dir, &webhook_path, args.transport, args.backend)
        .await?;
    let pid = running.pid();
    let token = std::fs::read_to_string(data_dir.join("admin-token"))
        .context("the server writes its admin token to the data directory")?
        .trim()
        .to_string();
    let fixture = Arc::new(Fixture {
        activities,
        deals: activities.div_ceil(10),
    });
    let warmup = Duration::from_secs_f64(args.warmup);
    let duration = Duration::from_secs_f64(args.duration);
    let mut workers = open_workers(&running.endpoint, args.connections).await?;
    let scenarios = [Workload::ServerTime, Workload::BindingPairs];
    let mut before = Vec::new();
    for workload in scenarios {
        eprintln!("{activities} activities, 1 portal: {}", workload.label());
        let (back, m) =
            closed_loop(workers, workload, fixture.clone(), warmup, duration, pid).await?;
        workers = back;
        before.push((workload, m));
    }
    let mut admin = Connection::open(&running.endpoint).await?;
    let mut creates = Vec::with_capacity(args.extra_portals);
    let mut names = Vec::with_capacity(args.extra_portals);
    eprintln!(
        "{activities} activities: creating {} portals",
        args.extra_portals
    );
    for i in 0..args.extra_portals {
        let name = format!("bench-{i}");
        let started = std::time::Instant::now();
        let answer = admin
            .admin(
                hyper::Method::POST,
                "/portals",
                &token,
                Some(format!(r#"{{"name":"{name}"}}"#)),
            )
            .await?;
        creates.push(started.elapsed());
        anyhow::ensure!(
            answer.status == 201,
            "POST /_b24/portals answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        names.push(name);
    }
    let mut after = Vec::new();
    for workload in scenarios {
        eprintln!(
            "{activities} activities, {} more portals: {}",
            args.extra_portals,
            workload.label()
        );
        let (back, m) =
            closed_loop(workers, workload, fixture.clone(), warmup, duration, pid).await?;
        workers = back;
        after.push((workload, m));
    }
    let mut deletes = Vec::with_capacity(names.len());
    for name in &names {
        let started = std::time::Instant::now();
        let answer = admin
            .admin(
                hyper::Method::DELETE,
                &format!("/portals/{name}"),
                &token,
                None,
            )
            .await?;
        deletes.push(started.elapsed());
        anyhow::ensure!(
            answer.status == 200,
            "DELETE /_b24/portals/{name} answered {}",
            answer.status
        );
    }
    drop(workers);
    running.stop().await?;
    Ok(PortalsRun {
        before,
        after,
        creates,
        deletes,
    })
}
