//! Timeline comments (`crm.timeline.comment.*`) and the bindings of timeline records to CRM
//! items (`crm.timeline.bindings.*`), in the service's check order.
//!
//! `add`, `update` and `delete` of comments are D7 controllers (codes, HTTP 400); `get`, `list`
//! and the binding methods are legacy proxies (`"error": ""` and the text). A comment's rights
//! come from the items it is bound to, as an activity's do (spec §4.8): reading needs the read
//! right on one bound item, changing needs the update right on the item named (or on one bound
//! item), and binding or unbinding needs the update right on that item.

use super::access::{can, is_item_type, item_exists};
use super::changes::{self, Change};
use super::{disk, Action, Binding, EntityTypeId, Permissions};
use crate::error::ApiError;
use crate::store::timeline::{CommentOrder, CommentRecord};
use crate::store::{PageOf, Tx};
use b24_protocol::values::bind_int;
use b24_protocol::{ErrorCode, RestError};
use serde_json::{Map, Value};

/// The `ENTITY_TYPE` name of a type: `lead`, `deal`, …, `dynamic_<id>` for a smart process.
pub fn entity_type_name(entity_type_id: i64) -> String {
    match entity_type_id {
        EntityTypeId::LEAD => "lead".into(),
        EntityTypeId::DEAL => "deal".into(),
        EntityTypeId::CONTACT => "contact".into(),
        EntityTypeId::COMPANY => "company".into(),
        EntityTypeId::QUOTE => "quote".into(),
        EntityTypeId::SMART_INVOICE => "smart_invoice".into(),
        other => format!("dynamic_{other}"),
    }
}

/// The type an `ENTITY_TYPE` name (any case) names, if it holds items here: the built-in types
/// by name, a smart process as `dynamic_<entityTypeId>` when it exists.
pub fn entity_type_by_name(tx: &mut dyn Tx, name: &Value) -> Result<Option<i64>, ApiError> {
    let Some(name) = name.as_str() else {
        return Ok(None);
    };
    let name = name.trim().to_ascii_lowercase();
    let id = match name.as_str() {
        "lead" => EntityTypeId::LEAD,
        "deal" => EntityTypeId::DEAL,
        "contact" => EntityTypeId::CONTACT,
        "company" => EntityTypeId::COMPANY,
        "quote" => EntityTypeId::QUOTE,
        "smart_invoice" => EntityTypeId::SMART_INVOICE,
        other => match other
            .strip_prefix("dynamic_")
            .and_then(|n| n.parse::<i64>().ok())
        {
            Some(id) if EntityTypeId::is_dynamic(id) => id,
            _ => return Ok(None),
        },
    };
    Ok(is_item_type(tx, id)?.then_some(id))
}

