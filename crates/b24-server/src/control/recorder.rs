//! Recording REST calls into the journal (`/_b24/journal`), off the request path.
//!
//! The REST handler records each call once answered ([`record`]); the token endpoint's routes
//! are wrapped in [`layer`], which does the same. What the handlers learnt along the way comes
//! in a [`CallRecord`] (the parameters with secrets removed, the caller, the batch commands,
//! a success answer's bytes); the error code [`error_response`] marked ([`AnsweredError`]) and
//! the fault rule that fired ([`FaultFired`]) come in the answer's extensions. The call is
//! pushed, not yet serialised, onto a queue behind a mutex; a background task ([`start`])
//! takes the whole queue every 50 ms and writes it in one transaction per portal (a few large
//! commits cost far less than one per call). When the queue is full the call is dropped and
//! counted (and logged at most once per interval) rather than slowing callers.
//!
//! Serialising the entries to JSON happens on the writer's thread, not the caller's.
//! [`Recorder::flush`] waits until everything queued before it is written: the journal's read
//! routes call it, so a test that reads the journal after its call was answered sees the call.
//!
//! With `--journal-size 0` nothing of this runs: no parameters are copied, nothing is queued.
//!
//! [`error_response`]: crate::http::error_response
//! [`FaultFired`]: super::FaultFired

use super::FaultFired;
use crate::auth::{Caller, CallerKind};
use crate::state::AppState;
use crate::store::journal::{CallRef, JournalChunk, Via};
use crate::store::{PortalId, Store};
use axum::extract::{Request, State};
use axum::http::{Method, Uri};
use axum::middleware::Next;
use axum::response::Response;
use b24_protocol::params::DecodeLimits;
use b24_protocol::request::{request_params, BodyKind};
use bytes::Bytes;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};

/// Calls waiting for the writer at most; beyond, new ones are dropped (and counted).
const QUEUE_CAPACITY: usize = 8192;
/// Calls written in one chunk (and one transaction) at most.
const MAX_CHUNK: usize = 4096;
/// How long the writer gathers entries before it writes them (a reader's flush cuts it short).
const LINGER: Duration = Duration::from_millis(50);
/// Dropped entries are logged at most this often.
const DROP_WARNING_INTERVAL_SECS: u64 = 10;
/// How long a read waits for the writer before answering with what is stored.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Put in an answer's extensions by [`crate::http::error_response`]: the wire code answered.
#[derive(Debug, Clone, Copy)]
pub struct AnsweredError(pub &'static str);

/// What a handler learnt about a call, for its journal entry; travels in the answer's
/// extensions to [`layer`]. Empty (and never filled) when the journal is off.
#[derive(Debug, Clone, Default)]
pub struct CallRecord {
    on: bool,
    method: Option<Cow<'static, str>>,
    params: Option<Map<String, Value>>,
    via: Option<CallerVia>,
    user: Option<i64>,
    client_id: Option<String>,
    batch: Option<Vec<BatchCommand>>,
    /// The portal the call was about (its journal gets the entry).
    portal: Option<PortalId>,
    /// The bytes of a success answer, shared with the answer sent (others are read from the
    /// answer's body when the call is recorded).
    answer: Option<Bytes>,
    /// When the call arrived, on its portal's clock (read once the portal was known).
    at: Option<f64>,
}

/// One command of a recorded `batch`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BatchCommand {
    /// The command's key in `cmd`.
    pub key: String,
    /// Its method, lower-cased.
    pub method: String,
    /// The wire error code it answered with, if any.
    pub error: Option<String>,
}

/// Who called, as far as the journal needs to know.
#[derive(Debug, Clone)]
pub struct Who {
    via: CallerVia,
    user: i64,
}

/// The credential a call came with, for its entry's `via`; kept as parts and written as text
/// only into the chunk (no string made per call for a webhook).
#[derive(Debug, Clone, PartialEq)]
enum CallerVia {
    Webhook(i64),
    App(String),
}

impl CallerVia {
    fn as_via(&self) -> Via<'_> {
        match self {
            Self::Webhook(id) => Via::Webhook(*id),
            Self::App(client_id) => Via::App(client_id),
        }
    }
}

