//! `libazmx_sync`: the one native library. Thin bridges only; all logic is in
//! `azmx-sync-core`.
//!
//! - [`uniffi_api`]: uniffi proc-macro exports for Python, Kotlin and Swift.
//! - [`c_api`]: the hand-shaped C ABI whose header is `include/azmx_sync.h`.

// The uniffi namespace: the Python module `azmx_sync`, and the default
// Kotlin/Swift names (renamed in the root `uniffi.toml`).
uniffi::setup_scaffolding!("azmx_sync");

pub mod c_api;
pub mod uniffi_api;
