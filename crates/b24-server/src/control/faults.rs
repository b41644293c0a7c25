//! Fault injection (`/_b24/faults`): rules that make chosen calls fail the way the real service
//! fails, so a test can see its client cope with a 503, an expired token, an HTML page from the
//! front end or an answer lost after the write committed.
//!
//! A rule is `{"match":{"method":GLOB,"via":WHO},"after":N,"times":N,"probability":P,"seed":S,
//! "action":ACTION}`. How rules are evaluated:
//!
//! - Where: a REST call is checked once the method is known and the caller authenticated, before
//!   the scope check, the operating-time limit and the method; a rule that fires stands in for all
//!   of those (an `{"error"}` rule changes no data). Each `batch` command is checked the same way
//!   with the batch's caller (the rule's error lands in `result_error[key]`); the `batch` call
//!   itself is checked as method `batch`. `/oauth/token/` is checked as method `oauth.token`
//!   after its parameters are read, with `via` `app:CLIENT_ID` from the `client_id` it names.
//!   Calls refused before that (unknown method, failed authentication, rate limit) never reach
//!   the rules.
//! - Matching: `method` is a case-insensitive glob where `*` stands for any characters (absent:
//!   every method); `via` (`webhook:ID` or `app:CLIENT_ID`), when given, must equal the caller's.
//!   Rules whose action works on the connection (`commit_then`, `network`) do not match `batch`
//!   commands: a connection carries the whole batch, so such rules apply to it as method `batch`.
//! - Counting: rules are tried in creation order. Every rule that matches counts a hit; the
//!   first `after` hits let the call through; past them, a rule with a `probability` below 1
//!   draws the next number of its generator (`draws` counts them) and lets the call through when
//!   it is not below the probability. The first rule that neither lets the call through fires;
//!   rules after it are not tried. A rule that let the call through leaves it to the next rules.
//!   `remaining` counts the fires left (`times`; absent: forever); a rule at 0 stays listed but
//!   matches nothing more, so its `hits` stay as the test left them.
//! - Reproducible: the generator is a function of (`seed`, draw number), so the same rule over
//!   the same calls fires on the same calls, on any server. A rule without `seed` gets a random
//!   one, shown in its answer.
//! - Exact: matching and counting happen in one write transaction on the rules' rows, so counts
//!   are exact across server processes. With no rule that could match a call, the check costs a
//!   look at an in-memory copy of the live rules' patterns, refreshed when rules change through
//!   this process and by the every-second portal refresh (so a rule added through another
//!   process or the CLI applies here within a second).

use super::{blocking, AdminJson, AdminPortal, ControlError, ControlResult, FaultFired};
use crate::auth::{Caller, CallerKind};
use crate::error::ApiError;
use crate::http::cut::Cut;
use crate::http::{error_response, with_common_headers};
use crate::state::AppState;
use crate::store::faults::StoredFault;
use crate::store::{PortalId, Store, Tx};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use b24_protocol::{ErrorCode, RestError};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The longest delay a rule may add, in milliseconds.
pub const MAX_DELAY_MS: u64 = 60_000;
/// The most rules a portal may hold (each call is checked against every live one).
pub const MAX_RULES: u64 = 1_000;
/// The largest `after` and `times`.
const MAX_COUNT: u64 = 1_000_000_000;
/// The largest seed: the largest integer a JavaScript number holds exactly, so every client can
/// send back the seed it was shown.
const MAX_SEED: u64 = (1 << 53) - 1;

/// The page a real portal's nginx front end answers when the application behind it is down.
pub const HTML_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// What a rule does when it fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// An error of the table, answered as the server answers it anywhere else.
    Error {
        /// The table row.
        code: ErrorCode,
        /// `Retry-After` seconds (the default for the code when the rule gave none).
        retry_after: Option<u64>,
    },
    /// Any status with any `error` and `error_description`.
    Custom {
        /// 400 to 599.
        status: u16,
        /// The `error` value.
        error: String,
        /// The `error_description` value.
        description: String,
    },
    /// Waits, then the call runs as usual.
    Delay {
        /// Milliseconds.
        ms: u64,
    },
    /// The call runs (and commits), then the connection is closed without an answer.
    CommitThenClose,
    /// The connection is closed without an answer; nothing runs.
    NetworkClose,
    /// A 502 with nginx's HTML page; nothing runs.
    Html502,
}

impl Action {
    /// Whether the method runs when this action fires.
    fn runs_method(&self) -> bool {
        matches!(self, Action::Delay { .. } | Action::CommitThenClose)
    }