impl Who {
    /// The caller's `via` and user.
    pub fn of(caller: &Caller) -> Self {
        let via = match &caller.kind {
            CallerKind::Webhook { id } => CallerVia::Webhook(*id),
            CallerKind::App { client_id, .. } => CallerVia::App(client_id.clone()),
        };
        Self {
            via,
            user: caller.user.id,
        }
    }
}

impl CallRecord {
    /// A record for a call to the portal of `state`, which arrived at `at` on that portal's
    /// clock: filled only when the journal is on.
    pub fn new(state: &AppState, at: f64) -> Self {
        Self {
            on: state.control.recorder.on(),
            portal: Some(state.portal_id),
            at: Some(at),
            ..Self::default()
        }
    }

    /// Whether anything should be noted.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Notes the method called (saves parsing the path again).
    pub fn method(&mut self, method: &str) {
        if self.on {
            self.method = Some(Cow::Owned(method.to_ascii_lowercase()));
        }
    }

    /// Notes a method of the method table by its (lower-case) name: nothing is copied.
    pub fn known_method(&mut self, name: &'static str) {
        if self.on {
            debug_assert!(!name.bytes().any(|b| b.is_ascii_uppercase()));
            self.method = Some(Cow::Borrowed(name));
        }
    }

    /// Notes the request's parameters, secrets removed.
    pub fn params(&mut self, params: &Map<String, Value>) {
        if self.on {
            self.params = Some(match params.is_empty() {
                true => Map::new(),
                false => public_params(params),
            });
        }
    }

    /// Notes the bytes of the answer (shared, not copied), for the console's call page.
    pub fn answered(&mut self, body: &Bytes) {
        if self.on {
            self.answer = Some(body.clone());
        }
    }

    /// Notes the token endpoint's parameters; a successful answer names the application.
    pub fn oauth_params(&mut self, params: &Map<String, Value>) {
        if self.on {
            self.params(params);
            self.client_id = params
                .get("client_id")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
    }

    /// Notes who called, once authenticated.
    pub fn caller(&mut self, who: Option<Who>) {
        if let Some(who) = who {
            self.via = Some(who.via);
            self.user = Some(who.user);
        }
    }

    /// Notes each command of a `batch` and its error, from the noted `cmd` and the batch's
    /// `result`.
    pub fn batch(&mut self, result: &Value) {
        if !self.on {
            return;
        }
        let cmd = self.params.as_ref().and_then(|p| {
            p.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("cmd"))
                .map(|(_, v)| v)
        });
        self.batch = Some(batch_commands(cmd, result));
    }

    /// Puts the record into the answer, for [`layer`].
    pub fn attach(self, mut response: Response) -> Response {
        if self.on {
            response.extensions_mut().insert(self);
        }
        response
    }
}

/// The commands of a batch in order, with their errors: a command in `result_error` failed, one
/// in `result` succeeded; commands that did not run (after a `halt`) are left out.
fn batch_commands(cmd: Option<&Value>, result: &Value) -> Vec<BatchCommand> {
    let commands: Vec<(String, &Value)> = match cmd {
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => Vec::new(),
    };
    // PHP's shape: a map keyed 0..n-1 is a list.
    let find = |block: &Value, key: &str| -> Option<Value> {
        match block {
            Value::Object(map) => map.get(key).cloned(),
            Value::Array(list) => key.parse::<usize>().ok().and_then(|i| list.get(i).cloned()),
            _ => None,
        }
    };
    let errors = &result["result_error"];
    let results = &result["result"];
    commands
        .into_iter()
        .filter_map(|(key, command)| {
            let text = command.as_str()?;
            let method = b24_protocol::batch::split_command(text)
                .0
                .to_ascii_lowercase();
            let error = match find(errors, &key) {
                Some(entry) => Some(entry["error"].as_str().unwrap_or("").to_string()),
                None => {
                    find(results, &key)?;
                    None
                }
            };
            Some(BatchCommand { key, method, error })
        })
        .collect()
}

