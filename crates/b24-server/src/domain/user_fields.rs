//! CRM user fields (`UF_CRM_*`) of leads, deals, contacts, companies (`crm.{entity}.userfield.*`)
//! and smart processes (`userfieldconfig.*`, which serves all of them in camelCase): their
//! definitions and their values on items (spec §12.U "CRM user fields").
//!
//! Storage:
//! - a definition is a `crm_records` row of kind `user_field` (owner: the item type; `sort`:
//!   `SORT`); its body holds the properties as the service shows them, labels as full language
//!   maps, and the enumeration `LIST` with ids from the `user_field_enum` sequence. A type has
//!   few fields, so its definitions are read whole, from the `(kind, owner)` index;
//! - an item keeps its values in its `extra` JSON under `uf:{field id}` (a number or text, an
//!   array of them for a multiple field): reads need nothing more. The store mirrors them into
//!   `crm_uf_values`, the index filters and orders run on (`store/user_field_values.rs`).
//!   Deleting a field deletes its index rows; its values left in items are never shown again
//!   (field ids are never reused) and go when the item is next written.

use super::values::{parse_date, parse_datetime_utc};
use super::{Action, EntityTypeId, Level, Permissions};
use crate::error::ApiError;
use crate::store::records::{Record, RecordKind};
use crate::store::user_field_values::{value_key, VALUE_KEY_PREFIX};
use crate::store::{ItemRecord, SqlValue, Tx, UserFieldColumn};
use b24_protocol::values::bind_int;
use b24_protocol::{ErrorCode, RestError};
use serde_json::{json, Map, Value};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The types a user field may have (`crm.userfield.types`).
pub const USER_TYPES: &[&str] = &[
    "string",
    "integer",
    "double",
    "boolean",
    "enumeration",
    "datetime",
    "date",
    "money",
    "url",
    "address",
    "file",
    "employee",
    "crm_status",
    "iblock_section",
    "iblock_element",
    "crm",
];

/// The languages a label map has, as the service answers `crm.*.userfield.get`.
pub const LANGUAGES: &[&str] = &[
    "ar", "br", "de", "en", "fr", "hi", "id", "in", "it", "ja", "kz", "la", "ms", "pl", "ru", "sc",
    "tc", "th", "tr", "ua", "vn",
];

/// The label properties; `LABEL` is the default of each.
const LABELS: &[&str] = &[
    "EDIT_FORM_LABEL",
    "LIST_COLUMN_LABEL",
    "LIST_FILTER_LABEL",
    "ERROR_MESSAGE",
    "HELP_MESSAGE",
];

/// `Y` / `N` properties and their defaults.
const FLAGS: &[(&str, &str)] = &[
    ("MANDATORY", "N"),
    ("SHOW_IN_LIST", "N"),
    ("EDIT_IN_LIST", "Y"),
    ("IS_SEARCHABLE", "N"),
];

/// The longest full field name (`UF_CRM_` included).
const MAX_NAME: usize = 50;

/// The `ENTITY_ID` of the four legacy types' fields.
const STATIC_ENTITIES: &[(i64, &str)] = &[
    (EntityTypeId::LEAD, "CRM_LEAD"),
    (EntityTypeId::DEAL, "CRM_DEAL"),
    (EntityTypeId::CONTACT, "CRM_CONTACT"),
    (EntityTypeId::COMPANY, "CRM_COMPANY"),
];

/// The `ENTITY_ID` of an item type's fields: `CRM_DEAL`…, `CRM_{smart process id}`; `None` for
/// a type without user fields here.
pub fn entity_id(tx: &mut dyn Tx, entity_type_id: i64) -> Result<Option<String>, ApiError> {
    if let Some((_, e)) = STATIC_ENTITIES.iter().find(|(t, _)| *t == entity_type_id) {
        return Ok(Some(e.to_string()));
    }
    if !EntityTypeId::is_dynamic(entity_type_id) {
        return Ok(None);
    }
    Ok(tx
        .dynamic_type_by_entity_type(entity_type_id)?
        .map(|t| format!("CRM_{}", t.id)))
}

/// The item type of an `ENTITY_ID`, if it names one.
pub fn entity_type_of(tx: &mut dyn Tx, entity_id: &str) -> Result<Option<i64>, ApiError> {
    if let Some((t, _)) = STATIC_ENTITIES.iter().find(|(_, e)| *e == entity_id) {
        return Ok(Some(*t));
    }
    let Some(id) = entity_id
        .strip_prefix("CRM_")
        .and_then(|n| n.parse::<i64>().ok())
    else {
        return Ok(None);
    };
    Ok(tx.dynamic_type(id)?.map(|t| t.entity_type_id))
}

/// How `add` makes the full name from the caller's.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// `crm.{type}.userfield.add`: `UF_CRM_` is put in front as the docs say.
    Prefixed,
    /// `userfieldconfig.add`: the name must already start with `UF_{ENTITY_ID}_`.
    Exact,
}

