//! `batch` on the wire (spec §6): command strings, the five result sections with PHP's array
//! shapes, and `$result[key][...]`-style references between commands.

use indexmap::IndexMap;
use serde_json::{json, Map, Value};

/// At most this many commands run; each one past it is answered `ERROR_BATCH_LENGTH_EXCEEDED`.
pub const MAX_COMMANDS: usize = 50;

/// Splits `"method?query"` at the first `?`.
pub fn split_command(command: &str) -> (&str, &str) {
    let (method, query) = command.split_once('?').unwrap_or((command, ""));
    (method.trim(), query)
}

/// The five per-command maps, keyed by the command keys in the order they ran.
/// The outputs of the commands run so far; later commands reference them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BatchResults {
    pub result: IndexMap<String, Value>,
    pub error: IndexMap<String, Value>,
    pub total: IndexMap<String, Value>,
    pub next: IndexMap<String, Value>,
    pub time: IndexMap<String, Value>,
}

impl BatchResults {
    /// The map a reference name points into; names are matched exactly (the real service matches
    /// the pattern case-insensitively but looks the name up case-sensitively).
    fn named(&self, name: &str) -> Option<&IndexMap<String, Value>> {
        match name {
            "result" => Some(&self.result),
            "error" => Some(&self.error),
            "total" => Some(&self.total),
            "next" => Some(&self.next),
            "time" => Some(&self.time),
            _ => None,
        }
    }

    /// The batch's `result`: all five sections, each shaped by PHP's array rule.
    pub fn into_json(self) -> Value {
        json!({
            "result": php_shape(self.result),
            "result_error": php_shape(self.error),
            "result_total": php_shape(self.total),
            "result_next": php_shape(self.next),
            "result_time": php_shape(self.time),
        })
    }
}

/// PHP's array-to-JSON rule: keys exactly `0..n-1` in order make a list (so does an empty map).
pub fn php_shape(map: IndexMap<String, Value>) -> Value {
    let is_list = map.keys().enumerate().all(|(i, k)| *k == i.to_string());
    if is_list {
        Value::Array(map.into_values().collect())
    } else {
        Value::Object(map.into_iter().collect::<Map<String, Value>>())
    }
}

/// Replaces references in every string of a parameter tree.
pub fn substitute(value: Value, outcomes: &BatchResults) -> Value {
    substitute_tree(value, outcomes, Unknown::Empty)
}

/// Like [`substitute`], but a reference to a command that is not in `outcomes` stays as
/// written, for whoever resolves it later. The client uses it when it splits a batch: it fills
/// in references to commands of earlier requests and leaves the others to the server.
pub fn substitute_known(value: Value, outcomes: &BatchResults) -> Value {
    substitute_tree(value, outcomes, Unknown::Keep)
}

/// What becomes of a reference to a command that has not run.
#[derive(Clone, Copy, PartialEq)]
enum Unknown {
    Empty,
    Keep,
}

fn substitute_tree(value: Value, outcomes: &BatchResults, unknown: Unknown) -> Value {
    match value {
        Value::String(s) => substitute_text(&s, outcomes, unknown),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| substitute_tree(v, outcomes, unknown))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, substitute_tree(v, outcomes, unknown)))
                .collect(),
        ),
        other => other,
    }
}

const REFERENCE_NAMES: [&str; 5] = ["result", "error", "total", "next", "time"];

/// One `$name[...]...` token in a string: where it is, the name as written, and its path.
struct Reference<'a> {
    range: std::ops::Range<usize>,
    name: &'a str,
    path: Vec<&'a str>,
}

/// Finds reference tokens: `$`, a reference name in any case, then everything up to whitespace.
/// Tokens without any `[...]` segment are not references.
fn references(text: &str) -> Vec<Reference<'_>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find('$') {
        let start = from + offset;
        let after = &text[start + 1..];
        let name = REFERENCE_NAMES.iter().find(|n| {
            after.len() >= n.len()
                && after.is_char_boundary(n.len())
                && after[..n.len()].eq_ignore_ascii_case(n)
        });
        let Some(name) = name else {
            from = start + 1;
            continue;
        };
        let name_end = start + 1 + name.len();
        let end = text[name_end..]
            .find(char::is_whitespace)
            .map_or(text.len(), |i| name_end + i);
        let path = segments(&text[name_end..end]);
        if !path.is_empty() {
            found.push(Reference {
                range: start..end,
                name: &text[start + 1..name_end],
                path,
            });
        }
        from = end.max(start + 1);
    }
    found
}

