//! `GET /_b24/export` and `POST /_b24/import?mode=replace|merge`: the portal's users, smart-process
//! types, items, activities, bindings and event handlers as one JSON document, without a secret
//! (no digest, code, token, key or application token is in those rows), and back.
//!
//! The document (`"format":"b24-server/1"`) shows each row with the field names of the REST
//! answers: camelCase for users, types, items, bindings and handlers, upper case for activities;
//! the families added later (departments, dictionaries, pipelines, stage history, timeline
//! comments and their bindings, activity types, notifications, contact–company links, tasks,
//! product rows, products, requisites, bank details and addresses) follow in sections of their
//! own (`LATER`), camelCase too, and a document without them still loads. Files (`disk.*`) are
//! not carried: a document would hold every file's bytes;
//! the stored JSON fields (`extra`, `settings`) sit beside the columns. Values are as stored, so
//! an import gives back exactly the answers the exporting server gave. An import checks the whole
//! document before it writes, names the path of the first problem in a 400, and writes in one
//! transaction: `replace` resets the portal (keeping auth) and loads; `merge` writes each row over
//! the one with its id. Imported rows fire no events.

use super::state::on_store;
use super::{query_value, AdminJson, AdminPortal, ControlError, ControlResult};
use crate::domain::{Action, Level};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::reset::{
    Kind, Table, TableRows, ACTIVITIES, ACTIVITY_TYPES, BINDINGS, CATEGORIES, CONTACT_COMPANIES,
    DEPARTMENTS, DYNAMIC_TYPES, HANDLERS, ITEMS, NOTIFICATIONS, RECORDS, STAGE_HISTORY, STATUSES,
    TASKS, TASK_CHECKLIST_ITEMS, TASK_COMMENTS, TASK_ELAPSED_ITEMS, TASK_MEMBERS,
    TIMELINE_BINDINGS, TIMELINE_COMMENTS, USERS, USER_DEPARTMENTS, USER_RIGHTS,
};
use crate::store::{PortalId, Store};
use axum::extract::State;
use axum::http::Uri;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// The document's format name and version.
pub const FORMAT: &str = "b24-server/1";

/// The routes of this family.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/export", get(export_route))
        .route("/import", post(import_route))
}

async fn export_route(
    State(state): State<AppState>,
    AdminPortal(portal): AdminPortal,
) -> ControlResult {
    Ok(Json(
        on_store(&state, move |store| export(store, portal)).await?,
    ))
}

async fn import_route(
    State(state): State<AppState>,
    AdminPortal(portal): AdminPortal,
    uri: Uri,
    AdminJson(document): AdminJson<Value>,
) -> ControlResult {
    let replace = match query_value(uri.query().unwrap_or(""), "mode").as_deref() {
        None | Some("replace") => true,
        Some("merge") => false,
        Some(other) => {
            return Err(ControlError::bad_request(format!(
                "mode is replace (the default) or merge, not {other:?}"
            )))
        }
    };
    let rows = import_document(&state, portal, document, replace).await?;
    Ok(Json(json!({ "rows": rows })))
}

/// Imports a document as `POST /_b24/import` does (the console's upload too): `replace` resets
/// the portal first, and this process then forgets its limiter counters and clock setting.
/// Returns the rows written.
pub async fn import_document(
    state: &AppState,
    portal: PortalId,
    document: Value,
    replace: bool,
) -> Result<u64, ControlError> {
    if replace {
        // Calls answered before the reset that replacing starts with are in the journal it
        // wipes, not written after it.
        state.control.recorder.flush().await;
    }
    let outcome = on_store(state, move |store| {
        import(store, portal, &document, replace)
    })
    .await?;
    if replace {
        // Replacing resets the portal first: this process's limiter counters and clock follow.
        state.limiter.forget_portal(portal);
        if portal == crate::store::DEFAULT_PORTAL {
            state
                .control
                .reset_seen
                .fetch_max(outcome.1, std::sync::atomic::Ordering::SeqCst);
        }
        if let Some(runtime) = state.portals.get(portal) {
            runtime
                .reset_seen
                .fetch_max(outcome.1, std::sync::atomic::Ordering::SeqCst);
            runtime.clock.set(0.0, None);
        }
    }
    Ok(outcome.0)
}

/// How a section names a table's columns.
#[derive(Clone, Copy)]
enum Style {
    /// `assigned_by_id` → `assignedById`.
    Camel,
    /// `assigned_by_id` → `ASSIGNED_BY_ID`.
    Upper,
}

