//! A seeded convergence simulator (issue 11, "The capability").
//!
//! One scenario = one real relay (SQLite in either durability mode, or
//! PostgreSQL when `AZMX_TEST_DATABASE_URL` is set) and three or more real
//! [`SyncEngine`]s on loopback. A deterministic generator, fed only by the
//! seed, drives random host writes and random faults; every write any host
//! makes is appended to an operation log. At the end every fault is healed,
//! fault-free cycles run until nothing moves, and the invariants are checked
//! against a model computed from the log with core's own merge contracts.
//!
//! Why the record timestamps are logical (a fixed epoch plus the step number
//! plus the device's skew) and not wall time: the winners the model computes
//! must be the same on every replay of a seed. The engines' request clocks
//! are real (the relay checks them), shifted by the same per-device skew.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub mod changes;
pub mod hosts;

use changes::ChangeLog;

use azmx_sync_core::engine::{
    ChangeSet, Clock, CycleReport, EngineConfig, HostError, HttpRequest, HttpResponse,
    HttpTransport, StoreAdapter, SyncEngine, SyncError, UreqTransport, DEFAULT_MAX_PUSH_BYTES,
    STATE_FILE,
};
use azmx_sync_core::merge::{
    validate_todos_body, Change, Contract, Record, RecordKey, StoreName, StoreSpec, ValidatorKind,
};
use azmx_sync_relay::{Durability, Relay, RelayConfig, RunningRelay};
use azmx_sync_test_support::RelayProcess;
use serde_json::{json, Value};

pub const RECEIPT: &str = "RCPT-SIM0-7F3A-99C2-44D1";
/// Record timestamps start here (2023-11-14), far from any real clock on
/// purpose: they order writes, they are never compared with wall time.
const EPOCH_MS: i64 = 1_700_000_000_000;
/// Largest clock skew given to a device (the issue asks for up to ±10 min).
pub const MAX_SKEW_MS: i64 = 10 * 60 * 1000;

// ------------------------------------------------------------------ rng --

/// SplitMix64: tiny, fast, and the whole scenario follows from its seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
    pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The seed of scenario `i` of a run starting at `base`.
pub fn scenario_seed(base: u64, i: u64) -> u64 {
    Rng::new(base ^ i.wrapping_mul(0xD6E8_FEB8_6659_FD93)).next_u64()
}

/// The envelope key of `license_id`, derived once per process and shared
/// by every engine of that license (`SyncEngine::set_envelope_key`): PBKDF2
/// at 600k iterations per device would dominate a run's time.
pub fn envelope_key(license_id: &str) -> Arc<azmx_sync_core::EnvelopeKey> {
    static KEYS: std::sync::OnceLock<Mutex<BTreeMap<String, Arc<azmx_sync_core::EnvelopeKey>>>> =
        std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(Mutex::default);
    if let Some(k) = lock(keys).get(license_id) {
        return Arc::clone(k);
    }
    // Derived outside the lock: other licenses need not wait for this one.
    let k = Arc::new(
        azmx_sync_core::EnvelopeKey::derive(RECEIPT, license_id).expect("derive the sim key"),
    );
    Arc::clone(lock(keys).entry(license_id.to_string()).or_insert(k))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------- stats --

/// Counts for the summary line (docs/RELIABILITY.md quotes it).
#[derive(Default, Clone, Debug)]
pub struct Stats {
    pub scenarios: u64,
    pub ops: u64,
    pub cycles: u64,
    pub cycle_errors: u64,
    pub faults: BTreeMap<&'static str, u64>,
    pub work: BTreeMap<&'static str, u64>,
}

impl Stats {
    pub fn fault(&mut self, kind: &'static str) {
        *self.faults.entry(kind).or_default() += 1;
    }
    pub fn work(&mut self, kind: &'static str) {
        *self.work.entry(kind).or_default() += 1;
    }
    pub fn add(&mut self, o: &Stats) {
        self.scenarios += o.scenarios;
        self.ops += o.ops;
        self.cycles += o.cycles;
        self.cycle_errors += o.cycle_errors;
        for (k, v) in &o.faults {
            *self.faults.entry(k).or_default() += v;
        }
        for (k, v) in &o.work {
            *self.work.entry(k).or_default() += v;
        }
    }
    pub fn summary(&self) -> String {
        let list = |m: &BTreeMap<&'static str, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        format!(
            "sim summary: scenarios={} ops={} cycles={} cycle_errors={} faults={} [{}] work [{}]",
            self.scenarios,
            self.ops,
            self.cycles,
            self.cycle_errors,
            self.faults.values().sum::<u64>(),
            list(&self.faults),
            list(&self.work)
        )
    }
}

// --------------------------------------------------------------- stores --

/// The four stores every device registers: the three built-ins and one
/// host-registered custom store.
pub const STORES: [&str; 4] = ["snippets", "todos", "memory", "notes"];
const SNIPPETS: usize = 0;
const TODOS: usize = 1;
const MEMORY: usize = 2;
const NOTES: usize = 3;

pub fn spec(store: usize) -> StoreSpec {
    match store {
        SNIPPETS => StoreSpec::snippets(),
        TODOS => StoreSpec::todos(),
        MEMORY => StoreSpec::memory(),
        NOTES => StoreSpec::new(
            StoreName::new("notes").expect("valid name"),
            Contract::LwwByTime,
        )
        .with_kind(ValidatorKind::ShapeOnly),
        _ => unreachable!("four stores"),
    }
}

/// Where a mid-cycle edit fires: inside the n-th transport call or the n-th
/// store callback of the device's next cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Transport,
    Snapshot,
    Apply,
}

type Edit = Box<dyn FnOnce() + Send>;

/// Host edits waiting for a point inside a cycle.
#[derive(Default)]
pub struct Hooks {
    pending: Mutex<Vec<(Trigger, u32, Edit)>>,
}

impl Hooks {
    fn arm(&self, trigger: Trigger, countdown: u32, edit: Edit) {
        lock(&self.pending).push((trigger, countdown, edit));
    }
    /// Runs the edits due at this point (outside the lock: they write stores).
    fn fire(&self, trigger: Trigger) {
        let due: Vec<Edit> = {
            let mut p = lock(&self.pending);
            let mut due = Vec::new();
            let mut i = 0;
            while i < p.len() {
                if p[i].0 == trigger {
                    if p[i].1 == 0 {
                        due.push(p.remove(i).2);
                        continue;
                    }
                    p[i].1 -= 1;
                }
                i += 1;
            }
            due
        };
        for e in due {
            e();
        }
    }
    /// Edits whose point never came run now, so every logged write happens.
    fn flush(&self) {
        let all: Vec<Edit> = lock(&self.pending).drain(..).map(|(_, _, e)| e).collect();
        for e in all {
            e();
        }
    }
}

/// An in-memory host store. `keeps_tombstones: false` is a plain dictionary
/// that removes a record when told to delete it (the engine keeps the
/// tombstone for such hosts); local deletes still write a tombstone, which is
/// how the host tells the engine about them.
pub struct SimStore {
    pub store: usize,
    pub keeps_tombstones: bool,
    pub records: Mutex<BTreeMap<RecordKey, Record>>,
    hooks: Arc<Hooks>,
    violations: Arc<Mutex<Vec<String>>>,
    device: String,
    /// Checker self-test: acknowledge changes and keep none of them.
    pub swallow: AtomicBool,
    /// What changed, when the host reports it (`changes_since`).
    pub changes: ChangeLog,
}

impl SimStore {
    /// A store outside any scenario (no hooks, nobody collects violations).
    pub fn detached(store: usize) -> Self {
        Self {
            store,
            keeps_tombstones: true,
            records: Mutex::default(),
            hooks: Arc::default(),
            violations: Arc::default(),
            device: String::new(),
            swallow: AtomicBool::new(false),
            changes: ChangeLog::default(),
        }
    }
    pub fn get(&self, k: &RecordKey) -> Option<Record> {
        lock(&self.records).get(k).cloned()
    }
    pub fn put(&self, r: Record) {
        let k = r.key();
        lock(&self.records).insert(k.clone(), r);
        self.changes.wrote(&k);
    }
    /// Replaces every record (what a child process left), reporting each
    /// key whose record is not the same.
    pub fn replace_all(&self, records: Vec<Record>) {
        let new: BTreeMap<RecordKey, Record> = records.into_iter().map(|r| (r.key(), r)).collect();
        let old = std::mem::replace(&mut *lock(&self.records), new.clone());
        for k in old.keys().chain(new.keys()) {
            if old.get(k) != new.get(k) {
                self.changes.wrote(k);
            }
        }
    }
    /// Runs `edit` inside the store's `countdown`-th next `snapshot`, after
    /// the copy is taken (a host write the engine has not seen yet).
    pub fn edit_during_snapshot(&self, countdown: u32, edit: impl FnOnce() + Send + 'static) {
        self.hooks.arm(Trigger::Snapshot, countdown, Box::new(edit));
    }
    pub fn live(&self) -> BTreeMap<RecordKey, Record> {
        lock(&self.records)
            .iter()
            .filter(|(_, r)| !r.deleted)
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect()
    }
}

