//! The device's ed25519 identity and signed-request verification.

use std::sync::Arc;

use azmx_sync_core::canonical;

use super::error::SyncError;

/// This device's ed25519 identity, kept in a 0600 key file.
///
/// There is no way to get the private key out: the only operations are the
/// public key, its fingerprint, and signing of the pinned canonical request
/// strings (never arbitrary bytes). `Debug`/`Display` show the public key and
/// `<redacted>`.
#[derive(uniffi::Object)]
#[uniffi::export(Debug, Display)]
pub struct DeviceIdentity {
    inner: azmx_sync_core::DeviceIdentity,
}

impl std::fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DeviceIdentity(public_key={}, private_key=<redacted>)",
            self.inner.public_key()
        )
    }
}

impl std::fmt::Display for DeviceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

#[uniffi::export]
impl DeviceIdentity {
    /// Loads the key file at `path`, or creates it (atomically, mode 0600)
    /// when missing. The parent directory must exist. Refuses group/world
    /// readable or corrupt files (`KeyFile` with the problem).
    #[uniffi::constructor]
    pub fn load_or_create(path: String) -> Result<Arc<Self>, SyncError> {
        let inner = azmx_sync_core::DeviceIdentity::load_or_create(path)?;
        Ok(Arc::new(Self { inner }))
    }

    /// Loads an existing key file; never creates one.
    #[uniffi::constructor]
    pub fn load(path: String) -> Result<Arc<Self>, SyncError> {
        let inner = azmx_sync_core::DeviceIdentity::load(path)?;
        Ok(Arc::new(Self { inner }))
    }

    /// The 32-byte public key, unpadded base64url.
    pub fn public_key(&self) -> String {
        self.inner.public_key()
    }

    /// Human-comparable fingerprint, e.g. `3f2a-91c0-77de-0b14`.
    pub fn fingerprint(&self) -> String {
        self.inner.device_fingerprint()
    }

    /// Signs a canonical request string (`push|<deviceId>|<seq>|<sha256>|<ts>`
    /// and the other pinned forms of `docs/PROTOCOL.md`); returns the
    /// base64url signature. Anything that does not parse as a canonical is
    /// refused with `MalformedField`: the key is not a signing oracle.
    pub fn sign_canonical(&self, canonical: String) -> Result<String, SyncError> {
        Ok(self.inner.sign_canonical(&canonical)?)
    }
}

/// What a verified canonical request says.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VerifiedRequest {
    /// `init`, `push`, `pull`, `blob`, `revoke`, `keycheck-put`, ...
    pub verb: String,
    /// The signing device; `None` for `init`.
    pub device_id: Option<String>,
    /// The signed timestamp, unix seconds.
    pub ts: i64,
}

/// Verifies a signed canonical: parse (`MalformedField`), ed25519 signature
/// (`BadSignature`), then `|ts − now| ≤ max_skew_secs` (`ClockSkew`, with the
/// signed skew). `public_key` and `signature` are unpadded base64url.
#[uniffi::export(default(max_skew_secs = 300))]
pub fn verify_signed(
    public_key: String,
    canonical: String,
    signature: String,
    now: i64,
    max_skew_secs: i64,
) -> Result<VerifiedRequest, SyncError> {
    let req = canonical::verify(&public_key, &canonical, &signature, now, max_skew_secs)?;
    Ok(VerifiedRequest {
        verb: req.verb().to_string(),
        device_id: req.device_id().map(str::to_string),
        ts: req.ts(),
    })
}

/// The fingerprint of a base64url public key (to compare with a peer's
/// [`DeviceIdentity::fingerprint`]).
#[uniffi::export]
pub fn fingerprint_of(public_key: String) -> Result<String, SyncError> {
    Ok(azmx_sync_bridge::identity::fingerprint_of(&public_key)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_redaction() {
        let d = std::env::temp_dir().join(format!("azmx-uniffi-id-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("device.key");
        let id = DeviceIdentity::load_or_create(p.to_string_lossy().into()).unwrap();
        assert!(format!("{id:?}").contains("<redacted>"));
        let c = "devices|dev_1|1700000000".to_string();
        let sig = id.sign_canonical(c.clone()).unwrap();
        let v = verify_signed(id.public_key(), c, sig, 1_700_000_000, 300).unwrap();
        assert_eq!(v.verb, "devices");
        assert_eq!(fingerprint_of(id.public_key()).unwrap(), id.fingerprint());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
