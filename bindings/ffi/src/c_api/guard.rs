//! The panic boundary and the pointer checks shared by every entry point.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{clear_last_error, set_last_error, AzmxStatus};

/// A failed call: the status returned to C and the message kept for
/// `azmx_last_error_message`. Messages never carry secrets or user data.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: AzmxStatus,
    pub message: String,
}

impl Failure {
    pub fn new(status: AzmxStatus, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub fn null(what: &str) -> Self {
        Failure::new(AzmxStatus::NullPointer, format!("`{what}` is NULL"))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Failure::new(AzmxStatus::InvalidArgument, message)
    }
}

impl From<azmx_sync_core::Error> for Failure {
    fn from(e: azmx_sync_core::Error) -> Self {
        // The core's messages are written to be secret-free (see core/src/error.rs).
        Failure::new(AzmxStatus::from_core(&e), e.to_string())
    }
}

pub(crate) type CallResult = Result<(), Failure>;

/// Runs the body of an entry point: catches panics (so none unwinds into C),
/// records the error message of a failure, clears it on success.
pub(crate) fn call(name: &'static str, body: impl FnOnce() -> CallResult) -> AzmxStatus {
    // AssertUnwindSafe: after a panic nothing observes the body's state
    // again; the handles it may have touched are only ever read by the
    // library (immutable after creation).
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            clear_last_error();
            AzmxStatus::Ok
        }
        Ok(Err(f)) => {
            set_last_error(&f.message);
            f.status
        }
        Err(_) => {
            // The panic payload is deliberately not copied into the message.
            set_last_error(&format!("internal error: panic inside {name}"));
            AzmxStatus::Panic
        }
    }
}

/// Panic boundary for entry points that return a value instead of a status
/// (`_free`, sizes, names): `fallback` is returned after a panic.
pub(crate) fn call_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
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
) -> Result<&'a [u8], Failure> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Failure::null(what))
        };
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid(format!("`{what}` length is too large")));
    }
    // SAFETY: non-NULL, and the caller guarantees `len` readable bytes that
    // stay unchanged for 'a; len ≤ isize::MAX was checked above.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows a NUL-terminated C string as UTF-8.
///
/// # Safety
/// If `ptr` is not NULL it must point to a NUL-terminated string valid and
/// unchanged for `'a`.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str()
        .map_err(|_| Failure::invalid(format!("`{what}` is not valid UTF-8")))
}

/// Borrows a NUL-terminated C string as raw bytes (for paths).
///
/// # Safety
/// As [`text`].
pub(crate) unsafe fn c_bytes<'a>(ptr: *const c_char, what: &str) -> Result<&'a [u8], Failure> {
    if ptr.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    Ok(unsafe { CStr::from_ptr(ptr) }.to_bytes())
}

/// Writes `value` through an out-pointer that was checked non-NULL.
///
/// # Safety
/// `out` must be NULL or valid for a write of `T`.
pub(crate) unsafe fn put<T>(out: *mut T, value: T, what: &str) -> CallResult {
    if out.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL and writable per the caller's contract; `write`
    // does not read or drop the previous (possibly uninitialised) value.
    unsafe { out.write(value) };
    Ok(())
}

/// Overwrites `buf` with zeros in a way the optimiser cannot remove.
pub(crate) fn wipe(buf: &mut [u8]) {
    for b in buf.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference to one byte.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
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
            wipe(unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::c_api::azmx_last_error_message;

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
        let _ = call("a", || Err(Failure::invalid("bad")));
        assert_eq!(last_message(), "bad");
        assert_eq!(call("b", || Ok(())), AzmxStatus::Ok);
        assert_eq!(last_message(), "");
    }

    #[test]
    fn null_slices() {
        // SAFETY: NULL with len 0 is the documented empty input.
        assert_eq!(unsafe { bytes(std::ptr::null(), 0, "x") }.unwrap(), b"");
        // SAFETY: NULL with len > 0 is rejected before any read.
        let e = unsafe { bytes(std::ptr::null(), 3, "x") }.unwrap_err();
        assert_eq!(e.status, AzmxStatus::NullPointer);
    }

    #[test]
    fn wipe_zeroes() {
        let mut v = vec![0xaa_u8; 33];
        wipe(&mut v);
        assert!(v.iter().all(|&b| b == 0));
    }
}
