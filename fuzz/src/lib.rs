//! Helpers shared by the fuzz targets in `fuzz_targets/`.
//!
//! Inputs that must collide to be interesting (record keys, device ids,
//! timestamps at the edges) are drawn from small pools, so libFuzzer finds
//! the merge conflicts and overflow edges quickly instead of generating
//! distinct random strings that never meet.

use arbitrary::{Result, Unstructured};
use azmx_sync_core::merge::{Body, Record};
use azmx_sync_core::EnvelopeKey;

/// The key of the published vectors (`tests/vectors/wire-v1.json`), so the
/// seed blobs open.
pub const VECTOR_KEY: [u8; 32] = [0x11; 32];

pub fn vector_key() -> EnvelopeKey {
    EnvelopeKey::from_bytes_for_vectors(VECTOR_KEY)
}

/// License, owner device and seq the bundle seeds are bound to.
pub const LICENSE_ID: &str = "lic_0001";
pub const OWNER: &str = "dev_a1b2c3";
pub const SEQ: u64 = 7;

/// A string from a small pool (so keys collide) or, rarely, any string.
pub fn pooled(u: &mut Unstructured<'_>, pool: &[&str]) -> Result<String> {
    let i = u.choose_index(pool.len() + 1)?;
    match pool.get(i) {
        Some(s) => Ok((*s).to_owned()),
        None => u.arbitrary(),
    }
}

/// An i64 biased to the edges that break arithmetic and orders.
pub fn edgy_i64(u: &mut Unstructured<'_>) -> Result<i64> {
    Ok(match u.choose_index(8)? {
        0 => 0,
        1 => 1,
        2 => -1,
        3 => i64::MAX,
        4 => i64::MIN,
        5 => 1_764_288_000_000,
        6 => (1 << 53) - 1,
        _ => u.arbitrary()?,
    })
}

/// A u64 biased to the edges (`u64::MAX`, 2^53 − 1, 2^63).
pub fn edgy_u64(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.choose_index(7)? {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => (1 << 53) - 1,
        4 => 1 << 63,
        5 => 2,
        _ => u.arbitrary()?,
    })
}

/// A JSON body: one of a few shapes (todo lists among them, so the todos
/// validator accepts some) or any text that parses as JSON.
pub fn body(u: &mut Unstructured<'_>) -> Result<Body> {
    const SHAPES: &[&str] = &[
        "null",
        "\"hello\"",
        "{\"text\":\"a\",\"n\":1.5}",
        "[]",
        "[{\"id\":\"1\",\"content\":\"a\",\"status\":\"pending\"}]",
        "[{\"id\":\"1\",\"content\":\"a\",\"status\":\"in_progress\"},{\"id\":\"2\",\"content\":\"b\",\"status\":\"completed\"}]",
        "[{\"id\":\"1\",\"content\":\"a\",\"status\":\"in_progress\"},{\"id\":\"1\",\"content\":\"b\",\"status\":\"in_progress\"}]",
        "{\"b\":[1,2,{\"a\":-0.0}],\"a\":1e300}",
    ];
    let text = pooled(u, SHAPES)?;
    Ok(Body::from_json(&text).unwrap_or_else(|_| Body::from(serde_json::Value::String(text))))
}

/// A record that may break any rule: ids from a small pool, edge times and
/// versions, tombstones with bodies, live records without.
pub fn hostile_record(u: &mut Unstructured<'_>) -> Result<Record> {
    let id = pooled(u, &["a", "b", "c", "/etc/passwd", "", "x\u{7}"])?;
    let scope = if u.arbitrary()? {
        Some(pooled(u, &["default", "work", "a/b", ""])?)
    } else {
        None
    };
    let version = if u.arbitrary()? {
        Some(edgy_u64(u)?)
    } else {
        None
    };
    let deleted: bool = u.arbitrary()?;
    let has_body = match u.choose_index(8)? {
        0 => deleted,  // breaks the body-iff-live rule
        _ => !deleted, // follows it
    };
    Ok(Record {
        id,
        scope,
        updated_at: edgy_i64(u)?,
        version,
        deleted,
        device_id: pooled(u, &["dev_a", "dev_b", "dev_c", ""])?,
        body: if has_body { Some(body(u)?) } else { None },
    })
}
