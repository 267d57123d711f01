//! Handing merged changes to the host's stores: the merge of incoming
//! records, and the deletes a held tombstone wins over a host record.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::crash::crash_point;
use super::{snapshot, store_failed, RegisteredStore, Session};
use crate::engine::bundle::StoreRecords;
use crate::engine::error::SyncError;
use crate::engine::events::{lock, EventKind};
use crate::engine::host::MAX_CHANGED_KEYS;
use crate::engine::state::{key_string, short_hash, EngineState};
use crate::engine::{CycleReport, StoreAdapter, SyncEngine};
use crate::merge::{merge_in_place, ArrivalBounds, Change, Record, RecordKey, StoreState};

/// Drops the records of one opened blob that break its arrival bounds
/// (`docs/MERGE.md`, "Bounded time and versions"): an `updatedAt` or a
/// `version` further ahead of the relay's `createdAt` of the blob than the
/// drift allows. Each is reported as a `recordRejected` event with its code
/// and counted as rejected; the local copy is kept and the rest of the
/// bundle applies. The bound depends on the blob, not on when it is read,
/// so every device, one that joins a year later included, decides the same;
/// the reader's clock (relay-corrected) only stands in for a `createdAt`
/// that is missing or beyond the relay's skew window.
pub(super) fn bound_arrivals(
    s: Session<'_>,
    created_at_secs: i64,
    stores: &mut [StoreRecords],
    report: &mut CycleReport,
) {
    let (engine, client, ..) = s.parts();
    let offset_ms = client
        .offset
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_mul(1000);
    let reader_now = engine.inner.config.clock.now_ms().saturating_add(offset_ms);
    let bounds = ArrivalBounds::for_blob(
        created_at_secs,
        reader_now,
        engine.inner.config.max_future_drift_ms,
    );
    report.rejected_records += reject_out_of_bounds(engine, &bounds, stores);
}

/// Drops (and reports as `recordRejected`) every record of `stores` that
/// breaks `bounds`; returns how many. The pull and the import share it, so
/// a record refused in a blob is refused in an export file too.
pub(crate) fn reject_out_of_bounds(
    engine: &SyncEngine,
    bounds: &ArrivalBounds,
    stores: &mut [StoreRecords],
) -> u64 {
    let mut rejected = 0;
    for StoreRecords { store, records } in stores {
        records.retain(|r| match bounds.check(r) {
            Ok(()) => true,
            Err(reason) => {
                engine.emit(EventKind::RecordRejected {
                    store: store.clone(),
                    id: r.id.clone(),
                    reason: reason.to_string(),
                    code: reason.code().into(),
                });
                rejected += 1;
                false
            }
        });
    }
    rejected
}