    /// Whether the action works on the connection (so it cannot apply to one `batch` command).
    fn on_connection(&self) -> bool {
        matches!(
            self,
            Action::CommitThenClose | Action::NetworkClose | Action::Html502
        )
    }

    fn to_json(&self) -> Value {
        match self {
            Action::Error { code, retry_after } => {
                let mut action = json!({"error": code.wire()});
                if let Some(seconds) = retry_after {
                    action["retry_after"] = json!(seconds);
                }
                action
            }
            Action::Custom {
                status,
                error,
                description,
            } => json!({"status": status, "error": error, "description": description}),
            Action::Delay { ms } => json!({"delay_ms": ms}),
            Action::CommitThenClose => json!({"commit_then": "close"}),
            Action::NetworkClose => json!({"network": "close"}),
            Action::Html502 => json!({"network": "html502"}),
        }
    }

    fn from_json(value: &Value) -> Result<Self, String> {
        const SHAPES: &str = "an action is one of {\"error\":CODE} (optionally with \"retry_after\":SECONDS), {\"status\":400-599,\"error\":TEXT,\"description\":TEXT}, {\"delay_ms\":0-60000}, {\"commit_then\":\"close\"}, {\"network\":\"close\"} or {\"network\":\"html502\"}";
        let Some(object) = value.as_object() else {
            return Err(format!("'action' must be a JSON object: {SHAPES}"));
        };
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let text = |name: &str| -> Result<String, String> {
            match object.get(name) {
                Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => Ok(s.clone()),
                _ => Err(format!(
                    "'action.{name}' must be a non-empty string of at most 200 characters"
                )),
            }
        };
        match keys.as_slice() {
            ["error"] | ["error", "retry_after"] => {
                let wire = match object.get("error") {
                    Some(Value::String(s)) => s.as_str(),
                    _ => return Err("'action.error' must be an error code (a string)".into()),
                };
                let code = error_code(wire).ok_or_else(|| {
                    format!(
                        "'action.error' {wire:?} is not a code of the error table; known codes: {}. For another code give 'status' and 'description' too",
                        known_codes().join(", ")
                    )
                })?;
                let retry_after = match object.get("retry_after") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(whole(v, 86_400).ok_or(
                        "'action.retry_after' must be a whole number of seconds from 0 to 86400",
                    )?),
                };
                Ok(Action::Error { code, retry_after })
            }
            ["description", "error", "status"] => {
                let status = object
                    .get("status")
                    .and_then(|v| whole(v, 599))
                    .filter(|s| *s >= 400)
                    .ok_or("'action.status' must be an HTTP status from 400 to 599")?;
                let description = match object.get("description") {
                    Some(Value::String(s)) if s.len() <= 2000 => s.clone(),
                    _ => {
                        return Err(
                            "'action.description' must be a string of at most 2000 characters"
                                .into(),
                        )
                    }
                };
                Ok(Action::Custom {
                    status: status as u16,
                    error: text("error")?,
                    description,
                })
            }
            ["delay_ms"] => {
                let ms = object
                    .get("delay_ms")
                    .and_then(|v| whole(v, MAX_DELAY_MS))
                    .ok_or_else(|| {
                        format!(
                            "'action.delay_ms' must be a whole number of milliseconds from 0 to {MAX_DELAY_MS}"
                        )
                    })?;
                Ok(Action::Delay { ms })
            }
            ["commit_then"] => match object.get("commit_then").and_then(Value::as_str) {
                Some("close") => Ok(Action::CommitThenClose),
                _ => Err("'action.commit_then' takes \"close\" (the call commits, then the connection is closed without an answer)".into()),
            },
            ["network"] => match object.get("network").and_then(Value::as_str) {
                Some("close") => Ok(Action::NetworkClose),
                Some("html502") => Ok(Action::Html502),
                _ => Err("'action.network' takes \"close\" (closed without an answer) or \"html502\" (nginx's 502 page)".into()),
            },
            _ => {
                let known = [
                    "error",
                    "retry_after",
                    "status",
                    "description",
                    "delay_ms",
                    "commit_then",
                    "network",
                ];
                match keys.iter().find(|k| !known.contains(k)) {
                    Some(unknown) => Err(format!("Unknown action key '{unknown}'; {SHAPES}")),
                    None => Err(format!(
                        "The action's keys ({}) do not make one action; {SHAPES}",
                        keys.join(", ")
                    )),
                }
            }
        }
    }
}

/// A whole number from 0 to `max`, as JSON gives it (an integer, not a string or a fraction).
fn whole(value: &Value, max: u64) -> Option<u64> {
    value.as_u64().filter(|n| *n <= max)
}

