//! `crm.item.add / get / list / update / delete / fields` — the universal CRM item methods (D7
//! controller: camelCase parameters, errors always HTTP 400 with a code) for leads, deals,
//! contacts, companies, quotes, smart invoices and smart processes.
//! Docs: api-reference/crm/universal/*.md. Rules: [`crate::domain::items`].

use super::listing::{self, Dialect, ListField, ListFields};
use super::{Call, Handler, MethodSpec, Output};
use crate::domain::access::is_item_type;
use crate::domain::item_fields::{self, FieldKind, ItemAnswers, ItemContext};
use crate::domain::items::{self, ItemError};
use crate::domain::user_fields::{self, UserField};
use crate::domain::{dynamic_types, statuses};
use crate::error::ApiError;
use crate::store::{Column, Filter, ItemRecord, ListQuery, Tx};
use b24_protocol::{ErrorCode, RestError, PAGE_SIZE};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// `crm.item.add(entityTypeId, fields)`.
pub const ADD: MethodSpec = MethodSpec {
    name: "crm.item.add",
    scope: Some("crm"),
    handler: Handler::Blocking(add),
    doc: "Create a CRM item of any type (lead, deal, contact, company, quote, invoice, smart process).",
};

/// `crm.item.get(entityTypeId, id)`.
pub const GET: MethodSpec = MethodSpec {
    name: "crm.item.get",
    scope: Some("crm"),
    handler: Handler::Blocking(get),
    doc: "Read one CRM item.",
};

/// `crm.item.list(entityTypeId, select, filter, order, start)`.
pub const LIST: MethodSpec = MethodSpec {
    name: "crm.item.list",
    scope: Some("crm"),
    handler: Handler::Blocking(list),
    doc: "List CRM items of a type, 50 per page, with filter, order and select.",
};

/// `crm.item.update(entityTypeId, id, fields)`.
pub const UPDATE: MethodSpec = MethodSpec {
    name: "crm.item.update",
    scope: Some("crm"),
    handler: Handler::Blocking(update),
    doc: "Change fields of a CRM item.",
};

/// `crm.item.delete(entityTypeId, id)`.
pub const DELETE: MethodSpec = MethodSpec {
    name: "crm.item.delete",
    scope: Some("crm"),
    handler: Handler::Blocking(delete),
    doc: "Delete a CRM item; activities bound to it keep their other bindings.",
};

/// `crm.item.fields(entityTypeId)`.
pub const FIELDS: MethodSpec = MethodSpec {
    name: "crm.item.fields",
    scope: Some("crm"),
    handler: Handler::Blocking(fields),
    doc: "Describe the fields of a CRM item type.",
};

/// Words an item rule's refusal as the D7 controller does.
fn d7_error(e: ItemError) -> ApiError {
    match e {
        ItemError::AccessDenied => ErrorCode::AccessDenied.into(),
        ItemError::NotFound => ErrorCode::ItemNotFound.into(),
        ItemError::InvalidValue(field) => RestError::with_message(
            ErrorCode::FieldValueNotValid,
            format!("The value of the field \"{}\" is not valid", field.name),
        )
        .into(),
        ItemError::TooLong(field, limit) => {
            RestError::with_message(ErrorCode::FieldValueNotValid, limit.message(field.name)).into()
        }
        ItemError::Required(group) => RestError::with_message(
            ErrorCode::FieldRequired,
            item_fields::required_message(&group),
        )
        .into(),
        ItemError::InvalidUserField(name) => RestError::with_message(
            ErrorCode::FieldValueNotValid,
            format!(
                "The value of the field \"{}\" is not valid",
                user_fields::camel_name(&name)
            ),
        )
        .into(),
        ItemError::Store(e) => e,
    }
}

/// The type, or `NOT_FOUND` "Smart process not found" for a type that holds no items here.
fn entity_type(call: &Call<'_>, tx: &mut dyn Tx) -> Result<i64, ApiError> {
    let entity_type_id = call.params.int("entityTypeId")?;
    if !is_item_type(tx, entity_type_id)? {
        return Err(ErrorCode::SmartProcessNotFound.into());
    }
    Ok(entity_type_id)
}

