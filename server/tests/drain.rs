//! Graceful shutdown under load (issue 15): SIGTERM to the real relay
//! binary while many devices push. Every push the relay answered `201`
//! is listed after a restart; a request on a kept-alive connection during
//! the drain gets `503 shutting_down` with `Retry-After`; a new connection
//! is refused; nothing answers 500; a push that was half-sent when the
//! signal came is finished and stored; past the drain deadline the relay
//! exits anyway. The relay logs JSON (`--log-format json`) at debug level
//! the whole time: every line is one JSON object and none carries a
//! license key or a signature.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azmx_sync_core::{sha256_hex, DeviceIdentity};
use azmx_sync_relay::add_license;
use azmx_sync_test_support::client::{answer, push_headers, with_headers, Listed};
use azmx_sync_test_support::{unix_now, RelayProcess, RemoteDevice};

const BIN: &str = env!("CARGO_BIN_EXE_azmx-sync-relay");
const LID: &str = "lic_drain";
const DEVICES: usize = 12;

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build()
}

/// The bytes device `d` pushes at `seq` (2 KiB).
fn body(d: usize, seq: u64) -> Vec<u8> {
    (0..2048u64)
        .map(|i| (i * 11 + seq * 17 + d as u64 * 29) as u8)
        .collect()
}

/// The relay binary serving `data` with JSON logs at debug level on a
/// piped stderr, which a thread collects (a full pipe would stall it).
fn serve_logged(data: &Path, drain_secs: u64) -> (RelayProcess, Arc<Mutex<String>>) {
    let mut relay = RelayProcess::spawn(
        Command::new(BIN)
            .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
            .args(["--rate-per-sec", "0", "--drain-timeout-secs"])
            .arg(drain_secs.to_string())
            .arg("--data-dir")
            .arg(data)
            .env("RUST_LOG", "debug")
            .stderr(Stdio::piped()),
    );
    let logs = Arc::new(Mutex::new(String::new()));
    let mut err = relay.child().stderr.take().expect("piped stderr");
    let sink = logs.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (relay, logs)
}

/// SIGTERM to the relay; returns when it was sent.
fn sigterm(relay: &mut RelayProcess) -> Instant {
    let pid = relay.child().id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    Instant::now()
}