/// The table row a wire code names. Several rows share some codes; a rule names the row callers
/// meet most: `ACCESS_DENIED` is CRM's method-level `Access denied.` (400), and for the others
/// (`NOT_FOUND`, `insufficient_scope`, `ERROR_CORE`) the first row of the table.
pub fn error_code(wire: &str) -> Option<ErrorCode> {
    if wire == "ACCESS_DENIED" {
        return Some(ErrorCode::AccessDenied);
    }
    ErrorCode::ALL
        .iter()
        .copied()
        .find(|code| !code.wire().is_empty() && code.wire() == wire)
}

fn known_codes() -> Vec<&'static str> {
    let mut codes: Vec<&str> = Vec::new();
    for code in ErrorCode::ALL {
        if !code.wire().is_empty() && !codes.contains(&code.wire()) {
            codes.push(code.wire());
        }
    }
    codes
}

/// The `Retry-After` an error fault sends when the rule gives none: what the server's own
/// limiters answer. `QUERY_LIMIT_EXCEEDED`: 1 s, one request's worth of the standard plan's
/// bucket (2 requests a second); `OPERATION_TIME_LIMIT`: 600 s, the whole operating window.
/// Other codes carry no `Retry-After`, as elsewhere.
pub fn default_retry_after(code: ErrorCode) -> Option<u64> {
    match code {
        ErrorCode::QueryLimitExceeded => Some(1),
        ErrorCode::OperationTimeLimit => Some(b24_protocol::envelope::OPERATING_WINDOW_SECS as u64),
        _ => None,
    }
}

/// Which calls a rule matches.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Matcher {
    /// A method name pattern (`*`: any characters), compared without case; `None`: any.
    pub method: Option<String>,
    /// `webhook:ID` or `app:CLIENT_ID`; `None`: any caller.
    pub via: Option<String>,
}

impl Matcher {
    fn from_json(value: &Value) -> Result<Self, String> {
        const TAKES: &str = "'match' takes 'method' (a method name; '*' stands for any characters, e.g. \"crm.item.*\") and 'via' (\"webhook:ID\" or \"app:CLIENT_ID\")";
        let Some(object) = value.as_object() else {
            return Err(format!("'match' must be a JSON object: {TAKES}"));
        };
        if let Some(unknown) = object.keys().find(|k| *k != "method" && *k != "via") {
            return Err(format!("Unknown key 'match.{unknown}'; {TAKES}"));
        }
        let method = match object.get("method") {
            None | Some(Value::Null) => None,
            Some(Value::String(m))
                if !m.is_empty()
                    && m.len() <= 100
                    && m.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '*')) =>
            {
                Some(m.clone())
            }
            Some(_) => return Err("'match.method' must be a method name pattern of letters, digits, '.', '_' and '*' (any characters), e.g. \"crm.item.*\"; \"oauth.token\" matches /oauth/token/".into()),
        };
        let via = match object.get("via") {
            None | Some(Value::Null) => None,
            Some(Value::String(v)) if valid_via(v) => Some(v.clone()),
            Some(_) => {
                return Err(
                    "'match.via' must be \"webhook:ID\" (a webhook's id) or \"app:CLIENT_ID\" (an application's client_id)"
                        .into(),
                )
            }
        };
        Ok(Self { method, via })
    }

    fn to_json(&self) -> Value {
        let mut object = Map::new();
        if let Some(method) = &self.method {
            object.insert("method".into(), json!(method));
        }
        if let Some(via) = &self.via {
            object.insert("via".into(), json!(via));
        }
        Value::Object(object)
    }

    /// Whether a call of `method` (lower case) by `via` matches.
    fn matches(&self, method: &str, via: Option<&str>) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|pattern| super::glob::matches(&pattern.to_ascii_lowercase(), method));
        let via_ok = match &self.via {
            None => true,
            Some(wanted) => via == Some(wanted.as_str()),
        };
        method_ok && via_ok
    }
}

fn valid_via(via: &str) -> bool {
    if let Some(id) = via.strip_prefix("webhook:") {
        return id.parse::<i64>().is_ok_and(|n| n > 0) && !id.starts_with('+');
    }
    via.strip_prefix("app:")
        .is_some_and(|client| !client.is_empty() && client.len() <= 200)
}

/// The caller as rules name it: `webhook:ID` or `app:CLIENT_ID` (as the journal shows it).
pub fn via_of(caller: &Caller) -> String {
    match &caller.kind {
        CallerKind::Webhook { id } => format!("webhook:{id}"),
        CallerKind::App { client_id, .. } => format!("app:{client_id}"),
    }
}

