//! Files (`disk.*`): storages, folders and files, their rights, and how they are shown.
//!
//! Every portal has the common drive (`ENTITY_TYPE` `common`) and one drive per user, made the
//! first time a `disk.*` call needs them. Rights, simplified from the service's: everyone may
//! read and change the common drive; a user's drive is its owner's and the administrators'.
//! Errors are the disk module's (HTTP 400; docs' error tables): `ERROR_ARGUMENT`,
//! `ERROR_NOT_FOUND`, `ACCESS_DENIED`, `DISK_OBJ_22000`, `DISK_BASE_SERVICE_22001`,
//! `ERROR_COULD_NOT_SAVE_FILE`. Bytes are stored by [`crate::store::disk`].

use super::Permissions;
use crate::error::ApiError;
use crate::secret;
use crate::store::disk::{ObjectRecord, StorageRecord, CHUNK_BYTES};
use crate::store::Tx;
use b24_protocol::{ErrorCode, RestError};
use serde_json::{Map, Value};

/// The common drive's `ENTITY_ID`, as the service names it on a cloud portal.
pub const COMMON_ENTITY_ID: &str = "shared_files_s1";

/// `ERROR_ARGUMENT` for a required parameter that is missing or not a number.
pub fn bad_argument(index: usize) -> ApiError {
    RestError::with_message(
        ErrorCode::ErrorArgument,
        format!("Invalid value of parameter {{Parameter #{index}}}"),
    )
    .into()
}

/// `ERROR_NOT_FOUND` naming the id asked for.
pub fn not_found(id: i64) -> ApiError {
    RestError::with_message(
        ErrorCode::DiskNotFound,
        format!("Could not find entity with id `{id}`"),
    )
    .into()
}

fn access_denied() -> ApiError {
    ErrorCode::DiskAccessDenied.into()
}

fn conflict(message: &'static str) -> ApiError {
    RestError::with_message(ErrorCode::DiskObjectConflict, message).into()
}

/// `ERROR_COULD_NOT_SAVE_FILE`.
pub fn could_not_save() -> ApiError {
    ErrorCode::DiskCouldNotSave.into()
}

/// Makes a storage with its root folder.
fn make_storage(
    tx: &mut dyn Tx,
    name: &str,
    entity_type: &str,
    entity_id: &str,
    user_id: i64,
) -> Result<StorageRecord, ApiError> {
    let id = tx.next_id("disk_storage")?;
    let root = tx.next_id("disk_object")?;
    let now = tx.now_iso();
    let record = StorageRecord {
        id,
        name: name.to_string(),
        entity_type: entity_type.to_string(),
        entity_id: entity_id.to_string(),
        root_object_id: root,
    };
    tx.insert_storage(&record)?;
    tx.insert_disk_object(&ObjectRecord {
        id: root,
        storage_id: id,
        parent_id: -id,
        is_folder: true,
        name: name.to_string(),
        blob_id: 0,
        size: 0,
        version: 1,
        created_by: user_id,
        updated_by: user_id,
        create_time: now.clone(),
        update_time: now,
    })?;
    Ok(record)
}

/// The common drive and the caller's drive, made when missing (write transactions only).
pub fn ensure_storages(tx: &mut dyn Tx, permissions: &Permissions) -> Result<(), ApiError> {
    if tx.storage_of("common", COMMON_ENTITY_ID)?.is_none() {
        make_storage(tx, "Shared drive", "common", COMMON_ENTITY_ID, 1)?;
    }
    let user_id = permissions.user_id.to_string();
    if tx.storage_of("user", &user_id)?.is_none() {
        let name = match tx.user(permissions.user_id)? {
            Some(u) => format!("{} {}", u.name, u.last_name).trim().to_string(),
            None => format!("User {user_id}"),
        };
        make_storage(tx, &name, "user", &user_id, permissions.user_id)?;
    }
    Ok(())
}

/// Whether the caller may read and change what a storage holds.
pub fn may_use(storage: &StorageRecord, permissions: &Permissions) -> bool {
    permissions.admin
        || storage.entity_type == "common"
        || storage.entity_id == permissions.user_id.to_string()
}

/// A storage the caller may use: `ERROR_NOT_FOUND`, then `ACCESS_DENIED`.
pub fn usable_storage(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
) -> Result<StorageRecord, ApiError> {
    let storage = tx.storage(id)?.ok_or_else(|| not_found(id))?;
    if !may_use(&storage, permissions) {
        return Err(access_denied());
    }
    Ok(storage)
}

