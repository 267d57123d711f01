//! Property tests of the merge engine over random histories, delivered in
//! random orders, with duplicates and random splits into batches, for every
//! contract (the three built-in stores and one host store per generic
//! contract).
//!
//! What is proved (for every store kind):
//! - convergence: any delivery (order, duplicates, split) of a history ends in
//!   the same state as a reference fold, so all devices that saw the same
//!   changes agree;
//! - commutativity, associativity and idempotence, stated directly;
//! - additivity: no key ever disappears, and a live record only becomes a
//!   tombstone when an incoming tombstone won;
//! - invalid records (todo invariants, shape rules, host validators) are never
//!   applied and never reach the change list;
//! - tombstones stay dead against older writes;
//! - the change list replayed on the host's live view gives the new live view,
//!   and the counts add up.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use azmx_sync_core::merge::{
    canonical_json, merge, merge_in_place, validate_todos, validate_todos_body, Body, Change,
    Contract, InvalidReason, MergeOutcome, Record, RecordKey, StoreName, StoreSpec, StoreState,
    TodoInvalid,
};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Value};

// ---------------------------------------------------------------- store kinds

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Snippets,
    Todos,
    Memory,
    HostTime,
    HostVersion,
    HostGroup,
}

const KINDS: [Kind; 6] = [
    Kind::Snippets,
    Kind::Todos,
    Kind::Memory,
    Kind::HostTime,
    Kind::HostVersion,
    Kind::HostGroup,
];

fn spec(kind: Kind) -> StoreSpec {
    let host = |name: &str, c| StoreSpec::new(StoreName::new(name).unwrap(), c);
    match kind {
        Kind::Snippets => StoreSpec::snippets(),
        Kind::Todos => StoreSpec::todos(),
        Kind::Memory => StoreSpec::memory(),
        Kind::HostTime => host("host-time", Contract::LwwByTime),
        Kind::HostVersion => host("host-version", Contract::LwwByVersion),
        Kind::HostGroup => {
            host("host-group", Contract::LwwPerGroup).with_validator(|r: &Record| {
                match r
                    .body
                    .as_ref()
                    .and_then(|b| b.to_value().get("bad").cloned())
                {
                    Some(_) => Err(InvalidReason::Custom("bad")),
                    None => Ok(()),
                }
            })
        }
    }
}

// ---------------------------------------------------------------- generators

fn todo_body() -> impl Strategy<Value = Value> {
    let item = (
        select(vec!["1", "2", "3", "4", "5", "6"]),
        select(vec!["x", "y", "z", " "]),
        prop_oneof![
            4 => select(vec!["pending", "completed"]),
            2 => Just("in_progress"),
            1 => Just("done"),
        ],
    )
        .prop_map(|(id, content, status)| json!({"id": id, "content": content, "status": status}));
    prop::collection::vec(item, 0..4).prop_map(|items| json!({ "items": items }))
}

fn plain_body() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0u8..3).prop_map(|n| json!({ "n": n })),
        (0u8..2).prop_map(|n| json!([n, "s"])),
        Just(json!("text")),
        Just(json!({"b": -0.0, "a": 1.5})),
    ]
}