/// A fault rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Which calls it matches.
    pub matcher: Matcher,
    /// Matches let through before it fires.
    pub after: u64,
    /// Fires in all; `None`: forever.
    pub times: Option<u64>,
    /// The chance it fires on a match past `after`.
    pub probability: f64,
    /// The seed of its generator.
    pub seed: u64,
    /// What it does.
    pub action: Action,
}

impl Rule {
    /// Reads and checks a rule as the API takes it; the error says what is allowed. A missing
    /// seed is drawn at random.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        const TAKES: &str = "a fault rule takes 'match', 'after', 'times', 'probability', 'seed' and 'action', e.g. {\"match\":{\"method\":\"crm.item.add\"},\"after\":2,\"times\":1,\"action\":{\"error\":\"QUERY_LIMIT_EXCEEDED\"}}";
        let Some(object) = value.as_object() else {
            return Err(format!("The body must be a JSON object: {TAKES}"));
        };
        let known = ["match", "after", "times", "probability", "seed", "action"];
        if let Some(unknown) = object.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("Unknown key '{unknown}'; {TAKES}"));
        }
        let present = |name: &str| object.get(name).filter(|v| !v.is_null());
        let matcher = match present("match") {
            None => Matcher::default(),
            Some(m) => Matcher::from_json(m)?,
        };
        let after = match present("after") {
            None => 0,
            Some(v) => whole(v, MAX_COUNT).ok_or_else(|| {
                format!("'after' must be a whole number from 0 to {MAX_COUNT}: the matching calls let through before the rule fires")
            })?,
        };
        let times = match present("times") {
            None => None,
            Some(v) => Some(whole(v, MAX_COUNT).filter(|n| *n >= 1).ok_or_else(|| {
                format!("'times' must be a whole number from 1 to {MAX_COUNT}: how often the rule fires (absent: every time)")
            })?),
        };
        let probability = match present("probability") {
            None => 1.0,
            Some(v) => v
                .as_f64()
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or("'probability' must be a number from 0 to 1: the chance the rule fires on a matching call")?,
        };
        let seed = match present("seed") {
            None => rand::random::<u64>() & MAX_SEED,
            Some(v) => whole(v, MAX_SEED)
                .ok_or_else(|| format!("'seed' must be a whole number from 0 to {MAX_SEED}"))?,
        };
        let action = match present("action") {
            None => return Err(format!("A fault rule needs an 'action'; {TAKES}")),
            Some(a) => Action::from_json(a)?,
        };
        Ok(Self {
            matcher,
            after,
            times,
            probability,
            seed,
            action,
        })
    }

    /// The rule as the API shows it and the database keeps it.
    pub fn to_json(&self) -> Value {
        json!({
            "match": self.matcher.to_json(),
            "after": self.after,
            "times": self.times,
            "probability": self.probability,
            "seed": self.seed,
            "action": self.action.to_json(),
        })
    }
}

/// The `n`-th number (from 0) of the generator of `seed`, in [0, 1): SplitMix64's output for
/// its `n + 1`-th state, so any draw can be made again from the two numbers alone.
fn draw(seed: u64, n: u64) -> f64 {
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// A rule that fired, for the call it fired on.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    /// The rule's id.
    pub id: i64,
    /// Its action.
    pub action: Action,
}

/// What the check of one live rule needs without the database.
#[derive(Debug, Clone)]
struct Armed {
    matcher: Matcher,
    on_connection: bool,
}

impl Armed {
    fn of(rule: &Rule) -> Self {
        Self {
            matcher: Matcher {
                method: rule.matcher.method.as_ref().map(|m| m.to_ascii_lowercase()),
                via: rule.matcher.via.clone(),
            },
            on_connection: rule.action.on_connection(),
        }
    }

    fn matches(&self, method: &str, place: Place, via: Option<&str>) -> bool {
        !(place == Place::BatchCommand && self.on_connection) && self.matcher.matches(method, via)
    }
}

/// This process's copy of each portal's live rules' patterns, so a call no rule can match costs
/// no database round trip. A portal not seen yet counts as possibly armed.
///
/// Every change counts a generation. A copy read from the database replaces the view only when
/// no change came in since the read began ([`FaultView::generation`]): a read that began before
/// a rule was added here must not hide the rule.
#[derive(Debug, Default)]
pub struct FaultView {
    portals: RwLock<(u64, LiveRules)>,
}

/// Each portal's live rules.
type LiveRules = foldhash::HashMap<PortalId, Arc<Vec<Armed>>>;

impl FaultView {
    fn armed(&self, portal: PortalId) -> Option<Arc<Vec<Armed>>> {
        self.portals.read().ok()?.1.get(&portal).cloned()
    }

    /// The generation to give [`FaultView::refresh_since`], taken before reading the rules.
    pub fn generation(&self) -> u64 {
        self.portals.read().map_or(0, |view| view.0)
    }

