//! The `azmx-sync` binary driven as a user would: spawned processes, a real
//! relay (`azmx-sync relay serve`) on loopback, state in temp directories.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use azmx_sync_test_support::RelayProcess;
use common::{
    add_license, base_cmd, init, init_args, run_raw, start_relay, start_relay_args, Out, Receipt,
};
use serde_json::Value;

const RECEIPT: &str = "RCPT-CLI-7F3A-99C2-44D1";
const LID: &str = "lic_cli";

/// Sends a signal the way a terminal (Ctrl-C) or a service manager would.
fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: plain kill(2) on a child we spawned and have not reaped.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// SIGTERM, then wait: the relay stops cleanly.
fn stop(relay: &mut RelayProcess) {
    let status = relay.terminate();
    assert!(status.success(), "relay exit: {status:?}");
}

/// A relay with one license, and devices in one temp directory. Keeps every
/// output so the receipt leak test can grep them all.
struct Env {
    tmp: tempfile::TempDir,
    relay: RelayProcess,
    key: String,
    outputs: Mutex<Vec<String>>,
}

impl Env {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("relay");
        let key = add_license(&data, LID);
        let relay = start_relay(&data, "127.0.0.1:0");
        Self {
            tmp,
            relay,
            key,
            outputs: Mutex::new(Vec::new()),
        }
    }

    fn relay_dir(&self) -> PathBuf {
        self.tmp.path().join("relay")
    }

    fn dir(&self, device: &str) -> PathBuf {
        self.tmp.path().join(device)
    }

    fn run(&self, device: &str, args: &[&str], receipt: Receipt) -> Out {
        let dir = self.dir(device);
        let mut all = vec!["--state-dir", dir.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = run_raw(&all, receipt);
        self.outputs.lock().unwrap().push(out.all());
        out
    }

    /// A device command with the right receipt in the environment.
    fn cli(&self, device: &str, args: &[&str]) -> Out {
        self.run(device, args, Receipt::Env(RECEIPT))
    }

    fn json(&self, device: &str, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.cli(device, &a);
        out.ok();
        out.json()
    }

    fn init_with(&self, device: &str, receipt: Receipt) -> Out {
        let args = init_args(&self.relay.url, LID, &self.key, &["--name", device]);
        self.run(device, &args, receipt)
    }

    fn init(&self, device: &str) -> String {
        let out = self.init_with(device, Receipt::Env(RECEIPT));
        out.ok();
        assert!(out.stdout.contains("registered"), "{out:?}");
        self.device_id(device)
    }

    fn device_id(&self, device: &str) -> String {
        self.json(device, &["status"])["deviceId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn sync(&self, device: &str) -> Out {
        let out = self.cli(device, &["sync"]);
        out.ok();
        out
    }

    fn snippet_text(&self, device: &str, id: &str) -> Option<String> {
        self.json(device, &["snippet", "list"])
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s["text"].as_str().unwrap().to_string())
    }

    fn relay_blob_count(&self) -> u64 {
        let out = run_raw(
            &[
                "--json",
                "relay",
                "devices",
                LID,
                "--data-dir",
                self.relay_dir().to_str().unwrap(),
            ],
            Receipt::None,
        );
        out.ok();
        out.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["blobCount"].as_u64().unwrap())
            .sum()
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn file_contains(p: &Path, needle: &str) -> bool {
    let hay = std::fs::read(p).unwrap_or_default();
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

// ------------------------------------------------------------------ tests --

#[test]
fn two_devices_every_store_command_and_sync() {
    let env = Env::new();
    let a_id = env.init("laptop");
    let b_id = env.init("desktop");
    assert_ne!(a_id, b_id);

    // Snippets: add (given and generated ids), edit, rm, list.
    let s1 = env.json(
        "laptop",
        &[
            "snippet",
            "add",
            "--id",
            "s1",
            "--handle",
            "work",
            "Alpha text",
        ],
    );
    assert_eq!(s1["handle"], "work");
    let beta = env.json("laptop", &["snippet", "add", "Beta text"]);
    let beta_id = beta["id"].as_str().unwrap().to_string();
    assert_eq!(beta["handle"], "default");
    env.cli(
        "laptop",
        &["snippet", "add", "--id", "s1", "--handle", "work", "again"],
    )
    .code(2);
    env.cli("laptop", &["snippet", "edit", "s1", "Alpha edited"])
        .ok();
    env.cli("laptop", &["snippet", "rm", &beta_id]).ok();
    env.cli("laptop", &["snippet", "rm", &beta_id]).code(1);
    let human = env.cli("laptop", &["snippet", "list"]);
    human.ok();
    assert!(human.stdout.starts_with("HANDLE"), "{human:?}");
    assert!(human.stdout.contains("Alpha edited"));
    assert!(!human.stdout.contains("Beta text"));
    let with_deleted = env.json("laptop", &["snippet", "list", "--deleted"]);
    assert_eq!(with_deleted.as_array().unwrap().len(), 2);

    // Todos.
    env.cli(
        "laptop",
        &[
            "todo",
            "set",
            "sess-1",
            r#"[{"id":"1","content":"write tests","status":"in_progress"},"ship it"]"#,
        ],
    )
    .ok();
    env.cli("laptop", &["todo", "set", "sess-2", "not json"])
        .code(2);
    let todos = env.json("laptop", &["todo", "list"]);
    assert_eq!(todos[0]["items"][1]["content"], "ship it");
    assert_eq!(todos[0]["items"][1]["status"], "pending");
    let one = env.cli("laptop", &["todo", "list", "sess-1"]);
    assert!(one.ok().stdout.contains("[>] write tests"), "{one:?}");

    // Memory: put bumps the version.
    env.cli("laptop", &["memory", "put", "editor", "tabs"]).ok();
    let m = env.json("laptop", &["memory", "put", "editor", "spaces"]);
    assert_eq!(m["version"], 2);
    env.cli("laptop", &["memory", "put", "gone", "temporary"])
        .ok();
    let rm = env.json("laptop", &["memory", "rm", "gone"]);
    assert_eq!(rm["version"], 2);
    assert_eq!(rm["deleted"], true);
    let get = env.cli("laptop", &["memory", "get", "editor"]);
    assert_eq!(get.ok().stdout, "spaces\n");
    env.cli("laptop", &["memory", "get", "gone"]).code(1);
    assert_eq!(
        env.json("laptop", &["memory", "list"])
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let status = env.json("laptop", &["status"]);
    assert_eq!(status["unsynced"]["count"], 5, "{status}");

    // Sync, and the desktop sees everything.
    let pushed = env.sync("laptop");
    assert!(pushed.stdout.contains("pushed"), "{pushed:?}");
    let pulled = env.sync("desktop");
    assert!(pulled.stdout.contains("pulled"), "{pulled:?}");
    assert_eq!(
        env.snippet_text("desktop", "s1").as_deref(),
        Some("Alpha edited")
    );
    assert_eq!(
        env.snippet_text("desktop", &beta_id),
        None,
        "the delete synced"
    );
    assert_eq!(
        env.json("desktop", &["todo", "list"])[0]["items"][0]["content"],
        "write tests"
    );
    assert_eq!(
        env.cli("desktop", &["memory", "get", "editor"]).stdout,
        "spaces\n"
    );
    env.cli("desktop", &["memory", "get", "gone"]).code(1);
    assert_eq!(env.json("laptop", &["status"])["unsynced"]["count"], 0);
    let st = env.cli("desktop", &["status"]);
    assert!(st.ok().stdout.contains("last sync"), "{st:?}");

    // Listings for scripts and people.
    let devices = env.json("desktop", &["devices"]);
    let list = devices.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list
        .iter()
        .any(|d| d["deviceId"] == b_id && d["thisDevice"] == true));
    let acts = env.cli("desktop", &["--json", "activity"]);
    let types: Vec<String> = acts
        .ok()
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(types.iter().any(|t| t == "applied"), "{types:?}");
    let human = env.cli("desktop", &["activity", "-n", "5"]);
    assert!(human.ok().stdout.contains("cycleFinished"), "{human:?}");
}

#[test]
fn concurrent_edits_converge_last_write_wins() {
    let env = Env::new();
    env.init("a");
    env.init("b");
    env.cli("a", &["snippet", "add", "--id", "s", "base"]).ok();
    env.sync("a");
    env.sync("b");
    env.cli("a", &["snippet", "edit", "s", "edit from a"]).ok();
    std::thread::sleep(Duration::from_millis(20));
    env.cli("b", &["snippet", "edit", "s", "edit from b"]).ok();
    env.sync("a");
    env.sync("b");
    env.sync("a");
    assert_eq!(env.snippet_text("a", "s").as_deref(), Some("edit from b"));
    assert_eq!(env.snippet_text("b", "s").as_deref(), Some("edit from b"));
    // Memory: the higher version wins whatever the order.
    env.cli("a", &["memory", "put", "k", "a1"]).ok();
    env.cli("a", &["memory", "put", "k", "a2"]).ok();
    env.cli("b", &["memory", "put", "k", "b1"]).ok();
    env.sync("b");
    env.sync("a");
    env.sync("b");
    assert_eq!(env.cli("b", &["memory", "get", "k"]).stdout, "a2\n");
    assert_eq!(env.cli("a", &["memory", "get", "k"]).stdout, "a2\n");
}

#[test]
fn delete_propagates_and_stays_deleted() {
    let env = Env::new();
    env.init("a");
    env.init("b");
    env.cli("a", &["snippet", "add", "--id", "doomed", "v1"])
        .ok();
    env.sync("a");
    env.sync("b");
    // a edits offline; b deletes later.
    env.cli("a", &["snippet", "edit", "doomed", "stale offline edit"])
        .ok();
    std::thread::sleep(Duration::from_millis(20));
    env.cli("b", &["snippet", "rm", "doomed"]).ok();
    env.sync("b");
    env.sync("a");
    env.sync("b");
    env.sync("a");
    assert_eq!(env.snippet_text("a", "doomed"), None);
    assert_eq!(env.snippet_text("b", "doomed"), None);
    let tomb = env.json("a", &["snippet", "list", "--deleted"]);
    assert_eq!(tomb[0]["deleted"], true, "{tomb}");
}

#[test]
fn export_then_import_on_a_fresh_device() {
    let env = Env::new();
    env.init("a");
    env.cli(
        "a",
        &["snippet", "add", "--id", "s", "exported snippet text"],
    )
    .ok();
    env.cli("a", &["memory", "put", "m", "exported fact"]).ok();
    let rfile = env.tmp.path().join("receipt.txt");
    std::fs::write(&rfile, format!("  {RECEIPT}\n")).unwrap();
    let file = env.tmp.path().join("backup.azmx");
    let ex = env.run(
        "a",
        &["export", file.to_str().unwrap()],
        Receipt::File(&rfile),
    );
    assert!(ex.ok().stdout.contains("exported 2 records"), "{ex:?}");
    assert!(!file_contains(&file, "exported snippet text"), "sealed");

    env.init("fresh");
    let im = env.run(
        "fresh",
        &["import", file.to_str().unwrap()],
        Receipt::Stdin(RECEIPT),
    );
    assert!(im.ok().stdout.contains("2 changes applied"), "{im:?}");
    assert_eq!(
        env.snippet_text("fresh", "s").as_deref(),
        Some("exported snippet text")
    );
    assert_eq!(
        env.cli("fresh", &["memory", "get", "m"]).stdout,
        "exported fact\n"
    );
    let again = env.json("fresh", &["import", file.to_str().unwrap()]);
    assert_eq!(again["applied"], 0, "idempotent");
    let wrong = env.run(
        "fresh",
        &["import", file.to_str().unwrap()],
        Receipt::Env("RCPT-NOT-THE-RIGHT-ONE"),
    );
    wrong.code(3);
    assert!(wrong.stderr.contains("wrong recovery receipt"), "{wrong:?}");
}

#[test]
fn revoked_device_stops_with_a_clear_error() {
    let env = Env::new();
    env.init("a");
    let lost = env.init("lost");
    env.cli(
        "lost",
        &["snippet", "add", "--id", "before", "pushed before"],
    )
    .ok();
    env.sync("lost");
    let r = env.cli("a", &["revoke", &lost]);
    assert!(r.ok().stdout.contains("revoked"), "{r:?}");
    let devices = env.json("a", &["devices"]);
    assert!(devices
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["deviceId"] == lost.as_str() && d["revoked"] == true));
    env.cli("lost", &["snippet", "add", "--id", "after", "never leaves"])
        .ok();
    let out = env.cli("lost", &["sync"]);
    out.code(5);
    assert!(out.stderr.contains("revoked"), "{out:?}");
    assert!(out.stderr.contains("what to do:"), "{out:?}");
    // What it pushed before stays readable to the others.
    env.sync("a");
    assert_eq!(
        env.snippet_text("a", "before").as_deref(),
        Some("pushed before")
    );
    assert_eq!(env.snippet_text("a", "after"), None);
}

#[test]
fn wrong_receipt_is_refused_and_changes_nothing() {
    let env = Env::new();
    env.init("a");
    env.cli("a", &["snippet", "add", "--id", "real", "real data"])
        .ok();
    env.sync("a");
    let blobs = env.relay_blob_count();

    // A typo at init: clear error, exit 3.
    let bad = env.init_with("typo", Receipt::Stdin("RCPT-CLI-7F3A-99C2-44D2"));
    bad.code(3);
    assert!(bad.stderr.contains("wrong recovery receipt"), "{bad:?}");
    assert!(bad.stderr.contains("what to do:"), "{bad:?}");
    env.cli("typo", &["snippet", "add", "--id", "mine", "local only"])
        .ok();
    let before = env.json("typo", &["snippet", "list", "--deleted"]);
    let out = env.run("typo", &["sync"], Receipt::Env("RCPT-CLI-7F3A-99C2-44D2"));
    out.code(3);
    assert!(out.stderr.contains("nothing was changed"), "{out:?}");
    assert_eq!(env.json("typo", &["snippet", "list", "--deleted"]), before);
    assert_eq!(env.relay_blob_count(), blobs, "nothing pushed");
    // No receipt at all: exit 3 with the ways to give one.
    let none = env.run("typo", &["sync"], Receipt::None);
    none.code(3);
    assert!(none.stderr.contains("AZMX_RECEIPT"), "{none:?}");
    // The right one works and merges both sides.
    env.sync("typo");
    assert_eq!(
        env.snippet_text("typo", "real").as_deref(),
        Some("real data")
    );
    assert_eq!(
        env.snippet_text("typo", "mine").as_deref(),
        Some("local only")
    );
}

#[test]
fn relay_down_is_a_clear_error_nothing_is_lost_and_it_recovers() {
    let mut env = Env::new();
    env.init("a");
    env.cli("a", &["snippet", "add", "--id", "s1", "first"])
        .ok();
    env.sync("a");
    let addr = env.relay.addr().to_string();
    stop(&mut env.relay);
    env.cli(
        "a",
        &[
            "snippet",
            "add",
            "--id",
            "s2",
            "written while the relay is down",
        ],
    )
    .ok();
    let down = env.cli("a", &["sync"]);
    down.code(4);
    assert!(down.stderr.contains("cannot reach the relay"), "{down:?}");
    assert!(down.stderr.contains("nothing was lost"), "{down:?}");
    let st = env.json("a", &["status"]);
    assert_eq!(st["unsynced"]["count"], 1, "{st}");
    assert_eq!(st["lastCycle"]["ok"], false, "{st}");
    assert_eq!(st["lastCycle"]["errorCode"], "network", "{st}");
    assert_eq!(
        env.snippet_text("a", "s2").as_deref(),
        Some("written while the relay is down")
    );
    let human = env.cli("a", &["status"]);
    assert!(human.stdout.contains("failed (network)"), "{human:?}");
    // Back on the same address and data.
    env.relay = start_relay(&env.relay_dir(), &addr);
    env.sync("a");
    assert_eq!(env.json("a", &["status"])["unsynced"]["count"], 0);
    env.init("b");
    env.sync("b");
    assert_eq!(
        env.snippet_text("b", "s2").as_deref(),
        Some("written while the relay is down")
    );
}

#[test]
fn usage_errors_and_uninitialised_devices() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dev");
    let d = dir.to_str().unwrap();
    let st = run_raw(&["--state-dir", d, "status"], Receipt::None);
    st.code(6);
    assert!(st.stderr.contains("not initialised"), "{st:?}");
    assert!(st.stderr.contains("azmx-sync init"), "{st:?}");
    run_raw(&["--state-dir", d, "snippet", "add", "x"], Receipt::None).code(6);
    run_raw(&["--state-dir", d, "sync"], Receipt::Env(RECEIPT)).code(6);
    let list = run_raw(
        &["--state-dir", d, "--json", "snippet", "list"],
        Receipt::None,
    );
    assert_eq!(list.ok().json(), serde_json::json!([]));
    assert!(!dir.exists(), "a mistyped --state-dir creates nothing");
    // The receipt is not an argument.
    let arg = init(
        d,
        "http://127.0.0.1:1",
        "l",
        "k",
        &["--receipt", "x"],
        Receipt::None,
    );
    arg.code(2);
    run_raw(&["--state-dir", d, "todo", "set", "s", "[1"], Receipt::None).code(2);
    run_raw(&["--state-dir", d, "no-such-command"], Receipt::None).code(2);
    let help = run_raw(&["--help"], Receipt::None);
    assert!(help.ok().stdout.contains("Exit codes:"), "{help:?}");
    // A bad license key is the relay refusing: exit 7.
    let env = Env::new();
    let args = init_args(&env.relay.url, LID, "not-the-key", &["--name", "x"]);
    let out = env.run("x", &args, Receipt::Env(RECEIPT));
    out.code(7);
    assert!(out.stderr.contains("refused the license"), "{out:?}");
    // An unreachable relay at init: exit 4.
    let out = init(
        d,
        "http://127.0.0.1:9",
        LID,
        "k",
        &["--name", "y"],
        Receipt::Env(RECEIPT),
    );
    out.code(4);
}

