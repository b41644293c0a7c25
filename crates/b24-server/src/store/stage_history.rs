//! Storage of the stage history (`crm.stagehistory.list`): one row per item creation and per
//! change of an item's stage or pipeline, written in the transaction of the change. Rules live
//! in [`crate::domain::stage_history`].

use super::driver::{args, SqlRow};
use super::lists::{self, STAGE_HISTORY_COLUMNS};
use super::sql::SqlTx;
use super::{ListQuery, PageOf};
use crate::error::ApiError;

/// One history row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageHistoryRecord {
    /// The item's type.
    pub entity_type_id: i64,
    /// `ID`.
    pub id: i64,
    /// `TYPE_ID`: 1 created, 2 to an intermediate stage, 3 to a final one, 5 pipeline changed.
    pub type_id: i64,
    /// `OWNER_ID`: the item.
    pub owner_id: i64,
    /// `CREATED_TIME`, ISO-8601.
    pub created_time: String,
    /// `CATEGORY_ID`: the item's pipeline (0 for leads).
    pub category_id: i64,
    /// `STAGE_SEMANTIC_ID` / `STATUS_SEMANTIC_ID`: `P`, `S` or `F`.
    pub semantic_id: String,
    /// `STAGE_ID` / `STATUS_ID`.
    pub stage_id: String,
}

/// Writes and reads of the stage history.
pub trait StageHistoryTx {
    /// Appends a row; `record.id` is ignored and the new id returned.
    fn insert_stage_history(&mut self, record: &StageHistoryRecord) -> Result<i64, ApiError>;
    /// Deletes an item's rows (the item was deleted).
    fn delete_stage_history_of(
        &mut self,
        entity_type_id: i64,
        owner_id: i64,
    ) -> Result<u64, ApiError>;
    /// A page of a type's rows; filter and order name the table's columns. With `assignee`,
    /// only rows of items assigned to that user.
    fn list_stage_history(
        &mut self,
        entity_type_id: i64,
        query: &ListQuery,
        assignee: Option<i64>,
    ) -> Result<PageOf<StageHistoryRecord>, ApiError>;
}

impl StageHistoryTx for SqlTx<'_> {
    fn insert_stage_history(&mut self, r: &StageHistoryRecord) -> Result<i64, ApiError> {
        let id = super::Tx::next_id(self, "crm_stage_history")?;
        self.exec(
            &format!(
                "INSERT INTO crm_stage_history (portal_id, entity_type_id, {STAGE_HISTORY_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            &args![
                self.portal,
                r.entity_type_id,
                id,
                r.type_id,
                r.owner_id,
                r.created_time.as_str(),
                r.category_id,
                r.semantic_id.as_str(),
                r.stage_id.as_str()
            ],
        )?;
        Ok(id)
    }

    fn delete_stage_history_of(
        &mut self,
        entity_type_id: i64,
        owner_id: i64,
    ) -> Result<u64, ApiError> {
        self.exec(
            "DELETE FROM crm_stage_history WHERE portal_id = ?1 AND entity_type_id = ?2 AND owner_id = ?3",
            &args![self.portal, entity_type_id, owner_id],
        )
    }

    fn list_stage_history(
        &mut self,
        entity_type_id: i64,
        query: &ListQuery,
        assignee: Option<i64>,
    ) -> Result<PageOf<StageHistoryRecord>, ApiError> {
        let sql =
            lists::stage_history_page(self.dialect, self.portal, entity_type_id, query, assignee);
        let total = if query.count {
            let n = self.opt(&sql.count, &sql.args, |r| r.int(0))?.unwrap_or(0);
            Some(n.max(0) as u64)
        } else {
            None
        };
        let decode = |r: &dyn SqlRow| {
            Ok(StageHistoryRecord {
                entity_type_id,
                id: r.int(0)?,
                type_id: r.int(1)?,
                owner_id: r.int(2)?,
                created_time: r.text(3)?,
                category_id: r.int(4)?,
                semantic_id: r.text(5)?,
                stage_id: r.text(6)?,
            })
        };
        let rows = self.all(&sql.page, &sql.args, decode)?;
        Ok(PageOf { rows, total })
    }
}
