//! Bundle decode and context check: the plaintext of a pulled blob, as a
//! device reads it after the envelope opened (a peer holding the receipt
//! controls every byte of it).
//!
//! Invariants: decoding never panics; the context check accepts only the
//! location the seeds are bound to; a decoded bundle re-encodes to JSON
//! that decodes to the same bundle and re-encodes to the same bytes; its
//! records merge into the built-in stores without panicking; and the same
//! bytes sealed and opened give the same bundle.
#![no_main]

use azmx_sync_core::engine::{Bundle, BUNDLE_FORMAT};
use azmx_sync_core::envelope::seal_with_iv_for_vectors;
use azmx_sync_core::merge::{merge, StoreSpec, StoreState};
use azmx_sync_fuzz::{vector_key, LICENSE_ID, OWNER, SEQ};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = serde_json::from_slice::<Bundle>(data) else {
        return;
    };
    if bundle.check_context(LICENSE_ID, OWNER, SEQ).is_ok() {
        assert_eq!(bundle.format, BUNDLE_FORMAT);
        assert_eq!(bundle.license_id, LICENSE_ID);
        assert_eq!(bundle.device_id, OWNER);
        assert_eq!(bundle.seq, SEQ);
    }
    if bundle.seq != SEQ + 1 {
        assert!(bundle.check_context(LICENSE_ID, OWNER, SEQ + 1).is_err());
    }
    let _ = bundle.record_count();

    let once = serde_json::to_vec(&bundle).expect("a decoded bundle encodes");
    let again: Bundle = serde_json::from_slice(&once).expect("an encoded bundle decodes");
    assert_eq!(
        serde_json::to_vec(&again).unwrap(),
        once,
        "re-encoding is stable"
    );

    for s in &bundle.stores {
        if let Some(spec) = StoreSpec::builtin(&s.store) {
            let out = merge(&spec, &StoreState::new(), s.records.clone());
            assert!(out.state.len() <= s.records.len());
        }
    }

    let key = vector_key();
    let blob = seal_with_iv_for_vectors(&key, &[0x22; 12], data);
    let opened = key.open(&blob).expect("own blob opens");
    let reread: Bundle = serde_json::from_slice(&opened).unwrap();
    assert_eq!(serde_json::to_vec(&reread).unwrap(), once);
});
