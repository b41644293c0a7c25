//! `crm.enum.*` — the CRM's enumerations (legacy `CCrmEnumerationRestProxy`, scope `crm`, no
//! parameters, no method errors): each answer is a list of `{ID, NAME, SYMBOL_CODE,
//! SYMBOL_CODE_SHORT}` in the table's order, `ID` a JSON number and the two codes `null` where
//! the enumeration has none. `crm.enum.ownertype` adds the smart processes that exist on the
//! portal; `crm.enum.getorderownertypes` has its own shape (`id, name, code, attribute`).
//! Docs: api-reference/crm/auxiliary/enum/*.md (the activity ones under `outdated/`); the
//! values and their order are the docs' answers, the shapes the core's proxy (spec "crm.enum.*").

use super::{Call, Handler, MethodSpec, Output};
use crate::error::ApiError;
use b24_protocol::entity_type::EntityTypeId;
use serde_json::{json, Value};

/// Declares the fixed enumerations once: a `MethodSpec` constant per row of the table, whose
/// handler answers the row's values, and [`FIXED`] with all of them (for the tests).
macro_rules! enumerations {
    ($( $constant:ident: $name:literal, $doc:literal, [$( ($id:literal, $text:literal) ),* $(,)?]; )*) => {
        $(
            #[doc = $doc]
            pub const $constant: MethodSpec = MethodSpec {
                name: $name,
                scope: Some("crm"),
                handler: Handler::Blocking(|_call| Ok(fixed(&[$( ($id, $text) ),*]))),
                doc: $doc,
            };
        )*
        /// Every enumeration that is a fixed table: its method and its rows `(ID, NAME)`.
        #[cfg(test)]
        static FIXED: &[(&str, &[(i64, &str)])] = &[ $( ($name, &[$( ($id, $text) ),*]), )* ];
    };
}

enumerations! {
    ACTIVITY_DIRECTION: "crm.enum.activitydirection",
        "Activity directions (DIRECTION of e-mails and calls).",
        [(0, ""), (1, "Incoming"), (2, "Outgoing")];
    ACTIVITY_NOTIFY_TYPE: "crm.enum.activitynotifytype",
        "Units of an activity's reminder (NOTIFY_TYPE).",
        [(0, ""), (1, "min."), (2, "h."), (3, "d.")];
    ACTIVITY_PRIORITY: "crm.enum.activitypriority",
        "Activity priorities (PRIORITY).",
        [(0, ""), (1, "low"), (2, "medium"), (3, "high")];
    ACTIVITY_STATUS: "crm.enum.activitystatus",
        "Activity statuses (STATUS).",
        [(0, ""), (1, "Pending"), (2, "Completed"), (3, "AutomaticallyCompleted")];
    ACTIVITY_TYPE: "crm.enum.activitytype",
        "Activity types (TYPE_ID).",
        [(0, ""), (1, "Meeting"), (2, "Call"), (3, "Task"), (4, "E-mail"), (5, "Action"),
         (6, "UserAction")];
    ADDRESS_TYPE: "crm.enum.addresstype",
        "Address types (TYPE_ID of crm.address.*).",
        [(11, "Shipping address"), (1, "Physical address"), (6, "Legal address"),
         (4, "Registered address"), (8, "Mailing address"), (9, "Beneficiary address")];
    CONTENT_TYPE: "crm.enum.contenttype",
        "Description types (DESCRIPTION_TYPE).",
        [(0, ""), (1, "Plaintext"), (2, "bbCode"), (3, "HTML")];
    SETTINGS_MODE: "crm.enum.settings.mode",
        "CRM operating modes (what crm.settings.mode.get returns).",
        [(1, "Classic CRM"), (2, "Simple CRM")];
}

/// `crm.enum.fields()`.
pub const FIELDS: MethodSpec = MethodSpec {
    name: "crm.enum.fields",
    scope: Some("crm"),
    handler: Handler::Blocking(fields),
    doc: "Describe the fields of enumeration items.",
};

/// `crm.enum.ownertype()`.
pub const OWNER_TYPE: MethodSpec = MethodSpec {
    name: "crm.enum.ownertype",
    scope: Some("crm"),
    handler: Handler::Blocking(owner_type),
    doc: "CRM object types, with the portal's smart processes.",
};

