//! The bulk-bytes fast path for seal/open.
//!
//! uniffi lowers `Vec<u8>` element by element, which costs ~12 ms per MiB
//! from Python. These `extern "C"` functions take `(pointer, length)` input
//! and write into a caller-owned output buffer instead, so the only copies
//! are the ones the core's AES-GCM needs. The Python wrapper
//! (`azmx_sync.seal_fast`/`open_fast`, ctypes) and the Kotlin wrapper
//! (`FastEnvelope`, JNA direct mapping) call them on the very library the
//! uniffi bindings loaded. They are not in `include/azmx_sync.h`: the key
//! argument is a uniffi object handle, which only those wrappers hold.
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
//! Statuses are the C ABI's [`AzmxStatus`] (one status enum for the whole
//! library; `azmx_status_name` names them), behind the same panic boundary:
//! `OK` (`*out_len` = bytes written), `BUFFER_TOO_SMALL` (`*out_len` =
//! bytes needed, nothing written), `ENVELOPE_TOO_SHORT`,
//! `UNSUPPORTED_VERSION`, `DECRYPT_FAILED`, `INVALID_ARGUMENT` (a bad
//! handle), `NULL_POINTER` (NULL with a non-zero length), `INTERNAL`,
//! `PANIC`. The wrappers turn the envelope errors into the same typed
//! `SyncError` variants (with the same fields) that the uniffi `open`
//! raises, so both paths fail alike.

use std::sync::Arc;

use azmx_sync_bridge::ApiError;
use azmx_sync_core::{ENVELOPE_VERSION, MIN_ENVELOPE_LEN};

use super::crypto::EnvelopeKey;
use crate::c_api::guard::{bytes, ffi_boundary, null, CallerBuffer};
use crate::c_api::AzmxStatus;

/// Version of this fast-path ABI; wrappers refuse a library with another.
/// 2: the statuses became `AzmxStatus` values.
pub const AZMX_FAST_ABI_VERSION: u32 = 2;

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
unsafe fn borrow_key(raw: u64) -> Result<Arc<EnvelopeKey>, ApiError> {
    // SAFETY: `from_raw` only rejects 0.
    let handle = unsafe { rust_handle(raw) }?;
    // SAFETY: a live Rust-made `EnvelopeKey` handle (an `Arc::into_raw`
    // pointer, as uniffi's own clone/free functions assume), kept alive by
    // the caller for the duration of the borrow.
    Ok(unsafe { handle.into_arc_borrowed::<EnvelopeKey>() })
}

/// A non-zero handle made on the Rust side.
///
/// # Safety
/// None beyond `uniffi::Handle::from_raw`'s: it only rejects 0.
unsafe fn rust_handle(raw: u64) -> Result<uniffi::Handle, ApiError> {
    // SAFETY: `from_raw` only rejects 0; nothing is dereferenced here.
    match unsafe { uniffi::Handle::from_raw(raw) } {
        Some(h) if !h.is_foreign() => Ok(h),
        _ => Err(not_a_key()),
    }
}

fn not_a_key() -> ApiError {
    ApiError::invalid_argument("`key` is not an EnvelopeKey handle")
}

/// Gives back one reference of an `EnvelopeKey` handle (e.g. the clone that
/// Kotlin's `FastEnvelope` takes through the generated `callWithHandle`).
/// Returns `OK`, or `INVALID_ARGUMENT` for `0`/foreign handles.
///
/// # Safety
/// `key` must be `0`, a foreign handle, or an owned reference of a live
/// `EnvelopeKey` handle made by this library; it must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn azmx_uniffi_fast_release_key(key: u64) -> AzmxStatus {
    // SAFETY: the handle is 0, foreign (both refused) or owned per the
    // contract; lifting takes over that reference and dropping releases it.
    ffi_boundary!("azmx_uniffi_fast_release_key", unsafe {
        let handle = rust_handle(key)?;
        <EnvelopeKey as uniffi::FfiConverterArc<crate::UniFfiTag>>::try_lift(handle)
            .map(drop)
            .map_err(|_| not_a_key())
    })
}

