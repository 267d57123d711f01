//! The JS store adapters as the core sees them, and the raw `napi` calls
//! into JS objects they need. Every function here runs on the JS thread,
//! inside an engine call that pushed a [`Frame`].

use std::ffi::CString;
use std::ptr;

use azmx_sync_core::engine::{HostError, StoreAdapter};
use azmx_sync_core::merge::{Change, Record};
use napi::bindgen_prelude::{FromNapiValue, Unknown};
use napi::{sys, Env, JsValue};
use serde_json::Value;

use azmx_sync_bridge::call::{self, FrameGuard};
use azmx_sync_bridge::host::snapshot_records;
use azmx_sync_bridge::plain::to_plain;

/// The adapters of one engine call in progress on this (the JS) thread,
/// with the env of that call: a [`call`](azmx_sync_bridge::call) frame.
type Frame = (sys::napi_env, Vec<sys::napi_value>);

/// Makes `adapters` (live values of `env`'s current scope) callable by the
/// [`JsStore`]s of engine `engine_id` until the guard drops.
pub(super) fn enter_frame(engine_id: u64, env: &Env, adapters: Vec<sys::napi_value>) -> FrameGuard {
    call::enter_frame::<Frame>(engine_id, (env.raw(), adapters))
}

/// A store adapter as the core sees it: a slot in the current JS frame.
pub(super) struct JsStore {
    pub engine_id: u64,
    pub index: usize,
}

impl JsStore {
    fn with_adapter<T>(
        &self,
        body: impl FnOnce(Env, sys::napi_value) -> Result<T, String>,
    ) -> Result<T, HostError> {
        let found = call::in_frame(self.engine_id, |(env, adapters): &Frame| {
            adapters.get(self.index).map(|a| (*env, *a))
        });
        let (env, adapter) = found.ok_or_else(|| {
            HostError::new(
                "JS store adapters are only called during syncNow/exportTo/importFrom on the JS thread",
            )
        })?;
        body(Env::from_raw(env), adapter).map_err(HostError::new)
    }
}

impl StoreAdapter for JsStore {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        self.with_adapter(|env, adapter| {
            let ret = call_method(&env, adapter, "snapshot", &[])?;
            // SAFETY: `ret` is a live value of this env's current scope.
            let ret = unsafe { Unknown::from_raw_unchecked(env.raw(), ret) };
            let value: Value = env.from_js_value(ret).map_err(|e| {
                format!("snapshot() returned a value that is not JSON: {}", e.reason)
            })?;
            snapshot_records(value)
        })
    }

    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
        self.with_adapter(|env, adapter| {
            let value = to_plain(&changes).map_err(|e| e.to_string())?;
            let js = env
                .to_js_value(&value)
                .map_err(|e| format!("cannot convert changes: {}", e.reason))?;
            call_method(&env, adapter, "apply", &[js.raw()])?;
            Ok(())
        })
    }
}

/// Calls `obj[name](...args)` with `this = obj`. A thrown exception is
/// cleared and returned as its message.
pub(super) fn call_method(
    env: &Env,
    obj: sys::napi_value,
    name: &str,
    args: &[sys::napi_value],
) -> Result<sys::napi_value, String> {
    let raw = env.raw();
    let cname = CString::new(name).map_err(|_| "bad method name".to_string())?;
    let mut func = ptr::null_mut();
    // SAFETY: raw env/values of the running JS call (same thread).
    unsafe {
        if sys::napi_get_named_property(raw, obj, cname.as_ptr(), &mut func) != sys::Status::napi_ok
        {
            clear_exception(raw);
            return Err(format!("cannot read the adapter's {name} property"));
        }
        if type_of(raw, func) != sys::ValueType::napi_function {
            return Err(format!("the store adapter has no {name}() method"));
        }
        let mut ret = ptr::null_mut();
        let status = sys::napi_call_function(raw, obj, func, args.len(), args.as_ptr(), &mut ret);
        if status == sys::Status::napi_ok {
            return Ok(ret);
        }
        let detail = clear_exception(raw).unwrap_or_else(|| format!("napi status {status}"));
        Err(format!("{name}() threw: {detail}"))
    }
}

/// `typeof value` as a napi value type.
///
/// # Safety
/// `raw` and `value` belong to the running JS call on this thread.
pub(super) unsafe fn type_of(raw: sys::napi_env, value: sys::napi_value) -> sys::napi_valuetype {
    let mut ty = 0;
    sys::napi_typeof(raw, value, &mut ty);
    ty
}

/// The JS global object.
///
/// # Safety
/// `raw` is the env of the running JS call on this thread.
pub(super) unsafe fn global(raw: sys::napi_env) -> Result<sys::napi_value, String> {
    let mut g = ptr::null_mut();
    if sys::napi_get_global(raw, &mut g) != sys::Status::napi_ok {
        return Err("cannot get the JS global object".into());
    }
    Ok(g)
}

/// Clears a pending exception; returns its `String(e)` form (capped).
///
/// # Safety
/// `raw` is the env of the running JS call on this thread.
unsafe fn clear_exception(raw: sys::napi_env) -> Option<String> {
    let mut pending = false;
    sys::napi_is_exception_pending(raw, &mut pending);
    if !pending {
        return None;
    }
    let mut exc = ptr::null_mut();
    if sys::napi_get_and_clear_last_exception(raw, &mut exc) != sys::Status::napi_ok {
        return None;
    }
    let mut s = ptr::null_mut();
    if sys::napi_coerce_to_string(raw, exc, &mut s) != sys::Status::napi_ok {
        clear_exception_quiet(raw);
        return Some("exception".into());
    }
    let mut text = String::from_napi_value(raw, s).unwrap_or_default();
    if text.chars().count() > 300 {
        text = text.chars().take(300).collect::<String>() + "…";
    }
    Some(text)
}

/// Clears a pending exception, if any, without looking at it.
///
/// # Safety
/// `raw` is the env of the running JS call on this thread.
pub(super) unsafe fn clear_exception_quiet(raw: sys::napi_env) {
    let mut exc = ptr::null_mut();
    let mut pending = false;
    sys::napi_is_exception_pending(raw, &mut pending);
    if pending {
        sys::napi_get_and_clear_last_exception(raw, &mut exc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_outside_a_call_refuses() {
        let store = JsStore {
            engine_id: u64::MAX,
            index: 0,
        };
        let err = store.snapshot().unwrap_err();
        assert!(err.to_string().contains("only called during syncNow"));
    }
}
