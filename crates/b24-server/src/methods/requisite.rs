//! `crm.requisite.add / get / list / update / delete / fields`, `crm.requisite.preset.list`,
//! `crm.requisite.bankdetail.*` and `crm.address.*` (legacy proxies: UPPER_CASE fields, string
//! values, errors HTTP 400 with `"error": ""`). Docs: api-reference/crm/requisites/. Rules:
//! [`crate::domain::requisites`].

use super::legacy_entity::{legacy_fields, legacy_id};
use super::listing::{self, Dialect, ListField, ListFields};
use super::record_lists::{convert, ValueType};
use super::{Call, Handler, MethodSpec, Output};
use crate::domain::access::can;
use crate::domain::requisites::{
    self, Field, Kind, RequisiteError, ADDRESS_SETS, BANK_DETAIL_SETS, PRESETS, REQUISITE_SETS,
    REQUISITE_TYPE,
};
use crate::domain::{Action, Binding, EntityTypeId, Level};
use crate::error::ApiError;
use crate::store::records::{Record, RecordKind};
use crate::store::{Column, CompareOp, Filter, ListQuery, SqlValue, Tx};
use b24_protocol::values::bind_int;
use b24_protocol::{RestError, PAGE_SIZE};
use serde_json::{json, Map, Value};

macro_rules! method {
    ($const:ident, $name:literal, $handler:expr, $doc:literal) => {
        #[doc = concat!("`", $name, "`.")]
        pub const $const: MethodSpec = MethodSpec {
            name: $name,
            scope: Some("crm"),
            handler: Handler::Blocking($handler),
            doc: $doc,
        };
    };
}

method!(
    ADD,
    "crm.requisite.add",
    add,
    "Add a requisite to a company or contact; returns its id."
);
method!(GET, "crm.requisite.get", get, "Read a requisite.");
method!(
    LIST,
    "crm.requisite.list",
    list,
    "List requisites, 50 per page."
);
method!(
    UPDATE,
    "crm.requisite.update",
    update,
    "Change a requisite."
);
method!(
    DELETE,
    "crm.requisite.delete",
    delete,
    "Delete a requisite with its bank details and addresses."
);
method!(
    FIELDS,
    "crm.requisite.fields",
    fields,
    "Describe the fields of a requisite."
);
method!(
    PRESET_LIST,
    "crm.requisite.preset.list",
    preset_list,
    "List the requisite templates."
);
method!(
    BANK_ADD,
    "crm.requisite.bankdetail.add",
    bank_add,
    "Add a bank detail to a requisite; returns its id."
);
method!(
    BANK_GET,
    "crm.requisite.bankdetail.get",
    bank_get,
    "Read a bank detail."
);
method!(
    BANK_LIST,
    "crm.requisite.bankdetail.list",
    bank_list,
    "List bank details, 50 per page."
);
method!(
    BANK_UPDATE,
    "crm.requisite.bankdetail.update",
    bank_update,
    "Change a bank detail."
);
method!(
    BANK_DELETE,
    "crm.requisite.bankdetail.delete",
    bank_delete,
    "Delete a bank detail."
);
method!(
    BANK_FIELDS,
    "crm.requisite.bankdetail.fields",
    bank_fields,
    "Describe the fields of a bank detail."
);
method!(
    ADDRESS_ADD,
    "crm.address.add",
    address_add,
    "Add an address to a requisite, company, contact or lead."
);
method!(
    ADDRESS_UPDATE,
    "crm.address.update",
    address_update,
    "Change an address."
);
method!(
    ADDRESS_DELETE,
    "crm.address.delete",
    address_delete,
    "Delete an address."
);
method!(
    ADDRESS_LIST,
    "crm.address.list",
    address_list,
    "List addresses, 50 per page."
);
method!(
    ADDRESS_FIELDS,
    "crm.address.fields",
    address_fields,
    "Describe the fields of an address."
);

fn legacy_error(e: RequisiteError) -> ApiError {
    match e {
        RequisiteError::Refused(text) => RestError::legacy(text).into(),
        RequisiteError::Store(e) => e,
    }
}

