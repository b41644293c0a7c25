//! `batch` (spec §6): many calls in one request, with typed results and per-command errors.
//!
//! - Commands are added with [`Batch::push`] (a typed [`Method`]) or [`Batch::push_raw`]; each
//!   returns a [`Handle`] that later reads that command's result from [`BatchResults`].
//! - Past 50 commands the batch is split into several requests, in order. A `$result[...]`
//!   reference to a command of an earlier request is filled in by the client before sending;
//!   references within one request are left to the server.
//! - With [`Batch::halt`], the first failing command stops the rest (also across requests).
//! - A batch counts as one request against the rate limit; each command's operating time is
//!   recorded under its own method name.
//! - Retries follow [`RetryPolicy`](crate::RetryPolicy): a batch of reads is a read; a batch
//!   with any write is a write and is not repeated after an ambiguous failure.

use crate::client::{Client, Method, Response, method_params, response_from_parts};
use crate::error::{Error, ErrorKind, error_from_object};
use crate::limits::is_read_only;
use b24_protocol::batch::{BatchResults as Outputs, substitute_known};
use b24_protocol::params::encode_php_query;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::marker::PhantomData;

/// The most commands one `batch` request may carry; longer batches are split.
///
/// ```
/// assert_eq!(b24_client::MAX_COMMANDS, 50);
/// ```
pub const MAX_COMMANDS: usize = b24_protocol::batch::MAX_COMMANDS;

/// A batch being put together; send it with [`Batch::send`].
///
/// ```no_run
/// use b24_client::methods::{binding, item};
/// use serde_json::json;
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let mut batch = client.batch();
/// let deal = batch.push(&item::Add { entity_type_id: 2, fields: json!({"title": "New"}) });
/// // Bind activity 7 to the deal created by the first command, in the same request.
/// let bound = batch.push_raw::<bool>(
///     "crm.activity.binding.add",
///     json!({"activityId": 7, "entityTypeId": 2, "entityId": deal.reference(&["item", "id"])}),
/// );
/// let results = batch.halt(true).send().await?;
/// println!("deal {} bound: {}", results.get(&deal)?.id, results.get(&bound)?);
/// # Ok(()) }
/// ```
pub struct Batch {
    client: Client,
    commands: Vec<Command>,
    halt: bool,
}

struct Command {
    key: String,
    method: String,
    params: Result<Map<String, Value>, String>,
}

/// Reads one command's result out of [`BatchResults`]; also builds `$result[...]` references.
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let mut batch = client.batch();
/// let time = batch.push(&b24_client::methods::system::ServerTime);
/// let results = batch.send().await?;
/// let now: String = results.get(&time)?;
/// # Ok(()) }
/// ```
pub struct Handle<T> {
    key: String,
    decode: fn(Value) -> Result<T, serde_json::Error>,
    _result: PhantomData<fn() -> T>,
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            decode: self.decode,
            _result: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Handle").field(&self.key).finish()
    }
}

impl<T> Handle<T> {
    /// The command's key in the batch (`c0`, `c1`, …).
    ///
    /// ```no_run
    /// # fn demo(client: b24_client::Client) {
    /// let mut batch = client.batch();
    /// let h = batch.push(&b24_client::methods::system::ServerTime);
    /// assert_eq!(h.key(), "c0");
    /// # }
    /// ```
    pub fn key(&self) -> &str {
        &self.key
    }

    /// A `$result[key][a][b]` reference to a value inside this command's result, for the
    /// parameters of a later command: `reference(&["item", "id"])` → `$result[c0][item][id]`.
    ///
    /// ```no_run
    /// # fn demo(client: b24_client::Client) {
    /// let mut batch = client.batch();
    /// let h = batch.push_raw::<serde_json::Value>("crm.item.add", serde_json::json!({}));
    /// assert_eq!(h.reference(&["item", "id"]), "$result[c0][item][id]");
    /// # }
    /// ```
    pub fn reference(&self, path: &[&str]) -> String {
        let mut out = format!("$result[{}]", self.key);
        for segment in path {
            out.push('[');
            out.push_str(segment);
            out.push(']');
        }
        out
    }
}

