//! License administration straight on a store (the operator's `relay
//! license ...` commands; usable while a relay runs on the same store):
//! create a license, give it its authority key (PROTOCOL §11.4), list.

use std::path::Path;

use azmx_sync_core::authority::AuthorityPublicKey;
use serde::Serialize;

use crate::operator::{check_license_id, runtime};
use crate::storage::{LicenseRecord, SqliteStorage, Storage, StorageError};
use crate::{random_bytes, sha256, system_now, with_postgres, RelayError};

/// A license as the operator sees it (never its key or the key's hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseInfo {
    pub license_id: String,
    /// The license authority's public key (base64url), `None` for a
    /// license under the v1 rules: anyone with the license key may
    /// register and revoke devices (PROTOCOL §11.6).
    pub authority_key: Option<String>,
    /// End (unix seconds) of the first-device claim window, while the
    /// license has no key and the window is set (it may have passed).
    pub claim_until: Option<i64>,
    /// Cap on live devices, if any.
    pub max_devices: Option<u32>,
    pub created_at: i64,
}

impl From<LicenseRecord> for LicenseInfo {
    fn from(r: LicenseRecord) -> Self {
        Self {
            claim_until: r.claim_until.filter(|_| r.authority_key.is_none()),
            license_id: r.license_id,
            authority_key: r.authority_key,
            max_devices: r.max_devices,
            created_at: r.created_at,
        }
    }
}

/// Creates the license row and returns the new license key.
async fn create(
    s: &dyn Storage,
    license_id: &str,
    authority: Option<&AuthorityPublicKey>,
) -> Result<String, RelayError> {
    let key = azmx_sync_core::b64::encode(&random_bytes::<32>());
    let auth = authority.map(|k| k.to_string());
    match s
        .add_license(
            license_id,
            sha256(key.as_bytes()),
            auth.as_deref(),
            system_now(),
        )
        .await
    {
        Ok(()) => Ok(key),
        Err(StorageError::LicenseExists) => Err(RelayError::LicenseExists(license_id.into())),
        Err(e) => Err(e.into()),
    }
}

async fn set_key(
    s: &dyn Storage,
    license_id: &str,
    key: &AuthorityPublicKey,
) -> Result<bool, RelayError> {
    s.set_authority_key(license_id, &key.to_string())
        .await
        .map_err(|e| match e {
            StorageError::UnknownLicense => RelayError::UnknownLicense(license_id.into()),
            e => e.into(),
        })
}

/// Creates license `license_id` in the store under `data_dir` (usable
/// while a relay runs on it, or without one) and returns its new license
/// key: 32 random bytes, unpadded base64url. Only the key's SHA-256 is
/// stored; the key cannot be shown again. The license has no authority
/// key (PROTOCOL §11.6); see [`add_license_with_authority`].
pub fn add_license(data_dir: &Path, license_id: &str) -> Result<String, RelayError> {
    add_license_with_authority(data_dir, license_id, None)
}

/// Like [`add_license`], with the license's authority public key when
/// given (PROTOCOL §11.4): registering, revoking and setting the key check
/// then need the authority's signature.
pub fn add_license_with_authority(
    data_dir: &Path,
    license_id: &str,
    authority: Option<&AuthorityPublicKey>,
) -> Result<String, RelayError> {
    check_license_id(license_id)?;
    let storage = SqliteStorage::open(data_dir)?;
    runtime()?.block_on(create(&storage, license_id, authority))
}

/// Like [`add_license`], in the PostgreSQL database at `database_url`
/// (creating the schema if needed).
pub fn add_license_postgres(database_url: &str, license_id: &str) -> Result<String, RelayError> {
    add_license_postgres_with_authority(database_url, license_id, None)
}

/// Like [`add_license_with_authority`], in the PostgreSQL database at
/// `database_url`.
pub fn add_license_postgres_with_authority(
    database_url: &str,
    license_id: &str,
    authority: Option<&AuthorityPublicKey>,
) -> Result<String, RelayError> {
    check_license_id(license_id)?;
    with_postgres(database_url, async |s| {
        create(s, license_id, authority).await
    })
}

/// Sets or replaces a license's authority public key; `true` when it
/// changed (its key-check blob is then deleted, PROTOCOL §11.4).
pub fn set_authority_key(
    data_dir: &Path,
    license_id: &str,
    key: &AuthorityPublicKey,
) -> Result<bool, RelayError> {
    check_license_id(license_id)?;
    let storage = SqliteStorage::open(data_dir)?;
    runtime()?.block_on(set_key(&storage, license_id, key))
}

/// Like [`set_authority_key`], in the PostgreSQL database at `database_url`.
pub fn set_authority_key_postgres(
    database_url: &str,
    license_id: &str,
    key: &AuthorityPublicKey,
) -> Result<bool, RelayError> {
    check_license_id(license_id)?;
    with_postgres(database_url, async |s| set_key(s, license_id, key).await)
}

/// Every license of the store under `data_dir`, by id.
pub fn licenses(data_dir: &Path) -> Result<Vec<LicenseInfo>, RelayError> {
    let storage = SqliteStorage::open(data_dir)?;
    let all = runtime()?.block_on(storage.licenses())?;
    Ok(all.into_iter().map(LicenseInfo::from).collect())
}

/// Like [`licenses`], from the PostgreSQL database at `database_url`.
pub fn licenses_postgres(database_url: &str) -> Result<Vec<LicenseInfo>, RelayError> {
    with_postgres(database_url, async |s| {
        Ok(s.licenses()
            .await?
            .into_iter()
            .map(LicenseInfo::from)
            .collect())
    })
}
