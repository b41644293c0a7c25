//! Lists as streams (spec §1.6): every list method returns at most 50 rows per call. Two ways
//! to walk them:
//!
//! - [`Paging::Offset`]: `start=0, 50, 100, …` following the server's `next`. Each page is
//!   counted (`total`), which costs the server more as the table grows.
//! - [`Paging::IdCursor`]: the "fast" mode of the docs' huge-data guide: `start=-1` (no count),
//!   `order` by id ascending and a `>id` filter from the last row seen. Cheap at any size, and
//!   rows inserted while walking cannot shift pages.

use crate::client::{Client, Response};
use crate::error::{Error, ErrorKind};
use b24_protocol::PAGE_SIZE;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// How a list is walked.
///
/// ```
/// use b24_client::Paging;
/// let fast = Paging::IdCursor { id_field: "id".into() }; // crm.item.list
/// let legacy = Paging::IdCursor { id_field: "ID".into() }; // crm.activity.list, crm.deal.list
/// # let _ = (fast, legacy);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// `start` offsets, following `next`.
    Offset,
    /// `start=-1` with `order {id: ASC}` and a `>id` filter; the list's `order` is replaced.
    IdCursor {
        /// The id field's name as the method spells it (`id` for `crm.item.list`, `ID` for
        /// the legacy lists).
        id_field: String,
    },
}

enum Cursor {
    Offset(u64),
    After(Option<i64>),
    Done,
}

/// The rows of a list answer: a plain array, or the array inside a single-key wrapper such as
/// `{"items": [...]}`.
fn rows(method: &str, result: Value) -> Result<Vec<Value>, Error> {
    match result {
        Value::Array(rows) => Ok(rows),
        Value::Object(map) if map.len() == 1 => match map.into_iter().next() {
            Some((_, Value::Array(rows))) => Ok(rows),
            _ => Err(not_a_list(method)),
        },
        // PHP sends an empty list as `[]`, but be lenient about `{}`.
        Value::Object(map) if map.is_empty() => Ok(Vec::new()),
        _ => Err(not_a_list(method)),
    }
}

fn not_a_list(method: &str) -> Error {
    Error::new(ErrorKind::InvalidParams {
        reason: format!("{method} did not answer with a list"),
    })
}

fn row_id(row: &Value, id_field: &str) -> Option<i64> {
    match row.get(id_field)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Client {
    /// Every row of a list method, as a stream that fetches pages as it is read. `params` are
    /// the method's own (`filter`, `select`, `order`, `entityTypeId`, …).
    ///
    /// ```no_run
    /// use b24_client::Paging;
    /// use futures::TryStreamExt;
    /// use serde_json::{json, Value};
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let mut deals = client.list::<Value>(
    ///     "crm.item.list",
    ///     json!({"entityTypeId": 2, "select": ["id", "title"]}),
    ///     Paging::IdCursor { id_field: "id".into() },
    /// );
    /// while let Some(deal) = deals.try_next().await? {
    ///     println!("{}", deal["title"]);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        method: &str,
        params: Value,
        paging: Paging,
    ) -> BoxStream<'static, Result<T, Error>> {
        self.list_pages(method, params, paging)
            .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    /// Like [`list`](Self::list), one page (≤ 50 rows) at a time.
    ///
    /// ```no_run
    /// use b24_client::Paging;
    /// use futures::TryStreamExt;
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let mut pages = client.list_pages::<serde_json::Value>(
    ///     "crm.item.list", serde_json::json!({"entityTypeId": 2}), Paging::Offset);
    /// while let Some(page) = pages.try_next().await? {
    ///     println!("{} rows", page.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_pages<T: DeserializeOwned + Send + 'static>(
        &self,
        method: &str,
        params: Value,
        paging: Paging,
    ) -> BoxStream<'static, Result<Vec<T>, Error>> {
        let client = self.clone();
        let method = method.to_string();
        let base = match params {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            _ => {
                let error = Error::new(ErrorKind::InvalidParams {
                    reason: "params must be a JSON object".into(),
                });
                return stream::once(async move { Err(error) }).boxed();
            }
        };
        let first = match &paging {
            Paging::Offset => Cursor::Offset(
                base.get("start")
                    .and_then(Value::as_u64)
                    .unwrap_or_default(),
            ),
            Paging::IdCursor { .. } => Cursor::After(None),
        };
        stream::try_unfold(first, move |cursor| {
            let client = client.clone();
            let method = method.clone();
            let mut params = base.clone();
            let paging = paging.clone();
            async move {
                let after = match cursor {
                    Cursor::Done => return Ok(None),
                    Cursor::Offset(start) => {
                        params.insert("start".into(), start.into());
                        None
                    }
                    Cursor::After(after) => {
                        params.insert("start".into(), Value::from(-1));
                        after
                    }
                };
                if let Paging::IdCursor { id_field } = &paging {
                    cursor_params(&mut params, id_field, after);
                }
                let Response { result, next, .. } =
                    client.send(&method, Value::Object(params), true).await?;
                let rows = rows(&method, result)?;
                let cursor = match &paging {
                    Paging::Offset => next.map_or(Cursor::Done, Cursor::Offset),
                    Paging::IdCursor { id_field } => {
                        let last = rows.last().and_then(|r| row_id(r, id_field));
                        if rows.len() < PAGE_SIZE as usize || last.is_none() {
                            Cursor::Done
                        } else {
                            Cursor::After(last)
                        }
                    }
                };
                let page = rows
                    .into_iter()
                    .map(serde_json::from_value)
                    .collect::<Result<Vec<T>, _>>()
                    .map_err(|e| Error::decode(&method, e))?;
                Ok(Some((page, cursor)))
            }
        })
        .boxed()
    }
}

/// `order {id: ASC}` and, after the first page, `filter[>id] = last`: keeps the caller's other
/// filters, and a `>id` of the caller's own if it is the stricter one.
fn cursor_params(params: &mut Map<String, Value>, id_field: &str, after: Option<i64>) {
    let mut order = Map::new();
    order.insert(id_field.to_string(), Value::from("ASC"));
    params.insert("order".into(), Value::Object(order));
    let Some(after) = after else { return };
    let mut filter = match params.remove("filter") {
        Some(Value::Object(filter)) => filter,
        _ => Map::new(),
    };
    let key = format!(">{id_field}");
    let own = filter
        .get(&key)
        .and_then(|v| row_id(&serde_json::json!({"v": v}), "v"));
    filter.insert(key, Value::from(own.map_or(after, |own| own.max(after))));
    params.insert("filter".into(), Value::Object(filter));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_come_from_a_list_or_a_single_key_wrapper() {
        assert_eq!(rows("m", json!([1, 2])).unwrap(), vec![json!(1), json!(2)]);
        assert_eq!(rows("m", json!({"items": [3]})).unwrap(), vec![json!(3)]);
        assert!(rows("m", json!({"items": [3], "other": 1})).is_err());
        assert!(rows("m", json!(true)).is_err());
    }

    #[test]
    fn the_cursor_orders_by_id_and_keeps_the_callers_filters() {
        let mut params =
            json!({"filter": {"=title": "x", ">id": "10"}, "order": {"title": "DESC"}})
                .as_object()
                .unwrap()
                .clone();
        cursor_params(&mut params, "id", None);
        assert_eq!(params["order"], json!({"id": "ASC"}));
        assert_eq!(params["filter"][">id"], json!("10"));
        cursor_params(&mut params, "id", Some(60));
        assert_eq!(params["filter"], json!({"=title": "x", ">id": 60}));
    }
}
