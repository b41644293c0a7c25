//! Storage of files (`disk.*`): storages, the tree of folders and files, the bytes of files in
//! chunks, and the files attached to timeline comments.
//!
//! Bytes live in `disk_chunks`, at most [`CHUNK_BYTES`] a row, keyed by a blob id that a file
//! row names. They are written and read one chunk per statement (an upload writes each chunk in
//! a short transaction of its own, a download reads each in one), so no file is ever whole in
//! memory and no transaction stays open while a client sends or receives. A copy is one
//! `INSERT … SELECT` inside the database.

use super::driver::args;
use super::sql::SqlTx;
use super::PageOf;
use crate::error::ApiError;

/// The largest chunk of a file's bytes stored in one row.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// A storage (`disk.storage.*`): the common drive or a user's drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRecord {
    /// `ID`.
    pub id: i64,
    /// `NAME`.
    pub name: String,
    /// `ENTITY_TYPE`: `common` or `user`.
    pub entity_type: String,
    /// `ENTITY_ID`: `shared_files_s1`, or the user's id.
    pub entity_id: String,
    /// `ROOT_OBJECT_ID`: its root folder.
    pub root_object_id: i64,
}

/// A folder or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    /// `ID`.
    pub id: i64,
    /// `STORAGE_ID`.
    pub storage_id: i64,
    /// `PARENT_ID`; a root folder's is `-storage_id`.
    pub parent_id: i64,
    /// A folder (else a file).
    pub is_folder: bool,
    /// `NAME`.
    pub name: String,
    /// The file's bytes (0 for a folder).
    pub blob_id: i64,
    /// `SIZE` in bytes.
    pub size: i64,
    /// `GLOBAL_CONTENT_VERSION`.
    pub version: i64,
    /// `CREATED_BY`.
    pub created_by: i64,
    /// `UPDATED_BY`.
    pub updated_by: i64,
    /// `CREATE_TIME`, ISO-8601.
    pub create_time: String,
    /// `UPDATE_TIME`, ISO-8601.
    pub update_time: String,
}

impl ObjectRecord {
    /// Whether this is a storage's root folder.
    pub fn is_root(&self) -> bool {
        self.parent_id < 0
    }
}

/// The columns every object read selects, in [`object_from_row`]'s order.
macro_rules! object_columns {
    () => {
        "id, storage_id, parent_id, is_folder, name, blob_id, size, version, created_by, \
         updated_by, create_time, update_time"
    };
}
const OBJECT_COLUMNS: &str = object_columns!();

/// A page of a folder's children by name: a range of `disk_objects_by_parent`.
pub(crate) const CHILDREN_PAGE: &str = concat!(
    "SELECT ",
    object_columns!(),
    " FROM disk_objects WHERE portal_id = ?1 AND parent_id = ?2 ORDER BY name LIMIT ?3 OFFSET ?4"
);

/// The number of a folder's children.
pub(crate) const CHILDREN_COUNT: &str =
    "SELECT COUNT(*) FROM disk_objects WHERE portal_id = ?1 AND parent_id = ?2";

/// A page of storages by id.
pub(crate) const STORAGES_PAGE: &str =
    "SELECT id, name, entity_type, entity_id, root_object_id FROM disk_storages \
     WHERE portal_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3";

/// One chunk of a blob.
pub(crate) const CHUNK: &str =
    "SELECT bytes FROM disk_chunks WHERE portal_id = ?1 AND blob_id = ?2 AND seq = ?3";

/// Takes a deleted file off every timeline record it was attached to.
pub(crate) const DETACH_EVERYWHERE: &str =
    "DELETE FROM timeline_files WHERE portal_id = ?1 AND object_id = ?2";

