//! Workloads and the two ways of driving them: closed loop (each connection sends its next call as
//! soon as the previous one is answered: peak throughput) and open loop (calls are sent on a fixed
//! schedule: latency at a chosen load, without coordinated omission).

use crate::client::Connection;
use crate::server::{cpu_time, resident, Memory};
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Entity type id of contacts: each connection binds activities to a contact of its own, so
/// concurrent pairs never collide on the same (activity, item) binding.
pub const CONTACT: i64 = b24_protocol::entity_type::CONTACT;

/// Commands in one `batch` request (the service's maximum).
pub const BATCH_COMMANDS: usize = 50;

/// What one scenario sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// `server.time`: the cheapest authenticated call, the floor everything is compared with.
    ServerTime,
    /// `crm.activity.binding.add` then `.delete` of the same binding on a random activity.
    BindingPairs,
    /// `crm.activity.binding.list` of a random activity.
    BindingList,
    /// A `batch` of 25 add+delete pairs on random activities (50 commands).
    Batch,
    /// `crm.item.list` of deals, first page with `total` (`start=0`).
    ItemListFirst,
    /// `crm.item.list` of deals, a page after a random id (`filter[>id]`, `start=-1`).
    ItemListCursor,
}

impl Workload {
    /// The name used in reports.
    pub fn label(self) -> &'static str {
        match self {
            Workload::ServerTime => "server.time",
            Workload::BindingPairs => "binding add+delete",
            Workload::BindingList => "binding.list",
            Workload::Batch => "batch (50 binding calls)",
            Workload::ItemListFirst => "item.list page 1 + total",
            Workload::ItemListCursor => "item.list >id page",
        }
    }

    /// REST calls one request of this workload makes.
    pub fn calls_per_request(self) -> u64 {
        match self {
            Workload::Batch => BATCH_COMMANDS as u64,
            _ => 1,
        }
    }
}

/// What the seeded data looks like, so workers can pick existing rows.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Activities have ids `1..=activities`.
    pub activities: u64,
    /// Deals have ids `1..=deals`.
    pub deals: u64,
}

/// One connection and the state its workload needs.
pub struct Worker {
    connection: Connection,
    rng: SmallRng,
    /// The contact this worker binds activities to.
    contact: i64,
    /// An activity this worker bound and has not unbound yet (binding pairs).
    pending_delete: Option<u64>,
}

impl Worker {
    /// A worker on `connection` that binds to `contact`; `seed` makes runs repeatable.
    pub fn new(connection: Connection, contact: i64, seed: u64) -> Self {
        Self {
            connection,
            rng: SmallRng::seed_from_u64(seed),
            contact,
            pending_delete: None,
        }
    }

    /// The same worker with its random choices seeded by `seed` instead.
    pub fn reseeded(mut self, seed: usize) -> Self {
        self.rng = SmallRng::seed_from_u64(seed as u64 + 1);
        self
    }

    fn random_activity(&mut self, fixture: &Fixture) -> u64 {
        self.rng.random_range(1..=fixture.activities)
    }

    fn binding_params(&self, activity: u64) -> String {
        format!(
            r#"{{"activityId":{activity},"entityTypeId":{CONTACT},"entityId":{}}}"#,
            self.contact
        )
    }

