//! HTTP layer: the router and the shared state. Parsing is in [`parse`],
//! authentication in [`auth`], error answers in [`error`], the handlers in
//! [`sync`], [`devices`] and [`admin`]. Every rule about what is stored
//! lives in [`crate::storage`]; every route, header and body shape in
//! [`azmx_sync_core::protocol`].
//!
//! Logging rule: nothing here logs a body, a license key, a signature, an
//! `Authorization` header or an admin token. Requests are logged by method,
//! path (no query), status, device id and latency.

mod admin;
mod auth;
mod devices;
mod error;
mod parse;
pub use parse::fuzzing;
mod sync;

use std::collections::HashMap;
use std::net::TcpListener as StdTcpListener;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use azmx_sync_core::protocol::{headers, routes, ErrorCode};

use crate::ratelimit::RateLimiter;
use crate::storage::Storage;
use crate::{Clock, Limits, RelayConfig};
use auth::AuthDevice;
use error::ApiError;

pub(crate) struct AppState {
    storage: Arc<dyn Storage>,
    limits: Limits,
    clock: Clock,
    admin_token_hash: Option<[u8; 32]>,
    /// Immutable parts of registered devices (id → license, public key).
    /// Revocation is never cached: it is read fresh on every request.
    devices: RwLock<HashMap<String, Arc<AuthDevice>>>,
    rate: RateLimiter,
}

impl AppState {
    pub(crate) fn new(config: &RelayConfig, storage: Arc<dyn Storage>) -> Arc<Self> {
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
        })
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }
}

pub(crate) async fn serve(
    listener: StdTcpListener,
    state: Arc<AppState>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
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
    let app = router(state);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (tcp, _peer) = tokio::select! {
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
        let svc = hyper_util::service::TowerToHyperService::new(app.clone());
        let conn = http.serve_connection(hyper_util::rt::TokioIo::new(tcp), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("relay: in-flight requests did not finish within 10 s");
    }
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(routes::HEALTHZ, get(admin::healthz))
        .route(routes::INIT, post(devices::init))
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
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            deadline_and_log,
        ))
        .with_state(state)
}

async fn deadline_and_log(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
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
    let micros = started.elapsed().as_micros() as u64;
    let device = device.as_deref().unwrap_or("-");
    if status >= 500 {
        tracing::error!(%method, %path, status, device, micros, "request failed");
    } else if status == 401 || status == 403 || status == 408 || status == 429 {
        tracing::info!(%method, %path, status, device, micros, "request refused");
    } else {
        tracing::debug!(%method, %path, status, device, micros, "request");
    }
    resp
}

async fn not_found() -> Response {
    ApiError::not_found().into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this path",
    )
    .into_response()
}