fn describe(sets: &[&'static [Field]]) -> Output {
    let described: Map<String, Value> = sets
        .iter()
        .flat_map(|set| set.iter())
        .map(|(name, wire, kind, title, required)| {
            let descriptor = json!({
                "type": wire, "isRequired": required, "isReadOnly": *kind == Kind::Server,
                "isImmutable": false, "isMultiple": false, "isDynamic": false, "title": title,
            });
            ((*name).to_string(), descriptor)
        })
        .collect();
    Output::result(Value::Object(described))
}

/// The fields of one record list, for filters and order: a few live in columns, the rest in
/// the body under their own names.
struct SetFields {
    sets: &'static [&'static [Field]],
    columns: &'static [(&'static str, &'static str)],
}

impl ListFields for SetFields {
    fn field(&self, key: &str) -> Option<ListField> {
        if key.eq_ignore_ascii_case("ID") {
            return Some(ListField {
                column: Column::Plain("id"),
                convert: Box::new(|v| convert(ValueType::Int, v)),
            });
        }
        let f = self
            .sets
            .iter()
            .flat_map(|set| set.iter())
            .find(|f| f.0.eq_ignore_ascii_case(key))?;
        let column = self
            .columns
            .iter()
            .find(|(name, _)| *name == f.0)
            .map_or(Column::Extra(f.0), |(_, column)| Column::Plain(column));
        let value_type = match (f.1, f.2) {
            ("integer" | "user", _) => ValueType::Int,
            (_, Kind::Int) => ValueType::Int,
            _ => ValueType::Text,
        };
        Some(ListField {
            column,
            convert: Box::new(move |v| convert(value_type, v)),
        })
    }
}

const REQUISITE_LIST: SetFields = SetFields {
    sets: REQUISITE_SETS,
    columns: &[
        ("ENTITY_TYPE_ID", "owner_type_id"),
        ("ENTITY_ID", "owner_id"),
        ("SORT", "sort"),
    ],
};

const BANK_DETAIL_LIST: SetFields = SetFields {
    sets: BANK_DETAIL_SETS,
    columns: &[("ENTITY_ID", "owner_id"), ("SORT", "sort")],
};

const ADDRESS_LIST_FIELDS: SetFields = SetFields {
    sets: ADDRESS_SETS,
    columns: &[
        ("ENTITY_TYPE_ID", "owner_type_id"),
        ("ENTITY_ID", "owner_id"),
        ("TYPE_ID", "sort"),
    ],
};

fn in_types(column: Column, types: &[i64]) -> Filter {
    Filter::Compare {
        column,
        op: CompareOp::In,
        values: types.iter().map(|t| SqlValue::Int(*t)).collect(),
    }
}

/// A positive integer the filter gives a key with no operator or `=`.
fn named(filter: &Map<String, Value>, key: &str) -> Option<i64> {
    filter
        .iter()
        .find(|(k, _)| k.trim_start_matches('=').eq_ignore_ascii_case(key) && !k.starts_with("=="))
        .and_then(|(_, v)| bind_int(v))
        .filter(|&n| n > 0)
}

/// Which rows a caller may list: everything of the types it reads entirely; rows of one named
/// owner it may read; anything else is "Access denied.".
fn readable(
    tx: &mut dyn Tx,
    call: &Call<'_>,
    types: &[i64],
    type_column: Column,
    named_anchor: Option<Binding>,
) -> Result<Filter, ApiError> {
    let permissions = &call.caller.permissions;
    let whole: Vec<i64> = types
        .iter()
        .copied()
        .filter(|t| permissions.level(*t, Action::Read) == Level::All)
        .collect();
    if whole.len() == types.len() {
        return Ok(Filter::everything());
    }
    if let Some(anchor) = named_anchor {
        if can(tx, permissions, anchor, Action::Read)? {
            return Ok(Filter::everything());
        }
    }
    if whole.is_empty() {
        return Err(RestError::legacy("Access denied.").into());
    }
    Ok(in_types(type_column, &whole))
}