/// A random version of a random record of `kind`. Small domains on purpose:
/// equal timestamps, versions and devices are frequent, so every tie-break
/// level is exercised. About one record in eight is corrupted in a way the
/// store must reject.
fn record(kind: Kind) -> impl Strategy<Value = Record> {
    let scope = match kind {
        Kind::Snippets => select(vec!["h1", "h2"])
            .prop_map(|s| Some(s.to_string()))
            .boxed(),
        Kind::Todos | Kind::Memory => Just(None).boxed(),
        _ => prop::option::of(Just("h1".to_string())).boxed(),
    };
    let version = match kind {
        Kind::Memory | Kind::HostVersion => (0u64..4).prop_map(Some).boxed(),
        // Ignored by time-ordered contracts, but still part of the content.
        _ => prop::option::weighted(0.3, 0u64..2).boxed(),
    };
    let body = match kind {
        Kind::Todos => todo_body().boxed(),
        Kind::HostGroup => prop_oneof![9 => plain_body(), 1 => Just(json!({"bad": true}))].boxed(),
        _ => plain_body().boxed(),
    };
    (
        select(vec!["a", "b", "c"]),
        scope,
        0i64..4,
        version,
        prop::bool::weighted(0.25),
        select(vec!["d1", "d2", "d3"]),
        body,
        0u8..16,
    )
        .prop_map(
            move |(id, scope, updated_at, version, deleted, device, body, corrupt)| {
                let mut r = if deleted {
                    Record::tombstone(id, scope, updated_at, version, device)
                } else {
                    Record::new(id, scope, updated_at, version, device, body.clone())
                };
                match corrupt {
                    // Shape: tombstone with a body, or live record without one.
                    0 => {
                        r.deleted = !r.deleted;
                    }
                    // Store-specific or generic rule.
                    1 => match kind {
                        Kind::Snippets => r.scope = None,
                        Kind::Memory | Kind::HostVersion => r.version = None,
                        Kind::Todos => r.scope = Some("h1".into()),
                        _ => r.id = format!("/abs/{}", r.id),
                    },
                    _ => {}
                }
                r
            },
        )
}

/// A local state (built from valid records only: local data is trusted) and
/// a history of incoming record versions.
fn local_and_history(kind: Kind) -> impl Strategy<Value = (StoreState, Vec<Record>)> {
    (
        prop::collection::vec(record(kind), 0..10),
        prop::collection::vec(record(kind), 1..30),
    )
        .prop_map(move |(local, hist)| (reference(&spec(kind), &StoreState::new(), &local), hist))
}

/// A delivery plan for `n` records: every index at least once, some
/// duplicated, shuffled, then cut into batches.
fn delivery(n: usize) -> impl Strategy<Value = Vec<Vec<usize>>> {
    (
        prop::collection::vec(0..n, 0..8),
        prop::collection::vec(0..=n + 8, 0..4),
    )
        .prop_flat_map(move |(dups, cuts)| {
            let mut order: Vec<usize> = (0..n).collect();
            order.extend(dups);
            (Just(order).prop_shuffle(), Just(cuts))
        })
        .prop_map(|(order, mut cuts)| {
            cuts.push(order.len());
            cuts.sort_unstable();
            let mut batches = Vec::new();
            let mut start = 0;
            for c in cuts {
                let c = c.min(order.len());
                batches.push(order[start..c.max(start)].to_vec());
                start = c.max(start);
            }
            batches
        })
}

/// Batches of indices into a history.
type Plan = Vec<Vec<usize>>;

fn scenario(kind: Kind) -> impl Strategy<Value = (StoreState, Vec<Record>, Plan, Plan)> {
    local_and_history(kind).prop_flat_map(|(local, hist)| {
        let n = hist.len();
        (Just(local), Just(hist), delivery(n), delivery(n))
    })
}

// ---------------------------------------------------------------- model

/// The expected state: per key, the greatest of the local record and every
/// valid incoming one, folded in history order.
fn reference(spec: &StoreSpec, local: &StoreState, recs: &[Record]) -> StoreState {
    let mut m: BTreeMap<RecordKey, Record> = local.as_map().clone();
    for r in recs {
        if spec.validate_incoming(r).is_err() {
            continue;
        }
        match m.get(&r.key()) {
            Some(cur) if spec.contract.compare(cur, r) != Ordering::Less => {}
            _ => {
                m.insert(r.key(), r.clone());
            }
        }
    }
    m.into_values().collect()
}

