//! The rules of tasks (`tasks.task.*`, docs api-reference/tasks/) and of their comments,
//! checklists and elapsed time (`task.commentitem.*`, `task.checklistitem.*`,
//! `task.elapseditem.*`): who may see and change a task (its roles and administrators), the
//! status moves, and how `UF_CRM_TASK` makes a task a CRM activity.
//!
//! **CRM.** A task bound to CRM items (`UF_CRM_TASK: ["D_10", "C_3"]`) has one activity of
//! `TYPE_ID` 3 (provider `TASKS`), and that activity's bindings *are* the task's
//! `UF_CRM_TASK`: nothing else stores them, so a change made through
//! `crm.activity.binding.*` shows in `tasks.task.get` and a change of `UF_CRM_TASK` shows in
//! `crm.activity.binding.list`, and they cannot disagree. Emptying `UF_CRM_TASK` deletes the
//! activity (an activity always keeps a binding); `crm.activity.binding.delete` of its last
//! binding is refused like any other; `crm.activity.delete` of it unbinds the task from CRM and
//! leaves the task (spec §12 "Tasks").

use super::activities::{activity_type, new_activity, NewActivity};
use super::changes::{self, Change};
use super::values::parse_datetime;
use super::{owner_from_bindings, Binding, EntityTypeId, Permissions, MAX_BINDINGS_PER_ACTIVITY};
use crate::error::ApiError;
use crate::store::tasks::{ChecklistItem, ElapsedItem, Role, TaskComment, TaskRecord};
use crate::store::{ActivityRecord, Tx};
use b24_protocol::values::bind_int;
use b24_protocol::{ErrorCode, RestError};
use serde_json::{json, Map, Value};

/// Task statuses (`STATUS`, `REAL_STATUS`).
pub mod status {
    /// New (old tasks only; treated as pending).
    pub const NEW: i64 = 1;
    /// Pending.
    pub const PENDING: i64 = 2;
    /// In progress.
    pub const IN_PROGRESS: i64 = 3;
    /// Awaiting the creator's control.
    pub const SUPPOSEDLY_COMPLETED: i64 = 4;
    /// Completed.
    pub const COMPLETED: i64 = 5;
    /// Deferred.
    pub const DEFERRED: i64 = 6;
    /// Declined (old tasks only).
    pub const DECLINED: i64 = 7;
}

/// The activity kind of a task bound to CRM.
const TASK_ACTIVITY: NewActivity = NewActivity {
    type_id: activity_type::TASK,
    provider_id: "TASKS",
    provider_type_id: "TASK",
};

/// A status move: which statuses it starts from and where it leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// `tasks.task.start`.
    Start,
    /// `tasks.task.pause`.
    Pause,
    /// `tasks.task.complete`.
    Complete,
    /// `tasks.task.defer`.
    Defer,
    /// `tasks.task.renew`.
    Renew,
    /// `tasks.task.approve`.
    Approve,
    /// `tasks.task.disapprove`.
    Disapprove,
}

/// What the caller may do with a task: the `action` block of the answer, and the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    /// Read it (any role, administrators).
    pub read: bool,
    /// Change its fields (creator, administrators).
    pub edit: bool,
    /// Delete it (creator, administrators).
    pub remove: bool,
    /// Hand it to another responsible person (creator, responsible, administrators).
    pub delegate: bool,
    /// Add comments, checklist items and elapsed time (any role, administrators).
    pub contribute: bool,
    /// Work on it: start, pause, complete, defer, renew (creator, responsible, participants,
    /// administrators).
    pub work: bool,
    /// Approve or return a result awaiting control (creator, administrators).
    pub control: bool,
}

/// The caller's rights on a task by its roles.
pub fn allowed(task: &TaskRecord, who: &Permissions) -> Allowed {
    let me = who.user_id;
    let creator = who.admin || task.created_by == me;
    let responsible = task.responsible_id == me;
    let accomplice = task.accomplices.contains(&me);
    let auditor = task.auditors.contains(&me);
    let any = creator || responsible || accomplice || auditor;
    Allowed {
        read: any,
        edit: creator,
        remove: creator,
        delegate: creator || responsible,
        contribute: any,
        work: creator || responsible || accomplice,
        control: creator,
    }
}

/// Whether a move can start from the task's status (and, for a move the role allows).
pub fn can_move(task: &TaskRecord, who: &Permissions, m: Move) -> bool {
    let a = allowed(task, who);
    let s = task.status;
    use status::*;
    match m {
        Move::Start => a.work && matches!(s, NEW | PENDING | DEFERRED),
        Move::Pause => a.work && s == IN_PROGRESS,
        Move::Complete => a.work && matches!(s, NEW | PENDING | IN_PROGRESS | DEFERRED),
        Move::Defer => a.work && matches!(s, NEW | PENDING | IN_PROGRESS),
        Move::Renew => {
            a.work && matches!(s, SUPPOSEDLY_COMPLETED | COMPLETED | DEFERRED | DECLINED)
        }
        Move::Approve | Move::Disapprove => a.control && s == SUPPOSEDLY_COMPLETED,
    }
}

