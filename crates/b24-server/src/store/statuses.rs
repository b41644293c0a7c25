//! Storage of CRM dictionaries (`crm.status.*`): one row per dictionary entry, a stage of a
//! pipeline being an entry of that pipeline's dictionary (`DEAL_STAGE_2`, `DYNAMIC_128_STAGE_3`).
//! Rules live in [`crate::domain::statuses`].

use super::driver::{args, SqlRow};
use super::lists::{self, STATUS_COLUMNS};
use super::sql::SqlTx;
use super::{ListQuery, PageOf};
use crate::error::ApiError;

/// One dictionary entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRecord {
    /// `ID`.
    pub id: i64,
    /// `ENTITY_ID`: the dictionary (`STATUS`, `SOURCE`, `DEAL_STAGE_2`, …).
    pub entity_id: String,
    /// `STATUS_ID`: the code items store (`NEW`, `C2:WON`).
    pub status_id: String,
    /// `NAME`.
    pub name: String,
    /// `NAME_INIT`: the name a system entry was created with; empty for others.
    pub name_init: String,
    /// `SORT`.
    pub sort: i64,
    /// `SYSTEM`: created with the portal or its pipeline; deleted only with `FORCED`.
    pub system: bool,
    /// The pipeline of a stage; 0 for dictionaries outside pipelines and the default deal one.
    pub category_id: i64,
    /// `COLOR`, `#RRGGBB`, or empty.
    pub color: String,
    /// `SEMANTICS`: empty while in progress, `S` success, `F` failure.
    pub semantics: String,
}

/// Reads and writes of dictionary entries.
pub trait StatusTx {
    /// An entry by `ID`.
    fn status(&mut self, id: i64) -> Result<Option<StatusRecord>, ApiError>;
    /// An entry by dictionary and code.
    fn status_by_code(
        &mut self,
        entity_id: &str,
        status_id: &str,
    ) -> Result<Option<StatusRecord>, ApiError>;
    /// The entries of one dictionary by `SORT`, then `ID`.
    fn statuses_of(&mut self, entity_id: &str) -> Result<Vec<StatusRecord>, ApiError>;
    /// Whether the portal has any entry at all (the defaults were written).
    fn has_statuses(&mut self) -> Result<bool, ApiError>;
    /// Locks the portal row until the transaction ends, so that two server processes starting
    /// together on one database write the defaults once (the second sees the first's rows).
    fn lock_portal_row(&mut self) -> Result<(), ApiError>;
    /// Stores an entry; `record.id` is ignored and the new id returned.
    fn insert_status(&mut self, record: &StatusRecord) -> Result<i64, ApiError>;
    /// Rewrites the changeable columns of an entry (`NAME`, `SORT`, `COLOR`, `SEMANTICS`).
    fn update_status(&mut self, record: &StatusRecord) -> Result<(), ApiError>;
    /// Deletes an entry.
    fn delete_status(&mut self, id: i64) -> Result<bool, ApiError>;
    /// Deletes every entry of a dictionary (a deleted pipeline's stages).
    fn delete_statuses_of(&mut self, entity_id: &str) -> Result<u64, ApiError>;
    /// A page of entries; filter and order name the table's columns.
    fn list_statuses(&mut self, query: &ListQuery) -> Result<PageOf<StatusRecord>, ApiError>;
}

fn status_from_row(r: &dyn SqlRow) -> Result<StatusRecord, ApiError> {
    Ok(StatusRecord {
        id: r.int(0)?,
        entity_id: r.text(1)?,
        status_id: r.text(2)?,
        name: r.text(3)?,
        name_init: r.text(4)?,
        sort: r.int(5)?,
        system: r.bool(6)?,
        category_id: r.int(7)?,
        color: r.text(8)?,
        semantics: r.text(9)?,
    })
}

impl StatusTx for SqlTx<'_> {
    fn status(&mut self, id: i64) -> Result<Option<StatusRecord>, ApiError> {
        self.opt(
            &format!("SELECT {STATUS_COLUMNS} FROM crm_statuses WHERE portal_id = ?1 AND id = ?2"),
            &args![self.portal, id],
            status_from_row,
        )
    }

    fn status_by_code(
        &mut self,
        entity_id: &str,
        status_id: &str,
    ) -> Result<Option<StatusRecord>, ApiError> {
        self.opt(
            &format!(
                "SELECT {STATUS_COLUMNS} FROM crm_statuses
                 WHERE portal_id = ?1 AND entity_id = ?2 AND status_id = ?3"
            ),
            &args![self.portal, entity_id, status_id],
            status_from_row,
        )
    }

    fn statuses_of(&mut self, entity_id: &str) -> Result<Vec<StatusRecord>, ApiError> {
        self.all(
            &format!(
                "SELECT {STATUS_COLUMNS} FROM crm_statuses WHERE portal_id = ?1 AND entity_id = ?2
                 ORDER BY sort, id"
            ),
            &args![self.portal, entity_id],
            status_from_row,
        )
    }

    fn has_statuses(&mut self) -> Result<bool, ApiError> {
        let any = self.opt(
            "SELECT id FROM crm_statuses WHERE portal_id = ?1 LIMIT 1",
            &args![self.portal],
            |r| r.int(0),
        )?;
        Ok(any.is_some())
    }

    fn lock_portal_row(&mut self) -> Result<(), ApiError> {
        // A write takes the row lock on PostgreSQL (SQLite's write transactions are serial).
        self.exec(
            "UPDATE portals SET clock_offset = clock_offset WHERE id = ?1",
            &args![self.portal],
        )?;
        Ok(())
    }

    fn insert_status(&mut self, s: &StatusRecord) -> Result<i64, ApiError> {
        let id = super::Tx::next_id(self, "crm_status")?;
        self.exec(
            &format!(
                "INSERT INTO crm_statuses (portal_id, {STATUS_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ),
            &args![
                self.portal,
                id,
                s.entity_id.as_str(),
                s.status_id.as_str(),
                s.name.as_str(),
                s.name_init.as_str(),
                s.sort,
                s.system,
                s.category_id,
                s.color.as_str(),
                s.semantics.as_str()
            ],
        )?;
        Ok(id)
    }

    fn update_status(&mut self, s: &StatusRecord) -> Result<(), ApiError> {
        self.exec(
            "UPDATE crm_statuses SET name = ?3, sort = ?4, color = ?5, semantics = ?6
             WHERE portal_id = ?1 AND id = ?2",
            &args![
                self.portal,
                s.id,
                s.name.as_str(),
                s.sort,
                s.color.as_str(),
                s.semantics.as_str()
            ],
        )?;
        Ok(())
    }

    fn delete_status(&mut self, id: i64) -> Result<bool, ApiError> {
        let n = self.exec(
            "DELETE FROM crm_statuses WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id],
        )?;
        Ok(n > 0)
    }

    fn delete_statuses_of(&mut self, entity_id: &str) -> Result<u64, ApiError> {
        self.exec(
            "DELETE FROM crm_statuses WHERE portal_id = ?1 AND entity_id = ?2",
            &args![self.portal, entity_id],
        )
    }

    fn list_statuses(&mut self, query: &ListQuery) -> Result<PageOf<StatusRecord>, ApiError> {
        let sql = lists::statuses_page(self.dialect, self.portal, query);
        let total = if query.count {
            let n = self.opt(&sql.count, &sql.args, |r| r.int(0))?.unwrap_or(0);
            Some(n.max(0) as u64)
        } else {
            None
        };
        let rows = self.all(&sql.page, &sql.args, status_from_row)?;
        Ok(PageOf { rows, total })
    }
}
