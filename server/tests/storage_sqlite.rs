//! The storage conformance suite against the SQLite backend, plus
//! SQLite-specific durability checks.

mod common;

use azmx_sync_relay::storage::conformance::Fixture;
use azmx_sync_relay::storage::{NewBlob, NewDevice, PushOutcome, SqliteStorage, Storage};
use common::fixture::{sqlite_default, sqlite_fixture};

async fn fresh() -> Fixture {
    sqlite_default()
}

azmx_sync_relay::storage_conformance_tests!(fresh);

/// The same suite with group commit off (one commit per write) and
/// `synchronous=FULL` commits.
mod unbatched {
    use super::*;

    async fn fresh() -> Fixture {
        sqlite_fixture(|data| {
            SqliteStorage::open_with(data, 1, azmx_sync_relay::storage::Durability::Full).unwrap()
        })
    }

    azmx_sync_relay::storage_conformance_tests!(fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_pushes_survive_reopen_and_settings_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let s = SqliteStorage::open(&data).unwrap();
        s.add_license("lic", [3; 32], None, 1).await.unwrap();
        s.register_device(NewDevice {
            license_id: "lic".into(),
            device_id: "dev_1".into(),
            public_key: "pk".into(),
            name: "n".into(),
            now: 1,
        })
        .await
        .unwrap();
        for seq in 1..=50u64 {
            let out = s
                .push(NewBlob {
                    device_id: "dev_1".into(),
                    seq,
                    sha256: azmx_sync_core::sha256_hex(&seq.to_le_bytes()),
                    data: bytes::Bytes::copy_from_slice(&seq.to_le_bytes()),
                    now: 2,
                })
                .await
                .unwrap();
            assert!(matches!(out, PushOutcome::Stored { .. }));
        }
        // Check the pragmas on a separate connection.
        let c = rusqlite::Connection::open(s.path()).unwrap();
        let mode: String = c
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
    let s = SqliteStorage::open(&data).unwrap();
    let devs = s.devices("lic").await.unwrap().unwrap();
    assert_eq!(devs[0].blob_count, 50);
    let b = s.blob("lic", "dev_1", 50).await.unwrap().unwrap();
    assert_eq!(&b.data[..], &50u64.to_le_bytes());
    let out = s
        .push(NewBlob {
            device_id: "dev_1".into(),
            seq: 50,
            sha256: "00".repeat(32),
            data: bytes::Bytes::new(),
            now: 3,
        })
        .await
        .unwrap();
    assert!(matches!(out, PushOutcome::Conflict { last_seq: 50, .. }));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}

#[test]
fn refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(SqliteStorage::open(&data).unwrap());
    let c = rusqlite::Connection::open(data.join("relay.sqlite3")).unwrap();
    c.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(c);
    assert!(SqliteStorage::open(&data).is_err());
}

/// Issue 11 defect 11: every file the relay writes (the database, its WAL
/// and shared-memory index) is 0600, also when an older relay left them
/// 0644, in both durability modes and from `license add`.
#[cfg(unix)]
#[test]
fn relay_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    // The test means something only where new files are group/world readable.
    let probe = dir.path().join("probe");
    std::fs::write(&probe, b"").unwrap();
    assert_ne!(mode(&probe), 0o600, "umask hides the defect");
    for (i, durability) in [
        azmx_sync_relay::storage::Durability::PipelinedFsync,
        azmx_sync_relay::storage::Durability::Full,
    ]
    .into_iter()
    .enumerate()
    {
        let data = dir.path().join(format!("data{i}"));
        azmx_sync_relay::add_license(&data, "lic").unwrap();
        let db = data.join("relay.sqlite3");
        assert_eq!(mode(&db), 0o600, "{durability:?} after license add");
        // An older relay's 0644 files are tightened on open.
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = SqliteStorage::open_with(&data, 512, durability).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(s.register_device(NewDevice {
            license_id: "lic".into(),
            device_id: "dev_1".into(),
            public_key: "pk".into(),
            name: "n".into(),
            now: 1,
        }))
        .unwrap();
        for name in ["relay.sqlite3", "relay.sqlite3-wal", "relay.sqlite3-shm"] {
            let p = data.join(name);
            assert!(p.exists(), "{name} missing");
            assert_eq!(mode(&p), 0o600, "{durability:?}: {name}");
        }
        for e in std::fs::read_dir(&data).unwrap() {
            let p = e.unwrap().path();
            assert_eq!(mode(&p), 0o600, "{durability:?}: {}", p.display());
        }
        drop(s);
    }
}

