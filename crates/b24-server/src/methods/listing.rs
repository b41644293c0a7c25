//! The list parameters shared by every list method: `filter` (prefix operators, `logic: OR`,
//! nested groups), `order` and `select`, turned into a backend-neutral [`ListQuery`].
//!
//! Operators (docs: api-reference/crm/universal/crm-item-list.md): none or `=` equal, `!` / `!=`
//! not equal, `>` `>=` `<` `<=`, `@` in, `!@` not in, `%` contains, `=%` / `%=` LIKE with the
//! caller's own wildcards, `!%` does not contain, `!=%` / `!%=` NOT LIKE with wildcards.

use crate::error::ApiError;
use crate::store::query::like_literal;
use crate::store::{Column, CompareOp, Filter, SqlValue};
use b24_protocol::{ErrorCode, RestError};
use serde_json::{Map, Value};

/// Which family's error shape a bad list parameter gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// D7 controllers (`crm.item.list`): `INVALID_ARG_VALUE` with the documented texts.
    D7,
    /// Legacy methods outside the CRM (`event.offline.get`): `"error": ""` and the text; an
    /// unknown field is refused.
    Legacy,
    /// The CRM's legacy proxies (`crm.deal.list`, `crm.lead.list`, `crm.contact.list`,
    /// `crm.company.list`, `crm.activity.list`): errors as [`Dialect::Legacy`], but the filter
    /// keys are read as the CRM's `CSqlUtil::GetFilterOperation` reads them, and a key whose
    /// field the entity does not have is dropped, not refused (spec §12).
    LegacyCrm,
}

impl Dialect {
    /// The error for a bad `filter` / `order` entry.
    pub fn error(self, message: String) -> ApiError {
        match self {
            Dialect::D7 => RestError::with_message(ErrorCode::InvalidArgValue, message).into(),
            Dialect::Legacy | Dialect::LegacyCrm => RestError::legacy(message).into(),
        }
    }
}

/// Converts a caller's filter value to a field's type; `None` when it does not fit.
pub type ConvertValue = Box<dyn Fn(&Value) -> Option<SqlValue>>;

/// A field a list can filter and sort by.
pub struct ListField {
    /// Where it is stored.
    pub column: Column,
    /// Converts a filter value to the field's type; `None` when it does not fit.
    pub convert: ConvertValue,
}

/// What a list method knows about its fields.
pub trait ListFields {
    /// The field behind a filter or order key (operator already removed); `None` if unknown or
    /// not usable in lists.
    fn field(&self, key: &str) -> Option<ListField>;

    /// Whether the entity has a field of this name at all, filterable here or not. A legacy CRM
    /// filter drops a key whose field the entity lacks, but still refuses one on a field it has
    /// and this server cannot filter by (such as `PHONE`): dropping that silently would widen a
    /// caller's list, and a list drives deletes.
    fn knows(&self, key: &str) -> bool {
        self.field(key).is_some()
    }

    /// Whether the CRM turns `%`, `=%` and `%=` on this field into `=` (its `crm_status`,
    /// `crm_company` and `crm_contact` fields: "no LIKE, for performance").
    fn exact_only(&self, _key: &str) -> bool {
        false
    }
}

/// The operator prefixes, longest first so that `!=%` is not read as `!=` + `%…`.
const PREFIXES: &[(&str, Operator)] = &[
    ("!=%", Operator::NotLikePattern),
    ("!%=", Operator::NotLikePattern),
    ("!=", Operator::Compare(CompareOp::NotEq)),
    ("!@", Operator::Compare(CompareOp::NotIn)),
    ("!%", Operator::NotContains),
    (">=", Operator::Compare(CompareOp::Ge)),
    ("<=", Operator::Compare(CompareOp::Le)),
    ("=%", Operator::LikePattern),
    ("%=", Operator::LikePattern),
    ("=", Operator::Compare(CompareOp::Eq)),
    ("!", Operator::Compare(CompareOp::NotEq)),
    (">", Operator::Compare(CompareOp::Gt)),
    ("<", Operator::Compare(CompareOp::Lt)),
    ("@", Operator::Compare(CompareOp::In)),
    ("%", Operator::Contains),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Compare(CompareOp),
    Contains,
    NotContains,
    LikePattern,
    NotLikePattern,
}

