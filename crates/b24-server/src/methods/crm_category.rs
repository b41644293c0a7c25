//! `crm.category.list / get / add / update / delete / fields` — pipelines of deals and smart
//! processes (D7 controller: camelCase, errors HTTP 400 with codes). A new pipeline gets its
//! stages in `crm.status`. Docs: api-reference/crm/universal/category/*.md. Rules and writes:
//! [`crate::domain::categories`].

use super::{Call, Handler, MethodSpec, Output};
use crate::domain::categories::{self, CategoryError, D7_NAMES};
use crate::domain::EntityTypeId;
use crate::error::ApiError;
use crate::store::categories::CategoryRecord;
use b24_protocol::{ErrorCode, RestError};
use serde_json::{json, Map, Value};

/// `crm.category.add(entityTypeId, fields)`.
pub const ADD: MethodSpec = MethodSpec {
    name: "crm.category.add",
    scope: Some("crm"),
    handler: Handler::Blocking(add),
    doc: "Create a pipeline of deals or of a smart process, with its stages; administrators only.",
};

/// `crm.category.delete(entityTypeId, id)`.
pub const DELETE: MethodSpec = MethodSpec {
    name: "crm.category.delete",
    scope: Some("crm"),
    handler: Handler::Blocking(delete),
    doc: "Delete a pipeline that is not the default one and holds no items.",
};

/// `crm.category.fields(entityTypeId)`.
pub const FIELDS: MethodSpec = MethodSpec {
    name: "crm.category.fields",
    scope: Some("crm"),
    handler: Handler::Blocking(fields),
    doc: "Describe the fields of pipelines.",
};

/// `crm.category.get(entityTypeId, id)`.
pub const GET: MethodSpec = MethodSpec {
    name: "crm.category.get",
    scope: Some("crm"),
    handler: Handler::Blocking(get),
    doc: "Read one pipeline of deals or of a smart process.",
};

/// `crm.category.list(entityTypeId)`.
pub const LIST: MethodSpec = MethodSpec {
    name: "crm.category.list",
    scope: Some("crm"),
    handler: Handler::Blocking(list),
    doc: "List the pipelines of deals or of a smart process (all of them, by sort).",
};

/// `crm.category.update(entityTypeId, id, fields)`.
pub const UPDATE: MethodSpec = MethodSpec {
    name: "crm.category.update",
    scope: Some("crm"),
    handler: Handler::Blocking(update),
    doc: "Rename or re-sort a pipeline, or make a smart process's pipeline the default one.",
};

/// Words a pipeline rule's refusal as the D7 controller does (docs' error tables).
pub fn d7_error(e: CategoryError) -> ApiError {
    match e {
        CategoryError::TypeNotFound => ErrorCode::SmartProcessNotFound.into(),
        CategoryError::TypeNotSupported(t) => RestError::with_message(
            ErrorCode::EntityTypeNotSupported,
            format!(
                "Entity type {} is not supported",
                EntityTypeId::upper_name(t)
            ),
        )
        .into(),
        CategoryError::NotFound => {
            RestError::with_message(ErrorCode::NotFound, "Element not found").into()
        }
        CategoryError::AccessDenied => ErrorCode::AccessDenied.into(),
        CategoryError::NameRequired => {
            RestError::with_message(ErrorCode::Uncoded, "Field 'NAME' is required").into()
        }
        CategoryError::DefaultNotDeletable { entity_type_id } => {
            if entity_type_id == EntityTypeId::DEAL {
                RestError::with_message(
                    ErrorCode::Uncoded,
                    "Default deal category cannot be deleted",
                )
                .into()
            } else {
                RestError::with_message(
                    ErrorCode::TypeHasItems,
                    "This funnel is the default funnel",
                )
                .into()
            }
        }
        CategoryError::HasItems {
            entity_type_id,
            name,
        } => {
            if entity_type_id == EntityTypeId::DEAL {
                RestError::with_message(
                    ErrorCode::Uncoded,
                    format!("Deals related to the funnel {name} found"),
                )
                .into()
            } else {
                RestError::with_message(
                    ErrorCode::TypeHasItems,
                    "Elements related to the funnel found",
                )
                .into()
            }
        }
        CategoryError::Store(e) => e,
    }
}

