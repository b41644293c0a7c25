//! Product rows of CRM items, shared by `crm.item.productrow.*` and the legacy
//! `crm.deal/lead/quote.productrows.*`: the owner's rights, the prices a row derives from its
//! final price, discount and tax, and the owner's `opportunity`, which follows its rows while
//! `isManualOpportunity` is `N` (in the same transaction as the change of the rows).
//!
//! Prices (docs `crm-item-productrow-add.md`, `crm-deal-productrows-set.md`): `price` is the
//! final price of one unit, discount and tax included; each derived price is rounded to cents
//! from the one before it, as the documented examples show:
//! `priceExclusive = price / (1 + taxRate)`, `priceNetto = priceExclusive / (1 - discountRate)`
//! (or `+ discountSum` for an absolute discount), `priceBrutto = priceNetto * (1 + taxRate)`,
//! `discountSum = priceNetto - priceExclusive`.

use super::access::{can, is_item_type};
use super::changes::{self, Change};
use super::item_fields;
use super::{Action, Binding, EntityTypeId, Permissions};
use crate::error::ApiError;
use crate::store::records::{Record, RecordKind};
use crate::store::{ItemRecord, Tx};
use b24_protocol::values::is_php_numeric;
use serde_json::{json, Map, Value};

/// Why a product-row operation was refused.
#[derive(Debug)]
pub enum RowError {
    /// The owner type has no product rows (or is no type here).
    EntityTypeNotSupported,
    /// The owner item does not exist.
    OwnerNotFound,
    /// The row does not exist.
    NotFound,
    /// The caller lacks the right on the owner.
    AccessDenied,
    /// A legacy row breaks a discount rule (the core's message, `ERROR_CORE`).
    Discount(&'static str),
    /// A value does not fit its field (the camelCase name).
    InvalidValue(&'static str),
    /// The store failed.
    Store(ApiError),
}

impl From<ApiError> for RowError {
    fn from(e: ApiError) -> Self {
        RowError::Store(e)
    }
}

/// The short symbolic code of an item type (`CCrmOwnerTypeAbbr`): `D`, `L`, `C`, `CO`, `Q`, `SI`,
/// or `T` and a smart process's type id in lower-case hexadecimal.
pub fn owner_code(entity_type_id: i64) -> String {
    match entity_type_id {
        EntityTypeId::LEAD => "L".into(),
        EntityTypeId::DEAL => "D".into(),
        EntityTypeId::CONTACT => "C".into(),
        EntityTypeId::COMPANY => "CO".into(),
        EntityTypeId::QUOTE => "Q".into(),
        EntityTypeId::SMART_INVOICE => "SI".into(),
        id => format!("T{id:x}"),
    }
}

/// The item type a short code names, if it holds items here.
pub fn owner_type_of(tx: &mut dyn Tx, code: &str) -> Result<Option<i64>, ApiError> {
    let entity_type_id = match code.to_ascii_uppercase().as_str() {
        "L" => EntityTypeId::LEAD,
        "D" => EntityTypeId::DEAL,
        "C" => EntityTypeId::CONTACT,
        "CO" => EntityTypeId::COMPANY,
        "Q" => EntityTypeId::QUOTE,
        "SI" => EntityTypeId::SMART_INVOICE,
        other => match other
            .strip_prefix('T')
            .and_then(|hex| i64::from_str_radix(hex, 16).ok())
        {
            Some(id) if EntityTypeId::is_dynamic(id) => id,
            _ => return Ok(None),
        },
    };
    Ok(is_item_type(tx, entity_type_id)?.then_some(entity_type_id))
}

/// The units of measure a new portal's catalogue has (`catalog.measure`): code and short name.
const MEASURES: &[(i64, &str)] = &[(6, "m"), (112, "l"), (163, "g"), (166, "kg"), (796, "pcs")];

fn measure_name(code: i64) -> &'static str {
    MEASURES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("", |(_, name)| name)
}

/// The fields a caller may write, camelCase with their legacy names.
pub const WRITABLE: &[(&str, &str)] = &[
    ("productId", "PRODUCT_ID"),
    ("productName", "PRODUCT_NAME"),
    ("price", "PRICE"),
    ("quantity", "QUANTITY"),
    ("discountTypeId", "DISCOUNT_TYPE_ID"),
    ("discountRate", "DISCOUNT_RATE"),
    ("discountSum", "DISCOUNT_SUM"),
    ("taxRate", "TAX_RATE"),
    ("taxIncluded", "TAX_INCLUDED"),
    ("measureCode", "MEASURE_CODE"),
    ("measureName", "MEASURE_NAME"),
    ("sort", "SORT"),
];

/// Every field of a row as `crm.item.productrow.fields` lists it: name, type, title, read-only,
/// and the legacy name.
pub const FIELDS: &[(&str, &str, &str, bool, &str)] = &[
    ("id", "integer", "ID", true, "ID"),
    ("ownerId", "integer", "Owner ID", false, "OWNER_ID"),
    ("ownerType", "string", "Owner Type", false, "OWNER_TYPE"),
    ("productId", "integer", "Product", false, "PRODUCT_ID"),
    (
        "productName",
        "string",
        "Product Name",
        false,
        "PRODUCT_NAME",
    ),
    ("price", "double", "Price", false, "PRICE"),
    (
        "priceAccount",
        "double",
        "Price in account currency",
        true,
        "PRICE_ACCOUNT",
    ),
    (
        "priceExclusive",
        "double",
        "Discounted price excluding tax",
        true,
        "PRICE_EXCLUSIVE",
    ),
    ("priceNetto", "double", "PRICE_NETTO", true, "PRICE_NETTO"),
    (
        "priceBrutto",
        "double",
        "PRICE_BRUTTO",
        true,
        "PRICE_BRUTTO",
    ),
    ("quantity", "double", "Quantity", false, "QUANTITY"),
    (
        "discountTypeId",
        "integer",
        "Discount Type",
        false,
        "DISCOUNT_TYPE_ID",
    ),
    (
        "discountRate",
        "double",
        "Discount Amount",
        false,
        "DISCOUNT_RATE",
    ),
    (
        "discountSum",
        "double",
        "Discount Total",
        false,
        "DISCOUNT_SUM",
    ),
    ("taxRate", "double", "Tax", false, "TAX_RATE"),
    (
        "taxIncluded",
        "char",
        "Tax included in price",
        false,
        "TAX_INCLUDED",
    ),
    ("customized", "char", "Modified", false, "CUSTOMIZED"),
    (
        "measureCode",
        "integer",
        "Unit of Measure Code",
        false,
        "MEASURE_CODE",
    ),
    (
        "measureName",
        "string",
        "Unit of Measure",
        false,
        "MEASURE_NAME",
    ),
    ("sort", "integer", "Sorting", false, "SORT"),
    ("xmlId", "string", "XML_ID", true, "XML_ID"),
    ("type", "integer", "TYPE", true, "TYPE"),
];

/// The camelCase name of a row field given under either name.
pub fn field_name(key: &str) -> Option<&'static str> {
    FIELDS
        .iter()
        .find(|(name, _, _, _, legacy)| key == *name || key.eq_ignore_ascii_case(legacy))
        .map(|(name, ..)| *name)
}