/// `ERROR_CORE` with the service's `<br>`-terminated text.
fn core(message: &str) -> ApiError {
    RestError::with_message(ErrorCode::TaskCore, format!("{message}<br>")).into()
}

/// A legacy `task.*item.*` refusal: `TASKS_ERROR_EXCEPTION_#8; <what>; 8/TE/ACTION_FAILED_TO_BE_PROCESSED<br>`.
pub fn action_failed(what: &str) -> ApiError {
    core(&format!(
        "TASKS_ERROR_EXCEPTION_#8; {what}; 8/TE/ACTION_FAILED_TO_BE_PROCESSED"
    ))
}

/// A legacy `task.*item.*` refusal: `TASKS_ERROR_EXCEPTION_#4; Action is not allowed; 4/TE/ACTION_NOT_ALLOWED<br>`.
pub fn action_not_allowed() -> ApiError {
    core("TASKS_ERROR_EXCEPTION_#4; Action is not allowed; 4/TE/ACTION_NOT_ALLOWED")
}

/// The task, or `None` when it does not exist or the caller may not read it (the methods answer
/// both alike, so a task's existence is not revealed).
pub fn visible(
    tx: &mut dyn Tx,
    who: &Permissions,
    id: i64,
) -> Result<Option<TaskRecord>, ApiError> {
    if id <= 0 {
        return Ok(None);
    }
    Ok(tx.task(id)?.filter(|t| allowed(t, who).read))
}

/// A user id value (`RESPONSIBLE_ID`, `CREATED_BY`, members): a positive integer.
fn user_id_of(value: &Value) -> Option<i64> {
    bind_int(value).filter(|id| *id > 0)
}

/// Whether a user exists (and is active).
fn user_exists(tx: &mut dyn Tx, id: i64) -> Result<bool, ApiError> {
    Ok(tx.user(id)?.is_some_and(|u| u.active))
}

