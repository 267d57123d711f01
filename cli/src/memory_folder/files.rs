//! Reading a memory file only when no one is writing it, and writing one
//! so that no reader (another tool, or this store) ever sees half of it.
//!
//! The half-written rule: a file is read through one handle; it counts only
//! if its size, modification time and inode are the same before and after
//! the read (through the handle and through the path, so a file replaced by
//! a rename meanwhile is caught), the bytes read are exactly its size, and
//! it was last modified at least [`SETTLE`] ago (a tool that writes in
//! several steps is still writing). Otherwise it is `Unsettled` and read
//! again at the next cycle.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// How long a file must have been left alone before it is read.
pub const SETTLE: Duration = Duration::from_secs(2);

/// The largest memory file that syncs (a fact, not a document store).
pub const MAX_FILE_BYTES: u64 = 256 * 1024;

/// What reading a memory file found.
#[derive(Debug, PartialEq, Eq)]
pub enum FileRead {
    /// The whole file, not being written.
    Settled(Vec<u8>),
    /// Being written (or just written): try again at the next cycle. The
    /// bytes as read, which only tell whether it is still what the store
    /// itself wrote.
    Unsettled(Vec<u8>),
    /// Larger than [`MAX_FILE_BYTES`].
    TooLarge,
    /// Not there (removed meanwhile).
    Gone,
    /// A symlink, a directory or another special file: never read.
    NotRegular,
}

/// The parts of a file's metadata that change when it is written. Kept in
/// the index for a file read settled: the same stamp later means the same
/// file, so a quick look (`changes_since`) skips reading and hashing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl Stamp {
    /// A stamp without a modification time (a filesystem that keeps none)
    /// would miss an edit that keeps the size: never taken as "unchanged".
    pub fn trusted(&self) -> bool {
        self.modified.is_some()
    }

    pub fn of(m: &Metadata) -> Self {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(m);
        #[cfg(not(unix))]
        let inode = 0;
        Self {
            len: m.len(),
            modified: m.modified().ok(),
            inode,
        }
    }
}

/// The half-written rule, given what was seen around one read.
pub fn settled(
    before: Stamp,
    after: Stamp,
    at_path: Stamp,
    read_len: usize,
    now: SystemTime,
) -> bool {
    let quiet = match before.modified {
        // Either way round: a file stamped in the future by a skewed clock
        // is as suspect as one stamped just now.
        Some(m) => match now.duration_since(m) {
            Ok(age) => age >= SETTLE,
            Err(ahead) => ahead.duration() >= SETTLE,
        },
        None => true,
    };
    quiet && before == after && before == at_path && before.len == read_len as u64
}

fn open_no_follow(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A file swapped for a symlink after the directory was listed is
        // refused here, not followed out of the folder.
        o.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    o.open(path)
}

/// Reads `path` under the half-written rule.
pub fn read_settled(path: &Path, now: SystemTime) -> io::Result<FileRead> {
    read_stamped(path, now).map(|(read, _)| read)
}

/// The stamp of `path` itself (a symlink's own, never its target's), or
/// `None` if it cannot be had.
pub fn stamp_at(path: &Path) -> Option<Stamp> {
    std::fs::symlink_metadata(path).ok().map(|m| Stamp::of(&m))
}

/// [`read_settled`], with the file's stamp when it read `Settled`.
pub fn read_stamped(path: &Path, now: SystemTime) -> io::Result<(FileRead, Option<Stamp>)> {
    let mut f = match open_no_follow(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((FileRead::Gone, None)),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok((FileRead::NotRegular, None)),
        Err(e) => return Err(e),
    };
    let m1 = f.metadata()?;
    if !m1.is_file() {
        return Ok((FileRead::NotRegular, None));
    }
    if m1.len() > MAX_FILE_BYTES {
        return Ok((FileRead::TooLarge, None));
    }
    let mut buf = Vec::with_capacity(m1.len() as usize);
    (&mut f).take(MAX_FILE_BYTES + 1).read_to_end(&mut buf)?;
    let m2 = f.metadata()?;
    let at_path = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok((FileRead::Unsettled(Vec::new()), None))
        }
        Err(e) => return Err(e),
    };
    let stamp = Stamp::of(&m1);
    if settled(stamp, Stamp::of(&m2), Stamp::of(&at_path), buf.len(), now) {
        Ok((FileRead::Settled(buf), Some(stamp)))
    } else {
        Ok((FileRead::Unsettled(buf), None))
    }
}

