//! To-dos (`crm.activity.todo.add / update`, D7 controller: codes, HTTP 400): the one constructor
//! of a new to-do record, and the rules and writes of the two methods, in the service's check
//! order. `b24-server seed` and the examples build their to-dos with [`new_todo`] too.

use super::access::{can, is_item_type, item_exists};
use super::activities::{activity_type, new_activity, NewActivity};
use super::changes::{self, Change};
use super::text_limits::{self, Record};
use super::{Action, Binding, Permissions};
use crate::error::ApiError;
use crate::store::{ActivityRecord, Tx};
use b24_protocol::{ErrorCode, RestError};

/// `PROVIDER_ID` of to-dos.
pub const TODO_PROVIDER_ID: &str = "CRM_TODO";

/// `PROVIDER_TYPE_ID` of to-dos.
pub const TODO_PROVIDER_TYPE_ID: &str = "TODO";

/// What a to-do is: a provider-managed activity of the to-do provider.
const TODO: NewActivity = NewActivity {
    type_id: activity_type::PROVIDER,
    provider_id: TODO_PROVIDER_ID,
    provider_type_id: TODO_PROVIDER_TYPE_ID,
};

/// A new to-do bound to `owner`, as `crm.activity.todo.add` creates it: provider `CRM_TODO` /
/// `TODO`, `TYPE_ID` 6, open, medium priority, its deadline also its start and end time,
/// written by `author_id`, created and updated at `now`, with an empty subject and description
/// (set them on the record). Store it with its one binding, `owner`.
pub fn new_todo(
    owner: Binding,
    author_id: i64,
    responsible_id: i64,
    deadline: &str,
    now: &str,
) -> ActivityRecord {
    let mut todo = new_activity(TODO, owner, author_id, responsible_id, now);
    todo.deadline = deadline.to_string();
    todo.start_time = deadline.to_string();
    todo.end_time = deadline.to_string();
    todo
}

/// Stores a new to-do (from [`new_todo`]) with its one binding, its owner; returns its id.
/// Records no change: [`add`] does, and `b24-server seed` fires no events.
pub fn insert(tx: &mut dyn Tx, todo: &ActivityRecord) -> Result<i64, ApiError> {
    let id = tx.insert_activity(todo)?;
    let owner = Binding::new(todo.owner_type_id, todo.owner_id);
    tx.insert_binding(id, owner)?;
    super::item_derived::activity_added(tx, &[owner], todo.author_id, false)?;
    Ok(id)
}

/// Whether the activity is a to-do.
pub fn is_todo(activity: &ActivityRecord) -> bool {
    activity.provider_id == TODO_PROVIDER_ID
}

/// The parameters of `crm.activity.todo.add / update`, already read. On update, `None` (and a
/// responsible id of 0 or less) leaves the value unchanged; on add, the title and description
/// default to empty and the responsible user to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodoFields {
    /// The item the to-do belongs to (`ownerTypeId`, `ownerId`).
    pub owner: Binding,
    /// `deadline`, already in UTC.
    pub deadline: String,
    /// `title`.
    pub title: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `responsibleId`.
    pub responsible_id: Option<i64>,
}

/// The responsible user of a to-do must exist.
fn check_user(tx: &mut dyn Tx, user_id: i64) -> Result<(), ApiError> {
    if tx.user(user_id)?.is_none() {
        return Err(RestError::with_message(
            ErrorCode::FieldValueNotValid,
            format!("User with ID {user_id} not found"),
        )
        .into());
    }
    Ok(())
}

/// `title` (the activity's `SUBJECT`) and `description` within their limits (spec §14).
fn check_lengths(fields: &TodoFields) -> Result<(), ApiError> {
    for (name, column, value) in [
        ("title", "SUBJECT", &fields.title),
        ("description", "DESCRIPTION", &fields.description),
    ] {
        if let Some(value) = value {
            text_limits::check(Record::Activity, column, value).map_err(|limit| {
                RestError::with_message(ErrorCode::FieldValueNotValid, limit.message(name))
            })?;
        }
    }
    Ok(())
}

/// A to-do's owner must be an existing item the caller may update.
fn check_owner(tx: &mut dyn Tx, permissions: &Permissions, owner: Binding) -> Result<(), ApiError> {
    if !is_item_type(tx, owner.entity_type_id)? || !item_exists(tx, owner)? {
        return Err(ErrorCode::OwnerNotFound.into());
    }
    if !can(tx, permissions, owner, Action::Update)? {
        return Err(ErrorCode::AccessDenied.into());
    }
    Ok(())
}

/// `crm.activity.todo.add`: creates the to-do with its one binding and records the change;
/// returns its id.
pub fn add(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    fields: TodoFields,
) -> Result<i64, ApiError> {
    let owner = fields.owner;
    check_owner(tx, permissions, owner)?;
    check_lengths(&fields)?;
    let user_id = permissions.user_id;
    let responsible_id = fields.responsible_id.filter(|&r| r > 0).unwrap_or(user_id);
    check_user(tx, responsible_id)?;
    let now = tx.now_iso();
    let mut todo = new_todo(owner, user_id, responsible_id, &fields.deadline, &now);
    todo.subject = fields.title.unwrap_or_default();
    todo.description = fields.description.unwrap_or_default();
    let id = insert(tx, &todo)?;
    changes::activity_changed(tx, Change::Added, id, user_id)?;
    Ok(id)
}

