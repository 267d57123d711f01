//! HTTP layer: request parsing, authentication, error shaping. Every rule
//! about what is stored lives in [`crate::storage`].
//!
//! Logging rule: nothing here logs a body, a license key, a signature, an
//! `Authorization` header or an admin token. Requests are logged by method,
//! path (no query), status, device id and latency.

use std::collections::HashMap;
use std::net::TcpListener as StdTcpListener;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use azmx_sync_core::canonical::{check_skew, verify_signature, SignedRequest};
use azmx_sync_core::integrity::sha256_hex;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;

use crate::ratelimit::RateLimiter;
use crate::storage::{KeycheckPut, NewBlob, NewDevice, PushOutcome, Storage, StorageError};
use crate::{
    Clock, Limits, RelayConfig, DEFAULT_PULL_LIMIT, MAX_JSON_BYTES, MAX_KEYCHECK_BYTES,
    MAX_PULL_LIMIT,
};

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

struct AuthDevice {
    device_id: String,
    license_id: String,
    public_key: String,
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
        .route("/healthz", get(healthz))
        .route("/sync/init", post(init))
        .route("/sync/push", post(push))
        .route("/sync/pull", get(pull))
        .route("/sync/blob/{owner}/{seq}", get(blob))
        .route("/sync/revoke", post(revoke))
        .route("/sync/keycheck", get(keycheck_get).put(keycheck_put))
        .route("/sync/prune", post(prune))
        .route("/sync/devices", get(devices))
        .route("/admin/licenses/{lid}/devices", get(admin_devices))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            deadline_and_log,
        ))
        .with_state(state)
}

// ---------------------------------------------------------------- errors

/// An error answer: `{"error": code, "message": ..., ...extra}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    extra: Map<String, Value>,
    retry_after: Option<u64>,
    /// Answer with `Connection: close` (the request body was left unread).
    close: bool,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
            retry_after: None,
            close: false,
        }
    }

    fn with(mut self, key: &str, v: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), v.into());
        self
    }

    fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed", message)
    }

    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "not found")
    }

    fn unknown_device() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unknown_device",
            "no device is registered with this id",
        )
    }

    fn revoked() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "revoked",
            "this device has been revoked",
        )
    }

    fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("body exceeds the {limit}-byte limit"),
        )
        .with("maxBytes", limit as u64)
        .closing()
    }

    fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal storage error",
        )
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::OutOfRange(what) => Self::malformed(format!("{what} out of range")),
            e @ StorageError::Failed(_) => {
                // Logged on every refused request: an operator must restart.
                tracing::error!(error = %e, "storage failed; restart the relay");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_failed",
                    "the relay's storage failed and refuses writes until it is restarted",
                )
            }
            e => {
                tracing::error!(error = %e, "storage failure");
                Self::internal()
            }
        }
    }
}

