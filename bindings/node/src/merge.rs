//! Per-store merge: `mergeRecords`, store specs, `validateTodos`.
//!
//! Records are plain JS objects; `body` is any JSON value (it is user
//! content and never appears in an error message).

use azmx_sync_bridge::store_spec::{self, Contract, ValidatorKind, BUILTIN_STORES};
use azmx_sync_bridge::{records, ApiError};
use azmx_sync_core::merge;
use napi::bindgen_prelude::Either;
use napi::Env;
use napi_derive::napi;
use serde_json::Value;

use crate::error::guard;

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

/// The three built-in stores: `snippets`, `todos`, `memory`.
#[napi]
pub fn builtin_stores() -> Vec<StoreSpec> {
    BUILTIN_STORES.iter().map(builtin_spec).collect()
}

/// The built-in store named `name`; throws `UNKNOWN_STORE`.
#[napi]
pub fn builtin_store(env: Env, name: String) -> napi::Result<StoreSpec> {
    guard(&env, "builtinStore", || {
        Ok(builtin_spec(&store_spec::builtin_parts(&name)?))
    })
}

/// Checks a host store spec: a valid name, and a built-in name only with the
/// built-in contract and validator. Throws `INVALID_STORE_NAME` (with
/// `problem`).
#[napi]
pub fn check_store_spec(env: Env, spec: StoreSpec) -> napi::Result<()> {
    guard(&env, "checkStoreSpec", || to_core_spec(&spec).map(|_| ()))
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

/// Merges `incoming` into `local` under the store's contract. `store` is a
/// built-in store name (`'snippets' | 'todos' | 'memory'`) or a `StoreSpec`.
///
/// Per key the greatest version wins whatever the arrival order; a key
/// absent from `incoming` is left alone (absence never deletes); deletes are
/// tombstones; malformed incoming records, and records that would win but
/// fail the store's validator, are rejected one by one (listed in
/// `rejected`) without affecting the rest. `local` is trusted. Throws
/// `UNKNOWN_STORE`, `INVALID_STORE_NAME`, `INVALID_ARGUMENT`.
#[napi]
pub fn merge_records(
    env: Env,
    store: Either<String, StoreSpec>,
    local: Vec<SyncRecord>,
    incoming: Vec<SyncRecord>,
) -> napi::Result<MergeOutcome> {
    guard(&env, "mergeRecords", || {
        let spec = match store {
            Either::A(name) => builtin_spec(&store_spec::builtin_parts(&name)?),
            Either::B(spec) => spec,
        };
        let spec = to_core_spec(&spec)?;
        let local: merge::StoreState = to_core_list(local, "local")?.into();
        let incoming = to_core_list(incoming, "incoming")?;
        let out = merge::merge(&spec, &local, incoming);
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Ok(MergeOutcome {
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
        })
    })
}

/// Checks one session's todo list (`{ items: [{ id, content, status }] }`).
/// Throws `INVALID_RECORD` with `problem` (e.g. `'duplicateId'`) and `index`
/// (the item; never its content).
#[napi]
pub fn validate_todos(env: Env, body: Value) -> napi::Result<()> {
    guard(&env, "validateTodos", || Ok(merge::validate_todos(&body)?))
}
