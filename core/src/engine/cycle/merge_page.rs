//! Merging a pull page into the host's stores, a chunk of keys at a time.
//!
//! A new device's first page can be a whole checkpoint: a million records
//! of one store. Merge is per key (a key absent from a batch is left alone,
//! and every use of the local records below looks only at the batch's
//! keys), so the page's records in key order, cut into chunks of at most
//! [`MAX_CHANGED_KEYS`] keys, each read, merged, handed to the host and
//! marked known before the next, give the same changes, `known` updates and
//! tombstones as one merge of the whole page, while the merge's structures
//! (the local records, the relay's hashes, the change list) hold one chunk.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::iter::Peekable;

use super::apply::{apply_changes, KnownUpdate};
use super::crash::crash_point;
use super::{snapshot, RegisteredStore};
use crate::engine::error::SyncError;
use crate::engine::events::{lock, EventKind};
use crate::engine::host::MAX_CHANGED_KEYS;
use crate::engine::state::{key_string, short_hash};
use crate::engine::{CycleReport, StoreAdapter, SyncEngine};
use crate::merge::{merge_in_place, Change, Record, RecordKey, StoreSpec, StoreState};

/// The order of [`RecordKey`] (scope, then id), without building one.
fn key_order(r: &Record) -> (Option<&str>, &str) {
    (r.scope.as_deref(), r.id.as_str())
}

type Records = Peekable<std::vec::IntoIter<Record>>;

/// The next chunk of a page sorted by key in *reverse*: every record of at
/// most [`MAX_CHANGED_KEYS`] keys (all versions of a key in one chunk), the
/// smallest keys first, taken from the end so the page's buffer shrinks as
/// chunks are merged instead of staying whole until the last.
fn next_chunk(rest: &mut Vec<Record>) -> Option<Vec<Record>> {
    let mut keys = 0;
    let mut at = rest.len();
    while at > 0 {
        let new_key = at == rest.len() || key_order(&rest[at - 1]) != key_order(&rest[at]);
        if new_key {
            if keys == MAX_CHANGED_KEYS {
                break;
            }
            keys += 1;
        }
        at -= 1;
    }
    if at == rest.len() {
        return None;
    }
    let mut chunk = rest.split_off(at);
    chunk.reverse();
    // A quarter keeps the copies this costs to a third of the page, in all.
    if rest.capacity() > 4096 && rest.len() < rest.capacity() / 4 {
        rest.shrink_to_fit();
    }
    Some(chunk)
}

/// Where a page's merge reads the host's records of a chunk's keys.
///
/// A store is read by key only while its `changes_since`, asked right
/// before each chunk's lookup, answers `Some`: that is the trait's sign of
/// the capability (the default `snapshot_keys` filters a whole snapshot),
/// and a host that refreshes its view there (the memory folder looks at its
/// files) does so before every lookup, as before a push's. Without it, or
/// once a keyed read fails, the store is read whole once for the rest of
/// the page (its failure fails the cycle) and walked in key order beside
/// the chunks.
enum LocalReader {
    ByKey,
    /// The whole snapshot once read (`None` until a chunk needs it), the
    /// records not yet walked past.
    Whole(Option<Records>),
}

impl LocalReader {
    /// The host's records of `keys` (one chunk, in key order after every
    /// earlier chunk's), tombstones included; a key the store does not hold
    /// has none, as in a whole snapshot.
    fn read(
        &mut self,
        engine: &SyncEngine,
        store: &str,
        adapter: &dyn StoreAdapter,
        keys: &BTreeSet<RecordKey>,
    ) -> Result<Vec<Record>, SyncError> {
        if let LocalReader::ByKey = self {
            if let Ok(Some(_)) = adapter.changes_since(None) {
                let asked: Vec<RecordKey> = keys.iter().cloned().collect();
                if let Ok(mut held) = adapter.snapshot_keys(&asked) {
                    // A host that answers more than asked changes nothing,
                    // but the merge need not carry it.
                    held.retain(|r| keys.contains(&r.key()));
                    return Ok(held);
                }
            }
            *self = LocalReader::Whole(None);
        }
        let LocalReader::Whole(read) = self else {
            unreachable!("a keyed reader returned or became whole above");
        };
        let rest = match read {
            Some(rest) => rest,
            None => {
                let mut all = snapshot(engine, store, adapter)?;
                // Stable: of two records a host lists under one key, the
                // later is kept, as loading them in order would.
                all.sort_by(|a, b| key_order(a).cmp(&key_order(b)));
                read.insert(all.into_iter().peekable())
            }
        };
        let (Some(first), Some(last)) = (keys.first(), keys.last()) else {
            return Ok(Vec::new());
        };
        let first = (first.scope.as_deref(), first.id.as_str());
        let last = (last.scope.as_deref(), last.id.as_str());
        let mut held = Vec::new();
        // Records below the chunk are of keys no chunk has: dropped.
        while let Some(r) = rest.next_if(|r| key_order(r) <= last) {
            if key_order(&r) >= first && keys.contains(&r.key()) {
                held.push(r);
            }
        }
        Ok(held)
    }
}

