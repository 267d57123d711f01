//! The operator's license rules and device tools straight on a store
//! (`relay license open-claim-window | set-max-devices | rotate-key`,
//! `relay device revoke`; usable while relays run on the same store).
//! The operator is trusted (PROTOCOL §11.4, last paragraph): nothing here
//! needs an authority signature.

use std::path::Path;

use azmx_sync_core::authority::AuthorityPublicKey;

use crate::storage::{SqliteStorage, Storage, StorageError};
use crate::{random_bytes, sha256, system_now, with_postgres, RelayError};

/// Longest claim window an operator may open (30 days): the window lets
/// any license-key holder claim the license, so it is meant to be short.
pub const MAX_CLAIM_WINDOW_SECS: u64 = 30 * 24 * 3600;
/// Highest device cap (a bound on an operator-typed number).
pub const MAX_DEVICE_CAP: u32 = 100_000;

/// Where the relay's data is.
#[derive(Debug, Clone, Copy)]
pub enum StoreRef<'a> {
    /// The embedded SQLite database under this data directory.
    Sqlite(&'a Path),
    /// The shared PostgreSQL database at this URL.
    Postgres(&'a str),
}

/// A new license's rules (PROTOCOL §11.4). `Default`: no authority key,
/// no claim window, no device cap — the v1 rules of §11.6.
#[derive(Debug, Clone, Default)]
pub struct LicenseRules {
    /// The authority's public key, set at creation.
    pub authority_key: Option<AuthorityPublicKey>,
    /// Open a first-device claim window of this many seconds (ignored
    /// with `authority_key`).
    pub claim_window_secs: Option<u64>,
    /// Cap on live devices.
    pub max_devices: Option<u32>,
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, RelayError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub(crate) fn check_license_id(license_id: &str) -> Result<(), RelayError> {
    azmx_sync_core::canonical::check_id("licenseId", license_id)
        .map_err(|e| RelayError::InvalidLicenseId(e.to_string()))
}

/// Runs `f` on the store `at`.
pub(crate) fn on_store<T>(
    at: StoreRef<'_>,
    f: impl AsyncFnOnce(&dyn Storage) -> Result<T, RelayError>,
) -> Result<T, RelayError> {
    match at {
        StoreRef::Sqlite(dir) => {
            let storage = SqliteStorage::open(dir)?;
            runtime()?.block_on(f(&storage))
        }
        StoreRef::Postgres(url) => with_postgres(url, async |s| f(s).await),
    }
}

fn unknown(license_id: &str) -> impl FnOnce(StorageError) -> RelayError + '_ {
    move |e| match e {
        StorageError::UnknownLicense => RelayError::UnknownLicense(license_id.into()),
        e => e.into(),
    }
}

fn check_window(secs: u64) -> Result<i64, RelayError> {
    if secs == 0 || secs > MAX_CLAIM_WINDOW_SECS {
        return Err(RelayError::InvalidRule(format!(
            "a claim window is 1 to {MAX_CLAIM_WINDOW_SECS} seconds"
        )));
    }
    // Bounded above, so the cast and the sum cannot overflow.
    Ok(system_now().saturating_add(secs as i64))
}

fn check_cap(max: Option<u32>) -> Result<(), RelayError> {
    match max {
        Some(n) if n == 0 || n > MAX_DEVICE_CAP => Err(RelayError::InvalidRule(format!(
            "a device cap is 1 to {MAX_DEVICE_CAP} (or none)"
        ))),
        _ => Ok(()),
    }
}

/// Creates license `license_id` with `rules` and returns its new license
/// key (32 random bytes, unpadded base64url; only its SHA-256 is stored,
/// it cannot be shown again). The rules are written right after the row,
/// before the key exists anywhere but here, so no device can use the
/// license in between.
pub fn add_license_with_rules(
    at: StoreRef<'_>,
    license_id: &str,
    rules: &LicenseRules,
) -> Result<String, RelayError> {
    check_license_id(license_id)?;
    check_cap(rules.max_devices)?;
    let until = match (&rules.authority_key, rules.claim_window_secs) {
        (None, Some(secs)) => Some(check_window(secs)?),
        _ => None,
    };
    let key = azmx_sync_core::b64::encode(&random_bytes::<32>());
    let auth = rules.authority_key.as_ref().map(|k| k.to_string());
    on_store(at, async |s| {
        let hash = sha256(key.as_bytes());
        match s
            .add_license(license_id, hash, auth.as_deref(), system_now())
            .await
        {
            Ok(()) => {}
            Err(StorageError::LicenseExists) => {
                return Err(RelayError::LicenseExists(license_id.into()))
            }
            Err(e) => return Err(e.into()),
        }
        if until.is_some() {
            s.set_claim_window(license_id, until).await?;
        }
        if rules.max_devices.is_some() {
            s.set_max_devices(license_id, rules.max_devices).await?;
        }
        Ok(())
    })?;
    Ok(key)
}

/// Opens (or moves the end of) the license's first-device claim window,
/// `secs` from now; returns its end (unix seconds).
/// [`RelayError::HasAuthority`] when the license already has a key.
pub fn open_claim_window(at: StoreRef<'_>, license_id: &str, secs: u64) -> Result<i64, RelayError> {
    check_license_id(license_id)?;
    let until = check_window(secs)?;
    let opened = on_store(at, async |s| {
        s.set_claim_window(license_id, Some(until))
            .await
            .map_err(unknown(license_id))
    })?;
    if !opened {
        return Err(RelayError::HasAuthority(license_id.into()));
    }
    Ok(until)
}

/// Caps the license's live devices (`None`: no cap); devices already
/// registered stay.
pub fn set_max_devices(
    at: StoreRef<'_>,
    license_id: &str,
    max: Option<u32>,
) -> Result<(), RelayError> {
    check_license_id(license_id)?;
    check_cap(max)?;
    on_store(at, async |s| {
        s.set_max_devices(license_id, max)
            .await
            .map_err(unknown(license_id))
    })
}

/// Gives the license a new license key and returns it (shown once); the
/// old key stops working with this write (the store keeps only the
/// hash). Registered devices keep syncing: their requests are signed
/// with their device keys, and only `init` and `GET /sync/authority` ask
/// for the license key.
pub fn rotate_license_key(at: StoreRef<'_>, license_id: &str) -> Result<String, RelayError> {
    check_license_id(license_id)?;
    let (key, hash) = new_license_key();
    on_store(at, async |s| {
        s.set_license_key_hash(license_id, hash)
            .await
            .map_err(unknown(license_id))
    })?;
    Ok(key)
}

/// A new license key (32 random bytes, unpadded base64url) and the
/// SHA-256 the store keeps of it (`rotate-key` and the admin console).
pub(crate) fn new_license_key() -> (String, [u8; 32]) {
    let key = azmx_sync_core::b64::encode(&random_bytes::<32>());
    let hash = sha256(key.as_bytes());
    (key, hash)
}

/// Revokes device `device_id` of the license (idempotent: the first
/// revocation time is kept). [`RelayError::UnknownDevice`] when the
/// license has no such device.
pub fn revoke_device(
    at: StoreRef<'_>,
    license_id: &str,
    device_id: &str,
) -> Result<(), RelayError> {
    check_license_id(license_id)?;
    let found = on_store(at, async |s| {
        if s.license(license_id).await?.is_none() {
            return Err(RelayError::UnknownLicense(license_id.into()));
        }
        Ok(s.revoke(license_id, device_id, system_now()).await?)
    })?;
    if !found {
        return Err(RelayError::UnknownDevice(device_id.into()));
    }
    Ok(())
}
