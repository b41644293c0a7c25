//! `crm.product.add / get / list / update / delete / fields`: the legacy CRM catalogue
//! (`CCrmProductRestProxy`): UPPER_CASE fields, string values, errors HTTP 400 with
//! `"error": ""`. Docs: api-reference/crm/outdated/products/. Rules:
//! [`crate::domain::products`].

use super::legacy_entity::{legacy_fields, legacy_id};
use super::listing::{self, Dialect};
use super::record_lists::{StaticFields, ValueType};
use super::{Call, Handler, MethodSpec, Output};
use crate::domain::products::{self, ProductError, FIELDS};
use crate::error::ApiError;
use crate::store::records::RecordKind;
use crate::store::{Column, Filter, ListQuery};
use b24_protocol::{RestError, PAGE_SIZE};
use serde_json::{json, Map, Value};

/// `crm.product.add(fields)`.
pub const ADD: MethodSpec = MethodSpec {
    name: "crm.product.add",
    scope: Some("crm"),
    handler: Handler::Blocking(add),
    doc: "Add a product to the CRM catalogue (administrators); returns its id.",
};

/// `crm.product.get(id)`.
pub const GET: MethodSpec = MethodSpec {
    name: "crm.product.get",
    scope: Some("crm"),
    handler: Handler::Blocking(get),
    doc: "Read a catalogue product.",
};

/// `crm.product.list(order, filter, select, start)`.
pub const LIST: MethodSpec = MethodSpec {
    name: "crm.product.list",
    scope: Some("crm"),
    handler: Handler::Blocking(list),
    doc: "List catalogue products, 50 per page.",
};

/// `crm.product.update(id, fields)`.
pub const UPDATE: MethodSpec = MethodSpec {
    name: "crm.product.update",
    scope: Some("crm"),
    handler: Handler::Blocking(update),
    doc: "Change a catalogue product (administrators).",
};

/// `crm.product.delete(id)`.
pub const DELETE: MethodSpec = MethodSpec {
    name: "crm.product.delete",
    scope: Some("crm"),
    handler: Handler::Blocking(delete),
    doc: "Delete a catalogue product (administrators); rows naming it keep their copy.",
};

/// `crm.product.fields()`.
pub const FIELDS_METHOD: MethodSpec = MethodSpec {
    name: "crm.product.fields",
    scope: Some("crm"),
    handler: Handler::Blocking(fields),
    doc: "Describe the fields of a catalogue product.",
};

fn legacy_error(e: ProductError) -> ApiError {
    match e {
        ProductError::AccessDenied => RestError::legacy("Access denied.").into(),
        ProductError::NotFound => RestError::legacy("Not found").into(),
        ProductError::NameRequired => RestError::legacy("The field \"Name\" is required.").into(),
        ProductError::InvalidValue(field) => {
            RestError::legacy(format!("The value of the field \"{field}\" is not valid.")).into()
        }
        ProductError::Store(e) => e,
    }
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = legacy_fields(call)?;
    let id = call.state.store.write(call.caller.portal_id, |tx| {
        products::add(tx, &call.caller.permissions, &fields).map_err(legacy_error)
    })?;
    Ok(Output::result(json!(id)))
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let product = call.state.store.read(call.caller.portal_id, |tx| {
        products::get(tx, id).map_err(legacy_error)
    })?;
    Ok(Output::result(products::product_json(&product)))
}

fn update(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let fields = legacy_fields(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        products::update(tx, &call.caller.permissions, id, &fields).map_err(legacy_error)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        products::delete(tx, &call.caller.permissions, id).map_err(legacy_error)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    let described: Map<String, Value> = FIELDS
        .iter()
        .map(|(name, wire, _, title, read_only, required)| {
            let descriptor = json!({
                "type": wire, "isRequired": required, "isReadOnly": read_only,
                "isImmutable": false, "isMultiple": false, "isDynamic": false, "title": title,
            });
            ((*name).to_string(), descriptor)
        })
        .collect();
    Ok(Output::result(Value::Object(described)))
}

/// The fields a product list filters and sorts by.
static LIST_FIELDS: StaticFields = StaticFields(&[
    ("ID", Column::Plain("id"), ValueType::Int),
    ("SORT", Column::Plain("sort"), ValueType::Int),
    ("NAME", Column::Extra("NAME"), ValueType::Text),
    ("PRICE", Column::Extra("PRICE"), ValueType::Real),
    ("CURRENCY_ID", Column::Extra("CURRENCY_ID"), ValueType::Text),
    ("CODE", Column::Extra("CODE"), ValueType::Text),
    ("ACTIVE", Column::Extra("ACTIVE"), ValueType::Text),
    ("SECTION_ID", Column::Extra("SECTION_ID"), ValueType::Int),
    ("CATALOG_ID", Column::Extra("CATALOG_ID"), ValueType::Int),
    ("XML_ID", Column::Extra("XML_ID"), ValueType::Text),
    ("MEASURE", Column::Extra("MEASURE"), ValueType::Int),
    ("VAT_ID", Column::Extra("VAT_ID"), ValueType::Int),
    (
        "VAT_INCLUDED",
        Column::Extra("VAT_INCLUDED"),
        ValueType::Text,
    ),
    ("DESCRIPTION", Column::Extra("DESCRIPTION"), ValueType::Text),
    ("CREATED_BY", Column::Extra("CREATED_BY"), ValueType::Int),
    ("MODIFIED_BY", Column::Extra("MODIFIED_BY"), ValueType::Int),
    ("DATE_CREATE", Column::Extra("DATE_CREATE"), ValueType::Text),
    ("TIMESTAMP_X", Column::Extra("TIMESTAMP_X"), ValueType::Text),
]);

/// Keeps the selected fields (and `ID`); no select or `*` keeps everything.
fn project(product: Value, select: &[String]) -> Value {
    if select.is_empty() || listing::selects_all(select) {
        return product;
    }
    match product {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| k == "ID" || select.iter().any(|s| s.eq_ignore_ascii_case(k)))
                .collect(),
        ),
        other => other,
    }
}

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    let select = listing::parse_select(call.params.get_ci("select"));
    let filter = match call.params.map_ci("filter")? {
        Some(map) => listing::parse_filter(&map, &LIST_FIELDS, Dialect::LegacyCrm)?,
        None => Filter::everything(),
    };
    let order = match call.params.map_ci("order")? {
        Some(map) => listing::parse_order(&map, &LIST_FIELDS, Dialect::LegacyCrm)?,
        None => Vec::new(),
    };
    let page = call.params.page();
    let query = ListQuery {
        filter,
        order,
        offset: page.offset,
        limit: PAGE_SIZE,
        count: page.count,
    };
    let result = call.state.store.read(call.caller.portal_id, |tx| {
        tx.records_page(RecordKind::Product, &query)
    })?;
    let count = result.rows.len();
    let rows: Vec<Value> = result
        .rows
        .iter()
        .map(|p| project(products::product_json(p), &select))
        .collect();
    Ok(Output {
        result: Value::Array(rows),
        next: result.total.and_then(|total| page.next(count, total)),
        total: result.total,
    })
}
