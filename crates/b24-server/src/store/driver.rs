//! The small interface the one SQL implementation (`store/sql.rs`) runs on: statements with
//! typed arguments, rows read by column index, and the [`Dialect`] for what truly differs between
//! SQLite and PostgreSQL. Each backend implements [`Conn`] over its own transaction type and
//! prepares every statement once per connection (rusqlite's statement cache; a map of prepared
//! statements per pooled PostgreSQL connection).
//!
//! Statement text is written once, with SQLite's numbered `?1` placeholders; the PostgreSQL
//! connection turns `?n` into `$n` (the same numbered parameter) when it first prepares a text.

use super::{EventHandlerRecord, PortalId};
use crate::error::ApiError;
use b24_protocol::ErrorCode;
use std::borrow::Cow;

/// One statement argument. PostgreSQL binds it as the type the statement expects (an `Int` into
/// a `DOUBLE PRECISION` column is sent as a float); SQLite stores booleans as 0 and 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg<'a> {
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// A boolean.
    Bool(bool),
    /// Text.
    Text(&'a str),
    /// Bytes (digests, keys).
    Blob(&'a [u8]),
    /// SQL `NULL`.
    Null,
}

/// `From` for each type an argument can be made of.
macro_rules! arg_from {
    ($($t:ty => $variant:ident),* $(,)?) => {
        $(impl<'a> From<$t> for Arg<'a> {
            fn from(value: $t) -> Self {
                Arg::$variant(value)
            }
        })*
    };
}
arg_from!(i64 => Int, f64 => Real, bool => Bool, &'a str => Text, &'a [u8] => Blob);

impl<'a> From<&'a String> for Arg<'a> {
    fn from(value: &'a String) -> Self {
        Arg::Text(value)
    }
}

impl<'a> From<&'a [u8; 32]> for Arg<'a> {
    fn from(value: &'a [u8; 32]) -> Self {
        Arg::Blob(value)
    }
}

/// `[Arg; N]` from a list of values of different types: `args![portal, name, &digest]`.
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        [$($crate::store::driver::Arg::from($value)),*]
    };
}
pub(crate) use args;

/// One result row, read by column index. A value of another type than asked for is an error
/// (a bug in a statement, answered as an internal error).
pub trait SqlRow {
    /// An integer column.
    fn int(&self, index: usize) -> Result<i64, ApiError>;
    /// A floating-point column.
    fn real(&self, index: usize) -> Result<f64, ApiError>;
    /// A boolean column (`BOOLEAN`; 0 / 1 in SQLite).
    fn bool(&self, index: usize) -> Result<bool, ApiError>;
    /// A text column.
    fn text(&self, index: usize) -> Result<String, ApiError>;
    /// A bytes column.
    fn blob(&self, index: usize) -> Result<Vec<u8>, ApiError>;
    /// An integer column that may be `NULL`.
    fn opt_int(&self, index: usize) -> Result<Option<i64>, ApiError>;
    /// A floating-point column that may be `NULL`.
    fn opt_real(&self, index: usize) -> Result<Option<f64>, ApiError>;
    /// A text column that may be `NULL`.
    fn opt_text(&self, index: usize) -> Result<Option<String>, ApiError>;
}

/// The [`SqlRow`] methods over a driver row's own typed getter (`get` or `try_get`), whose
/// errors convert into [`ApiError`].
macro_rules! sql_row_getters {
    ($get:ident) => {
        fn int(&self, index: usize) -> Result<i64, ApiError> {
            Ok(self.$get(index)?)
        }
        fn real(&self, index: usize) -> Result<f64, ApiError> {
            Ok(self.$get(index)?)
        }
        fn bool(&self, index: usize) -> Result<bool, ApiError> {
            Ok(self.$get(index)?)
        }
        fn text(&self, index: usize) -> Result<String, ApiError> {
            Ok(self.$get(index)?)
        }
        fn blob(&self, index: usize) -> Result<Vec<u8>, ApiError> {
            Ok(self.$get(index)?)
        }
        fn opt_int(&self, index: usize) -> Result<Option<i64>, ApiError> {
            Ok(self.$get(index)?)
        }
        fn opt_real(&self, index: usize) -> Result<Option<f64>, ApiError> {
            Ok(self.$get(index)?)
        }
        fn opt_text(&self, index: usize) -> Result<Option<String>, ApiError> {
            Ok(self.$get(index)?)
        }
    };
}
pub(crate) use sql_row_getters;

/// What [`Conn::query`] hands each row to.
pub type EachRow<'f> = &'f mut dyn FnMut(&dyn SqlRow) -> Result<(), ApiError>;

