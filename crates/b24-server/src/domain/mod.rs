//! Domain rules that do not depend on HTTP or on the storage engine: CRM object types,
//! permissions and the binding rules.

pub mod access;
pub mod activities;
pub mod activity_types;
pub mod apps;
pub mod binding;
pub mod categories;
pub mod changes;
pub mod contact_companies;
pub mod disk;
pub mod duplicates;
pub mod dynamic_types;
pub mod entity_type;
pub mod events;
pub mod item_derived;
pub mod item_fields;
pub mod items;
pub mod permissions;
pub mod product_rows;
pub mod products;
pub mod relations;
pub mod requisites;
pub mod stage_history;
pub mod statuses;
pub mod tasks;
pub mod text_limits;
pub mod timeline;
pub mod todo;
pub mod user_fields;
pub mod users;
pub mod values;

pub use entity_type::EntityTypeId;
pub use permissions::{Action, Level, Permissions};

/// One link between an activity and a CRM item (defined in `b24-protocol`, shared with the
/// client).
pub use b24_protocol::Binding;

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
