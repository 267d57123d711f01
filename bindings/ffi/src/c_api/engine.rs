//! The sync engine across the C ABI: an opaque [`AzmxSyncEngine`] handle
//! wrapping `azmx_sync_core::engine::SyncEngine`. All sync logic stays in
//! the core; this module only converts arguments and errors.
//!
//! A minimal host (error handling left out):
//!
//! ```c
//! AzmxEngineConfig cfg = {.struct_size = sizeof cfg, .state_dir = "/path/state",
//!                         .relay_url = "http://127.0.0.1:8787",
//!                         .license_id = "lic_team", .device_name = "laptop"};
//! AzmxSyncEngine *e; azmx_engine_new(&cfg, &e);          // built-in HTTP transport
//! AzmxStoreAdapter store = {&my_store, my_snapshot, my_apply};
//! azmx_engine_register_store(e, "snippets", &store);
//! AzmxBuffer dev = {0}; azmx_engine_register(e, license_key, &dev); azmx_buffer_free(&dev);
//! azmx_engine_set_receipt(e, receipt_buf, receipt_len);   // wipes receipt_buf
//! AzmxCycleReport r; azmx_engine_sync_now(e, &r);
//! azmx_engine_free(e);
//! ```
//!
//! Every call blocks (network, key derivation): keep them off a UI thread.
//! One handle may be used from several threads at once, except
//! `azmx_engine_free`. Callback rules: see [`engine_host`](super::engine_host).
//! Errors are typed statuses (`WRONG_RECEIPT`, `REVOKED`,
//! `RELAY_UNREACHABLE`, `HOST_CALLBACK_FAILED`, `DECRYPT_FAILED`,
//! `BLOB_INTEGRITY`, `CLOCK_SKEW`...); messages never carry the receipt,
//! the license key, key bytes or record contents.

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

use azmx_sync_core::engine::{self as core, EngineConfig, SyncError};
use azmx_sync_core::merge::StoreSpec;

use super::buffer::{reset_out, set_out, AzmxBuffer};
use super::engine_host::{AzmxHttpTransport, AzmxStoreAdapter, CStore, CTransport};
use super::error::AzmxStatus;
use super::guard::{bytes, c_bytes, call, call_value, put, text, CallResult, Failure, WipeOnDrop};
use super::identity::path_from;
use super::merge::custom_spec;

impl From<SyncError> for Failure {
    fn from(e: SyncError) -> Self {
        // The engine's messages are written to be secret-free (see
        // core/src/engine/error.rs); host errors carry only what the
        // bridges in engine_host.rs put there.
        Failure::new(AzmxStatus::from_sync(&e), e.to_string())
    }
}

/// Settings of [`azmx_engine_new`]. Only `state_dir` is required; the
/// relay settings are what [`azmx_engine_register`] uses (an engine
/// reopened on a registered state directory does not need them).
#[repr(C)]
#[derive(Debug)]
pub struct AzmxEngineConfig {
    /// `sizeof(AzmxEngineConfig)` as the host was compiled: set it to
    /// `sizeof cfg`. A later library can then append fields and still
    /// read configs from hosts built against an older header; a size this
    /// library does not know is `INVALID_ARGUMENT`.
    pub struct_size: u32,
    /// The device's state directory (created 0700 if missing): device key,
    /// engine state, outbox, activity log. Never holds the receipt.
    pub state_dir: *const c_char,
    /// The relay's base URL, e.g. `"http://127.0.0.1:8787"`, or NULL.
    pub relay_url: *const c_char,
    /// The license id, e.g. `"lic_team"`, or NULL.
    pub license_id: *const c_char,
    /// This device's name as the relay lists it, e.g. `"laptop"`, or NULL.
    pub device_name: *const c_char,
    /// The host's HTTP transport, or NULL for the built-in one (ureq,
    /// 30 s timeout). Copied.
    pub transport: *const AzmxHttpTransport,
}

/// A device's sync engine. Created by [`azmx_engine_new`], released by
/// [`azmx_engine_free`]. Thread-safe except for `azmx_engine_free`.
pub struct AzmxSyncEngine {
    inner: core::SyncEngine,
    relay_url: Option<String>,
    license_id: Option<String>,
    device_name: Option<String>,
}

