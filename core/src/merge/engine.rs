//! The merge function: local state + incoming batch → new state, the changes
//! the host must apply, and counts for the activity log.

use std::cmp::Ordering;
use std::mem;

use serde::{Deserialize, Serialize};

use super::error::InvalidReason;
use super::record::{KeyView, Record, RecordKey};
use super::state::StoreState;
use super::store::StoreSpec;

/// One change the host must apply to its own store after a merge.
///
/// Only transitions of the *live* view produce changes:
///
/// | local before        | winner (incoming)  | change            |
/// |---------------------|--------------------|-------------------|
/// | none                | live               | `Insert(winner)`  |
/// | none                | tombstone          | none (tombstone stored, see below) |
/// | live                | live, different    | `Update(winner)`  |
/// | live                | tombstone          | `Delete(winner)`  |
/// | tombstone           | live (newer)       | `Insert(winner)`  |
/// | tombstone           | tombstone, newer   | none (tombstone replaced in state) |
/// | anything            | equal to local     | none (`unchanged`) |
/// | anything            | loses to local     | none (`kept_local`) |
///
/// A tombstone that wins where there was no local record is kept in the state
/// so that the record cannot come back from an older device, but the host has
/// nothing to delete, so no change is emitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "op", content = "record")]
pub enum Change {
    /// The host must create this record (it had no live copy).
    Insert(Record),
    /// The host must replace its live copy with this record.
    Update(Record),
    /// The host must delete its live copy; the payload is the winning tombstone.
    Delete(Record),
}

impl Change {
    /// The record carried by the change (for `Delete`, the tombstone).
    pub fn record(&self) -> &Record {
        match self {
            Change::Insert(r) | Change::Update(r) | Change::Delete(r) => r,
        }
    }

    /// The key of the changed record.
    pub fn key(&self) -> RecordKey {
        self.record().key()
    }
}

/// Counts for the activity log. Incoming duplicates of one key are first
/// collapsed to their winner; then each distinct key with an incoming record
/// that was not rejected counts once in exactly one of `applied`,
/// `kept_local`, `unchanged`. Each rejected incoming record counts once in
/// `rejected_invalid` (see [`merge`] for which invalid records are rejected).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeCounts {
    /// Keys whose stored record was replaced or created by an incoming one.
    /// Includes tombstones stored without a host change, so
    /// `applied >= changes.len()`.
    pub applied: u64,
    /// Keys where the local record won over everything incoming.
    pub kept_local: u64,
    /// Incoming records refused by validation.
    pub rejected_invalid: u64,
    /// Keys where the incoming winner equals the local record.
    pub unchanged: u64,
}

/// Result of [`merge`].
#[derive(Clone, Debug, PartialEq)]
pub struct MergeOutcome {
    /// The new state of the store, tombstones included.
    pub state: StoreState,
    /// What the host must apply, in key order.
    pub changes: Vec<Change>,
    /// Counts for the activity log.
    pub counts: MergeCounts,
    /// Every rejected incoming record's key and reason, in key order (then
    /// arrival order for one key).
    pub rejected: Vec<(RecordKey, InvalidReason)>,
}

/// Result of [`merge_in_place`]: a [`MergeOutcome`] without the state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MergeReport {
    /// What the host must apply, in key order.
    pub changes: Vec<Change>,
    /// Counts for the activity log.
    pub counts: MergeCounts,
    /// Every rejected incoming record's key and reason, in key order.
    pub rejected: Vec<(RecordKey, InvalidReason)>,
}

/// Merges an incoming batch into a copy of `local` under `spec`'s contract.
///
/// Rules:
/// - per key, the greatest version by
///   [`Contract::compare`](super::Contract::compare) among the local record
///   and all valid incoming ones wins, so the result does not depend on
///   arrival order, on how a history is split into batches, or on
///   duplicates;
/// - an incoming record is valid if it passes
///   [`StoreSpec::validate_incoming`]. The generic checks run on every
///   incoming record; the store's validator runs on each one that would
///   otherwise win (see [`Validator`](super::Validator)). An invalid record
///   found this way is rejected (counted, reported) and has no effect; the
///   rest of the batch is merged normally. An invalid record that loses
///   anyway is not reported;
/// - a key that is absent from the batch is left alone: absence never deletes;
/// - deletes are tombstones and win or lose like any write.
///
/// See [`Change`] for the exact change list and [`MergeCounts`] for counts.
/// `local` is trusted and not validated.
pub fn merge(
    spec: &StoreSpec,
    local: &StoreState,
    incoming: impl IntoIterator<Item = Record>,
) -> MergeOutcome {
    let mut state = local.clone();
    let MergeReport {
        changes,
        counts,
        rejected,
    } = merge_in_place(spec, &mut state, incoming);
    MergeOutcome {
        state,
        changes,
        counts,
        rejected,
    }
}

