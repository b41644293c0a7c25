//! `user.get`, `user.search`, `user.fields`, `user.admin`, `user.add`, `user.update`
//! (docs: api-reference/user/, api-reference/common/users/user-admin.md), and the one rendering
//! of a user that `user.current` shares.
//!
//! What a caller sees of a user depends on its scopes: `user` shows every field, `user_basic`
//! the profile and contact fields, `user_brief` the profile without contacts
//! (api-reference/user/user-scope.md). Filters and `sort` on a field the caller cannot see are
//! ignored, so a list cannot reveal it either.
//!
//! These are legacy methods: their parameters are read case-insensitively (the real service
//! upper-cases the keys), a filter key the service does not know is ignored, and a filter value
//! of the wrong type matches nothing — `user.get` answers only system errors.

use super::listing::{self, Dialect, ListField, ListFields};
use super::{Call, Handler, MethodSpec, Output};
use crate::auth::Caller;
use crate::domain::users::{self as rules, parse_date, upper_keys, EXTRA_FIELDS};
use crate::error::ApiError;
use crate::store::query::like_literal;
use crate::store::users::{UserProfile, UserQuery};
use crate::store::{Column, CompareOp, Filter, ListQuery, SqlValue};
use b24_protocol::{Page, PAGE_SIZE};
use serde_json::{json, Map, Value};

/// `user.get`: users by filter, a page of 50.
pub const GET: MethodSpec = MethodSpec {
    name: "user.get",
    scope: Some("user"),
    handler: Handler::Blocking(list),
    doc: "Users by filter (FILTER or top-level keys, sort/order, start).",
};

/// `user.search`: `user.get` with `FIND`, a quick search over names and positions.
pub const SEARCH: MethodSpec = MethodSpec {
    name: "user.search",
    scope: Some("user"),
    handler: Handler::Blocking(list),
    doc: "Users by FIND (names, position) or by the user.get filter.",
};

/// `user.fields`: the user fields the caller's scope shows, with their titles.
pub const FIELDS: MethodSpec = MethodSpec {
    name: "user.fields",
    scope: Some("user"),
    handler: Handler::Blocking(fields),
    doc: "The user fields, with their titles.",
};

/// `user.admin`: whether the calling user administers the portal (scope `basic`: global).
pub const ADMIN: MethodSpec = MethodSpec {
    name: "user.admin",
    scope: None,
    handler: Handler::Blocking(admin),
    doc: "Whether the calling user is an administrator.",
};

/// `user.add`: invites a user (administrators, full `user` scope).
pub const ADD: MethodSpec = MethodSpec {
    name: "user.add",
    scope: Some("user"),
    handler: Handler::Blocking(add),
    doc: "Invites a user (EMAIL, UF_DEPARTMENT, profile fields); returns the id.",
};

/// `user.update`: changes a user (administrators, full `user` scope).
pub const UPDATE: MethodSpec = MethodSpec {
    name: "user.update",
    scope: Some("user"),
    handler: Handler::Blocking(update),
    doc: "Changes a user's fields (ID, ACTIVE, profile fields, UF_DEPARTMENT).",
};

/// Which scopes show a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// `user_brief`, `user_basic` and `user`.
    Brief,
    /// `user_basic` and `user`.
    Basic,
    /// `user` only.
    Full,
}

/// A user field: its name, its title in `user.fields` (`None`: answered but not listed there)
/// and the scopes that show it.
struct Field {
    name: &'static str,
    title: Option<&'static str>,
    level: Level,
}

const fn f(name: &'static str, title: &'static str, level: Level) -> Field {
    Field {
        name,
        title: Some(title),
        level,
    }
}

use Level::{Basic, Brief, Full};

