//! Envelope v1: `0x01 | iv (12 bytes) | AES-256-GCM ciphertext | tag (16 bytes)`.
//!
//! The raw bytes are the *blob*; its text form is unpadded base64url. A fresh
//! IV comes from the OS CSPRNG for every seal. The envelope carries no AAD
//! (the seed's format); context is bound inside the plaintext by the engine.

use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use rand_core::{OsRng, RngCore};

use crate::error::Error;
use crate::kdf::EnvelopeKey;

pub const ENVELOPE_VERSION: u8 = 0x01;
pub const IV_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// version + iv + tag: the blob of an empty plaintext.
pub const MIN_ENVELOPE_LEN: usize = 1 + IV_LEN + TAG_LEN;

/// Length of the blob that sealing `plaintext_len` bytes produces, or `None`
/// if it would overflow `usize`.
pub fn sealed_len(plaintext_len: usize) -> Option<usize> {
    plaintext_len.checked_add(MIN_ENVELOPE_LEN)
}

/// Length of the plaintext inside a blob of `blob_len` bytes, or `None` if
/// the blob is too short to be an envelope.
pub fn opened_len(blob_len: usize) -> Option<usize> {
    blob_len.checked_sub(MIN_ENVELOPE_LEN)
}

/// Seals `plaintext` with a fresh random IV; returns the raw blob.
pub fn seal(key: &EnvelopeKey, plaintext: &[u8]) -> Vec<u8> {
    let mut iv = [0u8; IV_LEN];
    OsRng.fill_bytes(&mut iv);
    seal_with_iv_inner(key, &iv, plaintext)
}

/// Seals `plaintext` with a fresh random IV straight into `out`, which must
/// be exactly [`sealed_len`]`(plaintext.len())` bytes. Encrypts from the
/// input into the output in one pass, with no intermediate copy: this is the
/// path for bulk payloads handed over by a host (see the bindings' fast path).
pub fn seal_into(key: &EnvelopeKey, plaintext: &[u8], out: &mut [u8]) -> Result<(), Error> {
    if sealed_len(plaintext.len()) != Some(out.len()) {
        return Err(Error::MalformedField {
            field: "output buffer",
            reason: "must be exactly the plaintext length + 29 bytes",
        });
    }
    let mut iv = [0u8; IV_LEN];
    OsRng.fill_bytes(&mut iv);
    seal_parts(key, &iv, plaintext, out);
    Ok(())
}

/// Seals with a caller-chosen IV. Reusing an IV under one key breaks GCM,
/// so this exists only to generate and check known-answer vectors.
#[cfg(any(test, feature = "test-vectors"))]
#[doc(hidden)]
pub fn seal_with_iv_for_vectors(key: &EnvelopeKey, iv: &[u8; IV_LEN], plaintext: &[u8]) -> Vec<u8> {
    seal_with_iv_inner(key, iv, plaintext)
}

fn seal_with_iv_inner(key: &EnvelopeKey, iv: &[u8; IV_LEN], plaintext: &[u8]) -> Vec<u8> {
    let len = sealed_len(plaintext.len()).expect("a plaintext that fits in memory");
    let mut blob = vec![0u8; len];
    seal_parts(key, iv, plaintext, &mut blob);
    blob
}

/// Writes `version | iv | ciphertext | tag` into `out`, whose length the
/// callers have checked to be `plaintext.len() + 29`.
fn seal_parts(key: &EnvelopeKey, iv: &[u8; IV_LEN], plaintext: &[u8], out: &mut [u8]) {
    let cipher = Aes256Gcm::new(key.aes_key().into());
    let (head, rest) = out.split_at_mut(1 + IV_LEN);
    let (body, tag_out) = rest.split_at_mut(plaintext.len());
    head[0] = ENVELOPE_VERSION;
    head[1..].copy_from_slice(iv);
    let buf = InOutBuf::new(plaintext, body).expect("split to the plaintext's length");
    let tag = cipher
        .encrypt_inout_detached(&Nonce::from(*iv), b"", buf)
        // Only fails for plaintexts over 64 GiB, which nothing here produces.
        .expect("AES-GCM plaintext length within limits");
    tag_out.copy_from_slice(&tag);
}

