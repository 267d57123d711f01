//! The relay's request parsing (server/src/api/parse.rs): signature
//! headers, the pull query and cursor, declared and actual body lengths,
//! and the JSON bodies of init, revoke and prune, on hostile bytes.
//!
//! Invariants: no panic; a parsed `X-Ts`, seq or cursor prints back as
//! the same text; a body is read in full when within the limit and refused
//! (413) past it; a parsed JSON body re-encodes to JSON that parses to the
//! same value.
#![no_main]

use arbitrary::{Result, Unstructured};
use azmx_sync_core::protocol::{headers, InitRequest, PruneRequest, RevokeRequest};
use azmx_sync_relay::fuzzing;
use libfuzzer_sys::fuzz_target;

const NAMES: &[&str] = &[
    headers::DEVICE_ID,
    headers::TS,
    headers::SIGNATURE,
    "content-length",
    headers::SHA256,
];

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for _ in 0..u.choose_index(7)? {
        let i = u.choose_index(NAMES.len() + 1)?;
        let name = match NAMES.get(i) {
            Some(n) => n.as_bytes().to_vec(),
            None => u.arbitrary()?,
        };
        pairs.push((name, u.arbitrary()?));
    }
    let refs: Vec<(&[u8], &[u8])> = pairs.iter().map(|(n, v)| (&n[..], &v[..])).collect();
    let h = fuzzing::header_map(&refs);

    if let Some((device_id, ts, _sig)) = fuzzing::sig_headers(&h) {
        let sent = h.get(headers::TS).unwrap().to_str().unwrap();
        assert_eq!(ts.to_string(), sent, "X-Ts has one text form");
        assert_eq!(
            h.get(headers::DEVICE_ID).unwrap().to_str().unwrap(),
            device_id
        );
    }

    let query: Option<&str> = u.arbitrary()?;
    if let Some((since, limit)) = fuzzing::pull_query(query) {
        assert!(limit >= 1);
        if let Some(pos) = fuzzing::parse_cursor(&since) {
            assert!(pos >= 0);
            if !since.is_empty() {
                assert_eq!(fuzzing::cursor(pos), since, "a cursor has one text form");
            }
        }
    }
    let seq: &str = u.arbitrary()?;
    if let Some(n) = fuzzing::parse_seq(seq) {
        assert!(n <= i64::MAX as u64);
        assert_eq!(n.to_string(), seq, "a seq has one text form");
    }

    let limit = u.choose_index(64)?;
    let body: Vec<u8> = u.arbitrary()?;
    let declared_ok = fuzzing::declared_length_ok(&h, limit);
    match fuzzing::read_body(&h, body.clone(), limit) {
        Some(read) => {
            assert!(declared_ok);
            assert_eq!(read, body, "a body within the limit is read in full");
            assert!(body.len() <= limit);
        }
        None => assert!(
            !declared_ok || body.len() > limit,
            "413 only past the limit"
        ),
    }

    match u.choose_index(3)? {
        0 => json_round_trip::<InitRequest>(&h, body),
        1 => json_round_trip::<RevokeRequest>(&h, body),
        _ => json_round_trip::<PruneRequest>(&h, body),
    }
    Ok(())
}

fn json_round_trip<T>(h: &fuzzing::HeaderMap, body: Vec<u8>)
where
    T: serde::Serialize + for<'de> serde::Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    if let Some(v) = fuzzing::read_json::<T>(h, body) {
        let once = serde_json::to_string(&v).unwrap();
        let back: T = serde_json::from_str(&once).unwrap();
        assert_eq!(back, v, "a parsed body re-encodes to the same value");
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