/// Every user field, in the order the real service answers them (`user.fields`).
const USER_FIELDS: &[Field] = &[
    f("ID", "ID", Brief),
    f("XML_ID", "External code", Brief),
    f("ACTIVE", "Activity", Brief),
    f("NAME", "First Name", Brief),
    f("LAST_NAME", "Last Name", Brief),
    f("SECOND_NAME", "Middle Name", Brief),
    f("TITLE", "User List", Brief),
    f("EMAIL", "E-Mail", Basic),
    f("LAST_LOGIN", "Last Authorization", Full),
    f("DATE_REGISTER", "Registration Date", Brief),
    f("TIME_ZONE", "TIME_ZONE", Brief),
    Field {
        name: "TIME_ZONE_OFFSET",
        title: None,
        level: Brief,
    },
    f("IS_ONLINE", "IS_ONLINE", Brief),
    f("TIMESTAMP_X", "TIMESTAMP_X", Brief),
    f("LAST_ACTIVITY_DATE", "LAST_ACTIVITY_DATE", Brief),
    f("PERSONAL_GENDER", "Gender", Brief),
    f("PERSONAL_PROFESSION", "Profession", Brief),
    f("PERSONAL_WWW", "Homepage", Full),
    f("PERSONAL_BIRTHDAY", "Date of Birth", Brief),
    f("PERSONAL_PHOTO", "Photo", Brief),
    f("PERSONAL_ICQ", "ICQ", Full),
    f("PERSONAL_PHONE", "Personal Phone", Basic),
    f("PERSONAL_FAX", "Fax", Basic),
    f("PERSONAL_MOBILE", "Personal Mobile", Basic),
    f("PERSONAL_PAGER", "Pager", Basic),
    f("PERSONAL_STREET", "Residential Street", Basic),
    f("PERSONAL_CITY", "Residential City", Brief),
    f("PERSONAL_STATE", "State / Region", Brief),
    f("PERSONAL_ZIP", "Zip Code", Basic),
    f("PERSONAL_COUNTRY", "Country", Brief),
    f("PERSONAL_MAILBOX", "P.O. Box", Basic),
    f("PERSONAL_NOTES", "Additional Notes", Basic),
    f("WORK_PHONE", "Company Phone", Basic),
    f("WORK_COMPANY", "Company", Basic),
    f("WORK_POSITION", "Job Title", Brief),
    f("WORK_DEPARTMENT", "Department", Basic),
    f("WORK_WWW", "Company Website", Basic),
    f("WORK_FAX", "WORK_FAX", Basic),
    f("WORK_PAGER", "WORK_PAGER", Basic),
    f("WORK_STREET", "WORK_STREET", Basic),
    f("WORK_MAILBOX", "WORK_MAILBOX", Basic),
    f("WORK_CITY", "Work City", Brief),
    f("WORK_STATE", "WORK_STATE", Brief),
    f("WORK_ZIP", "WORK_ZIP", Basic),
    f("WORK_COUNTRY", "WORK_COUNTRY", Brief),
    f("WORK_PROFILE", "WORK_PROFILE", Basic),
    f("WORK_LOGO", "WORK_LOGO", Basic),
    f("WORK_NOTES", "WORK_NOTES", Basic),
    f("UF_SKYPE_LINK", "Skype Chat Link", Basic),
    f("UF_ZOOM", "Zoom", Basic),
    f("UF_EMPLOYMENT_DATE", "Hire Date", Brief),
    f("UF_TIMEMAN", "Time Tracking", Brief),
    f("UF_DEPARTMENT", "Units", Brief),
    f("UF_INTERESTS", "Interests", Brief),
    f("UF_SKILLS", "Skills", Brief),
    f("UF_WEB_SITES", "Other Websites", Basic),
    f("UF_XING", "Xing", Basic),
    f("UF_LINKEDIN", "LinkedIn", Basic),
    f("UF_FACEBOOK", "Facebook", Basic),
    f("UF_TWITTER", "Twitter", Basic),
    f("UF_SKYPE", "Skype", Basic),
    f("UF_DISTRICT", "District", Basic),
    f("UF_PHONE_INNER", "Extension", Brief),
    f("USER_TYPE", "USER_TYPE", Full),
];

/// Seconds since the last activity during which a user counts as online (`IS_ONLINE`), the
/// real service's default of 15 minutes.
const ONLINE_SECS: f64 = 15.0 * 60.0;

/// What the caller's scopes show of users.
#[derive(Debug, Clone, Copy)]
pub struct View {
    full: bool,
    basic: bool,
    brief: bool,
}

