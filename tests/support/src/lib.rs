//! Fixtures several test crates share, so each is written once:
//! - [`RelayProcess`]: a relay (the `azmx-sync-relay` binary, `azmx-sync
//!   relay serve`, or any child that announces its URL on its first stdout
//!   line) on a loopback port, killed when dropped;
//! - [`RemoteDevice`] and the functions of [`client`]: signed requests
//!   built by hand from the wire contract, sent with ureq;
//! - [`output_ok`], [`printed_key`]: running a relay command to its end;
//! - [`MemStore`]: a host store kept in memory;
//! - [`TestPki`]: a test CA and a relay certificate signed by it, made at
//!   test time (also the `azmx-test-certs` binary, for the Python tests).

pub mod client;
mod process;
mod stores;
mod tls;

pub use client::{unix_now, RemoteDevice};
pub use process::{output_ok, printed_key, RelayProcess, LISTENING};
pub use stores::MemStore;
pub use tls::TestPki;
