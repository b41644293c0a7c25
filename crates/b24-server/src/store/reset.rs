//! Storage of reset, snapshots and export/import (`/_b24/reset`, `/_b24/snapshots`,
//! `/_b24/export`, `/_b24/import`). One list, [`TABLES`], says what becomes of every table of
//! the schema when a portal is reset; the portal's data tables carry their columns and types, so
//! one generic reader and writer copies them for snapshots and imports on both backends. A test
//! compares the list with the schema, so a new table or column cannot escape reset or snapshots.

use super::driver::{args, Arg, Dialect, SqlRow};
use super::journal::JournalTx;
use super::sql::SqlTx;
use crate::error::ApiError;
use b24_protocol::{ErrorCode, RestError};
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};
use std::collections::BTreeMap;

/// How a column is read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `BIGINT`.
    Int,
    /// `BIGINT` that may be `NULL` (JSON `null`).
    OptInt,
    /// `DOUBLE PRECISION`.
    Real,
    /// `BOOLEAN` (0 / 1 in SQLite).
    Bool,
    /// `TEXT`.
    Text,
    /// `TEXT` holding a JSON object (an export shows its keys beside the columns).
    Json,
}

/// A table of the portal's data, as snapshots and imports copy it.
#[derive(Debug)]
pub struct Table {
    /// Its name.
    pub name: &'static str,
    /// Its columns other than `portal_id`, in order, with their types.
    pub columns: &'static [(&'static str, Kind)],
    /// The order rows are read in (the primary key).
    pub order: &'static str,
    /// Column sets that each identify a row (primary key, unique indexes): an imported row
    /// replaces the rows it matches on any of them.
    pub keys: &'static [&'static [&'static str]],
}

/// What reset does with a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// The portal's data: deleted by every reset, held by snapshots.
    Data,
    /// Deleted by every reset (journal, faults): records of a run, not held by snapshots.
    Run,
    /// Files (`disk.*`): the tree and its bytes, deleted by every reset, not held by snapshots
    /// (a snapshot is one row of JSON; every file's bytes would be copied into it). Restoring a
    /// snapshot leaves the files as they are; an attachment whose file is gone is not shown.
    Files,
    /// Authentication and event handlers: deleted only by a reset that does not keep `auth`.
    Auth,
    /// Id sequences: those of data and runs are deleted; those of auth tables only with them.
    Sequences,
    /// Limiter counters, keyed by `"{portal}|…"`: deleted.
    Limiter,
    /// Kept: the portal row (its clock is set back to real time), server-wide settings,
    /// snapshots and the schema version.
    Kept,
}

use Kind::{Bool, Int, Json, OptInt, Real, Text};

/// `crm.type.*` types.
pub const DYNAMIC_TYPES: Table = Table {
    name: "crm_dynamic_types",
    columns: &[
        ("id", Int),
        ("entity_type_id", Int),
        ("title", Text),
        ("created_by", Int),
        ("updated_by", Int),
        ("created_time", Text),
        ("updated_time", Text),
        ("settings", Json),
    ],
    order: "id",
    keys: &[&["id"], &["entity_type_id"]],
};

/// CRM items of every type.
pub const ITEMS: Table = Table {
    name: "crm_items",
    columns: &[
        ("entity_type_id", Int),
        ("id", Int),
        ("title", Text),
        ("assigned_by_id", Int),
        ("created_by", Int),
        ("updated_by", Int),
        ("created_time", Text),
        ("updated_time", Text),
        ("extra", Json),
    ],
    order: "entity_type_id, id",
    keys: &[&["entity_type_id", "id"]],
};

/// Item counts per type (derived from the items; an import recomputes them).
pub const ITEM_COUNTS: Table = Table {
    name: "crm_item_counts",
    columns: &[("entity_type_id", Int), ("items", Int)],
    order: "entity_type_id",
    keys: &[&["entity_type_id"]],
};

/// Activities.
pub const ACTIVITIES: Table = Table {
    name: "activities",
    columns: &[
        ("id", Int),
        ("type_id", Int),
        ("provider_id", Text),
        ("provider_type_id", Text),
        ("subject", Text),
        ("description", Text),
        ("responsible_id", Int),
        ("author_id", Int),
        ("editor_id", Int),
        ("owner_type_id", Int),
        ("owner_id", Int),
        ("deadline", Text),
        ("start_time", Text),
        ("end_time", Text),
        ("completed", Bool),
        ("status", Int),
        ("priority", Int),
        ("direction", Int),
        ("created", Text),
        ("last_updated", Text),
        ("extra", Json),
    ],
    order: "id",
    keys: &[&["id"]],
};

/// Activity bindings, in order per activity.
pub const BINDINGS: Table = Table {
    name: "activity_bindings",
    columns: &[
        ("activity_id", Int),
        ("seq", Int),
        ("entity_type_id", Int),
        ("entity_id", Int),
    ],
    order: "activity_id, seq",
    keys: &[
        &["activity_id", "entity_type_id", "entity_id"],
        &["activity_id", "seq"],
    ],
};

