//! azmx-sync relay: the blind "worker".
//!
//! It stores sealed blobs that devices push, lists and serves them to the
//! other devices of the same license, and checks every request's ed25519
//! signature against the public key the device registered. It never holds
//! a key that could open a blob and never needs one. The HTTP API is
//! specified in `docs/PROTOCOL.md` (section "Relay HTTP API").
//!
//! Embedding:
//!
//! ```no_run
//! use azmx_sync_relay::{add_license, Relay, RelayConfig};
//! let dir = std::path::Path::new("/tmp/relay-data");
//! let key = add_license(dir, "lic_demo").unwrap(); // give this to the customer
//! let relay = Relay::start(RelayConfig::new(dir)).unwrap(); // 127.0.0.1, free port
//! println!("{}", relay.url());
//! relay.shutdown();
//! ```

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};

mod api;
mod console;
mod licenses;
mod metrics;
mod operator;
pub use api::fuzzing; // doc(hidden): for the fuzz targets in fuzz/ only
pub use api::openapi_json;
pub mod cmd;
mod ratelimit;
pub mod storage;
pub mod tls;

pub use licenses::{
    add_license, add_license_postgres, add_license_postgres_with_authority,
    add_license_with_authority, licenses, licenses_postgres, set_authority_key,
    set_authority_key_postgres, LicenseInfo,
};
pub use operator::{
    add_license_with_rules, open_claim_window, revoke_device, rotate_license_key, set_max_devices,
    LicenseRules, StoreRef, MAX_CLAIM_WINDOW_SECS, MAX_DEVICE_CAP,
};
pub use storage::{
    DeviceInfo, Durability, PostgresStorage, Quota, SqliteStorage, Storage, StorageError,
};

/// Default body limit for pushes (8 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Largest key-check blob (4 KiB).
pub const MAX_KEYCHECK_BYTES: usize = 4 * 1024;
/// Largest JSON request body (init, revoke, prune).
pub const MAX_JSON_BYTES: usize = 16 * 1024;
/// Pull page size when `limit` is absent.
pub const DEFAULT_PULL_LIMIT: u32 = 100;
/// Largest pull page; larger requested limits are clamped to it.
pub const MAX_PULL_LIMIT: u32 = 1000;
/// Default budget of request-body bytes in flight across all requests
/// (16 pushes of the default largest size).
pub const DEFAULT_MAX_INFLIGHT_BODY_BYTES: usize = 128 * 1024 * 1024;
/// Default cap on open client connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default per-license quota of stored sealed bytes (1 GiB).
pub const DEFAULT_LICENSE_MAX_BYTES: u64 = 1024 * 1024 * 1024;
/// Default per-license quota of stored blobs.
pub const DEFAULT_LICENSE_MAX_BLOBS: u64 = 100_000;
/// Default drain deadline on SIGTERM: the request deadline, so every
/// request the relay took has either finished or timed out by then.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest drain deadline accepted (a service manager's stop timeout must
/// be longer still).
pub const MAX_DRAIN_TIMEOUT: Duration = Duration::from_secs(3600);

/// The relay's notion of "now", in unix seconds. Injectable so tests of the
/// ±300 s skew window are deterministic.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// The system clock plus a fixed offset in seconds.
    Offset(i64),
    /// A clock that only moves when the shared value is set.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A manual clock starting at `start`, and the handle that sets it.
    pub fn manual(start: i64) -> (Self, Arc<AtomicI64>) {
        let v = Arc::new(AtomicI64::new(start));
        (Self::Manual(v.clone()), v)
    }

    /// Current unix seconds.
    pub fn now(&self) -> i64 {
        match self {
            Self::System => system_now(),
            Self::Offset(o) => system_now().saturating_add(*o),
            Self::Manual(v) => v.load(Ordering::SeqCst),
        }
    }
}

pub(crate) fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Request limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest push body; larger answers 413 `too_large`.
    pub max_body_bytes: usize,
    /// Whole-request deadline (reading the body included); past it 408 `timeout`.
    pub request_timeout: Duration,
    /// Per-device token bucket refill rate, requests per second (0 = no limit).
    pub rate_per_sec: f64,
    /// Per-device token bucket size.
    pub rate_burst: f64,
    /// Allowed |ts − now| in seconds.
    pub max_skew_secs: i64,
    /// Bytes of request bodies in flight across all requests, reserved
    /// from `Content-Length` before a body is read; past it 503 `busy` with
    /// `Retry-After`. At least `max_body_bytes` (and the 16 KiB JSON limit).
    pub max_inflight_body_bytes: usize,
    /// Open client connections; more wait in the listen backlog (≥ 1).
    pub max_connections: usize,
    /// Per-address token bucket for failed authentication (bad license,
    /// unknown device, bad signature, bad admin token), refill per second
    /// (0 = no limit); an empty bucket answers 429 to every request of the
    /// address.
    pub unauth_rate_per_sec: f64,
    /// Per-address bucket size.
    pub unauth_rate_burst: f64,
    /// Per-license storage quota; past it a push answers 507
    /// `quota_exceeded`.
    pub quota: Quota,
    /// On stop (SIGTERM, [`RunningRelay::shutdown`]): how long requests
    /// already taken may run on while new ones get `503 shutting_down`;
    /// past it the relay stops anyway (at most [`MAX_DRAIN_TIMEOUT`]).
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout: Duration::from_secs(30),
            rate_per_sec: 100.0,
            rate_burst: 200.0,
            max_skew_secs: azmx_sync_core::MAX_SKEW_SECS,
            max_inflight_body_bytes: DEFAULT_MAX_INFLIGHT_BODY_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            unauth_rate_per_sec: 1.0,
            unauth_rate_burst: 30.0,
            quota: Quota {
                max_bytes: DEFAULT_LICENSE_MAX_BYTES,
                max_blobs: DEFAULT_LICENSE_MAX_BLOBS,
            },
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }
}

