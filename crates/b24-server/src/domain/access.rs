//! Permission checks that need the store: "own" rights depend on who an item is assigned to.

use super::{Action, Binding, EntityTypeId, Level, Permissions};
use crate::error::ApiError;
use crate::store::Tx;

/// Whether `entity_type_id` names a type that holds CRM items here (a valid binding target):
/// a built-in type, or a smart process created with `crm.type.add` (from the portal's kept
/// catalogue, `store/catalogue.rs`).
pub fn is_item_type(tx: &mut dyn Tx, entity_type_id: i64) -> Result<bool, ApiError> {
    if EntityTypeId::is_static_item_type(entity_type_id) {
        return Ok(true);
    }
    Ok(EntityTypeId::is_dynamic(entity_type_id)
        && tx.catalogue()?.type_of(entity_type_id).is_some())
}

/// Whether the caller may perform `action` on the item `target` (spec §2.1 `canEdit`/`canView`).
/// An unknown type is never allowed; `entity_id <= 0` asks about the type as a whole.
pub fn can(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    target: Binding,
    action: Action,
) -> Result<bool, ApiError> {
    if !is_item_type(tx, target.entity_type_id)? {
        return Ok(false);
    }
    let assignee = match permissions.level(target.entity_type_id, action) {
        Level::Own if target.entity_id > 0 => {
            tx.item_assignee(target.entity_type_id, target.entity_id)?
        }
        _ => None,
    };
    Ok(permissions.allows(target.entity_type_id, target.entity_id, action, assignee))
}

/// Whether the item exists (for `OWNER_NOT_FOUND`).
pub fn item_exists(tx: &mut dyn Tx, target: Binding) -> Result<bool, ApiError> {
    Ok(target.entity_id > 0
        && tx
            .item_assignee(target.entity_type_id, target.entity_id)?
            .is_some())
}

/// The one rule every activity path follows (spec §4.8): an activity's rights come from the
/// items it is bound to. Read and update need that right on at least one bound item; delete,
/// which unbinds it from every item at once, needs the delete right on each bound item (for an
/// item that no longer exists, only an `all` right on its type gives it). Adding or removing a binding needs, besides,
/// the update right on that item (checked by each path).
pub fn activity_allows(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    activity_id: i64,
    action: Action,
) -> Result<bool, ApiError> {
    let bindings = tx.bindings(activity_id)?;
    if action != Action::Delete {
        for binding in bindings {
            if can(tx, permissions, binding, action)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if bindings.is_empty() {
        return Ok(permissions.admin);
    }
    for binding in bindings {
        if !can(tx, permissions, binding, Action::Delete)? {
            return Ok(false);
        }
    }
    Ok(true)
}