fn object_from_row(r: &dyn super::driver::SqlRow) -> Result<ObjectRecord, ApiError> {
    Ok(ObjectRecord {
        id: r.int(0)?,
        storage_id: r.int(1)?,
        parent_id: r.int(2)?,
        is_folder: r.bool(3)?,
        name: r.text(4)?,
        blob_id: r.int(5)?,
        size: r.int(6)?,
        version: r.int(7)?,
        created_by: r.int(8)?,
        updated_by: r.int(9)?,
        create_time: r.text(10)?,
        update_time: r.text(11)?,
    })
}

const STORAGE_COLUMNS: &str = "id, name, entity_type, entity_id, root_object_id";

fn storage_from_row(r: &dyn super::driver::SqlRow) -> Result<StorageRecord, ApiError> {
    Ok(StorageRecord {
        id: r.int(0)?,
        name: r.text(1)?,
        entity_type: r.text(2)?,
        entity_id: r.text(3)?,
        root_object_id: r.int(4)?,
    })
}

/// Storages, folders, files and their bytes, inside the call's transaction.
pub trait DiskTx {
    /// A storage by id.
    fn storage(&mut self, id: i64) -> Result<Option<StorageRecord>, ApiError>;
    /// The storage of an entity (`common`/`shared_files_s1`, `user`/`5`).
    fn storage_of(
        &mut self,
        entity_type: &str,
        entity_id: &str,
    ) -> Result<Option<StorageRecord>, ApiError>;
    /// Stores a storage; `record.id` is used as given.
    fn insert_storage(&mut self, record: &StorageRecord) -> Result<(), ApiError>;
    /// A page of storages by id, and their number when `count`.
    fn storages_page(
        &mut self,
        offset: u64,
        limit: u64,
        count: bool,
    ) -> Result<PageOf<StorageRecord>, ApiError>;
    /// A folder or file by id.
    fn disk_object(&mut self, id: i64) -> Result<Option<ObjectRecord>, ApiError>;
    /// Whether the folder holds an object of that name.
    fn disk_name_taken(&mut self, parent_id: i64, name: &str) -> Result<bool, ApiError>;
    /// Stores an object; `record.id` is used as given. The unique index on (parent, name) is
    /// the last word on name clashes.
    fn insert_disk_object(&mut self, record: &ObjectRecord) -> Result<(), ApiError>;
    /// Rewrites an object's parent, name, updater and update time.
    fn place_disk_object(&mut self, record: &ObjectRecord) -> Result<(), ApiError>;
    /// Deletes an object row (not its bytes).
    fn delete_disk_object(&mut self, id: i64) -> Result<(), ApiError>;
    /// The children of a folder, a page by id, and their number when `count`.
    fn disk_children(
        &mut self,
        parent_id: i64,
        offset: u64,
        limit: u64,
        count: bool,
    ) -> Result<PageOf<ObjectRecord>, ApiError>;
    /// All children of a folder (for deleting a tree, a level at a time).
    fn disk_child_ids(&mut self, parent_id: i64) -> Result<Vec<ObjectRecord>, ApiError>;
    /// Appends one chunk of a blob's bytes.
    fn put_chunk(&mut self, blob_id: i64, seq: i64, bytes: &[u8]) -> Result<(), ApiError>;
    /// One chunk of a blob, `None` past its end.
    fn chunk(&mut self, blob_id: i64, seq: i64) -> Result<Option<Vec<u8>>, ApiError>;
    /// Deletes every chunk of a blob; returns how many there were.
    fn delete_blob(&mut self, blob_id: i64) -> Result<u64, ApiError>;
    /// Copies every chunk of `from` to the new blob `to`, inside the database.
    fn copy_blob(&mut self, from: i64, to: i64) -> Result<(), ApiError>;
    /// The files attached to a timeline record, by id.
    fn timeline_files(&mut self, owner_id: i64) -> Result<Vec<i64>, ApiError>;
    /// Attaches a file to a timeline record.
    fn attach_timeline_file(&mut self, owner_id: i64, object_id: i64) -> Result<(), ApiError>;
    /// Detaches every file of a timeline record.
    fn detach_timeline_files(&mut self, owner_id: i64) -> Result<(), ApiError>;
    /// A server key if it was made already (read transactions cannot make one).
    fn server_key_if_made(&mut self, name: &str) -> Result<Option<Vec<u8>>, ApiError>;
}

