//! The fields of CRM items, once for both dialects: `crm.item.*` (camelCase names, real JSON
//! numbers) and the legacy `crm.deal/contact/company/lead.*` (UPPER_CASE names, string values).
//!
//! Each field says which entity types have it, how a caller's value is checked and normalised,
//! where it is stored (a typed column or a key of the `extra` JSON) and how it is described by
//! the `*.fields` methods.

use super::values::{parse_date, parse_datetime_utc};
use super::EntityTypeId;
use crate::error::ApiError;
use crate::store::{Column, ItemRecord, SqlValue, Tx};
use b24_protocol::values::bind_int;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// How a field's values are checked, stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// An integer.
    Integer,
    /// A user id (an integer).
    User,
    /// A decimal amount.
    Double,
    /// Text.
    Text,
    /// `Y` / `N`.
    YesNo,
    /// A date-time, stored in UTC.
    DateTime,
    /// A date, stored as its midnight UTC.
    Date,
    /// A list of ids.
    IntegerList,
    /// Phones, e-mails, web sites, messengers: `[{ID, VALUE, VALUE_TYPE}]`, shown by the legacy
    /// methods only (`crm.item.*` keeps them out of its answers, as the service does).
    Multifield,
    /// A file (a contact's photo, a company's logo): stored as the id of a disk file, taken
    /// by [`super::items`] from an upload and shown by [`ItemContext`].
    File,
}

/// One field of CRM items.
#[derive(Debug)]
pub struct ItemField {
    /// The `crm.item.*` name.
    pub name: &'static str,
    /// The legacy name.
    pub legacy: &'static str,
    /// Its kind.
    pub kind: FieldKind,
    /// The `type` shown by `*.fields`.
    pub wire_type: &'static str,
    /// The `title` shown by `*.fields`.
    pub title: &'static str,
    /// Which entity types have it ([`types`] bits).
    pub types: u8,
    /// Where it is stored.
    pub column: Column,
    /// Set by the server, never by the caller (`isReadOnly`).
    pub read_only: bool,
    /// Computed by the server although `*.fields` calls it writable, as the service does for a
    /// deal's `CLOSED` (it follows the stage): a caller's value is ignored.
    pub computed: bool,
    /// `isRequired`; enforced in groups (see [`required_groups`]; spec §12.F).
    pub required: bool,
    /// Taken from the caller although `*.fields` calls it read-only, as the service does for a
    /// deal's `QUOTE_ID` and `LEAD_ID` (set on conversion, but `crm.item.add` takes them): the
    /// item it names must exist.
    pub settable: bool,
    /// `isImmutable`.
    pub immutable: bool,
    /// `isDeprecated: true` in the descriptor.
    pub deprecated: bool,
    /// The dictionary a `crm_status` field takes its values from (`statusType`); `Some("")`
    /// for the stage dictionary of the type's default pipeline, known only at call time.
    pub status_type: Option<&'static str>,
    /// The value a new item gets when the caller gives none, as JSON text.
    pub default: Option<&'static str>,
}

/// Bits for [`ItemField::types`].
pub mod types {
    /// Leads.
    pub const LEAD: u8 = 1;
    /// Deals.
    pub const DEAL: u8 = 2;
    /// Contacts.
    pub const CONTACT: u8 = 4;
    /// Companies.
    pub const COMPANY: u8 = 8;
    /// Quotes.
    pub const QUOTE: u8 = 16;
    /// Smart invoices.
    pub const SMART_INVOICE: u8 = 32;
    /// Smart processes.
    pub const DYNAMIC: u8 = 64;
    /// Every type.
    pub const ALL: u8 = 127;
    /// Types with an amount and a client.
    pub const SALES: u8 = LEAD | DEAL | QUOTE | SMART_INVOICE | DYNAMIC;
    /// Types with stages.
    pub const STAGED: u8 = DEAL | QUOTE | SMART_INVOICE | DYNAMIC;
    /// Types with pipelines.
    pub const CATEGORIZED: u8 = DEAL | SMART_INVOICE | DYNAMIC;
    /// Types that describe a person.
    pub const PERSON: u8 = LEAD | CONTACT;
    /// Types with phones, e-mails and addresses.
    pub const CLIENT: u8 = LEAD | CONTACT | COMPANY;
    /// The types the legacy `crm.deal/lead/contact/company.*` methods serve.
    pub const LEGACY: u8 = LEAD | DEAL | CONTACT | COMPANY;
    /// The types only `crm.item.*` serves.
    pub const D7_ONLY: u8 = QUOTE | SMART_INVOICE | DYNAMIC;
}

/// A field kept in the item's `extra` JSON under its `crm.item` name.
const fn field(
    name: &'static str,
    legacy: &'static str,
    kind: FieldKind,
    wire_type: &'static str,
    title: &'static str,
    types: u8,
) -> ItemField {
    stored(name, legacy, kind, wire_type, title, types, Extra(name))
}

const fn stored(
    name: &'static str,
    legacy: &'static str,
    kind: FieldKind,
    wire_type: &'static str,
    title: &'static str,
    types: u8,
    column: Column,
) -> ItemField {
    ItemField {
        name,
        legacy,
        kind,
        wire_type,
        title,
        types,
        column,
        read_only: false,
        computed: false,
        required: false,
        settable: false,
        immutable: false,
        deprecated: false,
        status_type: None,
        default: None,
    }
}

/// A text field.
const fn text(
    name: &'static str,
    legacy: &'static str,
    title: &'static str,
    types: u8,
) -> ItemField {
    field(name, legacy, Text, "string", title, types)
}

/// A `Y` / `N` field.
const fn flag(
    name: &'static str,
    legacy: &'static str,
    title: &'static str,
    types: u8,
) -> ItemField {
    field(name, legacy, YesNo, "char", title, types)
}

