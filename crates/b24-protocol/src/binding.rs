//! An activity binding: the CRM item an activity is linked to (spec §2).

use serde::{Deserialize, Serialize};

/// One link between an activity and a CRM item, by type and id; identity is the pair, compared
/// as integers. Its JSON form is `{"entityTypeId": …, "entityId": …}`.
///
/// ```
/// use b24_protocol::Binding;
/// let deal_15 = Binding::new(2, 15);
/// assert_eq!(deal_15.entity_type_id, 2);
/// let b = Binding::new(3, 9);
/// assert_eq!((b.entity_type_id, b.entity_id), (3, 9));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    /// The CRM object type (see [`entity_type`](crate::entity_type)).
    pub entity_type_id: i64,
    /// The item's id within its type.
    pub entity_id: i64,
}

impl Binding {
    /// The item `entity_id` of type `entity_type_id`.
    pub const fn new(entity_type_id: i64, entity_id: i64) -> Self {
        Self {
            entity_type_id,
            entity_id,
        }
    }

    /// Its JSON form in `crm.activity.binding.list`.
    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({"entityTypeId": self.entity_type_id, "entityId": self.entity_id})
    }
}
