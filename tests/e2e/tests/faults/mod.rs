//! Shared by the issue 11 client-side regression tests: real engines against
//! a real relay on loopback. Where a fault is needed (a proxy's 403, a lying
//! `serverTime`, a panicking host callback), a transport or store wrapper
//! injects it in front of the real parts.
// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use azmx_sync_core::engine::{
    EngineConfig, HostError, HttpRequest, HttpResponse, HttpTransport, StoreAdapter, SyncEngine,
    UreqTransport,
};
use azmx_sync_core::merge::{Change, Record, RecordKey, StoreSpec};
use azmx_sync_e2e::*;
use serde_json::json;

/// A fault-injecting transport in front of the real HTTP transport: while a
/// fault is armed it answers in place of the relay (as a proxy, a WAF or a
/// lying relay would); it records the `X-Ts` of every request it sees.
#[derive(Default)]
pub struct FaultTransport {
    pub inner: UreqTransport,
    pub fault: Mutex<Option<Fault>>,
    pub sent_ts: Mutex<Vec<i64>>,
    pub panics: AtomicUsize,
}

#[derive(Clone)]
pub enum Fault {
    /// Every request is answered with this status and body.
    Answer { status: u16, body: Vec<u8> },
    /// The next request is answered `401 clock_skew` with this `serverTime`.
    SkewOnce { server_time: i64 },
}

impl FaultTransport {
    pub fn arm(&self, f: Fault) {
        *self.fault.lock().unwrap() = Some(f);
    }
    pub fn disarm(&self) {
        *self.fault.lock().unwrap() = None;
    }
}

impl HttpTransport for FaultTransport {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HostError> {
        if self
            .panics
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            panic!("host transport bug");
        }
        if let Some((_, ts)) = request.headers.iter().find(|(k, _)| k == "X-Ts") {
            self.sent_ts.lock().unwrap().push(ts.parse().unwrap());
        }
        let fault = self.fault.lock().unwrap().clone();
        match fault {
            Some(Fault::Answer { status, body }) => Ok(HttpResponse {
                status,
                headers: BTreeMap::new(),
                body,
            }),
            Some(Fault::SkewOnce { server_time }) => {
                self.disarm();
                Ok(HttpResponse {
                    status: 401,
                    headers: BTreeMap::from([(
                        "content-type".to_string(),
                        "application/json".to_string(),
                    )]),
                    body: serde_json::to_vec(&json!({
                        "error": "clock_skew",
                        "message": "clock skew",
                        "serverTime": server_time,
                    }))
                    .unwrap(),
                })
            }
            None => self.inner.send(request),
        }
    }
}

/// A host store that keeps no tombstones: a plain dictionary of live
/// records, as a binding host with a JS object or a Python dict would.
/// Deleting drops the key; the engine keeps the tombstone for it.
#[derive(Default)]
pub struct DictStore {
    pub live: Mutex<BTreeMap<RecordKey, Record>>,
    /// Snapshot calls that panic before answering.
    pub panics: AtomicUsize,
}

impl DictStore {
    pub fn text(&self, handle: &str, id: &str) -> Option<String> {
        self.live
            .lock()
            .unwrap()
            .get(&RecordKey::new(Some(handle.into()), id))
            .and_then(|r| r.body.as_ref())
            .and_then(|b| b.to_value()["text"].as_str().map(String::from))
    }
}

impl StoreAdapter for DictStore {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        if self
            .panics
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            panic!("host store bug");
        }
        Ok(self.live.lock().unwrap().values().cloned().collect())
    }
    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
        let mut m = self.live.lock().unwrap();
        for c in changes {
            match c {
                Change::Insert(r) | Change::Update(r) => {
                    m.insert(r.key(), r);
                }
                Change::Delete(r) => {
                    m.remove(&r.key());
                }
            }
        }
        Ok(())
    }
}

/// A device whose snippets live in a [`DictStore`], behind a [`FaultTransport`].
pub struct DictDevice {
    pub engine: SyncEngine,
    pub snippets: Arc<DictStore>,
    pub transport: Arc<FaultTransport>,
    pub state: tempfile::TempDir,
}

impl DictDevice {
    pub fn new(relay: &RelayFixture, name: &str) -> Self {
        let state = tempfile::tempdir().unwrap();
        let transport = Arc::new(FaultTransport::default());
        let engine = SyncEngine::new(EngineConfig::new(state.path()), transport.clone()).unwrap();
        let snippets = Arc::new(DictStore::default());
        engine
            .register_store(StoreSpec::snippets(), snippets.clone())
            .unwrap();
        relay.enrol(&engine, name, RECEIPT);
        Self {
            engine,
            snippets,
            transport,
            state,
        }
    }
    pub fn put(&self, handle: &str, id: &str, text: &str, at: i64) {
        let r = Record::new(
            id,
            Some(handle.into()),
            at,
            None,
            self.engine.device_id().unwrap(),
            json!({ "text": text }),
        );
        self.snippets.live.lock().unwrap().insert(r.key(), r);
    }
}
