//! Fixtures several test crates share, so each is written once:
//! - [`RelayProcess`]: a relay (the `azmx-sync-relay` binary, `azmx-sync
//!   relay serve`, or any child that announces its URL on its first stdout
//!   line) on a loopback port, killed when dropped;
//! - [`MemStore`]: a host store kept in memory.

mod process;
mod stores;

pub use process::{RelayProcess, LISTENING};
pub use stores::MemStore;
