//! Typed activity events, a bounded in-memory ring, an optional append-only
//! log file, and host listeners. Events never carry record bodies, the
//! receipt or key bytes: only ids, counts, sizes, codes.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::host::ActivityListener;
use super::integrity_check::IntegrityProblem;

/// Why a scheduled cycle did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SkipReason {
    /// The previous cycle has not drained.
    Busy,
    /// The host reported the app hidden.
    Hidden,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum EventKind {
    CycleStarted {
        trigger: String,
    },
    CycleFinished {
        duration_ms: u64,
        pushed: bool,
        pulled_blobs: u64,
        ok: bool,
    },
    CycleSkipped {
        reason: SkipReason,
    },
    KeyReady,
    WrongReceipt,
    Registered {
        device_id: String,
    },
    Pushed {
        seq: u64,
        sealed_bytes: u64,
        records: u64,
        checkpoint: bool,
    },
    PushRetried {
        seq: u64,
    },
    SeqResynced {
        last_seq: u64,
    },
    Pruned {
        checkpoint_seq: u64,
        pruned: u64,
    },
    Pulled {
        blobs: u64,
    },
    Applied {
        store: String,
        inserted: u64,
        updated: u64,
        deleted: u64,
        kept_local: u64,
        unchanged: u64,
        rejected: u64,
    },
    BlobIntegrityError {
        device_id: String,
        seq: u64,
        expected: String,
        actual: String,
    },
    DecryptFailed {
        device_id: String,
        seq: u64,
    },
    ContextMismatch {
        device_id: String,
        seq: u64,
        field: String,
    },
    BundleInvalid {
        device_id: String,
        seq: u64,
        reason: String,
    },
    RecordRejected {
        store: String,
        id: String,
        reason: String,
        /// The stable code of the reason (`InvalidReason::code`), e.g.
        /// `future_timestamp`; empty in events logged before the field.
        #[serde(default)]
        code: String,
    },
    /// A record that alone is over the push limit (`bytes`, serialised, vs
    /// `max_bytes` for the records of one push): it stays on this device,
    /// unsynced, and is tried again every cycle; a checkpoint without it
    /// prunes nothing.
    RecordTooLarge {
        store: String,
        id: String,
        bytes: u64,
        max_bytes: u64,
    },
    UnknownStore {
        store: String,
        device_id: String,
        seq: u64,
    },
    Quarantined {
        device_id: String,
        seq: u64,
        reason: String,
        attempts: u32,
    },
    QuarantineCleared {
        device_id: String,
        seq: u64,
    },
    QuarantineGaveUp {
        device_id: String,
        seq: u64,
        reason: String,
    },
    /// A quarantine entry dropped to keep the quarantine bounded (oldest
    /// given-up entries first). `reason` is the entry's last failure. The
    /// blob is not retried again; its owner's next checkpoint carries its
    /// records.
    QuarantineEvicted {
        device_id: String,
        seq: u64,
        reason: String,
    },
    ClockCorrected {
        offset_secs: i64,
    },
    /// The relay dropped, reordered, rolled back or withheld bundles
    /// (PROTOCOL §6, "Relay integrity"). What verified was still applied.
    RelayIntegrity(IntegrityProblem),
    Revoked,
    RateLimited {
        retry_after_secs: u64,
    },
    NetworkError {
        message: String,
    },
    RelayError {
        status: u16,
        code: String,
    },
    StoreError {
        store: String,
        message: String,
    },
    Exported {
        records: u64,
        bytes: u64,
    },
    Imported {
        records: u64,
    },
}

/// One event with its time (ms since epoch, device clock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityEvent {
    pub at_ms: i64,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl ActivityEvent {
    /// The event's type name, e.g. `blobIntegrityError`.
    pub fn type_name(&self) -> String {
        serde_json::to_value(&self.kind)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(String::from))
            .unwrap_or_default()
    }
}

/// How much an event deserves the user's attention; every front end (CLI,
/// bindings) highlights warnings and errors the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Routine progress (cycle started, pushed, pulled, ...).
    Info,
    /// Something failed or was set aside but sync goes on (a rejected
    /// record, a quarantined bundle, an unreachable relay).
    Warning,
    /// Sync cannot go on as it is until the user acts (wrong receipt,
    /// revoked device), or data was refused for good.
    Error,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