/// A dictionary field.
const fn status(
    name: &'static str,
    legacy: &'static str,
    title: &'static str,
    types: u8,
    dictionary: &'static str,
) -> ItemField {
    let mut f = field(name, legacy, Text, "crm_status", title, types);
    f.status_type = Some(dictionary);
    f
}

const fn read_only(mut f: ItemField) -> ItemField {
    f.read_only = true;
    f
}

const fn computed(mut f: ItemField) -> ItemField {
    f.computed = true;
    f
}

const fn settable(mut f: ItemField) -> ItemField {
    f.settable = true;
    f
}

const fn required(mut f: ItemField) -> ItemField {
    f.required = true;
    f
}

const fn immutable(mut f: ItemField) -> ItemField {
    f.immutable = true;
    f
}

const fn deprecated(mut f: ItemField) -> ItemField {
    f.deprecated = true;
    f
}

const fn with_default(mut f: ItemField, default: &'static str) -> ItemField {
    f.default = Some(default);
    f
}

use types::*;
use Column::{Extra, Plain};
use FieldKind::*;

/// Every item field, in the order answers show them. A name may appear more than once for
/// disjoint sets of types where the service describes it differently (title, flags,
/// dictionary); the field lists are those of the `crm.*.fields` pages (spec §12, "CRM field
/// catalogues").
pub static FIELDS: &[ItemField] = &[
    read_only(stored(
        "id",
        "ID",
        Integer,
        "integer",
        "ID",
        ALL,
        Plain("id"),
    )),
    stored(
        "title",
        "TITLE",
        Text,
        "string",
        "Title",
        DEAL | D7_ONLY,
        Plain("title"),
    ),
    stored(
        "title",
        "TITLE",
        Text,
        "string",
        "Lead Title",
        LEAD,
        Plain("title"),
    ),
    required(stored(
        "title",
        "TITLE",
        Text,
        "string",
        "Company Name",
        COMPANY,
        Plain("title"),
    )),
    status("honorific", "HONORIFIC", "Salutation", PERSON, "HONORIFIC"),
    field("name", "NAME", Text, "string", "First Name", LEAD),
    required(field("name", "NAME", Text, "string", "First Name", CONTACT)),
    field(
        "secondName",
        "SECOND_NAME",
        Text,
        "string",
        "Middle Name",
        LEAD,
    ),
    required(field(
        "secondName",
        "SECOND_NAME",
        Text,
        "string",
        "Middle Name",
        CONTACT,
    )),
    field("lastName", "LAST_NAME", Text, "string", "Last Name", LEAD),
    required(field(
        "lastName",
        "LAST_NAME",
        Text,
        "string",
        "Last Name",
        CONTACT,
    )),
    field("photo", "PHOTO", File, "file", "Photo", CONTACT),
    field("logo", "LOGO", File, "file", "Logo", COMPANY),
    field("birthdate", "BIRTHDATE", Date, "date", "Birthdate", PERSON),
    text("companyTitle", "COMPANY_TITLE", "Company Name", LEAD),
    status(
        "companyType",
        "COMPANY_TYPE",
        "Company Type",
        COMPANY,
        "COMPANY_TYPE",
    ),
    status("typeId", "TYPE_ID", "Type", DEAL, "DEAL_TYPE"),
    status("typeId", "TYPE_ID", "Contact Type", CONTACT, "CONTACT_TYPE"),
    with_default(
        immutable(field(
            "categoryId",
            "CATEGORY_ID",
            Integer,
            "crm_category",
            "Sales Funnel",
            DEAL,
        )),
        "0",
    ),
    with_default(
        field(
            "categoryId",
            "CATEGORY_ID",
            Integer,
            "crm_category",
            "Pipeline",
            SMART_INVOICE | DYNAMIC,
        ),
        "0",
    ),
    with_default(
        status("stageId", "STAGE_ID", "Deal Stage", DEAL, ""),
        "\"NEW\"",
    ),
    with_default(
        status("stageId", "STAGE_ID", "Stage", D7_ONLY, ""),
        "\"NEW\"",
    ),
    read_only(status(
        "previousStageId",
        "PREVIOUS_STAGE_ID",
        "Previous stage",
        D7_ONLY,
        "",
    )),
    read_only(text(
        "stageSemanticId",
        "STAGE_SEMANTIC_ID",
        "Stage Group",
        DEAL,
    )),
    with_default(
        status("statusId", "STATUS_ID", "Stage", LEAD, "STATUS"),
        "\"NEW\"",
    ),
    text(
        "statusDescription",
        "STATUS_DESCRIPTION",
        "Stage Description",
        LEAD,
    ),
    read_only(text(
        "statusSemanticId",
        "STATUS_SEMANTIC_ID",
        "Status Semantic",
        LEAD,
    )),
    read_only(flag("isNew", "IS_NEW", "New Deal", DEAL)),
    with_default(
        flag("isRecurring", "IS_RECURRING", "Recurring Deal", DEAL),
        "\"N\"",
    ),
    with_default(
        flag(
            "isReturnCustomer",
            "IS_RETURN_CUSTOMER",
            "Repeat Deal",
            DEAL,
        ),
        "\"N\"",
    ),
    with_default(
        read_only(flag(
            "isReturnCustomer",
            "IS_RETURN_CUSTOMER",
            "Returning Lead",
            LEAD,
        )),
        "\"N\"",
    ),
    with_default(
        flag(
            "isRepeatedApproach",
            "IS_REPEATED_APPROACH",
            "Repeated Approach",
            DEAL,
        ),
        "\"N\"",
    ),
    field(
        "probability",
        "PROBABILITY",
        Integer,
        "integer",
        "Probability",
        DEAL,
    ),
    with_default(
        field(
            "currencyId",
            "CURRENCY_ID",
            Text,
            "crm_currency",
            "Currency",
            SALES | COMPANY,
        ),
        "\"USD\"",
    ),
    with_default(
        field(
            "opportunity",
            "OPPORTUNITY",
            Double,
            "double",
            "Amount",
            SALES,
        ),
        "0",
    ),
    with_default(
        flag(
            "isManualOpportunity",
            "IS_MANUAL_OPPORTUNITY",
            "IS_MANUAL_OPPORTUNITY",
            SALES,
        ),
        "\"N\"",
    ),
    with_default(
        field(
            "taxValue",
            "TAX_VALUE",
            Double,
            "double",
            "Tax Rate",
            STAGED,
        ),
        "0",
    ),
    field(
        "revenue",
        "REVENUE",
        Double,
        "double",
        "Annual Revenue",
        COMPANY,
    ),
    status("industry", "INDUSTRY", "Industry", COMPANY, "INDUSTRY"),
    status(
        "employees",
        "EMPLOYEES",
        "Number of Employees",
        COMPANY,
        "EMPLOYEES",
    ),
    field(
        "companyId",
        "COMPANY_ID",
        Integer,
        "crm_company",
        "Company",
        SALES,
    ),
    deprecated(field(
        "companyId",
        "COMPANY_ID",
        Integer,
        "crm_company",
        "Company",
        CONTACT,
    )),
    deprecated(field(
        "contactId",
        "CONTACT_ID",
        Integer,
        "crm_contact",
        "Contact",
        SALES,
    )),
    field(
        "contactIds",
        "CONTACT_IDS",
        IntegerList,
        "crm_contact",
        "Contacts",
        SALES,
    ),
    // A contact's companies and a company's contacts mirror the link rows
    // (`crm_contact_companies`); a caller's list replaces the links.
    field(
        "companyIds",
        "COMPANY_IDS",
        IntegerList,
        "crm_company",
        "COMPANY_IDS",
        CONTACT,
    ),
    field(
        "contactIds",
        "CONTACT_ID",
        IntegerList,
        "crm_contact",
        "Contact",
        COMPANY,
    ),
    field(
        "mycompanyId",
        "MYCOMPANY_ID",
        Integer,
        "crm_company",
        "Your company details",
        D7_ONLY,
    ),
    settable(read_only(field(
        "quoteId",
        "QUOTE_ID",
        Integer,
        "crm_quote",
        "Estimate",
        DEAL,
    ))),
    settable(read_only(field(
        "leadId",
        "LEAD_ID",
        Integer,
        "crm_lead",
        "Lead",
        DEAL | CONTACT | COMPANY,
    ))),
    field("begindate", "BEGINDATE", Date, "date", "Start Date", STAGED),
    field("closedate", "CLOSEDATE", Date, "date", "Close Date", STAGED),
    with_default(
        flag("opened", "OPENED", "Available to All", ALL & !COMPANY),
        "\"Y\"",
    ),
    with_default(
        flag("opened", "OPENED", "Available to Everyone", COMPANY),
        "\"Y\"",
    ),
    with_default(computed(flag("closed", "CLOSED", "Closed", DEAL)), "\"N\""),
    with_default(
        flag(
            "export",
            "EXPORT",
            "Participates in Contact Export",
            CONTACT,
        ),
        "\"Y\"",
    ),
    text("comments", "COMMENTS", "Comment", ALL),
    status(
        "sourceId",
        "SOURCE_ID",
        "Source",
        LEAD | DEAL | CONTACT | COMPANY | DYNAMIC,
        "SOURCE",
    ),
    text(
        "sourceDescription",
        "SOURCE_DESCRIPTION",
        "Additional Info about Source",
        LEAD | DEAL | CONTACT | COMPANY | DYNAMIC,
    ),
    text("post", "POST", "Position", PERSON),
    text("address", "ADDRESS", "Address", PERSON),
    text("address", "ADDRESS", "Physical Address", COMPANY),
    text("address2", "ADDRESS_2", "Address (Line 2)", CLIENT),
    text("addressCity", "ADDRESS_CITY", "City", CLIENT),
    text(
        "addressPostalCode",
        "ADDRESS_POSTAL_CODE",
        "Postal Code",
        CLIENT,
    ),
    text("addressRegion", "ADDRESS_REGION", "Region", CLIENT),
    text("addressProvince", "ADDRESS_PROVINCE", "Province", CLIENT),
    text("addressCountry", "ADDRESS_COUNTRY", "Country", CLIENT),
    text(
        "addressCountryCode",
        "ADDRESS_COUNTRY_CODE",
        "Country Code",
        CLIENT,
    ),
    field(
        "addressLocAddrId",
        "ADDRESS_LOC_ADDR_ID",
        Integer,
        "integer",
        "Location Address ID",
        CLIENT,
    ),
    text("addressLegal", "ADDRESS_LEGAL", "Legal Address", COMPANY),
    text("regAddress", "REG_ADDRESS", "Legal Address", COMPANY),
    text(
        "regAddress2",
        "REG_ADDRESS_2",
        "Legal Address (line 2)",
        COMPANY,
    ),
    text(
        "regAddressCity",
        "REG_ADDRESS_CITY",
        "Legal Address City",
        COMPANY,
    ),
    text(
        "regAddressPostalCode",
        "REG_ADDRESS_POSTAL_CODE",
        "Legal Address Postal Code",
        COMPANY,
    ),
    text(
        "regAddressRegion",
        "REG_ADDRESS_REGION",
        "Legal Address Region",
        COMPANY,
    ),
    text(
        "regAddressProvince",
        "REG_ADDRESS_PROVINCE",
        "Legal Address Province",
        COMPANY,
    ),
    text(
        "regAddressCountry",
        "REG_ADDRESS_COUNTRY",
        "Legal Address Country",
        COMPANY,
    ),
    text(
        "regAddressCountryCode",
        "REG_ADDRESS_COUNTRY_CODE",
        "Legal Address Country Code",
        COMPANY,
    ),
    field(
        "regAddressLocAddrId",
        "REG_ADDRESS_LOC_ADDR_ID",
        Integer,
        "integer",
        "Legal Address Location ID",
        COMPANY,
    ),
    text(
        "bankingDetails",
        "BANKING_DETAILS",
        "Banking Details",
        COMPANY,
    ),
    with_default(
        flag("isMyCompany", "IS_MY_COMPANY", "My Company", COMPANY),
        "\"N\"",
    ),
    with_default(
        read_only(flag("hasPhone", "HAS_PHONE", "Phone Set", CLIENT)),
        "\"N\"",
    ),
    with_default(
        read_only(flag("hasEmail", "HAS_EMAIL", "E-mail Set", CLIENT)),
        "\"N\"",
    ),
    with_default(
        read_only(flag("hasImol", "HAS_IMOL", "Open Line Set", CLIENT)),
        "\"N\"",
    ),
    text(
        "additionalInfo",
        "ADDITIONAL_INFO",
        "Additional Information",
        DEAL,
    ),
    field(
        "locationId",
        "LOCATION_ID",
        Text,
        "location",
        "Location",
        DEAL,
    ),
    text("xmlId", "XML_ID", "External code", D7_ONLY),
    field(
        "webformId",
        "WEBFORM_ID",
        Integer,
        "integer",
        "Created by CRM form",
        D7_ONLY,
    ),
    field(
        "observers",
        "OBSERVERS",
        IntegerList,
        "user",
        "Observers",
        SMART_INVOICE | DYNAMIC,
    ),
    text("originatorId", "ORIGINATOR_ID", "External Source", LEGACY),
    text(
        "originId",
        "ORIGIN_ID",
        "Identifier in External Source",
        LEGACY,
    ),
    text(
        "originVersion",
        "ORIGIN_VERSION",
        "Original Version",
        CONTACT | COMPANY,
    ),
    text("utmSource", "UTM_SOURCE", "Advertising System", LEGACY),
    text("utmMedium", "UTM_MEDIUM", "Traffic Type", LEGACY),
    text("utmCampaign", "UTM_CAMPAIGN", "Campaign Identifier", LEGACY),
    text("utmContent", "UTM_CONTENT", "Campaign Content", LEGACY),
    text("utmTerm", "UTM_TERM", "Campaign Search Condition", LEGACY),
    stored(
        "phone",
        "PHONE",
        Multifield,
        "crm_multifield",
        "Phone",
        CLIENT,
        Extra("PHONE"),
    ),
    stored(
        "email",
        "EMAIL",
        Multifield,
        "crm_multifield",
        "E-mail",
        CLIENT,
        Extra("EMAIL"),
    ),
    stored(
        "web",
        "WEB",
        Multifield,
        "crm_multifield",
        "Website",
        CLIENT,
        Extra("WEB"),
    ),
    stored(
        "im",
        "IM",
        Multifield,
        "crm_multifield",
        "Messenger",
        CLIENT,
        Extra("IM"),
    ),
    stored(
        "link",
        "LINK",
        Multifield,
        "crm_multifield",
        "LINK",
        CLIENT,
        Extra("LINK"),
    ),
    stored(
        "assignedById",
        "ASSIGNED_BY_ID",
        User,
        "user",
        "Responsible",
        ALL,
        Plain("assigned_by_id"),
    ),
    read_only(stored(
        "createdBy",
        "CREATED_BY_ID",
        User,
        "user",
        "Created By",
        ALL,
        Plain("created_by"),
    )),
    read_only(stored(
        "updatedBy",
        "MODIFY_BY_ID",
        User,
        "user",
        "Modified By",
        ALL,
        Plain("updated_by"),
    )),
    read_only(field(
        "movedBy",
        "MOVED_BY_ID",
        User,
        "user",
        "MOVED_BY_ID",
        LEAD | STAGED,
    )),
    read_only(stored(
        "createdTime",
        "DATE_CREATE",
        DateTime,
        "datetime",
        "Creation Date",
        ALL,
        Plain("created_time"),
    )),
    read_only(stored(
        "updatedTime",
        "DATE_MODIFY",
        DateTime,
        "datetime",
        "Modification Date",
        ALL,
        Plain("updated_time"),
    )),
    read_only(field(
        "movedTime",
        "MOVED_TIME",
        DateTime,
        "datetime",
        "MOVED_TIME",
        LEAD | STAGED,
    )),
    read_only(field(
        "dateClosed",
        "DATE_CLOSED",
        DateTime,
        "datetime",
        "Closing Date",
        LEAD,
    )),
    read_only(field(
        "lastActivityTime",
        "LAST_ACTIVITY_TIME",
        DateTime,
        "datetime",
        "LAST_ACTIVITY_TIME",
        ALL,
    )),
    read_only(field(
        "lastActivityBy",
        "LAST_ACTIVITY_BY",
        User,
        "user",
        "LAST_ACTIVITY_BY",
        ALL,
    )),
    read_only(field(
        "lastCommunicationTime",
        "LAST_COMMUNICATION_TIME",
        DateTime,
        "string",
        "Last Communication Date",
        CONTACT | COMPANY,
    )),
];

