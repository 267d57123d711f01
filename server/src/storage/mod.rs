//! The relay's storage contract.
//!
//! Every backend implements [`Storage`] and must pass the one conformance
//! suite in [`conformance`] (run it with [`storage_conformance_tests!`]).
//! The relay above this trait only authenticates and shapes HTTP; every
//! rule that must hold under concurrency lives here:
//!
//! - [`Storage::push`] checks "seq strictly greater than the device's last
//!   accepted seq" and stores the blob in ONE atomic step, and returns only
//!   once the blob is durable;
//! - pull positions are a stable, strictly increasing order per license that
//!   is never reused (pruning must not let a later blob take an earlier
//!   position), and a reader never sees position `n + 1` committed while `n`
//!   is still invisible (a backend whose id allocation can commit out of
//!   order must serialise the allocation with the commit);
//! - a revoked device can no longer push (checked inside the push step).
//!
//! [`storage_conformance_tests!`]: crate::storage_conformance_tests

use async_trait::async_trait;
use bytes::Bytes;

mod columns;
pub mod conformance;
mod observer;
pub mod postgres;
mod postgres_license;
mod postgres_observe;
mod postgres_schema;
mod push_days;
mod quota;
pub mod sqlite;

pub(crate) use observer::ObserverSlot;
pub use observer::StorageObserver;
pub use postgres::PostgresStorage;
pub use push_days::{day_of, PushDay, MAX_PUSH_DAYS, SECS_PER_DAY};
pub use quota::Quota;
pub use sqlite::{Durability, SqliteStorage};

/// Storage failures that are not a normal outcome of an operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// `add_license` for an id that already exists.
    #[error("license already exists")]
    LicenseExists,
    /// An operation named a license that does not exist.
    #[error("unknown license")]
    UnknownLicense,
    /// A new device on a license at its device cap (`max` live devices).
    #[error("the license is at its device limit ({max})")]
    DeviceLimit { max: u32 },
    /// A value outside what the backend can store (e.g. seq > i64::MAX).
    #[error("value out of range: {0}")]
    OutOfRange(&'static str),
    /// The backend failed (I/O, corruption, shut down). The message never
    /// carries blob bytes or secrets.
    #[error("storage backend failure: {0}")]
    Backend(String),
    /// The store can no longer promise durability (an fsync failed, so
    /// written data may already be gone from the disk: "fsyncgate") and
    /// refuses every write until the relay is restarted. Nothing that was
    /// not durable is acknowledged or listed.
    #[error("storage failed, refusing writes until restart: {0}")]
    Failed(String),
}

/// A license as the relay authenticates against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseRecord {
    pub license_id: String,
    /// SHA-256 of the license key.
    pub key_hash: [u8; 32],
    /// The license authority's public key (PROTOCOL §11), canonical
    /// base64url; `None`: a license under the v1 rules (§11.6).
    pub authority_key: Option<String>,
    /// End (unix seconds, exclusive) of the first-device claim window
    /// (PROTOCOL §11.4); only meaningful while `authority_key` is `None`.
    pub claim_until: Option<i64>,
    /// Most live (non-revoked) devices the license may have; `None`: no cap.
    pub max_devices: Option<u32>,
    pub created_at: i64,
}

impl LicenseRecord {
    /// A claim window is open at `now`: no authority key yet and the
    /// operator's window has not ended.
    pub fn claim_open(&self, now: i64) -> bool {
        self.authority_key.is_none() && self.claim_until.is_some_and(|end| now < end)
    }
}

/// What a write that the license authority governs (registration, the
/// key-check blob) expects of the license's authority, checked in the same
/// transaction as the write (PROTOCOL §11.4): the relay verifies signatures
/// against the key it read, and an operator may change that key before the
/// write lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorityCheck {
    /// No expectation (operator tools, tests).
    Any,
    /// The license's key is exactly this one; for a registration, `None`
    /// also means "no claim window open at the write's `now`" (the v1
    /// rules of §11.6).
    Is(Option<String>),
    /// A first-device claim for this key (canonical base64url, its proof
    /// already verified): set it if the license has no key and its window
    /// is open, deleting the key-check blob; an ordinary write if the
    /// license already has this key. For the key-check blob it is `Is(Some)`.
    Claim(String),
}

