//! The pipelined fsync's guarantees, under an injected hold, failure and
//! power loss.

use super::durability::SyncHook;
use super::files::create_private_dir;
use super::schema::open_reader;
use super::*;
use crate::storage::{NewBlob, NewDevice};
use crate::storage::{PushOutcome, Storage};
use bytes::Bytes;
use std::sync::Condvar;
use std::time::{Duration, Instant};

#[derive(Default)]
pub(super) struct HookState {
    s: Mutex<HookFlags>,
    cv: Condvar,
}

#[derive(Default)]
struct HookFlags {
    held: bool,
    fail_next: bool,
    waiting: bool,
    synced_len: u64,
}

impl HookState {
    pub(super) fn before_fsync(&self) -> std::io::Result<()> {
        let mut g = self.s.lock().unwrap();
        g.waiting = true;
        self.cv.notify_all();
        // Bounded, so a failing test's drop (which joins the syncer)
        // cannot hang on a hold it never released.
        let deadline = Instant::now() + Duration::from_secs(15);
        while g.held && Instant::now() < deadline {
            g = self
                .cv
                .wait_timeout(g, Duration::from_millis(50))
                .unwrap()
                .0;
        }
        g.waiting = false;
        if std::mem::take(&mut g.fail_next) {
            return Err(std::io::Error::other("injected fsync failure"));
        }
        Ok(())
    }

    pub(super) fn synced(&self, len: u64) {
        self.s.lock().unwrap().synced_len = len;
    }

    fn hold(&self) {
        self.s.lock().unwrap().held = true;
    }

    fn release(&self, fail: bool) {
        let mut g = self.s.lock().unwrap();
        g.held = false;
        g.fail_next = fail;
        self.cv.notify_all();
    }

    fn synced_len(&self) -> u64 {
        self.s.lock().unwrap().synced_len
    }
}

fn open_hooked(dir: &Path) -> (SqliteStorage, Arc<HookState>) {
    let h = Arc::new(HookState::default());
    let s = SqliteStorage::open_inner(
        dir,
        DEFAULT_MAX_BATCH,
        Durability::PipelinedFsync,
        SyncHook {
            inner: Some(h.clone()),
        },
    )
    .unwrap();
    (s, h)
}

async fn setup(s: &SqliteStorage, lid: &str, devs: &[&str]) {
    s.add_license(lid, [1; 32], None, 1).await.unwrap();
    for d in devs {
        s.register_device(NewDevice {
            license_id: lid.into(),
            device_id: (*d).into(),
            public_key: format!("pk-{d}"),
            name: "n".into(),
            now: 1,
        })
        .await
        .unwrap();
    }
}

fn blob(dev: &str, seq: u64) -> NewBlob {
    let data = format!("{dev}/{seq}").into_bytes();
    NewBlob {
        device_id: dev.into(),
        seq,
        sha256: azmx_sync_core::integrity::sha256_hex(&data),
        data: Bytes::from(data),
        now: 1,
    }
}

/// Rows committed to the database (visible to any reader), durable or not.
fn committed(path: &Path) -> i64 {
    let c = open_reader(path).unwrap();
    c.query_row("SELECT COUNT(*) FROM blobs", [], |r| r.get(0))
        .unwrap()
}

