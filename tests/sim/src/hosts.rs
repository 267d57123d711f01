//! What the tests of the engine's reads share (`pull_keys.rs`,
//! `page_chunks.rs`, `change_tokens.rs`): the ways a receiving store can
//! answer them ([`Host`]), an engine that reads only when a test asks, and
//! the notes they write.

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

/// An engine registered with `relay` over one store, with no checkpoint
/// and no periodic full read in a test's few cycles: every whole read a
/// test counts is the one under test.
pub fn engine_reading_only_on_demand(
    relay: &crate::SimRelay,
    name: &str,
    store: Arc<dyn StoreAdapter>,
) -> (azmx_sync_core::engine::SyncEngine, tempfile::TempDir) {
    use azmx_sync_core::engine::{EngineConfig, SyncEngine, UreqTransport};
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = EngineConfig::new(dir.path());
    config.checkpoint_every = 1000;
    config.full_snapshot_every = 1000;
    let transport = Arc::new(UreqTransport::new(std::time::Duration::from_secs(60)));
    let engine = SyncEngine::new(config, transport).expect("engine");
    engine.register_store(crate::spec(0), store).expect("store");
    engine
        .register(&relay.url, &relay.license_id, &relay.license_key, name)
        .expect("registered");
    engine.set_envelope_key(crate::envelope_key(&relay.license_id));
    (engine, dir)
}

/// The time the reading tests write at: `at` ms after it.
pub const T0: i64 = 1_700_000_000_000;

/// A note of the reading tests: scope `h`, body `{"text": …}`, written
/// `at` ms after [`T0`] by `device`.
pub fn note(id: &str, text: &str, at: i64, device: &str) -> Record {
    Record::new(
        id,
        Some("h".into()),
        T0 + at,
        None,
        device,
        serde_json::json!({ "text": text }),
    )
}

/// The delete of [`note`] `id`, `at` ms after [`T0`] by `device`.
pub fn deleted_note(id: &str, at: i64, device: &str) -> Record {
    Record::tombstone(id, Some("h".into()), T0 + at, None, device)
}
