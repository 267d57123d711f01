//! The device side of the scale bench, run in a child process of its own
//! (the bench re-executes itself with `--scale-child`), so its peak RSS is
//! the device's and not the bench's or another size's.
//!
//! Two roles, told by `SCALE_ROLE`:
//! - `writer`: fills a snippets store with N records, pushes them (one
//!   checkpoint, in as many parts as the push limit makes it), then times
//!   idle cycles and one-edit cycles;
//! - `reader`: a new device of the same license catching up on all of it.
//!
//! It prints one line, `SCALE_RESULT <json>`, for the parent.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use azmx_sync_core::engine::{
    CycleReport, EngineConfig, HostError, HttpRequest, HttpResponse, HttpTransport, SyncEngine,
    UreqTransport,
};
use azmx_sync_core::merge::{Record, StoreSpec};
use azmx_sync_core::protocol::routes;
use azmx_sync_e2e::RECEIPT;
use serde_json::{json, Value};

use crate::procfs::{dir_bytes, peak_rss_kib, reset_peak_rss, rss_kib, trimmed_rss_kib};
use crate::store::BenchStore;

/// The parent's instructions, from the environment.
pub struct Job {
    pub role: String,
    pub url: String,
    pub license_id: String,
    pub license_key: String,
    pub records: usize,
    pub body_bytes: usize,
    pub state: PathBuf,
    /// Idle and edit cycles timed (the median is reported).
    pub repeats: usize,
}

impl Job {
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        let num = |k: &str| var(k).parse::<usize>().unwrap_or(0);
        Self {
            role: var("SCALE_ROLE"),
            url: var("SCALE_URL"),
            license_id: var("SCALE_LICENSE_ID"),
            license_key: var("SCALE_LICENSE_KEY"),
            records: num("SCALE_N"),
            body_bytes: num("SCALE_BODY"),
            state: PathBuf::from(var("SCALE_STATE")),
            repeats: num("SCALE_REPEATS").max(1),
        }
    }
}

/// The engine's HTTP traffic, counted: bodies plus header names and values
/// (not the HTTP framing), both ways.
#[derive(Default)]
struct Counting {
    inner: UreqTransport,
    up: AtomicU64,
    down: AtomicU64,
    requests: AtomicU64,
    /// Requests to the push route: a checkpoint in parts is one per part
    /// (plus any the relay refused).
    pushes: AtomicU64,
}

fn header_bytes<'a>(h: impl Iterator<Item = (&'a String, &'a String)>) -> u64 {
    h.map(|(k, v)| (k.len() + v.len()) as u64).sum()
}

impl HttpTransport for Counting {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HostError> {
        let up = request.body.len() as u64
            + header_bytes(request.headers.iter().map(|(k, v)| (k, v)))
            + (request.method.len() + request.url.len()) as u64;
        self.up.fetch_add(up, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        if request.url.ends_with(routes::PUSH) {
            self.pushes.fetch_add(1, Ordering::Relaxed);
        }
        let resp = self.inner.send(request)?;
        let down = resp.body.len() as u64 + header_bytes(resp.headers.iter());
        self.down.fetch_add(down, Ordering::Relaxed);
        Ok(resp)
    }
}

/// One device: an engine with the three built-in stores, records in the
/// snippets store.
struct Dev {
    engine: SyncEngine,
    stores: [Arc<BenchStore>; 3],
    snippets: Arc<BenchStore>,
    net: Arc<Counting>,
    dir: PathBuf,
    id: String,
}

impl Dev {
    fn new(job: &Job, dir: &Path, name: &str, checkpoint_every: u32) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let mut config = EngineConfig::new(dir);
        config.checkpoint_every = checkpoint_every;
        let net = Arc::new(Counting::default());
        let engine = SyncEngine::new(config, net.clone()).unwrap();
        let stores = [(); 3].map(|_| Arc::new(BenchStore::new(false)));
        let specs = [
            StoreSpec::snippets(),
            StoreSpec::todos(),
            StoreSpec::memory(),
        ];
        for (spec, store) in specs.into_iter().zip(&stores) {
            engine.register_store(spec, store.clone()).unwrap();
        }
        let snippets = stores[0].clone();
        engine
            .register(&job.url, &job.license_id, &job.license_key, name)
            .unwrap();
        engine
            .set_receipt(secrecy::SecretString::from(RECEIPT))
            .unwrap();
        // The key derivation (PBKDF2) and key check are not part of a cycle.
        engine.verify_receipt().unwrap();
        let id = engine.device_id().unwrap();
        Self {
            engine,
            stores,
            snippets,
            net,
            dir: dir.to_path_buf(),
            id,
        }
    }

