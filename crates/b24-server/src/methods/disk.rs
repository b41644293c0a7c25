//! Files: `disk.storage.*`, `disk.folder.*`, `disk.file.*` (docs: api-reference/disk/**). The
//! disk module's REST service: parameters by name (`id`, `data`, `fileContent`,
//! `generateUniqueName`, `newName`, `targetFolderId`), errors with codes and HTTP 400, lists 50
//! a page with `next` and `total`. Rules: [`crate::domain::disk`]; the streamed upload URL and
//! `DOWNLOAD_URL`: [`crate::http`]'s `disk` module.

use super::{Call, Handler, MethodSpec, Output};
use crate::domain::disk::{self, Shown};
use crate::error::ApiError;
use crate::store::disk::ObjectRecord;
use crate::store::{PageOf, Tx};
use b24_protocol::values::bind_int;
use b24_protocol::PAGE_SIZE;
use serde_json::{json, Map, Value};

macro_rules! disk_method {
    ($const:ident, $name:literal, $handler:ident, $doc:literal) => {
        #[doc = concat!("`", $name, "`.")]
        pub const $const: MethodSpec = MethodSpec {
            name: $name,
            scope: Some("disk"),
            handler: Handler::Blocking($handler),
            doc: $doc,
        };
    };
}

disk_method!(
    STORAGE_GETLIST,
    "disk.storage.getlist",
    storage_getlist,
    "List the drives the portal has, 50 per page."
);
disk_method!(
    STORAGE_GET,
    "disk.storage.get",
    storage_get,
    "Read one drive."
);
disk_method!(
    STORAGE_GETCHILDREN,
    "disk.storage.getchildren",
    storage_getchildren,
    "List the folders and files in a drive's root, 50 per page."
);
disk_method!(
    STORAGE_UPLOADFILE,
    "disk.storage.uploadfile",
    storage_uploadfile,
    "Upload a file to a drive's root (base64, or get an upload URL)."
);
disk_method!(
    STORAGE_ADDFOLDER,
    "disk.storage.addfolder",
    storage_addfolder,
    "Make a folder in a drive's root."
);
disk_method!(
    FOLDER_GET,
    "disk.folder.get",
    folder_get,
    "Read one folder."
);
disk_method!(
    FOLDER_GETCHILDREN,
    "disk.folder.getchildren",
    folder_getchildren,
    "List the folders and files in a folder, 50 per page."
);
disk_method!(
    FOLDER_ADDSUBFOLDER,
    "disk.folder.addsubfolder",
    folder_addsubfolder,
    "Make a folder in a folder."
);
disk_method!(
    FOLDER_UPLOADFILE,
    "disk.folder.uploadfile",
    folder_uploadfile,
    "Upload a file to a folder (base64, or get an upload URL)."
);
disk_method!(
    FOLDER_DELETETREE,
    "disk.folder.deletetree",
    folder_deletetree,
    "Delete a folder with everything in it."
);
disk_method!(
    FILE_GET,
    "disk.file.get",
    file_get,
    "Read one file, with its download URL."
);
disk_method!(
    FILE_DELETE,
    "disk.file.delete",
    file_delete,
    "Delete a file and its bytes."
);
disk_method!(
    FILE_RENAME,
    "disk.file.rename",
    file_rename,
    "Rename a file."
);
disk_method!(
    FILE_MOVETO,
    "disk.file.moveto",
    file_moveto,
    "Move a file to another folder."
);
disk_method!(
    FILE_COPYTO,
    "disk.file.copyto",
    file_copyto,
    "Copy a file to a folder."
);

/// A required positive id parameter (any case): `ERROR_ARGUMENT` naming its position.
fn id_param(call: &Call<'_>, name: &str, index: usize) -> Result<i64, ApiError> {
    call.params
        .get_ci(name)
        .and_then(bind_int)
        .filter(|&id| id > 0)
        .ok_or_else(|| disk::bad_argument(index))
}

/// A flag as clients send it: `true`, `1`, `"Y"`, `"true"`, `"1"`.
fn yes(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64() == Some(1),
        Value::String(s) => matches!(s.to_ascii_lowercase().as_str(), "y" | "true" | "1"),
        _ => false,
    }
}

/// The `data` map, if given as one.
fn data(call: &Call<'_>) -> Option<Map<String, Value>> {
    match call.params.get_ci("data") {
        Some(Value::Object(m)) => Some(m.clone()),
        _ => None,
    }
}

