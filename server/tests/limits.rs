//! Issue 13, item 4: the relay's resource bounds, over a real loopback
//! socket. A byte flood from one device stays within the in-flight body
//! budget, licenses stop at their quota, failed authentication is limited
//! per address, connections are capped, bodies need a length.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use azmx_sync_core::sha256_hex;
use azmx_sync_relay::Quota;
use azmx_sync_test_support::client::push_headers;
use common::{Env, ADMIN};

/// A raw push of `data` at `seq` by `d`: the head only (the body is sent
/// later, so the relay holds the head while the body is on its way).
fn push_head(env: &Env, d: &common::Device, seq: u64, data: &[u8]) -> String {
    let h = push_headers(&d.id, &d.identity, seq, &sha256_hex(data), env.now());
    let mut head = String::from("POST /sync/push HTTP/1.1\r\nHost: x\r\n");
    for (k, v) in h {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        data.len()
    ));
    head
}

fn read_answer(s: &mut TcpStream, wait: Duration) -> Option<String> {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    match s.read(&mut buf) {
        Ok(n) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

/// Issue 13 defect 1 (failed before: every push was admitted, whatever
/// the bytes already in flight): pushes whose heads arrive while the
/// budget is full get `503 busy` + `Retry-After` at once, before their
/// bodies are read; the budget's high-water mark never passes the budget;
/// the admitted ones are stored.
#[test]
fn a_byte_flood_stays_within_the_body_budget() {
    const BODY: usize = 256 * 1024;
    let env = Env::start_with(|c| {
        c.limits.max_body_bytes = BODY;
        c.limits.max_inflight_body_bytes = 3 * BODY;
    });
    let key = env.license("lic_flood");
    let a = env.device("lic_flood", &key);
    let addr = env.relay.as_ref().unwrap().local_addr();
    let bodies: Vec<Vec<u8>> = (0..12u8).map(|i| vec![i; BODY]).collect();
    let mut conns = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(push_head(&env, &a, i as u64 + 1, body).as_bytes())
            .unwrap();
        conns.push((s, body));
    }
    // Refused heads are answered without their body; admitted ones wait
    // for it (and hold their bytes).
    let (mut admitted, mut busy) = (Vec::new(), 0);
    for (mut s, body) in conns {
        match read_answer(&mut s, Duration::from_millis(800)) {
            None => admitted.push((s, body)),
            Some(text) => {
                assert!(text.starts_with("HTTP/1.1 503"), "{text}");
                assert!(text.contains("\"busy\""), "{text}");
                assert!(
                    text.to_ascii_lowercase().contains("retry-after: 1"),
                    "{text}"
                );
                busy += 1;
            }
        }
    }
    assert_eq!((admitted.len(), busy), (3, 9));
    for (s, body) in &mut admitted {
        s.write_all(body).unwrap();
        let text = read_answer(s, Duration::from_secs(20)).expect("an answer");
        assert!(text.starts_with("HTTP/1.1 201"), "{text}");
    }
    let relay = env.relay.as_ref().unwrap();
    assert_eq!(relay.inflight_body_high_water(), 3 * BODY);
    // The budget is free again: an ordinary push goes through.
    assert_eq!(env.push(&a, 100, &[7; 1000]).status, 201);
    assert!(relay.inflight_body_high_water() <= 3 * BODY);
}

/// A body without a length cannot be budgeted: `411 length_required`.
#[test]
fn a_chunked_body_is_refused_with_411() {
    let env = Env::start();
    let key = env.license("lic_len");
    let a = env.device("lic_len", &key);
    let head = push_head(&env, &a, 1, b"x")
        .replace("Content-Length: 1\r\n", "Transfer-Encoding: chunked\r\n");
    let mut s = TcpStream::connect(env.relay.as_ref().unwrap().local_addr()).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(b"1\r\nx\r\n0\r\n\r\n").unwrap();
    let text = read_answer(&mut s, Duration::from_secs(10)).unwrap();
    assert!(text.starts_with("HTTP/1.1 411"), "{text}");
    assert!(text.contains("\"length_required\""), "{text}");
}

/// Issue 13 defect 2 (failed before: no quota): a push over the license's
/// quota answers `507 quota_exceeded`, stores nothing, and pruning gives
/// the room back.
#[test]
fn a_license_stops_at_its_quota_until_it_prunes() {
    let env = Env::start_with(|c| {
        c.limits.quota = Quota {
            max_bytes: 1000,
            max_blobs: 3,
        }
    });
    let (_key, a, b) = env.license_with_two_devices("lic_quota");
    assert_eq!(env.push(&a, 1, &[1; 600]).status, 201);
    let j = env.push(&b, 1, &[2; 401]).err(507, "quota_exceeded");
    assert!(j["message"].as_str().unwrap().contains("prune"), "{j}");
    // Nothing was stored: b's seq 1 is still free, and a lists nothing.
    assert_eq!(common::items(&env.pull(&a, None, None).json()).len(), 0);
    assert_eq!(env.push(&b, 1, &[2; 400]).status, 201);
    assert_eq!(env.push(&a, 2, &[]).status, 201);
    env.push(&a, 3, &[]).err(507, "quota_exceeded");
    // A checkpoint at a's seq 2 prunes its seq 1: 600 bytes and a blob back.
    assert_eq!(env.prune(&a, 2).json()["pruned"], 1);
    assert_eq!(env.push(&a, 3, &[3; 600]).status, 201);
}

/// Issue 13 defect 3 (failed before: unauthenticated requests were not
/// limited): failed `init`s and admin calls cost the address a token
/// each; once out, every request of the address gets `429` +
/// `Retry-After` (health probes excepted), without its license or token
/// being checked.
#[test]
fn failed_authentication_is_limited_per_address() {
    let env = Env::start_with(|c| {
        c.limits.unauth_rate_per_sec = 0.2;
        c.limits.unauth_rate_burst = 5.0;
    });
    let key = env.license("lic_guess");
    let a = env.device("lic_guess", &key);
    // Successes cost nothing.
    for seq in 1..=20 {
        assert_eq!(env.push(&a, seq, b"ok").status, 201);
    }
    let id = env.identity();
    for _ in 0..3 {
        env.init("lic_guess", "wrong-key", &id, "x", env.now())
            .err(401, "bad_license");
    }
    for _ in 0..2 {
        assert_eq!(env.admin("lic_guess", Some("wrong")).status, 401);
    }
    let r = env.init("lic_guess", &key, &id, "x", env.now());
    let j = r.err(429, "rate_limited");
    assert!(j["retryAfter"].as_u64().unwrap() >= 1, "{j}");
    assert!(r.header("retry-after").is_some());
    assert_eq!(env.admin("lic_guess", Some(ADMIN)).status, 429);
    assert_eq!(env.push(&a, 21, b"ok").status, 429);
    assert_eq!(env.call("GET", "/healthz", &[], b"").status, 200);
}

/// Issue 13 defect 4 (failed before: no cap): connections past the cap
/// wait, unanswered, until one closes.
#[test]
fn connections_past_the_cap_wait_for_a_slot() {
    let env = Env::start_with(|c| {
        c.limits.max_connections = 2;
        c.limits.request_timeout = Duration::from_secs(20);
    });
    let addr = env.relay.as_ref().unwrap().local_addr();
    let first = TcpStream::connect(addr).unwrap();
    let _second = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut third = TcpStream::connect(addr).unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_answer(&mut third, Duration::from_millis(800)), None);
    drop(first);
    let text = read_answer(&mut third, Duration::from_secs(10)).expect("served once a slot frees");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}
