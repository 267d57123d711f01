//! What one push can carry. The records a cycle sends are split into parts
//! whose sealed blobs each stay under the push limit, so neither a first
//! checkpoint of a million records nor a large delta meets the relay's
//! body limit, and the engine holds one part's plaintext and blob at a time
//! instead of the whole bundle twice (PROTOCOL §6, "Checkpoints in parts").

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};
use std::io;

use crate::engine::bundle::{Bundle, CheckpointPart, StoreRecords, BUNDLE_FORMAT};
use crate::engine::integrity_check::PrevRef;
use crate::engine::state::key_string;
use crate::merge::Record;

/// The envelope around the plaintext: version byte, IV, tag (§2).
pub(super) const ENVELOPE_OVERHEAD: u64 = crate::envelope::MIN_ENVELOPE_LEN as u64;

/// One store's records on their way out, each with its short hash, kept
/// in *reverse* key order: a part takes the next record from the end, so
/// the buffers shrink as parts are cut instead of staying whole until the
/// last part of a million-record checkpoint.
pub(super) struct Outgoing {
    pub store: String,
    records: Vec<Record>,
    hashes: Vec<[u8; 16]>,
}

impl Outgoing {
    /// `records` and their `hashes`, in key order ([`key_cmp`]).
    pub fn new(store: String, mut records: Vec<Record>, mut hashes: Vec<[u8; 16]>) -> Self {
        debug_assert_eq!(records.len(), hashes.len());
        records.reverse();
        hashes.reverse();
        Self {
            store,
            records,
            hashes,
        }
    }

    fn peek(&self) -> Option<&Record> {
        self.records.last()
    }

    fn take(&mut self) -> Option<(Record, [u8; 16])> {
        let r = self.records.pop()?;
        let h = self.hashes.pop()?;
        // Give memory back as the store drains; a quarter keeps the copies
        // this costs to a third of the records, in all.
        if self.records.capacity() > 4096 && self.records.len() < self.records.capacity() / 4 {
            self.records.shrink_to_fit();
            self.hashes.shrink_to_fit();
        }
        Some((r, h))
    }
}

/// The order of the keys `known` uses ([`key_string`]), without building
/// them: a scoped key is its scope, U+001F, its id; byte order is `String`'s.
pub(super) fn key_cmp(a: &Record, b: &Record) -> Ordering {
    key_bytes(a).cmp(key_bytes(b))
}

/// How `r`'s key compares with a key as [`key_string`] writes it.
pub(super) fn key_cmp_str(r: &Record, key: &str) -> Ordering {
    key_bytes(r).cmp(key.bytes())
}

fn key_bytes(r: &Record) -> impl Iterator<Item = u8> + '_ {
    let (scope, sep): (&[u8], &[u8]) = match &r.scope {
        Some(s) => (s.as_bytes(), "\u{1f}".as_bytes()),
        None => (&[], &[]),
    };
    scope.iter().chain(sep).chain(r.id.as_bytes()).copied()
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
    stores: VecDeque<Outgoing>,
    budget: u64,
    /// Records set aside so far because alone they exceed the budget.
    pub oversized: Vec<Oversized>,
}

impl Splitter {
    pub fn new(stores: Vec<Outgoing>, budget: u64) -> Self {
        Self {
            stores: stores.into(),
            budget,
            oversized: Vec::new(),
        }
    }

    /// The next part, `None` once every entry is in a part or set aside.
    pub fn next_part(&mut self) -> Option<Part> {
        let mut cur = Part::default();
        let mut used = 0u64;
        while let Some(out) = self.stores.front_mut() {
            let store = out.store.clone();
            // `{"store":"…","records":[…]},` around the store's records.
            let store_overhead = json_len(&*store) + 24;
            while let Some(r) = out.peek() {
                let bytes = json_len(r) + 1;
                if bytes + store_overhead > self.budget {
                    self.oversized.push(Oversized {
                        store: store.clone(),
                        id: r.id.clone(),
                        bytes,
                    });
                    out.take();
                    continue;
                }
                let opens_store = cur.stores.last().is_none_or(|s| s.store != *store);
                let need = bytes + if opens_store { store_overhead } else { 0 };
                if used + need > self.budget && cur.records > 0 {
                    return Some(cur);
                }
                let (record, hash) = out.take().expect("peeked above");
                used += need;
                let key = key_string(&record.key());
                cur.hashes
                    .entry(store.clone())
                    .or_default()
                    .insert(key.clone(), hex::encode(hash));
                cur.last_key = (store.clone(), key);
                cur.records += 1;
                match cur.stores.last_mut() {
                    Some(s) if !opens_store => s.records.push(record),
                    _ => cur.stores.push(StoreRecords {
                        store: store.clone(),
                        records: vec![record],
                    }),
                }
            }
            self.stores.pop_front();
        }
        (cur.records > 0).then_some(cur)
    }
}

