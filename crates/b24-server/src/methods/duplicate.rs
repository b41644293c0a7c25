//! `crm.duplicate.findbycomm(type, values, entity_type?)`: the leads, contacts and companies
//! that carry one of the given phones or e-mails (legacy proxy: `"error": ""` and the text).
//! Docs: api-reference/crm/duplicates/crm-duplicate-find-by-comm.md.
//! Rules: [`crate::domain::duplicates`].

use super::{Call, Handler, MethodSpec, Output};
use crate::domain::duplicates;
use crate::error::ApiError;
use serde_json::{Map, Value};

/// `crm.duplicate.findbycomm(type, values, entity_type?)`.
pub const FIND_BY_COMM: MethodSpec = MethodSpec {
    name: "crm.duplicate.findbycomm",
    scope: Some("crm"),
    handler: Handler::Blocking(find_by_comm),
    doc: "Find leads, contacts and companies by phone or e-mail (at most 20 values).",
};

fn find_by_comm(call: &Call<'_>) -> Result<Output, ApiError> {
    let p = call.params;
    let search = duplicates::parse(
        p.get_ci("type"),
        p.get_ci("values"),
        p.get_ci("entity_type"),
    )?;
    let permissions = &call.caller.permissions;
    let found = call.state.store.read(call.caller.portal_id, |tx| {
        duplicates::find(tx, permissions, &search)
    })?;
    // PHP's empty array: nothing found is `[]`, not `{}`.
    if found.is_empty() {
        return Ok(Output::result(Value::Array(Vec::new())));
    }
    let mut out = Map::new();
    for (name, ids) in found {
        out.insert(name.into(), ids.into_iter().map(Value::from).collect());
    }
    Ok(Output::result(Value::Object(out)))
}
