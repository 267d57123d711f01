//! Merge across the C ABI: records as JSON in, the outcome as JSON out.
//!
//! A record is the core's camelCase JSON object:
//! `{"id", "scope"?, "updatedAt" (ms), "version"?, "deleted"?, "deviceId", "body"?}`.
//! The outcome is
//! `{"store", "state": [record...], "changes": [{"op": "insert"|"update"|"delete", "record"}...],
//!   "counts": {"applied", "keptLocal", "rejectedInvalid", "unchanged"},
//!   "rejected": [{"key": {"scope"?, "id"}, "code", "message", "detail"?}...]}`
//! (written by `azmx_sync_bridge::records`, as for Node).

use std::ffi::c_char;

use azmx_sync_bridge::records::{outcome_json, parse_json};
use azmx_sync_bridge::store_spec::{builtin_store, custom_store_spec};
use azmx_sync_bridge::ApiError;
use azmx_sync_core::merge::{
    self, validate_todos, Contract, Record, StoreSpec, StoreState, ValidatorKind,
};
use serde_json::Value;

use super::buffer::AzmxBuffer;
use super::error::AzmxStatus;
use super::guard::{ffi_boundary, text};

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

/// # Safety
/// `local_json`, `incoming_json` NULL or NUL-terminated.
unsafe fn run_merge(
    spec: &StoreSpec,
    local_json: *const c_char,
    incoming_json: *const c_char,
) -> Result<String, ApiError> {
    // SAFETY: NULL or NUL-terminated per the contract.
    let (local, incoming) = unsafe {
        (
            text(local_json, "local_json")?,
            text(incoming_json, "incoming_json")?,
        )
    };
    let local = parse_json(local, "local_json", serde_json::from_str::<StoreState>)?;
    let incoming = parse_json(
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
        let spec = builtin_store(text(store, "store")?)?;
        run_merge(&spec, local_json, incoming_json)
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

/// A custom store's spec from C's integers (the facade checks the name).
pub(crate) fn custom_spec(
    name: &str,
    contract: u32,
    scope_rule: u32,
) -> Result<StoreSpec, ApiError> {
    let contract = match contract {
        0 => Contract::LwwByTime,
        1 => Contract::LwwByVersion,
        2 => Contract::LwwPerGroup,
        _ => return Err(ApiError::invalid_argument("unknown `contract` value")),
    };
    // The name is checked before the scope rule, as the C ABI always did.
    let spec = custom_store_spec(name, contract, ValidatorKind::ShapeOnly)?;
    Ok(spec.with_kind(match scope_rule {
        0 => ValidatorKind::ShapeOnly,
        1 => ValidatorKind::RequireScope,
        2 => ValidatorKind::NoScope,
        _ => return Err(ApiError::invalid_argument("unknown `scope_rule` value")),
    }))
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
        let body = parse_json(
            text(body_json, "body_json")?,
            "body_json",
            serde_json::from_str::<Value>,
        )?;
        Ok(validate_todos(&body)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_spec_checks_contract_then_name_then_scope_rule() {
        let status =
            |name, contract, rule| AzmxStatus::of(&custom_spec(name, contract, rule).unwrap_err());
        assert_eq!(status("Bad/Name", 7, 9), AzmxStatus::InvalidArgument);
        assert_eq!(status("Bad/Name", 0, 9), AzmxStatus::InvalidStoreName);
        assert_eq!(status("snippets", 0, 9), AzmxStatus::InvalidStoreName);
        assert_eq!(status("notes", 0, 9), AzmxStatus::InvalidArgument);
        let spec = custom_spec("notes", 1, 2).unwrap();
        assert_eq!(spec.contract, Contract::LwwByVersion);
        assert!(spec.validator.is_some());
    }
}
