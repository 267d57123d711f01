//! One device cycle in its own process, so the simulator can kill the
//! engine at a crash point (`AZMX_CRASH_AT`, which aborts the process):
//! `sim_device STATE_DIR STORES_FILE SEEN_FILE SKEW_MS CHECKPOINT_EVERY
//! PULL_PAGE DICT_MASK MAX_PUSH`. See `azmx_sync_sim::child_cycle_main`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(azmx_sync_sim::child_cycle_main(&args));
}
