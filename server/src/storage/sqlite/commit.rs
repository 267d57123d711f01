//! The writer thread's group commit: every write queued at that moment,
//! each in its own savepoint, one transaction, acknowledged once durable.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::mpsc;

use super::durability::CHECKPOINT_EVERY_WRITES;
use super::schema::exec;
use crate::storage::{ObserverSlot, StorageError};

pub(super) type Completion = Box<dyn FnOnce(Result<(), StorageError>) + Send>;
/// Positions a batch allocated, per license: listed once durable.
pub(super) type Shown = Vec<(String, i64)>;
/// A write: runs inside the batch transaction, records the positions it
/// allocated, says whether it succeeded (else its savepoint is rolled
/// back), and hands back what to do once the commit outcome is known.
pub(super) type Work = Box<dyn FnOnce(&Connection, &mut Shown) -> (bool, Completion) + Send>;

/// State the writer, the syncer and the readers share.
pub(super) struct Shared {
    /// Per license, the highest position a completed fsync covers. Pulls
    /// list nothing above it; an absent license has nothing durable yet.
    pub(super) durable: std::sync::RwLock<std::collections::HashMap<String, i64>>,
    /// Set once durability can no longer be promised; never cleared.
    pub(super) failed: std::sync::OnceLock<String>,
    /// First position of this open's epoch.
    pub(super) epoch_base: i64,
    /// Told each commit's size and time, each fsync's time (metrics).
    pub(super) observer: ObserverSlot,
}

impl Shared {
    pub(super) fn publish(&self, shown: Shown) {
        if shown.is_empty() {
            return;
        }
        let mut m = self.durable.write().unwrap_or_else(|p| p.into_inner());
        for (lid, pos) in shown {
            let e = m.entry(lid).or_insert(0);
            *e = (*e).max(pos);
        }
    }

    pub(super) fn durable(&self, license_id: &str) -> i64 {
        self.durable
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(license_id)
            .copied()
            .unwrap_or(0)
    }

    pub(super) fn failed(&self) -> Option<StorageError> {
        self.failed.get().map(|m| StorageError::Failed(m.clone()))
    }

    /// Enters the failed state (once) and says so loudly.
    pub(super) fn fail(&self, why: &str) -> StorageError {
        if self.failed.set(why.to_string()).is_ok() {
            tracing::error!(
                reason = why,
                "sqlite: STORAGE FAILED; refusing every write until the relay is restarted \
                 (unacknowledged writes may be lost; acknowledged ones are durable)"
            );
        }
        StorageError::Failed(why.to_string())
    }
}

pub(super) fn fail_all(done: Vec<Completion>, e: &StorageError) {
    for d in done {
        d(Err(match e {
            StorageError::Failed(m) => StorageError::Failed(m.clone()),
            e => StorageError::Backend(e.to_string()),
        }));
    }
}

/// A committed batch waiting for the fsync that makes it durable.
pub(super) struct Committed {
    pub(super) shown: Shown,
    pub(super) acks: Vec<Completion>,
}

pub(super) type Syncer = (
    std::sync::mpsc::Sender<Committed>,
    std::thread::JoinHandle<()>,
);

/// A commit error after which the database file's state is unknown.
fn fatal_commit_error(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::SystemIoFailure | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

pub(super) fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<Work>,
    max_batch: usize,
    checkpoint: std::sync::mpsc::SyncSender<()>,
    checkpointer: JoinHandle<()>,
    syncer: Option<Syncer>,
    shared: Arc<Shared>,
) {
    let mut batch: Vec<Work> = Vec::with_capacity(max_batch);
    let mut done: Vec<Completion> = Vec::with_capacity(max_batch);
    let (mut batches, mut ops, mut largest) = (0u64, 0u64, 0usize);
    let mut since_checkpoint = 0u64;
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        batches += 1;
        ops += batch.len() as u64;
        since_checkpoint += batch.len() as u64;
        largest = largest.max(batch.len());
        if shared.failed.get().is_some() {
            // Not run: dropping a write drops its reply channel, and its
            // caller then reports the failed state.
            batch.clear();
            continue;
        }
        if let Err(e) = exec(&conn, "BEGIN IMMEDIATE") {
            // Dropping the work drops its reply channel: each caller gets a
            // backend error and nothing was written.
            tracing::error!(error = %e, "sqlite: cannot begin write transaction");
            batch.clear();
            continue;
        }
        let mut shown = Shown::new();
        for w in batch.drain(..) {
            if let Err(e) = exec(&conn, "SAVEPOINT op") {
                // Not run, so not written; its caller gets a backend error.
                tracing::error!(error = %e, "sqlite: savepoint failed");
                drop(w);
                continue;
            }
            let (ok, d) = (w)(&conn, &mut shown);
            let end = if ok {
                exec(&conn, "RELEASE op")
            } else {
                exec(&conn, "ROLLBACK TO op").and_then(|_| exec(&conn, "RELEASE op"))
            };
            if let Err(e) = end {
                tracing::error!(error = %e, "sqlite: savepoint release failed");
            }
            done.push(d);
        }
        let (writes, started) = (done.len(), Instant::now());
        let committed = exec(&conn, "COMMIT");
        if committed.is_ok() {
            shared.observer.commit(writes, started.elapsed());
        }
        match committed {
            Ok(()) => match &syncer {
                // The commit is written but not yet synced: hand it to the
                // syncer, which lists and answers it after an fsync of the
                // WAL that starts after this commit returned.
                Some((tx, _)) => {
                    let c = Committed {
                        shown: std::mem::take(&mut shown),
                        acks: std::mem::take(&mut done),
                    };
                    if let Err(std::sync::mpsc::SendError(lost)) = tx.send(c) {
                        let e = shared.fail("wal syncer stopped");
                        fail_all(lost.acks, &e);
                    }
                }
                // synchronous=FULL: COMMIT returned after its fsync.
                None => {
                    shared.publish(std::mem::take(&mut shown));
                    done.drain(..).for_each(|d| d(Ok(())));
                }
            },
            Err(e) => {
                let err = if fatal_commit_error(&e) {
                    shared.fail(&format!("commit failed: {e}"))
                } else {
                    tracing::error!(error = %e, "sqlite: group commit failed");
                    StorageError::Backend(e.to_string())
                };
                let _ = conn.execute_batch("ROLLBACK");
                fail_all(std::mem::take(&mut done), &err);
            }
        }
        if since_checkpoint >= CHECKPOINT_EVERY_WRITES {
            since_checkpoint = 0;
            let _ = checkpoint.try_send(());
        }
    }
    drop(checkpoint);
    // Its connection is closed before the store releases its file guard.
    let _ = checkpointer.join();
    if let Some((tx, handle)) = syncer {
        drop(tx);
        let _ = handle.join();
    }
    tracing::debug!(batches, ops, largest, "sqlite writer stopped");
    if shared.failed.get().is_some() {
        // Copy nothing more into the database file: the WAL's unsynced
        // part may not match what the disk holds.
        return;
    }
    // Channel closed: every sender is gone. Fold what it can of the WAL into
    // the database without waiting on other processes using the same file
    // (`license add` while a relay serves); closing the last connection
    // checkpoints the rest.
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
}
