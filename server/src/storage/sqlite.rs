//! The embedded default backend: one SQLite database (WAL, `synchronous=FULL`)
//! under the data directory, blobs in a BLOB column.
//!
//! Writes go through ONE writer thread that owns the only write connection
//! and does group commit: it takes every write queued at that moment (up to
//! a batch limit), applies each in its own savepoint inside one transaction,
//! commits (an fsync of the WAL with `synchronous=FULL`), and only then
//! answers each caller. A push is therefore acknowledged only once the
//! commit that holds it is durable, and since one thread does every write,
//! "seq > last" and the insert are one atomic step and pull positions
//! (the AUTOINCREMENT row id) become visible in order.
//!
//! Reads run on a small pool of read-only connections on tokio's blocking
//! threads; WAL lets them run while the writer commits.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use tokio::sync::{mpsc, oneshot};

use super::{
    BlobData, BlobMeta, DeviceInfo, DeviceRecord, KeycheckPut, NewBlob, NewDevice, PullPage,
    PushOutcome, Registration, Storage, StorageError,
};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "relay.sqlite3";
const SCHEMA_VERSION: i64 = 1;
/// Most writes one group commit takes.
const DEFAULT_MAX_BATCH: usize = 512;
/// Queue depth before writers wait (backpressure).
const QUEUE_DEPTH: usize = 8192;
/// Idle read connections kept.
const MAX_IDLE_READERS: usize = 8;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS licenses (
    license_id TEXT PRIMARY KEY,
    key_hash   BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    device_id    TEXT PRIMARY KEY,
    license_id   TEXT NOT NULL REFERENCES licenses(license_id),
    public_key   TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_seq     INTEGER NOT NULL DEFAULT 0,
    last_push_at INTEGER,
    last_pull_at INTEGER,
    blob_count   INTEGER NOT NULL DEFAULT 0,
    sealed_bytes INTEGER NOT NULL DEFAULT 0,
    UNIQUE (license_id, public_key)
);
CREATE INDEX IF NOT EXISTS devices_by_license ON devices(license_id, created_at);
-- AUTOINCREMENT: a pruned last row's id is never handed out again, so
-- pull cursors (positions) never see a later blob at an earlier position.
CREATE TABLE IF NOT EXISTS blobs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    license_id TEXT NOT NULL,
    device_id  TEXT NOT NULL REFERENCES devices(device_id),
    seq        INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    data       BLOB NOT NULL,
    UNIQUE (device_id, seq)
);
CREATE INDEX IF NOT EXISTS blobs_by_license ON blobs(license_id, id);
CREATE TABLE IF NOT EXISTS keychecks (
    license_id TEXT PRIMARY KEY REFERENCES licenses(license_id),
    device_id  TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    data       BLOB NOT NULL
);
";

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

type Completion = Box<dyn FnOnce(Result<(), StorageError>) + Send>;
/// A write: runs inside the batch transaction, says whether it succeeded
/// (else its savepoint is rolled back), and hands back what to do once the
/// commit outcome is known.
type Work = Box<dyn FnOnce(&Connection) -> (bool, Completion) + Send>;

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
}

impl Drop for Inner {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(h) = self.writer.lock().map(|mut g| g.take()).unwrap_or(None) {
            let _ = h.join();
        }
    }
}

fn backend(e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(e.to_string())
}

