//! The method table and [`authenticate_and_dispatch`], which knows nothing about HTTP: the HTTP
//! layer looks the method up once and calls it once per request; `batch` runs each command itself.
//!
//! Each method family has its own file; each method is a plain function from a [`Call`] to an
//! [`Output`], run on the blocking pool because it talks to the store synchronously; the few
//! that answer from memory alone ([`Handler::InMemory`]) run on the async worker when nothing
//! else in the call needs the database.

mod activity;
mod activity_type;
mod app_option;
mod batch;
mod binding;
mod contact_companies;
mod crm_category;
mod crm_dealcategory;
mod crm_enum;
mod crm_stagehistory;
mod crm_status;
mod crm_type;
mod crm_userfield;
mod department;
mod disk;
mod duplicate;
mod entity_userfield;
mod event;
#[doc(hidden)]
pub mod fuzzing;
mod im;
mod item;
mod legacy_entity;
mod listing;
mod placement;
mod product;
mod productrow;
mod record_lists;
mod relations;
mod requisite;
mod system;
mod tasks;
mod timeline;
mod todo_updates;
mod userfieldconfig;
mod users;
pub(crate) mod v3;

use crate::auth::{authenticate, Caller, CallerKind, Presented, Transport};
use crate::control::faults::{self, via_of, Place, Reply};
use crate::control::recorder::{CallRecord, Who};
use crate::error::ApiError;
use crate::limits::OPERATING_THRESHOLD_SECS;
use crate::state::AppState;
use crate::store::OUTBOX_INSERTS;
pub(crate) use app_option::options_value as app_option_value;
use b24_protocol::envelope::OPERATING_WINDOW_SECS;
use b24_protocol::values::{bind_int, php_display};
use b24_protocol::{ErrorCode, Page, RestError};
use foldhash::{HashMap, HashMapExt};
use serde_json::{Map, Value};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// A method's implementation.
pub type HandlerFn = fn(&Call<'_>) -> Result<Output, ApiError>;

/// How a method runs.
#[derive(Clone, Copy)]
pub enum Handler {
    /// A plain method: synchronous (it talks to the store), run on the blocking pool.
    Blocking(HandlerFn),
    /// A method that answers from memory alone (the clock, the caller, the method table). When
    /// nothing else in the call needs the database either, it runs on the async worker itself:
    /// the hop to the blocking pool and back (two thread wake-ups) cost more than the method.
    InMemory(HandlerFn),
    /// `batch`, which dispatches each of its commands itself.
    Batch,
}

impl Handler {
    /// The implementation of a plain method (`None` for `batch`).
    pub fn function(self) -> Option<HandlerFn> {
        match self {
            Handler::Blocking(f) | Handler::InMemory(f) => Some(f),
            Handler::Batch => None,
        }
    }
}

/// One row of the method table.
pub struct MethodSpec {
    /// The lower-case method name.
    pub name: &'static str,
    /// The scope a webhook or token needs; `None` for global methods.
    pub scope: Option<&'static str>,
    /// The implementation.
    pub handler: Handler,
    /// One line on what it does, for `methods` listings and `--help`.
    pub doc: &'static str,
}

/// Every method this server serves. Keep it sorted by name.
pub static METHODS: &[MethodSpec] = &[
    system::APP_INFO,
    app_option::APP_GET,
    app_option::APP_SET,
    batch::BATCH,
    activity::ADD,
    binding::ADD,
    binding::DELETE,
    binding::LIST,
    binding::MOVE,
    activity::COMMUNICATION_FIELDS,
    activity::DELETE,
    activity::FIELDS,
    activity::GET,
    activity::LIST,
    activity::TODO_ADD,
    activity::TODO_UPDATE,
    todo_updates::UPDATE_COLOR,
    todo_updates::UPDATE_DEADLINE,
    todo_updates::UPDATE_DESCRIPTION,
    todo_updates::UPDATE_RESPONSIBLE_USER,
    activity_type::ADD,
    activity_type::DELETE,
    activity_type::LIST,
    activity::UPDATE,
    requisite::ADDRESS_ADD,
    requisite::ADDRESS_DELETE,
    requisite::ADDRESS_FIELDS,
    requisite::ADDRESS_LIST,
    requisite::ADDRESS_UPDATE,
    crm_category::ADD,
    crm_category::DELETE,
    crm_category::FIELDS,
    crm_category::GET,
    crm_category::LIST,
    crm_category::UPDATE,
    legacy_entity::company::ADD,
    contact_companies::COMPANY_ADD,
    contact_companies::COMPANY_DELETE,
    contact_companies::COMPANY_FIELDS,
    contact_companies::COMPANY_ITEMS_DELETE,
    contact_companies::COMPANY_ITEMS_GET,
    contact_companies::COMPANY_ITEMS_SET,
    legacy_entity::company::DELETE,
    legacy_entity::company::FIELDS,
    legacy_entity::company::GET,
    legacy_entity::company::LIST,
    legacy_entity::company::UPDATE,
    entity_userfield::company::ADD,
    entity_userfield::company::DELETE,
    entity_userfield::company::GET,
    entity_userfield::company::LIST,
    entity_userfield::company::UPDATE,
    legacy_entity::contact::ADD,
    contact_companies::CONTACT_ADD,
    contact_companies::CONTACT_DELETE,
    contact_companies::CONTACT_FIELDS,
    contact_companies::CONTACT_ITEMS_DELETE,
    contact_companies::CONTACT_ITEMS_GET,
    contact_companies::CONTACT_ITEMS_SET,
    legacy_entity::contact::DELETE,
    legacy_entity::contact::FIELDS,
    legacy_entity::contact::GET,
    legacy_entity::contact::LIST,
    legacy_entity::contact::UPDATE,
    entity_userfield::contact::ADD,
    entity_userfield::contact::DELETE,
    entity_userfield::contact::GET,
    entity_userfield::contact::LIST,
    entity_userfield::contact::UPDATE,
    legacy_entity::deal::ADD,
    relations::ADD,
    relations::DELETE,
    relations::FIELDS,
    relations::ITEMS_DELETE,
    relations::ITEMS_GET,
    relations::ITEMS_SET,
    legacy_entity::deal::DELETE,
    legacy_entity::deal::FIELDS,
    legacy_entity::deal::GET,
    legacy_entity::deal::LIST,
    productrow::deal::GET,
    productrow::deal::SET,
    legacy_entity::deal::UPDATE,
    entity_userfield::deal::ADD,
    entity_userfield::deal::DELETE,
    entity_userfield::deal::GET,
    entity_userfield::deal::LIST,
    entity_userfield::deal::UPDATE,
    crm_dealcategory::ADD,
    crm_dealcategory::DEFAULT_GET,
    crm_dealcategory::DEFAULT_SET,
    crm_dealcategory::DELETE,
    crm_dealcategory::FIELDS,
    crm_dealcategory::GET,
    crm_dealcategory::LIST,
    crm_dealcategory::STAGE_LIST,
    crm_dealcategory::STATUS,
    crm_dealcategory::UPDATE,
    duplicate::FIND_BY_COMM,
    crm_enum::ACTIVITY_DIRECTION,
    crm_enum::ACTIVITY_NOTIFY_TYPE,
    crm_enum::ACTIVITY_PRIORITY,
    crm_enum::ACTIVITY_STATUS,
    crm_enum::ACTIVITY_TYPE,
    crm_enum::ADDRESS_TYPE,
    crm_enum::CONTENT_TYPE,
    crm_enum::FIELDS,
    crm_enum::GET_ORDER_OWNER_TYPES,
    crm_enum::OWNER_TYPE,
    crm_enum::SETTINGS_MODE,
    item::ADD,
    item::DELETE,
    item::FIELDS,
    item::GET,
    item::LIST,
    productrow::ADD,
    productrow::DELETE,
    productrow::FIELDS_METHOD,
    productrow::GET,
    productrow::LIST,
    productrow::SET,
    productrow::UPDATE,
    item::UPDATE,
    legacy_entity::lead::ADD,
    legacy_entity::lead::DELETE,
    legacy_entity::lead::FIELDS,
    legacy_entity::lead::GET,
    legacy_entity::lead::LIST,
    productrow::lead::GET,
    productrow::lead::SET,
    legacy_entity::lead::UPDATE,
    entity_userfield::lead::ADD,
    entity_userfield::lead::DELETE,
    entity_userfield::lead::GET,
    entity_userfield::lead::LIST,
    entity_userfield::lead::UPDATE,
    product::ADD,
    product::DELETE,
    product::FIELDS_METHOD,
    product::GET,
    product::LIST,
    product::UPDATE,
    productrow::quote::GET,
    productrow::quote::SET,
    requisite::ADD,
    requisite::BANK_ADD,
    requisite::BANK_DELETE,
    requisite::BANK_FIELDS,
    requisite::BANK_GET,
    requisite::BANK_LIST,
    requisite::BANK_UPDATE,
    requisite::DELETE,
    requisite::FIELDS,
    requisite::GET,
    requisite::LIST,
    requisite::PRESET_LIST,
    requisite::UPDATE,
    crm_stagehistory::LIST,
    crm_status::ADD,
    crm_status::DELETE,
    crm_status::ENTITY_ITEMS,
    crm_status::ENTITY_TYPES,
    crm_status::FIELDS,
    crm_status::GET,
    crm_status::LIST,
    crm_status::UPDATE,
    timeline::BINDINGS_BIND,
    timeline::BINDINGS_FIELDS,
    timeline::BINDINGS_LIST,
    timeline::BINDINGS_UNBIND,
    timeline::COMMENT_ADD,
    timeline::COMMENT_DELETE,
    timeline::COMMENT_FIELDS,
    timeline::COMMENT_GET,
    timeline::COMMENT_LIST,
    timeline::COMMENT_UPDATE,
    crm_type::ADD,
    crm_type::DELETE,
    crm_type::FIELDS,
    crm_type::GET,
    crm_type::GET_BY_ENTITY_TYPE_ID,
    crm_type::LIST,
    crm_type::UPDATE,
    crm_userfield::ENUMERATION_FIELDS,
    crm_userfield::FIELDS,
    crm_userfield::TYPES,
    department::ADD,
    department::DELETE,
    department::FIELDS,
    department::GET,
    department::UPDATE,
    disk::FILE_COPYTO,
    disk::FILE_DELETE,
    disk::FILE_GET,
    disk::FILE_MOVETO,
    disk::FILE_RENAME,
    disk::FOLDER_ADDSUBFOLDER,
    disk::FOLDER_DELETETREE,
    disk::FOLDER_GET,
    disk::FOLDER_GETCHILDREN,
    disk::FOLDER_UPLOADFILE,
    disk::STORAGE_ADDFOLDER,
    disk::STORAGE_GET,
    disk::STORAGE_GETCHILDREN,
    disk::STORAGE_GETLIST,
    disk::STORAGE_UPLOADFILE,
    event::BIND,
    event::GET,
    event::OFFLINE_CLEAR,
    event::OFFLINE_ERROR,
    event::OFFLINE_GET,
    event::OFFLINE_LIST,
    event::UNBIND,
    event::EVENTS_LIST,
    im::NOTIFY,
    im::PERSONAL_ADD,
    im::SYSTEM_ADD,
    system::METHOD_GET,
    system::METHODS,
    placement::BIND,
    placement::GET,
    placement::LIST,
    placement::UNBIND,
    system::PROFILE,
    system::SCOPE,
    system::SERVER_TIME,
    tasks::CHECKLIST_ADD,
    tasks::CHECKLIST_COMPLETE,
    tasks::CHECKLIST_DELETE,
    tasks::CHECKLIST_GETLIST,
    tasks::COMMENT_ADD,
    tasks::COMMENT_DELETE,
    tasks::COMMENT_GETLIST,
    tasks::ELAPSED_ADD,
    tasks::ELAPSED_GETLIST,
    tasks::ADD,
    tasks::APPROVE,
    tasks::COMPLETE,
    tasks::COUNTERS_GET,
    tasks::DEFER,
    tasks::DELEGATE,
    tasks::DELETE,
    tasks::DISAPPROVE,
    tasks::GET,
    tasks::GET_FIELDS,
    tasks::LIST,
    tasks::PAUSE,
    tasks::RENEW,
    tasks::START,
    tasks::UPDATE,
    users::ADD,
    users::ADMIN,
    system::USER_CURRENT,
    users::FIELDS,
    users::GET,
    app_option::USER_GET,
    app_option::USER_SET,
    users::SEARCH,
    users::UPDATE,
    userfieldconfig::ADD,
    userfieldconfig::DELETE,
    userfieldconfig::GET,
    userfieldconfig::LIST,
    userfieldconfig::UPDATE,
];

/// Scopes a webhook may be granted (spec §7.4), defined in `b24-protocol`.
pub use b24_protocol::KNOWN_SCOPES;

fn index() -> &'static HashMap<&'static str, &'static MethodSpec> {
    static INDEX: OnceLock<HashMap<&'static str, &'static MethodSpec>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut map = HashMap::new();
        for spec in METHODS {
            assert!(
                map.insert(spec.name, spec).is_none(),
                "method {} is listed twice",
                spec.name
            );
        }
        map
    })
}