/// A value of a field map, by name in any case (legacy proxies read keys so).
fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).or_else(|| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// A positive integer field, or `None`.
fn positive(fields: &Map<String, Value>, name: &str) -> Option<i64> {
    field(fields, name).and_then(bind_int).filter(|&n| n > 0)
}

/// The comment's text: a string or a number; anything else counts as empty.
fn comment_text(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn empty_comment() -> ApiError {
    RestError::with_message(ErrorCode::InvalidArgValue, "Comment is empty.").into()
}

fn not_found() -> ApiError {
    RestError::with_message(ErrorCode::NotFound, "Not found.").into()
}

/// `crm.timeline.comment.add`: a comment on an existing item the caller may update, bound to
/// it, written by `AUTHOR_ID` when that user exists (else by the caller); returns its id.
pub fn add_comment(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    fields: &Map<String, Value>,
    max_file_bytes: u64,
) -> Result<i64, ApiError> {
    let entity_type_id = match field(fields, "ENTITY_TYPE") {
        Some(name) => entity_type_by_name(tx, name)?,
        None => None,
    };
    let owner = match (entity_type_id, positive(fields, "ENTITY_ID")) {
        (Some(t), Some(id)) => Binding::new(t, id),
        _ => return Err(ErrorCode::OwnerNotFound.into()),
    };
    if !item_exists(tx, owner)? {
        return Err(ErrorCode::OwnerNotFound.into());
    }
    if !can(tx, permissions, owner, Action::Update)? {
        return Err(ErrorCode::AccessDenied.into());
    }
    let text = comment_text(field(fields, "COMMENT")).unwrap_or_default();
    if text.trim().is_empty() {
        return Err(empty_comment());
    }
    let author_id = match positive(fields, "AUTHOR_ID") {
        Some(user) if tx.user(user)?.is_some() => user,
        _ => permissions.user_id,
    };
    let record = CommentRecord {
        id: 0,
        created: tx.now_iso(),
        author_id,
        comment: text,
    };
    let files = comment_files(fields, max_file_bytes)?;
    let id = tx.insert_comment(&record)?;
    tx.insert_timeline_binding(id, owner)?;
    if let Some(files) = files {
        attach_files(tx, permissions, id, files)?;
    }
    changes::comment_changed(tx, Change::Added, id, permissions.user_id)?;
    Ok(id)
}

/// The `FILES` of a comment's fields, read (not yet stored); `None` when not given.
fn comment_files(
    fields: &Map<String, Value>,
    max_file_bytes: u64,
) -> Result<Option<Vec<disk::Attachment>>, ApiError> {
    field(fields, "FILES")
        .map(|value| disk::parse_attachments(value, max_file_bytes))
        .transpose()
}

/// Stores new files, checks named ones, and makes them the comment's attachments.
fn attach_files(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    files: Vec<disk::Attachment>,
) -> Result<(), ApiError> {
    disk::url_key(tx)?;
    let ids = disk::attach(tx, permissions, files)?;
    tx.detach_timeline_files(id)?;
    for file in ids {
        tx.attach_timeline_file(id, file)?;
    }
    Ok(())
}

/// Whether the caller may do `action` with a record bound to `bindings`: the right on one of
/// them (a record bound to nothing is an administrator's only).
fn allowed_on_any(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    bindings: &[Binding],
    action: Action,
) -> Result<bool, ApiError> {
    if bindings.is_empty() {
        return Ok(permissions.admin);
    }
    for binding in bindings {
        if can(tx, permissions, *binding, action)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The comment and its bindings for a change (`update` / `delete`): `NOT_FOUND` without it;
/// with an owner named, the owner must exist (`OWNER_NOT_FOUND`), carry the comment
/// (`NOT_FOUND`) and be open to the caller's update right (`ACCESS_DENIED`); without one, the
/// update right on one bound item is enough.
fn comment_for_change(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    owner: Option<Binding>,
) -> Result<(CommentRecord, Vec<Binding>), ApiError> {
    tx.lock_comment(id)?;
    let comment = tx.comment(id)?.ok_or_else(not_found)?;
    let bindings = tx.timeline_bindings(id)?;
    let allowed = match owner {
        Some(owner) => {
            if !is_item_type(tx, owner.entity_type_id)? || !item_exists(tx, owner)? {
                return Err(ErrorCode::OwnerNotFound.into());
            }
            if !bindings.contains(&owner) {
                return Err(not_found());
            }
            can(tx, permissions, owner, Action::Update)?
        }
        None => allowed_on_any(tx, permissions, &bindings, Action::Update)?,
    };
    if !allowed {
        return Err(ErrorCode::AccessDenied.into());
    }
    Ok((comment, bindings))
}

/// `crm.timeline.comment.update`: a new text (when `COMMENT` is given, it must not be empty).
pub fn update_comment(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    fields: &Map<String, Value>,
    owner: Option<Binding>,
    max_file_bytes: u64,
) -> Result<(), ApiError> {
    comment_for_change(tx, permissions, id, owner)?;
    if let Some(files) = comment_files(fields, max_file_bytes)? {
        attach_files(tx, permissions, id, files)?;
    }
    if let Some(value) = field(fields, "COMMENT") {
        let text = comment_text(Some(value)).unwrap_or_default();
        if text.trim().is_empty() {
            return Err(empty_comment());
        }
        tx.set_comment_text(id, &text)?;
    }
    changes::comment_changed(tx, Change::Updated, id, permissions.user_id)
}

/// `crm.timeline.comment.delete`: with an owner named, the comment leaves that item's timeline
/// (and is deleted when it was its last binding); without one, a comment bound to several items
/// is `MULTIPLE_BINDINGS`, any other is deleted.
pub fn delete_comment(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    owner: Option<Binding>,
) -> Result<(), ApiError> {
    let (_, bindings) = comment_for_change(tx, permissions, id, owner)?;
    match owner {
        Some(owner) if bindings.len() > 1 => {
            tx.delete_timeline_binding(id, owner)?;
            Ok(())
        }
        None if bindings.len() > 1 => Err(ErrorCode::MultipleBindings.into()),
        _ => {
            tx.detach_timeline_files(id)?;
            tx.delete_comment(id)?;
            changes::comment_changed(tx, Change::Deleted, id, permissions.user_id)
        }
    }
}

/// A comment as `get` and `list` show it, bound to `entity` (`None`: bound to nothing), with
/// its attached files.
pub fn comment_json(
    tx: &mut dyn Tx,
    comment: &CommentRecord,
    entity: Option<Binding>,
    shown: &disk::Shown<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let ids = tx.timeline_files(comment.id)?;
    let files = disk::attachments_json(tx, &ids, shown)?;
    let (entity_id, entity_type) = match entity {
        Some(b) => (b.entity_id.to_string(), entity_type_name(b.entity_type_id)),
        None => ("0".to_string(), String::new()),
    };
    let mut out = Map::new();
    out.insert("ID".into(), Value::String(comment.id.to_string()));
    out.insert("ENTITY_ID".into(), Value::String(entity_id));
    out.insert("ENTITY_TYPE".into(), Value::String(entity_type));
    out.insert("CREATED".into(), Value::String(comment.created.clone()));
    out.insert("COMMENT".into(), Value::String(comment.comment.clone()));
    out.insert(
        "AUTHOR_ID".into(),
        Value::String(comment.author_id.to_string()),
    );
    out.insert("FILES".into(), Value::Object(files));
    Ok(out)
}

/// `crm.timeline.comment.get`: the comment, shown with its oldest binding, if the caller may
/// read one of the items it is bound to.
pub fn get_comment(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    shown: &disk::Shown<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let comment = tx
        .comment(id)?
        .ok_or_else(|| RestError::legacy("Not found."))?;
    let bindings = tx.timeline_bindings(id)?;
    if !allowed_on_any(tx, permissions, &bindings, Action::Read)? {
        return Err(RestError::legacy("Access denied.").into());
    }
    comment_json(tx, &comment, bindings.first().copied(), shown)
}

/// The item a legacy `filter` or `fields` names by `ENTITY_TYPE` and `ENTITY_ID`, with the
/// legacy words for each missing half.
pub fn legacy_entity(tx: &mut dyn Tx, fields: &Map<String, Value>) -> Result<Binding, ApiError> {
    let entity_id = positive(fields, "ENTITY_ID")
        .ok_or_else(|| RestError::legacy("ENTITY_ID is not defined or invalid."))?;
    let entity_type_id = match field(fields, "ENTITY_TYPE") {
        Some(name) => entity_type_by_name(tx, name)?,
        None => None,
    }
    .ok_or_else(|| RestError::legacy("ENTITY_TYPE is not defined or invalid."))?;
    Ok(Binding::new(entity_type_id, entity_id))
}

/// What `crm.timeline.comment.list` asks for, already read.
#[derive(Debug, Clone, Copy)]
pub struct CommentQuery {
    /// The item whose timeline is listed.
    pub entity: Binding,
    /// The sort column.
    pub order: CommentOrder,
    /// Descending.
    pub descending: bool,
    /// `start`.
    pub offset: u64,
    /// The page size.
    pub limit: u64,
    /// Count the matches (`total`).
    pub count: bool,
}

/// `crm.timeline.comment.list`: a page of the comments on an item the caller may read.
pub fn list_comments(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    query: CommentQuery,
) -> Result<PageOf<CommentRecord>, ApiError> {
    if !can(tx, permissions, query.entity, Action::Read)? {
        return Err(RestError::legacy("Access denied.").into());
    }
    tx.comments_of(
        query.entity,
        query.order,
        query.descending,
        query.offset,
        query.limit,
        query.count,
    )
}

/// The `OWNER_ID` of a binding call or filter.
pub fn legacy_owner_id(fields: &Map<String, Value>) -> Result<i64, ApiError> {
    Ok(positive(fields, "OWNER_ID")
        .ok_or_else(|| RestError::legacy("OWNER_ID is not defined or invalid."))?)
}

/// `crm.timeline.bindings.bind`: `false` (not an error) when the caller may not update the item;
/// a binding made already is `true` again. Neither the record nor the item is checked to exist,
/// as the service documents.
pub fn bind(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    fields: &Map<String, Value>,
) -> Result<bool, ApiError> {
    let owner_id = legacy_owner_id(fields)?;
    let entity = legacy_entity(tx, fields)?;
    if !can(tx, permissions, entity, Action::Update)? {
        return Ok(false);
    }
    tx.lock_comment(owner_id)?;
    tx.insert_timeline_binding(owner_id, entity)?;
    Ok(true)
}

/// `crm.timeline.bindings.unbind`: `false` when the caller may not update the item, `Not found.`
/// without such a binding. The record stays, even without any binding left.
pub fn unbind(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    fields: &Map<String, Value>,
) -> Result<bool, ApiError> {
    let owner_id = legacy_owner_id(fields)?;
    let entity = legacy_entity(tx, fields)?;
    if !can(tx, permissions, entity, Action::Update)? {
        return Ok(false);
    }
    tx.lock_comment(owner_id)?;
    if !tx.delete_timeline_binding(owner_id, entity)? {
        return Err(RestError::legacy("Not found.").into());
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_type_names_are_lower_case_with_dynamic_ids() {
        assert_eq!(entity_type_name(2), "deal");
        assert_eq!(entity_type_name(31), "smart_invoice");
        assert_eq!(entity_type_name(130), "dynamic_130");
    }
}
