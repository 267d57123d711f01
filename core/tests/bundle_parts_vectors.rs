//! Recomputes `tests/vectors/bundle-v1-parts.json` (PROTOCOL §6,
//! "Checkpoints in parts"): each part of the sealed checkpoint and the delta
//! after it seal to the published envelopes with their IVs, parse, pass the
//! context check, and name the blob before by its SHA-256; each `refuse`
//! plaintext fails the context check on field `part` and each `accept` one
//! passes. Every plaintext re-serialises to itself, so the engine writes
//! this format byte for byte.

use azmx_sync_core::engine::{Bundle, PrevRef};
use azmx_sync_core::envelope::seal_with_iv_for_vectors;
use azmx_sync_core::{b64, sha256_hex, EnvelopeKey};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/bundle-v1-parts.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Parses a published plaintext and checks the engine writes it back
/// unchanged (field order, optional fields left out, number forms).
fn parse_exact(plaintext: &str) -> Bundle {
    let b: Bundle = serde_json::from_str(plaintext).unwrap();
    assert_eq!(serde_json::to_string(&b).unwrap(), plaintext);
    b
}

/// Seals a published case, checks envelope and hash, and returns the
/// parsed bundle with its blob's SHA-256.
fn open_sealed(key: &EnvelopeKey, case: &Value) -> (Bundle, String) {
    let iv: [u8; 12] = hex::decode(case["iv_hex"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let plaintext = case["plaintext"].as_str().unwrap();
    let blob = seal_with_iv_for_vectors(key, &iv, plaintext.as_bytes());
    assert_eq!(b64::encode(&blob), case["envelope_b64u"].as_str().unwrap());
    assert_eq!(sha256_hex(&blob), case["blob_sha256"].as_str().unwrap());
    assert_eq!(key.open(&blob).unwrap(), plaintext.as_bytes());
    (parse_exact(plaintext), sha256_hex(&blob))
}

#[test]
fn the_published_parts_seal_parse_and_link() {
    let v = vectors();
    let key_bytes: [u8; 32] = hex::decode(v["key_hex"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = EnvelopeKey::from_bytes_for_vectors(key_bytes);
    let (lid, dev) = (
        v["license_id"].as_str().unwrap(),
        v["device_id"].as_str().unwrap(),
    );
    let parts: Vec<(Bundle, String)> = v["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| open_sealed(&key, c))
        .collect();
    assert_eq!(parts.len(), 3);
    let first = parts[0].0.seq;
    for (i, (b, _)) in parts.iter().enumerate() {
        b.check_context(lid, dev, b.seq).unwrap();
        assert!(b.peers.is_some(), "a writer always writes peers");
        assert!(!b.whole_checkpoint(), "a part does not hold everything");
        let p = b
            .part
            .expect("every bundle of a checkpoint in parts has part");
        assert_eq!(
            (p.first, p.index as usize, p.last),
            (first, i, i == parts.len() - 1)
        );
        assert_eq!(b.seq, first + i as u64);
        if i == 0 {
            assert!(b.checkpoint && b.prev.is_none());
        } else {
            let (before, sha) = &parts[i - 1];
            assert!(!b.checkpoint);
            assert_eq!(
                b.prev,
                Some(PrevRef {
                    seq: before.seq,
                    sha256: sha.clone()
                })
            );
        }
    }
    let (delta, _) = open_sealed(&key, &v["delta"]);
    delta.check_context(lid, dev, delta.seq).unwrap();
    let (last, last_sha) = parts.last().unwrap();
    assert!(!delta.checkpoint && delta.part.is_none());
    assert_eq!(
        delta.prev,
        Some(PrevRef {
            seq: last.seq,
            sha256: last_sha.clone()
        })
    );
}

#[test]
fn a_part_that_disagrees_is_refused_on_field_part() {
    let v = vectors();
    let (lid, dev) = (
        v["license_id"].as_str().unwrap(),
        v["device_id"].as_str().unwrap(),
    );
    let refuse = v["refuse"].as_array().unwrap();
    assert!(refuse.len() >= 6);
    for case in refuse {
        let name = case["name"].as_str().unwrap();
        let b = parse_exact(case["plaintext"].as_str().unwrap());
        let seq = case["seq"].as_u64().unwrap();
        assert_eq!(
            b.check_context(lid, dev, seq).map_err(|f| f.as_str()),
            Err(case["field"].as_str().unwrap()),
            "{name}"
        );
    }
    let accept = v["accept"].as_array().unwrap();
    assert!(!accept.is_empty());
    for case in accept {
        let name = case["name"].as_str().unwrap();
        let b = parse_exact(case["plaintext"].as_str().unwrap());
        assert!(b.part.is_none(), "{name}");
        assert_eq!(
            b.check_context(lid, dev, case["seq"].as_u64().unwrap()),
            Ok(()),
            "{name}"
        );
    }
}
