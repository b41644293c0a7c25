//! Storage of the portals themselves: many live on one server (each a Bitrix24 account). These
//! statements are the only ones that look past the transaction's own portal: listing the
//! portals, creating and deleting one, and finding the portal a credential belongs to (webhook
//! codes, OAuth codes and tokens are unique server-wide, so a call needs nothing else to find
//! its portal).

use super::driver::{args, SqlRow};
use super::reset::ResetTx;
use super::sql::SqlTx;
use super::{PortalId, Tx};
use crate::error::ApiError;

/// A portal as the runtime needs it: who it is, and the settings a running server applies.
#[derive(Debug, Clone, PartialEq)]
pub struct PortalState {
    /// Its id.
    pub id: PortalId,
    /// Its name (`[a-z0-9-]{1,40}`; `default` for the first).
    pub name: String,
    /// The domain shown in answers.
    pub domain: String,
    /// The public member id.
    pub member_id: String,
    /// The request-rate plan's name.
    pub plan: String,
    /// REST switched on.
    pub rest_enabled: bool,
    /// Closed (`PORTAL_DELETED`).
    pub closed: bool,
    /// The clock's offset from real time, in seconds.
    pub clock_offset: f64,
    /// The instant the clock is frozen at, if it is.
    pub clock_frozen_at: Option<f64>,
    /// How many times the portal was reset.
    pub reset_generation: i64,
}

const STATE_COLUMNS: &str = "id, name, domain, member_id, plan, rest_enabled, closed, \
     clock_offset, clock_frozen_at, reset_generation";

fn state_from_row(r: &dyn SqlRow) -> Result<PortalState, ApiError> {
    Ok(PortalState {
        id: r.int(0)?,
        name: r.opt_text(1)?.unwrap_or_default(),
        domain: r.text(2)?,
        member_id: r.text(3)?,
        plan: r.text(4)?,
        rest_enabled: r.bool(5)?,
        closed: r.bool(6)?,
        clock_offset: r.real(7)?,
        clock_frozen_at: r.opt_real(8)?,
        reset_generation: r.int(9)?,
    })
}

const WEBHOOK_PORTAL: &str = "SELECT portal_id FROM webhooks WHERE code_digest = ?1";
const ACCESS_TOKEN_PORTAL: &str = "SELECT portal_id FROM oauth_tokens WHERE access_digest = ?1";
const REFRESH_TOKEN_PORTAL: &str = "SELECT portal_id FROM oauth_tokens WHERE refresh_digest = ?1";
const AUTH_CODE_PORTAL: &str = "SELECT portal_id FROM oauth_codes WHERE code_digest = ?1";

/// The statements that find a credential's portal by its digest (each served by an index of
/// the digest alone: see the plan tests).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const CREDENTIAL_LOOKUPS: [(&str, &str, &str); 4] = [
    (WEBHOOK_PORTAL, "webhooks", "webhooks_by_code"),
    (
        ACCESS_TOKEN_PORTAL,
        "oauth_tokens",
        "oauth_tokens_by_access",
    ),
    (
        REFRESH_TOKEN_PORTAL,
        "oauth_tokens",
        "oauth_tokens_by_refresh_digest",
    ),
    (AUTH_CODE_PORTAL, "oauth_codes", "oauth_codes_by_code"),
];

/// What a new portal starts with.
#[derive(Debug, Clone)]
pub struct NewPortal<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its domain (`{name}.localhost:{port}`).
    pub domain: &'a str,
    /// Its member id.
    pub member_id: &'a str,
    /// The base URL it answers on.
    pub public_url: &'a str,
    /// The HTTPS base URL, empty without TLS.
    pub public_https_url: &'a str,
    /// The request-rate plan's name.
    pub plan: &'a str,
}