impl Style {
    fn key(self, column: &str) -> String {
        match self {
            Style::Upper => column.to_ascii_uppercase(),
            Style::Camel => {
                let mut out = String::with_capacity(column.len());
                let mut upper = false;
                for c in column.chars() {
                    if c == '_' {
                        upper = true;
                    } else if upper {
                        out.push(c.to_ascii_uppercase());
                        upper = false;
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }
}

/// How one section of the document maps onto a table.
struct Section {
    table: &'static Table,
    style: Style,
    /// Columns the objects do not show (given by the section's place, or derived).
    implied: &'static [&'static str],
    /// Document names for columns whose camelCase name is not the one the answers use.
    renamed: &'static [(&'static str, &'static str)],
    /// Text columns a document made before they existed does not carry, with the value such a
    /// row gets.
    defaults: &'static [(&'static str, &'static str)],
    /// The smallest `id` a row may have (0 for pipelines: a deal's default pipeline is 0).
    first_id: i64,
}

impl Section {
    fn key(&self, column: &str) -> String {
        self.renamed
            .iter()
            .find(|(c, _)| *c == column)
            .map_or_else(|| self.style.key(column), |(_, k)| (*k).to_string())
    }
}

const USERS_SECTION: Section = Section {
    table: &USERS,
    style: Style::Camel,
    implied: &[],
    renamed: &[],
    // The profile columns of schema version 13 (`user.get`).
    defaults: &[
        ("xml_id", ""),
        ("second_name", ""),
        ("email", ""),
        ("user_type", "employee"),
        ("personal_birthday", ""),
        ("employment_date", ""),
        ("last_login", ""),
        ("last_activity", ""),
        ("timestamp_x", ""),
    ],
    first_id: 1,
};
const RIGHTS_SECTION: Section = Section {
    table: &USER_RIGHTS,
    style: Style::Camel,
    implied: &["user_id"],
    renamed: &[],
    defaults: &[],
    first_id: 1,
};
const TYPES_SECTION: Section = Section {
    table: &DYNAMIC_TYPES,
    style: Style::Camel,
    implied: &[],
    renamed: &[],
    defaults: &[],
    first_id: 1,
};
const ITEMS_SECTION: Section = Section {
    table: &ITEMS,
    style: Style::Camel,
    implied: &["entity_type_id"],
    renamed: &[],
    defaults: &[],
    first_id: 1,
};
const ACTIVITIES_SECTION: Section = Section {
    table: &ACTIVITIES,
    style: Style::Upper,
    implied: &[],
    renamed: &[],
    defaults: &[],
    first_id: 1,
};
const BINDINGS_SECTION: Section = Section {
    table: &BINDINGS,
    style: Style::Camel,
    implied: &["seq"],
    renamed: &[],
    defaults: &[],
    first_id: 1,
};
const HANDLERS_SECTION: Section = Section {
    table: &HANDLERS,
    style: Style::Camel,
    implied: &["app_id"],
    renamed: &[("event_name", "event")],
    defaults: &[],
    first_id: 1,
};

/// A section that copies one table of a family added after the first format, with what its
/// rows need beyond their columns.
struct Later {
    /// The section's name in the document.
    name: &'static str,
    section: Section,
    /// What the section's implied columns come from.
    implied: Implied,
    /// How the rows are numbered: an import raises the sequence to the largest number it wrote.
    numbered: Numbered,
    /// A column that names a row of an earlier section of the document (that section's name):
    /// merging replaces those rows' rows of this section, so each must be in the document.
    belongs_to: Option<(&'static str, &'static str)>,
}

/// The sequence that numbers a [`Later`] section's rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Numbered {
    /// None does.
    No,
    /// This sequence, the number in this column.
    By(&'static str, &'static str),
    /// The sequence the `kind` column names, the number in `id` (one table of several kinds).
    ByKind,
}

/// Where the values of a [`Later`] section's implied columns come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Implied {
    /// It implies none.
    Nothing,
    /// `seq`: the order of the rows of one owner (the column named) in the document.
    OrderPer(&'static str),
    /// `app_id`: the application's `client_id` in the key `app` (null: none).
    App,
}

const fn later(
    name: &'static str,
    table: &'static Table,
    implied: Implied,
    numbered: Numbered,
    belongs_to: Option<(&'static str, &'static str)>,
) -> Later {
    Later {
        name,
        section: Section {
            table,
            style: Style::Camel,
            implied: match implied {
                Implied::Nothing => &[],
                Implied::OrderPer(_) => &["seq"],
                Implied::App => &["app_id"],
            },
            renamed: &[],
            defaults: &[],
            first_id: 1,
        },
        implied,
        numbered,
        belongs_to,
    }
}

impl Later {
    /// The section's ids start at 0 (a deal's default pipeline is 0).
    const fn ids_from_zero(mut self) -> Later {
        self.section.first_id = 0;
        self
    }
}

/// The sections of the families added after the first format, in the order they are written.
const LATER: &[Later] = &[
    later(
        "departments",
        &DEPARTMENTS,
        Implied::Nothing,
        Numbered::By("department", "id"),
        None,
    ),
    later(
        "userDepartments",
        &USER_DEPARTMENTS,
        Implied::Nothing,
        Numbered::No,
        Some(("user_id", "users")),
    ),
    later(
        "statuses",
        &STATUSES,
        Implied::Nothing,
        Numbered::By("crm_status", "id"),
        None,
    ),
    later(
        "pipelines",
        &CATEGORIES,
        Implied::Nothing,
        Numbered::By("crm_category", "id"),
        None,
    )
    .ids_from_zero(),
    later(
        "stageHistory",
        &STAGE_HISTORY,
        Implied::Nothing,
        Numbered::By("crm_stage_history", "id"),
        None,
    ),
    later(
        "timelineComments",
        &TIMELINE_COMMENTS,
        Implied::Nothing,
        Numbered::By("timeline", "id"),
        None,
    ),
    later(
        "timelineBindings",
        &TIMELINE_BINDINGS,
        Implied::OrderPer("owner_id"),
        Numbered::By("timeline_binding", "seq"),
        Some(("owner_id", "timelineComments")),
    ),
    later(
        "activityTypes",
        &ACTIVITY_TYPES,
        Implied::App,
        Numbered::No,
        None,
    ),
    later(
        "notifications",
        &NOTIFICATIONS,
        Implied::Nothing,
        Numbered::By("notification", "id"),
        None,
    ),
    later(
        "contactCompanies",
        &CONTACT_COMPANIES,
        Implied::Nothing,
        Numbered::No,
        None,
    ),
    later(
        "tasks",
        &TASKS,
        Implied::Nothing,
        Numbered::By("task", "id"),
        None,
    ),
    later(
        "taskMembers",
        &TASK_MEMBERS,
        Implied::Nothing,
        Numbered::No,
        Some(("task_id", "tasks")),
    ),
    later(
        "taskComments",
        &TASK_COMMENTS,
        Implied::Nothing,
        Numbered::By("task_comment", "id"),
        None,
    ),
    later(
        "taskChecklistItems",
        &TASK_CHECKLIST_ITEMS,
        Implied::Nothing,
        Numbered::By("task_checklist_item", "id"),
        None,
    ),
    later(
        "taskElapsedItems",
        &TASK_ELAPSED_ITEMS,
        Implied::Nothing,
        Numbered::By("task_elapsed_item", "id"),
        None,
    ),
    later(
        "records",
        &RECORDS,
        Implied::Nothing,
        Numbered::ByKind,
        None,
    ),
];

/// Rows as document objects.
fn to_objects(section: &Section, rows: &TableRows) -> Vec<Map<String, Value>> {
    rows.rows
        .iter()
        .map(|row| {
            let mut object = Map::new();
            for ((column, kind), value) in section.table.columns.iter().zip(row) {
                if section.implied.contains(column) {
                    continue;
                }
                if *kind == Kind::Json {
                    if let Some(Value::Object(fields)) = value
                        .as_str()
                        .and_then(|text| serde_json::from_str::<Value>(text).ok())
                    {
                        for (key, value) in fields {
                            object.entry(key).or_insert(value);
                        }
                    }
                } else {
                    object.insert(section.key(column), value.clone());
                }
            }
            object
        })
        .collect()
}

fn column_index(table: &Table, column: &str) -> usize {
    table
        .columns
        .iter()
        .position(|(c, _)| *c == column)
        .unwrap_or_default()
}

/// The portal's document.
pub fn export(store: &Store, portal: PortalId) -> Result<Value, ControlError> {
    Ok(store.read(portal, |tx| {
        let users = tx.table_rows(&USERS)?;
        let rights = tx.table_rows(&USER_RIGHTS)?;
        let types = tx.table_rows(&DYNAMIC_TYPES)?;
        let items = tx.table_rows(&ITEMS)?;
        let activities = tx.table_rows(&ACTIVITIES)?;
        let bindings = tx.table_rows(&BINDINGS)?;
        let handlers = tx.table_rows(&HANDLERS)?;
        let apps = tx.app_client_ids()?;

        let mut rights_of: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
        let user_column = column_index(&USER_RIGHTS, "user_id");
        for (row, object) in rights.rows.iter().zip(to_objects(&RIGHTS_SECTION, &rights)) {
            let user = row[user_column].as_i64().unwrap_or_default();
            rights_of
                .entry(user)
                .or_default()
                .push(Value::Object(object));
        }
        let users: Vec<Value> = to_objects(&USERS_SECTION, &users)
            .into_iter()
            .map(|mut user| {
                let id = user.get("id").and_then(Value::as_i64).unwrap_or_default();
                user.insert(
                    "rights".into(),
                    Value::Array(rights_of.remove(&id).unwrap_or_default()),
                );
                Value::Object(user)
            })
            .collect();

        let mut items_by_type: Map<String, Value> = Map::new();
        let type_column = column_index(&ITEMS, "entity_type_id");
        for (row, object) in items.rows.iter().zip(to_objects(&ITEMS_SECTION, &items)) {
            let entity_type = row[type_column].as_i64().unwrap_or_default().to_string();
            if let Value::Array(list) = items_by_type
                .entry(entity_type)
                .or_insert_with(|| Value::Array(vec![]))
            {
                list.push(Value::Object(object));
            }
        }

        let app_column = column_index(&HANDLERS, "app_id");
        let handlers: Vec<Value> = handlers
            .rows
            .iter()
            .zip(to_objects(&HANDLERS_SECTION, &handlers))
            .map(|(row, mut object)| {
                let app = row[app_column].as_i64().unwrap_or_default();
                object.insert("app".into(), json!(apps.get(&app)));
                Value::Object(object)
            })
            .collect();

        let objects = |section: &Section, rows: &TableRows| -> Vec<Value> {
            to_objects(section, rows)
                .into_iter()
                .map(Value::Object)
                .collect()
        };
        let mut document = json!({
            "format": FORMAT,
            "exported": crate::clock::iso(tx.now_unix()),
            "users": users,
            "types": objects(&TYPES_SECTION, &types),
            "items": items_by_type,
            "activities": objects(&ACTIVITIES_SECTION, &activities),
            "bindings": objects(&BINDINGS_SECTION, &bindings),
            "handlers": handlers,
        });
        for later in LATER {
            let rows = tx.table_rows(later.section.table)?;
            let app_column = column_index(later.section.table, "app_id");
            let list: Vec<Value> = rows
                .rows
                .iter()
                .zip(to_objects(&later.section, &rows))
                .map(|(row, mut object)| {
                    if later.implied == Implied::App {
                        let app = row[app_column].as_i64().unwrap_or_default();
                        object.insert("app".into(), json!(apps.get(&app)));
                    }
                    Value::Object(object)
                })
                .collect();
            document[later.name] = Value::Array(list);
        }
        Ok(document)
    })?)
}

/// A 400 naming where in the document the problem is.
fn problem(path: &str, what: impl std::fmt::Display) -> ControlError {
    ControlError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "INVALID_DOCUMENT",
        format!("{path}: {what}"),
    )
}

/// The first string holding NUL (PostgreSQL cannot store it; refused on both backends alike).
fn find_nul(value: &Value, path: &str) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\0') => Some(path.to_string()),
        Value::Array(values) => values
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_nul(v, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(path.to_string())
            } else {
                find_nul(v, &format!("{path}.{k}"))
            }
        }),
        _ => None,
    }
}

