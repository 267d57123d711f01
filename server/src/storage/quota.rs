//! Per-license storage quotas: the limit, and the locked read of a
//! license's totals the PostgreSQL push makes (SQLite reads them on its
//! single writer thread, where nothing can move them meanwhile).

use deadpool_postgres::GenericClient;

use super::postgres::backend;
use super::StorageError;

/// A per-license storage quota, checked by [`Storage::push_within`] in
/// the push's own atomic step. Totals are over every device of the license
/// (revoked ones included: their blobs still take room) and shrink when
/// blobs are pruned. `0` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quota {
    /// Most sealed bytes stored per license.
    pub max_bytes: u64,
    /// Most blobs stored per license.
    pub max_blobs: u64,
}

impl Quota {
    /// No limit.
    pub const UNLIMITED: Self = Self {
        max_bytes: 0,
        max_blobs: 0,
    };

    /// Whether the quota limits anything (a backend skips the totals
    /// otherwise).
    pub fn is_limited(&self) -> bool {
        self.max_bytes != 0 || self.max_blobs != 0
    }

    /// Whether one more blob of `size` bytes on top of `used_*` fits.
    pub fn admits(&self, used_bytes: u64, used_blobs: u64, size: u64) -> bool {
        let bytes_ok = self.max_bytes == 0 || used_bytes.saturating_add(size) <= self.max_bytes;
        let blobs_ok = self.max_blobs == 0 || used_blobs.saturating_add(1) <= self.max_blobs;
        bytes_ok && blobs_ok
    }
}

/// The license's stored bytes and blob count, read after locking its row
/// (`FOR NO KEY UPDATE`, the lock the position counter's `UPDATE` takes
/// anyway, so pushes of one license were already serialised from there to
/// commit; registration's foreign-key `KEY SHARE` lock does not conflict).
/// The sum runs as its own statement so its snapshot, taken after the lock
/// was granted, sees every push that committed while this one waited.
pub(super) async fn pg_license_totals(
    tx: &impl GenericClient,
    license_id: &str,
) -> Result<(u64, u64), StorageError> {
    let lock = tx
        .prepare_cached("SELECT 1 FROM licenses WHERE license_id = $1 FOR NO KEY UPDATE")
        .await
        .map_err(backend)?;
    tx.query_opt(&lock, &[&license_id]).await.map_err(backend)?;
    let sum = tx
        .prepare_cached(
            "SELECT COALESCE(SUM(sealed_bytes), 0)::BIGINT, COALESCE(SUM(blob_count), 0)::BIGINT
             FROM devices WHERE license_id = $1",
        )
        .await
        .map_err(backend)?;
    let row = tx.query_one(&sum, &[&license_id]).await.map_err(backend)?;
    let (bytes, blobs): (i64, i64) = (row.get(0), row.get(1));
    Ok((bytes.max(0) as u64, blobs.max(0) as u64))
}