/// Sums of one store's chunks, reported as one `applied` event a page.
#[derive(Default)]
struct Counts {
    inserted: u64,
    updated: u64,
    deleted: u64,
    kept_local: u64,
    unchanged: u64,
    rejected: u64,
}

/// What a page's merge leaves for the state: the `known` updates (only
/// versions the relay holds) and the tombstones the engine must now keep.
#[derive(Default)]
struct Merged {
    known_updates: Vec<KnownUpdate>,
    new_tombstones: Vec<(String, Record)>,
}

/// One store's page being merged.
struct StorePage<'a> {
    engine: &'a SyncEngine,
    store: &'a str,
    spec: &'a StoreSpec,
    adapter: &'a dyn StoreAdapter,
}

/// Merges incoming records of registered stores into the host's stores and
/// applies the changes. Returns the `known` updates (only versions the relay
/// holds) and the tombstones the engine must now keep.
#[allow(clippy::type_complexity)]
pub(super) fn merge_apply(
    engine: &SyncEngine,
    registered: &[RegisteredStore],
    incoming: HashMap<String, Vec<Record>>,
    report: &mut CycleReport,
) -> Result<(Vec<KnownUpdate>, Vec<(String, Record)>), SyncError> {
    let mut out = Merged::default();
    for (store, mut records) in incoming {
        let Some((_, spec, adapter)) = registered.iter().find(|(n, _, _)| *n == store) else {
            continue;
        };
        let page = StorePage {
            engine,
            store: &store,
            spec,
            adapter: adapter.as_ref(),
        };
        // A key's versions keep the order they arrived in: reversed here,
        // kept by the stable sort, reversed back with their chunk.
        records.reverse();
        records.sort_by(|a, b| key_order(b).cmp(&key_order(a)));
        let mut reader = LocalReader::ByKey;
        let mut counts = Counts::default();
        while let Some(chunk) = next_chunk(&mut records) {
            page.merge_chunk(&mut reader, chunk, report, &mut counts, &mut out)?;
        }
        engine.emit(EventKind::Applied {
            store: store.clone(),
            inserted: counts.inserted,
            updated: counts.updated,
            deleted: counts.deleted,
            kept_local: counts.kept_local,
            unchanged: counts.unchanged,
            rejected: counts.rejected,
        });
    }
    Ok((out.known_updates, out.new_tombstones))
}

