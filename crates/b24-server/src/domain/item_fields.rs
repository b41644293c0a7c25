//! The fields of CRM items, once for both dialects: `crm.item.*` (camelCase names, real JSON
//! numbers) and the legacy `crm.deal/contact/company/lead.*` (UPPER_CASE names, string values).
//!
//! Each field says which entity types have it, how a caller's value is checked and normalised,
//! where it is stored (a typed column or a key of the `extra` JSON) and how it is described by
//! the `*.fields` methods.

use super::values::{parse_date, parse_datetime_utc};
use super::EntityTypeId;
use crate::store::{Column, ItemRecord, SqlValue};
use b24_protocol::values::bind_int;
use serde_json::{json, Map, Value};

/// How a field's values are checked, stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// An integer.
    Integer,
    /// A user id (an integer).
    User,
    /// A decimal amount.
    Double,
    /// Text.
    Text,
    /// `Y` / `N`.
    YesNo,
    /// A date-time, stored in UTC.
    DateTime,
    /// A date, stored as its midnight UTC.
    Date,
    /// A list of ids.
    IntegerList,
    /// Phones, e-mails, web sites, messengers: `[{ID, VALUE, VALUE_TYPE}]`, shown by the legacy
    /// methods only (`crm.item.*` keeps them out of its answers, as the service does).
    Multifield,
}

/// One field of CRM items.
#[derive(Debug)]
pub struct ItemField {
    /// The `crm.item.*` name.
    pub name: &'static str,
    /// The legacy name.
    pub legacy: &'static str,
    /// Its kind.
    pub kind: FieldKind,
    /// The `type` shown by `*.fields`.
    pub wire_type: &'static str,
    /// The `title` shown by `*.fields`.
    pub title: &'static str,
    /// Which entity types have it ([`types`] bits).
    pub types: u8,
    /// Where it is stored.
    pub column: Column,
    /// Set by the server, never by the caller.
    pub read_only: bool,
    /// The value a new item gets when the caller gives none, as JSON text.
    pub default: Option<&'static str>,
}

/// Bits for [`ItemField::types`].
pub mod types {
    /// Leads.
    pub const LEAD: u8 = 1;
    /// Deals.
    pub const DEAL: u8 = 2;
    /// Contacts.
    pub const CONTACT: u8 = 4;
    /// Companies.
    pub const COMPANY: u8 = 8;
    /// Quotes.
    pub const QUOTE: u8 = 16;
    /// Smart invoices.
    pub const SMART_INVOICE: u8 = 32;
    /// Smart processes.
    pub const DYNAMIC: u8 = 64;
    /// Every type.
    pub const ALL: u8 = 127;
    /// Types with an amount and a client.
    pub const SALES: u8 = LEAD | DEAL | QUOTE | SMART_INVOICE | DYNAMIC;
    /// Types with stages.
    pub const STAGED: u8 = DEAL | QUOTE | SMART_INVOICE | DYNAMIC;
    /// Types with pipelines.
    pub const CATEGORIZED: u8 = DEAL | SMART_INVOICE | DYNAMIC;
    /// Types that describe a person.
    pub const PERSON: u8 = LEAD | CONTACT;
}

const fn field(
    name: &'static str,
    legacy: &'static str,
    kind: FieldKind,
    wire_type: &'static str,
    title: &'static str,
    types: u8,
    column: Column,
) -> ItemField {
    ItemField {
        name,
        legacy,
        kind,
        wire_type,
        title,
        types,
        column,
        read_only: false,
        default: None,
    }
}

const fn read_only(mut f: ItemField) -> ItemField {
    f.read_only = true;
    f
}

const fn with_default(mut f: ItemField, default: &'static str) -> ItemField {
    f.default = Some(default);
    f
}

use types::*;
use Column::{Extra, Plain};
use FieldKind::*;

