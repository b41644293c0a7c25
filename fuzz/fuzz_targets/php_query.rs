//! The PHP query/form decoder never panics, and decoding is stable under re-encoding:
//! parse(encode(parse(x))) == parse(x) — except for top-level names that keep a `[` (PHP turns
//! only an unterminated first bracket into `_`, so such a name has no encoding that PHP reads
//! back; found by this target, kept as a unit test in params.rs).
#![no_main]

use b24_protocol::params::{encode_php_query, parse_php_query, DecodeLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits { max_depth: 16, max_vars: 1000 };
    if let Ok(parsed) = parse_php_query(data, limits) {
        let once = parsed.into_json_object();
        if once.keys().any(|k| k.contains('[')) {
            return;
        }
        let encoded = encode_php_query(&once);
        let twice = parse_php_query(encoded.as_bytes(), DecodeLimits { max_depth: 16, max_vars: usize::MAX })
            .expect("our own encoding decodes")
            .into_json_object();
        assert_eq!(once, twice, "re-encoding changed {encoded:?}");
    }
});
