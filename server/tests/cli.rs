//! The `azmx-sync-relay` binary: `license add`, `serve`, `admin devices`,
//! flags and environment variables.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use azmx_sync_core::DeviceIdentity;
use azmx_sync_test_support::client::{answer, init_body};
use azmx_sync_test_support::{output_ok, printed_key, unix_now, RelayProcess};

const BIN: &str = env!("CARGO_BIN_EXE_azmx-sync-relay");

fn status_of(r: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    let r = answer(r).expect("relay answers");
    (r.status(), r.into_string().unwrap())
}

#[test]
fn license_add_serve_and_admin() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = output_ok(
        Command::new(BIN)
            .args(["license", "add", "lic_cli", "--data-dir"])
            .arg(&data),
    );
    let key = printed_key(&out);
    assert_eq!(
        azmx_sync_core::b64::decode(&key).unwrap().len(),
        32,
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The key is never logged on stderr.
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&key));
    // Duplicate: fails with a message. Data dir from the environment.
    let out = Command::new(BIN)
        .args(["license", "add", "lic_cli"])
        .env("AZMX_RELAY_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    let token = "cli-admin-token-abcdef";
    let mut relay = RelayProcess::spawn(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .env("AZMX_ADMIN_TOKEN", token)
            .env("AZMX_RELAY_LOG_FORMAT", "json")
            .stderr(Stdio::piped()),
    );
    let url = relay.url.clone();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let (s, body) = status_of(ureq::get(&format!("{url}/healthz")).call());
    assert_eq!((s, body.as_str()), (200, r#"{"ok":true}"#));
    let kp = tempfile::tempdir().unwrap();
    let id = DeviceIdentity::create(kp.path().join("k")).unwrap();
    let ts = unix_now();
    let init = init_body("lic_cli", &key, &id, "cli box", ts);
    let sig = init["signature"].as_str().unwrap().to_string();
    let (s, body) =
        status_of(ureq::post(&format!("{url}/sync/init")).send_string(&init.to_string()));
    assert_eq!(s, 201, "{body}");
    let (s, body) = status_of(
        ureq::get(&format!("{url}/admin/licenses/lic_cli/devices"))
            .set("Authorization", &format!("Bearer {token}"))
            .call(),
    );
    assert_eq!(s, 200);
    assert!(body.contains("cli box"), "{body}");

    // A license added while the server runs is usable at once.
    let started = Instant::now();
    let key2 = printed_key(&output_ok(
        Command::new(BIN)
            .args(["license", "add", "lic_live", "--data-dir"])
            .arg(&data),
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
    let id2 = DeviceIdentity::create(kp.path().join("k2")).unwrap();
    let init2 = init_body("lic_live", &key2, &id2, "second", ts);
    let (s, body) =
        status_of(ureq::post(&format!("{url}/sync/init")).send_string(&init2.to_string()));
    assert_eq!(s, 201, "{body}");

    // Offline admin view while the server runs.
    let out = output_ok(
        Command::new(BIN)
            .args(["admin", "devices", "lic_cli", "--data-dir"])
            .arg(&data),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["devices"][0]["name"], "cli box");

    // SIGTERM: graceful exit 0.
    let mut stderr = relay.child().stderr.take().unwrap();
    assert!(relay.terminate().success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
    assert!(err.contains("relay listening"), "{err}");
    assert!(!err.contains(token) && !err.contains(&key) && !err.contains(&sig));
    // JSON logs: every line parses.
    for l in err.lines() {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|_| panic!("not JSON: {l}"));
    }
}

/// `license add --authority-key`, `set-authority-key` and `list`: keys are
/// validated, a license added without one is warned about and listed as
/// "no authority".
#[test]
fn license_authority_commands() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap()
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let key = azmx_sync_core::AuthorityKey::derive("cli receipt", "lic_p")
        .unwrap()
        .public_key()
        .to_string();
    // A typo is refused before anything is created (exit 2, usage).
    let bad = run(&["license", "add", "lic_p", "--authority-key", "not-a-key"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    assert!(text(&bad.stderr).contains("invalid authority key"));
    let out = run(&["license", "add", "lic_p", "--authority-key", &key]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["license", "add", "lic_v1"]);
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("has no authority key"),
        "{}",
        text(&out.stderr)
    );
    let list = text(&run(&["license", "list"]).stdout);
    assert!(list.contains(&format!("lic_p\tauthority {key}")), "{list}");
    assert!(list.contains("lic_v1\tno authority"), "{list}");
    let out = run(&["license", "set-authority-key", "lic_v1", &key]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("key-check blob was deleted"));
    let again = text(&run(&["license", "set-authority-key", "lic_v1", &key]).stdout);
    assert!(again.contains("nothing changed"), "{again}");
    let list = text(&run(&["license", "list"]).stdout);
    assert!(!list.contains("no authority"), "{list}");
    let unknown = run(&["license", "set-authority-key", "lic_nobody", &key]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown.stderr).contains("unknown license"));
}

/// The operator's license rules and device tools: `license add` with a
/// claim window and a cap, `open-claim-window`, `set-max-devices`,
/// `rotate-key`, `device list | revoke`; out-of-bounds values and unknown
/// names exit 2 (usage) with nothing changed.
#[test]
fn license_rule_and_device_commands() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap()
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let out = run(&[
        "license",
        "add",
        "lic_w",
        "--authority-claim-window",
        "3600",
        "--max-devices",
        "2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
    let key = printed_key(&out);
    let list = text(&run(&["license", "list"]).stdout);
    assert!(
        list.contains("lic_w\tno authority yet, claim window until "),
        "{list}"
    );
    assert!(list.contains("\tmax 2 devices"), "{list}");
    // --no-authority: v1 on purpose, no warning.
    let out = run(&["license", "add", "lic_v1", "--no-authority"]);
    assert!(out.status.success() && !text(&out.stderr).contains("warning"));
    for bad in [
        &["license", "open-claim-window", "lic_v1", "0"][..],
        &["license", "open-claim-window", "lic_v1", "99999999"],
        &["license", "open-claim-window", "lic_nobody", "60"],
        &["license", "set-max-devices", "lic_v1", "0"],
        &["license", "set-max-devices", "lic_v1", "lots"],
        &["license", "rotate-key", "lic_nobody"],
        &["device", "revoke", "lic_v1", "dev_nobody"],
    ] {
        let out = run(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out.stderr));
    }
    let out = run(&["license", "open-claim-window", "lic_v1", "60"]);
    assert!(
        text(&out.stdout).contains("claim window open until"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["license", "set-max-devices", "lic_w", "none"]);
    assert!(
        text(&out.stdout).contains("no device cap"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["license", "rotate-key", "lic_w"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let new = printed_key(&out);
    assert_ne!(new, key);
    assert_eq!(azmx_sync_core::b64::decode(&new).unwrap().len(), 32);
    assert!(!text(&out.stderr).contains(&new));

    // A v1 device registered straight on the store, then revoked by the
    // operator.
    let s = azmx_sync_relay::SqliteStorage::open(&data).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let reg = rt
        .block_on(azmx_sync_relay::storage::Storage::register_device(
            &s,
            azmx_sync_relay::storage::NewDevice {
                license_id: "lic_v1".into(),
                device_id: "dev_cli".into(),
                public_key: "pk".into(),
                name: "box".into(),
                now: 1,
            },
        ))
        .unwrap();
    assert!(reg.created);
    drop(s);
    let listed = text(&run(&["device", "list", "lic_v1"]).stdout);
    assert!(listed.contains("\"revoked\":false"), "{listed}");
    let out = run(&["device", "revoke", "lic_v1", "dev_cli"]);
    assert!(
        text(&out.stdout).contains("device dev_cli revoked"),
        "{}",
        text(&out.stderr)
    );
    let listed = text(&run(&["device", "list", "lic_v1"]).stdout);
    assert!(listed.contains("\"revoked\":true"), "{listed}");
}
