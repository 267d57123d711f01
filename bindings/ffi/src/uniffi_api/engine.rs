//! The sync engine and the host foreign traits.
//!
//! [`SyncEngine`] wraps the facade's [`Engine`] (every binding's method
//! set, errors and secret handling); hosts implement
//! [`StoreAdapter`], [`HttpTransport`] and [`ActivityListener`] in Python,
//! Kotlin or Swift (or pass no transport to use the built-in one). Every
//! call is blocking (no async exports): run them off the UI thread.
//!
//! Host errors: an exception raised by host code inside a callback (a
//! `SyncError` or anything else) becomes a core `HostError` carrying its
//! message, so a failing store arrives as `SyncError::StoreFailed` and a
//! failing transport as `SyncError::Network`, never as a crash.
//!
//! No API returns the receipt, key bytes or the private key; the receipt's
//! Rust copy is zeroized as soon as it is wrapped in a `SecretString`.

// The generated methods convert every result with `.into()`: the identity
// for the core types exported as they are (`CycleReport`, `Unsynced`).
#![allow(clippy::useless_conversion)]

use std::sync::Arc;

use azmx_sync_bridge::events::EventView;
use azmx_sync_bridge::host::http_response;
use azmx_sync_bridge::store_spec::{custom_store_spec, ValidatorKind};
use azmx_sync_bridge::Engine;
use azmx_sync_core::engine as ce;
use azmx_sync_core::merge::{Change, Record};

use super::error::SyncError;
use super::merge::{
    to_core_record, to_core_spec, MergeContract, RecordChange, StoreSpec, SyncRecord,
};

// ------------------------------------------------------------ records --

// Core types exported as they are (`remote`, see `error.rs`): a drift from
// the core's fields does not compile.
pub use ce::{CycleReport, Unsynced};

// The facade's severity exported as it is (see `error.rs` on `remote`),
// under the name the foreign code has always used.
pub use azmx_sync_bridge::events::Severity as EventSeverity;

/// One HTTP header.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

/// A request the engine asks the host transport to send.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<HttpHeader>,
    pub body: Vec<u8>,
}

/// The relay's answer. Any status (also 4xx/5xx) is a normal response;
/// raise an error only when the request could not be completed.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in any case (they are lower-cased on the Rust side).
    pub headers: Vec<HttpHeader>,
    pub body: Vec<u8>,
}

/// How much an event deserves the user's attention.
#[uniffi::remote(Enum)]
pub enum EventSeverity {
    Info,
    Warning,
    Error,
}

/// One activity event: its time, its type name (e.g. `pushed`,
/// `blobIntegrityError`), its severity and its JSON form (never carries
/// record bodies, the receipt or key bytes: only ids, counts, sizes, codes).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ActivityEvent {
    pub at_ms: i64,
    pub type_name: String,
    pub json: String,
    pub severity: EventSeverity,
}

impl From<EventView> for ActivityEvent {
    fn from(e: EventView) -> Self {
        Self {
            at_ms: e.at_ms,
            type_name: e.kind,
            json: e.json,
            severity: e.severity,
        }
    }
}

/// What one cycle did.
#[uniffi::remote(Record)]
pub struct CycleReport {
    pub pushed_seq: Option<u64>,
    pub pushed_records: u64,
    pub sealed_bytes: u64,
    pub checkpoint: bool,
    pub pulled_blobs: u64,
    pub applied_changes: u64,
    pub rejected_records: u64,
    pub quarantined: u64,
    pub duration_ms: u64,
}

/// A snapshot of the engine for a status screen. `json` is the full status
/// (last cycle, quarantine entries...) in its serde form.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EngineStatus {
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub relay_url: Option<String>,
    pub license_id: Option<String>,
    pub fingerprint: String,
    pub next_seq: u64,
    pub last_success_ms: Option<i64>,
    pub outbox_pending: bool,
    pub revoked: bool,
    pub clock_offset_secs: i64,
    pub quarantined: u64,
    pub receipt_set: bool,
    pub json: String,
}