/// Every item field, in the order answers show them.
pub static FIELDS: &[ItemField] = &[
    read_only(field(
        "id",
        "ID",
        Integer,
        "integer",
        "ID",
        ALL,
        Plain("id"),
    )),
    field(
        "title",
        "TITLE",
        Text,
        "string",
        "Title",
        ALL & !CONTACT,
        Plain("title"),
    ),
    field(
        "name",
        "NAME",
        Text,
        "string",
        "First name",
        PERSON,
        Extra("name"),
    ),
    field(
        "secondName",
        "SECOND_NAME",
        Text,
        "string",
        "Second name",
        PERSON,
        Extra("secondName"),
    ),
    field(
        "lastName",
        "LAST_NAME",
        Text,
        "string",
        "Last name",
        PERSON,
        Extra("lastName"),
    ),
    field(
        "post",
        "POST",
        Text,
        "string",
        "Position",
        PERSON,
        Extra("post"),
    ),
    field(
        "birthdate",
        "BIRTHDATE",
        Date,
        "date",
        "Date of birth",
        CONTACT,
        Extra("birthdate"),
    ),
    field(
        "companyTitle",
        "COMPANY_TITLE",
        Text,
        "string",
        "Company name",
        LEAD,
        Extra("companyTitle"),
    ),
    field(
        "companyType",
        "COMPANY_TYPE",
        Text,
        "crm_status",
        "Company type",
        COMPANY,
        Extra("companyType"),
    ),
    field(
        "industry",
        "INDUSTRY",
        Text,
        "crm_status",
        "Industry",
        COMPANY,
        Extra("industry"),
    ),
    field(
        "revenue",
        "REVENUE",
        Double,
        "double",
        "Annual revenue",
        COMPANY,
        Extra("revenue"),
    ),
    field(
        "employees",
        "EMPLOYEES",
        Text,
        "crm_status",
        "Employees",
        COMPANY,
        Extra("employees"),
    ),
    field(
        "typeId",
        "TYPE_ID",
        Text,
        "crm_status",
        "Type",
        DEAL | CONTACT,
        Extra("typeId"),
    ),
    with_default(
        field(
            "categoryId",
            "CATEGORY_ID",
            Integer,
            "crm_category",
            "Pipeline",
            CATEGORIZED,
            Extra("categoryId"),
        ),
        "0",
    ),
    with_default(
        field(
            "stageId",
            "STAGE_ID",
            Text,
            "crm_status",
            "Stage",
            STAGED,
            Extra("stageId"),
        ),
        "\"NEW\"",
    ),
    with_default(
        field(
            "statusId",
            "STATUS_ID",
            Text,
            "crm_status",
            "Status",
            LEAD,
            Extra("statusId"),
        ),
        "\"NEW\"",
    ),
    field(
        "probability",
        "PROBABILITY",
        Integer,
        "integer",
        "Probability",
        DEAL,
        Extra("probability"),
    ),
    with_default(
        field(
            "opportunity",
            "OPPORTUNITY",
            Double,
            "double",
            "Amount",
            SALES,
            Extra("opportunity"),
        ),
        "0",
    ),
    with_default(
        field(
            "isManualOpportunity",
            "IS_MANUAL_OPPORTUNITY",
            YesNo,
            "char",
            "Manual amount",
            SALES,
            Extra("isManualOpportunity"),
        ),
        "\"N\"",
    ),
    with_default(
        field(
            "currencyId",
            "CURRENCY_ID",
            Text,
            "crm_currency",
            "Currency",
            SALES | COMPANY,
            Extra("currencyId"),
        ),
        "\"USD\"",
    ),
    field(
        "companyId",
        "COMPANY_ID",
        Integer,
        "crm_company",
        "Company",
        SALES | CONTACT,
        Extra("companyId"),
    ),
    field(
        "contactId",
        "CONTACT_ID",
        Integer,
        "crm_contact",
        "Contact",
        SALES,
        Extra("contactId"),
    ),
    field(
        "contactIds",
        "CONTACT_IDS",
        IntegerList,
        "crm_contact",
        "Contacts",
        SALES,
        Extra("contactIds"),
    ),
    field(
        "begindate",
        "BEGINDATE",
        Date,
        "date",
        "Start date",
        STAGED,
        Extra("begindate"),
    ),
    field(
        "closedate",
        "CLOSEDATE",
        Date,
        "date",
        "End date",
        STAGED,
        Extra("closedate"),
    ),
    with_default(
        field(
            "opened",
            "OPENED",
            YesNo,
            "char",
            "Available to everyone",
            ALL,
            Extra("opened"),
        ),
        "\"Y\"",
    ),
    field(
        "comments",
        "COMMENTS",
        Text,
        "string",
        "Comment",
        ALL,
        Extra("comments"),
    ),
    field(
        "sourceId",
        "SOURCE_ID",
        Text,
        "crm_status",
        "Source",
        LEAD | DEAL | CONTACT | COMPANY | DYNAMIC,
        Extra("sourceId"),
    ),
    field(
        "sourceDescription",
        "SOURCE_DESCRIPTION",
        Text,
        "string",
        "Source information",
        LEAD | DEAL | CONTACT | COMPANY | DYNAMIC,
        Extra("sourceDescription"),
    ),
    field(
        "phone",
        "PHONE",
        Multifield,
        "crm_multifield",
        "Phone",
        LEAD | CONTACT | COMPANY,
        Extra("PHONE"),
    ),
    field(
        "email",
        "EMAIL",
        Multifield,
        "crm_multifield",
        "E-mail",
        LEAD | CONTACT | COMPANY,
        Extra("EMAIL"),
    ),
    field(
        "web",
        "WEB",
        Multifield,
        "crm_multifield",
        "Website",
        LEAD | CONTACT | COMPANY,
        Extra("WEB"),
    ),
    field(
        "im",
        "IM",
        Multifield,
        "crm_multifield",
        "Messenger",
        LEAD | CONTACT | COMPANY,
        Extra("IM"),
    ),
    field(
        "assignedById",
        "ASSIGNED_BY_ID",
        User,
        "user",
        "Responsible person",
        ALL,
        Plain("assigned_by_id"),
    ),
    read_only(field(
        "createdBy",
        "CREATED_BY_ID",
        User,
        "user",
        "Created by",
        ALL,
        Plain("created_by"),
    )),
    read_only(field(
        "updatedBy",
        "MODIFY_BY_ID",
        User,
        "user",
        "Modified by",
        ALL,
        Plain("updated_by"),
    )),
    read_only(field(
        "createdTime",
        "DATE_CREATE",
        DateTime,
        "datetime",
        "Created on",
        ALL,
        Plain("created_time"),
    )),
    read_only(field(
        "updatedTime",
        "DATE_MODIFY",
        DateTime,
        "datetime",
        "Modified on",
        ALL,
        Plain("updated_time"),
    )),
];