/// Events waiting to be delivered.
pub const OUTBOX: Table = Table {
    name: "event_outbox",
    columns: &[
        ("id", Int),
        ("handler_id", Int),
        ("app_id", Int),
        ("event_name", Text),
        ("handler", Text),
        ("auth_user_id", Int),
        ("data", Text),
        ("ts", Int),
        ("attempts", Int),
        ("next_attempt_at", Real),
    ],
    order: "id",
    keys: &[&["id"]],
};

/// The delivery log.
pub const DELIVERIES: Table = Table {
    name: "event_deliveries",
    columns: &[
        ("id", Int),
        ("outbox_id", Int),
        ("handler_id", Int),
        ("event_name", Text),
        ("handler", Text),
        ("attempt", Int),
        ("at", Text),
        ("status", Int),
        ("outcome", Text),
        ("detail", Text),
    ],
    order: "id",
    keys: &[&["id"]],
};

/// Finished events (delivered or given up), under their outbox ids, with the body sent.
pub const CAPTURES: Table = Table {
    name: "event_captures",
    columns: &[
        ("id", Int),
        ("handler_id", Int),
        ("app_id", Int),
        ("event_name", Text),
        ("handler", Text),
        ("auth_user_id", Int),
        ("data", Text),
        ("ts", Int),
        ("attempts", Int),
        ("status", Text),
        ("body", Text),
        ("finished", Real),
    ],
    order: "id",
    keys: &[&["id"]],
};

/// Applications' offline-event queues.
pub const OFFLINE: Table = Table {
    name: "event_offline",
    columns: &[
        ("id", Int),
        ("app_id", Int),
        ("connector_id", Text),
        ("event_name", Text),
        ("message_id", Text),
        ("data", Text),
        ("user_id", Int),
        ("timestamp_x", Text),
        ("process_id", Text),
        ("error", Int),
    ],
    order: "id",
    keys: &[
        &["id"],
        &[
            "app_id",
            "connector_id",
            "process_id",
            "error",
            "message_id",
        ],
    ],
};

/// Timeline comments (`crm.timeline.comment.*`).
pub const TIMELINE_COMMENTS: Table = Table {
    name: "timeline_comments",
    columns: &[
        ("id", Int),
        ("created", Text),
        ("author_id", Int),
        ("comment", Text),
    ],
    order: "id",
    keys: &[&["id"]],
};

/// Bindings of timeline records to CRM items (`crm.timeline.bindings.*`).
pub const TIMELINE_BINDINGS: Table = Table {
    name: "timeline_bindings",
    columns: &[
        ("owner_id", Int),
        ("seq", Int),
        ("entity_type_id", Int),
        ("entity_id", Int),
    ],
    order: "owner_id, seq",
    keys: &[&["owner_id", "entity_type_id", "entity_id"]],
};

/// Custom activity types of applications (`crm.activity.type.*`).
pub const ACTIVITY_TYPES: Table = Table {
    name: "crm_activity_types",
    columns: &[
        ("app_id", Int),
        ("type_id", Text),
        ("name", Text),
        ("configurable", Bool),
    ],
    order: "app_id, type_id",
    keys: &[&["app_id", "type_id"]],
};

/// The items' phones and e-mails, normalised (derived from the items, for duplicate search).
pub const COMMUNICATIONS: Table = Table {
    name: "crm_communications",
    columns: &[
        ("kind", Text),
        ("value", Text),
        ("entity_type_id", Int),
        ("entity_id", Int),
    ],
    order: "kind, value, entity_type_id, entity_id",
    keys: &[&["kind", "value", "entity_type_id", "entity_id"]],
};

/// Items' stages and pipelines (`crm_item_stages`), derived from the items.
pub const ITEM_STAGES: Table = Table {
    name: "crm_item_stages",
    columns: &[
        ("entity_type_id", Int),
        ("item_id", Int),
        ("stage_id", Text),
        ("category_id", Int),
    ],
    order: "entity_type_id, item_id",
    keys: &[&["entity_type_id", "item_id"]],
};

/// Users (an export carries them; reset keeps them with auth).
pub const USERS: Table = Table {
    name: "users",
    columns: &[
        ("id", Int),
        ("name", Text),
        ("last_name", Text),
        ("admin", Bool),
        ("active", Bool),
        ("created", Text),
        ("xml_id", Text),
        ("second_name", Text),
        ("email", Text),
        ("user_type", Text),
        ("personal_birthday", Text),
        ("employment_date", Text),
        ("last_login", Text),
        ("last_activity", Text),
        ("timestamp_x", Text),
        ("extra", Json),
    ],
    order: "id",
    keys: &[&["id"]],
};

/// The company structure (reset keeps it with the users it links).
pub const DEPARTMENTS: Table = Table {
    name: "departments",
    columns: &[
        ("id", Int),
        ("name", Text),
        ("sort", Int),
        ("parent", OptInt),
        ("head", OptInt),
    ],
    order: "id",
    keys: &[&["id"]],
};