fn page_of(
    call: &Call<'_>,
    fields: &SetFields,
) -> Result<(Map<String, Value>, ListQuery), ApiError> {
    let filter_map = call.params.map_ci("filter")?.unwrap_or_default();
    let filter = listing::parse_filter(&filter_map, fields, Dialect::LegacyCrm)?;
    let order = match call.params.map_ci("order")? {
        Some(map) => listing::parse_order(&map, fields, Dialect::LegacyCrm)?,
        None => Vec::new(),
    };
    let page = call.params.page();
    Ok((
        filter_map,
        ListQuery {
            filter,
            order,
            offset: page.offset,
            limit: PAGE_SIZE,
            count: page.count,
        },
    ))
}

/// Keeps the selected fields (no select or `*`: all of them).
fn project(value: Value, select: &[String]) -> Value {
    if select.is_empty() || listing::selects_all(select) {
        return value;
    }
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| select.iter().any(|s| s.eq_ignore_ascii_case(k)))
                .collect(),
        ),
        other => other,
    }
}

fn list_output(
    call: &Call<'_>,
    rows: crate::store::PageOf<Record>,
    show: impl Fn(&Record) -> Value,
) -> Output {
    let select = listing::parse_select(call.params.get_ci("select"));
    let page = call.params.page();
    let count = rows.rows.len();
    Output {
        result: Value::Array(
            rows.rows
                .iter()
                .map(|r| project(show(r), &select))
                .collect(),
        ),
        next: rows.total.and_then(|total| page.next(count, total)),
        total: rows.total,
    }
}

// --- requisites ---

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = legacy_fields(call)?;
    let id = call.state.store.write(call.caller.portal_id, |tx| {
        requisites::add_requisite(tx, &call.caller.permissions, &fields).map_err(legacy_error)
    })?;
    Ok(Output::result(json!(id)))
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let record = call.state.store.read(call.caller.portal_id, |tx| {
        requisites::requisite(tx, &call.caller.permissions, id, Action::Read).map_err(legacy_error)
    })?;
    Ok(Output::result(requisites::legacy_json(
        REQUISITE_SETS,
        &record,
    )))
}

fn update(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let fields = legacy_fields(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        requisites::update_requisite(tx, &call.caller.permissions, id, &fields)
            .map_err(legacy_error)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        requisites::delete_requisite(tx, &call.caller.permissions, id).map_err(legacy_error)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    Ok(describe(REQUISITE_SETS))
}

const OWNER_TYPES: [i64; 2] = [EntityTypeId::CONTACT, EntityTypeId::COMPANY];

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    let (filter_map, mut query) = page_of(call, &REQUISITE_LIST)?;
    let anchor = named(&filter_map, "ENTITY_TYPE_ID")
        .zip(named(&filter_map, "ENTITY_ID"))
        .map(|(t, id)| Binding::new(t, id));
    let rows = call.state.store.read(call.caller.portal_id, |tx| {
        let scope = readable(
            tx,
            call,
            &OWNER_TYPES,
            Column::Plain("owner_type_id"),
            anchor,
        )?;
        query.filter = Filter::All(vec![scope, query.filter.clone()]);
        tx.records_page(RecordKind::Requisite, &query)
    })?;
    Ok(list_output(call, rows, |r| {
        requisites::legacy_json(REQUISITE_SETS, r)
    }))
}

fn preset_list(call: &Call<'_>) -> Result<Output, ApiError> {
    let permissions = &call.caller.permissions;
    if OWNER_TYPES
        .iter()
        .all(|t| permissions.level(*t, Action::Read) == Level::None)
    {
        return Err(RestError::legacy("Access denied.").into());
    }
    // The templates are a fixed set of three: exact-match filters (`KEY` or `=KEY`) and select.
    let filter = call.params.map_ci("filter")?.unwrap_or_default();
    let select = listing::parse_select(call.params.get_ci("select"));
    let rows: Vec<Value> = PRESETS
        .iter()
        .map(|(id, name, xml_id)| requisites::preset_json(*id, name, xml_id))
        .filter(|preset| {
            filter.iter().all(|(key, wanted)| {
                let got = &preset[key.trim_start_matches('=').to_ascii_uppercase()];
                let text = |v: &Value| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                text(got) == text(wanted)
            })
        })
        .map(|preset| {
            if select.is_empty() {
                preset
            } else {
                project(preset, &select)
            }
        })
        .collect();
    let total = rows.len() as u64;
    Ok(Output {
        result: Value::Array(rows),
        next: None,
        total: Some(total),
    })
}

