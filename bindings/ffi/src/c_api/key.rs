//! The envelope key: derive, seal, open. The key bytes never cross the ABI.

use azmx_sync_core::envelope::{open_text, seal_text};
use azmx_sync_core::EnvelopeKey;

use super::buffer::{reset_out, set_out, AzmxBuffer};
use super::error::AzmxStatus;
use super::guard::{self, bytes, call, call_value, put, text, wipe, Failure, WipeOnDrop};

/// An opaque AES-256-GCM envelope key derived from a recovery receipt.
/// Created by [`azmx_envelope_key_derive`], released (and zeroized) by
/// [`azmx_envelope_key_free`]. Immutable: one handle may be used from
/// several threads at once.
pub struct AzmxEnvelopeKey {
    inner: EnvelopeKey,
}

/// Borrows a key handle.
///
/// # Safety
/// `key` must be NULL or a live handle from `azmx_envelope_key_derive`.
unsafe fn key_ref<'a>(key: *const AzmxEnvelopeKey) -> Result<&'a EnvelopeKey, Failure> {
    if key.is_null() {
        return Err(Failure::null("key"));
    }
    // SAFETY: non-NULL, and per the contract a live handle that is not freed
    // during the call; handles are only read.
    Ok(unsafe { &(*key).inner })
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
    license_id: *const std::ffi::c_char,
    out_key: *mut *mut AzmxEnvelopeKey,
) -> AzmxStatus {
    // SAFETY (extern "C"): every pointer is NULL-checked and used per the
    // contract above; the body runs inside the panic boundary.
    call("azmx_envelope_key_derive", || {
        // SAFETY: (receipt, receipt_len) is writable per the contract, and
        // every borrow of it below ends before the guard drops.
        let _wipe = unsafe { WipeOnDrop::new(receipt, receipt_len) };
        if !out_key.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { out_key.write(std::ptr::null_mut()) };
        }
        // SAFETY: readable for receipt_len bytes, not written by anyone
        // else during the call (we wipe it only after this borrow ends).
        let receipt = unsafe { bytes(receipt, receipt_len, "receipt") }?;
        let receipt = std::str::from_utf8(receipt)
            .map_err(|_| Failure::invalid("`receipt` is not valid UTF-8"))?;
        // SAFETY: NUL-terminated per the contract.
        let lid = unsafe { text(license_id, "license_id") }?;
        if out_key.is_null() {
            return Err(Failure::null("out_key"));
        }
        // The core copies the receipt into a zeroizing secret container.
        let inner = EnvelopeKey::derive(receipt, lid)?;
        let handle = Box::into_raw(Box::new(AzmxEnvelopeKey { inner }));
        // SAFETY: checked non-NULL above; writable per the contract.
        unsafe { put(out_key, handle, "out_key") }
    })
}

/// Releases a key handle; the key bytes are zeroized. NULL is a no-op.
///
/// # Safety
/// `key` must be NULL or a handle from `azmx_envelope_key_derive` that has
/// not been freed yet and is not in use by another thread.
#[no_mangle]
pub unsafe extern "C" fn azmx_envelope_key_free(key: *mut AzmxEnvelopeKey) {
    // SAFETY (extern "C"): see `# Safety`; NULL-checked, panic boundary.
    call_value((), || {
        if !key.is_null() {
            // SAFETY: the handle came from Box::into_raw in derive and is
            // freed once (contract). EnvelopeKey zeroizes itself on drop.
            drop(unsafe { Box::from_raw(key) });
        }
    })
}

