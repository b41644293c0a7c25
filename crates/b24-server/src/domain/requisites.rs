//! Requisites (`crm.requisite.*`), their bank details (`crm.requisite.bankdetail.*`) and
//! addresses (`crm.address.*`): legal details of companies and contacts. Rights come from the
//! company or contact they belong to (an address of a requisite: the requisite's owner); a
//! requisite goes with its owner, and its bank details and addresses go with it.

use super::access::can;
use super::changes::record_changed;
use super::{Action, Binding, EntityTypeId, Permissions};
use crate::error::ApiError;
use crate::store::records::{Record, RecordKind};
use crate::store::Tx;
use b24_protocol::values::{bind_int, is_php_numeric};
use serde_json::{json, Map, Value};

/// The entity type of a requisite (an address or bank detail's owner), `CCrmOwnerType::Requisite`.
pub const REQUISITE_TYPE: i64 = 8;

/// Address types (`crm.enum.addresstype`).
pub const ADDRESS_TYPES: [i64; 6] = [1, 4, 6, 8, 9, 11];

/// How a field is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number.
    Int,
    /// Text.
    Text,
    /// `Y` / `N`.
    Char,
    /// Set by the server.
    Server,
}

/// A field: name, wire type, kind, title, required.
pub type Field = (&'static str, &'static str, Kind, &'static str, bool);

macro_rules! text_fields {
    ($($name:literal => $title:literal),* $(,)?) => {
        &[$(($name, "string", Kind::Text, $title, false)),*]
    };
}

/// The requisite's own fields (the `RQ_*` fields follow in [`REQUISITE_RQ_FIELDS`]).
pub const REQUISITE_FIELDS: &[Field] = &[
    ("ID", "integer", Kind::Server, "ID", false),
    ("ENTITY_TYPE_ID", "integer", Kind::Int, "Entity type", true),
    ("ENTITY_ID", "integer", Kind::Int, "Entity", true),
    ("PRESET_ID", "integer", Kind::Int, "Template", true),
    ("DATE_CREATE", "datetime", Kind::Server, "Created", false),
    ("DATE_MODIFY", "datetime", Kind::Server, "Modified", false),
    ("CREATED_BY_ID", "user", Kind::Server, "Created by", false),
    ("MODIFY_BY_ID", "user", Kind::Server, "Modified by", false),
    ("NAME", "string", Kind::Text, "Name", true),
    ("CODE", "string", Kind::Text, "Symbolic code", false),
    ("XML_ID", "string", Kind::Text, "External ID", false),
    ("ORIGINATOR_ID", "string", Kind::Text, "Originator", false),
    ("ACTIVE", "char", Kind::Char, "Active", false),
    ("ADDRESS_ONLY", "char", Kind::Char, "Address only", false),
    ("SORT", "integer", Kind::Int, "Sort", false),
];

/// The `RQ_*` fields of a requisite (docs `crm-requisite-add.md`).
pub const REQUISITE_RQ_FIELDS: &[Field] = text_fields![
    "RQ_NAME" => "Full name", "RQ_FIRST_NAME" => "First name", "RQ_LAST_NAME" => "Last name",
    "RQ_SECOND_NAME" => "Second name", "RQ_COMPANY_ID" => "Company ID",
    "RQ_COMPANY_NAME" => "Company name", "RQ_COMPANY_FULL_NAME" => "Full company name",
    "RQ_COMPANY_REG_DATE" => "Registration date", "RQ_DIRECTOR" => "Director",
    "RQ_ACCOUNTANT" => "Chief accountant", "RQ_CEO_NAME" => "CEO name",
    "RQ_CEO_WORK_POS" => "CEO position", "RQ_CONTACT" => "Contact person", "RQ_EMAIL" => "E-mail",
    "RQ_PHONE" => "Phone", "RQ_FAX" => "Fax", "RQ_IDENT_TYPE" => "Identification method",
    "RQ_IDENT_DOC" => "Document type", "RQ_IDENT_DOC_SER" => "Series",
    "RQ_IDENT_DOC_NUM" => "Number", "RQ_IDENT_DOC_PERS_NUM" => "Personal number",
    "RQ_IDENT_DOC_DATE" => "Issue date", "RQ_IDENT_DOC_ISSUED_BY" => "Issued by",
    "RQ_IDENT_DOC_DEP_CODE" => "Department code", "RQ_INN" => "TIN", "RQ_KPP" => "KPP",
    "RQ_USRLE" => "Commercial register number", "RQ_IFNS" => "IFNS", "RQ_OGRN" => "OGRN",
    "RQ_OGRNIP" => "OGRNIP", "RQ_OKPO" => "OKPO", "RQ_OKTMO" => "OKTMO", "RQ_OKVED" => "OKVED",
    "RQ_EDRPOU" => "EDRPOU", "RQ_DRFO" => "DRFO", "RQ_KBE" => "KBE", "RQ_IIN" => "IIN",
    "RQ_BIN" => "BIN", "RQ_ST_CERT_SER" => "Certificate series",
    "RQ_ST_CERT_NUM" => "Certificate number", "RQ_ST_CERT_DATE" => "Certificate date",
    "RQ_VAT_PAYER" => "VAT payer", "RQ_VAT_ID" => "VAT ID",
    "RQ_VAT_CERT_SER" => "VAT certificate series", "RQ_VAT_CERT_NUM" => "VAT certificate number",
    "RQ_VAT_CERT_DATE" => "VAT certificate date", "RQ_RESIDENCE_COUNTRY" => "Country of residence",
    "RQ_BASE_DOC" => "Basis of authority", "RQ_REGON" => "REGON", "RQ_KRS" => "KRS",
    "RQ_PESEL" => "PESEL", "RQ_LEGAL_FORM" => "Legal form", "RQ_SIRET" => "SIRET",
    "RQ_SIREN" => "SIREN", "RQ_CAPITAL" => "Capital", "RQ_RCS" => "RCS", "RQ_CNPJ" => "CNPJ",
    "RQ_STATE_REG" => "State registration", "RQ_MNPL_REG" => "Municipal registration",
    "RQ_CPF" => "CPF",
];

/// A bank detail's fields (docs `crm-requisite-bank-detail-get.md`).
pub const BANK_DETAIL_FIELDS: &[Field] = &[
    ("ID", "integer", Kind::Server, "ID", false),
    ("ENTITY_ID", "integer", Kind::Int, "Requisite", true),
    ("COUNTRY_ID", "integer", Kind::Int, "Country", false),
    ("DATE_CREATE", "datetime", Kind::Server, "Created", false),
    ("DATE_MODIFY", "datetime", Kind::Server, "Modified", false),
    ("CREATED_BY_ID", "user", Kind::Server, "Created by", false),
    ("MODIFY_BY_ID", "user", Kind::Server, "Modified by", false),
    ("NAME", "string", Kind::Text, "Name", true),
    ("CODE", "string", Kind::Text, "Symbolic code", false),
    ("XML_ID", "string", Kind::Text, "External ID", false),
    ("ORIGINATOR_ID", "string", Kind::Text, "Originator", false),
    ("ACTIVE", "char", Kind::Char, "Active", false),
    ("SORT", "integer", Kind::Int, "Sort", false),
];

/// The `RQ_*` fields of a bank detail, and `COMMENTS`.
pub const BANK_DETAIL_RQ_FIELDS: &[Field] = text_fields![
    "RQ_BANK_NAME" => "Bank name", "RQ_BANK_CODE" => "Bank code", "RQ_BANK_ADDR" => "Bank address",
    "RQ_BANK_ROUTE_NUM" => "Routing number", "RQ_BIK" => "BIK", "RQ_MFO" => "MFO",
    "RQ_ACC_NAME" => "Account name", "RQ_ACC_NUM" => "Account number", "RQ_ACC_TYPE" => "Account type",
    "RQ_IIK" => "IIK", "RQ_ACC_CURRENCY" => "Account currency",
    "RQ_COR_ACC_NUM" => "Correspondent account", "RQ_IBAN" => "IBAN", "RQ_SWIFT" => "SWIFT",
    "RQ_BIC" => "BIC", "RQ_CODEB" => "Code B", "RQ_CODEG" => "Code G", "RQ_RIB" => "RIB",
    "RQ_AGENCY_NAME" => "Agency name", "COMMENTS" => "Comments",
];

/// An address's fields (docs `crm-address-list.md`), in the order answers show them.
pub const ADDRESS_FIELDS: &[Field] = &[
    ("TYPE_ID", "integer", Kind::Int, "Address type", true),
    ("ENTITY_TYPE_ID", "integer", Kind::Int, "Parent type", true),
    ("ENTITY_ID", "integer", Kind::Int, "Parent", true),
    ("ADDRESS_1", "string", Kind::Text, "Street, building", false),
    (
        "ADDRESS_2",
        "string",
        Kind::Text,
        "Apartment, office",
        false,
    ),
    ("CITY", "string", Kind::Text, "City", false),
    ("POSTAL_CODE", "string", Kind::Text, "Zip", false),
    ("REGION", "string", Kind::Text, "Region", false),
    ("PROVINCE", "string", Kind::Text, "State / Province", false),
    ("COUNTRY", "string", Kind::Text, "Country", false),
    ("COUNTRY_CODE", "string", Kind::Text, "Country code", false),
    (
        "LOC_ADDR_ID",
        "integer",
        Kind::Server,
        "Location address ID",
        false,
    ),
    (
        "ANCHOR_TYPE_ID",
        "integer",
        Kind::Server,
        "Anchor type",
        false,
    ),
    ("ANCHOR_ID", "integer", Kind::Server, "Anchor", false),
];

/// Why a requisite, bank detail or address operation was refused; each carries the legacy
/// proxy's text.
#[derive(Debug)]
pub enum RequisiteError {
    /// A refusal in the caller's words (`ENTITY_ID is not defined or invalid.`, …).
    Refused(String),
    /// The store failed.
    Store(ApiError),
}

impl From<ApiError> for RequisiteError {
    fn from(e: ApiError) -> Self {
        RequisiteError::Store(e)
    }
}

fn refused(text: impl Into<String>) -> RequisiteError {
    RequisiteError::Refused(text.into())
}

fn access_denied() -> RequisiteError {
    refused("Access denied.")
}

fn find(fields: &[&'static [Field]], key: &str) -> Option<&'static Field> {
    fields
        .iter()
        .flat_map(|set| set.iter())
        .find(|f| f.0.eq_ignore_ascii_case(key))
}

/// A caller's value for a field, stored typed; `None` when it does not fit.
fn normalise(f: &Field, value: &Value) -> Option<Value> {
    let empty = value.is_null() || value.as_str().is_some_and(str::is_empty);
    match f.2 {
        _ if empty => Some(Value::Null),
        Kind::Int => bind_int(value).map(Value::from),
        Kind::Char => match value {
            Value::String(s) => Some(json!(if s.eq_ignore_ascii_case("Y") {
                "Y"
            } else {
                "N"
            })),
            Value::Bool(b) => Some(json!(if *b { "Y" } else { "N" })),
            _ => None,
        },
        Kind::Text => match value {
            Value::String(s) => Some(json!(s)),
            Value::Number(n) => Some(json!(n.to_string())),
            _ => None,
        },
        Kind::Server => None,
    }
}

/// Applies the writable fields the caller sent (unknown and server-set ones are ignored).
fn apply(
    sets: &[&'static [Field]],
    extra: &mut Map<String, Value>,
    fields: &Map<String, Value>,
    skip: &[&str],
) -> Result<(), RequisiteError> {
    for (key, value) in fields {
        let Some(f) = find(sets, key) else { continue };
        if f.2 == Kind::Server || skip.contains(&f.0) {
            continue;
        }
        let value = normalise(f, value)
            .ok_or_else(|| refused(format!("The value of the field \"{}\" is not valid.", f.0)))?;
        extra.insert(f.0.into(), value);
    }
    Ok(())
}

/// Every field of the sets, `null` where unset.
fn blank(sets: &[&'static [Field]]) -> Map<String, Value> {
    sets.iter()
        .flat_map(|set| set.iter())
        .map(|f| (f.0.to_string(), Value::Null))
        .collect()
}

/// A record as the legacy proxy shows it: every value a string, `null` where unset.
pub fn legacy_json(sets: &[&'static [Field]], record: &Record) -> Value {
    let mut out = Map::new();
    for f in sets.iter().flat_map(|set| set.iter()) {
        let value = match record.extra.get(f.0) {
            _ if f.0 == "ID" => json!(record.id.to_string()),
            Some(Value::Number(n)) => json!(n.to_string()),
            Some(other) => other.clone(),
            None => Value::Null,
        };
        out.insert(f.0.into(), value);
    }
    Value::Object(out)
}

/// The integer a field holds (`ENTITY_ID`, `PRESET_ID`, …), if a positive one was sent.
fn positive(fields: &Map<String, Value>, name: &str) -> Option<i64> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| match v {
            Value::String(s) if !is_php_numeric(s) => None,
            other => bind_int(other),
        })
        .filter(|&n| n > 0)
}

/// Whether the caller may act on a company or contact (or lead, for addresses).
fn allowed(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    owner: Binding,
    action: Action,
) -> Result<bool, ApiError> {
    can(tx, permissions, owner, action)
}

fn owner_exists(tx: &mut dyn Tx, owner: Binding) -> Result<bool, ApiError> {
    Ok(tx
        .item_assignee(owner.entity_type_id, owner.entity_id)?
        .is_some())
}

// --- requisites ---

/// The default templates of a new portal (`crm.requisite.preset.list`): id, name, XML_ID.
pub const PRESETS: &[(i64, &str, &str)] = &[
    (1, "Organization", "#CRM_REQUISITE_PRESET_DEF_RU_COMPANY#"),
    (
        2,
        "Sole Proprietorship",
        "#CRM_REQUISITE_PRESET_DEF_RU_INDIVIDUAL#",
    ),
    (3, "Individual", "#CRM_REQUISITE_PRESET_DEF_RU_PERSON#"),
];

/// The fields of a template, as `crm.requisite.preset.list` shows them.
pub fn preset_json(id: i64, name: &str, xml_id: &str) -> Value {
    json!({
        "ID": id.to_string(), "ENTITY_TYPE_ID": REQUISITE_TYPE.to_string(), "COUNTRY_ID": "1",
        "DATE_CREATE": "", "DATE_MODIFY": "", "CREATED_BY_ID": "1", "MODIFY_BY_ID": null,
        "NAME": name, "XML_ID": xml_id, "ACTIVE": "Y", "SORT": "500",
    })
}

/// The requisite field sets, in answer order.
pub const REQUISITE_SETS: &[&[Field]] = &[REQUISITE_FIELDS, REQUISITE_RQ_FIELDS];

fn requisite_not_found(id: i64) -> RequisiteError {
    refused(format!("The Requisite with ID '{id}' is not found"))
}

/// A requisite the caller may act on.
pub fn requisite(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    action: Action,
) -> Result<Record, RequisiteError> {
    let record = tx
        .record(RecordKind::Requisite, id)?
        .ok_or_else(|| requisite_not_found(id))?;
    let owner = Binding::new(record.owner_type_id, record.owner_id);
    if !allowed(tx, permissions, owner, action)? {
        return Err(access_denied());
    }
    Ok(record)
}

/// Checks the owner and template of a requisite's fields.
fn requisite_owner(
    tx: &mut dyn Tx,
    fields: &Map<String, Value>,
) -> Result<(Binding, i64), RequisiteError> {
    let entity_type_id = positive(fields, "ENTITY_TYPE_ID")
        .filter(|t| matches!(*t, EntityTypeId::CONTACT | EntityTypeId::COMPANY))
        .ok_or_else(|| refused("ENTITY_TYPE_ID is not defined or invalid."))?;
    let entity_id = positive(fields, "ENTITY_ID")
        .ok_or_else(|| refused("ENTITY_ID is not defined or invalid."))?;
    let preset = positive(fields, "PRESET_ID")
        .filter(|p| PRESETS.iter().any(|(id, ..)| id == p))
        .ok_or_else(|| refused("PRESET_ID is not defined or invalid."))?;
    let owner = Binding::new(entity_type_id, entity_id);
    if !owner_exists(tx, owner)? {
        return Err(refused("Entity not found."));
    }
    Ok((owner, preset))
}

fn require_name(extra: &Map<String, Value>) -> Result<(), RequisiteError> {
    if extra["NAME"].as_str().is_none_or(|s| s.trim().is_empty()) {
        return Err(refused("The field \"Name\" is required."));
    }
    Ok(())
}

/// Creates a requisite of a company or contact the caller may add to; returns its id.
pub fn add_requisite(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    fields: &Map<String, Value>,
) -> Result<i64, RequisiteError> {
    let (owner, preset) = requisite_owner(tx, fields)?;
    if !allowed(tx, permissions, owner, Action::Add)? {
        return Err(access_denied());
    }
    let mut extra = blank(REQUISITE_SETS);
    extra.insert("ACTIVE".into(), json!("Y"));
    extra.insert("ADDRESS_ONLY".into(), json!("N"));
    extra.insert("SORT".into(), json!(500));
    extra.insert("RQ_VAT_PAYER".into(), json!("N"));
    apply(REQUISITE_SETS, &mut extra, fields, &[])?;
    require_name(&extra)?;
    stamp(tx, &mut extra, permissions, true);
    extra.insert("PRESET_ID".into(), json!(preset));
    extra.insert("ENTITY_TYPE_ID".into(), json!(owner.entity_type_id));
    extra.insert("ENTITY_ID".into(), json!(owner.entity_id));
    let record = Record {
        id: 0,
        owner_type_id: owner.entity_type_id,
        owner_id: owner.entity_id,
        sort: extra["SORT"].as_i64().unwrap_or(500),
        extra,
    };
    let id = tx.insert_record(RecordKind::Requisite, &record)?;
    record_changed(
        tx,
        "ONCRMREQUISITEADD",
        json!({"ID": id}),
        permissions.user_id,
    )?;
    Ok(id)
}

/// Sets the created / modified stamps.
fn stamp(tx: &mut dyn Tx, extra: &mut Map<String, Value>, permissions: &Permissions, new: bool) {
    let now = tx.now_iso();
    if new {
        extra.insert("DATE_CREATE".into(), json!(now));
        extra.insert("DATE_MODIFY".into(), json!(""));
        extra.insert("CREATED_BY_ID".into(), json!(permissions.user_id));
        extra.insert("MODIFY_BY_ID".into(), Value::Null);
    } else {
        extra.insert("DATE_MODIFY".into(), json!(now));
        extra.insert("MODIFY_BY_ID".into(), json!(permissions.user_id));
    }
}

/// Changes a requisite; moving it to another owner or template is checked like an add.
pub fn update_requisite(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    fields: &Map<String, Value>,
) -> Result<(), RequisiteError> {
    let mut record = requisite(tx, permissions, id, Action::Update)?;
    let mut merged = record.extra.clone();
    for (k, v) in fields {
        merged.insert(k.to_ascii_uppercase(), v.clone());
    }
    let (owner, preset) = requisite_owner(tx, &merged)?;
    if owner != Binding::new(record.owner_type_id, record.owner_id)
        && !allowed(tx, permissions, owner, Action::Update)?
    {
        return Err(access_denied());
    }
    apply(REQUISITE_SETS, &mut record.extra, fields, &[])?;
    require_name(&record.extra)?;
    stamp(tx, &mut record.extra, permissions, false);
    record.extra.insert("PRESET_ID".into(), json!(preset));
    record
        .extra
        .insert("ENTITY_TYPE_ID".into(), json!(owner.entity_type_id));
    record
        .extra
        .insert("ENTITY_ID".into(), json!(owner.entity_id));
    record.owner_type_id = owner.entity_type_id;
    record.owner_id = owner.entity_id;
    record.sort = record.extra["SORT"].as_i64().unwrap_or(500);
    tx.update_record(RecordKind::Requisite, &record)?;
    record_changed(
        tx,
        "ONCRMREQUISITEUPDATE",
        json!({"ID": id}),
        permissions.user_id,
    )?;
    Ok(())
}

/// Deletes a requisite with its bank details and addresses.
pub fn delete_requisite(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
) -> Result<(), RequisiteError> {
    requisite(tx, permissions, id, Action::Delete)?;
    remove_requisite(tx, id)?;
    record_changed(
        tx,
        "ONCRMREQUISITEDELETE",
        json!({"ID": id}),
        permissions.user_id,
    )?;
    Ok(())
}

fn remove_requisite(tx: &mut dyn Tx, id: i64) -> Result<(), ApiError> {
    tx.delete_record(RecordKind::Requisite, id)?;
    tx.delete_records_of(RecordKind::BankDetail, REQUISITE_TYPE, id)?;
    tx.delete_records_of(RecordKind::Address, REQUISITE_TYPE, id)?;
    Ok(())
}

/// A company, contact or lead was deleted: its requisites (with their bank details and
/// addresses) and its own addresses go with it.
pub fn owner_deleted(tx: &mut dyn Tx, entity_type_id: i64, id: i64) -> Result<(), ApiError> {
    if !matches!(
        entity_type_id,
        EntityTypeId::CONTACT | EntityTypeId::COMPANY | EntityTypeId::LEAD
    ) {
        return Ok(());
    }
    for requisite in tx.delete_records_of(RecordKind::Requisite, entity_type_id, id)? {
        tx.delete_records_of(RecordKind::BankDetail, REQUISITE_TYPE, requisite)?;
        tx.delete_records_of(RecordKind::Address, REQUISITE_TYPE, requisite)?;
    }
    tx.delete_records_of(RecordKind::Address, entity_type_id, id)?;
    Ok(())
}

// --- bank details ---

/// The bank-detail field sets, in answer order.
pub const BANK_DETAIL_SETS: &[&[Field]] = &[BANK_DETAIL_FIELDS, BANK_DETAIL_RQ_FIELDS];

/// A bank detail the caller may act on (through its requisite's owner).
pub fn bank_detail(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    action: Action,
) -> Result<Record, RequisiteError> {
    let record = tx.record(RecordKind::BankDetail, id)?.ok_or_else(|| {
        refused(format!(
            "The RequisiteBankDetail with ID '{id}' is not found"
        ))
    })?;
    requisite(tx, permissions, record.owner_id, action)?;
    Ok(record)
}

/// The requisite a bank detail's `ENTITY_ID` names, checked for `action` on its owner.
fn bank_detail_requisite(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    fields: &Map<String, Value>,
    action: Action,
) -> Result<i64, RequisiteError> {
    let id = positive(fields, "ENTITY_ID")
        .ok_or_else(|| refused("ENTITY_ID is not defined or invalid."))?;
    if tx.record(RecordKind::Requisite, id)?.is_none() {
        return Err(refused("ENTITY_ID is not defined or invalid."));
    }
    requisite(tx, permissions, id, action)?;
    Ok(id)
}

/// Adds a bank detail to a requisite the caller may change; returns its id.
pub fn add_bank_detail(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    fields: &Map<String, Value>,
) -> Result<i64, RequisiteError> {
    let requisite = bank_detail_requisite(tx, permissions, fields, Action::Update)?;
    let mut extra = blank(BANK_DETAIL_SETS);
    extra.insert("ACTIVE".into(), json!("Y"));
    extra.insert("SORT".into(), json!(500));
    extra.insert("COUNTRY_ID".into(), json!(1));
    apply(BANK_DETAIL_SETS, &mut extra, fields, &[])?;
    require_name(&extra)?;
    stamp(tx, &mut extra, permissions, true);
    extra.insert("ENTITY_ID".into(), json!(requisite));
    let record = Record {
        id: 0,
        owner_type_id: REQUISITE_TYPE,
        owner_id: requisite,
        sort: extra["SORT"].as_i64().unwrap_or(500),
        extra,
    };
    let id = tx.insert_record(RecordKind::BankDetail, &record)?;
    record_changed(
        tx,
        "ONCRMBANKDETAILADD",
        json!({"ID": id}),
        permissions.user_id,
    )?;
    Ok(id)
}

/// Changes a bank detail; it may move to another requisite the caller may change.
pub fn update_bank_detail(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    fields: &Map<String, Value>,
) -> Result<(), RequisiteError> {
    let mut record = bank_detail(tx, permissions, id, Action::Update)?;
    if fields.keys().any(|k| k.eq_ignore_ascii_case("ENTITY_ID")) {
        let requisite = bank_detail_requisite(tx, permissions, fields, Action::Update)?;
        record.owner_id = requisite;
        record.extra.insert("ENTITY_ID".into(), json!(requisite));
    }
    apply(BANK_DETAIL_SETS, &mut record.extra, fields, &["ENTITY_ID"])?;
    require_name(&record.extra)?;
    stamp(tx, &mut record.extra, permissions, false);
    record.sort = record.extra["SORT"].as_i64().unwrap_or(500);
    tx.update_record(RecordKind::BankDetail, &record)?;
    record_changed(
        tx,
        "ONCRMBANKDETAILUPDATE",
        json!({"ID": id}),
        permissions.user_id,
    )?;
    Ok(())
}

/// Deletes a bank detail of a requisite the caller may change.
pub fn delete_bank_detail(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
) -> Result<(), RequisiteError> {
    bank_detail(tx, permissions, id, Action::Update)?;
    tx.delete_record(RecordKind::BankDetail, id)?;
    record_changed(
        tx,
        "ONCRMBANKDETAILDELETE",
        json!({"ID": id}),
        permissions.user_id,
    )?;
    Ok(())
}

// --- addresses ---

/// The address field set.
pub const ADDRESS_SETS: &[&[Field]] = &[ADDRESS_FIELDS];

/// Which address `TYPE_ID`, `ENTITY_TYPE_ID` and `ENTITY_ID` name, checked in that order, and
/// the item whose rights apply (a requisite's owner; else the owner itself).
pub fn address_key(
    tx: &mut dyn Tx,
    fields: &Map<String, Value>,
) -> Result<(i64, Binding, Binding), RequisiteError> {
    let type_id = positive(fields, "TYPE_ID")
        .filter(|t| ADDRESS_TYPES.contains(t))
        .ok_or_else(|| refused("TYPE_ID is not defined or invalid."))?;
    let entity_type_id = positive(fields, "ENTITY_TYPE_ID")
        .filter(|t| {
            matches!(
                *t,
                REQUISITE_TYPE | EntityTypeId::CONTACT | EntityTypeId::COMPANY | EntityTypeId::LEAD
            )
        })
        .ok_or_else(|| refused("ENTITY_TYPE_ID is not defined or invalid."))?;
    let invalid_id = || refused("ENTITY_ID is not defined or invalid.");
    let entity_id = positive(fields, "ENTITY_ID").ok_or_else(invalid_id)?;
    let owner = Binding::new(entity_type_id, entity_id);
    let anchor = if entity_type_id == REQUISITE_TYPE {
        let requisite = tx
            .record(RecordKind::Requisite, entity_id)?
            .ok_or_else(invalid_id)?;
        Binding::new(requisite.owner_type_id, requisite.owner_id)
    } else {
        // Reading the item locks it (write transactions): two adds of one address type to
        // one owner run one after the other, and the second finds the first.
        if tx.item(owner.entity_type_id, owner.entity_id)?.is_none() {
            return Err(invalid_id());
        }
        owner
    };
    Ok((type_id, owner, anchor))
}

fn find_address(tx: &mut dyn Tx, type_id: i64, owner: Binding) -> Result<Option<Record>, ApiError> {
    Ok(tx
        .records_of(RecordKind::Address, owner.entity_type_id, owner.entity_id)?
        .into_iter()
        .find(|r| r.sort == type_id))
}

/// Adds an address of a type the owner does not have yet (`TypeAddress exists.`).
pub fn add_address(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    fields: &Map<String, Value>,
) -> Result<(), RequisiteError> {
    let (type_id, owner, anchor) = address_key(tx, fields)?;
    if !allowed(tx, permissions, anchor, Action::Update)? {
        return Err(access_denied());
    }
    if find_address(tx, type_id, owner)?.is_some() {
        return Err(refused("TypeAddress exists."));
    }
    let mut extra = blank(ADDRESS_SETS);
    apply(
        ADDRESS_SETS,
        &mut extra,
        fields,
        &["TYPE_ID", "ENTITY_TYPE_ID", "ENTITY_ID"],
    )?;
    extra.insert("TYPE_ID".into(), json!(type_id));
    extra.insert("ENTITY_TYPE_ID".into(), json!(owner.entity_type_id));
    extra.insert("ENTITY_ID".into(), json!(owner.entity_id));
    extra.insert("ANCHOR_TYPE_ID".into(), json!(anchor.entity_type_id));
    extra.insert("ANCHOR_ID".into(), json!(anchor.entity_id));
    let mut record = Record {
        id: 0,
        owner_type_id: owner.entity_type_id,
        owner_id: owner.entity_id,
        sort: type_id,
        extra,
    };
    record.id = tx.insert_record(RecordKind::Address, &record)?;
    // The location address the core keeps beside it: numbered by the address here.
    record.extra.insert("LOC_ADDR_ID".into(), json!(record.id));
    tx.update_record(RecordKind::Address, &record)?;
    address_event(
        tx,
        "ONCRMADDRESSREGISTER",
        type_id,
        owner,
        anchor,
        permissions,
    )
}

/// Changes an existing address (`TypeAddress not found.`).
pub fn update_address(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    fields: &Map<String, Value>,
) -> Result<(), RequisiteError> {
    let (type_id, owner, anchor) = address_key(tx, fields)?;
    if !allowed(tx, permissions, anchor, Action::Update)? {
        return Err(access_denied());
    }
    let mut record =
        find_address(tx, type_id, owner)?.ok_or_else(|| refused("TypeAddress not found."))?;
    apply(
        ADDRESS_SETS,
        &mut record.extra,
        fields,
        &["TYPE_ID", "ENTITY_TYPE_ID", "ENTITY_ID"],
    )?;
    tx.update_record(RecordKind::Address, &record)?;
    address_event(
        tx,
        "ONCRMADDRESSREGISTER",
        type_id,
        owner,
        anchor,
        permissions,
    )
}

/// Deletes an address.
pub fn delete_address(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    fields: &Map<String, Value>,
) -> Result<(), RequisiteError> {
    let (type_id, owner, anchor) = address_key(tx, fields)?;
    if !allowed(tx, permissions, anchor, Action::Update)? {
        return Err(access_denied());
    }
    let record =
        find_address(tx, type_id, owner)?.ok_or_else(|| refused("TypeAddress not found."))?;
    tx.delete_record(RecordKind::Address, record.id)?;
    address_event(
        tx,
        "ONCRMADDRESSUNREGISTER",
        type_id,
        owner,
        anchor,
        permissions,
    )
}

/// The item whose read right an address list for one owner needs.
pub fn anchor_of(tx: &mut dyn Tx, owner: Binding) -> Result<Option<Binding>, ApiError> {
    if owner.entity_type_id == REQUISITE_TYPE {
        return Ok(tx
            .record(RecordKind::Requisite, owner.entity_id)?
            .map(|r| Binding::new(r.owner_type_id, r.owner_id)));
    }
    Ok(Some(owner))
}

/// `ONCRMADDRESSREGISTER` (an add or a change) and `ONCRMADDRESSUNREGISTER` carry the address's
/// key and anchor (docs `on-crm-address-register.md`).
fn address_event(
    tx: &mut dyn Tx,
    event: &str,
    type_id: i64,
    owner: Binding,
    anchor: Binding,
    permissions: &Permissions,
) -> Result<(), RequisiteError> {
    let fields = json!({
        "TYPE_ID": type_id, "ENTITY_TYPE_ID": owner.entity_type_id, "ENTITY_ID": owner.entity_id,
        "ANCHOR_ID": anchor.entity_id, "ANCHOR_TYPE_ID": anchor.entity_type_id,
    });
    Ok(record_changed(tx, event, fields, permissions.user_id)?)
}
