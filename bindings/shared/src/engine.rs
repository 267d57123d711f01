//! [`Engine`]: the sync engine's public method set, the one every binding
//! exposes (in its own casing). Errors are [`ApiError`]; results are the
//! core's plain structs, which each binding maps to its types.
//!
//! Secrets are handled here once: the license key and the receipt are taken
//! by value and their buffers wiped before the call returns.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use azmx_sync_core::engine::{
    allow_insecure_http_from_env, clamp_interval, ActivityListener, EngineConfig, HttpTransport,
    StoreAdapter, SyncEngine, TlsOptions, UreqTransport,
};
pub use azmx_sync_core::engine::{CycleReport, DeviceInfo, EngineStatus, Unsynced};
use secrecy::SecretString;
use zeroize::Zeroize;

use crate::error::ApiError;
use crate::events::EventView;
pub use crate::store_spec::ValidatorKind;
use crate::store_spec::{builtin_store, StoreSpec};

/// The default `limit` of [`Engine::recent_activity`] where a binding has
/// an optional argument.
pub const DEFAULT_ACTIVITY_LIMIT: u32 = 100;

/// The built-in transport's timeout per request.
const BUILTIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The sync engine of one device. Its state lives in the state directory;
/// the receipt is never written. `Debug` shows only the device id.
pub struct Engine {
    inner: SyncEngine,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.inner.device_id() {
            Some(id) => write!(f, "SyncEngine(device_id={id})"),
            None => f.write_str("SyncEngine(unregistered)"),
        }
    }
}

impl Engine {
    /// Opens (or creates) the engine state in `state_dir`, including the
    /// device key. `transport`: the host's, or `None` for the built-in one.
    ///
    /// The relay's TLS and the plain-HTTP rule come from the environment,
    /// the same variables as the CLI's, read here once for every binding:
    /// `AZMX_CA_FILE` (a PEM CA file the built-in transport trusts instead
    /// of the system's store; a host transport does its own TLS) and
    /// `AZMX_ALLOW_INSECURE_HTTP=1` (plain `http://` to a non-loopback
    /// relay, whichever transport).
    pub fn new(
        state_dir: impl Into<PathBuf>,
        transport: Option<Arc<dyn HttpTransport>>,
    ) -> Result<Self, ApiError> {
        let mut config = EngineConfig::new(state_dir);
        config.allow_insecure_http = allow_insecure_http_from_env();
        let transport = match transport {
            Some(t) => t,
            None => Arc::new(UreqTransport::with_tls(
                BUILTIN_TIMEOUT,
                &TlsOptions::from_env(),
            )?),
        };
        Ok(Self {
            inner: SyncEngine::new(config, transport)?,
        })
    }

    /// Wraps an engine built with a custom configuration.
    pub fn from_core(inner: SyncEngine) -> Self {
        Self { inner }
    }

    /// The core engine, for binding-specific plumbing (Node's JS-timer
    /// schedule runs `run_scheduled_cycle` itself).
    pub fn core(&self) -> &SyncEngine {
        &self.inner
    }

    /// Registers a host store under a spec from
    /// [`check_store_spec`](crate::store_spec::check_store_spec) (any
    /// store) or [`custom_store_spec`](crate::store_spec::custom_store_spec)
    /// (never a built-in name): the rules live there, once.
    pub fn register_store(
        &self,
        spec: StoreSpec,
        adapter: Arc<dyn StoreAdapter>,
    ) -> Result<(), ApiError> {
        Ok(self.inner.register_store(spec, adapter)?)
    }

    /// Registers the built-in `snippets` store (LWW by time, scoped).
    pub fn register_snippets(&self, adapter: Arc<dyn StoreAdapter>) -> Result<(), ApiError> {
        self.register_builtin("snippets", adapter)
    }

    /// Registers the built-in `todos` store (LWW per session, validated lists).
    pub fn register_todos(&self, adapter: Arc<dyn StoreAdapter>) -> Result<(), ApiError> {
        self.register_builtin("todos", adapter)
    }

