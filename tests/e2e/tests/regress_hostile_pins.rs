//! Issue 13, item 2: a stolen device that holds the receipt pushes "pins"
//! (records stamped far ahead in time, versions at or past the maximum,
//! tombstones of both kinds) and is then revoked. Every pin is either
//! refused on arrival or loses to an ordinary edit made on a live device
//! afterwards, on every device, a device that joins later and replays all
//! blobs (the stolen device's stay listed) included.
//!
//! Before the bounds (`merge::ArrivalBounds`, `merge::MAX_VERSION`) the
//! pins at `i64::MAX` / `u64::MAX` won every merge and no edit could win
//! them back (`+1` saturates): this test failed on every such key.

use std::collections::BTreeSet;

use azmx_sync_core::engine::{EventKind, SyncError};
use azmx_sync_core::merge::{
    next_version, next_write_time, Record, MAX_FUTURE_DRIFT_MS, MAX_VERSION,
};
use azmx_sync_e2e::*;
use serde_json::json;

/// Snippet ids (`LwwByTime`) and memory ids (`LwwByVersion`) the thief pins.
const SNIPPET_PINS: [&str; 4] = ["far", "far-tomb", "edge", "edge-tomb"];
const MEMORY_PINS: [&str; 7] = [
    "max",
    "max-tomb",
    "cap",
    "cap-tomb",
    "far-time",
    "edge",
    "edge-tomb",
];

/// A pin just inside the bounds: accepted, so it must lose to the edit.
const INSIDE: i64 = MAX_FUTURE_DRIFT_MS - 5_000;

fn snippet_pin(id: &str, t0: i64, thief: &str) -> Record {
    let h = Some("h".to_string());
    match id {
        "far" => Record::new(id, h, i64::MAX, None, thief, json!({"text": "pinned"})),
        "far-tomb" => Record::tombstone(id, h, i64::MAX, None, thief),
        "edge" => Record::new(id, h, t0 + INSIDE, None, thief, json!({"text": "pinned"})),
        "edge-tomb" => Record::tombstone(id, h, t0 + INSIDE, None, thief),
        _ => unreachable!(),
    }
}

fn memory_pin(id: &str, t0: i64, thief: &str) -> Record {
    let fact = || json!({"fact": "pinned"});
    let edge = (t0 + INSIDE) as u64;
    match id {
        "max" => Record::new(id, None, t0, Some(u64::MAX), thief, fact()),
        "max-tomb" => Record::tombstone(id, None, t0, Some(u64::MAX), thief),
        "cap" => Record::new(id, None, t0, Some(MAX_VERSION), thief, fact()),
        "cap-tomb" => Record::tombstone(id, None, t0, Some(MAX_VERSION), thief),
        "far-time" => Record::new(id, None, i64::MAX, Some(2), thief, fact()),
        "edge" => Record::new(id, None, t0 + INSIDE, Some(edge), thief, fact()),
        "edge-tomb" => Record::tombstone(id, None, t0 + INSIDE, Some(edge), thief),
        _ => unreachable!(),
    }
}

/// An edit the way the CLI (and any host) makes one: after whatever the
/// host holds for the key, a tombstone included.
fn edit_snippet(d: &Device, id: &str, text: &str) {
    let cur = d.snippets.get(Some("h"), id);
    let at = next_write_time(cur.as_ref(), now_ms());
    d.snippets.put(Record::new(
        id,
        Some("h".into()),
        at,
        None,
        d.id(),
        json!({ "text": text }),
    ));
}

fn edit_memory(d: &Device, id: &str, fact: &str) {
    let cur = d.memory.get(None, id);
    let at = next_write_time(cur.as_ref(), now_ms());
    let version = next_version(cur.as_ref());
    d.memory.put(Record::new(
        id,
        None,
        at,
        Some(version),
        d.id(),
        json!({ "fact": fact }),
    ));
}

fn text(d: &Device, store: &str, id: &str) -> Option<String> {
    let (s, scope, field) = match store {
        "snippets" => (&d.snippets, Some("h"), "text"),
        _ => (&d.memory, None, "fact"),
    };
    s.get(scope, id)
        .filter(|r| !r.deleted)
        .and_then(|r| r.body)
        .and_then(|b| b.to_value()[field].as_str().map(String::from))
}

