//! Issue 11 defect 6: a panic inside a cycle (here in a host callback) must
//! become a typed error for that cycle, not a dead engine: the cycle lock
//! must not stay poisoned, so the scheduler keeps syncing.

mod faults;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use azmx_sync_core::engine::{ScheduledCycle, SyncError};
use azmx_sync_e2e::*;
use faults::DictDevice;

#[test]
fn a_panicking_store_adapter_fails_one_cycle_and_the_scheduler_goes_on() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let b = DictDevice::new(&relay, "b");
    b.put("h", "x", "from b", now_ms());
    b.snippets.panics.store(1, Ordering::SeqCst);
    let first = catch_unwind(AssertUnwindSafe(|| b.engine.sync_now()));
    let err = first
        .expect("a host store panic escaped the engine")
        .unwrap_err();
    assert!(matches!(err, SyncError::Store { .. }), "{err:?}");
    // The scheduler's own entry point must run a cycle, not report "busy".
    match b.engine.run_scheduled_cycle(true) {
        ScheduledCycle::Ran(Ok(_)) => {}
        other => panic!("the engine did not recover from a panic: {other:?}"),
    }
    a.sync();
    assert_eq!(a.snippet_text("h", "x").as_deref(), Some("from b"));
}

#[test]
fn a_panicking_transport_fails_one_cycle_and_the_next_one_syncs() {
    let relay = RelayFixture::start();
    let b = DictDevice::new(&relay, "b");
    b.put("h", "x", "from b", now_ms());
    // As many panics as the engine makes attempts per request: a panic is
    // a failed send, retried like one, then reported for the cycle.
    b.transport.panics.store(3, Ordering::SeqCst);
    let first = catch_unwind(AssertUnwindSafe(|| b.engine.run_scheduled_cycle(true)));
    match first.expect("a host transport panic escaped the engine") {
        ScheduledCycle::Ran(Err(SyncError::Network { message })) => {
            assert!(message.contains("panicked"), "{message}")
        }
        other => panic!("expected a failed cycle, got {other:?}"),
    }
    match b.engine.run_scheduled_cycle(true) {
        ScheduledCycle::Ran(Ok(r)) => assert!(r.pushed_seq.is_some()),
        other => panic!("the engine did not recover from a panic: {other:?}"),
    }
}
