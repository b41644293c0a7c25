//! Contacts and companies, many to many (`crm.contact.company.*` from the contact,
//! `crm.company.contact.*` from the company; legacy proxy: `"error": ""` and the text).
//!
//! One row per link ([`crate::store::contact_companies`]) is the only record; both directions
//! read the same rows, so a link's `SORT` and `IS_PRIMARY` are the same from either end.
//! `IS_PRIMARY` marks the contact's primary company: a contact with links has exactly one,
//! and its id is mirrored in the contact's `companyId` (`COMPANY_ID`). `ROLE_ID` is always 0.

use super::access::can;
use super::{Action, Binding, EntityTypeId, Permissions};
use crate::error::ApiError;
use crate::store::contact_companies::ContactCompanyRecord;
use crate::store::Tx;
use b24_protocol::values::bind_int;
use b24_protocol::RestError;
use serde_json::{json, Map, Value};

/// The end a call starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `crm.contact.company.*`: a contact's companies.
    Contact,
    /// `crm.company.contact.*`: a company's contacts.
    Company,
}

impl Side {
    fn owner_type(self) -> i64 {
        match self {
            Side::Contact => EntityTypeId::CONTACT,
            Side::Company => EntityTypeId::COMPANY,
        }
    }

    /// The field naming the other end: `COMPANY_ID` or `CONTACT_ID`.
    pub fn other_key(self) -> &'static str {
        match self {
            Side::Contact => "COMPANY_ID",
            Side::Company => "CONTACT_ID",
        }
    }

    /// The row of the link between `owner` and `other`.
    fn record(self, owner: i64, other: i64, sort: i64, primary: bool) -> ContactCompanyRecord {
        let (contact_id, company_id) = match self {
            Side::Contact => (owner, other),
            Side::Company => (other, owner),
        };
        ContactCompanyRecord {
            contact_id,
            company_id,
            sort,
            primary,
        }
    }

    /// The other end of a row.
    fn other(self, r: &ContactCompanyRecord) -> i64 {
        match self {
            Side::Contact => r.company_id,
            Side::Company => r.contact_id,
        }
    }

    fn rows(self, tx: &mut dyn Tx, owner: i64) -> Result<Vec<ContactCompanyRecord>, ApiError> {
        match self {
            Side::Contact => tx.companies_of_contact(owner),
            Side::Company => tx.contacts_of_company(owner),
        }
    }
}

/// One link as the caller gives it: the other end's id, `SORT` if given, `IS_PRIMARY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInput {
    /// `COMPANY_ID` or `CONTACT_ID`.
    pub other_id: i64,
    /// `SORT`, when given.
    pub sort: Option<i64>,
    /// `IS_PRIMARY = Y`.
    pub primary: bool,
}

/// The most links one `items.set` writes.
pub const MAX_LINKS: usize = 500;

fn not_valid() -> ApiError {
    RestError::legacy("The parameter 'fields' is not valid.").into()
}

/// A link from the caller's fields: the other end's id > 0 (else "The parameter 'fields' is
/// not valid."), `SORT`, `IS_PRIMARY`.
pub fn parse_link(side: Side, fields: &Map<String, Value>) -> Result<LinkInput, ApiError> {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let other_id = get(side.other_key())
        .and_then(bind_int)
        .filter(|&id| id > 0)
        .ok_or_else(not_valid)?;
    Ok(LinkInput {
        other_id,
        sort: get("SORT").and_then(bind_int),
        primary: get("IS_PRIMARY")
            .and_then(Value::as_str)
            .is_some_and(|p| p.eq_ignore_ascii_case("Y")),
    })
}

/// A link as `items.get` answers it from `side`.
pub fn link_json(side: Side, r: &ContactCompanyRecord) -> Value {
    let mut out = Map::new();
    out.insert(side.other_key().into(), json!(side.other(r)));
    out.insert("SORT".into(), json!(r.sort));
    out.insert("ROLE_ID".into(), json!(0));
    out.insert(
        "IS_PRIMARY".into(),
        json!(if r.primary { "Y" } else { "N" }),
    );
    Value::Object(out)
}