/// `crm.activity.todo.update`: a to-do bound to the given owner (anything else is "Not found."),
/// not completed, gets the new deadline and whatever else was given; records the change.
pub fn update(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    fields: TodoFields,
) -> Result<(), ApiError> {
    let not_found = || RestError::with_message(ErrorCode::NotFound, "Not found.");
    let mut todo = tx.activity(id)?.ok_or_else(not_found)?;
    if !is_todo(&todo) || !tx.bindings(id)?.contains(&fields.owner) {
        return Err(not_found().into());
    }
    check_owner(tx, permissions, fields.owner)?;
    if todo.completed {
        return Err(ErrorCode::CompletedTodo.into());
    }
    check_lengths(&fields)?;
    if let Some(responsible_id) = fields.responsible_id.filter(|&r| r > 0) {
        check_user(tx, responsible_id)?;
        todo.responsible_id = responsible_id;
    }
    if let Some(title) = fields.title {
        todo.subject = title;
    }
    if let Some(description) = fields.description {
        todo.description = description;
    }
    todo.deadline = fields.deadline.clone();
    todo.start_time = fields.deadline.clone();
    todo.end_time = fields.deadline;
    todo.editor_id = permissions.user_id;
    todo.last_updated = tx.now_iso();
    tx.update_activity(&todo)?;
    changes::activity_changed(tx, Change::Updated, id, permissions.user_id)
}

/// What one of `crm.activity.todo.updateDeadline / updateDescription / updateResponsibleUser /
/// updateColor` changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TodoChange {
    /// `value` of `updateDeadline`, already in UTC: also the start and end time.
    Deadline(String),
    /// `value` of `updateDescription`.
    Description(String),
    /// `responsibleId` of `updateResponsibleUser`.
    Responsible(i64),
    /// `colorId` of `updateColor`.
    Color(i64),
}

/// The colours a to-do may have in the timeline (`colorId`).
pub const TODO_COLORS: std::ops::RangeInclusive<i64> = 1..=7;

/// The four single-value updates: a to-do bound to the given owner (anything else is "Not
/// found."), whose owner exists and is open to the caller's update right, not completed
/// (`CAN_NOT_UPDATE_COMPLETED_TODO`; for the colour `CAN_NOT_UPDATE_COLOR_COMPLETED_TODO`), gets
/// the one value; records the change. The colour is kept with the activity's other settings.
pub fn update_one(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    owner: Binding,
    change: TodoChange,
) -> Result<(), ApiError> {
    let not_found = || RestError::with_message(ErrorCode::NotFound, "Not found.");
    let mut todo = tx.activity(id)?.ok_or_else(not_found)?;
    if !is_todo(&todo) || !tx.bindings(id)?.contains(&owner) {
        return Err(not_found().into());
    }
    check_owner(tx, permissions, owner)?;
    if todo.completed {
        return Err(match change {
            TodoChange::Color(_) => ErrorCode::CompletedTodoColor,
            _ => ErrorCode::CompletedTodo,
        }
        .into());
    }
    match change {
        TodoChange::Deadline(deadline) => {
            todo.deadline = deadline.clone();
            todo.start_time = deadline.clone();
            todo.end_time = deadline;
        }
        TodoChange::Description(description) => {
            check_lengths(&TodoFields {
                owner,
                deadline: String::new(),
                title: None,
                description: Some(description.clone()),
                responsible_id: None,
            })?;
            todo.description = description;
        }
        TodoChange::Responsible(responsible_id) => {
            check_user(tx, responsible_id)?;
            todo.responsible_id = responsible_id;
        }
        TodoChange::Color(color) => {
            if !TODO_COLORS.contains(&color) {
                return Err(ErrorCode::WrongColorTodo.into());
            }
            todo.extra
                .insert("colorId".into(), serde_json::Value::from(color.to_string()));
        }
    }
    todo.editor_id = permissions.user_id;
    todo.last_updated = tx.now_iso();
    tx.update_activity(&todo)?;
    changes::activity_changed(tx, Change::Updated, id, permissions.user_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_todo_carries_the_todo_defaults() {
        let todo = new_todo(Binding::new(2, 7), 1, 5, "2030-01-01T10:00:00+00:00", "now");
        assert_eq!(
            (
                todo.type_id,
                todo.provider_id.as_str(),
                todo.provider_type_id.as_str()
            ),
            (6, "CRM_TODO", "TODO")
        );
        assert_eq!((todo.owner_type_id, todo.owner_id), (2, 7));
        assert_eq!(
            (todo.author_id, todo.editor_id, todo.responsible_id),
            (1, 1, 5)
        );
        assert_eq!((todo.status, todo.priority, todo.direction), (1, 2, 0));
        assert!(!todo.completed);
        assert_eq!(todo.start_time, todo.deadline);
        assert_eq!(todo.end_time, todo.deadline);
        assert_eq!(
            (todo.created.as_str(), todo.last_updated.as_str()),
            ("now", "now")
        );
        assert!(is_todo(&todo));
    }
}
