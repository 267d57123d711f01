//! This device's id and key fingerprint.

use azmx_sync_bridge::ApiError;

use super::super::buffer::AzmxBuffer;
use super::super::error::AzmxStatus;
use super::super::guard::ffi_boundary;
use super::{engine_ref, AzmxSyncEngine};

/// Puts this device's id (NUL-terminated) in `out_device_id`.
/// Errors: `NOT_REGISTERED`.
///
/// # Safety
/// `engine` a live handle; `out_device_id` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_device_id(
    engine: *const AzmxSyncEngine,
    out_device_id: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_engine_device_id", out_device_id => unsafe {
        Ok(engine_ref(engine)?.inner.device_id().ok_or(ApiError::NotRegistered)?)
    })
}

/// Puts the device key's fingerprint (public, NUL-terminated) in
/// `out_fingerprint`, the same as `azmx_device_identity_fingerprint`.
///
/// # Safety
/// `engine` a live handle; `out_fingerprint` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_fingerprint(
    engine: *const AzmxSyncEngine,
    out_fingerprint: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_engine_fingerprint", out_fingerprint => unsafe {
        Ok(engine_ref(engine)?.inner.fingerprint())
    })
}