impl StoreAdapter for SimStore {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        let out: Vec<Record> = lock(&self.records).values().cloned().collect();
        self.changes.count_snapshot(out.len());
        // After the copy: an edit here is one the engine has not seen yet.
        self.hooks.fire(Trigger::Snapshot);
        Ok(out)
    }

    fn changes_since(&self, token: Option<&[u8]>) -> Result<Option<ChangeSet>, HostError> {
        Ok(self.changes.since(token))
    }

    fn snapshot_keys(&self, keys: &[RecordKey]) -> Result<Vec<Record>, HostError> {
        let out: Vec<Record> = {
            let m = lock(&self.records);
            keys.iter().filter_map(|k| m.get(k).cloned()).collect()
        };
        self.changes.count_keyed(out.len());
        // A read like a snapshot: mid-cycle edits fire here too.
        self.hooks.fire(Trigger::Snapshot);
        Ok(out)
    }

    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
        if self.swallow.load(Ordering::SeqCst) {
            return Ok(());
        }
        {
            let mut m = lock(&self.records);
            for c in changes {
                let r = c.record().clone();
                if self.store == TODOS {
                    if let Some(b) = &r.body {
                        if validate_todos_body(b).is_err() {
                            lock(&self.violations).push(format!(
                                "{}: an invalid todo list was applied ({:?})",
                                self.device,
                                r.key()
                            ));
                        }
                    }
                }
                // A host write may have landed since the engine's snapshot
                // (the merge was computed against that copy): keep whichever
                // version the store's contract says wins, as the CLI's store
                // does. Writing every change as given lost such an edit on
                // every device (seed 0x6261a071dc684ac4).
                if m.get(&r.key()).is_some_and(|cur| {
                    spec(self.store).contract.compare(&r, cur) == std::cmp::Ordering::Less
                }) {
                    continue;
                }
                // The engine's own writes are reported too (even by a
                // host that misses some of its user's writes).
                let k = r.key();
                match c {
                    Change::Delete(_) if !self.keeps_tombstones => {
                        m.remove(&k);
                    }
                    _ => {
                        m.insert(k.clone(), r);
                    }
                }
                self.changes.applied(&k);
            }
        }
        self.hooks.fire(Trigger::Apply);
        Ok(())
    }
}

// ---------------------------------------------------------------- clock --

/// The system clock shifted by a skew the scenario may change.
pub struct SimClock {
    pub offset_ms: AtomicI64,
}

impl Clock for SimClock {
    fn now_ms(&self) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        now + self.offset_ms.load(Ordering::SeqCst)
    }
}

// ------------------------------------------------------------ transport --

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Not sent; the host reports a network error.
    DropRequest,
    /// Sent and answered (the relay stored it), then a network error.
    DropResponse,
    /// Sent twice; the second answer is returned.
    Duplicate,
    /// A network error at once while the request is still on its way: it
    /// reaches the relay a little later, maybe after the engine's retry.
    Timeout,
}

impl FaultKind {
    fn name(self) -> &'static str {
        match self {
            FaultKind::DropRequest => "drop_request",
            FaultKind::DropResponse => "drop_response",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Timeout => "timeout",
        }
    }
}

/// Which requests a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Any,
    Push,
    Pull,
    Blob,
    Prune,
}

impl Route {
    fn matches(self, req: &HttpRequest) -> bool {
        let p = req.url.split("//").nth(1).unwrap_or(&req.url);
        let path = p.find('/').map(|i| &p[i..]).unwrap_or("");
        match self {
            Route::Any => true,
            Route::Push => path.starts_with("/sync/push"),
            Route::Pull => path.starts_with("/sync/pull"),
            Route::Blob => path.starts_with("/sync/blob/"),
            Route::Prune => path.starts_with("/sync/prune"),
        }
    }
}

/// What the relay is known to hold, as seen on the wire by every device.
#[derive(Default, Debug)]
pub struct Observed {
    /// (owner, seq) → sha256 of every push the relay acknowledged (2xx),
    /// also when the answer was then dropped.
    pub acked: BTreeMap<(String, u64), String>,
    /// owner → every blob below this seq may be pruned.
    pub pruned_below: BTreeMap<String, u64>,
    /// requesting device → every (owner, seq) a pull listed to it.
    pub listed: BTreeMap<String, BTreeSet<(String, u64)>>,
    /// (owner, seq, sha256 of the bytes) of every blob fetched with 2xx.
    pub fetched: BTreeSet<(String, u64, String)>,
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One fact about the relay seen on the wire. Also written as a JSON line
/// by a device cycle running in a child process (`sim_device`), so what the
/// child saw counts like what the parent saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Acked(String, u64, String),
    PrunedBelow(String, u64),
    Listed(String, String, u64),
    Fetched(String, u64, String),
}

impl Seen {
    pub fn to_json(&self) -> Value {
        match self {
            Seen::Acked(o, s, h) => json!(["acked", o, s, h]),
            Seen::PrunedBelow(o, s) => json!(["pruned", o, s]),
            Seen::Listed(d, o, s) => json!(["listed", d, o, s]),
            Seen::Fetched(o, s, h) => json!(["fetched", o, s, h]),
        }
    }
    pub fn from_json(v: &Value) -> Option<Self> {
        let a = v.as_array()?;
        let st = |i: usize| a.get(i)?.as_str().map(str::to_string);
        let n = |i: usize| a.get(i)?.as_u64();
        Some(match a.first()?.as_str()? {
            "acked" => Seen::Acked(st(1)?, n(2)?, st(3)?),
            "pruned" => Seen::PrunedBelow(st(1)?, n(2)?),
            "listed" => Seen::Listed(st(1)?, st(2)?, n(3)?),
            "fetched" => Seen::Fetched(st(1)?, n(2)?, st(3)?),
            _ => return None,
        })
    }
    pub fn record(self, o: &mut Observed) {
        match self {
            Seen::Acked(dev, seq, sha) => {
                o.acked.insert((dev, seq), sha);
            }
            Seen::PrunedBelow(dev, cp) => {
                let e = o.pruned_below.entry(dev).or_default();
                *e = (*e).max(cp);
            }
            Seen::Listed(dev, owner, seq) => {
                o.listed.entry(dev).or_default().insert((owner, seq));
            }
            Seen::Fetched(owner, seq, sha) => {
                o.fetched.insert((owner, seq, sha));
            }
        }
    }
}

/// What a 2xx exchange tells about the relay.
pub fn seen(req: &HttpRequest, resp: &HttpResponse) -> Vec<Seen> {
    if !(200..300).contains(&resp.status) {
        return Vec::new();
    }
    let dev = header(req, "X-Device-Id").unwrap_or_default().to_string();
    if Route::Push.matches(req) {
        let seq = header(req, "X-Seq")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let sha = header(req, "X-Sha256").unwrap_or_default().to_string();
        vec![Seen::Acked(dev, seq, sha)]
    } else if Route::Prune.matches(req) {
        let v: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let cp = v["checkpointSeq"].as_u64().unwrap_or(0);
        vec![Seen::PrunedBelow(dev, cp)]
    } else if Route::Pull.matches(req) {
        let v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        let items = v["items"].as_array().cloned().unwrap_or_default();
        items
            .iter()
            .filter_map(|it| match (it["deviceId"].as_str(), it["seq"].as_u64()) {
                (Some(owner), Some(seq)) => Some(Seen::Listed(dev.clone(), owner.to_string(), seq)),
                _ => None,
            })
            .collect()
    } else if Route::Blob.matches(req) {
        let path = req.url.split("/sync/blob/").nth(1).unwrap_or_default();
        let mut parts = path.splitn(2, '/');
        let owner = parts.next().unwrap_or_default().to_string();
        let seq = parts
            .next()
            .and_then(|s| s.split('?').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        vec![Seen::Fetched(
            owner,
            seq,
            azmx_sync_core::sha256_hex(&resp.body),
        )]
    } else {
        Vec::new()
    }
}

fn observe(obs: &Mutex<Observed>, req: &HttpRequest, resp: &HttpResponse) {
    let facts = seen(req, resp);
    let mut o = lock(obs);
    for f in facts {
        f.record(&mut o);
    }
}

struct Armed {
    route: Route,
    countdown: u32,
    kind: FaultKind,
    delay_ms: u64,
}

/// The real `UreqTransport`, wrapped to inject faults and watch the wire.
pub struct FaultTransport {
    inner: Arc<UreqTransport>,
    armed: Mutex<Vec<Armed>>,
    hooks: Arc<Hooks>,
    obs: Arc<Mutex<Observed>>,
    inflight: Arc<AtomicUsize>,
    injected: Mutex<Vec<&'static str>>,
}

impl FaultTransport {
    fn arm(&self, route: Route, countdown: u32, kind: FaultKind, delay_ms: u64) {
        lock(&self.armed).push(Armed {
            route,
            countdown,
            kind,
            delay_ms,
        });
    }
    fn disarm(&self) {
        lock(&self.armed).clear();
    }
    fn take(&self, req: &HttpRequest) -> Option<(FaultKind, u64)> {
        let mut a = lock(&self.armed);
        let mut hit = None;
        let mut i = 0;
        while i < a.len() {
            if a[i].route.matches(req) {
                if a[i].countdown == 0 && hit.is_none() {
                    let f = a.remove(i);
                    hit = Some((f.kind, f.delay_ms));
                    continue;
                }
                a[i].countdown = a[i].countdown.saturating_sub(1);
            }
            i += 1;
        }
        hit
    }
    fn send_observed(&self, req: HttpRequest) -> Result<HttpResponse, HostError> {
        let r = self.inner.send(req.clone());
        if let Ok(resp) = &r {
            observe(&self.obs, &req, resp);
        }
        r
    }
}

impl HttpTransport for FaultTransport {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HostError> {
        self.hooks.fire(Trigger::Transport);
        let Some((kind, delay_ms)) = self.take(&request) else {
            return self.send_observed(request);
        };
        lock(&self.injected).push(kind.name());
        match kind {
            FaultKind::DropRequest => Err(HostError::new("sim: request dropped")),
            FaultKind::DropResponse => {
                let _ = self.send_observed(request);
                Err(HostError::new("sim: response dropped"))
            }
            FaultKind::Duplicate => {
                let _ = self.send_observed(request.clone());
                self.send_observed(request)
            }
            FaultKind::Timeout => {
                let (inner, obs, inflight) = (
                    Arc::clone(&self.inner),
                    Arc::clone(&self.obs),
                    Arc::clone(&self.inflight),
                );
                inflight.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(delay_ms));
                    if let Ok(resp) = inner.send(request.clone()) {
                        observe(&obs, &request, &resp);
                    }
                    inflight.fetch_sub(1, Ordering::SeqCst);
                });
                Err(HostError::new("sim: timed out"))
            }
        }
    }
}