/// Checks the owner exists (legacy "Not found.") and the caller may `action` it ("Access
/// denied.").
fn check(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    side: Side,
    id: i64,
    action: Action,
) -> Result<(), ApiError> {
    let ty = side.owner_type();
    if tx.item(ty, id)?.is_none() {
        return Err(RestError::legacy("Not found.").into());
    }
    if !can(tx, permissions, Binding::new(ty, id), action)? {
        return Err(RestError::legacy("Access denied.").into());
    }
    Ok(())
}

/// Makes `company_id` the contact's only primary company.
fn make_primary(tx: &mut dyn Tx, contact_id: i64, company_id: i64) -> Result<(), ApiError> {
    for mut r in tx.companies_of_contact(contact_id)? {
        let want = r.company_id == company_id;
        if r.primary != want {
            r.primary = want;
            tx.put_contact_company(&r)?;
        }
    }
    Ok(())
}

/// Restores the contact's invariant after a change: with links, exactly one primary (the
/// first by `SORT` when none is); its `companyId` mirrors the primary company and its
/// `companyIds` the linked companies, primary first, then by `SORT`.
fn settle_contact(tx: &mut dyn Tx, contact_id: i64) -> Result<(), ApiError> {
    let rows = tx.companies_of_contact(contact_id)?;
    let primaries = rows.iter().filter(|r| r.primary).count();
    // Rows come primary first: with one or more primaries, the first wins; with none, the
    // first by `SORT`.
    let primary = if primaries > 0 {
        rows.first().map(|r| r.company_id)
    } else {
        rows.iter()
            .min_by_key(|r| (r.sort, r.company_id))
            .map(|r| r.company_id)
    };
    let rows = match (primaries != 1, primary) {
        (true, Some(company_id)) => {
            make_primary(tx, contact_id, company_id)?;
            tx.companies_of_contact(contact_id)?
        }
        _ => rows,
    };
    let Some(mut contact) = tx.item(EntityTypeId::CONTACT, contact_id)? else {
        return Ok(());
    };
    let before = contact.extra.clone();
    mirror_into(&mut contact.extra, "companyId", primary.map(|id| json!(id)));
    let ids: Vec<i64> = rows.iter().map(|r| r.company_id).collect();
    mirror_into(&mut contact.extra, "companyIds", list(ids));
    if contact.extra == before {
        return Ok(());
    }
    tx.update_item(&contact)
}

/// Mirrors the company's contacts (by `SORT`) into its `contactIds`.
fn settle_company(tx: &mut dyn Tx, company_id: i64) -> Result<(), ApiError> {
    let ids: Vec<i64> = tx
        .contacts_of_company(company_id)?
        .iter()
        .map(|r| r.contact_id)
        .collect();
    let Some(mut company) = tx.item(EntityTypeId::COMPANY, company_id)? else {
        return Ok(());
    };
    let before = company.extra.clone();
    mirror_into(&mut company.extra, "contactIds", list(ids));
    if company.extra == before {
        return Ok(());
    }
    tx.update_item(&company)
}

/// Mirrors the companies of the touched link rows.
fn settle_companies(tx: &mut dyn Tx, mut company_ids: Vec<i64>) -> Result<(), ApiError> {
    company_ids.sort_unstable();
    company_ids.dedup();
    for company_id in company_ids {
        settle_company(tx, company_id)?;
    }
    Ok(())
}

fn list(ids: Vec<i64>) -> Option<Value> {
    (!ids.is_empty()).then(|| json!(ids))
}

fn mirror_into(extra: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(v) => {
            extra.insert(key.into(), v);
        }
        None => {
            extra.remove(key);
        }
    }
}

/// Mirrors the link rows of the contacts and companies into their fields (an upgrade of a
/// portal written before they were mirrored).
pub fn mirror(tx: &mut dyn Tx, contacts: &[i64], companies: &[i64]) -> Result<(), ApiError> {
    for &contact_id in contacts {
        settle_contact(tx, contact_id)?;
    }
    settle_companies(tx, companies.to_vec())
}

/// Whether items of the type mirror link rows into their fields (contacts and companies).
pub fn mirrors_links(entity_type_id: i64) -> bool {
    entity_type_id == EntityTypeId::CONTACT || entity_type_id == EntityTypeId::COMPANY
}