/// Finds a method by name, case-insensitively (spec §1.1, §12).
pub fn lookup(name: &str) -> Option<&'static MethodSpec> {
    let index = index();
    index
        .get(name)
        .or_else(|| index.get(name.to_ascii_lowercase().as_str()))
        .copied()
}

/// What one method call needs: the server, the caller and the parameters.
pub struct Call<'a> {
    /// Shared server state.
    pub state: &'a AppState,
    /// Who is calling.
    pub caller: &'a Caller,
    /// The parameters, reserved auth keys removed.
    pub params: &'a Params,
}

/// What a method returns: the `result` and, for lists, `next` and `total`.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The `result` value.
    pub result: Value,
    /// Offset of the next page.
    pub next: Option<u64>,
    /// Matching rows in all.
    pub total: Option<u64>,
}

impl Output {
    /// A plain result.
    pub fn result(result: Value) -> Self {
        Self {
            result,
            next: None,
            total: None,
        }
    }
}

/// `{key: value}` with `value` moved in. `json!({"items": items})` would copy the whole value
/// (it serialises what it is given), which for a page of items was a third of the call.
pub(crate) fn keyed(key: &str, value: Value) -> Value {
    let mut map = Map::with_capacity(1);
    map.insert(key.to_string(), value);
    Value::Object(map)
}

