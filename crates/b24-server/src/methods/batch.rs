//! `batch`: up to 50 methods in one request, later commands able to use earlier results through
//! `$result[key][...]`, `$next[key]`, `$total[key]`, `$time[key][...]` and `$error[key][...]`
//! references (spec §6). Each command goes through the same checks as an outer call (scope
//! check, operating-time limiter), with the outer caller's credentials. The whole batch runs on
//! one blocking-pool thread: commands run one after another anyway.
//!
//! On SQLite the commands share one write transaction (`Store::batch_scope`): every transaction
//! a command opens is a savepoint of it, so a command that fails leaves nothing behind, as
//! before, and the batch commits once. Not while the portal has fault rules: those are checked
//! (and counted) per command, and answer as they would without the batch sharing anything.

use super::{lookup, run_spec, Handler, MethodSpec, Output, Params};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::OUTBOX_INSERTS;
use b24_protocol::batch::{split_command, substitute, BatchResults, MAX_COMMANDS};
use b24_protocol::params::parse_php_query;
use b24_protocol::values::php_truthy;
use b24_protocol::{ErrorCode, RestError, TimeBlock};
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;

/// `batch(cmd, halt)`.
pub const BATCH: MethodSpec = MethodSpec {
    name: "batch",
    scope: None,
    handler: Handler::Batch,
    doc: "Run up to 50 methods in one request; later commands may reference earlier results.",
};

/// Methods that may not run inside `batch`.
const NOT_IN_BATCH: &[&str] = &["batch", "download", "upload", "placement.bind"];

/// The commands in order: `(key, command text)`; entries that are not strings have no text.
fn commands(params: &Params) -> Vec<(String, Option<String>)> {
    let text = |v: &Value| v.as_str().map(str::to_string);
    match params.get_ci("cmd") {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), text(v)))
            .collect(),
        _ => Vec::new(),
    }
}

fn error_entry(error: &RestError) -> Value {
    json!({"error": error.code.wire(), "error_description": error.message})
}

/// Runs a batch for an authenticated caller.
pub fn run(state: &AppState, caller: &Caller, params: Params) -> Result<Output, ApiError> {
    let halt = params.get_ci("halt").is_some_and(php_truthy);
    let commands = commands(&params);
    if !crate::control::faults::none_live(state) {
        return Ok(Output::result(run_commands(state, caller, commands, halt)));
    }
    let queued = OUTBOX_INSERTS.load(Ordering::Relaxed);
    // An `Err`: the one commit failed, so nothing of the batch is kept and the whole batch
    // answers the error a failed commit gives a single call (logged where it is answered).
    let outcomes = state
        .store
        .batch_scope(|| run_commands(state, caller, commands, halt))?;
    // Each command woke the event sender and the event listings before its changes were
    // committed; they are now.
    if OUTBOX_INSERTS.load(Ordering::Relaxed) != queued {
        state.wake_events();
    }
    state.control.events_changed.wake();
    Ok(Output::result(outcomes))
}

/// Runs the commands in order, stopping after the first failure when `halt` is set; the
/// batch's `result` value.
fn run_commands(
    state: &AppState,
    caller: &Caller,
    commands: Vec<(String, Option<String>)>,
    halt: bool,
) -> Value {
    let mut outcomes = BatchResults::default();
    for (position, (key, command)) in commands.into_iter().enumerate() {
        if position >= MAX_COMMANDS {
            let error = RestError::new(ErrorCode::BatchLengthExceeded);
            outcomes.error.insert(key, error_entry(&error));
            continue;
        }
        let Some(command) = command else { continue };
        if let Some(error) = crate::control::faults::batch_command(state, caller, &command) {
            outcomes.error.insert(key, error);
            if halt {
                break;
            }
            continue;
        }
        let start = state.clock.now();
        match run_command(state, caller, &command, &outcomes) {
            Ok(done) => {
                let finish = state.clock.now();
                let time = TimeBlock::new(
                    start,
                    finish,
                    done.processing,
                    done.operating,
                    done.operating_reset_at,
                );
                if let Some(next) = done.output.next {
                    outcomes.next.insert(key.clone(), json!(next));
                }
                if let Some(total) = done.output.total {
                    outcomes.total.insert(key.clone(), json!(total));
                }
                outcomes.time.insert(
                    key.clone(),
                    serde_json::to_value(time).unwrap_or(Value::Null),
                );
                outcomes.result.insert(key, done.output.result);
            }
            Err(e) => {
                if let ApiError::Internal(cause) = &e {
                    tracing::error!(
                        method = command.split('?').next().unwrap_or(""),
                        error = format!("{cause:#}"),
                        "batch command failed inside the server"
                    );
                }
                outcomes.error.insert(key, error_entry(&e.to_rest()));
                if halt {
                    break;
                }
            }
        }
    }
    outcomes.into_json()
}

fn run_command(
    state: &AppState,
    caller: &Caller,
    command: &str,
    outcomes: &BatchResults,
) -> Result<super::Dispatched, ApiError> {
    let (method, query) = split_command(command);
    if NOT_IN_BATCH.iter().any(|m| m.eq_ignore_ascii_case(method)) {
        return Err(ErrorCode::BatchMethodNotAllowed.into());
    }
    let parsed = parse_php_query(query.as_bytes(), state.limits.decode)
        .map_err(|_| ErrorCode::WrongEncoding)?;
    let mut params = Map::new();
    for (k, v) in parsed.into_json_object() {
        // Credentials come from the outer request only.
        if !b24_protocol::RESERVED_PARAMS.contains(&k.as_str()) {
            params.insert(k, substitute(v, outcomes));
        }
    }
    let spec = lookup(method).ok_or(ErrorCode::MethodNotFound)?;
    run_spec(state, caller, spec, Params(params))
}
