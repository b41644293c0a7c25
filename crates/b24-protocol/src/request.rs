//! Assembling a method's parameters from the query string and the body (spec §1.2).

use crate::params::{parse_php_query, DecodeLimits, ParamError};
use serde_json::{Map, Value};

/// How the body of a request is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/x-www-form-urlencoded`: PHP fills `$_POST` from it.
    Form,
    /// Exactly `application/json`: decoded as JSON, silently empty when invalid.
    Json,
    /// Anything else: a non-empty raw body is read with `parse_str` rules.
    Raw,
}

impl BodyKind {
    /// Classifies a `Content-Type` header value (parameters after `;` are ignored).
    pub fn from_content_type(content_type: Option<&str>) -> Self {
        let essence = content_type
            .and_then(|ct| ct.split(';').next())
            .map(|s| s.trim().to_ascii_lowercase())
            .unwrap_or_default();
        match essence.as_str() {
            "application/x-www-form-urlencoded" => BodyKind::Form,
            "application/json" => BodyKind::Json,
            _ => BodyKind::Raw,
        }
    }
}

/// Merges the query string and body into one parameter map, as `CRestUtil::getRequestData` does:
/// form fields over the query; otherwise a JSON (or raw form) body over the query, replacing
/// top-level keys whole.
pub fn request_params(
    query: &[u8],
    body: &[u8],
    kind: BodyKind,
    limits: DecodeLimits,
) -> Result<Map<String, Value>, ParamError> {
    let mut params = parse_php_query(query, limits)?.into_json_object();
    let body_params = match kind {
        _ if body.is_empty() => Map::new(),
        BodyKind::Form | BodyKind::Raw => parse_php_query(body, limits)?.into_json_object(),
        BodyKind::Json => json_body(body),
    };
    for (key, value) in body_params {
        params.insert(key, value);
    }
    Ok(params)
}

/// A JSON body as PHP's `json_decode(..., true)` would see it: invalid JSON or a scalar is empty;
/// a top-level list becomes a map keyed `0..n-1`.
fn json_body(body: &[u8]) -> Map<String, Value> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merged(query: &str, body: &str, ct: Option<&str>) -> Value {
        Value::Object(
            request_params(
                query.as_bytes(),
                body.as_bytes(),
                BodyKind::from_content_type(ct),
                DecodeLimits::default(),
            )
            .unwrap(),
        )
    }

    #[test]
    fn a_json_body_replaces_top_level_query_keys_whole() {
        assert_eq!(
            merged(
                "a[x]=1&b=2",
                r#"{"a":{"y":3}}"#,
                Some("application/json; charset=utf-8")
            ),
            json!({"a": {"y": 3}, "b": "2"})
        );
    }

    #[test]
    fn invalid_or_scalar_json_is_treated_as_empty() {
        assert_eq!(
            merged("b=2", "{nope", Some("application/json")),
            json!({"b": "2"})
        );
        assert_eq!(merged("", "5", Some("application/json")), json!({}));
    }

    #[test]
    fn form_bodies_and_untyped_bodies_use_php_keys() {
        assert_eq!(
            merged(
                "",
                "fields%5BTITLE%5D=x",
                Some("application/x-www-form-urlencoded")
            ),
            json!({"fields": {"TITLE": "x"}})
        );
        assert_eq!(merged("", "a[]=1", Some("text/plain")), json!({"a": ["1"]}));
        assert_eq!(merged("", "a[]=1", None), json!({"a": ["1"]}));
    }
}