/// `items.get`: the owner's links.
pub fn get(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    side: Side,
    id: i64,
) -> Result<Vec<ContactCompanyRecord>, ApiError> {
    check(tx, permissions, side, id, Action::Read)?;
    side.rows(tx, id)
}

/// `items.set` (and `items.delete` with no items): replaces the owner's links. A link without
/// `SORT` keeps its own, or a new one takes the highest so far + 10. From the contact, the
/// first `IS_PRIMARY = Y` (else the first item) becomes its primary company; from the
/// company, `IS_PRIMARY = Y` makes the company that contact's primary one.
pub fn set(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    side: Side,
    id: i64,
    items: Vec<LinkInput>,
) -> Result<(), ApiError> {
    check(tx, permissions, side, id, Action::Update)?;
    set_links(tx, side, id, items)
}

/// Replaces the owner's links (see [`set`]), without the owner and rights checks.
fn set_links(tx: &mut dyn Tx, side: Side, id: i64, items: Vec<LinkInput>) -> Result<(), ApiError> {
    let mut items_unique: Vec<LinkInput> = Vec::new();
    for item in items {
        if !items_unique.iter().any(|i| i.other_id == item.other_id) {
            items_unique.push(item);
        }
    }
    if items_unique.len() > MAX_LINKS {
        return Err(RestError::legacy("The parameter 'items' is not valid.").into());
    }
    let current = side.rows(tx, id)?;
    let mut max_sort = current
        .iter()
        .map(|r| r.sort)
        .chain(items_unique.iter().filter_map(|i| i.sort))
        .max()
        .unwrap_or(0);
    let mut touched: Vec<i64> = Vec::new();
    let mut companies: Vec<i64> = Vec::new();
    for r in &current {
        if !items_unique.iter().any(|i| i.other_id == side.other(r)) {
            tx.delete_contact_company(r.contact_id, r.company_id)?;
            touched.push(r.contact_id);
            companies.push(r.company_id);
        }
    }
    let chosen = items_unique
        .iter()
        .find(|i| i.primary)
        .or(items_unique.first())
        .map(|i| i.other_id);
    for item in &items_unique {
        let existing = current.iter().find(|r| side.other(r) == item.other_id);
        let sort = match (item.sort, existing) {
            (Some(sort), _) => sort,
            (None, Some(r)) => r.sort,
            (None, None) => {
                max_sort += 10;
                max_sort
            }
        };
        // From the contact, the chosen company is its primary one and no other is; from the
        // company, each contact keeps its primary company unless the item asks for this one.
        let primary = match side {
            Side::Contact => chosen == Some(item.other_id),
            Side::Company => existing.is_some_and(|r| r.primary),
        };
        let row = side.record(id, item.other_id, sort, primary);
        tx.put_contact_company(&row)?;
        if side == Side::Company && item.primary {
            make_primary(tx, row.contact_id, row.company_id)?;
        }
        touched.push(row.contact_id);
        companies.push(row.company_id);
    }
    touched.sort_unstable();
    touched.dedup();
    for contact_id in touched {
        settle_contact(tx, contact_id)?;
    }
    settle_companies(tx, companies)
}

/// `add`: links one; `false` when the link exists already.
pub fn add(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    side: Side,
    id: i64,
    link: LinkInput,
) -> Result<bool, ApiError> {
    check(tx, permissions, side, id, Action::Update)?;
    let current = side.rows(tx, id)?;
    if current.iter().any(|r| side.other(r) == link.other_id) {
        return Ok(false);
    }
    let sort = link
        .sort
        .unwrap_or_else(|| current.iter().map(|r| r.sort).max().unwrap_or(0) + 10);
    let row = side.record(id, link.other_id, sort, false);
    tx.put_contact_company(&row)?;
    if link.primary {
        make_primary(tx, row.contact_id, row.company_id)?;
    }
    settle_contact(tx, row.contact_id)?;
    settle_company(tx, row.company_id)?;
    Ok(true)
}

/// `delete`: unlinks one; `false` when there was no link.
pub fn delete(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    side: Side,
    id: i64,
    other_id: i64,
) -> Result<bool, ApiError> {
    check(tx, permissions, side, id, Action::Update)?;
    let row = side.record(id, other_id, 0, false);
    if !tx.delete_contact_company(row.contact_id, row.company_id)? {
        return Ok(false);
    }
    settle_contact(tx, row.contact_id)?;
    settle_company(tx, row.company_id)?;
    Ok(true)
}

