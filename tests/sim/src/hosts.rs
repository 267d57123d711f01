//! How a receiving store answers the engine's reads, for the tests that
//! hold a keyed read, a whole read and a failing keyed read to the same
//! outcome (`pull_keys.rs`, `page_chunks.rs`).

use std::sync::Arc;

use azmx_sync_core::engine::{ChangeSet, HostError, StoreAdapter};
use azmx_sync_core::merge::{Change, Record, RecordKey};

use crate::SimStore;

/// What a store can tell the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// `changes_since` and `snapshot_keys` (the sim's store).
    Keyed,
    /// Neither: the trait's defaults ("cannot tell", a filtered snapshot).
    Plain,
    /// Says what changed, but every keyed read fails.
    KeyedReadFails,
}

/// A [`SimStore`] seen through one [`Host`] mode.
pub struct HostView {
    pub store: Arc<SimStore>,
    pub host: Host,
}

impl StoreAdapter for HostView {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        self.store.snapshot()
    }
    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
        self.store.apply(changes)
    }
    fn changes_since(&self, token: Option<&[u8]>) -> Result<Option<ChangeSet>, HostError> {
        match self.host {
            Host::Plain => Ok(None),
            _ => self.store.changes_since(token),
        }
    }
    fn snapshot_keys(&self, keys: &[RecordKey]) -> Result<Vec<Record>, HostError> {
        match self.host {
            Host::Keyed => self.store.snapshot_keys(keys),
            Host::KeyedReadFails => Err(HostError::new("keyed read refused")),
            // The trait's default: the whole store, filtered.
            Host::Plain => {
                let all = self.store.snapshot()?;
                Ok(all
                    .into_iter()
                    .filter(|r| keys.contains(&r.key()))
                    .collect())
            }
        }
    }
}
