//! Parsing a batch command and substituting `$result[...]`-style references never panics, for any
//! command text and any earlier results.
#![no_main]

use b24_protocol::batch::{split_command, substitute, BatchResults};
use b24_protocol::params::{parse_php_query, DecodeLimits};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut results = BatchResults::default();
    results.result.insert("a".into(), json!({"item": {"id": 7, "title": "ä€𝄞"}, "items": [{"id": 1}, null]}));
    results.result.insert("0".into(), json!([1, "x", {"k": [true]}]));
    results.next.insert("a".into(), json!(50));
    results.error.insert("b".into(), json!({"error": "NOT_FOUND", "error_description": "Item not found"}));
    let (_method, query) = split_command(text);
    if let Ok(params) = parse_php_query(query.as_bytes(), DecodeLimits::default()) {
        let _ = substitute(serde_json::Value::Object(params.into_json_object()), &results);
    }
    let _ = substitute(serde_json::Value::String(text.to_string()), &results);
});
