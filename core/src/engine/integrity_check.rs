//! Detecting a relay that withholds, reorders or rolls back bundles
//! (`docs/PROTOCOL.md` §6, "Relay integrity").
//!
//! The relay cannot forge or alter a bundle (the envelope and the bound
//! context stop that), but it chooses what it lists and in which order. Each
//! bundle therefore carries, sealed, a link to its device's previous bundle
//! (`prev`) and its device's view of the other devices' latest seqs
//! (`peers`). The reader keeps, per peer device, what it has accounted for
//! in listing order, and checks every new bundle against it. A detection
//! is reported (event + status) and nothing else: what verifies is still
//! applied (merging is idempotent and commutative), nothing is deleted and
//! the cursor never moves backwards.
//!
//! Everything here is pure over the state: [`PageCheck`] takes what one pull
//! page showed and returns the verdicts; the pull writes the state to the
//! journal with the page's cursor and then emits the events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// At most this many peer devices are tracked. Past it the least recently
/// seen device's entry is dropped, and from then on a device with no entry
/// is not known to be new, so `missingCheckpoint` and claims about devices
/// without an entry are no longer checked (see [`IntegrityState::complete`]).
pub const MAX_TRACKED_DEVICES: usize = 4096;
/// A writer claims at most this many peers (the most recently seen first);
/// a reader reads at most this many claims of one bundle.
pub const MAX_PEER_CLAIMS: usize = 1024;
/// The relay never stores a seq above this (PROTOCOL §10): a larger number
/// in a bundle cannot be a real seq and is ignored.
pub const MAX_SEQ: u64 = i64::MAX as u64;

/// `prev` of a bundle: the device's previous pushed bundle, by seq and the
/// SHA-256 (hex) of its sealed blob. Absent on a checkpoint (the chain
/// restarts there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrevRef {
    pub seq: u64,
    pub sha256: String,
}

/// What the reader concluded the relay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IntegrityKind {
    /// A bundle's `prev` names a bundle of its device that the relay did not
    /// list before it (dropped), or one with other bytes (a forked history).
    Gap,
    /// A bundle listed after a later bundle of the same device.
    Reorder,
    /// A checkpoint listed after a newer checkpoint of the same device.
    Rollback,
    /// Another device's bundle says it saw a seq of a device that the relay
    /// never listed to this reader by the end of the pull.
    Withheld,
    /// The first bundle of a device this reader ever saw is a delta: the
    /// relay held back the checkpoint it must list first.
    MissingCheckpoint,
    /// The relay answered `GET /sync/authority` with another license
    /// authority key than the one this device's state keeps, or with none
    /// (PROTOCOL §11.5 step 3). Not from a pull: `register` finds it.
    AuthorityChanged,
}

impl IntegrityKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gap => "gap",
            Self::Reorder => "reorder",
            Self::Rollback => "rollback",
            Self::Withheld => "withheld",
            Self::MissingCheckpoint => "missingCheckpoint",
            Self::AuthorityChanged => "authorityChanged",
        }
    }
}

/// One detection: ids and seqs only, never content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrityProblem {
    pub kind: IntegrityKind,
    /// The device whose bundles the relay mishandled (authorityChanged: the
    /// license id).
    pub device_id: String,
    /// gap, reorder, rollback, missingCheckpoint: the seq of the bundle that
    /// showed it; withheld: the seq claimed.
    pub seq: u64,
    /// What this reader held of that device then: gap and reorder, the last
    /// seq accounted for; rollback, the newest checkpoint; withheld, the
    /// highest seq listed (0: none); missingCheckpoint, 0.
    pub held_seq: u64,
    /// gap: the seq the bundle's `prev` names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_seq: Option<u64>,
    /// withheld: the device whose bundle made the claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    /// authorityChanged: the fingerprint (§11.1) of the authority key this
    /// device keeps for the license.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_authority: Option<String>,
    /// authorityChanged: the fingerprint of the key the relay answered;
    /// absent when it answered none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_authority: Option<String>,
}

