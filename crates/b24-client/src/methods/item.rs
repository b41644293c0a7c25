//! `crm.item.*` (spec §10.1): CRM items of any type — leads, deals, contacts, companies, smart
//! processes — with camelCase fields and real JSON numbers.
//!
//! ```no_run
//! # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
//! use b24_client::methods::item::{Add, Get};
//! let deal = client.execute(&Add { entity_type_id: 2, fields: serde_json::json!({"title": "A"}) }).await?;
//! let again = client.execute(&Get { entity_type_id: 2, id: deal.id }).await?;
//! # Ok(()) }
//! ```

use crate::client::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A CRM item. The common fields are typed; the rest (type-specific and custom fields) stay in
/// [`other`](Self::other). With a narrow `select`, absent fields are `None`.
///
/// ```
/// let item: b24_client::methods::item::Item =
///     serde_json::from_value(serde_json::json!({"id": 5, "title": "Deal", "stageId": "NEW"})).unwrap();
/// assert_eq!(item.id, 5);
/// assert_eq!(item.other["stageId"], "NEW");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// The item's id.
    pub id: i64,
    /// Its title (or name, for contacts).
    #[serde(default)]
    pub title: Option<String>,
    /// The responsible user.
    #[serde(default)]
    pub assigned_by_id: Option<i64>,
    /// Who created it.
    #[serde(default)]
    pub created_by: Option<i64>,
    /// Who changed it last.
    #[serde(default)]
    pub updated_by: Option<i64>,
    /// When it was created (ISO-8601).
    #[serde(default)]
    pub created_time: Option<String>,
    /// When it was changed last (ISO-8601).
    #[serde(default)]
    pub updated_time: Option<String>,
    /// Its CRM object type.
    #[serde(default)]
    pub entity_type_id: Option<i64>,
    /// Every other field, by its camelCase name.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// Unwraps the single-key `{"item": {...}}` answer.
fn unwrap_item(result: Value) -> Result<Item, serde_json::Error> {
    #[derive(Deserialize)]
    struct Wrapped {
        item: Item,
    }
    serde_json::from_value::<Wrapped>(result).map(|w| w.item)
}

/// `crm.item.add`: creates an item; `fields` in camelCase (`title`, `assignedById`, …).
///
/// ```no_run
/// use b24_client::methods::{item::Add, entity_type};
/// use serde_json::json;
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let deal = client
///     .execute(&Add { entity_type_id: entity_type::DEAL, fields: json!({"title": "Big deal"}) })
///     .await?;
/// println!("created deal {}", deal.id);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Add {
    /// The CRM object type.
    pub entity_type_id: i64,
    /// The new item's fields.
    pub fields: Value,
}

impl Method for Add {
    type Output = Item;
    const NAME: &'static str = "crm.item.add";
    fn output(result: Value) -> Result<Item, serde_json::Error> {
        unwrap_item(result)
    }
}

/// `crm.item.get`: one item.
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let deal = client.execute(&b24_client::methods::item::Get { entity_type_id: 2, id: 5 }).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Get {
    /// The CRM object type.
    pub entity_type_id: i64,
    /// The item's id.
    pub id: i64,
}

impl Method for Get {
    type Output = Item;
    const NAME: &'static str = "crm.item.get";
    fn output(result: Value) -> Result<Item, serde_json::Error> {
        unwrap_item(result)
    }
}

/// `crm.item.update`: changes some fields of an item; returns the item as it now is.
///
/// ```no_run
/// use serde_json::json;
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let update = b24_client::methods::item::Update {
///     entity_type_id: 2, id: 5, fields: json!({"title": "Renamed"}),
/// };
/// client.execute(&update).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Update {
    /// The CRM object type.
    pub entity_type_id: i64,
    /// The item's id.
    pub id: i64,
    /// The fields to change.
    pub fields: Value,
}

impl Method for Update {
    type Output = Item;
    const NAME: &'static str = "crm.item.update";
    fn output(result: Value) -> Result<Item, serde_json::Error> {
        unwrap_item(result)
    }
}

/// `crm.item.delete`: deletes an item (the answer's `result` is an empty array).
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// client.execute(&b24_client::methods::item::Delete { entity_type_id: 2, id: 5 }).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delete {
    /// The CRM object type.
    pub entity_type_id: i64,
    /// The item's id.
    pub id: i64,
}

impl Method for Delete {
    type Output = ();
    const NAME: &'static str = "crm.item.delete";
    fn output(_result: Value) -> Result<(), serde_json::Error> {
        Ok(())
    }
}

/// `crm.item.list` parameters other than the type: which fields, which items, in what order.
/// Lists are read as streams ([`Items::list`](crate::crm::Items::list)), so there is no `start`.
///
/// ```
/// use b24_client::methods::item::Query;
/// use serde_json::json;
/// let query = Query {
///     select: vec!["id".into(), "title".into()],
///     filter: json!({">id": 100}).as_object().unwrap().clone(),
///     ..Query::default()
/// };
/// # let _ = query;
/// ```
#[derive(Debug, Clone, Default, Serialize)]
pub struct Query {
    /// Fields to return; empty means all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub select: Vec<String>,
    /// Filter with prefixed keys (`">id"`, `"=title"`, …).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub filter: Map<String, Value>,
    /// `{field: "ASC" | "DESC"}`.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub order: Map<String, Value>,
}

/// `crm.item.list` for one page, as a typed method (for a `batch`). `result` is
/// `{"items": [...]}`.
///
/// ```no_run
/// use b24_client::methods::item::{List, Query};
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let page = client
///     .execute(&List { entity_type_id: 2, query: Query::default(), start: Some(0) })
///     .await?;
/// println!("{} items on the first page", page.len());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct List {
    /// The CRM object type.
    pub entity_type_id: i64,
    /// Select, filter and order.
    #[serde(flatten)]
    pub query: Query,
    /// The page offset (a multiple of 50), or -1 for an uncounted first page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
}

impl Method for List {
    type Output = Vec<Item>;
    const NAME: &'static str = "crm.item.list";
    fn output(result: Value) -> Result<Vec<Item>, serde_json::Error> {
        #[derive(Deserialize)]
        struct Wrapped {
            items: Vec<Item>,
        }
        serde_json::from_value::<Wrapped>(result).map(|w| w.items)
    }
}
