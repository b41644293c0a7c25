//! Storage of users as `user.get` shows them, the company structure (`department.*`), users'
//! departments (`UF_DEPARTMENT`) and the notifications `im.notify*` sent.
//!
//! A user is one row of `users`, the same row the CLI's `user create` and authentication read
//! ([`super::User`] is its short form): the profile fields lists filter and sort by have columns,
//! the rest of the profile lives in `extra` under the fields' names (`WORK_POSITION`, …).

use super::driver::{args, Arg, SqlRow};
use super::lists;
use super::sql::SqlTx;
use super::{ListQuery, PageOf, Tx};
use crate::error::ApiError;
use serde_json::{Map, Value};

/// A user's whole record.
#[derive(Debug, Clone, PartialEq)]
pub struct UserProfile {
    /// `ID`.
    pub id: i64,
    /// `XML_ID`; empty until set (shown as `null`).
    pub xml_id: String,
    /// `ACTIVE`: inactive (dismissed) users cannot authenticate.
    pub active: bool,
    /// Administrators hold every right.
    pub admin: bool,
    /// `NAME`.
    pub name: String,
    /// `LAST_NAME`.
    pub last_name: String,
    /// `SECOND_NAME`.
    pub second_name: String,
    /// `EMAIL`.
    pub email: String,
    /// `USER_TYPE` (`employee`).
    pub user_type: String,
    /// `PERSONAL_BIRTHDAY`: `YYYY-MM-DD` or empty.
    pub personal_birthday: String,
    /// `UF_EMPLOYMENT_DATE`: `YYYY-MM-DD` or empty.
    pub employment_date: String,
    /// `LAST_LOGIN`, ISO-8601, or empty for a user who never logged in.
    pub last_login: String,
    /// `LAST_ACTIVITY_DATE`, ISO-8601, or empty.
    pub last_activity: String,
    /// `TIMESTAMP_X`: the last change, ISO-8601.
    pub timestamp_x: String,
    /// `DATE_REGISTER`, ISO-8601.
    pub created: String,
    /// The other profile fields under their names, as text.
    pub extra: Map<String, Value>,
    /// `UF_DEPARTMENT`, ascending.
    pub departments: Vec<i64>,
}

/// A page of users: the filter and order of a [`ListQuery`] and, optionally, departments of
/// which a user must belong to one.
#[derive(Debug, Clone)]
pub struct UserQuery {
    /// Filter, order and window.
    pub list: ListQuery,
    /// `UF_DEPARTMENT` filter.
    pub departments: Option<Vec<i64>>,
}

/// A department of the company structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartmentRecord {
    /// `ID`.
    pub id: i64,
    /// `NAME`.
    pub name: String,
    /// `SORT`.
    pub sort: i64,
    /// `PARENT`; `None` for the root.
    pub parent: Option<i64>,
    /// `UF_HEAD`; `None` when the department has no head.
    pub head: Option<i64>,
}

/// Which departments `department.get` lists, and in which order.
#[derive(Debug, Clone, Default)]
pub struct DepartmentQuery {
    /// `ID`.
    pub id: Option<Vec<i64>>,
    /// `NAME`, exactly.
    pub name: Option<String>,
    /// `SORT`.
    pub sort: Option<i64>,
    /// `PARENT`.
    pub parent: Option<i64>,
    /// `UF_HEAD`.
    pub head: Option<i64>,
    /// Column to sort by (one of the table's) and whether descending.
    pub order: (&'static str, bool),
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return.
    pub limit: u64,
    /// Whether to count the matches.
    pub count: bool,
}

/// One notification sent with `im.notify*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    /// Its id (the methods' result).
    pub id: i64,
    /// `system` or `personal`.
    pub kind: String,
    /// The user notified.
    pub user_id: i64,
    /// The sender; 0 for a system notification.
    pub from_user: i64,
    /// The text.
    pub message: String,
    /// `TAG`, empty when none.
    pub tag: String,
    /// When, ISO-8601.
    pub created: String,
}

