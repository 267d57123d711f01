//! The envelope key: PBKDF2-HMAC-SHA256 over the recovery receipt.
//!
//! `key = PBKDF2-HMAC-SHA256(password = trim_ascii(receipt) as UTF-8,
//!                           salt = "azmx.sync.envelope.v1:" + license_lid,
//!                           iterations = 600_000, dkLen = 32)`
//!
//! The only normalisation is trimming surrounding ASCII whitespace (space,
//! tab, CR, LF, FF), because receipts are pasted from email; interior
//! characters and Unicode are taken byte-for-byte as UTF-8 (no NFC/NFKC).
//!
//! Derivation costs ~100 ms by design: derive once and keep the key.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::error::Error;

/// Salt prefix; the license id is appended verbatim.
pub const SALT_PREFIX: &str = "azmx.sync.envelope.v1:";
/// PBKDF2 iteration count (OWASP 2023 floor for PBKDF2-HMAC-SHA256).
pub const PBKDF2_ITERATIONS: u32 = 600_000;
/// Key length in bytes (AES-256).
pub const KEY_LEN: usize = 32;

/// The receipt normalisation of PROTOCOL §1, the one rule every host uses:
/// surrounding ASCII whitespace (space, tab, CR, LF, FF) is removed; nothing
/// else, so a no-break space or other Unicode whitespace is part of the
/// receipt. Hosts that clean up pasted input must call this, not their
/// language's `trim`, or their key differs from the other devices'.
pub fn trim_receipt(receipt: &str) -> &str {
    receipt.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// A 256-bit AES-GCM key derived from the recovery receipt.
///
/// Zeroized on drop; its `Debug` shows no key bytes; the only public API
/// that returns the bytes is [`to_keystore_bytes`](Self::to_keystore_bytes)
/// (in a zeroizing container, for the OS secret store). It is deliberately
/// not `Clone`: share it behind an `Arc`.
#[derive(ZeroizeOnDrop)]
pub struct EnvelopeKey {
    bytes: [u8; KEY_LEN],
}

impl EnvelopeKey {
    /// Derives the key from a receipt and license id (see the module docs).
    pub fn derive(receipt: &str, license_lid: &str) -> Result<Self, Error> {
        Self::derive_secret(SecretString::from(receipt), license_lid)
    }

    /// Like [`derive`](Self::derive) but takes ownership of the receipt in a
    /// secret container, which is zeroized when this returns.
    pub fn derive_secret(receipt: SecretString, license_lid: &str) -> Result<Self, Error> {
        let trimmed = trim_receipt(receipt.expose_secret());
        if trimmed.is_empty() {
            return Err(Error::EmptyReceipt);
        }
        if license_lid.is_empty() {
            return Err(Error::EmptyLicenseId);
        }
        let password = Zeroizing::new(trimmed.as_bytes().to_vec());
        drop(receipt);
        let salt = format!("{SALT_PREFIX}{license_lid}");
        let mut key = Self {
            bytes: [0u8; KEY_LEN],
        };
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
            &password,
            salt.as_bytes(),
            PBKDF2_ITERATIONS,
            &mut key.bytes,
        );
        Ok(key)
    }

    /// Builds a key from raw bytes. Only for known-answer vectors and tests.
    #[cfg(any(test, feature = "test-vectors"))]
    #[doc(hidden)]
    pub fn from_bytes_for_vectors(bytes: [u8; KEY_LEN]) -> Self {
        Self { bytes }
    }

    /// Hex of the key bytes. Only for known-answer vectors and tests.
    #[cfg(any(test, feature = "test-vectors"))]
    #[doc(hidden)]
    pub fn to_hex_for_vectors(&self) -> String {
        hex::encode(self.bytes)
    }

    /// The key's bytes, for a host that keeps the derived key in the
    /// operating system's secret store so that unattended runs need no
    /// receipt (the CLI's `init --remember`, docs/SECURITY.md). They open
    /// every envelope of the license and derive its authority key: hand them
    /// only to such a store, never to a file, a log or the network.
    pub fn to_keystore_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.bytes)
    }

    /// The key back from [`to_keystore_bytes`](Self::to_keystore_bytes).
    /// Nothing here can tell a wrong key: the license's key check does
    /// (`SyncEngine::verify_receipt`).
    pub fn from_keystore_bytes(bytes: &Zeroizing<[u8; KEY_LEN]>) -> Self {
        Self { bytes: **bytes }
    }

    pub(crate) fn aes_key(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// The PBKDF2 output itself (the same bytes as the AES key), from which
    /// `authority` derives the license authority key with HKDF: sharing it
    /// means a host pays for one PBKDF2, not two.
    pub(crate) fn pbkdf2_output(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// Seals `plaintext` into a v1 envelope blob (raw bytes).
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        crate::envelope::seal(self, plaintext)
    }

    /// Opens a v1 envelope blob (raw bytes).
    pub fn open(&self, blob: &[u8]) -> Result<Vec<u8>, Error> {
        crate::envelope::open(self, blob)
    }

    /// [`seal`](Self::seal) into a caller-owned buffer of exactly
    /// `plaintext.len() + 29` bytes, without intermediate copies.
    pub fn seal_into(&self, plaintext: &[u8], out: &mut [u8]) -> Result<(), Error> {
        crate::envelope::seal_into(self, plaintext, out)
    }

    /// [`open`](Self::open) into a caller-owned buffer of exactly
    /// `blob.len() - 29` bytes; nothing is written unless the tag verifies.
    pub fn open_into(&self, blob: &[u8], out: &mut [u8]) -> Result<(), Error> {
        crate::envelope::open_into(self, blob, out)
    }
}

impl PartialEq for EnvelopeKey {
    /// Constant-time comparison.
    fn eq(&self, other: &Self) -> bool {
        self.bytes.ct_eq(&other.bytes).into()
    }
}
impl Eq for EnvelopeKey {}

impl std::fmt::Debug for EnvelopeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnvelopeKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystore_bytes_round_trip_to_the_same_key() {
        let a = EnvelopeKey::derive("receipt-1", "lid").unwrap();
        let b = EnvelopeKey::from_keystore_bytes(&a.to_keystore_bytes());
        assert_eq!(a, b);
        let sealed = a.seal(b"fact");
        assert_eq!(b.open(&sealed).unwrap(), b"fact");
        assert_ne!(b, EnvelopeKey::derive("receipt-2", "lid").unwrap());
    }

    #[test]
    fn trims_ascii_whitespace_only() {
        let a = EnvelopeKey::derive("receipt-1", "lid").unwrap();
        let b = EnvelopeKey::derive(" \t receipt-1\r\n", "lid").unwrap();
        assert_eq!(a, b);
        // U+00A0 is not ASCII whitespace: it is part of the receipt.
        let c = EnvelopeKey::derive("\u{a0}receipt-1", "lid").unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn empty_inputs_are_typed_errors() {
        assert!(matches!(
            EnvelopeKey::derive("  \n", "lid"),
            Err(Error::EmptyReceipt)
        ));
        assert!(matches!(
            EnvelopeKey::derive("r", ""),
            Err(Error::EmptyLicenseId)
        ));
    }

    #[test]
    fn debug_hides_bytes() {
        let k = EnvelopeKey::from_bytes_for_vectors([0xab; 32]);
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("ab") && !dbg.contains("171"), "{dbg}");
    }

    #[test]
    fn salt_binds_license() {
        let a = EnvelopeKey::derive("r", "lid-a").unwrap();
        let b = EnvelopeKey::derive("r", "lid-b").unwrap();
        assert_ne!(a, b);
    }
}
