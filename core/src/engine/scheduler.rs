//! The background cycle: every 5 minutes by default, clamped to
//! 30 s – 60 min, skipped when busy or hidden, one thread, no busy-waiting.
//! Failures back off exponentially (capped at the maximum interval);
//! `Retry-After` is honoured; a revoked device stops.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::error::SyncError;
use super::events::{lock, EventKind, SkipReason};
use super::{cycle, Inner, SyncEngine};

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5 * 60);
pub const MIN_INTERVAL: Duration = Duration::from_secs(30);
pub const MAX_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Clamps a requested interval to 30 s – 60 min.
pub fn clamp_interval(d: Duration) -> Duration {
    d.clamp(MIN_INTERVAL, MAX_INTERVAL)
}

#[derive(Default)]
struct Control {
    stop: bool,
    trigger: bool,
    interval: Option<Duration>,
}

pub(crate) struct Handle {
    control: Arc<(Mutex<Control>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Handle {
    pub(crate) fn shutdown(mut self) {
        {
            let (m, cv) = &*self.control;
            lock(m).stop = true;
            cv.notify_all();
        }
        if let Some(t) = self.thread.take() {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

pub(crate) fn start(engine: &SyncEngine) {
    let mut slot = lock(&engine.inner.scheduler);
    if slot.is_some() {
        return;
    }
    let control = Arc::new((
        Mutex::new(Control {
            interval: Some(clamp_interval(engine.inner.config.interval)),
            ..Default::default()
        }),
        Condvar::new(),
    ));
    let weak: Weak<Inner> = Arc::downgrade(&engine.inner);
    let c = Arc::clone(&control);
    let thread = std::thread::Builder::new()
        .name("azmx-sync-scheduler".into())
        .spawn(move || run_loop(weak, c))
        .ok();
    *slot = Some(Handle { control, thread });
}

pub(crate) fn stop(engine: &SyncEngine) {
    let handle = lock(&engine.inner.scheduler).take();
    if let Some(h) = handle {
        h.shutdown();
    }
}

pub(crate) fn trigger(engine: &SyncEngine) {
    if let Some(h) = &*lock(&engine.inner.scheduler) {
        let (m, cv) = &*h.control;
        lock(m).trigger = true;
        cv.notify_all();
    }
}

pub(crate) fn set_interval(engine: &SyncEngine, d: Duration) {
    if let Some(h) = &*lock(&engine.inner.scheduler) {
        let (m, cv) = &*h.control;
        lock(m).interval = Some(clamp_interval(d));
        cv.notify_all();
    }
}

fn run_loop(weak: Weak<Inner>, control: Arc<(Mutex<Control>, Condvar)>) {
    let (m, cv) = &*control;
    let mut failures: u32 = 0;
    let mut extra_wait = Duration::ZERO;
    loop {
        // Wait for the interval (or backoff), a trigger, or stop.
        let triggered = {
            let mut c = lock(m);
            let interval = c.interval.unwrap_or(DEFAULT_INTERVAL);
            let backoff = if failures == 0 {
                Duration::ZERO
            } else {
                interval
                    .saturating_mul(1 << failures.min(6))
                    .min(MAX_INTERVAL)
                    - interval.min(MAX_INTERVAL)
            };
            let deadline = Instant::now() + interval + backoff.max(extra_wait);
            while !c.stop && !c.trigger {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                c = cv
                    .wait_timeout(c, deadline - now)
                    .map(|r| r.0)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
            if c.stop {
                return;
            }
            std::mem::take(&mut c.trigger)
        };
        let Some(inner) = weak.upgrade() else { return };
        let engine = SyncEngine { inner };
        if !triggered
            && !engine
                .inner
                .visible
                .load(std::sync::atomic::Ordering::SeqCst)
        {
            engine.emit(EventKind::CycleSkipped {
                reason: SkipReason::Hidden,
            });
            continue;
        }
        let guard = match engine.inner.cycle_lock.try_lock() {
            Ok(g) => g,
            Err(_) => {
                engine.emit(EventKind::CycleSkipped {
                    reason: SkipReason::Busy,
                });
                continue;
            }
        };
        let result = cycle::run(&engine, if triggered { "trigger" } else { "schedule" });
        drop(guard);
        extra_wait = Duration::ZERO;
        match result {
            Ok(_) => failures = 0,
            Err(SyncError::Revoked) => return,
            Err(SyncError::RateLimited { retry_after_secs }) => {
                extra_wait = Duration::from_secs(retry_after_secs);
            }
            Err(_) => failures = failures.saturating_add(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_is_clamped() {
        assert_eq!(clamp_interval(Duration::from_secs(1)), MIN_INTERVAL);
        assert_eq!(clamp_interval(Duration::from_secs(7200)), MAX_INTERVAL);
        assert_eq!(clamp_interval(Duration::from_secs(300)), DEFAULT_INTERVAL);
    }
}
