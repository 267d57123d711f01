//! `SyncEngine`: the core sync engine for Node.js / Electron main processes.
//!
//! Design: the engine runs its cycle synchronously on the JS thread, inside
//! `syncNow()` (and `export`/`import`/`unsynced`), with the built-in HTTP
//! transport (blocking `ureq`). Store adapters are plain JS objects with
//! `snapshot()` and `apply(changes)` methods; they are called directly with
//! the `Env` of the running call, so no threadsafe function is needed and a
//! callback can never run on another thread. Outside such a call (e.g. from
//! a background thread) an adapter refuses with a `STORE_ERROR`.
//!
//! The background schedule (`start`/`stop`/`trigger`) cannot use the core's
//! scheduler thread, since the adapters may only be called on the JS thread.
//! Instead each next cycle is a JS timer (the global `setTimeout`, called
//! from Rust) whose callback runs the same code path as `syncNow()`, and the
//! waiting time comes from the core's `SchedulePolicy`, so the interval,
//! backoff, `Retry-After` and stop-on-revoke are the core's. The timer's
//! arguments hold the engine object, so a pending timer never calls into a
//! finalized engine: the engine cannot be collected while one is pending.

use std::cell::{Cell, RefCell};
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use azmx_sync_core::engine as ce;
use azmx_sync_core::merge as cm;
use napi::bindgen_prelude::{
    ClassInstance, Either, FromNapiValue, ObjectFinalize, ObjectRef, This, Uint8Array, Unknown,
};
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::{guard, NodeError};
use crate::key::take_receipt;
use crate::merge::{MergeContract, StoreValidator};

const REDACTED: &str = "SyncEngine(<redacted>)";

static NEXT_ENGINE_ID: AtomicU64 = AtomicU64::new(1);

// ------------------------------------------------------------ JS call frame --

/// The adapters of one engine call in progress on this (the JS) thread.
struct Frame {
    engine_id: u64,
    env: sys::napi_env,
    adapters: Vec<sys::napi_value>,
}

