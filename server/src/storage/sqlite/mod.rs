//! The embedded default backend: one SQLite database (WAL, `synchronous=FULL`)
//! under the data directory, blobs in a BLOB column.
//!
//! Writes go through ONE writer thread that owns the only write connection
//! and does group commit: it takes every write queued at that moment (up to
//! a batch limit), applies each in its own savepoint inside one transaction,
//! commits (an fsync of the WAL with `synchronous=FULL`), and only then
//! answers each caller. A push is therefore acknowledged only once the
//! commit that holds it is durable, and since one thread does every write,
//! "seq > last" and the insert are one atomic step.
//!
//! Pull positions are per license (`licenses.last_position + 1`, so a
//! cursor says nothing about other tenants) and a pull lists only
//! positions at or below the license's durable watermark: the highest
//! position a completed fsync covers. A position no device has seen can
//! be lost with an unsynced tail, but never one a cursor may have passed.
//! Each open also durably starts a new position epoch (positions of epoch
//! `e` start at `e << 40`), so even a lost tail's positions are never
//! handed out again. A failed fsync or commit I/O error puts the store in
//! a failed state: every pending and later write gets
//! [`StorageError::Failed`] until restart (after a failed fsync the kernel
//! may have dropped the dirty pages, and a retried fsync can succeed
//! without them).
//!
//! Reads run on a small pool of read-only connections on tokio's blocking
//! threads; WAL lets them run while the writer commits.

pub mod backup;
mod commit;
mod durability;
mod files;
mod queries;
mod schema;
#[cfg(test)]
mod tests;
mod transactions;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::StorageError;
use commit::{writer_loop, Committed, Completion, Shared, Shown, Work};
use durability::{checkpoint_loop, sync_loop, SyncHook};
use files::{create_private_dir, wal_path, DbFileGuard};
use schema::{configure, migrate, open_reader};
pub(crate) use transactions::devices_offline;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "relay.sqlite3";
/// Most writes one group commit takes.
const DEFAULT_MAX_BATCH: usize = 512;
/// Queue depth before writers wait (backpressure).
const QUEUE_DEPTH: usize = 8192;
/// Idle read connections kept.
const MAX_IDLE_READERS: usize = 8;

/// How a write becomes durable before it is acknowledged. Both modes
/// acknowledge a write only after an fsync that covers its commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: each group commit fsyncs the WAL inside COMMIT;
    /// the writer waits for it before taking the next batch.
    Full,
    /// The writer commits with `synchronous=NORMAL` (WAL written, not
    /// synced) and goes on with the next batch while a second thread
    /// fsyncs the WAL file and only then acknowledges every write that was
    /// committed before that fsync started. Same guarantee as `Full` (no
    /// acknowledged write is lost on power failure: the WAL is append-only
    /// and recovery stops at the last intact commit frame), with the fsync
    /// overlapped with the next batch. Checkpoints run on their own
    /// connection with `synchronous=FULL`.
    #[default]
    PipelinedFsync,
}

/// SQLite storage. Cheap to clone; the writer thread stops when the last
/// clone is dropped (after finishing queued writes).
#[derive(Clone)]
pub struct SqliteStorage {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    tx: Option<mpsc::Sender<Work>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    shared: Arc<Shared>,
    /// Released only after every connection of this store is closed (the
    /// writer joins the checkpointer; `drop` closes the readers first).
    _file_guard: DbFileGuard,
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(h) = self.writer.lock().map(|mut g| g.take()).unwrap_or(None) {
            let _ = h.join();
        }
        if let Ok(mut r) = self.readers.lock() {
            r.clear();
        }
    }
}

pub(super) fn backend(e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(e.to_string())
}

impl SqliteStorage {
    /// Opens (creating if needed) the database under `data_dir` and starts
    /// the writer thread.
    pub fn open(data_dir: &Path) -> Result<Self, StorageError> {
        Self::open_with_batch(data_dir, DEFAULT_MAX_BATCH)
    }

    /// Like [`open`](Self::open) with a group-commit batch limit
    /// (1 = one commit per write) and the default durability.
    pub fn open_with_batch(data_dir: &Path, max_batch: usize) -> Result<Self, StorageError> {
        Self::open_with(data_dir, max_batch, Durability::default())
    }