fn hex_prefix(h: &[u8]) -> String {
    h.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

// --------------------------------------------------- engine in a child --

/// The engine's crash points (`AZMX_CRASH_AT`, core/src/engine/cycle/crash.rs, the `crash-points` feature).
pub const CRASH_POINTS: [&str; 5] = [
    "after-outbox-blob",
    "before-push",
    "after-push",
    "before-apply",
    "after-apply",
];

/// Fault counter names of the crash points, in `CRASH_POINTS` order.
const KILL_FAULTS: [&str; 5] = [
    "engine_kill_after_outbox_blob",
    "engine_kill_before_push",
    "engine_kill_after_push",
    "engine_kill_before_apply",
    "engine_kill_after_apply",
];

/// The real transport, appending what it sees to a file as it goes (the
/// process may be aborted between any two requests).
struct RecordingTransport {
    inner: UreqTransport,
    out: Mutex<std::fs::File>,
}

impl HttpTransport for RecordingTransport {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HostError> {
        let r = self.inner.send(request.clone());
        if let Ok(resp) = &r {
            use std::io::Write;
            let mut f = lock(&self.out);
            for s in seen(&request, resp) {
                let _ = writeln!(f, "{}", s.to_json());
            }
        }
        r
    }
}

/// A host store kept in a file: written (atomically) after every apply, so
/// what the child applied before it died is what its host holds.
struct FileStore {
    inner: SimStore,
    all: Arc<Mutex<Vec<Vec<Record>>>>,
    path: PathBuf,
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl StoreAdapter for FileStore {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        self.inner.snapshot()
    }
    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
        self.inner.apply(changes)?;
        for v in lock(&self.inner.violations).drain(..) {
            eprintln!("violation: {v}");
        }
        let mut all = lock(&self.all);
        all[self.inner.store] = lock(&self.inner.records).values().cloned().collect();
        let bytes = serde_json::to_vec(&*all).map_err(|e| HostError::new(e.to_string()))?;
        write_private(&self.path, &bytes).map_err(|e| HostError::new(e.to_string()))
    }
}

/// The `sim_device` binary: one fault-free cycle of an already registered
/// device whose host stores are in `STORES_FILE`. Exit 0 after the cycle,
/// 2 when it failed; an `AZMX_CRASH_AT` point aborts the process. The key
/// is derived here from the simulator's receipt (never passed around).
pub fn child_cycle_main(args: &[String]) -> i32 {
    let [state, stores, seen_file, skew, checkpoint_every, pull_page, dict_mask, max_push] = args
    else {
        eprintln!("usage: sim_device STATE_DIR STORES_FILE SEEN_FILE SKEW_MS CHECKPOINT_EVERY PULL_PAGE DICT_MASK MAX_PUSH");
        return 64;
    };
    let num = |s: &str| s.parse::<i64>().unwrap_or(0);
    let all: Vec<Vec<Record>> = std::fs::read(stores)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| vec![Vec::new(); STORES.len()]);
    let all = Arc::new(Mutex::new(all));
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(seen_file)
        .expect("seen file");
    let transport = Arc::new(RecordingTransport {
        inner: UreqTransport::new(Duration::from_secs(20)),
        out: Mutex::new(out),
    });
    let mut config = EngineConfig::new(state);
    config.clock = Arc::new(SimClock {
        offset_ms: AtomicI64::new(num(skew)),
    });
    config.checkpoint_every = num(checkpoint_every) as u32;
    config.pull_page = num(pull_page) as u32;
    config.max_push_bytes = num(max_push) as u64;
    let engine = match SyncEngine::new(config, transport) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("engine: {e}");
            return 2;
        }
    };
    for s in 0..STORES.len() {
        let mut inner = SimStore::detached(s);
        inner.keeps_tombstones = num(dict_mask) & (1 << s) == 0;
        *lock(&inner.records) = lock(&all)[s].iter().map(|r| (r.key(), r.clone())).collect();
        let fs = FileStore {
            inner,
            all: Arc::clone(&all),
            path: PathBuf::from(stores),
        };
        engine
            .register_store(spec(s), Arc::new(fs))
            .expect("register store");
    }
    let Some(lid) = engine.status().license_id else {
        eprintln!("the device is not registered");
        return 2;
    };
    engine.set_envelope_key(envelope_key(&lid));
    match engine.sync_now() {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("cycle failed: {e}");
            2
        }
    }
}

// ---------------------------------------------------------------- model --

/// One host write, as logged.
#[derive(Clone, Debug)]
pub struct Write {
    pub step: usize,
    pub device: usize,
    pub store: usize,
    pub record: Record,
}

/// The expected state: per store and key, the greatest valid write under
/// the store's contract (what core's merge must converge to).
pub fn expected(log: &[Write]) -> Vec<BTreeMap<RecordKey, Record>> {
    let mut out = vec![BTreeMap::new(); STORES.len()];
    for (s, m) in out.iter_mut().enumerate() {
        let sp = spec(s);
        for w in log.iter().filter(|w| w.store == s) {
            if sp.validate_incoming(&w.record).is_err() {
                continue;
            }
            let k = w.record.key();
            let replace = match m.get(&k) {
                None => true,
                Some(cur) => sp.contract.compare(&w.record, cur) == std::cmp::Ordering::Greater,
            };
            if replace {
                m.insert(k, w.record.clone());
            }
        }
    }
    out
}

/// What a device may hold for a todo list whose last write by a rogue
/// device is invalid, keyed by the list's key.
///
/// Such a device's checkpoints carry the invalid list (its host keeps what it
/// wrote, and a checkpoint supersedes its earlier deltas, which the relay may
/// then prune), and every other device rejects it. Its earlier valid writes of
/// that list reach a device only if that device pulled the delta before the
/// prune, or a peer that did so pushed a checkpoint later: a device that
/// caught up from the checkpoint alone can never learn them. So a device
/// holds the winner among every other valid write of the key plus some
/// subset of the rogue's valid ones: that winner ("the state before"), or one
/// of the rogue's valid writes that beats it. `None` in the list is "no live
/// record". Anything else (an older version, a record nobody wrote) is still
/// a loss.
pub fn rogue_alternatives(
    log: &[Write],
    rogues: &BTreeSet<usize>,
) -> BTreeMap<RecordKey, Vec<Option<Record>>> {
    let sp = spec(TODOS);
    let mut last: BTreeMap<(usize, RecordKey), &Write> = BTreeMap::new();
    for w in log
        .iter()
        .filter(|w| w.store == TODOS && rogues.contains(&w.device))
    {
        last.insert((w.device, w.record.key()), w);
    }
    let superseded: BTreeSet<(usize, RecordKey)> = last
        .into_iter()
        .filter(|(_, w)| sp.validate_incoming(&w.record).is_err())
        .map(|(k, _)| k)
        .collect();
    let keys: BTreeSet<RecordKey> = superseded.iter().map(|(_, k)| k.clone()).collect();
    let mut out = BTreeMap::new();
    for key in keys {
        let of_key = |w: &&Write| w.store == TODOS && w.record.key() == key;
        let is_superseded = |w: &Write| superseded.contains(&(w.device, key.clone()));
        let others: Vec<Write> = log
            .iter()
            .filter(of_key)
            .filter(|w| !is_superseded(w))
            .cloned()
            .collect();
        let base = expected(&others)[TODOS].get(&key).cloned();
        let mut allowed = vec![base.clone().filter(|r| !r.deleted)];
        for w in log.iter().filter(of_key).filter(|w| is_superseded(w)) {
            if sp.validate_incoming(&w.record).is_err() {
                continue;
            }
            let beats = base
                .as_ref()
                .is_none_or(|b| sp.contract.compare(&w.record, b) == std::cmp::Ordering::Greater);
            if beats {
                allowed.push(Some(w.record.clone()).filter(|r| !r.deleted));
            }
        }
        out.insert(key, allowed);
    }
    out
}

// --------------------------------------------------------------- device --

pub struct SimDevice {
    pub idx: usize,
    pub name: String,
    pub engine: SyncEngine,
    pub stores: Vec<Arc<SimStore>>,
    pub transport: Arc<FaultTransport>,
    pub clock: Arc<SimClock>,
    pub hooks: Arc<Hooks>,
    pub state: tempfile::TempDir,
    pub id: String,
    /// Revoked: excluded from convergence, its pushes still count.
    pub retired: bool,
    /// Writes invalid todo lists (a buggy peer); its own todos store is not
    /// compared (local records are trusted, so it keeps what it wrote).
    pub rogue: bool,
    /// Record-timestamp skew, the same as its request clock's.
    pub skew_ms: i64,
    pub pull_page: u32,
    /// `EngineConfig::max_push_bytes`, for the `sim_device` child too.
    pub max_push: u64,
}

/// Holds `chattr +i` on a state dir; lifts it on drop, also on panic.
struct Immutable(PathBuf);

