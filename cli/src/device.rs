//! A device: the engine on a state directory, with the CLI's stores
//! (`store.rs`: SQLite tables and the memory folder) registered. Every
//! device command opens one.

use std::path::{Path, PathBuf};

use azmx_sync_core::engine::{EngineConfig, SyncEngine, SyncError, STATE_FILE};

use crate::error::{CliError, CliResult};
use crate::memory_folder::location;
use crate::receipt::{self, ReceiptArgs};
use crate::store::Stores;

/// An engine on a state directory, with the SQLite stores registered.
pub struct Device {
    pub engine: SyncEngine,
    pub stores: Stores,
}

impl Device {
    /// Opens (creating if needed) the device in `state_dir`: for `init`.
    pub fn create(state_dir: &Path) -> CliResult<Self> {
        Self::create_with(EngineConfig::new(state_dir))
    }

    /// A device whose memory is `memory_dir`, whatever was configured (the demo's).
    pub fn create_in(state_dir: &Path, memory_dir: PathBuf) -> CliResult<Self> {
        Self::build(EngineConfig::new(state_dir), memory_dir)
    }

    /// Opens an initialised device; "not initialised" (creating nothing)
    /// when the state directory has no registration.
    pub fn open(state_dir: &Path) -> CliResult<Self> {
        Self::open_with(EngineConfig::new(state_dir))
    }

    pub fn open_with(config: EngineConfig) -> CliResult<Self> {
        if !config.state_dir.join(STATE_FILE).is_file() {
            return Err(CliError::not_initialised());
        }
        Self::create_with(config)
    }

    fn create_with(config: EngineConfig) -> CliResult<Self> {
        let memory_dir = location::resolve(&config.state_dir)?;
        Self::build(config, memory_dir)
    }

    fn build(config: EngineConfig, memory_dir: PathBuf) -> CliResult<Self> {
        let state_dir = config.state_dir.clone();
        let engine = crate::relay_tls::engine(config)?;
        location::remember(&state_dir, &memory_dir)?;
        let stores = Stores::open(&state_dir, &memory_dir)?;
        for (spec, adapter) in stores.adapters() {
            engine
                .register_store(spec, adapter)
                .map_err(|e| CliError::from_sync(e, None))?;
        }
        let dev = Self { engine, stores };
        if let Some(id) = dev.engine.device_id() {
            dev.registered_as(&id)?;
        }
        Ok(dev)
    }

    /// Once the device has an id: its memory folder's index is named by
    /// it, and memory kept in SQLite by an earlier version moves there.
    pub fn registered_as(&self, id: &str) -> CliResult {
        self.stores.memory.set_device_id(id);
        self.stores.migrate_memory()
    }

    pub fn relay_url(&self) -> Option<String> {
        self.engine.status().relay_url
    }

    /// The device id, or "not initialised".
    pub fn require_id(&self) -> CliResult<String> {
        self.engine
            .device_id()
            .ok_or_else(CliError::not_initialised)
    }

    pub fn sync_err(&self, e: SyncError) -> CliError {
        CliError::from_sync(e, self.relay_url().as_deref())
    }

    /// Gives the engine the receipt (derives the key on a thread).
    pub fn give_receipt(&self, args: &ReceiptArgs) -> CliResult {
        let r = receipt::read_checked(args)?;
        self.engine.set_receipt(r).map_err(|e| self.sync_err(e))
    }
}
