//! Per-store merge: records, store specs, `merge_records`, `validate_todos`.
//!
//! Record bodies cross the boundary as JSON text; they are parsed on the way
//! in and written back in canonical form (keys sorted, no whitespace). The
//! functions are generated from `bindings/exports.toml` (`merge/generated.rs`,
//! included here so that uniffi sees them in this module, as it always did);
//! the types and their conversions are here.

use azmx_sync_bridge::records::Merged;
use azmx_sync_bridge::store_spec;
use azmx_sync_bridge::ApiError;
use azmx_sync_core::merge::{self as cm, Body, Change, InvalidReason, Record};
// The core's types, exported under the names the foreign code has always
// used (see `error.rs` on `remote`).
pub use azmx_sync_core::merge::{
    Contract as MergeContract, MergeCounts, ValidatorKind as StoreValidator,
};
use serde_json::Value;

use super::error::SyncError;

/// One version of one record (as stored locally and as carried between
/// devices). `body` is JSON text, present exactly when `deleted` is false.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncRecord {
    /// Record id (snippet id, todo session id, memory chunk id, ...).
    pub id: String,
    /// Snippet handle; `None` for unscoped stores (todos, memory).
    #[uniffi(default = None)]
    pub scope: Option<String>,
    /// Last write time, milliseconds since the Unix epoch.
    pub updated_at: i64,
    /// Monotonic write counter (required by `LwwByVersion` stores: memory).
    #[uniffi(default = None)]
    pub version: Option<u64>,
    /// Tombstone flag: an explicit delete.
    #[uniffi(default = false)]
    pub deleted: bool,
    /// The device that wrote this version.
    pub device_id: String,
    /// JSON text of the content; `None` iff `deleted`.
    #[uniffi(default = None)]
    pub body: Option<String>,
}

/// How two versions of one record are ordered (the greater one wins).
#[uniffi::remote(Enum)]
pub enum MergeContract {
    /// LWW per record by `updated_at` (snippets).
    LwwByTime,
    /// LWW by the monotonic `version`, then `updated_at` (global memory).
    LwwByVersion,
    /// LWW per group: the record is a whole group, e.g. a todo session (todos).
    LwwPerGroup,
}

/// Extra checks on incoming records, chosen from the core's validators.
#[uniffi::remote(Enum)]
pub enum StoreValidator {
    /// Only the generic shape checks.
    ShapeOnly,
    /// Every record needs a scope (snippets).
    RequireScope,
    /// Records must not carry a scope (memory).
    NoScope,
    /// Unscoped, and every live body passes `validate_todos` (todos).
    Todos,
}

/// A store: its name (`[a-z][a-z0-9_-]*`, at most 64, no `workspace` word),
/// its merge contract and its incoming-record validator.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StoreSpec {
    pub name: String,
    pub contract: MergeContract,
    pub validator: StoreValidator,
}

fn builtin_spec(&(name, contract, validator): &(&str, MergeContract, StoreValidator)) -> StoreSpec {
    StoreSpec {
        name: name.to_string(),
        contract,
        validator,
    }
}

pub(crate) fn to_core_spec(spec: &StoreSpec) -> Result<cm::StoreSpec, SyncError> {
    Ok(store_spec::check_store_spec(
        &spec.name,
        spec.contract,
        spec.validator,
    )?)
}

/// The change the host must apply to its own store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChangeOp {
    /// Create the record (there was no live copy).
    Insert,
    /// Replace the live copy.
    Update,
    /// Delete the live copy; the record is the winning tombstone.
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecordChange {
    pub op: ChangeOp,
    pub record: SyncRecord,
}

impl From<Change> for RecordChange {
    fn from(c: Change) -> Self {
        let (op, r) = match c {
            Change::Insert(r) => (ChangeOp::Insert, r),
            Change::Update(r) => (ChangeOp::Update, r),
            Change::Delete(r) => (ChangeOp::Delete, r),
        };
        Self {
            op,
            record: from_core_record(r),
        }
    }
}

/// Counts for the activity log (see `docs/MERGE.md`).
#[uniffi::remote(Record)]
pub struct MergeCounts {
    pub applied: u64,
    pub kept_local: u64,
    pub rejected_invalid: u64,
    pub unchanged: u64,
}

/// Why an incoming record was rejected (it had no effect; the rest of the
/// batch merged normally). No variant carries user content.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum RejectReason {
    TombstoneWithBody,
    MissingBody,
    NegativeTimestamp,
    FutureTimestamp,
    VersionTooLarge,
    VersionAheadOfTime,
    EmptyId,
    IdTooLong,
    ControlCharInId,
    PathLikeId,
    EmptyDeviceId,
    DeviceIdTooLong,
    ControlCharInDeviceId,
    EmptyScope,
    ScopeTooLong,
    ControlCharInScope,
    PathLikeScope,
    MissingScope,
    UnexpectedScope,
    MissingVersion,
    InvalidTodos {
        problem: super::error::TodoProblem,
    },
    Custom {
        code: String,
    },
    /// A reason added to the core after these bindings were written.
    Other {
        detail: String,
    },
}

azmx_sync_bridge::variants_into!(InvalidReason => RejectReason {
    TombstoneWithBody, MissingBody, NegativeTimestamp, FutureTimestamp, VersionTooLarge,
    VersionAheadOfTime, EmptyId, IdTooLong, ControlCharInId,
    PathLikeId, EmptyDeviceId, DeviceIdTooLong, ControlCharInDeviceId, EmptyScope, ScopeTooLong,
    ControlCharInScope, PathLikeScope, MissingScope, UnexpectedScope, MissingVersion,
} else {
    InvalidReason::Todo(t) => Self::InvalidTodos { problem: t.into() },
    InvalidReason::Custom(code) => Self::Custom { code: code.to_string() },
    other => Self::Other { detail: other.to_string() },
});

