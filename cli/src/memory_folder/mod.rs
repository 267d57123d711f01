//! Global memory as a folder (`~/.azmx/memory-global/` by default): one
//! file per memory key, the file's text being the fact. Any editor or tool
//! may write there; this [`StoreAdapter`] takes the edits in at each
//! snapshot and writes what other devices changed.
//!
//! - A file whose bytes differ from the index's hash is a local edit:
//!   version + 1, `updatedAt` now, written by this device.
//! - A file the index knew that is gone is a delete: a tombstone, one
//!   version up, that propagates. A file another device never had is
//!   never deleted for that: only tombstones delete.
//! - A file being written is not read (see `files.rs`: the half-written
//!   rule); the index's last record stands for it until the next cycle.
//! - Incoming records are written atomically (temporary file + fsync +
//!   rename) and only if they still win, by memory's contract (higher
//!   version), over the file as it is at that moment.
//! - Files that cannot be facts (not UTF-8, over 256 KiB, a symlink, a
//!   subdirectory, a hidden or temporary file) are skipped with a warning
//!   on stderr, once per process; nothing crashes.
//!
//! `<workspace>/.azmx/memory/` is never read: the store reads only its one
//! folder, never below it, and refuses a folder that is a workspace's.

mod files;
mod index;
pub mod location;
mod names;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use azmx_sync_core::engine::{ChangeSet, HostError, StoreAdapter, MAX_CHANGED_KEYS};
use azmx_sync_core::merge::{Change, Record, RecordKey, StoreSpec};
use azmx_sync_core::sha256_hex;
use serde_json::json;

use crate::error::{CliError, CliResult};
use crate::store::{next_time, next_version, LocalWrite};
use index::{Entry, Locked};

pub use files::{MAX_FILE_BYTES, SETTLE};

/// The memory store of one device: its folder and, once registered, its id.
#[derive(Clone)]
pub struct MemoryFolder {
    dir: PathBuf,
    pub spec: StoreSpec,
    device_id: Arc<OnceLock<String>>,
}

/// What one file was found to be.
enum Seen {
    Same,
    Changed,
    /// Being written: the index's record stands until the next cycle.
    Busy,
    Gone,
    Skipped,
}

/// A key's record right now.
enum Current {
    Now(Option<Record>),
    /// Its file is being written: compared as the edit it will become
    /// (version + 1, now), so an older incoming record does not overwrite it.
    Busy(Record),
}

/// Warns once per process about a file that does not sync (the name is a
/// key, never the content).
fn warn(name: &str, why: &str) {
    static WARNED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut w = WARNED.lock().unwrap_or_else(|p| p.into_inner());
    if w.get_or_insert_with(HashSet::new)
        .insert(format!("{name}\0{why}"))
    {
        eprintln!("warning: memory file `{name}` does not sync: {why}");
    }
}

/// The text of a record the folder can show as a file: a body that is
/// exactly `{"fact": "<text>"}`.
fn fact_text(r: &Record) -> Option<String> {
    let v = r.body.as_ref()?.to_value();
    let o = v.as_object()?;
    (o.len() == 1).then(|| o.get("fact")?.as_str().map(String::from))?
}

impl MemoryFolder {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            spec: StoreSpec::memory(),
            device_id: Arc::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The device whose index and edits these are (known once registered).
    pub fn set_device_id(&self, id: &str) {
        let _ = self.device_id.set(id.to_string());
    }

    fn device(&self) -> CliResult<&str> {
        self.device_id
            .get()
            .map(String::as_str)
            .ok_or_else(CliError::not_initialised)
    }

    fn locked(&self) -> CliResult<Locked> {
        let dev = self.device()?;
        index::create_private_dir(&self.dir).map_err(|e| {
            CliError::generic(format!(
                "cannot create the memory folder {}: {e}",
                self.dir.display()
            ))
        })?;
        index::lock(&self.dir, dev)
    }

