//! The database files on disk: created owner-only, synced on first open,
//! and never touched through a second descriptor while this process has
//! SQLite connections to them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::DB_FILE;

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
pub(super) struct DbFileGuard {
    key: PathBuf,
}

impl DbFileGuard {
    pub(super) fn acquire(dir: &Path, db: &Path) -> std::io::Result<Self> {
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

#[cfg(unix)]
pub(super) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
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
pub(super) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Bytes of the database file and its `-wal` and `-shm` files (three
/// `stat` calls: cheap enough for every metrics scrape).
pub(super) fn db_files_size(db: &Path) -> u64 {
    let mut shm = db.as_os_str().to_owned();
    shm.push("-shm");
    [db.to_path_buf(), wal_path(db), PathBuf::from(shm)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

pub(super) fn wal_path(db: &Path) -> PathBuf {
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
