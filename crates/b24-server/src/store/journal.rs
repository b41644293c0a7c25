//! Storage of the request journal (`/_b24/journal`). The writer appends the calls it gathered
//! (tens to thousands at a time) as ONE row, a *chunk*: `(portal_id, last_seq)` is the key,
//! `first_seq` and `floor_seq` beside it, and `entries` holds the calls as a JSON array. A row per
//! call made every call pay an insert and, past the cap, a delete in a B-tree (more than the
//! whole of a `server.time` answer costs); a row per batch makes that cost vanish, and the
//! journal is read rarely (by tests, the CLI and the console), where decoding a few chunks is
//! cheap.
//!
//! Numbers: `seq` comes from the portal's `journal` row of `sequences`, taken in the same
//! transaction, so two server processes on one PostgreSQL database never hand out one number
//! twice (the row is locked by the update until the batch commits) and their chunks never
//! overlap. The cap: each chunk records the `floor` its writer computed (the newest `seq` minus
//! the entries kept); entries at or below the newest chunk's floor are gone even while their
//! chunk still holds younger ones, and chunks wholly below it are deleted. Every statement walks
//! the primary key from a `seq`, and a read decodes at most the chunks holding the entries kept,
//! so no statement reads the whole table.

use super::driver::args;
use super::sql::SqlTx;
use crate::error::ApiError;
use serde::Deserialize;
use serde_json::Value;

/// The name of the journal's counter in `sequences`.
const SEQUENCE: &str = "journal";

/// One call as stored, before it has its number.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// The parameters, secrets removed.
    pub params: Value,
    /// For `batch`: `[{"key","method","error"}]`.
    pub batch: Option<Value>,
    /// The fault rule that made the answer.
    pub fault: Option<i64>,
}

/// A stored call: its number and the call, as a chunk holds them (one flat object).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JournalEntry {
    /// Its number, increasing per portal.
    pub seq: i64,
    /// The call itself.
    #[serde(flatten)]
    pub entry: NewJournalEntry,
}

/// Which entries a read or count selects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalFilter {
    /// Only entries after this `seq`.
    pub since: i64,
    /// A lower-case glob (`*`: any run of characters) the method must match.
    pub method: Option<String>,
    /// Only answers with an error, or without one.
    pub error: ErrorFilter,
    /// Only this `via`.
    pub via: Option<String>,
}

impl JournalFilter {
    /// Whether the filter looks at more than numbers (so entries must be decoded to count them).
    fn selects_by_content(&self) -> bool {
        self.method.is_some() || self.error != ErrorFilter::All || self.via.is_some()
    }

    fn matches(&self, entry: &JournalEntry) -> bool {
        let entry = &entry.entry;
        let error = match &self.error {
            ErrorFilter::All => true,
            ErrorFilter::Any => entry.error.is_some(),
            ErrorFilter::None => entry.error.is_none(),
            ErrorFilter::Code(code) => entry.error.as_deref() == Some(code),
        };
        error
            && self.via.as_ref().is_none_or(|via| *via == entry.via)
            && self
                .method
                .as_ref()
                .is_none_or(|glob| crate::control::glob::matches(glob, &entry.method))
    }
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
    /// Appends calls in order as one chunk, numbering them; then drops the oldest beyond `keep`.
    /// Returns the last number given.
    fn append_journal(&mut self, chunk: &JournalChunk, keep: u64) -> Result<i64, ApiError>;
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

/// Calls encoded for the journal, not yet numbered: made before the write transaction, so the
/// database's write lock is held for the insert alone.
#[derive(Debug, Clone)]
pub struct JournalChunk {
    text: String,
    len: i64,
}

impl JournalChunk {
    /// Encodes `entries`, in order.
    pub fn encode(entries: &[NewJournalEntry]) -> Result<Self, ApiError> {
        Ok(Self {
            text: encode_chunk(entries)?,
            len: entries.len() as i64,
        })
    }
}

/// The chunk text of `entries`: a JSON array of entry objects, written straight into one buffer
/// (the writer's only per-call work besides the copy). An entry's number is not written: a chunk
/// holds `first_seq..=last_seq` in order, so it is the entry's place (chunks written before
/// carry `seq`, which [`decode_chunk`] still takes). Absent values (`user`, `error`, `batch`,
/// `fault`) are left out rather than written as `null`: fewer bytes to write, checksum and copy
/// on every call.
fn encode_chunk(entries: &[NewJournalEntry]) -> Result<String, ApiError> {
    fn field(
        out: &mut Vec<u8>,
        name: &str,
        value: &impl serde::Serialize,
    ) -> serde_json::Result<()> {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        serde_json::to_writer(&mut *out, value)
    }
    fn present(
        out: &mut Vec<u8>,
        name: &str,
        value: Option<&impl serde::Serialize>,
    ) -> serde_json::Result<()> {
        value.map_or(Ok(()), |value| field(out, name, value))
    }
    let encode = || -> serde_json::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(entries.len() * 128 + 2);
        out.push(b'[');
        for (i, e) in entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"at\":");
            serde_json::to_writer(&mut out, &e.at)?;
            field(&mut out, "via", &e.via)?;
            present(&mut out, "user", e.user.as_ref())?;
            field(&mut out, "method", &e.method)?;
            field(&mut out, "http", &e.http)?;
            present(&mut out, "error", e.error.as_ref())?;
            field(&mut out, "ms", &e.ms)?;
            field(&mut out, "params", &e.params)?;
            present(&mut out, "batch", e.batch.as_ref())?;
            present(&mut out, "fault", e.fault.as_ref())?;
            out.push(b'}');
        }
        out.push(b']');
        Ok(out)
    };
    let bytes = encode().map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    // serde_json writes UTF-8 only.
    String::from_utf8(bytes).map_err(|e| ApiError::internal(anyhow::anyhow!(e)))
}