fn round2(x: f64) -> f64 {
    let r = (x * 100.0).round() / 100.0;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

fn number(field: &'static str, value: &Value) -> Result<Option<f64>, RowError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::Number(n) => n.as_f64().map(Some).ok_or(RowError::InvalidValue(field)),
        Value::String(s) if is_php_numeric(s) => s
            .trim()
            .parse::<f64>()
            .map(Some)
            .map_err(|_| RowError::InvalidValue(field)),
        _ => Err(RowError::InvalidValue(field)),
    }
}

/// A JSON number: integral values as integers (`80000`, not `80000.0`), as PHP prints floats.
fn json_number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        Value::from(x as i64)
    } else {
        json!(x)
    }
}

/// A row being written: its owner, sort and body, before the prices are derived.
#[derive(Debug, Clone)]
pub struct RowDraft {
    /// The stored record (id 0 until inserted).
    pub record: Record,
    /// Whether the caller named a discount type, rate and sum (legacy checks).
    given: [bool; 3],
}

impl RowDraft {
    /// A new row of an owner, with the documented defaults.
    pub fn new(owner: Binding) -> Self {
        let mut extra = Map::new();
        extra.insert("productId".into(), json!(0));
        extra.insert("productName".into(), json!(""));
        extra.insert("price".into(), json!(0));
        extra.insert("quantity".into(), json!(1));
        extra.insert("discountTypeId".into(), json!(2));
        extra.insert("discountRate".into(), json!(0));
        extra.insert("discountSum".into(), json!(0));
        extra.insert("taxRate".into(), Value::Null);
        extra.insert("taxIncluded".into(), json!("N"));
        extra.insert("customized".into(), json!("Y"));
        extra.insert("measureCode".into(), json!(0));
        extra.insert("measureName".into(), json!(""));
        extra.insert("xmlId".into(), json!(""));
        extra.insert("type".into(), json!(1));
        RowDraft {
            record: Record {
                id: 0,
                owner_type_id: owner.entity_type_id,
                owner_id: owner.entity_id,
                sort: 0,
                extra,
            },
            given: [false; 3],
        }
    }

