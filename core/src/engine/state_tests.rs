//! Tests of the state directory: journal, saves, reloads.

use super::*;

fn page(cursor: &str, key: &str) -> PageDelta {
    PageDelta {
        cursor: cursor.into(),
        known: vec![("snippets".into(), key.into(), "h".into())],
        ..Default::default()
    }
}

#[cfg(unix)]
#[test]
fn the_lock_file_is_owner_only_also_when_left_world_readable() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path()).unwrap();
    let mode = || {
        std::fs::metadata(dir.path(LOCK_FILE))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    drop(dir.lock().unwrap());
    assert_eq!(mode(), 0o600);
    // Created 0644 by an older version: tightened on the next lock.
    std::fs::set_permissions(dir.path(LOCK_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(dir.lock().unwrap());
    assert_eq!(mode(), 0o600);
}

#[test]
fn a_state_from_before_the_authority_key_loads_and_keeps_it_after() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path()).unwrap();
    std::fs::write(
        dir.path(STATE_FILE),
        br#"{"format":1,"licenseId":"lic_a","deviceId":"dev_1","nextSeq":4}"#,
    )
    .unwrap();
    let mut st = dir.load().unwrap();
    assert_eq!((st.next_seq, st.authority_key.as_deref()), (4, None));
    st.authority_key = Some("key".into());
    dir.save(&st).unwrap();
    assert_eq!(dir.load().unwrap().authority_key.as_deref(), Some("key"));
}

#[test]
fn journal_replays_complete_pages_and_a_save_folds_it_in() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path()).unwrap();
    dir.save(&EngineState::default()).unwrap();
    dir.append_page(&mut page("c1", "a")).unwrap();
    dir.append_page(&mut page("c2", "b")).unwrap();
    // A torn append (the process died mid-write): that page re-pulls.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path(JOURNAL_FILE))
            .unwrap();
        f.write_all(br#"{"cursor":"c3","known":[["snip"#).unwrap();
    }
    let st = dir.load().unwrap();
    assert_eq!(st.cursor, "c2");
    assert_eq!(st.known["snippets"].len(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path(JOURNAL_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    dir.save(&st).unwrap();
    assert_eq!(dir.journal_len(), 0);
    let mut loaded = dir.load().unwrap();
    loaded.generation = st.generation;
    assert_eq!(loaded, st);
}

#[test]
fn a_failed_replace_keeps_the_journal_and_stale_lines_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path()).unwrap();
    dir.save(&EngineState::default()).unwrap();
    dir.append_page(&mut page("c1", "a")).unwrap();
    let st = dir.load().unwrap();
    // The replace fails (here: a directory where the state file goes).
    let state_bytes = std::fs::read(dir.path(STATE_FILE)).unwrap();
    std::fs::remove_file(dir.path(STATE_FILE)).unwrap();
    std::fs::create_dir(dir.path(STATE_FILE)).unwrap();
    std::fs::write(dir.path(STATE_FILE).join("x"), b"x").unwrap();
    assert!(dir.save(&st).is_err());
    std::fs::remove_dir_all(dir.path(STATE_FILE)).unwrap();
    std::fs::write(dir.path(STATE_FILE), state_bytes).unwrap();
    assert!(dir.journal_len() > 0, "the journal outlives a failed save");
    assert_eq!(dir.load().unwrap().cursor, "c1");
    // A save whose truncate never happened (a crash right after the
    // replace): the journal's lines are older than the state file.
    let journal = std::fs::read(dir.path(JOURNAL_FILE)).unwrap();
    let mut newer = dir.load().unwrap();
    newer.cursor = "c9".into();
    dir.save(&newer).unwrap();
    std::fs::write(dir.path(JOURNAL_FILE), journal).unwrap();
    assert_eq!(dir.load().unwrap().cursor, "c9");
}

/// `reload` keeps the state in memory when nobody wrote since this
/// process did: a change kept only in memory here shows it was not read.
fn kept_in_memory(dir: &StateDir, st: &mut EngineState) -> bool {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mark = format!("in memory only {}", N.fetch_add(1, Ordering::SeqCst));
    st.device_name = Some(mark.clone());
    dir.reload(st).unwrap();
    st.device_name == Some(mark)
}

#[cfg(unix)]
#[test]
fn reload_skips_a_state_nobody_else_wrote_and_loads_any_other() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = StateDir::open(tmp.path()).unwrap();
    let theirs = StateDir::open(tmp.path()).unwrap();
    let mut st = ours.load().unwrap();
    assert!(
        kept_in_memory(&ours, &mut st),
        "nothing on disk yet, as read"
    );
    ours.save(&st).unwrap();
    ours.append_page(&mut page("c1", "a")).unwrap();
    let mut st = ours.load().unwrap();
    assert!(kept_in_memory(&ours, &mut st), "our own save and append");
    assert_eq!(st.cursor, "c1");

    // Another process appends a page: read.
    let mut other = theirs.load().unwrap();
    theirs.append_page(&mut page("c2", "b")).unwrap();
    assert!(!kept_in_memory(&ours, &mut st));
    assert_eq!((st.cursor.as_str(), st.known["snippets"].len()), ("c2", 2));
    // ...or replaces the state file, whatever its size: read.
    other.cursor = "c3".into();
    theirs.save(&other).unwrap();
    assert!(!kept_in_memory(&ours, &mut st));
    assert_eq!(st.cursor, "c3");
    assert!(kept_in_memory(&ours, &mut st));
    // A failed write leaves the disk unknown: read.
    let state_bytes = std::fs::read(ours.path(STATE_FILE)).unwrap();
    std::fs::remove_file(ours.path(STATE_FILE)).unwrap();
    std::fs::create_dir(ours.path(STATE_FILE)).unwrap();
    std::fs::write(ours.path(STATE_FILE).join("x"), b"x").unwrap();
    assert!(ours.save(&st).is_err());
    std::fs::remove_dir_all(ours.path(STATE_FILE)).unwrap();
    std::fs::write(ours.path(STATE_FILE), state_bytes).unwrap();
    assert!(!kept_in_memory(&ours, &mut st));
}

