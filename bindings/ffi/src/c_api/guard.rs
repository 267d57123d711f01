//! The panic boundary and the argument helpers shared by every entry point,
//! so that each `extern "C"` function is its contract (doc comment), one
//! SAFETY comment and a few lines of body.
//!
//! The shape of an entry point, in the style of rustls-ffi's
//! `ffi_panic_boundary!`:
//!
//! ```ignore
//! pub unsafe extern "C" fn azmx_thing(h: *const Handle, out_json: *mut AzmxBuffer) -> AzmxStatus {
//!     // SAFETY: ...why the pointers may be read/written...
//!     ffi_boundary!("azmx_thing", out_json => unsafe { Ok(handle(h, "h")?.json()) })
//! }
//! ```
//!
//! `ffi_boundary!` catches panics, turns an [`ApiError`] into its status and
//! the thread's last-error message, clears the message on success and,
//! with `out =>`, resets the `AzmxBuffer` out-parameter before the body
//! runs and stores the body's result in it.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use super::buffer::{AzmxBuffer, IntoBuffer};
use azmx_sync_bridge::call::catch_panic;
use azmx_sync_bridge::ApiError;
use zeroize::Zeroize;

use super::error::{clear_last_error, set_last_error, AzmxStatus};

/// The panic boundary of a status-returning entry point.
///
/// - `ffi_boundary!("name", { body })`: `body` is a `CallResult`.
/// - `ffi_boundary!("name", out => body)`: `out` is a `*mut AzmxBuffer`
///   out-parameter, reset to `{NULL, 0, 0}` first (`NULL_POINTER` if it is
///   NULL); `body` is a `Result<String | Vec<u8>, ApiError>` stored in it.
macro_rules! ffi_boundary {
    ($name:literal, $out:ident => $body:expr) => {
        $crate::c_api::guard::call($name, || {
            // SAFETY: every entry point using this form documents `$out`
            // as NULL or writable for one `AzmxBuffer`.
            let slot = unsafe { $crate::c_api::guard::OutSlot::reset($out, stringify!($out)) }?;
            slot.fill($body)
        })
    };
    ($name:literal, $body:expr) => {
        $crate::c_api::guard::call($name, || $body)
    };
}
pub(crate) use ffi_boundary;

// A failed call is an `ApiError`: its C status number comes from the shared
// error table, its message (kept for `azmx_last_error_message`) from its
// Display, which never carries secrets or user data.

/// A required pointer argument was NULL.
pub(crate) fn null(what: &str) -> ApiError {
    ApiError::NullPointer {
        detail: format!("`{what}` is NULL"),
    }
}

/// A caller-owned output buffer is too small.
pub(crate) fn too_small(needed: usize) -> ApiError {
    ApiError::BufferTooSmall {
        detail: format!("output buffer too small: {needed} bytes needed"),
    }
}

pub(crate) type CallResult = Result<(), ApiError>;

/// Runs the body of an entry point: catches panics (so none unwinds into C),
/// records the error message of a failure, clears it on success.
pub(crate) fn call(name: &'static str, body: impl FnOnce() -> CallResult) -> AzmxStatus {
    match catch_panic(name, body) {
        Ok(()) => {
            clear_last_error();
            AzmxStatus::Ok
        }
        Err(e) => {
            set_last_error(&e.to_string());
            AzmxStatus::of(&e)
        }
    }
}

/// Panic boundary for entry points that return a value instead of a status
/// (`_free`, sizes, names): `fallback` is returned after a panic.
pub(crate) fn call_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// A buffer out-parameter, reset on entry to `{NULL, 0, 0}` (so that it
/// can be freed whatever happens next) and filled on success.
pub(crate) struct OutSlot(*mut AzmxBuffer);

