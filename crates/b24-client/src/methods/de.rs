//! Legacy CRM methods send every value as a string (`"ID": "410"`, `"COMPLETED": "Y"`); these
//! read them as numbers and booleans while still accepting real JSON numbers.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `"410"`, `410` or `null`/`""` → `Option<i64>`.
pub(crate) fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Like [`opt_int`] for a value that must be there.
pub(crate) fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    opt_int(d)?.ok_or_else(|| serde::de::Error::custom("expected an integer or a numeric string"))
}

/// `"Y"`/`"N"`, `true`/`false` → `Option<bool>`.
pub(crate) fn opt_yes_no<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Bool(b)) => Some(b),
        Some(Value::String(s)) if s == "Y" => Some(true),
        Some(Value::String(s)) if s == "N" => Some(false),
        Some(Value::Number(n)) => Some(n.as_i64() != Some(0)),
        _ => None,
    })
}

/// An empty string or `null` → `None`.
pub(crate) fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}