/// Writes `bytes` to `dir/name` atomically: a 0600 temporary file in the
/// same directory (a dotfile, so never read as memory), flushed to disk,
/// then renamed over the name, and the directory flushed.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let mut b = tempfile::Builder::new();
    b.prefix(".azmx-tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let tmp = b.tempfile_in(dir)?;
    let mut f = tmp.as_file();
    f.write_all(bytes)?;
    f.sync_all()?;
    tmp.persist(dir.join(name)).map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(())
}

/// Removes `dir/name` (already gone is fine) and flushes the directory.
pub fn remove(dir: &Path, name: &str) -> io::Result<()> {
    match std::fs::remove_file(dir.join(name)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    sync_dir(dir);
    Ok(())
}

/// Makes a rename or removal durable (best effort: not every platform
/// can open a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(len: u64, secs: u64, inode: u64) -> Stamp {
        Stamp {
            len,
            modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)),
            inode,
        }
    }

    #[test]
    fn the_half_written_rule() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let s = stamp(5, 990, 7);
        assert!(settled(s, s, s, 5, now), "quiet for 10 s, unchanged");
        let fresh = stamp(5, 999, 7);
        assert!(!settled(fresh, fresh, fresh, 5, now), "modified 1 s ago");
        let future = stamp(5, 1001, 7);
        assert!(
            !settled(future, future, future, 5, now),
            "stamped 1 s ahead"
        );
        assert!(
            !settled(s, stamp(9, 990, 7), s, 5, now),
            "grew during the read"
        );
        assert!(
            !settled(s, s, stamp(5, 990, 8), 5, now),
            "replaced by a rename"
        );
        assert!(!settled(s, s, s, 3, now), "read fewer bytes than its size");
    }

    #[test]
    fn a_file_just_written_is_unsettled_then_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, "hello").unwrap();
        let now = SystemTime::now();
        assert_eq!(
            read_settled(&p, now).unwrap(),
            FileRead::Unsettled(b"hello".to_vec())
        );
        let later = now + Duration::from_secs(3);
        assert_eq!(
            read_settled(&p, later).unwrap(),
            FileRead::Settled(b"hello".to_vec())
        );
        assert_eq!(
            read_settled(&dir.path().join("none"), later).unwrap(),
            FileRead::Gone
        );
    }

    #[test]
    fn a_writer_appending_during_reads_is_never_read_half_way() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        let mut f = File::create(&p).unwrap();
        // Read as if far in the future, so only the re-stat can catch the writer.
        let later = SystemTime::now() + Duration::from_secs(3600);
        for i in 0..200 {
            f.write_all(format!("line {i}\n").as_bytes()).unwrap();
            match read_settled(&p, later).unwrap() {
                FileRead::Settled(b) => {
                    assert!(
                        b.ends_with(format!("line {i}\n").as_bytes()),
                        "a partial read"
                    );
                }
                FileRead::Unsettled(_) => {}
                other => panic!("{other:?}"),
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_and_oversized_files_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "secret").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let later = SystemTime::now() + Duration::from_secs(10);
        assert_eq!(read_settled(&link, later).unwrap(), FileRead::NotRegular);
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert_eq!(read_settled(&big, later).unwrap(), FileRead::TooLarge);
    }

    #[cfg(unix)]
    #[test]
    fn atomic_writes_are_private_and_leave_no_temporary_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "k", b"one").unwrap();
        write_atomic(dir.path(), "k", b"two").unwrap();
        assert_eq!(std::fs::read(dir.path().join("k")).unwrap(), b"two");
        let mode = std::fs::metadata(dir.path().join("k"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        remove(dir.path(), "k").unwrap();
        remove(dir.path(), "k").unwrap();
    }
}
