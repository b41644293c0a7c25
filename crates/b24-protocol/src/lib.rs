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
//! - Wire facts: [`entity_type`] (CRM object type ids), [`plan`] (request-rate presets),
//!   [`binding`] (an activity's link to a CRM item), [`scope`] (permission scopes and the
//!   parameters that carry credentials).

pub mod batch;
pub mod binding;
pub mod entity_type;
pub mod envelope;
pub mod error;
pub mod params;
pub mod plan;
pub mod request;
pub mod scope;
pub mod values;

pub use binding::Binding;
pub use entity_type::EntityTypeId;
pub use envelope::{SuccessEnvelope, TimeBlock};
pub use error::{ErrorCode, ErrorEnvelope, RestError};
pub use plan::Plan;
pub use scope::{KNOWN_SCOPES, PORTAL_SCOPES, RESERVED_PARAMS};
pub use values::{Page, PAGE_SIZE};
