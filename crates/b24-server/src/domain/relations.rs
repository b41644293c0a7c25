//! A deal's contacts (`crm.deal.contact.*`, legacy proxy: `"error": ""` and the text), over the
//! links the deal already keeps: `contactIds` in order, the first one primary (and mirrored in
//! `contactId`). `SORT` is the position (10, 20, …); `ROLE_ID` is always 0.

use super::access::can;
use super::{Action, Binding, EntityTypeId, Permissions};
use crate::error::ApiError;
use crate::store::{ItemRecord, Tx};
use b24_protocol::values::bind_int;
use b24_protocol::RestError;
use serde_json::{json, Map, Value};

/// One contact of a deal, as `items.get` shows it and `items.set` / `add` take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactLink {
    /// `CONTACT_ID`.
    pub contact_id: i64,
    /// `SORT`.
    pub sort: i64,
    /// `IS_PRIMARY`.
    pub primary: bool,
}

/// The most contacts one deal keeps (a bound on what one call writes and every read returns).
pub const MAX_CONTACTS: usize = 500;

fn not_valid() -> ApiError {
    RestError::legacy("The parameter 'fields' is not valid.").into()
}

/// The deal's contacts in order: `contactIds`, or its single `contactId`.
fn contact_ids(deal: &ItemRecord) -> Vec<i64> {
    let listed: Vec<i64> = deal
        .extra
        .get("contactIds")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(bind_int).collect())
        .unwrap_or_default();
    if !listed.is_empty() {
        return listed;
    }
    deal.extra
        .get("contactId")
        .and_then(bind_int)
        .filter(|&id| id > 0)
        .into_iter()
        .collect()
}

/// The links as shown: `SORT` 10, 20, …, the first primary.
pub fn links(deal: &ItemRecord) -> Vec<ContactLink> {
    contact_ids(deal)
        .into_iter()
        .enumerate()
        .map(|(i, contact_id)| ContactLink {
            contact_id,
            sort: 10 * (i as i64 + 1),
            primary: i == 0,
        })
        .collect()
}

/// A link as `items.get` answers it.
pub fn link_json(link: &ContactLink) -> Value {
    json!({"CONTACT_ID": link.contact_id, "SORT": link.sort, "ROLE_ID": 0,
           "IS_PRIMARY": if link.primary { "Y" } else { "N" }})
}

/// A link from the caller's fields: `CONTACT_ID` > 0 (else "The parameter 'fields' is not
/// valid."), `SORT` (default: after the others), `IS_PRIMARY`.
pub fn parse_link(fields: &Map<String, Value>, default_sort: i64) -> Result<ContactLink, ApiError> {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let contact_id = get("CONTACT_ID")
        .and_then(bind_int)
        .filter(|&id| id > 0)
        .ok_or_else(not_valid)?;
    let sort = get("SORT").and_then(bind_int).unwrap_or(default_sort);
    let primary = get("IS_PRIMARY")
        .and_then(Value::as_str)
        .is_some_and(|p| p.eq_ignore_ascii_case("Y"));
    Ok(ContactLink {
        contact_id,
        sort,
        primary,
    })
}

/// The deal, which the caller may `action` (legacy "Not found." / "Access denied.").
fn deal(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    action: Action,
) -> Result<ItemRecord, ApiError> {
    let deal = tx
        .item(EntityTypeId::DEAL, id)?
        .ok_or_else(|| RestError::legacy("Not found."))?;
    if !can(
        tx,
        permissions,
        Binding::new(EntityTypeId::DEAL, id),
        action,
    )? {
        return Err(RestError::legacy("Access denied.").into());
    }
    Ok(deal)
}

/// Stores `links` (sorted by `SORT`, a primary one first, duplicates dropped) as the deal's
/// contacts.
fn store(
    tx: &mut dyn Tx,
    mut deal: ItemRecord,
    mut links: Vec<ContactLink>,
) -> Result<(), ApiError> {
    links.sort_by_key(|l| (!l.primary, l.sort));
    let mut ids: Vec<i64> = Vec::new();
    for link in links {
        if !ids.contains(&link.contact_id) {
            ids.push(link.contact_id);
        }
    }
    if ids.len() > MAX_CONTACTS {
        return Err(not_valid());
    }
    match ids.first() {
        Some(first) => {
            deal.extra.insert("contactId".into(), json!(first));
            deal.extra.insert("contactIds".into(), json!(ids));
        }
        None => {
            deal.extra.remove("contactId");
            deal.extra.remove("contactIds");
        }
    }
    tx.update_item(&deal)
}

/// `crm.deal.contact.items.get`.
pub fn get(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
) -> Result<Vec<ContactLink>, ApiError> {
    Ok(links(&deal(tx, permissions, id, Action::Read)?))
}

/// `crm.deal.contact.items.set`: replaces the deal's contacts.
pub fn set(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    items: Vec<ContactLink>,
) -> Result<(), ApiError> {
    let deal = deal(tx, permissions, id, Action::Update)?;
    store(tx, deal, items)
}

/// `crm.deal.contact.add`: `false` when the contact is linked already.
pub fn add(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    link: ContactLink,
) -> Result<bool, ApiError> {
    let deal = deal(tx, permissions, id, Action::Update)?;
    let mut current = links(&deal);
    if current.iter().any(|l| l.contact_id == link.contact_id) {
        return Ok(false);
    }
    if link.primary {
        for l in &mut current {
            l.primary = false;
        }
    }
    current.push(link);
    store(tx, deal, current)?;
    Ok(true)
}

/// `crm.deal.contact.delete`: `false` when the contact was not linked.
pub fn delete(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    contact_id: i64,
) -> Result<bool, ApiError> {
    let deal = deal(tx, permissions, id, Action::Update)?;
    let mut current = links(&deal);
    let before = current.len();
    current.retain(|l| l.contact_id != contact_id);
    if current.len() == before {
        return Ok(false);
    }
    if let Some(first) = current.first_mut() {
        first.primary = true;
    }
    store(tx, deal, current)?;
    Ok(true)
}
