//! [`Schedule`]: the state of a background schedule that a host drives
//! from its own timers (Node's `setTimeout`: its store adapters may only be
//! called on the JS thread, so the core's scheduler thread cannot run them).
//! No timer code here: on or off, the core's [`SchedulePolicy`] (interval,
//! backoff, `Retry-After`, stop on revoke) and the one pending timer with
//! its token, so that a stale timer (cleared, or armed before a stop) does
//! nothing when it fires.

use std::time::Duration;

use azmx_sync_core::engine::{CycleReport, SchedulePolicy, ScheduleStep, SyncError};

use crate::engine::clamp_interval_secs;

/// The schedule's state. `T` is the handle of a pending timer.
pub struct Schedule<T> {
    started: bool,
    policy: SchedulePolicy,
    /// The one timer that may still run a cycle, with its token; a timer
    /// whose token is not this one (cleared, or from before a stop) does
    /// nothing when it fires.
    pending: Option<(u32, T)>,
    next_token: u32,
}

impl<T> Default for Schedule<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Schedule<T> {
    pub fn new() -> Self {
        Self {
            started: false,
            policy: SchedulePolicy::default(),
            pending: None,
            next_token: 0,
        }
    }

    pub fn started(&self) -> bool {
        self.started
    }

    /// Turns the schedule on with a fresh backoff; the delay of the first
    /// tick, or `None` when it was on already.
    pub fn start(&mut self) -> Option<Duration> {
        if self.started {
            return None;
        }
        self.started = true;
        self.policy = SchedulePolicy::new(self.policy.interval());
        Some(self.policy.next_delay())
    }

    /// Turns the schedule off; the pending timer, to clear.
    pub fn stop(&mut self) -> Option<T> {
        self.started = false;
        self.take_pending()
    }

    /// Turns the schedule off after a timer could not be armed.
    pub fn halt(&mut self) {
        self.started = false;
    }

    pub fn take_pending(&mut self) -> Option<T> {
        self.pending.take().map(|(_, timer)| timer)
    }

    /// The token for the next timer.
    pub fn next_token(&mut self) -> u32 {
        self.next_token = self.next_token.wrapping_add(1);
        self.next_token
    }

    pub fn set_pending(&mut self, token: u32, timer: T) {
        self.pending = Some((token, timer));
    }

    /// The timer with `token` fired: `Some(its handle)` when it is the
    /// pending one of a started schedule (and a cycle should run), `None`
    /// when it is stale.
    pub fn fire(&mut self, token: u32) -> Option<T> {
        match &self.pending {
            Some((t, _)) if *t == token && self.started => self.take_pending(),
            _ => None,
        }
    }

    /// After a tick: feeds the cycle's outcome (`None` when skipped) to the
    /// policy; the delay of the next tick, or `None` when none is due: the
    /// device was revoked, the schedule was stopped, or a tick was armed
    /// meanwhile (`trigger()` from inside an adapter).
    pub fn after_cycle(
        &mut self,
        outcome: Option<&Result<CycleReport, SyncError>>,
    ) -> Option<Duration> {
        if let Some(result) = outcome {
            if self.policy.on_cycle_result(result) == ScheduleStep::Stop {
                self.started = false;
            }
        }
        (self.started && self.pending.is_none()).then(|| self.policy.next_delay())
    }

    /// Sets the interval (clamped); takes effect from the next wait.
    pub fn set_interval_secs(&mut self, secs: f64) -> f64 {
        let secs = clamp_interval_secs(secs);
        self.policy.set_interval(Duration::from_secs_f64(secs));
        secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(30);
    const FIVE_MIN: Duration = Duration::from_secs(300);
    const HOUR: Duration = Duration::from_secs(3600);

    fn failed() -> Result<CycleReport, SyncError> {
        Err(SyncError::Network {
            message: "down".into(),
        })
    }

    /// A started schedule with its first timer armed; the timer's token.
    fn armed() -> (Schedule<&'static str>, u32) {
        let mut s = Schedule::new();
        assert_eq!(s.start(), Some(FIVE_MIN));
        let token = s.next_token();
        s.set_pending(token, "first");
        (s, token)
    }

    /// A started schedule whose timer has fired: a cycle is running.
    fn ticking() -> Schedule<&'static str> {
        let (mut s, token) = armed();
        assert_eq!(s.fire(token), Some("first"));
        s
    }

