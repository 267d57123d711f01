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
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azmx_sync_core::{sha256_hex, DeviceIdentity};
use azmx_sync_relay::add_license;
use azmx_sync_test_support::{output_ok, printed_key, RelayProcess, RemoteDevice};

const BIN: &str = env!("CARGO_BIN_EXE_azmx-sync-relay");

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build()
}

/// `license add` run as its own process (the real binary), as an operator
/// does against a live relay's data directory. Returns the key.
fn license_add_process(data: &Path, lid: &str) -> String {
    printed_key(&output_ok(
        Command::new(BIN)
            .args(["license", "add", lid, "--data-dir"])
            .arg(data),
    ))
}

/// `POST /sync/init`; the device, or the HTTP status (`None`: no answer).
fn init(
    a: &ureq::Agent,
    url: &str,
    lid: &str,
    lkey: &str,
    key: DeviceIdentity,
) -> Result<RemoteDevice, Option<u16>> {
    RemoteDevice::register(a, url, lid, lkey, key, "second")
}

/// The bytes pushed at `seq` by the device with index `d`.
fn body(d: usize, seq: u64) -> Vec<u8> {
    (0..512u64)
        .map(|i| (i * 7 + seq * 13 + d as u64 * 31) as u8)
        .collect()
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
        dev_a.push(&a, &relay.url, 1, &body(0, 1)),
        Some(201),
        "first push"
    );

    // The operator adds a license while the relay serves.
    let key_b = license_add_process(&data, "lic_b");

    let dev_b = init(&a, &relay.url, "lic_b", &key_b, mk("b"))
        .unwrap_or_else(|s| panic!("init in the new license: {s:?}"));
    assert_eq!(
        dev_b.keycheck_status(&a, &relay.url),
        404,
        "keycheck of a license without one"
    );
    assert_eq!(dev_a.push(&a, &relay.url, 2, &body(0, 2)), Some(201));
    assert_eq!(dev_b.push(&a, &relay.url, 1, &body(1, 1)), Some(201));
    let reader_a = init(&a, &relay.url, "lic_a", &key_a, mk("ra")).unwrap();
    assert_eq!(reader_a.pull_all(&a, &relay.url, "").len(), 2);

    // What it acknowledged after the other process came and went survives a
    // process kill (it is committed; the page cache outlives the process).
    relay.sigkill();
    let relay = RelayProcess::serve(BIN, &data, durability);
    let listed = reader_a.pull_all(&a, &relay.url, "");
    let want: Vec<(String, u64, String)> = [1, 2]
        .iter()
        .map(|&s| (dev_a.id.clone(), s, sha256_hex(&body(0, s))))
        .collect();
    assert_eq!(listed, want, "lic_a after the kill");
    let reader_b = init(&a, &relay.url, "lic_b", &key_b, mk("rb")).unwrap();
    assert_eq!(
        reader_b.pull_all(&a, &relay.url, ""),
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
    type Devs = Arc<Mutex<HashMap<String, (usize, Arc<RemoteDevice>)>>>;
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
                            match d.push(&a, &url, seq, &b) {
                                Some(201) => {
                                    acked
                                        .lock()
                                        .unwrap()
                                        .push((d.id.clone(), seq, sha256_hex(&b)))
                                }
                                Some(s) => panic!("push: unexpected status {s}"),
                                None => return,
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
        match d.keycheck_status(&a, &relay.url) {
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
        reader.pull_all(&a, &relay.url, "").into_iter().collect();
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
