//! Filter and order fields of the record lists (`crm.product.list`, `crm.item.productrow.list`,
//! `crm.requisite.list`, …): a static table of names, each stored in a column of `crm_records`
//! or under a key of its JSON body.

use super::listing::{ListField, ListFields};
use crate::store::{Column, SqlValue};
use b24_protocol::values::is_php_numeric;
use serde_json::Value;

/// How a field's filter values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Whole numbers (ids, sort, codes).
    Int,
    /// Decimal numbers (prices, rates).
    Real,
    /// Text (names, flags, dates).
    Text,
}

/// One filterable field: its name as callers write it, where it is stored, its type.
pub type StaticField = (&'static str, Column, ValueType);

/// The fields of one record list.
pub struct StaticFields(pub &'static [StaticField]);

/// A filter value read as a field's type; `None` when it does not fit.
pub fn convert(value_type: ValueType, value: &Value) -> Option<SqlValue> {
    match (value_type, value) {
        (_, Value::Null) => Some(SqlValue::Null),
        (ValueType::Text, Value::String(s)) => Some(SqlValue::Text(s.clone())),
        (ValueType::Text, Value::Number(n)) => Some(SqlValue::Text(n.to_string())),
        (ValueType::Int, Value::Number(n)) => n.as_i64().map(SqlValue::Int),
        (ValueType::Int, Value::String(s)) if is_php_numeric(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .map(|f| SqlValue::Int(f as i64)),
        (ValueType::Real, Value::Number(n)) => n.as_f64().map(SqlValue::Real),
        (ValueType::Real, Value::String(s)) if is_php_numeric(s) => {
            s.trim().parse::<f64>().ok().map(SqlValue::Real)
        }
        _ => None,
    }
}

impl StaticFields {
    /// The field of a name, ignoring case.
    pub fn find(&self, key: &str) -> Option<&'static StaticField> {
        self.0
            .iter()
            .find(|(name, ..)| name.eq_ignore_ascii_case(key))
    }
}

impl ListFields for StaticFields {
    fn field(&self, key: &str) -> Option<ListField> {
        let (_, column, value_type) = *self.find(key)?;
        Some(ListField {
            column,
            convert: Box::new(move |v| convert(value_type, v)),
        })
    }
}
