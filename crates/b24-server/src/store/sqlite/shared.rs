//! One write transaction for a whole `batch` ([`SqliteStore::batch_scope`]).
//!
//! Committing costs a binding change about two thirds of its instructions, so a batch whose
//! commands each commit on their own can hardly beat single calls. Inside the scope, every
//! transaction the batch's thread opens on this store joins one `BEGIN IMMEDIATE` transaction
//! on the write connection, as a savepoint of its own: a write that fails rolls back to its
//! savepoint (its partial writes vanish, as its own transaction's would), one that succeeds
//! releases it, and the batch commits once at the end. A read sees what earlier commands wrote
//! and is rolled back to its savepoint, so it changes nothing, as a read transaction never did.
//!
//! - The transaction begins with the batch's first write: a batch that only reads never takes
//!   the write connection, and its reads use the reader connections as they always did.
//! - From then on the batch owns the write connection: it is taken out of the store's slot (the
//!   slot's mutex is not held across commands, so no command can deadlock on it) and kept in a
//!   thread-local until the scope ends. Writers on other threads wait for it on a condition
//!   variable ([`SqliteStore::lock_writer`]), as they would on the mutex for a long write.
//! - A write that would need the write connection while this thread already uses it (a write
//!   inside a write) fails with an internal error instead of waiting for itself forever.
//! - What a commit does besides committing waits for the one commit: the raised credentials
//!   version goes in with it, and this process's caller and catalogue caches are bumped after
//!   it. While the batch has changed the catalogue without committing, its transactions read
//!   the catalogue from the database and keep nothing of it ([`SqliteStore::catalogue_pending`]).
//! - If SQLite gives up the whole transaction (it may after some errors) or a savepoint cannot
//!   be undone, nothing of the batch can commit: later commands fail, the batch is rolled back
//!   and answers an internal error, as a failed commit does.
//! - A panic anywhere inside rolls the transaction back and puts the connection back.

use super::{callers, SqlTx, SqliteConn, SqliteStore};
use crate::error::ApiError;
use crate::store::{PortalId, Tx};
use r2d2_sqlite::rusqlite::Connection;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh [`SqliteStore`] id.
pub(super) fn next_store_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

thread_local! {
    /// The batch this thread is running inside [`SqliteStore::batch_scope`], if any.
    static SHARED: RefCell<Option<Shared>> = const { RefCell::new(None) };
}

/// A batch's shared transaction, as its thread sees it.
struct Shared {
    /// The store it belongs to.
    store: u64,
    /// Where the write connection is.
    writer: Writer,
    /// A successful write changed a credential table: the callers cache is bumped after commit.
    credentials_changed: bool,
    /// A write changed the catalogue: it is bumped after commit, and read from the database
    /// until then.
    catalogue_changed: bool,
    /// Why the transaction can no longer commit.
    broken: Option<String>,
}

/// Where a batch's write connection is.
enum Writer {
    /// Still in the store: nothing written yet, no transaction begun.
    NotBegun,
    /// Inside the open transaction, waiting between this thread's transactions.
    Open(Connection),
    /// Lent to a transaction of this thread right now ([`Lent`]).
    InUse,
}

/// How [`SqliteStore::transaction`] runs a transaction.
pub(super) enum Route<'a> {
    /// On its own, as outside a batch.
    Own,
    /// In the batch's shared transaction, on this connection.
    Shared(Lent<'a>),
    /// Not at all: the shared transaction cannot take it.
    Refuse(ApiError),
}

/// The write connection, lent from [`SHARED`] to one transaction; back there when dropped
/// (also when unwinding from a panic), or back in the store if the scope is gone.
pub(super) struct Lent<'a> {
    store: &'a SqliteStore,
    conn: Option<Connection>,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let left = SHARED.with_borrow_mut(|shared| match shared {
            Some(shared) if shared.store == self.store.id => {
                shared.writer = Writer::Open(conn);
                None
            }
            _ => Some(conn),
        });
        if let Some(conn) = left {
            self.store.give_back(conn);
        }
    }
}

/// Runs at the end of a scope, however it ends: rolls back a transaction still open (the
/// commit, when there is one, has taken the connection already) and puts the connection back.
struct ScopeEnd<'a>(&'a SqliteStore);

impl Drop for ScopeEnd<'_> {
    fn drop(&mut self) {
        let Some(shared) = SHARED.take() else { return };
        if let Writer::Open(conn) = shared.writer {
            rollback(&conn);
            self.0.give_back(conn);
        }
    }
}

fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::error!(error = %e, "a batch's transaction could not be rolled back");
        }
    }
}

fn shared_error(why: &str) -> ApiError {
    ApiError::internal(anyhow::anyhow!("the batch's transaction is lost: {why}"))
}

