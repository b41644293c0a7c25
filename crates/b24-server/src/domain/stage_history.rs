//! The stage history (`crm.stagehistory.list`): a row is written in the transaction of every
//! creation of a lead, deal or smart-process item and of every change of its stage or pipeline,
//! with the stage's semantics (`P` in progress, `S` success, `F` failure) read from the stage's
//! dictionary entry. Items whose stage is no dictionary entry (a smart process without stages)
//! leave no history.

use super::statuses;
use super::EntityTypeId;
use crate::error::ApiError;
use crate::store::stage_history::StageHistoryRecord;
use crate::store::{ItemRecord, Tx};
use serde_json::Value;

/// `TYPE_ID` of a creation.
pub const CREATED: i64 = 1;
/// `TYPE_ID` of a move to an intermediate stage.
pub const INTERMEDIATE: i64 = 2;
/// `TYPE_ID` of a move to a final stage (success or failure).
pub const FINAL: i64 = 3;
/// `TYPE_ID` of a move to another pipeline.
pub const CATEGORY_CHANGED: i64 = 5;

/// Whether a type keeps a stage history: leads, deals and smart processes.
pub fn is_supported(entity_type_id: i64) -> bool {
    matches!(entity_type_id, EntityTypeId::LEAD | EntityTypeId::DEAL)
        || EntityTypeId::is_dynamic(entity_type_id)
}

/// The stage key of a type's items (`statusId` for leads).
fn stage_key(entity_type_id: i64) -> &'static str {
    if entity_type_id == EntityTypeId::LEAD {
        "statusId"
    } else {
        "stageId"
    }
}

fn category_of(item: &ItemRecord) -> i64 {
    item.extra
        .get("categoryId")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn stage_of(item: &ItemRecord) -> Option<&str> {
    item.extra
        .get(stage_key(item.entity_type_id))
        .and_then(Value::as_str)
}

/// Records an item's creation (`before` is `None`) or the change of its stage or pipeline; an
/// update that changes neither writes nothing.
pub fn record(
    tx: &mut dyn Tx,
    item: &ItemRecord,
    before: Option<&ItemRecord>,
) -> Result<(), ApiError> {
    let t = item.entity_type_id;
    if !is_supported(t) {
        return Ok(());
    }
    let Some(stage) = stage_of(item) else {
        return Ok(());
    };
    let category = if t == EntityTypeId::LEAD {
        0
    } else {
        category_of(item)
    };
    let type_id = match before {
        None => CREATED,
        Some(b) if t != EntityTypeId::LEAD && category_of(b) != category => CATEGORY_CHANGED,
        Some(b) if stage_of(b) != Some(stage) => INTERMEDIATE,
        Some(_) => return Ok(()),
    };
    let Some(entity_id) = statuses::stage_entity_id(t, category) else {
        return Ok(());
    };
    let Some(entry) = tx.status_by_code(&entity_id, stage)? else {
        return Ok(());
    };
    let semantic = match entry.semantics.as_str() {
        "S" => "S",
        "F" => "F",
        _ => "P",
    };
    let type_id = if type_id == INTERMEDIATE && semantic != "P" {
        FINAL
    } else {
        type_id
    };
    tx.insert_stage_history(&StageHistoryRecord {
        entity_type_id: t,
        id: 0,
        type_id,
        owner_id: item.id,
        created_time: tx.now_iso(),
        category_id: category,
        semantic_id: semantic.to_string(),
        stage_id: stage.to_string(),
    })?;
    Ok(())
}