/// Result of [`Storage::register_device_checked`]. Every refusal wrote
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterOutcome {
    Registered(Registration),
    /// The license's authority is not what the check expected (the caller
    /// re-reads the license and checks the request again).
    AuthorityChanged,
    /// A claim for a license whose key is another one.
    AuthorityExists,
    /// A claim for a license without a key whose window is closed.
    ClaimClosed,
    /// A new device on a license that already has `max` live devices.
    DeviceLimit {
        max: u32,
    },
}

/// Result of [`Storage::revoke_checked`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// Revoked now or before (the first time is kept).
    Revoked,
    /// No such device in the license.
    UnknownDevice,
    /// The license's authority is not what the check expected; nothing
    /// was written.
    AuthorityChanged,
}

/// A registered device, as the relay needs it to authenticate requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub device_id: String,
    pub license_id: String,
    /// Unpadded base64url ed25519 public key (canonical text form).
    pub public_key: String,
    pub name: String,
    pub created_at: i64,
    /// Unix seconds of the revocation, if revoked.
    pub revoked_at: Option<i64>,
}

/// A device to register (see [`Storage::register_device`]).
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub license_id: String,
    /// The id to assign when the public key is new to this license.
    pub device_id: String,
    pub public_key: String,
    pub name: String,
    pub now: i64,
}

/// Result of [`Storage::register_device`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub device: DeviceRecord,
    /// `false` when the public key was already registered for the license
    /// (the existing device is returned unchanged, name included).
    pub created: bool,
}

/// A blob to store (see [`Storage::push`]).
#[derive(Debug, Clone)]
pub struct NewBlob {
    pub device_id: String,
    pub seq: u64,
    /// Lowercase hex SHA-256 of `data`, already checked by the caller.
    pub sha256: String,
    pub data: Bytes,
    pub now: i64,
}

/// Result of [`Storage::push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored durably at `seq`.
    Stored {
        seq: u64,
        created_at: i64,
    },
    /// `seq` was not strictly greater than `last_seq`. `existing_sha256` is
    /// the SHA-256 of the blob stored at the requested seq for this device,
    /// if one is stored (it may have been pruned, or never existed).
    Conflict {
        last_seq: u64,
        existing_sha256: Option<String>,
    },
    UnknownDevice,
    Revoked,
    /// Storing the blob would take its license over `quota`; nothing was
    /// stored (last_seq unchanged). `used_*` are the license's totals
    /// before this push.
    QuotaExceeded {
        used_bytes: u64,
        used_blobs: u64,
    },
}

/// Metadata of one stored blob, as listed by a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    /// Position in the license's pull order (strictly increasing, never reused).
    pub position: i64,
    pub device_id: String,
    pub seq: u64,
    pub sha256: String,
    pub size: u64,
    pub created_at: i64,
}

/// One page of [`Storage::pull`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullPage {
    pub items: Vec<BlobMeta>,
    /// More items exist after the last one returned.
    pub has_more: bool,
}

/// A stored blob's bytes and their SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobData {
    pub sha256: String,
    pub data: Bytes,
}

/// Result of [`Storage::keycheck_put`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeycheckPut {
    Stored,
    /// A key-check blob was already set; its SHA-256.
    Exists {
        sha256: String,
    },
    /// The license's authority is not what the check expected; nothing
    /// was stored.
    AuthorityChanged,
}

/// A key-check blob to store (see [`Storage::keycheck_put_checked`]).
#[derive(Debug, Clone)]
pub struct KeycheckWrite<'a> {
    pub license_id: &'a str,
    pub device_id: &'a str,
    pub sha256: &'a str,
    pub data: Bytes,
    pub now: i64,
}