/// One user field's definition.
#[derive(Debug, Clone)]
pub struct UserField {
    /// `ID`.
    pub id: i64,
    /// The item type it extends.
    pub entity_type_id: i64,
    /// `SORT`.
    pub sort: i64,
    /// Every other property, as shown (labels as full language maps, `LIST` with integer ids).
    pub body: Map<String, Value>,
}

impl UserField {
    /// A definition from its stored record.
    pub fn from_record(r: Record) -> Self {
        Self {
            id: r.id,
            entity_type_id: r.owner_type_id,
            sort: r.sort,
            body: r.extra,
        }
    }

    fn text(&self, key: &str) -> &str {
        self.body
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// `FIELD_NAME` (`UF_CRM_…`).
    pub fn name(&self) -> &str {
        self.text("FIELD_NAME")
    }

    /// `USER_TYPE_ID`.
    pub fn user_type(&self) -> &str {
        self.text("USER_TYPE_ID")
    }

    /// `MULTIPLE`.
    pub fn multiple(&self) -> bool {
        self.text("MULTIPLE") == "Y"
    }

    /// `MANDATORY`.
    pub fn mandatory(&self) -> bool {
        self.text("MANDATORY") == "Y"
    }

    /// The `crm.item.*` name: `UF_CRM_MY_FIELD` → `ufCrmMyField`, `UF_CRM_1712345` →
    /// `ufCrm1712345`, `UF_CRM_5_1712345` → `ufCrm5_1712345`.
    pub fn camel_name(&self) -> String {
        camel_name(self.name())
    }

    /// Whether a caller's key names this field, in either form (any case).
    pub fn is_named(&self, key: &str) -> bool {
        key.eq_ignore_ascii_case(self.name()) || key.eq_ignore_ascii_case(&self.camel_name())
    }

    /// The `crm_uf_values` column its values are in.
    pub fn column(&self) -> UserFieldColumn {
        match kind_of(self.user_type()) {
            Kind::Int | Kind::Double | Kind::Boolean => UserFieldColumn::Num,
            _ => UserFieldColumn::Text,
        }
    }

    /// The enumeration elements, by `SORT` then `ID`.
    fn list(&self) -> Vec<Map<String, Value>> {
        self.body
            .get("LIST")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_object().cloned())
            .collect()
    }

    /// A label in English (`None` when empty).
    fn label(&self, key: &str) -> Option<String> {
        match self.body.get(key) {
            Some(Value::Object(map)) => map.get("en").and_then(Value::as_str),
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        }
        .filter(|s| !s.is_empty())
        .map(str::to_string)
    }
}

/// The `crm.item.*` name of a field (docs `crm/universal/index.md`, "Field Naming
/// Conventions"). Regular conversion when only letters, or only digits after an object number,
/// follow `UF_CRM_`: `UF_CRM_MY_FIELD` → `ufCrmMyField`, `UF_CRM_3_DIGIT` → `ufCrm3Digit`,
/// `UF_CRM_3_1747309727` → `ufCrm3_1747309727`. Otherwise only the prefix changes, so that the
/// name stays reversible: `UF_CRM_1747309879` → `ufCrm_1747309879`, `UF_CRM_3_DIGIT10` →
/// `ufCrm_3_DIGIT10`.
pub fn camel_name(name: &str) -> String {
    let Some(rest) = name.strip_prefix("UF_CRM_") else {
        return format!("uf{name}");
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (number, tail) = match rest.split_once('_') {
        Some((n, tail)) if digits(n) => (n, tail),
        _ => ("", rest),
    };
    if !number.is_empty() && digits(tail) {
        return format!("ufCrm{number}_{tail}");
    }
    let letters = tail
        .split('_')
        .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_uppercase()));
    if letters {
        let mut out = format!("ufCrm{number}");
        for word in tail.split('_') {
            out.push_str(&word[..1]);
            out.push_str(&word[1..].to_ascii_lowercase());
        }
        return out;
    }
    format!("ufCrm_{rest}")
}

/// How a type's values are checked and stored.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An integer (`integer`, `employee`, `enumeration`, `iblock_*`).
    Int,
    /// A number.
    Double,
    /// Yes / no, stored as 1 / 0.
    Boolean,
    /// A date, stored as its midnight UTC (as built-in date fields).
    Date,
    /// A date-time, stored in UTC.
    DateTime,
    /// A file: described, but a caller's value is not taken (as built-in file fields).
    File,
    /// Text (`string`, `url`, `address`, `money`, `crm`, `crm_status`).
    Text,
}

fn kind_of(user_type: &str) -> Kind {
    match user_type {
        "integer" | "employee" | "enumeration" | "iblock_section" | "iblock_element" => Kind::Int,
        "double" => Kind::Double,
        "boolean" => Kind::Boolean,
        "date" => Kind::Date,
        "datetime" => Kind::DateTime,
        "file" => Kind::File,
        _ => Kind::Text,
    }
}

// ---- errors ----

fn legacy(message: impl Into<std::borrow::Cow<'static, str>>) -> ApiError {
    RestError::legacy(message).into()
}

fn core(message: String) -> ApiError {
    RestError::with_message(ErrorCode::UserFieldCore, message).into()
}

