//! A request the relay refuses before it reads the body (413 over the
//! limit, 503 busy, 429 for a limited address, 503 shutting_down) still
//! gets its answer through to a client that writes its whole body before
//! it reads, as the device's ureq transport does: the relay reads and
//! discards the declared body before it closes (a "lingering close").
//! Before, it closed at once and the client saw a broken pipe or a reset,
//! which the engine took for "relay unreachable" and retried forever.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use azmx_sync_core::sha256_hex;
use azmx_sync_test_support::client::{push_headers, with_headers};
use common::{Device, Env};
use serde_json::Value;

const LIMIT: usize = 64 * 1024;

/// An answer as the device's transport sees it: status, `Connection`
/// header and JSON body, or the transport error it got instead.
struct Answer {
    status: u16,
    connection: Option<String>,
    json: Value,
}

fn send(agent: &ureq::Agent, url: &str, h: &[(&str, String)], body: &[u8]) -> Answer {
    let req = with_headers(agent.post(&format!("{url}/sync/push")), h);
    let resp = match req.send_bytes(body) {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!(
            "the client got a transport error instead of the relay's answer \
             (body of {} bytes): {e}",
            body.len()
        ),
    };
    Answer {
        status: resp.status(),
        connection: resp.header("connection").map(str::to_ascii_lowercase),
        json: serde_json::from_str(&resp.into_string().unwrap()).unwrap(),
    }
}

/// A signed push of `data` by `d` at `seq`, sent with ureq.
fn push(env: &Env, agent: &ureq::Agent, d: &Device, seq: u64, data: &[u8]) -> Answer {
    let h = push_headers(&d.id, &d.identity, seq, &sha256_hex(data), env.now());
    send(agent, &env.url, &h, data)
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// The head of a raw push of `len` declared bytes (the body goes later).
fn push_head(env: &Env, d: &Device, seq: u64, len: u64) -> String {
    let h = push_headers(&d.id, &d.identity, seq, &sha256_hex(b"x"), env.now());
    let mut head = String::from("POST /sync/push HTTP/1.1\r\nHost: x\r\n");
    for (k, v) in h {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {len}\r\n\r\n"));
    head
}

fn connect(env: &Env) -> TcpStream {
    TcpStream::connect(env.relay.as_ref().unwrap().local_addr()).unwrap()
}

/// What arrives within `wait`: `Some(bytes)` (empty: the relay closed),
/// `None` when nothing did and the connection is still open.
fn read_some(s: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    match s.read(&mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
        Err(e) => panic!("read failed: {e}"),
    }
}

fn assert_too_large(a: &Answer) {
    assert_eq!(
        (a.status, a.json["error"].as_str()),
        (413, Some("too_large")),
        "{}",
        a.json
    );
    assert_eq!(a.json["maxBytes"], LIMIT as u64, "{}", a.json);
    assert_eq!(a.connection.as_deref(), Some("close"));
}

/// The defect: a push a few bytes, three times and far over the limit
/// gets `413 too_large` + `maxBytes`, and nothing of it is stored (seq 1
/// is still free).
#[test]
fn an_oversized_push_gets_413_and_max_bytes() {
    let env = Env::start_with(|c| c.limits.max_body_bytes = LIMIT);
    let key = env.license("lic_big");
    let a = env.device("lic_big", &key);
    let agent = agent();
    for size in [LIMIT + 3, 3 * LIMIT, 1 << 20, 16 << 20] {
        let data: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
        assert_too_large(&push(&env, &agent, &a, 1, &data));
    }
    assert_eq!(push(&env, &agent, &a, 1, &[1; LIMIT]).status, 201);
}

/// Bodies larger than what loopback sockets buffer, so that a client
/// cannot finish writing before a relay that does not read them closes.
const BIG: usize = 16 << 20;

/// `503 busy` while another push holds the whole body budget.
#[test]
fn a_push_over_a_full_budget_gets_503_busy() {
    const BODY: usize = 2 * BIG;
    let env = Env::start_with(|c| {
        c.limits.max_body_bytes = BODY;
        c.limits.max_inflight_body_bytes = BODY;
    });
    let key = env.license("lic_busy");
    let a = env.device("lic_busy", &key);
    // A slow push: its head is in, so its bytes are held, its body is not.
    let mut slow = connect(&env);
    slow.write_all(push_head(&env, &a, 1, BODY as u64).as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let r = push(&env, &agent(), &a, 2, &vec![2; BIG]);
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (503, Some("busy")),
        "{}",
        r.json
    );
    assert_eq!(r.json["retryAfter"], 1, "{}", r.json);
    assert_eq!(r.connection.as_deref(), Some("close"));
}

/// `429` to an address out of failed-authentication tokens, over a body.
#[test]
fn a_limited_address_gets_429_over_a_big_body() {
    let env = Env::start_with(|c| {
        c.limits.max_body_bytes = 2 * BIG;
        c.limits.unauth_rate_per_sec = 0.01;
        c.limits.unauth_rate_burst = 2.0;
    });
    let key = env.license("lic_429");
    let a = env.device("lic_429", &key);
    let id = env.identity();
    for _ in 0..2 {
        env.init("lic_429", "wrong-key", &id, "x", env.now())
            .err(401, "bad_license");
    }
    let r = push(&env, &agent(), &a, 1, &vec![3; BIG]);
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (429, Some("rate_limited")),
        "{}",
        r.json
    );
}

/// An authentication failure is decided before the body is read too
/// (push checks the signature first); the answer gets through.
#[test]
fn a_bad_signature_over_a_big_body_gets_401() {
    let env = Env::start_with(|c| c.limits.max_body_bytes = 2 * BIG);
    let key = env.license("lic_sig");
    let a = env.device("lic_sig", &key);
    let data = vec![4; BIG];
    // Signed for seq 1, sent as seq 2.
    let mut h = push_headers(&a.id, &a.identity, 1, &sha256_hex(&data), env.now());
    for (k, v) in &mut h {
        if *k == "X-Seq" {
            *v = "2".into();
        }
    }
    let r = send(&agent(), &env.url, &h, &data);
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (401, Some("bad_signature")),
        "{}",
        r.json
    );
}

