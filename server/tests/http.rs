//! End-to-end tests of the relay HTTP API over a real loopback socket with
//! real ed25519-signed requests.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use azmx_sync_core::{sha256_hex, SignedRequest};
use common::{device_entry, items, raw_push_head, seqs, Env, ADMIN};
use serde_json::json;

#[test]
fn healthz_and_unknown_routes() {
    let env = Env::start();
    let r = env.call("GET", "/healthz", &[], b"");
    assert_eq!((r.status, r.json()), (200, json!({ "ok": true })));
    env.call("GET", "/nope", &[], b"").err(404, "not_found");
    env.call("GET", "/sync/push", &[], b"")
        .err(405, "method_not_allowed");
}

#[test]
fn full_flow_register_push_pull_fetch_keycheck_prune_revoke_admin() {
    let env = Env::start();
    let key = env.license("lic_flow");
    common::flow::full_flow(&env, "lic_flow", &key);
}

#[test]
fn init_rejections() {
    let env = Env::start();
    let key = env.license("lic_i");
    let other_key = env.license("lic_other");
    let id = env.identity();
    let now = env.now();
    env.init("lic_i", &other_key, &id, "x", now)
        .err(401, "bad_license");
    env.init("lic_nope", &key, &id, "x", now)
        .err(401, "bad_license");
    env.init("lic_i", "", &id, "x", now).err(401, "bad_license");
    // Signature by another key over the same fields.
    let other = env.identity();
    let sig = other
        .sign(&SignedRequest::Init {
            license_id: "lic_i".into(),
            public_key: id.public_key(),
            device_name: "x".into(),
            ts: now,
        })
        .unwrap();
    let body = json!({ "licenseId": "lic_i", "licenseKey": key, "publicKey": id.public_key(),
                       "deviceName": "x", "ts": now, "signature": sig });
    env.post_json("/sync/init", &[], body.clone())
        .err(401, "bad_signature");
    let mut garbage = body.clone();
    garbage["signature"] = json!("!!not base64!!");
    env.post_json("/sync/init", &[], garbage)
        .err(401, "bad_signature");
    // Skew: ±300 accepted, ±301 refused with serverTime.
    let j = env
        .init("lic_i", &key, &id, "x", now - 301)
        .err(401, "clock_skew");
    assert_eq!(j["serverTime"], now);
    env.init("lic_i", &key, &id, "x", now + 301)
        .err(401, "clock_skew");
    assert_eq!(env.init("lic_i", &key, &id, "x", now + 300).status, 201);
    let id2 = env.identity();
    assert_eq!(env.init("lic_i", &key, &id2, "x", now - 300).status, 201);
    // Malformed bodies.
    for raw in [&b"{not json"[..], b"", &[0xff, 0x00, 0x13]] {
        env.call("POST", "/sync/init", &[], raw)
            .err(400, "malformed");
    }
    let mut missing = body.clone();
    missing.as_object_mut().unwrap().remove("publicKey");
    env.post_json("/sync/init", &[], missing)
        .err(400, "malformed");
    for (field, value) in [
        ("publicKey", json!("AAAA")),
        ("deviceName", json!("a|b")),
        ("ts", json!("soon")),
    ] {
        let mut bad = body.clone();
        bad[field] = value;
        env.post_json("/sync/init", &[], bad).err(400, "malformed");
    }
}

