//! The bench's host store: records in memory, and (when switched on) the
//! optional change tracking of `StoreAdapter::changes_since`, so the same
//! device can time its idle cycle with the full snapshot and without it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use azmx_sync_core::engine::{ChangeSet, HostError, StoreAdapter, MAX_CHANGED_KEYS};
use azmx_sync_core::merge::{Change, Record, RecordKey};

#[derive(Default)]
struct Inner {
    records: BTreeMap<RecordKey, Record>,
    /// Keys written since position `base` (`log[i]` is position `base + i`).
    log: Vec<RecordKey>,
    base: u64,
    /// No token handed out yet: nobody can ask about earlier writes, so
    /// they are not logged (a million-record load would double the keys).
    handed_out: bool,
}

impl Inner {
    fn write(&mut self, r: Record) {
        if self.handed_out {
            self.log.push(r.key());
        }
        self.records.insert(r.key(), r);
    }
    fn position(&self) -> u64 {
        self.base + self.log.len() as u64
    }
}

/// A store whose `changes_since` answers only while `tracking` is on
/// (off: the trait's default, "cannot tell", so every cycle snapshots).
pub struct BenchStore {
    inner: Mutex<Inner>,
    /// Names this instance in its tokens: a token of another is unknown.
    instance: [u8; 8],
    pub tracking: AtomicBool,
}

impl BenchStore {
    pub fn new(tracking: bool) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Self {
            inner: Mutex::default(),
            instance: (nanos ^ u64::from(std::process::id()).rotate_left(32)).to_le_bytes(),
            tracking: AtomicBool::new(tracking),
        }
    }

    pub fn put(&self, r: Record) {
        self.inner.lock().unwrap().write(r);
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().records.len()
    }
}

impl StoreAdapter for BenchStore {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        Ok(self
            .inner
            .lock()
            .unwrap()
            .records
            .values()
            .cloned()
            .collect())
    }

    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
        let mut m = self.inner.lock().unwrap();
        for c in changes {
            m.write(c.record().clone());
        }
        Ok(())
    }

    fn changes_since(&self, token: Option<&[u8]>) -> Result<Option<ChangeSet>, HostError> {
        if !self.tracking.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let mut m = self.inner.lock().unwrap();
        m.handed_out = true;
        let mut now = self.instance.to_vec();
        now.extend_from_slice(&m.position().to_le_bytes());
        let asked = token
            .filter(|t| t.len() == 16 && t[..8] == self.instance)
            .map(|t| u64::from_le_bytes(t[8..].try_into().unwrap()));
        let keys = match asked {
            Some(pos) if pos >= m.base && pos <= m.position() => {
                let from = (pos - m.base) as usize;
                let mut keys: Vec<RecordKey> = m.log[from..].to_vec();
                keys.sort();
                keys.dedup();
                // The engine asks from its last kept token on; earlier
                // positions are answered "cannot tell" from now on.
                m.log.drain(..from);
                m.base = pos;
                (keys.len() <= MAX_CHANGED_KEYS).then_some(keys)
            }
            _ => None,
        };
        Ok(Some(ChangeSet { token: now, keys }))
    }

    fn snapshot_keys(&self, keys: &[RecordKey]) -> Result<Vec<Record>, HostError> {
        let m = self.inner.lock().unwrap();
        Ok(keys
            .iter()
            .filter_map(|k| m.records.get(k).cloned())
            .collect())
    }
}
