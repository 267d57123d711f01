//! The checked store spec: the rules every binding applies to a host's
//! store, written once.
//!
//! One name per concept: [`Contract`] (how versions are ordered) and
//! [`ValidatorKind`] (the incoming-record checks: shape only, scope
//! required, no scope, todo lists). uniffi calls the latter
//! `StoreValidator`, C `AzmxScopeRule` (without the todo validator), Node
//! `StoreValidator`: each maps its enum onto this one.
//!
//! Rules: a store name is `[a-z][a-z0-9_-]*`, at most 64, no `workspace`
//! word; a built-in name (`snippets`, `todos`, `memory`) only with its
//! built-in contract and validator; a custom store never uses a built-in
//! name.

use azmx_sync_core::merge::StoreName;
pub use azmx_sync_core::merge::{Contract, StoreSpec, ValidatorKind, BUILTIN_STORES};

use crate::error::ApiError;

/// The built-in specs, in their fixed order (snippets, todos, memory).
pub fn builtin_stores() -> Vec<StoreSpec> {
    BUILTIN_STORES
        .iter()
        .filter_map(|(name, _, _)| StoreSpec::builtin(name))
        .collect()
}

/// The built-in store named `name`, or `UnknownStore`.
pub fn builtin_store(name: &str) -> Result<StoreSpec, ApiError> {
    StoreSpec::builtin(name).ok_or_else(|| ApiError::UnknownStore { name: name.into() })
}

/// The parts of the built-in store named `name` (for bindings that show a
/// spec as data), or `UnknownStore`.
pub fn builtin_parts(name: &str) -> Result<(&'static str, Contract, ValidatorKind), ApiError> {
    BUILTIN_STORES
        .iter()
        .find(|(n, _, _)| *n == name)
        .copied()
        .ok_or_else(|| ApiError::UnknownStore { name: name.into() })
}

/// A host store spec: a valid name, and a built-in name only with exactly
/// the built-in contract and validator.
pub fn check_store_spec(
    name: &str,
    contract: Contract,
    validator: ValidatorKind,
) -> Result<StoreSpec, ApiError> {
    checked(name, contract, validator, |c, v| {
        (c, v) != (contract, validator)
    })
}

/// A custom store's spec: like [`check_store_spec`], but a built-in name is
/// refused whatever the contract (built-ins have their own registration).
pub fn custom_store_spec(
    name: &str,
    contract: Contract,
    validator: ValidatorKind,
) -> Result<StoreSpec, ApiError> {
    checked(name, contract, validator, |_, _| true)
}

/// The name rules first, then `redefines` decides about a built-in name
/// (given the built-in's contract and validator).
fn checked(
    name: &str,
    contract: Contract,
    validator: ValidatorKind,
    redefines: impl Fn(Contract, ValidatorKind) -> bool,
) -> Result<StoreSpec, ApiError> {
    let store_name = StoreName::new(name)?;
    if let Some((_, c, v)) = BUILTIN_STORES.iter().find(|(n, _, _)| *n == name) {
        if redefines(*c, *v) {
            return Err(ApiError::BuiltinStoreRedefined { name: name.into() });
        }
    }
    Ok(StoreSpec::new(store_name, contract).with_kind(validator))
}

/// A built-in store's name, contract and validator.
pub type StoreParts = (&'static str, Contract, ValidatorKind);

/// The parts of every built-in store (for bindings that show specs as data).
pub fn builtin_store_parts() -> &'static [StoreParts] {
    &BUILTIN_STORES
}

/// `check_store_spec`'s export: the spec argument's conversion (through
/// [`check_store_spec`]) did the checking, so a spec that gets here passed.
pub fn accept_spec(_spec: StoreSpec) {}