fn to_i64(v: u64, what: &'static str) -> Result<i64, StorageError> {
    i64::try_from(v).map_err(|_| StorageError::OutOfRange(what))
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
        create_private_dir(data_dir).map_err(backend)?;
        let path = data_dir.join(DB_FILE);
        let conn = Connection::open(&path).map_err(backend)?;
        configure(&conn).map_err(backend)?;
        migrate(&conn)?;
        conn.execute_batch("PRAGMA wal_autocheckpoint=0")
            .map_err(backend)?;
        let syncer = match durability {
            Durability::Full => None,
            Durability::PipelinedFsync => {
                // Commits only write the WAL; the syncer fsyncs it.
                conn.execute_batch("PRAGMA synchronous=NORMAL")
                    .map_err(backend)?;
                let (stx, srx) = std::sync::mpsc::channel::<Vec<Completion>>();
                let mut wal = path.clone().into_os_string();
                wal.push("-wal");
                let wal = PathBuf::from(wal);
                let h = std::thread::Builder::new()
                    .name("relay-sqlite-fsync".into())
                    .spawn(move || sync_loop(wal, srx))
                    .map_err(backend)?;
                Some((stx, h))
            }
        };
        let (tx, rx) = mpsc::channel::<Work>(QUEUE_DEPTH);
        let (cp_tx, cp_rx) = std::sync::mpsc::sync_channel::<()>(1);
        let cp_path = path.clone();
        std::thread::Builder::new()
            .name("relay-sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(cp_path, cp_rx))
            .map_err(backend)?;
        let max_batch = max_batch.max(1);
        let writer = std::thread::Builder::new()
            .name("relay-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, max_batch, cp_tx, syncer))
            .map_err(backend)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                tx: Some(tx),
                writer: Mutex::new(Some(writer)),
                readers: Mutex::new(Vec::new()),
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
        let (reply, rx) = oneshot::channel::<Result<T, StorageError>>();
        let work: Work = Box::new(move |conn| {
            let r = f(conn);
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
        tx.send(work)
            .await
            .map_err(|_| StorageError::Backend("writer thread stopped".into()))?;
        rx.await
            .map_err(|_| StorageError::Backend("writer thread stopped".into()))?
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

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidQuery);
    }
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection, StorageError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(backend)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &Connection) -> Result<(), StorageError> {
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(backend)?;
    if v > SCHEMA_VERSION {
        return Err(StorageError::Backend(format!(
            "database schema version {v} is newer than this relay ({SCHEMA_VERSION})"
        )));
    }
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
    ))
    .map_err(backend)
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Writes between checkpoint requests (a 4 KiB push is ~3 WAL frames).
const CHECKPOINT_EVERY_WRITES: u64 = 1000;
/// Past this many WAL frames still not checkpointed, the checkpointer
/// briefly blocks the writer (RESTART) so the WAL cannot grow without bound.
const WAL_RESTART_FRAMES: i64 = 65_536;

fn fail_all(done: Vec<Completion>, msg: &str) {
    for d in done {
        d(Err(StorageError::Backend(msg.to_string())));
    }
}

/// Answers committed writes once an fsync of the WAL file, started after
/// their commit returned, has succeeded. Coalesces every batch waiting.
fn sync_loop(wal: PathBuf, rx: std::sync::mpsc::Receiver<Vec<Completion>>) {
    let mut file: Option<std::fs::File> = None;
    while let Ok(mut acks) = rx.recv() {
        while let Ok(more) = rx.try_recv() {
            acks.extend(more);
        }
        let r = (|| {
            if file.is_none() {
                file = Some(std::fs::File::open(&wal)?);
            }
            file.as_ref().map_or(Ok(()), |f| f.sync_data())
        })();
        match r {
            Ok(()) => acks.into_iter().for_each(|d| d(Ok(()))),
            Err(e) => {
                tracing::error!(error = %e, "sqlite: fsync of the WAL failed");
                file = None;
                fail_all(acks, "fsync of the WAL failed");
            }
        }
    }
}

type Syncer = (
    std::sync::mpsc::Sender<Vec<Completion>>,
    std::thread::JoinHandle<()>,
);

fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<Work>,
    max_batch: usize,
    checkpoint: std::sync::mpsc::SyncSender<()>,
    syncer: Option<Syncer>,
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
        if let Err(e) = exec(&conn, "BEGIN IMMEDIATE") {
            // Dropping the work drops its reply channel: each caller gets a
            // backend error and nothing was written.
            tracing::error!(error = %e, "sqlite: cannot begin write transaction");
            batch.clear();
            continue;
        }
        for w in batch.drain(..) {
            if let Err(e) = exec(&conn, "SAVEPOINT op") {
                // Not run, so not written; its caller gets a backend error.
                tracing::error!(error = %e, "sqlite: savepoint failed");
                drop(w);
                continue;
            }
            let (ok, d) = (w)(&conn);
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
        match exec(&conn, "COMMIT") {
            Ok(()) => match &syncer {
                // The commit is written but not yet synced: hand the acks to
                // the syncer, which answers them after an fsync of the WAL
                // that starts after this commit returned.
                Some((tx, _)) => {
                    if let Err(std::sync::mpsc::SendError(lost)) =
                        tx.send(std::mem::take(&mut done))
                    {
                        fail_all(lost, "wal syncer stopped");
                    }
                }
                None => done.drain(..).for_each(|d| d(Ok(()))),
            },
            Err(e) => {
                tracing::error!(error = %e, "sqlite: group commit failed");
                let _ = conn.execute_batch("ROLLBACK");
                fail_all(std::mem::take(&mut done), &e.to_string());
            }
        }
        if since_checkpoint >= CHECKPOINT_EVERY_WRITES {
            since_checkpoint = 0;
            let _ = checkpoint.try_send(());
        }
    }
    drop(checkpoint);
    if let Some((tx, handle)) = syncer {
        drop(tx);
        let _ = handle.join();
    }
    tracing::debug!(batches, ops, largest, "sqlite writer stopped");
    // Channel closed: every sender is gone. Fold what it can of the WAL into
    // the database without waiting on other processes using the same file
    // (`license add` while a relay serves); closing the last connection
    // checkpoints the rest.
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
}

