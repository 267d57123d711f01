//! [`StoreState`]: one store's records on this device, tombstones included.

use std::collections::btree_map;
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::record::{Record, RecordKey};

/// All records of one store on this device, ordered by [`RecordKey`],
/// tombstones included (they are what keeps a deleted record from coming
/// back). Every entry is stored under its own [`Record::key`].
///
/// Serialises as a JSON array of records in key order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreState(pub(crate) BTreeMap<RecordKey, Record>);

impl StoreState {
    /// An empty state.
    pub fn new() -> Self {
        StoreState::default()
    }

    /// Stores `rec` under its key, replacing (and returning) whatever was
    /// there. This is a raw write with no merge order: use it to load local
    /// state; use [`merge`](super::merge) to combine versions.
    pub fn insert(&mut self, rec: Record) -> Option<Record> {
        self.0.insert(rec.key(), rec)
    }

    /// The record stored under `key`, live or tombstone.
    pub fn get(&self, key: &RecordKey) -> Option<&Record> {
        self.0.get(key)
    }

    /// `true` if something (live or tombstone) is stored under `key`.
    pub fn contains_key(&self, key: &RecordKey) -> bool {
        self.0.contains_key(key)
    }

    /// Removes and returns the record under `key`. Merge never does this; it
    /// is for hosts that garbage-collect tombstones (see `docs/MERGE.md`).
    pub fn remove(&mut self, key: &RecordKey) -> Option<Record> {
        self.0.remove(key)
    }

    /// Number of stored records, tombstones included.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `true` if nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// All entries in key order, tombstones included.
    pub fn iter(&self) -> btree_map::Iter<'_, RecordKey, Record> {
        self.0.iter()
    }

    /// All records in key order, tombstones included.
    pub fn records(&self) -> btree_map::Values<'_, RecordKey, Record> {
        self.0.values()
    }

    /// Live (not deleted) records in key order: what the host should hold.
    pub fn live(&self) -> impl Iterator<Item = &Record> {
        self.0.values().filter(|r| !r.deleted)
    }

    /// Tombstones in key order.
    pub fn tombstones(&self) -> impl Iterator<Item = &Record> {
        self.0.values().filter(|r| r.deleted)
    }

    /// Read-only view of the underlying map.
    pub fn as_map(&self) -> &BTreeMap<RecordKey, Record> {
        &self.0
    }

    /// The underlying map.
    pub fn into_map(self) -> BTreeMap<RecordKey, Record> {
        self.0
    }
}

/// Raw load: later records overwrite earlier ones with the same key (no merge
/// order). Use [`merge`](super::merge) to combine versions from peers.
impl FromIterator<Record> for StoreState {
    fn from_iter<I: IntoIterator<Item = Record>>(iter: I) -> Self {
        StoreState(iter.into_iter().map(|r| (r.key(), r)).collect())
    }
}

impl Extend<Record> for StoreState {
    fn extend<I: IntoIterator<Item = Record>>(&mut self, iter: I) {
        for r in iter {
            self.insert(r);
        }
    }
}

impl<const N: usize> From<[Record; N]> for StoreState {
    fn from(records: [Record; N]) -> Self {
        records.into_iter().collect()
    }
}

impl From<Vec<Record>> for StoreState {
    fn from(records: Vec<Record>) -> Self {
        records.into_iter().collect()
    }
}

impl IntoIterator for StoreState {
    type Item = (RecordKey, Record);
    type IntoIter = btree_map::IntoIter<RecordKey, Record>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a StoreState {
    type Item = (&'a RecordKey, &'a Record);
    type IntoIter = btree_map::Iter<'a, RecordKey, Record>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Serialize for StoreState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.values())
    }
}

impl<'de> Deserialize<'de> for StoreState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Vec::<Record>::deserialize(d)?.into())
    }
}