/// The contract's own keys, written independently of `Contract::compare`.
fn primary(contract: Contract, r: &Record) -> (Option<u64>, i64, bool) {
    match contract {
        Contract::LwwByTime | Contract::LwwPerGroup => (None, r.updated_at, r.deleted),
        Contract::LwwByVersion => (r.version, r.updated_at, r.deleted),
    }
}

/// Checks the reference winner of every key against the contract's rules
/// without using `Contract::compare`: greatest contract keys, then greatest
/// device id among those.
fn check_winners(spec: &StoreSpec, local: &StoreState, recs: &[Record], state: &StoreState) {
    let mut candidates: BTreeMap<RecordKey, Vec<&Record>> = BTreeMap::new();
    for r in local.records() {
        candidates.entry(r.key()).or_default().push(r);
    }
    for r in recs.iter().filter(|r| spec.validate_incoming(r).is_ok()) {
        candidates.entry(r.key()).or_default().push(r);
    }
    assert_eq!(candidates.len(), state.len());
    for (k, cands) in candidates {
        let w = state.get(&k).expect("every candidate key is stored");
        assert!(cands.contains(&w), "winner is one of the candidates");
        let best = cands
            .iter()
            .map(|c| primary(spec.contract, c))
            .max()
            .unwrap();
        assert_eq!(primary(spec.contract, w), best);
        let best_dev = cands
            .iter()
            .filter(|c| primary(spec.contract, c) == best)
            .map(|c| c.device_id.as_str())
            .max()
            .unwrap();
        assert_eq!(w.device_id, best_dev);
    }
}

/// The todo invariants, re-implemented independently of `validate_todos`
/// for the generator's domain (string ids, contents and statuses).
fn todo_list_ok(r: &Record) -> bool {
    let Some(body) = r.body.as_ref().map(|b| b.to_value()) else {
        return r.deleted;
    };
    let items = body["items"].as_array().unwrap();
    let ids: BTreeSet<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    let in_progress = items
        .iter()
        .filter(|i| i["status"] == "in_progress")
        .count();
    ids.len() == items.len()
        && in_progress <= 1
        && items.iter().all(|i| {
            ["pending", "in_progress", "completed"].contains(&i["status"].as_str().unwrap())
                && !i["content"].as_str().unwrap().trim().is_empty()
        })
}

fn live(state: &StoreState) -> BTreeMap<RecordKey, Record> {
    state.live().map(|r| (r.key(), r.clone())).collect()
}