impl From<azmx_sync_core::Error> for ApiError {
    fn from(e: azmx_sync_core::Error) -> Self {
        use azmx_sync_core::Error as E;
        match e {
            E::BadSignature => Self::new(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                "signature does not verify",
            ),
            e @ E::ClockSkew { .. } => {
                Self::new(StatusCode::UNAUTHORIZED, "clock_skew", e.to_string())
            }
            e => Self::malformed(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = Map::new();
        body.insert("error".into(), self.code.into());
        body.insert("message".into(), self.message.into());
        body.extend(self.extra);
        let mut resp = json_response(self.status, Value::Object(body));
        if self.close {
            resp.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

type ApiResult = Result<Response, ApiError>;

fn json_response(status: StatusCode, v: Value) -> Response {
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        v.to_string(),
    )
        .into_response()
}

fn bytes_response(data: Bytes, sha256: &str) -> ApiResult {
    let sha = HeaderValue::from_str(sha256).map_err(|_| ApiError::internal())?;
    Ok((
        StatusCode::OK,
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (axum::http::HeaderName::from_static("x-sha256"), sha),
        ],
        data,
    )
        .into_response())
}

// ---------------------------------------------------------------- middleware

async fn deadline_and_log(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let device = req
        .headers()
        .get("x-device-id")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(64).collect::<String>());
    let started = Instant::now();
    let resp = match tokio::time::timeout(st.limits.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "request did not complete in time",
        )
        .closing()
        .into_response(),
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
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this path",
    )
    .into_response()
}

// ---------------------------------------------------------------- parsing

fn header<'a>(h: &'a HeaderMap, name: &'static str) -> Result<&'a str, ApiError> {
    let v = h
        .get(name)
        .ok_or_else(|| ApiError::malformed(format!("missing header {name}")))?;
    v.to_str()
        .map_err(|_| ApiError::malformed(format!("header {name} is not visible ASCII")))
}

/// Decimal u64 without sign or leading zeros (the canonical's form).
fn parse_u64(field: &str, v: &str) -> Result<u64, ApiError> {
    let ok = !v.is_empty()
        && v.len() <= 20
        && v.bytes().all(|b| b.is_ascii_digit())
        && (v == "0" || !v.starts_with('0'));
    if !ok {
        return Err(ApiError::malformed(format!(
            "{field} is not a canonical decimal integer"
        )));
    }
    v.parse()
        .map_err(|_| ApiError::malformed(format!("{field} out of range")))
}

/// A seq the relay can store (≤ i64::MAX).
fn parse_seq(field: &str, v: &str) -> Result<u64, ApiError> {
    let n = parse_u64(field, v)?;
    if n > i64::MAX as u64 {
        return Err(ApiError::malformed(format!("{field} exceeds 2^63-1")));
    }
    Ok(n)
}

fn parse_ts(v: &str) -> Result<i64, ApiError> {
    let (neg, digits) = match v.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, v),
    };
    let n = parse_u64("X-Ts", digits)?;
    if neg && n == 0 {
        return Err(ApiError::malformed("X-Ts is negative zero"));
    }
    // Every i64 is a valid ts (§5), so the magnitude of a negative one may
    // be 2^63 (i64::MIN), which has no positive i64.
    let ts = if neg {
        0i64.checked_sub_unsigned(n)
    } else {
        i64::try_from(n).ok()
    };
    ts.ok_or_else(|| ApiError::malformed("X-Ts out of range"))
}

struct SigHeaders<'a> {
    device_id: &'a str,
    ts: i64,
    signature: &'a str,
}

fn sig_headers(h: &HeaderMap) -> Result<SigHeaders<'_>, ApiError> {
    Ok(SigHeaders {
        device_id: header(h, "x-device-id")?,
        ts: parse_ts(header(h, "x-ts")?)?,
        signature: header(h, "x-signature")?,
    })
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Reads a body up to `limit` bytes; past it, 413 `too_large`.
async fn read_body(h: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    if content_length(h).is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    let mut body = body;
    let mut first: Option<Bytes> = None;
    let mut buf: Vec<u8> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| ApiError::malformed("could not read the request body").closing())?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len();
        if total > limit {
            return Err(ApiError::too_large(limit));
        }
        match first.take() {
            None if buf.is_empty() => first = Some(data),
            Some(f) => {
                buf.reserve(total.min(limit));
                buf.extend_from_slice(&f);
                buf.extend_from_slice(&data);
            }
            None => buf.extend_from_slice(&data),
        }
    }
    Ok(match first {
        Some(f) => f,
        None => Bytes::from(buf),
    })
}

/// Reads and discards a body we answer early (an auth failure before the
/// body was needed), so the connection stays usable for keep-alive. Gives up
/// past `limit` bytes; the caller's answer then closes the connection.
async fn drain(body: Body, limit: usize) -> bool {
    let mut body = body;
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return false };
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total > limit {
                return false;
            }
        }
    }
    true
}