impl Immutable {
    fn set(dir: &Path) -> Option<Self> {
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(dir.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

/// Whether `chattr +i` works here (root on a filesystem that supports it).
pub fn immutable_dirs_supported() -> bool {
    static S: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *S.get_or_init(|| {
        let d = tempfile::tempdir().expect("tempdir");
        let Some(g) = Immutable::set(d.path()) else {
            return false;
        };
        let refused = std::fs::write(d.path().join("probe"), b"x").is_err();
        drop(g);
        refused
    })
}

// ------------------------------------------------------------- relay --

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    SqliteFull,
    SqlitePipelined,
    Postgres,
}

pub struct SimRelay {
    pub relay: Option<RunningRelay>,
    /// The relay as a child process (`sim_relay`), for SIGKILL faults.
    pub child: Option<(RelayProcess, PathBuf)>,
    pub dir: tempfile::TempDir,
    pub backend: Backend,
    pub license_id: String,
    pub license_key: String,
    pub url: String,
}

impl SimRelay {
    /// The relay in a child process (`bin` is the `sim_relay` binary), so
    /// it can be killed with SIGKILL and restarted on the same port.
    pub fn start_child(backend: Backend, bin: &Path) -> Self {
        assert!(backend != Backend::Postgres, "child relays run SQLite");
        let dir = tempfile::tempdir().expect("tempdir");
        let lid = "lic_sim".to_string();
        let key = azmx_sync_relay::add_license(dir.path(), &lid).expect("license");
        let mut r = Self {
            relay: None,
            child: None,
            dir,
            backend,
            license_id: lid,
            license_key: key,
            url: String::new(),
        };
        r.spawn_child(bin, 0);
        r
    }

    fn spawn_child(&mut self, bin: &Path, port: u16) {
        let mode = if self.backend == Backend::SqliteFull {
            "full"
        } else {
            "pipelined"
        };
        // The port may still be held for a moment after a kill.
        for _ in 0..50 {
            let started = RelayProcess::try_spawn(
                std::process::Command::new(bin)
                    .arg(self.dir.path())
                    .arg(mode)
                    .arg(port.to_string())
                    .stderr(std::process::Stdio::null()),
                "url=",
            );
            if let Ok(child) = started {
                self.url = child.url.clone();
                self.child = Some((child, bin.to_path_buf()));
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("sim_relay did not start on port {port}");
    }

    /// SIGKILL, then a restart on the same port and data dir.
    pub fn kill_and_restart(&mut self) -> bool {
        let Some((child, bin)) = self.child.take() else {
            return false;
        };
        child.sigkill();
        let port: u16 = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in url");
        self.spawn_child(&bin, port);
        true
    }

    pub fn start(backend: Backend, seed: u64) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = RelayConfig::new(dir.path());
        // The simulator sends bursts; waiting out a rate limit only costs time.
        config.limits.rate_per_sec = 0.0;
        config.worker_threads = 2;
        let (license_id, license_key) = match backend {
            Backend::Postgres => {
                let url = std::env::var("AZMX_TEST_DATABASE_URL").expect("postgres url");
                let lid = format!("lic_sim_{}_{seed:016x}", std::process::id());
                let key = azmx_sync_relay::add_license_postgres(&url, &lid).expect("license");
                config.database_url = Some(url);
                (lid, key)
            }
            _ => {
                config.durability = if backend == Backend::SqliteFull {
                    Durability::Full
                } else {
                    Durability::PipelinedFsync
                };
                let lid = "lic_sim".to_string();
                let key = azmx_sync_relay::add_license(dir.path(), &lid).expect("license");
                (lid, key)
            }
        };
        let relay = Relay::start(config).expect("relay starts");
        let url = relay.url();
        Self {
            relay: Some(relay),
            child: None,
            dir,
            backend,
            license_id,
            license_key,
            url,
        }
    }

    /// Flips one byte of a stored blob; returns the original bytes.
    fn corrupt(&self, owner: &str, seq: u64, at: u64) -> Option<Vec<u8>> {
        let db = self.db()?;
        let data: Vec<u8> = db
            .query_row(
                "SELECT data FROM blobs WHERE device_id = ?1 AND seq = ?2",
                rusqlite::params![owner, seq as i64],
                |r| r.get(0),
            )
            .ok()?;
        if data.is_empty() {
            return None;
        }
        let mut bad = data.clone();
        let i = (at as usize) % bad.len();
        bad[i] ^= 0x5a;
        db.execute(
            "UPDATE blobs SET data = ?3 WHERE device_id = ?1 AND seq = ?2",
            rusqlite::params![owner, seq as i64, bad],
        )
        .ok()?;
        Some(data)
    }

    fn restore(&self, owner: &str, seq: u64, data: &[u8]) {
        if let Some(db) = self.db() {
            // Gone when pruned meanwhile; then there is nothing to restore.
            let _ = db.execute(
                "UPDATE blobs SET data = ?3 WHERE device_id = ?1 AND seq = ?2",
                rusqlite::params![owner, seq as i64, data],
            );
        }
    }

    fn db(&self) -> Option<rusqlite::Connection> {
        // A relay process may be between kill and restart; the file is
        // still the source of truth.
        if self.backend == Backend::Postgres {
            return None;
        }
        let db = rusqlite::Connection::open(self.dir.path().join("relay.sqlite3")).ok()?;
        db.busy_timeout(Duration::from_secs(10)).ok()?;
        Some(db)
    }
}

// ------------------------------------------------------------ scenario --

/// Scenario settings (from the environment in the test).
#[derive(Clone, Debug)]
pub struct Options {
    /// Operations per scenario.
    pub steps: usize,
    /// Transport faults, mid-cycle edits, state-dir failures, corruption.
    pub faults: bool,
    /// Run the relay as a `sim_relay` child process and SIGKILL it under
    /// load now and then (path of the binary).
    pub relay_bin: Option<PathBuf>,
    /// Run some device cycles in a `sim_device` child process (path of the
    /// binary) that the engine aborts at a random crash point.
    pub device_bin: Option<PathBuf>,
    /// Of the sync operations, how many per mille run in such a child.
    pub engine_kill_per_mille: u64,
    /// Self-test of the checker: one device's snippets store silently
    /// drops every change it is given, so the run must report violations.
    pub sabotage: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            steps: 60,
            faults: true,
            relay_bin: None,
            device_bin: None,
            engine_kill_per_mille: 60,
            sabotage: false,
        }
    }
}

/// A failed scenario: what to print so `SIM_SEED=…` replays it.
#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub backend: Backend,
    pub violations: Vec<String>,
    pub trace: Vec<String>,
    pub minimal: Vec<String>,
    /// The integration test whose options replay the seed.
    pub test: &'static str,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "SIMULATOR VIOLATION seed={:#018x} backend={:?}",
            self.seed, self.backend
        )?;
        writeln!(
            f,
            "replay: SIM_SEED={:#018x} cargo test -p azmx-sync-sim --test {} -- --nocapture",
            self.seed, self.test
        )?;
        for v in &self.violations {
            writeln!(f, "  violation: {v}")?;
        }
        writeln!(
            f,
            "minimal trace (ops touching the keys above, syncs and faults):"
        )?;
        for t in &self.minimal {
            writeln!(f, "  {t}")?;
        }
        Ok(())
    }
}

struct Corruption {
    owner: String,
    seq: u64,
    original: Vec<u8>,
    syncs_left: u32,
}

struct World {
    seed: u64,
    rng: Rng,
    relay: SimRelay,
    devices: Vec<SimDevice>,
    log: Arc<Mutex<Vec<Write>>>,
    violations: Arc<Mutex<Vec<String>>>,
    obs: Arc<Mutex<Observed>>,
    inflight: Arc<AtomicUsize>,
    trace: Vec<String>,
    /// Keys named in each trace line (for the minimal trace).
    trace_keys: Vec<Option<(usize, RecordKey)>>,
    step: usize,
    stats: Stats,
    corruptions: Vec<Corruption>,
    revoked_once: bool,
    joined_late: bool,
    base_checkpoint_every: u32,
    exports: tempfile::TempDir,
    /// Acknowledged pushes the listing check covers when the last round
    /// still pushed (see strict_quiescence); `None` = all.
    cutoff: Option<BTreeSet<(String, u64)>>,
}

/// Key pools are small on purpose: conflicts are the point.
fn random_key(rng: &mut Rng, store: usize) -> RecordKey {
    match store {
        SNIPPETS => RecordKey::new(
            Some(rng.pick(&["h1", "h2"]).to_string()),
            format!("s{}", rng.below(5)),
        ),
        TODOS => RecordKey::new(None, format!("t{}", rng.below(3))),
        MEMORY => RecordKey::new(None, format!("m{}", rng.below(5))),
        _ => RecordKey::new(
            rng.pick(&[None, Some("f1".to_string())]).clone(),
            format!("n{}", rng.below(5)),
        ),
    }
}

fn todo_list(rng: &mut Rng, valid: bool, tag: &str) -> Value {
    let n = 1 + rng.below(3) as usize;
    let mut items: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "id": format!("i{i}"),
                "content": format!("{tag} item {i}"),
                "status": if i == 0 { "in_progress" } else { "pending" },
            })
        })
        .collect();
    if !valid {
        match rng.below(3) {
            0 => items.push(json!({"id": "x", "content": "two", "status": "in_progress"})),
            1 => items.push(json!({"id": "i0", "content": "dup id", "status": "pending"})),
            _ => items.push(json!({"id": "y", "content": "   ", "status": "pending"})),
        }
    }
    json!({ "items": items })
}

/// On by default (`SIM_SKEWED_CREATES=0` turns it off): a host may create a
/// record that loses to a tombstone it was never shown: with its own (skewed)
/// time where a peer whose clock runs ahead deleted the key, and, in memory,
/// with version 1 where a peer deleted the key at a higher version (no skew
/// needed). It was off while the engine kept such a tombstone to itself (the
/// host's create lost everywhere else yet stayed live on the host for good;
/// fixed in 9ef134b, `tests/found_defects.rs`). Off, a create gets a time and
/// version above every one the simulator logged for its key.
pub fn skewed_creates() -> bool {
    std::env::var("SIM_SKEWED_CREATES").map_or(true, |v| v != "0")
}

/// On by default (`SIM_STRICT_QUIESCENCE=0` turns it off): "still pushing
/// after 8 fault-free rounds" is a violation. It was off while a newer
/// tombstone replacing an older one gave the host no change, so every peer
/// checkpoint made a device push its older tombstone again (seed
/// 0xb5dc986dfae8b04d, fixed in 04ce41b). Convergence is checked either way.
pub fn strict_quiescence() -> bool {
    std::env::var("SIM_STRICT_QUIESCENCE").map_or(true, |v| v != "0")
}

#[derive(Clone, Copy, Debug)]
enum WriteKind {
    Upsert,
    Delete,
    InvalidTodo,
}

