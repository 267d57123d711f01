//! One sync cycle: push (outbox first, then the new bundle), then pull.
//! Every step that matters is written to the state directory before the
//! next, so a kill at any point loses nothing and duplicates nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::bundle::{Bundle, StoreRecords, BUNDLE_FORMAT};
use super::error::SyncError;
use super::events::{lock, EventKind};
use super::relay_client::{PullItem, PushOutcome, RelayClient};
use super::state::{
    key_string, short_hash, CycleSummary, EngineState, PageDelta, ParkedBundle, PendingPush,
    QuarantineEntry, JOURNAL_COMPACT_BYTES, MAX_GAVE_UP_ENTRIES, MAX_PARKED_BUNDLES,
    MAX_PARKED_BYTES, MAX_QUARANTINE_ENTRIES,
};
use super::{keycheck, CycleReport, Registered, SyncEngine, Unsynced};
use crate::integrity::{sha256_hex, verify_blob};
use crate::kdf::EnvelopeKey;
use crate::merge::{merge_in_place, Change, Record, RecordKey, StoreState};

/// Test hook: `AZMX_CRASH_AT=<point>` aborts the process at that point, so
/// crash-safety tests can SIGKILL-equivalently stop a real cycle anywhere.
fn crash_point(point: &str) {
    if std::env::var("AZMX_CRASH_AT").is_ok_and(|p| p == point) {
        std::process::abort();
    }
}

pub(crate) fn run(engine: &SyncEngine, trigger: &str) -> Result<CycleReport, SyncError> {
    let started = Instant::now();
    engine.emit(EventKind::CycleStarted {
        trigger: trigger.into(),
    });
    let _dir_lock = engine.inner.dir.lock()?;
    // Another process may have advanced the state since we loaded it.
    {
        let mut st = lock(&engine.inner.state);
        *st = engine.inner.dir.load()?;
        // Pages journalled by a cycle that did not finish (or a torn last
        // line): fold them in now so each cycle starts from an empty journal.
        if engine.inner.dir.journal_len() > 0 {
            engine.inner.dir.save(&st)?;
        }
    }
    let mut report = CycleReport::default();
    let mut result = run_inner(engine, &mut report);
    report.duration_ms = started.elapsed().as_millis() as u64;
    let ok = result.is_ok();
    {
        let mut st = lock(&engine.inner.state);
        let now = engine.inner.config.clock.now_ms();
        st.last_cycle = Some(CycleSummary {
            at_ms: now,
            ok,
            error_code: result.as_ref().err().map(|e| e.code().to_string()),
            duration_ms: report.duration_ms,
        });
        let prev_success = st.last_success_ms;
        if ok {
            st.last_success_ms = Some(now);
        }
        if matches!(result, Err(SyncError::Revoked)) {
            st.revoked = true;
        }
        // A cycle whose state cannot be written did not finish: say so (the
        // journal still holds its pages, so the next cycle resumes from them).
        if let Err(e) = engine.inner.dir.save(&st) {
            if result.is_ok() {
                if let Some(c) = st.last_cycle.as_mut() {
                    c.ok = false;
                    c.error_code = Some(e.code().to_string());
                }
                st.last_success_ms = prev_success;
                result = Err(e);
            }
        }
    }
    let ok = result.is_ok();
    engine.emit(EventKind::CycleFinished {
        duration_ms: report.duration_ms,
        pushed: report.pushed_seq.is_some(),
        pulled_blobs: report.pulled_blobs,
        ok,
    });
    result.map(|()| report)
}

fn run_inner(engine: &SyncEngine, report: &mut CycleReport) -> Result<(), SyncError> {
    if lock(&engine.inner.state).revoked {
        engine.emit(EventKind::Revoked);
        return Err(SyncError::Revoked);
    }
    // Registration comes before the receipt (set_receipt needs a device), so
    // an unregistered engine reports the first missing step.
    let (client, device_id, lid) = engine.session()?;
    let key = engine.key()?;
    let result = (|| {
        keycheck::verify(engine, &client, &key, &device_id, &lid)?;
        push(engine, &client, &key, &device_id, &lid, report)?;
        pull(engine, &client, &key, &device_id, &lid, report)
    })();
    // Keep a clock correction learnt during this cycle.
    let offset = client.offset.load(Ordering::Relaxed);
    let mut st = lock(&engine.inner.state);
    if st.clock_offset_secs != offset {
        st.clock_offset_secs = offset;
        engine.inner.dir.save(&st)?;
    }
    result
}

