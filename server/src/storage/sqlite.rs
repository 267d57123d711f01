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
const SCHEMA_VERSION: i64 = 2;
/// Bits of a position below the epoch: an epoch holds 2^40 pushes per
/// license, and 2^23 epochs (relay starts) fit in an i64.
const EPOCH_SHIFT: u32 = 40;
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
-- Schema version 1; `MIGRATE_V2` brings it to the current version.
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

/// Version 1 to 2: per-license pull positions (v1 used the global
/// AUTOINCREMENT id; those ids stay the positions of existing blobs, so a
/// device's cursor keeps working), and the position epoch, started above
/// every id v1 ever handed out.
const MIGRATE_V2: &str = "
ALTER TABLE licenses ADD COLUMN last_position INTEGER NOT NULL DEFAULT 0;
ALTER TABLE blobs ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
UPDATE blobs SET position = id;
UPDATE licenses SET last_position = COALESCE(
    (SELECT MAX(b.position) FROM blobs b WHERE b.license_id = licenses.license_id), 0);
DROP INDEX IF EXISTS blobs_by_license;
CREATE UNIQUE INDEX blobs_by_position ON blobs(license_id, position);
CREATE TABLE relay_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO relay_meta (key, value) VALUES ('epoch',
    COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'blobs'), 0) >> 40);
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
/// Positions a batch allocated, per license: listed once durable.
type Shown = Vec<(String, i64)>;
/// A write: runs inside the batch transaction, records the positions it
/// allocated, says whether it succeeded (else its savepoint is rolled
/// back), and hands back what to do once the commit outcome is known.
type Work = Box<dyn FnOnce(&Connection, &mut Shown) -> (bool, Completion) + Send>;

/// State the writer, the syncer and the readers share.
struct Shared {
    /// Per license, the highest position a completed fsync covers. Pulls
    /// list nothing above it; an absent license has nothing durable yet.
    durable: std::sync::RwLock<std::collections::HashMap<String, i64>>,
    /// Set once durability can no longer be promised; never cleared.
    failed: std::sync::OnceLock<String>,
    /// First position of this open's epoch.
    epoch_base: i64,
}

impl Shared {
    fn publish(&self, shown: Shown) {
        if shown.is_empty() {
            return;
        }
        let mut m = self.durable.write().unwrap_or_else(|p| p.into_inner());
        for (lid, pos) in shown {
            let e = m.entry(lid).or_insert(0);
            *e = (*e).max(pos);
        }
    }

    fn durable(&self, license_id: &str) -> i64 {
        self.durable
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(license_id)
            .copied()
            .unwrap_or(0)
    }

    fn failed(&self) -> Option<StorageError> {
        self.failed.get().map(|m| StorageError::Failed(m.clone()))
    }

