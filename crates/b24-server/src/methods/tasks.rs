//! `tasks.task.*` (docs: api-reference/tasks/) and the legacy `task.commentitem.*`,
//! `task.checklistitem.*`, `task.elapseditem.*`: parameters, answers and errors as the docs
//! show them. The rules live in [`crate::domain::tasks`].
//!
//! `tasks.task.*` answers are wrapped (`{"task": {…}}`, `{"tasks": […]}`) with camelCase
//! fields whose values are strings, as the service's task controller sends them. The legacy
//! `task.*item.*` methods read their parameters by position, whatever they are named (the
//! service passes them to a PHP method in order), and answer UPPER_CASE records.

use super::{Call, Handler, MethodSpec, Output};
use crate::domain::tasks::{
    self as rules, action_failed, allowed, can_move, counter_roles, crm_codes, Move,
    NewChecklistItem,
};
use crate::domain::Permissions;
use crate::error::ApiError;
use crate::store::query::like_literal;
use crate::store::tasks::{ChecklistItem, ElapsedItem, Role, TaskComment, TaskQuery, TaskRecord};
use crate::store::{Column, CompareOp, Filter, ListQuery, SqlValue, Tx};
use b24_protocol::values::{bind_int, php_display};
use b24_protocol::{ErrorCode, Page, RestError, PAGE_SIZE};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

macro_rules! method {
    ($konst:ident, $name:literal, $handler:ident, $doc:literal) => {
        #[doc = concat!("`", $name, "`.")]
        pub const $konst: MethodSpec = MethodSpec {
            name: $name,
            scope: Some("task"),
            handler: Handler::Blocking($handler),
            doc: $doc,
        };
    };
}

method!(
    ADD,
    "tasks.task.add",
    add,
    "Creates a task (fields: TITLE, RESPONSIBLE_ID, UF_CRM_TASK, …)."
);
method!(
    UPDATE,
    "tasks.task.update",
    update,
    "Changes a task's fields (taskId, fields)."
);
method!(GET, "tasks.task.get", get, "A task by taskId, with select.");
method!(
    LIST,
    "tasks.task.list",
    list,
    "Tasks by filter, order and select, a page of 50."
);
method!(
    DELETE,
    "tasks.task.delete",
    delete,
    "Deletes a task (taskId)."
);
method!(
    GET_FIELDS,
    "tasks.task.getfields",
    get_fields,
    "The task fields, with titles and types."
);
method!(
    COMPLETE,
    "tasks.task.complete",
    complete,
    "Completes a task (or sends it to control)."
);
method!(
    RENEW,
    "tasks.task.renew",
    renew,
    "Renews a completed or deferred task."
);
method!(
    START,
    "tasks.task.start",
    start,
    "Moves a task to In Progress."
);
method!(
    PAUSE,
    "tasks.task.pause",
    pause,
    "Moves a task in progress back to Pending."
);
method!(DEFER, "tasks.task.defer", defer, "Defers a task.");
method!(
    DELEGATE,
    "tasks.task.delegate",
    delegate,
    "Hands a task to another responsible user (taskId, userId)."
);
method!(
    APPROVE,
    "tasks.task.approve",
    approve,
    "Accepts the result of a task awaiting control."
);
method!(
    DISAPPROVE,
    "tasks.task.disapprove",
    disapprove,
    "Returns a task awaiting control for rework."
);
method!(
    COUNTERS_GET,
    "tasks.task.counters.get",
    counters_get,
    "A user's task counters (expired, new comments)."
);
method!(
    COMMENT_ADD,
    "task.commentitem.add",
    comment_add,
    "Adds a comment to a task (TASKID, FIELDS[POST_MESSAGE])."
);
method!(
    COMMENT_GETLIST,
    "task.commentitem.getlist",
    comment_getlist,
    "A task's comments (TASKID, ORDER, FILTER)."
);
method!(
    COMMENT_DELETE,
    "task.commentitem.delete",
    comment_delete,
    "Deletes a task comment (TASKID, ITEMID)."
);
method!(
    CHECKLIST_ADD,
    "task.checklistitem.add",
    checklist_add,
    "Adds a checklist item to a task (TASKID, FIELDS[TITLE])."
);
method!(
    CHECKLIST_GETLIST,
    "task.checklistitem.getlist",
    checklist_getlist,
    "A task's checklist items (TASKID, ORDER)."
);
method!(
    CHECKLIST_COMPLETE,
    "task.checklistitem.complete",
    checklist_complete,
    "Marks a checklist item done (TASKID, ITEMID)."
);
method!(
    CHECKLIST_DELETE,
    "task.checklistitem.delete",
    checklist_delete,
    "Deletes a checklist item (TASKID, ITEMID)."
);
method!(
    ELAPSED_ADD,
    "task.elapseditem.add",
    elapsed_add,
    "Records time spent on a task (TASKID, ARFIELDS[SECONDS, COMMENT_TEXT])."
);
method!(
    ELAPSED_GETLIST,
    "task.elapseditem.getlist",
    elapsed_getlist,
    "A task's elapsed-time records, a page of 50."
);

// ---------------------------------------------------------------------------------------------
// Parameters

/// `taskId` of a `tasks.task.*` method: absent is code 100 with the service's `CTaskItem` text;
/// not a number is `"0"`, `wrong task id`.
fn task_id(call: &Call<'_>) -> Result<i64, ApiError> {
    let Some(value) = call.params.get_ci("taskId") else {
        return Err(RestError::with_message(
            ErrorCode::Argument,
            "CTaskItem All parameters in the constructor must have real class type (internal error)",
        )
        .into());
    };
    bind_int(value)
        .ok_or_else(|| RestError::with_message(ErrorCode::Uncoded, "wrong task id").into())
}

/// `fields`: required and not empty (code 100, as the docs show it).
fn fields_param(call: &Call<'_>) -> Result<Map<String, Value>, ApiError> {
    let fields = call.params.map_ci("fields")?.unwrap_or_default();
    if fields.is_empty() {
        return Err(RestError::with_message(
            ErrorCode::Argument,
            "Could not find value for parameter {fields} (internal error)",
        )
        .into());
    }
    Ok(fields)
}

