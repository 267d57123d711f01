//! Issue 16, device memory: a pull page that brings more keys than
//! `MAX_CHANGED_KEYS` is merged a chunk of keys at a time (each chunk read
//! by key, merged, handed to the host and marked known before the next), so
//! a new device catching up on a million-record checkpoint never holds the
//! merge's structures for the whole store at once. Every chunk is observable
//! from the host: no `apply` and no keyed read is larger than a chunk, and a
//! store that says what changed is not read whole for the page. The end
//! state is the one a single merge gives: the devices converge, and stores
//! read by key, read whole, or whose keyed reads fail end alike.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use azmx_sync_core::engine::{ChangeSet, HostError, StoreAdapter, MAX_CHANGED_KEYS};
use azmx_sync_core::merge::{Change, Record, RecordKey};
use azmx_sync_sim::changes::ChangeLog;
use azmx_sync_sim::hosts::{deleted_note, engine_reading_only_on_demand, note, Host, HostView};
use azmx_sync_sim::*;

/// The receiving store, counting what the engine asks of it.
struct Counting {
    inner: HostView,
    /// While set, reads and applies are measured (the pull under test).
    measuring: std::sync::atomic::AtomicBool,
    snapshots: AtomicU64,
    largest_apply: AtomicUsize,
    applies: AtomicU64,
    largest_keyed_read: AtomicUsize,
}

impl Counting {
    fn measured(&self) -> bool {
        self.measuring.load(Ordering::SeqCst)
    }
}

impl StoreAdapter for Counting {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        if self.measured() {
            self.snapshots.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.snapshot()
    }
    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
        if self.measured() {
            self.largest_apply
                .fetch_max(changes.len(), Ordering::SeqCst);
            self.applies.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.apply(changes)
    }
    fn changes_since(&self, token: Option<&[u8]>) -> Result<Option<ChangeSet>, HostError> {
        self.inner.changes_since(token)
    }
    fn snapshot_keys(&self, keys: &[RecordKey]) -> Result<Vec<Record>, HostError> {
        if self.measured() {
            self.largest_keyed_read
                .fetch_max(keys.len(), Ordering::SeqCst);
        }
        self.inner.snapshot_keys(keys)
    }
}

struct Outcome {
    host: BTreeMap<RecordKey, Record>,
    writer: BTreeMap<RecordKey, Record>,
    applied: u64,
    snapshots: u64,
    applies: u64,
    largest_apply: usize,
    largest_keyed_read: usize,
}

