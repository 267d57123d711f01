//! `azmx-test-certs DIR`: writes the test CA, an unrelated CA and a relay
//! certificate for localhost/127.0.0.1 into DIR (see `tls.rs`), for tests
//! outside Rust (bindings/python/tests/test_tls.py). Prints the paths as
//! one JSON object.

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: azmx-test-certs DIR");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("create DIR");
    let pki = azmx_sync_test_support::TestPki::write(&dir);
    let v = serde_json::json!({
        "ca": pki.ca,
        "otherCa": pki.other_ca,
        "cert": pki.cert,
        "key": pki.key,
    });
    println!("{v}");
}