#[test]
fn push_rejections() {
    let env = Env::start();
    let (_, a, b) = env.license_with_two_devices("lic_p");
    let now = env.now();

    // Unknown device.
    let mut ghost = a.clone();
    ghost.id = "dev_ffffffffffffffff".into();
    env.push(&ghost, 1, b"x").err(401, "unknown_device");

    // Bad signature: b's key over a's canonical.
    let mut forged = b.clone();
    forged.id = a.id.clone();
    env.push(&forged, 1, b"x").err(401, "bad_signature");
    // Tampered header after signing (seq changed).
    let sha = sha256_hex(b"x");
    let sig = a.sign_push(1, &sha, now);
    let hdrs = |seq: &str, sha: &str, ts: &str, sig: &str| {
        vec![
            ("X-Device-Id", a.id.clone()),
            ("X-Seq", seq.to_string()),
            ("X-Sha256", sha.to_string()),
            ("X-Ts", ts.to_string()),
            ("X-Signature", sig.to_string()),
        ]
    };
    for (seq, ts, sig) in [("2", now, &*sig), ("1", now + 1, &*sig), ("1", now, "AAAA")] {
        env.call(
            "POST",
            "/sync/push",
            &hdrs(seq, &sha, &ts.to_string(), sig),
            b"x",
        )
        .err(401, "bad_signature");
    }

    // Clock skew, with serverTime; the boundary is inclusive.
    let j = env.push_at(&a, 1, b"x", now - 301).err(401, "clock_skew");
    assert_eq!(j["serverTime"], now);
    env.push_at(&a, 1, b"x", now + 301).err(401, "clock_skew");
    // Every i64 is a valid X-Ts (PROTOCOL §5), the extremes included: a
    // signed request at i64::MIN or i64::MAX is a clock_skew, not malformed,
    // and the skew arithmetic must not overflow on them.
    for ts in [i64::MIN, i64::MIN + 1, i64::MAX] {
        let j = env.push_at(&a, 1, b"x", ts).err(401, "clock_skew");
        assert_eq!(j["serverTime"], now, "ts {ts}");
    }
    // One past either end is out of range.
    for ts in ["-9223372036854775809", "9223372036854775808"] {
        env.call("POST", "/sync/push", &hdrs("1", &sha, ts, &sig), b"x")
            .err(400, "malformed");
    }
    assert_eq!(env.push_at(&a, 1, b"x", now - 300).status, 201);
    assert_eq!(env.push_at(&a, 2, b"x", now + 300).status, 201);

    // SHA-256 of the body differs from X-Sha256 (signed over the header).
    let sha_y = sha256_hex(b"y");
    let sig = a.sign_push(3, &sha_y, now);
    env.call(
        "POST",
        "/sync/push",
        &hdrs("3", &sha_y, &now.to_string(), &sig),
        b"not y",
    )
    .err(400, "sha256_mismatch");

    // Replayed push: the exact same signed request again → 409 with the
    // stored sha so the client can recognise its own retry.
    let r1 = env.push(&a, 3, b"three");
    assert_eq!(r1.status, 201);
    let j = env.push(&a, 3, b"three").err(409, "seq_conflict");
    assert_eq!(j["lastSeq"], 3);
    assert_eq!(j["existingSha256"], sha256_hex(b"three"));
    // Lower seq with nothing stored at it: existingSha256 null.
    env.push(&a, 10, b"ten");
    let j = env.push(&a, 7, b"seven").err(409, "seq_conflict");
    assert_eq!(
        (j["lastSeq"].as_u64(), j["existingSha256"].is_null()),
        (Some(10), true)
    );
    let j = env.push(&b, 0, b"zero").err(409, "seq_conflict");
    assert_eq!(j["lastSeq"], 0);

    // A device of another license signs with its own key but claims a's id.
    let key2 = env.license("lic_p2");
    let x = env.device("lic_p2", &key2);
    let mut cross = x.clone();
    cross.id = a.id.clone();
    env.push(&cross, 11, b"x").err(401, "bad_signature");
    // And pushing as itself lands in its own license only.
    assert_eq!(env.push(&x, 1, b"x-one").status, 201);
    assert!(items(&env.pull(&b, None, None).json())
        .iter()
        .all(|i| i["deviceId"] != x.id.as_str()));
}