/// The [`types`] bit of an entity type; 0 for a type that holds no items.
pub fn type_bit(entity_type_id: i64) -> u8 {
    match entity_type_id {
        EntityTypeId::LEAD => LEAD,
        EntityTypeId::DEAL => DEAL,
        EntityTypeId::CONTACT => CONTACT,
        EntityTypeId::COMPANY => COMPANY,
        EntityTypeId::QUOTE => QUOTE,
        EntityTypeId::SMART_INVOICE => SMART_INVOICE,
        id if EntityTypeId::is_dynamic(id) => DYNAMIC,
        _ => 0,
    }
}

/// The fields items of a type have, in answer order.
pub fn fields_of(entity_type_id: i64) -> impl Iterator<Item = &'static ItemField> {
    let bit = type_bit(entity_type_id);
    FIELDS.iter().filter(move |f| f.types & bit != 0)
}

/// The fields `crm.item.*` shows for a type (all but the legacy multi-fields).
pub fn crm_item_fields_of(entity_type_id: i64) -> impl Iterator<Item = &'static ItemField> {
    fields_of(entity_type_id).filter(|f| f.kind != Multifield)
}

/// A field of the type by either of its names, ignoring case (`ID`, `id`, `assignedById`,
/// `ASSIGNED_BY_ID`).
pub fn find(entity_type_id: i64, key: &str) -> Option<&'static ItemField> {
    fields_of(entity_type_id)
        .find(|f| f.name.eq_ignore_ascii_case(key) || f.legacy.eq_ignore_ascii_case(key))
}

