//! The success envelope `{result, next?, total?, time}` and its `time` block (spec §1.4, §13).

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// How long one operating-time window lasts; `operating_reset_at` is counted from it.
pub const OPERATING_WINDOW_SECS: i64 = 600;

/// The `time` object on every successful answer. All keys are always present: the JS SDK crashes
/// without `operating`, and the Python SDK converts `operating_reset_at` to a timestamp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeBlock {
    /// Unix time (s, with µs) when the server began processing the request.
    #[serde(serialize_with = "php_float")]
    pub start: f64,
    /// Unix time when the answer was assembled.
    #[serde(serialize_with = "php_float")]
    pub finish: f64,
    /// `finish - start`.
    #[serde(serialize_with = "php_float")]
    pub duration: f64,
    /// Seconds spent inside the method handler.
    #[serde(serialize_with = "php_float")]
    pub processing: f64,
    /// `start` as ISO-8601 with offset (PHP `date('c')`).
    pub date_start: String,
    /// `finish` as ISO-8601 with offset.
    pub date_finish: String,
    /// Unix time when the oldest counted operating bucket expires. Absent (read as 0) from
    /// servers whose limiter is off.
    #[serde(default)]
    pub operating_reset_at: i64,
    /// Seconds of execution time counted for this (client, method) in the 10-minute window.
    /// Absent (read as 0) from servers whose limiter is off.
    #[serde(default, serialize_with = "php_float")]
    pub operating: f64,
}

impl TimeBlock {
    /// Builds the block from the request's start, the handler's duration and the limiter's view.
    pub fn new(
        start: f64,
        finish: f64,
        processing: f64,
        operating: f64,
        operating_reset_at: Option<i64>,
    ) -> Self {
        Self {
            start: round_micros(start),
            finish: round_micros(finish),
            duration: (finish - start).max(0.0),
            processing: processing.max(0.0),
            date_start: php_date(start),
            date_finish: php_date(finish),
            operating_reset_at: operating_reset_at
                .unwrap_or(start.floor() as i64 + OPERATING_WINDOW_SECS),
            operating,
        }
    }
}

fn round_micros(t: f64) -> f64 {
    (t * 1e6).round() / 1e6
}

/// PHP `date('c')` in UTC, e.g. `2024-04-03T08:26:32+00:00`.
pub fn php_date(unix: f64) -> String {
    let secs = unix.floor() as i64;
    let utc: DateTime<Utc> = Utc.timestamp_opt(secs, 0).single().unwrap_or_default();
    let offset = FixedOffset::east_opt(0).expect("zero offset is valid");
    // RFC 3339 with a numeric offset is `date('c')` for years 0–9999; it is written directly,
    // where `format` parses its pattern again on every call (three dates per answer).
    utc.with_timezone(&offset)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// Serialises a float as PHP's `json_encode` does: a zero fraction prints as an integer.
fn php_float<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        serializer.serialize_i64(*value as i64)
    } else {
        serializer.serialize_f64(*value)
    }
}

/// A successful answer. Keys serialise in the order the real service uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuccessEnvelope {
    /// Whatever the method returned.
    pub result: Value,
    /// Offset of the next page, only when more rows exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
    /// Total matching rows, on counted list calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// The time block.
    pub time: TimeBlock,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn php_date_is_php_date_c_in_utc_across_the_years_a_clock_can_be_set_to() {
        let offset = FixedOffset::east_opt(0).unwrap();
        for unix in [
            0.0,
            0.999,
            1_712_132_792.25,
            946_684_799.0,
            951_782_400.0,
            1_893_456_000.5,
            4_102_444_799.0,
            253_402_300_799.0,
        ] {
            let by_pattern = Utc
                .timestamp_opt(unix as i64, 0)
                .unwrap()
                .with_timezone(&offset)
                .format("%Y-%m-%dT%H:%M:%S%:z")
                .to_string();
            assert_eq!(php_date(unix), by_pattern, "{unix}");
        }
        assert_eq!(php_date(1_712_132_792.9), "2024-04-03T08:26:32+00:00");
    }

    #[test]
    fn the_time_block_has_every_key_and_php_number_shapes() {
        let block = TimeBlock::new(1712132792.910734, 1712132793.5, 0.25, 0.0, None);
        let v = serde_json::to_value(&block).unwrap();
        assert_eq!(v["start"], json!(1712132792.910734));
        assert_eq!(v["operating"], json!(0));
        assert_eq!(v["operating_reset_at"], json!(1712132792 + 600));
        assert_eq!(v["date_start"], json!("2024-04-03T08:26:32+00:00"));
        assert_eq!(v["date_finish"], json!("2024-04-03T08:26:33+00:00"));
        assert_eq!(
            v.as_object().unwrap().keys().collect::<Vec<_>>(),
            [
                "start",
                "finish",
                "duration",
                "processing",
                "date_start",
                "date_finish",
                "operating_reset_at",
                "operating"
            ]
        );
    }

    #[test]
    fn next_and_total_are_left_out_when_absent() {
        let env = SuccessEnvelope {
            result: json!(true),
            next: None,
            total: None,
            time: TimeBlock::new(1.0, 2.0, 0.0, 0.0, None),
        };
        let v = serde_json::to_value(&env).unwrap();
        assert_eq!(
            v.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["result", "time"]
        );
    }
}