/// An object of the wanted kind the caller may use: `ERROR_NOT_FOUND` (also for an object of
/// the other kind, as the service looks folders and files up separately), then `ACCESS_DENIED`.
pub fn usable_object(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
    folder: bool,
) -> Result<(ObjectRecord, StorageRecord), ApiError> {
    let object = tx
        .disk_object(id)?
        .filter(|o| o.is_folder == folder)
        .ok_or_else(|| not_found(id))?;
    let storage = tx
        .storage(object.storage_id)?
        .ok_or_else(|| not_found(id))?;
    if !may_use(&storage, permissions) {
        return Err(access_denied());
    }
    Ok((object, storage))
}

/// `NAME` of a `data` map: a non-empty string, else `DISK_BASE_SERVICE_22001`.
pub fn required_name(data: Option<&Map<String, Value>>) -> Result<String, ApiError> {
    let name = data
        .and_then(|d| d.get("NAME").or_else(|| d.get("name")))
        .and_then(|v| match v {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .unwrap_or_default();
    check_name(&name)?;
    Ok(name)
}

/// A name may not be empty, contain a slash or a backslash, or be `.` or `..`.
fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
        return Err(ErrorCode::DiskNameRequired.into());
    }
    Ok(())
}

/// `name`, or with `generate_unique` the first of `name (1).ext`, `name (2).ext`, … not taken in
/// the folder; a taken name without it is `DISK_OBJ_22000`.
fn free_name(
    tx: &mut dyn Tx,
    parent_id: i64,
    name: &str,
    generate_unique: bool,
    folder: bool,
) -> Result<String, ApiError> {
    if !tx.disk_name_taken(parent_id, name)? {
        return Ok(name.to_string());
    }
    if !generate_unique {
        return Err(conflict(if folder {
            "A folder with this name already exists"
        } else {
            "A file with this name already exists"
        }));
    }
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 && !folder => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    };
    for n in 1.. {
        let candidate = format!("{stem} ({n}){ext}");
        if !tx.disk_name_taken(parent_id, &candidate)? {
            return Ok(candidate);
        }
    }
    unreachable!("some number is free")
}

/// `disk.storage.addfolder` / `disk.folder.addsubfolder`: a new folder in `parent`.
pub fn add_folder(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    parent: &ObjectRecord,
    name: &str,
) -> Result<ObjectRecord, ApiError> {
    let name = free_name(tx, parent.id, name, false, true)?;
    let now = tx.now_iso();
    let record = ObjectRecord {
        id: tx.next_id("disk_object")?,
        storage_id: parent.storage_id,
        parent_id: parent.id,
        is_folder: true,
        name,
        blob_id: 0,
        size: 0,
        version: 1,
        created_by: permissions.user_id,
        updated_by: permissions.user_id,
        create_time: now.clone(),
        update_time: now,
    };
    tx.insert_disk_object(&record)?;
    Ok(record)
}

/// A new file in `parent` whose bytes are blob `blob_id` (written already, `size` bytes).
pub fn add_file(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    parent: &ObjectRecord,
    name: &str,
    generate_unique: bool,
    blob_id: i64,
    size: i64,
) -> Result<ObjectRecord, ApiError> {
    check_name(name)?;
    let name = free_name(tx, parent.id, name, generate_unique, false)?;
    let now = tx.now_iso();
    let record = ObjectRecord {
        id: tx.next_id("disk_object")?,
        storage_id: parent.storage_id,
        parent_id: parent.id,
        is_folder: false,
        name,
        blob_id,
        size,
        version: 1,
        created_by: permissions.user_id,
        updated_by: permissions.user_id,
        create_time: now.clone(),
        update_time: now,
    };
    tx.insert_disk_object(&record)?;
    Ok(record)
}

/// Writes bytes held in memory (the base64 form, bounded by the request body limit) as a new
/// blob, in the call's transaction; returns its id.
pub fn write_blob(tx: &mut dyn Tx, bytes: &[u8]) -> Result<i64, ApiError> {
    let blob_id = tx.next_id("disk_blob")?;
    for (seq, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
        tx.put_chunk(blob_id, seq as i64, chunk)?;
    }
    Ok(blob_id)
}

