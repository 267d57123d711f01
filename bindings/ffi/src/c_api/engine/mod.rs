//! The sync engine across the C ABI: an opaque [`AzmxSyncEngine`] handle
//! wrapping `azmx_sync_bridge::Engine`, the method set every binding
//! exposes. These modules only convert C arguments and results.
//!
//! A minimal host (error handling left out):
//!
//! ```c
//! AzmxEngineConfig cfg = {.struct_size = sizeof cfg, .state_dir = "/path/state",
//!                         .relay_url = "http://127.0.0.1:8787",
//!                         .license_id = "lic_team", .device_name = "laptop"};
//! AzmxSyncEngine *e; azmx_engine_new(&cfg, &e);          // built-in HTTP transport
//! AzmxStoreAdapter store = {&my_store, my_snapshot, my_apply};
//! azmx_engine_register_store(e, "snippets", &store);
//! AzmxBuffer dev = {0}; azmx_engine_register(e, license_key, &dev); azmx_buffer_free(&dev);
//! azmx_engine_set_receipt(e, receipt_buf, receipt_len);   // wipes receipt_buf
//! AzmxCycleReport r; azmx_engine_sync_now(e, &r);
//! azmx_engine_free(e);
//! ```
//!
//! Every call blocks (network, key derivation): keep them off a UI thread.
//! One handle may be used from several threads at once, except
//! `azmx_engine_free`. Callback rules: see [`host`](super::host).
//! Errors are typed statuses (`WRONG_RECEIPT`, `REVOKED`,
//! `RELAY_UNREACHABLE`, `HOST_CALLBACK_FAILED`, `DECRYPT_FAILED`,
//! `BLOB_INTEGRITY`, `CLOCK_SKEW`...); messages never carry the receipt,
//! the license key, key bytes or record contents.
//!
//! The submodules follow the order of the header: lifecycle, stores,
//! sync, scheduler, queries, export, device.

use azmx_sync_bridge::{ApiError, Engine};

use super::guard::handle;

// cbindgen writes the functions module by module in declaration order:
// one group per module keeps rustfmt from sorting them, and the header's
// order from changing.
pub mod lifecycle;

pub mod stores;

pub mod sync;

pub mod scheduler;

pub mod queries;

pub mod export;

pub mod device;

pub use device::*;
pub use export::*;
pub use lifecycle::*;
pub use queries::*;
pub use scheduler::*;
pub use stores::*;
pub use sync::*;

/// A device's sync engine. Created by [`azmx_engine_new`], released by
/// [`azmx_engine_free`]. Thread-safe except for `azmx_engine_free`.
pub struct AzmxSyncEngine {
    inner: Engine,
    relay_url: Option<String>,
    license_id: Option<String>,
    device_name: Option<String>,
}

/// Borrows the engine behind a handle.
///
/// # Safety
/// `engine` must be NULL or a live handle from `azmx_engine_new` that is
/// not being freed.
unsafe fn engine_ref<'a>(engine: *const AzmxSyncEngine) -> Result<&'a AzmxSyncEngine, ApiError> {
    // SAFETY: per the contract; the engine synchronises inside.
    unsafe { handle(engine, "engine") }
}
