//! The bulk-bytes fast path for seal/open.
//!
//! uniffi lowers `Vec<u8>` element by element, which costs ~12 ms per MiB
//! from Python. These `extern "C"` functions take `(pointer, length)` input
//! and write into a caller-owned output buffer instead, so the only copies
//! are the ones the core's AES-GCM needs. The Python wrapper
//! (`azmx_sync.seal_fast`/`open_fast`, ctypes) and the Kotlin wrapper
//! (`FastEnvelope`, JNA direct mapping) call them on the very library the
//! uniffi bindings loaded.
//!
//! The key crosses only as its uniffi object handle, never as bytes, and
//! the seal/open functions *borrow* it: the caller keeps the object alive
//! and undestroyed for the duration of the call (Python: the wrapper holds a
//! reference to the `EnvelopeKey`, which has no explicit destroy; Kotlin: a
//! `FastEnvelope` owns a clone of the handle, taken inside the generated
//! `callWithHandle`, lends it to each call under its own call counter and
//! gives it back with [`azmx_uniffi_fast_release_key`]). Zero and foreign
//! handles are refused.
//!
//! Every entry point catches panics; none unwinds into the caller.
//!
//! Status codes (stable, mirrored by the language wrappers):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | ok; `*out_len` = bytes written |
//! | 1 | output buffer too small; `*out_len` = bytes needed, nothing written |
//! | 2 | envelope shorter than 29 bytes |
//! | 3 | unsupported envelope version |
//! | 4 | decrypt failed (wrong key or tampered) |
//! | 5 | invalid argument (null pointer with a non-zero length, bad handle) |
//! | 6 | internal error (a panic was caught) |
//!
//! The wrappers turn codes 2–4 into the same typed `SyncError` variants (with
//! the same fields) that the uniffi `open` raises, so both paths fail alike.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use azmx_sync_core as core;

use super::crypto::EnvelopeKey;

pub const AZMX_FAST_OK: i32 = 0;
pub const AZMX_FAST_BUFFER_TOO_SMALL: i32 = 1;
pub const AZMX_FAST_ENVELOPE_TOO_SHORT: i32 = 2;
pub const AZMX_FAST_UNSUPPORTED_VERSION: i32 = 3;
pub const AZMX_FAST_DECRYPT_FAILED: i32 = 4;
pub const AZMX_FAST_INVALID_ARGUMENT: i32 = 5;
pub const AZMX_FAST_INTERNAL: i32 = 6;

/// Version of this fast-path ABI; wrappers refuse a library with another.
pub const AZMX_FAST_ABI_VERSION: u32 = 1;

/// Bytes a v1 envelope adds to its plaintext (version + IV + tag).
const OVERHEAD: usize = core::MIN_ENVELOPE_LEN;

/// The fast-path ABI version (see [`AZMX_FAST_ABI_VERSION`]).
///
/// SAFETY (for callers): no arguments, no side effects, cannot panic; safe to
/// call from any thread at any time.
#[no_mangle]
pub extern "C" fn azmx_uniffi_fast_abi_version() -> u32 {
    AZMX_FAST_ABI_VERSION
}

/// Borrows the `EnvelopeKey` behind a uniffi handle (the strong count is
/// bumped for the returned `Arc` and restored when it drops).
///
/// # Safety
/// `raw` must be `0`, a foreign handle (odd), or the handle of a live
/// `EnvelopeKey` made by this library's uniffi scaffolding that stays alive
/// until this call returns.
unsafe fn borrow_key(raw: u64) -> Option<Arc<EnvelopeKey>> {
    // SAFETY: `from_raw` only rejects 0; the caller vouches for other values.
    let handle = unsafe { uniffi::Handle::from_raw(raw) }?;
    if handle.is_foreign() {
        return None;
    }
    // SAFETY: a live Rust-made `EnvelopeKey` handle (an `Arc::into_raw`
    // pointer, as uniffi's own clone/free functions assume), kept alive by
    // the caller for the duration of the borrow.
    Some(unsafe { handle.into_arc_borrowed::<EnvelopeKey>() })
}

/// Gives back one reference of an `EnvelopeKey` handle (e.g. the clone that
/// Kotlin's `FastEnvelope` takes through the generated `callWithHandle`). Returns [`AZMX_FAST_OK`] or
/// [`AZMX_FAST_INVALID_ARGUMENT`] for `0`/foreign handles.
///
/// # Safety
/// `key` must be `0`, a foreign handle, or an owned reference of a live
/// `EnvelopeKey` handle made by this library; it must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn azmx_uniffi_fast_release_key(key: u64) -> i32 {
    guard(|| {
        // SAFETY: `from_raw` only rejects 0.
        let Some(handle) = (unsafe { uniffi::Handle::from_raw(key) }) else {
            return AZMX_FAST_INVALID_ARGUMENT;
        };
        if handle.is_foreign() {
            return AZMX_FAST_INVALID_ARGUMENT;
        }
        // Lifting takes over the caller's reference; dropping releases it.
        match <EnvelopeKey as uniffi::FfiConverterArc<crate::UniFfiTag>>::try_lift(handle) {
            Ok(key) => {
                drop(key);
                AZMX_FAST_OK
            }
            Err(_) => AZMX_FAST_INVALID_ARGUMENT,
        }
    })
}