thread_local! {
    static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

/// Pops its frame when the engine call ends (also on panic).
struct FrameGuard;

impl Drop for FrameGuard {
    fn drop(&mut self) {
        FRAMES.with(|f| {
            f.borrow_mut().pop();
        });
    }
}

/// A store adapter as the core sees it: a slot in the current JS frame.
struct JsStore {
    engine_id: u64,
    index: usize,
}

impl JsStore {
    fn with_adapter<T>(
        &self,
        body: impl FnOnce(Env, sys::napi_value) -> Result<T, String>,
    ) -> Result<T, ce::HostError> {
        let found = FRAMES.with(|f| {
            f.borrow()
                .iter()
                .rev()
                .find(|fr| fr.engine_id == self.engine_id)
                .and_then(|fr| fr.adapters.get(self.index).map(|a| (fr.env, *a)))
        });
        let (env, adapter) = found.ok_or_else(|| {
            ce::HostError::new(
                "JS store adapters are only called during syncNow/export/import on the JS thread",
            )
        })?;
        body(Env::from_raw(env), adapter).map_err(ce::HostError::new)
    }
}

impl ce::StoreAdapter for JsStore {
    fn snapshot(&self) -> Result<Vec<cm::Record>, ce::HostError> {
        self.with_adapter(|env, adapter| {
            let ret = call_method(&env, adapter, "snapshot", &[])?;
            // SAFETY: `ret` is a live value of this env's current scope.
            let ret = unsafe { Unknown::from_raw_unchecked(env.raw(), ret) };
            let value: Value = env.from_js_value(ret).map_err(|e| {
                format!("snapshot() returned a value that is not JSON: {}", e.reason)
            })?;
            let Value::Array(mut list) = value else {
                return Err("snapshot() must return an array of records".into());
            };
            // `{ deleted: undefined }` arrives as null: treat it as absent.
            for r in &mut list {
                if let Value::Object(m) = r {
                    m.retain(|_, v| !v.is_null());
                }
            }
            serde_json::from_value::<Vec<cm::Record>>(Value::Array(list)).map_err(|e| {
                // serde's message names the field, never its content.
                format!("snapshot() returned an invalid record: {e}")
            })
        })
    }

    fn apply(&self, changes: Vec<cm::Change>) -> Result<(), ce::HostError> {
        self.with_adapter(|env, adapter| {
            let value = serde_json::to_value(&changes).map_err(|e| e.to_string())?;
            let js = env
                .to_js_value(&jsify(value))
                .map_err(|e| format!("cannot convert changes: {}", e.reason))?;
            call_method(&env, adapter, "apply", &[js.raw()])?;
            Ok(())
        })
    }
}

/// Calls `obj[name](...args)` with `this = obj`. A thrown exception is
/// cleared and returned as its message.
fn call_method(
    env: &Env,
    obj: sys::napi_value,
    name: &str,
    args: &[sys::napi_value],
) -> Result<sys::napi_value, String> {
    let raw = env.raw();
    let cname = CString::new(name).map_err(|_| "bad method name".to_string())?;
    let mut func = ptr::null_mut();
    let mut ty = 0;
    // SAFETY: raw env/values of the running JS call (same thread).
    unsafe {
        if sys::napi_get_named_property(raw, obj, cname.as_ptr(), &mut func) != sys::Status::napi_ok
        {
            clear_exception(raw);
            return Err(format!("cannot read the adapter's {name} property"));
        }
        sys::napi_typeof(raw, func, &mut ty);
        if ty != sys::ValueType::napi_function {
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

/// Clears a pending exception; returns its `String(e)` form (capped).
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
    let mut len = 0usize;
    sys::napi_get_value_string_utf8(raw, s, ptr::null_mut(), 0, &mut len);
    let mut buf = vec![0u8; len + 1];
    sys::napi_get_value_string_utf8(raw, s, buf.as_mut_ptr().cast(), buf.len(), &mut len);
    buf.truncate(len);
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if text.chars().count() > 300 {
        text = text.chars().take(300).collect::<String>() + "…";
    }
    Some(text)
}

unsafe fn clear_exception_quiet(raw: sys::napi_env) {
    let mut exc = ptr::null_mut();
    let mut pending = false;
    sys::napi_is_exception_pending(raw, &mut pending);
    if pending {
        sys::napi_get_and_clear_last_exception(raw, &mut exc);
    }
}

/// Numbers above `u32::MAX` become doubles (napi-rs would refuse them
/// without BigInt support, which Node-API 4 lacks).
fn jsify(v: Value) -> Value {
    match v {
        Value::Number(n) if n.as_u64().is_some_and(|u| u > u32::MAX as u64) => {
            serde_json::Number::from_f64(n.as_f64().unwrap_or(0.0))
                .map(Value::Number)
                .unwrap_or(Value::Null)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(jsify).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, jsify(v))).collect()),
        other => other,
    }
}

fn to_js<T: serde::Serialize>(v: &T) -> Result<Value, NodeError> {
    serde_json::to_value(v)
        .map(jsify)
        .map_err(|e| NodeError::new("INTERNAL", e.to_string()))
}

// ---------------------------------------------------------------- schedule --

/// `setTimeout` fires at once (with a warning) above this many ms.
const MAX_TIMER_MS: u128 = i32::MAX as u128;

/// A pending JS timer: Node's `setTimeout` returns a `Timeout` object, a
/// browser-style one (Electron renderer) a number.
enum Timer {
    Object(sys::napi_ref),
    Id(f64),
}

struct Schedule {
    started: bool,
    policy: ce::SchedulePolicy,
    /// The one timer that may still run a cycle, with its token; a timer
    /// whose token is not this one (cleared, or from before a stop) does
    /// nothing when it fires.
    pending: Option<(u32, Timer)>,
    next_token: u32,
}

impl Schedule {
    fn new() -> Self {
        Self {
            started: false,
            policy: ce::SchedulePolicy::default(),
            pending: None,
            next_token: 0,
        }
    }
}

/// The timer callback: `setTimeout(scheduled_tick, ms, engine, token,
/// triggered)`. Cycle errors go to the activity log, the backoff and
/// `onCycle`, never to `uncaughtException`; only an exception thrown by the
/// host's `onCycle` callback itself is rethrown.
unsafe extern "C" fn scheduled_tick(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let thrown = catch_unwind(AssertUnwindSafe(|| {
        let mut argc = 3usize;
        let mut argv = [ptr::null_mut(); 3];
        let status = sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        );
        if status != sys::Status::napi_ok || argc < 3 {
            return None;
        }
        // Checks the class: the function is reachable from JS (e.g. through
        // a patched setTimeout) and could be called with any object.
        let Ok(engine) = ClassInstance::<SyncEngine>::from_napi_value(env, argv[0]) else {
            return None;
        };
        let mut token = 0u32;
        let mut triggered = false;
        if sys::napi_get_value_uint32(env, argv[1], &mut token) != sys::Status::napi_ok
            || sys::napi_get_value_bool(env, argv[2], &mut triggered) != sys::Status::napi_ok
        {
            return None;
        }
        engine.on_tick(&Env::from_raw(env), argv[0], token, triggered)
    }));
    clear_exception_quiet(env);
    // The host's own onCycle callback threw: reported like any timer
    // callback's exception; the next tick is armed already.
    if let Ok(Some(exc)) = thrown {
        sys::napi_throw(env, exc);
    }
    ptr::null_mut()
}