impl Client {
    /// A new, empty batch.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let mut batch = client.batch();
    /// let a = batch.push(&b24_client::methods::binding::List { activity_id: 7 });
    /// let results = batch.send().await?;
    /// # Ok(()) }
    /// ```
    pub fn batch(&self) -> Batch {
        Batch {
            client: self.clone(),
            commands: Vec::new(),
            halt: false,
        }
    }
}

impl Batch {
    /// Stop at the first failing command (`halt=1`); the commands after it are not run and
    /// read as [`ErrorKind::NotExecuted`].
    ///
    /// ```no_run
    /// # fn demo(client: b24_client::Client) {
    /// let batch = client.batch().halt(true);
    /// # let _ = batch;
    /// # }
    /// ```
    pub fn halt(mut self, halt: bool) -> Self {
        self.halt = halt;
        self
    }

    /// Adds a typed command.
    ///
    /// ```no_run
    /// # fn demo(client: b24_client::Client) {
    /// let mut batch = client.batch();
    /// let bindings = batch.push(&b24_client::methods::binding::List { activity_id: 7 });
    /// # }
    /// ```
    pub fn push<M: Method>(&mut self, method: &M) -> Handle<M::Output> {
        let params = method_params(method).map(|v| match v {
            Value::Object(map) => map,
            _ => Map::new(),
        });
        self.add(M::NAME, params.map_err(|e| e.to_string()), M::output)
    }

    /// Adds any command; its result is read as `T` (use [`serde_json::Value`] to keep it
    /// untyped). Parameter values may hold `$result[...]` references from
    /// [`Handle::reference`].
    ///
    /// ```no_run
    /// use serde_json::{json, Value};
    /// # fn demo(client: b24_client::Client) {
    /// let mut batch = client.batch();
    /// let deals = batch.push_raw::<Value>("crm.item.list", json!({"entityTypeId": 2}));
    /// # }
    /// ```
    pub fn push_raw<T: DeserializeOwned>(&mut self, method: &str, params: Value) -> Handle<T> {
        let params = match params {
            Value::Object(map) => Ok(map),
            Value::Null => Ok(Map::new()),
            _ => Err("params must be a JSON object".to_string()),
        };
        self.add(method, params, serde_json::from_value)
    }

    fn add<T>(
        &mut self,
        method: &str,
        params: Result<Map<String, Value>, String>,
        decode: fn(Value) -> Result<T, serde_json::Error>,
    ) -> Handle<T> {
        let key = format!("c{}", self.commands.len());
        self.commands.push(Command {
            key: key.clone(),
            method: method.to_string(),
            params,
        });
        Handle {
            key,
            decode,
            _result: PhantomData,
        }
    }

    /// How many commands were added.
    ///
    /// ```no_run
    /// # fn demo(client: b24_client::Client) {
    /// let batch = client.batch();
    /// assert_eq!(batch.len(), 0);
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether no command was added.
    ///
    /// ```no_run
    /// # fn demo(client: b24_client::Client) {
    /// assert!(client.batch().is_empty());
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Sends the commands, 50 per request, in order. Fails as a whole only when the first
    /// request fails; a failure of a later request leaves the earlier results readable and
    /// marks the rest (see [`BatchResults::get`]).
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let mut batch = client.batch();
    /// let handles: Vec<_> = (1..=120)
    ///     .map(|id| batch.push(&b24_client::methods::binding::List { activity_id: id }))
    ///     .collect();
    /// let results = batch.send().await?; // three requests
    /// for h in &handles {
    ///     match results.get(h) {
    ///         Ok(bindings) => println!("{}: {} bindings", h.key(), bindings.len()),
    ///         Err(e) => println!("{}: {e}", h.key()),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn send(self) -> Result<BatchResults, Error> {
        send_batch(self).await
    }
}

