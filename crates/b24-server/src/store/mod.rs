//! Storage: one transaction per call, behind a [`Tx`] trait that each backend implements.
//!
//! Domain code is written once against `&mut dyn Tx`; [`Store::read`] and [`Store::write`] open
//! the transaction, run the closure and commit only if it returned `Ok`, so a failed call changes
//! nothing. Every row is keyed by `portal_id`; a `Tx` is opened for one portal. On SQLite the
//! transactions of one `batch` are savepoints of one transaction ([`Store::batch_scope`]); each
//! still succeeds or fails as a whole, as it would on its own.

pub mod activity_types;
pub mod apps;
pub mod callers;
pub mod captures;
pub mod catalogue;
pub mod categories;
pub mod clock;
pub mod communications;
pub mod contact_companies;
pub mod control;
pub mod disk;
pub mod driver;
pub mod faults;
pub mod handlers;
pub mod item_stages;
pub mod journal;
mod lists;
pub mod portals;
pub mod postgres;
pub mod query;
pub mod records;
pub mod reset;
mod schema;
mod sql;
pub mod sqlite;
pub mod stage_history;
pub mod statuses;
pub mod tasks;
pub mod timeline;
pub mod upgrades;
pub mod user_field_values;
pub mod users;

pub use query::{Column, CompareOp, Filter, ListQuery, SqlValue, UserFieldColumn};
pub use sql::NUL_IN_TEXT;

use crate::clock::Clock;
use crate::domain::{Action, Level};
use crate::error::ApiError;
use anyhow::Context as _;
use b24_protocol::Binding;
use serde_json::{Map, Value};
use std::path::Path;
use std::sync::Arc;

/// The tenant id: many portals live on one server, each a Bitrix24 account of its own.
pub type PortalId = i64;

/// The first portal, named `default`, which every installation has.
pub const DEFAULT_PORTAL: PortalId = 1;

/// A portal (one Bitrix24 account).
#[derive(Debug, Clone)]
pub struct Portal {
    /// Its id.
    pub id: PortalId,
    /// The domain shown in answers (`domain`, `client_endpoint`).
    pub domain: String,
    /// The portal's public member id.
    pub member_id: String,
    /// The base URL the server was last started with (`http://127.0.0.1:8080`), used by the CLI
    /// to print webhook URLs.
    pub public_url: String,
    /// REST switched on for the portal's plan (off: `ACCESS_DENIED` for every call).
    pub rest_enabled: bool,
    /// The portal was closed (`PORTAL_DELETED`).
    pub closed: bool,
    /// The HTTPS base URL the server was last started with; empty without TLS.
    pub public_https_url: String,
}

/// An OAuth application: secrets only as digests.
#[derive(Clone)]
pub struct AppRecord {
    /// Internal id (`app.info` `ID`).
    pub id: i64,
    /// The public client id (`local.…`).
    pub client_id: String,
    /// SHA-256 of the client secret.
    pub client_secret_digest: [u8; 32],
    /// SHA-256 of the application token sent with events.
    pub application_token_digest: [u8; 32],
    /// Display name.
    pub name: String,
    /// Scopes the application may use.
    pub scopes: Vec<String>,
    /// Where an authorisation flow would redirect.
    pub redirect_uri: String,
    /// Blocked by an operator: calls answer `OVERLOAD_LIMIT`.
    pub blocked: bool,
    /// The page the portal opens in its frame (empty: no browser side).
    pub handler_url: String,
    /// The page an administrator sees until the application is installed (empty: none).
    pub install_url: String,
    /// The application's version (`app.info` `VERSION`, `FIRST_RUN` per version).
    pub version: i64,
    /// No browser side: installed when created, the install URL gets the install POST.
    pub api_only: bool,
}

/// An issued OAuth token pair: secrets only as digests.
#[derive(Clone)]
pub struct TokenRecord {
    /// SHA-256 of the access token.
    pub access_digest: [u8; 32],
    /// SHA-256 of the refresh token.
    pub refresh_digest: [u8; 32],
    /// The application.
    pub app_id: i64,
    /// The user the tokens act for.
    pub user_id: i64,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// Unix time the access token stops working.
    pub access_expires: f64,
    /// Unix time the refresh token stops working.
    pub refresh_expires: f64,
    /// A refresh token works once.
    pub refresh_used: bool,
}

