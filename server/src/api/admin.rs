//! The operator routes: health and the admin device listing, and the
//! admin bearer token check every admin route (and `/metrics`) makes.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use azmx_sync_core::protocol::{headers, DevicesResponse, ErrorCode, HealthResponse};
use subtle::ConstantTimeEq;

use super::error::{json_response, ApiError, ApiResult};
use super::AppState;

pub(crate) async fn healthz() -> Response {
    json_response(StatusCode::OK, &HealthResponse { ok: true })
}

pub(crate) async fn admin_devices(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult {
    if let Some(refused) = admin_refusal(&st, &h) {
        return Ok(refused);
    }
    let Path(lid) = path.map_err(|_| ApiError::malformed("invalid path"))?;
    azmx_sync_core::canonical::check_id("licenseId", &lid)?;
    let devices = st
        .storage
        .devices(&lid)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(json_response(StatusCode::OK, &DevicesResponse { devices }))
}

/// `None` when the request carries the admin bearer token (compared in
/// constant time, as hashes); else the answer: `404` when no token is
/// configured (the admin routes do not exist), `401` otherwise (which the
/// per-address limit counts as a failed authentication).
pub(super) fn admin_refusal(st: &AppState, h: &HeaderMap) -> Option<Response> {
    let Some(expected) = st.admin_token_hash else {
        return Some(ApiError::not_found().into_response());
    };
    let given = h
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix(headers::BEARER_PREFIX))
        .map(|t| crate::sha256(t.trim().as_bytes()));
    if given.is_some_and(|g| bool::from(g.ct_eq(&expected))) {
        return None;
    }
    let mut resp = ApiError::new(
        ErrorCode::Unauthorized,
        "missing or wrong admin bearer token",
    )
    .into_response();
    resp.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Some(resp)
}