#[test]
fn relay_commands_with_a_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = tmp.path().join("relay.toml");
    std::fs::write(
        &cfg,
        format!(
            "data-dir = {:?}\nlisten = \"127.0.0.1:0\"\nrate-per-sec = 50.0\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut relay = start_relay_args(&["relay", "serve", "--config", cfg.to_str().unwrap()]);
    assert!(relay.url.starts_with("http://127.0.0.1:"));
    let d = data.to_str().unwrap();
    let add = run_raw(
        &[
            "--json",
            "relay",
            "license",
            "add",
            "lic_x",
            "--data-dir",
            d,
        ],
        Receipt::None,
    );
    let key = add.ok().json()["licenseKey"].as_str().unwrap().to_string();
    assert!(key.len() >= 40);
    let dup = run_raw(
        &["relay", "license", "add", "lic_x", "--data-dir", d],
        Receipt::None,
    );
    dup.code(2);
    assert!(dup.stderr.contains("already exists"), "{dup:?}");
    let none = run_raw(
        &["relay", "devices", "lic_x", "--data-dir", d],
        Receipt::None,
    );
    assert!(none.ok().stdout.contains("no devices"), "{none:?}");
    run_raw(
        &["relay", "devices", "lic_nope", "--data-dir", d],
        Receipt::None,
    )
    .code(2);
    // A device on this relay shows up in the operator's view.
    let dev = tmp.path().join("dev");
    let dev = dev.to_str().unwrap();
    init(
        dev,
        &relay.url,
        "lic_x",
        &key,
        &["--name", "ops-box"],
        Receipt::Env(RECEIPT),
    )
    .ok();
    let view = run_raw(
        &["relay", "devices", "lic_x", "--data-dir", d],
        Receipt::None,
    );
    assert!(view.ok().stdout.contains("ops-box"), "{view:?}");
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "listen = \"127.0.0.1:0\"\nunknown-key = 1\n").unwrap();
    run_raw(
        &["relay", "serve", "--config", bad.to_str().unwrap()],
        Receipt::None,
    )
    .code(2);
    stop(&mut relay);
}

