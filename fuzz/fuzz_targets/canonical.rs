//! Signed-request canonicals from hostile text (what a relay receives).
//!
//! Invariants: `parse` never panics; a canonical that parses is re-formatted
//! to exactly the same bytes (each canonical has one parse); `verify` never
//! panics and never accepts a signature that is not a real one (the vector
//! key's signature over this exact text).
#![no_main]

use azmx_sync_core::canonical::{self, SignedRequest};
use azmx_sync_core::Error;
use libfuzzer_sys::fuzz_target;

/// The public key of the vectors' device (seed 0x01 × 32).
const PK: &str = "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w";
/// A signature from the vectors (over another text).
const SIG: &str =
    "DMf4oQoNGDvOyQME8-6F0qY8jtsqspZnt-clLKFrAKvaczCmcXn63SjOaB_CgVuM4abiskYiVNomIBLA_ckEBQ";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The canonical, then (after a `\n`) a public key and a signature.
    let mut parts = text.splitn(3, '\n');
    let canon = parts.next().unwrap_or_default();
    let pk = parts.next().unwrap_or(PK);
    let sig = parts.next().unwrap_or(SIG);
    let parsed = SignedRequest::parse(canon);
    if let Ok(req) = &parsed {
        assert_eq!(
            req.canonical().unwrap(),
            canon,
            "parse → canonical is the identity"
        );
        assert!(req.validate().is_ok());
        let _ = (req.verb(), req.ts(), req.device_id());
    }
    match canonical::verify(pk, canon, sig, 1_764_288_000, 300) {
        Ok(req) => assert_eq!(Ok(&req), parsed.as_ref().map_err(|_| ())),
        // A malformed canonical, or a public key that is not a key.
        Err(Error::MalformedField { field, .. }) => {
            assert!(parsed.is_err() || field == "publicKey")
        }
        Err(_) => {}
    }
    let _ = canonical::check_id("deviceId", canon);
    let _ = canonical::check_name(canon);
    let _ = canonical::verify_signature(pk, data, sig);
});
