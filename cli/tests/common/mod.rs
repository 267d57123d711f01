//! What the CLI test binaries share: the `azmx-sync` binary run in a clean
//! environment, its captured output, and a relay (`azmx-sync relay serve`)
//! as a child process. Each binary includes it with `mod common;`.
// Each test binary uses a part of this module; the rest is dead code there.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use azmx_sync_test_support::RelayProcess;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_azmx-sync");

/// One finished run: exit code and the output as text.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "expected exit {code}: {self:#?}");
        self
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:#?}"))
    }
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Where the receipt comes from for one run.
#[derive(Clone, Copy)]
pub enum Receipt<'a> {
    None,
    Env(&'a str),
    Stdin(&'a str),
    File(&'a Path),
}

/// The binary with none of the variables it reads from the environment of
/// whoever runs the tests: each test sets what it means to.
pub fn base_cmd() -> Command {
    let mut c = Command::new(BIN);
    for v in [
        "AZMX_RECEIPT",
        "AZMX_STATE_DIR",
        "AZMX_LICENSE_KEY",
        "AZMX_RELAY_URL",
        "AZMX_LICENSE_ID",
        "AZMX_RELAY_DATA_DIR",
        "AZMX_RELAY_LISTEN",
        "AZMX_RELAY_CONFIG",
        "AZMX_CA_FILE",
        "AZMX_ALLOW_INSECURE_HTTP",
        "AZMX_MEMORY_DIR",
    ] {
        c.env_remove(v);
    }
    c.env("RUST_LOG", "warn");
    c
}

/// Runs `c` to the end with the receipt given as a user would give it
/// (stdin is closed unless the receipt is piped on it).
pub fn run_cmd(mut c: Command, receipt: Receipt) -> Out {
    let mut stdin_text = None;
    match receipt {
        Receipt::None => {}
        Receipt::Env(r) => {
            c.env("AZMX_RECEIPT", r);
        }
        Receipt::Stdin(r) => stdin_text = Some(r),
        Receipt::File(p) => {
            c.arg("--receipt-file").arg(p);
        }
    }
    c.stdin(if stdin_text.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn azmx-sync");
    if let Some(t) = stdin_text {
        let mut si = child.stdin.take().unwrap();
        writeln!(si, "{t}").unwrap();
    }
    let o = child.wait_with_output().unwrap();
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// `azmx-sync <args>` in the clean environment. A device's memory folder
/// is `<state dir>-memory` (never the real ~/.azmx/memory-global/; the
/// state directory remembers it for later commands).
pub fn run_raw(args: &[&str], receipt: Receipt) -> Out {
    let mut c = base_cmd();
    if let Some(i) = args.iter().position(|a| *a == "--state-dir") {
        if let Some(state) = args.get(i + 1) {
            c.env("AZMX_MEMORY_DIR", format!("{state}-memory"));
        }
    }
    c.args(args);
    run_cmd(c, receipt)
}

/// `init --relay <relay> --license-id <lid> --license-key <key>`, then
/// `extra` (a device name, a wrong flag).
pub fn init_args<'a>(
    relay: &'a str,
    lid: &'a str,
    key: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "init",
        "--relay",
        relay,
        "--license-id",
        lid,
        "--license-key",
        key,
    ];
    args.extend_from_slice(extra);
    args
}

/// `azmx-sync --state-dir <state> init …` (see [`init_args`]).
pub fn init(
    state: &str,
    relay: &str,
    lid: &str,
    key: &str,
    extra: &[&str],
    receipt: Receipt,
) -> Out {
    let mut args = vec!["--state-dir", state];
    args.extend(init_args(relay, lid, key, extra));
    run_raw(&args, receipt)
}

/// `azmx-sync relay license add <lid>`: the license key, printed once.
pub fn add_license(data_dir: &Path, lid: &str) -> String {
    let data = data_dir.to_str().unwrap();
    let add = run_raw(
        &["relay", "license", "add", lid, "--data-dir", data],
        Receipt::None,
    );
    add.ok();
    assert!(add.stdout.contains("not shown again"), "{add:?}");
    add.stdout.split_whitespace().last().unwrap().to_string()
}

/// `azmx-sync relay serve` as a child process.
pub fn start_relay(data_dir: &Path, listen: &str) -> RelayProcess {
    start_relay_args(&[
        "relay",
        "serve",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--listen",
        listen,
    ])
}

pub fn start_relay_args(args: &[&str]) -> RelayProcess {
    RelayProcess::spawn(
        base_cmd()
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null()),
    )
}