/// The size of the envelope that sealing `plaintext_len` bytes produces:
/// `plaintext_len + AZMX_ENVELOPE_OVERHEAD`, or 0 if that overflows.
#[no_mangle]
pub extern "C" fn azmx_sealed_len(plaintext_len: usize) -> usize {
    // SAFETY (extern "C"): pure arithmetic on an integer; cannot panic.
    plaintext_len
        .checked_add(azmx_sync_core::MIN_ENVELOPE_LEN)
        .unwrap_or(0)
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
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_envelope_key_seal", || {
        // SAFETY: writable per the contract.
        unsafe { reset_out(out_blob, "out_blob") }?;
        // SAFETY: live handle per the contract.
        let key = unsafe { key_ref(key) }?;
        // SAFETY: readable for plaintext_len bytes per the contract.
        let pt = unsafe { bytes(plaintext, plaintext_len, "plaintext") }?;
        let blob = key.seal(pt);
        // SAFETY: checked by reset_out.
        unsafe { set_out(out_blob, AzmxBuffer::from_bytes(blob)) };
        Ok(())
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
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_envelope_key_open", || {
        // SAFETY: writable per the contract.
        unsafe { reset_out(out_plaintext, "out_plaintext") }?;
        // SAFETY: live handle per the contract.
        let key = unsafe { key_ref(key) }?;
        // SAFETY: readable for blob_len bytes per the contract.
        let blob = unsafe { bytes(blob, blob_len, "blob") }?;
        let pt = key.open(blob)?;
        // SAFETY: checked by reset_out.
        unsafe { set_out(out_plaintext, AzmxBuffer::from_bytes(pt)) };
        Ok(())
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
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_envelope_key_seal_text", || {
        // SAFETY: writable per the contract.
        unsafe { reset_out(out_text, "out_text") }?;
        // SAFETY: live handle per the contract.
        let key = unsafe { key_ref(key) }?;
        // SAFETY: readable for plaintext_len bytes per the contract.
        let pt = unsafe { bytes(plaintext, plaintext_len, "plaintext") }?;
        let t = seal_text(key, pt);
        // SAFETY: checked by reset_out.
        unsafe { set_out(out_text, AzmxBuffer::from_text(t)) };
        Ok(())
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
    envelope_text: *const std::ffi::c_char,
    out_plaintext: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_envelope_key_open_text", || {
        // SAFETY: writable per the contract.
        unsafe { reset_out(out_plaintext, "out_plaintext") }?;
        // SAFETY: live handle per the contract.
        let key = unsafe { key_ref(key) }?;
        // SAFETY: NUL-terminated per the contract. Non-UTF-8 text cannot be
        // base64url, so it is reported as such.
        let t = match unsafe { text(envelope_text, "envelope_text") } {
            Err(f) if f.status == AzmxStatus::InvalidArgument => {
                return Err(azmx_sync_core::Error::InvalidBase64.into())
            }
            other => other?,
        };
        let pt = open_text(key, t)?;
        // SAFETY: checked by reset_out.
        unsafe { set_out(out_plaintext, AzmxBuffer::from_bytes(pt)) };
        Ok(())
    })
}

/// Copies `result` into a caller-owned buffer, or reports the size needed.
///
/// # Safety
/// `out` must be NULL or writable for `out_cap` bytes; `out_len` writable.
unsafe fn copy_out(
    mut result: Vec<u8>,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> guard::CallResult {
    let n = result.len();
    // SAFETY: writable per the contract (checked non-NULL by the caller).
    unsafe { out_len.write(n) };
    let fits = n <= out_cap && (!out.is_null() || n == 0);
    if fits && n > 0 {
        // SAFETY: `out` is writable for out_cap ≥ n bytes; `result` is a
        // fresh allocation, so the two ranges cannot overlap (the caller's
        // input may alias `out`: it is no longer read).
        unsafe { std::ptr::copy_nonoverlapping(result.as_ptr(), out, n) };
    }
    wipe(&mut result);
    if fits {
        Ok(())
    } else {
        Err(Failure::new(
            AzmxStatus::BufferTooSmall,
            format!("output buffer too small: {n} bytes needed"),
        ))
    }
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
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_envelope_key_seal_into", || {
        if out_len.is_null() {
            return Err(Failure::null("out_len"));
        }
        // SAFETY: writable per the contract.
        unsafe { out_len.write(0) };
        // SAFETY: live handle per the contract.
        let key = unsafe { key_ref(key) }?;
        let need = azmx_sealed_len(plaintext_len);
        if need == 0 || need > out_cap || out.is_null() {
            // SAFETY: writable per the contract.
            unsafe { out_len.write(need) };
            return Err(Failure::new(
                AzmxStatus::BufferTooSmall,
                format!("output buffer too small: {need} bytes needed"),
            ));
        }
        // SAFETY: readable for plaintext_len bytes per the contract.
        let pt = unsafe { bytes(plaintext, plaintext_len, "plaintext") }?;
        let blob = key.seal(pt);
        // SAFETY: out writable for out_cap bytes, out_len writable.
        unsafe { copy_out(blob, out, out_cap, out_len) }
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
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_envelope_key_open_into", || {
        if out_len.is_null() {
            return Err(Failure::null("out_len"));
        }
        // SAFETY: writable per the contract.
        unsafe { out_len.write(0) };
        // SAFETY: live handle per the contract.
        let key = unsafe { key_ref(key) }?;
        // SAFETY: readable for blob_len bytes per the contract.
        let blob = unsafe { bytes(blob, blob_len, "blob") }?;
        if let Some(need) = blob.len().checked_sub(azmx_sync_core::MIN_ENVELOPE_LEN) {
            if need > out_cap || (out.is_null() && need > 0) {
                // SAFETY: writable per the contract.
                unsafe { out_len.write(need) };
                return Err(Failure::new(
                    AzmxStatus::BufferTooSmall,
                    format!("output buffer too small: {need} bytes needed"),
                ));
            }
        }
        let pt = key.open(blob)?;
        // SAFETY: out writable for out_cap bytes, out_len writable.
        unsafe { copy_out(pt, out, out_cap, out_len) }
    })
}
