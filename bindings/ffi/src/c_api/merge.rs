//! Merge across the C ABI: records as JSON in, the outcome as JSON out.
//!
//! A record is the core's camelCase JSON object:
//! `{"id", "scope"?, "updatedAt" (ms), "version"?, "deleted"?, "deviceId", "body"?}`.
//! The outcome is
//! `{"store", "state": [record...], "changes": [{"op": "insert"|"update"|"delete", "record"}...],
//!   "counts": {"applied", "keptLocal", "rejectedInvalid", "unchanged"},
//!   "rejected": [{"key": {"scope"?, "id"}, "code", "message", "detail"?}...]}`.

use std::ffi::c_char;

use azmx_sync_core::merge::{
    self, validate_todos, Contract, InvalidReason, MergeOutcome, Record, RecordKey, StoreName,
    StoreSpec, StoreState, ValidatorKind,
};
use serde_json::{json, Value};

use super::buffer::AzmxBuffer;
use super::error::AzmxStatus;
use super::guard::{ffi_boundary, text, Failure};

/// Merge contract of a host-registered store (passed as `uint32_t`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AzmxContract {
    /// Last-write-wins per record by `updatedAt` (like snippets).
    LwwByTime = 0,
    /// Last-write-wins by the monotonic `version` counter, then `updatedAt` (like memory).
    LwwByVersion = 1,
    /// Last-write-wins per group: one record per group holds the whole group (like todos).
    LwwPerGroup = 2,
}

/// Scope rule of a host-registered store (passed as `uint32_t`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AzmxScopeRule {
    /// Records may or may not carry a scope.
    Any = 0,
    /// Every record must carry a scope (like snippets' handle).
    Required = 1,
    /// No record may carry a scope (like memory).
    Forbidden = 2,
}

/// Parses a JSON argument without echoing any of its content: serde_json
/// messages can quote values, and record bodies are user plaintext.
fn parse<'a, T>(
    json: &'a str,
    what: &str,
    from_str: impl FnOnce(&'a str) -> serde_json::Result<T>,
) -> Result<T, Failure> {
    from_str(json).map_err(|e| {
        let kind = match e.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "wrong shape (not the expected records)",
            serde_json::error::Category::Eof => "unexpected end",
        };
        Failure::new(
            AzmxStatus::InvalidJson,
            format!(
                "`{what}` is not valid JSON for this call: {kind} at line {}, column {}",
                e.line(),
                e.column()
            ),
        )
    })
}

fn key_json(k: &RecordKey) -> Value {
    serde_json::to_value(k).unwrap_or(Value::Null)
}

fn reason_json(key: &RecordKey, reason: &InvalidReason) -> Value {
    let (code, detail) = match serde_json::to_value(reason).unwrap_or(Value::Null) {
        Value::String(s) => (s, None),
        Value::Object(m) if m.len() == 1 => {
            let (k, v) = m.into_iter().next().expect("one entry");
            (k, Some(v))
        }
        _ => ("invalid".to_string(), None),
    };
    let mut o = json!({ "key": key_json(key), "code": code, "message": reason.to_string() });
    if let Some(d) = detail {
        o["detail"] = d;
    }
    o
}

/// The outcome JSON shared by the C ABI (and mirrored by the Node addon).
pub fn outcome_json(store: &str, o: &MergeOutcome) -> Value {
    json!({
        "store": store,
        "state": o.state,
        "changes": o.changes,
        "counts": o.counts,
        "rejected": o.rejected.iter().map(|(k, r)| reason_json(k, r)).collect::<Vec<_>>(),
    })
}

/// # Safety
/// `local_json`, `incoming_json` NULL or NUL-terminated.
unsafe fn run_merge(
    spec: &StoreSpec,
    local_json: *const c_char,
    incoming_json: *const c_char,
) -> Result<String, Failure> {
    // SAFETY: NULL or NUL-terminated per the contract.
    let (local, incoming) = unsafe {
        (
            text(local_json, "local_json")?,
            text(incoming_json, "incoming_json")?,
        )
    };
    let local = parse(local, "local_json", serde_json::from_str::<StoreState>)?;
    let incoming = parse(
        incoming,
        "incoming_json",
        serde_json::from_str::<Vec<Record>>,
    )?;
    let outcome = merge::merge(spec, &local, incoming);
    Ok(outcome_json(spec.name.as_str(), &outcome).to_string())
}

