//! The engine's own persisted state, in the host-given state directory.
//!
//! `engine-state.json` (written atomically, 0600) holds ids, seq, cursor,
//! clock offset, per-record hashes of what the relay already has, engine
//! tombstones, quarantine, and the outbox metadata; `outbox.blob` holds the
//! sealed bytes of the pending push so a retry sends the same bytes.
//! `parked/<sha256>.blob` (0600) holds the sealed bytes, as pulled, of a
//! bundle that carried records of a store this engine has not registered
//! yet; it is merged once the store is registered (see [`ParkedBundle`]).
//! The receipt, the key and record plaintext are never written.
//!
//! `engine-state.json` is O(records) (one hash per record, engine
//! tombstones), so it is not rewritten per pull page. Each page appends one
//! line to `engine-state.journal` (0600, fsynced; O(page)), and so does each
//! part a push seals and each it stores (`journal_line.rs`): the new cursor
//! together with the `known` updates, new tombstones and quarantine/parked
//! changes of the records it passed, so the cursor never becomes durable
//! before them. Loading replays the journal's complete lines over the state
//! file, stopping at the first line that does not parse (a torn append: its
//! page is pulled again). A full save (a journal that outgrew the state file,
//! [`StateDir::journal_outgrown`], or was left torn; a revocation; a new
//! clock offset) replaces the state file first, with a new
//! random *generation*, and then empties the journal. Every journal line
//! carries the generation of the state file it extends, and loading replays
//! only the lines of the state file's generation: lines a crash (or a failed
//! truncate) left behind a newer state file are skipped, and a failed replace
//! (a full disk, a directory refusing new files) leaves the journal whole
//! over the older state file, so nothing journalled is lost.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};

use super::disk_mark::{observe, FileId, OnDisk};
use super::error::SyncError;
use super::integrity_check::{IntegrityState, PrevRef};
pub use super::journal_line::{CycleDelta, PageDelta, PushDelta};
use crate::fsutil::{
    create_private_dir_all, private_options, sync_dir, write_private_atomically,
    write_private_atomically_with, WRITE_BUFFER,
};
use crate::merge::{Record, RecordKey};

pub const STATE_FILE: &str = "engine-state.json";
pub const OUTBOX_FILE: &str = "outbox.blob";
pub const LOCK_FILE: &str = "engine.lock";
pub const KEY_FILE: &str = "device.key";
pub const ACTIVITY_FILE: &str = "activity.jsonl";
pub const KEYCHECK_FILE: &str = "keycheck.blob";
pub const PARKED_DIR: &str = "parked";
pub const JOURNAL_FILE: &str = "engine-state.journal";

/// A journal past this size is folded into the state file.
pub const JOURNAL_COMPACT_BYTES: u64 = 1 << 20;
/// The quarantine keeps at most this many entries; past it the oldest
/// given-up entries go first, then the oldest others (each with a
/// `quarantineEvicted` event).
pub const MAX_QUARANTINE_ENTRIES: usize = 256;
/// At most this many given-up entries are kept (for status screens); the
/// oldest are evicted.
pub const MAX_GAVE_UP_ENTRIES: usize = 64;

/// At most this many bundles are kept for stores not registered yet...
pub const MAX_PARKED_BUNDLES: usize = 256;
/// ...holding at most this many sealed bytes. A pull page that would go past
/// either bound is not taken: the cycle fails with a `config` error naming
/// the missing stores and the cursor stays before that page, so nothing is
/// lost and the pull resumes once the host registers those stores. A peer's
/// checkpoint replaces its older parked bundles, so one peer holds at most
/// about `checkpoint_every` of them.
pub const MAX_PARKED_BYTES: u64 = 64 << 20;

