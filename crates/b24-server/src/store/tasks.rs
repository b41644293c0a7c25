//! Storage of tasks (`tasks.task.*`) and their comments, checklist items and elapsed time
//! (`task.commentitem.*`, `task.checklistitem.*`, `task.elapseditem.*`).
//!
//! A task is one row of `tasks`: the fields lists filter and sort by have columns, the rest lives
//! in `extra` under the fields' names. Its people are rows of `task_members` by role
//! ([`Role`]), written with the task, so "the tasks a user takes part in" is a read of the
//! `(user, role, task)` index. `activity_id` names the CRM activity whose bindings are the
//! task's `UF_CRM_TASK` (0: none).

use super::driver::{args, Arg, SqlRow};
use super::lists;
use super::sql::SqlTx;
use super::{ListQuery, PageOf, Tx};
use crate::error::ApiError;
use serde_json::{Map, Value};

/// A role in a task, as `task_members` stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The creator (`CREATED_BY`).
    Creator,
    /// The responsible person (`RESPONSIBLE_ID`).
    Responsible,
    /// A participant (`ACCOMPLICES`).
    Accomplice,
    /// An observer (`AUDITORS`).
    Auditor,
}

impl Role {
    /// The stored letter (the real service's `MEMBER.TYPE`: O, R, A, U).
    pub fn code(self) -> &'static str {
        match self {
            Role::Creator => "O",
            Role::Responsible => "R",
            Role::Accomplice => "A",
            Role::Auditor => "U",
        }
    }
}

/// A task's whole record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskRecord {
    /// `ID`.
    pub id: i64,
    /// `PARENT_ID`; 0 for none.
    pub parent_id: i64,
    /// `GROUP_ID`; 0 for none.
    pub group_id: i64,
    /// `TITLE`.
    pub title: String,
    /// `DESCRIPTION`.
    pub description: String,
    /// `STATUS` (2 pending, 3 in progress, 4 awaiting control, 5 completed, 6 deferred).
    pub status: i64,
    /// `PRIORITY` (0 low, 1 medium, 2 high).
    pub priority: i64,
    /// `RESPONSIBLE_ID`.
    pub responsible_id: i64,
    /// `CREATED_BY`.
    pub created_by: i64,
    /// `CHANGED_BY`.
    pub changed_by: i64,
    /// `STATUS_CHANGED_BY`.
    pub status_changed_by: i64,
    /// `CLOSED_BY`; 0 while open.
    pub closed_by: i64,
    /// `CREATED_DATE`, ISO-8601.
    pub created_date: String,
    /// `CHANGED_DATE`, ISO-8601.
    pub changed_date: String,
    /// `STATUS_CHANGED_DATE`, ISO-8601.
    pub status_changed_date: String,
    /// `CLOSED_DATE`, ISO-8601 or empty.
    pub closed_date: String,
    /// `DATE_START`, ISO-8601 or empty.
    pub date_start: String,
    /// `DEADLINE`, ISO-8601 or empty.
    pub deadline: String,
    /// `START_DATE_PLAN`, ISO-8601 or empty.
    pub start_date_plan: String,
    /// `END_DATE_PLAN`, ISO-8601 or empty.
    pub end_date_plan: String,
    /// The CRM activity carrying `UF_CRM_TASK`; 0 for none.
    pub activity_id: i64,
    /// The other fields under their names (`TASK_CONTROL`, `MARK`, `TAGS`, `COMMENTS_COUNT`, …).
    pub extra: Map<String, Value>,
    /// `ACCOMPLICES`, in the order given.
    pub accomplices: Vec<i64>,
    /// `AUDITORS`, in the order given.
    pub auditors: Vec<i64>,
}

/// A page of tasks: filter, order and window, and the conditions on people.
#[derive(Debug, Clone)]
pub struct TaskQuery {
    /// Filter, order and window over the `tasks` columns.
    pub list: ListQuery,
    /// Only tasks this user takes part in (any role): the visibility of a non-administrator.
    pub member: Option<i64>,
    /// Only tasks where one of these users has this role (`ACCOMPLICE`, `AUDITOR` filters).
    pub roles: Vec<(Role, Vec<i64>)>,
    /// Only tasks whose activity is bound to one of these items (`UF_CRM_TASK` filter).
    pub crm: Option<Vec<(i64, i64)>>,
}

