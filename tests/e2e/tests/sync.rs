//! End-to-end: real engines, real relay on loopback, real HTTP.

use azmx_sync_core::engine::SyncError;
use azmx_sync_e2e::*;
use serde_json::json;

#[test]
fn two_devices_converge_on_every_store() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "laptop");
    let b = Device::new(&relay, "desktop");
    let t = now_ms();
    a.add_snippet("work", "s1", "Summarise this diff", t);
    a.add_snippet("home", "s1", "Plan the week", t);
    a.set_todos(
        "sess-1",
        json!([{"id":"1","content":"write tests","status":"in_progress"}]),
        t,
    );
    a.put_memory("m1", "prefers tabs", 1, t);
    let r = a.sync();
    assert!(
        r.pushed_seq.is_some() && r.checkpoint,
        "first push is a checkpoint"
    );
    b.sync();
    assert_eq!(
        b.snippet_text("work", "s1").as_deref(),
        Some("Summarise this diff")
    );
    assert_eq!(
        b.snippet_text("home", "s1").as_deref(),
        Some("Plan the week"),
        "ids are scoped by handle"
    );
    assert_eq!(b.todos.live().len(), 1);
    assert_eq!(b.memory.live().len(), 1);
    // And back.
    b.add_snippet("work", "s2", "from the desktop", t + 5);
    b.sync();
    a.sync();
    assert_eq!(
        a.snippet_text("work", "s2").as_deref(),
        Some("from the desktop")
    );
    assert_eq!(visible_state(&a), visible_state(&b));
    assert!(b.event_types().iter().any(|e| e == "applied"));
}

#[test]
fn three_devices_converge_in_any_order() {
    let relay = RelayFixture::start();
    let devs = [
        Device::new(&relay, "one"),
        Device::new(&relay, "two"),
        Device::new(&relay, "three"),
    ];
    let t = now_ms();
    for (i, d) in devs.iter().enumerate() {
        d.add_snippet("h", &format!("own-{i}"), &format!("text {i}"), t + i as i64);
        d.add_snippet("h", "shared", &format!("edit by {i}"), t + 100 + i as i64);
        d.put_memory(
            "fact",
            &format!("v from {i}"),
            10 - i as u64,
            t + 1000 - i as i64,
        );
    }
    for order in [[2, 0, 1], [1, 2, 0], [0, 1, 2]] {
        for i in order {
            devs[i].sync();
        }
    }
    let s0 = visible_state(&devs[0]);
    assert_eq!(s0, visible_state(&devs[1]));
    assert_eq!(s0, visible_state(&devs[2]));
    assert_eq!(
        devs[1].snippet_text("h", "shared").as_deref(),
        Some("edit by 2"),
        "last write wins"
    );
    let fact = devs[2].memory.get(None, "fact").unwrap();
    assert_eq!(
        fact.version,
        Some(10),
        "highest memory version wins regardless of arrival"
    );
    assert_eq!(fact.body.unwrap().to_value()["fact"], "v from 0");
}

#[test]
fn additive_merge_keeps_local_only_records() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let b = Device::new(&relay, "b");
    let t = now_ms();
    b.add_snippet("h", "local-only", "never pushed yet", t);
    a.add_snippet("h", "from-a", "hello", t);
    a.sync();
    // b pulls before its own push has happened? Its cycle pushes first, but
    // the merge must keep its own record either way.
    b.sync();
    assert_eq!(
        b.snippet_text("h", "local-only").as_deref(),
        Some("never pushed yet")
    );
    assert_eq!(b.snippet_text("h", "from-a").as_deref(), Some("hello"));
    // Absence on a peer never deletes.
    a.sync();
    assert!(a.snippet_text("h", "local-only").is_some());
}

#[test]
fn deletes_propagate_and_stay_deleted() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let b = Device::new(&relay, "b");
    let old = Device::new(&relay, "old");
    let t = now_ms();
    a.add_snippet("h", "doomed", "v1", t);
    a.sync();
    b.sync();
    old.sync();
    assert!(old.snippet_text("h", "doomed").is_some());
    // The old device edits offline at an older time; a deletes later.
    old.add_snippet("h", "doomed", "stale edit", t + 10);
    a.delete_snippet("h", "doomed", t + 20);
    a.sync();
    b.sync();
    assert!(b.snippet_text("h", "doomed").is_none(), "delete propagated");
    old.sync();
    assert!(
        old.snippet_text("h", "doomed").is_none(),
        "the stale write lost to the tombstone"
    );
    b.sync();
    a.sync();
    assert!(
        a.snippet_text("h", "doomed").is_none(),
        "does not come back"
    );
    assert!(b.snippet_text("h", "doomed").is_none());
    assert!(b.event_types().iter().any(|e| e == "applied"));
}

