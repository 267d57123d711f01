//! Issue 16 item 3: a checkpoint (or a delta) over the push limit goes as
//! several pushes (PROTOCOL §6, "Checkpoints in parts"). Before, a first
//! push over the relay's body limit was one oversized blob the relay
//! refused, and the device resent it forever: such a user could not sync.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use azmx_sync_core::engine::{
    EngineConfig, HostError, HttpRequest, HttpResponse, HttpTransport, SyncError, UreqTransport,
};
use azmx_sync_e2e::*;

/// A device pushing at most `max_push` bytes at a time, `tune` aside.
fn limited(
    relay: &RelayFixture,
    name: &str,
    max_push: u64,
    tune: impl FnOnce(&mut EngineConfig),
) -> Device {
    Device::custom(
        relay,
        &relay.url(),
        name,
        RECEIPT,
        |c| {
            c.max_push_bytes = max_push;
            tune(c);
        },
        Arc::new(UreqTransport::default()),
    )
}

/// ~600 B snippets: `n` of them are `n` × ~0.7 KiB sealed.
fn fill(d: &Device, n: usize, tag: &str) {
    let at = now_ms();
    for i in 0..n {
        let text = format!("{tag}-{i:06}-{}", "x".repeat(560));
        d.add_snippet(&format!("h{}", i % 7), &format!("s{i:06}"), &text, at);
    }
}

/// A relay whose body limit (48 KiB) is far under the engine's default
/// push limit (4 MiB).
fn relay_refusing_bodies_over_48_kib() -> RelayFixture {
    RelayFixture::start_with(|c| {
        c.admin_token = Some("admin".into());
        c.limits.max_body_bytes = 48 << 10;
    })
}

fn sorted(d: &Device) -> Vec<(String, Option<String>, String, Option<serde_json::Value>)> {
    let mut v = visible_state(d);
    v.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    v
}

fn blob_sizes(relay: &RelayFixture) -> Vec<i64> {
    let db = relay.db();
    let mut q = db.prepare("SELECT length(data) FROM blobs").unwrap();
    let sizes = q
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    sizes
}

fn integrity_events(d: &Device) -> Vec<String> {
    d.event_types()
        .into_iter()
        .filter(|t| t == "relayIntegrity")
        .collect()
}

#[test]
fn a_first_checkpoint_over_the_push_limit_goes_in_parts_and_a_new_device_gets_every_record() {
    let relay = RelayFixture::start();
    let limit = 64 << 10;
    let a = limited(&relay, "a", limit, |c| c.checkpoint_every = 3);
    fill(&a, 2_000, "one");
    let r = a.sync();
    assert!(r.checkpoint);
    assert_eq!(r.pushed_records, 2_000);
    let sizes = blob_sizes(&relay);
    assert!(sizes.len() >= 20, "{} blobs", sizes.len());
    assert!(sizes.iter().all(|s| *s as u64 <= limit), "{sizes:?}");

    let b = Device::new(&relay, "b");
    b.sync();
    assert_eq!(sorted(&b), sorted(&a));
    assert!(integrity_events(&b).is_empty(), "{:?}", b.event_types());

    // Two deltas, then the next checkpoint: it prunes every blob before its
    // first part, and a device that joins after sees a clean chain.
    let parts_before = sizes.len();
    for round in 0..3 {
        a.add_snippet("h0", &format!("e{round}"), "edit", now_ms());
        a.sync();
    }
    let left = relay.blob_count() as usize;
    assert!(
        left <= parts_before + 1,
        "the complete checkpoint pruned the first one: {left} blobs left, {parts_before} in it"
    );
    let c = Device::new(&relay, "c");
    c.sync();
    b.sync();
    assert_eq!(sorted(&c), sorted(&a));
    assert_eq!(sorted(&b), sorted(&a));
    assert!(integrity_events(&c).is_empty(), "{:?}", c.event_types());
    assert!(integrity_events(&b).is_empty(), "{:?}", b.event_types());
}

#[test]
fn a_delta_over_the_push_limit_goes_as_several_deltas() {
    let relay = RelayFixture::start();
    let a = limited(&relay, "a", 32 << 10, |_| {});
    a.add_snippet("h", "first", "one", now_ms());
    a.sync();
    let b = Device::new(&relay, "b");
    b.sync();
    fill(&a, 600, "delta");
    let r = a.sync();
    assert!(!r.checkpoint);
    assert_eq!(r.pushed_records, 600);
    assert!(relay.blob_count() > 10);
    b.sync();
    assert_eq!(sorted(&b), sorted(&a));
    assert!(integrity_events(&b).is_empty(), "{:?}", b.event_types());
    assert_eq!(a.engine.unsynced().unwrap().count, 0);
}

