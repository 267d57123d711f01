//! Strict unpadded base64url, and the envelope's text form.
//!
//! Invariants: a text that decodes re-encodes to exactly the same text (one
//! text form per value); any bytes encode and decode back; `open_text`
//! fails exactly where decoding fails or `open` fails.
#![no_main]

use azmx_sync_core::{b64, envelope, Error};
use azmx_sync_fuzz::vector_key;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let back = b64::decode(&b64::encode(data)).expect("encode output decodes");
    assert_eq!(back, data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let decoded = b64::decode(text);
    if let Ok(bytes) = &decoded {
        assert_eq!(b64::encode(bytes), text, "decode → encode is the identity");
    }
    let key = vector_key();
    match (envelope::open_text(&key, text), &decoded) {
        (Err(Error::InvalidBase64), Err(_)) => {}
        (r, Ok(bytes)) => assert_eq!(
            r.map_err(|e| e.to_string()),
            envelope::open(&key, bytes).map_err(|e| e.to_string())
        ),
        (r, Err(_)) => panic!("open_text accepted text that does not decode: {r:?}"),
    }
});
