//! Issue 16, the pull side: a pull page that brings a few records reads only
//! those keys of the receiving store (`snapshot_keys`) when the store says
//! what changed (`changes_since`), instead of the whole store, and ends
//! exactly where a whole read would: the same host records, the same
//! `known` hashes and tombstones in the engine's state. A store without the
//! capability, or one whose keyed read fails, is read whole as before.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use azmx_sync_core::engine::{StoreAdapter, SyncEngine};
use azmx_sync_core::merge::{Record, RecordKey};
use azmx_sync_sim::changes::ChangeLog;
use azmx_sync_sim::hosts::{deleted_note, engine_reading_only_on_demand, note, Host, HostView};
use azmx_sync_sim::*;
use serde_json::Value;

struct Dev {
    engine: SyncEngine,
    store: Arc<SimStore>,
    dir: tempfile::TempDir,
}

impl Dev {
    fn new(relay: &SimRelay, name: &str, host: Host, keeps_tombstones: bool) -> Self {
        let mut store = SimStore::detached(0);
        store.keeps_tombstones = keeps_tombstones;
        store.changes = ChangeLog::new(host != Host::Plain, name.len() as u64 * 7919 + 3);
        let store = Arc::new(store);
        let adapter: Arc<dyn StoreAdapter> = match host {
            Host::Keyed => store.clone(),
            _ => Arc::new(HostView {
                store: store.clone(),
                host,
            }),
        };
        // No checkpoint and no periodic full read in these few cycles: every
        // whole read counted below is the one under test.
        let (engine, dir) = engine_reading_only_on_demand(relay, name, adapter);
        Self { engine, store, dir }
    }

    fn sync(&self) -> u64 {
        self.engine.sync_now().expect("cycle").applied_changes
    }

    fn write(&self, id: &str, text: &str, at: i64) {
        self.store.put(note(id, text, at, "host"));
    }

    fn delete(&self, id: &str, at: i64) {
        self.store.put(deleted_note(id, at, "host"));
    }

    /// (snapshot calls, records read) so far.
    fn reads(&self) -> (u64, u64) {
        let c = &self.store.changes;
        (
            c.snapshots.load(Ordering::SeqCst),
            c.records_read.load(Ordering::SeqCst),
        )
    }

    /// One cycle, and what its reads of the store cost.
    fn counted_sync(&self) -> Reads {
        let (s0, r0) = self.reads();
        let applied = self.sync();
        let (s1, r1) = self.reads();
        Reads {
            applied,
            snapshots: s1 - s0,
            records_read: r1 - r0,
        }
    }

    /// The engine's `known` and tombstones as its state directory holds
    /// them: the state file, then the journal lines of its generation.
    fn engine_state(&self) -> (BTreeMap<String, Value>, BTreeSet<String>) {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name));
        let st: Value = serde_json::from_str(&read("engine-state.json").unwrap()).unwrap();
        let generation = st["generation"].as_u64().unwrap_or(0);
        let mut known: BTreeMap<String, Value> = BTreeMap::new();
        for (store, keys) in st["known"].as_object().into_iter().flatten() {
            for (k, h) in keys.as_object().unwrap() {
                known.insert(format!("{store}/{k}"), h.clone());
            }
        }
        let mut tombs: BTreeMap<String, Value> = BTreeMap::new();
        let tomb_key = |store: &str, t: &Value| format!("{store}/{}/{}", t["scope"], t["id"]);
        for (store, list) in st["tombstones"].as_object().into_iter().flatten() {
            for t in list.as_array().unwrap() {
                tombs.insert(tomb_key(store, t), t.clone());
            }
        }
        for line in read("engine-state.journal").unwrap_or_default().lines() {
            let d: Value = serde_json::from_str(line).unwrap();
            if d["generation"].as_u64().unwrap_or(0) != generation {
                continue;
            }
            for e in d["known"].as_array().into_iter().flatten() {
                let (store, key) = (e[0].as_str().unwrap(), e[1].as_str().unwrap());
                known.insert(format!("{store}/{key}"), e[2].clone());
            }
            for e in d["tombstones"].as_array().into_iter().flatten() {
                tombs.insert(tomb_key(e[0].as_str().unwrap(), &e[1]), e[1].clone());
            }
        }
        let tombs = tombs.into_values().map(|t| t.to_string()).collect();
        (known, tombs)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reads {
    applied: u64,
    snapshots: u64,
    records_read: u64,
}

/// Where the receiving device ends.
#[derive(Debug)]
struct Outcome {
    host: BTreeMap<RecordKey, Record>,
    known: BTreeMap<String, Value>,
    tombstones: BTreeSet<String>,
    applied: Vec<u64>,
}

