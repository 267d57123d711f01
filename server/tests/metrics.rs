//! `/metrics` (issue 15): a real relay on loopback, real devices pushing
//! and pulling; every metric server/README.md documents is scraped, parses
//! as Prometheus text (a strict parser below), and moves when the relay
//! does the work it counts. The token rules of both listeners, and no id,
//! key or body in any scrape.

mod common;
mod prom_text;

use std::net::SocketAddr;

use azmx_sync_core::sha256_hex;
use common::{Env, Resp, ADMIN};
use prom_text::{parse, scrape};

const LID: &str = "lic_metrics_test_0001";

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("Authorization", format!("Bearer {token}"))]
}

/// `GET /metrics` on the main listener with `token`.
fn scrape_main(env: &Env, token: Option<&str>) -> Resp {
    let h = token.map(bearer).unwrap_or_default();
    env.call("GET", "/metrics", &h, b"")
}

/// `GET path` on the metrics listener (no token).
fn get_listener(env: &Env, addr: SocketAddr, path: &str) -> (u16, String) {
    match env.agent.get(&format!("http://{addr}{path}")).call() {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap()),
        Err(e) => panic!("metrics listener: {e}"),
    }
}

/// The metrics server/README.md's "Metrics" table lists: (name, type).
fn documented() -> Vec<(String, String)> {
    let readme = include_str!("../README.md");
    let start = readme
        .find("\n## Metrics")
        .expect("server/README.md has a '## Metrics' section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut out = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_string();
        let kind = cells[2].to_string();
        out.push((name, kind));
    }
    assert!(
        out.len() >= 10,
        "the README table lists the metrics: {out:?}"
    );
    out
}