#[test]
fn malformed_and_garbage_headers() {
    let env = Env::start();
    let key = env.license("lic_m");
    let a = env.device("lic_m", &key);
    let now = env.now().to_string();
    let sha = sha256_hex(b"x");
    // No headers at all, on every signed endpoint.
    let blob = format!("/sync/blob/{}/1", a.id);
    for (method, path, body) in [
        ("POST", "/sync/push", &b"x"[..]),
        ("GET", "/sync/pull", b""),
        ("GET", &blob, b""),
        ("GET", "/sync/keycheck", b""),
        ("PUT", "/sync/keycheck", b"x"),
        ("GET", "/sync/devices", b""),
    ] {
        env.call(method, path, &[], body).err(400, "malformed");
    }
    env.post_json("/sync/revoke", &[], json!({ "targetDeviceId": a.id }))
        .err(400, "malformed");
    env.post_json("/sync/prune", &[], json!({ "checkpointSeq": 1 }))
        .err(400, "malformed");
    let sig = a.sign_push(1, &sha, env.now());
    let good = [
        ("X-Device-Id", a.id.clone()),
        ("X-Seq", "1".to_string()),
        ("X-Sha256", sha.clone()),
        ("X-Ts", now.clone()),
        ("X-Signature", sig.clone()),
    ];
    let with = |name: &str, v: &str| {
        good.iter()
            .map(|(k, old)| {
                (
                    *k,
                    if *k == name {
                        v.to_string()
                    } else {
                        old.clone()
                    },
                )
            })
            .collect::<Vec<_>>()
    };
    let without = |name: &str| {
        good.iter()
            .filter(|(k, _)| *k != name)
            .cloned()
            .collect::<Vec<_>>()
    };
    for h in ["X-Device-Id", "X-Seq", "X-Sha256", "X-Ts", "X-Signature"] {
        env.call("POST", "/sync/push", &without(h), b"x")
            .err(400, "malformed");
    }
    for (h, v) in [
        ("X-Seq", "abc"),
        ("X-Seq", "01"),
        ("X-Seq", "-1"),
        ("X-Seq", "+1"),
        ("X-Seq", "18446744073709551616"),
        ("X-Seq", "9223372036854775808"),
        ("X-Seq", ""),
        ("X-Ts", "now"),
        ("X-Ts", "1.5"),
        ("X-Ts", "-0"),
        ("X-Ts", "99999999999999999999"),
        ("X-Sha256", "abc"),
        ("X-Device-Id", "dev with space"),
        ("X-Device-Id", "a|b"),
    ] {
        env.call("POST", "/sync/push", &with(h, v), b"x")
            .err(400, "malformed");
    }
    let upper = sha.to_uppercase();
    env.call("POST", "/sync/push", &with("X-Sha256", &upper), b"x")
        .err(400, "malformed");
    // A non-ASCII header value (raw socket: ureq refuses to send it).
    let head = raw_push_head(
        "dév",
        &sha,
        &now,
        &sig,
        "Content-Length: 1\r\nConnection: close",
    );
    let raw = raw_request(&env, format!("{head}x").as_bytes());
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(raw.contains("\"malformed\""), "{raw}");
    // Garbage JSON on revoke/prune.
    let ts = env.now();
    let sig = a.sign(SignedRequest::Prune {
        device_id: a.id.clone(),
        checkpoint_seq: 1,
        ts,
    });
    env.call(
        "POST",
        "/sync/prune",
        &a.headers(ts, sig.clone()),
        b"\x00\x01garbage",
    )
    .err(400, "malformed");
    for body in [
        json!({ "checkpointSeq": -1 }),
        json!({ "checkpointSeq": "1" }),
    ] {
        env.post_json("/sync/prune", &a.headers(ts, sig.clone()), body)
            .err(400, "malformed");
    }
    env.call("POST", "/sync/revoke", &a.headers(ts, "x".into()), b"[]")
        .err(400, "malformed");
    // Still works after all that.
    assert_eq!(env.push(&a, 1, b"x").status, 201);
}

#[test]
fn unsigned_requests_learn_nothing_about_revocation() {
    let env = Env::start();
    let (_, a, b) = env.license_with_two_devices("lic_u");
    assert_eq!(env.revoke(&b, &a.id).status, 200);
    // Bad signature on a revoked device: bad_signature, not revoked.
    let mut forged = b.clone();
    forged.id = a.id.clone();
    env.push(&forged, 1, b"x").err(401, "bad_signature");
    env.pull(&forged, None, None).err(401, "bad_signature");
    // Properly signed but skewed: clock_skew, still not revoked.
    env.push_at(&a, 1, b"x", env.now() - 1000)
        .err(401, "clock_skew");
    env.push(&a, 1, b"x").err(403, "revoked");
}

