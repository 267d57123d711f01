//! Merge 100,000 incoming records into 100,000 local ones, for each built-in
//! store (one per contract). Figures are recorded in docs/BENCHMARKS.md.
//!
//! The incoming batch arrives shuffled and is, by quarters: newer versions of
//! local records (one in ten of them a tombstone), older versions (kept
//! local), identical copies (unchanged) and records for new keys. Todo lists
//! carry three items each; the ones that would win (the newer versions and
//! the new keys, half the batch) are validated by `validate_todos_body`.
//!
//! Two groups: `merge_100k_into_100k` (wall-clock time) and
//! `merge_100k_into_100k_cpu` (CPU time of the benchmark thread, which leaves
//! out time spent waiting for a core on a shared machine).
//!
//! `merge_in_place` updates the state in place; `merge` also copies the local
//! state first (the copy is part of the measured time).
//! `merge_in_place_10_into_100k` merges 10 newer versions into the
//! 100,000-record state (the lookup path of a typical cycle).
//! `merge_in_place_key_ordered` feeds the same batch sorted by key, which is
//! how a bundle built from a peer's snapshot arrives. Building the inputs and
//! dropping the outputs are not measured; dropping the losing incoming
//! records is (the merge consumes them).

use std::hint::black_box;
use std::time::Duration;

use azmx_sync_core::merge::{
    merge, merge_in_place, Contract, Record, RecordKey, StoreSpec, StoreState,
};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion};
use serde_json::{json, Value};

const N: usize = 100_000;

fn body(spec: &StoreSpec, i: usize, rev: u64) -> Value {
    match spec.contract {
        Contract::LwwPerGroup => json!({"items": [
            {"id": "1", "content": format!("write the merge engine #{i}"), "status": "completed"},
            {"id": "2", "content": format!("property tests r{rev}"), "status": "in_progress"},
            {"id": "3", "content": "benchmark 100k into 100k", "status": "pending"},
        ]}),
        _ => json!({
            "title": format!("record {i}"),
            "text": format!("Saved prompt or memory chunk number {i}, revision {rev}: keep answers short."),
        }),
    }
}

/// Snippets are scoped: record `i` lives under one of 16 handles.
fn scope(spec: &StoreSpec, i: usize) -> Option<String> {
    (spec.name.as_str() == "snippets").then(|| format!("handle-{}", i % 16))
}

fn rec(spec: &StoreSpec, i: usize, id: String, t: i64, rev: u64, dev: &str) -> Record {
    let scope = scope(spec, i);
    let version = spec.contract.requires_version().then_some(rev);
    Record::new(id, scope, t, version, dev, body(spec, i, rev))
}

fn inputs(spec: &StoreSpec) -> (StoreState, Vec<Record>) {
    const T0: i64 = 1_700_000_000_000;
    let local: StoreState = (0..N)
        .map(|i| rec(spec, i, format!("rec-{i:06}"), T0 + i as i64, 5, "laptop"))
        .collect();
    let mut incoming: Vec<Record> = (0..N)
        .map(|i| {
            let id = format!("rec-{i:06}");
            match i % 4 {
                0 if i % 40 == 0 => {
                    let mut t = rec(spec, i, id, T0 + i as i64 + 1_000, 6, "desktop");
                    t.deleted = true;
                    t.body = None;
                    t
                }
                0 => rec(spec, i, id, T0 + i as i64 + 1_000, 6, "desktop"),
                1 => rec(spec, i, id, T0 + i as i64 - 1_000, 4, "desktop"),
                2 => local
                    .get(&RecordKey::new(scope(spec, i), id))
                    .unwrap()
                    .clone(),
                _ => rec(spec, i, format!("new-{i:06}"), T0, 1, "desktop"),
            }
        })
        .collect();
    // Deterministic shuffle (xorshift Fisher-Yates): arrival order is random.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..incoming.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        incoming.swap(i, (x % (i as u64 + 1)) as usize);
    }
    (local, incoming)
}