fn split_operator(key: &str) -> (Operator, &str) {
    for (prefix, op) in PREFIXES {
        if let Some(rest) = key.strip_prefix(prefix) {
            return (*op, rest);
        }
    }
    (Operator::Compare(CompareOp::Eq), key)
}

fn as_list(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => o.values().collect(),
        other => vec![other],
    }
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The most values one filter may carry: each becomes a bound SQL parameter, and the database
/// refuses statements with too many (SQLite's limit is 32,766).
pub const MAX_FILTER_VALUES: usize = 10_000;

fn value_count(filter: &Filter) -> usize {
    match filter {
        Filter::All(parts) | Filter::Any(parts) => parts.iter().map(value_count).sum(),
        Filter::Compare { values, .. } => values.len(),
        Filter::BoundTo(pairs) => 2 * pairs.len(),
        Filter::ReadableThroughBindings { .. } => 1,
    }
}

/// Reads a `filter` map into a filter tree; more than [`MAX_FILTER_VALUES`] values are refused.
pub fn parse_filter(
    map: &Map<String, Value>,
    fields: &dyn ListFields,
    dialect: Dialect,
) -> Result<Filter, ApiError> {
    let filter = parse_group(map, fields, dialect)?;
    if value_count(&filter) > MAX_FILTER_VALUES {
        return Err(dialect.error(format!(
            "Invalid filter: more than {MAX_FILTER_VALUES} values"
        )));
    }
    Ok(filter)
}

fn parse_group(
    map: &Map<String, Value>,
    fields: &dyn ListFields,
    dialect: Dialect,
) -> Result<Filter, ApiError> {
    if dialect == Dialect::LegacyCrm {
        return parse_legacy_crm(map, fields);
    }
    let mut any = false;
    let mut parts = Vec::new();
    for (key, value) in map {
        if key.eq_ignore_ascii_case("logic") {
            any = value.as_str().is_some_and(|v| v.eq_ignore_ascii_case("or"));
            continue;
        }
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
            let Value::Object(group) = value else {
                return Err(dialect.error(format!(
                    "Invalid filter: field '{key}' is not allowed in filter"
                )));
            };
            parts.push(parse_group(group, fields, dialect)?);
            continue;
        }
        // As in Bitrix24's list filters, an empty value sets no condition (this is also what an
        // unresolved batch reference leaves behind).
        if value.as_str() == Some("") {
            continue;
        }
        parts.push(parse_condition(key, value, fields, dialect)?);
    }
    Ok(if any {
        Filter::Any(parts)
    } else {
        Filter::All(parts)
    })
}

/// A legacy CRM filter key, read as the CRM's `CSqlUtil::GetFilterOperation` reads it: an
/// optional `!` (negation), an optional `+` (or the field is empty), then one operator — `>=`,
/// `>`, `<=`, `<`, `@`, `=%`, `%=`, `%`, `?`, `=` or none — and the field name. What is left
/// after the operator is the field: `<>STATUS_ID` is `<` on a field named `>STATUS_ID`, and
/// `><OPPORTUNITY` is `>` on `<OPPORTUNITY`; neither field exists, so the key is dropped.
struct LegacyKey<'a> {
    negative: bool,
    or_empty: bool,
    operator: Operator,
    field: &'a str,
}

const LEGACY_OPERATORS: &[(&str, Operator)] = &[
    (">=", Operator::Compare(CompareOp::Ge)),
    (">", Operator::Compare(CompareOp::Gt)),
    ("<=", Operator::Compare(CompareOp::Le)),
    ("<", Operator::Compare(CompareOp::Lt)),
    ("@", Operator::Compare(CompareOp::In)),
    ("=%", Operator::LikePattern),
    ("%=", Operator::LikePattern),
    ("%", Operator::Contains),
    // `?` is the search-query language on text fields; a single word is a substring search,
    // which is what this server gives it (spec §12).
    ("?", Operator::Contains),
    ("=", Operator::Compare(CompareOp::Eq)),
];

