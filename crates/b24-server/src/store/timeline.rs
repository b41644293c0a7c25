//! Storage of timeline comments (`crm.timeline.comment.*`) and of the bindings of timeline records
//! to CRM items (`crm.timeline.bindings.*`). A comment's timeline is found from the item through
//! `timeline_bindings_by_entity`, so a list page costs an index range, never a table scan.

use super::driver::args;
use super::sql::SqlTx;
use super::{PageOf, Tx};
use crate::error::ApiError;
use b24_protocol::Binding;

/// A timeline comment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentRecord {
    /// `ID` (from the `timeline` sequence, shared by every kind of timeline record).
    pub id: i64,
    /// `CREATED`, ISO-8601.
    pub created: String,
    /// `AUTHOR_ID`.
    pub author_id: i64,
    /// `COMMENT`.
    pub comment: String,
}

/// The column a comment list is sorted by (`order`: `ID`, `CREATED`, `AUTHOR_ID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentOrder {
    /// `ID`.
    Id,
    /// `CREATED`.
    Created,
    /// `AUTHOR_ID`.
    AuthorId,
}

impl CommentOrder {
    fn column(self) -> &'static str {
        match self {
            // The binding's copy of the id, which the entity index holds in order.
            CommentOrder::Id => "b.owner_id",
            CommentOrder::Created => "c.created",
            CommentOrder::AuthorId => "c.author_id",
        }
    }
}

/// Comments and timeline bindings, inside the call's transaction.
pub trait TimelineTx {
    /// Stores a new comment; `record.id` is ignored and the new id returned.
    fn insert_comment(&mut self, record: &CommentRecord) -> Result<i64, ApiError>;
    /// Locks a comment's row until the transaction ends (write transactions only), so two calls
    /// changing one comment or its bindings run one after the other.
    fn lock_comment(&mut self, id: i64) -> Result<(), ApiError>;
    /// A comment.
    fn comment(&mut self, id: i64) -> Result<Option<CommentRecord>, ApiError>;
    /// Sets a comment's text.
    fn set_comment_text(&mut self, id: i64, text: &str) -> Result<(), ApiError>;
    /// Deletes a comment and all its bindings; `false` when there was no comment.
    fn delete_comment(&mut self, id: i64) -> Result<bool, ApiError>;
    /// The bindings of a timeline record, oldest first.
    fn timeline_bindings(&mut self, owner_id: i64) -> Result<Vec<Binding>, ApiError>;
    /// A page of a timeline record's bindings, oldest first, and their number when `count`.
    fn timeline_bindings_page(
        &mut self,
        owner_id: i64,
        offset: u64,
        limit: u64,
        count: bool,
    ) -> Result<PageOf<Binding>, ApiError>;
    /// Adds a binding; `false` when it was there already.
    fn insert_timeline_binding(
        &mut self,
        owner_id: i64,
        binding: Binding,
    ) -> Result<bool, ApiError>;
    /// Removes a binding; `false` when it was not there.
    fn delete_timeline_binding(
        &mut self,
        owner_id: i64,
        binding: Binding,
    ) -> Result<bool, ApiError>;
    /// A page of the comments bound to `entity`, and their number when `count`.
    fn comments_of(
        &mut self,
        entity: Binding,
        order: CommentOrder,
        descending: bool,
        offset: u64,
        limit: u64,
        count: bool,
    ) -> Result<PageOf<CommentRecord>, ApiError>;
}

/// The comments bound to one entity (`?1` portal, `?2` entity type, `?3` entity id): a range of
/// `timeline_bindings_by_entity`, which holds the owners' ids in order.
const COMMENTS_OF_ENTITY: &str = "FROM timeline_bindings b
     JOIN timeline_comments c ON c.portal_id = b.portal_id AND c.id = b.owner_id
     WHERE b.portal_id = ?1 AND b.entity_type_id = ?2 AND b.entity_id = ?3";

/// A page of one entity's comments (`?4` limit, `?5` offset). In id order the index serves the
/// order too; by `CREATED` or `AUTHOR_ID` the entity's comments are sorted (that entity's only).
pub(crate) fn comments_page(order: CommentOrder, descending: bool) -> String {
    let direction = if descending { "DESC" } else { "ASC" };
    let column = order.column();
    format!(
        "SELECT c.id, c.created, c.author_id, c.comment {COMMENTS_OF_ENTITY}
         ORDER BY {column} {direction}, b.owner_id {direction} LIMIT ?4 OFFSET ?5"
    )
}

