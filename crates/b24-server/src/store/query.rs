//! Backend-neutral list queries: a filter tree, an order and a page. Methods build them from the
//! caller's `filter` / `order` / `start`; each backend compiles them to its own SQL, so the
//! operator semantics are decided once, here and in the method layer.

/// A value a filter compares against, already converted to the field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// An integer (ids, users, enumerations).
    Int(i64),
    /// A decimal number (amounts).
    Real(f64),
    /// Text (also dates, stored as sortable ISO-8601 text).
    Text(String),
    /// No value: `=` matches a missing value, `!=` a present one.
    Null,
}

/// Where a field's value is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// A typed column of the table.
    Plain(&'static str),
    /// A key of the row's `extra` JSON object. Keys come from the static field tables only, so
    /// they are safe to place in SQL text.
    Extra(&'static str),
    /// A CRM user field's values (`crm_uf_values` rows of this field id), in the value column
    /// its type uses. Items only.
    UserField(i64, UserFieldColumn),
}

/// The `crm_uf_values` column a user field's values are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserFieldColumn {
    /// `num_value`: integers, doubles, yes/no, enumeration and user ids.
    Num,
    /// `text_value`: strings, dates, CRM links, money, addresses.
    Text,
}

impl UserFieldColumn {
    /// The column's name.
    pub fn name(self) -> &'static str {
        match self {
            UserFieldColumn::Num => "num_value",
            UserFieldColumn::Text => "text_value",
        }
    }
}

/// A comparison from the Bitrix filter prefixes (`=`, `!=`, `>`, `@`, `%`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=` (no prefix). An empty text or null value also matches a missing value.
    Eq,
    /// `!` / `!=`. Missing values count as "not equal".
    NotEq,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `@`: one of the values.
    In,
    /// `!@`: none of the values.
    NotIn,
    /// `LIKE` with a complete pattern (`%` and `_` wildcards, `\` escapes).
    Like,
    /// `NOT LIKE` with a complete pattern; missing values match.
    NotLike,
}

/// A condition on an item or activity row.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every condition holds (an empty list is "true").
    All(Vec<Filter>),
    /// At least one condition holds (an empty list is "false").
    Any(Vec<Filter>),
    /// One comparison.
    Compare {
        /// The field.
        column: Column,
        /// The operator.
        op: CompareOp,
        /// One value, or several for `In` / `NotIn`.
        values: Vec<SqlValue>,
    },
    /// Activities only: bound to any of these items; `None` leaves that part open
    /// (`crm.activity.list`'s `BINDINGS` filter).
    BoundTo(Vec<(Option<i64>, Option<i64>)>),
    /// Activities only: at least one binding is to an item the caller may read — of a type in
    /// `all_types`, or of a type in `own_types` and assigned to `user_id`.
    ReadableThroughBindings {
        /// Types the caller may read entirely.
        all_types: Vec<i64>,
        /// Types where the caller may read their own items.
        own_types: Vec<i64>,
        /// The caller.
        user_id: i64,
    },
}

impl Filter {
    /// Whether this filter is "every row" (an `All` of nothing, however nested).
    pub fn matches_everything(&self) -> bool {
        matches!(self, Filter::All(parts) if parts.iter().all(Filter::matches_everything))
    }

    /// The filter that matches every row.
    pub fn everything() -> Self {
        Filter::All(Vec::new())
    }
}

/// One page of a list: filter, order (an `id` tie-breaker is added by the backend) and window.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// Which rows.
    pub filter: Filter,
    /// Sort keys; `true` is descending. Empty means `id` ascending.
    pub order: Vec<(Column, bool)>,
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return.
    pub limit: u64,
    /// Whether to count every matching row (`false` for `start=-1`).
    pub count: bool,
}

impl ListQuery {
    /// The first page of everything, by id, counted.
    pub fn first_page(limit: u64) -> Self {
        Self {
            filter: Filter::everything(),
            order: Vec::new(),
            offset: 0,
            limit,
            count: true,
        }
    }
}