#[test]
fn demo_runs_green_and_tells_the_story() {
    let started = Instant::now();
    let out = run_raw(&["demo"], Receipt::None);
    out.ok();
    let text = &out.stdout;
    for line in [
        "[1/7] Start a relay on this machine",
        "[2/7] Set up two devices with the same recovery receipt",
        "ok  the desktop opened the key check the laptop sealed",
        "ok  the desktop has everything the laptop wrote",
        "ok  both devices converged on the later edit (last write wins",
        "ok  the deleted snippet is gone on both devices",
        "ok  it stays deleted after more syncs",
        "desktop activity: blobIntegrityError laptop bundle",
        "ok  blobIntegrityError reported and the bad bundle quarantined",
        "ok  the rest of the pull applied",
        "ok  quarantine cleared",
        "ok  none of them is in the relay's files",
        "ok  the search does work",
        "ok  the receipt is in no file on either device",
        "ok  temporary relay and device directories removed",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    let oks = text.lines().filter(|l| l.starts_with("  ok  ")).count();
    assert!(oks >= 12, "{text}");
    assert!(
        text.contains(&format!("demo passed: all {oks} checks")),
        "{text}"
    );
    assert!(!text.contains("FAIL"), "{text}");
    assert!(!text.contains('\x1b'), "no colour when piped");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "demo took {:?}",
        started.elapsed()
    );
}