/// A section's list of objects.
fn list<'d>(document: &'d Map<String, Value>, name: &str) -> Result<&'d [Value], ControlError> {
    match document.get(name) {
        None => Ok(&[]),
        Some(Value::Array(values)) => Ok(values),
        Some(other) => Err(problem(name, format!("expected a list, found {other}"))),
    }
}

/// Document objects as rows of a section's table; `implied` gives the values of the implied
/// columns per object.
fn to_rows(
    section: &Section,
    path: &str,
    objects: &[Value],
    mut implied: impl FnMut(usize, &Map<String, Value>) -> Vec<(&'static str, Value)>,
) -> Result<TableRows, ControlError> {
    let table = section.table;
    // Keys of columns, implied ones included (an item's `entityTypeId` comes from its list's
    // key): never kept among the stored fields.
    let column_keys: HashSet<String> = table
        .columns
        .iter()
        .filter(|(_, kind)| *kind != Kind::Json)
        .map(|(c, _)| section.key(c))
        .collect();
    let mut rows = Vec::with_capacity(objects.len());
    let mut seen: Vec<HashSet<String>> = vec![HashSet::new(); table.keys.len()];
    for (i, object) in objects.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let Value::Object(object) = object else {
            return Err(problem(&at, format!("expected an object, found {object}")));
        };
        let given = implied(i, object);
        let mut row = Vec::with_capacity(table.columns.len());
        for (column, kind) in table.columns {
            if let Some((_, value)) = given.iter().find(|(c, _)| c == column) {
                row.push(value.clone());
                continue;
            }
            if *kind == Kind::Json {
                let rest: Map<String, Value> = object
                    .iter()
                    .filter(|(k, _)| !column_keys.contains(*k) && !section.skips(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                row.push(Value::String(Value::Object(rest).to_string()));
                continue;
            }
            let key = section.key(column);
            let default = section
                .defaults
                .iter()
                .find(|(c, _)| c == column)
                .map(|(_, v)| Value::String((*v).to_string()));
            let value = object
                .get(&key)
                .or(default.as_ref())
                .ok_or_else(|| problem(&format!("{at}.{key}"), "missing"))?;
            let fits = match kind {
                Kind::Int => value.as_i64().is_some(),
                Kind::OptInt => value.is_null() || value.as_i64().is_some(),
                Kind::Real => value.is_number(),
                Kind::Bool => value.is_boolean(),
                Kind::Text | Kind::Json => value.is_string(),
            };
            if !fits {
                let expected = match kind {
                    Kind::Int => "an integer",
                    Kind::OptInt => "an integer or null",
                    Kind::Real => "a number",
                    Kind::Bool => "true or false",
                    Kind::Text | Kind::Json => "a string",
                };
                return Err(problem(
                    &format!("{at}.{key}"),
                    format!("expected {expected}, found {value}"),
                ));
            }
            if *column == "id" && value.as_i64().unwrap_or(0) < section.first_id {
                return Err(problem(
                    &format!("{at}.{key}"),
                    format!("an id is {} or more", section.first_id),
                ));
            }
            row.push(value.clone());
        }
        for (key, seen) in table.keys.iter().zip(&mut seen) {
            let tuple: Vec<String> = key
                .iter()
                .map(|c| row[column_index(table, c)].to_string())
                .collect();
            if !seen.insert(tuple.join("|")) {
                let names: Vec<String> = key
                    .iter()
                    .filter(|c| !section.implied.contains(c))
                    .map(|c| section.key(c))
                    .collect();
                return Err(problem(
                    &at,
                    format!("repeats the {} of an earlier entry", names.join(", ")),
                ));
            }
        }
        rows.push(row);
    }
    Ok(TableRows {
        columns: table.columns.iter().map(|(c, _)| c.to_string()).collect(),
        rows,
    })
}

impl Section {
    /// Keys of an object that are neither columns nor stored fields (`rights` of a user, `app`
    /// of a handler).
    fn skips(&self, key: &str) -> bool {
        matches!(
            (self.table.name, key),
            ("users", "rights") | ("event_handlers", "app") | ("crm_activity_types", "app")
        )
    }
}

/// What a checked document writes.
struct Load {
    users: TableRows,
    rights: TableRows,
    types: TableRows,
    items: TableRows,
    activities: TableRows,
    bindings: TableRows,
    handlers: TableRows,
    /// Each handler's application client id (`None`: an outgoing webhook), by row.
    handler_apps: Vec<Option<String>>,
    /// The [`LATER`] sections, in that order.
    later: Vec<LaterLoad>,
}

/// What a checked document writes into one [`LATER`] section's table.
struct LaterLoad {
    rows: TableRows,
    /// Each row's application client id, for a section that names one.
    apps: Vec<Option<String>>,
    /// For a section whose rows belong to rows of another: the ids of the owners the document
    /// holds, whose rows it replaces.
    owners: Option<Vec<i64>>,
}

/// Each object's application: its `app` key, a client id or null.
fn apps_of(path: &str, objects: &[Value]) -> Result<Vec<Option<String>>, ControlError> {
    objects
        .iter()
        .enumerate()
        .map(|(i, object)| match object.get("app") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(client_id)) => Ok(Some(client_id.clone())),
            Some(other) => Err(problem(
                &format!("{path}[{i}].app"),
                format!("expected an application's client_id or null, found {other}"),
            )),
        })
        .collect()
}