/// Digests of secrets stay out of `Debug` output (and so out of logs and panic messages): a
/// digest is what an attacker needs to recognise a secret, and printing it helps no one.
impl std::fmt::Debug for AppRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRecord")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("client_secret_digest", &"<redacted>")
            .field("application_token_digest", &"<redacted>")
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("redirect_uri", &self.redirect_uri)
            .field("blocked", &self.blocked)
            .field("handler_url", &self.handler_url)
            .field("install_url", &self.install_url)
            .field("version", &self.version)
            .field("api_only", &self.api_only)
            .finish()
    }
}

/// See [`AppRecord`]'s `Debug`: token digests are not printed.
impl std::fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRecord")
            .field("access_digest", &"<redacted>")
            .field("refresh_digest", &"<redacted>")
            .field("app_id", &self.app_id)
            .field("user_id", &self.user_id)
            .field("scopes", &self.scopes)
            .field("access_expires", &self.access_expires)
            .field("refresh_expires", &self.refresh_expires)
            .field("refresh_used", &self.refresh_used)
            .finish()
    }
}

/// A user of the portal.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Its id within the portal.
    pub id: i64,
    /// First name.
    pub name: String,
    /// Last name.
    pub last_name: String,
    /// Administrators hold every right.
    pub admin: bool,
    /// Inactive users cannot authenticate.
    pub active: bool,
    /// When the user last made a call (ISO-8601, the server's form), as stored.
    pub last_activity: String,
}

/// An incoming webhook as stored: the code only as its SHA-256 digest.
#[derive(Clone)]
pub struct WebhookRecord {
    /// Its id.
    pub id: i64,
    /// The user whose rights the webhook carries.
    pub user_id: i64,
    /// SHA-256 of the secret code.
    pub code_digest: [u8; 32],
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Revoked webhooks stay listed but do not authenticate.
    pub active: bool,
    /// Blocked by an operator: calls answer `OVERLOAD_LIMIT`.
    pub blocked: bool,
    /// Creation time, ISO-8601.
    pub created: String,
}

/// See [`AppRecord`]'s `Debug`: the code's digest is not printed.
impl std::fmt::Debug for WebhookRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRecord")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("code_digest", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("active", &self.active)
            .field("blocked", &self.blocked)
            .field("created", &self.created)
            .finish()
    }
}

/// A CRM item (lead, deal, contact, company, …). Core columns are typed; the rest of the
/// caller-supplied fields live in `extra` under their camelCase names.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRecord {
    /// The type.
    pub entity_type_id: i64,
    /// Id within the type.
    pub id: i64,
    /// `title`.
    pub title: String,
    /// `assignedById`: "own" rights are about this user.
    pub assigned_by_id: i64,
    /// `createdBy`.
    pub created_by: i64,
    /// `updatedBy`.
    pub updated_by: i64,
    /// `createdTime`, ISO-8601.
    pub created_time: String,
    /// `updatedTime`, ISO-8601.
    pub updated_time: String,
    /// Other fields, camelCase.
    pub extra: Map<String, Value>,
}

/// An activity (call, meeting, to-do, …).
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRecord {
    /// Its id.
    pub id: i64,
    /// `TYPE_ID` (1 meeting, 2 call, 3 task, 4 email, 6 provider).
    pub type_id: i64,
    /// `PROVIDER_ID`, e.g. `CRM_TODO`.
    pub provider_id: String,
    /// `PROVIDER_TYPE_ID`, e.g. `TODO`.
    pub provider_type_id: String,
    /// `SUBJECT`.
    pub subject: String,
    /// `DESCRIPTION`.
    pub description: String,
    /// `RESPONSIBLE_ID`.
    pub responsible_id: i64,
    /// `AUTHOR_ID`.
    pub author_id: i64,
    /// `EDITOR_ID`.
    pub editor_id: i64,
    /// `OWNER_TYPE_ID`, recomputed from the bindings.
    pub owner_type_id: i64,
    /// `OWNER_ID`, recomputed from the bindings.
    pub owner_id: i64,
    /// `DEADLINE`, ISO-8601 or empty.
    pub deadline: String,
    /// `START_TIME`.
    pub start_time: String,
    /// `END_TIME`.
    pub end_time: String,
    /// `COMPLETED`.
    pub completed: bool,
    /// `STATUS`.
    pub status: i64,
    /// `PRIORITY`.
    pub priority: i64,
    /// `DIRECTION`.
    pub direction: i64,
    /// `CREATED`.
    pub created: String,
    /// `LAST_UPDATED`.
    pub last_updated: String,
    /// Everything else (settings, ping offsets, colour, …).
    pub extra: Map<String, Value>,
}

