//! The C ABI. Its header, `include/azmx_sync.h`, is generated from this
//! module by cbindgen 0.29.4 (`cbindgen.toml` at the repository root) and
//! committed; `scripts/test.d/20-c.sh` regenerates it and fails on any
//! difference.
//!
//! Conventions, identical for every entry point:
//!
//! - Every fallible function returns an [`AzmxStatus`](error::AzmxStatus).
//!   `AzmxStatus_OK` is 0. On failure, [`azmx_last_error_message`] gives a
//!   human-readable message (thread-local, never containing a receipt, key
//!   bytes, a private key or record contents).
//! - Every entry point runs behind a panic boundary: a Rust panic never
//!   unwinds into C; it becomes `AzmxStatus_PANIC`.
//! - Opaque handles ([`AzmxEnvelopeKey`](key::AzmxEnvelopeKey),
//!   [`AzmxDeviceIdentity`](identity::AzmxDeviceIdentity),
//!   [`AzmxSyncEngine`](engine::AzmxSyncEngine)) are created by
//!   the library and released with their `_free` function. There is no
//!   function that returns key bytes or the private key.
//! - Variable-size results are library-owned [`AzmxBuffer`](buffer::AzmxBuffer)s,
//!   released with [`azmx_buffer_free`](buffer::azmx_buffer_free) (which
//!   wipes them). Text results are NUL-terminated. Out-parameters are reset
//!   (NULL / empty buffer) on entry, so they can always be freed.
//! - Bulk seal/open also exist with caller-owned output buffers
//!   (`_into` functions), with a size query through `out_len`.
//! - Byte inputs are `(pointer, length)`; a NULL pointer is accepted only
//!   with length 0. Text inputs are NUL-terminated UTF-8.
//! - The sync engine ([`engine`]) calls back into the host through structs
//!   of function pointers plus `void *user_data` ([`host`]): store
//!   adapters and optionally an HTTP transport. Records cross as JSON text.
//!   A callback returning nonzero becomes a typed status, never undefined
//!   behaviour; callbacks may run on the engine's scheduler thread once
//!   `azmx_engine_start` was called (thread rules: [`host`]).
//! - Status and enum *inputs* are plain integers (`uint32_t`/`int32_t`) so
//!   that an out-of-range value from C is an error, never undefined
//!   behaviour.

// Every unsafe operation sits in its own block with a `// SAFETY:` comment.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

// cbindgen writes the functions module by module in declaration order
// (the header's order): `host` stays right after `engine`.
pub mod buffer;
pub mod engine;

pub mod host;

pub mod error;
pub(crate) mod guard;
pub mod identity;
pub mod integrity;

// The key's generated entry points (bindings/exports.toml) come before the
// `_into` functions of key.rs in the header, so they are a module of their
// own declared first.
#[path = "key/generated.rs"]
pub mod key_generated;

pub mod key;
pub mod merge;

use std::ffi::c_char;

pub use buffer::{azmx_buffer_free, AzmxBuffer};
pub use engine::{AzmxCycleReport, AzmxEngineConfig, AzmxSyncEngine};
pub use error::{azmx_last_error_message, azmx_status_name, AzmxStatus};
pub use host::{AzmxChange, AzmxHttpTransport, AzmxStoreAdapter};
pub use identity::AzmxDeviceIdentity;
pub use key::AzmxEnvelopeKey;

/// Bytes a sealed envelope adds to its plaintext: version (1) + IV (12) +
/// GCM tag (16).
pub const AZMX_ENVELOPE_OVERHEAD: usize = 29;
/// The envelope format version byte.
pub const AZMX_ENVELOPE_VERSION: u8 = 1;
/// Length of a SHA-256 digest in lowercase hex, without the NUL terminator.
pub const AZMX_SHA256_HEX_LEN: usize = 64;
/// The relay's allowed clock skew for signed requests, in seconds (±5 min).
pub const AZMX_MAX_SKEW_SECS: i64 = 300;

// The header's constants are literals (cbindgen cannot evaluate paths); keep
// them tied to the core.
const _: () = assert!(AZMX_ENVELOPE_OVERHEAD == azmx_sync_core::MIN_ENVELOPE_LEN);
const _: () = assert!(AZMX_ENVELOPE_VERSION == azmx_sync_core::ENVELOPE_VERSION);
const _: () = assert!(AZMX_MAX_SKEW_SECS == azmx_sync_core::MAX_SKEW_SECS);

/// The library version, e.g. `"0.1.0"`: a static NUL-terminated string.
#[no_mangle]
pub extern "C" fn azmx_version() -> *const c_char {
    // SAFETY (extern "C"): takes nothing and returns a pointer to a static,
    // NUL-terminated string; nothing here can panic.
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