fn wait_committed(path: &Path, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while committed(path) < n {
        assert!(Instant::now() < deadline, "write never committed");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Issue 11 defect 2 (a): a pipelined push is committed (readable by
/// SQLite) before its fsync; pull must not list it until the fsync that
/// covers it completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_push_is_not_listed_before_its_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let (s, hook) = open_hooked(dir.path());
    setup(&s, "lic", &["dev_a", "dev_r"]).await;
    hook.hold();
    let s2 = s.clone();
    let pending = tokio::spawn(async move { s2.push(blob("dev_a", 1)).await });
    wait_committed(s.path(), 1);
    let page = s.pull("lic", "dev_r", 0, 10).await.unwrap();
    assert!(
        page.items.is_empty(),
        "listed before its fsync: {:?}",
        page.items
    );
    assert!(!pending.is_finished(), "acknowledged before its fsync");
    hook.release(false);
    assert!(matches!(
        pending.await.unwrap().unwrap(),
        PushOutcome::Stored { seq: 1, .. }
    ));
    let page = s.pull("lic", "dev_r", 0, 10).await.unwrap();
    assert_eq!(page.items.len(), 1);
}

/// Issue 11 defect 2 (b): a failed fsync fails every write waiting on
/// it and every later write, until the store is reopened; nothing of
/// it is acknowledged or listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fsync_failure_fails_pending_and_later_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (s, hook) = open_hooked(dir.path());
    setup(&s, "lic", &["dev_a", "dev_b", "dev_r"]).await;
    hook.hold();
    let (s1, s2) = (s.clone(), s.clone());
    let p1 = tokio::spawn(async move { s1.push(blob("dev_a", 1)).await });
    wait_committed(s.path(), 1);
    let p2 = tokio::spawn(async move { s2.push(blob("dev_b", 1)).await });
    wait_committed(s.path(), 2);
    hook.release(true);
    for p in [p1, p2] {
        let r = p.await.unwrap();
        assert!(matches!(r, Err(StorageError::Failed(_))), "{r:?}");
    }
    // Later writes fail too (no reopen-and-carry-on), of every kind.
    let r = s.push(blob("dev_a", 2)).await;
    assert!(matches!(r, Err(StorageError::Failed(_))), "{r:?}");
    let r = s.add_license("lic2", [2; 32], None, 1).await;
    assert!(matches!(r, Err(StorageError::Failed(_))), "{r:?}");
    assert_eq!(committed(s.path()), 2, "a write ran after the failure");
    // What was never durable is never listed.
    let page = s.pull("lic", "dev_r", 0, 10).await.unwrap();
    assert!(page.items.is_empty(), "{:?}", page.items);
}

/// Copies the database as a power loss at this moment would leave it:
/// the WAL cut where the last successful fsync ended.
fn power_loss_copy(from: &Path, wal_len: u64, to: &Path) {
    create_private_dir(to).unwrap();
    std::fs::copy(from.join(DB_FILE), to.join(DB_FILE)).unwrap();
    let wal = std::fs::read(from.join(format!("{DB_FILE}-wal"))).unwrap();
    let keep = usize::try_from(wal_len).unwrap().min(wal.len());
    std::fs::write(to.join(format!("{DB_FILE}-wal")), &wal[..keep]).unwrap();
}

/// Issue 11 defect 2 (d): after a power loss drops a committed but not
/// yet durable tail, a reader resuming from its cursor still gets every
/// later blob: no position it may have passed is handed out again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_are_not_reused_after_a_lost_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (data, after) = (dir.path().join("data"), dir.path().join("after"));
    let (s, hook) = open_hooked(&data);
    setup(&s, "lic", &["dev_a", "dev_r"]).await;
    assert!(matches!(
        s.push(blob("dev_a", 1)).await.unwrap(),
        PushOutcome::Stored { .. }
    ));
    let page = s.pull("lic", "dev_r", 0, 10).await.unwrap();
    assert_eq!(page.items.len(), 1);
    let mut cursor = page.items[0].position;

    hook.hold();
    let s2 = s.clone();
    let _lost = tokio::spawn(async move { s2.push(blob("dev_a", 2)).await });
    wait_committed(s.path(), 2);
    let lost_position: i64 = open_reader(s.path())
        .unwrap()
        .query_row("SELECT MAX(position) FROM blobs", [], |r| r.get(0))
        .unwrap();
    // The reader pulls while the push is committed but not durable.
    let page = s.pull("lic", "dev_r", cursor, 10).await.unwrap();
    if let Some(m) = page.items.last() {
        cursor = m.position;
    }
    power_loss_copy(&data, hook.synced_len(), &after);

    let s = SqliteStorage::open(&after).unwrap();
    let all = s.pull("lic", "dev_r", 0, 10).await.unwrap();
    assert_eq!(all.items.len(), 1, "the unsynced tail survived: {all:?}");
    assert!(matches!(
        s.push(blob("dev_a", 2)).await.unwrap(),
        PushOutcome::Stored { .. }
    ));
    let page = s.pull("lic", "dev_r", cursor, 10).await.unwrap();
    assert_eq!(
        page.items.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![2],
        "the reader skipped the new blob"
    );
    assert!(
        page.items[0].position > lost_position,
        "position {lost_position} reused"
    );
    hook.release(false);
}

/// Issue 13 defect 5 (failed before: the pull answered 503
/// `storage_failed`): `lastPullAt` is best effort, so a store that refuses
/// writes (here after a failed fsync) still serves pulls over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_are_served_when_the_lastpullat_write_fails() {
    use azmx_sync_test_support::client::RemoteDevice;
    let dir = tempfile::tempdir().unwrap();
    let (s, hook) = open_hooked(dir.path());
    let key = "license-key-for-the-test";
    s.add_license("lic", crate::sha256(key.as_bytes()), None, 1)
        .await
        .unwrap();
    let storage: Arc<dyn Storage> = Arc::new(s.clone());
    let relay = crate::Relay::start_with_storage(
        crate::RelayConfig::new(dir.path().join("unused")),
        storage,
    )
    .unwrap();
    let url = relay.url();
    let ids = tempfile::tempdir().unwrap();
    let http = tokio::task::spawn_blocking(move || {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(20))
            .build();
        let reg = |name: &str| {
            let id = azmx_sync_core::DeviceIdentity::create(ids.path().join(name)).unwrap();
            RemoteDevice::register(&agent, &url, "lic", key, id, name).unwrap()
        };
        let (a, b) = (reg("a"), reg("b"));
        assert_eq!(a.push(&agent, &url, 1, b"sealed"), Some(201));
        hook.hold();
        let (agent2, url2) = (agent.clone(), url.clone());
        let failing = std::thread::spawn(move || a.push(&agent2, &url2, 2, b"lost"));
        wait_committed(s.path(), 2);
        hook.release(true);
        assert_eq!(failing.join().unwrap(), Some(503));
        // b never pulled, so this pull tries to record lastPullAt and fails.
        let page = b.pull_page(&agent, &url, "").expect("the pull is served");
        assert_eq!(page.items.len(), 1);
        assert_eq!(b.push(&agent, &url, 1, b"refused"), Some(503));
    });
    http.await.unwrap();
    relay.shutdown();
}
