//! `azmx-sync-relay backup` and `restore` (issue 15), with the real
//! binary: a backup taken while devices push is a consistent snapshot (a
//! relay started on its restore answers every device's pulls as the
//! original did up to that point: same items, positions, hashes and blob
//! bytes), one taken at rest answers exactly the same; the file is 0600
//! and never overwritten; a restore checks what it is given and only
//! fills a data directory that holds no database.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azmx_sync_core::protocol::routes;
use azmx_sync_core::{sha256_hex, DeviceIdentity, SignedRequest};
use azmx_sync_relay::add_license;
use azmx_sync_test_support::client::Listed;
use azmx_sync_test_support::{output_ok, unix_now, RelayProcess, RemoteDevice};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_azmx-sync-relay");
const LID: &str = "lic_backup";
const PUSHERS: usize = 5;

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(20))
        .build()
}

fn body(d: usize, seq: u64) -> Vec<u8> {
    (0..(1024 + seq as usize % 7 * 300))
        .map(|i| (i as u64 * 5 + seq * 3 + d as u64 * 41) as u8)
        .collect()
}

fn relay_cmd(args: &[&str], paths: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args);
    for (flag, p) in paths {
        c.arg(flag).arg(p);
    }
    c.output().unwrap()
}

/// Every page of a device's pull, as the relay wrote them (items and
/// cursors; `serverTime` left out, it is the clock's).
fn pull_pages(a: &ureq::Agent, url: &str, d: &RemoteDevice) -> Vec<Value> {
    let (mut pages, mut since) = (Vec::new(), String::new());
    loop {
        let req = SignedRequest::Pull {
            device_id: d.id.clone(),
            since: since.clone(),
            limit: 50,
            ts: unix_now(),
        };
        let path = format!("{}?since={since}&limit=50", routes::PULL);
        let r = d.get(a, url, &path, req).expect("pull answered");
        assert_eq!(r.status(), 200);
        let mut v: Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("serverTime");
        since = v["nextCursor"].as_str().unwrap().to_string();
        let more = v["hasMore"] == true;
        pages.push(v);
        if !more {
            return pages;
        }
    }
}

fn items(pages: &[Value]) -> Vec<Value> {
    pages
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap().clone())
        .collect()
}

fn blob(a: &ureq::Agent, url: &str, d: &RemoteDevice, owner: &str, seq: u64) -> Vec<u8> {
    let req = SignedRequest::Blob {
        device_id: d.id.clone(),
        owner_device_id: owner.into(),
        seq,
        ts: unix_now(),
    };
    let r = d
        .get(a, url, &routes::blob_path(owner, seq), req)
        .expect("blob answered");
    assert_eq!(r.status(), 200, "blob {owner}/{seq}");
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut out).unwrap();
    out
}

/// `restore --from FILE --data-dir DIR`, then the relay on DIR.
fn restored_relay(file: &Path, dir: &Path) -> RelayProcess {
    let out = output_ok(
        Command::new(BIN)
            .args(["restore", "--from"])
            .arg(file)
            .arg("--data-dir")
            .arg(dir),
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("restored into"), "{said}");
    RelayProcess::serve(BIN, dir, "pipelined")
}

/// Each device's pull from `restored` is the start of its pull from
/// `original` (all of it when `whole`), page by page for the pages it
/// fills, with the same blob bytes behind every item.
fn same_pulls(
    a: &ureq::Agent,
    original: &str,
    restored: &str,
    devices: &[&RemoteDevice],
    whole: bool,
) -> usize {
    let mut compared = 0;
    for d in devices {
        let (o, r) = (pull_pages(a, original, d), pull_pages(a, restored, d));
        let (oi, ri) = (items(&o), items(&r));
        if whole {
            assert_eq!(r, o, "pull pages of {} differ", d.id);
        } else {
            assert!(
                ri.len() <= oi.len(),
                "{} lists more than the original",
                d.id
            );
            assert_eq!(ri, oi[..ri.len()], "pull items of {} differ", d.id);
        }
        for it in &ri {
            let (owner, seq) = (
                it["deviceId"].as_str().unwrap(),
                it["seq"].as_u64().unwrap(),
            );
            let bytes = blob(a, restored, d, owner, seq);
            assert_eq!(sha256_hex(&bytes), it["sha256"].as_str().unwrap());
            assert_eq!(bytes, blob(a, original, d, owner, seq), "{owner}/{seq}");
        }
        compared += ri.len();
    }
    compared
}