/// One merge, with every per-merge invariant checked.
fn checked_merge(spec: &StoreSpec, before: &StoreState, batch: &[Record]) -> MergeOutcome {
    let out = merge(spec, before, batch.to_vec());
    let after = &out.state;

    // merge_in_place agrees.
    let mut st = before.clone();
    let report = merge_in_place(spec, &mut st, batch.to_vec());
    assert_eq!(&st, after);
    assert_eq!(report.changes, out.changes);
    assert_eq!(report.counts, out.counts);
    assert_eq!(report.rejected, out.rejected);

    let valid: Vec<&Record> = batch
        .iter()
        .filter(|r| spec.validate_incoming(r).is_ok())
        .collect();

    // Exactly these are rejected: records failing the generic checks, and
    // records failing the store's validator that would otherwise have won,
    // i.e. that are greater than what the key ends up holding. Reported in
    // key order, then arrival order.
    let generic_ok = |r: &Record| {
        r.check_shape().is_ok() && (!spec.contract.requires_version() || r.version.is_some())
    };
    let mut expected_rejected: Vec<(RecordKey, InvalidReason)> = batch
        .iter()
        .filter_map(|r| {
            let reason = spec.validate_incoming(r).err()?;
            let would_win = match after.get(&r.key()) {
                Some(held) => spec.contract.compare(r, held) == Ordering::Greater,
                None => true,
            };
            (!generic_ok(r) || would_win).then(|| (r.key(), reason))
        })
        .collect();
    expected_rejected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(out.rejected, expected_rejected);

    // Counts add up: every key with an incoming record that was not rejected
    // counts once.
    let mut per_key: BTreeMap<RecordKey, usize> = BTreeMap::new();
    for r in batch {
        *per_key.entry(r.key()).or_default() += 1;
    }
    for (k, _) in &out.rejected {
        *per_key.get_mut(k).unwrap() -= 1;
    }
    let keys = per_key.values().filter(|&&n| n > 0).count();
    let c = out.counts;
    assert_eq!((c.applied + c.kept_local + c.unchanged) as usize, keys);
    assert_eq!(c.rejected_invalid as usize, out.rejected.len());
    assert!(out.changes.len() as u64 <= c.applied);
    let changed = after
        .iter()
        .filter(|(k, r)| before.get(k) != Some(*r))
        .count();
    assert_eq!(changed as u64, c.applied);

    // Additivity: nothing disappears; anything new or replaced came from the
    // valid part of the batch; a live record only dies by an incoming tombstone.
    for (k, old) in before.iter() {
        let new = after.get(k).expect("no key disappears");
        if new != old {
            assert!(valid.contains(&new));
            if !old.deleted && new.deleted {
                assert!(batch.contains(new), "died by an incoming tombstone");
            }
        }
    }
    for (k, new) in after.iter() {
        if !before.contains_key(k) {
            assert!(valid.contains(&new));
        }
    }

    // Invalid records are never applied.
    for r in after.records() {
        assert_eq!(spec.validate_incoming(r), Ok(()));
        if spec.name.as_str() == "todos" {
            assert!(todo_list_ok(r), "a live todo list breaks an invariant");
        }
    }

    // Changes are in strict key order and replay to the new live view.
    let keys: Vec<RecordKey> = out.changes.iter().map(Change::key).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
    let mut view = live(before);
    for ch in &out.changes {
        let k = ch.key();
        assert_eq!(
            after.get(&k),
            Some(ch.record()),
            "change carries the stored winner"
        );
        match ch {
            Change::Insert(r) => {
                assert!(!r.deleted);
                assert!(view.insert(k, r.clone()).is_none(), "insert of a live key");
            }
            Change::Update(r) => {
                assert!(!r.deleted);
                let old = view.insert(k, r.clone()).expect("update of a missing key");
                assert_ne!(&old, r, "update with no difference");
            }
            Change::Delete(t) => {
                assert!(t.deleted && t.body.is_none());
                assert!(view.remove(&k).is_some(), "delete of a missing key");
            }
        }
    }
    assert_eq!(view, live(after));
    out
}

fn deliver(
    spec: &StoreSpec,
    local: &StoreState,
    hist: &[Record],
    plan: &[Vec<usize>],
) -> StoreState {
    let mut state = local.clone();
    for batch in plan {
        let batch: Vec<Record> = batch.iter().map(|&i| hist[i].clone()).collect();
        state = checked_merge(spec, &state, &batch).state;
    }
    state
}

fn records(state: &StoreState) -> Vec<Record> {
    state.records().cloned().collect()
}

