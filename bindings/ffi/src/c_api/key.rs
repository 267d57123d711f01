//! The envelope key: derive, seal, open. The key bytes never cross the ABI.

use std::ffi::c_char;

use azmx_sync_bridge::ApiError;
use azmx_sync_core::envelope::{open_text, seal_text};
use azmx_sync_core::{EnvelopeKey, MIN_ENVELOPE_LEN};

use super::buffer::AzmxBuffer;
use super::error::AzmxStatus;
use super::guard::{
    bytes, ffi_boundary, free_handle, handle, null, put, put_handle, text, too_small, utf8,
    CallResult, CallerBuffer, WipeOnDrop,
};

/// An opaque AES-256-GCM envelope key derived from a recovery receipt.
/// Created by [`azmx_envelope_key_derive`], released (and zeroized) by
/// [`azmx_envelope_key_free`]. Immutable: one handle may be used from
/// several threads at once.
pub struct AzmxEnvelopeKey {
    inner: EnvelopeKey,
}

/// Borrows the key behind a handle.
///
/// # Safety
/// `key` must be NULL or a live handle from `azmx_envelope_key_derive`.
unsafe fn key_ref<'a>(key: *const AzmxEnvelopeKey) -> Result<&'a EnvelopeKey, ApiError> {
    // SAFETY: per the contract.
    Ok(&unsafe { handle(key, "key") }?.inner)
}

/// Derives the envelope key: PBKDF2-HMAC-SHA256 (600 000 iterations) over
/// the receipt (surrounding ASCII whitespace trimmed) with the salt
/// `"azmx.sync.envelope.v1:" + license_id`. Takes about 100 ms: derive once
/// and keep the handle.
///
/// The receipt is `receipt_len` bytes of UTF-8 (no NUL needed). **The
/// receipt buffer is overwritten with zeros before this returns**, on
/// success and on every failure, whenever `receipt` is not NULL; pass a
/// copy if you need to keep it.
///
/// Errors: `NULL_POINTER`, `INVALID_ARGUMENT` (receipt not UTF-8),
/// `EMPTY_RECEIPT`, `EMPTY_LICENSE_ID`. `*out_key` is NULL on failure.
///
/// # Safety
/// `receipt` must be NULL (only with `receipt_len == 0`) or valid for reads
/// and writes of `receipt_len` bytes; `license_id` a NUL-terminated string;
/// `out_key` valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn azmx_envelope_key_derive(
    receipt: *mut u8,
    receipt_len: usize,
    license_id: *const c_char,
    out_key: *mut *mut AzmxEnvelopeKey,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says;
    // every borrow of the receipt ends before `_wipe` zeroes it.
    ffi_boundary!("azmx_envelope_key_derive", unsafe {
        let _wipe = WipeOnDrop::new(receipt, receipt_len);
        if !out_key.is_null() {
            out_key.write(std::ptr::null_mut());
        }
        let receipt = utf8(receipt, receipt_len, "receipt")?;
        let lid = text(license_id, "license_id")?;
        if out_key.is_null() {
            return Err(null("out_key"));
        }
        // The core copies the receipt into a zeroizing secret container.
        let inner = EnvelopeKey::derive(receipt, lid)?;
        put_handle(out_key, AzmxEnvelopeKey { inner }, "out_key")
    })
}

/// Releases a key handle; the key bytes are zeroized. NULL is a no-op.
///
/// # Safety
/// `key` must be NULL or a handle from `azmx_envelope_key_derive` that has
/// not been freed yet and is not in use by another thread.
#[no_mangle]
pub unsafe extern "C" fn azmx_envelope_key_free(key: *mut AzmxEnvelopeKey) {
    // SAFETY: NULL or a live handle freed once, per the contract;
    // `EnvelopeKey` zeroizes itself on drop.
    unsafe { free_handle(key) }
}

/// The size of the envelope that sealing `plaintext_len` bytes produces:
/// `plaintext_len + AZMX_ENVELOPE_OVERHEAD`, or 0 if that overflows.
#[no_mangle]
pub extern "C" fn azmx_sealed_len(plaintext_len: usize) -> usize {
    // SAFETY (extern "C"): pure arithmetic on an integer; cannot panic.
    plaintext_len.checked_add(MIN_ENVELOPE_LEN).unwrap_or(0)
}

/// Seals `plaintext` into a v1 envelope blob (raw bytes: `0x01 | iv(12) |
/// ciphertext | tag(16)`, a fresh random IV each call) in a library-owned
/// buffer.
///
/// # Safety
/// `key` a live key handle; `plaintext` NULL (only with length 0) or
/// readable for `plaintext_len` bytes; `out_blob` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_envelope_key_seal(
    key: *const AzmxEnvelopeKey,
    plaintext: *const u8,
    plaintext_len: usize,
    out_blob: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_envelope_key_seal", out_blob => unsafe {
        Ok(key_ref(key)?.seal(bytes(plaintext, plaintext_len, "plaintext")?))
    })
}

/// Opens a raw v1 envelope blob into a library-owned buffer (wiped again by
/// `azmx_buffer_free`). Checks, in order: length (`ENVELOPE_TOO_SHORT`),
/// version byte (`UNSUPPORTED_VERSION`), authentication tag
/// (`DECRYPT_FAILED`: wrong receipt or tampered data). Never returns
/// partial plaintext.
///
/// # Safety
/// As [`azmx_envelope_key_seal`], with `blob`/`blob_len`/`out_plaintext`.
#[no_mangle]
pub unsafe extern "C" fn azmx_envelope_key_open(
    key: *const AzmxEnvelopeKey,
    blob: *const u8,
    blob_len: usize,
    out_plaintext: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_envelope_key_open", out_plaintext => unsafe {
        Ok(key_ref(key)?.open(bytes(blob, blob_len, "blob")?)?)
    })
}

/// Seals `plaintext` and returns the envelope's text form (unpadded
/// base64url, NUL-terminated) in a library-owned buffer.
///
/// # Safety
/// As [`azmx_envelope_key_seal`].
#[no_mangle]
pub unsafe extern "C" fn azmx_envelope_key_seal_text(
    key: *const AzmxEnvelopeKey,
    plaintext: *const u8,
    plaintext_len: usize,
    out_text: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_envelope_key_seal_text", out_text => unsafe {
        Ok(seal_text(key_ref(key)?, bytes(plaintext, plaintext_len, "plaintext")?))
    })
}

/// Opens the text form of an envelope (NUL-terminated unpadded base64url).
/// Errors as [`azmx_envelope_key_open`], plus `INVALID_BASE64` for text
/// that is not canonical unpadded base64url (checked first).
///
/// # Safety
/// `key` a live key handle; `envelope_text` a NUL-terminated string;
/// `out_plaintext` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_envelope_key_open_text(
    key: *const AzmxEnvelopeKey,
    envelope_text: *const c_char,
    out_plaintext: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_envelope_key_open_text", out_plaintext => unsafe {
        let key = key_ref(key)?;
        // Non-UTF-8 text cannot be base64url, so it is reported as such.
        let t = match text(envelope_text, "envelope_text") {
            Err(ApiError::InvalidArgument { .. }) => {
                return Err(azmx_sync_core::Error::InvalidBase64.into())
            }
            other => other?,
        };
        Ok(open_text(key, t)?)
    })
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
