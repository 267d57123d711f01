//! Blob integrity: SHA-256 over the raw blob bytes, checked before any decrypt
//! so storage corruption is reported as such and not as a decrypt failure.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Error;

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Checks that `blob` hashes to `expected_sha256_hex` (lowercase hex, 64 chars).
///
/// Fails with [`Error::BlobIntegrity`], a different variant from
/// [`Error::DecryptFailed`], so corruption and a wrong key stay distinguishable.
pub fn verify_blob(expected_sha256_hex: &str, blob: &[u8]) -> Result<(), Error> {
    let actual = sha256_hex(blob);
    if is_sha256_hex(expected_sha256_hex)
        && bool::from(actual.as_bytes().ct_eq(expected_sha256_hex.as_bytes()))
    {
        return Ok(());
    }
    Err(Error::BlobIntegrity {
        expected: expected_sha256_hex.chars().take(64).collect(),
        actual,
    })
}

/// True for exactly 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest_and_mismatch() {
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(sha256_hex(b""), empty);
        verify_blob(empty, b"").unwrap();
        match verify_blob(empty, b"x") {
            Err(Error::BlobIntegrity { expected, actual }) => {
                assert_eq!(expected, empty);
                assert_eq!(actual, sha256_hex(b"x"));
            }
            other => panic!("unexpected {other:?}"),
        }
        // Uppercase hex is not the contract's form.
        assert!(verify_blob(&empty.to_uppercase(), b"").is_err());
    }
}
