//! Signed requests built field by field (any values, edges favoured).
//!
//! Invariant: whenever `canonical()` accepts a request, `parse` of its
//! output gives the same request back (what a device signs, the relay
//! reads the same way), and `validate` agrees with `canonical`.
#![no_main]

use arbitrary::{Result, Unstructured};
use azmx_sync_core::canonical::SignedRequest;
use azmx_sync_fuzz::{edgy_i64, edgy_u64, pooled};
use libfuzzer_sys::fuzz_target;

const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const PK: &str = "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w";

fn request(u: &mut Unstructured<'_>) -> Result<SignedRequest> {
    let id = |u: &mut Unstructured<'_>| pooled(u, &["dev_a1b2c3", "lic_0001", "c_17", "", "a|b"]);
    let ts = edgy_i64(u)?;
    Ok(match u.choose_index(9)? {
        0 => SignedRequest::Init {
            license_id: id(u)?,
            public_key: pooled(u, &[PK])?,
            device_name: pooled(u, &["Ana’s laptop", "a\tb", ""])?,
            ts,
        },
        1 => SignedRequest::Push {
            device_id: id(u)?,
            seq: edgy_u64(u)?,
            sha256: pooled(u, &[SHA])?,
            ts,
        },
        2 => SignedRequest::Pull {
            device_id: id(u)?,
            since: id(u)?,
            limit: u.arbitrary()?,
            ts,
        },
        3 => SignedRequest::Blob {
            device_id: id(u)?,
            owner_device_id: id(u)?,
            seq: edgy_u64(u)?,
            ts,
        },
        4 => SignedRequest::Revoke {
            device_id: id(u)?,
            target_device_id: id(u)?,
            ts,
        },
        5 => SignedRequest::KeycheckPut {
            device_id: id(u)?,
            sha256: pooled(u, &[SHA])?,
            ts,
        },
        6 => SignedRequest::KeycheckGet {
            device_id: id(u)?,
            ts,
        },
        7 => SignedRequest::Prune {
            device_id: id(u)?,
            checkpoint_seq: edgy_u64(u)?,
            ts,
        },
        _ => SignedRequest::Devices {
            device_id: id(u)?,
            ts,
        },
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(req) = request(&mut u) else {
        return;
    };
    let canonical = req.canonical();
    assert_eq!(canonical.is_ok(), req.validate().is_ok());
    if let Ok(text) = canonical {
        match SignedRequest::parse(&text) {
            Ok(back) => assert_eq!(back, req, "parse(canonical(r)) == r"),
            Err(e) => panic!("parse refused canonical() output {text:?}: {e}"),
        }
    }
});