/// The user, department and notification statements.
pub trait UserTx {
    /// A user's whole record.
    fn user_profile(&mut self, id: i64) -> Result<Option<UserProfile>, ApiError>;
    /// A page of users, with their departments.
    fn users_page(&mut self, query: &UserQuery) -> Result<PageOf<UserProfile>, ApiError>;
    /// Writes every field of a user's record but its id, departments included.
    fn update_user_profile(&mut self, profile: &UserProfile) -> Result<(), ApiError>;
    /// The id of a user with this e-mail (case-insensitively), if any.
    fn user_with_email(&mut self, email: &str) -> Result<Option<i64>, ApiError>;

    /// A department.
    fn department(&mut self, id: i64) -> Result<Option<DepartmentRecord>, ApiError>;
    /// A page of departments.
    fn departments_page(
        &mut self,
        query: &DepartmentQuery,
    ) -> Result<PageOf<DepartmentRecord>, ApiError>;
    /// How many departments have no parent.
    fn root_departments(&mut self) -> Result<i64, ApiError>;
    /// Stores a new department, returning its id.
    fn insert_department(
        &mut self,
        name: &str,
        sort: i64,
        parent: Option<i64>,
        head: Option<i64>,
    ) -> Result<i64, ApiError>;
    /// Writes a department's fields.
    fn update_department(&mut self, department: &DepartmentRecord) -> Result<(), ApiError>;
    /// Deletes a department and its members' links to it.
    fn delete_department(&mut self, id: i64) -> Result<(), ApiError>;
    /// Whether a department has sub-departments.
    fn department_has_children(&mut self, id: i64) -> Result<bool, ApiError>;

    /// Links those of these users who belong to no department to the root department (when
    /// it exists).
    fn place_in_root_department(&mut self, user_ids: &[i64]) -> Result<(), ApiError>;

    /// Records a notification, returning its id.
    fn insert_notification(
        &mut self,
        kind: &str,
        user_id: i64,
        from_user: i64,
        message: &str,
        tag: &str,
    ) -> Result<i64, ApiError>;
    /// The latest notifications, newest last; only those above `since`, at most `limit`.
    fn notifications(
        &mut self,
        since: i64,
        limit: u64,
    ) -> Result<Vec<NotificationRecord>, ApiError>;
}

/// The columns [`profile_from_row`] reads, in order.
const PROFILE_COLUMNS: &str = "id, xml_id, active, admin, name, last_name, second_name, email, \
    user_type, personal_birthday, employment_date, last_login, last_activity, timestamp_x, \
    created, extra";

fn profile_from_row(r: &dyn SqlRow) -> Result<UserProfile, ApiError> {
    Ok(UserProfile {
        id: r.int(0)?,
        xml_id: r.text(1)?,
        active: r.bool(2)?,
        admin: r.bool(3)?,
        name: r.text(4)?,
        last_name: r.text(5)?,
        second_name: r.text(6)?,
        email: r.text(7)?,
        user_type: r.text(8)?,
        personal_birthday: r.text(9)?,
        employment_date: r.text(10)?,
        last_login: r.text(11)?,
        last_activity: r.text(12)?,
        timestamp_x: r.text(13)?,
        created: r.text(14)?,
        extra: serde_json::from_str(&r.text(15)?).unwrap_or_default(),
        departments: Vec::new(),
    })
}

const DEPARTMENT_COLUMNS: &str = "id, name, sort, parent, head";

fn department_from_row(r: &dyn SqlRow) -> Result<DepartmentRecord, ApiError> {
    Ok(DepartmentRecord {
        id: r.int(0)?,
        name: r.text(1)?,
        sort: r.int(2)?,
        parent: r.opt_int(3)?,
        head: r.opt_int(4)?,
    })
}

fn opt_arg<'a>(value: Option<i64>) -> Arg<'a> {
    value.map_or(Arg::Null, Arg::Int)
}

impl SqlTx<'_> {
    /// Fills in the departments of the users of a page, in one statement.
    fn attach_departments(&mut self, users: &mut [UserProfile]) -> Result<(), ApiError> {
        if users.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
        let links = self.all(
            &format!(
                "SELECT user_id, department_id FROM user_departments
                 WHERE portal_id = ?1 AND user_id IN ({}) ORDER BY user_id, department_id",
                ids.join(", ")
            ),
            &args![self.portal],
            |r| Ok((r.int(0)?, r.int(1)?)),
        )?;
        for user in users.iter_mut() {
            user.departments = links
                .iter()
                .filter(|(u, _)| *u == user.id)
                .map(|(_, d)| *d)
                .collect();
        }
        Ok(())
    }
}

