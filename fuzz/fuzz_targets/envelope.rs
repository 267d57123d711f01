//! Envelope v1 open on hostile blobs, and seal/open round trips.
//!
//! Invariants: `open` never panics and fails with a typed error on anything
//! that is not a blob sealed with the key; `open_into` agrees with `open`;
//! a blob that opens re-seals to the same bytes under its own IV; and
//! `open(seal(x)) == x` for any `x`.
#![no_main]

use azmx_sync_core::envelope::{self, seal_with_iv_for_vectors, IV_LEN};
use azmx_sync_fuzz::vector_key;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = vector_key();
    let opened = envelope::open(&key, data);
    if let Some(n) = envelope::opened_len(data.len()) {
        let mut out = vec![0u8; n];
        let into = envelope::open_into(&key, data, &mut out);
        assert_eq!(into.is_ok(), opened.is_ok(), "open_into agrees with open");
        if let Ok(plain) = &opened {
            assert_eq!(&out, plain);
        }
    }
    if let Ok(plain) = &opened {
        let iv: [u8; IV_LEN] = data[1..1 + IV_LEN].try_into().unwrap();
        assert_eq!(
            seal_with_iv_for_vectors(&key, &iv, plain),
            data,
            "re-sealing an opened blob under its IV gives the same bytes"
        );
    }
    // The input as a plaintext: seal (random and fixed IV) and open back.
    let blob = envelope::seal(&key, data);
    assert_eq!(blob.len(), envelope::sealed_len(data.len()).unwrap());
    assert_eq!(envelope::open(&key, &blob).unwrap(), data);
    let text = envelope::seal_text(&key, data);
    assert_eq!(envelope::open_text(&key, &text).unwrap(), data);
});
