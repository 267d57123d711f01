//! The envelope key and blob integrity.

use std::sync::Arc;

use azmx_sync_core::{open_text, seal_text};
use zeroize::Zeroizing;

use super::error::SyncError;

/// The AES-256-GCM envelope key, derived from the recovery receipt.
///
/// The key bytes never leave Rust: no method returns them, `Debug`/`Display`
/// (Python `repr`/`str`, Kotlin `toString`, Swift `description`) print
/// `EnvelopeKey(<redacted>)`, and the bytes are zeroized when the last
/// reference is dropped. Equality is constant-time and compares keys without
/// exposing them.
#[derive(uniffi::Object, PartialEq, Eq)]
#[uniffi::export(Debug, Display, Eq)]
pub struct EnvelopeKey {
    pub(crate) inner: azmx_sync_core::EnvelopeKey,
}

impl std::fmt::Debug for EnvelopeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvelopeKey(<redacted>)")
    }
}

impl std::fmt::Display for EnvelopeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

#[uniffi::export]
impl EnvelopeKey {
    /// PBKDF2-HMAC-SHA256 (600 000 iterations) of the trimmed receipt, salted
    /// with the license id. Takes about 100 ms: derive once and keep the key.
    ///
    /// The receipt's Rust copy is zeroized before this returns (the foreign
    /// runtime's own string is outside Rust's reach).
    #[uniffi::constructor]
    pub fn derive(receipt: String, license_id: String) -> Result<Arc<Self>, SyncError> {
        let receipt = Zeroizing::new(receipt);
        let inner = azmx_sync_core::EnvelopeKey::derive(&receipt, &license_id)?;
        Ok(Arc::new(Self { inner }))
    }

    /// Seals `plaintext` into a v1 envelope blob
    /// (`0x01 | iv | ciphertext | tag`), with a fresh random IV.
    pub fn seal(&self, plaintext: Vec<u8>) -> Vec<u8> {
        self.inner.seal(&plaintext)
    }

    /// Opens a v1 envelope blob. Errors, in check order: `EnvelopeTooShort`,
    /// `UnsupportedVersion`, `DecryptFailed`. No partial plaintext.
    pub fn open(&self, blob: Vec<u8>) -> Result<Vec<u8>, SyncError> {
        Ok(self.inner.open(&blob)?)
    }

    /// [`seal`](Self::seal), returning the unpadded base64url text form.
    pub fn seal_text(&self, plaintext: Vec<u8>) -> String {
        seal_text(&self.inner, &plaintext)
    }

    /// Opens the text form; first `InvalidBase64`, then as [`open`](Self::open).
    pub fn open_text(&self, text: String) -> Result<Vec<u8>, SyncError> {
        Ok(open_text(&self.inner, &text)?)
    }
}

/// Lowercase hex SHA-256 of `data`.
#[uniffi::export]
pub fn sha256_hex(data: Vec<u8>) -> String {
    azmx_sync_core::sha256_hex(&data)
}

/// Checks `blob` against the SHA-256 it travelled with, before any decrypt:
/// a mismatch is `BlobIntegrityError`, never `DecryptFailed`.
#[uniffi::export]
pub fn verify_blob(expected_sha256_hex: String, blob: Vec<u8>) -> Result<(), SyncError> {
    Ok(azmx_sync_core::verify_blob(&expected_sha256_hex, &blob)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_show_nothing_secret() {
        let k = EnvelopeKey::derive("  receipt-abc \n".into(), "lid".into()).unwrap();
        assert_eq!(format!("{k:?}"), "EnvelopeKey(<redacted>)");
        assert_eq!(k.to_string(), "EnvelopeKey(<redacted>)");
        let blob = k.seal(b"hi".to_vec());
        assert_eq!(k.open(blob).unwrap(), b"hi");
        let other = EnvelopeKey::derive("receipt-abc".into(), "lid".into()).unwrap();
        assert!(*k == *other);
    }
}
