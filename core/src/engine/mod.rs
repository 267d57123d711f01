//! The sync engine: snapshot → hash → seal → sign → push; pull → verify →
//! open → merge → apply. Hosts supply [`StoreAdapter`]s, an
//! [`HttpTransport`] and optionally [`ActivityListener`]s; the engine keeps
//! its own state in a host-given directory and never writes the receipt.

mod bundle;
mod cycle;
mod disk_mark;
mod enrol;
mod error;
mod events;
mod export;
mod host;
mod integrity_check;
mod journal_line;
mod keycheck;
mod relay_client;
mod relay_url;
mod scheduler;
mod state;
#[cfg(feature = "ureq-transport")]
mod tls;
#[cfg(feature = "ureq-transport")]
mod ureq_transport;

#[cfg(test)]
#[path = "bounds_tests.rs"]
mod bounds_tests;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use crate::protocol::DeviceInfo;
pub use bundle::{Bundle, StoreRecords, BUNDLE_FORMAT};
pub use error::{AuthorityMismatch, CertificateProblem, SyncError};
pub use events::{read_log_file, ActivityEvent, ActivityLog, EventKind, Severity, SkipReason};
pub use export::{decode_export, encode_export, EXPORT_MAGIC};
pub use host::{
    ActivityListener, ChangeSet, Clock, HostError, HttpRequest, HttpResponse, HttpTransport,
    StoreAdapter, SystemClock, MAX_CHANGED_KEYS, MAX_CHANGE_TOKEN_BYTES,
};
pub use integrity_check::{
    IntegrityKind, IntegrityProblem, LastIntegrityProblem, PrevRef, MAX_PEER_CLAIMS,
    MAX_TRACKED_DEVICES,
};
pub use relay_url::{check_relay_url, relay_transport_security, RelayTransportSecurity};
pub use scheduler::{
    clamp_interval, SchedulePolicy, ScheduleStep, ScheduledCycle, DEFAULT_INTERVAL, MAX_INTERVAL,
    MIN_INTERVAL,
};
pub use state::{
    CycleSummary, QuarantineEntry, ACTIVITY_FILE, KEYCHECK_FILE, KEY_FILE, STATE_FILE,
};
#[cfg(feature = "ureq-transport")]
pub use tls::{allow_insecure_http_from_env, TlsOptions, ENV_ALLOW_INSECURE_HTTP, ENV_CA_FILE};
#[cfg(feature = "ureq-transport")]
pub use ureq_transport::UreqTransport;

use crate::authority::AuthorityKey;
use crate::identity::DeviceIdentity;
use crate::kdf::EnvelopeKey;
use crate::merge::{StoreName, StoreSpec};
use events::lock;
use relay_client::RelayClient;
use state::{EngineState, StateDir};

/// The default of [`EngineConfig::full_snapshot_every`].
pub const DEFAULT_FULL_SNAPSHOT_EVERY: u32 = 12;

/// The default of [`EngineConfig::max_push_bytes`]: half the relay's
/// default body limit (8 MiB), so a relay configured lower still takes
/// most pushes before its `413` makes the engine split smaller.
pub const DEFAULT_MAX_PUSH_BYTES: u64 = 4 << 20;

/// The range of [`EngineConfig::max_push_bytes`], and of the limit a
/// relay's `413 too_large` may teach the engine: below 4 KiB a checkpoint
/// would be absurdly many pushes (a relay saying so is refused), above
/// 1 GiB one push would need that much memory twice.
pub const PUSH_BYTES_RANGE: std::ops::RangeInclusive<u64> = (4 << 10)..=(1 << 30);

