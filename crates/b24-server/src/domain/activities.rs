//! The rules of the legacy activity methods (spec §4): the field table, how `crm.activity.add`
//! builds bindings from the owner and the communications, how `COMMUNICATIONS` rebuild them on
//! update, who may read, change and delete an activity, and which activities a caller may list.
//! Every write of `crm.activity.add / update / delete` happens here; the to-do methods live in
//! [`super::todo`].

use super::access::{activity_allows, can, is_item_type, item_exists};
use super::changes::{self, Change};
use super::disk;
use super::text_limits::{self, Record};
use super::values::parse_datetime_utc;
use super::{
    owner_from_bindings, Action, Binding, EntityTypeId, Level, Permissions,
    MAX_BINDINGS_PER_ACTIVITY,
};
use crate::error::ApiError;
use crate::store::{ActivityRecord, Column, Filter, ListQuery, PageOf, SqlValue, Tx};
use b24_protocol::values::bind_int;
use b24_protocol::RestError;
use serde_json::{json, Map, Value};

/// Activity types (`TYPE_ID`).
pub mod activity_type {
    /// Meeting.
    pub const MEETING: i64 = 1;
    /// Call.
    pub const CALL: i64 = 2;
    /// Task.
    pub const TASK: i64 = 3;
    /// E-mail.
    pub const EMAIL: i64 = 4;
    /// Imported calendar event.
    pub const CALENDAR: i64 = 5;
    /// Managed by a provider (to-dos, REST apps).
    pub const PROVIDER: i64 = 6;
}

/// What kind of activity a new record is: `TYPE_ID`, `PROVIDER_ID` and `PROVIDER_TYPE_ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewActivity {
    /// `TYPE_ID` (see [`activity_type`]).
    pub type_id: i64,
    /// `PROVIDER_ID`, e.g. `CRM_MEETING`.
    pub provider_id: &'static str,
    /// `PROVIDER_TYPE_ID`, e.g. `MEETING`.
    pub provider_type_id: &'static str,
}

/// A new activity with the defaults every kind shares: owned by `owner`, written by `author_id`
/// (also its editor), open (`COMPLETED` N, `STATUS` 1 waiting), `PRIORITY` 2 (medium),
/// `DIRECTION` 0, no subject, description or times, created and updated at `now`. Its id is
/// 0 until it is stored.
pub fn new_activity(
    kind: NewActivity,
    owner: Binding,
    author_id: i64,
    responsible_id: i64,
    now: &str,
) -> ActivityRecord {
    ActivityRecord {
        id: 0,
        type_id: kind.type_id,
        provider_id: kind.provider_id.into(),
        provider_type_id: kind.provider_type_id.into(),
        subject: String::new(),
        description: String::new(),
        responsible_id,
        author_id,
        editor_id: author_id,
        owner_type_id: owner.entity_type_id,
        owner_id: owner.entity_id,
        deadline: String::new(),
        start_time: String::new(),
        end_time: String::new(),
        completed: false,
        status: 1,
        priority: 2,
        direction: 0,
        created: now.to_string(),
        last_updated: now.to_string(),
        extra: Map::new(),
    }
}

/// How a field's filter values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityFieldKind {
    /// An integer column.
    Integer,
    /// A text column.
    Text,
    /// A date-time, stored in UTC.
    DateTime,
    /// `Y`/`N`, stored as a boolean.
    YesNo,
    /// A decimal number.
    Double,
    /// Not filterable (lists, objects).
    Other,
}

/// One field of `crm.activity.fields`.
#[derive(Debug)]
pub struct ActivityField {
    /// The UPPER_CASE name.
    pub name: &'static str,
    /// Where it is stored; `None` for fields that are not plain values.
    pub column: Option<Column>,
    /// Filter value kind.
    pub kind: ActivityFieldKind,
    /// The `type` shown by `crm.activity.fields`.
    pub wire_type: &'static str,
    /// The `title` shown.
    pub title: &'static str,
    /// `isRequired`.
    pub required: bool,
    /// `isReadOnly`.
    pub read_only: bool,
    /// `isImmutable`.
    pub immutable: bool,
    /// `isMultiple`.
    pub multiple: bool,
    /// `isDeprecated: true` in the descriptor.
    pub deprecated: bool,
}

impl ActivityField {
    /// The descriptor `crm.activity.fields` shows.
    pub fn descriptor(&self) -> Value {
        let mut d = json!({
            "type": self.wire_type,
            "isRequired": self.required,
            "isReadOnly": self.read_only,
            "isImmutable": self.immutable,
            "isMultiple": self.multiple,
            "isDynamic": false,
            "title": self.title,
        });
        if self.deprecated {
            d["isDeprecated"] = json!(true);
        }
        d
    }
}

const fn f(
    name: &'static str,
    column: Option<Column>,
    kind: ActivityFieldKind,
    wire_type: &'static str,
    title: &'static str,
) -> ActivityField {
    ActivityField {
        name,
        column,
        kind,
        wire_type,
        title,
        required: false,
        read_only: false,
        immutable: false,
        multiple: false,
        deprecated: false,
    }
}

const fn deprecated(mut a: ActivityField) -> ActivityField {
    a.deprecated = true;
    a
}

const fn ro(mut a: ActivityField) -> ActivityField {
    a.read_only = true;
    a
}

const fn req(mut a: ActivityField) -> ActivityField {
    a.required = true;
    a
}

