//! Shared fixtures for the end-to-end tests: a real relay on loopback, and
//! devices made of a real [`SyncEngine`] with in-memory or file-backed stores.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use azmx_sync_core::engine::{
    ActivityEvent, EngineConfig, HostError, HttpTransport, StoreAdapter, SyncEngine, SystemClock,
    UreqTransport,
};
use azmx_sync_core::merge::{Change, Record, StoreSpec};
use azmx_sync_relay::{add_license, Relay, RelayConfig, RunningRelay};
use serde_json::{json, Value};

pub use azmx_sync_test_support::MemStore;

pub const RECEIPT: &str = "RCPT-7F3A-99C2-44D1-B0E8";

/// A host store persisted as one JSON file (for crash tests across processes).
pub struct FileStore {
    pub path: PathBuf,
}

impl FileStore {
    pub fn load(&self) -> BTreeMap<String, Record> {
        std::fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Vec<Record>>(&b).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|r| (format!("{:?}", r.key()), r))
            .collect()
    }
    pub fn save(&self, m: &BTreeMap<String, Record>) {
        let tmp = self.path.with_extension("tmp");
        let v: Vec<&Record> = m.values().collect();
        std::fs::write(&tmp, serde_json::to_vec(&v).unwrap()).unwrap();
        std::fs::rename(&tmp, &self.path).unwrap();
    }
    pub fn put(&self, r: Record) {
        let mut m = self.load();
        m.insert(format!("{:?}", r.key()), r);
        self.save(&m);
    }
}

impl StoreAdapter for FileStore {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        Ok(self.load().into_values().collect())
    }
    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
        let mut m = self.load();
        for c in changes {
            let r = c.record().clone();
            m.insert(format!("{:?}", r.key()), r);
        }
        self.save(&m);
        Ok(())
    }
}

/// A relay on loopback with a temporary data dir and one license.
pub struct RelayFixture {
    pub relay: Option<RunningRelay>,
    pub dir: tempfile::TempDir,
    pub license_id: String,
    pub license_key: String,
}

impl RelayFixture {
    pub fn start() -> Self {
        Self::start_with(|c| c.admin_token = Some("admin-token-e2e".into()))
    }
    /// A relay configured by `tune` (no admin token unless it sets one).
    pub fn start_with(tune: impl FnOnce(&mut RelayConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let license_id = "lic_e2e".to_string();
        let license_key = add_license(dir.path(), &license_id).unwrap();
        let mut config = RelayConfig::new(dir.path());
        tune(&mut config);
        let relay = Relay::start(config).unwrap();
        Self {
            relay: Some(relay),
            dir,
            license_id,
            license_key,
        }
    }
    pub fn url(&self) -> String {
        self.relay.as_ref().unwrap().url()
    }
    /// Registers `engine` as device `name` of the license, then sets `receipt`.
    pub fn enrol(&self, engine: &SyncEngine, name: &str, receipt: &str) {
        self.enrol_via(engine, &self.url(), name, receipt)
    }
    /// [`enrol`](Self::enrol) through `url` (a proxy in front of the relay).
    pub fn enrol_via(&self, engine: &SyncEngine, url: &str, name: &str, receipt: &str) {
        engine
            .register(url, &self.license_id, &self.license_key, name)
            .unwrap();
        engine
            .set_receipt(secrecy::SecretString::from(receipt))
            .unwrap();
    }
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("relay.sqlite3")).unwrap()
    }
    pub fn blob_count(&self) -> i64 {
        self.db()
            .query_row("SELECT COUNT(*) FROM blobs", [], |r| r.get(0))
            .unwrap()
    }
}

/// One device: an engine and its three built-in stores.
pub struct Device {
    pub engine: SyncEngine,
    pub snippets: Arc<MemStore>,
    pub todos: Arc<MemStore>,
    pub memory: Arc<MemStore>,
    pub state: tempfile::TempDir,
    pub name: String,
}

impl Device {
    pub fn new(relay: &RelayFixture, name: &str) -> Self {
        Self::with_options(relay, name, RECEIPT, 0, 16)
    }