// ---------------------------------------------------------------- properties

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // Regressions found are turned into named tests instead.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Convergence: whatever the order, duplicates and split, every delivery of
    /// a history ends in the reference state.
    #[test]
    fn converges_whatever_the_delivery(
        (kind, (local, hist, plan1, plan2)) in select(KINDS.to_vec()).prop_flat_map(|k| (Just(k), scenario(k)))
    ) {
        let spec = spec(kind);
        let expected = reference(&spec, &local, &hist);
        check_winners(&spec, &local, &hist, &expected);
        let s1 = deliver(&spec, &local, &hist, &plan1);
        let s2 = deliver(&spec, &local, &hist, &plan2);
        prop_assert_eq!(&s1, &expected);
        prop_assert_eq!(&s2, &expected);
    }

    /// Commutativity, associativity and idempotence, stated directly.
    #[test]
    fn commutative_associative_idempotent(
        (kind, (local, a, b)) in select(KINDS.to_vec()).prop_flat_map(|k| (
            Just(k),
            local_and_history(k).prop_flat_map(move |(l, a)| (Just(l), Just(a), prop::collection::vec(record(k), 0..20))),
        ))
    ) {
        let spec = spec(kind);
        let ab = checked_merge(&spec, &checked_merge(&spec, &local, &a).state, &b).state;
        let ba = checked_merge(&spec, &checked_merge(&spec, &local, &b).state, &a).state;
        prop_assert_eq!(&ab, &ba);

        let concat: Vec<Record> = a.iter().chain(&b).cloned().collect();
        prop_assert_eq!(&checked_merge(&spec, &local, &concat).state, &ab);

        // (L ⊔ A) ⊔ B == L ⊔ (A ⊔ B), with A ⊔ B merged on its own first.
        let a_b = checked_merge(&spec, &checked_merge(&spec, &StoreState::new(), &a).state, &b).state;
        prop_assert_eq!(&checked_merge(&spec, &local, &records(&a_b)).state, &ab);

        // Idempotence: the same batch again, or a state merged with itself.
        let once = checked_merge(&spec, &local, &a);
        let twice = checked_merge(&spec, &once.state, &a);
        prop_assert_eq!(&twice.state, &once.state);
        prop_assert!(twice.changes.is_empty());
        prop_assert_eq!(twice.counts.applied, 0);
        let self_merge = checked_merge(&spec, &ab, &records(&ab));
        prop_assert_eq!(&self_merge.state, &ab);
        prop_assert!(self_merge.changes.is_empty());
        prop_assert_eq!(self_merge.counts.unchanged as usize, ab.len());
    }

    /// Tombstones stay dead: once a tombstone is stored, no older write of the
    /// same key (from the history, or forged just below it) brings it back.
    #[test]
    fn tombstones_stay_dead_against_older_writes(
        (kind, (local, hist)) in select(KINDS.to_vec()).prop_flat_map(|k| (Just(k), local_and_history(k)))
    ) {
        let spec = spec(kind);
        let state = reference(&spec, &local, &hist);
        for t in state.tombstones() {
            let mut older: Vec<Record> = hist
                .iter()
                .filter(|r| r.key() == t.key() && spec.contract.compare(r, t) == Ordering::Less)
                .cloned()
                .collect();
            // The same instant (and version) as the delete, from any device:
            // a delete wins the tie.
            let mut same_time = Record::new(t.id.clone(), t.scope.clone(), t.updated_at, t.version, "zzz", json!({"n": 9}));
            older.push(same_time.clone());
            same_time.device_id = "a".into();
            older.push(same_time);
            let out = checked_merge(&spec, &state, &older);
            prop_assert_eq!(out.state.get(&t.key()), Some(t));
            prop_assert!(out.changes.is_empty());
            prop_assert_eq!(out.counts.applied, 0);
        }
    }

    /// The lookup path (few incoming records, large state) and the join path
    /// (large batch) give the reference result.
    #[test]
    fn small_batches_into_large_states(
        kind in select(KINDS.to_vec()),
        n_local in 50usize..400,
        seed_recs in prop::collection::vec(any::<(u16, i64, bool)>(), 1..4),
    ) {
        let spec = spec(kind);
        let scope = if kind == Kind::Snippets { Some("h".to_string()) } else { None };
        let version = matches!(kind, Kind::Memory | Kind::HostVersion).then_some(2);
        let body = json!({"items": [{"id": "1", "content": "c", "status": "pending"}]});
        let local: StoreState = (0..n_local)
            .map(|i| Record::new(format!("k{i:04}"), scope.clone(), 10, version, "d1", body.clone()))
            .collect();
        let batch: Vec<Record> = seed_recs
            .iter()
            .map(|&(i, t, del)| {
                let id = format!("k{:04}", i as usize % (n_local + 10));
                let t = t.rem_euclid(20);
                if del {
                    Record::tombstone(id, scope.clone(), t, version, "d2")
                } else {
                    Record::new(id, scope.clone(), t, version, "d2", body.clone())
                }
            })
            .collect();
        let out = checked_merge(&spec, &local, &batch);
        prop_assert_eq!(&out.state, &reference(&spec, &local, &batch));
        let all: Vec<Record> = batch.iter().chain(local.records()).cloned().collect();
        let joined = checked_merge(&spec, &StoreState::new(), &all);
        prop_assert_eq!(&joined.state, &out.state);
    }

    /// `Contract::compare` is a total order: antisymmetric, transitive, and
    /// `Equal` exactly for equal records (so equal hashes mean equal records).
    #[test]
    fn compare_is_a_total_order(
        kind in select(KINDS.to_vec()),
        trio in select(KINDS.to_vec()).prop_flat_map(|k| (record(k), record(k), record(k))),
    ) {
        let c = spec(kind).contract;
        let (a, b, x) = trio;
        for (p, q) in [(&a, &b), (&b, &x), (&a, &x)] {
            prop_assert_eq!(c.compare(p, q), c.compare(q, p).reverse());
            prop_assert_eq!(c.compare(p, q) == Ordering::Equal, p == q);
            prop_assert_eq!(p.content_hash() == q.content_hash(), p == q);
        }
        let mut v = [&a, &b, &x];
        v.sort_by(|p, q| c.compare(p, q));
        prop_assert!(c.compare(v[0], v[1]) != Ordering::Greater);
        prop_assert!(c.compare(v[1], v[2]) != Ordering::Greater);
        prop_assert!(c.compare(v[0], v[2]) != Ordering::Greater);
        prop_assert_eq!(c.compare(&a, &a.clone()), Ordering::Equal);
    }
}

