//! The push half of a cycle: the outbox from an earlier cycle first (same
//! seq, same bytes), then a bundle of whatever changed since.

use std::collections::{BTreeMap, HashSet};

use super::apply::supersede_losing_host_records;
use super::crash::crash_point;
use super::{snapshot, stores, Session};
use crate::engine::bundle::{Bundle, StoreRecords, BUNDLE_FORMAT};
use crate::engine::error::SyncError;
use crate::engine::events::{lock, EventKind};
use crate::engine::integrity_check::PrevRef;
use crate::engine::relay_client::{PushOutcome, RelayClient};
use crate::engine::state::{key_string, short_hash, PendingPush};
use crate::engine::{CycleReport, SyncEngine};
use crate::integrity::sha256_hex;
use crate::kdf::EnvelopeKey;
use crate::merge::Record;

pub(super) fn push(s: Session<'_>, report: &mut CycleReport) -> Result<(), SyncError> {
    let (engine, client, key, device_id, lid) = s.parts();
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
        // The next delta's `prev`: what the relay now holds at this seq.
        st.last_pushed = Some(PrevRef {
            seq: p.seq,
            sha256: p.sha256.clone(),
        });
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
    let (seq, since_cp, known, tombstones, prev, peers) = {
        let st = lock(&engine.inner.state);
        (
            st.next_seq,
            st.pushes_since_checkpoint,
            st.known.clone(),
            st.tombstones.clone(),
            st.last_pushed.clone(),
            st.integrity.peers_view(),
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
    // No known previous push (the first, or a state from before `prev`
    // existed): a checkpoint, so this device's chain starts at one.
    let checkpoint = seq == 1
        || prev.is_none()
        || since_cp.saturating_add(1) >= engine.inner.config.checkpoint_every.max(1);
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
        prev: if checkpoint { None } else { prev },
        peers: Some(peers),
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
