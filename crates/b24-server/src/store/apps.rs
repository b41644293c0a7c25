//! Storage of browser applications on a portal (spec frame-host.md): whether an application is
//! installed here, its options and its users' options, who has run which version (`FIRST_RUN`),
//! the placements it bound, and the portal page's one-time launch codes and sessions (digests
//! only).

use super::driver::args;
use super::sql::SqlTx;
use super::Tx;
use crate::error::ApiError;
use serde_json::Value;

/// A bound placement (`placement.bind`).
#[derive(Debug, Clone, PartialEq)]
pub struct PlacementRecord {
    /// Its id (`placement.get` `id`).
    pub id: i64,
    /// The application.
    pub app_id: i64,
    /// The placement code, upper-case.
    pub placement: String,
    /// The page opened for it.
    pub handler: String,
    /// The user it is shown to; 0 for everyone.
    pub user_id: i64,
    /// `TITLE`.
    pub title: String,
    /// `DESCRIPTION`.
    pub description: String,
    /// `GROUP_NAME`.
    pub group_name: String,
    /// `OPTIONS`, as given.
    pub options: Value,
    /// `LANG_ALL`, as given.
    pub lang_all: Value,
}

/// What a launch code or a session cookie of the portal page stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct HostGrant {
    /// The signed-in user.
    pub user_id: i64,
    /// Where a launch code leads (a path of this server); empty for a session.
    pub target: String,
    /// Unix time it stops working.
    pub expires_at: f64,
}

/// An application's placements (`?1` portal, `?2` application), by id.
pub(crate) const PLACEMENTS_OF_APP: &str =
    "SELECT id, app_id, placement, handler, user_id, title, \
     description, group_name, options, lang_all \
     FROM placements WHERE portal_id = ?1 AND app_id = ?2 ORDER BY id";

/// An application's (or a user's) options (`?1` portal, `?2` application, `?3` user or 0).
pub(crate) const OPTIONS_OF: &str = "SELECT name, value FROM app_options \
     WHERE portal_id = ?1 AND app_id = ?2 AND user_id = ?3 ORDER BY name";

/// A launch code (one use) or a session of the portal page.
const LAUNCH: &str = "launch";
const SESSION: &str = "session";

/// The operations on browser applications of one portal.
pub trait AppHostTx {
    /// Whether the application is installed on this portal, and at which version (`None`:
    /// never installed here).
    fn app_install(&mut self, app_id: i64) -> Result<Option<(bool, i64)>, ApiError>;
    /// Records the application as installed (or not) at `version`.
    fn set_app_install(
        &mut self,
        app_id: i64,
        installed: bool,
        version: i64,
    ) -> Result<(), ApiError>;
    /// The application's options (`user_id` 0) or a user's options for it, by name.
    fn app_options(&mut self, app_id: i64, user_id: i64) -> Result<Vec<(String, Value)>, ApiError>;
    /// Sets one option (`user_id` 0: the application's).
    fn set_app_option(
        &mut self,
        app_id: i64,
        user_id: i64,
        name: &str,
        value: &Value,
    ) -> Result<(), ApiError>;
    /// Whether the user has run this version of the application (`setInstall`).
    fn app_has_run(&mut self, app_id: i64, user_id: i64, version: i64) -> Result<bool, ApiError>;
    /// Records that the user has run this version.
    fn mark_app_run(&mut self, app_id: i64, user_id: i64, version: i64) -> Result<(), ApiError>;
    /// Stores a placement; `false` when the same (placement, handler, user) is bound already.
    fn insert_placement(&mut self, record: &PlacementRecord) -> Result<bool, ApiError>;
    /// The application's placements, by id.
    fn placements_of_app(&mut self, app_id: i64) -> Result<Vec<PlacementRecord>, ApiError>;
    /// Deletes the application's bindings of a placement (of one handler and one user when
    /// given); answers how many.
    fn delete_placements(
        &mut self,
        app_id: i64,
        placement: &str,
        handler: Option<&str>,
        user_id: Option<i64>,
    ) -> Result<u64, ApiError>;
    /// Stores a one-time launch code (`target` non-empty) or a session, by digest.
    fn insert_host_grant(&mut self, digest: &[u8; 32], grant: &HostGrant) -> Result<(), ApiError>;
    /// Removes and returns a launch code (whatever its age: the caller checks it).
    fn take_launch_code(&mut self, digest: &[u8; 32]) -> Result<Option<HostGrant>, ApiError>;
    /// A session by its cookie's digest.
    fn host_session(&mut self, digest: &[u8; 32]) -> Result<Option<HostGrant>, ApiError>;
}

fn placement_from_row(r: &dyn super::driver::SqlRow) -> Result<PlacementRecord, ApiError> {
    let json = |i: usize| -> Result<Value, ApiError> {
        Ok(serde_json::from_str(&r.text(i)?).unwrap_or(Value::Null))
    };
    Ok(PlacementRecord {
        id: r.int(0)?,
        app_id: r.int(1)?,
        placement: r.text(2)?,
        handler: r.text(3)?,
        user_id: r.int(4)?,
        title: r.text(5)?,
        description: r.text(6)?,
        group_name: r.text(7)?,
        options: json(8)?,
        lang_all: json(9)?,
    })
}

fn grant_from_row(r: &dyn super::driver::SqlRow) -> Result<HostGrant, ApiError> {
    Ok(HostGrant {
        user_id: r.int(0)?,
        target: r.text(1)?,
        expires_at: r.real(2)?,
    })
}