// ---------------------------------------------------------------- keys and copies

/// Keys whose encodings share long prefixes, scopes that are prefixes of one
/// another, and non-ASCII bytes: the engine's sort must still group and order
/// them exactly like `RecordKey`'s `Ord`.
fn tricky_record() -> impl Strategy<Value = Record> {
    let long = "x".repeat(30);
    let scopes = vec![
        None,
        Some("h".to_string()),
        Some("h1".to_string()),
        Some("h\u{e9}".to_string()),
        Some(long.clone()),
        Some(format!("{long}y")),
        // The scope's end falls on the last bytes of the 24-byte prefix.
        Some("s".repeat(21)),
        Some("s".repeat(22)),
    ];
    let ids = vec![
        "a".to_string(),
        "a0".to_string(),
        "\u{e9}".to_string(),
        long.clone(),
        format!("{long}1"),
        format!("{long}2"),
        format!("{long}{long}"),
        // Unscoped ids whose encoding ends just before, at, and past the
        // 24th byte.
        "y".repeat(22),
        "y".repeat(23),
        "y".repeat(24),
    ];
    (
        select(scopes),
        select(ids),
        0i64..3,
        select(vec!["d1", "d2"]),
        0u8..3,
        prop::bool::weighted(0.2),
    )
        .prop_map(|(scope, id, t, dev, n, del)| {
            if del {
                Record::tombstone(id, scope, t, None, dev)
            } else {
                Record::new(id, scope, t, None, dev, json!({ "n": n }))
            }
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn keys_with_shared_prefixes_merge_like_the_reference(
        local in prop::collection::vec(tricky_record(), 0..30),
        batch in prop::collection::vec(tricky_record(), 0..60),
    ) {
        let spec = spec(Kind::HostTime);
        let local = reference(&spec, &StoreState::new(), &local);
        let out = checked_merge(&spec, &local, &batch);
        prop_assert_eq!(&out.state, &reference(&spec, &local, &batch));
    }

    /// Local records are not validated: keys with NUL bytes (which incoming
    /// keys cannot have, and which would make the engine's byte-prefix
    /// encoding of keys ambiguous) still merge by key.
    #[test]
    fn local_keys_with_nul_bytes_merge_like_the_reference(
        local in prop::collection::vec(tricky_record(), 0..30),
        nul_local in prop::collection::vec(
            (select(vec![None, Some("h\0"), Some("h")]), select(vec!["a\0", "a", "\0"]), 0i64..3),
            1..6,
        ),
        batch in prop::collection::vec(tricky_record(), 0..60),
    ) {
        let spec = spec(Kind::HostTime);
        let mut local = reference(&spec, &StoreState::new(), &local);
        for (scope, id, t) in nul_local {
            local.insert(Record::new(id, scope.map(String::from), t, None, "d1", json!({})));
        }
        let mut merged = local.clone();
        merge_in_place(&spec, &mut merged, batch.clone());
        prop_assert_eq!(&merged, &reference(&spec, &local, &batch));
    }

    /// `Record::clone_from` reuses allocations but must produce an equal copy.
    #[test]
    fn clone_from_makes_an_equal_copy(
        a in (json_value(), any::<bool>()),
        b in (json_value(), any::<bool>()),
    ) {
        let mk = |(body, del): (Value, bool), dev: &str| {
            if del { Record::tombstone("k", None, 1, None, dev) } else { Record::new("k", None, 1, None, dev, body) }
        };
        let src = mk(b, "device-two");
        let mut dst = mk(a, "d1");
        dst.clone_from(&src);
        prop_assert_eq!(&dst, &src);
        prop_assert_eq!(dst.content_hash(), src.content_hash());
    }
}

// ---------------------------------------------------------------- canonical JSON

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        prop::num::f64::NORMAL.prop_map(|f| json!(f)),
        Just(json!(-0.0)),
        ".{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-c\u{e9}\"\\\\]{0,3}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn canonical_json_round_trips_and_is_unique(a in json_value(), b in json_value()) {
        let ca = canonical_json(&a);
        prop_assert_eq!(&serde_json::from_str::<Value>(&ca).unwrap(), &a);
        let pretty: Value = serde_json::from_str(&serde_json::to_string_pretty(&a).unwrap()).unwrap();
        prop_assert_eq!(&canonical_json(&pretty), &ca);
        prop_assert_eq!(ca == canonical_json(&b), a == b);
    }
}