#[test]
fn invalid_todo_list_is_rejected_while_the_rest_applies() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "buggy-host");
    let b = Device::new(&relay, "b");
    let t = now_ms();
    b.set_todos(
        "sess",
        json!([{"id":"1","content":"keep me","status":"pending"}]),
        t,
    );
    b.sync();
    // a's host writes a broken list (two items in progress) and a good snippet.
    a.set_todos(
        "sess",
        json!([
            {"id":"1","content":"x","status":"in_progress"},
            {"id":"2","content":"y","status":"in_progress"}
        ]),
        t + 1000,
    );
    a.add_snippet("h", "fine", "this applies", t + 1000);
    a.sync();
    let r = b.sync();
    assert_eq!(r.rejected_records, 1);
    let kept = b.todos.get(None, "sess").unwrap();
    assert_eq!(
        kept.body.unwrap().to_value()["items"][0]["content"],
        "keep me"
    );
    assert_eq!(b.snippet_text("h", "fine").as_deref(), Some("this applies"));
    assert!(b.event_types().iter().any(|e| e == "recordRejected"));
}

#[test]
fn tampered_blob_on_relay_disk_is_an_integrity_error_and_the_rest_applies() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let c = Device::new(&relay, "c");
    let b = Device::new(&relay, "b");
    let t = now_ms();
    a.add_snippet("h", "from-a", "A text", t);
    a.sync();
    c.add_snippet("h", "from-c", "C text", t);
    c.sync();
    // Flip one byte of a's stored blob, on disk.
    let db = relay.db();
    let data: Vec<u8> = db
        .query_row(
            "SELECT data FROM blobs WHERE device_id = ?1",
            [a.id()],
            |r| r.get(0),
        )
        .unwrap();
    let mut bad = data.clone();
    bad[40] ^= 0x20;
    db.execute(
        "UPDATE blobs SET data = ?1 WHERE device_id = ?2",
        rusqlite::params![bad, a.id()],
    )
    .unwrap();
    let r = b.sync();
    assert_eq!(r.quarantined, 1);
    assert_eq!(
        b.snippet_text("h", "from-c").as_deref(),
        Some("C text"),
        "the other bundle applied"
    );
    assert!(b.snippet_text("h", "from-a").is_none());
    let types = b.event_types();
    assert!(types.iter().any(|e| e == "blobIntegrityError"), "{types:?}");
    assert!(types.iter().any(|e| e == "quarantined"));
    assert_eq!(b.engine.status().quarantine.len(), 1);
    // Repaired storage: the quarantined bundle is retried and applies.
    db.execute(
        "UPDATE blobs SET data = ?1 WHERE device_id = ?2",
        rusqlite::params![data, a.id()],
    )
    .unwrap();
    b.sync();
    assert_eq!(b.snippet_text("h", "from-a").as_deref(), Some("A text"));
    assert!(b.engine.status().quarantine.is_empty());
    assert!(b.event_types().iter().any(|e| e == "quarantineCleared"));
}

#[test]
fn blob_moved_by_a_hostile_relay_is_a_context_mismatch() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let b = Device::new(&relay, "b");
    let t = now_ms();
    a.add_snippet("h", "one", "first", t);
    a.sync();
    a.add_snippet("h", "two", "second", t + 1);
    a.sync();
    // Serve seq 1's bytes (with their valid sha) as seq 2.
    let db = relay.db();
    let (data, sha): (Vec<u8>, String) = db
        .query_row(
            "SELECT data, sha256 FROM blobs WHERE device_id = ?1 AND seq = 1",
            [a.id()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    db.execute(
        "UPDATE blobs SET data = ?1, sha256 = ?2 WHERE device_id = ?3 AND seq = 2",
        rusqlite::params![data, sha, a.id()],
    )
    .unwrap();
    let r = b.sync();
    assert_eq!(r.quarantined, 1);
    assert!(b.event_types().iter().any(|e| e == "contextMismatch"));
    assert!(
        b.snippet_text("h", "two").is_none(),
        "nothing applied from the moved blob"
    );
    assert_eq!(b.snippet_text("h", "one").as_deref(), Some("first"));
}

#[test]
fn wrong_receipt_changes_nothing_locally_or_remotely() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let t = now_ms();
    a.add_snippet("h", "s", "real data", t);
    a.sync();
    let blobs_before = relay.blob_count();
    let w = Device::with_options(&relay, "typo", "RCPT-7F3A-99C2-44D1-B0E9", 0, 16);
    w.add_snippet("h", "mine", "local", t);
    let before = visible_state(&w);
    match w.engine.sync_now() {
        Err(SyncError::WrongReceipt { .. }) => {}
        other => panic!("expected WrongReceipt, got {other:?}"),
    }
    assert!(matches!(
        w.engine.verify_receipt(),
        Err(SyncError::WrongReceipt { .. })
    ));
    assert_eq!(visible_state(&w), before, "no local change");
    assert_eq!(relay.blob_count(), blobs_before, "no remote change");
    assert!(w.event_types().iter().any(|e| e == "wrongReceipt"));
    let msg = SyncError::WrongReceipt { authority: None }.to_string();
    assert!(!msg.contains("RCPT"));
}

