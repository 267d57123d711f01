//! Crash points: with the `crash-points` feature, `AZMX_CRASH_AT=<point>`
//! aborts the process at that point, so crash-safety tests can stop a real
//! cycle anywhere, as SIGKILL would. Without the feature (release builds, the
//! bindings) a crash point is an empty inline function and the variable is
//! never read.

#[cfg(feature = "crash-points")]
pub(super) fn crash_point(point: &str) {
    if std::env::var("AZMX_CRASH_AT").is_ok_and(|p| p == point) {
        std::process::abort();
    }
}

#[cfg(not(feature = "crash-points"))]
#[inline(always)]
pub(super) fn crash_point(_point: &str) {}
