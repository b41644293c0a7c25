//! Smart-process types (`crm.type.*`, spec §3): who may create, change and delete them, how
//! their `title` and `Y`/`N` settings are read, which `entityTypeId` a new type gets, and every
//! write. A type's `entityTypeId` (128..191) becomes a valid item type and binding target as soon
//! as it exists.

use super::text_limits::{self, Record};
use super::{EntityTypeId, Permissions};
use crate::error::ApiError;
use crate::store::{DynamicTypeRecord, PageOf, Tx};
use b24_protocol::values::bind_int;
use b24_protocol::{ErrorCode, RestError};
use serde_json::{json, Map, Value};

/// The `Y`/`N` settings a type carries, with their defaults.
pub const FLAGS: &[(&str, &str)] = &[
    ("isCategoriesEnabled", "N"),
    ("isStagesEnabled", "N"),
    ("isBeginCloseDatesEnabled", "N"),
    ("isClientEnabled", "N"),
    ("isUseInUserfieldEnabled", "N"),
    ("isLinkWithProductsEnabled", "N"),
    ("isMycompanyEnabled", "N"),
    ("isDocumentsEnabled", "N"),
    ("isSourceEnabled", "N"),
    ("isObserversEnabled", "N"),
    ("isRecyclebinEnabled", "N"),
    ("isAutomationEnabled", "N"),
    ("isBizProcEnabled", "N"),
    ("isSetOpenPermissions", "Y"),
    ("isPaymentsEnabled", "N"),
    ("isCountersEnabled", "N"),
];

fn not_found() -> ApiError {
    RestError::with_message(ErrorCode::Uncoded, "Smart process not found").into()
}

/// Creating, changing and deleting types is for CRM administrators.
fn require_admin(permissions: &Permissions) -> Result<(), ApiError> {
    if permissions.admin {
        Ok(())
    } else {
        Err(ErrorCode::AccessDenied.into())
    }
}

fn flag_value(value: &Value) -> Option<&'static str> {
    match value {
        Value::Bool(true) => Some("Y"),
        Value::Bool(false) => Some("N"),
        Value::String(s) if s.eq_ignore_ascii_case("y") || s == "true" || s == "1" => Some("Y"),
        Value::String(s) if s.eq_ignore_ascii_case("n") || s == "false" || s == "0" => Some("N"),
        _ => None,
    }
}

fn not_valid(name: &str) -> ApiError {
    RestError::with_message(
        ErrorCode::FieldValueNotValid,
        format!("The value of the field \"{name}\" is not valid"),
    )
    .into()
}

/// Applies `title`, `code` and the flags from `fields`; unknown keys are ignored.
fn apply_fields(t: &mut DynamicTypeRecord, fields: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(title) = fields.get("title") {
        t.title = match title {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        text_limits::check(Record::DynamicType, "title", &t.title).map_err(|limit| {
            RestError::with_message(ErrorCode::FieldValueNotValid, limit.message("title"))
        })?;
    }
    for (flag, _) in FLAGS {
        if let Some(value) = fields.get(*flag) {
            let v = flag_value(value).ok_or_else(|| {
                RestError::with_message(
                    ErrorCode::FieldValueNotValid,
                    format!("The value of the field \"{flag}\" is not valid"),
                )
            })?;
            t.settings.insert((*flag).into(), json!(v));
        }
    }
    if let Some(code) = fields.get("code") {
        let code = match code {
            Value::String(s) if !s.trim().is_empty() => json!(s.trim()),
            Value::Number(n) => json!(n.to_string()),
            Value::Null | Value::String(_) => Value::Null,
            _ => return Err(not_valid("code")),
        };
        t.settings.insert("code".into(), code);
    }
    if let Some(relations) = fields.get("relations") {
        let relations = parse_relations(relations).ok_or_else(|| not_valid("relations"))?;
        t.settings.insert("relations".into(), relations);
    }
    if t.title.is_empty() {
        return Err(RestError::with_message(
            ErrorCode::FieldRequired,
            "The field \"title\" is required.",
        )
        .into());
    }
    Ok(())
}

/// A type's `relations` from the caller: `{"parent": [...], "child": [...]}`, each entry
/// `{entityTypeId, isChildrenListEnabled}` (`"true"` / `"false"`; the service also reads `Y` /
/// `N` here); an entry naming a type that holds no items is dropped, as the service skips
/// unknown types. `None` when the shape is wrong.
fn parse_relations(value: &Value) -> Option<Value> {
    let Value::Object(map) = value else {
        return (value.is_null() || value.as_array().is_some_and(Vec::is_empty))
            .then(|| json!({"parent": [], "child": []}));
    };
    let mut out = Map::new();
    for side in ["parent", "child"] {
        let entries: Vec<&Value> = match map.get(side) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list.iter().collect(),
            Some(Value::Object(o)) => o.values().collect(),
            Some(_) => return None,
        };
        let mut list: Vec<Value> = Vec::new();
        for entry in entries {
            let Value::Object(e) = entry else { return None };
            let id = e.get("entityTypeId").and_then(bind_int)?;
            if super::item_fields::type_bit(id) == 0
                || list.iter().any(|r| r["entityTypeId"] == json!(id))
            {
                continue;
            }
            let enabled = e
                .get("isChildrenListEnabled")
                .and_then(flag_value)
                .unwrap_or("N");
            list.push(json!({"entityTypeId": id, "isChildrenListEnabled": enabled,
                             "isPredefined": "N"}));
        }
        out.insert(side.into(), Value::Array(list));
    }
    Some(Value::Object(out))
}

