//! Blob integrity (SHA-256, checked before any decrypt).

use std::ffi::c_char;

use super::error::AzmxStatus;
use azmx_sync_bridge::ApiError;

use super::guard::{bytes, ffi_boundary, null, text};

/// Checks that `blob` hashes to `expected_sha256_hex` (64 lowercase hex
/// digits). Returns `OK` or `BLOB_INTEGRITY` (also for an expected value
/// that is not 64 lowercase hex digits): storage corruption, distinct from
/// `DECRYPT_FAILED`. Run it before opening a downloaded blob.
///
/// # Safety
/// `expected_sha256_hex` a NUL-terminated string; `blob` readable for
/// `blob_len` bytes (NULL only with 0).
#[no_mangle]
pub unsafe extern "C" fn azmx_verify_blob(
    expected_sha256_hex: *const c_char,
    blob: *const u8,
    blob_len: usize,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_verify_blob", unsafe {
        let expected = match text(expected_sha256_hex, "expected_sha256_hex") {
            // Not UTF-8, so certainly not the expected hex: a mismatch.
            Err(ApiError::InvalidArgument { .. }) => "",
            other => other?,
        };
        Ok(azmx_sync_core::verify_blob(
            expected,
            bytes(blob, blob_len, "blob")?,
        )?)
    })
}

/// Writes the lowercase hex SHA-256 of `data` and a NUL into the caller's
/// buffer `out_hex`, which must hold at least `AZMX_SHA256_HEX_LEN + 1`
/// (65) bytes; otherwise `BUFFER_TOO_SMALL` and nothing is written.
///
/// # Safety
/// `data` readable for `data_len` bytes (NULL only with 0); `out_hex`
/// writable for `out_cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn azmx_sha256_hex(
    data: *const u8,
    data_len: usize,
    out_hex: *mut c_char,
    out_cap: usize,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says;
    // `out_hex` is written only after its size was checked.
    ffi_boundary!("azmx_sha256_hex", unsafe {
        if out_hex.is_null() {
            return Err(null("out_hex"));
        }
        if out_cap < super::AZMX_SHA256_HEX_LEN + 1 {
            return Err(ApiError::BufferTooSmall {
                detail: "`out_hex` needs 65 bytes (64 hex digits and a NUL)".into(),
            });
        }
        let hex = azmx_sync_core::sha256_hex(bytes(data, data_len, "data")?);
        debug_assert_eq!(hex.len(), super::AZMX_SHA256_HEX_LEN);
        // `out_hex` cannot overlap the fresh `hex` string.
        std::ptr::copy_nonoverlapping(hex.as_ptr(), out_hex.cast::<u8>(), hex.len());
        out_hex.add(hex.len()).write(0);
        Ok(())
    })
}