/// Users' departments (`UF_DEPARTMENT`).
pub const USER_DEPARTMENTS: Table = Table {
    name: "user_departments",
    columns: &[("user_id", Int), ("department_id", Int)],
    order: "user_id, department_id",
    keys: &[&["user_id", "department_id"]],
};

/// Notifications sent with `im.notify*`.
pub const NOTIFICATIONS: Table = Table {
    name: "notifications",
    columns: &[
        ("id", Int),
        ("kind", Text),
        ("user_id", Int),
        ("from_user", Int),
        ("message", Text),
        ("tag", Text),
        ("created", Text),
    ],
    order: "id",
    keys: &[&["id"]],
};

/// Tasks (`tasks.task.*`).
pub const TASKS: Table = Table {
    name: "tasks",
    columns: &[
        ("id", Int),
        ("parent_id", Int),
        ("group_id", Int),
        ("title", Text),
        ("description", Text),
        ("status", Int),
        ("priority", Int),
        ("responsible_id", Int),
        ("created_by", Int),
        ("changed_by", Int),
        ("status_changed_by", Int),
        ("closed_by", Int),
        ("created_date", Text),
        ("changed_date", Text),
        ("status_changed_date", Text),
        ("closed_date", Text),
        ("date_start", Text),
        ("deadline", Text),
        ("start_date_plan", Text),
        ("end_date_plan", Text),
        ("activity_id", Int),
        ("extra", Json),
    ],
    order: "id",
    keys: &[&["id"]],
};

/// The people of tasks, by role.
pub const TASK_MEMBERS: Table = Table {
    name: "task_members",
    columns: &[("task_id", Int), ("role", Text), ("user_id", Int)],
    order: "task_id, role, user_id",
    keys: &[&["task_id", "role", "user_id"]],
};

/// Task comments (`task.commentitem.*`).
pub const TASK_COMMENTS: Table = Table {
    name: "task_comments",
    columns: &[
        ("id", Int),
        ("task_id", Int),
        ("author_id", Int),
        ("message", Text),
        ("post_date", Text),
    ],
    order: "id",
    keys: &[&["id"]],
};

/// Task checklist items (`task.checklistitem.*`).
pub const TASK_CHECKLIST_ITEMS: Table = Table {
    name: "task_checklist_items",
    columns: &[
        ("id", Int),
        ("task_id", Int),
        ("parent_id", Int),
        ("created_by", Int),
        ("title", Text),
        ("sort_index", Int),
        ("is_complete", Bool),
        ("is_important", Bool),
        ("toggled_by", Int),
        ("toggled_date", Text),
    ],
    order: "id",
    keys: &[&["id"]],
};

/// Time spent on tasks (`task.elapseditem.*`).
pub const TASK_ELAPSED_ITEMS: Table = Table {
    name: "task_elapsed_items",
    columns: &[
        ("id", Int),
        ("task_id", Int),
        ("user_id", Int),
        ("seconds", Int),
        ("comment_text", Text),
        ("created_date", Text),
        ("date_start", Text),
        ("date_stop", Text),
    ],
    order: "id",
    keys: &[&["id"]],
};

/// Users' CRM rights.
pub const USER_RIGHTS: Table = Table {
    name: "user_rights",
    columns: &[
        ("user_id", Int),
        ("entity_type_id", Int),
        ("action", Text),
        ("level", Text),
    ],
    order: "user_id, entity_type_id, action",
    keys: &[&["user_id", "entity_type_id", "action"]],
};

/// Bound event handlers (no secret: application tokens are derived from a server key).
pub const HANDLERS: Table = Table {
    name: "event_handlers",
    columns: &[
        ("id", Int),
        ("app_id", Int),
        ("event_name", Text),
        ("handler", Text),
        ("user_id", Int),
        ("connector_id", Text),
        ("created", Text),
    ],
    order: "id",
    keys: &[
        &["id"],
        &["app_id", "event_name", "handler", "user_id", "connector_id"],
    ],
};

/// `crm.status.*` dictionary rows (stages, sources, types, …).
pub const STATUSES: Table = Table {
    name: "crm_statuses",
    columns: &[
        ("id", Int),
        ("entity_id", Text),
        ("status_id", Text),
        ("name", Text),
        ("name_init", Text),
        ("sort", Int),
        ("system", Bool),
        ("category_id", Int),
        ("color", Text),
        ("semantics", Text),
    ],
    order: "id",
    keys: &[&["id"], &["entity_id", "status_id"]],
};

/// `crm.category.*` pipelines of deals and smart processes.
pub const CATEGORIES: Table = Table {
    name: "crm_categories",
    columns: &[
        ("entity_type_id", Int),
        ("id", Int),
        ("name", Text),
        ("sort", Int),
        ("is_default", Bool),
        ("created", Text),
    ],
    order: "entity_type_id, id",
    keys: &[&["entity_type_id", "id"]],
};

