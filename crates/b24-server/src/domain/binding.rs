//! The rules of `crm.activity.binding.*` (spec §2), in the real service's check order, written once
//! against the [`Tx`] trait. Each function runs inside the caller's write transaction, after the
//! activity row has been read in that same transaction, so the "at least one binding" check and the
//! delete cannot interleave with another writer.

use super::access::{activity_allows, can, is_item_type, item_exists};
use super::{
    changes, owner_from_bindings, Action, Binding, Permissions, MAX_BINDINGS_PER_ACTIVITY,
};
use crate::error::ApiError;
use crate::store::{ActivityRecord, Tx};
use b24_protocol::{ErrorCode, RestError};

fn existing_activity(tx: &mut dyn Tx, activity_id: i64) -> Result<ActivityRecord, ApiError> {
    Ok(tx.activity(activity_id)?.ok_or(ErrorCode::NotFound)?)
}

/// [`existing_activity`], reading the item `target` names in the same round trip (for
/// [`check_target_exists`] and the rights check that follow).
fn existing_activity_and_target(
    tx: &mut dyn Tx,
    activity_id: i64,
    target: Binding,
) -> Result<ActivityRecord, ApiError> {
    Ok(tx
        .activity_and_item(activity_id, target)?
        .ok_or(ErrorCode::NotFound)?)
}

/// `OWNER_NOT_FOUND` for a known type whose item does not exist (spec §12); unknown types fall
/// through to the permission check, which refuses them.
fn check_target_exists(tx: &mut dyn Tx, target: Binding) -> Result<(), ApiError> {
    if is_item_type(tx, target.entity_type_id)? && !item_exists(tx, target)? {
        return Err(ErrorCode::OwnerNotFound.into());
    }
    Ok(())
}

fn check_can_update(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    target: Binding,
) -> Result<(), ApiError> {
    if !can(tx, permissions, target, Action::Update)? {
        return Err(ErrorCode::AccessDenied.into());
    }
    Ok(())
}

/// `ACCESS_DENIED` unless the caller may update the activity itself (spec §4.8): changing its
/// bindings changes the activity, so naming an item the caller may update is not enough: she
/// cannot bind someone else's activity to her own deal and so take it over.
fn check_can_update_activity(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    activity_id: i64,
) -> Result<(), ApiError> {
    if !activity_allows(tx, permissions, activity_id, Action::Update)? {
        return Err(ErrorCode::AccessDenied.into());
    }
    Ok(())
}

/// Persists an owner recomputed from the new binding list, stamps the editor, and records the
/// activity update (every binding change is one, spec §2.1).
fn save_owner(
    tx: &mut dyn Tx,
    activity: &ActivityRecord,
    bindings: &[Binding],
    editor_id: i64,
) -> Result<(), ApiError> {
    tx.set_activity_owner(activity.id, owner_from_bindings(bindings), editor_id)?;
    changes::activity_changed(tx, changes::Change::Updated, activity.id, editor_id)
}

/// `crm.activity.binding.list`: the bindings the caller may read, in order.
pub fn list(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    activity_id: i64,
) -> Result<Vec<Binding>, ApiError> {
    existing_activity(tx, activity_id)?;
    let mut readable = Vec::new();
    for binding in tx.bindings(activity_id)? {
        if can(tx, permissions, binding, Action::Read)? {
            readable.push(binding);
        }
    }
    Ok(readable)
}

/// `crm.activity.binding.add`.
pub fn add(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    activity_id: i64,
    target: Binding,
) -> Result<(), ApiError> {
    let activity = existing_activity_and_target(tx, activity_id, target)?;
    check_target_exists(tx, target)?;
    check_can_update(tx, permissions, target)?;
    check_can_update_activity(tx, permissions, activity_id)?;
    let mut bindings = tx.bindings(activity_id)?;
    if bindings.contains(&target) {
        return Err(ErrorCode::ActivityIsAlreadyBound.into());
    }
    if bindings.len() >= MAX_BINDINGS_PER_ACTIVITY {
        return Err(RestError::with_message(
            ErrorCode::Uncoded,
            format!("Maximum number of activity bindings exceeded ({MAX_BINDINGS_PER_ACTIVITY})."),
        )
        .into());
    }
    tx.insert_binding(activity_id, target)?;
    bindings.push(target);
    save_owner(tx, &activity, &bindings, permissions.user_id)
}

/// `crm.activity.binding.delete`. Never checks that the item still exists: a binding to a deleted
/// item must stay deletable.
pub fn delete(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    activity_id: i64,
    target: Binding,
) -> Result<(), ApiError> {
    let activity = existing_activity(tx, activity_id)?;
    check_can_update(tx, permissions, target)?;
    check_can_update_activity(tx, permissions, activity_id)?;
    let mut bindings = tx.bindings(activity_id)?;
    if !bindings.contains(&target) {
        return Err(ErrorCode::BindingNotFound.into());
    }
    if bindings.len() == 1 {
        return Err(ErrorCode::LastBindingCannotBeDeleted.into());
    }
    tx.delete_binding(activity_id, target)?;
    bindings.retain(|b| *b != target);
    save_owner(tx, &activity, &bindings, permissions.user_id)
}

/// `crm.activity.binding.move`: the target is appended, then the source removed, so the activity
/// is never left unbound.
pub fn move_binding(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    activity_id: i64,
    source: Binding,
    target: Binding,
) -> Result<(), ApiError> {
    let activity = existing_activity_and_target(tx, activity_id, target)?;
    check_target_exists(tx, target)?;
    check_can_update(tx, permissions, source)?;
    check_can_update(tx, permissions, target)?;
    check_can_update_activity(tx, permissions, activity_id)?;
    if source.entity_id == target.entity_id {
        return Err(ErrorCode::SourceAndTargetIdsEqual.into());
    }
    if source.entity_type_id != target.entity_type_id {
        return Err(ErrorCode::SourceAndTargetTypesDiffer.into());
    }
    let mut bindings = tx.bindings(activity_id)?;
    if bindings.contains(&target) {
        return Err(ErrorCode::ActivityIsAlreadyBound.into());
    }
    if !bindings.contains(&source) {
        return Err(ErrorCode::BindingNotFound.into());
    }
    tx.insert_binding(activity_id, target)?;
    tx.delete_binding(activity_id, source)?;
    bindings.push(target);
    bindings.retain(|b| *b != source);
    save_owner(tx, &activity, &bindings, permissions.user_id)
}
