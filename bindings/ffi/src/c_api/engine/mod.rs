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
//! The entry points that only convert arguments and results are generated
//! from `bindings/exports.toml` into [`generated`] (`cargo run -p xtask --
//! gen-bindings`); the result conversions they use are here, once per type.
//! Hand-written, in the header's order before them: [`lifecycle`] (the
//! config struct), [`stores`] (host adapters), [`sync`] (register with the
//! config's relay settings, the cycle report).

use azmx_sync_bridge::engine::{CycleReport, DeviceInfo, EngineStatus};
use azmx_sync_bridge::events::EventView;
use azmx_sync_bridge::{ApiError, Engine};

use super::guard::{handle, json_text, put_opt, CallResult};

// cbindgen writes the functions module by module in declaration order:
// one group per module keeps rustfmt from sorting them, and the header's
// order from changing.
pub mod lifecycle;

pub mod stores;

pub mod sync;

pub mod generated;

pub use generated::*;
pub use lifecycle::*;
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

/// A facade result as the NUL-terminated text C gets in an `AzmxBuffer`:
/// records as JSON, the core's camelCase.
trait CText {
    fn c_text(self) -> Result<String, ApiError>;
}

impl CText for String {
    fn c_text(self) -> Result<String, ApiError> {
        Ok(self)
    }
}

/// This device's id: C has no "none" text, so unregistered is an error.
impl CText for Option<String> {
    fn c_text(self) -> Result<String, ApiError> {
        self.ok_or(ApiError::NotRegistered)
    }
}

impl CText for EngineStatus {
    fn c_text(self) -> Result<String, ApiError> {
        json_text(serde_json::to_string(&self), "status")
    }
}

impl CText for Vec<DeviceInfo> {
    fn c_text(self) -> Result<String, ApiError> {
        json_text(serde_json::to_string(&self), "devices")
    }
}

/// The events as the activity log writes them (`{"atMs", "type", ...}`,
/// without the severity the other bindings show).
impl CText for Vec<EventView> {
    fn c_text(self) -> Result<String, ApiError> {
        let events: Vec<String> = self.into_iter().map(|e| e.json).collect();
        Ok(format!("[{}]", events.join(",")))
    }
}

/// A facade result C gets through an optional out-pointer (NULL: not
/// wanted), which holds [`COut::failed`] unless the call succeeds.
trait COut: Default + Into<Self::C> {
    type C;
    /// What a failed call leaves: the C form of the default result.
    fn failed() -> Self::C {
        Self::default().into()
    }
}

impl COut for u64 {
    type C = u64;
}

/// `pushed_seq` -1 and zeros on failure.
impl COut for CycleReport {
    type C = AzmxCycleReport;
}

/// Resets `out`, runs `body` and stores its result in `out`.
///
/// # Safety
/// `out` must be NULL or valid for a write of `T::C`.
unsafe fn fill_opt<T: COut>(
    out: *mut T::C,
    body: impl FnOnce() -> Result<T, ApiError>,
) -> CallResult {
    // SAFETY: NULL or writable per the contract.
    unsafe {
        put_opt(out, T::failed());
        put_opt(out, body()?.into());
    }
    Ok(())
}
