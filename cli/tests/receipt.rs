//! `azmx-sync receipt new|check` and how `init`/`sync` treat a receipt:
//! a typo in an AZR1 receipt is refused before the KDF and before anything
//! is created or registered; a weak receipt is warned about, not refused; a
//! vendor's receipt is never refused for its form.
#![cfg(unix)]

mod common;

use std::path::Path;

use common::{add_license, init, run_raw, start_relay, Out, Receipt};
use serde_json::Value;

const LID: &str = "lic_receipt";
/// From tests/vectors/receipt-v1.json: typos in it are located the same way
/// on every run (a generated one could, ~0.1% of the time, leave a typo
/// unlocated).
const FIXED: &str = "AZR1-K7M3-Q8XW-2TNB-HJ4R-CV6Y-EZ9P-FA5G-8GTM";

fn new_receipt() -> String {
    let out = run_raw(&["receipt", "new"], Receipt::None);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stderr.is_empty(), "{out:#?}");
    // Exactly one line, and nothing else on stdout.
    assert_eq!(out.stdout.lines().count(), 1, "{out:#?}");
    assert!(out.stdout.ends_with('\n'));
    out.stdout.trim_end().to_string()
}

/// Replaces character `i` of `r` by a different alphabet character.
fn typo_at(r: &str, i: usize) -> String {
    let c = if &r[i..=i] == "7" { "8" } else { "7" };
    format!("{}{c}{}", &r[..i], &r[i + 1..])
}

#[test]
fn receipt_new_prints_one_strong_receipt_and_nothing_else() {
    let a = new_receipt();
    let b = new_receipt();
    assert_ne!(a, b);
    for r in [&a, &b] {
        let groups: Vec<&str> = r.split('-').collect();
        assert_eq!(groups.len(), 9, "{r}");
        assert_eq!(groups[0], "AZR1");
        for g in &groups[1..] {
            assert_eq!(g.len(), 4);
            assert!(g
                .bytes()
                .all(|c| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&c)));
        }
    }
    let out = run_raw(&["--json", "receipt", "new"], Receipt::None);
    assert_eq!(out.code, 0, "{out:#?}");
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(v["receipt"].as_str().unwrap().starts_with("AZR1-"));
}

#[test]
fn receipt_check_says_ok_typo_or_weak() {
    let r = new_receipt();
    // ok, from the environment and from stdin.
    let out = run_raw(&["receipt", "check"], Receipt::Env(&r));
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.starts_with("ok AZR1 receipt"), "{out:#?}");
    let out = run_raw(&["receipt", "check"], Receipt::Stdin(&format!("  {r}  ")));
    assert_eq!(out.code, 0, "{out:#?}");
    let out = run_raw(&["--json", "receipt", "check"], Receipt::Env(&r));
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["format"], "azr1");
    assert_eq!(v["verdict"], "ok");
    assert_eq!(v["estimatedBits"], 140);

    // A typo in group 3 (characters 10..14): exit 3, the group named, the
    // text nowhere.
    let typo = typo_at(FIXED, 11);
    let out = run_raw(&["receipt", "check"], Receipt::Env(&typo));
    assert_eq!(out.code, 3, "{out:#?}");
    assert!(out.stdout.is_empty(), "{out:#?}");
    assert!(out.stderr.contains("group 3"), "{out:#?}");
    for g in typo.split('-').skip(1).chain(FIXED.split('-').skip(1)) {
        assert!(!out.stderr.contains(g), "leaks {g}: {out:#?}");
    }
    let out = run_raw(&["--json", "receipt", "check"], Receipt::Env(&typo));
    assert_eq!(out.code, 3, "{out:#?}");
    let e: Value = serde_json::from_str(out.stderr.trim()).unwrap();
    assert_eq!(e["error"]["exitCode"], 3);

    // A lower-cased AZR1 receipt is refused, not silently upper-cased.
    let out = run_raw(&["receipt", "check"], Receipt::Env(&r.to_lowercase()));
    assert_eq!(out.code, 3, "{out:#?}");
    assert!(out.stderr.contains("lower case"), "{out:#?}");

    // Weak: said, with the reason, and not an error.
    for (weak, why) in [
        ("hunter2", "characters long"),
        ("aaaaaaaaaaaaaaaaaaaaaaaa", "repeated"),
        ("abcdefghijklmnopqrstuvwxyz", "common sequence"),
    ] {
        let out = run_raw(&["receipt", "check"], Receipt::Env(weak));
        assert_eq!(out.code, 0, "{out:#?}");
        assert!(out.stdout.starts_with("weak:"), "{out:#?}");
        assert!(out.stdout.contains(why), "{why}: {out:#?}");
        assert!(!out.stdout.contains(weak), "{out:#?}");
    }
    let out = run_raw(&["--json", "receipt", "check"], Receipt::Env("hunter2"));
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "weak");
    assert_eq!(v["weakness"], "too_short");

    // A vendor's receipt: taken as given.
    let out = run_raw(
        &["receipt", "check"],
        Receipt::Env("RCPT-CLI-7F3A-99C2-44D1"),
    );
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.starts_with("ok not an AZR1 receipt"), "{out:#?}");

    // Never a command-line argument.
    assert_eq!(run_raw(&["receipt", "check", &r], Receipt::None).code, 2);
}