impl AuthorityCheck {
    /// Whether a license whose key is `current` is what this check expects
    /// for a write other than a registration (a claim of a key the license
    /// already has is one; the claim window does not matter there).
    pub fn admits(&self, current: Option<&str>) -> bool {
        match self {
            Self::Any => true,
            Self::Is(Some(k)) | Self::Claim(k) => current == Some(k.as_str()),
            Self::Is(None) => current.is_none(),
        }
    }

    /// What a registration does about the authority, decided on the
    /// license's row as read inside the registration's transaction:
    /// `Ok(Some(key))` sets `key` (an accepted claim), `Ok(None)` leaves
    /// it, `Err` refuses with nothing written.
    pub(crate) fn plan(
        &self,
        current: Option<&str>,
        claim_until: Option<i64>,
        now: i64,
    ) -> Result<Option<String>, AuthorityRefusal> {
        let window_open = current.is_none() && claim_until.is_some_and(|end| now < end);
        let Self::Claim(key) = self else {
            // `Is(None)` was decided under the v1 rules: a window opened
            // since changes them.
            let v1_still = !matches!(self, Self::Is(None)) || !window_open;
            return if self.admits(current) && v1_still {
                Ok(None)
            } else {
                Err(AuthorityRefusal::Changed)
            };
        };
        match current {
            Some(k) if k == key => Ok(None),
            Some(_) => Err(AuthorityRefusal::Exists),
            None if window_open => Ok(Some(key.clone())),
            None => Err(AuthorityRefusal::ClaimClosed),
        }
    }
}

/// Why [`AuthorityCheck::plan`] refused a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthorityRefusal {
    Changed,
    Exists,
    ClaimClosed,
}

impl From<AuthorityRefusal> for RegisterOutcome {
    fn from(r: AuthorityRefusal) -> Self {
        match r {
            AuthorityRefusal::Changed => Self::AuthorityChanged,
            AuthorityRefusal::Exists => Self::AuthorityExists,
            AuthorityRefusal::ClaimClosed => Self::ClaimClosed,
        }
    }
}

/// Per-device metadata for the device listings: the wire type itself.
pub use azmx_sync_core::protocol::DeviceInfo;

