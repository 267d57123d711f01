//! `azmx-sync` for Node.js and Electron: a napi-rs addon over
//! `azmx-sync-core` (no logic here, only conversions), targeting Node-API 4.
//!
//! Module layout (one JS-facing area per file):
//! - [`error`]: typed JS errors with a stable `code` property;
//! - [`key`]: `EnvelopeKey` (derive, deriveAsync, seal, open, sealText,
//!   openText), `sha256Hex`, `verifyBlob`;
//! - [`identity`]: `DeviceIdentity`, `verifySigned`, `fingerprintOf`;
//! - [`merge`]: `mergeRecords`, `builtinStores`, `builtinStore`,
//!   `checkStoreSpec`, `validateTodos`;
//! - [`engine`]: the `SyncEngine` class; JS store adapters called on the JS
//!   thread, and a background schedule on JS timers (see its module doc).

#![deny(clippy::all)]

pub mod engine;
mod error;
pub mod identity;
pub mod key;
pub mod merge;