/// What one [`azmx_engine_sync_now`] cycle did.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AzmxCycleReport {
    /// Sequence number of the bundle pushed, or -1 when nothing was pushed.
    pub pushed_seq: i64,
    /// Records in the pushed bundle.
    pub pushed_records: u64,
    /// Size of the sealed bundle in bytes.
    pub sealed_bytes: u64,
    /// 1 when the push was a full checkpoint, else 0.
    pub checkpoint: u32,
    /// Bundles pulled from other devices.
    pub pulled_blobs: u64,
    /// Changes handed to the stores' `apply` callbacks.
    pub applied_changes: u64,
    /// Incoming records refused by a store's invariants.
    pub rejected_records: u64,
    /// Bundles that could not be opened and were set aside for a retry.
    pub quarantined: u64,
    /// Wall time of the cycle in milliseconds.
    pub duration_ms: u64,
}

impl From<core::CycleReport> for AzmxCycleReport {
    fn from(r: core::CycleReport) -> Self {
        Self {
            pushed_seq: r
                .pushed_seq
                .map_or(-1, |s| i64::try_from(s).unwrap_or(i64::MAX)),
            pushed_records: r.pushed_records,
            sealed_bytes: r.sealed_bytes,
            checkpoint: u32::from(r.checkpoint),
            pulled_blobs: r.pulled_blobs,
            applied_changes: r.applied_changes,
            rejected_records: r.rejected_records,
            quarantined: r.quarantined,
            duration_ms: r.duration_ms,
        }
    }
}

/// Borrows an engine handle.
///
/// # Safety
/// `engine` must be NULL or a live handle from `azmx_engine_new` that is
/// not being freed.
unsafe fn engine_ref<'a>(engine: *const AzmxSyncEngine) -> Result<&'a AzmxSyncEngine, Failure> {
    if engine.is_null() {
        return Err(Failure::null("engine"));
    }
    // SAFETY: non-NULL and live per the contract; the handle is shared
    // read-only (the core engine synchronises inside).
    Ok(unsafe { &*engine })
}

/// An optional NUL-terminated UTF-8 config string.
///
/// # Safety
/// `ptr` NULL or NUL-terminated.
unsafe fn opt_text(ptr: *const c_char, what: &str) -> Result<Option<String>, Failure> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    Ok(Some(unsafe { text(ptr, what) }?.to_string()))
}

/// Opens (or creates) a device's engine in `config->state_dir`, including
/// its device key (`device.key`, 0600). No network access.
///
/// Errors: `NULL_POINTER`, `INVALID_ARGUMENT` (`struct_size` not
/// `sizeof(AzmxEngineConfig)`, a string not UTF-8, an empty state dir, a
/// transport without `send`), `STATE_DIR` (cannot create or
/// read the directory), `KEY_FILE` (device key insecure or corrupt).
/// `*out_engine` is NULL on failure.
///
/// # Safety
/// `config` NULL or a valid config whose strings are NUL-terminated and
/// whose `transport`, if not NULL, points to a valid `AzmxHttpTransport`;
/// `out_engine` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_new(
    config: *const AzmxEngineConfig,
    out_engine: *mut *mut AzmxSyncEngine,
) -> AzmxStatus {
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_engine_new", || {
        if out_engine.is_null() {
            return Err(Failure::null("out_engine"));
        }
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out_engine.write(std::ptr::null_mut()) };
        if config.is_null() {
            return Err(Failure::null("config"));
        }
        // Only the leading size field is read until the size is known to
        // match this library's struct.
        // SAFETY: non-NULL, and every version of the struct starts with it.
        let size = unsafe { std::ptr::addr_of!((*config).struct_size).read() };
        if size as usize != std::mem::size_of::<AzmxEngineConfig>() {
            return Err(Failure::invalid(format!(
                "`config.struct_size` is {size}, expected sizeof(AzmxEngineConfig) = {}",
                std::mem::size_of::<AzmxEngineConfig>()
            )));
        }
        // SAFETY: non-NULL and valid per the contract, and the caller's
        // struct has this library's size.
        let cfg = unsafe { &*config };
        // SAFETY: NUL-terminated per the contract.
        let dir = unsafe { c_bytes(cfg.state_dir, "config.state_dir") }?;
        if dir.is_empty() {
            return Err(Failure::invalid("`config.state_dir` is empty"));
        }
        let transport: Arc<dyn core::HttpTransport> = if cfg.transport.is_null() {
            Arc::new(core::UreqTransport::default())
        } else {
            // SAFETY: non-NULL and valid per the contract; copied.
            let t = unsafe { *cfg.transport };
            if t.send.is_none() {
                return Err(Failure::invalid("`config.transport->send` is NULL"));
            }
            Arc::new(CTransport(t))
        };
        let handle = AzmxSyncEngine {
            // SAFETY: each NULL or NUL-terminated per the contract.
            relay_url: unsafe { opt_text(cfg.relay_url, "config.relay_url") }?,
            // SAFETY: as above.
            license_id: unsafe { opt_text(cfg.license_id, "config.license_id") }?,
            // SAFETY: as above.
            device_name: unsafe { opt_text(cfg.device_name, "config.device_name") }?,
            inner: core::SyncEngine::new(EngineConfig::new(path_from(dir)?), transport)?,
        };
        let raw = Box::into_raw(Box::new(handle));
        // SAFETY: checked non-NULL above; writable per the contract.
        unsafe { put(out_engine, raw, "out_engine") }
    })
}