/// The select of `tasks.task.get` / `list`: upper-case names; code 100 when it is not a list.
fn select_param(call: &Call<'_>) -> Result<Vec<String>, ApiError> {
    match call.params.get_ci("select") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => Ok(a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_ascii_uppercase))
            .collect()),
        Some(Value::Object(o)) => Ok(o
            .values()
            .filter_map(|v| v.as_str().map(str::to_ascii_uppercase))
            .collect()),
        Some(other) => Err(RestError::with_message(
            ErrorCode::Argument,
            format!(
                "Invalid value {{{}}} to match with parameter {{select}}. Should be value of type array. (internal error)",
                php_display(other)
            ),
        )
        .into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering

/// Every field of a task answer with its UPPER_CASE name (for `select`), in the service's order.
/// `UF_CRM_TASK` is shown only when selected by name.
const TASK_FIELDS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("PARENT_ID", "parentId"),
    ("TITLE", "title"),
    ("DESCRIPTION", "description"),
    ("MARK", "mark"),
    ("PRIORITY", "priority"),
    ("MULTITASK", "multitask"),
    ("NOT_VIEWED", "notViewed"),
    ("REPLICATE", "replicate"),
    ("STAGE_ID", "stageId"),
    ("CREATED_BY", "createdBy"),
    ("CREATED_DATE", "createdDate"),
    ("RESPONSIBLE_ID", "responsibleId"),
    ("CHANGED_BY", "changedBy"),
    ("CHANGED_DATE", "changedDate"),
    ("STATUS_CHANGED_BY", "statusChangedBy"),
    ("CLOSED_BY", "closedBy"),
    ("CLOSED_DATE", "closedDate"),
    ("ACTIVITY_DATE", "activityDate"),
    ("DATE_START", "dateStart"),
    ("DEADLINE", "deadline"),
    ("START_DATE_PLAN", "startDatePlan"),
    ("END_DATE_PLAN", "endDatePlan"),
    ("GUID", "guid"),
    ("XML_ID", "xmlId"),
    ("COMMENTS_COUNT", "commentsCount"),
    ("SERVICE_COMMENTS_COUNT", "serviceCommentsCount"),
    ("ALLOW_CHANGE_DEADLINE", "allowChangeDeadline"),
    ("ALLOW_TIME_TRACKING", "allowTimeTracking"),
    ("TASK_CONTROL", "taskControl"),
    ("ADD_IN_REPORT", "addInReport"),
    ("FORKED_BY_TEMPLATE_ID", "forkedByTemplateId"),
    ("TIME_ESTIMATE", "timeEstimate"),
    ("TIME_SPENT_IN_LOGS", "timeSpentInLogs"),
    ("MATCH_WORK_TIME", "matchWorkTime"),
    ("FORUM_TOPIC_ID", "forumTopicId"),
    ("FORUM_ID", "forumId"),
    ("SITE_ID", "siteId"),
    ("SUBORDINATE", "subordinate"),
    ("EXCHANGE_MODIFIED", "exchangeModified"),
    ("EXCHANGE_ID", "exchangeId"),
    ("OUTLOOK_VERSION", "outlookVersion"),
    ("VIEWED_DATE", "viewedDate"),
    ("SORTING", "sorting"),
    ("DURATION_FACT", "durationFact"),
    ("IS_MUTED", "isMuted"),
    ("IS_PINNED", "isPinned"),
    ("IS_PINNED_IN_GROUP", "isPinnedInGroup"),
    ("FLOW_ID", "flowId"),
    ("DESCRIPTION_IN_BBCODE", "descriptionInBbcode"),
    ("STATUS", "status"),
    ("STATUS_CHANGED_DATE", "statusChangedDate"),
    ("DURATION_PLAN", "durationPlan"),
    ("DURATION_TYPE", "durationType"),
    ("FAVORITE", "favorite"),
    ("GROUP_ID", "groupId"),
    ("AUDITORS", "auditors"),
    ("ACCOMPLICES", "accomplices"),
    ("UF_CRM_TASK", "ufCrmTask"),
];

/// Fields shown only when selected by name.
const ONLY_WHEN_SELECTED: &[&str] = &["UF_CRM_TASK"];

/// Users' short cards (`creator`, `responsible`, `…Data`), read once per call.
struct People<'t> {
    tx: &'t mut dyn Tx,
    cards: HashMap<i64, Value>,
}

impl People<'_> {
    fn card(&mut self, id: i64) -> Result<Value, ApiError> {
        if let Some(card) = self.cards.get(&id) {
            return Ok(card.clone());
        }
        let profile = self.tx.user_profile(id)?;
        let card = match profile {
            Some(p) => {
                let name = format!("{} {}", p.name, p.last_name).trim().to_string();
                let position = p
                    .extra
                    .get("WORK_POSITION")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                json!({
                    "id": id.to_string(),
                    "name": name,
                    "link": format!("/company/personal/user/{id}/"),
                    "icon": "/bitrix/images/tasks/default_avatar.png",
                    "workPosition": position,
                })
            }
            None => {
                json!({"id": id.to_string(), "name": "", "link": format!("/company/personal/user/{id}/"),
                           "icon": "/bitrix/images/tasks/default_avatar.png", "workPosition": ""})
            }
        };
        self.cards.insert(id, card.clone());
        Ok(card)
    }

    /// `accomplicesData` / `auditorsData`: `[]` when empty, else an object by id (PHP arrays).
    fn cards_of(&mut self, ids: &[i64]) -> Result<Value, ApiError> {
        if ids.is_empty() {
            return Ok(json!([]));
        }
        let mut out = Map::new();
        for id in ids {
            out.insert(id.to_string(), self.card(*id)?);
        }
        Ok(Value::Object(out))
    }
}

fn text_or_null(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        json!(text)
    }
}

fn id_or_null(id: i64) -> Value {
    if id == 0 {
        Value::Null
    } else {
        json!(id.to_string())
    }
}

fn extra_flag(t: &TaskRecord, key: &str) -> Value {
    json!(t.extra.get(key).and_then(Value::as_str).unwrap_or("N"))
}

fn field_value(tx: &mut dyn Tx, t: &TaskRecord, name: &str) -> Result<Value, ApiError> {
    let s = |v: i64| json!(v.to_string());
    let ids = |v: &[i64]| json!(v.iter().map(i64::to_string).collect::<Vec<_>>());
    Ok(match name {
        "ID" => s(t.id),
        "PARENT_ID" => id_or_null(t.parent_id),
        "TITLE" => json!(t.title),
        "DESCRIPTION" => json!(t.description),
        "MARK" => t.extra.get("MARK").cloned().unwrap_or(Value::Null),
        "PRIORITY" => s(t.priority),
        "STAGE_ID" => json!("0"),
        "CREATED_BY" => s(t.created_by),
        "CREATED_DATE" => json!(t.created_date),
        "RESPONSIBLE_ID" => s(t.responsible_id),
        "CHANGED_BY" => s(t.changed_by),
        "CHANGED_DATE" => json!(t.changed_date),
        "STATUS_CHANGED_BY" => id_or_null(t.status_changed_by),
        "CLOSED_BY" => id_or_null(t.closed_by),
        "CLOSED_DATE" => text_or_null(&t.closed_date),
        "ACTIVITY_DATE" => t.extra.get("ACTIVITY_DATE").cloned().unwrap_or(Value::Null),
        "DATE_START" => text_or_null(&t.date_start),
        "DEADLINE" => text_or_null(&t.deadline),
        "START_DATE_PLAN" => text_or_null(&t.start_date_plan),
        "END_DATE_PLAN" => text_or_null(&t.end_date_plan),
        "GUID" => t.extra.get("GUID").cloned().unwrap_or(Value::Null),
        "XML_ID" => match t.extra.get("XML_ID") {
            Some(Value::String(x)) if !x.is_empty() => json!(x),
            _ => Value::Null,
        },
        "COMMENTS_COUNT" => match t.extra.get("COMMENTS_COUNT").and_then(Value::as_i64) {
            Some(n) if n > 0 => s(n),
            _ => Value::Null,
        },
        "TIME_ESTIMATE" => s(t.extra.get("TIME_ESTIMATE").and_then(bind_int).unwrap_or(0)),
        "MULTITASK"
        | "REPLICATE"
        | "ALLOW_CHANGE_DEADLINE"
        | "ALLOW_TIME_TRACKING"
        | "TASK_CONTROL"
        | "ADD_IN_REPORT"
        | "MATCH_WORK_TIME" => extra_flag(t, name),
        "NOT_VIEWED" | "IS_MUTED" | "IS_PINNED" | "IS_PINNED_IN_GROUP" | "FAVORITE" => json!("N"),
        "SUBORDINATE" => json!("N"),
        "SITE_ID" => json!("s1"),
        "OUTLOOK_VERSION" => json!("1"),
        "DESCRIPTION_IN_BBCODE" => json!("Y"),
        "STATUS" => s(t.status),
        "STATUS_CHANGED_DATE" => json!(t.status_changed_date),
        "DURATION_TYPE" => json!("days"),
        "GROUP_ID" => s(t.group_id),
        "AUDITORS" => ids(&t.auditors),
        "ACCOMPLICES" => ids(&t.accomplices),
        "UF_CRM_TASK" => {
            let codes = crm_codes(tx, t)?;
            if codes.is_empty() {
                json!(false)
            } else {
                json!(codes)
            }
        }
        _ => Value::Null,
    })
}