/// One page of rows plus, when counted, the total.
#[derive(Debug, Clone)]
pub struct PageOf<T> {
    /// The rows.
    pub rows: Vec<T>,
    /// Matching rows in all, when the caller asked for a count.
    pub total: Option<u64>,
}

/// A smart-process type (`crm.type.*`): the entity type id its items use, and its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicTypeRecord {
    /// Its own id (what `crm.type.get` takes), not the entity type id.
    pub id: i64,
    /// The entity type id of its items (128..191).
    pub entity_type_id: i64,
    /// `title`.
    pub title: String,
    /// `createdBy`.
    pub created_by: i64,
    /// `updatedBy`.
    pub updated_by: i64,
    /// `createdTime`, ISO-8601.
    pub created_time: String,
    /// `updatedTime`, ISO-8601.
    pub updated_time: String,
    /// The `is…Enabled` flags and other settings, camelCase.
    pub settings: Map<String, Value>,
}

/// A bound event handler (spec §9.1): an application's online handler (a URL), its offline
/// queue (`handler` empty), or an outgoing webhook (`app_id` 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHandlerRecord {
    /// Its id (`event_handler_id` in payloads).
    pub id: i64,
    /// The application; 0 for an outgoing webhook.
    pub app_id: i64,
    /// The event, upper-case.
    pub event_name: String,
    /// The URL events are POSTed to; empty for an offline handler.
    pub handler: String,
    /// The user the handler's tokens are issued for; 0: the user whose action fired the event.
    pub user_id: i64,
    /// The offline queue's connector key (`auth_connector`); usually empty.
    pub connector_id: String,
}

/// One event waiting to be POSTed to one handler. Written in the transaction of the change.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    /// Its id.
    pub id: i64,
    /// The handler.
    pub handler_id: i64,
    /// The handler's application; 0 for an outgoing webhook.
    pub app_id: i64,
    /// The event name.
    pub event_name: String,
    /// The URL to POST to.
    pub handler: String,
    /// The user to mint tokens for; 0 for none.
    pub auth_user_id: i64,
    /// The `data` of the payload, JSON.
    pub data: Value,
    /// Unix time of the change (`ts`).
    pub ts: i64,
    /// Attempts made so far.
    pub attempts: i64,
    /// Unix time the next attempt is due (while claimed: when the claim lapses).
    pub next_attempt_at: f64,
}

/// One delivery attempt, as `b24-server events log` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Its id (ascending in time).
    pub id: i64,
    /// The outbox row delivered.
    pub outbox_id: i64,
    /// The handler.
    pub handler_id: i64,
    /// The event name.
    pub event_name: String,
    /// The URL.
    pub handler: String,
    /// 1 for the first attempt.
    pub attempt: i64,
    /// When, ISO-8601.
    pub at: String,
    /// The receiver's HTTP status; 0 when there was no answer.
    pub status: i64,
    /// `delivered`, `retry` or `gave_up`.
    pub outcome: String,
    /// Why it failed; empty on success.
    pub detail: String,
}

/// An entry of an application's offline-event queue (`event.offline.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineEventRecord {
    /// `ID`.
    pub id: i64,
    /// The application.
    pub app_id: i64,
    /// The queue's connector key.
    pub connector_id: String,
    /// `EVENT_NAME`.
    pub event_name: String,
    /// `MESSAGE_ID`: 32 hex characters naming the event and its object; repeated changes of one
    /// object update one pending entry.
    pub message_id: String,
    /// `EVENT_DATA`, JSON.
    pub data: String,
    /// The user whose action fired the event.
    pub user_id: i64,
    /// `TIMESTAMP_X`, ISO-8601: the latest change.
    pub timestamp_x: String,
    /// `PROCESS_ID`: empty until `event.offline.get` hands the entry out without clearing it.
    pub process_id: String,
    /// `ERROR`: marked as failed by the application.
    pub error: bool,
}

