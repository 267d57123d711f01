//! The background cycle: every 5 minutes by default, clamped to
//! 30 s – 60 min, skipped when busy or hidden, one thread, no busy-waiting.
//! Failures back off exponentially (capped at the maximum interval);
//! `Retry-After` is honoured; a revoked device stops.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, TryLockError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::error::SyncError;
use super::events::{lock, EventKind, SkipReason};
use super::{CycleReport, Inner, SyncEngine};

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
    let mut policy = SchedulePolicy::default();
    loop {
        // Wait for the interval (or backoff), a trigger, or stop.
        let triggered = {
            let mut c = lock(m);
            if let Some(interval) = c.interval {
                policy.set_interval(interval);
            }
            let now = Instant::now();
            // A relay's absurd Retry-After must not panic the thread.
            let deadline = now
                .checked_add(policy.next_delay())
                .unwrap_or(now + MAX_INTERVAL);
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
        if let ScheduledCycle::Ran(result) = engine.run_scheduled_cycle(triggered) {
            if policy.on_cycle_result(&result) == ScheduleStep::Stop {
                return;
            }
        }
    }
}

/// One tick of the background schedule, outside the scheduler thread.
#[derive(Debug)]
pub enum ScheduledCycle {
    /// Not run; a `cycleSkipped` event was emitted.
    Skipped(SkipReason),
    Ran(Result<CycleReport, SyncError>),
}

impl SyncEngine {
    /// Runs the cycle the background scheduler would run at this point:
    /// skipped (with a `cycleSkipped` event) when the app is hidden (unless
    /// `triggered`) or a cycle is already running. For hosts whose store
    /// adapters can only be called on their own event loop (Node), which
    /// drive the timing themselves with a [`SchedulePolicy`].
    pub fn run_scheduled_cycle(&self, triggered: bool) -> ScheduledCycle {
        if !triggered && !self.inner.visible.load(Ordering::SeqCst) {
            self.report_skipped_cycle(SkipReason::Hidden);
            return ScheduledCycle::Skipped(SkipReason::Hidden);
        }
        let guard = match self.inner.cycle_lock.try_lock() {
            Ok(g) => g,
            // Poisoned means an earlier holder unwound; the lock guards no
            // data (each cycle reloads its state from disk), so it is free.
            Err(TryLockError::Poisoned(p)) => {
                self.inner.cycle_lock.clear_poison();
                p.into_inner()
            }
            Err(TryLockError::WouldBlock) => {
                self.report_skipped_cycle(SkipReason::Busy);
                return ScheduledCycle::Skipped(SkipReason::Busy);
            }
        };
        let result = self.run_cycle(if triggered { "trigger" } else { "schedule" });
        drop(guard);
        ScheduledCycle::Ran(result)
    }

    /// Emits the `cycleSkipped` event of the background schedule, for a host
    /// that knows a cycle cannot run before asking the engine (e.g. its own
    /// call into the engine is still on the stack).
    pub fn report_skipped_cycle(&self, reason: SkipReason) {
        self.emit(EventKind::CycleSkipped { reason });
    }
}

/// Whether the schedule goes on after a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleStep {
    Continue,
    /// The device was revoked: no cycle can succeed again.
    Stop,
}

/// The background schedule's timing, without the waiting: the interval,
/// exponential backoff after consecutive failures (capped at
/// [`MAX_INTERVAL`]) and the relay's `Retry-After`. The scheduler thread
/// uses it; a host driving cycles from its own timer (Node) uses the same
/// one, so both back off identically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulePolicy {
    interval: Duration,
    failures: u32,
    retry_after: Duration,
}

impl Default for SchedulePolicy {
    fn default() -> Self {
        Self::new(DEFAULT_INTERVAL)
    }
}