/// Escapes `%`, `_` and `\` so that text is matched literally inside a `LIKE` pattern.
pub fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_literal_escapes_wildcards() {
        assert_eq!(like_literal(r"50%_a\b"), r"50\%\_a\\b");
    }
}

/// Query builders shared by the backends' query-plan tests.
#[cfg(test)]
pub(crate) mod plan_test_queries {
    use crate::store::{Column, CompareOp, Filter, ListQuery, SqlValue};

    /// One comparison.
    pub fn cmp(column: Column, op: CompareOp, value: SqlValue) -> Filter {
        Filter::Compare {
            column,
            op,
            values: vec![value],
        }
    }

    /// The fast cursor: `id > after`.
    pub fn cursor(after: i64) -> Filter {
        cmp(Column::Plain("id"), CompareOp::Gt, SqlValue::Int(after))
    }

    /// A page of 50 without counting.
    pub fn uncounted(filter: Filter, order: Vec<(Column, bool)>) -> ListQuery {
        ListQuery {
            filter,
            order,
            offset: 0,
            limit: 50,
            count: false,
        }
    }

    const ID_ASC: (Column, bool) = (Column::Plain("id"), false);

    /// The `>ID` cursor page of `start=-1` walks.
    pub fn after_id(after: i64) -> ListQuery {
        uncounted(cursor(after), vec![ID_ASC])
    }

    /// The items assigned to one user (`own` read rights), after a cursor.
    pub fn own_items() -> ListQuery {
        let own = Filter::All(vec![
            cmp(
                Column::Plain("assigned_by_id"),
                CompareOp::Eq,
                SqlValue::Int(7),
            ),
            cursor(10),
        ]);
        uncounted(own, vec![])
    }

    /// Activities in `crm.activity.list`'s default order.
    pub fn by_start_time() -> ListQuery {
        uncounted(
            Filter::everything(),
            vec![(Column::Plain("start_time"), false)],
        )
    }

    /// The activities of one owner, by id.
    pub fn by_owner() -> ListQuery {
        let owner = Filter::All(vec![
            cmp(
                Column::Plain("owner_type_id"),
                CompareOp::Eq,
                SqlValue::Int(2),
            ),
            cmp(Column::Plain("owner_id"), CompareOp::Eq, SqlValue::Int(5)),
            cursor(0),
        ]);
        uncounted(owner, vec![ID_ASC])
    }

    /// The activities bound to one item (`BINDINGS` filter), by id.
    pub fn bound_to_one_item() -> ListQuery {
        let bound = Filter::All(vec![Filter::BoundTo(vec![(Some(2), Some(5))]), cursor(0)]);
        uncounted(bound, vec![ID_ASC])
    }

    /// How one backend's plan text reads: the line of an index search on a table, the line of a
    /// full scan, and the words of a sort of the whole result.
    pub struct PlanText {
        /// Whether a line searches `table` through `index`.
        pub searches: fn(line: &str, table: &str, index: &str) -> bool,
        /// Whether a line scans the whole of `table`.
        pub scans: fn(line: &str, table: &str) -> bool,
        /// What a sort of the result looks like.
        pub sort: &'static str,
    }

    impl PlanText {
        /// Asserts that `plan` searches `table` through `index`, never scans it whole and never
        /// sorts the result.
        #[track_caller]
        pub fn assert_indexed(&self, plan: &[String], table: &str, index: &str) {
            let text = plan.join("\n");
            assert!(
                plan.iter().any(|l| (self.searches)(l, table, index)),
                "no indexed search of {table} via {index}:\n{text}"
            );
            assert!(
                !plan.iter().any(|l| (self.scans)(l, table)),
                "full scan of {table}:\n{text}"
            );
            assert!(!text.contains(self.sort), "sorts the result:\n{text}");
        }
    }
}