#[test]
fn pull_paging_and_cursor_validation() {
    let env = Env::start();
    let (_, a, b) = env.license_with_two_devices("lic_pg");
    for seq in 1..=5u64 {
        assert_eq!(
            env.push(&a, seq, format!("blob{seq}").as_bytes()).status,
            201
        );
    }
    let j = env.pull(&b, Some(""), Some(2)).json();
    assert_eq!(items(&j).len(), 2);
    assert_eq!(j["hasMore"], true);
    let mut seen = seqs(&j);
    let mut cursor = j["nextCursor"].as_str().unwrap().to_string();
    loop {
        let j = env.pull(&b, Some(&cursor), Some(2)).json();
        seen.extend(seqs(&j));
        cursor = j["nextCursor"].as_str().unwrap().to_string();
        if j["hasMore"] == false {
            break;
        }
    }
    assert_eq!(seen, vec![1, 2, 3, 4, 5]);
    // Limit above the maximum is clamped, not refused.
    assert_eq!(items(&env.pull(&b, None, Some(5000)).json()).len(), 5);
    // A cursor from the start when since is absent vs empty is the same.
    assert_eq!(
        env.pull(&b, None, None).json()["nextCursor"],
        cursor.as_str()
    );
    // Empty pull from the start: nextCursor equals since ("").
    let j = env.pull(&a, Some(""), None).json();
    assert_eq!(
        (j["items"].clone(), j["nextCursor"].clone()),
        (json!([]), json!(""))
    );
    env.pull(&b, Some("bogus"), None).err(400, "malformed");
    env.pull(&b, Some("c_01"), None).err(400, "malformed");
    env.pull(&b, Some("c_99999999999999999999"), None)
        .err(400, "malformed");
    env.pull(&b, None, Some(0)).err(400, "malformed");
    // limit that is not a number.
    let ts = env.now();
    let sig = b.sign(SignedRequest::Pull {
        device_id: b.id.clone(),
        since: String::new(),
        limit: 100,
        ts,
    });
    // Signed for limit=100, sent with limit=5: the signature covers the query.
    for (path, status, code) in [
        ("/sync/pull?limit=ten", 400, "malformed"),
        ("/sync/pull?limit=5", 401, "bad_signature"),
    ] {
        env.call("GET", path, &b.headers(ts, sig.clone()), b"")
            .err(status, code);
    }
    assert_eq!(
        env.call("GET", "/sync/pull?limit=100", &b.headers(ts, sig), b"")
            .status,
        200
    );
}