/// A caller's value, checked and normalised for storage; `None` when it is not acceptable.
/// `Value::Null` means "no value".
pub fn normalise(field: &ItemField, value: &Value) -> Option<Value> {
    let blank =
        matches!(value, Value::Null) || matches!(value, Value::String(s) if s.trim().is_empty());
    Some(match field.kind {
        Text => match value {
            Value::String(s) => Value::String(s.clone()),
            Value::Number(n) => Value::String(n.to_string()),
            Value::Null => Value::Null,
            _ => return None,
        },
        _ if blank && !matches!(field.kind, IntegerList | Multifield) => Value::Null,
        Integer | User => json!(bind_int(value)?),
        Double => match value {
            Value::Number(n) => Value::Number(n.clone()),
            Value::String(s) => json!(s.trim().parse::<f64>().ok().filter(|f| f.is_finite())?),
            _ => return None,
        },
        YesNo => match value {
            Value::Bool(b) => json!(if *b { "Y" } else { "N" }),
            Value::String(s) if s.eq_ignore_ascii_case("y") || s == "1" || s == "true" => {
                json!("Y")
            }
            Value::String(s) if s.eq_ignore_ascii_case("n") || s == "0" || s == "false" => {
                json!("N")
            }
            _ => return None,
        },
        DateTime => json!(parse_datetime_utc(value.as_str()?)?),
        Date => json!(parse_date(value.as_str()?)?),
        Multifield => multifield_changes(value)?,
        IntegerList => {
            let items: Vec<&Value> = match value {
                Value::Array(a) => a.iter().collect(),
                Value::Object(o) => o.values().collect(),
                Value::Null => Vec::new(),
                Value::String(s) if s.is_empty() => Vec::new(),
                other => vec![other],
            };
            json!(items
                .into_iter()
                .map(bind_int)
                .collect::<Option<Vec<i64>>>()?)
        }
    })
}

/// A caller's multi-field entries as a list of changes `{ID?, VALUE, VALUE_TYPE, DELETE}`;
/// entries without a value and without an id are dropped. See [`merge_multifield`].
fn multifield_changes(value: &Value) -> Option<Value> {
    let entries: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => o.values().collect(),
        Value::Null => Vec::new(),
        Value::String(s) if s.is_empty() => Vec::new(),
        _ => return None,
    };
    let mut changes = Vec::new();
    for entry in entries {
        let Value::Object(e) = entry else { return None };
        let text = |k: &str| match e.get(k) {
            Some(Value::String(s)) => Some(Some(s.trim().to_string())),
            Some(Value::Number(n)) => Some(Some(n.to_string())),
            None | Some(Value::Null) => Some(None),
            Some(_) => None,
        };
        let value = text("VALUE")?.unwrap_or_default();
        let value_type = text("VALUE_TYPE")?.filter(|t| !t.is_empty());
        let id = e.get("ID").and_then(bind_int);
        let delete = e.get("DELETE").and_then(Value::as_str) == Some("Y");
        if id.is_none() && value.is_empty() {
            continue;
        }
        changes.push(json!({"ID": id, "VALUE": value, "VALUE_TYPE": value_type, "DELETE": delete}));
    }
    Some(Value::Array(changes))
}