    fn set(&self, portal: PortalId, live: Vec<Armed>, since: Option<u64>) {
        if let Ok(mut view) = self.portals.write() {
            if since.is_none_or(|generation| generation == view.0) {
                view.0 += 1;
                view.1.insert(portal, Arc::new(live));
            }
        }
    }

    /// Takes every portal's live rules read from the database when the view was at
    /// `generation` (the refresh of a running server); ignored when the view changed since.
    /// Portals not in `rules` are forgotten (deleted).
    pub fn refresh_all_since(&self, generation: u64, rules: &HashMap<PortalId, Vec<StoredFault>>) {
        if let Ok(mut view) = self.portals.write() {
            if view.0 == generation {
                view.0 += 1;
                view.1 = rules
                    .iter()
                    .map(|(portal, live)| (*portal, Arc::new(armed(live))))
                    .collect();
            }
        }
    }

    /// Takes the live rules after this process changed them.
    pub fn refresh(&self, portal: PortalId, live: &[StoredFault]) {
        self.set(portal, armed(live), None);
    }

    /// Takes the live rules read from the database when the view was at `generation` (the
    /// portal refresh calls this every second); ignored when the view changed since.
    pub fn refresh_since(&self, portal: PortalId, generation: u64, live: &[StoredFault]) {
        self.set(portal, armed(live), Some(generation));
    }
}

fn armed(live: &[StoredFault]) -> Vec<Armed> {
    live.iter()
        .filter_map(|f| parse_stored(f).map(|rule| Armed::of(&rule)))
        .collect()
}

fn parse_stored(fault: &StoredFault) -> Option<Rule> {
    let parsed = serde_json::from_str::<Value>(&fault.rule)
        .map_err(|e| e.to_string())
        .and_then(|v| Rule::from_json(&v));
    match parsed {
        Ok(rule) => Some(rule),
        Err(e) => {
            tracing::warn!(
                id = fault.id,
                error = e,
                "a stored fault rule cannot be read; ignored"
            );
            None
        }
    }
}

/// The rules that can still fire, for the portal refresh (a read transaction).
pub fn live_rules(store: &Store, portal: PortalId) -> Result<Vec<StoredFault>, ApiError> {
    store.read(portal, |tx| tx.live_faults(false))
}

/// Where a call is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A REST call, or `/oauth/token/`.
    Call,
    /// One command of a `batch`.
    BatchCommand,
}

/// Checks a call of `method` (the table's lower-case name) against the portal's rules, and
/// counts it: the rule that fires, if one does. `via` names the caller; it is asked for only
/// when a rule could match. A check that fails inside the server is logged and lets the call
/// through.
pub fn check(
    state: &AppState,
    method: &str,
    place: Place,
    via: impl FnOnce() -> Option<String>,
) -> Option<Fired> {
    let portal = state.portal_id;
    let view = &state.control.faults;
    let via = match screen(state, method, place, via) {
        Screen::Quiet => return None,
        Screen::Ask(via) => via,
    };
    let generation = view.generation();
    let outcome = state
        .store
        .write(portal, |tx| evaluate(tx, method, place, via.as_deref()));
    match outcome {
        Ok((fired, live)) => {
            view.set(portal, live, Some(generation));
            fired
        }
        Err(e) => {
            tracing::error!(error = ?e, "fault rules could not be checked; the call goes ahead");
            None
        }
    }
}

/// What this process's view of the rules says about a call, before any database read.
enum Screen {
    /// No live rule matches it.
    Quiet,
    /// A rule may fire (or the view holds nothing for the portal yet): ask the database, for
    /// the caller's `via`.
    Ask(Option<String>),
}

fn screen(
    state: &AppState,
    method: &str,
    place: Place,
    via: impl FnOnce() -> Option<String>,
) -> Screen {
    match state.control.faults.armed(state.portal_id) {
        Some(live) if live.is_empty() => Screen::Quiet,
        Some(live) => {
            let via = via();
            if live
                .iter()
                .any(|rule| rule.matches(method, place, via.as_deref()))
            {
                Screen::Ask(via)
            } else {
                Screen::Quiet
            }
        }
        None => Screen::Ask(via()),
    }
}

/// Whether no fault rule can fire for this call, known without reading the database: what lets
/// a call run on the async worker ([`crate::methods::authenticate_and_dispatch`]).
pub fn quiet(
    state: &AppState,
    method: &str,
    place: Place,
    via: impl FnOnce() -> Option<String>,
) -> bool {
    matches!(screen(state, method, place, via), Screen::Quiet)
}