/// The `action` block: what the caller may do with the task now.
fn actions(t: &TaskRecord, who: &Permissions) -> Value {
    let a = allowed(t, who);
    let open = !matches!(t.status, 4 | 5);
    json!({
        "accept": false,
        "decline": false,
        "complete": can_move(t, who, Move::Complete),
        "approve": can_move(t, who, Move::Approve),
        "disapprove": can_move(t, who, Move::Disapprove),
        "start": can_move(t, who, Move::Start),
        "pause": can_move(t, who, Move::Pause),
        "delegate": a.delegate && open,
        "remove": a.remove,
        "edit": a.edit,
        "defer": can_move(t, who, Move::Defer),
        "renew": can_move(t, who, Move::Renew),
        "create": true,
        "changeDeadline": a.edit,
        "checklistAddItems": a.work,
        "addFavorite": a.read,
        "deleteFavorite": false,
        "rate": a.edit,
        "edit.originator": who.admin,
        "checklist.reorder": a.work,
        "elapsedtime.add": a.contribute,
        "dayplan.timer.toggle": false,
        "edit.plan": a.edit,
        "checklist.add": a.work,
        "favorite.add": a.read,
        "favorite.delete": false,
    })
}

/// A task as `tasks.task.*` answers it: the selected fields (every field but `UF_CRM_TASK`
/// when `select` is empty or has `*`), then the people's cards and the caller's actions.
fn render(
    people: &mut People<'_>,
    t: &TaskRecord,
    select: &[String],
    who: &Permissions,
) -> Result<Value, ApiError> {
    let all = select.is_empty() || select.iter().any(|s| s == "*");
    let mut out = Map::new();
    for (name, key) in TASK_FIELDS {
        let chosen = select.iter().any(|s| s == name)
            || *name == "ID"
            || (all && !ONLY_WHEN_SELECTED.contains(name));
        if chosen {
            out.insert((*key).into(), field_value(people.tx, t, name)?);
        }
    }
    if all {
        out.insert("checklist".into(), json!([]));
        out.insert("group".into(), json!([]));
        out.insert("creator".into(), people.card(t.created_by)?);
    }
    out.insert("responsible".into(), people.card(t.responsible_id)?);
    out.insert("accomplicesData".into(), people.cards_of(&t.accomplices)?);
    out.insert("auditorsData".into(), people.cards_of(&t.auditors)?);
    if all {
        out.insert("newCommentsCount".into(), json!(0));
        out.insert("action".into(), actions(t, who));
    }
    Ok(Value::Object(out))
}

fn wrapped_task(
    tx: &mut dyn Tx,
    t: &TaskRecord,
    select: &[String],
    who: &Permissions,
) -> Result<Value, ApiError> {
    let mut people = People {
        tx,
        cards: HashMap::new(),
    };
    Ok(json!({"task": render(&mut people, t, select, who)?}))
}

// ---------------------------------------------------------------------------------------------
// tasks.task.*

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = fields_param(call)?;
    let who = &call.caller.permissions;
    let result = call.state.store.write(call.caller.portal_id, |tx| {
        let task = rules::add(tx, who, &fields)?;
        wrapped_task(tx, &task, &[], who)
    })?;
    Ok(Output::result(result))
}

fn update(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = task_id(call)?;
    let fields = fields_param(call)?;
    let who = &call.caller.permissions;
    let result = call.state.store.write(call.caller.portal_id, |tx| {
        let task = rules::update(tx, who, id, &fields)?;
        wrapped_task(tx, &task, &[], who)
    })?;
    Ok(Output::result(result))
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = task_id(call)?;
    let select = select_param(call)?;
    let who = &call.caller.permissions;
    let result = call.state.store.read(call.caller.portal_id, |tx| {
        match rules::visible(tx, who, id)? {
            Some(task) => wrapped_task(tx, &task, &select, who),
            // The service answers an unknown or hidden task with an empty result.
            None => Ok(json!([])),
        }
    })?;
    Ok(Output::result(result))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = task_id(call)?;
    let who = &call.caller.permissions;
    call.state
        .store
        .write(call.caller.portal_id, |tx| rules::delete(tx, who, id))?;
    Ok(Output::result(json!({"task": true})))
}

fn status_move(call: &Call<'_>, m: Move) -> Result<Output, ApiError> {
    let id = task_id(call)?;
    let who = &call.caller.permissions;
    let result = call.state.store.write(call.caller.portal_id, |tx| {
        let task = rules::move_status(tx, who, id, m)?;
        wrapped_task(tx, &task, &[], who)
    })?;
    Ok(Output::result(result))
}

fn complete(call: &Call<'_>) -> Result<Output, ApiError> {
    status_move(call, Move::Complete)
}

fn renew(call: &Call<'_>) -> Result<Output, ApiError> {
    status_move(call, Move::Renew)
}

fn start(call: &Call<'_>) -> Result<Output, ApiError> {
    status_move(call, Move::Start)
}

fn pause(call: &Call<'_>) -> Result<Output, ApiError> {
    status_move(call, Move::Pause)
}

fn defer(call: &Call<'_>) -> Result<Output, ApiError> {
    status_move(call, Move::Defer)
}

fn approve(call: &Call<'_>) -> Result<Output, ApiError> {
    status_move(call, Move::Approve)
}

fn disapprove(call: &Call<'_>) -> Result<Output, ApiError> {
    status_move(call, Move::Disapprove)
}

fn delegate(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = task_id(call)?;
    let user = match call.params.get_ci("userId") {
        None => return Err(RestError::missing_parameter("userId").into()),
        Some(v) => bind_int(v).ok_or_else(|| {
            ApiError::from(RestError::invalid_int_parameter("userId", &php_display(v)))
        })?,
    };
    let who = &call.caller.permissions;
    let result = call.state.store.write(call.caller.portal_id, |tx| {
        let task = rules::delegate(tx, who, id, user)?;
        wrapped_task(tx, &task, &[], who)
    })?;
    Ok(Output::result(result))
}