/// Issue 11 defect 2: a database written by the previous relay version
/// (schema 1, one AUTOINCREMENT position across all licenses) opens; its
/// blobs keep their positions, so devices' cursors keep working, and new
/// pushes are listed after them, per license.
#[test]
fn opens_a_schema_1_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    {
        let c = rusqlite::Connection::open(data.join("relay.sqlite3")).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE licenses (license_id TEXT PRIMARY KEY, key_hash BLOB NOT NULL,
                 created_at INTEGER NOT NULL);
             CREATE TABLE devices (device_id TEXT PRIMARY KEY,
                 license_id TEXT NOT NULL REFERENCES licenses(license_id),
                 public_key TEXT NOT NULL, name TEXT NOT NULL, created_at INTEGER NOT NULL,
                 revoked_at INTEGER, last_seq INTEGER NOT NULL DEFAULT 0,
                 last_push_at INTEGER, last_pull_at INTEGER,
                 blob_count INTEGER NOT NULL DEFAULT 0, sealed_bytes INTEGER NOT NULL DEFAULT 0,
                 UNIQUE (license_id, public_key));
             CREATE INDEX devices_by_license ON devices(license_id, created_at);
             CREATE TABLE blobs (id INTEGER PRIMARY KEY AUTOINCREMENT,
                 license_id TEXT NOT NULL, device_id TEXT NOT NULL REFERENCES devices(device_id),
                 seq INTEGER NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
                 created_at INTEGER NOT NULL, data BLOB NOT NULL, UNIQUE (device_id, seq));
             CREATE INDEX blobs_by_license ON blobs(license_id, id);
             CREATE TABLE keychecks (license_id TEXT PRIMARY KEY REFERENCES licenses(license_id),
                 device_id TEXT NOT NULL, sha256 TEXT NOT NULL, created_at INTEGER NOT NULL,
                 data BLOB NOT NULL);
             PRAGMA user_version=1;
             INSERT INTO licenses VALUES ('lic_a', x'00', 1), ('lic_b', x'00', 1);
             INSERT INTO devices (device_id, license_id, public_key, name, created_at, last_seq,
                                  blob_count, sealed_bytes)
               VALUES ('a1', 'lic_a', 'pa1', 'n', 1, 2, 2, 2), ('a2', 'lic_a', 'pa2', 'n', 1, 0, 0, 0),
                      ('b1', 'lic_b', 'pb1', 'n', 1, 1, 1, 1), ('b2', 'lic_b', 'pb2', 'n', 1, 0, 0, 0);
             INSERT INTO blobs (license_id, device_id, seq, sha256, size, created_at, data) VALUES
               ('lic_a', 'a1', 1, 'x', 1, 1, x'01'),
               ('lic_b', 'b1', 1, 'x', 1, 1, x'02'),
               ('lic_a', 'a1', 2, 'x', 1, 1, x'03');",
        )
        .unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let positions = |s: &SqliteStorage, lid: &str, dev: &str, after: i64| {
        rt.block_on(s.pull(lid, dev, after, 100))
            .unwrap()
            .items
            .iter()
            .map(|m| (m.seq, m.position))
            .collect::<Vec<_>>()
    };
    let push = |s: &SqliteStorage, dev: &str, seq: u64| {
        let out = rt
            .block_on(s.push(NewBlob {
                device_id: dev.into(),
                seq,
                sha256: azmx_sync_core::sha256_hex(b"n"),
                data: bytes::Bytes::from_static(b"n"),
                now: 2,
            }))
            .unwrap();
        assert!(matches!(out, PushOutcome::Stored { .. }), "{out:?}");
    };
    let s = SqliteStorage::open(&data).unwrap();
    assert_eq!(positions(&s, "lic_a", "a2", 0), vec![(1, 1), (2, 3)]);
    assert_eq!(positions(&s, "lic_b", "b2", 0), vec![(1, 2)]);
    // A cursor from before the upgrade continues where it was.
    assert_eq!(positions(&s, "lic_a", "a2", 1), vec![(2, 3)]);
    push(&s, "a1", 3);
    let after = positions(&s, "lic_a", "a2", 3);
    assert_eq!(after.len(), 1);
    assert!(after[0].1 > 3);
    let b = rt.block_on(s.blob("lic_a", "a1", 2)).unwrap().unwrap();
    assert_eq!(&b.data[..], &[3]);
    drop(s);
    // Reopened (schema 2 now): positions still only grow.
    let s = SqliteStorage::open(&data).unwrap();
    push(&s, "a1", 4);
    let next = positions(&s, "lic_a", "a2", after[0].1);
    assert_eq!(next.len(), 1);
    assert!(next[0].1 > after[0].1);
    // Schema 5: the per-day push aggregate starts from the stored blobs
    // (all on day 0 here) and counts every push since.
    let day0 = |pushes, sealed_bytes| {
        vec![azmx_sync_relay::storage::PushDay {
            day: 0,
            pushes,
            sealed_bytes,
        }]
    };
    assert_eq!(rt.block_on(s.push_days("lic_a", 0)).unwrap(), day0(4, 4));
    assert_eq!(rt.block_on(s.push_days("lic_b", 0)).unwrap(), day0(1, 1));
    // Schema 3: the migrated licenses have no authority key, and take one.
    assert!(rt.block_on(s.set_authority_key("lic_a", "k")).unwrap());
    assert!(!rt.block_on(s.set_authority_key("lic_a", "k")).unwrap());
}