#[test]
fn the_receipt_never_leaks() {
    const CANARY: &str = "RCPT-CANARY-Q7Z4-LEAK";
    const WRONG: &str = "RCPT-WRONG-CANARY-8K2M";
    let mut env = Env::new();
    let rfile = env.tmp.path().join("receipt.txt");
    std::fs::write(&rfile, CANARY).unwrap();
    let init = |dev: &str, r: Receipt| {
        let o = env.init_with(dev, r);
        o.ok();
    };
    init("a", Receipt::Env(CANARY));
    init("b", Receipt::Stdin(CANARY));
    init("c", Receipt::File(&rfile));
    env.run(
        "a",
        &["snippet", "add", "--id", "s", "hello"],
        Receipt::None,
    )
    .ok();
    env.run("a", &["sync"], Receipt::Env(CANARY)).ok();
    env.run("b", &["sync"], Receipt::File(&rfile)).ok();
    let export = env.tmp.path().join("export.azmx");
    env.run(
        "b",
        &["export", export.to_str().unwrap()],
        Receipt::Stdin(CANARY),
    )
    .ok();
    env.run(
        "c",
        &["import", export.to_str().unwrap()],
        Receipt::Env(CANARY),
    )
    .ok();
    env.run("c", &["sync"], Receipt::Env(WRONG)).code(3);
    env.init_with("d", Receipt::Env(WRONG)).code(3);
    env.run("a", &["status"], Receipt::None).ok();
    env.run("a", &["--json", "status"], Receipt::None).ok();
    env.run("a", &["activity"], Receipt::None).ok();

    // `sync --watch` runs for a while: its command line never holds the receipt.
    let dir_a = env.dir("a");
    let mut watch = base_cmd()
        .args(["--state-dir", dir_a.to_str().unwrap(), "sync", "--watch"])
        .env("AZMX_RECEIPT", CANARY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.iter().any(|l: &String| l.contains("sync ok")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => seen.push(l),
            Err(_) => panic!("no cycle from sync --watch: {seen:?}"),
        }
    }
    #[cfg(target_os = "linux")]
    {
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", watch.id())).unwrap();
        let cmdline = String::from_utf8_lossy(&cmdline);
        assert!(cmdline.contains("--watch"), "{cmdline}");
        assert!(
            !cmdline.contains(CANARY),
            "receipt in the process arguments"
        );
    }
    signal(watch.id(), libc::SIGINT);
    let status = watch.wait().unwrap();
    assert!(status.success(), "Ctrl-C stops cleanly: {status:?}");
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(5)) {
        seen.push(l);
    }
    assert!(seen.iter().any(|l| l == "stopped cleanly"), "{seen:?}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut watch.stderr.take().unwrap(), &mut err).unwrap();
    env.outputs.lock().unwrap().push(seen.join("\n") + &err);

    // Errors with the relay down carry no receipt either.
    stop(&mut env.relay);
    env.run("a", &["sync"], Receipt::Env(CANARY)).code(4);
    env.run("a", &["devices"], Receipt::None).code(4);

    for out in env.outputs.lock().unwrap().iter() {
        assert!(!out.contains(CANARY), "receipt in output: {out}");
        assert!(!out.contains(WRONG), "wrong receipt in output: {out}");
    }
    let mut files = Vec::new();
    for d in ["a", "b", "c", "d"] {
        files.extend(files_under(&env.dir(d)));
    }
    files.extend(files_under(&env.relay_dir()));
    files.push(export);
    assert!(
        files.iter().any(|f| f.ends_with("stores.sqlite3")),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.ends_with("activity.jsonl")));
    for f in &files {
        assert!(
            !file_contains(f, CANARY),
            "receipt written to {}",
            f.display()
        );
        assert!(
            !file_contains(f, WRONG),
            "wrong receipt written to {}",
            f.display()
        );
    }
}