// ---------------------------------------------------------------- bodies

/// Todo-like values that break every rule, with wrong types, escapes, and
/// lists long enough to leave the allocation-free duplicate check.
fn todo_like_value() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        4 => select(vec!["1", "2", "3", "a\"b", "é", "x", " ", ""]).prop_map(|s| json!(s)),
        1 => Just(json!("y".repeat(129))),
        1 => Just(json!("\u{e9}".repeat(130))),
        1 => Just(json!(1)),
        1 => Just(json!(null)),
        1 => Just(json!(["1"])),
    ];
    let status = prop_oneof![
        4 => select(vec!["pending", "completed", "in_progress"]).prop_map(|s| json!(s)),
        1 => select(vec!["done", "Pending", ""]).prop_map(|s| json!(s)),
        1 => Just(json!(true)),
    ];
    let field = |name: &'static str, v: BoxedStrategy<Value>| {
        prop::option::weighted(0.9, v).prop_map(move |v| (name, v))
    };
    let item = prop_oneof![
        8 => (
            field("id", text.clone().boxed()),
            field("content", text.boxed()),
            field("status", status.boxed()),
            prop::option::of(json_value()),
        )
            .prop_map(|(id, content, status, extra)| {
                let mut m = serde_json::Map::new();
                for (k, v) in [id, content, status] {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                }
                if let Some(extra) = extra {
                    m.insert("note".into(), extra);
                }
                Value::Object(m)
            }),
        1 => json_value(),
    ];
    let items = prop_oneof![
        4 => prop::collection::vec(item, 0..24).prop_map(Value::Array),
        1 => json_value(),
    ];
    prop_oneof![
        6 => (items, prop::option::of(json_value())).prop_map(|(items, extra)| {
            let mut m = serde_json::Map::new();
            m.insert("items".into(), items);
            if let Some(extra) = extra {
                m.insert("title".into(), extra);
            }
            Value::Object(m)
        }),
        1 => json_value(),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// The validator reading a body's text agrees with the one reading a
    /// value tree, on valid and invalid lists alike.
    #[test]
    fn todo_validation_of_bodies_agrees_with_values(v in todo_like_value()) {
        prop_assert_eq!(validate_todos_body(&Body::from(&v)), validate_todos(&v));
    }

    /// Bodies are equal exactly when their values are, and keep the value.
    #[test]
    fn bodies_compare_like_values(a in json_value(), b in json_value()) {
        let (ba, bb) = (Body::from(&a), Body::from(&b));
        prop_assert_eq!(ba == bb, a == b);
        prop_assert_eq!(&ba.to_value(), &a);
        prop_assert_eq!(&Body::from_json(&serde_json::to_string_pretty(&a).unwrap()).unwrap(), &ba);
    }
}