fn limit_arg(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

impl TimelineTx for SqlTx<'_> {
    fn insert_comment(&mut self, record: &CommentRecord) -> Result<i64, ApiError> {
        let id = self.next_id("timeline")?;
        self.exec(
            "INSERT INTO timeline_comments (portal_id, id, created, author_id, comment)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            &args![
                self.portal,
                id,
                &record.created,
                record.author_id,
                &record.comment
            ],
        )?;
        Ok(id)
    }

    fn lock_comment(&mut self, id: i64) -> Result<(), ApiError> {
        // A write to the row takes its lock on PostgreSQL (SQLite's write transactions are
        // serial already), and works on both, where `SELECT … FOR UPDATE` would not.
        self.exec(
            "UPDATE timeline_comments SET id = id WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id],
        )?;
        Ok(())
    }

    fn comment(&mut self, id: i64) -> Result<Option<CommentRecord>, ApiError> {
        self.opt(
            "SELECT id, created, author_id, comment FROM timeline_comments
             WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id],
            |r| {
                Ok(CommentRecord {
                    id: r.int(0)?,
                    created: r.text(1)?,
                    author_id: r.int(2)?,
                    comment: r.text(3)?,
                })
            },
        )
    }

    fn set_comment_text(&mut self, id: i64, text: &str) -> Result<(), ApiError> {
        self.exec(
            "UPDATE timeline_comments SET comment = ?3 WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id, text],
        )?;
        Ok(())
    }

    fn delete_comment(&mut self, id: i64) -> Result<bool, ApiError> {
        self.exec(
            "DELETE FROM timeline_bindings WHERE portal_id = ?1 AND owner_id = ?2",
            &args![self.portal, id],
        )?;
        let n = self.exec(
            "DELETE FROM timeline_comments WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id],
        )?;
        Ok(n == 1)
    }

    fn timeline_bindings(&mut self, owner_id: i64) -> Result<Vec<Binding>, ApiError> {
        self.all(
            "SELECT entity_type_id, entity_id FROM timeline_bindings
             WHERE portal_id = ?1 AND owner_id = ?2 ORDER BY seq",
            &args![self.portal, owner_id],
            |r| Ok(Binding::new(r.int(0)?, r.int(1)?)),
        )
    }

    fn timeline_bindings_page(
        &mut self,
        owner_id: i64,
        offset: u64,
        limit: u64,
        count: bool,
    ) -> Result<PageOf<Binding>, ApiError> {
        let total = if count {
            let n = self
                .opt(
                    "SELECT COUNT(*) FROM timeline_bindings WHERE portal_id = ?1 AND owner_id = ?2",
                    &args![self.portal, owner_id],
                    |r| r.int(0),
                )?
                .unwrap_or(0);
            Some(n.max(0) as u64)
        } else {
            None
        };
        let rows = self.all(
            "SELECT entity_type_id, entity_id FROM timeline_bindings
             WHERE portal_id = ?1 AND owner_id = ?2 ORDER BY seq LIMIT ?3 OFFSET ?4",
            &args![self.portal, owner_id, limit_arg(limit), limit_arg(offset)],
            |r| Ok(Binding::new(r.int(0)?, r.int(1)?)),
        )?;
        Ok(PageOf { rows, total })
    }

    fn insert_timeline_binding(
        &mut self,
        owner_id: i64,
        binding: Binding,
    ) -> Result<bool, ApiError> {
        let seq = self.next_id("timeline_binding")?;
        let n = self.exec(
            "INSERT INTO timeline_bindings (portal_id, owner_id, seq, entity_type_id, entity_id)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (portal_id, owner_id, entity_type_id, entity_id) DO NOTHING",
            &args![
                self.portal,
                owner_id,
                seq,
                binding.entity_type_id,
                binding.entity_id
            ],
        )?;
        Ok(n == 1)
    }

    fn delete_timeline_binding(
        &mut self,
        owner_id: i64,
        binding: Binding,
    ) -> Result<bool, ApiError> {
        let n = self.exec(
            "DELETE FROM timeline_bindings
             WHERE portal_id = ?1 AND owner_id = ?2 AND entity_type_id = ?3 AND entity_id = ?4",
            &args![
                self.portal,
                owner_id,
                binding.entity_type_id,
                binding.entity_id
            ],
        )?;
        Ok(n == 1)
    }

    fn comments_of(
        &mut self,
        entity: Binding,
        order: CommentOrder,
        descending: bool,
        offset: u64,
        limit: u64,
        count: bool,
    ) -> Result<PageOf<CommentRecord>, ApiError> {
        let total = if count {
            let n = self
                .opt(
                    &format!("SELECT COUNT(*) {COMMENTS_OF_ENTITY}"),
                    &args![self.portal, entity.entity_type_id, entity.entity_id],
                    |r| r.int(0),
                )?
                .unwrap_or(0);
            Some(n.max(0) as u64)
        } else {
            None
        };
        let rows = self.all(
            &comments_page(order, descending),
            &args![
                self.portal,
                entity.entity_type_id,
                entity.entity_id,
                limit_arg(limit),
                limit_arg(offset)
            ],
            |r| {
                Ok(CommentRecord {
                    id: r.int(0)?,
                    created: r.text(1)?,
                    author_id: r.int(2)?,
                    comment: r.text(3)?,
                })
            },
        )?;
        Ok(PageOf { rows, total })
    }
}