/// `crm.enum.getorderownertypes()`.
pub const GET_ORDER_OWNER_TYPES: MethodSpec = MethodSpec {
    name: "crm.enum.getorderownertypes",
    scope: Some("crm"),
    handler: Handler::Blocking(order_owner_types),
    doc: "Object types an order can be bound to.",
};

/// The fixed object types of `crm.enum.ownertype`, in the core's order: `(ID, NAME,
/// SYMBOL_CODE, SYMBOL_CODE_SHORT)`. Smart processes follow them.
const OWNER_TYPES: &[(i64, &str, &str, &str)] = &[
    (EntityTypeId::LEAD, "Lead", "LEAD", "L"),
    (EntityTypeId::DEAL, "Deal", "DEAL", "D"),
    (EntityTypeId::CONTACT, "Contact", "CONTACT", "C"),
    (EntityTypeId::COMPANY, "Company", "COMPANY", "CO"),
    (5, "Invoice (old version)", "INVOICE", "I"),
    (
        EntityTypeId::SMART_INVOICE,
        "Invoice",
        "SMART_INVOICE",
        "SI",
    ),
    (EntityTypeId::QUOTE, "Quote", "QUOTE", "Q"),
    (8, "Billing Details", "REQUISITE", "RQ"),
];

/// The fields every enumeration item has (`crm.enum.fields`): `(name, type, title)`.
const ITEM_FIELDS: &[(&str, &str, &str)] = &[
    ("ID", "int", "ID"),
    ("NAME", "string", "Name"),
    ("SYMBOL_CODE", "string", "Symbol code"),
    ("SYMBOL_CODE_SHORT", "string", "Short symbol code"),
];

fn item(id: i64, name: &str, code: Option<String>, short: Option<String>) -> Value {
    json!({"ID": id, "NAME": name, "SYMBOL_CODE": code, "SYMBOL_CODE_SHORT": short})
}

/// The answer of a fixed enumeration: its rows, without symbolic codes.
fn fixed(rows: &[(i64, &str)]) -> Output {
    let rows = rows
        .iter()
        .map(|(id, name)| item(*id, name, None, None))
        .collect();
    Output::result(Value::Array(rows))
}

fn fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    let out: serde_json::Map<String, Value> = ITEM_FIELDS
        .iter()
        .map(|(name, kind, title)| {
            let field = json!({"type": kind, "isRequired": false, "isReadOnly": true,
                "isImmutable": false, "isMultiple": false, "isDynamic": false, "title": title});
            ((*name).to_string(), field)
        })
        .collect();
    Ok(Output::result(Value::Object(out)))
}

/// The fixed types, then each smart process of the portal: `DYNAMIC_{id}` and the core's short
/// code, `T` and the id in lower-case hexadecimal (`CCrmOwnerTypeAbbr`).
fn owner_type(call: &Call<'_>) -> Result<Output, ApiError> {
    let smart = call.state.store.read(call.caller.portal_id, |tx| {
        tx.list_dynamic_types(0, MAX_SMART_PROCESSES, false)
    })?;
    let fixed = OWNER_TYPES.iter().map(|(id, name, code, short)| {
        item(*id, name, Some(code.to_string()), Some(short.to_string()))
    });
    let dynamic = smart.rows.iter().map(|t| {
        let id = t.entity_type_id;
        item(
            id,
            &t.title,
            Some(format!("DYNAMIC_{id}")),
            Some(format!("T{id:x}")),
        )
    });
    Ok(Output::result(Value::Array(fixed.chain(dynamic).collect())))
}

/// More than the 64 entity type ids a portal can give smart processes (128..191).
const MAX_SMART_PROCESSES: u64 = 100;

/// Orders can be bound to deals only (docs); `attribute` is the deal's kind in the order module.
fn order_owner_types(_call: &Call<'_>) -> Result<Output, ApiError> {
    Ok(Output::result(json!([
        {"attribute": "DYN", "code": "DEAL", "id": EntityTypeId::DEAL, "name": "Deal"}
    ])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixed_enumeration_has_rows_with_distinct_ids() {
        for (name, rows) in FIXED {
            assert!(!rows.is_empty(), "{name}");
            let mut ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), rows.len(), "{name}");
        }
    }
}
