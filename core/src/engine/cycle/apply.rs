//! Around the merge of incoming records (`merge_page.rs`): the arrival
//! bounds a record must keep, handing changes to the host, recording what
//! was merged, and the deletes a held tombstone wins over a host record.

use std::collections::HashMap;

use super::{store_failed, Session};
use crate::engine::bundle::StoreRecords;
use crate::engine::error::SyncError;
use crate::engine::events::EventKind;
use crate::engine::state::EngineState;
use crate::engine::{CycleReport, StoreAdapter, SyncEngine};
use crate::merge::{ArrivalBounds, Change, Record, RecordKey};

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
pub(super) fn apply_changes(
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