    /// The next request of `workload`: method and JSON body.
    fn next_request(&mut self, workload: Workload, fixture: &Fixture) -> (&'static str, String) {
        match workload {
            Workload::ServerTime => ("server.time", String::new()),
            Workload::BindingPairs => match self.pending_delete.take() {
                Some(activity) => ("crm.activity.binding.delete", self.binding_params(activity)),
                None => {
                    let activity = self.random_activity(fixture);
                    self.pending_delete = Some(activity);
                    ("crm.activity.binding.add", self.binding_params(activity))
                }
            },
            Workload::BindingList => {
                let activity = self.random_activity(fixture);
                (
                    "crm.activity.binding.list",
                    format!(r#"{{"activityId":{activity}}}"#),
                )
            }
            Workload::Batch => {
                let mut cmd = String::from(r#"{"halt":0,"cmd":{"#);
                for pair in 0..BATCH_COMMANDS / 2 {
                    let activity = self.random_activity(fixture);
                    let query = format!(
                        "activityId={activity}&entityTypeId={CONTACT}&entityId={}",
                        self.contact
                    );
                    let comma = if pair == 0 { "" } else { "," };
                    let _ = write!(
                        cmd,
                        r#"{comma}"a{pair}":"crm.activity.binding.add?{query}","d{pair}":"crm.activity.binding.delete?{query}""#
                    );
                }
                cmd.push_str("}}");
                ("batch", cmd)
            }
            Workload::ItemListFirst => ("crm.item.list", r#"{"entityTypeId":2}"#.to_string()),
            Workload::ItemListCursor => {
                let after = self.rng.random_range(0..fixture.deals.max(1));
                (
                    "crm.item.list",
                    format!(
                        r#"{{"entityTypeId":2,"filter":{{">id":{after}}},"order":{{"id":"ASC"}},"start":-1}}"#
                    ),
                )
            }
        }
    }

    /// Sends one request; `Ok(false)` when the server answered but the call failed.
    async fn send(&mut self, workload: Workload, fixture: &Fixture) -> anyhow::Result<bool> {
        let (method, body) = self.next_request(workload, fixture);
        let answer = self.connection.call(method, body).await?;
        if answer.status != 200 {
            return Ok(false);
        }
        if workload == Workload::Batch {
            // A batch answers 200 even when commands fail: they are listed in `result_error`.
            let value: serde_json::Value = serde_json::from_slice(&answer.body)?;
            let errors = &value["result"]["result_error"];
            return Ok(errors.as_array().is_some_and(Vec::is_empty)
                || errors.as_object().is_some_and(|o| o.is_empty()));
        }
        Ok(true)
    }

    /// Leaves the data as it was found: unbinds a binding a pair left half done.
    async fn settle(&mut self) -> anyhow::Result<()> {
        if let Some(activity) = self.pending_delete.take() {
            let body = self.binding_params(activity);
            self.connection
                .call_ok("crm.activity.binding.delete", body)
                .await?;
        }
        Ok(())
    }
}

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Latency of each request (a whole batch counts once), in microseconds.
    pub latency_us: Histogram<u64>,
    /// Requests that got an answer other than success.
    pub failed: u64,
    /// How long the measured part lasted.
    pub elapsed: Duration,
    /// REST calls per request.
    pub calls_per_request: u64,
    /// Largest resident memory of the server seen during the run.
    pub peak_memory: Option<Memory>,
    /// CPU time the server used during the measured part (user + system).
    pub server_cpu: Option<Duration>,
    /// CPU time of the machine's `postgres` processes during the measured part.
    pub database_cpu: Option<Duration>,
}

impl Measurement {
    fn new(calls_per_request: u64) -> Self {
        Self {
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            failed: 0,
            elapsed: Duration::ZERO,
            calls_per_request,
            peak_memory: None,
            server_cpu: None,
            database_cpu: None,
        }
    }

    fn record(&mut self, latency: Duration) {
        let us = (latency.as_micros() as u64).clamp(1, 60_000_000);
        self.latency_us.saturating_record(us);
    }

    fn merge(&mut self, other: &Measurement) {
        let _ = self.latency_us.add(&other.latency_us);
        self.failed += other.failed;
    }

    /// Requests answered per second.
    pub fn requests_per_second(&self) -> f64 {
        self.latency_us.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// REST calls per second (a 50-command batch is 50 calls).
    pub fn calls_per_second(&self) -> f64 {
        self.requests_per_second() * self.calls_per_request as f64
    }

    /// A latency quantile in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }

    /// Server CPU time per REST call, in microseconds: what a call costs, whatever else the
    /// machine was doing.
    pub fn server_cpu_us_per_call(&self) -> Option<f64> {
        let calls = self.latency_us.len() * self.calls_per_request;
        self.server_cpu
            .map(|cpu| cpu.as_secs_f64() * 1e6 / calls.max(1) as f64)
    }

    /// CPU time of the `postgres` processes per REST call, in microseconds.
    pub fn database_cpu_us_per_call(&self) -> Option<f64> {
        let calls = self.latency_us.len() * self.calls_per_request;
        self.database_cpu
            .map(|cpu| cpu.as_secs_f64() * 1e6 / calls.max(1) as f64)
    }

    /// The slowest request in milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.latency_us.max() as f64 / 1000.0
    }
}

/// Watches the server while a run lasts: its resident memory every 50 ms, and the CPU time it
/// uses (summed over every server process) from the start of the measured part to the end of the
/// run; also the CPU time of the machine's `postgres` processes (the database's share of a call
/// on PostgreSQL; it counts whatever else uses that database server meanwhile).
struct ServerSampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Sampled>,
}

/// What a [`ServerSampler`] saw.
type Sampled = (Option<Memory>, Option<Duration>, Option<Duration>);

/// CPU time of every process whose command is `postgres`.
fn postgres_cpu() -> Option<Duration> {
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "postgres" {
            total += cpu_time(pid).unwrap_or_default();
        }
    }
    Some(total)
}

