//! The push half of a cycle: the outbox from an earlier cycle first (same
//! seq, same bytes), then a bundle of whatever changed since.

use std::collections::{BTreeMap, HashSet};

use super::apply::supersede_losing_host_records;
use super::changes;
use super::crash::crash_point;
use super::{snapshot, stores, RegisteredStore, Session};
use crate::engine::bundle::{Bundle, StoreRecords, BUNDLE_FORMAT};
use crate::engine::error::SyncError;
use crate::engine::events::{lock, EventKind};
use crate::engine::integrity_check::PrevRef;
use crate::engine::relay_client::{PushOutcome, RelayClient};
use crate::engine::state::{key_string, short_hash, PendingPush};
use crate::engine::{CycleReport, SyncEngine};
use crate::integrity::sha256_hex;
use crate::kdf::EnvelopeKey;
use crate::merge::{Record, RecordKey};

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
        // Every change up to these tokens is on the relay now.
        st.changes.extend(p.changes.clone());
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

/// One store as read for this cycle, compared with what the relay holds.
struct Examined {
    store: RegisteredStore,
    /// What was read, with the engine's tombstones for keys the host no
    /// longer lists when read whole.
    records: Vec<Record>,
    whole: bool,
    /// key → short hash of every record of `records`.
    hashes: BTreeMap<String, String>,
    /// The records the relay does not have.
    changed: Vec<Record>,
}

/// Compares what was read of one store with `known`. A host record that
/// loses to a tombstone the engine holds is deleted first.
fn examine(
    engine: &SyncEngine,
    store: RegisteredStore,
    mut records: Vec<Record>,
    whole: bool,
) -> Result<Examined, SyncError> {
    let (name, spec, adapter) = &store;
    // Only the tombstones this read can meet: all of them for a whole read,
    // those of the keys read otherwise (none on an idle cycle).
    let tombs: Option<Vec<Record>> = if whole {
        lock(&engine.inner.state).tombstones.get(name).cloned()
    } else if records.is_empty() {
        None
    } else {
        let keys: HashSet<RecordKey> = records.iter().map(Record::key).collect();
        lock(&engine.inner.state).tombstones.get(name).map(|ts| {
            ts.iter()
                .filter(|t| keys.contains(&t.key()))
                .cloned()
                .collect()
        })
    };
    if let Some(tombs) = tombs {
        supersede_losing_host_records(engine, name, spec, adapter.as_ref(), &tombs, &mut records)?;
        if whole {
            // Tombstones the engine holds for keys the host no longer lists.
            let present: HashSet<String> = records.iter().map(|r| key_string(&r.key())).collect();
            records.extend(
                tombs
                    .into_iter()
                    .filter(|t| !present.contains(&key_string(&t.key()))),
            );
        }
    }
    // Hashed outside the state lock, compared under it (no clone of `known`).
    let hashes: Vec<(String, String)> = records
        .iter()
        .map(|r| (key_string(&r.key()), short_hash(r)))
        .collect();
    let changed: Vec<Record> = {
        let st = lock(&engine.inner.state);
        let known_store = st.known.get(name);
        records
            .iter()
            .zip(&hashes)
            .filter(|(_, (k, h))| known_store.and_then(|m| m.get(k)) != Some(h))
            .map(|(r, _)| r.clone())
            .collect()
    };
    Ok(Examined {
        store,
        records,
        whole,
        hashes: hashes.into_iter().collect(),
        changed,
    })
}

/// Reads every store (whole, or what changed since its token) and seals
/// what the relay does not have (or everything, for a checkpoint). `None`
/// when nothing changed: an idle cycle uploads nothing.
fn build_bundle(
    engine: &SyncEngine,
    key: &EnvelopeKey,
    device_id: &str,
    lid: &str,
) -> Result<Option<(PendingPush, Vec<u8>)>, SyncError> {
    let (seq, since_cp, held, prev, peers) = {
        let st = lock(&engine.inner.state);
        (
            st.next_seq,
            st.pushes_since_checkpoint,
            st.changes.clone(),
            st.last_pushed.clone(),
            st.integrity.peers_view(),
        )
    };
    let mut next_changes = BTreeMap::new();
    let mut examined = Vec::new();
    for store in stores(engine) {
        let read = changes::read_store(engine, &store.0, store.2.as_ref(), held.get(&store.0))?;
        match read.next {
            Some(n) => {
                next_changes.insert(store.0.clone(), n);
            }
            // Dropping a token only makes the next cycle read whole: at once.
            None => {
                lock(&engine.inner.state).changes.remove(&store.0);
            }
        }
        examined.push(examine(engine, store, read.records, read.whole)?);
    }
    if examined.iter().all(|e| e.changed.is_empty()) {
        // Every change up to the new tokens is on the relay already.
        lock(&engine.inner.state).changes.extend(next_changes);
        return Ok(None);
    }
    // No known previous push (the first, or a state from before `prev`
    // existed): a checkpoint, so this device's chain starts at one.
    let checkpoint = seq == 1
        || prev.is_none()
        || since_cp.saturating_add(1) >= engine.inner.config.checkpoint_every.max(1);
    let mut pending_hashes = BTreeMap::new();
    let stores_out = if checkpoint {
        let mut out = Vec::new();
        for e in examined {
            // A checkpoint carries every record: a store read by its token
            // is read whole now (the token, taken before, still holds).
            let e = if e.whole {
                e
            } else {
                let records = snapshot(engine, &e.store.0, e.store.2.as_ref())?;
                if let Some(n) = next_changes.get_mut(&e.store.0) {
                    n.partial_reads = 0;
                }
                examine(engine, e.store, records, true)?
            };
            pending_hashes.insert(e.store.0.clone(), e.hashes);
            out.push(StoreRecords {
                store: e.store.0,
                records: e.records,
            });
        }
        out
    } else {
        let mut out = Vec::new();
        for e in examined.into_iter().filter(|e| !e.changed.is_empty()) {
            let h = e
                .changed
                .iter()
                .map(|r| (key_string(&r.key()), short_hash(r)))
                .collect();
            pending_hashes.insert(e.store.0.clone(), h);
            out.push(StoreRecords {
                store: e.store.0,
                records: e.changed,
            });
        }
        out
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
            changes: next_changes,
        },
        blob,
    )))
}
