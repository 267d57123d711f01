//! Per-key token buckets (one per device, one per license for `init`, one
//! per address for failed authentication).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before idle (full) ones are dropped.
const MAX_BUCKETS: usize = 100_000;

pub(crate) struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    pub(crate) fn new(per_sec: f64, burst: f64) -> Self {
        Self {
            per_sec,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Says how long until `key` has a token, without taking one (`Ok`
    /// for a key with no bucket yet: it starts full).
    pub(crate) fn peek(&self, key: &str) -> Result<(), Duration> {
        if self.per_sec <= 0.0 || !self.per_sec.is_finite() {
            return Ok(());
        }
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(b) = map.get_mut(key) else {
            return Ok(());
        };
        if b.refill(now, self.per_sec, self.burst) >= 1.0 {
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - b.tokens) / self.per_sec))
    }

    /// Takes one token for `key`, or says how long until one is available.
    pub(crate) fn check(&self, key: &str) -> Result<(), Duration> {
        if self.per_sec <= 0.0 || !self.per_sec.is_finite() {
            return Ok(());
        }
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_BUCKETS && !map.contains_key(key) {
            let (per_sec, burst) = (self.per_sec, self.burst);
            map.retain(|_, b| b.refill(now, per_sec, burst) < burst);
        }
        let b = map.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        b.refill(now, self.per_sec, self.burst);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.per_sec))
        }
    }
}

impl Bucket {
    fn refill(&mut self, now: Instant, per_sec: f64, burst: f64) -> f64 {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * per_sec).min(burst);
        self.last = now;
        self.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse_with_retry_after() {
        let r = RateLimiter::new(1.0, 3.0);
        for _ in 0..3 {
            r.check("a").unwrap();
        }
        let wait = r.check("a").unwrap_err();
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        r.check("b").unwrap();
        let p = RateLimiter::new(1.0, 2.0);
        p.peek("a").unwrap();
        p.check("a").unwrap();
        p.peek("a").unwrap();
        p.check("a").unwrap();
        assert!(p.peek("a").is_err());
        assert!(p.peek("a").is_err(), "peeking takes nothing");
        let off = RateLimiter::new(0.0, 1.0);
        for _ in 0..1000 {
            off.check("a").unwrap();
        }
    }
}
