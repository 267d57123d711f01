//! The `#[napi]` class `SyncEngine`: its state, the constructor and store
//! registration with a spec, the hand-written bodies of the schedule's
//! methods, and [`IntoJs`], the result conversions of the methods generated
//! from bindings/exports.toml (`generated.rs`). The work is the core's, the
//! JS plumbing is in `bridge`/`timer`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use azmx_sync_bridge::call::BusyFlag;
use azmx_sync_bridge::engine::{
    clamp_interval_secs, CycleReport, DeviceInfo, Engine, EngineStatus, Unsynced,
};
use azmx_sync_bridge::events::EventView;
use azmx_sync_bridge::plain::{event_object, to_plain};
use azmx_sync_bridge::store_spec::{builtin_parts, check_store_spec, custom_store_spec};
use azmx_sync_bridge::ApiError;
use azmx_sync_core::engine::StoreAdapter;
use napi::bindgen_prelude::{ObjectFinalize, ObjectRef, This};
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use serde_json::Value;

use super::bridge::{enter_frame, type_of, JsStore};
use super::timer::JsTimer;
use crate::error::guard;
use crate::merge::{MergeContract, StoreValidator};
use azmx_sync_bridge::schedule::Schedule;

const REDACTED: &str = "SyncEngine(<redacted>)";

static NEXT_ENGINE_ID: AtomicU64 = AtomicU64::new(1);

/// The sync engine of one device: snapshot → seal → sign → push; pull →
/// verify → open → merge → apply, against a relay.
///
/// Store adapters are JS objects `{ snapshot(): SyncRecord[], apply(changes:
/// RecordChange[]): void }`; `snapshot` must return every record including
/// tombstones (`deleted: true`), `apply` must store each change's `record`
/// (for `op: 'delete'` it is the tombstone to keep). They are called only
/// during `syncNow()`, `exportTo()`, `importFrom()` and `unsynced()`, on the JS
/// thread; an exception they throw becomes a `STORE_ERROR`. Calling the
/// engine again from inside a callback throws `BUSY`.
///
/// Nothing secret is reachable: `util.inspect` shows `SyncEngine {}`,
/// `toString()`/`toJSON()` give `"SyncEngine(<redacted>)"`.
#[napi(custom_finalize)]
pub struct SyncEngine {
    pub(super) inner: Engine,
    id: u64,
    adapters: RefCell<Vec<ObjectRef<false>>>,
    pub(super) busy: BusyFlag,
    pub(super) schedule: RefCell<Schedule<JsTimer>>,
    pub(super) on_cycle: RefCell<Option<ObjectRef<false>>>,
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
        if let Some(timer) = self.schedule.into_inner().take_pending() {
            timer.forget(&env);
        }
        Ok(())
    }
}

/// `registerStore`'s validator: the given one, else the built-in one for a
/// built-in name, else `shapeOnly`.
fn validator_for(name: &str, validator: Option<StoreValidator>) -> StoreValidator {
    validator
        .unwrap_or_else(|| builtin_parts(name).map_or(StoreValidator::ShapeOnly, |b| b.2.into()))
}

impl SyncEngine {
    /// Runs `body` with this engine's adapters callable from the core.
    pub(super) fn with_adapters<T>(
        &self,
        env: &Env,
        body: impl FnOnce() -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let _busy = self.busy.enter()?;
        let mut values = Vec::new();
        for r in self.adapters.borrow().iter() {
            let obj = r
                .get_value(env)
                .map_err(|e| ApiError::internal(e.reason.clone()))?;
            values.push(obj.raw());
        }
        let _frame = enter_frame(self.id, env, values);
        body()
    }

    /// Registers `adapter` with `register`; the adapter is released when
    /// that fails.
    pub(super) fn add_store(
        &self,
        env: &Env,
        adapter: ObjectRef<false>,
        register: impl FnOnce(Arc<dyn StoreAdapter>) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        let registered = self.busy.enter().and_then(|_busy| {
            let index = self.adapters.borrow().len();
            register(Arc::new(JsStore {
                engine_id: self.id,
                index,
            }))
        });
        match registered {
            Ok(()) => self.adapters.borrow_mut().push(adapter),
            Err(_) => {
                let _ = adapter.unref(env);
            }
        }
        registered
    }

