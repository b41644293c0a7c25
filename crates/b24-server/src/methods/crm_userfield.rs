//! `crm.userfield.types / fields / enumeration.fields` — what CRM user fields (`UF_CRM_*`) are
//! made of: the field types a portal offers, and the descriptors of a user field's and of a
//! list element's properties (legacy `CCrmUserFieldRestProxy`, scope `crm`, no parameters, no
//! method errors). The lists are the docs' answers, in their order.
//! Docs: api-reference/crm/universal/user-defined-fields/crm-userfield-*.md.

use super::{Call, Handler, MethodSpec, Output};
use crate::error::ApiError;
use serde_json::{json, Map, Value};

/// `crm.userfield.types()`.
pub const TYPES: MethodSpec = MethodSpec {
    name: "crm.userfield.types",
    scope: Some("crm"),
    handler: Handler::Blocking(types),
    doc: "List the types a CRM user field (UF_CRM_*) may have.",
};

/// `crm.userfield.fields()`.
pub const FIELDS: MethodSpec = MethodSpec {
    name: "crm.userfield.fields",
    scope: Some("crm"),
    handler: Handler::Blocking(fields),
    doc: "Describe the properties of a CRM user field.",
};

/// `crm.userfield.enumeration.fields()`.
pub const ENUMERATION_FIELDS: MethodSpec = MethodSpec {
    name: "crm.userfield.enumeration.fields",
    scope: Some("crm"),
    handler: Handler::Blocking(enumeration_fields),
    doc: "Describe the properties of an element of a list (enumeration) user field.",
};

/// The user-field types, `(ID, title)`.
pub const USER_TYPES: &[(&str, &str)] = &[
    ("string", "String"),
    ("integer", "Integer"),
    ("double", "Number"),
    ("boolean", "Yes/No"),
    ("enumeration", "List"),
    ("datetime", "Date/Time"),
    ("date", "Date"),
    ("money", "Money"),
    ("url", "Link"),
    ("address", "Google Maps Address"),
    ("file", "File"),
    ("employee", "Binding to User"),
    ("crm_status", "Binding to CRM Directories"),
    ("iblock_section", "Binding to Information Block Sections"),
    ("iblock_element", "Binding to Information Block Elements"),
    ("crm", "Binding to CRM Entities"),
];

/// A property's descriptor flag beyond `type` and `title`.
#[derive(Clone, Copy)]
enum Flag {
    None,
    ReadOnly,
    Immutable,
    Multiple,
}

/// The properties of a user field: name, type, title, flag.
const USER_FIELD_PROPERTIES: &[(&str, &str, &str, Flag)] = &[
    ("ID", "int", "ID", Flag::ReadOnly),
    ("ENTITY_ID", "string", "Object", Flag::Immutable),
    ("FIELD_NAME", "string", "Code", Flag::Immutable),
    ("USER_TYPE_ID", "string", "Data Type", Flag::Immutable),
    ("XML_ID", "string", "External ID (XML ID)", Flag::None),
    ("SORT", "int", "Sorting", Flag::None),
    ("MULTIPLE", "char", "Multiple", Flag::None),
    ("MANDATORY", "char", "Mandatory", Flag::None),
    ("SHOW_FILTER", "char", "Show in list filter", Flag::None),
    ("SHOW_IN_LIST", "char", "Show in list", Flag::None),
    ("EDIT_IN_LIST", "char", "Allow user editing", Flag::None),
    (
        "IS_SEARCHABLE",
        "char",
        "Field values are searchable",
        Flag::None,
    ),
    (
        "EDIT_FORM_LABEL",
        "string",
        "Label in edit form",
        Flag::None,
    ),
    ("LIST_COLUMN_LABEL", "string", "Header in list", Flag::None),
    (
        "LIST_FILTER_LABEL",
        "string",
        "Filter label in list",
        Flag::None,
    ),
    ("ERROR_MESSAGE", "string", "Error message", Flag::None),
    ("HELP_MESSAGE", "string", "Help", Flag::None),
    ("LIST", "uf_enum_element", "List elements", Flag::Multiple),
    (
        "SETTINGS",
        "object",
        "Additional settings (dependent on type)",
        Flag::None,
    ),
];

/// The properties of a list element.
const ENUMERATION_PROPERTIES: &[(&str, &str, &str, Flag)] = &[
    ("ID", "int", "ID", Flag::ReadOnly),
    ("SORT", "int", "Sorting", Flag::None),
    ("VALUE", "string", "Value", Flag::None),
    ("DEF", "string", "Default Value", Flag::None),
    ("DEL", "string", "Element Deletion Flag", Flag::None),
];

/// The descriptors as the proxy gives them: `type` and `title`, plus the one flag a property
/// has, if any.
fn describe(properties: &[(&str, &str, &str, Flag)]) -> Value {
    let described: Map<String, Value> = properties
        .iter()
        .map(|(name, kind, title, flag)| {
            let mut d = json!({"type": kind, "title": title});
            let key = match flag {
                Flag::None => None,
                Flag::ReadOnly => Some("isReadOnly"),
                Flag::Immutable => Some("isImmutable"),
                Flag::Multiple => Some("isMultiple"),
            };
            if let Some(key) = key {
                d[key] = json!(true);
            }
            (name.to_string(), d)
        })
        .collect();
    Value::Object(described)
}

fn types(_call: &Call<'_>) -> Result<Output, ApiError> {
    let list: Vec<Value> = USER_TYPES
        .iter()
        .map(|(id, title)| json!({"ID": id, "title": title}))
        .collect();
    Ok(Output::result(Value::Array(list)))
}

fn fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    Ok(Output::result(describe(USER_FIELD_PROPERTIES)))
}

fn enumeration_fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    Ok(Output::result(describe(ENUMERATION_PROPERTIES)))
}
