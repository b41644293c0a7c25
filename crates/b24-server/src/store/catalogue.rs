//! Each portal's smart-process types and CRM user-field definitions kept in memory, so that an
//! item call reads neither: every `crm.item.*` and legacy `crm.deal.*`… call needs its type's
//! parent types (from every smart-process type's relations), its user fields, and for a smart
//! process that the type exists. Read from the database, that was two or three queries per call
//! and the decoding of every definition's JSON body, whatever the call (BENCHMARKS.md,
//! "crm.item.list, round two").
//!
//! What is kept is one [`Catalogue`] per portal: every row of `crm_dynamic_types` and every
//! user-field definition (`crm_records` of kind `user_field`), read together in one transaction.
//! It is valid for one generation of the cache. A write transaction whose statements may change
//! either (found from their text and arguments, see [`touches_catalogue`]; reset, snapshot
//! restore, import and portal deletion included, as they write through the same statements)
//! raises a server-wide version in the database in the same transaction (PostgreSQL: row 3 of
//! `b24_schema_version`; SQLite: the server-wide `catalogue` sequence), and this process's
//! generation once it has committed. So a change made through this process is seen by its very
//! next call, and one made through another process (another server on the same database, or the
//! CLI) once this process has read the version again, which it does at most a second
//! (`callers::RECHECK`) after it last did, before the next transaction.
//!
//! A transaction takes the generation before it begins, so what it reads is never older than
//! the generation it files it under: a change committed before its snapshot has either raised
//! the generation already (the transaction then reads and files under the new one) or will
//! raise it right after, which drops what the transaction filed. A transaction that has itself
//! changed the catalogue reads it from the database and files nothing. A write transaction also
//! reads the shared version (one row) before it uses a kept catalogue, so what a write decides
//! by (that a smart process still exists, a type's user fields) is never older than what another
//! process has committed; only reads may lag another process, by at most a second
//! (`callers::RECHECK`).

use super::callers::{SharedVersion, TableNames};
use super::driver::{args, Arg, Dialect};
use super::records::{record_from_row, RecordKind};
use super::sql::{dynamic_type_from_row, SqlTx, DYNAMIC_TYPE_COLUMNS};
use super::{DynamicTypeRecord, PortalId};
use crate::domain::user_fields::UserField;
use crate::error::ApiError;
use std::collections::HashMap;
use std::sync::LazyLock;
use std::sync::{Arc, Mutex};

/// Past this many portals the cache starts over.
const MAX_PORTALS: usize = 10_000;

/// The statement that raises the shared version on PostgreSQL (row 3 of `b24_schema_version`,
/// made on first use: row 1 is the schema version, row 2 the credentials version).
const PG_BUMP: &str = "INSERT INTO b24_schema_version (id, version) VALUES (3, 1)
     ON CONFLICT (id) DO UPDATE SET version = b24_schema_version.version + 1";

/// The statement that reads it (no row: no catalogue written since the database was made).
const PG_READ: &str = "SELECT version FROM b24_schema_version WHERE id = 3";

/// SQLite's version: the server-wide (portal 0) `catalogue` sequence, made on first use.
const SQLITE_BUMP: &str =
    "INSERT INTO sequences (portal_id, name, value) VALUES (0, 'catalogue', 1)
     ON CONFLICT (portal_id, name) DO UPDATE SET value = sequences.value + 1";

/// SQLite's read of it.
const SQLITE_READ: &str = "SELECT value FROM sequences WHERE portal_id = 0 AND name = 'catalogue'";

/// Whether a statement may change the catalogue: anything but a plain `SELECT` that names
/// `crm_dynamic_types`, or names `crm_records` and is about user fields (an argument is
/// `user_field`) or about no kind in particular (no argument names a record kind: a reset's or
/// a portal deletion's `DELETE … WHERE portal_id = ?1`). Erring towards yes costs only a re-read.
pub fn touches_catalogue(sql: &str, args: &[Arg<'_>]) -> bool {
    let head = sql.trim_start();
    if head.len() >= 6 && head.is_char_boundary(6) && head[..6].eq_ignore_ascii_case("SELECT") {
        return false;
    }
    static TYPES: LazyLock<TableNames> = LazyLock::new(|| TableNames::new(&["crm_dynamic_types"]));
    static RECORDS: LazyLock<TableNames> = LazyLock::new(|| TableNames::new(&["crm_records"]));
    if TYPES.named_in(sql) {
        return true;
    }
    if !RECORDS.named_in(sql) {
        return false;
    }
    let kind_of = |arg: &Arg<'_>| match arg {
        Arg::Text(text) => RecordKind::ALL
            .iter()
            .find(|k| k.as_str() == *text)
            .copied(),
        _ => None,
    };
    let mut kinds = args.iter().filter_map(kind_of).peekable();
    kinds.peek().is_none() || kinds.any(|k| k == RecordKind::UserField)
}