/// A connection inside an open transaction.
pub trait Conn {
    /// What the SQL text must account for on this backend.
    fn dialect(&self) -> Dialect;
    /// Runs a statement, returning how many rows it changed.
    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, ApiError>;
    /// Runs a query, handing each row to `each` in order.
    fn query(&mut self, sql: &str, args: &[Arg<'_>], each: EachRow<'_>) -> Result<(), ApiError>;

    /// Runs a write whose changed-row count the caller does not need at once. PostgreSQL sends
    /// it with the transaction's next statement, or with its `COMMIT`, instead of waiting a round
    /// trip for its answer alone; SQLite runs it now. Either way its failure, or a count other
    /// than `expect`, fails the call (a transaction is only committed once every such count has
    /// been checked), and the transaction rolls back.
    fn execute_later(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        expect: Option<Expect>,
    ) -> Result<(), ApiError> {
        let changed = match self.execute(sql, args) {
            Ok(changed) => changed,
            Err(e) => return Err(self.unique_as_expected(e, expect)),
        };
        check_expected(changed, expect)
    }

    /// Whether a statement's error is a unique key refusing a row.
    fn broke_unique_key(&self, _error: &ApiError) -> bool {
        false
    }

    /// A statement's error as the caller expects it: a broken unique key is the error of an
    /// [`Expect::Unique`], anything else stays as it is.
    fn unique_as_expected(&self, error: ApiError, expect: Option<Expect>) -> ApiError {
        match expect {
            Some(Expect::Unique(code)) if self.broke_unique_key(&error) => code.into(),
            _ => error,
        }
    }

    /// Runs queries one after the other, handing each row to `each` with its query's index.
    /// PostgreSQL sends them together (one round trip); each is still a statement of its own,
    /// so in a write transaction a query after a `FOR UPDATE` sees what the lock's previous
    /// holder committed.
    fn query_many(
        &mut self,
        queries: &[(&str, &[Arg<'_>])],
        each: &mut dyn FnMut(usize, &dyn SqlRow) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        for (i, (sql, args)) in queries.iter().enumerate() {
            self.query(sql, args, &mut |row| each(i, row))?;
        }
        Ok(())
    }

    /// The handlers of `event` this process keeps in memory, when the backend can tell they are
    /// still the current ones for this transaction (PostgreSQL, see `store/handlers.rs`); `None`
    /// means: read them.
    fn remembered_handlers(
        &mut self,
        _portal: PortalId,
        _event: &str,
    ) -> Option<Vec<EventHandlerRecord>> {
        None
    }

    /// Offers handlers just read from the database to [`Conn::remembered_handlers`].
    fn remember_handlers(
        &mut self,
        _portal: PortalId,
        _event: &str,
        _handlers: &[EventHandlerRecord],
    ) {
    }
}

/// What a statement of [`Conn::execute_later`] must do, and the error the call fails with when
/// it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Change this many rows. The count is read before the transaction's `COMMIT` is sent.
    Rows(u64, ErrorCode),
    /// Break no unique key. Breaking one fails the statement itself (on PostgreSQL the whole
    /// transaction with it), so such a statement may go with the `COMMIT`.
    Unique(ErrorCode),
}

/// `Ok` unless `expect` names another count than `changed`.
pub fn check_expected(changed: u64, expect: Option<Expect>) -> Result<(), ApiError> {
    match expect {
        Some(Expect::Rows(rows, code)) if rows != changed => Err(code.into()),
        _ => Ok(()),
    }
}

/// The places where SQLite and PostgreSQL need different SQL text. Everything else is one text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The embedded backend.
    Sqlite,
    /// The scale-out backend.
    Postgres,
}

impl Dialect {
    /// The placeholder of the `n`th argument (from 1) of a generated statement. PostgreSQL gets
    /// the SQL type with it, so that comparisons of JSON values and typed columns agree on one
    /// type without inference.
    pub fn param(self, n: usize, sql_type: &str) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}::{sql_type}"),
        }
    }

    /// Appended to the `SELECT` of a row a write transaction is about to change, so concurrent
    /// writers of that row queue. SQLite's `BEGIN IMMEDIATE` already holds the database's one
    /// write lock.
    pub fn lock_row(self, writing: bool) -> &'static str {
        match self {
            Dialect::Postgres if writing => " FOR UPDATE",
            _ => "",
        }
    }

    /// The case-insensitive `LIKE` (SQLite's `LIKE` already ignores ASCII case).
    pub fn like(self) -> &'static str {
        match self {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        }
    }

    /// Names the index a join must use where SQLite's planner, without statistics, could walk
    /// another one (SQLite syntax; PostgreSQL's planner needs no hint).
    pub fn index_hint(self, index: &str) -> String {
        match self {
            Dialect::Sqlite => format!(" INDEXED BY {index}"),
            Dialect::Postgres => String::new(),
        }
    }

    /// Whether text may contain the NUL character (PostgreSQL's `text` and `jsonb` cannot).
    pub fn text_holds_nul(self) -> bool {
        self == Dialect::Sqlite
    }
}

/// Rewrites SQLite's numbered `?n` placeholders to PostgreSQL's `$n` (same number, so arguments
/// may be used out of order and more than once). Text inside quotes is left alone. PostgreSQL
/// connections run this once per statement text, when they prepare it.
pub fn postgres_placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '?' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('$');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_question_marks_become_dollar_placeholders_outside_quotes() {
        assert_eq!(
            postgres_placeholders("UPDATE t SET a = ?2 WHERE id = ?1 AND j = '?1' AND b = ?10"),
            "UPDATE t SET a = $2 WHERE id = $1 AND j = '?1' AND b = $10"
        );
        assert!(matches!(
            postgres_placeholders("SELECT 1"),
            Cow::Borrowed("SELECT 1")
        ));
    }
}
