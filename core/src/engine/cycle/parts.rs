//! What one push can carry. The records a cycle sends are split into parts
//! whose sealed blobs each stay under the push limit, so neither a first
//! checkpoint of a million records nor a large delta meets the relay's
//! body limit, and the engine holds one part's plaintext and blob at a time
//! instead of the whole bundle twice (PROTOCOL §6, "Checkpoints in parts").

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::iter::Peekable;

use crate::engine::bundle::{Bundle, CheckpointPart, StoreRecords, BUNDLE_FORMAT};
use crate::engine::integrity_check::PrevRef;
use crate::merge::Record;

/// The envelope around the plaintext: version byte, IV, tag (§2).
pub(super) const ENVELOPE_OVERHEAD: u64 = 1 + 12 + 16;

/// A record on its way out: its key in `known`, its short hash, and
/// whether the relay lacks this version of it.
pub(super) struct Entry {
    pub key: String,
    pub hash: String,
    pub record: Record,
    pub changed: bool,
}

/// One push's worth of records.
#[derive(Default)]
pub(super) struct Part {
    pub stores: Vec<StoreRecords>,
    /// store → key → short hash, to mark known once the part is stored.
    pub hashes: BTreeMap<String, BTreeMap<String, String>>,
    pub records: u64,
    /// The greatest (store, key) in the part: a checkpoint cut short goes
    /// on after it.
    pub last_key: (String, String),
}

/// A record that alone does not fit in a push.
pub(super) struct Oversized {
    pub store: String,
    pub id: String,
    pub bytes: u64,
}

/// Cuts `stores` (by name, each one's entries by key: the order parts go
/// in) into parts of at most `budget` bytes of serialised records, one part
/// when asked: only the part being pushed and the one after it (to tell
/// the last) are ever built, not every part of a million-record checkpoint.
pub(super) struct Splitter {
    stores: VecDeque<(String, Peekable<std::vec::IntoIter<Entry>>)>,
    budget: u64,
    /// Records set aside so far because alone they exceed the budget.
    pub oversized: Vec<Oversized>,
}

impl Splitter {
    pub fn new(stores: Vec<(String, Vec<Entry>)>, budget: u64) -> Self {
        Self {
            stores: stores
                .into_iter()
                .map(|(s, e)| (s, e.into_iter().peekable()))
                .collect(),
            budget,
            oversized: Vec::new(),
        }
    }

    /// The next part, `None` once every entry is in a part or set aside.
    pub fn next_part(&mut self) -> Option<Part> {
        let mut cur = Part::default();
        let mut used = 0u64;
        while let Some((store, entries)) = self.stores.front_mut() {
            // `{"store":"…","records":[…]},` around the store's records.
            let store_overhead = json_len(&*store) + 24;
            while let Some(e) = entries.peek() {
                let bytes = json_len(&e.record) + 1;
                if bytes + store_overhead > self.budget {
                    self.oversized.push(Oversized {
                        store: store.clone(),
                        id: e.record.id.clone(),
                        bytes,
                    });
                    entries.next();
                    continue;
                }
                let opens_store = cur.stores.last().is_none_or(|s| s.store != *store);
                let need = bytes + if opens_store { store_overhead } else { 0 };
                if used + need > self.budget && cur.records > 0 {
                    return Some(cur);
                }
                let Some(e) = entries.next() else { break };
                if opens_store {
                    used += store_overhead;
                    cur.stores.push(StoreRecords {
                        store: store.clone(),
                        records: Vec::new(),
                    });
                }
                used += bytes;
                cur.hashes
                    .entry(store.clone())
                    .or_default()
                    .insert(e.key.clone(), e.hash);
                cur.last_key = (store.clone(), e.key);
                cur.records += 1;
                if let Some(s) = cur.stores.last_mut() {
                    s.records.push(e.record);
                }
            }
            self.stores.pop_front();
        }
        (cur.records > 0).then_some(cur)
    }
}

/// Every part of `stores` at once, and what was set aside.
#[cfg(test)]
fn split(stores: Vec<(String, Vec<Entry>)>, budget: u64) -> (VecDeque<Part>, Vec<Oversized>) {
    let mut s = Splitter::new(stores, budget);
    let parts = std::iter::from_fn(|| s.next_part()).collect();
    (parts, s.oversized)
}

/// The bytes a bundle takes around its records, at most: serialised with
/// no records and every optional field at its longest, plus slack.
pub(super) fn bundle_overhead(lid: &str, device_id: &str, peers: &BTreeMap<String, u64>) -> u64 {
    let widest = Bundle {
        format: BUNDLE_FORMAT.into(),
        license_id: lid.into(),
        device_id: device_id.into(),
        seq: u64::MAX,
        checkpoint: false,
        created_at_ms: i64::MIN,
        stores: Vec::new(),
        prev: Some(PrevRef {
            seq: u64::MAX,
            sha256: "0".repeat(64),
        }),
        peers: Some(peers.clone()),
        part: Some(CheckpointPart {
            first: u64::MAX,
            index: u32::MAX,
            last: false,
        }),
    };
    json_len(&widest) + 64
}

/// The length of `v` as JSON, without building it.
fn json_len<T: serde::Serialize + ?Sized>(v: &T) -> u64 {
    struct Count(u64);
    impl io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Records and bundles always serialise (plain data, string keys).
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, text_len: usize) -> Entry {
        let record: Record = serde_json::from_value(serde_json::json!({
            "id": id, "updatedAt": 1, "deleted": false, "deviceId": "dev_a",
            "body": {"text": "x".repeat(text_len)}
        }))
        .unwrap();
        Entry {
            key: id.into(),
            hash: format!("h{id}"),
            record,
            changed: true,
        }
    }

    #[test]
    fn parts_stay_under_the_budget_and_keep_every_record_in_order() {
        let a: Vec<Entry> = (0..50).map(|i| entry(&format!("a{i:03}"), 300)).collect();
        let b: Vec<Entry> = (0..30).map(|i| entry(&format!("b{i:03}"), 100)).collect();
        let budget = 4096;
        let (parts, oversized) = split(vec![("s1".into(), a), ("s2".into(), b)], budget);
        assert!(oversized.is_empty());
        assert!(parts.len() > 4, "{} parts", parts.len());
        let mut seen = Vec::new();
        for p in &parts {
            assert!(json_len(&p.stores) <= budget, "{}", json_len(&p.stores));
            for s in &p.stores {
                for r in &s.records {
                    seen.push((s.store.clone(), r.id.clone()));
                    assert!(p.hashes[&s.store].contains_key(&r.id));
                }
            }
            assert_eq!(&p.last_key, seen.last().unwrap());
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        assert_eq!(seen.len(), 80);
    }

    #[test]
    fn a_record_over_the_budget_is_set_aside_and_the_rest_goes() {
        let entries = vec![entry("a", 10), entry("big", 10_000), entry("c", 10)];
        let (parts, oversized) = split(vec![("s".into(), entries)], 4096);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].records, 2);
        assert_eq!(oversized.len(), 1);
        assert_eq!(oversized[0].id, "big");
        assert!(oversized[0].bytes > 10_000);
    }
}
