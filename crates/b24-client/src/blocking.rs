//! A blocking wrapper for programs without an async runtime: the async [`Client`](crate::Client)
//! driven by a private single-threaded tokio runtime. Do not use it from inside an async
//! context (it would block the executor); use the async client there.
//!
//! ```no_run
//! # fn demo() -> Result<(), b24_client::Error> {
//! let client = b24_client::blocking::Client::from_webhook("https://example.bitrix24.com/rest/1/s/")?;
//! let now = client.execute(&b24_client::methods::system::ServerTime)?;
//! # Ok(()) }
//! ```

use crate::batch::{Batch, BatchResults};
use crate::client::{Method, Response};
use crate::error::Error;
use crate::list::Paging;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;

/// The blocking client.
///
/// ```no_run
/// use b24_client::blocking::Client;
/// # fn demo() -> Result<(), b24_client::Error> {
/// let client = Client::from_webhook("https://example.bitrix24.com/rest/1/secret/")?;
/// let deleted = client.run(|c| async move {
///     c.crm().activity().binding().delete(7, 2, 15).await
/// })?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: crate::Client,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Client {
    /// A blocking client for a webhook URL, with the async client's defaults.
    ///
    /// ```no_run
    /// let client = b24_client::blocking::Client::from_webhook("https://example.bitrix24.com/rest/1/s/")?;
    /// # Ok::<(), b24_client::Error>(())
    /// ```
    pub fn from_webhook(url: &str) -> Result<Client, Error> {
        Self::new(crate::Client::from_webhook(url)?)
    }

    /// Wraps an async client configured with [`Client::builder`](crate::Client::builder).
    ///
    /// ```no_run
    /// let inner = b24_client::Client::builder("https://example.bitrix24.com/rest/1/s/")
    ///     .plan(b24_client::Plan::Enterprise)
    ///     .build()?;
    /// let client = b24_client::blocking::Client::new(inner)?;
    /// # Ok::<(), b24_client::Error>(())
    /// ```
    pub fn new(inner: crate::Client) -> Result<Client, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Error::new(crate::error::ErrorKind::InvalidParams {
                    reason: format!("could not start the runtime: {e}"),
                })
            })?;
        Ok(Client {
            inner,
            runtime: Arc::new(runtime),
        })
    }

    /// The async client inside, for [`run`](Self::run) and the typed facades.
    ///
    /// ```no_run
    /// # fn demo(client: b24_client::blocking::Client) {
    /// let async_client: &b24_client::Client = client.as_async();
    /// # }
    /// ```
    pub fn as_async(&self) -> &crate::Client {
        &self.inner
    }

    /// Runs any async operation of the client to completion: the way to reach the whole typed
    /// API (`crm()`, …) from blocking code.
    ///
    /// ```no_run
    /// # fn demo(client: b24_client::blocking::Client) -> Result<(), b24_client::Error> {
    /// let deal = client.run(|c| async move { c.crm().item().get(2, 15).await })?;
    /// # Ok(()) }
    /// ```
    pub fn run<F, Fut, T>(&self, operation: F) -> T
    where
        F: FnOnce(crate::Client) -> Fut,
        Fut: Future<Output = T>,
    {
        self.runtime.block_on(operation(self.inner.clone()))
    }

    /// [`Client::call`](crate::Client::call), blocking.
    ///
    /// ```no_run
    /// # fn demo(client: b24_client::blocking::Client) -> Result<(), b24_client::Error> {
    /// let now = client.call("server.time", serde_json::json!({}))?;
    /// # Ok(()) }
    /// ```
    pub fn call(&self, method: &str, params: Value) -> Result<Response, Error> {
        self.runtime.block_on(self.inner.call(method, params))
    }

    /// [`Client::execute`](crate::Client::execute), blocking.
    ///
    /// ```no_run
    /// use b24_client::methods::binding::Delete;
    /// # fn demo(client: b24_client::blocking::Client) -> Result<(), b24_client::Error> {
    /// let deleted = client.execute(&Delete { activity_id: 7, entity_type_id: 2, entity_id: 15 })?;
    /// # Ok(()) }
    /// ```
    pub fn execute<M: Method>(&self, method: &M) -> Result<M::Output, Error> {
        self.runtime.block_on(self.inner.execute(method))
    }

    /// A batch to fill and hand to [`send_batch`](Self::send_batch).
    ///
    /// ```no_run
    /// # fn demo(client: b24_client::blocking::Client) -> Result<(), b24_client::Error> {
    /// let mut batch = client.batch();
    /// let t = batch.push(&b24_client::methods::system::ServerTime);
    /// let results = client.send_batch(batch)?;
    /// println!("{}", results.get(&t)?);
    /// # Ok(()) }
    /// ```
    pub fn batch(&self) -> Batch {
        self.inner.batch()
    }

    /// [`Batch::send`], blocking.
    ///
    /// ```no_run
    /// # fn demo(client: b24_client::blocking::Client) -> Result<(), b24_client::Error> {
    /// let results = client.send_batch(client.batch())?;
    /// # Ok(()) }
    /// ```
    pub fn send_batch(&self, batch: Batch) -> Result<BatchResults, Error> {
        self.runtime.block_on(batch.send())
    }

    /// [`Client::list`](crate::Client::list) as an iterator that fetches pages as it goes.
    ///
    /// ```no_run
    /// use b24_client::Paging;
    /// # fn demo(client: b24_client::blocking::Client) -> Result<(), b24_client::Error> {
    /// for deal in client.list::<serde_json::Value>(
    ///     "crm.item.list", serde_json::json!({"entityTypeId": 2}), Paging::Offset)
    /// {
    ///     println!("{}", deal?["title"]);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        method: &str,
        params: Value,
        paging: Paging,
    ) -> impl Iterator<Item = Result<T, Error>> + '_ {
        let mut stream = self.inner.list(method, params, paging);
        std::iter::from_fn(move || self.runtime.block_on(stream.next()))
    }
}