/// One device of the license, as the relay sees it (metadata only).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceInfo {
    pub device_id: String,
    pub name: String,
    pub created_at: Option<i64>,
    pub last_push_at: Option<i64>,
    pub last_pull_at: Option<i64>,
    pub blob_count: u64,
    pub sealed_bytes: u64,
    pub revoked: bool,
}

impl From<ce::DeviceInfo> for DeviceInfo {
    fn from(d: ce::DeviceInfo) -> Self {
        Self {
            device_id: d.device_id,
            name: d.name,
            // `.into()`: the wire type's `i64` (or `Option`) as this record's `Option`.
            created_at: d.created_at.into(),
            last_push_at: d.last_push_at,
            last_pull_at: d.last_pull_at,
            blob_count: d.blob_count,
            sealed_bytes: d.sealed_bytes,
            revoked: d.revoked,
        }
    }
}

/// Records the relay does not have yet.
#[uniffi::remote(Record)]
pub struct Unsynced {
    pub count: u64,
    /// `updated_at` of the oldest unsynced record.
    pub oldest_updated_at_ms: Option<i64>,
}

// ------------------------------------------------------ foreign traits --

/// A host store: every record (tombstones included) and a way to apply
/// merged changes (idempotently).
#[uniffi::export(with_foreign)]
pub trait StoreAdapter: Send + Sync {
    /// Every record of the store, tombstones included: a record that just
    /// disappears is not a delete.
    fn snapshot(&self) -> Result<Vec<SyncRecord>, SyncError>;
    /// Writes merged changes (each change's record is the new version, a
    /// tombstone for `Delete`). Must be idempotent.
    fn apply(&self, changes: Vec<RecordChange>) -> Result<(), SyncError>;
}

/// Sends HTTP requests for the engine.
#[uniffi::export(with_foreign)]
pub trait HttpTransport: Send + Sync {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, SyncError>;
}

/// Receives every activity event as it happens (on an engine thread).
#[uniffi::export(with_foreign)]
pub trait ActivityListener: Send + Sync {
    fn on_event(&self, event: ActivityEvent);
}

fn host_error(e: SyncError) -> ce::HostError {
    ce::HostError::new(match e {
        SyncError::HostCallback { reason } => reason,
        other => other.to_string(),
    })
}

struct StoreBridge(Arc<dyn StoreAdapter>);

impl ce::StoreAdapter for StoreBridge {
    fn snapshot(&self) -> Result<Vec<Record>, ce::HostError> {
        let records = self.0.snapshot().map_err(host_error)?;
        records
            .into_iter()
            .enumerate()
            .map(|(i, r)| to_core_record(r, "snapshot", i).map_err(host_error))
            .collect()
    }

    fn apply(&self, changes: Vec<Change>) -> Result<(), ce::HostError> {
        let changes = changes.into_iter().map(RecordChange::from).collect();
        self.0.apply(changes).map_err(host_error)
    }
}

struct TransportBridge(Arc<dyn HttpTransport>);

impl ce::HttpTransport for TransportBridge {
    fn send(&self, request: ce::HttpRequest) -> Result<ce::HttpResponse, ce::HostError> {
        let req = HttpRequest {
            method: request.method,
            url: request.url,
            headers: request
                .headers
                .into_iter()
                .map(|(name, value)| HttpHeader { name, value })
                .collect(),
            body: request.body,
        };
        let resp = self.0.send(req).map_err(host_error)?;
        let headers = resp.headers.into_iter().map(|h| (h.name, h.value));
        Ok(http_response(resp.status, headers, resp.body))
    }
}

struct ListenerBridge(Arc<dyn ActivityListener>);

impl ce::ActivityListener for ListenerBridge {
    fn on_event(&self, event: &ce::ActivityEvent) {
        self.0.on_event(EventView::from(event).into());
    }
}

// -------------------------------------------------------------- engine --

/// The sync engine of one device. Its state (device key, sequence numbers,
/// activity log) lives in `state_dir`; the receipt is never written.
/// Printing it shows only its device id.
#[derive(uniffi::Object)]
#[uniffi::export(Debug, Display)]
pub struct SyncEngine {
    inner: Engine,
}