impl ServerSampler {
    fn start(pids: Vec<u32>, measure_from: Instant) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let cpu =
            move |pids: &[u32]| -> Option<Duration> { pids.iter().map(|&p| cpu_time(p)).sum() };
        let task = tokio::spawn(async move {
            let first = pids[0];
            let mut peak = resident(first);
            let mut cpu_at_start = None;
            let mut db_at_start = None;
            let mut measuring = Box::pin(tokio::time::sleep_until(measure_from));
            loop {
                tokio::select! {
                    _ = &mut stopped => {
                        let used = cpu(&pids)
                            .zip(cpu_at_start)
                            .map(|(end, start): (Duration, Duration)| end.saturating_sub(start));
                        let db = postgres_cpu()
                            .zip(db_at_start)
                            .map(|(end, start): (Duration, Duration)| end.saturating_sub(start));
                        return (peak, used, db);
                    }
                    _ = &mut measuring, if cpu_at_start.is_none() => {
                        cpu_at_start = cpu(&pids);
                        db_at_start = postgres_cpu();
                    }
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {
                        peak = match (peak, resident(first)) {
                            (Some(a), Some(b)) => Some(a.max(b)),
                            (a, b) => a.or(b),
                        };
                    }
                }
            }
        });
        Self { stop, task }
    }

    async fn finish(self) -> Sampled {
        let _ = self.stop.send(());
        self.task.await.unwrap_or((None, None, None))
    }
}

/// Runs `workload` on every worker as fast as answers come back: `warmup` unmeasured, then
/// `duration` measured. Returns the workers (their connections stay open) and the merged result.
pub async fn closed_loop(
    workers: Vec<Worker>,
    workload: Workload,
    fixture: Arc<Fixture>,
    warmup: Duration,
    duration: Duration,
    server_pid: u32,
) -> anyhow::Result<(Vec<Worker>, Measurement)> {
    closed_loop_on(
        workers,
        workload,
        fixture,
        warmup,
        duration,
        vec![server_pid],
    )
    .await
}

/// [`closed_loop`] against several server processes (the workers' connections spread over
/// them); the CPU time is their sum.
pub async fn closed_loop_on(
    workers: Vec<Worker>,
    workload: Workload,
    fixture: Arc<Fixture>,
    warmup: Duration,
    duration: Duration,
    server_pids: Vec<u32>,
) -> anyhow::Result<(Vec<Worker>, Measurement)> {
    let measure_from = Instant::now() + warmup;
    let until = measure_from + duration;
    let sampler = ServerSampler::start(server_pids, measure_from);
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            let fixture = fixture.clone();
            tokio::spawn(async move {
                let mut m = Measurement::new(workload.calls_per_request());
                loop {
                    let sent = Instant::now();
                    if sent >= until {
                        break;
                    }
                    let ok = worker.send(workload, &fixture).await?;
                    if sent >= measure_from {
                        m.record(sent.elapsed());
                        m.failed += u64::from(!ok);
                    }
                }
                worker.settle().await?;
                anyhow::Ok((worker, m))
            })
        })
        .collect();
    collect(tasks, workload, duration, sampler).await
}

/// Sends `workload` at `rate` requests per second in all, spread evenly over the workers, for
/// `duration`. Latency counts from when a request was due if the connection was still busy then
/// (the server held it up), else from when it was sent: a late timer is the client's delay, not
/// the server's.
pub async fn open_loop(
    workers: Vec<Worker>,
    workload: Workload,
    fixture: Arc<Fixture>,
    rate: f64,
    duration: Duration,
    server_pid: u32,
) -> anyhow::Result<(Vec<Worker>, Measurement)> {
    let count = workers.len() as f64;
    let interval = Duration::from_secs_f64(count / rate.max(1.0));
    let start = Instant::now() + Duration::from_millis(20);
    let until = start + duration;
    let sampler = ServerSampler::start(vec![server_pid], start);
    let tasks: Vec<_> = workers
        .into_iter()
        .enumerate()
        .map(|(i, mut worker)| {
            let fixture = fixture.clone();
            // Stagger the workers so their schedules interleave instead of arriving together.
            let first = start + interval.mul_f64(i as f64 / count);
            tokio::spawn(async move {
                let mut m = Measurement::new(workload.calls_per_request());
                let mut due = first;
                while due < until {
                    let busy_past_due = Instant::now() >= due;
                    if !busy_past_due {
                        tokio::time::sleep_until(due).await;
                    }
                    let from = if busy_past_due { due } else { Instant::now() };
                    let ok = worker.send(workload, &fixture).await?;
                    m.record(from.elapsed());
                    m.failed += u64::from(!ok);
                    due += interval;
                }
                worker.settle().await?;
                anyhow::Ok((worker, m))
            })
        })
        .collect();
    collect(tasks, workload, duration, sampler).await
}

type WorkerTask = tokio::task::JoinHandle<anyhow::Result<(Worker, Measurement)>>;

async fn collect(
    tasks: Vec<WorkerTask>,
    workload: Workload,
    duration: Duration,
    sampler: ServerSampler,
) -> anyhow::Result<(Vec<Worker>, Measurement)> {
    let mut merged = Measurement::new(workload.calls_per_request());
    let mut workers = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (worker, m) = task.await??;
        merged.merge(&m);
        workers.push(worker);
    }
    merged.elapsed = duration;
    (merged.peak_memory, merged.server_cpu, merged.database_cpu) = sampler.finish().await;
    Ok((workers, merged))
}
