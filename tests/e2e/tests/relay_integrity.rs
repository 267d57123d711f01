//! Issue 13, item 3: a relay that withholds, reorders or rolls back bundles
//! is detected and surfaced by the reader, which keeps what it has. Real
//! engines talk through a misbehaving proxy (`hostile_relay`) in front of a
//! real relay on loopback; an honest run raises nothing, also after prunes.

mod hostile_relay;

use azmx_sync_core::engine::{EventKind, IntegrityKind, IntegrityProblem, Severity};
use azmx_sync_e2e::*;
use hostile_relay::{Fault, HostileProxy};

/// A device whose relay URL is `url` (the proxy), with its own
/// `checkpoint_every`.
fn device_via(relay: &RelayFixture, url: &str, name: &str, checkpoint_every: u32) -> Device {
    Device::via(relay, url, name, RECEIPT, 0, checkpoint_every)
}

fn problems(d: &Device) -> Vec<IntegrityProblem> {
    d.events()
        .into_iter()
        .filter_map(|e| {
            let severity = e.kind.severity();
            match e.kind {
                EventKind::RelayIntegrity(p) => {
                    assert_eq!(severity, Severity::Error);
                    Some(p)
                }
                _ => None,
            }
        })
        .collect()
}

/// The writer pushes one snippet per sync: `n1`, `n2`, ... as seqs 1, 2, ...
fn push_notes(w: &Device, from: u64, to: u64) {
    for i in from..=to {
        w.add_snippet(
            "work",
            &format!("n{i}"),
            &format!("note {i}"),
            now_ms() + i as i64,
        );
        assert_eq!(w.sync().pushed_seq, Some(i));
    }
}

/// The reader's problem count in `status` and the last problem's kind.
fn status_of(d: &Device) -> (u64, Option<IntegrityKind>) {
    let st = d.engine.status();
    (
        st.integrity_problems,
        st.last_integrity_problem.map(|p| p.problem.kind),
    )
}

#[test]
fn a_dropped_middle_bundle_is_a_gap_and_the_rest_still_applies() {
    let relay = RelayFixture::start();
    let proxy = HostileProxy::start(&relay.url());
    let w = device_via(&relay, &proxy.url, "writer", 16);
    let r = device_via(&relay, &proxy.url, "reader", 16);
    push_notes(&w, 1, 3);
    proxy.arm(Fault::Drop {
        device: w.id(),
        seq: 2,
    });
    r.sync();
    assert_eq!(proxy.applied(), 1, "the proxy dropped seq 2");
    let found = problems(&r);
    assert_eq!(found.len(), 1, "{found:?}");
    let p = &found[0];
    assert_eq!(p.kind, IntegrityKind::Gap);
    assert_eq!(
        (p.device_id.as_str(), p.seq, p.held_seq, p.prev_seq),
        (w.id().as_str(), 3, 1, Some(2))
    );
    assert_eq!(status_of(&r), (1, Some(IntegrityKind::Gap)));
    // What verified applied; only the withheld bundle's record is missing.
    assert_eq!(r.snippet_text("work", "n1").as_deref(), Some("note 1"));
    assert_eq!(r.snippet_text("work", "n3").as_deref(), Some("note 3"));
    assert_eq!(r.snippet_text("work", "n2"), None);
    // Nothing is reported twice, and the next honest listing adds nothing.
    proxy.disarm();
    push_notes(&w, 4, 4);
    r.sync();
    assert_eq!(problems(&r).len(), 1);
    assert_eq!(r.snippet_text("work", "n4").as_deref(), Some("note 4"));
    assert!(w.engine.status().integrity_problems == 0);
}

#[test]
fn two_swapped_bundles_are_one_reorder_and_both_apply() {
    let relay = RelayFixture::start();
    let proxy = HostileProxy::start(&relay.url());
    let w = device_via(&relay, &proxy.url, "writer", 16);
    let r = device_via(&relay, &proxy.url, "reader", 16);
    push_notes(&w, 1, 3);
    proxy.arm(Fault::Swap {
        device: w.id(),
        a: 2,
        b: 3,
    });
    r.sync();
    assert_eq!(proxy.applied(), 1, "the proxy swapped seqs 2 and 3");
    let found = problems(&r);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, IntegrityKind::Reorder);
    assert_eq!((found[0].seq, found[0].held_seq), (2, 3));
    assert_eq!(status_of(&r), (1, Some(IntegrityKind::Reorder)));
    for i in 1..=3 {
        let want = format!("note {i}");
        assert_eq!(r.snippet_text("work", &format!("n{i}")), Some(want));
    }
}

