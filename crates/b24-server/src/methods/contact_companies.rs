//! Contacts and companies, many to many: `crm.contact.company.items.get / set / delete`,
//! `crm.contact.company.add / delete / fields` (a contact's companies) and the same six under
//! `crm.company.contact.*` (a company's contacts); legacy proxy: `"error": ""` and the text.
//! Docs: api-reference/crm/contacts/company/, api-reference/crm/companies/contacts/.
//! Rules: [`crate::domain::contact_companies`].

use super::{Call, Handler, MethodSpec, Output};
use crate::domain::contact_companies::{self as links, LinkInput, Side};
use crate::error::ApiError;
use b24_protocol::values::bind_int;
use b24_protocol::RestError;
use serde_json::{json, Map, Value};

/// Declares the six methods of one side.
macro_rules! side_methods {
    ($side:expr, $prefix:literal, $owner:literal, $other:literal,
     $items_get:ident, $items_set:ident, $items_delete:ident, $add:ident, $delete:ident,
     $fields:ident) => {
        #[doc = concat!("`", $prefix, ".items.get(id)`.")]
        pub const $items_get: MethodSpec = MethodSpec {
            name: concat!($prefix, ".items.get"),
            scope: Some("crm"),
            handler: Handler::Blocking(|call| items_get(call, $side)),
            doc: concat!("List a ", $owner, "'s ", $other, "s."),
        };
        #[doc = concat!("`", $prefix, ".items.set(id, items)`.")]
        pub const $items_set: MethodSpec = MethodSpec {
            name: concat!($prefix, ".items.set"),
            scope: Some("crm"),
            handler: Handler::Blocking(|call| items_set(call, $side)),
            doc: concat!("Replace a ", $owner, "'s ", $other, "s."),
        };
        #[doc = concat!("`", $prefix, ".items.delete(id)`.")]
        pub const $items_delete: MethodSpec = MethodSpec {
            name: concat!($prefix, ".items.delete"),
            scope: Some("crm"),
            handler: Handler::Blocking(|call| items_delete(call, $side)),
            doc: concat!("Remove every ", $other, " from a ", $owner, "."),
        };
        #[doc = concat!("`", $prefix, ".add(id, fields)`.")]
        pub const $add: MethodSpec = MethodSpec {
            name: concat!($prefix, ".add"),
            scope: Some("crm"),
            handler: Handler::Blocking(|call| add(call, $side)),
            doc: concat!(
                "Link a ",
                $other,
                " to a ",
                $owner,
                "; false when linked already."
            ),
        };
        #[doc = concat!("`", $prefix, ".delete(id, fields)`.")]
        pub const $delete: MethodSpec = MethodSpec {
            name: concat!($prefix, ".delete"),
            scope: Some("crm"),
            handler: Handler::Blocking(|call| delete(call, $side)),
            doc: concat!(
                "Unlink a ",
                $other,
                " from a ",
                $owner,
                "; false when not linked."
            ),
        };
        #[doc = concat!("`", $prefix, ".fields()`.")]
        pub const $fields: MethodSpec = MethodSpec {
            name: concat!($prefix, ".fields"),
            scope: Some("crm"),
            handler: Handler::Blocking(|call| fields(call, $side)),
            doc: concat!("Describe the fields of a ", $owner, "-", $other, " link."),
        };
    };
}

side_methods!(
    Side::Contact,
    "crm.contact.company",
    "contact",
    "company",
    CONTACT_ITEMS_GET,
    CONTACT_ITEMS_SET,
    CONTACT_ITEMS_DELETE,
    CONTACT_ADD,
    CONTACT_DELETE,
    CONTACT_FIELDS
);

side_methods!(
    Side::Company,
    "crm.company.contact",
    "company",
    "contact",
    COMPANY_ITEMS_GET,
    COMPANY_ITEMS_SET,
    COMPANY_ITEMS_DELETE,
    COMPANY_ADD,
    COMPANY_DELETE,
    COMPANY_FIELDS
);

