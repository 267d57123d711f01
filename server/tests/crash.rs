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
use azmx_sync_test_support::RelayProcess;

const BIN: &str = env!("CARGO_BIN_EXE_azmx-sync-relay");

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Dev {
    id: String,
    key: DeviceIdentity,
}

fn init(url: &str, lid: &str, lkey: &str, key: DeviceIdentity) -> Dev {
    let ts = now();
    let sig = key
        .sign(&SignedRequest::Init {
            license_id: lid.into(),
            public_key: key.public_key(),
            device_name: "crash".into(),
            ts,
        })
        .unwrap();
    let body = serde_json::json!({ "licenseId": lid, "licenseKey": lkey, "publicKey": key.public_key(),
                                   "deviceName": "crash", "ts": ts, "signature": sig });
    let r = ureq::post(&format!("{url}/sync/init"))
        .send_string(&body.to_string())
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
    Dev {
        id: v["deviceId"].as_str().unwrap().into(),
        key,
    }
}

fn signed_get(url: &str, d: &Dev, path: &str, req: SignedRequest) -> ureq::Response {
    let ts = req.ts();
    let sig = d.key.sign(&req).unwrap();
    ureq::get(&format!("{url}{path}"))
        .set("X-Device-Id", &d.id)
        .set("X-Ts", &ts.to_string())
        .set("X-Signature", &sig)
        .call()
        .unwrap()
}

const DEVICES: usize = 64;
const BODY: usize = 2048;

/// The bytes device `d` pushes at `seq` (regenerable for the final check).
fn body(d: usize, seq: u64) -> Vec<u8> {
    (0..BODY as u64)
        .map(|i| (i * 7 + seq * 13 + d as u64 * 31) as u8)
        .collect()
}

type Item = (String, u64, String);
/// (device id, seq) → (device index, sha256) of every acknowledged push.
type Acked = HashMap<(String, u64), (usize, String)>;

/// One pull page: (items as (device, seq, sha256), nextCursor, hasMore);
/// the error is the HTTP status, `None` when the relay was unreachable.
fn pull_page(
    agent: &ureq::Agent,
    url: &str,
    d: &Dev,
    since: &str,
) -> Result<(Vec<Item>, String, bool), Option<u16>> {
    let ts = now();
    let req = SignedRequest::Pull {
        device_id: d.id.clone(),
        since: since.into(),
        limit: 1000,
        ts,
    };
    let sig = d.key.sign(&req).unwrap();
    let r = agent
        .get(&format!("{url}/sync/pull?since={since}&limit=1000"))
        .set("X-Device-Id", &d.id)
        .set("X-Ts", &ts.to_string())
        .set("X-Signature", &sig)
        .call()
        .map_err(|e| match e {
            ureq::Error::Status(s, _) => Some(s),
            _ => None,
        })?;
    let v: serde_json::Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
    let items = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|it| {
            (
                it["deviceId"].as_str().unwrap().to_string(),
                it["seq"].as_u64().unwrap(),
                it["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    Ok((
        items,
        v["nextCursor"].as_str().unwrap().to_string(),
        v["hasMore"] == true,
    ))
}

fn kill_9_under_load(durability: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lkey = add_license(&data, "lic_crash").unwrap();
    let relay = RelayProcess::serve(BIN, &data, durability);
    let url = relay.url.clone();
    let keys = tempfile::tempdir().unwrap();
    let mk = |i: usize| DeviceIdentity::create(keys.path().join(format!("k{i}"))).unwrap();
    let devs: Vec<Arc<Dev>> = (0..DEVICES)
        .map(|i| Arc::new(init(&url, "lic_crash", &lkey, mk(i))))
        .collect();
    let reader = Arc::new(init(&url, "lic_crash", &lkey, mk(999)));

    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Acked>> = Arc::default();
    let workers: Vec<_> = devs
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, d)| {
            let (url, stop, acked) = (url.clone(), stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(10))
                    .build();
                for seq in 1u64.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let body = body(i, seq);
                    let sha = sha256_hex(&body);
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
                    let r = agent
                        .post(&format!("{url}/sync/push"))
                        .set("X-Device-Id", &d.id)
                        .set("X-Seq", &seq.to_string())
                        .set("X-Sha256", &sha)
                        .set("X-Ts", &ts.to_string())
                        .set("X-Signature", &sig)
                        .send_bytes(&body);
                    match r {
                        Ok(resp) if resp.status() == 201 => {
                            acked.lock().unwrap().insert((d.id.clone(), seq), (i, sha));
                        }
                        Ok(resp) => panic!("unexpected status {}", resp.status()),
                        Err(ureq::Error::Status(s, _)) => panic!("unexpected status {s}"),
                        Err(_) => break, // the relay died
                    }
                }
            })
        })
        .collect();
    // A device pulling during the load: what it got before the crash and
    // its last cursor.
    let pulled: Arc<Mutex<(Vec<Item>, String)>> = Arc::default();
    let puller = {
        let (url, stop, reader, pulled) =
            (url.clone(), stop.clone(), reader.clone(), pulled.clone());
        std::thread::spawn(move || {
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(10))
                .build();
            while !stop.load(Ordering::Relaxed) {
                let since = pulled.lock().unwrap().1.clone();
                match pull_page(&agent, &url, &reader, &since) {
                    Ok((items, next, _)) => {
                        let mut g = pulled.lock().unwrap();
                        g.0.extend(items);
                        g.1 = next;
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
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let pull_all = |since: &str| {
        let (mut all, mut since) = (Vec::new(), since.to_string());
        loop {
            let (items, next, more) = pull_page(&agent, &url, &reader, &since).unwrap();
            all.extend(items);
            since = next;
            if !more {
                return all;
            }
        }
    };
    let everything = pull_all("");
    let resumed = pull_all(&cursor);

    // Exactly once: what the reader got before the crash plus what it gets
    // resuming from its old cursor is every listed blob, none twice.
    let mut seen = HashSet::new();
    for it in before.iter().chain(&resumed) {
        assert!(seen.insert(it.clone()), "{it:?} delivered twice");
    }
    let listed: HashSet<Item> = everything.iter().cloned().collect();
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
        let r = signed_get(
            &url,
            &reader,
            &format!("/sync/blob/{dev}/{seq}"),
            SignedRequest::Blob {
                device_id: reader.id.clone(),
                owner_device_id: dev.clone(),
                seq: *seq,
                ts: now(),
            },
        );
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