unsafe fn global(env: sys::napi_env) -> Result<sys::napi_value, String> {
    let mut g = ptr::null_mut();
    if sys::napi_get_global(env, &mut g) != sys::Status::napi_ok {
        return Err("cannot get the JS global object".into());
    }
    Ok(g)
}

// ------------------------------------------------------------------ errors --

impl From<ce::SyncError> for NodeError {
    fn from(e: ce::SyncError) -> Self {
        use ce::SyncError as S;
        let msg = e.to_string();
        match e {
            S::WrongReceipt => NodeError::new("WRONG_RECEIPT", msg),
            S::NoReceipt => NodeError::new("NO_RECEIPT", msg),
            S::NotRegistered => NodeError::new("NOT_REGISTERED", msg),
            S::Revoked => NodeError::new("REVOKED", msg),
            S::ClockSkew { skew_secs } => {
                NodeError::new("CLOCK_SKEW", msg).num("skewSecs", skew_secs as f64)
            }
            S::RateLimited { retry_after_secs } => {
                NodeError::new("RATE_LIMITED", msg).num("retryAfterSecs", retry_after_secs as f64)
            }
            S::Network { .. } => NodeError::new("NETWORK", msg),
            S::Relay { status, code, .. } => NodeError::new("RELAY_ERROR", msg)
                .num("status", status)
                .str("relayCode", code),
            S::Store { store, .. } => NodeError::new("STORE_ERROR", msg).str("store", store),
            S::Config(_) => NodeError::new("CONFIG", msg),
            S::State { path, .. } => NodeError::new("STATE_IO", msg).str("path", path),
            S::ExportFormat(_) => NodeError::new("EXPORT_FORMAT", msg),
            S::Core(c) => NodeError::from(c),
            _ => NodeError::new("INTERNAL", msg),
        }
    }
}

// ------------------------------------------------------------------ engine --

/// The sync engine of one device: snapshot → seal → sign → push; pull →
/// verify → open → merge → apply, against a relay.
///
/// Store adapters are JS objects `{ snapshot(): SyncRecord[], apply(changes:
/// RecordChange[]): void }`; `snapshot` must return every record including
/// tombstones (`deleted: true`), `apply` must store each change's `record`
/// (for `op: 'delete'` it is the tombstone to keep). They are called only
/// during `syncNow()`, `export()`, `import()` and `unsynced()`, on the JS
/// thread; an exception they throw becomes a `STORE_ERROR`. Calling the
/// engine again from inside a callback throws `BUSY`.
///
/// Nothing secret is reachable: `util.inspect` shows `SyncEngine {}`,
/// `toString()`/`toJSON()` give `"SyncEngine(<redacted>)"`.
#[napi(custom_finalize)]
pub struct SyncEngine {
    inner: ce::SyncEngine,
    id: u64,
    adapters: RefCell<Vec<ObjectRef<false>>>,
    busy: Cell<bool>,
    schedule: RefCell<Schedule>,
    on_cycle: RefCell<Option<ObjectRef<false>>>,
}

impl ObjectFinalize for SyncEngine {
    fn finalize(self, env: Env) -> napi::Result<()> {
        for r in self.adapters.into_inner() {
            let _ = r.unref(&env);
        }
        if let Some(r) = self.on_cycle.into_inner() {
            let _ = r.unref(&env);
        }
        // Only at environment teardown can a timer still be pending (it holds
        // the engine otherwise); no JS may run now, so no clearTimeout.
        if let Some((_, Timer::Object(r))) = self.schedule.into_inner().pending {
            // SAFETY: a reference created on this env, deleted once.
            unsafe { sys::napi_delete_reference(env.raw(), r) };
        }
        Ok(())
    }
}

fn core_spec(
    name: &str,
    contract: MergeContract,
    validator: Option<StoreValidator>,
) -> Result<cm::StoreSpec, NodeError> {
    if let Some(spec) = cm::StoreSpec::builtin(name) {
        if spec.contract != contract.into() || validator.is_some() {
            return Err(NodeError::new(
                "INVALID_STORE_NAME",
                "this store is built in and cannot be redefined (use registerSnippets/registerTodos/registerMemory)",
            )
            .str("problem", "builtinRedefined"));
        }
        return Ok(spec);
    }
    let store_name = cm::StoreName::new(name).map_err(|e| {
        NodeError::new("INVALID_STORE_NAME", e.to_string()).str("problem", format!("{e:?}"))
    })?;
    Ok(cm::StoreSpec::new(store_name, contract.into())
        .with_kind(validator.unwrap_or(StoreValidator::ShapeOnly).into()))
}

/// Marks the engine busy for the duration of a call.
struct BusyGuard<'a>(&'a Cell<bool>);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