impl OutSlot {
    /// Resets `out` to `{NULL, 0, 0}` (`NULL_POINTER` if it is NULL).
    ///
    /// # Safety
    /// `out` must be NULL or valid for writes of an `AzmxBuffer` for as
    /// long as the slot lives.
    pub(crate) unsafe fn reset(out: *mut AzmxBuffer, what: &str) -> Result<Self, ApiError> {
        // SAFETY: NULL or writable per the contract; `put` does not drop
        // whatever (possibly uninitialised) value was there.
        unsafe { put(out, AzmxBuffer::EMPTY, what) }?;
        Ok(OutSlot(out))
    }

    /// Stores a successful result.
    pub(crate) fn fill<T: IntoBuffer>(self, result: Result<T, ApiError>) -> CallResult {
        let value = result?.into_buffer();
        // SAFETY: checked non-NULL and writable by `reset`.
        unsafe { self.0.write(value) };
        Ok(())
    }
}

/// Borrows an opaque handle made by this library.
///
/// # Safety
/// `ptr` must be NULL or a live handle that is not freed during `'a`.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, what: &str) -> Result<&'a T, ApiError> {
    // SAFETY: NULL or live per the contract; handles are only read (the
    // types behind them synchronise inside where they change).
    unsafe { ptr.as_ref() }.ok_or_else(|| null(what))
}

/// Hands a new handle to C through `out` (checked non-NULL before).
///
/// # Safety
/// `out` must be NULL or valid for a write of a pointer.
pub(crate) unsafe fn put_handle<T>(out: *mut *mut T, value: T, what: &str) -> CallResult {
    // SAFETY: per the contract; released by `free_handle`.
    unsafe { put(out, Box::into_raw(Box::new(value)), what) }
}

/// Releases a handle made by [`put_handle`]; NULL is a no-op. Its value's
/// `Drop` (zeroizing keys, stopping schedulers) runs here.
///
/// # Safety
/// `ptr` must be NULL or a handle from `put_handle` not freed before and
/// not in use by another thread.
pub(crate) unsafe fn free_handle<T>(ptr: *mut T) {
    call_value((), || {
        if !ptr.is_null() {
            // SAFETY: from Box::into_raw in `put_handle`, freed once.
            drop(unsafe { Box::from_raw(ptr) });
        }
    })
}

/// Borrows `(ptr, len)` as a byte slice. NULL is accepted only with `len == 0`.
///
/// # Safety
/// If `ptr` is not NULL it must be valid for reads of `len` bytes for `'a`,
/// and not be written during `'a`.
pub(crate) unsafe fn bytes<'a>(
    ptr: *const u8,
    len: usize,
    what: &str,
) -> Result<&'a [u8], ApiError> {
    if ptr.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(null(what)) };
    }
    if len > isize::MAX as usize {
        return Err(ApiError::invalid_argument(format!(
            "`{what}` length is too large"
        )));
    }
    // SAFETY: non-NULL, and the caller guarantees `len` readable bytes that
    // stay unchanged for 'a; len ≤ isize::MAX was checked above.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows `(ptr, len)` as UTF-8 text (a receipt: no NUL needed).
///
/// # Safety
/// As [`bytes`].
pub(crate) unsafe fn utf8<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a str, ApiError> {
    // SAFETY: per the contract.
    let raw = unsafe { bytes(ptr, len, what) }?;
    std::str::from_utf8(raw)
        .map_err(|_| ApiError::invalid_argument(format!("`{what}` is not valid UTF-8")))
}

/// Borrows a NUL-terminated C string as UTF-8.
///
/// # Safety
/// If `ptr` is not NULL it must point to a NUL-terminated string valid and
/// unchanged for `'a`.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, ApiError> {
    // SAFETY: per the contract.
    let raw = unsafe { c_bytes(ptr, what) }?;
    std::str::from_utf8(raw)
        .map_err(|_| ApiError::invalid_argument(format!("`{what}` is not valid UTF-8")))
}

/// An optional NUL-terminated UTF-8 string: NULL is `None`.
///
/// # Safety
/// As [`text`].
pub(crate) unsafe fn opt_text(ptr: *const c_char, what: &str) -> Result<Option<String>, ApiError> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated per the contract.
    Ok(Some(unsafe { text(ptr, what) }?.to_string()))
}