impl View {
    /// The view of a caller's scopes.
    pub fn of(caller: &Caller) -> Self {
        let has = |s: &str| caller.scopes.iter().any(|c| c == s);
        Self {
            full: has("user"),
            basic: has("user_basic"),
            brief: has("user_brief"),
        }
    }

    fn shows(self, level: Level) -> bool {
        self.full || (self.basic && level != Full) || (self.brief && level == Brief)
    }

    fn shows_field(self, name: &str) -> bool {
        USER_FIELDS
            .iter()
            .any(|f| f.name == name && self.shows(f.level))
    }
}

/// Which of two answers a user is rendered for. The real service builds `user.get` from its ORM,
/// where `TIMESTAMP_X` and `LAST_ACTIVITY_DATE` are date objects that PHP encodes as `{}`, and
/// `user.current` from the older `CUser` API, where they are database text (spec §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `user.get`, `user.search`.
    List,
    /// `user.current`.
    Current,
}

/// `YYYY-MM-DD` as the real service answers a date: midnight, ISO-8601 with the offset.
fn date_iso(date: &str, offset: &str) -> Value {
    if date.len() < 10 {
        return Value::String(String::new());
    }
    Value::String(format!("{}T00:00:00{offset}", &date[..10]))
}

/// An ISO-8601 time as database text: `2024-07-23 08:08:50`.
fn db_time(iso: &str) -> String {
    match (iso.get(0..10), iso.get(11..19)) {
        (Some(date), Some(time)) => format!("{date} {time}"),
        _ => iso.to_string(),
    }
}

/// The `+00:00` tail of an ISO-8601 time.
fn offset_of(iso: &str) -> &str {
    iso.get(19..).filter(|t| !t.is_empty()).unwrap_or("+00:00")
}

fn field_value(p: &UserProfile, name: &str, shape: Shape, now: f64) -> Value {
    let offset = offset_of(&p.created);
    let time_object = |iso: &str| match (iso.is_empty(), shape) {
        (true, _) => Value::Null,
        (false, Shape::List) => json!({}),
        (false, Shape::Current) => Value::String(db_time(iso)),
    };
    match name {
        "ID" => Value::String(p.id.to_string()),
        "XML_ID" if p.xml_id.is_empty() => Value::Null,
        "XML_ID" => Value::String(p.xml_id.clone()),
        "ACTIVE" => Value::Bool(p.active),
        "NAME" => Value::String(p.name.clone()),
        "LAST_NAME" => Value::String(p.last_name.clone()),
        "SECOND_NAME" => Value::String(p.second_name.clone()),
        "EMAIL" => Value::String(p.email.clone()),
        "LAST_LOGIN" => Value::String(p.last_login.clone()),
        "DATE_REGISTER" => date_iso(&p.created, offset),
        "TIME_ZONE_OFFSET" => Value::String("0".into()),
        "IS_ONLINE" => {
            // Both sides are the server's ISO-8601 text, which sorts as time does.
            let online = !p.last_activity.is_empty()
                && p.last_activity >= crate::clock::iso(now - ONLINE_SECS);
            Value::String(if online { "Y" } else { "N" }.into())
        }
        "TIMESTAMP_X" => time_object(&p.timestamp_x),
        "LAST_ACTIVITY_DATE" => time_object(&p.last_activity),
        "PERSONAL_BIRTHDAY" => date_iso(&p.personal_birthday, offset),
        "UF_EMPLOYMENT_DATE" => date_iso(&p.employment_date, offset),
        "UF_DEPARTMENT" => json!(p.departments),
        "USER_TYPE" => Value::String(p.user_type.clone()),
        other => p
            .extra
            .get(other)
            .cloned()
            .unwrap_or_else(|| Value::String(String::new())),
    }
}

/// A user as `user.get` (`Shape::List`) or `user.current` (`Shape::Current`) answers it: the
/// fields `view` shows, narrowed to `select` when given (`*` is every field, `UF_*` every
/// `UF_` field).
pub fn render(p: &UserProfile, view: View, select: &[String], shape: Shape, now: f64) -> Value {
    let all = listing::selects_all(select);
    let uf = select.iter().any(|s| s.eq_ignore_ascii_case("UF_*"));
    let mut out = Map::new();
    for field in USER_FIELDS {
        if !view.shows(field.level) {
            continue;
        }
        let selected = all
            || (uf && field.name.starts_with("UF_"))
            || select.iter().any(|s| s.eq_ignore_ascii_case(field.name));
        if selected {
            out.insert(field.name.into(), field_value(p, field.name, shape, now));
        }
    }
    Value::Object(out)
}