/// The [`types`] bit of an entity type; 0 for a type that holds no items.
pub fn type_bit(entity_type_id: i64) -> u8 {
    match entity_type_id {
        EntityTypeId::LEAD => LEAD,
        EntityTypeId::DEAL => DEAL,
        EntityTypeId::CONTACT => CONTACT,
        EntityTypeId::COMPANY => COMPANY,
        EntityTypeId::QUOTE => QUOTE,
        EntityTypeId::SMART_INVOICE => SMART_INVOICE,
        id if EntityTypeId::is_dynamic(id) => DYNAMIC,
        _ => 0,
    }
}

/// The fields items of a type have, in answer order.
pub fn fields_of(entity_type_id: i64) -> impl Iterator<Item = &'static ItemField> {
    let bit = type_bit(entity_type_id);
    FIELDS.iter().filter(move |f| f.types & bit != 0)
}

/// The fields `crm.item.*` shows for a type (all but the legacy multi-fields).
pub fn crm_item_fields_of(entity_type_id: i64) -> impl Iterator<Item = &'static ItemField> {
    fields_of(entity_type_id).filter(|f| f.kind != Multifield)
}

/// A field of the type by either of its names, ignoring case (`ID`, `id`, `assignedById`,
/// `ASSIGNED_BY_ID`).
pub fn find(entity_type_id: i64, key: &str) -> Option<&'static ItemField> {
    fields_of(entity_type_id)
        .find(|f| f.name.eq_ignore_ascii_case(key) || f.legacy.eq_ignore_ascii_case(key))
}