impl std::fmt::Debug for SyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.inner, f)
    }
}

impl std::fmt::Display for SyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.inner, f)
    }
}

fn store(adapter: Arc<dyn StoreAdapter>) -> Arc<dyn ce::StoreAdapter> {
    Arc::new(StoreBridge(adapter))
}

fn listener(listener: Arc<dyn ActivityListener>) -> Arc<dyn ce::ActivityListener> {
    Arc::new(ListenerBridge(listener))
}

impl From<ce::EngineStatus> for EngineStatus {
    fn from(s: ce::EngineStatus) -> Self {
        Self {
            json: serde_json::to_string(&s).unwrap_or_default(),
            device_id: s.device_id,
            device_name: s.device_name,
            relay_url: s.relay_url,
            license_id: s.license_id,
            fingerprint: s.fingerprint,
            next_seq: s.next_seq,
            last_success_ms: s.last_success_ms,
            outbox_pending: s.outbox_pending,
            revoked: s.revoked,
            clock_offset_secs: s.clock_offset_secs,
            quarantined: s.quarantine.len() as u64,
            receipt_set: s.receipt_set,
        }
    }
}

// The methods that only convert arguments and results, generated from
// bindings/exports.toml (`cargo run -p xtask -- gen-bindings`) with the
// conversions above: `store`, `listener` and the `From` impls. Included, not
// a module: uniffi orders an object's methods module by module, and the
// generated Swift keeps its one alphabetical list.
include!("engine/generated.rs");

/// The methods whose arguments differ by binding.
#[uniffi::export]
impl SyncEngine {
    /// Opens (or creates) the engine state in `state_dir`, including the
    /// device key. `transport`: the host's HTTP transport, or `None` for
    /// the built-in one.
    #[uniffi::constructor(default(transport = None))]
    pub fn new(
        state_dir: String,
        transport: Option<Arc<dyn HttpTransport>>,
    ) -> Result<Arc<Self>, SyncError> {
        let transport =
            transport.map(|t| Arc::new(TransportBridge(t)) as Arc<dyn ce::HttpTransport>);
        let inner = Engine::new(state_dir, transport)?;
        Ok(Arc::new(Self { inner }))
    }

    /// Registers a store with its spec (name, contract, validator) and the
    /// host adapter. Built-in names only with their built-in spec.
    pub fn register_store(
        &self,
        spec: StoreSpec,
        adapter: Arc<dyn StoreAdapter>,
    ) -> Result<(), SyncError> {
        Ok(self
            .inner
            .register_store(to_core_spec(&spec)?, store(adapter))?)
    }

    /// Registers a host store by name and contract (generic shape checks only).
    pub fn register_custom_store(
        &self,
        name: String,
        contract: MergeContract,
        adapter: Arc<dyn StoreAdapter>,
    ) -> Result<(), SyncError> {
        let spec = custom_store_spec(&name, contract, ValidatorKind::ShapeOnly)?;
        Ok(self.inner.register_store(spec, store(adapter))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing;
    impl StoreAdapter for Failing {
        fn snapshot(&self) -> Result<Vec<SyncRecord>, SyncError> {
            Err(uniffi::UnexpectedUniFFICallbackError::new("RuntimeError('x')").into())
        }
        fn apply(&self, _: Vec<RecordChange>) -> Result<(), SyncError> {
            Ok(())
        }
    }

    #[test]
    fn host_callback_errors_become_host_errors_with_the_message() {
        let bridge = StoreBridge(Arc::new(Failing));
        let err = ce::StoreAdapter::snapshot(&bridge).unwrap_err();
        assert_eq!(err.message, "RuntimeError('x')");
    }

    #[test]
    fn engine_prints_nothing_but_its_device_id() {
        let dir = std::env::temp_dir().join(format!("azmx-ffi-engine-{}", std::process::id()));
        let e = SyncEngine::new(dir.to_string_lossy().into_owned(), None).unwrap();
        assert_eq!(format!("{e:?}"), "SyncEngine(unregistered)");
        let _ = std::fs::remove_dir_all(dir);
    }
}
