//! The report: Markdown, so a run can be pasted into BENCHMARKS.md as it is.

use crate::load::{Measurement, Workload};
use crate::server::{Memory, ServerBinary};
use crate::Args;
use std::fmt::Write as _;
use std::time::Duration;

/// The machine and the settings of the run.
pub struct Machine {
    cores: usize,
    cpu: String,
    settings: String,
}

impl Machine {
    /// Reads the CPU model from `/proc/cpuinfo` and the core count the OS gives us.
    pub fn read(args: &Args, server: &ServerBinary) -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let settings = format!(
            "{} keep-alive connections, {} client thread(s), {:.1} s measured after {:.1} s warm-up \
             per scenario; transport {:?}, backend {:?}; server {}{}",
            args.connections,
            args.client_threads.max(1),
            args.duration,
            args.warmup,
            args.transport,
            args.backend,
            server.path().display(),
            if server.has_plan_flag {
                " --plan unlimited"
            } else {
                ""
            },
        );
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            settings,
        }
    }

    /// The header of the report.
    pub fn describe(&self) -> String {
        format!(
            "# b24-bench\n\nmachine: {} cores, {}\nrun: {}\n",
            self.cores, self.cpu, self.settings
        )
    }
}

/// Start-up times.
pub struct Startup {
    /// Process start to the "listening on" line.
    pub listening: Duration,
    /// Process start to the first answered request.
    pub first_answer: Duration,
}

/// Everything measured at one data size.
pub struct SizeReport {
    /// Seeded activities.
    pub activities: u64,
    /// How long seeding took (`None`: reused from an earlier run).
    pub seeded_in: Option<Duration>,
    /// Start-up.
    pub startup: Startup,
    /// Resident memory after start-up, before any load.
    pub idle_memory: Option<Memory>,
    /// Resident memory after the load stopped.
    pub after_memory: Option<Memory>,
    /// Closed-loop results, in the order run.
    pub scenarios: Vec<(Workload, Measurement)>,
    /// The open-loop run of binding pairs: the rate asked for, and what was measured.
    pub half_load: Option<(f64, Measurement)>,
    /// `batch` on one connection: the latency of a batch that waits for no other.
    pub batch_alone: Option<Measurement>,
    /// Whether the server serves `batch`.
    pub batch_available: bool,
}

impl SizeReport {
    fn scenario(&self, workload: Workload) -> Option<&Measurement> {
        self.scenarios
            .iter()
            .find(|(w, _)| *w == workload)
            .map(|(_, m)| m)
    }
}

