//! The push half of a cycle: the outbox from an earlier cycle first (same
//! seq, same bytes), then whatever changed since, as one push or, past the
//! push limit, several (`plan.rs`, `parts.rs`; PROTOCOL §6, "Checkpoints
//! in parts").

use super::crash::crash_point;
use super::parts::Part;
use super::plan::{self, Plan};
use super::Session;
use crate::engine::bundle::{Bundle, CheckpointPart, BUNDLE_FORMAT};
use crate::engine::error::SyncError;
use crate::engine::events::{lock, EventKind};
use crate::engine::integrity_check::PrevRef;
use crate::engine::relay_client::{PushOutcome, RelayClient};
use crate::engine::state::{CheckpointRun, EngineState, PageDelta, PendingPush, PushDelta};
use crate::engine::{CycleReport, SyncEngine, PUSH_BYTES_RANGE};
use crate::integrity::sha256_hex;
use crate::kdf::EnvelopeKey;

/// How a push went.
enum Sent {
    /// Stored, now or by an earlier attempt.
    Stored,
    /// The seq was taken by other bytes: the state resynchronised, plan anew.
    Conflict,
    /// The relay's limit is lower than the push: learnt, plan anew.
    Lowered,
}

/// Plans anew after this many conflicts, or limits learnt, in one cycle.
const MAX_CONFLICTS: u32 = 3;
const MAX_LOWERINGS: u32 = 8;

pub(super) fn push(s: Session<'_>, report: &mut CycleReport) -> Result<(), SyncError> {
    let (engine, client, key, device_id, lid) = s.parts();
    // 1. A pending push from an earlier cycle goes first, same seq, same bytes.
    let pending = lock(&engine.inner.state).outbox.clone();
    if let Some(p) = pending {
        match engine.inner.dir.read_outbox_blob() {
            Some(blob) if sha256_hex(&blob) == p.sha256 => {
                engine.emit(EventKind::PushRetried { seq: p.seq });
                // Stored or not, what the relay still lacks is planned below.
                send_pending(engine, client, device_id, &p, &blob, report)?;
            }
            // The blob never reached the disk: nothing was sent, rebuild.
            _ => clear_outbox(engine)?,
        }
    }
    // 2. Whatever changed since the relay last heard from us.
    let (mut conflicts, mut lowerings) = (0u32, 0u32);
    loop {
        let Some(mut plan) = plan::build(engine, lid, device_id)? else {
            return Ok(());
        };
        let sent = loop {
            let Some((part, last)) = plan.next_part() else {
                break Sent::Stored;
            };
            if last {
                plan.forget_tokens_of_oversized(engine);
            }
            let (pending, blob) = seal(engine, key, device_id, lid, &mut plan, part, last)?;
            // Outbox before network: a crash from here on retries these bytes.
            engine.inner.dir.write_outbox_blob(&blob)?;
            crash_point("after-outbox-blob");
            {
                let mut st = lock(&engine.inner.state);
                st.outbox = Some(pending.clone());
                journal_push(engine, &st, Vec::new())?;
            }
            crash_point("before-push");
            match send_pending(engine, client, device_id, &pending, &blob, report)? {
                Sent::Stored => {}
                other => break other,
            }
        };
        match sent {
            Sent::Stored => {
                // Only for the plan that went: one planned again after a
                // conflict or a lower limit reports its own, once.
                for o in plan.oversized() {
                    engine.emit(EventKind::RecordTooLarge {
                        store: o.store.clone(),
                        id: o.id.clone(),
                        bytes: o.bytes,
                        max_bytes: plan.budget,
                    });
                }
                return Ok(());
            }
            Sent::Conflict => conflicts += 1,
            Sent::Lowered => lowerings += 1,
        }
        if conflicts >= MAX_CONFLICTS {
            return Err(SyncError::Relay {
                status: 409,
                code: "seq_conflict".into(),
                message: "could not agree on a sequence number with the relay".into(),
            });
        }
        if lowerings >= MAX_LOWERINGS {
            return Err(too_large("kept lowering its push limit".into()));
        }
    }
}

