//! The one implementation of [`Tx`], for both backends: every statement is written here once and
//! runs on whichever [`Conn`] the store opened. Row decoding is written once too. Placeholders are
//! SQLite's numbered `?1`; the PostgreSQL connection turns them into `$1` when it prepares a
//! statement (once per connection).

use super::driver::{args, Arg, Conn, Dialect, Expect, SqlRow};
use super::lists::{self, PageSql};
use super::*;
use crate::clock::iso;
use b24_protocol::{ErrorCode, RestError};

/// A transaction of one portal on one backend connection.
pub struct SqlTx<'a> {
    pub(super) conn: &'a mut dyn Conn,
    pub(super) dialect: Dialect,
    pub(super) portal: PortalId,
    pub(super) now: f64,
    /// Write transactions lock the activity rows they read (see [`Dialect::lock_row`]).
    pub(super) writing: bool,
    /// The bindings of the activity read last, until the next statement that may write: a
    /// binding change reads them twice (the rights check, then the list itself), and on
    /// PostgreSQL each read is a round trip.
    bindings_read: Option<(i64, Vec<Binding>)>,
    /// What this transaction knows of the smart-process types and user fields (see
    /// [`super::catalogue`]).
    pub(super) catalogue: super::catalogue::TxCatalogue,
    /// The assignee of one item (entity type, id), read with an activity for a binding change
    /// (see [`Tx::activity_and_item`]), likewise until the next statement that may write.
    assignee_read: Option<((i64, i64), Option<i64>)>,
}

impl<'a> SqlTx<'a> {
    /// A transaction on `conn`, which the caller has opened and will commit or roll back.
    pub fn new(conn: &'a mut dyn Conn, portal: PortalId, now: f64, writing: bool) -> Self {
        let dialect = conn.dialect();
        Self {
            conn,
            dialect,
            portal,
            now,
            writing,
            bindings_read: None,
            catalogue: Default::default(),
            assignee_read: None,
        }
    }

    /// Whether this is a write transaction (which locks the rows it reads for change).
    pub(super) fn is_writing(&self) -> bool {
        self.writing
    }