/// Stops the engine's scheduler (waiting for a running cycle) and releases
/// the handle. After it returns, no callback of this engine runs again.
/// NULL is a no-op.
///
/// # Safety
/// `engine` NULL or a live handle not used by any other thread during or
/// after this call, and not freed before.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_free(engine: *mut AzmxSyncEngine) {
    // SAFETY (extern "C"): NULL-checked; the handle is consumed exactly
    // once per the contract; panic boundary.
    call_value((), || {
        if engine.is_null() {
            return;
        }
        // SAFETY: from Box::into_raw in azmx_engine_new, freed once.
        let handle = unsafe { Box::from_raw(engine) };
        handle.inner.stop();
        drop(handle);
    })
}

/// # Safety
/// As the entry points that call it.
unsafe fn register_adapter(
    engine: *const AzmxSyncEngine,
    spec: StoreSpec,
    adapter: *const AzmxStoreAdapter,
) -> CallResult {
    // SAFETY: live handle per the contract.
    let e = unsafe { engine_ref(engine) }?;
    if adapter.is_null() {
        return Err(Failure::null("adapter"));
    }
    // SAFETY: non-NULL and valid per the contract; copied.
    let adapter = unsafe { *adapter };
    if adapter.snapshot.is_none() || adapter.apply.is_none() {
        return Err(Failure::invalid(
            "the store adapter needs both `snapshot` and `apply`",
        ));
    }
    e.inner.register_store(spec, Arc::new(CStore { adapter }))?;
    Ok(())
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
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_engine_register_store", || {
        // SAFETY: NUL-terminated per the contract.
        let name = unsafe { text(store, "store") }?;
        let spec = StoreSpec::builtin(name).ok_or_else(|| {
            Failure::new(
                AzmxStatus::UnknownStore,
                "unknown built-in store (expected snippets, todos or memory)",
            )
        })?;
        // SAFETY: per the contract.
        unsafe { register_adapter(engine, spec, adapter) }
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
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // integers validated; panic boundary.
    call("azmx_engine_register_custom_store", || {
        // SAFETY: NUL-terminated per the contract.
        let name = unsafe { text(store, "store") }?;
        let spec = custom_spec(name, contract, scope_rule)?;
        // SAFETY: per the contract.
        unsafe { register_adapter(engine, spec, adapter) }
    })
}

