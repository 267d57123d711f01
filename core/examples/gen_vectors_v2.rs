//! Generates `tests/vectors/wire-v2.json`: the license authority's
//! derivation and statements (`docs/PROTOCOL.md` §11). `wire-v1.json` is
//! left as it is; v2 only adds.
//!
//! Run once: `cargo run -p azmx-sync-core --features test-vectors --example gen_vectors_v2 > tests/vectors/wire-v2.json`.
//! The test suite (`core/tests/wire_v2_vectors.rs`) and
//! `tests/vectors/check_vectors.py` recompute every case from its inputs.

use azmx_sync_core::{
    sha256_hex, AuthorityKey, AuthorityStatement, DeviceIdentity, EnvelopeKey, ReceiptKeys,
};
use serde_json::{json, Value};

fn main() {
    // The real 600,000-round PBKDF2, so only two cases: one plain, one with
    // surrounding whitespace, non-ASCII and a non-ASCII license id.
    let derivation: Vec<Value> = [
        ("correct horse battery staple", "lic_0001"),
        ("  reçu-clé-🔑 RCPT-7F3A\n", "lic_ünicode"),
    ]
    .iter()
    .map(|(receipt, lid)| {
        let keys = ReceiptKeys::derive(receipt, lid).unwrap();
        json!({
            "receipt": receipt,
            "lid": lid,
            "envelope_key_hex": keys.envelope.to_hex_for_vectors(),
            "authority_seed_hex": keys.authority.seed_hex_for_vectors(),
            "authority_public_key_b64u": keys.authority.public_key().to_string(),
        })
    })
    .collect();

    // HKDF step alone, from given PBKDF2 outputs (fast to recompute).
    let hkdf: Vec<Value> = [
        ([0x00u8; 32], "a"),
        ([0x5a; 32], "lic_team_42"),
        ([0xff; 32], "lic_ünicode"),
    ]
    .iter()
    .map(|(ikm, lid)| {
        let env = EnvelopeKey::from_bytes_for_vectors(*ikm);
        let k = AuthorityKey::from_envelope_key(&env, lid).unwrap();
        json!({
            "envelope_key_hex": hex::encode(ikm),
            "lid": lid,
            "authority_seed_hex": k.seed_hex_for_vectors(),
            "authority_public_key_b64u": k.public_key().to_string(),
        })
    })
    .collect();

    let device = DeviceIdentity::from_seed_for_vectors([0x09; 32]).public_key();
    let claimed = AuthorityKey::from_seed_for_vectors([0x0b; 32]);
    let statements: Vec<([u8; 32], AuthorityStatement)> = vec![
        (
            [0x0a; 32],
            AuthorityStatement::RegisterDevice {
                license_id: "lic_0001".into(),
                public_key: device.clone(),
                device_name: "Ana’s laptop".into(),
                ts: 1_764_288_000,
            },
        ),
        (
            [0x0a; 32],
            AuthorityStatement::RevokeDevice {
                license_id: "lic_0001".into(),
                target_device_id: "dev_3f2a91c077de0b14".into(),
                ts: 1_764_288_001,
            },
        ),
        (
            [0x0a; 32],
            AuthorityStatement::SetKeycheck {
                license_id: "lic_0001".into(),
                sha256: sha256_hex(b"azmx keycheck"),
                ts: 1_764_288_002,
            },
        ),
        (
            [0x0b; 32],
            AuthorityStatement::SetAuthority {
                license_id: "lic_0001".into(),
                authority_key: claimed.public_key().to_string(),
                ts: -1,
            },
        ),
    ];
    let signature: Vec<Value> = statements
        .iter()
        .map(|(seed, stmt)| {
            let k = AuthorityKey::from_seed_for_vectors(*seed);
            json!({
                "authority_seed_hex": hex::encode(seed),
                "authority_public_key_b64u": k.public_key().to_string(),
                "canonical": stmt.canonical().unwrap(),
                "signature_b64u": k.sign(stmt).unwrap(),
            })
        })
        .collect();

    let sha = sha256_hex(b"azmx keycheck");
    let invalid: Vec<Value> = [
        // A device request is not a statement, and the reverse.
        "revoke|dev_a|dev_b|1764288000".to_string(),
        format!("keycheck-put|dev_a|{sha}|1764288000"),
        // `|` inside a field gives the wrong number of fields.
        "authority-revoke|lic_0001|dev_a|b|1764288000".to_string(),
        "authority-revoke|lic 0001|dev_a|1764288000".to_string(),
        "authority-revoke||dev_a|1764288000".to_string(),
        "authority-revoke|lic_0001|dev_a|01764288000".to_string(),
        "authority-revoke|lic_0001|dev_a|-0".to_string(),
        "authority-revoke|lic_0001|dev_a|+1".to_string(),
        format!(
            "authority-keycheck|lic_0001|{}|1764288000",
            sha.to_uppercase()
        ),
        format!("authority-register|lic_0001|{device}|bad\u{7}name|1764288000"),
        format!("authority-register|lic_0001|{device}=|laptop|1764288000"),
        // All-zero bytes decode to a small-order point.
        format!("authority-set|lic_0001|{}|1764288000", "A".repeat(43)),
        format!("Authority-set|lic_0001|{}|1764288000", claimed.public_key()),
    ]
    .iter()
    .map(|c| {
        assert!(AuthorityStatement::parse(c).is_err(), "{c}");
        json!({ "canonical": c })
    })
    .collect();

    let doc = json!({
        "description": "azmx-sync wire contract v2 known-answer vectors: the license authority (docs/PROTOCOL.md §11); v1's cases stay in wire-v1.json",
        "authority_derivation": derivation,
        "authority_hkdf": hkdf,
        "authority_signature": signature,
        "invalid_authority_statement": invalid,
    });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap());
}