/// Checkpoints the WAL off the writer thread (the writer's own automatic
/// checkpoint is off, so a commit never pays for copying pages into the
/// database file).
fn checkpoint_loop(path: PathBuf, rx: std::sync::mpsc::Receiver<()>) {
    let Ok(conn) = Connection::open(&path) else {
        return;
    };
    if configure(&conn).is_err() {
        return;
    }
    while rx.recv().is_ok() {
        let r: rusqlite::Result<(i64, i64, i64)> =
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            });
        match r {
            Ok((_, log, done)) if log - done > WAL_RESTART_FRAMES => {
                let _ = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sqlite: checkpoint failed"),
        }
    }
}

fn row_to_device(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRecord> {
    Ok(DeviceRecord {
        device_id: r.get(0)?,
        license_id: r.get(1)?,
        public_key: r.get(2)?,
        name: r.get(3)?,
        created_at: r.get(4)?,
        revoked_at: r.get(5)?,
    })
}

const DEVICE_COLS: &str = "device_id, license_id, public_key, name, created_at, revoked_at";

fn register_tx(conn: &Connection, d: &NewDevice) -> Result<Registration, StorageError> {
    let known: bool = conn
        .prepare_cached("SELECT 1 FROM licenses WHERE license_id = ?1")
        .and_then(|mut s| s.exists(params![d.license_id]))
        .map_err(backend)?;
    if !known {
        return Err(StorageError::UnknownLicense);
    }
    let existing = conn
        .prepare_cached(&format!(
            "SELECT {DEVICE_COLS} FROM devices WHERE license_id = ?1 AND public_key = ?2"
        ))
        .and_then(|mut s| {
            s.query_row(params![d.license_id, d.public_key], row_to_device)
                .optional()
        })
        .map_err(backend)?;
    if let Some(device) = existing {
        return Ok(Registration {
            device,
            created: false,
        });
    }
    conn.prepare_cached(
        "INSERT INTO devices (device_id, license_id, public_key, name, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            d.device_id,
            d.license_id,
            d.public_key,
            d.name,
            d.now
        ])
    })
    .map_err(backend)?;
    Ok(Registration {
        device: DeviceRecord {
            device_id: d.device_id.clone(),
            license_id: d.license_id.clone(),
            public_key: d.public_key.clone(),
            name: d.name.clone(),
            created_at: d.now,
            revoked_at: None,
        },
        created: true,
    })
}

fn push_tx(conn: &Connection, b: &NewBlob, seq: i64) -> Result<PushOutcome, StorageError> {
    let dev: Option<(String, Option<i64>, i64)> = conn
        .prepare_cached("SELECT license_id, revoked_at, last_seq FROM devices WHERE device_id = ?1")
        .and_then(|mut s| {
            s.query_row(params![b.device_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
        })
        .map_err(backend)?;
    let Some((license_id, revoked_at, last_seq)) = dev else {
        return Ok(PushOutcome::UnknownDevice);
    };
    if revoked_at.is_some() {
        return Ok(PushOutcome::Revoked);
    }
    if seq <= last_seq {
        let existing_sha256: Option<String> = conn
            .prepare_cached("SELECT sha256 FROM blobs WHERE device_id = ?1 AND seq = ?2")
            .and_then(|mut s| {
                s.query_row(params![b.device_id, seq], |r| r.get(0))
                    .optional()
            })
            .map_err(backend)?;
        return Ok(PushOutcome::Conflict {
            last_seq: last_seq as u64,
            existing_sha256,
        });
    }
    let size = b.data.len() as i64;
    conn.prepare_cached(
        "INSERT INTO blobs (license_id, device_id, seq, sha256, size, created_at, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            license_id,
            b.device_id,
            seq,
            b.sha256,
            size,
            b.now,
            &b.data[..]
        ])
    })
    .map_err(backend)?;
    conn.prepare_cached(
        "UPDATE devices SET last_seq = ?2, last_push_at = ?3,
                blob_count = blob_count + 1, sealed_bytes = sealed_bytes + ?4
         WHERE device_id = ?1",
    )
    .and_then(|mut s| s.execute(params![b.device_id, seq, b.now, size]))
    .map_err(backend)?;
    Ok(PushOutcome::Stored {
        seq: seq as u64,
        created_at: b.now,
    })
}

