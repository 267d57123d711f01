//! Every error answer: `{"error": code, "message": text, ...}` with the
//! extra fields its code carries. Clients branch on the code (and the
//! status), never on the message.

use serde::{Deserialize, Deserializer, Serialize};

/// The codes the relay answers with, and the status each comes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A header, query, path or body does not parse or a field is invalid.
    Malformed,
    /// The body's SHA-256 is not `X-Sha256`.
    Sha256Mismatch,
    /// Unknown license or wrong license key (one answer for both).
    BadLicense,
    UnknownDevice,
    BadSignature,
    /// Carries `serverTime`.
    ClockSkew,
    /// Missing or wrong admin token.
    Unauthorized,
    Revoked,
    NotFound,
    MethodNotAllowed,
    Timeout,
    /// Carries `lastSeq` and `existingSha256` (`null` when none is stored).
    SeqConflict,
    /// Carries `existingSha256`.
    KeycheckExists,
    /// Carries `maxBytes`.
    TooLarge,
    /// Carries `retryAfter` (also sent as the `Retry-After` header).
    RateLimited,
    Internal,
    /// The relay's storage can no longer promise durability.
    StorageFailed,
    /// The relay is at its budget of request bytes in flight; carries
    /// `retryAfter` (also the `Retry-After` header). Nothing was done.
    Busy,
    /// A request body without a `Content-Length` (chunked): the relay
    /// reserves a body's bytes before reading it, so it needs the length.
    LengthRequired,
    /// The license is at its storage quota (bytes or blobs); the push was
    /// not stored. Pruning (a checkpoint) gives room back.
    QuotaExceeded,
    /// The license has an authority key (or an open claim window) and the
    /// request carries no authority signature (PROTOCOL §11).
    AuthorityRequired,
    /// The authority signature does not verify with the license's key (or,
    /// for a claim, with the claimed key).
    BadAuthoritySignature,
    /// A claim for a license whose authority key is already another one.
    AuthorityExists,
    /// A claim for a license without a key whose operator opened no window.
    AuthorityClaimClosed,
    /// `init` of a new device on a license that already has as many live
    /// devices as its operator allows (`--max-devices`); nothing was
    /// registered. Revoking a device gives room back.
    DeviceLimit,
    /// The relay is stopping (SIGTERM): it finishes what it already took
    /// and refuses new requests; carries `retryAfter` (also the
    /// `Retry-After` header). Nothing was done.
    ShuttingDown,
}

impl ErrorCode {
    /// Every code, in the order of `docs/PROTOCOL.md`'s table.
    pub const ALL: [Self; 26] = [
        Self::Malformed,
        Self::Sha256Mismatch,
        Self::BadLicense,
        Self::UnknownDevice,
        Self::BadSignature,
        Self::ClockSkew,
        Self::Unauthorized,
        Self::Revoked,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Timeout,
        Self::SeqConflict,
        Self::KeycheckExists,
        Self::TooLarge,
        Self::RateLimited,
        Self::Internal,
        Self::StorageFailed,
        Self::Busy,
        Self::LengthRequired,
        Self::QuotaExceeded,
        Self::AuthorityRequired,
        Self::BadAuthoritySignature,
        Self::AuthorityExists,
        Self::AuthorityClaimClosed,
        Self::DeviceLimit,
        Self::ShuttingDown,
    ];

    /// The `error` field's value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Sha256Mismatch => "sha256_mismatch",
            Self::BadLicense => "bad_license",
            Self::UnknownDevice => "unknown_device",
            Self::BadSignature => "bad_signature",
            Self::ClockSkew => "clock_skew",
            Self::Unauthorized => "unauthorized",
            Self::Revoked => "revoked",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Timeout => "timeout",
            Self::SeqConflict => "seq_conflict",
            Self::KeycheckExists => "keycheck_exists",
            Self::TooLarge => "too_large",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
            Self::StorageFailed => "storage_failed",
            Self::Busy => "busy",
            Self::LengthRequired => "length_required",
            Self::QuotaExceeded => "quota_exceeded",
            Self::AuthorityRequired => "authority_required",
            Self::BadAuthoritySignature => "bad_authority_signature",
            Self::AuthorityExists => "authority_exists",
            Self::AuthorityClaimClosed => "authority_claim_closed",
            Self::DeviceLimit => "device_limit",
            Self::ShuttingDown => "shutting_down",
        }
    }

    /// The HTTP status the code is answered with.
    pub const fn status(self) -> u16 {
        match self {
            Self::Malformed | Self::Sha256Mismatch => 400,
            Self::BadLicense
            | Self::UnknownDevice
            | Self::BadSignature
            | Self::ClockSkew
            | Self::Unauthorized => 401,
            Self::Revoked => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Timeout => 408,
            Self::SeqConflict | Self::KeycheckExists => 409,
            Self::LengthRequired => 411,
            Self::TooLarge => 413,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::StorageFailed | Self::Busy | Self::ShuttingDown => 503,
            Self::QuotaExceeded => 507,
            Self::BadAuthoritySignature => 401,
            Self::AuthorityRequired | Self::AuthorityClaimClosed | Self::DeviceLimit => 403,
            Self::AuthorityExists => 409,
        }
    }
}

/// An error answer's body. The optional fields are left out unless the
/// code carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// An [`ErrorCode`]'s text; a client keeps codes it does not know.
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
    /// `Some(None)` is sent as `null` (seq_conflict with nothing stored at
    /// the requested seq); read back, `null` and absent are both `None`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "some_if_present"
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::nullable_sha256))]
    pub existing_sha256: Option<Option<String>>,
    /// Read leniently: clients never needed it, so a value of another type
    /// must not make the whole answer unreadable.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::lenient"
    )]
    pub max_bytes: Option<u64>,
    /// Read leniently, like `max_bytes` (clients read the header).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::lenient"
    )]
    pub retry_after: Option<u64>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: code.as_str().into(),
            message: message.into(),
            ..Self::default()
        }
    }

    /// Whether the body carries `code` (the status is the caller's to check).
    pub fn is(&self, code: ErrorCode) -> bool {
        self.error == code.as_str()
    }

    /// `existingSha256` as a client reads it.
    pub fn existing_sha256(&self) -> Option<&str> {
        self.existing_sha256.as_ref()?.as_deref()
    }
}

fn some_if_present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}