/// Finishes a body-taking handler: if it failed before it took the body,
/// drain the body so the connection can be reused (or close it).
async fn finish(r: ApiResult, body: Option<Body>, limit: usize) -> ApiResult {
    match (r, body) {
        (Err(e), Some(b)) if !e.close => {
            if drain(b, limit).await {
                Err(e)
            } else {
                Err(e.closing())
            }
        }
        (r, _) => r,
    }
}

async fn read_json<T: for<'de> Deserialize<'de>>(h: &HeaderMap, body: Body) -> Result<T, ApiError> {
    let bytes = read_body(h, body, MAX_JSON_BYTES).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        // serde_json messages name the field/position, never echo values at length.
        ApiError::malformed(format!(
            "invalid JSON body: {}",
            truncate(&e.to_string(), 200)
        ))
    })
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

// ---------------------------------------------------------------- authentication

impl AppState {
    async fn lookup(&self, device_id: &str) -> Result<Arc<AuthDevice>, ApiError> {
        if let Some(d) = self
            .devices
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(device_id)
        {
            return Ok(d.clone());
        }
        let rec = self
            .storage
            .device(device_id)
            .await?
            .ok_or_else(ApiError::unknown_device)?;
        let d = Arc::new(AuthDevice {
            device_id: rec.device_id,
            license_id: rec.license_id,
            public_key: rec.public_key,
        });
        self.devices
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(d.device_id.clone(), d.clone());
        Ok(d)
    }

    fn clock_skew(&self, e: azmx_sync_core::Error, now: i64) -> ApiError {
        ApiError::from(e).with("serverTime", now)
    }

    /// Canonical (400) → device (401 unknown_device) → signature (401
    /// bad_signature) → skew (401 clock_skew) → rate limit (429).
    async fn authenticate(
        &self,
        req: SignedRequest,
        signature: &str,
    ) -> Result<Arc<AuthDevice>, ApiError> {
        let canonical = req.canonical()?;
        let device_id = req.device_id().unwrap_or_default();
        let dev = self.lookup(device_id).await?;
        verify_signature(&dev.public_key, canonical.as_bytes(), signature)?;
        let now = self.now();
        check_skew(req.ts(), now, self.limits.max_skew_secs)
            .map_err(|e| self.clock_skew(e, now))?;
        self.rate_limit(&dev.device_id)?;
        Ok(dev)
    }

    fn rate_limit(&self, key: &str) -> Result<(), ApiError> {
        self.rate.check(key).map_err(|wait| {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests; retry later",
            )
            .with("retryAfter", secs);
            e.retry_after = Some(secs);
            e
        })
    }

    /// 403 `revoked` unless the device is live (read fresh, never cached).
    async fn ensure_live(&self, dev: &AuthDevice) -> Result<(), ApiError> {
        match self.storage.device(&dev.device_id).await? {
            None => Err(ApiError::unknown_device()),
            Some(d) if d.revoked_at.is_some() => Err(ApiError::revoked()),
            Some(_) => Ok(()),
        }
    }
}

// ---------------------------------------------------------------- handlers

