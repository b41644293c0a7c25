//! Storage of the request journal (`/_b24/journal`): one row per REST call, keyed by
//! `(portal_id, seq)`. Rows are appended in batches by the journal writer (off the request path);
//! `seq` comes from the portal's `journal` row of `sequences`, taken in the same transaction, so
//! two server processes on one PostgreSQL database never hand out one number twice (the row is
//! locked by the update until the batch commits). Every read and the cap's delete walk the
//! primary key from a `seq`, so no statement reads the whole table.

use super::driver::{args, Arg};
use super::sql::SqlTx;
use crate::error::ApiError;

/// The name of the journal's counter in `sequences`.
const SEQUENCE: &str = "journal";

/// One call as stored, before it has its number.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJournalEntry {
    /// When the call arrived (portal time, Unix seconds).
    pub at: f64,
    /// `webhook:ID`, `app:CLIENT_ID` or `none`.
    pub via: String,
    /// The user the call ran as, once known.
    pub user: Option<i64>,
    /// The method, lower-cased (`oauth.token` for the token endpoint).
    pub method: String,
    /// The HTTP status answered.
    pub http: u16,
    /// The wire error code answered, if any.
    pub error: Option<String>,
    /// Milliseconds the server took.
    pub ms: f64,
    /// The parameters, secrets removed, as JSON text.
    pub params: String,
    /// For `batch`: `[{"key","method","error"}]` as JSON text.
    pub batch: Option<String>,
    /// The fault rule that made the answer.
    pub fault: Option<i64>,
}

/// A stored call.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    /// Its number, increasing per portal.
    pub seq: i64,
    /// The call itself.
    pub entry: NewJournalEntry,
}

/// Which entries a read or count selects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalFilter {
    /// Only entries after this `seq`.
    pub since: i64,
    /// A SQL `LIKE` pattern (escape `\`) the lower-cased method must match.
    pub method_like: Option<String>,
    /// Only answers with an error, or without one.
    pub error: ErrorFilter,
    /// Only this `via`.
    pub via: Option<String>,
}

/// The `error` filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ErrorFilter {
    /// Every entry.
    #[default]
    All,
    /// Entries answered with some error.
    Any,
    /// Entries answered without an error.
    None,
    /// Entries answered with this code.
    Code(String),
}

/// The journal's statements.
pub trait JournalTx {
    /// Appends calls in order, numbering them; then drops the oldest beyond `keep` (by `seq`
    /// range, through the primary key). Returns the last number given.
    fn append_journal(&mut self, entries: &[NewJournalEntry], keep: u64) -> Result<i64, ApiError>;
    /// Up to `limit` entries matching `filter`, oldest first.
    fn journal_page(
        &mut self,
        filter: &JournalFilter,
        limit: u64,
    ) -> Result<Vec<JournalEntry>, ApiError>;
    /// How many entries match `filter`.
    fn journal_count(&mut self, filter: &JournalFilter) -> Result<u64, ApiError>;
    /// The last `seq` given (also when that entry is gone), 0 before the first.
    fn journal_last_seq(&mut self) -> Result<i64, ApiError>;
    /// Deletes the portal's journal (numbering goes on, so `since` values stay meaningful);
    /// returns how many entries went.
    fn clear_journal(&mut self) -> Result<u64, ApiError>;
}

/// Rows per multi-row `INSERT` (12 arguments each).
const CHUNK: usize = 32;

const COLUMNS: &str = "seq, at, via, user_id, method, http, error, ms, params, batch, fault";

/// The `WHERE` of a filtered read and its arguments (after the portal, `?1`).
fn where_clause<'f>(filter: &'f JournalFilter, portal: i64) -> (String, Vec<Arg<'f>>) {
    let mut sql = String::from("portal_id = ?1 AND seq > ?2");
    let mut args = vec![Arg::Int(portal), Arg::Int(filter.since)];
    if let Some(like) = &filter.method_like {
        args.push(Arg::Text(like));
        sql.push_str(&format!(" AND method LIKE ?{} ESCAPE '\\'", args.len()));
    }
    match &filter.error {
        ErrorFilter::All => {}
        ErrorFilter::Any => sql.push_str(" AND error IS NOT NULL"),
        ErrorFilter::None => sql.push_str(" AND error IS NULL"),
        ErrorFilter::Code(code) => {
            args.push(Arg::Text(code));
            sql.push_str(&format!(" AND error = ?{}", args.len()));
        }
    }
    if let Some(via) = &filter.via {
        args.push(Arg::Text(via));
        sql.push_str(&format!(" AND via = ?{}", args.len()));
    }
    (sql, args)
}

