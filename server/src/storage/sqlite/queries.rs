//! The `Storage` trait on SQLite: reads on the pooled read-only
//! connections, writes on the writer thread.

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{params, OptionalExtension};

use super::transactions::{
    devices_query, push_tx, register_tx, row_to_device, set_key_tx, DEVICE_COLS,
};
use super::{backend, SqliteStorage};
use crate::storage::columns::{
    key_hash, max_devices, page, page_rows, prune_bound, stored_seq, to_i64,
};
use crate::storage::push_days::sqlite_push_days;
use crate::storage::{
    AuthorityCheck, BlobData, BlobMeta, DeviceInfo, DeviceRecord, KeycheckPut, KeycheckWrite,
    LicenseRecord, NewBlob, NewDevice, PullPage, PushDay, PushOutcome, Quota, RegisterOutcome,
    RevokeOutcome, Storage, StorageError,
};

const LICENSE_COLS: &str =
    "license_id, key_hash, authority_key, created_at, claim_until, max_devices";

type LicenseRow = (
    String,
    Vec<u8>,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
);

fn license_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LicenseRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn license_record(
    (license_id, hash, authority_key, created_at, claim_until, max): LicenseRow,
) -> Result<LicenseRecord, StorageError> {
    Ok(LicenseRecord {
        license_id,
        key_hash: key_hash(hash)?,
        authority_key,
        claim_until,
        max_devices: max_devices(max)?,
        created_at,
    })
}

