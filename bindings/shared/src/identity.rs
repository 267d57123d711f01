//! Identity helpers with a rule of their own (the key itself is the core's
//! `DeviceIdentity`; bindings wrap it directly).

use azmx_sync_core::{b64, identity};

use crate::error::ApiError;

/// The fingerprint of a base64url ed25519 public key, to compare with a
/// peer's; `MalformedField` (`publicKey`) when it is not 32 bytes of base64url.
pub fn fingerprint_of(public_key: &str) -> Result<String, ApiError> {
    let bad = |reason: &str| ApiError::MalformedField {
        field: "publicKey".into(),
        reason: reason.into(),
    };
    let bytes = b64::decode(public_key).map_err(|_| bad("not base64url"))?;
    if bytes.len() != 32 {
        return Err(bad("not 32 bytes"));
    }
    Ok(identity::fingerprint_of(&bytes))
}

/// What a verified canonical request says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// `init`, `push`, `pull`, `blob`, `revoke`, `keycheck-put`, ...
    pub verb: String,
    /// The signing device; `None` for `init`.
    pub device_id: Option<String>,
    /// The signed timestamp, unix seconds.
    pub ts: i64,
}

/// Verifies a signed canonical as the relay does: parse
/// (`MalformedField`), ed25519 signature (`BadSignature`), then
/// `|ts − now| ≤ max_skew_secs` (`ClockSkew`).
pub fn verify_signed(
    public_key: &str,
    canonical: &str,
    signature: &str,
    now: i64,
    max_skew_secs: i64,
) -> Result<VerifiedRequest, ApiError> {
    let req =
        azmx_sync_core::canonical::verify(public_key, canonical, signature, now, max_skew_secs)?;
    Ok(VerifiedRequest {
        verb: req.verb().to_string(),
        device_id: req.device_id().map(str::to_string),
        ts: req.ts(),
    })
}

/// The current time in unix seconds (0 before 1970): the default `now`.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