/// Statements about portals as a whole.
pub trait PortalTx {
    /// Every portal, by id (for the refresh of a running server and `portal list`).
    fn portal_states(&mut self) -> Result<Vec<PortalState>, ApiError>;
    /// One portal's state.
    fn portal_state(&mut self, portal: PortalId) -> Result<Option<PortalState>, ApiError>;
    /// The portal of a name.
    fn portal_by_name(&mut self, name: &str) -> Result<Option<PortalId>, ApiError>;
    /// Creates a portal; `None` when the name is taken.
    fn create_portal(&mut self, portal: &NewPortal<'_>) -> Result<Option<PortalId>, ApiError>;
    /// Deletes every row of the transaction's portal, the portal row last; returns the rows
    /// deleted (the portal row included), or `None` when there is no such portal.
    fn delete_portal(&mut self) -> Result<Option<u64>, ApiError>;
    /// Sets the domain and base URLs of every portal but the default one from their names:
    /// `{scheme}://{name}.localhost{port}` (`port` with its colon, or empty).
    fn name_portal_hosts(&mut self, http_port: &str, https_port: &str) -> Result<(), ApiError>;
    /// The portal of a webhook, by the digest of its code.
    fn portal_of_webhook(&mut self, code_digest: &[u8; 32]) -> Result<Option<PortalId>, ApiError>;
    /// The portal of an OAuth access token, by its digest.
    fn portal_of_access_token(&mut self, digest: &[u8; 32]) -> Result<Option<PortalId>, ApiError>;
    /// The portal of an OAuth refresh token, by its digest.
    fn portal_of_refresh_token(&mut self, digest: &[u8; 32]) -> Result<Option<PortalId>, ApiError>;
    /// The portal of an OAuth authorisation code, by its digest.
    fn portal_of_auth_code(&mut self, digest: &[u8; 32]) -> Result<Option<PortalId>, ApiError>;
    /// Makes the rest of the transaction about another portal: a portal is filled in (its
    /// administrator, webhook and dictionaries) by the transaction that creates it.
    fn enter_portal(&mut self, portal: PortalId);
    /// Whether the transaction's portal has rows in its event outbox.
    fn outbox_holds_rows(&mut self) -> Result<bool, ApiError>;
    /// The portals whose event outbox holds rows (queued by another process or the CLI, or
    /// waiting for a retry): the outbox holds pending events only, so this reads few rows.
    fn portals_with_outbox_rows(&mut self) -> Result<Vec<PortalId>, ApiError>;
    /// The portal an application was created on (the lowest, if it is installed on several).
    fn portal_of_client_id(&mut self, client_id: &str) -> Result<Option<PortalId>, ApiError>;
}

impl SqlTx<'_> {
    fn portal_of(&mut self, sql: &str, digest: &[u8; 32]) -> Result<Option<PortalId>, ApiError> {
        self.opt(sql, &args![digest], |r| r.int(0))
    }
}