/// Engine settings. `state_dir` is the only required one.
#[derive(Clone)]
pub struct EngineConfig {
    pub state_dir: PathBuf,
    /// Every `checkpoint_every` pushes (and on the first push) the bundle is
    /// a full snapshot, after which the relay may drop older blobs.
    pub checkpoint_every: u32,
    /// Blobs listed per pull request.
    pub pull_page: u32,
    /// Failed bundles are retried this many times, then given up (still reported).
    pub max_quarantine_attempts: u32,
    /// Background cycle interval (clamped to 30 s – 60 min).
    pub interval: Duration,
    pub clock: Arc<dyn Clock>,
    /// Append events to `activity.jsonl` in the state dir.
    pub persist_activity: bool,
    /// How far an incoming record's `updatedAt` (and `version`) may run ahead
    /// of the relay's `createdAt` of its blob before it is refused (ms;
    /// default [`MAX_FUTURE_DRIFT_MS`](crate::merge::MAX_FUTURE_DRIFT_MS),
    /// 10 min; see `docs/MERGE.md`, "Bounded time and versions"). Must be
    /// in [`FUTURE_DRIFT_RANGE_MS`](crate::merge::FUTURE_DRIFT_RANGE_MS)
    /// (1 s – 1 day): [`SyncEngine::new`] refuses another with a `Config`
    /// error.
    pub max_future_drift_ms: i64,
    /// Let plain `http://` reach a relay on another machine (default
    /// `false`: only loopback may be plain HTTP; see `relay_url.rs`).
    /// Checked at `register` and before every request.
    pub allow_insecure_http: bool,
    /// For stores that say what changed ([`StoreAdapter::changes_since`]):
    /// every `full_snapshot_every`-th cycle still reads each one whole, so
    /// a host that under-reports a change is caught within that many cycles
    /// (default 12: hourly at the default interval; 1 reads whole every
    /// cycle). Checkpoints always read whole.
    pub full_snapshot_every: u32,
    /// The largest sealed blob one push sends (default
    /// [`DEFAULT_MAX_PUSH_BYTES`], in [`PUSH_BYTES_RANGE`]). More is split
    /// into several pushes, a checkpoint into parts (PROTOCOL §6); a relay
    /// whose `413 too_large` names a lower limit lowers it.
    pub max_push_bytes: u64,
}

impl EngineConfig {
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            checkpoint_every: 16,
            pull_page: 100,
            max_quarantine_attempts: 5,
            interval: DEFAULT_INTERVAL,
            clock: Arc::new(SystemClock::default()),
            persist_activity: true,
            max_future_drift_ms: crate::merge::MAX_FUTURE_DRIFT_MS,
            allow_insecure_http: false,
            full_snapshot_every: DEFAULT_FULL_SNAPSHOT_EVERY,
            max_push_bytes: DEFAULT_MAX_PUSH_BYTES,
        }
    }
}

/// What one cycle did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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

/// A snapshot of the engine for a status screen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineStatus {
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub relay_url: Option<String>,
    pub license_id: Option<String>,
    pub fingerprint: String,
    pub next_seq: u64,
    pub last_cycle: Option<CycleSummary>,
    pub last_success_ms: Option<i64>,
    pub outbox_pending: bool,
    pub revoked: bool,
    pub clock_offset_secs: i64,
    pub quarantine: Vec<QuarantineEntry>,
    pub receipt_set: bool,
    /// Relay-integrity problems detected so far (PROTOCOL §6): the relay
    /// dropped, reordered, rolled back or withheld bundles.
    pub integrity_problems: u64,
    /// The most recent of them.
    pub last_integrity_problem: Option<LastIntegrityProblem>,
}

/// Records not yet on the relay.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unsynced {
    pub count: u64,
    /// `updated_at` of the oldest unsynced record.
    pub oldest_updated_at_ms: Option<i64>,
}

pub(crate) enum KeySlot {
    Empty,
    Deriving,
    Ready(Arc<EnvelopeKey>),
    Failed(String),
}

pub(crate) struct Registered {
    pub spec: StoreSpec,
    pub adapter: Arc<dyn StoreAdapter>,
}

