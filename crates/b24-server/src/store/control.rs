//! Storage of the test-double controls (`/_b24/`) that are not CRM data: server-wide settings
//! such as the admin token's digest. Each control family keeps its statements in a file of its
//! own like this one, as a trait that [`super::Tx`] includes, so they are written once for both
//! backends and reached through the same transaction as everything else.

use super::driver::{args, Arg};
use super::sql::SqlTx;
use crate::error::ApiError;

/// The name under which the admin token's digest is kept in `server_settings`.
const ADMIN_TOKEN: &str = "admin_token_digest";

/// Server-wide settings, shared by every portal and every server process on the database.
pub trait ControlTx {
    /// The digest of the admin token, once one was made.
    fn admin_token_digest(&mut self) -> Result<Option<[u8; 32]>, ApiError>;
    /// Stores the admin token's digest: replacing the one stored, or only when there is none
    /// yet (`replace` false: two processes starting at once keep the first). Returns whether it
    /// was stored.
    fn set_admin_token_digest(
        &mut self,
        digest: &[u8; 32],
        replace: bool,
    ) -> Result<bool, ApiError>;
    /// The portal clock's setting: seconds added to real time, and the instant it is frozen
    /// at, if any.
    fn clock_setting(&mut self) -> Result<(f64, Option<f64>), ApiError>;
    /// Stores the portal clock's setting.
    fn set_clock_setting(&mut self, offset: f64, frozen_at: Option<f64>) -> Result<(), ApiError>;
    /// Makes the portal's live OAuth access tokens (of one application, or of all) expire now;
    /// returns how many did.
    fn expire_access_tokens(&mut self, app_id: Option<i64>) -> Result<u64, ApiError>;
}

impl ControlTx for SqlTx<'_> {
    fn admin_token_digest(&mut self) -> Result<Option<[u8; 32]>, ApiError> {
        let stored = self.opt(
            "SELECT value FROM server_settings WHERE name = ?1",
            &args![ADMIN_TOKEN],
            |r| r.blob(0),
        )?;
        Ok(stored.and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok()))
    }

    fn set_admin_token_digest(
        &mut self,
        digest: &[u8; 32],
        replace: bool,
    ) -> Result<bool, ApiError> {
        let sql = if replace {
            "INSERT INTO server_settings (name, value) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value"
        } else {
            "INSERT INTO server_settings (name, value) VALUES (?1, ?2)
             ON CONFLICT (name) DO NOTHING"
        };
        Ok(self.exec(sql, &args![ADMIN_TOKEN, digest])? == 1)
    }

    fn clock_setting(&mut self) -> Result<(f64, Option<f64>), ApiError> {
        let setting = self.opt(
            "SELECT clock_offset, clock_frozen_at FROM portals WHERE id = ?1",
            &args![self.portal],
            |r| Ok((r.real(0)?, r.opt_real(1)?)),
        )?;
        Ok(setting.unwrap_or((0.0, None)))
    }

    fn set_clock_setting(&mut self, offset: f64, frozen_at: Option<f64>) -> Result<(), ApiError> {
        let frozen = frozen_at.map_or(Arg::Null, Arg::Real);
        self.exec(
            "UPDATE portals SET clock_offset = ?2, clock_frozen_at = ?3 WHERE id = ?1",
            &[Arg::Int(self.portal), Arg::Real(offset), frozen],
        )?;
        Ok(())
    }

    fn expire_access_tokens(&mut self, app_id: Option<i64>) -> Result<u64, ApiError> {
        // A second before now: expiry is checked as `access_expires <= now`.
        let expired_at = self.now - 1.0;
        match app_id {
            Some(app_id) => self.exec(
                "UPDATE oauth_tokens SET access_expires = ?3
                 WHERE portal_id = ?1 AND app_id = ?2 AND access_expires > ?4",
                &args![self.portal, app_id, expired_at, self.now],
            ),
            None => self.exec(
                "UPDATE oauth_tokens SET access_expires = ?2
                 WHERE portal_id = ?1 AND access_expires > ?3",
                &args![self.portal, expired_at, self.now],
            ),
        }
    }
}
