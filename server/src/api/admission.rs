//! What a request must get past before any handler runs: the per-address
//! limit on failed authentication, and the byte budget of request bodies in
//! flight. Both answer before the body is read, so neither a flood of
//! guesses nor a flood of large pushes costs the relay more than a header
//! parse and the bytes it discards so that the client sees the answer
//! ([`refuse_unread`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::HttpBody;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::Response;
use azmx_sync_core::protocol::{routes, ErrorCode};

use super::error::ApiError;
use super::parse::refuse_unread;
use super::AppState;
use crate::{MAX_JSON_BYTES, MAX_KEYCHECK_BYTES};

/// The peer of the connection a request came on (set by the accept loop).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

/// Seconds a client is told to wait when the body budget is full: bodies
/// in flight are bounded by the request deadline, and most finish in far
/// less.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// Bytes of request bodies admitted and not yet answered, across every
/// request. A body is admitted for its declared `Content-Length` before a
/// byte of it is read, and its bytes are given back when its request is
/// answered (the handler has dropped what it read by then, or handed it to
/// the store, which is bounded by its own queue).
pub(crate) struct BodyBudget {
    limit: usize,
    in_use: AtomicUsize,
    high_water: AtomicUsize,
}

/// Bytes held for one body; returned on drop.
pub(crate) struct BodyPermit {
    budget: Arc<BodyBudget>,
    bytes: usize,
}

impl BodyBudget {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            in_use: AtomicUsize::new(0),
            high_water: AtomicUsize::new(0),
        })
    }

    /// Holds `bytes`, or `None` when that would go over the budget (never
    /// waits: a full relay answers at once rather than queue connections).
    pub(crate) fn try_take(self: &Arc<Self>, bytes: usize) -> Option<BodyPermit> {
        let limit = self.limit;
        let before = self
            .in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(bytes).filter(|&t| t <= limit)
            })
            .ok()?;
        self.high_water.fetch_max(before + bytes, Ordering::AcqRel);
        Some(BodyPermit {
            budget: self.clone(),
            bytes,
        })
    }

    /// The most bytes ever held at once.
    pub(crate) fn high_water(&self) -> usize {
        self.high_water.load(Ordering::Acquire)
    }
}

impl Drop for BodyPermit {
    fn drop(&mut self) {
        self.budget.in_use.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// The largest body a route takes (its handler checks it again while
/// reading).
fn route_limit(st: &AppState, path: &str) -> usize {
    match path {
        routes::PUSH => st.limits.max_body_bytes,
        routes::KEYCHECK => MAX_KEYCHECK_BYTES,
        _ => MAX_JSON_BYTES,
    }
}

/// The key of an address's bucket: the IPv4 address, or the /64 of an
/// IPv6 one (one host usually holds a whole /64).
fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Answers that mean "this request proved nothing": no license key, no
/// registered device, no valid signature, no admin token. Each one costs
/// the peer's address a token; `clock_skew` does not (its signature
/// verified).
fn failed_authentication(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::BadLicense
            | ErrorCode::UnknownDevice
            | ErrorCode::BadSignature
            | ErrorCode::Unauthorized
    )
}

pub(crate) async fn admit(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    // Load balancers' probes must see a relay that is up, whoever else
    // shares their address.
    if req.uri().path() == routes::HEALTHZ {
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<PeerAddr>()
        .map(|p| address_key(p.0.ip()));
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|s| s.parse::<u64>().ok()));
    // hyper knows an empty body (no length, not chunked) from its framing.
    let length = match declared {
        Some(n) => n,
        None => req.body().size_hint().exact(),
    };
    let early = |e: ApiError, req| {
        refuse_unread(e, req, st.limits.max_body_bytes, st.limits.request_timeout)
    };
    // 1. An address that keeps failing to authenticate waits, whatever it
    //    sends next (peeked: only a failure below takes a token).
    if let Some(key) = &peer {
        if let Err(wait) = st.unauth_rate.peek(key) {
            st.metrics.rate_limited(crate::metrics::Limiter::address);
            return early(ApiError::rate_limited(retry_secs(wait)), req);
        }
    }
    // 2. The body's bytes, reserved before it is read.
    let permit = match length {
        Some(0) => None,
        None => {
            return early(
                ApiError::new(
                    ErrorCode::LengthRequired,
                    "a request body needs a Content-Length",
                ),
                req,
            )
        }
        Some(n) => {
            let limit = route_limit(&st, req.uri().path());
            if n > limit as u64 {
                return early(ApiError::too_large(limit), req);
            }
            match st.body_budget.try_take(n as usize) {
                Some(p) => Some(p),
                None => {
                    let mut e = ApiError::new(
                        ErrorCode::Busy,
                        "the relay is at its limit of request bytes in flight; retry later",
                    );
                    e.body.retry_after = Some(BUSY_RETRY_AFTER_SECS);
                    return early(e, req);
                }
            }
        }
    };
    let resp = next.run(req).await;
    drop(permit);
    let failed = resp
        .extensions()
        .get::<ErrorCode>()
        .is_some_and(|c| failed_authentication(*c));
    if let (true, Some(key)) = (failed, &peer) {
        // The answer is already decided; an empty bucket only shows on the
        // address's next request.
        let _ = st.unauth_rate.check(key);
    }
    resp
}

fn retry_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_never_goes_over_and_gives_bytes_back() {
        let b = BodyBudget::new(100);
        let p1 = b.try_take(60).unwrap();
        assert!(b.try_take(41).is_none());
        let p2 = b.try_take(40).unwrap();
        assert!(b.try_take(1).is_none());
        drop(p1);
        let _p3 = b.try_take(60).unwrap();
        drop(p2);
        assert_eq!(b.high_water(), 100);
        assert!(b.try_take(usize::MAX).is_none());
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_eq!(address_key("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
        assert_ne!(
            address_key("2001:db8:1:3::1".parse().unwrap()),
            address_key(a)
        );
    }
}