/// Whether the portal has no live rule at all, known from this process's copy of the rules (a
/// portal not seen yet may have some). Only then does a `batch` run its commands in one shared
/// transaction (`Store::batch_scope`): a rule's check counts its hits in a write of its own, and
/// a delay would hold the writer for every other caller.
pub fn none_live(state: &AppState) -> bool {
    state
        .control
        .faults
        .armed(state.portal_id)
        .is_some_and(|live| live.is_empty())
}

/// Matching and counting in one transaction; also answers the live rules after the call.
fn evaluate(
    tx: &mut dyn Tx,
    method: &str,
    place: Place,
    via: Option<&str>,
) -> Result<(Option<Fired>, Vec<Armed>), ApiError> {
    let rules = tx.live_faults(true)?;
    let mut live = Vec::with_capacity(rules.len());
    let mut fired = None;
    for stored in &rules {
        let Some(rule) = parse_stored(stored) else {
            continue;
        };
        let armed = Armed::of(&rule);
        if fired.is_some() || !armed.matches(method, place, via) {
            live.push(armed);
            continue;
        }
        let hits = stored.hits + 1;
        let mut draws = stored.draws;
        let mut remaining = stored.remaining;
        let past_after = hits as u64 > rule.after;
        let drawn = past_after && {
            if rule.probability >= 1.0 {
                true
            } else {
                let x = draw(rule.seed, draws as u64);
                draws += 1;
                x < rule.probability
            }
        };
        if drawn {
            remaining = remaining.map(|n| n - 1);
            fired = Some(Fired {
                id: stored.id,
                action: rule.action.clone(),
            });
        }
        tx.set_fault_counts(stored.id, hits, remaining, draws)?;
        if remaining != Some(0) {
            live.push(armed);
        }
    }
    Ok((fired, live))
}

/// What became of a call a rule may have fired on.
#[derive(Debug)]
pub enum Reply<T> {
    /// No rule fired: the call's own outcome.
    Ran(T),
    /// A rule fired; the call's outcome when its action let the call run.
    Fault(Fired, Option<T>),
}

impl<T> Reply<T> {
    /// The call's own outcome, when it ran.
    pub fn outcome(&self) -> Option<&T> {
        match self {
            Reply::Ran(outcome) | Reply::Fault(_, Some(outcome)) => Some(outcome),
            Reply::Fault(_, None) => None,
        }
    }
}

/// Runs `call` unless the rule that fired stands in for it (waiting first for a delay rule);
/// on the blocking pool, where calls run.
pub fn around<T>(fired: Option<Fired>, call: impl FnOnce() -> T) -> Reply<T> {
    let Some(fired) = fired else {
        return Reply::Ran(call());
    };
    if let Action::Delay { ms } = fired.action {
        std::thread::sleep(Duration::from_millis(ms));
    }
    let ran = fired.action.runs_method().then(call);
    Reply::Fault(fired, ran)
}

/// The answer for a call: `render` makes the call's own answer; a rule that fired changes or
/// replaces it, closes the connection through `cut`, and is named in the answer's extensions
/// ([`FaultFired`]) for the journal.
pub fn respond<T>(
    reply: Reply<T>,
    method: &str,
    cut: Option<&Cut>,
    render: impl FnOnce(T) -> Response,
) -> Response {
    respond_as(reply, method, cut, render, error_response)
}

/// [`respond`], with the renderer of an error rule's answer (REST 3.0 has its own envelope).
pub fn respond_as<T>(
    reply: Reply<T>,
    method: &str,
    cut: Option<&Cut>,
    render: impl FnOnce(T) -> Response,
    render_error: fn(&ApiError, &str) -> Response,
) -> Response {
    let (fired, ran) = match reply {
        Reply::Ran(outcome) => return render(outcome),
        Reply::Fault(fired, ran) => (fired, ran),
    };
    let ran = ran.map(render);
    let mut response = match (&fired.action, ran) {
        (Action::Error { code, retry_after }, _) => {
            let mut error = RestError::new(*code);
            error.retry_after = retry_after.or_else(|| default_retry_after(*code));
            render_error(&error.into(), method)
        }
        (
            Action::Custom {
                status,
                error,
                description,
            },
            _,
        ) => {
            let body = json!({"error": error, "error_description": description});
            with_common_headers(
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                serde_json::to_vec(&body).unwrap_or_default(),
            )
        }
        (Action::Html502, _) => html_502(),
        (Action::Delay { .. }, Some(answer)) => answer,
        (Action::CommitThenClose, Some(answer)) => close(cut, answer),
        (Action::NetworkClose, _) => close(cut, html_502()),
        // Not reached: delay and commit_then always run the call.
        (Action::Delay { .. } | Action::CommitThenClose, None) => html_502(),
    };
    response.extensions_mut().insert(FaultFired(fired.id));
    response
}

