//! A second process opening a live relay's SQLite data directory (the
//! operator's `license add`, documented against a serving relay) must
//! leave the running relay working and must not lose anything it
//! acknowledges, across SIGKILLs and restarts (issue 11, the regressions
//! of the defect 2 fix).
//!
//! Both tests run the real relay binary as a child process: SQLite's locks
//! are per process, so only a second process shows what a second open does
//! to the first.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azmx_sync_core::{sha256_hex, DeviceIdentity, SignedRequest};
use azmx_sync_relay::add_license;
use azmx_sync_test_support::RelayProcess;

const BIN: &str = env!("CARGO_BIN_EXE_azmx-sync-relay");

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build()
}

/// `license add` run as its own process (the real binary), as an operator
/// does against a live relay's data directory. Returns the key.
fn license_add_process(data: &Path, lid: &str) -> String {
    let out = Command::new(BIN)
        .args(["license", "add", lid, "--data-dir"])
        .arg(data)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "license add {lid} failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_string()
}

struct Dev {
    id: String,
    key: DeviceIdentity,
}

/// `POST /sync/init`; the device, or the HTTP status (`None`: no answer).
fn init(
    a: &ureq::Agent,
    url: &str,
    lid: &str,
    lkey: &str,
    key: DeviceIdentity,
) -> Result<Dev, Option<u16>> {
    let ts = now();
    let sig = key
        .sign(&SignedRequest::Init {
            license_id: lid.into(),
            public_key: key.public_key(),
            device_name: "second".into(),
            ts,
        })
        .unwrap();
    let body = serde_json::json!({ "licenseId": lid, "licenseKey": lkey, "publicKey": key.public_key(),
                                   "deviceName": "second", "ts": ts, "signature": sig });
    let r = a
        .post(&format!("{url}/sync/init"))
        .send_string(&body.to_string())
        .map_err(status)?;
    let v: serde_json::Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
    Ok(Dev {
        id: v["deviceId"].as_str().unwrap().into(),
        key,
    })
}

fn status(e: ureq::Error) -> Option<u16> {
    match e {
        ureq::Error::Status(s, _) => Some(s),
        _ => None,
    }
}

/// The bytes pushed at `seq` by the device with index `d`.
fn body(d: usize, seq: u64) -> Vec<u8> {
    (0..512u64)
        .map(|i| (i * 7 + seq * 13 + d as u64 * 31) as u8)
        .collect()
}

/// `POST /sync/push`: Ok(status) for an HTTP answer, Err for none.
fn push(a: &ureq::Agent, url: &str, d: &Dev, seq: u64, data: &[u8]) -> Result<u16, ()> {
    let sha = sha256_hex(data);
    let ts = now();
    let sig = d
        .key
        .sign(&SignedRequest::Push {
            device_id: d.id.clone(),
            seq,
            sha256: sha.clone(),
            ts,
        })
        .unwrap();
    match a
        .post(&format!("{url}/sync/push"))
        .set("X-Device-Id", &d.id)
        .set("X-Seq", &seq.to_string())
        .set("X-Sha256", &sha)
        .set("X-Ts", &ts.to_string())
        .set("X-Signature", &sig)
        .send_bytes(data)
    {
        Ok(r) => Ok(r.status()),
        Err(ureq::Error::Status(s, _)) => Ok(s),
        Err(_) => Err(()),
    }
}

fn signed_get(a: &ureq::Agent, url: &str, d: &Dev, path: &str, req: SignedRequest) -> u16 {
    let ts = req.ts();
    let sig = d.key.sign(&req).unwrap();
    match a
        .get(&format!("{url}{path}"))
        .set("X-Device-Id", &d.id)
        .set("X-Ts", &ts.to_string())
        .set("X-Signature", &sig)
        .call()
    {
        Ok(r) => r.status(),
        Err(e) => status(e).expect("relay unreachable"),
    }
}

fn keycheck_status(a: &ureq::Agent, url: &str, d: &Dev) -> u16 {
    let req = SignedRequest::KeycheckGet {
        device_id: d.id.clone(),
        ts: now(),
    };
    signed_get(a, url, d, "/sync/keycheck", req)
}

