//! The success envelope `{result, next?, total?, time}` and its `time` block (spec §1.4, §13).

use chrono::{DateTime, Datelike, FixedOffset, TimeZone, Timelike, Utc};
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

impl TimeBlock {
    /// Writes the block as JSON, exactly as `serde_json` serialises it.
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        out.extend_from_slice(b"{\"start\":");
        write_php_float(out, self.start);
        out.extend_from_slice(b",\"finish\":");
        write_php_float(out, self.finish);
        out.extend_from_slice(b",\"duration\":");
        write_php_float(out, self.duration);
        out.extend_from_slice(b",\"processing\":");
        write_php_float(out, self.processing);
        out.extend_from_slice(b",\"date_start\":");
        write_str(out, &self.date_start)?;
        out.extend_from_slice(b",\"date_finish\":");
        write_str(out, &self.date_finish)?;
        out.extend_from_slice(b",\"operating_reset_at\":");
        out.extend_from_slice(
            itoa::Buffer::new()
                .format(self.operating_reset_at)
                .as_bytes(),
        );
        out.extend_from_slice(b",\"operating\":");
        write_php_float(out, self.operating);
        out.push(b'}');
        Ok(())
    }
}

/// [`php_float`] written directly: what `serde_json` writes for the `i64` or `f64` it is given.
fn write_php_float(out: &mut Vec<u8>, value: f64) {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        out.extend_from_slice(itoa::Buffer::new().format(value as i64).as_bytes());
    } else {
        // `serde_json`'s own float formatting (and `null` for what is not finite).
        serde_json::to_writer(out, &value).expect("a Vec takes every write");
    }
}

/// A JSON string: as is when nothing in it needs escaping (a date), else by `serde_json`.
fn write_str(out: &mut Vec<u8>, value: &str) -> serde_json::Result<()> {
    if value.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(out, value)
    }
}

fn round_micros(t: f64) -> f64 {
    (t * 1e6).round() / 1e6
}

/// PHP `date('c')` in UTC, e.g. `2024-04-03T08:26:32+00:00`.
pub fn php_date(unix: f64) -> String {
    let secs = unix.floor() as i64;
    let utc: DateTime<Utc> = Utc.timestamp_opt(secs, 0).single().unwrap_or_default();
    // The fields read from the naive time: through `DateTime` each would apply the offset again.
    let naive = utc.naive_utc();
    let year = naive.year();
    if (0..=9999).contains(&year) {
        // Written digit by digit (the dates of every answer's time block).
        let mut text = String::with_capacity(25);
        let mut put = |n: u32, width: u32, then: Option<char>| {
            for i in (0..width).rev() {
                text.push(char::from(b'0' + (n / 10u32.pow(i) % 10) as u8));
            }
            text.extend(then);
        };
        put(year as u32, 4, Some('-'));
        put(naive.month(), 2, Some('-'));
        put(naive.day(), 2, Some('T'));
        put(naive.hour(), 2, Some(':'));
        put(naive.minute(), 2, Some(':'));
        put(naive.second(), 2, None);
        text.push_str("+00:00");
        return text;
    }
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

impl SuccessEnvelope {
    /// The envelope as JSON: byte for byte what `serde_json::to_vec` makes of it, with the keys
    /// and the time block written directly (this is on every successful answer).
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(320);
        out.extend_from_slice(b"{\"result\":");
        serde_json::to_writer(&mut out, &self.result)?;
        if let Some(next) = self.next {
            out.extend_from_slice(b",\"next\":");
            out.extend_from_slice(itoa::Buffer::new().format(next).as_bytes());
        }
        if let Some(total) = self.total {
            out.extend_from_slice(b",\"total\":");
            out.extend_from_slice(itoa::Buffer::new().format(total).as_bytes());
        }
        out.extend_from_slice(b",\"time\":");
        self.time.write_json(&mut out)?;
        out.push(b'}');
        Ok(out)
    }
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
    fn to_json_writes_the_exact_bytes_serde_json_writes() {
        let env = SuccessEnvelope {
            result: json!("2024-04-03T08:26:32+00:00"),
            next: None,
            total: None,
            time: TimeBlock::new(1712132792.910734, 1712132792.9109, 0.000012, 0.0, None),
        };
        let exact = concat!(
            r#"{"result":"2024-04-03T08:26:32+00:00","time":{"start":1712132792.910734,"#,
            r#""finish":1712132792.9109,"duration":0.00016617774963378906,"processing":0.000012,"#,
            r#""date_start":"2024-04-03T08:26:32+00:00","date_finish":"2024-04-03T08:26:32+00:00","#,
            r#""operating_reset_at":1712133392,"operating":0}}"#
        );
        let serde = String::from_utf8(serde_json::to_vec(&env).unwrap()).unwrap();
        assert_eq!(String::from_utf8(env.to_json().unwrap()).unwrap(), serde);
        assert_eq!(serde, exact);
        let mut cases = vec![env];
        for (result, next, total) in [
            (
                json!({"a": [1, 2.5, null, "x\"y\\z\u{1}é"], "b": {}}),
                Some(50),
                Some(120),
            ),
            (json!([]), None, Some(0)),
            (json!(null), Some(u64::MAX), None),
        ] {
            for (start, finish, processing, operating, reset) in [
                (1.0, 2.0, 0.0, 0.0, None),
                (0.5, 0.25, -1.0, 1e300, Some(-5)),
                (
                    1712132792.25,
                    1712132793.75,
                    123.456,
                    0.1 + 0.2,
                    Some(i64::MAX),
                ),
                (
                    253_402_300_799.5,
                    253_402_300_800.0,
                    f64::NAN,
                    f64::INFINITY,
                    None,
                ),
                (9.1e15, -9.1e15, 8.9e15, -0.0, Some(0)),
            ] {
                cases.push(SuccessEnvelope {
                    result: result.clone(),
                    next,
                    total,
                    time: TimeBlock::new(start, finish, processing, operating, reset),
                });
            }
        }
        let mut odd = cases[1].clone();
        odd.time.date_start = "a\"b\\c\n\u{7f}ü".into();
        cases.push(odd);
        for env in cases {
            assert_eq!(
                String::from_utf8(env.to_json().unwrap()).unwrap(),
                String::from_utf8(serde_json::to_vec(&env).unwrap()).unwrap()
            );
        }
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