    /// Takes in the edit (or removal) of one file. `quick`: a file whose
    /// stamp (size, modification time, inode) is the one kept when it was
    /// last read settled is taken as unchanged without reading it; the
    /// engine's full reads (`snapshot`) hash every file whatever its stamp.
    fn see(
        &self,
        l: &mut Locked,
        key: &str,
        name: &str,
        now: SystemTime,
        quick: bool,
    ) -> CliResult<Seen> {
        let path = self.dir.join(name);
        if quick {
            let kept = l.index.entries.get(key).and_then(|e| e.stamp);
            if kept.is_some_and(|k| k.trusted()) && kept == files::stamp_at(&path) {
                return Ok(Seen::Same);
            }
        }
        let (read, stamp) = files::read_stamped(&path, now)
            .map_err(|e| CliError::generic(format!("memory folder: cannot read `{name}`: {e}")))?;
        let entry_sha = l.index.entries.get(key).and_then(|e| e.sha256.clone());
        let bytes = match read {
            files::FileRead::Settled(b) => b,
            // Just written, by this store (apply, put) or a tool rewriting
            // the same text: nothing to take in.
            files::FileRead::Unsettled(b) if entry_sha == Some(sha256_hex(&b)) => {
                return Ok(Seen::Same)
            }
            files::FileRead::Unsettled(_) => return Ok(Seen::Busy),
            files::FileRead::Gone => return Ok(Seen::Gone),
            files::FileRead::NotRegular => return Ok(Seen::Skipped),
            files::FileRead::TooLarge => {
                warn(name, &format!("larger than {} KiB", MAX_FILE_BYTES / 1024));
                return Ok(Seen::Skipped);
            }
        };
        let sha = sha256_hex(&bytes);
        if entry_sha.as_ref() == Some(&sha) {
            if let Some(stamp) = stamp {
                l.set_stamp(key, stamp);
            }
            return Ok(Seen::Same);
        }
        let entry = l.index.entries.get(key);
        let Ok(text) = String::from_utf8(bytes) else {
            warn(name, "not UTF-8 text");
            return Ok(Seen::Skipped);
        };
        let prev = entry.map(|e| &e.record);
        let rec = Record::new(
            key,
            None,
            next_time(prev),
            Some(next_version(prev)),
            self.device()?,
            json!({ "fact": text }),
        );
        if let Err(reason) = self.spec.validate_incoming(&rec) {
            warn(name, &reason.to_string());
            return Ok(Seen::Skipped);
        }
        l.set(key, Entry::new(rec, Some(sha), stamp));
        Ok(Seen::Changed)
    }

    /// A file the index had live is gone: a tombstone.
    fn vanished(&self, l: &mut Locked, key: &str) -> CliResult {
        let Some(prev) = l.index.entries.get(key).filter(|e| e.has_file()) else {
            return Ok(());
        };
        let prev = Some(&prev.record);
        let t = Record::tombstone(
            key,
            None,
            next_time(prev),
            Some(next_version(prev)),
            self.device()?,
        );
        l.set(key, Entry::new(t, None, None));
        Ok(())
    }

