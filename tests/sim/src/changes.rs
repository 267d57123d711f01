//! A simulated host's change log, for the engine's optional
//! `changes_since` / `snapshot_keys` (issue 16): a counter that every
//! reported write moves, and per key the counter value of its last write.
//!
//! A host may be honest (every write reported), or under-report: a write
//! made with [`ChangeLog::miss`] set is kept in the store but never
//! reported, as a host with a missed trigger or a forgotten code path
//! would. The engine must still pick it up at its next full read.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use azmx_sync_core::engine::ChangeSet;
use azmx_sync_core::merge::RecordKey;

#[derive(Default)]
struct Log {
    seq: u64,
    changed: BTreeMap<RecordKey, u64>,
}

/// Whether and how a simulated store reports its changes.
#[derive(Default)]
pub struct ChangeLog {
    /// The store implements `changes_since` (else the engine's default).
    pub enabled: AtomicBool,
    /// Writes made while set are not reported (an under-reporting host).
    pub miss: AtomicBool,
    /// Names this log: a token of another log is not trusted.
    epoch: u64,
    log: Mutex<Log>,
    /// Calls the engine made, to compare the cost of both paths.
    pub snapshots: AtomicU64,
    pub keyed_reads: AtomicU64,
    pub records_read: AtomicU64,
}

impl ChangeLog {
    pub fn new(enabled: bool, epoch: u64) -> Self {
        Self {
            enabled: AtomicBool::new(enabled),
            epoch,
            ..Self::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A host write of `key` (reported unless [`miss`](Self::miss) is set).
    pub fn wrote(&self, key: &RecordKey) {
        if !self.miss.load(Ordering::SeqCst) {
            self.applied(key);
        }
    }

    /// A write of the engine's (`apply`): always reported.
    pub fn applied(&self, key: &RecordKey) {
        let mut l = self.lock();
        l.seq += 1;
        let seq = l.seq;
        l.changed.insert(key.clone(), seq);
    }

    /// The engine's question; `None` when the store does not implement it.
    pub fn since(&self, token: Option<&[u8]>) -> Option<ChangeSet> {
        if !self.enabled.load(Ordering::SeqCst) {
            return None;
        }
        let l = self.lock();
        let now = format!("{}:{}", self.epoch, l.seq).into_bytes();
        let from = token
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| t.split_once(':'))
            .filter(|(e, _)| e.parse() == Ok(self.epoch))
            .and_then(|(_, s)| s.parse::<u64>().ok())
            .filter(|s| *s <= l.seq);
        let keys = from.map(|from| {
            l.changed
                .iter()
                .filter(|(_, s)| **s > from)
                .map(|(k, _)| k.clone())
                .collect()
        });
        Some(ChangeSet { token: now, keys })
    }

    pub fn count_snapshot(&self, records: usize) {
        self.snapshots.fetch_add(1, Ordering::SeqCst);
        self.records_read
            .fetch_add(records as u64, Ordering::SeqCst);
    }

    pub fn count_keyed(&self, records: usize) {
        self.keyed_reads.fetch_add(1, Ordering::SeqCst);
        self.records_read
            .fetch_add(records as u64, Ordering::SeqCst);
    }
}