/// A list of user ids (`ACCOMPLICES`, `AUDITORS`), deduplicated in order; every one must exist.
fn user_list(tx: &mut dyn Tx, value: &Value, field: &str) -> Result<Vec<i64>, ApiError> {
    let values: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => o.values().collect(),
        Value::String(s) if s.is_empty() => Vec::new(),
        Value::Null => Vec::new(),
        other => vec![other],
    };
    let mut out = Vec::new();
    for v in values {
        let Some(id) = user_id_of(v) else {
            return Err(core(&format!("Incorrect value in the \"{field}\" field")));
        };
        if !user_exists(tx, id)? {
            return Err(core(&format!(
                "User specified in the \"{field}\" field not found"
            )));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// A CRM code of `UF_CRM_TASK` (`D_10`, `CO_5`, `T88_3`) as a binding; `None` when it names no
/// item type.
pub fn parse_crm_code(code: &str) -> Option<Binding> {
    let (prefix, id) = code.trim().split_once('_')?;
    let id: i64 = id.parse().ok().filter(|id| *id > 0)?;
    let entity_type_id = match prefix {
        "L" => EntityTypeId::LEAD,
        "D" => EntityTypeId::DEAL,
        "C" => EntityTypeId::CONTACT,
        "CO" => EntityTypeId::COMPANY,
        "Q" => EntityTypeId::QUOTE,
        "SI" => EntityTypeId::SMART_INVOICE,
        dynamic => {
            let hex = dynamic.strip_prefix('T')?;
            i64::from_str_radix(hex, 16)
                .ok()
                .filter(|t| EntityTypeId::is_dynamic(*t))?
        }
    };
    Some(Binding::new(entity_type_id, id))
}

/// A binding as its `UF_CRM_TASK` code.
pub fn crm_code(b: Binding) -> String {
    let prefix = match b.entity_type_id {
        EntityTypeId::LEAD => "L".to_string(),
        EntityTypeId::DEAL => "D".to_string(),
        EntityTypeId::CONTACT => "C".to_string(),
        EntityTypeId::COMPANY => "CO".to_string(),
        EntityTypeId::QUOTE => "Q".to_string(),
        EntityTypeId::SMART_INVOICE => "SI".to_string(),
        other => format!("T{other:x}"),
    };
    format!("{prefix}_{}", b.entity_id)
}

/// The items a `UF_CRM_TASK` value names, deduplicated in order: codes that name no item type,
/// and items that do not exist, are dropped (spec §12 "Tasks").
fn crm_bindings(tx: &mut dyn Tx, value: &Value) -> Result<Vec<Binding>, ApiError> {
    let codes: Vec<String> = match value {
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        Value::Object(o) => o
            .values()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for code in codes {
        let Some(b) = parse_crm_code(&code) else {
            continue;
        };
        if out.contains(&b) || !super::access::is_item_type(tx, b.entity_type_id)? {
            continue;
        }
        if super::access::item_exists(tx, b)? {
            out.push(b);
        }
    }
    if out.len() > MAX_BINDINGS_PER_ACTIVITY {
        return Err(core(&format!(
            "A task is bound to at most {MAX_BINDINGS_PER_ACTIVITY} CRM items"
        )));
    }
    Ok(out)
}

/// The task's `UF_CRM_TASK`: its activity's bindings, as codes.
pub fn crm_codes(tx: &mut dyn Tx, task: &TaskRecord) -> Result<Vec<String>, ApiError> {
    if task.activity_id == 0 {
        return Ok(Vec::new());
    }
    Ok(tx
        .bindings(task.activity_id)?
        .into_iter()
        .map(crm_code)
        .collect())
}

/// A date-time field: empty clears it; anything else must be a date.
fn date_field(value: &Value, field: &str) -> Result<String, ApiError> {
    let text = match value {
        Value::Null => return Ok(String::new()),
        Value::String(s) if s.trim().is_empty() => return Ok(String::new()),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    parse_datetime(&text)
        .or_else(|| super::values::parse_datetime_utc(&text))
        .ok_or_else(|| core(&format!("Incorrect date in the \"{field}\" field")))
}

fn text_field(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => if *b { "Y" } else { "N" }.to_string(),
        _ => String::new(),
    }
}

fn flag(value: &Value) -> &'static str {
    match value {
        Value::Bool(true) => "Y",
        Value::String(s) if s.eq_ignore_ascii_case("Y") || s == "1" || s == "true" => "Y",
        Value::Number(n) if n.as_f64().is_some_and(|f| f != 0.0) => "Y",
        _ => "N",
    }
}

/// The `Y`/`N` fields kept in `extra`.
pub const FLAG_FIELDS: &[&str] = &[
    "TASK_CONTROL",
    "ALLOW_CHANGE_DEADLINE",
    "ALLOW_TIME_TRACKING",
    "ADD_IN_REPORT",
    "MATCH_WORK_TIME",
    "MULTITASK",
    "REPLICATE",
];

/// Applies the fields of an add or update to a task, checking them in the service's order.
/// Returns the new `UF_CRM_TASK` when the fields name it.
fn apply_fields(
    tx: &mut dyn Tx,
    who: &Permissions,
    task: &mut TaskRecord,
    fields: &Map<String, Value>,
) -> Result<Option<Vec<Binding>>, ApiError> {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    if let Some(v) = get("TITLE") {
        task.title = text_field(v).trim().to_string();
    }
    if task.title.is_empty() {
        return Err(core("Task title is not specified"));
    }
    let responsible = get("RESPONSIBLE_ID");
    if let Some(v) = responsible {
        task.responsible_id = user_id_of(v).unwrap_or(0);
    }
    if task.responsible_id == 0 {
        return Err(core("Responsible person is not specified"));
    }
    // Checked when named (or on add): a task keeps a responsible person who has since left.
    if (responsible.is_some() || task.id == 0) && !user_exists(tx, task.responsible_id)? {
        return Err(core(
            "User specified in the \"Responsible\" field not found",
        ));
    }
    if let Some(v) = get("CREATED_BY") {
        let creator = user_id_of(v).unwrap_or(0);
        if creator != task.created_by {
            // Naming another creator is an administrator's act (spec §12 "Tasks").
            if !who.admin || !user_exists(tx, creator)? {
                return Err(core("User specified in the \"Creator\" field not found"));
            }
            task.created_by = creator;
        }
    }
    if let Some(v) = get("DESCRIPTION") {
        task.description = text_field(v);
    }
    if let Some(v) = get("PRIORITY") {
        task.priority = bind_int(v).filter(|p| (0..=2).contains(p)).unwrap_or(1);
    }
    if let Some(v) = get("STATUS") {
        task.status = match bind_int(v) {
            Some(s @ (status::PENDING..=status::DEFERRED)) => s,
            Some(status::NEW) => status::PENDING,
            _ => return Err(core("Incorrect status")),
        };
    }
    if let Some(v) = get("GROUP_ID") {
        task.group_id = bind_int(v).filter(|g| *g > 0).unwrap_or(0);
    }
    if let Some(v) = get("PARENT_ID") {
        let parent = bind_int(v).filter(|p| *p > 0).unwrap_or(0);
        if parent != 0 {
            if parent == task.id {
                return Err(core("Cannot bind the node to itself"));
            }
            if tx.task(parent)?.is_none() {
                return Err(core(
                    "Task specified in the \"Parent Task\" field not found",
                ));
            }
            if task.id != 0 && is_descendant(tx, parent, task.id)? {
                return Err(core("Creating cyclic links in tasks is prohibited"));
            }
        }
        task.parent_id = parent;
    }
    for (field, slot) in [
        ("DEADLINE", &mut task.deadline),
        ("START_DATE_PLAN", &mut task.start_date_plan),
        ("END_DATE_PLAN", &mut task.end_date_plan),
    ] {
        if let Some(v) = get(field) {
            *slot = date_field(v, field)?;
        }
    }
    if !task.start_date_plan.is_empty()
        && !task.end_date_plan.is_empty()
        && super::values::parse_datetime_utc(&task.end_date_plan)
            < super::values::parse_datetime_utc(&task.start_date_plan)
    {
        return Err(core(
            "The end date in scheduling is earlier than the start date",
        ));
    }
    if let Some(v) = get("ACCOMPLICES") {
        task.accomplices = user_list(tx, v, "Participants")?;
    }
    if let Some(v) = get("AUDITORS") {
        task.auditors = user_list(tx, v, "Observers")?;
    }
    for field in FLAG_FIELDS {
        if let Some(v) = get(field) {
            task.extra.insert((*field).into(), json!(flag(v)));
        }
    }
    if let Some(v) = get("MARK") {
        let mark = match text_field(v).to_ascii_uppercase().as_str() {
            "P" => json!("P"),
            "N" => json!("N"),
            _ => Value::Null,
        };
        task.extra.insert("MARK".into(), mark);
    }
    for field in ["XML_ID", "TIME_ESTIMATE", "TAGS"] {
        if let Some(v) = get(field) {
            task.extra.insert(field.into(), v.clone());
        }
    }
    get("UF_CRM_TASK").map(|v| crm_bindings(tx, v)).transpose()
}

/// Whether `node` lies under `root` in the tree of subtasks (so making `node` the parent of
/// `root` would close a cycle). Walks up from `node` through its parents.
fn is_descendant(tx: &mut dyn Tx, node: i64, root: i64) -> Result<bool, ApiError> {
    let mut current = node;
    // A tree deeper than this is not one callers build; the walk stays bounded.
    for _ in 0..1000 {
        if current == root {
            return Ok(true);
        }
        match tx.task(current)? {
            Some(t) if t.parent_id != 0 => current = t.parent_id,
            _ => return Ok(false),
        }
    }
    Ok(false)
}

/// Mirrors a task into its activity: subject, description, people, deadline, completion.
fn mirror(activity: &mut ActivityRecord, task: &TaskRecord) {
    activity.subject = task.title.clone();
    activity.description = task.description.clone();
    activity.responsible_id = task.responsible_id;
    activity.author_id = task.created_by;
    activity.deadline = task.deadline.clone();
    activity.completed = task.status == status::COMPLETED;
    activity.status = if activity.completed { 2 } else { 1 };
    activity.priority = match task.priority {
        2 => 3,
        0 => 1,
        _ => 2,
    };
    activity.editor_id = task.changed_by;
    activity.last_updated = task.changed_date.clone();
    activity
        .extra
        .insert("ASSOCIATED_ENTITY_ID".into(), json!(task.id.to_string()));
}

/// Brings the task's activity in line with the task and, when given, with a new `UF_CRM_TASK`:
/// creates it for a first binding, rewrites its bindings, deletes it when none are left.
fn sync_activity(
    tx: &mut dyn Tx,
    task: &mut TaskRecord,
    crm: Option<Vec<Binding>>,
    actor: i64,
) -> Result<(), ApiError> {
    let existing = match task.activity_id {
        0 => None,
        id => tx.activity(id)?,
    };
    match (existing, crm) {
        (None, None) => task.activity_id = 0,
        (None, Some(bindings)) if bindings.is_empty() => task.activity_id = 0,
        (None, Some(bindings)) => {
            let now = tx.now_iso();
            let owner = owner_from_bindings(&bindings);
            let mut activity = new_activity(
                TASK_ACTIVITY,
                owner,
                task.created_by,
                task.responsible_id,
                &now,
            );
            mirror(&mut activity, task);
            let id = tx.insert_activity(&activity)?;
            tx.replace_bindings(id, &bindings)?;
            changes::activity_changed(tx, Change::Added, id, actor)?;
            task.activity_id = id;
        }
        (Some(activity), Some(bindings)) if bindings.is_empty() => {
            tx.delete_activity(activity.id)?;
            changes::activity_changed(tx, Change::Deleted, activity.id, actor)?;
            task.activity_id = 0;
        }
        (Some(mut activity), crm) => {
            if let Some(bindings) = &crm {
                if *bindings != tx.bindings(activity.id)? {
                    tx.replace_bindings(activity.id, bindings)?;
                    let owner = owner_from_bindings(bindings);
                    activity.owner_type_id = owner.entity_type_id;
                    activity.owner_id = owner.entity_id;
                }
            }
            mirror(&mut activity, task);
            tx.update_activity(&activity)?;
            changes::activity_changed(tx, Change::Updated, activity.id, actor)?;
        }
    }
    Ok(())
}

/// `tasks.task.add`: a new pending task created by the caller (or, for an administrator, the
/// `CREATED_BY` given), bound to CRM when `UF_CRM_TASK` names items.
pub fn add(
    tx: &mut dyn Tx,
    who: &Permissions,
    fields: &Map<String, Value>,
) -> Result<TaskRecord, ApiError> {
    let now = tx.now_iso();
    let mut task = TaskRecord {
        status: status::PENDING,
        priority: 1,
        created_by: who.user_id,
        changed_by: who.user_id,
        status_changed_by: who.user_id,
        created_date: now.clone(),
        changed_date: now.clone(),
        status_changed_date: now.clone(),
        ..TaskRecord::default()
    };
    task.extra.insert("ACTIVITY_DATE".into(), json!(now));
    let crm = apply_fields(tx, who, &mut task, fields)?;
    task.id = tx.insert_task(&task)?;
    task.extra
        .insert("GUID".into(), json!(guid(tx.portal(), task.id)));
    sync_activity(tx, &mut task, crm, who.user_id)?;
    tx.update_task(&task)?;
    task_changed(tx, Change::Added, task.id, who.user_id)?;
    tx.task(task.id)?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("task {} vanished", task.id)))
}

