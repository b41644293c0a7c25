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

/// CRM object type ids (spec §3), for `entityTypeId` / `OWNER_TYPE_ID` parameters.
///
/// ```
/// assert_eq!(b24_client::methods::entity_type::DEAL, 2);
/// ```
pub mod entity_type {
    /// Lead.
    ///
    /// ```
    /// assert_eq!(b24_client::methods::entity_type::LEAD, 1);
    /// ```
    pub const LEAD: i64 = 1;
    /// Deal.
    ///
    /// ```
    /// assert_eq!(b24_client::methods::entity_type::DEAL, 2);
    /// ```
    pub const DEAL: i64 = 2;
    /// Contact.
    ///
    /// ```
    /// assert_eq!(b24_client::methods::entity_type::CONTACT, 3);
    /// ```
    pub const CONTACT: i64 = 3;
    /// Company.
    ///
    /// ```
    /// assert_eq!(b24_client::methods::entity_type::COMPANY, 4);
    /// ```
    pub const COMPANY: i64 = 4;
    /// Quote (estimate).
    ///
    /// ```
    /// assert_eq!(b24_client::methods::entity_type::QUOTE, 7);
    /// ```
    pub const QUOTE: i64 = 7;
    /// The new (smart) invoice.
    ///
    /// ```
    /// assert_eq!(b24_client::methods::entity_type::SMART_INVOICE, 31);
    /// ```
    pub const SMART_INVOICE: i64 = 31;
    /// The first smart-process type id; custom types are 128..=191.
    ///
    /// ```
    /// assert_eq!(b24_client::methods::entity_type::DYNAMIC_FIRST, 128);
    /// ```
    pub const DYNAMIC_FIRST: i64 = 128;
}
