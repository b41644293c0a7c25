//! The two file URLs of `disk.*`, streamed both ways so no file is ever whole in memory:
//!
//! - the upload URL `disk.*.uploadfile` hands out without `fileContent`:
//!   `POST /disk/upload/{portal}/{folder}/{user}/{unique}/{expires}/{signature}` with a
//!   `multipart/form-data` body whose `file` field is the file. Each chunk of at most
//!   [`CHUNK_BYTES`] is stored as it arrives, in a short transaction of its own; the file row is
//!   made at the end. A failed upload (too large, broken body, name taken, …) deletes the chunks
//!   it stored. The answer is the REST envelope with the new file.
//! - `DOWNLOAD_URL`: `GET /disk/download/{portal}/{file}/{signature}` answers the bytes, read a
//!   chunk at a time.
//!
//! Both URLs are signed with a server key (HMAC-SHA256 of what they grant): they carry no
//! credential a REST call would accept, unlike the service's, which put the caller's access
//! token in the URL. An upload URL names its folder, user and flag, and expires after
//! [`UPLOAD_URL_LIFETIME_SECS`].

use super::{error_response, with_common_headers};
use crate::domain::disk::{self, Shown};
use crate::error::ApiError;
use crate::secret;
use crate::state::AppState;
use crate::store::disk::{ObjectRecord, CHUNK_BYTES};
use crate::store::PortalId;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use b24_protocol::{ErrorCode, SuccessEnvelope, TimeBlock};

/// How long an upload URL works.
pub const UPLOAD_URL_LIFETIME_SECS: i64 = 3600;

/// The routes, merged into the server's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/disk/upload/{*grant}", post(upload))
        .route("/disk/download/{portal}/{file}/{signature}", get(download))
        // The file size limit is applied while the body streams in (`max_file_bytes`).
        .layer(axum::extract::DefaultBodyLimit::disable())
}

fn upload_grant(portal: PortalId, folder: i64, user: i64, unique: bool, expires: i64) -> String {
    format!(
        "upload:{portal}:{folder}:{user}:{}:{expires}",
        u8::from(unique)
    )
}

/// The upload URL for a folder: `{"field": "file", "uploadUrl": …}` names it.
pub fn upload_url(shown: &Shown<'_>, user: i64, folder: i64, unique: bool, now: f64) -> String {
    let expires = now.floor() as i64 + UPLOAD_URL_LIFETIME_SECS;
    let grant = upload_grant(shown.portal, folder, user, unique, expires);
    let signature = secret::url_signature(shown.key, &grant);
    format!(
        "{}/disk/upload/{}/{folder}/{user}/{}/{expires}/{signature}",
        shown.base,
        shown.portal,
        u8::from(unique)
    )
}

/// What an upload URL grants, read from its path.
struct UploadGrant {
    portal: PortalId,
    folder: i64,
    user: i64,
    unique: bool,
    expires: i64,
    signature: String,
}

impl UploadGrant {
    fn parse(path: &str) -> Option<UploadGrant> {
        let parts: Vec<&str> = path.split('/').collect();
        let [portal, folder, user, unique, expires, signature] = parts.as_slice() else {
            return None;
        };
        Some(UploadGrant {
            portal: portal.parse().ok()?,
            folder: folder.parse().ok()?,
            user: user.parse().ok()?,
            unique: match *unique {
                "1" => true,
                "0" => false,
                _ => return None,
            },
            expires: expires.parse().ok()?,
            signature: signature.to_string(),
        })
    }
}

fn invalid_url() -> ApiError {
    ErrorCode::InvalidToken.into()
}

/// Runs a store call on the blocking pool.
async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> Result<R, ApiError> + Send + 'static,
) -> Result<R, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("a disk task panicked: {e}")))?
}

async fn upload(
    State(state): State<AppState>,
    Path(grant): Path<String>,
    request: Request,
) -> Response {
    let started = state.clock.now();
    match receive(&state, &grant, request).await {
        Ok(file) => {
            let finish = state.clock.now();
            let envelope = SuccessEnvelope {
                result: file,
                next: None,
                total: None,
                time: TimeBlock::new(started, finish, finish - started, 0.0, None),
            };
            match serde_json::to_vec(&envelope) {
                Ok(body) => with_common_headers(StatusCode::OK, body),
                Err(e) => error_response(&ApiError::internal(e.into()), "disk upload"),
            }
        }
        Err(e) => error_response(&e, "disk upload"),
    }
}