/// Parameter names that carry secrets, compared without case; `auth[...]` and anything whose
/// name says token, secret or password go too.
const SECRET_NAMES: &[&str] = &[
    "auth",
    "access_token",
    "refresh_token",
    "code",
    "client_secret",
    "application_token",
    "authorization",
    "auth_id",
    "refresh_id",
    "api_key",
    "apikey",
    "sessid",
];

/// Whether a parameter name names a secret.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    let base = name.split('[').next().unwrap_or("");
    SECRET_NAMES.contains(&base)
        || ["token", "secret", "password"]
            .iter()
            .any(|word| name.contains(word))
}

/// A copy of the parameters without secrets, at every depth; the commands of a `batch` lose
/// their secret query parameters too.
pub fn public_params(params: &Map<String, Value>) -> Map<String, Value> {
    params
        .iter()
        .filter(|(k, _)| !is_secret_name(k))
        .map(|(k, v)| {
            let v = if k.eq_ignore_ascii_case("cmd") {
                scrub_commands(v)
            } else {
                public_value(v)
            };
            (k.clone(), v)
        })
        .collect()
}

fn public_value(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(public_params(map)),
        Value::Array(list) => Value::Array(list.iter().map(public_value).collect()),
        other => other.clone(),
    }
}

fn scrub_commands(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(scrub_command(text)),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), scrub_commands(v)))
                .collect(),
        ),
        Value::Array(list) => Value::Array(list.iter().map(scrub_commands).collect()),
        other => other.clone(),
    }
}

/// A batch command (`method?query`) without the query parameters that name secrets.
fn scrub_command(command: &str) -> String {
    let Some((method, query)) = command.split_once('?') else {
        return command.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            let name = percent_encoding::percent_decode_str(&name.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned();
            !is_secret_name(&name)
        })
        .collect();
    format!("{method}?{}", kept.join("&"))
}

/// A call waiting for the writer: everything the entry needs, not yet serialised.
#[derive(Debug)]
struct Pending {
    portal: PortalId,
    at: f64,
    via: Option<CallerVia>,
    user: Option<i64>,
    method: Cow<'static, str>,
    http: u16,
    error: Option<&'static str>,
    ms: f64,
    params: Map<String, Value>,
    batch: Option<Vec<BatchCommand>>,
    fault: Option<i64>,
    /// The answer's bytes, for [`Answers`] (shared with the answer sent, not copied).
    answer: Option<Bytes>,
}

impl Pending {
    /// The entry as a chunk stores it.
    fn as_call(&self) -> CallRef<'_, Map<String, Value>, [BatchCommand]> {
        CallRef {
            at: self.at,
            via: self.via.as_ref().map_or(Via::None, CallerVia::as_via),
            user: self.user,
            method: &self.method,
            http: self.http,
            error: self.error,
            ms: self.ms,
            params: &self.params,
            batch: self.batch.as_deref(),
            fault: self.fault,
        }
    }
}

/// What waits for the writer: calls in the order they were answered, and the readers waiting
/// for them to be written. Behind one mutex, held for a push or a swap only.
#[derive(Debug, Default)]
struct Queue {
    calls: Vec<Pending>,
    acks: Vec<oneshot::Sender<()>>,
}

/// The journal's queue and its counters; lives in [`super::ControlState`].
///
/// A call is pushed onto a vector under a mutex, with no allocation of its own: the writer
/// swaps the whole vector for an empty one of the same capacity every `LINGER` (50 ms), so both
/// vectors keep their size and the queue costs a caller one uncontended lock (a channel cost
/// a boxed entry and a wake-up check per call, a large share of a `server.time` call).
pub struct Recorder {
    keep: u64,
    on: bool,
    queue: Mutex<Queue>,
    /// Wakes the writer when the queue stops being empty or a reader waits.
    wake: Notify,
    /// Cuts the writer's gathering short when a reader waits.
    flushing: Notify,
    /// Whether a writer task runs (set by [`start`], cleared by [`Writer::stop`]).
    running: AtomicBool,
    /// Whether a writer was ever started (only one may be).
    started: AtomicBool,
    dropped: AtomicU64,
    warned_at: AtomicU64,
    /// The newest answers, in memory only.
    answers: Answers,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("keep", &self.keep)
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// A recorder keeping `keep` entries per portal; 0: none, and nothing is ever queued.
    pub fn new(keep: u64) -> Self {
        Self {
            keep,
            on: keep > 0,
            queue: Mutex::new(Queue {
                calls: Vec::with_capacity(if keep > 0 { QUEUE_CAPACITY } else { 0 }),
                acks: Vec::new(),
            }),
            wake: Notify::new(),
            flushing: Notify::new(),
            running: AtomicBool::new(false),
            started: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            warned_at: AtomicU64::new(0),
            answers: Answers::default(),
        }
    }

