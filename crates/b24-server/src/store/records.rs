//! Storage of the records that hang off CRM items and whose fields are a JSON body: catalogue
//! products (`crm.product.*`), product rows (`crm.item.productrow.*`), requisites
//! (`crm.requisite.*`), their bank details and addresses. They share one table, `crm_records`,
//! keyed by `(kind, id)`; the `(kind, owner type, owner id, sort, id)` and `(…, owner id, id)`
//! indexes serve every page of one owner's records (by sort or by id) and every cascade when an
//! owner goes, so neither reads other owners' rows.

use super::driver::args;
use super::lists;
use super::sql::{json_map, SqlTx};
use super::{ListQuery, PageOf, Tx};
use crate::error::ApiError;
use serde_json::{Map, Value};

/// What a record is; each kind numbers its records from its own sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A catalogue product; no owner (`0`, `0`).
    Product,
    /// A product row of an item (owner: the item's type and id).
    ProductRow,
    /// A requisite of a company or contact (owner: `ENTITY_TYPE_ID`, `ENTITY_ID`).
    Requisite,
    /// A bank detail of a requisite (owner: type 8, the requisite's id).
    BankDetail,
    /// An address of a requisite, company or contact; `sort` holds its `TYPE_ID`.
    Address,
    /// A CRM user field's definition (owner: the item type it extends, id 0; `sort`: `SORT`);
    /// the body holds its properties and its enumeration `LIST`.
    UserField,
}

impl RecordKind {
    /// The `kind` column's value, also the name of its id sequence.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Product => "product",
            RecordKind::ProductRow => "product_row",
            RecordKind::Requisite => "requisite",
            RecordKind::BankDetail => "bank_detail",
            RecordKind::Address => "address",
            RecordKind::UserField => "user_field",
        }
    }

    /// Every kind.
    pub const ALL: [RecordKind; 6] = [
        RecordKind::Product,
        RecordKind::ProductRow,
        RecordKind::Requisite,
        RecordKind::BankDetail,
        RecordKind::Address,
        RecordKind::UserField,
    ];

    /// Every kind's sequence name (for the data-sequence list of snapshots).
    pub const SEQUENCES: [&'static str; 7] = [
        "product",
        "product_row",
        "requisite",
        "bank_detail",
        "address",
        "user_field",
        // The ids of user-field enumeration elements.
        "user_field_enum",
    ];
}

/// One stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Its id within the kind.
    pub id: i64,
    /// The owner's entity type id (0 for none).
    pub owner_type_id: i64,
    /// The owner's id (0 for none).
    pub owner_id: i64,
    /// The order within the owner (`SORT`, an address's `TYPE_ID`).
    pub sort: i64,
    /// Every other field, under its wire name.
    pub extra: Map<String, Value>,
}

/// Records, inside the call's transaction.
pub trait RecordTx {
    /// Stores a new record; `record.id` is ignored and the new id returned.
    fn insert_record(&mut self, kind: RecordKind, record: &Record) -> Result<i64, ApiError>;
    /// A record, locked against other writers until the transaction ends (write transactions).
    fn record(&mut self, kind: RecordKind, id: i64) -> Result<Option<Record>, ApiError>;
    /// A record's owner `(type, id)`, read without a lock (so a writer can lock the owner
    /// first, in the order every other path takes).
    fn record_owner(&mut self, kind: RecordKind, id: i64) -> Result<Option<(i64, i64)>, ApiError>;
    /// Rewrites a record (owner, sort and body), keyed by kind and id.
    fn update_record(&mut self, kind: RecordKind, record: &Record) -> Result<(), ApiError>;
    /// Deletes a record; `false` when there was none.
    fn delete_record(&mut self, kind: RecordKind, id: i64) -> Result<bool, ApiError>;
    /// Every record of one owner, by sort then id (bounded by what one owner holds).
    fn records_of(
        &mut self,
        kind: RecordKind,
        owner_type_id: i64,
        owner_id: i64,
    ) -> Result<Vec<Record>, ApiError>;
    /// Deletes every record of one owner, returning their ids.
    fn delete_records_of(
        &mut self,
        kind: RecordKind,
        owner_type_id: i64,
        owner_id: i64,
    ) -> Result<Vec<i64>, ApiError>;
    /// A page of records of a kind; `query` uses the columns `id`, `owner_type_id`, `owner_id`,
    /// `sort` and the body's keys.
    fn records_page(
        &mut self,
        kind: RecordKind,
        query: &ListQuery,
    ) -> Result<PageOf<Record>, ApiError>;
}