fn not_found(id: i64) -> ApiError {
    RestError::with_message(
        ErrorCode::UserFieldNotFound,
        format!("The entity with ID '{id}' is not found."),
    )
    .into()
}

fn access_denied() -> ApiError {
    legacy("Access denied.")
}

/// Changing user fields is for CRM administrators.
fn require_admin(permissions: &Permissions) -> Result<(), ApiError> {
    if permissions.admin {
        Ok(())
    } else {
        Err(access_denied())
    }
}

/// Reading them needs some read right on the type's items.
fn require_read(permissions: &Permissions, entity_type_id: i64) -> Result<(), ApiError> {
    if permissions.level(entity_type_id, Action::Read) == Level::None {
        Err(access_denied())
    } else {
        Ok(())
    }
}

// ---- definitions ----

/// The user fields of an item type, by `SORT` then `ID` (from the portal's kept catalogue,
/// `store/catalogue.rs`: shared, not copied).
pub fn fields_of(tx: &mut dyn Tx, entity_type_id: i64) -> Result<Arc<[UserField]>, ApiError> {
    Ok(tx.catalogue()?.user_fields(entity_type_id))
}

/// A field of this type; another type's field is "Access denied.", as the service says.
fn field_of(tx: &mut dyn Tx, entity_type_id: i64, id: i64) -> Result<UserField, ApiError> {
    let record = tx
        .record(RecordKind::UserField, id)?
        .ok_or_else(|| not_found(id))?;
    if record.owner_type_id != entity_type_id {
        return Err(access_denied());
    }
    Ok(UserField::from_record(record))
}

fn get_ci<'a>(fields: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    fields.get(key).or_else(|| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn text(fields: &Map<String, Value>, key: &str) -> Option<String> {
    get_ci(fields, key)
        .and_then(text_of)
        .filter(|s| !s.is_empty())
}

/// A `Y` / `N` property: `Y`, `1`, `true` are yes; anything else given is no.
fn flag(value: &Value) -> &'static str {
    let yes = match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64() == Some(1),
        Value::String(s) => s.eq_ignore_ascii_case("y") || s == "1" || s == "true",
        _ => false,
    };
    if yes {
        "Y"
    } else {
        "N"
    }
}