/// One portal's smart-process types and user-field definitions, as read at one generation.
#[derive(Debug, Default)]
pub struct Catalogue {
    generation: u64,
    /// The shared version it was read at.
    version: i64,
    /// Every smart-process type, by id.
    types: Vec<DynamicTypeRecord>,
    /// The user fields of each item type that has some, by `SORT` then `ID`.
    user_fields: HashMap<i64, Arc<[UserField]>>,
}

impl Catalogue {
    /// Every smart-process type of the portal, by id.
    pub fn types(&self) -> &[DynamicTypeRecord] {
        &self.types
    }

    /// The smart-process type whose items have `entity_type_id`.
    pub fn type_of(&self, entity_type_id: i64) -> Option<&DynamicTypeRecord> {
        self.types
            .iter()
            .find(|t| t.entity_type_id == entity_type_id)
    }

    /// The user fields of an item type, by `SORT` then `ID` (shared, not copied).
    pub fn user_fields(&self, entity_type_id: i64) -> Arc<[UserField]> {
        self.user_fields
            .get(&entity_type_id)
            .cloned()
            .unwrap_or_else(|| Arc::from(Vec::new()))
    }
}

/// See the module docs. One per store.
#[derive(Default)]
pub struct CatalogueCache {
    version: SharedVersion,
    portals: Mutex<HashMap<PortalId, Arc<Catalogue>>>,
}

impl CatalogueCache {
    /// See [`SharedVersion::generation`]; a failed read drops every catalogue.
    pub fn generation(&self, read: impl FnOnce() -> Result<i64, ApiError>) -> u64 {
        self.version.generation(|| read().ok())
    }

    /// Drops every kept catalogue (a write through this process changed one).
    pub fn bump(&self) {
        self.version.bump();
    }

    fn get(&self, portal: PortalId, generation: u64) -> Option<Arc<Catalogue>> {
        let portals = self.portals.lock().unwrap_or_else(|e| e.into_inner());
        portals
            .get(&portal)
            .filter(|c| c.generation == generation)
            .cloned()
    }

    fn put(&self, portal: PortalId, catalogue: Arc<Catalogue>) {
        let mut portals = self.portals.lock().unwrap_or_else(|e| e.into_inner());
        if portals.len() >= MAX_PORTALS && !portals.contains_key(&portal) {
            portals.clear();
        }
        // Never replace a newer generation's catalogue with an older one.
        if portals
            .get(&portal)
            .is_none_or(|kept| kept.generation <= catalogue.generation)
        {
            portals.insert(portal, catalogue);
        }
    }
}

/// What a transaction knows of the cache: the cache and the generation taken before it began.
#[derive(Clone)]
pub struct CatalogueView {
    cache: Arc<CatalogueCache>,
    generation: u64,
}

impl CatalogueView {
    /// `cache` at `generation` (taken with [`CatalogueCache::generation`] before the
    /// transaction begins).
    pub fn new(cache: Arc<CatalogueCache>, generation: u64) -> Self {
        Self { cache, generation }
    }
}

/// A transaction's side of the cache (a field of `SqlTx`).
#[derive(Default)]
pub struct TxCatalogue {
    /// The process's cache, when the store lets this transaction use it.
    view: Option<CatalogueView>,
    /// Whether a statement may have changed the catalogue (see [`touches_catalogue`]).
    changed: bool,
    /// The catalogue this transaction has used, until it changes it.
    used: Option<Arc<Catalogue>>,
}

