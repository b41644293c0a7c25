//! `crm.activity.binding.*` (spec §2): the CRM items an activity is linked to. Errors come back as
//! HTTP 400 with the codes of spec §2.6 (`NOT_FOUND`, `ACCESS_DENIED`, `BINDING_NOT_FOUND`,
//! `LAST_BINDING_CANNOT_BE_DELETED`, …).
//!
//! ```no_run
//! # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
//! use b24_client::methods::binding::{Add, List};
//! client.execute(&Add { activity_id: 7, entity_type_id: 3, entity_id: 1 }).await?;
//! let bindings = client.execute(&List { activity_id: 7 }).await?;
//! # Ok(()) }
//! ```

use crate::client::Method;
use serde::Serialize;

/// One binding: a CRM item, by type and id (defined in `b24-protocol`, shared with the server).
///
/// ```
/// use b24_client::methods::binding::Binding;
/// let deal_15 = Binding::new(2, 15);
/// assert_eq!(deal_15.entity_type_id, 2);
/// let b = b24_client::methods::binding::Binding::new(3, 9);
/// assert_eq!((b.entity_type_id, b.entity_id), (3, 9));
/// ```
pub use b24_protocol::Binding;

/// `crm.activity.binding.list`: the bindings the caller may read, in storage order.
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let bindings = client.execute(&b24_client::methods::binding::List { activity_id: 7 }).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct List {
    /// The activity.
    pub activity_id: i64,
}

impl Method for List {
    type Output = Vec<Binding>;
    const NAME: &'static str = "crm.activity.binding.list";
}

/// `crm.activity.binding.add`: links the activity to one more item; `true` on success.
///
/// ```no_run
/// use b24_client::methods::binding::Add;
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// client.execute(&Add { activity_id: 7, entity_type_id: 2, entity_id: 15 }).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Add {
    /// The activity.
    pub activity_id: i64,
    /// The item's type.
    pub entity_type_id: i64,
    /// The item's id.
    pub entity_id: i64,
}

impl Method for Add {
    type Output = bool;
    const NAME: &'static str = "crm.activity.binding.add";
}

/// `crm.activity.binding.delete`: unlinks the activity from an item; the last binding cannot
/// be removed.
///
/// ```no_run
/// use b24_client::methods::binding::Delete;
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// client.execute(&Delete { activity_id: 7, entity_type_id: 2, entity_id: 15 }).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delete {
    /// The activity.
    pub activity_id: i64,
    /// The item's type.
    pub entity_type_id: i64,
    /// The item's id.
    pub entity_id: i64,
}

impl Method for Delete {
    type Output = bool;
    const NAME: &'static str = "crm.activity.binding.delete";
}

/// `crm.activity.binding.move`: replaces one binding by another of the same type.
///
/// ```no_run
/// use b24_client::methods::binding::Move;
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// client.execute(&Move {
///     activity_id: 7,
///     source_entity_type_id: 2, source_entity_id: 15,
///     target_entity_type_id: 2, target_entity_id: 16,
/// }).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Move {
    /// The activity.
    pub activity_id: i64,
    /// The type of the item it leaves.
    pub source_entity_type_id: i64,
    /// The id of the item it leaves.
    pub source_entity_id: i64,
    /// The type of the item it moves to (must equal the source's).
    pub target_entity_type_id: i64,
    /// The id of the item it moves to.
    pub target_entity_id: i64,
}

impl Method for Move {
    type Output = bool;
    const NAME: &'static str = "crm.activity.binding.move";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::method_params;
    use serde_json::json;

    #[test]
    fn parameters_use_the_exact_camel_case_names() {
        let params = method_params(&Move {
            activity_id: 1,
            source_entity_type_id: 2,
            source_entity_id: 3,
            target_entity_type_id: 2,
            target_entity_id: 4,
        })
        .unwrap();
        assert_eq!(
            params,
            json!({"activityId": 1, "sourceEntityTypeId": 2, "sourceEntityId": 3,
                   "targetEntityTypeId": 2, "targetEntityId": 4})
        );
    }
}