    /// The answers of the newest calls this process journaled (see [`Answers`]).
    pub fn answers(&self) -> &Answers {
        &self.answers
    }

    /// Whether calls are recorded.
    pub fn on(&self) -> bool {
        self.on
    }

    /// Entries dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, pending: Pending) {
        if !self.on {
            return;
        }
        let mut queue = self.queue();
        if queue.calls.len() >= QUEUE_CAPACITY {
            drop(queue);
            self.note_dropped();
            return;
        }
        let was_empty = queue.calls.is_empty();
        queue.calls.push(pending);
        drop(queue);
        // The writer sleeps until the first call of a batch; later ones wait for it quietly.
        if was_empty {
            self.wake.notify_one();
        }
    }

    fn note_dropped(&self) {
        let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.warned_at.load(Ordering::Relaxed);
        if now >= last + DROP_WARNING_INTERVAL_SECS
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                dropped,
                "the request journal cannot keep up: calls are answered but not recorded"
            );
        }
    }

    /// Waits until every entry sent before this call is written (or the writer is gone, or
    /// ten seconds passed). Returns at once when no writer runs.
    pub async fn flush(&self) {
        if !self.on || !self.running.load(Ordering::Acquire) {
            return;
        }
        let (ack, acked) = oneshot::channel();
        self.queue().acks.push(ack);
        self.wake.notify_one();
        self.flushing.notify_one();
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, acked).await;
    }
}

