//! Defects the simulator found with `SIM_SKEWED_CREATES=1
//! SIM_STRICT_QUIESCENCE=1`, each as a deterministic test against a real
//! relay on loopback.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use azmx_sync_core::engine::{EngineConfig, StoreAdapter, SyncEngine, UreqTransport};
use azmx_sync_core::merge::{Record, RecordKey};
use azmx_sync_sim::*;
use serde_json::json;

const NOTES: usize = 3;

fn device(relay: &SimRelay, name: &str) -> (SyncEngine, Arc<SimStore>, tempfile::TempDir) {
    let state = tempfile::tempdir().unwrap();
    let engine = SyncEngine::new(
        EngineConfig::new(state.path()),
        Arc::new(UreqTransport::new(Duration::from_secs(20))),
    )
    .unwrap();
    let store = Arc::new(SimStore::detached(NOTES));
    engine
        .register_store(spec(NOTES), store.clone() as Arc<dyn StoreAdapter>)
        .unwrap();
    engine
        .register(&relay.url, &relay.license_id, &relay.license_key, name)
        .unwrap();
    engine.set_envelope_key(envelope_key(&relay.license_id));
    (engine, store, state)
}

/// Found by seed 0x6261a071dc684ac4 (sim.rs): B holds an older note, A's
/// delete of it comes in on B's pull, and B's user saves a newer version of
/// the note while the cycle runs, after the engine's snapshot for the merge
/// and before its `apply`. The merge was computed against the snapshot, so
/// the delete is handed to the host although the host now holds a version
/// that beats it: a host that writes every change as given lost the user's
/// edit on every device, the writer's own included. The CLI's store keeps
/// whichever version the contract says wins (cli/src/store.rs); the
/// simulator's host did not. This is the rule every host's `apply` must
/// follow, as the engine cannot read and write a host's store atomically.
#[test]
fn an_edit_saved_between_the_merge_snapshot_and_apply_survives() {
    let t0 = 1_700_000_000_000i64;
    let relay = SimRelay::start(Backend::SqliteFull, 2);
    let (a, a_store, _sa) = device(&relay, "a");
    let (b, b_store, _sb) = device(&relay, "b");
    a.sync_now().unwrap();
    b.sync_now().unwrap();
    let (aid, bid) = (a.device_id().unwrap(), b.device_id().unwrap());
    let key = RecordKey::new(Some("f1".into()), "n0");
    let f1 = || Some("f1".to_string());
    b_store.put(Record::new(
        "n0",
        f1(),
        t0 + 28_000,
        None,
        &bid,
        json!({"note": "old"}),
    ));
    b.sync_now().unwrap();
    a.sync_now().unwrap();
    a_store.put(Record::tombstone("n0", f1(), t0 + 36_000, None, &aid));
    a.sync_now().unwrap();

    // B's cycle: the push snapshot (nothing to push), then the merge's
    // snapshot, after whose copy the user saves the newer version.
    let newer = Record::new("n0", f1(), t0 + 51_000, None, &bid, json!({"note": "new"}));
    let fired = Arc::new(AtomicBool::new(false));
    {
        let (st, rec, fired) = (Arc::clone(&b_store), newer.clone(), Arc::clone(&fired));
        b_store.edit_during_snapshot(1, move || {
            st.put(rec);
            fired.store(true, Ordering::SeqCst);
        });
    }
    let r = b.sync_now().unwrap();
    assert!(fired.load(Ordering::SeqCst), "the edit was made");
    assert_eq!(
        r.pushed_seq, None,
        "the edit landed after the push snapshot"
    );
    assert_eq!(
        b_store.get(&key),
        Some(newer.clone()),
        "B's host lost the edit its user saved during the cycle"
    );
    for _ in 0..2 {
        b.sync_now().unwrap();
        a.sync_now().unwrap();
    }
    assert_eq!(a_store.get(&key), Some(newer), "A has B's newer note");
}

/// Seed 0x9fc021bc4a92e6d8 (sim.rs): the rogue device d3 wrote a valid list
/// t2 at t=43000, then an invalid one at t=50000, then pushed a checkpoint
/// (carrying the invalid list) and pruned the delta that held t=43000. d4,
/// catching up from that checkpoint, rejects the invalid list and can never
/// learn t=43000, which older devices hold. Not an engine defect: the model
/// accepts, for such a key, the winner among every other valid write or a
/// valid write of the rogue that beats it, and nothing else.
#[test]
fn a_rogues_valid_list_superseded_by_its_invalid_one_may_be_missing() {
    let t = |s: i64| 1_700_000_000_000i64 + s * 1000;
    let list = |tag: &str| json!({"items": [{"id": "i0", "content": tag, "status": "pending"}]});
    let bad = json!({"items": [{"id": "i0", "content": "a", "status": "in_progress"},
                               {"id": "i1", "content": "b", "status": "in_progress"}]});
    let w = |step: usize, device: usize, rec: Record| Write {
        step,
        device,
        store: 1,
        record: rec,
    };
    let key = RecordKey::new(None, "t2");
    let peer = Record::new("t2", None, t(36), None, "d4", list("peer"));
    let rogue_valid = Record::new("t2", None, t(43), None, "d3", list("rogue"));
    let log = vec![
        w(36, 4, peer.clone()),
        w(43, 3, rogue_valid.clone()),
        w(
            50,
            3,
            Record::new("t2", None, t(50), None, "d3", bad.clone()),
        ),
        // Another key, whose last rogue write is valid: checked as before.
        w(51, 3, Record::new("t1", None, t(51), None, "d3", bad)),
        w(
            52,
            3,
            Record::new("t1", None, t(52), None, "d3", list("ok")),
        ),
    ];
    let alts = rogue_alternatives(&log, &[3].into_iter().collect());
    assert_eq!(alts.keys().collect::<Vec<_>>(), vec![&key]);
    assert_eq!(alts[&key], vec![Some(peer), Some(rogue_valid)]);
    // No rogue: nothing is relaxed.
    assert!(rogue_alternatives(&log, &Default::default()).is_empty());
}