/// The relay's storage backend. All methods may be called concurrently.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Creates a license with the SHA-256 of its key and, optionally, its
    /// authority public key (canonical base64url, already validated by the
    /// caller). Fails with [`StorageError::LicenseExists`] if the id is
    /// taken.
    async fn add_license(
        &self,
        license_id: &str,
        key_hash: [u8; 32],
        authority_key: Option<&str>,
        now: i64,
    ) -> Result<(), StorageError>;

    /// The stored key hash of a license, `None` if unknown.
    async fn license_key_hash(&self, license_id: &str) -> Result<Option<[u8; 32]>, StorageError>;

    /// A license with its authority key, `None` if unknown.
    async fn license(&self, license_id: &str) -> Result<Option<LicenseRecord>, StorageError>;

    /// Every license, by id.
    async fn licenses(&self) -> Result<Vec<LicenseRecord>, StorageError>;

    /// Sets or replaces the license's authority public key (canonical
    /// base64url, validated by the caller). When the stored key changes,
    /// the license's key-check blob is deleted in the same transaction
    /// (PROTOCOL §11.4: one set without the authority may be an attacker's
    /// lock-out); setting the key it already has changes nothing. Returns
    /// whether the key changed; [`StorageError::UnknownLicense`] for an
    /// unknown license.
    async fn set_authority_key(
        &self,
        license_id: &str,
        authority_key: &str,
    ) -> Result<bool, StorageError>;

    /// Opens the license's first-device claim window until `until` (unix
    /// seconds, exclusive), or closes it (`None`). `false` (nothing
    /// changed) when the license already has an authority key;
    /// [`StorageError::UnknownLicense`] for an unknown license.
    async fn set_claim_window(
        &self,
        license_id: &str,
        until: Option<i64>,
    ) -> Result<bool, StorageError>;

    /// Caps the license's live devices at `max` (`None`: no cap). Devices
    /// already registered stay; [`StorageError::UnknownLicense`] for an
    /// unknown license.
    async fn set_max_devices(&self, license_id: &str, max: Option<u32>)
        -> Result<(), StorageError>;

    /// Replaces the SHA-256 of the license key (a rotation: the old key
    /// stops working with this write); [`StorageError::UnknownLicense`]
    /// for an unknown license.
    async fn set_license_key_hash(
        &self,
        license_id: &str,
        key_hash: [u8; 32],
    ) -> Result<(), StorageError>;

    /// Registers a device, idempotently per (license, public key): when the
    /// key is already registered for the license the existing device is
    /// returned with `created: false` (revoked or not). Fails with
    /// [`StorageError::UnknownLicense`] for an unknown license and
    /// [`StorageError::DeviceLimit`] for a new device on a license at its
    /// cap. [`register_device_checked`](Self::register_device_checked)
    /// without an authority expectation.
    async fn register_device(&self, device: NewDevice) -> Result<Registration, StorageError> {
        match self
            .register_device_checked(device, AuthorityCheck::Any)
            .await?
        {
            RegisterOutcome::Registered(r) => Ok(r),
            RegisterOutcome::DeviceLimit { max } => Err(StorageError::DeviceLimit { max }),
            other => Err(StorageError::Backend(format!(
                "unexpected registration outcome without an authority check: {other:?}"
            ))),
        }
    }

    /// Registration in ONE transaction with the license's rules: the
    /// authority `check` (a claim sets the key, deleting the key-check
    /// blob), then, for a new public key, the device cap counted over the
    /// license's live devices (concurrent registrations, through any
    /// number of relays, never overshoot it together). An existing device
    /// (revoked or not) is returned as by `register_device` and is not
    /// counted; a revoked one never claims.
    async fn register_device_checked(
        &self,
        device: NewDevice,
        check: AuthorityCheck,
    ) -> Result<RegisterOutcome, StorageError>;

    /// Looks a device up by id (any license).
    async fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>, StorageError>;

    /// Atomically: refuse unknown/revoked devices, refuse `seq <= last_seq`
    /// (last_seq starts at 0, so seq 0 is always a conflict), else store the
    /// blob, set last_seq = seq, last_push_at, and bump the device's blob
    /// count and sealed bytes. Returns only after the write is durable.
    /// No quota: [`push_within`](Self::push_within) with
    /// [`Quota::UNLIMITED`].
    async fn push(&self, blob: NewBlob) -> Result<PushOutcome, StorageError> {
        self.push_within(blob, Quota::UNLIMITED).await
    }

    /// Like [`push`](Self::push), and in the same atomic step (after the
    /// revocation and seq checks, so a retried push that was stored still
    /// gets its conflict answer): refuse with
    /// [`PushOutcome::QuotaExceeded`] when the blob would take its license's
    /// stored bytes or blob count over `quota`. Concurrent pushes of one
    /// license, through any number of relays, never overshoot it together.
    async fn push_within(&self, blob: NewBlob, quota: Quota) -> Result<PushOutcome, StorageError>;

    /// Blobs of the license's devices other than `requester`, with position
    /// strictly greater than `after`, in position order, at most `limit`.
    async fn pull(
        &self,
        license_id: &str,
        requester: &str,
        after: i64,
        limit: u32,
    ) -> Result<PullPage, StorageError>;

    /// Records a pull by `device_id` at `now` (admin metadata).
    async fn touch_pull(&self, device_id: &str, now: i64) -> Result<(), StorageError>;

    /// One blob of a device of `license_id`; `None` if absent or if the
    /// owner belongs to another license.
    async fn blob(
        &self,
        license_id: &str,
        owner_device_id: &str,
        seq: u64,
    ) -> Result<Option<BlobData>, StorageError>;

    /// Revokes `target` if it belongs to `license_id` (idempotent: the first
    /// revocation time is kept). `false` if no such device in the license.
    /// Without an authority expectation:
    /// [`revoke_checked`](Self::revoke_checked).
    async fn revoke(&self, license_id: &str, target: &str, now: i64) -> Result<bool, StorageError> {
        match self
            .revoke_checked(license_id, target, now, AuthorityCheck::Any)
            .await?
        {
            RevokeOutcome::Revoked => Ok(true),
            RevokeOutcome::UnknownDevice => Ok(false),
            RevokeOutcome::AuthorityChanged => Err(StorageError::Backend(
                "unexpected revocation outcome without an authority check".into(),
            )),
        }
    }

    /// Like [`revoke`](Self::revoke), in the same transaction as reading
    /// the license's authority key and comparing it with `check` (as
    /// [`keycheck_put_checked`](Self::keycheck_put_checked) does).
    async fn revoke_checked(
        &self,
        license_id: &str,
        target: &str,
        now: i64,
        check: AuthorityCheck,
    ) -> Result<RevokeOutcome, StorageError>;

    /// Sets the license's key-check blob once. Without an authority
    /// expectation: [`keycheck_put_checked`](Self::keycheck_put_checked).
    async fn keycheck_put(
        &self,
        license_id: &str,
        device_id: &str,
        sha256: &str,
        data: Bytes,
        now: i64,
    ) -> Result<KeycheckPut, StorageError> {
        let put = KeycheckWrite {
            license_id,
            device_id,
            sha256,
            data,
            now,
        };
        self.keycheck_put_checked(put, AuthorityCheck::Any).await
    }

    /// Sets the license's key-check blob once, in the same transaction as
    /// reading the license's authority key and comparing it with `check`
    /// ([`KeycheckPut::AuthorityChanged`] when it differs): a key set
    /// between the relay's signature check and this write is seen.
    async fn keycheck_put_checked(
        &self,
        put: KeycheckWrite<'_>,
        check: AuthorityCheck,
    ) -> Result<KeycheckPut, StorageError>;

    /// The license's key-check blob, if set.
    async fn keycheck_get(&self, license_id: &str) -> Result<Option<BlobData>, StorageError>;

    /// Deletes `device_id`'s own blobs with seq < `checkpoint_seq`; returns
    /// how many. last_seq is unchanged; blob count and bytes follow.
    async fn prune(&self, device_id: &str, checkpoint_seq: u64) -> Result<u64, StorageError>;

    /// Metadata of every device of the license, by creation order; `None`
    /// for an unknown license.
    async fn devices(&self, license_id: &str) -> Result<Option<Vec<DeviceInfo>>, StorageError>;

    /// Reports commits and fsyncs to `observer` from now on (the relay's
    /// metrics). The first observer given is kept; a backend with nothing
    /// to report ignores it.
    fn set_observer(&self, _observer: std::sync::Arc<dyn StorageObserver>) {}

    /// Bytes the store takes on disk (SQLite: its database files;
    /// PostgreSQL: its tables and indexes), for the metrics. Bounded cost:
    /// a few `stat` calls or one catalog query. `None`: cannot tell.
    async fn size_bytes(&self) -> Result<Option<u64>, StorageError> {
        Ok(None)
    }

    /// The license's per-day push totals (see [`PushDay`]) for UTC days
    /// `>= since_day`, oldest first, at most [`MAX_PUSH_DAYS`]. Every
    /// [`PushOutcome::Stored`] counts once, in the push's own transaction;
    /// nothing else does. Empty for an unknown license.
    async fn push_days(
        &self,
        license_id: &str,
        since_day: i64,
    ) -> Result<Vec<PushDay>, StorageError>;
}