impl Limits {
    /// Refuses settings the relay cannot honour.
    pub fn check(&self) -> Result<(), RelayError> {
        let bad = |m: String| Err(RelayError::Config(m));
        if self.rate_per_sec.is_nan()
            || self.rate_burst.is_nan()
            || self.unauth_rate_per_sec.is_nan()
            || self.unauth_rate_burst.is_nan()
        {
            return bad("rate limit is NaN".into());
        }
        let largest = self.max_body_bytes.max(MAX_JSON_BYTES);
        if self.max_inflight_body_bytes < largest {
            return bad(format!(
                "max-inflight-body-bytes ({}) must be at least the largest body ({largest})",
                self.max_inflight_body_bytes
            ));
        }
        if self.max_connections == 0 {
            return bad("max-connections must be at least 1".into());
        }
        if self.drain_timeout > MAX_DRAIN_TIMEOUT {
            return bad(format!(
                "drain-timeout-secs must be at most {}",
                MAX_DRAIN_TIMEOUT.as_secs()
            ));
        }
        Ok(())
    }
}

/// Relay configuration.
#[derive(Clone)]
pub struct RelayConfig {
    /// Directory holding the SQLite database (created 0700 if missing).
    pub data_dir: PathBuf,
    /// Address to bind; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Bearer token for `/admin/*`; `None` disables the admin endpoints (404).
    pub admin_token: Option<String>,
    /// Also serve `/metrics` here, WITHOUT a token (a private interface a
    /// Prometheus server scrapes). The main listener serves it only with
    /// the admin token; with neither, there is no `/metrics` (404).
    pub metrics_listen: Option<SocketAddr>,
    pub limits: Limits,
    pub clock: Clock,
    /// Tokio worker threads (0 = one per core).
    pub worker_threads: usize,
    /// Most writes one SQLite group commit takes (1 = a commit per write).
    pub group_commit_max_batch: usize,
    /// How SQLite writes become durable before they are acknowledged.
    pub durability: Durability,
    /// `postgres://…` selects the shared PostgreSQL backend (several relays
    /// may use one database; `data_dir` is then unused). `None` selects the
    /// embedded SQLite store under `data_dir`.
    pub database_url: Option<String>,
    /// Serve HTTPS with this configuration (`tls::server_config`) instead
    /// of plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for RelayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayConfig")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("metrics_listen", &self.metrics_listen)
            .field("limits", &self.limits)
            .field("clock", &self.clock)
            .field("worker_threads", &self.worker_threads)
            .field("group_commit_max_batch", &self.group_commit_max_batch)
            .field("durability", &self.durability)
            .field(
                "database_url",
                &self.database_url.as_ref().map(|_| "<redacted>"),
            )
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl RelayConfig {
    /// Defaults: listen on 127.0.0.1 port 0, no admin token, default limits,
    /// system clock.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_token: None,
            metrics_listen: None,
            limits: Limits::default(),
            clock: Clock::System,
            worker_threads: 0,
            group_commit_max_batch: 512,
            durability: Durability::default(),
            database_url: None,
            tls: None,
        }
    }
}

/// Relay-level failures (starting, license administration).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Storage(StorageError),
    #[error("license `{0}` already exists")]
    LicenseExists(String),
    #[error("unknown license `{0}`")]
    UnknownLicense(String),
    #[error("unknown device `{0}` in this license")]
    UnknownDevice(String),
    #[error("license `{0}` already has an authority key: no claim window needed")]
    HasAuthority(String),
    /// An operator-given license rule out of its bounds.
    #[error("{0}")]
    InvalidRule(String),
    #[error("invalid license id: {0}")]
    InvalidLicenseId(String),
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl From<StorageError> for RelayError {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}

/// Starts relays. See [`RunningRelay`].
pub struct Relay {
    _private: (),
}

