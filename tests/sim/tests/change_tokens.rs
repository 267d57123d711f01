//! Issue 16: stores that say what changed (`changes_since`), against a real
//! relay on loopback.
//! - A host that UNDER-REPORTS (a write it never reports) has that write
//!   picked up at the engine's next full read: the periodic one
//!   (`full_snapshot_every`) or a checkpoint, whichever comes first; every
//!   device converges.
//! - An honest host converges like one without the capability, with far
//!   fewer snapshots and records read (counted).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use azmx_sync_core::engine::{CycleReport, EngineConfig, StoreAdapter, SyncEngine, UreqTransport};
use azmx_sync_core::merge::RecordKey;
use azmx_sync_sim::changes::ChangeLog;
use azmx_sync_sim::hosts::note;
use azmx_sync_sim::*;

struct Dev {
    engine: SyncEngine,
    store: Arc<SimStore>,
    _dir: tempfile::TempDir,
}

impl Dev {
    fn new(
        relay: &SimRelay,
        name: &str,
        tracked: bool,
        checkpoint_every: u32,
        full_every: u32,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = EngineConfig::new(dir.path());
        config.checkpoint_every = checkpoint_every;
        config.full_snapshot_every = full_every;
        let engine = SyncEngine::new(
            config,
            Arc::new(UreqTransport::new(Duration::from_secs(20))),
        )
        .unwrap();
        let mut store = SimStore::detached(0);
        store.changes = ChangeLog::new(tracked, name.len() as u64 * 7919 + 1);
        let store = Arc::new(store);
        engine
            .register_store(spec(0), store.clone() as Arc<dyn StoreAdapter>)
            .unwrap();
        engine
            .register(&relay.url, &relay.license_id, &relay.license_key, name)
            .unwrap();
        engine.set_envelope_key(envelope_key(&relay.license_id));
        Self {
            engine,
            store,
            _dir: dir,
        }
    }

    fn sync(&self) -> CycleReport {
        self.engine.sync_now().expect("cycle")
    }

    fn write(&self, id: &str, text: &str, at: i64) {
        self.store.put(note(id, text, at, "host"));
    }

    fn text(&self, id: &str) -> Option<String> {
        let r = self.store.get(&RecordKey::new(Some("h".into()), id))?;
        r.body?.to_value()["text"].as_str().map(String::from)
    }

    fn live(&self) -> BTreeMap<RecordKey, Option<serde_json::Value>> {
        self.store
            .live()
            .into_iter()
            .map(|(k, r)| (k, r.body.map(|b| b.to_value())))
            .collect()
    }
}

fn converged(devs: &[&Dev]) {
    for _ in 0..2 {
        for d in devs {
            d.sync();
        }
    }
    let first = devs[0].live();
    for d in &devs[1..] {
        assert_eq!(d.live(), first, "devices disagree");
    }
}

