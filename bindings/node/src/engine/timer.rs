//! The background schedule on JS timers: `setTimeout`/`clearTimeout`
//! through raw `napi::sys`, and the tick that runs a cycle and arms the next
//! one. The schedule's state (on or off, the core's `SchedulePolicy`, the
//! pending timer and its token) is the facade's binding-neutral
//! [`Schedule`](azmx_sync_bridge::schedule::Schedule), unit-tested there.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::time::Duration;

use azmx_sync_bridge::plain::to_plain;
use azmx_sync_bridge::ApiError;
use azmx_sync_core::engine::{CycleReport, ScheduledCycle, SkipReason, SyncError};
use napi::bindgen_prelude::{ClassInstance, FromNapiValue, Null, ToNapiValue};
use napi::{sys, Env, JsValue};

use super::bridge::{call_method, clear_exception_quiet, global, type_of};
use super::class::SyncEngine;

/// `setTimeout` fires at once (with a warning) above this many ms.
const MAX_TIMER_MS: u128 = i32::MAX as u128;

/// The `setTimeout` delay for `delay`.
fn timer_ms(delay: Duration) -> f64 {
    delay.as_millis().min(MAX_TIMER_MS) as f64
}

/// A pending JS timer: Node's `setTimeout` returns a `Timeout` object, a
/// browser-style one (Electron renderer) a number.
pub(super) enum JsTimer {
    Object(sys::napi_ref),
    Id(f64),
}

impl JsTimer {
    /// Drops our reference without clearing the timer (it fired, or no JS
    /// may run any more).
    pub fn forget(self, env: &Env) {
        if let JsTimer::Object(r) = self {
            // SAFETY: a reference created on this env, deleted once.
            unsafe { sys::napi_delete_reference(env.raw(), r) };
        }
    }

    /// `clearTimeout(timer)`, then drops our reference. A timer that cannot
    /// be cleared still finds its token gone and does nothing.
    pub fn clear(self, env: &Env) {
        let raw = env.raw();
        // SAFETY: raw env of the running JS call; the reference is ours and
        // deleted once.
        unsafe {
            let mut value = ptr::null_mut();
            let status = match self {
                JsTimer::Object(r) => {
                    let s = sys::napi_get_reference_value(raw, r, &mut value);
                    sys::napi_delete_reference(raw, r);
                    s
                }
                JsTimer::Id(id) => sys::napi_create_double(raw, id, &mut value),
            };
            if status == sys::Status::napi_ok && !value.is_null() {
                if let Ok(g) = global(raw) {
                    let _ = call_method(env, g, "clearTimeout", &[value]);
                }
            }
        }
    }
}

/// The timer callback: `setTimeout(scheduled_tick, ms, engine, token,
/// triggered)`. Cycle errors go to the activity log, the backoff and
/// `onCycle`, never to `uncaughtException`; only an exception thrown by the
/// host's `onCycle` callback itself is rethrown.
///
/// # Safety
/// Called by Node-API as a JS function, on the JS thread.
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
        let token = u32::from_napi_value(env, argv[1]).ok()?;
        let triggered = bool::from_napi_value(env, argv[2]).ok()?;
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

/// `setTimeout(scheduled_tick, delay, this, token, triggered)`, looked up on
/// the global each time so that fake timers work. A scheduled tick is
/// unref'd so that the schedule never keeps a script alive (an Electron
/// app's event loop runs anyway).
fn set_timeout(
    env: &Env,
    this: sys::napi_value,
    delay: Duration,
    token: u32,
    triggered: bool,
) -> Result<JsTimer, String> {
    let raw = env.raw();
    // SAFETY: raw env and values of the running JS call (same thread).
    unsafe {
        let args = (|| {
            napi::Result::Ok([
                env.create_function::<(), ()>("azmxSyncTick", scheduled_tick)?
                    .raw(),
                f64::to_napi_value(raw, timer_ms(delay))?,
                this,
                u32::to_napi_value(raw, token)?,
                bool::to_napi_value(raw, triggered)?,
            ])
        })()
        .map_err(|_| {
            clear_exception_quiet(raw);
            "cannot create the timer callback".to_string()
        })?;
        let handle = call_method(env, global(raw)?, "setTimeout", &args)?;
        let ty = type_of(raw, handle);
        if ty == sys::ValueType::napi_number {
            Ok(JsTimer::Id(
                f64::from_napi_value(raw, handle).unwrap_or(0.0),
            ))
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
            Ok(JsTimer::Object(r))
        } else {
            Err("setTimeout returned neither a Timeout nor a number".into())
        }
    }
}

