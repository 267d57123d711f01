//! What the engine knows: activity, status, the license's devices; and
//! revoking one of them.

use std::ffi::c_char;

use super::super::buffer::AzmxBuffer;
use super::super::error::AzmxStatus;
use super::super::guard::{ffi_boundary, json_text, text};
use super::{engine_ref, AzmxSyncEngine};

/// Puts the `limit` most recent activity events (oldest first) in
/// `out_json`: a JSON array of `{"atMs", "type", ...}` objects (ids,
/// counts, sizes, codes; never record contents, the receipt or keys).
///
/// # Safety
/// `engine` a live handle; `out_json` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_recent_activity(
    engine: *const AzmxSyncEngine,
    limit: u32,
    out_json: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_engine_recent_activity", out_json => unsafe {
        // The core's events as the activity log writes them (the facade's
        // views add a severity C does not show).
        let events = engine_ref(engine)?.inner.core().recent_activity(limit as usize);
        json_text(serde_json::to_string(&events), "events")
    })
}

/// Puts the engine's status in `out_json`: `{"deviceId", "deviceName",
/// "relayUrl", "licenseId", "fingerprint", "nextSeq", "lastCycle",
/// "lastSuccessMs", "outboxPending", "revoked", "clockOffsetSecs",
/// "quarantine", "receiptSet"}`. No network access.
///
/// # Safety
/// `engine` a live handle; `out_json` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_status(
    engine: *const AzmxSyncEngine,
    out_json: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_engine_status", out_json => unsafe {
        json_text(serde_json::to_string(&engine_ref(engine)?.inner.status()), "status")
    })
}

/// Puts the license's devices, as the relay lists them, in `out_json`: a
/// JSON array of `{"deviceId", "name", "createdAt", "lastPushAt",
/// "lastPullAt", "blobCount", "sealedBytes", "revoked"}` (metadata only).
///
/// Errors: `NOT_REGISTERED`, `REVOKED`, the relay errors.
///
/// # Safety
/// `engine` a live handle; `out_json` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_devices(
    engine: *const AzmxSyncEngine,
    out_json: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_engine_devices", out_json => unsafe {
        json_text(serde_json::to_string(&engine_ref(engine)?.inner.devices()?), "devices")
    })
}

/// Revokes a device of this license (e.g. a lost laptop): the relay
/// refuses its key from now on (`REVOKED` on that device).
///
/// # Safety
/// `engine` a live handle; `device_id` NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_revoke(
    engine: *const AzmxSyncEngine,
    device_id: *const c_char,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_engine_revoke", unsafe {
        let e = engine_ref(engine)?;
        e.inner.revoke(text(device_id, "device_id")?)
    })
}