#[test]
fn an_old_checkpoint_after_a_newer_one_is_a_rollback_and_nothing_is_lost() {
    let relay = RelayFixture::start();
    let proxy = HostileProxy::start(&relay.url());
    // Every second push is a checkpoint: 1 (cp), 2, 3 (cp, prunes 1 and 2).
    let w = device_via(&relay, &proxy.url, "writer", 2);
    let r = device_via(&relay, &proxy.url, "reader", 16);
    w.add_snippet("work", "s", "first", now_ms());
    assert_eq!(w.sync().pushed_seq, Some(1));
    r.sync();
    w.add_snippet("work", "s", "second", now_ms() + 10);
    w.sync();
    w.add_snippet("work", "s", "third", now_ms() + 20);
    let rep = w.sync();
    assert_eq!((rep.pushed_seq, rep.checkpoint), (Some(3), true));
    r.sync();
    assert_eq!(r.snippet_text("work", "s").as_deref(), Some("third"));
    assert!(problems(&r).is_empty(), "{:?}", problems(&r));
    // The relay lists checkpoint 1 again, from an earlier answer, and
    // serves its bytes although it pruned them.
    proxy.arm(Fault::Replay {
        item: proxy.recorded(&w.id(), 1),
    });
    r.sync();
    assert_eq!(proxy.applied(), 1);
    let found = problems(&r);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, IntegrityKind::Rollback);
    assert_eq!((found[0].seq, found[0].held_seq), (1, 3));
    assert_eq!(status_of(&r), (1, Some(IntegrityKind::Rollback)));
    // The old checkpoint merged and lost: the newest text stays.
    assert_eq!(r.snippet_text("work", "s").as_deref(), Some("third"));
}

#[test]
fn a_new_device_given_only_an_old_checkpoint_learns_of_it_from_a_peer() {
    let relay = RelayFixture::start();
    let proxy = HostileProxy::start(&relay.url());
    let w = device_via(&relay, &proxy.url, "writer", 1);
    let x = device_via(&relay, &proxy.url, "other", 16);
    w.add_snippet("work", "s", "first", now_ms());
    w.sync();
    x.sync();
    w.add_snippet("work", "s", "second", now_ms() + 10);
    assert_eq!(w.sync().pushed_seq, Some(2));
    // x opens the writer's checkpoint 2, then pushes (claiming it saw 2).
    x.sync();
    x.add_snippet("work", "x", "from x", now_ms() + 20);
    x.sync();
    // A new device: the relay hides checkpoint 2 and serves checkpoint 1.
    let n = device_via(&relay, &proxy.url, "new", 16);
    proxy.arm(Fault::Drop {
        device: w.id(),
        seq: 2,
    });
    let old = proxy.recorded(&w.id(), 1);
    n.sync();
    proxy.arm(Fault::Replay { item: old });
    n.sync();
    let found = problems(&n);
    assert!(
        found.iter().any(|p| p.kind == IntegrityKind::Withheld
            && p.device_id == w.id()
            && p.seq == 2
            && p.claimed_by.as_deref() == Some(x.id().as_str())),
        "{found:?}"
    );
    assert!(n.engine.status().integrity_problems >= 1);
}

#[test]
fn an_honest_relay_raises_nothing_across_prunes_and_late_devices() {
    let relay = RelayFixture::start();
    let proxy = HostileProxy::start(&relay.url());
    let a = device_via(&relay, &proxy.url, "a", 3);
    let b = device_via(&relay, &proxy.url, "b", 2);
    let mut devices = vec![a, b];
    let t0 = now_ms();
    for round in 0..8i64 {
        if round == 4 {
            // Joins after both have pruned.
            devices.push(device_via(&relay, &proxy.url, "late", 2));
        }
        for (i, d) in devices.iter().enumerate() {
            d.add_snippet(
                "work",
                &format!("{}-{round}", d.name),
                "text",
                t0 + round * 10 + i as i64,
            );
            d.put_memory(
                "shared",
                &format!("{} {round}", d.name),
                round as u64 + 1,
                t0 + round * 10,
            );
            d.sync();
        }
    }
    for d in &devices {
        d.sync();
    }
    for d in &devices {
        assert!(problems(d).is_empty(), "{}: {:?}", d.name, problems(d));
        assert_eq!(d.engine.status().integrity_problems, 0);
        assert_eq!(visible_state(d), visible_state(&devices[0]));
    }
    assert!(relay.blob_count() < 8 * 3, "prunes happened");
}