/// A stable GUID for a task, in the service's braces form.
fn guid(portal: i64, id: i64) -> String {
    let digest = crate::secret::digest(&format!("task|{portal}|{id}"));
    let h = hex::encode(&digest[..16]);
    format!(
        "{{{}-{}-{}-{}-{}}}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `tasks.task.update`: the creator or an administrator changes the fields given.
pub fn update(
    tx: &mut dyn Tx,
    who: &Permissions,
    id: i64,
    fields: &Map<String, Value>,
) -> Result<TaskRecord, ApiError> {
    let Some(mut task) = visible(tx, who, id)? else {
        return Err(not_allowed_0());
    };
    if !allowed(&task, who).edit {
        return Err(not_allowed_0());
    }
    let before_status = task.status;
    let crm = apply_fields(tx, who, &mut task, fields)?;
    let now = tx.now_iso();
    task.changed_by = who.user_id;
    task.changed_date = now.clone();
    task.extra.insert("ACTIVITY_DATE".into(), json!(now));
    if task.status != before_status {
        mark_status(&mut task, who.user_id, &now);
    }
    save(tx, task, crm, who.user_id)
}

fn mark_status(task: &mut TaskRecord, actor: i64, now: &str) {
    task.status_changed_by = actor;
    task.status_changed_date = now.to_string();
    if task.status == status::COMPLETED || task.status == status::SUPPOSEDLY_COMPLETED {
        task.closed_by = actor;
        task.closed_date = now.to_string();
    } else {
        task.closed_by = 0;
        task.closed_date = String::new();
    }
    if task.status == status::IN_PROGRESS && task.date_start.is_empty() {
        task.date_start = now.to_string();
    }
}

fn save(
    tx: &mut dyn Tx,
    mut task: TaskRecord,
    crm: Option<Vec<Binding>>,
    actor: i64,
) -> Result<TaskRecord, ApiError> {
    sync_activity(tx, &mut task, crm, actor)?;
    tx.update_task(&task)?;
    task_changed(tx, Change::Updated, task.id, actor)?;
    Ok(task)
}

/// `"0"`, `Action on the task is not allowed`: the refusal of `tasks.task.update`, `start`,
/// `complete` and `delegate` (also for a task that does not exist).
pub fn not_allowed_0() -> ApiError {
    RestError::with_message(ErrorCode::Uncoded, "Action on the task is not allowed").into()
}

/// `"1048582"`, `Action on the task is not allowed`: the refusal of `pause`, `defer`, `renew`,
/// `approve` and `disapprove`.
pub fn not_allowed_1048582() -> ApiError {
    ErrorCode::TaskActionNotAllowed.into()
}

/// A status move (`tasks.task.start / pause / complete / defer / renew / approve /
/// disapprove`). Completing a task under control (`TASK_CONTROL`) that someone other than its
/// creator completes leaves it awaiting control (4) until the creator approves it.
pub fn move_status(
    tx: &mut dyn Tx,
    who: &Permissions,
    id: i64,
    m: Move,
) -> Result<TaskRecord, ApiError> {
    let refuse = || match m {
        Move::Start | Move::Complete => not_allowed_0(),
        _ => not_allowed_1048582(),
    };
    let Some(mut task) = visible(tx, who, id)? else {
        return Err(refuse());
    };
    if !can_move(&task, who, m) {
        return Err(refuse());
    }
    let under_control = task.extra.get("TASK_CONTROL").and_then(Value::as_str) == Some("Y")
        && task.created_by != task.responsible_id
        && task.created_by != who.user_id;
    task.status = match m {
        Move::Start => status::IN_PROGRESS,
        Move::Pause | Move::Renew | Move::Disapprove => status::PENDING,
        Move::Complete if under_control => status::SUPPOSEDLY_COMPLETED,
        Move::Complete | Move::Approve => status::COMPLETED,
        Move::Defer => status::DEFERRED,
    };
    let now = tx.now_iso();
    task.changed_by = who.user_id;
    task.changed_date = now.clone();
    mark_status(&mut task, who.user_id, &now);
    save(tx, task, None, who.user_id)
}

/// `tasks.task.delegate`: the responsible person (or the creator, or an administrator) hands
/// the task to another user; the former responsible person becomes an observer and the task is
/// pending again.
pub fn delegate(
    tx: &mut dyn Tx,
    who: &Permissions,
    id: i64,
    user_id: i64,
) -> Result<TaskRecord, ApiError> {
    let Some(mut task) = visible(tx, who, id)? else {
        return Err(not_allowed_0());
    };
    let closed = matches!(
        task.status,
        status::COMPLETED | status::SUPPOSEDLY_COMPLETED
    );
    if !allowed(&task, who).delegate || closed {
        return Err(not_allowed_0());
    }
    if user_id <= 0 || !user_exists(tx, user_id)? {
        return Err(core(
            "User specified in the \"Responsible\" field not found",
        ));
    }
    let before = task.responsible_id;
    if before != user_id && !task.auditors.contains(&before) {
        task.auditors.push(before);
    }
    task.responsible_id = user_id;
    let now = tx.now_iso();
    task.changed_by = who.user_id;
    task.changed_date = now.clone();
    if task.status != status::PENDING {
        task.status = status::PENDING;
        mark_status(&mut task, who.user_id, &now);
    }
    save(tx, task, None, who.user_id)
}

/// `tasks.task.delete`: the creator or an administrator deletes the task with its comments,
/// checklist and elapsed time; its CRM activity goes with it.
pub fn delete(tx: &mut dyn Tx, who: &Permissions, id: i64) -> Result<(), ApiError> {
    let refuse = || -> ApiError {
        RestError::with_message(
            ErrorCode::TaskActionNotAllowed,
            "No access to delete the task",
        )
        .into()
    };
    let Some(task) = visible(tx, who, id)? else {
        return Err(refuse());
    };
    if !allowed(&task, who).remove {
        return Err(refuse());
    }
    if task.activity_id != 0 && tx.activity(task.activity_id)?.is_some() {
        tx.delete_activity(task.activity_id)?;
        changes::activity_changed(tx, Change::Deleted, task.activity_id, who.user_id)?;
    }
    tx.delete_task(id)?;
    task_changed(tx, Change::Deleted, id, who.user_id)
}

/// Records a task event (`ONTASKADD / UPDATE / DELETE`) with the payload the service sends.
fn task_changed(tx: &mut dyn Tx, change: Change, id: i64, actor: i64) -> Result<(), ApiError> {
    let (event, data) = match change {
        Change::Added => (
            "ONTASKADD",
            json!({"FIELDS_BEFORE": "undefined", "FIELDS_AFTER": {"ID": id},
                   "IS_ACCESSIBLE_BEFORE": "N", "IS_ACCESSIBLE_AFTER": "undefined"}),
        ),
        Change::Updated => (
            "ONTASKUPDATE",
            json!({"FIELDS_BEFORE": {"ID": id}, "FIELDS_AFTER": {"ID": id},
                   "IS_ACCESSIBLE_BEFORE": "undefined", "IS_ACCESSIBLE_AFTER": "undefined"}),
        ),
        Change::Deleted => (
            "ONTASKDELETE",
            json!({"FIELDS_BEFORE": {"ID": id}, "FIELDS_AFTER": "undefined",
                   "IS_ACCESSIBLE_BEFORE": "undefined", "IS_ACCESSIBLE_AFTER": "N"}),
        ),
    };
    changes::record_event(tx, event, data, actor)
}

/// Adjusts the task's `COMMENTS_COUNT` by `delta`.
fn count_comments(tx: &mut dyn Tx, task: &mut TaskRecord, delta: i64) -> Result<(), ApiError> {
    let n = task
        .extra
        .get("COMMENTS_COUNT")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        + delta;
    task.extra.insert("COMMENTS_COUNT".into(), json!(n.max(0)));
    tx.update_task(task)
}

/// `task.commentitem.add`: any role may comment (the author may be another user, as the
/// service allows); fires `ONTASKCOMMENTADD`.
pub fn add_comment(
    tx: &mut dyn Tx,
    who: &Permissions,
    task_id: i64,
    message: &str,
    author_id: Option<i64>,
) -> Result<i64, ApiError> {
    let Some(mut task) = visible(tx, who, task_id)? else {
        return Err(core("Insufficient permissions to add a comment"));
    };
    if message.trim().is_empty() {
        return Err(core("Comment text is not specified"));
    }
    let author = author_id.unwrap_or(who.user_id);
    if !user_exists(tx, author)? {
        return Err(core("Insufficient permissions to add a comment"));
    }
    let now = tx.now_iso();
    let id = tx.insert_task_comment(&TaskComment {
        id: 0,
        task_id,
        author_id: author,
        message: message.to_string(),
        post_date: now,
    })?;
    count_comments(tx, &mut task, 1)?;
    changes::record_event(
        tx,
        "ONTASKCOMMENTADD",
        json!({"FIELDS_BEFORE": "undefined", "FIELDS_AFTER": {"ID": id, "TASK_ID": task_id},
               "IS_ACCESSIBLE_BEFORE": "undefined", "IS_ACCESSIBLE_AFTER": "undefined"}),
        who.user_id,
    )?;
    Ok(id)
}

/// `task.commentitem.getlist`: the task's comments, for any role.
pub fn comments(
    tx: &mut dyn Tx,
    who: &Permissions,
    task_id: i64,
) -> Result<Vec<TaskComment>, ApiError> {
    if visible(tx, who, task_id)?.is_none() {
        return Err(action_failed("Action failed"));
    }
    tx.task_comments(task_id)
}

/// `task.commentitem.delete`: a comment's author or an administrator deletes it; fires
/// `ONTASKCOMMENTDELETE`.
pub fn delete_comment(
    tx: &mut dyn Tx,
    who: &Permissions,
    task_id: i64,
    comment_id: i64,
) -> Result<(), ApiError> {
    let Some(mut task) = visible(tx, who, task_id)? else {
        return Err(action_not_allowed());
    };
    let comment = tx
        .task_comment(comment_id)?
        .filter(|c| c.task_id == task_id)
        .ok_or_else(action_not_allowed)?;
    if !who.admin && comment.author_id != who.user_id {
        return Err(action_not_allowed());
    }
    tx.delete_task_comment(comment_id)?;
    count_comments(tx, &mut task, -1)?;
    changes::record_event(
        tx,
        "ONTASKCOMMENTDELETE",
        json!({"FIELDS_BEFORE": {"ID": comment_id, "TASK_ID": task_id}, "FIELDS_AFTER": "undefined",
               "IS_ACCESSIBLE_BEFORE": "undefined", "IS_ACCESSIBLE_AFTER": "undefined"}),
        who.user_id,
    )
}

/// The fields of `task.checklistitem.add`.
#[derive(Debug, Clone, Default)]
pub struct NewChecklistItem {
    /// `TITLE`.
    pub title: String,
    /// `PARENT_ID`: `None` adds to the first checklist (created when there is none).
    pub parent_id: Option<i64>,
    /// `SORT_INDEX`.
    pub sort_index: Option<i64>,
    /// `IS_COMPLETE`.
    pub is_complete: bool,
    /// `IS_IMPORTANT`.
    pub is_important: bool,
}

/// `task.checklistitem.add`: the creator, the responsible person and participants (and
/// administrators) add items. Without `PARENT_ID` the item joins the task's first checklist
/// (one named `Checklist 1` is created when there is none); `PARENT_ID` 0, or one that names no
/// item of the task, makes the item a new checklist.
pub fn add_checklist_item(
    tx: &mut dyn Tx,
    who: &Permissions,
    task_id: i64,
    new: NewChecklistItem,
) -> Result<i64, ApiError> {
    let task = visible(tx, who, task_id)?.filter(|t| allowed(t, who).work);
    if task.is_none() {
        return Err(action_failed("Adding item: action not allowed"));
    }
    if new.title.trim().is_empty() {
        return Err(action_failed("Item name not specified"));
    }
    let items = tx.checklist_items(task_id)?;
    let now = tx.now_iso();
    let parent = match new.parent_id {
        Some(p) if p > 0 && items.iter().any(|i| i.id == p) => p,
        Some(_) => 0,
        None => match items.iter().find(|i| i.parent_id == 0) {
            Some(list) => list.id,
            None => tx.insert_checklist_item(&ChecklistItem {
                task_id,
                created_by: who.user_id,
                title: "Checklist 1".into(),
                ..ChecklistItem::default()
            })?,
        },
    };
    let sort_index = new
        .sort_index
        .unwrap_or_else(|| items.iter().filter(|i| i.parent_id == parent).count() as i64);
    let complete = new.is_complete;
    tx.insert_checklist_item(&ChecklistItem {
        id: 0,
        task_id,
        parent_id: parent,
        created_by: who.user_id,
        title: new.title.trim().to_string(),
        sort_index,
        is_complete: complete,
        is_important: new.is_important,
        toggled_by: if complete { who.user_id } else { 0 },
        toggled_date: if complete { now } else { String::new() },
    })
}

/// `task.checklistitem.getlist`: the task's items, for any role.
pub fn checklist(
    tx: &mut dyn Tx,
    who: &Permissions,
    task_id: i64,
) -> Result<Vec<ChecklistItem>, ApiError> {
    if visible(tx, who, task_id)?.is_none() {
        return Err(action_failed("Action failed"));
    }
    tx.checklist_items(task_id)
}

/// `task.checklistitem.complete`: marks an item of a task the caller works on as done. The
/// service finds the item by its id alone; so does this.
pub fn complete_checklist_item(
    tx: &mut dyn Tx,
    who: &Permissions,
    item_id: i64,
) -> Result<(), ApiError> {
    let mut item = tx
        .checklist_item(item_id)?
        .ok_or_else(|| action_failed("Item not found"))?;
    let task = visible(tx, who, item.task_id)?.filter(|t| allowed(t, who).work);
    if task.is_none() {
        return Err(action_failed("Completing item: action not allowed"));
    }
    if !item.is_complete {
        item.is_complete = true;
        item.toggled_by = who.user_id;
        item.toggled_date = tx.now_iso();
        tx.update_checklist_item(&item)?;
    }
    Ok(())
}

/// `task.checklistitem.delete`: removes an item (and the items under it) of a task the caller
/// works on.
pub fn delete_checklist_item(
    tx: &mut dyn Tx,
    who: &Permissions,
    task_id: i64,
    item_id: i64,
) -> Result<(), ApiError> {
    let task = visible(tx, who, task_id)?.filter(|t| allowed(t, who).work);
    let item = tx.checklist_item(item_id)?.filter(|i| i.task_id == task_id);
    if task.is_none() || item.is_none() {
        return Err(action_failed("Deleting item: action not allowed"));
    }
    tx.delete_checklist_item(item_id)?;
    Ok(())
}

/// `task.elapseditem.add`: any role records time on a task, for itself (administrators and the
/// creator also for another user who takes part).
pub fn add_elapsed(
    tx: &mut dyn Tx,
    who: &Permissions,
    task_id: i64,
    seconds: i64,
    comment: &str,
    user_id: Option<i64>,
) -> Result<i64, ApiError> {
    let Some(task) = visible(tx, who, task_id)? else {
        return Err(legacy_elapsed("Task not found."));
    };
    let user = user_id.unwrap_or(who.user_id);
    if user != who.user_id && !allowed(&task, who).edit {
        return Err(legacy_elapsed("Access denied."));
    }
    if !user_exists(tx, user)? || seconds < 0 {
        return Err(legacy_elapsed("Action not allowed."));
    }
    let now = tx.now_iso();
    tx.insert_elapsed_item(&ElapsedItem {
        id: 0,
        task_id,
        user_id: user,
        seconds,
        comment_text: comment.to_string(),
        created_date: now.clone(),
        date_start: now.clone(),
        date_stop: now,
    })
}

/// The errors of `task.elapseditem.*`: `ERROR_CORE` with the text of the service's
/// `TasksException` (spec §12 "Tasks").
pub fn legacy_elapsed(text: &str) -> ApiError {
    core(text)
}

/// The rights a counter type counts (`tasks.task.counters.get` `type`).
pub fn counter_roles(kind: &str) -> &'static [Role] {
    match kind {
        "view_role_responsible" => &[Role::Responsible],
        "view_role_accomplice" => &[Role::Accomplice],
        "view_role_auditor" => &[Role::Auditor],
        "view_role_originator" => &[Role::Creator],
        _ => &[
            Role::Responsible,
            Role::Accomplice,
            Role::Creator,
            Role::Auditor,
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crm_codes_read_and_write_every_item_type() {
        for (code, b) in [
            ("D_10", Binding::new(2, 10)),
            ("C_3", Binding::new(3, 3)),
            ("CO_5", Binding::new(4, 5)),
            ("L_4", Binding::new(1, 4)),
            ("T88_3", Binding::new(136, 3)),
        ] {
            assert_eq!(parse_crm_code(code), Some(b), "{code}");
            assert_eq!(crm_code(b), code);
        }
        assert_eq!(parse_crm_code("D_0"), None);
        assert_eq!(parse_crm_code("X_1"), None);
        assert_eq!(parse_crm_code("T2_1"), None, "T names smart processes only");
        assert_eq!(parse_crm_code("10"), None);
    }

    fn task(creator: i64, responsible: i64, status: i64) -> TaskRecord {
        TaskRecord {
            created_by: creator,
            responsible_id: responsible,
            status,
            accomplices: vec![7],
            auditors: vec![8],
            ..TaskRecord::default()
        }
    }

    fn user(id: i64) -> Permissions {
        Permissions {
            user_id: id,
            admin: false,
            rights: Default::default(),
        }
    }

    #[test]
    fn roles_decide_who_reads_edits_and_works() {
        let t = task(1, 2, status::PENDING);
        assert!(allowed(&t, &user(1)).edit);
        assert!(!allowed(&t, &user(2)).edit && allowed(&t, &user(2)).work);
        assert!(allowed(&t, &user(7)).work && !allowed(&t, &user(7)).delegate);
        assert!(allowed(&t, &user(8)).read && !allowed(&t, &user(8)).work);
        assert!(!allowed(&t, &user(9)).read);
    }

    #[test]
    fn moves_start_only_from_their_statuses() {
        let who = user(2);
        assert!(can_move(&task(1, 2, status::PENDING), &who, Move::Start));
        assert!(!can_move(
            &task(1, 2, status::IN_PROGRESS),
            &who,
            Move::Start
        ));
        assert!(can_move(
            &task(1, 2, status::IN_PROGRESS),
            &who,
            Move::Pause
        ));
        assert!(can_move(&task(1, 2, status::COMPLETED), &who, Move::Renew));
        assert!(!can_move(
            &task(1, 2, status::SUPPOSEDLY_COMPLETED),
            &who,
            Move::Approve
        ));
        assert!(can_move(
            &task(1, 2, status::SUPPOSEDLY_COMPLETED),
            &user(1),
            Move::Approve
        ));
    }
}