/// Every part of `stores` at once, and what was set aside.
#[cfg(test)]
fn split(stores: Vec<Outgoing>, budget: u64) -> (VecDeque<Part>, Vec<Oversized>) {
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

    fn record(id: &str, text_len: usize) -> Record {
        serde_json::from_value(serde_json::json!({
            "id": id, "updatedAt": 1, "deleted": false, "deviceId": "dev_a",
            "body": {"text": "x".repeat(text_len)}
        }))
        .unwrap()
    }

    fn outgoing(store: &str, records: Vec<Record>) -> Outgoing {
        let hashes = records.iter().map(|_| [7u8; 16]).collect();
        Outgoing::new(store.into(), records, hashes)
    }

    #[test]
    fn parts_stay_under_the_budget_and_keep_every_record_in_order() {
        let a: Vec<Record> = (0..50).map(|i| record(&format!("a{i:03}"), 300)).collect();
        let b: Vec<Record> = (0..30).map(|i| record(&format!("b{i:03}"), 100)).collect();
        let budget = 4096;
        let (parts, oversized) = split(vec![outgoing("s1", a), outgoing("s2", b)], budget);
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
        let records = vec![record("a", 10), record("big", 10_000), record("c", 10)];
        let (parts, oversized) = split(vec![outgoing("s", records)], 4096);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].records, 2);
        assert_eq!(oversized.len(), 1);
        assert_eq!(oversized[0].id, "big");
        assert!(oversized[0].bytes > 10_000);
    }

    #[test]
    fn key_order_is_the_order_of_key_strings() {
        let keyed = |scope: Option<&str>, id: &str| {
            let mut r = record(id, 1);
            r.scope = scope.map(String::from);
            r
        };
        let records = [
            keyed(None, "a"),
            keyed(None, "a\u{1f}b"),
            keyed(None, "ab"),
            keyed(None, "é"),
            keyed(None, ""),
            keyed(Some("a"), "b"),
            keyed(Some("a"), ""),
            keyed(Some("ab"), "a"),
            keyed(Some(""), "z"),
            keyed(Some("é"), "a"),
            keyed(Some("a\u{1}"), "a"),
        ];
        for x in &records {
            let kx = key_string(&x.key());
            for y in &records {
                let ky = key_string(&y.key());
                assert_eq!(key_cmp(x, y), kx.cmp(&ky), "{kx:?} vs {ky:?}");
                assert_eq!(key_cmp_str(x, &ky), kx.cmp(&ky), "{kx:?} vs {ky:?}");
            }
        }
    }

    #[test]
    fn a_store_gives_its_memory_back_as_parts_take_its_records() {
        let records: Vec<Record> = (0..20_000)
            .map(|i| record(&format!("k{i:05}"), 10))
            .collect();
        let mut s = Splitter::new(vec![outgoing("s", records)], 64 * 1024);
        let full = s.stores[0].records.capacity();
        let mut seen = 0u64;
        while s.stores.front().is_some_and(|o| o.records.len() * 8 > full) {
            seen += s.next_part().expect("a part").records;
        }
        let left = &s.stores[0];
        assert!(
            left.records.capacity() < full,
            "{} of {full}",
            left.records.capacity()
        );
        assert_eq!(left.hashes.capacity(), left.records.capacity());
        while let Some(p) = s.next_part() {
            seen += p.records;
        }
        assert_eq!(seen, 20_000);
    }
}
