//! Envelope v1: `0x01 | iv (12 bytes) | AES-256-GCM ciphertext | tag (16 bytes)`.
//!
//! The raw bytes are the *blob*; its text form is unpadded base64url. A fresh
//! IV comes from the OS CSPRNG for every seal. The envelope carries no AAD
//! (the seed's format); context is bound inside the plaintext by the engine.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use rand_core::{OsRng, RngCore};

use crate::error::Error;
use crate::kdf::EnvelopeKey;

pub const ENVELOPE_VERSION: u8 = 0x01;
pub const IV_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// version + iv + tag: the blob of an empty plaintext.
pub const MIN_ENVELOPE_LEN: usize = 1 + IV_LEN + TAG_LEN;

/// Seals `plaintext` with a fresh random IV; returns the raw blob.
pub fn seal(key: &EnvelopeKey, plaintext: &[u8]) -> Vec<u8> {
    let mut iv = [0u8; IV_LEN];
    OsRng.fill_bytes(&mut iv);
    seal_with_iv_inner(key, &iv, plaintext)
}

/// Seals with a caller-chosen IV. Reusing an IV under one key breaks GCM,
/// so this exists only to generate and check known-answer vectors.
#[cfg(any(test, feature = "test-vectors"))]
#[doc(hidden)]
pub fn seal_with_iv_for_vectors(key: &EnvelopeKey, iv: &[u8; IV_LEN], plaintext: &[u8]) -> Vec<u8> {
    seal_with_iv_inner(key, iv, plaintext)
}

fn seal_with_iv_inner(key: &EnvelopeKey, iv: &[u8; IV_LEN], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.aes_key().into());
    let mut blob = Vec::with_capacity(MIN_ENVELOPE_LEN + plaintext.len());
    blob.push(ENVELOPE_VERSION);
    blob.extend_from_slice(iv);
    blob.extend_from_slice(plaintext);
    let tag = {
        use aes_gcm::aead::AeadInPlace;
        cipher
            .encrypt_in_place_detached(Nonce::from_slice(iv), b"", &mut blob[1 + IV_LEN..])
            // Only fails for plaintexts over 64 GiB, which nothing here produces.
            .expect("AES-GCM plaintext length within limits")
    };
    blob.extend_from_slice(&tag);
    blob
}

/// Opens a raw blob. Checks, in order: length ≥ 29, version byte, tag.
/// Never returns partial plaintext.
pub fn open(key: &EnvelopeKey, blob: &[u8]) -> Result<Vec<u8>, Error> {
    if blob.len() < MIN_ENVELOPE_LEN {
        return Err(Error::EnvelopeTooShort { len: blob.len() });
    }
    if blob[0] != ENVELOPE_VERSION {
        return Err(Error::UnsupportedVersion(blob[0]));
    }
    let cipher = Aes256Gcm::new(key.aes_key().into());
    let iv = Nonce::from_slice(&blob[1..1 + IV_LEN]);
    cipher
        .decrypt(iv, &blob[1 + IV_LEN..])
        .map_err(|_| Error::DecryptFailed)
}

/// Seals and returns the unpadded base64url text form.
pub fn seal_text(key: &EnvelopeKey, plaintext: &[u8]) -> String {
    crate::b64::encode(&seal(key, plaintext))
}

/// Opens the text form: first checks canonical base64url, then as [`open`].
pub fn open_text(key: &EnvelopeKey, text: &str) -> Result<Vec<u8>, Error> {
    open(key, &crate::b64::decode(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> EnvelopeKey {
        EnvelopeKey::from_bytes_for_vectors([7; 32])
    }

    #[test]
    fn round_trip_and_fresh_iv() {
        let k = key();
        let a = seal(&k, b"hello");
        let b = seal(&k, b"hello");
        assert_ne!(a, b, "fresh IV per seal");
        assert_eq!(a.len(), MIN_ENVELOPE_LEN + 5);
        assert_eq!(open(&k, &a).unwrap(), b"hello");
        assert_eq!(open_text(&k, &seal_text(&k, b"")).unwrap(), b"");
    }

    #[test]
    fn every_tampered_byte_fails() {
        let k = key();
        let blob = seal(&k, b"some plaintext");
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 0x01;
            let err = open(&k, &t).unwrap_err();
            if i == 0 {
                assert!(matches!(err, Error::UnsupportedVersion(0x00)));
            } else {
                assert!(matches!(err, Error::DecryptFailed), "byte {i}: {err:?}");
            }
        }
    }

    #[test]
    fn error_order() {
        let k = key();
        assert!(matches!(open_text(&k, "AQ=="), Err(Error::InvalidBase64)));
        assert!(matches!(
            open(&k, &[1; 28]),
            Err(Error::EnvelopeTooShort { len: 28 })
        ));
        assert!(matches!(
            open(&k, &[2; 29]),
            Err(Error::UnsupportedVersion(2))
        ));
        assert!(matches!(open(&k, &[1; 29]), Err(Error::DecryptFailed)));
        let wrong = EnvelopeKey::from_bytes_for_vectors([8; 32]);
        assert!(matches!(
            open(&wrong, &seal(&k, b"x")),
            Err(Error::DecryptFailed)
        ));
    }
}