/// The running writer, from [`start`].
pub struct Writer {
    control: Arc<super::ControlState>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    /// Writes what is still queued, then stops the task.
    pub async fn stop(self) {
        let recorder = &self.control.recorder;
        recorder.flush().await;
        recorder.running.store(false, Ordering::Release);
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Starts the journal's writer task (once per server; `None` when the journal is off or a
/// writer was started already).
pub fn start(state: &AppState) -> Option<Writer> {
    let recorder = &state.control.recorder;
    if !recorder.on || recorder.started.swap(true, Ordering::AcqRel) {
        return None;
    }
    recorder.running.store(true, Ordering::Release);
    let task = tokio::spawn(write_loop(state.store.clone(), state.control.clone()));
    Some(Writer {
        control: state.control.clone(),
        task,
    })
}

async fn write_loop(store: Arc<Store>, control: Arc<super::ControlState>) {
    let recorder = &control.recorder;
    // The vector the callers fill next: swapped with theirs at every batch, so both keep their
    // full size. Growing fresh vectors every batch made the allocator fault in new (huge)
    // pages, which the kernel zeroes — the largest share of the journal's cost in profiles.
    let mut spare = Buffers::new();
    loop {
        recorder.wake.notified().await;
        // Gather for up to LINGER, asleep, unless a reader waits: one commit of many rows costs
        // far less than many commits of a few, which rewrite the same pages.
        let waiting = !recorder.queue().acks.is_empty();
        if !waiting {
            tokio::select! {
                _ = tokio::time::sleep(LINGER) => {}
                _ = recorder.flushing.notified() => {}
            }
        }
        let acks = {
            let mut queue = recorder.queue();
            std::mem::swap(&mut queue.calls, &mut spare.calls);
            std::mem::take(&mut queue.acks)
        };
        if !spare.calls.is_empty() {
            let control = control.clone();
            let store = store.clone();
            let mut taken = std::mem::take(&mut spare);
            let written = tokio::task::spawn_blocking(move || {
                let recorder = &control.recorder;
                let result = write(&store, recorder.keep, &mut taken, &recorder.answers);
                (taken, result)
            })
            .await;
            match written {
                Ok((returned, result)) => {
                    spare = returned;
                    if let Err(e) = result {
                        tracing::warn!(
                            error = format!("{e:#}"),
                            "could not write to the request journal"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the request journal writer panicked");
                    spare = Buffers::new();
                }
            }
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

/// The writer's buffers, reused from batch to batch (emptied, never shrunk).
#[derive(Default)]
struct Buffers {
    calls: Vec<Pending>,
    chunk: JournalChunk,
    answers: Vec<Option<Bytes>>,
}

impl Buffers {
    fn new() -> Self {
        Self {
            calls: Vec::with_capacity(QUEUE_CAPACITY),
            chunk: JournalChunk::with_capacity(MAX_CHUNK),
            answers: Vec::with_capacity(MAX_CHUNK),
        }
    }
}

/// Writes the gathered calls in order, one transaction per run of one portal's calls (at most
/// [`MAX_CHUNK`] to a chunk), keeps their answers under the numbers they were given, and leaves
/// the buffers empty. A call whose parameters cannot be encoded is left out (and logged).
fn write(store: &Store, keep: u64, buffers: &mut Buffers, kept: &Answers) -> anyhow::Result<()> {
    let Buffers {
        calls,
        chunk,
        answers,
    } = buffers;
    let mut outcome = Ok(());
    // The calls are read where they lie (each is a few hundred bytes: moving them costs more
    // than encoding some of them), a run of one portal's calls to a chunk.
    let mut rest = &mut calls[..];
    while let Some(portal) = rest.first().map(|call| call.portal) {
        let run = rest
            .iter()
            .take(MAX_CHUNK)
            .take_while(|call| call.portal == portal)
            .count();
        let (these, after) = std::mem::take(&mut rest).split_at_mut(run);
        rest = after;
        chunk.clear();
        answers.clear();
        for call in these {
            match chunk.push(&call.as_call()) {
                Ok(()) => answers.push(call.answer.take()),
                Err(e) => tracing::warn!(
                    method = %call.method,
                    error = %e,
                    "a call could not be encoded for the request journal"
                ),
            }
        }
        if chunk.is_empty() {
            continue;
        }
        match store.write(portal, |tx| tx.append_journal(chunk, keep)) {
            Ok(last) => kept.keep(portal, last - chunk.len() + 1, answers.drain(..)),
            Err(e) => outcome = Err(anyhow::anyhow!("{e}")),
        }
    }
    calls.clear();
    chunk.clear();
    answers.clear();
    outcome
}

/// The answers of the newest calls this process journaled, for the console's call page: in
/// memory only (2,000 answers and 16 MiB at most), shared with the bytes
/// sent rather than copied, and never written to the database, so the journal's rows stay as
/// small as they were. Token endpoint answers are never kept; secrets in a REST answer are
/// redacted when it is shown.
#[derive(Debug, Default)]
pub struct Answers {
    kept: Mutex<AnswerQueue>,
}

#[derive(Debug, Default)]
struct AnswerQueue {
    /// Oldest first: (portal, journal number, answer).
    entries: std::collections::VecDeque<(PortalId, i64, Bytes)>,
    bytes: usize,
}

/// Answers kept at most (across portals).
const ANSWERS_KEPT: usize = 2_000;
/// Bytes of answers kept at most.
const ANSWER_BYTES_KEPT: usize = 16 << 20;
/// Larger answers are not kept (a page of 50 items is far smaller).
const ANSWER_MAX_BYTES: usize = 512 << 10;

impl Answers {
    fn keep(&self, portal: PortalId, first_seq: i64, answers: impl Iterator<Item = Option<Bytes>>) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        for (seq, answer) in (first_seq..).zip(answers) {
            let Some(answer) = answer else { continue };
            kept.bytes += answer.len();
            kept.entries.push_back((portal, seq, answer));
        }
        while kept.entries.len() > ANSWERS_KEPT || kept.bytes > ANSWER_BYTES_KEPT {
            let Some((_, _, gone)) = kept.entries.pop_front() else {
                break;
            };
            kept.bytes -= gone.len();
        }
    }

    /// The answer of journal entry `seq` of `portal`, while it is kept; secret-named keys are
    /// removed from a JSON answer at any depth.
    pub fn get(&self, portal: PortalId, seq: i64) -> Option<KeptAnswer> {
        let bytes = {
            let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            kept.entries
                .iter()
                .rev()
                .find(|(p, s, _)| *p == portal && *s == seq)
                .map(|(_, _, b)| b.clone())?
        };
        Some(match serde_json::from_slice::<Value>(&bytes) {
            Ok(json) => KeptAnswer::Json(redacted(json)),
            Err(_) => KeptAnswer::Text(String::from_utf8_lossy(&bytes).into_owned()),
        })
    }

    /// Forgets a portal's answers (its journal was cleared, reset or restored).
    pub fn forget_portal(&self, portal: PortalId) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let queue = &mut *kept;
        queue.entries.retain(|(p, _, b)| {
            let keep = *p != portal;
            if !keep {
                queue.bytes -= b.len();
            }
            keep
        });
    }
}

/// `value` with the value of every secret-named key replaced by `"REDACTED"`, at any depth (the
/// key stays, so the reader sees what the answer held).
fn redacted(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if is_secret_name(&k) {
                        Value::String("REDACTED".into())
                    } else {
                        redacted(v)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(list) => Value::Array(list.into_iter().map(redacted).collect()),
        other => other,
    }
}

/// An answer as the console shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum KeptAnswer {
    /// A JSON answer, secrets removed.
    Json(Value),
    /// Anything else (an HTML error page from a fault rule), as text.
    Text(String),
}

/// The answer's bytes, when its body is already whole in memory and not too large; the response
/// goes on with the same bytes (no copy). A streamed body is left alone.
async fn answer_bytes(response: Response) -> (Response, Option<Bytes>) {
    use axum::body::HttpBody;
    let whole = response
        .body()
        .size_hint()
        .exact()
        .is_some_and(|n| n as usize <= ANSWER_MAX_BYTES);
    if !whole {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, ANSWER_MAX_BYTES).await {
        Ok(bytes) => (
            Response::from_parts(parts, axum::body::Body::from(bytes.clone())),
            Some(bytes),
        ),
        // Not reached for a body of known size; answer what is left rather than fail.
        Err(_) => (Response::from_parts(parts, axum::body::Body::empty()), None),
    }
}

/// When a call arrived, for its entry's `ms`. (Its `at` comes with its [`CallRecord`], read on
/// its portal's clock once the portal is known, or is worked back from `ms`.)
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    started: Instant,
}

impl Timing {
    /// Now.
    pub fn start() -> Self {
        Self {
            started: Instant::now(),
        }
    }
}

/// Wraps the token endpoint's routes (`/oauth/token/`, a route layer: nothing else passes
/// through it): records each answered call, preflights excepted. The REST handler records its
/// own calls with [`record`], without this layer.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !state.control.recorder.on() || request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    let timing = Timing::start();
    let uri = request.uri().clone();
    let response = next.run(request).await;
    match record(&state, timing, &uri, response, None) {
        Ok(response) => response,
        Err(unread) => unread.record(&state, &uri).await,
    }
}

/// Journals an answered call (to `uri`, which arrived at `timing`) and gives the answer back,
/// when the answer's bytes to keep are known: a success answer's come in the record, the token
/// endpoint's are never kept. Any other answer (an error, a fault's page) is given back to be
/// read first, by [`Unrecorded::record`]: most calls then never wait on a future here. What the
/// handler learnt comes in `call`, or else in the answer's extensions.
pub fn record(
    state: &AppState,
    timing: Timing,
    uri: &Uri,
    mut response: Response,
    call: Option<CallRecord>,
) -> Result<Response, Box<Unrecorded>> {
    let ms = timing.started.elapsed().as_secs_f64() * 1000.0;
    let mut call = call
        .or_else(|| response.extensions_mut().remove::<CallRecord>())
        .unwrap_or_default();
    let answer = match call.answer.take() {
        _ if is_token_endpoint(uri) => None,
        Some(bytes) => Some(bytes),
        None => return Err(Box::new(Unrecorded { ms, response, call })),
    };
    Ok(enter(state, uri, ms, response, call, answer))
}

/// An answered call whose answer must be read back from its body before it is journaled.
pub struct Unrecorded {
    ms: f64,
    response: Response,
    call: CallRecord,
}

impl Unrecorded {
    /// Reads the answer's bytes (a body of known size, already in memory), journals the call
    /// and gives the answer back.
    pub async fn record(self: Box<Self>, state: &AppState, uri: &Uri) -> Response {
        let Self { ms, response, call } = *self;
        let (response, answer) = answer_bytes(response).await;
        enter(state, uri, ms, response, call, answer)
    }
}

/// Queues the entry of an answered call that took `ms`.
fn enter(
    state: &AppState,
    uri: &Uri,
    ms: f64,
    response: Response,
    call: CallRecord,
    answer: Option<Bytes>,
) -> Response {
    // The call's portal (found from its credential inside), at that portal's time.
    let portal = call.portal.unwrap_or(state.portal_id);
    let at = call.at.unwrap_or_else(|| {
        let elsewhere = (portal != state.portal_id)
            .then(|| state.portals.get(portal))
            .flatten();
        let now = match elsewhere {
            Some(runtime) => crate::clock::Clock::now(runtime.clock.as_ref()),
            None => state.clock.now(),
        };
        now - ms / 1000.0
    });
    let answer = answer.filter(|b| b.len() <= ANSWER_MAX_BYTES);
    let stamp = Stamp { portal, at, ms };
    let entry = describe(uri, &response, call, state.limits.decode, stamp, answer);
    state.control.recorder.send(entry);
    response
}

fn is_token_endpoint(uri: &Uri) -> bool {
    uri.path().starts_with("/oauth/")
}

/// Where and when a call is entered: its portal, its time on that portal's clock, how long it
/// took.
struct Stamp {
    portal: PortalId,
    at: f64,
    ms: f64,
}

/// The entry of an answered call, from its URI, its [`CallRecord`] and the marks in the
/// answer's extensions.
fn describe(
    uri: &Uri,
    response: &Response,
    call: CallRecord,
    decode: DecodeLimits,
    Stamp { portal, at, ms }: Stamp,
    answer: Option<Bytes>,
) -> Pending {
    let extensions = response.extensions();
    let http = response.status().as_u16();
    let oauth = is_token_endpoint(uri);
    let method = match call.method {
        _ if oauth => Cow::Borrowed("oauth.token"),
        Some(method) => method,
        None => Cow::Owned(
            crate::http::rest_method(uri.path())
                .map(|m| m.to_ascii_lowercase())
                .unwrap_or_default(),
        ),
    };
    let via = match (call.via, call.client_id) {
        (Some(via), _) => Some(via),
        (None, Some(client_id)) if oauth && http == 200 => Some(CallerVia::App(client_id)),
        _ => None,
    };
    Pending {
        portal,
        at,
        via,
        user: call.user,
        method,
        http,
        error: extensions.get::<AnsweredError>().map(|e| e.0),
        ms,
        params: call
            .params
            .unwrap_or_else(|| query_params(uri, decode).unwrap_or_default()),
        batch: call.batch,
        fault: extensions.get::<FaultFired>().map(|f| f.0),
        answer,
    }
}

/// The query string's parameters, secrets removed: for calls answered before their parameters
/// were read (the request-rate limiter, a closed portal).
fn query_params(uri: &Uri, decode: DecodeLimits) -> Option<Map<String, Value>> {
    let query = uri.query()?;
    let params = request_params(
        query.as_bytes(),
        &[],
        BodyKind::from_content_type(None),
        decode,
    )
    .ok()?;
    Some(public_params(&params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_removed_at_every_depth_and_from_batch_commands() {
        let params = json!({
            "auth": "A", "AUTH": {"domain": "x"}, "auth[member_id]": "m", "access_token": "B",
            "refresh_token": "C", "code": "D", "client_secret": "E", "application_token": "F",
            "fields": {"TITLE": "ok", "UF_MY_TOKEN": "G", "nested": [{"password": "H"}]},
            "cmd": {"a": "crm.item.get?id=1&auth=I&entityTypeId=2", "b": "server.time?access%5Ftoken=J"},
            "id": 5,
        });
        let cleaned = Value::Object(public_params(params.as_object().unwrap()));
        let text = cleaned.to_string();
        for secret in [
            "\"A\"", "\"m\"", "\"B\"", "\"C\"", "\"D\"", "\"E\"", "\"F\"", "\"G\"", "\"H\"", "=I",
            "=J",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(
            cleaned,
            json!({"fields": {"TITLE": "ok", "nested": [{}]},
                   "cmd": {"a": "crm.item.get?id=1&entityTypeId=2", "b": "server.time?"}, "id": 5})
        );
    }

    fn stamp() -> Stamp {
        Stamp {
            portal: 1,
            at: 0.0,
            ms: 0.0,
        }
    }

    #[test]
    fn the_entry_takes_the_fault_and_the_error_from_the_answer_and_the_rest_from_the_record() {
        let mut response = Response::new(axum::body::Body::empty());
        *response.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
        response.extensions_mut().insert(FaultFired(7));
        response
            .extensions_mut()
            .insert(AnsweredError("QUERY_LIMIT_EXCEEDED"));
        let mut call = CallRecord {
            on: true,
            ..CallRecord::default()
        };
        call.params(json!({"id": 1, "auth": "secret"}).as_object().unwrap());
        call.caller(Some(Who {
            via: CallerVia::Webhook(3),
            user: 1,
        }));
        let uri: Uri = "/rest/1/CODE/CRM.Item.Get?auth=q".parse().unwrap();
        let entry = describe(
            &uri,
            &response,
            call,
            DecodeLimits::default(),
            stamp(),
            None,
        );
        assert_eq!(entry.fault, Some(7));
        assert_eq!(entry.error, Some("QUERY_LIMIT_EXCEEDED"));
        assert_eq!(entry.http, 503);
        assert_eq!(entry.method, "crm.item.get");
        assert_eq!(entry.via, Some(CallerVia::Webhook(3)));
        assert_eq!(Value::Object(entry.params), json!({"id": 1}));

        // Answered before the parameters were read: the query string's, secrets removed.
        let bare = Response::new(axum::body::Body::empty());
        let uri: Uri = "/rest/server.time?auth=q&x=1".parse().unwrap();
        let call = CallRecord::default();
        let entry = describe(&uri, &bare, call, DecodeLimits::default(), stamp(), None);
        assert_eq!((entry.fault, entry.error, entry.via), (None, None, None));
        assert_eq!(Value::Object(entry.params), json!({"x": "1"}));
    }

    #[test]
    fn batch_commands_take_their_errors_from_either_shape() {
        let cmd = json!({"x": "server.time", "y": "CRM.Item.Get?id=1", "z": "app.info"});
        let result = json!({"result": {"x": "t"}, "result_error": {"y": {"error": "NOT_FOUND"}}});
        assert_eq!(
            batch_commands(Some(&cmd), &result),
            vec![
                BatchCommand {
                    key: "x".into(),
                    method: "server.time".into(),
                    error: None
                },
                BatchCommand {
                    key: "y".into(),
                    method: "crm.item.get".into(),
                    error: Some("NOT_FOUND".into())
                },
            ]
        );
        let cmd = json!(["server.time", "nope.nope"]);
        let result = json!({"result": {"0": "t"}, "result_error": {"1": {"error": "ERROR_METHOD_NOT_FOUND"}}});
        assert_eq!(batch_commands(Some(&cmd), &result).len(), 2);
        let result = json!({"result": [], "result_error": [{"error": "E"}]});
        assert_eq!(
            batch_commands(Some(&json!(["a.b"])), &result),
            vec![BatchCommand {
                key: "0".into(),
                method: "a.b".into(),
                error: Some("E".into())
            }]
        );
    }
}