fn html_502() -> Response {
    let mut response = (StatusCode::BAD_GATEWAY, HTML_502).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    headers.insert(header::SERVER, HeaderValue::from_static("nginx"));
    response
}

/// Closes the connection without an answer. Without a [`Cut`] handle (the router served
/// without [`crate::http::cut::CutAcceptor`]) the answer is sent with `Connection: close`.
fn close(cut: Option<&Cut>, mut fallback: Response) -> Response {
    match cut {
        Some(cut) => cut.cut(),
        None => {
            tracing::warn!("a fault rule asked to close a connection that cannot be cut");
            fallback
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    fallback
}

/// Checks one `batch` command (`method?query`) of `caller`: the `result_error` entry when a rule
/// fires with an error, after waiting when one fires with a delay. Unknown and refused commands
/// are left to the batch to answer.
pub fn batch_command(state: &AppState, caller: &Caller, command: &str) -> Option<Value> {
    let (name, _) = b24_protocol::batch::split_command(command);
    let spec = crate::methods::lookup(name).filter(|spec| spec.name != "batch")?;
    let fired = check(state, spec.name, Place::BatchCommand, || {
        Some(via_of(caller))
    })?;
    match fired.action {
        Action::Error { code, .. } => {
            let error = RestError::new(code);
            Some(json!({"error": code.wire(), "error_description": error.message}))
        }
        Action::Custom {
            error, description, ..
        } => Some(json!({"error": error, "error_description": description})),
        Action::Delay { ms } => {
            std::thread::sleep(Duration::from_millis(ms));
            None
        }
        // Connection actions do not match batch commands (see the module docs).
        Action::CommitThenClose | Action::NetworkClose | Action::Html502 => None,
    }
}

/// A stored rule as the API shows it.
fn show(fault: &StoredFault) -> Value {
    let rule: Value = serde_json::from_str(&fault.rule).unwrap_or_else(|_| json!({}));
    let mut shown = Map::new();
    shown.insert("id".into(), json!(fault.id));
    if let Value::Object(fields) = rule {
        shown.extend(fields);
    }
    shown.insert("hits".into(), json!(fault.hits));
    shown.insert("remaining".into(), json!(fault.remaining));
    shown.insert("draws".into(), json!(fault.draws));
    shown.insert("created".into(), json!(fault.created));
    Value::Object(shown)
}

/// Why a rule was not stored.
#[derive(Debug)]
pub enum AddError {
    /// The portal holds [`MAX_RULES`] rules already.
    TooMany,
    /// A failure inside the server.
    Store(ApiError),
}

impl From<ApiError> for AddError {
    fn from(e: ApiError) -> Self {
        AddError::Store(e)
    }
}

/// Stores a checked rule (the admin API and the CLI): its answer, and the live rules after.
pub fn add(
    store: &Store,
    portal: PortalId,
    rule: &Rule,
) -> Result<(Value, Vec<StoredFault>), AddError> {
    let text = rule.to_json().to_string();
    let remaining = rule.times.map(|n| n as i64);
    store
        .write(portal, |tx| {
            if tx.faults()?.len() as u64 >= MAX_RULES {
                return Ok(Err(AddError::TooMany));
            }
            let stored = tx.add_fault(&text, remaining)?;
            Ok(Ok((show(&stored), tx.live_faults(false)?)))
        })
        .map_err(AddError::Store)?
}

/// Every rule, in evaluation order, as the API shows them.
pub fn list(store: &Store, portal: PortalId) -> Result<Vec<Value>, ApiError> {
    Ok(store
        .read(portal, |tx| tx.faults())?
        .iter()
        .map(show)
        .collect())
}

/// Deletes every rule; how many there were.
pub fn clear(store: &Store, portal: PortalId) -> Result<u64, ApiError> {
    store.write(portal, |tx| tx.clear_faults())
}

/// Deletes one rule; whether it existed.
pub fn remove(store: &Store, portal: PortalId, id: i64) -> Result<bool, ApiError> {
    store.write(portal, |tx| tx.remove_fault(id))
}

/// The routes of this family.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/faults",
            get(list_route).post(add_route).delete(clear_route),
        )
        .route("/faults/{id}", delete(remove_route))
}

