//! `crm.stagehistory.list(entityTypeId, order, filter, select, start)` — the history of the
//! stages of leads, deals and smart-process items: their creation and every move to another
//! stage or pipeline. Values are strings, as real answers carry them (spec §12). Docs:
//! api-reference/crm/crm-stage-history-list.md. Rows are written by
//! [`crate::domain::stage_history`].

use super::listing::{self, Dialect, ListField, ListFields};
use super::{Call, Handler, MethodSpec, Output};
use crate::domain::stage_history;
use crate::domain::{Action, EntityTypeId, Level};
use crate::error::ApiError;
use crate::store::stage_history::StageHistoryRecord;
use crate::store::{Column, Filter, ListQuery, SqlValue};
use b24_protocol::values::bind_int;
use b24_protocol::{ErrorCode, RestError, PAGE_SIZE};
use serde_json::{json, Map, Value};

/// `crm.stagehistory.list`.
pub const LIST: MethodSpec = MethodSpec {
    name: "crm.stagehistory.list",
    scope: Some("crm"),
    handler: Handler::Blocking(list),
    doc: "List the stage history of leads, deals or a smart process, 50 per page.",
};

/// A field of the answer: its name, its column, and whether it is a number.
type HistoryField = (&'static str, &'static str, bool);

/// The fields of a lead's rows.
const LEAD_FIELDS: &[HistoryField] = &[
    ("ID", "id", true),
    ("TYPE_ID", "type_id", true),
    ("OWNER_ID", "owner_id", true),
    ("CREATED_TIME", "created_time", false),
    ("STATUS_SEMANTIC_ID", "semantic_id", false),
    ("STATUS_ID", "stage_id", false),
];

/// The fields of a deal's or smart-process item's rows.
const STAGE_FIELDS: &[HistoryField] = &[
    ("ID", "id", true),
    ("TYPE_ID", "type_id", true),
    ("OWNER_ID", "owner_id", true),
    ("CREATED_TIME", "created_time", false),
    ("CATEGORY_ID", "category_id", true),
    ("STAGE_SEMANTIC_ID", "semantic_id", false),
    ("STAGE_ID", "stage_id", false),
];

fn fields_of(entity_type_id: i64) -> &'static [HistoryField] {
    if entity_type_id == EntityTypeId::LEAD {
        LEAD_FIELDS
    } else {
        STAGE_FIELDS
    }
}

/// Filter and order keys: the answer's field names, exactly.
struct HistoryListFields(&'static [HistoryField]);

impl ListFields for HistoryListFields {
    fn field(&self, key: &str) -> Option<ListField> {
        let (_, column, numeric) = self.0.iter().find(|(name, _, _)| *name == key)?;
        Some(ListField {
            column: Column::Plain(column),
            convert: if *numeric {
                Box::new(|v| bind_int(v).map(SqlValue::Int))
            } else {
                Box::new(|v| match v {
                    Value::String(s) => Some(SqlValue::Text(s.clone())),
                    Value::Number(n) => Some(SqlValue::Text(n.to_string())),
                    _ => None,
                })
            },
        })
    }
}

fn value_of(r: &StageHistoryRecord, column: &str) -> String {
    match column {
        "id" => r.id.to_string(),
        "type_id" => r.type_id.to_string(),
        "owner_id" => r.owner_id.to_string(),
        "created_time" => r.created_time.clone(),
        "category_id" => r.category_id.to_string(),
        "semantic_id" => r.semantic_id.clone(),
        _ => r.stage_id.clone(),
    }
}

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    // The docs do not mark `entityTypeId` required; without it, deals (spec §12).
    let entity_type_id = call
        .params
        .opt_int("entityTypeId")?
        .unwrap_or(EntityTypeId::DEAL);
    let fields = fields_of(entity_type_id);
    let list_fields = HistoryListFields(fields);
    let filter = match call.params.map("filter")? {
        Some(map) => listing::parse_filter(&map, &list_fields, Dialect::D7)?,
        None => Filter::everything(),
    };
    let order = match call.params.map("order")? {
        Some(map) => listing::parse_order(&map, &list_fields, Dialect::D7)?,
        None => Vec::new(),
    };
    let select = listing::parse_select(call.params.get("select"));
    let page = call.params.page();
    let query = ListQuery {
        filter,
        order,
        offset: page.offset,
        limit: PAGE_SIZE,
        count: page.count,
    };
    let permissions = &call.caller.permissions;
    let result = call.state.store.read(call.caller.portal_id, |tx| {
        let known = stage_history::is_supported(entity_type_id)
            && (!EntityTypeId::is_dynamic(entity_type_id)
                || tx.dynamic_type_by_entity_type(entity_type_id)?.is_some());
        if !known {
            return Err(RestError::with_message(
                ErrorCode::EntityTypeNotSupported,
                format!(
                    "Entity type {} is not supported",
                    EntityTypeId::upper_name(entity_type_id)
                ),
            )
            .into());
        }
        let assignee = match permissions.level(entity_type_id, Action::Read) {
            Level::None => return Err(ErrorCode::AccessDenied.into()),
            Level::Own => Some(permissions.user_id),
            Level::All => None,
        };
        tx.list_stage_history(entity_type_id, &query, assignee)
    })?;
    let shown: Vec<&HistoryField> = if listing::selects_all(&select) {
        fields.iter().collect()
    } else {
        select
            .iter()
            .filter_map(|s| fields.iter().find(|(name, _, _)| name == s))
            .collect()
    };
    let items: Vec<Value> = result
        .rows
        .iter()
        .map(|r| {
            let row: Map<String, Value> = shown
                .iter()
                .map(|(name, column, _)| (name.to_string(), json!(value_of(r, column))))
                .collect();
            Value::Object(row)
        })
        .collect();
    Ok(Output {
        next: result.total.and_then(|t| page.next(items.len(), t)),
        total: result.total,
        result: super::keyed("items", Value::from(items)),
    })
}
