//! An entry point for the list-filter fuzz target in `fuzz/`: not part of the API.

use super::item::ItemListFields;
use super::listing::{self, Dialect};
use crate::domain::items;
use crate::domain::Permissions;
use crate::store::{ListQuery, Store};
use b24_protocol::PAGE_SIZE;
use serde_json::{Map, Value};

/// Parses `filter` and `order` as `crm.item.list` does and, when they are accepted, runs the page
/// query against `store` as an administrator. Refusals are expected; a panic, or a failure inside
/// the database (returned as `Err`), is a bug.
pub fn item_list(
    store: &Store,
    entity_type_id: i64,
    filter: &Map<String, Value>,
    order: &Map<String, Value>,
) -> Result<(), String> {
    let fields = ItemListFields(entity_type_id, Vec::new(), Vec::new().into());
    let Ok(filter) = listing::parse_filter(filter, &fields, Dialect::D7) else {
        return Ok(());
    };
    let Ok(order) = listing::parse_order(order, &fields, Dialect::D7) else {
        return Ok(());
    };
    let admin = Permissions {
        user_id: 1,
        admin: true,
        ..Permissions::default()
    };
    let query = ListQuery {
        filter,
        order,
        offset: 0,
        limit: PAGE_SIZE,
        count: true,
    };
    store
        .read(crate::store::DEFAULT_PORTAL, |tx| {
            // Domain refusals are fine; only a failure of the store comes back as an error.
            Ok(items::list(tx, &admin, entity_type_id, query).is_ok())
        })
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}
