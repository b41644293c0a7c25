//! `crm.type.add / get / getByEntityTypeId / list / update / delete / fields` — smart-process
//! types (D7 controller: camelCase, HTTP 400 with codes). A type's `entityTypeId` (128..191)
//! becomes a valid `crm.item.*` type and binding target as soon as it exists.
//! Docs: api-reference/crm/universal/user-defined-object-types/*.md. Rules and writes:
//! [`crate::domain::dynamic_types`].

use super::{Call, Handler, MethodSpec, Output};
use crate::domain::dynamic_types::{self, FLAGS};
use crate::error::ApiError;
use crate::store::DynamicTypeRecord;
use b24_protocol::{RestError, PAGE_SIZE};
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

fn fields_param(call: &Call<'_>) -> Result<Map<String, Value>, ApiError> {
    call.params
        .map("fields")?
        .ok_or_else(|| RestError::missing_parameter("fields").into())
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = fields_param(call)?;
    let permissions = &call.caller.permissions;
    let record = call.state.store.write(call.caller.portal_id, |tx| {
        dynamic_types::add(tx, permissions, &fields)
    })?;
    Ok(wrapped(&record))
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = call.params.int("id")?;
    let record = call
        .state
        .store
        .read(call.caller.portal_id, |tx| dynamic_types::get(tx, id))?;
    Ok(wrapped(&record))
}

fn get_by_entity_type_id(call: &Call<'_>) -> Result<Output, ApiError> {
    let entity_type_id = call.params.int("entityTypeId")?;
    let record = call.state.store.read(call.caller.portal_id, |tx| {
        dynamic_types::get_by_entity_type_id(tx, entity_type_id)
    })?;
    Ok(wrapped(&record))
}

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    let page = call.params.page();
    let result = call.state.store.read(call.caller.portal_id, |tx| {
        dynamic_types::list(tx, page.offset, PAGE_SIZE, page.count)
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
    let permissions = &call.caller.permissions;
    let record = call.state.store.write(call.caller.portal_id, |tx| {
        dynamic_types::update(tx, permissions, id, &fields)
    })?;
    Ok(wrapped(&record))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = call.params.int("id")?;
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        dynamic_types::delete(tx, permissions, id)
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