    /// Enters the failed state (once) and says so loudly.
    fn fail(&self, why: &str) -> StorageError {
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

fn fail_all(done: Vec<Completion>, e: &StorageError) {
    for d in done {
        d(Err(match e {
            StorageError::Failed(m) => StorageError::Failed(m.clone()),
            e => StorageError::Backend(e.to_string()),
        }));
    }
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

/// Database files this process has SQLite connections to, with how many
/// stores hold each.
static OPEN_DB_FILES: Mutex<Vec<(PathBuf, usize)>> = Mutex::new(Vec::new());

/// Keeps this module from closing a file descriptor of the database file
/// while this process has SQLite connections to it.
///
/// SQLite's locks are POSIX record locks, which belong to the process:
/// closing ANY descriptor of the file drops every lock the process holds on
/// it, including the SHARED lock that tells another process closing its
/// last connection that it is not the last one. That process then
/// checkpoints and deletes the `-wal` and `-shm` files from under this
/// one: its next reader fails with "disk I/O error", and its writer keeps
/// committing (and acknowledging) into an unlinked WAL that a kill loses.
/// (`license add` or `relay devices` run against a live relay's data
/// directory did exactly that.) So the file is created, tightened and
/// fsynced with plain descriptors only by the first store of this process
/// to open it, before its first connection; later stores of the same
/// process only tighten modes, which opens nothing.
struct DbFileGuard {
    key: PathBuf,
}

impl DbFileGuard {
    fn acquire(dir: &Path, db: &Path) -> std::io::Result<Self> {
        let key = std::fs::canonicalize(dir)?.join(DB_FILE);
        let mut open = OPEN_DB_FILES.lock().unwrap_or_else(|p| p.into_inner());
        match open.iter_mut().find(|(p, _)| *p == key) {
            Some((_, n)) => {
                // Another store of this process is open on it: that open
                // synced what earlier processes left, and every descriptor
                // close here would drop its locks.
                tighten_private_files(db)?;
                *n += 1;
            }
            None => {
                create_private_files(db)?;
                // What a previous process committed may still be only in
                // the page cache (it was killed before its fsync). Sync it
                // before anything is listed, so every position a pull shows
                // is on the disk.
                sync_files(dir, db)?;
                open.push((key.clone(), 1));
            }
        }
        Ok(Self { key })
    }
}

impl Drop for DbFileGuard {
    fn drop(&mut self) {
        let mut open = OPEN_DB_FILES.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = open.iter().position(|(p, _)| *p == self.key) {
            open[i].1 -= 1;
            if open[i].1 == 0 {
                open.swap_remove(i);
            }
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

fn wal_path(db: &Path) -> PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// Creates the database file 0600 before SQLite opens it (SQLite creates
/// its `-wal` and `-shm` files with the database file's mode), and
/// tightens files an older relay left group/world readable.
#[cfg(unix)]
fn create_private_files(db: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    // An empty file is an empty database to SQLite.
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(db)?;
    tighten_private_files(db)
}

/// chmod only: opens no descriptor (see `DbFileGuard`).
#[cfg(unix)]
fn tighten_private_files(db: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::metadata(&p) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn create_private_files(_db: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(not(unix))]
fn tighten_private_files(_db: &Path) -> std::io::Result<()> {
    Ok(())
}

/// fsyncs the database, its WAL and the directory holding them. Only
/// while this process has no connection to them (see `DbFileGuard`).
fn sync_files(dir: &Path, db: &Path) -> std::io::Result<()> {
    for p in [db.to_path_buf(), wal_path(db)] {
        match std::fs::File::open(&p) {
            Ok(f) => f.sync_all()?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
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

/// Brings the schema to the current version and starts a new position
/// epoch, in one transaction committed with `synchronous=FULL` (durable
/// before any position of the epoch is handed out). Returns the epoch's
/// first position.
fn migrate(conn: &Connection) -> Result<i64, StorageError> {
    exec(conn, "BEGIN IMMEDIATE").map_err(backend)?;
    let r = (|| {
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(backend)?;
        if v > SCHEMA_VERSION {
            return Err(StorageError::Backend(format!(
                "database schema version {v} is newer than this relay ({SCHEMA_VERSION})"
            )));
        }
        if v < 1 {
            conn.execute_batch(SCHEMA).map_err(backend)?;
        }
        if v < 2 {
            conn.execute_batch(MIGRATE_V2).map_err(backend)?;
        }
        conn.execute_batch(&format!("PRAGMA user_version={SCHEMA_VERSION}"))
            .map_err(backend)?;
        let epoch: i64 = conn
            .query_row(
                "UPDATE relay_meta SET value = value + 1 WHERE key = 'epoch' RETURNING value",
                [],
                |r| r.get(0),
            )
            .map_err(backend)?;
        if !(1..1 << (63 - EPOCH_SHIFT)).contains(&epoch) {
            return Err(StorageError::OutOfRange("position epoch"));
        }
        Ok(epoch << EPOCH_SHIFT)
    })();
    match r {
        Ok(base) => {
            exec(conn, "COMMIT").map_err(backend)?;
            Ok(base)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Writes between checkpoint requests (a 4 KiB push is ~3 WAL frames).
const CHECKPOINT_EVERY_WRITES: u64 = 1000;
/// Past this many WAL frames still not checkpointed, the checkpointer
/// briefly blocks the writer (RESTART) so the WAL cannot grow without bound.
const WAL_RESTART_FRAMES: i64 = 65_536;

/// A committed batch waiting for the fsync that makes it durable.
struct Committed {
    shown: Shown,
    acks: Vec<Completion>,
}

/// Lists and answers committed writes once an fsync of the WAL file,
/// started after their commit returned, has succeeded. Coalesces every
/// batch waiting. After a failure nothing is fsynced, listed or
/// acknowledged again (a later fsync may "succeed" over lost pages).
fn sync_loop(
    wal: PathBuf,
    rx: std::sync::mpsc::Receiver<Committed>,
    hook: SyncHook,
    shared: Arc<Shared>,
) {
    let mut file: Option<std::fs::File> = None;
    while let Ok(first) = rx.recv() {
        let (mut shown, mut acks) = (first.shown, first.acks);
        while let Ok(more) = rx.try_recv() {
            shown.extend(more.shown);
            acks.extend(more.acks);
        }
        if let Some(e) = shared.failed() {
            fail_all(acks, &e);
            continue;
        }
        let r = (|| {
            if file.is_none() {
                file = Some(std::fs::File::open(&wal)?);
            }
            let f = file
                .as_ref()
                .ok_or_else(|| std::io::Error::other("no WAL"))?;
            let len = hook.before_fsync(f)?;
            f.sync_data()?;
            hook.synced(len);
            Ok::<(), std::io::Error>(())
        })();
        match r {
            Ok(()) => {
                shared.publish(shown);
                acks.into_iter().for_each(|d| d(Ok(())));
            }
            Err(e) => {
                let e = shared.fail(&format!("fsync of the WAL failed: {e}"));
                fail_all(acks, &e);
            }
        }
    }
}

/// Test-only fault injection on the pipelined WAL fsync: hold it (to
/// observe a committed but not yet durable write), fail it, and report how
/// much of the WAL the last successful fsync covered (to simulate a power
/// loss by truncating the WAL there). A no-op outside unit tests.
#[derive(Clone, Default)]
struct SyncHook {
    #[cfg(test)]
    inner: Option<Arc<tests::HookState>>,
}

impl SyncHook {
    fn none() -> Self {
        Self::default()
    }

    /// Blocks while the test holds the fsync; errors when it injects a
    /// failure. Returns the WAL length the coming fsync will cover.
    #[cfg_attr(not(test), allow(clippy::unused_self))]
    fn before_fsync(&self, _f: &std::fs::File) -> std::io::Result<u64> {
        #[cfg(test)]
        if let Some(h) = &self.inner {
            let len = _f.metadata()?.len();
            h.before_fsync()?;
            return Ok(len);
        }
        Ok(0)
    }

    #[cfg_attr(not(test), allow(clippy::unused_self))]
    fn synced(&self, _len: u64) {
        #[cfg(test)]
        if let Some(h) = &self.inner {
            h.synced(_len);
        }
    }
}

type Syncer = (
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

fn writer_loop(
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
        match exec(&conn, "COMMIT") {
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

/// Checkpoints the WAL off the writer thread (the writer's own automatic
/// checkpoint is off, so a commit never pays for copying pages into the
/// database file).
fn checkpoint_loop(path: PathBuf, rx: std::sync::mpsc::Receiver<()>, shared: Arc<Shared>) {
    let Ok(conn) = Connection::open(&path) else {
        return;
    };
    if configure(&conn).is_err() {
        return;
    }
    while rx.recv().is_ok() {
        if shared.failed.get().is_some() {
            return;
        }
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

fn push_tx(
    conn: &Connection,
    b: &NewBlob,
    seq: i64,
    epoch_base: i64,
    shown: &mut Shown,
) -> Result<PushOutcome, StorageError> {
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
    let last: i64 = conn
        .prepare_cached("SELECT last_position FROM licenses WHERE license_id = ?1")
        .and_then(|mut s| s.query_row(params![license_id], |r| r.get(0)))
        .map_err(backend)?;
    // Above every position of earlier epochs, so none is handed out twice
    // even when an unsynced tail of an earlier run was lost.
    let position = last
        .checked_add(1)
        .ok_or(StorageError::OutOfRange("position"))?
        .max(epoch_base);
    conn.prepare_cached("UPDATE licenses SET last_position = ?2 WHERE license_id = ?1")
        .and_then(|mut s| s.execute(params![license_id, position]))
        .map_err(backend)?;
    conn.prepare_cached(
        "INSERT INTO blobs (license_id, device_id, seq, sha256, size, created_at, data, position)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            license_id,
            b.device_id,
            seq,
            b.sha256,
            size,
            b.now,
            &b.data[..],
            position
        ])
    })
    .map_err(backend)?;
    shown.push((license_id, position));
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
        let base = self.inner.shared.epoch_base;
        self.write_shown(move |c, shown| push_tx(c, &blob, seq, base, shown))
            .await
    }

    async fn pull(
        &self,
        license_id: &str,
        requester: &str,
        after: i64,
        limit: u32,
    ) -> Result<PullPage, StorageError> {
        let (lid, req) = (license_id.to_string(), requester.to_string());
        // Read before the query: every position up to it is committed, so
        // the query's snapshot holds them all.
        let durable = self.inner.shared.durable(license_id);
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT position, device_id, seq, sha256, size, created_at FROM blobs
                     WHERE license_id = ?1 AND position > ?2 AND position <= ?3
                       AND device_id <> ?4
                     ORDER BY position LIMIT ?5",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(
                    params![lid, after, durable, req, i64::from(limit) + 1],
                    |r| {
                        Ok(BlobMeta {
                            position: r.get(0)?,
                            device_id: r.get(1)?,
                            seq: r.get::<_, i64>(2)? as u64,
                            sha256: r.get(3)?,
                            size: r.get::<_, i64>(4)? as u64,
                            created_at: r.get(5)?,
                        })
                    },
                )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{NewBlob, NewDevice};
    use std::sync::Condvar;
    use std::time::{Duration, Instant};

    #[derive(Default)]
    pub(super) struct HookState {
        s: Mutex<HookFlags>,
        cv: Condvar,
    }

    #[derive(Default)]
    struct HookFlags {
        held: bool,
        fail_next: bool,
        waiting: bool,
        synced_len: u64,
    }

    impl HookState {
        pub(super) fn before_fsync(&self) -> std::io::Result<()> {
            let mut g = self.s.lock().unwrap();
            g.waiting = true;
            self.cv.notify_all();
            // Bounded, so a failing test's drop (which joins the syncer)
            // cannot hang on a hold it never released.
            let deadline = Instant::now() + Duration::from_secs(15);
            while g.held && Instant::now() < deadline {
                g = self
                    .cv
                    .wait_timeout(g, Duration::from_millis(50))
                    .unwrap()
                    .0;
            }
            g.waiting = false;
            if std::mem::take(&mut g.fail_next) {
                return Err(std::io::Error::other("injected fsync failure"));
            }
            Ok(())
        }

        pub(super) fn synced(&self, len: u64) {
            self.s.lock().unwrap().synced_len = len;
        }

        fn hold(&self) {
            self.s.lock().unwrap().held = true;
        }

        fn release(&self, fail: bool) {
            let mut g = self.s.lock().unwrap();
            g.held = false;
            g.fail_next = fail;
            self.cv.notify_all();
        }

        fn synced_len(&self) -> u64 {
            self.s.lock().unwrap().synced_len
        }
    }

    fn open_hooked(dir: &Path) -> (SqliteStorage, Arc<HookState>) {
        let h = Arc::new(HookState::default());
        let s = SqliteStorage::open_inner(
            dir,
            DEFAULT_MAX_BATCH,
            Durability::PipelinedFsync,
            SyncHook {
                inner: Some(h.clone()),
            },
        )
        .unwrap();
        (s, h)
    }

    async fn setup(s: &SqliteStorage, lid: &str, devs: &[&str]) {
        s.add_license(lid, [1; 32], 1).await.unwrap();
        for d in devs {
            s.register_device(NewDevice {
                license_id: lid.into(),
                device_id: (*d).into(),
                public_key: format!("pk-{d}"),
                name: "n".into(),
                now: 1,
            })
            .await
            .unwrap();
        }
    }

    fn blob(dev: &str, seq: u64) -> NewBlob {
        let data = format!("{dev}/{seq}").into_bytes();
        NewBlob {
            device_id: dev.into(),
            seq,
            sha256: azmx_sync_core::integrity::sha256_hex(&data),
            data: Bytes::from(data),
            now: 1,
        }
    }

    /// Rows committed to the database (visible to any reader), durable or not.
    fn committed(path: &Path) -> i64 {
        let c = open_reader(path).unwrap();
        c.query_row("SELECT COUNT(*) FROM blobs", [], |r| r.get(0))
            .unwrap()
    }

    fn wait_committed(path: &Path, n: i64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while committed(path) < n {
            assert!(Instant::now() < deadline, "write never committed");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Issue 11 defect 2 (a): a pipelined push is committed (readable by
    /// SQLite) before its fsync; pull must not list it until the fsync that
    /// covers it completed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipelined_push_is_not_listed_before_its_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let (s, hook) = open_hooked(dir.path());
        setup(&s, "lic", &["dev_a", "dev_r"]).await;
        hook.hold();
        let s2 = s.clone();
        let pending = tokio::spawn(async move { s2.push(blob("dev_a", 1)).await });
        wait_committed(s.path(), 1);
        let page = s.pull("lic", "dev_r", 0, 10).await.unwrap();
        assert!(
            page.items.is_empty(),
            "listed before its fsync: {:?}",
            page.items
        );
        assert!(!pending.is_finished(), "acknowledged before its fsync");
        hook.release(false);
        assert!(matches!(
            pending.await.unwrap().unwrap(),
            PushOutcome::Stored { seq: 1, .. }
        ));
        let page = s.pull("lic", "dev_r", 0, 10).await.unwrap();
        assert_eq!(page.items.len(), 1);
    }

    /// Issue 11 defect 2 (b): a failed fsync fails every write waiting on
    /// it and every later write, until the store is reopened; nothing of
    /// it is acknowledged or listed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fsync_failure_fails_pending_and_later_writes() {
        let dir = tempfile::tempdir().unwrap();
        let (s, hook) = open_hooked(dir.path());
        setup(&s, "lic", &["dev_a", "dev_b", "dev_r"]).await;
        hook.hold();
        let (s1, s2) = (s.clone(), s.clone());
        let p1 = tokio::spawn(async move { s1.push(blob("dev_a", 1)).await });
        wait_committed(s.path(), 1);
        let p2 = tokio::spawn(async move { s2.push(blob("dev_b", 1)).await });
        wait_committed(s.path(), 2);
        hook.release(true);
        for p in [p1, p2] {
            let r = p.await.unwrap();
            assert!(matches!(r, Err(StorageError::Failed(_))), "{r:?}");
        }
        // Later writes fail too (no reopen-and-carry-on), of every kind.
        let r = s.push(blob("dev_a", 2)).await;
        assert!(matches!(r, Err(StorageError::Failed(_))), "{r:?}");
        let r = s.add_license("lic2", [2; 32], 1).await;
        assert!(matches!(r, Err(StorageError::Failed(_))), "{r:?}");
        assert_eq!(committed(s.path()), 2, "a write ran after the failure");
        // What was never durable is never listed.
        let page = s.pull("lic", "dev_r", 0, 10).await.unwrap();
        assert!(page.items.is_empty(), "{:?}", page.items);
    }

    /// Copies the database as a power loss at this moment would leave it:
    /// the WAL cut where the last successful fsync ended.
    fn power_loss_copy(from: &Path, wal_len: u64, to: &Path) {
        create_private_dir(to).unwrap();
        std::fs::copy(from.join(DB_FILE), to.join(DB_FILE)).unwrap();
        let wal = std::fs::read(from.join(format!("{DB_FILE}-wal"))).unwrap();
        let keep = usize::try_from(wal_len).unwrap().min(wal.len());
        std::fs::write(to.join(format!("{DB_FILE}-wal")), &wal[..keep]).unwrap();
    }

    /// Issue 11 defect 2 (d): after a power loss drops a committed but not
    /// yet durable tail, a reader resuming from its cursor still gets every
    /// later blob: no position it may have passed is handed out again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn positions_are_not_reused_after_a_lost_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (data, after) = (dir.path().join("data"), dir.path().join("after"));
        let (s, hook) = open_hooked(&data);
        setup(&s, "lic", &["dev_a", "dev_r"]).await;
        assert!(matches!(
            s.push(blob("dev_a", 1)).await.unwrap(),
            PushOutcome::Stored { .. }
        ));
        let page = s.pull("lic", "dev_r", 0, 10).await.unwrap();
        assert_eq!(page.items.len(), 1);
        let mut cursor = page.items[0].position;

        hook.hold();
        let s2 = s.clone();
        let _lost = tokio::spawn(async move { s2.push(blob("dev_a", 2)).await });
        wait_committed(s.path(), 2);
        let lost_position: i64 = open_reader(s.path())
            .unwrap()
            .query_row("SELECT MAX(position) FROM blobs", [], |r| r.get(0))
            .unwrap();
        // The reader pulls while the push is committed but not durable.
        let page = s.pull("lic", "dev_r", cursor, 10).await.unwrap();
        if let Some(m) = page.items.last() {
            cursor = m.position;
        }
        power_loss_copy(&data, hook.synced_len(), &after);

        let s = SqliteStorage::open(&after).unwrap();
        let all = s.pull("lic", "dev_r", 0, 10).await.unwrap();
        assert_eq!(all.items.len(), 1, "the unsynced tail survived: {all:?}");
        assert!(matches!(
            s.push(blob("dev_a", 2)).await.unwrap(),
            PushOutcome::Stored { .. }
        ));
        let page = s.pull("lic", "dev_r", cursor, 10).await.unwrap();
        assert_eq!(
            page.items.iter().map(|m| m.seq).collect::<Vec<_>>(),
            vec![2],
            "the reader skipped the new blob"
        );
        assert!(
            page.items[0].position > lost_position,
            "position {lost_position} reused"
        );
        hook.release(false);
    }
}