fn split_legacy(key: &str) -> LegacyKey<'_> {
    let (negative, key) = key.strip_prefix('!').map_or((false, key), |k| (true, k));
    let (or_empty, key) = key.strip_prefix('+').map_or((false, key), |k| (true, k));
    let (operator, field) = LEGACY_OPERATORS
        .iter()
        .find_map(|(prefix, op)| key.strip_prefix(prefix).map(|rest| (*op, rest)))
        .unwrap_or((Operator::Compare(CompareOp::Eq), key));
    LegacyKey {
        negative,
        or_empty,
        operator,
        field,
    }
}

/// A legacy CRM `filter`: every key is one condition, all of them must hold. Keys the service
/// drops are dropped here too (spec §12): a field the entity does not have (so also `LOGIC`,
/// numbered groups, `<>X`, `><X` and the full-text `*` operators), and an empty value. A field
/// the entity has but this server cannot filter by is refused ([`ListFields::knows`]).
fn parse_legacy_crm(map: &Map<String, Value>, fields: &dyn ListFields) -> Result<Filter, ApiError> {
    let mut parts = Vec::new();
    for (key, value) in map {
        if value.as_str() == Some("") {
            continue;
        }
        let legacy = split_legacy(key);
        if !fields.knows(legacy.field) {
            continue;
        }
        // The CRM has no substring search on numbers and dates (`%`, `=%`, `%=`, `?` compare
        // for equality there), nor an un-negated one on status, company and contact fields.
        let mut operator = legacy.operator;
        if matches!(operator, Operator::Contains | Operator::LikePattern) {
            let takes_text = fields
                .field(legacy.field)
                .is_some_and(|f| (f.convert)(&Value::String("a".into())).is_some());
            let plain = !legacy.negative && !legacy.or_empty;
            if !takes_text || (plain && fields.exact_only(legacy.field)) {
                operator = Operator::Compare(CompareOp::Eq);
            }
        }
        let base = condition(operator, legacy.field, value, fields, Dialect::LegacyCrm)?;
        let missing = |column| Filter::Compare {
            column,
            op: CompareOp::Eq,
            values: vec![SqlValue::Null],
        };
        let filter = match (legacy.negative, base) {
            (false, base) => base,
            (true, Filter::Compare { column, op, values }) => {
                let flipped = |op| Filter::Compare {
                    column,
                    op,
                    values: values.clone(),
                };
                match op {
                    CompareOp::Eq => flipped(CompareOp::NotEq),
                    CompareOp::NotEq => flipped(CompareOp::Eq),
                    CompareOp::In => flipped(CompareOp::NotIn),
                    CompareOp::NotIn => flipped(CompareOp::In),
                    CompareOp::Like => flipped(CompareOp::NotLike),
                    CompareOp::NotLike => flipped(CompareOp::Like),
                    // NOT (x > v): the service also keeps rows without a value.
                    CompareOp::Gt => Filter::Any(vec![flipped(CompareOp::Le), missing(column)]),
                    CompareOp::Ge => Filter::Any(vec![flipped(CompareOp::Lt), missing(column)]),
                    CompareOp::Lt => Filter::Any(vec![flipped(CompareOp::Ge), missing(column)]),
                    CompareOp::Le => Filter::Any(vec![flipped(CompareOp::Gt), missing(column)]),
                }
            }
            (true, other) => other,
        };
        let filter = match (&filter, legacy.or_empty && !legacy.negative) {
            (Filter::Compare { column, .. }, true) => {
                let column = *column;
                Filter::Any(vec![filter, missing(column)])
            }
            _ => filter,
        };
        parts.push(filter);
    }
    Ok(Filter::All(parts))
}

/// One `prefix+field: value` entry.
pub fn parse_condition(
    key: &str,
    value: &Value,
    fields: &dyn ListFields,
    dialect: Dialect,
) -> Result<Filter, ApiError> {
    let (operator, name) = split_operator(key);
    condition(operator, name, value, fields, dialect)
}