/// Makes a host write on `store` of device `dev` and logs it. A host edit
/// always beats what the host holds (later time, next version), as a real
/// host's "save" does; whether it beats other devices' writes is the merge's
/// business.
#[allow(clippy::too_many_arguments)]
fn host_write(
    store: &SimStore,
    log: &Mutex<Vec<Write>>,
    dev: usize,
    device_id: &str,
    skew_ms: i64,
    step: usize,
    key: RecordKey,
    kind: WriteKind,
    body_seed: u64,
) -> Record {
    let prev = store.get(&key);
    let mut t = (EPOCH_MS + step as i64 * 1000 + skew_ms)
        .max(prev.as_ref().map_or(0, |p| p.updated_at + 1));
    let mut version =
        (store.store == MEMORY).then(|| prev.as_ref().and_then(|p| p.version).unwrap_or(0) + 1);
    if prev.is_none() && !skewed_creates() {
        // Gate for a defect this simulator found (see skewed_creates).
        let log = lock(log);
        let same = || {
            log.iter()
                .filter(|w| w.store == store.store && w.record.key() == key)
        };
        if let Some(n) = same().map(|w| w.record.updated_at).max() {
            t = t.max(n + 1);
        }
        if let (Some(v), Some(n)) = (version, same().filter_map(|w| w.record.version).max()) {
            version = Some(v.max(n + 1));
        }
    }
    let tag = format!("d{dev}-st{step}-{body_seed:x}");
    let rec = match kind {
        WriteKind::Delete => Record::tombstone(key.id, key.scope, t, version, device_id),
        _ => {
            let body = match store.store {
                SNIPPETS => json!({ "text": tag }),
                TODOS => {
                    let mut r = Rng::new(body_seed);
                    todo_list(&mut r, !matches!(kind, WriteKind::InvalidTodo), &tag)
                }
                MEMORY => json!({ "fact": tag }),
                _ => json!({ "note": tag, "n": body_seed % 1000 }),
            };
            Record::new(key.id, key.scope, t, version, device_id, body)
        }
    };
    store.put(rec.clone());
    lock(log).push(Write {
        step,
        device: dev,
        store: store.store,
        record: rec.clone(),
    });
    rec
}

impl World {
    fn new(seed: u64, backend: Backend, opts: &Options) -> Self {
        let mut rng = Rng::new(seed);
        let relay = match &opts.relay_bin {
            Some(bin) => SimRelay::start_child(backend, bin),
            None => SimRelay::start(backend, seed),
        };
        // Rare checkpoints too: a checkpoint re-sends everything and so
        // hides a lost delta; the model must not depend on one coming.
        let base_checkpoint_every = *rng.pick(&[2, 3, 5, 8, 64]);
        let mut w = World {
            seed,
            rng,
            relay,
            devices: Vec::new(),
            log: Arc::default(),
            violations: Arc::default(),
            obs: Arc::default(),
            inflight: Arc::default(),
            trace: Vec::new(),
            trace_keys: Vec::new(),
            step: 0,
            stats: Stats::default(),
            corruptions: Vec::new(),
            revoked_once: false,
            joined_late: false,
            base_checkpoint_every,
            exports: tempfile::tempdir().expect("tempdir"),
            cutoff: None,
        };
        let n = 3 + w.rng.below(2) as usize;
        let rogue_at = w.rng.chance(500).then(|| n - 1);
        let mut fresh = Vec::new();
        for i in 0..n {
            fresh.push(w.new_device(Some(i) == rogue_at));
        }
        if opts.sabotage {
            w.devices[1].stores[SNIPPETS]
                .swallow
                .store(true, Ordering::SeqCst);
        }
        // The first cycles set and check the key-check blob, one at a time.
        for i in fresh {
            w.sync_strict(i, "initial");
        }
        w
    }

    fn note(&mut self, line: String, key: Option<(usize, RecordKey)>) {
        self.trace.push(format!("step {:>3}: {line}", self.step));
        self.trace_keys.push(key);
    }

    fn violation(&self, v: String) {
        lock(&self.violations).push(v);
    }

    /// A device with its own state dir, stores, skewed clock and faulty
    /// transport; registered and given the receipt (the key derives on a
    /// background thread meanwhile) or, mostly, the key derived once per run.
    fn new_device(&mut self, rogue: bool) -> usize {
        let idx = self.devices.len();
        let name = format!("d{idx}");
        let skew_ms = if self.rng.chance(500) {
            self.rng.range_i64(-MAX_SKEW_MS, MAX_SKEW_MS)
        } else {
            0
        };
        let state = tempfile::tempdir().expect("tempdir");
        let hooks = Arc::new(Hooks::default());
        let clock = Arc::new(SimClock {
            offset_ms: AtomicI64::new(skew_ms),
        });
        let transport = Arc::new(FaultTransport {
            inner: Arc::new(UreqTransport::new(Duration::from_secs(20))),
            armed: Mutex::new(Vec::new()),
            hooks: Arc::clone(&hooks),
            obs: Arc::clone(&self.obs),
            inflight: Arc::clone(&self.inflight),
            injected: Mutex::new(Vec::new()),
        });
        // Which stores say what changed, and how often the engine reads
        // whole anyway: from a stream of their own, so the scenario's main
        // stream (and every recorded seed) is what it was without them.
        let mut side = Rng::new(self.seed ^ 0xC4A9_6E5D_0016_0016 ^ idx as u64);
        let mut config = EngineConfig::new(state.path());
        config.clock = clock.clone();
        config.checkpoint_every = self.base_checkpoint_every;
        let config_full_every = *side.pick(&[2, 3, 12]);
        config.full_snapshot_every = config_full_every;
        // How much one push may carry: in most scenarios little enough that
        // checkpoints and large deltas go as several pushes (PROTOCOL §6,
        // "Checkpoints in parts"). A stream of its own, like `side`.
        let mut parts_rng = Rng::new(self.seed ^ 0x9A27_5EED_0016_0003 ^ idx as u64);
        let max_push = *parts_rng.pick(&[4 << 10, 6 << 10, 16 << 10, DEFAULT_MAX_PUSH_BYTES]);
        config.max_push_bytes = max_push;
        let pull_page = 1 + self.rng.below(4) as u32;
        config.pull_page = pull_page;
        let engine = SyncEngine::new(config, transport.clone()).expect("engine");
        let mut stores = Vec::new();
        for s in 0..STORES.len() {
            // One store in four is a plain dictionary without tombstones.
            let keeps_tombstones = !self.rng.chance(250);
            let tracked = side.chance(600);
            let st = Arc::new(SimStore {
                store: s,
                keeps_tombstones,
                records: Mutex::default(),
                hooks: Arc::clone(&hooks),
                violations: Arc::clone(&self.violations),
                device: name.clone(),
                swallow: AtomicBool::new(false),
                changes: ChangeLog::new(tracked, side.next_u64()),
            });
            engine
                .register_store(spec(s), st.clone())
                .expect("register store");
            stores.push(st);
        }
        let id = engine
            .register(
                &self.relay.url,
                &self.relay.license_id,
                &self.relay.license_key,
                &name,
            )
            .expect("register device");
        if self.seed.is_multiple_of(16) && idx == 0 {
            // Now and then the host path: the receipt, derived by the engine.
            engine
                .set_receipt(secrecy::SecretString::from(RECEIPT))
                .expect("receipt");
        } else {
            engine.set_envelope_key(envelope_key(&self.relay.license_id));
        }
        let tracked: Vec<&str> = stores
            .iter()
            .filter(|s| s.changes.enabled.load(Ordering::SeqCst))
            .map(|s| STORES[s.store])
            .collect();
        let full_every = config_full_every;
        let dict: Vec<&str> = stores
            .iter()
            .filter(|s| !s.keeps_tombstones)
            .map(|s| STORES[s.store])
            .collect();
        self.note(
            format!(
                "{name} joins ({id}) skew={skew_ms}ms rogue={rogue} pull_page={pull_page} dict_stores={dict:?} tracked_stores={tracked:?} full_snapshot_every={full_every} max_push={max_push}"
            ),
            None,
        );
        self.devices.push(SimDevice {
            idx,
            name,
            engine,
            stores,
            transport,
            clock,
            hooks,
            state,
            id,
            retired: false,
            rogue,
            skew_ms,
            pull_page,
            max_push,
        });
        idx
    }

    fn active(&self) -> Vec<usize> {
        self.devices
            .iter()
            .filter(|d| !d.retired)
            .map(|d| d.idx)
            .collect()
    }

    fn pick_active(&mut self) -> usize {
        let a = self.active();
        *self.rng.pick(&a)
    }

    fn sync(&mut self, d: usize) -> Result<CycleReport, SyncError> {
        self.stats.cycles += 1;
        let pruned_before = lock(&self.obs).pruned_below.clone();
        let r = self.devices[d].engine.sync_now();
        if r.is_err() {
            self.stats.cycle_errors += 1;
        }
        // Which deltas a late reader can no longer get (a checkpoint
        // supersedes them): the trace needs it to explain a missing version.
        let pruned: Vec<String> = lock(&self.obs)
            .pruned_below
            .iter()
            .filter(|(o, cp)| pruned_before.get(*o) != Some(*cp))
            .map(|(o, cp)| format!("{o} below {cp}"))
            .collect();
        if !pruned.is_empty() {
            let name = self.devices[d].name.clone();
            self.note(format!("{name} pruned {pruned:?}"), None);
        }
        // Corrupted blobs are put back after a few cycles, before any
        // device could give them up (max_quarantine_attempts = 5).
        let mut restore = Vec::new();
        for c in &mut self.corruptions {
            c.syncs_left = c.syncs_left.saturating_sub(1);
            if c.syncs_left == 0 {
                restore.push((c.owner.clone(), c.seq, std::mem::take(&mut c.original)));
            }
        }
        self.corruptions.retain(|c| c.syncs_left > 0);
        for (owner, seq, data) in restore {
            self.relay.restore(&owner, seq, &data);
            self.note(format!("relay: blob {owner}/{seq} restored"), None);
        }
        r
    }