/// The full name from a caller's `FIELD_NAME`: upper-cased; `UF_CRM_` kept, `UF_` made
/// `UF_CRM_`, anything else prefixed with `UF_CRM_`.
fn full_name(given: &str) -> Result<String, ApiError> {
    let upper = given.to_uppercase();
    let name = if upper.starts_with("UF_CRM_") {
        upper
    } else if let Some(rest) = upper.strip_prefix("UF_") {
        format!("UF_CRM_{rest}")
    } else {
        format!("UF_CRM_{upper}")
    };
    if name.chars().count() > MAX_NAME {
        return Err(core(
            "Field name is too long (more than 50 characters).".into(),
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(core(
            "Field name contains invalid characters. Allowed characters are: A-Z, 0-9 and _."
                .into(),
        ));
    }
    Ok(name)
}

/// The settings a type's field has by default.
fn default_settings(user_type: &str) -> Value {
    match user_type {
        "string" => {
            json!({"SIZE": 20, "ROWS": 1, "REGEXP": "", "MIN_LENGTH": 0, "MAX_LENGTH": 0, "DEFAULT_VALUE": ""})
        }
        "integer" => json!({"SIZE": 20, "MIN_VALUE": 0, "MAX_VALUE": 0, "DEFAULT_VALUE": null}),
        "double" => {
            json!({"PRECISION": 2, "SIZE": 20, "MIN_VALUE": 0.0, "MAX_VALUE": 0.0, "DEFAULT_VALUE": null})
        }
        "boolean" => {
            json!({"DEFAULT_VALUE": 0, "DISPLAY": "CHECKBOX", "LABEL": ["", ""], "LABEL_CHECKBOX": ""})
        }
        "date" | "datetime" => json!({"DEFAULT_VALUE": {"TYPE": "NONE", "VALUE": ""}}),
        "enumeration" => {
            json!({"DISPLAY": "LIST", "LIST_HEIGHT": 1, "CAPTION_NO_VALUE": "", "SHOW_NO_VALUE": "Y"})
        }
        "crm" => json!({"LEAD": "N", "CONTACT": "N", "COMPANY": "N", "DEAL": "N"}),
        "crm_status" => json!({"ENTITY_TYPE": ""}),
        "file" => {
            json!({"SIZE": 20, "LIST_WIDTH": 0, "LIST_HEIGHT": 0, "MAX_SHOW_SIZE": 0, "MAX_ALLOWED_SIZE": 0, "EXTENSIONS": [], "TARGET_BLANK": "Y"})
        }
        _ => json!({}),
    }
}

/// A label as a full language map: a string for every language; a map for its languages,
/// `fallback` for the others.
fn lang_map(given: &Value, fallback: &Map<String, Value>) -> Option<Map<String, Value>> {
    match given {
        Value::Object(by_lang) => Some(
            LANGUAGES
                .iter()
                .map(|l| {
                    let text = by_lang
                        .get(*l)
                        .and_then(text_of)
                        .or_else(|| fallback.get(*l).and_then(text_of))
                        .unwrap_or_default();
                    (l.to_string(), Value::String(text))
                })
                .collect(),
        ),
        other => text_of(other).map(|t| {
            LANGUAGES
                .iter()
                .map(|l| (l.to_string(), Value::String(t.clone())))
                .collect()
        }),
    }
}

fn everywhere(text: &str) -> Map<String, Value> {
    LANGUAGES
        .iter()
        .map(|l| (l.to_string(), Value::String(text.to_string())))
        .collect()
}

/// Writes the properties an update may change (and an add sets).
fn apply_properties(
    tx: &mut dyn Tx,
    body: &mut Map<String, Value>,
    sort: &mut i64,
    fields: &Map<String, Value>,
) -> Result<(), ApiError> {
    if let Some(v) = get_ci(fields, "XML_ID") {
        body.insert(
            "XML_ID".into(),
            text_of(v)
                .filter(|s| !s.is_empty())
                .map_or(Value::Null, Value::String),
        );
    }
    if let Some(s) = get_ci(fields, "SORT").and_then(bind_int).filter(|&s| s > 0) {
        *sort = s;
    }
    for (key, _) in FLAGS {
        if let Some(v) = get_ci(fields, key) {
            body.insert(key.to_string(), json!(flag(v)));
        }
    }
    if let Some(v) = get_ci(fields, "SHOW_FILTER") {
        let shown = text_of(v).unwrap_or_default().to_uppercase();
        let shown = match shown.as_str() {
            "I" | "E" | "S" | "N" => shown,
            "Y" | "1" => "I".to_string(),
            _ => "N".to_string(),
        };
        body.insert("SHOW_FILTER".into(), json!(shown));
    }
    if let Some(Value::Object(given)) = get_ci(fields, "SETTINGS") {
        let mut settings = body
            .get("SETTINGS")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in given {
            settings.insert(k.clone(), v.clone());
        }
        body.insert("SETTINGS".into(), Value::Object(settings));
    }
    let label = text(fields, "LABEL");
    for key in LABELS {
        let stored = body
            .get(*key)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let fallback = match &label {
            Some(l) => everywhere(l),
            None => stored.clone(),
        };
        let new = match get_ci(fields, key) {
            Some(given) => lang_map(given, &fallback),
            None if label.is_some() && stored.values().all(|v| v.as_str() == Some("")) => {
                Some(fallback)
            }
            None => None,
        };
        if let Some(map) = new {
            body.insert(key.to_string(), Value::Object(map));
        }
    }
    if body.get("USER_TYPE_ID").and_then(Value::as_str) == Some("enumeration") {
        if let Some(given) = get_ci(fields, "LIST") {
            let name = body
                .get("FIELD_NAME")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let mut list: Vec<Map<String, Value>> = body
                .get("LIST")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_object().cloned())
                .collect();
            apply_list(tx, &name, &mut list, given)?;
            body.insert(
                "LIST".into(),
                Value::Array(list.into_iter().map(Value::Object).collect()),
            );
        }
    }
    Ok(())
}

/// Applies a caller's `LIST`: an element with a known `ID` is changed (or removed with
/// `DEL: "Y"`), one without an `ID` and with a `VALUE` is added. `XML_ID`s stay unique.
fn apply_list(
    tx: &mut dyn Tx,
    field_name: &str,
    list: &mut Vec<Map<String, Value>>,
    given: &Value,
) -> Result<(), ApiError> {
    let entries: Vec<&Value> = match given {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => o.values().collect(),
        _ => Vec::new(),
    };
    for entry in entries {
        let Value::Object(e) = entry else { continue };
        let id = get_ci(e, "ID").and_then(bind_int).filter(|&i| i > 0);
        let deleting = get_ci(e, "DEL").is_some_and(|v| flag(v) == "Y");
        let value = get_ci(e, "VALUE").and_then(text_of);
        match id.and_then(|id| list.iter().position(|x| x["ID"].as_i64() == Some(id))) {
            Some(pos) if deleting => {
                list.remove(pos);
            }
            Some(pos) => {
                let element = &mut list[pos];
                if let Some(v) = value.filter(|v| !v.is_empty()) {
                    element.insert("VALUE".into(), json!(v));
                }
                if let Some(v) = get_ci(e, "DEF") {
                    element.insert("DEF".into(), json!(flag(v)));
                }
                if let Some(s) = get_ci(e, "SORT").and_then(bind_int) {
                    element.insert("SORT".into(), json!(s));
                }
                if let Some(x) = get_ci(e, "XML_ID")
                    .and_then(text_of)
                    .filter(|x| !x.is_empty())
                {
                    element.insert("XML_ID".into(), json!(x));
                }
            }
            None if id.is_some() || deleting => {}
            None => {
                let Some(value) = value.filter(|v| !v.is_empty()) else {
                    continue;
                };
                let mut new_id = tx.next_id("user_field_enum")?;
                while list.iter().any(|x| x["ID"].as_i64() == Some(new_id)) {
                    new_id = tx.next_id("user_field_enum")?;
                }
                let xml_id = get_ci(e, "XML_ID")
                    .and_then(text_of)
                    .filter(|x| !x.is_empty())
                    .unwrap_or_else(|| generated_xml_id(field_name, &value, new_id));
                let mut element = Map::new();
                element.insert("ID".into(), json!(new_id));
                element.insert(
                    "SORT".into(),
                    json!(get_ci(e, "SORT").and_then(bind_int).unwrap_or(500)),
                );
                element.insert("VALUE".into(), json!(value));
                element.insert("DEF".into(), json!(get_ci(e, "DEF").map_or("N", flag)));
                element.insert("XML_ID".into(), json!(xml_id));
                list.push(element);
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for element in list.iter() {
        let xml_id = element["XML_ID"].as_str().unwrap_or_default();
        if !seen.insert(xml_id.to_string()) {
            return Err(core(format!(
                "List item with value XML_ID={xml_id} already exists."
            )));
        }
    }
    list.sort_by_key(|e| {
        (
            e["SORT"].as_i64().unwrap_or(0),
            e["ID"].as_i64().unwrap_or(0),
        )
    });
    Ok(())
}

/// A 32-digit hexadecimal `XML_ID` for an element the caller gave none (the service makes an
/// md5-looking one too).
fn generated_xml_id(field_name: &str, value: &str, id: i64) -> String {
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, field_name, value, id).hash(&mut h);
        h.finish()
    };
    format!("{:016x}{:016x}", half(1), half(2))
}

/// `crm.{entity}.userfield.add`: the new field's id.
pub fn add(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
    fields: &Map<String, Value>,
    naming: Naming,
) -> Result<i64, ApiError> {
    require_admin(permissions)?;
    let entity = entity_id(tx, entity_type_id)?.ok_or_else(access_denied)?;
    let given_name =
        text(fields, "FIELD_NAME").ok_or_else(|| legacy("The 'FIELD_NAME' field is not found."))?;
    let user_type = text(fields, "USER_TYPE_ID")
        .ok_or_else(|| legacy("The 'USER_TYPE_ID' field is not found."))?;
    let name = match naming {
        Naming::Prefixed => full_name(&given_name)?,
        Naming::Exact => {
            let name = given_name.to_uppercase();
            let prefix = format!("UF_{entity}_");
            if !name.starts_with(&prefix) || name.len() == prefix.len() {
                return Err(legacy("You cannot create custom fields"));
            }
            full_name(&name)?
        }
    };
    if !USER_TYPES.contains(&user_type.as_str()) {
        return Err(core("Incorrect custom type specified.".into()));
    }
    if fields_of(tx, entity_type_id)?
        .iter()
        .any(|f| f.name() == name)
    {
        return Err(core(format!(
            "The field {name} for the {entity} object already exists"
        )));
    }
    let mut body = Map::new();
    body.insert("ENTITY_ID".into(), json!(entity));
    body.insert("FIELD_NAME".into(), json!(name));
    body.insert("USER_TYPE_ID".into(), json!(user_type));
    body.insert("XML_ID".into(), Value::Null);
    let multiple =
        user_type != "boolean" && get_ci(fields, "MULTIPLE").is_some_and(|v| flag(v) == "Y");
    body.insert("MULTIPLE".into(), json!(if multiple { "Y" } else { "N" }));
    for (key, default) in FLAGS {
        body.insert(key.to_string(), json!(default));
    }
    body.insert("SHOW_FILTER".into(), json!("N"));
    body.insert("SETTINGS".into(), default_settings(&user_type));
    for key in LABELS {
        body.insert(key.to_string(), Value::Object(everywhere("")));
    }
    if user_type == "enumeration" {
        body.insert("LIST".into(), json!([]));
    }
    let mut sort = 100;
    apply_properties(tx, &mut body, &mut sort, fields)?;
    let record = Record {
        id: 0,
        owner_type_id: entity_type_id,
        owner_id: 0,
        sort,
        extra: body,
    };
    tx.insert_record(RecordKind::UserField, &record)
}

/// `crm.{entity}.userfield.update`: changes what may change (`ENTITY_ID`, `FIELD_NAME`,
/// `USER_TYPE_ID` and `MULTIPLE` stay).
pub fn update(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
    id: i64,
    fields: &Map<String, Value>,
) -> Result<(), ApiError> {
    require_admin(permissions)?;
    let mut field = field_of(tx, entity_type_id, id)?;
    apply_properties(tx, &mut field.body, &mut field.sort, fields)?;
    tx.update_record(
        RecordKind::UserField,
        &Record {
            id,
            owner_type_id: entity_type_id,
            owner_id: 0,
            sort: field.sort,
            extra: field.body,
        },
    )
}

/// `crm.{entity}.userfield.delete`: the field and every value of it.
pub fn delete(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
    id: i64,
) -> Result<(), ApiError> {
    require_admin(permissions)?;
    field_of(tx, entity_type_id, id)?;
    tx.delete_record(RecordKind::UserField, id)?;
    tx.delete_user_field_values(id)?;
    Ok(())
}

/// `crm.{entity}.userfield.get`.
pub fn get(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
    id: i64,
) -> Result<UserField, ApiError> {
    require_read(permissions, entity_type_id)?;
    field_of(tx, entity_type_id, id)
}

/// The keys `crm.{entity}.userfield.list` filters and orders by.
pub const LIST_KEYS: &[&str] = &[
    "ID",
    "FIELD_NAME",
    "USER_TYPE_ID",
    "XML_ID",
    "SORT",
    "MULTIPLE",
    "MANDATORY",
    "SHOW_FILTER",
    "SHOW_IN_LIST",
    "EDIT_IN_LIST",
    "IS_SEARCHABLE",
    "ENTITY_ID",
];

/// `crm.{entity}.userfield.list`: every field of the type matching `filter` (equality on
/// [`LIST_KEYS`]; other keys are ignored), ordered by `order` (default `SORT`, then `ID`).
pub fn list(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
    filter: &Map<String, Value>,
    order: &Map<String, Value>,
) -> Result<Vec<UserField>, ApiError> {
    require_read(permissions, entity_type_id)?;
    let mut fields = fields_of(tx, entity_type_id)?.to_vec();
    fields.retain(|f| {
        filter.iter().all(|(key, wanted)| {
            let key = key.to_ascii_uppercase();
            if !LIST_KEYS.contains(&key.as_str()) {
                return true;
            }
            let wanted = text_of(wanted).unwrap_or_default();
            list_value(f, &key).eq_ignore_ascii_case(&wanted)
        })
    });
    let mut keys: Vec<(String, bool)> = order
        .iter()
        .filter(|(k, _)| LIST_KEYS.contains(&k.to_ascii_uppercase().as_str()))
        .map(|(k, v)| {
            let desc = v.as_str().is_some_and(|d| d.eq_ignore_ascii_case("desc"));
            (k.to_ascii_uppercase(), desc)
        })
        .collect();
    if keys.is_empty() {
        keys = vec![("SORT".into(), false)];
    }
    keys.push(("ID".into(), keys.last().is_some_and(|(_, d)| *d)));
    fields.sort_by(|a, b| {
        for (key, desc) in &keys {
            let ordering = if matches!(key.as_str(), "ID" | "SORT") {
                list_number(a, key).cmp(&list_number(b, key))
            } else {
                list_value(a, key).cmp(&list_value(b, key))
            };
            let ordering = if *desc { ordering.reverse() } else { ordering };
            if ordering.is_ne() {
                return ordering;
            }
        }
        std::cmp::Ordering::Equal
    });
    Ok(fields)
}

fn list_number(f: &UserField, key: &str) -> i64 {
    if key == "ID" {
        f.id
    } else {
        f.sort
    }
}

fn list_value(f: &UserField, key: &str) -> String {
    match key {
        "ID" => f.id.to_string(),
        "SORT" => f.sort.to_string(),
        other => f.text(other).to_string(),
    }
}

/// A definition as `crm.{entity}.userfield.get` shows it (labels as language maps) or as
/// `.list` does (labels as English text, `null` when empty).
pub fn definition_json(f: &UserField, labels_as_maps: bool) -> Value {
    let mut out = Map::new();
    out.insert("ID".into(), json!(f.id.to_string()));
    for key in ["ENTITY_ID", "FIELD_NAME", "USER_TYPE_ID", "XML_ID"] {
        out.insert(key.into(), f.body.get(key).cloned().unwrap_or(Value::Null));
    }
    out.insert("SORT".into(), json!(f.sort.to_string()));
    for key in [
        "MULTIPLE",
        "MANDATORY",
        "SHOW_FILTER",
        "SHOW_IN_LIST",
        "EDIT_IN_LIST",
        "IS_SEARCHABLE",
    ] {
        out.insert(key.into(), f.body.get(key).cloned().unwrap_or(json!("N")));
    }
    out.insert(
        "SETTINGS".into(),
        f.body.get("SETTINGS").cloned().unwrap_or(json!({})),
    );
    for key in LABELS {
        let shown = if labels_as_maps {
            f.body.get(*key).cloned().unwrap_or(Value::Null)
        } else {
            f.label(key).map_or(Value::Null, Value::String)
        };
        out.insert(key.to_string(), shown);
    }
    if f.user_type() == "enumeration" {
        out.insert(
            "LIST".into(),
            Value::Array(f.list().iter().map(element_json).collect()),
        );
    }
    Value::Object(out)
}

fn element_json(e: &Map<String, Value>) -> Value {
    let string = |k: &str| match &e.get(k) {
        Some(Value::Number(n)) => json!(n.to_string()),
        Some(other) => (*other).clone(),
        None => Value::Null,
    };
    json!({
        "ID": string("ID"),
        "SORT": string("SORT"),
        "VALUE": string("VALUE"),
        "DEF": string("DEF"),
        "XML_ID": string("XML_ID"),
    })
}

/// The descriptor `*.fields` (`d7`: `crm.item.fields`) shows for a user field.
pub fn descriptor(f: &UserField, d7: bool) -> Value {
    let mut d = Map::new();
    d.insert("type".into(), json!(f.user_type()));
    d.insert("isRequired".into(), json!(f.mandatory()));
    d.insert("isReadOnly".into(), json!(false));
    d.insert("isImmutable".into(), json!(false));
    d.insert("isMultiple".into(), json!(f.multiple()));
    d.insert("isDynamic".into(), json!(true));
    let form = f.label("EDIT_FORM_LABEL");
    if d7 {
        d.insert(
            "title".into(),
            json!(form.clone().unwrap_or_else(|| f.name().to_string())),
        );
        d.insert("upperName".into(), json!(f.name()));
    } else {
        d.insert("title".into(), json!(f.name()));
        d.insert(
            "listLabel".into(),
            json!(f.label("LIST_COLUMN_LABEL").unwrap_or_default()),
        );
        d.insert("formLabel".into(), json!(form.unwrap_or_default()));
        d.insert(
            "filterLabel".into(),
            json!(f.label("LIST_FILTER_LABEL").unwrap_or_default()),
        );
    }
    d.insert(
        "settings".into(),
        f.body.get("SETTINGS").cloned().unwrap_or(json!({})),
    );
    if f.user_type() == "enumeration" {
        let items: Vec<Value> = f
            .list()
            .iter()
            .map(|e| json!({"ID": e["ID"].as_i64().unwrap_or(0).to_string(), "VALUE": e["VALUE"]}))
            .collect();
        d.insert("items".into(), Value::Array(items));
    }
    Value::Object(d)
}

// ---- values ----

/// Whether a caller's `fields` may hold user-field values (so the definitions are worth
/// reading).
pub fn mentions_user_fields(fields: &Map<String, Value>) -> bool {
    fields.keys().any(|k| {
        k.get(..3).is_some_and(|h| h.eq_ignore_ascii_case("uf_"))
            || k.get(..5).is_some_and(|h| h.eq_ignore_ascii_case("ufcrm"))
    })
}

/// One value of a field, checked and normalised for storage: `Ok(None)` for "no value",
/// `Err(())` when it does not fit.
fn normalise_one(f: &UserField, value: &Value) -> Result<Option<Value>, ()> {
    let blank =
        matches!(value, Value::Null) || matches!(value, Value::String(s) if s.trim().is_empty());
    if blank {
        return Ok(None);
    }
    let kind = kind_of(f.user_type());
    Ok(Some(match kind {
        Kind::Int => {
            let n = bind_int(value).ok_or(())?;
            if f.user_type() == "enumeration"
                && !f.list().iter().any(|e| e["ID"].as_i64() == Some(n))
            {
                return Err(());
            }
            json!(n)
        }
        Kind::Double => match value {
            Value::Number(n) => json!(n.as_f64().ok_or(())?),
            Value::String(s) => json!(s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or(())?),
            _ => return Err(()),
        },
        Kind::Boolean => json!(match value {
            Value::Bool(b) => i64::from(*b),
            Value::Number(n) if n.as_i64() == Some(1) => 1,
            Value::Number(n) if n.as_i64() == Some(0) => 0,
            Value::String(s) if s.eq_ignore_ascii_case("y") || s == "1" || s == "true" => 1,
            Value::String(s) if s.eq_ignore_ascii_case("n") || s == "0" || s == "false" => 0,
            _ => return Err(()),
        }),
        Kind::Date => json!(parse_date(value.as_str().ok_or(())?).ok_or(())?),
        Kind::DateTime => json!(parse_datetime_utc(value.as_str().ok_or(())?).ok_or(())?),
        Kind::File => return Ok(None),
        Kind::Text => json!(text_of(value).ok_or(())?),
    }))
}

/// Applies the caller's user-field values to an item (keys in either form, any case); keys of
/// no field of the type are ignored, as the service ignores unknown fields. A value that does
/// not fit its field refuses the call: `Err` names the field.
pub fn apply_values(
    item: &mut ItemRecord,
    defs: &[UserField],
    fields: &Map<String, Value>,
) -> Result<(), String> {
    for (key, value) in fields {
        let Some(f) = defs.iter().find(|f| f.is_named(key)) else {
            continue;
        };
        if kind_of(f.user_type()) == Kind::File {
            continue;
        }
        let invalid = |_| f.name().to_string();
        let stored = if f.multiple() {
            let given: Vec<&Value> = match value {
                Value::Array(a) => a.iter().collect(),
                Value::Object(o) => o.values().collect(),
                other => vec![other],
            };
            let mut values = Vec::new();
            for v in given {
                if let Some(v) = normalise_one(f, v).map_err(invalid)? {
                    values.push(v);
                }
            }
            (!values.is_empty()).then_some(Value::Array(values))
        } else {
            let single = match value {
                Value::Array(a) => a.first().unwrap_or(&Value::Null),
                other => other,
            };
            normalise_one(f, single).map_err(invalid)?
        };
        match stored {
            Some(v) => item.extra.insert(value_key(f.id), v),
            None => item.extra.remove(&value_key(f.id)),
        };
    }
    // Values of fields deleted since go when the item is written.
    item.extra.retain(|k, _| {
        !k.starts_with(VALUE_KEY_PREFIX) || defs.iter().any(|f| value_key(f.id) == *k)
    });
    Ok(())
}

/// One stored value as the legacy methods show it (text: numbers as strings, yes/no as `1`/`0`).
fn legacy_one(v: &Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => json!((f as i64).to_string()),
            _ => json!(n.to_string()),
        },
        other => other.clone(),
    }
}

