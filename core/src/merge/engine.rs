//! The merge function: local state + incoming batch → new state, the changes
//! the host must apply, and counts for the activity log.

use std::cmp::Ordering;
use std::mem;

use serde::{Deserialize, Serialize};

use super::contract::Contract;
use super::error::InvalidReason;
use super::record::{Record, RecordKey};
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
/// collapsed to their winner; then each distinct valid key counts once in
/// exactly one of `applied`, `kept_local`, `unchanged`. Each invalid incoming
/// record counts once in `rejected_invalid`.
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
/// - each incoming record is checked with [`StoreSpec::validate_incoming`];
///   an invalid one is rejected (counted, reported) and has no effect, the
///   rest of the batch is merged normally;
/// - per key, the greatest version by [`Contract::compare`] among the local
///   record and all valid incoming ones wins, so the result does not depend
///   on arrival order, on how a history is split into batches, or on
///   duplicates;
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
pub fn merge_in_place(
    spec: &StoreSpec,
    state: &mut StoreState,
    incoming: impl IntoIterator<Item = Record>,
) -> MergeReport {
    let contract = spec.contract;
    let mut report = MergeReport::default();

    let incoming = incoming.into_iter();
    let mut batch: Vec<Record> = Vec::with_capacity(incoming.size_hint().0);
    for rec in incoming {
        match spec.validate_incoming(&rec) {
            Ok(()) => batch.push(rec),
            Err(reason) => report.rejected.push((rec.key(), reason)),
        }
    }
    report.counts.rejected_invalid = report.rejected.len() as u64;
    // Stable: arrival order is kept for one key.
    report.rejected.sort_by(|a, b| a.0.cmp(&b.0));

    // Key order, and within one key ascending contract order: the last record
    // of each run of equal keys is that key's incoming winner.
    batch.sort_unstable_by(|a, b| cmp_key(a, b).then_with(|| contract.compare(a, b)));
    let winners = Winners {
        inner: batch.into_iter().peekable(),
    };

    // Few incoming records against a big state: look each one up. Otherwise
    // walk both sorted sequences once and rebuild the map (linear).
    let n = state.len();
    let m = winners.inner.len();
    if m == 0 {
        return report;
    }
    if m.saturating_mul(usize::BITS as usize - n.leading_zeros() as usize) < n {
        merge_by_lookup(contract, state, winners, &mut report);
    } else {
        merge_by_join(contract, state, winners, &mut report);
    }
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

fn same_key(k: &RecordKey, r: &Record) -> Ordering {
    k.scope
        .as_deref()
        .cmp(&r.scope.as_deref())
        .then_with(|| k.id.as_str().cmp(r.id.as_str()))
}

/// Yields the winner of each run of equal keys of a sorted batch.
struct Winners {
    inner: std::iter::Peekable<std::vec::IntoIter<Record>>,
}

impl Iterator for Winners {
    type Item = Record;
    fn next(&mut self) -> Option<Record> {
        let mut cur = self.inner.next()?;
        while let Some(next) = self.inner.peek() {
            if cmp_key(&cur, next) != Ordering::Equal {
                break;
            }
            cur = self.inner.next().expect("peeked");
        }
        Some(cur)
    }
}

/// What happened to one key.
enum Outcome {
    Kept,
    Unchanged,
    Applied(Option<Change>),
}

/// Decides between the local record and the incoming winner of one key.
/// Returns the outcome; `slot` holds the record to keep afterwards.
fn resolve(contract: Contract, slot: &mut Record, winner: Record) -> Outcome {
    match contract.compare(slot, &winner) {
        Ordering::Greater => Outcome::Kept,
        Ordering::Equal => Outcome::Unchanged,
        Ordering::Less => {
            let change = match (slot.deleted, winner.deleted) {
                (false, false) => Some(Change::Update(winner.clone())),
                (false, true) => Some(Change::Delete(winner.clone())),
                (true, false) => Some(Change::Insert(winner.clone())),
                (true, true) => None,
            };
            *slot = winner;
            Outcome::Applied(change)
        }
    }
}

fn record_new(winner: &Record, report: &mut MergeReport) {
    report.counts.applied += 1;
    if !winner.deleted {
        report.changes.push(Change::Insert(winner.clone()));
    }
}

fn record_outcome(outcome: Outcome, report: &mut MergeReport) {
    match outcome {
        Outcome::Kept => report.counts.kept_local += 1,
        Outcome::Unchanged => report.counts.unchanged += 1,
        Outcome::Applied(change) => {
            report.counts.applied += 1;
            report.changes.extend(change);
        }
    }
}

fn merge_by_lookup(
    contract: Contract,
    state: &mut StoreState,
    winners: Winners,
    report: &mut MergeReport,
) {
    for winner in winners {
        let key = winner.key();
        match state.0.get_mut(&key) {
            Some(slot) => record_outcome(resolve(contract, slot, winner), report),
            None => {
                record_new(&winner, report);
                state.0.insert(key, winner);
            }
        }
    }
}

fn merge_by_join(
    contract: Contract,
    state: &mut StoreState,
    winners: Winners,
    report: &mut MergeReport,
) {
    let local = mem::take(&mut state.0);
    let mut out: Vec<(RecordKey, Record)> = Vec::with_capacity(local.len() + winners.inner.len());
    let mut local = local.into_iter().peekable();
    for winner in winners {
        while let Some((k, _)) = local.peek() {
            if same_key(k, &winner) == Ordering::Less {
                out.push(local.next().expect("peeked"));
            } else {
                break;
            }
        }
        match local.peek() {
            Some((k, _)) if same_key(k, &winner) == Ordering::Equal => {
                let (k, mut slot) = local.next().expect("peeked");
                record_outcome(resolve(contract, &mut slot, winner), report);
                out.push((k, slot));
            }
            _ => {
                record_new(&winner, report);
                out.push((winner.key(), winner));
            }
        }
    }
    out.extend(local);
    // `out` is sorted with unique keys; collecting builds the tree in bulk.
    state.0 = out.into_iter().collect();
}