/// The operations domain code needs, inside one transaction for one portal.
pub trait Tx:
    control::ControlTx
    + faults::FaultTx
    + reset::ResetTx
    + clock::ClockTx
    + captures::CaptureTx
    + journal::JournalTx
    + upgrades::UpgradeTx
    + item_stages::ItemStageTx
    + statuses::StatusTx
    + categories::CategoryTx
    + stage_history::StageHistoryTx
    + timeline::TimelineTx
    + disk::DiskTx
    + communications::CommunicationTx
    + activity_types::ActivityTypeTx
    + apps::AppHostTx
    + users::UserTx
    + tasks::TaskTx
    + contact_companies::ContactCompanyTx
    + records::RecordTx
    + user_field_values::UserFieldValueTx
    + portals::PortalTx
    + catalogue::CatalogueTx
{
    /// The portal this transaction serves.
    fn portal(&self) -> PortalId;
    /// The current time as ISO-8601, fixed for the whole transaction.
    fn now_iso(&self) -> String;
    /// Takes the next id from a named sequence (ids are never reused).
    fn next_id(&mut self, sequence: &str) -> Result<i64, ApiError>;

    /// The portal row.
    fn portal_row(&mut self) -> Result<Option<Portal>, ApiError>;
    /// Creates the portal row if it is missing; returns whether it was created.
    fn ensure_portal(
        &mut self,
        domain: &str,
        member_id: &str,
        public_url: &str,
    ) -> Result<bool, ApiError>;
    /// Records the base URLs the server now answers on (`https` empty without TLS).
    fn set_public_url(&mut self, public_url: &str, https: &str) -> Result<(), ApiError>;
    /// The portal's request-rate plan name (`standard`, `enterprise`, `unlimited`).
    fn plan(&mut self) -> Result<Option<String>, ApiError>;
    /// Sets the plan name; `false` when the portal does not exist.
    fn set_plan(&mut self, plan: &str) -> Result<bool, ApiError>;

    /// A user by id.
    fn user(&mut self, id: i64) -> Result<Option<User>, ApiError>;
    /// Inserts a user, returning its id.
    fn insert_user(&mut self, name: &str, last_name: &str, admin: bool) -> Result<i64, ApiError>;
    /// Sets a user's last activity to `now` unless it is `stale_before` or later already (another
    /// call, maybe of another process, refreshed it first).
    fn note_user_activity(
        &mut self,
        id: i64,
        now: &str,
        stale_before: &str,
    ) -> Result<(), ApiError>;
    /// Explicit rights of a user.
    fn user_rights(&mut self, user_id: i64) -> Result<Vec<(i64, Action, Level)>, ApiError>;
    /// Sets one right.
    fn set_user_right(
        &mut self,
        user_id: i64,
        entity_type_id: i64,
        action: Action,
        level: Level,
    ) -> Result<(), ApiError>;

    /// Switches REST on or off for the portal.
    fn set_rest_enabled(&mut self, enabled: bool) -> Result<(), ApiError>;
    /// Closes or reopens the portal.
    fn set_closed(&mut self, closed: bool) -> Result<(), ApiError>;
    /// Blocks or unblocks a webhook; `false` when there is no such webhook.
    fn set_webhook_blocked(&mut self, id: i64, blocked: bool) -> Result<bool, ApiError>;

    /// Stores an application, returning its id.
    fn insert_app(&mut self, app: &AppRecord) -> Result<i64, ApiError>;
    /// An application by client id.
    fn app_by_client_id(&mut self, client_id: &str) -> Result<Option<AppRecord>, ApiError>;
    /// An application by id.
    fn app(&mut self, id: i64) -> Result<Option<AppRecord>, ApiError>;
    /// Up to `limit` applications with an id above `after`, by id (the web console's list).
    fn apps_after(&mut self, after: i64, limit: u64) -> Result<Vec<AppRecord>, ApiError>;
    /// Blocks or unblocks an application.
    fn set_app_blocked(&mut self, id: i64, blocked: bool) -> Result<(), ApiError>;
    /// Opens (or closes) an application to a user.
    fn set_app_user(&mut self, app_id: i64, user_id: i64, allowed: bool) -> Result<(), ApiError>;
    /// Whether the application is open to the user.
    fn app_user_allowed(&mut self, app_id: i64, user_id: i64) -> Result<bool, ApiError>;
    /// Stores a one-time authorisation code.
    fn insert_auth_code(
        &mut self,
        digest: &[u8; 32],
        app_id: i64,
        user_id: i64,
        expires_at: f64,
    ) -> Result<(), ApiError>;
    /// Removes and returns a code: `(app_id, user_id, expires_at)`.
    fn take_auth_code(&mut self, digest: &[u8; 32]) -> Result<Option<(i64, i64, f64)>, ApiError>;
    /// Stores a token pair.
    fn insert_token(&mut self, token: &TokenRecord) -> Result<(), ApiError>;
    /// A token pair by its access token's digest.
    fn token_by_access(&mut self, digest: &[u8; 32]) -> Result<Option<TokenRecord>, ApiError>;
    /// A token pair by its refresh token's digest.
    fn token_by_refresh(&mut self, digest: &[u8; 32]) -> Result<Option<TokenRecord>, ApiError>;
    /// Marks a refresh token used (refresh tokens work once).
    fn use_refresh_token(&mut self, digest: &[u8; 32]) -> Result<(), ApiError>;

    /// The webhooks of a user, active or not.
    fn webhooks_of_user(&mut self, user_id: i64) -> Result<Vec<WebhookRecord>, ApiError>;
    /// All webhooks of the portal.
    fn webhooks(&mut self) -> Result<Vec<WebhookRecord>, ApiError>;
    /// Stores a webhook.
    fn insert_webhook(
        &mut self,
        user_id: i64,
        code_digest: &[u8; 32],
        scopes: &[String],
    ) -> Result<i64, ApiError>;
    /// Revokes a webhook; `false` when there is no such webhook.
    fn revoke_webhook(&mut self, id: i64) -> Result<bool, ApiError>;

    /// An item.
    fn item(&mut self, entity_type_id: i64, id: i64) -> Result<Option<ItemRecord>, ApiError>;
    /// Who an item is assigned to, `None` if it does not exist (the cheap permission lookup).
    fn item_assignee(&mut self, entity_type_id: i64, id: i64) -> Result<Option<i64>, ApiError>;
    /// Stores a new item; `item.id` is ignored and the new id returned.
    fn insert_item(&mut self, item: &ItemRecord) -> Result<i64, ApiError>;
    /// Rewrites an existing item (every column, keyed by type and id).
    fn update_item(&mut self, item: &ItemRecord) -> Result<(), ApiError>;
    /// Deletes an item; `false` if it did not exist. Bindings to it are left alone.
    fn delete_item(&mut self, entity_type_id: i64, id: i64) -> Result<bool, ApiError>;
    /// A page of items of one type.
    fn list_items(
        &mut self,
        entity_type_id: i64,
        query: &ListQuery,
    ) -> Result<PageOf<ItemRecord>, ApiError>;
    /// Whether any item of the type exists (one index probe).
    fn has_items(&mut self, entity_type_id: i64) -> Result<bool, ApiError>;

    /// A smart-process type by its own id.
    fn dynamic_type(&mut self, id: i64) -> Result<Option<DynamicTypeRecord>, ApiError>;
    /// A smart-process type by the entity type id of its items.
    fn dynamic_type_by_entity_type(
        &mut self,
        entity_type_id: i64,
    ) -> Result<Option<DynamicTypeRecord>, ApiError>;
    /// The entity type ids already taken by smart processes, ascending.
    fn dynamic_entity_type_ids(&mut self) -> Result<Vec<i64>, ApiError>;
    /// Stores a new smart-process type; `record.id` is ignored and the new id returned.
    fn insert_dynamic_type(&mut self, record: &DynamicTypeRecord) -> Result<i64, ApiError>;
    /// Rewrites a smart-process type.
    fn update_dynamic_type(&mut self, record: &DynamicTypeRecord) -> Result<(), ApiError>;
    /// Deletes a smart-process type.
    fn delete_dynamic_type(&mut self, id: i64) -> Result<bool, ApiError>;
    /// A page of smart-process types by id.
    fn list_dynamic_types(
        &mut self,
        offset: u64,
        limit: u64,
        count: bool,
    ) -> Result<PageOf<DynamicTypeRecord>, ApiError>;

    /// An activity, locked against concurrent writers until the transaction ends; its bindings
    /// are read with it, for the [`Tx::bindings`] that usually follows.
    fn activity(&mut self, id: i64) -> Result<Option<ActivityRecord>, ApiError>;
    /// [`Tx::activity`], with the assignee of `item` read in the same round trip (a binding
    /// change checks that item next): [`Tx::item_assignee`] answers it from memory until the
    /// transaction's next write.
    fn activity_and_item(
        &mut self,
        id: i64,
        item: Binding,
    ) -> Result<Option<ActivityRecord>, ApiError>;
    /// Stores a new activity; `activity.id` is ignored and the new id returned.
    fn insert_activity(&mut self, activity: &ActivityRecord) -> Result<i64, ApiError>;
    /// Sets the owner (and editor, last-updated) of an activity.
    fn set_activity_owner(
        &mut self,
        id: i64,
        owner: Binding,
        editor_id: i64,
    ) -> Result<(), ApiError>;
    /// Rewrites an existing activity (every column, owner included).
    fn update_activity(&mut self, activity: &ActivityRecord) -> Result<(), ApiError>;
    /// Deletes an activity and its bindings.
    fn delete_activity(&mut self, id: i64) -> Result<bool, ApiError>;
    /// A page of activities.
    fn list_activities(&mut self, query: &ListQuery) -> Result<PageOf<ActivityRecord>, ApiError>;

    /// The bindings of an activity, in the order they were made.
    fn bindings(&mut self, activity_id: i64) -> Result<Vec<Binding>, ApiError>;
    /// Appends a binding; the unique constraint refuses a duplicate pair
    /// (`ACTIVITY_IS_ALREADY_BOUND`, reported by the next statement on PostgreSQL, at the latest
    /// before the commit).
    fn insert_binding(&mut self, activity_id: i64, binding: Binding) -> Result<(), ApiError>;
    /// Removes a binding, one the caller has just read under the activity's lock.
    fn delete_binding(&mut self, activity_id: i64, binding: Binding) -> Result<(), ApiError>;
    /// Replaces all bindings of an activity with `bindings`, in that order.
    fn replace_bindings(&mut self, activity_id: i64, bindings: &[Binding]) -> Result<(), ApiError>;

    /// The current time as Unix seconds, fixed for the whole transaction.
    fn now_unix(&self) -> f64;
    /// The named server key, storing `fresh` first if there is none yet.
    fn server_key(&mut self, name: &str, fresh: &[u8; 32]) -> Result<Vec<u8>, ApiError>;

    /// Stores an event handler; `None` when the same one is already bound. `record.id` is ignored.
    fn insert_event_handler(
        &mut self,
        record: &EventHandlerRecord,
    ) -> Result<Option<i64>, ApiError>;
    /// The handlers of an application (0: the outgoing webhooks), by id.
    fn event_handlers_of_app(&mut self, app_id: i64) -> Result<Vec<EventHandlerRecord>, ApiError>;
    /// The handlers bound to an event, by id.
    fn event_handlers_for(&mut self, event_name: &str)
        -> Result<Vec<EventHandlerRecord>, ApiError>;
    /// Deletes a handler; `false` when there is none.
    fn delete_event_handler(&mut self, id: i64) -> Result<bool, ApiError>;

    /// Queues an event for delivery; `record.id` is ignored and the new id returned.
    fn insert_outbox(&mut self, record: &OutboxRecord) -> Result<i64, ApiError>;
    /// Claims up to `limit` rows due at `now` (oldest first) by moving their due time to
    /// `claim_until`, so no other sender takes them meanwhile; returns them as they were.
    fn claim_outbox(
        &mut self,
        now: f64,
        claim_until: f64,
        limit: u64,
    ) -> Result<Vec<OutboxRecord>, ApiError>;
    /// Sets a row's attempt count and next due time.
    fn reschedule_outbox(&mut self, id: i64, attempts: i64, due: f64) -> Result<(), ApiError>;
    /// Removes a row (delivered, or given up).
    fn delete_outbox(&mut self, id: i64) -> Result<(), ApiError>;
    /// Appends to the delivery log, dropping entries older than the newest
    /// [`DELIVERY_LOG_KEEP`]; `record.id` is ignored.
    fn insert_delivery(&mut self, record: &DeliveryRecord) -> Result<(), ApiError>;
    /// The newest `limit` entries of the delivery log, newest first.
    fn deliveries(&mut self, limit: u64) -> Result<Vec<DeliveryRecord>, ApiError>;

    /// Queues an offline event; a pending entry with the same message id is refreshed instead.
    fn record_offline_event(&mut self, record: &OfflineEventRecord) -> Result<(), ApiError>;
    /// A page of an application's offline queue; `query.filter` and `order` use the columns
    /// `id`, `timestamp_x`, `event_name`, `message_id`, `process_id`, `error`.
    fn offline_events(
        &mut self,
        app_id: i64,
        connector_id: &str,
        query: &ListQuery,
    ) -> Result<PageOf<OfflineEventRecord>, ApiError>;
    /// Gives `process_id` to the entries with the given ids.
    fn mark_offline_events(&mut self, ids: &[i64], process_id: &str) -> Result<(), ApiError>;
    /// Marks entries handed out under `process_id` as failed (`ERROR` 1) and returns them to the
    /// queue, where `event.offline.get` with `error=1` finds them.
    fn mark_offline_errors(
        &mut self,
        app_id: i64,
        connector_id: &str,
        process_id: &str,
        message_ids: &[String],
    ) -> Result<(), ApiError>;
    /// Deletes entries of an application's queue handed out under `process_id`: all of them,
    /// or only those with the given ids or message ids.
    fn clear_offline_events(
        &mut self,
        app_id: i64,
        connector_id: &str,
        process_id: &str,
        only: OfflineSelection<'_>,
    ) -> Result<(), ApiError>;
}

