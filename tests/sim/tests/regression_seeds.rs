//! Seeds that broke an invariant, kept as regression cases: the 22 a long
//! run found before the fixes of 2026-12-02 (an edit saved between the
//! merge's snapshot and apply was overwritten; a failed state save reported
//! ok; a buggy device's superseded valid todo list; see
//! docs/RELIABILITY.md), plus the seeds named in found_defects*.rs. Each
//! failed before those fixes and passes after them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use azmx_sync_sim::*;

const SEEDS: &[u64] = &[
    0x07f7f4eb9e24dd1b,
    0x12e25b2798048523,
    0x17b5670051656778,
    0x2b283512fbd605c9,
    0x2dffcebf12f9df27,
    0x30e54a69c3069c4f,
    0x562fc096eeb41625,
    0x5a98787d14624fd3,
    0x6261a071dc684ac4,
    0x696b2c7618c3a56d,
    0x7cb2524df9bf65e6,
    0x8a4061c7ec14863f,
    0x91a7201fdd457eca,
    0x9b798a8520181e7b,
    0x9fc021bc4a92e6d8,
    0xaa2491add28af07a,
    0xb44daad32ee7c064,
    0xc53e6153e422acbc,
    0xd27ccb91973fa103,
    0xd4086e9ddb8d782b,
    0xf09c30519877b8b1,
    0xf0dc769a4293d883,
    // Named in found_defects.rs.
    0x91137bd5afc8a2d3,
    0x5d5149e520ba01ec,
    0xb5dc986dfae8b04d,
    0x71f884b3b8de1c6e,
];

#[test]
fn seeds_that_once_failed_now_pass() {
    let opts = Options {
        device_bin: Some(std::path::PathBuf::from(env!("CARGO_BIN_EXE_sim_device"))),
        engine_kill_per_mille: 30,
        ..Options::default()
    };
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<String>> = Mutex::default();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&seed) = SEEDS.get(i) else { return };
                if let Err(f) = run_scenario(seed, &opts) {
                    failures.lock().unwrap().push(f.to_string());
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
