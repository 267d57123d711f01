//! Per-store merge: `mergeRecords`, store specs, `validateTodos`, generated
//! from `bindings/exports.toml` into [`generated`]; here the types and their
//! conversions.
//!
//! Records are plain JS objects; `body` is any JSON value (it is user
//! content and never appears in an error message).

use azmx_sync_bridge::records::Merged;
use azmx_sync_bridge::store_spec::{self, Contract, ValidatorKind};
use azmx_sync_bridge::{records, ApiError};
use azmx_sync_core::merge;
use napi::bindgen_prelude::Either;
use napi_derive::napi;
use serde_json::Value;

mod generated;

pub use generated::*;

/// One version of one record.
#[napi(object)]
pub struct SyncRecord {
    /// Record id (snippet id, todo session id, memory chunk id, ...).
    pub id: String,
    /// Snippet handle; absent for unscoped stores (todos, memory).
    pub scope: Option<String>,
    /// Last write time, milliseconds since the Unix epoch.
    pub updated_at: i64,
    /// Monotonic write counter (required by `lwwByVersion` stores: memory).
    pub version: Option<i64>,
    /// Tombstone flag: an explicit delete. Default `false`.
    pub deleted: Option<bool>,
    /// The device that wrote this version.
    pub device_id: String,
    /// The content, any JSON value; absent exactly when `deleted`.
    pub body: Option<Value>,
}

/// How two versions of one record are ordered (the greater one wins).
#[napi(string_enum = "camelCase")]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum MergeContract {
    /// LWW per record by `updatedAt` (snippets).
    LwwByTime,
    /// LWW by the monotonic `version`, then `updatedAt` (global memory).
    LwwByVersion,
    /// LWW per group: one record holds a whole group, e.g. a todo session (todos).
    LwwPerGroup,
}

/// Extra checks on incoming records.
#[napi(string_enum = "camelCase")]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum StoreValidator {
    /// Only the generic shape checks.
    ShapeOnly,
    /// Every record needs a scope (snippets).
    RequireScope,
    /// Records must not carry a scope (memory).
    NoScope,
    /// Unscoped, and every live body passes `validateTodos` (todos).
    Todos,
}

/// A store: its name (`[a-z][a-z0-9_-]*`, at most 64, no `workspace` word),
/// its merge contract and its incoming-record validator.
#[napi(object)]
pub struct StoreSpec {
    pub name: String,
    pub contract: MergeContract,
    pub validator: StoreValidator,
}

azmx_sync_bridge::same_variants!(MergeContract <=> Contract { LwwByTime, LwwByVersion, LwwPerGroup });
azmx_sync_bridge::same_variants!(StoreValidator <=> ValidatorKind { ShapeOnly, RequireScope, NoScope, Todos });

/// A built-in store's parts as a spec object.
fn builtin_spec(&(name, contract, validator): &(&str, Contract, ValidatorKind)) -> StoreSpec {
    StoreSpec {
        name: name.to_string(),
        contract: contract.into(),
        validator: validator.into(),
    }
}

fn to_core_spec(spec: &StoreSpec) -> Result<merge::StoreSpec, ApiError> {
    store_spec::check_store_spec(&spec.name, spec.contract.into(), spec.validator.into())
}

/// The change the host must apply to its own store.
#[napi(string_enum = "camelCase")]
pub enum ChangeOp {
    /// Create the record (there was no live copy).
    Insert,
    /// Replace the live copy.
    Update,
    /// Delete the live copy; the record is the winning tombstone.
    Delete,
}

#[napi(object)]
pub struct RecordChange {
    pub op: ChangeOp,
    pub record: SyncRecord,
}

/// Counts for the activity log.
#[napi(object)]
pub struct MergeCounts {
    pub applied: i64,
    pub kept_local: i64,
    pub rejected_invalid: i64,
    pub unchanged: i64,
}

/// One rejected incoming record (it had no effect; the rest merged).
#[napi(object)]
pub struct RejectedRecord {
    pub scope: Option<String>,
    pub id: String,
    /// `'missingBody' | 'missingScope' | 'missingVersion' | 'todo' | ...`
    pub reason: String,
    /// Human-readable, free of record content.
    pub message: String,
    /// For `'todo'`: the broken invariant, e.g. `{ duplicateId: { index: 1, first: 0 } }`.
    pub detail: Option<Value>,
}

/// The result of `mergeRecords`.
#[napi(object)]
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

fn to_core(r: SyncRecord, list: &str, index: usize) -> Result<merge::Record, ApiError> {
    let version = match r.version {
        Some(v) if v < 0 => {
            return Err(ApiError::invalid_argument(format!(
                "{list}[{index}].version must be a non-negative integer"
            )))
        }
        v => v.map(|v| v as u64),
    };
    Ok(merge::Record {
        id: r.id,
        scope: r.scope,
        updated_at: r.updated_at,
        version,
        deleted: r.deleted.unwrap_or(false),
        device_id: r.device_id,
        body: r.body.map(merge::Body::from),
    })
}

fn from_core(r: merge::Record) -> SyncRecord {
    SyncRecord {
        id: r.id,
        scope: r.scope,
        updated_at: r.updated_at,
        version: r.version.map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
        deleted: Some(r.deleted),
        device_id: r.device_id,
        body: r.body.map(Value::from),
    }
}

fn to_core_list(list: Vec<SyncRecord>, what: &str) -> Result<Vec<merge::Record>, ApiError> {
    list.into_iter()
        .enumerate()
        .map(|(i, r)| to_core(r, what, i))
        .collect()
}

fn rejected(key: merge::RecordKey, reason: merge::InvalidReason) -> RejectedRecord {
    let mut json = records::rejected_json(&key, &reason);
    RejectedRecord {
        scope: key.scope,
        id: key.id,
        reason: json["code"].as_str().unwrap_or("invalid").to_string(),
        message: reason.to_string(),
        detail: json.get_mut("detail").map(Value::take),
    }
}

/// A store argument: a built-in store's name or a spec.
fn store_arg(store: Either<String, StoreSpec>) -> Result<merge::StoreSpec, ApiError> {
    match store {
        Either::A(name) => to_core_spec(&builtin_spec(&store_spec::builtin_parts(&name)?)),
        Either::B(spec) => to_core_spec(&spec),
    }
}

/// The result of every binding's `merge_records`, as Node's objects.
impl From<Merged> for MergeOutcome {
    fn from(m: Merged) -> Self {
        let out = m.outcome;
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        MergeOutcome {
            state: out.state.into_map().into_values().map(from_core).collect(),
            changes: out
                .changes
                .into_iter()
                .map(|c| {
                    let (op, r) = match c {
                        merge::Change::Insert(r) => (ChangeOp::Insert, r),
                        merge::Change::Update(r) => (ChangeOp::Update, r),
                        merge::Change::Delete(r) => (ChangeOp::Delete, r),
                    };
                    RecordChange {
                        op,
                        record: from_core(r),
                    }
                })
                .collect(),
            counts: MergeCounts {
                applied: count(out.counts.applied),
                kept_local: count(out.counts.kept_local),
                rejected_invalid: count(out.counts.rejected_invalid),
                unchanged: count(out.counts.unchanged),
            },
            rejected: out
                .rejected
                .into_iter()
                .map(|(k, r)| rejected(k, r))
                .collect(),
        }
    }
}