const fn imm(mut a: ActivityField) -> ActivityField {
    a.immutable = true;
    a
}

const fn multi(mut a: ActivityField) -> ActivityField {
    a.multiple = true;
    a
}

use ActivityFieldKind::{DateTime, Double, Integer, Other, Text, YesNo};
use Column::{Extra, Plain};

/// The fields `crm.activity.fields` describes and lists filter and sort by.
pub static ACTIVITY_FIELDS: &[ActivityField] = &[
    ro(f("ID", Some(Plain("id")), Integer, "integer", "ID")),
    imm(f(
        "OWNER_ID",
        Some(Plain("owner_id")),
        Integer,
        "integer",
        "Owner ID",
    )),
    imm(f(
        "OWNER_TYPE_ID",
        Some(Plain("owner_type_id")),
        Integer,
        "crm_enum_ownertype",
        "Owner Type",
    )),
    imm(req(f(
        "TYPE_ID",
        Some(Plain("type_id")),
        Integer,
        "crm_enum_activitytype",
        "Type",
    ))),
    f(
        "PROVIDER_ID",
        Some(Plain("provider_id")),
        Text,
        "string",
        "Provider ID",
    ),
    f(
        "PROVIDER_GROUP_ID",
        Some(Extra("PROVIDER_GROUP_ID")),
        Text,
        "string",
        "Connector Type",
    ),
    ro(f(
        "ASSOCIATED_ENTITY_ID",
        None,
        Other,
        "integer",
        "Associated Entity ID",
    )),
    f(
        "PROVIDER_TYPE_ID",
        Some(Plain("provider_type_id")),
        Text,
        "string",
        "Provider Type",
    ),
    req(f(
        "SUBJECT",
        Some(Plain("subject")),
        Text,
        "string",
        "Subject",
    )),
    f(
        "START_TIME",
        Some(Plain("start_time")),
        DateTime,
        "datetime",
        "Start",
    ),
    f(
        "END_TIME",
        Some(Plain("end_time")),
        DateTime,
        "datetime",
        "Deadline",
    ),
    f(
        "DEADLINE",
        Some(Plain("deadline")),
        DateTime,
        "datetime",
        "Execution Deadline",
    ),
    f(
        "COMPLETED",
        Some(Plain("completed")),
        YesNo,
        "char",
        "Completed",
    ),
    f(
        "STATUS",
        Some(Plain("status")),
        Integer,
        "crm_enum_activitystatus",
        "Status",
    ),
    req(f(
        "RESPONSIBLE_ID",
        Some(Plain("responsible_id")),
        Integer,
        "user",
        "Responsible",
    )),
    f(
        "PRIORITY",
        Some(Plain("priority")),
        Integer,
        "crm_enum_activitypriority",
        "Priority",
    ),
    f(
        "NOTIFY_TYPE",
        Some(Extra("NOTIFY_TYPE")),
        Integer,
        "crm_enum_activitynotifytype",
        "Notification Type",
    ),
    f(
        "NOTIFY_VALUE",
        Some(Extra("NOTIFY_VALUE")),
        Integer,
        "integer",
        "Notification Parameter",
    ),
    f(
        "DESCRIPTION",
        Some(Plain("description")),
        Text,
        "string",
        "Description",
    ),
    f(
        "DESCRIPTION_TYPE",
        Some(Extra("DESCRIPTION_TYPE")),
        Integer,
        "crm_enum_contenttype",
        "Description Type",
    ),
    f(
        "DIRECTION",
        Some(Plain("direction")),
        Integer,
        "crm_enum_activitydirection",
        "Direction",
    ),
    f(
        "LOCATION",
        Some(Extra("LOCATION")),
        Text,
        "string",
        "Location",
    ),
    ro(f(
        "CREATED",
        Some(Plain("created")),
        DateTime,
        "datetime",
        "Creation Date",
    )),
    ro(f(
        "AUTHOR_ID",
        Some(Plain("author_id")),
        Integer,
        "user",
        "Created By",
    )),
    ro(f(
        "LAST_UPDATED",
        Some(Plain("last_updated")),
        DateTime,
        "datetime",
        "Last Updated Date",
    )),
    ro(f(
        "EDITOR_ID",
        Some(Plain("editor_id")),
        Integer,
        "user",
        "Edited By",
    )),
    f("SETTINGS", None, Other, "object", "Settings"),
    f(
        "ORIGIN_ID",
        Some(Extra("ORIGIN_ID")),
        Text,
        "string",
        "External Code",
    ),
    f(
        "ORIGINATOR_ID",
        Some(Extra("ORIGINATOR_ID")),
        Text,
        "string",
        "External Source",
    ),
    f(
        "RESULT_STATUS",
        Some(Extra("RESULT_STATUS")),
        Integer,
        "integer",
        "RESULT_STATUS",
    ),
    f(
        "RESULT_STREAM",
        Some(Extra("RESULT_STREAM")),
        Integer,
        "integer",
        "RESULT_STREAM",
    ),
    f(
        "RESULT_SOURCE_ID",
        Some(Extra("RESULT_SOURCE_ID")),
        Text,
        "string",
        "RESULT_SOURCE_ID",
    ),
    f(
        "PROVIDER_PARAMS",
        None,
        Other,
        "object",
        "Provider Parameters",
    ),
    f(
        "PROVIDER_DATA",
        Some(Extra("PROVIDER_DATA")),
        Text,
        "string",
        "Provider Data",
    ),
    f(
        "RESULT_MARK",
        Some(Extra("RESULT_MARK")),
        Integer,
        "integer",
        "RESULT_MARK",
    ),
    f(
        "RESULT_VALUE",
        Some(Extra("RESULT_VALUE")),
        Double,
        "double",
        "RESULT_VALUE",
    ),
    f(
        "RESULT_SUM",
        Some(Extra("RESULT_SUM")),
        Double,
        "double",
        "RESULT_SUM",
    ),
    f(
        "RESULT_CURRENCY_ID",
        Some(Extra("RESULT_CURRENCY_ID")),
        Text,
        "string",
        "RESULT_CURRENCY_ID",
    ),
    f(
        "AUTOCOMPLETE_RULE",
        Some(Extra("AUTOCOMPLETE_RULE")),
        Integer,
        "integer",
        "Autocomplete",
    ),
    multi(ro(f(
        "BINDINGS",
        None,
        Other,
        "crm_activity_binding",
        "Bindings",
    ))),
    multi(req(f(
        "COMMUNICATIONS",
        None,
        Other,
        "crm_activity_communication",
        "Communication Channel",
    ))),
    multi(f("FILES", None, Other, "diskfile", "Files")),
    deprecated(multi(f(
        "WEBDAV_ELEMENTS",
        None,
        Other,
        "diskfile",
        "Added Files",
    ))),
    ro(f(
        "IS_INCOMING_CHANNEL",
        None,
        Other,
        "char",
        "IS_INCOMING_CHANNEL",
    )),
];

