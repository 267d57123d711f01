//! How cost grows with the number of records: the real engine against the
//! real relay binary on loopback, at several store sizes and body sizes.
//!
//! ```text
//! cargo build --release -p azmx-sync-relay --bin azmx-sync-relay
//! cargo bench -p azmx-sync-e2e --bench scale                       # 1k..1M, 100 B and 2 KiB
//! SCALE_SIZES=1000,10000 SCALE_BODIES=100 cargo bench -p azmx-sync-e2e --bench scale
//! ```
//!
//! For each (records, body size) a fresh relay process (`azmx-sync-relay
//! serve` with the default limits, the body limit included; only the
//! per-device rate limit is off, and the license quota is raised when the
//! records would not fit the default one) and two device processes (this
//! binary again, `--scale-child`): a writer that pushes every record and
//! times idle and one-edit cycles, and a new device that catches up. The
//! relay's and each device's peak RSS (VmHWM) and CPU time are their own.
//! Results go to `target/bench/scale.json` (SCALE_OUT);
//! `scripts/bench/scale_report.py` fits and plots them.
//!
//! The first push is one checkpoint in parts, each under the engine's push
//! limit (PROTOCOL §6, "Checkpoints in parts"); the bench counts its push
//! requests. A first push that fails is reported as it came and the run of
//! that size stops there. Knobs: SCALE_SIZES, SCALE_BODIES, SCALE_REPEATS
//! (timed idle/edit cycles, default 3), SCALE_RELAY_BIN, SCALE_OUT,
//! SCALE_DEVICE_WRAPPER (a command the device children run under, `%r` the
//! role: `heaptrack -o $PWD/target/bench/heap-%r`, a path from the root
//! since `cargo bench` runs in tests/e2e; docs/BENCHMARKS.md has the whole
//! command), SCALE_FIRST_PUSH_ONLY=1 (the writer stops after its first
//! push, so a profile's peak is the push's).
//! Without `--bench` (`cargo test --benches`) it runs 1,000 records of 100 B
//! only.

mod device;
mod procfs;
mod store;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use azmx_sync_relay::{
    DEFAULT_LICENSE_MAX_BLOBS, DEFAULT_LICENSE_MAX_BYTES, DEFAULT_MAX_BODY_BYTES,
};
use azmx_sync_test_support::{output_ok, printed_key, RelayProcess};
use serde_json::{json, Value};

const LICENSE: &str = "lic_scale";

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .collect()
}

fn target_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .to_path_buf()
}

/// The relay binary: SCALE_RELAY_BIN, else the release build (a `--bench`
/// run), else the debug one (`cargo test --benches`).
fn relay_bin(full: bool) -> PathBuf {
    let profiles = if full {
        ["release", "debug"]
    } else {
        ["debug", "release"]
    };
    let bin = std::env::var_os("SCALE_RELAY_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            profiles
                .iter()
                .map(|p| target_dir().join(p).join("azmx-sync-relay"))
                .find(|b| b.exists())
        })
        .unwrap_or_else(|| target_dir().join("release/azmx-sync-relay"));
    assert!(
        bin.exists(),
        "no relay binary at {} (cargo build --release -p azmx-sync-relay --bin azmx-sync-relay, or set SCALE_RELAY_BIN)",
        bin.display()
    );
    bin
}