impl SqliteStore {
    /// Runs `f` (a `batch`'s commands) so that every transaction this thread opens on this
    /// store joins one write transaction, committed when `f` returns (see the module docs). An
    /// `Err` means nothing of it was committed (it could not commit, or was lost on the way):
    /// the batch answers that error as a whole. Outside the scope, and on other threads,
    /// nothing changes; a scope inside a scope adds nothing.
    pub fn batch_scope<R>(&self, f: impl FnOnce() -> R) -> Result<R, ApiError> {
        if SHARED.with_borrow(Option::is_some) {
            return Ok(f());
        }
        SHARED.set(Some(Shared {
            store: self.id,
            writer: Writer::NotBegun,
            credentials_changed: false,
            catalogue_changed: false,
            broken: None,
        }));
        let end = ScopeEnd(self);
        let out = f();
        let Some(shared) = SHARED.take() else {
            return Err(shared_error("its state went missing"));
        };
        drop(end);
        let committed = match shared.writer {
            Writer::NotBegun => Ok(()),
            Writer::InUse => Err(shared_error("its connection was not given back")),
            Writer::Open(conn) => {
                let committed = match &shared.broken {
                    Some(why) => Err(shared_error(why)),
                    None => conn.execute_batch("COMMIT").map_err(ApiError::from),
                };
                if committed.is_err() {
                    rollback(&conn);
                }
                self.give_back(conn);
                committed
            }
        };
        // After the commit (or the rollback: a needless bump only costs a re-read).
        if shared.credentials_changed {
            self.callers.bump();
        }
        if shared.catalogue_changed {
            self.catalogue.bump();
        }
        committed.map(|()| out)
    }

    /// Whether this thread's batch on this store has changed the catalogue and not committed
    /// yet: until it has, its transactions must neither use nor fill the process's catalogue
    /// cache, which other threads read.
    pub(crate) fn catalogue_pending(&self) -> bool {
        SHARED.with_borrow(|shared| {
            shared
                .as_ref()
                .is_some_and(|s| s.store == self.id && s.catalogue_changed)
        })
    }

    /// A write transaction changed the catalogue: this process's cache is bumped now, or, inside
    /// this thread's batch, once the batch has committed.
    pub(crate) fn note_catalogue_change(&self) {
        let deferred = SHARED.with_borrow_mut(|shared| match shared {
            Some(s) if s.store == self.id => {
                s.catalogue_changed = true;
                true
            }
            _ => false,
        });
        if !deferred {
            self.catalogue.bump();
        }
    }