/// Applies multi-field changes to the stored list, as the legacy methods do: an entry with a
/// known `ID` is changed (or removed with `DELETE: "Y"`, or an empty value), an entry without
/// one is appended with an id from `next_id`.
pub fn merge_multifield(
    stored: &Value,
    changes: &Value,
    mut next_id: impl FnMut() -> Result<i64, crate::error::ApiError>,
) -> Result<Value, crate::error::ApiError> {
    let mut list: Vec<Value> = stored.as_array().cloned().unwrap_or_default();
    for change in changes.as_array().into_iter().flatten() {
        let value = change["VALUE"].as_str().unwrap_or_default();
        let value_type = change["VALUE_TYPE"].as_str();
        match change["ID"].as_i64() {
            Some(id) => {
                let Some(pos) = list.iter().position(|e| e["ID"].as_i64() == Some(id)) else {
                    continue;
                };
                if change["DELETE"] == json!(true) || value.is_empty() {
                    list.remove(pos);
                } else {
                    list[pos]["VALUE"] = json!(value);
                    if let Some(t) = value_type {
                        list[pos]["VALUE_TYPE"] = json!(t);
                    }
                }
            }
            None => list.push(json!({
                "ID": next_id()?,
                "VALUE_TYPE": value_type.unwrap_or("WORK"),
                "VALUE": value,
            })),
        }
    }
    Ok(if list.is_empty() {
        Value::Null
    } else {
        Value::Array(list)
    })
}

/// The stored value of a field (`Null` when unset).
pub fn read(item: &ItemRecord, field: &ItemField) -> Value {
    match field.column {
        Plain("id") => json!(item.id),
        Plain("title") => json!(item.title),
        Plain("assigned_by_id") => json!(item.assigned_by_id),
        Plain("created_by") => json!(item.created_by),
        Plain("updated_by") => json!(item.updated_by),
        Plain("created_time") => json!(item.created_time),
        Plain("updated_time") => json!(item.updated_time),
        Plain(_) => Value::Null,
        Extra(key) => item.extra.get(key).cloned().unwrap_or(Value::Null),
    }
}

/// Stores a normalised value into a writable field.
pub fn write(item: &mut ItemRecord, field: &ItemField, value: Value) {
    match field.column {
        Plain("title") => item.title = value.as_str().unwrap_or_default().to_string(),
        Plain("assigned_by_id") => {
            item.assigned_by_id = value.as_i64().unwrap_or(item.assigned_by_id)
        }
        Plain(_) => {}
        Extra(key) if value.is_null() => {
            item.extra.remove(key);
        }
        Extra(key) => {
            item.extra.insert(key.to_string(), value);
        }
    }
}

/// Fills the defaults of the type's fields the caller left unset.
pub fn apply_defaults(item: &mut ItemRecord) {
    for field in fields_of(item.entity_type_id) {
        if let (Some(default), Extra(key)) = (field.default, field.column) {
            if !item.extra.contains_key(key) {
                if let Ok(value) = serde_json::from_str(default) {
                    item.extra.insert(key.to_string(), value);
                }
            }
        }
    }
}

/// A filter operand for the field; `None` when the value does not fit it.
pub fn sql_value(field: &ItemField, value: &Value) -> Option<SqlValue> {
    if matches!(field.kind, IntegerList | Multifield) {
        return None;
    }
    if value.is_null() {
        return Some(SqlValue::Null);
    }
    if field.kind == Text {
        return match value {
            Value::String(s) => Some(SqlValue::Text(s.clone())),
            Value::Number(n) => Some(SqlValue::Text(n.to_string())),
            _ => None,
        };
    }
    if matches!(value, Value::String(s) if s.is_empty()) {
        return Some(SqlValue::Null);
    }
    Some(match normalise(field, value)? {
        Value::Number(n) if field.kind == Double => SqlValue::Real(n.as_f64()?),
        Value::Number(n) => SqlValue::Int(n.as_i64()?),
        Value::String(s) => SqlValue::Text(s),
        _ => return None,
    })
}

