//! The legacy `crm.deal / contact / company / lead .add / get / list / update / delete / fields`
//! (`CCrmRestProxyBase`): UPPER_CASE field names, every value a string on output, errors HTTP 400
//! with `"error": ""` and the text (spec §1.5, §10.2). Same items and rules as `crm.item.*`
//! ([`crate::domain::items`]); only names and error shapes differ.

use super::item::list_query;
use super::listing::{self, Dialect};
use super::{Call, Handler, MethodSpec, Output};
use crate::domain::dynamic_types;
use crate::domain::item_fields::{self, FieldKind, ItemContext};
use crate::domain::items::{self, ItemError};
use crate::domain::user_fields::{self, UserField};
use crate::domain::EntityTypeId;
use crate::error::ApiError;
use crate::store::ItemRecord;
use b24_protocol::values::bind_int;
use b24_protocol::RestError;
use serde_json::{Map, Value};

/// Declares the six methods of one legacy entity.
macro_rules! legacy_entity {
    ($module:ident, $prefix:literal, $entity_type_id:expr, $noun:literal) => {
        #[doc = concat!("`", $prefix, ".*`.")]
        pub mod $module {
            use super::*;

            const ENTITY_TYPE_ID: i64 = $entity_type_id;

            #[doc = concat!("`", $prefix, ".add(fields, params)`.")]
            pub const ADD: MethodSpec = MethodSpec {
                name: concat!($prefix, ".add"),
                scope: Some("crm"),
                handler: Handler::Blocking(|call: &Call<'_>| add(call, ENTITY_TYPE_ID)),
                doc: concat!(
                    "Create a ",
                    $noun,
                    " (legacy UPPER_CASE fields); returns its id."
                ),
            };
            #[doc = concat!("`", $prefix, ".get(id)`.")]
            pub const GET: MethodSpec = MethodSpec {
                name: concat!($prefix, ".get"),
                scope: Some("crm"),
                handler: Handler::Blocking(|call: &Call<'_>| get(call, ENTITY_TYPE_ID)),
                doc: concat!("Read a ", $noun, " (legacy fields, string values)."),
            };
            #[doc = concat!("`", $prefix, ".list(order, filter, select, start)`.")]
            pub const LIST: MethodSpec = MethodSpec {
                name: concat!($prefix, ".list"),
                scope: Some("crm"),
                handler: Handler::Blocking(|call: &Call<'_>| list(call, ENTITY_TYPE_ID)),
                doc: concat!("List ", $noun, "s, 50 per page (legacy fields)."),
            };
            #[doc = concat!("`", $prefix, ".update(id, fields)`.")]
            pub const UPDATE: MethodSpec = MethodSpec {
                name: concat!($prefix, ".update"),
                scope: Some("crm"),
                handler: Handler::Blocking(|call: &Call<'_>| update(call, ENTITY_TYPE_ID)),
                doc: concat!("Change fields of a ", $noun, "."),
            };
            #[doc = concat!("`", $prefix, ".delete(id)`.")]
            pub const DELETE: MethodSpec = MethodSpec {
                name: concat!($prefix, ".delete"),
                scope: Some("crm"),
                handler: Handler::Blocking(|call: &Call<'_>| delete(call, ENTITY_TYPE_ID)),
                doc: concat!(
                    "Delete a ",
                    $noun,
                    "; activities bound to it keep their other bindings."
                ),
            };
            #[doc = concat!("`", $prefix, ".fields()`.")]
            pub const FIELDS: MethodSpec = MethodSpec {
                name: concat!($prefix, ".fields"),
                scope: Some("crm"),
                handler: Handler::Blocking(|call: &Call<'_>| fields(call, ENTITY_TYPE_ID)),
                doc: concat!("Describe the legacy fields of a ", $noun, "."),
            };
        }
    };
}

legacy_entity!(deal, "crm.deal", EntityTypeId::DEAL, "deal");
legacy_entity!(contact, "crm.contact", EntityTypeId::CONTACT, "contact");
legacy_entity!(company, "crm.company", EntityTypeId::COMPANY, "company");
legacy_entity!(lead, "crm.lead", EntityTypeId::LEAD, "lead");

/// Words an item rule's refusal as the legacy proxy does.
fn legacy_error(e: ItemError) -> ApiError {
    match e {
        ItemError::AccessDenied => RestError::legacy("Access denied.").into(),
        ItemError::NotFound => RestError::legacy("Not found").into(),
        ItemError::InvalidValue(field) => RestError::legacy(format!(
            "The value of the field \"{}\" is not valid.",
            field.legacy
        ))
        .into(),
        ItemError::TooLong(field, limit) => {
            RestError::legacy(format!("{}.", limit.message(field.legacy))).into()
        }
        ItemError::Required(group) => {
            RestError::legacy(format!("{}.", item_fields::required_message(&group))).into()
        }
        ItemError::InvalidUserField(name) => {
            RestError::legacy(format!("The value of the field \"{name}\" is not valid.")).into()
        }
        ItemError::Store(e) => e,
    }
}

/// The item with legacy names and string values. `select` empty (as `.get` uses it) gives every
/// field; `*` gives every field but the multi-fields (`PHONE`, `EMAIL`, …), which lists return
/// only when named. `ID` is always there. A deal's or lead's `CONTACT_IDS` and a company's
/// `CONTACT_ID` list are written, never shown: the service leaves them out of `.get` and `.list`
/// (`crm.deal.contact.items.get`, `crm.company.contact.items.get` read the contacts).
pub fn legacy_json(
    item: &ItemRecord,
    select: &[String],
    files: &ItemContext,
    defs: &[UserField],
) -> Value {
    let everything = select.is_empty();
    let star = listing::selects_all(select);
    let mut out = Map::new();
    let shown = item_fields::fields_of(item.entity_type_id).filter(|f| f.name != "contactIds");
    for field in shown {
        let named = select.iter().any(|s| s.eq_ignore_ascii_case(field.legacy));
        let wanted = everything
            || named
            || field.legacy == "ID"
            || (star && field.kind != FieldKind::Multifield);
        if wanted {
            let value = item_fields::read(item, field);
            let value = match field.kind {
                FieldKind::File => files.shown(&value, false),
                _ => item_fields::legacy_value(field, value),
            };
            out.insert(field.legacy.to_string(), value);
        }
    }
    for field in files.parent_fields() {
        let named = select.iter().any(|s| s.eq_ignore_ascii_case(field.legacy));
        if everything || star || named {
            let value = item_fields::legacy_value(field, item_fields::read(item, field));
            out.insert(field.legacy.to_string(), value);
        }
    }
    user_fields::add_legacy_values(&mut out, item, defs, (!everything).then_some(select));
    Value::Object(out)
}

/// A legacy map parameter (`fields`, `filter`, `order`, `params`, any case): absent is `None`,
/// an empty list is empty, anything but an array is `Parameter 'x' must be array.`
pub fn legacy_map(call: &Call<'_>, name: &str) -> Result<Option<Map<String, Value>>, ApiError> {
    match call.params.get_ci(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(Value::Array(a)) if a.is_empty() => Ok(Some(Map::new())),
        Some(_) => Err(RestError::legacy(format!("Parameter '{name}' must be array.")).into()),
    }
}

/// The legacy `fields` parameter (also spelled `arFields`); absent is empty.
pub fn legacy_fields(call: &Call<'_>) -> Result<Map<String, Value>, ApiError> {
    let name = if call.params.get_ci("fields").is_none() && call.params.get_ci("arFields").is_some()
    {
        "arFields"
    } else {
        "fields"
    };
    Ok(legacy_map(call, name)?.unwrap_or_default())
}

/// The legacy `id` / `ID` parameter: a positive integer, else "ID is not defined or invalid."
pub fn legacy_id(call: &Call<'_>) -> Result<i64, ApiError> {
    legacy_id_named(call, "ID is not defined or invalid.")
}

/// The legacy `id` / `ID` parameter, refused with a method's own text.
pub fn legacy_id_named(call: &Call<'_>, refusal: &'static str) -> Result<i64, ApiError> {
    call.params
        .get_ci("id")
        .and_then(bind_int)
        .filter(|&id| id > 0)
        .ok_or_else(|| RestError::legacy(refusal).into())
}

fn add(call: &Call<'_>, entity_type_id: i64) -> Result<Output, ApiError> {
    let fields = legacy_fields(call)?;
    legacy_map(call, "params")?;
    let max_file_bytes = call.state.limits.max_file_bytes;
    let item = call.state.store.write(call.caller.portal_id, |tx| {
        items::add(
            tx,
            &call.caller.permissions,
            entity_type_id,
            &fields,
            max_file_bytes,
        )
        .map_err(legacy_error)
    })?;
    Ok(Output::result(Value::from(item.id)))
}

fn get(call: &Call<'_>, entity_type_id: i64) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let portal = call.caller.portal_id;
    let (item, files, defs) = call.state.store.read(portal, |tx| {
        let item =
            items::get(tx, &call.caller.permissions, entity_type_id, id).map_err(legacy_error)?;
        let parents = dynamic_types::parent_types(tx, entity_type_id)?;
        let files = ItemContext::of(tx, [&item], &call.state.public_url, portal, parents)?;
        Ok((item, files, user_fields::fields_of(tx, entity_type_id)?))
    })?;
    Ok(Output::result(legacy_json(&item, &[], &files, &defs)))
}

fn list(call: &Call<'_>, entity_type_id: i64) -> Result<Output, ApiError> {
    let mut select = listing::parse_select(call.params.get_ci("select"));
    if select.is_empty() {
        select.push("*".into());
    }
    let page = call.params.page();
    let portal = call.caller.portal_id;
    let (result, files, defs) = call.state.store.read(portal, |tx| {
        let parents = dynamic_types::parent_types(tx, entity_type_id)?;
        let defs = user_fields::fields_of(tx, entity_type_id)?;
        let query = list_query(
            call,
            entity_type_id,
            parents.clone(),
            defs.clone(),
            Dialect::LegacyCrm,
        )?;
        let result = items::list(tx, &call.caller.permissions, entity_type_id, query)
            .map_err(legacy_error)?;
        let base = &call.state.public_url;
        let files = ItemContext::of(tx, &result.rows, base, portal, parents)?;
        Ok((result, files, defs))
    })?;
    let count = result.rows.len();
    let rows: Vec<Value> = result
        .rows
        .iter()
        .map(|item| legacy_json(item, &select, &files, &defs))
        .collect();
    Ok(Output {
        result: Value::Array(rows),
        next: result.total.and_then(|total| page.next(count, total)),
        total: result.total,
    })
}

fn update(call: &Call<'_>, entity_type_id: i64) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let fields = legacy_fields(call)?;
    legacy_map(call, "params")?;
    let max_file_bytes = call.state.limits.max_file_bytes;
    call.state.store.write(call.caller.portal_id, |tx| {
        items::update(
            tx,
            &call.caller.permissions,
            entity_type_id,
            id,
            &fields,
            max_file_bytes,
        )
        .map_err(legacy_error)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn delete(call: &Call<'_>, entity_type_id: i64) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        items::delete(tx, &call.caller.permissions, entity_type_id, id).map_err(legacy_error)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn fields(call: &Call<'_>, entity_type_id: i64) -> Result<Output, ApiError> {
    let described = call.state.store.read(call.caller.portal_id, |tx| {
        super::item::catalogue(tx, entity_type_id, Dialect::LegacyCrm)
    })?;
    Ok(Output::result(Value::Object(described)))
}