#[test]
fn revoked_device_stops_with_a_revoked_event() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let lost = Device::new(&relay, "lost laptop");
    let t = now_ms();
    lost.add_snippet("h", "s", "before", t);
    lost.sync();
    a.engine.revoke(&lost.id()).unwrap();
    let devices = a.engine.devices().unwrap();
    assert!(devices
        .iter()
        .any(|d| d.device_id == lost.id() && d.revoked));
    lost.add_snippet("h", "s2", "after", t + 1);
    assert!(matches!(lost.engine.sync_now(), Err(SyncError::Revoked)));
    assert!(lost.event_types().iter().any(|e| e == "revoked"));
    assert!(lost.engine.status().revoked);
    // Its key is refused for good, also at registration.
    assert!(matches!(
        lost.engine
            .register(&relay.url(), &relay.license_id, &relay.license_key, "again"),
        Err(SyncError::Revoked)
    ));
    // Its earlier blobs stay readable to the others.
    a.sync();
    assert_eq!(a.snippet_text("h", "s").as_deref(), Some("before"));
}

#[test]
fn skewed_clocks_sync_after_one_correction() {
    let relay = RelayFixture::start();
    for offset in [600_000i64, -600_000] {
        let d = Device::with_options(&relay, "skewed", RECEIPT, offset, 16);
        d.add_snippet("h", &format!("skew{offset}"), "x", now_ms());
        d.sync();
        let corrections = d
            .event_types()
            .iter()
            .filter(|e| *e == "clockCorrected")
            .count();
        assert!(corrections >= 1, "offset {offset}");
        let before = corrections;
        d.add_snippet("h", "again", "y", now_ms());
        d.sync();
        let after = d
            .event_types()
            .iter()
            .filter(|e| *e == "clockCorrected")
            .count();
        assert_eq!(before, after, "the correction is kept: no new skew");
        assert!((d.engine.status().clock_offset_secs + offset / 1000).abs() <= 2);
    }
}

#[test]
fn idle_cycle_uploads_nothing_and_one_edit_is_small() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let t = now_ms();
    for i in 0..2000 {
        a.add_snippet(
            "h",
            &format!("s{i}"),
            &format!("snippet number {i} with some text"),
            t,
        );
    }
    a.sync();
    let idle = a.sync();
    assert_eq!(idle.pushed_seq, None);
    assert_eq!(idle.sealed_bytes, 0);
    a.add_snippet("h", "s7", "edited", t + 1);
    let one = a.sync();
    assert_eq!(one.pushed_records, 1);
    assert!(one.sealed_bytes < 2048, "{} bytes", one.sealed_bytes);
}

#[test]
fn checkpoints_let_the_relay_prune_superseded_blobs() {
    let relay = RelayFixture::start();
    let a = Device::with_options(&relay, "a", RECEIPT, 0, 3);
    let t = now_ms();
    for i in 0..7 {
        a.add_snippet("h", &format!("s{i}"), "x", t + i);
        a.sync();
    }
    assert!(a.event_types().iter().any(|e| e == "pruned"));
    assert!(
        relay.blob_count() < 7,
        "older blobs pruned: {}",
        relay.blob_count()
    );
    let fresh = Device::new(&relay, "fresh");
    fresh.sync();
    assert_eq!(
        fresh.snippets.live().len(),
        7,
        "checkpoint + later deltas give everything"
    );
}