/// Every (device, seq, sha256) the relay lists to `d`, all pages.
fn pull_all(a: &ureq::Agent, url: &str, d: &Dev) -> Vec<(String, u64, String)> {
    let (mut all, mut since) = (Vec::new(), String::new());
    loop {
        let ts = now();
        let req = SignedRequest::Pull {
            device_id: d.id.clone(),
            since: since.clone(),
            limit: 1000,
            ts,
        };
        let sig = d.key.sign(&req).unwrap();
        let r = a
            .get(&format!("{url}/sync/pull?since={since}&limit=1000"))
            .set("X-Device-Id", &d.id)
            .set("X-Ts", &ts.to_string())
            .set("X-Signature", &sig)
            .call()
            .unwrap_or_else(|e| panic!("pull by {}: {e}", d.id));
        let v: serde_json::Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
        for it in v["items"].as_array().unwrap() {
            all.push((
                it["deviceId"].as_str().unwrap().to_string(),
                it["seq"].as_u64().unwrap(),
                it["sha256"].as_str().unwrap().to_string(),
            ));
        }
        since = v["nextCursor"].as_str().unwrap().to_string();
        if v["hasMore"] != true {
            return all;
        }
    }
}

/// Regression for `relay_commands_with_a_config_file`: after `license add`
/// from another process, the serving relay answered `500 internal` (disk
/// I/O error), and what it acknowledged afterwards did not survive a kill.
fn second_process_open(durability: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = tempfile::tempdir().unwrap();
    let mk = |n: &str| DeviceIdentity::create(keys.path().join(n)).unwrap();
    let key_a = add_license(&data, "lic_a").unwrap();
    let relay = RelayProcess::serve(BIN, &data, durability);
    let a = agent();
    let dev_a = init(&a, &relay.url, "lic_a", &key_a, mk("a")).unwrap();
    assert_eq!(
        push(&a, &relay.url, &dev_a, 1, &body(0, 1)),
        Ok(201),
        "first push"
    );

    // The operator adds a license while the relay serves.
    let key_b = license_add_process(&data, "lic_b");

    let dev_b = init(&a, &relay.url, "lic_b", &key_b, mk("b"))
        .unwrap_or_else(|s| panic!("init in the new license: {s:?}"));
    assert_eq!(
        keycheck_status(&a, &relay.url, &dev_b),
        404,
        "keycheck of a license without one"
    );
    assert_eq!(push(&a, &relay.url, &dev_a, 2, &body(0, 2)), Ok(201));
    assert_eq!(push(&a, &relay.url, &dev_b, 1, &body(1, 1)), Ok(201));
    let reader_a = init(&a, &relay.url, "lic_a", &key_a, mk("ra")).unwrap();
    assert_eq!(pull_all(&a, &relay.url, &reader_a).len(), 2);

    // What it acknowledged after the other process came and went survives a
    // process kill (it is committed; the page cache outlives the process).
    relay.sigkill();
    let relay = RelayProcess::serve(BIN, &data, durability);
    let listed = pull_all(&a, &relay.url, &reader_a);
    let want: Vec<(String, u64, String)> = [1, 2]
        .iter()
        .map(|&s| (dev_a.id.clone(), s, sha256_hex(&body(0, s))))
        .collect();
    assert_eq!(listed, want, "lic_a after the kill");
    let reader_b = init(&a, &relay.url, "lic_b", &key_b, mk("rb")).unwrap();
    assert_eq!(
        pull_all(&a, &relay.url, &reader_b),
        vec![(dev_b.id.clone(), 1, sha256_hex(&body(1, 1)))],
        "lic_b after the kill"
    );
}

#[test]
fn license_add_from_another_process_leaves_a_serving_relay_working_pipelined() {
    second_process_open("pipelined");
}

#[test]
fn license_add_from_another_process_leaves_a_serving_relay_working_full() {
    second_process_open("full");
}

