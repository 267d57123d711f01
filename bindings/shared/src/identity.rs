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
