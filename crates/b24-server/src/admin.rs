//! Operator actions shared by the CLI and the tests: first-start bootstrap, users, webhooks.
//! Each is one write transaction, so the CLI can run them while the server is serving.

use crate::domain::permissions::RightGrant;
use crate::error::ApiError;
use crate::methods::KNOWN_SCOPES;
use crate::secret::{digest, generate_code, WEBHOOK_CODE_LEN};
use crate::store::{PortalId, Store, WebhookRecord};
use anyhow::{anyhow, bail};

/// What the first start created: the administrator's all-scope webhook.
#[derive(Clone)]
pub struct FirstStart {
    /// The administrator's user id (1).
    pub admin_user_id: i64,
    /// The webhook code, shown this once and never stored in clear.
    pub webhook_code: String,
}

/// The webhook code is a secret: not printed by `Debug`.
impl std::fmt::Debug for FirstStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstStart")
            .field("admin_user_id", &self.admin_user_id)
            .field("webhook_code", &"<redacted>")
            .finish()
    }
}

fn to_anyhow(e: ApiError) -> anyhow::Error {
    match e {
        ApiError::Internal(e) => e,
        ApiError::Rest(e) => anyhow!("{}", e.message),
    }
}

/// Creates the portal, its administrator and an all-scope webhook if the portal does not exist
/// yet; records the public URL either way. Returns what was created on a first start.
pub fn bootstrap(
    store: &Store,
    portal: PortalId,
    public_url: &str,
    public_https_url: &str,
) -> anyhow::Result<Option<FirstStart>> {
    store
        .write(portal, |tx| {
            let domain = host_of(public_url);
            let member_id = hex::encode(digest(&generate_code(32)))[..32].to_string();
            let created = tx.ensure_portal(&domain, &member_id, public_url)?;
            tx.set_public_url(public_url, public_https_url)?;
            crate::domain::statuses::ensure_defaults(tx)?;
            for done in tx.finish_upgrades()? {
                tracing::info!("{done}");
            }
            if !created {
                return Ok(None);
            }
            seed_administrator(tx).map(Some)
        })
        .map_err(to_anyhow)
}

/// What `portal create` and `POST /_b24/portals` answer: the portal and its administrator's
/// all-scope webhook (the code is shown this once).
#[derive(Clone, serde::Serialize)]
pub struct CreatedPortal {
    /// The portal's name.
    pub portal: String,
    /// The administrator's webhook URL, on the server's plain-HTTP address (the code alone
    /// finds the portal, so the URL works wherever the server's address does).
    pub webhook: String,
    /// The same over HTTPS, when the server serves it.
    pub https_webhook: Option<String>,
    /// The portal's member id.
    pub member_id: String,
    /// The portal's domain, `{name}.localhost[:port]`.
    pub domain: String,
    /// The portal's id (not on the wire: the CLI and the runtime use it).
    #[serde(skip)]
    pub id: PortalId,
}

/// The webhook code is a secret: not printed by `Debug`.
impl std::fmt::Debug for CreatedPortal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedPortal")
            .field("portal", &self.portal)
            .field("member_id", &self.member_id)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

/// Why a portal could not be created or deleted.
#[derive(Debug)]
pub enum PortalError {
    /// The name is not `[a-z0-9-]{1,40}`.
    BadName(String),
    /// A portal of that name exists.
    Taken(String),
    /// No portal of that name.
    Unknown(String),
    /// The default portal cannot be deleted.
    Default,
    /// The server has not made its default portal yet.
    NotStarted,
    /// The database failed.
    Store(ApiError),
}

impl std::fmt::Display for PortalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortalError::BadName(name) => write!(
                f,
                "'{name}' is not a portal name: use 1 to 40 of a-z, 0-9 and '-'"
            ),
            PortalError::Taken(name) => write!(f, "a portal named '{name}' exists already"),
            PortalError::Unknown(name) => write!(
                f,
                "there is no portal named '{name}': `b24-server portal list` shows them"
            ),
            PortalError::Default => f.write_str("the default portal cannot be deleted"),
            PortalError::NotStarted => f.write_str(
                "the default portal does not exist yet: start the server once with `b24-server serve`",
            ),
            PortalError::Store(e) => write!(f, "{}", to_anyhow_ref(e)),
        }
    }
}