/// A host record that loses by the store's contract to a tombstone the
/// engine holds for its key is deleted on the host, the way a pull deletes.
/// The host may never have seen that tombstone (merge gives a host no change
/// for a delete of a key it did not have, or for a newer tombstone replacing
/// an older one), so it can create or keep a version every other device
/// has already deleted; without this, that version stays live here while the
/// engine's tombstone hides it from every merge, and the device never
/// converges. `records` then holds the tombstone in its place, which the
/// relay already has, so nothing is pushed for it.
pub(super) fn supersede_losing_host_records(
    engine: &SyncEngine,
    store: &str,
    spec: &crate::merge::StoreSpec,
    adapter: &dyn StoreAdapter,
    tombs: &[Record],
    records: &mut [Record],
) -> Result<(), SyncError> {
    if tombs.is_empty() {
        return Ok(());
    }
    let by_key: HashMap<RecordKey, &Record> = tombs.iter().map(|t| (t.key(), t)).collect();
    let mut changes = Vec::new();
    for r in records.iter_mut() {
        let Some(t) = by_key.get(&r.key()) else {
            continue;
        };
        if spec.contract.compare(t, r) == std::cmp::Ordering::Greater {
            *r = (*t).clone();
            changes.push(Change::Delete((*t).clone()));
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    let deleted = changes.len() as u64;
    apply_changes(engine, store, adapter, changes)?;
    engine.emit(EventKind::Applied {
        store: store.into(),
        inserted: 0,
        updated: 0,
        deleted,
        kept_local: 0,
        unchanged: 0,
        rejected: 0,
    });
    Ok(())
}

/// Hands a change list to the host; a failure is logged as a `storeError`.
fn apply_changes(
    engine: &SyncEngine,
    store: &str,
    adapter: &dyn StoreAdapter,
    changes: Vec<Change>,
) -> Result<(), SyncError> {
    adapter
        .apply(changes)
        .map_err(|e| store_failed(engine, store, e))
}

pub(super) type KnownUpdate = (String, String, String);

pub(super) fn record_merged(
    st: &mut EngineState,
    known_updates: Vec<KnownUpdate>,
    new_tombstones: Vec<(String, Record)>,
) {
    for (store, k, h) in known_updates {
        st.known.entry(store).or_default().insert(k, h);
    }
    for (store, t) in new_tombstones {
        let list = st.tombstones.entry(store).or_default();
        list.retain(|x| x.key() != t.key());
        list.push(t);
    }
}

/// The host's records a merge of `incoming` needs, and the keys they were
/// read for (`None`: the store was read whole).
///
/// Merge is per key (a key absent from the batch is left alone), and every
/// use of the local records in [`merge_apply`] (`host_tombs`, `before`,
/// `on_relay`, the engine's tombstones) looks only at the batch's keys. So
/// the records of those keys give the same changes, `known` updates and
/// tombstones as the whole store, at O(page) instead of O(store):
/// `snapshot_keys` returns them tombstones included and leaves out keys the
/// store does not hold, as a whole snapshot has them.
///
/// Only a store whose `changes_since` answers `Some` is read by key: that is
/// the trait's sign of the capability (the default `snapshot_keys` filters a
/// whole snapshot), and a host that refreshes its view there (the memory
/// folder looks at its files) does so before the lookup, as it does before
/// a push's.
/// More keys than [`MAX_CHANGED_KEYS`], no capability, or an error from
/// either call: the whole snapshot, as before (its failure fails the cycle).
fn local_records(
    engine: &SyncEngine,
    store: &str,
    adapter: &dyn StoreAdapter,
    incoming: &[Record],
) -> Result<(Vec<Record>, Option<HashSet<RecordKey>>), SyncError> {
    let keys: BTreeSet<RecordKey> = incoming.iter().map(Record::key).collect();
    if keys.len() <= MAX_CHANGED_KEYS && matches!(adapter.changes_since(None), Ok(Some(_))) {
        let keys: Vec<RecordKey> = keys.into_iter().collect();
        if let Ok(mut held) = adapter.snapshot_keys(&keys) {
            let wanted: HashSet<RecordKey> = keys.into_iter().collect();
            // A host that answers more than asked changes nothing, but the
            // merge need not carry it.
            held.retain(|r| wanted.contains(&r.key()));
            return Ok((held, Some(wanted)));
        }
    }
    Ok((snapshot(engine, store, adapter)?, None))
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
    let mut known_updates: Vec<KnownUpdate> = Vec::new();
    let mut new_tombstones: Vec<(String, Record)> = Vec::new();
    for (store, records) in incoming {
        let Some((_, spec, adapter)) = registered.iter().find(|(n, _, _)| *n == store) else {
            continue;
        };
        let mut local = StoreState::new();
        // The tombstones the host itself holds, to tell it of newer ones.
        let mut host_tombs: HashMap<RecordKey, String> = HashMap::new();
        let (held, wanted) = local_records(engine, &store, adapter.as_ref(), &records)?;
        for r in held {
            if r.deleted {
                host_tombs.insert(r.key(), short_hash(&r));
            }
            local.insert(r);
        }
        let engine_tombs: Vec<Record> = lock(&engine.inner.state)
            .tombstones
            .get(&store)
            .into_iter()
            .flatten()
            .filter(|t| wanted.as_ref().is_none_or(|w| w.contains(&t.key())))
            .cloned()
            .collect();
        for t in engine_tombs {
            let k = t.key();
            let stronger = local
                .get(&k)
                .is_none_or(|cur| spec.contract.compare(&t, cur) == std::cmp::Ordering::Greater);
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
                store: store.clone(),
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
        let (mut ins, mut upd, mut del) = (0u64, 0u64, 0u64);
        for c in &changes {
            match c {
                Change::Insert(_) => ins += 1,
                Change::Update(_) => upd += 1,
                Change::Delete(_) => del += 1,
            }
        }
        let applied = changes.len() as u64;
        if applied > 0 {
            // The change list is the host's to keep: hand it over, not a copy.
            apply_changes(engine, &store, adapter.as_ref(), changes)?;
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
                    new_tombstones.push((store.clone(), r.clone()));
                }
                if hashes.contains(&h) {
                    known_updates.push((store.clone(), key_string(&k), h));
                }
            }
        }
        engine.emit(EventKind::Applied {
            store: store.clone(),
            inserted: ins,
            updated: upd,
            deleted: del,
            kept_local: merged.counts.kept_local,
            unchanged: merged.counts.unchanged,
            rejected: merged.counts.rejected_invalid,
        });
    }
    Ok((known_updates, new_tombstones))
}