    /// How a transaction of this thread runs: in this store's batch transaction (begun here by
    /// the batch's first write), or on its own.
    pub(super) fn route(&self, writing: bool) -> Route<'_> {
        let taken = SHARED.with_borrow_mut(|shared| {
            let shared = shared.as_mut().filter(|s| s.store == self.id)?;
            match std::mem::replace(&mut shared.writer, Writer::InUse) {
                Writer::Open(conn) => Some(Ok(Some(conn))),
                Writer::NotBegun if writing => Some(Ok(None)),
                Writer::NotBegun => {
                    shared.writer = Writer::NotBegun;
                    None
                }
                // A read inside a transaction of this thread reads committed data on a reader
                // connection, as it always did; a write there would wait for itself.
                Writer::InUse if writing => Some(Err(ApiError::internal(anyhow::anyhow!(
                    "a write transaction inside another on the same thread"
                )))),
                Writer::InUse => None,
            }
        });
        match taken {
            None => Route::Own,
            Some(Err(e)) => Route::Refuse(e),
            Some(Ok(Some(conn))) => Route::Shared(self.lend(conn)),
            Some(Ok(None)) => match self.begin_shared() {
                Ok(conn) => Route::Shared(self.lend(conn)),
                Err(e) => {
                    SHARED.with_borrow_mut(|shared| {
                        if let Some(s) = shared.as_mut().filter(|s| s.store == self.id) {
                            s.writer = Writer::NotBegun;
                        }
                    });
                    Route::Refuse(e)
                }
            },
        }
    }

    fn lend(&self, conn: Connection) -> Lent<'_> {
        Lent {
            store: self,
            conn: Some(conn),
        }
    }

    /// Takes the write connection out of the store and begins the batch's transaction on it.
    fn begin_shared(&self) -> Result<Connection, ApiError> {
        let conn = self.lock_writer().take();
        let Some(conn) = conn else {
            return Err(shared_error("the write connection is missing"));
        };
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            self.give_back(conn);
            return Err(e.into());
        }
        Ok(conn)
    }

    /// Puts the write connection back and wakes every writer waiting for it (each checks the
    /// slot again under the mutex).
    fn give_back(&self, conn: Connection) {
        let mut slot = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = Some(conn);
        drop(slot);
        self.writer_back.notify_all();
    }

    /// Runs one transaction of the batch inside a savepoint of the shared transaction: a write
    /// is released when `f` succeeds, anything else rolled back to the savepoint.
    pub(super) fn in_shared<R>(
        &self,
        lent: Lent<'_>,
        portal: PortalId,
        now: f64,
        writing: bool,
        f: impl FnOnce(&mut dyn Tx) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let Some(conn) = lent.conn.as_ref() else {
            return Err(shared_error("its connection is missing"));
        };
        if let Some(why) = self.shared_broken(conn) {
            return Err(shared_error(&why));
        }
        conn.prepare_cached("SAVEPOINT b24_call")?.execute([])?;
        let mut on_tx = SqliteConn::new(conn, writing);
        let out = f(&mut SqlTx::new(&mut on_tx, portal, now, writing));
        let credentials_changed = on_tx.credentials_changed;
        let out = out.and_then(|out| {
            if credentials_changed {
                conn.prepare_cached(callers::SQLITE_BUMP)?.execute([])?;
            }
            Ok(out)
        });
        let keep = writing && out.is_ok();
        // Any failure here leaves the savepoint's fate unknown: nothing of the batch may commit.
        let ended = (|| {
            if !keep {
                conn.prepare_cached("ROLLBACK TO b24_call")?.execute([])?;
            }
            conn.prepare_cached("RELEASE b24_call")?.execute([])
        })();
        if let Err(e) = ended {
            self.break_shared(format!("a savepoint could not be ended: {e}"));
            return Err(e.into());
        }
        if let Some(why) = self.shared_broken(conn) {
            return Err(shared_error(&why));
        }
        if writing && credentials_changed && out.is_ok() {
            SHARED.with_borrow_mut(|shared| {
                if let Some(s) = shared.as_mut() {
                    s.credentials_changed = true;
                }
            });
        }
        out
    }

    /// Why the shared transaction can no longer commit, if it cannot: marked before, or ended
    /// by SQLite itself (the connection is back in autocommit mode, so its next statements
    /// would each commit on their own).
    fn shared_broken(&self, conn: &Connection) -> Option<String> {
        let known = SHARED.with_borrow(|shared| shared.as_ref().and_then(|s| s.broken.clone()));
        if known.is_none() && conn.is_autocommit() {
            let why = "SQLite rolled it back after an error".to_string();
            self.break_shared(why.clone());
            return Some(why);
        }
        known
    }

    fn break_shared(&self, why: String) {
        tracing::error!(why, "a batch's transaction cannot commit");
        SHARED.with_borrow_mut(|shared| {
            if let Some(s) = shared.as_mut().filter(|s| s.broken.is_none()) {
                s.broken = Some(why);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Filter, ItemRecord, ListQuery};
    use b24_protocol::ErrorCode;
    use serde_json::Map;
    use std::sync::mpsc;
    use std::time::Duration;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        (dir, store)
    }

    fn add_deal(tx: &mut dyn Tx) -> Result<i64, ApiError> {
        tx.insert_item(&ItemRecord {
            entity_type_id: 2,
            id: 0,
            title: "t".into(),
            assigned_by_id: 1,
            created_by: 1,
            updated_by: 1,
            created_time: String::new(),
            updated_time: String::new(),
            extra: Map::new(),
        })
    }

    fn count_deals(tx: &mut dyn Tx) -> Result<u64, ApiError> {
        let query = ListQuery {
            filter: Filter::everything(),
            ..ListQuery::first_page(50)
        };
        Ok(tx.list_items(2, &query)?.total.unwrap_or(0))
    }

    /// Deals as a transaction on another thread sees them (committed ones only).
    fn committed_deals(store: &SqliteStore) -> u64 {
        std::thread::scope(|s| {
            s.spawn(|| store.transaction(1, false, count_deals).unwrap())
                .join()
                .unwrap()
        })
    }

    /// Inside the scope a write is seen by the batch's own later reads and by no other thread;
    /// another thread's write waits until the batch has committed, then sees its writes.
    #[test]
    fn a_batch_commits_once_at_the_end_and_other_writers_wait_for_it() {
        let (_dir, store) = store();
        let (done, finished) = mpsc::channel();
        std::thread::scope(|s| {
            store
                .batch_scope(|| {
                    store.transaction(1, true, add_deal).unwrap();
                    store.transaction(1, true, add_deal).unwrap();
                    assert_eq!(store.transaction(1, false, count_deals).unwrap(), 2);
                    assert_eq!(committed_deals(&store), 0, "not committed yet");
                    let (store, done) = (&store, done.clone());
                    s.spawn(move || {
                        let seen = store.transaction(1, true, count_deals).unwrap();
                        done.send(seen).unwrap();
                    });
                    assert!(
                        finished.recv_timeout(Duration::from_millis(200)).is_err(),
                        "another thread wrote while the batch held the write connection"
                    );
                })
                .unwrap();
            assert_eq!(finished.recv().unwrap(), 2);
        });
        assert_eq!(committed_deals(&store), 2);
    }

    /// A failed transaction of the batch rolls back to its own savepoint: what it wrote
    /// vanishes, what the batch's other transactions wrote is committed.
    #[test]
    fn a_failed_transaction_inside_a_batch_loses_only_its_own_writes() {
        let (_dir, store) = store();
        store
            .batch_scope(|| {
                store.transaction(1, true, add_deal).unwrap();
                let failed: Result<(), ApiError> = store.transaction(1, true, |tx| {
                    add_deal(tx)?;
                    Err(ErrorCode::AccessDenied.into())
                });
                assert!(failed.is_err());
                assert_eq!(store.transaction(1, false, count_deals).unwrap(), 1);
                store.transaction(1, true, add_deal).unwrap();
            })
            .unwrap();
        assert_eq!(committed_deals(&store), 2);
    }

    /// A batch that only reads leaves the write connection to others: a write on another
    /// thread finishes while the batch is still running.
    #[test]
    fn a_batch_that_only_reads_never_takes_the_write_connection() {
        let (_dir, store) = store();
        store
            .batch_scope(|| {
                assert_eq!(store.transaction(1, false, count_deals).unwrap(), 0);
                std::thread::scope(|s| {
                    s.spawn(|| store.transaction(1, true, add_deal).unwrap())
                        .join()
                        .unwrap();
                });
                assert_eq!(store.transaction(1, false, count_deals).unwrap(), 1);
            })
            .unwrap();
    }

    /// A write inside a write of the same thread would wait for itself: it fails at once
    /// instead. A read there reads what is committed, as it always did.
    #[test]
    fn a_write_inside_a_write_of_a_batch_fails_instead_of_waiting_for_itself() {
        let (_dir, store) = store();
        store
            .batch_scope(|| {
                store
                    .transaction(1, true, |tx| {
                        add_deal(tx)?;
                        assert!(store.transaction(1, true, add_deal).is_err());
                        assert_eq!(store.transaction(1, false, count_deals).unwrap(), 0);
                        Ok(())
                    })
                    .unwrap();
            })
            .unwrap();
        assert_eq!(committed_deals(&store), 1);
    }

    /// When SQLite ends the transaction itself (as it may after some errors), the next
    /// transaction of the batch fails, the batch answers an error and nothing of it remains;
    /// the write connection is usable afterwards.
    #[test]
    fn a_batch_whose_transaction_sqlite_ended_commits_nothing_and_fails() {
        let (_dir, store) = store();
        let out = store.batch_scope(|| {
            store.transaction(1, true, add_deal).unwrap();
            SHARED.with_borrow(|shared| {
                let Some(Shared {
                    writer: Writer::Open(conn),
                    ..
                }) = shared
                else {
                    panic!("the transaction is open")
                };
                conn.execute_batch("ROLLBACK").unwrap();
            });
            // Without the check, this would commit on its own (autocommit).
            assert!(store.transaction(1, true, add_deal).is_err());
        });
        assert!(out.is_err());
        assert_eq!(committed_deals(&store), 0);
        store.transaction(1, true, add_deal).unwrap();
        assert_eq!(committed_deals(&store), 1);
    }

    /// A panic inside a batch (here inside one of its transactions, while it holds the
    /// connection) rolls everything back and gives the write connection back.
    #[test]
    fn a_panic_inside_a_batch_rolls_back_and_gives_the_write_connection_back() {
        let (_dir, store) = store();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.batch_scope(|| {
                store.transaction(1, true, add_deal).unwrap();
                let _ = store.transaction(1, true, |tx| -> Result<(), ApiError> {
                    add_deal(tx)?;
                    panic!("a bug in a method");
                });
            })
        }));
        assert!(panicked.is_err());
        assert_eq!(committed_deals(&store), 0);
        store.transaction(1, true, add_deal).unwrap();
        assert_eq!(committed_deals(&store), 1);
    }

    /// A change of the catalogue inside a batch keeps the process's cache untouched until the
    /// batch has committed (other threads must not see, or keep, what may never commit).
    #[test]
    fn a_catalogue_change_inside_a_batch_is_pending_until_the_batch_ends() {
        let (_dir, store) = store();
        store
            .batch_scope(|| {
                assert!(!store.catalogue_pending());
                store.note_catalogue_change();
                assert!(store.catalogue_pending());
            })
            .unwrap();
        assert!(!store.catalogue_pending());
    }
}