    pub fn with_options(
        relay: &RelayFixture,
        name: &str,
        receipt: &str,
        clock_offset_ms: i64,
        checkpoint_every: u32,
    ) -> Self {
        Self::via(
            relay,
            &relay.url(),
            name,
            receipt,
            clock_offset_ms,
            checkpoint_every,
        )
    }

    /// A device of `relay`'s license that talks to `url` (the relay itself,
    /// or a proxy in front of it).
    pub fn via(
        relay: &RelayFixture,
        url: &str,
        name: &str,
        receipt: &str,
        clock_offset_ms: i64,
        checkpoint_every: u32,
    ) -> Self {
        Self::custom(
            relay,
            url,
            name,
            receipt,
            |config| {
                config.clock = Arc::new(SystemClock {
                    offset_ms: clock_offset_ms,
                });
                config.checkpoint_every = checkpoint_every;
            },
            Arc::new(UreqTransport::default()),
        )
    }

    /// A device whose engine settings `tune` changes, talking to `url`
    /// through `transport`.
    pub fn custom(
        relay: &RelayFixture,
        url: &str,
        name: &str,
        receipt: &str,
        tune: impl FnOnce(&mut EngineConfig),
        transport: Arc<dyn HttpTransport>,
    ) -> Self {
        let state = tempfile::tempdir().unwrap();
        let mut config = EngineConfig::new(state.path());
        tune(&mut config);
        let engine = SyncEngine::new(config, transport).unwrap();
        let (snippets, todos, memory) = (
            Arc::new(MemStore::default()),
            Arc::new(MemStore::default()),
            Arc::new(MemStore::default()),
        );
        engine
            .register_store(StoreSpec::snippets(), snippets.clone())
            .unwrap();
        engine
            .register_store(StoreSpec::todos(), todos.clone())
            .unwrap();
        engine
            .register_store(StoreSpec::memory(), memory.clone())
            .unwrap();
        relay.enrol_via(&engine, url, name, receipt);
        Self {
            engine,
            snippets,
            todos,
            memory,
            state,
            name: name.into(),
        }
    }

    pub fn id(&self) -> String {
        self.engine.device_id().unwrap()
    }

    pub fn sync(&self) -> azmx_sync_core::engine::CycleReport {
        self.engine
            .sync_now()
            .unwrap_or_else(|e| panic!("{} sync failed: {e}", self.name))
    }

    pub fn add_snippet(&self, handle: &str, id: &str, text: &str, at: i64) {
        self.snippets.put(Record::new(
            id,
            Some(handle.into()),
            at,
            None,
            self.id(),
            json!({ "text": text }),
        ));
    }

    pub fn delete_snippet(&self, handle: &str, id: &str, at: i64) {
        self.snippets.put(Record::tombstone(
            id,
            Some(handle.into()),
            at,
            None,
            self.id(),
        ));
    }

    pub fn set_todos(&self, session: &str, items: Value, at: i64) {
        self.todos.put(Record::new(
            session,
            None,
            at,
            None,
            self.id(),
            json!({ "items": items }),
        ));
    }

    pub fn put_memory(&self, id: &str, fact: &str, version: u64, at: i64) {
        self.memory.put(Record::new(
            id,
            None,
            at,
            Some(version),
            self.id(),
            json!({ "fact": fact }),
        ));
    }

    pub fn snippet_text(&self, handle: &str, id: &str) -> Option<String> {
        self.snippets
            .get(Some(handle), id)
            .filter(|r| !r.deleted)
            .and_then(|r| r.body)
            .and_then(|b| b.to_value()["text"].as_str().map(String::from))
    }

    pub fn events(&self) -> Vec<ActivityEvent> {
        self.engine.recent_activity(512)
    }

    pub fn event_types(&self) -> Vec<String> {
        self.events().iter().map(|e| e.type_name()).collect()
    }
}

/// All live records of the three stores, comparable across devices.
pub fn visible_state(d: &Device) -> Vec<(String, Option<String>, String, Option<Value>)> {
    let mut out = Vec::new();
    for (name, s) in [
        ("snippets", &d.snippets),
        ("todos", &d.todos),
        ("memory", &d.memory),
    ] {
        for r in s.all() {
            out.push((
                name.to_string(),
                r.scope.clone(),
                r.id.clone(),
                r.body.as_ref().map(|b| b.to_value()),
            ));
        }
    }
    out
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}
