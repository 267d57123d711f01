//! The storage conformance suite against the SQLite backend, plus
//! SQLite-specific durability checks.

use std::sync::Arc;

use azmx_sync_relay::storage::conformance::Fixture;
use azmx_sync_relay::storage::{NewBlob, NewDevice, PushOutcome, SqliteStorage, Storage};

async fn fresh() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let storage = SqliteStorage::open(&dir.path().join("data")).unwrap();
    Fixture {
        storage: Arc::new(storage),
        guard: Box::new(dir),
    }
}

azmx_sync_relay::storage_conformance_tests!(fresh);

/// The same suite with group commit off (one commit per write) and
/// `synchronous=FULL` commits.
mod unbatched {
    use super::*;

    async fn fresh() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let storage = SqliteStorage::open_with(
            &dir.path().join("data"),
            1,
            azmx_sync_relay::storage::Durability::Full,
        )
        .unwrap();
        Fixture {
            storage: Arc::new(storage),
            guard: Box::new(dir),
        }
    }

    azmx_sync_relay::storage_conformance_tests!(fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_pushes_survive_reopen_and_settings_are_durable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let s = SqliteStorage::open(&data).unwrap();
        s.add_license("lic", [3; 32], 1).await.unwrap();
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
