//! PHP value coercions that callers rely on: `is_numeric` integers, truthiness, list paging.

use serde_json::Value;

/// Rows per list page; fixed by the service (spec §1.6).
pub const PAGE_SIZE: u64 = 50;

/// PHP's `is_numeric` for strings: optional surrounding whitespace, sign, digits with an optional
/// fraction, optional exponent. Hex and empty strings are not numeric.
pub fn is_php_numeric(s: &str) -> bool {
    let t = s.trim_matches(|c: char| c == ' ' || ('\t'..='\r').contains(&c));
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok =
        digits(int_part) && digits(frac_part) && !(int_part.is_empty() && frac_part.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

/// Binds a value to an `int` controller parameter as the D7 binder does: JSON integers, and
/// anything `is_numeric` (truncated toward zero). `None` means "not acceptable" (code `100`);
/// values outside the `i64` range are not acceptable either.
pub fn bind_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(float_to_int)),
        Value::String(s) if is_php_numeric(s) => {
            let t = s.trim();
            t.parse::<i64>()
                .ok()
                .or_else(|| t.parse::<f64>().ok().and_then(float_to_int))
        }
        _ => None,
    }
}

fn float_to_int(f: f64) -> Option<i64> {
    let t = f.trunc();
    (t.is_finite() && t >= i64::MIN as f64 && t < i64::MAX as f64).then_some(t as i64)
}

/// How a value is shown inside `Invalid value {…}` messages (PHP string conversion).
pub fn php_display(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(true) => "1".into(),
        Value::Bool(false) => String::new(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => "Array".into(),
    }
}

/// PHP truthiness: `""`, `"0"`, `0`, `false`, `null` and empty arrays are false; all else true
/// (so the form value `"false"` is true, as on the real service).
pub fn php_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !(s.is_empty() || s == "0"),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// PHP `intval` for loose values such as `start`: non-numeric text is 0.
pub fn php_intval(value: &Value) -> i64 {
    match value {
        Value::Bool(b) => *b as i64,
        Value::String(s) => {
            let t = s.trim_start();
            let end = t
                .char_indices()
                .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+')))
                .map(|(i, c)| i + c.len_utf8())
                .last()
                .unwrap_or(0);
            t[..end].parse().unwrap_or(0)
        }
        other => bind_int(other).unwrap_or(0),
    }
}

/// One page of a list, from the `start` parameter (spec §1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows to skip: `start` rounded down to a page boundary.
    pub offset: u64,
    /// `false` for `start=-1` (and other negatives): no `total`, no `next`, no counting.
    pub count: bool,
}

impl Page {
    /// Reads `start`.
    pub fn from_start(start: Option<&Value>) -> Self {
        let start = start.map(php_intval).unwrap_or(0);
        if start < 0 {
            return Page {
                offset: 0,
                count: false,
            };
        }
        Page {
            offset: (start as u64 / PAGE_SIZE) * PAGE_SIZE,
            count: true,
        }
    }

    /// `next` for a page of `rows` rows out of `total`: only when more rows exist.
    pub fn next(&self, rows: usize, total: u64) -> Option<u64> {
        let next = self.offset + rows as u64;
        (self.count && next < total).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_int_binder_accepts_what_php_accepts() {
        for (v, want) in [
            (json!(42), Some(42)),
            (json!("42"), Some(42)),
            (json!("-3"), Some(-3)),
            (json!(" 7"), Some(7)),
            (json!("1e3"), Some(1000)),
            (json!("1.5"), Some(1)),
            (json!(2.9), Some(2)),
            (json!(""), None),
            (json!("abc"), None),
            (json!("0x1A"), None),
            (json!(true), None),
            (json!(null), None),
            (json!([1]), None),
            (json!({"a": 1}), None),
            (json!("1e400"), None),
            (json!("9223372036854775808"), None),
        ] {
            assert_eq!(bind_int(&v), want, "{v}");
        }
    }

    #[test]
    fn truthiness_follows_php() {
        assert!(php_truthy(&json!("false")));
        assert!(php_truthy(&json!("1")));
        assert!(php_truthy(&json!(true)));
        assert!(!php_truthy(&json!("0")));
        assert!(!php_truthy(&json!("")));
        assert!(!php_truthy(&json!(0)));
    }

    #[test]
    fn start_rounds_down_to_a_page_and_negative_means_no_count() {
        assert_eq!(
            Page::from_start(Some(&json!("75"))),
            Page {
                offset: 50,
                count: true
            }
        );
        assert_eq!(
            Page::from_start(Some(&json!(-1))),
            Page {
                offset: 0,
                count: false
            }
        );
        assert_eq!(
            Page::from_start(None),
            Page {
                offset: 0,
                count: true
            }
        );
        assert_eq!(
            Page::from_start(Some(&json!("abc"))),
            Page {
                offset: 0,
                count: true
            }
        );
        let page = Page::from_start(Some(&json!(50)));
        assert_eq!(page.next(50, 120), Some(100));
        assert_eq!(page.next(50, 100), None);
    }
}