/// The filter and sort fields of users, for [`listing::parse_condition`].
struct UserListFields {
    view: View,
}

fn int_value(value: &Value) -> Option<SqlValue> {
    match value {
        Value::Number(n) => n.as_i64().map(SqlValue::Int),
        Value::String(s) => s.trim().parse().ok().map(SqlValue::Int),
        _ => None,
    }
}

/// Text with a NUL character matches nothing (PostgreSQL cannot even compare it).
fn text_value(value: &Value) -> Option<SqlValue> {
    match value {
        Value::String(s) if s.contains('\0') => None,
        Value::String(s) => Some(SqlValue::Text(s.clone())),
        Value::Number(n) => Some(SqlValue::Text(n.to_string())),
        Value::Bool(b) => Some(SqlValue::Text(if *b { "Y" } else { "N" }.into())),
        _ => None,
    }
}

fn flag_value(value: &Value) -> Option<SqlValue> {
    let on = match value {
        Value::Bool(b) => *b,
        Value::String(s) => match s.trim().to_ascii_uppercase().as_str() {
            "Y" | "TRUE" | "1" => true,
            "N" | "FALSE" | "0" | "" => false,
            _ => return None,
        },
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => return None,
    };
    Some(SqlValue::Int(i64::from(on)))
}

/// A date filter value: `17.05.1990` becomes `1990-05-17`, comparable with the stored text.
fn date_value(value: &Value) -> Option<SqlValue> {
    let SqlValue::Text(text) = text_value(value)? else {
        return None;
    };
    let dotted = text.contains('.') || text.contains('/');
    Some(SqlValue::Text(match parse_date(&text) {
        Some(date) if dotted => date,
        _ => text,
    }))
}

/// Converts a filter value to a column's type; `None` when it does not fit.
type Convert = fn(&Value) -> Option<SqlValue>;

/// The column behind a field name, and how a filter value converts to its type.
fn column_of(name: &str) -> Option<(Column, Convert)> {
    let plain = |c| Some((Column::Plain(c), text_value as Convert));
    let date = |c| Some((Column::Plain(c), date_value as Convert));
    match name {
        "ID" => Some((Column::Plain("id"), int_value)),
        "ACTIVE" => Some((Column::Plain("active"), flag_value)),
        "NAME" => plain("name"),
        "LAST_NAME" => plain("last_name"),
        "SECOND_NAME" => plain("second_name"),
        "EMAIL" => plain("email"),
        "XML_ID" => plain("xml_id"),
        "USER_TYPE" => plain("user_type"),
        "LAST_LOGIN" => date("last_login"),
        "DATE_REGISTER" => date("created"),
        "TIMESTAMP_X" => date("timestamp_x"),
        "LAST_ACTIVITY_DATE" => date("last_activity"),
        "PERSONAL_BIRTHDAY" => date("personal_birthday"),
        "UF_EMPLOYMENT_DATE" => date("employment_date"),
        other => EXTRA_FIELDS
            .iter()
            .find(|f| **f == other)
            .map(|f| (Column::Extra(f), text_value as Convert)),
    }
}

impl ListFields for UserListFields {
    fn field(&self, key: &str) -> Option<ListField> {
        let name = key.to_ascii_uppercase();
        if !self.view.shows_field(&name) {
            return None;
        }
        let (column, convert) = column_of(&name)?;
        Some(ListField {
            column,
            convert: Box::new(convert),
        })
    }
}

/// Parameters that are not filter keys when they come at the top level.
const RESERVED: &[&str] = &[
    "FILTER",
    "SORT",
    "ORDER",
    "ADMIN_MODE",
    "START",
    "SELECT",
    "FIND",
];

/// The operator prefix of a filter key and the field name after it.
fn split_key(key: &str) -> (&str, &str) {
    let name = key.trim_start_matches(['!', '=', '<', '>', '@', '%']);
    (&key[..key.len() - name.len()], name)
}

