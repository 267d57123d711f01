//! Unattended sync with the OS secret store, against a real Secret Service
//! (GNOME Keyring on D-Bus; `scripts/test.d/45-keyring.sh` starts one in a
//! private session and runs the ignored test here with
//! AZMX_TEST_SECRET_SERVICE=1): `init --remember` keeps the derived key,
//! `sync`, `sync --watch` and `export` then run with no receipt anywhere
//! (stdin closed, no AZMX_RECEIPT), `logout` leaves no entry in the store
//! and `sync` needs the receipt again. Without a Secret Service the CLI
//! says so and asks for the receipt (not ignored: needs none).
#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{add_license, base_cmd, run_cmd, start_relay, Out, Receipt};

const LID: &str = "lic_keyring";
const RECEIPT: &str = "AZR1-K7M3-Q8XW-2TNB-HJ4R-CV6Y-EZ9P-FA5G-8GTM";

/// `azmx-sync --state-dir STATE <args>` with HOME in the test's directory
/// (the memory folder and config paths stay out of the real home).
fn cmd(home: &Path, state: &Path, args: &[&str]) -> Command {
    let mut c = base_cmd();
    c.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("AZMX_MEMORY_DIR")
        .arg("--state-dir")
        .arg(state)
        .args(args);
    c
}

fn run(home: &Path, state: &Path, args: &[&str], r: Receipt) -> Out {
    run_cmd(cmd(home, state, args), r)
}

/// Without a reachable session bus there is no Secret Service.
fn run_without_store(home: &Path, state: &Path, args: &[&str], r: Receipt) -> Out {
    let mut c = cmd(home, state, args);
    c.env(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}", home.join("no-bus").display()),
    )
    .env("XDG_RUNTIME_DIR", home);
    run_cmd(c, r)
}

/// `secret-tool search --all service azmx-sync`: what the store holds for
/// us (attributes and secret), as the store itself reports it.
fn store_entries() -> String {
    let o = Command::new("secret-tool")
        .args(["search", "--all", "--unlock", "service", "azmx-sync"])
        .stdin(Stdio::null())
        .output()
        .expect("secret-tool (libsecret-tools) must be installed");
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The secret of one entry, raw bytes (`secret-tool lookup`).
fn store_secret(account: &str) -> Vec<u8> {
    Command::new("secret-tool")
        .args(["lookup", "service", "azmx-sync", "username", account])
        .stdin(Stdio::null())
        .output()
        .expect("secret-tool")
        .stdout
}

fn init_args<'a>(relay: &'a str, key: &'a str, name: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "--json",
        "init",
        "--relay",
        relay,
        "--license-id",
        LID,
        "--license-key",
        key,
        "--name",
        name,
    ];
    v.extend_from_slice(extra);
    v
}

fn snippet_texts(home: &Path, state: &Path) -> String {
    let out = run(home, state, &["--json", "snippet", "list"], Receipt::None);
    out.ok();
    out.stdout
}

