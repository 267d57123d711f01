//! What a push sends: every store read (whole, or what changed since its
//! token), compared with what the relay holds, and cut into parts that
//! each fit one push (`parts.rs`).

use std::collections::{BTreeMap, HashSet};

use super::apply::supersede_losing_host_records;
use super::changes;
use super::parts::{
    self, key_cmp, key_cmp_str, Outgoing, Oversized, Part, Splitter, ENVELOPE_OVERHEAD,
};
use super::{snapshot, stores, RegisteredStore};
use crate::engine::error::SyncError;
use crate::engine::events::lock;
use crate::engine::state::{key_string, short_hash_bytes, StoreChanges};
use crate::engine::SyncEngine;
use crate::merge::{Record, RecordKey};

/// One cycle's pushes, cut one at a time.
pub(super) struct Plan {
    /// The parts make (or finish) a checkpoint; else they are deltas.
    pub checkpoint: bool,
    splitter: Splitter,
    /// The part after the one being pushed; `None` makes that one the last.
    ahead: Option<Part>,
    /// Change tokens to keep once the last part is stored.
    pub changes: BTreeMap<String, StoreChanges>,
    /// The records' budget of one push, for the events.
    pub budget: u64,
}

impl Plan {
    /// The next part to push, and whether it is the last.
    pub fn next_part(&mut self) -> Option<(Part, bool)> {
        let part = self.ahead.take()?;
        self.ahead = self.splitter.next_part();
        Some((part, self.ahead.is_none()))
    }

    /// Records left out so far because alone they exceed the push limit
    /// (all of them once the last part is taken).
    pub fn oversized(&self) -> &[Oversized] {
        &self.splitter.oversized
    }

    /// Keeps no token for a store with a record left out: it is read, and
    /// reported, again every cycle until it fits or changes.
    pub fn forget_tokens_of_oversized(&mut self, engine: &SyncEngine) {
        for o in &self.splitter.oversized {
            self.changes.remove(&o.store);
            lock(&engine.inner.state).changes.remove(&o.store);
        }
    }
}

/// One store as read for this cycle, compared with what the relay holds:
/// its records in key order ([`key_cmp`]) with their short hashes and
/// whether the relay lacks each, in vectors side by side (a million-record
/// store is not copied into a second one).
struct Examined {
    store: RegisteredStore,
    /// What was read (with the engine's tombstones for keys the host no
    /// longer lists when read whole).
    records: Vec<Record>,
    hashes: Vec<[u8; 16]>,
    changed: Vec<bool>,
    whole: bool,
}

impl Examined {
    /// Keeps the records `keep` says yes to (given each one and whether it
    /// changed), and hands them over as what a part takes.
    fn outgoing(mut self, keep: impl Fn(&Record, bool) -> bool) -> Outgoing {
        let mask: Vec<bool> = self
            .records
            .iter()
            .zip(&self.changed)
            .map(|(r, c)| keep(r, *c))
            .collect();
        if mask.iter().any(|k| !k) {
            let mut i = 0;
            self.records.retain(|_| (mask[i], i += 1).0);
            let mut i = 0;
            self.hashes.retain(|_| (mask[i], i += 1).0);
        }
        Outgoing::new(self.store.0, self.records, self.hashes)
    }
}

/// `hex` (a `known` hash) is the hex of `hash`.
fn same_hash(hex: &str, hash: &[u8; 16]) -> bool {
    let mut buf = [0u8; 32];
    hex::encode_to_slice(hash, &mut buf).is_ok() && hex.as_bytes() == buf
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
    records.sort_unstable_by(key_cmp);
    // Hashed outside the state lock; compared under it a batch at a time,
    // each batch's keys built outside it (no clone of `known`, and no key
    // string per record held for the whole store).
    let hashes: Vec<[u8; 16]> = records.iter().map(short_hash_bytes).collect();
    let mut changed = vec![true; records.len()];
    const BATCH: usize = 4096;
    for (i, batch) in records.chunks(BATCH).enumerate() {
        let keys: Vec<String> = batch.iter().map(|r| key_string(&r.key())).collect();
        let st = lock(&engine.inner.state);
        let Some(known) = st.known.get(name) else {
            break;
        };
        for (j, key) in keys.iter().enumerate() {
            let at = i * BATCH + j;
            changed[at] = known.get(key).is_none_or(|h| !same_hash(h, &hashes[at]));
        }
    }
    Ok(Examined {
        store,
        records,
        hashes,
        changed,
        whole,
    })
}

