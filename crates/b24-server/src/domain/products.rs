//! The CRM product catalogue (`crm.product.*`, legacy `CCrmProduct`): products product rows may
//! name. Reading is open to every user; adding, changing and deleting need the CRM settings
//! right, which here is the administrator's. A deleted product's rows stay as they are: a row
//! keeps its own name, price and unit.

use super::changes::record_changed;
use super::Permissions;
use crate::error::ApiError;
use crate::store::records::{Record, RecordKind};
use crate::store::Tx;
use b24_protocol::values::is_php_numeric;
use serde_json::{json, Map, Value};

/// The id of the CRM catalogue (`CATALOG_ID`) on a new portal.
pub const CRM_CATALOG_ID: i64 = 1;

/// How a product field is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number.
    Int,
    /// A price.
    Double,
    /// Text.
    Text,
    /// `Y` / `N`.
    Char,
    /// A date-time, set by the server.
    Datetime,
    /// A picture (`product_file`); kept as given.
    File,
}

/// A field: legacy name, wire type, kind, title, read-only, required.
pub type ProductField = (&'static str, &'static str, Kind, &'static str, bool, bool);

/// The fields of a product, as `crm.product.fields` lists them and `get` shows them.
pub const FIELDS: &[ProductField] = &[
    ("ID", "integer", Kind::Int, "ID", true, false),
    ("CATALOG_ID", "integer", Kind::Int, "Catalog", true, false),
    ("PRICE", "double", Kind::Double, "Price", false, false),
    (
        "CURRENCY_ID",
        "string",
        Kind::Text,
        "Currency",
        false,
        false,
    ),
    ("NAME", "string", Kind::Text, "Name", false, true),
    ("CODE", "string", Kind::Text, "Symbolic code", false, false),
    (
        "DESCRIPTION",
        "string",
        Kind::Text,
        "Description",
        false,
        false,
    ),
    (
        "DESCRIPTION_TYPE",
        "string",
        Kind::Text,
        "Description type",
        false,
        false,
    ),
    ("ACTIVE", "char", Kind::Char, "Active", false, false),
    ("SECTION_ID", "integer", Kind::Int, "Section", false, false),
    ("SORT", "integer", Kind::Int, "Sort", false, false),
    ("VAT_ID", "integer", Kind::Int, "VAT rate", false, false),
    (
        "VAT_INCLUDED",
        "char",
        Kind::Char,
        "VAT included",
        false,
        false,
    ),
    (
        "MEASURE",
        "integer",
        Kind::Int,
        "Unit of measurement",
        false,
        false,
    ),
    ("XML_ID", "string", Kind::Text, "External ID", false, false),
    (
        "PREVIEW_PICTURE",
        "product_file",
        Kind::File,
        "Preview image",
        false,
        false,
    ),
    (
        "DETAIL_PICTURE",
        "product_file",
        Kind::File,
        "Full image",
        false,
        false,
    ),
    (
        "DATE_CREATE",
        "datetime",
        Kind::Datetime,
        "Created on",
        true,
        false,
    ),
    (
        "TIMESTAMP_X",
        "datetime",
        Kind::Datetime,
        "Modified on",
        true,
        false,
    ),
    (
        "MODIFIED_BY",
        "integer",
        Kind::Int,
        "Modified by",
        true,
        false,
    ),
    (
        "CREATED_BY",
        "integer",
        Kind::Int,
        "Created by",
        true,
        false,
    ),
];

/// Why a catalogue operation was refused.
#[derive(Debug)]
pub enum ProductError {
    /// Not the administrator.
    AccessDenied,
    /// No such product.
    NotFound,
    /// `NAME` is missing or empty on add.
    NameRequired,
    /// A value does not fit its field (the legacy name).
    InvalidValue(&'static str),
    /// The store failed.
    Store(ApiError),
}

impl From<ApiError> for ProductError {
    fn from(e: ApiError) -> Self {
        ProductError::Store(e)
    }
}

fn field(key: &str) -> Option<&'static ProductField> {
    FIELDS.iter().find(|f| f.0.eq_ignore_ascii_case(key))
}

fn normalise(f: &'static ProductField, value: &Value) -> Result<Value, ProductError> {
    let invalid = || ProductError::InvalidValue(f.0);
    let numeric = |v: &Value| -> Option<f64> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) if is_php_numeric(s) => s.trim().parse().ok(),
            _ => None,
        }
    };
    let empty = matches!(value, Value::Null) || value.as_str().is_some_and(str::is_empty);
    Ok(match f.2 {
        _ if empty && f.2 != Kind::Text => Value::Null,
        Kind::Int => json!(numeric(value).ok_or_else(invalid)? as i64),
        Kind::Double => json!(numeric(value).ok_or_else(invalid)?),
        Kind::Char => {
            let yes = match value {
                Value::String(s) => s.eq_ignore_ascii_case("Y"),
                Value::Bool(b) => *b,
                _ => return Err(invalid()),
            };
            json!(if yes { "Y" } else { "N" })
        }
        Kind::Text => match value {
            Value::String(s) => json!(s),
            Value::Number(n) => json!(n.to_string()),
            Value::Null => Value::Null,
            _ => return Err(invalid()),
        },
        Kind::File => value.clone(),
        Kind::Datetime => Value::Null,
    })
}