/// Checks the URL, streams the `file` field into chunks, then makes the file; on any failure
/// after the first chunk, deletes the chunks stored.
async fn receive(
    state: &AppState,
    grant: &str,
    request: Request,
) -> Result<serde_json::Value, ApiError> {
    let grant = UploadGrant::parse(grant).ok_or_else(invalid_url)?;
    let store = state.store.clone();
    let portal = grant.portal;
    let key = blocking(move || store.write(portal, disk::url_key)).await?;
    let expected = upload_grant(
        grant.portal,
        grant.folder,
        grant.user,
        grant.unique,
        grant.expires,
    );
    if !secret::url_signature_valid(&key, &expected, &grant.signature)
        || (grant.expires as f64) < state.clock.now()
    {
        return Err(invalid_url());
    }
    // The folder and the user's right to it, before any byte is stored.
    let store = state.store.clone();
    let (folder_id, user_id) = (grant.folder, grant.user);
    let permissions = blocking(move || {
        store.read(portal, |tx| {
            let user = tx
                .user(user_id)?
                .filter(|u| u.active)
                .ok_or_else(invalid_url)?;
            let permissions = crate::auth::load_permissions(tx, &user)?;
            disk::usable_object(tx, &permissions, folder_id, true)?;
            Ok(permissions)
        })
    })
    .await?;
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|_| disk::could_not_save())?;
    let blob_id = {
        let store = state.store.clone();
        blocking(move || store.write(portal, |tx| tx.next_id("disk_blob"))).await?
    };
    let stored = stream_file(state, portal, blob_id, &mut multipart).await;
    let outcome = match stored {
        Ok((name, size)) => {
            let store = state.store.clone();
            let base = state.public_url.clone();
            let unique = grant.unique;
            blocking(move || {
                store.write(portal, |tx| {
                    let (folder, _) = disk::usable_object(tx, &permissions, folder_id, true)?;
                    let file =
                        disk::add_file(tx, &permissions, &folder, &name, unique, blob_id, size)?;
                    let key = disk::url_key(tx)?;
                    let shown = Shown {
                        base: &base,
                        key: &key,
                        portal,
                    };
                    Ok(disk::object_json(&file, &shown))
                })
            })
            .await
        }
        Err(e) => Err(e),
    };
    if outcome.is_err() {
        let store = state.store.clone();
        // The failure is what the caller hears; a failed clean-up is only logged.
        if let Err(e) = blocking(move || store.write(portal, |tx| tx.delete_blob(blob_id))).await {
            tracing::error!(error = %e, "could not delete the chunks of a failed upload");
        }
    }
    outcome
}

/// Stores the `file` field of the form in chunks of blob `blob_id`; returns the file's name
/// and size. Other fields are read past.
async fn stream_file(
    state: &AppState,
    portal: PortalId,
    blob_id: i64,
    multipart: &mut Multipart,
) -> Result<(String, i64), ApiError> {
    let max = state.limits.max_file_bytes;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|_| disk::could_not_save())?
    {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("").trim().to_string();
        let mut buffer: Vec<u8> = Vec::with_capacity(CHUNK_BYTES);
        let mut size: u64 = 0;
        let mut seq: i64 = 0;
        loop {
            let piece: Option<Bytes> = field.chunk().await.map_err(|_| disk::could_not_save())?;
            let done = piece.is_none();
            if let Some(piece) = piece {
                size += piece.len() as u64;
                if size > max {
                    return Err(disk::could_not_save());
                }
                buffer.extend_from_slice(&piece);
            }
            while buffer.len() >= CHUNK_BYTES || (done && !buffer.is_empty()) {
                let take = buffer.len().min(CHUNK_BYTES);
                let chunk: Vec<u8> = buffer.drain(..take).collect();
                let store = state.store.clone();
                let this = seq;
                blocking(move || store.write(portal, |tx| tx.put_chunk(blob_id, this, &chunk)))
                    .await?;
                seq += 1;
            }
            if done {
                break;
            }
        }
        return Ok((name, size as i64));
    }
    Err(disk::could_not_save())
}

fn not_found(id: i64) -> Response {
    error_response(&disk::not_found(id), "disk download")
}

/// `DOWNLOAD_URL`: the bytes, a chunk per read, as `application/octet-stream` with the file's
/// name in `Content-Disposition`.
async fn download(
    State(state): State<AppState>,
    Path((portal, file_id, signature)): Path<(String, String, String)>,
) -> Response {
    let (Ok(portal), Ok(file_id)) = (portal.parse::<PortalId>(), file_id.parse::<i64>()) else {
        return not_found(0);
    };
    let store = state.store.clone();
    let found = blocking(move || {
        store.read(portal, |tx| {
            let key = disk::url_key_read(tx)?;
            Ok((key, tx.disk_object(file_id)?))
        })
    })
    .await;
    let file: ObjectRecord = match found {
        Ok((key, Some(file)))
            if !file.is_folder
                && !key.is_empty()
                && secret::url_signature_valid(
                    &key,
                    &disk::download_grant(portal, &file),
                    &signature,
                ) =>
        {
            file
        }
        Ok(_) => return not_found(file_id),
        Err(e) => return error_response(&e, "disk download"),
    };
    let store = state.store.clone();
    let blob_id = file.blob_id;
    // The state is the next chunk to read; `None` after a failed read ends the stream.
    let chunks = futures::stream::unfold(Some(0i64), move |next| {
        let store = store.clone();
        async move {
            let seq = next?;
            let read = blocking(move || store.read(portal, |tx| tx.chunk(blob_id, seq))).await;
            match read {
                Ok(Some(bytes)) => Some((
                    Ok::<Bytes, std::io::Error>(Bytes::from(bytes)),
                    Some(seq + 1),
                )),
                Ok(None) => None,
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    });
    let mut response = Response::new(Body::from_stream(chunks));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.size));
    let encoded =
        percent_encoding::utf8_percent_encode(&file.name, percent_encoding::NON_ALPHANUMERIC);
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{encoded}")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}
