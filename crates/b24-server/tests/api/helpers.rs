//! `spawn_app()` and the rest of the suite's helpers live in the shared `b24-test-support` crate
//! (also used by the client's tests and `tests/secrets.rs`); re-exported here so tests keep
//! writing `crate::helpers::…`.

pub use b24_test_support::*;
