//! `crm.item.productrow.add / get / list / update / delete / set / fields` (D7 controller:
//! camelCase, errors HTTP 400 with a code) and the legacy `crm.deal / lead / quote
//! .productrows.get / set` over the same rows. Docs: api-reference/crm/universal/product-rows/,
//! crm/deals/crm-deal-productrows-*.md. Rules: [`crate::domain::product_rows`].

use super::legacy_entity::{legacy_id_named, legacy_map};
use super::listing::{self, Dialect};
use super::record_lists::{StaticFields, ValueType};
use super::{Call, Handler, MethodSpec, Output};
use crate::domain::product_rows::{self, RowDraft, RowError, FIELDS};
use crate::domain::{Action, Binding, EntityTypeId};
use crate::error::ApiError;
use crate::store::records::RecordKind;
use crate::store::{Column, CompareOp, Filter, ListQuery, SqlValue};
use b24_protocol::values::bind_int;
use b24_protocol::{ErrorCode, RestError, PAGE_SIZE};
use serde_json::{json, Map, Value};

/// `crm.item.productrow.add(fields)`.
pub const ADD: MethodSpec = MethodSpec {
    name: "crm.item.productrow.add",
    scope: Some("crm"),
    handler: Handler::Blocking(add),
    doc: "Add a product row to a CRM item; the item's amount follows its rows.",
};

/// `crm.item.productrow.get(id)`.
pub const GET: MethodSpec = MethodSpec {
    name: "crm.item.productrow.get",
    scope: Some("crm"),
    handler: Handler::Blocking(get),
    doc: "Read one product row.",
};

/// `crm.item.productrow.list(filter, order, start)`.
pub const LIST: MethodSpec = MethodSpec {
    name: "crm.item.productrow.list",
    scope: Some("crm"),
    handler: Handler::Blocking(list),
    doc: "List the product rows of one CRM item (filter =ownerType and =ownerId), 50 per page.",
};

/// `crm.item.productrow.update(id, fields)`.
pub const UPDATE: MethodSpec = MethodSpec {
    name: "crm.item.productrow.update",
    scope: Some("crm"),
    handler: Handler::Blocking(update),
    doc: "Change a product row; prices and the item's amount are derived again.",
};

/// `crm.item.productrow.delete(id)`.
pub const DELETE: MethodSpec = MethodSpec {
    name: "crm.item.productrow.delete",
    scope: Some("crm"),
    handler: Handler::Blocking(delete),
    doc: "Delete a product row.",
};

/// `crm.item.productrow.set(ownerType, ownerId, productRows)`.
pub const SET: MethodSpec = MethodSpec {
    name: "crm.item.productrow.set",
    scope: Some("crm"),
    handler: Handler::Blocking(set),
    doc: "Replace every product row of a CRM item.",
};

/// `crm.item.productrow.fields()`.
pub const FIELDS_METHOD: MethodSpec = MethodSpec {
    name: "crm.item.productrow.fields",
    scope: Some("crm"),
    handler: Handler::Blocking(fields),
    doc: "Describe the fields of a product row.",
};