    /// An existing row, to be changed.
    pub fn existing(record: Record) -> Self {
        RowDraft {
            record,
            given: [true; 3],
        }
    }

    /// Applies the caller's fields (camelCase or legacy names; unknown and read-only ones are
    /// ignored, as the service does).
    pub fn apply(&mut self, fields: &Map<String, Value>) -> Result<(), RowError> {
        for (key, value) in fields {
            let Some(name) = WRITABLE
                .iter()
                .find(|(camel, legacy)| key == camel || key.eq_ignore_ascii_case(legacy))
                .map(|(camel, _)| *camel)
            else {
                continue;
            };
            let extra = &mut self.record.extra;
            match name {
                "productName" | "measureName" => {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Null => String::new(),
                        _ => return Err(RowError::InvalidValue(name)),
                    };
                    extra.insert(name.into(), json!(text));
                }
                "taxIncluded" => {
                    let yes = match value {
                        Value::String(s) => s.eq_ignore_ascii_case("Y"),
                        Value::Bool(b) => *b,
                        Value::Number(n) => n.as_i64() == Some(1),
                        _ => false,
                    };
                    extra.insert(name.into(), json!(if yes { "Y" } else { "N" }));
                }
                "productId" | "discountTypeId" | "measureCode" | "sort" => {
                    let n = number(name, value)?.unwrap_or(0.0) as i64;
                    if name == "discountTypeId" && !(n == 1 || n == 2) {
                        return Err(RowError::InvalidValue(name));
                    }
                    if name == "sort" {
                        self.record.sort = n;
                    } else {
                        extra.insert(name.into(), json!(n));
                    }
                    if name == "discountTypeId" {
                        self.given[0] = true;
                    }
                }
                "taxRate" => {
                    let rate = number(name, value)?;
                    extra.insert(name.into(), rate.map_or(Value::Null, json_number));
                }
                _ => {
                    let n = number(name, value)?.unwrap_or(0.0);
                    extra.insert(name.into(), json_number(n));
                    match name {
                        "discountRate" => self.given[1] = true,
                        "discountSum" => self.given[2] = true,
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// The legacy `productrows.set` checks on discounts (docs `crm-deal-productrows-set.md`).
    pub fn check_legacy_discount(&self) -> Result<(), RowError> {
        let [type_given, rate_given, sum_given] = self.given;
        let rate = self.get("discountRate");
        match self.record.extra["discountTypeId"].as_i64() {
            Some(2) if type_given && !rate_given => Err(RowError::Discount(
                "Discount Rate (DISCOUNT_RATE) is required if Percentage Discount Type (DISCOUNT_TYPE_ID) is defined",
            )),
            Some(2) if type_given && rate == 100.0 && !sum_given => Err(RowError::Discount(
                "Discount Sum (DISCOUNT_SUM) is required if Percentage Discount Type (DISCOUNT_TYPE_ID) is defined and Discount Rate (DISCOUNT_RATE) is 100%",
            )),
            Some(1) if type_given && !sum_given => Err(RowError::Discount(
                "Discount Sum (DISCOUNT_SUM) is required if Monetary Discount Type (DISCOUNT_TYPE_ID) is defined",
            )),
            _ => Ok(()),
        }
    }

    fn get(&self, key: &str) -> f64 {
        self.record
            .extra
            .get(key)
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    }

    /// Fills the name and unit from the catalogue product when the caller gave none, and
    /// derives the prices.
    fn finish(&mut self, tx: &mut dyn Tx) -> Result<(), RowError> {
        let product_id = self.record.extra["productId"].as_i64().unwrap_or(0);
        if product_id > 0 {
            if let Some(product) = tx.record(RecordKind::Product, product_id)? {
                let extra = &mut self.record.extra;
                if extra["productName"].as_str().is_none_or(str::is_empty) {
                    extra.insert("productName".into(), product.extra["NAME"].clone());
                }
                if extra["measureCode"].as_i64().unwrap_or(0) == 0 {
                    if let Some(code) = product.extra["MEASURE"].as_i64() {
                        extra.insert("measureCode".into(), json!(code));
                    }
                }
            }
        }
        let code = self.record.extra["measureCode"].as_i64().unwrap_or(0);
        if self.record.extra["measureName"]
            .as_str()
            .is_none_or(str::is_empty)
        {
            self.record
                .extra
                .insert("measureName".into(), json!(measure_name(code)));
        }
        self.derive_prices();
        Ok(())
    }

    fn derive_prices(&mut self) {
        let price = self.get("price");
        let tax = self.get("taxRate") / 100.0;
        let exclusive = round2(price / (1.0 + tax));
        let percent = self.record.extra["discountTypeId"].as_i64() != Some(1);
        let (netto, rate, sum) = if percent {
            let rate = self.get("discountRate");
            let netto = if rate >= 100.0 {
                round2(exclusive + self.get("discountSum"))
            } else {
                round2(exclusive / (1.0 - rate / 100.0))
            };
            (netto, rate, round2(netto - exclusive))
        } else {
            let sum = self.get("discountSum");
            let netto = round2(exclusive + sum);
            let rate = if netto == 0.0 {
                0.0
            } else {
                round2(sum / netto * 100.0)
            };
            (netto, rate, sum)
        };
        let brutto = round2(netto * (1.0 + tax));
        let extra = &mut self.record.extra;
        extra.insert("priceAccount".into(), json_number(price));
        extra.insert("priceExclusive".into(), json_number(exclusive));
        extra.insert("priceNetto".into(), json_number(netto));
        extra.insert("priceBrutto".into(), json_number(brutto));
        extra.insert("discountRate".into(), json_number(rate));
        extra.insert("discountSum".into(), json_number(sum));
    }
}

/// A row as `crm.item.productrow.*` shows it.
pub fn row_json(record: &Record) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(record.id));
    out.insert("ownerId".into(), json!(record.owner_id));
    out.insert("ownerType".into(), json!(owner_code(record.owner_type_id)));
    for (name, ..) in FIELDS.iter().skip(3) {
        let value = match *name {
            "sort" => json!(record.sort),
            _ => record.extra.get(*name).cloned().unwrap_or(Value::Null),
        };
        out.insert((*name).into(), value);
    }
    Value::Object(out)
}

/// A row as the legacy `productrows.get` shows it: `ID` and `OWNER_ID` strings, the rest typed,
/// `PRICE_ACCOUNT` a string with two decimals, and `ORIGINAL_PRODUCT_NAME` beside the name.
pub fn legacy_row_json(record: &Record) -> Value {
    let row = row_json(record);
    let mut out = Map::new();
    for (name, _, _, _, legacy) in FIELDS {
        let value = row[*name].clone();
        let value = match *legacy {
            "ID" | "OWNER_ID" => json!(value.to_string()),
            "PRICE_ACCOUNT" => json!(format!("{:.2}", value.as_f64().unwrap_or(0.0))),
            _ => value,
        };
        out.insert((*legacy).into(), value);
        if *legacy == "PRODUCT_NAME" {
            out.insert("ORIGINAL_PRODUCT_NAME".into(), row["productName"].clone());
            out.insert("PRODUCT_DESCRIPTION".into(), Value::Null);
        }
    }
    Value::Object(out)
}

/// The owner's type for a short code: `ENTITY_TYPE_NOT_SUPPORTED` when it holds no items here.
pub fn owner_type(tx: &mut dyn Tx, code: &str) -> Result<i64, RowError> {
    owner_type_of(tx, code)?.ok_or(RowError::EntityTypeNotSupported)
}

/// The owner, checked: it exists (`OWNER_NOT_FOUND`) and the caller has `action` on it.
pub fn check_owner(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    owner: Binding,
    action: Action,
) -> Result<(), RowError> {
    // Reading the item locks it in a write transaction: changes of one owner's rows (and of
    // its amount) run one after the other.
    if owner.entity_id <= 0 || tx.item(owner.entity_type_id, owner.entity_id)?.is_none() {
        return Err(RowError::OwnerNotFound);
    }
    if !can(tx, permissions, owner, action)? {
        return Err(RowError::AccessDenied);
    }
    Ok(())
}

/// A row and its owner, checked for `action` on the owner.
pub fn existing(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    action: Action,
) -> Result<Record, RowError> {
    if action != Action::Read {
        // The owner first, as every row change locks it, then the row.
        let (owner_type_id, owner_id) = tx
            .record_owner(RecordKind::ProductRow, id)?
            .ok_or(RowError::NotFound)?;
        tx.item(owner_type_id, owner_id)?;
    }
    let record = tx
        .record(RecordKind::ProductRow, id)?
        .ok_or(RowError::NotFound)?;
    let owner = Binding::new(record.owner_type_id, record.owner_id);
    if !can(tx, permissions, owner, action)? {
        return Err(RowError::AccessDenied);
    }
    Ok(record)
}

/// Stores a new row of a checked owner; the owner's amount follows.
pub fn add(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    mut draft: RowDraft,
) -> Result<Record, RowError> {
    let record = insert(tx, &mut draft)?;
    rows_changed(tx, permissions, record.owner_type_id, record.owner_id)?;
    Ok(record)
}

fn insert(tx: &mut dyn Tx, draft: &mut RowDraft) -> Result<Record, RowError> {
    draft.finish(tx)?;
    let mut record = draft.record.clone();
    record.id = tx.insert_record(RecordKind::ProductRow, &record)?;
    if record.extra["productName"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        // Neither a name nor a product: the core names the row after its id.
        record
            .extra
            .insert("productName".into(), json!(format!("[{}]", record.id)));
        tx.update_record(RecordKind::ProductRow, &record)?;
    }
    Ok(record)
}

/// Changes a row; the owner's amount follows.
pub fn update(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    mut draft: RowDraft,
) -> Result<Record, RowError> {
    draft.finish(tx)?;
    let record = draft.record;
    tx.update_record(RecordKind::ProductRow, &record)?;
    rows_changed(tx, permissions, record.owner_type_id, record.owner_id)?;
    Ok(record)
}

/// Deletes a row; the owner's amount follows.
pub fn delete(tx: &mut dyn Tx, permissions: &Permissions, record: &Record) -> Result<(), RowError> {
    tx.delete_record(RecordKind::ProductRow, record.id)?;
    rows_changed(tx, permissions, record.owner_type_id, record.owner_id)?;
    Ok(())
}

/// Replaces every row of a checked owner with `drafts`, in order; returns the new rows.
pub fn set(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    owner: Binding,
    drafts: Vec<RowDraft>,
) -> Result<Vec<Record>, RowError> {
    tx.delete_records_of(
        RecordKind::ProductRow,
        owner.entity_type_id,
        owner.entity_id,
    )?;
    let mut rows = Vec::with_capacity(drafts.len());
    for mut draft in drafts {
        rows.push(insert(tx, &mut draft)?);
    }
    rows_changed(tx, permissions, owner.entity_type_id, owner.entity_id)?;
    Ok(rows)
}

/// The amount an item's rows add up to: `price × quantity`, rounded to cents.
fn rows_total(rows: &[Record]) -> f64 {
    let sum: f64 = rows
        .iter()
        .map(|r| {
            r.extra.get("price").and_then(Value::as_f64).unwrap_or(0.0)
                * r.extra
                    .get("quantity")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0)
        })
        .sum();
    round2(sum)
}

/// Whether the item's amount follows its rows: the type has an amount and
/// `isManualOpportunity` is not `Y`.
fn follows_rows(item: &ItemRecord) -> bool {
    item_fields::find(item.entity_type_id, "opportunity").is_some()
        && item
            .extra
            .get("isManualOpportunity")
            .and_then(Value::as_str)
            != Some("Y")
}

/// Sets an item's `opportunity` to its rows' total when it follows them and has rows; `true`
/// when the value changed. Used by item updates too, so an amount written by hand does not
/// stick while the rows decide it.
pub fn sync_opportunity(tx: &mut dyn Tx, item: &mut ItemRecord) -> Result<bool, ApiError> {
    if !follows_rows(item) {
        return Ok(false);
    }
    let rows = tx.records_of(RecordKind::ProductRow, item.entity_type_id, item.id)?;
    if rows.is_empty() {
        return Ok(false);
    }
    let total = json_number(rows_total(&rows));
    if item.extra.get("opportunity") == Some(&total) {
        return Ok(false);
    }
    item.extra.insert("opportunity".into(), total);
    Ok(true)
}

/// After a change of an item's rows: its amount follows them (also to 0 when the last row
/// went), and the item's update event fires when the amount changed.
fn rows_changed(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    entity_type_id: i64,
    id: i64,
) -> Result<(), ApiError> {
    let Some(mut item) = tx.item(entity_type_id, id)? else {
        return Ok(());
    };
    if !follows_rows(&item) {
        return Ok(());
    }
    let rows = tx.records_of(RecordKind::ProductRow, entity_type_id, id)?;
    let total = json_number(rows_total(&rows));
    if item.extra.get("opportunity") == Some(&total) {
        return Ok(());
    }
    item.extra.insert("opportunity".into(), total);
    item.updated_by = permissions.user_id;
    item.updated_time = tx.now_iso();
    tx.update_item(&item)?;
    changes::item_changed(tx, Change::Updated, entity_type_id, id, permissions.user_id)
}

/// An item was deleted: its rows go with it, as the core deletes an owner's product rows.
pub fn owner_deleted(tx: &mut dyn Tx, entity_type_id: i64, id: i64) -> Result<(), ApiError> {
    tx.delete_records_of(RecordKind::ProductRow, entity_type_id, id)?;
    Ok(())
}