impl std::error::Error for PortalError {}

fn to_anyhow_ref(e: &ApiError) -> String {
    match e {
        ApiError::Internal(e) => format!("{e:#}"),
        ApiError::Rest(e) => e.message.to_string(),
    }
}

/// A fresh portal name for callers that do not choose one (`p-` and 10 hex digits).
pub fn generated_portal_name() -> String {
    format!("p-{}", &hex::encode(digest(&generate_code(32)))[..10])
}

/// Creates a portal, its administrator and an all-scope webhook, in one transaction. The
/// name is generated when `None`; the plan is the default portal's when `None`.
pub fn create_portal(
    store: &Store,
    name: Option<&str>,
    plan: Option<crate::limits::Plan>,
) -> Result<CreatedPortal, PortalError> {
    let name = match name {
        Some(name) => name.trim().to_string(),
        None => generated_portal_name(),
    };
    if !crate::portals::valid_name(&name) {
        return Err(PortalError::BadName(name));
    }
    let member_id = hex::encode(digest(&generate_code(32)))[..32].to_string();
    let created = store.write(crate::store::DEFAULT_PORTAL, |tx| {
        let Some(default) = tx.portal_row()? else {
            return Ok(Err(PortalError::NotStarted));
        };
        let plan = match plan {
            Some(plan) => plan.as_str().to_string(),
            None => tx.plan()?.unwrap_or_else(|| "standard".to_string()),
        };
        let url = crate::portals::portal_url(&default.public_url, &name);
        let https_url = if default.public_https_url.is_empty() {
            String::new()
        } else {
            crate::portals::portal_url(&default.public_https_url, &name)
        };
        let domain = host_of(&url);
        let new = crate::store::portals::NewPortal {
            name: &name,
            domain: &domain,
            member_id: &member_id,
            public_url: &url,
            public_https_url: &https_url,
            plan: &plan,
        };
        let Some(id) = tx.create_portal(&new)? else {
            return Ok(Err(PortalError::Taken(name.clone())));
        };
        tx.enter_portal(id);
        crate::domain::statuses::ensure_defaults(tx)?;
        let first = seed_administrator(tx)?;
        let https_webhook = (!default.public_https_url.is_empty()).then(|| {
            webhook_url(
                &default.public_https_url,
                first.admin_user_id,
                &first.webhook_code,
            )
        });
        Ok(Ok(CreatedPortal {
            portal: name.clone(),
            webhook: webhook_url(
                &default.public_url,
                first.admin_user_id,
                &first.webhook_code,
            ),
            https_webhook,
            member_id: member_id.clone(),
            domain,
            id,
        }))
    });
    created.map_err(PortalError::Store)?
}

/// Deletes a portal and every row of it, in one transaction; returns its id and the rows
/// deleted.
pub fn delete_portal(store: &Store, name: &str) -> Result<(PortalId, u64), PortalError> {
    let name = name.trim();
    if name == crate::portals::DEFAULT_PORTAL_NAME {
        return Err(PortalError::Default);
    }
    let id = store
        .read(crate::store::DEFAULT_PORTAL, |tx| tx.portal_by_name(name))
        .map_err(PortalError::Store)?
        .ok_or_else(|| PortalError::Unknown(name.to_string()))?;
    let deleted = store
        .write(id, |tx| tx.delete_portal())
        .map_err(PortalError::Store)?
        .ok_or_else(|| PortalError::Unknown(name.to_string()))?;
    Ok((id, deleted))
}

/// Every portal, by id.
pub fn list_portals(store: &Store) -> anyhow::Result<Vec<crate::store::portals::PortalState>> {
    store
        .read(crate::store::DEFAULT_PORTAL, |tx| tx.portal_states())
        .map_err(to_anyhow)
}

/// The id of a portal by name, for `--portal`.
pub fn portal_id(store: &Store, name: &str) -> anyhow::Result<PortalId> {
    let name = name.trim();
    let found = store
        .read(crate::store::DEFAULT_PORTAL, |tx| tx.portal_by_name(name))
        .map_err(to_anyhow)?;
    match found {
        Some(id) => Ok(id),
        None if name == crate::portals::DEFAULT_PORTAL_NAME => Ok(crate::store::DEFAULT_PORTAL),
        None => bail!("there is no portal named '{name}': `b24-server portal list` shows them"),
    }
}