/// The ids in one column of rows.
fn ids_in(rows: &TableRows, table: &Table, column: &str) -> BTreeSet<i64> {
    let index = column_index(table, column);
    rows.rows
        .iter()
        .filter_map(|row| row[index].as_i64())
        .collect()
}

/// A [`LATER`] section's rows; `ids` gives the ids of the document's sections, for the rows
/// that belong to a row of one.
fn later_rows(
    later: &Later,
    objects: &[Value],
    ids: &BTreeMap<&str, BTreeSet<i64>>,
) -> Result<(TableRows, Vec<Option<String>>), ControlError> {
    let apps = match later.implied {
        Implied::App => apps_of(later.name, objects)?,
        _ => vec![None; objects.len()],
    };
    let mut next_seq: BTreeMap<i64, i64> = BTreeMap::new();
    let rows = to_rows(&later.section, later.name, objects, |i, object| {
        match later.implied {
            Implied::Nothing => vec![],
            Implied::OrderPer(owner) => {
                let owner = object
                    .get(&later.section.key(owner))
                    .and_then(Value::as_i64)
                    .unwrap_or_default();
                let seq = next_seq.entry(owner).or_insert(0);
                *seq += 1;
                vec![("seq", json!(*seq))]
            }
            // Resolved in the transaction; until then the client id stands in (0 for none).
            Implied::App => vec![("app_id", apps[i].as_ref().map_or(json!(0), |c| json!(c)))],
        }
    })?;
    if let Some((column, section)) = later.belongs_to {
        let owners = ids.get(section).cloned().unwrap_or_default();
        let index = column_index(later.section.table, column);
        if let Some(i) = rows
            .rows
            .iter()
            .position(|row| !row[index].as_i64().is_some_and(|id| owners.contains(&id)))
        {
            return Err(problem(
                &format!("{}[{i}].{}", later.name, later.section.key(column)),
                format!("no entry of {section} in the document has this id"),
            ));
        }
    }
    Ok((rows, apps))
}

