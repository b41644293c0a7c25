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
    "userfieldconfig",
];

/// Every scope code a portal knows: what `scope` with `full=true` lists (spec §7.4, §12). The
/// union of the official PHP SDK's list of scope codes a portal may return (`Scope::$availableScope`)
/// and the docs' scope reference (`api-reference/scopes/permissions.md`), in code order. Only
/// [`KNOWN_SCOPES`] can be granted here; the rest name modules this server does not serve.
pub const PORTAL_SCOPES: &[&str] = &[
    "ai_admin",
    "appform",
    "baas",
    "biconnector",
    "bizproc",
    "booking",
    "calendar",
    "calendarmobile",
    "call",
    "cashbox",
    "catalog",
    "catalogmobile",
    "configuration.import",
    "contact_center",
    "crm",
    "delivery",
    "department",
    "disk",
    "documentgenerator",
    "entity",
    "faceid",
    "forum",
    "humanresources.hcmlink",
    "iblock",
    "im",
    "im.import",
    "imbot",
    "imconnector",
    "imopenlines",
    "intranet",
    "landing",
    "landing_cloud",
    "lists",
    "log",
    "mailservice",
    "messageservice",
    "mobile",
    "notifications",
    "pay_system",
    "placement",
    "pull",
    "pull_channel",
    "rating",
    "rpa",
    "sale",
    "salescenter",
    "sign.b2e",
    "smile",
    "socialnetwork",
    "sonet_group",
    "task",
    "tasks",
    "tasks_extended",
    "tasksmobile",
    "telephony",
    "timeman",
    "user",
    "user.userfield",
    "user_basic",
    "user_brief",
    "userconsent",
    "userfieldconfig",
    "vote",
];

/// Parameters that carry credentials; the server removes them before a method sees its
/// parameters, and a batch command does not pass them on.
pub const RESERVED_PARAMS: &[&str] = &["auth", "access_token", "aplogin", "ap", "auth_connector"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grantable_scope_is_a_portal_scope_and_the_list_is_sorted_without_repeats() {
        assert!(KNOWN_SCOPES.iter().all(|s| PORTAL_SCOPES.contains(s)));
        assert!(PORTAL_SCOPES.windows(2).all(|w| w[0] < w[1]));
    }
}