/// `crm.stagehistory.list` rows: an item's creation and each change of its stage or pipeline.
pub const STAGE_HISTORY: Table = Table {
    name: "crm_stage_history",
    columns: &[
        ("entity_type_id", Int),
        ("id", Int),
        ("type_id", Int),
        ("owner_id", Int),
        ("created_time", Text),
        ("category_id", Int),
        ("semantic_id", Text),
        ("stage_id", Text),
    ],
    order: "entity_type_id, id",
    keys: &[&["entity_type_id", "id"]],
};

/// Links between contacts and companies (`crm.contact.company.*`, `crm.company.contact.*`).
pub const CONTACT_COMPANIES: Table = Table {
    name: "crm_contact_companies",
    columns: &[
        ("contact_id", Int),
        ("company_id", Int),
        ("sort", Int),
        ("is_primary", Bool),
    ],
    order: "contact_id, company_id",
    keys: &[&["contact_id", "company_id"]],
};

/// Files attached to timeline comments.
pub const TIMELINE_FILES: Table = Table {
    name: "timeline_files",
    columns: &[("owner_id", Int), ("object_id", Int)],
    order: "owner_id, object_id",
    keys: &[&["owner_id", "object_id"]],
};

/// Products, product rows, requisites, bank details and addresses (`store/records.rs`).
pub const RECORDS: Table = Table {
    name: "crm_records",
    columns: &[
        ("kind", Text),
        ("id", Int),
        ("owner_type_id", Int),
        ("owner_id", Int),
        ("sort", Int),
        ("extra", Json),
    ],
    order: "kind, id",
    keys: &[&["kind", "id"]],
};

/// The values of CRM user fields, one row per value (`store/user_field_values.rs`): an index
/// of the items' own values, so an export leaves it out and an import rebuilds it.
pub const USER_FIELD_VALUES: Table = Table {
    name: "crm_uf_values",
    columns: &[
        ("entity_type_id", Int),
        ("item_id", Int),
        ("field_id", Int),
        ("position", Int),
        ("num_value", Real),
        ("text_value", Text),
    ],
    order: "entity_type_id, item_id, field_id, position",
    keys: &[&["entity_type_id", "item_id", "field_id", "position"]],
};

/// The tables a snapshot holds, in the order they are written back.
pub const SNAPSHOT_TABLES: &[&Table] = &[
    &DYNAMIC_TYPES,
    &ITEMS,
    &ITEM_COUNTS,
    &ACTIVITIES,
    &BINDINGS,
    &OUTBOX,
    &DELIVERIES,
    &CAPTURES,
    &OFFLINE,
    &STATUSES,
    &CATEGORIES,
    &STAGE_HISTORY,
    &TIMELINE_COMMENTS,
    &TIMELINE_BINDINGS,
    &ACTIVITY_TYPES,
    &COMMUNICATIONS,
    &ITEM_STAGES,
    &NOTIFICATIONS,
    &CONTACT_COMPANIES,
    &TIMELINE_FILES,
    &TASKS,
    &TASK_MEMBERS,
    &TASK_COMMENTS,
    &TASK_CHECKLIST_ITEMS,
    &TASK_ELAPSED_ITEMS,
    &RECORDS,
    &USER_FIELD_VALUES,
];

/// Every table of the schema and what reset does with it. The every-table test fails when the
/// schema has a table this list does not name.
pub const TABLES: &[(&str, Fate)] = &[
    ("crm_dynamic_types", Fate::Data),
    ("crm_items", Fate::Data),
    ("crm_item_counts", Fate::Data),
    ("activities", Fate::Data),
    ("activity_bindings", Fate::Data),
    ("event_outbox", Fate::Data),
    ("event_deliveries", Fate::Data),
    ("event_captures", Fate::Data),
    ("event_offline", Fate::Data),
    ("crm_statuses", Fate::Data),
    ("crm_categories", Fate::Data),
    ("crm_stage_history", Fate::Data),
    ("timeline_comments", Fate::Data),
    ("timeline_bindings", Fate::Data),
    ("crm_activity_types", Fate::Data),
    ("crm_communications", Fate::Data),
    ("crm_item_stages", Fate::Data),
    ("notifications", Fate::Data),
    ("crm_contact_companies", Fate::Data),
    ("timeline_files", Fate::Data),
    ("disk_storages", Fate::Files),
    ("disk_objects", Fate::Files),
    ("disk_chunks", Fate::Files),
    ("tasks", Fate::Data),
    ("task_members", Fate::Data),
    ("task_comments", Fate::Data),
    ("task_checklist_items", Fate::Data),
    ("task_elapsed_items", Fate::Data),
    ("crm_records", Fate::Data),
    ("crm_uf_values", Fate::Data),
    ("journal", Fate::Run),
    ("faults", Fate::Run),
    ("users", Fate::Auth),
    ("user_rights", Fate::Auth),
    ("departments", Fate::Auth),
    ("user_departments", Fate::Auth),
    ("webhooks", Fate::Auth),
    ("oauth_apps", Fate::Auth),
    ("oauth_app_users", Fate::Auth),
    ("oauth_codes", Fate::Auth),
    ("oauth_tokens", Fate::Auth),
    ("server_keys", Fate::Auth),
    ("event_handlers", Fate::Auth),
    ("app_installs", Fate::Auth),
    ("app_options", Fate::Auth),
    ("app_user_runs", Fate::Auth),
    ("placements", Fate::Auth),
    ("host_sessions", Fate::Auth),
    ("sequences", Fate::Sequences),
    ("limiter_buckets", Fate::Limiter),
    ("limiter_operating", Fate::Limiter),
    ("portals", Fate::Kept),
    ("server_settings", Fate::Kept),
    ("snapshots", Fate::Kept),
    // PostgreSQL's record of the schema version (SQLite keeps it in `PRAGMA user_version`).
    ("b24_schema_version", Fate::Kept),
];

