//! Backup and restore of the SQLite store, for the operator's `backup` and
//! `restore` commands.
//!
//! A backup is `VACUUM INTO` on a read-only connection: one read
//! transaction, so the file is a consistent snapshot of every commit up
//! to its start, taken while the relay goes on serving (WAL: the relay's
//! writer never waits for a reader). It may hold pushes committed but not
//! yet acknowledged (their fsync was still running); a restored relay
//! lists them, which is what the relay would have done a moment later.
//! The file is created 0600 before SQLite writes it, never overwrites
//! anything, and is checked and fsynced before the command succeeds.
//!
//! A restore only fills an empty data directory (the relay stopped, the
//! old directory moved aside): the backup is copied to a temporary file
//! beside the database's name, checked (`integrity_check`, schema version,
//! the relay's tables), and linked in under the database's name in one
//! step that fails rather than replace a database that appeared meanwhile.
//! The database's name never points at a half-written or unchecked file.
//! Before the link, the copy's position epoch is raised by
//! [`RESTORE_EPOCH_GAP`]: the original relay may have started again after
//! the backup and handed out positions of later epochs, which devices
//! hold as cursors; the restored relay's positions must be above them.
//!
//! No SQLite connection of this module ever touches a live relay's files
//! other than the read-only one of a backup, and no plain descriptor of
//! them is ever opened (see `files::DbFileGuard` for why that matters).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::files::create_private_dir;
use super::schema::{open_reader, EPOCH_SHIFT, MAX_EPOCH, SCHEMA_VERSION};
use super::DB_FILE;

/// SQLite's file header (the first 16 bytes of every database).
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";
/// Integrity errors reported at most (the first one is the message).
const MAX_INTEGRITY_ERRORS: u32 = 10;
/// Position epochs a restore skips. Each start of the original relay after
/// the backup began one epoch past the backup's, so with fewer than 2^16
/// starts between the backup and the restore every position the restored
/// relay hands out is above every one the original did (cursors devices
/// hold stay below new pushes). The 2^23 epochs of a 63-bit position with
/// `EPOCH_SHIFT` 40 leave room for 127 restores in a relay's history; one
/// that would run out is refused.
pub const RESTORE_EPOCH_GAP: i64 = 1 << 16;
/// Files SQLite may keep beside a database.
const SIDE_FILES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// What went wrong in a backup or a restore.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The backup's output file exists: a backup never overwrites.
    #[error("{0} already exists; a backup never overwrites a file")]
    OutputExists(PathBuf),
    /// The data directory to restore into already holds a database.
    #[error("{0} already holds a relay database")]
    DataDirInUse(PathBuf),
    /// No relay database in the data directory to back up.
    #[error("no relay database in {0}")]
    NoDatabase(PathBuf),
    /// The file to restore is not a whole, current relay database.
    #[error("{path} is not a usable relay backup: {why}")]
    NotABackup { path: PathBuf, why: String },
    /// The backup's position epochs leave no room for a restore's gap: the
    /// restored relay could not start above the original's positions.
    #[error(
        "{path} is at pull-position epoch {epoch}; a restore skips {RESTORE_EPOCH_GAP} \
         epochs and only {MAX_EPOCH} exist, so the restored relay would hand out positions again"
    )]
    PositionsExhausted { path: PathBuf, epoch: i64 },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("SQLite: {0}")]
    Sqlite(String),
}

/// What a backup file holds (metadata only).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupSummary {
    pub licenses: u64,
    pub devices: u64,
    pub blobs: u64,
    /// Sum of the stored blobs' sizes.
    pub sealed_bytes: u64,
    /// The database's schema version (a relay migrates an older one).
    pub schema_version: i64,
    /// Size of the backup file.
    pub file_bytes: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sqlite(e: impl std::fmt::Display) -> BackupError {
    BackupError::Sqlite(e.to_string())
}

fn side_file(db: &Path, suffix: &str) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Removes a file (and what SQLite may have left beside it) unless
/// disarmed: a failed backup or restore leaves nothing behind.
struct Cleanup(Option<PathBuf>);

impl Cleanup {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(&p);
            for s in SIDE_FILES {
                let _ = std::fs::remove_file(side_file(&p, s));
            }
        }
    }
}

/// Creates `path` empty and owner-only, failing if it exists.
fn create_private_file(path: &Path) -> Result<std::fs::File, BackupError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => BackupError::OutputExists(path.to_path_buf()),
        _ => io(path)(e),
    })
}

/// fsyncs a file and the directory holding it (its name is durable too).
fn sync_file_and_dir(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io(path))?;
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(io(dir))?;
    }
    Ok(())
}