fn shell(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The device child's command: this binary, or it behind the words of
/// SCALE_DEVICE_WRAPPER (a profiler), with `%r` in them replaced by the role
/// so each role's report has a name of its own.
fn child_command(role: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let wrapper = std::env::var("SCALE_DEVICE_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace().map(|w| w.replace("%r", role));
    let mut cmd = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.arg("--scale-child").env("SCALE_ROLE", role);
    cmd
}

/// Runs one device role in a child process and returns its result line.
fn child(role: &str, env: &[(&str, String)]) -> Value {
    let started = Instant::now();
    let mut cmd = child_command(role);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("run device child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut v = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SCALE_RESULT "))
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
        .unwrap_or_else(
            || json!({ "crashed": format!("{} (exit {:?})", role, out.status.code()) }),
        );
    v["wallSecs"] = json!(started.elapsed().as_secs_f64());
    v
}

/// Sealed bytes per record of the largest checkpoint that went through
/// with this body size, or an estimate before there is one.
fn sealed_per_record(runs: &[Value], body: usize) -> f64 {
    runs.iter()
        .filter(|r| r["bodyBytes"] == json!(body) && r["writer"]["mode"] == "checkpoint")
        .rev()
        .find_map(|r| {
            let fp = &r["writer"]["firstPush"];
            Some(fp["sealedBytes"].as_f64()? / fp["records"].as_f64()?.max(1.0))
        })
        .unwrap_or(body as f64 * 1.1 + 130.0)
}

fn run_one(bin: &Path, n: usize, body: usize, repeats: usize, runs: &[Value]) -> Value {
    let load_before = procfs::loadavg();
    let started = Instant::now();
    let base = target_dir().join("tmp");
    std::fs::create_dir_all(&base).unwrap();
    let tmp = tempfile::tempdir_in(&base).unwrap();
    let data = tmp.path().join("relay");
    let per_record = sealed_per_record(runs, body);
    let need = per_record * n as f64;
    // The default quota (1 GiB) is below 1M records of 2 KiB: raised for
    // such a run only, with room for the edits and the state the relay keeps.
    let quota = (need > DEFAULT_LICENSE_MAX_BYTES as f64 * 0.8)
        .then(|| (need * 1.5) as u64 + DEFAULT_LICENSE_MAX_BYTES);
    let key = printed_key(&output_ok(
        Command::new(bin)
            .args(["license", "add", LICENSE, "--data-dir"])
            .arg(&data),
    ));
    // Kept beside the data dir while the run lasts, for a relay that dies.
    let log_path = tmp.path().join("relay.log");
    let mut serve = Command::new(bin);
    serve.args(["serve", "--listen", "127.0.0.1:0", "--rate-per-sec", "0"]);
    if let Some(q) = quota {
        serve.args(["--license-max-bytes", &q.to_string()]);
    }
    let mut relay = RelayProcess::spawn(
        serve
            .arg("--data-dir")
            .arg(&data)
            .stderr(std::fs::File::create(&log_path).unwrap()),
    );
    let pid = relay.child().id().to_string();
    let cpu0 = procfs::cpu_secs(&pid);

    let env = |state: &str| {
        vec![
            ("SCALE_URL", relay.url.clone()),
            ("SCALE_LICENSE_ID", LICENSE.to_string()),
            ("SCALE_LICENSE_KEY", key.clone()),
            ("SCALE_N", n.to_string()),
            ("SCALE_BODY", body.to_string()),
            ("SCALE_STATE", tmp.path().join(state).display().to_string()),
            ("SCALE_REPEATS", repeats.to_string()),
        ]
    };
    let writer = child("writer", &env("a"));
    let reader = if writer["mode"] == "checkpoint" {
        child("reader", &env("b"))
    } else {
        json!(null)
    };
    let relay_cpu = procfs::cpu_secs(&pid).zip(cpu0).map(|(b, a)| b - a);
    let relay_stats = json!({
        "peakRssKiB": procfs::status_kib(&pid, "VmHWM:"),
        "cpuSecs": relay_cpu,
        "dataDirBytes": procfs::dir_bytes(&data),
        "licenseMaxBytes": quota.unwrap_or(DEFAULT_LICENSE_MAX_BYTES),
    });
    relay.terminate();
    json!({
        "records": n, "bodyBytes": body, "writer": writer, "reader": reader,
        "relay": relay_stats, "loadavgBefore": load_before, "loadavgAfter": procfs::loadavg(),
        "wallSecs": started.elapsed().as_secs_f64(),
    })
}

/// Whether a run of `n` records of `body` bytes fits in memory now: the
/// writer holds the store, the engine's snapshot of it and its map of
/// known hashes, and one part of the checkpoint at a time.
fn fits_memory(n: usize, body: usize) -> Result<(), String> {
    let need_kib = (n as u64 * (body as u64 + 250) * 4) / 1024;
    match procfs::mem_available_kib() {
        Some(avail) if need_kib > avail * 7 / 10 => Err(format!(
            "not run: needs ~{:.1} GiB of memory, {:.1} GiB available",
            need_kib as f64 / (1 << 20) as f64,
            avail as f64 / (1 << 20) as f64
        )),
        _ => Ok(()),
    }
}

fn fmt_ms(v: &Value) -> String {
    v.as_f64()
        .map(|m| format!("{m:.1}"))
        .unwrap_or_else(|| "-".into())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--scale-child") {
        let job = device::Job::from_env();
        let v = match job.role.as_str() {
            "writer" => device::writer(&job),
            "reader" => device::reader(&job),
            other => panic!("unknown SCALE_ROLE {other:?}"),
        };
        println!("SCALE_RESULT {v}");
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let sizes = env_list(
        "SCALE_SIZES",
        if full {
            "1000,10000,100000,1000000"
        } else {
            "1000"
        },
    );
    let bodies = env_list("SCALE_BODIES", if full { "100,2048" } else { "100" });
    let repeats = env_list("SCALE_REPEATS", "3").first().copied().unwrap_or(3);
    let out_path = std::env::var_os("SCALE_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("bench/scale.json"));
    let bin = relay_bin(full);
    let mut doc = json!({
        "date": shell("date -u +%Y-%m-%dT%H:%M:%SZ"),
        "cpu": shell("lscpu | sed -n 's/^Model name: *//p' | head -1"),
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "loadavgBefore": procfs::loadavg(),
        "relayLimits": {
            "maxBodyBytes": DEFAULT_MAX_BODY_BYTES,
            "licenseMaxBytes": DEFAULT_LICENSE_MAX_BYTES,
            "licenseMaxBlobs": DEFAULT_LICENSE_MAX_BLOBS,
        },
        "runs": [],
    });
    println!(
        "scale: sizes {sizes:?}, bodies {bodies:?} B, relay {}",
        bin.display()
    );
    println!("| records | body | mode | first push ms | sealed B | parts | idle ms | idle B | edit ms | edit sealed B | catch-up ms | device MiB | relay MiB | load |");
    println!("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for &body in &bodies {
        for &n in &sizes {
            let runs: Vec<Value> = doc["runs"].as_array().unwrap().clone();
            let run = match fits_memory(n, body) {
                Ok(()) => run_one(&bin, n, body, repeats, &runs),
                Err(why) => json!({ "records": n, "bodyBytes": body, "skipped": why }),
            };
            let w = &run["writer"];
            let dev_peak = [
                &w["firstPush"]["peakRssKiB"],
                &w["cyclesPeakRssKiB"],
                &run["reader"]["catchUp"]["peakRssKiB"],
            ]
            .iter()
            .filter_map(|v| v.as_f64())
            .fold(f64::NAN, f64::max);
            println!(
                "| {n} | {body} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {} |",
                w["mode"]
                    .as_str()
                    .or(run["skipped"].as_str())
                    .unwrap_or("?"),
                fmt_ms(&w["firstPush"]["ms"]),
                w["firstPush"]["sealedBytes"],
                w["firstPush"]["pushRequests"],
                fmt_ms(&w["idle"]["median"]["ms"]),
                w["idle"]["median"]["upBytes"].as_u64().unwrap_or(0)
                    + w["idle"]["median"]["downBytes"].as_u64().unwrap_or(0),
                fmt_ms(&w["edit"]["median"]["ms"]),
                w["edit"]["median"]["sealedBytes"],
                fmt_ms(&run["reader"]["catchUp"]["ms"]),
                dev_peak / 1024.0,
                run["relay"]["peakRssKiB"].as_f64().unwrap_or(f64::NAN) / 1024.0,
                run["loadavgAfter"].as_str().unwrap_or(""),
            );
            if let Some(e) = w["firstPush"]["error"].as_str() {
                println!("  first push failed: {e}");
            }
            doc["runs"].as_array_mut().unwrap().push(run);
            doc["loadavgAfter"] = json!(procfs::loadavg());
            std::fs::create_dir_all(out_path.parent().unwrap()).unwrap();
            std::fs::write(&out_path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        }
    }
    println!("wrote {}", out_path.display());
}