/// The sequences of auth tables, kept by a reset that keeps auth so new users, webhooks,
/// applications and handlers do not take the ids of kept ones.
pub const AUTH_SEQUENCES: &[&str] = &[
    "user",
    "app",
    "webhook",
    "event_handler",
    "department",
    "placement",
];

/// Whether a sequence numbers rows a snapshot holds (restored with them).
pub fn is_data_sequence(name: &str) -> bool {
    name.starts_with("item:")
        || matches!(
            name,
            "activity"
                | "dynamic_type"
                | "event_outbox"
                | "event_delivery"
                | "event_offline"
                | "crm_status"
                | "crm_category"
                | "crm_stage_history"
                | "timeline"
                | "timeline_binding"
                | "notification"
                | "task"
                | "task_comment"
                | "task_checklist_item"
                | "task_elapsed_item"
        )
        || super::records::RecordKind::SEQUENCES.contains(&name)
}

/// Rows of one table: column names, then each row's values in that order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRows {
    /// The column names.
    pub columns: Vec<String>,
    /// The rows.
    pub rows: Vec<Vec<Value>>,
}

/// The portal's data as a snapshot holds it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSet {
    /// Rows per table name.
    pub tables: BTreeMap<String, TableRows>,
    /// Values of the data sequences.
    pub sequences: BTreeMap<String, i64>,
}

impl DataSet {
    /// Rows in all.
    pub fn rows(&self) -> u64 {
        self.tables.values().map(|t| t.rows.len() as u64).sum()
    }
}

/// A stored snapshot, without its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Its name.
    pub name: String,
    /// Rows it holds.
    pub rows: i64,
    /// When it was taken, ISO-8601.
    pub created: String,
}

/// Reset, snapshots and import.
pub trait ResetTx {
    /// Deletes the portal's data, runs, data sequences, limiter counters and clock setting; with
    /// `keep_auth` false also its users, webhooks, applications, tokens, handlers and keys.
    /// Returns the rows deleted per table (every table touched, zeros included).
    fn reset_portal(&mut self, keep_auth: bool) -> Result<BTreeMap<String, u64>, ApiError>;
    /// Counts resets of the portal, so that every server process can forget the limiter
    /// counters it holds in memory when another process (or the CLI) reset the portal.
    fn reset_generation(&mut self) -> Result<i64, ApiError>;
    /// The rows of a table of the portal, in its order.
    fn table_rows(&mut self, table: &Table) -> Result<TableRows, ApiError>;
    /// The portal's data (the tables of [`SNAPSHOT_TABLES`] and their sequences).
    fn data_set(&mut self) -> Result<DataSet, ApiError>;
    /// Replaces the portal's data with `data` (from [`ResetTx::data_set`]), sequences included.
    fn restore_data_set(&mut self, data: &DataSet) -> Result<u64, ApiError>;
    /// Writes rows into a table, each replacing the rows it matches on any of the table's keys.
    fn upsert_rows(&mut self, table: &Table, rows: &TableRows) -> Result<u64, ApiError>;
    /// Deletes the rows of a table whose `column` is one of `values`.
    fn delete_where_in(
        &mut self,
        table: &Table,
        column: &str,
        values: &[i64],
    ) -> Result<u64, ApiError>;
    /// Raises a sequence to at least `value`, so new ids do not take imported ones.
    fn raise_sequence(&mut self, name: &str, value: i64) -> Result<(), ApiError>;
    /// Recomputes the item counts per type, and the communications index, from the items.
    fn recount_items(&mut self) -> Result<(), ApiError>;
    /// The id of the portal's application with this client id.
    fn app_id_of(&mut self, client_id: &str) -> Result<Option<i64>, ApiError>;
    /// Client ids of the portal's applications by id.
    fn app_client_ids(&mut self) -> Result<BTreeMap<i64, String>, ApiError>;