#[test]
#[ignore = "needs a Secret Service: run by scripts/test.d/45-keyring.sh"]
fn a_remembered_key_syncs_unattended_and_logout_leaves_nothing_behind() {
    assert_eq!(
        std::env::var("AZMX_TEST_SECRET_SERVICE").as_deref(),
        Ok("1"),
        "run inside a D-Bus session with an unlocked Secret Service (45-keyring.sh)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let (a, b) = (tmp.path().join("laptop"), tmp.path().join("desktop"));
    let license_key = add_license(&tmp.path().join("relay"), LID);
    let relay = start_relay(&tmp.path().join("relay"), "127.0.0.1:0");
    assert!(
        !store_entries().contains("azmx-sync"),
        "the store holds an azmx-sync entry before the test: {}",
        store_entries()
    );

    // init --remember: the key is in the store, the receipt is not.
    let out = run(
        &home,
        &a,
        &init_args(&relay.url, &license_key, "laptop", &["--remember"]),
        Receipt::Env(RECEIPT),
    );
    out.ok();
    let v = out.json();
    assert_eq!(v["keyRemembered"], true, "{out:#?}");
    let status = run(&home, &a, &["--json", "status"], Receipt::None);
    assert_eq!(status.ok().json()["keyKept"], true, "{status:#?}");
    let account = format!("{LID}/{}", v["deviceId"].as_str().unwrap());
    let entries = store_entries();
    assert!(
        entries.contains(&format!("attribute.username = {account}")),
        "{entries}"
    );
    let secret = store_secret(&account);
    assert_eq!(secret.len(), 32, "the entry holds the 32-byte key");
    assert!(!String::from_utf8_lossy(&secret).contains("AZR1"));
    assert!(!entries.contains(RECEIPT));

    // One-shot sync and export with no receipt anywhere.
    run(
        &home,
        &a,
        &["snippet", "add", "from the laptop"],
        Receipt::None,
    )
    .ok();
    let out = run(&home, &a, &["sync"], Receipt::None);
    out.ok();
    assert!(out.stdout.contains("synced with"), "{out:#?}");
    let export = tmp.path().join("backup.azmx");
    run(
        &home,
        &a,
        &["export", export.to_str().unwrap()],
        Receipt::None,
    )
    .ok();

    // A second device sees it, and writes something back.
    run(
        &home,
        &b,
        &init_args(&relay.url, &license_key, "desktop", &[]),
        Receipt::Env(RECEIPT),
    )
    .ok();
    run(&home, &b, &["sync"], Receipt::Env(RECEIPT)).ok();
    assert!(snippet_texts(&home, &b).contains("from the laptop"));
    run(
        &home,
        &b,
        &["snippet", "add", "from the desktop"],
        Receipt::None,
    )
    .ok();
    run(&home, &b, &["sync"], Receipt::Env(RECEIPT)).ok();

    // The scheduled loop: no tty, no AZMX_RECEIPT, stdin closed.
    let mut watch = cmd(&home, &a, &["sync", "--watch", "--interval", "30"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("sync ok:") || line.contains("sync failed:") || Instant::now() > deadline {
            break;
        }
    }
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(watch.id() as i32, libc::SIGINT) };
    // Read to the end: its last line goes to a pipe still open.
    seen.extend(lines.map_while(Result::ok));
    let status = watch.wait().unwrap();
    assert!(seen.iter().any(|l| l == "stopped cleanly"), "{seen:#?}");
    assert!(
        seen.iter()
            .any(|l| l.contains("sync ok:") && l.contains("pulled")),
        "{seen:#?}"
    );
    assert!(status.success(), "{status:?} {seen:#?}");
    assert!(snippet_texts(&home, &a).contains("from the desktop"));

    // The store unreachable: said on stderr, then the receipt is asked for
    // (here piped on stdin) and the sync goes on.
    let out = run_without_store(&home, &a, &["sync"], Receipt::Stdin(RECEIPT));
    out.ok();
    assert!(
        out.stderr.contains("cannot read the remembered key"),
        "{out:#?}"
    );

    // logout: no entry left in the store, and sync needs the receipt again.
    let out = run(&home, &a, &["--json", "logout"], Receipt::None);
    out.ok();
    assert_eq!(out.json()["forgotten"], true);
    let entries = store_entries();
    assert!(!entries.contains("azmx-sync"), "{entries}");
    assert!(store_secret(&account).is_empty());
    assert!(!a.join("secret-store.json").exists());
    let status = run(&home, &a, &["--json", "status"], Receipt::None);
    assert_eq!(status.ok().json()["keyKept"], false, "{status:#?}");
    run(&home, &a, &["sync"], Receipt::None).code(3);
    let out = run(&home, &a, &["--json", "logout"], Receipt::None);
    assert_eq!(out.json()["forgotten"], false);

    // login keeps it again (after checking the receipt); a wrong receipt
    // is refused and nothing is stored.
    run(
        &home,
        &a,
        &["login"],
        Receipt::Env("a wrong receipt for this license"),
    )
    .code(3);
    assert!(!store_entries().contains("azmx-sync"));
    run(&home, &a, &["login"], Receipt::Env(RECEIPT)).ok();
    run(&home, &a, &["sync"], Receipt::None).ok();
    run(&home, &a, &["logout"], Receipt::None).ok();
    assert!(!store_entries().contains("azmx-sync"));
}

#[test]
fn without_a_secret_service_init_remember_says_so_and_the_receipt_is_asked_for() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let a = tmp.path().join("laptop");
    let license_key = add_license(&tmp.path().join("relay"), LID);
    let relay = start_relay(&tmp.path().join("relay"), "127.0.0.1:0");
    let out = run_without_store(
        &home,
        &a,
        &init_args(&relay.url, &license_key, "laptop", &["--remember"]),
        Receipt::Env(RECEIPT),
    );
    out.ok();
    assert_eq!(out.json()["keyRemembered"], false, "{out:#?}");
    assert!(out.stderr.contains("the key was not kept"), "{out:#?}");
    assert!(out.stderr.contains("Secret Service"), "{out:#?}");
    assert!(!a.join("secret-store.json").exists());
    // sync then asks for the receipt like a device that never asked.
    run_without_store(&home, &a, &["sync"], Receipt::None).code(3);
    run_without_store(&home, &a, &["sync"], Receipt::Stdin(RECEIPT)).ok();
    // login cannot do its one job: an error, not a warning.
    let out = run_without_store(&home, &a, &["login"], Receipt::Env(RECEIPT));
    out.code(1);
    assert!(out.stderr.contains("Secret Service"), "{out:#?}");
    // The service refuses to install a unit that could not run unattended.
    let out = run_without_store(&home, &a, &["service", "install"], Receipt::None);
    out.code(3);
    assert!(!home.join(".config/systemd/user/azmx-sync.service").exists());
}