/// The parent type a parent field's name names: `parentId{N}` (`crm.item.*`) or
/// `PARENT_ID_{N}` (legacy), in any case.
pub fn parent_key(key: &str) -> Option<i64> {
    let lower = key.to_ascii_lowercase();
    let digits = lower
        .strip_prefix("parentid")
        .or_else(|| lower.strip_prefix("parent_id_"))?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

/// The field holding an item's parent of type `parent` (`parentId{N}` / `PARENT_ID_{N}`, spec
/// §12, "CRM field catalogues"): an integer kept in `extra` under its `crm.item` name. Made once
/// per parent type and kept for the process's life (at most one per type that holds items, so
/// a bounded few), as every other field is static.
pub fn parent_field(parent: i64) -> Option<&'static ItemField> {
    use std::sync::{Mutex, OnceLock};
    static MADE: OnceLock<Mutex<HashMap<i64, &'static ItemField>>> = OnceLock::new();
    if type_bit(parent) == 0 {
        return None;
    }
    let mut made = MADE
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    Some(*made.entry(parent).or_insert_with(|| {
        let name: &'static str = Box::leak(format!("parentId{parent}").into_boxed_str());
        let legacy: &'static str = Box::leak(format!("PARENT_ID_{parent}").into_boxed_str());
        Box::leak(Box::new(stored(
            name,
            legacy,
            Integer,
            "crm_entity",
            "",
            ALL,
            Extra(name),
        )))
    }))
}

