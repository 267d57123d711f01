//! What the state file and its journal looked like when this process last
//! read or wrote them, so a cycle whose state directory nobody else has
//! touched since need not parse the O(records) state file again.
//!
//! Every writer replaces `engine-state.json` by renaming a new file over it
//! (a new inode, a new change time) and only appends to or empties the
//! journal, all under the state directory's lock. So the state file's
//! device, inode, size and modification and change times, together with the
//! journal's length, change with every write by any process, this version
//! or an older one. The mark of a read is taken from the handle the bytes
//! were read through, so a file replaced during the read is never taken for
//! the one read. Where the platform gives no inode the mark is never equal:
//! every cycle loads, as before.

use std::fs::Metadata;
use std::path::Path;

/// One file's identity and last write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileId {
    #[cfg(unix)]
    pub fn of(m: &Metadata) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        Some(Self {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }

    #[cfg(not(unix))]
    pub fn of(_: &Metadata) -> Option<Self> {
        None
    }
}

/// The state file (`None`: absent) and the journal's length (0: absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnDisk {
    pub state: Option<FileId>,
    pub journal_len: u64,
}

/// How the two files are now; `None` when that cannot be told (an I/O
/// error, a platform without inodes): the caller loads.
pub fn observe(state: &Path, journal: &Path) -> Option<OnDisk> {
    let state = match std::fs::metadata(state) {
        Ok(m) => Some(FileId::of(&m)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(_) => return None,
    };
    let journal_len = match std::fs::metadata(journal) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(_) => return None,
    };
    Some(OnDisk { state, journal_len })
}