/// The three stores' inputs, built once.
fn all_inputs() -> Vec<(StoreSpec, StoreState, Vec<Record>, Vec<Record>)> {
    [
        StoreSpec::snippets(),
        StoreSpec::todos(),
        StoreSpec::memory(),
    ]
    .into_iter()
    .map(|spec| {
        let (local, incoming) = inputs(&spec);
        let check = merge(&spec, &local, incoming.clone());
        assert_eq!(check.counts.rejected_invalid, 0);
        assert_eq!(check.counts.applied, (N / 2) as u64);
        assert_eq!(check.counts.kept_local, (N / 4) as u64);
        assert_eq!(check.counts.unchanged, (N / 4) as u64);
        let mut ordered = incoming.clone();
        ordered.sort_by_key(Record::key);
        (spec, local, incoming, ordered)
    })
    .collect()
}

fn in_place<M: Measurement>(
    group: &mut BenchmarkGroup<'_, M>,
    name: &str,
    spec: &StoreSpec,
    local: &StoreState,
    batch: &[Record],
) {
    group.bench_function(format!("{name}/{}/{:?}", spec.name, spec.contract), |b| {
        b.iter_batched(
            || (local.clone(), batch.to_vec()),
            |(mut state, batch)| {
                let report = merge_in_place(spec, &mut state, batch);
                black_box((state, report))
            },
            BatchSize::PerIteration,
        )
    });
}

/// A group of few, long samples: one sample merges 100,000 records.
fn group<'a, M: Measurement>(c: &'a mut Criterion<M>, name: &str) -> BenchmarkGroup<'a, M> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group
}

/// The full batch merged in place, as it arrives (shuffled) and key-ordered.
fn in_place_both_orders<M: Measurement>(
    group: &mut BenchmarkGroup<'_, M>,
    spec: &StoreSpec,
    local: &StoreState,
    incoming: &[Record],
    ordered: &[Record],
) {
    in_place(group, "merge_in_place", spec, local, incoming);
    in_place(group, "merge_in_place_key_ordered", spec, local, ordered);
}

/// Wall-clock time (criterion's default).
fn wall(c: &mut Criterion) {
    let mut group = group(c, "merge_100k_into_100k");
    for (spec, local, incoming, ordered) in all_inputs() {
        in_place_both_orders(&mut group, &spec, &local, &incoming, &ordered);
        // A typical cycle: 10 newer versions of existing records, merged into
        // the same 100,000-record state again and again (timestamps and
        // versions keep rising, so every iteration applies 10 updates).
        let mut state = local.clone();
        let mut tick = 0i64;
        group.bench_function(
            format!(
                "merge_in_place_10_into_100k/{}/{:?}",
                spec.name, spec.contract
            ),
            |b| {
                b.iter_batched(
                    || {
                        tick += 1;
                        local
                            .records()
                            .step_by(N / 10)
                            .map(|r| {
                                let mut r = r.clone();
                                r.device_id = "desktop".into();
                                r.updated_at += 1_000_000 + tick;
                                r.version = r.version.map(|v| v + tick as u64);
                                r
                            })
                            .collect::<Vec<Record>>()
                    },
                    |batch| black_box(merge_in_place(&spec, &mut state, batch)),
                    BatchSize::SmallInput,
                )
            },
        );
        group.bench_function(format!("merge/{}/{:?}", spec.name, spec.contract), |b| {
            b.iter_batched(
                || incoming.clone(),
                |batch| black_box(merge(&spec, black_box(&local), batch)),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// CPU time of the benchmark thread: on a machine shared with other jobs this
/// leaves out the time the thread spent waiting for a core.
fn cpu(c: &mut Criterion<ThreadCpuTime>) {
    let mut group = group(c, "merge_100k_into_100k_cpu");
    for (spec, local, incoming, ordered) in all_inputs() {
        in_place_both_orders(&mut group, &spec, &local, &incoming, &ordered);
    }
    group.finish();
}

/// Criterion measurement reading `CLOCK_THREAD_CPUTIME_ID` (Linux; other
/// systems fall back to wall-clock time).
struct ThreadCpuTime;

#[cfg(target_os = "linux")]
fn thread_cpu_ns() -> u64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut t = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `t` is a valid, writable timespec; the clock id is a constant
    // Linux accepts for the calling thread.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    t.sec as u64 * 1_000_000_000 + t.nsec as u64
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_ns() -> u64 {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_nanos() as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns() - start
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Values are nanoseconds, like wall-clock time.
        static WALL: WallTime = WallTime;
        WALL.formatter()
    }
}

criterion_group!(wall_clock, wall);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = cpu
}
criterion_main!(wall_clock, cpu_time);