/// Registers this device with the relay of the engine's config
/// (`relay_url`, `license_id`, `device_name`, all required here) using the
/// license key; puts the device id (NUL-terminated) in `out_device_id`.
/// Idempotent for the same device key. The license key is not kept.
///
/// Errors: `NULL_POINTER`, `INVALID_ARGUMENT` (a config field missing),
/// `MALFORMED_FIELD` (license id or device name), `RELAY_UNREACHABLE`,
/// `RELAY_ERROR` (e.g. a wrong license key), `CLOCK_SKEW`, `RATE_LIMITED`,
/// `REVOKED`, `STATE_DIR`.
///
/// # Safety
/// `engine` a live handle; `license_key` NUL-terminated; `out_device_id`
/// writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_register(
    engine: *const AzmxSyncEngine,
    license_key: *const c_char,
    out_device_id: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_engine_register", || {
        // SAFETY: writable per the contract.
        unsafe { reset_out(out_device_id, "out_device_id") }?;
        // SAFETY: live handle per the contract.
        let e = unsafe { engine_ref(engine) }?;
        // SAFETY: NUL-terminated per the contract.
        let key = unsafe { text(license_key, "license_key") }?;
        let need = |v: &Option<String>, what: &str| {
            v.clone().ok_or_else(|| {
                Failure::invalid(format!(
                    "`config.{what}` was NULL: it is needed to register"
                ))
            })
        };
        let url = need(&e.relay_url, "relay_url")?;
        let lid = need(&e.license_id, "license_id")?;
        let name = need(&e.device_name, "device_name")?;
        let id = e.inner.register(&url, &lid, key, &name)?;
        // SAFETY: checked by reset_out above.
        unsafe { set_out(out_device_id, AzmxBuffer::from_text(id)) };
        Ok(())
    })
}

/// Gives the engine the recovery receipt (after registering). The envelope
/// key is derived on a background thread (~100 ms; the next sync waits for
/// it); the receipt is never stored and the key never leaves the library.
///
/// The receipt is `receipt_len` bytes of UTF-8 (no NUL needed). **The
/// receipt buffer is overwritten with zeros before this returns**, on
/// success and on every failure, whenever `receipt` is not NULL.
///
/// Errors: `NULL_POINTER`, `INVALID_ARGUMENT` (not UTF-8),
/// `NOT_REGISTERED`. A wrong receipt is reported by the next
/// `azmx_engine_verify_receipt` or sync (`WRONG_RECEIPT`); an empty one as
/// `EMPTY_RECEIPT`.
///
/// # Safety
/// `engine` a live handle; `receipt` NULL (only with length 0) or valid
/// for reads and writes of `receipt_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_set_receipt(
    engine: *const AzmxSyncEngine,
    receipt: *mut u8,
    receipt_len: usize,
) -> AzmxStatus {
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary; the receipt is wiped however the call ends.
    call("azmx_engine_set_receipt", || {
        // SAFETY: (receipt, receipt_len) is writable per the contract, and
        // every borrow of it below ends before the guard drops.
        let _wipe = unsafe { WipeOnDrop::new(receipt, receipt_len) };
        // SAFETY: readable for receipt_len bytes and not written by anyone
        // else during the call (wiped only after this borrow ends).
        let raw = unsafe { bytes(receipt, receipt_len, "receipt") }?;
        // SAFETY: live handle per the contract.
        let e = unsafe { engine_ref(engine) }?;
        let receipt = std::str::from_utf8(raw)
            .map_err(|_| Failure::invalid("`receipt` is not valid UTF-8"))?;
        // The core copies it into a zeroizing secret container.
        e.inner.set_receipt(receipt.into())?;
        Ok(())
    })
}

/// Checks the receipt against the license's key-check blob on the relay
/// (setting it if this is the license's first device). Waits for the key.
///
/// Errors: `WRONG_RECEIPT` (nothing was changed), `NO_RECEIPT`,
/// `EMPTY_RECEIPT`, `NOT_REGISTERED`, the relay errors of
/// [`azmx_engine_register`].
///
/// # Safety
/// `engine` a live handle.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_verify_receipt(engine: *const AzmxSyncEngine) -> AzmxStatus {
    // SAFETY (extern "C"): NULL-checked handle; panic boundary.
    call("azmx_engine_verify_receipt", || {
        // SAFETY: live handle per the contract.
        let e = unsafe { engine_ref(engine) }?;
        Ok(e.inner.verify_receipt()?)
    })
}