#[test]
fn todo_validation_of_long_lists_agrees_with_values() {
    let item =
        |i: usize, status: &str| json!({"id": i.to_string(), "content": "c", "status": status});
    let ok: Vec<Value> = (0..500).map(|i| item(i, "pending")).collect();
    let mut too_many = ok.clone();
    too_many.push(item(500, "pending"));
    let mut too_many_and_broken = too_many.clone();
    too_many_and_broken[3] = item(1, "pending");
    let mut late_duplicate = ok.clone();
    late_duplicate[400] = item(17, "pending");
    let mut late_second_in_progress = ok.clone();
    late_second_in_progress[20] = item(20, "in_progress");
    late_second_in_progress[499] = item(499, "in_progress");
    let mut deep = json!("x");
    for _ in 0..300 {
        deep = json!([deep]);
    }
    let deep_body =
        json!({"items": [{"id": "1", "content": "c", "status": "pending", "note": deep}]});
    assert_eq!(validate_todos(&deep_body), Ok(()));
    assert_eq!(validate_todos_body(&Body::from(&deep_body)), Ok(()));
    for (items, expect) in [
        (ok, Ok(())),
        (too_many, Err(TodoInvalid::TooManyItems { count: 501 })),
        (
            too_many_and_broken,
            Err(TodoInvalid::TooManyItems { count: 501 }),
        ),
        (
            late_duplicate,
            Err(TodoInvalid::DuplicateId {
                index: 400,
                first: 17,
            }),
        ),
        (
            late_second_in_progress,
            Err(TodoInvalid::MultipleInProgress { index: 499 }),
        ),
    ] {
        let v = json!({ "items": items });
        assert_eq!(validate_todos(&v), expect);
        assert_eq!(validate_todos_body(&Body::from(&v)), expect);
    }
}

#[test]
fn property_generators_cover_every_case() {
    // Guards against generators that silently stop producing invalid records
    // or tombstones (which would make the properties above vacuous).
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    for kind in KINDS {
        let spec = spec(kind);
        let strat = record(kind);
        let (mut invalid, mut tomb, mut live) = (0, 0, 0);
        for _ in 0..400 {
            let r = strat.new_tree(&mut runner).unwrap().current();
            match (spec.validate_incoming(&r).is_ok(), r.deleted) {
                (false, _) => invalid += 1,
                (true, true) => tomb += 1,
                (true, false) => live += 1,
            }
        }
        assert!(
            invalid >= 20 && tomb >= 40 && live >= 100,
            "{kind:?}: {invalid} {tomb} {live}"
        );
    }
}
