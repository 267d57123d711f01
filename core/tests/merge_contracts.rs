//! Example-based tests, one per rule of the seed's "What syncs · what
//! doesn't" table and of docs/MERGE.md.

use std::cmp::Ordering;

use azmx_sync_core::merge::{
    merge, merge_in_place, Change, Contract, InvalidReason, MergeCounts, Record, RecordKey,
    StoreSpec, StoreState, TodoInvalid,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------- helpers

fn snip(handle: &str, id: &str, t: i64, dev: &str, text: &str) -> Record {
    Record::new(
        id,
        Some(handle.into()),
        t,
        None,
        dev,
        json!({ "text": text }),
    )
}

fn snip_del(handle: &str, id: &str, t: i64, dev: &str) -> Record {
    Record::tombstone(id, Some(handle.into()), t, None, dev)
}

fn mem(id: &str, v: u64, t: i64, dev: &str, text: &str) -> Record {
    Record::new(id, None, t, Some(v), dev, json!({ "text": text }))
}

fn mem_del(id: &str, v: u64, t: i64, dev: &str) -> Record {
    Record::tombstone(id, None, t, Some(v), dev)
}

fn todos_body(items: &[(&str, &str, &str)]) -> Value {
    let items: Vec<Value> = items
        .iter()
        .map(|(id, content, status)| json!({"id": id, "content": content, "status": status}))
        .collect();
    json!({ "items": items })
}

fn todo(session: &str, t: i64, dev: &str, items: &[(&str, &str, &str)]) -> Record {
    Record::new(session, None, t, None, dev, todos_body(items))
}

fn key(scope: Option<&str>, id: &str) -> RecordKey {
    RecordKey::new(scope.map(String::from), id)
}

fn state<const N: usize>(records: [Record; N]) -> StoreState {
    StoreState::from(records)
}

fn counts(applied: u64, kept_local: u64, rejected_invalid: u64, unchanged: u64) -> MergeCounts {
    MergeCounts {
        applied,
        kept_local,
        rejected_invalid,
        unchanged,
    }
}

// ---------------------------------------------------------------- snippets

#[test]
fn snippets_lww_per_id() {
    let spec = StoreSpec::snippets();
    let local = state([
        snip("me", "a", 100, "d1", "old"),
        snip("me", "b", 300, "d1", "mine"),
    ]);
    let newer_a = snip("me", "a", 200, "d2", "new");
    let older_b = snip("me", "b", 250, "d2", "stale");
    let out = merge(&spec, &local, [newer_a.clone(), older_b]);
    assert_eq!(out.state.get(&key(Some("me"), "a")), Some(&newer_a));
    assert_eq!(
        out.state.get(&key(Some("me"), "b")).unwrap().body,
        Some(json!({"text": "mine"}).into())
    );
    assert_eq!(out.changes, vec![Change::Update(newer_a)]);
    assert_eq!(out.counts, counts(1, 1, 0, 0));
}

#[test]
fn snippets_lww_per_id_regardless_of_arrival_order() {
    let spec = StoreSpec::snippets();
    let v1 = snip("me", "a", 100, "d1", "one");
    let v2 = snip("me", "a", 200, "d2", "two");
    let ab = merge(&spec, &StoreState::new(), [v1.clone(), v2.clone()]).state;
    let ba = merge(&spec, &StoreState::new(), [v2.clone(), v1.clone()]).state;
    let split = merge(
        &spec,
        &merge(&spec, &StoreState::new(), [v2.clone()]).state,
        [v1],
    )
    .state;
    assert_eq!(ab, ba);
    assert_eq!(ab, split);
    assert_eq!(ab.get(&key(Some("me"), "a")), Some(&v2));
}

#[test]
fn snippets_scoped_by_handle_same_id_is_two_records() {
    let spec = StoreSpec::snippets();
    let mine = snip("alice", "greet", 100, "d1", "hi");
    let theirs = snip("bob", "greet", 50, "d2", "yo");
    let out = merge(&spec, &state([mine.clone()]), [theirs.clone()]);
    assert_eq!(out.state.len(), 2);
    assert_eq!(out.state.get(&key(Some("alice"), "greet")), Some(&mine));
    assert_eq!(out.state.get(&key(Some("bob"), "greet")), Some(&theirs));
    assert_eq!(out.changes, vec![Change::Insert(theirs)]);
}

#[test]
fn snippets_additive_local_only_kept() {
    let spec = StoreSpec::snippets();
    let local_only = snip("me", "local-only", 100, "d1", "keep me");
    let shared = snip("me", "shared", 100, "d1", "v1");
    let local = state([local_only.clone(), shared]);
    // The peer never pushed "local-only": its absence must not delete it.
    let out = merge(&spec, &local, [snip("me", "shared", 200, "d2", "v2")]);
    assert_eq!(
        out.state.get(&key(Some("me"), "local-only")),
        Some(&local_only)
    );
    assert!(out.changes.iter().all(|c| !matches!(c, Change::Delete(_))));
}

#[test]
fn snippets_absent_on_peer_never_deletes() {
    let spec = StoreSpec::snippets();
    let local = state([
        snip("me", "a", 100, "d1", "x"),
        snip("me", "b", 100, "d1", "y"),
    ]);
    let out = merge(&spec, &local, []);
    assert_eq!(out.state, local);
    assert!(out.changes.is_empty());
    assert_eq!(out.counts, MergeCounts::default());
}

#[test]
fn snippets_require_a_handle() {
    let spec = StoreSpec::snippets();
    let unscoped = Record::new("a", None, 100, None, "d1", json!({"text": "x"}));
    let out = merge(&spec, &StoreState::new(), [unscoped]);
    assert!(out.state.is_empty());
    assert_eq!(
        out.rejected,
        vec![(key(None, "a"), InvalidReason::MissingScope)]
    );
}

#[test]
fn snippets_handle_that_looks_like_a_path_is_rejected() {
    let spec = StoreSpec::snippets();
    for handle in ["/home/me", "me/proj", "~me", "C:\\Users", "a\\b"] {
        let out = merge(&spec, &StoreState::new(), [snip(handle, "a", 1, "d1", "x")]);
        assert!(out.state.is_empty(), "{handle}");
        assert_eq!(out.rejected[0].1, InvalidReason::PathLikeScope, "{handle}");
    }
    let ok = merge(
        &spec,
        &StoreState::new(),
        [snip("@me.dev", "a", 1, "d1", "x")],
    );
    assert_eq!(ok.state.len(), 1);
}

// ---------------------------------------------------------------- todos

#[test]
fn todos_per_session_lww_replaces_the_whole_list() {
    let spec = StoreSpec::todos();
    let local = state([todo(
        "s1",
        100,
        "d1",
        &[("1", "write", "completed"), ("2", "test", "in_progress")],
    )]);
    let incoming = todo("s1", 200, "d2", &[("3", "ship", "pending")]);
    let out = merge(&spec, &local, [incoming.clone()]);
    // No item-level union: the newer list wins as a whole.
    assert_eq!(out.state.get(&key(None, "s1")), Some(&incoming));
    assert_eq!(out.changes, vec![Change::Update(incoming)]);
}

#[test]
fn todos_per_session_lww_older_list_kept_local() {
    let spec = StoreSpec::todos();
    let mine = todo("s1", 300, "d1", &[("1", "mine", "pending")]);
    let out = merge(
        &spec,
        &state([mine.clone()]),
        [todo("s1", 200, "d2", &[("1", "old", "pending")])],
    );
    assert_eq!(out.state.get(&key(None, "s1")), Some(&mine));
    assert!(out.changes.is_empty());
    assert_eq!(out.counts, counts(0, 1, 0, 0));
}

#[test]
fn todos_additive_across_sessions() {
    let spec = StoreSpec::todos();
    let s1 = todo("s1", 100, "d1", &[("1", "a", "pending")]);
    let s2 = todo("s2", 50, "d2", &[("1", "b", "pending")]);
    let out = merge(&spec, &state([s1.clone()]), [s2.clone()]);
    assert_eq!(out.state.get(&key(None, "s1")), Some(&s1));
    assert_eq!(out.state.get(&key(None, "s2")), Some(&s2));
    assert_eq!(out.changes, vec![Change::Insert(s2)]);
}

#[test]
fn todos_validate_todos_enforced_on_incoming() {
    let spec = StoreSpec::todos();
    let mine = todo("s1", 100, "d1", &[("1", "a", "pending")]);
    let invalid_newer = todo(
        "s1",
        999,
        "d2",
        &[("1", "a", "in_progress"), ("2", "b", "in_progress")],
    );
    let out = merge(&spec, &state([mine.clone()]), [invalid_newer]);
    assert_eq!(out.state.get(&key(None, "s1")), Some(&mine));
    assert!(out.changes.is_empty());
    assert_eq!(out.counts, counts(0, 0, 1, 0));
    assert_eq!(
        out.rejected,
        vec![(
            key(None, "s1"),
            InvalidReason::Todo(TodoInvalid::MultipleInProgress { index: 1 })
        )]
    );
}

#[test]
fn todos_invalid_list_does_not_affect_rest_of_batch() {
    let spec = StoreSpec::todos();
    let good1 = todo("s1", 100, "d2", &[("1", "a", "pending")]);
    let bad = todo(
        "s2",
        100,
        "d2",
        &[("1", "a", "pending"), ("1", "b", "pending")],
    );
    let good3 = todo("s3", 100, "d2", &[("1", "c", "completed")]);
    let out = merge(
        &spec,
        &StoreState::new(),
        [good1.clone(), bad, good3.clone()],
    );
    assert_eq!(out.state.len(), 2);
    assert_eq!(
        out.changes,
        vec![Change::Insert(good1), Change::Insert(good3)]
    );
    assert_eq!(out.counts, counts(2, 0, 1, 0));
    assert_eq!(
        out.rejected,
        vec![(
            key(None, "s2"),
            InvalidReason::Todo(TodoInvalid::DuplicateId { index: 1, first: 0 })
        )]
    );
}

#[test]
fn todos_invalid_newer_list_does_not_shadow_valid_older_one_in_batch() {
    let spec = StoreSpec::todos();
    let valid = todo("s1", 100, "d2", &[("1", "a", "pending")]);
    let invalid = todo("s1", 200, "d2", &[("1", "", "pending")]);
    for batch in [
        vec![valid.clone(), invalid.clone()],
        vec![invalid.clone(), valid.clone()],
    ] {
        let out = merge(&spec, &StoreState::new(), batch);
        assert_eq!(out.state.get(&key(None, "s1")), Some(&valid));
        assert_eq!(out.counts, counts(1, 0, 1, 0));
    }
}

#[test]
fn todos_invalid_list_that_loses_anyway_is_not_checked() {
    let spec = StoreSpec::todos();
    let mine = todo("s1", 300, "d1", &[("1", "a", "pending")]);
    let invalid_older = todo("s1", 200, "d2", &[("1", "", "pending")]);
    let valid_newer = todo("s2", 300, "d2", &[("1", "b", "pending")]);
    let invalid_loser = todo("s2", 100, "d2", &[("1", "b", "done")]);
    let out = merge(
        &spec,
        &state([mine.clone()]),
        [invalid_older, invalid_loser, valid_newer.clone()],
    );
    assert_eq!(out.state.get(&key(None, "s1")), Some(&mine));
    assert_eq!(out.state.get(&key(None, "s2")), Some(&valid_newer));
    assert_eq!(out.changes, vec![Change::Insert(valid_newer)]);
    assert!(out.rejected.is_empty());
    assert_eq!(out.counts, counts(1, 1, 0, 0));
}

#[test]
fn todos_session_tombstone_is_valid_and_deletes() {
    let spec = StoreSpec::todos();
    let list = todo("s1", 100, "d1", &[("1", "a", "pending")]);
    let gone = Record::tombstone("s1", None, 200, None, "d2");
    let out = merge(&spec, &state([list]), [gone.clone()]);
    assert!(out.rejected.is_empty());
    assert_eq!(out.changes, vec![Change::Delete(gone.clone())]);
    assert_eq!(out.state.get(&key(None, "s1")), Some(&gone));
}

#[test]
fn todos_are_unscoped() {
    let spec = StoreSpec::todos();
    let mut r = todo("s1", 100, "d1", &[("1", "a", "pending")]);
    r.scope = Some("me".into());
    let out = merge(&spec, &StoreState::new(), [r]);
    assert_eq!(out.rejected[0].1, InvalidReason::UnexpectedScope);
}

// ---------------------------------------------------------------- memory

#[test]
fn memory_higher_version_wins_regardless_of_arrival() {
    let spec = StoreSpec::memory();
    // v5 was written earlier by the clock but has the higher counter.
    let v5 = mem("conventions", 5, 1_000, "d1", "five");
    let v4 = mem("conventions", 4, 9_000, "d2", "four");
    for batch in [[v5.clone(), v4.clone()], [v4.clone(), v5.clone()]] {
        let out = merge(&spec, &StoreState::new(), batch);
        assert_eq!(out.state.get(&key(None, "conventions")), Some(&v5));
    }
    let out = merge(&spec, &state([v4.clone()]), [v5.clone()]);
    assert_eq!(out.changes, vec![Change::Update(v5.clone())]);
    let out = merge(&spec, &state([v5.clone()]), [v4]);
    assert!(out.changes.is_empty());
    assert_eq!(out.counts, counts(0, 1, 0, 0));
}

#[test]
fn memory_version_tie_broken_by_updated_at() {
    let spec = StoreSpec::memory();
    let early = mem("m", 3, 100, "d9", "early");
    let late = mem("m", 3, 200, "d1", "late");
    let out = merge(&spec, &state([late.clone()]), [early.clone()]);
    assert_eq!(out.state.get(&key(None, "m")), Some(&late));
    let out = merge(&spec, &state([early]), [late.clone()]);
    assert_eq!(out.state.get(&key(None, "m")), Some(&late));
}

#[test]
fn memory_full_tie_broken_by_device_then_content_hash() {
    let spec = StoreSpec::memory();
    let a = mem("m", 3, 100, "device-a", "x");
    let b = mem("m", 3, 100, "device-b", "x");
    assert_eq!(Contract::LwwByVersion.compare(&b, &a), Ordering::Greater);
    assert_eq!(
        merge(&spec, &state([b.clone()]), [a.clone()])
            .state
            .get(&key(None, "m")),
        Some(&b)
    );
    assert_eq!(
        merge(&spec, &state([a]), [b.clone()])
            .state
            .get(&key(None, "m")),
        Some(&b)
    );

    // Same device, same version, same time, different bodies: the larger
    // content hash wins on every device.
    let x = mem("m", 3, 100, "d1", "x");
    let y = mem("m", 3, 100, "d1", "y");
    let winner = if x.content_hash() > y.content_hash() {
        &x
    } else {
        &y
    };
    let xy = merge(&spec, &state([x.clone()]), [y.clone()]).state;
    let yx = merge(&spec, &state([y.clone()]), [x.clone()]).state;
    assert_eq!(xy, yx);
    assert_eq!(xy.get(&key(None, "m")), Some(winner));
}

#[test]
fn memory_additive_local_only_kept() {
    let spec = StoreSpec::memory();
    let local_only = mem("only-here", 1, 100, "d1", "x");
    let out = merge(
        &spec,
        &state([local_only.clone()]),
        [mem("elsewhere", 7, 100, "d2", "y")],
    );
    assert_eq!(out.state.get(&key(None, "only-here")), Some(&local_only));
    assert_eq!(out.state.len(), 2);
}

#[test]
fn memory_requires_a_version() {
    let spec = StoreSpec::memory();
    let unversioned = Record::new("m", None, 100, None, "d1", json!("x"));
    let out = merge(&spec, &StoreState::new(), [unversioned]);
    assert!(out.state.is_empty());
    assert_eq!(
        out.rejected,
        vec![(key(None, "m"), InvalidReason::MissingVersion)]
    );
}

#[test]
fn memory_delete_bumps_the_version_to_win() {
    let spec = StoreSpec::memory();
    let live = mem("m", 4, 100, "d1", "x");
    // A delete is a write: at version 5 it wins, even with an older clock.
    let del5 = mem_del("m", 5, 50, "d2");
    let out = merge(&spec, &state([live.clone()]), [del5.clone()]);
    assert_eq!(out.changes, vec![Change::Delete(del5)]);
    // A delete that forgot to bump the version loses to the higher counter.
    let del3 = mem_del("m", 3, 500, "d2");
    let out = merge(&spec, &state([live.clone()]), [del3]);
    assert_eq!(out.state.get(&key(None, "m")), Some(&live));
}

// ---------------------------------------------------------------- workspace memory

#[test]
fn workspace_memory_excluded_by_design() {
    use azmx_sync_core::merge::{Registry, StoreName, StoreNameError};
    // No store name can be a path.
    for name in [
        "/home/me/proj/.azmx/memory",
        "proj/.azmx/memory",
        ".azmx",
        "~memory",
        "C:memory",
    ] {
        assert!(StoreName::new(name).is_err(), "{name}");
    }
    assert_eq!(
        StoreName::new("workspace-memory"),
        Err(StoreNameError::WorkspaceScoped)
    );
    assert_eq!(
        StoreName::new("memory_workspace"),
        Err(StoreNameError::WorkspaceScoped)
    );
    // The global memory store is already registered and cannot be replaced.
    let mut reg = Registry::with_builtins();
    assert!(reg
        .register(StoreSpec::new(
            StoreName::new("memory").unwrap(),
            Contract::LwwByTime
        ))
        .is_err());
    // Records that point into a machine's filesystem are refused in every store.
    for id in [
        "/home/me/proj/.azmx/memory/facts.md",
        "~/proj/.azmx/memory/facts.md",
        "C:\\proj\\.azmx\\memory\\facts.md",
        "C:/proj/facts.md",
        "\\\\server\\share\\facts.md",
        "../proj/.azmx/memory/facts.md",
        "notes/../../etc",
    ] {
        let out = merge(
            &StoreSpec::memory(),
            &StoreState::new(),
            [mem(id, 1, 1, "d1", "x")],
        );
        assert_eq!(out.rejected[0].1, InvalidReason::PathLikeId, "{id}");
        assert!(out.state.is_empty());
    }
    // Relative ids inside the global memory tree are fine.
    let out = merge(
        &StoreSpec::memory(),
        &StoreState::new(),
        [mem("team/conventions.md", 1, 1, "d1", "x")],
    );
    assert_eq!(out.state.len(), 1);
}

// ---------------------------------------------------------------- tombstones

#[test]
fn tombstone_propagates_delete() {
    let spec = StoreSpec::snippets();
    let local = state([snip("me", "a", 100, "d1", "x")]);
    let del = snip_del("me", "a", 200, "d2");
    let out = merge(&spec, &local, [del.clone()]);
    assert_eq!(out.changes, vec![Change::Delete(del.clone())]);
    assert_eq!(out.state.get(&key(Some("me"), "a")), Some(&del));
    assert_eq!(out.state.live().count(), 0);
    assert_eq!(out.counts, counts(1, 0, 0, 0));
}

#[test]
fn tombstone_stays_dead_against_older_write() {
    let spec = StoreSpec::snippets();
    let del = snip_del("me", "a", 200, "d1");
    // An old device comes back online with its stale copy.
    let out = merge(
        &spec,
        &state([del.clone()]),
        [snip("me", "a", 150, "old-laptop", "zombie")],
    );
    assert_eq!(out.state.get(&key(Some("me"), "a")), Some(&del));
    assert!(out.changes.is_empty());
    assert_eq!(out.counts, counts(0, 1, 0, 0));
}

#[test]
fn tombstone_without_local_is_stored_but_emits_no_change() {
    let spec = StoreSpec::snippets();
    let del = snip_del("me", "a", 200, "d1");
    let out = merge(&spec, &StoreState::new(), [del.clone()]);
    assert!(out.changes.is_empty());
    assert_eq!(out.counts, counts(1, 0, 0, 0));
    assert_eq!(out.state.get(&key(Some("me"), "a")), Some(&del));
    // ... so the record cannot come back from an older write afterwards.
    let later = merge(&spec, &out.state, [snip("me", "a", 100, "d2", "zombie")]);
    assert_eq!(later.state.get(&key(Some("me"), "a")), Some(&del));
    assert!(later.changes.is_empty());
}

#[test]
fn newer_write_after_delete_recreates_the_record() {
    let spec = StoreSpec::snippets();
    let del = snip_del("me", "a", 200, "d1");
    let again = snip("me", "a", 300, "d2", "back");
    let out = merge(&spec, &state([del]), [again.clone()]);
    assert_eq!(out.changes, vec![Change::Insert(again)]);
}

#[test]
fn newer_tombstone_replaces_older_tombstone_without_change() {
    let spec = StoreSpec::snippets();
    let old = snip_del("me", "a", 200, "d1");
    let new = snip_del("me", "a", 300, "d2");
    let out = merge(&spec, &state([old]), [new.clone()]);
    assert!(out.changes.is_empty());
    assert_eq!(out.counts, counts(1, 0, 0, 0));
    assert_eq!(out.state.get(&key(Some("me"), "a")), Some(&new));
}

#[test]
fn delete_wins_a_tie_at_the_same_timestamp() {
    let spec = StoreSpec::snippets();
    let live = snip("me", "a", 200, "zz-device", "x");
    let del = snip_del("me", "a", 200, "aa-device");
    assert_eq!(
        merge(&spec, &state([live.clone()]), [del.clone()])
            .state
            .get(&key(Some("me"), "a")),
        Some(&del)
    );
    assert_eq!(
        merge(&spec, &state([del.clone()]), [live])
            .state
            .get(&key(Some("me"), "a")),
        Some(&del)
    );
}

#[test]
fn malformed_records_are_rejected() {
    let spec = StoreSpec::snippets();
    let mut tomb_with_body = snip_del("me", "a", 1, "d1");
    tomb_with_body.body = Some(json!("x").into());
    let mut live_without_body = snip("me", "b", 1, "d1", "x");
    live_without_body.body = None;
    let mut live_null_body = snip("me", "c", 1, "d1", "x");
    live_null_body.body = Some(Value::Null.into());
    let cases = [
        (tomb_with_body, InvalidReason::TombstoneWithBody),
        (live_without_body, InvalidReason::MissingBody),
        (live_null_body, InvalidReason::MissingBody),
        (
            snip("me", "d", -1, "d1", "x"),
            InvalidReason::NegativeTimestamp,
        ),
        (snip("me", "", 1, "d1", "x"), InvalidReason::EmptyId),
        (
            snip("me", &"i".repeat(257), 1, "d1", "x"),
            InvalidReason::IdTooLong,
        ),
        (
            snip("me", "a\nb", 1, "d1", "x"),
            InvalidReason::ControlCharInId,
        ),
        (snip("me", "e", 1, "", "x"), InvalidReason::EmptyDeviceId),
        (
            snip("me", "f", 1, &"d".repeat(129), "x"),
            InvalidReason::DeviceIdTooLong,
        ),
        (snip("", "g", 1, "d1", "x"), InvalidReason::EmptyScope),
        (
            snip(&"h".repeat(129), "g", 1, "d1", "x"),
            InvalidReason::ScopeTooLong,
        ),
    ];
    for (rec, reason) in cases {
        let k = rec.key();
        let out = merge(&spec, &StoreState::new(), [rec]);
        assert!(out.state.is_empty(), "{reason:?}");
        assert_eq!(out.rejected, vec![(k, reason.clone())]);
    }
    // Boundaries are accepted.
    let ok = snip(&"h".repeat(128), &"i".repeat(256), 0, &"d".repeat(128), "x");
    assert_eq!(merge(&spec, &StoreState::new(), [ok]).state.len(), 1);
}

// ---------------------------------------------------------------- output

#[test]
fn equal_incoming_record_produces_no_change() {
    let spec = StoreSpec::snippets();
    let a = snip("me", "a", 100, "d1", "x");
    let out = merge(&spec, &state([a.clone()]), [a.clone(), a.clone()]);
    assert!(out.changes.is_empty());
    assert_eq!(out.counts, counts(0, 0, 0, 1));
}

#[test]
fn duplicate_keys_in_one_batch_resolved_by_the_order() {
    let spec = StoreSpec::snippets();
    let v = [
        snip("me", "a", 100, "d1", "1"),
        snip("me", "a", 300, "d1", "3"),
        snip_del("me", "a", 200, "d2"),
        snip("me", "a", 300, "d0", "3b"),
    ];
    let perms = [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]];
    for p in perms {
        let out = merge(&spec, &StoreState::new(), p.map(|i| v[i].clone()));
        assert_eq!(out.state.get(&key(Some("me"), "a")), Some(&v[1]), "{p:?}");
        assert_eq!(out.changes, vec![Change::Insert(v[1].clone())]);
        assert_eq!(out.counts, counts(1, 0, 0, 0));
    }
}

