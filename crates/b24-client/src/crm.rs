//! The CRM facade: `client.crm().activity().binding().delete(…)` and friends. Each call builds
//! the typed [`methods`](crate::methods) struct and runs it through
//! [`Client::execute`](crate::Client::execute).
//!
//! ```no_run
//! # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
//! let deleted: bool = client.crm().activity().binding().delete(7, 2, 15).await?;
//! # Ok(()) }
//! ```

use crate::client::Client;
use crate::error::Error;
use crate::list::Paging;
use crate::methods::activity::{self, Activity, TodoAdd};
use crate::methods::binding::{self, Binding};
use crate::methods::item::{self, Item, Query};
use futures::stream::BoxStream;
use serde_json::Value;

/// CRM methods; get one with [`Client::crm`].
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let crm = client.crm();
/// let deal = crm.item().get(2, 15).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Crm<'a> {
    client: &'a Client,
}

impl Client {
    /// The CRM methods.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// client.crm().activity().binding().add(7, 2, 15).await?;
    /// # Ok(()) }
    /// ```
    pub fn crm(&self) -> Crm<'_> {
        Crm { client: self }
    }

    /// `server.time`: the server's clock, ISO-8601.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// println!("{}", client.server_time().await?);
    /// # Ok(()) }
    /// ```
    pub async fn server_time(&self) -> Result<String, Error> {
        self.execute(&crate::methods::system::ServerTime).await
    }

    /// `profile`: the user the credentials belong to.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let me = client.profile().await?;
    /// println!("user {} admin={}", me.id, me.admin);
    /// # Ok(()) }
    /// ```
    pub async fn profile(&self) -> Result<crate::methods::system::Profile, Error> {
        self.execute(&crate::methods::system::GetProfile).await
    }
}

impl<'a> Crm<'a> {
    /// Activities (`crm.activity.*`).
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let activity = client.crm().activity().get(9).await?;
    /// # Ok(()) }
    /// ```
    pub fn activity(&self) -> Activities<'a> {
        Activities {
            client: self.client,
        }
    }

    /// Items of any CRM type (`crm.item.*`).
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// client.crm().item().delete(2, 15).await?;
    /// # Ok(()) }
    /// ```
    pub fn item(&self) -> Items<'a> {
        Items {
            client: self.client,
        }
    }
}

/// `crm.activity.*`; get one with [`Crm::activity`].
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let id = client.crm().activity().todo_add(2, 15, "2030-01-01T10:00:00", "Call back").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Activities<'a> {
    client: &'a Client,
}

impl<'a> Activities<'a> {
    /// Bindings of activities to CRM items (`crm.activity.binding.*`).
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let bindings = client.crm().activity().binding().list(7).await?;
    /// # Ok(()) }
    /// ```
    pub fn binding(&self) -> Bindings<'a> {
        Bindings {
            client: self.client,
        }
    }

    /// `crm.activity.todo.add`: a to-do on one item, due at `deadline`; returns its id.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let id = client.crm().activity().todo_add(2, 15, "2030-01-01T10:00:00", "Call").await?;
    /// # Ok(()) }
    /// ```
    pub async fn todo_add(
        &self,
        owner_type_id: i64,
        owner_id: i64,
        deadline: &str,
        title: &str,
    ) -> Result<i64, Error> {
        let todo = TodoAdd::new(owner_type_id, owner_id, deadline).title(title);
        self.client.execute(&todo).await
    }

    /// `crm.activity.get`.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let a = client.crm().activity().get(9).await?;
    /// println!("owned by {:?} {:?}", a.owner_type_id, a.owner_id);
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: i64) -> Result<Activity, Error> {
        self.client.execute(&activity::Get { id }).await
    }

    /// `crm.activity.add` with legacy UPPER_CASE `fields`; returns the new id.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let id = client.crm().activity().add(serde_json::json!({
    ///     "OWNER_TYPE_ID": 3, "OWNER_ID": 1, "TYPE_ID": 2, "SUBJECT": "Call",
    ///     "COMMUNICATIONS": [{"VALUE": "+100200300"}],
    /// })).await?;
    /// # Ok(()) }
    /// ```
    pub async fn add(&self, fields: Value) -> Result<i64, Error> {
        self.client.execute(&activity::Add { fields }).await
    }

    /// `crm.activity.update` with legacy UPPER_CASE `fields`.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// client.crm().activity().update(9, serde_json::json!({"COMPLETED": "Y"})).await?;
    /// # Ok(()) }
    /// ```
    pub async fn update(&self, id: i64, fields: Value) -> Result<bool, Error> {
        self.client.execute(&activity::Update { id, fields }).await
    }

    /// `crm.activity.delete`.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// client.crm().activity().delete(9).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, id: i64) -> Result<bool, Error> {
        self.client.execute(&activity::Delete { id }).await
    }

    /// Every activity matching `query`, walked with the `>ID` cursor.
    ///
    /// ```no_run
    /// use b24_client::methods::activity::Query;
    /// use futures::TryStreamExt;
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let all: Vec<_> = client.crm().activity().list(Query::default()).try_collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn list(&self, query: activity::Query) -> BoxStream<'static, Result<Activity, Error>> {
        let params = serde_json::to_value(query).unwrap_or(Value::Null);
        self.client.list(
            "crm.activity.list",
            params,
            Paging::IdCursor {
                id_field: "ID".into(),
            },
        )
    }
}