impl TxCatalogue {
    /// Notes a statement that may write.
    pub fn note(&mut self, sql: &str, args: &[Arg<'_>]) {
        if !self.changed && touches_catalogue(sql, args) {
            self.changed = true;
            self.used = None;
        }
    }
}

/// The catalogue inside the call's transaction.
pub trait CatalogueTx {
    /// The portal's catalogue: the kept one when this transaction may use it, else read now
    /// (and kept, when this transaction has changed nothing of it). A write transaction checks
    /// the kept one against the shared version first (one read of one row), so what it decides
    /// by is never older than what another process has committed.
    fn catalogue(&mut self) -> Result<Arc<Catalogue>, ApiError>;
    /// Lets this transaction use (and fill) the process's cache.
    fn use_catalogue_cache(&mut self, view: CatalogueView);
    /// Whether a statement of this transaction may have changed the catalogue.
    fn catalogue_changed(&self) -> bool;
    /// Raises the shared catalogue version (run before commit by a transaction that changed it).
    fn raise_catalogue_version(&mut self) -> Result<(), ApiError>;
    /// The shared catalogue version (0 before the first change).
    fn catalogue_version(&mut self) -> Result<i64, ApiError>;
}

impl SqlTx<'_> {
    /// Reads the portal's catalogue from the database.
    fn read_catalogue(&mut self, generation: u64) -> Result<Catalogue, ApiError> {
        let version = self.catalogue_version()?;
        let types = self.all(
            &format!(
                "SELECT {DYNAMIC_TYPE_COLUMNS} FROM crm_dynamic_types WHERE portal_id = ?1 ORDER BY id"
            ),
            &args![self.portal],
            dynamic_type_from_row,
        )?;
        let records = self.all(
            &format!(
                "SELECT {} FROM crm_records
                 WHERE portal_id = ?1 AND kind = ?2 AND owner_id = 0
                 ORDER BY owner_type_id, sort, id",
                super::lists::RECORD_COLUMNS
            ),
            &args![self.portal, RecordKind::UserField.as_str()],
            record_from_row,
        )?;
        let mut grouped: HashMap<i64, Vec<UserField>> = HashMap::new();
        for record in records {
            grouped
                .entry(record.owner_type_id)
                .or_default()
                .push(UserField::from_record(record));
        }
        Ok(Catalogue {
            generation,
            version,
            types,
            user_fields: grouped
                .into_iter()
                .map(|(t, fields)| (t, Arc::from(fields)))
                .collect(),
        })
    }

    /// The kept catalogue this transaction may use, if there is one.
    fn kept_catalogue(&mut self, view: &CatalogueView) -> Result<Option<Arc<Catalogue>>, ApiError> {
        let Some(kept) = view.cache.get(self.portal, view.generation) else {
            return Ok(None);
        };
        if self.is_writing() && kept.version != self.catalogue_version()? {
            return Ok(None);
        }
        Ok(Some(kept))
    }
}

impl CatalogueTx for SqlTx<'_> {
    fn catalogue(&mut self) -> Result<Arc<Catalogue>, ApiError> {
        if self.catalogue.changed {
            return Ok(Arc::new(self.read_catalogue(0)?));
        }
        if let Some(used) = &self.catalogue.used {
            return Ok(used.clone());
        }
        let catalogue = match self.catalogue.view.clone() {
            None => Arc::new(self.read_catalogue(0)?),
            Some(view) => match self.kept_catalogue(&view)? {
                Some(kept) => kept,
                None => {
                    let read = Arc::new(self.read_catalogue(view.generation)?);
                    view.cache.put(self.portal, read.clone());
                    read
                }
            },
        };
        self.catalogue.used = Some(catalogue.clone());
        Ok(catalogue)
    }

    fn use_catalogue_cache(&mut self, view: CatalogueView) {
        self.catalogue.view = Some(view);
    }

    fn catalogue_changed(&self) -> bool {
        self.catalogue.changed
    }

    fn raise_catalogue_version(&mut self) -> Result<(), ApiError> {
        let bump = match self.dialect {
            Dialect::Sqlite => SQLITE_BUMP,
            Dialect::Postgres => PG_BUMP,
        };
        self.conn.execute(bump, &[])?;
        Ok(())
    }

    fn catalogue_version(&mut self) -> Result<i64, ApiError> {
        let read = match self.dialect {
            Dialect::Sqlite => SQLITE_READ,
            Dialect::Postgres => PG_READ,
        };
        Ok(self.opt(read, &[], |r| r.int(0))?.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::touches_catalogue;
    use crate::store::driver::Arg;

    #[test]
    fn writes_of_types_and_user_field_definitions_are_recognised() {
        let text = Arg::Text;
        assert!(touches_catalogue(
            "UPDATE crm_dynamic_types SET title = ?3 WHERE portal_id = ?1 AND id = ?2",
            &[Arg::Int(1), Arg::Int(2), text("x")]
        ));
        assert!(touches_catalogue(
            "DELETE FROM crm_records WHERE portal_id = ?1 AND kind = ?2 AND id = ?3",
            &[Arg::Int(1), text("user_field"), Arg::Int(3)]
        ));
        assert!(touches_catalogue(
            "DELETE FROM crm_records WHERE portal_id = ?1",
            &[Arg::Int(1)]
        ));
        assert!(!touches_catalogue(
            "INSERT INTO crm_records (portal_id, kind, id) VALUES (?1, ?2, ?3)",
            &[Arg::Int(1), text("product_row"), Arg::Int(3)]
        ));
        assert!(!touches_catalogue(
            "SELECT id FROM crm_dynamic_types WHERE portal_id = ?1",
            &[Arg::Int(1)]
        ));
        assert!(!touches_catalogue(
            "UPDATE crm_records_index SET x = 1",
            &[]
        ));
    }
}
