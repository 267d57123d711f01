//! uniffi exports (proc-macros, library mode) for Python, Kotlin and Swift.
//!
//! Thin wrappers over the facade `azmx-sync-bridge` (errors, store specs,
//! the engine) and `azmx-sync-core`; no logic of their own beyond type
//! mapping. One file per surface so the engine slots in beside the others:
//!
//! - [`error`]: [`SyncError`], the one typed error of every export;
//! - [`crypto`]: [`EnvelopeKey`](crypto::EnvelopeKey) (derive, seal, open),
//!   `sha256_hex`, `verify_blob`;
//! - [`identity`]: [`DeviceIdentity`](identity::DeviceIdentity) (no way to
//!   get the private key out), `verify_signed`, `fingerprint_of`;
//! - [`merge`]: records, store specs, `merge_records`, `validate_todos`;
//! - [`fast`]: the `extern "C"` bulk-bytes path for seal/open that the
//!   Python (ctypes) and Kotlin (JNA direct mapping) wrappers call on the
//!   same loaded library, taking the key only as its uniffi object handle;
//! - [`engine`]: `SyncEngine` and the host foreign traits.
//!
//! Names in the foreign languages come from the root `uniffi.toml`:
//! Python module `azmx_sync`, Kotlin package `dev.azmx.sync`, Swift module
//! `AzmxSync`.

pub mod crypto;
pub mod engine;
pub mod error;
pub mod fast;
pub mod identity;
pub mod merge;

pub use error::SyncError;