/// Builds the input slice.
///
/// # Safety
/// If `len > 0`, `ptr` must be valid for reads of `len` bytes for the
/// duration of the call and not be written to concurrently.
unsafe fn input<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if len == 0 {
        return Some(&[]);
    }
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-null, and valid for `len` bytes by the caller's contract.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Stores `n` in `*out_len` unless `out_len` is null.
///
/// # Safety
/// `out_len` must be null or valid for a write of one `usize`.
unsafe fn set_len(out_len: *mut usize, n: usize) {
    if !out_len.is_null() {
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { *out_len = n };
    }
}

/// Runs `f`, turning a panic into [`AZMX_FAST_INTERNAL`].
fn guard(f: impl FnOnce() -> i32) -> i32 {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(AZMX_FAST_INTERNAL)
}

/// Seals `input[..input_len]` with the key behind `key` into `out`
/// (`input_len + 29` bytes are needed); `*out_len` receives the blob length.
///
/// # Safety
/// - `key`: a live `EnvelopeKey` handle, borrowed (see the module docs).
/// - `input` valid for reads of `input_len` bytes (may be null if 0).
/// - `out` valid for writes of `out_cap` bytes (may be null if 0), not
///   overlapping `input`.
/// - `out_len` null (the caller knows the size: `input_len + 29`) or valid
///   for a write of one `usize`.
#[no_mangle]
pub unsafe extern "C" fn azmx_uniffi_fast_seal(
    key: u64,
    input: *const u8,
    input_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract on `key`.
        let Some(key) = (unsafe { borrow_key(key) }) else {
            return AZMX_FAST_INVALID_ARGUMENT;
        };
        if out.is_null() && out_cap != 0 {
            return AZMX_FAST_INVALID_ARGUMENT;
        }
        let needed = match input_len.checked_add(OVERHEAD) {
            Some(n) => n,
            None => return AZMX_FAST_INVALID_ARGUMENT,
        };
        if needed > out_cap {
            // SAFETY: the caller's contract on `out_len`.
            unsafe { set_len(out_len, needed) };
            return AZMX_FAST_BUFFER_TOO_SMALL;
        }
        // SAFETY: the caller's contract on `input`/`input_len`.
        let Some(plaintext) = (unsafe { self::input(input, input_len) }) else {
            return AZMX_FAST_INVALID_ARGUMENT;
        };
        // SAFETY: `out` is non-null here (`needed >= 29` and `out_cap >=
        // needed`), valid for writes of `out_cap >= needed` bytes and not
        // overlapping `input`, by the caller's contract.
        let out_slice = unsafe { std::slice::from_raw_parts_mut(out, needed) };
        // Encrypts from the caller's input straight into the caller's
        // output: no intermediate buffer for bulk payloads.
        match key.inner.seal_into(plaintext, out_slice) {
            Ok(()) => {
                // SAFETY: the caller's contract on `out_len`.
                unsafe { set_len(out_len, needed) };
                AZMX_FAST_OK
            }
            Err(_) => AZMX_FAST_INTERNAL,
        }
    })
}

/// Opens the v1 envelope `blob[..blob_len]` into `out` (`blob_len - 29`
/// bytes are needed); `*out_len` receives the plaintext length. Nothing is
/// written to `out` unless the tag verifies.
///
/// # Safety
/// As [`azmx_uniffi_fast_seal`], with `blob`/`blob_len` as the input.
#[no_mangle]
pub unsafe extern "C" fn azmx_uniffi_fast_open(
    key: u64,
    blob: *const u8,
    blob_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: the caller's contract on `key`.
        let Some(key) = (unsafe { borrow_key(key) }) else {
            return AZMX_FAST_INVALID_ARGUMENT;
        };
        if out.is_null() && out_cap != 0 {
            return AZMX_FAST_INVALID_ARGUMENT;
        }
        // SAFETY: the caller's contract on `blob`/`blob_len`.
        let Some(blob) = (unsafe { input(blob, blob_len) }) else {
            return AZMX_FAST_INVALID_ARGUMENT;
        };
        if blob.len() < OVERHEAD {
            return AZMX_FAST_ENVELOPE_TOO_SHORT;
        }
        if blob[0] != core::ENVELOPE_VERSION {
            return AZMX_FAST_UNSUPPORTED_VERSION;
        }
        let needed = blob.len() - OVERHEAD;
        if needed > out_cap {
            // SAFETY: the caller's contract on `out_len`.
            unsafe { set_len(out_len, needed) };
            return AZMX_FAST_BUFFER_TOO_SMALL;
        }
        let out_slice: &mut [u8] = if needed == 0 {
            &mut []
        } else {
            // SAFETY: `out` is non-null (`out_cap >= needed > 0`), valid for
            // writes of `out_cap >= needed` bytes and not overlapping `blob`,
            // by the caller's contract.
            unsafe { std::slice::from_raw_parts_mut(out, needed) }
        };
        // The tag is verified before any plaintext is written to `out`.
        match key.inner.open_into(blob, out_slice) {
            Ok(()) => {
                // SAFETY: the caller's contract on `out_len`.
                unsafe { set_len(out_len, needed) };
                AZMX_FAST_OK
            }
            Err(core::Error::EnvelopeTooShort { .. }) => AZMX_FAST_ENVELOPE_TOO_SHORT,
            Err(core::Error::UnsupportedVersion(_)) => AZMX_FAST_UNSUPPORTED_VERSION,
            Err(core::Error::DecryptFailed) => AZMX_FAST_DECRYPT_FAILED,
            Err(_) => AZMX_FAST_INTERNAL,
        }
    })
}