#[test]
fn changes_and_rejections_are_in_key_order() {
    let spec = StoreSpec::snippets();
    let out = merge(
        &spec,
        &StoreState::new(),
        [
            snip("me", "c", 1, "d1", "x"),
            snip("me", "", 1, "d1", "x"),
            snip("alice", "z", 1, "d1", "x"),
            snip("me", "a", 1, "d1", "x"),
            Record::new("q", None, 1, None, "d1", json!(1)),
        ],
    );
    let keys: Vec<RecordKey> = out.changes.iter().map(Change::key).collect();
    assert_eq!(
        keys,
        vec![
            key(Some("alice"), "z"),
            key(Some("me"), "a"),
            key(Some("me"), "c")
        ]
    );
    let rejected: Vec<&RecordKey> = out.rejected.iter().map(|(k, _)| k).collect();
    assert_eq!(rejected, vec![&key(None, "q"), &key(Some("me"), "")]);
}

#[test]
fn merge_in_place_matches_merge() {
    let spec = StoreSpec::memory();
    let local = state([mem("a", 1, 1, "d1", "x"), mem("b", 1, 1, "d1", "x")]);
    let batch = vec![
        mem("a", 2, 1, "d2", "y"),
        mem_del("b", 2, 1, "d2"),
        mem("c", 1, 1, "d2", "z"),
    ];
    let out = merge(&spec, &local, batch.clone());
    let mut st = local.clone();
    let report = merge_in_place(&spec, &mut st, batch);
    assert_eq!(st, out.state);
    assert_eq!(report.changes, out.changes);
    assert_eq!(report.counts, out.counts);
    assert_eq!(out.counts, counts(3, 0, 0, 0));
    assert_eq!(out.changes.len(), 3);
}