fn nothing() -> Filter {
    Filter::Any(Vec::new())
}

fn like(column: Column, pattern: String) -> Filter {
    Filter::Compare {
        column,
        op: CompareOp::Like,
        values: vec![SqlValue::Text(pattern)],
    }
}

/// `NAME_SEARCH` / `FIND`: every word starts one of the names or the position.
fn quick_search(text: &str, view: View) -> Filter {
    if text.contains('\0') {
        return nothing();
    }
    let mut columns = vec![
        Column::Plain("name"),
        Column::Plain("last_name"),
        Column::Plain("second_name"),
    ];
    if view.shows_field("WORK_POSITION") {
        columns.push(Column::Extra("WORK_POSITION"));
    }
    Filter::All(
        text.split_whitespace()
            .map(|word| {
                let pattern = format!("{}%", like_literal(word));
                Filter::Any(columns.iter().map(|c| like(*c, pattern.clone())).collect())
            })
            .collect(),
    )
}

/// Department ids of a `UF_DEPARTMENT` filter value; ids that are not numbers match nothing.
fn department_ids(value: &Value) -> Vec<i64> {
    let values: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => o.values().collect(),
        other => vec![other],
    };
    values
        .into_iter()
        .filter_map(|v| match int_value(v) {
            Some(SqlValue::Int(i)) => Some(i),
            _ => None,
        })
        .collect()
}

/// One filter entry; `None` when the key is ignored.
fn condition(
    key: &str,
    value: &Value,
    fields: &UserListFields,
    departments: &mut Option<Vec<i64>>,
    now: f64,
) -> Option<Filter> {
    let (prefix, name) = split_key(key);
    let name = name.to_ascii_uppercase();
    match name.as_str() {
        "UF_DEPARTMENT" => {
            if matches!(prefix, "" | "=" | "@") && fields.view.shows_field("UF_DEPARTMENT") {
                let ids = department_ids(value);
                *departments = Some(match departments.take() {
                    Some(before) => before.into_iter().filter(|d| ids.contains(d)).collect(),
                    None => ids,
                });
            }
            None
        }
        "NAME_SEARCH" => {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Some(nothing()),
            };
            Some(quick_search(&text, fields.view))
        }
        "IS_ONLINE" => {
            let since = crate::clock::iso(now - ONLINE_SECS);
            let op = match flag_value(value) {
                Some(SqlValue::Int(1)) => CompareOp::Ge,
                Some(_) => CompareOp::Lt,
                None => return Some(nothing()),
            };
            Some(Filter::Compare {
                column: Column::Plain("last_activity"),
                op,
                values: vec![SqlValue::Text(since)],
            })
        }
        _ => {
            let field = fields.field(&name)?;
            // Without an operator, a `%` in a text value is a wildcard (`"NAME": "Iva%"`).
            if prefix.is_empty() && !matches!(field.column, Column::Plain("id" | "active")) {
                if let Value::String(s) = value {
                    if s.contains('%') && !s.contains('\0') {
                        return Some(like(field.column, s.clone()));
                    }
                }
            }
            let key = format!("{prefix}{name}");
            Some(
                listing::parse_condition(&key, value, fields, Dialect::Legacy)
                    .unwrap_or_else(|_| nothing()),
            )
        }
    }
}