    fn sync_strict(&mut self, d: usize, why: &str) -> Option<CycleReport> {
        match self.sync(d) {
            Ok(r) => Some(r),
            Err(e) => {
                let name = self.devices[d].name.clone();
                self.violation(format!("{name}: fault-free {why} cycle failed: {e}"));
                self.note(format!("{name} {why} sync FAILED: {e}"), None);
                None
            }
        }
    }

    fn do_write(&mut self, d: usize, store: usize, key: RecordKey, kind: WriteKind) {
        let dev = &self.devices[d];
        let body_seed = self.rng.next_u64();
        let rec = host_write(
            &dev.stores[store],
            &self.log,
            d,
            &dev.id,
            dev.skew_ms,
            self.step,
            key.clone(),
            kind,
            body_seed,
        );
        let line = format!(
            "{} writes {}/{:?} {:?} t={} v={:?}",
            dev.name,
            STORES[store],
            key,
            kind,
            rec.updated_at - EPOCH_MS,
            rec.version
        );
        self.stats.work(match kind {
            WriteKind::Upsert => "upsert",
            WriteKind::Delete => "delete",
            WriteKind::InvalidTodo => "invalid_todo",
        });
        self.note(line, Some((store, key)));
    }

    /// A key worth editing mid-cycle: one another device wrote recently
    /// (likely to come in on the pull of the same cycle).
    fn contested_key(&mut self, d: usize) -> (usize, RecordKey) {
        let recent: Vec<(usize, RecordKey)> = lock(&self.log)
            .iter()
            .rev()
            .filter(|w| w.device != d)
            .take(8)
            .map(|w| (w.store, w.record.key()))
            .collect();
        if recent.is_empty() || self.rng.chance(200) {
            let s = self.rng.below(STORES.len() as u64) as usize;
            (s, random_key(&mut self.rng, s))
        } else {
            self.rng.pick(&recent).clone()
        }
    }

    fn op(&mut self, opts: &Options) {
        self.stats.ops += 1;
        let roll = self.rng.below(1000);
        match roll {
            0..=439 => {
                let d = self.pick_active();
                let store = self.rng.below(STORES.len() as u64) as usize;
                let key = random_key(&mut self.rng, store);
                let kind = if store == TODOS && self.devices[d].rogue && self.rng.chance(500) {
                    WriteKind::InvalidTodo
                } else if self.rng.chance(280) {
                    WriteKind::Delete
                } else {
                    WriteKind::Upsert
                };
                self.do_write(d, store, key, kind);
            }
            440..=849 => self.op_sync(opts),
            850..=889 => self.op_export_import(),
            890..=914 => {
                let d = self.pick_active();
                let skew = self.rng.range_i64(-MAX_SKEW_MS, MAX_SKEW_MS);
                self.devices[d]
                    .clock
                    .offset_ms
                    .store(skew, Ordering::SeqCst);
                self.devices[d].skew_ms = skew;
                self.stats.fault("clock_skew_change");
                let name = self.devices[d].name.clone();
                self.note(format!("{name} clock skew -> {skew}ms"), None);
            }
            915..=934 if opts.faults => self.op_corrupt(),
            935..=954 if self.relay.child.is_some() => self.op_relay_kill(),
            955..=974 if !self.revoked_once => self.op_revoke_replace(),
            975..=999 if !self.joined_late => {
                self.joined_late = true;
                let d = self.new_device(false);
                self.stats.work("join_late");
                self.sync_strict(d, "first");
            }
            _ => self.op_sync(opts),
        }
        self.step += 1;
    }

    fn op_sync(&mut self, opts: &Options) {
        let d = self.pick_active();
        if let Some(bin) = opts.device_bin.as_deref().filter(|_| opts.faults) {
            if self.rng.chance(opts.engine_kill_per_mille) {
                return self.op_engine_kill(d, bin);
            }
        }
        let name = self.devices[d].name.clone();
        let mut extras = Vec::new();
        if opts.faults && self.rng.chance(450) {
            let n = 1 + self.rng.below(3);
            for _ in 0..n {
                let kind = *self.rng.pick(&[
                    FaultKind::DropRequest,
                    FaultKind::DropResponse,
                    FaultKind::Duplicate,
                    FaultKind::Timeout,
                ]);
                let route = *self.rng.pick(&[
                    Route::Push,
                    Route::Push,
                    Route::Pull,
                    Route::Blob,
                    Route::Prune,
                    Route::Any,
                ]);
                let countdown = self.rng.below(3) as u32;
                let delay = self.rng.below(120);
                self.devices[d].transport.arm(route, countdown, kind, delay);
                extras.push(format!("{kind:?}@{route:?}#{countdown}"));
            }
        }
        if opts.faults && self.rng.chance(250) {
            let n = 1 + self.rng.below(2);
            for _ in 0..n {
                let (store, key) = self.contested_key(d);
                let trigger =
                    *self
                        .rng
                        .pick(&[Trigger::Transport, Trigger::Snapshot, Trigger::Apply]);
                let countdown = self.rng.below(6) as u32;
                let kind = if self.rng.chance(200) {
                    WriteKind::Delete
                } else {
                    WriteKind::Upsert
                };
                let (st, log, id, skew, step) = {
                    let dev = &self.devices[d];
                    (
                        Arc::clone(&dev.stores[store]),
                        Arc::clone(&self.log),
                        dev.id.clone(),
                        dev.skew_ms,
                        self.step,
                    )
                };
                let body_seed = self.rng.next_u64();
                let k2 = key.clone();
                self.devices[d].hooks.arm(
                    trigger,
                    countdown,
                    Box::new(move || {
                        host_write(&st, &log, d, &id, skew, step, k2, kind, body_seed);
                    }),
                );
                self.stats.work("mid_cycle_edit");
                self.note(
                    format!(
                        "{name} arms mid-cycle {kind:?} of {}/{key:?} at {trigger:?}#{countdown}",
                        STORES[store]
                    ),
                    Some((store, key)),
                );
            }
        }
        let guard = if opts.faults && self.rng.chance(60) && immutable_dirs_supported() {
            self.stats.fault("state_dir_write_fail");
            extras.push("state-dir-immutable".into());
            Immutable::set(self.devices[d].state.path())
        } else {
            None
        };
        let r = self.sync(d);
        drop(guard);
        // Unfired edits happen now (they are in the log either way).
        self.devices[d].hooks.flush();
        self.devices[d].transport.disarm();
        let injected: Vec<&'static str> =
            std::mem::take(&mut *lock(&self.devices[d].transport.injected));
        for k in &injected {
            self.stats.fault(k);
        }
        let outcome = match &r {
            Ok(rep) => format!(
                "ok pushed={:?} checkpoint={} pulled={} applied={} rejected={} quarantined={}",
                rep.pushed_seq,
                rep.checkpoint,
                rep.pulled_blobs,
                rep.applied_changes,
                rep.rejected_records,
                rep.quarantined
            ),
            Err(e) => format!("err {e}"),
        };
        if let Err(SyncError::Revoked) = &r {
            self.violation(format!(
                "{name}: a device that was never revoked got Revoked"
            ));
        }
        self.note(
            format!(
                "{name} sync [{}] injected={injected:?} -> {outcome}",
                extras.join(",")
            ),
            None,
        );
    }

