//! `userfieldconfig.add / get / list / update / delete` for module `crm`: the same user fields
//! as `crm.{type}.userfield.*` ([`crate::domain::user_fields`]), in camelCase, and the way to
//! give smart processes (`entityId` `CRM_{id}`) user fields. Scope `userfieldconfig` plus
//! `crm`; errors HTTP 400 with an empty code and the text (docs: api-reference/crm/universal/
//! userfieldconfig/*.md; spec §12.U "CRM user fields").

use super::{Call, Handler, MethodSpec, Output};
use crate::domain::user_fields::{self, Naming, UserField};
use crate::error::ApiError;
use crate::store::records::RecordKind;
use crate::store::{Column, CompareOp, Filter, ListQuery, SqlValue, Tx};
use b24_protocol::{RestError, PAGE_SIZE};
use serde_json::{json, Map, Value};

/// `userfieldconfig.add(moduleId, field)`.
pub const ADD: MethodSpec = MethodSpec {
    name: "userfieldconfig.add",
    scope: Some("userfieldconfig"),
    handler: Handler::Blocking(add),
    doc: "Create a user field of a CRM type or smart process (camelCase; module crm).",
};

/// `userfieldconfig.get(moduleId, id)`.
pub const GET: MethodSpec = MethodSpec {
    name: "userfieldconfig.get",
    scope: Some("userfieldconfig"),
    handler: Handler::Blocking(get),
    doc: "Read a user field's settings (module crm).",
};

/// `userfieldconfig.list(moduleId, filter, order, start)`.
pub const LIST: MethodSpec = MethodSpec {
    name: "userfieldconfig.list",
    scope: Some("userfieldconfig"),
    handler: Handler::Blocking(list),
    doc: "List user field settings, 50 per page (module crm).",
};

/// `userfieldconfig.update(moduleId, id, field)`.
pub const UPDATE: MethodSpec = MethodSpec {
    name: "userfieldconfig.update",
    scope: Some("userfieldconfig"),
    handler: Handler::Blocking(update),
    doc: "Change a user field's settings (module crm).",
};

/// `userfieldconfig.delete(moduleId, id)`.
pub const DELETE: MethodSpec = MethodSpec {
    name: "userfieldconfig.delete",
    scope: Some("userfieldconfig"),
    handler: Handler::Blocking(delete),
    doc: "Delete a user field and its values (module crm).",
};

fn refused(message: &'static str) -> ApiError {
    RestError::legacy(message).into()
}

const CANNOT_VIEW: &str = "You do not have permission to view user field settings";
const CANNOT_CHANGE: &str = "You cannot change the settings of the user field";
const CANNOT_DELETE: &str = "You cannot delete the user field";

/// `moduleId` must be `crm`, and the caller must have the `crm` scope too.
fn module(call: &Call<'_>) -> Result<(), ApiError> {
    match call.params.get("moduleId") {
        None => return Err(RestError::missing_parameter("moduleId").into()),
        Some(Value::String(m)) if m == "crm" => {}
        Some(_) => return Err(refused("No settings for UserFieldAccess")),
    }
    if !call.caller.has_scope(Some("crm")) {
        return Err(refused("The current method required more scopes. (crm)"));
    }
    Ok(())
}

/// The camelCase keys `field` takes, with their `crm.*.userfield.*` names.
const KEYS: &[(&str, &str)] = &[
    ("entityId", "ENTITY_ID"),
    ("fieldName", "FIELD_NAME"),
    ("userTypeId", "USER_TYPE_ID"),
    ("xmlId", "XML_ID"),
    ("sort", "SORT"),
    ("multiple", "MULTIPLE"),
    ("mandatory", "MANDATORY"),
    ("showFilter", "SHOW_FILTER"),
    ("editInList", "EDIT_IN_LIST"),
    ("isSearchable", "IS_SEARCHABLE"),
    ("settings", "SETTINGS"),
    ("editFormLabel", "EDIT_FORM_LABEL"),
    ("helpMessage", "HELP_MESSAGE"),
    ("enum", "LIST"),
];

/// The keys of an `enum` element.
const ENUM_KEYS: &[(&str, &str)] = &[
    ("id", "ID"),
    ("value", "VALUE"),
    ("def", "DEF"),
    ("sort", "SORT"),
    ("xmlId", "XML_ID"),
    ("del", "DEL"),
];