/// The answers of `crm.item.*` for items of one type: camelCase keys, real JSON numbers, the
/// URLs of their files and their user fields' values.
pub fn answers<'a>(
    entity_type_id: i64,
    files: &'a ItemContext,
    defs: &'a [UserField],
) -> ItemAnswers<'a, impl Fn(&ItemRecord, usize) -> Value + 'a> {
    ItemAnswers::new(
        entity_type_id,
        files,
        defs.iter().map(UserField::camel_name),
        move |item, index| user_fields::d7_value(item, &defs[index]),
    )
}

fn wrapped((item, files, defs): (ItemRecord, ItemContext, Arc<[UserField]>)) -> Output {
    let item = answers(item.entity_type_id, &files, &defs).answer(item);
    Output::result(super::keyed("item", item))
}

/// The item with the URLs of its files and its type's user fields, read in the call's
/// transaction.
fn with_files(
    call: &Call<'_>,
    tx: &mut dyn Tx,
    item: ItemRecord,
) -> Result<(ItemRecord, ItemContext, Arc<[UserField]>), ApiError> {
    let parents = dynamic_types::parent_types(tx, item.entity_type_id)?;
    let base = &call.state.public_url;
    let files = ItemContext::of(tx, [&item], base, call.caller.portal_id, parents)?;
    let defs = user_fields::fields_of(tx, item.entity_type_id)?;
    Ok((item, files, defs))
}

fn fields_param(call: &Call<'_>) -> Result<Map<String, Value>, ApiError> {
    call.params
        .map("fields")?
        .ok_or_else(|| RestError::missing_parameter("fields").into())
}

fn add(call: &Call<'_>) -> Result<Output, ApiError> {
    let permissions = &call.caller.permissions;
    let max_file_bytes = call.state.limits.max_file_bytes;
    let item = call.state.store.write(call.caller.portal_id, |tx| {
        let entity_type_id = entity_type(call, tx)?;
        let fields = fields_param(call)?;
        let item = items::add(tx, permissions, entity_type_id, &fields, max_file_bytes)
            .map_err(d7_error)?;
        with_files(call, tx, item)
    })?;
    Ok(wrapped(item))
}

fn get(call: &Call<'_>) -> Result<Output, ApiError> {
    let item = call.state.store.read(call.caller.portal_id, |tx| {
        let entity_type_id = entity_type(call, tx)?;
        let id = call.params.int("id")?;
        let item =
            items::get(tx, &call.caller.permissions, entity_type_id, id).map_err(d7_error)?;
        with_files(call, tx, item)
    })?;
    Ok(wrapped(item))
}

fn update(call: &Call<'_>) -> Result<Output, ApiError> {
    let max_file_bytes = call.state.limits.max_file_bytes;
    let item = call.state.store.write(call.caller.portal_id, |tx| {
        let entity_type_id = entity_type(call, tx)?;
        let id = call.params.int("id")?;
        let fields = fields_param(call)?;
        let permissions = &call.caller.permissions;
        let item = items::update(tx, permissions, entity_type_id, id, &fields, max_file_bytes)
            .map_err(d7_error)?;
        with_files(call, tx, item)
    })?;
    Ok(wrapped(item))
}

fn delete(call: &Call<'_>) -> Result<Output, ApiError> {
    call.state.store.write(call.caller.portal_id, |tx| {
        let entity_type_id = entity_type(call, tx)?;
        let id = call.params.int("id")?;
        items::delete(tx, &call.caller.permissions, entity_type_id, id).map_err(d7_error)
    })?;
    Ok(Output::result(json!([])))
}