    /// Stores a snapshot; `None` when one of that name exists and `replace` is false.
    fn save_snapshot(
        &mut self,
        name: &str,
        rows: u64,
        data: &str,
        replace: bool,
    ) -> Result<Option<SnapshotInfo>, ApiError>;
    /// A snapshot's data.
    fn snapshot_data(&mut self, name: &str) -> Result<Option<String>, ApiError>;
    /// The portal's snapshots by name.
    fn snapshots(&mut self) -> Result<Vec<SnapshotInfo>, ApiError>;
    /// Deletes a snapshot; `false` when there is none of that name.
    fn delete_snapshot(&mut self, name: &str) -> Result<bool, ApiError>;

    /// The tables of the schema (for the every-table test).
    fn schema_tables(&mut self) -> Result<Vec<String>, ApiError>;
    /// A table's columns in order (for the every-table test).
    fn schema_columns(&mut self, table: &str) -> Result<Vec<String>, ApiError>;
}

/// A value that does not fit its column: a document or snapshot the caller sent is wrong.
fn unfit(table: &str, column: &str, value: &Value) -> ApiError {
    RestError::with_message(
        ErrorCode::InvalidArgValue,
        format!("{table}.{column}: {value} does not fit the column"),
    )
    .into()
}

/// A JSON value as an argument of a column of `kind`.
fn arg_of<'v>(
    table: &str,
    column: &str,
    kind: Kind,
    value: &'v Value,
) -> Result<Arg<'v>, ApiError> {
    let arg = match (kind, value) {
        (Int | OptInt, Value::Number(n)) => n.as_i64().map(Arg::Int),
        (OptInt, Value::Null) => Some(Arg::Null),
        (Real, Value::Number(n)) => n.as_f64().map(Arg::Real),
        (Bool, Value::Bool(b)) => Some(Arg::Bool(*b)),
        (Text | Json, Value::String(s)) => Some(Arg::Text(s)),
        _ => None,
    };
    arg.ok_or_else(|| unfit(table, column, value))
}

/// A column's value as JSON.
fn value_of(row: &dyn SqlRow, index: usize, kind: Kind) -> Result<Value, ApiError> {
    Ok(match kind {
        Int => Value::from(row.int(index)?),
        OptInt => row.opt_int(index)?.map_or(Value::Null, Value::from),
        Real => Number::from_f64(row.real(index)?).map_or(Value::Null, Value::Number),
        Bool => Value::Bool(row.bool(index)?),
        Text | Json => Value::String(row.text(index)?),
    })
}

