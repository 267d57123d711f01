//! The relay-integrity detector over hand-made listings.

use super::*;

const READER: &str = "dev_reader";

/// One listed item as the reader saw it.
#[derive(Clone)]
enum Seen {
    /// Opened: device, seq, checkpoint, prev seq (with the sha of that
    /// seq's item as `sha(device, seq)`), peers.
    Open(
        &'static str,
        u64,
        bool,
        Option<u64>,
        Vec<(&'static str, u64)>,
    ),
    /// Fetched but quarantined.
    Bad(&'static str, u64),
}

fn sha(device: &str, seq: u64) -> String {
    crate::integrity::sha256_hex(format!("{device}/{seq}").as_bytes())
}

fn cp(d: &'static str, seq: u64) -> Seen {
    Seen::Open(d, seq, true, None, vec![])
}

fn delta(d: &'static str, seq: u64, prev: u64) -> Seen {
    Seen::Open(d, seq, false, Some(prev), vec![])
}

/// Runs pages (the last one ends the pull) and returns the kinds found.
fn run(st: &mut IntegrityState, cursor: &str, pages: &[Vec<Seen>]) -> Vec<IntegrityKind> {
    let mut found = Vec::new();
    for (i, page) in pages.iter().enumerate() {
        let mut check = PageCheck::new(st, READER, if i == 0 { cursor } else { "c_1" });
        for item in page {
            match item {
                Seen::Open(d, seq, checkpoint, prev, peers) => {
                    let prev = prev.map(|p| PrevRef {
                        seq: p,
                        sha256: sha(d, p),
                    });
                    let peers: BTreeMap<String, u64> =
                        peers.iter().map(|(k, v)| (k.to_string(), *v)).collect();
                    check.opened(
                        d,
                        *seq,
                        &sha(d, *seq),
                        Links {
                            checkpoint: *checkpoint,
                            prev: prev.as_ref(),
                            peers: Some(&peers),
                        },
                    );
                }
                Seen::Bad(d, seq) => check.quarantined(d, *seq, &sha(d, *seq)),
            }
        }
        found.extend(check.finish());
    }
    found.extend(st.finish_pull());
    st.record(&found, 1);
    found.into_iter().map(|p| p.kind).collect()
}

fn fresh() -> IntegrityState {
    IntegrityState::default()
}

#[test]
fn an_honest_listing_raises_nothing_also_across_pulls_and_a_prune() {
    let mut st = fresh();
    let first = vec![cp("dev_a", 1), delta("dev_a", 2, 1), cp("dev_b", 1)];
    assert!(run(&mut st, "", &[first]).is_empty());
    // dev_a pushed 3..=5 and checkpoint 6, then pruned below 6: the relay
    // lists only 6 and what follows; 3 was listed but 404 (not accounted).
    let second = vec![cp("dev_a", 6), delta("dev_a", 7, 6), delta("dev_b", 2, 1)];
    assert!(run(&mut st, "c_1", &[second]).is_empty());
    // Gaps in seqs (a resynchronised writer) are allowed: prev names the
    // last push the writer knows of, which may be below what was listed.
    assert!(run(&mut st, "c_2", &[vec![delta("dev_a", 9, 6)]]).is_empty());
    assert_eq!(st.problems, 0);
    assert_eq!(st.devices["dev_a"].seq, 9);
}

#[test]
fn a_dropped_middle_bundle_is_a_gap() {
    let mut st = fresh();
    let kinds = run(&mut st, "", &[vec![cp("dev_a", 1), delta("dev_a", 3, 2)]]);
    assert_eq!(kinds, vec![IntegrityKind::Gap]);
    let p = st.last_problem.as_ref().unwrap();
    assert_eq!(
        (p.problem.seq, p.problem.held_seq, p.problem.prev_seq),
        (3, 1, Some(2))
    );
}

#[test]
fn a_withheld_blob_is_a_gap_but_a_quarantined_one_is_not() {
    // 2 was listed but answered 404 (not accounted): 3 names it.
    let mut st = fresh();
    assert_eq!(
        run(&mut st, "", &[vec![cp("dev_a", 1), delta("dev_a", 3, 2)]]),
        vec![IntegrityKind::Gap]
    );
    // 2 was corrupt (quarantined and reported on its own): no gap.
    let mut st = fresh();
    let page = vec![cp("dev_a", 1), Seen::Bad("dev_a", 2), delta("dev_a", 3, 2)];
    assert!(run(&mut st, "", &[page]).is_empty());
}

#[test]
fn a_prev_with_other_bytes_is_a_gap() {
    let mut st = fresh();
    let mut check = PageCheck::new(&mut st, READER, "");
    let links = |prev| Links {
        checkpoint: false,
        prev,
        peers: None,
    };
    check.opened(
        "dev_a",
        1,
        &sha("dev_a", 1),
        Links {
            checkpoint: true,
            ..links(None)
        },
    );
    let forked = PrevRef {
        seq: 1,
        sha256: sha("dev_a", 99),
    };
    check.opened("dev_a", 2, &sha("dev_a", 2), links(Some(&forked)));
    let found = check.finish();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, IntegrityKind::Gap);
}

#[test]
fn two_swapped_bundles_are_one_reorder() {
    let mut st = fresh();
    let page = vec![cp("dev_a", 1), delta("dev_a", 3, 2), delta("dev_a", 2, 1)];
    assert_eq!(run(&mut st, "", &[page]), vec![IntegrityKind::Reorder]);
    assert_eq!(
        st.devices["dev_a"].seq, 3,
        "the cursor of a device never goes back"
    );
    // A bundle listed again (a replayed answer) is a reorder too.
    assert_eq!(
        run(&mut st, "c_1", &[vec![delta("dev_a", 3, 2)]]),
        vec![IntegrityKind::Reorder]
    );
}

#[test]
fn an_old_checkpoint_after_a_newer_one_is_a_rollback() {
    let mut st = fresh();
    run(
        &mut st,
        "",
        &[vec![cp("dev_a", 1), delta("dev_a", 2, 1), cp("dev_a", 3)]],
    );
    assert_eq!(
        run(&mut st, "c_1", &[vec![cp("dev_a", 1)]]),
        vec![IntegrityKind::Rollback]
    );
    let p = &st.last_problem.as_ref().unwrap().problem;
    assert_eq!((p.seq, p.held_seq), (1, 3));
}

#[test]
fn a_first_delta_is_a_missing_checkpoint_only_from_the_start_of_the_listing() {
    let mut st = fresh();
    assert_eq!(
        run(&mut st, "", &[vec![delta("dev_a", 5, 4)]]),
        vec![IntegrityKind::MissingCheckpoint]
    );
    // A state from before these checks (cursor already past bundles):
    // a device without an entry may have been listed before.
    let mut st = fresh();
    assert!(run(&mut st, "c_9", &[vec![delta("dev_a", 5, 4)]]).is_empty());
    assert_eq!(st.complete, Some(false));
}

#[test]
fn a_claimed_seq_never_listed_by_the_end_of_the_pull_is_withheld() {
    let mut st = fresh();
    // dev_b saw dev_a's 7; the relay shows this reader only dev_a's 1.
    let page = vec![
        cp("dev_a", 1),
        Seen::Open("dev_b", 1, true, None, vec![("dev_a", 7), (READER, 40)]),
    ];
    assert_eq!(run(&mut st, "", &[page]), vec![IntegrityKind::Withheld]);
    let p = &st.last_problem.as_ref().unwrap().problem;
    assert_eq!(
        (
            p.device_id.as_str(),
            p.seq,
            p.held_seq,
            p.claimed_by.as_deref()
        ),
        ("dev_a", 7, 1, Some("dev_b"))
    );
    assert!(st.claims.is_empty());
}

#[test]
fn a_claim_met_later_in_the_pull_is_not_withheld() {
    // dev_a's 7 was pruned by its checkpoint 8, stored after dev_b's bundle.
    let mut st = fresh();
    let pages = [
        vec![
            cp("dev_a", 1),
            Seen::Open("dev_b", 1, true, None, vec![("dev_a", 7)]),
        ],
        vec![cp("dev_a", 8)],
    ];
    assert!(run(&mut st, "", &pages).is_empty());
}

#[test]
fn claims_of_junk_are_ignored_and_the_writer_view_is_bounded() {
    let mut st = fresh();
    let page = vec![Seen::Open(
        "dev_b",
        1,
        true,
        None,
        vec![
            ("dev_b", 9),
            ("bad|id", 3),
            ("dev_c", 0),
            ("dev_d", u64::MAX),
        ],
    )];
    assert!(run(&mut st, "", &[page]).is_empty());
    for i in 0..(MAX_PEER_CLAIMS + 5) {
        let d = format!("dev_{i:04}");
        let t = st.touch(&d);
        t.verified_seq = 1;
    }
    let view = st.peers_view();
    assert_eq!(view.len(), MAX_PEER_CLAIMS);
    assert!(view.contains_key(&format!("dev_{:04}", MAX_PEER_CLAIMS + 4)));
    assert!(
        !view.contains_key("dev_0000"),
        "the most recently seen first"
    );
}

#[test]
fn the_device_table_is_bounded_and_then_stops_assuming_new_devices() {
    let mut st = fresh();
    st.complete = Some(true);
    for i in 0..=MAX_TRACKED_DEVICES {
        st.touch(&format!("dev_{i:05}"));
    }
    assert_eq!(st.devices.len(), MAX_TRACKED_DEVICES);
    assert!(!st.devices.contains_key("dev_00000"));
    assert_eq!(st.complete, Some(false));
    // dev_00000 was forgotten: its next delta is not a missing checkpoint.
    assert!(run(&mut st, "c_1", &[vec![delta("dev_00000", 3, 2)]]).is_empty());
}

#[test]
fn the_journal_delta_rebuilds_the_state() {
    let mut before = fresh();
    run(&mut before, "", &[vec![cp("dev_a", 1), cp("dev_b", 1)]]);
    let mut after = before.clone();
    run(&mut after, "c_1", &[vec![delta("dev_a", 3, 2)]]);
    after.devices.remove("dev_b");
    let delta = after.delta_from(&before).unwrap();
    let mut rebuilt = before.clone();
    rebuilt.apply(delta);
    assert_eq!(rebuilt, after);
    assert!(after.delta_from(&after).is_none());
}

/// The `detector` cases of `tests/vectors/bundle-v1-chain.json`.
#[test]
fn the_published_detector_cases() {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/vectors/bundle-v1-chain.json")).unwrap();
    let reader = v["reader"].as_str().unwrap();
    let text = |v: &serde_json::Value| v.as_str().unwrap().to_string();
    for case in v["detector"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut st = IntegrityState::default();
        let mut found = Vec::new();
        for (i, page) in case["pages"].as_array().unwrap().iter().enumerate() {
            let cursor = if i == 0 {
                text(&case["cursor"])
            } else {
                "c_next".into()
            };
            let mut check = PageCheck::new(&mut st, reader, &cursor);
            for item in page.as_array().unwrap() {
                let (d, seq) = (text(&item["deviceId"]), item["seq"].as_u64().unwrap());
                let sha = format!("sha:{d}/{seq}");
                let prev: Option<PrevRef> = serde_json::from_value(item["prev"].clone()).unwrap();
                let peers: Option<BTreeMap<String, u64>> =
                    serde_json::from_value(item["peers"].clone()).unwrap();
                let links = Links {
                    checkpoint: item["checkpoint"].as_bool().unwrap(),
                    prev: prev.as_ref(),
                    peers: peers.as_ref(),
                };
                match item["outcome"].as_str().unwrap() {
                    "open" => check.opened(&d, seq, &sha, links),
                    "quarantined" => check.quarantined(&d, seq, &sha),
                    "missing" => {}
                    other => panic!("{name}: outcome {other}"),
                }
            }
            found.extend(check.finish());
        }
        found.extend(st.finish_pull());
        let kinds: Vec<&str> = found.iter().map(|p| p.kind.as_str()).collect();
        let want: Vec<&str> = case["expect"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert_eq!(kinds, want, "{name}");
    }
}