/// Runs `f` in a write transaction after making sure the drives exist, with what showing an
/// object needs.
fn write<R: Send>(
    call: &Call<'_>,
    f: impl FnOnce(&mut dyn Tx, &Shown<'_>) -> Result<R, ApiError> + Send,
) -> Result<R, ApiError> {
    let permissions = &call.caller.permissions;
    let portal = call.caller.portal_id;
    let base = &*call.state.public_url;
    call.state.store.write(portal, |tx| {
        disk::ensure_storages(tx, permissions)?;
        let key = disk::url_key(tx)?;
        f(
            tx,
            &Shown {
                base,
                key: &key,
                portal,
            },
        )
    })
}

fn one(value: Value) -> Result<Output, ApiError> {
    Ok(Output::result(value))
}

fn page_output(call: &Call<'_>, page: PageOf<Value>) -> Result<Output, ApiError> {
    let start = call.params.page();
    let count = page.rows.len();
    Ok(Output {
        result: Value::Array(page.rows),
        next: page.total.and_then(|total| start.next(count, total)),
        total: page.total,
    })
}

fn storage_getlist(call: &Call<'_>) -> Result<Output, ApiError> {
    let page = call.params.page();
    let permissions = &call.caller.permissions;
    let result = write(call, |tx, _| {
        if permissions.admin {
            let found = tx.storages_page(page.offset, PAGE_SIZE, page.count)?;
            return Ok(PageOf {
                rows: found.rows.iter().map(disk::storage_json).collect(),
                total: found.total,
            });
        }
        // Anyone else may use two drives: the common one and their own (two index probes).
        let mut mine = Vec::new();
        for (kind, entity) in [
            ("common", disk::COMMON_ENTITY_ID.to_string()),
            ("user", permissions.user_id.to_string()),
        ] {
            mine.extend(tx.storage_of(kind, &entity)?);
        }
        let total = mine.len() as u64;
        Ok(PageOf {
            rows: mine
                .iter()
                .skip(page.offset.min(total) as usize)
                .map(disk::storage_json)
                .collect(),
            total: page.count.then_some(total),
        })
    })?;
    page_output(call, result)
}

fn storage_get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = id_param(call, "id", 0)?;
    let permissions = &call.caller.permissions;
    one(write(call, |tx, _| {
        Ok(disk::storage_json(&disk::usable_storage(
            tx,
            permissions,
            id,
        )?))
    })?)
}

fn children(
    tx: &mut dyn Tx,
    shown: &Shown<'_>,
    folder_id: i64,
    page: b24_protocol::Page,
) -> Result<PageOf<Value>, ApiError> {
    let found = tx.disk_children(folder_id, page.offset, PAGE_SIZE, page.count)?;
    Ok(PageOf {
        rows: found
            .rows
            .iter()
            .map(|o| disk::object_json(o, shown))
            .collect(),
        total: found.total,
    })
}

fn storage_getchildren(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = id_param(call, "id", 0)?;
    let page = call.params.page();
    let permissions = &call.caller.permissions;
    let result = write(call, |tx, shown| {
        let storage = disk::usable_storage(tx, permissions, id)?;
        children(tx, shown, storage.root_object_id, page)
    })?;
    page_output(call, result)
}

fn storage_root(
    tx: &mut dyn Tx,
    call: &Call<'_>,
    storage_id: i64,
) -> Result<ObjectRecord, ApiError> {
    let storage = disk::usable_storage(tx, &call.caller.permissions, storage_id)?;
    tx.disk_object(storage.root_object_id)?
        .ok_or_else(|| disk::not_found(storage_id))
}

fn storage_addfolder(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = id_param(call, "id", 0)?;
    let data = data(call);
    one(write(call, |tx, shown| {
        let root = storage_root(tx, call, id)?;
        let name = disk::required_name(data.as_ref())?;
        let folder = disk::add_folder(tx, &call.caller.permissions, &root, &name)?;
        Ok(disk::object_json(&folder, shown))
    })?)
}

/// `uploadfile` of a drive root or a folder: with `fileContent`, the file is made in this call;
/// without it, the answer is the URL to POST the file to (`{"field": "file", "uploadUrl"}`).
fn upload(
    call: &Call<'_>,
    folder: impl FnOnce(&mut dyn Tx) -> Result<ObjectRecord, ApiError> + Send,
) -> Result<Output, ApiError> {
    let data = data(call);
    let generate_unique = call.params.get_ci("generateUniqueName").is_some_and(yes);
    let max = call.state.limits.max_file_bytes;
    let content = call.params.get_ci("fileContent").cloned();
    let permissions = &call.caller.permissions;
    let now = call.state.clock.now();
    one(write(call, |tx, shown| {
        let parent = folder(tx)?;
        let Some(content) = content else {
            let url = crate::http::disk::upload_url(
                shown,
                permissions.user_id,
                parent.id,
                generate_unique,
                now,
            );
            return Ok(json!({"field": "file", "uploadUrl": url}));
        };
        // `data.NAME` names the file (the docs list `DISK_BASE_SERVICE_22001` without it); the
        // name inside `fileContent` is not used.
        let name = disk::required_name(data.as_ref())?;
        let (_, bytes) = disk::decode_file_content(&content, max)?;
        let size = bytes.len() as i64;
        let blob = disk::write_blob(tx, &bytes)?;
        let file = disk::add_file(tx, permissions, &parent, &name, generate_unique, blob, size)?;
        Ok(disk::object_json(&file, shown))
    })?)
}

