//! Storage of the items' phones and e-mails, normalised (`crm_communications`), for
//! `crm.duplicate.findbycomm`. The rows are derived from the `PHONE` / `EMAIL` multi-fields of
//! leads, contacts and companies and rewritten by every item write in the same transaction
//! (`SqlTx::index_communications`, called from the item statements), so a look-up is one
//! primary-key range per value and never a scan of the items.

use super::driver::{args, Arg};
use super::sql::SqlTx;
use crate::domain::duplicates::{communications_of, CommunicationKind};
use crate::error::ApiError;
use b24_protocol::Binding;
use serde_json::{Map, Value};

/// The duplicate look-up.
pub trait CommunicationTx {
    /// The items (of `entity_type_ids`) that have a communication of `kind` whose normalised
    /// value is one of `values`, by type and id.
    fn items_with_communications(
        &mut self,
        kind: CommunicationKind,
        values: &[String],
        entity_type_ids: &[i64],
    ) -> Result<Vec<Binding>, ApiError>;
}

impl CommunicationTx for SqlTx<'_> {
    fn items_with_communications(
        &mut self,
        kind: CommunicationKind,
        values: &[String],
        entity_type_ids: &[i64],
    ) -> Result<Vec<Binding>, ApiError> {
        let mut found = Vec::new();
        for value in values {
            for &entity_type_id in entity_type_ids {
                let ids = self.all(
                    "SELECT entity_id FROM crm_communications
                     WHERE portal_id = ?1 AND kind = ?2 AND value = ?3 AND entity_type_id = ?4
                     ORDER BY entity_id",
                    &args![self.portal, kind.as_str(), value.as_str(), entity_type_id],
                    |r| r.int(0),
                )?;
                found.extend(ids.into_iter().map(|id| Binding::new(entity_type_id, id)));
            }
        }
        found.sort_by_key(|b| (b.entity_type_id, b.entity_id));
        found.dedup();
        Ok(found)
    }
}

impl SqlTx<'_> {
    /// Rebuilds the whole portal's communications from its items (after an import, which writes
    /// item rows directly): one pass over the leads, contacts and companies.
    pub(super) fn reindex_all_communications(&mut self) -> Result<(), ApiError> {
        self.exec(
            "DELETE FROM crm_communications WHERE portal_id = ?1",
            &args![self.portal],
        )?;
        let items = self.all(
            "SELECT entity_type_id, id, extra FROM crm_items
             WHERE portal_id = ?1 AND entity_type_id IN (1, 3, 4)",
            &args![self.portal],
            |r| Ok((r.int(0)?, r.int(1)?, r.text(2)?)),
        )?;
        for (entity_type_id, id, extra) in items {
            let extra: Map<String, Value> = serde_json::from_str(&extra).unwrap_or_default();
            self.index_communications(entity_type_id, id, Some(&extra))?;
        }
        Ok(())
    }

    /// Rewrites the communications of one item from its stored fields (`extra`); `None` for a
    /// deleted item. Items without phones or e-mails cost one index probe.
    pub(super) fn index_communications(
        &mut self,
        entity_type_id: i64,
        id: i64,
        extra: Option<&Map<String, Value>>,
    ) -> Result<(), ApiError> {
        let Some(entries) = communications_of(entity_type_id, extra) else {
            return Ok(());
        };
        self.exec(
            "DELETE FROM crm_communications
             WHERE portal_id = ?1 AND entity_type_id = ?2 AND entity_id = ?3",
            &args![self.portal, entity_type_id, id],
        )?;
        for (kind, value) in entries {
            self.exec(
                "INSERT INTO crm_communications (portal_id, kind, value, entity_type_id, entity_id)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (portal_id, kind, value, entity_type_id, entity_id) DO NOTHING",
                &[
                    Arg::Int(self.portal),
                    Arg::Text(kind.as_str()),
                    Arg::Text(&value),
                    Arg::Int(entity_type_id),
                    Arg::Int(id),
                ],
            )?;
        }
        Ok(())
    }
}