/// Declares the legacy `get` / `set` of one type's product rows.
macro_rules! legacy_rows {
    ($module:ident, $prefix:literal, $entity_type_id:expr, $noun:literal) => {
        #[doc = concat!("`", $prefix, ".productrows.*`.")]
        pub mod $module {
            use super::*;

            #[doc = concat!("`", $prefix, ".productrows.get(id)`.")]
            pub const GET: MethodSpec = MethodSpec {
                name: concat!($prefix, ".productrows.get"),
                scope: Some("crm"),
                handler: Handler::Blocking(|call: &Call<'_>| legacy_get(call, $entity_type_id)),
                doc: concat!("Read the product rows of a ", $noun, " (legacy fields)."),
            };
            #[doc = concat!("`", $prefix, ".productrows.set(id, rows)`.")]
            pub const SET: MethodSpec = MethodSpec {
                name: concat!($prefix, ".productrows.set"),
                scope: Some("crm"),
                handler: Handler::Blocking(|call: &Call<'_>| legacy_set(call, $entity_type_id)),
                doc: concat!("Replace the product rows of a ", $noun, " (legacy fields)."),
            };
        }
    };
}

legacy_rows!(deal, "crm.deal", EntityTypeId::DEAL, "deal");
legacy_rows!(lead, "crm.lead", EntityTypeId::LEAD, "lead");
legacy_rows!(quote, "crm.quote", EntityTypeId::QUOTE, "quote");

/// Words a refusal as the D7 controller does.
fn d7_error(e: RowError) -> ApiError {
    match e {
        RowError::EntityTypeNotSupported => ErrorCode::EntityTypeNotSupported.into(),
        RowError::OwnerNotFound => ErrorCode::OwnerNotFound.into(),
        RowError::NotFound => ErrorCode::ItemNotFound.into(),
        RowError::AccessDenied => ErrorCode::AccessDenied.into(),
        RowError::Discount(message) => {
            RestError::with_message(ErrorCode::ProductRowsInvalid, format!("{message}<br>")).into()
        }
        RowError::InvalidValue(field) => RestError::with_message(
            ErrorCode::FieldValueNotValid,
            format!("The value of the field \"{field}\" is not valid"),
        )
        .into(),
        RowError::Store(e) => e,
    }
}

/// Words a refusal as the legacy proxy does.
fn legacy_error(e: RowError) -> ApiError {
    match e {
        RowError::AccessDenied => RestError::legacy("Access denied.").into(),
        RowError::OwnerNotFound | RowError::NotFound => RestError::legacy("Not found").into(),
        RowError::InvalidValue(field) => {
            RestError::legacy(format!("The value of the field \"{field}\" is not valid.")).into()
        }
        other => d7_error(other),
    }
}

fn wrapped(row: &crate::store::records::Record) -> Output {
    Output::result(json!({ "productRow": product_rows::row_json(row) }))
}

fn fields_param(call: &Call<'_>) -> Result<Map<String, Value>, ApiError> {
    call.params
        .map("fields")?
        .ok_or_else(|| RestError::missing_parameter("fields").into())
}

/// The owner a row's `ownerType` / `ownerId` name: an unknown type is
/// `ENTITY_TYPE_NOT_SUPPORTED`, a missing or unknown item `OWNER_NOT_FOUND`.
fn owner_of(
    tx: &mut dyn crate::store::Tx,
    code: Option<&Value>,
    id: Option<&Value>,
) -> Result<Binding, RowError> {
    let code = match code {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(RowError::EntityTypeNotSupported),
    };
    let entity_type_id = product_rows::owner_type(tx, &code)?;
    let id = id.and_then(bind_int).unwrap_or(0);
    Ok(Binding::new(entity_type_id, id))
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let permissions = &call.caller.permissions;
    let fields = fields_param(call)?;
    let row = call.state.store.write(call.caller.portal_id, |tx| {
        let owner =
            owner_of(tx, fields.get("ownerType"), fields.get("ownerId")).map_err(d7_error)?;
        product_rows::check_owner(tx, permissions, owner, Action::Update).map_err(d7_error)?;
        let mut draft = RowDraft::new(owner);
        draft.apply(&fields).map_err(d7_error)?;
        product_rows::add(tx, permissions, draft).map_err(d7_error)
    })?;
    Ok(wrapped(&row))
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = call.params.int("id")?;
    let row = call.state.store.read(call.caller.portal_id, |tx| {
        product_rows::existing(tx, &call.caller.permissions, id, Action::Read).map_err(d7_error)
    })?;
    Ok(wrapped(&row))
}

fn update(call: &Call<'_>) -> Result<Output, ApiError> {
    let permissions = &call.caller.permissions;
    let id = call.params.int("id")?;
    let fields = fields_param(call)?;
    let row = call.state.store.write(call.caller.portal_id, |tx| {
        let record =
            product_rows::existing(tx, permissions, id, Action::Update).map_err(d7_error)?;
        let mut draft = RowDraft::existing(record);
        draft.apply(&fields).map_err(d7_error)?;
        product_rows::update(tx, permissions, draft).map_err(d7_error)
    })?;
    Ok(wrapped(&row))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let permissions = &call.caller.permissions;
    let id = call.params.int("id")?;
    call.state.store.write(call.caller.portal_id, |tx| {
        let record =
            product_rows::existing(tx, permissions, id, Action::Update).map_err(d7_error)?;
        product_rows::delete(tx, permissions, &record).map_err(d7_error)
    })?;
    Ok(Output::result(Value::Null))
}

/// The rows of `productRows` / `rows`: a list of objects; anything else is refused with the
/// binder's code `100`.
fn row_maps(name: &str, value: Option<&Value>) -> Result<Vec<Map<String, Value>>, ApiError> {
    let invalid = |shown: &str| -> ApiError {
        RestError::with_message(
            ErrorCode::Argument,
            format!("Invalid value {{{shown}}} to match with parameter {{{name}}}. Should be value of type array."),
        )
        .into()
    };
    let entries: Vec<&Value> = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Object(o)) => o.values().collect(),
        Some(other) => return Err(invalid(&b24_protocol::values::php_display(other))),
    };
    entries
        .into_iter()
        .map(|entry| match entry {
            Value::Object(map) => Ok(map.clone()),
            other => Err(invalid(&b24_protocol::values::php_display(other))),
        })
        .collect()
}

