//! What makes a commit durable off the writer thread: the pipelined WAL
//! fsync (and its test hook) and the checkpointer.

use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::Connection;

use super::commit::{fail_all, Committed, Shared};
use super::schema::configure;

/// Writes between checkpoint requests (a 4 KiB push is ~3 WAL frames).
pub(super) const CHECKPOINT_EVERY_WRITES: u64 = 1000;
/// Past this many WAL frames still not checkpointed, the checkpointer
/// briefly blocks the writer (RESTART) so the WAL cannot grow without bound.
const WAL_RESTART_FRAMES: i64 = 65_536;

/// Lists and answers committed writes once an fsync of the WAL file,
/// started after their commit returned, has succeeded. Coalesces every
/// batch waiting. After a failure nothing is fsynced, listed or
/// acknowledged again (a later fsync may "succeed" over lost pages).
pub(super) fn sync_loop(
    wal: PathBuf,
    rx: std::sync::mpsc::Receiver<Committed>,
    hook: SyncHook,
    shared: Arc<Shared>,
) {
    let mut file: Option<std::fs::File> = None;
    while let Ok(first) = rx.recv() {
        let (mut shown, mut acks) = (first.shown, first.acks);
        while let Ok(more) = rx.try_recv() {
            shown.extend(more.shown);
            acks.extend(more.acks);
        }
        if let Some(e) = shared.failed() {
            fail_all(acks, &e);
            continue;
        }
        let r = (|| {
            if file.is_none() {
                file = Some(std::fs::File::open(&wal)?);
            }
            let f = file
                .as_ref()
                .ok_or_else(|| std::io::Error::other("no WAL"))?;
            let len = hook.before_fsync(f)?;
            let started = std::time::Instant::now();
            f.sync_data()?;
            shared.observer.wal_fsync(started.elapsed());
            hook.synced(len);
            Ok::<(), std::io::Error>(())
        })();
        match r {
            Ok(()) => {
                shared.publish(shown);
                acks.into_iter().for_each(|d| d(Ok(())));
            }
            Err(e) => {
                let e = shared.fail(&format!("fsync of the WAL failed: {e}"));
                fail_all(acks, &e);
            }
        }
    }
}

/// Test-only fault injection on the pipelined WAL fsync: hold it (to
/// observe a committed but not yet durable write), fail it, and report how
/// much of the WAL the last successful fsync covered (to simulate a power
/// loss by truncating the WAL there). A no-op outside unit tests.
#[derive(Clone, Default)]
pub(super) struct SyncHook {
    #[cfg(test)]
    pub(super) inner: Option<Arc<super::tests::HookState>>,
}

impl SyncHook {
    pub(super) fn none() -> Self {
        Self::default()
    }

    /// Blocks while the test holds the fsync; errors when it injects a
    /// failure. Returns the WAL length the coming fsync will cover.
    #[cfg_attr(not(test), allow(clippy::unused_self))]
    fn before_fsync(&self, _f: &std::fs::File) -> std::io::Result<u64> {
        #[cfg(test)]
        if let Some(h) = &self.inner {
            let len = _f.metadata()?.len();
            h.before_fsync()?;
            return Ok(len);
        }
        Ok(0)
    }

    #[cfg_attr(not(test), allow(clippy::unused_self))]
    fn synced(&self, _len: u64) {
        #[cfg(test)]
        if let Some(h) = &self.inner {
            h.synced(_len);
        }
    }
}

/// Checkpoints the WAL off the writer thread (the writer's own automatic
/// checkpoint is off, so a commit never pays for copying pages into the
/// database file).
pub(super) fn checkpoint_loop(
    path: PathBuf,
    rx: std::sync::mpsc::Receiver<()>,
    shared: Arc<Shared>,
) {
    let Ok(conn) = Connection::open(&path) else {
        return;
    };
    if configure(&conn).is_err() {
        return;
    }
    while rx.recv().is_ok() {
        if shared.failed.get().is_some() {
            return;
        }
        let r: rusqlite::Result<(i64, i64, i64)> =
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            });
        match r {
            Ok((_, log, done)) if log - done > WAL_RESTART_FRAMES => {
                let _ = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sqlite: checkpoint failed"),
        }
    }
}