    /// Runs `body` while no store callback is running.
    pub(super) fn call<T>(
        &self,
        body: impl FnOnce() -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let _busy = self.busy.enter()?;
        body()
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
            Ok(SyncEngine {
                inner: Engine::new(state_dir, None)?,
                id: NEXT_ENGINE_ID.fetch_add(1, Ordering::Relaxed),
                adapters: RefCell::new(Vec::new()),
                busy: BusyFlag::default(),
                schedule: RefCell::new(Schedule::new()),
                on_cycle: RefCell::new(None),
            })
        })
    }

    /// The background interval the core would use for `secs`, clamped to
    /// 30 s – 60 min.
    #[napi]
    pub fn clamp_interval_secs(secs: f64) -> f64 {
        clamp_interval_secs(secs)
    }

    /// Registers a host store: `name` (`[a-z][a-z0-9_-]*`), its merge
    /// contract, the adapter, and optionally an incoming-record validator
    /// (default: a built-in name's own, else `shapeOnly`). A built-in name
    /// only with exactly its built-in contract and validator (else
    /// `INVALID_STORE_NAME`, `problem: 'builtinRedefined'`).
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
            let validator = validator_for(&name, validator).into();
            let spec = || check_store_spec(&name, contract.into(), validator);
            self.add_store(&env, adapter, |a| self.inner.register_store(spec()?, a))
        })
    }

    /// Registers a host store under a name that is not built in (a built-in
    /// name throws `INVALID_STORE_NAME`, `problem: 'builtinRedefined'`,
    /// whatever the contract). Otherwise as `registerStore`.
    #[napi(
        ts_args_type = "name: string, contract: MergeContract, adapter: { snapshot(): SyncRecord[]; apply(changes: RecordChange[]): void }, validator?: StoreValidator"
    )]
    pub fn register_custom_store(
        &self,
        env: Env,
        name: String,
        contract: MergeContract,
        adapter: ObjectRef<false>,
        validator: Option<StoreValidator>,
    ) -> napi::Result<()> {
        guard(&env, "registerCustomStore", || {
            let validator = validator.unwrap_or(StoreValidator::ShapeOnly).into();
            let spec = || custom_store_spec(&name, contract.into(), validator);
            self.add_store(&env, adapter, |a| self.inner.register_store(spec()?, a))
        })
    }
}

/// The bodies of the methods generated.rs declares with `hand` (their docs
/// are in bindings/exports.toml); each runs inside its `guard`.
impl SyncEngine {
    pub(super) fn start_js(&self, env: &Env, this: This) -> Result<(), ApiError> {
        let first = self.schedule.borrow_mut().start();
        match first {
            Some(delay) => self.arm(env, this.object.raw(), delay, false),
            None => Ok(()),
        }
    }

    pub(super) fn stop_js(&self, env: &Env) -> Result<(), ApiError> {
        let pending = self.schedule.borrow_mut().stop();
        if let Some(timer) = pending {
            timer.clear(env);
        }
        Ok(())
    }

    pub(super) fn trigger_js(&self, env: &Env, this: This) -> Result<(), ApiError> {
        if !self.schedule.borrow().started() {
            return Ok(());
        }
        self.disarm(env);
        self.arm(env, this.object.raw(), Duration::ZERO, true)
    }

    /// The JS schedule's interval, not the core scheduler's (unused here).
    pub(super) fn set_interval_secs_js(&self, _env: &Env, secs: f64) -> Result<f64, ApiError> {
        Ok(self.schedule.borrow_mut().set_interval_secs(secs))
    }

    pub(super) fn on_cycle_js(
        &self,
        env: &Env,
        callback: Option<ObjectRef<false>>,
    ) -> Result<(), ApiError> {
        if let Some(cb) = callback.as_ref() {
            if !is_function(env, cb)? {
                let _ = callback.map(|cb| cb.unref(env));
                return Err(ApiError::invalid_argument(
                    "onCycle takes a function or null",
                ));
            }
        }
        if let Some(old) = self.on_cycle.replace(callback) {
            let _ = old.unref(env);
        }
        Ok(())
    }

    pub(super) fn started_js(&self, _env: &Env) -> Result<bool, ApiError> {
        Ok(self.schedule.borrow().started())
    }

    /// `toString()` and `toJSON()`: nothing secret is reachable.
    pub(super) fn redacted(&self, _env: &Env) -> Result<String, ApiError> {
        Ok(REDACTED.to_string())
    }
}

/// A facade result as the generated methods return it to JS, once per type:
/// records as plain objects (camelCase), counts as numbers.
pub(super) trait IntoJs {
    type Js;
    fn into_js(self) -> Result<Self::Js, ApiError>;
}

/// Results JS gets as they are.
macro_rules! as_is {
    ($($t:ty),*) => {$(
        impl IntoJs for $t {
            type Js = $t;
            fn into_js(self) -> Result<$t, ApiError> {
                Ok(self)
            }
        }
    )*};
}
as_is!((), String, Option<String>);

/// A record count (JS numbers are exact to 2^53).
impl IntoJs for u64 {
    type Js = f64;
    fn into_js(self) -> Result<f64, ApiError> {
        Ok(self as f64)
    }
}

/// The core's records in their serde (camelCase) form.
macro_rules! as_object {
    ($($t:ty),*) => {$(
        impl IntoJs for $t {
            type Js = Value;
            fn into_js(self) -> Result<Value, ApiError> {
                to_plain(&self)
            }
        }
    )*};
}
as_object!(CycleReport, Unsynced, EngineStatus, Vec<DeviceInfo>);

/// Events as `{ atMs, type, severity, ...fields }`.
impl IntoJs for Vec<EventView> {
    type Js = Value;
    fn into_js(self) -> Result<Value, ApiError> {
        Ok(Value::Array(self.into_iter().map(event_object).collect()))
    }
}

/// Whether `value` is a JS function.
fn is_function(env: &Env, value: &ObjectRef<false>) -> Result<bool, ApiError> {
    let value = value
        .get_value(env)
        .map_err(|e| ApiError::internal(e.reason.clone()))?;
    // SAFETY: a live value of this call's scope.
    Ok(unsafe { type_of(env.raw(), value.raw()) } == sys::ValueType::napi_function)
}