pub(super) fn record_from_row(r: &dyn super::driver::SqlRow) -> Result<Record, ApiError> {
    Ok(Record {
        id: r.int(0)?,
        owner_type_id: r.int(1)?,
        owner_id: r.int(2)?,
        sort: r.int(3)?,
        extra: json_map(r, 4)?,
    })
}

impl RecordTx for SqlTx<'_> {
    fn insert_record(&mut self, kind: RecordKind, record: &Record) -> Result<i64, ApiError> {
        let id = self.next_id(kind.as_str())?;
        let body = self.json_text(&record.extra)?;
        self.exec(
            "INSERT INTO crm_records (portal_id, kind, id, owner_type_id, owner_id, sort, extra)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &args![
                self.portal,
                kind.as_str(),
                id,
                record.owner_type_id,
                record.owner_id,
                record.sort,
                &body
            ],
        )?;
        Ok(id)
    }

    fn record(&mut self, kind: RecordKind, id: i64) -> Result<Option<Record>, ApiError> {
        let lock = self.dialect.lock_row(self.is_writing());
        self.opt(
            &format!(
                "SELECT {} FROM crm_records WHERE portal_id = ?1 AND kind = ?2 AND id = ?3{lock}",
                lists::RECORD_COLUMNS
            ),
            &args![self.portal, kind.as_str(), id],
            record_from_row,
        )
    }

    fn record_owner(&mut self, kind: RecordKind, id: i64) -> Result<Option<(i64, i64)>, ApiError> {
        self.opt(
            "SELECT owner_type_id, owner_id FROM crm_records
             WHERE portal_id = ?1 AND kind = ?2 AND id = ?3",
            &args![self.portal, kind.as_str(), id],
            |r| Ok((r.int(0)?, r.int(1)?)),
        )
    }

    fn update_record(&mut self, kind: RecordKind, record: &Record) -> Result<(), ApiError> {
        let body = self.json_text(&record.extra)?;
        self.exec(
            "UPDATE crm_records SET owner_type_id = ?4, owner_id = ?5, sort = ?6, extra = ?7
             WHERE portal_id = ?1 AND kind = ?2 AND id = ?3",
            &args![
                self.portal,
                kind.as_str(),
                record.id,
                record.owner_type_id,
                record.owner_id,
                record.sort,
                &body
            ],
        )?;
        Ok(())
    }

    fn delete_record(&mut self, kind: RecordKind, id: i64) -> Result<bool, ApiError> {
        let n = self.exec(
            "DELETE FROM crm_records WHERE portal_id = ?1 AND kind = ?2 AND id = ?3",
            &args![self.portal, kind.as_str(), id],
        )?;
        Ok(n == 1)
    }

    fn records_of(
        &mut self,
        kind: RecordKind,
        owner_type_id: i64,
        owner_id: i64,
    ) -> Result<Vec<Record>, ApiError> {
        self.all(
            &format!(
                "SELECT {} FROM crm_records
                 WHERE portal_id = ?1 AND kind = ?2 AND owner_type_id = ?3 AND owner_id = ?4
                 ORDER BY sort, id",
                lists::RECORD_COLUMNS
            ),
            &args![self.portal, kind.as_str(), owner_type_id, owner_id],
            record_from_row,
        )
    }

    fn delete_records_of(
        &mut self,
        kind: RecordKind,
        owner_type_id: i64,
        owner_id: i64,
    ) -> Result<Vec<i64>, ApiError> {
        let ids = self.all(
            "SELECT id FROM crm_records
             WHERE portal_id = ?1 AND kind = ?2 AND owner_type_id = ?3 AND owner_id = ?4",
            &args![self.portal, kind.as_str(), owner_type_id, owner_id],
            |r| r.int(0),
        )?;
        if !ids.is_empty() {
            self.exec(
                "DELETE FROM crm_records
                 WHERE portal_id = ?1 AND kind = ?2 AND owner_type_id = ?3 AND owner_id = ?4",
                &args![self.portal, kind.as_str(), owner_type_id, owner_id],
            )?;
        }
        Ok(ids)
    }

    fn records_page(
        &mut self,
        kind: RecordKind,
        query: &ListQuery,
    ) -> Result<PageOf<Record>, ApiError> {
        let sql = lists::records_page(self.dialect, self.portal, kind.as_str(), query);
        self.page(&sql, query.count, record_from_row)
    }
}