#[test]
fn every_documented_metric_is_served_and_moves_with_the_work() {
    let env = Env::start_with(|c| {
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        // Device limit: enough for the work below, small enough to hit.
        c.limits.rate_per_sec = 0.001;
        c.limits.rate_burst = 12.0;
        c.limits.unauth_rate_per_sec = 0.001;
        c.limits.unauth_rate_burst = 6.0;
    });
    let maddr = env.relay.as_ref().unwrap().metrics_addr().unwrap();
    let key = env.license(LID);
    let a = env.device(LID, &key);
    let b = env.device(LID, &key);
    let spammer = env.device(LID, &key);

    let before = scrape(&env);
    // Before any request the request counter has no series yet (its
    // labels come from the requests), so it is not shown: the rest is.
    let docs = documented();
    for (name, kind) in &before.families {
        assert!(
            docs.iter().any(|(n, k)| n == name && k == kind),
            "{name} ({kind}) is served but not in server/README.md's table"
        );
    }

    // The work: three pushes, a pull, a blob fetch, two rejects, a device
    // over its rate limit.
    let sizes = [1_000usize, 2_000, 300_000];
    let blobs: Vec<Vec<u8>> = sizes.iter().map(|&n| plaintext_like(n)).collect();
    for (i, blob) in blobs.iter().enumerate() {
        assert_eq!(env.push(&a, i as u64 + 1, blob).status, 201);
    }
    let page = env.pull(&b, None, None);
    assert_eq!(page.status, 200);
    assert_eq!(env.blob(&b, &a.id, 3).status, 200);
    env.push(&a, 2, b"again").err(409, "seq_conflict");
    // Signed for another body than the one sent.
    let ts = env.now();
    let mut h = a.headers(ts, a.sign_push(9, &sha256_hex(b"signed"), ts));
    h.push(("X-Sha256", sha256_hex(b"forged")));
    h.push(("X-Seq", "9".into()));
    env.call("POST", "/sync/push", &h, b"forged")
        .err(401, "bad_signature");
    let mut spam_ok = 0u64;
    loop {
        match env.push(&spammer, spam_ok + 1, b"s").status {
            201 => spam_ok += 1,
            429 => break,
            s => panic!("spammer's push answered {s}"),
        }
        assert!(spam_ok <= 12, "the device limit answered 429");
    }

    let after = scrape(&env);
    // The README and the relay agree, both ways, on names and types.
    for (name, kind) in &docs {
        assert_eq!(
            after.families.get(name).map(String::as_str),
            Some(kind.as_str()),
            "README lists {name} as a {kind}"
        );
    }
    assert_eq!(after.families.len(), docs.len(), "{:?}", after.families);
    let d = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let push_ok = [
        ("endpoint", "/sync/push"),
        ("method", "POST"),
        ("status", "201"),
    ];
    let pushes = 3 + spam_ok;
    assert_eq!(d("azmx_relay_requests_total", &push_ok), pushes as f64);
    let pull_ok = [
        ("endpoint", "/sync/pull"),
        ("method", "GET"),
        ("status", "200"),
    ];
    assert_eq!(d("azmx_relay_requests_total", &pull_ok), 1.0);
    // The template, never the path with the owner's id.
    let blob_ok = [
        ("endpoint", "/sync/blob/{owner}/{seq}"),
        ("method", "GET"),
        ("status", "200"),
    ];
    assert_eq!(d("azmx_relay_requests_total", &blob_ok), 1.0);
    let scraped = [
        ("endpoint", "/metrics"),
        ("method", "GET"),
        ("status", "200"),
    ];
    assert_eq!(d("azmx_relay_requests_total", &scraped), 1.0);
    let pushed = sizes.iter().sum::<usize>() as u64 + spam_ok;
    assert_eq!(d("azmx_relay_push_bytes_total", &[]), pushed as f64);
    assert_eq!(
        d("azmx_relay_push_duration_seconds_count", &[]),
        pushes as f64
    );
    assert!(d("azmx_relay_push_duration_seconds_sum", &[]) > 0.0);
    assert_eq!(
        d("azmx_relay_rejects_total", &[("code", "seq_conflict")]),
        1.0
    );
    assert_eq!(
        d("azmx_relay_rejects_total", &[("code", "bad_signature")]),
        1.0
    );
    assert_eq!(
        d("azmx_relay_rejects_total", &[("code", "rate_limited")]),
        1.0
    );
    assert_eq!(
        d("azmx_relay_rate_limited_total", &[("limiter", "device")]),
        1.0
    );
    // Every acknowledged push was in a commit; the pipelined default
    // acknowledges after a WAL fsync.
    let commits = d("azmx_relay_commit_duration_seconds_count", &[]);
    assert!(commits >= 1.0, "{commits}");
    assert_eq!(d("azmx_relay_commit_batch_writes_count", &[]), commits);
    assert!(d("azmx_relay_commit_batch_writes_sum", &[]) >= pushes as f64);
    assert!(d("azmx_relay_wal_fsync_duration_seconds_count", &[]) >= 1.0);
    assert!(
        d("azmx_relay_storage_bytes", &[]) >= 300_000.0,
        "the store grew by the 300 kB blob at least: {}",
        d("azmx_relay_storage_bytes", &[])
    );
    assert!(after.value("process_cpu_seconds_total", &[]) > 0.0);
    assert!(after.value("process_resident_memory_bytes", &[]) > 1e6);
    assert!(after.value("process_open_fds", &[]) >= 3.0);
    assert_eq!(
        after.value(
            "azmx_relay_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );

    // The metrics listener serves the same families without a token, and
    // nothing else.
    let (status, text) = get_listener(&env, maddr, "/metrics");
    assert_eq!(status, 200);
    let open = parse(&text).unwrap();
    assert_eq!(open.families, after.families);
    assert_eq!(get_listener(&env, maddr, "/sync/pull").0, 404);

    // No scrape carries an id, a key, a token or a body.
    let secrets = [
        LID.to_string(),
        key.clone(),
        a.id.clone(),
        b.id.clone(),
        spammer.id.clone(),
        ADMIN.to_string(),
        String::from_utf8_lossy(&blobs[0][..24]).into_owned(),
    ];
    for text in [after.text.as_str(), text.as_str()] {
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "a scrape carries {s:?}");
        }
    }

    // The main listener refuses a missing or wrong token; the failures
    // count against the address like any failed authentication.
    let r = scrape_main(&env, None);
    r.err(401, "unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    scrape_main(&env, Some("not-the-admin-token")).err(401, "unauthorized");
    scrape_main(&env, Some(&ADMIN[..ADMIN.len() - 1])).err(401, "unauthorized");
    let mut refused = 0;
    while scrape_main(&env, Some("wrong")).status != 429 {
        refused += 1;
        assert!(refused < 10, "the address limit answered 429");
    }
    // Locked out of the main listener; the private one still answers.
    assert_eq!(scrape_main(&env, Some(ADMIN)).status, 429);
    let (_, text) = get_listener(&env, maddr, "/metrics");
    let last = parse(&text).unwrap();
    let unauthorized = [
        ("endpoint", "/metrics"),
        ("method", "GET"),
        ("status", "401"),
    ];
    assert_eq!(
        last.value("azmx_relay_requests_total", &unauthorized),
        3.0 + refused as f64
    );
    assert_eq!(
        last.value("azmx_relay_rate_limited_total", &[("limiter", "address")]),
        2.0
    );
    assert_eq!(
        last.value("azmx_relay_rejects_total", &[("code", "unauthorized")]),
        3.0 + refused as f64
    );
}

/// Bytes that look like a record's plaintext, so the scan above would
/// see one leak.
fn plaintext_like(n: usize) -> Vec<u8> {
    b"RECORD-PLAINTEXT-do-not-leak:"
        .iter()
        .copied()
        .cycle()
        .take(n)
        .collect()
}

#[test]
fn no_metrics_without_a_token_or_a_metrics_listener() {
    let env = Env::start_with(|c| c.admin_token = None);
    scrape_main(&env, Some(ADMIN)).err(404, "not_found");
    scrape_main(&env, None).err(404, "not_found");
    assert!(env.relay.as_ref().unwrap().metrics_addr().is_none());

    // The private listener alone: the main one still has none.
    let env = Env::start_with(|c| {
        c.admin_token = None;
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    });
    scrape_main(&env, Some(ADMIN)).err(404, "not_found");
    let maddr = env.relay.as_ref().unwrap().metrics_addr().unwrap();
    let (status, text) = get_listener(&env, maddr, "/metrics");
    assert_eq!(status, 200);
    assert!(parse(&text)
        .unwrap()
        .families
        .contains_key("azmx_relay_requests_total"));
}

/// The parser below refuses what a Prometheus server would: it is checked
/// here so a scrape that passes it means something.
#[test]
fn the_strict_parser_refuses_broken_exposition() {
    let ok = "# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"1\"} 2\n";
    assert_eq!(parse(ok).unwrap().value("x_total", &[("a", "1")]), 2.0);
    for bad in [
        // A sample before its TYPE.
        "x_total 1\n",
        // A family declared twice.
        "# HELP x X.\n# TYPE x gauge\nx 1\n# HELP x X.\n# TYPE x gauge\n",
        // The same series twice.
        "# HELP x X.\n# TYPE x gauge\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n",
        // An unquoted label value, a bad escape, a bad number.
        "# HELP x X.\n# TYPE x gauge\nx{a=1} 1\n",
        "# HELP x X.\n# TYPE x gauge\nx{a=\"\\q\"} 1\n",
        "# HELP x X.\n# TYPE x gauge\nx 1O\n",
        // A sample of another family under this TYPE.
        "# HELP x X.\n# TYPE x gauge\ny 1\n",
        // Histogram buckets going down, or +Inf not equal to _count.
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
        // No final newline.
        "# HELP x X.\n# TYPE x gauge\nx 1",
    ] {
        assert!(parse(bad).is_err(), "accepted: {bad:?}");
    }
}