fn stores(
    engine: &SyncEngine,
) -> Vec<(
    String,
    crate::merge::StoreSpec,
    std::sync::Arc<dyn super::StoreAdapter>,
)> {
    lock(&engine.inner.stores)
        .iter()
        .map(|Registered { spec, adapter }| {
            (
                spec.name.as_str().to_string(),
                spec.clone(),
                std::sync::Arc::clone(adapter),
            )
        })
        .collect()
}

/// The host's records of one store. A failure is logged as a `storeError`
/// event, like a failed `apply`, so the activity log names the store either way.
fn snapshot(
    engine: &SyncEngine,
    store: &str,
    adapter: &dyn super::StoreAdapter,
) -> Result<Vec<Record>, SyncError> {
    adapter
        .snapshot()
        .map_err(|e| store_failed(engine, store, e))
}

/// A host store's failure, logged as a `storeError` event and returned typed.
fn store_failed(engine: &SyncEngine, store: &str, e: super::HostError) -> SyncError {
    engine.emit(EventKind::StoreError {
        store: store.into(),
        message: e.message.clone(),
    });
    SyncError::Store {
        store: store.into(),
        message: e.message,
    }
}

// ---------------------------------------------------------------- push --

fn push(
    engine: &SyncEngine,
    client: &RelayClient,
    key: &EnvelopeKey,
    device_id: &str,
    lid: &str,
    report: &mut CycleReport,
) -> Result<(), SyncError> {
    // 1. A pending push from an earlier cycle goes first, same seq, same bytes.
    let pending = lock(&engine.inner.state).outbox.clone();
    if let Some(p) = pending {
        match engine.inner.dir.read_outbox_blob() {
            Some(blob) if sha256_hex(&blob) == p.sha256 => {
                engine.emit(EventKind::PushRetried { seq: p.seq });
                send_pending(engine, client, device_id, &p, &blob, report)?;
            }
            // The blob never reached the disk: nothing was sent, rebuild.
            _ => clear_outbox(engine)?,
        }
    }
    // 2. Whatever changed since the relay last heard from us.
    for _attempt in 0..3 {
        let Some((pending, blob)) = build_bundle(engine, key, device_id, lid)? else {
            return Ok(());
        };
        // Outbox before network: a crash from here on retries these bytes.
        engine.inner.dir.write_outbox_blob(&blob)?;
        crash_point("after-outbox-blob");
        {
            let mut st = lock(&engine.inner.state);
            st.outbox = Some(pending.clone());
            engine.inner.dir.save(&st)?;
        }
        crash_point("before-push");
        if send_pending(engine, client, device_id, &pending, &blob, report)? {
            return Ok(());
        }
    }
    Err(SyncError::Relay {
        status: 409,
        code: "seq_conflict".into(),
        message: "could not agree on a sequence number with the relay".into(),
    })
}

/// Sends a pending push. `Ok(true)` when stored (now or earlier); `Ok(false)`
/// when the seq was taken by different bytes and the bundle must be rebuilt.
fn send_pending(
    engine: &SyncEngine,
    client: &RelayClient,
    device_id: &str,
    p: &PendingPush,
    blob: &[u8],
    report: &mut CycleReport,
) -> Result<bool, SyncError> {
    let outcome = client.push(&engine.inner.identity, device_id, p.seq, &p.sha256, blob)?;
    crash_point("after-push");
    match outcome {
        PushOutcome::Stored => {}
        PushOutcome::Conflict {
            existing_sha256: Some(existing),
            ..
        } if existing == p.sha256 => {}
        PushOutcome::Conflict { last_seq, .. } => {
            let mut st = lock(&engine.inner.state);
            st.next_seq = last_seq.saturating_add(1);
            st.outbox = None;
            engine.inner.dir.save(&st)?;
            drop(st);
            engine.inner.dir.clear_outbox_blob();
            engine.emit(EventKind::SeqResynced { last_seq });
            return Ok(false);
        }
    }
    {
        let mut st = lock(&engine.inner.state);
        for (store, hashes) in &p.hashes {
            st.known
                .entry(store.clone())
                .or_default()
                .extend(hashes.clone());
        }
        st.next_seq = st.next_seq.max(p.seq.saturating_add(1));
        st.pushes_since_checkpoint = if p.checkpoint {
            0
        } else {
            st.pushes_since_checkpoint.saturating_add(1)
        };
        st.outbox = None;
        engine.inner.dir.save(&st)?;
    }
    engine.inner.dir.clear_outbox_blob();
    report.pushed_seq = Some(p.seq);
    report.pushed_records += p.records;
    report.sealed_bytes += blob.len() as u64;
    report.checkpoint |= p.checkpoint;
    engine.emit(EventKind::Pushed {
        seq: p.seq,
        sealed_bytes: blob.len() as u64,
        records: p.records,
        checkpoint: p.checkpoint,
    });
    if p.checkpoint && p.seq > 1 {
        // Older blobs of ours are superseded; failing to prune costs only space.
        match client.prune(&engine.inner.identity, device_id, p.seq) {
            Ok(n) => engine.emit(EventKind::Pruned {
                checkpoint_seq: p.seq,
                pruned: n,
            }),
            Err(SyncError::Revoked) => return Err(SyncError::Revoked),
            Err(_) => {}
        }
    }
    Ok(true)
}

