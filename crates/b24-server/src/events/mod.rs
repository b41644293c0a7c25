//! Outbound events (spec §9): which events exist, which handler URLs are acceptable, the
//! application token, and the form-encoded payload. [`sender`] delivers the outbox.
//!
//! The outbox row itself is written by [`crate::domain::changes`], in the transaction of the
//! change, so an event exists exactly when its change committed.

pub mod sender;

pub use crate::config::TargetPolicy;
pub use crate::secret::{application_token, webhook_token, EVENT_KEY};

use crate::error::ApiError;
use b24_protocol::{ErrorCode, RestError};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::net::IpAddr;

/// The events this server fires, by the scope an application needs to bind them.
/// (`""`: any application may bind it.)
pub const EVENTS: &[(&str, &str)] = &[
    ("", "ONAPPINSTALL"),
    ("crm", "ONCRMLEADADD"),
    ("crm", "ONCRMLEADUPDATE"),
    ("crm", "ONCRMLEADDELETE"),
    ("crm", "ONCRMDEALADD"),
    ("crm", "ONCRMDEALUPDATE"),
    ("crm", "ONCRMDEALDELETE"),
    ("crm", "ONCRMCOMPANYADD"),
    ("crm", "ONCRMCOMPANYUPDATE"),
    ("crm", "ONCRMCOMPANYDELETE"),
    ("crm", "ONCRMCONTACTADD"),
    ("crm", "ONCRMCONTACTUPDATE"),
    ("crm", "ONCRMCONTACTDELETE"),
    ("crm", "ONCRMQUOTEADD"),
    ("crm", "ONCRMQUOTEUPDATE"),
    ("crm", "ONCRMQUOTEDELETE"),
    ("crm", "ONCRMACTIVITYADD"),
    ("crm", "ONCRMACTIVITYUPDATE"),
    ("crm", "ONCRMACTIVITYDELETE"),
    ("crm", "ONCRMDYNAMICITEMADD"),
    ("crm", "ONCRMDYNAMICITEMUPDATE"),
    ("crm", "ONCRMDYNAMICITEMDELETE"),
    ("crm", "ONCRMTIMELINECOMMENTADD"),
    ("crm", "ONCRMTIMELINECOMMENTUPDATE"),
    ("crm", "ONCRMTIMELINECOMMENTDELETE"),
    ("crm", "ONCRMPRODUCTADD"),
    ("crm", "ONCRMPRODUCTUPDATE"),
    ("crm", "ONCRMPRODUCTDELETE"),
    ("crm", "ONCRMREQUISITEADD"),
    ("crm", "ONCRMREQUISITEUPDATE"),
    ("crm", "ONCRMREQUISITEDELETE"),
    ("crm", "ONCRMBANKDETAILADD"),
    ("crm", "ONCRMBANKDETAILUPDATE"),
    ("crm", "ONCRMBANKDETAILDELETE"),
    ("crm", "ONCRMADDRESSREGISTER"),
    ("crm", "ONCRMADDRESSUNREGISTER"),
    ("task", "ONTASKADD"),
    ("task", "ONTASKUPDATE"),
    ("task", "ONTASKDELETE"),
    ("task", "ONTASKCOMMENTADD"),
    ("task", "ONTASKCOMMENTDELETE"),
];

/// The scope that offers `event` (upper-case), if this server fires it.
pub fn scope_of(event: &str) -> Option<&'static str> {
    EVENTS.iter().find(|(_, e)| *e == event).map(|(s, _)| *s)
}

/// The longest handler URL accepted (the usual limit of URLs on the web; every delivery and
/// `event.get` carries it, so it must not be megabytes).
pub const MAX_HANDLER_URL: usize = 2048;

/// Checks a handler URL as `event.bind` does (spec §9.1): a host containing a dot, then an http
/// or https scheme; then, for a literal IP address, the operator's [`TargetPolicy`]. Host names
/// are checked again after resolution, at every delivery.
pub fn check_handler_url(url: &str, policy: TargetPolicy) -> Result<(), ApiError> {
    if url.trim().len() > MAX_HANDLER_URL {
        return Err(RestError::with_message(
            ErrorCode::WrongHandlerUrl,
            "Wrong handler URL: a handler URL has at most 2048 characters",
        )
        .into());
    }
    let parsed = reqwest::Url::parse(url.trim()).ok();
    if parsed
        .as_ref()
        .is_some_and(|u| !u.username().is_empty() || u.password().is_some())
    {
        // Stored handler URLs are shown back by `event.get`: a password in one would leak.
        return Err(RestError::with_message(
            ErrorCode::WrongHandlerUrl,
            "Wrong handler URL: credentials in the URL are not accepted; authenticate events with the application_token they carry",
        )
        .into());
    }
    let host = parsed
        .as_ref()
        .and_then(|u| u.host_str())
        .filter(|h| h.find('.').is_some_and(|i| i > 0))
        .ok_or(ErrorCode::WrongHandlerUrl)?;
    let scheme = parsed.as_ref().map(|u| u.scheme()).unwrap_or("");
    if scheme != "http" && scheme != "https" {
        return Err(ErrorCode::UnsupportedProtocol.into());
    }
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        if !policy.allows(ip) {
            return Err(RestError::with_message(
                ErrorCode::WrongHandlerUrl,
                "Wrong handler URL: this server does not send events to private network addresses",
            )
            .into());
        }
    }
    Ok(())
}

