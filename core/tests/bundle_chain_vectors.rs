//! Recomputes the sealed chain of `tests/vectors/bundle-v1-chain.json`
//! (PROTOCOL §6, "Relay integrity"): each bundle seals to the published
//! envelope with its IV, parses as a bundle, and the delta's `prev` names
//! the checkpoint's sealed blob by its SHA-256. The detector cases of the
//! same file run in the engine's unit tests.

use azmx_sync_core::engine::{Bundle, PrevRef};
use azmx_sync_core::envelope::seal_with_iv_for_vectors;
use azmx_sync_core::{b64, sha256_hex, EnvelopeKey};
use serde_json::Value;

#[test]
fn the_published_chain_seals_parses_and_links() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/bundle-v1-chain.json"
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let key_bytes: [u8; 32] = hex::decode(v["key_hex"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = EnvelopeKey::from_bytes_for_vectors(key_bytes);
    let (lid, dev) = (
        v["license_id"].as_str().unwrap(),
        v["device_id"].as_str().unwrap(),
    );
    let mut bundles = Vec::new();
    let mut shas = Vec::new();
    for case in v["chain"].as_array().unwrap() {
        let iv: [u8; 12] = hex::decode(case["iv_hex"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let plaintext = case["plaintext"].as_str().unwrap().as_bytes();
        let blob = seal_with_iv_for_vectors(&key, &iv, plaintext);
        assert_eq!(b64::encode(&blob), case["envelope_b64u"].as_str().unwrap());
        assert_eq!(sha256_hex(&blob), case["blob_sha256"].as_str().unwrap());
        assert_eq!(key.open(&blob).unwrap(), plaintext);
        let b: Bundle = serde_json::from_slice(plaintext).unwrap();
        b.check_context(lid, dev, b.seq).unwrap();
        assert!(b.peers.is_some(), "a writer always writes peers");
        shas.push(sha256_hex(&blob));
        bundles.push(b);
    }
    let (first, second) = (&bundles[0], &bundles[1]);
    assert!(first.checkpoint && first.prev.is_none());
    assert!(!second.checkpoint);
    assert_eq!(
        second.prev,
        Some(PrevRef {
            seq: first.seq,
            sha256: shas[0].clone()
        })
    );
    assert_eq!(second.peers.as_ref().unwrap().len(), 1);
}

#[test]
fn bundles_without_the_links_still_read() {
    // An older writer's bundle: no prev, no peers (or null).
    for extra in ["", r#","prev":null,"peers":null"#] {
        let text = format!(
            r#"{{"format":"azmx.bundle.v1","licenseId":"l","deviceId":"d","seq":3,"checkpoint":false,"createdAtMs":1,"stores":[]{extra}}}"#
        );
        let b: Bundle = serde_json::from_str(&text).unwrap();
        assert!(b.prev.is_none() && b.peers.is_none());
    }
}