/// Checks a document and turns it into rows.
fn check(document: &Value) -> Result<Load, ControlError> {
    let Value::Object(document) = document else {
        return Err(problem("$", "the document is a JSON object"));
    };
    match document.get("format") {
        Some(Value::String(format)) if format == FORMAT => {}
        other => {
            return Err(problem(
                "format",
                format!(
                    "expected \"{FORMAT}\", found {}",
                    other.map_or("nothing".to_string(), Value::to_string)
                ),
            ))
        }
    }
    const KNOWN: &[&str] = &[
        "format",
        "exported",
        "users",
        "types",
        "items",
        "activities",
        "bindings",
        "handlers",
    ];
    let known = |key: &str| KNOWN.contains(&key) || LATER.iter().any(|l| l.name == key);
    if let Some(unknown) = document.keys().find(|k| !known(k)) {
        return Err(problem(unknown, "not part of the format"));
    }
    if let Some(path) = find_nul(&Value::Object(document.clone()), "$") {
        return Err(problem(&path, "text cannot contain the NUL character"));
    }

    let users_list = list(document, "users")?;
    let users = to_rows(&USERS_SECTION, "users", users_list, |_, _| vec![])?;
    let mut rights = TableRows {
        columns: USER_RIGHTS
            .columns
            .iter()
            .map(|(c, _)| c.to_string())
            .collect(),
        rows: vec![],
    };
    for (i, user) in users_list.iter().enumerate() {
        let id = user.get("id").cloned().unwrap_or_default();
        let path = format!("users[{i}].rights");
        let list = match user.get("rights") {
            None => continue,
            Some(Value::Array(list)) => list,
            Some(other) => return Err(problem(&path, format!("expected a list, found {other}"))),
        };
        let user_rights = to_rows(&RIGHTS_SECTION, &path, list, |_, _| {
            vec![("user_id", id.clone())]
        })?;
        let (action, level) = (
            column_index(&USER_RIGHTS, "action"),
            column_index(&USER_RIGHTS, "level"),
        );
        for (j, row) in user_rights.rows.iter().enumerate() {
            let text = |k: usize| row[k].as_str().unwrap_or_default().to_string();
            if text(action).parse::<Action>().is_err() {
                return Err(problem(
                    &format!("{path}[{j}].action"),
                    "not a known action",
                ));
            }
            if text(level).parse::<Level>().is_err() {
                return Err(problem(&format!("{path}[{j}].level"), "not a known level"));
            }
        }
        rights.rows.extend(user_rights.rows);
    }

    let types = to_rows(
        &TYPES_SECTION,
        "types",
        list(document, "types")?,
        |_, _| vec![],
    )?;

    let mut items = TableRows {
        columns: ITEMS.columns.iter().map(|(c, _)| c.to_string()).collect(),
        rows: vec![],
    };
    match document.get("items") {
        None => {}
        Some(Value::Object(by_type)) => {
            for (entity_type, list) in by_type {
                let path = format!("items.{entity_type}");
                let Some(id) = entity_type.parse::<i64>().ok().filter(|n| *n > 0) else {
                    return Err(problem(&path, "the key is an entityTypeId (1 or more)"));
                };
                let Value::Array(list) = list else {
                    return Err(problem(&path, format!("expected a list, found {list}")));
                };
                let rows = to_rows(&ITEMS_SECTION, &path, list, |_, _| {
                    vec![("entity_type_id", json!(id))]
                })?;
                items.rows.extend(rows.rows);
            }
        }
        Some(other) => {
            return Err(problem(
                "items",
                format!("expected an object of lists by entityTypeId, found {other}"),
            ))
        }
    }

    let activities_list = list(document, "activities")?;
    let activities = to_rows(
        &ACTIVITIES_SECTION,
        "activities",
        activities_list,
        |_, _| vec![],
    )?;
    let activity_ids: BTreeSet<i64> = activities
        .rows
        .iter()
        .filter_map(|row| row[column_index(&ACTIVITIES, "id")].as_i64())
        .collect();
    let bindings_list = list(document, "bindings")?;
    let mut next_seq: BTreeMap<i64, i64> = BTreeMap::new();
    let bindings = to_rows(&BINDINGS_SECTION, "bindings", bindings_list, |_, object| {
        let activity = object
            .get("activityId")
            .and_then(Value::as_i64)
            .unwrap_or_default();
        let seq = next_seq.entry(activity).or_insert(0);
        *seq += 1;
        vec![("seq", json!(*seq))]
    })?;
    let activity_column = column_index(&BINDINGS, "activity_id");
    if let Some(i) = bindings.rows.iter().position(|row| {
        !row[activity_column]
            .as_i64()
            .is_some_and(|id| activity_ids.contains(&id))
    }) {
        return Err(problem(
            &format!("bindings[{i}].activityId"),
            "no activity of the document has this id",
        ));
    }

    let handlers_list = list(document, "handlers")?;
    let mut handler_apps = Vec::with_capacity(handlers_list.len());
    for (i, handler) in handlers_list.iter().enumerate() {
        match handler.get("app") {
            None | Some(Value::Null) => handler_apps.push(None),
            Some(Value::String(client_id)) => handler_apps.push(Some(client_id.clone())),
            Some(other) => {
                return Err(problem(
                    &format!("handlers[{i}].app"),
                    format!("expected an application's client_id or null, found {other}"),
                ))
            }
        }
    }
    // Application ids are resolved in the transaction; until then the client id stands in
    // (so two handlers of different applications are not taken for one), 0 for none.
    let handlers = to_rows(&HANDLERS_SECTION, "handlers", handlers_list, |i, _| {
        vec![(
            "app_id",
            handler_apps[i].as_ref().map_or(json!(0), |c| json!(c)),
        )]
    })?;
    let mut ids: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
    ids.insert("users", ids_in(&users, &USERS, "id"));
    let mut later = Vec::with_capacity(LATER.len());
    for section in LATER {
        let (rows, apps) = later_rows(section, list(document, section.name)?, &ids)?;
        let owners = section
            .belongs_to
            .map(|(_, owner)| ids.get(owner).into_iter().flatten().copied().collect());
        if section
            .section
            .table
            .columns
            .iter()
            .any(|(c, _)| *c == "id")
        {
            ids.insert(section.name, ids_in(&rows, section.section.table, "id"));
        }
        later.push(LaterLoad { rows, apps, owners });
    }
    Ok(Load {
        users,
        rights,
        types,
        items,
        activities,
        bindings,
        handlers,
        handler_apps,
        later,
    })
}

