//! Registering with the relay, the receipt, and one sync cycle.

use std::ffi::c_char;

use azmx_sync_bridge::engine::CycleReport;
use azmx_sync_bridge::ApiError;

use super::super::buffer::AzmxBuffer;
use super::super::error::AzmxStatus;
use super::super::guard::{bytes, ffi_boundary, put_opt, text, utf8, WipeOnDrop};
use super::{engine_ref, AzmxSyncEngine};

/// What one [`azmx_engine_sync_now`] cycle did.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AzmxCycleReport {
    /// Sequence number of the bundle pushed, or -1 when nothing was pushed.
    pub pushed_seq: i64,
    /// Records in the pushed bundle.
    pub pushed_records: u64,
    /// Size of the sealed bundle in bytes.
    pub sealed_bytes: u64,
    /// 1 when the push was a full checkpoint, else 0.
    pub checkpoint: u32,
    /// Bundles pulled from other devices.
    pub pulled_blobs: u64,
    /// Changes handed to the stores' `apply` callbacks.
    pub applied_changes: u64,
    /// Incoming records refused by a store's invariants.
    pub rejected_records: u64,
    /// Bundles that could not be opened and were set aside for a retry.
    pub quarantined: u64,
    /// Wall time of the cycle in milliseconds.
    pub duration_ms: u64,
}

impl From<CycleReport> for AzmxCycleReport {
    fn from(r: CycleReport) -> Self {
        Self {
            pushed_seq: r
                .pushed_seq
                .map_or(-1, |s| i64::try_from(s).unwrap_or(i64::MAX)),
            pushed_records: r.pushed_records,
            sealed_bytes: r.sealed_bytes,
            checkpoint: u32::from(r.checkpoint),
            pulled_blobs: r.pulled_blobs,
            applied_changes: r.applied_changes,
            rejected_records: r.rejected_records,
            quarantined: r.quarantined,
            duration_ms: r.duration_ms,
        }
    }
}

/// Registers this device with the relay of the engine's config
/// (`relay_url`, `license_id`, `device_name`, all required here) using the
/// license key; puts the device id (NUL-terminated) in `out_device_id`.
/// Idempotent for the same device key. The license key is not kept.
///
/// Errors: `NULL_POINTER`, `INVALID_ARGUMENT` (a config field missing),
/// `MALFORMED_FIELD` (license id or device name), `RELAY_UNREACHABLE`,
/// `RELAY_ERROR` (e.g. a wrong license key), `CLOCK_SKEW`, `RATE_LIMITED`,
/// `REVOKED`, `STATE_DIR`.
///
/// # Safety
/// `engine` a live handle; `license_key` NUL-terminated; `out_device_id`
/// writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_register(
    engine: *const AzmxSyncEngine,
    license_key: *const c_char,
    out_device_id: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_engine_register", out_device_id => unsafe {
        let e = engine_ref(engine)?;
        let key = text(license_key, "license_key")?;
        let need = |v: &Option<String>, what: &str| {
            v.clone().ok_or_else(|| {
                ApiError::invalid_argument(format!(
                    "`config.{what}` was NULL: it is needed to register"
                ))
            })
        };
        let url = need(&e.relay_url, "relay_url")?;
        let lid = need(&e.license_id, "license_id")?;
        let name = need(&e.device_name, "device_name")?;
        e.inner.register(&url, &lid, key.to_string(), &name)
    })
}

/// Gives the engine the recovery receipt (after registering). The envelope
/// key is derived on a background thread (~100 ms; the next sync waits for
/// it); the receipt is never stored and the key never leaves the library.
///
/// The receipt is `receipt_len` bytes of UTF-8 (no NUL needed). **The
/// receipt buffer is overwritten with zeros before this returns**, on
/// success and on every failure, whenever `receipt` is not NULL.
///
/// Errors: `NULL_POINTER`, `INVALID_ARGUMENT` (not UTF-8),
/// `NOT_REGISTERED`. A wrong receipt is reported by the next
/// `azmx_engine_verify_receipt` or sync (`WRONG_RECEIPT`); an empty one as
/// `EMPTY_RECEIPT`.
///
/// # Safety
/// `engine` a live handle; `receipt` NULL (only with length 0) or valid
/// for reads and writes of `receipt_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_set_receipt(
    engine: *const AzmxSyncEngine,
    receipt: *mut u8,
    receipt_len: usize,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says;
    // every borrow of the receipt ends before `_wipe` zeroes it.
    ffi_boundary!("azmx_engine_set_receipt", unsafe {
        let _wipe = WipeOnDrop::new(receipt, receipt_len);
        bytes(receipt, receipt_len, "receipt")?;
        let e = engine_ref(engine)?;
        // The facade wipes this copy; the core keeps its own in a
        // zeroizing secret container.
        e.inner
            .set_receipt(utf8(receipt, receipt_len, "receipt")?.into())
    })
}

/// Checks the receipt against the license's key-check blob on the relay
/// (setting it if this is the license's first device). Waits for the key.
///
/// Errors: `WRONG_RECEIPT` (nothing was changed), `NO_RECEIPT`,
/// `EMPTY_RECEIPT`, `NOT_REGISTERED`, the relay errors of
/// [`azmx_engine_register`].
///
/// # Safety
/// `engine` a live handle.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_verify_receipt(engine: *const AzmxSyncEngine) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_engine_verify_receipt", unsafe {
        engine_ref(engine)?.inner.verify_receipt()
    })
}

/// Runs one full cycle now: snapshot → seal → push, pull → verify → open →
/// merge → apply (waits if a background cycle is running). Store callbacks
/// run on this thread. `out_report` may be NULL; otherwise it is filled
/// on success (zeroed, `pushed_seq` -1, on failure).
///
/// Errors: `WRONG_RECEIPT`, `NO_RECEIPT`, `NOT_REGISTERED`, `REVOKED`,
/// `RELAY_UNREACHABLE` (changes stay queued), `RELAY_ERROR`,
/// `RATE_LIMITED`, `CLOCK_SKEW`, `HOST_CALLBACK_FAILED`, `STATE_DIR`.
/// Bundles that fail `BLOB_INTEGRITY` or `DECRYPT_FAILED` are quarantined
/// and counted in the report and the activity log, not returned.
///
/// # Safety
/// `engine` a live handle; `out_report` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_sync_now(
    engine: *const AzmxSyncEngine,
    out_report: *mut AzmxCycleReport,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_engine_sync_now", unsafe {
        // What a failed cycle leaves in the caller's report.
        put_opt(out_report, CycleReport::default().into());
        let report = engine_ref(engine)?.inner.sync_now()?;
        put_opt(out_report, report.into());
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_report_without_push_is_minus_one_and_zeros() {
        assert_eq!(
            AzmxCycleReport::from(CycleReport::default()),
            AzmxCycleReport {
                pushed_seq: -1,
                ..Default::default()
            }
        );
    }
}
