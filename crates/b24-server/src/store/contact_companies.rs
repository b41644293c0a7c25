//! Storage of the links between contacts and companies (`crm.contact.company.*`,
//! `crm.company.contact.*`): one row per link, the only record of it. Served from both ends:
//! the primary key starts with the contact, an index with the company. Rules live in
//! [`crate::domain::contact_companies`].

use super::driver::{args, SqlRow};
use super::sql::SqlTx;
use crate::error::ApiError;

/// One contact–company link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactCompanyRecord {
    /// The contact.
    pub contact_id: i64,
    /// The company.
    pub company_id: i64,
    /// `SORT`.
    pub sort: i64,
    /// `IS_PRIMARY`: the contact's primary company (at most one per contact).
    pub primary: bool,
}

/// Reads and writes of contact–company links.
pub trait ContactCompanyTx {
    /// A contact's links, the primary one first, then by `SORT`.
    fn companies_of_contact(
        &mut self,
        contact_id: i64,
    ) -> Result<Vec<ContactCompanyRecord>, ApiError>;
    /// A company's links by `SORT` (served by the company index).
    fn contacts_of_company(
        &mut self,
        company_id: i64,
    ) -> Result<Vec<ContactCompanyRecord>, ApiError>;
    /// Writes a link, replacing the row of the same pair.
    fn put_contact_company(&mut self, link: &ContactCompanyRecord) -> Result<(), ApiError>;
    /// Removes a link; whether there was one.
    fn delete_contact_company(
        &mut self,
        contact_id: i64,
        company_id: i64,
    ) -> Result<bool, ApiError>;
}

const COLUMNS: &str = "contact_id, company_id, sort, is_primary";

fn decode(r: &dyn SqlRow) -> Result<ContactCompanyRecord, ApiError> {
    Ok(ContactCompanyRecord {
        contact_id: r.int(0)?,
        company_id: r.int(1)?,
        sort: r.int(2)?,
        primary: r.bool(3)?,
    })
}

impl ContactCompanyTx for SqlTx<'_> {
    fn companies_of_contact(
        &mut self,
        contact_id: i64,
    ) -> Result<Vec<ContactCompanyRecord>, ApiError> {
        self.all(
            &format!(
                "SELECT {COLUMNS} FROM crm_contact_companies
                 WHERE portal_id = ?1 AND contact_id = ?2
                 ORDER BY is_primary DESC, sort, company_id"
            ),
            &args![self.portal, contact_id],
            decode,
        )
    }

    fn contacts_of_company(
        &mut self,
        company_id: i64,
    ) -> Result<Vec<ContactCompanyRecord>, ApiError> {
        self.all(
            &format!(
                "SELECT {COLUMNS} FROM crm_contact_companies
                 WHERE portal_id = ?1 AND company_id = ?2
                 ORDER BY sort, contact_id"
            ),
            &args![self.portal, company_id],
            decode,
        )
    }

    fn put_contact_company(&mut self, l: &ContactCompanyRecord) -> Result<(), ApiError> {
        self.delete_contact_company(l.contact_id, l.company_id)?;
        self.exec(
            &format!(
                "INSERT INTO crm_contact_companies (portal_id, {COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5)"
            ),
            &args![self.portal, l.contact_id, l.company_id, l.sort, l.primary],
        )?;
        Ok(())
    }

    fn delete_contact_company(
        &mut self,
        contact_id: i64,
        company_id: i64,
    ) -> Result<bool, ApiError> {
        let n = self.exec(
            "DELETE FROM crm_contact_companies
             WHERE portal_id = ?1 AND contact_id = ?2 AND company_id = ?3",
            &args![self.portal, contact_id, company_id],
        )?;
        Ok(n > 0)
    }
}
