//! Small global methods (spec §8). `server.time` is also the cheapest authenticated call, the
//! benchmark's floor.

use super::{Call, MethodSpec, Output};
use crate::clock::iso;
use crate::error::ApiError;
use serde_json::Value;

/// `server.time`: the server's current time, PHP `date('c')`.
pub const SERVER_TIME: MethodSpec = MethodSpec {
    name: "server.time",
    scope: None,
    handler: server_time,
    doc: "The server's current time as ISO-8601.",
};

fn server_time(call: &Call<'_>) -> Result<Output, ApiError> {
    Ok(Output::result(Value::String(iso(call.state.clock.now()))))
}