impl SyncEngine {
    /// Arms the next tick after `delay`; `this` is the engine's own JS
    /// object. On failure the schedule is off.
    pub(super) fn arm(
        &self,
        env: &Env,
        this: sys::napi_value,
        delay: Duration,
        triggered: bool,
    ) -> Result<(), ApiError> {
        let token = self.schedule.borrow_mut().next_token();
        match set_timeout(env, this, delay, token, triggered) {
            Ok(timer) => {
                self.schedule.borrow_mut().set_pending(token, timer);
                Ok(())
            }
            Err(e) => {
                self.schedule.borrow_mut().halt();
                Err(ApiError::internal(e))
            }
        }
    }

    /// Clears the pending timer, if any.
    pub(super) fn disarm(&self, env: &Env) {
        let pending = self.schedule.borrow_mut().take_pending();
        if let Some(timer) = pending {
            timer.clear(env);
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
        let fired = self.schedule.borrow_mut().fire(token)?;
        fired.forget(env);
        let outcome = self.run_tick(env, triggered);
        let delay = self.schedule.borrow_mut().after_cycle(outcome.as_ref());
        if let Some(delay) = delay {
            // Nowhere to report a failure from a timer: the schedule is off
            // and status().lastCycle goes stale.
            let _ = self.arm(env, this, delay, false);
        }
        outcome.and_then(|result| self.notify_cycle(env, result))
    }

    /// The cycle of one tick; `None` when it was skipped.
    fn run_tick(&self, env: &Env, triggered: bool) -> Option<Result<CycleReport, SyncError>> {
        if self.busy.is_busy() {
            // Only reachable if a timer could fire inside one of our own
            // calls (a nested event loop): the core's lock would not see it.
            self.inner.core().report_skipped_cycle(SkipReason::Busy);
            return None;
        }
        let run = catch_unwind(AssertUnwindSafe(|| {
            self.with_adapters(env, || Ok(self.inner.core().run_scheduled_cycle(triggered)))
        }));
        match run {
            Ok(Ok(ScheduledCycle::Ran(result))) => Some(result),
            Ok(Ok(ScheduledCycle::Skipped(_))) | Ok(Err(_)) => None,
            // Counted as a failure so a panicking cycle is not retried at full rate.
            Err(_) => Some(Err(SyncError::Config(
                "internal error: panic inside a scheduled cycle".into(),
            ))),
        }
    }

    /// Calls the `onCycle` callback; returns the exception it threw.
    fn notify_cycle(
        &self,
        env: &Env,
        result: Result<CycleReport, SyncError>,
    ) -> Option<sys::napi_value> {
        // Not borrowed during the call: the callback may replace itself.
        let func = self.on_cycle.borrow().as_ref()?.get_value(env).ok()?.raw();
        let raw = env.raw();
        // SAFETY: raw env and values of the running timer callback.
        unsafe {
            let null = Null::to_napi_value(raw, Null).ok()?;
            let args = match result {
                Ok(report) => [null, env.to_js_value(&to_plain(&report).ok()?).ok()?.raw()],
                Err(e) => [
                    crate::error::build(env, &ApiError::from(e)).ok()?.raw(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_delay_is_capped_for_set_timeout() {
        assert_eq!(timer_ms(Duration::from_millis(1500)), 1500.0);
        assert_eq!(timer_ms(Duration::ZERO), 0.0);
        assert_eq!(
            timer_ms(Duration::from_secs(u32::MAX as u64)),
            i32::MAX as f64
        );
    }
}