fn set(call: &Call<'_>) -> Result<Output, ApiError> {
    let permissions = &call.caller.permissions;
    let code = call.params.string("ownerType")?;
    let owner_id = call.params.int("ownerId")?;
    let rows = call
        .params
        .get("productRows")
        .ok_or_else(|| ApiError::from(RestError::missing_parameter("productRows")))?;
    let rows = row_maps("productRows", Some(rows))?;
    let saved = call.state.store.write(call.caller.portal_id, |tx| {
        let entity_type_id = product_rows::owner_type(tx, &code).map_err(d7_error)?;
        let owner = Binding::new(entity_type_id, owner_id);
        product_rows::check_owner(tx, permissions, owner, Action::Update).map_err(d7_error)?;
        let drafts = drafts(owner, &rows, false).map_err(d7_error)?;
        product_rows::set(tx, permissions, owner, drafts).map_err(d7_error)
    })?;
    let rows: Vec<Value> = saved.iter().map(product_rows::row_json).collect();
    Ok(Output::result(super::keyed(
        "productRows",
        Value::from(rows),
    )))
}

fn drafts(
    owner: Binding,
    rows: &[Map<String, Value>],
    legacy: bool,
) -> Result<Vec<RowDraft>, RowError> {
    rows.iter()
        .map(|fields| {
            let mut draft = RowDraft::new(owner);
            draft.apply(fields)?;
            if legacy {
                draft.check_legacy_discount()?;
            }
            Ok(draft)
        })
        .collect()
}

/// The list fields: every row field under its camelCase name (legacy names too).
static LIST_FIELDS: StaticFields = StaticFields(&[
    ("id", Column::Plain("id"), ValueType::Int),
    ("sort", Column::Plain("sort"), ValueType::Int),
    ("productId", Column::Extra("productId"), ValueType::Int),
    ("productName", Column::Extra("productName"), ValueType::Text),
    ("price", Column::Extra("price"), ValueType::Real),
    (
        "priceAccount",
        Column::Extra("priceAccount"),
        ValueType::Real,
    ),
    (
        "priceExclusive",
        Column::Extra("priceExclusive"),
        ValueType::Real,
    ),
    ("priceNetto", Column::Extra("priceNetto"), ValueType::Real),
    ("priceBrutto", Column::Extra("priceBrutto"), ValueType::Real),
    ("quantity", Column::Extra("quantity"), ValueType::Real),
    (
        "discountTypeId",
        Column::Extra("discountTypeId"),
        ValueType::Int,
    ),
    (
        "discountRate",
        Column::Extra("discountRate"),
        ValueType::Real,
    ),
    ("discountSum", Column::Extra("discountSum"), ValueType::Real),
    ("taxRate", Column::Extra("taxRate"), ValueType::Real),
    ("taxIncluded", Column::Extra("taxIncluded"), ValueType::Text),
    ("customized", Column::Extra("customized"), ValueType::Text),
    ("measureCode", Column::Extra("measureCode"), ValueType::Int),
    ("measureName", Column::Extra("measureName"), ValueType::Text),
    ("xmlId", Column::Extra("xmlId"), ValueType::Text),
    ("type", Column::Extra("type"), ValueType::Int),
]);

