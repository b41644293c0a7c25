//! Wire types of the Bitrix24 REST API, shared by `b24-server` and `b24-client` so that the two
//! cannot drift apart. No HTTP framework lives here.
//!
//! # Layout
//! - [`params`]: PHP-style parameter trees (`a[b][]=x`), decoding and encoding.
//! - [`request`]: merging query string and body into one parameter map.
//! - [`values`]: PHP coercions (`is_numeric` integers, truthiness) and list paging.
//! - [`error`]: the one error-code table and the error envelope.
//! - [`envelope`]: the success envelope and its `time` block.
//! - [`batch`]: batch command strings, result sections and `$result[...]` references.

pub mod batch;
pub mod envelope;
pub mod error;
pub mod params;
pub mod request;
pub mod values;

pub use envelope::{SuccessEnvelope, TimeBlock};
pub use error::{ErrorCode, ErrorEnvelope, RestError};
pub use values::{Page, PAGE_SIZE};