/// The borrowed key and the caller's buffer of a seal or open: `out` may
/// be NULL only with no room.
///
/// # Safety
/// As the entry points: `key` a live handle, `out` NULL or writable for
/// `out_cap` bytes, `out_len` NULL or writable.
unsafe fn key_and_buffer(
    key: u64,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> Result<(Arc<EnvelopeKey>, CallerBuffer), ApiError> {
    // SAFETY: per the contract.
    let key = unsafe { borrow_key(key) }?;
    if out.is_null() && out_cap != 0 {
        return Err(null("out"));
    }
    // SAFETY: per the contract.
    Ok((key, unsafe { CallerBuffer::new(out, out_cap, out_len) }))
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
) -> AzmxStatus {
    // SAFETY: the handle and pointers are valid as the contract above says.
    ffi_boundary!("azmx_uniffi_fast_seal", unsafe {
        let (key, mut buf) = key_and_buffer(key, out, out_cap, out_len)?;
        let needed = input_len
            .checked_add(MIN_ENVELOPE_LEN)
            .ok_or_else(|| ApiError::invalid_argument("`input_len` is too large"))?;
        let out_slice = buf.slice(needed)?;
        // Encrypts from the caller's input straight into the caller's
        // output: no intermediate buffer for bulk payloads.
        key.inner
            .seal_into(bytes(input, input_len, "input")?, out_slice)?;
        buf.set_len(needed);
        Ok(())
    })
}

/// Opens the v1 envelope `input[..input_len]` into `out` (`input_len - 29`
/// bytes are needed); `*out_len` receives the plaintext length. Nothing is
/// written to `out` unless the tag verifies.
///
/// # Safety
/// As [`azmx_uniffi_fast_seal`].
#[no_mangle]
pub unsafe extern "C" fn azmx_uniffi_fast_open(
    key: u64,
    input: *const u8,
    input_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> AzmxStatus {
    // SAFETY: the handle and pointers are valid as the contract above says.
    ffi_boundary!("azmx_uniffi_fast_open", unsafe {
        let (key, mut buf) = key_and_buffer(key, out, out_cap, out_len)?;
        let blob = bytes(input, input_len, "input")?;
        let needed = match blob.len().checked_sub(MIN_ENVELOPE_LEN) {
            Some(_) if blob[0] != ENVELOPE_VERSION => {
                return Err(azmx_sync_core::Error::UnsupportedVersion(blob[0]).into())
            }
            Some(n) => n,
            None => return Err(azmx_sync_core::Error::EnvelopeTooShort { len: blob.len() }.into()),
        };
        // The tag is verified before any plaintext is written to `out`.
        key.inner.open_into(blob, buf.slice(needed)?)?;
        buf.set_len(needed);
        Ok(())
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

    /// Seals or opens `input` into an `out_cap`-byte buffer: the status,
    /// `*out_len` and the bytes written.
    fn run(
        f: unsafe extern "C" fn(u64, *const u8, usize, *mut u8, usize, *mut usize) -> AzmxStatus,
        key: u64,
        input: &[u8],
        out_cap: usize,
    ) -> (AzmxStatus, usize, Vec<u8>) {
        let mut out = vec![0u8; out_cap];
        let mut n = 0usize;
        let rc = unsafe {
            f(
                key,
                input.as_ptr(),
                input.len(),
                out.as_mut_ptr(),
                out_cap,
                &mut n,
            )
        };
        out.truncate(n.min(out_cap));
        (rc, n, out)
    }

    #[test]
    fn round_trip_and_errors() {
        let k = EnvelopeKey::derive("r".into(), "lid".into()).unwrap();
        let (seal, open) = (azmx_uniffi_fast_seal, azmx_uniffi_fast_open);
        let msg = b"hello fast path";
        let sealed_len = msg.len() + MIN_ENVELOPE_LEN;
        let (rc, n, mut blob) = run(seal, handle(&k), msg, sealed_len);
        assert_eq!((rc, n), (AzmxStatus::Ok, sealed_len));
        assert_eq!(k.open(blob.clone()).unwrap(), msg);

        let (rc, _, out) = run(open, handle(&k), &blob, msg.len());
        assert_eq!((rc, &out[..]), (AzmxStatus::Ok, &msg[..]));
        let (rc, n, _) = run(open, handle(&k), &blob, 3);
        assert_eq!((rc, n), (AzmxStatus::BufferTooSmall, msg.len()));
        blob[20] ^= 1;
        let (rc, ..) = run(open, handle(&k), &blob, msg.len());
        assert_eq!(rc, AzmxStatus::DecryptFailed);
        let (rc, ..) = run(open, handle(&k), &blob[..5], 0);
        assert_eq!(rc, AzmxStatus::EnvelopeTooShort);
        assert_eq!(run(seal, 0, &msg[..1], 1).0, AzmxStatus::InvalidArgument);
        // `out_len` may be null when the caller knows the size.
        let mut blob2 = vec![0u8; 1 + MIN_ENVELOPE_LEN];
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
        assert_eq!(rc, AzmxStatus::Ok);
        assert_eq!(k.open(blob2).unwrap(), &msg[..1]);
        // Borrowing left the count alone; release gives back an owned clone.
        assert_eq!(Arc::strong_count(&k), 1);
        let owned =
            <EnvelopeKey as uniffi::FfiConverterArc<crate::UniFfiTag>>::lower(Arc::clone(&k));
        assert_eq!(Arc::strong_count(&k), 2);
        assert_eq!(
            unsafe { azmx_uniffi_fast_release_key(owned.as_raw()) },
            AzmxStatus::Ok
        );
        assert_eq!(Arc::strong_count(&k), 1);
        assert_eq!(
            unsafe { azmx_uniffi_fast_release_key(0) },
            AzmxStatus::InvalidArgument
        );
    }
}
