//! Each item's stage and pipeline (`crm_item_stages`), derived from the item's fields and
//! rewritten by every item write in the same transaction (`SqlTx::index_item_stage`, called
//! from the item statements), so asking whether any item is at a stage or in a pipeline (before
//! a stage or pipeline is deleted) is one index probe, never a read of the type's items.

use super::driver::args;
use super::sql::SqlTx;
use crate::error::ApiError;
use b24_protocol::values::bind_int;
use b24_protocol::EntityTypeId;
use serde_json::{Map, Value};

/// Questions about the items' stages and pipelines.
pub trait ItemStageTx {
    /// Whether any item of the type is at this stage (a lead: has this status).
    fn any_item_at_stage(&mut self, entity_type_id: i64, stage_id: &str) -> Result<bool, ApiError>;
    /// Whether any item of the type is in this pipeline.
    fn any_item_in_category(
        &mut self,
        entity_type_id: i64,
        category_id: i64,
    ) -> Result<bool, ApiError>;
}

impl ItemStageTx for SqlTx<'_> {
    fn any_item_at_stage(&mut self, entity_type_id: i64, stage_id: &str) -> Result<bool, ApiError> {
        let found = self.opt(
            "SELECT item_id FROM crm_item_stages
             WHERE portal_id = ?1 AND entity_type_id = ?2 AND stage_id = ?3 LIMIT 1",
            &args![self.portal, entity_type_id, stage_id],
            |r| r.int(0),
        )?;
        Ok(found.is_some())
    }

    fn any_item_in_category(
        &mut self,
        entity_type_id: i64,
        category_id: i64,
    ) -> Result<bool, ApiError> {
        let found = self.opt(
            "SELECT item_id FROM crm_item_stages
             WHERE portal_id = ?1 AND entity_type_id = ?2 AND category_id = ?3 LIMIT 1",
            &args![self.portal, entity_type_id, category_id],
            |r| r.int(0),
        )?;
        Ok(found.is_some())
    }
}

/// The stage (a lead's status) and pipeline an item's fields name; `None` when it has neither
/// (contacts, companies).
fn stage_of(entity_type_id: i64, extra: &Map<String, Value>) -> Option<(String, i64)> {
    let key = if entity_type_id == EntityTypeId::LEAD {
        "statusId"
    } else {
        "stageId"
    };
    let stage = extra.get(key).and_then(Value::as_str);
    let category = extra.get("categoryId").and_then(bind_int);
    if stage.is_none() && category.is_none() {
        return None;
    }
    Some((stage.unwrap_or_default().to_string(), category.unwrap_or(0)))
}

impl SqlTx<'_> {
    /// Rewrites one item's row from its stored fields; `None` for a deleted item.
    pub(super) fn index_item_stage(
        &mut self,
        entity_type_id: i64,
        id: i64,
        extra: Option<&Map<String, Value>>,
    ) -> Result<(), ApiError> {
        match extra.and_then(|extra| stage_of(entity_type_id, extra)) {
            Some((stage, category)) => {
                self.exec(
                    "INSERT INTO crm_item_stages
                         (portal_id, entity_type_id, item_id, stage_id, category_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (portal_id, entity_type_id, item_id)
                     DO UPDATE SET stage_id = excluded.stage_id, category_id = excluded.category_id",
                    &args![self.portal, entity_type_id, id, stage.as_str(), category],
                )?;
            }
            None => {
                self.exec(
                    "DELETE FROM crm_item_stages
                     WHERE portal_id = ?1 AND entity_type_id = ?2 AND item_id = ?3",
                    &args![self.portal, entity_type_id, id],
                )?;
            }
        }
        Ok(())
    }

    /// Rebuilds the portal's rows from its items (after an import, which writes item rows
    /// directly, and once after the upgrade that made the table): one pass over the items.
    pub(super) fn reindex_all_item_stages(&mut self) -> Result<(), ApiError> {
        self.exec(
            "DELETE FROM crm_item_stages WHERE portal_id = ?1",
            &args![self.portal],
        )?;
        let items = self.all(
            "SELECT entity_type_id, id, extra FROM crm_items WHERE portal_id = ?1",
            &args![self.portal],
            |r| Ok((r.int(0)?, r.int(1)?, r.text(2)?)),
        )?;
        for (entity_type_id, id, extra) in items {
            let extra: Map<String, Value> = serde_json::from_str(&extra).unwrap_or_default();
            self.index_item_stage(entity_type_id, id, Some(&extra))?;
        }
        Ok(())
    }
}
