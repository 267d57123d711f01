//! Opening and releasing an engine.

use std::ffi::c_char;
use std::sync::Arc;

use azmx_sync_bridge::{ApiError, Engine};
use azmx_sync_core::engine::HttpTransport;

use super::super::error::AzmxStatus;
use super::super::guard::{ffi_boundary, free_handle, null, opt_text, path, put, put_handle};
use super::super::host::{AzmxHttpTransport, CTransport};
#[cfg(doc)]
use super::azmx_engine_register;
use super::AzmxSyncEngine;

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

/// Reads a host's config, checking its size before anything else.
///
/// # Safety
/// `config` NULL or valid as `azmx_engine_new` documents.
unsafe fn open(config: *const AzmxEngineConfig) -> Result<AzmxSyncEngine, ApiError> {
    if config.is_null() {
        return Err(null("config"));
    }
    // Only the leading size field is read until the size is known to
    // match this library's struct.
    // SAFETY: non-NULL, and every version of the struct starts with it.
    let size = unsafe { std::ptr::addr_of!((*config).struct_size).read() };
    let want = std::mem::size_of::<AzmxEngineConfig>();
    if size as usize != want {
        return Err(ApiError::invalid_argument(format!(
            "`config.struct_size` is {size}, expected sizeof(AzmxEngineConfig) = {want}"
        )));
    }
    // SAFETY: non-NULL and valid per the contract, of this library's size;
    // its strings are NULL or NUL-terminated and `transport` NULL or valid.
    unsafe {
        let cfg = &*config;
        let state_dir = path(cfg.state_dir, "config.state_dir")?;
        let transport: Option<Arc<dyn HttpTransport>> = match cfg.transport.as_ref() {
            None => None,
            Some(t) if t.send.is_none() => {
                return Err(ApiError::invalid_argument(
                    "`config.transport->send` is NULL",
                ))
            }
            Some(t) => Some(Arc::new(CTransport(*t))),
        };
        Ok(AzmxSyncEngine {
            relay_url: opt_text(cfg.relay_url, "config.relay_url")?,
            license_id: opt_text(cfg.license_id, "config.license_id")?,
            device_name: opt_text(cfg.device_name, "config.device_name")?,
            inner: Engine::new(state_dir, transport)?,
        })
    }
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
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_engine_new", unsafe {
        put(out_engine, std::ptr::null_mut(), "out_engine")?;
        put_handle(out_engine, open(config)?, "out_engine")
    })
}

impl Drop for AzmxSyncEngine {
    fn drop(&mut self) {
        self.inner.stop();
    }
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
    // SAFETY: NULL or a live handle freed once, per the contract; its
    // `Drop` stops the scheduler first.
    unsafe { free_handle(engine) }
}