/// Waits up to `limit` for the relay to exit; its status and when.
fn wait_exit(relay: &mut RelayProcess, limit: Duration) -> (ExitStatus, Instant) {
    let started = Instant::now();
    loop {
        if let Some(s) = relay.child().try_wait().unwrap() {
            return (s, Instant::now());
        }
        assert!(
            started.elapsed() < limit,
            "relay still running after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A push sent by hand on its own connection: headers and the first half
/// of the body now, the rest when [`SlowPush::finish`] is called.
struct SlowPush {
    tcp: TcpStream,
    rest: Vec<u8>,
    /// The signature it sent (never to be logged).
    signature: String,
}

impl SlowPush {
    fn start(addr: &str, d: &RemoteDevice, seq: u64, data: &[u8]) -> Self {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut head = format!(
            "POST /sync/push HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\
             Content-Type: application/octet-stream\r\n",
            data.len()
        );
        let mut signature = String::new();
        for (k, v) in push_headers(&d.id, &d.key, seq, &sha256_hex(data), unix_now()) {
            head.push_str(&format!("{k}: {v}\r\n"));
            if k == "X-Signature" {
                signature = v;
            }
        }
        head.push_str("\r\n");
        let half = data.len() / 2;
        tcp.write_all(head.as_bytes()).unwrap();
        tcp.write_all(&data[..half]).unwrap();
        Self {
            tcp,
            rest: data[half..].to_vec(),
            signature,
        }
    }

    /// Sends the rest of the body; the answer's status line, or what
    /// happened instead.
    fn finish(mut self) -> String {
        if let Err(e) = self.tcp.write_all(&self.rest) {
            return format!("write failed: {e}");
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.tcp.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                Err(e) => return format!("read failed: {e}"),
            }
        }
        let text = String::from_utf8_lossy(&got);
        text.lines().next().unwrap_or("no answer").to_string()
    }

    /// Never sends the rest: whether the relay closed the connection
    /// without an answer (what a push past the drain deadline gets).
    fn abandoned_unanswered(mut self) -> bool {
        let mut buf = [0u8; 64];
        matches!(self.tcp.read(&mut buf), Ok(0) | Err(_))
    }
}

/// What the pushing devices saw.
#[derive(Default)]
struct Seen {
    acked: Vec<Listed>,
    shutting_down: usize,
    /// Any answer other than 201 and a well-formed `503 shutting_down`.
    unexpected: Vec<String>,
}

/// Pushes seq 1, 2, ... until the relay stops answering; a `503` is
/// checked and the same seq sent again.
fn push_until_refused(a: &ureq::Agent, url: &str, i: usize, d: &RemoteDevice, seen: &Mutex<Seen>) {
    let mut seq = 1u64;
    loop {
        let data = body(i, seq);
        let sha = sha256_hex(&data);
        let headers = push_headers(&d.id, &d.key, seq, &sha, unix_now());
        let Some(r) =
            answer(with_headers(a.post(&format!("{url}/sync/push")), &headers).send_bytes(&data))
        else {
            return; // refused or reset: the relay has stopped listening
        };
        let status = r.status();
        let retry_after = r.header("Retry-After").map(str::to_string);
        let text = r.into_string().unwrap_or_default();
        let mut s = seen.lock().unwrap();
        match status {
            201 => {
                s.acked.push((d.id.clone(), seq, sha));
                seq += 1;
            }
            503 if text.contains(r#""error":"shutting_down""#)
                && text.contains(r#""retryAfter":2"#)
                && retry_after.as_deref() == Some("2") =>
            {
                s.shutting_down += 1;
                drop(s);
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => s
                .unexpected
                .push(format!("{status} {retry_after:?} {text}")),
        }
    }
}

/// Each log line is one JSON object, and no secret is in any.
fn check_logs(logs: &str, secrets: &[&str]) {
    let mut lines = 0;
    for l in logs.lines() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v.is_object() && v.get("level").is_some(), "{l}");
        lines += 1;
    }
    assert!(lines > 10, "too few log lines: {lines}");
    for s in secrets {
        assert!(!logs.contains(s), "a log line holds a secret");
    }
}

#[test]
fn sigterm_under_load_loses_no_acknowledged_push() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = tempfile::tempdir().unwrap();
    let mk = |n: &str| DeviceIdentity::create(keys.path().join(n)).unwrap();
    let lkey = add_license(&data, LID).unwrap();
    let (mut relay, logs) = serve_logged(&data, 20);
    let url = relay.url.clone();
    let addr = relay.addr().to_string();
    let a = agent();
    let devs: Vec<Arc<RemoteDevice>> = (0..DEVICES)
        .map(|i| {
            let d = RemoteDevice::register(&a, &url, LID, &lkey, mk(&format!("d{i}")), "pusher");
            Arc::new(d.unwrap())
        })
        .collect();
    let slow_dev = RemoteDevice::register(&a, &url, LID, &lkey, mk("slow"), "slow").unwrap();
    let reader = RemoteDevice::register(&a, &url, LID, &lkey, mk("reader"), "reader").unwrap();

    let seen = Arc::new(Mutex::new(Seen::default()));
    let workers: Vec<_> = devs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let (url, d, seen) = (url.clone(), d.clone(), seen.clone());
            std::thread::spawn(move || push_until_refused(&agent(), &url, i, &d, &seen))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.lock().unwrap().acked.len() < 200 {
        assert!(Instant::now() < deadline, "too little load");
        std::thread::sleep(Duration::from_millis(5));
    }
    // A push in flight when the signal comes: half its body is in.
    let slow_body = vec![0x5a; 64 * 1024];
    let slow = SlowPush::start(&addr, &slow_dev, 1, &slow_body);
    let slow_signature = slow.signature.clone();
    std::thread::sleep(Duration::from_millis(500));
    let acked_before = seen.lock().unwrap().acked.len();
    let termed = sigterm(&mut relay);

    // The listener closes at once: a new connection is refused, while the
    // half-sent push keeps the drain open.
    let refused_by = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(&addr).is_ok() {
        assert!(Instant::now() < refused_by, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Kept-alive connections are answered 503 meanwhile.
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        relay.child().try_wait().unwrap().is_none(),
        "the relay must wait for the push it took"
    );
    let slow_status = slow.finish();
    assert!(
        slow_status.starts_with("HTTP/1.1 201"),
        "the push in flight at SIGTERM: {slow_status}"
    );
    let (status, exited) = wait_exit(&mut relay, Duration::from_secs(25));
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let drain = exited - termed;
    for w in workers {
        w.join().unwrap();
    }
    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap();
    println!(
        "drain: {} pushes acknowledged ({acked_before} before SIGTERM), {} answered 503 \
         shutting_down, exit {:.2} s after SIGTERM",
        seen.acked.len(),
        seen.shutting_down,
        drain.as_secs_f64()
    );
    assert!(seen.unexpected.is_empty(), "{:?}", seen.unexpected);
    assert!(
        seen.shutting_down > 0,
        "no request got 503 shutting_down during the drain"
    );
    assert!(drain < Duration::from_secs(20), "{drain:?}");

    // After a restart, every acknowledged push is listed, and only once.
    let relay = RelayProcess::serve(BIN, &data, "pipelined");
    let listed = reader.pull_all(&a, &relay.url, "");
    let listed_set: HashSet<&Listed> = listed.iter().collect();
    assert_eq!(listed_set.len(), listed.len(), "a push listed twice");
    let mut want = seen.acked.clone();
    want.push((slow_dev.id.clone(), 1, sha256_hex(&slow_body)));
    let missing: Vec<_> = want.iter().filter(|p| !listed_set.contains(p)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged pushes lost: {:?}",
        missing.len(),
        want.len(),
        &missing[..missing.len().min(5)]
    );
    let logs = logs.lock().unwrap().clone();
    assert!(
        logs.contains("draining") && logs.contains("drained"),
        "{logs}"
    );
    check_logs(&logs, &[lkey.as_str(), slow_signature.as_str()]);
}

#[test]
fn past_the_drain_deadline_the_relay_exits_without_answering() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = tempfile::tempdir().unwrap();
    let lkey = add_license(&data, LID).unwrap();
    let (mut relay, logs) = serve_logged(&data, 1);
    let a = agent();
    let id = DeviceIdentity::create(keys.path().join("d")).unwrap();
    let d = RemoteDevice::register(&a, &relay.url, LID, &lkey, id, "stuck").unwrap();
    let reader_id = DeviceIdentity::create(keys.path().join("r")).unwrap();
    let reader = RemoteDevice::register(&a, &relay.url, LID, &lkey, reader_id, "r").unwrap();
    let stuck = SlowPush::start(relay.addr(), &d, 1, &[7u8; 4096]);
    let signature = stuck.signature.clone();
    std::thread::sleep(Duration::from_millis(300));
    let termed = sigterm(&mut relay);
    let (status, exited) = wait_exit(&mut relay, Duration::from_secs(10));
    assert!(status.success(), "{status}");
    let took = exited - termed;
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "exit {took:?} after SIGTERM with a 1 s drain deadline"
    );
    assert!(
        stuck.abandoned_unanswered(),
        "the unfinished push got an answer"
    );
    let logs = logs.lock().unwrap().clone();
    assert!(logs.contains("drain deadline passed"), "{logs}");
    check_logs(&logs, &[lkey.as_str(), signature.as_str()]);
    // Nothing of the unfinished push was stored.
    let relay = RelayProcess::serve(BIN, &data, "pipelined");
    assert!(reader.pull_all(&a, &relay.url, "").is_empty());
}