fn counters_get(call: &Call<'_>) -> Result<Output, ApiError> {
    let user = match call.params.get_ci("userId") {
        None | Some(Value::Null) => call.caller.user.id,
        Some(v) => bind_int(v).ok_or_else(|| {
            ApiError::from(RestError::with_message(
                ErrorCode::Uncoded,
                format!(
                    "Invalid value {{{}}} to match with parameter {{userId}}. Should be value of type int.",
                    php_display(v)
                ),
            ))
        })?,
    };
    let user = if user <= 0 { call.caller.user.id } else { user };
    let kind = call
        .params
        .get_ci("type")
        .and_then(Value::as_str)
        .unwrap_or("view_all")
        .to_string();
    let now = crate::clock::iso(call.state.clock.now());
    let expired = call.state.store.read(call.caller.portal_id, |tx| {
        tx.expired_tasks(user, counter_roles(&kind), &now)
    })?;
    Ok(Output::result(json!({
        "expired": {"counter": expired, "code": 6291456},
        "new_comments": {"counter": 0, "code": 12582912},
    })))
}

/// `tasks.task.getFields`: the field descriptions, as the docs list them.
fn get_fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    let yn = json!({"Y": "Yes", "N": "No"});
    let f = |title: Value, kind: &str| json!({"title": title, "type": kind});
    let mut fields = Map::new();
    let mut put = |name: &str, v: Value| {
        fields.insert(name.into(), v);
    };
    put(
        "ID",
        json!({"title": "ID", "type": "integer", "primary": true}),
    );
    put(
        "PARENT_ID",
        json!({"title": "Base Task ID", "type": "integer", "default": 0}),
    );
    put(
        "TITLE",
        json!({"title": "Title", "type": "string", "required": true}),
    );
    put("DESCRIPTION", f(json!("Description"), "string"));
    put(
        "MARK",
        json!({"title": "Rating", "type": "enum", "values": {"N": "Negative", "P": "Positive"}, "default": null}),
    );
    put(
        "PRIORITY",
        json!({"title": "Priority", "type": "enum", "values": {"2": "High", "1": "Medium", "0": "Low"}, "default": 1}),
    );
    put(
        "STATUS",
        json!({"title": "Status", "type": "enum", "values": {"2": "Pending", "3": "In Progress", "4": "Awaiting Review", "5": "Completed", "6": "Deferred"}, "default": 2}),
    );
    put(
        "MULTITASK",
        json!({"title": "Multitask", "type": "enum", "values": yn, "default": "N"}),
    );
    put(
        "NOT_VIEWED",
        json!({"title": null, "type": "enum", "values": yn, "default": "N"}),
    );
    put(
        "REPLICATE",
        json!({"title": "Recurring Task", "type": "enum", "values": yn, "default": "N"}),
    );
    put(
        "GROUP_ID",
        json!({"title": "Project", "type": "integer", "default": 0}),
    );
    put(
        "STAGE_ID",
        json!({"title": "Stage", "type": "integer", "default": 0}),
    );
    put(
        "SPRINT_ID",
        json!({"title": "Sprint", "type": "integer", "default": 0}),
    );
    put(
        "BACKLOG_ID",
        json!({"title": "Backlog", "type": "integer", "default": 0}),
    );
    put(
        "CREATED_BY",
        json!({"title": "Creator", "type": "integer", "required": true}),
    );
    put("CREATED_DATE", f(Value::Null, "datetime"));
    put(
        "RESPONSIBLE_ID",
        json!({"title": "Participant", "type": "integer", "required": true}),
    );
    put("ACCOMPLICES", f(Value::Null, "array"));
    put("AUDITORS", f(Value::Null, "array"));
    put("CHANGED_BY", f(json!("Modified By"), "integer"));
    put("CHANGED_DATE", f(json!("Modification Date"), "datetime"));
    put(
        "STATUS_CHANGED_BY",
        f(json!("Status Changed By"), "integer"),
    );
    put(
        "STATUS_CHANGED_DATE",
        f(json!("Status Change Date"), "datetime"),
    );
    put(
        "CLOSED_BY",
        json!({"title": "Closed By", "type": "integer", "default": null}),
    );
    put(
        "CLOSED_DATE",
        json!({"title": "Closure Date", "type": "datetime", "default": null}),
    );
    put(
        "ACTIVITY_DATE",
        json!({"title": null, "type": "datetime", "default": null}),
    );
    put(
        "DATE_START",
        json!({"title": "Start Date", "type": "datetime", "default": null}),
    );
    put(
        "DEADLINE",
        json!({"title": "Deadline", "type": "datetime", "default": null}),
    );
    put(
        "START_DATE_PLAN",
        json!({"title": "Planned Start", "type": "datetime", "default": null}),
    );
    put(
        "END_DATE_PLAN",
        json!({"title": "Planned Completion", "type": "datetime", "default": null}),
    );
    put(
        "GUID",
        json!({"title": "GUID", "type": "string", "default": null}),
    );
    put(
        "XML_ID",
        json!({"title": "XML_ID", "type": "string", "default": null}),
    );
    put(
        "COMMENTS_COUNT",
        json!({"title": "Number of Comments", "type": "integer", "default": 0}),
    );
    put(
        "SERVICE_COMMENTS_COUNT",
        json!({"title": null, "type": "integer", "default": 0}),
    );
    put(
        "NEW_COMMENTS_COUNT",
        json!({"title": null, "type": "integer", "default": 0}),
    );
    put(
        "ALLOW_CHANGE_DEADLINE",
        json!({"title": null, "type": "enum", "values": yn, "default": "N"}),
    );
    put(
        "ALLOW_TIME_TRACKING",
        json!({"title": null, "type": "enum", "values": yn, "default": "N"}),
    );
    put(
        "TASK_CONTROL",
        json!({"title": "Accept Work", "type": "enum", "values": yn, "default": "N"}),
    );
    put(
        "ADD_IN_REPORT",
        json!({"title": "Add to Report", "type": "enum", "values": yn, "default": "N"}),
    );
    put(
        "FORKED_BY_TEMPLATE_ID",
        json!({"title": "Created from Template", "type": "enum", "values": yn, "default": "N"}),
    );
    put("TIME_ESTIMATE", f(json!("Estimated Time"), "integer"));
    put(
        "TIME_SPENT_IN_LOGS",
        f(json!("Time Spent from Change History"), "integer"),
    );
    put("MATCH_WORK_TIME", f(json!("Skip Weekends"), "integer"));
    put("FORUM_TOPIC_ID", f(json!("FORUM_TOPIC_ID"), "integer"));
    put("FORUM_ID", f(json!("FORUM_ID"), "integer"));
    put("SITE_ID", f(json!("SITE_ID"), "string"));
    put(
        "SUBORDINATE",
        json!({"title": "Subordinate Task", "type": "enum", "values": yn, "default": null}),
    );
    put(
        "FAVORITE",
        json!({"title": null, "type": "enum", "values": yn, "default": null}),
    );
    put(
        "EXCHANGE_MODIFIED",
        json!({"title": "EXCHANGE_MODIFIED", "type": "datetime", "default": null}),
    );
    put(
        "EXCHANGE_ID",
        json!({"title": "EXCHANGE_ID", "type": "integer", "default": null}),
    );
    put(
        "OUTLOOK_VERSION",
        json!({"title": "OUTLOOK_VERSION", "type": "integer", "default": null}),
    );
    put("VIEWED_DATE", f(json!("Last Viewed Date"), "datetime"));
    put("SORTING", f(json!("Sorting Index"), "double"));
    put("DURATION_PLAN", f(json!("Spent (planned)"), "integer"));
    put("DURATION_FACT", f(json!("Spent (actual)"), "integer"));
    put("CHECKLIST", f(Value::Null, "array"));
    put(
        "DURATION_TYPE",
        json!({"title": "DURATION_TYPE", "type": "enum", "values": ["secs", "mins", "hours", "days", "weeks", "months", "years"], "default": "days"}),
    );
    put(
        "IS_MUTED",
        json!({"title": null, "type": "enum", "values": yn, "default": "N"}),
    );
    put(
        "IS_PINNED",
        json!({"title": null, "type": "enum", "values": yn, "default": "N"}),
    );
    put(
        "IS_PINNED_IN_GROUP",
        json!({"title": null, "type": "enum", "values": yn, "default": "N"}),
    );
    put(
        "FLOW_ID",
        json!({"title": "Flow", "type": "integer", "default": 0}),
    );
    put("UF_CRM_TASK", f(json!("CRM Entities"), "crm"));
    put(
        "UF_TASK_WEBDAV_FILES",
        f(json!("Upload Files"), "disk_file"),
    );
    put("UF_MAIL_MESSAGE", f(Value::Null, "mail_message"));
    Ok(Output::result(super::keyed("fields", Value::from(fields))))
}