#[cfg(test)]
mod tests {
    // SAFETY (every `unsafe` call below): the handles are `Arc::as_ptr` of a
    // live `EnvelopeKey` (exactly what uniffi hands out) or owned clones made
    // by `lower`, and every pointer/length pair describes a live Vec or slice.
    use super::*;

    /// A borrowed handle of `k`, as the foreign side holds it.
    fn handle(k: &Arc<EnvelopeKey>) -> u64 {
        Arc::as_ptr(k) as u64
    }

    #[test]
    fn round_trip_and_errors() {
        let k = EnvelopeKey::derive("r".into(), "lid".into()).unwrap();
        let msg = b"hello fast path";
        let mut blob = vec![0u8; msg.len() + OVERHEAD];
        let mut n = 0usize;
        let rc = unsafe {
            azmx_uniffi_fast_seal(
                handle(&k),
                msg.as_ptr(),
                msg.len(),
                blob.as_mut_ptr(),
                blob.len(),
                &mut n,
            )
        };
        assert_eq!((rc, n), (AZMX_FAST_OK, blob.len()));
        assert_eq!(k.open(blob.clone()).unwrap(), msg);

        let mut out = vec![0u8; msg.len()];
        let rc = unsafe {
            azmx_uniffi_fast_open(
                handle(&k),
                blob.as_ptr(),
                blob.len(),
                out.as_mut_ptr(),
                out.len(),
                &mut n,
            )
        };
        assert_eq!((rc, &out[..n]), (AZMX_FAST_OK, &msg[..]));

        let rc = unsafe {
            azmx_uniffi_fast_open(
                handle(&k),
                blob.as_ptr(),
                blob.len(),
                out.as_mut_ptr(),
                3,
                &mut n,
            )
        };
        assert_eq!((rc, n), (AZMX_FAST_BUFFER_TOO_SMALL, msg.len()));
        blob[20] ^= 1;
        let rc = unsafe {
            azmx_uniffi_fast_open(
                handle(&k),
                blob.as_ptr(),
                blob.len(),
                out.as_mut_ptr(),
                out.len(),
                &mut n,
            )
        };
        assert_eq!(rc, AZMX_FAST_DECRYPT_FAILED);
        let rc = unsafe {
            azmx_uniffi_fast_open(handle(&k), blob.as_ptr(), 5, out.as_mut_ptr(), 0, &mut n)
        };
        assert_eq!(rc, AZMX_FAST_ENVELOPE_TOO_SHORT);
        let rc = unsafe { azmx_uniffi_fast_seal(0, msg.as_ptr(), 1, out.as_mut_ptr(), 1, &mut n) };
        assert_eq!(rc, AZMX_FAST_INVALID_ARGUMENT);
        // `out_len` may be null when the caller knows the size.
        let mut blob2 = vec![0u8; 1 + OVERHEAD];
        let rc = unsafe {
            azmx_uniffi_fast_seal(
                handle(&k),
                msg.as_ptr(),
                1,
                blob2.as_mut_ptr(),
                blob2.len(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(rc, AZMX_FAST_OK);
        assert_eq!(k.open(blob2).unwrap(), &msg[..1]);
        // Borrowing left the count alone; release gives back an owned clone.
        assert_eq!(Arc::strong_count(&k), 1);
        let owned =
            <EnvelopeKey as uniffi::FfiConverterArc<crate::UniFfiTag>>::lower(Arc::clone(&k));
        assert_eq!(Arc::strong_count(&k), 2);
        assert_eq!(
            unsafe { azmx_uniffi_fast_release_key(owned.as_raw()) },
            AZMX_FAST_OK
        );
        assert_eq!(Arc::strong_count(&k), 1);
        assert_eq!(
            unsafe { azmx_uniffi_fast_release_key(0) },
            AZMX_FAST_INVALID_ARGUMENT
        );
    }
}