async fn healthz() -> Response {
    json_response(StatusCode::OK, json!({ "ok": true }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitBody {
    license_id: String,
    license_key: String,
    public_key: String,
    device_name: String,
    ts: i64,
    signature: String,
}

async fn init(State(st): State<Arc<AppState>>, h: HeaderMap, body: Body) -> ApiResult {
    let b: InitBody = read_json(&h, body).await?;
    let req = SignedRequest::Init {
        license_id: b.license_id.clone(),
        public_key: b.public_key.clone(),
        device_name: b.device_name.clone(),
        ts: b.ts,
    };
    let canonical = req.canonical()?;
    // License: unknown id and wrong key are the same answer; the comparison
    // is constant-time over SHA-256 digests (a dummy one for unknown ids).
    let stored = st.storage.license_key_hash(&b.license_id).await?;
    let given = crate::sha256(b.license_key.as_bytes());
    let expected = stored.unwrap_or([0xa5; 32]);
    let key_ok: bool = given.ct_eq(&expected).into();
    if !(key_ok && stored.is_some()) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_license",
            "unknown license or wrong license key",
        ));
    }
    verify_signature(&b.public_key, canonical.as_bytes(), &b.signature)?;
    let now = st.now();
    check_skew(b.ts, now, st.limits.max_skew_secs).map_err(|e| st.clock_skew(e, now))?;
    st.rate_limit(&format!("license:{}", b.license_id))?;
    let new_id = format!("dev_{}", hex::encode(crate::random_bytes::<8>()));
    let reg = st
        .storage
        .register_device(NewDevice {
            license_id: b.license_id,
            device_id: new_id,
            public_key: b.public_key,
            name: b.device_name,
            now,
        })
        .await
        .map_err(|e| match e {
            StorageError::UnknownLicense => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_license",
                "unknown license or wrong license key",
            ),
            e => e.into(),
        })?;
    if reg.device.revoked_at.is_some() {
        return Err(ApiError::revoked());
    }
    let status = if reg.created {
        tracing::info!(device = %reg.device.device_id, license = %reg.device.license_id, "device registered");
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(
        status,
        json!({ "deviceId": reg.device.device_id, "serverTime": now }),
    ))
}

async fn push(State(st): State<Arc<AppState>>, h: HeaderMap, body: Body) -> ApiResult {
    let mut slot = Some(body);
    let r = push_inner(&st, &h, &mut slot).await;
    finish(r, slot, st.limits.max_body_bytes).await
}

async fn push_inner(st: &AppState, h: &HeaderMap, slot: &mut Option<Body>) -> ApiResult {
    let limit = st.limits.max_body_bytes;
    // Refuse a declared oversize body before any other work.
    if content_length(h).is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    let sh = sig_headers(h)?;
    let seq = parse_seq("X-Seq", header(h, "x-seq")?)?;
    let sha256 = header(h, "x-sha256")?;
    let dev = st
        .authenticate(
            SignedRequest::Push {
                device_id: sh.device_id.to_string(),
                seq,
                sha256: sha256.to_string(),
                ts: sh.ts,
            },
            sh.signature,
        )
        .await?;
    let data = read_body(h, slot.take().unwrap_or_default(), limit).await?;
    if sha256_hex(&data) != sha256 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "sha256_mismatch",
            "SHA-256 of the body does not match X-Sha256",
        ));
    }
    let now = st.now();
    match st
        .storage
        .push(NewBlob {
            device_id: dev.device_id.clone(),
            seq,
            sha256: sha256.to_string(),
            data,
            now,
        })
        .await?
    {
        PushOutcome::Stored { seq, .. } => Ok(json_response(
            StatusCode::CREATED,
            json!({ "seq": seq, "serverTime": now }),
        )),
        PushOutcome::Conflict {
            last_seq,
            existing_sha256,
        } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "seq_conflict",
            format!("seq must be greater than the last accepted seq {last_seq}"),
        )
        .with("lastSeq", last_seq)
        .with("existingSha256", existing_sha256)),
        PushOutcome::UnknownDevice => Err(ApiError::unknown_device()),
        PushOutcome::Revoked => Err(ApiError::revoked()),
    }
}

#[derive(Deserialize)]
struct PullQuery {
    since: Option<String>,
    limit: Option<String>,
}

fn parse_cursor(since: &str) -> Result<i64, ApiError> {
    if since.is_empty() {
        return Ok(0);
    }
    let n = since
        .strip_prefix("c_")
        .ok_or_else(|| ApiError::malformed("since is not a cursor returned by this relay"))
        .and_then(|d| parse_u64("since", d))?;
    i64::try_from(n).map_err(|_| ApiError::malformed("since out of range"))
}

