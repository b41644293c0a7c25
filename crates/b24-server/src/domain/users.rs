//! Users and the company structure: the rules of `user.add` / `user.update` and of
//! `department.add` / `update` / `delete`, and the root department every portal has.
//!
//! Only administrators invite and change users and change the structure (the real service asks
//! for "user invitation rights" and "rights to modify the structure", which a portal gives its
//! administrators). Every check happens before the first write, so a refused call changes
//! nothing.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::users::{DepartmentRecord, UserProfile};
use crate::store::Tx;
use b24_protocol::{ErrorCode, RestError};
use serde_json::{Map, Value};

/// The root department every portal has (`UF_DEPARTMENT: [1]` of the administrator).
pub const ROOT_DEPARTMENT: i64 = 1;

/// The name the root department gets on a new portal.
pub const ROOT_DEPARTMENT_NAME: &str = "Company";

/// `SORT` of a department created without one.
pub const DEFAULT_SORT: i64 = 500;

/// Profile fields kept in the user's `extra`, as text, under their names (every writable field
/// of `user.add` that has no column of its own).
pub const EXTRA_FIELDS: &[&str] = &[
    "TITLE",
    "TIME_ZONE",
    "PERSONAL_GENDER",
    "PERSONAL_PROFESSION",
    "PERSONAL_WWW",
    "PERSONAL_PHOTO",
    "PERSONAL_ICQ",
    "PERSONAL_PHONE",
    "PERSONAL_FAX",
    "PERSONAL_MOBILE",
    "PERSONAL_PAGER",
    "PERSONAL_STREET",
    "PERSONAL_CITY",
    "PERSONAL_STATE",
    "PERSONAL_ZIP",
    "PERSONAL_COUNTRY",
    "PERSONAL_MAILBOX",
    "PERSONAL_NOTES",
    "WORK_PHONE",
    "WORK_COMPANY",
    "WORK_POSITION",
    "WORK_DEPARTMENT",
    "WORK_WWW",
    "WORK_FAX",
    "WORK_PAGER",
    "WORK_STREET",
    "WORK_MAILBOX",
    "WORK_CITY",
    "WORK_STATE",
    "WORK_ZIP",
    "WORK_COUNTRY",
    "WORK_PROFILE",
    "WORK_LOGO",
    "WORK_NOTES",
    "UF_SKYPE_LINK",
    "UF_ZOOM",
    "UF_TIMEMAN",
    "UF_INTERESTS",
    "UF_SKILLS",
    "UF_WEB_SITES",
    "UF_XING",
    "UF_LINKEDIN",
    "UF_FACEBOOK",
    "UF_TWITTER",
    "UF_SKYPE",
    "UF_DISTRICT",
    "UF_PHONE_INNER",
];

/// How stale a user's last activity may get before a call of theirs refreshes it: one write a
/// minute per active user keeps `IS_ONLINE` and `LAST_ACTIVITY_DATE` true to the calls made,
/// without a write per call.
pub const ACTIVITY_REFRESH_SECS: f64 = 60.0;

/// Whether `last_activity` is within [`ACTIVITY_REFRESH_SECS`] of `now`. The bound's text is
/// formatted once a second per thread rather than on every call (the check runs after each one);
/// both sides are the server's ISO-8601 text, which sorts as time does.
fn active_since_refresh(last_activity: &str, now: f64) -> bool {
    thread_local! {
        static BOUND: std::cell::RefCell<(i64, String)> = const {
            std::cell::RefCell::new((i64::MIN, String::new()))
        };
    }
    let second = (now - ACTIVITY_REFRESH_SECS).floor();
    BOUND.with_borrow_mut(|(at, text)| {
        if *at != second as i64 {
            *at = second as i64;
            *text = crate::clock::iso(second);
        }
        last_activity >= text.as_str()
    })
}

/// Whether the caller's last activity is recent enough that [`note_activity`] writes nothing.
pub fn activity_is_fresh(state: &AppState, caller: &Caller) -> bool {
    active_since_refresh(&caller.user.last_activity, state.clock.now())
}

/// Records that `caller` made a call now (spec: `IS_ONLINE` is "Y" within 15 minutes of the
/// user's last activity), when what is stored is older than [`ACTIVITY_REFRESH_SECS`]. Runs after
/// the call's own transaction and never fails the call: a failure is logged.
pub fn note_activity(state: &AppState, caller: &Caller) {
    let now = state.clock.now();
    if active_since_refresh(&caller.user.last_activity, now) {
        return;
    }
    let stale_before = crate::clock::iso(now - ACTIVITY_REFRESH_SECS);
    let now = crate::clock::iso(now);
    if let Err(e) = state.store.write(caller.portal_id, |tx| {
        tx.note_user_activity(caller.user.id, &now, &stale_before)
    }) {
        tracing::warn!(
            user = caller.user.id,
            "could not record the user's last activity: {e}"
        );
    }
}