/// Registrations and pushes acknowledged under load, with the operator's
/// `license add` process in the middle, SIGKILL, restart, twice: every
/// acknowledged registration still authenticates and every acknowledged
/// push is listed (the simulator's relay-kill seed 0xae309fa44d2f3c08 lost
/// a registration for good: `401 unknown_device`).
fn kill_twice_under_registrations_and_pushes(durability: &str) {
    const WORKERS: usize = 6;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = tempfile::tempdir().unwrap();
    let keys_path = keys.path().to_path_buf();
    let lkey = add_license(&data, "lic_k").unwrap();
    let mut relay = RelayProcess::serve(BIN, &data, durability);
    let reader = init(
        &agent(),
        &relay.url,
        "lic_k",
        &lkey,
        DeviceIdentity::create(keys.path().join("reader")).unwrap(),
    )
    .unwrap();
    // Acknowledged registrations (device id → index) and pushes.
    type Devs = Arc<Mutex<HashMap<String, (usize, Arc<Dev>)>>>;
    let devs: Devs = Arc::default();
    let acked: Arc<Mutex<Vec<(String, u64, String)>>> = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    for round in 0..2 {
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                let (url, stop, devs, acked, next, lkey, keys_path) = (
                    relay.url.clone(),
                    stop.clone(),
                    devs.clone(),
                    acked.clone(),
                    next.clone(),
                    lkey.clone(),
                    keys_path.clone(),
                );
                std::thread::spawn(move || {
                    let a = agent();
                    // Each worker registers a device, pushes a few blobs
                    // with it, registers the next, until the relay dies.
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let key = DeviceIdentity::create(keys_path.join(format!("k{i}"))).unwrap();
                        let d = match init(&a, &url, "lic_k", &lkey, key) {
                            Ok(d) => Arc::new(d),
                            Err(None) => return,
                            Err(Some(s)) => panic!("init: unexpected status {s}"),
                        };
                        devs.lock().unwrap().insert(d.id.clone(), (i, d.clone()));
                        for seq in 1..=4u64 {
                            let b = body(i, seq);
                            match push(&a, &url, &d, seq, &b) {
                                Ok(201) => {
                                    acked
                                        .lock()
                                        .unwrap()
                                        .push((d.id.clone(), seq, sha256_hex(&b)))
                                }
                                Ok(s) => panic!("push: unexpected status {s}"),
                                Err(()) => return,
                            }
                        }
                    }
                })
            })
            .collect();
        let wait_for = |n: usize| {
            let deadline = Instant::now() + Duration::from_secs(20);
            while acked.lock().unwrap().len() < n && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        let base = acked.lock().unwrap().len();
        wait_for(base + 40);
        license_add_process(&data, &format!("lic_op{round}"));
        // Writes acknowledged after the other process closed the database.
        let base = acked.lock().unwrap().len();
        wait_for(base + 80);
        relay.sigkill();
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        relay = RelayProcess::serve(BIN, &data, durability);
    }

    let a = agent();
    let devs = devs.lock().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 200, "too little load: {}", acked.len());
    let mut lost_devices = Vec::new();
    for (id, (_, d)) in devs.iter() {
        match keycheck_status(&a, &relay.url, d) {
            404 | 200 => {}
            s => lost_devices.push(format!("{id}: {s}")),
        }
    }
    assert!(
        lost_devices.is_empty(),
        "{} of {} acknowledged registrations lost ({durability}): {lost_devices:?}",
        lost_devices.len(),
        devs.len()
    );
    let listed: std::collections::HashSet<_> =
        pull_all(&a, &relay.url, &reader).into_iter().collect();
    let missing: Vec<_> = acked.iter().filter(|p| !listed.contains(*p)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged pushes not listed ({durability}): {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn kill_twice_under_registrations_and_pushes_pipelined() {
    kill_twice_under_registrations_and_pushes("pipelined");
}

#[test]
fn kill_twice_under_registrations_and_pushes_full() {
    kill_twice_under_registrations_and_pushes("full");
}