/// `b` pushes its own versions of a few keys (one newer, one older, a
/// delete); `a` then pushes `n` records and edits and deletes some of them
/// in a second push, so the page `b` pulls next holds two versions of some
/// keys.
fn run(host: Host, n: usize) -> Outcome {
    let relay = SimRelay::start(Backend::SqliteFull, 16);
    let a_store = Arc::new({
        let mut s = SimStore::detached(0);
        s.changes = ChangeLog::new(true, 11);
        s
    });
    let b_store = Arc::new({
        let mut s = SimStore::detached(0);
        s.keeps_tombstones = true;
        s.changes = ChangeLog::new(host != Host::Plain, 13);
        s
    });
    // b's own versions: one newer than a's edit, one older, a delete that
    // wins, and a key a never had.
    b_store.put(note("k000001", "b's later edit", 9_000, "b"));
    b_store.put(note(&format!("k{:06}", n - 1), "b's older", 0, "b"));
    b_store.put(deleted_note(&format!("k{:06}", n / 2 + 1), 9_000, "b"));
    b_store.put(note("zz-b-only", "only b", 9_000, "b"));
    let counting = Arc::new(Counting {
        inner: HostView {
            store: b_store.clone(),
            host,
        },
        measuring: false.into(),
        snapshots: AtomicU64::new(0),
        largest_apply: AtomicUsize::new(0),
        applies: AtomicU64::new(0),
        largest_keyed_read: AtomicUsize::new(0),
    });
    let (b, _b_dir) = engine_reading_only_on_demand(&relay, "b", counting.clone());
    // b's first cycle pushes its own checkpoint (a whole read by design)
    // before a has pushed anything: the cycle measured below pulls a's.
    b.sync_now().unwrap();
    let (a, _a_dir) = engine_reading_only_on_demand(&relay, "a", a_store.clone());
    for i in 0..n {
        a_store.put(note(
            &format!("k{i:06}"),
            &format!("initial {i}"),
            (i % 1000) as i64,
            "a",
        ));
    }
    a.sync_now().unwrap();
    for i in (0..n).step_by(997) {
        a_store.put(note(&format!("k{i:06}"), "a's edit", 5_000, "a"));
    }
    for i in (5..n).step_by(1999) {
        a_store.put(deleted_note(&format!("k{i:06}"), 5_000, "a"));
    }
    a.sync_now().unwrap();

    counting.measuring.store(true, Ordering::SeqCst);
    let applied = b.sync_now().unwrap().applied_changes;
    counting.measuring.store(false, Ordering::SeqCst);
    a.sync_now().unwrap();
    b.sync_now().unwrap();
    Outcome {
        host: b_store.live(),
        writer: a_store.live(),
        applied,
        snapshots: counting.snapshots.load(Ordering::SeqCst),
        applies: counting.applies.load(Ordering::SeqCst),
        largest_apply: counting.largest_apply.load(Ordering::SeqCst),
        largest_keyed_read: counting.largest_keyed_read.load(Ordering::SeqCst),
    }
}

#[test]
fn a_page_larger_than_a_chunk_is_merged_a_chunk_at_a_time() {
    let n = 2 * MAX_CHANGED_KEYS + 5_000;
    let mut outcomes = Vec::new();
    for host in [Host::Keyed, Host::Plain, Host::KeyedReadFails] {
        let o = run(host, n);
        println!(
            "{host:?}: applied {} in {} applies (largest {}), {} whole reads, largest keyed read {}",
            o.applied, o.applies, o.largest_apply, o.snapshots, o.largest_keyed_read
        );
        assert!(
            o.applied as usize > n - 100,
            "{host:?}: the page applied: {}",
            o.applied
        );
        assert!(
            o.applies >= 3,
            "{host:?}: {} applies for {} changes",
            o.applies,
            o.applied
        );
        assert!(
            o.largest_apply <= MAX_CHANGED_KEYS,
            "{host:?}: one apply of {} changes",
            o.largest_apply
        );
        assert!(o.largest_keyed_read <= MAX_CHANGED_KEYS, "{host:?}");
        // The measured cycle's push side reads a store without
        // `changes_since` whole too; its pull reads whole only a store that
        // cannot be read by key, and then once for the page.
        let whole_reads = match host {
            Host::Keyed => 0,
            Host::KeyedReadFails => 1,
            Host::Plain => 2,
        };
        assert_eq!(
            o.snapshots, whole_reads,
            "{host:?}: whole reads of the store"
        );
        assert_eq!(o.host.len(), o.writer.len(), "{host:?}");
        let differ: Vec<&RecordKey> = o
            .host
            .keys()
            .filter(|k| o.writer.get(*k) != o.host.get(*k))
            .collect();
        assert!(
            differ.is_empty(),
            "{host:?}: the devices disagree on {differ:?}"
        );
        let newer = &o.host[&RecordKey::new(Some("h".into()), "k000001")];
        assert_eq!(newer.device_id, "b", "b's later edit wins");
        assert!(!o.host.contains_key(&RecordKey::new(
            Some("h".into()),
            format!("k{:06}", n / 2 + 1)
        )));
        outcomes.push(o.host);
    }
    assert!(
        outcomes.windows(2).all(|w| w[0] == w[1]),
        "the three hosts end alike"
    );
}