/// A task comment (`task.commentitem.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskComment {
    /// `ID`.
    pub id: i64,
    /// The task.
    pub task_id: i64,
    /// `AUTHOR_ID`.
    pub author_id: i64,
    /// `POST_MESSAGE`.
    pub message: String,
    /// `POST_DATE`, ISO-8601.
    pub post_date: String,
}

/// A checklist item (`task.checklistitem.*`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChecklistItem {
    /// `ID`.
    pub id: i64,
    /// `TASK_ID`.
    pub task_id: i64,
    /// `PARENT_ID`: 0 for a checklist (a top-level item).
    pub parent_id: i64,
    /// `CREATED_BY`.
    pub created_by: i64,
    /// `TITLE`.
    pub title: String,
    /// `SORT_INDEX`.
    pub sort_index: i64,
    /// `IS_COMPLETE`.
    pub is_complete: bool,
    /// `IS_IMPORTANT`.
    pub is_important: bool,
    /// `TOGGLED_BY`; 0 when never toggled.
    pub toggled_by: i64,
    /// `TOGGLED_DATE`, ISO-8601 or empty.
    pub toggled_date: String,
}

/// An elapsed-time record (`task.elapseditem.*`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ElapsedItem {
    /// `ID`.
    pub id: i64,
    /// `TASK_ID`.
    pub task_id: i64,
    /// `USER_ID`.
    pub user_id: i64,
    /// `SECONDS`.
    pub seconds: i64,
    /// `COMMENT_TEXT`.
    pub comment_text: String,
    /// `CREATED_DATE`, ISO-8601.
    pub created_date: String,
    /// `DATE_START`, ISO-8601.
    pub date_start: String,
    /// `DATE_STOP`, ISO-8601.
    pub date_stop: String,
}

/// The task statements.
pub trait TaskTx {
    /// A task with its people; in a write transaction its row stays locked until commit.
    fn task(&mut self, id: i64) -> Result<Option<TaskRecord>, ApiError>;
    /// Stores a new task (and its people), returning its id.
    fn insert_task(&mut self, task: &TaskRecord) -> Result<i64, ApiError>;
    /// Writes every field of a task but its id, people included.
    fn update_task(&mut self, task: &TaskRecord) -> Result<(), ApiError>;
    /// Deletes a task with its people, comments, checklist and elapsed time.
    fn delete_task(&mut self, id: i64) -> Result<bool, ApiError>;
    /// A page of tasks, with their people.
    fn tasks_page(&mut self, query: &TaskQuery) -> Result<PageOf<TaskRecord>, ApiError>;
    /// The task whose `UF_CRM_TASK` this activity carries, if any; in a write transaction its
    /// row stays locked until commit.
    fn task_of_activity(&mut self, activity_id: i64) -> Result<Option<i64>, ApiError>;
    /// Forgets a task's activity (it was deleted): the task is no longer bound to CRM.
    fn unlink_task_activity(&mut self, task_id: i64) -> Result<(), ApiError>;
    /// How many open tasks (pending or in progress) with a deadline before `now` this user
    /// takes part in with one of these roles.
    fn expired_tasks(&mut self, user_id: i64, roles: &[Role], now: &str) -> Result<i64, ApiError>;

    /// Stores a comment, returning its id.
    fn insert_task_comment(&mut self, comment: &TaskComment) -> Result<i64, ApiError>;
    /// A comment.
    fn task_comment(&mut self, id: i64) -> Result<Option<TaskComment>, ApiError>;
    /// A task's comments, by id.
    fn task_comments(&mut self, task_id: i64) -> Result<Vec<TaskComment>, ApiError>;
    /// Deletes a comment.
    fn delete_task_comment(&mut self, id: i64) -> Result<bool, ApiError>;

    /// Stores a checklist item, returning its id.
    fn insert_checklist_item(&mut self, item: &ChecklistItem) -> Result<i64, ApiError>;
    /// A checklist item.
    fn checklist_item(&mut self, id: i64) -> Result<Option<ChecklistItem>, ApiError>;
    /// A task's checklist items, by id.
    fn checklist_items(&mut self, task_id: i64) -> Result<Vec<ChecklistItem>, ApiError>;
    /// Writes a checklist item's fields.
    fn update_checklist_item(&mut self, item: &ChecklistItem) -> Result<(), ApiError>;
    /// Deletes a checklist item and the items under it.
    fn delete_checklist_item(&mut self, id: i64) -> Result<bool, ApiError>;

