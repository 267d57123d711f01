//! Merge of hostile records into every built-in store and a custom one.
//!
//! Records come either as any JSON text (what a peer's bundle holds) or
//! built field by field with edge values (`i64::MAX` times, `u64::MAX`
//! versions, tombstones with bodies, path-like ids).
//!
//! Invariants: no panic; every record of the merged state is the local one
//! or one of the incoming ones for its key; no local key disappears; the
//! result does not depend on the order or the batching of the incoming
//! records; merging the same batch again changes nothing; the change list
//! turns the host's live view before into the live view after; the winner
//! of two records is the same whichever is compared first; a record's
//! canonical form is the canonical JSON of its serde form, and its JSON
//! round-trips.
#![no_main]

use std::cmp::Ordering;
use std::collections::BTreeMap;

use arbitrary::{Result, Unstructured};
use azmx_sync_core::merge::{
    canonical_json, merge, merge_in_place, Change, Contract, InvalidReason, Record, RecordKey,
    StoreName, StoreSpec, StoreState,
};
use azmx_sync_fuzz::hostile_record;
use libfuzzer_sys::fuzz_target;

fn spec(u: &mut Unstructured<'_>) -> Result<StoreSpec> {
    Ok(match u.choose_index(6)? {
        0 => StoreSpec::snippets(),
        1 => StoreSpec::todos(),
        2 => StoreSpec::memory(),
        i => {
            let contract = [
                Contract::LwwByTime,
                Contract::LwwByVersion,
                Contract::LwwPerGroup,
            ][i - 3];
            // A host validator: refuses ids starting with `b`.
            StoreSpec::new(StoreName::new("custom").unwrap(), contract).with_validator(
                |r: &Record| match r.id.starts_with('b') {
                    true => Err(InvalidReason::EmptyId),
                    false => Ok(()),
                },
            )
        }
    })
}

fn records(u: &mut Unstructured<'_>, json: bool) -> Result<Vec<Record>> {
    if json {
        let text: &str = u.arbitrary()?;
        return Ok(serde_json::from_str(text).unwrap_or_default());
    }
    let n = u.choose_index(8)?;
    (0..n).map(|_| hostile_record(u)).collect()
}

fn live(state: &StoreState) -> BTreeMap<RecordKey, Record> {
    state.live().map(|r| (r.key(), r.clone())).collect()
}

fn check_record(r: &Record) {
    let value = serde_json::to_value(r).unwrap();
    assert_eq!(
        r.canonical(),
        canonical_json(&value),
        "canonical == canonical_json(serde)"
    );
    let back: Record = serde_json::from_str(&serde_json::to_string(r).unwrap()).unwrap();
    assert_eq!(&back, r, "record JSON round-trips");
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(spec) = spec(&mut u) else { return };
    let Ok(json) = u.arbitrary::<bool>() else {
        return;
    };
    let Ok(local_in) = records(&mut u, false) else {
        return;
    };
    let Ok(incoming) = records(&mut u, json) else {
        return;
    };
    let Ok(split) = u.choose_index(incoming.len() + 1) else {
        return;
    };

    // Local state is trusted: only records a peer could have made it hold.
    let mut local = StoreState::new();
    for r in local_in {
        if spec.validate_incoming(&r).is_ok() {
            let stronger = local
                .get(&r.key())
                .is_none_or(|cur| spec.contract.compare(&r, cur) == Ordering::Greater);
            if stronger {
                local.insert(r);
            }
        }
    }

    let out = merge(&spec, &local, incoming.clone());
    for (k, r) in out.state.iter() {
        check_record(r);
        let from_local = local.get(k) == Some(r);
        let from_incoming = incoming.iter().any(|i| i == r);
        assert!(
            from_local || from_incoming,
            "merged record is one of the inputs"
        );
    }
    for (k, _) in local.iter() {
        assert!(out.state.contains_key(k), "absence never deletes");
    }

    // Same result in place.
    let mut in_place = local.clone();
    let report = merge_in_place(&spec, &mut in_place, incoming.clone());
    assert_eq!(in_place, out.state);
    assert_eq!(report.changes, out.changes);
    assert_eq!(report.counts, out.counts);

    // Order and batching do not matter.
    let mut reversed = incoming.clone();
    reversed.reverse();
    assert_eq!(
        merge(&spec, &local, reversed).state,
        out.state,
        "order-independent"
    );
    let (a, b) = incoming.split_at(split);
    let first = merge(&spec, &local, a.to_vec());
    assert_eq!(
        merge(&spec, &first.state, b.to_vec()).state,
        out.state,
        "batch-independent"
    );

    // Idempotent.
    let again = merge(&spec, &out.state, incoming.clone());
    assert!(
        again.changes.is_empty(),
        "a merged batch merges to no change"
    );
    assert_eq!(again.state, out.state);

    // The changes turn the live view before into the live view after.
    let mut view = live(&local);
    for c in &out.changes {
        assert_eq!(out.state.get(&c.key()), Some(c.record()));
        match c {
            Change::Insert(r) => assert!(view.insert(r.key(), r.clone()).is_none()),
            Change::Update(r) => assert!(view.insert(r.key(), r.clone()).is_some()),
            Change::Delete(r) => assert!(view.remove(&r.key()).is_some()),
        }
    }
    assert_eq!(view, live(&out.state), "changes match the new live view");

    // The order is antisymmetric and every pair has one winner.
    for x in &incoming {
        for y in &incoming {
            let xy = spec.contract.compare(x, y);
            assert_eq!(xy, spec.contract.compare(y, x).reverse());
            assert_eq!(xy == Ordering::Equal, x == y);
        }
    }
});