impl AppHostTx for SqlTx<'_> {
    fn app_install(&mut self, app_id: i64) -> Result<Option<(bool, i64)>, ApiError> {
        self.opt(
            "SELECT installed, version FROM app_installs WHERE portal_id = ?1 AND app_id = ?2",
            &args![self.portal, app_id],
            |r| Ok((r.bool(0)?, r.int(1)?)),
        )
    }

    fn set_app_install(
        &mut self,
        app_id: i64,
        installed: bool,
        version: i64,
    ) -> Result<(), ApiError> {
        self.exec(
            "INSERT INTO app_installs (portal_id, app_id, installed, version)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (portal_id, app_id)
             DO UPDATE SET installed = excluded.installed, version = excluded.version",
            &args![self.portal, app_id, installed, version],
        )?;
        Ok(())
    }

    fn app_options(&mut self, app_id: i64, user_id: i64) -> Result<Vec<(String, Value)>, ApiError> {
        self.all(OPTIONS_OF, &args![self.portal, app_id, user_id], |r| {
            Ok((
                r.text(0)?,
                serde_json::from_str(&r.text(1)?).unwrap_or(Value::Null),
            ))
        })
    }

    fn set_app_option(
        &mut self,
        app_id: i64,
        user_id: i64,
        name: &str,
        value: &Value,
    ) -> Result<(), ApiError> {
        self.exec(
            "INSERT INTO app_options (portal_id, app_id, user_id, name, value)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (portal_id, app_id, user_id, name) DO UPDATE SET value = excluded.value",
            &args![self.portal, app_id, user_id, name, &value.to_string()],
        )?;
        Ok(())
    }

    fn app_has_run(&mut self, app_id: i64, user_id: i64, version: i64) -> Result<bool, ApiError> {
        Ok(self
            .opt(
                "SELECT 1 FROM app_user_runs
                 WHERE portal_id = ?1 AND app_id = ?2 AND user_id = ?3 AND version = ?4",
                &args![self.portal, app_id, user_id, version],
                |_| Ok(()),
            )?
            .is_some())
    }

    fn mark_app_run(&mut self, app_id: i64, user_id: i64, version: i64) -> Result<(), ApiError> {
        self.exec(
            "INSERT INTO app_user_runs (portal_id, app_id, user_id, version)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (portal_id, app_id, user_id, version) DO NOTHING",
            &args![self.portal, app_id, user_id, version],
        )?;
        Ok(())
    }

    fn insert_placement(&mut self, record: &PlacementRecord) -> Result<bool, ApiError> {
        let id = self.next_id("placement")?;
        let n = self.exec(
            "INSERT INTO placements (portal_id, id, app_id, placement, handler, user_id, title,
                 description, group_name, options, lang_all)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (portal_id, app_id, placement, handler, user_id) DO NOTHING",
            &args![
                self.portal,
                id,
                record.app_id,
                &record.placement,
                &record.handler,
                record.user_id,
                &record.title,
                &record.description,
                &record.group_name,
                &record.options.to_string(),
                &record.lang_all.to_string(),
            ],
        )?;
        Ok(n == 1)
    }

    fn placements_of_app(&mut self, app_id: i64) -> Result<Vec<PlacementRecord>, ApiError> {
        self.all(
            PLACEMENTS_OF_APP,
            &args![self.portal, app_id],
            placement_from_row,
        )
    }

    fn delete_placements(
        &mut self,
        app_id: i64,
        placement: &str,
        handler: Option<&str>,
        user_id: Option<i64>,
    ) -> Result<u64, ApiError> {
        let handler = handler.unwrap_or("");
        // One statement per shape: PostgreSQL types a parameter once, so "no handler given"
        // cannot be a parameter compared with both '' and the column.
        let base = "DELETE FROM placements WHERE portal_id = ?1 AND app_id = ?2 AND placement = ?3";
        match (handler.is_empty(), user_id) {
            (true, None) => self.exec(base, &args![self.portal, app_id, placement]),
            (false, None) => self.exec(
                &format!("{base} AND handler = ?4"),
                &args![self.portal, app_id, placement, handler],
            ),
            (true, Some(user)) => self.exec(
                &format!("{base} AND user_id = ?4"),
                &args![self.portal, app_id, placement, user],
            ),
            (false, Some(user)) => self.exec(
                &format!("{base} AND handler = ?4 AND user_id = ?5"),
                &args![self.portal, app_id, placement, handler, user],
            ),
        }
    }

    fn insert_host_grant(&mut self, digest: &[u8; 32], grant: &HostGrant) -> Result<(), ApiError> {
        let kind = if grant.target.is_empty() {
            SESSION
        } else {
            LAUNCH
        };
        self.exec(
            "INSERT INTO host_sessions (portal_id, digest, kind, user_id, target, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &args![
                self.portal,
                digest,
                kind,
                grant.user_id,
                &grant.target,
                grant.expires_at
            ],
        )?;
        Ok(())
    }

    fn take_launch_code(&mut self, digest: &[u8; 32]) -> Result<Option<HostGrant>, ApiError> {
        let grant = self.opt(
            "SELECT user_id, target, expires_at FROM host_sessions
             WHERE portal_id = ?1 AND digest = ?2 AND kind = ?3",
            &args![self.portal, digest, LAUNCH],
            grant_from_row,
        )?;
        if grant.is_some() {
            self.exec(
                "DELETE FROM host_sessions WHERE portal_id = ?1 AND digest = ?2",
                &args![self.portal, digest],
            )?;
        }
        Ok(grant)
    }

    fn host_session(&mut self, digest: &[u8; 32]) -> Result<Option<HostGrant>, ApiError> {
        self.opt(
            "SELECT user_id, target, expires_at FROM host_sessions
             WHERE portal_id = ?1 AND digest = ?2 AND kind = ?3",
            &args![self.portal, digest, SESSION],
            grant_from_row,
        )
    }
}
