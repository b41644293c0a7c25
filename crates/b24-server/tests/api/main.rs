//! The integration suite: one binary, real HTTP against a server on 127.0.0.1:0.
//!
//! - `helpers`: `spawn_app()` and a `TestApp` with typed helpers.
//! - `protocol`: URL forms, encodings, envelopes, auth and scope errors.
//! - `binding`: the four binding methods, every error code pinned, owner recalculation, permissions.
//! - `encodings`: one scenario driven with JSON POST, form POST and GET query strings.
//! - `concurrency`: the last-binding invariant under concurrent deletes.
//! - `items`: crm.item.* and the activity methods, list paging.
//! - `cli`: the command-line contract, against a running server.
//! - `batch`, `limits`, `system`: batch, the request-rate and operating-time limiters, system methods.
//! - `oauth`, `tls`, `system_errors`: applications and tokens, HTTPS and the local CA, operator-caused errors.

mod bad_input;
mod batch;
mod binding;
mod cli;
mod concurrency;
mod encodings;
mod helpers;
mod items;
mod limits;
mod oauth;
mod protocol;
mod system;
mod system_errors;
mod tls;
