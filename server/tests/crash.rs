//! Kill -9 the relay process (the real binary) in the middle of 64
//! devices pushing concurrently, in both durability modes: after a restart
//! on the same data directory every acknowledged push is listed and
//! fetchable byte-identical, and a device that was pulling before the
//! crash, resuming with its old cursor, gets every blob exactly once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azmx_sync_core::{sha256_hex, DeviceIdentity, SignedRequest};
use azmx_sync_relay::add_license;
use azmx_sync_test_support::client::Listed;
use azmx_sync_test_support::{unix_now, RelayProcess, RemoteDevice};

const BIN: &str = env!("CARGO_BIN_EXE_azmx-sync-relay");

const DEVICES: usize = 64;
const BODY: usize = 2048;

/// The bytes device `d` pushes at `seq` (regenerable for the final check).
fn body(d: usize, seq: u64) -> Vec<u8> {
    (0..BODY as u64)
        .map(|i| (i * 7 + seq * 13 + d as u64 * 31) as u8)
        .collect()
}

/// (device id, seq) → (device index, sha256) of every acknowledged push.
type Acked = HashMap<(String, u64), (usize, String)>;

fn agent(timeout_secs: u64) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(timeout_secs))
        .build()
}

fn kill_9_under_load(durability: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lkey = add_license(&data, "lic_crash").unwrap();
    let relay = RelayProcess::serve(BIN, &data, durability);
    let url = relay.url.clone();
    let keys = tempfile::tempdir().unwrap();
    let mk = |i: usize| DeviceIdentity::create(keys.path().join(format!("k{i}"))).unwrap();
    let register = |i: usize| {
        let d = RemoteDevice::register(&agent(10), &url, "lic_crash", &lkey, mk(i), "crash");
        Arc::new(d.unwrap())
    };
    let devs: Vec<Arc<RemoteDevice>> = (0..DEVICES).map(register).collect();
    let reader = register(999);

    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Acked>> = Arc::default();
    let workers: Vec<_> = devs
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, d)| {
            let (url, stop, acked) = (url.clone(), stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let agent = agent(10);
                for seq in 1u64.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let body = body(i, seq);
                    match d.push(&agent, &url, seq, &body) {
                        Some(201) => {
                            let sha = sha256_hex(&body);
                            acked.lock().unwrap().insert((d.id.clone(), seq), (i, sha));
                        }
                        Some(s) => panic!("unexpected status {s}"),
                        None => break, // the relay died
                    }
                }
            })
        })
        .collect();
    // A device pulling during the load: what it got before the crash and
    // its last cursor.
    let pulled: Arc<Mutex<(Vec<Listed>, String)>> = Arc::default();
    let puller = {
        let (url, stop, reader, pulled) =
            (url.clone(), stop.clone(), reader.clone(), pulled.clone());
        std::thread::spawn(move || {
            let agent = agent(10);
            while !stop.load(Ordering::Relaxed) {
                let since = pulled.lock().unwrap().1.clone();
                match reader.pull_page(&agent, &url, &since) {
                    Ok(page) => {
                        let mut g = pulled.lock().unwrap();
                        g.0.extend(page.items);
                        g.1 = page.next_cursor;
                    }
                    Err(Some(s)) => panic!("pull: unexpected status {s}"),
                    Err(None) => break,
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    // Let pushes flow, then kill -9 mid-stream.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while (acked.lock().unwrap().len() < 1500 || pulled.lock().unwrap().0.len() < 100)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    relay.sigkill();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    puller.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    let (before, cursor) = pulled.lock().unwrap().clone();
    assert!(
        acked.len() >= 200,
        "too few pushes before the kill: {}",
        acked.len()
    );
    assert!(
        !before.is_empty(),
        "the reader pulled nothing before the kill"
    );

    // Restart the binary on the same data directory.
    let relay = RelayProcess::serve(BIN, &data, durability);
    let url = relay.url.clone();
    let agent = agent(30);
    let everything = reader.pull_all(&agent, &url, "");
    let resumed = reader.pull_all(&agent, &url, &cursor);

    // Exactly once: what the reader got before the crash plus what it gets
    // resuming from its old cursor is every listed blob, none twice.
    let mut seen = HashSet::new();
    for it in before.iter().chain(&resumed) {
        assert!(seen.insert(it.clone()), "{it:?} delivered twice");
    }
    let listed: HashSet<Listed> = everything.iter().cloned().collect();
    assert_eq!(listed.len(), everything.len(), "a blob listed twice");
    assert_eq!(
        seen, listed,
        "resuming from the old cursor skipped or invented blobs"
    );

    // Every acknowledged push is listed and fetchable byte-identical.
    for ((dev, seq), (i, sha)) in &acked {
        assert!(
            listed.contains(&(dev.clone(), *seq, sha.clone())),
            "acknowledged push {dev}/{seq} lost ({durability})"
        );
        let req = SignedRequest::Blob {
            device_id: reader.id.clone(),
            owner_device_id: dev.clone(),
            seq: *seq,
            ts: unix_now(),
        };
        let path = format!("/sync/blob/{dev}/{seq}");
        let r = reader.get(&agent, &url, &path, req).expect("relay answers");
        assert_eq!(r.status(), 200, "blob {dev}/{seq}");
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut bytes).unwrap();
        assert!(bytes == body(*i, *seq), "blob {dev}/{seq} differs");
    }
    drop(relay);
}

#[test]
fn kill_9_under_64_device_load_pipelined() {
    kill_9_under_load("pipelined");
}

#[test]
fn kill_9_under_64_device_load_full() {
    kill_9_under_load("full");
}