async fn pull(State(st): State<Arc<AppState>>, h: HeaderMap, RawQuery(q): RawQuery) -> ApiResult {
    let q: PullQuery = serde_urlencoded::from_str(q.as_deref().unwrap_or(""))
        .map_err(|_| ApiError::malformed("invalid query string"))?;
    let since = q.since.unwrap_or_default();
    let limit = match q.limit.as_deref() {
        None => DEFAULT_PULL_LIMIT,
        Some(l) => u32::try_from(parse_u64("limit", l)?)
            .map_err(|_| ApiError::malformed("limit out of range"))?,
    };
    if limit == 0 {
        return Err(ApiError::malformed("limit must be at least 1"));
    }
    let after = parse_cursor(&since)?;
    let sh = sig_headers(&h)?;
    let dev = st
        .authenticate(
            SignedRequest::Pull {
                device_id: sh.device_id.to_string(),
                since: since.clone(),
                limit,
                ts: sh.ts,
            },
            sh.signature,
        )
        .await?;
    st.ensure_live(&dev).await?;
    let page = st
        .storage
        .pull(
            &dev.license_id,
            &dev.device_id,
            after,
            limit.min(MAX_PULL_LIMIT),
        )
        .await?;
    let now = st.now();
    st.storage.touch_pull(&dev.device_id, now).await?;
    let next = match page.items.last() {
        Some(m) => format!("c_{}", m.position),
        None => since,
    };
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|m| {
            json!({
                "deviceId": m.device_id,
                "seq": m.seq,
                "sha256": m.sha256,
                "size": m.size,
                "createdAt": m.created_at,
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        json!({ "items": items, "nextCursor": next, "hasMore": page.has_more, "serverTime": now }),
    ))
}

async fn blob(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> ApiResult {
    let Path((owner, seq)) = path.map_err(|_| ApiError::malformed("invalid path"))?;
    let seq = parse_u64("seq", &seq)?;
    let sh = sig_headers(&h)?;
    let dev = st
        .authenticate(
            SignedRequest::Blob {
                device_id: sh.device_id.to_string(),
                owner_device_id: owner.clone(),
                seq,
                ts: sh.ts,
            },
            sh.signature,
        )
        .await?;
    st.ensure_live(&dev).await?;
    let b = st
        .storage
        .blob(&dev.license_id, &owner, seq)
        .await?
        .ok_or_else(ApiError::not_found)?;
    bytes_response(b.data, &b.sha256)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RevokeBody {
    target_device_id: String,
}

async fn revoke(State(st): State<Arc<AppState>>, h: HeaderMap, body: Body) -> ApiResult {
    let b: RevokeBody = read_json(&h, body).await?;
    let sh = sig_headers(&h)?;
    let dev = st
        .authenticate(
            SignedRequest::Revoke {
                device_id: sh.device_id.to_string(),
                target_device_id: b.target_device_id.clone(),
                ts: sh.ts,
            },
            sh.signature,
        )
        .await?;
    st.ensure_live(&dev).await?;
    let now = st.now();
    if !st
        .storage
        .revoke(&dev.license_id, &b.target_device_id, now)
        .await?
    {
        return Err(ApiError::not_found());
    }
    tracing::info!(device = %dev.device_id, target = %b.target_device_id, "device revoked");
    Ok(json_response(
        StatusCode::OK,
        json!({ "revoked": b.target_device_id }),
    ))
}

async fn keycheck_put(State(st): State<Arc<AppState>>, h: HeaderMap, body: Body) -> ApiResult {
    let mut slot = Some(body);
    let r = keycheck_put_inner(&st, &h, &mut slot).await;
    finish(r, slot, MAX_KEYCHECK_BYTES).await
}

async fn keycheck_put_inner(st: &AppState, h: &HeaderMap, slot: &mut Option<Body>) -> ApiResult {
    if content_length(h).is_some_and(|n| n > MAX_KEYCHECK_BYTES as u64) {
        return Err(ApiError::too_large(MAX_KEYCHECK_BYTES));
    }
    let sh = sig_headers(h)?;
    let sha256 = header(h, "x-sha256")?;
    let dev = st
        .authenticate(
            SignedRequest::KeycheckPut {
                device_id: sh.device_id.to_string(),
                sha256: sha256.to_string(),
                ts: sh.ts,
            },
            sh.signature,
        )
        .await?;
    st.ensure_live(&dev).await?;
    let data = read_body(h, slot.take().unwrap_or_default(), MAX_KEYCHECK_BYTES).await?;
    if sha256_hex(&data) != sha256 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "sha256_mismatch",
            "SHA-256 of the body does not match X-Sha256",
        ));
    }
    let now = st.now();
    match st
        .storage
        .keycheck_put(&dev.license_id, &dev.device_id, sha256, data, now)
        .await?
    {
        KeycheckPut::Stored => Ok(json_response(
            StatusCode::CREATED,
            json!({ "sha256": sha256, "serverTime": now }),
        )),
        KeycheckPut::Exists { sha256 } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "keycheck_exists",
            "the key-check blob of this license is already set",
        )
        .with("existingSha256", sha256)),
    }
}