fn condition(
    operator: Operator,
    name: &str,
    value: &Value,
    fields: &dyn ListFields,
    dialect: Dialect,
) -> Result<Filter, ApiError> {
    let field = fields.field(name).ok_or_else(|| {
        dialect.error(format!(
            "Invalid filter: field '{name}' is not allowed in filter"
        ))
    })?;
    let invalid = || dialect.error(format!("Invalid filter: field '{name}' has invalid value"));
    let convert = |v: &Value| (field.convert)(v).ok_or_else(invalid);
    let like = |op: CompareOp, pattern: Option<String>| -> Result<Filter, ApiError> {
        Ok(Filter::Compare {
            column: field.column,
            op,
            values: vec![SqlValue::Text(pattern.ok_or_else(invalid)?)],
        })
    };
    match operator {
        Operator::Compare(op) => {
            let list_value = matches!(value, Value::Array(_) | Value::Object(_));
            let op = match op {
                CompareOp::Eq if list_value => CompareOp::In,
                CompareOp::NotEq if list_value => CompareOp::NotIn,
                other => other,
            };
            let values = if matches!(op, CompareOp::In | CompareOp::NotIn) {
                as_list(value)
                    .into_iter()
                    .map(convert)
                    .collect::<Result<Vec<_>, _>>()?
            } else if list_value {
                return Err(invalid());
            } else {
                vec![convert(value)?]
            };
            Ok(Filter::Compare {
                column: field.column,
                op,
                values,
            })
        }
        Operator::Contains => like(
            CompareOp::Like,
            text_of(value).map(|t| format!("%{}%", like_literal(&t))),
        ),
        Operator::NotContains => like(
            CompareOp::NotLike,
            text_of(value).map(|t| format!("%{}%", like_literal(&t))),
        ),
        Operator::LikePattern => like(CompareOp::Like, text_of(value)),
        Operator::NotLikePattern => like(CompareOp::NotLike, text_of(value)),
    }
}

/// Reads an `order` map (`{field: "ASC"|"DESC"}`).
pub fn parse_order(
    map: &Map<String, Value>,
    fields: &dyn ListFields,
    dialect: Dialect,
) -> Result<Vec<(Column, bool)>, ApiError> {
    let mut order = Vec::new();
    for (key, direction) in map {
        let field = fields.field(key).ok_or_else(|| {
            dialect.error(format!(
                "Invalid order: field '{key}' is not allowed in order"
            ))
        })?;
        let text = direction.as_str().unwrap_or_default();
        let descending = if text.eq_ignore_ascii_case("desc") {
            true
        } else if text.eq_ignore_ascii_case("asc") {
            false
        } else {
            return Err(dialect.error(format!(
                "Invalid order: allowed sort directions are ASC, DESC. But got '{text}' for field '{key}'"
            )));
        };
        order.push((field.column, descending));
    }
    Ok(order)
}

