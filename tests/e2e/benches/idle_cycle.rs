//! The idle cycle at 100,000 records, with and without a store that says
//! what changed (`StoreAdapter::changes_since`), on a real relay on
//! loopback: `cargo bench -p azmx-sync-e2e --bench idle_cycle`
//! (`IDLE_RECORDS=…` for another size). Prints both medians and the ratio.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use azmx_sync_core::engine::{
    ChangeSet, EngineConfig, HostError, StoreAdapter, SyncEngine, UreqTransport,
};
use azmx_sync_core::merge::{Change, Record, RecordKey, StoreSpec};
use azmx_sync_e2e::*;
use serde_json::json;

/// An in-memory store with a change counter, as a host database would keep.
#[derive(Default)]
struct Counted {
    records: Mutex<BTreeMap<RecordKey, (Record, u64)>>,
    seq: Mutex<u64>,
    /// Off: the engine's default (full snapshot every cycle).
    tracked: bool,
}

impl Counted {
    fn put(&self, r: Record) {
        let mut seq = self.seq.lock().unwrap();
        *seq += 1;
        self.records.lock().unwrap().insert(r.key(), (r, *seq));
    }
}

impl StoreAdapter for Counted {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        Ok(self
            .records
            .lock()
            .unwrap()
            .values()
            .map(|(r, _)| r.clone())
            .collect())
    }
    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
        for c in changes {
            self.put(c.record().clone());
        }
        Ok(())
    }
    fn changes_since(&self, token: Option<&[u8]>) -> Result<Option<ChangeSet>, HostError> {
        if !self.tracked {
            return Ok(None);
        }
        let seq = *self.seq.lock().unwrap();
        let from = token
            .and_then(|t| std::str::from_utf8(t).ok()?.parse::<u64>().ok())
            .filter(|f| *f <= seq);
        // A real host keeps an index on the counter; a scan of this map
        // stands in for it only when something changed.
        let keys = from.map(|f| {
            if f == seq {
                Vec::new()
            } else {
                self.records
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(_, (_, s))| *s > f)
                    .map(|(k, _)| k.clone())
                    .collect()
            }
        });
        Ok(Some(ChangeSet {
            token: seq.to_string().into_bytes(),
            keys,
        }))
    }
    fn snapshot_keys(&self, keys: &[RecordKey]) -> Result<Vec<Record>, HostError> {
        let m = self.records.lock().unwrap();
        Ok(keys
            .iter()
            .filter_map(|k| m.get(k).map(|(r, _)| r.clone()))
            .collect())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Median idle-cycle time (ms) of a device holding `n` records.
fn idle_ms(relay: &RelayFixture, n: usize, tracked: bool) -> f64 {
    let state = tempfile::tempdir().unwrap();
    // Defaults (the activity log on disk included), as a host runs it.
    let config = EngineConfig::new(state.path());
    let engine = SyncEngine::new(config, Arc::new(UreqTransport::default())).unwrap();
    let store = Arc::new(Counted {
        tracked,
        ..Counted::default()
    });
    engine
        .register_store(StoreSpec::snippets(), store.clone())
        .unwrap();
    let name = if tracked {
        "bench-tracked"
    } else {
        "bench-plain"
    };
    relay.enrol(&engine, name, RECEIPT);
    let t = now_ms();
    for i in 0..n {
        store.put(Record::new(
            format!("snippet-{i:07}"),
            Some("work".into()),
            t,
            None,
            name,
            json!({ "text": format!("Saved prompt number {i}: summarise the following change set and list risks.") }),
        ));
    }
    let first = engine.sync_now().unwrap();
    assert!(first.checkpoint);
    // Warm up (the other device's checkpoint is pulled here), then measure.
    engine.sync_now().unwrap();
    let mut times = Vec::new();
    for _ in 0..11 {
        let started = Instant::now();
        let r = engine.sync_now().unwrap();
        times.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(r.sealed_bytes, 0, "idle: nothing uploaded");
    }
    median(times)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: usize = std::env::var("IDLE_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    // A checkpoint of 100,000 records is one ~20 MB push until checkpoints
    // come in parts (issue 16, item 3): let this relay take it.
    let relay = RelayFixture::start_with(|c| {
        c.limits.max_body_bytes = 256 << 20;
        c.limits.max_inflight_body_bytes = 512 << 20;
        // No quota (0).
        c.limits.quota.max_bytes = 0;
    });
    let plain = idle_ms(&relay, n, false);
    let tracked = idle_ms(&relay, n, true);
    println!("idle cycle, {n} records, full snapshot every cycle: {plain:.2} ms (median of 11)");
    println!("idle cycle, {n} records, store says what changed:  {tracked:.2} ms (median of 11)");
    println!(
        "ratio: {:.1}x; target < 5 ms with the capability [{}]",
        plain / tracked,
        if tracked < 5.0 { "met" } else { "MISSED" }
    );
}
