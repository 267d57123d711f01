//! The journal's lines: what one pull page, one push or the end of a cycle
//! changed in the engine state, appended instead of rewriting the whole
//! state file (`state.rs`, `StateDir::append_page`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::integrity_check::{IntegrityDelta, PrevRef};
use super::state::{
    CheckpointRun, CycleSummary, EngineState, ParkedBundle, PendingPush, QuarantineEntry,
    StoreChanges,
};
use crate::merge::Record;

/// One journal line: what a pull page changed, or (with `push` or `cycle`
/// set) what a push part or the end of a cycle did; one JSON line each.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PageDelta {
    pub cursor: String,
    /// (store, record key, short hash).
    pub known: Vec<(String, String, String)>,
    /// (store, tombstone).
    pub tombstones: Vec<(String, Record)>,
    /// The whole (bounded) quarantine, when the page changed it.
    pub quarantine: Option<Vec<QuarantineEntry>>,
    /// The whole (bounded) parked list, when the page changed it.
    pub parked: Option<Vec<ParkedBundle>>,
    /// The generation of the state file this page extends (stamped by
    /// [`StateDir::append_page`]; lines from before a format with
    /// generations have 0, as had their state file).
    #[serde(default)]
    pub generation: u64,
    /// The relay-integrity state's changes, when the page changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<IntegrityDelta>,
    /// Not a page: the end of a cycle (older readers apply only its
    /// unchanged cursor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle: Option<CycleDelta>,
    /// Not a page: a push sealed or stored (its hashes in `known`), so a
    /// push of many parts writes O(part) per part, not the whole state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushDelta>,
}

/// The push fields of the state after a push was sealed (the outbox set)
/// or stored (the outbox cleared, its hashes known).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PushDelta {
    pub outbox: Option<PendingPush>,
    pub next_seq: u64,
    pub last_pushed: Option<PrevRef>,
    pub pushes_since_checkpoint: u32,
    pub checkpoint_run: Option<CheckpointRun>,
    pub changes: BTreeMap<String, StoreChanges>,
}

impl PushDelta {
    /// The push fields of `st` as they are.
    pub fn of(st: &EngineState) -> Self {
        Self {
            outbox: st.outbox.clone(),
            next_seq: st.next_seq,
            last_pushed: st.last_pushed.clone(),
            pushes_since_checkpoint: st.pushes_since_checkpoint,
            checkpoint_run: st.checkpoint_run.clone(),
            changes: st.changes.clone(),
        }
    }
}

/// What the end of a cycle changed, journalled instead of rewriting the
/// O(records) state file when nothing else did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CycleDelta {
    pub last_cycle: Option<CycleSummary>,
    pub last_success_ms: Option<i64>,
    pub changes: BTreeMap<String, StoreChanges>,
}

impl PageDelta {
    pub fn apply_to(self, st: &mut EngineState) {
        for (store, k, h) in self.known {
            st.known.entry(store).or_default().insert(k, h);
        }
        for (store, t) in self.tombstones {
            let list = st.tombstones.entry(store).or_default();
            list.retain(|x| x.key() != t.key());
            list.push(t);
        }
        if let Some(q) = self.quarantine {
            st.quarantine = q;
        }
        if let Some(p) = self.parked {
            st.parked = p;
        }
        if let Some(i) = self.integrity {
            st.integrity.apply(i);
        }
        if let Some(c) = self.cycle {
            st.last_cycle = c.last_cycle;
            st.last_success_ms = c.last_success_ms;
            st.changes = c.changes;
        }
        if let Some(p) = self.push {
            st.outbox = p.outbox;
            st.next_seq = p.next_seq;
            st.last_pushed = p.last_pushed;
            st.pushes_since_checkpoint = p.pushes_since_checkpoint;
            st.checkpoint_run = p.checkpoint_run;
            st.changes = p.changes;
        }
        st.cursor = self.cursor;
    }
}