impl Relay {
    /// Opens the store (PostgreSQL when `config.database_url` is set, else
    /// SQLite under `config.data_dir`), binds `config.listen`, and serves on
    /// a dedicated thread with its own tokio runtime. Returns once the
    /// socket is bound.
    pub fn start(config: RelayConfig) -> Result<RunningRelay, RelayError> {
        match config.database_url.clone() {
            Some(url) => {
                if !storage::postgres::is_postgres_url(&url) {
                    return Err(RelayError::Config(
                        "database url must start with postgres:// or postgresql://".into(),
                    ));
                }
                Self::start_inner(config, move |rt| {
                    let s = rt.block_on(PostgresStorage::connect(&url))?;
                    Ok(Arc::new(s))
                })
            }
            None => {
                let storage = SqliteStorage::open_with(
                    &config.data_dir,
                    config.group_commit_max_batch,
                    config.durability,
                )?;
                Self::start_with_storage(config, Arc::new(storage))
            }
        }
    }

    /// Like [`start`](Self::start) with any [`Storage`] backend
    /// (`config.data_dir` and `config.database_url` are then unused).
    pub fn start_with_storage(
        config: RelayConfig,
        storage: Arc<dyn Storage>,
    ) -> Result<RunningRelay, RelayError> {
        Self::start_inner(config, move |_| Ok(storage))
    }

    /// Builds the runtime, makes the storage on it (a PostgreSQL pool's
    /// connections run as tasks of the runtime that created them), binds
    /// and serves.
    fn start_inner(
        config: RelayConfig,
        make_storage: impl FnOnce(&tokio::runtime::Runtime) -> Result<Arc<dyn Storage>, RelayError>,
    ) -> Result<RunningRelay, RelayError> {
        config.limits.check()?;
        let listener = StdTcpListener::bind(config.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let metrics_listener = match config.metrics_listen {
            Some(a) => {
                let l = StdTcpListener::bind(a)?;
                l.set_nonblocking(true)?;
                Some(l)
            }
            None => None,
        };
        let metrics_addr = match &metrics_listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let threads = if config.worker_threads == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        } else {
            config.worker_threads
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("relay-worker")
            .enable_all()
            .build()?;
        let storage = make_storage(&rt)?;
        let budget = api::BodyBudget::new(config.limits.max_inflight_body_bytes);
        let state = api::AppState::new(&config, storage, budget.clone());
        if let (Some(l), Some(maddr)) = (metrics_listener, metrics_addr) {
            // Ends with the runtime, after the main listener's drain.
            rt.spawn(api::serve_metrics(l, state.clone()));
            tracing::info!(addr = %maddr, "metrics listening (no token)");
        }
        let tls = config.tls.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("relay-main".into())
            .spawn(move || {
                rt.block_on(api::serve(listener, state, tls, stop_rx));
                rt.shutdown_timeout(Duration::from_secs(2));
            })?;
        tracing::info!(%addr, "relay listening");
        Ok(RunningRelay {
            addr,
            metrics_addr,
            scheme,
            budget,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

/// A relay serving on its own thread. Dropping it shuts it down.
pub struct RunningRelay {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    scheme: &'static str,
    budget: Arc<api::BodyBudget>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RunningRelay {
    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics listener's bound address, if
    /// [`RelayConfig::metrics_listen`] was set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The most request-body bytes ever held in flight at once (never
    /// more than [`Limits::max_inflight_body_bytes`]); for tests and
    /// monitoring.
    pub fn inflight_body_high_water(&self) -> usize {
        self.budget.high_water()
    }

    /// `http://<local_addr>` (`https://` when serving TLS), without a
    /// trailing slash.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Stops accepting, lets in-flight requests finish while refusing new
    /// ones with `503 shutting_down` (up to [`Limits::drain_timeout`]),
    /// and closes the store (queued writes are committed first).
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    /// Blocks until the relay stops on its own (it does not, unless its
    /// runtime fails); for binaries that serve until killed.
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn stop_now(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
            tracing::info!(addr = %self.addr, "relay stopped");
        }
    }
}

impl Drop for RunningRelay {
    fn drop(&mut self) {
        self.stop_now();
    }
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    use rand_core::{OsRng, RngCore};
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// Per-device metadata of a license, read straight from the store under
/// `data_dir` (the same shape as `GET /admin/licenses/{lid}/devices`).
pub fn admin_devices(data_dir: &Path, license_id: &str) -> Result<Vec<DeviceInfo>, RelayError> {
    storage::sqlite::devices_offline(data_dir, license_id)?
        .ok_or_else(|| RelayError::UnknownLicense(license_id.into()))
}

pub(crate) fn with_postgres<T>(
    database_url: &str,
    f: impl AsyncFnOnce(&PostgresStorage) -> Result<T, RelayError>,
) -> Result<T, RelayError> {
    if !storage::postgres::is_postgres_url(database_url) {
        return Err(RelayError::Config(
            "database url must start with postgres:// or postgresql://".into(),
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let s = PostgresStorage::connect_with(database_url, None, 1).await?;
        f(&s).await
    })
}

/// Like [`admin_devices`], from the PostgreSQL database at `database_url`.
pub fn admin_devices_postgres(
    database_url: &str,
    license_id: &str,
) -> Result<Vec<DeviceInfo>, RelayError> {
    with_postgres(database_url, async |s| {
        s.devices(license_id)
            .await?
            .ok_or_else(|| RelayError::UnknownLicense(license_id.into()))
    })
}