async fn send_batch(batch: Batch) -> Result<BatchResults, Error> {
    for command in &batch.commands {
        if let Err(reason) = &command.params {
            return Err(Error::new(ErrorKind::InvalidParams {
                reason: format!("{} ({}): {reason}", command.key, command.method),
            }));
        }
    }
    let mut results = BatchResults {
        outcomes: HashMap::new(),
        failure: None,
    };
    // What earlier requests answered, in the protocol's shape, for their `$result` references.
    let mut outputs = Outputs::default();
    let mut halted = false;
    for (index, chunk) in batch.commands.chunks(MAX_COMMANDS).enumerate() {
        if halted || results.failure.is_some() {
            for command in chunk {
                results
                    .outcomes
                    .insert(command.key.clone(), Outcome::NotExecuted);
            }
            continue;
        }
        let mut cmd = Map::new();
        for command in chunk {
            let params = command.params.clone().unwrap_or_default();
            let params = match substitute_known(Value::Object(params), &outputs) {
                Value::Object(params) => params,
                _ => Map::new(),
            };
            let query = encode_php_query(&params);
            let line = if query.is_empty() {
                command.method.clone()
            } else {
                format!("{}?{}", command.method, query)
            };
            cmd.insert(command.key.clone(), Value::String(line));
        }
        // `batch` itself is exempt from the operating-time limit but its commands are not:
        // hold the request back as long as its most loaded method needs.
        let inner = &batch.client.inner;
        let pacing = chunk
            .iter()
            .map(|c| inner.operating.delay(&c.method))
            .max()
            .unwrap_or_default()
            .min(inner.retry.max_wait);
        if !pacing.is_zero() {
            tokio::time::sleep(pacing).await;
        }
        let read_only = chunk.iter().all(|c| is_read_only(&c.method));
        let params = json!({"halt": u8::from(batch.halt), "cmd": cmd});
        let answer = match batch.client.send("batch", params, read_only).await {
            Ok(answer) => answer,
            Err(error) if index == 0 => return Err(error),
            Err(error) => {
                let outcome = if error.is_ambiguous() {
                    Outcome::Unknown
                } else {
                    Outcome::NotExecuted
                };
                for command in chunk {
                    results
                        .outcomes
                        .insert(command.key.clone(), outcome.clone());
                }
                results.failure = Some(error);
                continue;
            }
        };
        let sections = Sections::read(&answer.result);
        for command in chunk {
            let outcome = sections.outcome(&command.key);
            if let Outcome::Failed { .. } = outcome {
                halted |= batch.halt;
            }
            if let Outcome::Done(response) = &outcome {
                if let Some(time) = &response.time {
                    if time.operating_reset_at > 0 {
                        batch.client.inner.operating.record(
                            &command.method,
                            time.operating,
                            time.operating_reset_at,
                        );
                    }
                }
            }
            record_output(&mut outputs, &command.key, &outcome);
            results.outcomes.insert(command.key.clone(), outcome);
        }
    }
    Ok(results)
}

/// Adds one command's outcome to the outputs later references resolve against.
fn record_output(outputs: &mut Outputs, key: &str, outcome: &Outcome) {
    match outcome {
        Outcome::Done(response) => {
            outputs.result.insert(key.into(), response.result.clone());
            if let Some(next) = response.next {
                outputs.next.insert(key.into(), next.into());
            }
            if let Some(total) = response.total {
                outputs.total.insert(key.into(), total.into());
            }
            if let Some(time) = response
                .time
                .as_ref()
                .and_then(|t| serde_json::to_value(t).ok())
            {
                outputs.time.insert(key.into(), time);
            }
        }
        Outcome::Failed { code, description } => {
            outputs.error.insert(
                key.into(),
                json!({"error": code, "error_description": description}),
            );
        }
        Outcome::Unknown | Outcome::NotExecuted => {}
    }
}

/// The five maps of a batch answer. PHP turns a map keyed `0..n-1` into a JSON list, so each
/// may arrive as a list; it is read back into keys.
struct Sections {
    result: Map<String, Value>,
    error: Map<String, Value>,
    total: Map<String, Value>,
    next: Map<String, Value>,
    time: Map<String, Value>,
}