/// Creates the root department (id 1) of a new or wiped portal.
pub fn seed_root_department(tx: &mut dyn Tx) -> Result<(), ApiError> {
    if tx.department(ROOT_DEPARTMENT)?.is_none() {
        let id = tx.insert_department(ROOT_DEPARTMENT_NAME, DEFAULT_SORT, None, None)?;
        debug_assert_eq!(
            id, ROOT_DEPARTMENT,
            "the root department takes the first id"
        );
    }
    Ok(())
}

fn user_core(message: &'static str) -> ApiError {
    RestError::with_message(ErrorCode::UserCore, message).into()
}

/// `ERROR_ARGUMENT` with an empty `argument`, as `user.add` answers.
fn argument_error(message: &'static str) -> ApiError {
    RestError::argument("", message).into()
}

fn department_error(message: &'static str) -> ApiError {
    RestError::with_message(ErrorCode::DepartmentCore, message).into()
}

/// A field value as the text stored: strings as they are, numbers in decimal, `true`/`false` as
/// `Y`/`N`, nothing for `null`; arrays and objects (a photo upload) are not kept.
fn text_value(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.replace('\0', "")),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "Y" } else { "N" }.to_string()),
        _ => None,
    }
}

/// Whether an e-mail address looks like one (`local@domain.tld`, no spaces).
fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
}

/// `YYYY-MM-DD` from a date the caller sent (`2001-02-03`, `2001-02-03T…`, `03.02.2001`);
/// `None` when it is none of these.
pub fn parse_date(text: &str) -> Option<String> {
    let text = text.trim();
    let ymd = |y: &str, m: &str, d: &str| -> Option<String> {
        let (y, m, d): (u32, u32, u32) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
        ((1..=9999).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d))
            .then(|| format!("{y:04}-{m:02}-{d:02}"))
    };
    if text.len() >= 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-' {
        return ymd(text.get(0..4)?, text.get(5..7)?, text.get(8..10)?);
    }
    let parts: Vec<&str> = text.split(['.', '/']).collect();
    match parts.as_slice() {
        [d, m, y] if y.len() == 4 => ymd(y, m, d),
        _ => None,
    }
}

/// Department ids from a `UF_DEPARTMENT` value (one id, a list, or a PHP map of ids); every one
/// must exist. `None` when the value names no department at all.
fn departments_of(tx: &mut dyn Tx, value: &Value) -> Result<Option<Vec<i64>>, ApiError> {
    let values: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => o.values().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    };
    let mut ids = Vec::new();
    for v in values {
        let id = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) if s.trim().is_empty() => continue,
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        // "Error updating user fields": the real service answers `ERROR_CORE` with no text.
        let id = id.filter(|id| *id > 0).ok_or_else(|| user_core(""))?;
        if tx.department(id)?.is_none() {
            return Err(user_core(""));
        }
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok((!ids.is_empty()).then_some(ids))
}

/// Applies the writable fields of `fields` to a user's record (keys upper-cased by the caller).
fn apply_fields(
    tx: &mut dyn Tx,
    profile: &mut UserProfile,
    fields: &Map<String, Value>,
) -> Result<(), ApiError> {
    for (key, value) in fields {
        let text = || text_value(value).unwrap_or_default();
        match key.as_str() {
            "NAME" => profile.name = text(),
            "LAST_NAME" => profile.last_name = text(),
            "SECOND_NAME" => profile.second_name = text(),
            "XML_ID" => profile.xml_id = text(),
            "ACTIVE" => {
                profile.active = match value {
                    Value::Bool(b) => *b,
                    other => !matches!(
                        text_value(other).as_deref().map(str::trim),
                        Some("N" | "n" | "0" | "false" | "")
                    ),
                }
            }
            "PERSONAL_BIRTHDAY" => {
                profile.personal_birthday = parse_date(&text()).unwrap_or_default()
            }
            "UF_EMPLOYMENT_DATE" => {
                profile.employment_date = parse_date(&text()).unwrap_or_default()
            }
            "UF_DEPARTMENT" => {
                profile.departments = departments_of(tx, value)?.unwrap_or_default();
            }
            name => {
                if let Some(field) = EXTRA_FIELDS.iter().find(|f| **f == name) {
                    match text_value(value) {
                        Some(text) => profile.extra.insert(field.to_string(), Value::String(text)),
                        None => profile.extra.remove(*field),
                    };
                }
            }
        }
    }
    Ok(())
}

