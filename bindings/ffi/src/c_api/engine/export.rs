//! Encrypted export files.

use std::ffi::c_char;

use super::super::error::AzmxStatus;
use super::super::guard::{ffi_boundary, path as os_path, put_opt, CallResult};
use super::{engine_ref, AzmxSyncEngine};

/// Writes every registered store to an encrypted export file at `path`
/// (0600); `*out_records` (may be NULL) gets the number of records.
///
/// Errors: `NO_RECEIPT`, `NOT_REGISTERED`, `HOST_CALLBACK_FAILED`,
/// `STATE_DIR` / `EXPORT_FORMAT` (the file cannot be written).
///
/// # Safety
/// `engine` a live handle; `path` NUL-terminated; `out_records` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_export(
    engine: *const AzmxSyncEngine,
    path: *const c_char,
    out_records: *mut u64,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_engine_export", unsafe {
        export_import(engine, path, out_records, true)
    })
}

/// Merges an export file into the registered stores with their contracts
/// (idempotent); `*out_records` (may be NULL) gets the number of changes
/// applied (0 when the stores already had everything).
///
/// Errors: `EXPORT_FORMAT` (not an export, or another license's),
/// `WRONG_RECEIPT` (made with another receipt), `NO_RECEIPT`,
/// `HOST_CALLBACK_FAILED`, `STATE_DIR` (cannot read the file).
///
/// # Safety
/// As [`azmx_engine_export`].
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_import(
    engine: *const AzmxSyncEngine,
    path: *const c_char,
    out_records: *mut u64,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_engine_import", unsafe {
        export_import(engine, path, out_records, false)
    })
}

/// # Safety
/// As [`azmx_engine_export`].
unsafe fn export_import(
    engine: *const AzmxSyncEngine,
    path: *const c_char,
    out_records: *mut u64,
    export: bool,
) -> CallResult {
    // SAFETY: the pointers are NULL or valid per the contract.
    unsafe {
        put_opt(out_records, 0);
        let e = engine_ref(engine)?;
        let path = os_path(path, "path")?;
        let n = if export {
            e.inner.export_to(path)?
        } else {
            e.inner.import_from(path)?
        };
        put_opt(out_records, n);
    }
    Ok(())
}