/// The ids of a list field the caller changed (`companyIds`, `contactIds`): `None` when it is
/// as stored.
fn changed_list(
    item: &crate::store::ItemRecord,
    before: Option<&crate::store::ItemRecord>,
    key: &str,
) -> Option<Vec<i64>> {
    let now = item.extra.get(key);
    if now == before.and_then(|b| b.extra.get(key)) {
        return None;
    }
    Some(
        now.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(bind_int).filter(|&id| id > 0).collect())
            .unwrap_or_default(),
    )
}

/// Keeps the link rows after `crm.contact/company.add / update` (or `crm.item.*`) wrote a
/// contact or a company: a contact's `companyIds` (a company's `contactIds`, legacy
/// `CONTACT_ID`) given by the caller replaces its links, the first company the contact's
/// primary one (a company's contacts keep theirs); then a contact's changed `companyId`
/// applies (`contact_written`).
pub fn item_written(
    tx: &mut dyn Tx,
    item: &crate::store::ItemRecord,
    before: Option<&crate::store::ItemRecord>,
) -> Result<(), ApiError> {
    let (side, key) = match item.entity_type_id {
        EntityTypeId::CONTACT => (Side::Contact, "companyIds"),
        EntityTypeId::COMPANY => (Side::Company, "contactIds"),
        _ => return Ok(()),
    };
    if let Some(ids) = changed_list(item, before, key) {
        let links = ids
            .into_iter()
            .take(MAX_LINKS)
            .enumerate()
            .map(|(i, other_id)| LinkInput {
                other_id,
                sort: None,
                primary: side == Side::Contact && i == 0,
            })
            .collect();
        set_links(tx, side, item.id, links)?;
    }
    if side == Side::Contact {
        contact_written(tx, item, before)?;
    }
    Ok(())
}

/// Keeps the links the record of a contact's companies after `crm.contact.add / update` (or
/// `crm.item.*`) changed its `companyId`: the new company becomes its primary one (linked if it
/// was not); a cleared `companyId` drops the link to the former primary company, and the next
/// one by `SORT` takes its place (mirrored back into `companyId`).
fn contact_written(
    tx: &mut dyn Tx,
    contact: &crate::store::ItemRecord,
    before: Option<&crate::store::ItemRecord>,
) -> Result<(), ApiError> {
    let company = |r: &crate::store::ItemRecord| {
        r.extra
            .get("companyId")
            .and_then(bind_int)
            .filter(|&id| id > 0)
    };
    let (now, was) = (company(contact), before.and_then(company));
    if now == was {
        return Ok(());
    }
    let rows = tx.companies_of_contact(contact.id)?;
    let mut companies: Vec<i64> = now.into_iter().collect();
    match now {
        Some(company_id) => {
            if !rows.iter().any(|r| r.company_id == company_id) {
                let sort = rows.iter().map(|r| r.sort).max().unwrap_or(0) + 10;
                tx.put_contact_company(&ContactCompanyRecord {
                    contact_id: contact.id,
                    company_id,
                    sort,
                    primary: false,
                })?;
            }
            make_primary(tx, contact.id, company_id)?;
        }
        None => {
            if let Some(primary) = rows.iter().find(|r| r.primary) {
                tx.delete_contact_company(contact.id, primary.company_id)?;
                companies.push(primary.company_id);
            }
        }
    }
    settle_contact(tx, contact.id)?;
    settle_companies(tx, companies)
}

/// Drops a deleted contact's or company's links (a company's contacts get their next primary
/// company; a contact's companies no longer list it).
pub fn item_deleted(tx: &mut dyn Tx, entity_type_id: i64, id: i64) -> Result<(), ApiError> {
    if entity_type_id == EntityTypeId::CONTACT {
        for r in tx.companies_of_contact(id)? {
            tx.delete_contact_company(r.contact_id, r.company_id)?;
            settle_company(tx, r.company_id)?;
        }
    } else if entity_type_id == EntityTypeId::COMPANY {
        for r in tx.contacts_of_company(id)? {
            tx.delete_contact_company(r.contact_id, r.company_id)?;
            settle_contact(tx, r.contact_id)?;
        }
    }
    Ok(())
}