#[test]
fn a_torn_journal_line_is_reported_until_a_save() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path()).unwrap();
    dir.save(&EngineState::default()).unwrap();
    dir.append_page(&mut page("c1", "a")).unwrap();
    dir.load().unwrap();
    assert!(!dir.journal_torn());
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path(JOURNAL_FILE))
            .unwrap();
        f.write_all(br#"{"cursor":"c2","kno"#).unwrap();
    }
    let st = dir.load().unwrap();
    assert!(dir.journal_torn());
    dir.save(&st).unwrap();
    assert!(!dir.journal_torn());
}

#[test]
fn a_cycle_line_carries_the_summary_and_the_change_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path()).unwrap();
    dir.save(&EngineState::default()).unwrap();
    let tokens: BTreeMap<String, StoreChanges> = [(
        "snippets".to_string(),
        StoreChanges {
            token: "0a0b".into(),
            partial_reads: 3,
        },
    )]
    .into();
    dir.append_page(&mut PageDelta {
        cycle: Some(CycleDelta {
            last_cycle: Some(CycleSummary {
                at_ms: 5,
                ok: true,
                error_code: None,
                duration_ms: 1,
            }),
            last_success_ms: Some(5),
            changes: tokens.clone(),
        }),
        ..Default::default()
    })
    .unwrap();
    let st = dir.load().unwrap();
    assert_eq!((st.last_success_ms, st.changes), (Some(5), tokens));
}

/// A failed append may have left part of its line (a full disk, an I/O
/// error mid-write): a line appended after it would be glued to that part
/// and lost with it, so the journal counts as torn until a save.
#[test]
fn a_failed_append_counts_as_a_torn_journal_until_a_save() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path()).unwrap();
    let st = EngineState::default();
    dir.save(&st).unwrap();
    // The append fails (here: a directory where the journal goes).
    std::fs::create_dir(dir.path(JOURNAL_FILE)).unwrap();
    assert!(dir.append_page(&mut page("c1", "a")).is_err());
    assert!(dir.journal_torn());
    std::fs::remove_dir(dir.path(JOURNAL_FILE)).unwrap();
    dir.save(&st).unwrap();
    assert!(!dir.journal_torn());
}

/// A push of many parts journals each part (sealed, then stored) instead of
/// rewriting the whole state: a load replays the push fields and the hashes
/// the stored part made known, and the state file is not rewritten.
#[test]
fn push_lines_restore_the_outbox_the_run_and_the_known_hashes_without_a_save() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path()).unwrap();
    let mut st = EngineState::default();
    dir.save(&st).unwrap();
    let saved = std::fs::read(dir.path(STATE_FILE)).unwrap();
    let pending = PendingPush {
        seq: 7,
        sha256: "ab".repeat(32),
        checkpoint: true,
        records: 1,
        run: Some(CheckpointRun {
            first: 7,
            parts: 1,
            after: ("snippets".into(), "k9".into()),
            last: false,
            skipped: 0,
        }),
        ..PendingPush::default()
    };
    st.outbox = Some(pending.clone());
    dir.append_page(&mut PageDelta {
        push: Some(PushDelta::of(&st)),
        ..PageDelta::default()
    })
    .unwrap();
    assert_eq!(dir.load().unwrap().outbox, Some(pending.clone()));
    st.outbox = None;
    st.next_seq = 8;
    st.checkpoint_run = pending.run.clone();
    dir.append_page(&mut PageDelta {
        known: vec![("snippets".into(), "k9".into(), "h9".into())],
        push: Some(PushDelta::of(&st)),
        ..PageDelta::default()
    })
    .unwrap();
    let back = dir.load().unwrap();
    assert_eq!(back.outbox, None);
    assert_eq!(back.next_seq, 8);
    assert_eq!(back.checkpoint_run, pending.run);
    assert_eq!(back.known["snippets"]["k9"], "h9");
    assert_eq!(std::fs::read(dir.path(STATE_FILE)).unwrap(), saved);
}

/// The state file carries the generation its journal lines name, written
/// once (the field is stamped at save, not serialised from the state).
#[test]
fn a_saved_state_names_its_generation_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path()).unwrap();
    dir.save(&EngineState::default()).unwrap();
    let text = std::fs::read_to_string(dir.path(STATE_FILE)).unwrap();
    assert_eq!(text.matches("\"generation\"").count(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["generation"].as_u64(),
        Some(dir.load().unwrap().generation)
    );
}