/// Upper-cases the keys of a field map (the real methods read `EMAIL` and `email` alike).
pub fn upper_keys(fields: &Map<String, Value>) -> Map<String, Value> {
    fields
        .iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
        .collect()
}

/// `user.add`: invites a user (administrators only). `fields` has upper-case keys.
pub fn add_user(
    tx: &mut dyn Tx,
    caller_is_admin: bool,
    fields: &Map<String, Value>,
) -> Result<i64, ApiError> {
    if !caller_is_admin {
        return Err(user_core("access_denied"));
    }
    let email = fields
        .get("EMAIL")
        .and_then(text_value)
        .unwrap_or_default()
        .trim()
        .to_string();
    if !valid_email(&email) {
        return Err(argument_error("wrong_email"));
    }
    if tx.user_with_email(&email)?.is_some() {
        return Err(argument_error("A user with this email already exists"));
    }
    let extranet = fields
        .get("EXTRANET")
        .and_then(text_value)
        .is_some_and(|t| t.eq_ignore_ascii_case("Y"));
    let departments = match fields.get("UF_DEPARTMENT") {
        Some(value) if !extranet => departments_of(tx, value)?,
        _ => None,
    };
    let Some(departments) = departments else {
        // Without departments the invitation is of an extranet user, who joins a workgroup;
        // this server has no workgroups.
        if !extranet {
            return Err(argument_error("no_extranet_field"));
        }
        return Err(match fields.get("SONET_GROUP_ID") {
            None | Some(Value::Null) => RestError::new(ErrorCode::GroupIdMissing).into(),
            Some(_) => RestError::new(ErrorCode::NoGroup).into(),
        });
    };
    let id = tx.insert_user("", "", false)?;
    let mut profile = tx
        .user_profile(id)?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the new user {id} is missing")))?;
    apply_fields(tx, &mut profile, fields)?;
    profile.email = email;
    profile.departments = departments;
    // Invited, not yet logged in.
    profile.last_login = String::new();
    profile.last_activity = String::new();
    profile.active = true;
    tx.update_user_profile(&profile)?;
    Ok(id)
}

