//! The storage conformance suite against the PostgreSQL backend (each test
//! in its own fresh schema of the database at `AZMX_TEST_DATABASE_URL`),
//! plus PostgreSQL-specific checks: two pools (two relays) on one schema,
//! in-order visibility of pull positions under concurrent pushes, idempotent
//! concurrent schema creation, refusal of a newer schema.
//!
//! `scripts/test.d/15-postgres.sh` starts a throwaway cluster and sets the
//! variable. Without it every test prints
//! "skipped: AZMX_TEST_DATABASE_URL not set" and passes (the conformance
//! tests then run against a throwaway SQLite store so they still execute).

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use azmx_sync_relay::storage::conformance::Fixture;
use azmx_sync_relay::storage::{NewBlob, NewDevice, PostgresStorage, PushOutcome, Storage};
use bytes::Bytes;
use common::fixture::sqlite_default;
use common::postgres::{say, test_database_url as url, unique_name, SKIP};

/// A schema name unique to this process and call.
fn unique_schema(tag: &str) -> String {
    unique_name(&format!("t_{tag}"))
}

/// The database URL and a fresh schema name for one test; `None`, having
/// said the test is skipped, when no database is configured.
fn database(tag: &str) -> Option<(String, String)> {
    let Some(url) = url() else {
        say(SKIP);
        return None;
    };
    Some((url, unique_schema(tag)))
}

/// Two pools (two relays) on one schema.
async fn two_pools(url: &str, schema: &str) -> (Arc<dyn Storage>, Arc<dyn Storage>) {
    (
        Arc::new(pg(url, schema).await),
        Arc::new(pg(url, schema).await),
    )
}

/// A plain client on the database, for what the storage API cannot do.
async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

async fn pg(url: &str, schema: &str) -> PostgresStorage {
    PostgresStorage::connect_with(url, Some(schema), 8)
        .await
        .unwrap_or_else(|e| panic!("connect to {url} schema {schema}: {e}"))
}

async fn fresh() -> Fixture {
    match url() {
        Some(url) => {
            let storage = pg(&url, &unique_schema("conf")).await;
            Fixture {
                storage: Arc::new(storage),
                guard: Box::new(()),
            }
        }
        None => {
            say(&format!(
                "{SKIP} (this conformance check ran against SQLite instead)"
            ));
            sqlite_default()
        }
    }
}

azmx_sync_relay::storage_conformance_tests!(fresh);

const T0: i64 = 1_700_000_000;

async fn setup(s: &dyn Storage, lid: &str, devices: &[&str]) {
    s.add_license(lid, [9; 32], None, T0).await.unwrap();
    for d in devices {
        let r = s
            .register_device(NewDevice {
                license_id: lid.into(),
                device_id: (*d).into(),
                public_key: format!("pk-{d}"),
                name: (*d).into(),
                now: T0,
            })
            .await
            .unwrap();
        assert!(r.created);
    }
}

fn blob(dev: &str, seq: u64, data: Vec<u8>) -> NewBlob {
    NewBlob {
        device_id: dev.into(),
        seq,
        sha256: azmx_sync_core::sha256_hex(&data),
        data: Bytes::from(data),
        now: T0 + seq as i64,
    }
}

/// Two relays = two independent pools on one schema: 16 concurrent pushes of
/// one (device, seq), split over both, have exactly one winner; what one
/// stores the other lists and serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_share_one_database() {
    let Some((url, schema)) = database("two") else {
        return;
    };
    let (a, b) = two_pools(&url, &schema).await;
    setup(&*a, "lic", &["dev_w", "dev_r"]).await;
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            s.push(blob("dev_w", 1, vec![i; 64])).await.unwrap()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        match t.await.unwrap() {
            PushOutcome::Stored { seq: 1, .. } => winners += 1,
            PushOutcome::Conflict { last_seq: 1, .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners, 1);
    let page = b.pull("lic", "dev_r", 0, 10).await.unwrap();
    assert_eq!(page.items.len(), 1);
    let via_a = a.blob("lic", "dev_w", 1).await.unwrap().unwrap();
    let via_b = b.blob("lic", "dev_w", 1).await.unwrap().unwrap();
    assert_eq!(via_a, via_b);
    assert!(b.revoke("lic", "dev_w", T0).await.unwrap());
    assert_eq!(
        a.push(blob("dev_w", 2, vec![1])).await.unwrap(),
        PushOutcome::Revoked
    );
}