/// A finished call: the output, how long the handler ran, and the operating-time view.
#[derive(Debug)]
pub struct Dispatched {
    /// The method's output.
    pub output: Output,
    /// Seconds spent in the handler (`time.processing`).
    pub processing: f64,
    /// Seconds of execution counted for this (client, method) in the window (`time.operating`).
    pub operating: f64,
    /// When the oldest counted bucket expires (`time.operating_reset_at`), if any is counted.
    pub operating_reset_at: Option<i64>,
}

/// The operating-time key: (portal, client, method) as the real limiter keys it (spec §5.2).
fn operating_key(caller: &Caller, method: &str) -> String {
    // Built by hand: `format!` (twice, with `client_key`) cost more than the rest of a cheap call's
    // limiter bookkeeping. The same text as `format!("{portal}|{}|{method}", caller.client_key())`.
    let mut portal = itoa::Buffer::new();
    let mut id = itoa::Buffer::new();
    let (kind, client) = match &caller.kind {
        CallerKind::Webhook { id: webhook } => ("apauth:", id.format(*webhook)),
        CallerKind::App { client_id, .. } => ("oauth:", client_id.as_str()),
    };
    [
        portal.format(caller.portal_id),
        "|",
        kind,
        client,
        "|",
        method,
    ]
    .concat()
}

