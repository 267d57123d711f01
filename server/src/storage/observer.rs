//! What a store reports about its own work (group commits, fsyncs) to
//! whoever watches it: the relay's metrics. The store only knows this
//! trait, never the HTTP layer or the metrics crate, and it reports
//! counts and durations, never a license, device or blob.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Receives a store's timings. Called on the store's writer and fsync
/// threads: implementations must be cheap and must not block.
pub trait StorageObserver: Send + Sync + 'static {
    /// One commit of `writes` writes took `commit` (SQLite: the group
    /// commit's `COMMIT`, its WAL fsync included under `durability=full`;
    /// PostgreSQL: one transaction's `COMMIT`, the server's WAL flush
    /// included).
    fn commit(&self, writes: usize, commit: Duration);

    /// An fsync of the write-ahead log that acknowledges committed writes
    /// took `fsync` (SQLite's pipelined durability only).
    fn wal_fsync(&self, fsync: Duration);
}

/// The observer a store was given, if any; set once (the first relay
/// serving a store watches it).
#[derive(Clone, Default)]
pub(crate) struct ObserverSlot(Arc<OnceLock<Arc<dyn StorageObserver>>>);

impl ObserverSlot {
    pub(crate) fn set(&self, observer: Arc<dyn StorageObserver>) {
        let _ = self.0.set(observer);
    }

    pub(crate) fn commit(&self, writes: usize, commit: Duration) {
        if let Some(o) = self.0.get() {
            o.commit(writes, commit);
        }
    }

    pub(crate) fn wal_fsync(&self, fsync: Duration) {
        if let Some(o) = self.0.get() {
            o.wal_fsync(fsync);
        }
    }
}
