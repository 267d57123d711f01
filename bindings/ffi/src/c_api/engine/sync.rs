//! Registering with the relay of the engine's config, and the report of
//! one sync cycle.

use std::ffi::c_char;

use azmx_sync_bridge::engine::CycleReport;
use azmx_sync_bridge::ApiError;

use super::super::buffer::AzmxBuffer;
use super::super::error::AzmxStatus;
use super::super::guard::{ffi_boundary, text};
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