fn limit_arg(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

impl DiskTx for SqlTx<'_> {
    fn storage(&mut self, id: i64) -> Result<Option<StorageRecord>, ApiError> {
        self.opt(
            &format!(
                "SELECT {STORAGE_COLUMNS} FROM disk_storages WHERE portal_id = ?1 AND id = ?2"
            ),
            &args![self.portal, id],
            storage_from_row,
        )
    }

    fn storage_of(
        &mut self,
        entity_type: &str,
        entity_id: &str,
    ) -> Result<Option<StorageRecord>, ApiError> {
        self.opt(
            &format!(
                "SELECT {STORAGE_COLUMNS} FROM disk_storages
                 WHERE portal_id = ?1 AND entity_type = ?2 AND entity_id = ?3"
            ),
            &args![self.portal, entity_type, entity_id],
            storage_from_row,
        )
    }

    fn insert_storage(&mut self, record: &StorageRecord) -> Result<(), ApiError> {
        self.exec(
            "INSERT INTO disk_storages (portal_id, id, name, entity_type, entity_id, root_object_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &args![
                self.portal,
                record.id,
                &record.name,
                &record.entity_type,
                &record.entity_id,
                record.root_object_id
            ],
        )?;
        Ok(())
    }

    fn storages_page(
        &mut self,
        offset: u64,
        limit: u64,
        count: bool,
    ) -> Result<PageOf<StorageRecord>, ApiError> {
        let total = if count {
            let n = self
                .opt(
                    "SELECT COUNT(*) FROM disk_storages WHERE portal_id = ?1",
                    &args![self.portal],
                    |r| r.int(0),
                )?
                .unwrap_or(0);
            Some(n.max(0) as u64)
        } else {
            None
        };
        let rows = self.all(
            STORAGES_PAGE,
            &args![self.portal, limit_arg(limit), limit_arg(offset)],
            storage_from_row,
        )?;
        Ok(PageOf { rows, total })
    }

    fn disk_object(&mut self, id: i64) -> Result<Option<ObjectRecord>, ApiError> {
        self.opt(
            &format!("SELECT {OBJECT_COLUMNS} FROM disk_objects WHERE portal_id = ?1 AND id = ?2"),
            &args![self.portal, id],
            object_from_row,
        )
    }

    fn disk_name_taken(&mut self, parent_id: i64, name: &str) -> Result<bool, ApiError> {
        Ok(self
            .opt(
                "SELECT id FROM disk_objects WHERE portal_id = ?1 AND parent_id = ?2 AND name = ?3",
                &args![self.portal, parent_id, name],
                |r| r.int(0),
            )?
            .is_some())
    }

    fn insert_disk_object(&mut self, record: &ObjectRecord) -> Result<(), ApiError> {
        self.exec(
            &format!(
                "INSERT INTO disk_objects ({OBJECT_COLUMNS}, portal_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ),
            &args![
                record.id,
                record.storage_id,
                record.parent_id,
                record.is_folder,
                &record.name,
                record.blob_id,
                record.size,
                record.version,
                record.created_by,
                record.updated_by,
                &record.create_time,
                &record.update_time,
                self.portal
            ],
        )?;
        Ok(())
    }

    fn place_disk_object(&mut self, record: &ObjectRecord) -> Result<(), ApiError> {
        self.exec(
            "UPDATE disk_objects SET parent_id = ?3, storage_id = ?4, name = ?5, updated_by = ?6,
                 update_time = ?7
             WHERE portal_id = ?1 AND id = ?2",
            &args![
                self.portal,
                record.id,
                record.parent_id,
                record.storage_id,
                &record.name,
                record.updated_by,
                &record.update_time
            ],
        )?;
        Ok(())
    }

    fn delete_disk_object(&mut self, id: i64) -> Result<(), ApiError> {
        self.exec(DETACH_EVERYWHERE, &args![self.portal, id])?;
        self.exec(
            "DELETE FROM disk_objects WHERE portal_id = ?1 AND id = ?2",
            &args![self.portal, id],
        )?;
        Ok(())
    }

    fn disk_children(
        &mut self,
        parent_id: i64,
        offset: u64,
        limit: u64,
        count: bool,
    ) -> Result<PageOf<ObjectRecord>, ApiError> {
        let total = if count {
            let n = self
                .opt(CHILDREN_COUNT, &args![self.portal, parent_id], |r| r.int(0))?
                .unwrap_or(0);
            Some(n.max(0) as u64)
        } else {
            None
        };
        // By name, as the unique index is ordered: the page is a range of that index.
        let rows = self.all(
            CHILDREN_PAGE,
            &args![self.portal, parent_id, limit_arg(limit), limit_arg(offset)],
            object_from_row,
        )?;
        Ok(PageOf { rows, total })
    }

    fn disk_child_ids(&mut self, parent_id: i64) -> Result<Vec<ObjectRecord>, ApiError> {
        self.all(
            &format!(
                "SELECT {OBJECT_COLUMNS} FROM disk_objects WHERE portal_id = ?1 AND parent_id = ?2"
            ),
            &args![self.portal, parent_id],
            object_from_row,
        )
    }

    fn put_chunk(&mut self, blob_id: i64, seq: i64, bytes: &[u8]) -> Result<(), ApiError> {
        self.exec(
            "INSERT INTO disk_chunks (portal_id, blob_id, seq, bytes) VALUES (?1, ?2, ?3, ?4)",
            &args![self.portal, blob_id, seq, bytes],
        )?;
        Ok(())
    }

    fn chunk(&mut self, blob_id: i64, seq: i64) -> Result<Option<Vec<u8>>, ApiError> {
        self.opt(CHUNK, &args![self.portal, blob_id, seq], |r| r.blob(0))
    }

    fn delete_blob(&mut self, blob_id: i64) -> Result<u64, ApiError> {
        self.exec(
            "DELETE FROM disk_chunks WHERE portal_id = ?1 AND blob_id = ?2",
            &args![self.portal, blob_id],
        )
    }

    fn copy_blob(&mut self, from: i64, to: i64) -> Result<(), ApiError> {
        self.exec(
            "INSERT INTO disk_chunks (portal_id, blob_id, seq, bytes)
             SELECT portal_id, ?3, seq, bytes FROM disk_chunks WHERE portal_id = ?1 AND blob_id = ?2",
            &args![self.portal, from, to],
        )?;
        Ok(())
    }

    fn timeline_files(&mut self, owner_id: i64) -> Result<Vec<i64>, ApiError> {
        self.all(
            "SELECT object_id FROM timeline_files WHERE portal_id = ?1 AND owner_id = ?2
             ORDER BY object_id",
            &args![self.portal, owner_id],
            |r| r.int(0),
        )
    }

    fn attach_timeline_file(&mut self, owner_id: i64, object_id: i64) -> Result<(), ApiError> {
        self.exec(
            "INSERT INTO timeline_files (portal_id, owner_id, object_id) VALUES (?1, ?2, ?3)
             ON CONFLICT (portal_id, owner_id, object_id) DO NOTHING",
            &args![self.portal, owner_id, object_id],
        )?;
        Ok(())
    }

    fn detach_timeline_files(&mut self, owner_id: i64) -> Result<(), ApiError> {
        self.exec(
            "DELETE FROM timeline_files WHERE portal_id = ?1 AND owner_id = ?2",
            &args![self.portal, owner_id],
        )?;
        Ok(())
    }

    fn server_key_if_made(&mut self, name: &str) -> Result<Option<Vec<u8>>, ApiError> {
        self.opt(
            "SELECT secret FROM server_keys WHERE portal_id = ?1 AND name = ?2",
            &args![self.portal, name],
            |r| r.blob(0),
        )
    }
}
