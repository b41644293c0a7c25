//! Typed methods, one module per family: each is a struct of its parameters (serialised with
//! serde, in the method's own parameter names) implementing [`Method`](crate::Method). The
//! facades ([`Client::crm`](crate::Client::crm), [`Client::server_time`](crate::Client::server_time))
//! call them; [`Batch`](crate::Batch) accepts them too.
//!
//! ```no_run
//! use b24_client::methods::binding;
//! # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
//! let bindings = client.execute(&binding::List { activity_id: 7 }).await?;
//! # Ok(()) }
//! ```

pub mod activity;
pub mod binding;
pub mod item;
pub mod system;

mod de;

/// CRM object type ids (spec §3), for `entityTypeId` / `OWNER_TYPE_ID` parameters; defined in
/// `b24-protocol`, shared with the server.
///
/// ```
/// assert_eq!(b24_client::methods::entity_type::DEAL, 2);
/// assert_eq!(b24_client::methods::entity_type::LEAD, 1);
/// assert_eq!(b24_client::methods::entity_type::CONTACT, 3);
/// assert_eq!(b24_client::methods::entity_type::COMPANY, 4);
/// assert_eq!(b24_client::methods::entity_type::QUOTE, 7);
/// assert_eq!(b24_client::methods::entity_type::SMART_INVOICE, 31);
/// assert_eq!(b24_client::methods::entity_type::DYNAMIC_FIRST, 128);
/// ```
pub mod entity_type {
    pub use b24_protocol::entity_type::{
        COMPANY, CONTACT, DEAL, DYNAMIC_FIRST, DYNAMIC_LAST, LEAD, QUOTE, SMART_INVOICE,
    };
}
