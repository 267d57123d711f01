//! Host stores for engines under test.

use std::collections::BTreeMap;
use std::sync::Mutex;

use azmx_sync_core::engine::{HostError, StoreAdapter};
use azmx_sync_core::merge::{Change, Record, RecordKey};

/// A host store kept in memory (tombstones included, as the engine asks).
#[derive(Default)]
pub struct MemStore {
    pub records: Mutex<BTreeMap<RecordKey, Record>>,
    pub applied_batches: Mutex<u64>,
}

impl MemStore {
    pub fn put(&self, r: Record) {
        self.records.lock().unwrap().insert(r.key(), r);
    }
    pub fn get(&self, scope: Option<&str>, id: &str) -> Option<Record> {
        self.records
            .lock()
            .unwrap()
            .get(&RecordKey::new(scope.map(String::from), id))
            .cloned()
    }
    pub fn live(&self) -> Vec<Record> {
        self.records
            .lock()
            .unwrap()
            .values()
            .filter(|r| !r.deleted)
            .cloned()
            .collect()
    }
    pub fn all(&self) -> Vec<Record> {
        self.records.lock().unwrap().values().cloned().collect()
    }
}

impl StoreAdapter for MemStore {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        Ok(self.all())
    }
    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
        *self.applied_batches.lock().unwrap() += 1;
        let mut m = self.records.lock().unwrap();
        for c in changes {
            let r = c.record().clone();
            m.insert(r.key(), r);
        }
        Ok(())
    }
}