/// Runs one full cycle now: snapshot → seal → push, pull → verify → open →
/// merge → apply (waits if a background cycle is running). Store callbacks
/// run on this thread. `out_report` may be NULL; otherwise it is filled
/// on success (zeroed, `pushed_seq` -1, on failure).
///
/// Errors: `WRONG_RECEIPT`, `NO_RECEIPT`, `NOT_REGISTERED`, `REVOKED`,
/// `RELAY_UNREACHABLE` (changes stay queued), `RELAY_ERROR`,
/// `RATE_LIMITED`, `CLOCK_SKEW`, `HOST_CALLBACK_FAILED`, `STATE_DIR`.
/// Bundles that fail `BLOB_INTEGRITY` or `DECRYPT_FAILED` are quarantined
/// and counted in the report and the activity log, not returned.
///
/// # Safety
/// `engine` a live handle; `out_report` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_sync_now(
    engine: *const AzmxSyncEngine,
    out_report: *mut AzmxCycleReport,
) -> AzmxStatus {
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_engine_sync_now", || {
        let empty = AzmxCycleReport {
            pushed_seq: -1,
            ..Default::default()
        };
        if !out_report.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { out_report.write(empty) };
        }
        // SAFETY: live handle per the contract.
        let e = unsafe { engine_ref(engine) }?;
        let report = e.inner.sync_now()?;
        if !out_report.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { out_report.write(report.into()) };
        }
        Ok(())
    })
}

/// Starts the background scheduler (one thread; a cycle every 5 minutes by
/// default, backing off on failures, skipped while hidden). From now on
/// store and transport callbacks may run on that thread. Idempotent.
///
/// # Safety
/// `engine` a live handle.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_start(engine: *const AzmxSyncEngine) -> AzmxStatus {
    // SAFETY (extern "C"): NULL-checked handle; panic boundary.
    call("azmx_engine_start", || {
        // SAFETY: live handle per the contract.
        unsafe { engine_ref(engine) }?.inner.start();
        Ok(())
    })
}

/// Stops the background scheduler, waiting for a running cycle. Idempotent.
///
/// # Safety
/// `engine` a live handle; not called from a callback of this engine.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_stop(engine: *const AzmxSyncEngine) -> AzmxStatus {
    // SAFETY (extern "C"): NULL-checked handle; panic boundary.
    call("azmx_engine_stop", || {
        // SAFETY: live handle per the contract.
        unsafe { engine_ref(engine) }?.inner.stop();
        Ok(())
    })
}

/// Wakes the scheduler to run a cycle soon, without blocking (no-op when
/// it is not started).
///
/// # Safety
/// `engine` a live handle.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_trigger(engine: *const AzmxSyncEngine) -> AzmxStatus {
    // SAFETY (extern "C"): NULL-checked handle; panic boundary.
    call("azmx_engine_trigger", || {
        // SAFETY: live handle per the contract.
        unsafe { engine_ref(engine) }?.inner.trigger();
        Ok(())
    })
}

/// Tells the engine whether the app is visible (nonzero) or hidden (0):
/// hidden apps skip background cycles; `azmx_engine_sync_now` still runs.
///
/// # Safety
/// `engine` a live handle.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_set_visible(
    engine: *const AzmxSyncEngine,
    visible: i32,
) -> AzmxStatus {
    // SAFETY (extern "C"): NULL-checked handle, plain integer; panic boundary.
    call("azmx_engine_set_visible", || {
        // SAFETY: live handle per the contract.
        unsafe { engine_ref(engine) }?
            .inner
            .set_visible(visible != 0);
        Ok(())
    })
}

/// Sets the background interval in seconds (clamped to 30 s – 60 min).
///
/// # Safety
/// `engine` a live handle.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_set_interval_secs(
    engine: *const AzmxSyncEngine,
    secs: u64,
) -> AzmxStatus {
    // SAFETY (extern "C"): NULL-checked handle, plain integer; panic boundary.
    call("azmx_engine_set_interval_secs", || {
        // SAFETY: live handle per the contract.
        unsafe { engine_ref(engine) }?
            .inner
            .set_interval(Duration::from_secs(secs));
        Ok(())
    })
}

