//! Activities: the modern `crm.activity.todo.add` (D7, camelCase, error codes) and the legacy
//! `crm.activity.*` (UPPER_CASE fields, every value a string, errors with `"error": ""`).
//!
//! ```no_run
//! # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
//! use b24_client::methods::activity::{Get, TodoAdd};
//! let id = client.execute(&TodoAdd::new(2, 15, "2030-01-01T10:00:00").title("Call")).await?;
//! let activity = client.execute(&Get { id }).await?;
//! # Ok(()) }
//! ```

use super::de;
use crate::client::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An activity as the legacy methods return it. Numbers and Y/N flags are read from their
/// string form; everything else stays in [`other`](Self::other) under its UPPER_CASE name.
///
/// ```
/// let a: b24_client::methods::activity::Activity = serde_json::from_value(serde_json::json!({
///     "ID": "9", "OWNER_TYPE_ID": "2", "OWNER_ID": "15", "SUBJECT": "Call", "COMPLETED": "N"
/// })).unwrap();
/// assert_eq!((a.id, a.owner_id, a.completed), (9, Some(15), Some(false)));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct Activity {
    /// The activity's id.
    #[serde(deserialize_with = "de::int")]
    pub id: i64,
    /// The owner's CRM object type (recomputed from the bindings).
    #[serde(default, deserialize_with = "de::opt_int")]
    pub owner_type_id: Option<i64>,
    /// The owner's id.
    #[serde(default, deserialize_with = "de::opt_int")]
    pub owner_id: Option<i64>,
    /// 1 meeting, 2 call, 3 task, 4 email, 6 provider-managed (to-dos).
    #[serde(default, deserialize_with = "de::opt_int")]
    pub type_id: Option<i64>,
    /// The subject (a to-do's title).
    #[serde(default, deserialize_with = "de::opt_text")]
    pub subject: Option<String>,
    /// The description.
    #[serde(default, deserialize_with = "de::opt_text")]
    pub description: Option<String>,
    /// The responsible user.
    #[serde(default, deserialize_with = "de::opt_int")]
    pub responsible_id: Option<i64>,
    /// The deadline (ISO-8601).
    #[serde(default, deserialize_with = "de::opt_text")]
    pub deadline: Option<String>,
    /// Whether it is done.
    #[serde(default, deserialize_with = "de::opt_yes_no")]
    pub completed: Option<bool>,
    /// Every other field, by its UPPER_CASE name.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `crm.activity.todo.add`: a to-do bound to one CRM item; returns the new activity's id.
///
/// ```no_run
/// use b24_client::methods::activity::TodoAdd;
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let id = client.execute(&TodoAdd::new(2, 15, "2030-01-01T10:00:00").title("Call back")).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TodoAdd {
    /// The owner's CRM object type.
    pub owner_type_id: i64,
    /// The owner's id.
    pub owner_id: i64,
    /// The deadline, ISO-8601 (`2025-02-03T15:00:00`).
    pub deadline: String,
    /// The title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The responsible user (default: the caller).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responsible_id: Option<i64>,
}

impl TodoAdd {
    /// A to-do for item `owner_id` of type `owner_type_id`, due at `deadline`.
    ///
    /// ```
    /// let todo = b24_client::methods::activity::TodoAdd::new(2, 15, "2030-01-01T10:00:00");
    /// assert_eq!(todo.owner_id, 15);
    /// ```
    pub fn new(owner_type_id: i64, owner_id: i64, deadline: impl Into<String>) -> Self {
        Self {
            owner_type_id,
            owner_id,
            deadline: deadline.into(),
            title: None,
            description: None,
            responsible_id: None,
        }
    }

    /// Sets the title.
    ///
    /// ```
    /// let todo = b24_client::methods::activity::TodoAdd::new(2, 1, "2030-01-01T10:00:00").title("Call");
    /// assert_eq!(todo.title.as_deref(), Some("Call"));
    /// ```
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the description.
    ///
    /// ```
    /// let todo = b24_client::methods::activity::TodoAdd::new(2, 1, "2030-01-01T10:00:00")
    ///     .description("Ask about the invoice");
    /// # let _ = todo;
    /// ```
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the responsible user.
    ///
    /// ```
    /// let todo = b24_client::methods::activity::TodoAdd::new(2, 1, "2030-01-01T10:00:00").responsible(3);
    /// assert_eq!(todo.responsible_id, Some(3));
    /// ```
    pub fn responsible(mut self, user_id: i64) -> Self {
        self.responsible_id = Some(user_id);
        self
    }
}

impl Method for TodoAdd {
    type Output = i64;
    const NAME: &'static str = "crm.activity.todo.add";
    fn output(result: Value) -> Result<i64, serde_json::Error> {
        #[derive(Deserialize)]
        struct Wrapped {
            id: i64,
        }
        serde_json::from_value::<Wrapped>(result).map(|w| w.id)
    }
}

/// `crm.activity.get` (legacy).
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let activity = client.execute(&b24_client::methods::activity::Get { id: 9 }).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct Get {
    /// The activity's id.
    pub id: i64,
}

impl Method for Get {
    type Output = Activity;
    const NAME: &'static str = "crm.activity.get";
}

/// `crm.activity.delete` (legacy): deletes the activity and its bindings.
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// client.execute(&b24_client::methods::activity::Delete { id: 9 }).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct Delete {
    /// The activity's id.
    pub id: i64,
}

impl Method for Delete {
    type Output = bool;
    const NAME: &'static str = "crm.activity.delete";
}

/// `crm.activity.add` (legacy): `fields` in UPPER_CASE (`OWNER_TYPE_ID`, `OWNER_ID`, `TYPE_ID`,
/// `SUBJECT`, `COMMUNICATIONS`, …); returns the new id.
///
/// ```no_run
/// use serde_json::json;
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let id = client.execute(&b24_client::methods::activity::Add { fields: json!({
///     "OWNER_TYPE_ID": 3, "OWNER_ID": 1, "TYPE_ID": 2, "SUBJECT": "Call",
///     "COMMUNICATIONS": [{"VALUE": "+100200300"}],
/// }) }).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct Add {
    /// The new activity's fields.
    pub fields: Value,
}

impl Method for Add {
    type Output = i64;
    const NAME: &'static str = "crm.activity.add";
}

/// `crm.activity.update` (legacy): changes fields; `true` on success.
///
/// ```no_run
/// use serde_json::json;
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// client.execute(&b24_client::methods::activity::Update {
///     id: 9, fields: json!({"COMPLETED": "Y"}),
/// }).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct Update {
    /// The activity's id.
    pub id: i64,
    /// The fields to change.
    pub fields: Value,
}

impl Method for Update {
    type Output = bool;
    const NAME: &'static str = "crm.activity.update";
}

/// `crm.activity.list` filter/order/select (legacy UPPER_CASE names). Lists are read as
/// streams ([`Activities::list`](crate::crm::Activities::list)).
///
/// ```
/// use b24_client::methods::activity::Query;
/// use serde_json::json;
/// let query = Query {
///     filter: json!({"OWNER_TYPE_ID": 2, "OWNER_ID": 15}).as_object().unwrap().clone(),
///     ..Query::default()
/// };
/// # let _ = query;
/// ```
#[derive(Debug, Clone, Default, Serialize)]
pub struct Query {
    /// Fields to return; empty means the server's default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub select: Vec<String>,
    /// Filter with prefixed keys (`">ID"`, `"OWNER_ID"`, …).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub filter: Map<String, Value>,
    /// `{FIELD: "ASC" | "DESC"}`.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub order: Map<String, Value>,
}