    #[test]
    fn intervals_are_clamped_and_odd_inputs_are_zero() {
        assert_eq!(clamp_interval_secs(1.0), 30.0);
        assert_eq!(clamp_interval_secs(90.5), 90.5);
        assert_eq!(clamp_interval_secs(1e12), 3600.0);
        assert_eq!(clamp_interval_secs(-5.0), 30.0);
        assert_eq!(clamp_interval_secs(f64::NAN), 30.0);
        assert_eq!(clamp_interval_secs(f64::INFINITY), 30.0);
    }

    #[test]
    fn start_is_idempotent_and_resets_the_backoff() {
        let (mut s, token) = armed();
        assert_eq!(s.start(), None);
        assert_eq!(s.fire(token), Some("first"));
        assert_eq!(s.after_cycle(Some(&failed())), Some(2 * FIVE_MIN));
        assert_eq!(s.stop(), None);
        assert_eq!(s.start(), Some(FIVE_MIN));
    }

    #[test]
    fn only_the_pending_timer_of_a_started_schedule_fires() {
        let (mut s, token) = armed();
        assert_eq!(s.fire(token + 1), None);
        let second = s.next_token();
        s.set_pending(second, "second");
        assert_eq!(s.fire(token), None, "replaced by a trigger");
        assert_eq!(s.stop(), Some("second"));
        assert_eq!(s.fire(second), None, "stopped");
        assert!(!s.started());
    }

    #[test]
    fn a_fired_timer_is_consumed() {
        let (mut s, token) = armed();
        assert_eq!(s.fire(token), Some("first"));
        assert_eq!(s.fire(token), None);
    }

    #[test]
    fn failures_back_off_up_to_an_hour_and_success_resets() {
        let mut s = ticking();
        let delays: Vec<_> = (0..6).map(|_| s.after_cycle(Some(&failed()))).collect();
        assert_eq!(delays, [2, 4, 8, 12, 12, 12].map(|m| Some(m * FIVE_MIN)));
        assert_eq!(
            s.after_cycle(Some(&Ok(CycleReport::default()))),
            Some(FIVE_MIN)
        );
    }

    #[test]
    fn retry_after_is_honoured_once() {
        let mut s = ticking();
        let limited = Err(SyncError::RateLimited {
            retry_after_secs: 600,
        });
        assert_eq!(s.after_cycle(Some(&limited)), Some(FIVE_MIN + 2 * FIVE_MIN));
        assert_eq!(
            s.after_cycle(None),
            Some(FIVE_MIN + 2 * FIVE_MIN),
            "skip keeps it"
        );
        assert_eq!(
            s.after_cycle(Some(&Ok(CycleReport::default()))),
            Some(FIVE_MIN)
        );
    }

    #[test]
    fn revoked_stops_the_schedule() {
        let (mut s, token) = armed();
        s.fire(token);
        assert_eq!(s.after_cycle(Some(&Err(SyncError::Revoked))), None);
        assert!(!s.started());
    }

    #[test]
    fn no_next_tick_when_stopped_or_already_armed_during_the_cycle() {
        let (mut s, token) = armed();
        s.fire(token);
        let t = s.next_token();
        s.set_pending(t, "trigger from an adapter");
        assert_eq!(s.after_cycle(None), None);
        s.stop();
        assert_eq!(s.after_cycle(Some(&Ok(CycleReport::default()))), None);
    }

    #[test]
    fn interval_change_applies_to_the_next_wait_and_keeps_backoff() {
        let mut s = ticking();
        assert_eq!(s.set_interval_secs(10.0), 30.0);
        assert_eq!(s.after_cycle(None), Some(MIN));
        assert_eq!(s.after_cycle(Some(&failed())), Some(2 * MIN));
        assert_eq!(s.set_interval_secs(1e9), 3600.0);
        assert_eq!(s.after_cycle(None), Some(HOUR));
    }

    #[test]
    fn a_halted_schedule_arms_nothing() {
        let (mut s, _) = armed();
        s.take_pending();
        s.halt();
        assert!(!s.started());
        assert_eq!(s.after_cycle(None), None);
    }
}