/// The caller's `field` in the names of the shared rules; other keys are dropped, as the docs
/// say (`showInList`, `listColumnLabel`, `listFilterLabel`, `errorMessage`, `label` too).
fn upper(field: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (camel, name) in KEYS {
        let Some(value) = field.get(*camel) else {
            continue;
        };
        let value = if *name == "LIST" {
            let elements: Vec<&Value> = match value {
                Value::Array(a) => a.iter().collect(),
                Value::Object(o) => o.values().collect(),
                _ => Vec::new(),
            };
            Value::Array(
                elements
                    .into_iter()
                    .filter_map(Value::as_object)
                    .map(|e| {
                        let mut element = Map::new();
                        for (camel, name) in ENUM_KEYS {
                            if let Some(v) = e.get(*camel) {
                                element.insert(name.to_string(), v.clone());
                            }
                        }
                        Value::Object(element)
                    })
                    .collect(),
            )
        } else {
            value.clone()
        };
        out.insert(name.to_string(), value);
    }
    out
}

/// A field's settings as this family shows them: camelCase, ids and numbers as strings, the
/// labels over the languages that have one (English always).
fn config_json(f: &UserField) -> Value {
    let d = user_fields::definition_json(f, true);
    let labels = [
        ("editFormLabel", "EDIT_FORM_LABEL"),
        ("listColumnLabel", "LIST_COLUMN_LABEL"),
        ("listFilterLabel", "LIST_FILTER_LABEL"),
        ("errorMessage", "ERROR_MESSAGE"),
        ("helpMessage", "HELP_MESSAGE"),
    ];
    let mut languages: Vec<String> = vec!["en".into()];
    for (_, name) in labels {
        for (lang, text) in d[name].as_object().into_iter().flatten() {
            if text.as_str().is_some_and(|t| !t.is_empty()) && !languages.contains(lang) {
                languages.push(lang.clone());
            }
        }
    }
    let mut out = Map::new();
    out.insert("id".into(), d["ID"].clone());
    for (camel, name) in [
        ("entityId", "ENTITY_ID"),
        ("fieldName", "FIELD_NAME"),
        ("userTypeId", "USER_TYPE_ID"),
        ("xmlId", "XML_ID"),
        ("sort", "SORT"),
        ("multiple", "MULTIPLE"),
        ("mandatory", "MANDATORY"),
        ("showFilter", "SHOW_FILTER"),
        ("showInList", "SHOW_IN_LIST"),
        ("editInList", "EDIT_IN_LIST"),
        ("isSearchable", "IS_SEARCHABLE"),
        ("settings", "SETTINGS"),
    ] {
        out.insert(camel.into(), d[name].clone());
    }
    out.insert(
        "languageId".into(),
        languages.iter().map(|l| (l.clone(), json!(l))).collect(),
    );
    for (camel, name) in labels {
        let by_lang: Map<String, Value> = languages
            .iter()
            .map(|l| {
                let text = d[name][l.as_str()]
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .map_or(Value::Null, |t| json!(t));
                (l.clone(), text)
            })
            .collect();
        out.insert(camel.into(), Value::Object(by_lang));
    }
    if let Some(list) = d.get("LIST").and_then(Value::as_array) {
        let elements: Vec<Value> = list
            .iter()
            .map(|e| {
                json!({"id": e["ID"], "userFieldId": d["ID"], "value": e["VALUE"], "def": e["DEF"],
                       "sort": e["SORT"], "xmlId": e["XML_ID"]})
            })
            .collect();
        out.insert("enum".into(), Value::Array(elements));
    }
    Value::Object(out)
}

fn field_param(call: &Call<'_>) -> Result<Map<String, Value>, ApiError> {
    call.params
        .map("field")?
        .ok_or_else(|| RestError::missing_parameter("field").into())
}

/// A field by id, of any type.
fn field_by_id(tx: &mut dyn Tx, id: i64) -> Result<Option<UserField>, ApiError> {
    Ok(tx
        .record(RecordKind::UserField, id)?
        .map(UserField::from_record))
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    module(call)?;
    let field = field_param(call)?;
    let permissions = &call.caller.permissions;
    if !permissions.admin {
        return Err(refused("Access denied."));
    }
    let created = call.state.store.write(call.caller.portal_id, |tx| {
        let entity_id = field.get("entityId").and_then(Value::as_str).unwrap_or("");
        let entity_type_id = user_fields::entity_type_of(tx, entity_id)?
            .ok_or_else(|| refused("You cannot create custom fields"))?;
        let id = user_fields::add(
            tx,
            permissions,
            entity_type_id,
            &upper(&field),
            Naming::Exact,
        )?;
        field_by_id(tx, id)
    })?;
    let created = created.ok_or_else(|| refused("Fail to create new user field"))?;
    Ok(Output::result(json!({ "field": config_json(&created) })))
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    module(call)?;
    let id = call.params.int("id")?;
    let field = call.state.store.read(call.caller.portal_id, |tx| {
        let field = field_by_id(tx, id)?.ok_or_else(|| refused(CANNOT_VIEW))?;
        user_fields::get(tx, &call.caller.permissions, field.entity_type_id, id)
            .map_err(|_| refused(CANNOT_VIEW))
    })?;
    Ok(Output::result(json!({ "field": config_json(&field) })))
}

