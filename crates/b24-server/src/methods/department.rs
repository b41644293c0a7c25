//! `department.get`, `department.fields`, `department.add`, `department.update`,
//! `department.delete` (scope `department`; docs: api-reference/departments/): the company
//! structure behind users' `UF_DEPARTMENT`. Root department 1 exists on every portal.
//!
//! Legacy methods: parameters are read case-insensitively, filters come as top-level keys, and
//! errors are `ERROR_CORE` with the real service's texts.

use super::{Call, Handler, MethodSpec, Output};
use crate::domain::users::{self as rules, upper_keys, DepartmentFields};
use crate::error::ApiError;
use crate::store::users::{DepartmentQuery, DepartmentRecord};
use b24_protocol::{ErrorCode, Page, RestError, PAGE_SIZE};
use serde_json::{json, Map, Value};

/// `department.get`: departments by `ID`, `NAME`, `SORT`, `PARENT`, `UF_HEAD`.
pub const GET: MethodSpec = MethodSpec {
    name: "department.get",
    scope: Some("department"),
    handler: Handler::Blocking(get),
    doc: "Departments by ID, NAME, SORT, PARENT or UF_HEAD (sort/order, start).",
};

/// `department.fields`: the department fields with their titles.
pub const FIELDS: MethodSpec = MethodSpec {
    name: "department.fields",
    scope: Some("department"),
    handler: Handler::Blocking(fields),
    doc: "The department fields, with their titles.",
};

/// `department.add`: a department under an existing one (administrators).
pub const ADD: MethodSpec = MethodSpec {
    name: "department.add",
    scope: Some("department"),
    handler: Handler::Blocking(add),
    doc: "Creates a department (NAME, PARENT, SORT, UF_HEAD); returns the id.",
};

/// `department.update`: changes a department (administrators).
pub const UPDATE: MethodSpec = MethodSpec {
    name: "department.update",
    scope: Some("department"),
    handler: Handler::Blocking(update),
    doc: "Changes a department's NAME, SORT, PARENT or UF_HEAD.",
};

/// `department.delete`: deletes a department and its sub-departments (administrators).
pub const DELETE: MethodSpec = MethodSpec {
    name: "department.delete",
    scope: Some("department"),
    handler: Handler::Blocking(delete),
    doc: "Deletes a department and its sub-departments.",
};

/// A department as `department.get` answers it: `ID` and `PARENT` as strings, `SORT` as a
/// number; `PARENT` and `UF_HEAD` only when set.
fn department_json(d: &DepartmentRecord) -> Value {
    let mut out = Map::new();
    out.insert("ID".into(), Value::String(d.id.to_string()));
    out.insert("NAME".into(), Value::String(d.name.clone()));
    out.insert("SORT".into(), json!(d.sort));
    if let Some(parent) = d.parent {
        out.insert("PARENT".into(), Value::String(parent.to_string()));
    }
    if let Some(head) = d.head {
        out.insert("UF_HEAD".into(), Value::String(head.to_string()));
    }
    Value::Object(out)
}

/// An integer filter value; a value that is not one matches nothing (`Some(-1)` is never an id).
fn int_filter(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n.as_i64().unwrap_or(-1),
        Value::String(s) => s.trim().parse().unwrap_or(-1),
        _ => -1,
    }
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let params = upper_keys(&call.params.0);
    let ids = params.get("ID").map(|v| match v {
        Value::Array(a) => a.iter().map(int_filter).collect(),
        Value::Object(o) => o.values().map(int_filter).collect(),
        other => vec![int_filter(other)],
    });
    let order = match params
        .get("SORT")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("NAME") => "name",
        Some("SORT") => "sort",
        Some("PARENT") => "parent",
        Some("UF_HEAD") => "head",
        _ => "id",
    };
    // `SORT` is both the sort key (a field name) and a filter (a number).
    let sort_filter = params
        .get("SORT")
        .filter(|v| v.is_number() || v.as_str().is_some_and(|s| s.trim().parse::<i64>().is_ok()))
        .map(int_filter);
    let descending = params
        .get("ORDER")
        .and_then(Value::as_str)
        .is_some_and(|o| o.eq_ignore_ascii_case("desc"));
    let page = Page::from_start(params.get("START"));
    let query = DepartmentQuery {
        id: ids,
        // A name with a NUL character is no department's (PostgreSQL cannot compare it).
        name: params.get("NAME").and_then(|v| match v {
            Value::String(s) => Some(s.replace('\0', "\u{fffd}")),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }),
        sort: sort_filter,
        parent: params.get("PARENT").map(int_filter),
        head: params.get("UF_HEAD").map(int_filter),
        order: (order, descending),
        offset: page.offset,
        limit: PAGE_SIZE,
        count: page.count,
    };
    let found = call
        .state
        .store
        .read(call.caller.portal_id, |tx| tx.departments_page(&query))?;
    let rows: Vec<Value> = found.rows.iter().map(department_json).collect();
    Ok(Output {
        next: found.total.and_then(|t| page.next(rows.len(), t)),
        total: found.total,
        result: Value::Array(rows),
    })
}

fn fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    Ok(Output::result(json!({
        "ID": "ID",
        "NAME": "Department Name",
        "SORT": "Sort Order",
        "PARENT": "Parent Department",
        "UF_HEAD": "Manager",
    })))
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let params = upper_keys(&call.params.0);
    let fields = DepartmentFields::read(&params);
    let admin = call.caller.user.admin;
    let id = call.state.store.write(call.caller.portal_id, |tx| {
        rules::add_department(tx, admin, &fields)
    })?;
    Ok(Output::result(json!(id)))
}

/// The `ID` of `update` / `delete`: a missing or unusable one finds no department.
fn id_param(params: &Map<String, Value>) -> Result<i64, ApiError> {
    params
        .get("ID")
        .map(int_filter)
        .filter(|id| *id > 0)
        .ok_or_else(|| RestError::new(ErrorCode::DepartmentCore).into())
}

fn update(call: &Call<'_>) -> Result<Output, ApiError> {
    let params = upper_keys(&call.params.0);
    let admin = call.caller.user.admin;
    if !admin {
        return Err(RestError::with_message(ErrorCode::DepartmentCore, "Access denied").into());
    }
    let id = id_param(&params)?;
    let fields = DepartmentFields::read(&params);
    call.state.store.write(call.caller.portal_id, |tx| {
        rules::update_department(tx, admin, id, &fields)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let params = upper_keys(&call.params.0);
    let admin = call.caller.user.admin;
    if !admin {
        return Err(RestError::with_message(ErrorCode::DepartmentCore, "Access denied").into());
    }
    let id = id_param(&params)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        rules::delete_department(tx, admin, id)
    })?;
    Ok(Output::result(Value::Bool(true)))
}