    /// Takes in every edit, addition and removal made in the folder
    /// (`quick`: see [`see`](Self::see)).
    fn see_all(&self, l: &mut Locked, now: SystemTime, quick: bool) -> CliResult {
        let rd = std::fs::read_dir(&self.dir).map_err(|e| {
            CliError::generic(format!(
                "cannot list the memory folder {}: {e}",
                self.dir.display()
            ))
        })?;
        let mut present = HashSet::new();
        for entry in rd.flatten() {
            let Some(name) = entry.file_name().to_str().map(String::from) else {
                warn(
                    &entry.file_name().to_string_lossy(),
                    "the name is not UTF-8",
                );
                continue;
            };
            let Some(key) = names::key_of(&name) else {
                if !names::is_ignored(&name) {
                    warn(&name, "the name is not one this store writes (a lone `%`?)");
                }
                continue;
            };
            // Subdirectories (a workspace's `.azmx/memory/` among them) and
            // symlinks are never followed.
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            match self.see(l, &key, &name, now, quick)? {
                Seen::Gone => {}
                _ => {
                    present.insert(key);
                }
            }
        }
        let gone: Vec<String> = l
            .index
            .entries
            .iter()
            .filter(|(k, e)| e.has_file() && !present.contains(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            self.vanished(l, &k)?;
        }
        Ok(())
    }

    /// Every record, tombstones included, after taking in the folder's edits.
    pub fn all(&self) -> CliResult<Vec<Record>> {
        let mut l = self.locked()?;
        self.see_all(&mut l, SystemTime::now(), false)?;
        l.save()?;
        Ok(l.records())
    }

    /// The keys whose record changed since `token` (the index's counter
    /// then), after a quick look at the folder: files are listed and
    /// stat'ed, and only those whose stamp moved are read and hashed.
    fn changes_since_token(&self, token: Option<&[u8]>) -> CliResult<ChangeSet> {
        let mut l = self.locked()?;
        self.see_all(&mut l, SystemTime::now(), true)?;
        l.save()?;
        let (epoch, seq) = (&l.index.epoch, l.index.seq);
        let from = token
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| t.strip_prefix("v1:"))
            .and_then(|t| t.split_once(':'))
            .filter(|(e, _)| e == epoch)
            .and_then(|(_, s)| s.parse::<u64>().ok())
            // Ahead of the counter: an index restored from a backup.
            .filter(|s| *s <= seq);
        let keys = from.and_then(|from| {
            let keys: Vec<RecordKey> = l
                .index
                .entries
                .iter()
                .filter(|(_, e)| e.changed > from)
                .map(|(k, _)| RecordKey::new(None, k.clone()))
                .take(MAX_CHANGED_KEYS + 1)
                .collect();
            (keys.len() <= MAX_CHANGED_KEYS).then_some(keys)
        });
        Ok(ChangeSet {
            token: format!("v1:{epoch}:{seq}").into_bytes(),
            keys,
        })
    }

    /// The index's records of `keys` (taken in by the `changes_since` just before).
    fn records_of(&self, keys: &[RecordKey]) -> CliResult<Vec<Record>> {
        let l = self.locked()?;
        Ok(keys
            .iter()
            .filter(|k| k.scope.is_none())
            .filter_map(|k| l.record(&k.id).cloned())
            .collect())
    }

    pub fn live(&self) -> CliResult<Vec<Record>> {
        Ok(self.all()?.into_iter().filter(|r| !r.deleted).collect())
    }

    pub fn get(&self, key: &str) -> CliResult<Option<Record>> {
        Ok(self.all()?.into_iter().find(|r| r.id == key))
    }

    /// The record of `key` as the folder holds it right now (a pending
    /// edit taken in); for a file being written, the edit it will become.
    fn current(&self, l: &mut Locked, key: &str, now: SystemTime) -> CliResult<Current> {
        if let Some(name) = names::file_name(key) {
            match self.see(l, key, &name, now, false)? {
                Seen::Gone => self.vanished(l, key)?,
                Seen::Busy => {
                    let prev = l.record(key);
                    return Ok(Current::Busy(Record::tombstone(
                        key,
                        None,
                        next_time(prev),
                        Some(next_version(prev)),
                        self.device()?,
                    )));
                }
                Seen::Same | Seen::Changed | Seen::Skipped => {}
            }
        }
        Ok(Current::Now(l.record(key).cloned()))
    }

    /// Puts `r` in the folder (file written or removed) and the index.
    fn store(&self, l: &mut Locked, r: &Record) -> CliResult {
        let key = r.id.as_str();
        let name = names::file_name(key);
        let fail = |e: std::io::Error| {
            CliError::generic(format!("memory folder: cannot write `{key}`: {e}"))
        };
        let sha = match (&name, fact_text(r)) {
            (Some(name), Some(text)) if !r.deleted => {
                files::write_atomic(&self.dir, name, text.as_bytes()).map_err(fail)?;
                Some(sha256_hex(text.as_bytes()))
            }
            (Some(name), _) => {
                files::remove(&self.dir, name).map_err(fail)?;
                None
            }
            (None, _) => None,
        };
        // No stamp: a file just written is read (and stamped) once settled.
        l.set(key, Entry::new(r.clone(), sha, None));
        Ok(())
    }