/// `user.update` (administrators only). `fields` has upper-case keys, `ID` among them.
pub fn update_user(
    tx: &mut dyn Tx,
    caller_is_admin: bool,
    fields: &Map<String, Value>,
) -> Result<(), ApiError> {
    if !caller_is_admin {
        return Err(user_core("access_denied"));
    }
    let id = fields
        .get("ID")
        .and_then(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .filter(|id| *id > 0);
    let Some(mut profile) = id.map(|id| tx.user_profile(id)).transpose()?.flatten() else {
        return Err(user_core("access_denied"));
    };
    if let Some(value) = fields.get("EMAIL") {
        let email = text_value(value).unwrap_or_default().trim().to_string();
        if !valid_email(&email) {
            return Err(argument_error("wrong_email"));
        }
        if tx
            .user_with_email(&email)?
            .is_some_and(|other| other != profile.id)
        {
            return Err(argument_error("A user with this email already exists"));
        }
        profile.email = email;
    }
    apply_fields(tx, &mut profile, fields)?;
    profile.timestamp_x = tx.now_iso();
    tx.update_user_profile(&profile)
}

/// The fields of `department.add` / `department.update`, read from upper-cased parameters.
#[derive(Debug, Default)]
pub struct DepartmentFields {
    /// `NAME`.
    pub name: Option<String>,
    /// `SORT`.
    pub sort: Option<i64>,
    /// `PARENT`: `Some(None)` when given as empty or 0.
    pub parent: Option<Option<i64>>,
    /// `UF_HEAD`: `Some(None)` when given as empty or 0.
    pub head: Option<Option<i64>>,
}

fn int_of(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

impl DepartmentFields {
    /// Reads the fields; a value that is not a number counts as 0, as PHP's `intval` reads it.
    pub fn read(params: &Map<String, Value>) -> Self {
        let id_or_none = |v: &Value| Some(int_of(v).filter(|id| *id > 0));
        Self {
            name: params.get("NAME").and_then(text_value),
            sort: params.get("SORT").map(|v| int_of(v).unwrap_or(0)),
            parent: params.get("PARENT").and_then(id_or_none),
            head: params.get("UF_HEAD").and_then(id_or_none),
        }
    }
}

/// Checks a head: a user of the portal.
fn check_head(tx: &mut dyn Tx, head: Option<i64>) -> Result<(), ApiError> {
    if let Some(head) = head {
        if tx.user(head)?.is_none() {
            return Err(department_error("User not found"));
        }
    }
    Ok(())
}

/// `department.add` (administrators only): a department under an existing one.
pub fn add_department(
    tx: &mut dyn Tx,
    caller_is_admin: bool,
    fields: &DepartmentFields,
) -> Result<i64, ApiError> {
    if !caller_is_admin {
        return Err(department_error("Access denied"));
    }
    let name = fields.name.as_deref().map(str::trim).unwrap_or("");
    if name.is_empty() {
        return Err(department_error("Department name not provided.<br>"));
    }
    let parent = fields.parent.flatten();
    match parent {
        None if tx.root_departments()? > 0 => {
            return Err(department_error(
                "There can only be one top-level department in the company structure",
            ))
        }
        Some(parent) if tx.department(parent)?.is_none() => {
            return Err(department_error("Department not found"))
        }
        _ => {}
    }
    let head = fields.head.flatten();
    check_head(tx, head)?;
    tx.insert_department(name, fields.sort.unwrap_or(DEFAULT_SORT), parent, head)
}

/// Whether `candidate` is `id` or lies below it.
fn is_within(tx: &mut dyn Tx, candidate: i64, id: i64) -> Result<bool, ApiError> {
    let mut current = Some(candidate);
    let mut steps = 0;
    while let Some(at) = current {
        if at == id {
            return Ok(true);
        }
        steps += 1;
        if steps > 10_000 {
            break;
        }
        current = tx.department(at)?.and_then(|d| d.parent);
    }
    Ok(false)
}

/// `department.update` (administrators only).
pub fn update_department(
    tx: &mut dyn Tx,
    caller_is_admin: bool,
    id: i64,
    fields: &DepartmentFields,
) -> Result<(), ApiError> {
    if !caller_is_admin {
        return Err(department_error("Access denied"));
    }
    let Some(mut department) = tx.department(id)? else {
        return Err(department_error("Department not found"));
    };
    if let Some(name) = &fields.name {
        let name = name.trim();
        if name.is_empty() {
            return Err(department_error("Department name not provided.<br>"));
        }
        department.name = name.to_string();
    }
    if let Some(sort) = fields.sort {
        department.sort = sort;
    }
    if let Some(parent) = fields.parent {
        match parent {
            None if department.parent.is_some() => {
                return Err(department_error(
                    "There can only be one top-level department in the company structure",
                ))
            }
            None => {}
            Some(parent) => {
                if tx.department(parent)?.is_none() {
                    return Err(department_error("Department not found"));
                }
                if is_within(tx, parent, id)? {
                    return Err(department_error(
                        "A department cannot be moved into itself or its sub-department",
                    ));
                }
            }
        }
        department.parent = parent;
    }
    if let Some(head) = fields.head {
        check_head(tx, head)?;
        department.head = head;
    }
    tx.update_department(&department)
}

/// `department.delete` (administrators only): the department and its sub-departments; their
/// members leave them. The root department stays.
pub fn delete_department(tx: &mut dyn Tx, caller_is_admin: bool, id: i64) -> Result<(), ApiError> {
    if !caller_is_admin {
        return Err(department_error("Access denied"));
    }
    let Some(department) = tx.department(id)? else {
        return Err(department_error("Department not found"));
    };
    if department.parent.is_none() {
        return Err(department_error(
            "The top-level department of the company structure cannot be deleted",
        ));
    }
    delete_subtree(tx, &department)
}

fn delete_subtree(tx: &mut dyn Tx, department: &DepartmentRecord) -> Result<(), ApiError> {
    let mut pending = vec![department.id];
    let mut doomed = Vec::new();
    while let Some(id) = pending.pop() {
        doomed.push(id);
        if tx.department_has_children(id)? {
            let children = tx.departments_page(&crate::store::users::DepartmentQuery {
                parent: Some(id),
                order: ("id", false),
                limit: u64::MAX >> 2,
                ..Default::default()
            })?;
            pending.extend(children.rows.iter().map(|d| d.id));
        }
    }
    for id in doomed {
        tx.delete_department(id)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_read_in_the_forms_callers_send() {
        assert_eq!(parse_date("1990-05-17").as_deref(), Some("1990-05-17"));
        assert_eq!(
            parse_date("1990-05-17T00:00:00+03:00").as_deref(),
            Some("1990-05-17")
        );
        assert_eq!(parse_date("17.05.1990").as_deref(), Some("1990-05-17"));
        assert_eq!(parse_date("1990-13-17"), None);
        assert_eq!(parse_date("yesterday"), None);
    }

    #[test]
    fn an_email_needs_a_local_part_and_a_dotted_domain() {
        assert!(valid_email("ann@example.com"));
        assert!(!valid_email("ann@example"));
        assert!(!valid_email("@example.com"));
        assert!(!valid_email("ann @example.com"));
        assert!(!valid_email(""));
    }
}
