//! HTTP layer: the router and the shared state. Parsing is in [`parse`],
//! authentication in [`auth`], the license authority (PROTOCOL §11) in
//! [`authority`], error answers in [`error`], the handlers in
//! [`sync`], [`devices`] and [`admin`]. Every rule about what is stored
//! lives in [`crate::storage`]; every route, header and body shape in
//! [`azmx_sync_core::protocol`].
//!
//! Logging rule: nothing here logs a body, a license key, a signature, an
//! `Authorization` header or an admin token. Requests are logged by method,
//! path (no query), status, device id and latency.

mod admin;
mod admission;
mod auth;
mod authority;
mod devices;
mod drain;
mod error;
mod openapi;
pub use openapi::openapi_json;
mod parse;
pub use parse::fuzzing;
mod scrape;
pub(crate) use scrape::serve_metrics;
mod sync;

use std::collections::HashMap;
use std::net::TcpListener as StdTcpListener;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use azmx_sync_core::protocol::{headers, routes, ErrorCode};

use crate::metrics::RelayMetrics;
use crate::ratelimit::RateLimiter;
use crate::storage::Storage;
use crate::{Clock, Limits, RelayConfig};
pub(crate) use admission::BodyBudget;
use admission::PeerAddr;
use auth::AuthDevice;
use error::ApiError;

/// `lastPullAt` is written at most this often per device: it is operator
/// metadata, and a durable write on every pull would make reads depend on
/// a writable disk.
const PULL_TOUCH_INTERVAL_SECS: i64 = 60;
/// Devices whose last `lastPullAt` write is remembered; past it the memory
/// starts over (a few extra writes, nothing else).
const MAX_PULL_TOUCHES: usize = 100_000;

pub(crate) struct AppState {
    storage: Arc<dyn Storage>,
    limits: Limits,
    clock: Clock,
    admin_token_hash: Option<[u8; 32]>,
    /// Immutable parts of registered devices (id → license, public key).
    /// Revocation is never cached: it is read fresh on every request.
    devices: RwLock<HashMap<String, Arc<AuthDevice>>>,
    rate: RateLimiter,
    /// Per address: failed authentications (see [`admission`]).
    unauth_rate: RateLimiter,
    body_budget: Arc<BodyBudget>,
    /// Device id → relay time of its last `lastPullAt` write.
    pull_touched: Mutex<HashMap<String, i64>>,
    /// The admin console (`crate::console`), when an admin token is set.
    console: Option<Arc<crate::console::Console>>,
    /// What `/metrics` shows; the store reports its commits to it too.
    metrics: Arc<RelayMetrics>,
    /// Requests in flight, and whether the relay is draining to stop.
    drain: drain::Drain,
}

impl AppState {
    pub(crate) fn new(
        config: &RelayConfig,
        storage: Arc<dyn Storage>,
        body_budget: Arc<BodyBudget>,
    ) -> Arc<Self> {
        let metrics = RelayMetrics::new();
        storage.set_observer(metrics.clone());
        let console = config
            .admin_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| {
                let hash = crate::sha256(t.as_bytes());
                let (store, clock) = (storage.clone(), config.clock.clone());
                crate::console::Console::new(store, clock, hash, config.tls.is_some())
            });
        Arc::new(Self {
            storage,
            limits: config.limits.clone(),
            clock: config.clock.clone(),
            admin_token_hash: config
                .admin_token
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(|t| crate::sha256(t.as_bytes())),
            devices: RwLock::new(HashMap::new()),
            rate: RateLimiter::new(config.limits.rate_per_sec, config.limits.rate_burst),
            unauth_rate: RateLimiter::new(
                config.limits.unauth_rate_per_sec,
                config.limits.unauth_rate_burst,
            ),
            body_budget,
            pull_touched: Mutex::new(HashMap::new()),
            console,
            metrics,
            drain: drain::Drain::default(),
        })
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Records a pull in `lastPullAt`, best effort: at most once per
    /// [`PULL_TOUCH_INTERVAL_SECS`] per device, and a failed write (a full
    /// disk, a store that refuses writes) is logged, never the pull's answer.
    async fn touch_pull(&self, device_id: &str, now: i64) {
        {
            let mut seen = self.pull_touched.lock().unwrap_or_else(|p| p.into_inner());
            if seen
                .get(device_id)
                .is_some_and(|&t| now >= t && now - t < PULL_TOUCH_INTERVAL_SECS)
            {
                return;
            }
            if seen.len() >= MAX_PULL_TOUCHES {
                seen.clear();
            }
            seen.insert(device_id.to_string(), now);
        }
        if let Err(e) = self.storage.touch_pull(device_id, now).await {
            tracing::warn!(error = %e, device = device_id, "could not record lastPullAt");
        }
    }
}

