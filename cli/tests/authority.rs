//! `azmx-sync authority-key`: the license authority public key of a
//! receipt (PROTOCOL §11), the one in `tests/vectors/wire-v2.json`; the
//! receipt is read as `init` reads it and never printed; nothing is
//! created in the state directory.
#![cfg(unix)]

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_azmx-sync");
/// `authority_derivation[0]` of tests/vectors/wire-v2.json.
const RECEIPT: &str = "correct horse battery staple";
const LID: &str = "lic_0001";
const KEY: &str = "krpLanc3E4ujZPX4Vq0k8wSfxSy0WVBDUGDho_lEvuQ";

fn run(args: &[&str], receipt_env: Option<&str>, state: &std::path::Path) -> Output {
    let mut c = Command::new(BIN);
    for v in ["AZMX_RECEIPT", "AZMX_LICENSE_ID", "AZMX_STATE_DIR"] {
        c.env_remove(v);
    }
    if let Some(r) = receipt_env {
        c.env("AZMX_RECEIPT", r);
    }
    c.env("AZMX_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn prints_the_vectors_key_and_nothing_secret() {
    let d = tempfile::tempdir().unwrap();
    let state = d.path().join("state");
    let out = run(
        &["authority-key", "--license-id", LID],
        Some(&format!("  {RECEIPT}\n")),
        &state,
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stdout, format!("{KEY}\n"));
    assert!(
        stderr.contains(&format!("--authority-key {KEY}")),
        "{stderr}"
    );
    assert!(!stdout.contains(RECEIPT) && !stderr.contains(RECEIPT));
    assert!(!state.exists(), "nothing is written");

    let file = d.path().join("receipt");
    std::fs::write(&file, format!("{RECEIPT}\n")).unwrap();
    let out = run(
        &[
            "--json",
            "authority-key",
            "--license-id",
            LID,
            "--receipt-file",
            file.to_str().unwrap(),
        ],
        None,
        &state,
    );
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["authorityKey"], KEY);
    assert_eq!(v["licenseId"], LID);
    assert_eq!(v["fingerprint"].as_str().unwrap().len(), 19);
}

#[test]
fn refuses_a_bad_license_id_and_an_empty_receipt() {
    let d = tempfile::tempdir().unwrap();
    let out = run(
        &["authority-key", "--license-id", "a|b"],
        Some(RECEIPT),
        d.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = run(
        &["authority-key", "--license-id", LID],
        Some(" \n"),
        d.path(),
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
}