    fn apply_changes(&self, changes: Vec<Change>) -> CliResult {
        let mut l = self.locked()?;
        let now = SystemTime::now();
        for c in changes {
            let r = c.record();
            // Files first, then the index: a crash in between leaves a file
            // that reads as an edit of the same content, never an old
            // content with a new version.
            if let Current::Now(Some(cur)) | Current::Busy(cur) =
                self.current(&mut l, &r.id, now)?
            {
                if self.spec.contract.compare(r, &cur) != std::cmp::Ordering::Greater {
                    continue;
                }
            }
            self.store(&mut l, r)?;
        }
        l.save()
    }

    /// Moves the records of the CLI's former memory table into the folder
    /// (each only where it still wins), once: the caller empties the table.
    pub fn migrate(&self, records: Vec<Record>) -> CliResult {
        if records.is_empty() {
            return Ok(());
        }
        self.apply_changes(records.into_iter().map(Change::Insert).collect())
    }

    /// The facts in a folder with no device yet (`memory get/list` before
    /// `init`): read, never written.
    pub fn peek(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let later = SystemTime::now() + SETTLE;
        for e in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let Some(key) = e.file_name().to_str().and_then(names::key_of) else {
                continue;
            };
            if let Ok(files::FileRead::Settled(b)) = files::read_settled(&e.path(), later) {
                if let Ok(text) = String::from_utf8(b) {
                    out.push((key, text));
                }
            }
        }
        out.sort();
        out
    }

    /// `true` if `key` can be a file in the folder.
    pub fn has_file_name(key: &str) -> bool {
        names::file_name(key).is_some()
    }
}

impl LocalWrite for MemoryFolder {
    fn spec(&self) -> &StoreSpec {
        &self.spec
    }

    fn write(
        &self,
        key: &RecordKey,
        make: impl FnOnce(Option<&Record>) -> CliResult<Record>,
    ) -> CliResult<Record> {
        if !Self::has_file_name(&key.id) {
            return Err(CliError::usage(format!(
                "`{}` cannot be a file name in the memory folder (over {} bytes once \
                 escaped, or named like a temporary file)",
                key.id,
                names::MAX_NAME_BYTES
            )));
        }
        let mut l = self.locked()?;
        let now = SystemTime::now();
        let cur = self.current(&mut l, &key.id, now)?;
        let cur = match cur {
            Current::Now(c) => c,
            Current::Busy(_) => {
                return Err(CliError::generic(format!(
                    "the memory file `{}` is being written (changed in the last {} s)",
                    key.id,
                    SETTLE.as_secs()
                ))
                .hint("try again in a moment"))
            }
        };
        let rec = make(cur.as_ref())?;
        self.spec
            .validate_incoming(&rec)
            .map_err(|reason| CliError::usage(format!("invalid memory record: {reason}")))?;
        self.store(&mut l, &rec)?;
        l.save()?;
        Ok(rec)
    }
}

impl StoreAdapter for MemoryFolder {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        self.all().map_err(|e| HostError::new(e.message))
    }

    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
        self.apply_changes(changes)
            .map_err(|e| HostError::new(e.message))
    }

    fn changes_since(&self, token: Option<&[u8]>) -> Result<Option<ChangeSet>, HostError> {
        self.changes_since_token(token)
            .map(Some)
            .map_err(|e| HostError::new(e.message))
    }

    fn snapshot_keys(&self, keys: &[RecordKey]) -> Result<Vec<Record>, HostError> {
        self.records_of(keys).map_err(|e| HostError::new(e.message))
    }
}

#[cfg(test)]
mod changes_tests;
#[cfg(test)]
mod tests;
