//! Load generator for the relay: signed 4 KiB pushes over loopback HTTP/1.1
//! keep-alive connections, one connection per simulated device, against a
//! relay started in-process on 127.0.0.1 with its durable SQLite store
//! (WAL, group commit; see `Durability`) in Cargo's target tmp directory
//! (on disk, not tmpfs).
//!
//! ```text
//! cargo bench -p azmx-sync-relay --bench load            # full run
//! RELAY_LOAD_SECS=10 RELAY_LOAD_LEVELS=1,8,64 cargo bench -p azmx-sync-relay --bench load
//! RELAY_LOAD_BIN=target/dist/azmx-sync-relay cargo bench -p azmx-sync-relay --bench load
//! (`cargo build --profile dist -p azmx-sync-relay --bin azmx-sync-relay`: the relay as shipped)
//! ```
//!
//! With `RELAY_LOAD_BIN` the relay is that binary in a process of its own
//! (`serve`, same defaults, rate limit off), so its CPU per push is read
//! from its own /proc/<pid>/stat and reported apart from the load
//! generator's; in-process, only the sum is known. `RELAY_LOAD_JSON=path`
//! also writes the rows as JSON (for scripts/bench.sh).
//!
//! Every request is signed (ed25519 over the push canonical) and carries the
//! SHA-256 of its body; the relay verifies both. Bounded: each level runs
//! for at most RELAY_LOAD_SECS seconds (default 8) and RELAY_LOAD_MAX pushes
//! (default 300000). The per-device rate limit is switched off for the run
//! (the default 100 req/s per device would otherwise be the thing measured).
//! Without `--bench` (e.g. `cargo test --benches`) it runs a short smoke pass.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use azmx_sync_core::{sha256_hex, DeviceIdentity};
use azmx_sync_relay::{add_license, admin_devices, Durability, Relay, RelayConfig};
use azmx_sync_test_support::client::push_headers;
use azmx_sync_test_support::RelayProcess;
use azmx_sync_test_support::{unix_now, RemoteDevice};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};

const BLOB: usize = 4096;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn register(
    url: &str,
    lid: &str,
    key: &str,
    keydir: &std::path::Path,
    n: usize,
) -> Vec<RemoteDevice> {
    let agent = ureq::agent();
    (0..n)
        .map(|i| {
            let identity = DeviceIdentity::create(keydir.join(format!("{lid}-{i}"))).unwrap();
            RemoteDevice::register(&agent, url, lid, key, identity, &format!("load {i}"))
                .unwrap_or_else(|s| panic!("register device {i}: {s:?}"))
        })
        .collect()
}

/// One device: a keep-alive connection pushing seq 1, 2, 3, ... until the
/// deadline or the global budget. Returns per-request latencies (µs).
async fn device_loop(
    addr: SocketAddr,
    dev: Arc<RemoteDevice>,
    deadline: Instant,
    budget: Arc<AtomicU64>,
    max: u64,
) -> (Vec<u32>, u64) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut lat = Vec::with_capacity(1 << 14);
    let mut failures = 0u64;
    let mut data = vec![0u8; BLOB];
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i * 31 + dev.id.len()) as u8;
    }
    let mut seq = 0u64;
    while Instant::now() < deadline && budget.fetch_add(1, Ordering::Relaxed) < max {
        seq += 1;
        data[..8].copy_from_slice(&seq.to_le_bytes());
        let t = Instant::now();
        let headers = push_headers(&dev.id, &dev.key, seq, &sha256_hex(&data), unix_now());
        let mut req = hyper::Request::post("/sync/push")
            .header("host", addr.to_string())
            .header("content-type", "application/octet-stream");
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let req = req.body(Full::new(Bytes::copy_from_slice(&data))).unwrap();
        let resp = sender.send_request(req).await.unwrap();
        let status = resp.status();
        let _ = resp.into_body().collect().await.unwrap();
        if status.as_u16() == 201 {
            lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
        } else {
            failures += 1;
        }
    }
    (lat, failures)
}

/// User+system CPU seconds of process `pid` ("self": this one, the load
/// generator, and the relay too when it runs in-process), from /proc;
/// `None` elsewhere.
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// The relay under load: in this process, or the binary in its own.
enum Server {
    InProcess(azmx_sync_relay::RunningRelay),
    Child(RelayProcess, String),
}

impl Server {
    fn url(&self) -> String {
        match self {
            Self::InProcess(r) => r.url(),
            Self::Child(p, _) => p.url.clone(),
        }
    }
    fn addr(&self) -> SocketAddr {
        match self {
            Self::InProcess(r) => r.local_addr(),
            Self::Child(p, _) => p.addr().parse().unwrap(),
        }
    }
    /// The relay's own CPU seconds, when it has a process of its own.
    fn cpu(&self) -> Option<f64> {
        match self {
            Self::InProcess(_) => None,
            Self::Child(_, pid) => cpu_secs(pid),
        }
    }
    fn shutdown(self) {
        match self {
            Self::InProcess(r) => r.shutdown(),
            Self::Child(mut p, _) => assert!(p.terminate().success(), "relay exit"),
        }
    }
}

