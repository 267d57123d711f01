//! Import of an export file (core/src/engine/export.rs): the three-line
//! text a user hands to `import`, which may come from anywhere.
//!
//! The input is either the whole file text, or (first byte odd) a sealed
//! payload's plaintext, wrapped into a valid file here so the fuzzer gets
//! past the AES-GCM tag to the JSON inside.
//!
//! Invariants: no panic; a file that decodes re-encodes (with any IV) to a
//! file that decodes to the same stores, and those re-encode to the same
//! JSON; a payload of another license is refused.
#![no_main]

use azmx_sync_core::b64;
use azmx_sync_core::engine::{decode_export, encode_export, EXPORT_MAGIC};
use azmx_sync_core::envelope::seal_with_iv_for_vectors;
use azmx_sync_fuzz::{vector_key, LICENSE_ID};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = vector_key();
    let owned;
    let text = match data.split_first() {
        Some((mode, plain)) if mode & 1 == 1 => {
            let blob = seal_with_iv_for_vectors(&key, &[0x33; 12], plain);
            owned = format!("{EXPORT_MAGIC}\n{{}}\n{}\n", b64::encode(&blob));
            owned.as_str()
        }
        Some((_, rest)) => match std::str::from_utf8(rest) {
            Ok(t) => t,
            Err(_) => return,
        },
        None => return,
    };
    let Ok(stores) = decode_export(text, &key, LICENSE_ID) else {
        return;
    };
    assert!(
        decode_export(text, &key, "lic_other").is_err(),
        "bound to its license"
    );
    let json = serde_json::to_string(&stores).unwrap();
    let file = encode_export(&key, LICENSE_ID.into(), 0, stores).expect("stores encode");
    let back = decode_export(&file, &key, LICENSE_ID).expect("an encoded export decodes");
    assert_eq!(
        serde_json::to_string(&back).unwrap(),
        json,
        "round trip keeps the stores"
    );
});
