//! Custom activity types (`crm.activity.type.add / list / delete`): an application registers a
//! `TYPE_ID` that its activities then use as `PROVIDER_TYPE_ID`. Only applications may call
//! them (a webhook is refused with 403), each sees only its own types, and adding or deleting
//! one needs an administrator (the CRM settings right).

use crate::error::ApiError;
use crate::store::activity_types::ActivityTypeRecord;
use crate::store::Tx;
use b24_protocol::{ErrorCode, RestError};
use serde_json::{json, Map, Value};

/// The longest `TYPE_ID` (an activity's `PROVIDER_TYPE_ID` column holds 100 characters).
pub const MAX_TYPE_ID: usize = 100;

/// The longest `NAME`.
pub const MAX_NAME: usize = 255;

/// The 403 a call without an application gets.
pub fn application_required() -> ApiError {
    RestError::with_message(
        ErrorCode::AccessDeniedSystem,
        "Access denied! Application context required",
    )
    .into()
}

fn invalid(message: String) -> ApiError {
    RestError::with_message(ErrorCode::InvalidArgValue, message).into()
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// The `TYPE_ID` of a call: required, at most [`MAX_TYPE_ID`] characters.
pub fn type_id(value: Option<&Value>) -> Result<String, ApiError> {
    let type_id = text(value);
    if type_id.is_empty() || type_id.chars().count() > MAX_TYPE_ID {
        return Err(invalid("TYPE_ID is not defined or invalid.".into()));
    }
    Ok(type_id)
}

/// `crm.activity.type.add`: stores the application's new type; a `TYPE_ID` it has already is
/// `INVALID_ARG_VALUE`.
pub fn add(tx: &mut dyn Tx, app_id: i64, fields: &Map<String, Value>) -> Result<(), ApiError> {
    let type_id = type_id(field(fields, "TYPE_ID"))?;
    let name = text(field(fields, "NAME"));
    if name.chars().count() > MAX_NAME {
        return Err(invalid(format!(
            "NAME is too long: at most {MAX_NAME} characters."
        )));
    }
    let configurable = text(field(fields, "IS_CONFIGURABLE_TYPE")).eq_ignore_ascii_case("Y");
    let record = ActivityTypeRecord {
        type_id: type_id.clone(),
        name,
        configurable,
    };
    if !tx.insert_activity_type(app_id, &record)? {
        return Err(invalid(format!(
            "Activity type with TYPE_ID \"{type_id}\" already exists."
        )));
    }
    Ok(())
}

/// `crm.activity.type.list`: the application's types.
pub fn list(tx: &mut dyn Tx, app_id: i64) -> Result<Value, ApiError> {
    let rows: Vec<Value> = tx
        .activity_types(app_id)?
        .into_iter()
        .map(|t| {
            json!({
                "TYPE_ID": t.type_id,
                "NAME": t.name,
                "IS_CONFIGURABLE_TYPE": if t.configurable { "Y" } else { "N" },
                "ICON_ID": "0",
            })
        })
        .collect();
    Ok(Value::Array(rows))
}

/// `crm.activity.type.delete`: removes one of the application's types; an unknown one is
/// `INVALID_ARG_VALUE`.
pub fn delete(tx: &mut dyn Tx, app_id: i64, type_id: &str) -> Result<(), ApiError> {
    if !tx.delete_activity_type(app_id, type_id)? {
        return Err(invalid(format!(
            "Activity type with TYPE_ID \"{type_id}\" not found."
        )));
    }
    Ok(())
}
