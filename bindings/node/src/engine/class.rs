//! The `#[napi]` class `SyncEngine`: each method maps its arguments and
//! result; the work is the core's, the JS plumbing is in `bridge`/`timer`.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use azmx_sync_bridge::engine::{clamp_interval_secs, Engine, DEFAULT_ACTIVITY_LIMIT};
use azmx_sync_bridge::store_spec::{builtin_parts, check_store_spec, custom_store_spec};
use azmx_sync_bridge::ApiError;
use azmx_sync_core::engine::StoreAdapter;
use napi::bindgen_prelude::{Either, ObjectFinalize, ObjectRef, This, Uint8Array};
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use serde_json::Value;
use zeroize::Zeroizing;

use super::bridge::{enter_frame, event_js, to_js, type_of, JsStore};
use super::timer::{JsTimer, Schedule};
use crate::error::guard;
use crate::key::take_receipt;
use crate::merge::{MergeContract, StoreValidator};

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
    pub(super) busy: Cell<bool>,
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

/// Marks the engine busy for the duration of a call.
pub(super) struct BusyGuard<'a>(&'a Cell<bool>);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

impl SyncEngine {
    fn enter(&self) -> Result<BusyGuard<'_>, ApiError> {
        if self.busy.get() {
            return Err(ApiError::Busy {
                detail: "the engine is running a store callback; call it again after syncNow/exportTo/importFrom returns".into(),
            });
        }
        self.busy.set(true);
        Ok(BusyGuard(&self.busy))
    }

    /// Runs `body` with this engine's adapters callable from the core.
    pub(super) fn with_adapters<T>(
        &self,
        env: &Env,
        body: impl FnOnce() -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let _busy = self.enter()?;
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
    fn add_store(
        &self,
        env: &Env,
        adapter: ObjectRef<false>,
        register: impl FnOnce(Arc<dyn StoreAdapter>) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        let registered = self.enter().and_then(|_busy| {
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
    fn call<T>(&self, body: impl FnOnce() -> Result<T, ApiError>) -> Result<T, ApiError> {
        let _busy = self.enter()?;
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
            self.add_store(&env, adapter, |a| {
                let spec = check_store_spec(&name, contract.into(), validator)?;
                self.inner.register_store(spec, a)
            })
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
            self.add_store(&env, adapter, |a| {
                let spec = custom_store_spec(&name, contract.into(), validator)?;
                self.inner.register_store(spec, a)
            })
        })
    }

    /// Registers the built-in `snippets` store (LWW by `updatedAt`, scoped by handle).
    #[napi(
        ts_args_type = "adapter: { snapshot(): SyncRecord[]; apply(changes: RecordChange[]): void }"
    )]
    pub fn register_snippets(&self, env: Env, adapter: ObjectRef<false>) -> napi::Result<()> {
        guard(&env, "registerSnippets", || {
            self.add_store(&env, adapter, |a| self.inner.register_snippets(a))
        })
    }

    /// Registers the built-in `todos` store (one record per session).
    #[napi(
        ts_args_type = "adapter: { snapshot(): SyncRecord[]; apply(changes: RecordChange[]): void }"
    )]
    pub fn register_todos(&self, env: Env, adapter: ObjectRef<false>) -> napi::Result<()> {
        guard(&env, "registerTodos", || {
            self.add_store(&env, adapter, |a| self.inner.register_todos(a))
        })
    }

    /// Registers the built-in `memory` store (LWW by `version`).
    #[napi(
        ts_args_type = "adapter: { snapshot(): SyncRecord[]; apply(changes: RecordChange[]): void }"
    )]
    pub fn register_memory(&self, env: Env, adapter: ObjectRef<false>) -> napi::Result<()> {
        guard(&env, "registerMemory", || {
            self.add_store(&env, adapter, |a| self.inner.register_memory(a))
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
        // Wiped also when the engine is busy and the facade never gets it.
        let mut key = Zeroizing::new(license_key);
        guard(&env, "register", || {
            self.call(|| {
                let key = std::mem::take(&mut *key);
                self.inner
                    .register(&relay_url, &license_id, key, &device_name)
            })
        })
    }

    /// Gives the engine the recovery receipt (after `register`). The key is
    /// derived in the background; the Rust copy of the receipt is zeroized
    /// once the key exists, and a `Uint8Array`/`Buffer` receipt is
    /// overwritten with zeros right away. Throws `NOT_REGISTERED`.
    #[napi]
    pub fn set_receipt(&self, env: Env, receipt: Either<String, Uint8Array>) -> napi::Result<()> {
        guard(&env, "setReceipt", || {
            let mut receipt = take_receipt(receipt)?;
            self.call(|| self.inner.set_receipt(std::mem::take(&mut *receipt)))
        })
    }

    /// Checks the receipt against the license's key-check blob on the relay
    /// (sets it on the license's first device). Throws `WRONG_RECEIPT`
    /// (nothing changed), `NO_RECEIPT`, `NOT_REGISTERED`, `NETWORK`...
    #[napi]
    pub fn verify_receipt(&self, env: Env) -> napi::Result<()> {
        guard(&env, "verifyReceipt", || {
            self.call(|| self.inner.verify_receipt())
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
            to_js(&self.with_adapters(&env, || self.inner.sync_now())?)
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
            let first = self.schedule.borrow_mut().start();
            match first {
                Some(delay) => self.arm(&env, this.object.raw(), delay, false),
                None => Ok(()),
            }
        })
    }

    /// Stops the background schedule (clears its timer). A cycle cannot be
    /// running meanwhile unless this is called from inside an adapter; then
    /// that cycle finishes and no other follows.
    #[napi]
    pub fn stop(&self, env: Env) -> napi::Result<()> {
        guard(&env, "stop", || {
            let pending = self.schedule.borrow_mut().stop();
            if let Some(timer) = pending {
                timer.clear(&env);
            }
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
            if !self.schedule.borrow().started() {
                return Ok(());
            }
            self.disarm(&env);
            self.arm(&env, this.object.raw(), Duration::ZERO, true)
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
        self.schedule.borrow_mut().set_interval_secs(secs)
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
            if let Some(cb) = callback.as_ref() {
                if !is_function(&env, cb)? {
                    let _ = callback.map(|cb| cb.unref(&env));
                    return Err(ApiError::invalid_argument(
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
        self.schedule.borrow().started()
    }

    /// Records the relay does not have yet (snapshots every store).
    #[napi(ts_return_type = "{ count: number; oldestUpdatedAtMs?: number | null }")]
    pub fn unsynced(&self, env: Env) -> napi::Result<Value> {
        guard(&env, "unsynced", || {
            to_js(&self.with_adapters(&env, || self.inner.unsynced())?)
        })
    }

    /// The most recent activity events (oldest first; default 100): plain
    /// objects `{ atMs, type, severity, ...fields }`, `severity` being
    /// `'info' | 'warning' | 'error'`. Events never carry record bodies, the
    /// receipt or key bytes.
    #[napi(
        ts_return_type = "Array<{ atMs: number; type: string; severity: 'info' | 'warning' | 'error'; [field: string]: unknown }>"
    )]
    pub fn recent_activity(&self, env: Env, limit: Option<u32>) -> napi::Result<Value> {
        guard(&env, "recentActivity", || {
            let limit = limit.unwrap_or(DEFAULT_ACTIVITY_LIMIT);
            let events = self.inner.recent_activity(limit).into_iter();
            Ok(Value::Array(events.map(event_js).collect()))
        })
    }

    /// A status snapshot (device, relay, last cycle, quarantine, ...).
    #[napi(
        ts_return_type = "{ deviceId?: string | null; deviceName?: string | null; relayUrl?: string | null; licenseId?: string | null; fingerprint: string; nextSeq: number; lastCycle?: { atMs: number; ok: boolean; errorCode?: string | null; durationMs: number } | null; lastSuccessMs?: number | null; outboxPending: boolean; revoked: boolean; clockOffsetSecs: number; quarantine: Array<{ deviceId: string; seq: number; sha256: string; reason: string; attempts: number; gaveUp: boolean }>; receiptSet: boolean }"
    )]
    pub fn status(&self, env: Env) -> napi::Result<Value> {
        guard(&env, "status", || {
            to_js(&self.call(|| Ok(self.inner.status()))?)
        })
    }

    /// The license's devices (metadata only).
    #[napi(
        ts_return_type = "Array<{ deviceId: string; name: string; createdAt?: number | null; lastPushAt?: number | null; lastPullAt?: number | null; blobCount: number; sealedBytes: number; [field: string]: unknown }>"
    )]
    pub fn devices(&self, env: Env) -> napi::Result<Value> {
        guard(&env, "devices", || {
            to_js(&self.call(|| self.inner.devices())?)
        })
    }

    /// Revokes a device of this license (e.g. a lost laptop).
    #[napi]
    pub fn revoke(&self, env: Env, device_id: String) -> napi::Result<()> {
        guard(&env, "revoke", || {
            self.call(|| self.inner.revoke(&device_id))
        })
    }

    /// Writes every store to an encrypted export file; returns the record count.
    #[napi]
    pub fn export_to(&self, env: Env, path: String) -> napi::Result<f64> {
        guard(&env, "exportTo", || {
            Ok(self.with_adapters(&env, || self.inner.export_to(&path))? as f64)
        })
    }

    /// Merges an export file into the stores (their contracts decide);
    /// returns the record count. Throws `EXPORT_FORMAT`, `DECRYPT_FAILED`...
    #[napi]
    pub fn import_from(&self, env: Env, path: String) -> napi::Result<f64> {
        guard(&env, "importFrom", || {
            Ok(self.with_adapters(&env, || self.inner.import_from(&path))? as f64)
        })
    }

    /// Deprecated name of `exportTo` (kept for compatibility).
    #[napi]
    pub fn export(&self, env: Env, path: String) -> napi::Result<f64> {
        self.export_to(env, path)
    }

    /// Deprecated name of `importFrom` (kept for compatibility).
    #[napi]
    pub fn import(&self, env: Env, path: String) -> napi::Result<f64> {
        self.import_from(env, path)
    }

    /// This device's id once registered, else `null`.
    #[napi(getter)]
    pub fn device_id(&self, env: Env) -> napi::Result<Option<String>> {
        guard(&env, "deviceId", || {
            self.call(|| Ok(self.inner.device_id()))
        })
    }

    /// The fingerprint of this device's public key (to compare across devices).
    #[napi(getter)]
    pub fn fingerprint(&self) -> String {
        self.inner.fingerprint()
    }

    /// This device's ed25519 public key, unpadded base64url.
    #[napi(getter)]
    pub fn public_key(&self) -> String {
        self.inner.public_key()
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

/// Whether `value` is a JS function.
fn is_function(env: &Env, value: &ObjectRef<false>) -> Result<bool, ApiError> {
    let value = value
        .get_value(env)
        .map_err(|e| ApiError::internal(e.reason.clone()))?;
    // SAFETY: a live value of this call's scope.
    Ok(unsafe { type_of(env.raw(), value.raw()) } == sys::ValueType::napi_function)
}
