//! `azmx-sync service install|uninstall|status` on Linux: the systemd user
//! unit is written where the user manager looks (XDG_CONFIG_HOME), 0600,
//! running this binary's `sync --watch` for this state directory, and
//! `systemd-analyze --user verify` accepts it without a warning (skipped,
//! with the reason printed, where systemd-analyze is absent). Install
//! refuses when no key is kept in the secret store, unless --force. Nothing
//! is enabled or started.
#![cfg(target_os = "linux")]

mod common;

use std::path::Path;
use std::process::Command;

use common::{add_license, base_cmd, init_args, run_cmd, start_relay, Out, Receipt, BIN};

const LID: &str = "lic_service";
const RECEIPT: &str = "AZR1-K7M3-Q8XW-2TNB-HJ4R-CV6Y-EZ9P-FA5G-8GTM";

fn run(home: &Path, args: &[&str], r: Receipt) -> Out {
    let mut c = base_cmd();
    c.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("AZMX_MEMORY_DIR")
        // No secret store for these runs: the key is never kept here.
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", home.join("no-bus").display()),
        )
        .args(args);
    run_cmd(c, r)
}

#[test]
fn install_writes_a_unit_systemd_accepts_and_uninstall_removes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home dir");
    std::fs::create_dir_all(&home).unwrap();
    let state = tmp.path().join("state 50%");
    let state_s = state.to_str().unwrap();
    let license_key = add_license(&tmp.path().join("relay"), LID);
    let relay = start_relay(&tmp.path().join("relay"), "127.0.0.1:0");
    let unit = home.join("config/systemd/user/azmx-sync.service");

    // Not initialised: exit 6, nothing written.
    run(
        &home,
        &["--state-dir", state_s, "service", "install"],
        Receipt::None,
    )
    .code(6);
    let mut init = vec!["--state-dir", state_s];
    init.extend(init_args(
        &relay.url,
        LID,
        &license_key,
        &["--name", "laptop"],
    ));
    run(&home, &init, Receipt::Env(RECEIPT)).ok();
    // No key kept: the service could not run unattended.
    let out = run(
        &home,
        &["--state-dir", state_s, "service", "install"],
        Receipt::None,
    );
    out.code(3);
    assert!(
        out.stderr.contains("no key of this device is kept"),
        "{out:#?}"
    );
    assert!(!unit.exists());

    let out = run(
        &home,
        &[
            "--state-dir",
            state_s,
            "service",
            "install",
            "--force",
            "--interval",
            "120",
        ],
        Receipt::None,
    );
    out.ok();
    assert!(
        out.stdout.contains("systemctl --user daemon-reload"),
        "{out:#?}"
    );
    let text = std::fs::read_to_string(&unit).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&unit).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let exe = Path::new(BIN).canonicalize().unwrap();
    let state_abs = state.canonicalize().unwrap();
    let exec = format!(
        "ExecStart=\"{}\" \"sync\" \"--watch\" \"--interval\" \"120\" \"--state-dir\" \"{}\"",
        exe.display(),
        state_abs.display().to_string().replace('%', "%%")
    );
    assert!(text.lines().any(|l| l == exec), "{exec}\n{text}");
    assert!(text.lines().any(|l| l == "Restart=on-failure"));

    systemd_verify(&unit, tmp.path());

    let out = run(
        &home,
        &["--json", "--state-dir", state_s, "service", "status"],
        Receipt::None,
    );
    out.ok();
    let v = out.json();
    assert_eq!(v["installed"], true);
    assert_eq!(v["keyRemembered"], false);
    assert_eq!(v["path"], unit.to_str().unwrap());

    run(
        &home,
        &["--state-dir", state_s, "service", "uninstall"],
        Receipt::None,
    )
    .ok();
    assert!(!unit.exists());
    let out = run(
        &home,
        &["--json", "--state-dir", state_s, "service", "status"],
        Receipt::None,
    );
    assert_eq!(out.json()["installed"], false);
    let out = run(&home, &["--json", "service", "uninstall"], Receipt::None);
    assert_eq!(out.json()["removed"], false);
}

/// `systemd-analyze --user verify UNIT`: exit 0 and no warning (it exits 0
/// on unknown keys, so its output counts too).
fn systemd_verify(unit: &Path, tmp: &Path) {
    let runtime = tmp.join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    let out = match Command::new("systemd-analyze")
        .args(["--user", "verify"])
        .arg(unit)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped systemd-analyze verify: systemd-analyze not runnable here ({e})");
            return;
        }
    };
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{said}"
    );
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify warned:\n{said}"
    );
}