fn mib(memory: Option<Memory>) -> String {
    let mib = |kib: u64| kib as f64 / 1024.0;
    memory.map_or("n/a".into(), |m| {
        format!("{:.1} MiB ({:.1} private)", mib(m.rss_kib), mib(m.anon_kib))
    })
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn row(out: &mut String, label: &str, m: &Measurement) {
    let per_second = if m.calls_per_request > 1 {
        format!(
            "{:.0} ({:.0} req/s)",
            m.calls_per_second(),
            m.requests_per_second()
        )
    } else {
        format!("{:.0}", m.calls_per_second())
    };
    let _ = writeln!(
        out,
        "| {label} | {per_second} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} |",
        m.quantile_ms(0.50),
        m.quantile_ms(0.90),
        m.quantile_ms(0.99),
        m.max_ms(),
        m.server_cpu_us_per_call()
            .map_or("n/a".into(), |us| format!("{us:.0}")),
        m.failed
    );
}

/// The section for one size.
pub fn size_section(r: &SizeReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## {} activities\n", count(r.activities));
    let seeded = r
        .seeded_in
        .map_or("reused from an earlier run".into(), |d| {
            format!("seeded in {:.1} s", d.as_secs_f64())
        });
    let peak = r
        .scenarios
        .iter()
        .filter_map(|(_, m)| m.peak_memory)
        .chain(r.half_load.iter().filter_map(|(_, m)| m.peak_memory))
        .chain(r.batch_alone.iter().filter_map(|m| m.peak_memory))
        .reduce(Memory::max);
    let _ = writeln!(
        out,
        "data: {seeded}. start-up: listening after {}, first answer after {}. \
         memory (VmRSS, of which private RssAnon): idle {}, peak under load {}, idle after load {}.\n",
        ms(r.startup.listening),
        ms(r.startup.first_answer),
        mib(r.idle_memory),
        mib(peak),
        mib(r.after_memory),
    );
    let _ = writeln!(
        out,
        "| scenario (closed loop) | calls/s | p50 ms | p90 ms | p99 ms | max ms | server CPU µs/call | failed |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (workload, m) in &r.scenarios {
        row(&mut out, workload.label(), m);
    }
    if let Some(m) = &r.batch_alone {
        row(&mut out, "batch (50 binding calls), one connection", m);
    }
    if let Some((rate, m)) = &r.half_load {
        row(
            &mut out,
            &format!("binding add+delete, open loop at {rate:.0}/s (half of peak)"),
            m,
        );
    }
    if !r.batch_available {
        let _ = writeln!(
            out,
            "\n(batch skipped: the server does not serve `batch` yet)"
        );
    }
    out
}

/// Ratios measured in this run: binding throughput against the floor, and growth with size.
pub fn ratios_section(reports: &[SizeReport]) -> String {
    let mut out = String::from("## Ratios (same run)\n\n");
    let _ = writeln!(
        out,
        "| size | binding calls/s ÷ server.time calls/s |\n|---|---:|"
    );
    for r in reports {
        if let (Some(pairs), Some(floor)) = (
            r.scenario(Workload::BindingPairs),
            r.scenario(Workload::ServerTime),
        ) {
            let _ = writeln!(
                out,
                "| {} | {:.2} |",
                count(r.activities),
                pairs.calls_per_second() / floor.calls_per_second()
            );
        }
    }
    let (Some(base), true) = (reports.first(), reports.len() > 1) else {
        return out;
    };
    let _ = writeln!(
        out,
        "\nLatency at each size ÷ latency at {} activities (p50 / p99; 1.00 = no growth):\n",
        count(base.activities)
    );
    let mut header = String::from("| scenario |");
    let mut rule = String::from("|---|");
    for r in &reports[1..] {
        let _ = write!(header, " {} |", count(r.activities));
        rule.push_str("---:|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for (workload, base_m) in &base.scenarios {
        let mut line = format!("| {} |", workload.label());
        for r in &reports[1..] {
            match r.scenario(*workload) {
                Some(m) => {
                    let _ = write!(
                        line,
                        " {:.2} / {:.2} |",
                        m.quantile_ms(0.5) / base_m.quantile_ms(0.5),
                        m.quantile_ms(0.99) / base_m.quantile_ms(0.99)
                    );
                }
                None => line.push_str(" n/a |"),
            }
        }
        let _ = writeln!(out, "{line}");
    }
    out
}

/// What the request journal costs at one size: for server.time and binding pairs, calls/s and
/// server CPU per call with the journal off and on (means over the rounds), and on ÷ off.
pub fn journal_section(activities: u64, rounds: &[crate::JournalRound]) -> String {
    let mut out = format!(
        "### Journal cost, {} activities ({} round(s), journal off vs on, fresh servers)\n\n",
        count(activities),
        rounds.len()
    );
    let _ = writeln!(
        out,
        "| scenario | calls/s off | calls/s on | on ÷ off | CPU µs/call off | CPU µs/call on | on ÷ off |\n\
         |---|---:|---:|---:|---:|---:|---:|"
    );
    for workload in [Workload::ServerTime, Workload::BindingPairs] {
        let mean = |pick: fn(&crate::JournalRound) -> &Vec<(Workload, Measurement)>,
                    value: fn(&Measurement) -> Option<f64>| {
            let values: Vec<f64> = rounds
                .iter()
                .flat_map(|r| pick(r).iter())
                .filter(|(w, _)| *w == workload)
                .filter_map(|(_, m)| value(m))
                .collect();
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        };
        let rate = |m: &Measurement| Some(m.calls_per_second());
        let cpu = |m: &Measurement| m.server_cpu_us_per_call();
        let (rate_off, rate_on) = (mean(|r| &r.off, rate), mean(|r| &r.on, rate));
        let (cpu_off, cpu_on) = (mean(|r| &r.off, cpu), mean(|r| &r.on, cpu));
        let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
        // A journal costs about a microsecond: whole microseconds would hide it.
        let show_tenths = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        let ratio = |on: Option<f64>, off: Option<f64>| match (on, off) {
            (Some(on), Some(off)) if off > 0.0 => format!("{:.3}", on / off),
            _ => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            workload.label(),
            show(rate_off),
            show(rate_on),
            ratio(rate_on, rate_off),
            show_tenths(cpu_off),
            show_tenths(cpu_on),
            ratio(cpu_on, cpu_off),
        );
    }
    // Each round runs both servers minutes apart at most, so its own ratio is the fairest
    // figure; the median of the rounds is the one a noisy neighbour moves least.
    out.push_str("\nThroughput on ÷ off, round by round:\n\n");
    for workload in [Workload::ServerTime, Workload::BindingPairs] {
        let mut ratios: Vec<f64> = rounds
            .iter()
            .filter_map(|round| {
                let rate = |side: &Vec<(Workload, Measurement)>| {
                    side.iter()
                        .find(|(w, _)| *w == workload)
                        .map(|(_, m)| m.calls_per_second())
                };
                match (rate(&round.on), rate(&round.off)) {
                    (Some(on), Some(off)) if off > 0.0 => Some(on / off),
                    _ => None,
                }
            })
            .collect();
        if ratios.is_empty() {
            continue;
        }
        let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
        ratios.sort_by(f64::total_cmp);
        let _ = writeln!(
            out,
            "- {}: {} (median {:.3})",
            workload.label(),
            listed.join(", "),
            median(&ratios)
        );
    }
    out
}

/// The middle of sorted values (the mean of the two middle ones for an even count).
fn median(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    match sorted.len() % 2 {
        0 => (sorted[mid - 1] + sorted[mid]) / 2.0,
        _ => sorted[mid],
    }
}

/// The portal comparison: what creating (and deleting) a portal costs, and the per-call cost
/// with many portals on the server beside the one called.
pub fn portals_section(activities: u64, run: &crate::PortalsRun) -> String {
    let extra = run.creates.len();
    let mut out = format!(
        "### Many portals, {} activities ({extra} portals created beside the seeded one)\n\n",
        count(activities)
    );
    let stats = |times: &[std::time::Duration]| {
        let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| {
            ms.get(((ms.len() as f64 - 1.0) * q).round() as usize)
                .copied()
        };
        let mean = (!ms.is_empty()).then(|| ms.iter().sum::<f64>() / ms.len() as f64);
        let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        format!(
            "{} | {} | {} | {}",
            show(mean),
            show(at(0.5)),
            show(at(0.99)),
            show(at(1.0))
        )
    };
    let _ = writeln!(
        out,
        "| operation | mean ms | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        out,
        "| portal create (POST /_b24/portals) | {} |",
        stats(&run.creates)
    );
    let _ = writeln!(
        out,
        "| portal delete (DELETE /_b24/portals/NAME) | {} |",
        stats(&run.deletes)
    );
    let _ = writeln!(
        out,
        "\n| scenario | calls/s, 1 portal | calls/s, {} portals | ratio | p99 ms, 1 | p99 ms, {} | CPU µs/call, 1 | CPU µs/call, {} | ratio |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|",
        extra + 1,
        extra + 1,
        extra + 1
    );
    for ((workload, before), (_, after)) in run.before.iter().zip(&run.after) {
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.3}", a / b),
            _ => "-".to_string(),
        };
        let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {} | {:.2} | {:.2} | {} | {} | {} |",
            workload.label(),
            before.calls_per_second(),
            after.calls_per_second(),
            ratio(
                Some(after.calls_per_second()),
                Some(before.calls_per_second())
            ),
            before.quantile_ms(0.99),
            after.quantile_ms(0.99),
            show(before.server_cpu_us_per_call()),
            show(after.server_cpu_us_per_call()),
            ratio(
                after.server_cpu_us_per_call(),
                before.server_cpu_us_per_call()
            ),
        );
    }
    out
}

