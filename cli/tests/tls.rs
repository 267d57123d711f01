//! TLS like a real client, end to end: the relay serves TLS itself
//! (`relay serve --tls-cert/--tls-key`) with a certificate from a test CA
//! made at test time (`TestPki`), and the CLI
//! - syncs two devices through it when given the CA (`--ca-file`, or
//!   `AZMX_CA_FILE`), and keeps the CA for later commands;
//! - refuses the relay without it (the system trust store does not know
//!   the test CA) and with an unrelated CA: exit 8, a message naming the
//!   certificate problem, nothing registered;
//! - refuses plain `http://` to a non-loopback address before any network
//!   use (exit 2), and lets `--allow-insecure-http` through to the network;
//! - shows how the relay is reached in `status`.

mod common;

use std::time::Instant;

use azmx_sync_test_support::{RelayProcess, TestPki};
use common::{add_license, init, run_raw, start_relay_args, Out, Receipt};

const RECEIPT: &str = "tls-test-receipt-7Hq2-Secret-Value-5521";
const LID: &str = "lic_tls";

struct Env {
    _tmp: tempfile::TempDir,
    dir: std::path::PathBuf,
    pki: TestPki,
    relay: RelayProcess,
    license_key: String,
}

fn tls_relay() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let pki = TestPki::write(&dir);
    let data = dir.join("relay");
    let license_key = add_license(&data, LID);
    let relay = start_relay_args(&[
        "relay",
        "serve",
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        pki.cert.to_str().unwrap(),
        "--tls-key",
        pki.key.to_str().unwrap(),
    ]);
    assert!(relay.url.starts_with("https://127.0.0.1:"), "{}", relay.url);
    Env {
        _tmp: tmp,
        dir,
        pki,
        relay,
        license_key,
    }
}

impl Env {
    fn state(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }
    fn init(&self, name: &str, extra: &[&str]) -> Out {
        let mut args = vec!["--name", name];
        args.extend_from_slice(extra);
        init(
            &self.state(name),
            &self.relay.url,
            LID,
            &self.license_key,
            &args,
            Receipt::Env(RECEIPT),
        )
    }
    fn run(&self, name: &str, args: &[&str]) -> Out {
        let state = self.state(name);
        let mut all = vec!["--state-dir", state.as_str()];
        all.extend_from_slice(args);
        run_raw(&all, Receipt::Env(RECEIPT))
    }
}

#[test]
fn a_relay_under_a_private_ca_syncs_with_the_ca_and_is_refused_without_it() {
    let env = tls_relay();
    let ca = env.pki.ca.to_str().unwrap();

    // Unknown CA: the system store does not know the test CA.
    let refused = env.init("stranger", &[]);
    refused.code(8);
    assert!(
        refused
            .stderr
            .contains("certificate signed by an unknown authority"),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("--ca-file"), "{refused:?}");
    assert!(!refused.all().contains(RECEIPT));
    // An unrelated CA is refused the same way.
    let other = env.pki.other_ca.to_str().unwrap();
    let wrong = env.init("wrong-ca", &["--ca-file", other]);
    wrong.code(8);
    assert!(wrong.stderr.contains("unknown authority"), "{wrong:?}");
    // Nothing was registered by either.
    let relay_data = env.dir.join("relay");
    let devices = run_raw(
        &[
            "relay",
            "devices",
            LID,
            "--data-dir",
            relay_data.to_str().unwrap(),
        ],
        Receipt::None,
    );
    devices.ok();
    assert!(
        !devices.stdout.contains("stranger") && !devices.stdout.contains("wrong-ca"),
        "{devices:?}"
    );

    // The right CA by flag: init, then later commands without the flag.
    env.init("laptop", &["--ca-file", ca]).ok();
    env.run("laptop", &["snippet", "add", "--id", "s1", "tls works"])
        .ok();
    env.run("laptop", &["sync"]).ok();
    let status = env.run("laptop", &["--json", "status"]);
    let transport = &status.ok().json()["transport"];
    assert_eq!(transport["security"], "tls", "{status:?}");
    assert!(transport["caFile"].as_str().unwrap().ends_with("ca.pem"));
    let text = env.run("laptop", &["status"]);
    assert!(
        text.ok().stdout.contains("TLS, trusting only the CA in"),
        "{text:?}"
    );

    // The right CA by environment variable, on a second device.
    let desktop = env.state("desktop");
    let mut c = common::base_cmd();
    c.env("AZMX_CA_FILE", ca);
    c.env("AZMX_MEMORY_DIR", format!("{desktop}-memory"));
    c.env("AZMX_LICENSE_KEY", &env.license_key);
    c.args(["--state-dir", &desktop, "init", "--relay", &env.relay.url]);
    c.args(["--license-id", LID, "--name", "desktop"]);
    common::run_cmd(c, Receipt::Env(RECEIPT)).ok();
    env.run("desktop", &["sync"]).ok();
    let got = env.run("desktop", &["snippet", "list"]);
    assert!(got.ok().stdout.contains("tls works"), "{got:?}");

    // A flag given later wins for that command: the unrelated CA fails.
    env.run("laptop", &["sync", "--ca-file", other]).code(8);
}

#[test]
fn plain_http_to_another_machine_is_refused_before_any_network_use() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("dev");
    let state = state.to_str().unwrap();
    let name = ["--name", "d"];
    // 10.255.255.1 is not routed here: a connection attempt would wait for
    // the connect timeout (5 s), so a quick refusal shows none was made.
    for relay in ["http://10.255.255.1:1", "http://example.invalid:8787"] {
        let started = Instant::now();
        let out = init(state, relay, LID, "k", &name, Receipt::Env(RECEIPT));
        out.code(2);
        assert!(out.stderr.contains("refusing plain http://"), "{out:?}");
        assert!(out.stderr.contains("--allow-insecure-http"), "{out:?}");
        assert!(started.elapsed().as_secs() < 3, "{:?}", started.elapsed());
    }
    // Allowed, it goes to the network (and fails there: no such host).
    let out = init(
        state,
        "http://example.invalid:8787",
        LID,
        "k",
        &["--name", "d", "--allow-insecure-http"],
        Receipt::Env(RECEIPT),
    );
    out.code(4);
    assert!(out.stderr.contains("cannot reach the relay"), "{out:?}");
}

#[test]
fn status_warns_about_plain_http() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("relay");
    let key = add_license(&data, LID);
    let relay = common::start_relay(&data, "127.0.0.1:0");
    let state = tmp.path().join("dev");
    let state = state.to_str().unwrap();
    let name = ["--name", "d"];
    init(state, &relay.url, LID, &key, &name, Receipt::Env(RECEIPT)).ok();
    let out = run_raw(&["--state-dir", state, "status"], Receipt::None);
    assert!(
        out.ok()
            .stdout
            .contains("plain HTTP, unencrypted (this machine only)"),
        "{out:?}"
    );
    let out = run_raw(&["--state-dir", state, "--json", "status"], Receipt::None);
    assert_eq!(out.ok().json()["transport"]["security"], "loopbackHttp");
}
