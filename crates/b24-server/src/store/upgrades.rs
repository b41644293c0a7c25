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

    /// Gives every contact without links whose `companyId` names a company its primary link:
    /// contacts written before the links existed, and imported ones (an export carries the
    /// contact's field, not the link rows). One pass over the portal's contacts.
    pub(super) fn link_unlinked_contacts(&mut self) -> Result<(), ApiError> {
        let contacts = self.all(
            "SELECT id, extra FROM crm_items WHERE portal_id = ?1 AND entity_type_id = 3",
            &args![self.portal],
            |r| Ok((r.int(0)?, r.text(1)?)),
        )?;
        for (contact, extra) in contacts {
            let extra: Map<String, Value> = serde_json::from_str(&extra).unwrap_or_default();
            let Some(company) = extra
                .get("companyId")
                .and_then(bind_int)
                .filter(|id| *id > 0)
            else {
                continue;
            };
            self.exec(
                "INSERT INTO crm_contact_companies (portal_id, contact_id, company_id, sort, is_primary)
                 SELECT ?1, ?2, ?3, 10, ?4
                 WHERE NOT EXISTS (
                     SELECT 1 FROM crm_contact_companies WHERE portal_id = ?1 AND contact_id = ?2)",
                &[
                    Arg::Int(self.portal),
                    Arg::Int(contact),
                    Arg::Int(company),
                    Arg::Bool(true),
                ],
            )?;
        }
        Ok(())
    }
}
