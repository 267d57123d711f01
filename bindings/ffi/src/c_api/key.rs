//! The envelope key: derive, seal, open. The key bytes never cross the ABI.
//!
//! The entry points that only convert arguments and results are generated
//! from `bindings/exports.toml` into `key/generated.rs` (declared in
//! `c_api/mod.rs` before this module: the header lists them before the
//! `_into` functions here, which fill caller-owned buffers).

use std::ffi::c_char;

use azmx_sync_bridge::ApiError;
use azmx_sync_core::{EnvelopeKey, MIN_ENVELOPE_LEN};

use super::error::AzmxStatus;
use super::guard::{bytes, ffi_boundary, handle, put, text, too_small, CallResult, CallerBuffer};
use super::key_generated::*;

/// An opaque AES-256-GCM envelope key derived from a recovery receipt.
/// Created by [`azmx_envelope_key_derive`], released (and zeroized) by
/// [`azmx_envelope_key_free`]. Immutable: one handle may be used from
/// several threads at once.
pub struct AzmxEnvelopeKey {
    pub(crate) inner: EnvelopeKey,
}

/// Borrows the key behind a handle.
///
/// # Safety
/// `key` must be NULL or a live handle from `azmx_envelope_key_derive`.
unsafe fn key_ref<'a>(key: *const AzmxEnvelopeKey) -> Result<&'a EnvelopeKey, ApiError> {
    // SAFETY: per the contract.
    Ok(&unsafe { handle(key, "key") }?.inner)
}

/// The text of an envelope: non-UTF-8 text cannot be base64url, so it is
/// reported as such (`INVALID_BASE64`); NULL stays `NULL_POINTER`.
///
/// # Safety
/// `ptr` NULL or a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn envelope_text<'a>(ptr: *const c_char) -> Result<&'a str, ApiError> {
    // SAFETY: per the contract.
    match unsafe { text(ptr, "envelope_text") } {
        Err(ApiError::InvalidArgument { .. }) => Err(azmx_sync_core::Error::InvalidBase64.into()),
        other => other,
    }
}

/// The shared shape of the `_into` functions: `*out_len` reset to 0, the
/// key borrowed, then `body` gives the result (after checking the room it
/// will need), which is copied into the caller's buffer.
///
/// # Safety
/// `key` NULL or a live handle; `out` NULL or writable for `out_cap`
/// bytes; `out_len` NULL or writable.
unsafe fn into_caller_buffer(
    key: *const AzmxEnvelopeKey,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
    body: impl FnOnce(&EnvelopeKey, &CallerBuffer) -> Result<Vec<u8>, ApiError>,
) -> CallResult {
    // SAFETY: NULL or writable per the contract.
    unsafe { put(out_len, 0, "out_len") }?;
    // SAFETY: NULL or live per the contract.
    let key = unsafe { key_ref(key) }?;
    // SAFETY: per the contract; the caller's input may alias `out`, but
    // `body` no longer borrows it when the result is copied.
    let mut buf = unsafe { CallerBuffer::new(out, out_cap, out_len) };
    let result = body(key, &buf)?;
    buf.fill(result)
}

/// Seals into a caller-owned buffer of `out_cap` bytes. `*out_len` is always
/// set to the envelope size (`azmx_sealed_len(plaintext_len)`); if `out_cap`
/// is smaller, nothing is written and `BUFFER_TOO_SMALL` is returned (so
/// `out = NULL, out_cap = 0` is a size query). `out` may alias `plaintext`.
///
/// # Safety
/// `key` a live handle; `plaintext` readable for `plaintext_len` bytes (NULL
/// only with 0); `out` NULL or writable for `out_cap` bytes; `out_len`
/// writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_envelope_key_seal_into(
    key: *const AzmxEnvelopeKey,
    plaintext: *const u8,
    plaintext_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_envelope_key_seal_into", unsafe {
        into_caller_buffer(key, out, out_cap, out_len, |key, buf| {
            match azmx_sealed_len(plaintext_len) {
                0 => return Err(too_small(0)), // overflow: never fits
                need => buf.room(need)?,
            }
            Ok(key.seal(bytes(plaintext, plaintext_len, "plaintext")?))
        })
    })
}

/// Opens a raw blob into a caller-owned buffer. The plaintext is exactly
/// `blob_len - AZMX_ENVELOPE_OVERHEAD` bytes; if `out_cap` is smaller,
/// `BUFFER_TOO_SMALL` is returned before any decryption with `*out_len` set
/// to that size. Other errors as [`azmx_envelope_key_open`] (then
/// `*out_len` is 0 and nothing is written). `out` may alias `blob`.
///
/// # Safety
/// As [`azmx_envelope_key_seal_into`], with `blob`/`blob_len`.
#[no_mangle]
pub unsafe extern "C" fn azmx_envelope_key_open_into(
    key: *const AzmxEnvelopeKey,
    blob: *const u8,
    blob_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_envelope_key_open_into", unsafe {
        into_caller_buffer(key, out, out_cap, out_len, |key, buf| {
            let blob = bytes(blob, blob_len, "blob")?;
            if let Some(need) = blob.len().checked_sub(MIN_ENVELOPE_LEN) {
                buf.room(need)?;
            }
            Ok(key.open(blob)?)
        })
    })
}
