//! `crm.type.add / get / getByEntityTypeId / list / update / delete / fields` — smart-process
//! types (D7 controller: camelCase, HTTP 400 with codes). A type's `entityTypeId` (128..191)
//! becomes a valid `crm.item.*` type and binding target as soon as it exists.
//! Docs: api-reference/crm/universal/user-defined-object-types/*.md.

use super::{Call, Handler, MethodSpec, Output};
use crate::domain::EntityTypeId;
use crate::error::ApiError;
use crate::store::{DynamicTypeRecord, Tx};
use b24_protocol::values::bind_int;
use b24_protocol::{ErrorCode, RestError, PAGE_SIZE};
use serde_json::{json, Map, Value};

/// `crm.type.add(fields)`.
pub const ADD: MethodSpec = MethodSpec {
    name: "crm.type.add",
    scope: Some("crm"),
    handler: Handler::Blocking(add),
    doc: "Create a smart-process type (entityTypeId 128..191).",
};

/// `crm.type.get(id)`.
pub const GET: MethodSpec = MethodSpec {
    name: "crm.type.get",
    scope: Some("crm"),
    handler: Handler::Blocking(get),
    doc: "Read a smart-process type by its id.",
};

/// `crm.type.getByEntityTypeId(entityTypeId)`.
pub const GET_BY_ENTITY_TYPE_ID: MethodSpec = MethodSpec {
    name: "crm.type.getbyentitytypeid",
    scope: Some("crm"),
    handler: Handler::Blocking(get_by_entity_type_id),
    doc: "Read a smart-process type by the entityTypeId of its items.",
};

/// `crm.type.list(start)`.
pub const LIST: MethodSpec = MethodSpec {
    name: "crm.type.list",
    scope: Some("crm"),
    handler: Handler::Blocking(list),
    doc: "List smart-process types, 50 per page.",
};

/// `crm.type.update(id, fields)`.
pub const UPDATE: MethodSpec = MethodSpec {
    name: "crm.type.update",
    scope: Some("crm"),
    handler: Handler::Blocking(update),
    doc: "Change a smart-process type's title or settings.",
};

/// `crm.type.delete(id)`.
pub const DELETE: MethodSpec = MethodSpec {
    name: "crm.type.delete",
    scope: Some("crm"),
    handler: Handler::Blocking(delete),
    doc: "Delete a smart-process type that has no items.",
};

/// `crm.type.fields()`.
pub const FIELDS: MethodSpec = MethodSpec {
    name: "crm.type.fields",
    scope: Some("crm"),
    handler: Handler::Blocking(fields),
    doc: "Describe the fields of smart-process types.",
};

/// The `Y`/`N` settings a type carries, with their defaults.
const FLAGS: &[(&str, &str)] = &[
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
fn require_admin(call: &Call<'_>) -> Result<(), ApiError> {
    if call.caller.permissions.admin {
        Ok(())
    } else {
        Err(ErrorCode::AccessDenied.into())
    }
}

fn type_json(t: &DynamicTypeRecord) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(t.id));
    out.insert("createdBy".into(), json!(t.created_by));
    out.insert("entityTypeId".into(), json!(t.entity_type_id));
    for (flag, default) in FLAGS {
        let value = t.settings.get(*flag).cloned().unwrap_or(json!(default));
        out.insert((*flag).into(), value);
    }
    out.insert("createdTime".into(), json!(t.created_time));
    out.insert("updatedTime".into(), json!(t.updated_time));
    out.insert("updatedBy".into(), json!(t.updated_by));
    out.insert("title".into(), json!(t.title));
    out.insert("relations".into(), json!({"parent": [], "child": []}));
    out.insert("linkedUserFields".into(), json!({}));
    out.insert("customSections".into(), json!([]));
    out.insert("customSectionId".into(), Value::Null);
    Value::Object(out)
}