/// The `fileContent` pair `[name, base64]` decoded, over `max_bytes` refused.
pub fn decode_file_content(value: &Value, max_bytes: u64) -> Result<(String, Vec<u8>), ApiError> {
    use base64::Engine as _;
    let (name, data) = match value {
        Value::Array(pair) if pair.len() >= 2 => (&pair[0], &pair[1]),
        Value::Object(pair) if pair.len() >= 2 => {
            let mut values = pair.values();
            (
                values.next().unwrap_or(&Value::Null),
                values.next().unwrap_or(&Value::Null),
            )
        }
        _ => return Err(could_not_save()),
    };
    let name = match name {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let data = data.as_str().ok_or_else(could_not_save)?;
    // Clients wrap base64 at 76 columns (PHP's `chunk_split`) or not at all.
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| could_not_save())?;
    if bytes.len() as u64 > max_bytes {
        return Err(could_not_save());
    }
    Ok((name, bytes))
}

/// `disk.file.rename`: a new name in the same folder.
pub fn rename(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    mut object: ObjectRecord,
    new_name: &str,
) -> Result<ObjectRecord, ApiError> {
    let new_name = new_name.trim();
    if new_name.is_empty() {
        return Err(RestError::with_message(ErrorCode::Uncoded, "Empty name").into());
    }
    check_name(new_name)?;
    if object.name == new_name {
        return Ok(object);
    }
    object.name = free_name(tx, object.parent_id, new_name, false, object.is_folder)?;
    object.updated_by = permissions.user_id;
    object.update_time = tx.now_iso();
    tx.place_disk_object(&object)?;
    Ok(object)
}

/// The folder `targetFolderId` names, for a move or copy: `ERROR_NOT_FOUND`, `ACCESS_DENIED`.
pub fn target_folder(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    id: i64,
) -> Result<ObjectRecord, ApiError> {
    Ok(usable_object(tx, permissions, id, true)?.0)
}

/// `disk.file.moveto`: the file in another folder, under the same name.
pub fn move_file(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    mut file: ObjectRecord,
    target: &ObjectRecord,
) -> Result<ObjectRecord, ApiError> {
    if file.parent_id == target.id {
        return Ok(file);
    }
    file.name = free_name(tx, target.id, &file.name, false, false)?;
    file.parent_id = target.id;
    file.storage_id = target.storage_id;
    file.updated_by = permissions.user_id;
    file.update_time = tx.now_iso();
    tx.place_disk_object(&file)?;
    Ok(file)
}

/// `disk.file.copyto`: a new file with a copy of the bytes (inside the database) in the target
/// folder; a name taken there gets a number, as the service's copy does.
pub fn copy_file(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    file: &ObjectRecord,
    target: &ObjectRecord,
) -> Result<ObjectRecord, ApiError> {
    let blob_id = tx.next_id("disk_blob")?;
    tx.copy_blob(file.blob_id, blob_id)?;
    add_file(
        tx,
        permissions,
        target,
        &file.name,
        true,
        blob_id,
        file.size,
    )
}

/// `disk.file.delete`: the file and its bytes, gone for good (no trash here).
pub fn delete_file(tx: &mut dyn Tx, file: &ObjectRecord) -> Result<(), ApiError> {
    tx.delete_blob(file.blob_id)?;
    tx.delete_disk_object(file.id)
}

/// `disk.folder.deletetree`: the folder and everything under it, bytes included; a storage's
/// root folder is refused with `DISK_OBJ_22000`.
pub fn delete_tree(tx: &mut dyn Tx, folder: &ObjectRecord) -> Result<(), ApiError> {
    if folder.is_root() {
        return Err(conflict("Could not delete root folder"));
    }
    let mut pending = vec![folder.clone()];
    while let Some(object) = pending.pop() {
        if object.is_folder {
            pending.extend(tx.disk_child_ids(object.id)?);
        } else {
            tx.delete_blob(object.blob_id)?;
        }
        tx.delete_disk_object(object.id)?;
    }
    Ok(())
}

/// The key download and upload URLs are signed with (made on first use).
pub fn url_key(tx: &mut dyn Tx) -> Result<Vec<u8>, ApiError> {
    let fresh: [u8; 32] = rand::random();
    tx.server_key(secret::DISK_KEY, &fresh)
}

/// The URL key in a read transaction: the one made already, or (before any file exists, so no
/// URL can be shown) none, which signs nothing anyone can use.
pub fn url_key_read(tx: &mut dyn Tx) -> Result<Vec<u8>, ApiError> {
    Ok(tx.server_key_if_made(secret::DISK_KEY)?.unwrap_or_default())
}