#[test]
fn small_batch_into_large_state_uses_same_rules() {
    // Exercises the lookup path (few incoming, many local).
    let spec = StoreSpec::memory();
    let local: StoreState = (0..1000)
        .map(|i| mem(&format!("m{i:04}"), 2, 10, "d1", "x"))
        .collect();
    let newer = mem("m0500", 3, 1, "d2", "y");
    let older = mem("m0600", 1, 99, "d2", "z");
    let fresh = mem("new", 1, 1, "d2", "n");
    let out = merge(&spec, &local, [newer.clone(), older, fresh.clone()]);
    assert_eq!(out.state.len(), 1001);
    assert_eq!(
        out.changes,
        vec![Change::Update(newer), Change::Insert(fresh)]
    );
    assert_eq!(out.counts, counts(2, 1, 0, 0));
}

#[test]
fn merge_counts_serialise_camel_case() {
    let c = counts(1, 2, 3, 4);
    let v = serde_json::to_value(c).unwrap();
    assert_eq!(
        v,
        json!({"applied": 1, "keptLocal": 2, "rejectedInvalid": 3, "unchanged": 4})
    );
    assert_eq!(serde_json::from_value::<MergeCounts>(v).unwrap(), c);
}

// ---------------------------------------------------------------- records

#[test]
fn record_debug_never_prints_the_body() {
    let secret = "SECRET-PLAINTEXT-4242";
    let r = Record::new(
        "id-1",
        Some("me".into()),
        7,
        Some(3),
        "dev-9",
        json!({ "text": secret }),
    );
    let dbg = format!("{r:?} {:?} {:#?}", Change::Update(r.clone()), r);
    assert!(!dbg.contains(secret), "{dbg}");
    for shown in [
        "id-1",
        "dev-9",
        "updated_at: 7",
        "Some(3)",
        "deleted: false",
    ] {
        assert!(dbg.contains(shown), "{shown} missing from {dbg}");
    }
    let st = state([r]);
    assert!(!format!("{st:?}").contains(secret));
}