/// The largest value of an integer column.
fn max_of(rows: &TableRows, table: &Table, column: &str) -> Option<i64> {
    let index = column_index(table, column);
    rows.rows.iter().filter_map(|row| row[index].as_i64()).max()
}

/// Loads a document in one transaction (replacing the portal's data, or merging by id); returns
/// the rows written and the portal's reset count after it.
pub fn import(
    store: &Store,
    portal: PortalId,
    document: &Value,
    replace: bool,
) -> Result<(u64, i64), ControlError> {
    let mut load = check(document)?;
    let written = store.write(portal, |tx| {
        if tx.portal_row()?.is_none() {
            return Ok(Err(super::state::no_portal()));
        }
        let app_column = column_index(&HANDLERS, "app_id");
        for (i, client_id) in load.handler_apps.iter().enumerate() {
            let Some(client_id) = client_id else { continue };
            match tx.app_id_of(client_id)? {
                Some(id) => load.handlers.rows[i][app_column] = json!(id),
                // Nothing is written yet: answering here changes nothing.
                None => {
                    return Ok(Err(problem(
                        &format!("handlers[{i}].app"),
                        format!("no application has the client_id {client_id:?} here; create it first (b24-server app create)"),
                    )))
                }
            }
        }
        for (part, section) in load.later.iter_mut().zip(LATER) {
            if section.implied != Implied::App {
                continue;
            }
            let app_column = column_index(section.section.table, "app_id");
            for (i, client_id) in part.apps.iter().enumerate() {
                let Some(client_id) = client_id else { continue };
                match tx.app_id_of(client_id)? {
                    Some(id) => part.rows.rows[i][app_column] = json!(id),
                    None => {
                        return Ok(Err(problem(
                            &format!("{}[{i}].app", section.name),
                            format!("no application has the client_id {client_id:?} here; create it first (b24-server app create)"),
                        )))
                    }
                }
            }
        }
        if replace {
            tx.reset_portal(true)?;
        }
        let user_ids: Vec<i64> = load
            .users
            .rows
            .iter()
            .filter_map(|row| row[column_index(&USERS, "id")].as_i64())
            .collect();
        tx.delete_where_in(&USER_RIGHTS, "user_id", &user_ids)?;
        let activity_ids: Vec<i64> = load
            .activities
            .rows
            .iter()
            .filter_map(|row| row[column_index(&ACTIVITIES, "id")].as_i64())
            .collect();
        tx.delete_where_in(&BINDINGS, "activity_id", &activity_ids)?;
        let mut rows = 0;
        for (table, table_rows) in [
            (&USERS, &load.users),
            (&USER_RIGHTS, &load.rights),
            (&DYNAMIC_TYPES, &load.types),
            (&ITEMS, &load.items),
            (&ACTIVITIES, &load.activities),
            (&BINDINGS, &load.bindings),
            (&HANDLERS, &load.handlers),
        ] {
            rows += tx.upsert_rows(table, table_rows)?;
        }
        for (part, section) in load.later.iter().zip(LATER) {
            if let (Some((column, _)), Some(owners)) = (section.belongs_to, &part.owners) {
                // The document's rows of an owner are all its rows (as bindings are).
                tx.delete_where_in(section.section.table, column, owners)?;
            }
            rows += tx.upsert_rows(section.section.table, &part.rows)?;
        }
        tx.recount_items()?;
        crate::domain::statuses::ensure_defaults(tx)?;
        // An imported user who belongs to no department joins the root one, as every
        // employee belongs to one (`UF_DEPARTMENT`).
        tx.place_in_root_department(&user_ids)?;
        let mut sequences: Vec<(String, Option<i64>)> = vec![
            ("user".into(), max_of(&load.users, &USERS, "id")),
            ("dynamic_type".into(), max_of(&load.types, &DYNAMIC_TYPES, "id")),
            ("activity".into(), max_of(&load.activities, &ACTIVITIES, "id")),
            ("event_handler".into(), max_of(&load.handlers, &HANDLERS, "id")),
        ];
        let mut item_max: BTreeMap<i64, i64> = BTreeMap::new();
        let (type_column, id_column) = (column_index(&ITEMS, "entity_type_id"), column_index(&ITEMS, "id"));
        for row in &load.items.rows {
            if let (Some(t), Some(id)) = (row[type_column].as_i64(), row[id_column].as_i64()) {
                let max = item_max.entry(t).or_insert(id);
                *max = (*max).max(id);
            }
        }
        sequences.extend(item_max.into_iter().map(|(t, id)| (format!("item:{t}"), Some(id))));
        for (part, section) in load.later.iter().zip(LATER) {
            let table = section.section.table;
            match section.numbered {
                Numbered::No => {}
                Numbered::By(name, column) => {
                    sequences.push((name.into(), max_of(&part.rows, table, column)));
                }
                Numbered::ByKind => {
                    let (kind, id) = (column_index(table, "kind"), column_index(table, "id"));
                    let mut most: BTreeMap<String, i64> = BTreeMap::new();
                    for row in &part.rows.rows {
                        if let (Some(kind), Some(id)) = (row[kind].as_str(), row[id].as_i64()) {
                            let max = most.entry(kind.to_string()).or_insert(id);
                            *max = (*max).max(id);
                        }
                    }
                    sequences.extend(most.into_iter().map(|(k, id)| (k, Some(id))));
                }
            }
        }
        for (name, max) in sequences {
            if let Some(max) = max {
                tx.raise_sequence(&name, max)?;
            }
        }
        Ok(Ok((rows, tx.reset_generation()?)))
    });
    match written {
        Ok(outcome) => outcome,
        Err(ApiError::Rest(e)) => Err(problem("$", e.message)),
        Err(e) => Err(e.into()),
    }
}