/// A filter operand for a field of this kind; `None` when the value does not fit.
pub fn filter_value(kind: ActivityFieldKind, value: &Value) -> Option<SqlValue> {
    if value.is_null() {
        return Some(SqlValue::Null);
    }
    match kind {
        Integer => bind_int(value).map(SqlValue::Int),
        Double => decimal(value).map(SqlValue::Real),
        Text => match value {
            Value::String(s) => Some(SqlValue::Text(s.clone())),
            Value::Number(n) => Some(SqlValue::Text(n.to_string())),
            _ => None,
        },
        DateTime => parse_datetime_utc(value.as_str()?).map(SqlValue::Text),
        YesNo => yes_no(value).map(|b| SqlValue::Int(b as i64)),
        Other => None,
    }
}

/// A decimal number from a number or numeric text.
fn decimal(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

fn yes_no(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("y") || s == "1" || s == "true" => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("n") || s == "0" || s == "false" => Some(false),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        _ => None,
    }
}

/// Keys of the legacy answer, in the service's order.
const OUTPUT_KEYS: &[&str] = &[
    "ID",
    "OWNER_ID",
    "OWNER_TYPE_ID",
    "TYPE_ID",
    "PROVIDER_ID",
    "PROVIDER_TYPE_ID",
    "PROVIDER_GROUP_ID",
    "ASSOCIATED_ENTITY_ID",
    "SUBJECT",
    "CREATED",
    "LAST_UPDATED",
    "START_TIME",
    "END_TIME",
    "DEADLINE",
    "COMPLETED",
    "STATUS",
    "RESPONSIBLE_ID",
    "PRIORITY",
    "NOTIFY_TYPE",
    "NOTIFY_VALUE",
    "DESCRIPTION",
    "DESCRIPTION_TYPE",
    "DIRECTION",
    "LOCATION",
    "SETTINGS",
    "ORIGINATOR_ID",
    "ORIGIN_ID",
    "AUTHOR_ID",
    "EDITOR_ID",
    "PROVIDER_PARAMS",
    "PROVIDER_DATA",
    "RESULT_MARK",
    "RESULT_VALUE",
    "RESULT_SUM",
    "RESULT_CURRENCY_ID",
    "RESULT_STATUS",
    "RESULT_STREAM",
    "RESULT_SOURCE_ID",
    "AUTOCOMPLETE_RULE",
    "IS_INCOMING_CHANNEL",
    "COMMUNICATIONS",
    "STORAGE_TYPE_ID",
    "STORAGE_ELEMENT_IDS",
    "FILES",
];

/// Shown only when selected by name (spec §4.4); `crm.activity.get` names the files' keys when
/// the activity has files.
const ONLY_WHEN_SELECTED: &[&str] = &[
    "COMMUNICATIONS",
    "STORAGE_TYPE_ID",
    "STORAGE_ELEMENT_IDS",
    "FILES",
];

fn text_or_null(v: &str) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        Value::String(v.to_string())
    }
}

/// A stored extra as the legacy answer shows it: numbers as strings, `default` when unset.
fn extra_string(a: &ActivityRecord, key: &str, default: Value) -> Value {
    match a.extra.get(key) {
        Some(Value::Number(n)) => Value::String(n.to_string()),
        Some(Value::Null) | None => default,
        Some(other) => other.clone(),
    }
}

fn communications_json(a: &ActivityRecord) -> Value {
    let list = a
        .extra
        .get("COMMUNICATIONS")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Value::Array(
        list.into_iter()
            .map(|c| {
                let s = |k: &str| match c.get(k) {
                    Some(Value::Number(n)) => Value::String(n.to_string()),
                    Some(v) => v.clone(),
                    None => Value::Null,
                };
                json!({
                    "ID": s("ID"),
                    "TYPE": s("TYPE"),
                    "VALUE": s("VALUE"),
                    "ENTITY_ID": s("ENTITY_ID"),
                    "ENTITY_TYPE_ID": s("ENTITY_TYPE_ID"),
                    "ACTIVITY_ID": a.id.to_string(),
                })
            })
            .collect(),
    )
}

