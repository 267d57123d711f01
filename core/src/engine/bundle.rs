//! The bundle: the plaintext inside a pushed envelope.
//!
//! ```json
//! {"format":"azmx.bundle.v1","licenseId":"…","deviceId":"…","seq":7,
//!  "checkpoint":false,"createdAtMs":1764288000000,
//!  "stores":[{"store":"snippets","records":[…]}]}
//! ```
//!
//! The envelope has no AAD (the seed's layout), so the context is bound
//! here: a reader checks license, owner device and seq against where the
//! relay says the blob came from, and rejects a moved blob.
//!
//! `prev` and `peers` (PROTOCOL §6, "Relay integrity") let a reader tell a
//! relay that drops, reorders or rolls back bundles; a writer of this
//! version always writes `peers`, and `prev` on every delta. Both are
//! optional for readers, so bundles of older writers still read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::integrity_check::{Links, PrevRef};
use crate::merge::Record;

pub const BUNDLE_FORMAT: &str = "azmx.bundle.v1";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreRecords {
    pub store: String,
    pub records: Vec<Record>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub format: String,
    pub license_id: String,
    pub device_id: String,
    pub seq: u64,
    /// A full snapshot of every store (supersedes this device's earlier blobs).
    pub checkpoint: bool,
    pub created_at_ms: i64,
    pub stores: Vec<StoreRecords>,
    /// This device's previous pushed bundle; absent on a checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<PrevRef>,
    /// deviceId → the highest seq of that device this writer has opened.
    #[serde(default)]
    pub peers: Option<BTreeMap<String, u64>>,
    /// Set on each bundle of a checkpoint written as more than one push
    /// (PROTOCOL §6, "Checkpoints in parts"); absent on a checkpoint that
    /// is one bundle and on deltas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<CheckpointPart>,
}

/// Where a bundle stands in a checkpoint written as several pushes: the
/// first (`index` 0, `checkpoint: true`, `first` = its own seq) restarts
/// the chain, the others are chained by `prev` like deltas. Together they
/// hold every record; only after the last one is stored does the writer
/// prune below `first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointPart {
    /// The seq of the checkpoint's first part.
    pub first: u64,
    pub index: u32,
    /// The checkpoint is complete with this part.
    pub last: bool,
}

/// Which bound field disagreed with the blob's location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextField {
    Format,
    LicenseId,
    DeviceId,
    Seq,
    DuplicateStore,
    Part,
}

impl ContextField {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Format => "format",
            Self::LicenseId => "licenseId",
            Self::DeviceId => "deviceId",
            Self::Seq => "seq",
            Self::DuplicateStore => "stores",
            Self::Part => "part",
        }
    }
}

impl Bundle {
    /// What the relay-integrity checks read.
    pub fn links(&self) -> Links<'_> {
        Links {
            checkpoint: self.checkpoint,
            prev: self.prev.as_ref(),
            peers: self.peers.as_ref(),
        }
    }

    /// Holds every record of its writer by itself: a checkpoint that is
    /// not split into parts.
    pub fn whole_checkpoint(&self) -> bool {
        self.checkpoint && self.part.is_none()
    }

    pub fn record_count(&self) -> usize {
        self.stores.iter().map(|s| s.records.len()).sum()
    }

    /// Checks the bound context against where the blob was found.
    pub fn check_context(
        &self,
        license_id: &str,
        owner: &str,
        seq: u64,
    ) -> Result<(), ContextField> {
        if self.format != BUNDLE_FORMAT {
            return Err(ContextField::Format);
        }
        if self.license_id != license_id {
            return Err(ContextField::LicenseId);
        }
        if self.device_id != owner {
            return Err(ContextField::DeviceId);
        }
        if self.seq != seq {
            return Err(ContextField::Seq);
        }
        let mut names: Vec<&str> = self.stores.iter().map(|s| s.store.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(ContextField::DuplicateStore);
        }
        if let Some(p) = self.part {
            // The first part is the checkpoint and names itself; a later
            // one comes after it and, like a delta, names its `prev`.
            let consistent = if p.index == 0 {
                self.checkpoint && p.first == seq
            } else {
                !self.checkpoint && p.first < seq && self.prev.is_some()
            };
            if !consistent {
                return Err(ContextField::Part);
            }
        }
        Ok(())
    }
}
