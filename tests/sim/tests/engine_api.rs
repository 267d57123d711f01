//! Engine API follow-ups of issue 11 that the simulator relies on, each
//! against a real relay on loopback:
//! - `set_envelope_key`: a host that derived the key once hands it to a
//!   further engine of the same license (no second PBKDF2);
//! - a panic inside the engine's own cycle code is reported as
//!   `SyncError::Internal` (code `internal`), not as a state-dir I/O error;
//! - `register()` saves the state under the state directory's lock, so it
//!   cannot interleave with another process's cycle on the same directory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use azmx_sync_core::engine::{
    Clock, EngineConfig, StoreAdapter, SyncEngine, SyncError, SystemClock, UreqTransport,
};
use azmx_sync_core::merge::{Record, RecordKey};
use azmx_sync_core::EnvelopeKey;
use azmx_sync_sim::*;
use serde_json::json;

fn engine(dir: &std::path::Path, clock: Arc<dyn Clock>) -> (SyncEngine, Arc<SimStore>) {
    let mut config = EngineConfig::new(dir);
    config.clock = clock;
    let engine = SyncEngine::new(
        config,
        Arc::new(UreqTransport::new(Duration::from_secs(20))),
    )
    .expect("engine");
    let store = Arc::new(SimStore::detached(0));
    engine
        .register_store(spec(0), store.clone() as Arc<dyn StoreAdapter>)
        .expect("register store");
    (engine, store)
}

fn register(e: &SyncEngine, relay: &SimRelay, name: &str) {
    e.register(&relay.url, &relay.license_id, &relay.license_key, name)
        .expect("register");
}

#[test]
fn an_engine_given_the_derived_key_syncs_with_one_given_the_receipt() {
    let relay = SimRelay::start(Backend::SqliteFull, 1);
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, sa) = engine(da.path(), Arc::new(SystemClock::default()));
    let (b, sb) = engine(db.path(), Arc::new(SystemClock::default()));
    register(&a, &relay, "a");
    register(&b, &relay, "b");
    a.set_receipt(secrecy::SecretString::from(RECEIPT))
        .expect("receipt");
    let key = EnvelopeKey::derive(RECEIPT, &relay.license_id).expect("derive");
    b.set_envelope_key(Arc::new(key));
    assert!(b.status().receipt_set, "a handed key counts as set");
    let rec = Record::new(
        "x",
        Some("h1".into()),
        1_700_000_000_000,
        None,
        "a",
        json!({"text": "from a"}),
    );
    sa.put(rec.clone());
    a.sync_now().expect("a syncs");
    b.sync_now().expect("b syncs with the handed key");
    let got = sb.get(&RecordKey::new(Some("h1".into()), "x"));
    assert_eq!(got, Some(rec), "b received a's record");

    // A key of another license is refused by the key check, nothing applied.
    let dc = tempfile::tempdir().unwrap();
    let (c, _) = engine(dc.path(), Arc::new(SystemClock::default()));
    register(&c, &relay, "c");
    c.set_envelope_key(Arc::new(
        EnvelopeKey::derive(RECEIPT, "lic_other").expect("derive"),
    ));
    match c.sync_now() {
        Err(SyncError::WrongReceipt { .. }) => {}
        other => panic!("a key of another license must be refused: {other:?}"),
    }
}

/// A host clock that panics once when armed: a panic raised by the engine's
/// own code path (the clock is not a callback the engine guards one by one).
struct PanicOnce {
    armed: AtomicBool,
}

impl Clock for PanicOnce {
    fn now_ms(&self) -> i64 {
        if self.armed.swap(false, Ordering::SeqCst) {
            panic!("sim: clock panics inside the cycle");
        }
        SystemClock::default().now_ms()
    }
}

#[test]
fn a_panic_inside_the_cycle_is_an_internal_error() {
    let relay = SimRelay::start(Backend::SqliteFull, 2);
    let d = tempfile::tempdir().unwrap();
    let clock = Arc::new(PanicOnce {
        armed: AtomicBool::new(false),
    });
    let (e, _) = engine(d.path(), clock.clone());
    register(&e, &relay, "a");
    e.set_envelope_key(Arc::new(
        EnvelopeKey::derive(RECEIPT, &relay.license_id).expect("derive"),
    ));
    clock.armed.store(true, Ordering::SeqCst);
    let err = e.sync_now().expect_err("the cycle panicked");
    assert_eq!(err.code(), "internal", "{err:?}");
    assert!(matches!(err, SyncError::Internal { .. }), "{err:?}");
    e.sync_now().expect("the next cycle runs");
}

#[test]
fn register_waits_for_the_state_dir_lock() {
    let relay = SimRelay::start(Backend::SqliteFull, 3);
    let d = tempfile::tempdir().unwrap();
    let (e, _) = engine(d.path(), Arc::new(SystemClock::default()));
    // Another process's cycle holds the lock (flock is per open file, so a
    // second open in this process stands for it).
    let held = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(d.path().join("engine.lock"))
        .unwrap();
    held.lock().unwrap();
    let (url, lid, key) = (
        relay.url.clone(),
        relay.license_id.clone(),
        relay.license_key.clone(),
    );
    let e2 = e.clone();
    let t = std::thread::spawn(move || e2.register(&url, &lid, &key, "a"));
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        !t.is_finished(),
        "register saved the state while another process held the lock"
    );
    held.unlock().unwrap();
    t.join().unwrap().expect("register after the lock is free");
    assert!(e.device_id().is_some());
}