fn output_value(a: &ActivityRecord, key: &str) -> Value {
    let s = |v: i64| Value::String(v.to_string());
    match key {
        "ID" => s(a.id),
        "OWNER_ID" => s(a.owner_id),
        "OWNER_TYPE_ID" => s(a.owner_type_id),
        "TYPE_ID" => s(a.type_id),
        "PROVIDER_ID" => json!(a.provider_id),
        "PROVIDER_TYPE_ID" => json!(a.provider_type_id),
        "ASSOCIATED_ENTITY_ID" => extra_string(a, "ASSOCIATED_ENTITY_ID", json!("0")),
        "SUBJECT" => json!(a.subject),
        "CREATED" => json!(a.created),
        "LAST_UPDATED" => json!(a.last_updated),
        "START_TIME" => text_or_null(&a.start_time),
        "END_TIME" => text_or_null(&a.end_time),
        "DEADLINE" => text_or_null(&a.deadline),
        "COMPLETED" => json!(if a.completed { "Y" } else { "N" }),
        "STATUS" => s(a.status),
        "RESPONSIBLE_ID" => s(a.responsible_id),
        "PRIORITY" => s(a.priority),
        "NOTIFY_TYPE" => extra_string(a, "NOTIFY_TYPE", json!("0")),
        "NOTIFY_VALUE" => extra_string(a, "NOTIFY_VALUE", json!("0")),
        "DESCRIPTION" => json!(a.description),
        "DESCRIPTION_TYPE" => extra_string(a, "DESCRIPTION_TYPE", json!("1")),
        "DIRECTION" => s(a.direction),
        "LOCATION" => extra_string(a, "LOCATION", json!("")),
        "SETTINGS" => extra_string(a, "SETTINGS", json!([])),
        "ORIGINATOR_ID" => extra_string(a, "ORIGINATOR_ID", Value::Null),
        "ORIGIN_ID" => extra_string(a, "ORIGIN_ID", Value::Null),
        "AUTHOR_ID" => s(a.author_id),
        "EDITOR_ID" => s(a.editor_id),
        "PROVIDER_PARAMS" => extra_string(a, "PROVIDER_PARAMS", json!([])),
        "RESULT_MARK" | "RESULT_STATUS" | "RESULT_STREAM" | "AUTOCOMPLETE_RULE" => {
            extra_string(a, key, json!("0"))
        }
        "PROVIDER_GROUP_ID" | "PROVIDER_DATA" | "RESULT_VALUE" | "RESULT_SUM"
        | "RESULT_CURRENCY_ID" | "RESULT_SOURCE_ID" => extra_string(a, key, Value::Null),
        // No channel here brings activities in.
        "IS_INCOMING_CHANNEL" => json!("N"),
        "COMMUNICATIONS" => communications_json(a),
        "STORAGE_TYPE_ID" => extra_string(a, "STORAGE_TYPE_ID", Value::Null),
        "STORAGE_ELEMENT_IDS" => Value::Array(
            file_ids(a)
                .into_iter()
                .map(|id| Value::String(id.to_string()))
                .collect(),
        ),
        // Filled in with URLs by [`files_json`], which needs the store.
        "FILES" => Value::Array(Vec::new()),
        _ => Value::Null,
    }
}