pub(crate) async fn serve(
    listener: StdTcpListener,
    state: Arc<AppState>,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "relay: cannot register listener");
            return;
        }
    };
    // The request deadline also bounds how long a client may take to send
    // its headers (the deadline middleware only starts once they are in).
    let header_timeout = state.limits.request_timeout;
    // Connections beyond the cap wait in the listen backlog: the accept
    // loop takes a slot before it accepts, and a connection gives its slot
    // back when it closes.
    let slots = Arc::new(tokio::sync::Semaphore::new(
        state
            .limits
            .max_connections
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
    ));
    let drain_timeout = state.limits.drain_timeout;
    let app = router(state.clone());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let slot = tokio::select! {
            _ = &mut stop => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break, // never closed
            },
        };
        let (tcp, peer) = tokio::select! {
            // A dropped sender also means stop.
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // E.g. out of file descriptors: back off, keep serving.
                    tracing::warn!(error = %e, "relay: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        // Every request learns its peer (for the per-address limits).
        let svc = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            req.extensions_mut().insert(PeerAddr(peer));
            let mut app = app.clone();
            async move { tower_service::Service::call(&mut app, req).await }
        });
        let Some(acceptor) = &tls else {
            let conn = http.serve_connection(hyper_util::rt::TokioIo::new(tcp), svc);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
                drop(slot);
            });
            continue;
        };
        // The handshake runs in the connection's task, bounded like the
        // request headers it precedes: a client that stalls it holds one
        // connection slot for at most that long.
        let handshake = acceptor.accept(tcp);
        let (http, watcher) = (http.clone(), graceful.watcher());
        tokio::spawn(async move {
            match tokio::time::timeout(header_timeout, handshake).await {
                Ok(Ok(stream)) => {
                    let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                }
                // A client that refused our certificate, or no TLS at all.
                Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
            drop(slot);
        });
    }
    // New connections are refused from here on; requests on open ones
    // get `503 shutting_down` while those already taken finish.
    drop(listener);
    drain(&state.drain, graceful, drain_timeout).await;
}

/// Lets the requests already taken finish, then closes every connection,
/// all within `deadline`; past it the rest are dropped unanswered (a
/// client never got a success for them).
async fn drain(
    d: &drain::Drain,
    graceful: hyper_util::server::graceful::GracefulShutdown,
    deadline: Duration,
) {
    let started = Instant::now();
    let in_flight = d.start();
    tracing::info!(
        in_flight,
        deadline_secs = deadline.as_secs(),
        "draining: new connections refused, requests on open ones answered 503"
    );
    let left = d.wait_idle(deadline).await;
    let rest = deadline.saturating_sub(started.elapsed());
    // Idle kept-alive connections close now; a half-sent request's
    // connection at the latest when its header timeout ends it.
    let closed = tokio::time::timeout(rest, graceful.shutdown())
        .await
        .is_ok();
    let millis = started.elapsed().as_millis() as u64;
    if left > 0 || !closed {
        tracing::warn!(
            left,
            millis,
            "drain deadline passed: unfinished requests are dropped unanswered"
        );
    } else {
        tracing::info!(millis, "drained");
    }
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(routes::HEALTHZ, get(admin::healthz))
        .route(routes::OPENAPI, get(openapi::serve))
        .route(routes::INIT, post(devices::init))
        .route(routes::AUTHORITY, get(authority::authority))
        .route(routes::PUSH, post(sync::push))
        .route(routes::PULL, get(sync::pull))
        .route(routes::BLOB, get(sync::blob))
        .route(routes::REVOKE, post(devices::revoke))
        .route(
            routes::KEYCHECK,
            get(sync::keycheck_get).put(sync::keycheck_put),
        )
        .route(routes::PRUNE, post(devices::prune))
        .route(routes::DEVICES, get(devices::devices))
        .route(routes::ADMIN_DEVICES, get(admin::admin_devices))
        .merge(crate::console::router(state.console.clone()))
        .route(routes::METRICS, get(scrape::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admission::admit,
        ))
        // Outside admission: a request refused while draining reserves
        // nothing and reads nothing.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            drain::gate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            deadline_and_log,
        ))
        .with_state(state)
}

async fn deadline_and_log(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    // The route template, never the path (paths hold ids).
    let endpoint = req.extensions().get::<MatchedPath>().cloned();
    let body_len = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .unwrap_or(0);
    let path = req.uri().path().to_string();
    let device = req
        .headers()
        .get(headers::DEVICE_ID)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(64).collect::<String>());
    let started = Instant::now();
    let resp = match tokio::time::timeout(st.limits.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::timeout().into_response(),
    };
    let status = resp.status().as_u16();
    st.metrics.request(
        endpoint.as_ref().map(MatchedPath::as_str),
        crate::metrics::Method::of(&method),
        status,
        resp.extensions().get::<ErrorCode>().copied(),
        body_len,
        started.elapsed(),
    );
    let micros = started.elapsed().as_micros() as u64;
    let device = device.as_deref().unwrap_or("-");
    // A full body budget or quota, or a drain, is the relay doing its job,
    // not failing.
    let limited = resp.extensions().get::<ErrorCode>().is_some_and(|c| {
        matches!(
            c,
            ErrorCode::Busy | ErrorCode::QuotaExceeded | ErrorCode::ShuttingDown
        )
    });
    if status >= 500 && !limited {
        tracing::error!(%method, %path, status, device, micros, "request failed");
    } else if limited || matches!(status, 401 | 403 | 408 | 411 | 429) {
        tracing::info!(%method, %path, status, device, micros, "request refused");
    } else {
        tracing::debug!(%method, %path, status, device, micros, "request");
    }
    resp
}

async fn not_found(State(st): State<Arc<AppState>>, body: Body) -> Response {
    unused_body(&st, ApiError::not_found(), body).await
}

async fn method_not_allowed(State(st): State<Arc<AppState>>, body: Body) -> Response {
    let e = ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this path",
    );
    unused_body(&st, e, body).await
}

/// A body sent where none is taken is read first, as a handler that fails
/// before reading its body does: a client that writes it all before
/// reading sees the answer, not a reset. Admission bounded its length by
/// the path's limit already.
async fn unused_body(st: &AppState, e: ApiError, body: Body) -> Response {
    let limit = st.limits.max_body_bytes.max(crate::MAX_JSON_BYTES);
    match parse::finish(Err(e), Some(body), limit).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
