//! Timeline comments and the bindings of timeline records. `crm.timeline.comment.add / update /
//! delete` are D7 controllers (codes, HTTP 400; only a lower-case `fields` key is read, since
//! crm 23.100); `get`, `list`, `fields` and `crm.timeline.bindings.*` are legacy proxies
//! (`"error": ""` and the text). Docs: api-reference/crm/timeline/comments/**, …/bindings/**.
//! Rules and writes: [`crate::domain::timeline`].

use super::legacy_entity::{legacy_id, legacy_map};
use super::listing;
use super::{Call, Handler, MethodSpec, Output};
use crate::domain::disk;
use crate::domain::timeline::{self, CommentQuery};
use crate::domain::Binding;
use crate::error::ApiError;
use crate::store::timeline::CommentOrder;
use b24_protocol::{ErrorCode, RestError, PAGE_SIZE};
use serde_json::{json, Map, Value};

/// `crm.timeline.comment.add(fields)`.
pub const COMMENT_ADD: MethodSpec = MethodSpec {
    name: "crm.timeline.comment.add",
    scope: Some("crm"),
    handler: Handler::Blocking(comment_add),
    doc: "Add a comment to a CRM item's timeline; returns its id.",
};

/// `crm.timeline.comment.get(id)`.
pub const COMMENT_GET: MethodSpec = MethodSpec {
    name: "crm.timeline.comment.get",
    scope: Some("crm"),
    handler: Handler::Blocking(comment_get),
    doc: "Read one timeline comment.",
};

/// `crm.timeline.comment.list(filter, order, select, start)`.
pub const COMMENT_LIST: MethodSpec = MethodSpec {
    name: "crm.timeline.comment.list",
    scope: Some("crm"),
    handler: Handler::Blocking(comment_list),
    doc: "List the comments on one CRM item's timeline, 50 per page.",
};

/// `crm.timeline.comment.update(id, fields, ownerTypeId?, ownerId?)`.
pub const COMMENT_UPDATE: MethodSpec = MethodSpec {
    name: "crm.timeline.comment.update",
    scope: Some("crm"),
    handler: Handler::Blocking(comment_update),
    doc: "Change a timeline comment's text.",
};

/// `crm.timeline.comment.delete(id, ownerTypeId?, ownerId?)`.
pub const COMMENT_DELETE: MethodSpec = MethodSpec {
    name: "crm.timeline.comment.delete",
    scope: Some("crm"),
    handler: Handler::Blocking(comment_delete),
    doc: "Delete a timeline comment, or take it off one item's timeline.",
};

/// `crm.timeline.comment.fields()`.
pub const COMMENT_FIELDS: MethodSpec = MethodSpec {
    name: "crm.timeline.comment.fields",
    scope: Some("crm"),
    handler: Handler::Blocking(comment_fields),
    doc: "Describe the fields of timeline comments.",
};

/// `crm.timeline.bindings.bind(fields)`.
pub const BINDINGS_BIND: MethodSpec = MethodSpec {
    name: "crm.timeline.bindings.bind",
    scope: Some("crm"),
    handler: Handler::Blocking(bindings_bind),
    doc: "Show a timeline record on one more CRM item's timeline.",
};

/// `crm.timeline.bindings.unbind(fields)`.
pub const BINDINGS_UNBIND: MethodSpec = MethodSpec {
    name: "crm.timeline.bindings.unbind",
    scope: Some("crm"),
    handler: Handler::Blocking(bindings_unbind),
    doc: "Take a timeline record off one CRM item's timeline.",
};

/// `crm.timeline.bindings.list(filter, start)`.
pub const BINDINGS_LIST: MethodSpec = MethodSpec {
    name: "crm.timeline.bindings.list",
    scope: Some("crm"),
    handler: Handler::Blocking(bindings_list),
    doc: "List the CRM items a timeline record is bound to, 50 per page.",
};

/// `crm.timeline.bindings.fields()`.
pub const BINDINGS_FIELDS: MethodSpec = MethodSpec {
    name: "crm.timeline.bindings.fields",
    scope: Some("crm"),
    handler: Handler::Blocking(bindings_fields),
    doc: "Describe the fields of timeline bindings.",
};