impl UserTx for SqlTx<'_> {
    fn user_profile(&mut self, id: i64) -> Result<Option<UserProfile>, ApiError> {
        let found = self.opt(
            &format!("SELECT {PROFILE_COLUMNS} FROM users WHERE portal_id = ?1 AND id = ?2"),
            &args![self.portal, id],
            profile_from_row,
        )?;
        let Some(user) = found else { return Ok(None) };
        let mut users = [user];
        self.attach_departments(&mut users)?;
        let [user] = users;
        Ok(Some(user))
    }

    fn users_page(&mut self, query: &UserQuery) -> Result<PageOf<UserProfile>, ApiError> {
        let sql = lists::users_page(
            self.dialect,
            self.portal,
            PROFILE_COLUMNS,
            &query.list,
            query.departments.as_deref(),
        );
        let total = if query.list.count {
            let n = self.opt(&sql.count, &sql.args, |r| r.int(0))?.unwrap_or(0);
            Some(n.max(0) as u64)
        } else {
            None
        };
        let mut rows = self.all(&sql.page, &sql.args, profile_from_row)?;
        self.attach_departments(&mut rows)?;
        Ok(PageOf { rows, total })
    }

    fn update_user_profile(&mut self, p: &UserProfile) -> Result<(), ApiError> {
        let extra = serde_json::to_string(&p.extra)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("user fields: {e}")))?;
        self.exec(
            "UPDATE users SET xml_id = ?3, active = ?4, admin = ?5, name = ?6, last_name = ?7,
                 second_name = ?8, email = ?9, user_type = ?10, personal_birthday = ?11,
                 employment_date = ?12, last_login = ?13, last_activity = ?14, timestamp_x = ?15,
                 extra = ?16
             WHERE portal_id = ?1 AND id = ?2",
            &[
                Arg::Int(self.portal),
                Arg::Int(p.id),
                Arg::Text(&p.xml_id),
                Arg::Bool(p.active),
                Arg::Bool(p.admin),
                Arg::Text(&p.name),
                Arg::Text(&p.last_name),
                Arg::Text(&p.second_name),
                Arg::Text(&p.email),
                Arg::Text(&p.user_type),
                Arg::Text(&p.personal_birthday),
                Arg::Text(&p.employment_date),
                Arg::Text(&p.last_login),
                Arg::Text(&p.last_activity),
                Arg::Text(&p.timestamp_x),
                Arg::Text(&extra),
            ],
        )?;
        self.exec(
            "DELETE FROM user_departments WHERE portal_id = ?1 AND user_id = ?2",
            &args![self.portal, p.id],
        )?;
        for department in &p.departments {
            self.exec(
                "INSERT INTO user_departments (portal_id, user_id, department_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (portal_id, user_id, department_id) DO NOTHING",
                &args![self.portal, p.id, *department],
            )?;
        }
        Ok(())
    }

    fn user_with_email(&mut self, email: &str) -> Result<Option<i64>, ApiError> {
        self.opt(
            "SELECT id FROM users WHERE portal_id = ?1 AND LOWER(email) = LOWER(?2) ORDER BY id",
            &args![self.portal, email],
            |r| r.int(0),
        )
    }

    fn department(&mut self, id: i64) -> Result<Option<DepartmentRecord>, ApiError> {
        self.opt(
            &format!(
                "SELECT {DEPARTMENT_COLUMNS} FROM departments WHERE portal_id = ?1 AND id = ?2"
            ),
            &args![self.portal, id],
            department_from_row,
        )
    }

    fn departments_page(
        &mut self,
        q: &DepartmentQuery,
    ) -> Result<PageOf<DepartmentRecord>, ApiError> {
        let mut conditions = vec!["portal_id = ?1".to_string()];
        let mut values: Vec<Arg<'_>> = vec![Arg::Int(self.portal)];
        if let Some(ids) = &q.id {
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            conditions.push(if list.is_empty() {
                "1 = 0".into()
            } else {
                format!("id IN ({})", list.join(", "))
            });
        }
        if let Some(name) = &q.name {
            values.push(Arg::Text(name));
            conditions.push(format!("name = ?{}", values.len()));
        }
        for (column, value) in [("sort", q.sort), ("parent", q.parent), ("head", q.head)] {
            if let Some(value) = value {
                values.push(Arg::Int(value));
                conditions.push(format!("{column} = ?{}", values.len()));
            }
        }
        let where_clause = conditions.join(" AND ");
        let (column, desc) = q.order;
        let dir = if desc { "DESC" } else { "ASC" };
        // The root's missing parent (and a missing head) sorts as 0 on both backends.
        let column = match column {
            "parent" | "head" => format!("COALESCE({column}, 0)"),
            other => other.to_string(),
        };
        let total = if q.count {
            let n = self
                .opt(
                    &format!("SELECT COUNT(*) FROM departments WHERE {where_clause}"),
                    &values,
                    |r| r.int(0),
                )?
                .unwrap_or(0);
            Some(n.max(0) as u64)
        } else {
            None
        };
        let rows = self.all(
            &format!(
                "SELECT {DEPARTMENT_COLUMNS} FROM departments WHERE {where_clause}
                 ORDER BY {column} {dir}, id {dir} LIMIT {} OFFSET {}",
                q.limit, q.offset
            ),
            &values,
            department_from_row,
        )?;
        Ok(PageOf { rows, total })
    }

    fn root_departments(&mut self) -> Result<i64, ApiError> {
        Ok(self
            .opt(
                "SELECT COUNT(*) FROM departments WHERE portal_id = ?1 AND parent IS NULL",
                &args![self.portal],
                |r| r.int(0),
            )?
            .unwrap_or(0))
    }

    fn insert_department(
        &mut self,
        name: &str,
        sort: i64,
        parent: Option<i64>,
        head: Option<i64>,
    ) -> Result<i64, ApiError> {
        let id = self.next_id("department")?;
        self.exec(
            "INSERT INTO departments (portal_id, id, name, sort, parent, head)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                Arg::Int(self.portal),
                Arg::Int(id),
                Arg::Text(name),
                Arg::Int(sort),
                opt_arg(parent),
                opt_arg(head),
            ],
        )?;
        Ok(id)
    }

    fn update_department(&mut self, d: &DepartmentRecord) -> Result<(), ApiError> {
        self.exec(
            "UPDATE departments SET name = ?3, sort = ?4, parent = ?5, head = ?6
             WHERE portal_id = ?1 AND id = ?2",
            &[
                Arg::Int(self.portal),
                Arg::Int(d.id),
                Arg::Text(&d.name),
                Arg::Int(d.sort),
                opt_arg(d.parent),
                opt_arg(d.head),
            ],
        )?;
        Ok(())
    }

    fn delete_department(&mut self, id: i64) -> Result<(), ApiError> {
        self.exec(
            "DELETE FROM user_departments WHERE portal_id = ?1 AND department_id = ?2",
            &args![self.portal, id],
        )?;
        self.exec(
            "DELETE FROM departments WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id],
        )?;
        Ok(())
    }

    fn department_has_children(&mut self, id: i64) -> Result<bool, ApiError> {
        Ok(self
            .opt(
                "SELECT id FROM departments WHERE portal_id = ?1 AND parent = ?2 LIMIT 1",
                &args![self.portal, id],
                |r| r.int(0),
            )?
            .is_some())
    }

    fn place_in_root_department(&mut self, user_ids: &[i64]) -> Result<(), ApiError> {
        for user_id in user_ids {
            self.exec(
                "INSERT INTO user_departments (portal_id, user_id, department_id)
                 SELECT d.portal_id, ?2, d.id FROM departments d
                 WHERE d.portal_id = ?1 AND d.id = 1
                   AND EXISTS (SELECT 1 FROM users u WHERE u.portal_id = ?1 AND u.id = ?2)
                   AND NOT EXISTS (SELECT 1 FROM user_departments l
                                   WHERE l.portal_id = ?1 AND l.user_id = ?2)",
                &args![self.portal, *user_id],
            )?;
        }
        Ok(())
    }

    fn insert_notification(
        &mut self,
        kind: &str,
        user_id: i64,
        from_user: i64,
        message: &str,
        tag: &str,
    ) -> Result<i64, ApiError> {
        let id = self.next_id("notification")?;
        let now = self.now_iso();
        self.exec(
            "INSERT INTO notifications (portal_id, id, kind, user_id, from_user, message, tag, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            &args![self.portal, id, kind, user_id, from_user, message, tag, &now],
        )?;
        Ok(id)
    }

    fn notifications(
        &mut self,
        since: i64,
        limit: u64,
    ) -> Result<Vec<NotificationRecord>, ApiError> {
        let limit = limit.min(i64::MAX as u64) as i64;
        let mut rows = self.all(
            "SELECT id, kind, user_id, from_user, message, tag, created FROM notifications
             WHERE portal_id = ?1 AND id > ?2 ORDER BY id DESC LIMIT ?3",
            &args![self.portal, since, limit],
            |r| {
                Ok(NotificationRecord {
                    id: r.int(0)?,
                    kind: r.text(1)?,
                    user_id: r.int(2)?,
                    from_user: r.int(3)?,
                    message: r.text(4)?,
                    tag: r.text(5)?,
                    created: r.text(6)?,
                })
            },
        )?;
        rows.reverse();
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::super::schema::MIGRATIONS;
    use super::super::sqlite::{SqliteStore, DB_FILE};
    use r2d2_sqlite::rusqlite::Connection;

    /// A data directory from before the user migration (13): its portal gets root department 1, and its
    /// users join it and keep their times.
    #[test]
    fn the_user_migration_gives_existing_portals_the_root_department_and_their_users_a_place() {
        // The schema as it was before this migration, whatever its number after merges.
        let before = MIGRATIONS
            .iter()
            .position(|m| m.contains("CREATE TABLE departments"))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            for sql in &MIGRATIONS[..before] {
                conn.execute_batch(
                    &sql.replace(super::super::schema::SQLITE_WITHOUT_ROWID, "WITHOUT ROWID"),
                )
                .unwrap();
            }
            conn.execute_batch(
                "INSERT INTO portals (id, domain, member_id, public_url, created)
                     VALUES (1, 'example.test', 'm', 'http://example.test', '2024-01-02T03:04:05+00:00');
                 INSERT INTO sequences VALUES (1, 'user', 2);
                 INSERT INTO users VALUES (1, 1, 'Administrator', '', TRUE, TRUE, '2024-01-02T03:04:05+00:00'),
                                          (1, 2, 'Ann', 'Lee', FALSE, TRUE, '2024-02-03T04:05:06+00:00');",
            )
            .unwrap();
            conn.pragma_update(None, "user_version", before).unwrap();
        }

        let store = SqliteStore::open(dir.path()).unwrap();

        let (root, ann, next) = store
            .transaction(1, true, |tx| {
                let root = tx.department(1)?;
                let ann = tx.user_profile(2)?;
                let next = tx.insert_department("Sales", 500, Some(1), None)?;
                Ok((root, ann, next))
            })
            .unwrap();
        let root = root.expect("the root department");
        assert_eq!((root.id, root.parent, root.head), (1, None, None));
        let ann = ann.expect("Ann");
        assert_eq!(ann.departments, [1]);
        assert_eq!(ann.timestamp_x, "2024-02-03T04:05:06+00:00");
        assert_eq!(ann.last_login, ann.created);
        assert_eq!(
            (ann.email.as_str(), ann.user_type.as_str()),
            ("", "employee")
        );
        assert_eq!(next, 2, "new departments do not take the root's id");
    }

    /// SQLite's plan of a `user.get` page.
    fn plan(query: &super::ListQuery, departments: Option<&[i64]>) -> String {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let sql = super::lists::users_page(
            super::super::driver::Dialect::Sqlite,
            1,
            super::PROFILE_COLUMNS,
            query,
            departments,
        );
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", sql.page))
            .unwrap();
        let rows = stmt
            .query_map(r2d2_sqlite::rusqlite::params_from_iter(&sql.args), |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn user_pages_are_read_by_primary_key_and_department_filters_by_the_link_index() {
        let page = super::ListQuery::first_page(50);

        let plain = plan(&page, None);
        let by_department = plan(&page, Some(&[2, 3]));

        assert!(!plain.contains("SCAN users"), "{plain}");
        assert!(!plain.contains("TEMP B-TREE"), "{plain}");
        assert!(
            by_department.contains("user_departments_by_department"),
            "{by_department}"
        );
        assert!(
            !by_department.contains("SCAN user_departments"),
            "{by_department}"
        );
        assert!(!by_department.contains("CORRELATED"), "{by_department}");
    }
}