/// An entry as a chunk holds it: with its number (chunks written before numbers were implied)
/// or without.
#[derive(Deserialize)]
struct StoredEntry {
    seq: Option<i64>,
    #[serde(flatten)]
    entry: NewJournalEntry,
}

/// The entries of the chunk ending at `last`, each with its number.
fn decode_chunk(last: i64, text: &str) -> Result<Vec<JournalEntry>, ApiError> {
    let stored: Vec<StoredEntry> = serde_json::from_str(text)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("a journal chunk cannot be read: {e}")))?;
    let first = last - stored.len() as i64 + 1;
    Ok(stored
        .into_iter()
        .zip(first..)
        .map(|(stored, place)| JournalEntry {
            seq: stored.seq.unwrap_or(place),
            entry: stored.entry,
        })
        .collect())
}

/// How many entries above `floor` a chunk of `first..=last` holds.
fn kept_in(first: i64, last: i64, floor: i64) -> u64 {
    (last - first.max(floor + 1) + 1).max(0) as u64
}

impl SqlTx<'_> {
    /// The newest chunk's floor: entries at or below it are gone. 0 without chunks.
    fn journal_floor(&mut self) -> Result<i64, ApiError> {
        let floor = self.opt(
            "SELECT floor_seq FROM journal WHERE portal_id = ?1 ORDER BY last_seq DESC LIMIT 1",
            &args![self.portal],
            |r| r.int(0),
        )?;
        Ok(floor.unwrap_or(0))
    }

    /// Calls `visit` with every kept entry after `since`, oldest first, a chunk at a time,
    /// until it returns `false`.
    fn visit_journal(
        &mut self,
        since: i64,
        mut visit: impl FnMut(JournalEntry) -> bool,
    ) -> Result<(), ApiError> {
        let mut after = since.max(self.journal_floor()?);
        loop {
            let chunk = self.opt(
                "SELECT last_seq, entries FROM journal WHERE portal_id = ?1 AND last_seq > ?2
                 ORDER BY last_seq LIMIT 1",
                &args![self.portal, after],
                |r| Ok((r.int(0)?, r.text(1)?)),
            )?;
            let Some((last, text)) = chunk else {
                return Ok(());
            };
            for entry in decode_chunk(last, &text)? {
                if entry.seq > after && !visit(entry) {
                    return Ok(());
                }
            }
            after = last;
        }
    }

    /// How many entries after `since` are kept, from the chunks' bounds alone.
    fn journal_kept(&mut self, since: i64) -> Result<u64, ApiError> {
        let after = since.max(self.journal_floor()?);
        let bounds = self.all(
            "SELECT first_seq, last_seq FROM journal WHERE portal_id = ?1 AND last_seq > ?2",
            &args![self.portal, after],
            |r| Ok((r.int(0)?, r.int(1)?)),
        )?;
        Ok(bounds
            .into_iter()
            .map(|(first, last)| kept_in(first, last, after))
            .sum())
    }
}

