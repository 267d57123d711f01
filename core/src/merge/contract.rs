//! The generic merge contracts and their total order.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::record::Record;

/// How two versions of the same record (same [`RecordKey`](super::RecordKey))
/// are ordered; the greater one wins everywhere, whatever the arrival order.
///
/// Every contract is a *total, deterministic* order (see [`Contract::compare`]):
/// first the contract's own keys, then `device_id`, then the record's
/// [`content_hash`](Record::content_hash). "First arrival wins" never happens.
///
/// There is deliberately no path-scoped contract: records are keyed by
/// `(scope, id)` where neither may be a filesystem path, so workspace memory
/// (`<workspace>/.azmx/memory/`) cannot be expressed. Workspace paths differ
/// across machines; syncing them would create dead pointers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Contract {
    /// Last-write-wins per record by `updated_at`. Order:
    /// `updated_at`, then tombstone over live, then `device_id`, then hash.
    /// Used by snippets (one record per `(handle, snippet id)`).
    LwwByTime,
    /// Last-write-wins per record by the monotonic `version` counter (every
    /// write, delete included, bumps it). Order: `version`, then `updated_at`,
    /// then tombstone over live, then `device_id`, then hash. Records without
    /// a version are rejected on arrival. Used by global memory.
    LwwByVersion,
    /// Last-write-wins per *group*: the record id names a group (e.g. a todo
    /// session id) and the body is the group's whole content (the full list).
    /// The group is never merged item by item: a newer list replaces the older
    /// one entirely, so the group's invariants (checked by the store's
    /// validator on the whole body) can never be broken by mixing two lists.
    /// Order: the same as [`Contract::LwwByTime`]. Used by todos.
    LwwPerGroup,
}

impl Contract {
    /// Total order between two versions of one record: `Greater` means `a`
    /// wins over `b`. `Equal` is returned only for equal records (`a == b`).
    ///
    /// Antisymmetric and transitive for any pair of records, so folding any
    /// multiset of versions with "keep the greater" gives the same winner in
    /// any order and any grouping. The key fields (`scope`, `id`) are not
    /// compared; callers compare versions of the same key.
    pub fn compare(self, a: &Record, b: &Record) -> Ordering {
        self.compare_keys(a, b)
            .then_with(|| a.device_id.cmp(&b.device_id))
            .then_with(|| tie_break(a, b))
    }

    /// The contract's own keys only (no device id, no hash).
    fn compare_keys(self, a: &Record, b: &Record) -> Ordering {
        match self {
            Contract::LwwByTime | Contract::LwwPerGroup => a
                .updated_at
                .cmp(&b.updated_at)
                // At the same millisecond a delete wins over a write.
                .then_with(|| a.deleted.cmp(&b.deleted)),
            Contract::LwwByVersion => a
                .version
                .cmp(&b.version)
                .then_with(|| a.updated_at.cmp(&b.updated_at))
                .then_with(|| a.deleted.cmp(&b.deleted)),
        }
    }

    /// `true` if records merged by this contract must carry a `version`.
    pub fn requires_version(self) -> bool {
        matches!(self, Contract::LwwByVersion)
    }
}

/// Last resort: equal contract keys and device. Equal records are `Equal`
/// (cheap check first); otherwise the larger SHA-256 of the canonical form
/// wins, so two different bodies written by one device at one instant still
/// converge to the same winner everywhere.
fn tie_break(a: &Record, b: &Record) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    a.content_hash().cmp(&b.content_hash())
}
