//! The device identity (ed25519, in a 0600 key file) and signed-request
//! verification. The private key never crosses the ABI. The entry points
//! are generated from `bindings/exports.toml` into [`generated`].

pub mod generated;

pub use generated::*;

/// An opaque device signing identity. Created by
/// [`azmx_device_identity_load_or_create`], released (and zeroized) by
/// [`azmx_device_identity_free`]. Immutable: usable from several threads.
pub struct AzmxDeviceIdentity {
    inner: azmx_sync_core::DeviceIdentity,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::c_api::error::AzmxStatus;

    #[test]
    fn status_of_insecure_key_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("azmx-capi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("device.key");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        let mut h = std::ptr::null_mut();
        // SAFETY: valid C string and out-pointer.
        let s = unsafe { azmx_device_identity_load_or_create(c.as_ptr(), &mut h) };
        assert_eq!(s, AzmxStatus::Ok);
        // SAFETY: live handle, freed once.
        unsafe { azmx_device_identity_free(h) };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        // SAFETY: as above.
        let s = unsafe { azmx_device_identity_load_or_create(c.as_ptr(), &mut h) };
        assert_eq!(s, AzmxStatus::KeyFile);
        assert!(h.is_null());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
