//! `/metrics` with the PostgreSQL backend (a fresh database on the server
//! at `AZMX_TEST_DATABASE_URL`; skipped without it, as the other
//! `postgres_*` tests): every write transaction's commit is observed (one
//! write each), there is no WAL fsync of the relay's own, and the storage
//! size is the relay's tables, growing with what is pushed.

mod common;
// Shared with metrics.rs, which reads parts of a scrape this test does not.
#[allow(dead_code)]
mod prom_text;

use azmx_sync_relay::add_license_postgres;
use common::postgres::fresh_database;
use common::Env;
use prom_text::scrape;

#[test]
fn postgres_commits_and_size_move_with_pushes() {
    let Some(db) = fresh_database() else { return };
    let url = db.clone();
    let env = Env::start_with(move |c| c.database_url = Some(url));
    let key = add_license_postgres(&db, "lic_pg_metrics").unwrap();
    let a = env.device("lic_pg_metrics", &key);

    let before = scrape(&env);
    // Bytes a compressor cannot shrink (as sealed blobs are).
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let big: Vec<u8> = (0..400_000)
        .map(|_| {
            // xorshift64: no structure pglz could use.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    assert_eq!(env.push(&a, 1, &big).status, 201);
    assert_eq!(env.push(&a, 2, b"small").status, 201);
    env.push(&a, 2, b"again").err(409, "seq_conflict");
    let after = scrape(&env);
    let d = |name: &str| after.value(name, &[]) - before.value(name, &[]);

    // Two stored pushes, two commits of one write each (the conflict
    // rolled back: no commit).
    assert_eq!(d("azmx_relay_commit_duration_seconds_count"), 2.0);
    assert_eq!(d("azmx_relay_commit_batch_writes_count"), 2.0);
    assert_eq!(d("azmx_relay_commit_batch_writes_sum"), 2.0);
    assert_eq!(
        after.value("azmx_relay_wal_fsync_duration_seconds_count", &[]),
        0.0
    );
    assert_eq!(d("azmx_relay_push_bytes_total"), 400_005.0);
    assert!(before.value("azmx_relay_storage_bytes", &[]) > 0.0);
    let grew = d("azmx_relay_storage_bytes");
    assert!(grew >= 300_000.0, "the relay's tables grew by {grew} bytes");
}
