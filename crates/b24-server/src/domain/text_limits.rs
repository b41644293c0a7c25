//! How long a text value may be (spec §14): one table of the real service's column sizes, read
//! from the crm module's `install/db/mysql/install.sql`, and one cap for free text the table does
//! not name. A value over its limit refuses the whole call (spec §12); nothing is truncated.
//!
//! `VARCHAR(n)` columns count characters (MySQL `utf8mb4` counts code points, as `str::chars`
//! does); `TEXT` columns count bytes (65,535 of them); `LONGTEXT` is capped here at 1 MiB.

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Unicode code points (MySQL `VARCHAR(n)` in `utf8mb4`).
    Chars,
    /// UTF-8 bytes (MySQL `TEXT`).
    Bytes,
}

/// The most a text value may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLimit {
    /// The largest allowed length.
    pub max: usize,
    /// What the length counts.
    pub unit: Unit,
}

impl TextLimit {
    /// A `VARCHAR(n)` column.
    pub const fn chars(max: usize) -> TextLimit {
        TextLimit {
            max,
            unit: Unit::Chars,
        }
    }

    /// A column measured in bytes.
    pub const fn bytes(max: usize) -> TextLimit {
        TextLimit {
            max,
            unit: Unit::Bytes,
        }
    }

    /// Whether `value` fits.
    pub fn allows(&self, value: &str) -> bool {
        match self.unit {
            // Cheap first: a string of at most `max` bytes has at most `max` characters.
            Unit::Chars => value.len() <= self.max || value.chars().count() <= self.max,
            Unit::Bytes => value.len() <= self.max,
        }
    }

    /// `at most 255 characters` / `at most 65535 bytes`.
    pub fn describe(&self) -> String {
        let unit = match self.unit {
            Unit::Chars => "characters",
            Unit::Bytes => "bytes",
        };
        format!("at most {} {unit}", self.max)
    }

    /// The refusal for a field over this limit: `The value of the field "TITLE" is too long (at
    /// most 255 characters)`. The legacy methods add a final full stop, as their other messages.
    pub fn message(&self, field: &str) -> String {
        format!(
            "The value of the field \"{field}\" is too long ({})",
            self.describe()
        )
    }
}

/// MySQL `TEXT`: the cap for free text the table does not name (`COMMENTS`, `SETTINGS`, …).
pub const FREE_TEXT: TextLimit = TextLimit::bytes(65_535);

/// `LONGTEXT` columns (an activity's `DESCRIPTION`): 4 GiB in the service, 1 MiB here, so that a
/// 50-row page stays bounded (spec §12).
pub const LONG_TEXT: TextLimit = TextLimit::bytes(1_048_576);

/// Which record a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// CRM items (`crm.item.*` and the legacy entity methods), by legacy UPPER_CASE name.
    Item,
    /// One entry of an item's `PHONE` / `EMAIL` / `WEB` / `IM` (`b_crm_field_multi`).
    Multifield,
    /// Activities (`crm.activity.*`, to-dos: `title` is `SUBJECT`, `description` `DESCRIPTION`).
    Activity,
    /// One entry of an activity's `COMMUNICATIONS` (`b_crm_act_comm`).
    Communication,
    /// Smart-process types (`crm.type.*`, `b_crm_dynamic_type`).
    DynamicType,
    /// Entries of the offline event queue (`event.offline.*`, `b_rest_event_offline`).
    OfflineEvent,
}

use Record::*;

/// Every named limit: (record, field, limit). Fields of a record not listed here get
/// [`FREE_TEXT`]. Sources: spec §14.
pub static LIMITS: &[(Record, &str, TextLimit)] = &[
    (Item, "TITLE", TextLimit::chars(255)),
    (Item, "NAME", TextLimit::chars(50)),
    (Item, "SECOND_NAME", TextLimit::chars(50)),
    (Item, "LAST_NAME", TextLimit::chars(50)),
    (Item, "POST", TextLimit::chars(255)),
    (Item, "COMPANY_TITLE", TextLimit::chars(255)),
    (Item, "COMPANY_TYPE", TextLimit::chars(50)),
    (Item, "INDUSTRY", TextLimit::chars(50)),
    (Item, "EMPLOYEES", TextLimit::chars(50)),
    (Item, "TYPE_ID", TextLimit::chars(50)),
    (Item, "STAGE_ID", TextLimit::chars(50)),
    (Item, "STATUS_ID", TextLimit::chars(50)),
    (Item, "CURRENCY_ID", TextLimit::chars(50)),
    (Item, "SOURCE_ID", TextLimit::chars(50)),
    (Item, "COMMENTS", FREE_TEXT),
    (Item, "SOURCE_DESCRIPTION", FREE_TEXT),
    (Multifield, "VALUE", TextLimit::chars(250)),
    (Multifield, "VALUE_TYPE", TextLimit::chars(50)),
    (Activity, "SUBJECT", TextLimit::chars(512)),
    (Activity, "DESCRIPTION", LONG_TEXT),
    (Activity, "LOCATION", TextLimit::chars(256)),
    (Activity, "ORIGIN_ID", TextLimit::chars(255)),
    (Activity, "ORIGINATOR_ID", TextLimit::chars(255)),
    (Activity, "SETTINGS", FREE_TEXT),
    (Communication, "VALUE", TextLimit::chars(256)),
    (Communication, "TYPE", TextLimit::chars(64)),
    (DynamicType, "title", TextLimit::chars(255)),
    (OfflineEvent, "PROCESS_ID", TextLimit::chars(255)),
];

/// The limit of a field (by its name in the table, ignoring case); [`FREE_TEXT`] when unnamed.
pub fn limit(record: Record, field: &str) -> TextLimit {
    LIMITS
        .iter()
        .find(|(r, name, _)| *r == record && name.eq_ignore_ascii_case(field))
        .map(|(_, _, limit)| *limit)
        .unwrap_or(FREE_TEXT)
}

/// `Err(limit)` when `value` does not fit the field's limit.
pub fn check(record: Record, field: &str, value: &str) -> Result<(), TextLimit> {
    let limit = limit(record, field);
    if limit.allows(value) {
        Ok(())
    } else {
        Err(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_are_counted_as_code_points_and_text_as_bytes() {
        let title = limit(Item, "title");
        assert!(title.allows(&"é".repeat(255)), "510 bytes, 255 characters");
        assert!(!title.allows(&"é".repeat(256)));
        assert!(FREE_TEXT.allows(&"a".repeat(65_535)));
        assert!(!FREE_TEXT.allows(&"é".repeat(32_768)), "65,536 bytes");
    }

    #[test]
    fn unnamed_fields_get_the_free_text_cap_and_names_are_unique() {
        assert_eq!(limit(Item, "SOMETHING_NEW"), FREE_TEXT);
        for (i, (r, n, _)) in LIMITS.iter().enumerate() {
            assert!(
                !LIMITS[..i].iter().any(|(r2, n2, _)| r2 == r && n2 == n),
                "{n} twice"
            );
        }
    }
}