/// The D7 `fields` parameter: required, and only under its lower-case name.
fn d7_fields(call: &Call<'_>) -> Result<Map<String, Value>, ApiError> {
    call.params
        .map("fields")?
        .ok_or_else(|| RestError::missing_parameter("fields").into())
}

/// `ownerTypeId` and `ownerId`, both positive, or no owner.
fn owner(call: &Call<'_>) -> Result<Option<Binding>, ApiError> {
    let type_id = call.params.opt_int("ownerTypeId")?;
    let id = call.params.opt_int("ownerId")?;
    Ok(match (type_id, id) {
        (Some(t), Some(i)) if t > 0 && i > 0 => Some(Binding::new(t, i)),
        _ => None,
    })
}

fn comment_add(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = d7_fields(call)?;
    let max_file_bytes = call.state.limits.max_file_bytes;
    let permissions = &call.caller.permissions;
    let id = call.state.store.write(call.caller.portal_id, |tx| {
        timeline::add_comment(tx, permissions, &fields, max_file_bytes)
    })?;
    Ok(Output::result(Value::from(id)))
}

fn comment_update(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = call.params.int("id")?;
    let fields = d7_fields(call)?;
    let owner = owner(call)?;
    let permissions = &call.caller.permissions;
    let max_file_bytes = call.state.limits.max_file_bytes;
    call.state.store.write(call.caller.portal_id, |tx| {
        timeline::update_comment(tx, permissions, id, &fields, owner, max_file_bytes)
    })?;
    Ok(Output::result(Value::from(id)))
}

fn comment_delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = call.params.int("id")?;
    let owner = owner(call)?;
    let permissions = &call.caller.permissions;
    call.state.store.write(call.caller.portal_id, |tx| {
        timeline::delete_comment(tx, permissions, id, owner)
    })?;
    Ok(Output::result(Value::Null))
}

fn comment_get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = legacy_id(call)?;
    let permissions = &call.caller.permissions;
    let portal = call.caller.portal_id;
    let base = &*call.state.public_url;
    let comment = call.state.store.read(portal, |tx| {
        let key = disk::url_key_read(tx)?;
        let shown = disk::Shown {
            base,
            key: &key,
            portal,
        };
        timeline::get_comment(tx, permissions, id, &shown)
    })?;
    Ok(Output::result(Value::Object(comment)))
}

/// `order`: the first of `ID`, `CREATED`, `AUTHOR_ID` given (any case), `ASC` unless `DESC`;
/// none given sorts the newest first, as the timeline shows them.
fn comment_order(order: Option<Map<String, Value>>) -> (CommentOrder, bool) {
    for (key, direction) in order.iter().flatten() {
        let column = match key.to_ascii_uppercase().as_str() {
            "ID" => CommentOrder::Id,
            "CREATED" => CommentOrder::Created,
            "AUTHOR_ID" => CommentOrder::AuthorId,
            _ => continue,
        };
        let descending = direction
            .as_str()
            .is_some_and(|d| d.eq_ignore_ascii_case("desc"));
        return (column, descending);
    }
    (CommentOrder::Created, true)
}

fn comment_list(call: &Call<'_>) -> Result<Output, ApiError> {
    let filter = legacy_map(call, "filter")?.unwrap_or_default();
    let (order, descending) = comment_order(legacy_map(call, "order")?);
    let select = listing::parse_select(call.params.get_ci("select"));
    let page = call.params.page();
    let permissions = &call.caller.permissions;
    let portal = call.caller.portal_id;
    let base = &*call.state.public_url;
    let (rows, total) = call.state.store.read(portal, |tx| {
        let entity = timeline::legacy_entity(tx, &filter)?;
        let query = CommentQuery {
            entity,
            order,
            descending,
            offset: page.offset,
            limit: PAGE_SIZE,
            count: page.count,
        };
        let result = timeline::list_comments(tx, permissions, query)?;
        let key = disk::url_key_read(tx)?;
        let shown = disk::Shown {
            base,
            key: &key,
            portal,
        };
        let mut rows = Vec::new();
        for c in &result.rows {
            let mut row = timeline::comment_json(tx, c, Some(entity), &shown)?;
            if !listing::selects_all(&select) {
                row.retain(|k, _| select.iter().any(|s| s.eq_ignore_ascii_case(k)));
            }
            rows.push(Value::Object(row));
        }
        Ok((rows, result.total))
    })?;
    let count = rows.len();
    Ok(Output {
        result: Value::Array(rows),
        next: total.and_then(|total| page.next(count, total)),
        total,
    })
}