#[test]
fn export_then_import_on_a_fresh_device() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let t = now_ms();
    a.add_snippet("h", "s", "exported text", t);
    a.put_memory("m", "fact", 3, t);
    let file = a.state.path().join("backup.azmx");
    assert_eq!(a.engine.export(&file).unwrap(), 2);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("azmx-export v1\n"));
    assert!(!text.contains("exported text"), "sealed");
    let b = Device::new(&relay, "b");
    assert_eq!(b.engine.import(&file).unwrap(), 2);
    assert_eq!(b.snippet_text("h", "s").as_deref(), Some("exported text"));
    assert_eq!(b.engine.import(&file).unwrap(), 0, "idempotent");
    let w = Device::with_options(&relay, "w", "not the receipt", 0, 16);
    assert!(matches!(
        w.engine.import(&file),
        Err(SyncError::WrongReceipt { .. })
    ));
}

#[test]
fn relay_down_is_a_clear_error_and_nothing_is_lost() {
    let mut relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let t = now_ms();
    a.add_snippet("h", "s", "written while offline", t);
    a.sync();
    a.add_snippet("h", "s2", "second", t + 1);
    let url = relay.url();
    relay.relay.take().unwrap().shutdown();
    match a.engine.sync_now() {
        Err(SyncError::Network { .. }) => {}
        other => panic!("expected a network error, got {other:?}"),
    }
    assert!(a.engine.status().outbox_pending, "the pending push is kept");
    // Back on the same address.
    let mut config = azmx_sync_relay::RelayConfig::new(relay.dir.path());
    config.listen = url.trim_start_matches("http://").parse().unwrap();
    relay.relay = Some(azmx_sync_relay::Relay::start(config).unwrap());
    a.sync();
    assert!(!a.engine.status().outbox_pending);
    let b = Device::new(&relay, "b");
    b.sync();
    assert_eq!(b.snippet_text("h", "s2").as_deref(), Some("second"));
}

#[test]
fn events_never_carry_plaintext_or_the_receipt() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let b = Device::new(&relay, "b");
    a.add_snippet("h", "s", "TOP-SECRET-BODY", now_ms());
    a.sync();
    b.sync();
    for d in [&a, &b] {
        let all = serde_json::to_string(&d.events()).unwrap();
        assert!(!all.contains("TOP-SECRET-BODY") && !all.contains(RECEIPT));
        let log = std::fs::read_to_string(d.state.path().join("activity.jsonl")).unwrap();
        assert!(!log.contains("TOP-SECRET-BODY") && !log.contains(RECEIPT));
        for entry in std::fs::read_dir(d.state.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(RECEIPT), "receipt never written");
        }
    }
    assert!(!format!("{:?}", a.engine).contains(RECEIPT));
}