/// The message of a list call without its owner.
const OWNER_FILTER_REQUIRED: &str = "The filter must contain the fields =ownerType and =ownerId";

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    let mut filter = call.params.map("filter")?.unwrap_or_default();
    // The owner: `=ownerType` and `=ownerId` (also without the `=`).
    let mut take = |name: &str| {
        let key = filter
            .keys()
            .find(|k| k.trim_start_matches('=').eq_ignore_ascii_case(name) && !k.starts_with("=="))
            .cloned();
        key.and_then(|k| filter.remove(&k))
    };
    let (code, owner_id) = (take("ownerType"), take("ownerId"));
    let (Some(Value::String(code)), Some(owner_id)) = (code, owner_id.as_ref().and_then(bind_int))
    else {
        return Err(
            RestError::with_message(ErrorCode::InvalidArgValue, OWNER_FILTER_REQUIRED).into(),
        );
    };
    let rest = listing::parse_filter(&filter, &LIST_FIELDS, Dialect::D7)?;
    let order = match call.params.map("order")? {
        Some(map) => listing::parse_order(&map, &LIST_FIELDS, Dialect::D7)?,
        None => vec![(Column::Plain("sort"), false)],
    };
    let page = call.params.page();
    let result = call.state.store.read(call.caller.portal_id, |tx| {
        let entity_type_id = product_rows::owner_type(tx, &code).map_err(d7_error)?;
        let owner = Binding::new(entity_type_id, owner_id);
        if !crate::domain::access::can(tx, &call.caller.permissions, owner, Action::Read)? {
            return Err(ErrorCode::AccessDenied.into());
        }
        let query = ListQuery {
            filter: Filter::All(vec![owner_filter(owner), rest]),
            order,
            offset: page.offset,
            limit: PAGE_SIZE,
            count: page.count,
        };
        tx.records_page(RecordKind::ProductRow, &query)
    })?;
    let count = result.rows.len();
    let rows: Vec<Value> = result.rows.iter().map(product_rows::row_json).collect();
    Ok(Output {
        result: super::keyed("productRows", Value::from(rows)),
        next: result.total.and_then(|total| page.next(count, total)),
        total: result.total,
    })
}

/// The records of one owner: the leading columns of the owner index.
pub fn owner_filter(owner: Binding) -> Filter {
    Filter::All(vec![
        Filter::Compare {
            column: Column::Plain("owner_type_id"),
            op: CompareOp::Eq,
            values: vec![SqlValue::Int(owner.entity_type_id)],
        },
        Filter::Compare {
            column: Column::Plain("owner_id"),
            op: CompareOp::Eq,
            values: vec![SqlValue::Int(owner.entity_id)],
        },
    ])
}

fn fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    let described: Map<String, Value> = FIELDS
        .iter()
        .map(|(name, kind, title, read_only, _)| {
            let owner = matches!(*name, "ownerId" | "ownerType");
            let descriptor = json!({
                "type": kind,
                "isRequired": owner || *name == "productId",
                "isReadOnly": read_only,
                "isImmutable": owner,
                "isMultiple": false,
                "isDynamic": false,
                "title": title,
            });
            ((*name).to_string(), descriptor)
        })
        .collect();
    Ok(Output::result(super::keyed(
        "fields",
        Value::from(described),
    )))
}

/// The legacy `id`: "The parameter id is invalid or not defined." when absent or not positive.
fn legacy_owner_id(call: &Call<'_>) -> Result<i64, ApiError> {
    legacy_id_named(call, "The parameter id is invalid or not defined.")
}

fn legacy_get(call: &Call<'_>, entity_type_id: i64) -> Result<Output, ApiError> {
    let id = legacy_owner_id(call)?;
    let rows = call.state.store.read(call.caller.portal_id, |tx| {
        let owner = Binding::new(entity_type_id, id);
        product_rows::check_owner(tx, &call.caller.permissions, owner, Action::Read)
            .map_err(legacy_error)?;
        tx.records_of(RecordKind::ProductRow, entity_type_id, id)
    })?;
    Ok(Output::result(Value::Array(
        rows.iter().map(product_rows::legacy_row_json).collect(),
    )))
}

fn legacy_set(call: &Call<'_>, entity_type_id: i64) -> Result<Output, ApiError> {
    let permissions = &call.caller.permissions;
    let id = legacy_owner_id(call)?;
    let rows = match call.params.get_ci("rows") {
        Some(Value::Array(_)) | Some(Value::Object(_)) | None | Some(Value::Null) => {
            row_maps("rows", call.params.get_ci("rows"))
                .map_err(|_| ApiError::from(RestError::legacy("Parameter 'rows' must be array.")))?
        }
        Some(Value::String(s)) if s.is_empty() => Vec::new(),
        Some(_) => return Err(RestError::legacy("Parameter 'rows' must be array.").into()),
    };
    legacy_map(call, "params")?;
    call.state.store.write(call.caller.portal_id, |tx| {
        let owner = Binding::new(entity_type_id, id);
        product_rows::check_owner(tx, permissions, owner, Action::Update).map_err(legacy_error)?;
        let drafts = drafts(owner, &rows, true).map_err(legacy_error)?;
        product_rows::set(tx, permissions, owner, drafts).map_err(legacy_error)
    })?;
    Ok(Output::result(Value::Bool(true)))
}
