//! Storage of pipelines (`crm.category.*`, `crm.dealcategory.*`) of deals and smart processes.
//! Rules live in [`crate::domain::categories`].

use super::driver::{args, SqlRow};
use super::sql::SqlTx;
use super::PageOf;
use crate::error::ApiError;

/// One pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRecord {
    /// The item type it belongs to.
    pub entity_type_id: i64,
    /// `id` (0 for the default deal pipeline).
    pub id: i64,
    /// `name`.
    pub name: String,
    /// `sort`.
    pub sort: i64,
    /// `isDefault`.
    pub is_default: bool,
    /// When it was created, ISO-8601 (`CREATED_DATE` of `crm.dealcategory.*`).
    pub created: String,
}

/// Reads and writes of pipelines.
pub trait CategoryTx {
    /// A pipeline of a type.
    fn category(
        &mut self,
        entity_type_id: i64,
        id: i64,
    ) -> Result<Option<CategoryRecord>, ApiError>;
    /// A page of a type's pipelines by `sort`, then `id`.
    fn categories(
        &mut self,
        entity_type_id: i64,
        offset: u64,
        limit: u64,
        count: bool,
    ) -> Result<PageOf<CategoryRecord>, ApiError>;
    /// Stores a pipeline under its own `id`.
    fn insert_category(&mut self, record: &CategoryRecord) -> Result<(), ApiError>;
    /// Rewrites `name`, `sort` and `isDefault`.
    fn update_category(&mut self, record: &CategoryRecord) -> Result<(), ApiError>;
    /// Deletes a pipeline.
    fn delete_category(&mut self, entity_type_id: i64, id: i64) -> Result<bool, ApiError>;
    /// Deletes every pipeline of a type (a deleted smart process).
    fn delete_categories_of(&mut self, entity_type_id: i64) -> Result<u64, ApiError>;
}

const COLUMNS: &str = "entity_type_id, id, name, sort, is_default, created";

fn category_from_row(r: &dyn SqlRow) -> Result<CategoryRecord, ApiError> {
    Ok(CategoryRecord {
        entity_type_id: r.int(0)?,
        id: r.int(1)?,
        name: r.text(2)?,
        sort: r.int(3)?,
        is_default: r.bool(4)?,
        created: r.text(5)?,
    })
}

impl CategoryTx for SqlTx<'_> {
    fn category(
        &mut self,
        entity_type_id: i64,
        id: i64,
    ) -> Result<Option<CategoryRecord>, ApiError> {
        self.opt(
            &format!(
                "SELECT {COLUMNS} FROM crm_categories
                 WHERE portal_id = ?1 AND entity_type_id = ?2 AND id = ?3"
            ),
            &args![self.portal, entity_type_id, id],
            category_from_row,
        )
    }

    fn categories(
        &mut self,
        entity_type_id: i64,
        offset: u64,
        limit: u64,
        count: bool,
    ) -> Result<PageOf<CategoryRecord>, ApiError> {
        let total = if count {
            let n = self
                .opt(
                    "SELECT COUNT(*) FROM crm_categories WHERE portal_id = ?1 AND entity_type_id = ?2",
                    &args![self.portal, entity_type_id],
                    |r| r.int(0),
                )?
                .unwrap_or(0);
            Some(n.max(0) as u64)
        } else {
            None
        };
        let rows = self.all(
            &format!(
                "SELECT {COLUMNS} FROM crm_categories WHERE portal_id = ?1 AND entity_type_id = ?2
                 ORDER BY sort, id LIMIT {limit} OFFSET {offset}"
            ),
            &args![self.portal, entity_type_id],
            category_from_row,
        )?;
        Ok(PageOf { rows, total })
    }

    fn insert_category(&mut self, c: &CategoryRecord) -> Result<(), ApiError> {
        self.exec(
            &format!(
                "INSERT INTO crm_categories (portal_id, {COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ),
            &args![
                self.portal,
                c.entity_type_id,
                c.id,
                c.name.as_str(),
                c.sort,
                c.is_default,
                c.created.as_str()
            ],
        )?;
        Ok(())
    }

    fn update_category(&mut self, c: &CategoryRecord) -> Result<(), ApiError> {
        self.exec(
            "UPDATE crm_categories SET name = ?4, sort = ?5, is_default = ?6
             WHERE portal_id = ?1 AND entity_type_id = ?2 AND id = ?3",
            &args![
                self.portal,
                c.entity_type_id,
                c.id,
                c.name.as_str(),
                c.sort,
                c.is_default
            ],
        )?;
        Ok(())
    }

    fn delete_category(&mut self, entity_type_id: i64, id: i64) -> Result<bool, ApiError> {
        let n = self.exec(
            "DELETE FROM crm_categories WHERE portal_id = ?1 AND entity_type_id = ?2 AND id = ?3",
            &args![self.portal, entity_type_id, id],
        )?;
        Ok(n > 0)
    }

    fn delete_categories_of(&mut self, entity_type_id: i64) -> Result<u64, ApiError> {
        self.exec(
            "DELETE FROM crm_categories WHERE portal_id = ?1 AND entity_type_id = ?2",
            &args![self.portal, entity_type_id],
        )
    }
}
