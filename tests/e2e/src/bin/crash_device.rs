//! A device process for crash-safety tests: `crash_device STATE_DIR STORE_FILE RELAY LID KEY [add ID TEXT]`
//! registers if needed, optionally adds a snippet, runs one cycle and exits 0.
//! With `AZMX_CRASH_AT=<point>` the engine aborts the process at that point.

use std::sync::Arc;

use azmx_sync_core::engine::{EngineConfig, SyncEngine, UreqTransport};
use azmx_sync_core::merge::{Record, StoreSpec};
use azmx_sync_e2e::{now_ms, FileStore, RECEIPT};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (state, store_file, relay, lid, key) = (&a[1], &a[2], &a[3], &a[4], &a[5]);
    let engine =
        SyncEngine::new(EngineConfig::new(state), Arc::new(UreqTransport::default())).unwrap();
    let store = Arc::new(FileStore {
        path: store_file.into(),
    });
    engine
        .register_store(StoreSpec::snippets(), store.clone())
        .unwrap();
    if engine.device_id().is_none() {
        engine.register(relay, lid, key, "crashy").unwrap();
    }
    if a.get(6).map(String::as_str) == Some("add") {
        let dev = engine.device_id().unwrap();
        store.put(Record::new(
            &a[7],
            Some("h".into()),
            now_ms(),
            None,
            dev,
            serde_json::json!({ "text": a[8] }),
        ));
    }
    engine
        .set_receipt(secrecy::SecretString::from(RECEIPT))
        .unwrap();
    let r = engine.sync_now().unwrap();
    println!("{}", serde_json::to_string(&r).unwrap());
}