/// The `[...]` pieces of a path (non-empty contents only).
fn segments(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        match after.find(']') {
            Some(0) => rest = &after[1..],
            Some(close) => {
                out.push(&after[..close]);
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

/// Resolves a reference; `None` when any step is missing (or null).
fn resolve<'v>(reference: &Reference<'_>, outcomes: &'v BatchResults) -> Option<&'v Value> {
    let map = outcomes.named(reference.name)?;
    let (first, rest) = reference.path.split_first()?;
    let mut value = map.get(*first)?;
    for step in rest {
        value = match value {
            Value::Object(m) => m.get(*step)?,
            Value::Array(a) => a.get(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    (!value.is_null()).then_some(value)
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1".into() } else { String::new() }),
        _ => None,
    }
}

/// A parameter that is exactly one reference becomes the raw value (a number, a list, …);
/// otherwise references are replaced as text. A reference that resolves to nothing becomes empty
/// and never fails the batch (the Python SDK chains 50 list pages and ignores the tail).
fn substitute_text(text: &str, outcomes: &BatchResults, unknown: Unknown) -> Value {
    let mut refs = references(text);
    if unknown == Unknown::Keep {
        refs.retain(|r| {
            outcomes
                .named(r.name)
                .is_some_and(|map| map.contains_key(r.path[0]))
        });
    }
    if refs.is_empty() {
        return Value::String(text.to_string());
    }
    if refs.len() == 1 && refs[0].range == (0..text.len()) {
        return resolve(&refs[0], outcomes)
            .cloned()
            .unwrap_or_else(|| Value::String(String::new()));
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for reference in &refs {
        out.push_str(&text[last..reference.range.start]);
        match resolve(reference, outcomes) {
            None => {}
            Some(value) => match scalar_text(value) {
                Some(s) => out.push_str(&s),
                // A list or object cannot be spliced into text: the token stays, as on the real service.
                None => out.push_str(&text[reference.range.clone()]),
            },
        }
        last = reference.range.end;
    }
    out.push_str(&text[last..]);
    Value::String(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `substitute` on one string (a local name shadows the three-argument private one).
    fn substitute_text(text: &str, outcomes: &BatchResults) -> Value {
        super::substitute_text(text, outcomes, Unknown::Empty)
    }

    fn outcomes() -> BatchResults {
        let mut o = BatchResults::default();
        o.result
            .insert("deal".into(), json!({"item": {"id": 7, "title": "T"}}));
        o.result
            .insert("page".into(), json!({"items": [{"id": 1}, {"id": 2}]}));
        o.result
            .insert("user".into(), json!({"ID": "3", "UF_DEPARTMENT": [1, 5]}));
        o.next.insert("page".into(), json!(50));
        o.total.insert("page".into(), json!(120));
        o
    }

    #[test]
    fn a_whole_value_reference_keeps_its_json_type() {
        let o = outcomes();
        assert_eq!(substitute_text("$result[deal][item][id]", &o), json!(7));
        assert_eq!(
            substitute_text("$result[user][UF_DEPARTMENT]", &o),
            json!([1, 5])
        );
        assert_eq!(substitute_text("$next[page]", &o), json!(50));
        assert_eq!(substitute_text("$total[page]", &o), json!(120));
    }

    #[test]
    fn references_inside_text_are_replaced_as_text() {
        let o = outcomes();
        assert_eq!(
            substitute_text("deal $result[deal][item][id] by $result[user][ID]", &o),
            json!("deal 7 by 3")
        );
        assert_eq!(
            substitute_text("dept $result[user][UF_DEPARTMENT] x", &o),
            json!("dept $result[user][UF_DEPARTMENT] x")
        );
    }

    #[test]
    fn a_missing_path_resolves_to_empty() {
        let o = outcomes();
        assert_eq!(
            substitute_text("$result[page][items][49][id]", &o),
            json!("")
        );
        assert_eq!(substitute_text("$result[nope][id]", &o), json!(""));
        assert_eq!(
            substitute_text("$RESULT[deal][item][id]", &o),
            json!(""),
            "names are looked up case-sensitively"
        );
        assert_eq!(substitute_text("id=$result[nope][x];", &o), json!("id="));
    }

    #[test]
    fn dollar_signs_that_are_not_references_stay() {
        let o = outcomes();
        assert_eq!(
            substitute_text("costs $5 and $result", &o),
            json!("costs $5 and $result")
        );
        assert_eq!(substitute_text("$resultx", &o), json!("$resultx"));
    }

    #[test]
    fn substitute_known_keeps_references_to_commands_that_have_not_run() {
        let o = outcomes();
        assert_eq!(
            substitute_known(json!("$result[later][id]"), &o),
            json!("$result[later][id]")
        );
        assert_eq!(
            substitute_known(
                json!({"a": ["$result[deal][item][id]"], "b": "$result[deal][item][title] and $result[later][x]"}),
                &o
            ),
            json!({"a": [7], "b": "T and $result[later][x]"})
        );
        assert_eq!(
            substitute_known(json!("$result[page][items][49][id]"), &o),
            json!(""),
            "a known command with a missing path still resolves to empty"
        );
    }

    #[test]
    fn list_keys_make_lists_and_other_keys_make_objects() {
        let mut m = IndexMap::new();
        assert_eq!(php_shape(m.clone()), json!([]));
        m.insert("0".to_string(), json!(1));
        m.insert("1".to_string(), json!(2));
        assert_eq!(php_shape(m.clone()), json!([1, 2]));
        let mut sparse = IndexMap::new();
        sparse.insert("1".to_string(), json!(2));
        assert_eq!(php_shape(sparse), json!({"1": 2}));
    }
}