/// The built-in transport, with pushes that stop reaching the relay after
/// a number of them (a dead network mid-checkpoint).
struct CutAfter {
    inner: UreqTransport,
    pushes_left: AtomicI64,
}

impl HttpTransport for CutAfter {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HostError> {
        if request.url.contains("/sync/push")
            && self.pushes_left.fetch_sub(1, Ordering::SeqCst) <= 0
        {
            return Err(HostError::new("simulated outage"));
        }
        self.inner.send(request)
    }
}

#[test]
fn a_checkpoint_cut_short_goes_on_after_the_last_stored_part_instead_of_starting_again() {
    let relay = RelayFixture::start();
    let cut = Arc::new(CutAfter {
        inner: UreqTransport::default(),
        pushes_left: AtomicI64::new(5),
    });
    let a = Device::custom(
        &relay,
        &relay.url(),
        "a",
        RECEIPT,
        |c| c.max_push_bytes = 32 << 10,
        cut.clone(),
    );
    fill(&a, 1_000, "cut");
    let err = a.engine.sync_now().unwrap_err();
    assert!(matches!(err, SyncError::Network { .. }), "{err:?}");
    assert_eq!(relay.blob_count(), 5);
    let pending = a.engine.unsynced().unwrap().count;
    assert!(pending > 0 && pending < 1_000, "{pending} records left");
    // Back online: the rest goes on from the sixth part; nothing is sent twice.
    cut.pushes_left.store(i64::MAX, Ordering::SeqCst);
    let r = a.sync();
    assert_eq!(r.pushed_records, pending, "{r:?}");
    let total = relay.blob_count();
    assert!(total >= 20, "{total} blobs");
    let b = Device::new(&relay, "b");
    b.sync();
    assert_eq!(sorted(&b), sorted(&a));
    assert!(integrity_events(&b).is_empty(), "{:?}", b.event_types());
}

#[test]
fn a_relay_with_a_lower_body_limit_teaches_the_engine_to_push_smaller() {
    let relay = relay_refusing_bodies_over_48_kib();
    // The engine's default (4 MiB) is far above the relay's limit.
    let a = Device::new(&relay, "a");
    fill(&a, 500, "taught");
    let r = a.sync();
    assert_eq!(r.pushed_records, 500);
    assert!(blob_sizes(&relay).iter().all(|s| *s <= 48 << 10));
    let b = Device::new(&relay, "b");
    b.sync();
    assert_eq!(sorted(&b), sorted(&a));
}

#[test]
fn a_record_that_alone_is_over_the_limit_stays_local_with_an_event_and_the_rest_syncs() {
    let relay = RelayFixture::start();
    let a = limited(&relay, "a", 16 << 10, |_| {});
    a.add_snippet("h", "small", "fits", now_ms());
    a.add_snippet("h", "huge", &"y".repeat(40 << 10), now_ms());
    a.sync();
    assert!(a.event_types().iter().any(|t| t == "recordTooLarge"));
    assert_eq!(a.engine.unsynced().unwrap().count, 1);
    let b = Device::new(&relay, "b");
    b.sync();
    assert_eq!(b.snippet_text("h", "small").as_deref(), Some("fits"));
    assert_eq!(b.snippet_text("h", "huge"), None);
    // Nothing of it leaks into the event.
    let ev = serde_json::to_string(&a.events()).unwrap();
    assert!(!ev.contains("yyyy"));
}

#[test]
fn a_record_too_large_is_reported_once_a_cycle_with_the_limit_that_held() {
    // The engine's own limit (4 MiB) sets the huge record aside; the relay's
    // 48 KiB then refuses the first part, and the engine plans again with
    // the limit it learnt. One report, against that limit, not one per plan.
    let relay = relay_refusing_bodies_over_48_kib();
    let a = Device::new(&relay, "a");
    fill(&a, 200, "rest");
    a.add_snippet("h", "huge", &"y".repeat(5 << 20), now_ms());
    a.sync();
    let reports: Vec<serde_json::Value> = a
        .events()
        .iter()
        .filter(|e| e.type_name() == "recordTooLarge")
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let max = reports[0].to_string();
    assert!(
        reports[0]["maxBytes"]
            .as_u64()
            .is_some_and(|m| m < 48 << 10),
        "the report names the limit that held: {max}"
    );
    assert_eq!(a.engine.unsynced().unwrap().count, 1);
}