/// One stored value as `crm.item.*` shows it (numbers as numbers, yes/no as `Y`/`N`).
fn d7_one(f: &UserField, v: &Value) -> Value {
    match (kind_of(f.user_type()), v) {
        (Kind::Boolean, Value::Number(n)) => json!(if n.as_i64() == Some(1) { "Y" } else { "N" }),
        (Kind::Int, Value::Number(n)) => n.as_f64().map_or(v.clone(), |x| json!(x as i64)),
        _ => v.clone(),
    }
}

/// A field's value on an item, shown by `show` per value; unset is `null` (`[]` when multiple).
fn shown(item: &ItemRecord, f: &UserField, show: impl Fn(&Value) -> Value) -> Value {
    match item.extra.get(&value_key(f.id)) {
        Some(Value::Array(values)) => Value::Array(values.iter().map(&show).collect()),
        Some(v) if f.multiple() => Value::Array(vec![show(v)]),
        Some(v) => show(v),
        None if f.multiple() => json!([]),
        None => Value::Null,
    }
}

/// Adds the legacy form of an item's user-field values to `out`: every field with `None`
/// (`.get`), else those `select` asks for — by name, or all with `UF_*` (`*` does not include
/// them, as in the service).
pub fn add_legacy_values(
    out: &mut Map<String, Value>,
    item: &ItemRecord,
    defs: &[UserField],
    select: Option<&[String]>,
) {
    for f in defs {
        let wanted = match select {
            None => true,
            Some(select) => select
                .iter()
                .any(|s| s.eq_ignore_ascii_case("UF_*") || s.eq_ignore_ascii_case(f.name())),
        };
        if wanted {
            out.insert(f.name().to_string(), shown(item, f, legacy_one));
        }
    }
}