/// `a` holds `n` records (and a few of its own deletes) and syncs them; `b`
/// then sends two small rounds touching every case of the merge: a new
/// key, an update, a delete, a re-created deleted key, a newer tombstone for
/// one the host keeps, a delete of a key `a` never had and a newer one
/// replacing it, and an edit that loses to one `a` made meanwhile.
fn run(host: Host, keeps_tombstones: bool, n: usize) -> (Outcome, Vec<Reads>) {
    let relay = SimRelay::start(Backend::SqliteFull, 16);
    let a = Dev::new(&relay, "a", host, keeps_tombstones);
    let b = Dev::new(&relay, "b", Host::Keyed, true);
    for i in 0..n {
        a.write(&format!("k{i}"), &format!("initial {i}"), (i % 1000) as i64);
    }
    for i in 0..5 {
        a.write(&format!("d{i}"), "to delete", 1);
        a.delete(&format!("d{i}"), 10);
    }
    a.sync();
    // A device's first push is a checkpoint (every record it holds): get
    // `b`'s out of the way, the pages measured below are small bundles.
    b.sync();
    b.write("b-0", "b's first", 100);
    b.sync();
    a.sync();
    // Idle: the store's token is held, nothing is left to push.
    a.sync();

    b.write("new-1", "from b", 5_000);
    b.write("k1", "b's update", 5_000);
    b.delete("k2", 5_000);
    b.write("d0", "re-created by b", 5_000);
    b.delete("d1", 5_000);
    b.delete("ghost", 5_000);
    b.write("k4", "loses to a's later edit", 5_000);
    b.sync();
    a.write("k4", "a's later edit", 9_000);
    let mut reads = vec![a.counted_sync()];

    b.delete("new-1", 6_000);
    b.write("d0", "b again", 6_000);
    b.delete("ghost", 6_000);
    b.write(&format!("k{}", n - 1), "b's last", 6_000);
    b.sync();
    reads.push(a.counted_sync());
    reads.push(a.counted_sync());
    b.sync();

    let (la, lb) = (a.store.live(), b.store.live());
    let differ = differing(&la, &lb);
    assert!(
        differ.is_empty(),
        "{host:?}: the devices disagree on {differ:?}"
    );
    let (known, tombstones) = a.engine_state();
    let outcome = Outcome {
        host: lock_records(&a.store),
        known,
        tombstones,
        applied: reads.iter().map(|r| r.applied).collect(),
    };
    (outcome, reads)
}

/// The keys on which two maps differ (a whole map is too long to print).
fn differing<'a, K: Ord, V: PartialEq>(x: &'a BTreeMap<K, V>, y: &'a BTreeMap<K, V>) -> Vec<&'a K> {
    let mut keys: Vec<&K> = x
        .keys()
        .chain(y.keys())
        .filter(|k| x.get(*k) != y.get(*k))
        .collect();
    keys.dedup();
    keys
}

fn assert_same(x: &Outcome, y: &Outcome, what: &str) {
    assert_eq!(x.applied, y.applied, "{what}: changes applied per cycle");
    let host = differing(&x.host, &y.host);
    assert!(host.is_empty(), "{what}: host records differ at {host:?}");
    let known = differing(&x.known, &y.known);
    assert!(known.is_empty(), "{what}: `known` differs at {known:?}");
    let tombs: Vec<&String> = x.tombstones.symmetric_difference(&y.tombstones).collect();
    assert!(
        tombs.is_empty(),
        "{what}: engine tombstones differ: {tombs:?}"
    );
}

fn lock_records(s: &SimStore) -> BTreeMap<RecordKey, Record> {
    s.records.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

#[test]
fn a_pull_of_a_few_records_reads_only_their_keys() {
    let n = 5_000;
    let (outcome, reads) = run(Host::Keyed, true, n);
    println!("receiving device's cycles: {reads:?}");
    assert!(outcome.host.len() > n, "{}", outcome.host.len());
    assert!(
        reads[0].applied >= 4 && reads[1].applied >= 3,
        "the pulls applied changes: {reads:?}"
    );
    for (i, r) in reads.iter().enumerate() {
        assert_eq!(r.snapshots, 0, "cycle {i} read the store whole: {reads:?}");
        assert!(
            r.records_read <= 20,
            "cycle {i} read {} records of {n}: {reads:?}",
            r.records_read
        );
    }
}

#[test]
fn keyed_and_whole_reads_end_in_the_same_state() {
    for keeps_tombstones in [true, false] {
        let (keyed, keyed_reads) = run(Host::Keyed, keeps_tombstones, 300);
        let (plain, plain_reads) = run(Host::Plain, keeps_tombstones, 300);
        let (failing, failing_reads) = run(Host::KeyedReadFails, keeps_tombstones, 300);
        println!(
            "tombstones kept by the host: {keeps_tombstones}; keyed {keyed_reads:?}, \
             plain {plain_reads:?}, failing keyed reads {failing_reads:?}"
        );
        // The whole-read paths really ran where they should: in the two
        // cycles that pull, one read for the push side and one for the pull.
        assert!(
            plain_reads[..2].iter().all(|r| r.snapshots >= 2),
            "{plain_reads:?}"
        );
        assert!(
            failing_reads[..2].iter().all(|r| r.snapshots >= 2),
            "{failing_reads:?}"
        );
        assert!(
            keyed.tombstones.iter().any(|t| t.contains("ghost")),
            "the delete of a key the host never had is kept by the engine"
        );
        let what = format!("host keeps tombstones: {keeps_tombstones}");
        assert_same(&keyed, &plain, &format!("keyed vs plain, {what}"));
        assert_same(&keyed, &failing, &format!("keyed vs failing, {what}"));
    }
}