/// [`merge`] without copying the local state: `state` is updated in place.
/// Same rules, same changes and counts.
///
/// Cost: the generic checks, then a sort of the batch by key (O(m log m));
/// then, for a batch much smaller than the state, one lookup per incoming key
/// (O(m log n)), otherwise one in-order walk over the state (O(n + m)). The
/// store's validator runs only on records that would otherwise win (see
/// [`Validator`](super::Validator)). Records are updated in place; the
/// replaced record's allocations are reused for the copy carried by the
/// change.
pub fn merge_in_place(
    spec: &StoreSpec,
    state: &mut StoreState,
    incoming: impl IntoIterator<Item = Record>,
) -> MergeReport {
    let mut report = MergeReport::default();
    // A `Vec` passed by value is reused as is (no copy).
    let mut batch: Vec<Record> = incoming.into_iter().collect();
    let mut rejected: Vec<(u32, InvalidReason)> = Vec::new();
    let order = candidates_in_key_order(spec, &batch, &mut rejected);
    // At most one change per key; growing by doubling would copy them over.
    report.changes.reserve(order.len());

    // Keys are visited in key order, so changes come out in key order.
    // Records stay in `batch` until they are moved into the state; losers
    // and records equal to local ones are dropped with `batch` at the end.
    let mut new_keys: Vec<u32> = Vec::new();
    let mut key = |slot: Option<&mut Record>, group: &[(KeyPrefix, u32)], batch: &mut [Record]| {
        resolve_key(
            spec,
            slot,
            group,
            batch,
            &mut report,
            &mut rejected,
            &mut new_keys,
        )
    };
    let (n, m) = (state.len(), order.len());
    let log_n = (usize::BITS - n.leading_zeros()) as usize;
    let mut start = 0;
    if m.saturating_mul(log_n) < n {
        while start < order.len() {
            let end = key_run_end(&order, start, &batch);
            let first = &batch[order[start].1 as usize];
            let slot = state.0.get_mut(first as &dyn KeyView);
            key(slot, &order[start..end], &mut batch);
            start = end;
        }
    } else {
        let mut local = state.0.iter_mut().peekable();
        while start < order.len() {
            let end = key_run_end(&order, start, &batch);
            let first = &batch[order[start].1 as usize];
            let slot = loop {
                match local.peek() {
                    Some((k, _)) => match cmp_key_view(k, first) {
                        Ordering::Less => {
                            local.next();
                        }
                        Ordering::Equal => break local.next().map(|(_, r)| r),
                        Ordering::Greater => break None,
                    },
                    None => break None,
                }
            };
            key(slot, &order[start..end], &mut batch);
            start = end;
        }
    }
    for i in new_keys {
        let winner = mem::replace(&mut batch[i as usize], Record::placeholder());
        state.0.insert(winner.key(), winner);
    }

    // Rejected records were never moved out of the batch. Report them in key
    // order, then arrival order for one key.
    rejected.sort_unstable_by(|(ia, _), (ib, _)| {
        cmp_key(&batch[*ia as usize], &batch[*ib as usize]).then(ia.cmp(ib))
    });
    report.counts.rejected_invalid = rejected.len() as u64;
    report.rejected = rejected
        .into_iter()
        .map(|(i, reason)| (batch[i as usize].key(), reason))
        .collect();
    // Losers and records equal to local ones are dropped with `batch` here.
    report
}

/// Orders records by key without building [`RecordKey`]s (same order as
/// `RecordKey`'s derived `Ord`).
fn cmp_key(a: &Record, b: &Record) -> Ordering {
    a.scope
        .as_deref()
        .cmp(&b.scope.as_deref())
        .then_with(|| a.id.cmp(&b.id))
}

fn cmp_key_view(k: &RecordKey, r: &Record) -> Ordering {
    k.scope
        .as_deref()
        .cmp(&r.scope.as_deref())
        .then_with(|| k.id.as_str().cmp(r.id.as_str()))
}

/// Indices of the batch's records that pass the generic checks, in key
/// order and, within one key, greatest first under the store's contract.
/// Records failing the generic checks go to `rejected`.
///
/// Records are sorted through a fixed-size, order-preserving prefix of their
/// key ([`KeyPrefix`]) plus their index, so most comparisons are integer
/// comparisons; equal prefixes fall back to a full comparison.
fn candidates_in_key_order(
    spec: &StoreSpec,
    batch: &[Record],
    rejected: &mut Vec<(u32, InvalidReason)>,
) -> Vec<(KeyPrefix, u32)> {
    let contract = spec.contract;
    let mut order: Vec<(KeyPrefix, u32)> = Vec::with_capacity(batch.len());
    for (i, r) in batch.iter().enumerate() {
        match spec.check_generic(r) {
            Ok(()) => order.push((KeyPrefix::of(r), i as u32)),
            Err(reason) => rejected.push((i as u32, reason)),
        }
    }
    order.sort_unstable_by(|(pa, ia), (pb, ib)| {
        pa.cmp(pb).then_with(|| {
            let (a, b) = (&batch[*ia as usize], &batch[*ib as usize]);
            cmp_key(a, b).then_with(|| contract.compare(b, a))
        })
    });
    order
}

