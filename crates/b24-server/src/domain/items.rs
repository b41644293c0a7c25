//! CRM item rules shared by `crm.item.*` and the legacy `crm.deal/contact/company/lead.*`: rights,
//! field validation, and the change hook. The two families differ only in names and error
//! shapes, so the rules return an [`ItemError`] that each family words its own way.

use super::access::can;
use super::changes::{self, Change};
use super::item_fields::{self, FieldKind, ItemField};
use super::text_limits::{self, Record, TextLimit};
use super::{item_derived, stage_history, statuses};
use super::{Action, Binding, Level, Permissions};
use crate::error::ApiError;
use crate::store::{Column, CompareOp, Filter, ItemRecord, ListQuery, PageOf, SqlValue, Tx};
use serde_json::{Map, Value};

/// Why an item operation was refused.
#[derive(Debug)]
pub enum ItemError {
    /// The caller lacks the right.
    AccessDenied,
    /// No such item.
    NotFound,
    /// A field's value is not acceptable.
    InvalidValue(&'static ItemField),
    /// A field's text is longer than its limit (spec §14).
    TooLong(&'static ItemField, TextLimit),
    /// A group of required fields (see [`item_fields::required_groups`]) left empty.
    Required(Vec<&'static ItemField>),
    /// A user field's value is not acceptable; its `UF_CRM_…` name.
    InvalidUserField(String),
    /// The store failed.
    Store(ApiError),
}

impl From<ApiError> for ItemError {
    fn from(e: ApiError) -> Self {
        ItemError::Store(e)
    }
}

/// Applies the caller's `fields` to an item: unknown and read-only keys are dropped, as the
/// service does; a value that does not fit its field refuses the whole call.
fn apply_fields(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    item: &mut ItemRecord,
    fields: &Map<String, Value>,
    max_file_bytes: u64,
) -> Result<(), ItemError> {
    let mut parents: Option<Vec<i64>> = None;
    for (key, value) in fields {
        let field = match item_fields::find(item.entity_type_id, key) {
            Some(field) => field,
            None => {
                // A parent field, when the type's relations give it that parent.
                let Some(parent) = item_fields::parent_key(key) else {
                    continue;
                };
                let parents = match &mut parents {
                    Some(p) => p,
                    None => {
                        parents.insert(super::dynamic_types::parent_types(tx, item.entity_type_id)?)
                    }
                };
                match item_fields::parent_field(parent).filter(|_| parents.contains(&parent)) {
                    Some(field) => field,
                    None => continue,
                }
            }
        };
        if (field.read_only && !field.settable) || field.computed {
            continue;
        }
        let value = item_fields::normalise(field, value).ok_or(ItemError::InvalidValue(field))?;
        if field.kind == FieldKind::File {
            let stored = item_fields::read(item, field);
            if let Some(file) =
                file_change(tx, permissions, field, &stored, &value, max_file_bytes)?
            {
                item_fields::write(item, field, file);
            }
            continue;
        }
        check_length(field, &value)?;
        if field.settable || field.wire_type == "crm_entity" {
            check_reference(tx, field, &value)?;
        }
        if field.column == Column::Plain("assigned_by_id") && value.is_null() {
            continue;
        }
        let value = if field.kind == FieldKind::Multifield {
            let stored = item_fields::read(item, field);
            item_fields::merge_multifield(&stored, &value, || tx.next_id("multifield"))?
        } else {
            value
        };
        item_fields::write(item, field, value);
    }
    Ok(())
}

/// What a caller's value does to a file field (spec §12, "CRM field catalogues"): an upload
/// (`{"fileData": [name, base64]}` or `[name, base64]`) stores a new disk file in the caller's
/// drive and replaces the old one; `{"remove": "Y"}`, `""` or `null` removes it; anything with
/// the `id` of a file (the answer's own object sent back) keeps it. Returns the new stored
/// value, `None` to keep it. Base64 that does not decode, a file without a name or over the
/// size limit is the field's `InvalidValue`.
fn file_change(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    field: &'static ItemField,
    stored: &Value,
    value: &Value,
    max_file_bytes: u64,
) -> Result<Option<Value>, ItemError> {
    let invalid = || ItemError::InvalidValue(field);
    let upload = match value {
        Value::Null => None,
        Value::Object(map) => {
            let remove = map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("remove"))
                .map(|(_, v)| v);
            if let Some(data) = map.get("fileData") {
                Some(data)
            } else if remove.is_some_and(|v| v == "Y" || v == "y" || v == true) {
                None
            } else if map.contains_key("id") {
                return Ok(None);
            } else {
                return Err(invalid());
            }
        }
        Value::Array(_) => Some(value),
        _ => return Err(invalid()),
    };
    let new = match upload {
        None => Value::Null,
        Some(data) => {
            let (name, bytes) =
                super::disk::decode_file_content(data, max_file_bytes).map_err(|_| invalid())?;
            if name.is_empty() {
                return Err(invalid());
            }
            // Its download URL is signed with the portal's URL key: made now, if not yet.
            super::disk::url_key(tx)?;
            let new = super::disk::Attachment::New(name, bytes);
            let ids = super::disk::attach(tx, permissions, vec![new])?;
            ids.first()
                .map(|id| Value::from(*id))
                .unwrap_or(Value::Null)
        }
    };
    drop_file(tx, stored)?;
    Ok(Some(new))
}

/// Deletes the disk file a file field held (replaced, removed, or its item deleted).
fn drop_file(tx: &mut dyn Tx, stored: &Value) -> Result<(), ApiError> {
    if let Some(old) = stored.as_i64() {
        if let Some(file) = tx.disk_object(old)?.filter(|o| !o.is_folder) {
            super::disk::delete_file(tx, &file)?;
        }
    }
    Ok(())
}

/// Refuses a reference to an item that does not exist (`leadId`, `quoteId`, a parent field):
/// the service answers `CRM_FIELD_ERROR_VALUE_NOT_VALID` naming the field.
fn check_reference(
    tx: &mut dyn Tx,
    field: &'static ItemField,
    value: &Value,
) -> Result<(), ItemError> {
    let Some(id) = value.as_i64() else {
        return Ok(());
    };
    let target = match field.wire_type {
        "crm_lead" => super::EntityTypeId::LEAD,
        "crm_quote" => super::EntityTypeId::QUOTE,
        "crm_entity" => match item_fields::parent_key(field.name) {
            Some(parent) => parent,
            None => return Ok(()),
        },
        _ => return Ok(()),
    };
    if id <= 0 || tx.item(target, id)?.is_none() {
        return Err(ItemError::InvalidValue(field));
    }
    Ok(())
}

/// Refuses an item that leaves a group of required fields empty. On creation every group is
/// checked, but a contact's names (the service gives a nameless contact a default one); on an
/// update only the groups the caller's fields touch, as the service checks the fields given.
fn check_required(item: &ItemRecord, fields: Option<&Map<String, Value>>) -> Result<(), ItemError> {
    let t = item.entity_type_id;
    for group in item_fields::required_groups(t) {
        let checked = match fields {
            None => t != super::EntityTypeId::CONTACT,
            Some(fields) => fields.keys().any(|key| {
                item_fields::find(t, key).is_some_and(|f| group.iter().any(|g| std::ptr::eq(*g, f)))
            }),
        };
        if checked && group.iter().all(|f| item_fields::is_empty(item, f)) {
            return Err(ItemError::Required(group));
        }
    }
    Ok(())
}

/// Applies the caller's user-field (`UF_CRM_…` / `ufCrm…`) values; the type's definitions are
/// read only when the call names some.
fn apply_user_fields(
    tx: &mut dyn Tx,
    item: &mut ItemRecord,
    fields: &Map<String, Value>,
) -> Result<(), ItemError> {
    if !super::user_fields::mentions_user_fields(fields) {
        return Ok(());
    }
    let defs = super::user_fields::fields_of(tx, item.entity_type_id)?;
    super::user_fields::apply_values(item, &defs, fields).map_err(ItemError::InvalidUserField)
}

/// Refuses text over its limit (spec §14): a text field's value, or the `VALUE` / `VALUE_TYPE`
/// of each multi-field entry.
fn check_length(field: &'static ItemField, value: &Value) -> Result<(), ItemError> {
    let too_long = |limit| ItemError::TooLong(field, limit);
    match field.kind {
        FieldKind::Text => {
            if let Value::String(s) = value {
                text_limits::check(Record::Item, field.legacy, s).map_err(too_long)?;
            }
        }
        FieldKind::Multifield => {
            for entry in value.as_array().into_iter().flatten() {
                for key in ["VALUE", "VALUE_TYPE"] {
                    if let Some(s) = entry[key].as_str() {
                        text_limits::check(Record::Multifield, key, s).map_err(too_long)?;
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Creates an item. With an "own" add right the item must be assigned to the caller.
pub fn add(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
    fields: &Map<String, Value>,
    max_file_bytes: u64,
) -> Result<ItemRecord, ItemError> {
    let now = tx.now_iso();
    let mut item = ItemRecord {
        entity_type_id,
        id: 0,
        title: String::new(),
        assigned_by_id: permissions.user_id,
        created_by: permissions.user_id,
        updated_by: permissions.user_id,
        created_time: now.clone(),
        updated_time: now,
        extra: Map::new(),
    };
    apply_fields(tx, permissions, &mut item, fields, max_file_bytes)?;
    apply_user_fields(tx, &mut item, fields)?;
    let allowed = match permissions.level(entity_type_id, Action::Add) {
        Level::None => false,
        Level::Own => item.assigned_by_id == permissions.user_id,
        Level::All => true,
    };
    if !allowed {
        return Err(ItemError::AccessDenied);
    }
    check_required(&item, None)?;
    statuses::check_item(tx, &mut item, None, stage_given(entity_type_id, fields))?;
    item_fields::apply_defaults(&mut item);
    item_derived::derive(tx, &mut item, None)?;
    item.id = tx.insert_item(&item)?;
    stage_history::record(tx, &item, None)?;
    super::contact_companies::item_written(tx, &item, None)?;
    if super::contact_companies::mirrors_links(entity_type_id) {
        // Its company or contact list now mirrors the link rows.
        item = existing(tx, entity_type_id, item.id)?;
    }
    changes::item_changed(
        tx,
        Change::Added,
        entity_type_id,
        item.id,
        permissions.user_id,
    )?;
    Ok(item)
}

/// Whether the caller sent a stage (`stageId`, a lead's `statusId`, under either name).
fn stage_given(entity_type_id: i64, fields: &Map<String, Value>) -> bool {
    fields.keys().any(|key| {
        item_fields::find(entity_type_id, key)
            .is_some_and(|f| matches!(f.name, "stageId" | "statusId"))
    })
}

fn existing(tx: &mut dyn Tx, entity_type_id: i64, id: i64) -> Result<ItemRecord, ItemError> {
    tx.item(entity_type_id, id)?.ok_or(ItemError::NotFound)
}

fn check(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
    id: i64,
    action: Action,
) -> Result<(), ItemError> {
    if !can(tx, permissions, Binding::new(entity_type_id, id), action)? {
        return Err(ItemError::AccessDenied);
    }
    Ok(())
}

/// Reads an item the caller may read.
pub fn get(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
    id: i64,
) -> Result<ItemRecord, ItemError> {
    let item = existing(tx, entity_type_id, id)?;
    check(tx, permissions, entity_type_id, id, Action::Read)?;
    Ok(item)
}

/// Changes the given fields of an item the caller may update.
pub fn update(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
    id: i64,
    fields: &Map<String, Value>,
    max_file_bytes: u64,
) -> Result<ItemRecord, ItemError> {
    let mut item = existing(tx, entity_type_id, id)?;
    check(tx, permissions, entity_type_id, id, Action::Update)?;
    let before = item.clone();
    apply_fields(tx, permissions, &mut item, fields, max_file_bytes)?;
    apply_user_fields(tx, &mut item, fields)?;
    check_required(&item, Some(fields))?;
    statuses::check_item(
        tx,
        &mut item,
        Some(&before),
        stage_given(entity_type_id, fields),
    )?;
    // While the rows decide the amount, a hand-written one does not stick.
    super::product_rows::sync_opportunity(tx, &mut item)?;
    item.updated_by = permissions.user_id;
    item.updated_time = tx.now_iso();
    item_derived::derive(tx, &mut item, Some(&before))?;
    tx.update_item(&item)?;
    stage_history::record(tx, &item, Some(&before))?;
    super::contact_companies::item_written(tx, &item, Some(&before))?;
    if super::contact_companies::mirrors_links(entity_type_id) {
        // Its `companyId` may have moved to the next linked company, its lists to the rows.
        item = existing(tx, entity_type_id, id)?;
    }
    changes::item_changed(tx, Change::Updated, entity_type_id, id, permissions.user_id)?;
    Ok(item)
}

/// Deletes an item the caller may delete. Activities bound to it keep their bindings (a binding
/// to a deleted item stays deletable, spec §12).
pub fn delete(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
    id: i64,
) -> Result<(), ItemError> {
    let item = existing(tx, entity_type_id, id)?;
    check(tx, permissions, entity_type_id, id, Action::Delete)?;
    for field in item_fields::fields_of(entity_type_id).filter(|f| f.kind == FieldKind::File) {
        drop_file(tx, &item_fields::read(&item, field))?;
    }
    tx.delete_item(entity_type_id, id)?;
    // The item's stage history goes with it, as the service unregisters it on delete.
    tx.delete_stage_history_of(entity_type_id, id)?;
    super::contact_companies::item_deleted(tx, entity_type_id, id)?;
    super::product_rows::owner_deleted(tx, entity_type_id, id)?;
    super::requisites::owner_deleted(tx, entity_type_id, id)?;
    changes::item_changed(tx, Change::Deleted, entity_type_id, id, permissions.user_id)?;
    Ok(())
}

/// A page of the items the caller may read: everything with an "all" right, their own items
/// with an "own" right (served by the `(type, assignee, id)` index).
pub fn list(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
    mut query: ListQuery,
) -> Result<PageOf<ItemRecord>, ItemError> {
    match permissions.level(entity_type_id, Action::Read) {
        Level::None => return Err(ItemError::AccessDenied),
        Level::Own => {
            let own = Filter::Compare {
                column: Column::Plain("assigned_by_id"),
                op: CompareOp::Eq,
                values: vec![SqlValue::Int(permissions.user_id)],
            };
            query.filter = Filter::All(vec![own, query.filter]);
        }
        Level::All => {}
    }
    Ok(tx.list_items(entity_type_id, &query)?)
}