/// Merges an incoming batch into the local state of a built-in store:
/// `"snippets"` (LWW per (handle, id) by time, scope required), `"todos"`
/// (LWW per session, todo invariants enforced on incoming lists) or
/// `"memory"` (LWW by version). Both inputs are JSON arrays of records;
/// the outcome JSON (see the module docs) goes to `out_outcome_json`.
///
/// Invalid incoming records do not fail the call: they are listed under
/// `"rejected"` and the rest is merged. Errors: `NULL_POINTER`,
/// `INVALID_ARGUMENT` (not UTF-8), `UNKNOWN_STORE`, `INVALID_JSON`.
///
/// # Safety
/// `store`, `local_json`, `incoming_json` NUL-terminated strings;
/// `out_outcome_json` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_merge(
    store: *const c_char,
    local_json: *const c_char,
    incoming_json: *const c_char,
    out_outcome_json: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_merge", out_outcome_json => unsafe {
        let spec = builtin_spec(text(store, "store")?)?;
        run_merge(&spec, local_json, incoming_json)
    })
}

/// The spec of a built-in store, or `UNKNOWN_STORE`.
pub(crate) fn builtin_spec(name: &str) -> Result<StoreSpec, Failure> {
    StoreSpec::builtin(name).ok_or_else(|| {
        Failure::new(
            AzmxStatus::UnknownStore,
            "unknown built-in store (expected snippets, todos or memory)",
        )
    })
}

/// Merges for a host-registered store: `store` is its name (1–64 of
/// `[a-z0-9_-]`, starting with a letter, not a built-in name, no
/// `workspace` word: workspace data never syncs), `contract` an
/// `AzmxContract` value and `scope_rule` an `AzmxScopeRule` value.
/// Otherwise as [`azmx_merge`]. Errors: also `INVALID_STORE_NAME`, and
/// `INVALID_ARGUMENT` for an unknown contract or scope rule value.
///
/// # Safety
/// As [`azmx_merge`].
#[no_mangle]
pub unsafe extern "C" fn azmx_merge_custom(
    store: *const c_char,
    contract: u32,
    scope_rule: u32,
    local_json: *const c_char,
    incoming_json: *const c_char,
    out_outcome_json: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_merge_custom", out_outcome_json => unsafe {
        let spec = custom_spec(text(store, "store")?, contract, scope_rule)?;
        run_merge(&spec, local_json, incoming_json)
    })
}

pub(crate) fn custom_spec(
    name: &str,
    contract: u32,
    scope_rule: u32,
) -> Result<StoreSpec, Failure> {
    let contract = match contract {
        0 => Contract::LwwByTime,
        1 => Contract::LwwByVersion,
        2 => Contract::LwwPerGroup,
        _ => return Err(Failure::invalid("unknown `contract` value")),
    };
    if StoreSpec::builtin(name).is_some() {
        return Err(Failure::new(
            AzmxStatus::InvalidStoreName,
            "this name belongs to a built-in store; use azmx_merge",
        ));
    }
    let name = StoreName::new(name)
        .map_err(|e| Failure::new(AzmxStatus::InvalidStoreName, e.to_string()))?;
    let kind = match scope_rule {
        0 => ValidatorKind::ShapeOnly,
        1 => ValidatorKind::RequireScope,
        2 => ValidatorKind::NoScope,
        _ => return Err(Failure::invalid("unknown `scope_rule` value")),
    };
    Ok(StoreSpec::new(name, contract).with_kind(kind))
}

/// Checks one session's todo list (the `body` of a todos record) against
/// the invariants: an object with an `items` array of at most 500 items,
/// each with a unique non-empty string `id` (≤ 128 chars), non-blank
/// `content` (≤ 4096 chars), `status` in pending/in_progress/completed, and
/// at most one `in_progress`. Returns `OK`, `INVALID_RECORD` (the message
/// names the first broken rule by item index, never by content) or
/// `INVALID_JSON`.
///
/// # Safety
/// `body_json` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn azmx_validate_todos(body_json: *const c_char) -> AzmxStatus {
    // SAFETY: the pointer is NULL or valid as the contract above says.
    ffi_boundary!("azmx_validate_todos", unsafe {
        let body = parse(
            text(body_json, "body_json")?,
            "body_json",
            serde_json::from_str::<Value>,
        )?;
        validate_todos(&body)
            .map_err(|e| Failure::new(AzmxStatus::InvalidRecord, format!("invalid todo list: {e}")))
    })
}