/// How many delivery attempts the log keeps (the oldest go first), so it cannot grow without
/// bound on a busy server.
pub const DELIVERY_LOG_KEEP: i64 = 100_000;

/// Which entries of a process `event.offline.clear` deletes.
#[derive(Debug, Clone, Copy)]
pub enum OfflineSelection<'a> {
    /// Every entry of the process.
    All,
    /// Those with these ids.
    Ids(&'a [i64]),
    /// Those with these message ids.
    MessageIds(&'a [String]),
}

/// Creates the data directory, readable by its owner only (it holds every digest, the CA key and,
/// with SQLite, all CRM data). An existing directory is left as it is.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("could not create the data directory {}", dir.display()))
}

/// Events queued into any outbox by this process so far (counted as they are inserted, whether or
/// not their transaction commits): a call wakes the event sender only when this moved while it
/// ran, rather than after every call (on PostgreSQL each wake-up costs the sender two
/// transactions). A wake-up caused by another call running at the same time is harmless.
pub static OUTBOX_INSERTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The storage backend chosen at start.
pub enum Store {
    /// The embedded default: one SQLite file in WAL mode.
    Sqlite(sqlite::SqliteStore),
    /// PostgreSQL, shared by any number of server processes.
    Postgres(postgres::PgStore),
}

