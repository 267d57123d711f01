//! `GET /metrics`: on the main listener behind the admin bearer token (404
//! without one configured, like the admin API), and on the optional
//! metrics listener (`serve --metrics-listen`) without a token: that one
//! is meant for a private interface only a Prometheus server reaches.

use std::net::TcpListener as StdTcpListener;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use azmx_sync_core::protocol::routes;

use super::admin::admin_refusal;
use super::AppState;

/// How long a scrape waits for the store's size before answering with the
/// last sample.
const SIZE_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections the metrics listener serves at once (a Prometheus server
/// or two); more wait in the listen backlog.
const METRICS_CONNECTIONS: usize = 8;
/// A scraper that has not sent its request headers by then is dropped.
const METRICS_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The main listener's `/metrics`.
pub(crate) async fn metrics(State(st): State<Arc<AppState>>, h: HeaderMap) -> Response {
    if let Some(refused) = admin_refusal(&st, &h) {
        return refused;
    }
    scrape(&st).await
}

/// The metrics listener's `/metrics`: no token (see the module doc).
async fn open_metrics(State(st): State<Arc<AppState>>) -> Response {
    scrape(&st).await
}

async fn scrape(st: &AppState) -> Response {
    let size = match tokio::time::timeout(SIZE_TIMEOUT, st.storage.size_bytes()).await {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: cannot read the store's size");
            None
        }
        Err(_) => {
            tracing::warn!("metrics: the store's size took over 2 s; answering the last sample");
            None
        }
    };
    let body = st.metrics.render(size);
    let ct = HeaderValue::from_static(crate::metrics::CONTENT_TYPE);
    ([(CONTENT_TYPE, ct)], body).into_response()
}

/// Serves `/metrics` alone on `listener` until the runtime stops.
pub(crate) async fn serve_metrics(listener: StdTcpListener, state: Arc<AppState>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "relay: cannot register the metrics listener");
            return;
        }
    };
    let app = Router::new()
        .route(routes::METRICS, get(open_metrics))
        .fallback(super::not_found)
        .with_state(state);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(METRICS_HEADER_TIMEOUT);
    let slots = Arc::new(tokio::sync::Semaphore::new(METRICS_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return; // never closed
        };
        let tcp = match listener.accept().await {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                tracing::warn!(error = %e, "relay: metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        let svc = hyper::service::service_fn(move |req: hyper::Request<_>| {
            let mut app = app.clone();
            async move { tower_service::Service::call(&mut app, req).await }
        });
        let conn = http.serve_connection(hyper_util::rt::TokioIo::new(tcp), svc);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "metrics connection ended with an error");
            }
            drop(slot);
        });
    }
}