impl SyncEngine {
    fn enter(&self) -> Result<BusyGuard<'_>, NodeError> {
        if self.busy.get() {
            return Err(NodeError::new(
                "BUSY",
                "the engine is running a store callback; call it again after syncNow/export/import returns",
            ));
        }
        self.busy.set(true);
        Ok(BusyGuard(&self.busy))
    }

    /// Runs `body` with this engine's adapters callable from the core.
    fn with_adapters<T>(
        &self,
        env: &Env,
        body: impl FnOnce() -> Result<T, ce::SyncError>,
    ) -> Result<T, NodeError> {
        let _busy = self.enter()?;
        let mut values = Vec::new();
        for r in self.adapters.borrow().iter() {
            let obj = r
                .get_value(env)
                .map_err(|e| NodeError::new("INTERNAL", e.reason.clone()))?;
            values.push(obj.raw());
        }
        FRAMES.with(|f| {
            f.borrow_mut().push(Frame {
                engine_id: self.id,
                env: env.raw(),
                adapters: values,
            })
        });
        let _frame = FrameGuard;
        body().map_err(NodeError::from)
    }

    fn add_store(
        &self,
        env: &Env,
        spec: cm::StoreSpec,
        adapter: ObjectRef<false>,
    ) -> Result<(), NodeError> {
        let _busy = self.enter()?;
        let index = self.adapters.borrow().len();
        let js = JsStore {
            engine_id: self.id,
            index,
        };
        match self.inner.register_store(spec, Arc::new(js)) {
            Ok(()) => {
                self.adapters.borrow_mut().push(adapter);
                Ok(())
            }
            Err(e) => {
                let _ = adapter.unref(env);
                Err(e.into())
            }
        }
    }

    /// Schedules the next tick with the global `setTimeout` (looked up each
    /// time, so fake timers work). A scheduled tick is unref'd so that the
    /// schedule never keeps a script alive (an Electron app's event loop
    /// runs anyway). `this` is the engine's own JS object.
    fn arm(
        &self,
        env: &Env,
        this: sys::napi_value,
        delay: Duration,
        triggered: bool,
    ) -> Result<(), String> {
        let raw = env.raw();
        let token = {
            let mut s = self.schedule.borrow_mut();
            s.next_token = s.next_token.wrapping_add(1);
            s.next_token
        };
        // SAFETY: raw env and values of the running JS call (same thread).
        let timer = unsafe {
            let name = "azmxSyncTick";
            let mut tick = ptr::null_mut();
            let mut ms = ptr::null_mut();
            let mut tok = ptr::null_mut();
            let mut trig = ptr::null_mut();
            if sys::napi_create_function(
                raw,
                name.as_ptr().cast(),
                name.len() as isize,
                Some(scheduled_tick),
                ptr::null_mut(),
                &mut tick,
            ) != sys::Status::napi_ok
                || sys::napi_create_double(raw, delay.as_millis().min(MAX_TIMER_MS) as f64, &mut ms)
                    != sys::Status::napi_ok
                || sys::napi_create_uint32(raw, token, &mut tok) != sys::Status::napi_ok
                || sys::napi_get_boolean(raw, triggered, &mut trig) != sys::Status::napi_ok
            {
                clear_exception_quiet(raw);
                return Err("cannot create the timer callback".into());
            }
            let handle = call_method(
                env,
                global(raw)?,
                "setTimeout",
                &[tick, ms, this, tok, trig],
            )?;
            let mut ty = 0;
            sys::napi_typeof(raw, handle, &mut ty);
            if ty == sys::ValueType::napi_number {
                let mut id = 0.0;
                sys::napi_get_value_double(raw, handle, &mut id);
                Timer::Id(id)
            } else if ty == sys::ValueType::napi_object || ty == sys::ValueType::napi_function {
                // A trigger() is an explicit request: it runs before exit.
                // (Fake timers may lack unref: the timer then stays ref'd.)
                if !triggered {
                    let _ = call_method(env, handle, "unref", &[]);
                }
                let mut r = ptr::null_mut();
                if sys::napi_create_reference(raw, handle, 1, &mut r) != sys::Status::napi_ok {
                    return Err("cannot keep the timer".into());
                }
                Timer::Object(r)
            } else {
                return Err("setTimeout returned neither a Timeout nor a number".into());
            }
        };
        self.schedule.borrow_mut().pending = Some((token, timer));
        Ok(())
    }

    /// Clears the pending timer, if any.
    fn disarm(&self, env: &Env) {
        let Some((_, timer)) = self.schedule.borrow_mut().pending.take() else {
            return;
        };
        let raw = env.raw();
        // SAFETY: raw env of the running JS call; the reference is ours and
        // deleted once.
        unsafe {
            let mut value = ptr::null_mut();
            let status = match timer {
                Timer::Object(r) => {
                    let s = sys::napi_get_reference_value(raw, r, &mut value);
                    sys::napi_delete_reference(raw, r);
                    s
                }
                Timer::Id(id) => sys::napi_create_double(raw, id, &mut value),
            };
            if status == sys::Status::napi_ok && !value.is_null() {
                if let Ok(g) = global(raw) {
                    // A timer that cannot be cleared still finds its token
                    // gone and does nothing.
                    let _ = call_method(env, g, "clearTimeout", &[value]);
                }
            }
        }
    }

    /// One scheduled tick on the JS thread (see `scheduled_tick`).
    /// Returns the exception the `onCycle` callback threw, to rethrow.
    fn on_tick(
        &self,
        env: &Env,
        this: sys::napi_value,
        token: u32,
        triggered: bool,
    ) -> Option<sys::napi_value> {
        {
            let mut s = self.schedule.borrow_mut();
            match &s.pending {
                Some((t, _)) if *t == token && s.started => {}
                _ => return None,
            }
            if let Some((_, Timer::Object(r))) = s.pending.take() {
                // SAFETY: our reference to the Timeout that is firing now.
                unsafe { sys::napi_delete_reference(env.raw(), r) };
            }
        }
        let outcome = if self.busy.get() {
            // Only reachable if a timer could fire inside one of our own
            // calls (a nested event loop): the core's lock would not see it.
            self.inner.report_skipped_cycle(ce::SkipReason::Busy);
            None
        } else {
            let run = catch_unwind(AssertUnwindSafe(|| {
                self.with_adapters(env, || Ok(self.inner.run_scheduled_cycle(triggered)))
            }));
            match run {
                Ok(Ok(ce::ScheduledCycle::Ran(result))) => Some(result),
                Ok(Ok(ce::ScheduledCycle::Skipped(_))) | Ok(Err(_)) => None,
                // Counted as a failure so a panicking cycle is not retried at full rate.
                Err(_) => Some(Err(ce::SyncError::Config(
                    "internal error: panic inside a scheduled cycle".into(),
                ))),
            }
        };
        let delay = {
            let mut s = self.schedule.borrow_mut();
            let stop = outcome
                .as_ref()
                .is_some_and(|result| s.policy.on_cycle_result(result) == ce::ScheduleStep::Stop);
            if stop {
                s.started = false;
            }
            // Not after stop() or trigger() from inside an adapter during
            // the cycle (the latter armed the next tick already).
            (s.started && s.pending.is_none()).then(|| s.policy.next_delay())
        };
        if let Some(delay) = delay {
            if self.arm(env, this, delay, false).is_err() {
                // Nowhere to report it from a timer; status().lastCycle goes stale.
                self.schedule.borrow_mut().started = false;
            }
        }
        outcome.and_then(|result| self.notify_cycle(env, result))
    }

    /// Calls the `onCycle` callback; returns the exception it threw.
    fn notify_cycle(
        &self,
        env: &Env,
        result: Result<ce::CycleReport, ce::SyncError>,
    ) -> Option<sys::napi_value> {
        // Not borrowed during the call: the callback may replace itself.
        let func = self.on_cycle.borrow().as_ref()?.get_value(env).ok()?.raw();
        let raw = env.raw();
        // SAFETY: raw env and values of the running timer callback.
        unsafe {
            let mut null = ptr::null_mut();
            sys::napi_get_null(raw, &mut null);
            let args = match result {
                Ok(report) => [null, env.to_js_value(&to_js(&report).ok()?).ok()?.raw()],
                Err(e) => [
                    crate::error::build(env, &NodeError::from(e)).ok()?.raw(),
                    null,
                ],
            };
            let mut ret = ptr::null_mut();
            if sys::napi_call_function(raw, null, func, 2, args.as_ptr(), &mut ret)
                == sys::Status::napi_ok
            {
                return None;
            }
            let mut exc = ptr::null_mut();
            (sys::napi_get_and_clear_last_exception(raw, &mut exc) == sys::Status::napi_ok
                && !exc.is_null())
            .then_some(exc)
        }
    }
}