/// A field of the type by either name, its parent fields (`parents`: the parent types the
/// type's relations give it) included.
pub fn find_in(entity_type_id: i64, key: &str, parents: &[i64]) -> Option<&'static ItemField> {
    find(entity_type_id, key).or_else(|| {
        parent_key(key)
            .filter(|p| parents.contains(p))
            .and_then(parent_field)
    })
}

/// The required fields of a type (`isRequired`) in groups, each of which an item must fill:
/// a contact's names are one group (one of them is enough, as the service's rule for a
/// person's name), every other required field is a group of its own.
pub fn required_groups(entity_type_id: i64) -> Vec<Vec<&'static ItemField>> {
    let required = fields_of(entity_type_id).filter(|f| f.required);
    if entity_type_id == EntityTypeId::CONTACT {
        let names: Vec<&'static ItemField> = required.collect();
        return if names.is_empty() {
            Vec::new()
        } else {
            vec![names]
        };
    }
    required.map(|f| vec![f]).collect()
}

/// The refusal of an empty group of required fields, in the words of the service's
/// `CRM_FIELD_ERROR_REQUIRED` (`The "Company Name" field is required`); a group's titles are
/// joined with "or".
pub fn required_message(group: &[&ItemField]) -> String {
    let titles: Vec<String> = group.iter().map(|f| format!("\"{}\"", f.title)).collect();
    format!("The {} field is required", titles.join(" or "))
}

