//! Request parameters, decoded the way PHP (and therefore Bitrix24) decodes them.
//!
//! A Bitrix24 method sees one parameter tree, built from the query string, the form body
//! (`a[b][c]=1`, `a[]=x`) or a JSON body (spec §1.2). PHP arrays are ordered maps whose keys are
//! integers or strings; we keep that model ([`PhpArray`]) while decoding so that `a[]=x` appends at
//! the right index, and convert to JSON at the end with PHP's rule: an array whose keys are exactly
//! `0..n-1`, in order, is a list, anything else is an object.

use indexmap::IndexMap;
use percent_encoding::percent_decode;
use serde_json::{Map, Value};

/// PHP's `max_input_nesting_level` default: variables nested deeper are dropped, as PHP drops them.
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// How many `key=value` pairs one request may carry (PHP's `max_input_vars`, raised the way Bitrix24
/// hosting raises it so that a 50-command batch with long field lists still fits).
pub const DEFAULT_MAX_VARS: usize = 10_000;

/// Bounds applied while decoding, so that hostile input costs bounded memory and time.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Bracket segments beyond this depth make PHP drop the whole variable; so do we.
    pub max_depth: usize,
    /// More pairs than this is refused outright ([`ParamError::TooManyVariables`]).
    pub max_vars: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_depth: DEFAULT_MAX_DEPTH,
            max_vars: DEFAULT_MAX_VARS,
        }
    }
}

/// Why a parameter source could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A key or value decoded to bytes that are not UTF-8.
    #[error("Wrong request encoding")]
    InvalidUtf8,
    /// More `key=value` pairs than [`DecodeLimits::max_vars`].
    #[error("Too many request parameters: at most {limit} are accepted")]
    TooManyVariables {
        /// The limit that was exceeded.
        limit: usize,
    },
}

/// A PHP array key: PHP turns canonical decimal strings (`"5"`, `"-3"`, not `"05"`) into integers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PhpKey {
    /// An integer key.
    Int(i64),
    /// Any other key.
    Str(String),
}

impl PhpKey {
    /// Classifies a key as PHP does.
    pub fn from_string(key: String) -> Self {
        match canonical_int(&key) {
            Some(n) => PhpKey::Int(n),
            None => PhpKey::Str(key),
        }
    }

    fn into_string(self) -> String {
        match self {
            PhpKey::Int(n) => n.to_string(),
            PhpKey::Str(s) => s,
        }
    }
}

/// `Some(n)` when `s` is the canonical decimal spelling of an `i64`, exactly as PHP decides.
fn canonical_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    if s == "-0" {
        return None;
    }
    s.parse().ok()
}

/// A decoded PHP value: form and query values are always strings.
#[derive(Debug, Clone, PartialEq)]
pub enum PhpValue {
    /// A leaf.
    Str(String),
    /// A nested array.
    Array(PhpArray),
}

/// An ordered PHP array that remembers its next free integer index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhpArray {
    entries: IndexMap<PhpKey, PhpValue>,
    next_index: i64,
}

impl PhpArray {
    fn insert(&mut self, key: Option<PhpKey>, value: PhpValue) -> &mut PhpValue {
        let key = key.unwrap_or(PhpKey::Int(self.next_index));
        if let PhpKey::Int(n) = key {
            if n >= self.next_index {
                self.next_index = n.saturating_add(1);
            }
        }
        match self.entries.entry(key) {
            indexmap::map::Entry::Occupied(mut slot) => {
                slot.insert(value);
                slot.into_mut()
            }
            indexmap::map::Entry::Vacant(slot) => slot.insert(value),
        }
    }

    /// Descends into `key`, replacing a scalar (or creating the entry) with an empty array, as PHP does.
    fn child_array(&mut self, key: Option<PhpKey>) -> &mut PhpArray {
        let reuse =
            matches!(&key, Some(k) if matches!(self.entries.get(k), Some(PhpValue::Array(_))));
        let slot = if reuse {
            self.entries
                .get_mut(key.as_ref().expect("checked above"))
                .expect("checked above")
        } else {
            self.insert(key, PhpValue::Array(PhpArray::default()))
        };
        match slot {
            PhpValue::Array(array) => array,
            PhpValue::Str(_) => unreachable!("slot was just made an array"),
        }
    }

    /// Converts to a JSON object, keeping insertion order (the top level of a request is always a map).
    pub fn into_json_object(self) -> Map<String, Value> {
        self.entries
            .into_iter()
            .map(|(k, v)| (k.into_string(), v.into_json()))
            .collect()
    }