    /// Stores an elapsed-time record, returning its id.
    fn insert_elapsed_item(&mut self, item: &ElapsedItem) -> Result<i64, ApiError>;
    /// A page of a task's elapsed-time records, by id.
    fn elapsed_items(
        &mut self,
        task_id: i64,
        offset: u64,
        limit: u64,
    ) -> Result<PageOf<ElapsedItem>, ApiError>;
}

/// The columns a task row is read with, in order.
pub const TASK_COLUMNS: &str = "id, parent_id, group_id, title, description, status, priority, \
    responsible_id, created_by, changed_by, status_changed_by, closed_by, created_date, \
    changed_date, status_changed_date, closed_date, date_start, deadline, start_date_plan, \
    end_date_plan, activity_id, extra";

fn task_from_row(r: &dyn SqlRow) -> Result<TaskRecord, ApiError> {
    Ok(TaskRecord {
        id: r.int(0)?,
        parent_id: r.int(1)?,
        group_id: r.int(2)?,
        title: r.text(3)?,
        description: r.text(4)?,
        status: r.int(5)?,
        priority: r.int(6)?,
        responsible_id: r.int(7)?,
        created_by: r.int(8)?,
        changed_by: r.int(9)?,
        status_changed_by: r.int(10)?,
        closed_by: r.int(11)?,
        created_date: r.text(12)?,
        changed_date: r.text(13)?,
        status_changed_date: r.text(14)?,
        closed_date: r.text(15)?,
        date_start: r.text(16)?,
        deadline: r.text(17)?,
        start_date_plan: r.text(18)?,
        end_date_plan: r.text(19)?,
        activity_id: r.int(20)?,
        extra: serde_json::from_str(&r.text(21)?).unwrap_or_default(),
        accomplices: Vec::new(),
        auditors: Vec::new(),
    })
}

const COMMENT_COLUMNS: &str = "id, task_id, author_id, message, post_date";

fn comment_from_row(r: &dyn SqlRow) -> Result<TaskComment, ApiError> {
    Ok(TaskComment {
        id: r.int(0)?,
        task_id: r.int(1)?,
        author_id: r.int(2)?,
        message: r.text(3)?,
        post_date: r.text(4)?,
    })
}

const CHECKLIST_COLUMNS: &str = "id, task_id, parent_id, created_by, title, sort_index, \
    is_complete, is_important, toggled_by, toggled_date";

fn checklist_from_row(r: &dyn SqlRow) -> Result<ChecklistItem, ApiError> {
    Ok(ChecklistItem {
        id: r.int(0)?,
        task_id: r.int(1)?,
        parent_id: r.int(2)?,
        created_by: r.int(3)?,
        title: r.text(4)?,
        sort_index: r.int(5)?,
        is_complete: r.bool(6)?,
        is_important: r.bool(7)?,
        toggled_by: r.int(8)?,
        toggled_date: r.text(9)?,
    })
}

const ELAPSED_COLUMNS: &str =
    "id, task_id, user_id, seconds, comment_text, created_date, date_start, date_stop";

fn elapsed_from_row(r: &dyn SqlRow) -> Result<ElapsedItem, ApiError> {
    Ok(ElapsedItem {
        id: r.int(0)?,
        task_id: r.int(1)?,
        user_id: r.int(2)?,
        seconds: r.int(3)?,
        comment_text: r.text(4)?,
        created_date: r.text(5)?,
        date_start: r.text(6)?,
        date_stop: r.text(7)?,
    })
}

