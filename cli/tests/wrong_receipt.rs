//! `init` against a license with an authority key (PROTOCOL §11.5): a
//! receipt whose authority key is not the license's is refused with both
//! fingerprints (so a claim that went to someone else's key is visible),
//! nothing is saved; a relay that later answers another key is shown by
//! `status` as a relay-integrity problem.
#![cfg(unix)]

mod common;

use common::{add_license, run_raw, start_relay, Out, Receipt};

const LID: &str = "lic_fingerprints";
const RIGHT: &str = "correct horse battery staple";
const OTHER: &str = "a receipt of somebody else entirely";

/// `azmx-sync --json authority-key`: (public key, fingerprint) of `receipt`.
fn authority(receipt: &str) -> (String, String) {
    let out = run_raw(
        &["--json", "authority-key", "--license-id", LID],
        Receipt::Env(receipt),
    );
    out.ok();
    let v = out.json();
    (
        v["authorityKey"].as_str().unwrap().to_string(),
        v["fingerprint"].as_str().unwrap().to_string(),
    )
}

#[test]
fn a_wrong_receipt_names_both_fingerprints_and_status_shows_a_changed_key() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let data_s = data.to_str().unwrap();
    let (right_key, right_fp) = authority(RIGHT);
    let (other_key, other_fp) = authority(OTHER);
    // A license created without a key, then given the right one.
    let license_key = add_license(&data, LID);
    run_raw(
        &[
            "relay",
            "license",
            "set-authority-key",
            LID,
            &right_key,
            "--data-dir",
            data_s,
        ],
        Receipt::None,
    )
    .ok();
    let mut relay = start_relay(&data, "127.0.0.1:0");
    let init = |state: &str, receipt: &str| -> Out {
        common::init(
            state,
            &relay.url,
            LID,
            &license_key,
            &["--name", "laptop"],
            Receipt::Env(receipt),
        )
    };

    let intruder = tmp.path().join("intruder");
    let out = init(intruder.to_str().unwrap(), OTHER);
    out.code(3);
    assert!(
        out.stderr.contains(&right_fp) && out.stderr.contains(&other_fp),
        "{out:#?}"
    );
    assert!(!out.all().contains(OTHER), "never the receipt: {out:#?}");
    assert!(!intruder.join("engine-state.json").exists());

    let laptop = tmp.path().join("laptop");
    let laptop = laptop.to_str().unwrap();
    init(laptop, RIGHT).ok();
    let status = run_raw(&["--state-dir", laptop, "status"], Receipt::None);
    assert!(
        status.ok().stdout.contains("no relay problem seen"),
        "{status:#?}"
    );

    // The relay now answers another key: the next `init` is refused and
    // `status` names the change.
    run_raw(
        &[
            "relay",
            "license",
            "set-authority-key",
            LID,
            &other_key,
            "--data-dir",
            data_s,
        ],
        Receipt::None,
    )
    .ok();
    init(laptop, RIGHT).code(3);
    let status = run_raw(&["--state-dir", laptop, "status"], Receipt::None);
    let text = status.ok().stdout.clone();
    assert!(
        text.contains("authorityChanged") && text.contains(&other_fp) && text.contains(&right_fp),
        "{status:#?}"
    );
    let json = run_raw(&["--json", "--state-dir", laptop, "status"], Receipt::None);
    let v = json.ok().json();
    assert_eq!(v["integrityProblems"], 1);
    assert_eq!(v["lastIntegrityProblem"]["kind"], "authorityChanged");
    assert!(relay.terminate().success());
}