async fn keycheck_get(State(st): State<Arc<AppState>>, h: HeaderMap) -> ApiResult {
    let sh = sig_headers(&h)?;
    let dev = st
        .authenticate(
            SignedRequest::KeycheckGet {
                device_id: sh.device_id.to_string(),
                ts: sh.ts,
            },
            sh.signature,
        )
        .await?;
    st.ensure_live(&dev).await?;
    let b = st
        .storage
        .keycheck_get(&dev.license_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    bytes_response(b.data, &b.sha256)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PruneBody {
    checkpoint_seq: u64,
}

async fn prune(State(st): State<Arc<AppState>>, h: HeaderMap, body: Body) -> ApiResult {
    let b: PruneBody = read_json(&h, body).await?;
    let sh = sig_headers(&h)?;
    let dev = st
        .authenticate(
            SignedRequest::Prune {
                device_id: sh.device_id.to_string(),
                checkpoint_seq: b.checkpoint_seq,
                ts: sh.ts,
            },
            sh.signature,
        )
        .await?;
    st.ensure_live(&dev).await?;
    let n = st.storage.prune(&dev.device_id, b.checkpoint_seq).await?;
    Ok(json_response(StatusCode::OK, json!({ "pruned": n })))
}

async fn devices(State(st): State<Arc<AppState>>, h: HeaderMap) -> ApiResult {
    let sh = sig_headers(&h)?;
    let dev = st
        .authenticate(
            SignedRequest::Devices {
                device_id: sh.device_id.to_string(),
                ts: sh.ts,
            },
            sh.signature,
        )
        .await?;
    st.ensure_live(&dev).await?;
    let list = st
        .storage
        .devices(&dev.license_id)
        .await?
        .unwrap_or_default();
    Ok(json_response(StatusCode::OK, json!({ "devices": list })))
}

async fn admin_devices(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> ApiResult {
    let Some(expected) = st.admin_token_hash else {
        return Err(ApiError::not_found());
    };
    let given = h
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| crate::sha256(t.trim().as_bytes()));
    let ok = given.is_some_and(|g| bool::from(g.ct_eq(&expected)));
    if !ok {
        let mut resp = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong admin bearer token",
        )
        .into_response();
        resp.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer"),
        );
        return Ok(resp);
    }
    let Path(lid) = path.map_err(|_| ApiError::malformed("invalid path"))?;
    azmx_sync_core::canonical::check_id("licenseId", &lid)?;
    let list = st
        .storage
        .devices(&lid)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(json_response(StatusCode::OK, json!({ "devices": list })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11 defect 2: a store that can no longer promise durability
    /// answers with a typed 503, not a generic 500.
    #[test]
    fn failed_storage_is_a_typed_503() {
        let e = ApiError::from(StorageError::Failed("fsync of the WAL failed".into()));
        assert_eq!(
            (e.status, e.code),
            (StatusCode::SERVICE_UNAVAILABLE, "storage_failed")
        );
    }
}
