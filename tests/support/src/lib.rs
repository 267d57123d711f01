//! Fixtures several test crates share, so each is written once:
//! - [`RelayProcess`]: a relay (the `azmx-sync-relay` binary, `azmx-sync
//!   relay serve`, or any child that announces its URL on its first stdout
//!   line) on a loopback port, killed when dropped;
//! - [`RemoteDevice`] and the functions of [`client`]: signed requests
//!   built by hand from the wire contract, sent with ureq;
//! - [`output_ok`], [`printed_key`]: running a relay command to its end;
//! - [`MemStore`]: a host store kept in memory.

pub mod client;
mod process;
mod stores;

pub use client::{unix_now, RemoteDevice};
pub use process::{output_ok, printed_key, RelayProcess, LISTENING};
pub use stores::MemStore;