impl Sections {
    fn read(result: &Value) -> Self {
        let section = |name: &str| match result.get(name) {
            Some(Value::Object(map)) => map.clone(),
            Some(Value::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v.clone()))
                .collect(),
            _ => Map::new(),
        };
        Self {
            result: section("result"),
            error: section("result_error"),
            total: section("result_total"),
            next: section("result_next"),
            time: section("result_time"),
        }
    }

    fn outcome(&self, key: &str) -> Outcome {
        if let Some(error) = self.error.get(key) {
            let code = match error.get("error") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            return Outcome::Failed {
                code,
                description: error
                    .get("error_description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            };
        }
        match self.result.get(key) {
            Some(result) => Outcome::Done(response_from_parts(
                result.clone(),
                self.next.get(key),
                self.total.get(key),
                self.time.get(key),
            )),
            None => Outcome::NotExecuted,
        }
    }
}

#[derive(Debug, Clone)]
enum Outcome {
    Done(Response),
    Failed {
        code: String,
        description: String,
    },
    /// Its request failed ambiguously: the command may or may not have run.
    Unknown,
    NotExecuted,
}

/// The results of a sent batch, read with the [`Handle`]s.
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let mut batch = client.batch();
/// let list = batch.push_raw::<serde_json::Value>("crm.item.list", serde_json::json!({"entityTypeId": 2}));
/// let results = batch.send().await?;
/// let page = results.response(&list)?;
/// println!("{:?} deals in all", page.total);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct BatchResults {
    outcomes: HashMap<String, Outcome>,
    failure: Option<Error>,
}

impl BatchResults {
    /// The command's typed result, or its own error: an [`ErrorKind::Api`] with the command's
    /// code and description (no HTTP status), [`ErrorKind::NotExecuted`] when `halt` or a
    /// failed earlier request kept it from running, or [`ErrorKind::Indeterminate`] when its
    /// request failed after being sent.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let mut batch = client.batch();
    /// let del = batch.push(&b24_client::methods::binding::Delete {
    ///     activity_id: 7, entity_type_id: 2, entity_id: 15 });
    /// let results = batch.send().await?;
    /// if let Err(e) = results.get(&del) {
    ///     println!("{:?}: {:?}", e.code(), e.description());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn get<T>(&self, handle: &Handle<T>) -> Result<T, Error> {
        let response = self.response(handle)?;
        (handle.decode)(response.result).map_err(|e| Error::decode(&handle.key, e))
    }

    /// The command's whole answer: `result`, `next`, `total` and its own `time`.
    ///
    /// ```no_run
    /// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
    /// let mut batch = client.batch();
    /// let h = batch.push(&b24_client::methods::system::ServerTime);
    /// let results = batch.send().await?;
    /// println!("{:?}", results.response(&h)?.time);
    /// # Ok(()) }
    /// ```
    pub fn response<T>(&self, handle: &Handle<T>) -> Result<Response, Error> {
        match self.outcomes.get(&handle.key) {
            Some(Outcome::Done(response)) => Ok(response.clone()),
            Some(Outcome::Failed { code, description }) => {
                let envelope = json!({"error": code, "error_description": description});
                Err(error_from_object(&envelope, None)
                    .unwrap_or_else(|| Error::new(ErrorKind::NotExecuted)))
            }
            Some(Outcome::Unknown) => Err(Error::new(ErrorKind::Indeterminate)),
            Some(Outcome::NotExecuted) | None => Err(Error::new(ErrorKind::NotExecuted)),
        }
    }

    /// The error that stopped a split batch part-way (a request after the first failed), if
    /// any.
    ///
    /// ```no_run
    /// # fn demo(results: b24_client::BatchResults) {
    /// if let Some(e) = results.failure() {
    ///     eprintln!("batch stopped early: {e}");
    /// }
    /// # }
    /// ```
    pub fn failure(&self) -> Option<&Error> {
        self.failure.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_sent_as_php_lists_are_read_by_index() {
        let sections = Sections::read(&json!({
            "result": [true],
            "result_error": {"1": {"error": "NOT_FOUND", "error_description": "Entity not found"}},
            "result_total": [], "result_next": [], "result_time": []
        }));
        assert!(matches!(sections.outcome("0"), Outcome::Done(_)));
        assert!(matches!(
            sections.outcome("1"),
            Outcome::Failed { ref code, .. } if code == "NOT_FOUND"
        ));
        assert!(matches!(sections.outcome("2"), Outcome::NotExecuted));
    }
}
