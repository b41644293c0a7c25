//! b24-client: a typed, limit-aware Rust SDK for the Bitrix24 REST API. It speaks the same wire
//! protocol to a real Bitrix24 portal and to `b24-server`, and shares its wire types with the
//! server through `b24-protocol`.
//!
//! ```no_run
//! use b24_client::Client;
//! use futures::TryStreamExt;
//! # async fn demo() -> Result<(), b24_client::Error> {
//! let client = Client::from_webhook("https://example.bitrix24.com/rest/1/0123456789abcdef/")?;
//!
//! // Typed methods.
//! let deal = client.crm().item().add(2, serde_json::json!({"title": "New deal"})).await?;
//! let todo = client.crm().activity().todo_add(2, deal.id, "2030-01-01T10:00:00", "Call").await?;
//! client.crm().activity().binding().add(todo, 3, 1).await?;
//!
//! // Any method.
//! let answer = client.call("crm.activity.binding.list", serde_json::json!({"activityId": todo})).await?;
//!
//! // Lists as streams, 50 rows per request behind the scenes.
//! let mut deals = client.crm().item().list_fast(2, Default::default());
//! while let Some(deal) = deals.try_next().await? {
//!     println!("{} {:?}", deal.id, deal.title);
//! }
//! # Ok(()) }
//! ```
//!
//! # Limits and retries
//!
//! The client keeps itself under the portal's limits instead of running into them: a leaky
//! bucket with the plan's rate and burst ([`Plan`], default [`Plan::Standard`]: 2/s, burst 50),
//! and per-method pacing from the `time.operating` / `time.operating_reset_at` every answer
//! reports ([`OperatingBudget`]). When the server refuses a call anyway, the call is repeated
//! after `Retry-After` or a back-off.
//!
//! **Retry policy** (details on [`RetryPolicy`]): limiter refusals (503 `QUERY_LIMIT_EXCEEDED`,
//! 429 `OPERATION_TIME_LIMIT`) and connections that never opened are always repeated, because
//! the server did not run the call. Reads are also repeated after a lost answer or a 5xx.
//! **A write is never repeated blindly after an ambiguous failure** (sent, but no definite
//! answer): it may have been carried out, and the error says so through
//! [`Error::is_ambiguous`]. Errors with a Bitrix code and a 4xx status are never repeated.
//!
//! # Layout
//! - [`Client`] (`client`): credentials, `call`, typed [`Method`]s, pacing, retries, OAuth refresh.
//! - [`crm`]: the `client.crm().activity().binding()…` facade; [`methods`]: the typed methods.
//! - [`Batch`] (`batch`): many calls per request, split past 50, `$result` references.
//! - [`Client::list`] (`list`): list methods as `futures::Stream`s, offset or `>ID` cursor.
//! - [`Plan`], [`OperatingBudget`], [`RetryPolicy`] (`limits`): the request-rate bucket, the
//!   operating-time pacing, and the retry policy — **no blind retry of a write after an
//!   ambiguous failure** (see [`RetryPolicy`]).
//! - [`OAuthConfig`] (`oauth`): access and refresh tokens, refresh on `expired_token`.
//! - [`blocking`]: the same client for code without an async runtime.
//! - [`Error`]: code, description and HTTP status of every failure.

#![warn(missing_docs)]

mod batch;
pub mod blocking;
mod client;
pub mod crm;
mod error;
mod limits;
mod list;
pub mod methods;
mod oauth;

pub use b24_protocol::TimeBlock;
pub use batch::{Batch, BatchResults, Handle, MAX_COMMANDS};
pub use client::{Client, ClientBuilder, Method, Response};
pub use error::{Error, ErrorKind};
pub use limits::{OperatingBudget, Plan, RetryPolicy};
pub use list::Paging;
pub use oauth::{
    DEFAULT_TOKEN_URL, OAuthConfig, OAuthGrant, OAuthTokens, RefreshCallback, exchange_code,
};
