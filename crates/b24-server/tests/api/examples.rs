//! The "Testing your integration" examples (examples/testing/, copied into the README) pass when
//! run the way the README says: under `b24-server exec`, with pytest and with vitest.
//!
//! They need pytest (with requests) and the example's `npm ci`; `.ci/run` installs both when
//! missing. Elsewhere a missing tool skips the test with a note; under CI it fails. They run in
//! the SQLite pass only: `exec` always uses an ephemeral SQLite portal.

use b24_server::test_env::{postgres_url, under_ci};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `PATH` with the built `b24-server` first, for the examples' CLI calls.
fn path_with_server() -> String {
    let binary = Path::new(env!("CARGO_BIN_EXE_b24-server"));
    let dir = binary.parent().expect("the binary's directory");
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Whether the example can run here; `false` (with a note) to skip, a panic under CI.
fn runnable(example: &str, available: bool, install: &str) -> bool {
    if postgres_url().is_some() {
        return false;
    }
    assert!(
        available || !under_ci(),
        "the {example} example cannot run: {install} (as .ci/run does)"
    );
    if !available {
        let _ = writeln!(
            std::io::stderr(),
            "{example} example skipped: {install} to run it"
        );
    }
    available
}

fn exec(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_b24-server"))
        .arg("exec")
        .arg("--")
        .args(args)
        .current_dir(dir)
        .env("PATH", path_with_server())
        .env("B24_LOG", "warn")
        .env_remove("B24_DATA_DIR")
        .env_remove("B24_DATABASE_URL")
        .output()
        .expect("exec runs")
}

fn assert_passed(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "the example failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_pytest_example_passes_under_exec() {
    let has_pytest = Command::new("python3")
        .args(["-c", "import pytest, requests"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !runnable(
        "pytest",
        has_pytest,
        "install pytest and requests (python3 -m pip install pytest requests)",
    ) {
        return;
    }
    let dir = repository().join("examples/testing/python");
    let out = exec(
        &["python3", "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        &dir,
    );
    assert_passed(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 passed"));
}

#[test]
fn the_vitest_example_passes_under_exec() {
    let dir = repository().join("examples/testing/node");
    let installed = dir.join("node_modules/vitest/package.json").exists();
    if !runnable("vitest", installed, "run `npm ci` in examples/testing/node") {
        return;
    }
    let out = exec(&["npx", "--no-install", "vitest", "run"], &dir);
    assert_passed(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("4 passed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_readme_shows_the_examples_as_they_are_tested() {
    let readme = std::fs::read_to_string(repository().join("README.md")).unwrap();
    for file in [
        "examples/testing/python/test_integration.py",
        "examples/testing/node/integration.test.js",
        // The packages' example suites (packaging/ci.sh runs them against the installed packages).
        "examples/testing/pytest-plugin/test_with_b24pysdk.py",
        "examples/testing/vitest-package/vitest.config.js",
        "examples/testing/vitest-package/deals.test.js",
    ] {
        let text = std::fs::read_to_string(repository().join(file)).unwrap();
        assert!(
            readme.contains(text.trim_end()),
            "README.md does not show {file} as it is"
        );
    }
}