/// The disk files attached to an activity (`STORAGE_ELEMENT_IDS`).
pub fn file_ids(a: &ActivityRecord) -> Vec<i64> {
    a.extra
        .get("STORAGE_ELEMENT_IDS")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

/// `FILES` of an activity: `[{"id", "url"}]` for each attached file that still exists.
pub fn files_json(
    tx: &mut dyn Tx,
    a: &ActivityRecord,
    shown: &disk::Shown<'_>,
) -> Result<Value, ApiError> {
    let mut out = Vec::new();
    for id in file_ids(a) {
        if let Some(file) = tx.disk_object(id)?.filter(|o| !o.is_folder) {
            let url = disk::download_url(shown.base, shown.key, shown.portal, &file);
            out.push(json!({"id": id, "url": url}));
        }
    }
    Ok(Value::Array(out))
}

/// Stores what `FILES` (new files as `{"fileData": [name, base64]}`, or disk file ids) and
/// `STORAGE_ELEMENT_IDS` (disk file ids) name as the activity's attachments, replacing the
/// ones it had; neither given leaves them. Runs after [`add`] / [`update`] in their transaction.
pub fn store_files(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    fields: &Map<String, Value>,
    max_file_bytes: u64,
) -> Result<(), ApiError> {
    let mut wanted = Vec::new();
    let mut given = false;
    for name in ["FILES", "STORAGE_ELEMENT_IDS"] {
        if let Some(value) = field(fields, name) {
            given = true;
            wanted.extend(disk::parse_attachments(value, max_file_bytes)?);
        }
    }
    if !given {
        return Ok(());
    }
    disk::url_key(tx)?;
    let ids = disk::attach(tx, permissions, wanted)?;
    let mut activity = existing(tx, id)?;
    activity.extra.insert("STORAGE_TYPE_ID".into(), json!(3));
    activity
        .extra
        .insert("STORAGE_ELEMENT_IDS".into(), json!(ids));
    tx.update_activity(&activity)
}

/// The activity as the legacy methods show it: UPPER_CASE keys, every value a string. `select`
/// empty or with `*` gives every plain field; `COMMUNICATIONS` only when named. `ID` is always
/// there.
pub fn legacy_json(a: &ActivityRecord, select: &[String]) -> Value {
    let star = select.is_empty() || select.iter().any(|s| s == "*");
    let named = |key: &str| select.iter().any(|s| s.eq_ignore_ascii_case(key));
    let mut out = Map::new();
    for key in OUTPUT_KEYS {
        let wanted = if ONLY_WHEN_SELECTED.contains(key) {
            named(key)
        } else {
            star || *key == "ID" || named(key)
        };
        if wanted {
            out.insert((*key).to_string(), output_value(a, key));
        }
    }
    Value::Object(out)
}

fn legacy(message: impl Into<String>) -> ApiError {
    RestError::legacy(message.into()).into()
}

fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn int_field(fields: &Map<String, Value>, name: &str) -> i64 {
    field(fields, name).and_then(bind_int).unwrap_or(0)
}

fn text_field(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn type_name(type_id: i64) -> &'static str {
    match type_id {
        activity_type::MEETING => "Meeting",
        activity_type::CALL => "Call",
        activity_type::TASK => "Task",
        activity_type::EMAIL => "E-mail",
        activity_type::CALENDAR => "Calendar event",
        _ => "Universal activity",
    }
}

/// One normalised communication.
#[derive(Debug, Clone, PartialEq)]
struct Communication {
    kind: String,
    value: String,
    entity: Binding,
}

/// Normalises `COMMUNICATIONS` (spec §4.2 step 4): entries without an entity take the owner's;
/// calls default to `PHONE`, e-mails to `EMAIL`, and a mismatching type drops the entry;
/// entries without a value (except for meetings) or without any entity are dropped.
fn communications(value: &Value, type_id: i64, owner: Option<Binding>) -> Vec<Communication> {
    let entries: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => o.values().collect(),
        _ => Vec::new(),
    };
    let wanted_kind = match type_id {
        activity_type::CALL => Some("PHONE"),
        activity_type::EMAIL => Some("EMAIL"),
        _ => None,
    };
    let mut out = Vec::new();
    for entry in entries {
        let Value::Object(c) = entry else { continue };
        let value = field(c, "VALUE").map(text_field).unwrap_or_default();
        let kind = field(c, "TYPE").map(text_field).unwrap_or_default();
        let kind = match wanted_kind {
            Some(wanted) if kind.is_empty() || kind.eq_ignore_ascii_case(wanted) => {
                wanted.to_string()
            }
            Some(_) => continue,
            None => kind.to_ascii_uppercase(),
        };
        let explicit = (int_field(c, "ENTITY_TYPE_ID"), int_field(c, "ENTITY_ID"));
        let entity = if explicit.0 > 0 && explicit.1 > 0 {
            Binding::new(explicit.0, explicit.1)
        } else if let Some(owner) = owner {
            owner
        } else {
            continue;
        };
        if value.trim().is_empty() && type_id != activity_type::MEETING {
            continue;
        }
        out.push(Communication {
            kind,
            value,
            entity,
        });
    }
    out
}

/// Stores normalised communications with fresh ids.
fn store_communications(
    tx: &mut dyn Tx,
    activity: &mut ActivityRecord,
    list: &[Communication],
) -> Result<(), ApiError> {
    let mut stored = Vec::new();
    for c in list {
        stored.push(json!({
            "ID": tx.next_id("activity_communication")?,
            "TYPE": c.kind,
            "VALUE": c.value,
            "ENTITY_TYPE_ID": c.entity.entity_type_id,
            "ENTITY_ID": c.entity.entity_id,
        }));
    }
    activity
        .extra
        .insert("COMMUNICATIONS".into(), Value::Array(stored));
    Ok(())
}

/// Bindings from the owner and the communications' entities, deduplicated in order.
fn bindings_of(owner: Option<Binding>, list: &[Communication]) -> Vec<Binding> {
    let mut bindings: Vec<Binding> = owner.into_iter().collect();
    for c in list {
        if !bindings.contains(&c.entity) {
            bindings.push(c.entity);
        }
    }
    bindings
}

/// Communications bind at most [`MAX_BINDINGS_PER_ACTIVITY`] items, as `binding.add` does
/// (spec §12).
fn check_binding_count(bindings: &[Binding]) -> Result<(), ApiError> {
    if bindings.len() > MAX_BINDINGS_PER_ACTIVITY {
        return Err(legacy(format!(
            "Maximum number of activity bindings exceeded ({MAX_BINDINGS_PER_ACTIVITY})."
        )));
    }
    Ok(())
}

/// Every new binding target must be updatable by the caller (`Access denied.`), then exist
/// (`Could not find 'DEAL' with ID: 7`), in the order of spec §4.2 steps 6–7.
fn check_targets(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    targets: &[Binding],
) -> Result<(), ApiError> {
    for target in targets {
        if !can(tx, permissions, *target, Action::Update)? {
            return Err(legacy("Access denied."));
        }
    }
    for target in targets {
        if is_item_type(tx, target.entity_type_id)? && !item_exists(tx, *target)? {
            return Err(legacy(format!(
                "Could not find '{}' with ID: {}",
                EntityTypeId::upper_name(target.entity_type_id),
                target.entity_id
            )));
        }
    }
    Ok(())
}