fn listed(v: &[Value]) -> Vec<Listed> {
    v.iter()
        .map(|it| {
            (
                it["deviceId"].as_str().unwrap().to_string(),
                it["seq"].as_u64().unwrap(),
                it["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn backup_under_load_then_restore_answers_the_same_pulls() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = tempfile::tempdir().unwrap();
    let mk = |n: &str| DeviceIdentity::create(keys.path().join(n)).unwrap();
    let lkey = add_license(&data, LID).unwrap();
    let relay = RelayProcess::serve(BIN, &data, "pipelined");
    let a = agent();
    let reg = |n: &str| RemoteDevice::register(&a, &relay.url, LID, &lkey, mk(n), n).unwrap();
    let devs: Vec<Arc<RemoteDevice>> = (0..PUSHERS)
        .map(|i| Arc::new(reg(&format!("p{i}"))))
        .collect();
    let reader = reg("reader");

    let acked: Arc<Mutex<Vec<Listed>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = devs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let (url, d, acked, stop) = (relay.url.clone(), d.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let a = agent();
                let mut seq = 1;
                while !stop.load(Ordering::Relaxed) {
                    let b = body(i, seq);
                    assert_eq!(d.push(&a, &url, seq, &b), Some(201), "push {seq}");
                    acked
                        .lock()
                        .unwrap()
                        .push((d.id.clone(), seq, sha256_hex(&b)));
                    seq += 1;
                }
            })
        })
        .collect();
    let wait_for = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.lock().unwrap().len() < n {
            assert!(Instant::now() < deadline, "too little load");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for(150);

    // A backup while the devices keep pushing.
    let f1 = dir.path().join("under-load.sqlite3");
    let acked_before = acked.lock().unwrap().clone();
    let started = Instant::now();
    let out = output_ok(
        Command::new(BIN)
            .args(["backup", "--data-dir"])
            .arg(&data)
            .arg("--out")
            .arg(&f1),
    );
    let backup_ms = started.elapsed().as_millis();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.contains("backup written to"), "{said}");
    let during = acked.lock().unwrap().len() - acked_before.len();
    let so_far = acked.lock().unwrap().len();
    wait_for(so_far + 100);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    #[cfg(unix)]
    assert_eq!(mode(&f1), 0o600, "backup file mode");
    for side in ["-wal", "-shm", "-journal"] {
        assert!(!dir
            .path()
            .join(format!("under-load.sqlite3{side}"))
            .exists());
    }

    // Never overwritten.
    let before = std::fs::read(&f1).unwrap();
    let out = relay_cmd(&["backup"], &[("--data-dir", &data), ("--out", &f1)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read(&f1).unwrap(),
        before,
        "the backup was overwritten"
    );

    let mut everyone: Vec<&RemoteDevice> = devs.iter().map(|d| d.as_ref()).collect();
    everyone.push(&reader);
    let r1 = restored_relay(&f1, &dir.path().join("restored-1"));
    let compared = same_pulls(&a, &relay.url, &r1.url, &everyone, false);
    // Everything acknowledged before the backup started is in it.
    let in_backup = listed(&items(&pull_pages(&a, &r1.url, &reader)));
    let missing: Vec<_> = acked_before
        .iter()
        .filter(|p| !in_backup.contains(p))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged pushes not in the backup",
        missing.len()
    );
    println!(
        "backup under load: {} ms, {during} pushes acknowledged meanwhile; the backup holds \
         {} of {} pushes; {compared} items compared across {} devices",
        backup_ms,
        in_backup.len(),
        acked.len(),
        everyone.len()
    );

    // At rest: the restored relay answers exactly the same pages.
    let f2 = dir.path().join("at-rest.sqlite3");
    output_ok(
        Command::new(BIN)
            .args(["backup", "--data-dir"])
            .arg(&data)
            .arg("--out")
            .arg(&f2),
    );
    let r2 = restored_relay(&f2, &dir.path().join("restored-2"));
    let compared = same_pulls(&a, &relay.url, &r2.url, &everyone, true);
    // A pull lists the other devices' pushes: each push once per device
    // but its own.
    assert_eq!(compared, acked.len() * (everyone.len() - 1));
    // The restored relay takes new pushes after what it holds.
    let next = acked.iter().filter(|p| p.0 == devs[0].id).count() as u64 + 1;
    assert_eq!(devs[0].push(&a, &r2.url, next, b"after restore"), Some(201));
    assert_eq!(devs[0].push(&a, &r2.url, next - 1, b"old seq"), Some(409));
}

#[test]
fn restore_checks_what_it_is_given_and_fills_only_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (data, good) = license_backed_up(dir.path());
    let refused = |from: &Path, into: &Path, why: &str| {
        let out = relay_cmd(&["restore"], &[("--from", from), ("--data-dir", into)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(why), "{why}: {err}");
    };
    // Into a data directory that holds a database: refused, untouched.
    let db = data.join("relay.sqlite3");
    let before = std::fs::read(&db).unwrap();
    refused(&good, &data, "already holds a relay database");
    assert_eq!(std::fs::read(&db).unwrap(), before);

    // Damaged files are refused, and nothing is left behind.
    let bad = |name: &str, f: &dyn Fn(&Path)| {
        let p = dir.path().join(name);
        std::fs::copy(&good, &p).unwrap();
        f(&p);
        p
    };
    let garbage = bad("garbage", &|p| {
        std::fs::write(p, b"not a database at all").unwrap()
    });
    let torn = bad("torn", &|p| {
        let mut b = std::fs::read(p).unwrap();
        // Page 2 onwards: b-tree pages overwritten.
        for x in &mut b[4096..] {
            *x = 0xA5;
        }
        std::fs::write(p, b).unwrap();
    });
    let newer = bad("newer", &|p| {
        let c = rusqlite::Connection::open(p).unwrap();
        c.execute_batch("PRAGMA user_version = 99").unwrap();
    });
    let target = dir.path().join("target");
    refused(&garbage, &target, "not an SQLite database");
    refused(&torn, &target, "not a usable relay backup");
    refused(&newer, &target, "schema version 99");
    if target.exists() {
        let left: Vec<_> = std::fs::read_dir(&target).unwrap().collect();
        assert!(left.is_empty(), "a refused restore left {left:?}");
    }
    // The good one goes in, 0600, and opens.
    let out = output_ok(
        Command::new(BIN)
            .args(["restore", "--from"])
            .arg(&good)
            .arg("--data-dir")
            .arg(&target),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 licenses"));
    #[cfg(unix)]
    assert_eq!(mode(&target.join("relay.sqlite3")), 0o600);
    let out = output_ok(
        Command::new(BIN)
            .args(["license", "list", "--data-dir"])
            .arg(&target),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(LID));
    // No backup of a directory without a database.
    let out = relay_cmd(
        &["backup"],
        &[("--data-dir", dir.path()), ("--out", &dir.path().join("x"))],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join("x").exists());
}

/// A device's cursor from the original relay, of a start after the
/// backup was taken, stays below everything the restored relay hands out:
/// the device lists a push made to the restored relay.
#[test]
fn a_relay_restored_from_an_older_backup_lists_new_pushes_past_later_cursors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = tempfile::tempdir().unwrap();
    let mk = |n: &str| DeviceIdentity::create(keys.path().join(n)).unwrap();
    let lkey = add_license(&data, LID).unwrap();
    let mut relay = RelayProcess::serve(BIN, &data, "pipelined");
    let a = agent();
    let reg = |url: &str, n: &str| RemoteDevice::register(&a, url, LID, &lkey, mk(n), n).unwrap();
    let (dev_a, dev_b) = (reg(&relay.url, "a"), reg(&relay.url, "b"));
    for seq in 1..=3 {
        assert_eq!(dev_b.push(&a, &relay.url, seq, &body(1, seq)), Some(201));
    }
    let old = dir.path().join("old.sqlite3");
    output_ok(
        Command::new(BIN)
            .args(["backup", "--data-dir"])
            .arg(&data)
            .arg("--out")
            .arg(&old),
    );
    // The original goes on: each start is a new position epoch, and B
    // pushes in each.
    for seq in 4..=6 {
        assert!(relay.terminate().success());
        relay = RelayProcess::serve(BIN, &data, "pipelined");
        assert_eq!(dev_b.push(&a, &relay.url, seq, &body(1, seq)), Some(201));
    }
    let mut cursor = String::new();
    loop {
        let page = dev_a.pull_page(&a, &relay.url, &cursor).unwrap();
        cursor = page.next_cursor;
        if !page.has_more {
            break;
        }
    }
    assert!(!cursor.is_empty());
    drop(relay);

    // The original's data is lost; the old backup goes in. B's pushes
    // after it are gone from the relay, so B pushes again from seq 4.
    let restored = restored_relay(&old, &dir.path().join("restored"));
    let new = b"pushed after the restore".to_vec();
    assert_eq!(dev_b.push(&a, &restored.url, 4, &new), Some(201));
    let after = dev_a.pull_all(&a, &restored.url, &cursor);
    assert_eq!(
        after,
        vec![(dev_b.id.clone(), 4, sha256_hex(&new))],
        "A, from its cursor {cursor}, misses the push made after the restore"
    );
}

/// A backup whose position epochs are nearly used up is refused before
/// anything is written: a restored relay could not start above them.
#[test]
fn restore_refuses_a_backup_without_room_for_new_position_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let (_, good) = license_backed_up(dir.path());
    let full = dir.path().join("full.sqlite3");
    std::fs::copy(&good, &full).unwrap();
    rusqlite::Connection::open(&full)
        .unwrap()
        .execute_batch("UPDATE relay_meta SET value = (1 << 23) - 10 WHERE key = 'epoch'")
        .unwrap();
    let target = dir.path().join("target");
    let out = relay_cmd(&["restore"], &[("--from", &full), ("--data-dir", &target)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("position"), "{err}");
    if target.exists() {
        let left: Vec<_> = std::fs::read_dir(&target).unwrap().collect();
        assert!(left.is_empty(), "a refused restore left {left:?}");
    }
    // The same data with room left goes in.
    restored_relay(&good, &target);
}

/// A data dir under `dir` with the license, and a backup of it (`good`).
fn license_backed_up(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let data = dir.join("data");
    add_license(&data, LID).unwrap();
    let good = dir.join("good.sqlite3");
    output_ok(
        Command::new(BIN)
            .args(["backup", "--data-dir"])
            .arg(&data)
            .arg("--out")
            .arg(&good),
    );
    (data, good)
}
