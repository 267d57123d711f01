//! The PostgreSQL server the tests use when `AZMX_TEST_DATABASE_URL` names
//! one (`scripts/test.d/15-postgres.sh` always sets it); without it the
//! PostgreSQL tests say they skipped and pass.

use std::sync::atomic::{AtomicU64, Ordering};

pub const SKIP: &str = "skipped: AZMX_TEST_DATABASE_URL not set";

/// Prints straight to stderr (not through the test harness's capture), so
/// the skip is visible in a normal `cargo test` run.
pub fn say(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// The test server's URL, if set.
pub fn test_database_url() -> Option<String> {
    std::env::var("AZMX_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// `<prefix>_<pid>_<n>_<nanos>`: a database or schema name no other test
/// (of this process or another) uses.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A new, empty database on the test server; its URL.
pub fn fresh_database() -> Option<String> {
    let Some(base) = test_database_url() else {
        say(SKIP);
        return None;
    };
    let name = unique_name("azmx_http");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
    });
    // Replace the database name (the last path segment, before any query).
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h.to_string(), format!("?{q}")),
        None => (base.clone(), String::new()),
    };
    let slash = head.rfind('/').unwrap();
    let prefix = if head[..slash].ends_with('/') {
        head.clone() + "/"
    } else {
        head[..=slash].to_string()
    };
    Some(format!("{prefix}{name}{query}"))
}