impl JournalTx for SqlTx<'_> {
    fn append_journal(&mut self, chunk: &JournalChunk, keep: u64) -> Result<i64, ApiError> {
        let n = chunk.len;
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
        let first = last - n + 1;
        let floor = last.saturating_sub(keep.min(i64::MAX as u64) as i64).max(0);
        self.exec(
            "INSERT INTO journal (portal_id, last_seq, first_seq, floor_seq, entries)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            &args![self.portal, last, first, floor, chunk.text.as_str()],
        )?;
        if floor > 0 {
            self.exec(
                "DELETE FROM journal WHERE portal_id = ?1 AND last_seq <= ?2",
                &args![self.portal, floor],
            )?;
        }
        Ok(last)
    }

    fn journal_page(
        &mut self,
        filter: &JournalFilter,
        limit: u64,
    ) -> Result<Vec<JournalEntry>, ApiError> {
        let mut page = Vec::new();
        if limit == 0 {
            return Ok(page);
        }
        self.visit_journal(filter.since, |entry| {
            if filter.matches(&entry) {
                page.push(entry);
            }
            (page.len() as u64) < limit
        })?;
        Ok(page)
    }

    fn journal_count(&mut self, filter: &JournalFilter) -> Result<u64, ApiError> {
        if !filter.selects_by_content() {
            return self.journal_kept(filter.since);
        }
        let mut n = 0;
        self.visit_journal(filter.since, |entry| {
            n += u64::from(filter.matches(&entry));
            true
        })?;
        Ok(n)
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
        let kept = self.journal_kept(0)?;
        self.exec(
            "DELETE FROM journal WHERE portal_id = ?1",
            &args![self.portal],
        )?;
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(i: i64) -> NewJournalEntry {
        NewJournalEntry {
            at: 1_800_000_000.25,
            via: "webhook:1".into(),
            user: (i % 2 == 0).then_some(1),
            method: "crm.item.add".into(),
            http: 400,
            error: Some("ERROR \"quoted\" \u{1F600}".into()),
            ms: 0.125,
            params: json!({"fields": {"title": format!("deal {i}"), "n": [1, 2.5, null]}}),
            batch: (i == 2).then(|| json!([{"key": "a", "method": "server.time", "error": null}])),
            fault: Some(i),
        }
    }

    #[test]
    fn a_chunk_gives_back_every_field_of_every_entry_with_its_number() {
        let written: Vec<NewJournalEntry> = (1..=3).map(entry).collect();
        let read = decode_chunk(43, &encode_chunk(&written).unwrap()).unwrap();
        assert_eq!(read.len(), 3);
        for ((seq, new), stored) in (41..).zip(&written).zip(&read) {
            assert_eq!(stored.seq, seq);
            assert_eq!(&stored.entry, new);
        }
    }

    #[test]
    fn a_chunk_leaves_out_numbers_and_absent_values() {
        let mut bare = entry(1);
        (bare.user, bare.error, bare.batch, bare.fault) = (None, None, None, None);
        bare.params = json!({});
        let text = encode_chunk(&[bare]).unwrap();
        for absent in ["seq", "user", "error", "batch", "fault", "null"] {
            assert!(!text.contains(absent), "{absent} in {text}");
        }
    }

    #[test]
    fn a_chunk_written_with_numbers_and_nulls_still_reads() {
        let text = r#"[{"seq":7,"at":1.5,"via":"none","user":null,"method":"server.time","http":200,"error":null,"ms":0.5,"params":{},"batch":null,"fault":null}]"#;
        let read = decode_chunk(7, text).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].seq, 7);
        assert_eq!(read[0].entry.method, "server.time");
        assert_eq!(read[0].entry.user, None);
    }

    #[test]
    fn a_chunk_keeps_only_the_entries_above_the_floor() {
        assert_eq!(kept_in(1, 10, 0), 10);
        assert_eq!(kept_in(1, 10, 4), 6);
        assert_eq!(kept_in(5, 10, 4), 6);
        assert_eq!(kept_in(5, 10, 10), 0);
        assert_eq!(kept_in(5, 10, 20), 0);
    }
}
