//! Regression tests for issue 11 defects 1, 4 and 7: the sync cycle and the
//! engine's persisted state. Real engines against a real relay on loopback.

use std::sync::{Arc, Mutex};

use azmx_sync_core::engine::{
    EngineConfig, HostError, StoreAdapter, SyncEngine, SystemClock, UreqTransport,
};
use azmx_sync_core::merge::{Change, Record, StoreSpec};
use azmx_sync_e2e::*;
use serde_json::json;

/// A host store that, like a user typing during a background sync, writes
/// a record of its own right before the engine's `n`-th snapshot from arming.
#[derive(Default)]
struct EditingStore {
    inner: MemStore,
    armed: Mutex<Option<(u32, Record)>>,
}

impl EditingStore {
    fn edit_on_snapshot(&self, nth: u32, r: Record) {
        *self.armed.lock().unwrap() = Some((nth, r));
    }
}

impl StoreAdapter for EditingStore {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        let mut armed = self.armed.lock().unwrap();
        if let Some((n, r)) = armed.take() {
            if n <= 1 {
                self.inner.put(r);
            } else {
                *armed = Some((n - 1, r));
            }
        }
        self.inner.snapshot()
    }
    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
        self.inner.apply(changes)
    }
}

fn engine_at(relay: &RelayFixture, state: &std::path::Path, name: &str) -> SyncEngine {
    let mut config = EngineConfig::new(state);
    config.clock = Arc::new(SystemClock::default());
    let engine = SyncEngine::new(config, Arc::new(UreqTransport::default())).unwrap();
    engine
        .register(&relay.url(), &relay.license_id, &relay.license_key, name)
        .unwrap();
    engine
        .set_receipt(secrecy::SecretString::from(RECEIPT))
        .unwrap();
    engine
}

fn snippet(id: &str, text: &str, at: i64, author: &str) -> Record {
    Record::new(
        id,
        Some("h".into()),
        at,
        None,
        author.to_string(),
        json!({ "text": text }),
    )
}

fn text_of(r: &Record) -> String {
    r.body.as_ref().unwrap().to_value()["text"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Defect 1: a host edit that lands between the push snapshot and the pull
/// snapshot of one cycle, on a key a peer also pushed, must still be pushed.
#[test]
fn edit_during_a_cycle_is_pushed_by_the_next_cycle() {
    let relay = RelayFixture::start();
    let peer = Device::new(&relay, "peer");
    let state = tempfile::tempdir().unwrap();
    let a = engine_at(&relay, state.path(), "typist");
    let store = Arc::new(EditingStore::default());
    a.register_store(StoreSpec::snippets(), store.clone())
        .unwrap();
    let me = a.device_id().unwrap();
    let t = now_ms();

    store.inner.put(snippet("k", "v0", t, &me));
    a.sync_now().unwrap();
    peer.sync();
    assert_eq!(peer.snippet_text("h", "k").as_deref(), Some("v0"));

    // The peer edits the key; then, during A's next cycle, the user edits it
    // too (later, so the local edit wins the merge).
    peer.add_snippet("h", "k", "peer v1", t + 10);
    peer.sync();
    // Snapshot 1 is the push side's (nothing changed yet: no push);
    // snapshot 2 is the pull side's, right before the merge.
    store.edit_on_snapshot(2, snippet("k", "typed v2", t + 20, &me));
    let r = a.sync_now().unwrap();
    assert_eq!(r.pushed_seq, None, "nothing to push before the edit");
    assert_eq!(
        text_of(&store.inner.get(Some("h"), "k").unwrap()),
        "typed v2",
        "the later local edit wins the merge"
    );

    assert_eq!(
        a.unsynced().unwrap().count,
        1,
        "the relay does not have the edit made during the cycle"
    );
    let r = a.sync_now().unwrap();
    assert!(r.pushed_seq.is_some(), "the next cycle pushes the edit");
    assert_eq!(a.unsynced().unwrap().count, 0);
    peer.sync();
    assert_eq!(peer.snippet_text("h", "k").as_deref(), Some("typed v2"));
}
