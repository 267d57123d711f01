//! The shared backend: PostgreSQL, so several relay processes (on several
//! machines) can serve the same licenses from one database.
//!
//! Every write is one PostgreSQL transaction on a pooled connection
//! (`tokio-postgres` + `deadpool-postgres`), committed with the server's
//! `synchronous_commit` (default `on`: the commit is flushed before
//! PostgreSQL answers, and only then does the relay acknowledge).
//!
//! - A push locks the device row (`SELECT … FOR UPDATE`), checks revoked and
//!   `seq > last_seq`, takes the next pull position from the license's
//!   counter row (`UPDATE licenses SET next_position = next_position + 1 …
//!   RETURNING`), inserts the blob and updates the device, then commits.
//!   The device row lock makes "seq check + insert" one atomic step across
//!   relays; the counter row lock is held until commit, so the positions of
//!   one license are handed out and become visible strictly in order (the
//!   next push of the license waits for the previous commit), and a pruned
//!   position is never handed out again.
//! - Locks are always taken device row first, then license row, so pushes,
//!   prunes and revocations cannot deadlock.
//! - The schema is created idempotently at connect time, under a
//!   transaction-scoped advisory lock so relays starting together do not race.
//!   Only the SHA-256 of a license key is stored.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use super::columns::{key_hash, max_devices, page, page_rows, prune_bound, stored_seq, to_i64};
use super::postgres_license::{
    keycheck_put_tx, register_tx, revoke_tx, set_key_tx, update_license,
};
use super::postgres_observe as observe;
use super::postgres_schema::{SCHEMA, SCHEMA_VERSION};
use super::push_days::pg_push_days;
use super::{
    day_of, AuthorityCheck, BlobData, BlobMeta, DeviceInfo, DeviceRecord, KeycheckPut,
    KeycheckWrite, LicenseRecord, NewBlob, NewDevice, ObserverSlot, PullPage, PushDay, PushOutcome,
    Quota, RegisterOutcome, RevokeOutcome, Storage, StorageError, StorageObserver,
};

/// Default pool size per relay process.
pub const DEFAULT_POOL_SIZE: usize = 16;

pub(crate) fn backend(e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(format!("postgres: {e}"))
}

fn is_state(e: &tokio_postgres::Error, state: &SqlState) -> bool {
    e.code() == Some(state)
}

/// A failed insert that names a license: a foreign-key violation means the
/// license does not exist.
pub(super) fn unknown_license_or_backend(e: tokio_postgres::Error) -> StorageError {
    if is_state(&e, &SqlState::FOREIGN_KEY_VIOLATION) {
        StorageError::UnknownLicense
    } else {
        backend(e)
    }
}

/// PostgreSQL storage. Cheap to clone (a connection pool handle).
#[derive(Clone)]
pub struct PostgresStorage {
    pool: Pool,
    observer: ObserverSlot,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage").finish_non_exhaustive()
    }
}

/// `true` if `url` names a PostgreSQL database (`postgres://` or
/// `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    let l = url.trim_start().to_ascii_lowercase();
    l.starts_with("postgres://") || l.starts_with("postgresql://")
}