// --- tasks.task.list ---------------------------------------------------------------------------

/// Order keys `tasks.task.list` sorts by, with the column each uses. Documented keys absent
/// here (`TIME_SPENT_IN_LOGS`, `MARK`, `CREATED_BY_LAST_NAME`, …) are accepted and leave the
/// default order (spec §12 "Tasks").
fn order_column(key: &str) -> Option<&'static str> {
    Some(match key {
        "ID" => "id",
        "TITLE" => "title",
        "CREATED_DATE" => "created_date",
        "CHANGED_DATE" => "changed_date",
        "CLOSED_DATE" => "closed_date",
        "DATE_START" => "date_start",
        "DEADLINE" => "deadline",
        "START_DATE_PLAN" => "start_date_plan",
        "END_DATE_PLAN" => "end_date_plan",
        "REAL_STATUS" | "STATUS" => "status",
        "PRIORITY" => "priority",
        "GROUP_ID" => "group_id",
        _ => return None,
    })
}

/// Documented order keys this server does not sort by (they keep the default order).
const UNSORTED_ORDER_KEYS: &[&str] = &[
    "TIME_SPENT_IN_LOGS",
    "ACTIVITY_DATE",
    "STATUS_COMPLETE",
    "MARK",
    "CREATED_BY_LAST_NAME",
    "RESPONSIBLE_LAST_NAME",
    "TIME_ESTIMATE",
    "ALLOW_CHANGE_DEADLINE",
    "ALLOW_TIME_TRACKING",
    "MATCH_WORK_TIME",
    "FAVORITE",
    "SORTING",
    "IS_PINNED",
    "IS_PINNED_IN_GROUP",
];

fn parse_order(map: &Map<String, Value>) -> Result<Vec<(Column, bool)>, ApiError> {
    let mut order = Vec::new();
    for (key, direction) in map {
        let key = key.to_ascii_uppercase();
        let desc = direction
            .as_str()
            .is_some_and(|d| d.eq_ignore_ascii_case("desc"));
        match order_column(&key) {
            Some(column) => order.push((Column::Plain(column), desc)),
            None if UNSORTED_ORDER_KEYS.contains(&key.as_str()) => {}
            None => {
                return Err(RestError::with_message(
                    ErrorCode::Uncoded,
                    "Invalid sorting key (internal error)",
                )
                .into())
            }
        }
    }
    if order.is_empty() {
        // The service's default: newest first.
        order.push((Column::Plain("id"), true));
    }
    Ok(order)
}

/// The column behind a filter key, and whether it holds dates.
fn filter_column(name: &str) -> Option<(&'static str, bool)> {
    Some(match name {
        "ID" => ("id", false),
        "PARENT_ID" => ("parent_id", false),
        "GROUP_ID" => ("group_id", false),
        "CREATED_BY" => ("created_by", false),
        "RESPONSIBLE_ID" => ("responsible_id", false),
        "STATUS_CHANGED_BY" => ("status_changed_by", false),
        "PRIORITY" => ("priority", false),
        "REAL_STATUS" | "STATUS" => ("status", false),
        "TITLE" => ("title", false),
        "DATE_START" => ("date_start", true),
        "DEADLINE" => ("deadline", true),
        "CREATED_DATE" => ("created_date", true),
        "CLOSED_DATE" => ("closed_date", true),
        "CHANGED_DATE" => ("changed_date", true),
        _ => return None,
    })
}

fn values_of(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => o.values().collect(),
        other => vec![other],
    }
}

/// A filter operand for a column: numbers for id columns, normalised dates for date columns.
fn operand(column: &str, date: bool, value: &Value) -> Option<SqlValue> {
    if column == "title" {
        return match value {
            Value::String(s) if !s.contains('\0') => Some(SqlValue::Text(s.clone())),
            Value::Number(n) => Some(SqlValue::Text(n.to_string())),
            _ => None,
        };
    }
    if date {
        let text = match value {
            Value::String(s) => s.clone(),
            _ => return None,
        };
        if text.is_empty() {
            return Some(SqlValue::Text(String::new()));
        }
        return crate::domain::values::parse_datetime(&text).map(SqlValue::Text);
    }
    bind_int(value).map(SqlValue::Int)
}

fn nothing() -> Filter {
    Filter::Any(Vec::new())
}