    /// One cycle of device `d` in a child process that the engine aborts
    /// at a random crash point (a real process death: nothing in memory
    /// survives, the state dir and the host's store file are what is left).
    /// The parent's engine for `d` goes on from that state dir, as a
    /// restarted app would.
    fn op_engine_kill(&mut self, d: usize, bin: &Path) {
        use std::os::unix::process::ExitStatusExt;
        let p = self.rng.below(CRASH_POINTS.len() as u64) as usize;
        let point = CRASH_POINTS[p];
        let dev = &self.devices[d];
        let name = dev.name.clone();
        // Edits armed for this device happen now, before the child's snapshot.
        dev.hooks.flush();
        dev.transport.disarm();
        let stores_file = self.exports.path().join(format!("{name}-stores.json"));
        let seen_file = self.exports.path().join(format!("{name}-seen.jsonl"));
        let all: Vec<Vec<Record>> = dev
            .stores
            .iter()
            .map(|s| lock(&s.records).values().cloned().collect())
            .collect();
        write_private(
            &stores_file,
            &serde_json::to_vec(&all).expect("records serialise"),
        )
        .expect("write the host store file");
        let _ = std::fs::remove_file(&seen_file);
        let dict_mask: u64 = dev
            .stores
            .iter()
            .filter(|s| !s.keeps_tombstones)
            .map(|s| 1u64 << s.store)
            .sum();
        let out = std::process::Command::new(bin)
            .arg(dev.state.path())
            .arg(&stores_file)
            .arg(&seen_file)
            .arg(dev.skew_ms.to_string())
            .arg(self.base_checkpoint_every.to_string())
            .arg(dev.pull_page.to_string())
            .arg(dict_mask.to_string())
            .arg(dev.max_push.to_string())
            .env("AZMX_CRASH_AT", point)
            .output()
            .expect("spawn sim_device");
        self.stats.cycles += 1;
        // What the child saw on the wire counts like the parent's own.
        if let Ok(text) = std::fs::read_to_string(&seen_file) {
            let mut o = lock(&self.obs);
            for l in text.lines() {
                if let Some(f) = serde_json::from_str(l)
                    .ok()
                    .as_ref()
                    .and_then(Seen::from_json)
                {
                    f.record(&mut o);
                }
            }
        }
        // The host's store is what the child left in its file.
        let left: Vec<Vec<Record>> = std::fs::read(&stores_file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .expect("read the host store file back");
        for (s, recs) in self.devices[d].stores.iter().zip(left) {
            s.replace_all(recs);
        }
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        for v in stderr.lines().filter_map(|l| l.strip_prefix("violation: ")) {
            self.violation(format!("{name} (child): {v}"));
        }
        let outcome = if out.status.signal() == Some(6) {
            self.stats.fault(KILL_FAULTS[p]);
            format!("killed at {point}")
        } else if out.status.success() {
            self.stats.fault("engine_kill_point_not_reached");
            format!("{point} not reached, cycle completed")
        } else {
            self.stats.cycle_errors += 1;
            let first = stderr.lines().next().unwrap_or_default().to_string();
            self.violation(format!(
                "{name}: fault-free cycle in a child process failed ({}): {first}",
                out.status
            ));
            format!("FAILED {}: {first}", out.status)
        };
        self.note(
            format!("{name} cycle in a child process -> {outcome}"),
            None,
        );
    }

    fn op_export_import(&mut self) {
        let from = self.pick_active();
        let to = self.pick_active();
        let path = self.exports.path().join(format!("e{}.azmx", self.step));
        let (fname, tname) = (
            self.devices[from].name.clone(),
            self.devices[to].name.clone(),
        );
        match self.devices[from].engine.export(&path) {
            Ok(n) => {
                // Imports of an old export are the interesting case: keep
                // some and import them much later.
                let r = self.devices[to].engine.import(&path);
                self.stats.work("export_import");
                self.note(
                    format!("{fname} exports {n} records, {tname} imports -> {r:?}"),
                    None,
                );
                if let Err(e) = r {
                    self.violation(format!("{tname}: import of a good export failed: {e}"));
                }
            }
            Err(e) => {
                self.violation(format!("{fname}: export failed: {e}"));
            }
        }
        // Sometimes also an older export, kept from earlier.
        if self.rng.chance(400) {
            let older: Vec<PathBuf> = std::fs::read_dir(self.exports.path())
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            let mut older = older;
            older.sort();
            if let Some(p) = older.first() {
                let r = self.devices[to].engine.import(p);
                self.stats.work("import_old_export");
                self.note(
                    format!("{tname} imports an old export {p:?} -> {r:?}"),
                    None,
                );
            }
        }
    }

    fn op_corrupt(&mut self) {
        let candidates: Vec<(String, u64)> = {
            let o = lock(&self.obs);
            o.acked
                .keys()
                .filter(|(owner, seq)| *seq >= o.pruned_below.get(owner).copied().unwrap_or(0))
                .cloned()
                .collect()
        };
        if candidates.is_empty() || self.relay.backend == Backend::Postgres {
            return;
        }
        let (owner, seq) = self.rng.pick(&candidates).clone();
        if self
            .corruptions
            .iter()
            .any(|c| c.owner == owner && c.seq == seq)
        {
            return;
        }
        let at = self.rng.next_u64();
        if let Some(original) = self.relay.corrupt(&owner, seq, at) {
            let syncs_left = 1 + self.rng.below(3) as u32;
            self.stats.fault("blob_corrupted");
            self.note(
                format!("relay: blob {owner}/{seq} corrupted for {syncs_left} syncs"),
                None,
            );
            self.corruptions.push(Corruption {
                owner,
                seq,
                original,
                syncs_left,
            });
        }
    }

    /// Every active device syncs at once (fault-free) while the relay
    /// process is SIGKILLed after a random few milliseconds, then restarted.
    fn op_relay_kill(&mut self) {
        let delay = Duration::from_millis(self.rng.below(60));
        let engines: Vec<(String, SyncEngine)> = self
            .active()
            .iter()
            .map(|&d| (self.devices[d].name.clone(), self.devices[d].engine.clone()))
            .collect();
        let results: Vec<(String, Result<CycleReport, SyncError>)> = std::thread::scope(|s| {
            let hs: Vec<_> = engines
                .iter()
                .map(|(n, e)| s.spawn(move || (n.clone(), e.sync_now())))
                .collect();
            std::thread::sleep(delay);
            self.relay.kill_and_restart();
            hs.into_iter()
                .map(|h| h.join().expect("sync thread"))
                .collect()
        });
        self.stats.fault("relay_sigkill");
        self.stats.cycles += results.len() as u64;
        let outcome: Vec<String> = results
            .iter()
            .map(|(n, r)| match r {
                Ok(rep) => format!("{n}:ok pushed={:?}", rep.pushed_seq),
                Err(e) => {
                    self.stats.cycle_errors += 1;
                    format!("{n}:err {}", e.code())
                }
            })
            .collect();
        if results
            .iter()
            .any(|(_, r)| matches!(r, Err(SyncError::Revoked)))
        {
            self.violation("a device got Revoked across a relay restart".into());
        }
        self.note(
            format!("relay SIGKILL after {delay:?} under load, restarted: {outcome:?}"),
            None,
        );
    }

    fn op_revoke_replace(&mut self) {
        let active = self.active();
        if active.len() < 3 {
            return;
        }
        self.revoked_once = true;
        let victim = *self.rng.pick(&active);
        let by = *self.rng.pick(
            &active
                .iter()
                .copied()
                .filter(|&i| i != victim)
                .collect::<Vec<_>>(),
        );
        // The victim's last writes reach the relay first: what a revoked
        // device never pushed is legitimately lost, and the model keeps it.
        self.devices[victim].hooks.flush();
        self.devices[victim].transport.disarm();
        self.sync_strict(victim, "pre-revoke flush");
        let (vn, bn, vid) = (
            self.devices[victim].name.clone(),
            self.devices[by].name.clone(),
            self.devices[victim].id.clone(),
        );
        let r = self.devices[by].engine.revoke(&vid);
        self.note(format!("{bn} revokes {vn} -> {r:?}"), None);
        if let Err(e) = r {
            self.violation(format!("{bn}: revoking {vn} failed: {e}"));
            return;
        }
        match self.sync(victim) {
            Err(SyncError::Revoked) => {}
            other => self.violation(format!(
                "{vn}: sync after revoke gave {other:?}, not Revoked"
            )),
        }
        if !self.devices[victim].engine.status().revoked {
            self.violation(format!("{vn}: status does not say revoked"));
        }
        self.devices[victim].retired = true;
        let d = self.new_device(false);
        self.stats.work("revoke_replace");
        self.sync_strict(d, "replacement first");
    }

    /// Heals every fault, then runs fault-free rounds until a round moves
    /// nothing (bounded).
    fn quiesce(&mut self) {
        let t0 = Instant::now();
        while self.inflight.load(Ordering::SeqCst) > 0 && t0.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
        for c in std::mem::take(&mut self.corruptions) {
            self.relay.restore(&c.owner, c.seq, &c.original);
        }
        for d in &self.devices {
            d.transport.disarm();
            d.hooks.flush();
        }
        self.note("quiesce: faults healed".into(), None);
        for round in 0..8 {
            let mut moved = false;
            for d in self.active() {
                let known_of = |dev: &SimDevice| -> Value {
                    std::fs::read(dev.state.path().join(STATE_FILE))
                        .ok()
                        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                        .map(|v| v["known"].clone())
                        .unwrap_or(Value::Null)
                };
                let before = known_of(&self.devices[d]);
                let result = self.sync_strict(d, "quiescence");
                let after = known_of(&self.devices[d]);
                if round >= 2 && before != after {
                    let mut changed = Vec::new();
                    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
                        for (store, keys) in a {
                            for (k, h) in keys.as_object().into_iter().flatten() {
                                if b.get(store).and_then(|m| m.get(k)) != Some(h) {
                                    changed.push(format!("{store}/{k:?}"));
                                }
                            }
                        }
                    }
                    let name = self.devices[d].name.clone();
                    self.note(format!("{name} known changed for {changed:?}"), None);
                }
                if let Some(r) = result {
                    moved |= r.pushed_seq.is_some() || r.applied_changes > 0;
                    let name = self.devices[d].name.clone();
                    self.note(
                        format!(
                            "{name} quiesce round {round}: pushed={:?} records={} checkpoint={} pulled={} applied={} rejected={}",
                            r.pushed_seq, r.pushed_records, r.checkpoint, r.pulled_blobs, r.applied_changes, r.rejected_records
                        ),
                        None,
                    );
                }
            }
            if !moved {
                return;
            }
        }
        let mut detail = Vec::new();
        for d in self.active() {
            let dev = &self.devices[d];
            let st: Value = std::fs::read(dev.state.path().join(STATE_FILE))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            for s in &dev.stores {
                let held: Vec<Record> = lock(&s.records).values().cloned().collect();
                let engine_tombs: Vec<Record> =
                    serde_json::from_value(st["tombstones"][STORES[s.store]].clone())
                        .unwrap_or_default();
                for t in &engine_tombs {
                    if let Some(l) = held.iter().find(|l| l.key() == t.key() && !l.deleted) {
                        if spec(s.store).contract.compare(t, l) == std::cmp::Ordering::Greater {
                            detail.push(format!(
                                "{} {}/{:?}: host holds live t={} v={:?} by {} under the engine's stronger tombstone t={} v={:?} by {}",
                                dev.name,
                                STORES[s.store],
                                l.key(),
                                l.updated_at - EPOCH_MS,
                                l.version,
                                l.device_id,
                                t.updated_at - EPOCH_MS,
                                t.version,
                                t.device_id
                            ));
                        }
                    }
                }
                let listed: BTreeSet<RecordKey> = held.iter().map(|r| r.key()).collect();
                let extra = engine_tombs
                    .into_iter()
                    .filter(|t| !listed.contains(&t.key()));
                for r in held.iter().cloned().chain(extra) {
                    let r = &r;
                    let k = match &r.scope {
                        Some(sc) => format!("{sc}\u{1f}{}", r.id),
                        None => r.id.clone(),
                    };
                    let h = hex_prefix(&r.content_hash());
                    if st["known"][STORES[s.store]][&k].as_str() != Some(h.as_str()) {
                        detail.push(format!(
                            "{} {}/{:?} t={} v={:?} deleted={} by {} not known as held by the relay",
                            dev.name,
                            STORES[s.store],
                            r.key(),
                            r.updated_at - EPOCH_MS,
                            r.version,
                            r.deleted,
                            r.device_id
                        ));
                    }
                }
            }
        }
        let msg = format!("no quiescence after 8 fault-free rounds; still pushed: {detail:?}");
        if strict_quiescence() {
            self.violation(msg);
        } else {
            // A last round pulls everything acknowledged so far; pushes it
            // makes itself are left out of the listing check.
            self.note(format!("{msg} (tolerated: SIM_STRICT_QUIESCENCE=0)"), None);
            self.cutoff = Some(lock(&self.obs).acked.keys().cloned().collect());
            for d in self.active() {
                self.sync_strict(d, "final");
            }
        }
    }

