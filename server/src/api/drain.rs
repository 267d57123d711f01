//! Graceful shutdown that drains: once the relay is told to stop, every
//! request it already took runs to its end (a push is answered only after
//! the commit that holds it is durable, as always), and every request that
//! arrives after that on a kept-alive connection is refused with `503
//! shutting_down` before anything of it is done (its body is read only to
//! be discarded, so the client sees the answer). The accept loop
//! stops accepting at the same moment, so new connections are refused by
//! the kernel.
//!
//! A client therefore never gets a success for something a stopping relay
//! then drops: it gets the success of a finished request, a typed `503`
//! (retried like `busy`), or no answer at all.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use azmx_sync_core::protocol::ErrorCode;
use tokio::sync::Notify;

use super::error::ApiError;
use super::parse::refuse_unread;
use super::AppState;

/// `Retry-After` of `503 shutting_down`: a restart takes a few seconds.
const RETRY_AFTER_SECS: u64 = 2;

/// Requests being served, and whether the relay is draining.
#[derive(Default)]
pub(crate) struct Drain {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

/// Counts one admitted request until it is answered (or dropped).
struct InFlight<'a>(&'a Drain);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Drain {
    /// Takes a request in, or `None` when the relay is draining.
    ///
    /// The count goes up before the flag is read (both `SeqCst`), so a
    /// request either sees the flag, or is counted before [`Self::start`]
    /// reads the count: none slips between the two.
    fn admit(&self) -> Option<InFlight<'_>> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(self);
        (!self.draining.load(Ordering::SeqCst)).then_some(guard)
    }

    /// Refuses every later request; returns how many were being served.
    pub(crate) fn start(&self) -> usize {
        self.draining.store(true, Ordering::SeqCst);
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Waits until no admitted request is left, or `deadline` passes;
    /// returns how many were still running then (0: drained).
    pub(crate) async fn wait_idle(&self, deadline: Duration) -> usize {
        let wait = async {
            loop {
                // Registered before the count is read: a last request that
                // ends in between still wakes this.
                let notified = self.idle.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(deadline, wait).await;
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// The middleware: counts a request while it runs, or refuses it while
/// draining (`Connection: close`; its body is discarded unread).
pub(crate) async fn gate(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(_counted) = st.drain.admit() else {
        let mut e = ApiError::new(
            ErrorCode::ShuttingDown,
            "the relay is shutting down; send the request again shortly",
        );
        e.body.retry_after = Some(RETRY_AFTER_SECS);
        let (max, timeout) = (st.limits.max_body_bytes, st.limits.request_timeout);
        return refuse_unread(e.closing(), req, max, timeout);
    };
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_drain_waits_for_admitted_requests_and_refuses_later_ones() {
        let d = Drain::default();
        let a = d.admit().expect("admitted before the drain");
        assert_eq!(d.start(), 1);
        assert!(d.admit().is_none(), "refused while draining");
        assert_eq!(d.wait_idle(Duration::from_millis(20)).await, 1);
        let ended = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(a);
        };
        let (left, ()) = tokio::join!(d.wait_idle(Duration::from_secs(5)), ended);
        assert_eq!(left, 0);
    }
}