fn apply(extra: &mut Map<String, Value>, fields: &Map<String, Value>) -> Result<(), ProductError> {
    for (key, value) in fields {
        let Some(f) = field(key) else { continue };
        if f.4 {
            continue;
        }
        extra.insert(f.0.into(), normalise(f, value)?);
    }
    Ok(())
}

fn admin_only(permissions: &Permissions) -> Result<(), ProductError> {
    if permissions.admin {
        Ok(())
    } else {
        Err(ProductError::AccessDenied)
    }
}

/// Creates a product; returns its id.
pub fn add(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    fields: &Map<String, Value>,
) -> Result<i64, ProductError> {
    admin_only(permissions)?;
    let now = tx.now_iso();
    let mut extra = Map::new();
    for f in FIELDS {
        extra.insert(f.0.into(), Value::Null);
    }
    extra.insert("CATALOG_ID".into(), json!(CRM_CATALOG_ID));
    extra.insert("DESCRIPTION_TYPE".into(), json!("text"));
    extra.insert("ACTIVE".into(), json!("Y"));
    extra.insert("SORT".into(), json!(500));
    extra.insert("VAT_INCLUDED".into(), json!("N"));
    extra.insert("CURRENCY_ID".into(), json!("USD"));
    extra.insert("PRICE".into(), json!(0.0));
    apply(&mut extra, fields)?;
    if extra["NAME"].as_str().is_none_or(|s| s.trim().is_empty()) {
        return Err(ProductError::NameRequired);
    }
    extra.insert("DATE_CREATE".into(), json!(now));
    extra.insert("TIMESTAMP_X".into(), json!(now));
    extra.insert("CREATED_BY".into(), json!(permissions.user_id));
    extra.insert("MODIFIED_BY".into(), json!(permissions.user_id));
    let mut record = Record {
        id: 0,
        owner_type_id: 0,
        owner_id: 0,
        sort: extra["SORT"].as_i64().unwrap_or(500),
        extra,
    };
    record.id = tx.insert_record(RecordKind::Product, &record)?;
    if record.extra["XML_ID"].is_null() {
        // The core gives a product without one its id as the external id.
        record
            .extra
            .insert("XML_ID".into(), json!(record.id.to_string()));
        tx.update_record(RecordKind::Product, &record)?;
    }
    record_changed(
        tx,
        "ONCRMPRODUCTADD",
        json!({"ID": record.id}),
        permissions.user_id,
    )?;
    Ok(record.id)
}

/// A product.
pub fn get(tx: &mut dyn Tx, id: i64) -> Result<Record, ProductError> {
    tx.record(RecordKind::Product, id)?
        .ok_or(ProductError::NotFound)
}

/// Changes a product's fields.
pub fn update(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    fields: &Map<String, Value>,
) -> Result<(), ProductError> {
    let mut record = get(tx, id)?;
    admin_only(permissions)?;
    apply(&mut record.extra, fields)?;
    if record.extra["NAME"]
        .as_str()
        .is_none_or(|s| s.trim().is_empty())
    {
        return Err(ProductError::NameRequired);
    }
    record.sort = record.extra["SORT"].as_i64().unwrap_or(500);
    record
        .extra
        .insert("TIMESTAMP_X".into(), json!(tx.now_iso()));
    record
        .extra
        .insert("MODIFIED_BY".into(), json!(permissions.user_id));
    tx.update_record(RecordKind::Product, &record)?;
    record_changed(
        tx,
        "ONCRMPRODUCTUPDATE",
        json!({"ID": id}),
        permissions.user_id,
    )?;
    Ok(())
}

/// Deletes a product; rows that name it keep their own copy of its name and price.
pub fn delete(tx: &mut dyn Tx, permissions: &Permissions, id: i64) -> Result<(), ProductError> {
    get(tx, id)?;
    admin_only(permissions)?;
    tx.delete_record(RecordKind::Product, id)?;
    record_changed(
        tx,
        "ONCRMPRODUCTDELETE",
        json!({"ID": id}),
        permissions.user_id,
    )?;
    Ok(())
}

/// A product as `crm.product.get` shows it: every value a string (the price with two
/// decimals), `null` where unset, pictures as stored.
pub fn product_json(record: &Record) -> Value {
    let mut out = Map::new();
    for f in FIELDS {
        let value = if f.0 == "ID" {
            json!(record.id.to_string())
        } else {
            match (&record.extra.get(f.0).cloned().unwrap_or(Value::Null), f.2) {
                (Value::Null, _) => Value::Null,
                (v, Kind::Double) => json!(format!("{:.2}", v.as_f64().unwrap_or(0.0))),
                (Value::Number(n), _) => json!(n.to_string()),
                (v, _) => v.clone(),
            }
        };
        out.insert(f.0.into(), value);
    }
    Value::Object(out)
}
