//! The bookkeeping beside the files: per key, the record last seen or
//! written (version counter, `updatedAt`, writer, tombstone flag) and the
//! SHA-256 of the file's bytes then. It lives in the folder's hidden
//! `.azmx-sync/` directory, one file per device (`index-<deviceId>.json`),
//! so two devices whose folders are also copied by another tool never
//! overwrite each other's counters. A lock file there serialises this
//! store's processes (a `memory put` while `sync --watch` runs).

use std::collections::BTreeMap;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

use azmx_sync_core::merge::Record;
use serde::{Deserialize, Serialize};

use super::{files, names};
use crate::error::{CliError, CliResult};

/// The hidden bookkeeping directory inside the memory folder.
pub const BOOK_DIR: &str = ".azmx-sync";
const FORMAT: u32 = 1;
/// An index is our own file, but still read with a bound.
const MAX_INDEX_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub record: Record,
    /// SHA-256 (hex) of the file's bytes as last read or written; `None`
    /// when there is no file: a tombstone, or a live record the folder
    /// cannot show (a key with no file name, a body that is not one text),
    /// kept and synced from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The index's counter when this entry's record last changed (0 in
    /// indexes from before the counter).
    #[serde(default)]
    pub changed: u64,
    /// The file's stamp when it was last read settled with these bytes:
    /// while the file still has it, a quick look need not read it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<files::Stamp>,
}

impl Entry {
    /// A new entry (its counter is set when [`Locked::set`] stores it).
    pub fn new(record: Record, sha256: Option<String>, stamp: Option<files::Stamp>) -> Self {
        Self {
            record,
            sha256,
            changed: 0,
            stamp,
        }
    }

    /// A live record that has a file: its vanishing is a delete.
    pub fn has_file(&self) -> bool {
        !self.record.deleted && self.sha256.is_some()
    }
}

#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub format: u32,
    pub device_id: String,
    pub entries: BTreeMap<String, Entry>,
    /// Random, made with the index: a change token names it, so a token of
    /// an index that was removed and made again is not trusted.
    #[serde(default)]
    pub epoch: String,
    /// Goes up at every record change (`Locked::set`): the change token.
    #[serde(default)]
    pub seq: u64,
}

/// Held while the index is read, changed and written back.
pub struct Locked {
    _lock: File,
    path: PathBuf,
    pub index: Index,
    pub dirty: bool,
}

/// Creates `dir` (and missing parents) private to the user.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

fn io(what: &str, path: &Path, e: std::io::Error) -> CliError {
    CliError::generic(format!(
        "memory folder: cannot {what} {}: {e}",
        path.display()
    ))
}

/// Locks the folder's bookkeeping for `device_id` and reads its index.
pub fn lock(folder: &Path, device_id: &str) -> CliResult<Locked> {
    let book = folder.join(BOOK_DIR);
    create_private_dir(&book).map_err(|e| io("create", &book, e))?;
    let lock_path = book.join("lock");
    let mut o = OpenOptions::new();
    o.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let lock = o.open(&lock_path).map_err(|e| io("open", &lock_path, e))?;
    lock.lock().map_err(|e| io("lock", &lock_path, e))?;
    let name = names::file_name(device_id)
        .ok_or_else(|| CliError::generic("memory folder: the device id is not a file name"))?;
    let path = book.join(format!("index-{name}.json"));
    let index = match File::open(&path) {
        Ok(f) => read(f, &path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index {
            format: FORMAT,
            device_id: device_id.into(),
            ..Index::default()
        },
        Err(e) => return Err(io("open", &path, e)),
    };
    let mut l = Locked {
        _lock: lock,
        path,
        index,
        dirty: false,
    };
    if l.index.epoch.is_empty() {
        let mut b = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
        l.index.epoch = hex::encode(b);
        l.dirty = true;
    }
    Ok(l)
}

fn read(f: File, path: &Path) -> CliResult<Index> {
    let mut text = String::new();
    f.take(MAX_INDEX_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| io("read", path, e))?;
    let bad = |why: String| {
        CliError::generic(format!(
            "memory folder: {} is unreadable: {why}",
            path.display()
        ))
        .hint("move it away: the folder's files are then taken in again as this device's edits")
    };
    if text.len() as u64 > MAX_INDEX_BYTES {
        return Err(bad("too large".into()));
    }
    let index: Index = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if index.format != FORMAT {
        return Err(bad(format!("format {} is not {FORMAT}", index.format)));
    }
    Ok(index)
}

impl Locked {
    /// Writes the index back (atomically, 0600) if anything changed.
    pub fn save(&mut self) -> CliResult {
        if !self.dirty {
            return Ok(());
        }
        let json = serde_json::to_vec(&self.index)
            .map_err(|e| CliError::generic(format!("memory folder: {e}")))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("index.json");
        files::write_atomic(dir, name, &json).map_err(|e| io("write", &self.path, e))?;
        self.dirty = false;
        Ok(())
    }

    /// A record change: counted, so `changes_since` reports the key.
    pub fn set(&mut self, key: &str, entry: Entry) {
        self.index.seq = self.index.seq.saturating_add(1);
        let entry = Entry {
            changed: self.index.seq,
            ..entry
        };
        self.index.entries.insert(key.into(), entry);
        self.dirty = true;
    }

    /// The file of `key` was read settled and is what the index says: keep
    /// its stamp (not a record change).
    pub fn set_stamp(&mut self, key: &str, stamp: files::Stamp) {
        if let Some(e) = self.index.entries.get_mut(key) {
            if e.stamp != Some(stamp) {
                e.stamp = Some(stamp);
                self.dirty = true;
            }
        }
    }

    pub fn record(&self, key: &str) -> Option<&Record> {
        self.index.entries.get(key).map(|e| &e.record)
    }

    pub fn records(&self) -> Vec<Record> {
        self.index
            .entries
            .values()
            .map(|e| e.record.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_index_round_trips_per_device_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = lock(dir.path(), "dev_a").unwrap();
        let r = Record::new("k", None, 5, Some(3), "dev_a", json!({"fact": "f"}));
        l.set("k", Entry::new(r.clone(), Some("ab".into()), None));
        l.save().unwrap();
        drop(l);
        let l = lock(dir.path(), "dev_a").unwrap();
        assert!(l.record("k") == Some(&r));
        assert!(l.index.entries["k"].has_file());
        drop(l);
        // Another device's index in the same folder is another file.
        let other = lock(dir.path(), "dev_b").unwrap();
        assert!(other.index.entries.is_empty());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let book = dir.path().join(BOOK_DIR);
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&book), 0o700);
            assert_eq!(mode(&book.join("index-dev_a.json")), 0o600);
        }
    }

    #[test]
    fn a_damaged_index_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        drop(lock(dir.path(), "dev_a").unwrap());
        let p = dir.path().join(BOOK_DIR).join("index-dev_a.json");
        std::fs::write(&p, "{not json").unwrap();
        let e = lock(dir.path(), "dev_a").err().unwrap();
        assert!(e.message.contains("unreadable"), "{}", e.message);
    }
}