async fn add_route(
    State(state): State<AppState>,
    AdminPortal(portal): AdminPortal,
    AdminJson(body): AdminJson<Value>,
) -> ControlResult<(StatusCode, Json<Value>)> {
    let rule = Rule::from_json(&body).map_err(ControlError::bad_request)?;
    let added = blocking(&state, move |store| Ok(add(store, portal, &rule))).await?;
    match added {
        Ok((shown, live)) => {
            state.control.faults.refresh(portal, &live);
            Ok((StatusCode::CREATED, Json(shown)))
        }
        Err(AddError::TooMany) => Err(ControlError::bad_request(format!(
            "A portal holds at most {MAX_RULES} fault rules; delete some (DELETE /_b24/faults/ID, or all with DELETE /_b24/faults)"
        ))),
        Err(AddError::Store(e)) => Err(e.into()),
    }
}

async fn list_route(
    State(state): State<AppState>,
    AdminPortal(portal): AdminPortal,
) -> ControlResult {
    let faults = blocking(&state, move |store| list(store, portal)).await?;
    Ok(Json(json!({ "faults": faults })))
}

async fn clear_route(
    State(state): State<AppState>,
    AdminPortal(portal): AdminPortal,
) -> ControlResult<StatusCode> {
    blocking(&state, move |store| clear(store, portal)).await?;
    state.control.faults.refresh(portal, &[]);
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_route(
    State(state): State<AppState>,
    AdminPortal(portal): AdminPortal,
    Path(id): Path<String>,
) -> ControlResult<StatusCode> {
    let id: i64 = id.parse().map_err(|_| {
        ControlError::bad_request(format!(
            "'{id}' is not a fault rule id; ids are the whole numbers GET /_b24/faults shows"
        ))
    })?;
    let (removed, live) = blocking(&state, move |store| {
        Ok((remove(store, portal, id)?, live_rules(store, portal)?))
    })
    .await?;
    state.control.faults.refresh(portal, &live);
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ControlError::not_found(format!(
            "There is no fault rule {id}; GET /_b24/faults lists them"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_a_function_of_seed_and_number_and_spread_over_the_unit_interval() {
        let first: Vec<f64> = (0..1000).map(|n| draw(42, n)).collect();
        let again: Vec<f64> = (0..1000).map(|n| draw(42, n)).collect();
        assert_eq!(first, again);
        assert!(first.iter().all(|x| (0.0..1.0).contains(x)));
        let below_half = first.iter().filter(|x| **x < 0.5).count();
        assert!((400..600).contains(&below_half), "{below_half}");
        assert_ne!(draw(43, 0), draw(42, 0));
    }

    #[test]
    fn wire_codes_name_their_primary_row() {
        assert_eq!(
            error_code("QUERY_LIMIT_EXCEEDED"),
            Some(ErrorCode::QueryLimitExceeded)
        );
        assert_eq!(error_code("ACCESS_DENIED"), Some(ErrorCode::AccessDenied));
        assert_eq!(error_code("NOT_FOUND"), Some(ErrorCode::NotFound));
        assert_eq!(
            error_code("insufficient_scope"),
            Some(ErrorCode::InsufficientScopeWebhook)
        );
        assert_eq!(error_code(""), None);
        assert_eq!(error_code("query_limit_exceeded"), None);
    }

    #[test]
    fn a_fired_rule_is_named_in_the_answer_for_the_journal() {
        let fired = Fired {
            id: 7,
            action: Action::Error {
                code: ErrorCode::QueryLimitExceeded,
                retry_after: None,
            },
        };
        let answer = respond(Reply::Fault(fired, None::<()>), "server.time", None, |_| {
            unreachable!("an error rule does not run the call")
        });
        assert_eq!(
            answer.extensions().get::<FaultFired>(),
            Some(&FaultFired(7))
        );
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(answer.headers()[header::RETRY_AFTER], "1");
        let plain = respond(Reply::Ran(()), "server.time", None, |_| {
            StatusCode::OK.into_response()
        });
        assert_eq!(plain.extensions().get::<FaultFired>(), None);
    }

    #[test]
    fn a_connection_that_cannot_be_cut_is_answered_and_closed() {
        let fired = Fired {
            id: 1,
            action: Action::NetworkClose,
        };
        let answer = respond(Reply::Fault(fired, None::<()>), "server.time", None, |_| {
            unreachable!("a network rule does not run the call")
        });
        assert_eq!(answer.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(answer.headers()[header::CONNECTION], "close");
    }

    #[test]
    fn a_rule_reads_back_from_what_it_shows() {
        let rule = Rule::from_json(&json!({
            "match": {"method": "crm.item.*", "via": "app:local.x"},
            "after": 2, "times": 1, "probability": 0.5, "seed": 7,
            "action": {"error": "OPERATION_TIME_LIMIT", "retry_after": 3}
        }))
        .unwrap();
        assert_eq!(Rule::from_json(&rule.to_json()).unwrap(), rule);
    }
}