fn check_only_one(type_id: i64, list: &[Communication]) -> Result<(), ApiError> {
    if list.is_empty() {
        return Err(legacy(
            "The field COMMUNICATIONS is not defined or invalid.",
        ));
    }
    if matches!(type_id, activity_type::CALL | activity_type::MEETING) && list.len() > 1 {
        return Err(legacy(
            "The only one communication is allowed for activity of specified type.",
        ));
    }
    Ok(())
}

/// Refuses text over its limit (spec §14) with the legacy wording.
fn check_length(record: Record, name: &str, value: &str) -> Result<(), ApiError> {
    text_limits::check(record, name, value)
        .map_err(|limit| legacy(format!("{}.", limit.message(name))))
}

/// A text field's value, refused when it is over its limit.
fn bounded_text(name: &str, value: &Value) -> Result<String, ApiError> {
    let text = text_field(value);
    check_length(Record::Activity, name, &text)?;
    Ok(text)
}

/// Refuses communications whose `VALUE` or `TYPE` is over its limit.
fn check_communications(list: &[Communication]) -> Result<(), ApiError> {
    for c in list {
        check_length(Record::Communication, "VALUE", &c.value)?;
        check_length(Record::Communication, "TYPE", &c.kind)?;
    }
    Ok(())
}

/// Applies the plain fields a caller may set on add and update.
fn apply_scalars(a: &mut ActivityRecord, fields: &Map<String, Value>) -> Result<(), ApiError> {
    let invalid = |name: &str| legacy(format!("The value of the field \"{name}\" is not valid."));
    if let Some(v) = field(fields, "SUBJECT") {
        a.subject = bounded_text("SUBJECT", v)?;
    }
    if let Some(v) = field(fields, "DESCRIPTION") {
        a.description = bounded_text("DESCRIPTION", v)?;
    }
    for (name, slot) in [
        ("START_TIME", &mut a.start_time),
        ("END_TIME", &mut a.end_time),
        ("DEADLINE", &mut a.deadline),
    ] {
        if let Some(v) = field(fields, name) {
            let text = text_field(v);
            *slot = if text.trim().is_empty() {
                String::new()
            } else {
                parse_datetime_utc(&text).ok_or_else(|| invalid(name))?
            };
        }
    }
    if let Some(v) = field(fields, "COMPLETED") {
        a.completed = yes_no(v).ok_or_else(|| invalid("COMPLETED"))?;
        a.status = if a.completed { 2 } else { 1 };
    }
    for (name, slot) in [
        ("STATUS", &mut a.status),
        ("PRIORITY", &mut a.priority),
        ("DIRECTION", &mut a.direction),
    ] {
        if let Some(v) = field(fields, name) {
            *slot = bind_int(v).ok_or_else(|| invalid(name))?;
        }
    }
    for name in [
        "DESCRIPTION_TYPE",
        "NOTIFY_TYPE",
        "NOTIFY_VALUE",
        "RESULT_STATUS",
        "RESULT_STREAM",
        "RESULT_MARK",
        "AUTOCOMPLETE_RULE",
    ] {
        if let Some(v) = field(fields, name) {
            let n = bind_int(v).ok_or_else(|| invalid(name))?;
            a.extra.insert(name.into(), json!(n));
        }
    }
    for name in ["RESULT_VALUE", "RESULT_SUM"] {
        if let Some(v) = field(fields, name) {
            let n = decimal(v).ok_or_else(|| invalid(name))?;
            a.extra.insert(name.into(), json!(n));
        }
    }
    for name in [
        "LOCATION",
        "ORIGIN_ID",
        "ORIGINATOR_ID",
        "PROVIDER_GROUP_ID",
        "PROVIDER_DATA",
        "RESULT_SOURCE_ID",
        "RESULT_CURRENCY_ID",
    ] {
        if let Some(v) = field(fields, name) {
            a.extra.insert(name.into(), json!(bounded_text(name, v)?));
        }
    }
    if let Some(v @ (Value::Object(_) | Value::Array(_))) = field(fields, "PROVIDER_PARAMS") {
        check_length(Record::Activity, "PROVIDER_PARAMS", &v.to_string())?;
        a.extra.insert("PROVIDER_PARAMS".into(), v.clone());
    }
    if let Some(v @ (Value::Object(_) | Value::Array(_))) = field(fields, "SETTINGS") {
        check_length(Record::Activity, "SETTINGS", &v.to_string())?;
        a.extra.insert("SETTINGS".into(), v.clone());
    }
    Ok(())
}