#[test]
fn record_serde_is_camel_case_and_round_trips() {
    let r = Record::new(
        "a",
        Some("me".into()),
        7,
        Some(3),
        "d1",
        json!({"k": [1, 2]}),
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v,
        json!({"id": "a", "scope": "me", "updatedAt": 7, "version": 3, "deleted": false,
               "deviceId": "d1", "body": {"k": [1, 2]}})
    );
    assert_eq!(serde_json::from_value::<Record>(v).unwrap(), r);
    // The body is written inline, canonical; any spelling of it parses back.
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"id":"a","scope":"me","updatedAt":7,"version":3,"deleted":false,"deviceId":"d1","body":{"k":[1,2]}}"#
    );
    let spaced = r#"{"id":"a","scope":"me","updatedAt":7,"version":3,"deviceId":"d1",
                     "body": { "k" : [ 1, 2 ] } }"#;
    assert_eq!(serde_json::from_str::<Record>(spaced).unwrap(), r);
    let t = Record::tombstone("a", None, 7, None, "d1");
    let v = serde_json::to_value(&t).unwrap();
    assert_eq!(
        v,
        json!({"id": "a", "updatedAt": 7, "deleted": true, "deviceId": "d1"})
    );
    assert_eq!(serde_json::from_value::<Record>(v).unwrap(), t);
}

#[test]
fn content_hash_is_sha256_of_canonical_serde_form() {
    use sha2::{Digest, Sha256};
    let records = [
        Record::new(
            "a\"b",
            Some("mé".into()),
            7,
            Some(3),
            "d\u{1}",
            json!({"z": 1, "a": [0.5, -0.0]}),
        ),
        Record::tombstone("a", None, -7, None, "d1"),
    ];
    for r in records {
        let canon = azmx_sync_core::merge::canonical_json(&serde_json::to_value(&r).unwrap());
        assert_eq!(r.canonical(), canon);
        let expect: [u8; 32] = Sha256::digest(canon.as_bytes()).into();
        assert_eq!(r.content_hash(), expect);
    }
}

#[test]
fn state_serialises_as_a_list_and_round_trips() {
    let st = state([snip("me", "b", 1, "d1", "x"), snip_del("me", "a", 2, "d1")]);
    let v = serde_json::to_value(&st).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["id"], "a");
    assert_eq!(serde_json::from_value::<StoreState>(v).unwrap(), st);
    assert_eq!(st.live().count(), 1);
    assert_eq!(st.tombstones().count(), 1);
}