    /// Registers the built-in `memory` store (LWW by version, unscoped).
    pub fn register_memory(&self, adapter: Arc<dyn StoreAdapter>) -> Result<(), ApiError> {
        self.register_builtin("memory", adapter)
    }

    /// Registers a built-in store by name (`UnknownStore` otherwise).
    pub fn register_builtin(
        &self,
        name: &str,
        adapter: Arc<dyn StoreAdapter>,
    ) -> Result<(), ApiError> {
        self.register_store(builtin_store(name)?, adapter)
    }

    /// Registers this device with a relay; returns its device id.
    /// Idempotent for the same device key. `license_key` is wiped.
    pub fn register(
        &self,
        relay_url: &str,
        license_id: &str,
        mut license_key: String,
        device_name: &str,
    ) -> Result<String, ApiError> {
        let out = self
            .inner
            .register(relay_url, license_id, &license_key, device_name);
        license_key.zeroize();
        Ok(out?)
    }

    /// Gives the engine the recovery receipt; the key is derived in the
    /// background. `receipt` is wiped: the engine keeps its own exact-size
    /// copy inside a `SecretString` (zeroized on drop).
    pub fn set_receipt(&self, mut receipt: String) -> Result<(), ApiError> {
        let out = self.inner.set_receipt(SecretString::from(receipt.as_str()));
        receipt.zeroize();
        Ok(out?)
    }

    /// Background interval, clamped to 30 s – 60 min.
    pub fn set_interval_secs(&self, secs: u64) {
        self.inner.set_interval(Duration::from_secs(secs))
    }

    /// The most recent events, oldest first.
    pub fn recent_activity(&self, limit: u32) -> Vec<EventView> {
        self.inner
            .recent_activity(limit as usize)
            .iter()
            .map(EventView::from)
            .collect()
    }

    /// Writes every store to an encrypted export file; returns the record count.
    pub fn export_to(&self, path: impl Into<PathBuf>) -> Result<u64, ApiError> {
        Ok(self.inner.export(path.into())?)
    }

    /// Merges an export file into the stores; returns the record count.
    pub fn import_from(&self, path: impl Into<PathBuf>) -> Result<u64, ApiError> {
        Ok(self.inner.import(path.into())?)
    }
}

crate::forward_methods! {
    impl Engine => inner, error ApiError {
        /// Checks the receipt against the license's key-check blob on the relay
        /// (sets it for the license's first device): `WrongReceipt` if not.
        try fn verify_receipt() -> ();
        /// Runs one full cycle now (push, pull, merge, apply).
        try fn sync_now() -> CycleReport;
        /// Starts the core's background scheduler (one thread).
        fn start();
        /// Stops the background scheduler, waiting for a running cycle.
        fn stop();
        /// Wakes the scheduler to run a cycle soon, without blocking.
        fn trigger();
        /// Hidden apps skip background cycles (`sync_now` still runs).
        fn set_visible(visible: bool);
        /// Registers a listener for every activity event (called on an engine
        /// thread). Cycle ends are `cycleFinished` events.
        fn add_listener(listener: Arc<dyn ActivityListener>);
        /// Records the relay does not have yet (snapshots every store).
        try fn unsynced() -> Unsynced;
        /// A snapshot for a status screen.
        fn status() -> EngineStatus;
        /// The license's devices (metadata only).
        try fn devices() -> Vec<DeviceInfo>;
        /// Revokes a device of this license (e.g. a lost laptop).
        try fn revoke(device_id: &str) -> ();
        fn device_id() -> Option<String>;
        /// The device key's fingerprint (public).
        fn fingerprint() -> String;
        /// The device's public key (base64url).
        fn public_key() -> String;
    }
}

/// The interval the core uses for `secs` (clamped to 30 s – 60 min), for
/// bindings that run their own schedule; NaN and negatives count as 0.
pub fn clamp_interval_secs(secs: f64) -> f64 {
    let secs = if secs.is_finite() { secs.max(0.0) } else { 0.0 };
    clamp_interval(Duration::from_secs_f64(secs.min(1e9))).as_secs_f64()
}