/// Puts the `limit` most recent activity events (oldest first) in
/// `out_json`: a JSON array of `{"atMs", "type", ...}` objects (ids,
/// counts, sizes, codes; never record contents, the receipt or keys).
///
/// # Safety
/// `engine` a live handle; `out_json` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_recent_activity(
    engine: *const AzmxSyncEngine,
    limit: u32,
    out_json: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_engine_recent_activity", || {
        // SAFETY: writable per the contract.
        unsafe { reset_out(out_json, "out_json") }?;
        // SAFETY: live handle per the contract.
        let e = unsafe { engine_ref(engine) }?;
        let events = e.inner.recent_activity(limit as usize);
        let doc = serde_json::to_string(&events)
            .map_err(|_| Failure::new(AzmxStatus::Internal, "events could not be serialised"))?;
        // SAFETY: checked by reset_out above.
        unsafe { set_out(out_json, AzmxBuffer::from_text(doc)) };
        Ok(())
    })
}

/// Puts the engine's status in `out_json`: `{"deviceId", "deviceName",
/// "relayUrl", "licenseId", "fingerprint", "nextSeq", "lastCycle",
/// "lastSuccessMs", "outboxPending", "revoked", "clockOffsetSecs",
/// "quarantine", "receiptSet"}`. No network access.
///
/// # Safety
/// `engine` a live handle; `out_json` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_status(
    engine: *const AzmxSyncEngine,
    out_json: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_engine_status", || {
        // SAFETY: writable per the contract.
        unsafe { reset_out(out_json, "out_json") }?;
        // SAFETY: live handle per the contract.
        let e = unsafe { engine_ref(engine) }?;
        let doc = serde_json::to_string(&e.inner.status())
            .map_err(|_| Failure::new(AzmxStatus::Internal, "status could not be serialised"))?;
        // SAFETY: checked by reset_out above.
        unsafe { set_out(out_json, AzmxBuffer::from_text(doc)) };
        Ok(())
    })
}

/// Puts the license's devices, as the relay lists them, in `out_json`: a
/// JSON array of `{"deviceId", "name", "createdAt", "lastPushAt",
/// "lastPullAt", "blobCount", "sealedBytes", "revoked"}` (metadata only).
///
/// Errors: `NOT_REGISTERED`, `REVOKED`, the relay errors.
///
/// # Safety
/// `engine` a live handle; `out_json` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_devices(
    engine: *const AzmxSyncEngine,
    out_json: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_engine_devices", || {
        // SAFETY: writable per the contract.
        unsafe { reset_out(out_json, "out_json") }?;
        // SAFETY: live handle per the contract.
        let e = unsafe { engine_ref(engine) }?;
        let doc = serde_json::to_string(&e.inner.devices()?)
            .map_err(|_| Failure::new(AzmxStatus::Internal, "devices could not be serialised"))?;
        // SAFETY: checked by reset_out above.
        unsafe { set_out(out_json, AzmxBuffer::from_text(doc)) };
        Ok(())
    })
}

/// Revokes a device of this license (e.g. a lost laptop): the relay
/// refuses its key from now on (`REVOKED` on that device).
///
/// # Safety
/// `engine` a live handle; `device_id` NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_revoke(
    engine: *const AzmxSyncEngine,
    device_id: *const c_char,
) -> AzmxStatus {
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_engine_revoke", || {
        // SAFETY: live handle per the contract.
        let e = unsafe { engine_ref(engine) }?;
        // SAFETY: NUL-terminated per the contract.
        let target = unsafe { text(device_id, "device_id") }?;
        Ok(e.inner.revoke(target)?)
    })
}

/// Writes every registered store to an encrypted export file at `path`
/// (0600); `*out_records` (may be NULL) gets the number of records.
///
/// Errors: `NO_RECEIPT`, `NOT_REGISTERED`, `HOST_CALLBACK_FAILED`,
/// `STATE_DIR` / `EXPORT_FORMAT` (the file cannot be written).
///
/// # Safety
/// `engine` a live handle; `path` NUL-terminated; `out_records` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_export(
    engine: *const AzmxSyncEngine,
    path: *const c_char,
    out_records: *mut u64,
) -> AzmxStatus {
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_engine_export", || {
        // SAFETY: per the contract.
        unsafe { export_import(engine, path, out_records, true) }
    })
}

/// Merges an export file into the registered stores with their contracts
/// (idempotent); `*out_records` (may be NULL) gets the number of changes
/// applied (0 when the stores already had everything).
///
/// Errors: `EXPORT_FORMAT` (not an export, or another license's),
/// `WRONG_RECEIPT` (made with another receipt), `NO_RECEIPT`,
/// `HOST_CALLBACK_FAILED`, `STATE_DIR` (cannot read the file).
///
/// # Safety
/// As [`azmx_engine_export`].
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_import(
    engine: *const AzmxSyncEngine,
    path: *const c_char,
    out_records: *mut u64,
) -> AzmxStatus {
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_engine_import", || {
        // SAFETY: per the contract.
        unsafe { export_import(engine, path, out_records, false) }
    })
}