/// Reads `user.get` / `user.search` parameters into a page query.
fn query_of(params: &Map<String, Value>, view: View, now: f64) -> (UserQuery, Page, Vec<String>) {
    let fields = UserListFields { view };
    let mut entries: Vec<(String, Value)> = Vec::new();
    if let Some(Value::Object(filter)) = params.get("FILTER") {
        entries.extend(filter.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    entries.extend(
        params
            .iter()
            .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    let find = params.get("FIND").cloned().or_else(|| {
        entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("FIND"))
            .map(|(_, v)| v.clone())
    });
    let find = find.and_then(|v| match v {
        Value::String(s) if !s.trim().is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let mut departments = None;
    let filter = match find {
        // `FIND` searches on its own: the other filter keys are not combined with it.
        Some(text) => quick_search(&text, view),
        None => Filter::All(
            entries
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("FIND"))
                .filter_map(|(k, v)| condition(k, v, &fields, &mut departments, now))
                .collect(),
        ),
    };
    let sort = params
        .get("SORT")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
        .and_then(|name| fields.field(&name))
        .map_or(Column::Plain("id"), |f| f.column);
    let descending = params
        .get("ORDER")
        .and_then(Value::as_str)
        .is_some_and(|o| o.eq_ignore_ascii_case("desc"));
    let page = Page::from_start(params.get("START"));
    let select = listing::parse_select(params.get("SELECT"));
    let query = UserQuery {
        list: ListQuery {
            filter,
            order: vec![(sort, descending)],
            offset: page.offset,
            limit: PAGE_SIZE,
            count: page.count,
        },
        departments,
    };
    (query, page, select)
}

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    let params = upper_keys(&call.params.0);
    let view = View::of(call.caller);
    let now = call.state.clock.now();
    let (query, page, select) = query_of(&params, view, now);
    let found = call
        .state
        .store
        .read(call.caller.portal_id, |tx| tx.users_page(&query))?;
    let users: Vec<Value> = found
        .rows
        .iter()
        .map(|u| render(u, view, &select, Shape::List, now))
        .collect();
    Ok(Output {
        next: found.total.and_then(|t| page.next(users.len(), t)),
        total: found.total,
        result: Value::Array(users),
    })
}

fn fields(call: &Call<'_>) -> Result<Output, ApiError> {
    let view = View::of(call.caller);
    let titles: Map<String, Value> = USER_FIELDS
        .iter()
        .filter(|f| view.shows(f.level))
        .filter_map(|f| Some((f.name.to_string(), Value::String(f.title?.to_string()))))
        .collect();
    Ok(Output::result(Value::Object(titles)))
}

fn admin(call: &Call<'_>) -> Result<Output, ApiError> {
    Ok(Output::result(Value::Bool(call.caller.user.admin)))
}

/// The methods `user_brief` and `user_basic` do not stand in for `user` (see
/// [`super::allowed`]): they read users, these change them.
pub(super) const NEEDS_FULL_USER_SCOPE: &[&str] = &["user.add", "user.update"];

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = upper_keys(&call.params.0);
    let admin = call.caller.user.admin;
    let id = call.state.store.write(call.caller.portal_id, |tx| {
        rules::add_user(tx, admin, &fields)
    })?;
    Ok(Output::result(json!(id)))
}

fn update(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = upper_keys(&call.params.0);
    let admin = call.caller.user.admin;
    call.state.store.write(call.caller.portal_id, |tx| {
        rules::update_user(tx, admin, &fields)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

/// `user.current`'s answer: the calling user's record in [`Shape::Current`].
pub fn current(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = call.caller.user.id;
    let profile = call
        .state
        .store
        .read(call.caller.portal_id, |tx| tx.user_profile(id))?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the calling user {id} is missing")))?;
    let select: Vec<String> = match call.params.get_ci("select") {
        Some(v) => listing::parse_select(Some(v)),
        None => Vec::new(),
    };
    Ok(Output::result(render(
        &profile,
        View::of(call.caller),
        &select,
        Shape::Current,
        call.state.clock.now(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brief_fields_are_shown_to_every_user_scope_and_contacts_only_from_basic() {
        let brief = View {
            full: false,
            basic: false,
            brief: true,
        };
        let basic = View {
            full: false,
            basic: true,
            brief: false,
        };
        assert!(brief.shows_field("NAME") && !brief.shows_field("EMAIL"));
        assert!(basic.shows_field("EMAIL") && !basic.shows_field("LAST_LOGIN"));
        assert!(!basic.shows_field("USER_TYPE"));
    }

    #[test]
    fn every_stored_profile_field_is_a_user_field() {
        for name in EXTRA_FIELDS {
            assert!(
                USER_FIELDS.iter().any(|f| f.name == *name),
                "{name} is stored but never shown"
            );
        }
    }

    #[test]
    fn filter_keys_split_into_operator_and_field() {
        assert_eq!(split_key("!%LAST_NAME"), ("!%", "LAST_NAME"));
        assert_eq!(split_key(">=ID"), (">=", "ID"));
        assert_eq!(split_key("NAME"), ("", "NAME"));
    }
}
