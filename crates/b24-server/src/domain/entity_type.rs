//! CRM object type ids (spec §3): defined once in `b24-protocol`, shared with the client.

pub use b24_protocol::entity_type::EntityTypeId;