#[napi]
impl SyncEngine {
    /// Opens (or creates) the engine state in `stateDir`, including the
    /// device key (`device.key`, 0600) and `activity.jsonl`. The receipt is
    /// never written there. Throws `STATE_IO`, `KEY_FILE`.
    #[napi(constructor)]
    pub fn new(env: Env, state_dir: String) -> napi::Result<Self> {
        guard(&env, "new SyncEngine", || {
            let config = ce::EngineConfig::new(state_dir);
            let inner = ce::SyncEngine::with_builtin_transport(config)?;
            Ok(SyncEngine {
                inner,
                id: NEXT_ENGINE_ID.fetch_add(1, Ordering::Relaxed),
                adapters: RefCell::new(Vec::new()),
                busy: Cell::new(false),
                schedule: RefCell::new(Schedule::new()),
                on_cycle: RefCell::new(None),
            })
        })
    }

    /// The background interval the core would use for `secs`, clamped to
    /// 30 s – 60 min.
    #[napi]
    pub fn clamp_interval_secs(secs: f64) -> f64 {
        let secs = if secs.is_finite() { secs.max(0.0) } else { 0.0 };
        ce::clamp_interval(Duration::from_secs_f64(secs.min(1e9))).as_secs_f64()
    }

    /// Registers a host store: `name` (`[a-z][a-z0-9_-]*`), its merge
    /// contract, the adapter, and optionally an incoming-record validator
    /// (default `shapeOnly`). Built-in names must use `registerSnippets` etc.
    /// Throws `INVALID_STORE_NAME`, `CONFIG` (already registered), `BUSY`.
    #[napi(
        ts_args_type = "name: string, contract: MergeContract, adapter: { snapshot(): SyncRecord[]; apply(changes: RecordChange[]): void }, validator?: StoreValidator"
    )]
    pub fn register_store(
        &self,
        env: Env,
        name: String,
        contract: MergeContract,
        adapter: ObjectRef<false>,
        validator: Option<StoreValidator>,
    ) -> napi::Result<()> {
        guard(&env, "registerStore", || {
            let spec = match core_spec(&name, contract, validator) {
                Ok(s) => s,
                Err(e) => {
                    let _ = adapter.unref(&env);
                    return Err(e);
                }
            };
            self.add_store(&env, spec, adapter)
        })
    }

    /// Registers the built-in `snippets` store (LWW by `updatedAt`, scoped by handle).
    #[napi(
        ts_args_type = "adapter: { snapshot(): SyncRecord[]; apply(changes: RecordChange[]): void }"
    )]
    pub fn register_snippets(&self, env: Env, adapter: ObjectRef<false>) -> napi::Result<()> {
        guard(&env, "registerSnippets", || {
            self.add_store(&env, cm::StoreSpec::snippets(), adapter)
        })
    }

    /// Registers the built-in `todos` store (one record per session).
    #[napi(
        ts_args_type = "adapter: { snapshot(): SyncRecord[]; apply(changes: RecordChange[]): void }"
    )]
    pub fn register_todos(&self, env: Env, adapter: ObjectRef<false>) -> napi::Result<()> {
        guard(&env, "registerTodos", || {
            self.add_store(&env, cm::StoreSpec::todos(), adapter)
        })
    }

    /// Registers the built-in `memory` store (LWW by `version`).
    #[napi(
        ts_args_type = "adapter: { snapshot(): SyncRecord[]; apply(changes: RecordChange[]): void }"
    )]
    pub fn register_memory(&self, env: Env, adapter: ObjectRef<false>) -> napi::Result<()> {
        guard(&env, "registerMemory", || {
            self.add_store(&env, cm::StoreSpec::memory(), adapter)
        })
    }

    /// Registers this device with a relay (`/sync/init`); returns the device
    /// id. Idempotent for the same device key. Blocks on HTTP. Throws
    /// `NETWORK`, `RELAY_ERROR`, `CLOCK_SKEW`, `MALFORMED_FIELD`.
    #[napi]
    pub fn register(
        &self,
        env: Env,
        relay_url: String,
        license_id: String,
        license_key: String,
        device_name: String,
    ) -> napi::Result<String> {
        guard(&env, "register", || {
            let _busy = self.enter()?;
            let license_key = Zeroizing::new(license_key);
            Ok(self
                .inner
                .register(&relay_url, &license_id, &license_key, &device_name)?)
        })
    }

    /// Gives the engine the recovery receipt (after `register`). The key is
    /// derived in the background; the Rust copy of the receipt is zeroized
    /// once the key exists, and a `Uint8Array`/`Buffer` receipt is
    /// overwritten with zeros right away. Throws `NOT_REGISTERED`.
    #[napi]
    pub fn set_receipt(&self, env: Env, receipt: Either<String, Uint8Array>) -> napi::Result<()> {
        guard(&env, "setReceipt", || {
            let _busy = self.enter()?;
            let mut receipt = take_receipt(receipt)?;
            let secret = secrecy::SecretString::from(std::mem::take(&mut *receipt));
            Ok(self.inner.set_receipt(secret)?)
        })
    }

    /// Checks the receipt against the license's key-check blob on the relay
    /// (sets it on the license's first device). Throws `WRONG_RECEIPT`
    /// (nothing changed), `NO_RECEIPT`, `NOT_REGISTERED`, `NETWORK`...
    #[napi]
    pub fn verify_receipt(&self, env: Env) -> napi::Result<()> {
        guard(&env, "verifyReceipt", || {
            let _busy = self.enter()?;
            Ok(self.inner.verify_receipt()?)
        })
    }

    /// Runs one full cycle now on this thread (push local changes, pull,
    /// verify, open, merge, `apply` to the adapters). Blocks on HTTP; call it
    /// from an Electron main process. Does not change the schedule. Throws `WRONG_RECEIPT`,
    /// `REVOKED`, `CLOCK_SKEW`, `NETWORK`, `RATE_LIMITED`, `RELAY_ERROR`,
    /// `STORE_ERROR` (with `store`), `NO_RECEIPT`, `NOT_REGISTERED`, `BUSY`.
    #[napi(
        ts_return_type = "{ pushedSeq?: number | null; pushedRecords: number; sealedBytes: number; checkpoint: boolean; pulledBlobs: number; appliedChanges: number; rejectedRecords: number; quarantined: number; durationMs: number }"
    )]
    pub fn sync_now(&self, env: Env) -> napi::Result<Value> {
        guard(&env, "syncNow", || {
            let report = self.with_adapters(&env, || self.inner.sync_now())?;
            to_js(&report)
        })
    }

    /// Starts the background schedule: a cycle every interval (default
    /// 5 min, see `setIntervalSecs`), run on the JS thread from a JS timer
    /// like `syncNow()`. The first one runs after one interval (`trigger()`
    /// for one now). Skipped while hidden (`setVisible(false)`). A failing
    /// cycle never throws: it is in `recentActivity()`/`status()`, and the
    /// next waits longer (doubling, up to 60 min; a relay's `Retry-After`
    /// is honoured); `REVOKED` stops the schedule. The timer is unref'd: it
    /// does not keep Node running, and a started engine is not garbage
    /// collected before `stop()`. No-op when started.
    #[napi]
    pub fn start(&self, env: Env, this: This) -> napi::Result<()> {
        guard(&env, "start", || {
            let delay = {
                let mut s = self.schedule.borrow_mut();
                if s.started {
                    return Ok(());
                }
                s.started = true;
                s.policy = ce::SchedulePolicy::new(s.policy.interval());
                s.policy.next_delay()
            };
            self.arm(&env, this.object.raw(), delay, false)
                .map_err(|e| {
                    self.schedule.borrow_mut().started = false;
                    NodeError::new("INTERNAL", e)
                })
        })
    }

    /// Stops the background schedule (clears its timer). A cycle cannot be
    /// running meanwhile unless this is called from inside an adapter; then
    /// that cycle finishes and no other follows.
    #[napi]
    pub fn stop(&self, env: Env) -> napi::Result<()> {
        guard(&env, "stop", || {
            self.schedule.borrow_mut().started = false;
            self.disarm(&env);
            Ok(())
        })
    }

    /// Runs a scheduled cycle as soon as the JS thread is free (a zero-delay
    /// timer, which keeps Node alive until it ran; this returns at once),
    /// even when hidden; the interval restarts after it. No-op unless
    /// started (`syncNow()` runs one directly).
    #[napi]
    pub fn trigger(&self, env: Env, this: This) -> napi::Result<()> {
        guard(&env, "trigger", || {
            if !self.schedule.borrow().started {
                return Ok(());
            }
            self.disarm(&env);
            self.arm(&env, this.object.raw(), Duration::ZERO, true)
                .map_err(|e| {
                    self.schedule.borrow_mut().started = false;
                    NodeError::new("INTERNAL", e)
                })
        })
    }

    /// Hidden apps skip scheduled cycles (with a `cycleSkipped` event,
    /// `reason: 'hidden'`); `trigger()` and `syncNow()` still run.
    #[napi]
    pub fn set_visible(&self, visible: bool) {
        self.inner.set_visible(visible);
    }

    /// The background interval, clamped to 30 s – 60 min; returns the
    /// clamped value. Takes effect from the next wait (the pending one
    /// keeps its time).
    #[napi]
    pub fn set_interval_secs(&self, secs: f64) -> f64 {
        let secs = Self::clamp_interval_secs(secs);
        self.schedule
            .borrow_mut()
            .policy
            .set_interval(Duration::from_secs_f64(secs));
        secs
    }

    /// Calls `callback(error, report)` on the JS thread after each scheduled
    /// cycle that ran (not for skipped ones, nor for `syncNow()`): `error`
    /// is the typed error `syncNow()` would have thrown, or `null`; `report`
    /// the cycle report, or `null`. `null` removes the callback. An
    /// exception it throws is reported like any timer callback's
    /// (`uncaughtException`); the schedule goes on.
    #[napi(
        ts_args_type = "callback: ((error: Error | null, report: ReturnType<SyncEngine['syncNow']> | null) => void) | null"
    )]
    pub fn on_cycle(&self, env: Env, callback: Option<ObjectRef<false>>) -> napi::Result<()> {
        guard(&env, "onCycle", || {
            if let Some(cb) = &callback {
                let mut ty = 0;
                let value = cb
                    .get_value(&env)
                    .map_err(|e| NodeError::new("INTERNAL", e.reason.clone()))?;
                // SAFETY: a live value of this call's scope.
                unsafe { sys::napi_typeof(env.raw(), value.raw(), &mut ty) };
                if ty != sys::ValueType::napi_function {
                    if let Some(cb) = callback {
                        let _ = cb.unref(&env);
                    }
                    return Err(NodeError::new(
                        "INVALID_ARGUMENT",
                        "onCycle takes a function or null",
                    ));
                }
            }
            if let Some(old) = self.on_cycle.replace(callback) {
                let _ = old.unref(&env);
            }
            Ok(())
        })
    }

    /// Whether the background schedule is on (`false` after `stop()` and
    /// after a `REVOKED` cycle).
    #[napi(getter)]
    pub fn started(&self) -> bool {
        self.schedule.borrow().started
    }

    /// Records the relay does not have yet (snapshots every store).
    #[napi(ts_return_type = "{ count: number; oldestUpdatedAtMs?: number | null }")]
    pub fn unsynced(&self, env: Env) -> napi::Result<Value> {
        guard(&env, "unsynced", || {
            let u = self.with_adapters(&env, || self.inner.unsynced())?;
            to_js(&u)
        })
    }

    /// The most recent activity events (oldest first; default 100): plain
    /// objects `{ atMs, type, ...fields }`. Events never carry record
    /// bodies, the receipt or key bytes.
    #[napi(ts_return_type = "Array<{ atMs: number; type: string; [field: string]: unknown }>")]
    pub fn recent_activity(&self, env: Env, limit: Option<u32>) -> napi::Result<Value> {
        guard(&env, "recentActivity", || {
            to_js(&self.inner.recent_activity(limit.unwrap_or(100) as usize))
        })
    }

    /// A status snapshot (device, relay, last cycle, quarantine, ...).
    #[napi(
        ts_return_type = "{ deviceId?: string | null; deviceName?: string | null; relayUrl?: string | null; licenseId?: string | null; fingerprint: string; nextSeq: number; lastCycle?: { atMs: number; ok: boolean; errorCode?: string | null; durationMs: number } | null; lastSuccessMs?: number | null; outboxPending: boolean; revoked: boolean; clockOffsetSecs: number; quarantine: Array<{ deviceId: string; seq: number; sha256: string; reason: string; attempts: number; gaveUp: boolean }>; receiptSet: boolean }"
    )]
    pub fn status(&self, env: Env) -> napi::Result<Value> {
        guard(&env, "status", || {
            let _busy = self.enter()?;
            to_js(&self.inner.status())
        })
    }

    /// The license's devices (metadata only).
    #[napi(
        ts_return_type = "Array<{ deviceId: string; name: string; createdAt?: number | null; lastPushAt?: number | null; lastPullAt?: number | null; blobCount: number; sealedBytes: number; [field: string]: unknown }>"
    )]
    pub fn devices(&self, env: Env) -> napi::Result<Value> {
        guard(&env, "devices", || {
            let _busy = self.enter()?;
            to_js(&self.inner.devices()?)
        })
    }

    /// Revokes a device of this license (e.g. a lost laptop).
    #[napi]
    pub fn revoke(&self, env: Env, device_id: String) -> napi::Result<()> {
        guard(&env, "revoke", || {
            let _busy = self.enter()?;
            Ok(self.inner.revoke(&device_id)?)
        })
    }

    /// Writes every store to an encrypted export file; returns the record count.
    #[napi]
    pub fn export(&self, env: Env, path: String) -> napi::Result<f64> {
        guard(&env, "export", || {
            let n = self.with_adapters(&env, || self.inner.export(&path))?;
            Ok(n as f64)
        })
    }

    /// Merges an export file into the stores (their contracts decide);
    /// returns the record count. Throws `EXPORT_FORMAT`, `DECRYPT_FAILED`...
    #[napi]
    pub fn import(&self, env: Env, path: String) -> napi::Result<f64> {
        guard(&env, "import", || {
            let n = self.with_adapters(&env, || self.inner.import(&path))?;
            Ok(n as f64)
        })
    }

    /// This device's id once registered, else `null`.
    #[napi(getter)]
    pub fn device_id(&self, env: Env) -> napi::Result<Option<String>> {
        guard(&env, "deviceId", || {
            let _busy = self.enter()?;
            Ok(self.inner.device_id())
        })
    }

    /// The fingerprint of this device's public key (to compare across devices).
    #[napi(getter)]
    pub fn fingerprint(&self) -> String {
        self.inner.fingerprint()
    }

    /// `"SyncEngine(<redacted>)"`.
    #[napi(js_name = "toString")]
    pub fn to_display(&self) -> String {
        REDACTED.to_string()
    }

    /// `"SyncEngine(<redacted>)"`.
    #[napi(js_name = "toJSON")]
    pub fn to_json(&self) -> String {
        REDACTED.to_string()
    }
}