/// Whether the item leaves a field empty (unset, blank text or an empty list).
pub fn is_empty(item: &ItemRecord, field: &ItemField) -> bool {
    match read(item, field) {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// A caller's value, checked and normalised for storage; `None` when it is not acceptable.
/// `Value::Null` means "no value".
pub fn normalise(field: &ItemField, value: &Value) -> Option<Value> {
    let blank =
        matches!(value, Value::Null) || matches!(value, Value::String(s) if s.trim().is_empty());
    Some(match field.kind {
        Text => match value {
            Value::String(s) => Value::String(s.clone()),
            Value::Number(n) => Value::String(n.to_string()),
            Value::Null => Value::Null,
            _ => return None,
        },
        _ if blank && !matches!(field.kind, IntegerList | Multifield) => Value::Null,
        Integer | User => json!(bind_int(value)?),
        Double => match value {
            Value::Number(n) => Value::Number(n.clone()),
            Value::String(s) => json!(s.trim().parse::<f64>().ok().filter(|f| f.is_finite())?),
            _ => return None,
        },
        YesNo => match value {
            Value::Bool(b) => json!(if *b { "Y" } else { "N" }),
            Value::String(s) if s.eq_ignore_ascii_case("y") || s == "1" || s == "true" => {
                json!("Y")
            }
            Value::String(s) if s.eq_ignore_ascii_case("n") || s == "0" || s == "false" => {
                json!("N")
            }
            _ => return None,
        },
        DateTime => json!(parse_datetime_utc(value.as_str()?)?),
        Date => json!(parse_date(value.as_str()?)?),
        Multifield => multifield_changes(value)?,
        File => value.clone(),
        IntegerList => {
            let items: Vec<&Value> = match value {
                Value::Array(a) => a.iter().collect(),
                Value::Object(o) => o.values().collect(),
                Value::Null => Vec::new(),
                Value::String(s) if s.is_empty() => Vec::new(),
                other => vec![other],
            };
            json!(items
                .into_iter()
                .map(bind_int)
                .collect::<Option<Vec<i64>>>()?)
        }
    })
}

/// A caller's multi-field entries as a list of changes `{ID?, VALUE, VALUE_TYPE, DELETE}`;
/// entries without a value and without an id are dropped. See [`merge_multifield`].
fn multifield_changes(value: &Value) -> Option<Value> {
    let entries: Vec<&Value> = match value {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => o.values().collect(),
        Value::Null => Vec::new(),
        Value::String(s) if s.is_empty() => Vec::new(),
        _ => return None,
    };
    let mut changes = Vec::new();
    for entry in entries {
        let Value::Object(e) = entry else { return None };
        let text = |k: &str| match e.get(k) {
            Some(Value::String(s)) => Some(Some(s.trim().to_string())),
            Some(Value::Number(n)) => Some(Some(n.to_string())),
            None | Some(Value::Null) => Some(None),
            Some(_) => None,
        };
        let value = text("VALUE")?.unwrap_or_default();
        let value_type = text("VALUE_TYPE")?.filter(|t| !t.is_empty());
        let id = e.get("ID").and_then(bind_int);
        let delete = e.get("DELETE").and_then(Value::as_str) == Some("Y");
        if id.is_none() && value.is_empty() {
            continue;
        }
        changes.push(json!({"ID": id, "VALUE": value, "VALUE_TYPE": value_type, "DELETE": delete}));
    }
    Some(Value::Array(changes))
}

/// Applies multi-field changes to the stored list, as the legacy methods do: an entry with a
/// known `ID` is changed (or removed with `DELETE: "Y"`, or an empty value), an entry without
/// one is appended with an id from `next_id`.
pub fn merge_multifield(
    stored: &Value,
    changes: &Value,
    mut next_id: impl FnMut() -> Result<i64, crate::error::ApiError>,
) -> Result<Value, crate::error::ApiError> {
    let mut list: Vec<Value> = stored.as_array().cloned().unwrap_or_default();
    for change in changes.as_array().into_iter().flatten() {
        let value = change["VALUE"].as_str().unwrap_or_default();
        let value_type = change["VALUE_TYPE"].as_str();
        match change["ID"].as_i64() {
            Some(id) => {
                let Some(pos) = list.iter().position(|e| e["ID"].as_i64() == Some(id)) else {
                    continue;
                };
                if change["DELETE"] == json!(true) || value.is_empty() {
                    list.remove(pos);
                } else {
                    list[pos]["VALUE"] = json!(value);
                    if let Some(t) = value_type {
                        list[pos]["VALUE_TYPE"] = json!(t);
                    }
                }
            }
            None => list.push(json!({
                "ID": next_id()?,
                "VALUE_TYPE": value_type.unwrap_or("WORK"),
                "VALUE": value,
            })),
        }
    }
    Ok(if list.is_empty() {
        Value::Null
    } else {
        Value::Array(list)
    })
}

/// The stored value of a field (`Null` when unset).
pub fn read(item: &ItemRecord, field: &ItemField) -> Value {
    match field.column {
        Plain("id") => json!(item.id),
        Plain("title") => json!(item.title),
        Plain("assigned_by_id") => json!(item.assigned_by_id),
        Plain("created_by") => json!(item.created_by),
        Plain("updated_by") => json!(item.updated_by),
        Plain("created_time") => json!(item.created_time),
        Plain("updated_time") => json!(item.updated_time),
        Plain(_) | Column::UserField(..) => Value::Null,
        Extra(key) => item.extra.get(key).cloned().unwrap_or(Value::Null),
    }
}

/// Stores a normalised value into a writable field.
pub fn write(item: &mut ItemRecord, field: &ItemField, value: Value) {
    match field.column {
        Plain("title") => item.title = value.as_str().unwrap_or_default().to_string(),
        Plain("assigned_by_id") => {
            item.assigned_by_id = value.as_i64().unwrap_or(item.assigned_by_id)
        }
        Plain(_) | Column::UserField(..) => {}
        Extra(key) if value.is_null() => {
            item.extra.remove(key);
        }
        Extra(key) => {
            item.extra.insert(key.to_string(), value);
        }
    }
}

/// Fills the defaults of the type's fields the caller left unset.
pub fn apply_defaults(item: &mut ItemRecord) {
    for field in fields_of(item.entity_type_id) {
        if let (Some(default), Extra(key)) = (field.default, field.column) {
            if !item.extra.contains_key(key) {
                if let Ok(value) = serde_json::from_str(default) {
                    item.extra.insert(key.to_string(), value);
                }
            }
        }
    }
}

/// A filter operand for the field; `None` when the value does not fit it.
pub fn sql_value(field: &ItemField, value: &Value) -> Option<SqlValue> {
    if matches!(field.kind, IntegerList | Multifield | File) {
        return None;
    }
    if value.is_null() {
        return Some(SqlValue::Null);
    }
    if field.kind == Text {
        return match value {
            Value::String(s) => Some(SqlValue::Text(s.clone())),
            Value::Number(n) => Some(SqlValue::Text(n.to_string())),
            _ => None,
        };
    }
    if matches!(value, Value::String(s) if s.is_empty()) {
        return Some(SqlValue::Null);
    }
    Some(match normalise(field, value)? {
        Value::Number(n) if field.kind == Double => SqlValue::Real(n.as_f64()?),
        Value::Number(n) => SqlValue::Int(n.as_i64()?),
        Value::String(s) => SqlValue::Text(s),
        _ => return None,
    })
}

/// What answers show besides the stored fields, looked up in the call's transaction: the
/// download URLs of the disk files the file fields of some items name (a file that no longer
/// exists has none: the field shows `null`), and the parent types of the items' type (whose
/// `parentId{N}` fields every answer shows).
#[derive(Debug, Default)]
pub struct ItemContext(HashMap<i64, String>, Vec<i64>);

impl ItemContext {
    /// The URLs of the files of `items`, signed for `base` and `portal`.
    pub fn of<'a>(
        tx: &mut dyn Tx,
        items: impl IntoIterator<Item = &'a ItemRecord>,
        base: &str,
        portal: i64,
        parents: Vec<i64>,
    ) -> Result<ItemContext, ApiError> {
        let mut ids = Vec::new();
        for item in items {
            for field in fields_of(item.entity_type_id).filter(|f| f.kind == File) {
                ids.extend(read(item, field).as_i64());
            }
        }
        let mut urls = HashMap::new();
        if ids.is_empty() {
            return Ok(ItemContext(urls, parents));
        }
        let key = super::disk::url_key_read(tx)?;
        for id in ids {
            if let Some(file) = tx.disk_object(id)?.filter(|o| !o.is_folder) {
                urls.insert(id, super::disk::download_url(base, &key, portal, &file));
            }
        }
        Ok(ItemContext(urls, parents))
    }

    /// The parent fields answers show, in order.
    pub fn parent_fields(&self) -> impl Iterator<Item = &'static ItemField> + '_ {
        self.1.iter().filter_map(|&p| parent_field(p))
    }

    /// The parent types.
    pub fn parents(&self) -> &[i64] {
        &self.1
    }

    /// A stored file id as answers show it: `{id, showUrl, downloadUrl}` in the legacy
    /// dialect, `{id, url, urlMachine}` in `crm.item.*`; `null` without a file.
    pub fn shown(&self, stored: &Value, d7: bool) -> Value {
        let Some((id, url)) = stored
            .as_i64()
            .and_then(|id| self.0.get(&id).map(|url| (id, url)))
        else {
            return Value::Null;
        };
        if d7 {
            json!({"id": id, "url": url, "urlMachine": url})
        } else {
            json!({"id": id, "showUrl": url, "downloadUrl": url})
        }
    }
}

/// Where one key of a `crm.item.*` answer takes its value from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// A typed column ([`read`]).
    Column(&'static ItemField),
    /// A field kept in `extra`: filled from the item's `extra` (see [`ItemAnswers::answer`]).
    Extra(&'static str, bool),
    /// `entityTypeId`.
    EntityType,
    /// The value of a user field, made by the caller's `user_value` with this index.
    UserField(usize),
}

/// The `crm.item.*` answers of one type's items: every field of the type (null when unset,
/// a file field as [`ItemContext::shown`] shows it), then its parent fields, `entityTypeId`, and
/// the user fields given (their values made by `user_value`).
///
/// The keys are laid out once per call: each item's object is a copy of `template` (whose keys
/// are hashed once, not once per item) with its values put in place, and the values kept in
/// an item's `extra` are moved, not looked up field by field and copied: a 50-item page has
/// some 2,300 keys, and building them one insert at a time was most of `crm.item.list`'s time
/// (BENCHMARKS.md, "crm.item.list, round two").
pub struct ItemAnswers<'a, F> {
    entity_type_id: i64,
    /// Every key, in answer order, with a `null` value.
    template: Map<String, Value>,
    /// Where each key's value comes from, in the same order.
    sources: Vec<Source>,
    /// The `extra` keys the answer shows: key, position, whether it is a file field; by key.
    extra: Vec<(&'static str, usize, bool)>,
    files: &'a ItemContext,
    user_value: F,
}

impl<'a, F: Fn(&ItemRecord, usize) -> Value> ItemAnswers<'a, F> {
    /// The answers of items of `entity_type_id`, with the files and parents of `files` and the
    /// user fields named `user_fields` (in order), whose values `user_value(item, index)` makes.
    pub fn new(
        entity_type_id: i64,
        files: &'a ItemContext,
        user_fields: impl IntoIterator<Item = String>,
        user_value: F,
    ) -> Self {
        let mut template = Map::new();
        let mut sources: Vec<Source> = Vec::new();
        let mut positions: HashMap<String, usize> = HashMap::new();
        // A key given twice keeps its first place and takes the later value, as an insert does.
        let mut put = |key: String, source: Source| match positions.get(&key) {
            Some(&at) => sources[at] = source,
            None => {
                positions.insert(key.clone(), sources.len());
                template.insert(key, Value::Null);
                sources.push(source);
            }
        };
        let field_source = |field: &'static ItemField| match field.column {
            Extra(key) => Source::Extra(key, field.kind == File),
            _ => Source::Column(field),
        };
        for field in crm_item_fields_of(entity_type_id).chain(files.parent_fields()) {
            put(field.name.to_string(), field_source(field));
        }
        put("entityTypeId".to_string(), Source::EntityType);
        for (index, name) in user_fields.into_iter().enumerate() {
            put(name, Source::UserField(index));
        }
        let mut extra: Vec<(&'static str, usize, bool)> = sources
            .iter()
            .enumerate()
            .filter_map(|(at, source)| match *source {
                Source::Extra(key, file) => Some((key, at, file)),
                _ => None,
            })
            .collect();
        extra.sort_by_key(|(key, _, _)| *key);
        Self {
            entity_type_id,
            template,
            sources,
            extra,
            files,
            user_value,
        }
    }

    /// A stored value as the answer shows it: a file field's as [`ItemContext::shown`] does.
    fn shown(&self, file: bool, value: Value) -> Value {
        if file {
            self.files.shown(&value, true)
        } else {
            value
        }
    }

    /// One item's answer.
    pub fn answer(&self, mut item: ItemRecord) -> Value {
        let mut values: Vec<Value> = self
            .sources
            .iter()
            .map(|source| match *source {
                Source::Column(field) => read(&item, field),
                Source::Extra(..) => Value::Null,
                Source::EntityType => Value::from(self.entity_type_id),
                Source::UserField(index) => (self.user_value)(&item, index),
            })
            .collect();
        for (key, value) in std::mem::take(&mut item.extra) {
            let first = self.extra.partition_point(|(k, _, _)| *k < key.as_str());
            let count = self.extra[first..]
                .iter()
                .take_while(|(k, _, _)| *k == key.as_str())
                .count();
            // Moved into its (last) place; copied only for a key two fields share.
            if let Some(((_, last, file), others)) = self.extra[first..first + count].split_last() {
                for &(_, at, file) in others {
                    values[at] = self.shown(file, value.clone());
                }
                values[*last] = self.shown(*file, value);
            }
        }
        let mut out = self.template.clone();
        for (slot, value) in out.values_mut().zip(values) {
            *slot = value;
        }
        Value::Object(out)
    }
}

/// A value as the legacy methods show it: numbers become strings, amounts get two decimals.
pub fn legacy_value(field: &ItemField, value: Value) -> Value {
    if field.kind == Multifield {
        let entries = value.as_array().cloned().unwrap_or_default();
        return Value::Array(
            entries
                .into_iter()
                .map(|e| {
                    json!({
                        "ID": e["ID"].as_i64().unwrap_or_default().to_string(),
                        "VALUE_TYPE": e["VALUE_TYPE"],
                        "VALUE": e["VALUE"],
                        "TYPE_ID": field.legacy,
                    })
                })
                .collect(),
        );
    }
    match value {
        Value::Number(n) if field.kind == Double => {
            Value::String(format!("{:.2}", n.as_f64().unwrap_or_default()))
        }
        Value::Number(n) => Value::String(n.to_string()),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| match v {
                    Value::Number(n) => Value::String(n.to_string()),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

/// The descriptor `*.fields` shows for a field. `crm.item.fields` (`d7`) adds `upperName` and
/// calls `Y` / `N` fields `boolean`; `stage_dictionary` is the `statusType` of stage fields (the
/// stage dictionary of the type's default pipeline).
pub fn descriptor(field: &ItemField, stage_dictionary: Option<&str>, d7: bool) -> Value {
    let wire_type = match field.wire_type {
        "char" if d7 => "boolean",
        other => other,
    };
    let mut d = Map::new();
    d.insert("type".into(), json!(wire_type));
    d.insert("isRequired".into(), json!(field.required));
    d.insert("isReadOnly".into(), json!(field.read_only));
    d.insert("isImmutable".into(), json!(field.immutable));
    d.insert(
        "isMultiple".into(),
        json!(matches!(field.kind, IntegerList | Multifield)),
    );
    d.insert("isDynamic".into(), json!(false));
    if field.deprecated {
        d.insert("isDeprecated".into(), json!(true));
    }
    match field.status_type {
        Some("") => {
            if let Some(dictionary) = stage_dictionary {
                d.insert("statusType".into(), json!(dictionary));
            }
        }
        Some(dictionary) => {
            d.insert("statusType".into(), json!(dictionary));
        }
        None => {}
    }
    d.insert("title".into(), json!(field.title));
    let parent = match field.wire_type {
        // Lists (a contact's `COMPANY_IDS`) carry no parent, as the docs show them.
        _ if field.deprecated || field.kind == IntegerList => None,
        "crm_company" => Some(super::EntityTypeId::COMPANY),
        "crm_lead" => Some(super::EntityTypeId::LEAD),
        "crm_quote" => Some(super::EntityTypeId::QUOTE),
        _ => None,
    };
    if let Some(parent) = parent {
        let mut settings = json!({ "parentEntityTypeId": parent });
        if field.name == "mycompanyId" {
            settings["isMyCompany"] = json!(true);
            settings["isEmbeddedEditorEnabled"] = json!(true);
        }
        d.insert("settings".into(), settings);
    }
    if d7 {
        // A company's contact list is `CONTACT_ID` in the legacy dialect only.
        let upper = match field.name {
            "contactIds" => "CONTACT_IDS",
            _ => field.legacy,
        };
        d.insert("upperName".into(), json!(upper));
    }
    Value::Object(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_type_in_both_dialects() {
        for t in [1, 2, 3, 4, 7, 31, 130] {
            let names: Vec<String> = fields_of(t).map(|f| f.name.to_ascii_lowercase()).collect();
            let legacy: Vec<&str> = fields_of(t).map(|f| f.legacy).collect();
            for list in [names.iter().map(String::as_str).collect::<Vec<_>>(), legacy] {
                let unique: std::collections::HashSet<_> = list.iter().collect();
                assert_eq!(unique.len(), list.len(), "type {t}: {list:?}");
            }
        }
    }

    #[test]
    fn fields_are_found_by_either_name_in_any_case() {
        assert_eq!(find(2, "ID").map(|f| f.name), Some("id"));
        assert_eq!(
            find(2, "assigned_by_id").map(|f| f.name),
            Some("assignedById")
        );
        assert_eq!(find(2, "STAGEID").map(|f| f.name), Some("stageId"));
        assert!(find(3, "title").is_none(), "contacts have no title");
        assert!(find(2, "lastName").is_none());
    }

    #[test]
    fn values_are_normalised_by_kind() {
        let f = |name| find(2, name).unwrap();
        assert_eq!(
            normalise(f("opportunity"), &json!("150.5")),
            Some(json!(150.5))
        );
        assert_eq!(normalise(f("categoryId"), &json!("3")), Some(json!(3)));
        assert_eq!(normalise(f("categoryId"), &json!("x")), None);
        assert_eq!(normalise(f("opened"), &json!(true)), Some(json!("Y")));
        assert_eq!(
            normalise(f("contactIds"), &json!(["1", 2])),
            Some(json!([1, 2]))
        );
        assert_eq!(
            normalise(f("begindate"), &json!("2025-01-02")),
            Some(json!("2025-01-02T00:00:00+00:00"))
        );
        assert_eq!(normalise(f("companyId"), &json!("")), Some(Value::Null));
    }
}