/// `503 shutting_down` on a kept-alive connection while the relay drains.
#[test]
fn a_draining_relay_answers_503_over_a_big_body() {
    let mut env = Env::start_with(|c| {
        c.limits.max_body_bytes = 2 * BIG;
        c.limits.drain_timeout = Duration::from_secs(20);
    });
    let key = env.license("lic_stop");
    let a = env.device("lic_stop", &key);
    // One kept-alive connection in the agent's pool.
    let agent = agent();
    let ok = agent.get(&format!("{}/healthz", env.url)).call().unwrap();
    assert_eq!(ok.status(), 200);
    ok.into_string().unwrap();
    // A request in flight keeps the drain going.
    let mut slow = connect(&env);
    slow.write_all(push_head(&env, &a, 1, 10).as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let relay = env.relay.take().unwrap();
    let stopping = std::thread::spawn(move || relay.shutdown());
    std::thread::sleep(Duration::from_millis(300));
    let r = push(&env, &agent, &a, 2, &vec![5; BIG]);
    assert_eq!(
        (r.status, r.json["error"].as_str()),
        (503, Some("shutting_down")),
        "{}",
        r.json
    );
    assert_eq!(r.connection.as_deref(), Some("close"));
    slow.write_all(&[0; 10]).unwrap();
    stopping.join().unwrap();
}

/// The answer goes out at once; the connection stays open until the
/// declared body is in, and then closes.
#[test]
fn a_refused_body_is_read_to_its_end_before_the_close() {
    let env = Env::start_with(|c| c.limits.max_body_bytes = LIMIT);
    let key = env.license("lic_linger");
    let a = env.device("lic_linger", &key);
    let mut s = connect(&env);
    let len = 4 * LIMIT;
    s.write_all(push_head(&env, &a, 1, len as u64).as_bytes())
        .unwrap();
    let head = read_some(&mut s, Duration::from_secs(10)).expect("answered before the body");
    let text = String::from_utf8_lossy(&head);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("\"too_large\""), "{text}");
    assert_eq!(
        read_some(&mut s, Duration::from_millis(500)),
        None,
        "the relay waits for the body it refused"
    );
    s.write_all(&vec![6; len]).unwrap();
    assert_eq!(read_some(&mut s, Duration::from_secs(10)), Some(vec![]));
}

/// Past the cap on what the relay reads to discard, it closes at once, as
/// it always did.
#[test]
fn a_body_past_the_cap_is_not_waited_for() {
    let env = Env::start_with(|c| c.limits.max_body_bytes = LIMIT);
    let key = env.license("lic_cap");
    let a = env.device("lic_cap", &key);
    let mut s = connect(&env);
    s.write_all(push_head(&env, &a, 1, 1 << 40).as_bytes())
        .unwrap();
    let started = Instant::now();
    let mut all = Vec::new();
    loop {
        match read_some(&mut s, Duration::from_secs(10)) {
            Some(b) if b.is_empty() => break,
            Some(b) => all.extend_from_slice(&b),
            None => panic!("the relay kept the connection open"),
        }
    }
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A body sent with a method the path does not take is read before the
/// `405` goes out (the route's handler never runs to read it).
#[test]
fn a_wrong_method_over_a_big_body_gets_405() {
    let env = Env::start_with(|c| c.limits.max_body_bytes = 2 * BIG);
    let req = agent().put(&format!("{}/sync/push", env.url));
    let resp = match req.send_bytes(&vec![7; BIG]) {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("the client got a transport error instead of the relay's answer: {e}"),
    };
    assert_eq!(resp.status(), 405);
    let j: Value = serde_json::from_str(&resp.into_string().unwrap()).unwrap();
    assert_eq!(j["error"], "method_not_allowed", "{j}");
}

/// A refused body that never comes is waited for only as long as a
/// request may take; then the connection closes.
#[test]
fn a_refused_body_is_waited_for_no_longer_than_the_request_timeout() {
    let env = Env::start_with(|c| {
        c.limits.max_body_bytes = LIMIT;
        c.limits.request_timeout = Duration::from_secs(1);
    });
    let key = env.license("lic_slow");
    let a = env.device("lic_slow", &key);
    let mut s = connect(&env);
    s.write_all(push_head(&env, &a, 1, 2 * LIMIT as u64).as_bytes())
        .unwrap();
    let started = Instant::now();
    let head = read_some(&mut s, Duration::from_secs(10)).expect("answered before the body");
    assert!(String::from_utf8_lossy(&head).starts_with("HTTP/1.1 413"));
    assert_eq!(read_some(&mut s, Duration::from_secs(10)), Some(vec![]));
    assert!(started.elapsed() < Duration::from_secs(5));
}