fn update(call: &Call<'_>) -> Result<Output, ApiError> {
    module(call)?;
    let id = call.params.int("id")?;
    let field = field_param(call)?;
    let permissions = &call.caller.permissions;
    let updated = call.state.store.write(call.caller.portal_id, |tx| {
        let existing = field_by_id(tx, id)?
            .filter(|_| permissions.admin)
            .ok_or_else(|| refused(CANNOT_CHANGE))?;
        user_fields::update(tx, permissions, existing.entity_type_id, id, &upper(&field))?;
        field_by_id(tx, id)
    })?;
    let updated = updated.ok_or_else(|| refused(CANNOT_CHANGE))?;
    Ok(Output::result(json!({ "field": config_json(&updated) })))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    module(call)?;
    let id = call.params.int("id")?;
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        let existing = field_by_id(tx, id)?
            .filter(|_| permissions.admin)
            .ok_or_else(|| refused(CANNOT_DELETE))?;
        user_fields::delete(tx, permissions, existing.entity_type_id, id)
    })?;
    Ok(Output::result(Value::Null))
}

/// The filter and order keys of `list`, and where they are stored.
const LIST_COLUMNS: &[(&str, Column)] = &[
    ("id", Column::Plain("id")),
    ("sort", Column::Plain("sort")),
    ("fieldName", Column::Extra("FIELD_NAME")),
    ("userTypeId", Column::Extra("USER_TYPE_ID")),
    ("xmlId", Column::Extra("XML_ID")),
    ("multiple", Column::Extra("MULTIPLE")),
    ("mandatory", Column::Extra("MANDATORY")),
    ("showFilter", Column::Extra("SHOW_FILTER")),
    ("showInList", Column::Extra("SHOW_IN_LIST")),
    ("editInList", Column::Extra("EDIT_IN_LIST")),
    ("isSearchable", Column::Extra("IS_SEARCHABLE")),
];

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    module(call)?;
    let filter = call.params.map("filter")?.unwrap_or_default();
    let order = call.params.map("order")?.unwrap_or_default();
    let page = call.params.page();
    let permissions = &call.caller.permissions;
    let result = call.state.store.read(call.caller.portal_id, |tx| {
        let mut parts = Vec::new();
        let entity = filter.get("entityId").and_then(Value::as_str);
        match entity {
            Some(entity_id) => match user_fields::entity_type_of(tx, entity_id)? {
                Some(t) => {
                    if !permissions.admin
                        && permissions.level(t, crate::domain::Action::Read)
                            == crate::domain::Level::None
                    {
                        return Err(refused(CANNOT_VIEW));
                    }
                    parts.push(Filter::Compare {
                        column: Column::Plain("owner_type_id"),
                        op: CompareOp::Eq,
                        values: vec![SqlValue::Int(t)],
                    });
                }
                None => parts.push(Filter::Any(Vec::new())),
            },
            None if !permissions.admin => return Err(refused(CANNOT_VIEW)),
            None => {}
        }
        for (key, column) in LIST_COLUMNS {
            let Some(value) = filter.get(*key) else {
                continue;
            };
            let value = match (column, value) {
                (Column::Plain(_), v) => match b24_protocol::values::bind_int(v) {
                    Some(i) => SqlValue::Int(i),
                    None => return Ok(None),
                },
                (_, Value::String(s)) => SqlValue::Text(s.clone()),
                (_, Value::Number(n)) => SqlValue::Text(n.to_string()),
                _ => SqlValue::Null,
            };
            parts.push(Filter::Compare {
                column: *column,
                op: CompareOp::Eq,
                values: vec![value],
            });
        }
        let mut keys: Vec<(Column, bool)> = Vec::new();
        for (key, direction) in &order {
            if let Some((_, column)) = LIST_COLUMNS[..5].iter().find(|(k, _)| k == key) {
                let desc = direction
                    .as_str()
                    .is_some_and(|d| d.eq_ignore_ascii_case("desc"));
                keys.push((*column, desc));
            }
        }
        if keys.is_empty() {
            keys = vec![(Column::Plain("sort"), false), (Column::Plain("id"), false)];
        }
        let query = ListQuery {
            filter: Filter::All(parts),
            order: keys,
            offset: page.offset,
            limit: PAGE_SIZE,
            count: page.count,
        };
        Ok(Some(tx.records_page(RecordKind::UserField, &query)?))
    })?;
    let Some(result) = result else {
        return Ok(Output {
            result: json!({"fields": []}),
            next: None,
            total: Some(0),
        });
    };
    let count = result.rows.len();
    let fields: Vec<Value> = result
        .rows
        .into_iter()
        .map(|r| config_json(&UserField::from_record(r)))
        .collect();
    Ok(Output {
        result: super::keyed("fields", Value::from(fields)),
        next: result.total.and_then(|total| page.next(count, total)),
        total: result.total,
    })
}
