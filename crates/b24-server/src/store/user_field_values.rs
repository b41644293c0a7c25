//! The index of CRM user-field values (`crm_uf_values`): one row per value of a `UF_CRM_*`
//! field of an item, written from the item's `extra` JSON whenever the item is written. The
//! item keeps its values under `uf:{field id}` keys (a JSON number or text, or an array of them
//! for a multiple field), which is what reads return; these rows are what a filter or an order
//! on a user field runs on (spec §12.U "CRM user fields"):
//!
//! - `(portal, field, num_value | text_value, item)` indexes: a filter on a user field is an
//!   `id IN (SELECT item_id …)` over one field's rows in value order, never a scan of the items;
//! - the primary key `(portal, item type, item, field, position)`: an item's rows go with it.
//!
//! Numbers (integers, doubles, yes/no as 1 / 0, enumeration and user ids) land in `num_value`,
//! text (strings, dates as sortable ISO-8601, `D_10`-style CRM links, money) in `text_value`.

use super::driver::args;
use super::sql::SqlTx;
use crate::error::ApiError;
use serde_json::{Map, Value};

/// The prefix of the `extra` keys that hold user-field values.
pub const VALUE_KEY_PREFIX: &str = "uf:";

/// The `extra` key of a user field's value.
pub fn value_key(field_id: i64) -> String {
    format!("{VALUE_KEY_PREFIX}{field_id}")
}

/// Writes that are not about one item.
pub trait UserFieldValueTx {
    /// Deletes every value of a field (the field is being deleted): served by the field's
    /// value indexes, whatever the number of items.
    fn delete_user_field_values(&mut self, field_id: i64) -> Result<u64, ApiError>;
}

impl UserFieldValueTx for SqlTx<'_> {
    fn delete_user_field_values(&mut self, field_id: i64) -> Result<u64, ApiError> {
        self.exec(
            "DELETE FROM crm_uf_values WHERE portal_id = ?1 AND field_id = ?2",
            &args![self.portal, field_id],
        )
    }
}

impl SqlTx<'_> {
    /// Rewrites one item's value rows from its `extra`; `None` for a deleted item. `replace`
    /// deletes the item's old rows first (an update or a delete; a new item has none).
    pub(super) fn index_user_field_values(
        &mut self,
        entity_type_id: i64,
        id: i64,
        extra: Option<&Map<String, Value>>,
        replace: bool,
    ) -> Result<(), ApiError> {
        if replace {
            self.exec(
                "DELETE FROM crm_uf_values
                 WHERE portal_id = ?1 AND entity_type_id = ?2 AND item_id = ?3",
                &args![self.portal, entity_type_id, id],
            )?;
        }
        let Some(extra) = extra else {
            return Ok(());
        };
        for (key, value) in extra {
            let Some(field_id) = key
                .strip_prefix(VALUE_KEY_PREFIX)
                .and_then(|f| f.parse::<i64>().ok())
            else {
                continue;
            };
            let values: &[Value] = match value {
                Value::Array(values) => values,
                single => std::slice::from_ref(single),
            };
            for (position, value) in values.iter().enumerate() {
                let (num, text) = match value {
                    Value::Number(n) => (n.as_f64().unwrap_or(0.0), String::new()),
                    Value::String(s) if !s.is_empty() => (0.0, s.clone()),
                    Value::Bool(b) => (f64::from(u8::from(*b)), String::new()),
                    _ => continue,
                };
                self.exec(
                    "INSERT INTO crm_uf_values (portal_id, entity_type_id, item_id, field_id,
                         position, num_value, text_value)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    &args![
                        self.portal,
                        entity_type_id,
                        id,
                        field_id,
                        position as i64,
                        num,
                        text.as_str()
                    ],
                )?;
            }
        }
        Ok(())
    }

    /// Rebuilds the portal's rows from its items (after an import, which writes item rows
    /// directly): one pass over the items.
    pub(super) fn reindex_all_user_field_values(&mut self) -> Result<(), ApiError> {
        self.exec(
            "DELETE FROM crm_uf_values WHERE portal_id = ?1",
            &args![self.portal],
        )?;
        let items = self.all(
            "SELECT entity_type_id, id, extra FROM crm_items WHERE portal_id = ?1",
            &args![self.portal],
            |r| Ok((r.int(0)?, r.int(1)?, r.text(2)?)),
        )?;
        for (entity_type_id, id, extra) in items {
            let extra: Map<String, Value> = serde_json::from_str(&extra).unwrap_or_default();
            self.index_user_field_values(entity_type_id, id, Some(&extra), false)?;
        }
        Ok(())
    }
}