/// An unreachable relay: whatever reaches the network fails with exit 4,
/// so exit 3 proves the receipt was refused first.
fn init_offline(state: &Path, receipt: &str) -> Out {
    let state = state.to_str().unwrap();
    init(
        state,
        "http://127.0.0.1:1",
        LID,
        "k",
        &[],
        Receipt::Env(receipt),
    )
}

#[test]
fn init_refuses_a_typo_before_creating_anything_and_warns_on_weak() {
    let tmp = tempfile::tempdir().unwrap();
    let r = new_receipt();

    let state = tmp.path().join("typo");
    let out = init_offline(&state, &typo_at(FIXED, 41));
    assert_eq!(out.code, 3, "{out:#?}");
    assert!(out.stderr.contains("group 9"), "{out:#?}");
    assert!(!state.exists(), "a refused receipt created {state:?}");

    // Weak: a warning on stderr, then init goes on (to the relay: exit 4).
    let state = tmp.path().join("weak");
    let out = init_offline(&state, "hunter2");
    assert_eq!(out.code, 4, "{out:#?}");
    assert!(out.stderr.contains("warning:"), "{out:#?}");
    assert!(out.stderr.contains("weak"), "{out:#?}");
    assert!(!out.stderr.contains("hunter2"), "{out:#?}");

    // Strong receipts, ours or a vendor's: no warning.
    for (i, strong) in [r.as_str(), "RCPT-CLI-7F3A-99C2-44D1"].iter().enumerate() {
        let out = init_offline(&tmp.path().join(format!("strong{i}")), strong);
        assert_eq!(out.code, 4, "{out:#?}");
        assert!(!out.stderr.contains("weak"), "{out:#?}");
    }
}

#[test]
fn an_azr1_receipt_sets_up_a_license_and_typos_stop_before_the_kdf() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let key = add_license(&data, LID);
    let mut relay = start_relay(&data, "127.0.0.1:0");
    let r = FIXED;
    let state = tmp.path().join("laptop");
    let state = state.to_str().unwrap();
    let out = init(state, &relay.url, LID, &key, &[], Receipt::Env(r));
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(!out.stderr.contains("weak"), "{out:#?}");

    // `sync` (like export and import) refuses the typo before deriving.
    let out = run_raw(
        &["--state-dir", state, "sync"],
        Receipt::Env(&typo_at(r, 16)),
    );
    assert_eq!(out.code, 3, "{out:#?}");
    assert!(
        out.stderr.contains("typo") && out.stderr.contains("group 4"),
        "{out:#?}"
    );
    let out = run_raw(&["--state-dir", state, "sync"], Receipt::Env(r));
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(relay.terminate().success());
}
