//! What the PostgreSQL store reports for the metrics: each write
//! transaction's `COMMIT` (PostgreSQL has no group commit of the relay's
//! own: every write is one transaction, its WAL flushed before `COMMIT`
//! returns with `synchronous_commit = on`) and the size of the relay's
//! tables.

use std::time::Instant;

use deadpool_postgres::{Object, Transaction};

use super::postgres::backend;
use super::{ObserverSlot, StorageError};

/// Commits `tx`, telling `observer` how long the `COMMIT` took.
pub(super) async fn commit(
    tx: Transaction<'_>,
    observer: &ObserverSlot,
) -> Result<(), StorageError> {
    let started = Instant::now();
    tx.commit().await.map_err(backend)?;
    observer.commit(1, started.elapsed());
    Ok(())
}

/// Bytes of the tables in the relay's schema, their indexes and TOAST
/// included: one catalog query over a handful of rows, whatever the
/// database holds besides.
pub(super) async fn size_bytes(c: &Object) -> Result<u64, StorageError> {
    let row = c
        .query_one(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')",
            &[],
        )
        .await
        .map_err(backend)?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}