/// `crm.activity.add` (spec §4.2): the new activity and its bindings, checked in the service's
/// order. [`add`] stores them.
fn build_new(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    user_id: i64,
    fields: &Map<String, Value>,
) -> Result<(ActivityRecord, Vec<Binding>), ApiError> {
    let owner = Binding::new(
        int_field(fields, "OWNER_TYPE_ID"),
        int_field(fields, "OWNER_ID"),
    );
    let owner = (owner.entity_type_id > 0 && owner.entity_id > 0).then_some(owner);
    let mut responsible_id = int_field(fields, "RESPONSIBLE_ID");
    if responsible_id <= 0 {
        if let Some(owner) = owner {
            responsible_id = tx
                .item_assignee(owner.entity_type_id, owner.entity_id)?
                .unwrap_or(0);
        }
    }
    if responsible_id <= 0 {
        responsible_id = user_id;
    }
    if responsible_id <= 0 {
        return Err(legacy(
            "The field RESPONSIBLE_ID is not defined or invalid.",
        ));
    }
    let type_id = int_field(fields, "TYPE_ID");
    if !(activity_type::MEETING..=activity_type::PROVIDER).contains(&type_id) {
        return Err(legacy("The field TYPE_ID is not defined or invalid."));
    }
    let (provider_id, provider_type_id) = match type_id {
        activity_type::MEETING => ("CRM_MEETING", "MEETING"),
        activity_type::CALL => ("VOXIMPLANT_CALL", "CALL"),
        activity_type::EMAIL => ("CRM_EMAIL", "EMAIL"),
        other => {
            return Err(legacy(format!(
                "The activity type \"{} is not supported in current context\".",
                type_name(other)
            )))
        }
    };
    let list = communications(
        field(fields, "COMMUNICATIONS").unwrap_or(&Value::Null),
        type_id,
        owner,
    );
    check_only_one(type_id, &list)?;
    check_communications(&list)?;
    // Never empty: every kept communication has an entity (its own or the owner's).
    let bindings = bindings_of(owner, &list);
    check_binding_count(&bindings)?;
    check_targets(tx, permissions, &bindings)?;
    let now = tx.now_iso();
    let owner = owner.unwrap_or_else(|| owner_from_bindings(&bindings));
    let mut activity = new_activity(
        NewActivity {
            type_id,
            provider_id,
            provider_type_id,
        },
        owner,
        user_id,
        responsible_id,
        &now,
    );
    apply_scalars(&mut activity, fields)?;
    if activity.subject.trim().is_empty() {
        return Err(legacy("The field SUBJECT is not defined or empty"));
    }
    if activity.deadline.is_empty() {
        activity.deadline = activity.start_time.clone();
    }
    store_communications(tx, &mut activity, &list)?;
    Ok((activity, bindings))
}

/// `crm.activity.update` (spec §4.5): the changed activity and its bindings. A new owner needs
/// the update right; `COMMUNICATIONS` rebuild the bindings as owner + communication entities
/// (replacing bindings added with `crm.activity.binding.add`). [`update`] stores them.
fn apply_update(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    mut activity: ActivityRecord,
    bindings: Vec<Binding>,
    fields: &Map<String, Value>,
) -> Result<(ActivityRecord, Vec<Binding>), ApiError> {
    let current = Binding::new(activity.owner_type_id, activity.owner_id);
    let owner_given =
        field(fields, "OWNER_TYPE_ID").is_some() || field(fields, "OWNER_ID").is_some();
    let owner = if owner_given {
        let t = field(fields, "OWNER_TYPE_ID")
            .and_then(bind_int)
            .unwrap_or(current.entity_type_id);
        let i = field(fields, "OWNER_ID")
            .and_then(bind_int)
            .unwrap_or(current.entity_id);
        Binding::new(t, i)
    } else {
        current
    };
    let mut new_bindings = bindings.clone();
    if let Some(value) = field(fields, "COMMUNICATIONS") {
        let owner = (owner.entity_type_id > 0 && owner.entity_id > 0).then_some(owner);
        let list = communications(value, activity.type_id, owner);
        check_only_one(activity.type_id, &list)?;
        check_communications(&list)?;
        new_bindings = bindings_of(owner, &list);
        check_binding_count(&new_bindings)?;
        store_communications(tx, &mut activity, &list)?;
    } else if owner != current {
        match new_bindings.iter().position(|b| *b == current) {
            Some(i) if !new_bindings.contains(&owner) => new_bindings[i] = owner,
            Some(i) => {
                new_bindings.remove(i);
            }
            None if !new_bindings.contains(&owner) => new_bindings.push(owner),
            None => {}
        }
    }
    let added: Vec<Binding> = new_bindings
        .iter()
        .filter(|b| !bindings.contains(b) || (owner_given && **b == owner && owner != current))
        .copied()
        .collect();
    check_targets(tx, permissions, &added)?;
    // A binding the change removes needs the update right on its item, as `binding.delete` does.
    for removed in bindings.iter().filter(|b| !new_bindings.contains(b)) {
        if !can(tx, permissions, *removed, Action::Update)? {
            return Err(legacy("Access denied."));
        }
    }
    apply_scalars(&mut activity, fields)?;
    if field(fields, "SUBJECT").is_some() && activity.subject.trim().is_empty() {
        return Err(legacy("The field SUBJECT is not defined or empty"));
    }
    if let Some(v) = field(fields, "RESPONSIBLE_ID") {
        activity.responsible_id = bind_int(v)
            .filter(|&r| r > 0)
            .ok_or_else(|| legacy("The field RESPONSIBLE_ID is not defined or invalid."))?;
    }
    let owner = if new_bindings.contains(&owner) {
        owner
    } else {
        owner_from_bindings(&new_bindings)
    };
    activity.owner_type_id = owner.entity_type_id;
    activity.owner_id = owner.entity_id;
    Ok((activity, new_bindings))
}

fn not_found() -> ApiError {
    legacy("Activity is not found.")
}