impl IntegrityProblem {
    /// A problem of `kind` about `device_id` at `seq`, the optional fields
    /// unset.
    pub fn new(kind: IntegrityKind, device_id: &str, seq: u64, held_seq: u64) -> Self {
        Self {
            kind,
            device_id: device_id.into(),
            seq,
            held_seq,
            prev_seq: None,
            claimed_by: None,
            expected_authority: None,
            found_authority: None,
        }
    }
}

/// The most recent detection, with when it was made (device clock, ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastIntegrityProblem {
    pub at_ms: i64,
    #[serde(flatten)]
    pub problem: IntegrityProblem,
}

/// What the reader accounted for of one peer device, in listing order.
/// "Accounted" is a bundle that was fetched and either opened or
/// quarantined; a listed blob the relay then answers 404 for is not (an
/// honest relay 404s only blobs a later checkpoint pruned, and lists that
/// checkpoint later in the same pull).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeviceTrack {
    /// The highest seq accounted for (honest listings only go up).
    pub seq: u64,
    /// Its SHA-256 as listed (verified before opening).
    pub sha256: String,
    /// Whether that bundle opened; a quarantined one is accounted for but
    /// its `prev` link cannot be compared.
    pub opened: bool,
    /// The newest checkpoint seq opened (0: none).
    pub checkpoint_seq: u64,
    /// The highest seq opened: what this device claims as seen (`peers`).
    pub verified_seq: u64,
    /// When it was last accounted for ([`IntegrityState::tick`]).
    pub tick: u64,
}

/// A claim waiting for the end of the pull: some device said it saw `seq`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Claim {
    pub seq: u64,
    pub by: String,
}

/// The reader's integrity state, kept in the engine state and journalled
/// with the cursor of each pull page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IntegrityState {
    /// `None` until the first page is checked. Then `true` when checking
    /// began at the start of the listing (an empty cursor) and no entry was
    /// ever dropped: only then does "no entry" mean "never listed". A state
    /// from before this check (a cursor already past earlier bundles) is
    /// `false`.
    pub complete: Option<bool>,
    pub devices: BTreeMap<String, DeviceTrack>,
    /// Claims made during the current pull, checked at its end (bounded
    /// like `devices`; the highest claim per device).
    pub claims: BTreeMap<String, Claim>,
    pub tick: u64,
    /// Detections so far (for status).
    pub problems: u64,
    pub last_problem: Option<LastIntegrityProblem>,
}

/// The changes of one page, as one journal line carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IntegrityDelta {
    pub complete: Option<bool>,
    /// Changed entries; `None` removes one.
    pub devices: BTreeMap<String, Option<DeviceTrack>>,
    pub claims: BTreeMap<String, Claim>,
    pub tick: u64,
    pub problems: u64,
    pub last_problem: Option<LastIntegrityProblem>,
}

/// What the checks read of an opened bundle.
#[derive(Debug, Clone, Copy)]
pub struct Links<'a> {
    pub checkpoint: bool,
    pub prev: Option<&'a PrevRef>,
    pub peers: Option<&'a BTreeMap<String, u64>>,
}

impl IntegrityState {
    /// The `peers` a bundle built now claims: the highest seq opened of
    /// each device, at most [`MAX_PEER_CLAIMS`], the most recently seen.
    pub fn peers_view(&self) -> BTreeMap<String, u64> {
        let mut seen: Vec<(&String, &DeviceTrack)> = self
            .devices
            .iter()
            .filter(|(_, t)| t.verified_seq > 0)
            .collect();
        seen.sort_by_key(|(_, t)| std::cmp::Reverse(t.tick));
        seen.into_iter()
            .take(MAX_PEER_CLAIMS)
            .map(|(d, t)| (d.clone(), t.verified_seq))
            .collect()
    }