impl SchedulePolicy {
    /// `interval` is clamped to 30 s – 60 min.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval: clamp_interval(interval),
            failures: 0,
            retry_after: Duration::ZERO,
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Clamped to 30 s – 60 min; backoff state is kept.
    pub fn set_interval(&mut self, interval: Duration) {
        self.interval = clamp_interval(interval);
    }

    /// Failed cycles since the last success (rate limiting not counted).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// How long to wait before the next scheduled cycle: the interval, plus
    /// the larger of the backoff and the last `Retry-After`. The backoff
    /// doubles the interval per failure up to [`MAX_INTERVAL`] in total
    /// (a longer `Retry-After` is still honoured in full).
    pub fn next_delay(&self) -> Duration {
        let backoff = if self.failures == 0 {
            Duration::ZERO
        } else {
            self.interval
                .saturating_mul(1 << self.failures.min(6))
                .min(MAX_INTERVAL)
                .saturating_sub(self.interval)
        };
        self.interval.saturating_add(backoff.max(self.retry_after))
    }

    /// Updates the backoff from a cycle's outcome. A skipped cycle is not
    /// an outcome: do not call this for it.
    pub fn on_cycle_result(&mut self, result: &Result<CycleReport, SyncError>) -> ScheduleStep {
        self.retry_after = Duration::ZERO;
        match result {
            Ok(_) => self.failures = 0,
            Err(SyncError::Revoked) => return ScheduleStep::Stop,
            Err(SyncError::RateLimited { retry_after_secs }) => {
                self.retry_after = Duration::from_secs(*retry_after_secs);
            }
            Err(_) => self.failures = self.failures.saturating_add(1),
        }
        ScheduleStep::Continue
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

    const MIN: Duration = Duration::from_secs(60);

    fn network() -> Result<CycleReport, SyncError> {
        Err(SyncError::Network {
            message: "refused".into(),
        })
    }

    fn delays_after_failures(policy: &mut SchedulePolicy, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| {
                assert_eq!(policy.on_cycle_result(&network()), ScheduleStep::Continue);
                policy.next_delay().as_secs()
            })
            .collect()
    }

    #[test]
    fn policy_starts_at_the_clamped_interval() {
        assert_eq!(SchedulePolicy::default().next_delay(), DEFAULT_INTERVAL);
        assert_eq!(
            SchedulePolicy::new(Duration::from_secs(1)).next_delay(),
            MIN_INTERVAL
        );
        assert_eq!(
            SchedulePolicy::new(Duration::from_secs(86_400)).next_delay(),
            MAX_INTERVAL
        );
    }

    #[test]
    fn failures_double_the_wait_up_to_the_max_interval() {
        let mut p = SchedulePolicy::new(MIN);
        assert_eq!(
            delays_after_failures(&mut p, 8),
            [120, 240, 480, 960, 1920, 3600, 3600, 3600]
        );
        assert_eq!(p.failures(), 8);
        let mut p = SchedulePolicy::new(MIN_INTERVAL);
        // 30 s · 2^6 = 32 min: the exponent stops growing before the cap.
        assert_eq!(
            delays_after_failures(&mut p, 9),
            [60, 120, 240, 480, 960, 1920, 1920, 1920, 1920]
        );
    }

    #[test]
    fn backoff_never_exceeds_the_max_interval() {
        let mut p = SchedulePolicy::new(MAX_INTERVAL);
        assert_eq!(delays_after_failures(&mut p, 3), [3600, 3600, 3600]);
        let mut p = SchedulePolicy::new(MIN);
        for _ in 0..100 {
            p.on_cycle_result(&network());
            assert!(p.next_delay() <= MAX_INTERVAL);
        }
    }

    #[test]
    fn success_resets_the_backoff() {
        let mut p = SchedulePolicy::new(MIN);
        delays_after_failures(&mut p, 4);
        assert_eq!(
            p.on_cycle_result(&Ok(CycleReport::default())),
            ScheduleStep::Continue
        );
        assert_eq!(p.failures(), 0);
        assert_eq!(p.next_delay(), MIN);
        assert_eq!(delays_after_failures(&mut p, 1), [120]);
    }