impl PortalTx for SqlTx<'_> {
    fn portal_states(&mut self) -> Result<Vec<PortalState>, ApiError> {
        self.all(
            &format!("SELECT {STATE_COLUMNS} FROM portals ORDER BY id"),
            &args![],
            state_from_row,
        )
    }

    fn portal_state(&mut self, portal: PortalId) -> Result<Option<PortalState>, ApiError> {
        self.opt(
            &format!("SELECT {STATE_COLUMNS} FROM portals WHERE id = ?1"),
            &args![portal],
            state_from_row,
        )
    }

    fn portal_by_name(&mut self, name: &str) -> Result<Option<PortalId>, ApiError> {
        self.opt(
            "SELECT id FROM portals WHERE name = ?1",
            &args![name],
            |r| r.int(0),
        )
    }

    fn create_portal(&mut self, new: &NewPortal<'_>) -> Result<Option<PortalId>, ApiError> {
        if self.portal_by_name(new.name)?.is_some() {
            return Ok(None);
        }
        // Ids are never reused: a server-wide sequence (kept under portal 0) above every id
        // there ever was, so nothing a deleted portal left in a cache can name a new one.
        let highest = self
            .opt("SELECT COALESCE(MAX(id), 0) FROM portals", &args![], |r| {
                r.int(0)
            })?
            .unwrap_or(0);
        let next = self
            .opt(
                "INSERT INTO sequences (portal_id, name, value) VALUES (0, 'portal', ?1)
                 ON CONFLICT (portal_id, name) DO UPDATE SET value =
                     CASE WHEN sequences.value + 1 > ?1 THEN sequences.value + 1 ELSE ?1 END
                 RETURNING value",
                &args![highest + 1],
                |r| r.int(0),
            )?
            .unwrap_or(highest + 1);
        let now = self.now_iso();
        let inserted = self.exec(
            "INSERT INTO portals (id, name, domain, member_id, public_url, public_https_url,
                 plan, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (name) DO NOTHING",
            &args![
                next,
                new.name,
                new.domain,
                new.member_id,
                new.public_url,
                new.public_https_url,
                new.plan,
                &now
            ],
        )?;
        Ok((inserted == 1).then_some(next))
    }

    fn delete_portal(&mut self) -> Result<Option<u64>, ApiError> {
        if self.portal_state(self.portal)?.is_none() {
            return Ok(None);
        }
        let mut deleted: u64 = self.reset_portal(false)?.values().sum();
        // Limiter rows are keyed `{portal}|…` and went with the reset; what remains is kept
        // by a reset and goes with the portal.
        deleted += self.exec(
            "DELETE FROM snapshots WHERE portal_id = ?1",
            &args![self.portal],
        )?;
        deleted += self.exec("DELETE FROM portals WHERE id = ?1", &args![self.portal])?;
        Ok(Some(deleted))
    }

    fn name_portal_hosts(&mut self, http_port: &str, https_port: &str) -> Result<(), ApiError> {
        self.exec(
            "UPDATE portals SET
                 domain = name || '.localhost' || ?1,
                 public_url = 'http://' || name || '.localhost' || ?1,
                 public_https_url = CASE WHEN ?2 = '' THEN ''
                     ELSE 'https://' || name || '.localhost' || ?2 END
             WHERE id <> ?3",
            &args![http_port, https_port, super::DEFAULT_PORTAL],
        )?;
        Ok(())
    }

    fn portal_of_webhook(&mut self, code_digest: &[u8; 32]) -> Result<Option<PortalId>, ApiError> {
        self.portal_of(WEBHOOK_PORTAL, code_digest)
    }

    fn portal_of_access_token(&mut self, digest: &[u8; 32]) -> Result<Option<PortalId>, ApiError> {
        self.portal_of(ACCESS_TOKEN_PORTAL, digest)
    }

    fn portal_of_refresh_token(&mut self, digest: &[u8; 32]) -> Result<Option<PortalId>, ApiError> {
        self.portal_of(REFRESH_TOKEN_PORTAL, digest)
    }

    fn portal_of_auth_code(&mut self, digest: &[u8; 32]) -> Result<Option<PortalId>, ApiError> {
        self.portal_of(AUTH_CODE_PORTAL, digest)
    }

    fn enter_portal(&mut self, portal: PortalId) {
        self.portal = portal;
    }

    fn outbox_holds_rows(&mut self) -> Result<bool, ApiError> {
        Ok(self
            .opt(
                "SELECT 1 FROM event_outbox WHERE portal_id = ?1 LIMIT 1",
                &args![self.portal],
                |r| r.int(0),
            )?
            .is_some())
    }

    fn portals_with_outbox_rows(&mut self) -> Result<Vec<PortalId>, ApiError> {
        self.all(
            "SELECT DISTINCT portal_id FROM event_outbox",
            &args![],
            |r| r.int(0),
        )
    }

    fn portal_of_client_id(&mut self, client_id: &str) -> Result<Option<PortalId>, ApiError> {
        self.opt(
            "SELECT portal_id FROM oauth_apps WHERE client_id = ?1 ORDER BY portal_id LIMIT 1",
            &args![client_id],
            |r| r.int(0),
        )
    }
}