/// Creates the administrator user and its all-scope webhook: on first start, and when
/// `/_b24/reset` wipes auth too.
pub fn seed_administrator(tx: &mut dyn crate::store::Tx) -> Result<FirstStart, ApiError> {
    crate::domain::users::seed_root_department(tx)?;
    let admin_user_id = tx.insert_user("Administrator", "", true)?;
    let webhook_code = generate_code(WEBHOOK_CODE_LEN);
    let scopes: Vec<String> = KNOWN_SCOPES.iter().map(|s| s.to_string()).collect();
    tx.insert_webhook(admin_user_id, &digest(&webhook_code), &scopes)?;
    Ok(FirstStart {
        admin_user_id,
        webhook_code,
    })
}

/// Names every portal but the default one after its host, `{name}.localhost`, on the ports
/// of the base URLs the server now answers on (`https` empty without TLS).
pub fn name_portal_hosts(store: &Store, public_url: &str, https: &str) -> anyhow::Result<()> {
    let http_port = crate::portals::port_of(&host_of(public_url)).to_string();
    let https_port = if https.is_empty() {
        String::new()
    } else {
        // Never empty with TLS: the CASE in the statement takes an empty port for "no HTTPS".
        let host = host_of(https);
        let port = crate::portals::port_of(&host);
        if port.is_empty() {
            ":443".to_string()
        } else {
            port.to_string()
        }
    };
    store
        .write(crate::store::DEFAULT_PORTAL, |tx| {
            tx.name_portal_hosts(&http_port, &https_port)
        })
        .map_err(to_anyhow)
}

/// `host[:port]` of a URL, for the portal's domain.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// The portal clock's setting as stored: seconds added to real time, and the frozen instant.
pub fn clock_setting(store: &Store, portal: PortalId) -> anyhow::Result<(f64, Option<f64>)> {
    store
        .read(portal, |tx| tx.clock_setting())
        .map_err(to_anyhow)
}

/// How many times the portal was reset (`/_b24/reset`, `b24-server reset`).
pub fn reset_generation(store: &Store, portal: PortalId) -> anyhow::Result<i64> {
    store
        .read(portal, |tx| tx.reset_generation())
        .map_err(to_anyhow)
}

/// The base URL the server last recorded, for printing webhook URLs.
pub fn public_url(store: &Store, portal: PortalId, https: bool) -> anyhow::Result<String> {
    let portal = store
        .read(portal, |tx| tx.portal_row())
        .map_err(to_anyhow)?
        .ok_or_else(|| {
            anyhow!("the portal does not exist yet: start the server once with `b24-server serve`")
        })?;
    if !https {
        return Ok(portal.public_url);
    }
    if portal.public_https_url.is_empty() {
        bail!("the server was last started without HTTPS; start it with TLS (the default) or pass --public-url");
    }
    Ok(portal.public_https_url)
}

/// A webhook URL: `{base}/rest/{user}/{code}/`.
pub fn webhook_url(public_url: &str, user_id: i64, code: &str) -> String {
    format!(
        "{}/rest/{user_id}/{code}/",
        public_url.trim_end_matches('/')
    )
}

/// Creates a user with the given rights; `name` is split into first and last name at the first space.
pub fn create_user(
    store: &Store,
    portal: PortalId,
    name: &str,
    admin: bool,
    rights: &[RightGrant],
) -> anyhow::Result<i64> {
    let (first, last) = name.trim().split_once(' ').unwrap_or((name.trim(), ""));
    store
        .write(portal, |tx| {
            if tx.portal_row()?.is_none() {
                return Err(ApiError::internal(anyhow!(
                    "the portal does not exist yet: start the server once with `b24-server serve`"
                )));
            }
            let id = tx.insert_user(first, last.trim(), admin)?;
            for grant in rights {
                tx.set_user_right(id, grant.entity_type_id, grant.action, grant.level)?;
            }
            Ok(id)
        })
        .map_err(to_anyhow)
}