/// Authenticates the caller, then runs the method: scope (401), the operating-time check (429),
/// then the handler; afterwards its execution time is counted. A fault rule (`/_b24/faults`)
/// checked right after authentication may stand in for all of that: the [`Reply`] says. `spec`
/// is the table entry the caller looked up (once per request, before authentication: an unknown
/// method is a 404 whoever asks). Authentication and the method share one blocking task: each hop to the
/// blocking pool costs two thread switches, which on a small machine cost more than a cheap
/// method itself. `batch` is exempt from the operating limiter: each of its commands is checked
/// and counted on its own. `call` learns who called, for the request journal.
pub async fn authenticate_and_dispatch(
    state: &AppState,
    credentials: impl Into<Presented>,
    transport: Transport,
    spec: &'static MethodSpec,
    params: Params,
    call: &mut CallRecord,
) -> Result<Reply<Result<Dispatched, ApiError>>, ApiError> {
    let credentials = credentials.into();
    let recording = call.is_on();
    if let Handler::InMemory(handler) = spec.handler {
        let answered = in_memory(state, &credentials, transport, spec, handler, &params);
        if let Some((caller, reply)) = answered {
            call.caller(caller.as_deref().filter(|_| recording).map(Who::of));
            return reply;
        }
    }
    let state = state.clone();
    let (who, reply) = tokio::task::spawn_blocking(move || {
        let caller = match authenticate(&state, &credentials, transport) {
            Ok(caller) => caller,
            Err(e) => return (None, Err(e)),
        };
        let who = recording.then(|| Who::of(&caller));
        // A fault rule (`/_b24/faults`) may stand in for everything from here on.
        let fired = faults::check(&state, spec.name, Place::Call, || Some(via_of(&caller)));
        let reply = faults::around(fired, || run_spec(&state, &caller, spec, params));
        crate::domain::users::note_activity(&state, &caller);
        (who, Ok(reply))
    })
    .await
    .map_err(|e| panicked(spec, e))?;
    call.caller(who);
    reply
}

