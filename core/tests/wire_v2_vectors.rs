//! Recomputes every case of `tests/vectors/wire-v2.json` (the license
//! authority, `docs/PROTOCOL.md` §11) from its inputs, byte for byte.
//! `wire-v1.json` is checked by `wire_vectors.rs` and never changes.

mod common;

use azmx_sync_core::canonical_authority::{self, AUTHORITY_VERBS};
use azmx_sync_core::{
    AuthorityKey, AuthorityPublicKey, AuthorityStatement, EnvelopeKey, ReceiptKeys, SignedRequest,
};
use common::{key32, s, Vectors};

fn vectors() -> Vectors {
    Vectors::load("wire-v2")
}

/// The full derivation, 600,000 PBKDF2 rounds (this test binary's
/// dependencies are built optimised, as for `wire_vectors.rs`).
#[test]
fn authority_derivation_vectors() {
    let cases = vectors().each("authority_derivation", 1, |c| {
        let keys = ReceiptKeys::derive(s(c, "receipt"), s(c, "lid")).unwrap();
        assert_eq!(keys.envelope.to_hex_for_vectors(), s(c, "envelope_key_hex"));
        assert_eq!(
            keys.authority.seed_hex_for_vectors(),
            s(c, "authority_seed_hex")
        );
        let pk = keys.authority.public_key();
        assert_eq!(pk.to_string(), s(c, "authority_public_key_b64u"));
        assert_eq!(
            AuthorityPublicKey::parse(s(c, "authority_public_key_b64u")).unwrap(),
            pk
        );
    });
    assert!(cases.len() <= 2, "real PBKDF2: 1-2 cases");
    assert!(cases.iter().any(|c| !s(c, "receipt").is_ascii()));
}

#[test]
fn authority_hkdf_vectors() {
    vectors().each("authority_hkdf", 3, |c| {
        let env = EnvelopeKey::from_bytes_for_vectors(key32(s(c, "envelope_key_hex")));
        let k = AuthorityKey::from_envelope_key(&env, s(c, "lid")).unwrap();
        assert_eq!(k.seed_hex_for_vectors(), s(c, "authority_seed_hex"));
        assert_eq!(
            k.public_key().to_string(),
            s(c, "authority_public_key_b64u")
        );
    });
}

#[test]
fn authority_signature_vectors() {
    let cases = vectors().each("authority_signature", 1, |c| {
        let k = AuthorityKey::from_seed_for_vectors(key32(s(c, "authority_seed_hex")));
        assert_eq!(
            k.public_key().to_string(),
            s(c, "authority_public_key_b64u")
        );
        let stmt = AuthorityStatement::parse(s(c, "canonical")).unwrap();
        assert_eq!(stmt.canonical().unwrap(), s(c, "canonical"));
        assert_eq!(k.sign(&stmt).unwrap(), s(c, "signature_b64u"));
        assert_eq!(
            canonical_authority::verify(
                s(c, "authority_public_key_b64u"),
                s(c, "canonical"),
                s(c, "signature_b64u"),
                stmt.ts(),
                300,
            )
            .unwrap(),
            stmt
        );
        // One changed byte of the statement and the signature fails.
        let mut altered = stmt.clone();
        if let AuthorityStatement::RevokeDevice { ts, .. } = &mut altered {
            *ts += 1;
        }
        if altered != stmt {
            assert!(k
                .public_key()
                .verify(&altered, s(c, "signature_b64u"), stmt.ts(), 300)
                .is_err());
        }
    });
    for verb in AUTHORITY_VERBS {
        assert!(
            cases
                .iter()
                .any(|c| s(c, "canonical").starts_with(&format!("{verb}|"))),
            "no vector for {verb}"
        );
    }
}

#[test]
fn invalid_authority_statement_vectors() {
    let k = AuthorityKey::from_seed_for_vectors([0x0a; 32]);
    let cases = vectors().each("invalid_authority_statement", 5, |c| {
        let text = s(c, "canonical");
        assert!(AuthorityStatement::parse(text).is_err(), "{text}");
        assert!(k.sign_canonical(text).is_err(), "{text}");
    });
    // Device requests among them parse as device requests: the two
    // families never overlap.
    assert!(cases
        .iter()
        .any(|c| SignedRequest::parse(s(c, "canonical")).is_ok()));
}

#[test]
fn wire_v1_is_unchanged() {
    // v2 only adds: the v1 file keeps its published bytes.
    let bytes = std::fs::read(common::path("wire-v1")).unwrap();
    assert_eq!(
        azmx_sync_core::sha256_hex(&bytes),
        WIRE_V1_SHA256,
        "tests/vectors/wire-v1.json changed"
    );
}

const WIRE_V1_SHA256: &str = "22204f7b103a9fa05ed25af40f49964aff14b05074f11da9a84aedf344c35018";
