//! Pipelines (`crm.category.*` and the older `crm.dealcategory.*`) of deals and smart processes:
//! which types have them, who may change them, and every write. A new pipeline gets its stages
//! in `crm.status` ([`statuses::create_pipeline_stages`]); a pipeline is deleted with its stages,
//! and only when it is not the default one and no item is in it. The deal pipeline 0 always
//! exists. The two method families word the refusals their own way ([`CategoryError`]).

use super::statuses;
use super::{Action, EntityTypeId, Level, Permissions};
use crate::error::ApiError;
use crate::store::categories::CategoryRecord;
use crate::store::{PageOf, Tx};
use serde_json::{Map, Value};

/// Why a pipeline operation was refused.
#[derive(Debug)]
pub enum CategoryError {
    /// `entityTypeId` names no type here.
    TypeNotFound,
    /// The type has no pipelines (leads, contacts, companies, quotes, invoices).
    TypeNotSupported(i64),
    /// No such pipeline.
    NotFound,
    /// The caller may not do this.
    AccessDenied,
    /// `name` is empty.
    NameRequired,
    /// The default pipeline cannot be deleted.
    DefaultNotDeletable {
        /// The pipeline's type.
        entity_type_id: i64,
    },
    /// Items are in the pipeline.
    HasItems {
        /// The pipeline's type.
        entity_type_id: i64,
        /// Its name.
        name: String,
    },
    /// The store failed.
    Store(ApiError),
}

impl From<ApiError> for CategoryError {
    fn from(e: ApiError) -> Self {
        CategoryError::Store(e)
    }
}

/// Checks that a type has pipelines: deals, and every smart process.
pub fn check_type(tx: &mut dyn Tx, entity_type_id: i64) -> Result<(), CategoryError> {
    if entity_type_id == EntityTypeId::DEAL {
        return Ok(());
    }
    if EntityTypeId::is_dynamic(entity_type_id) {
        return match tx.dynamic_type_by_entity_type(entity_type_id)? {
            Some(_) => Ok(()),
            None => Err(CategoryError::TypeNotFound),
        };
    }
    if EntityTypeId::is_static_item_type(entity_type_id) {
        return Err(CategoryError::TypeNotSupported(entity_type_id));
    }
    Err(CategoryError::TypeNotFound)
}

/// Changing pipelines is for CRM administrators.
fn require_admin(permissions: &Permissions) -> Result<(), CategoryError> {
    if permissions.admin {
        Ok(())
    } else {
        Err(CategoryError::AccessDenied)
    }
}

/// Whether the caller may see the type's pipelines (some read right on its items).
fn may_read(permissions: &Permissions, entity_type_id: i64) -> bool {
    permissions.level(entity_type_id, Action::Read) != Level::None
}

/// The caller's `name`, trimmed; `None` when absent.
fn name_of(fields: &Map<String, Value>, key: &str) -> Option<Result<String, CategoryError>> {
    let value = fields.get(key)?;
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    Some(if text.is_empty() {
        Err(CategoryError::NameRequired)
    } else {
        Ok(text)
    })
}

/// A `sort`: negative values become 0, as the docs say.
fn sort_of(fields: &Map<String, Value>, key: &str) -> Option<i64> {
    fields
        .get(key)
        .and_then(b24_protocol::values::bind_int)
        .map(|s| s.max(0))
}

fn yes(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("y") || s == "1" || s == "true",
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

/// The names a caller's fields use: `crm.category.*` camelCase, `crm.dealcategory.*` upper case.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    /// The name's key.
    pub name: &'static str,
    /// The sort's key.
    pub sort: &'static str,
    /// The default flag's key (`None`: not settable).
    pub is_default: Option<&'static str>,
}

/// `crm.category.*` field names.
pub const D7_NAMES: Names = Names {
    name: "name",
    sort: "sort",
    is_default: Some("isDefault"),
};

/// `crm.dealcategory.*` field names.
pub const LEGACY_NAMES: Names = Names {
    name: "NAME",
    sort: "SORT",
    is_default: None,
};

/// Makes `id` the type's only default pipeline (smart processes; a deal's default is fixed).
fn make_default(tx: &mut dyn Tx, entity_type_id: i64, id: i64) -> Result<(), ApiError> {
    for mut other in all(tx, entity_type_id)? {
        if other.is_default && other.id != id {
            other.is_default = false;
            tx.update_category(&other)?;
        }
    }
    Ok(())
}