impl EventKind {
    /// This event's [`Severity`].
    pub fn severity(&self) -> Severity {
        use EventKind as K;
        match self {
            K::WrongReceipt
            | K::Revoked
            | K::BlobIntegrityError { .. }
            | K::DecryptFailed { .. }
            | K::RelayIntegrity(_)
            | K::QuarantineGaveUp { .. }
            | K::QuarantineEvicted { .. } => Severity::Error,
            K::ContextMismatch { .. }
            | K::BundleInvalid { .. }
            | K::Quarantined { .. }
            | K::RecordRejected { .. }
            | K::RecordTooLarge { .. }
            | K::NetworkError { .. }
            | K::RelayError { .. }
            | K::StoreError { .. } => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

const RING_CAPACITY: usize = 512;
const LOG_ROTATE_BYTES: u64 = 1 << 20;

/// Ring + file + listeners.
pub struct ActivityLog {
    ring: Mutex<VecDeque<ActivityEvent>>,
    file: Option<PathBuf>,
    listeners: Mutex<Vec<Arc<dyn ActivityListener>>>,
}

impl ActivityLog {
    pub fn new(file: Option<PathBuf>) -> Self {
        Self {
            ring: Mutex::new(VecDeque::with_capacity(RING_CAPACITY)),
            file,
            listeners: Mutex::new(Vec::new()),
        }
    }

    pub fn add_listener(&self, l: Arc<dyn ActivityListener>) {
        lock(&self.listeners).push(l);
    }

    pub fn emit(&self, at_ms: i64, kind: EventKind) {
        let event = ActivityEvent { at_ms, kind };
        {
            let mut ring = lock(&self.ring);
            if ring.len() == RING_CAPACITY {
                ring.pop_front();
            }
            ring.push_back(event.clone());
        }
        if let Some(path) = &self.file {
            // The log is best effort: a full disk must not stop sync.
            let _ = append_line(path, &event);
        }
        let listeners = lock(&self.listeners).clone();
        for l in listeners {
            // A panicking host listener must not take the engine down.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l.on_event(&event)));
        }
    }

    /// The most recent events, oldest first.
    pub fn recent(&self, limit: usize) -> Vec<ActivityEvent> {
        let ring = lock(&self.ring);
        let skip = ring.len().saturating_sub(limit);
        ring.iter().skip(skip).cloned().collect()
    }
}

fn append_line(path: &PathBuf, event: &ActivityEvent) -> std::io::Result<()> {
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.len() > LOG_ROTATE_BYTES {
            let mut old = path.clone().into_os_string();
            old.push(".1");
            std::fs::rename(path, old)?;
        }
    }
    let mut f = open_private_append(path)?;
    let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
    line.push(b'\n');
    f.write_all(&line)
}

/// Opens the log for appending, owner only (0600): it names devices,
/// stores and record ids, like the rest of the state directory. A log
/// created by an older version (0644) is tightened in place.
#[cfg(unix)]
fn open_private_append(path: &PathBuf) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    if f.metadata()?.permissions().mode() & 0o077 != 0 {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(f)
}

#[cfg(not(unix))]
fn open_private_append(path: &PathBuf) -> std::io::Result<std::fs::File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Reads the persisted activity log (oldest first), e.g. for a CLI.
pub fn read_log_file(path: &std::path::Path) -> Vec<ActivityEvent> {
    let mut out = Vec::new();
    let mut rotated = path.as_os_str().to_owned();
    rotated.push(".1");
    for p in [PathBuf::from(rotated), path.to_path_buf()] {
        if let Ok(text) = std::fs::read_to_string(&p) {
            out.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
        }
    }
    out
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod severity_tests {
    use super::*;

    #[test]
    fn severity_ranks_failures_above_progress() {
        let integrity = EventKind::BlobIntegrityError {
            device_id: "dev_a".into(),
            seq: 1,
            expected: "00".into(),
            actual: "11".into(),
        };
        assert_eq!(integrity.severity(), Severity::Error);
        let offline = EventKind::NetworkError {
            message: "refused".into(),
        };
        assert_eq!(offline.severity(), Severity::Warning);
        assert_eq!(EventKind::Pulled { blobs: 2 }.severity(), Severity::Info);
        let cleared = EventKind::QuarantineCleared {
            device_id: "dev_a".into(),
            seq: 1,
        };
        assert_eq!(cleared.severity(), Severity::Info);
        assert_eq!(Severity::Warning.as_str(), "warning");
    }
}
