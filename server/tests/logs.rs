//! Logs at TRACE level never contain blob bytes, license keys, signatures
//! or the admin token.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use azmx_sync_core::SignedRequest;
use common::{Env, ADMIN};

#[derive(Clone)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn logs_carry_no_secrets_or_blob_bytes() {
    let buf = Buf(Arc::new(Mutex::new(Vec::new())));
    let w = buf.clone();
    tracing_subscriber::fmt()
        // Everything the relay process logs, at TRACE, except the test's own
        // HTTP client (ureq logs the requests it sends).
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,ureq=off,rustls=off",
        ))
        .with_writer(move || w.clone())
        .with_ansi(false)
        .init();

    let env = Env::start();
    let key = env.license("lic_log");
    let a = env.device("lic_log", &key);
    let b = env.device("lic_log", &key);
    let blob = b"BLOB-PLAINTEXT-MARKER-4242";
    assert_eq!(env.push(&a, 1, blob).status, 201);
    assert_eq!(env.blob(&b, &a.id, 1).status, 200);
    assert_eq!(env.keycheck_put(&a, b"KEYCHECK-MARKER-77").status, 201);
    assert_eq!(env.admin("lic_log", Some(ADMIN)).status, 200);
    env.admin("lic_log", Some("WRONG-TOKEN-MARKER"))
        .err(401, "unauthorized");
    env.init(
        "lic_log",
        "WRONG-LICENSE-KEY-MARKER",
        &env.identity(),
        "x",
        env.now(),
    )
    .err(401, "bad_license");
    // Signatures that were sent (good and bad).
    let ts = env.now();
    let good_sig = a.sign(SignedRequest::Devices {
        device_id: a.id.clone(),
        ts,
    });
    assert_eq!(
        env.call(
            "GET",
            "/sync/devices",
            &a.headers(ts, good_sig.clone()),
            b""
        )
        .status,
        200
    );
    env.call(
        "GET",
        "/sync/devices",
        &a.headers(ts, "BADSIGMARKER".into()),
        b"",
    )
    .err(401, "bad_signature");
    drop(env);

    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("request refused"),
        "refusals are logged:\n{text}"
    );
    assert!(text.contains(&a.id), "device ids are logged");
    for secret in [
        key.as_str(),
        ADMIN,
        "WRONG-TOKEN-MARKER",
        "WRONG-LICENSE-KEY-MARKER",
        "BLOB-PLAINTEXT-MARKER",
        "KEYCHECK-MARKER",
        good_sig.as_str(),
        "BADSIGMARKER",
    ] {
        assert!(!text.contains(secret), "log contains {secret}:\n{text}");
    }
}