impl SqlTx<'_> {
    /// Fills in the participants and observers of the tasks of a page, in one statement.
    fn attach_members(&mut self, tasks: &mut [TaskRecord]) -> Result<(), ApiError> {
        if tasks.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = tasks.iter().map(|t| t.id.to_string()).collect();
        let links = self.all(
            &format!(
                "SELECT task_id, role, user_id FROM task_members
                 WHERE portal_id = ?1 AND task_id IN ({}) AND role IN ('A', 'U')
                 ORDER BY task_id, role, user_id",
                ids.join(", ")
            ),
            &args![self.portal],
            |r| Ok((r.int(0)?, r.text(1)?, r.int(2)?)),
        )?;
        for task in tasks.iter_mut() {
            let of = |role: &str| -> Vec<i64> {
                links
                    .iter()
                    .filter(|(t, r, _)| *t == task.id && r == role)
                    .map(|(_, _, u)| *u)
                    .collect()
            };
            task.accomplices = of("A");
            task.auditors = of("U");
        }
        Ok(())
    }

    /// Rewrites a task's people from its record.
    fn write_members(&mut self, task: &TaskRecord) -> Result<(), ApiError> {
        self.exec(
            "DELETE FROM task_members WHERE portal_id = ?1 AND task_id = ?2",
            &args![self.portal, task.id],
        )?;
        let people = [
            (Role::Creator, vec![task.created_by]),
            (Role::Responsible, vec![task.responsible_id]),
            (Role::Accomplice, task.accomplices.clone()),
            (Role::Auditor, task.auditors.clone()),
        ];
        for (role, users) in people {
            for user in users {
                self.exec(
                    "INSERT INTO task_members (portal_id, task_id, role, user_id)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (portal_id, task_id, role, user_id) DO NOTHING",
                    &args![self.portal, task.id, role.code(), user],
                )?;
            }
        }
        Ok(())
    }

    fn write_task(&mut self, insert: bool, t: &TaskRecord) -> Result<(), ApiError> {
        let extra = self.json_text(&t.extra)?;
        let sql = if insert {
            format!(
                "INSERT INTO tasks (portal_id, {TASK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,
                 ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)"
            )
        } else {
            "UPDATE tasks SET parent_id = ?3, group_id = ?4, title = ?5, description = ?6,
                 status = ?7, priority = ?8, responsible_id = ?9, created_by = ?10,
                 changed_by = ?11, status_changed_by = ?12, closed_by = ?13, created_date = ?14,
                 changed_date = ?15, status_changed_date = ?16, closed_date = ?17,
                 date_start = ?18, deadline = ?19, start_date_plan = ?20, end_date_plan = ?21,
                 activity_id = ?22, extra = ?23
             WHERE portal_id = ?1 AND id = ?2"
                .to_string()
        };
        self.exec(
            &sql,
            &[
                Arg::Int(self.portal),
                Arg::Int(t.id),
                Arg::Int(t.parent_id),
                Arg::Int(t.group_id),
                Arg::Text(&t.title),
                Arg::Text(&t.description),
                Arg::Int(t.status),
                Arg::Int(t.priority),
                Arg::Int(t.responsible_id),
                Arg::Int(t.created_by),
                Arg::Int(t.changed_by),
                Arg::Int(t.status_changed_by),
                Arg::Int(t.closed_by),
                Arg::Text(&t.created_date),
                Arg::Text(&t.changed_date),
                Arg::Text(&t.status_changed_date),
                Arg::Text(&t.closed_date),
                Arg::Text(&t.date_start),
                Arg::Text(&t.deadline),
                Arg::Text(&t.start_date_plan),
                Arg::Text(&t.end_date_plan),
                Arg::Int(t.activity_id),
                Arg::Text(&extra),
            ],
        )?;
        self.write_members(t)
    }
}