/// One filter entry of `tasks.task.list` as a condition on the `tasks` row, or into the
/// member / CRM conditions of the query. Unknown keys are ignored; values of the wrong type
/// match nothing.
fn condition(key: &str, value: &Value, query: &mut TaskQuery) -> Option<Filter> {
    let name = key.trim_start_matches(['!', '=', '<', '>', '%', '@']);
    let prefix = &key[..key.len() - name.len()];
    let name = name.to_ascii_uppercase();
    match name.as_str() {
        "ACCOMPLICE" | "AUDITOR" => {
            let users: Vec<i64> = values_of(value).into_iter().filter_map(bind_int).collect();
            let role = if name == "ACCOMPLICE" {
                Role::Accomplice
            } else {
                Role::Auditor
            };
            query.roles.push((role, users));
            None
        }
        "UF_CRM_TASK" => {
            let items: Vec<(i64, i64)> = values_of(value)
                .into_iter()
                .filter_map(Value::as_str)
                .filter_map(rules::parse_crm_code)
                .map(|b| (b.entity_type_id, b.entity_id))
                .collect();
            let mut all = query.crm.take().unwrap_or_default();
            all.extend(items);
            query.crm = Some(all);
            None
        }
        _ => {
            let (column, date) = filter_column(&name)?;
            let values: Vec<SqlValue> = values_of(value)
                .into_iter()
                .filter_map(|v| operand(column, date, v))
                .collect();
            if values.is_empty() {
                return Some(nothing());
            }
            let several = matches!(value, Value::Array(_) | Value::Object(_));
            let column = Column::Plain(column);
            if column == Column::Plain("title") && (prefix.is_empty() || prefix == "%") {
                // `TITLE` matches a pattern with `%` and `_`; `%TITLE` a substring.
                let SqlValue::Text(text) = &values[0] else {
                    return Some(nothing());
                };
                let pattern = if prefix == "%" {
                    format!("%{}%", like_literal(text))
                } else if text.contains('%') || text.contains('_') {
                    text.clone()
                } else {
                    like_literal(text)
                };
                return Some(Filter::Compare {
                    column,
                    op: CompareOp::Like,
                    values: vec![SqlValue::Text(pattern)],
                });
            }
            let op = match (prefix, several) {
                ("" | "=" | "@", true) => CompareOp::In,
                ("!" | "!=" | "!@", true) => CompareOp::NotIn,
                ("" | "=", false) => CompareOp::Eq,
                ("!" | "!=", false) => CompareOp::NotEq,
                (">", _) => CompareOp::Gt,
                (">=", _) => CompareOp::Ge,
                ("<", _) => CompareOp::Lt,
                ("<=", _) => CompareOp::Le,
                _ => return Some(nothing()),
            };
            let values = if matches!(op, CompareOp::In | CompareOp::NotIn) {
                values
            } else {
                vec![values[0].clone()]
            };
            Some(Filter::Compare { column, op, values })
        }
    }
}

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    let who = &call.caller.permissions;
    let filter = call.params.map_ci("filter")?.unwrap_or_default();
    let order = parse_order(&call.params.map_ci("order")?.unwrap_or_default())?;
    let select = select_param(call)?;
    let page = Page::from_start(call.params.get("start"));
    let mut query = TaskQuery {
        list: ListQuery {
            filter: Filter::everything(),
            order,
            offset: page.offset,
            limit: PAGE_SIZE,
            count: page.count,
        },
        member: (!who.admin).then_some(who.user_id),
        roles: Vec::new(),
        crm: None,
    };
    let mut conditions = Vec::new();
    for (key, value) in &filter {
        if let Some(c) = condition(key, value, &mut query) {
            conditions.push(c);
        }
    }
    query.list.filter = Filter::All(conditions);
    let (tasks, total) = call.state.store.read(call.caller.portal_id, |tx| {
        let found = tx.tasks_page(&query)?;
        let mut people = People {
            tx,
            cards: HashMap::new(),
        };
        let tasks = found
            .rows
            .iter()
            .map(|t| {
                let mut v = render(&mut people, t, &select, who)?;
                if let Value::Object(o) = &mut v {
                    o.insert("subStatus".into(), json!(t.status.to_string()));
                }
                Ok(v)
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok((tasks, found.total))
    })?;
    Ok(Output {
        next: total.and_then(|t| page.next(tasks.len(), t)),
        total,
        result: super::keyed("tasks", Value::from(tasks)),
    })
}

// ---------------------------------------------------------------------------------------------
// Legacy task.*item.* methods: positional parameters, `TASKS_ERROR_EXCEPTION` texts.

/// The parameters in the order given (the service binds them by position).
fn positional<'a>(call: &'a Call<'_>) -> Vec<&'a Value> {
    call.params.0.values().collect()
}

fn wrong_arguments(text: String) -> ApiError {
    RestError::with_message(
        ErrorCode::TaskCore,
        format!("TASKS_ERROR_EXCEPTION_#256; {text}; 256/TE/WRONG_ARGUMENTS<br>"),
    )
    .into()
}

/// An integer parameter at `position` of a legacy method (`class::method` names it in errors).
fn legacy_int(args: &[&Value], position: usize, name: &str, method: &str) -> Result<i64, ApiError> {
    let Some(value) = args.get(position) else {
        return Err(wrong_arguments(format!(
            "Param #{position} ({name}) expected by method {method}(), but not given."
        )));
    };
    bind_int(value).ok_or_else(|| {
        wrong_arguments(format!(
            "Param #{position} ({name}) for method {method}() expected to be of type \"integer\", but given something else."
        ))
    })
}

/// An object parameter at `position`; `None` when absent.
fn legacy_map(
    args: &[&Value],
    position: usize,
    name: &str,
    method: &str,
) -> Result<Option<Map<String, Value>>, ApiError> {
    match args.get(position) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(Value::Array(a)) if a.is_empty() => Ok(Some(Map::new())),
        Some(_) => Err(wrong_arguments(format!(
            "Param #{position} ({name}) for method {method}() expected to be of type \"array\", but given something else."
        ))),
    }
}

fn upper(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
        .collect()
}

fn comment_add(call: &Call<'_>) -> Result<Output, ApiError> {
    const M: &str = "ctaskcommentitem::add";
    let args = positional(call);
    let task_id = legacy_int(&args, 0, "taskId", M)?;
    let fields = legacy_map(&args, 1, "arFields", M)?
        .filter(|f| !f.is_empty())
        .ok_or_else(|| {
            wrong_arguments(format!(
                "Param #1 (arFields) expected by method {M}(), but not given."
            ))
        })?;
    let fields = upper(&fields);
    for key in fields.keys() {
        if !matches!(
            key.as_str(),
            "POST_MESSAGE" | "AUTHOR_ID" | "POST_DATE" | "UF_FORUM_MESSAGE_DOC"
        ) {
            return Err(wrong_arguments(format!(
                "Param #1 (arFields) for method {M}() must not contain key `{key}`."
            )));
        }
    }
    let message = match fields.get("POST_MESSAGE") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let author = fields
        .get("AUTHOR_ID")
        .and_then(bind_int)
        .filter(|a| *a > 0);
    let who = &call.caller.permissions;
    let id = call.state.store.write(call.caller.portal_id, |tx| {
        rules::add_comment(tx, who, task_id, &message, author)
    })?;
    Ok(Output::result(json!(id)))
}

fn comment_json(tx: &mut dyn Tx, c: &TaskComment) -> Result<Value, ApiError> {
    let profile = tx.user_profile(c.author_id)?;
    let (name, email) = profile
        .map(|p| {
            (
                format!("{} {}", p.name, p.last_name).trim().to_string(),
                p.email,
            )
        })
        .unwrap_or_default();
    Ok(json!({
        "POST_MESSAGE_HTML": null,
        "ID": c.id.to_string(),
        "AUTHOR_ID": c.author_id.to_string(),
        "AUTHOR_NAME": name,
        "AUTHOR_EMAIL": email,
        "POST_DATE": c.post_date,
        "POST_MESSAGE": c.message,
        "ATTACHED_OBJECTS": {},
    }))
}