/// The kinds of `columns` in `table`, or an error naming a column the table does not have or
/// one it has that is missing.
fn kinds_of(table: &Table, columns: &[String]) -> Result<Vec<Kind>, ApiError> {
    let kinds = columns
        .iter()
        .map(|name| {
            table
                .columns
                .iter()
                .find(|(c, _)| c == name)
                .map(|(_, kind)| *kind)
                .ok_or_else(|| {
                    ApiError::from(RestError::with_message(
                        ErrorCode::InvalidArgValue,
                        format!("{}: there is no column {name}", table.name),
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some((missing, _)) = table
        .columns
        .iter()
        .find(|(c, _)| !columns.iter().any(|name| name == c))
    {
        return Err(RestError::with_message(
            ErrorCode::InvalidArgValue,
            format!("{}: the column {missing} is missing", table.name),
        )
        .into());
    }
    Ok(kinds)
}

impl SqlTx<'_> {
    /// Deletes the portal's rows of a table.
    fn delete_portal_rows(&mut self, table: &str) -> Result<u64, ApiError> {
        self.exec(
            &format!("DELETE FROM {table} WHERE portal_id = ?1"),
            &args![self.portal],
        )
    }

    /// Writes rows into a table; with `replace`, each first deletes the rows it matches on
    /// any of the table's keys (without, the table must hold none: a restore's emptied table).
    fn write_rows(
        &mut self,
        table: &Table,
        rows: &TableRows,
        replace: bool,
    ) -> Result<u64, ApiError> {
        let kinds = kinds_of(table, &rows.columns)?;
        let placeholders: Vec<String> = (2..rows.columns.len() + 2)
            .map(|n| format!("?{n}"))
            .collect();
        let insert = format!(
            "INSERT INTO {} (portal_id, {}) VALUES (?1, {})",
            table.name,
            rows.columns.join(", "),
            placeholders.join(", ")
        );
        let deletes: Vec<(String, Vec<usize>)> = table
            .keys
            .iter()
            .map(|key| {
                let indexes: Vec<usize> = key
                    .iter()
                    .filter_map(|c| rows.columns.iter().position(|name| name == c))
                    .collect();
                let condition: Vec<String> = key
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c} = ?{}", i + 2))
                    .collect();
                let sql = format!(
                    "DELETE FROM {} WHERE portal_id = ?1 AND {}",
                    table.name,
                    condition.join(" AND ")
                );
                (sql, indexes)
            })
            .collect();
        let mut written = 0;
        for row in &rows.rows {
            if row.len() != kinds.len() {
                return Err(RestError::with_message(
                    ErrorCode::InvalidArgValue,
                    format!(
                        "{}: a row has {} values for {} columns",
                        table.name,
                        row.len(),
                        kinds.len()
                    ),
                )
                .into());
            }
            let mut values = vec![Arg::Int(self.portal)];
            for ((value, kind), column) in row.iter().zip(&kinds).zip(&rows.columns) {
                values.push(arg_of(table.name, column, *kind, value)?);
            }
            for (sql, indexes) in deletes.iter().filter(|_| replace) {
                let mut key = vec![Arg::Int(self.portal)];
                key.extend(indexes.iter().map(|i| values[i + 1]));
                self.exec(sql, &key)?;
            }
            self.exec(&insert, &values)?;
            written += 1;
        }
        Ok(written)
    }
}

impl ResetTx for SqlTx<'_> {
    fn reset_portal(&mut self, keep_auth: bool) -> Result<BTreeMap<String, u64>, ApiError> {
        let mut deleted = BTreeMap::new();
        let prefix = format!("{}|%", self.portal);
        for (table, fate) in TABLES {
            let n = match fate {
                // The journal's rows are chunks of entries: count the entries.
                Fate::Run if *table == "journal" => self.clear_journal()?,
                Fate::Data | Fate::Run | Fate::Files => self.delete_portal_rows(table)?,
                Fate::Auth if !keep_auth => self.delete_portal_rows(table)?,
                Fate::Auth | Fate::Kept => continue,
                Fate::Sequences if keep_auth => {
                    let kept: Vec<String> =
                        AUTH_SEQUENCES.iter().map(|s| format!("'{s}'")).collect();
                    self.exec(
                        &format!(
                            "DELETE FROM sequences WHERE portal_id = ?1 AND name NOT IN ({})",
                            kept.join(", ")
                        ),
                        &args![self.portal],
                    )?
                }
                Fate::Sequences => self.delete_portal_rows(table)?,
                Fate::Limiter => self.exec(
                    &format!("DELETE FROM {table} WHERE key LIKE ?1"),
                    &args![prefix.as_str()],
                )?,
            };
            deleted.insert((*table).to_string(), n);
        }
        self.exec(
            "UPDATE portals SET clock_offset = 0, clock_frozen_at = NULL,
                 reset_generation = reset_generation + 1
             WHERE id = ?1",
            &args![self.portal],
        )?;
        Ok(deleted)
    }

    fn reset_generation(&mut self) -> Result<i64, ApiError> {
        Ok(self
            .opt(
                "SELECT reset_generation FROM portals WHERE id = ?1",
                &args![self.portal],
                |r| r.int(0),
            )?
            .unwrap_or(0))
    }

    fn table_rows(&mut self, table: &Table) -> Result<TableRows, ApiError> {
        let names: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE portal_id = ?1 ORDER BY {}",
            names.join(", "),
            table.name,
            table.order
        );
        let rows = self.all(&sql, &args![self.portal], |r| {
            table
                .columns
                .iter()
                .enumerate()
                .map(|(i, (_, kind))| value_of(r, i, *kind))
                .collect()
        })?;
        Ok(TableRows {
            columns: names.iter().map(|c| c.to_string()).collect(),
            rows,
        })
    }

    fn data_set(&mut self) -> Result<DataSet, ApiError> {
        let mut data = DataSet::default();
        for table in SNAPSHOT_TABLES {
            let rows = self.table_rows(table)?;
            data.tables.insert(table.name.to_string(), rows);
        }
        let sequences = self.all(
            "SELECT name, value FROM sequences WHERE portal_id = ?1 ORDER BY name",
            &args![self.portal],
            |r| Ok((r.text(0)?, r.int(1)?)),
        )?;
        data.sequences = sequences
            .into_iter()
            .filter(|(name, _)| is_data_sequence(name))
            .collect();
        Ok(data)
    }

    fn restore_data_set(&mut self, data: &DataSet) -> Result<u64, ApiError> {
        if let Some(name) = data
            .tables
            .keys()
            .find(|name| !SNAPSHOT_TABLES.iter().any(|t| t.name == name.as_str()))
        {
            return Err(RestError::with_message(
                ErrorCode::InvalidArgValue,
                format!("the snapshot holds a table this server does not restore: {name}"),
            )
            .into());
        }
        for table in SNAPSHOT_TABLES {
            self.delete_portal_rows(table.name)?;
        }
        let names: Vec<String> = self.all(
            "SELECT name FROM sequences WHERE portal_id = ?1",
            &args![self.portal],
            |r| r.text(0),
        )?;
        for name in names.iter().filter(|n| is_data_sequence(n)) {
            self.exec(
                "DELETE FROM sequences WHERE portal_id = ?1 AND name = ?2",
                &args![self.portal, name.as_str()],
            )?;
        }
        let mut rows = 0;
        for table in SNAPSHOT_TABLES {
            if let Some(stored) = data.tables.get(table.name) {
                rows += self.write_rows(table, stored, false)?;
            }
        }
        for (name, value) in &data.sequences {
            if !is_data_sequence(name) {
                continue;
            }
            // An upsert: on PostgreSQL a concurrent writer may have taken an id (and made the
            // sequence's row) since the delete above.
            self.exec(
                "INSERT INTO sequences (portal_id, name, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (portal_id, name) DO UPDATE SET value = excluded.value",
                &args![self.portal, name.as_str(), *value],
            )?;
        }
        Ok(rows)
    }

    fn upsert_rows(&mut self, table: &Table, rows: &TableRows) -> Result<u64, ApiError> {
        self.write_rows(table, rows, true)
    }

    fn delete_where_in(
        &mut self,
        table: &Table,
        column: &str,
        values: &[i64],
    ) -> Result<u64, ApiError> {
        let sql = format!(
            "DELETE FROM {} WHERE portal_id = ?1 AND {column} = ?2",
            table.name
        );
        let mut n = 0;
        for value in values {
            n += self.exec(&sql, &args![self.portal, *value])?;
        }
        Ok(n)
    }

    fn raise_sequence(&mut self, name: &str, value: i64) -> Result<(), ApiError> {
        self.exec(
            "INSERT INTO sequences (portal_id, name, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (portal_id, name) DO UPDATE SET value =
                 CASE WHEN sequences.value < excluded.value THEN excluded.value ELSE sequences.value END",
            &args![self.portal, name, value],
        )?;
        Ok(())
    }

    fn recount_items(&mut self) -> Result<(), ApiError> {
        self.delete_portal_rows(ITEM_COUNTS.name)?;
        self.exec(
            "INSERT INTO crm_item_counts (portal_id, entity_type_id, items)
             SELECT portal_id, entity_type_id, COUNT(*) FROM crm_items WHERE portal_id = ?1
             GROUP BY portal_id, entity_type_id",
            &args![self.portal],
        )?;
        self.reindex_all_communications()?;
        self.reindex_all_item_stages()?;
        self.reindex_all_user_field_values()?;
        self.link_unlinked_contacts()?;
        self.mirror_all_contact_companies()?;
        self.derive_all_item_fields()
    }

    fn app_id_of(&mut self, client_id: &str) -> Result<Option<i64>, ApiError> {
        self.opt(
            "SELECT id FROM oauth_apps WHERE portal_id = ?1 AND client_id = ?2",
            &args![self.portal, client_id],
            |r| r.int(0),
        )
    }

    fn app_client_ids(&mut self) -> Result<BTreeMap<i64, String>, ApiError> {
        Ok(self
            .all(
                "SELECT id, client_id FROM oauth_apps WHERE portal_id = ?1",
                &args![self.portal],
                |r| Ok((r.int(0)?, r.text(1)?)),
            )?
            .into_iter()
            .collect())
    }

    fn save_snapshot(
        &mut self,
        name: &str,
        rows: u64,
        data: &str,
        replace: bool,
    ) -> Result<Option<SnapshotInfo>, ApiError> {
        let created = crate::clock::iso(self.now);
        let sql = if replace {
            "INSERT INTO snapshots (portal_id, name, created, rows, data) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (portal_id, name) DO UPDATE
                 SET created = excluded.created, rows = excluded.rows, data = excluded.data"
        } else {
            "INSERT INTO snapshots (portal_id, name, created, rows, data) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (portal_id, name) DO NOTHING"
        };
        let rows = rows as i64;
        let n = self.exec(sql, &args![self.portal, name, created.as_str(), rows, data])?;
        Ok((n == 1).then(|| SnapshotInfo {
            name: name.to_string(),
            rows,
            created,
        }))
    }

    fn snapshot_data(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        self.opt(
            "SELECT data FROM snapshots WHERE portal_id = ?1 AND name = ?2",
            &args![self.portal, name],
            |r| r.text(0),
        )
    }

    fn snapshots(&mut self) -> Result<Vec<SnapshotInfo>, ApiError> {
        self.all(
            "SELECT name, rows, created FROM snapshots WHERE portal_id = ?1 ORDER BY name",
            &args![self.portal],
            |r| {
                Ok(SnapshotInfo {
                    name: r.text(0)?,
                    rows: r.int(1)?,
                    created: r.text(2)?,
                })
            },
        )
    }

    fn delete_snapshot(&mut self, name: &str) -> Result<bool, ApiError> {
        Ok(self.exec(
            "DELETE FROM snapshots WHERE portal_id = ?1 AND name = ?2",
            &args![self.portal, name],
        )? == 1)
    }

    fn schema_tables(&mut self) -> Result<Vec<String>, ApiError> {
        let sql = match self.dialect {
            Dialect::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
                 ORDER BY name"
            }
            Dialect::Postgres => {
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
                 ORDER BY table_name"
            }
        };
        self.all(sql, &[], |r| r.text(0))
    }

    fn schema_columns(&mut self, table: &str) -> Result<Vec<String>, ApiError> {
        let sql = match self.dialect {
            Dialect::Sqlite => "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
            Dialect::Postgres => {
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = ?1
                 ORDER BY ordinal_position"
            }
        };
        self.all(sql, &args![table], |r| r.text(0))
    }
}
