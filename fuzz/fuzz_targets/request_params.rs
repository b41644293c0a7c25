//! Merging a query string with a form, JSON or raw body never panics, whatever the bytes.
#![no_main]

use b24_protocol::params::DecodeLimits;
use b24_protocol::request::{request_params, BodyKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let split = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    let (query, body) = rest.split_at(split);
    let kind = match selector % 3 {
        0 => BodyKind::Form,
        1 => BodyKind::Json,
        _ => BodyKind::Raw,
    };
    let _ = request_params(query, body.get(1..).unwrap_or(&[]), kind, DecodeLimits::default());
});
