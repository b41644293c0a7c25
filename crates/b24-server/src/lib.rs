//! b24-server: a wire-compatible, self-hosted implementation of the Bitrix24 REST API.
//!
//! # Layout
//! - [`http`]: axum routes, request decoding, envelopes. The only module that knows HTTP.
//! - [`methods`]: the one method table, [`methods::authenticate_and_dispatch`], one file per
//!   method family.
//! - [`domain`]: entity types, permissions, the binding rules — written once against [`store::Tx`].
//! - [`store`]: the storage trait and its SQLite backend (one transaction per call).
//! - [`limits`]: the request-rate and operating-time limiters.
//! - [`auth`]: webhooks and OAuth tokens to a [`auth::Caller`]; [`oauth`]: applications,
//!   codes, `/oauth/token/`; [`tls`]: the local certificate authority.
//! - [`events`]: event names, handler URL policy, payloads, and the background sender.
//! - [`admin`]: operator actions shared by the CLI and tests. [`cli`]: the command line.
//! - [`seed`]: bulk data for benchmarks and demos (`b24-server seed`).
//! - [`config`]: every setting ([`ServeConfig`] and its parts); [`state`] holds what a running
//!   server shares.
//! - [`portals`]: the portals a server holds and each one's runtime state.
//! - [`app`]: build and run the server; [`clock`], [`secret`], [`error`].

pub mod admin;
pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod domain;
pub mod error;
pub mod events;
pub mod fixture;
pub mod http;
pub mod limits;
pub mod methods;
pub mod oauth;
pub mod portals;
pub mod secret;
pub mod seed;
pub mod state;
pub mod store;
#[doc(hidden)]
pub mod test_env;
pub mod tls;

pub use app::Application;
pub use config::ServeConfig;
pub use error::ApiError;