fn fields(call: &Call<'_>) -> Result<Output, ApiError> {
    let described = call.state.store.read(call.caller.portal_id, |tx| {
        let entity_type_id = entity_type(call, tx)?;
        catalogue(tx, entity_type_id, Dialect::D7)
    })?;
    Ok(Output::result(super::keyed(
        "fields",
        Value::Object(described),
    )))
}

/// What `crm.item.fields` (`Dialect::D7`) or the legacy `crm.*.fields` show for a type: every
/// field of [`item_fields::FIELDS`] the type has, in that dialect's names.
pub fn catalogue(
    tx: &mut dyn Tx,
    entity_type_id: i64,
    dialect: Dialect,
) -> Result<Map<String, Value>, ApiError> {
    let category = statuses::default_category(tx, entity_type_id)?;
    let stages = statuses::stage_entity_id(entity_type_id, category);
    let d7 = dialect == Dialect::D7;
    let mut described: Map<String, Value> = if d7 {
        item_fields::crm_item_fields_of(entity_type_id)
            .map(|f| {
                (
                    f.name.to_string(),
                    item_fields::descriptor(f, stages.as_deref(), true),
                )
            })
            .collect()
    } else {
        item_fields::fields_of(entity_type_id)
            .map(|f| {
                (
                    f.legacy.to_string(),
                    item_fields::descriptor(f, stages.as_deref(), false),
                )
            })
            .collect()
    };
    for parent in dynamic_types::parent_types(tx, entity_type_id)? {
        let Some(field) = item_fields::parent_field(parent) else {
            continue;
        };
        let mut d = item_fields::descriptor(field, None, d7);
        d["title"] = json!(parent_title(tx, parent)?);
        d["settings"] = json!({"parentEntityTypeId": parent});
        let name = if d7 { field.name } else { field.legacy };
        described.insert(name.to_string(), d);
    }
    for f in user_fields::fields_of(tx, entity_type_id)?.iter() {
        let name = if d7 {
            f.camel_name()
        } else {
            f.name().to_string()
        };
        described.insert(name, user_fields::descriptor(f, d7));
    }
    if d7 {
        described.insert(
            "entityTypeId".to_string(),
            json!({"type": "integer", "isRequired": false, "isReadOnly": true, "isImmutable": true,
                   "isMultiple": false, "isDynamic": false, "title": "Entity type", "upperName": "ENTITY_TYPE_ID"}),
        );
    }
    Ok(described)
}

/// The title of a parent field: the parent type's name (a smart process's title).
fn parent_title(tx: &mut dyn Tx, parent: i64) -> Result<String, ApiError> {
    use crate::domain::EntityTypeId as T;
    Ok(match parent {
        T::LEAD => "Lead".into(),
        T::DEAL => "Deal".into(),
        T::CONTACT => "Contact".into(),
        T::COMPANY => "Company".into(),
        T::QUOTE => "Estimate".into(),
        T::SMART_INVOICE => "Invoice".into(),
        _ => tx
            .catalogue()?
            .type_of(parent)
            .map(|t| t.title.clone())
            .unwrap_or_default(),
    })
}

/// The fields of one item type, for filters and order: any scalar field, by either name; the
/// second member lists the type's parent types (its `parentId{N}` fields).
/// The third lists the type's user fields.
pub struct ItemListFields(pub i64, pub Vec<i64>, pub Arc<[UserField]>);

impl ItemListFields {
    fn user_field(&self, key: &str) -> Option<&UserField> {
        self.2.iter().find(|f| f.is_named(key))
    }
}

impl ListFields for ItemListFields {
    fn field(&self, key: &str) -> Option<ListField> {
        if let Some(f) = self.user_field(key) {
            if f.user_type() == "file" {
                return None;
            }
            let user_type = f.user_type().to_string();
            return Some(ListField {
                column: Column::UserField(f.id, f.column()),
                convert: Box::new(move |v| user_fields::sql_value(&user_type, v)),
            });
        }
        let field = item_fields::find_in(self.0, key, &self.1).filter(|f| {
            !matches!(
                f.kind,
                FieldKind::IntegerList | FieldKind::Multifield | FieldKind::File
            )
        })?;
        Some(ListField {
            column: field.column,
            convert: Box::new(move |v| item_fields::sql_value(field, v)),
        })
    }