/// Every pipeline of a type by `sort`, then `id` (pipelines are few; the real service answers
/// them all at once too).
pub fn all(tx: &mut dyn Tx, entity_type_id: i64) -> Result<Vec<CategoryRecord>, ApiError> {
    Ok(tx.categories(entity_type_id, 0, u64::MAX >> 1, false)?.rows)
}

/// `crm.category.add`: a new pipeline with its stages; administrators only.
pub fn add(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
    fields: &Map<String, Value>,
    names: Names,
) -> Result<CategoryRecord, CategoryError> {
    check_type(tx, entity_type_id)?;
    require_admin(permissions)?;
    let name = name_of(fields, names.name).unwrap_or(Err(CategoryError::NameRequired))?;
    let is_default = entity_type_id != EntityTypeId::DEAL
        && names.is_default.is_some_and(|key| yes(fields.get(key)));
    let record = CategoryRecord {
        entity_type_id,
        id: tx.next_id("crm_category")?,
        name,
        sort: sort_of(fields, names.sort).unwrap_or(statuses::DEFAULT_CATEGORY_SORT),
        is_default,
        created: tx.now_iso(),
    };
    tx.insert_category(&record)?;
    if is_default {
        make_default(tx, entity_type_id, record.id)?;
    }
    statuses::create_pipeline_stages(tx, entity_type_id, record.id)?;
    Ok(record)
}

/// `crm.category.get`: a pipeline the caller may see.
pub fn get(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
    id: i64,
) -> Result<CategoryRecord, CategoryError> {
    check_type(tx, entity_type_id)?;
    let category = tx
        .category(entity_type_id, id)?
        .ok_or(CategoryError::NotFound)?;
    if !may_read(permissions, entity_type_id) {
        return Err(CategoryError::AccessDenied);
    }
    Ok(category)
}

/// `crm.category.list`: the pipelines of a type the caller may see (none without a read right
/// on its items).
pub fn list(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
) -> Result<PageOf<CategoryRecord>, CategoryError> {
    check_type(tx, entity_type_id)?;
    let rows = if may_read(permissions, entity_type_id) {
        all(tx, entity_type_id)?
    } else {
        Vec::new()
    };
    let total = Some(rows.len() as u64);
    Ok(PageOf { rows, total })
}

/// `crm.category.update`: name, sort and (smart processes) the default flag; administrators
/// only. The default pipeline stays the default; another one made default takes its place.
pub fn update(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
    id: i64,
    fields: &Map<String, Value>,
    names: Names,
) -> Result<CategoryRecord, CategoryError> {
    check_type(tx, entity_type_id)?;
    let mut category = tx
        .category(entity_type_id, id)?
        .ok_or(CategoryError::NotFound)?;
    require_admin(permissions)?;
    if let Some(name) = name_of(fields, names.name) {
        category.name = name?;
    }
    if let Some(sort) = sort_of(fields, names.sort) {
        category.sort = sort;
    }
    let make_it_default = entity_type_id != EntityTypeId::DEAL
        && !category.is_default
        && names.is_default.is_some_and(|key| yes(fields.get(key)));
    if make_it_default {
        category.is_default = true;
    }
    tx.update_category(&category)?;
    if make_it_default {
        make_default(tx, entity_type_id, id)?;
    }
    Ok(category)
}

/// `crm.category.delete`: a pipeline that is not the default one and holds no items, with its
/// stages; administrators only.
pub fn delete(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
    id: i64,
) -> Result<(), CategoryError> {
    check_type(tx, entity_type_id)?;
    let category = tx
        .category(entity_type_id, id)?
        .ok_or(CategoryError::NotFound)?;
    require_admin(permissions)?;
    if category.is_default {
        return Err(CategoryError::DefaultNotDeletable { entity_type_id });
    }
    if statuses::category_in_use(tx, entity_type_id, id)? {
        return Err(CategoryError::HasItems {
            entity_type_id,
            name: category.name,
        });
    }
    tx.delete_category(entity_type_id, id)?;
    statuses::delete_pipeline_stages(tx, entity_type_id, id)?;
    Ok(())
}

/// `crm.dealcategory.default.set`: renames the default deal pipeline; administrators only.
pub fn rename_default_deal_category(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    name: &str,
) -> Result<(), CategoryError> {
    require_admin(permissions)?;
    let mut category = tx
        .category(EntityTypeId::DEAL, 0)?
        .ok_or(CategoryError::NotFound)?;
    let name = name.trim();
    if name.is_empty() {
        return Err(CategoryError::NameRequired);
    }
    category.name = name.to_string();
    tx.update_category(&category)?;
    Ok(())
}