    /// Checks the claims of a whole pull against what it listed; call once
    /// the last page is in (claims cannot be judged earlier: a checkpoint
    /// that replaced a pruned claimed bundle is listed after the claim).
    pub fn finish_pull(&mut self) -> Vec<IntegrityProblem> {
        let claims = std::mem::take(&mut self.claims);
        claims
            .into_iter()
            .filter_map(|(device, c)| {
                let held = self.devices.get(&device).map_or(0, |t| t.seq);
                (held < c.seq).then_some(IntegrityProblem {
                    claimed_by: Some(c.by),
                    ..IntegrityProblem::new(IntegrityKind::Withheld, &device, c.seq, held)
                })
            })
            .collect()
    }

    /// Counts `found` and keeps the last for status.
    pub fn record(&mut self, found: &[IntegrityProblem], at_ms: i64) {
        self.problems = self.problems.saturating_add(found.len() as u64);
        if let Some(p) = found.last() {
            self.last_problem = Some(LastIntegrityProblem {
                at_ms,
                problem: p.clone(),
            });
        }
    }

    /// What changed from `before` to `self`, for the journal.
    pub fn delta_from(&self, before: &IntegrityState) -> Option<IntegrityDelta> {
        if self == before {
            return None;
        }
        let mut devices: BTreeMap<String, Option<DeviceTrack>> = self
            .devices
            .iter()
            .filter(|(d, t)| before.devices.get(*d) != Some(*t))
            .map(|(d, t)| (d.clone(), Some(t.clone())))
            .collect();
        for d in before.devices.keys() {
            if !self.devices.contains_key(d) {
                devices.insert(d.clone(), None);
            }
        }
        Some(IntegrityDelta {
            complete: self.complete,
            devices,
            claims: self.claims.clone(),
            tick: self.tick,
            problems: self.problems,
            last_problem: self.last_problem.clone(),
        })
    }

    pub fn apply(&mut self, delta: IntegrityDelta) {
        for (d, t) in delta.devices {
            match t {
                Some(t) => self.devices.insert(d, t),
                None => self.devices.remove(&d),
            };
        }
        self.complete = delta.complete;
        self.claims = delta.claims;
        self.tick = delta.tick;
        self.problems = delta.problems;
        self.last_problem = delta.last_problem;
    }

    fn touch(&mut self, device: &str) -> &mut DeviceTrack {
        self.tick = self.tick.saturating_add(1);
        let tick = self.tick;
        if !self.devices.contains_key(device) && self.devices.len() >= MAX_TRACKED_DEVICES {
            let oldest = self
                .devices
                .iter()
                .min_by_key(|(_, t)| t.tick)
                .map(|(d, _)| d.clone());
            if let Some(d) = oldest {
                self.devices.remove(&d);
            }
            self.complete = Some(false);
        }
        let t = self.devices.entry(device.to_string()).or_default();
        t.tick = tick;
        t
    }

    fn knows_all(&self) -> bool {
        self.complete == Some(true)
    }
}

/// A gap seen in a page, reported at the page's end unless a later item of
/// the same page turns out to be the missing bundle (then it is one reorder).
struct PendingGap {
    problem: IntegrityProblem,
}

/// The checks of one pull page, in listing order.
pub struct PageCheck<'a> {
    st: &'a mut IntegrityState,
    reader: &'a str,
    gaps: Vec<PendingGap>,
    found: Vec<IntegrityProblem>,
}

impl<'a> PageCheck<'a> {
    /// `cursor_before` is the cursor this page was pulled from.
    pub fn new(st: &'a mut IntegrityState, reader: &'a str, cursor_before: &str) -> Self {
        if st.complete.is_none() {
            st.complete = Some(cursor_before.is_empty());
        }
        Self {
            st,
            reader,
            gaps: Vec::new(),
            found: Vec::new(),
        }
    }

    /// A listed bundle that opened and passed its context check.
    pub fn opened(&mut self, device: &str, seq: u64, sha256: &str, links: Links<'_>) {
        let knows_all = self.st.knows_all();
        let prior = self.st.devices.get(device).cloned();
        match &prior {
            None if knows_all && !links.checkpoint => self.found.push(IntegrityProblem::new(
                IntegrityKind::MissingCheckpoint,
                device,
                seq,
                0,
            )),
            Some(t) if seq <= t.seq => self.out_of_order(device, seq, t, links.checkpoint),
            Some(t) => self.check_link(device, seq, t, links),
            None => {}
        }
        self.claims(device, links.peers);
        let t = self.st.touch(device);
        if seq > t.seq || prior.is_none() {
            t.seq = seq;
            t.sha256 = sha256.into();
            t.opened = true;
        }
        t.verified_seq = t.verified_seq.max(seq);
        if links.checkpoint {
            t.checkpoint_seq = t.checkpoint_seq.max(seq);
        }
    }

