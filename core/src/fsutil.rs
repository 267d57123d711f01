//! Owner-only files written so that a crash or power loss leaves either the
//! old contents or the new, never a mix: the device key, the engine's state
//! files and exports all go through here.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// The directory `path` lives in (`.` for a bare file name): where its temp
/// file goes and which directory is fsynced after it appears.
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Open options that create files owner-only (0600); the caller adds the
/// access mode.
pub(crate) fn private_options() -> OpenOptions {
    let mut opts = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts
}

/// Creates `dir` (and its parents) and makes it owner-only (0700) where the
/// file system allows it.
pub(crate) fn create_private_dir_all(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Best effort: some mounts refuse chmod, and the files inside are
        // 0600 whatever the directory allows.
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Writes `contents` to `path` atomically with owner-only permissions.
/// Shared by every file that holds secrets or engine state.
pub(crate) fn write_private_atomically(
    path: &Path,
    dir: &Path,
    contents: &[u8],
) -> std::io::Result<()> {
    write_private_atomically_with(path, dir, |w| w.write_all(contents))
}

/// [`write_private_atomically`] of what `write` writes, through a buffer:
/// a large file (the engine state of a million records) is serialised
/// straight to disk instead of into memory first.
pub(crate) fn write_private_atomically_with(
    path: &Path,
    dir: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = write_synced_temp(path, dir, write)?;
    let result = fs::rename(&tmp, path).and_then(|()| sync_dir(dir));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Like [`write_private_atomically`] but never replaces: fails with
/// `AlreadyExists` when `path` exists, leaving it untouched. For files whose
/// first writer must win (the device key). The complete file appears at
/// `path` in one step (a hard link of a synced temp file), so a concurrent
/// reader never sees it half written.
pub(crate) fn write_private_new(path: &Path, dir: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = write_synced_temp(path, dir, |w| w.write_all(contents))?;
    // link(2) fails with EEXIST instead of replacing, unlike rename(2).
    let result = match fs::hard_link(&tmp, path) {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => {
            // A file system or sandbox without hard links (FAT, some
            // mobile sandboxes): exclusive create of the file itself.
            // Still never replaces; a reader racing the write may see
            // it short, which it reports as corrupt, never as a key.
            let mut f = private_create_new().open(path)?;
            let written = f.write_all(contents).and_then(|()| f.sync_all());
            if written.is_err() {
                drop(f);
                let _ = fs::remove_file(path);
            }
            written
        }
        other => other,
    }
    .and_then(|()| sync_dir(dir));
    let _ = fs::remove_file(&tmp);
    result
}

/// What `write` writes, in a new, fsynced, owner-only temp file beside `path`.
fn write_synced_temp(
    path: &Path,
    dir: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidInput, "no file name"))?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(format!(".tmp.{}.{}", std::process::id(), unique()));
    let tmp = dir.join(tmp_name);
    let written = private_create_new().open(&tmp).and_then(|f| {
        let mut w = std::io::BufWriter::with_capacity(WRITE_BUFFER, f);
        write(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    });
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Large enough that a small file is one `write`, small beside the data.
pub(crate) const WRITE_BUFFER: usize = 64 * 1024;

fn private_create_new() -> OpenOptions {
    let mut opts = private_options();
    opts.write(true).create_new(true);
    opts
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// fsyncs a directory, so a rename or new file in it survives a power loss.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn atomic_write_replaces_owner_only_and_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        fs::write(&p, b"old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        write_private_atomically(&p, d.path(), b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(mode(&p), 0o600);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn new_write_never_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("device.key");
        write_private_new(&p, d.path(), b"first").unwrap();
        assert_eq!(mode(&p), 0o600);
        let e = write_private_new(&p, d.path(), b"second").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&p).unwrap(), b"first");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn parent_of_a_bare_name_is_the_current_directory() {
        assert_eq!(parent_dir(Path::new("x.json")), PathBuf::from("."));
        assert_eq!(parent_dir(Path::new("a/x.json")), PathBuf::from("a"));
        assert_eq!(parent_dir(Path::new("/")), PathBuf::from("."));
    }

    #[test]
    fn private_dir_is_owner_only() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b");
        create_private_dir_all(&p).unwrap();
        assert_eq!(mode(&p), 0o700);
    }
}