/// The types named on one side (`parent` / `child`) of a type's relations.
fn related(t: &DynamicTypeRecord, side: &str) -> Vec<i64> {
    t.settings
        .get("relations")
        .and_then(|r| r.get(side))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r["entityTypeId"].as_i64())
        .collect()
}

/// The parent types of a type's items (their `parentId{N}` fields): the parents a smart
/// process names in its relations, and every smart process that names the type among its
/// children; ascending. Looks at the smart-process types (at most 64, from the portal's kept
/// catalogue, `store/catalogue.rs`), never at items.
pub fn parent_types(tx: &mut dyn Tx, entity_type_id: i64) -> Result<Vec<i64>, ApiError> {
    if super::item_fields::type_bit(entity_type_id) == 0 {
        return Ok(Vec::new());
    }
    let catalogue = tx.catalogue()?;
    let mut parents: Vec<i64> = Vec::new();
    for t in catalogue.types() {
        if t.entity_type_id == entity_type_id {
            parents.extend(related(t, "parent"));
        } else if related(t, "child").contains(&entity_type_id) {
            parents.push(t.entity_type_id);
        }
    }
    parents.retain(|&p| p != entity_type_id);
    parents.sort_unstable();
    parents.dedup();
    Ok(parents)
}

/// The entity type id for a new type: the caller's, which must be free and in range, or the
/// lowest free one.
fn choose_entity_type_id(tx: &mut dyn Tx, wanted: Option<&Value>) -> Result<i64, ApiError> {
    let taken = tx.dynamic_entity_type_ids()?;
    match wanted {
        Some(value) if !value.is_null() => {
            let id = bind_int(value)
                .filter(|&id| EntityTypeId::is_dynamic(id))
                .ok_or_else(|| {
                    RestError::with_message(
                        ErrorCode::InvalidArgValue,
                        "entityTypeId is out of allowed range",
                    )
                })?;
            if taken.contains(&id) {
                return Err(RestError::with_message(
                    ErrorCode::InvalidArgValue,
                    format!("entityTypeId {id} is already in use"),
                )
                .into());
            }
            Ok(id)
        }
        _ => (EntityTypeId::DYNAMIC_START..EntityTypeId::DYNAMIC_END)
            .find(|id| !taken.contains(id))
            .ok_or_else(|| ErrorCode::DynamicTypeLimit.into()),
    }
}

/// `crm.type.add`: a new type from `fields` (`title` required, the flags, an optional free
/// `entityTypeId`), created by the caller, who must be an administrator.
pub fn add(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    fields: &Map<String, Value>,
) -> Result<DynamicTypeRecord, ApiError> {
    require_admin(permissions)?;
    let user_id = permissions.user_id;
    let now = tx.now_iso();
    let mut t = DynamicTypeRecord {
        id: 0,
        entity_type_id: 0,
        title: String::new(),
        created_by: user_id,
        updated_by: user_id,
        created_time: now.clone(),
        updated_time: now,
        settings: Map::new(),
    };
    apply_fields(&mut t, fields)?;
    // `customSectionId` is immutable: taken on creation only.
    match fields.get("customSectionId") {
        None | Some(Value::Null) => {}
        Some(value) => {
            let id = bind_int(value)
                .filter(|&id| id >= 0)
                .ok_or_else(|| not_valid("customSectionId"))?;
            t.settings.insert("customSectionId".into(), json!(id));
        }
    }
    t.entity_type_id = choose_entity_type_id(tx, fields.get("entityTypeId"))?;
    t.id = tx.insert_dynamic_type(&t)?;
    super::statuses::dynamic_type_created(tx, &t)?;
    Ok(t)
}

/// `crm.type.get`: the type with id `id`.
pub fn get(tx: &mut dyn Tx, id: i64) -> Result<DynamicTypeRecord, ApiError> {
    tx.dynamic_type(id)?.ok_or_else(not_found)
}

/// `crm.type.getByEntityTypeId`: the type whose items have `entity_type_id`.
pub fn get_by_entity_type_id(
    tx: &mut dyn Tx,
    entity_type_id: i64,
) -> Result<DynamicTypeRecord, ApiError> {
    tx.dynamic_type_by_entity_type(entity_type_id)?
        .ok_or_else(not_found)
}

/// `crm.type.list`: one page of types.
pub fn list(
    tx: &mut dyn Tx,
    offset: u64,
    limit: u64,
    count: bool,
) -> Result<PageOf<DynamicTypeRecord>, ApiError> {
    tx.list_dynamic_types(offset, limit, count)
}

/// `crm.type.update`: changes the title and flags of a type; administrators only.
pub fn update(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    fields: &Map<String, Value>,
) -> Result<DynamicTypeRecord, ApiError> {
    require_admin(permissions)?;
    let mut t = get(tx, id)?;
    apply_fields(&mut t, fields)?;
    t.updated_by = permissions.user_id;
    t.updated_time = tx.now_iso();
    tx.update_dynamic_type(&t)?;
    super::statuses::dynamic_type_updated(tx, &t)?;
    Ok(t)
}

/// `crm.type.delete`: deletes a type that holds no items; administrators only.
pub fn delete(tx: &mut dyn Tx, permissions: &Permissions, id: i64) -> Result<(), ApiError> {
    require_admin(permissions)?;
    let t = get(tx, id)?;
    if tx.has_items(t.entity_type_id)? {
        return Err(ErrorCode::TypeHasItems.into());
    }
    tx.delete_dynamic_type(id)?;
    super::statuses::dynamic_type_deleted(tx, t.entity_type_id)?;
    Ok(())
}
