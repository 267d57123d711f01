//! The whole device flow, written once and run against every backend:
//! register, push, pull, fetch, key check, listings, prune, revoke.

use azmx_sync_core::sha256_hex;
use serde_json::json;

use super::{device_entry, items, Env, ADMIN};

/// Runs the flow on license `lid` (key `key`, no devices yet) of `env`'s
/// relay; `env`'s clock does not move during it.
pub fn full_flow(env: &Env, lid: &str, key: &str) {
    let (a, b) = (env.device(lid, key), env.device(lid, key));
    assert!(a.id.starts_with("dev_") && a.id.len() == 20, "{}", a.id);
    assert!(a.id[4..]
        .bytes()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_ne!(a.id, b.id);

    // Re-registering the same key is idempotent: 200 and the same id.
    let r = env.init(lid, key, &a.identity, "renamed", env.now());
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["deviceId"], a.id.as_str());
    assert_eq!(r.json()["serverTime"], env.now());

    // Push.
    let r = env.push(&a, 1, b"sealed-one");
    assert_eq!(r.status, 201);
    assert_eq!(r.json(), json!({ "seq": 1, "serverTime": env.now() }));
    assert_eq!(env.push(&a, 2, b"sealed-two").status, 201);
    assert_eq!(env.push(&b, 1, b"b-one").status, 201);

    // Pull from the second device: only a's blobs.
    let r = env.pull(&b, None, None);
    assert_eq!(r.status, 200);
    let j = r.json();
    let listed = items(&j);
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[0],
        json!({ "deviceId": a.id, "seq": 1, "sha256": sha256_hex(b"sealed-one"),
                "size": 10, "createdAt": env.now() })
    );
    assert_eq!(listed[1]["seq"], 2);
    assert_eq!(j["hasMore"], false);
    assert_eq!(j["serverTime"], env.now());
    let cursor = j["nextCursor"].as_str().unwrap().to_string();
    assert!(cursor.starts_with("c_"), "{cursor}");
    // Nothing new: nextCursor stays.
    let j = env.pull(&b, Some(&cursor), None).json();
    assert_eq!(j["items"], json!([]));
    assert_eq!(j["nextCursor"], cursor.as_str());
    // a sees b's blob.
    let j = env.pull(&a, None, None).json();
    assert_eq!(j["items"].as_array().unwrap().len(), 1);
    assert_eq!(j["items"][0]["deviceId"], b.id.as_str());

    // Blob fetch.
    let r = env.blob(&b, &a.id, 2);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"sealed-two");
    assert_eq!(
        r.header("x-sha256"),
        Some(sha256_hex(b"sealed-two").as_str())
    );
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    env.blob(&b, &a.id, 3).err(404, "not_found");

    // Key check: first write wins, readable by all.
    env.keycheck_get(&a).err(404, "not_found");
    let r = env.keycheck_put(&a, b"kc-sealed");
    assert_eq!(r.status, 201, "{:?}", r.json());
    let j = env.keycheck_put(&b, b"other").err(409, "keycheck_exists");
    assert_eq!(j["existingSha256"], sha256_hex(b"kc-sealed"));
    let r = env.keycheck_get(&b);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"kc-sealed"[..]));
    assert_eq!(
        r.header("x-sha256"),
        Some(sha256_hex(b"kc-sealed").as_str())
    );

    // Devices listing (signed) and admin listing.
    let j = env.devices(&a).json();
    assert_eq!(j["devices"].as_array().unwrap().len(), 2);
    assert_eq!(
        device_entry(&j, &a.id),
        json!({ "deviceId": a.id, "name": "laptop", "createdAt": env.now(),
                "lastPushAt": env.now(), "lastPullAt": env.now(), "blobCount": 2,
                "sealedBytes": 20, "revoked": false })
    );
    let r = env.admin(lid, Some(ADMIN));
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), j);

    // Prune a's blobs below 2.
    assert_eq!(env.prune(&a, 2).json(), json!({ "pruned": 1 }));
    env.blob(&b, &a.id, 1).err(404, "not_found");
    assert_eq!(env.blob(&b, &a.id, 2).status, 200);
    let j = env.push(&a, 1, b"sealed-one").err(409, "seq_conflict");
    assert_eq!(j["lastSeq"], 2, "lastSeq survives pruning");
    assert_eq!(j["existingSha256"], serde_json::Value::Null);
    let da = device_entry(&env.admin(lid, Some(ADMIN)).json(), &a.id);
    assert_eq!(
        (da["blobCount"].as_u64(), da["sealedBytes"].as_u64()),
        (Some(1), Some(10))
    );

    // b revokes a (a lost laptop). a is refused everywhere; its blobs stay readable.
    assert_eq!(env.revoke(&b, &a.id).json(), json!({ "revoked": a.id }));
    env.push(&a, 3, b"x").err(403, "revoked");
    env.pull(&a, None, None).err(403, "revoked");
    env.blob(&a, &b.id, 1).err(403, "revoked");
    env.keycheck_get(&a).err(403, "revoked");
    env.devices(&a).err(403, "revoked");
    env.prune(&a, 9).err(403, "revoked");
    env.revoke(&a, &b.id).err(403, "revoked");
    env.init(lid, key, &a.identity, "laptop", env.now())
        .err(403, "revoked");
    assert_eq!(env.blob(&b, &a.id, 2).status, 200);
    let j = env.pull(&b, None, None).json();
    assert_eq!(items(&j).len(), 1, "revoked device's blobs still listed");
    let r = env.admin(lid, Some(ADMIN)).json();
    assert_eq!(device_entry(&r, &a.id)["revoked"], true);
    // Revoke unknown / self.
    env.revoke(&b, "dev_0000000000000000").err(404, "not_found");
    assert_eq!(env.revoke(&b, &b.id).status, 200);
    env.pull(&b, None, None).err(403, "revoked");
}
