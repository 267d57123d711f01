//! PostgreSQL: the writes that follow a license's rules (PROTOCOL §11.4):
//! registration under the authority check and the device cap, setting the
//! authority key, and the revocation and key-check writes that compare it
//! again.
//!
//! Registration locks the license row (`FOR NO KEY UPDATE`) for the whole
//! transaction, so registrations of one license, through any number of
//! relays, see each other's claims and live-device counts. It takes no
//! device row lock before it, so the push order (device row, then license
//! row) cannot deadlock with it.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::columns::max_devices;
use super::postgres::{backend, row_to_device, unknown_license_or_backend, DEVICE_COLS};
use super::{
    AuthorityCheck, DeviceRecord, KeycheckPut, KeycheckWrite, NewDevice, RegisterOutcome,
    Registration, RevokeOutcome, StorageError,
};

/// Runs one `UPDATE licenses ... WHERE license_id = $1`;
/// [`StorageError::UnknownLicense`] when it matched no row.
pub(super) async fn update_license<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<(), StorageError> {
    let n = c.execute(sql, params).await.map_err(backend)?;
    if n == 0 {
        return Err(StorageError::UnknownLicense);
    }
    Ok(())
}

/// Sets the license's authority key, closes its claim window and deletes
/// its key-check blob, inside the caller's transaction.
pub(super) async fn set_key_tx<C: GenericClient>(
    c: &C,
    license_id: &str,
    key: &str,
) -> Result<(), StorageError> {
    let sql = "UPDATE licenses SET authority_key = $2, claim_until = NULL WHERE license_id = $1";
    c.execute(sql, &[&license_id, &key])
        .await
        .map_err(backend)?;
    let sql = "DELETE FROM keychecks WHERE license_id = $1";
    c.execute(sql, &[&license_id]).await.map_err(backend)?;
    Ok(())
}

pub(super) async fn find_device_by_key<C: GenericClient>(
    c: &C,
    license_id: &str,
    public_key: &str,
) -> Result<Option<DeviceRecord>, StorageError> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {DEVICE_COLS} FROM devices WHERE license_id = $1 AND public_key = $2"
        ))
        .await
        .map_err(backend)?;
    Ok(c.query_opt(&stmt, &[&license_id, &public_key])
        .await
        .map_err(backend)?
        .as_ref()
        .map(row_to_device))
}

/// Registration (see `Storage::register_device_checked`) inside the
/// caller's transaction; every refusal comes before the first write.
pub(super) async fn register_tx<C: GenericClient>(
    tx: &C,
    d: &NewDevice,
    check: &AuthorityCheck,
) -> Result<RegisterOutcome, StorageError> {
    let rules = tx
        .query_opt(
            "SELECT authority_key, claim_until, max_devices FROM licenses
             WHERE license_id = $1 FOR NO KEY UPDATE",
            &[&d.license_id],
        )
        .await
        .map_err(backend)?
        .ok_or(StorageError::UnknownLicense)?;
    let current: Option<String> = rules.get(0);
    let claim_until: Option<i64> = rules.get(1);
    let max = max_devices(rules.get(2))?;
    let existing = find_device_by_key(tx, &d.license_id, &d.public_key).await?;
    if let Some(device) = existing.as_ref().filter(|d| d.revoked_at.is_some()) {
        // A revoked key stays revoked and claims nothing.
        return Ok(RegisterOutcome::Registered(Registration {
            device: device.clone(),
            created: false,
        }));
    }
    let set_key = match check.plan(current.as_deref(), claim_until, d.now) {
        Ok(k) => k,
        Err(refused) => return Ok(refused.into()),
    };
    if let (None, Some(max)) = (&existing, max) {
        let live: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM devices WHERE license_id = $1 AND revoked_at IS NULL",
                &[&d.license_id],
            )
            .await
            .map_err(backend)?
            .get(0);
        if live >= i64::from(max) {
            return Ok(RegisterOutcome::DeviceLimit { max });
        }
    }
    if let Some(key) = set_key {
        set_key_tx(tx, &d.license_id, &key).await?;
    }
    if let Some(device) = existing {
        return Ok(RegisterOutcome::Registered(Registration {
            device,
            created: false,
        }));
    }
    // The license row lock serialises registrations of this license, so
    // no other transaction can insert this public key meanwhile.
    let r = tx
        .query_one(
            &format!(
                "INSERT INTO devices (device_id, license_id, public_key, name, created_at)
                 VALUES ($1, $2, $3, $4, $5)
                 RETURNING {DEVICE_COLS}"
            ),
            &[&d.device_id, &d.license_id, &d.public_key, &d.name, &d.now],
        )
        .await
        .map_err(backend)?;
    Ok(RegisterOutcome::Registered(Registration {
        device: row_to_device(&r),
        created: true,
    }))
}