/// # Safety
/// As [`azmx_engine_export`].
unsafe fn export_import(
    engine: *const AzmxSyncEngine,
    path: *const c_char,
    out_records: *mut u64,
    export: bool,
) -> CallResult {
    if !out_records.is_null() {
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out_records.write(0) };
    }
    // SAFETY: live handle per the contract.
    let e = unsafe { engine_ref(engine) }?;
    // SAFETY: NUL-terminated per the contract.
    let path = path_from(unsafe { c_bytes(path, "path") }?)?;
    let n = if export {
        e.inner.export(path)?
    } else {
        e.inner.import(path)?
    };
    if !out_records.is_null() {
        // SAFETY: non-NULL and writable per the contract.
        unsafe { out_records.write(n) };
    }
    Ok(())
}

/// Puts this device's id (NUL-terminated) in `out_device_id`.
/// Errors: `NOT_REGISTERED`.
///
/// # Safety
/// `engine` a live handle; `out_device_id` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_device_id(
    engine: *const AzmxSyncEngine,
    out_device_id: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_engine_device_id", || {
        // SAFETY: writable per the contract.
        unsafe { reset_out(out_device_id, "out_device_id") }?;
        // SAFETY: live handle per the contract.
        let e = unsafe { engine_ref(engine) }?;
        let id = e.inner.device_id().ok_or(SyncError::NotRegistered)?;
        // SAFETY: checked by reset_out above.
        unsafe { set_out(out_device_id, AzmxBuffer::from_text(id)) };
        Ok(())
    })
}

/// Puts the device key's fingerprint (public, NUL-terminated) in
/// `out_fingerprint`, the same as `azmx_device_identity_fingerprint`.
///
/// # Safety
/// `engine` a live handle; `out_fingerprint` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_engine_fingerprint(
    engine: *const AzmxSyncEngine,
    out_fingerprint: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_engine_fingerprint", || {
        // SAFETY: writable per the contract.
        unsafe { reset_out(out_fingerprint, "out_fingerprint") }?;
        // SAFETY: live handle per the contract.
        let e = unsafe { engine_ref(engine) }?;
        // SAFETY: checked by reset_out above.
        unsafe {
            set_out(
                out_fingerprint,
                AzmxBuffer::from_text(e.inner.fingerprint()),
            )
        };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_errors_map_to_typed_statuses() {
        use azmx_sync_core::engine::SyncError as E;
        let cases = [
            (E::WrongReceipt, AzmxStatus::WrongReceipt),
            (E::NoReceipt, AzmxStatus::NoReceipt),
            (E::NotRegistered, AzmxStatus::NotRegistered),
            (E::Revoked, AzmxStatus::Revoked),
            (E::ClockSkew { skew_secs: 400 }, AzmxStatus::ClockSkew),
            (
                E::RateLimited {
                    retry_after_secs: 9,
                },
                AzmxStatus::RateLimited,
            ),
            (
                E::Network {
                    message: "x".into(),
                },
                AzmxStatus::RelayUnreachable,
            ),
            (
                E::Store {
                    store: "notes".into(),
                    message: "host callback `apply` returned 1".into(),
                },
                AzmxStatus::HostCallbackFailed,
            ),
            (E::ExportFormat("x".into()), AzmxStatus::ExportFormat),
            (
                E::Core(azmx_sync_core::Error::DecryptFailed),
                AzmxStatus::DecryptFailed,
            ),
            (
                E::Core(azmx_sync_core::Error::BlobIntegrity {
                    expected: "a".into(),
                    actual: "b".into(),
                }),
                AzmxStatus::BlobIntegrity,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(Failure::from(e).status, want);
        }
    }

    #[test]
    fn cycle_report_without_push_is_minus_one() {
        let r = AzmxCycleReport::from(core::CycleReport::default());
        assert_eq!(r.pushed_seq, -1);
    }
}
