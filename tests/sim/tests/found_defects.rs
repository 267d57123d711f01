//! Defects the simulator found that are not on issue 11's list, each as a
//! deterministic test that failed before its fix in core.

use std::sync::Arc;
use std::time::Duration;

use azmx_sync_core::engine::{EngineConfig, SyncEngine, UreqTransport};
use azmx_sync_core::merge::{Record, RecordKey, StoreSpec};
use azmx_sync_relay::{add_license, Relay, RelayConfig};
use serde_json::json;

/// Found by seed 0xae309fa44d2f3c08 (relay_kill.rs, before the gate
/// `SIM_SKEWED_CREATES` existed).
/// Device A, its clock 8 minutes ahead, creates and deletes a snippet
/// before syncing, so only the tombstone travels. B pulls it: the merge
/// keeps a tombstone for a key B's host never had without any change for
/// the host, so B's host cannot know. B's user then creates the same key
/// (B's correct clock is "earlier" than A's delete). Every other device
/// keeps the delete; B keeps showing the record, and no later cycle tells
/// it otherwise (the engine's tombstone masks B's live record in every merge).
#[test]
fn create_behind_a_skewed_peers_delete_converges() {
    let now = 1_800_000_000_000i64;
    let key = RecordKey::new(Some("h".into()), "s1");
    diverges_after_create_behind_unseen_delete(
        StoreSpec::snippets(),
        // A's clock is 8 minutes ahead; B creates a minute later in real time.
        |aid| Record::tombstone("s1", Some("h".into()), now + 480_000, None, aid),
        |bid| {
            Record::new(
                "s1",
                Some("h".into()),
                now + 60_000,
                None,
                bid,
                json!({ "text": "new" }),
            )
        },
        key,
    );
}

/// The same without any skew, found by seed 0x71f884b3b8de1c6e (sim.rs):
/// in memory (LWW by version) A writes m0 (v1) and deletes it (v2) before
/// syncing; B, whose host never had m0, creates it later as version 1.
#[test]
fn memory_create_after_unseen_delete_converges() {
    let now = 1_800_000_000_000i64;
    diverges_after_create_behind_unseen_delete(
        StoreSpec::memory(),
        |aid| Record::tombstone("m0", None, now, Some(2), aid),
        |bid| {
            Record::new(
                "m0",
                None,
                now + 1000,
                Some(1),
                bid,
                json!({ "fact": "new" }),
            )
        },
        RecordKey::new(None, "m0"),
    );
}

fn diverges_after_create_behind_unseen_delete(
    spec: StoreSpec,
    tombstone: impl Fn(&str) -> Record,
    create: impl Fn(&str) -> Record,
    key: RecordKey,
) {
    let dir = tempfile::tempdir().unwrap();
    let lid = "lic_found";
    let license_key = add_license(dir.path(), lid).unwrap();
    let relay = Relay::start(RelayConfig::new(dir.path())).unwrap();
    let mk = |name: &str| {
        let state = tempfile::tempdir().unwrap();
        let engine = SyncEngine::new(
            EngineConfig::new(state.path()),
            Arc::new(UreqTransport::new(Duration::from_secs(10))),
        )
        .unwrap();
        let store = Arc::new(azmx_sync_e2e_free::Mem::default());
        engine.register_store(spec.clone(), store.clone()).unwrap();
        engine
            .register(&relay.url(), lid, &license_key, name)
            .unwrap();
        engine
            .set_receipt(secrecy::SecretString::from("RCPT-FOUND-0001"))
            .unwrap();
        (engine, store, state)
    };
    let (a, a_store, _sa) = mk("a");
    let (b, b_store, _sb) = mk("b");
    a.sync_now().unwrap();
    b.sync_now().unwrap();
    let (aid, bid) = (a.device_id().unwrap(), b.device_id().unwrap());
    // Only the tombstone travels: A created and deleted between syncs.
    a_store.put(tombstone(&aid));
    a.sync_now().unwrap();
    b.sync_now().unwrap();
    assert!(b_store.get(&key).is_none(), "B's host is never told");
    b_store.put(create(&bid));
    for _ in 0..3 {
        b.sync_now().unwrap();
        a.sync_now().unwrap();
    }
    let live = |s: &azmx_sync_e2e_free::Mem| s.get(&key).is_some_and(|r| !r.deleted);
    assert_eq!(
        live(&a_store),
        live(&b_store),
        "A and B disagree on whether {key:?} exists"
    );
}

mod azmx_sync_e2e_free {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use azmx_sync_core::engine::{HostError, StoreAdapter};
    use azmx_sync_core::merge::{Change, Record, RecordKey};

    /// A host store that keeps tombstones.
    #[derive(Default)]
    pub struct Mem(Mutex<BTreeMap<RecordKey, Record>>);

    impl Mem {
        pub fn put(&self, r: Record) {
            self.0.lock().unwrap().insert(r.key(), r);
        }
        pub fn get(&self, k: &RecordKey) -> Option<Record> {
            self.0.lock().unwrap().get(k).cloned()
        }
    }

    impl StoreAdapter for Mem {
        fn snapshot(&self) -> Result<Vec<Record>, HostError> {
            Ok(self.0.lock().unwrap().values().cloned().collect())
        }
        fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
            for c in changes {
                self.put(c.record().clone());
            }
            Ok(())
        }
    }
}
