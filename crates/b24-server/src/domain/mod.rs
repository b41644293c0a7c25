//! Domain rules that do not depend on HTTP or on the storage engine: CRM object types,
//! permissions and the binding rules.

pub mod access;
pub mod activities;
pub mod binding;
pub mod changes;
pub mod entity_type;
pub mod item_fields;
pub mod items;
pub mod permissions;
pub mod values;

pub use entity_type::EntityTypeId;
pub use permissions::{Action, Level, Permissions};

/// One link between an activity and a CRM item; identity is the pair, compared as integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Binding {
    /// The CRM object type (spec §3).
    pub entity_type_id: i64,
    /// The item's id within its type.
    pub entity_id: i64,
}

impl Binding {
    /// Builds a pair.
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

/// The activity's owner recomputed from its bindings, as `CCrmActivity::Update` does (spec §2.1):
/// one binding is the owner; with several, the last one that is not a contact or company, else
/// the first; none gives `0/0`.
pub fn owner_from_bindings(bindings: &[Binding]) -> Binding {
    match bindings {
        [] => Binding::new(0, 0),
        [only] => *only,
        all => all
            .iter()
            .rev()
            .find(|b| {
                b.entity_type_id != EntityTypeId::CONTACT
                    && b.entity_type_id != EntityTypeId::COMPANY
            })
            .copied()
            .unwrap_or(all[0]),
    }
}

/// The most bindings one activity may have (spec §12).
pub const MAX_BINDINGS_PER_ACTIVITY: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_the_last_binding_that_is_not_a_contact_or_company() {
        let b = |t, i| Binding::new(t, i);
        assert_eq!(owner_from_bindings(&[]), b(0, 0));
        assert_eq!(owner_from_bindings(&[b(3, 1)]), b(3, 1));
        assert_eq!(owner_from_bindings(&[b(2, 1), b(1, 5), b(3, 7)]), b(1, 5));
        assert_eq!(owner_from_bindings(&[b(3, 1), b(4, 2)]), b(3, 1));
    }
}