/// Applies a legacy `FILTER` with `!`, `<`, `<=`, `>`, `>=` prefixes to rows read as
/// `(field) -> comparable text or number`; an unknown key is the service's `arFilter` error.
fn legacy_filter<T>(
    rows: &mut Vec<T>,
    filter: &Map<String, Value>,
    fields: &[&str],
    value_of: impl Fn(&T, &str) -> Value,
    method: &str,
) -> Result<(), ApiError> {
    for (key, wanted) in filter {
        let name = key.trim_start_matches(['!', '<', '>', '=']);
        let prefix = &key[..key.len() - name.len()];
        let name = name.to_ascii_uppercase();
        if !fields.contains(&name.as_str()) || !matches!(prefix, "" | "!" | "<" | "<=" | ">" | ">=")
        {
            return Err(wrong_arguments(format!(
                "Param #2 (arFilter) for method {method}() must not contain key \"{key}\"."
            )));
        }
        let wanted: Vec<Value> = values_of(wanted).into_iter().cloned().collect();
        rows.retain(|row| {
            let have = value_of(row, &name);
            let cmp = |w: &Value| compare(&have, w);
            match prefix {
                "" => wanted
                    .iter()
                    .any(|w| cmp(w) == Some(std::cmp::Ordering::Equal)),
                "!" => !wanted
                    .iter()
                    .any(|w| cmp(w) == Some(std::cmp::Ordering::Equal)),
                "<" => wanted.first().and_then(cmp) == Some(std::cmp::Ordering::Less),
                "<=" => wanted.first().and_then(cmp).is_some_and(|o| o.is_le()),
                ">" => wanted.first().and_then(cmp) == Some(std::cmp::Ordering::Greater),
                _ => wanted.first().and_then(cmp).is_some_and(|o| o.is_ge()),
            }
        });
    }
    Ok(())
}

/// Compares a row's value with a filter value: as numbers when both are, else as text.
fn compare(have: &Value, wanted: &Value) -> Option<std::cmp::Ordering> {
    match (bind_int(have), bind_int(wanted)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => {
            let text = |v: &Value| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some(text(have).cmp(&text(wanted)))
        }
    }
}

/// Applies a legacy `ORDER`; an unknown key is the service's `arOrder` error.
fn legacy_order<T>(
    rows: &mut [T],
    order: &Map<String, Value>,
    fields: &[&str],
    value_of: impl Fn(&T, &str) -> Value,
    method: &str,
) -> Result<(), ApiError> {
    let mut keys = Vec::new();
    for (key, dir) in order {
        let name = key.to_ascii_uppercase();
        if !fields.contains(&name.as_str()) {
            return Err(wrong_arguments(format!(
                "Param #1 (arOrder) for method {method}() must not contain key \"{key}\"."
            )));
        }
        let desc = dir.as_str().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
        keys.push((name, desc));
    }
    if keys.is_empty() {
        keys.push(("ID".to_string(), true));
    }
    rows.sort_by(|a, b| {
        for (name, desc) in &keys {
            let o = compare(&value_of(a, name), &value_of(b, name))
                .unwrap_or(std::cmp::Ordering::Equal);
            let o = if *desc { o.reverse() } else { o };
            if o.is_ne() {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    Ok(())
}

fn comment_getlist(call: &Call<'_>) -> Result<Output, ApiError> {
    const M: &str = "ctaskcommentitem::getlist";
    let args = positional(call);
    let task_id = legacy_int(&args, 0, "taskId", M)?;
    let order = legacy_map(&args, 1, "arOrder", M)?.unwrap_or_default();
    let filter = legacy_map(&args, 2, "arFilter", M)?.unwrap_or_default();
    let who = &call.caller.permissions;
    let value_of = |c: &TaskComment, f: &str| match f {
        "ID" => json!(c.id),
        "AUTHOR_ID" => json!(c.author_id),
        _ => json!(c.post_date),
    };
    let result = call.state.store.read(call.caller.portal_id, |tx| {
        let mut rows = rules::comments(tx, who, task_id)?;
        legacy_filter(
            &mut rows,
            &filter,
            &["ID", "AUTHOR_ID", "POST_DATE"],
            value_of,
            M,
        )?;
        legacy_order(
            &mut rows,
            &order,
            &["ID", "AUTHOR_ID", "POST_DATE"],
            value_of,
            M,
        )?;
        rows.iter()
            .map(|c| comment_json(tx, c))
            .collect::<Result<Vec<_>, ApiError>>()
    })?;
    Ok(Output::result(Value::Array(result)))
}

fn comment_delete(call: &Call<'_>) -> Result<Output, ApiError> {
    const M: &str = "ctaskcommentitem::delete";
    let args = positional(call);
    let task_id = legacy_int(&args, 0, "taskId", M)?;
    let item_id = legacy_int(&args, 1, "itemId", M)?;
    let who = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        rules::delete_comment(tx, who, task_id, item_id)
    })?;
    Ok(Output::result(json!(true)))
}

fn yes(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("Y") || s == "1" || s == "true",
        Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
        _ => false,
    }
}

fn checklist_add(call: &Call<'_>) -> Result<Output, ApiError> {
    const M: &str = "ctaskchecklistitem::add";
    let args = positional(call);
    let task_id = legacy_int(&args, 0, "taskId", M)?;
    let fields = legacy_map(&args, 1, "arFields", M)?
        .filter(|f| !f.is_empty())
        .ok_or_else(|| {
            wrong_arguments(format!(
                "Param #1 (arFields) expected by method {M}(), but not given."
            ))
        })?;
    let fields = upper(&fields);
    let new = NewChecklistItem {
        title: match fields.get("TITLE") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        },
        parent_id: fields.get("PARENT_ID").map(|v| bind_int(v).unwrap_or(0)),
        sort_index: fields.get("SORT_INDEX").and_then(bind_int),
        is_complete: yes(fields.get("IS_COMPLETE")),
        is_important: yes(fields.get("IS_IMPORTANT")),
    };
    let who = &call.caller.permissions;
    let id = call.state.store.write(call.caller.portal_id, |tx| {
        rules::add_checklist_item(tx, who, task_id, new)
    })?;
    Ok(Output::result(json!(id)))
}

fn checklist_json(i: &ChecklistItem) -> Value {
    json!({
        "ID": i.id.to_string(),
        "TASK_ID": i.task_id.to_string(),
        // Top-level items (checklists) answer the number 0, the others a string.
        "PARENT_ID": if i.parent_id == 0 { json!(0) } else { json!(i.parent_id.to_string()) },
        "CREATED_BY": i.created_by.to_string(),
        "TITLE": i.title,
        "SORT_INDEX": i.sort_index.to_string(),
        "IS_COMPLETE": if i.is_complete { "Y" } else { "N" },
        "IS_IMPORTANT": if i.is_important { "Y" } else { "N" },
        "TOGGLED_BY": if i.toggled_by == 0 { Value::Null } else { json!(i.toggled_by.to_string()) },
        "TOGGLED_DATE": i.toggled_date,
        "MEMBERS": [],
        "ATTACHMENTS": [],
    })
}