#[test]
fn a_write_the_host_never_reports_is_caught_by_the_next_full_read() {
    let relay = SimRelay::start(Backend::SqliteFull, 16);
    // Every 4th cycle reads whole; a checkpoint every 2nd push.
    let a = Dev::new(&relay, "under", true, 2, 4);
    let b = Dev::new(&relay, "peer-b", true, 16, 12);
    let c = Dev::new(&relay, "peer-c", false, 16, 12);
    a.write("seen", "reported", 1);
    let first = a.sync();
    assert!(first.checkpoint && first.pushed_records == 1, "{first:?}");
    b.sync();
    c.sync();

    // 1. The periodic full read: cycles 2-4 rely on the token, which says
    //    nothing changed; cycle 5 (the 4th since the last full read) reads
    //    whole and pushes the write the host kept quiet about.
    a.store.changes.miss.store(true, Ordering::SeqCst);
    a.write("missed", "never reported", 2);
    a.store.changes.miss.store(false, Ordering::SeqCst);
    let snapshots = a.store.changes.snapshots.load(Ordering::SeqCst);
    for cycle in 2..=4 {
        let r = a.sync();
        assert_eq!(r.pushed_seq, None, "cycle {cycle} trusted the token: {r:?}");
    }
    assert_eq!(
        a.store.changes.snapshots.load(Ordering::SeqCst),
        snapshots,
        "idle cycles by token read nothing"
    );
    b.sync();
    assert_eq!(
        b.text("missed"),
        None,
        "not pushed yet: the host never said"
    );
    let r = a.sync();
    assert_eq!(r.pushed_records, 1, "the full read found it: {r:?}");
    assert!(!r.checkpoint);
    b.sync();
    c.sync();
    assert_eq!(b.text("missed").as_deref(), Some("never reported"));
    assert_eq!(c.text("missed").as_deref(), Some("never reported"));

    // 2. The checkpoint: a reported write makes the next push, which is a
    //    checkpoint (the 2nd since the last one), so the store is read whole and the
    //    unreported write of the same cycle goes with it, long before the
    //    periodic full read would come.
    a.store.changes.miss.store(true, Ordering::SeqCst);
    a.write("missed-2", "also never reported", 3);
    a.store.changes.miss.store(false, Ordering::SeqCst);
    let r = a.sync();
    assert_eq!(r.pushed_seq, None, "{r:?}");
    a.write("seen-2", "reported", 4);
    let r = a.sync();
    assert!(
        r.checkpoint,
        "the 2nd push since one is a checkpoint: {r:?}"
    );
    assert_eq!(r.pushed_records, 4, "every record: {r:?}");
    b.sync();
    assert_eq!(b.text("missed-2").as_deref(), Some("also never reported"));
    assert_eq!(b.text("seen-2").as_deref(), Some("reported"));

    // 3. Edits from peers reach the under-reporting host (its applies are
    //    reported), and every device ends with the same records.
    b.write("from-b", "peer edit", 5);
    c.write("seen", "peer overwrite", 6);
    converged(&[&a, &b, &c]);
    assert_eq!(a.text("from-b").as_deref(), Some("peer edit"));
    assert_eq!(a.text("seen").as_deref(), Some("peer overwrite"));
}

/// The same work on three devices with and without the capability: the
/// same end state, and with it a fraction of the snapshots and reads.
fn run_workload(tracked: bool) -> (BTreeMap<RecordKey, Option<serde_json::Value>>, u64, u64) {
    let relay = SimRelay::start(Backend::SqliteFull, 17);
    let devs: Vec<Dev> = (0..3)
        .map(|i| Dev::new(&relay, &format!("dev-{i}"), tracked, 8, 12))
        .collect();
    for (i, d) in devs.iter().enumerate() {
        for k in 0..200 {
            d.write(&format!("k{i}-{k}"), "initial", k);
        }
    }
    let mut rng = Rng::new(0x16);
    for round in 0..30 {
        // One round in five has a few edits; the rest are idle cycles.
        if round % 5 == 0 {
            for _ in 0..3 {
                let d = rng.below(3) as usize;
                let k = rng.below(200);
                let owner = rng.below(3);
                devs[d].write(
                    &format!("k{owner}-{k}"),
                    &format!("round {round}"),
                    1_000 + round,
                );
            }
        }
        for d in &devs {
            d.sync();
        }
    }
    let refs: Vec<&Dev> = devs.iter().collect();
    converged(&refs);
    let snapshots = devs
        .iter()
        .map(|d| d.store.changes.snapshots.load(Ordering::SeqCst))
        .sum();
    let read = devs
        .iter()
        .map(|d| d.store.changes.records_read.load(Ordering::SeqCst))
        .sum();
    (devs[0].live(), snapshots, read)
}

#[test]
fn an_honest_host_converges_with_fewer_snapshots() {
    let (plain, plain_snapshots, plain_read) = run_workload(false);
    let (tracked, tracked_snapshots, tracked_read) = run_workload(true);
    println!(
        "snapshot calls: {plain_snapshots} without the capability, {tracked_snapshots} with it; \
         records read: {plain_read} vs {tracked_read}"
    );
    assert_eq!(plain.len(), 600);
    assert_eq!(
        tracked, plain,
        "both runs end in the same records (the same writes, in the same order)"
    );
    assert!(
        tracked_snapshots * 3 < plain_snapshots,
        "{tracked_snapshots} vs {plain_snapshots}"
    );
    assert!(
        tracked_read * 3 < plain_read,
        "{tracked_read} vs {plain_read}"
    );
}
