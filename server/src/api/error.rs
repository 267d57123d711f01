//! The API's error: a protocol [`ErrorCode`] (which fixes the status), its
//! body, and how the answer treats the connection.

use axum::http::header::{CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use azmx_sync_core::protocol::{headers, to_json, ErrorBody, ErrorCode};
use bytes::Bytes;
use serde::Serialize;

use crate::storage::StorageError;

/// An error answer: `{"error": code, "message": ..., ...extra}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) code: ErrorCode,
    /// Boxed: handlers return `Result<_, ApiError>` everywhere.
    pub(crate) body: Box<ErrorBody>,
    /// Answer with `Connection: close` (the request body was left unread).
    pub(crate) close: bool,
}

pub(crate) type ApiResult = Result<Response, ApiError>;

impl ApiError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            body: Box::new(ErrorBody::new(code, message)),
            close: false,
        }
    }

    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Malformed, message)
    }

    pub(crate) fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "not found")
    }

    pub(crate) fn unknown_device() -> Self {
        Self::new(
            ErrorCode::UnknownDevice,
            "no device is registered with this id",
        )
    }

    pub(crate) fn revoked() -> Self {
        Self::new(ErrorCode::Revoked, "this device has been revoked")
    }

    pub(crate) fn bad_license() -> Self {
        Self::new(
            ErrorCode::BadLicense,
            "unknown license or wrong license key",
        )
    }

    pub(crate) fn sha256_mismatch() -> Self {
        Self::new(
            ErrorCode::Sha256Mismatch,
            "SHA-256 of the body does not match X-Sha256",
        )
    }

    pub(crate) fn too_large(limit: usize) -> Self {
        let mut e = Self::new(
            ErrorCode::TooLarge,
            format!("body exceeds the {limit}-byte limit"),
        );
        e.body.max_bytes = Some(limit as u64);
        e.closing()
    }

    pub(crate) fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(ErrorCode::RateLimited, "too many requests; retry later");
        e.body.retry_after = Some(retry_after_secs);
        e
    }

    pub(crate) fn timeout() -> Self {
        Self::new(ErrorCode::Timeout, "request did not complete in time").closing()
    }

    pub(crate) fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    pub(crate) fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal storage error")
    }

    pub(crate) fn status(&self) -> StatusCode {
        status(self.code.status())
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
                    ErrorCode::StorageFailed,
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
            E::BadSignature => Self::new(ErrorCode::BadSignature, "signature does not verify"),
            e @ E::ClockSkew { .. } => Self::new(ErrorCode::ClockSkew, e.to_string()),
            e => Self::malformed(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = json_response(self.status(), &self.body);
        // For the layers above the handler (the per-address limit counts
        // failed authentications by code).
        resp.extensions_mut().insert(self.code);
        if self.close {
            resp.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(secs) = self.body.retry_after {
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Every code's status is a valid one; the fallback is never taken.
fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A JSON answer, written as the protocol writes bodies.
pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    match to_json(body) {
        Ok(text) => (
            status,
            [(CONTENT_TYPE, HeaderValue::from_static(headers::JSON))],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise an answer");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A blob answer: the bytes and their SHA-256 header.
pub(crate) fn bytes_response(data: Bytes, sha256: &str) -> ApiResult {
    let sha = HeaderValue::from_str(sha256).map_err(|_| ApiError::internal())?;
    let name =
        HeaderName::from_bytes(headers::SHA256.as_bytes()).map_err(|_| ApiError::internal())?;
    Ok((
        StatusCode::OK,
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static(headers::OCTET_STREAM),
            ),
            (name, sha),
        ],
        data,
    )
        .into_response())
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
            (e.status(), e.code),
            (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::StorageFailed)
        );
    }

    #[test]
    fn every_code_has_its_status() {
        for code in ErrorCode::ALL {
            assert_eq!(status(code.status()).as_u16(), code.status());
        }
    }
}
