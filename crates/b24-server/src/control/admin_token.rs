//! The admin token: made on first start (32 random characters), stored as a digest, and written
//! to `DATA_DIR/admin-token` (mode 0600) so that test fixtures can read it. `--admin-token` sets
//! it; `b24-server admin token --rotate` replaces it.

use crate::error::ApiError;
use crate::secret::{digest, generate_code};
use crate::store::{Store, DEFAULT_PORTAL};
use anyhow::{anyhow, bail, Context as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Length of a generated admin token.
pub const ADMIN_TOKEN_LEN: usize = 32;

/// The file beside the database that holds the admin token in clear, for fixtures.
pub fn token_file(data_dir: &Path) -> PathBuf {
    data_dir.join("admin-token")
}

/// What start-up did about the admin token.
pub enum TokenAtStart {
    /// A token was made now: shown once, and written to the token file.
    Made(String),
    /// The token given with `--admin-token` is in force (and in the token file).
    Given(String),
    /// The stored token stays in force.
    Kept,
}

/// The token is a secret: `Debug` never shows it.
impl std::fmt::Debug for TokenAtStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenAtStart::Made(_) => "Made(<redacted>)",
            TokenAtStart::Given(_) => "Given(<redacted>)",
            TokenAtStart::Kept => "Kept",
        })
    }
}

fn to_anyhow(e: ApiError) -> anyhow::Error {
    match e {
        ApiError::Internal(e) => e,
        ApiError::Rest(e) => anyhow!("{}", e.message),
    }
}

/// Checks a token chosen by the operator: printable, without spaces, long enough to guess.
pub fn validate(token: &str) -> anyhow::Result<()> {
    if token.len() < 16 || token.len() > 256 {
        bail!("the admin token must be 16 to 256 characters long");
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        bail!("the admin token must be printable ASCII without spaces");
    }
    Ok(())
}

/// Puts the admin token in place at start: the given one, the stored one, or a new one. Returns
/// the digest in force and what was done.
pub fn ensure(
    store: &Store,
    data_dir: &Path,
    given: Option<&str>,
) -> anyhow::Result<([u8; 32], TokenAtStart)> {
    if let Some(token) = given {
        validate(token)?;
        let wanted = digest(token);
        store
            .write(DEFAULT_PORTAL, |tx| {
                tx.set_admin_token_digest(&wanted, true)
            })
            .map_err(to_anyhow)?;
        write_token_file(data_dir, token)?;
        return Ok((wanted, TokenAtStart::Given(token.to_string())));
    }
    let fresh = generate_code(ADMIN_TOKEN_LEN);
    let fresh_digest = digest(&fresh);
    let (stored, made) = store
        .write(DEFAULT_PORTAL, |tx| {
            let made = tx.set_admin_token_digest(&fresh_digest, false)?;
            let stored = tx.admin_token_digest()?;
            Ok((stored, made))
        })
        .map_err(to_anyhow)?;
    let stored = stored.ok_or_else(|| anyhow!("the admin token was not stored"))?;
    if made {
        write_token_file(data_dir, &fresh)?;
        return Ok((stored, TokenAtStart::Made(fresh)));
    }
    Ok((stored, TokenAtStart::Kept))
}

/// Replaces the admin token with a new one; returns it (written to the token file too). A
/// running server takes it within a second.
pub fn rotate(store: &Store, data_dir: &Path) -> anyhow::Result<String> {
    let fresh = generate_code(ADMIN_TOKEN_LEN);
    let fresh_digest = digest(&fresh);
    store
        .write(DEFAULT_PORTAL, |tx| {
            tx.set_admin_token_digest(&fresh_digest, true)
        })
        .map_err(to_anyhow)?;
    write_token_file(data_dir, &fresh)?;
    Ok(fresh)
}

/// The digest in force, as stored.
pub fn stored_digest(store: &Store) -> anyhow::Result<Option<[u8; 32]>> {
    store
        .read(DEFAULT_PORTAL, |tx| tx.admin_token_digest())
        .map_err(to_anyhow)
}

/// The token as the token file holds it, if the file is there.
pub fn read_token_file(data_dir: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(token_file(data_dir)) {
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context("could not read the admin-token file"),
    }
}

/// Writes `DATA_DIR/admin-token` readable by its owner only, atomically (a fixture never reads
/// half a token).
fn write_token_file(data_dir: &Path, token: &str) -> anyhow::Result<()> {
    write_private_file(&token_file(data_dir), format!("{token}\n").as_bytes())
}

/// Writes a file readable by its owner only, through a temporary file renamed into place.
pub fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .with_context(|| format!("could not write in {}", dir.display()))?;
    // tempfile creates the file with mode 0600 on Unix.
    temp.write_all(contents)?;
    temp.as_file().sync_all()?;
    temp.persist(path)
        .with_context(|| format!("could not write {}", path.display()))?;
    Ok(())
}