fn wrapped(t: &DynamicTypeRecord) -> Output {
    Output::result(json!({ "type": type_json(t) }))
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

/// Applies `title` and the flags from `fields`; unknown keys are ignored.
fn apply_fields(t: &mut DynamicTypeRecord, fields: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(title) = fields.get("title") {
        t.title = match title {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
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
    if t.title.is_empty() {
        return Err(RestError::with_message(
            ErrorCode::FieldRequired,
            "The field \"title\" is required.",
        )
        .into());
    }
    Ok(())
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

fn fields_param(call: &Call<'_>) -> Result<Map<String, Value>, ApiError> {
    call.params
        .map("fields")?
        .ok_or_else(|| RestError::missing_parameter("fields").into())
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = fields_param(call)?;
    require_admin(call)?;
    let user_id = call.caller.user.id;
    let record = call.state.store.write(call.caller.portal_id, |tx| {
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
        apply_fields(&mut t, &fields)?;
        t.entity_type_id = choose_entity_type_id(tx, fields.get("entityTypeId"))?;
        t.id = tx.insert_dynamic_type(&t)?;
        Ok(t)
    })?;
    Ok(wrapped(&record))
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = call.params.int("id")?;
    let record = call
        .state
        .store
        .read(call.caller.portal_id, |tx| tx.dynamic_type(id))?
        .ok_or_else(not_found)?;
    Ok(wrapped(&record))
}

fn get_by_entity_type_id(call: &Call<'_>) -> Result<Output, ApiError> {
    let entity_type_id = call.params.int("entityTypeId")?;
    let record = call
        .state
        .store
        .read(call.caller.portal_id, |tx| {
            tx.dynamic_type_by_entity_type(entity_type_id)
        })?
        .ok_or_else(not_found)?;
    Ok(wrapped(&record))
}

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    let page = call.params.page();
    let result = call.state.store.read(call.caller.portal_id, |tx| {
        tx.list_dynamic_types(page.offset, PAGE_SIZE, page.count)
    })?;
    let types: Vec<Value> = result.rows.iter().map(type_json).collect();
    Ok(Output {
        result: json!({ "types": types }),
        next: result.total.and_then(|total| page.next(types.len(), total)),
        total: result.total,
    })
}

fn update(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = call.params.int("id")?;
    let fields = fields_param(call)?;
    require_admin(call)?;
    let user_id = call.caller.user.id;
    let record = call.state.store.write(call.caller.portal_id, |tx| {
        let mut t = tx.dynamic_type(id)?.ok_or_else(not_found)?;
        apply_fields(&mut t, &fields)?;
        t.updated_by = user_id;
        t.updated_time = tx.now_iso();
        tx.update_dynamic_type(&t)?;
        Ok(t)
    })?;
    Ok(wrapped(&record))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = call.params.int("id")?;
    require_admin(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        let t = tx.dynamic_type(id)?.ok_or_else(not_found)?;
        if tx.has_items(t.entity_type_id)? {
            return Err(ErrorCode::TypeHasItems.into());
        }
        tx.delete_dynamic_type(id)?;
        Ok(())
    })?;
    Ok(Output::result(json!([])))
}

fn fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    let describe = |kind: &str, title: &str, read_only: bool| {
        json!({"type": kind, "isRequired": false, "isReadOnly": read_only, "isImmutable": false,
               "isMultiple": false, "isDynamic": false, "title": title})
    };
    let mut out = Map::new();
    out.insert("id".into(), describe("integer", "ID", true));
    out.insert("title".into(), describe("string", "Title", false));
    out["title"]["isRequired"] = json!(true);
    out.insert(
        "entityTypeId".into(),
        describe("integer", "Entity type ID", false),
    );
    for (flag, _) in FLAGS {
        out.insert((*flag).into(), describe("boolean", flag, false));
    }
    out.insert("createdBy".into(), describe("user", "Created by", true));
    out.insert("updatedBy".into(), describe("user", "Modified by", true));
    out.insert(
        "createdTime".into(),
        describe("datetime", "Created on", true),
    );
    out.insert(
        "updatedTime".into(),
        describe("datetime", "Modified on", true),
    );
    Ok(Output::result(json!({ "fields": out })))
}