/// Writes a consistent copy of the store under `data_dir` to `out` while
/// a relay may be serving from it. `out` must not exist.
pub fn backup(data_dir: &Path, out: &Path) -> Result<BackupSummary, BackupError> {
    let db = data_dir.join(DB_FILE);
    if !db.is_file() {
        return Err(BackupError::NoDatabase(data_dir.to_path_buf()));
    }
    let out_text = out.to_str().ok_or_else(|| BackupError::Io {
        path: out.to_path_buf(),
        source: std::io::Error::other("the output path is not UTF-8"),
    })?;
    // SQLite writes into an existing empty file and keeps its mode.
    drop(create_private_file(out)?);
    let cleanup = Cleanup(Some(out.to_path_buf()));
    {
        let src = open_reader(&db).map_err(sqlite)?;
        src.execute("VACUUM INTO ?1", [out_text]).map_err(sqlite)?;
    }
    let summary = check(out)?;
    for s in SIDE_FILES {
        // A clean close leaves none; one left would be a second file to copy.
        if side_file(out, s).exists() {
            return Err(BackupError::Sqlite(format!(
                "SQLite left {} beside the backup",
                side_file(out, s).display()
            )));
        }
    }
    sync_file_and_dir(out)?;
    cleanup.disarm();
    Ok(summary)
}

/// Puts the backup `from` in place as the store of `data_dir`, which must
/// hold no database (the relay is not running on it).
pub fn restore(from: &Path, data_dir: &Path) -> Result<BackupSummary, BackupError> {
    let db = data_dir.join(DB_FILE);
    let occupied = |d: &Path| {
        std::iter::once(d.to_path_buf())
            .chain(SIDE_FILES.iter().map(|s| side_file(d, s)))
            .any(|p| p.symlink_metadata().is_ok())
    };
    if occupied(&db) {
        return Err(BackupError::DataDirInUse(data_dir.to_path_buf()));
    }
    let not_a_backup = |why: String| BackupError::NotABackup {
        path: from.to_path_buf(),
        why,
    };
    let mut src = std::fs::File::open(from).map_err(io(from))?;
    let mut head = [0u8; 16];
    if std::io::Read::read_exact(&mut src, &mut head).is_err() || &head != SQLITE_HEADER {
        return Err(not_a_backup("not an SQLite database".into()));
    }
    std::io::Seek::rewind(&mut src).map_err(io(from))?;
    create_private_dir(data_dir).map_err(io(data_dir))?;
    let tmp = data_dir.join(format!(".{DB_FILE}.restore-{}", std::process::id()));
    let cleanup = Cleanup(Some(tmp.clone()));
    {
        let mut f = create_private_file(&tmp)?;
        std::io::copy(&mut src, &mut f).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    let summary = check(&tmp).map_err(|e| match e {
        BackupError::NotABackup { why, .. } => not_a_backup(why),
        e => e,
    })?;
    raise_epoch(&tmp, summary.schema_version).map_err(|e| match e {
        BackupError::NotABackup { why, .. } => not_a_backup(why),
        BackupError::PositionsExhausted { epoch, .. } => BackupError::PositionsExhausted {
            path: from.to_path_buf(),
            epoch,
        },
        e => e,
    })?;
    sync_file_and_dir(&tmp)?;
    // A hard link never replaces an existing name: a database that
    // appeared since the check above (a relay started on the directory)
    // is left alone.
    std::fs::hard_link(&tmp, &db).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => BackupError::DataDirInUse(data_dir.to_path_buf()),
        _ => io(&db)(e),
    })?;
    drop(cleanup);
    sync_file_and_dir(&db)?;
    Ok(summary)
}

/// Raises the position epoch of a checked copy by [`RESTORE_EPOCH_GAP`]
/// (the relay's next start begins the epoch after it); returns the new
/// epoch. A version 1 database has no epoch yet: the version 2 migration
/// starts it from the blob id sequence (`>> EPOCH_SHIFT`), so that is
/// raised instead.
fn raise_epoch(path: &Path, version: i64) -> Result<i64, BackupError> {
    let bad = |why: String| BackupError::NotABackup {
        path: path.to_path_buf(),
        why,
    };
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    conn.execute_batch("PRAGMA synchronous=FULL")
        .map_err(sqlite)?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sqlite)?;
    let epoch: i64 = if version >= 2 {
        tx.query_row(
            "SELECT value FROM relay_meta WHERE key = 'epoch'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| bad(format!("no pull-position epoch: {e}")))?
    } else {
        tx.query_row(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'blobs'), 0)",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(|e| bad(format!("no blob id sequence: {e}")))?
            >> EPOCH_SHIFT
    };
    let raised = epoch
        .checked_add(RESTORE_EPOCH_GAP)
        // The restored relay must still be able to start once.
        .filter(|e| (0..MAX_EPOCH).contains(e) && epoch >= 0)
        .ok_or(BackupError::PositionsExhausted {
            path: path.to_path_buf(),
            epoch,
        })?;
    if version >= 2 {
        tx.execute(
            "UPDATE relay_meta SET value = ?1 WHERE key = 'epoch'",
            [raised],
        )
        .map_err(sqlite)?;
    } else {
        let seq = raised << EPOCH_SHIFT;
        let n = tx
            .execute(
                "UPDATE sqlite_sequence SET seq = ?1 WHERE name = 'blobs'",
                [seq],
            )
            .map_err(sqlite)?;
        if n == 0 {
            tx.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('blobs', ?1)",
                [seq],
            )
            .map_err(sqlite)?;
        }
    }
    tx.commit().map_err(sqlite)?;
    Ok(raised)
}

