//! Generates `tests/vectors/wire-v1.json`, the published known-answer vectors.
//!
//! Run once: `cargo run -p azmx-sync-core --features test-vectors --example gen_vectors > tests/vectors/wire-v1.json`.
//! The test suite recomputes every case from its inputs and compares.

use azmx_sync_core::envelope::seal_with_iv_for_vectors;
use azmx_sync_core::{b64, sha256_hex, DeviceIdentity, EnvelopeKey, SignedRequest};
use serde_json::{json, Value};

fn main() {
    let kdf: Vec<Value> = [
        ("correct horse battery staple", "lic_0001"),
        ("  RCPT-7F3A-99C2-44D1-B0E8\n", "lic_team_42"),
        ("reçu-clé-🔑-квитанция", "lic_ünicode"),
        ("x", "a"),
    ]
    .iter()
    .map(|(receipt, lid)| {
        let key = EnvelopeKey::derive(receipt, lid).unwrap();
        json!({ "receipt": receipt, "lid": lid, "key_hex": key.to_hex_for_vectors() })
    })
    .collect();

    let big: Vec<u8> = (0..65536u32)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8)
        .collect();
    let envelope: Vec<Value> = [
        ([0x11u8; 32], [0x22u8; 12], Vec::new()),
        (
            hex32("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
            [0xa5; 12],
            br#"{"v":1,"stores":{"snippets":[{"id":"s1","body":"hello"}]}}"#.to_vec(),
        ),
        (
            [0xfe; 32],
            *b"azmx-iv-0001",
            "ünïcødé plaintext ✓".as_bytes().to_vec(),
        ),
        ([0x42; 32], [0x00; 12], big),
    ]
    .into_iter()
    .map(|(k, iv, pt)| {
        let key = EnvelopeKey::from_bytes_for_vectors(k);
        let blob = seal_with_iv_for_vectors(&key, &iv, &pt);
        json!({
            "key_hex": hex::encode(k),
            "iv_hex": hex::encode(iv),
            "plaintext_hex": hex::encode(&pt),
            "envelope_b64u": b64::encode(&blob),
            "blob_sha256": sha256_hex(&blob),
        })
    })
    .collect();

    let sha = sha256_hex(b"azmx");
    let signature: Vec<Value> = [
        (
            [0x01u8; 32],
            SignedRequest::Push {
                device_id: "dev_a1b2c3".into(),
                seq: 1,
                sha256: sha.clone(),
                ts: 1_764_288_000,
            },
        ),
        (
            [0x02; 32],
            SignedRequest::Pull {
                device_id: "dev_a1b2c3".into(),
                since: "c_0000000000000017".into(),
                limit: 100,
                ts: 1_764_288_001,
            },
        ),
        (
            [0x03; 32],
            SignedRequest::Blob {
                device_id: "dev_a1b2c3".into(),
                owner_device_id: "dev_ffee01".into(),
                seq: 18446744073709551615,
                ts: 1_764_288_002,
            },
        ),
        (
            [0x04; 32],
            SignedRequest::Revoke {
                device_id: "dev_a1b2c3".into(),
                target_device_id: "dev_lost99".into(),
                ts: 1_764_288_003,
            },
        ),
    ]
    .into_iter()
    .chain(std::iter::once({
        let seed = [0x05u8; 32];
        let id = DeviceIdentity::from_seed_for_vectors(seed);
        (
            seed,
            SignedRequest::Init {
                license_id: "lic_0001".into(),
                public_key: id.public_key(),
                device_name: "Ana’s laptop".into(),
                ts: 1_764_288_004,
            },
        )
    }))
    .map(|(seed, req)| {
        let id = DeviceIdentity::from_seed_for_vectors(seed);
        json!({
            "ed25519_seed_hex": hex::encode(seed),
            "public_key_b64u": id.public_key(),
            "canonical": req.canonical().unwrap(),
            "signature_b64u": id.sign(&req).unwrap(),
        })
    })
    .collect();

    let k = [0x11u8; 32];
    let key = EnvelopeKey::from_bytes_for_vectors(k);
    let good = seal_with_iv_for_vectors(&key, &[0x33; 12], b"tamper me");
    let mut flipped_tag = good.clone();
    *flipped_tag.last_mut().unwrap() ^= 0x80;
    let mut flipped_ct = good.clone();
    flipped_ct[13] ^= 0x01;
    let mut v2 = good.clone();
    v2[0] = 0x02;
    let other_key = seal_with_iv_for_vectors(
        &EnvelopeKey::from_bytes_for_vectors([0x12; 32]),
        &[0x33; 12],
        b"tamper me",
    );
    let mut invalid: Vec<Value> = vec![
        json!({ "key_hex": hex::encode(k), "envelope_b64u": format!("{}=", b64::encode(&good)), "error": "invalid_base64" }),
        json!({ "key_hex": hex::encode(k), "envelope_b64u": b64::encode(&good).replace('-', "+").replace('_', "/") + "+", "error": "invalid_base64" }),
        json!({ "key_hex": hex::encode(k), "envelope_b64u": b64::encode(&good[..28]), "error": "envelope_too_short" }),
        json!({ "key_hex": hex::encode(k), "envelope_b64u": b64::encode(&v2), "error": "unsupported_version" }),
        json!({ "key_hex": hex::encode(k), "envelope_b64u": b64::encode(&flipped_tag), "error": "decrypt_failed" }),
        json!({ "key_hex": hex::encode(k), "envelope_b64u": b64::encode(&flipped_ct), "error": "decrypt_failed" }),
        json!({ "key_hex": hex::encode(k), "envelope_b64u": b64::encode(&other_key), "error": "decrypt_failed" }),
    ];
    invalid.push(json!({ "key_hex": hex::encode(k), "envelope_b64u": b64::encode(&good[..good.len() - 1]), "error": "decrypt_failed" }));

    let doc = json!({
        "description": "azmx-sync wire contract v1 known-answer vectors; see docs/PROTOCOL.md",
        "kdf_params": { "prf": "HMAC-SHA256", "iterations": 600000, "salt_prefix": "azmx.sync.envelope.v1:", "dk_len": 32, "receipt_normalisation": "trim surrounding ASCII whitespace" },
        "kdf": kdf,
        "envelope": envelope,
        "signature": signature,
        "invalid_envelope": invalid,
    });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap());
}

fn hex32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}