/// The `FILES` of a timeline comment: each attached file that still exists, keyed by its id,
/// in the shape `crm.timeline.comment.get` documents.
pub fn attachments_json(
    tx: &mut dyn Tx,
    ids: &[i64],
    shown: &Shown<'_>,
) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for &id in ids {
        let Some(file) = tx.disk_object(id)?.filter(|o| !o.is_folder) else {
            continue;
        };
        let author = match tx.user(file.created_by)? {
            Some(u) => format!("{} {}", u.name, u.last_name).trim().to_string(),
            None => String::new(),
        };
        let url = download_url(shown.base, shown.key, shown.portal, &file);
        out.insert(
            id.to_string(),
            serde_json::json!({
                "id": file.id,
                "date": file.create_time,
                "type": "file",
                "name": file.name,
                "size": file.size,
                "authorId": file.created_by,
                "authorName": author,
                "urlPreview": "",
                "urlShow": url,
                "urlDownload": url,
            }),
        );
    }
    Ok(out)
}

/// What a download URL grants: these bytes of this file of this portal.
pub fn download_grant(portal: i64, file: &ObjectRecord) -> String {
    format!("download:{portal}:{}:{}", file.id, file.blob_id)
}

/// `DOWNLOAD_URL`: `{base}/disk/download/{portal}/{id}/{signature}`. Unlike the service's URL
/// (which carries the caller's access token), it holds no credential: the signature opens
/// this file's bytes only, and stops working when the file is deleted.
pub fn download_url(base: &str, key: &[u8], portal: i64, file: &ObjectRecord) -> String {
    let signature = secret::url_signature(key, &download_grant(portal, file));
    format!("{base}/disk/download/{portal}/{}/{signature}", file.id)
}

/// Everything the JSON of an object needs besides the object.
pub struct Shown<'a> {
    /// The server's base URL.
    pub base: &'a str,
    /// The URL key.
    pub key: &'a [u8],
    /// The portal.
    pub portal: i64,
}

/// A folder or file as `disk.folder.get` / `disk.file.get` answer it.
pub fn object_json(object: &ObjectRecord, shown: &Shown<'_>) -> Value {
    let mut out = Map::new();
    out.insert("ID".into(), Value::String(object.id.to_string()));
    out.insert("NAME".into(), Value::String(object.name.clone()));
    out.insert("CODE".into(), Value::Null);
    out.insert(
        "STORAGE_ID".into(),
        Value::String(object.storage_id.to_string()),
    );
    out.insert(
        "TYPE".into(),
        Value::String(if object.is_folder { "folder" } else { "file" }.into()),
    );
    if object.is_folder {
        out.insert(
            "REAL_OBJECT_ID".into(),
            Value::String(object.id.to_string()),
        );
    }
    out.insert(
        "PARENT_ID".into(),
        if object.is_root() {
            Value::Null
        } else {
            Value::String(object.parent_id.to_string())
        },
    );
    out.insert("DELETED_TYPE".into(), Value::String("0".into()));
    if !object.is_folder {
        out.insert(
            "GLOBAL_CONTENT_VERSION".into(),
            Value::String(object.version.to_string()),
        );
        out.insert("FILE_ID".into(), Value::String(object.blob_id.to_string()));
        out.insert("SIZE".into(), Value::String(object.size.to_string()));
    }
    out.insert(
        "CREATE_TIME".into(),
        Value::String(object.create_time.clone()),
    );
    out.insert(
        "UPDATE_TIME".into(),
        Value::String(object.update_time.clone()),
    );
    out.insert("DELETE_TIME".into(), Value::Null);
    out.insert(
        "CREATED_BY".into(),
        Value::String(object.created_by.to_string()),
    );
    out.insert(
        "UPDATED_BY".into(),
        Value::String(object.updated_by.to_string()),
    );
    out.insert("DELETED_BY".into(), Value::String("0".into()));
    if !object.is_folder {
        out.insert(
            "DOWNLOAD_URL".into(),
            Value::String(download_url(shown.base, shown.key, shown.portal, object)),
        );
    }
    out.insert(
        "DETAIL_URL".into(),
        Value::String(format!(
            "{}/disk/{}/{}",
            shown.base,
            if object.is_folder { "folder" } else { "file" },
            object.id
        )),
    );
    Value::Object(out)
}