/// Reads `select` (a list, or a PHP map of names); empty when absent.
pub fn parse_select(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(v @ (Value::Array(_) | Value::Object(_))) => as_list(v)
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Whether a select list asks for every field (empty or containing `*`).
pub fn selects_all(select: &[String]) -> bool {
    select.is_empty() || select.iter().any(|s| s == "*")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Fields;
    impl ListFields for Fields {
        fn field(&self, key: &str) -> Option<ListField> {
            let column = match key.to_ascii_lowercase().as_str() {
                "id" => Column::Plain("id"),
                "title" => Column::Plain("title"),
                _ => return None,
            };
            let numeric = column == Column::Plain("id");
            Some(ListField {
                column,
                convert: Box::new(move |v| {
                    if numeric {
                        b24_protocol::values::bind_int(v).map(SqlValue::Int)
                    } else {
                        v.as_str().map(|s| SqlValue::Text(s.into()))
                    }
                }),
            })
        }
    }

    fn filter(v: Value) -> Result<Filter, ApiError> {
        parse_filter(v.as_object().unwrap(), &Fields, Dialect::D7)
    }

    fn cmp(column: &'static str, op: CompareOp, values: Vec<SqlValue>) -> Filter {
        Filter::Compare {
            column: Column::Plain(column),
            op,
            values,
        }
    }

    #[test]
    fn prefixes_map_to_operators_and_id_keys_work_in_either_case() {
        let f = filter(
            json!({">ID": "5", "<=id": 9, "!=title": "x", "@id": [1, "2"], "%title": "a%b"}),
        )
        .unwrap();
        assert_eq!(
            f,
            Filter::All(vec![
                cmp("id", CompareOp::Gt, vec![SqlValue::Int(5)]),
                cmp("id", CompareOp::Le, vec![SqlValue::Int(9)]),
                cmp("title", CompareOp::NotEq, vec![SqlValue::Text("x".into())]),
                cmp(
                    "id",
                    CompareOp::In,
                    vec![SqlValue::Int(1), SqlValue::Int(2)]
                ),
                cmp(
                    "title",
                    CompareOp::Like,
                    vec![SqlValue::Text(r"%a\%b%".into())]
                ),
            ])
        );
    }

    #[test]
    fn logic_or_and_nested_groups_build_a_tree() {
        let f = filter(
            json!({"0": {"logic": "OR", "0": {"id": 1}, "1": {"=%title": "a%"}}, "!%title": "z"}),
        )
        .unwrap();
        assert_eq!(
            f,
            Filter::All(vec![
                Filter::Any(vec![
                    Filter::All(vec![cmp("id", CompareOp::Eq, vec![SqlValue::Int(1)])]),
                    Filter::All(vec![cmp(
                        "title",
                        CompareOp::Like,
                        vec![SqlValue::Text("a%".into())]
                    )]),
                ]),
                cmp(
                    "title",
                    CompareOp::NotLike,
                    vec![SqlValue::Text("%z%".into())]
                ),
            ])
        );
    }

    #[test]
    fn unknown_fields_bad_values_and_bad_directions_are_refused() {
        let msg = |r: Result<Filter, ApiError>| r.unwrap_err().to_rest().message.to_string();
        assert_eq!(
            msg(filter(json!({"nope": 1}))),
            "Invalid filter: field 'nope' is not allowed in filter"
        );
        assert_eq!(
            msg(filter(json!({">id": "x"}))),
            "Invalid filter: field 'id' has invalid value"
        );
        let order = parse_order(
            json!({"id": "up"}).as_object().unwrap(),
            &Fields,
            Dialect::D7,
        );
        assert_eq!(
            order.unwrap_err().to_rest().message,
            "Invalid order: allowed sort directions are ASC, DESC. But got 'up' for field 'id'"
        );
    }

    #[test]
    fn legacy_crm_keys_split_as_the_crm_splits_them() {
        let split = |key| {
            let k = split_legacy(key);
            (k.negative, k.or_empty, k.operator, k.field)
        };
        let cmp = Operator::Compare;
        assert_eq!(split("!>=ID"), (true, false, cmp(CompareOp::Ge), "ID"));
        assert_eq!(split("+<ID"), (false, true, cmp(CompareOp::Lt), "ID"));
        assert_eq!(
            split("!=%TITLE"),
            (true, false, Operator::LikePattern, "TITLE")
        );
        assert_eq!(split("!TITLE"), (true, false, cmp(CompareOp::Eq), "TITLE"));
        assert_eq!(split("?TITLE"), (false, false, Operator::Contains, "TITLE"));
        assert_eq!(
            split("<>STATUS_ID"),
            (false, false, cmp(CompareOp::Lt), ">STATUS_ID")
        );
        assert_eq!(split("><ID"), (false, false, cmp(CompareOp::Gt), "<ID"));
    }

    #[test]
    fn a_legacy_crm_filter_drops_unknown_keys_and_negates_ranges_keeping_empty_values() {
        let f = parse_filter(
            json!({"<>title": "x", "LOGIC": "OR", "0": {"id": 1}, "!>id": 5, "+title": "a"})
                .as_object()
                .unwrap(),
            &Fields,
            Dialect::LegacyCrm,
        )
        .unwrap();
        let missing = |c| cmp(c, CompareOp::Eq, vec![SqlValue::Null]);
        assert_eq!(
            f,
            Filter::All(vec![
                Filter::Any(vec![
                    cmp("id", CompareOp::Le, vec![SqlValue::Int(5)]),
                    missing("id")
                ]),
                Filter::Any(vec![
                    cmp("title", CompareOp::Eq, vec![SqlValue::Text("a".into())]),
                    missing("title")
                ]),
            ])
        );
    }

    #[test]
    fn a_filter_with_too_many_values_is_refused_before_reaching_the_database() {
        let ids: Vec<i64> = (0..=MAX_FILTER_VALUES as i64).collect();
        let err = filter(json!({"@id": ids})).unwrap_err();
        assert_eq!(
            err.to_rest().message,
            format!("Invalid filter: more than {MAX_FILTER_VALUES} values")
        );
        assert!(filter(json!({"@id": [1, 2, 3]})).is_ok());
    }
}