/// An [`Handler::InMemory`] call answered on the async worker, when nothing in it would wait on
/// the database: the caller is cached and current, no fault rule can fire for it, the user's last
/// activity needs no write, the operating window is in memory and no simulated cost is set for
/// the method. The same checks in the same order as the blocking path, which `None` leaves the
/// call to. Answers the caller (for the journal) and the reply.
#[allow(clippy::type_complexity)]
fn in_memory(
    state: &AppState,
    credentials: &Presented,
    transport: Transport,
    spec: &'static MethodSpec,
    handler: HandlerFn,
    params: &Params,
) -> Option<(
    Option<Arc<Caller>>,
    Result<Reply<Result<Dispatched, ApiError>>, ApiError>,
)> {
    let caller = match crate::auth::authenticate_in_memory(state, credentials, transport)? {
        Ok(caller) => caller,
        Err(e) => return Some((None, Err(e))),
    };
    let quiet = faults::quiet(state, spec.name, Place::Call, || Some(via_of(&caller)));
    if !quiet
        || !crate::domain::users::activity_is_fresh(state, &caller)
        || state.operating.simulated_cost.contains_key(spec.name)
    {
        return None;
    }
    let started = Instant::now();
    let key = operating_key(&caller, spec.name);
    let now = state.clock.now();
    let window = state.limiter.operating_in_memory(&key, now)?;
    let reply = if allowed(&caller, spec) {
        let counted = Counted {
            started,
            key,
            now,
            window,
        };
        run_counted(state, &caller, spec, handler, params, counted)
    } else {
        Err(caller.insufficient_scope().into())
    };
    Some((Some(caller), Ok(Reply::Ran(reply))))
}

fn panicked(spec: &MethodSpec, e: tokio::task::JoinError) -> ApiError {
    ApiError::internal(anyhow::anyhow!("method {} panicked: {e}", spec.name))
}

/// Whether the caller's scopes allow the method (the call, `methods` and `method.get` ask the
/// same question): its scope, where `user_brief` and `user_basic` stand for `user` in the
/// methods that read users only.
pub fn allowed(caller: &Caller, spec: &MethodSpec) -> bool {
    if spec.scope == Some("user") && users::NEEDS_FULL_USER_SCOPE.contains(&spec.name) {
        return caller.scopes.iter().any(|s| s == "user");
    }
    caller.has_scope(spec.scope)
}