    /// Opens with an explicit batch limit and durability mode.
    pub fn open_with(
        data_dir: &Path,
        max_batch: usize,
        durability: Durability,
    ) -> Result<Self, StorageError> {
        Self::open_inner(data_dir, max_batch, durability, SyncHook::none())
    }

    fn open_inner(
        data_dir: &Path,
        max_batch: usize,
        durability: Durability,
        hook: SyncHook,
    ) -> Result<Self, StorageError> {
        create_private_dir(data_dir).map_err(backend)?;
        let path = data_dir.join(DB_FILE);
        // Files are created, tightened and synced before this process opens
        // a connection to them (see `DbFileGuard`).
        let file_guard = DbFileGuard::acquire(data_dir, &path).map_err(backend)?;
        let conn = Connection::open(&path).map_err(backend)?;
        configure(&conn).map_err(backend)?;
        let epoch_base = migrate(&conn)?;
        let durable = conn
            .prepare("SELECT license_id, last_position FROM licenses WHERE last_position > 0")
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                    .collect::<rusqlite::Result<std::collections::HashMap<_, _>>>()
            })
            .map_err(backend)?;
        let shared = Arc::new(Shared {
            durable: std::sync::RwLock::new(durable),
            failed: std::sync::OnceLock::new(),
            epoch_base,
            observer: crate::storage::ObserverSlot::default(),
        });
        conn.execute_batch("PRAGMA wal_autocheckpoint=0")
            .map_err(backend)?;
        let syncer = match durability {
            Durability::Full => None,
            Durability::PipelinedFsync => {
                // Commits only write the WAL; the syncer fsyncs it.
                conn.execute_batch("PRAGMA synchronous=NORMAL")
                    .map_err(backend)?;
                let (stx, srx) = std::sync::mpsc::channel::<Committed>();
                let wal = wal_path(&path);
                let sh = shared.clone();
                let h = std::thread::Builder::new()
                    .name("relay-sqlite-fsync".into())
                    .spawn(move || sync_loop(wal, srx, hook, sh))
                    .map_err(backend)?;
                Some((stx, h))
            }
        };
        let (tx, rx) = mpsc::channel::<Work>(QUEUE_DEPTH);
        let (cp_tx, cp_rx) = std::sync::mpsc::sync_channel::<()>(1);
        let cp_path = path.clone();
        let sh = shared.clone();
        let checkpointer = std::thread::Builder::new()
            .name("relay-sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(cp_path, cp_rx, sh))
            .map_err(backend)?;
        let max_batch = max_batch.max(1);
        let sh = shared.clone();
        let writer = std::thread::Builder::new()
            .name("relay-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, max_batch, cp_tx, checkpointer, syncer, sh))
            .map_err(backend)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                tx: Some(tx),
                writer: Mutex::new(Some(writer)),
                readers: Mutex::new(Vec::new()),
                shared,
                _file_guard: file_guard,
            }),
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn write<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        self.write_shown(move |c, _| f(c)).await
    }

    /// A write that may allocate pull positions (recorded in `Shown`).
    async fn write_shown<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Shown) -> Result<T, StorageError> + Send + 'static,
    {
        if let Some(e) = self.inner.shared.failed() {
            return Err(e);
        }
        let (reply, rx) = oneshot::channel::<Result<T, StorageError>>();
        let work: Work = Box::new(move |conn, shown| {
            let mark = shown.len();
            let r = f(conn, shown);
            if r.is_err() {
                shown.truncate(mark);
            }
            let ok = r.is_ok();
            let done: Completion = Box::new(move |commit| {
                let _ = reply.send(commit.and(r));
            });
            (ok, done)
        });
        let tx = self
            .inner
            .tx
            .as_ref()
            .ok_or_else(|| StorageError::Backend("storage closed".into()))?;
        let stopped = || {
            self.inner
                .shared
                .failed()
                .unwrap_or_else(|| StorageError::Backend("writer thread stopped".into()))
        };
        tx.send(work).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().ok().and_then(|mut p| p.pop());
            let conn = match pooled {
                Some(c) => c,
                None => open_reader(&inner.path)?,
            };
            let r = f(&conn);
            if let Ok(mut p) = inner.readers.lock() {
                if p.len() < MAX_IDLE_READERS {
                    p.push(conn);
                }
            }
            r
        })
        .await
        .map_err(backend)?
    }
}