/// Revokes `target` inside the caller's transaction if the license's
/// authority is still what `check` saw; the caller commits on `Revoked`.
pub(super) async fn revoke_tx<C: GenericClient>(
    tx: &C,
    license_id: &str,
    target: &str,
    now: i64,
    check: &AuthorityCheck,
) -> Result<RevokeOutcome, StorageError> {
    // The push order: the device row first, then the license row (FOR
    // SHARE: an operator setting the key waits for this revocation, or
    // commits first and is read here).
    let locked = tx
        .query_opt(
            "SELECT 1 FROM devices WHERE device_id = $1 AND license_id = $2 FOR UPDATE",
            &[&target, &license_id],
        )
        .await
        .map_err(backend)?;
    if locked.is_none() {
        return Ok(RevokeOutcome::UnknownDevice);
    }
    let current: Option<String> = tx
        .query_one(
            "SELECT authority_key FROM licenses WHERE license_id = $1 FOR SHARE",
            &[&license_id],
        )
        .await
        .map_err(backend)?
        .get(0);
    if !check.admits(current.as_deref()) {
        return Ok(RevokeOutcome::AuthorityChanged);
    }
    // The first revocation time is kept.
    tx.execute(
        "UPDATE devices SET revoked_at = COALESCE(revoked_at, $2) WHERE device_id = $1",
        &[&target, &now],
    )
    .await
    .map_err(backend)?;
    Ok(RevokeOutcome::Revoked)
}

/// Stores the license's key-check blob inside the caller's transaction if
/// the authority is still what `check` saw and none is stored; the caller
/// commits on `Stored`.
pub(super) async fn keycheck_put_tx<C: GenericClient>(
    tx: &C,
    put: &KeycheckWrite<'_>,
    check: &AuthorityCheck,
) -> Result<KeycheckPut, StorageError> {
    // FOR SHARE: a key set (FOR UPDATE, then the key-check blob
    // deleted) waits for this insert to commit and then deletes it, or
    // commits first and is read here; never a blob stored under a key
    // the relay did not check.
    let row = tx
        .query_opt(
            "SELECT authority_key FROM licenses WHERE license_id = $1 FOR SHARE",
            &[&put.license_id],
        )
        .await
        .map_err(backend)?
        .ok_or(StorageError::UnknownLicense)?;
    let current: Option<String> = row.get(0);
    if !check.admits(current.as_deref()) {
        return Ok(KeycheckPut::AuthorityChanged);
    }
    let n = tx
        .execute(
            "INSERT INTO keychecks (license_id, device_id, sha256, created_at, data)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (license_id) DO NOTHING",
            &[
                &put.license_id,
                &put.device_id,
                &put.sha256,
                &put.now,
                &&put.data[..],
            ],
        )
        .await
        .map_err(unknown_license_or_backend)?;
    if n > 0 {
        return Ok(KeycheckPut::Stored);
    }
    let row = tx
        .query_opt(
            "SELECT sha256 FROM keychecks WHERE license_id = $1",
            &[&put.license_id],
        )
        .await
        .map_err(backend)?
        .ok_or_else(|| StorageError::Backend("postgres: key check vanished".into()))?;
    Ok(KeycheckPut::Exists { sha256: row.get(0) })
}
