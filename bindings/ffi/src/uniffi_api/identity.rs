//! The device's ed25519 identity and signed-request verification:
//! generated from `bindings/exports.toml` (`identity/generated.rs`, included
//! here so that uniffi sees the items in this module, as it always did).

// The facade's type, exported under the name the foreign code has always used.
pub use azmx_sync_bridge::identity::VerifiedRequest;

/// What a verified canonical request says.
#[uniffi::remote(Record)]
pub struct VerifiedRequest {
    /// `init`, `push`, `pull`, `blob`, `revoke`, `keycheck-put`, ...
    pub verb: String,
    /// The signing device; `None` for `init`.
    pub device_id: Option<String>,
    /// The signed timestamp, unix seconds.
    pub ts: i64,
}

include!("identity/generated.rs");

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