#[test]
fn scheduler_runs_on_trigger_and_stops_cleanly() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    a.add_snippet("h", "s", "x", now_ms());
    a.engine.set_visible(false);
    a.engine.start();
    a.engine.trigger();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !a.event_types().iter().any(|e| e == "cycleFinished") {
        assert!(
            std::time::Instant::now() < deadline,
            "triggered cycle did not run"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    a.engine.stop();
    assert!(a.engine.status().last_cycle.unwrap().ok);
}

/// A store whose snapshot is slow, to keep a cycle busy.
struct SlowStore(std::sync::Arc<MemStore>);

impl azmx_sync_core::engine::StoreAdapter for SlowStore {
    fn snapshot(
        &self,
    ) -> Result<Vec<azmx_sync_core::merge::Record>, azmx_sync_core::engine::HostError> {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        self.0.snapshot()
    }
    fn apply(
        &self,
        c: Vec<azmx_sync_core::merge::Change>,
    ) -> Result<(), azmx_sync_core::engine::HostError> {
        self.0.apply(c)
    }
}

#[test]
fn scheduler_skips_when_the_previous_cycle_is_still_running() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let slow = std::sync::Arc::new(MemStore::default());
    let spec = azmx_sync_core::merge::StoreSpec::new(
        azmx_sync_core::engine::SyncEngine::store_name("slow-notes").unwrap(),
        azmx_sync_core::merge::Contract::LwwByTime,
    );
    a.engine
        .register_store(spec, std::sync::Arc::new(SlowStore(slow)))
        .unwrap();
    a.engine.start();
    let e = a.engine.clone();
    let manual = std::thread::spawn(move || e.sync_now());
    std::thread::sleep(std::time::Duration::from_millis(400));
    a.engine.trigger();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !a.event_types().iter().any(|e| e == "cycleSkipped") {
        assert!(
            std::time::Instant::now() < deadline,
            "no busy skip: {:?}",
            a.event_types()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    manual.join().unwrap().unwrap();
    a.engine.stop();
    let skipped = a
        .events()
        .into_iter()
        .find(|e| e.type_name() == "cycleSkipped")
        .unwrap();
    assert!(serde_json::to_string(&skipped).unwrap().contains("busy"));
}

/// A store whose host storage is broken (e.g. its database is locked).
struct BrokenStore;

impl azmx_sync_core::engine::StoreAdapter for BrokenStore {
    fn snapshot(
        &self,
    ) -> Result<Vec<azmx_sync_core::merge::Record>, azmx_sync_core::engine::HostError> {
        Err(azmx_sync_core::engine::HostError::new("database is locked"))
    }
    fn apply(
        &self,
        _: Vec<azmx_sync_core::merge::Change>,
    ) -> Result<(), azmx_sync_core::engine::HostError> {
        Err(azmx_sync_core::engine::HostError::new("database is locked"))
    }
}

#[test]
fn failing_snapshot_is_a_typed_store_error_in_the_activity_log() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    a.add_snippet("h", "s", "kept", now_ms());
    let spec = azmx_sync_core::merge::StoreSpec::new(
        azmx_sync_core::engine::SyncEngine::store_name("broken-notes").unwrap(),
        azmx_sync_core::merge::Contract::LwwByTime,
    );
    a.engine
        .register_store(spec, std::sync::Arc::new(BrokenStore))
        .unwrap();
    let err = a.engine.sync_now().unwrap_err();
    assert!(
        matches!(&err, azmx_sync_core::engine::SyncError::Store { store, .. } if store == "broken-notes"),
        "{err:?}"
    );
    let logged = a
        .events()
        .into_iter()
        .find(|e| e.type_name() == "storeError")
        .expect("a storeError event");
    let text = serde_json::to_string(&logged).unwrap();
    assert!(
        text.contains("broken-notes") && text.contains("database is locked"),
        "{text}"
    );
    // The healthy store's record is untouched locally.
    assert_eq!(a.snippet_text("h", "s").as_deref(), Some("kept"));
}

/// Counts key-check requests on their way to the relay.
struct CountingTransport {
    inner: azmx_sync_core::engine::UreqTransport,
    keychecks: std::sync::atomic::AtomicUsize,
}

impl azmx_sync_core::engine::HttpTransport for CountingTransport {
    fn send(
        &self,
        request: azmx_sync_core::engine::HttpRequest,
    ) -> Result<azmx_sync_core::engine::HttpResponse, azmx_sync_core::engine::HostError> {
        if request.url.contains("/sync/keycheck") {
            self.keychecks
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.inner.send(request)
    }
}

/// The engine a process would open on an existing state directory.
fn reopen(
    dir: &std::path::Path,
    receipt: &str,
) -> (
    azmx_sync_core::engine::SyncEngine,
    std::sync::Arc<CountingTransport>,
) {
    let transport = std::sync::Arc::new(CountingTransport {
        inner: azmx_sync_core::engine::UreqTransport::default(),
        keychecks: Default::default(),
    });
    let engine = azmx_sync_core::engine::SyncEngine::new(
        azmx_sync_core::engine::EngineConfig::new(dir),
        transport.clone(),
    )
    .unwrap();
    engine
        .register_store(
            azmx_sync_core::merge::StoreSpec::snippets(),
            std::sync::Arc::new(MemStore::default()),
        )
        .unwrap();
    engine
        .set_receipt(secrecy::SecretString::from(receipt))
        .unwrap();
    (engine, transport)
}

#[test]
fn a_verified_receipt_is_checked_locally_after_a_restart() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    a.add_snippet("h", "s", "x", now_ms());
    a.sync();
    let dir = a.state.path().to_path_buf();
    assert!(dir.join(azmx_sync_core::engine::KEYCHECK_FILE).exists());
    drop(a.engine);

    let (engine, transport) = reopen(&dir, RECEIPT);
    engine.sync_now().unwrap();
    engine.verify_receipt().unwrap();
    assert_eq!(
        transport
            .keychecks
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the key was checked against the local copy"
    );
    drop(engine);

    // Another receipt does not open the local copy: the relay decides.
    let (engine, transport) = reopen(&dir, "RCPT-7F3A-99C2-44D1-B0E9");
    assert!(matches!(
        engine.sync_now(),
        Err(SyncError::WrongReceipt { .. })
    ));
    assert!(
        transport
            .keychecks
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
    );
    drop(engine);

    // A damaged local copy costs one request, not a false WrongReceipt.
    std::fs::write(dir.join(azmx_sync_core::engine::KEYCHECK_FILE), b"garbage").unwrap();
    let (engine, transport) = reopen(&dir, RECEIPT);
    engine.sync_now().unwrap();
    assert_eq!(
        transport
            .keychecks
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}
