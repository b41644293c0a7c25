//! CRM dictionaries (`crm.status.*`): what a new portal holds, the stages each pipeline gets,
//! which dictionary holds the stages of an item, and the rules items follow: an item's stage
//! (`stageId` / `STAGE_ID`, a lead's `statusId` / `STATUS_ID`) is an entry of its pipeline's
//! dictionary, and its pipeline (`categoryId`) exists.
//!
//! Dictionary names (`ENTITY_ID`) and stage codes follow the service: the default deal pipeline's
//! stages are `DEAL_STAGE` entries (`NEW`, `WON`, …), pipeline `n`'s are `DEAL_STAGE_n` entries
//! with codes prefixed `Cn:`, and a smart process `t`'s pipeline `c` has `DYNAMIC_t_STAGE_c`
//! entries prefixed `DTt_c:`.

use super::item_fields;
use super::items::ItemError;
use super::{EntityTypeId, Permissions};
use crate::error::ApiError;
use crate::store::categories::CategoryRecord;
use crate::store::statuses::StatusRecord;
use crate::store::{DynamicTypeRecord, ItemRecord, Tx};
use b24_protocol::RestError;
use serde_json::{Map, Value};

/// One entry of a template: code, name, sort, colour, semantics, system.
type Entry = (
    &'static str,
    &'static str,
    i64,
    &'static str,
    &'static str,
    bool,
);

/// Deal stages of every pipeline (docs: crm-status-list.md).
const DEAL_STAGES: &[Entry] = &[
    ("NEW", "New", 10, "#39A8EF", "", true),
    (
        "PREPARATION",
        "Document preparation",
        20,
        "#2FC6F6",
        "",
        false,
    ),
    (
        "PREPAYMENT_INVOICE",
        "Prepayment invoice",
        30,
        "#55D0E0",
        "",
        false,
    ),
    ("EXECUTING", "In progress", 40, "#47E4C2", "", false),
    ("FINAL_INVOICE", "Final invoice", 50, "#FFA900", "", false),
    ("WON", "Deal successful", 60, "#7BD500", "S", true),
    ("LOSE", "Deal failed", 70, "#FF5752", "F", true),
    (
        "APOLOGY",
        "Failure reason analysis",
        80,
        "#FF5752",
        "F",
        false,
    ),
];

/// Lead statuses.
const LEAD_STATUSES: &[Entry] = &[
    ("NEW", "Unassigned", 10, "#2FC6F6", "", true),
    ("IN_PROCESS", "In progress", 20, "#55D0E0", "", false),
    ("PROCESSED", "Processed", 30, "#FFA900", "", false),
    ("CONVERTED", "Good lead", 40, "#7BD500", "S", true),
    ("JUNK", "Junk lead", 50, "#FF5752", "F", true),
];

/// Quote statuses.
const QUOTE_STATUSES: &[Entry] = &[
    ("DRAFT", "New", 10, "#2FC6F6", "", true),
    ("SENT", "Sent to client", 20, "#55D0E0", "", false),
    ("APPROVED", "Approved", 30, "#7BD500", "S", true),
    ("DECLAINED", "Declined", 40, "#FF5752", "F", true),
];

/// Stages of every smart-process pipeline.
const DYNAMIC_STAGES: &[Entry] = &[
    ("NEW", "Start", 10, "#22B9FF", "", true),
    ("PREPARATION", "Preparation", 20, "#88B9FF", "", false),
    ("CLIENT", "Client's feedback", 30, "#FFA900", "", false),
    ("SUCCESS", "Success", 40, "#00FF00", "S", true),
    ("FAIL", "Fail", 50, "#FF5752", "F", true),
];

/// A plain dictionary entry: code and name (sorted 10, 20, … in this order).
type Plain = (&'static str, &'static str);