/// The parts of a blob that passed the length and version checks.
struct BlobParts<'a> {
    iv: &'a [u8],
    ciphertext: &'a [u8],
    tag: &'a [u8],
}

/// Checks length and version, then splits the blob.
fn split_blob(blob: &[u8]) -> Result<BlobParts<'_>, Error> {
    if blob.len() < MIN_ENVELOPE_LEN {
        return Err(Error::EnvelopeTooShort { len: blob.len() });
    }
    if blob[0] != ENVELOPE_VERSION {
        return Err(Error::UnsupportedVersion(blob[0]));
    }
    let (iv, rest) = blob[1..].split_at(IV_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    Ok(BlobParts {
        iv,
        ciphertext,
        tag,
    })
}

/// Decrypts `ciphertext` into `out` (same length). The tag is verified over
/// the ciphertext before any plaintext is produced, so on failure `out` is
/// left untouched.
fn open_parts(key: &EnvelopeKey, parts: BlobParts<'_>, out: &mut [u8]) -> Result<(), Error> {
    let cipher = Aes256Gcm::new(key.aes_key().into());
    let nonce = Nonce::try_from(parts.iv).expect("split to IV_LEN");
    let tag = Tag::try_from(parts.tag).expect("split to TAG_LEN");
    let buf = InOutBuf::new(parts.ciphertext, out).expect("callers size out to the ciphertext");
    cipher
        .decrypt_inout_detached(&nonce, b"", buf, &tag)
        .map_err(|_| Error::DecryptFailed)
}

/// Opens a raw blob. Checks, in order: length ≥ 29, version byte, tag.
/// Never returns partial plaintext.
pub fn open(key: &EnvelopeKey, blob: &[u8]) -> Result<Vec<u8>, Error> {
    let parts = split_blob(blob)?;
    let mut plain = vec![0u8; parts.ciphertext.len()];
    open_parts(key, parts, &mut plain)?;
    Ok(plain)
}

/// Opens a raw blob straight into `out`, which must be exactly
/// [`opened_len`]`(blob.len())` bytes. Same checks and errors as [`open`];
/// on any error nothing has been written to `out`.
pub fn open_into(key: &EnvelopeKey, blob: &[u8], out: &mut [u8]) -> Result<(), Error> {
    let parts = split_blob(blob)?;
    if parts.ciphertext.len() != out.len() {
        return Err(Error::MalformedField {
            field: "output buffer",
            reason: "must be exactly the blob length - 29 bytes",
        });
    }
    open_parts(key, parts, out)
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
    fn into_variants_match_and_check_lengths() {
        let k = key();
        let plain = vec![0x5a; 1000];
        let mut blob = vec![0; 1029];
        seal_into(&k, &plain, &mut blob).unwrap();
        assert_eq!(open(&k, &blob).unwrap(), plain);
        let mut out = vec![0; 1000];
        open_into(&k, &blob, &mut out).unwrap();
        assert_eq!(out, plain);
        assert!(matches!(
            seal_into(&k, &plain, &mut [0; 1028]),
            Err(Error::MalformedField { .. })
        ));
        assert!(matches!(
            open_into(&k, &blob, &mut [0; 999]),
            Err(Error::MalformedField { .. })
        ));
        let mut tampered = blob.clone();
        tampered[500] ^= 1;
        let mut untouched = vec![0xee; 1000];
        assert!(matches!(
            open_into(&k, &tampered, &mut untouched),
            Err(Error::DecryptFailed)
        ));
        assert!(
            untouched.iter().all(|&b| b == 0xee),
            "no plaintext on failure"
        );
        assert_eq!(sealed_len(usize::MAX), None);
        assert_eq!(opened_len(28), None);
        assert_eq!(opened_len(29), Some(0));
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
