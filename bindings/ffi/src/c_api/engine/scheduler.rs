//! The background scheduler.

use super::super::error::AzmxStatus;
use super::super::guard::ffi_boundary;
use super::{engine_ref, AzmxSyncEngine};

/// Starts the background scheduler (one thread; a cycle every 5 minutes by
/// default, backing off on failures, skipped while hidden). From now on
/// store and transport callbacks may run on that thread. Idempotent.
///
/// # Safety
/// `engine` a live handle.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_start(engine: *const AzmxSyncEngine) -> AzmxStatus {
    ffi_boundary!("azmx_engine_start", {
        // SAFETY: `engine` is NULL or a live handle, as the contract above says.
        unsafe { engine_ref(engine) }.map(|e| e.inner.start())
    })
}

/// Stops the background scheduler, waiting for a running cycle. Idempotent.
///
/// # Safety
/// `engine` a live handle; not called from a callback of this engine.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_stop(engine: *const AzmxSyncEngine) -> AzmxStatus {
    ffi_boundary!("azmx_engine_stop", {
        // SAFETY: `engine` is NULL or a live handle, as the contract above says.
        unsafe { engine_ref(engine) }.map(|e| e.inner.stop())
    })
}

/// Wakes the scheduler to run a cycle soon, without blocking (no-op when
/// it is not started).
///
/// # Safety
/// `engine` a live handle.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_trigger(engine: *const AzmxSyncEngine) -> AzmxStatus {
    ffi_boundary!("azmx_engine_trigger", {
        // SAFETY: `engine` is NULL or a live handle, as the contract above says.
        unsafe { engine_ref(engine) }.map(|e| e.inner.trigger())
    })
}

/// Tells the engine whether the app is visible (nonzero) or hidden (0):
/// hidden apps skip background cycles; `azmx_engine_sync_now` still runs.
///
/// # Safety
/// `engine` a live handle.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_set_visible(
    engine: *const AzmxSyncEngine,
    visible: i32,
) -> AzmxStatus {
    ffi_boundary!("azmx_engine_set_visible", {
        // SAFETY: `engine` is NULL or a live handle, as the contract above says.
        unsafe { engine_ref(engine) }.map(|e| e.inner.set_visible(visible != 0))
    })
}

/// Sets the background interval in seconds (clamped to 30 s – 60 min).
///
/// # Safety
/// `engine` a live handle.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_set_interval_secs(
    engine: *const AzmxSyncEngine,
    secs: u64,
) -> AzmxStatus {
    ffi_boundary!("azmx_engine_set_interval_secs", {
        // SAFETY: `engine` is NULL or a live handle, as the contract above says.
        unsafe { engine_ref(engine) }.map(|e| e.inner.set_interval_secs(secs))
    })
}
