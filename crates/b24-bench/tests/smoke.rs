//! A few-second run of the real benchmark against the debug server: proves every scenario works
//! end to end (seed, webhook, serve, load, report). It checks that calls succeed, never how fast.

use b24_test_support::server_binary;
use std::process::Command;

/// Runs the bench with a short, small configuration plus `extra`; returns its report.
fn run_bench(extra: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_b24-bench"))
        .arg("--server-bin")
        .arg(server_binary())
        .args(["-c", "2", "-d", "0.3", "-w", "0.1"])
        .args(extra)
        .output()
        .expect("the bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    stdout
}

#[test]
fn over_https_every_call_succeeds() {
    let stdout = run_bench(&[
        "--transport",
        "https",
        "--sizes",
        "100",
        "--scenarios",
        "binding-pairs",
        "--no-half-load",
    ]);
    assert!(stdout.contains("transport Https"), "{stdout}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| binding add+delete |"))
        .unwrap_or_else(|| panic!("no binding row:\n{stdout}"));
    assert!(row.ends_with("| 0 |"), "a call failed: {row}");
}

#[test]
fn a_short_run_measures_every_scenario_without_a_failed_call() {
    let stdout = run_bench(&["--sizes", "200,400"]);
    for size in [
        "## 200 activities",
        "## 400 activities",
        "## Ratios (same run)",
    ] {
        assert!(stdout.contains(size), "no section {size:?}:\n{stdout}");
    }
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| scenario") && !l.starts_with("| size"))
        .collect();
    for scenario in [
        "server.time",
        "binding add+delete",
        "binding.list",
        "batch (50 binding calls)",
        "batch (50 binding calls), one connection",
        "item.list page 1 + total",
        "item.list >id page",
        "binding add+delete, open loop",
    ] {
        let measured = rows
            .iter()
            .filter(|r| r.starts_with(&format!("| {scenario}")))
            .count();
        assert!(
            measured >= 2,
            "{scenario} measured at both sizes:\n{stdout}"
        );
    }
    // The rows of each size's scenario table (the one headed "scenario (closed loop)"), whose
    // last cell counts failed calls; other tables (ratios, baselines) have cells of their own.
    let mut scenario_rows: Vec<&str> = Vec::new();
    let mut in_table = false;
    for line in stdout.lines() {
        if line.starts_with("| scenario (closed loop) |") {
            in_table = true;
        } else if !line.starts_with('|') {
            in_table = false;
        } else if in_table && !line.starts_with("|---") {
            scenario_rows.push(line);
        }
    }
    assert!(scenario_rows.len() >= 16, "{stdout}");
    for row in scenario_rows {
        let failed = row
            .trim_end_matches(['|', ' '])
            .rsplit('|')
            .next()
            .unwrap()
            .trim();
        assert_eq!(failed, "0", "a call failed: {row}");
    }
    assert!(
        stdout.contains("start-up: listening after") && stdout.contains("memory (VmRSS"),
        "{stdout}"
    );
}