/// A pipeline as `crm.category.*` shows it: real numbers, `isDefault` as `Y`/`N`; deals'
/// pipelines other than the default one also carry `originId` and `originatorId` (as a real
/// answer does).
pub fn category_json(c: &CategoryRecord) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(c.id));
    out.insert("name".into(), json!(c.name));
    out.insert("sort".into(), json!(c.sort));
    out.insert("entityTypeId".into(), json!(c.entity_type_id));
    out.insert(
        "isDefault".into(),
        json!(if c.is_default { "Y" } else { "N" }),
    );
    if c.entity_type_id == EntityTypeId::DEAL && !c.is_default {
        out.insert("originId".into(), json!(""));
        out.insert("originatorId".into(), json!(""));
    }
    Value::Object(out)
}

fn wrapped(c: &CategoryRecord) -> Output {
    Output::result(json!({ "category": category_json(c) }))
}

fn fields_param(call: &Call<'_>) -> Result<Map<String, Value>, ApiError> {
    call.params
        .map("fields")?
        .ok_or_else(|| RestError::missing_parameter("fields").into())
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let entity_type_id = call.params.int("entityTypeId")?;
    let fields = fields_param(call)?;
    let permissions = &call.caller.permissions;
    let category = call.state.store.write(call.caller.portal_id, |tx| {
        categories::add(tx, permissions, entity_type_id, &fields, D7_NAMES).map_err(d7_error)
    })?;
    Ok(wrapped(&category))
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let entity_type_id = call.params.int("entityTypeId")?;
    let id = call.params.int("id")?;
    let permissions = &call.caller.permissions;
    let category = call.state.store.read(call.caller.portal_id, |tx| {
        categories::get(tx, permissions, entity_type_id, id).map_err(d7_error)
    })?;
    Ok(wrapped(&category))
}

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    let entity_type_id = call.params.int("entityTypeId")?;
    let permissions = &call.caller.permissions;
    let page = call.state.store.read(call.caller.portal_id, |tx| {
        categories::list(tx, permissions, entity_type_id).map_err(d7_error)
    })?;
    let rows: Vec<Value> = page.rows.iter().map(category_json).collect();
    Ok(Output {
        result: super::keyed("categories", Value::from(rows)),
        next: None,
        total: page.total,
    })
}

fn update(call: &Call<'_>) -> Result<Output, ApiError> {
    let entity_type_id = call.params.int("entityTypeId")?;
    let id = call.params.int("id")?;
    let fields = fields_param(call)?;
    let permissions = &call.caller.permissions;
    let category = call.state.store.write(call.caller.portal_id, |tx| {
        categories::update(tx, permissions, entity_type_id, id, &fields, D7_NAMES).map_err(d7_error)
    })?;
    Ok(wrapped(&category))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let entity_type_id = call.params.int("entityTypeId")?;
    let id = call.params.int("id")?;
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        categories::delete(tx, permissions, entity_type_id, id).map_err(d7_error)
    })?;
    Ok(Output::result(Value::Null))
}

fn fields(call: &Call<'_>) -> Result<Output, ApiError> {
    let entity_type_id = call.params.int("entityTypeId")?;
    call.state.store.read(call.caller.portal_id, |tx| {
        categories::check_type(tx, entity_type_id).map_err(d7_error)
    })?;
    let describe = |kind: &str, upper: &str, required: bool, read_only: bool| {
        json!({"type": kind, "isRequired": required, "isReadOnly": read_only,
               "isImmutable": false, "isMultiple": false, "isDynamic": false,
               "title": upper, "upperName": upper})
    };
    let mut out = Map::new();
    out.insert("id".into(), describe("integer", "ID", false, true));
    out["id"]["title"] = json!("ID");
    out.insert("name".into(), describe("string", "NAME", false, false));
    out.insert("sort".into(), describe("integer", "SORT", false, false));
    out.insert(
        "entityTypeId".into(),
        describe("integer", "ENTITY_TYPE_ID", true, true),
    );
    out.insert(
        "isDefault".into(),
        describe("boolean", "IS_DEFAULT", false, true),
    );
    if entity_type_id == EntityTypeId::DEAL {
        out.insert(
            "originId".into(),
            describe("string", "ORIGIN_ID", false, false),
        );
        out.insert(
            "originatorId".into(),
            describe("string", "ORIGINATOR_ID", false, false),
        );
    }
    Ok(Output::result(super::keyed("fields", Value::from(out))))
}