/// The activity, or the legacy "Activity is not found.".
fn existing(tx: &mut dyn Tx, id: i64) -> Result<ActivityRecord, ApiError> {
    tx.activity(id)?.ok_or_else(not_found)
}

/// Refuses with the legacy "Access denied." unless the caller may act on the activity by the
/// one activity rule (spec §4.8).
fn check_right(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    activity: &ActivityRecord,
    action: Action,
) -> Result<(), ApiError> {
    if !activity_allows(tx, permissions, activity.id, action)? {
        return Err(legacy("Access denied."));
    }
    Ok(())
}

/// `crm.activity.get`: an activity the caller may read through any of its bindings (spec §4.8);
/// one it may not read is "not found" too.
pub fn get(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
) -> Result<ActivityRecord, ApiError> {
    let activity = existing(tx, id)?;
    if !activity_allows(tx, permissions, id, Action::Read)? {
        return Err(not_found());
    }
    Ok(activity)
}

/// `crm.activity.list`: a page of the activities the caller may read.
pub fn list(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    mut query: ListQuery,
) -> Result<PageOf<ActivityRecord>, ApiError> {
    if let Some(readable) = readable_filter(permissions) {
        query.filter = Filter::All(vec![readable, query.filter]);
    }
    tx.list_activities(&query)
}

/// `crm.activity.add` (spec §4.2): builds the activity from `fields`, stores it with its
/// bindings and records the change; returns its id.
pub fn add(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    fields: &Map<String, Value>,
) -> Result<i64, ApiError> {
    let user_id = permissions.user_id;
    let (activity, bindings) = build_new(tx, permissions, user_id, fields)?;
    let id = tx.insert_activity(&activity)?;
    tx.replace_bindings(id, &bindings)?;
    let communication = super::item_derived::is_communication(&activity);
    super::item_derived::activity_added(tx, &bindings, user_id, communication)?;
    changes::activity_changed(tx, Change::Added, id, user_id)?;
    Ok(id)
}

/// `crm.activity.update` (spec §4.5): needs the update right on the activity (spec §4.8); stores the
/// changed activity (and its bindings, when they changed) and records the change.
pub fn update(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    fields: &Map<String, Value>,
) -> Result<(), ApiError> {
    let activity = existing(tx, id)?;
    check_right(tx, permissions, &activity, Action::Update)?;
    let bindings = tx.bindings(id)?;
    let (mut updated, new_bindings) =
        apply_update(tx, permissions, activity, bindings.clone(), fields)?;
    updated.editor_id = permissions.user_id;
    updated.last_updated = tx.now_iso();
    if new_bindings != bindings {
        tx.replace_bindings(id, &new_bindings)?;
    }
    tx.update_activity(&updated)?;
    changes::activity_changed(tx, Change::Updated, id, permissions.user_id)
}

/// `crm.activity.delete`: needs the delete right on every bound item (spec §4.8); deletes the activity with its
/// bindings and records the change.
pub fn delete(tx: &mut dyn Tx, permissions: &Permissions, id: i64) -> Result<(), ApiError> {
    // A task's activity: its task row is locked first, the order every task write takes (task,
    // then activity), so this delete and a task update cannot deadlock on PostgreSQL.
    let task = tx.task_of_activity(id)?;
    let activity = existing(tx, id)?;
    check_right(tx, permissions, &activity, Action::Delete)?;
    tx.delete_activity(id)?;
    if let Some(task) = task {
        tx.unlink_task_activity(task)?;
    }
    changes::activity_changed(tx, Change::Deleted, id, permissions.user_id)
}

/// The condition that keeps only activities the caller may read (through any binding); `None`
/// for administrators, who read everything.
pub fn readable_filter(permissions: &Permissions) -> Option<Filter> {
    if permissions.admin {
        return None;
    }
    let mut all_types = Vec::new();
    let mut own_types = Vec::new();
    for ((entity_type_id, action), level) in &permissions.rights {
        match (action, level) {
            (Action::Read, Level::All) => all_types.push(*entity_type_id),
            (Action::Read, Level::Own) => own_types.push(*entity_type_id),
            _ => {}
        }
    }
    all_types.sort_unstable();
    own_types.sort_unstable();
    Some(Filter::ReadableThroughBindings {
        all_types,
        own_types,
        user_id: permissions.user_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn communications_take_the_owner_and_the_type_defaults() {
        let owner = Some(Binding::new(2, 5));
        let list = communications(
            &json!([{"VALUE": "+1"}, {"VALUE": "a@b", "TYPE": "EMAIL"}, {"VALUE": "+2", "ENTITY_TYPE_ID": 3, "ENTITY_ID": 9}, {"TYPE": "PHONE"}]),
            activity_type::CALL,
            owner,
        );
        assert_eq!(
            list,
            vec![
                Communication {
                    kind: "PHONE".into(),
                    value: "+1".into(),
                    entity: Binding::new(2, 5)
                },
                Communication {
                    kind: "PHONE".into(),
                    value: "+2".into(),
                    entity: Binding::new(3, 9)
                },
            ]
        );
        assert_eq!(
            bindings_of(owner, &list),
            vec![Binding::new(2, 5), Binding::new(3, 9)]
        );
    }

    #[test]
    fn every_listable_field_has_a_column() {
        for f in ACTIVITY_FIELDS {
            assert_eq!(f.column.is_some(), f.kind != Other, "{}", f.name);
        }
    }
}