fn us_per(cpu: Option<f64>, n: u64) -> String {
    cpu.map(|c| format!("{:.0}", c * 1e6 / n.max(1) as f64))
        .unwrap_or_else(|| "-".into())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let secs: u64 = env_or("RELAY_LOAD_SECS", if full { 8 } else { 1 });
    let max: u64 = env_or("RELAY_LOAD_MAX", if full { 300_000 } else { 2_000 });
    let levels: Vec<usize> = std::env::var("RELAY_LOAD_LEVELS")
        .unwrap_or_else(|_| "1,8,64".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let base = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&base).unwrap();
    let tmp = tempfile::tempdir_in(&base).unwrap();
    let data_dir = tmp.path().join("data");
    std::fs::create_dir_all(tmp.path().join("keys")).unwrap();

    let mut cfg = RelayConfig::new(&data_dir);
    cfg.limits.rate_per_sec = 0.0; // measure the relay, not the limiter
    let full_sync = std::env::var("RELAY_LOAD_DURABILITY").is_ok_and(|v| v == "full");
    if full_sync {
        cfg.durability = Durability::Full;
    }
    let bin = std::env::var_os("RELAY_LOAD_BIN");
    let relay = match &bin {
        Some(bin) => {
            let durability = if full_sync { "full" } else { "pipelined" };
            let mut p = RelayProcess::serve(bin, &data_dir, durability);
            let pid = p.child().id().to_string();
            Server::Child(p, pid)
        }
        None => Server::InProcess(Relay::start(cfg).unwrap()),
    };
    let url = relay.url();
    let addr = relay.addr();
    println!(
        "relay load: 4 KiB signed pushes, durable SQLite (WAL, group commit, durability {:?}), \
         data dir {}, {}, {secs} s / {max} pushes max per level, {} cores",
        if full_sync {
            Durability::Full
        } else {
            Durability::PipelinedFsync
        },
        data_dir.display(),
        if bin.is_some() {
            "relay in its own process"
        } else {
            "relay in-process"
        },
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!("| devices | pushes | seconds | pushes/s | p50 ms | p99 ms | max ms | refused | CPU µs/push | relay µs/push | load gen µs/push | load avg |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut rows = Vec::new();

    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut total_ok = 0u64;
    let mut lids = Vec::new();
    for &n in &levels {
        let lid = format!("lic_load_{n}");
        let key = add_license(&data_dir, &lid).unwrap();
        let devs: Vec<Arc<RemoteDevice>> = register(&url, &lid, &key, &tmp.path().join("keys"), n)
            .into_iter()
            .map(Arc::new)
            .collect();
        let budget = Arc::new(AtomicU64::new(0));
        let cpu0 = cpu_secs("self");
        let relay0 = relay.cpu();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(secs);
        let results = client.block_on(async {
            let tasks: Vec<_> = devs
                .iter()
                .map(|d| tokio::spawn(device_loop(addr, d.clone(), deadline, budget.clone(), max)))
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        let elapsed = started.elapsed().as_secs_f64();
        let loadgen = cpu_secs("self").zip(cpu0).map(|(b, a)| b - a);
        let relay_cpu = relay.cpu().zip(relay0).map(|(b, a)| b - a);
        // In-process, "self" is both; in a child, the sum of the two.
        let cpu = match relay_cpu {
            Some(r) => loadgen.map(|g| g + r),
            None => loadgen,
        };
        let loadgen = relay_cpu.and(loadgen);
        let mut lat: Vec<u32> = results.iter().flat_map(|r| r.0.iter().copied()).collect();
        let refused: u64 = results.iter().map(|r| r.1).sum();
        lat.sort_unstable();
        let ok = lat.len() as u64;
        total_ok += ok;
        let load = loadavg();
        println!(
            "| {n} | {ok} | {elapsed:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {refused} | {} | {} | {} | {load} |",
            ok as f64 / elapsed,
            pct(&lat, 0.50),
            pct(&lat, 0.99),
            pct(&lat, 1.0),
            us_per(cpu, ok),
            us_per(relay_cpu, ok),
            us_per(loadgen, ok),
        );
        let per = |c: Option<f64>| c.map(|c| c * 1e6 / ok.max(1) as f64);
        rows.push(serde_json::json!({
            "devices": n, "pushes": ok, "seconds": elapsed,
            "pushesPerSec": ok as f64 / elapsed,
            "p50Ms": pct(&lat, 0.50), "p99Ms": pct(&lat, 0.99), "maxMs": pct(&lat, 1.0),
            "refused": refused, "cpuUsPerPush": per(cpu),
            "relayCpuUsPerPush": per(relay_cpu), "loadGenCpuUsPerPush": per(loadgen),
            "loadavg": load,
        }));
        assert_eq!(refused, 0, "the relay refused pushes");
        lids.push(lid);
    }
    relay.shutdown();
    // Every acknowledged push is in the store after shutdown.
    let stored: u64 = lids
        .iter()
        .map(|lid| {
            admin_devices(&data_dir, lid)
                .unwrap()
                .iter()
                .map(|d| d.blob_count)
                .sum::<u64>()
        })
        .sum();
    assert_eq!(
        stored, total_ok,
        "acknowledged pushes missing from the store"
    );
    println!("all {total_ok} acknowledged pushes found in the store after shutdown");
    if let Some(path) = std::env::var_os("RELAY_LOAD_JSON") {
        let doc = serde_json::json!({
            "relayProcess": bin.is_some(),
            "durability": if full_sync { "full" } else { "pipelined" },
            "secs": secs,
            "rows": rows,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    }
}
