//! Envelope sizes every binding reports the same way.

use azmx_sync_core::MIN_ENVELOPE_LEN;

/// The size of the envelope that sealing `plaintext_len` bytes produces,
/// or 0 when that overflows (C's `azmx_sealed_len`).
pub fn sealed_len(plaintext_len: usize) -> usize {
    plaintext_len.checked_add(MIN_ENVELOPE_LEN).unwrap_or(0)
}
