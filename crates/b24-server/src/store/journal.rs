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

/// Who made a call, as an entry's `via` reads: `webhook:ID`, `app:CLIENT_ID` or `none`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Via<'a> {
    /// Unauthenticated (or refused before the caller was known): `none`.
    None,
    /// An inbound webhook: `webhook:ID`.
    Webhook(i64),
    /// An OAuth application: `app:CLIENT_ID`.
    App(&'a str),
    /// The whole text, as read back from a chunk.
    Text(&'a str),
}

/// One call to append to a chunk, borrowed from wherever its writer keeps it: the recorder's
/// queue or a [`NewJournalEntry`]. `P` and `B` are the parameters and the batch commands, in
/// whatever form serialises to the stored JSON.
#[derive(Debug)]
pub struct CallRef<'a, P: ?Sized, B: ?Sized> {
    /// When the call arrived (portal time, Unix seconds); kept to the microsecond.
    pub at: f64,
    /// Who called.
    pub via: Via<'a>,
    /// The user the call ran as, once known.
    pub user: Option<i64>,
    /// The method, lower-cased.
    pub method: &'a str,
    /// The HTTP status answered.
    pub http: u16,
    /// The wire error code answered, if any.
    pub error: Option<&'a str>,
    /// Milliseconds the server took; kept to the microsecond.
    pub ms: f64,
    /// The parameters, secrets removed (a JSON object).
    pub params: &'a P,
    /// For `batch`: `[{"key","method","error"}]`.
    pub batch: Option<&'a B>,
    /// The fault rule that made the answer.
    pub fault: Option<i64>,
}

impl NewJournalEntry {
    /// The entry as [`JournalChunk::push`] takes it.
    pub fn as_call(&self) -> CallRef<'_, Value, Value> {
        CallRef {
            at: self.at,
            via: Via::Text(&self.via),
            user: self.user,
            method: &self.method,
            http: self.http,
            error: self.error.as_deref(),
            ms: self.ms,
            params: &self.params,
            batch: self.batch.as_ref(),
            fault: self.fault,
        }
    }
}

/// Calls encoded for the journal, not yet numbered: made before the write transaction, so the
/// database's write lock is held for the insert alone. The text is always a whole JSON array;
/// [`JournalChunk::clear`] keeps its buffer, so a writer that reuses one chunk does not fault in
/// fresh pages for every batch.
///
/// Each entry is an object written straight into the buffer (the writer's only per-call work
/// besides the copy). An entry's number is not written: a chunk holds `first_seq..=last_seq` in
/// order, so it is the entry's place (chunks written before carry `seq`, which `decode_chunk`
/// still takes). Absent values (`user`, `error`, `batch`, `fault`) are left out rather than
/// written as `null`, and `at` and `ms` are written as fixed-point decimals to the microsecond
/// (integer formatting, several times cheaper than the shortest float): fewer bytes and less
/// work on every call.
#[derive(Debug, Clone)]
pub struct JournalChunk {
    text: Vec<u8>,
    len: i64,
}

impl Default for JournalChunk {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl JournalChunk {
    /// An empty chunk with room for about `calls` calls.
    pub fn with_capacity(calls: usize) -> Self {
        let mut text = Vec::with_capacity(calls * 112 + 2);
        text.extend_from_slice(b"[]");
        Self { text, len: 0 }
    }

    /// Encodes `entries`, in order.
    pub fn encode(entries: &[NewJournalEntry]) -> Result<Self, ApiError> {
        let mut chunk = Self::with_capacity(entries.len());
        for entry in entries {
            chunk.push(&entry.as_call())?;
        }
        Ok(chunk)
    }

    /// How many calls the chunk holds.
    pub fn len(&self) -> i64 {
        self.len
    }

    /// Whether the chunk holds no call.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the chunk, keeping its buffer.
    pub fn clear(&mut self) {
        self.text.clear();
        self.text.extend_from_slice(b"[]");
        self.len = 0;
    }