/// Checks a database file that no relay uses: whole (`integrity_check`),
/// of a schema this relay opens, with the relay's tables; leaves it in
/// rollback-journal mode, a single self-contained file.
fn check(path: &Path) -> Result<BackupSummary, BackupError> {
    let bad = |why: String| BackupError::NotABackup {
        path: path.to_path_buf(),
        why,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| bad(e.to_string()))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
        .map_err(|e| bad(e.to_string()))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(bad(format!("journal mode stays {mode}")));
    }
    let problems: Vec<String> = conn
        .prepare(&format!("PRAGMA integrity_check({MAX_INTEGRITY_ERRORS})"))
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(|e| bad(e.to_string()))?;
    if problems != ["ok"] {
        let first = problems.first().map_or("no answer", String::as_str);
        return Err(bad(format!("integrity check failed: {first}")));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| bad(e.to_string()))?;
    if !(1..=SCHEMA_VERSION).contains(&version) {
        return Err(bad(format!(
            "schema version {version}; this relay opens versions 1 to {SCHEMA_VERSION}"
        )));
    }
    let counts = conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM licenses), (SELECT COUNT(*) FROM devices), \
             (SELECT COUNT(*) FROM blobs), (SELECT COALESCE(SUM(size), 0) FROM blobs)",
            [],
            |r| {
                Ok([r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get(3)?]
                    .map(|n| u64::try_from(n).unwrap_or(0)))
            },
        )
        .map_err(|e| bad(format!("not a relay database: {e}")))?;
    drop(conn);
    let file_bytes = std::fs::metadata(path).map_err(io(path))?.len();
    Ok(BackupSummary {
        licenses: counts[0],
        devices: counts[1],
        blobs: counts[2],
        sealed_bytes: counts[3],
        schema_version: version,
        file_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::super::schema::{migrate, SCHEMA};
    use super::*;

    fn new_db(dir: &Path, setup: &str) -> PathBuf {
        let p = dir.join("src.sqlite3");
        let conn = Connection::open(&p).unwrap();
        if setup.is_empty() {
            migrate(&conn).unwrap();
        } else {
            conn.execute_batch(setup).unwrap();
        }
        p
    }

    /// The first position a relay started on the restore of `src` hands out.
    fn restored_base(dir: &Path, src: &Path) -> Result<i64, BackupError> {
        let into = dir.join("restored");
        restore(src, &into)?;
        Ok(migrate(&Connection::open(into.join(DB_FILE)).unwrap()).unwrap())
    }

    #[test]
    fn a_restore_skips_the_gap_of_epochs() {
        let d = tempfile::tempdir().unwrap();
        // One start: epoch 1.
        let src = new_db(d.path(), "");
        let base = restored_base(d.path(), &src).unwrap();
        assert_eq!(base, (1 + RESTORE_EPOCH_GAP + 1) << EPOCH_SHIFT);
    }

    #[test]
    fn a_version_1_restore_skips_the_gap_above_its_blob_ids() {
        let d = tempfile::tempdir().unwrap();
        let src = new_db(
            d.path(),
            &format!(
                "{SCHEMA}
                 INSERT INTO licenses VALUES ('l', x'00', 0);
                 INSERT INTO devices (device_id, license_id, public_key, name, created_at)
                     VALUES ('d', 'l', 'k', 'n', 0);
                 INSERT INTO blobs (license_id, device_id, seq, sha256, size, created_at, data)
                     VALUES ('l', 'd', 1, 'h', 1, 0, x'00');
                 PRAGMA user_version = 1;"
            ),
        );
        let base = restored_base(d.path(), &src).unwrap();
        assert_eq!(base, (RESTORE_EPOCH_GAP + 1) << EPOCH_SHIFT);
        let kept: i64 = Connection::open(d.path().join("restored").join(DB_FILE))
            .unwrap()
            .query_row("SELECT position FROM blobs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1, "the v1 blob keeps its position");
    }

    #[test]
    fn a_restore_that_would_leave_no_epoch_to_start_is_refused() {
        let at = |epoch: i64| {
            let d = tempfile::tempdir().unwrap();
            let src = new_db(d.path(), "");
            Connection::open(&src)
                .unwrap()
                .execute("UPDATE relay_meta SET value = ?1", [epoch])
                .unwrap();
            let r = restored_base(d.path(), &src);
            let left = std::fs::read_dir(d.path().join("restored"))
                .map(|r| r.count())
                .unwrap_or(0);
            (r, left)
        };
        let (last, _) = at(MAX_EPOCH - RESTORE_EPOCH_GAP - 1);
        assert_eq!(last.unwrap(), MAX_EPOCH << EPOCH_SHIFT);
        let (refused, left) = at(MAX_EPOCH - RESTORE_EPOCH_GAP);
        assert!(
            matches!(refused, Err(BackupError::PositionsExhausted { epoch, .. })
                if epoch == MAX_EPOCH - RESTORE_EPOCH_GAP),
            "{refused:?}"
        );
        assert_eq!(left, 0, "a refused restore left files");
    }
}