/// Seals one part of `plan` as the next push: a delta, or a checkpoint's
/// part (the first restarts the chain; PROTOCOL §6).
fn seal(
    engine: &SyncEngine,
    key: &EnvelopeKey,
    device_id: &str,
    lid: &str,
    plan: &mut Plan,
    part: Part,
    last: bool,
) -> Result<(PendingPush, Vec<u8>), SyncError> {
    let (seq, prev, peers, run) = {
        let st = lock(&engine.inner.state);
        (
            st.next_seq,
            st.last_pushed.clone(),
            st.integrity.peers_view(),
            st.checkpoint_run.clone(),
        )
    };
    let (checkpoint, part_of, step) = if !plan.checkpoint {
        (false, None, None)
    } else {
        // `oversized` counts this plan's so far; the run's count may already
        // hold them (an earlier part of this plan) or their earlier copies.
        let skipped = run
            .as_ref()
            .map_or(0, |r| r.skipped)
            .max(plan.oversized().len() as u64);
        let (checkpoint, part_of, step) = match run {
            // This part starts the checkpoint; alone, it is the whole of it.
            None => (
                true,
                (!last).then_some(CheckpointPart {
                    first: seq,
                    index: 0,
                    last,
                }),
                CheckpointRun {
                    first: seq,
                    parts: 1,
                    after: part.last_key.clone(),
                    last,
                    skipped,
                },
            ),
            Some(r) => (
                false,
                Some(CheckpointPart {
                    first: r.first,
                    index: r.parts,
                    last,
                }),
                CheckpointRun {
                    first: r.first,
                    parts: r.parts.saturating_add(1),
                    after: r.after.max(part.last_key.clone()),
                    last,
                    skipped,
                },
            ),
        };
        (checkpoint, part_of, Some(step))
    };
    let created_at_ms = engine.inner.config.clock.now_ms();
    let bundle = Bundle {
        format: BUNDLE_FORMAT.into(),
        license_id: lid.into(),
        device_id: device_id.into(),
        seq,
        checkpoint,
        created_at_ms,
        stores: part.stores,
        prev: if checkpoint { None } else { prev },
        peers: Some(peers),
        part: part_of,
    };
    let plaintext = zeroize::Zeroizing::new(
        serde_json::to_vec(&bundle)
            .map_err(|e| SyncError::Config(format!("cannot serialise the bundle: {e}")))?,
    );
    drop(bundle);
    let blob = key.seal(&plaintext);
    Ok((
        PendingPush {
            seq,
            sha256: sha256_hex(&blob),
            checkpoint,
            records: part.records,
            created_at_ms,
            hashes: part.hashes,
            // Every change up to the tokens is on the relay with the last part.
            changes: if last {
                std::mem::take(&mut plan.changes)
            } else {
                Default::default()
            },
            run: step,
        },
        blob,
    ))
}