    /// Whether the stores answer `changes_since` (off: the engine reads
    /// every store whole each cycle).
    fn track_changes(&self, on: bool) {
        for s in &self.stores {
            s.tracking.store(on, Ordering::Relaxed);
        }
    }

    fn put(&self, i: usize, body_bytes: usize, at: i64, edit: u32) {
        self.snippets.put(record(i, body_bytes, &self.id, at, edit));
    }

    /// One timed cycle: its report (or error), milliseconds, bytes up/down.
    fn cycle(&self) -> (Result<CycleReport, String>, f64, u64, u64) {
        let (up0, down0) = (
            self.net.up.load(Ordering::Relaxed),
            self.net.down.load(Ordering::Relaxed),
        );
        let started = Instant::now();
        let r = self.engine.sync_now().map_err(|e| e.to_string());
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let up = self.net.up.load(Ordering::Relaxed) - up0;
        let down = self.net.down.load(Ordering::Relaxed) - down0;
        (r, ms, up, down)
    }
}

/// Record `i`: a snippet whose body (`{"text":"…"}`) is `body_bytes` long.
fn record(i: usize, body_bytes: usize, device: &str, at: i64, edit: u32) -> Record {
    const WORDS: [&str; 8] = [
        "summarise ",
        "the change ",
        "and list ",
        "its risks ",
        "for review ",
        "before ",
        "merging ",
        "today. ",
    ];
    let mut text = format!("Saved prompt {i} (edit {edit}): ");
    let want = body_bytes.saturating_sub(r#"{"text":""}"#.len());
    let mut w = i;
    while text.len() < want {
        text.push_str(WORDS[w % WORDS.len()]);
        w = w.wrapping_mul(31).wrapping_add(7);
    }
    text.truncate(want.max(1));
    Record::new(
        format!("snippet-{i:07}"),
        Some("work".into()),
        at,
        None,
        device.to_string(),
        json!({ "text": text }),
    )
}

fn now_ms() -> i64 {
    azmx_sync_e2e::now_ms()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn cycle_json(r: &Result<CycleReport, String>, ms: f64, up: u64, down: u64) -> Value {
    match r {
        Ok(c) => json!({
            "ok": true, "ms": ms, "upBytes": up, "downBytes": down,
            "sealedBytes": c.sealed_bytes, "records": c.pushed_records,
            "checkpoint": c.checkpoint, "pulledBlobs": c.pulled_blobs,
            "appliedChanges": c.applied_changes,
        }),
        Err(e) => json!({ "ok": false, "ms": ms, "upBytes": up, "downBytes": down, "error": e }),
    }
}

/// `repeats` cycles, each after `before(k)`; the median cycle and every sample.
fn timed_cycles(dev: &Dev, repeats: usize, mut before: impl FnMut(usize)) -> Value {
    let mut samples = Vec::new();
    let mut ms = Vec::new();
    for k in 0..repeats {
        before(k);
        let (r, t, up, down) = dev.cycle();
        ms.push(t);
        samples.push(cycle_json(&r, t, up, down));
    }
    let mid = median(&mut ms.clone());
    let pick = samples
        .iter()
        .find(|s| s["ms"].as_f64() == Some(mid))
        .cloned()
        .unwrap_or(Value::Null);
    json!({ "median": pick, "samplesMs": ms })
}

pub fn writer(job: &Job) -> Value {
    let n = job.records;
    let t0 = now_ms() - 60_000;
    let mut out = json!({ "records": n, "bodyBytes": job.body_bytes });

    // 1. Every record in the store, then the first push: one checkpoint,
    // in parts under the push limit.
    let dev = Dev::new(job, &job.state.join("writer"), "scale-writer", 16);
    for i in 0..n {
        dev.put(i, job.body_bytes, t0, 0);
    }
    out["storeRssKiB"] = json!(rss_kib());
    out["storeTrimmedRssKiB"] = json!(trimmed_rss_kib());
    reset_peak_rss();
    let pushes0 = dev.net.pushes.load(Ordering::Relaxed);
    let (r, ms, up, down) = dev.cycle();
    out["firstPush"] = cycle_json(&r, ms, up, down);
    out["firstPush"]["peakRssKiB"] = json!(peak_rss_kib());
    out["firstPush"]["pushRequests"] = json!(dev.net.pushes.load(Ordering::Relaxed) - pushes0);
    // What the device keeps once the push is done (host store + engine).
    out["firstPush"]["rssAfterKiB"] = json!(rss_kib());
    out["firstPush"]["trimmedRssAfterKiB"] = json!(trimmed_rss_kib());
    if r.is_err() {
        out["mode"] = json!("none");
        return out;
    }
    out["mode"] = json!("checkpoint");
    if std::env::var("SCALE_FIRST_PUSH_ONLY").is_ok_and(|v| v == "1") {
        return out;
    }

    // 2. Idle cycles (nothing changed) and one-edit cycles: first with
    // every store read whole each cycle, then with the stores saying what
    // changed (after one cycle that takes their first token).
    reset_peak_rss();
    out["idle"] = timed_cycles(&dev, job.repeats, |_| {});
    let edits = 2 * job.repeats;
    let edit = |k: usize| {
        let i = (k + 1) * n / (edits + 1);
        dev.put(i, job.body_bytes, now_ms(), k as u32 + 1);
    };
    out["edit"] = timed_cycles(&dev, job.repeats, edit);
    dev.track_changes(true);
    let (r, ms, _, _) = dev.cycle();
    out["firstTrackedCycle"] = cycle_json(&r, ms, 0, 0);
    // More samples: every `full_snapshot_every`-th cycle still reads whole.
    out["idleChanges"] = timed_cycles(&dev, job.repeats + 2, |_| {});
    out["editChanges"] = timed_cycles(&dev, job.repeats, |k| edit(k + job.repeats));
    out["cyclesPeakRssKiB"] = json!(peak_rss_kib());
    out["stateDirBytes"] = json!(dir_bytes(&dev.dir));
    out["requests"] = json!(dev.net.requests.load(Ordering::Relaxed));
    out
}

pub fn reader(job: &Job) -> Value {
    let dev = Dev::new(job, &job.state.join("reader"), "scale-reader", 16);
    reset_peak_rss();
    let (r, ms, up, down) = dev.cycle();
    let mut out = json!({ "catchUp": cycle_json(&r, ms, up, down) });
    out["catchUp"]["peakRssKiB"] = json!(peak_rss_kib());
    // Host store (every record, as the writer's before its first push) and
    // what the engine keeps, once the catch-up is over.
    out["catchUp"]["rssAfterKiB"] = json!(rss_kib());
    out["catchUp"]["trimmedRssAfterKiB"] = json!(trimmed_rss_kib());
    let live = dev.snippets.len();
    out["catchUp"]["recordsHeld"] = json!(live);
    out["catchUp"]["complete"] = json!(live == job.records);
    out["stateDirBytes"] = json!(dir_bytes(&dev.dir));
    out
}
