//! Crash safety: the device process is aborted at each step of a cycle in
//! turn; after a restart a further cycle converges, nothing lost, nothing
//! duplicated.

use std::process::Command;

use azmx_sync_e2e::*;

const POINTS: &[&str] = &[
    "after-outbox-blob",
    "before-push",
    "after-push",
    "before-apply",
    "after-apply",
];

#[test]
fn killed_at_every_step_then_restarted_converges() {
    let relay = RelayFixture::start();
    let peer = Device::new(&relay, "peer");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = dir.path().join("snippets.json");
    let bin = env!("CARGO_BIN_EXE_crash_device");
    let run = |crash: Option<&str>, extra: &[&str]| {
        let mut c = Command::new(bin);
        c.arg(&state)
            .arg(&store)
            .arg(relay.url())
            .arg(&relay.license_id)
            .arg(&relay.license_key);
        c.args(extra);
        match crash {
            Some(p) => c.env("AZMX_CRASH_AT", p),
            None => c.env_remove("AZMX_CRASH_AT"),
        };
        c.output().unwrap()
    };
    assert!(run(None, &[]).status.success());
    let mut expected = Vec::new();
    for (i, point) in POINTS.iter().enumerate() {
        // Give the pull side something to apply on every round.
        peer.add_snippet(
            "h",
            &format!("peer-{i}"),
            &format!("peer text {i}"),
            now_ms(),
        );
        peer.sync();
        let id = format!("crash-{i}");
        let out = run(
            Some(point),
            &["add", &id, &format!("written before crash at {point}")],
        );
        assert!(
            !out.status.success(),
            "{point}: the process must have been killed"
        );
        expected.push(id);
        let out = run(None, &[]);
        assert!(
            out.status.success(),
            "{point}: restart failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Converge: the peer sees every record, the crashy device sees the peer's.
    peer.sync();
    for id in &expected {
        assert!(peer.snippet_text("h", id).is_some(), "{id} lost");
    }
    let fs = FileStore {
        path: store.clone(),
    };
    let local = fs.load();
    for i in 0..POINTS.len() {
        assert!(
            local.values().any(|r| r.id == format!("peer-{i}")),
            "peer-{i} missing"
        );
    }
    // Nothing duplicated: seqs are dense per device and no blob is stored twice.
    let db = relay.db();
    let dup: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM (SELECT sha256 FROM blobs GROUP BY sha256 HAVING COUNT(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dup, 0);
    assert_eq!(peer.snippets.live().len(), POINTS.len() * 2);
}
