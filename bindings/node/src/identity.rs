//! `DeviceIdentity`, `verifySigned`, `fingerprintOf`: generated from
//! `bindings/exports.toml` into [`generated`]; here the types and argument
//! conversions they use.

use napi_derive::napi;

use azmx_sync_bridge::{identity, ApiError};

mod generated;

pub use generated::*;

/// A key file path argument: an empty one is refused before the core sees it.
fn path_arg(path: &str) -> Result<&str, ApiError> {
    if path.is_empty() {
        return Err(ApiError::invalid_argument("the path is empty"));
    }
    Ok(path)
}

/// What a verified canonical request says.
#[napi(object)]
pub struct VerifiedRequest {
    /// `init`, `push`, `pull`, `blob`, `revoke`, `keycheck-put`, ...
    pub verb: String,
    /// The signing device; absent for `init`.
    pub device_id: Option<String>,
    /// The signed timestamp, unix seconds.
    pub ts: i64,
}

impl From<identity::VerifiedRequest> for VerifiedRequest {
    fn from(v: identity::VerifiedRequest) -> Self {
        let identity::VerifiedRequest {
            verb,
            device_id,
            ts,
        } = v;
        VerifiedRequest {
            verb,
            device_id,
            ts,
        }
    }
}