    /// A listed bundle that was fetched but quarantined: accounted for (it
    /// exists; its failure is reported on its own), its links unknown.
    pub fn quarantined(&mut self, device: &str, seq: u64, sha256: &str) {
        let t = self.st.touch(device);
        if seq > t.seq {
            t.seq = seq;
            t.sha256 = sha256.into();
            t.opened = false;
        }
    }

    /// The page's detections (the state holds the rest until the pull ends).
    pub fn finish(mut self) -> Vec<IntegrityProblem> {
        self.found.extend(self.gaps.into_iter().map(|g| g.problem));
        self.found
    }

    fn out_of_order(&mut self, device: &str, seq: u64, t: &DeviceTrack, checkpoint: bool) {
        // The missing bundle of a gap seen earlier on this page, listed late:
        // one swap, so one reorder, not a gap and a reorder.
        if let Some(i) = self.gaps.iter().position(|g| {
            g.problem.device_id == device
                && g.problem.held_seq < seq
                && g.problem.prev_seq.is_some_and(|p| seq <= p)
        }) {
            self.gaps.remove(i);
        }
        let rollback = checkpoint && seq < t.checkpoint_seq;
        let (kind, held) = if rollback {
            (IntegrityKind::Rollback, t.checkpoint_seq)
        } else {
            (IntegrityKind::Reorder, t.seq)
        };
        self.found
            .push(IntegrityProblem::new(kind, device, seq, held));
    }

    fn check_link(&mut self, device: &str, seq: u64, t: &DeviceTrack, links: Links<'_>) {
        // A checkpoint restarts the chain; a delta of an older writer has no
        // link to check. A `prev` below the last seq accounted for is the
        // writer's own doing (its seq was resynchronised after a conflict:
        // the relay cannot make a writer name an older bundle).
        let Some(prev) = links.prev.filter(|_| !links.checkpoint) else {
            return;
        };
        let broken = prev.seq > t.seq || (prev.seq == t.seq && t.opened && prev.sha256 != t.sha256);
        if broken {
            self.gaps.push(PendingGap {
                problem: IntegrityProblem {
                    prev_seq: Some(prev.seq),
                    ..IntegrityProblem::new(IntegrityKind::Gap, device, seq, t.seq)
                },
            });
        }
    }

    fn claims(&mut self, claimant: &str, peers: Option<&BTreeMap<String, u64>>) {
        let Some(peers) = peers else { return };
        let knows_all = self.st.knows_all();
        for (device, &seq) in peers.iter().take(MAX_PEER_CLAIMS) {
            // Its own chain covers the claimant; this reader's own bundles
            // are never listed to it (PROTOCOL §6 says why that claim is not
            // checked); a number no relay stores is not a claim.
            if device == claimant
                || device == self.reader
                || seq == 0
                || seq > MAX_SEQ
                || crate::canonical::check_id("deviceId", device).is_err()
            {
                continue;
            }
            let held = match self.st.devices.get(device) {
                Some(t) => t.seq,
                None if knows_all => 0,
                None => continue,
            };
            if held >= seq {
                continue;
            }
            let full = self.st.claims.len() >= MAX_TRACKED_DEVICES;
            match self.st.claims.get_mut(device) {
                Some(c) if c.seq < seq => {
                    c.seq = seq;
                    c.by = claimant.into();
                }
                Some(_) => {}
                None if full => {}
                None => {
                    self.st.claims.insert(
                        device.clone(),
                        Claim {
                            seq,
                            by: claimant.into(),
                        },
                    );
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "integrity_check_tests.rs"]
mod tests;
