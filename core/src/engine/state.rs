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
//! line to `engine-state.journal` (0600, fsynced; O(page)): the new cursor
//! together with the `known` updates, new tombstones and quarantine/parked
//! changes of the records it passed, so the cursor never becomes durable
//! before them. Loading replays the journal's complete lines over the state
//! file, stopping at the first line that does not parse (a torn append: its
//! page is pulled again). A full save (end of a cycle, a push, or a journal
//! past [`JOURNAL_COMPACT_BYTES`]) replaces the state file first, with a new
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

use super::error::SyncError;
use super::integrity_check::{IntegrityDelta, IntegrityState, PrevRef};
use crate::fsutil::{create_private_dir_all, private_options, sync_dir, write_private_atomically};
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
    /// they extend.
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
        }
    }
}

/// What one pull page changed, appended to the journal as one JSON line.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PageDelta {
    pub cursor: String,
    /// (store, record key, short hash).
    pub known: Vec<(String, String, String)>,
    /// (store, tombstone).
    pub tombstones: Vec<(String, Record)>,
    /// The whole (bounded) quarantine, when the page changed it.
    pub quarantine: Option<Vec<QuarantineEntry>>,
    /// The whole (bounded) parked list, when the page changed it.
    pub parked: Option<Vec<ParkedBundle>>,
    /// The generation of the state file this page extends (stamped by
    /// [`StateDir::append_page`]; lines from before a format with
    /// generations have 0, as had their state file).
    #[serde(default)]
    pub generation: u64,
    /// The relay-integrity state's changes, when the page changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<IntegrityDelta>,
}

