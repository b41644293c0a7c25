//! CRM object type ids (spec §3): the `entityTypeId` / `OWNER_TYPE_ID` values both sides use.
//!
//! ```
//! use b24_protocol::entity_type::{self, EntityTypeId};
//! assert_eq!(entity_type::DEAL, 2);
//! assert_eq!(EntityTypeId::DEAL, entity_type::DEAL);
//! assert!(EntityTypeId::is_dynamic(entity_type::DYNAMIC_FIRST));
//! assert!(EntityTypeId::is_dynamic(entity_type::DYNAMIC_LAST));
//! assert!(!EntityTypeId::is_dynamic(entity_type::DYNAMIC_LAST + 1));
//! ```

/// Lead.
///
/// ```
/// assert_eq!(b24_protocol::entity_type::LEAD, 1);
/// ```
pub const LEAD: i64 = 1;
/// Deal.
///
/// ```
/// assert_eq!(b24_protocol::entity_type::DEAL, 2);
/// ```
pub const DEAL: i64 = 2;
/// Contact.
///
/// ```
/// assert_eq!(b24_protocol::entity_type::CONTACT, 3);
/// ```
pub const CONTACT: i64 = 3;
/// Company.
///
/// ```
/// assert_eq!(b24_protocol::entity_type::COMPANY, 4);
/// ```
pub const COMPANY: i64 = 4;
/// Quote (estimate).
///
/// ```
/// assert_eq!(b24_protocol::entity_type::QUOTE, 7);
/// ```
pub const QUOTE: i64 = 7;
/// The new (smart) invoice.
///
/// ```
/// assert_eq!(b24_protocol::entity_type::SMART_INVOICE, 31);
/// ```
pub const SMART_INVOICE: i64 = 31;
/// The first smart-process type id; custom types are 128..=191.
///
/// ```
/// assert_eq!(b24_protocol::entity_type::DYNAMIC_FIRST, 128);
/// ```
pub const DYNAMIC_FIRST: i64 = 128;
/// The last smart-process type id.
pub const DYNAMIC_LAST: i64 = 191;

/// Namespace for the CRM object type ids, with the rules about them.
pub struct EntityTypeId;

impl EntityTypeId {
    /// Lead.
    pub const LEAD: i64 = LEAD;
    /// Deal.
    pub const DEAL: i64 = DEAL;
    /// Contact.
    pub const CONTACT: i64 = CONTACT;
    /// Company.
    pub const COMPANY: i64 = COMPANY;
    /// Quote (estimate).
    pub const QUOTE: i64 = QUOTE;
    /// Smart invoice.
    pub const SMART_INVOICE: i64 = SMART_INVOICE;
    /// First smart-process (dynamic) type id.
    pub const DYNAMIC_START: i64 = DYNAMIC_FIRST;
    /// One past the last smart-process type id.
    pub const DYNAMIC_END: i64 = DYNAMIC_LAST + 1;

    /// The built-in types that hold CRM items: the ones `crm.item.*` serves and bindings target.
    pub const STATIC_ITEM_TYPES: [i64; 6] = [
        Self::LEAD,
        Self::DEAL,
        Self::CONTACT,
        Self::COMPANY,
        Self::QUOTE,
        Self::SMART_INVOICE,
    ];

    /// Whether `id` is a built-in item type.
    pub fn is_static_item_type(id: i64) -> bool {
        Self::STATIC_ITEM_TYPES.contains(&id)
    }

    /// Whether `id` is in the smart-process range (the type may or may not exist).
    pub fn is_dynamic(id: i64) -> bool {
        (Self::DYNAMIC_START..Self::DYNAMIC_END).contains(&id)
    }

    /// The legacy upper-case name (`CCrmOwnerType`), used in messages and event names.
    pub fn upper_name(id: i64) -> String {
        match id {
            Self::LEAD => "LEAD".into(),
            Self::DEAL => "DEAL".into(),
            Self::CONTACT => "CONTACT".into(),
            Self::COMPANY => "COMPANY".into(),
            Self::QUOTE => "QUOTE".into(),
            Self::SMART_INVOICE => "SMART_INVOICE".into(),
            other => format!("DYNAMIC_{other}"),
        }
    }

    /// The lower-case name (`--right` options of the server's command line, messages).
    pub fn cli_name(id: i64) -> Option<&'static str> {
        Some(match id {
            Self::LEAD => "lead",
            Self::DEAL => "deal",
            Self::CONTACT => "contact",
            Self::COMPANY => "company",
            Self::QUOTE => "quote",
            Self::SMART_INVOICE => "smart_invoice",
            _ => return None,
        })
    }

    /// Parses `lead|deal|contact|company|quote|smart_invoice|<entityTypeId>`.
    pub fn parse_cli(text: &str) -> Option<i64> {
        let lowered = text.to_ascii_lowercase();
        Self::STATIC_ITEM_TYPES
            .into_iter()
            .find(|&id| Self::cli_name(id) == Some(lowered.as_str()))
            .or_else(|| text.parse().ok().filter(|&id: &i64| id > 0))
    }
}