/// The dictionaries outside pipelines, with the names `crm.status.entity.types` gives them.
const PLAIN_DICTIONARIES: &[(&str, &str, &[Plain])] = &[
    (
        "SOURCE",
        "Sources",
        &[
            ("CALL", "Call"),
            ("EMAIL", "E-Mail"),
            ("WEB", "Website"),
            ("ADVERTISING", "Advertising"),
            ("PARTNER", "Existing client"),
            ("RECOMMENDATION", "By recommendation"),
            ("TRADE_SHOW", "Show/exhibition"),
            ("WEBFORM", "CRM form"),
            ("CALLBACK", "Callback"),
            ("RC_GENERATOR", "Sales boost"),
            ("STORE", "Online Store"),
            ("OTHER", "Other"),
        ],
    ),
    (
        "CONTACT_TYPE",
        "Contact type",
        &[
            ("CLIENT", "Clients"),
            ("SUPPLIER", "Suppliers"),
            ("PARTNER", "Partners"),
            ("OTHER", "Other"),
        ],
    ),
    (
        "COMPANY_TYPE",
        "Company type",
        &[
            ("CUSTOMER", "Client"),
            ("SUPPLIER", "Supplier"),
            ("COMPETITOR", "Competitor"),
            ("PARTNER", "Partner"),
            ("OTHER", "Other"),
        ],
    ),
    (
        "EMPLOYEES",
        "Number of employees",
        &[
            ("EMPLOYEES_1", "fewer than 50"),
            ("EMPLOYEES_2", "50-250"),
            ("EMPLOYEES_3", "250-500"),
            ("EMPLOYEES_4", "over 500"),
        ],
    ),
    (
        "INDUSTRY",
        "Industry",
        &[
            ("IT", "Information Technology"),
            ("TELECOM", "Telecommunication"),
            ("MANUFACTURING", "Manufacturing"),
            ("BANKING", "Banking Services"),
            ("CONSULTING", "Consulting"),
            ("FINANCE", "Finance"),
            ("GOVERNMENT", "Government"),
            ("DELIVERY", "Delivery"),
            ("ENTERTAINMENT", "Entertainment"),
            ("NOTPROFIT", "Non-profit"),
            ("OTHER", "Other"),
        ],
    ),
    (
        "DEAL_TYPE",
        "Deal type",
        &[
            ("SALE", "Sales"),
            ("COMPLEX", "Complex Sale"),
            ("GOODS", "Merchandise Sale"),
            ("SERVICES", "Service Sale"),
            ("SERVICE", "After-sales service"),
        ],
    ),
    (
        "HONORIFIC",
        "Salutations",
        &[
            ("HNR_EN_1", "Mr."),
            ("HNR_EN_2", "Mrs."),
            ("HNR_EN_3", "Ms."),
            ("HNR_EN_4", "Dr."),
        ],
    ),
];

/// The name of the default deal pipeline and of a smart process's first one.
pub const DEFAULT_CATEGORY_NAME: &str = "General";
/// The `sort` of the default deal pipeline (as the docs' `crm.category.list` example shows).
pub const DEFAULT_DEAL_CATEGORY_SORT: i64 = 300;
/// The `sort` a new pipeline gets when the caller gives none.
pub const DEFAULT_CATEGORY_SORT: i64 = 500;

/// What a dictionary is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dictionary {
    /// Stages of items of `entity_type_id` in pipeline `category_id` (0: deals' default).
    Stages {
        /// The item type (1 leads, 2 deals, 7 quotes, or a smart process).
        entity_type_id: i64,
        /// The pipeline.
        category_id: i64,
    },
    /// A plain list (sources, types, …).
    Plain,
}

