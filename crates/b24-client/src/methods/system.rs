//! Global methods that need no scope (spec §8).
//!
//! ```no_run
//! # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
//! use b24_client::methods::system::{GetProfile, ServerTime};
//! let now = client.execute(&ServerTime).await?;
//! let me = client.execute(&GetProfile).await?;
//! # Ok(()) }
//! ```

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

/// `scope`: the scopes granted to these credentials (`full: true`: every scope of the portal).
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let granted: Vec<String> = client.execute(&b24_client::methods::system::Scope { full: false }).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Scope {
    /// All scopes of the portal rather than the granted ones.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub full: bool,
}

impl Method for Scope {
    type Output = Vec<String>;
    const NAME: &'static str = "scope";
}

/// `methods`: the method names available to these credentials, or those of one scope
/// (`scope: Some("")` for the global ones).
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let crm = client
///     .execute(&b24_client::methods::system::Methods { scope: Some("crm".into()), full: false })
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, Serialize)]
pub struct Methods {
    /// Only this scope's methods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Every method, granted or not.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub full: bool,
}

impl Method for Methods {
    type Output = Vec<String>;
    const NAME: &'static str = "methods";
}

/// What `method.get` says about a method name.
///
/// ```
/// let a: b24_client::methods::system::MethodAvailability =
///     serde_json::from_value(serde_json::json!({"isExisting": true, "isAvailable": false})).unwrap();
/// assert!(a.is_existing && !a.is_available);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodAvailability {
    /// The portal knows the method.
    pub is_existing: bool,
    /// These credentials may call it.
    pub is_available: bool,
}

/// `method.get`: whether a method exists and may be called with these credentials.
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let m = client
///     .execute(&b24_client::methods::system::MethodGet { name: "crm.item.add".into() })
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct MethodGet {
    /// The method name.
    pub name: String,
}

impl Method for MethodGet {
    type Output = MethodAvailability;
    const NAME: &'static str = "method.get";
}

/// The calling user, as `user.current` describes them (scope `user`).
///
/// ```
/// let u: b24_client::methods::system::User = serde_json::from_value(serde_json::json!({
///     "ID": "3", "ACTIVE": true, "NAME": "Ann", "UF_DEPARTMENT": [1]
/// })).unwrap();
/// assert_eq!((u.id, u.active), (3, Some(true)));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub struct User {
    /// The user's id.
    #[serde(deserialize_with = "de::int")]
    pub id: i64,
    /// Whether the account is active.
    #[serde(default, deserialize_with = "de::opt_yes_no")]
    pub active: Option<bool>,
    /// First name.
    #[serde(default, deserialize_with = "de::opt_text")]
    pub name: Option<String>,
    /// Last name.
    #[serde(default, deserialize_with = "de::opt_text")]
    pub last_name: Option<String>,
    /// E-mail address.
    #[serde(default, deserialize_with = "de::opt_text")]
    pub email: Option<String>,
    /// Every other key (`UF_DEPARTMENT`, `TIME_ZONE`, …).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `user.current`: the user the credentials belong to, in full.
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let me = client.execute(&b24_client::methods::system::UserCurrent).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Serialize)]
pub struct UserCurrent;

impl Method for UserCurrent {
    type Output = User;
    const NAME: &'static str = "user.current";
}

/// `app.info`: for an application its id, code, version and licence; for a webhook its scopes
/// (`SCOPE`) and the portal licence (`LICENSE`). Kept as JSON since the two shapes differ.
///
/// ```no_run
/// # async fn demo(client: b24_client::Client) -> Result<(), b24_client::Error> {
/// let info = client.execute(&b24_client::methods::system::AppInfo).await?;
/// println!("licence {}", info["LICENSE"]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AppInfo;

impl Method for AppInfo {
    type Output = Map<String, Value>;
    const NAME: &'static str = "app.info";
}