fn rejected_codes(d: &Device) -> BTreeSet<(String, String)> {
    d.events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::RecordRejected { id, code, .. } => Some((id, code)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_revoked_devices_pins_are_refused_or_lose_to_an_ordinary_edit_everywhere() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let b = Device::new(&relay, "b");
    let thief = Device::new(&relay, "stolen");
    let t0 = now_ms();
    for id in SNIPPET_PINS {
        a.add_snippet("h", id, "original", t0 - 60_000);
    }
    for id in MEMORY_PINS {
        a.put_memory(id, "original", 1, t0 - 60_000);
    }
    a.sync();
    b.sync();
    thief.sync();
    assert_eq!(text(&b, "memory", "cap").as_deref(), Some("original"));

    // The thief pins every key, and writes one ordinary record in the same
    // bundle: the rest of a bundle still applies.
    let tid = thief.id();
    for id in SNIPPET_PINS {
        thief.snippets.put(snippet_pin(id, t0, &tid));
    }
    for id in MEMORY_PINS {
        thief.memory.put(memory_pin(id, t0, &tid));
    }
    thief.add_snippet("h", "ordinary", "from the thief", t0);
    thief.sync();

    let report = a.sync();
    let refused: BTreeSet<(String, String)> = [
        ("far", "future_timestamp"),
        ("far-tomb", "future_timestamp"),
        ("far-time", "future_timestamp"),
        ("max", "version_too_large"),
        ("max-tomb", "version_too_large"),
        ("cap", "version_ahead_of_time"),
        ("cap-tomb", "version_ahead_of_time"),
    ]
    .into_iter()
    .map(|(i, c)| (i.to_string(), c.to_string()))
    .collect();
    assert_eq!(rejected_codes(&a), refused);
    assert_eq!(report.rejected_records, refused.len() as u64);
    // Refused pins changed nothing; the rest of the bundle applied.
    for id in ["far", "far-tomb"] {
        assert_eq!(
            text(&a, "snippets", id).as_deref(),
            Some("original"),
            "{id}"
        );
    }
    for id in ["max", "max-tomb", "cap", "cap-tomb", "far-time"] {
        assert_eq!(text(&a, "memory", id).as_deref(), Some("original"), "{id}");
    }
    assert_eq!(
        a.snippet_text("h", "ordinary").as_deref(),
        Some("from the thief")
    );
    // Pins inside the bounds were accepted (and will lose to an edit).
    assert_eq!(text(&a, "snippets", "edge").as_deref(), Some("pinned"));
    assert_eq!(text(&a, "snippets", "edge-tomb"), None);
    assert_eq!(text(&a, "memory", "edge").as_deref(), Some("pinned"));
    assert_eq!(text(&a, "memory", "edge-tomb"), None);

    // The laptop is reported stolen: revoked from a live device.
    a.engine.revoke(&tid).unwrap();
    assert!(matches!(thief.engine.sync_now(), Err(SyncError::Revoked)));

    // B pulls the pins, then edits every pinned key the ordinary way.
    b.sync();
    assert_eq!(text(&b, "memory", "edge").as_deref(), Some("pinned"));
    for id in SNIPPET_PINS {
        edit_snippet(&b, id, "won back");
    }
    for id in MEMORY_PINS {
        edit_memory(&b, id, "won back");
    }
    b.sync();
    a.sync();
    assert!(rejected_codes(&b).iter().all(|(id, _)| id != "ordinary"));

    // A device that joins now replays every blob, the thief's included.
    let c = Device::new(&relay, "c");
    c.sync();
    assert_eq!(
        rejected_codes(&c),
        refused,
        "the new device decides the same"
    );
    for d in [&a, &b, &c] {
        for id in SNIPPET_PINS {
            assert_eq!(
                text(d, "snippets", id).as_deref(),
                Some("won back"),
                "{}: snippet {id}",
                d.name
            );
        }
        for id in MEMORY_PINS {
            assert_eq!(
                text(d, "memory", id).as_deref(),
                Some("won back"),
                "{}: memory {id}",
                d.name
            );
            let v = d.memory.get(None, id).unwrap().version.unwrap();
            assert!(v <= MAX_VERSION, "{}: memory {id} at version {v}", d.name);
        }
    }
    assert_eq!(visible_state(&a), visible_state(&b));
    assert_eq!(visible_state(&a), visible_state(&c));
}

#[test]
fn a_record_stamped_past_the_drift_is_refused_then_delivered_once_time_catches_up() {
    // The honest case the bound also touches: a clock more than the drift
    // fast. Its write is refused (with a code), the writer keeps it, and it
    // is not lost: a later checkpoint carries it again and, stamped no more
    // than the drift ahead of that blob, it applies.
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let fast = Device::with_options(&relay, "fast", RECEIPT, 0, 1);
    fast.add_snippet("h", "first", "x", now_ms());
    fast.sync(); // the key is ready and the device registered: pushes are quick
    let t0 = now_ms();
    // Past the bound of a blob pushed within 3 s, inside the bound of one
    // pushed more than 4 s later (the relay's `createdAt` is in seconds).
    let at = t0 + MAX_FUTURE_DRIFT_MS + 3_000;
    fast.add_snippet("h", "ahead", "from the fast clock", at);
    fast.sync();
    assert!(
        now_ms() < t0 + 3_000,
        "the push took too long for this test"
    );
    a.sync();
    assert_eq!(a.snippet_text("h", "ahead"), None);
    assert!(rejected_codes(&a).contains(&("ahead".into(), "future_timestamp".into())));
    std::thread::sleep(std::time::Duration::from_millis(4_100));
    // Every push of `fast` is a checkpoint (checkpoint_every = 1).
    fast.add_snippet("h", "nudge", "x", now_ms());
    fast.sync();
    a.sync();
    assert_eq!(
        a.snippet_text("h", "ahead").as_deref(),
        Some("from the fast clock")
    );
}