/// The `crm.item.*` form of an item: every field of its type (null when unset), then
/// `entityTypeId`.
pub fn item_json(item: &ItemRecord) -> Value {
    let mut out = Map::new();
    for field in crm_item_fields_of(item.entity_type_id) {
        out.insert(field.name.into(), read(item, field));
    }
    out.insert("entityTypeId".into(), json!(item.entity_type_id));
    Value::Object(out)
}

/// A value as the legacy methods show it: numbers become strings, amounts get two decimals.
pub fn legacy_value(field: &ItemField, value: Value) -> Value {
    if field.kind == Multifield {
        let entries = value.as_array().cloned().unwrap_or_default();
        return Value::Array(
            entries
                .into_iter()
                .map(|e| {
                    json!({
                        "ID": e["ID"].as_i64().unwrap_or_default().to_string(),
                        "VALUE_TYPE": e["VALUE_TYPE"],
                        "VALUE": e["VALUE"],
                        "TYPE_ID": field.legacy,
                    })
                })
                .collect(),
        );
    }
    match value {
        Value::Number(n) if field.kind == Double => {
            Value::String(format!("{:.2}", n.as_f64().unwrap_or_default()))
        }
        Value::Number(n) => Value::String(n.to_string()),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| match v {
                    Value::Number(n) => Value::String(n.to_string()),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

/// The descriptor `*.fields` shows for a field; `crm.item.fields` adds `upperName`.
pub fn descriptor(field: &ItemField, with_upper_name: bool) -> Value {
    let mut d = json!({
        "type": field.wire_type,
        "isRequired": false,
        "isReadOnly": field.read_only,
        "isImmutable": false,
        "isMultiple": matches!(field.kind, IntegerList | Multifield),
        "isDynamic": false,
        "title": field.title,
    });
    if with_upper_name {
        d["upperName"] = json!(field.legacy);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_type_in_both_dialects() {
        for t in [1, 2, 3, 4, 7, 31, 130] {
            let names: Vec<String> = fields_of(t).map(|f| f.name.to_ascii_lowercase()).collect();
            let legacy: Vec<&str> = fields_of(t).map(|f| f.legacy).collect();
            for list in [names.iter().map(String::as_str).collect::<Vec<_>>(), legacy] {
                let unique: std::collections::HashSet<_> = list.iter().collect();
                assert_eq!(unique.len(), list.len(), "type {t}: {list:?}");
            }
        }
    }

    #[test]
    fn fields_are_found_by_either_name_in_any_case() {
        assert_eq!(find(2, "ID").map(|f| f.name), Some("id"));
        assert_eq!(
            find(2, "assigned_by_id").map(|f| f.name),
            Some("assignedById")
        );
        assert_eq!(find(2, "STAGEID").map(|f| f.name), Some("stageId"));
        assert!(find(3, "title").is_none(), "contacts have no title");
        assert!(find(2, "lastName").is_none());
    }

    #[test]
    fn values_are_normalised_by_kind() {
        let f = |name| find(2, name).unwrap();
        assert_eq!(
            normalise(f("opportunity"), &json!("150.5")),
            Some(json!(150.5))
        );
        assert_eq!(normalise(f("categoryId"), &json!("3")), Some(json!(3)));
        assert_eq!(normalise(f("categoryId"), &json!("x")), None);
        assert_eq!(normalise(f("opened"), &json!(true)), Some(json!("Y")));
        assert_eq!(
            normalise(f("contactIds"), &json!(["1", 2])),
            Some(json!([1, 2]))
        );
        assert_eq!(
            normalise(f("begindate"), &json!("2025-01-02")),
            Some(json!("2025-01-02T00:00:00+00:00"))
        );
        assert_eq!(normalise(f("companyId"), &json!("")), Some(Value::Null));
    }
}