impl TaskTx for SqlTx<'_> {
    fn task(&mut self, id: i64) -> Result<Option<TaskRecord>, ApiError> {
        let lock = self.dialect.lock_row(self.writing);
        let found = self.opt(
            &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE portal_id = ?1 AND id = ?2{lock}"),
            &args![self.portal, id],
            task_from_row,
        )?;
        let Some(task) = found else { return Ok(None) };
        let mut tasks = [task];
        self.attach_members(&mut tasks)?;
        let [task] = tasks;
        Ok(Some(task))
    }

    fn insert_task(&mut self, task: &TaskRecord) -> Result<i64, ApiError> {
        let id = self.next_id("task")?;
        let mut task = task.clone();
        task.id = id;
        self.write_task(true, &task)?;
        Ok(id)
    }

    fn update_task(&mut self, task: &TaskRecord) -> Result<(), ApiError> {
        self.write_task(false, task)
    }

    fn delete_task(&mut self, id: i64) -> Result<bool, ApiError> {
        for table in [
            "task_members",
            "task_comments",
            "task_checklist_items",
            "task_elapsed_items",
        ] {
            self.exec(
                &format!("DELETE FROM {table} WHERE portal_id = ?1 AND task_id = ?2"),
                &args![self.portal, id],
            )?;
        }
        let n = self.exec(
            "DELETE FROM tasks WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id],
        )?;
        Ok(n == 1)
    }

    fn tasks_page(&mut self, query: &TaskQuery) -> Result<PageOf<TaskRecord>, ApiError> {
        let sql = lists::tasks_page(self.dialect, self.portal, TASK_COLUMNS, query);
        let mut page = self.page(&sql, query.list.count, task_from_row)?;
        self.attach_members(&mut page.rows)?;
        Ok(page)
    }

    fn task_of_activity(&mut self, activity_id: i64) -> Result<Option<i64>, ApiError> {
        if activity_id <= 0 {
            return Ok(None);
        }
        let lock = self.dialect.lock_row(self.writing);
        self.opt(
            &format!("SELECT id FROM tasks WHERE portal_id = ?1 AND activity_id = ?2{lock}"),
            &args![self.portal, activity_id],
            |r| r.int(0),
        )
    }

    fn unlink_task_activity(&mut self, task_id: i64) -> Result<(), ApiError> {
        self.exec(
            "UPDATE tasks SET activity_id = 0 WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, task_id],
        )?;
        Ok(())
    }

    fn expired_tasks(&mut self, user_id: i64, roles: &[Role], now: &str) -> Result<i64, ApiError> {
        if roles.is_empty() {
            return Ok(0);
        }
        let roles: Vec<String> = roles.iter().map(|r| format!("'{}'", r.code())).collect();
        Ok(self
            .opt(
                &format!(
                    "SELECT COUNT(*) FROM tasks WHERE portal_id = ?1
                       AND id IN (SELECT task_id FROM task_members
                                  WHERE portal_id = ?1 AND user_id = ?2 AND role IN ({}))
                       AND status IN (2, 3) AND deadline <> '' AND deadline < ?3",
                    roles.join(", ")
                ),
                &args![self.portal, user_id, now],
                |r| r.int(0),
            )?
            .unwrap_or(0))
    }

    fn insert_task_comment(&mut self, c: &TaskComment) -> Result<i64, ApiError> {
        let id = self.next_id("task_comment")?;
        self.exec(
            &format!("INSERT INTO task_comments (portal_id, {COMMENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
            &args![self.portal, id, c.task_id, c.author_id, c.message.as_str(), c.post_date.as_str()],
        )?;
        Ok(id)
    }

    fn task_comment(&mut self, id: i64) -> Result<Option<TaskComment>, ApiError> {
        self.opt(
            &format!(
                "SELECT {COMMENT_COLUMNS} FROM task_comments WHERE portal_id = ?1 AND id = ?2"
            ),
            &args![self.portal, id],
            comment_from_row,
        )
    }

    fn task_comments(&mut self, task_id: i64) -> Result<Vec<TaskComment>, ApiError> {
        self.all(
            &format!(
                "SELECT {COMMENT_COLUMNS} FROM task_comments
                 WHERE portal_id = ?1 AND task_id = ?2 ORDER BY id"
            ),
            &args![self.portal, task_id],
            comment_from_row,
        )
    }

    fn delete_task_comment(&mut self, id: i64) -> Result<bool, ApiError> {
        Ok(self.exec(
            "DELETE FROM task_comments WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id],
        )? == 1)
    }

    fn insert_checklist_item(&mut self, i: &ChecklistItem) -> Result<i64, ApiError> {
        let id = self.next_id("task_checklist_item")?;
        self.exec(
            &format!(
                "INSERT INTO task_checklist_items (portal_id, {CHECKLIST_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ),
            &[
                Arg::Int(self.portal),
                Arg::Int(id),
                Arg::Int(i.task_id),
                Arg::Int(i.parent_id),
                Arg::Int(i.created_by),
                Arg::Text(&i.title),
                Arg::Int(i.sort_index),
                Arg::Bool(i.is_complete),
                Arg::Bool(i.is_important),
                Arg::Int(i.toggled_by),
                Arg::Text(&i.toggled_date),
            ],
        )?;
        Ok(id)
    }

    fn checklist_item(&mut self, id: i64) -> Result<Option<ChecklistItem>, ApiError> {
        self.opt(
            &format!(
                "SELECT {CHECKLIST_COLUMNS} FROM task_checklist_items WHERE portal_id = ?1 AND id = ?2"
            ),
            &args![self.portal, id],
            checklist_from_row,
        )
    }

    fn checklist_items(&mut self, task_id: i64) -> Result<Vec<ChecklistItem>, ApiError> {
        self.all(
            &format!(
                "SELECT {CHECKLIST_COLUMNS} FROM task_checklist_items
                 WHERE portal_id = ?1 AND task_id = ?2 ORDER BY id"
            ),
            &args![self.portal, task_id],
            checklist_from_row,
        )
    }

    fn update_checklist_item(&mut self, i: &ChecklistItem) -> Result<(), ApiError> {
        self.exec(
            "UPDATE task_checklist_items SET parent_id = ?3, title = ?4, sort_index = ?5,
                 is_complete = ?6, is_important = ?7, toggled_by = ?8, toggled_date = ?9
             WHERE portal_id = ?1 AND id = ?2",
            &[
                Arg::Int(self.portal),
                Arg::Int(i.id),
                Arg::Int(i.parent_id),
                Arg::Text(&i.title),
                Arg::Int(i.sort_index),
                Arg::Bool(i.is_complete),
                Arg::Bool(i.is_important),
                Arg::Int(i.toggled_by),
                Arg::Text(&i.toggled_date),
            ],
        )?;
        Ok(())
    }

    fn delete_checklist_item(&mut self, id: i64) -> Result<bool, ApiError> {
        let Some(item) = self.checklist_item(id)? else {
            return Ok(false);
        };
        // The items under it go too, at any depth: read the task's items once (by the task
        // index) and collect the subtree.
        let all = self.checklist_items(item.task_id)?;
        let mut doomed = vec![id];
        let mut i = 0;
        while i < doomed.len() {
            let parent = doomed[i];
            doomed.extend(all.iter().filter(|c| c.parent_id == parent).map(|c| c.id));
            i += 1;
        }
        let ids: Vec<String> = doomed.iter().map(i64::to_string).collect();
        self.exec(
            &format!(
                "DELETE FROM task_checklist_items WHERE portal_id = ?1 AND id IN ({})",
                ids.join(", ")
            ),
            &args![self.portal],
        )?;
        Ok(true)
    }

    fn insert_elapsed_item(&mut self, e: &ElapsedItem) -> Result<i64, ApiError> {
        let id = self.next_id("task_elapsed_item")?;
        self.exec(
            &format!(
                "INSERT INTO task_elapsed_items (portal_id, {ELAPSED_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            &[
                Arg::Int(self.portal),
                Arg::Int(id),
                Arg::Int(e.task_id),
                Arg::Int(e.user_id),
                Arg::Int(e.seconds),
                Arg::Text(&e.comment_text),
                Arg::Text(&e.created_date),
                Arg::Text(&e.date_start),
                Arg::Text(&e.date_stop),
            ],
        )?;
        Ok(id)
    }

    fn elapsed_items(
        &mut self,
        task_id: i64,
        offset: u64,
        limit: u64,
    ) -> Result<PageOf<ElapsedItem>, ApiError> {
        let total = self
            .opt(
                "SELECT COUNT(*) FROM task_elapsed_items WHERE portal_id = ?1 AND task_id = ?2",
                &args![self.portal, task_id],
                |r| r.int(0),
            )?
            .unwrap_or(0);
        let rows = self.all(
            &format!(
                "SELECT {ELAPSED_COLUMNS} FROM task_elapsed_items
                 WHERE portal_id = ?1 AND task_id = ?2 ORDER BY id LIMIT {limit} OFFSET {offset}"
            ),
            &args![self.portal, task_id],
            elapsed_from_row,
        )?;
        Ok(PageOf {
            rows,
            total: Some(total.max(0) as u64),
        })
    }
}