    #[test]
    fn retry_after_is_added_to_the_interval_once() {
        let mut p = SchedulePolicy::new(MIN);
        let limited = Err(SyncError::RateLimited {
            retry_after_secs: 7200,
        });
        assert_eq!(p.on_cycle_result(&limited), ScheduleStep::Continue);
        // Honoured in full, even beyond the backoff cap.
        assert_eq!(p.next_delay().as_secs(), 60 + 7200);
        assert_eq!(p.failures(), 0, "rate limiting is not a failure");
        p.on_cycle_result(&Ok(CycleReport::default()));
        assert_eq!(p.next_delay(), MIN);
    }

    #[test]
    fn retry_after_and_backoff_take_the_longer_wait() {
        let mut p = SchedulePolicy::new(MIN);
        delays_after_failures(&mut p, 3); // backoff 480 - 60 = 420 s
        p.on_cycle_result(&Err(SyncError::RateLimited {
            retry_after_secs: 10,
        }));
        assert_eq!(p.next_delay().as_secs(), 60 + 420);
        p.on_cycle_result(&Err(SyncError::RateLimited {
            retry_after_secs: 1000,
        }));
        assert_eq!(p.next_delay().as_secs(), 60 + 1000);
        let huge = Err(SyncError::RateLimited {
            retry_after_secs: u64::MAX,
        });
        p.on_cycle_result(&huge);
        assert!(
            p.next_delay() > MAX_INTERVAL,
            "saturates instead of panicking"
        );
    }

    #[test]
    fn revoked_stops_and_other_errors_continue() {
        let mut p = SchedulePolicy::new(MIN);
        assert_eq!(
            p.on_cycle_result(&Err(SyncError::Revoked)),
            ScheduleStep::Stop
        );
        for e in [
            SyncError::WrongReceipt { authority: None },
            SyncError::NoReceipt,
            SyncError::ClockSkew { skew_secs: 900 },
            SyncError::Store {
                store: "snippets".into(),
                message: "threw".into(),
            },
        ] {
            assert_eq!(p.on_cycle_result(&Err(e)), ScheduleStep::Continue);
        }
        assert_eq!(p.failures(), 4);
    }

    #[test]
    fn set_interval_clamps_and_keeps_the_backoff() {
        let mut p = SchedulePolicy::new(MIN);
        delays_after_failures(&mut p, 1);
        p.set_interval(Duration::from_secs(5));
        assert_eq!(p.interval(), MIN_INTERVAL);
        assert_eq!(p.next_delay().as_secs(), 60);
        p.set_interval(Duration::from_secs(600));
        assert_eq!(p.next_delay().as_secs(), 1200);
    }

    #[test]
    fn a_poisoned_cycle_lock_does_not_make_the_engine_busy_forever() {
        struct NoNetwork;
        impl crate::engine::HttpTransport for NoNetwork {
            fn send(
                &self,
                _: crate::engine::HttpRequest,
            ) -> Result<crate::engine::HttpResponse, crate::engine::HostError> {
                Err(crate::engine::HostError::new("offline"))
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let engine = SyncEngine::new(
            crate::engine::EngineConfig::new(dir.path()),
            Arc::new(NoNetwork),
        )
        .unwrap();
        let inner = Arc::clone(&engine.inner);
        let _ = std::thread::spawn(move || {
            let _held = inner.cycle_lock.lock().unwrap();
            panic!("a cycle that unwound while holding the lock");
        })
        .join();
        assert!(engine.inner.cycle_lock.is_poisoned());
        // Not registered: the cycle runs and says so, instead of "busy".
        assert!(matches!(
            engine.run_scheduled_cycle(true),
            ScheduledCycle::Ran(Err(SyncError::NotRegistered))
        ));
        assert!(matches!(engine.sync_now(), Err(SyncError::NotRegistered)));
    }
}
