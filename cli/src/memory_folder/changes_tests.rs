//! The folder's `changes_since`: a quick look by file stamp (size,
//! modification time, inode), with the content hash of a full read as the
//! fallback.

use azmx_sync_core::engine::ChangeSet;

use super::tests::{edit, fact, folder, peer};
use super::*;

fn since(f: &MemoryFolder, token: Option<&[u8]>) -> ChangeSet {
    f.changes_since(token)
        .unwrap()
        .expect("the folder can tell")
}

fn ids(cs: &ChangeSet) -> Vec<String> {
    let mut v: Vec<String> = cs
        .keys
        .as_ref()
        .expect("keys")
        .iter()
        .map(|k| k.id.clone())
        .collect();
    v.sort();
    v
}

#[test]
fn edits_removals_and_applies_are_reported_and_nothing_else() {
    let (_t, f) = folder();
    edit(&f, "a", b"one");
    edit(&f, "b", b"two");
    let first = since(&f, None);
    assert_eq!(first.keys, None, "no token: read everything");
    let idle = since(&f, Some(&first.token));
    assert_eq!(ids(&idle), Vec::<String>::new());
    assert_eq!(idle.token, first.token, "nothing moved");

    edit(&f, "b", b"two, edited");
    let edited = since(&f, Some(&idle.token));
    assert_eq!(ids(&edited), vec!["b"]);
    let rec = f.snapshot_keys(&[RecordKey::new(None, "b")]).unwrap();
    assert_eq!(fact(&rec[0]), "two, edited");

    std::fs::remove_file(f.dir().join("a")).unwrap();
    let removed = since(&f, Some(&edited.token));
    assert_eq!(ids(&removed), vec!["a"]);
    assert!(f.snapshot_keys(&[RecordKey::new(None, "a")]).unwrap()[0].deleted);

    f.apply(vec![Change::Insert(peer("c", 1, Some("from a peer")))])
        .unwrap();
    let applied = since(&f, Some(&removed.token));
    assert_eq!(ids(&applied), vec!["c"]);
    // A file this store just wrote is read once settled, and is the same.
    let again = since(&f, Some(&applied.token));
    assert_eq!(ids(&again), Vec::<String>::new());

    // A token of another index, or one ahead of this index's counter (an
    // index restored from a backup): not trusted.
    assert_eq!(since(&f, Some(b"v1:another-index:1")).keys, None);
    let text = String::from_utf8(again.token.clone()).unwrap();
    let (epoch, _) = text.strip_prefix("v1:").unwrap().split_once(':').unwrap();
    assert_eq!(
        since(&f, Some(format!("v1:{epoch}:999").as_bytes())).keys,
        None
    );
}

#[test]
fn the_quick_look_trusts_the_stamp_and_a_full_read_hashes_the_content() {
    let (_t, f) = folder();
    edit(&f, "k", b"aaaa");
    let token = since(&f, None).token;
    let path = f.dir().join("k");
    let stamp = std::fs::metadata(&path).unwrap().modified().unwrap();
    // Rewritten in place, same size, its modification time put back: the
    // one edit a stamp cannot see (a tool that preserves times).
    std::fs::write(&path, b"bbbb").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(stamp)
        .unwrap();
    assert_eq!(ids(&since(&f, Some(&token))), Vec::<String>::new());
    // The engine's full read (every few cycles, and every checkpoint)
    // hashes the bytes and takes the edit in.
    let all = f.all().unwrap();
    assert_eq!(fact(&all[0]), "bbbb");
    assert_eq!(all[0].version, Some(2));
    assert_eq!(ids(&since(&f, Some(&token))), vec!["k"]);
}

#[test]
fn a_file_still_being_written_is_read_again_at_the_next_look() {
    let (_t, f) = folder();
    edit(&f, "k", b"old");
    let token = since(&f, None).token;
    std::fs::write(f.dir().join("k"), b"half").unwrap();
    let busy = since(&f, Some(&token));
    assert_eq!(ids(&busy), Vec::<String>::new(), "not taken in yet");
    super::tests::settle(&f.dir().join("k"));
    assert_eq!(ids(&since(&f, Some(&busy.token))), vec!["k"]);
}
