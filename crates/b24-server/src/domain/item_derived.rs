//! The item fields the server computes rather than takes from the caller (spec §12, "CRM field
//! catalogues"): whether a client has phones, e-mails and open-line chats (`HAS_PHONE`,
//! `HAS_EMAIL`, `HAS_IMOL`); what follows a stage (`STAGE_SEMANTIC_ID` / `STATUS_SEMANTIC_ID`
//! from the stage's dictionary entry, a deal's `CLOSED` and `IS_NEW`, a lead's `DATE_CLOSED`);
//! who moved the item to its stage and when (`MOVED_BY_ID`, `MOVED_TIME`, `previousStageId`);
//! and its last activity (`LAST_ACTIVITY_TIME` / `LAST_ACTIVITY_BY`: its creation, then each
//! activity bound to it); its last communication (`LAST_COMMUNICATION_TIME`: each call, e-mail
//! or open-line chat bound to a contact or company); and the primary contact `CONTACT_ID`, the
//! first of `CONTACT_IDS`.
//! They are kept in the item's `extra` like every other field, so `get`,
//! `list`, `select`, filters and order read them without knowing they are computed.

use super::item_fields;
use super::statuses;
use super::EntityTypeId;
use crate::error::ApiError;
use crate::store::{ItemRecord, Tx};
use b24_protocol::Binding;
use serde_json::{json, Value};

fn has(item: &ItemRecord, name: &str) -> bool {
    item_fields::find(item.entity_type_id, name).is_some_and(|f| f.name == name)
}

fn yes_no(yes: bool) -> Value {
    json!(if yes { "Y" } else { "N" })
}

fn entries<'a>(item: &'a ItemRecord, key: &str) -> impl Iterator<Item = &'a Value> {
    item.extra
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// An open-line chat: a messenger entry of type `IMOL` or with an `imol|` value.
fn is_open_line(entry: &Value) -> bool {
    entry["VALUE_TYPE"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("IMOL"))
        || entry["VALUE"]
            .as_str()
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("imol|"))
}

/// The stage key of a type's items (`statusId` for leads).
fn stage_key(entity_type_id: i64) -> &'static str {
    if entity_type_id == EntityTypeId::LEAD {
        "statusId"
    } else {
        "stageId"
    }
}

fn stage_of(item: &ItemRecord) -> Option<&str> {
    item.extra
        .get(stage_key(item.entity_type_id))
        .and_then(Value::as_str)
}