// --- bank details ---

fn bank_add(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = legacy_fields(call)?;
    let id = call.state.store.write(call.caller.portal_id, |tx| {
        requisites::add_bank_detail(tx, &call.caller.permissions, &fields).map_err(legacy_error)
    })?;
    Ok(Output::result(json!(id)))
}

fn bank_get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let record = call.state.store.read(call.caller.portal_id, |tx| {
        requisites::bank_detail(tx, &call.caller.permissions, id, Action::Read)
            .map_err(legacy_error)
    })?;
    Ok(Output::result(requisites::legacy_json(
        BANK_DETAIL_SETS,
        &record,
    )))
}

fn bank_update(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let fields = legacy_fields(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        requisites::update_bank_detail(tx, &call.caller.permissions, id, &fields)
            .map_err(legacy_error)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn bank_delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        requisites::delete_bank_detail(tx, &call.caller.permissions, id).map_err(legacy_error)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn bank_fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    Ok(describe(BANK_DETAIL_SETS))
}

fn bank_list(call: &Call<'_>) -> Result<Output, ApiError> {
    let (filter_map, query) = page_of(call, &BANK_DETAIL_LIST)?;
    let requisite = named(&filter_map, "ENTITY_ID");
    let rows = call.state.store.read(call.caller.portal_id, |tx| {
        // The owner's rights: a caller who cannot read every company and contact names the
        // requisite.
        let anchor = match requisite {
            Some(id) => requisites::anchor_of(tx, Binding::new(REQUISITE_TYPE, id))?,
            None => None,
        };
        let scope = readable(
            tx,
            call,
            &OWNER_TYPES,
            Column::Plain("owner_type_id"),
            anchor,
        )?;
        if !scope.matches_everything() {
            return Err(RestError::legacy("Access denied.").into());
        }
        tx.records_page(RecordKind::BankDetail, &query)
    })?;
    Ok(list_output(call, rows, |r| {
        requisites::legacy_json(BANK_DETAIL_SETS, r)
    }))
}

// --- addresses ---

fn address_fields_param(call: &Call<'_>) -> Result<Map<String, Value>, ApiError> {
    legacy_fields(call)
}

fn address_add(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = address_fields_param(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        requisites::add_address(tx, &call.caller.permissions, &fields).map_err(legacy_error)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn address_update(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = address_fields_param(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        requisites::update_address(tx, &call.caller.permissions, &fields).map_err(legacy_error)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn address_delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = address_fields_param(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        requisites::delete_address(tx, &call.caller.permissions, &fields).map_err(legacy_error)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn address_fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    Ok(describe(ADDRESS_SETS))
}

const ANCHOR_TYPES: [i64; 3] = [
    EntityTypeId::LEAD,
    EntityTypeId::CONTACT,
    EntityTypeId::COMPANY,
];

fn address_list(call: &Call<'_>) -> Result<Output, ApiError> {
    let (filter_map, mut query) = page_of(call, &ADDRESS_LIST_FIELDS)?;
    let owner = named(&filter_map, "ENTITY_TYPE_ID")
        .zip(named(&filter_map, "ENTITY_ID"))
        .map(|(t, id)| Binding::new(t, id));
    let rows = call.state.store.read(call.caller.portal_id, |tx| {
        let anchor = match owner {
            Some(owner) => requisites::anchor_of(tx, owner)?,
            None => None,
        };
        let scope = readable(
            tx,
            call,
            &ANCHOR_TYPES,
            Column::Extra("ANCHOR_TYPE_ID"),
            anchor,
        )?;
        query.filter = Filter::All(vec![scope, query.filter.clone()]);
        tx.records_page(RecordKind::Address, &query)
    })?;
    Ok(list_output(call, rows, |r| {
        requisites::legacy_json(ADDRESS_SETS, r)
    }))
}
