//! The convergence simulator in the README test command: a bounded number
//! of seeded scenarios (see the crate docs). `SIM_SEED=<seed>` replays one
//! scenario; `SIM_SCENARIOS` / `SIM_SECONDS` / `SIM_BASE_SEED` run more.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use azmx_sync_sim::*;

#[test]
fn convergence_under_random_work_and_faults() {
    let opts = Options {
        steps: std::env::var("SIM_STEPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
        faults: std::env::var("SIM_NO_FAULTS").is_err(),
        // Now and then a cycle in a child process killed at a crash point
        // (tests/engine_kill.rs does it often enough to hit every point).
        device_bin: Some(std::path::PathBuf::from(env!("CARGO_BIN_EXE_sim_device"))),
        engine_kill_per_mille: std::env::var("SIM_ENGINE_KILL_PER_MILLE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30),
        ..Options::default()
    };
    if let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| parse_seed(&s)) {
        run_seeds("sim", vec![seed], &opts);
        return;
    }
    let base = std::env::var("SIM_BASE_SEED")
        .ok()
        .and_then(|s| parse_seed(&s))
        .unwrap_or(0x5eed_0011);
    // Scenarios mostly wait (the engine's retry back-off after injected
    // network errors, 0.3 s then 0.6 s per failed request, and fsyncs), so
    // several run at once even on two cores.
    let threads: usize = std::env::var("SIM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    // About 2 minutes on two cores (the README test command's share).
    let budget = Budget::from_env(200, 170);
    let next = AtomicU64::new(0);
    let total = Mutex::new(Stats::default());
    let failure: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= budget.scenarios || !budget.more() || failure.lock().unwrap().is_some() {
                    return;
                }
                let seed = scenario_seed(base, i);
                match run_scenario(seed, &opts) {
                    Ok(st) => total.lock().unwrap().add(&st),
                    Err(f) => {
                        failure.lock().unwrap().get_or_insert(f.to_string());
                        return;
                    }
                }
            });
        }
    });
    let total = total.into_inner().unwrap();
    println!("{}", total.summary());
    if let Some(f) = failure.into_inner().unwrap() {
        panic!("{f}");
    }
    assert!(total.scenarios > 0, "the budget allowed no scenario");
}

/// A scenario that must fail: a host store that acknowledges changes and
/// keeps none of them (a silent loss).
const SABOTAGED_SEED: u64 = 0x51_1e47;

fn sabotaged() -> Options {
    Options {
        steps: 40,
        faults: false,
        sabotage: true,
        ..Options::default()
    }
}

/// The checker itself can fail: a silent loss must be reported, with the seed.
#[test]
fn checker_reports_a_silent_loss() {
    let f = run_scenario(SABOTAGED_SEED, &sabotaged()).expect_err("a silent loss must be reported");
    let text = f.to_string();
    assert!(text.contains("winner missing"), "{text}");
    assert!(text.contains("SIM_SEED=0x"), "{text}");
}

/// The replay command a failure prints names the test whose options found
/// it (a relay-kill seed replayed by `--test sim` runs another scenario).
#[test]
fn a_failure_names_the_test_that_replays_it() {
    let panic =
        std::panic::catch_unwind(|| run_seeds("relay_kill", vec![SABOTAGED_SEED], &sabotaged()))
            .expect_err("a silent loss must be reported");
    let text = panic.downcast_ref::<String>().expect("a formatted panic");
    assert!(
        text.contains("cargo test -p azmx-sync-sim --test relay_kill "),
        "{text}"
    );
}