/// Reads every store and plans what the relay lacks (everything, for a
/// checkpoint). `None` when nothing changed: an idle cycle uploads nothing.
pub(super) fn build(
    engine: &SyncEngine,
    lid: &str,
    device_id: &str,
) -> Result<Option<Plan>, SyncError> {
    let (seq, since_cp, held, has_prev, peers, run, learnt) = {
        let st = lock(&engine.inner.state);
        (
            st.next_seq,
            st.pushes_since_checkpoint,
            st.changes.clone(),
            st.last_pushed.is_some(),
            st.integrity.peers_view(),
            st.checkpoint_run.clone(),
            st.relay_max_push_bytes,
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
    let nothing_changed = examined.iter().all(|e| e.changed.iter().all(|c| !c));
    if nothing_changed && run.is_none() {
        // Every change up to the new tokens is on the relay already.
        lock(&engine.inner.state).changes.extend(next_changes);
        return Ok(None);
    }
    // No known previous push (the first, or a state from before `prev`
    // existed): a checkpoint, so this device's chain starts at one. One
    // cut short goes on.
    let checkpoint = run.is_some()
        || seq == 1
        || !has_prev
        || since_cp.saturating_add(1) >= engine.inner.config.checkpoint_every.max(1);
    let mut out: Vec<Outgoing> = Vec::new();
    for e in examined {
        // A checkpoint carries every record: a store read by its token is
        // read whole now (the token, taken before, still holds).
        let e = if checkpoint && !e.whole {
            let records = snapshot(engine, &e.store.0, e.store.2.as_ref())?;
            if let Some(n) = next_changes.get_mut(&e.store.0) {
                n.partial_reads = 0;
            }
            examine(engine, e.store, records, true)?
        } else {
            e
        };
        let name = e.store.0.clone();
        out.push(match &run {
            // The parts stored so far hold every key up to `after`; what
            // changed among those since goes along with the rest.
            Some(r) => e.outgoing(|rec, changed| {
                changed
                    || match name.as_str().cmp(r.after.0.as_str()) {
                        std::cmp::Ordering::Equal => key_cmp_str(rec, &r.after.1).is_gt(),
                        o => o.is_gt(),
                    }
            }),
            None if checkpoint => e.outgoing(|_, _| true),
            None => e.outgoing(|_, changed| changed),
        });
    }
    out.sort_by(|a, b| a.store.cmp(&b.store));
    let limit = engine
        .inner
        .config
        .max_push_bytes
        .min(learnt.unwrap_or(u64::MAX));
    let budget = limit
        .saturating_sub(ENVELOPE_OVERHEAD)
        .saturating_sub(parts::bundle_overhead(lid, device_id, &peers));
    let mut splitter = Splitter::new(out, budget);
    let mut ahead = splitter.next_part();
    if ahead.is_none() && checkpoint {
        // A checkpoint always has a bundle: one of nothing (everything
        // left out, or a run whose rest is empty) still ends it.
        ahead = Some(Part::default());
    }
    let mut plan = Plan {
        checkpoint,
        splitter,
        ahead,
        changes: next_changes,
        budget,
    };
    if plan.ahead.is_none() {
        // Only records that cannot go: nothing to push.
        plan.forget_tokens_of_oversized(engine);
        let kept = std::mem::take(&mut plan.changes);
        lock(&engine.inner.state).changes.extend(kept);
    }
    Ok(Some(plan))
}
