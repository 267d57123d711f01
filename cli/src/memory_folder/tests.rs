use std::path::Path;
use std::time::SystemTime;

use serde_json::json;

use super::index::BOOK_DIR;
use super::*;

const DEV: &str = "dev_me";

pub(super) fn folder() -> (tempfile::TempDir, MemoryFolder) {
    let t = tempfile::tempdir().unwrap();
    let f = MemoryFolder::new(t.path().join("memory-global"));
    f.set_device_id(DEV);
    std::fs::create_dir_all(f.dir()).unwrap();
    (t, f)
}

/// Writes a file as an editor would, finished a while ago.
pub(super) fn edit(f: &MemoryFolder, name: &str, text: &[u8]) {
    let p = f.dir().join(name);
    std::fs::write(&p, text).unwrap();
    settle(&p);
}

pub(super) fn settle(p: &Path) {
    let old = SystemTime::now() - SETTLE * 5;
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(old)
        .unwrap();
}

pub(super) fn fact(r: &Record) -> String {
    fact_text(r).unwrap()
}

pub(super) fn peer(key: &str, version: u64, text: Option<&str>) -> Record {
    match text {
        Some(t) => Record::new(
            key,
            None,
            1_000,
            Some(version),
            "dev_peer",
            json!({ "fact": t }),
        ),
        None => Record::tombstone(key, None, 1_000, Some(version), "dev_peer"),
    }
}

#[test]
fn edits_in_the_folder_bump_the_version_once() {
    let (_t, f) = folder();
    edit(&f, "editor.indent", b"four spaces");
    let r = f.get("editor.indent").unwrap().unwrap();
    assert_eq!(
        (r.version, fact(&r).as_str(), r.device_id.as_str()),
        (Some(1), "four spaces", DEV)
    );
    // Another snapshot with no edit: the same record (the engine sees no change).
    assert!(f.get("editor.indent").unwrap().unwrap() == r);
    edit(&f, "editor.indent", b"tabs");
    let r2 = f.get("editor.indent").unwrap().unwrap();
    assert_eq!((r2.version, fact(&r2).as_str()), (Some(2), "tabs"));
    assert!(r2.updated_at > r.updated_at);
}

#[test]
fn a_removed_file_is_a_tombstone_and_may_come_back() {
    let (_t, f) = folder();
    edit(&f, "k", b"v");
    f.all().unwrap();
    std::fs::remove_file(f.dir().join("k")).unwrap();
    let t = f.get("k").unwrap().unwrap();
    assert!(t.deleted && t.version == Some(2) && t.device_id == DEV);
    assert!(
        f.get("k").unwrap().unwrap() == t,
        "one tombstone, not one per snapshot"
    );
    edit(&f, "k", b"again");
    let back = f.get("k").unwrap().unwrap();
    assert!(!back.deleted && back.version == Some(3));
}

#[test]
fn a_file_being_written_is_not_read_until_it_settles() {
    let (_t, f) = folder();
    std::fs::write(f.dir().join("new"), b"half").unwrap();
    assert!(
        f.get("new").unwrap().is_none(),
        "a new file still being written"
    );
    edit(&f, "k", b"old");
    let old = f.get("k").unwrap().unwrap();
    std::fs::write(f.dir().join("k"), b"half of the new").unwrap();
    assert!(
        f.get("k").unwrap().unwrap() == old,
        "the last settled version stands"
    );
    settle(&f.dir().join("k"));
    settle(&f.dir().join("new"));
    assert_eq!(fact(&f.get("k").unwrap().unwrap()), "half of the new");
    assert_eq!(fact(&f.get("new").unwrap().unwrap()), "half");
}

#[test]
fn apply_writes_files_atomically_and_removes_them_for_tombstones() {
    let (_t, f) = folder();
    f.apply(vec![Change::Insert(peer("a/b", 4, Some("from the peer")))])
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(f.dir().join("a%2Fb")).unwrap(),
        "from the peer"
    );
    let r = f.get("a/b").unwrap().unwrap();
    assert!(
        r == peer("a/b", 4, Some("from the peer")),
        "written, not taken as a local edit"
    );
    f.apply(vec![Change::Delete(peer("a/b", 5, None))]).unwrap();
    assert!(!f.dir().join("a%2Fb").exists());
    assert!(f.get("a/b").unwrap().unwrap().deleted);
    let names: Vec<_> = std::fs::read_dir(f.dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from(BOOK_DIR)],
        "no temporary file left"
    );
}

