//! The device identity (ed25519, in a 0600 key file) and signed-request
//! verification. The private key never crosses the ABI.

use std::ffi::c_char;

use azmx_sync_bridge::ApiError;
use azmx_sync_core::DeviceIdentity;

use super::buffer::AzmxBuffer;
use super::error::AzmxStatus;
use super::guard::{ffi_boundary, free_handle, handle, path as os_path, put, put_handle, text};

/// An opaque device signing identity. Created by
/// [`azmx_device_identity_load_or_create`], released (and zeroized) by
/// [`azmx_device_identity_free`]. Immutable: usable from several threads.
pub struct AzmxDeviceIdentity {
    inner: DeviceIdentity,
}

/// Borrows an identity handle.
///
/// # Safety
/// `id` must be NULL or a live handle.
unsafe fn id_ref<'a>(id: *const AzmxDeviceIdentity) -> Result<&'a DeviceIdentity, ApiError> {
    // SAFETY: per the contract.
    Ok(&unsafe { handle(id, "identity") }?.inner)
}

/// Loads the device key file at `path`, or creates it (atomically, mode
/// 0600) when it does not exist. The directory must exist.
///
/// Errors: `NULL_POINTER`, `INVALID_ARGUMENT` (empty path), `KEY_FILE`
/// (missing directory, group/world-accessible file, corrupt or unreadable
/// file; the message names the path and the problem).
///
/// # Safety
/// `path` a NUL-terminated string (bytes, as the OS takes them);
/// `out_identity` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_device_identity_load_or_create(
    path: *const c_char,
    out_identity: *mut *mut AzmxDeviceIdentity,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_device_identity_load_or_create", unsafe {
        put(out_identity, std::ptr::null_mut(), "out_identity")?;
        let inner = DeviceIdentity::load_or_create(os_path(path, "path")?)?;
        put_handle(out_identity, AzmxDeviceIdentity { inner }, "out_identity")
    })
}

/// Releases an identity handle; the private key is zeroized. NULL is a no-op.
///
/// # Safety
/// `identity` must be NULL or a live handle not in use by another thread,
/// freed only once.
#[no_mangle]
pub unsafe extern "C" fn azmx_device_identity_free(identity: *mut AzmxDeviceIdentity) {
    // SAFETY: NULL or a live handle freed once, per the contract; the
    // private key is zeroized on drop.
    unsafe { free_handle(identity) }
}

/// The 32-byte ed25519 public key as unpadded base64url (43 characters),
/// NUL-terminated, in a library-owned buffer.
///
/// # Safety
/// `identity` a live handle; `out_public_key` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_device_identity_public_key(
    identity: *const AzmxDeviceIdentity,
    out_public_key: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_device_identity_public_key", out_public_key => unsafe {
        Ok(id_ref(identity)?.public_key())
    })
}

/// The human-comparable device fingerprint (first 8 bytes of SHA-256 of
/// the public key, hex in four groups: `3f2a-91c0-77de-0b14`),
/// NUL-terminated, in a library-owned buffer.
///
/// # Safety
/// `identity` a live handle; `out_fingerprint` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_device_identity_fingerprint(
    identity: *const AzmxDeviceIdentity,
    out_fingerprint: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_device_identity_fingerprint", out_fingerprint => unsafe {
        Ok(id_ref(identity)?.device_fingerprint())
    })
}

/// Signs a signed-request canonical (`push|<deviceId>|<seq>|<sha256>|<ts>`,
/// `pull|...`, `init|...`, see docs/PROTOCOL.md) and returns the ed25519
/// signature as unpadded base64url (86 characters), NUL-terminated. Only
/// strings that parse as one of the pinned request forms are signed
/// (`MALFORMED_FIELD` otherwise): the key is not a signing oracle.
///
/// # Safety
/// `identity` a live handle; `canonical` a NUL-terminated string;
/// `out_signature` writable.
#[no_mangle]
pub unsafe extern "C" fn azmx_device_identity_sign_canonical(
    identity: *const AzmxDeviceIdentity,
    canonical: *const c_char,
    out_signature: *mut AzmxBuffer,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_device_identity_sign_canonical", out_signature => unsafe {
        Ok(id_ref(identity)?.sign_canonical(text(canonical, "canonical")?)?)
    })
}

/// Verifies a signed request as the relay does: the canonical must parse
/// (`MALFORMED_FIELD`, also for a malformed public key), the signature must
/// verify under `public_key` (`BAD_SIGNATURE`), and `|ts - now_unix_secs|`
/// must be at most `max_skew_secs` (`CLOCK_SKEW`; the relay uses
/// `AZMX_MAX_SKEW_SECS`). Keys and signatures are unpadded base64url.
///
/// # Safety
/// `public_key`, `canonical`, `signature`: NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn azmx_verify(
    public_key: *const c_char,
    canonical: *const c_char,
    signature: *const c_char,
    now_unix_secs: i64,
    max_skew_secs: i64,
) -> AzmxStatus {
    // SAFETY: the pointers are NULL or valid as the contract above says.
    ffi_boundary!("azmx_verify", unsafe {
        let pk = text(public_key, "public_key")?;
        let (c, sig) = (text(canonical, "canonical")?, text(signature, "signature")?);
        azmx_sync_core::canonical::verify(pk, c, sig, now_unix_secs, max_skew_secs)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