/// One rejected incoming record: its key and the reason.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RejectedRecord {
    pub scope: Option<String>,
    pub id: String,
    pub reason: RejectReason,
}

/// The result of [`merge_records`].
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MergeOutcome {
    /// The store's new state, tombstones included, in key order. Keep it and
    /// pass it as `local` next time.
    pub state: Vec<SyncRecord>,
    /// What the host must apply to its own store, in key order.
    pub changes: Vec<RecordChange>,
    pub counts: MergeCounts,
    /// Every rejected incoming record, in key order.
    pub rejected: Vec<RejectedRecord>,
}

/// The result of every binding's `merge_records`, as uniffi's records.
impl From<Merged> for MergeOutcome {
    fn from(m: Merged) -> Self {
        let out = m.outcome;
        MergeOutcome {
            state: out
                .state
                .into_map()
                .into_values()
                .map(from_core_record)
                .collect(),
            changes: out.changes.into_iter().map(RecordChange::from).collect(),
            counts: out.counts,
            rejected: out
                .rejected
                .into_iter()
                .map(|(key, reason)| RejectedRecord {
                    scope: key.scope,
                    id: key.id,
                    reason: reason.into(),
                })
                .collect(),
        }
    }
}

/// A JSON text argument as a value (`InvalidJson` naming `what`).
fn json_value(json: &str, what: &str) -> Result<Value, SyncError> {
    Ok(azmx_sync_bridge::records::parse_as(json, what)?)
}

fn parse_body(
    body: Option<&str>,
    what: impl FnOnce() -> String,
) -> Result<Option<Body>, SyncError> {
    body.map(|text| Body::from_json(text).map_err(|e| ApiError::invalid_json(what(), &e).into()))
        .transpose()
}

/// A record with the same fields as `$r`, its body given: the core's
/// `Record` and [`SyncRecord`] differ only in the body's form.
macro_rules! with_body {
    ($record:ident, $r:ident, $body:expr) => {
        $record {
            body: $body,
            id: $r.id,
            scope: $r.scope,
            updated_at: $r.updated_at,
            version: $r.version,
            deleted: $r.deleted,
            device_id: $r.device_id,
        }
    };
}

pub(crate) fn to_core_record(r: SyncRecord, list: &str, index: usize) -> Result<Record, SyncError> {
    let body = parse_body(r.body.as_deref(), || format!("{list}[{index}].body"))?;
    Ok(with_body!(Record, r, body))
}

pub(crate) fn from_core_record(r: Record) -> SyncRecord {
    with_body!(
        SyncRecord,
        r,
        r.body.as_ref().map(|b| b.as_json_str().to_owned())
    )
}

fn to_core_records(records: Vec<SyncRecord>, list: &str) -> Result<Vec<Record>, SyncError> {
    records
        .into_iter()
        .enumerate()
        .map(|(i, r)| to_core_record(r, list, i))
        .collect()
}

include!("merge/generated.rs");

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, at: i64, dev: &str, body: &str) -> SyncRecord {
        SyncRecord {
            id: id.into(),
            scope: Some("h".into()),
            updated_at: at,
            version: None,
            deleted: false,
            device_id: dev.into(),
            body: Some(body.into()),
        }
    }

    #[test]
    fn merges_snippets_additively() {
        let spec = builtin_store("snippets".into()).unwrap();
        let out = merge_records(
            spec,
            vec![rec("a", 1, "d1", r#"{"t":"x"}"#)],
            vec![rec("b", 2, "d2", r#"{ "t" : "y" }"#)],
        )
        .unwrap();
        assert_eq!(out.state.len(), 2);
        assert_eq!(out.changes.len(), 1);
        assert_eq!(out.changes[0].op, ChangeOp::Insert);
        assert_eq!(out.changes[0].record.body.as_deref(), Some(r#"{"t":"y"}"#));
    }

    #[test]
    fn builtin_names_cannot_be_redefined() {
        let mut s = builtin_store("memory".into()).unwrap();
        s.contract = MergeContract::LwwByTime;
        assert!(matches!(
            check_store_spec(s),
            Err(SyncError::BuiltinStoreRedefined { .. })
        ));
        assert!(matches!(
            check_store_spec(StoreSpec {
                name: "team-workspace".into(),
                contract: MergeContract::LwwByTime,
                validator: StoreValidator::ShapeOnly
            }),
            Err(SyncError::InvalidStoreName { .. })
        ));
    }

    #[test]
    fn todos_are_validated() {
        validate_todos(r#"{"items":[{"id":"1","content":"x","status":"pending"}]}"#.into())
            .unwrap();
        assert!(matches!(
            validate_todos("{".into()),
            Err(SyncError::InvalidJson { .. })
        ));
        assert!(matches!(
            validate_todos(r#"{"items":[{"id":"1","content":"x","status":"nope"}]}"#.into()),
            Err(SyncError::InvalidTodos { .. })
        ));
    }

    #[test]
    fn the_time_and_version_bounds_keep_their_own_reasons() {
        // Each core reason has a named variant: `Other` is for a core newer
        // than these bindings, never for a reason that exists today.
        for (core, ours) in [
            (
                InvalidReason::FutureTimestamp,
                RejectReason::FutureTimestamp,
            ),
            (
                InvalidReason::VersionTooLarge,
                RejectReason::VersionTooLarge,
            ),
            (
                InvalidReason::VersionAheadOfTime,
                RejectReason::VersionAheadOfTime,
            ),
        ] {
            assert_eq!(RejectReason::from(core), ours);
        }
    }
}