/// The `crm.item.*` form of an item's value of a user field (shown under `ufCrm…`).
pub fn d7_value(item: &ItemRecord, f: &UserField) -> Value {
    shown(item, f, |v| d7_one(f, v))
}

/// A filter operand for a user field; `None` when the value does not fit it (text for a
/// number field, so a legacy `%` on it compares for equality).
pub fn sql_value(user_type: &str, value: &Value) -> Option<SqlValue> {
    if value.is_null() || matches!(value, Value::String(s) if s.is_empty()) {
        return Some(SqlValue::Null);
    }
    let kind = kind_of(user_type);
    Some(match kind {
        Kind::Int => SqlValue::Real(bind_int(value)? as f64),
        Kind::Double => SqlValue::Real(match value {
            Value::Number(n) => n.as_f64()?,
            Value::String(s) => s.trim().parse::<f64>().ok()?,
            _ => return None,
        }),
        Kind::Boolean => SqlValue::Real(match value {
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Number(n) => n.as_f64()?,
            Value::String(s) if s.eq_ignore_ascii_case("y") || s == "1" || s == "true" => 1.0,
            Value::String(s) if s.eq_ignore_ascii_case("n") || s == "0" || s == "false" => 0.0,
            _ => return None,
        }),
        Kind::Date => SqlValue::Text(parse_date(value.as_str()?)?),
        Kind::DateTime => SqlValue::Text(parse_datetime_utc(value.as_str()?)?),
        Kind::File => return None,
        Kind::Text => SqlValue::Text(text_of(value)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_names_follow_the_service() {
        // The docs' table, and a field of a legacy type.
        assert_eq!(camel_name("UF_CRM_3_DIGIT"), "ufCrm3Digit");
        assert_eq!(camel_name("UF_CRM_3_1747309727"), "ufCrm3_1747309727");
        assert_eq!(camel_name("UF_CRM_3_DIGIT10"), "ufCrm_3_DIGIT10");
        assert_eq!(camel_name("UF_CRM_3_DIGIT_10"), "ufCrm_3_DIGIT_10");
        assert_eq!(camel_name("UF_CRM_1747309879"), "ufCrm_1747309879");
        assert_eq!(camel_name("UF_CRM_10_5186744711"), "ufCrm10_5186744711");
        assert_eq!(camel_name("UF_CRM_MY_FIELD"), "ufCrmMyField");
    }

    #[test]
    fn names_get_the_crm_prefix() {
        assert_eq!(full_name("manager_note").unwrap(), "UF_CRM_MANAGER_NOTE");
        assert_eq!(full_name("UF_MANAGER_NOTE").unwrap(), "UF_CRM_MANAGER_NOTE");
        assert_eq!(
            full_name("UF_CRM_MANAGER_NOTE").unwrap(),
            "UF_CRM_MANAGER_NOTE"
        );
        assert!(full_name("bad-name").is_err());
        assert!(full_name(&"X".repeat(44)).is_err());
        assert!(full_name(&"X".repeat(43)).is_ok());
    }
}