fn devices_query(
    conn: &Connection,
    license_id: &str,
) -> Result<Option<Vec<DeviceInfo>>, StorageError> {
    let known = conn
        .prepare_cached("SELECT 1 FROM licenses WHERE license_id = ?1")
        .and_then(|mut s| s.exists(params![license_id]))
        .map_err(backend)?;
    if !known {
        return Ok(None);
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT device_id, name, created_at, last_push_at, last_pull_at, blob_count,
                    sealed_bytes, revoked_at IS NOT NULL
             FROM devices WHERE license_id = ?1 ORDER BY created_at, rowid",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map(params![license_id], |r| {
            Ok(DeviceInfo {
                device_id: r.get(0)?,
                name: r.get(1)?,
                created_at: r.get(2)?,
                last_push_at: r.get(3)?,
                last_pull_at: r.get(4)?,
                blob_count: r.get::<_, i64>(5)? as u64,
                sealed_bytes: r.get::<_, i64>(6)? as u64,
                revoked: r.get(7)?,
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(backend)
}

/// Reads the device listing straight from the database file, without the
/// writer thread (for the CLI's admin command).
pub(crate) fn devices_offline(
    data_dir: &Path,
    license_id: &str,
) -> Result<Option<Vec<DeviceInfo>>, StorageError> {
    let path = data_dir.join(DB_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let conn = open_reader(&path)?;
    devices_query(&conn, license_id)
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn add_license(
        &self,
        license_id: &str,
        key_hash: [u8; 32],
        now: i64,
    ) -> Result<(), StorageError> {
        let lid = license_id.to_string();
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "INSERT INTO licenses (license_id, key_hash, created_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (license_id) DO NOTHING",
                )
                .and_then(|mut s| s.execute(params![lid, &key_hash[..], now]))
                .map_err(backend)?;
            if n == 0 {
                Err(StorageError::LicenseExists)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn license_key_hash(&self, license_id: &str) -> Result<Option<[u8; 32]>, StorageError> {
        let lid = license_id.to_string();
        self.read(move |c| {
            let v: Option<Vec<u8>> = c
                .prepare_cached("SELECT key_hash FROM licenses WHERE license_id = ?1")
                .and_then(|mut s| s.query_row(params![lid], |r| r.get(0)).optional())
                .map_err(backend)?;
            match v {
                None => Ok(None),
                Some(v) => v
                    .try_into()
                    .map(Some)
                    .map_err(|_| StorageError::Backend("corrupt license key hash".into())),
            }
        })
        .await
    }

    async fn register_device(&self, device: NewDevice) -> Result<Registration, StorageError> {
        self.write(move |c| register_tx(c, &device)).await
    }

    async fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>, StorageError> {
        let id = device_id.to_string();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {DEVICE_COLS} FROM devices WHERE device_id = ?1"
            ))
            .and_then(|mut s| s.query_row(params![id], row_to_device).optional())
            .map_err(backend)
        })
        .await
    }

    async fn push(&self, blob: NewBlob) -> Result<PushOutcome, StorageError> {
        let seq = to_i64(blob.seq, "seq")?;
        self.write(move |c| push_tx(c, &blob, seq)).await
    }

    async fn pull(
        &self,
        license_id: &str,
        requester: &str,
        after: i64,
        limit: u32,
    ) -> Result<PullPage, StorageError> {
        let (lid, req) = (license_id.to_string(), requester.to_string());
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, device_id, seq, sha256, size, created_at FROM blobs
                     WHERE license_id = ?1 AND id > ?2 AND device_id <> ?3
                     ORDER BY id LIMIT ?4",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![lid, after, req, i64::from(limit) + 1], |r| {
                    Ok(BlobMeta {
                        position: r.get(0)?,
                        device_id: r.get(1)?,
                        seq: r.get::<_, i64>(2)? as u64,
                        sha256: r.get(3)?,
                        size: r.get::<_, i64>(4)? as u64,
                        created_at: r.get(5)?,
                    })
                })
                .map_err(backend)?;
            let mut items = rows.collect::<Result<Vec<_>, _>>().map_err(backend)?;
            let has_more = items.len() > limit as usize;
            items.truncate(limit as usize);
            Ok(PullPage { items, has_more })
        })
        .await
    }

    async fn touch_pull(&self, device_id: &str, now: i64) -> Result<(), StorageError> {
        let id = device_id.to_string();
        self.write(move |c| {
            c.prepare_cached("UPDATE devices SET last_pull_at = ?2 WHERE device_id = ?1")
                .and_then(|mut s| s.execute(params![id, now]))
                .map(|_| ())
                .map_err(backend)
        })
        .await
    }

    async fn blob(
        &self,
        license_id: &str,
        owner_device_id: &str,
        seq: u64,
    ) -> Result<Option<BlobData>, StorageError> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        let (lid, owner) = (license_id.to_string(), owner_device_id.to_string());
        self.read(move |c| {
            c.prepare_cached(
                "SELECT sha256, data FROM blobs
                 WHERE device_id = ?1 AND seq = ?2 AND license_id = ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![owner, seq, lid], |r| {
                    Ok(BlobData {
                        sha256: r.get(0)?,
                        data: Bytes::from(r.get::<_, Vec<u8>>(1)?),
                    })
                })
                .optional()
            })
            .map_err(backend)
        })
        .await
    }

    async fn revoke(&self, license_id: &str, target: &str, now: i64) -> Result<bool, StorageError> {
        let (lid, target) = (license_id.to_string(), target.to_string());
        self.write(move |c| {
            let exists = c
                .prepare_cached("SELECT 1 FROM devices WHERE device_id = ?1 AND license_id = ?2")
                .and_then(|mut s| s.exists(params![target, lid]))
                .map_err(backend)?;
            if !exists {
                return Ok(false);
            }
            c.prepare_cached(
                "UPDATE devices SET revoked_at = ?2 WHERE device_id = ?1 AND revoked_at IS NULL",
            )
            .and_then(|mut s| s.execute(params![target, now]))
            .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn keycheck_put(
        &self,
        license_id: &str,
        device_id: &str,
        sha256: &str,
        data: Bytes,
        now: i64,
    ) -> Result<KeycheckPut, StorageError> {
        let (lid, dev, sha) = (
            license_id.to_string(),
            device_id.to_string(),
            sha256.to_string(),
        );
        self.write(move |c| {
            let existing: Option<String> = c
                .prepare_cached("SELECT sha256 FROM keychecks WHERE license_id = ?1")
                .and_then(|mut s| s.query_row(params![lid], |r| r.get(0)).optional())
                .map_err(backend)?;
            if let Some(sha256) = existing {
                return Ok(KeycheckPut::Exists { sha256 });
            }
            c.prepare_cached(
                "INSERT INTO keychecks (license_id, device_id, sha256, created_at, data)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| s.execute(params![lid, dev, sha, now, &data[..]]))
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StorageError::UnknownLicense
                }
                e => backend(e),
            })?;
            Ok(KeycheckPut::Stored)
        })
        .await
    }

    async fn keycheck_get(&self, license_id: &str) -> Result<Option<BlobData>, StorageError> {
        let lid = license_id.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT sha256, data FROM keychecks WHERE license_id = ?1")
                .and_then(|mut s| {
                    s.query_row(params![lid], |r| {
                        Ok(BlobData {
                            sha256: r.get(0)?,
                            data: Bytes::from(r.get::<_, Vec<u8>>(1)?),
                        })
                    })
                    .optional()
                })
                .map_err(backend)
        })
        .await
    }

    async fn prune(&self, device_id: &str, checkpoint_seq: u64) -> Result<u64, StorageError> {
        // Every stored seq is <= i64::MAX, so a larger checkpoint prunes all.
        let cp = i64::try_from(checkpoint_seq).unwrap_or(i64::MAX);
        let id = device_id.to_string();
        self.write(move |c| {
            let (n, bytes): (i64, i64) = c
                .prepare_cached(
                    "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs
                     WHERE device_id = ?1 AND seq < ?2",
                )
                .and_then(|mut s| s.query_row(params![id, cp], |r| Ok((r.get(0)?, r.get(1)?))))
                .map_err(backend)?;
            if n == 0 {
                return Ok(0);
            }
            c.prepare_cached("DELETE FROM blobs WHERE device_id = ?1 AND seq < ?2")
                .and_then(|mut s| s.execute(params![id, cp]))
                .map_err(backend)?;
            c.prepare_cached(
                "UPDATE devices SET blob_count = blob_count - ?2, sealed_bytes = sealed_bytes - ?3
                 WHERE device_id = ?1",
            )
            .and_then(|mut s| s.execute(params![id, n, bytes]))
            .map_err(backend)?;
            Ok(n as u64)
        })
        .await
    }

    async fn devices(&self, license_id: &str) -> Result<Option<Vec<DeviceInfo>>, StorageError> {
        let lid = license_id.to_string();
        self.read(move |c| devices_query(c, &lid)).await
    }
}