impl Store {
    /// Opens (creating and migrating if needed) the SQLite database in `data_dir`.
    pub fn open_sqlite_in(data_dir: &Path, clock: Arc<dyn Clock>) -> anyhow::Result<Store> {
        Ok(Store::Sqlite(sqlite::SqliteStore::open_with_clock(
            data_dir, clock,
        )?))
    }

    /// Opens the database a `--database-url` names (PostgreSQL), or else the SQLite file in
    /// `data_dir`.
    pub fn open(
        database_url: Option<&str>,
        data_dir: &Path,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Store> {
        create_private_dir(data_dir)?;
        match database_url {
            Some(url) if postgres::is_postgres_url(url) => {
                Ok(Store::Postgres(postgres::PgStore::open(url, clock)?))
            }
            Some(url) => anyhow::bail!(
                "--database-url must start with postgres:// (without it, SQLite in --data-dir is used): {url}"
            ),
            None => Store::open_sqlite_in(data_dir, clock),
        }
    }

    /// Where limiter counters belong with this store: in the database for PostgreSQL (shared by
    /// every process), in memory for SQLite (one process).
    pub fn default_limiter(&self) -> Arc<dyn crate::limits::LimiterState> {
        match self {
            Store::Sqlite(_) => Arc::new(crate::limits::MemoryLimiterState::default()),
            Store::Postgres(s) => Arc::new(crate::limits::PgLimiterState::new(s.pool())),
        }
    }

    /// Runs `f` in one transaction of the backend, without the catalogue cache.
    fn transaction<R: Send>(
        &self,
        portal: PortalId,
        writing: bool,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, ApiError> + Send,
    ) -> Result<R, ApiError> {
        match self {
            Store::Sqlite(s) => s.transaction(portal, writing, f),
            Store::Postgres(s) => s.transaction(portal, writing, f),
        }
    }

    /// The process's cache of smart-process types and user fields (see `store/catalogue.rs`).
    fn catalogue_cache(&self) -> &Arc<catalogue::CatalogueCache> {
        match self {
            Store::Sqlite(s) => s.catalogue_cache(),
            Store::Postgres(s) => s.catalogue_cache(),
        }
    }

    /// The cache at its current generation, taken before a transaction begins: the shared
    /// version is read first (in a transaction of its own) when it is due. `None` inside a
    /// SQLite batch that has changed the catalogue and not committed yet: what its
    /// transactions see is not for other threads.
    fn catalogue_view(&self, portal: PortalId) -> Option<catalogue::CatalogueView> {
        if let Store::Sqlite(s) = self {
            if s.catalogue_pending() {
                return None;
            }
        }
        let cache = self.catalogue_cache();
        let generation =
            cache.generation(|| self.transaction(portal, false, |tx| tx.catalogue_version()));
        Some(catalogue::CatalogueView::new(cache.clone(), generation))
    }

    /// Runs `f` in a read-only transaction.
    pub fn read<R: Send>(
        &self,
        portal: PortalId,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, ApiError> + Send,
    ) -> Result<R, ApiError> {
        let view = self.catalogue_view(portal);
        self.transaction(portal, false, |tx| {
            if let Some(view) = view {
                tx.use_catalogue_cache(view);
            }
            f(tx)
        })
    }

    /// Runs `f`, the commands of one `batch`. On SQLite they share one write transaction, a
    /// savepoint for each transaction they open: one commit for the whole batch rather than one
    /// per command (see `SqliteStore::batch_scope`); `Err` means nothing of it was committed.
    /// On PostgreSQL each transaction stays its own: one held across fifty commands would hold
    /// their row locks that long.
    pub fn batch_scope<R>(&self, f: impl FnOnce() -> R) -> Result<R, ApiError> {
        match self {
            Store::Sqlite(s) => s.batch_scope(f),
            Store::Postgres(_) => Ok(f()),
        }
    }

    /// The caller cached for a credential while no credential table has changed since it was
    /// read (see `store/callers.rs`), and the generation to remember a caller read now under.
    pub fn cached_caller(&self, key: &callers::CallerKey) -> (Option<callers::CachedCaller>, u64) {
        match self {
            Store::Sqlite(s) => s.cached_caller(key),
            Store::Postgres(s) => s.cached_caller(key),
        }
    }

    /// The cached caller for a credential when it can be had without reading the database
    /// (see [`callers::CallerCache::generation_in_memory`]); `None` otherwise.
    pub fn cached_caller_in_memory(
        &self,
        key: &callers::CallerKey,
    ) -> Option<callers::CachedCaller> {
        match self {
            Store::Sqlite(s) => s.cached_caller_in_memory(key),
            Store::Postgres(s) => s.cached_caller_in_memory(key),
        }
    }

    /// Keeps a caller read under `generation`.
    pub fn remember_caller(
        &self,
        key: callers::CallerKey,
        generation: u64,
        caller: &std::sync::Arc<crate::auth::Caller>,
        expires: Option<f64>,
    ) {
        match self {
            Store::Sqlite(s) => s.remember_caller(key, generation, caller.clone(), expires),
            Store::Postgres(s) => s.remember_caller(key, generation, caller.clone(), expires),
        }
    }

    /// Runs `f` in a write transaction, committing only when `f` returns `Ok`. SQLite holds the
    /// database write lock from the first statement (`BEGIN IMMEDIATE`); PostgreSQL locks the rows
    /// written and the activity rows read.
    pub fn write<R: Send>(
        &self,
        portal: PortalId,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, ApiError> + Send,
    ) -> Result<R, ApiError> {
        let view = self.catalogue_view(portal);
        let mut catalogue_changed = false;
        let out = self.transaction(portal, true, |tx| {
            if let Some(view) = view {
                tx.use_catalogue_cache(view);
            }
            let out = f(tx)?;
            // Other processes see the change by the shared version, raised before the commit.
            if tx.catalogue_changed() {
                tx.raise_catalogue_version()?;
                catalogue_changed = true;
            }
            Ok(out)
        });
        // This process sees it from its next transaction on. (Also after a failed commit, which
        // changed nothing: the catalogue is only read again.)
        if catalogue_changed {
            match self {
                // Inside a batch, once the batch has committed.
                Store::Sqlite(s) => s.note_catalogue_change(),
                Store::Postgres(s) => s.catalogue_cache().bump(),
            }
        }
        out
    }
}

/// Query plans of list pages, so tests (and the scaling example) can prove that every page shape
/// is served by an index on each backend.
pub trait ExplainPages {
    /// The backend's SQL dialect.
    const DIALECT: driver::Dialect;

    /// The plan of one statement, a line per step.
    fn explain(&self, sql: &str, args: &[driver::Arg<'_>]) -> anyhow::Result<Vec<String>>;

    /// The plan of the page statement `crm.item.list` would run.
    fn explain_items_page(
        &self,
        portal: PortalId,
        entity_type_id: i64,
        query: &ListQuery,
    ) -> anyhow::Result<Vec<String>> {
        let sql = lists::items_page(Self::DIALECT, portal, entity_type_id, query);
        self.explain(&sql.page, &sql.args)
    }

    /// The plan of the page statement `crm.activity.list` would run.
    fn explain_activities_page(
        &self,
        portal: PortalId,
        query: &ListQuery,
    ) -> anyhow::Result<Vec<String>> {
        let sql = lists::activities_page(Self::DIALECT, portal, query);
        self.explain(&sql.page, &sql.args)
    }
}