impl PageDelta {
    pub fn apply_to(self, st: &mut EngineState) {
        for (store, k, h) in self.known {
            st.known.entry(store).or_default().insert(k, h);
        }
        for (store, t) in self.tombstones {
            let list = st.tombstones.entry(store).or_default();
            list.retain(|x| x.key() != t.key());
            list.push(t);
        }
        if let Some(q) = self.quarantine {
            st.quarantine = q;
        }
        if let Some(p) = self.parked {
            st.parked = p;
        }
        if let Some(i) = self.integrity {
            st.integrity.apply(i);
        }
        st.cursor = self.cursor;
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
    hex::encode(&rec.content_hash()[..16])
}

pub struct StateDir {
    pub dir: PathBuf,
    /// The generation of the state file on disk, as last loaded or saved:
    /// journal lines are stamped with it.
    generation: std::sync::atomic::AtomicU64,
}

impl StateDir {
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, SyncError> {
        let dir = dir.as_ref().to_path_buf();
        create_private_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        Ok(Self {
            dir,
            generation: Default::default(),
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The state file with the journal's pages replayed over it.
    pub fn load(&self) -> Result<EngineState, SyncError> {
        let p = self.path(STATE_FILE);
        let mut st: EngineState = match std::fs::read(&p) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|_| SyncError::State {
                path: p.display().to_string(),
                message: "engine state file is corrupt".into(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => EngineState::default(),
            Err(e) => return Err(io_err(&p, e)),
        };
        let j = self.path(JOURNAL_FILE);
        let journal = match std::fs::read(&j) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(&j, e)),
        };
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
        Ok(st)
    }

    /// Whether the journal holds anything (a full save would fold it in).
    pub fn journal_len(&self) -> u64 {
        std::fs::metadata(self.path(JOURNAL_FILE)).map_or(0, |m| m.len())
    }

    /// Appends one page's changes, durably. Returns the journal's size, so
    /// the caller can fold it into the state file past
    /// [`JOURNAL_COMPACT_BYTES`].
    pub fn append_page(&self, delta: &PageDelta) -> Result<u64, SyncError> {
        let p = self.path(JOURNAL_FILE);
        let stamped = PageDelta {
            generation: self.generation.load(Ordering::SeqCst),
            ..delta.clone()
        };
        let mut line = serde_json::to_vec(&stamped).map_err(|e| SyncError::State {
            path: p.display().to_string(),
            message: e.to_string(),
        })?;
        line.push(b'\n');
        let existed = p.exists();
        let mut opts = private_options();
        opts.append(true).create(true);
        let result = (|| {
            use std::io::Write;
            let mut f = opts.open(&p)?;
            f.write_all(&line)?;
            f.sync_data()?;
            if !existed {
                sync_dir(&self.dir)?;
            }
            f.metadata().map(|m| m.len())
        })();
        result.map_err(|e| io_err(&p, e))
    }

    /// Replaces the state file with `state` (which must include every page
    /// journalled so far) under the next generation, then empties the
    /// journal. The state file goes first: if replacing it fails, the
    /// journal still holds every page over the older file (emptying it first
    /// lost them); if emptying fails after, its lines are of an older
    /// generation and are skipped on load.
    pub fn save(&self, state: &EngineState) -> Result<(), SyncError> {
        let p = self.path(STATE_FILE);
        // Random, not a counter: only equality matters, and another process
        // (or an engine that has not loaded since) cannot know the last one.
        let next = loop {
            let g = rand_core::RngCore::next_u64(&mut rand_core::OsRng);
            if g != self.generation.load(Ordering::SeqCst) && g != state.generation {
                break g;
            }
        };
        let mut value = serde_json::to_value(state).map_err(|e| SyncError::State {
            path: p.display().to_string(),
            message: e.to_string(),
        })?;
        value["generation"] = serde_json::Value::from(next);
        let bytes = serde_json::to_vec(&value).map_err(|e| SyncError::State {
            path: p.display().to_string(),
            message: e.to_string(),
        })?;
        write_private_atomically(&p, &self.dir, &bytes).map_err(|e| io_err(&p, e))?;
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

pub fn io_err(path: &Path, e: std::io::Error) -> SyncError {
    SyncError::State {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(cursor: &str, key: &str) -> PageDelta {
        PageDelta {
            cursor: cursor.into(),
            known: vec![("snippets".into(), key.into(), "h".into())],
            ..Default::default()
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_lock_file_is_owner_only_also_when_left_world_readable() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::open(tmp.path()).unwrap();
        let mode = || {
            std::fs::metadata(dir.path(LOCK_FILE))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        drop(dir.lock().unwrap());
        assert_eq!(mode(), 0o600);
        // Created 0644 by an older version: tightened on the next lock.
        std::fs::set_permissions(dir.path(LOCK_FILE), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        drop(dir.lock().unwrap());
        assert_eq!(mode(), 0o600);
    }

    #[test]
    fn a_state_from_before_the_authority_key_loads_and_keeps_it_after() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::open(tmp.path()).unwrap();
        std::fs::write(
            dir.path(STATE_FILE),
            br#"{"format":1,"licenseId":"lic_a","deviceId":"dev_1","nextSeq":4}"#,
        )
        .unwrap();
        let mut st = dir.load().unwrap();
        assert_eq!((st.next_seq, st.authority_key.as_deref()), (4, None));
        st.authority_key = Some("key".into());
        dir.save(&st).unwrap();
        assert_eq!(dir.load().unwrap().authority_key.as_deref(), Some("key"));
    }

    #[test]
    fn journal_replays_complete_pages_and_a_save_folds_it_in() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::open(tmp.path()).unwrap();
        dir.save(&EngineState::default()).unwrap();
        dir.append_page(&page("c1", "a")).unwrap();
        dir.append_page(&page("c2", "b")).unwrap();
        // A torn append (the process died mid-write): that page re-pulls.
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(dir.path(JOURNAL_FILE))
                .unwrap();
            f.write_all(br#"{"cursor":"c3","known":[["snip"#).unwrap();
        }
        let st = dir.load().unwrap();
        assert_eq!(st.cursor, "c2");
        assert_eq!(st.known["snippets"].len(), 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path(JOURNAL_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        dir.save(&st).unwrap();
        assert_eq!(dir.journal_len(), 0);
        let mut loaded = dir.load().unwrap();
        loaded.generation = st.generation;
        assert_eq!(loaded, st);
    }

    #[test]
    fn a_failed_replace_keeps_the_journal_and_stale_lines_are_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::open(tmp.path()).unwrap();
        dir.save(&EngineState::default()).unwrap();
        dir.append_page(&page("c1", "a")).unwrap();
        let st = dir.load().unwrap();
        // The replace fails (here: a directory where the state file goes).
        let state_bytes = std::fs::read(dir.path(STATE_FILE)).unwrap();
        std::fs::remove_file(dir.path(STATE_FILE)).unwrap();
        std::fs::create_dir(dir.path(STATE_FILE)).unwrap();
        std::fs::write(dir.path(STATE_FILE).join("x"), b"x").unwrap();
        assert!(dir.save(&st).is_err());
        std::fs::remove_dir_all(dir.path(STATE_FILE)).unwrap();
        std::fs::write(dir.path(STATE_FILE), state_bytes).unwrap();
        assert!(dir.journal_len() > 0, "the journal outlives a failed save");
        assert_eq!(dir.load().unwrap().cursor, "c1");
        // A save whose truncate never happened (a crash right after the
        // replace): the journal's lines are older than the state file.
        let journal = std::fs::read(dir.path(JOURNAL_FILE)).unwrap();
        let mut newer = dir.load().unwrap();
        newer.cursor = "c9".into();
        dir.save(&newer).unwrap();
        std::fs::write(dir.path(JOURNAL_FILE), journal).unwrap();
        assert_eq!(dir.load().unwrap().cursor, "c9");
    }
}
