//! b24-client against a real b24-server spawned in-process on 127.0.0.1:0, and, where the
//! server cannot be made to misbehave on purpose (lost answers, 5xx, token endpoints), against
//! a small stub HTTP server that speaks the spec's wire format.

mod batch;
mod blocking;
mod calls;
mod crm_breadth;
mod helpers;
mod limits;
mod lists;
mod oauth;
mod stub;
mod typed;
