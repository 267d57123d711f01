//! Kill -9 the relay process in the middle of concurrent pushes: every
//! acknowledged push is there after a restart, and every stored blob is
//! whole (its bytes hash to its listed SHA-256).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azmx_sync_core::{sha256_hex, DeviceIdentity, SignedRequest};
use azmx_sync_relay::{add_license, Relay, RelayConfig};

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

#[test]
fn acknowledged_pushes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lkey = add_license(&data, "lic_crash").unwrap();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--rate-per-sec",
            "0",
            "--data-dir",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    let keys = tempfile::tempdir().unwrap();
    let mk = |i: usize| DeviceIdentity::create(keys.path().join(format!("k{i}"))).unwrap();
    let devs: Vec<Arc<Dev>> = (0..4)
        .map(|i| Arc::new(init(&url, "lic_crash", &lkey, mk(i))))
        .collect();
    let reader = init(&url, "lic_crash", &lkey, mk(99));

    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<HashMap<(String, u64), String>>> = Arc::default();
    let workers: Vec<_> = devs
        .iter()
        .cloned()
        .map(|d| {
            let (url, stop, acked) = (url.clone(), stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(5))
                    .build();
                for seq in 1u64.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let body: Vec<u8> = (0..8192u32)
                        .map(|i| (i as u64 * 7 + seq * 13) as u8)
                        .collect();
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
                            acked.lock().unwrap().insert((d.id.clone(), seq), sha);
                        }
                        Ok(resp) => panic!("unexpected status {}", resp.status()),
                        Err(ureq::Error::Status(s, _)) => panic!("unexpected status {s}"),
                        Err(_) => break, // the relay died
                    }
                }
            })
        })
        .collect();
    // Let pushes flow, then kill -9 mid-stream.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while acked.lock().unwrap().len() < 200 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 50,
        "too few pushes before the kill: {}",
        acked.len()
    );

    // Restart on the same data directory.
    let mut cfg = RelayConfig::new(&data);
    cfg.limits.rate_per_sec = 0.0; // the check below reads every blob at once
    let relay = Relay::start(cfg).unwrap();
    let url = relay.url();
    let mut listed: HashMap<(String, u64), (String, u64)> = HashMap::new();
    let mut since = String::new();
    loop {
        let r = signed_get(
            &url,
            &reader,
            &format!("/sync/pull?since={since}&limit=1000"),
            SignedRequest::Pull {
                device_id: reader.id.clone(),
                since: since.clone(),
                limit: 1000,
                ts: now(),
            },
        );
        let v: serde_json::Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
        for it in v["items"].as_array().unwrap() {
            listed.insert(
                (
                    it["deviceId"].as_str().unwrap().into(),
                    it["seq"].as_u64().unwrap(),
                ),
                (
                    it["sha256"].as_str().unwrap().into(),
                    it["size"].as_u64().unwrap(),
                ),
            );
        }
        since = v["nextCursor"].as_str().unwrap().into();
        if v["hasMore"] == false {
            break;
        }
    }
    for ((dev, seq), sha) in &acked {
        let got = listed.get(&(dev.clone(), *seq));
        assert_eq!(
            got.map(|g| &g.0),
            Some(sha),
            "acknowledged push {dev}/{seq} lost"
        );
    }
    // Every stored blob is whole.
    for ((dev, seq), (sha, size)) in &listed {
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
        assert_eq!(bytes.len() as u64, *size);
        assert_eq!(&sha256_hex(&bytes), sha, "blob {dev}/{seq} is not whole");
    }
    relay.shutdown();
}