#[test]
fn cross_license_isolation() {
    let env = Env::start();
    let k1 = env.license("lic_1");
    let k2 = env.license("lic_2");
    let a = env.device("lic_1", &k1);
    let x = env.device("lic_2", &k2);
    assert_eq!(env.push(&a, 1, b"a-secret").status, 201);
    // Fetch across licenses: 404, as if it did not exist.
    env.blob(&x, &a.id, 1).err(404, "not_found");
    env.blob(&x, &a.id, 2).err(404, "not_found");
    assert!(items(&env.pull(&x, None, None).json()).is_empty());
    // A cursor from another license leaks nothing either.
    let cur = env.pull(&a, None, None).json()["nextCursor"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(env.pull(&x, Some(&cur), None).json()["items"], json!([]));
    env.revoke(&x, &a.id).err(404, "not_found");
    assert_eq!(env.push(&a, 2, b"still live").status, 201);
    let devs = env.devices(&x).json();
    assert_eq!(devs["devices"].as_array().unwrap().len(), 1);
    // Each license has its own key check.
    assert_eq!(env.keycheck_put(&a, b"kc1").status, 201);
    env.keycheck_get(&x).err(404, "not_found");
    assert_eq!(env.keycheck_put(&x, b"kc2").status, 201);
}

#[test]
fn keycheck_limits() {
    let env = Env::start();
    let key = env.license("lic_k");
    let a = env.device("lic_k", &key);
    let j = env.keycheck_put(&a, &[7u8; 4097]).err(413, "too_large");
    assert_eq!(j["maxBytes"], 4096);
    let ts = env.now();
    let sha = sha256_hex(b"one");
    let sig = a.sign(SignedRequest::KeycheckPut {
        device_id: a.id.clone(),
        sha256: sha.clone(),
        ts,
    });
    let mut h = a.headers(ts, sig);
    h.push(("X-Sha256", sha));
    env.call("PUT", "/sync/keycheck", &h, b"two")
        .err(400, "sha256_mismatch");
    assert_eq!(env.keycheck_put(&a, &[7u8; 4096]).status, 201);
    env.keycheck_put(&a, &[7u8; 4096])
        .err(409, "keycheck_exists");
}

#[test]
fn admin_auth() {
    let env = Env::start();
    let key = env.license("lic_ad");
    env.device("lic_ad", &key);
    env.admin("lic_ad", None).err(401, "unauthorized");
    let r = env.admin("lic_ad", Some("wrong"));
    r.err(401, "unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    env.admin("lic_ad", Some(&ADMIN[..ADMIN.len() - 1]))
        .err(401, "unauthorized");
    let r = env.admin("lic_ad", Some(ADMIN));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["devices"].as_array().unwrap().len(), 1);
    env.admin("lic_none", Some(ADMIN)).err(404, "not_found");
    // The offline admin view agrees.
    let offline = azmx_sync_relay::admin_devices(&env.data_dir(), "lic_ad").unwrap();
    assert_eq!(serde_json::to_value(offline).unwrap(), r.json()["devices"]);
    assert!(azmx_sync_relay::admin_devices(&env.data_dir(), "lic_none").is_err());

    // No token configured: admin endpoints do not exist.
    let env = Env::start_with(|c| c.admin_token = None);
    env.license("lic_ad");
    env.admin("lic_ad", Some(ADMIN)).err(404, "not_found");
    env.admin("lic_ad", Some("")).err(404, "not_found");
}

#[test]
fn rate_limit_answers_429_with_retry_after() {
    let env = Env::start_with(|c| {
        c.limits.rate_per_sec = 0.5;
        c.limits.rate_burst = 3.0;
    });
    let (_, a, b) = env.license_with_two_devices("lic_r");
    for seq in 1..=3 {
        assert_eq!(env.push(&a, seq, b"x").status, 201);
    }
    let r = env.push(&a, 4, b"x");
    let j = r.err(429, "rate_limited");
    assert_eq!(r.header("retry-after"), Some("2"));
    assert_eq!(j["retryAfter"], 2);
    // Per device: b is unaffected.
    assert_eq!(env.push(&b, 1, b"x").status, 201);
}

#[test]
fn concurrent_pushes_of_the_same_seq_have_one_winner() {
    let env = Env::start();
    let (_, a, b) = env.license_with_two_devices("lic_c");
    let results = Env::race_pushes(&[&env], &a, 1, 16, 512);
    let winners: Vec<_> = results.iter().filter(|r| r.1 == 201).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let win_sha = sha256_hex(&[winners[0].0; 512]);
    let losers: Vec<_> = results.iter().filter(|r| r.1 == 409).collect();
    assert_eq!(losers.len(), 15, "{results:?}");
    for l in losers {
        assert_eq!(l.2["error"], "seq_conflict");
        assert_eq!(l.2["lastSeq"], 1);
        assert_eq!(l.2["existingSha256"], win_sha.as_str());
    }
    let j = env.pull(&b, None, None).json();
    assert_eq!(j["items"].as_array().unwrap().len(), 1);
    assert_eq!(j["items"][0]["sha256"], win_sha.as_str());
    let r = env.blob(&b, &a.id, 1);
    assert_eq!(r.body, vec![winners[0].0; 512]);
    let admin = env.admin("lic_c", Some(ADMIN)).json();
    assert_eq!(device_entry(&admin, &a.id)["blobCount"], 1);
}

fn raw_request(env: &Env, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(env.relay.as_ref().unwrap().local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn oversized_bodies_answer_413() {
    let env = Env::start();
    let key = env.license("lic_big");
    let a = env.device("lic_big", &key);
    let ts = env.now();
    let sha = sha256_hex(b"whatever");
    let sig = a.sign_push(1, &sha, ts);
    // Declared 8 MiB + 1: refused before the body is read (even unsigned).
    let head = |len: usize, sig: &str| {
        let framing = format!("Content-Length: {len}\r\nConnection: close");
        raw_push_head(&a.id, &sha, ts, sig, &framing)
    };
    let raw = raw_request(&env, head(8 * 1024 * 1024 + 1, &sig).as_bytes());
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("\"too_large\""), "{raw}");
    let raw = raw_request(&env, head(1 << 40, "nosig").as_bytes());
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    // Exactly the limit is accepted (it is the sha that decides then).
    let data = vec![1u8; 8 * 1024 * 1024];
    assert_eq!(env.push(&a, 1, &data).status, 201);
    let r = env.blob(&a, &a.id, 1);
    assert_eq!(r.body.len(), data.len());

    // A chunked body (no length) cannot be budgeted: 411 before reading
    // (issue 13; it used to be read up to the limit).
    let env = Env::start_with(|c| c.limits.max_body_bytes = 1000);
    let key = env.license("lic_big");
    let a = env.device("lic_big", &key);
    let body = vec![b'z'; 1500];
    let sha = sha256_hex(&body);
    let ts = env.now();
    let sig = a.sign_push(1, &sha, ts);
    let framing = "Transfer-Encoding: chunked\r\nConnection: close";
    let mut req = raw_push_head(&a.id, &sha, ts, &sig, framing).into_bytes();
    for chunk in body.chunks(500) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let raw = raw_request(&env, &req);
    assert!(raw.starts_with("HTTP/1.1 411"), "{raw}");
    assert!(raw.contains("\"length_required\""), "{raw}");
    let j = env.push(&a, 1, &[b'z'; 1001]).err(413, "too_large");
    assert_eq!(j["maxBytes"], 1000);
    assert_eq!(env.push(&a, 1, &[b'z'; 1000]).status, 201);
}

#[test]
fn slow_request_times_out() {
    let env = Env::start_with(|c| c.limits.request_timeout = Duration::from_millis(700));
    let key = env.license("lic_t");
    let a = env.device("lic_t", &key);
    let ts = env.now();
    let sha = sha256_hex(b"0123456789");
    let sig = a.sign_push(1, &sha, ts);
    let mut s = TcpStream::connect(env.relay.as_ref().unwrap().local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = std::time::Instant::now();
    let head = raw_push_head(&a.id, &sha, ts, &sig, "Content-Length: 10");
    s.write_all(format!("{head}01234").as_bytes()).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"timeout\""), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Nothing was stored.
    assert_eq!(env.push(&a, 1, b"0123456789").status, 201);
}

#[test]
fn slow_headers_are_cut_off() {
    let env = Env::start_with(|c| c.limits.request_timeout = Duration::from_millis(700));
    let mut s = TcpStream::connect(env.relay.as_ref().unwrap().local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = std::time::Instant::now();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    let mut buf = Vec::new();
    // The relay closes the connection (hyper answers 408 or just closes).
    let _ = s.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    // The relay still serves others.
    assert_eq!(env.call("GET", "/healthz", &[], b"").status, 200);
}

#[test]
fn data_survives_restart() {
    let mut env = Env::start();
    let (key, a, b) = env.license_with_two_devices("lic_d");
    for seq in 1..=3 {
        assert_eq!(env.push(&a, seq, format!("d{seq}").as_bytes()).status, 201);
    }
    env.relay.take().unwrap().shutdown();
    let dir = env.data_dir();
    let clock = env.clock.clone();
    let relay = azmx_sync_relay::Relay::start({
        let mut c = azmx_sync_relay::RelayConfig::new(dir);
        c.clock = azmx_sync_relay::Clock::Manual(clock);
        c
    })
    .unwrap();
    env.url = relay.url();
    env.relay = Some(relay);
    let j = env.pull(&b, None, None).json();
    assert_eq!(j["items"].as_array().unwrap().len(), 3);
    assert_eq!(env.blob(&b, &a.id, 2).body, b"d2");
    assert_eq!(
        env.push(&a, 3, b"again").err(409, "seq_conflict")["lastSeq"],
        3
    );
    assert_eq!(env.push(&a, 4, b"d4").status, 201);
    // Licenses survive too: the same key registers (idempotently).
    assert_eq!(
        env.init("lic_d", &key, &a.identity, "laptop", env.now())
            .status,
        200
    );
}

#[test]
fn license_admin_api() {
    let dir = tempfile::tempdir().unwrap();
    let k = azmx_sync_relay::add_license(dir.path(), "lic_x").unwrap();
    assert_eq!(azmx_sync_core::b64::decode(&k).unwrap().len(), 32);
    assert!(matches!(
        azmx_sync_relay::add_license(dir.path(), "lic_x"),
        Err(azmx_sync_relay::RelayError::LicenseExists(_))
    ));
    assert!(matches!(
        azmx_sync_relay::add_license(dir.path(), "bad id"),
        Err(azmx_sync_relay::RelayError::InvalidLicenseId(_))
    ));
    assert_ne!(
        k,
        azmx_sync_relay::add_license(dir.path(), "lic_y").unwrap()
    );
    assert_eq!(
        azmx_sync_relay::admin_devices(dir.path(), "lic_x").unwrap(),
        vec![]
    );
    // The key itself is not in the database file.
    let db = std::fs::read(dir.path().join("relay.sqlite3")).unwrap();
    let wal = std::fs::read(dir.path().join("relay.sqlite3-wal")).unwrap_or_default();
    for hay in [&db, &wal] {
        assert!(
            !hay.windows(k.len()).any(|w| w == k.as_bytes()),
            "license key stored in clear"
        );
    }
}
