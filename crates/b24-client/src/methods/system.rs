//! Global methods that need no scope (spec §8).

use super::de;
use crate::client::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `server.time`: the server's clock as ISO-8601 (`2024-08-05T09:02:13+00:00`).
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let now: String = client.execute(&b24_client::methods::system::ServerTime).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ServerTime;

impl Method for ServerTime {
    type Output = String;
    const NAME: &'static str = "server.time";
}

/// The calling user, as `profile` describes them.
///
/// ```
/// let p: b24_client::methods::system::Profile =
///     serde_json::from_value(serde_json::json!({"ID": "1", "ADMIN": true, "NAME": "Ann"})).unwrap();
/// assert_eq!((p.id, p.admin), (1, true));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct Profile {
    /// The user's id.
    #[serde(deserialize_with = "de::int")]
    pub id: i64,
    /// Whether the user is a portal administrator.
    #[serde(default)]
    pub admin: bool,
    /// First name.
    #[serde(default, deserialize_with = "de::opt_text")]
    pub name: Option<String>,
    /// Last name.
    #[serde(default, deserialize_with = "de::opt_text")]
    pub last_name: Option<String>,
    /// Every other key (`TIME_ZONE`, `PERSONAL_PHOTO`, …).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `profile`: who the credentials belong to.
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let me = client.execute(&b24_client::methods::system::GetProfile).await?;
/// println!("calling as user {}", me.id);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GetProfile;

impl Method for GetProfile {
    type Output = Profile;
    const NAME: &'static str = "profile";
}
