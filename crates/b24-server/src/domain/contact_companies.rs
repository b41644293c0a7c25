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
/// first by `SORT` when none is); its `companyId` mirrors the primary company.
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
    if primaries != 1 {
        if let Some(company_id) = primary {
            make_primary(tx, contact_id, company_id)?;
        }
    }
    let Some(mut contact) = tx.item(EntityTypeId::CONTACT, contact_id)? else {
        return Ok(());
    };
    let current = contact.extra.get("companyId").and_then(bind_int);
    if current == primary {
        return Ok(());
    }
    match primary {
        Some(id) => {
            contact.extra.insert("companyId".into(), json!(id));
        }
        None => {
            contact.extra.remove("companyId");
        }
    }
    tx.update_item(&contact)
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
    for r in &current {
        if !items_unique.iter().any(|i| i.other_id == side.other(r)) {
            tx.delete_contact_company(r.contact_id, r.company_id)?;
            touched.push(r.contact_id);
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
    }
    touched.sort_unstable();
    touched.dedup();
    for contact_id in touched {
        settle_contact(tx, contact_id)?;
    }
    Ok(())
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
    Ok(true)
}

/// Keeps the links the record of a contact's companies after `crm.contact.add / update` (or
/// `crm.item.*`) changed its `companyId`: the new company becomes its primary one (linked if it
/// was not); a cleared `companyId` drops the link to the former primary company, and the next
/// one by `SORT` takes its place (mirrored back into `companyId`).
pub fn contact_written(
    tx: &mut dyn Tx,
    contact: &crate::store::ItemRecord,
    before: Option<&crate::store::ItemRecord>,
) -> Result<(), ApiError> {
    if contact.entity_type_id != EntityTypeId::CONTACT {
        return Ok(());
    }
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
            }
        }
    }
    settle_contact(tx, contact.id)
}

/// Drops a deleted contact's or company's links (a company's contacts get their next primary
/// company).
pub fn item_deleted(tx: &mut dyn Tx, entity_type_id: i64, id: i64) -> Result<(), ApiError> {
    if entity_type_id == EntityTypeId::CONTACT {
        for r in tx.companies_of_contact(id)? {
            tx.delete_contact_company(r.contact_id, r.company_id)?;
        }
    } else if entity_type_id == EntityTypeId::COMPANY {
        for r in tx.contacts_of_company(id)? {
            tx.delete_contact_company(r.contact_id, r.company_id)?;
            settle_contact(tx, r.contact_id)?;
        }
    }
    Ok(())
}
