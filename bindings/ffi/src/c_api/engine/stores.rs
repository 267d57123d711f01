//! Registering the host's stores.

use std::ffi::c_char;
use std::sync::Arc;

use azmx_sync_bridge::store_spec::{builtin_store, StoreSpec};
use azmx_sync_bridge::ApiError;

use super::super::error::AzmxStatus;
use super::super::guard::{ffi_boundary, null, text, CallResult};
use super::super::host::{AzmxStoreAdapter, CStore};
use super::super::merge::custom_spec;
use super::{engine_ref, AzmxSyncEngine};

/// Registers a spec the facade checked (before the other arguments, as
/// the C ABI always did).
///
/// # Safety
/// As the entry points that call it.
unsafe fn register_adapter(
    engine: *const AzmxSyncEngine,
    spec: StoreSpec,
    adapter: *const AzmxStoreAdapter,
) -> CallResult {
    // SAFETY: NULL or valid per the contract; the adapter is copied.
    let (e, adapter) = unsafe { (engine_ref(engine)?, adapter.as_ref().copied()) };
    let adapter = adapter.ok_or_else(|| null("adapter"))?;
    if adapter.snapshot.is_none() || adapter.apply.is_none() {
        return Err(ApiError::invalid_argument(
            "the store adapter needs both `snapshot` and `apply`",
        ));
    }
    let adapter = Arc::new(CStore { adapter });
    e.inner.register_store(spec, adapter)
}

/// Registers a built-in store (`"snippets"`, `"todos"` or `"memory"`, with
/// their merge contracts, as in `azmx_merge`) backed by a host adapter
/// (copied). Register stores before the first sync.
///
/// Errors: `NULL_POINTER`, `UNKNOWN_STORE`, `INVALID_ARGUMENT` (a callback
/// is NULL, or the store is already registered).
///
/// # Safety
/// `engine` a live handle; `store` NUL-terminated; `adapter` a valid
/// adapter whose callbacks and `user_data` follow the callback rules.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_register_store(
    engine: *const AzmxSyncEngine,
    store: *const c_char,
    adapter: *const AzmxStoreAdapter,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_engine_register_store", unsafe {
        register_adapter(engine, builtin_store(text(store, "store")?)?, adapter)
    })
}

/// Registers a host-defined store: `store` its name (rules as in
/// `azmx_merge_custom`), `contract` an `AzmxContract` value and
/// `scope_rule` an `AzmxScopeRule` value.
///
/// Errors: as [`azmx_engine_register_store`], plus `INVALID_STORE_NAME`
/// and `INVALID_ARGUMENT` for an unknown contract or scope rule.
///
/// # Safety
/// As [`azmx_engine_register_store`].
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_register_custom_store(
    engine: *const AzmxSyncEngine,
    store: *const c_char,
    contract: u32,
    scope_rule: u32,
    adapter: *const AzmxStoreAdapter,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says;
    // the integers are validated.
    ffi_boundary!("azmx_engine_register_custom_store", unsafe {
        let spec = custom_spec(text(store, "store")?, contract, scope_rule)?;
        register_adapter(engine, spec, adapter)
    })
}
