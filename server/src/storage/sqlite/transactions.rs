//! The multi-statement writes (registration, push) and the device listing
//! the trait and the offline admin read share.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::commit::Shown;
use super::schema::open_reader;
use super::{backend, DB_FILE};
use crate::storage::columns::max_devices;
use crate::storage::push_days::sqlite_count_push;
use crate::storage::{
    AuthorityCheck, DeviceInfo, DeviceRecord, NewBlob, NewDevice, PushOutcome, Quota,
    RegisterOutcome, Registration, StorageError,
};

pub(super) fn row_to_device(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRecord> {
    Ok(DeviceRecord {
        device_id: r.get(0)?,
        license_id: r.get(1)?,
        public_key: r.get(2)?,
        name: r.get(3)?,
        created_at: r.get(4)?,
        revoked_at: r.get(5)?,
    })
}

pub(super) const DEVICE_COLS: &str =
    "device_id, license_id, public_key, name, created_at, revoked_at";

/// Sets the license's authority key, closes its claim window and deletes
/// its key-check blob (PROTOCOL §11.4), inside the caller's transaction.
pub(super) fn set_key_tx(
    conn: &Connection,
    license_id: &str,
    key: &str,
) -> Result<(), StorageError> {
    conn.prepare_cached(
        "UPDATE licenses SET authority_key = ?2, claim_until = NULL WHERE license_id = ?1",
    )
    .and_then(|mut s| s.execute(params![license_id, key]))
    .map_err(backend)?;
    conn.prepare_cached("DELETE FROM keychecks WHERE license_id = ?1")
        .and_then(|mut s| s.execute(params![license_id]))
        .map_err(backend)?;
    Ok(())
}

/// Registration (see `Storage::register_device_checked`). The writer
/// thread runs one write at a time, so the license row, the live-device
/// count and the insert cannot change under it; every refusal comes
/// before the first write.
pub(super) fn register_tx(
    conn: &Connection,
    d: &NewDevice,
    check: &AuthorityCheck,
) -> Result<RegisterOutcome, StorageError> {
    type Rules = (Option<String>, Option<i64>, Option<i64>);
    let rules: Option<Rules> = conn
        .prepare_cached(
            "SELECT authority_key, claim_until, max_devices FROM licenses WHERE license_id = ?1",
        )
        .and_then(|mut s| {
            s.query_row(params![d.license_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
        })
        .map_err(backend)?;
    let Some((current, claim_until, max)) = rules else {
        return Err(StorageError::UnknownLicense);
    };
    let existing = conn
        .prepare_cached(&format!(
            "SELECT {DEVICE_COLS} FROM devices WHERE license_id = ?1 AND public_key = ?2"
        ))
        .and_then(|mut s| {
            s.query_row(params![d.license_id, d.public_key], row_to_device)
                .optional()
        })
        .map_err(backend)?;
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
    if existing.is_none() {
        if let Some(max) = max_devices(max)? {
            let live: i64 = conn
                .prepare_cached(
                    "SELECT COUNT(*) FROM devices WHERE license_id = ?1 AND revoked_at IS NULL",
                )
                .and_then(|mut s| s.query_row(params![d.license_id], |r| r.get(0)))
                .map_err(backend)?;
            if live >= i64::from(max) {
                return Ok(RegisterOutcome::DeviceLimit { max });
            }
        }
    }
    if let Some(key) = set_key {
        set_key_tx(conn, &d.license_id, &key)?;
    }
    if let Some(device) = existing {
        return Ok(RegisterOutcome::Registered(Registration {
            device,
            created: false,
        }));
    }
    conn.prepare_cached(
        "INSERT INTO devices (device_id, license_id, public_key, name, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            d.device_id,
            d.license_id,
            d.public_key,
            d.name,
            d.now
        ])
    })
    .map_err(backend)?;
    Ok(RegisterOutcome::Registered(Registration {
        device: DeviceRecord {
            device_id: d.device_id.clone(),
            license_id: d.license_id.clone(),
            public_key: d.public_key.clone(),
            name: d.name.clone(),
            created_at: d.now,
            revoked_at: None,
        },
        created: true,
    }))
}