    /// Converts with PHP's `json_encode` rule: keys exactly `0..n-1` in order make a list.
    pub fn into_json(self) -> Value {
        let is_list = self
            .entries
            .keys()
            .enumerate()
            .all(|(i, k)| *k == PhpKey::Int(i as i64));
        if is_list {
            Value::Array(
                self.entries
                    .into_values()
                    .map(PhpValue::into_json)
                    .collect(),
            )
        } else {
            Value::Object(self.into_json_object())
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the array is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl PhpValue {
    /// Converts to JSON (strings stay strings; arrays follow [`PhpArray::into_json`]).
    pub fn into_json(self) -> Value {
        match self {
            PhpValue::Str(s) => Value::String(s),
            PhpValue::Array(a) => a.into_json(),
        }
    }
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte.
pub fn url_decode(raw: &[u8]) -> Result<String, ParamError> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ParamError::InvalidUtf8)
}

/// Parses a query string or form body into a PHP array, with PHP's `parse_str` rules.
pub fn parse_php_query(input: &[u8], limits: DecodeLimits) -> Result<PhpArray, ParamError> {
    let mut root = PhpArray::default();
    let mut count = 0usize;
    for pair in input.split(|&b| b == b'&') {
        if pair.is_empty() {
            continue;
        }
        count += 1;
        if count > limits.max_vars {
            return Err(ParamError::TooManyVariables {
                limit: limits.max_vars,
            });
        }
        let (raw_key, raw_value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &b""[..]),
        };
        let key = url_decode(raw_key)?;
        let value = url_decode(raw_value)?;
        register_variable(&mut root, &key, value, limits.max_depth);
    }
    Ok(root)
}

/// The key path of one variable: the top-level name and the bracket segments (`None` = `[]`).
fn split_key(key: &str, max_depth: usize) -> Option<(String, Vec<Option<String>>)> {
    let key = key.trim_start_matches(' ');
    let (mut name, mut rest) = match key.find('[') {
        Some(open) => (key[..open].to_string(), &key[open..]),
        None => (key.to_string(), ""),
    };
    let mut segments = Vec::new();
    while let Some(after_open) = rest.strip_prefix('[') {
        match after_open.find(']') {
            Some(close) => {
                if segments.len() == max_depth {
                    return None; // PHP drops variables nested deeper than max_input_nesting_level.
                }
                let segment = &after_open[..close];
                segments.push((!segment.is_empty()).then(|| segment.to_string()));
                rest = &after_open[close + 1..];
            }
            None if segments.is_empty() => {
                // An unterminated first bracket is part of the name, with the bracket made `_`.
                name.push('_');
                name.push_str(after_open);
                rest = "";
            }
            None => break,
        }
    }
    // PHP turns spaces and dots in the top-level name into underscores.
    let name: String = name
        .chars()
        .map(|c| if c == ' ' || c == '.' { '_' } else { c })
        .collect();
    if name.is_empty() {
        return None;
    }
    Some((name, segments))
}

fn register_variable(root: &mut PhpArray, key: &str, value: String, max_depth: usize) {
    let Some((name, segments)) = split_key(key, max_depth) else {
        return;
    };
    let top_key = Some(PhpKey::from_string(name));
    if segments.is_empty() {
        root.insert(top_key, PhpValue::Str(value));
        return;
    }
    let mut current = root.child_array(top_key);
    let last = segments.len() - 1;
    for (i, segment) in segments.into_iter().enumerate() {
        let key = segment.map(PhpKey::from_string);
        if i == last {
            current.insert(key, PhpValue::Str(value));
            return;
        }
        current = current.child_array(key);
    }
}

/// Encodes a JSON value as PHP's `http_build_query` would: nested keys in brackets, `true` as `1`,
/// `false` as `0`, `null` and empty arrays left out. The client uses it for GET requests and batch
/// commands; `parse_php_query` reverses it.
pub fn encode_php_query(params: &Map<String, Value>) -> String {
    let mut out = String::new();
    for (key, value) in params {
        encode_into(&mut out, &encode_component(key), value);
    }
    out
}

fn encode_into(out: &mut String, prefix: &str, value: &Value) {
    let leaf = |out: &mut String, text: &str| {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(prefix);
        out.push('=');
        out.push_str(&encode_component(text));
    };
    match value {
        Value::Null => {}
        Value::Bool(b) => leaf(out, if *b { "1" } else { "0" }),
        Value::Number(n) => leaf(out, &n.to_string()),
        Value::String(s) => leaf(out, s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                encode_into(out, &format!("{prefix}%5B{i}%5D"), item);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                encode_into(out, &format!("{prefix}%5B{}%5D", encode_component(k)), item);
            }
        }
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986), spaces as `%20`.
pub fn encode_component(text: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const SET: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(text, SET).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(q: &str) -> Value {
        Value::Object(
            parse_php_query(q.as_bytes(), DecodeLimits::default())
                .unwrap()
                .into_json_object(),
        )
    }

    #[test]
    fn nested_keys_build_nested_objects() {
        assert_eq!(parse("a[b][c]=1"), json!({"a": {"b": {"c": "1"}}}));
    }

    #[test]
    fn empty_brackets_append_to_a_list() {
        assert_eq!(parse("a[]=x&a[]=y"), json!({"a": ["x", "y"]}));
    }

    #[test]
    fn sparse_integer_keys_make_an_object_and_append_after_the_largest() {
        assert_eq!(
            parse("a[0]=x&a[5]=y&a[]=z"),
            json!({"a": {"0": "x", "5": "y", "6": "z"}})
        );
    }

    #[test]
    fn percent_encoded_brackets_plus_and_percent_twenty_decode() {
        assert_eq!(
            parse("fields%5BTITLE%5D=a+b%20c&x=%26"),
            json!({"fields": {"TITLE": "a b c"}, "x": "&"})
        );
    }

    #[test]
    fn repeated_plain_keys_keep_the_last_value() {
        assert_eq!(parse("a=1&a=2"), json!({"a": "2"}));
    }

    #[test]
    fn a_scalar_is_replaced_by_a_nested_array_and_back() {
        assert_eq!(parse("a=1&a[b]=2"), json!({"a": {"b": "2"}}));
        assert_eq!(parse("a[b]=2&a=1"), json!({"a": "1"}));
    }

    #[test]
    fn dots_and_spaces_in_the_top_level_name_become_underscores() {
        assert_eq!(
            parse("fields.TITLE=x&a b[c.d]=1"),
            json!({"fields_TITLE": "x", "a_b": {"c.d": "1"}})
        );
    }

    #[test]
    fn a_key_without_value_is_an_empty_string_and_empty_names_are_dropped() {
        assert_eq!(parse("a&=5&&[x]=1"), json!({"a": ""}));
    }

    #[test]
    fn an_unterminated_bracket_becomes_part_of_the_name() {
        assert_eq!(parse("a[b=1"), json!({"a_b": "1"}));
    }

    /// Found by the `php_query` fuzz target: only the unterminated first bracket becomes `_`;
    /// later brackets stay in the name, as in PHP, so such a name cannot be re-encoded.
    #[test]
    fn an_unterminated_first_bracket_keeps_later_brackets_in_the_name() {
        assert_eq!(parse("J[[\u{11}=1"), json!({"J_[\u{11}": "1"}));
        assert_eq!(parse("J_%5B%11=1"), json!({"J__\u{11}": "1"}));
    }

    #[test]
    fn variables_nested_deeper_than_the_limit_are_dropped() {
        let deep = format!("{}=1&ok=2", "a".to_string() + &"[x]".repeat(10_000));
        assert_eq!(parse(&deep), json!({"ok": "2"}));
        let at_limit = format!("a{}=1", "[x]".repeat(DEFAULT_MAX_DEPTH));
        assert!(parse(&at_limit).get("a").is_some());
    }

    #[test]
    fn too_many_variables_are_refused() {
        let q = "a=1&".repeat(11);
        let limits = DecodeLimits {
            max_depth: 64,
            max_vars: 10,
        };
        assert_eq!(
            parse_php_query(q.as_bytes(), limits),
            Err(ParamError::TooManyVariables { limit: 10 })
        );
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert_eq!(
            parse_php_query(b"a=%FF", DecodeLimits::default()),
            Err(ParamError::InvalidUtf8)
        );
    }

    #[test]
    fn canonical_integers_only() {
        assert_eq!(canonical_int("5"), Some(5));
        assert_eq!(canonical_int("-3"), Some(-3));
        assert_eq!(canonical_int("05"), None);
        assert_eq!(canonical_int("-0"), None);
        assert_eq!(canonical_int("99999999999999999999"), None);
        assert_eq!(canonical_int(""), None);
    }

    #[test]
    fn encoding_matches_http_build_query() {
        let params =
            json!({"fields": {"TITLE": "a&b c", "IDS": [1, 2]}, "flag": true, "none": null});
        assert_eq!(
            encode_php_query(params.as_object().unwrap()),
            "fields%5BTITLE%5D=a%26b%20c&fields%5BIDS%5D%5B0%5D=1&fields%5BIDS%5D%5B1%5D=2&flag=1"
        );
    }

    mod roundtrip {
        use super::*;
        use proptest::prelude::*;

        /// String-valued trees without empty containers: exactly what a form can carry.
        fn tree() -> impl Strategy<Value = Value> {
            let leaf = "[a-zA-Z0-9 &=%+\\[\\]ä?#/]{0,8}".prop_map(Value::String);
            leaf.prop_recursive(4, 32, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 1..4).prop_map(Value::Array),
                    prop::collection::btree_map("[a-z][a-z0-9_]{0,5}", inner, 1..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn decode_of_encode_is_identity(
                map in prop::collection::btree_map("[a-z][a-z0-9_]{0,5}", tree(), 0..4)
            ) {
                let map: Map<String, Value> = map.into_iter().collect();
                let encoded = encode_php_query(&map);
                let decoded = parse_php_query(encoded.as_bytes(), DecodeLimits::default())
                    .unwrap()
                    .into_json_object();
                prop_assert_eq!(decoded, map);
            }
        }
    }
}
