//! CRM object type ids (spec §3).

/// Namespace for the CRM object type ids this server knows.
pub struct EntityTypeId;

impl EntityTypeId {
    /// Lead.
    pub const LEAD: i64 = 1;
    /// Deal.
    pub const DEAL: i64 = 2;
    /// Contact.
    pub const CONTACT: i64 = 3;
    /// Company.
    pub const COMPANY: i64 = 4;
    /// Quote (estimate).
    pub const QUOTE: i64 = 7;
    /// Smart invoice.
    pub const SMART_INVOICE: i64 = 31;
    /// First smart-process (dynamic) type id.
    pub const DYNAMIC_START: i64 = 128;
    /// One past the last smart-process type id.
    pub const DYNAMIC_END: i64 = 192;

    /// The built-in types that hold CRM items here: the ones `crm.item.*` serves and bindings target.
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

    /// The name used in `--right` options and messages.
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