#[test]
fn apply_never_overwrites_an_edit_made_after_the_snapshot_that_wins() {
    let (_t, f) = folder();
    edit(&f, "k", b"mine v1");
    f.all().unwrap(); // the engine's snapshot: k at version 1
    edit(&f, "k", b"mine v2, saved during the cycle");
    // The peer's version 2 would beat version 1, but not the edit (version 2, later).
    f.apply(vec![Change::Update(peer("k", 2, Some("peer v2")))])
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(f.dir().join("k")).unwrap(),
        "mine v2, saved during the cycle"
    );
    let r = f.get("k").unwrap().unwrap();
    assert_eq!((r.version, r.device_id.as_str()), (Some(2), DEV));
    // A higher version wins over it, as the contract says.
    f.apply(vec![Change::Update(peer("k", 9, Some("peer v9")))])
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(f.dir().join("k")).unwrap(),
        "peer v9"
    );
    // Applying the same change again (after a crash) changes nothing.
    f.apply(vec![Change::Update(peer("k", 9, Some("peer v9")))])
        .unwrap();
    assert_eq!(f.get("k").unwrap().unwrap().version, Some(9));
}

#[test]
fn apply_does_not_overwrite_a_file_being_written_with_an_older_version() {
    let (_t, f) = folder();
    edit(&f, "k", b"v1");
    f.all().unwrap();
    std::fs::write(f.dir().join("k"), b"being typed").unwrap();
    f.apply(vec![Change::Update(peer("k", 1, Some("stale")))])
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(f.dir().join("k")).unwrap(),
        "being typed"
    );
}

#[test]
fn records_the_folder_cannot_show_are_kept_in_the_index() {
    let (_t, f) = folder();
    let long = "k".repeat(256);
    let odd = Record::new(
        "odd",
        None,
        1,
        Some(1),
        "dev_peer",
        json!({"fact": "x", "tags": []}),
    );
    f.apply(vec![
        Change::Insert(peer(&long, 1, Some("long key"))),
        Change::Insert(peer("notes.tmp", 1, Some("temp-like key"))),
        Change::Insert(odd.clone()),
    ])
    .unwrap();
    assert!(!f.dir().join("odd").exists() && !f.dir().join("notes.tmp").exists());
    let all = f.all().unwrap();
    assert_eq!(
        all.len(),
        3,
        "kept, synced, never tombstoned for having no file"
    );
    assert!(all.iter().all(|r| !r.deleted));
    assert!(all.contains(&odd));
}

#[test]
fn subdirectories_symlinks_hidden_temporary_and_binary_files_are_not_read() {
    let (t, f) = folder();
    let ws = f.dir().join("proj/.azmx/memory");
    std::fs::create_dir_all(&ws).unwrap();
    edit(&f, "proj/.azmx/memory/secret", b"workspace fact");
    let outside = t.path().join("outside");
    std::fs::write(&outside, "outside fact").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, f.dir().join("link")).unwrap();
    for n in [".hidden", "k.swp", "k~", "#k#", "50%"] {
        edit(&f, n, b"temp");
    }
    edit(&f, "binary", &[0xff, 0xfe, 0x00]);
    edit(&f, "big", &vec![b'x'; MAX_FILE_BYTES as usize + 1]);
    edit(&f, "ok", b"a fact");
    let all = f.all().unwrap();
    let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec!["ok"]);
}

#[test]
fn memory_kept_in_sqlite_moves_into_the_folder_once() {
    let t = tempfile::tempdir().unwrap();
    let mem = t.path().join("mem");
    let stores = crate::store::Stores::open(t.path(), &mem).unwrap();
    stores.memory.set_device_id(DEV);
    for r in [peer("kept", 3, Some("old fact")), peer("gone", 2, None)] {
        stores
            .former_memory_for_tests()
            .write(&r.key(), |_| Ok(r.clone()))
            .unwrap();
    }
    stores.migrate_memory().unwrap();
    assert_eq!(
        std::fs::read_to_string(mem.join("kept")).unwrap(),
        "old fact"
    );
    let all = stores.memory.all().unwrap();
    assert!(
        all.contains(&peer("kept", 3, Some("old fact"))),
        "same record: nothing to push"
    );
    assert!(all.contains(&peer("gone", 2, None)), "its tombstone too");
    assert!(stores.former_memory_for_tests().all().unwrap().is_empty());
    stores.migrate_memory().unwrap();
}

#[test]
fn local_writes_refuse_keys_without_a_file_name() {
    let (_t, f) = folder();
    let key = RecordKey::new(None, "x.tmp");
    let e = f.write(&key, |_| unreachable!()).err().unwrap();
    assert!(e.message.contains("cannot be a file name"), "{}", e.message);
    let r = f
        .write(&RecordKey::new(None, "k"), |cur| {
            Ok(Record::new(
                "k",
                None,
                5,
                Some(next_version(cur)),
                DEV,
                json!({"fact": "put"}),
            ))
        })
        .unwrap();
    assert_eq!(std::fs::read_to_string(f.dir().join("k")).unwrap(), "put");
    assert!(
        f.get("k").unwrap().unwrap() == r,
        "a put is not taken in again as an edit"
    );
}
