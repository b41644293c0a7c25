//! Start-up checks: a database that is not ours, from a newer release, or damaged is refused
//! with a message that says what to do, and never changed; the data directory and the database
//! files are private to their owner.

use crate::helpers::{postgres_only, TestSchema};
use r2d2_sqlite::rusqlite;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const DB_FILE: &str = "b24.sqlite3";

/// `b24-server webhook list` opens the store like every command (and `serve`) does.
fn open_store(data_dir: &Path, database_url: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_b24-server"));
    command
        .args(["webhook", "list", "--data-dir"])
        .arg(data_dir)
        .env_remove("B24_DATABASE_URL")
        .env_remove("B24_DATA_DIR");
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    command.output().unwrap()
}

#[track_caller]
fn assert_refused(out: &Output, says: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "not refused: {stderr}");
    for words in says {
        assert!(stderr.contains(words), "{words:?} missing from: {stderr}");
    }
}

fn sqlite(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join(DB_FILE)).unwrap()
}

#[test]
fn a_sqlite_database_of_another_program_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    sqlite(dir.path())
        .execute_batch(
            "CREATE TABLE invoices (id INTEGER PRIMARY KEY); INSERT INTO invoices VALUES (7);",
        )
        .unwrap();
    let before = std::fs::read(dir.path().join(DB_FILE)).unwrap();
    let out = open_store(dir.path(), None);
    assert_refused(&out, &["another program", "--data-dir"]);
    assert_eq!(std::fs::read(dir.path().join(DB_FILE)).unwrap(), before);
}

#[test]
fn a_file_that_is_not_a_sqlite_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(DB_FILE), vec![b'x'; 8192]).unwrap();
    let out = open_store(dir.path(), None);
    assert_refused(&out, &["is not a SQLite database", "--data-dir"]);
}

#[test]
fn a_sqlite_database_from_a_newer_release_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    assert!(open_store(dir.path(), None).status.success());
    sqlite(dir.path())
        .execute_batch("PRAGMA user_version = 999")
        .unwrap();
    let out = open_store(dir.path(), None);
    assert_refused(&out, &["schema version 999", "newer release"]);
    let version: i64 = sqlite(dir.path())
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 999);
}

/// Grows the database by `rows` rows of `width` characters, then scribbles over the middle of the
/// file (b-tree pages, never the header). Returns the file's size.
fn damage(dir: &Path, rows: u32, width: u32) -> usize {
    sqlite(dir)
        .execute_batch(&format!(
            "PRAGMA journal_mode = DELETE; CREATE TABLE filler (t TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
             INSERT INTO filler SELECT printf('%0{width}d', i) FROM n;"
        ))
        .unwrap();
    let path = dir.join(DB_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 4096].fill(0xA5);
    std::fs::write(&path, &bytes).unwrap();
    bytes.len()
}

#[test]
fn a_damaged_sqlite_database_is_refused_with_how_to_recover() {
    let dir = tempfile::tempdir().unwrap();
    assert!(open_store(dir.path(), None).status.success());
    damage(dir.path(), 2_000, 100);
    let out = open_store(dir.path(), None);
    assert_refused(&out, &["is damaged", "quick_check", ".recover", "backup"]);
}

#[test]
fn the_data_directory_and_the_database_files_are_private_to_their_owner() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    assert!(open_store(&dir, None).status.success());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(DB_FILE)), 0o600);

    // A database file from an earlier release, readable by everyone, is tightened.
    std::fs::set_permissions(dir.join(DB_FILE), PermissionsExt::from_mode(0o644)).unwrap();
    assert!(open_store(&dir, None).status.success());
    assert_eq!(mode(&dir.join(DB_FILE)), 0o600);
}

fn schema_or_skip(test: &str) -> Option<TestSchema> {
    postgres_only(test).map(|url| TestSchema::create(&url))
}

#[test]
fn a_postgres_schema_holding_another_programs_tables_is_refused_and_left_unchanged() {
    let Some(schema) = schema_or_skip("foreign schema") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // A schema handed out may hold our (emptied) tables already: start from none of them.
    schema.execute(
        "DO $$ DECLARE t record; BEGIN
             FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
                 EXECUTE format('DROP TABLE %I', t.tablename);
             END LOOP;
         END $$;
         CREATE TABLE invoices (id BIGINT PRIMARY KEY);",
    );
    let out = open_store(dir.path(), Some(&schema.url));
    assert_refused(&out, &["another program", "empty schema"]);
    // Nothing of ours was created beside it; hand the schema on empty.
    schema.execute(
        "DO $$ BEGIN
             IF to_regclass('b24_schema_version') IS NOT NULL THEN
                 RAISE EXCEPTION 'b24_schema_version was created';
             END IF;
         END $$;
         DROP TABLE invoices;",
    );
}

#[test]
fn a_postgres_database_from_a_newer_release_is_refused_and_left_unchanged() {
    let Some(schema) = schema_or_skip("newer schema") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    assert!(open_store(dir.path(), Some(&schema.url)).status.success());
    schema.execute("UPDATE b24_schema_version SET version = version + 100 WHERE id = 1");
    let out = open_store(dir.path(), Some(&schema.url));
    assert_refused(&out, &["newer than this b24-server knows", "newer release"]);
    schema.execute(
        "DO $$ BEGIN
             IF (SELECT version FROM b24_schema_version WHERE id = 1) < 100 THEN
                 RAISE EXCEPTION 'the version was changed';
             END IF;
         END $$;
         UPDATE b24_schema_version SET version = version - 100 WHERE id = 1;",
    );
}

/// A database too large to check before start-up is checked in the background: once found
/// damaged, every call is refused (500, the cause and how to recover in the log) instead of
/// serving what the damaged pages say. (When the check wins the race with start-up, the start
/// itself is refused.)
#[tokio::test]
async fn a_large_damaged_sqlite_database_is_found_in_the_background_and_every_call_refused() {
    use crate::durability::{rebase, signal, start};
    let dir = tempfile::tempdir().unwrap();
    let mut first = start(dir.path(), None);
    let webhook = first
        .webhook
        .clone()
        .expect("a first start prints its webhook");
    signal(&first.child, "-TERM");
    first.child.wait().unwrap();
    let size = damage(dir.path(), 12_000, 1_000);
    assert!(size > 8 << 20, "larger than what is checked at start");

    let mut server = crate::helpers::ServerProcess::spawn(dir.path(), None, "unlimited");
    if server.base.is_empty() {
        // The check finished before start-up did, and start-up itself was refused.
        let status = server.child.wait().unwrap();
        assert!(
            !status.success(),
            "a server that never listened exited {status}"
        );
        return;
    }
    let url = format!("{}server.time", rebase(&webhook, &server.base));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let response = reqwest::get(&url).await.unwrap();
        if response.status() == 500 {
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"], "INTERNAL_SERVER_ERROR", "{body}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the damage was never found"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