/// A reader that follows the pull cursor while 8 devices push concurrently
/// (over two pools) never skips a position: positions become visible in
/// order, so the cursor never moves past one still uncommitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn positions_become_visible_in_order() {
    let Some((url, schema)) = database("order") else {
        return;
    };
    let (a, b) = two_pools(&url, &schema).await;
    let writers: Vec<String> = (0..8).map(|i| format!("dev_{i}")).collect();
    let mut all: Vec<&str> = writers.iter().map(String::as_str).collect();
    all.push("dev_reader");
    setup(&*a, "lic", &all).await;
    const PER: u64 = 40;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let s = a.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut cursor = 0i64;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = s.pull("lic", "dev_reader", cursor, 50).await.unwrap();
                for m in &page.items {
                    assert!(m.position > cursor);
                    cursor = m.position;
                    seen.push((m.device_id.clone(), m.seq));
                }
                if finished && page.items.is_empty() {
                    return seen;
                }
            }
        })
    };
    let mut tasks = Vec::new();
    for (i, d) in writers.iter().enumerate() {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            for seq in 1..=PER {
                let out = s.push(blob(&d, seq, vec![seq as u8; 32])).await.unwrap();
                assert!(matches!(out, PushOutcome::Stored { .. }), "{out:?}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.unwrap();
    assert_eq!(
        seen.len(),
        writers.len() * PER as usize,
        "the following reader skipped positions"
    );
    let uniq: BTreeSet<_> = seen.iter().collect();
    assert_eq!(uniq.len(), seen.len());
    for d in &writers {
        let seqs: Vec<u64> = seen
            .iter()
            .filter(|(dev, _)| dev == d)
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(seqs, (1..=PER).collect::<Vec<_>>());
    }
}

/// Several relays starting at once on an empty schema all succeed, and a
/// later start keeps the data.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_startup_creates_the_schema_once() {
    let Some((url, schema)) = database("start") else {
        return;
    };
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (url, schema) = (url.clone(), schema.clone());
        tasks.push(tokio::spawn(async move { pg(&url, &schema).await }));
    }
    let mut stores = Vec::new();
    for t in tasks {
        stores.push(t.await.unwrap());
    }
    stores[0]
        .add_license("lic", [1; 32], None, T0)
        .await
        .unwrap();
    let again = pg(&url, &schema).await;
    assert_eq!(again.license_key_hash("lic").await.unwrap(), Some([1; 32]));
}

/// The license key is stored only as the hash given; a newer schema version
/// is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_newer_schema() {
    let Some((url, schema)) = database("newer") else {
        return;
    };
    drop(pg(&url, &schema).await);
    let client = raw_client(&url).await;
    client
        .batch_execute(&format!(
            "UPDATE {schema}.relay_meta SET value = 99 WHERE key = 'schema_version'"
        ))
        .await
        .unwrap();
    let e = PostgresStorage::connect_with(&url, Some(&schema), 2)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("newer"), "{e}");
    // Only BYTEA hashes in the licenses table: no license key column exists
    // (`authority_key` is the authority's public key, PROTOCOL §11).
    let cols: Vec<String> = client
        .query(
            "SELECT column_name::TEXT FROM information_schema.columns
             WHERE table_schema = $1 AND table_name = 'licenses' ORDER BY column_name",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        cols,
        [
            "authority_key",
            "claim_until",
            "created_at",
            "key_hash",
            "license_id",
            "max_devices",
            "next_position"
        ]
    );
}

/// A version-1 database (no `authority_key`, `claim_until`, `max_devices`
/// columns, no `push_days` table) is brought to version 4 at connect: its
/// licenses keep the v1 rules (no key, no window, no cap) and can be given
/// a key; the per-day push aggregate starts from the stored blobs.
#[tokio::test]
async fn migrates_a_version_1_database() {
    let Some((url, schema)) = database("v1") else {
        return;
    };
    let s = pg(&url, &schema).await;
    s.add_license("lic_old", [1; 32], None, T0).await.unwrap();
    let dev = NewDevice {
        license_id: "lic_old".into(),
        device_id: "dev_old".into(),
        public_key: "pk-old".into(),
        name: "old".into(),
        now: T0,
    };
    s.register_device(dev).await.unwrap();
    for seq in 1..=2 {
        let data = Bytes::from(vec![seq as u8; 10]);
        let blob = NewBlob {
            device_id: "dev_old".into(),
            seq,
            sha256: azmx_sync_core::sha256_hex(&data),
            data,
            now: T0,
        };
        assert!(matches!(
            s.push(blob).await.unwrap(),
            PushOutcome::Stored { .. }
        ));
    }
    drop(s);
    let client = raw_client(&url).await;
    client
        .batch_execute(&format!(
            "DROP TABLE {schema}.push_days;
             ALTER TABLE {schema}.licenses DROP COLUMN authority_key,
                 DROP COLUMN claim_until, DROP COLUMN max_devices;
             UPDATE {schema}.relay_meta SET value = 1 WHERE key = 'schema_version'"
        ))
        .await
        .unwrap();
    let s = pg(&url, &schema).await;
    let l = s.license("lic_old").await.unwrap().unwrap();
    assert_eq!(
        (l.key_hash, l.authority_key, l.claim_until, l.max_devices),
        ([1; 32], None, None, None)
    );
    assert!(s.set_authority_key("lic_old", "k").await.unwrap());
    let v: i64 = client
        .query_one(
            &format!("SELECT value FROM {schema}.relay_meta WHERE key = 'schema_version'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 4);
    let day = azmx_sync_relay::storage::PushDay {
        day: azmx_sync_relay::storage::day_of(T0),
        pushes: 2,
        sealed_bytes: 20,
    };
    assert_eq!(s.push_days("lic_old", 0).await.unwrap(), vec![day]);
}
