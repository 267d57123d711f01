//! Engine figures on a real relay on loopback (run with
//! `cargo bench -p azmx-sync-e2e --bench engine`): idle-cycle upload, the
//! sealed size of one edited record in a 10,000-record store, and the time
//! for a new device to catch up on 10,000 records.

use std::time::Instant;

use azmx_sync_e2e::*;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "bench-a");
    let t = now_ms();
    for i in 0..10_000 {
        a.add_snippet(
            "work",
            &format!("snippet-{i:05}"),
            &format!("Saved prompt number {i}: summarise the following change set and list risks."),
            t,
        );
    }
    let started = Instant::now();
    let first = a.sync();
    let first_ms = started.elapsed().as_secs_f64() * 1e3;
    println!(
        "first push (checkpoint) of 10,000 records: {} sealed bytes in {first_ms:.1} ms",
        first.sealed_bytes
    );

    let started = Instant::now();
    let idle = a.sync();
    println!(
        "idle cycle: {} bytes uploaded, {:.1} ms (one pull request)",
        idle.sealed_bytes,
        started.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(idle.sealed_bytes, 0);

    a.add_snippet("work", "snippet-04242", "Edited: one changed record", t + 1);
    let started = Instant::now();
    let one = a.sync();
    println!(
        "one edited record in a 10,000-record store: {} sealed bytes ({} record), {:.1} ms",
        one.sealed_bytes,
        one.pushed_records,
        started.elapsed().as_secs_f64() * 1e3
    );

    let b = Device::new(&relay, "bench-new-device");
    b.engine.verify_receipt().unwrap();
    let started = Instant::now();
    let r = b.sync();
    let catch_up = started.elapsed().as_secs_f64() * 1e3;
    assert_eq!(b.snippets.live().len(), 10_000);
    println!(
        "new device catch-up on 10,000 records: {catch_up:.1} ms ({} blobs, {} changes applied)",
        r.pulled_blobs, r.applied_changes
    );
    println!(
        "targets: idle upload 0 B [{}], one edit < 2 KiB [{}], catch-up < 1 s [{}]",
        if idle.sealed_bytes == 0 {
            "met"
        } else {
            "MISSED"
        },
        if one.sealed_bytes < 2048 {
            "met"
        } else {
            "MISSED"
        },
        if catch_up < 1000.0 { "met" } else { "MISSED" },
    );
}