    /// The invariants; each broken one is a violation line naming the key.
    fn check(&mut self) -> Vec<(usize, RecordKey)> {
        let mut bad_keys = Vec::new();
        let log = lock(&self.log).clone();
        let exp = expected(&log);
        let rogues: BTreeSet<usize> = self
            .devices
            .iter()
            .filter(|d| d.rogue)
            .map(|d| d.idx)
            .collect();
        let alternatives = rogue_alternatives(&log, &rogues);
        for d in self.active() {
            let dev = &self.devices[d];
            for s in 0..STORES.len() {
                if s == TODOS && dev.rogue {
                    continue;
                }
                let live = dev.stores[s].live();
                let want: BTreeMap<&RecordKey, &Record> =
                    exp[s].iter().filter(|(_, r)| !r.deleted).collect();
                for (k, w) in &exp[s] {
                    let got = live.get(k);
                    if let Some(allowed) = alternatives.get(k).filter(|_| s == TODOS) {
                        if !allowed.iter().any(|a| a.as_ref() == got) {
                            self.violation(format!(
                                "{}: todos/{k:?} (last written invalid by a rogue device) holds {:?}, none of the allowed {:?}",
                                dev.name,
                                got.map(|g| (g.updated_at - EPOCH_MS, g.device_id.clone())),
                                allowed
                                    .iter()
                                    .map(|a| a.as_ref().map(|r| r.updated_at - EPOCH_MS))
                                    .collect::<Vec<_>>()
                            ));
                            bad_keys.push((s, k.clone()));
                        }
                        continue;
                    }
                    let ok = match (w.deleted, got) {
                        (true, None) => true,
                        (true, Some(g)) => {
                            self.violation(format!(
                                "{}: deleted record came back: {}/{k:?} deleted at t={} by d? but live t={} from {}",
                                dev.name,
                                STORES[s],
                                w.updated_at - EPOCH_MS,
                                g.updated_at - EPOCH_MS,
                                g.device_id
                            ));
                            false
                        }
                        (false, Some(g)) if g == w => true,
                        (false, got) => {
                            self.violation(format!(
                                "{}: winner missing: {}/{k:?} want t={} v={:?} from {}, have {:?}",
                                dev.name,
                                STORES[s],
                                w.updated_at - EPOCH_MS,
                                w.version,
                                w.device_id,
                                got.map(|g| (
                                    g.updated_at - EPOCH_MS,
                                    g.version,
                                    g.device_id.clone()
                                ))
                            ));
                            false
                        }
                    };
                    if !ok {
                        bad_keys.push((s, k.clone()));
                    }
                }
                for k in live.keys() {
                    if !want.contains_key(k) && !exp[s].contains_key(k) {
                        self.violation(format!(
                            "{}: record nobody wrote: {}/{k:?}",
                            dev.name, STORES[s]
                        ));
                        bad_keys.push((s, k.clone()));
                    }
                }
            }
            // Bounded engine state: quarantine and the state file.
            let st = dev.engine.status();
            // The relay here is honest (faults drop, repeat or corrupt
            // requests and kill processes; it never reorders or hides a
            // listing), so any relay-integrity detection is a false positive.
            if st.integrity_problems > 0 {
                self.violation(format!(
                    "{}: {} relay-integrity problems against an honest relay, last {:?}",
                    dev.name, st.integrity_problems, st.last_integrity_problem
                ));
            }
            if st.quarantine.len() > 32 {
                self.violation(format!(
                    "{}: quarantine holds {} entries",
                    dev.name,
                    st.quarantine.len()
                ));
            }
            if st.quarantine.iter().any(|q| !q.gave_up) {
                self.violation(format!(
                    "{}: quarantine not cleared after the blobs were restored: {:?}",
                    dev.name, st.quarantine
                ));
            }
            let keys: usize = exp.iter().map(|m| m.len()).sum();
            let size = std::fs::metadata(dev.state.path().join(STATE_FILE))
                .map(|m| m.len() as usize)
                .unwrap_or(0);
            let bound = 16 * 1024 + 1024 * keys;
            if size > bound {
                self.violation(format!(
                    "{}: state file is {size} bytes for {keys} keys (bound {bound})",
                    dev.name
                ));
            }
        }
        // Every acknowledged push that was not pruned is listed to every
        // other active device (no cursor skipped it) and was fetched intact.
        let o = lock(&self.obs);
        let active: Vec<(String, String)> = self
            .active()
            .iter()
            .map(|&d| (self.devices[d].name.clone(), self.devices[d].id.clone()))
            .collect();
        let mut problems = Vec::new();
        for ((owner, seq), sha) in &o.acked {
            if *seq < o.pruned_below.get(owner).copied().unwrap_or(0) {
                continue;
            }
            if self
                .cutoff
                .as_ref()
                .is_some_and(|c| !c.contains(&(owner.clone(), *seq)))
            {
                continue;
            }
            for (name, id) in &active {
                if id == owner {
                    continue;
                }
                let listed = o
                    .listed
                    .get(id)
                    .is_some_and(|l| l.contains(&(owner.clone(), *seq)));
                if !listed {
                    problems.push(format!(
                        "{name}: acknowledged push {owner}/{seq} was never listed to it"
                    ));
                }
            }
            if !active.iter().all(|(_, id)| id == owner)
                && !o.fetched.contains(&(owner.clone(), *seq, sha.clone()))
            {
                problems.push(format!(
                    "acknowledged push {owner}/{seq} was never fetched with its sha256"
                ));
            }
        }
        drop(o);
        for p in problems {
            self.violation(p);
        }
        bad_keys
    }

    fn failure(&self, backend: Backend, bad_keys: &[(usize, RecordKey)]) -> Option<Failure> {
        let violations = lock(&self.violations).clone();
        if violations.is_empty() {
            return None;
        }
        let minimal = self
            .trace
            .iter()
            .zip(&self.trace_keys)
            .filter(|(line, k)| match k {
                Some(k) => bad_keys.contains(k),
                None => !line.contains("quiesce round") || bad_keys.is_empty(),
            })
            .map(|(l, _)| l.clone())
            .collect();
        Some(Failure {
            seed: self.seed,
            backend,
            violations,
            trace: self.trace.clone(),
            minimal,
            test: "sim",
        })
    }
}

/// Which backend a seed runs on: both SQLite modes, and PostgreSQL in one
/// scenario of three when `AZMX_TEST_DATABASE_URL` is set.
pub fn backend_for(seed: u64) -> Backend {
    let pg = std::env::var("AZMX_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    match (seed % 3, pg) {
        (0, true) => Backend::Postgres,
        (1, _) | (0, false) => Backend::SqliteFull,
        _ => Backend::SqlitePipelined,
    }
}

/// Runs one scenario; `Err` carries the seed and the trace.
pub fn run_scenario(seed: u64, opts: &Options) -> Result<Stats, Box<Failure>> {
    let backend = backend_for(seed);
    let backend = match (&opts.relay_bin, backend) {
        (Some(_), Backend::Postgres) => Backend::SqlitePipelined,
        _ => backend,
    };
    let mut w = World::new(seed, backend, opts);
    for _ in 0..opts.steps {
        w.op(opts);
    }
    w.quiesce();
    let bad = w.check();
    let mut stats = std::mem::take(&mut w.stats);
    stats.scenarios = 1;
    if let Some(f) = w.failure(backend, &bad) {
        if let Ok(p) = std::env::var("SIM_TRACE_FILE") {
            let mut s = String::new();
            for l in &f.trace {
                let _ = writeln!(s, "{l}");
            }
            let _ = std::fs::write(p, s);
        }
        return Err(Box::new(f));
    }
    Ok(stats)
}

/// Whether the run should go on: `SIM_SCENARIOS` and `SIM_SECONDS` bound it.
pub struct Budget {
    pub scenarios: u64,
    pub seconds: u64,
    started: Instant,
}

impl Budget {
    pub fn from_env(default_scenarios: u64, default_seconds: u64) -> Self {
        let get = |k: &str, d: u64| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        Self {
            scenarios: get("SIM_SCENARIOS", default_scenarios),
            seconds: get("SIM_SECONDS", default_seconds),
            started: Instant::now(),
        }
    }
    /// Time left to start another scenario (the count is the caller's).
    pub fn more(&self) -> bool {
        self.started.elapsed().as_secs() < self.seconds
    }
}

/// The seeds a test runs: `SIM_SEED` alone when set (a replay), else
/// `count_var` (default `default_count`) scenarios from `base`.
pub fn seeds_from_env(count_var: &str, default_count: u64, base: u64) -> Vec<u64> {
    if let Some(s) = std::env::var("SIM_SEED").ok().and_then(|s| parse_seed(&s)) {
        return vec![s];
    }
    let n = std::env::var(count_var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_count);
    (0..n).map(|i| scenario_seed(base, i)).collect()
}

/// Runs `seeds` with `opts` and adds up their stats (printed at the end).
/// A failed seed prints its trace, then panics with what replays it:
/// `test` is the integration test whose options the seed needs.
pub fn run_seeds(test: &'static str, seeds: Vec<u64>, opts: &Options) -> Stats {
    let mut total = Stats::default();
    for seed in seeds {
        match run_scenario(seed, opts) {
            Ok(s) => total.add(&s),
            Err(mut f) => {
                for l in &f.trace {
                    println!("{l}");
                }
                f.test = test;
                panic!("{f}");
            }
        }
    }
    println!("{}", total.summary());
    total
}

/// Parses `SIM_SEED` (decimal or 0x-hex).
pub fn parse_seed(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}