/// The ratios issue 21 asks for, measured in this run at one size: server.time against the bare
/// hyper baseline; PostgreSQL (one process) against SQLite; several processes against one.
pub fn comparison_section(
    args: &Args,
    r: &SizeReport,
    hyper: Option<&Measurement>,
    postgres: Option<&crate::PostgresRuns>,
) -> String {
    let mut out = format!(
        "### Ratios, {} activities (same run)\n\n",
        count(r.activities)
    );
    let _ = writeln!(
        out,
        "| figure | calls/s | ÷ calls/s | ratio | server CPU µs/call | ÷ that | db CPU µs/call | ÷ that |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|"
    );
    let us = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    let mut line = |label: String, a: &Measurement, b: &Measurement| {
        let _ = writeln!(
            out,
            "| {label} | {:.0} | {:.0} | {:.3} | {} | {} | {} | {} |",
            a.calls_per_second(),
            b.calls_per_second(),
            a.calls_per_second() / b.calls_per_second().max(1e-9),
            us(a.server_cpu_us_per_call()),
            us(b.server_cpu_us_per_call()),
            us(a.database_cpu_us_per_call()),
            us(b.database_cpu_us_per_call()),
        );
    };
    let backend = format!("{:?}", args.backend);
    if let (Some(hyper), Some(time)) = (hyper, r.scenario(Workload::ServerTime)) {
        line(format!("server.time ({backend}) ÷ bare hyper"), time, hyper);
    }
    if let Some(pg) = postgres {
        let pick = |runs: &[(Workload, Measurement)], w: Workload| {
            runs.iter().find(|(x, _)| *x == w).map(|(_, m)| m.clone())
        };
        for w in [Workload::ServerTime, Workload::BindingPairs] {
            if args.backend != crate::server::Backend::Postgres {
                if let (Some(p), Some(s)) = (pick(&pg.one, w), r.scenario(w)) {
                    line(
                        format!("{}: PostgreSQL, 1 process ÷ SQLite", w.label()),
                        &p,
                        s,
                    );
                }
            }
            if let (Some(many), Some(one)) = (pick(&pg.many, w), pick(&pg.one, w)) {
                line(
                    format!(
                        "{}: PostgreSQL, {} processes ÷ 1 process",
                        w.label(),
                        args.processes
                    ),
                    &many,
                    &one,
                );
            }
        }
        if let (Some(pt), Some(st)) = (pick(&pg.one, Workload::ServerTime), hyper) {
            line("server.time (PostgreSQL) ÷ bare hyper".to_string(), &pt, st);
        }
    }
    let _ = writeln!(
        out,
        "\n(\"÷\" columns: the figure it is divided by. Server CPU sums every server process; db CPU is \
         every `postgres` process on the machine, so it counts other users of that database \
         server too, and is `-` or near 0 on SQLite.)"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[0.9]), 0.9);
        assert_eq!(median(&[0.9, 0.95, 1.0]), 0.95);
        assert_eq!(median(&[0.8, 0.9, 1.0, 1.1]), 0.95);
    }
}
