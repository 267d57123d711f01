//! Recomputes every case of the published vectors (`tests/vectors/wire-v1.json`)
//! from its inputs and compares byte for byte.

mod common;

use azmx_sync_core::envelope::seal_with_iv_for_vectors;
use azmx_sync_core::{
    b64, envelope, sha256_hex, verify_blob, DeviceIdentity, EnvelopeKey, Error, SignedRequest,
};
use common::{key32, s, Vectors};

fn vectors() -> Vectors {
    Vectors::load("wire-v1")
}

#[test]
fn kdf_vectors() {
    let cases = vectors().each("kdf", 3, |c| {
        let key = EnvelopeKey::derive(s(c, "receipt"), s(c, "lid")).unwrap();
        assert_eq!(
            key.to_hex_for_vectors(),
            s(c, "key_hex"),
            "lid {}",
            s(c, "lid")
        );
    });
    assert!(
        cases.iter().any(|c| !s(c, "receipt").is_ascii()),
        "a non-ASCII receipt case"
    );
}

#[test]
fn envelope_vectors() {
    let cases = vectors().each("envelope", 3, |c| {
        let key = EnvelopeKey::from_bytes_for_vectors(key32(s(c, "key_hex")));
        let iv: [u8; 12] = hex::decode(s(c, "iv_hex")).unwrap().try_into().unwrap();
        let pt = hex::decode(s(c, "plaintext_hex")).unwrap();
        let blob = seal_with_iv_for_vectors(&key, &iv, &pt);
        assert_eq!(b64::encode(&blob), s(c, "envelope_b64u"));
        assert_eq!(sha256_hex(&blob), s(c, "blob_sha256"));
        verify_blob(s(c, "blob_sha256"), &blob).unwrap();
        assert_eq!(
            envelope::open_text(&key, s(c, "envelope_b64u")).unwrap(),
            pt
        );
        assert_eq!(blob[0], 0x01);
        assert_eq!(&blob[1..13], &iv);
    });
    let sizes: Vec<usize> = cases
        .iter()
        .map(|c| s(c, "plaintext_hex").len() / 2)
        .collect();
    assert!(sizes.contains(&0) && sizes.contains(&65536), "{sizes:?}");
}

#[test]
fn signature_vectors() {
    let cases = vectors().each("signature", 3, |c| {
        let id = DeviceIdentity::from_seed_for_vectors(key32(s(c, "ed25519_seed_hex")));
        assert_eq!(id.public_key(), s(c, "public_key_b64u"));
        let req = SignedRequest::parse(s(c, "canonical")).unwrap();
        assert_eq!(req.canonical().unwrap(), s(c, "canonical"));
        assert_eq!(
            id.sign_canonical(s(c, "canonical")).unwrap(),
            s(c, "signature_b64u")
        );
        azmx_sync_core::canonical::verify(
            s(c, "public_key_b64u"),
            s(c, "canonical"),
            s(c, "signature_b64u"),
            req.ts(),
            300,
        )
        .unwrap();
    });
    assert!(cases.iter().any(|c| s(c, "canonical").starts_with("push|")));
}

#[test]
fn invalid_envelope_vectors() {
    let cases = vectors().each("invalid_envelope", 3, |c| {
        let key = EnvelopeKey::from_bytes_for_vectors(key32(s(c, "key_hex")));
        let err = envelope::open_text(&key, s(c, "envelope_b64u")).unwrap_err();
        assert_eq!(err.code(), s(c, "error"), "{}", s(c, "envelope_b64u"));
    });
    let codes: std::collections::BTreeSet<&str> = cases.iter().map(|c| s(c, "error")).collect();
    for want in [
        "invalid_base64",
        "envelope_too_short",
        "unsupported_version",
        "decrypt_failed",
    ] {
        assert!(codes.contains(want), "missing a {want} case");
    }
}

#[test]
fn wrong_receipt_is_decrypt_failed_not_integrity() {
    let right = EnvelopeKey::derive("receipt-A", "lic").unwrap();
    let wrong = EnvelopeKey::derive("receipt-B", "lic").unwrap();
    let blob = right.seal(b"secret snippet");
    verify_blob(&sha256_hex(&blob), &blob).unwrap();
    assert!(matches!(wrong.open(&blob), Err(Error::DecryptFailed)));
    let mut corrupt = blob.clone();
    corrupt[20] ^= 4;
    assert!(matches!(
        verify_blob(&sha256_hex(&blob), &corrupt),
        Err(Error::BlobIntegrity { .. })
    ));
}

#[test]
fn errors_never_echo_secrets() {
    let receipt = "my-super-secret-receipt";
    let key = EnvelopeKey::derive(receipt, "lic").unwrap();
    let blob = key.seal(b"user plaintext body");
    let other = EnvelopeKey::derive("x", "lic").unwrap();
    let msgs = [
        format!(
            "{:?} {}",
            other.open(&blob).unwrap_err(),
            other.open(&blob).unwrap_err()
        ),
        format!("{key:?}"),
    ];
    for m in msgs {
        assert!(!m.contains(receipt) && !m.contains("user plaintext"), "{m}");
    }
}