    /// Appends one call. On an error (parameters that do not serialise) the chunk is unchanged.
    pub fn push<P, B>(&mut self, call: &CallRef<'_, P, B>) -> Result<(), ApiError>
    where
        P: CallParams + ?Sized,
        B: serde::Serialize + ?Sized,
    {
        let before = self.text.len();
        // Drop the closing bracket; it is written again after the entry.
        self.text.truncate(before - 1);
        match write_call(&mut self.text, self.len == 0, call) {
            Ok(()) => {
                self.text.push(b']');
                self.len += 1;
                Ok(())
            }
            Err(e) => {
                self.text.truncate(before - 1);
                self.text.push(b']');
                Err(ApiError::internal(anyhow::anyhow!(e)))
            }
        }
    }

    /// The chunk's JSON text.
    fn text(&self) -> Result<&str, ApiError> {
        // Only serde_json's output and ASCII are written: always UTF-8.
        std::str::from_utf8(&self.text).map_err(|e| ApiError::internal(anyhow::anyhow!(e)))
    }
}

/// Parameters as a chunk stores them: a JSON object, most often empty.
pub trait CallParams: serde::Serialize {
    /// Whether this is an object without members (written as `{}` without a serializer).
    fn is_empty_object(&self) -> bool;
}

impl CallParams for serde_json::Map<String, Value> {
    fn is_empty_object(&self) -> bool {
        self.is_empty()
    }
}

impl CallParams for Value {
    fn is_empty_object(&self) -> bool {
        self.as_object().is_some_and(serde_json::Map::is_empty)
    }
}

/// The bytes a JSON string holds as they are: printable ASCII but the quote and the backslash
/// (a table: one load a byte where three comparisons were).
const PLAIN: [bool; 256] = {
    let mut plain = [false; 256];
    let mut b = b' ';
    while b <= b'~' {
        plain[b as usize] = b != b'"' && b != b'\\';
        b += 1;
    }
    plain
};

/// Writes one entry object (after a comma unless it is the first).
fn write_call<P, B>(
    out: &mut Vec<u8>,
    first: bool,
    call: &CallRef<'_, P, B>,
) -> serde_json::Result<()>
where
    P: CallParams + ?Sized,
    B: serde::Serialize + ?Sized,
{
    /// A JSON string; printable ASCII without quotes or backslashes (every method name) is
    /// copied as it is, the rest goes through serde_json's escaping.
    fn string(out: &mut Vec<u8>, text: &str) -> serde_json::Result<()> {
        if text.bytes().all(|b| PLAIN[usize::from(b)]) {
            out.push(b'"');
            out.extend_from_slice(text.as_bytes());
            out.push(b'"');
            Ok(())
        } else {
            serde_json::to_writer(&mut *out, text)
        }
    }
    fn int(out: &mut Vec<u8>, value: impl itoa::Integer) {
        out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }
    // Each member's name is written with its punctuation in one piece.
    out.extend_from_slice(if first { b"{\"at\":" } else { b",{\"at\":" });
    micros(out, call.at, 6);
    out.extend_from_slice(b",\"via\":");
    match call.via {
        Via::None => out.extend_from_slice(b"\"none\""),
        Via::Webhook(id) => {
            out.extend_from_slice(b"\"webhook:");
            int(out, id);
            out.push(b'"');
        }
        Via::App(client_id) => serde_json::to_writer(&mut *out, &["app:", client_id].concat())?,
        Via::Text(text) => serde_json::to_writer(&mut *out, text)?,
    }
    if let Some(user) = call.user {
        out.extend_from_slice(b",\"user\":");
        int(out, user);
    }
    out.extend_from_slice(b",\"method\":");
    string(out, call.method)?;
    out.extend_from_slice(b",\"http\":");
    int(out, call.http);
    if let Some(error) = call.error {
        out.extend_from_slice(b",\"error\":");
        serde_json::to_writer(&mut *out, error)?;
    }
    out.extend_from_slice(b",\"ms\":");
    micros(out, call.ms, 3);
    out.extend_from_slice(b",\"params\":");
    if call.params.is_empty_object() {
        out.extend_from_slice(b"{}");
    } else {
        serde_json::to_writer(&mut *out, call.params)?;
    }
    if let Some(batch) = call.batch {
        out.extend_from_slice(b",\"batch\":");
        serde_json::to_writer(&mut *out, batch)?;
    }
    if let Some(fault) = call.fault {
        out.extend_from_slice(b",\"fault\":");
        int(out, fault);
    }
    out.push(b'}');
    Ok(())
}

/// Writes `value` as a JSON number with `decimals` decimals (3: thousandths; 6: millionths),
/// rounded half away from zero; not a number or out of range: 0. Integer formatting only (the
/// shortest-float formatter and `f64::round`, a libm call here, were most of the writer's own
/// work per call).
fn micros(out: &mut Vec<u8>, value: f64, decimals: u32) {
    if decimals == 3 {
        fixed::<3>(out, value);
    } else {
        fixed::<6>(out, value);
    }
}

/// [`micros`] for `DECIMALS` decimals (at most 6): the value scaled to an integer is written
/// once, and the point put in its place.
#[inline]
fn fixed<const DECIMALS: usize>(out: &mut Vec<u8>, value: f64) {
    const ZEROS: &[u8] = b"000000";
    let scaled = value * 10_u32.pow(DECIMALS as u32) as f64;
    // Beyond 2^53 a double no longer holds every integer: no clock or duration gets there.
    let scaled = if scaled.abs() < 9e15 {
        (scaled + 0.5_f64.copysign(scaled)) as i64
    } else {
        0
    };
    if scaled < 0 {
        out.push(b'-');
    }
    let mut buffer = itoa::Buffer::new();
    let digits = buffer.format(scaled.unsigned_abs()).as_bytes();
    if let Some(point) = digits.len().checked_sub(DECIMALS).filter(|&p| p > 0) {
        out.extend_from_slice(&digits[..point]);
        out.push(b'.');
        out.extend_from_slice(&digits[point..]);
    } else {
        out.extend_from_slice(b"0.");
        out.extend_from_slice(&ZEROS[..DECIMALS - digits.len()]);
        out.extend_from_slice(digits);
    }
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
        let text = chunk.text()?;
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
            &args![self.portal, last, first, floor, text],
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
        let chunk = JournalChunk::encode(&written).unwrap();
        let read = decode_chunk(43, chunk.text().unwrap()).unwrap();
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
        let chunk = JournalChunk::encode(&[bare]).unwrap();
        let text = chunk.text().unwrap();
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
    fn times_are_written_as_decimals_to_the_microsecond() {
        let written = |value: f64, decimals: u32| {
            let mut out = Vec::new();
            micros(&mut out, value, decimals);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(written(1_796_061_234.123_456_7, 6), "1796061234.123457");
        assert_eq!(written(1_800_000_000.25, 6), "1800000000.250000");
        assert_eq!(written(0.0124, 3), "0.012");
        assert_eq!(written(0.0005, 3), "0.001");
        assert_eq!(written(12.5, 3), "12.500");
        assert_eq!(written(-1.5, 6), "-1.500000");
        assert_eq!(written(f64::NAN, 3), "0.000");
        assert_eq!(written(f64::INFINITY, 6), "0.000000");
        assert_eq!(written(0.0, 6), "0.000000");
        assert_eq!(written(-0.0005, 6), "-0.000500");
        assert_eq!(written(3.000_007, 6), "3.000007");
        assert_eq!(written(99.9996, 3), "100.000");
        assert_eq!(written(0.000_001, 6), "0.000001");
        assert_eq!(written(0.5, 3), "0.500");
        assert_eq!(written(1.0, 3), "1.000");
        for text in ["1796061234.123457", "0.012", "-1.500000"] {
            assert!(text.parse::<f64>().is_ok());
        }
    }

    #[test]
    fn a_call_that_cannot_be_encoded_leaves_the_chunk_as_it_was() {
        struct Broken;
        impl serde::Serialize for Broken {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        impl CallParams for Broken {
            fn is_empty_object(&self) -> bool {
                false
            }
        }
        let mut chunk = JournalChunk::encode(&[entry(1)]).unwrap();
        let before = chunk.text().unwrap().to_string();
        let good = entry(2);
        let mut broken = good.as_call();
        let bad = CallRef {
            at: 1.0,
            via: Via::None,
            user: None,
            method: "server.time",
            http: 200,
            error: None,
            ms: 0.0,
            params: &Broken,
            batch: None::<&Value>,
            fault: None,
        };
        assert!(chunk.push(&bad).is_err());
        assert_eq!((chunk.text().unwrap(), chunk.len()), (before.as_str(), 1));
        broken.via = Via::Webhook(9);
        broken.method = "odd\"method\\\u{e9}\t\u{7f}";
        chunk.push(&broken).unwrap();
        let read = decode_chunk(2, chunk.text().unwrap()).unwrap();
        assert_eq!(read[1].entry.via, "webhook:9");
        assert_eq!(read[1].entry.method, "odd\"method\\\u{e9}\t\u{7f}");
        assert_eq!(read[1].entry.params, good.params);
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