/// The owner's `id`: positive, else the proxy's words for its `ownerEntityID`.
fn owner_id(call: &Call<'_>) -> Result<i64, ApiError> {
    call.params
        .get_ci("id")
        .and_then(bind_int)
        .filter(|&id| id > 0)
        .ok_or_else(|| {
            RestError::legacy("The parameter 'ownerEntityID' is invalid or not defined.").into()
        })
}

/// The `fields` parameter, which must be an array.
fn fields_param(call: &Call<'_>) -> Result<Map<String, Value>, ApiError> {
    match call.params.get_ci("fields") {
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(Value::Array(a)) if a.is_empty() => Ok(Map::new()),
        _ => Err(RestError::legacy("The parameter 'fields' must be array.").into()),
    }
}

fn items_get(call: &Call<'_>, side: Side) -> Result<Output, ApiError> {
    let id = owner_id(call)?;
    let permissions = &call.caller.permissions;
    let rows = call.state.store.read(call.caller.portal_id, |tx| {
        links::get(tx, permissions, side, id)
    })?;
    Ok(Output::result(
        rows.iter().map(|r| links::link_json(side, r)).collect(),
    ))
}

fn items_set(call: &Call<'_>, side: Side) -> Result<Output, ApiError> {
    let id = owner_id(call)?;
    let entries: Vec<Value> = match call.params.get_ci("items") {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(o)) => o.values().cloned().collect(),
        _ => return Err(RestError::legacy("The parameter 'items' must be array.").into()),
    };
    let mut items: Vec<LinkInput> = Vec::new();
    for entry in &entries {
        let invalid = || RestError::legacy("The parameter 'items' is not valid.");
        let Value::Object(fields) = entry else {
            return Err(invalid().into());
        };
        items.push(links::parse_link(side, fields).map_err(|_| invalid())?);
    }
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        links::set(tx, permissions, side, id, items)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn items_delete(call: &Call<'_>, side: Side) -> Result<Output, ApiError> {
    let id = owner_id(call)?;
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        links::set(tx, permissions, side, id, Vec::new())
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn add(call: &Call<'_>, side: Side) -> Result<Output, ApiError> {
    let id = owner_id(call)?;
    let link = links::parse_link(side, &fields_param(call)?)?;
    let permissions = &call.caller.permissions;
    let added = call.state.store.write(call.caller.portal_id, |tx| {
        links::add(tx, permissions, side, id, link)
    })?;
    Ok(Output::result(Value::Bool(added)))
}

fn delete(call: &Call<'_>, side: Side) -> Result<Output, ApiError> {
    let id = owner_id(call)?;
    let link = links::parse_link(side, &fields_param(call)?)?;
    let permissions = &call.caller.permissions;
    let removed = call.state.store.write(call.caller.portal_id, |tx| {
        links::delete(tx, permissions, side, id, link.other_id)
    })?;
    Ok(Output::result(Value::Bool(removed)))
}

fn fields(_call: &Call<'_>, side: Side) -> Result<Output, ApiError> {
    let describe = |kind: &str, required: bool, title: &str| {
        json!({"type": kind, "isRequired": required, "isReadOnly": false, "isImmutable": false,
               "isMultiple": false, "isDynamic": false, "title": title})
    };
    let (other_title, primary_title) = match side {
        Side::Contact => ("Company ID", "Primary company"),
        Side::Company => ("Contact ID", "Primary contact"),
    };
    let mut out = Map::new();
    out.insert(
        side.other_key().into(),
        describe("integer", true, other_title),
    );
    out.insert("SORT".into(), describe("integer", false, "Sort index"));
    out.insert(
        "ROLE_ID".into(),
        describe("integer", false, "Role ID (reserved)"),
    );
    out.insert("IS_PRIMARY".into(), describe("char", false, primary_title));
    Ok(Output::result(Value::Object(out)))
}