fn checklist_getlist(call: &Call<'_>) -> Result<Output, ApiError> {
    const M: &str = "ctaskchecklistitem::getlist";
    const FIELDS: &[&str] = &[
        "ID",
        "PARENT_ID",
        "CREATED_BY",
        "TITLE",
        "SORT_INDEX",
        "IS_COMPLETE",
        "IS_IMPORTANT",
        "TOGGLED_BY",
        "TOGGLED_DATE",
    ];
    let args = positional(call);
    let task_id = legacy_int(&args, 0, "taskId", M)?;
    let order = legacy_map(&args, 1, "arOrder", M)?.unwrap_or_default();
    let who = &call.caller.permissions;
    let mut rows = call.state.store.read(call.caller.portal_id, |tx| {
        rules::checklist(tx, who, task_id)
    })?;
    let value_of = |i: &ChecklistItem, f: &str| match f {
        "ID" => json!(i.id),
        "PARENT_ID" => json!(i.parent_id),
        "CREATED_BY" => json!(i.created_by),
        "TITLE" => json!(i.title),
        "SORT_INDEX" => json!(i.sort_index),
        "IS_COMPLETE" => json!(i.is_complete as i64),
        "IS_IMPORTANT" => json!(i.is_important as i64),
        "TOGGLED_BY" => json!(i.toggled_by),
        _ => json!(i.toggled_date),
    };
    legacy_order(&mut rows, &order, FIELDS, value_of, M)?;
    Ok(Output::result(Value::Array(
        rows.iter().map(checklist_json).collect(),
    )))
}

/// `TASKID` and `ITEMID` of `task.checklistitem.complete / delete`; values ≤ 0 are the
/// service's assertion error.
fn task_and_item(call: &Call<'_>, method: &str) -> Result<(i64, i64), ApiError> {
    let args = positional(call);
    let task_id = legacy_int(&args, 0, "taskId", method)?;
    let item_id = legacy_int(&args, 1, "itemId", method)?;
    if task_id <= 0 || item_id <= 0 {
        return Err(RestError::with_message(
            ErrorCode::TaskCore,
            "TASKS_ERROR_ASSERT_EXCEPTION<br>",
        )
        .into());
    }
    Ok((task_id, item_id))
}

fn checklist_complete(call: &Call<'_>) -> Result<Output, ApiError> {
    let (_, item_id) = task_and_item(call, "ctaskchecklistitem::complete")?;
    let who = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        rules::complete_checklist_item(tx, who, item_id)
    })?;
    Ok(Output::result(json!(true)))
}

fn checklist_delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let (task_id, item_id) = task_and_item(call, "ctaskchecklistitem::delete")?;
    let who = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        rules::delete_checklist_item(tx, who, task_id, item_id)
    })?;
    Ok(Output::result(json!(true)))
}

fn elapsed_add(call: &Call<'_>) -> Result<Output, ApiError> {
    const M: &str = "ctaskelapseditem::add";
    let args = positional(call);
    let task_id = legacy_int(&args, 0, "taskId", M)?;
    let fields = legacy_map(&args, 1, "arFields", M)?
        .filter(|f| !f.is_empty())
        .ok_or_else(|| {
            wrong_arguments(format!(
                "Param #1 (arFields) expected by method {M}(), but not given."
            ))
        })?;
    let fields = upper(&fields);
    let seconds = fields
        .get("SECONDS")
        .and_then(bind_int)
        .ok_or_else(|| action_failed("SECONDS is not specified"))?;
    let comment = match fields.get("COMMENT_TEXT") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let user = fields.get("USER_ID").and_then(bind_int).filter(|u| *u > 0);
    let who = &call.caller.permissions;
    let id = call.state.store.write(call.caller.portal_id, |tx| {
        rules::add_elapsed(tx, who, task_id, seconds, &comment, user)
    })?;
    Ok(Output::result(json!(id)))
}

fn elapsed_json(e: &ElapsedItem) -> Value {
    json!({
        "ID": e.id.to_string(),
        "TASK_ID": e.task_id.to_string(),
        "USER_ID": e.user_id.to_string(),
        "COMMENT_TEXT": e.comment_text,
        "SECONDS": e.seconds.to_string(),
        "MINUTES": (e.seconds / 60).to_string(),
        "SOURCE": "2",
        "CREATED_DATE": e.created_date,
        "DATE_START": e.date_start,
        "DATE_STOP": e.date_stop,
    })
}

/// `task.elapseditem.getlist`: a task's records, filtered by `FILTER` (`ID`, `USER_ID`,
/// `CREATED_DATE`) and sorted by `ORDER` (by `ID` when none), a page of at most 50
/// (`PARAMS[NAV_PARAMS][nPageSize / iNumPage]`), with `total` and `next`. The task's records
/// are read through the task index and paged here.
fn elapsed_getlist(call: &Call<'_>) -> Result<Output, ApiError> {
    const M: &str = "ctaskelapseditem::getlist";
    const ORDER_FIELDS: &[&str] = &[
        "ID",
        "USER_ID",
        "MINUTES",
        "SECONDS",
        "CREATED_DATE",
        "DATE_START",
        "DATE_STOP",
    ];
    let args = positional(call);
    let task_id = legacy_int(&args, 0, "taskId", M)?;
    let mut order = legacy_map(&args, 1, "arOrder", M)?.unwrap_or_default();
    if order.is_empty() {
        order.insert("ID".into(), json!("asc"));
    }
    let filter = legacy_map(&args, 2, "arFilter", M)?.unwrap_or_default();
    let nav = args
        .get(4)
        .and_then(|p| p.as_object())
        .and_then(|p| p.get("NAV_PARAMS"))
        .and_then(Value::as_object);
    let size = nav
        .and_then(|n| n.get("nPageSize"))
        .and_then(bind_int)
        .filter(|n| *n > 0)
        .map_or(PAGE_SIZE, |n| (n as u64).min(PAGE_SIZE));
    let number = nav
        .and_then(|n| n.get("iNumPage"))
        .and_then(bind_int)
        .filter(|n| *n > 0)
        .unwrap_or(1) as u64;
    let offset = (number - 1).saturating_mul(size);
    let who = &call.caller.permissions;
    let mut rows = call.state.store.read(call.caller.portal_id, |tx| {
        if rules::visible(tx, who, task_id)?.is_none() {
            return Err(rules::legacy_elapsed("Access denied."));
        }
        Ok(tx.elapsed_items(task_id, 0, i64::MAX as u64)?.rows)
    })?;
    let value_of = |e: &ElapsedItem, f: &str| match f {
        "ID" => json!(e.id),
        "USER_ID" => json!(e.user_id),
        "MINUTES" => json!(e.seconds / 60),
        "SECONDS" => json!(e.seconds),
        "DATE_START" => json!(e.date_start),
        "DATE_STOP" => json!(e.date_stop),
        _ => json!(e.created_date),
    };
    legacy_filter(
        &mut rows,
        &filter,
        &["ID", "USER_ID", "CREATED_DATE"],
        value_of,
        M,
    )?;
    legacy_order(&mut rows, &order, ORDER_FIELDS, value_of, M)?;
    let total = rows.len() as u64;
    let page: Vec<Value> = rows
        .iter()
        .skip(offset.min(total) as usize)
        .take(size as usize)
        .map(elapsed_json)
        .collect();
    let shown = offset + page.len() as u64;
    Ok(Output {
        result: Value::Array(page),
        next: (shown < total && !rows.is_empty()).then_some(shown),
        total: Some(total),
    })
}
