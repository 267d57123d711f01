//! The engine's time bound outside a pull: the configured drift must be a
//! sane number, and an imported file's records meet the same bound as a
//! pulled blob's (`docs/MERGE.md`, "Bounded time and versions").

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::engine::bundle::StoreRecords;
use crate::engine::export::encode_export;
use crate::engine::host::{HostError, HttpRequest, HttpResponse, HttpTransport, StoreAdapter};
use crate::engine::state::{EngineState, StateDir};
use crate::engine::{
    ActivityEvent, ActivityListener, Clock, EngineConfig, EventKind, SyncEngine, SyncError,
    SystemClock,
};
use crate::kdf::EnvelopeKey;
use crate::merge::{Change, Record, StoreSpec, MAX_FUTURE_DRIFT_MS};

const LID: &str = "lic_bounds";

/// No relay: these tests never send anything.
struct NoRelay;

impl HttpTransport for NoRelay {
    fn send(&self, _: HttpRequest) -> Result<HttpResponse, HostError> {
        Err(HostError::new("offline"))
    }
}

#[derive(Default)]
struct Mem(Mutex<BTreeMap<String, Record>>);

impl StoreAdapter for Mem {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        Ok(self.0.lock().unwrap().values().cloned().collect())
    }
    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
        let mut m = self.0.lock().unwrap();
        for c in changes {
            let r = c.record().clone();
            m.insert(r.id.clone(), r);
        }
        Ok(())
    }
}

#[derive(Default)]
struct Events(Mutex<Vec<EventKind>>);

impl ActivityListener for Events {
    fn on_event(&self, e: &ActivityEvent) {
        self.0.lock().unwrap().push(e.kind.clone());
    }
}

fn config(dir: &std::path::Path) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.persist_activity = false;
    c
}

#[test]
fn a_drift_out_of_its_sane_range_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [0, -1, 999, 24 * 3_600_000 + 1, i64::MAX, i64::MIN] {
        let mut c = config(dir.path());
        c.max_future_drift_ms = bad;
        let err = SyncEngine::new(c, Arc::new(NoRelay)).unwrap_err();
        assert!(
            matches!(&err, SyncError::Config(m) if m.contains("max_future_drift_ms")),
            "{bad}: {err:?}"
        );
    }
    for good in [1_000, MAX_FUTURE_DRIFT_MS, 24 * 3_600_000] {
        let mut c = config(dir.path());
        c.max_future_drift_ms = good;
        SyncEngine::new(c, Arc::new(NoRelay)).unwrap();
    }
}

#[test]
fn a_push_limit_out_of_its_range_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [0, 4095, (1 << 30) + 1, u64::MAX] {
        let mut c = config(dir.path());
        c.max_push_bytes = bad;
        let err = SyncEngine::new(c, Arc::new(NoRelay)).unwrap_err();
        assert!(
            matches!(&err, SyncError::Config(m) if m.contains("max_push_bytes")),
            "{bad}: {err:?}"
        );
    }
    for good in [4096, 4 << 20, 1 << 30] {
        let mut c = config(dir.path());
        c.max_push_bytes = good;
        SyncEngine::new(c, Arc::new(NoRelay)).unwrap();
    }
}

#[test]
fn import_refuses_records_stamped_beyond_the_drift_like_a_pull() {
    let dir = tempfile::tempdir().unwrap();
    // (`memory` orders by version, so every record carries one.)
    // A registered device (the import needs the license id), offline.
    let st = EngineState {
        relay_url: Some("http://localhost".into()),
        license_id: Some(LID.into()),
        device_id: Some("dev_me".into()),
        ..EngineState::default()
    };
    StateDir::open(dir.path()).unwrap().save(&st).unwrap();
    let engine = SyncEngine::new(config(dir.path()), Arc::new(NoRelay)).unwrap();
    let store = Arc::new(Mem::default());
    engine
        .register_store(StoreSpec::memory(), store.clone())
        .unwrap();
    let key = EnvelopeKey::from_bytes_for_vectors([7; 32]);
    engine.set_envelope_key(Arc::new(EnvelopeKey::from_bytes_for_vectors([7; 32])));
    let events = Arc::new(Events::default());
    engine.add_listener(events.clone());

    let now = SystemClock::default().now_ms();
    let rec = |id: &str, at: i64, version: Option<u64>| {
        Record::new(id, None, at, version, "dev_peer", json!({"fact": id}))
    };
    let records = vec![
        rec("ok", now, Some(1)),
        rec("near", now + 60_000, Some(3)),
        rec("pinned", i64::MAX, Some(1)),
        rec("far", now + MAX_FUTURE_DRIFT_MS + 3_600_000, Some(1)),
        rec("version", now, Some(crate::merge::MAX_VERSION)),
        Record::tombstone("tomb", None, now + 86_400_000, Some(1), "dev_peer"),
    ];
    let text = encode_export(
        &key,
        LID.into(),
        now,
        vec![StoreRecords {
            store: "memory".into(),
            records,
        }],
    )
    .unwrap();
    let file = dir.path().join("export.azmx");
    std::fs::write(&file, text).unwrap();

    assert_eq!(engine.import(&file).unwrap(), 2);
    let held: Vec<String> = store.0.lock().unwrap().keys().cloned().collect();
    assert_eq!(held, ["near", "ok"]);
    let rejected: Vec<(String, String)> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|k| match k {
            EventKind::RecordRejected { id, code, .. } => Some((id.clone(), code.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        rejected,
        [
            ("pinned".to_string(), "future_timestamp".to_string()),
            ("far".into(), "future_timestamp".into()),
            ("version".into(), "version_ahead_of_time".into()),
            ("tomb".into(), "future_timestamp".into()),
        ]
    );
    // Nothing of them became an engine tombstone either.
    let st = StateDir::open(dir.path()).unwrap().load().unwrap();
    assert!(st.tombstones.values().all(|v| v.is_empty()));
}