/// Scope check, then the method, on the blocking pool (methods talk to the store synchronously;
/// a `batch` runs all its commands on the same thread, without a hop per command).
fn run_spec(
    state: &AppState,
    caller: &Caller,
    spec: &'static MethodSpec,
    params: Params,
) -> Result<Dispatched, ApiError> {
    if !allowed(caller, spec) {
        return Err(caller.insufficient_scope().into());
    }
    match spec.handler {
        Handler::Batch => {
            let started = Instant::now();
            let output = batch::run(state, caller, params)?;
            Ok(Dispatched {
                output,
                processing: started.elapsed().as_secs_f64(),
                operating: 0.0,
                operating_reset_at: None,
            })
        }
        Handler::Blocking(handler) | Handler::InMemory(handler) => {
            run_blocking(state, caller, spec, handler, &params)
        }
    }
}

/// The operating-time check, the handler, and the accounting of its execution time; on the
/// blocking pool, since handlers talk to the store synchronously.
fn run_blocking(
    state: &AppState,
    caller: &Caller,
    spec: &MethodSpec,
    handler: HandlerFn,
    params: &Params,
) -> Result<Dispatched, ApiError> {
    let started = Instant::now();
    let key = operating_key(caller, spec.name);
    let now = state.clock.now();
    let window = state.limiter.operating(&key, now)?;
    let counted = Counted {
        started,
        key,
        now,
        window,
    };
    run_counted(state, caller, spec, handler, params, counted)
}

/// A call's operating-time accounting: when it started, its limiter key, the portal time and
/// the window read for it.
struct Counted {
    started: Instant,
    key: String,
    now: f64,
    window: crate::limits::OperatingWindow,
}

/// The operating-time check against the window read, the handler, and the accounting of its
/// execution time.
fn run_counted(
    state: &AppState,
    caller: &Caller,
    spec: &MethodSpec,
    handler: HandlerFn,
    params: &Params,
    counted: Counted,
) -> Result<Dispatched, ApiError> {
    let Counted {
        started,
        key,
        now,
        window,
    } = counted;
    if window.seconds > state.operating.limit_secs {
        // The oldest bucket's expiry is the earliest moment the total can drop.
        let reset = window.oldest_first_call.unwrap_or(now) + OPERATING_WINDOW_SECS as f64;
        let wait = (reset - now).ceil().max(1.0) as u64;
        return Err(RestError::new(ErrorCode::OperationTimeLimit)
            .with_retry_after(wait)
            .into());
    }
    let queued = OUTBOX_INSERTS.load(Ordering::Relaxed);
    let output = handler(&Call {
        state,
        caller,
        params,
    })?;
    // If the call queued events, let the sender look now rather than at its next poll.
    if OUTBOX_INSERTS.load(Ordering::Relaxed) != queued {
        state.wake_events();
    }
    state.control.events_changed.wake();
    let processing = started.elapsed().as_secs_f64();
    // A simulated cost replaces the measured time (it is not added to it): with
    // `--method-cost M=60` and the 480 s budget, eight calls use exactly 480 s, which is not over
    // the budget, so the ninth runs and the tenth is the first refused (README, `--help`).
    let cost = state
        .operating
        .simulated_cost
        .get(spec.name)
        .copied()
        .unwrap_or(processing);
    let (operating, oldest) = if cost > OPERATING_THRESHOLD_SECS {
        state.limiter.record_operating(&key, now, cost)?;
        (
            window.seconds + cost,
            Some(window.oldest_first_call.unwrap_or(now)),
        )
    } else {
        (window.seconds, window.oldest_first_call)
    };
    Ok(Dispatched {
        output,
        processing,
        operating,
        operating_reset_at: oldest.map(|t| t.floor() as i64 + OPERATING_WINDOW_SECS),
    })
}

/// A method's parameters, with binders that produce the exact errors of the real service.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Map<String, Value>);