    /// Runs a statement, returning how many rows it changed.
    pub(super) fn exec(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, ApiError> {
        self.forget_reads();
        let changed = self.conn.execute(sql, args)?;
        if changed > 0 {
            self.catalogue.note(sql, args);
        }
        Ok(changed)
    }

    /// Runs a write whose changed-row count nobody needs now: on PostgreSQL it is sent with the
    /// next statement (see [`Conn::execute_later`]).
    pub(super) fn exec_later(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        expect: Option<Expect>,
    ) -> Result<(), ApiError> {
        self.forget_reads();
        // Its changed rows are not known yet: noted as if it changed some.
        self.catalogue.note(sql, args);
        self.conn.execute_later(sql, args, expect)
    }

    /// Forgets the bindings and the assignee remembered: a write may change them.
    fn forget_reads(&mut self) {
        self.bindings_read = None;
        self.assignee_read = None;
    }

    /// Forgets what reads remembered if `sql` may write (anything but a `SELECT`).
    fn may_write(&mut self, sql: &str, args: &[Arg<'_>]) {
        let head = sql.trim_start().as_bytes();
        if !(head.len() >= 6 && head[..6].eq_ignore_ascii_case(b"SELECT")) {
            self.forget_reads();
            self.catalogue.note(sql, args);
        }
    }

    /// At most one row, decoded (the first when there are more).
    pub(super) fn opt<T>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        decode: impl Fn(&dyn SqlRow) -> Result<T, ApiError>,
    ) -> Result<Option<T>, ApiError> {
        self.may_write(sql, args);
        let mut out = None;
        self.conn.query(sql, args, &mut |row| {
            if out.is_none() {
                out = Some(decode(row)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Every row, decoded.
    pub(super) fn all<T>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        decode: impl Fn(&dyn SqlRow) -> Result<T, ApiError>,
    ) -> Result<Vec<T>, ApiError> {
        self.may_write(sql, args);
        let mut out = Vec::new();
        self.conn.query(sql, args, &mut |row| {
            out.push(decode(row)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// A page statement and, when asked, its count statement with the same arguments.
    pub(super) fn page<T>(
        &mut self,
        sql: &PageSql<'_>,
        count: bool,
        decode: impl Fn(&dyn SqlRow) -> Result<T, ApiError>,
    ) -> Result<PageOf<T>, ApiError> {
        let total = if count {
            let n = self.opt(&sql.count, &sql.args, |r| r.int(0))?.unwrap_or(0);
            Some(n.max(0) as u64)
        } else {
            None
        };
        let rows = self.all(&sql.page, &sql.args, decode)?;
        Ok(PageOf { rows, total })
    }

    /// [`Tx::activity`], and with `item` [`Tx::activity_and_item`].
    fn activity_with(
        &mut self,
        id: i64,
        item: Option<Binding>,
    ) -> Result<Option<ActivityRecord>, ApiError> {
        // In a write transaction the row stays locked until commit: concurrent binding changes
        // and deletes of one activity (from any process) run one after the other.
        let lock = self.dialect.lock_row(self.writing);
        let sql = format!(
            "SELECT {ACTIVITY_COLUMNS} FROM activities WHERE portal_id = ?1 AND id = ?2{lock}"
        );
        // Its bindings come with it (on PostgreSQL in the same round trip): nearly every path
        // that reads an activity then checks its rights through them. They are read by a
        // statement of their own, after the lock is taken, so they are what the lock's previous
        // holder committed; and kept until this transaction's next write (see `bindings`).
        // An item a binding change names is read in that round trip too.
        let args = args![self.portal, id];
        let target = item.unwrap_or(Binding::new(0, 0));
        let item_args = args![self.portal, target.entity_type_id, target.entity_id];
        let mut queries = vec![(sql.as_str(), &args[..]), (BINDINGS_OF_ACTIVITY, &args[..])];
        if item.is_some() {
            queries.push((ITEM_ASSIGNEE, &item_args[..]));
        }
        let mut activity = None;
        let mut bindings = Vec::new();
        let mut assignee = None;
        self.conn.query_many(&queries, &mut |query, row| {
            match query {
                0 if activity.is_none() => activity = Some(activity_from_row(row)?),
                0 => {}
                1 => bindings.push(Binding::new(row.int(0)?, row.int(1)?)),
                _ => assignee = Some(row.int(0)?),
            }
            Ok(())
        })?;
        self.bindings_read = Some((id, bindings));
        self.assignee_read = item.map(|item| ((item.entity_type_id, item.entity_id), assignee));
        Ok(activity)
    }

    /// A JSON object as stored text. PostgreSQL reads it as `jsonb` in list filters, which cannot
    /// hold `\u0000`: such text is refused there as the caller's input rather than stored to
    /// break later reads.
    pub(super) fn json_text(&self, map: &Map<String, Value>) -> Result<String, ApiError> {
        fn has_nul(value: &Value) -> bool {
            match value {
                Value::String(text) => text.contains('\0'),
                Value::Array(values) => values.iter().any(has_nul),
                Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
                _ => false,
            }
        }
        if !self.dialect.text_holds_nul() && map.iter().any(|(k, v)| k.contains('\0') || has_nul(v))
        {
            return Err(RestError::with_message(ErrorCode::InvalidArgValue, NUL_IN_TEXT).into());
        }
        serde_json::to_string(map).map_err(|e| ApiError::internal(e.into()))
    }

    /// Items of a type, from `crm_item_counts`.
    fn item_count(&mut self, entity_type_id: i64) -> Result<u64, ApiError> {
        let items = self.opt(
            "SELECT items FROM crm_item_counts WHERE portal_id = ?1 AND entity_type_id = ?2",
            &args![self.portal, entity_type_id],
            |r| r.int(0),
        )?;
        Ok(items.unwrap_or(0).max(0) as u64)
    }

    /// Keeps `crm_item_counts` in step with `crm_items` (same transaction; in PostgreSQL the row
    /// lock makes concurrent writers of one type add up).
    fn count_items(&mut self, entity_type_id: i64, change: i64) -> Result<(), ApiError> {
        self.exec(
            "INSERT INTO crm_item_counts (portal_id, entity_type_id, items) VALUES (?1, ?2, ?3)
             ON CONFLICT (portal_id, entity_type_id) DO UPDATE SET items = crm_item_counts.items + ?3",
            &args![self.portal, entity_type_id, change],
        )?;
        Ok(())
    }
}

/// What a caller is told when text holds a NUL character where the backend cannot store one.
pub const NUL_IN_TEXT: &str = "Invalid argument value: text cannot contain the NUL character";

/// A record's columns and its decoder from one list, so that the two cannot drift apart: the
/// column names are the field names, read in order with the named getter.
macro_rules! rows_of {
    ($(#[$doc:meta])* $vis:vis $columns:ident, $decode:ident -> $record:ident {
        $($field:ident: $get:ident),* $(,)?
    }) => {
        $(#[$doc])*
        $vis const $columns: &str = stringify!($($field),*);

        $vis fn $decode(r: &dyn SqlRow) -> Result<$record, ApiError> {
            let mut index = 0..;
            let mut next = || index.next().unwrap_or_default();
            Ok($record { $($field: $get(r, next())?),* })
        }
    };
}

fn int(r: &dyn SqlRow, index: usize) -> Result<i64, ApiError> {
    r.int(index)
}

fn real(r: &dyn SqlRow, index: usize) -> Result<f64, ApiError> {
    r.real(index)
}

fn flag(r: &dyn SqlRow, index: usize) -> Result<bool, ApiError> {
    r.bool(index)
}

fn text(r: &dyn SqlRow, index: usize) -> Result<String, ApiError> {
    r.text(index)
}

/// A JSON object stored as text; unreadable text reads as an empty object.
pub(super) fn json_map(r: &dyn SqlRow, index: usize) -> Result<Map<String, Value>, ApiError> {
    Ok(serde_json::from_str(&r.text(index)?).unwrap_or_default())
}

/// A JSON value stored as text; unreadable text reads as `null`.
fn json_value(r: &dyn SqlRow, index: usize) -> Result<Value, ApiError> {
    Ok(serde_json::from_str(&r.text(index)?).unwrap_or(Value::Null))
}

/// A flag stored as a `BIGINT` 0 / 1 (part of a unique key in the offline queue).
fn int_flag(r: &dyn SqlRow, index: usize) -> Result<bool, ApiError> {
    Ok(r.int(index)? != 0)
}

fn digest(r: &dyn SqlRow, index: usize) -> Result<[u8; 32], ApiError> {
    Ok(r.blob(index)?.try_into().unwrap_or([0; 32]))
}

/// Scope names stored comma-separated.
fn scopes(r: &dyn SqlRow, index: usize) -> Result<Vec<String>, ApiError> {
    Ok(r.text(index)?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

rows_of!(PORTAL_COLUMNS, portal_from_row -> Portal {
    id: int, domain: text, member_id: text, public_url: text, rest_enabled: flag, closed: flag,
    public_https_url: text,
});

rows_of!(USER_COLUMNS, user_from_row -> User {
    id: int, name: text, last_name: text, admin: flag, active: flag, last_activity: text,
});

rows_of!(
    /// The columns of an item row, in the order its decoder reads them.
    pub ITEM_COLUMNS, item_from_row -> ItemRecord {
    entity_type_id: int, id: int, title: text, assigned_by_id: int, created_by: int,
    updated_by: int, created_time: text, updated_time: text, extra: json_map,
});

rows_of!(
    /// The columns of a smart-process type row, in the order its decoder reads them.
    pub(super) DYNAMIC_TYPE_COLUMNS, dynamic_type_from_row -> DynamicTypeRecord {
    id: int, entity_type_id: int, title: text, created_by: int, updated_by: int,
    created_time: text, updated_time: text, settings: json_map,
});

rows_of!(
    /// The columns of an activity row, in the order its decoder reads them.
    pub ACTIVITY_COLUMNS, activity_from_row -> ActivityRecord {
    id: int, type_id: int, provider_id: text, provider_type_id: text, subject: text,
    description: text, responsible_id: int, author_id: int, editor_id: int, owner_type_id: int,
    owner_id: int, deadline: text, start_time: text, end_time: text, completed: flag, status: int,
    priority: int, direction: int, created: text, last_updated: text, extra: json_map,
});

/// The values of an activity row: the portal, then [`ACTIVITY_COLUMNS`] in order (`?1`..`?22`).
fn activity_values<'a>(
    portal: PortalId,
    id: i64,
    a: &'a ActivityRecord,
    extra: &'a str,
) -> [Arg<'a>; 22] {
    args![
        portal,
        id,
        a.type_id,
        &a.provider_id,
        &a.provider_type_id,
        &a.subject,
        &a.description,
        a.responsible_id,
        a.author_id,
        a.editor_id,
        a.owner_type_id,
        a.owner_id,
        &a.deadline,
        &a.start_time,
        &a.end_time,
        a.completed,
        a.status,
        a.priority,
        a.direction,
        &a.created,
        &a.last_updated,
        extra,
    ]
}

rows_of!(WEBHOOK_COLUMNS, webhook_from_row -> WebhookRecord {
    id: int, user_id: int, code_digest: digest, scopes: scopes, active: flag, created: text,
    blocked: flag,
});

rows_of!(APP_COLUMNS, app_from_row -> AppRecord {
    id: int, client_id: text, client_secret_digest: digest, application_token_digest: digest,
    name: text, scopes: scopes, redirect_uri: text, blocked: flag, handler_url: text,
    install_url: text, version: int, api_only: flag,
});

rows_of!(TOKEN_COLUMNS, token_from_row -> TokenRecord {
    access_digest: digest, refresh_digest: digest, app_id: int, user_id: int, scopes: scopes,
    access_expires: real, refresh_expires: real, refresh_used: flag,
});

rows_of!(HANDLER_COLUMNS, handler_from_row -> EventHandlerRecord {
    id: int, app_id: int, event_name: text, handler: text, user_id: int, connector_id: text,
});

/// Who an item is assigned to (`?1` portal, `?2` entity type, `?3` id).
const ITEM_ASSIGNEE: &str =
    "SELECT assigned_by_id FROM crm_items WHERE portal_id = ?1 AND entity_type_id = ?2 AND id = ?3";

/// The bindings of an activity (`?1` portal, `?2` activity), in the order they were made.
const BINDINGS_OF_ACTIVITY: &str = "SELECT entity_type_id, entity_id FROM activity_bindings \
     WHERE portal_id = ?1 AND activity_id = ?2 ORDER BY seq";

/// The handlers of one event (`?1` portal, `?2` event): run on every change.
pub const HANDLERS_FOR_EVENT: &str =
    "SELECT id, app_id, event_name, handler, user_id, connector_id \
     FROM event_handlers WHERE portal_id = ?1 AND event_name = ?2 ORDER BY id";

rows_of!(OUTBOX_COLUMNS, outbox_from_row -> OutboxRecord {
    id: int, handler_id: int, app_id: int, event_name: text, handler: text, auth_user_id: int,
    data: json_value, ts: int, attempts: int, next_attempt_at: real,
});

/// The outbox rows due (`?1` portal, `?2` now, `?3` limit), oldest first.
pub const DUE_OUTBOX: &str = "SELECT id, handler_id, app_id, event_name, handler, auth_user_id, \
     data, ts, attempts, next_attempt_at FROM event_outbox \
     WHERE portal_id = ?1 AND next_attempt_at <= ?2 ORDER BY next_attempt_at, id LIMIT ?3";

rows_of!(DELIVERY_COLUMNS, delivery_from_row -> DeliveryRecord {
    id: int, outbox_id: int, handler_id: int, event_name: text, handler: text, attempt: int,
    at: text, status: int, outcome: text, detail: text,
});

rows_of!(
    /// The columns of an offline-queue row, in the order its decoder reads them.
    pub OFFLINE_COLUMNS, offline_from_row -> OfflineEventRecord {
    id: int, app_id: int, connector_id: text, event_name: text, message_id: text, data: text,
    user_id: int, timestamp_x: text, process_id: text, error: int_flag,
});

/// A count that fits a bound `BIGINT` argument.
fn limit_arg(limit: u64) -> i64 {
    limit.min(i64::MAX as u64) as i64
}

impl Tx for SqlTx<'_> {
    fn portal(&self) -> PortalId {
        self.portal
    }

    fn now_iso(&self) -> String {
        iso(self.now)
    }

    fn next_id(&mut self, sequence: &str) -> Result<i64, ApiError> {
        let id = self.opt(
            "INSERT INTO sequences (portal_id, name, value) VALUES (?1, ?2, 1)
             ON CONFLICT (portal_id, name) DO UPDATE SET value = sequences.value + 1
             RETURNING value",
            &args![self.portal, sequence],
            |r| r.int(0),
        )?;
        id.ok_or_else(|| ApiError::internal(anyhow::anyhow!("the sequence returned no value")))
    }

    fn portal_row(&mut self) -> Result<Option<Portal>, ApiError> {
        self.opt(
            &format!("SELECT {PORTAL_COLUMNS} FROM portals WHERE id = ?1"),
            &args![self.portal],
            portal_from_row,
        )
    }

    fn ensure_portal(
        &mut self,
        domain: &str,
        member_id: &str,
        public_url: &str,
    ) -> Result<bool, ApiError> {
        let now = self.now_iso();
        let name = if self.portal == super::DEFAULT_PORTAL {
            "default".to_string()
        } else {
            format!("portal-{}", self.portal)
        };
        let n = self.exec(
            "INSERT INTO portals (id, name, domain, member_id, public_url, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO NOTHING",
            &args![self.portal, &name, domain, member_id, public_url, &now],
        )?;
        Ok(n == 1)
    }

    fn set_public_url(&mut self, public_url: &str, https: &str) -> Result<(), ApiError> {
        self.exec(
            "UPDATE portals SET public_url = ?2, public_https_url = ?3 WHERE id = ?1",
            &args![self.portal, public_url, https],
        )?;
        Ok(())
    }

    fn plan(&mut self) -> Result<Option<String>, ApiError> {
        self.opt(
            "SELECT plan FROM portals WHERE id = ?1",
            &args![self.portal],
            |r| r.text(0),
        )
    }

    fn set_plan(&mut self, plan: &str) -> Result<bool, ApiError> {
        let n = self.exec(
            "UPDATE portals SET plan = ?2 WHERE id = ?1",
            &args![self.portal, plan],
        )?;
        Ok(n == 1)
    }

    fn user(&mut self, id: i64) -> Result<Option<User>, ApiError> {
        self.opt(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE portal_id = ?1 AND id = ?2"),
            &args![self.portal, id],
            user_from_row,
        )
    }

    fn note_user_activity(
        &mut self,
        id: i64,
        now: &str,
        stale_before: &str,
    ) -> Result<(), ApiError> {
        self.exec(
            "UPDATE users SET last_activity = ?3
             WHERE portal_id = ?1 AND id = ?2 AND last_activity < ?4",
            &args![self.portal, id, now, stale_before],
        )?;
        Ok(())
    }

    fn insert_user(&mut self, name: &str, last_name: &str, admin: bool) -> Result<i64, ApiError> {
        let id = self.next_id("user")?;
        let now = self.now_iso();
        // Registered, changed and last seen now, in the root department (`user.get` shows it).
        self.exec(
            "INSERT INTO users (portal_id, id, name, last_name, admin, active, created,
                 timestamp_x, last_login, last_activity)
             VALUES (?1, ?2, ?3, ?4, ?5, TRUE, ?6, ?6, ?6, ?6)",
            &args![self.portal, id, name, last_name, admin, &now],
        )?;
        self.exec(
            "INSERT INTO user_departments (portal_id, user_id, department_id)
             SELECT portal_id, ?2, id FROM departments WHERE portal_id = ?1 AND id = 1",
            &args![self.portal, id],
        )?;
        Ok(id)
    }

    fn user_rights(&mut self, user_id: i64) -> Result<Vec<(i64, Action, Level)>, ApiError> {
        let rows = self.all(
            "SELECT entity_type_id, action, level FROM user_rights WHERE portal_id = ?1 AND user_id = ?2",
            &args![self.portal, user_id],
            |r| Ok((r.int(0)?, r.text(1)?, r.text(2)?)),
        )?;
        // Rows are written only through `set_user_right`; an unreadable one grants nothing.
        Ok(rows
            .into_iter()
            .filter_map(|(t, action, level)| Some((t, action.parse().ok()?, level.parse().ok()?)))
            .collect())
    }

    fn set_user_right(
        &mut self,
        user_id: i64,
        entity_type_id: i64,
        action: Action,
        level: Level,
    ) -> Result<(), ApiError> {
        self.exec(
            "INSERT INTO user_rights (portal_id, user_id, entity_type_id, action, level)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (portal_id, user_id, entity_type_id, action) DO UPDATE SET level = excluded.level",
            &args![
                self.portal,
                user_id,
                entity_type_id,
                action.as_str(),
                level.as_str()
            ],
        )?;
        Ok(())
    }

    fn set_rest_enabled(&mut self, enabled: bool) -> Result<(), ApiError> {
        self.exec(
            "UPDATE portals SET rest_enabled = ?2 WHERE id = ?1",
            &args![self.portal, enabled],
        )?;
        Ok(())
    }

    fn set_closed(&mut self, closed: bool) -> Result<(), ApiError> {
        self.exec(
            "UPDATE portals SET closed = ?2 WHERE id = ?1",
            &args![self.portal, closed],
        )?;
        Ok(())
    }

    fn set_webhook_blocked(&mut self, id: i64, blocked: bool) -> Result<bool, ApiError> {
        let n = self.exec(
            "UPDATE webhooks SET blocked = ?3 WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id, blocked],
        )?;
        Ok(n == 1)
    }

    fn insert_app(&mut self, app: &AppRecord) -> Result<i64, ApiError> {
        let id = self.next_id("app")?;
        let (now, scopes) = (self.now_iso(), app.scopes.join(","));
        self.exec(
            "INSERT INTO oauth_apps (portal_id, id, client_id, client_secret_digest,
                 application_token_digest, name, scopes, redirect_uri, blocked, created,
                 handler_url, install_url, version, api_only)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, FALSE, ?9, ?10, ?11, ?12, ?13)",
            &args![
                self.portal,
                id,
                &app.client_id,
                &app.client_secret_digest,
                &app.application_token_digest,
                &app.name,
                &scopes,
                &app.redirect_uri,
                &now,
                &app.handler_url,
                &app.install_url,
                app.version,
                app.api_only,
            ],
        )?;
        Ok(id)
    }

    fn app_by_client_id(&mut self, client_id: &str) -> Result<Option<AppRecord>, ApiError> {
        self.opt(
            &format!(
                "SELECT {APP_COLUMNS} FROM oauth_apps WHERE portal_id = ?1 AND client_id = ?2"
            ),
            &args![self.portal, client_id],
            app_from_row,
        )
    }

    fn app(&mut self, id: i64) -> Result<Option<AppRecord>, ApiError> {
        self.opt(
            &format!("SELECT {APP_COLUMNS} FROM oauth_apps WHERE portal_id = ?1 AND id = ?2"),
            &args![self.portal, id],
            app_from_row,
        )
    }

    fn apps_after(&mut self, after: i64, limit: u64) -> Result<Vec<AppRecord>, ApiError> {
        self.all(
            &format!(
                "SELECT {APP_COLUMNS} FROM oauth_apps WHERE portal_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
            ),
            &args![self.portal, after, limit as i64],
            app_from_row,
        )
    }

    fn set_app_blocked(&mut self, id: i64, blocked: bool) -> Result<(), ApiError> {
        self.exec(
            "UPDATE oauth_apps SET blocked = ?3 WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id, blocked],
        )?;
        Ok(())
    }

    fn set_app_user(&mut self, app_id: i64, user_id: i64, allowed: bool) -> Result<(), ApiError> {
        let sql = if allowed {
            "INSERT INTO oauth_app_users (portal_id, app_id, user_id) VALUES (?1, ?2, ?3)
             ON CONFLICT (portal_id, app_id, user_id) DO NOTHING"
        } else {
            "DELETE FROM oauth_app_users WHERE portal_id = ?1 AND app_id = ?2 AND user_id = ?3"
        };
        self.exec(sql, &args![self.portal, app_id, user_id])?;
        Ok(())
    }

    fn app_user_allowed(&mut self, app_id: i64, user_id: i64) -> Result<bool, ApiError> {
        Ok(self
            .opt(
                "SELECT 1 FROM oauth_app_users WHERE portal_id = ?1 AND app_id = ?2 AND user_id = ?3",
                &args![self.portal, app_id, user_id],
                |_| Ok(()),
            )?
            .is_some())
    }

    fn insert_auth_code(
        &mut self,
        digest: &[u8; 32],
        app_id: i64,
        user_id: i64,
        expires_at: f64,
    ) -> Result<(), ApiError> {
        self.exec(
            "INSERT INTO oauth_codes (portal_id, code_digest, app_id, user_id, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            &args![self.portal, digest, app_id, user_id, expires_at],
        )?;
        Ok(())
    }

    fn take_auth_code(&mut self, digest: &[u8; 32]) -> Result<Option<(i64, i64, f64)>, ApiError> {
        self.opt(
            "DELETE FROM oauth_codes WHERE portal_id = ?1 AND code_digest = ?2
             RETURNING app_id, user_id, expires_at",
            &args![self.portal, digest],
            |r| Ok((r.int(0)?, r.int(1)?, r.real(2)?)),
        )
    }

    fn insert_token(&mut self, t: &TokenRecord) -> Result<(), ApiError> {
        let scopes = t.scopes.join(",");
        self.exec(
            &format!(
                "INSERT INTO oauth_tokens (portal_id, {TOKEN_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            &args![
                self.portal,
                &t.access_digest,
                &t.refresh_digest,
                t.app_id,
                t.user_id,
                &scopes,
                t.access_expires,
                t.refresh_expires,
                t.refresh_used,
            ],
        )?;
        Ok(())
    }

    fn token_by_access(&mut self, digest: &[u8; 32]) -> Result<Option<TokenRecord>, ApiError> {
        self.opt(
            &format!(
                "SELECT {TOKEN_COLUMNS} FROM oauth_tokens WHERE portal_id = ?1 AND access_digest = ?2"
            ),
            &args![self.portal, digest],
            token_from_row,
        )
    }

    fn token_by_refresh(&mut self, digest: &[u8; 32]) -> Result<Option<TokenRecord>, ApiError> {
        // A refresh grant reads the pair, then marks it used: concurrent grants with one token
        // queue here, and each later one reads it used.
        let lock = self.dialect.lock_row(self.writing);
        self.opt(
            &format!(
                "SELECT {TOKEN_COLUMNS} FROM oauth_tokens WHERE portal_id = ?1 AND refresh_digest = ?2{lock}"
            ),
            &args![self.portal, digest],
            token_from_row,
        )
    }

    fn use_refresh_token(&mut self, digest: &[u8; 32]) -> Result<(), ApiError> {
        self.exec(
            "UPDATE oauth_tokens SET refresh_used = TRUE WHERE portal_id = ?1 AND refresh_digest = ?2",
            &args![self.portal, digest],
        )?;
        Ok(())
    }

    fn webhooks_of_user(&mut self, user_id: i64) -> Result<Vec<WebhookRecord>, ApiError> {
        self.all(
            &format!(
                "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE portal_id = ?1 AND user_id = ?2 ORDER BY id"
            ),
            &args![self.portal, user_id],
            webhook_from_row,
        )
    }

    fn webhooks(&mut self) -> Result<Vec<WebhookRecord>, ApiError> {
        self.all(
            &format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE portal_id = ?1 ORDER BY id"),
            &args![self.portal],
            webhook_from_row,
        )
    }

    fn insert_webhook(
        &mut self,
        user_id: i64,
        code_digest: &[u8; 32],
        scopes: &[String],
    ) -> Result<i64, ApiError> {
        let id = self.next_id("webhook")?;
        let (now, scopes) = (self.now_iso(), scopes.join(","));
        self.exec(
            "INSERT INTO webhooks (portal_id, id, user_id, code_digest, scopes, active, created)
             VALUES (?1, ?2, ?3, ?4, ?5, TRUE, ?6)",
            &args![self.portal, id, user_id, code_digest, &scopes, &now],
        )?;
        Ok(id)
    }

    fn revoke_webhook(&mut self, id: i64) -> Result<bool, ApiError> {
        let n = self.exec(
            "UPDATE webhooks SET active = FALSE WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id],
        )?;
        Ok(n == 1)
    }

    fn item(&mut self, entity_type_id: i64, id: i64) -> Result<Option<ItemRecord>, ApiError> {
        // Updates read the whole row and write it back: two of them on one item must run one
        // after the other, or the first one's change is lost.
        let lock = self.dialect.lock_row(self.writing);
        self.opt(
            &format!(
                "SELECT {ITEM_COLUMNS} FROM crm_items WHERE portal_id = ?1 AND entity_type_id = ?2 AND id = ?3{lock}"
            ),
            &args![self.portal, entity_type_id, id],
            item_from_row,
        )
    }

    fn item_assignee(&mut self, entity_type_id: i64, id: i64) -> Result<Option<i64>, ApiError> {
        if let Some((item, assignee)) = self.assignee_read {
            if item == (entity_type_id, id) {
                return Ok(assignee);
            }
        }
        self.opt(
            ITEM_ASSIGNEE,
            &args![self.portal, entity_type_id, id],
            |r| r.int(0),
        )
    }

    fn insert_item(&mut self, item: &ItemRecord) -> Result<i64, ApiError> {
        let id = self.next_id(&format!("item:{}", item.entity_type_id))?;
        let extra = self.json_text(&item.extra)?;
        self.exec(
            "INSERT INTO crm_items (portal_id, entity_type_id, id, title, assigned_by_id, created_by,
                 updated_by, created_time, updated_time, extra)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            &args![
                self.portal,
                item.entity_type_id,
                id,
                &item.title,
                item.assigned_by_id,
                item.created_by,
                item.updated_by,
                &item.created_time,
                &item.updated_time,
                &extra,
            ],
        )?;
        self.count_items(item.entity_type_id, 1)?;
        self.index_communications(item.entity_type_id, id, Some(&item.extra))?;
        self.index_item_stage(item.entity_type_id, id, Some(&item.extra))?;
        self.index_user_field_values(item.entity_type_id, id, Some(&item.extra), false)?;
        Ok(id)
    }

    fn update_item(&mut self, item: &ItemRecord) -> Result<(), ApiError> {
        let extra = self.json_text(&item.extra)?;
        self.exec(
            "UPDATE crm_items SET title = ?4, assigned_by_id = ?5, created_by = ?6, updated_by = ?7,
                 created_time = ?8, updated_time = ?9, extra = ?10
             WHERE portal_id = ?1 AND entity_type_id = ?2 AND id = ?3",
            &args![
                self.portal,
                item.entity_type_id,
                item.id,
                &item.title,
                item.assigned_by_id,
                item.created_by,
                item.updated_by,
                &item.created_time,
                &item.updated_time,
                &extra,
            ],
        )?;
        self.index_communications(item.entity_type_id, item.id, Some(&item.extra))?;
        self.index_item_stage(item.entity_type_id, item.id, Some(&item.extra))?;
        self.index_user_field_values(item.entity_type_id, item.id, Some(&item.extra), true)
    }

    fn delete_item(&mut self, entity_type_id: i64, id: i64) -> Result<bool, ApiError> {
        let n = self.exec(
            "DELETE FROM crm_items WHERE portal_id = ?1 AND entity_type_id = ?2 AND id = ?3",
            &args![self.portal, entity_type_id, id],
        )?;
        if n == 1 {
            self.count_items(entity_type_id, -1)?;
            self.index_communications(entity_type_id, id, None)?;
            self.index_item_stage(entity_type_id, id, None)?;
            self.index_user_field_values(entity_type_id, id, None, true)?;
        }
        Ok(n == 1)
    }

    fn list_items(
        &mut self,
        entity_type_id: i64,
        query: &ListQuery,
    ) -> Result<PageOf<ItemRecord>, ApiError> {
        let sql = lists::items_page(self.dialect, self.portal, entity_type_id, query);
        if query.count && query.filter.matches_everything() {
            // The total of a whole type is kept in `crm_item_counts`: one row, not a table count.
            let mut page = self.page(&sql, false, item_from_row)?;
            page.total = Some(self.item_count(entity_type_id)?);
            return Ok(page);
        }
        self.page(&sql, query.count, item_from_row)
    }

    fn has_items(&mut self, entity_type_id: i64) -> Result<bool, ApiError> {
        Ok(self
            .opt(
                "SELECT 1 FROM crm_items WHERE portal_id = ?1 AND entity_type_id = ?2 LIMIT 1",
                &args![self.portal, entity_type_id],
                |_| Ok(()),
            )?
            .is_some())
    }

    fn dynamic_type(&mut self, id: i64) -> Result<Option<DynamicTypeRecord>, ApiError> {
        // `crm.type.update` reads the settings and writes them back whole.
        let lock = self.dialect.lock_row(self.writing);
        self.opt(
            &format!(
                "SELECT {DYNAMIC_TYPE_COLUMNS} FROM crm_dynamic_types WHERE portal_id = ?1 AND id = ?2{lock}"
            ),
            &args![self.portal, id],
            dynamic_type_from_row,
        )
    }

    fn dynamic_type_by_entity_type(
        &mut self,
        entity_type_id: i64,
    ) -> Result<Option<DynamicTypeRecord>, ApiError> {
        self.opt(
            &format!(
                "SELECT {DYNAMIC_TYPE_COLUMNS} FROM crm_dynamic_types
                 WHERE portal_id = ?1 AND entity_type_id = ?2"
            ),
            &args![self.portal, entity_type_id],
            dynamic_type_from_row,
        )
    }

    fn dynamic_entity_type_ids(&mut self) -> Result<Vec<i64>, ApiError> {
        self.all(
            "SELECT entity_type_id FROM crm_dynamic_types WHERE portal_id = ?1 ORDER BY entity_type_id",
            &args![self.portal],
            |r| r.int(0),
        )
    }

    fn insert_dynamic_type(&mut self, t: &DynamicTypeRecord) -> Result<i64, ApiError> {
        let id = self.next_id("dynamic_type")?;
        let settings = self.json_text(&t.settings)?;
        self.exec(
            &format!(
                "INSERT INTO crm_dynamic_types (portal_id, {DYNAMIC_TYPE_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            &args![
                self.portal,
                id,
                t.entity_type_id,
                &t.title,
                t.created_by,
                t.updated_by,
                &t.created_time,
                &t.updated_time,
                &settings,
            ],
        )?;
        Ok(id)
    }

    fn update_dynamic_type(&mut self, t: &DynamicTypeRecord) -> Result<(), ApiError> {
        let settings = self.json_text(&t.settings)?;
        self.exec(
            "UPDATE crm_dynamic_types SET title = ?3, updated_by = ?4, updated_time = ?5, settings = ?6
             WHERE portal_id = ?1 AND id = ?2",
            &args![
                self.portal,
                t.id,
                &t.title,
                t.updated_by,
                &t.updated_time,
                &settings,
            ],
        )?;
        Ok(())
    }

    fn delete_dynamic_type(&mut self, id: i64) -> Result<bool, ApiError> {
        let n = self.exec(
            "DELETE FROM crm_dynamic_types WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id],
        )?;
        Ok(n == 1)
    }

    fn list_dynamic_types(
        &mut self,
        offset: u64,
        limit: u64,
        count: bool,
    ) -> Result<PageOf<DynamicTypeRecord>, ApiError> {
        let sql = PageSql {
            page: format!(
                "SELECT {DYNAMIC_TYPE_COLUMNS} FROM crm_dynamic_types WHERE portal_id = ?1
                 ORDER BY id LIMIT {limit} OFFSET {offset}"
            ),
            count: "SELECT COUNT(*) FROM crm_dynamic_types WHERE portal_id = ?1".into(),
            args: vec![Arg::Int(self.portal)],
        };
        self.page(&sql, count, dynamic_type_from_row)
    }

    fn activity(&mut self, id: i64) -> Result<Option<ActivityRecord>, ApiError> {
        self.activity_with(id, None)
    }

    fn activity_and_item(
        &mut self,
        id: i64,
        item: Binding,
    ) -> Result<Option<ActivityRecord>, ApiError> {
        self.activity_with(id, Some(item))
    }

    fn insert_activity(&mut self, a: &ActivityRecord) -> Result<i64, ApiError> {
        let id = self.next_id("activity")?;
        let extra = self.json_text(&a.extra)?;
        self.exec(
            &format!(
                "INSERT INTO activities (portal_id, {ACTIVITY_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                         ?18, ?19, ?20, ?21, ?22)"
            ),
            &activity_values(self.portal, id, a, &extra),
        )?;
        Ok(id)
    }

    fn set_activity_owner(
        &mut self,
        id: i64,
        owner: Binding,
        editor_id: i64,
    ) -> Result<(), ApiError> {
        let now = self.now_iso();
        // SQLite rewrites an index entry for every indexed column a `SET` names, changed or not:
        // naming the owner columns moves the row's `activities_by_owner` entry out and back in,
        // which reads and writes one more page (a random one in a large database, where it costs
        // a read from the file, a WAL frame and a checkpoint write). A binding change rarely
        // changes the owner, so the row is first stamped only where its owner is already the
        // new one. PostgreSQL compares the values itself (an unchanged index key is a HOT
        // update) and gets the one statement, sent with the next.
        if self.dialect == Dialect::Sqlite {
            let stamped = self.exec(
                "UPDATE activities SET editor_id = ?5, last_updated = ?6
                 WHERE portal_id = ?1 AND id = ?2 AND owner_type_id = ?3 AND owner_id = ?4",
                &args![
                    self.portal,
                    id,
                    owner.entity_type_id,
                    owner.entity_id,
                    editor_id,
                    &now
                ],
            )?;
            if stamped > 0 {
                return Ok(());
            }
        }
        // Nothing is decided on its answer: on PostgreSQL it goes with the next statement.
        self.exec_later(
            "UPDATE activities SET owner_type_id = ?3, owner_id = ?4, editor_id = ?5, last_updated = ?6
             WHERE portal_id = ?1 AND id = ?2",
            &args![
                self.portal,
                id,
                owner.entity_type_id,
                owner.entity_id,
                editor_id,
                &now
            ],
            None,
        )
    }

    fn update_activity(&mut self, a: &ActivityRecord) -> Result<(), ApiError> {
        let extra = self.json_text(&a.extra)?;
        self.exec(
            "UPDATE activities SET type_id = ?3, provider_id = ?4, provider_type_id = ?5, subject = ?6,
                 description = ?7, responsible_id = ?8, author_id = ?9, editor_id = ?10,
                 owner_type_id = ?11, owner_id = ?12, deadline = ?13, start_time = ?14, end_time = ?15,
                 completed = ?16, status = ?17, priority = ?18, direction = ?19, created = ?20,
                 last_updated = ?21, extra = ?22
             WHERE portal_id = ?1 AND id = ?2",
            &activity_values(self.portal, a.id, a, &extra),
        )?;
        Ok(())
    }

    fn delete_activity(&mut self, id: i64) -> Result<bool, ApiError> {
        self.exec(
            "DELETE FROM activity_bindings WHERE portal_id = ?1 AND activity_id = ?2",
            &args![self.portal, id],
        )?;
        let n = self.exec(
            "DELETE FROM activities WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id],
        )?;
        Ok(n == 1)
    }

    fn list_activities(&mut self, query: &ListQuery) -> Result<PageOf<ActivityRecord>, ApiError> {
        let sql = lists::activities_page(self.dialect, self.portal, query);
        self.page(&sql, query.count, activity_from_row)
    }

    fn bindings(&mut self, activity_id: i64) -> Result<Vec<Binding>, ApiError> {
        if let Some((id, bindings)) = &self.bindings_read {
            if *id == activity_id {
                return Ok(bindings.clone());
            }
        }
        let bindings = self.all(
            BINDINGS_OF_ACTIVITY,
            &args![self.portal, activity_id],
            |r| Ok(Binding::new(r.int(0)?, r.int(1)?)),
        )?;
        self.bindings_read = Some((activity_id, bindings.clone()));
        Ok(bindings)
    }

    fn insert_binding(&mut self, activity_id: i64, b: Binding) -> Result<(), ApiError> {
        // The pair is the primary key: a pair bound already breaks it, and the call fails with
        // `ACTIVITY_IS_ALREADY_BOUND` (on PostgreSQL reported by the next statement or the
        // commit, and the transaction rolls back; a failed statement aborts it there anyway).
        // The order's unique key cannot be broken: `seq` is computed under the activity's lock.
        self.exec_later(
            "INSERT INTO activity_bindings (portal_id, activity_id, seq, entity_type_id, entity_id)
             VALUES (?1, ?2,
                 (SELECT COALESCE(MAX(seq), 0) + 1 FROM activity_bindings WHERE portal_id = ?1 AND activity_id = ?2),
                 ?3, ?4)",
            &args![self.portal, activity_id, b.entity_type_id, b.entity_id],
            Some(Expect::Unique(ErrorCode::ActivityIsAlreadyBound)),
        )
    }

    fn delete_binding(&mut self, activity_id: i64, b: Binding) -> Result<(), ApiError> {
        self.exec_later(
            "DELETE FROM activity_bindings
             WHERE portal_id = ?1 AND activity_id = ?2 AND entity_type_id = ?3 AND entity_id = ?4",
            &args![self.portal, activity_id, b.entity_type_id, b.entity_id],
            None,
        )
    }

    fn replace_bindings(&mut self, activity_id: i64, bindings: &[Binding]) -> Result<(), ApiError> {
        self.exec(
            "DELETE FROM activity_bindings WHERE portal_id = ?1 AND activity_id = ?2",
            &args![self.portal, activity_id],
        )?;
        for (seq, b) in bindings.iter().enumerate() {
            self.exec(
                "INSERT INTO activity_bindings (portal_id, activity_id, seq, entity_type_id, entity_id)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                &args![
                    self.portal,
                    activity_id,
                    seq as i64 + 1,
                    b.entity_type_id,
                    b.entity_id
                ],
            )?;
        }
        Ok(())
    }

    fn now_unix(&self) -> f64 {
        self.now
    }

    fn server_key(&mut self, name: &str, fresh: &[u8; 32]) -> Result<Vec<u8>, ApiError> {
        self.exec(
            "INSERT INTO server_keys (portal_id, name, secret) VALUES (?1, ?2, ?3)
             ON CONFLICT (portal_id, name) DO NOTHING",
            &args![self.portal, name, fresh],
        )?;
        let key = self.opt(
            "SELECT secret FROM server_keys WHERE portal_id = ?1 AND name = ?2",
            &args![self.portal, name],
            |r| r.blob(0),
        )?;
        key.ok_or_else(|| ApiError::internal(anyhow::anyhow!("the server key {name} is missing")))
    }

    fn insert_event_handler(&mut self, h: &EventHandlerRecord) -> Result<Option<i64>, ApiError> {
        let id = self.next_id("event_handler")?;
        let now = self.now_iso();
        let n = self.exec(
            "INSERT INTO event_handlers (portal_id, id, app_id, event_name, handler, user_id, connector_id, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (portal_id, app_id, event_name, handler, user_id, connector_id) DO NOTHING",
            &args![
                self.portal,
                id,
                h.app_id,
                &h.event_name,
                &h.handler,
                h.user_id,
                &h.connector_id,
                &now,
            ],
        )?;
        Ok((n == 1).then_some(id))
    }

    fn event_handlers_of_app(&mut self, app_id: i64) -> Result<Vec<EventHandlerRecord>, ApiError> {
        self.all(
            &format!(
                "SELECT {HANDLER_COLUMNS} FROM event_handlers WHERE portal_id = ?1 AND app_id = ?2 ORDER BY id"
            ),
            &args![self.portal, app_id],
            handler_from_row,
        )
    }

    fn event_handlers_for(
        &mut self,
        event_name: &str,
    ) -> Result<Vec<EventHandlerRecord>, ApiError> {
        if let Some(handlers) = self.conn.remembered_handlers(self.portal, event_name) {
            return Ok(handlers);
        }
        let handlers = self.all(
            HANDLERS_FOR_EVENT,
            &args![self.portal, event_name],
            handler_from_row,
        )?;
        self.conn
            .remember_handlers(self.portal, event_name, &handlers);
        Ok(handlers)
    }

    fn delete_event_handler(&mut self, id: i64) -> Result<bool, ApiError> {
        let n = self.exec(
            "DELETE FROM event_handlers WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id],
        )?;
        Ok(n == 1)
    }

    fn insert_outbox(&mut self, o: &OutboxRecord) -> Result<i64, ApiError> {
        super::OUTBOX_INSERTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = self.next_id("event_outbox")?;
        // JSON text: a NUL is escaped, and this column is never read as `jsonb`.
        let data = o.data.to_string();
        self.exec(
            &format!(
                "INSERT INTO event_outbox (portal_id, {OUTBOX_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ),
            &args![
                self.portal,
                id,
                o.handler_id,
                o.app_id,
                &o.event_name,
                &o.handler,
                o.auth_user_id,
                &data,
                o.ts,
                o.attempts,
                o.next_attempt_at,
            ],
        )?;
        Ok(id)
    }

    fn claim_outbox(
        &mut self,
        now: f64,
        claim_until: f64,
        limit: u64,
    ) -> Result<Vec<OutboxRecord>, ApiError> {
        let candidates = self.all(
            DUE_OUTBOX,
            &args![self.portal, now, limit_arg(limit)],
            outbox_from_row,
        )?;
        // Another process may claim the same rows at the same time: the update waits for its
        // row lock and, once that process committed, finds the row no longer due and skips it.
        let mut claimed = Vec::with_capacity(candidates.len());
        for row in candidates {
            let n = self.exec(
                "UPDATE event_outbox SET next_attempt_at = ?3
                 WHERE portal_id = ?1 AND id = ?2 AND next_attempt_at <= ?4",
                &args![self.portal, row.id, claim_until, now],
            )?;
            if n == 1 {
                claimed.push(row);
            }
        }
        Ok(claimed)
    }

    fn reschedule_outbox(&mut self, id: i64, attempts: i64, due: f64) -> Result<(), ApiError> {
        self.exec(
            "UPDATE event_outbox SET attempts = ?3, next_attempt_at = ?4 WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id, attempts, due],
        )?;
        Ok(())
    }

    fn delete_outbox(&mut self, id: i64) -> Result<(), ApiError> {
        self.exec(
            "DELETE FROM event_outbox WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id],
        )?;
        Ok(())
    }

    fn insert_delivery(&mut self, d: &DeliveryRecord) -> Result<(), ApiError> {
        let id = self.next_id("event_delivery")?;
        self.exec(
            &format!(
                "INSERT INTO event_deliveries (portal_id, {DELIVERY_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ),
            &args![
                self.portal,
                id,
                d.outbox_id,
                d.handler_id,
                &d.event_name,
                &d.handler,
                d.attempt,
                &d.at,
                d.status,
                &d.outcome,
                &d.detail,
            ],
        )?;
        // A primary-key range: only the few entries that just fell out of the window.
        self.exec(
            "DELETE FROM event_deliveries WHERE portal_id = ?1 AND id <= ?2",
            &args![self.portal, id - DELIVERY_LOG_KEEP],
        )?;
        Ok(())
    }

    fn deliveries(&mut self, limit: u64) -> Result<Vec<DeliveryRecord>, ApiError> {
        self.all(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM event_deliveries WHERE portal_id = ?1 ORDER BY id DESC LIMIT ?2"
            ),
            &args![self.portal, limit_arg(limit)],
            delivery_from_row,
        )
    }

    fn record_offline_event(&mut self, e: &OfflineEventRecord) -> Result<(), ApiError> {
        let id = self.next_id("event_offline")?;
        self.exec(
            &format!(
                "INSERT INTO event_offline (portal_id, {OFFLINE_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (portal_id, app_id, connector_id, process_id, error, message_id)
                 DO UPDATE SET timestamp_x = excluded.timestamp_x, user_id = excluded.user_id"
            ),
            &args![
                self.portal,
                id,
                e.app_id,
                &e.connector_id,
                &e.event_name,
                &e.message_id,
                &e.data,
                e.user_id,
                &e.timestamp_x,
                &e.process_id,
                e.error as i64,
            ],
        )?;
        Ok(())
    }

    fn offline_events(
        &mut self,
        app_id: i64,
        connector_id: &str,
        query: &ListQuery,
    ) -> Result<PageOf<OfflineEventRecord>, ApiError> {
        // `event.offline.get` marks the entries it reads: parallel callers must not read the same
        // ones. A locked entry another caller took is skipped once that caller commits (so a
        // page may come back shorter; the rest wait for the next call).
        let lock = self.dialect.lock_row(self.writing);
        let sql = lists::offline_page(self.dialect, self.portal, app_id, connector_id, query, lock);
        self.page(&sql, query.count, offline_from_row)
    }

    fn mark_offline_events(&mut self, ids: &[i64], process_id: &str) -> Result<(), ApiError> {
        for &id in ids {
            self.exec(
                "UPDATE event_offline SET process_id = ?3 WHERE portal_id = ?1 AND id = ?2",
                &args![self.portal, id, process_id],
            )?;
        }
        Ok(())
    }

    fn mark_offline_errors(
        &mut self,
        app_id: i64,
        connector_id: &str,
        process_id: &str,
        message_ids: &[String],
    ) -> Result<(), ApiError> {
        for message_id in message_ids {
            self.exec(
                "UPDATE event_offline SET error = 1, process_id = ''
                 WHERE portal_id = ?1 AND app_id = ?2 AND connector_id = ?3 AND process_id = ?4
                     AND message_id = ?5",
                &args![self.portal, app_id, connector_id, process_id, message_id],
            )?;
        }
        Ok(())
    }

    fn clear_offline_events(
        &mut self,
        app_id: i64,
        connector_id: &str,
        process_id: &str,
        only: OfflineSelection<'_>,
    ) -> Result<(), ApiError> {
        const SCOPE: &str = "DELETE FROM event_offline
             WHERE portal_id = ?1 AND app_id = ?2 AND connector_id = ?3 AND process_id = ?4";
        let scope = args![self.portal, app_id, connector_id, process_id];
        match only {
            OfflineSelection::All => {
                self.exec(SCOPE, &scope)?;
            }
            OfflineSelection::Ids(ids) => {
                let sql = format!("{SCOPE} AND id = ?5");
                for &id in ids {
                    let [a, b, c, d] = scope;
                    self.exec(&sql, &[a, b, c, d, Arg::Int(id)])?;
                }
            }
            OfflineSelection::MessageIds(message_ids) => {
                let sql = format!("{SCOPE} AND message_id = ?5");
                for message_id in message_ids {
                    let [a, b, c, d] = scope;
                    self.exec(&sql, &[a, b, c, d, Arg::Text(message_id)])?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_lists_name_the_fields_in_order() {
        let words: Vec<&str> = TOKEN_COLUMNS.split_whitespace().collect();
        assert_eq!(
            words.join(" "),
            "access_digest, refresh_digest, app_id, user_id, scopes, access_expires, \
             refresh_expires, refresh_used"
        );
        assert!(ACTIVITY_COLUMNS.starts_with("id, type_id, provider_id,"));
        assert!(ACTIVITY_COLUMNS.ends_with("last_updated, extra"));
    }
}