pub(super) fn push_tx(
    conn: &Connection,
    b: &NewBlob,
    seq: i64,
    quota: Quota,
    epoch_base: i64,
    shown: &mut Shown,
) -> Result<PushOutcome, StorageError> {
    let dev: Option<(String, Option<i64>, i64)> = conn
        .prepare_cached("SELECT license_id, revoked_at, last_seq FROM devices WHERE device_id = ?1")
        .and_then(|mut s| {
            s.query_row(params![b.device_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
        })
        .map_err(backend)?;
    let Some((license_id, revoked_at, last_seq)) = dev else {
        return Ok(PushOutcome::UnknownDevice);
    };
    if revoked_at.is_some() {
        return Ok(PushOutcome::Revoked);
    }
    if seq <= last_seq {
        let existing_sha256: Option<String> = conn
            .prepare_cached("SELECT sha256 FROM blobs WHERE device_id = ?1 AND seq = ?2")
            .and_then(|mut s| {
                s.query_row(params![b.device_id, seq], |r| r.get(0))
                    .optional()
            })
            .map_err(backend)?;
        return Ok(PushOutcome::Conflict {
            last_seq: last_seq as u64,
            existing_sha256,
        });
    }
    let size = b.data.len() as i64;
    if quota.is_limited() {
        // The writer thread runs one write at a time, so the totals cannot
        // move between this read and the insert.
        let (used_bytes, used_blobs): (i64, i64) = conn
            .prepare_cached(
                "SELECT COALESCE(SUM(sealed_bytes), 0), COALESCE(SUM(blob_count), 0)
                 FROM devices WHERE license_id = ?1",
            )
            .and_then(|mut s| s.query_row(params![license_id], |r| Ok((r.get(0)?, r.get(1)?))))
            .map_err(backend)?;
        let (used_bytes, used_blobs) = (used_bytes.max(0) as u64, used_blobs.max(0) as u64);
        if !quota.admits(used_bytes, used_blobs, size as u64) {
            return Ok(PushOutcome::QuotaExceeded {
                used_bytes,
                used_blobs,
            });
        }
    }
    let last: i64 = conn
        .prepare_cached("SELECT last_position FROM licenses WHERE license_id = ?1")
        .and_then(|mut s| s.query_row(params![license_id], |r| r.get(0)))
        .map_err(backend)?;
    // Above every position of earlier epochs, so none is handed out twice
    // even when an unsynced tail of an earlier run was lost.
    let position = last
        .checked_add(1)
        .ok_or(StorageError::OutOfRange("position"))?
        .max(epoch_base);
    conn.prepare_cached("UPDATE licenses SET last_position = ?2 WHERE license_id = ?1")
        .and_then(|mut s| s.execute(params![license_id, position]))
        .map_err(backend)?;
    conn.prepare_cached(
        "INSERT INTO blobs (license_id, device_id, seq, sha256, size, created_at, data, position)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            license_id,
            b.device_id,
            seq,
            b.sha256,
            size,
            b.now,
            &b.data[..],
            position
        ])
    })
    .map_err(backend)?;
    sqlite_count_push(conn, &license_id, b.now, size)?;
    shown.push((license_id, position));
    conn.prepare_cached(
        "UPDATE devices SET last_seq = ?2, last_push_at = ?3,
                blob_count = blob_count + 1, sealed_bytes = sealed_bytes + ?4
         WHERE device_id = ?1",
    )
    .and_then(|mut s| s.execute(params![b.device_id, seq, b.now, size]))
    .map_err(backend)?;
    Ok(PushOutcome::Stored {
        seq: seq as u64,
        created_at: b.now,
    })
}

pub(super) fn devices_query(
    conn: &Connection,
    license_id: &str,
) -> Result<Option<Vec<DeviceInfo>>, StorageError> {
    let known = conn
        .prepare_cached("SELECT 1 FROM licenses WHERE license_id = ?1")
        .and_then(|mut s| s.exists(params![license_id]))
        .map_err(backend)?;
    if !known {
        return Ok(None);
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT device_id, name, created_at, last_push_at, last_pull_at, blob_count,
                    sealed_bytes, revoked_at IS NOT NULL
             FROM devices WHERE license_id = ?1 ORDER BY created_at, rowid",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map(params![license_id], |r| {
            Ok(DeviceInfo {
                device_id: r.get(0)?,
                name: r.get(1)?,
                created_at: r.get(2)?,
                last_push_at: r.get(3)?,
                last_pull_at: r.get(4)?,
                blob_count: r.get::<_, i64>(5)? as u64,
                sealed_bytes: r.get::<_, i64>(6)? as u64,
                revoked: r.get(7)?,
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(backend)
}

/// Reads the device listing straight from the database file, without the
/// writer thread (for the CLI's admin command).
pub(crate) fn devices_offline(
    data_dir: &Path,
    license_id: &str,
) -> Result<Option<Vec<DeviceInfo>>, StorageError> {
    let path = data_dir.join(DB_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let conn = open_reader(&path)?;
    devices_query(&conn, license_id)
}