impl StorePage<'_> {
    /// The engine's tombstones of `keys`, to merge with the host's records.
    fn engine_tombstones(&self, keys: &BTreeSet<RecordKey>) -> Vec<Record> {
        let (Some(first), Some(last)) = (keys.first(), keys.last()) else {
            return Vec::new();
        };
        let range = (
            (first.scope.as_deref(), first.id.as_str()),
            (last.scope.as_deref(), last.id.as_str()),
        );
        lock(&self.engine.inner.state)
            .tombstones
            .get(self.store)
            .into_iter()
            .flatten()
            // The range test first: no key is built for most tombstones of
            // a store merged in many chunks.
            .filter(|t| {
                let k = key_order(t);
                k >= range.0 && k <= range.1 && keys.contains(&t.key())
            })
            .cloned()
            .collect()
    }

    fn merge_chunk(
        &self,
        reader: &mut LocalReader,
        records: Vec<Record>,
        report: &mut CycleReport,
        counts: &mut Counts,
        out: &mut Merged,
    ) -> Result<(), SyncError> {
        let (engine, store, spec) = (self.engine, self.store, self.spec);
        let keys: BTreeSet<RecordKey> = records.iter().map(Record::key).collect();
        let mut local = StoreState::new();
        // The tombstones the host itself holds, to tell it of newer ones.
        let mut host_tombs: HashMap<RecordKey, String> = HashMap::new();
        for r in reader.read(engine, store, self.adapter, &keys)? {
            if r.deleted {
                host_tombs.insert(r.key(), short_hash(&r));
            }
            local.insert(r);
        }
        for t in self.engine_tombstones(&keys) {
            let k = t.key();
            let stronger = local
                .get(&k)
                .is_none_or(|cur| spec.contract.compare(&t, cur) == Ordering::Greater);
            if stronger {
                local.insert(t);
            }
        }
        let before: HashMap<RecordKey, String> = local
            .tombstones()
            .map(|t| (t.key(), short_hash(t)))
            .collect();
        // Exactly which versions the relay holds, per key: only those may be
        // marked known. A local record that won (say, an edit the user made
        // while this cycle ran) is not on the relay and must still be pushed.
        let mut on_relay: HashMap<RecordKey, HashSet<String>> = HashMap::new();
        for r in &records {
            on_relay.entry(r.key()).or_default().insert(short_hash(r));
        }
        let merged = merge_in_place(spec, &mut local, records);
        for (key, reason) in &merged.rejected {
            engine.emit(EventKind::RecordRejected {
                store: store.to_string(),
                id: key.id.clone(),
                reason: reason.to_string(),
                code: reason.code().into(),
            });
        }
        report.rejected_records += merged.counts.rejected_invalid;
        let mut changes = merged.changes;
        // Merge gives the host no change when a newer tombstone replaces an
        // older one. A host that keeps tombstones would then keep the older
        // one, which loses to what the relay holds, and push it back after
        // every peer checkpoint: it is told of the winner like any delete.
        let superseded: Vec<Change> = on_relay
            .keys()
            .filter_map(|k| {
                let held = host_tombs.get(k)?;
                let r = local.get(k).filter(|r| r.deleted)?;
                (short_hash(r) != *held).then(|| Change::Delete(r.clone()))
            })
            .collect();
        if !superseded.is_empty() {
            changes.extend(superseded);
            changes.sort_by_key(|c| c.record().key());
        }
        for c in &changes {
            match c {
                Change::Insert(_) => counts.inserted += 1,
                Change::Update(_) => counts.updated += 1,
                Change::Delete(_) => counts.deleted += 1,
            }
        }
        counts.kept_local += merged.counts.kept_local;
        counts.unchanged += merged.counts.unchanged;
        counts.rejected += merged.counts.rejected_invalid;
        let applied = changes.len() as u64;
        if applied > 0 {
            // The change list is the host's to keep: hand it over, not a copy.
            apply_changes(engine, store, self.adapter, changes)?;
        }
        crash_point("after-apply");
        report.applied_changes += applied;
        // What the relay already has need not be pushed back.
        for (k, hashes) in on_relay {
            if let Some(r) = local.get(&k) {
                let h = short_hash(r);
                // A new tombstone, or a newer one replacing the one held:
                // the engine must not keep (and push back) the loser.
                if r.deleted && before.get(&k) != Some(&h) {
                    out.new_tombstones.push((store.to_string(), r.clone()));
                }
                if hashes.contains(&h) {
                    out.known_updates
                        .push((store.to_string(), key_string(&k), h));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: &str, n: i64) -> Record {
        Record::new(id, None, n, None, "dev_a", serde_json::json!({ "n": n }))
    }

    #[test]
    fn chunks_hold_whole_keys_in_order_and_the_page_shrinks_as_they_go() {
        // 25,000 keys, every 7th with a second and third version.
        let mut page = Vec::new();
        for i in 0..25_000 {
            page.push(version(&format!("k{i:05}"), 1));
        }
        for i in (0..25_000).step_by(7) {
            page.push(version(&format!("k{i:05}"), 2));
            page.push(version(&format!("k{i:05}"), 3));
        }
        let total = page.len();
        page.reverse();
        page.sort_by(|a, b| key_order(b).cmp(&key_order(a)));
        let full = page.capacity();
        let mut seen: Vec<(String, i64)> = Vec::new();
        let mut sizes = Vec::new();
        let mut capacities = Vec::new();
        while let Some(chunk) = next_chunk(&mut page) {
            capacities.push(page.capacity());
            let keys: BTreeSet<&str> = chunk.iter().map(|r| r.id.as_str()).collect();
            sizes.push(keys.len());
            seen.extend(chunk.iter().map(|r| (r.id.clone(), r.updated_at)));
        }
        assert_eq!(sizes, vec![MAX_CHANGED_KEYS, MAX_CHANGED_KEYS, 5_000]);
        assert_eq!(seen.len(), total);
        let mut expected = seen.clone();
        expected.sort();
        assert_eq!(
            seen, expected,
            "keys ascending, each key's versions as they arrived"
        );
        // After the second chunk, about 6,400 of 35,716 records are left.
        assert!(capacities[1] < full / 2, "{capacities:?} of {full}");
    }
}