/// Runs one `UPDATE licenses ... WHERE license_id = ?1`;
/// [`StorageError::UnknownLicense`] when it matched no row.
fn update_license(
    c: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<(), StorageError> {
    let n = c
        .prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(backend)?;
    if n == 0 {
        return Err(StorageError::UnknownLicense);
    }
    Ok(())
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn add_license(
        &self,
        license_id: &str,
        key_hash: [u8; 32],
        authority_key: Option<&str>,
        now: i64,
    ) -> Result<(), StorageError> {
        let lid = license_id.to_string();
        let auth = authority_key.map(str::to_string);
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "INSERT INTO licenses (license_id, key_hash, created_at, authority_key)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (license_id) DO NOTHING",
                )
                .and_then(|mut s| s.execute(params![lid, &key_hash[..], now, auth]))
                .map_err(backend)?;
            if n == 0 {
                Err(StorageError::LicenseExists)
            } else {
                Ok(())
            }
        })
        .await
    }

    async fn license_key_hash(&self, license_id: &str) -> Result<Option<[u8; 32]>, StorageError> {
        let lid = license_id.to_string();
        self.read(move |c| {
            let v: Option<Vec<u8>> = c
                .prepare_cached("SELECT key_hash FROM licenses WHERE license_id = ?1")
                .and_then(|mut s| s.query_row(params![lid], |r| r.get(0)).optional())
                .map_err(backend)?;
            v.map(key_hash).transpose()
        })
        .await
    }

    async fn license(&self, license_id: &str) -> Result<Option<LicenseRecord>, StorageError> {
        let lid = license_id.to_string();
        self.read(move |c| {
            let row = c
                .prepare_cached(&format!(
                    "SELECT {LICENSE_COLS} FROM licenses WHERE license_id = ?1"
                ))
                .and_then(|mut s| s.query_row(params![lid], license_row).optional())
                .map_err(backend)?;
            row.map(license_record).transpose()
        })
        .await
    }

    async fn licenses(&self) -> Result<Vec<LicenseRecord>, StorageError> {
        self.read(move |c| {
            let rows = c
                .prepare_cached(&format!(
                    "SELECT {LICENSE_COLS} FROM licenses ORDER BY license_id"
                ))
                .and_then(|mut s| {
                    s.query_map([], license_row)?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(backend)?;
            rows.into_iter().map(license_record).collect()
        })
        .await
    }

    async fn set_authority_key(
        &self,
        license_id: &str,
        authority_key: &str,
    ) -> Result<bool, StorageError> {
        let (lid, key) = (license_id.to_string(), authority_key.to_string());
        self.write(move |c| {
            let current: Option<Option<String>> = c
                .prepare_cached("SELECT authority_key FROM licenses WHERE license_id = ?1")
                .and_then(|mut s| s.query_row(params![lid], |r| r.get(0)).optional())
                .map_err(backend)?;
            match current {
                None => return Err(StorageError::UnknownLicense),
                Some(Some(k)) if k == key => return Ok(false),
                Some(_) => {}
            }
            set_key_tx(c, &lid, &key)?;
            Ok(true)
        })
        .await
    }

    async fn set_claim_window(
        &self,
        license_id: &str,
        until: Option<i64>,
    ) -> Result<bool, StorageError> {
        let lid = license_id.to_string();
        self.write(move |c| {
            let keyed: Option<bool> = c
                .prepare_cached(
                    "SELECT authority_key IS NOT NULL FROM licenses WHERE license_id = ?1",
                )
                .and_then(|mut s| s.query_row(params![lid], |r| r.get(0)).optional())
                .map_err(backend)?;
            match keyed {
                None => Err(StorageError::UnknownLicense),
                Some(true) => Ok(false),
                Some(false) => {
                    let sql = "UPDATE licenses SET claim_until = ?2 WHERE license_id = ?1";
                    update_license(c, sql, params![lid, until])?;
                    Ok(true)
                }
            }
        })
        .await
    }

    async fn set_max_devices(
        &self,
        license_id: &str,
        max: Option<u32>,
    ) -> Result<(), StorageError> {
        let lid = license_id.to_string();
        self.write(move |c| {
            let sql = "UPDATE licenses SET max_devices = ?2 WHERE license_id = ?1";
            update_license(c, sql, params![lid, max])
        })
        .await
    }

    async fn set_license_key_hash(
        &self,
        license_id: &str,
        key_hash: [u8; 32],
    ) -> Result<(), StorageError> {
        let lid = license_id.to_string();
        self.write(move |c| {
            let sql = "UPDATE licenses SET key_hash = ?2 WHERE license_id = ?1";
            update_license(c, sql, params![lid, &key_hash[..]])
        })
        .await
    }

    async fn register_device_checked(
        &self,
        device: NewDevice,
        check: AuthorityCheck,
    ) -> Result<RegisterOutcome, StorageError> {
        self.write(move |c| register_tx(c, &device, &check)).await
    }

    async fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>, StorageError> {
        let id = device_id.to_string();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {DEVICE_COLS} FROM devices WHERE device_id = ?1"
            ))
            .and_then(|mut s| s.query_row(params![id], row_to_device).optional())
            .map_err(backend)
        })
        .await
    }

    async fn push_within(&self, blob: NewBlob, quota: Quota) -> Result<PushOutcome, StorageError> {
        let seq = to_i64(blob.seq, "seq")?;
        let base = self.inner.shared.epoch_base;
        self.write_shown(move |c, shown| push_tx(c, &blob, seq, quota, base, shown))
            .await
    }

    async fn pull(
        &self,
        license_id: &str,
        requester: &str,
        after: i64,
        limit: u32,
    ) -> Result<PullPage, StorageError> {
        let (lid, req) = (license_id.to_string(), requester.to_string());
        // Read before the query: every position up to it is committed, so
        // the query's snapshot holds them all.
        let durable = self.inner.shared.durable(license_id);
        self.read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT position, device_id, seq, sha256, size, created_at FROM blobs
                     WHERE license_id = ?1 AND position > ?2 AND position <= ?3
                       AND device_id <> ?4
                     ORDER BY position LIMIT ?5",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![lid, after, durable, req, page_rows(limit)], |r| {
                    Ok(BlobMeta {
                        position: r.get(0)?,
                        device_id: r.get(1)?,
                        seq: r.get::<_, i64>(2)? as u64,
                        sha256: r.get(3)?,
                        size: r.get::<_, i64>(4)? as u64,
                        created_at: r.get(5)?,
                    })
                })
                .map_err(backend)?;
            let items = rows.collect::<Result<Vec<_>, _>>().map_err(backend)?;
            Ok(page(items, limit))
        })
        .await
    }

    async fn touch_pull(&self, device_id: &str, now: i64) -> Result<(), StorageError> {
        let id = device_id.to_string();
        self.write(move |c| {
            c.prepare_cached("UPDATE devices SET last_pull_at = ?2 WHERE device_id = ?1")
                .and_then(|mut s| s.execute(params![id, now]))
                .map(|_| ())
                .map_err(backend)
        })
        .await
    }

    async fn blob(
        &self,
        license_id: &str,
        owner_device_id: &str,
        seq: u64,
    ) -> Result<Option<BlobData>, StorageError> {
        let Some(seq) = stored_seq(seq) else {
            return Ok(None);
        };
        let (lid, owner) = (license_id.to_string(), owner_device_id.to_string());
        self.read(move |c| {
            c.prepare_cached(
                "SELECT sha256, data FROM blobs
                 WHERE device_id = ?1 AND seq = ?2 AND license_id = ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![owner, seq, lid], row_to_blob_data)
                    .optional()
            })
            .map_err(backend)
        })
        .await
    }

    async fn revoke_checked(
        &self,
        license_id: &str,
        target: &str,
        now: i64,
        check: AuthorityCheck,
    ) -> Result<RevokeOutcome, StorageError> {
        let (lid, target) = (license_id.to_string(), target.to_string());
        self.write(move |c| {
            // One write at a time: the key cannot change before the update.
            let current: Option<Option<String>> = c
                .prepare_cached("SELECT authority_key FROM licenses WHERE license_id = ?1")
                .and_then(|mut s| s.query_row(params![lid], |r| r.get(0)).optional())
                .map_err(backend)?;
            let Some(current) = current else {
                return Ok(RevokeOutcome::UnknownDevice);
            };
            if !check.admits(current.as_deref()) {
                return Ok(RevokeOutcome::AuthorityChanged);
            }
            let exists = c
                .prepare_cached("SELECT 1 FROM devices WHERE device_id = ?1 AND license_id = ?2")
                .and_then(|mut s| s.exists(params![target, lid]))
                .map_err(backend)?;
            if !exists {
                return Ok(RevokeOutcome::UnknownDevice);
            }
            c.prepare_cached(
                "UPDATE devices SET revoked_at = ?2 WHERE device_id = ?1 AND revoked_at IS NULL",
            )
            .and_then(|mut s| s.execute(params![target, now]))
            .map_err(backend)?;
            Ok(RevokeOutcome::Revoked)
        })
        .await
    }

    async fn keycheck_put_checked(
        &self,
        put: KeycheckWrite<'_>,
        check: AuthorityCheck,
    ) -> Result<KeycheckPut, StorageError> {
        let (lid, dev, sha) = (
            put.license_id.to_string(),
            put.device_id.to_string(),
            put.sha256.to_string(),
        );
        let (data, now) = (put.data, put.now);
        self.write(move |c| {
            // The writer thread runs one write at a time: the key read here
            // cannot change before the insert below.
            let license: Option<Option<String>> = c
                .prepare_cached("SELECT authority_key FROM licenses WHERE license_id = ?1")
                .and_then(|mut s| s.query_row(params![lid], |r| r.get(0)).optional())
                .map_err(backend)?;
            let Some(current) = license else {
                return Err(StorageError::UnknownLicense);
            };
            if !check.admits(current.as_deref()) {
                return Ok(KeycheckPut::AuthorityChanged);
            }
            let existing: Option<String> = c
                .prepare_cached("SELECT sha256 FROM keychecks WHERE license_id = ?1")
                .and_then(|mut s| s.query_row(params![lid], |r| r.get(0)).optional())
                .map_err(backend)?;
            if let Some(sha256) = existing {
                return Ok(KeycheckPut::Exists { sha256 });
            }
            c.prepare_cached(
                "INSERT INTO keychecks (license_id, device_id, sha256, created_at, data)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| s.execute(params![lid, dev, sha, now, &data[..]]))
            .map_err(backend)?;
            Ok(KeycheckPut::Stored)
        })
        .await
    }

    async fn keycheck_get(&self, license_id: &str) -> Result<Option<BlobData>, StorageError> {
        let lid = license_id.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT sha256, data FROM keychecks WHERE license_id = ?1")
                .and_then(|mut s| s.query_row(params![lid], row_to_blob_data).optional())
                .map_err(backend)
        })
        .await
    }

    async fn prune(&self, device_id: &str, checkpoint_seq: u64) -> Result<u64, StorageError> {
        let cp = prune_bound(checkpoint_seq);
        let id = device_id.to_string();
        self.write(move |c| {
            let (n, bytes): (i64, i64) = c
                .prepare_cached(
                    "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs
                     WHERE device_id = ?1 AND seq < ?2",
                )
                .and_then(|mut s| s.query_row(params![id, cp], |r| Ok((r.get(0)?, r.get(1)?))))
                .map_err(backend)?;
            if n == 0 {
                return Ok(0);
            }
            c.prepare_cached("DELETE FROM blobs WHERE device_id = ?1 AND seq < ?2")
                .and_then(|mut s| s.execute(params![id, cp]))
                .map_err(backend)?;
            c.prepare_cached(
                "UPDATE devices SET blob_count = blob_count - ?2, sealed_bytes = sealed_bytes - ?3
                 WHERE device_id = ?1",
            )
            .and_then(|mut s| s.execute(params![id, n, bytes]))
            .map_err(backend)?;
            Ok(n as u64)
        })
        .await
    }

    async fn devices(&self, license_id: &str) -> Result<Option<Vec<DeviceInfo>>, StorageError> {
        let lid = license_id.to_string();
        self.read(move |c| devices_query(c, &lid)).await
    }

    fn set_observer(&self, observer: std::sync::Arc<dyn crate::storage::StorageObserver>) {
        self.inner.shared.observer.set(observer);
    }

    async fn size_bytes(&self) -> Result<Option<u64>, StorageError> {
        Ok(Some(super::files::db_files_size(self.path())))
    }

    async fn push_days(
        &self,
        license_id: &str,
        since_day: i64,
    ) -> Result<Vec<PushDay>, StorageError> {
        let lid = license_id.to_string();
        self.read(move |c| sqlite_push_days(c, &lid, since_day))
            .await
    }
}

/// A `(sha256, data)` row: a stored blob or key-check blob.
fn row_to_blob_data(r: &rusqlite::Row<'_>) -> rusqlite::Result<BlobData> {
    Ok(BlobData {
        sha256: r.get(0)?,
        data: Bytes::from(r.get::<_, Vec<u8>>(1)?),
    })
}