/// One field descriptor of a `fields` answer.
fn describe(kind: &str, required: bool, read_only: bool, immutable: bool, title: &str) -> Value {
    json!({"type": kind, "isRequired": required, "isReadOnly": read_only,
           "isImmutable": immutable, "isMultiple": kind == "attached_diskfile",
           "isDynamic": false, "title": title})
}

fn comment_fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    Ok(Output::result(json!({
        "ID": describe("integer", false, true, false, "ID"),
        "CREATED": describe("datetime", false, true, false, "Date Added"),
        "ENTITY_ID": describe("integer", true, false, true, "ID of the entity to which the comment is linked"),
        "ENTITY_TYPE": describe("string", true, false, true, "Type of the entity to which the comment is linked"),
        "AUTHOR_ID": describe("integer", false, false, true, "Author"),
        "COMMENT": describe("string", false, false, false, "Comment Text"),
        "FILES": describe("attached_diskfile", false, false, false, "List of Files"),
    })))
}

/// The `fields` of `bind` / `unbind` (any case): an object, else `ERROR_ARGUMENT` "Wrong params.".
fn binding_fields(call: &Call<'_>) -> Result<Map<String, Value>, ApiError> {
    match call.params.get_ci("fields") {
        Some(Value::Object(m)) => Ok(m.clone()),
        _ => Err(RestError::with_message(ErrorCode::ErrorArgument, "Wrong params.").into()),
    }
}

fn bindings_bind(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = binding_fields(call)?;
    let permissions = &call.caller.permissions;
    let done = call.state.store.write(call.caller.portal_id, |tx| {
        timeline::bind(tx, permissions, &fields)
    })?;
    Ok(Output::result(Value::Bool(done)))
}

fn bindings_unbind(call: &Call<'_>) -> Result<Output, ApiError> {
    let fields = binding_fields(call)?;
    let permissions = &call.caller.permissions;
    let done = call.state.store.write(call.caller.portal_id, |tx| {
        timeline::unbind(tx, permissions, &fields)
    })?;
    Ok(Output::result(Value::Bool(done)))
}

fn bindings_list(call: &Call<'_>) -> Result<Output, ApiError> {
    let filter = legacy_map(call, "filter")?.unwrap_or_default();
    let owner_id = timeline::legacy_owner_id(&filter)?;
    let page = call.params.page();
    let result = call.state.store.read(call.caller.portal_id, |tx| {
        tx.timeline_bindings_page(owner_id, page.offset, PAGE_SIZE, page.count)
    })?;
    let count = result.rows.len();
    let rows = result
        .rows
        .iter()
        .map(|b| {
            json!({
                "OWNER_ID": owner_id.to_string(),
                "ENTITY_ID": b.entity_id.to_string(),
                "ENTITY_TYPE": timeline::entity_type_name(b.entity_type_id),
            })
        })
        .collect();
    Ok(Output {
        result: Value::Array(rows),
        next: result.total.and_then(|total| page.next(count, total)),
        total: result.total,
    })
}

fn bindings_fields(_call: &Call<'_>) -> Result<Output, ApiError> {
    Ok(Output::result(json!({
        "OWNER_ID": describe("integer", true, false, true, "Timeline record ID"),
        "ENTITY_ID": describe("integer", true, false, true, "Item ID"),
        "ENTITY_TYPE": describe("string", true, false, true, "Item type"),
    })))
}
