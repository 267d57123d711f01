//! The simulator with device cycles run in a child process (`sim_device`)
//! that the engine aborts at a crash point (`AZMX_CRASH_AT`), often enough
//! that every crash point is hit; the parent goes on with the other devices
//! and later cycles of the killed one run normally. Same work, faults and
//! invariants as `sim.rs`; `SIM_SEED=<seed>` replays one scenario,
//! `SIM_KILL_SCENARIOS` runs more.

use azmx_sync_sim::*;

#[test]
fn engine_killed_at_every_crash_point_converges() {
    let opts = Options {
        device_bin: Some(std::path::PathBuf::from(env!("CARGO_BIN_EXE_sim_device"))),
        engine_kill_per_mille: 350,
        ..Options::default()
    };
    let seeds = seeds_from_env("SIM_KILL_SCENARIOS", 6, 0xc4a5_0011);
    let replay = seeds.len() == 1;
    let total = run_seeds("engine_kill", seeds, &opts);
    if !replay {
        // The test must really kill the engine at each point, not only run
        // child cycles that finish.
        for point in CRASH_POINTS {
            let kind = format!("engine_kill_{}", point.replace('-', "_"));
            assert!(
                total.faults.get(kind.as_str()).copied().unwrap_or(0) > 0,
                "no cycle was killed at {point}: {}",
                total.summary()
            );
        }
    }
}
