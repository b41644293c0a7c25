//! How the test suites choose their database backend, in one place (used by the shared
//! `b24-test-support` crate and by unit tests that need PostgreSQL).
//!
//! - `B24_TEST_POSTGRES_URL=postgres://…`: every test server stores its data in a PostgreSQL
//!   schema of its own in that database; the PostgreSQL-only tests run.
//! - Unset: SQLite, and the PostgreSQL-only tests are skipped with a note on stderr — except under
//!   CI (`CI` set to anything but empty, `0` or `false`), where a skipped PostgreSQL test fails
//!   unless `B24_TEST_SKIP_POSTGRES=1` says the skip is meant (`.ci/run` sets it for its SQLite
//!   pass, then runs everything again with `B24_TEST_POSTGRES_URL`).

use std::io::Write as _;

/// The PostgreSQL server to run the suite against, if any (`B24_TEST_POSTGRES_URL`).
pub fn postgres_url() -> Option<String> {
    std::env::var("B24_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Whether the tests run under CI (`CI` set, and not empty, `0` or `false`).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// For a test that only means something on PostgreSQL: the database URL, or `None` when the
/// suite runs without PostgreSQL (the test then returns early; a note goes to stderr, past the
/// harness's capture). Under CI that skip is a failure unless `B24_TEST_SKIP_POSTGRES=1`.
///
/// # Panics
/// Under CI, without `B24_TEST_POSTGRES_URL` and without `B24_TEST_SKIP_POSTGRES=1`.
pub fn postgres_only(test: &str) -> Option<String> {
    if let Some(url) = postgres_url() {
        return Some(url);
    }
    let skip_meant = std::env::var("B24_TEST_SKIP_POSTGRES").is_ok_and(|v| v.trim() == "1");
    assert!(
        !under_ci() || skip_meant,
        "PostgreSQL test {test} cannot run: CI is set but B24_TEST_POSTGRES_URL is not \
         (set it, or B24_TEST_SKIP_POSTGRES=1 to skip the PostgreSQL tests on purpose)"
    );
    let _ = writeln!(
        std::io::stderr(),
        "PostgreSQL tests skipped ({test}): set B24_TEST_POSTGRES_URL=postgres://… to run them"
    );
    None
}