/// A storage as `disk.storage.get` answers it.
pub fn storage_json(storage: &StorageRecord) -> Value {
    serde_json::json!({
        "ID": storage.id.to_string(),
        "NAME": storage.name,
        "CODE": Value::Null,
        "MODULE_ID": "disk",
        "ENTITY_TYPE": storage.entity_type,
        "ENTITY_ID": storage.entity_id,
        "ROOT_OBJECT_ID": storage.root_object_id.to_string(),
    })
}

/// What the `FILES` of a timeline comment or an activity name: existing disk files by id, or
/// new files as `[name, base64]` pairs (`fileData` for activities).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    /// A disk file by id.
    Existing(i64),
    /// A new file: its name and bytes.
    New(String, Vec<u8>),
}

/// Stores the attachments a `FILES` value names, new files in the caller's drive root; returns
/// the files' ids. An id of a file the caller may not use is `ACCESS_DENIED`, of no file
/// `ERROR_NOT_FOUND`.
pub fn attach(
    tx: &mut dyn Tx,
    permissions: &Permissions,
    attachments: Vec<Attachment>,
) -> Result<Vec<i64>, ApiError> {
    let mut ids = Vec::new();
    for attachment in attachments {
        match attachment {
            Attachment::Existing(id) => {
                let (file, _) = usable_object(tx, permissions, id, false)?;
                ids.push(file.id);
            }
            Attachment::New(name, bytes) => {
                ensure_storages(tx, permissions)?;
                let storage = tx
                    .storage_of("user", &permissions.user_id.to_string())?
                    .ok_or_else(|| not_found(0))?;
                let root = tx
                    .disk_object(storage.root_object_id)?
                    .ok_or_else(|| not_found(storage.root_object_id))?;
                let size = bytes.len() as i64;
                let blob = write_blob(tx, &bytes)?;
                let file = add_file(tx, permissions, &root, &name, true, blob, size)?;
                ids.push(file.id);
            }
        }
    }
    Ok(ids)
}

/// Reads a `FILES` value: a list (or PHP-style map) whose entries are `[name, base64]` pairs,
/// `{"fileData": [name, base64]}` objects (activities), disk file ids (`5`, `"5"`, `"n5"` as
/// the web form sends them) or `{"id": 5}` objects. Anything else, or bytes over `max_bytes`,
/// is `ERROR_COULD_NOT_SAVE_FILE`.
pub fn parse_attachments(value: &Value, max_bytes: u64) -> Result<Vec<Attachment>, ApiError> {
    let entries: Vec<&Value> = match value {
        Value::Array(list) => list.iter().collect(),
        Value::Object(map) if map.contains_key("fileData") || map.contains_key("id") => {
            vec![value]
        }
        Value::Object(map) => map.values().collect(),
        Value::Null => Vec::new(),
        Value::String(s) if s.is_empty() => Vec::new(),
        other => vec![other],
    };
    entries
        .into_iter()
        .map(|entry| attachment(entry, max_bytes))
        .collect()
}

fn file_id(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().trim_start_matches('n').parse().ok(),
        _ => None,
    }
    .filter(|&id| id > 0)
}

fn attachment(entry: &Value, max_bytes: u64) -> Result<Attachment, ApiError> {
    if let Some(id) = file_id(entry) {
        return Ok(Attachment::Existing(id));
    }
    match entry {
        Value::Object(map) => {
            if let Some(data) = map.get("fileData") {
                let (name, bytes) = decode_file_content(data, max_bytes)?;
                return Ok(Attachment::New(name, bytes));
            }
            map.get("id")
                .and_then(file_id)
                .map(Attachment::Existing)
                .ok_or_else(could_not_save)
        }
        Value::Array(_) => {
            let (name, bytes) = decode_file_content(entry, max_bytes)?;
            Ok(Attachment::New(name, bytes))
        }
        _ => Err(could_not_save()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn files_values_take_every_documented_form() {
        let parsed = parse_attachments(
            &json!([["a.txt", "aGk="], {"fileData": ["b.txt", ""]}, 7, "n8", {"id": "9"}]),
            10,
        )
        .unwrap();
        assert_eq!(
            parsed,
            vec![
                Attachment::New("a.txt".into(), b"hi".to_vec()),
                Attachment::New("b.txt".into(), Vec::new()),
                Attachment::Existing(7),
                Attachment::Existing(8),
                Attachment::Existing(9),
            ]
        );
        assert!(parse_attachments(&json!([["a", "not base64!"]]), 10).is_err());
        assert!(parse_attachments(&json!([["a", "aGk="]]), 1).is_err());
    }
}