    fn knows(&self, key: &str) -> bool {
        item_fields::find_in(self.0, key, &self.1).is_some() || self.user_field(key).is_some()
    }

    fn exact_only(&self, key: &str) -> bool {
        item_fields::find_in(self.0, key, &self.1).is_some_and(|f| {
            matches!(
                f.wire_type,
                "crm_status"
                    | "crm_company"
                    | "crm_contact"
                    | "crm_lead"
                    | "crm_quote"
                    | "crm_entity"
            )
        })
    }
}

/// Reads `filter`, `order` and `start` into a query over one item type whose parent types are
/// `parents`.
pub fn list_query(
    call: &Call<'_>,
    entity_type_id: i64,
    parents: Vec<i64>,
    defs: Arc<[UserField]>,
    dialect: Dialect,
) -> Result<ListQuery, ApiError> {
    let fields = ItemListFields(entity_type_id, parents, defs);
    let filter = match call.params.map_ci("filter")? {
        Some(map) => listing::parse_filter(&map, &fields, dialect)?,
        None => Filter::everything(),
    };
    let order = match call.params.map_ci("order")? {
        Some(map) => listing::parse_order(&map, &fields, dialect)?,
        None => Vec::new(),
    };
    let page = call.params.page();
    Ok(ListQuery {
        filter,
        order,
        offset: page.offset,
        limit: PAGE_SIZE,
        count: page.count,
    })
}

/// Keeps the selected fields (plus `id`) of an answer object; `*` or no select keeps everything.
fn project(
    item: Value,
    entity_type_id: i64,
    parents: &[i64],
    defs: &[UserField],
    select: &[String],
) -> Value {
    if listing::selects_all(select) {
        return item;
    }
    let all_user_fields = select
        .iter()
        .any(|s| s.eq_ignore_ascii_case("uf_*") || s.eq_ignore_ascii_case("ufCrm*"));
    let named: Vec<String> = defs
        .iter()
        .filter(|f| all_user_fields || select.iter().any(|s| f.is_named(s)))
        .map(UserField::camel_name)
        .collect();
    let keep: Vec<&str> = select
        .iter()
        .filter_map(|s| item_fields::find_in(entity_type_id, s, parents).map(|f| f.name))
        .chain(["id"])
        .chain(named.iter().map(String::as_str))
        .collect();
    match item {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| keep.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    }
}

fn list(call: &Call<'_>) -> Result<Output, ApiError> {
    let select = listing::parse_select(call.params.get("select"));
    let page = call.params.page();
    let portal = call.caller.portal_id;
    let (entity_type_id, result, files, defs) = call.state.store.read(portal, |tx| {
        let entity_type_id = entity_type(call, tx)?;
        let parents = dynamic_types::parent_types(tx, entity_type_id)?;
        let defs = user_fields::fields_of(tx, entity_type_id)?;
        let query = list_query(
            call,
            entity_type_id,
            parents.clone(),
            defs.clone(),
            Dialect::D7,
        )?;
        let page =
            items::list(tx, &call.caller.permissions, entity_type_id, query).map_err(d7_error)?;
        let files = ItemContext::of(tx, &page.rows, &call.state.public_url, portal, parents)?;
        Ok((entity_type_id, page, files, defs))
    })?;
    let count = result.rows.len();
    let answers = answers(entity_type_id, &files, &defs);
    let items: Vec<Value> = result
        .rows
        .into_iter()
        .map(|item| {
            project(
                answers.answer(item),
                entity_type_id,
                files.parents(),
                &defs,
                &select,
            )
        })
        .collect();
    Ok(Output {
        result: super::keyed("items", Value::Array(items)),
        next: result.total.and_then(|total| page.next(count, total)),
        total: result.total,
    })
}
