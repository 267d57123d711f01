//! The convergence simulator in the README test command: a bounded number
//! of seeded scenarios (see the crate docs). `SIM_SEED=<seed>` replays one
//! scenario; `SIM_SCENARIOS` / `SIM_SECONDS` / `SIM_BASE_SEED` run more.

use azmx_sync_sim::*;

#[test]
fn convergence_under_random_work_and_faults() {
    let opts = Options {
        steps: std::env::var("SIM_STEPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
        faults: std::env::var("SIM_NO_FAULTS").is_err(),
        ..Options::default()
    };
    if let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| parse_seed(&s)) {
        match run_scenario(seed, &opts) {
            Ok(stats) => println!("{}", stats.summary()),
            Err(f) => {
                for l in &f.trace {
                    println!("{l}");
                }
                panic!("{f}");
            }
        }
        return;
    }
    let base = std::env::var("SIM_BASE_SEED")
        .ok()
        .and_then(|s| parse_seed(&s))
        .unwrap_or(0x5eed_0011);
    let mut budget = Budget::from_env(24, 150);
    let mut total = Stats::default();
    let mut i = 0;
    while budget.more() {
        let seed = scenario_seed(base, i);
        i += 1;
        match run_scenario(seed, &opts) {
            Ok(s) => total.add(&s),
            Err(f) => {
                println!("{}", total.summary());
                panic!("{f}");
            }
        }
        budget.done += 1;
    }
    println!("{}", total.summary());
    assert!(total.scenarios > 0, "the budget allowed no scenario");
}

/// The checker itself can fail: a host store that acknowledges changes and
/// keeps none of them (a silent loss) must be reported, with the seed.
#[test]
fn checker_reports_a_silent_loss() {
    let opts = Options {
        steps: 40,
        faults: false,
        sabotage: true,
        ..Options::default()
    };
    let f = run_scenario(0x51_1e47, &opts).expect_err("a silent loss must be reported");
    let text = f.to_string();
    assert!(text.contains("winner missing"), "{text}");
    assert!(text.contains("SIM_SEED=0x"), "{text}");
}