pub(crate) struct Inner {
    pub config: EngineConfig,
    pub dir: StateDir,
    pub log: Arc<ActivityLog>,
    pub transport: Arc<dyn HttpTransport>,
    pub identity: DeviceIdentity,
    pub stores: Mutex<Vec<Registered>>,
    pub key: Mutex<KeySlot>,
    pub key_cv: Condvar,
    /// The license authority key next to `key`, and a receipt given
    /// before `register`.
    pub authority: Mutex<enrol::AuthoritySlot>,
    pub keycheck_ok: AtomicBool,
    pub cycle_lock: Mutex<()>,
    pub state: Mutex<EngineState>,
    pub visible: AtomicBool,
    pub scheduler: Mutex<Option<scheduler::Handle>>,
}

/// The engine. Cheap to clone (shared inside).
#[derive(Clone)]
pub struct SyncEngine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for SyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine")
            .field("state_dir", &self.inner.config.state_dir)
            .finish_non_exhaustive()
    }
}

impl SyncEngine {
    /// Opens (or creates) the engine state in `config.state_dir`, including
    /// the device key (`device.key`, 0600).
    pub fn new(config: EngineConfig, transport: Arc<dyn HttpTransport>) -> Result<Self, SyncError> {
        let drift = crate::merge::FUTURE_DRIFT_RANGE_MS;
        if !drift.contains(&config.max_future_drift_ms) {
            return Err(SyncError::Config(format!(
                "max_future_drift_ms must be between {} and {} (ms), got {}",
                drift.start(),
                drift.end(),
                config.max_future_drift_ms
            )));
        }
        if !PUSH_BYTES_RANGE.contains(&config.max_push_bytes) {
            return Err(SyncError::Config(format!(
                "max_push_bytes must be between {} and {}, got {}",
                PUSH_BYTES_RANGE.start(),
                PUSH_BYTES_RANGE.end(),
                config.max_push_bytes
            )));
        }
        let dir = StateDir::open(&config.state_dir)?;
        let state = dir.load()?;
        let identity = DeviceIdentity::load_or_create(dir.path(KEY_FILE))?;
        let log = Arc::new(ActivityLog::new(
            config.persist_activity.then(|| dir.path(ACTIVITY_FILE)),
        ));
        let transport: Arc<dyn HttpTransport> = Arc::new(host::CatchPanics(transport));
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                dir,
                log,
                transport,
                identity,
                stores: Mutex::new(Vec::new()),
                key: Mutex::new(KeySlot::Empty),
                key_cv: Condvar::new(),
                authority: Mutex::new(enrol::AuthoritySlot::default()),
                keycheck_ok: AtomicBool::new(false),
                cycle_lock: Mutex::new(()),
                state: Mutex::new(state),
                visible: AtomicBool::new(true),
                scheduler: Mutex::new(None),
            }),
        })
    }

    /// With the built-in `ureq` transport.
    #[cfg(feature = "ureq-transport")]
    pub fn with_builtin_transport(config: EngineConfig) -> Result<Self, SyncError> {
        Self::new(config, Arc::new(UreqTransport::default()))
    }

    /// Registers a store with its merge contract and the host adapter.
    pub fn register_store(
        &self,
        spec: StoreSpec,
        adapter: Arc<dyn StoreAdapter>,
    ) -> Result<(), SyncError> {
        let mut stores = lock(&self.inner.stores);
        if stores.iter().any(|r| r.spec.name == spec.name) {
            return Err(SyncError::Config(format!(
                "store `{}` is already registered",
                spec.name.as_str()
            )));
        }
        let adapter: Arc<dyn StoreAdapter> = Arc::new(host::CatchPanics(adapter));
        stores.push(Registered { spec, adapter });
        Ok(())
    }

    /// Validates a store name for [`register_store`](Self::register_store).
    pub fn store_name(name: &str) -> Result<StoreName, SyncError> {
        StoreName::new(name).map_err(|e| SyncError::Config(e.to_string()))
    }

    pub fn add_listener(&self, listener: Arc<dyn ActivityListener>) {
        self.inner.log.add_listener(listener);
    }

    /// Registers this device with a relay (`/sync/init`). Idempotent for the
    /// same key: a retry after a crash returns the same device id.
    ///
    /// With a receipt for this license (given before, with
    /// [`set_receipt`](Self::set_receipt), or derived for it already), the
    /// license authority comes first (PROTOCOL §11.5): the relay's
    /// authority key for the license is compared with the receipt's, a
    /// different one is [`SyncError::WrongReceipt`] with nothing sent to
    /// `init` and nothing written, and an equal one signs the registration.
    /// A license without an authority key (or a relay from before §11)
    /// registers as without a receipt.
    pub fn register(
        &self,
        relay_url: &str,
        license_id: &str,
        license_key: &str,
        device_name: &str,
    ) -> Result<String, SyncError> {
        enrol::register(self, relay_url, license_id, license_key, device_name)
    }

    /// Gives the engine the recovery receipt. Once the device is registered
    /// the keys (envelope and license authority, one PBKDF2) are derived on
    /// a background thread; the receipt is zeroized as soon as they exist
    /// and is never written anywhere. Before [`register`](Self::register),
    /// the receipt is kept in memory (zeroized on drop) until `register`
    /// names the license, and checked there against the license's
    /// authority key.
    pub fn set_receipt(&self, receipt: SecretString) -> Result<(), SyncError> {
        enrol::set_receipt(self, receipt)
    }

    /// Gives the engine an envelope key the host already derived (with
    /// [`EnvelopeKey::derive`] for this engine's license), instead of a
    /// receipt: for a host that runs several engines of one license (and
    /// for tests), so the deliberately slow PBKDF2 runs once, not once per
    /// engine. The key is kept in memory only, exactly like one derived by
    /// [`set_receipt`](Self::set_receipt), and is never printed or written
    /// (`EnvelopeKey` has neither `Display` nor `Serialize`, and its `Debug`
    /// is redacted). A key of another license or receipt is refused by the
    /// key check (`WrongReceipt`) before anything is pushed or applied.
    /// A derivation still running from an earlier `set_receipt` may replace
    /// it when it finishes: give a device one or the other.
    /// This key has no license authority key next to it (revoking and the
    /// first key-check on a license with one need
    /// [`set_receipt_keys`](Self::set_receipt_keys)).
    pub fn set_envelope_key(&self, key: Arc<EnvelopeKey>) {
        enrol::forget_authority(self);
        self.install_envelope_key(key);
    }

    /// [`set_envelope_key`](Self::set_envelope_key) with the license
    /// authority key too, both of one [`ReceiptKeys`](crate::ReceiptKeys)
    /// derived by the host for `license_id` (one PBKDF2 for both). May come
    /// before [`register`](Self::register), which then checks the
    /// authority key against the license's as it would a receipt's.
    pub fn set_receipt_keys(
        &self,
        license_id: &str,
        envelope: Arc<EnvelopeKey>,
        authority: Arc<AuthorityKey>,
    ) {
        enrol::set_keys(self, license_id, envelope, authority);
    }

    /// What the last [`register`](Self::register) of this engine found
    /// about the license authority, when it had a receipt: `Some(true)` the
    /// license has an authority key and the receipt's matched it (or
    /// claimed it), `Some(false)` the license has none (anyone with the
    /// license key can register and revoke devices), `None` not known.
    pub fn license_authority_found(&self) -> Option<bool> {
        enrol::relay_has_authority(self)
    }

    pub(crate) fn install_envelope_key(&self, key: Arc<EnvelopeKey>) {
        *lock(&self.inner.key) = KeySlot::Ready(key);
        self.inner.keycheck_ok.store(false, Ordering::SeqCst);
        self.inner.key_cv.notify_all();
        self.emit(EventKind::KeyReady);
    }

    /// Blocks until the key derived by [`set_receipt`](Self::set_receipt) is ready.
    pub(crate) fn key(&self) -> Result<Arc<EnvelopeKey>, SyncError> {
        let mut slot = lock(&self.inner.key);
        loop {
            match &*slot {
                KeySlot::Empty => return Err(SyncError::NoReceipt),
                KeySlot::Ready(k) => return Ok(Arc::clone(k)),
                KeySlot::Failed(code) => {
                    return Err(if code == "empty_receipt" {
                        SyncError::Core(crate::Error::EmptyReceipt)
                    } else {
                        SyncError::Core(crate::Error::EmptyLicenseId)
                    })
                }
                KeySlot::Deriving => {
                    slot = self
                        .inner
                        .key_cv
                        .wait(slot)
                        .unwrap_or_else(|p| p.into_inner());
                }
            }
        }
    }

    /// Checks the receipt against the license's key-check blob on the relay
    /// (setting it if this is the license's first device). `WrongReceipt`
    /// when it does not match; nothing is changed then.
    pub fn verify_receipt(&self) -> Result<(), SyncError> {
        let (client, device_id, lid) = self.session()?;
        let key = self.key()?;
        keycheck::verify(self, &client, &key, &device_id, &lid)
    }

    /// Runs one full cycle now (waits if a background cycle is running).
    pub fn sync_now(&self) -> Result<CycleReport, SyncError> {
        let _guard = lock(&self.inner.cycle_lock);
        self.run_cycle("manual")
    }

    /// Runs one cycle; the caller holds the cycle lock. A panic inside the
    /// cycle (host callbacks are already caught one by one; this is for the
    /// engine's own bugs) fails this cycle with a typed error instead of
    /// unwinding through the lock: the next cycle reloads the state from
    /// disk, where every step that matters was saved before the next.
    pub(crate) fn run_cycle(&self, trigger: &str) -> Result<CycleReport, SyncError> {
        let started = std::time::Instant::now();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cycle::run(self, trigger)))
            .unwrap_or_else(|_| {
                self.emit(EventKind::CycleFinished {
                    duration_ms: started.elapsed().as_millis() as u64,
                    pushed: false,
                    pulled_blobs: 0,
                    ok: false,
                });
                // Not `State`: nothing says the state directory is at fault,
                // and a host must not tell its user to check the disk.
                Err(SyncError::Internal {
                    message: "the sync cycle stopped on an internal error (panic); \
                              the next cycle resumes from the saved state"
                        .into(),
                })
            })
    }

    /// Starts the background scheduler (one thread).
    pub fn start(&self) {
        scheduler::start(self);
    }

    /// Stops the background scheduler and waits for it to finish its cycle.
    pub fn stop(&self) {
        scheduler::stop(self);
    }

    /// Wakes the scheduler to run a cycle now without blocking the caller.
    pub fn trigger(&self) {
        scheduler::trigger(self);
    }

    /// Hidden apps skip background cycles (manual `sync_now` still runs).
    pub fn set_visible(&self, visible: bool) {
        self.inner.visible.store(visible, Ordering::SeqCst);
    }

    pub fn set_interval(&self, interval: Duration) {
        scheduler::set_interval(self, interval);
    }

    /// The most recent events (oldest first), from the in-memory ring.
    pub fn recent_activity(&self, limit: usize) -> Vec<ActivityEvent> {
        self.inner.log.recent(limit)
    }

    pub fn device_id(&self) -> Option<String> {
        lock(&self.inner.state).device_id.clone()
    }

    pub fn public_key(&self) -> String {
        self.inner.identity.public_key()
    }

    pub fn fingerprint(&self) -> String {
        self.inner.identity.device_fingerprint()
    }

    pub fn status(&self) -> EngineStatus {
        let st = lock(&self.inner.state);
        EngineStatus {
            device_id: st.device_id.clone(),
            device_name: st.device_name.clone(),
            relay_url: st.relay_url.clone(),
            license_id: st.license_id.clone(),
            fingerprint: self.fingerprint(),
            next_seq: st.next_seq,
            last_cycle: st.last_cycle.clone(),
            last_success_ms: st.last_success_ms,
            outbox_pending: st.outbox.is_some(),
            revoked: st.revoked,
            clock_offset_secs: st.clock_offset_secs,
            quarantine: st.quarantine.clone(),
            receipt_set: !matches!(*lock(&self.inner.key), KeySlot::Empty)
                || enrol::receipt_pending(self),
            integrity_problems: st.integrity.problems,
            last_integrity_problem: st.integrity.last_problem.clone(),
        }
    }

    /// Counts local records the relay does not have yet (snapshots every store).
    pub fn unsynced(&self) -> Result<Unsynced, SyncError> {
        cycle::unsynced(self)
    }

    /// Lists the license's devices (metadata only).
    pub fn devices(&self) -> Result<Vec<DeviceInfo>, SyncError> {
        let (client, device_id, _) = self.session()?;
        client.devices(&self.inner.identity, &device_id)
    }

    /// Revokes a device of this license (e.g. a lost laptop).
    pub fn revoke(&self, target_device_id: &str) -> Result<(), SyncError> {
        let (client, device_id, lid) = self.session()?;
        // Signed by the license authority too when the engine has its key
        // (PROTOCOL §11.3); a license without one ignores the header. One
        // that has one (kept in the state) needs it: `NoReceipt` otherwise.
        let authority = enrol::signing_authority(self, &lid)?;
        let authority = authority.as_deref().map(|k| (k, lid.as_str()));
        client.revoke(
            &self.inner.identity,
            &device_id,
            target_device_id,
            authority,
        )
    }

    /// Writes every store to an encrypted export file (see `docs/PROTOCOL.md`).
    pub fn export(&self, path: impl AsRef<std::path::Path>) -> Result<u64, SyncError> {
        export::export(self, path.as_ref())
    }

    /// Merges an export file into the stores with their contracts.
    pub fn import(&self, path: impl AsRef<std::path::Path>) -> Result<u64, SyncError> {
        export::import(self, path.as_ref())
    }

    pub(crate) fn emit(&self, kind: EventKind) {
        self.inner.log.emit(self.inner.config.clock.now_ms(), kind);
    }

    /// The client for `relay_url`, or `InsecureRelayUrl` when the URL is
    /// plain HTTP to another machine and the host did not allow it: every
    /// request (registration and a saved state's alike) gets a client here.
    pub(crate) fn client_for(
        &self,
        relay_url: &str,
        offset: i64,
    ) -> Result<RelayClient, SyncError> {
        check_relay_url(relay_url, self.inner.config.allow_insecure_http)?;
        // An offset saved before corrections were bounded may be absurd:
        // start from the device clock, the relay corrects it again if needed.
        let offset = if offset.unsigned_abs() <= relay_client::MAX_CLOCK_CORRECTION_SECS as u64 {
            offset
        } else {
            0
        };
        Ok(RelayClient {
            transport: Arc::clone(&self.inner.transport),
            base_url: relay_url.to_string(),
            clock: Arc::clone(&self.inner.config.clock),
            offset: offset.into(),
            log: Arc::clone(&self.inner.log),
        })
    }

    /// Relay client, device id and license id of a registered device.
    pub(crate) fn session(&self) -> Result<(RelayClient, String, String), SyncError> {
        let st = lock(&self.inner.state);
        match (&st.relay_url, &st.device_id, &st.license_id) {
            (Some(url), Some(dev), Some(lid)) => Ok((
                self.client_for(url, st.clock_offset_secs)?,
                dev.clone(),
                lid.clone(),
            )),
            _ => Err(SyncError::NotRegistered),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(h) = lock(&self.scheduler).take() {
            h.shutdown();
        }
    }
}