fn storage_uploadfile(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = id_param(call, "id", 0)?;
    upload(call, |tx| storage_root(tx, call, id))
}

fn folder_uploadfile(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = id_param(call, "id", 0)?;
    let permissions = &call.caller.permissions;
    upload(call, |tx| {
        Ok(disk::usable_object(tx, permissions, id, true)?.0)
    })
}

fn folder_get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = id_param(call, "id", 0)?;
    let permissions = &call.caller.permissions;
    one(write(call, |tx, shown| {
        let (folder, _) = disk::usable_object(tx, permissions, id, true)?;
        Ok(disk::object_json(&folder, shown))
    })?)
}

fn folder_getchildren(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = id_param(call, "id", 0)?;
    let page = call.params.page();
    let permissions = &call.caller.permissions;
    let result = write(call, |tx, shown| {
        let (folder, _) = disk::usable_object(tx, permissions, id, true)?;
        children(tx, shown, folder.id, page)
    })?;
    page_output(call, result)
}

fn folder_addsubfolder(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = id_param(call, "id", 0)?;
    let data = data(call);
    let permissions = &call.caller.permissions;
    one(write(call, |tx, shown| {
        let (parent, _) = disk::usable_object(tx, permissions, id, true)?;
        let name = disk::required_name(data.as_ref())?;
        let folder = disk::add_folder(tx, permissions, &parent, &name)?;
        Ok(disk::object_json(&folder, shown))
    })?)
}

fn folder_deletetree(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = id_param(call, "id", 0)?;
    let permissions = &call.caller.permissions;
    one(write(call, |tx, _| {
        let (folder, _) = disk::usable_object(tx, permissions, id, true)?;
        disk::delete_tree(tx, &folder)?;
        Ok(Value::Bool(true))
    })?)
}

fn file_get(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = id_param(call, "id", 0)?;
    let permissions = &call.caller.permissions;
    one(write(call, |tx, shown| {
        let (file, _) = disk::usable_object(tx, permissions, id, false)?;
        Ok(disk::object_json(&file, shown))
    })?)
}

fn file_delete(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = id_param(call, "id", 0)?;
    let permissions = &call.caller.permissions;
    one(write(call, |tx, _| {
        let (file, _) = disk::usable_object(tx, permissions, id, false)?;
        disk::delete_file(tx, &file)?;
        Ok(Value::Bool(true))
    })?)
}

fn file_rename(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = id_param(call, "id", 0)?;
    let new_name = match call.params.get_ci("newName") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(disk::bad_argument(1)),
    };
    let permissions = &call.caller.permissions;
    one(write(call, |tx, shown| {
        let (file, _) = disk::usable_object(tx, permissions, id, false)?;
        let file = disk::rename(tx, permissions, file, &new_name)?;
        Ok(disk::object_json(&file, shown))
    })?)
}

fn file_moveto(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = id_param(call, "id", 0)?;
    let target = id_param(call, "targetFolderId", 1)?;
    let permissions = &call.caller.permissions;
    one(write(call, |tx, shown| {
        let (file, _) = disk::usable_object(tx, permissions, id, false)?;
        let target = disk::target_folder(tx, permissions, target)?;
        let file = disk::move_file(tx, permissions, file, &target)?;
        Ok(disk::object_json(&file, shown))
    })?)
}

fn file_copyto(call: &Call<'_>) -> Result<Output, ApiError> {
    let id = id_param(call, "id", 0)?;
    let target = id_param(call, "targetFolderId", 1)?;
    let permissions = &call.caller.permissions;
    one(write(call, |tx, shown| {
        let (file, _) = disk::usable_object(tx, permissions, id, false)?;
        let target = disk::target_folder(tx, permissions, target)?;
        let copy = disk::copy_file(tx, permissions, &file, &target)?;
        Ok(disk::object_json(&copy, shown))
    })?)
}