/// `crm.activity.binding.*`; get one with [`Activities::binding`].
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let bindings = client.crm().activity().binding();
/// bindings.add(7, 3, 1).await?;
/// bindings.delete(7, 2, 15).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Bindings<'a> {
    client: &'a Client,
}

impl Bindings<'_> {
    /// `crm.activity.binding.list`: the items the activity is bound to (those the caller may
    /// read).
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// for b in client.crm().activity().binding().list(7).await? {
    ///     println!("{} {}", b.entity_type_id, b.entity_id);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list(&self, activity_id: i64) -> Result<Vec<Binding>, Error> {
        self.client.execute(&binding::List { activity_id }).await
    }

    /// `crm.activity.binding.add`.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let added = client.crm().activity().binding().add(7, 3, 1).await?;
    /// # Ok(()) }
    /// ```
    pub async fn add(
        &self,
        activity_id: i64,
        entity_type_id: i64,
        entity_id: i64,
    ) -> Result<bool, Error> {
        let add = binding::Add {
            activity_id,
            entity_type_id,
            entity_id,
        };
        self.client.execute(&add).await
    }

    /// `crm.activity.binding.delete`.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let deleted = client.crm().activity().binding().delete(7, 2, 15).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(
        &self,
        activity_id: i64,
        entity_type_id: i64,
        entity_id: i64,
    ) -> Result<bool, Error> {
        let delete = binding::Delete {
            activity_id,
            entity_type_id,
            entity_id,
        };
        self.client.execute(&delete).await
    }

    /// `crm.activity.binding.move`: from one item to another of the same type.
    ///
    /// ```no_run
    /// use b24_client::methods::binding::Binding;
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// client.crm().activity().binding()
    ///     .move_to(7, Binding::new(2, 15), Binding::new(2, 16))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn move_to(
        &self,
        activity_id: i64,
        source: Binding,
        target: Binding,
    ) -> Result<bool, Error> {
        let mv = binding::Move {
            activity_id,
            source_entity_type_id: source.entity_type_id,
            source_entity_id: source.entity_id,
            target_entity_type_id: target.entity_type_id,
            target_entity_id: target.entity_id,
        };
        self.client.execute(&mv).await
    }
}

/// `crm.item.*`; get one with [`Crm::item`].
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let deal = client.crm().item().add(2, serde_json::json!({"title": "New"})).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Items<'a> {
    client: &'a Client,
}

impl Items<'_> {
    /// `crm.item.add`: creates an item with camelCase `fields`.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let deal = client.crm().item().add(2, serde_json::json!({"title": "New"})).await?;
    /// println!("deal {}", deal.id);
    /// # Ok(()) }
    /// ```
    pub async fn add(&self, entity_type_id: i64, fields: Value) -> Result<Item, Error> {
        let add = item::Add {
            entity_type_id,
            fields,
        };
        self.client.execute(&add).await
    }

    /// `crm.item.get`.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let deal = client.crm().item().get(2, 15).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, entity_type_id: i64, id: i64) -> Result<Item, Error> {
        self.client.execute(&item::Get { entity_type_id, id }).await
    }

    /// `crm.item.update`: changes some fields; returns the item as it now is.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// client.crm().item().update(2, 15, serde_json::json!({"title": "Renamed"})).await?;
    /// # Ok(()) }
    /// ```
    pub async fn update(&self, entity_type_id: i64, id: i64, fields: Value) -> Result<Item, Error> {
        let update = item::Update {
            entity_type_id,
            id,
            fields,
        };
        self.client.execute(&update).await
    }

    /// `crm.item.delete`.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// client.crm().item().delete(2, 15).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, entity_type_id: i64, id: i64) -> Result<(), Error> {
        self.client
            .execute(&item::Delete { entity_type_id, id })
            .await
    }

    /// Every item of a type matching `query`, page by page with `start`/`next` (counted).
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let deals: Vec<_> = client.crm().item().list(2, Default::default()).try_collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn list(
        &self,
        entity_type_id: i64,
        query: Query,
    ) -> BoxStream<'static, Result<Item, Error>> {
        self.stream(entity_type_id, query, Paging::Offset)
    }

    /// Every item of a type matching `query`, with the fast `>id` cursor (`start=-1`, no
    /// count); `query.order` is replaced by id ascending.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let mut deals = client.crm().item().list_fast(2, Default::default());
    /// while let Some(deal) = deals.try_next().await? {
    ///     println!("{} {:?}", deal.id, deal.title);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_fast(
        &self,
        entity_type_id: i64,
        query: Query,
    ) -> BoxStream<'static, Result<Item, Error>> {
        self.stream(
            entity_type_id,
            query,
            Paging::IdCursor {
                id_field: "id".into(),
            },
        )
    }

    fn stream(
        &self,
        entity_type_id: i64,
        query: Query,
        paging: Paging,
    ) -> BoxStream<'static, Result<Item, Error>> {
        let mut params = serde_json::to_value(query).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut params {
            map.insert("entityTypeId".into(), entity_type_id.into());
        }
        self.client.list("crm.item.list", params, paging)
    }
}