/// Parses `crm,user` into scopes, refusing unknown ones; empty means every known scope.
pub fn parse_scopes(list: Option<&str>) -> anyhow::Result<Vec<String>> {
    let Some(list) = list.filter(|l| !l.trim().is_empty()) else {
        return Ok(KNOWN_SCOPES.iter().map(|s| s.to_string()).collect());
    };
    let mut scopes = Vec::new();
    for scope in list
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
    {
        if !KNOWN_SCOPES.contains(&scope.as_str()) {
            bail!(
                "unknown scope '{scope}'; known scopes: {}",
                KNOWN_SCOPES.join(", ")
            );
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

/// Creates a webhook for a user; returns its id and its code (shown once).
pub fn create_webhook(
    store: &Store,
    portal: PortalId,
    user_id: i64,
    scopes: &[String],
) -> anyhow::Result<(i64, String)> {
    let code = generate_code(WEBHOOK_CODE_LEN);
    let id = store
        .write(portal, |tx| {
            if tx.user(user_id)?.is_none() {
                return Err(ApiError::internal(anyhow!(
                    "there is no user {user_id}: create one with `b24-server user create --name NAME`"
                )));
            }
            tx.insert_webhook(user_id, &digest(&code), scopes)
        })
        .map_err(to_anyhow)?;
    Ok((id, code))
}

/// Every webhook of the portal (codes are not recoverable: only their digests are stored).
pub fn list_webhooks(store: &Store, portal: PortalId) -> anyhow::Result<Vec<WebhookRecord>> {
    store.read(portal, |tx| tx.webhooks()).map_err(to_anyhow)
}

/// Revokes a webhook; its URL stops working at once.
pub fn revoke_webhook(store: &Store, portal: PortalId, id: i64) -> anyhow::Result<()> {
    let found = store
        .write(portal, |tx| tx.revoke_webhook(id))
        .map_err(to_anyhow)?;
    if !found {
        bail!("there is no webhook {id}: `b24-server webhook list` shows them");
    }
    Ok(())
}

/// Sets the portal's request-rate plan; a running server picks it up within a second.
pub fn set_plan(store: &Store, portal: PortalId, plan: crate::limits::Plan) -> anyhow::Result<()> {
    let found = store
        .write(portal, |tx| tx.set_plan(plan.as_str()))
        .map_err(to_anyhow)?;
    if !found {
        bail!("the portal does not exist yet: start the server once with `b24-server serve`");
    }
    Ok(())
}

/// The portal's request-rate plan as stored.
pub fn plan(store: &Store, portal: PortalId) -> anyhow::Result<crate::limits::Plan> {
    let name = store.read(portal, |tx| tx.plan()).map_err(to_anyhow)?;
    name.as_deref()
        .unwrap_or("standard")
        .parse()
        .map_err(|e: String| anyhow!(e))
}

/// The portal's plan and switches, as stored: `(plan, rest_enabled, closed)`.
pub fn portal_status(
    store: &Store,
    portal: PortalId,
) -> anyhow::Result<(crate::limits::Plan, bool, bool)> {
    let (plan, row) = store
        .read(portal, |tx| Ok((tx.plan()?, tx.portal_row()?)))
        .map_err(to_anyhow)?;
    let row = row.ok_or_else(|| {
        anyhow!("the portal does not exist yet: start the server once with `b24-server serve`")
    })?;
    let plan = plan
        .as_deref()
        .unwrap_or("standard")
        .parse()
        .map_err(|e: String| anyhow!(e))?;
    Ok((plan, row.rest_enabled, row.closed))
}

/// Switches REST on or off for the portal (off: every call answers 401 `ACCESS_DENIED`).
pub fn set_rest_enabled(store: &Store, portal: PortalId, enabled: bool) -> anyhow::Result<()> {
    store
        .write(portal, |tx| tx.set_rest_enabled(enabled))
        .map_err(to_anyhow)
}

/// Closes or reopens the portal (closed: every call answers 403 `PORTAL_DELETED`).
pub fn set_closed(store: &Store, portal: PortalId, closed: bool) -> anyhow::Result<()> {
    store
        .write(portal, |tx| tx.set_closed(closed))
        .map_err(to_anyhow)
}

/// Blocks or unblocks a webhook (blocked: its calls answer 401 `OVERLOAD_LIMIT`).
pub fn set_webhook_blocked(
    store: &Store,
    portal: PortalId,
    id: i64,
    blocked: bool,
) -> anyhow::Result<()> {
    if !store
        .write(portal, |tx| tx.set_webhook_blocked(id, blocked))
        .map_err(to_anyhow)?
    {
        bail!("there is no webhook {id}: `b24-server webhook list` shows them");
    }
    Ok(())
}

/// An outgoing webhook: an event POSTed to a URL without an application (spec §9.2).
#[derive(Clone, serde::Serialize)]
pub struct OutgoingWebhook {
    /// Its id (`event_handler_id` in payloads).
    pub id: i64,
    /// The event, upper-case.
    pub event: String,
    /// Where it is POSTed.
    pub url: String,
    /// The token its payloads carry in `auth[application_token]`, so the receiver can tell
    /// they came from this server.
    pub application_token: String,
}

/// The application token is a secret: `Debug` does not print it (the CLI prints the JSON).
impl std::fmt::Debug for OutgoingWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingWebhook")
            .field("id", &self.id)
            .field("event", &self.event)
            .field("url", &self.url)
            .field("application_token", &"<redacted>")
            .finish()
    }
}

/// Adds an outgoing webhook for one of the events this server fires. The URL must pass the
/// checks of `event.bind`; the running server's target policy applies again at delivery.
pub fn add_outgoing_webhook(
    store: &Store,
    portal: PortalId,
    event: &str,
    url: &str,
) -> anyhow::Result<OutgoingWebhook> {
    let event = event.trim().to_ascii_uppercase();
    if crate::events::scope_of(&event).is_none() {
        let known: Vec<&str> = crate::events::EVENTS.iter().map(|(_, e)| *e).collect();
        bail!(
            "unknown event '{event}'; known events: {}",
            known.join(", ")
        );
    }
    let anywhere = crate::config::TargetPolicy {
        allow_loopback: true,
        allow_private: true,
    };
    crate::events::check_handler_url(url, anywhere).map_err(to_anyhow)?;
    store
        .write(portal, |tx| {
            let record = crate::store::EventHandlerRecord {
                id: 0,
                app_id: 0,
                event_name: event.clone(),
                handler: url.trim().to_string(),
                user_id: 0,
                connector_id: String::new(),
            };
            let id = tx.insert_event_handler(&record)?.ok_or_else(|| {
                ApiError::internal(anyhow!("this outgoing webhook already exists"))
            })?;
            let key = crate::oauth::event_key(tx)?;
            Ok(OutgoingWebhook {
                id,
                event: event.clone(),
                url: record.handler,
                application_token: crate::events::webhook_token(&key, id),
            })
        })
        .map_err(to_anyhow)
}

/// The outgoing webhooks, by id (their tokens are shown only when added).
pub fn outgoing_webhooks(
    store: &Store,
    portal: PortalId,
) -> anyhow::Result<Vec<crate::store::EventHandlerRecord>> {
    store
        .read(portal, |tx| tx.event_handlers_of_app(0))
        .map_err(to_anyhow)
}

/// Removes an outgoing webhook; events already queued for it are still delivered.
pub fn remove_outgoing_webhook(store: &Store, portal: PortalId, id: i64) -> anyhow::Result<()> {
    let removed = store
        .write(portal, |tx| {
            let is_webhook = tx.event_handlers_of_app(0)?.iter().any(|h| h.id == id);
            Ok(is_webhook && tx.delete_event_handler(id)?)
        })
        .map_err(to_anyhow)?;
    if !removed {
        bail!("there is no outgoing webhook {id}: `b24-server events webhook list` shows them");
    }
    Ok(())
}

/// The newest `limit` delivery attempts, newest first.
pub fn delivery_log(
    store: &Store,
    portal: PortalId,
    limit: u64,
) -> anyhow::Result<Vec<crate::store::DeliveryRecord>> {
    store
        .read(portal, |tx| tx.deliveries(limit))
        .map_err(to_anyhow)
}
