//! The simulator with the relay in a child process that is SIGKILLed while
//! every device syncs, and restarted on the same port and data dir (both
//! SQLite durability modes). Same work, faults and invariants as `sim.rs`;
//! `SIM_SEED=<seed>` replays one scenario, `SIM_RELAY_SCENARIOS` runs more.

use azmx_sync_sim::*;

#[test]
fn relay_killed_under_load_loses_no_acknowledged_push() {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_sim_relay"));
    let opts = Options {
        relay_bin: Some(bin),
        ..Options::default()
    };
    let seeds = seeds_from_env("SIM_RELAY_SCENARIOS", 4, 0x4e1a_7c11);
    let total = run_seeds("relay_kill", seeds, &opts);
    assert!(
        total.faults.get("relay_sigkill").copied().unwrap_or(0) > 0,
        "no scenario killed the relay: {}",
        total.summary()
    );
}