impl Params {
    /// The raw value of a parameter, by exact name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// The raw value of a parameter, ignoring case (legacy methods accept `id` and `ID`).
    pub fn get_ci(&self, name: &str) -> Option<&Value> {
        self.0.get(name).or_else(|| {
            self.0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
    }

    /// A required `int` parameter of a D7 controller method: code `100` when absent or not numeric.
    pub fn int(&self, name: &str) -> Result<i64, ApiError> {
        let value = self
            .get(name)
            .ok_or_else(|| RestError::missing_parameter(name))?;
        bind_int(value)
            .ok_or_else(|| RestError::invalid_int_parameter(name, &php_display(value)).into())
    }

    /// An optional `int` parameter: absent is `None`, present but not numeric is code `100`.
    pub fn opt_int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.int(name).map(Some),
        }
    }

    /// A required string parameter of a D7 method.
    pub fn string(&self, name: &str) -> Result<String, ApiError> {
        match self.get(name) {
            None => Err(RestError::missing_parameter(name).into()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(other) => Err(RestError::with_message(
                ErrorCode::Argument,
                format!(
                    "Invalid value {{{}}} to match with parameter {{{name}}}. Should be value of type string.",
                    php_display(other)
                ),
            )
            .into()),
        }
    }

    /// An optional map parameter (`fields`, `filter`, `order`): absent is empty; an empty list
    /// (PHP's empty array) is empty too; anything else is code `100`.
    pub fn map(&self, name: &str) -> Result<Option<Map<String, Value>>, ApiError> {
        Self::as_map(name, self.get(name))
    }

    /// Like [`Params::map`], ignoring the case of the name (legacy methods accept `FILTER`).
    pub fn map_ci(&self, name: &str) -> Result<Option<Map<String, Value>>, ApiError> {
        Self::as_map(name, self.get_ci(name))
    }

    fn as_map(name: &str, value: Option<&Value>) -> Result<Option<Map<String, Value>>, ApiError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(Value::Array(a)) => Ok(Some(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| (i.to_string(), v.clone()))
                    .collect(),
            )),
            Some(other) => Err(RestError::with_message(
                ErrorCode::Argument,
                format!(
                    "Invalid value {{{}}} to match with parameter {{{name}}}. Should be value of type array.",
                    php_display(other)
                ),
            )
            .into()),
        }
    }

    /// The page a list call asks for (`start`).
    pub fn page(&self) -> Page {
        Page::from_start(self.get("start"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operating_key_is_portal_client_key_and_method() {
        let user = crate::store::User {
            id: 1,
            name: String::new(),
            last_name: String::new(),
            admin: true,
            active: true,
            last_activity: String::new(),
        };
        for (portal_id, kind) in [
            (1, CallerKind::Webhook { id: 7 }),
            (-3, CallerKind::Webhook { id: i64::MIN }),
            (
                12,
                CallerKind::App {
                    app_id: 2,
                    client_id: "local.abc|x".into(),
                },
            ),
        ] {
            let caller = Caller {
                portal_id,
                user: user.clone(),
                permissions: Default::default(),
                scopes: Vec::new(),
                kind,
            };
            assert_eq!(
                operating_key(&caller, "server.time"),
                format!("{portal_id}|{}|server.time", caller.client_key())
            );
        }
    }

    #[test]
    fn every_method_name_is_lower_case_dotted_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for spec in METHODS {
            assert!(
                spec.name.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'.'
                    || b == b'_'),
                "{} is not a lower-case Bitrix method name",
                spec.name
            );
            assert!(seen.insert(spec.name), "{} is listed twice", spec.name);
            assert!(!spec.doc.is_empty(), "{} has no doc line", spec.name);
            if let Some(scope) = spec.scope {
                assert!(
                    KNOWN_SCOPES.contains(&scope),
                    "{} has unknown scope {scope}",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn the_table_is_sorted_by_name() {
        let names: Vec<_> = METHODS.iter().map(|m| m.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn the_four_binding_methods_are_served_under_crm_scope() {
        for name in [
            "crm.activity.binding.list",
            "crm.activity.binding.add",
            "crm.activity.binding.delete",
            "crm.activity.binding.move",
        ] {
            assert_eq!(lookup(name).map(|m| m.scope), Some(Some("crm")), "{name}");
        }
        assert_eq!(
            lookup("CRM.Activity.Binding.Delete").map(|m| m.name),
            Some("crm.activity.binding.delete")
        );
        assert!(lookup("crm.activity.binding.nope").is_none());
    }
}
