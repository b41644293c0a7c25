//! The single place every successful change of an activity or a CRM item passes through, inside
//! the write transaction that made it.
//!
//! This is where the event outbox will be written (the events issue): one row per change, in the
//! same transaction, so an event is recorded exactly when its change commits. Until then the
//! change is only traced. Callers must invoke these after the change succeeded and before the
//! transaction commits; a failed call must not reach them.

use super::EntityTypeId;
use crate::error::ApiError;
use crate::store::Tx;

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

/// Records that activity `activity_id` was added, updated or deleted. The event-outbox write goes
/// here.
pub fn activity_changed(tx: &mut dyn Tx, change: Change, activity_id: i64) -> Result<(), ApiError> {
    tracing::debug!(
        portal = tx.portal(),
        event = %activity_event_name(change),
        activity_id,
        "activity changed"
    );
    Ok(())
}

/// Records that item `id` of `entity_type_id` was added, updated or deleted. The event-outbox
/// write goes here.
pub fn item_changed(
    tx: &mut dyn Tx,
    change: Change,
    entity_type_id: i64,
    id: i64,
) -> Result<(), ApiError> {
    tracing::debug!(
        portal = tx.portal(),
        event = %item_event_name(entity_type_id, change),
        entity_type_id,
        id,
        "item changed"
    );
    Ok(())
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
