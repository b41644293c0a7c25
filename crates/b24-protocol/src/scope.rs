//! Permission scopes (spec §7.4) and the parameters that carry credentials (spec §1.2).

/// Scopes a webhook or application may be granted. `crm` is the one the CRM methods need.
pub const KNOWN_SCOPES: &[&str] = &[
    "crm",
    "user",
    "user_brief",
    "user_basic",
    "department",
    "task",
    "im",
    "disk",
    "entity",
    "placement",
    "bizproc",
    "calendar",
    "telephony",
    "catalog",
    "sale",
    "lists",
];

/// Parameters that carry credentials; the server removes them before a method sees its
/// parameters, and a batch command does not pass them on.
pub const RESERVED_PARAMS: &[&str] = &["auth", "access_token", "aplogin", "ap", "auth_connector"];
