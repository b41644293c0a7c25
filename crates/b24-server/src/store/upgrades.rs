//! Work a migration leaves for Rust: rows derived from what a portal already holds, where the
//! derivation is ours (a phone's normal form, a JSON field read the same way on both backends)
//! and cannot be written once in SQL for SQLite and PostgreSQL. Such a migration marks every
//! existing portal with a `pending:…` row of `sequences`; the next start of the portal (see
//! [`crate::admin::bootstrap`]) does the work and takes the mark, in one transaction. New
//! portals have nothing to derive and get no mark.

use super::driver::{args, Arg};
use super::sql::SqlTx;
use super::Tx;
use crate::error::ApiError;
use b24_protocol::values::bind_int;
use serde_json::{Map, Value};

/// The marks, each with what it stands for (for the log).
const PENDING: &[(&str, &str)] = &[
    (
        "pending:reindex_communications",
        "indexed the phones and e-mails of existing CRM items for crm.duplicate.findbycomm",
    ),
    (
        "pending:link_contact_companies",
        "linked existing contacts to the company their COMPANY_ID names",
    ),
    (
        "pending:index_item_stages",
        "indexed the stages and pipelines of existing CRM items",
    ),
    (
        "pending:derive_item_fields",
        "computed the stage, communication and activity fields of existing CRM items",
    ),
    (
        "pending:mirror_contact_companies",
        "listed the linked companies of existing contacts and the contacts of companies",
    ),
];

/// Finishing migrations.
pub trait UpgradeTx {
    /// Does the work every mark on this portal stands for and takes the marks; returns what
    /// was done, for the log.
    fn finish_upgrades(&mut self) -> Result<Vec<&'static str>, ApiError>;
}

impl UpgradeTx for SqlTx<'_> {
    fn finish_upgrades(&mut self) -> Result<Vec<&'static str>, ApiError> {
        let mut done = Vec::new();
        for (mark, what) in PENDING {
            let marked = self.exec(
                "DELETE FROM sequences WHERE portal_id = ?1 AND name = ?2",
                &args![self.portal, *mark],
            )?;
            if marked == 0 {
                continue;
            }
            match *mark {
                "pending:reindex_communications" => self.reindex_all_communications()?,
                "pending:index_item_stages" => self.reindex_all_item_stages()?,
                "pending:derive_item_fields" => self.derive_all_item_fields()?,
                "pending:mirror_contact_companies" => self.mirror_all_contact_companies()?,
                _ => self.link_unlinked_contacts()?,
            }
            done.push(*what);
        }
        Ok(done)
    }
}

impl SqlTx<'_> {
    /// Gives every item of the portal the fields the server computes, as a write would (values
    /// already there, such as a last activity, are kept). One pass over the portal's items.
    pub(super) fn derive_all_item_fields(&mut self) -> Result<(), ApiError> {
        let items = self.all(
            "SELECT entity_type_id, id FROM crm_items WHERE portal_id = ?1",
            &args![self.portal],
            |r| Ok((r.int(0)?, r.int(1)?)),
        )?;
        for (entity_type_id, id) in items {
            if let Some(mut item) = Tx::item(self, entity_type_id, id)? {
                crate::domain::item_derived::backfill(self, &mut item)?;
                Tx::update_item(self, &item)?;
            }
        }
        Ok(())
    }

    /// Mirrors the link rows into the contacts' `companyIds` and the companies' `contactIds`.
    /// One pass over the portal's link rows.
    pub(super) fn mirror_all_contact_companies(&mut self) -> Result<(), ApiError> {
        let links = self.all(
            "SELECT contact_id, company_id FROM crm_contact_companies WHERE portal_id = ?1",
            &args![self.portal],
            |r| Ok((r.int(0)?, r.int(1)?)),
        )?;
        let mut contacts: Vec<i64> = links.iter().map(|l| l.0).collect();
        let mut companies: Vec<i64> = links.iter().map(|l| l.1).collect();
        contacts.sort_unstable();
        contacts.dedup();
        companies.sort_unstable();
        companies.dedup();
        crate::domain::contact_companies::mirror(self, &contacts, &companies)
    }

    /// Gives every contact without links the links its fields name: each company of its
    /// `companyIds` (the mirror an export carries), in order, else the company its `companyId`
    /// names; the `companyId` one (else the first) primary. Contacts written before the links
    /// existed, and imported ones (an export carries the contact's fields, not the link rows).
    /// One pass over the portal's contacts.
    pub(super) fn link_unlinked_contacts(&mut self) -> Result<(), ApiError> {
        let contacts = self.all(
            "SELECT id, extra FROM crm_items WHERE portal_id = ?1 AND entity_type_id = 3",
            &args![self.portal],
            |r| Ok((r.int(0)?, r.text(1)?)),
        )?;
        for (contact, extra) in contacts {
            let extra: Map<String, Value> = serde_json::from_str(&extra).unwrap_or_default();
            let primary = extra
                .get("companyId")
                .and_then(bind_int)
                .filter(|id| *id > 0);
            let mut companies: Vec<i64> = extra
                .get("companyIds")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(bind_int).filter(|id| *id > 0).collect())
                .unwrap_or_default();
            if let Some(primary) = primary {
                if !companies.contains(&primary) {
                    companies.insert(0, primary);
                }
            }
            let Some(&first) = companies.first() else {
                continue;
            };
            let primary = primary.unwrap_or(first);
            let linked = self.opt(
                "SELECT 1 FROM crm_contact_companies WHERE portal_id = ?1 AND contact_id = ?2",
                &args![self.portal, contact],
                |_| Ok(()),
            )?;
            if linked.is_some() {
                continue;
            }
            let mut seen = Vec::new();
            companies.retain(|c| {
                let new = !seen.contains(c);
                seen.push(*c);
                new
            });
            for (i, company) in companies.into_iter().enumerate() {
                self.exec(
                    "INSERT INTO crm_contact_companies (portal_id, contact_id, company_id, sort, is_primary)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    &[
                        Arg::Int(self.portal),
                        Arg::Int(contact),
                        Arg::Int(company),
                        Arg::Int(10 * (i as i64 + 1)),
                        Arg::Bool(company == primary),
                    ],
                )?;
            }
        }
        Ok(())
    }
}