/// Borrows a NUL-terminated C string as raw bytes (for paths).
///
/// # Safety
/// As [`text`].
pub(crate) unsafe fn c_bytes<'a>(ptr: *const c_char, what: &str) -> Result<&'a [u8], ApiError> {
    if ptr.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-NULL and NUL-terminated per the contract.
    Ok(unsafe { CStr::from_ptr(ptr) }.to_bytes())
}

/// A path given as a NUL-terminated string of OS bytes; empty is refused.
///
/// # Safety
/// As [`text`].
pub(crate) unsafe fn path(ptr: *const c_char, what: &str) -> Result<PathBuf, ApiError> {
    // SAFETY: per the contract.
    let raw = unsafe { c_bytes(ptr, what) }?;
    if raw.is_empty() {
        return Err(ApiError::invalid_argument(format!("`{what}` is empty")));
    }
    path_from(raw, what)
}

#[cfg(unix)]
fn path_from(raw: &[u8], _what: &str) -> Result<PathBuf, ApiError> {
    use std::os::unix::ffi::OsStrExt;
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(raw)))
}

#[cfg(not(unix))]
fn path_from(raw: &[u8], what: &str) -> Result<PathBuf, ApiError> {
    std::str::from_utf8(raw)
        .map(PathBuf::from)
        .map_err(|_| ApiError::invalid_argument(format!("`{what}` is not valid UTF-8")))
}

/// Writes `value` through an out-pointer; NULL is `NULL_POINTER`.
///
/// # Safety
/// `out` must be NULL or valid for a write of `T`.
pub(crate) unsafe fn put<T>(out: *mut T, value: T, what: &str) -> CallResult {
    if out.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-NULL and writable per the caller's contract; `write`
    // does not read or drop the previous (possibly uninitialised) value.
    unsafe { out.write(value) };
    Ok(())
}

/// Writes `value` through an optional out-pointer: NULL means the caller
/// does not want it.
///
/// # Safety
/// `out` must be NULL or valid for a write of `T`.
pub(crate) unsafe fn put_opt<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out.write(value) };
    }
}

/// A caller-owned output buffer (`out`, `cap` bytes) and its `*len`, which
/// receives the size written, or needed with `BUFFER_TOO_SMALL`: the `_into`
/// functions of the C ABI and the uniffi fast path.
pub(crate) struct CallerBuffer {
    out: *mut u8,
    cap: usize,
    len: *mut usize,
}

impl CallerBuffer {
    /// # Safety
    /// `out` must be NULL or writable for `cap` bytes, and `len` NULL or
    /// writable, for as long as the value lives.
    pub(crate) unsafe fn new(out: *mut u8, cap: usize, len: *mut usize) -> Self {
        CallerBuffer { out, cap, len }
    }

    /// `BUFFER_TOO_SMALL` with `*len = need`, unless `need` bytes fit. Made
    /// before any work, a size query (`out = NULL, cap = 0`) costs nothing.
    pub(crate) fn room(&self, need: usize) -> CallResult {
        if need > self.cap || (self.out.is_null() && need > 0) {
            self.set_len(need);
            return Err(too_small(need));
        }
        Ok(())
    }

    /// The buffer's first `need` bytes, to write the result into.
    pub(crate) fn slice(&mut self, need: usize) -> Result<&mut [u8], ApiError> {
        self.room(need)?;
        if need == 0 {
            return Ok(&mut []);
        }
        // SAFETY: non-NULL (checked by `room`) and writable for
        // `cap >= need` bytes per the contract of `new`.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.out, need) })
    }

    /// `*len = n` (when `len` is not NULL).
    pub(crate) fn set_len(&self, n: usize) {
        // SAFETY: NULL or writable per the contract of `new`.
        unsafe { put_opt(self.len, n) }
    }