/// A valid unquoted schema name: `[a-z_][a-z0-9_]*`, at most 63 bytes.
fn valid_schema(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

impl PostgresStorage {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/db`, any
    /// libpq-style option tokio-postgres accepts), creates the schema if
    /// needed, and returns the storage. Must be called inside the tokio
    /// runtime that will use it (connections run as tasks on it).
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        Self::connect_with(url, None, DEFAULT_POOL_SIZE).await
    }

    /// Like [`connect`](Self::connect), with the tables in schema `schema`
    /// (created if missing; `[a-z_][a-z0-9_]*`) and a pool of at most
    /// `pool_size` connections.
    pub async fn connect_with(
        url: &str,
        schema: Option<&str>,
        pool_size: usize,
    ) -> Result<Self, StorageError> {
        let mut cfg = tokio_postgres::Config::from_str(url)
            .map_err(|e| StorageError::Backend(format!("invalid database url: {e}")))?;
        if cfg.get_connect_timeout().is_none() {
            cfg.connect_timeout(Duration::from_secs(10));
        }
        if cfg.get_application_name().is_none() {
            cfg.application_name("azmx-sync-relay");
        }
        if let Some(schema) = schema {
            if !valid_schema(schema) {
                return Err(StorageError::Backend(format!(
                    "invalid schema name `{schema}`"
                )));
            }
            // Create the schema on a one-off connection, then make every
            // pooled connection use it.
            let (client, conn) = cfg.connect(NoTls).await.map_err(backend)?;
            let task = tokio::spawn(conn);
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await
                .or_else(|e| {
                    // Two relays creating it at once: one loses the race.
                    if is_state(&e, &SqlState::UNIQUE_VIOLATION) {
                        Ok(())
                    } else {
                        Err(backend(e))
                    }
                })?;
            drop(client);
            let _ = task.await;
            let mut opts = cfg.get_options().unwrap_or("").to_string();
            if !opts.is_empty() {
                opts.push(' ');
            }
            opts.push_str(&format!("-c search_path={schema}"));
            cfg.options(&opts);
        }
        let mgr = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(15)))
            .build()
            .map_err(backend)?;
        let observer = ObserverSlot::default();
        let s = Self { pool, observer };
        s.migrate().await?;
        Ok(s)
    }

    async fn client(&self) -> Result<Object, StorageError> {
        self.pool.get().await.map_err(backend)
    }

    async fn migrate(&self) -> Result<(), StorageError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(backend)?;
        // Serialise concurrent startups on the same schema.
        tx.execute(
            "SELECT pg_advisory_xact_lock(7316029, hashtext(current_schema()))",
            &[],
        )
        .await
        .map_err(backend)?;
        tx.batch_execute(SCHEMA).await.map_err(backend)?;
        tx.execute(
            // An older database is brought to this version (the schema above
            // just added what it lacked); a newer one keeps its number.
            "INSERT INTO relay_meta (key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE
             SET value = GREATEST(relay_meta.value, EXCLUDED.value)",
            &[&SCHEMA_VERSION],
        )
        .await
        .map_err(backend)?;
        let v: i64 = tx
            .query_one(
                "SELECT value FROM relay_meta WHERE key = 'schema_version'",
                &[],
            )
            .await
            .map_err(backend)?
            .get(0);
        if v > SCHEMA_VERSION {
            return Err(StorageError::Backend(format!(
                "database schema version {v} is newer than this relay ({SCHEMA_VERSION})"
            )));
        }
        tx.commit().await.map_err(backend)
    }
}

pub(super) fn row_to_device(r: &tokio_postgres::Row) -> DeviceRecord {
    DeviceRecord {
        device_id: r.get(0),
        license_id: r.get(1),
        public_key: r.get(2),
        name: r.get(3),
        created_at: r.get(4),
        revoked_at: r.get(5),
    }
}

const LICENSE_COLS: &str =
    "license_id, key_hash, authority_key, created_at, claim_until, max_devices";

fn license_record(r: &tokio_postgres::Row) -> Result<LicenseRecord, StorageError> {
    Ok(LicenseRecord {
        license_id: r.get(0),
        key_hash: key_hash(r.get(1))?,
        authority_key: r.get(2),
        created_at: r.get(3),
        claim_until: r.get(4),
        max_devices: max_devices(r.get(5))?,
    })
}

/// A `(sha256, data)` row: a stored blob or key-check blob.
fn row_to_blob_data(r: &tokio_postgres::Row) -> BlobData {
    BlobData {
        sha256: r.get(0),
        data: Bytes::from(r.get::<_, Vec<u8>>(1)),
    }
}

pub(super) const DEVICE_COLS: &str =
    "device_id, license_id, public_key, name, created_at, revoked_at";

#[async_trait]
impl Storage for PostgresStorage {
    async fn add_license(
        &self,
        license_id: &str,
        key_hash: [u8; 32],
        authority_key: Option<&str>,
        now: i64,
    ) -> Result<(), StorageError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "INSERT INTO licenses (license_id, key_hash, created_at, authority_key)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (license_id) DO NOTHING",
                &[&license_id, &&key_hash[..], &now, &authority_key],
            )
            .await
            .map_err(backend)?;
        if n == 0 {
            Err(StorageError::LicenseExists)
        } else {
            Ok(())
        }
    }

    async fn license_key_hash(&self, license_id: &str) -> Result<Option<[u8; 32]>, StorageError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT key_hash FROM licenses WHERE license_id = $1")
            .await
            .map_err(backend)?;
        let row = c.query_opt(&stmt, &[&license_id]).await.map_err(backend)?;
        row.map(|r| key_hash(r.get(0))).transpose()
    }

    async fn license(&self, license_id: &str) -> Result<Option<LicenseRecord>, StorageError> {
        let c = self.client().await?;
        let sql = format!("SELECT {LICENSE_COLS} FROM licenses WHERE license_id = $1");
        let row = c.query_opt(&sql, &[&license_id]).await.map_err(backend)?;
        row.as_ref().map(license_record).transpose()
    }

    async fn licenses(&self) -> Result<Vec<LicenseRecord>, StorageError> {
        let c = self.client().await?;
        let sql = format!("SELECT {LICENSE_COLS} FROM licenses ORDER BY license_id");
        let rows = c.query(&sql, &[]).await.map_err(backend)?;
        rows.iter().map(license_record).collect()
    }

    async fn set_authority_key(&self, license_id: &str, key: &str) -> Result<bool, StorageError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(backend)?;
        let sql = "SELECT authority_key FROM licenses WHERE license_id = $1 FOR UPDATE";
        let current: Option<String> = match tx.query_opt(sql, &[&license_id]).await {
            Ok(Some(r)) => r.get(0),
            Ok(None) => return Err(StorageError::UnknownLicense),
            Err(e) => return Err(backend(e)),
        };
        if current.as_deref() == Some(key) {
            return Ok(false);
        }
        set_key_tx(&tx, license_id, key).await?;
        observe::commit(tx, &self.observer).await?;
        Ok(true)
    }

    async fn set_claim_window(
        &self,
        license_id: &str,
        until: Option<i64>,
    ) -> Result<bool, StorageError> {
        let c = self.client().await?;
        // One statement: a key set concurrently is seen (the row lock).
        let row = c
            .query_opt(
                "UPDATE licenses SET claim_until = CASE WHEN authority_key IS NULL
                     THEN $2 ELSE claim_until END
                 WHERE license_id = $1 RETURNING authority_key IS NULL",
                &[&license_id, &until],
            )
            .await
            .map_err(backend)?;
        row.map(|r| r.get(0)).ok_or(StorageError::UnknownLicense)
    }

    async fn set_max_devices(
        &self,
        license_id: &str,
        max: Option<u32>,
    ) -> Result<(), StorageError> {
        let c = self.client().await?;
        let max = max.map(i64::from);
        let sql = "UPDATE licenses SET max_devices = $2 WHERE license_id = $1";
        update_license(&c, sql, &[&license_id, &max]).await
    }

    async fn set_license_key_hash(
        &self,
        license_id: &str,
        key_hash: [u8; 32],
    ) -> Result<(), StorageError> {
        let c = self.client().await?;
        let sql = "UPDATE licenses SET key_hash = $2 WHERE license_id = $1";
        update_license(&c, sql, &[&license_id, &&key_hash[..]]).await
    }

    async fn register_device_checked(
        &self,
        d: NewDevice,
        check: AuthorityCheck,
    ) -> Result<RegisterOutcome, StorageError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(backend)?;
        let outcome = register_tx(&tx, &d, &check).await?;
        observe::commit(tx, &self.observer).await?;
        Ok(outcome)
    }

    async fn device(&self, device_id: &str) -> Result<Option<DeviceRecord>, StorageError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLS} FROM devices WHERE device_id = $1"
            ))
            .await
            .map_err(backend)?;
        Ok(c.query_opt(&stmt, &[&device_id])
            .await
            .map_err(backend)?
            .as_ref()
            .map(row_to_device))
    }

    async fn push_within(&self, b: NewBlob, quota: Quota) -> Result<PushOutcome, StorageError> {
        let seq = to_i64(b.seq, "seq")?;
        let size = to_i64(b.data.len() as u64, "size")?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(backend)?;
        // 1. Lock the device row: concurrent pushes of this device (on any
        //    relay) wait here until this transaction ends.
        let lock = tx
            .prepare_cached(
                "SELECT license_id, revoked_at, last_seq FROM devices
                 WHERE device_id = $1 FOR UPDATE",
            )
            .await
            .map_err(backend)?;
        let Some(row) = tx
            .query_opt(&lock, &[&b.device_id])
            .await
            .map_err(backend)?
        else {
            return Ok(PushOutcome::UnknownDevice);
        };
        let license_id: String = row.get(0);
        let revoked_at: Option<i64> = row.get(1);
        let last_seq: i64 = row.get(2);
        if revoked_at.is_some() {
            return Ok(PushOutcome::Revoked);
        }
        if seq <= last_seq {
            let q = tx
                .prepare_cached("SELECT sha256 FROM blobs WHERE device_id = $1 AND seq = $2")
                .await
                .map_err(backend)?;
            let existing_sha256 = tx
                .query_opt(&q, &[&b.device_id, &seq])
                .await
                .map_err(backend)?
                .map(|r| r.get::<_, String>(0));
            return Ok(PushOutcome::Conflict {
                last_seq: last_seq as u64,
                existing_sha256,
            });
        }
        if quota.is_limited() {
            let (used_bytes, used_blobs) =
                super::quota::pg_license_totals(&tx, &license_id).await?;
            if !quota.admits(used_bytes, used_blobs, size as u64) {
                return Ok(PushOutcome::QuotaExceeded {
                    used_bytes,
                    used_blobs,
                });
            }
        }
        // 2. In one statement: the next position of the license (its counter
        //    row stays locked until commit, so positions commit in order),
        //    the blob, and the device's last_seq and counters. One statement
        //    keeps the counter row locked for as short a time as possible.
        let store = tx
            .prepare_cached(
                "WITH pos AS (
                     UPDATE licenses SET next_position = next_position + 1
                     WHERE license_id = $1::TEXT RETURNING next_position
                 ), ins AS (
                     INSERT INTO blobs (license_id, position, device_id, seq, sha256, size,
                                        created_at, data)
                     SELECT $1::TEXT, next_position, $2::TEXT, $3::BIGINT, $4::TEXT,
                            $5::BIGINT, $6::BIGINT, $7::BYTEA
                     FROM pos
                     RETURNING position
                 ), upd AS (
                     UPDATE devices SET last_seq = $3::BIGINT, last_push_at = $6::BIGINT,
                            blob_count = blob_count + 1, sealed_bytes = sealed_bytes + $5::BIGINT
                     WHERE device_id = $2::TEXT
                 ), day AS (
                     -- Reads `ins`, so it runs after `pos` locked the license row.
                     INSERT INTO push_days (license_id, day, pushes, sealed_bytes)
                     SELECT $1::TEXT, $8::BIGINT, 1, $5::BIGINT FROM ins
                     ON CONFLICT (license_id, day) DO UPDATE
                     SET pushes = push_days.pushes + 1,
                         sealed_bytes = push_days.sealed_bytes + EXCLUDED.sealed_bytes
                 )
                 SELECT position FROM ins",
            )
            .await
            .map_err(backend)?;
        let stored = tx
            .query_opt(
                &store,
                &[
                    &license_id,
                    &b.device_id,
                    &seq,
                    &b.sha256,
                    &size,
                    &b.now,
                    &&b.data[..],
                    &day_of(b.now),
                ],
            )
            .await
            .map_err(backend)?;
        if stored.is_none() {
            // The device row is locked, so its license row exists (FK).
            return Err(StorageError::Backend(
                "postgres: license row missing during push".into(),
            ));
        }
        observe::commit(tx, &self.observer).await?;
        Ok(PushOutcome::Stored {
            seq: b.seq,
            created_at: b.now,
        })
    }

    async fn pull(
        &self,
        license_id: &str,
        requester: &str,
        after: i64,
        limit: u32,
    ) -> Result<PullPage, StorageError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT position, device_id, seq, sha256, size, created_at FROM blobs
                 WHERE license_id = $1 AND position > $2 AND device_id <> $3
                 ORDER BY position LIMIT $4",
            )
            .await
            .map_err(backend)?;
        let rows = c
            .query(&stmt, &[&license_id, &after, &requester, &page_rows(limit)])
            .await
            .map_err(backend)?;
        let items: Vec<BlobMeta> = rows
            .iter()
            .map(|r| BlobMeta {
                position: r.get(0),
                device_id: r.get(1),
                seq: r.get::<_, i64>(2) as u64,
                sha256: r.get(3),
                size: r.get::<_, i64>(4) as u64,
                created_at: r.get(5),
            })
            .collect();
        Ok(page(items, limit))
    }

    async fn touch_pull(&self, device_id: &str, now: i64) -> Result<(), StorageError> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("UPDATE devices SET last_pull_at = $2 WHERE device_id = $1")
            .await
            .map_err(backend)?;
        c.execute(&stmt, &[&device_id, &now])
            .await
            .map(|_| ())
            .map_err(backend)
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
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT sha256, data FROM blobs
                 WHERE device_id = $1 AND seq = $2 AND license_id = $3",
            )
            .await
            .map_err(backend)?;
        Ok(c.query_opt(&stmt, &[&owner_device_id, &seq, &license_id])
            .await
            .map_err(backend)?
            .as_ref()
            .map(row_to_blob_data))
    }

    async fn revoke_checked(
        &self,
        license_id: &str,
        target: &str,
        now: i64,
        check: AuthorityCheck,
    ) -> Result<RevokeOutcome, StorageError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(backend)?;
        let outcome = revoke_tx(&tx, license_id, target, now, &check).await?;
        if outcome == RevokeOutcome::Revoked {
            observe::commit(tx, &self.observer).await?;
        }
        Ok(outcome)
    }

    async fn keycheck_put_checked(
        &self,
        put: KeycheckWrite<'_>,
        check: AuthorityCheck,
    ) -> Result<KeycheckPut, StorageError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(backend)?;
        let outcome = keycheck_put_tx(&tx, &put, &check).await?;
        if outcome == KeycheckPut::Stored {
            observe::commit(tx, &self.observer).await?;
        }
        Ok(outcome)
    }

    async fn keycheck_get(&self, license_id: &str) -> Result<Option<BlobData>, StorageError> {
        let c = self.client().await?;
        Ok(c.query_opt(
            "SELECT sha256, data FROM keychecks WHERE license_id = $1",
            &[&license_id],
        )
        .await
        .map_err(backend)?
        .as_ref()
        .map(row_to_blob_data))
    }

    async fn prune(&self, device_id: &str, checkpoint_seq: u64) -> Result<u64, StorageError> {
        let cp = prune_bound(checkpoint_seq);
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(backend)?;
        // Same lock order as push: the device row first.
        let locked = tx
            .query_opt(
                "SELECT 1 FROM devices WHERE device_id = $1 FOR UPDATE",
                &[&device_id],
            )
            .await
            .map_err(backend)?;
        if locked.is_none() {
            return Ok(0);
        }
        let row = tx
            .query_one(
                "WITH d AS (DELETE FROM blobs WHERE device_id = $1 AND seq < $2 RETURNING size)
                 SELECT COUNT(*)::BIGINT, COALESCE(SUM(size), 0)::BIGINT FROM d",
                &[&device_id, &cp],
            )
            .await
            .map_err(backend)?;
        let (n, bytes): (i64, i64) = (row.get(0), row.get(1));
        if n == 0 {
            return Ok(0);
        }
        tx.execute(
            "UPDATE devices SET blob_count = blob_count - $2, sealed_bytes = sealed_bytes - $3
             WHERE device_id = $1",
            &[&device_id, &n, &bytes],
        )
        .await
        .map_err(backend)?;
        observe::commit(tx, &self.observer).await?;
        Ok(n as u64)
    }

    async fn push_days(&self, lid: &str, since: i64) -> Result<Vec<PushDay>, StorageError> {
        pg_push_days(&self.client().await?, lid, since).await
    }

    fn set_observer(&self, observer: std::sync::Arc<dyn StorageObserver>) {
        self.observer.set(observer);
    }

    async fn size_bytes(&self) -> Result<Option<u64>, StorageError> {
        Ok(Some(observe::size_bytes(&self.client().await?).await?))
    }

    async fn devices(&self, license_id: &str) -> Result<Option<Vec<DeviceInfo>>, StorageError> {
        let c = self.client().await?;
        let known = c
            .query_opt(
                "SELECT 1 FROM licenses WHERE license_id = $1",
                &[&license_id],
            )
            .await
            .map_err(backend)?;
        if known.is_none() {
            return Ok(None);
        }
        let rows = c
            .query(
                "SELECT device_id, name, created_at, last_push_at, last_pull_at, blob_count,
                        sealed_bytes, revoked_at IS NOT NULL
                 FROM devices WHERE license_id = $1 ORDER BY created_at, ord",
                &[&license_id],
            )
            .await
            .map_err(backend)?;
        Ok(Some(
            rows.iter()
                .map(|r| DeviceInfo {
                    device_id: r.get(0),
                    name: r.get(1),
                    created_at: r.get(2),
                    last_push_at: r.get(3),
                    last_pull_at: r.get(4),
                    blob_count: r.get::<_, i64>(5) as u64,
                    sealed_bytes: r.get::<_, i64>(6) as u64,
                    revoked: r.get(7),
                })
                .collect(),
        ))
    }
}