/// A pulled bundle that carried records of stores this engine had not
/// registered. Its sealed bytes are in `parked/<sha256>.blob`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ParkedBundle {
    pub device_id: String,
    pub seq: u64,
    pub sha256: String,
    pub checkpoint: bool,
    pub bytes: u64,
    /// Every store the bundle carries records of.
    pub stores: Vec<String>,
    /// The stores of `stores` not merged yet because they are not registered.
    pub missing: Vec<String>,
    /// The relay's `createdAt` of the blob, which bounds its records when
    /// they are merged (0 in states from before the field).
    #[serde(default)]
    pub created_at: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct QuarantineEntry {
    pub device_id: String,
    pub seq: u64,
    pub sha256: String,
    pub reason: String,
    pub attempts: u32,
    pub gave_up: bool,
    /// The relay's `createdAt` of the blob, which bounds its records when a
    /// retry opens it (0 in states from before the field).
    #[serde(default)]
    pub created_at: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PendingPush {
    pub seq: u64,
    pub sha256: String,
    pub checkpoint: bool,
    pub records: u64,
    pub created_at_ms: i64,
    /// Hashes to record as "the relay has this" once the push is acknowledged.
    pub hashes: BTreeMap<String, BTreeMap<String, String>>,
    /// Change tokens to keep once the push is acknowledged (taken before
    /// the reads this bundle was built from).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub changes: BTreeMap<String, StoreChanges>,
    /// For a push of a checkpoint: where the checkpoint stands once this
    /// push is acknowledged. `None` on a delta (and on a checkpoint pushed
    /// by a version from before parts, which was whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<CheckpointRun>,
}

impl PendingPush {
    /// When this push completes a checkpoint: its first seq, and whether
    /// every record made it in (only then may older blobs be pruned).
    pub fn completes_checkpoint(&self) -> Option<(u64, bool)> {
        match &self.run {
            Some(r) if r.last => Some((r.first, r.skipped == 0)),
            Some(_) => None,
            None if self.checkpoint => Some((self.seq, true)),
            None => None,
        }
    }
}

/// A checkpoint being written as several pushes (PROTOCOL §6,
/// "Checkpoints in parts"). Its parts go in key order, so a checkpoint cut
/// short (a crash, a dead relay) goes on after the last key the relay has,
/// instead of starting again from its first part.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointRun {
    /// The seq of its first part (the one with `checkpoint: true`).
    pub first: u64,
    /// Parts stored so far.
    pub parts: u32,
    /// The greatest (store, record key) stored so far.
    pub after: (String, String),
    /// The checkpoint is complete with this push.
    pub last: bool,
    /// Nonzero once a record was left out of the run because alone it
    /// exceeds the push limit (then its prune waits for a later checkpoint):
    /// the most left out by one plan, as a record left out is planned, and
    /// left out, again in every cycle the run goes on.
    pub skipped: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CycleSummary {
    pub at_ms: i64,
    pub ok: bool,
    pub error_code: Option<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct EngineState {
    pub format: u32,
    pub relay_url: Option<String>,
    pub license_id: Option<String>,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub next_seq: u64,
    pub pushes_since_checkpoint: u32,
    pub cursor: String,
    pub clock_offset_secs: i64,
    /// store → record key → short content hash of the version the relay has.
    pub known: BTreeMap<String, BTreeMap<String, String>>,
    /// store → tombstones the engine has seen (so a winning delete the host
    /// never held cannot be undone by an older write arriving later).
    pub tombstones: BTreeMap<String, Vec<Record>>,
    pub quarantine: Vec<QuarantineEntry>,
    /// Bundles kept for stores not registered yet (oldest first).
    pub parked: Vec<ParkedBundle>,
    pub outbox: Option<PendingPush>,
    pub last_cycle: Option<CycleSummary>,
    pub last_success_ms: Option<i64>,
    pub revoked: bool,
    /// A new random value at every save; the journal's lines name the one
    /// they extend. Written only by [`StateDir::save`], with the new value.
    #[serde(skip_serializing)]
    pub generation: u64,
    /// This device's last acknowledged push: the next delta's `prev`.
    /// `None` (a new device, or a state from before the field) makes the
    /// next bundle a checkpoint, so every chain starts at one.
    pub last_pushed: Option<PrevRef>,
    /// What the relay listed of each peer, for the relay-integrity checks.
    pub integrity: IntegrityState,
    /// The license's authority public key (base64url), kept once a
    /// `register` found the receipt's key equal to it (PROTOCOL §11.5 step
    /// 3). `None` in a state from before the field or of a license without
    /// one. A relay that later answers another key or none is a
    /// relay-integrity problem (`authorityChanged`), and the engine keeps
    /// signing with the authority instead of sending v1 requests.
    pub authority_key: Option<String>,
    /// store → the host's change token up to which every change is on the
    /// relay or in `known` (`StoreAdapter::changes_since`). Kept here, next
    /// to the `known` it is relative to, so anything that resets `known`
    /// resets it too; a store whose host cannot tell has no entry.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub changes: BTreeMap<String, StoreChanges>,
    /// A checkpoint whose first parts the relay holds and whose rest is
    /// still to push (`last` is false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_run: Option<CheckpointRun>,
    /// The relay's push limit, as its `413 too_large` said: learnt only
    /// within `PUSH_BYTES_RANGE` and below the blob it refused; pushes use
    /// the lower of it and `EngineConfig::max_push_bytes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_max_push_bytes: Option<u64>,
}

/// Where a store's change token stood, and how many cycles have relied on
/// it since the store was last read whole.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StoreChanges {
    /// The host's opaque token, hex.
    pub token: String,
    pub partial_reads: u32,
}

impl Default for EngineState {
    fn default() -> Self {
        Self {
            format: 1,
            relay_url: None,
            license_id: None,
            device_id: None,
            device_name: None,
            next_seq: 1,
            pushes_since_checkpoint: 0,
            cursor: String::new(),
            clock_offset_secs: 0,
            known: BTreeMap::new(),
            tombstones: BTreeMap::new(),
            quarantine: Vec::new(),
            parked: Vec::new(),
            outbox: None,
            last_cycle: None,
            last_success_ms: None,
            revoked: false,
            generation: 0,
            last_pushed: None,
            integrity: IntegrityState::default(),
            authority_key: None,
            changes: BTreeMap::new(),
            checkpoint_run: None,
            relay_max_push_bytes: None,
        }
    }
}

/// Key of a record in the `known` map.
pub fn key_string(key: &RecordKey) -> String {
    match &key.scope {
        Some(s) => format!("{s}\u{1f}{}", key.id),
        None => key.id.clone(),
    }
}

/// Short content hash (128 bits is plenty to detect change).
pub fn short_hash(rec: &Record) -> String {
    hex::encode(short_hash_bytes(rec))
}

/// [`short_hash`] as bytes, half the size of its hex and no allocation.
pub fn short_hash_bytes(rec: &Record) -> [u8; 16] {
    let mut h = [0u8; 16];
    h.copy_from_slice(&rec.content_hash()[..16]);
    h
}

pub struct StateDir {
    pub dir: PathBuf,
    /// The generation of the state file on disk, as last loaded or saved:
    /// journal lines are stamped with it.
    generation: std::sync::atomic::AtomicU64,
    /// The state file and journal as this process last read or wrote them
    /// (`None` after a failed write: the next cycle loads).
    seen: std::sync::Mutex<Option<OnDisk>>,
    /// The last load stopped at a journal line that did not parse (a torn
    /// append), or an append failed: nothing may be appended after it
    /// before a full save.
    torn: std::sync::atomic::AtomicBool,
}

impl StateDir {
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, SyncError> {
        let dir = dir.as_ref().to_path_buf();
        create_private_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        Ok(Self {
            dir,
            generation: Default::default(),
            seen: Default::default(),
            torn: Default::default(),
        })
    }

    fn set_seen(&self, seen: Option<OnDisk>) {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = seen;
    }

    fn seen(&self) -> Option<OnDisk> {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads into `st` unless the state file and journal are exactly as
    /// this process last read or wrote them (`disk_mark.rs`), in which case
    /// `st` already is what they hold: an idle cycle does not parse the
    /// O(records) state file. Every change to the state is saved or
    /// journalled where it is made, so `st` never holds more than the disk.
    pub fn reload(&self, st: &mut EngineState) -> Result<(), SyncError> {
        let now = observe(&self.path(STATE_FILE), &self.path(JOURNAL_FILE));
        if now.is_some() && now == self.seen() {
            return Ok(());
        }
        *st = self.load()?;
        Ok(())
    }

    /// Whether the last load met a torn journal line, or an append failed
    /// since.
    pub fn journal_torn(&self) -> bool {
        self.torn.load(Ordering::SeqCst)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The state file with the journal's pages replayed over it.
    pub fn load(&self) -> Result<EngineState, SyncError> {
        self.set_seen(None);
        let p = self.path(STATE_FILE);
        let (bytes, state_id) = read_marked(&p)?;
        let mut st: EngineState = match bytes {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|_| SyncError::State {
                path: p.display().to_string(),
                message: "engine state file is corrupt".into(),
            })?,
            None => EngineState::default(),
        };
        let j = self.path(JOURNAL_FILE);
        let journal = read_marked(&j)?.0.unwrap_or_default();
        // Only newline-terminated lines were fully appended; a prefix of the
        // pages is always a consistent state (later pages re-pull).
        let mut rest = &journal[..];
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let Ok(delta) = serde_json::from_slice::<PageDelta>(&rest[..end]) else {
                break;
            };
            // A line of an older generation is already in the state file.
            if delta.generation == st.generation {
                delta.apply_to(&mut st);
            }
            rest = &rest[end + 1..];
        }
        self.generation.store(st.generation, Ordering::SeqCst);
        self.torn.store(!rest.is_empty(), Ordering::SeqCst);
        // Unmarked (no inode on this platform): every cycle loads.
        let state = match state_id {
            Some(None) => None,
            absent_or_marked => Some(absent_or_marked.flatten()),
        };
        self.set_seen(state.map(|state| OnDisk {
            state,
            journal_len: journal.len() as u64,
        }));
        Ok(st)
    }

    /// Whether the journal holds anything (a full save would fold it in).
    pub fn journal_len(&self) -> u64 {
        std::fs::metadata(self.path(JOURNAL_FILE)).map_or(0, |m| m.len())
    }

    /// Whether a journal of `len` bytes is due to be folded into the state
    /// file: past [`JOURNAL_COMPACT_BYTES`] and past the state file's own
    /// size, so folding (which writes the whole state) costs O(1) per
    /// journalled byte however large the state.
    pub fn journal_outgrown(&self, len: u64) -> bool {
        let state = std::fs::metadata(self.path(STATE_FILE)).map_or(0, |m| m.len());
        len > JOURNAL_COMPACT_BYTES.max(state)
    }

    /// Appends one page's changes, durably. Returns the journal's size, so
    /// the caller can fold it into the state file once
    /// [`journal_outgrown`](Self::journal_outgrown) says so.
    pub fn append_page(&self, delta: &mut PageDelta) -> Result<u64, SyncError> {
        self.append(delta, true)
    }

    /// Appends the end of a cycle ([`CycleDelta`]) without waiting for the
    /// disk: losing it costs a stale "last cycle" and older change tokens
    /// (which report more, never less), and the next durable append or save
    /// flushes it with its own. A line torn by a power cut is folded away
    /// by the next cycle (`journal_torn`).
    pub fn append_cycle_end(&self, delta: &mut PageDelta) -> Result<u64, SyncError> {
        self.append(delta, false)
    }

    fn append(&self, delta: &mut PageDelta, durable: bool) -> Result<u64, SyncError> {
        let p = self.path(JOURNAL_FILE);
        delta.generation = self.generation.load(Ordering::SeqCst);
        let seen = self.seen();
        self.set_seen(None);
        let existed = p.exists();
        let mut opts = private_options();
        opts.append(true).create(true);
        let result = (|| {
            use std::io::Write;
            let mut f = opts.open(&p)?;
            // Serialised straight to the file: a page that marks a million
            // records known is a line of ~100 MB, not to be held in memory
            // beside the delta. A line under the buffer is one `write`.
            let mut w = std::io::BufWriter::with_capacity(WRITE_BUFFER, &mut f);
            serde_json::to_writer(&mut w, &*delta)?;
            w.write_all(b"\n")?;
            w.into_inner().map_err(|e| e.into_error())?;
            if durable {
                f.sync_data()?;
                if !existed {
                    sync_dir(&self.dir)?;
                }
            }
            f.metadata().map(|m| m.len())
        })();
        let len = result.map_err(|e| {
            // Part of the line may be on disk: what is appended next would
            // be glued to it and lost with it, so fold before appending.
            self.torn.store(true, Ordering::SeqCst);
            io_err(&p, e)
        })?;
        // Under the directory's lock: the journal is ours and now this long.
        self.set_seen(seen.map(|s| OnDisk {
            journal_len: len,
            ..s
        }));
        Ok(len)
    }

    /// Replaces the state file with `state` (which must include every page
    /// journalled so far) under the next generation, then empties the
    /// journal. The state file goes first: if replacing it fails, the
    /// journal still holds every page over the older file (emptying it first
    /// lost them); if emptying fails after, its lines are of an older
    /// generation and are skipped on load.
    pub fn save(&self, state: &EngineState) -> Result<(), SyncError> {
        self.set_seen(None);
        let p = self.path(STATE_FILE);
        // Random, not a counter: only equality matters, and another process
        // (or an engine that has not loaded since) cannot know the last one.
        let next = loop {
            let g = rand_core::RngCore::next_u64(&mut rand_core::OsRng);
            if g != self.generation.load(Ordering::SeqCst) && g != state.generation {
                break g;
            }
        };
        // Serialised straight to the file with the new generation: a JSON
        // tree, or the bytes, of a large state would hold it in memory twice.
        #[derive(Serialize)]
        struct Stamped<'a> {
            #[serde(flatten)]
            state: &'a EngineState,
            generation: u64,
        }
        let stamped = Stamped {
            state,
            generation: next,
        };
        write_private_atomically_with(&p, &self.dir, |w| {
            serde_json::to_writer(w, &stamped).map_err(std::io::Error::from)
        })
        .map_err(|e| io_err(&p, e))?;
        self.generation.store(next, Ordering::SeqCst);
        let j = self.path(JOURNAL_FILE);
        if self.journal_len() > 0 {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&j)
                .map_err(|e| io_err(&j, e))?;
            f.set_len(0).map_err(|e| io_err(&j, e))?;
            f.sync_all().map_err(|e| io_err(&j, e))?;
        }
        self.torn.store(false, Ordering::SeqCst);
        // Under the directory's lock: what is there now is what was written.
        self.set_seen(observe(&p, &j));
        Ok(())
    }

    pub fn write_outbox_blob(&self, blob: &[u8]) -> Result<(), SyncError> {
        let p = self.path(OUTBOX_FILE);
        write_private_atomically(&p, &self.dir, blob).map_err(|e| io_err(&p, e))
    }

    pub fn read_outbox_blob(&self) -> Option<Vec<u8>> {
        std::fs::read(self.path(OUTBOX_FILE)).ok()
    }

    pub fn clear_outbox_blob(&self) {
        let _ = std::fs::remove_file(self.path(OUTBOX_FILE));
    }

    fn parked_path(&self, sha256: &str) -> Result<PathBuf, SyncError> {
        // The name is a hash we computed, never a relay-supplied string.
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SyncError::State {
                path: self.path(PARKED_DIR).display().to_string(),
                message: "parked bundle name is not a SHA-256".into(),
            });
        }
        Ok(self.path(PARKED_DIR).join(format!("{sha256}.blob")))
    }

    /// Keeps a sealed bundle (ciphertext, as pulled) until its stores are
    /// registered. Durable on return.
    pub fn write_parked(&self, sha256: &str, blob: &[u8]) -> Result<(), SyncError> {
        let dir = self.path(PARKED_DIR);
        if !dir.exists() {
            create_private_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
            sync_dir(&self.dir).map_err(|e| io_err(&self.dir, e))?;
        }
        let p = self.parked_path(sha256)?;
        write_private_atomically(&p, &dir, blob).map_err(|e| io_err(&p, e))
    }

    pub fn read_parked(&self, sha256: &str) -> Option<Vec<u8>> {
        std::fs::read(self.parked_path(sha256).ok()?).ok()
    }

    /// Removes every parked file the state no longer lists (also leftovers
    /// of a crash between writing a file and saving the state).
    pub fn prune_parked(&self, keep: &[ParkedBundle]) {
        let Ok(entries) = std::fs::read_dir(self.path(PARKED_DIR)) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let listed = keep.iter().any(|p| format!("{}.blob", p.sha256) == name);
            if !listed {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// The license's key-check blob as last verified against the relay. It
    /// is ciphertext under the license key, so keeping it beside the state
    /// reveals nothing the relay does not already hold.
    pub fn write_keycheck_blob(&self, blob: &[u8]) -> Result<(), SyncError> {
        let p = self.path(KEYCHECK_FILE);
        write_private_atomically(&p, &self.dir, blob).map_err(|e| io_err(&p, e))
    }

    pub fn read_keycheck_blob(&self) -> Option<Vec<u8>> {
        std::fs::read(self.path(KEYCHECK_FILE)).ok()
    }

    /// Exclusive lock on the state directory for the duration of a cycle,
    /// so two processes never run cycles on one device state at once.
    /// The file is owner only (0600) like every other file here; one left
    /// 0644 by an older version is tightened.
    pub fn lock(&self) -> Result<File, SyncError> {
        let p = self.path(LOCK_FILE);
        let mut opts = private_options();
        opts.create(true).truncate(false).write(true);
        let f = opts.open(&p).map_err(|e| io_err(&p, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = f
                .metadata()
                .map_err(|e| io_err(&p, e))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                f.set_permissions(std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| io_err(&p, e))?;
            }
        }
        f.lock().map_err(|e| io_err(&p, e))?;
        Ok(f)
    }
}

/// A file's bytes (`None`: absent) and its mark, taken from the handle the
/// bytes were read through (`Some(None)`: a platform without one).
#[allow(clippy::type_complexity)]
fn read_marked(p: &Path) -> Result<(Option<Vec<u8>>, Option<Option<FileId>>), SyncError> {
    use std::io::Read;
    let mut f = match File::open(p) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, None)),
        Err(e) => return Err(io_err(p, e)),
    };
    let id = FileId::of(&f.metadata().map_err(|e| io_err(p, e))?);
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(|e| io_err(p, e))?;
    Ok((Some(bytes), Some(id)))
}

pub fn io_err(path: &Path, e: std::io::Error) -> SyncError {
    SyncError::State {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