fn category_of(item: &ItemRecord) -> i64 {
    item.extra
        .get("categoryId")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Computes the derived fields of an item about to be stored: `before` is the stored item on
/// update, `None` on creation. Call it after the caller's fields, the stage checks and the
/// defaults are applied and `updated_by` / `updated_time` are set.
pub fn derive(
    tx: &mut dyn Tx,
    item: &mut ItemRecord,
    before: Option<&ItemRecord>,
) -> Result<(), ApiError> {
    if has(item, "hasPhone") {
        let phone = entries(item, "PHONE").next().is_some();
        let email = entries(item, "EMAIL").next().is_some();
        let open_line = entries(item, "IM").any(is_open_line);
        item.extra.insert("hasPhone".into(), yes_no(phone));
        item.extra.insert("hasEmail".into(), yes_no(email));
        item.extra.insert("hasImol".into(), yes_no(open_line));
    }
    let contacts = item.extra.get("contactIds").cloned();
    if has(item, "contactId")
        && contacts.is_some()
        && contacts.as_ref() != before.and_then(|b| b.extra.get("contactIds"))
    {
        // The first of the contacts is the primary one, `CONTACT_ID`.
        match contacts.as_ref().and_then(|c| c.get(0)) {
            Some(first) => item.extra.insert("contactId".into(), first.clone()),
            None => item.extra.remove("contactId"),
        };
    }
    if before.is_none() {
        item.extra
            .insert("lastActivityTime".into(), json!(item.created_time));
        item.extra
            .insert("lastActivityBy".into(), json!(item.created_by));
    }
    derive_stage(tx, item, before)
}

/// The fields that follow the stage, recomputed when the item is created or changes stage or
/// pipeline.
fn derive_stage(
    tx: &mut dyn Tx,
    item: &mut ItemRecord,
    before: Option<&ItemRecord>,
) -> Result<(), ApiError> {
    let t = item.entity_type_id;
    if !has(item, stage_key(t)) {
        return Ok(());
    }
    let stage = stage_of(item).map(str::to_string);
    let category = if t == EntityTypeId::LEAD {
        0
    } else {
        category_of(item)
    };
    let previous = before.and_then(stage_of).map(str::to_string);
    let moved = match before {
        None => true,
        Some(b) => previous != stage || (t != EntityTypeId::LEAD && category_of(b) != category),
    };
    if !moved {
        return Ok(());
    }
    let (time, by) = match before {
        None => (item.created_time.clone(), item.created_by),
        Some(_) => (item.updated_time.clone(), item.updated_by),
    };
    if has(item, "movedTime") {
        item.extra.insert("movedTime".into(), json!(time));
        item.extra.insert("movedBy".into(), json!(by));
    }
    if before.is_some() && has(item, "previousStageId") {
        item.extra.insert("previousStageId".into(), json!(previous));
    }
    let Some(entity_id) = statuses::stage_entity_id(t, category) else {
        return Ok(());
    };
    let stages = tx.statuses_of(&entity_id)?;
    let entry = stages
        .iter()
        .find(|s| Some(s.status_id.as_str()) == stage.as_deref());
    let semantic = entry.map(|e| match e.semantics.as_str() {
        "S" => "S",
        "F" => "F",
        _ => "P",
    });
    let closed = matches!(semantic, Some("S" | "F"));
    for key in ["stageSemanticId", "statusSemanticId"] {
        if has(item, key) {
            item.extra.insert(key.into(), json!(semantic));
        }
    }
    if has(item, "closed") {
        item.extra.insert("closed".into(), yes_no(closed));
    }
    if has(item, "isNew") {
        let first = stages.first().map(|s| s.status_id.as_str());
        item.extra.insert(
            "isNew".into(),
            yes_no(first.is_some() && first == stage.as_deref()),
        );
    }
    if has(item, "dateClosed") {
        if !closed {
            item.extra.remove("dateClosed");
        } else if !item.extra.contains_key("dateClosed") {
            item.extra.insert("dateClosed".into(), json!(time));
        }
    }
    Ok(())
}

/// Computes the derived fields of an item stored before they existed (an upgrade, an import):
/// as on creation, but only the fields it lacks are added; every value it has is kept (an
/// import may run before the stage dictionaries are back).
pub fn backfill(tx: &mut dyn Tx, item: &mut ItemRecord) -> Result<(), ApiError> {
    let stored = item.extra.clone();
    derive(tx, item, None)?;
    for (key, value) in stored {
        item.extra.insert(key, value);
    }
    Ok(())
}

/// Whether an activity is a communication with the client, which moves the
/// `LAST_COMMUNICATION_TIME` of the contacts and companies it is bound to: a call (`TYPE_ID` 2),
/// an e-mail (4) or an open-line chat (provider `IMOPENLINES_SESSION`), incoming or outgoing.
pub fn is_communication(activity: &crate::store::ActivityRecord) -> bool {
    matches!(activity.type_id, 2 | 4)
        || activity
            .provider_id
            .eq_ignore_ascii_case("IMOPENLINES_SESSION")
}

/// Marks the items an activity is bound to as last active now, by `author` (an activity was
/// added to them); a `communication` (see [`is_communication`]) also sets the last
/// communication time of the contacts and companies among them. Bindings to items that no
/// longer exist are skipped; the items' modification time and author stay as they were, as
/// the service keeps them. One read and one write per binding, never a scan.
pub fn activity_added(
    tx: &mut dyn Tx,
    bindings: &[Binding],
    author: i64,
    communication: bool,
) -> Result<(), ApiError> {
    let now = tx.now_iso();
    for binding in bindings {
        let Some(mut item) = tx.item(binding.entity_type_id, binding.entity_id)? else {
            continue;
        };
        if !has(&item, "lastActivityTime") {
            continue;
        }
        item.extra.insert("lastActivityTime".into(), json!(now));
        item.extra.insert("lastActivityBy".into(), json!(author));
        if communication && has(&item, "lastCommunicationTime") {
            item.extra
                .insert("lastCommunicationTime".into(), json!(now));
        }
        tx.update_item(&item)?;
    }
    Ok(())
}
