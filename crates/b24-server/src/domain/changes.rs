//! The single place every successful change of an activity or a CRM item passes through, inside
//! the write transaction that made it.
//!
//! This is where the event outbox is written: one row per bound handler, in the same transaction,
//! so an event is recorded exactly when its change commits, and never for a call that failed.
//! Callers must invoke these after the change succeeded and before the transaction commits.

use super::EntityTypeId;
use crate::error::ApiError;
use crate::secret::digest;
use crate::store::{OfflineEventRecord, OutboxRecord, Tx};
use serde_json::{json, Value};

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Created.
    Added,
    /// Changed (for activities also: a binding added, deleted or moved, spec §2.1).
    Updated,
    /// Deleted.
    Deleted,
}

impl Change {
    fn suffix(self) -> &'static str {
        match self {
            Change::Added => "ADD",
            Change::Updated => "UPDATE",
            Change::Deleted => "DELETE",
        }
    }
}

/// The REST event an activity change fires (spec §9.1): `ONCRMACTIVITYADD` / `UPDATE` / `DELETE`.
pub fn activity_event_name(change: Change) -> String {
    format!("ONCRMACTIVITY{}", change.suffix())
}

/// The REST event an item change fires: `ONCRMDEALADD`, `ONCRMCONTACTUPDATE`, …; smart processes
/// and smart invoices share `ONCRMDYNAMICITEM*`.
pub fn item_event_name(entity_type_id: i64, change: Change) -> String {
    let entity = match entity_type_id {
        EntityTypeId::LEAD => "LEAD",
        EntityTypeId::DEAL => "DEAL",
        EntityTypeId::CONTACT => "CONTACT",
        EntityTypeId::COMPANY => "COMPANY",
        EntityTypeId::QUOTE => "QUOTE",
        _ => "DYNAMICITEM",
    };
    format!("ONCRM{entity}{}", change.suffix())
}

/// Records that activity `activity_id` was added, updated or deleted by user `actor`.
pub fn activity_changed(
    tx: &mut dyn Tx,
    change: Change,
    activity_id: i64,
    actor: i64,
) -> Result<(), ApiError> {
    let event = activity_event_name(change);
    record(tx, &event, json!({"FIELDS": {"ID": activity_id}}), actor)
}

/// The REST event a timeline comment change fires: `ONCRMTIMELINECOMMENTADD` / `UPDATE` /
/// `DELETE`.
pub fn comment_event_name(change: Change) -> String {
    format!("ONCRMTIMELINECOMMENT{}", change.suffix())
}

/// Records that timeline comment `comment_id` was added, updated or deleted by user `actor`;
/// the payload is `data[ID]`, as the service sends it.
pub fn comment_changed(
    tx: &mut dyn Tx,
    change: Change,
    comment_id: i64,
    actor: i64,
) -> Result<(), ApiError> {
    let event = comment_event_name(change);
    record(tx, &event, json!({"ID": comment_id}), actor)
}

/// Records that item `id` of `entity_type_id` was added, updated or deleted by user `actor`.
/// Smart-process events carry the type too, since they share one event name.
pub fn item_changed(
    tx: &mut dyn Tx,
    change: Change,
    entity_type_id: i64,
    id: i64,
    actor: i64,
) -> Result<(), ApiError> {
    let event = item_event_name(entity_type_id, change);
    let data = if event.starts_with("ONCRMDYNAMICITEM") {
        json!({"FIELDS": {"ID": id, "ENTITY_TYPE_ID": entity_type_id}})
    } else {
        json!({"FIELDS": {"ID": id}})
    };
    record(tx, &event, data, actor)
}

/// Records an event of another module (tasks) with its own payload, as the change events are.
pub fn record_event(tx: &mut dyn Tx, event: &str, data: Value, actor: i64) -> Result<(), ApiError> {
    record(tx, event, data, actor)
}

/// Records a change of a catalogue product, requisite, bank detail or address: the event
/// (`ONCRMPRODUCTADD`, `ONCRMREQUISITEUPDATE`, `ONCRMADDRESSREGISTER`, …) with `{"FIELDS": fields}`.
pub fn record_changed(
    tx: &mut dyn Tx,
    event: &str,
    fields: Value,
    actor: i64,
) -> Result<(), ApiError> {
    record(tx, event, json!({ "FIELDS": fields }), actor)
}

/// Writes one outbox row per online handler of `event` (and one offline-queue entry per offline
/// handler), in the caller's transaction: they commit with the change or not at all. With no
/// handler bound this costs one index probe.
fn record(tx: &mut dyn Tx, event: &str, data: Value, actor: i64) -> Result<(), ApiError> {
    let handlers = tx.event_handlers_for(event)?;
    tracing::debug!(
        portal = tx.portal(),
        event,
        handlers = handlers.len(),
        "change recorded"
    );
    if handlers.is_empty() {
        return Ok(());
    }
    let now = tx.now_unix();
    for handler in handlers {
        if handler.handler.is_empty() {
            tx.record_offline_event(&OfflineEventRecord {
                id: 0,
                app_id: handler.app_id,
                connector_id: handler.connector_id,
                event_name: event.to_string(),
                message_id: message_id(event, &data),
                data: data.to_string(),
                user_id: actor,
                timestamp_x: tx.now_iso(),
                process_id: String::new(),
                error: false,
            })?;
            continue;
        }
        // Outgoing webhooks carry no tokens; an application's handler gets tokens for its own
        // user when it was bound with one, else for the user who made the change.
        let auth_user_id = match (handler.app_id, handler.user_id) {
            (0, _) => 0,
            (_, user) if user > 0 => user,
            _ => actor,
        };
        tx.insert_outbox(&OutboxRecord {
            id: 0,
            handler_id: handler.id,
            app_id: handler.app_id,
            event_name: event.to_string(),
            handler: handler.handler,
            auth_user_id,
            data: data.clone(),
            ts: now.floor() as i64,
            attempts: 0,
            next_attempt_at: now,
        })?;
    }
    Ok(())
}

/// An offline entry's `MESSAGE_ID`: 32 hex characters of a digest of the event and its data, so
/// that repeated changes of one object update one pending entry.
fn message_id(event: &str, data: &Value) -> String {
    hex::encode(digest(&format!("{event}|{data}")))[..32].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_follow_the_rest_event_table() {
        assert_eq!(activity_event_name(Change::Added), "ONCRMACTIVITYADD");
        assert_eq!(activity_event_name(Change::Updated), "ONCRMACTIVITYUPDATE");
        assert_eq!(activity_event_name(Change::Deleted), "ONCRMACTIVITYDELETE");
        assert_eq!(item_event_name(2, Change::Added), "ONCRMDEALADD");
        assert_eq!(item_event_name(3, Change::Updated), "ONCRMCONTACTUPDATE");
        assert_eq!(
            item_event_name(130, Change::Deleted),
            "ONCRMDYNAMICITEMDELETE"
        );
    }
}
