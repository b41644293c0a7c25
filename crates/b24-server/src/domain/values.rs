//! Date and time values as callers send them and as they are stored: ISO-8601 text that sorts
//! the way time does.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

const NAIVE_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%d.%m.%Y %H:%M:%S",
];

/// Parses the date-time forms callers send (`2025-02-03T15:00:00`, with or without an offset, or
/// with a space instead of `T`) keeping the caller's offset; naive times are taken as UTC, the
/// server's time zone.
pub fn parse_datetime(text: &str) -> Option<String> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.format("%Y-%m-%dT%H:%M:%S%:z").to_string());
    }
    NAIVE_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|dt| dt.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
}

/// Like [`parse_datetime`] but converted to UTC, so stored values compare correctly as text;
/// a bare date (`2025-02-03`) is its midnight.
pub fn parse_datetime_utc(text: &str) -> Option<String> {
    let text = text.trim();
    let utc = if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        dt.with_timezone(&Utc).naive_utc()
    } else if let Some(dt) = NAIVE_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    {
        dt
    } else {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(text, "%d.%m.%Y"))
            .ok()?
            .and_hms_opt(0, 0, 0)?
    };
    Some(utc.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
}

/// A date field's value: the date at midnight UTC, in the date-time form the service answers.
pub fn parse_date(text: &str) -> Option<String> {
    let utc = parse_datetime_utc(text)?;
    Some(format!("{}T00:00:00+00:00", &utc[..10]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_accept_the_forms_callers_send() {
        assert_eq!(
            parse_datetime("2025-02-03T15:00:00").as_deref(),
            Some("2025-02-03T15:00:00+00:00")
        );
        assert_eq!(
            parse_datetime("2025-02-03T15:00:00+03:00").as_deref(),
            Some("2025-02-03T15:00:00+03:00")
        );
        assert_eq!(
            parse_datetime("2025-02-03 15:00:00").as_deref(),
            Some("2025-02-03T15:00:00+00:00")
        );
        assert_eq!(parse_datetime("tomorrow"), None);
    }

    #[test]
    fn stored_times_are_utc_and_dates_are_midnight() {
        assert_eq!(
            parse_datetime_utc("2025-02-03T01:00:00+03:00").as_deref(),
            Some("2025-02-02T22:00:00+00:00")
        );
        assert_eq!(
            parse_datetime_utc("2025-02-03").as_deref(),
            Some("2025-02-03T00:00:00+00:00")
        );
        assert_eq!(
            parse_date("2025-02-03T15:00:00").as_deref(),
            Some("2025-02-03T00:00:00+00:00")
        );
        assert_eq!(parse_date("soon"), None);
    }
}