/// End of the run of candidates, starting at `start`, that share one key.
fn key_run_end(order: &[(KeyPrefix, u32)], start: usize, batch: &[Record]) -> usize {
    let (p, i) = order[start];
    let first = &batch[i as usize];
    order[start + 1..]
        .iter()
        .position(|&(q, j)| q != p || cmp_key(&batch[j as usize], first) != Ordering::Equal)
        .map_or(order.len(), |len| start + 1 + len)
}

/// The first 24 bytes of an order-preserving encoding of a record key:
/// `0x00 id` for unscoped keys, `0x01 scope 0x00 id` for scoped ones, padded
/// with zeros. Scopes of validated records never contain NUL (control
/// characters are rejected), so the byte order of the encoding is the
/// `(scope, id)` order; truncating and zero-padding keep
/// `prefix(a) < prefix(b)` ⇒ `key(a) < key(b)`, and equal prefixes are
/// compared in full.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct KeyPrefix(u128, u64);

impl KeyPrefix {
    fn of(r: &Record) -> Self {
        let mut buf = [0u8; 24];
        let mut n = 0;
        let mut put = |bytes: &[u8]| {
            let take = bytes.len().min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&bytes[..take]);
            n += take;
        };
        match &r.scope {
            None => put(&[0]),
            Some(s) => {
                put(&[1]);
                put(s.as_bytes());
                put(&[0]);
            }
        }
        put(r.id.as_bytes());
        let (hi, lo) = buf.split_at(16);
        KeyPrefix(
            u128::from_be_bytes(hi.try_into().expect("16 bytes")),
            u64::from_be_bytes(lo.try_into().expect("8 bytes")),
        )
    }
}

/// Settles one key: `group` holds its incoming candidates, greatest first.
/// The first candidate that beats the local record (or any, for a new key)
/// and passes the store's validator wins; candidates that fail it are
/// rejected and the next one is tried. Once a candidate does not beat the
/// local record, neither does any after it: the local record is kept.
fn resolve_key(
    spec: &StoreSpec,
    slot: Option<&mut Record>,
    group: &[(KeyPrefix, u32)],
    batch: &mut [Record],
    report: &mut MergeReport,
    rejected: &mut Vec<(u32, InvalidReason)>,
    new_keys: &mut Vec<u32>,
) {
    let contract = spec.contract;
    for &(_, i) in group {
        let candidate = &mut batch[i as usize];
        if let Some(local) = slot.as_deref() {
            match contract.compare(local, candidate) {
                Ordering::Greater => {
                    report.counts.kept_local += 1;
                    return;
                }
                Ordering::Equal => {
                    report.counts.unchanged += 1;
                    return;
                }
                Ordering::Less => {}
            }
        }
        if let Err(reason) = spec.check_store(candidate) {
            rejected.push((i, reason));
            continue;
        }
        match slot {
            Some(local) => replace(local, candidate, report),
            None => new_key(candidate, i, new_keys, report),
        }
        return;
    }
}

/// A key the state does not have: the winner is applied (there is nothing to
/// lose against); it is moved into the state once the pass over the state is
/// over.
fn new_key(winner: &Record, index: u32, new_keys: &mut Vec<u32>, report: &mut MergeReport) {
    report.counts.applied += 1;
    if !winner.deleted {
        report.changes.push(Change::Insert(winner.clone()));
    }
    new_keys.push(index);
}

/// The incoming winner replaces the local record in `slot`. The winner is
/// moved out of the batch (leaving an empty placeholder).
fn replace(slot: &mut Record, winner: &mut Record, report: &mut MergeReport) {
    report.counts.applied += 1;
    // The state takes the winner; the replaced record's allocations are
    // reused for the copy that the change carries.
    let mut copy = mem::replace(slot, mem::replace(winner, Record::placeholder()));
    let was_live = !copy.deleted;
    copy.clone_from(slot);
    match (was_live, slot.deleted) {
        (true, false) => report.changes.push(Change::Update(copy)),
        (true, true) => report.changes.push(Change::Delete(copy)),
        (false, false) => report.changes.push(Change::Insert(copy)),
        // A newer tombstone over an older one: nothing for the host.
        (false, true) => {}
    }
}