/// The dictionary an `ENTITY_ID` names, if it is one this portal can have (pipelines are not
/// checked here: see [`exists`]).
pub fn parse_entity_id(entity_id: &str) -> Option<Dictionary> {
    let stages = |entity_type_id, category_id| {
        Some(Dictionary::Stages {
            entity_type_id,
            category_id,
        })
    };
    match entity_id {
        "STATUS" => return stages(EntityTypeId::LEAD, 0),
        "DEAL_STAGE" => return stages(EntityTypeId::DEAL, 0),
        "QUOTE_STATUS" => return stages(EntityTypeId::QUOTE, 0),
        _ => {}
    }
    if PLAIN_DICTIONARIES.iter().any(|(id, _, _)| *id == entity_id) {
        return Some(Dictionary::Plain);
    }
    let number = |s: &str| {
        (!s.is_empty() && s.len() < 19 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    if let Some(n) = entity_id.strip_prefix("DEAL_STAGE_").and_then(number) {
        return (n > 0).then_some(()).and(stages(EntityTypeId::DEAL, n));
    }
    let rest = entity_id.strip_prefix("DYNAMIC_")?;
    let (t, c) = rest.split_once("_STAGE_")?;
    let (t, c) = (number(t)?, number(c)?);
    EntityTypeId::is_dynamic(t).then_some(())?;
    stages(t, c)
}

/// The dictionary holding the stages of items of a type in a pipeline; `None` for types
/// without stages here (contacts, companies, smart invoices).
pub fn stage_entity_id(entity_type_id: i64, category_id: i64) -> Option<String> {
    match entity_type_id {
        EntityTypeId::LEAD => Some("STATUS".into()),
        EntityTypeId::DEAL if category_id == 0 => Some("DEAL_STAGE".into()),
        EntityTypeId::DEAL => Some(format!("DEAL_STAGE_{category_id}")),
        EntityTypeId::QUOTE => Some("QUOTE_STATUS".into()),
        t if EntityTypeId::is_dynamic(t) => Some(format!("DYNAMIC_{t}_STAGE_{category_id}")),
        _ => None,
    }
}

/// The prefix of stage codes in a pipeline (`C2`, `DT128_3`); `None` where codes are bare.
pub fn stage_prefix(entity_type_id: i64, category_id: i64) -> Option<String> {
    match entity_type_id {
        EntityTypeId::DEAL if category_id > 0 => Some(format!("C{category_id}")),
        t if EntityTypeId::is_dynamic(t) => Some(format!("DT{t}_{category_id}")),
        _ => None,
    }
}

/// Whether a dictionary exists on this portal: plain and built-in ones always, a pipeline's
/// while the pipeline exists (and, for a smart process, while it has stages).
pub fn exists(tx: &mut dyn Tx, dictionary: &Dictionary) -> Result<bool, ApiError> {
    match *dictionary {
        Dictionary::Plain => Ok(true),
        Dictionary::Stages {
            entity_type_id,
            category_id,
        } => match entity_type_id {
            EntityTypeId::LEAD | EntityTypeId::QUOTE => Ok(true),
            EntityTypeId::DEAL => Ok(tx.category(entity_type_id, category_id)?.is_some()),
            t => {
                let staged = tx
                    .dynamic_type_by_entity_type(t)?
                    .is_some_and(|t| has_stages(&t));
                Ok(staged && tx.category(t, category_id)?.is_some())
            }
        },
    }
}

/// Whether a smart process shows stages (`isStagesEnabled`).
pub fn has_stages(t: &DynamicTypeRecord) -> bool {
    t.settings.get("isStagesEnabled").and_then(Value::as_str) == Some("Y")
}

fn write_entries(
    tx: &mut dyn Tx,
    entity_id: &str,
    prefix: Option<&str>,
    category_id: i64,
    entries: &[Entry],
) -> Result<(), ApiError> {
    for (code, name, sort, color, semantics, system) in entries {
        let status_id = match prefix {
            Some(p) => format!("{p}:{code}"),
            None => code.to_string(),
        };
        tx.insert_status(&StatusRecord {
            id: 0,
            entity_id: entity_id.to_string(),
            status_id,
            name: name.to_string(),
            name_init: if *system {
                name.to_string()
            } else {
                String::new()
            },
            sort: *sort,
            system: *system,
            category_id,
            color: color.to_string(),
            semantics: semantics.to_string(),
        })?;
    }
    Ok(())
}

/// Writes the stages a new pipeline starts with (nothing for a smart process without stages).
pub fn create_pipeline_stages(
    tx: &mut dyn Tx,
    entity_type_id: i64,
    category_id: i64,
) -> Result<(), ApiError> {
    let Some(entity_id) = stage_entity_id(entity_type_id, category_id) else {
        return Ok(());
    };
    let template = if entity_type_id == EntityTypeId::DEAL {
        DEAL_STAGES
    } else {
        DYNAMIC_STAGES
    };
    let prefix = stage_prefix(entity_type_id, category_id);
    write_entries(tx, &entity_id, prefix.as_deref(), category_id, template)
}

/// Deletes a pipeline's stages.
pub fn delete_pipeline_stages(
    tx: &mut dyn Tx,
    entity_type_id: i64,
    category_id: i64,
) -> Result<(), ApiError> {
    if let Some(entity_id) = stage_entity_id(entity_type_id, category_id) {
        tx.delete_statuses_of(&entity_id)?;
    }
    Ok(())
}

/// A new smart process gets its default pipeline, and its stages when it shows stages.
pub fn dynamic_type_created(tx: &mut dyn Tx, t: &DynamicTypeRecord) -> Result<(), ApiError> {
    let id = tx.next_id("crm_category")?;
    tx.insert_category(&CategoryRecord {
        entity_type_id: t.entity_type_id,
        id,
        name: DEFAULT_CATEGORY_NAME.into(),
        sort: DEFAULT_CATEGORY_SORT,
        is_default: true,
        created: tx.now_iso(),
    })?;
    if has_stages(t) {
        create_pipeline_stages(tx, t.entity_type_id, id)?;
    }
    Ok(())
}

/// A smart process that starts showing stages gets them in every pipeline that has none.
pub fn dynamic_type_updated(tx: &mut dyn Tx, t: &DynamicTypeRecord) -> Result<(), ApiError> {
    if !has_stages(t) {
        return Ok(());
    }
    let pipelines = tx.categories(t.entity_type_id, 0, u64::MAX >> 1, false)?;
    for c in pipelines.rows {
        let entity_id = stage_entity_id(t.entity_type_id, c.id).unwrap_or_default();
        if tx.statuses_of(&entity_id)?.is_empty() {
            create_pipeline_stages(tx, t.entity_type_id, c.id)?;
        }
    }
    Ok(())
}

/// A deleted smart process takes its pipelines and their stages along.
pub fn dynamic_type_deleted(tx: &mut dyn Tx, entity_type_id: i64) -> Result<(), ApiError> {
    let pipelines = tx.categories(entity_type_id, 0, u64::MAX >> 1, false)?;
    for c in pipelines.rows {
        delete_pipeline_stages(tx, entity_type_id, c.id)?;
    }
    tx.delete_categories_of(entity_type_id)?;
    Ok(())
}

/// Writes what a new portal has and an existing one may lack: the dictionaries (once), the
/// default deal pipeline, and a default pipeline (with stages) for every smart process that has
/// none. Run at every start, after a reset, a snapshot's restore and an import; cheap when
/// everything is there (a few index probes, one per smart process).
pub fn ensure_defaults(tx: &mut dyn Tx) -> Result<(), ApiError> {
    tx.lock_portal_row()?;
    if !tx.has_statuses()? {
        write_entries(tx, "STATUS", None, 0, LEAD_STATUSES)?;
        for (entity_id, _, entries) in PLAIN_DICTIONARIES {
            for (i, (code, name)) in entries.iter().enumerate() {
                tx.insert_status(&StatusRecord {
                    id: 0,
                    entity_id: entity_id.to_string(),
                    status_id: code.to_string(),
                    name: name.to_string(),
                    name_init: name.to_string(),
                    sort: 10 * (i as i64 + 1),
                    system: true,
                    category_id: 0,
                    color: String::new(),
                    semantics: String::new(),
                })?;
            }
        }
        write_entries(tx, "DEAL_STAGE", None, 0, DEAL_STAGES)?;
        write_entries(tx, "QUOTE_STATUS", None, 0, QUOTE_STATUSES)?;
    }
    if tx.category(EntityTypeId::DEAL, 0)?.is_none() {
        tx.insert_category(&CategoryRecord {
            entity_type_id: EntityTypeId::DEAL,
            id: 0,
            name: DEFAULT_CATEGORY_NAME.into(),
            sort: DEFAULT_DEAL_CATEGORY_SORT,
            is_default: true,
            created: tx.now_iso(),
        })?;
    }
    let types = tx.list_dynamic_types(0, 64, false)?;
    for t in types.rows {
        if tx
            .categories(t.entity_type_id, 0, 1, false)?
            .rows
            .is_empty()
        {
            dynamic_type_created(tx, &t)?;
        }
    }
    Ok(())
}

/// The names `crm.status.entity.types` gives the dictionaries outside pipelines.
pub fn plain_dictionaries() -> impl Iterator<Item = (&'static str, &'static str)> {
    PLAIN_DICTIONARIES.iter().map(|(id, name, _)| (*id, *name))
}

/// The pipeline a smart process's new items go to: its default one.
pub fn default_category(tx: &mut dyn Tx, entity_type_id: i64) -> Result<i64, ApiError> {
    if entity_type_id == EntityTypeId::DEAL {
        return Ok(0);
    }
    let all = tx.categories(entity_type_id, 0, u64::MAX >> 1, false)?;
    Ok(all
        .rows
        .iter()
        .find(|c| c.is_default)
        .or(all.rows.first())
        .map_or(0, |c| c.id))
}

/// Checks (and completes) an item's pipeline and stage before it is stored, as the service
/// does (spec §12): a pipeline that does not exist, or a stage that is not an entry of the
/// item's pipeline, refuses the call with the field's "not valid" error. A new item without a
/// stage, and an item moved to another pipeline without one, gets the pipeline's first stage.
/// `before` is the stored item on update; `stage_given` says whether the caller sent a stage.
/// Leads, deals and smart processes are checked; other types keep their values as sent.
pub fn check_item(
    tx: &mut dyn Tx,
    item: &mut ItemRecord,
    before: Option<&ItemRecord>,
    stage_given: bool,
) -> Result<(), ItemError> {
    let t = item.entity_type_id;
    if t == EntityTypeId::LEAD {
        let field = field(t, "statusId");
        let changed = before.is_none_or(|b| b.extra.get("statusId") != item.extra.get("statusId"));
        if stage_given && changed {
            let status = item.extra.get("statusId").and_then(Value::as_str);
            let known = match status {
                Some(code) => tx.status_by_code("STATUS", code)?.is_some(),
                None => false,
            };
            if !known {
                return Err(ItemError::InvalidValue(field));
            }
        }
        return Ok(());
    }
    if t != EntityTypeId::DEAL && !EntityTypeId::is_dynamic(t) {
        return Ok(());
    }
    let category_field = field(t, "categoryId");
    let stage_field = field(t, "stageId");
    let stored = |i: &ItemRecord| i.extra.get("categoryId").and_then(Value::as_i64);
    let category = match stored(item) {
        Some(c) => c,
        None if before.is_none() => {
            let c = default_category(tx, t)?;
            item.extra.insert("categoryId".into(), Value::from(c));
            c
        }
        None => 0,
    };
    // Items stored without a pipeline (seeded ones) are in the default deal pipeline.
    let category_changed = before.is_none_or(|b| stored(b).unwrap_or(0) != category);
    if category_changed && tx.category(t, category)?.is_none() {
        return Err(ItemError::InvalidValue(category_field));
    }
    let entity_id = stage_entity_id(t, category).unwrap_or_default();
    if !stage_given && category_changed {
        // A new item, or one moved to another pipeline, starts at the pipeline's first stage.
        if let Some(first) = tx.statuses_of(&entity_id)?.into_iter().next() {
            item.extra
                .insert("stageId".into(), Value::String(first.status_id));
        }
        return Ok(());
    }
    let stage_changed = before.is_none_or(|b| b.extra.get("stageId") != item.extra.get("stageId"));
    if (stage_given && stage_changed) || category_changed {
        let stages = tx.statuses_of(&entity_id)?;
        // A smart process that shows no stages has none to check against.
        if stages.is_empty() && t != EntityTypeId::DEAL {
            return Ok(());
        }
        let stage = item.extra.get("stageId").and_then(Value::as_str);
        if !stages.iter().any(|s| Some(s.status_id.as_str()) == stage) {
            return Err(ItemError::InvalidValue(stage_field));
        }
    }
    Ok(())
}

fn field(entity_type_id: i64, name: &str) -> &'static item_fields::ItemField {
    item_fields::find(entity_type_id, name).expect("the type has the field")
}

// ---- crm.status.add / update / delete (legacy errors: "error": "" and the text) ----

fn legacy(message: &'static str) -> ApiError {
    RestError::legacy(message).into()
}

/// Changing dictionaries is for CRM administrators.
fn require_admin(permissions: &Permissions) -> Result<(), ApiError> {
    if permissions.admin {
        Ok(())
    } else {
        Err(legacy("Access denied."))
    }
}

fn text_field(fields: &Map<String, Value>, name: &str) -> Option<String> {
    match fields.get(name)? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

fn int_field(fields: &Map<String, Value>, name: &str) -> Option<i64> {
    fields.get(name).and_then(b24_protocol::values::bind_int)
}

/// `S`, `F` or in progress (empty), from the caller's `SEMANTICS`.
fn semantics_of(fields: &Map<String, Value>) -> String {
    match text_field(fields, "SEMANTICS").as_deref() {
        Some("S") | Some("s") => "S".into(),
        Some("F") | Some("f") => "F".into(),
        _ => String::new(),
    }
}

/// Whether a code may be stored in a dictionary: stage dictionaries of leads, deals and quotes
/// take Latin letters, digits, `-` and `_` only (the prefix aside), at most 22 characters (21
/// for leads); any other dictionary takes up to 50 characters of anything.
fn code_fits(dictionary: &Dictionary, code: &str) -> bool {
    let restricted = |max: usize| {
        let bare = code.rsplit_once(':').map_or(code, |(_, c)| c);
        !bare.is_empty()
            && bare.len() <= max
            && bare
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    match dictionary {
        Dictionary::Stages {
            entity_type_id: EntityTypeId::LEAD,
            ..
        } => restricted(21),
        Dictionary::Stages {
            entity_type_id: EntityTypeId::DEAL | EntityTypeId::QUOTE,
            ..
        } => restricted(22) && code.chars().count() <= 50,
        _ => code.chars().count() <= 50,
    }
}

/// `crm.status.add`: a new entry; a pipeline's stage code gets the pipeline's prefix unless the
/// caller sent it with it.
pub fn add(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    fields: &Map<String, Value>,
) -> Result<i64, ApiError> {
    require_admin(permissions)?;
    let entity_id = text_field(fields, "ENTITY_ID")
        .ok_or_else(|| legacy("The field ENTITY_ID is required."))?;
    let dictionary = parse_entity_id(&entity_id)
        .ok_or_else(|| legacy("Specified entity type is not supported."))?;
    if !exists(tx, &dictionary)? {
        return Err(legacy("Specified entity type is not supported."));
    }
    let code = text_field(fields, "STATUS_ID")
        .ok_or_else(|| legacy("The field STATUS_ID is required."))?;
    let name = text_field(fields, "NAME").ok_or_else(|| legacy("The field NAME is required."))?;
    let (category_id, prefix) = match dictionary {
        Dictionary::Stages {
            entity_type_id,
            category_id,
        } => (category_id, stage_prefix(entity_type_id, category_id)),
        Dictionary::Plain => (0, None),
    };
    let status_id = match prefix {
        Some(p) if !code.starts_with(&format!("{p}:")) => format!("{p}:{code}"),
        _ => code,
    };
    if !code_fits(&dictionary, &status_id) {
        return Err(legacy("Error on creating status."));
    }
    if tx.status_by_code(&entity_id, &status_id)?.is_some() {
        return Err(legacy("Duplicate STATUS_ID."));
    }
    let is_stage = matches!(dictionary, Dictionary::Stages { .. });
    tx.insert_status(&StatusRecord {
        id: 0,
        entity_id,
        status_id,
        name,
        name_init: String::new(),
        sort: int_field(fields, "SORT").unwrap_or(10),
        system: false,
        category_id,
        color: text_field(fields, "COLOR").unwrap_or_default(),
        semantics: if is_stage {
            semantics_of(fields)
        } else {
            String::new()
        },
    })
}

/// The entry `crm.status.get / update / delete` name.
pub fn get(tx: &mut dyn Tx, id: i64) -> Result<StatusRecord, ApiError> {
    tx.status(id)?.ok_or_else(|| legacy("Status is not found."))
}

/// `crm.status.update`: `NAME`, `SORT` and `COLOR` change; other fields are kept.
pub fn update(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    fields: &Map<String, Value>,
) -> Result<(), ApiError> {
    require_admin(permissions)?;
    let mut status = get(tx, id)?;
    if let Some(name) = text_field(fields, "NAME") {
        status.name = name;
    }
    if let Some(sort) = int_field(fields, "SORT") {
        status.sort = sort;
    }
    if let Some(value) = fields.get("COLOR") {
        status.color = match value {
            Value::String(s) => s.trim().to_string(),
            _ => String::new(),
        };
    }
    tx.update_status(&status)
}

/// `crm.status.delete`: a system entry only with `FORCED=Y`; never a stage items are in.
pub fn delete(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    forced: bool,
) -> Result<(), ApiError> {
    require_admin(permissions)?;
    let status = get(tx, id)?;
    if status.system && !forced {
        return Err(legacy(
            "CRM System Status can be deleted only if parameter FORCED is specified and equal to \"Y\".",
        ));
    }
    if let Some(Dictionary::Stages { entity_type_id, .. }) = parse_entity_id(&status.entity_id) {
        if stage_in_use(tx, entity_type_id, &status.status_id)? {
            return Err(legacy("There are active items in this status."));
        }
    }
    tx.delete_status(id)?;
    Ok(())
}

/// Whether any item of the type is at this stage (an index probe: `store/item_stages.rs`).
/// Stage codes carry their pipeline's prefix, so the code alone finds the items.
fn stage_in_use(tx: &mut dyn Tx, entity_type_id: i64, status_id: &str) -> Result<bool, ApiError> {
    tx.any_item_at_stage(entity_type_id, status_id)
}

/// Whether any item of the type is in the pipeline (an index probe).
pub fn category_in_use(
    tx: &mut dyn Tx,
    entity_type_id: i64,
    category_id: i64,
) -> Result<bool, ApiError> {
    tx.any_item_in_category(entity_type_id, category_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_ids_name_their_dictionaries() {
        let stages = |entity_type_id, category_id| {
            Some(Dictionary::Stages {
                entity_type_id,
                category_id,
            })
        };
        assert_eq!(parse_entity_id("DEAL_STAGE"), stages(2, 0));
        assert_eq!(parse_entity_id("DEAL_STAGE_7"), stages(2, 7));
        assert_eq!(parse_entity_id("STATUS"), stages(1, 0));
        assert_eq!(parse_entity_id("DYNAMIC_128_STAGE_3"), stages(128, 3));
        assert_eq!(parse_entity_id("SOURCE"), Some(Dictionary::Plain));
        assert_eq!(parse_entity_id("DEAL_STAGE_0"), None);
        assert_eq!(parse_entity_id("DEAL_STAGE_x"), None);
        assert_eq!(parse_entity_id("DYNAMIC_5_STAGE_3"), None);
        assert_eq!(parse_entity_id("NOPE"), None);
    }

    #[test]
    fn stage_codes_carry_their_pipeline_prefix() {
        assert_eq!(stage_prefix(2, 0), None);
        assert_eq!(stage_prefix(2, 4).as_deref(), Some("C4"));
        assert_eq!(stage_prefix(130, 9).as_deref(), Some("DT130_9"));
        assert_eq!(
            stage_entity_id(130, 9).as_deref(),
            Some("DYNAMIC_130_STAGE_9")
        );
        assert_eq!(stage_entity_id(3, 0), None);
    }

    #[test]
    fn restricted_dictionaries_refuse_long_or_odd_codes() {
        let deal = Dictionary::Stages {
            entity_type_id: 2,
            category_id: 0,
        };
        assert!(code_fits(&deal, "DECISION"));
        assert!(code_fits(&deal, "C1:DECISION"));
        assert!(!code_fits(&deal, "WITH SPACE"));
        assert!(!code_fits(&deal, &"X".repeat(23)));
        assert!(code_fits(&Dictionary::Plain, "any thing ü"));
        assert!(!code_fits(&Dictionary::Plain, &"x".repeat(51)));
    }
}