/// Everything but `A-Z a-z 0-9 - _ . ~` is percent-encoded, as PHP's `http_build_query` does.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `application/x-www-form-urlencoded` body of PHP-style `key[sub]=value` pairs, in order;
/// spaces become `+` as in PHP's default (RFC 1738) encoding.
pub fn form_encode(pairs: &[(String, String)]) -> String {
    let encode = |s: &str| {
        utf8_percent_encode(s, QUERY_VALUE)
            .to_string()
            .replace("%20", "+")
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Flattens a JSON value under `prefix` into PHP-style pairs (`data[FIELDS][ID]=5`).
pub fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}[{k}]"), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        Value::Bool(b) => out.push((prefix.to_string(), if *b { "1" } else { "" }.into())),
        Value::Null => out.push((prefix.to_string(), String::new())),
        Value::Number(n) => out.push((prefix.to_string(), n.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(url: &str) -> Option<&'static str> {
        check_handler_url(url, TargetPolicy::default())
            .err()
            .map(|e| match e {
                ApiError::Rest(r) => r.code.wire(),
                ApiError::Internal(_) => "internal",
            })
    }

    #[test]
    fn handler_urls_need_a_dotted_host_then_http_or_https() {
        assert_eq!(code("https://example.com/handler"), None);
        assert_eq!(code("http://127.0.0.1:8080/h"), None);
        assert_eq!(code("http://localhost/h"), Some("ERROR_WRONG_HANDLER_URL"));
        assert_eq!(code("example.com/h"), Some("ERROR_WRONG_HANDLER_URL"));
        assert_eq!(code(""), Some("ERROR_WRONG_HANDLER_URL"));
        assert_eq!(
            code("ftp://example.com/h"),
            Some("ERROR_UNSUPPORTED_PROTOCOL")
        );
        assert_eq!(code("http://10.0.0.5/h"), Some("ERROR_WRONG_HANDLER_URL"));
        assert_eq!(
            code("http://169.254.169.254/h"),
            Some("ERROR_WRONG_HANDLER_URL")
        );
    }

    #[test]
    fn handler_urls_are_bounded_in_length_and_carry_no_credentials() {
        let longest = format!("https://example.com/{}", "a".repeat(MAX_HANDLER_URL - 20));
        assert_eq!(longest.len(), MAX_HANDLER_URL);
        assert_eq!(code(&longest), None);
        assert_eq!(
            code(&format!("{longest}a")),
            Some("ERROR_WRONG_HANDLER_URL")
        );
        assert_eq!(
            code("https://user:secret@example.com/h"),
            Some("ERROR_WRONG_HANDLER_URL")
        );
        assert_eq!(
            code("https://user@example.com/h"),
            Some("ERROR_WRONG_HANDLER_URL")
        );
    }

    #[test]
    fn the_target_policy_allows_loopback_and_refuses_private_ranges_by_default() {
        let default = TargetPolicy::default();
        for ip in ["127.0.0.1", "::1", "93.184.216.34", "2606:4700::1111"] {
            assert!(default.allows(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!default.allows(ip.parse().unwrap()), "{ip}");
        }
        let open = TargetPolicy {
            allow_private: true,
            ..default
        };
        assert!(open.allows("10.1.2.3".parse().unwrap()));
        let closed = TargetPolicy {
            allow_loopback: false,
            ..default
        };
        assert!(!closed.allows("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn tokens_are_32_hex_characters_that_depend_on_key_and_client() {
        let a = application_token(b"key one", "local.1");
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, application_token(b"key one", "local.1"));
        assert_ne!(a, application_token(b"key two", "local.1"));
        assert_ne!(a, application_token(b"key one", "local.2"));
        assert_ne!(webhook_token(b"key one", 1), webhook_token(b"key one", 2));
    }

    #[test]
    fn payloads_are_encoded_like_http_build_query() {
        let mut pairs = vec![("event".to_string(), "ONCRMACTIVITYADD".to_string())];
        flatten(
            "data",
            &serde_json::json!({"FIELDS": {"ID": 7}}),
            &mut pairs,
        );
        pairs.push(("auth[domain]".into(), "a b&c".into()));
        assert_eq!(
            form_encode(&pairs),
            "event=ONCRMACTIVITYADD&data%5BFIELDS%5D%5BID%5D=7&auth%5Bdomain%5D=a+b%26c"
        );
    }
}