impl SqlTx<'_> {
    /// One `INSERT` of numbered entries (a full chunk, or one row).
    fn insert_rows(&mut self, rows: &[(i64, &NewJournalEntry)]) -> Result<(), ApiError> {
        let sql = insert_statement(rows.len());
        let mut args = Vec::with_capacity(rows.len() * 12);
        for (seq, e) in rows {
            args.extend([
                Arg::Int(self.portal),
                Arg::Int(*seq),
                Arg::Real(e.at),
                Arg::Text(&e.via),
                e.user.map_or(Arg::Null, Arg::Int),
                Arg::Text(&e.method),
                Arg::Int(i64::from(e.http)),
                e.error.as_deref().map_or(Arg::Null, Arg::Text),
                Arg::Real(e.ms),
                Arg::Text(&e.params),
                e.batch.as_deref().map_or(Arg::Null, Arg::Text),
                e.fault.map_or(Arg::Null, Arg::Int),
            ]);
        }
        self.exec(sql, &args)?;
        Ok(())
    }
}

/// The text of an `INSERT` of `rows` entries (a full [`CHUNK`] or one), built once: the writer
/// runs it for every few dozen calls answered.
fn insert_statement(rows: usize) -> &'static str {
    fn build(rows: usize) -> String {
        let mut sql = String::from(
            "INSERT INTO journal (portal_id, seq, at, via, user_id, method, http, error, ms, params, batch, fault) VALUES ",
        );
        for i in 0..rows {
            let first = i * 12 + 1;
            let placeholders: Vec<String> = (first..first + 12).map(|n| format!("?{n}")).collect();
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            sql.push_str(&placeholders.join(", "));
            sql.push(')');
        }
        sql
    }
    static CHUNKED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static SINGLE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match rows {
        CHUNK => CHUNKED.get_or_init(|| build(CHUNK)),
        1 => SINGLE.get_or_init(|| build(1)),
        other => unreachable!("journal rows go in by {CHUNK} or by one, not {other}"),
    }
}

impl JournalTx for SqlTx<'_> {
    fn append_journal(&mut self, entries: &[NewJournalEntry], keep: u64) -> Result<i64, ApiError> {
        let n = entries.len() as i64;
        if n == 0 {
            return self.journal_last_seq();
        }
        // Taking `n` numbers at once locks the counter row until commit (PostgreSQL), so
        // concurrent writers of one portal queue here and their numbers never overlap.
        let last = self
            .opt(
                "INSERT INTO sequences (portal_id, name, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (portal_id, name) DO UPDATE SET value = sequences.value + ?3
                 RETURNING value",
                &args![self.portal, SEQUENCE, n],
                |r| r.int(0),
            )?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the sequence returned no value")))?;
        // Full chunks go in one multi-row statement each (one prepared text), the rest one by
        // one: two statement texts in all, and few round trips to PostgreSQL.
        let numbered: Vec<(i64, &NewJournalEntry)> = (last - n + 1..).zip(entries).collect();
        let mut chunks = numbered.chunks_exact(CHUNK);
        for chunk in chunks.by_ref() {
            self.insert_rows(chunk)?;
        }
        for row in chunks.remainder() {
            self.insert_rows(std::slice::from_ref(row))?;
        }
        let oldest_kept = last.saturating_sub(keep.min(i64::MAX as u64) as i64);
        if oldest_kept > 0 {
            self.exec(
                "DELETE FROM journal WHERE portal_id = ?1 AND seq <= ?2",
                &args![self.portal, oldest_kept],
            )?;
        }
        Ok(last)
    }

    fn journal_page(
        &mut self,
        filter: &JournalFilter,
        limit: u64,
    ) -> Result<Vec<JournalEntry>, ApiError> {
        let (clause, mut args) = where_clause(filter, self.portal);
        args.push(Arg::Int(limit.min(i64::MAX as u64) as i64));
        let sql = format!(
            "SELECT {COLUMNS} FROM journal WHERE {clause} ORDER BY seq LIMIT ?{}",
            args.len()
        );
        self.all(&sql, &args, |r| {
            Ok(JournalEntry {
                seq: r.int(0)?,
                entry: NewJournalEntry {
                    at: r.real(1)?,
                    via: r.text(2)?,
                    user: r.opt_int(3)?,
                    method: r.text(4)?,
                    http: u16::try_from(r.int(5)?).unwrap_or(0),
                    error: r.opt_text(6)?,
                    ms: r.real(7)?,
                    params: r.text(8)?,
                    batch: r.opt_text(9)?,
                    fault: r.opt_int(10)?,
                },
            })
        })
    }

    fn journal_count(&mut self, filter: &JournalFilter) -> Result<u64, ApiError> {
        let (clause, args) = where_clause(filter, self.portal);
        let sql = format!("SELECT COUNT(*) FROM journal WHERE {clause}");
        let n = self.opt(&sql, &args, |r| r.int(0))?.unwrap_or(0);
        Ok(n.max(0) as u64)
    }

    fn journal_last_seq(&mut self) -> Result<i64, ApiError> {
        let last = self.opt(
            "SELECT value FROM sequences WHERE portal_id = ?1 AND name = ?2",
            &args![self.portal, SEQUENCE],
            |r| r.int(0),
        )?;
        Ok(last.unwrap_or(0))
    }

    fn clear_journal(&mut self) -> Result<u64, ApiError> {
        self.exec(
            "DELETE FROM journal WHERE portal_id = ?1",
            &args![self.portal],
        )
    }
}
