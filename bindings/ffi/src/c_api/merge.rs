//! Merge across the C ABI: records as JSON in, the outcome as JSON out.
//!
//! A record is the core's camelCase JSON object:
//! `{"id", "scope"?, "updatedAt" (ms), "version"?, "deleted"?, "deviceId", "body"?}`.
//! The outcome is
//! `{"store", "state": [record...], "changes": [{"op": "insert"|"update"|"delete", "record"}...],
//!   "counts": {"applied", "keptLocal", "rejectedInvalid", "unchanged"},
//!   "rejected": [{"key": {"scope"?, "id"}, "code", "message", "detail"?}...]}`
//! (written by `azmx_sync_bridge::records`, as for Node). The entry points
//! are generated from `bindings/exports.toml` into [`generated`]; the
//! `custom_spec` conversion they use is here.

use azmx_sync_bridge::store_spec::custom_store_spec;
use azmx_sync_bridge::ApiError;
use azmx_sync_core::merge::{Contract, StoreSpec, ValidatorKind};

pub mod generated;

pub use generated::*;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::c_api::error::AzmxStatus;

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