    /// Copies `result` in (or `BUFFER_TOO_SMALL`), `*len` its size either
    /// way, then wipes it. `result` is a fresh allocation, so it cannot
    /// overlap the buffer.
    pub(crate) fn fill(&mut self, mut result: Vec<u8>) -> CallResult {
        let filled = self.slice(result.len()).map(|s| s.copy_from_slice(&result));
        self.set_len(result.len());
        result.zeroize();
        filled
    }
}

/// A result document for C: `serde_json::to_string(..)`'s outcome, whose
/// error (which could quote values) is replaced by a fixed message.
pub(crate) fn json_text(doc: serde_json::Result<String>, what: &str) -> Result<String, ApiError> {
    doc.map_err(|_| ApiError::internal(format!("{what} could not be serialised")))
}

/// Wipes a caller-owned secret (a receipt) when dropped, so the caller's
/// copy is zeroed however the call ends: success, error or panic.
pub(crate) struct WipeOnDrop {
    ptr: *mut u8,
    len: usize,
}

impl WipeOnDrop {
    /// # Safety
    /// `ptr` must be NULL or valid for writes of `len` bytes until the guard
    /// is dropped, and no Rust reference to those bytes may outlive it.
    pub(crate) unsafe fn new(ptr: *mut u8, len: usize) -> Self {
        WipeOnDrop { ptr, len }
    }
}

impl Drop for WipeOnDrop {
    fn drop(&mut self) {
        if !self.ptr.is_null() && self.len <= isize::MAX as usize {
            // SAFETY: writable for `len` bytes and not borrowed any more, by
            // the contract of `new`.
            unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }.zeroize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::c_api::{azmx_last_error_message, AzmxBuffer};

    fn last_message() -> String {
        // SAFETY: the library returns a valid NUL-terminated string.
        unsafe { CStr::from_ptr(azmx_last_error_message()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn panics_become_a_status_not_an_unwind() {
        let status = call("azmx_test", || panic!("secret-ish payload"));
        assert_eq!(status, AzmxStatus::Panic);
        let msg = last_message();
        assert!(msg.contains("azmx_test"), "{msg}");
        assert!(!msg.contains("secret"), "payload must not leak: {msg}");
        assert_eq!(call_value(7u32, || panic!("x")), 7);
    }

    #[test]
    fn success_clears_the_message() {
        let _ = call("a", || Err(ApiError::invalid_argument("bad")));
        assert_eq!(last_message(), "bad");
        assert_eq!(call("b", || Ok(())), AzmxStatus::Ok);
        assert_eq!(last_message(), "");
    }

    #[test]
    fn the_out_form_resets_then_fills() {
        // Uninitialised-looking garbage, as a C caller may pass.
        let mut out = AzmxBuffer {
            ptr: std::ptr::NonNull::dangling().as_ptr(),
            len: 5,
            cap: 0,
        };
        let out_ptr: *mut AzmxBuffer = &mut out;
        let s = ffi_boundary!("t", out_ptr => Err::<String, _>(ApiError::invalid_argument("no")));
        assert_eq!(s, AzmxStatus::InvalidArgument);
        assert!(out.ptr.is_null(), "reset before the body ran");
        let s = ffi_boundary!("t", out_ptr => Ok(String::from("yes")));
        assert_eq!((s, out.len), (AzmxStatus::Ok, 3));
        // SAFETY: a library-made buffer.
        unsafe { crate::c_api::azmx_buffer_free(&mut out) };
        let null: *mut AzmxBuffer = std::ptr::null_mut();
        let s = ffi_boundary!("t", null => Ok(Vec::<u8>::new()));
        assert_eq!(s, AzmxStatus::NullPointer);
    }

    #[test]
    fn null_slices() {
        // SAFETY: NULL with len 0 is the documented empty input.
        assert_eq!(unsafe { bytes(std::ptr::null(), 0, "x") }.unwrap(), b"");
        // SAFETY: NULL with len > 0 is rejected before any read.
        let e = unsafe { bytes(std::ptr::null(), 3, "x") }.unwrap_err();
        assert_eq!(AzmxStatus::of(&e), AzmxStatus::NullPointer);
    }
}
