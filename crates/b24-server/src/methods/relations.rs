//! A deal's contacts: `crm.deal.contact.items.get / set / delete`, `crm.deal.contact.add /
//! delete / fields` (legacy proxy: `"error": ""` and the text).
//! Docs: api-reference/crm/deals/contacts/. Rules: [`crate::domain::relations`].

use super::{Call, Handler, MethodSpec, Output};
use crate::domain::relations::{self, ContactLink};
use crate::error::ApiError;
use b24_protocol::values::bind_int;
use b24_protocol::RestError;
use serde_json::{json, Map, Value};

/// `crm.deal.contact.items.get(id)`.
pub const ITEMS_GET: MethodSpec = MethodSpec {
    name: "crm.deal.contact.items.get",
    scope: Some("crm"),
    handler: Handler::Blocking(items_get),
    doc: "List a deal's contacts (the primary one first).",
};

/// `crm.deal.contact.items.set(id, items)`.
pub const ITEMS_SET: MethodSpec = MethodSpec {
    name: "crm.deal.contact.items.set",
    scope: Some("crm"),
    handler: Handler::Blocking(items_set),
    doc: "Replace a deal's contacts.",
};

/// `crm.deal.contact.items.delete(id)`.
pub const ITEMS_DELETE: MethodSpec = MethodSpec {
    name: "crm.deal.contact.items.delete",
    scope: Some("crm"),
    handler: Handler::Blocking(items_delete),
    doc: "Remove every contact from a deal.",
};

/// `crm.deal.contact.add(id, fields)`.
pub const ADD: MethodSpec = MethodSpec {
    name: "crm.deal.contact.add",
    scope: Some("crm"),
    handler: Handler::Blocking(add),
    doc: "Link a contact to a deal; false when it is linked already.",
};

/// `crm.deal.contact.delete(id, fields)`.
pub const DELETE: MethodSpec = MethodSpec {
    name: "crm.deal.contact.delete",
    scope: Some("crm"),
    handler: Handler::Blocking(delete),
    doc: "Unlink a contact from a deal; false when it was not linked.",
};

/// `crm.deal.contact.fields()`.
pub const FIELDS: MethodSpec = MethodSpec {
    name: "crm.deal.contact.fields",
    scope: Some("crm"),
    handler: Handler::Blocking(fields),
    doc: "Describe the fields of a deal-contact link.",
};

/// The deal's `id`: positive, else the proxy's words for its `ownerEntityID`.
fn owner_id(call: &Call<'_>) -> Result<i64, ApiError> {
    call.params
        .get_ci("id")
        .and_then(bind_int)
        .filter(|&id| id > 0)
        .ok_or_else(|| {
            RestError::legacy("The parameter 'ownerEntityID' is invalid or not defined.").into()
        })
}

/// A map parameter that must be an array.
fn array_param(call: &Call<'_>, name: &str) -> Result<Map<String, Value>, ApiError> {
    match call.params.get_ci(name) {
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(Value::Array(a)) if a.is_empty() => Ok(Map::new()),
        _ => Err(RestError::legacy(format!("The parameter '{name}' must be array.")).into()),
    }
}

fn items_get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = owner_id(call)?;
    let permissions = &call.caller.permissions;
    let links = call.state.store.read(call.caller.portal_id, |tx| {
        relations::get(tx, permissions, id)
    })?;
    Ok(Output::result(
        links.iter().map(relations::link_json).collect(),
    ))
}

fn items_set(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = owner_id(call)?;
    let entries: Vec<Value> = match call.params.get_ci("items") {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(o)) => o.values().cloned().collect(),
        _ => return Err(RestError::legacy("The parameter 'items' must be array.").into()),
    };
    let mut links: Vec<ContactLink> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let Value::Object(fields) = entry else {
            return Err(RestError::legacy("The parameter 'items' is not valid.").into());
        };
        let link = relations::parse_link(fields, 10 * (i as i64 + 1))
            .map_err(|_| RestError::legacy("The parameter 'items' is not valid."))?;
        links.push(link);
    }
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        relations::set(tx, permissions, id, links)
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn items_delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = owner_id(call)?;
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        relations::set(tx, permissions, id, Vec::new())
    })?;
    Ok(Output::result(Value::Bool(true)))
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = owner_id(call)?;
    let fields = array_param(call, "fields")?;
    let link = relations::parse_link(&fields, i64::MAX)?;
    let permissions = &call.caller.permissions;
    let added = call.state.store.write(call.caller.portal_id, |tx| {
        relations::add(tx, permissions, id, link)
    })?;
    Ok(Output::result(Value::Bool(added)))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = owner_id(call)?;
    let fields = array_param(call, "fields")?;
    let link = relations::parse_link(&fields, 0)?;
    let permissions = &call.caller.permissions;
    let removed = call.state.store.write(call.caller.portal_id, |tx| {
        relations::delete(tx, permissions, id, link.contact_id)
    })?;
    Ok(Output::result(Value::Bool(removed)))
}

fn fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    let describe = |kind: &str, required: bool, title: &str| {
        json!({"type": kind, "isRequired": required, "isReadOnly": false, "isImmutable": false,
               "isMultiple": false, "isDynamic": false, "title": title})
    };
    Ok(Output::result(json!({
        "CONTACT_ID": describe("integer", true, "Contact ID"),
        "SORT": describe("integer", false, "Sort index"),
        "ROLE_ID": describe("integer", false, "Role ID (reserved)"),
        "IS_PRIMARY": describe("char", false, "Primary contact"),
    })))
}