fn clear_outbox(engine: &SyncEngine) -> Result<(), SyncError> {
    let mut st = lock(&engine.inner.state);
    st.outbox = None;
    engine.inner.dir.save(&st)?;
    drop(st);
    engine.inner.dir.clear_outbox_blob();
    Ok(())
}

/// Snapshots every store and seals what changed (or everything, for a
/// checkpoint). `None` when nothing changed: an idle cycle uploads nothing.
fn build_bundle(
    engine: &SyncEngine,
    key: &EnvelopeKey,
    device_id: &str,
    lid: &str,
) -> Result<Option<(PendingPush, Vec<u8>)>, SyncError> {
    let (seq, since_cp, known, tombstones) = {
        let st = lock(&engine.inner.state);
        (
            st.next_seq,
            st.pushes_since_checkpoint,
            st.known.clone(),
            st.tombstones.clone(),
        )
    };
    let mut changed_any = false;
    let mut full: Vec<(String, Vec<Record>, BTreeMap<String, String>)> = Vec::new();
    let mut delta: Vec<StoreRecords> = Vec::new();
    for (name, spec, adapter) in stores(engine) {
        let mut records = snapshot(engine, &name, adapter.as_ref())?;
        if let Some(tombs) = tombstones.get(&name) {
            supersede_losing_host_records(
                engine,
                &name,
                &spec,
                adapter.as_ref(),
                tombs,
                &mut records,
            )?;
            // Tombstones the engine holds for keys the host no longer lists.
            let present: HashSet<String> = records.iter().map(|r| key_string(&r.key())).collect();
            records.extend(
                tombs
                    .iter()
                    .filter(|t| !present.contains(&key_string(&t.key())))
                    .cloned(),
            );
        }
        let known_store = known.get(&name);
        let mut hashes = BTreeMap::new();
        let mut changed = Vec::new();
        for r in &records {
            let k = key_string(&r.key());
            let h = short_hash(r);
            if known_store.and_then(|m| m.get(&k)) != Some(&h) {
                changed.push(r.clone());
            }
            hashes.insert(k, h);
        }
        changed_any |= !changed.is_empty();
        if !changed.is_empty() {
            delta.push(StoreRecords {
                store: name.clone(),
                records: changed,
            });
        }
        full.push((name, records, hashes));
    }
    if !changed_any {
        return Ok(None);
    }
    let checkpoint =
        seq == 1 || since_cp.saturating_add(1) >= engine.inner.config.checkpoint_every.max(1);
    let mut pending_hashes = BTreeMap::new();
    let stores_out = if checkpoint {
        full.into_iter()
            .map(|(store, records, hashes)| {
                pending_hashes.insert(store.clone(), hashes);
                StoreRecords { store, records }
            })
            .collect()
    } else {
        for s in &delta {
            let h = s
                .records
                .iter()
                .map(|r| (key_string(&r.key()), short_hash(r)))
                .collect();
            pending_hashes.insert(s.store.clone(), h);
        }
        delta
    };
    let bundle = Bundle {
        format: BUNDLE_FORMAT.into(),
        license_id: lid.into(),
        device_id: device_id.into(),
        seq,
        checkpoint,
        created_at_ms: engine.inner.config.clock.now_ms(),
        stores: stores_out,
    };
    let records = bundle.record_count() as u64;
    let plaintext = zeroize::Zeroizing::new(
        serde_json::to_vec(&bundle)
            .map_err(|e| SyncError::Config(format!("cannot serialise the bundle: {e}")))?,
    );
    let blob = key.seal(&plaintext);
    Ok(Some((
        PendingPush {
            seq,
            sha256: sha256_hex(&blob),
            checkpoint,
            records,
            created_at_ms: bundle.created_at_ms,
            hashes: pending_hashes,
        },
        blob,
    )))
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
fn supersede_losing_host_records(
    engine: &SyncEngine,
    store: &str,
    spec: &crate::merge::StoreSpec,
    adapter: &dyn super::StoreAdapter,
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
    adapter: &dyn super::StoreAdapter,
    changes: Vec<Change>,
) -> Result<(), SyncError> {
    adapter
        .apply(changes)
        .map_err(|e| store_failed(engine, store, e))
}

// ---------------------------------------------------------------- pull --

fn pull(
    engine: &SyncEngine,
    client: &RelayClient,
    key: &EnvelopeKey,
    device_id: &str,
    lid: &str,
    report: &mut CycleReport,
) -> Result<(), SyncError> {
    let identity = &engine.inner.identity;
    // Bundles kept for stores registered since: merge what they carry now.
    unpark(engine, client, key, device_id, lid, report)?;
    // Quarantined bundles get another chance each cycle, a bounded number of times.
    let retry: Vec<QuarantineEntry> = lock(&engine.inner.state)
        .quarantine
        .iter()
        .filter(|q| !q.gave_up)
        .cloned()
        .collect();
    if !retry.is_empty() {
        let items: Vec<PullItem> = retry
            .iter()
            .map(|q| PullItem {
                device_id: q.device_id.clone(),
                seq: q.seq,
                sha256: q.sha256.clone(),
            })
            .collect();
        report.pulled_blobs += items.len() as u64;
        let cursor = lock(&engine.inner.state).cursor.clone();
        process_items(engine, client, key, device_id, lid, &items, &cursor, report)?;
    }
    loop {
        let since = lock(&engine.inner.state).cursor.clone();
        let page = client.pull(identity, device_id, &since, engine.inner.config.pull_page)?;
        report.pulled_blobs += page.items.len() as u64;
        if !page.items.is_empty() {
            engine.emit(EventKind::Pulled {
                blobs: page.items.len() as u64,
            });
        }
        process_items(
            engine,
            client,
            key,
            device_id,
            lid,
            &page.items,
            &page.next_cursor,
            report,
        )?;
        if !page.has_more || page.items.is_empty() {
            return Ok(());
        }
    }
}

/// Fetches, verifies, opens and merges a list of blobs, then saves the
/// cursor. Bad blobs are quarantined; records of stores not registered are
/// parked; the rest apply.
#[allow(clippy::too_many_arguments)]
fn process_items(
    engine: &SyncEngine,
    client: &RelayClient,
    key: &EnvelopeKey,
    device_id: &str,
    lid: &str,
    items: &[PullItem],
    next_cursor: &str,
    report: &mut CycleReport,
) -> Result<(), SyncError> {
    let mut incoming: HashMap<String, Vec<Record>> = HashMap::new();
    let registered = stores(engine);
    let is_registered = |name: &str| registered.iter().any(|(n, _, _)| n == name);
    let (mut quarantine, mut parked) = {
        let st = lock(&engine.inner.state);
        (st.quarantine.clone(), st.parked.clone())
    };
    let mut to_park: Vec<(String, Vec<u8>)> = Vec::new();
    for item in items {
        let Some(blob) =
            client.blob(&engine.inner.identity, device_id, &item.device_id, item.seq)?
        else {
            // Pruned after a checkpoint of its owner superseded it.
            quarantine.retain(|q| !(q.device_id == item.device_id && q.seq == item.seq));
            continue;
        };
        match open_bundle(engine, key, lid, item, &blob) {
            Ok(bundle) => {
                if let Some(pos) = quarantine
                    .iter()
                    .position(|q| q.device_id == item.device_id && q.seq == item.seq)
                {
                    quarantine.remove(pos);
                    engine.emit(EventKind::QuarantineCleared {
                        device_id: item.device_id.clone(),
                        seq: item.seq,
                    });
                }
                let mut carried = Vec::new();
                let mut missing = Vec::new();
                for s in bundle.stores {
                    if is_registered(&s.store) {
                        if !s.records.is_empty() {
                            carried.push(s.store.clone());
                        }
                        incoming.entry(s.store).or_default().extend(s.records);
                        continue;
                    }
                    engine.emit(EventKind::UnknownStore {
                        store: s.store.clone(),
                        device_id: item.device_id.clone(),
                        seq: item.seq,
                    });
                    // A name no host can register could never be merged.
                    if !s.records.is_empty() && crate::merge::StoreName::new(&*s.store).is_ok() {
                        carried.push(s.store.clone());
                        missing.push(s.store);
                    }
                }
                if !missing.is_empty() {
                    let sha256 = sha256_hex(&blob);
                    park(
                        &mut parked,
                        ParkedBundle {
                            device_id: item.device_id.clone(),
                            seq: item.seq,
                            sha256: sha256.clone(),
                            checkpoint: bundle.checkpoint,
                            bytes: blob.len() as u64,
                            stores: carried,
                            missing,
                        },
                    );
                    to_park.push((sha256, blob));
                }
            }
            Err(reason) => {
                report.quarantined += 1;
                let entry = match quarantine
                    .iter_mut()
                    .find(|q| q.device_id == item.device_id && q.seq == item.seq)
                {
                    Some(e) => e,
                    None => {
                        quarantine.push(QuarantineEntry {
                            device_id: item.device_id.clone(),
                            seq: item.seq,
                            sha256: item.sha256.clone(),
                            ..Default::default()
                        });
                        quarantine.last_mut().expect("just pushed")
                    }
                };
                entry.attempts += 1;
                entry.reason = reason.clone();
                if entry.attempts >= engine.inner.config.max_quarantine_attempts {
                    entry.gave_up = true;
                    engine.emit(EventKind::QuarantineGaveUp {
                        device_id: item.device_id.clone(),
                        seq: item.seq,
                        reason,
                    });
                } else {
                    engine.emit(EventKind::Quarantined {
                        device_id: item.device_id.clone(),
                        seq: item.seq,
                        reason,
                        attempts: entry.attempts,
                    });
                }
            }
        }
    }
    bound_quarantine(engine, &mut quarantine);
    check_parked_bound(&parked)?;
    // Parked bytes are durable before the cursor passes their blobs.
    for (sha256, blob) in &to_park {
        if parked.iter().any(|p| &p.sha256 == sha256) {
            engine.inner.dir.write_parked(sha256, blob)?;
        }
    }
    crash_point("before-apply");
    let (known, tombstones) = merge_apply(engine, &registered, incoming, report)?;
    let mut st = lock(&engine.inner.state);
    // One journal line per page, O(page): the cursor with what it passed.
    let delta = PageDelta {
        cursor: next_cursor.to_string(),
        known,
        tombstones,
        quarantine: (quarantine != st.quarantine).then_some(quarantine),
        parked: (parked != st.parked).then_some(parked),
        generation: 0,
    };
    let parked_changed = delta.parked.is_some();
    let journal_len = engine.inner.dir.append_page(&delta)?;
    delta.apply_to(&mut st);
    if journal_len > JOURNAL_COMPACT_BYTES {
        engine.inner.dir.save(&st)?;
    }
    if parked_changed {
        engine.inner.dir.prune_parked(&st.parked);
    }
    Ok(())
}

/// Keeps the quarantine bounded whatever a peer or the relay lists: at most
/// [`MAX_GAVE_UP_ENTRIES`] given-up entries and [`MAX_QUARANTINE_ENTRIES`] in
/// all, oldest given-up entries evicted first. Each eviction is reported.
fn bound_quarantine(engine: &SyncEngine, quarantine: &mut Vec<QuarantineEntry>) {
    let gave_up = quarantine.iter().filter(|q| q.gave_up).count();
    let mut evict_gave_up = gave_up.saturating_sub(MAX_GAVE_UP_ENTRIES);
    let mut evict_total = quarantine.len().saturating_sub(MAX_QUARANTINE_ENTRIES);
    if evict_gave_up == 0 && evict_total == 0 {
        return;
    }
    let mut evicted = Vec::new();
    // Oldest first: given-up entries, then (if still over) any entry.
    quarantine.retain(|q| {
        let go = q.gave_up && (evict_gave_up > 0 || evict_total > 0);
        if go {
            evict_gave_up = evict_gave_up.saturating_sub(1);
            evict_total = evict_total.saturating_sub(1);
            evicted.push(q.clone());
        }
        !go
    });
    if evict_total > 0 {
        let drained: Vec<QuarantineEntry> = quarantine.drain(..evict_total).collect();
        evicted.extend(drained);
    }
    for q in evicted {
        engine.emit(EventKind::QuarantineEvicted {
            device_id: q.device_id,
            seq: q.seq,
            reason: q.reason,
        });
    }
}

/// Adds a bundle to the parked list. A checkpoint holds every record of its
/// device, so it replaces that device's older parked bundles whose stores it
/// carries too.
fn park(parked: &mut Vec<ParkedBundle>, new: ParkedBundle) {
    if parked.iter().any(|p| p.sha256 == new.sha256) {
        return;
    }
    if new.checkpoint {
        parked.retain(|p| {
            !(p.device_id == new.device_id
                && p.seq < new.seq
                && p.missing.iter().all(|m| new.stores.contains(m)))
        });
    }
    parked.push(new);
}

fn check_parked_bound(parked: &[ParkedBundle]) -> Result<(), SyncError> {
    let bytes: u64 = parked.iter().map(|p| p.bytes).sum();
    if parked.len() <= MAX_PARKED_BUNDLES && bytes <= MAX_PARKED_BYTES {
        return Ok(());
    }
    let mut names: Vec<&str> = parked
        .iter()
        .flat_map(|p| p.missing.iter().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    names.truncate(8);
    Err(SyncError::Config(format!(
        "records of stores this device has not registered ({}) fill the space kept for them \
         ({MAX_PARKED_BUNDLES} bundles, {} MiB); register those stores: the pull stopped \
         before them and resumes then, nothing is lost",
        names.join(", "),
        MAX_PARKED_BYTES >> 20,
    )))
}

/// Merges the parked bundles' records of stores registered since they were
/// parked, then forgets the bundles nothing is missing from any more.
fn unpark(
    engine: &SyncEngine,
    client: &RelayClient,
    key: &EnvelopeKey,
    device_id: &str,
    lid: &str,
    report: &mut CycleReport,
) -> Result<(), SyncError> {
    let registered = stores(engine);
    let is_registered = |name: &str| registered.iter().any(|(n, _, _)| n == name);
    let mut parked = lock(&engine.inner.state).parked.clone();
    if !parked
        .iter()
        .any(|p| p.missing.iter().any(|m| is_registered(m)))
    {
        engine.inner.dir.prune_parked(&parked);
        return Ok(());
    }
    let mut incoming: HashMap<String, Vec<Record>> = HashMap::new();
    for p in parked.iter_mut() {
        if !p.missing.iter().any(|m| is_registered(m)) {
            continue;
        }
        let item = PullItem {
            device_id: p.device_id.clone(),
            seq: p.seq,
            sha256: p.sha256.clone(),
        };
        // The kept copy first; if it is unreadable, the relay may still have it.
        let local = engine
            .inner
            .dir
            .read_parked(&p.sha256)
            .and_then(|b| open_bundle(engine, key, lid, &item, &b).ok());
        let bundle = match local {
            Some(b) => Some(b),
            None => client
                .blob(&engine.inner.identity, device_id, &p.device_id, p.seq)?
                .and_then(|b| open_bundle(engine, key, lid, &item, &b).ok()),
        };
        let Some(bundle) = bundle else {
            engine.emit(EventKind::BundleInvalid {
                device_id: p.device_id.clone(),
                seq: p.seq,
                reason: "kept bundle unreadable and gone from the relay".into(),
            });
            p.missing.clear();
            continue;
        };
        for s in bundle.stores {
            if p.missing.contains(&s.store) && is_registered(&s.store) {
                incoming.entry(s.store).or_default().extend(s.records);
            }
        }
        p.missing.retain(|m| !is_registered(m));
    }
    parked.retain(|p| !p.missing.is_empty());
    let (known_updates, new_tombstones) = merge_apply(engine, &registered, incoming, report)?;
    let mut st = lock(&engine.inner.state);
    record_merged(&mut st, known_updates, new_tombstones);
    st.parked = parked;
    engine.inner.dir.save(&st)?;
    engine.inner.dir.prune_parked(&st.parked);
    Ok(())
}

type KnownUpdate = (String, String, String);

fn record_merged(
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

/// Merges incoming records of registered stores into the host's stores and
/// applies the changes. Returns the `known` updates (only versions the relay
/// holds) and the tombstones the engine must now keep.
#[allow(clippy::type_complexity)]
fn merge_apply(
    engine: &SyncEngine,
    registered: &[(
        String,
        crate::merge::StoreSpec,
        std::sync::Arc<dyn super::StoreAdapter>,
    )],
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
        for r in snapshot(engine, &store, adapter.as_ref())? {
            if r.deleted {
                host_tombs.insert(r.key(), short_hash(&r));
            }
            local.insert(r);
        }
        let engine_tombs = lock(&engine.inner.state)
            .tombstones
            .get(&store)
            .cloned()
            .unwrap_or_default();
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

/// Verify → open → parse → check context. The error is the quarantine reason.
fn open_bundle(
    engine: &SyncEngine,
    key: &EnvelopeKey,
    lid: &str,
    item: &PullItem,
    blob: &[u8],
) -> Result<Bundle, String> {
    if let Err(crate::Error::BlobIntegrity { expected, actual }) = verify_blob(&item.sha256, blob) {
        engine.emit(EventKind::BlobIntegrityError {
            device_id: item.device_id.clone(),
            seq: item.seq,
            expected,
            actual,
        });
        return Err("blob_integrity".into());
    }
    let plaintext = match key.open(blob) {
        Ok(p) => zeroize::Zeroizing::new(p),
        Err(e) => {
            engine.emit(EventKind::DecryptFailed {
                device_id: item.device_id.clone(),
                seq: item.seq,
            });
            return Err(e.code().into());
        }
    };
    let bundle: Bundle = match serde_json::from_slice(&plaintext) {
        Ok(b) => b,
        Err(_) => {
            engine.emit(EventKind::BundleInvalid {
                device_id: item.device_id.clone(),
                seq: item.seq,
                reason: "not a bundle".into(),
            });
            return Err("bundle_invalid".into());
        }
    };
    if let Err(field) = bundle.check_context(lid, &item.device_id, item.seq) {
        engine.emit(EventKind::ContextMismatch {
            device_id: item.device_id.clone(),
            seq: item.seq,
            field: field.as_str().into(),
        });
        return Err("context_mismatch".into());
    }
    Ok(bundle)
}

pub(crate) fn unsynced(engine: &SyncEngine) -> Result<Unsynced, SyncError> {
    let known = lock(&engine.inner.state).known.clone();
    let mut out = Unsynced::default();
    for (name, _spec, adapter) in stores(engine) {
        for r in snapshot(engine, &name, adapter.as_ref())? {
            let k = key_string(&r.key());
            if known.get(&name).and_then(|m| m.get(&k)) != Some(&short_hash(&r)) {
                out.count += 1;
                out.oldest_updated_at_ms = Some(
                    out.oldest_updated_at_ms
                        .map_or(r.updated_at, |o| o.min(r.updated_at)),
                );
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64, gave_up: bool) -> QuarantineEntry {
        QuarantineEntry {
            device_id: format!("dev{i}"),
            seq: i,
            sha256: "0".repeat(64),
            reason: "blob_integrity".into(),
            attempts: 3,
            gave_up,
        }
    }

    #[test]
    fn each_eviction_is_reported_as_quarantine_evicted() {
        let tmp = tempfile::tempdir().unwrap();
        let engine = SyncEngine::new(
            super::super::EngineConfig::new(tmp.path()),
            std::sync::Arc::new(super::super::UreqTransport::new(
                std::time::Duration::from_secs(1),
            )),
        )
        .unwrap();
        // 100 given up (36 over their bound) and 200 others: 300 in all,
        // 44 over, so the 44 oldest given-up entries go.
        let mut q: Vec<QuarantineEntry> = (0..300).map(|i| entry(i, i < 100)).collect();
        bound_quarantine(&engine, &mut q);
        assert_eq!(q.len(), MAX_QUARANTINE_ENTRIES);
        let evicted: Vec<EventKind> = engine
            .recent_activity(512)
            .into_iter()
            .filter(|e| e.type_name() == "quarantineEvicted")
            .map(|e| e.kind)
            .collect();
        assert_eq!(evicted.len(), 44);
        let json = serde_json::to_value(&evicted[0]).unwrap();
        assert_eq!(json["deviceId"], "dev0");
        assert_eq!(json["seq"], 0);
        assert_eq!(json["reason"], "blob_integrity");
        assert!(engine
            .recent_activity(512)
            .iter()
            .all(|e| e.type_name() != "quarantineGaveUp"));
    }
}