/// Sends a pending push and records what became of it.
fn send_pending(
    engine: &SyncEngine,
    client: &RelayClient,
    device_id: &str,
    p: &PendingPush,
    blob: &[u8],
    report: &mut CycleReport,
) -> Result<Sent, SyncError> {
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
            // Another writer with this device's state had the seq: its
            // parts, not ours, may follow our checkpoint's; start afresh.
            st.checkpoint_run = None;
            engine.inner.dir.save(&st)?;
            drop(st);
            engine.inner.dir.clear_outbox_blob();
            engine.emit(EventKind::SeqResynced { last_seq });
            return Ok(Sent::Conflict);
        }
        PushOutcome::TooLarge { max_bytes } => {
            // Nothing was stored. A limit is learnt only if it is one the
            // engine can meet and lower than what was sent: an untrusted
            // number must neither shrink pushes to nothing nor loop.
            let sent = blob.len() as u64;
            let limit = max_bytes.filter(|m| PUSH_BYTES_RANGE.contains(m) && *m < sent);
            let mut st = lock(&engine.inner.state);
            if let Some(limit) = limit {
                st.relay_max_push_bytes = Some(limit);
            }
            st.outbox = None;
            engine.inner.dir.save(&st)?;
            drop(st);
            engine.inner.dir.clear_outbox_blob();
            return match limit {
                Some(_) => Ok(Sent::Lowered),
                None => Err(too_large(format!(
                    "refused a push of {sent} bytes with maxBytes {}",
                    max_bytes.map_or("absent".into(), |m| m.to_string())
                ))),
            };
        }
    }
    let completes = p.completes_checkpoint();
    {
        let mut st = lock(&engine.inner.state);
        let mut known = Vec::new();
        for (store, hashes) in &p.hashes {
            let held = st.known.entry(store.clone()).or_default();
            for (k, h) in hashes {
                held.insert(k.clone(), h.clone());
                known.push((store.clone(), k.clone(), h.clone()));
            }
        }
        // Every change up to these tokens is on the relay now.
        st.changes.extend(p.changes.clone());
        st.next_seq = st.next_seq.max(p.seq.saturating_add(1));
        // The next delta's `prev`: what the relay now holds at this seq.
        st.last_pushed = Some(PrevRef {
            seq: p.seq,
            sha256: p.sha256.clone(),
        });
        match (&completes, &p.run) {
            (Some(_), _) => {
                st.pushes_since_checkpoint = 0;
                st.checkpoint_run = None;
            }
            // A checkpoint's part: the rest follows, now or next cycle.
            (None, Some(run)) => st.checkpoint_run = Some(run.clone()),
            (None, None) => {
                st.pushes_since_checkpoint = st.pushes_since_checkpoint.saturating_add(1);
            }
        }
        st.outbox = None;
        journal_push(engine, &st, known)?;
    }
    engine.inner.dir.clear_outbox_blob();
    report.pushed_seq = Some(p.seq);
    report.pushed_records += p.records;
    report.sealed_bytes += blob.len() as u64;
    report.checkpoint |= p.checkpoint || p.run.is_some();
    engine.emit(EventKind::Pushed {
        seq: p.seq,
        sealed_bytes: blob.len() as u64,
        records: p.records,
        checkpoint: p.checkpoint,
    });
    // Older blobs of ours are superseded once every record is in a
    // complete checkpoint; failing to prune costs only space.
    if let Some((first, true)) = completes.filter(|(first, _)| *first > 1) {
        match client.prune(&engine.inner.identity, device_id, first) {
            Ok(n) => engine.emit(EventKind::Pruned {
                checkpoint_seq: first,
                pruned: n,
            }),
            Err(SyncError::Revoked) => return Err(SyncError::Revoked),
            Err(_) => {}
        }
    }
    Ok(Sent::Stored)
}

/// Writes the push fields of `st`, and `known` (what a stored push made
/// known), as one journal line: O(part), where saving the state would be
/// O(records) for every part of a large checkpoint.
fn journal_push(
    engine: &SyncEngine,
    st: &EngineState,
    known: Vec<(String, String, String)>,
) -> Result<(), SyncError> {
    let dir = &engine.inner.dir;
    if dir.journal_torn() {
        return dir.save(st);
    }
    let len = dir.append_page(&mut PageDelta {
        cursor: st.cursor.clone(),
        known,
        push: Some(PushDelta::of(st)),
        ..PageDelta::default()
    })?;
    if dir.journal_outgrown(len) {
        dir.save(st)?;
    }
    Ok(())
}

/// The relay refuses what the engine can send (`413 too_large`).
fn too_large(what: String) -> SyncError {
    SyncError::Relay {
        status: 413,
        code: "too_large".into(),
        message: format!("the relay {what}; nothing was stored"),
    }
}

fn clear_outbox(engine: &SyncEngine) -> Result<(), SyncError> {
    let mut st = lock(&engine.inner.state);
    st.outbox = None;
    engine.inner.dir.save(&st)?;
    drop(st);
    engine.inner.dir.clear_outbox_blob();
    Ok(())
}
