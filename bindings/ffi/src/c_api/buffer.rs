//! Library-owned byte buffers.

use std::mem::ManuallyDrop;

use zeroize::Zeroize;

use super::guard::call_value;

/// A byte buffer allocated by the library and owned by the caller until it
/// is passed to [`azmx_buffer_free`]. Do not modify the fields.
///
/// `ptr` is valid for `len` bytes (for an empty result it may be a
/// non-NULL dangling pointer with `cap == 0`). Text results (base64url,
/// hex, JSON, keys, signatures) are NUL-terminated: `ptr[len] == 0`, so
/// `(const char *)ptr` is a C string. `{NULL, 0, 0}` is the empty value,
/// which every out-parameter holds after a failed call.
#[repr(C)]
#[derive(Debug)]
pub struct AzmxBuffer {
    /// First byte.
    pub ptr: *mut u8,
    /// Number of bytes of the result (without the NUL of text results).
    pub len: usize,
    /// Allocation size; for the library's bookkeeping.
    pub cap: usize,
}

impl AzmxBuffer {
    pub(crate) const EMPTY: AzmxBuffer = AzmxBuffer {
        ptr: std::ptr::null_mut(),
        len: 0,
        cap: 0,
    };

    /// Hands a byte vector to C.
    pub(crate) fn from_bytes(v: Vec<u8>) -> Self {
        let mut v = ManuallyDrop::new(v);
        AzmxBuffer {
            ptr: v.as_mut_ptr(),
            len: v.len(),
            cap: v.capacity(),
        }
    }

    /// Hands a string to C, NUL-terminated (`len` excludes the NUL).
    pub(crate) fn from_text(s: String) -> Self {
        let mut v = s.into_bytes();
        let len = v.len();
        v.push(0);
        let mut b = Self::from_bytes(v);
        b.len = len;
        b
    }
}

/// What an entry point hands back in an [`AzmxBuffer`]: text is
/// NUL-terminated, bytes are not.
pub(crate) trait IntoBuffer {
    fn into_buffer(self) -> AzmxBuffer;
}

impl IntoBuffer for String {
    fn into_buffer(self) -> AzmxBuffer {
        AzmxBuffer::from_text(self)
    }
}

impl IntoBuffer for Vec<u8> {
    fn into_buffer(self) -> AzmxBuffer {
        AzmxBuffer::from_bytes(self)
    }
}

/// Wipes and frees a buffer returned by the library, then resets it to
/// `{NULL, 0, 0}`. NULL, or an already-empty buffer, is a no-op, so
/// calling it twice is safe.
///
/// # Safety
/// `buf` must be NULL or point to an `AzmxBuffer` that was filled by this
/// library and not modified since.
#[no_mangle]
pub unsafe extern "C" fn azmx_buffer_free(buf: *mut AzmxBuffer) {
    // SAFETY (extern "C"): see `# Safety`; the body only reads/writes
    // `*buf` after a NULL check and runs inside the panic boundary.
    call_value((), || {
        if buf.is_null() {
            return;
        }
        // SAFETY: non-NULL and, per the contract, a valid AzmxBuffer.
        let b = unsafe { &mut *buf };
        if b.ptr.is_null() {
            *b = AzmxBuffer::EMPTY;
            return;
        }
        // SAFETY: (ptr, len, cap) are exactly the parts of a Vec<u8> the
        // library leaked in `AzmxBuffer::from_bytes` (text buffers keep their
        // NUL at [len], inside cap, which a Vec may leave there); the caller
        // has not modified them.
        let mut v = unsafe { Vec::from_raw_parts(b.ptr, b.len, b.cap) };
        v.zeroize();
        drop(v);
        *b = AzmxBuffer::EMPTY;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_nul_terminated_and_free_resets() {
        let mut b = AzmxBuffer::from_text("abc".into());
        assert_eq!(b.len, 3);
        // SAFETY: from_text allocated len + 1 bytes with a NUL at [len].
        assert_eq!(unsafe { *b.ptr.add(3) }, 0);
        // SAFETY: `b` is a buffer made by the library.
        unsafe { azmx_buffer_free(&mut b) };
        assert!(b.ptr.is_null() && b.len == 0 && b.cap == 0);
        // SAFETY: freeing an empty buffer or NULL is a documented no-op.
        unsafe {
            azmx_buffer_free(&mut b);
            azmx_buffer_free(std::ptr::null_mut());
        }
        let mut e = AzmxBuffer::from_bytes(Vec::new());
        // SAFETY: a library-made empty buffer.
        unsafe { azmx_buffer_free(&mut e) };
    }
}
