//! `crm.deal / lead / contact / company .userfield.add / get / list / update / delete` — the
//! user fields (`UF_CRM_*`) of the four legacy item types (`CCrmUserFieldRestProxy`, scope
//! `crm`): legacy errors (HTTP 400, `"error": ""` and the text) plus the core's `ERROR_CORE`
//! and `ERROR_NOT_FOUND`. One implementation for the four types; rules and storage in
//! [`crate::domain::user_fields`], decisions in spec §12.U "CRM user fields".
//! Docs: api-reference/crm/{deals,leads,contacts,companies}/user-defined-fields/*.md.

use super::legacy_entity::{legacy_fields, legacy_id, legacy_map};
use super::{Call, Handler, MethodSpec, Output};
use crate::domain::user_fields;
use crate::domain::EntityTypeId;
use crate::error::ApiError;
use serde_json::Value;

/// Declares the five methods of one type's user fields.
macro_rules! entity_userfield {
    ($module:ident, $prefix:literal, $entity_type_id:expr, $noun:literal) => {
        #[doc = concat!("`", $prefix, ".userfield.*`.")]
        pub mod $module {
            use super::*;

            const ENTITY_TYPE_ID: i64 = $entity_type_id;

            #[doc = concat!("`", $prefix, ".userfield.add(fields)`.")]
            pub const ADD: MethodSpec = MethodSpec {
                name: concat!($prefix, ".userfield.add"),
                scope: Some("crm"),
                handler: Handler::Blocking(|call: &Call<'_>| add(call, ENTITY_TYPE_ID)),
                doc: concat!(
                    "Create a user field (UF_CRM_*) of ",
                    $noun,
                    "s; returns its id (CRM administrators)."
                ),
            };
            #[doc = concat!("`", $prefix, ".userfield.get(id)`.")]
            pub const GET: MethodSpec = MethodSpec {
                name: concat!($prefix, ".userfield.get"),
                scope: Some("crm"),
                handler: Handler::Blocking(|call: &Call<'_>| get(call, ENTITY_TYPE_ID)),
                doc: concat!("Read a user field of ", $noun, "s."),
            };
            #[doc = concat!("`", $prefix, ".userfield.list(order, filter)`.")]
            pub const LIST: MethodSpec = MethodSpec {
                name: concat!($prefix, ".userfield.list"),
                scope: Some("crm"),
                handler: Handler::Blocking(|call: &Call<'_>| list(call, ENTITY_TYPE_ID)),
                doc: concat!("List the user fields of ", $noun, "s."),
            };
            #[doc = concat!("`", $prefix, ".userfield.update(id, fields)`.")]
            pub const UPDATE: MethodSpec = MethodSpec {
                name: concat!($prefix, ".userfield.update"),
                scope: Some("crm"),
                handler: Handler::Blocking(|call: &Call<'_>| update(call, ENTITY_TYPE_ID)),
                doc: concat!(
                    "Change a user field of ",
                    $noun,
                    "s (labels, settings, list items, flags)."
                ),
            };
            #[doc = concat!("`", $prefix, ".userfield.delete(id)`.")]
            pub const DELETE: MethodSpec = MethodSpec {
                name: concat!($prefix, ".userfield.delete"),
                scope: Some("crm"),
                handler: Handler::Blocking(|call: &Call<'_>| delete(call, ENTITY_TYPE_ID)),
                doc: concat!("Delete a user field of ", $noun, "s and every value of it."),
            };
        }
    };
}

entity_userfield!(deal, "crm.deal", EntityTypeId::DEAL, "deal");
entity_userfield!(lead, "crm.lead", EntityTypeId::LEAD, "lead");
entity_userfield!(contact, "crm.contact", EntityTypeId::CONTACT, "contact");
entity_userfield!(company, "crm.company", EntityTypeId::COMPANY, "company");

fn add(call: &Call<'_>, entity_type_id: i64) -> Result<Output, ApiError> {
    let fields = legacy_fields(call)?;
    let id = call.state.store.write(call.caller.portal_id, |tx| {
        user_fields::add(
            tx,
            &call.caller.permissions,
            entity_type_id,
            &fields,
            user_fields::Naming::Prefixed,
        )
    })?;
    Ok(Output::result(Value::from(id)))
}

fn get(call: &Call<'_>, entity_type_id: i64) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let field = call.state.store.read(call.caller.portal_id, |tx| {
        user_fields::get(tx, &call.caller.permissions, entity_type_id, id)
    })?;
    Ok(Output::result(user_fields::definition_json(&field, true)))
}

fn list(call: &Call<'_>, entity_type_id: i64) -> Result<Output, ApiError> {
    let order = legacy_map(call, "order")?.unwrap_or_default();
    let filter = legacy_map(call, "filter")?.unwrap_or_default();
    let fields = call.state.store.read(call.caller.portal_id, |tx| {
        user_fields::list(
            tx,
            &call.caller.permissions,
            entity_type_id,
            &filter,
            &order,
        )
    })?;
    let rows: Vec<Value> = fields
        .iter()
        .map(|f| user_fields::definition_json(f, false))
        .collect();
    let total = rows.len() as u64;
    Ok(Output {
        result: Value::Array(rows),
        next: None,
        total: Some(total),
    })
}

fn update(call: &Call<'_>, entity_type_id: i64) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let fields = legacy_fields(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        user_fields::update(tx, &call.caller.permissions, entity_type_id, id, &fields)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn delete(call: &Call<'_>, entity_type_id: i64) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    call.state.store.write(call.caller.portal_id, |tx| {
        user_fields::delete(tx, &call.caller.permissions, entity_type_id, id)
    })?;
    Ok(Output::result(Value::Bool(true)))
}
