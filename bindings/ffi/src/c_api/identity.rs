//! The device identity (ed25519, in a 0600 key file) and signed-request
//! verification. The private key never crosses the ABI.

use std::ffi::c_char;
use std::path::PathBuf;

use azmx_sync_core::DeviceIdentity;

use super::buffer::{reset_out, set_out, AzmxBuffer};
use super::error::AzmxStatus;
use super::guard::{c_bytes, call, call_value, put, text, Failure};

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
unsafe fn id_ref<'a>(id: *const AzmxDeviceIdentity) -> Result<&'a DeviceIdentity, Failure> {
    if id.is_null() {
        return Err(Failure::null("identity"));
    }
    // SAFETY: non-NULL and, per the contract, a live handle not freed during
    // the call; handles are only read.
    Ok(unsafe { &(*id).inner })
}

#[cfg(unix)]
pub(crate) fn path_from(raw: &[u8]) -> Result<PathBuf, Failure> {
    use std::os::unix::ffi::OsStrExt;
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(raw)))
}

#[cfg(not(unix))]
pub(crate) fn path_from(raw: &[u8]) -> Result<PathBuf, Failure> {
    std::str::from_utf8(raw)
        .map(PathBuf::from)
        .map_err(|_| Failure::invalid("`path` is not valid UTF-8"))
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
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_device_identity_load_or_create", || {
        // SAFETY: writable per the contract.
        unsafe { put(out_identity, std::ptr::null_mut(), "out_identity") }?;
        // SAFETY: NUL-terminated per the contract.
        let raw = unsafe { c_bytes(path, "path") }?;
        if raw.is_empty() {
            return Err(Failure::invalid("`path` is empty"));
        }
        let inner = DeviceIdentity::load_or_create(path_from(raw)?)?;
        let handle = Box::into_raw(Box::new(AzmxDeviceIdentity { inner }));
        // SAFETY: checked writable above.
        unsafe { put(out_identity, handle, "out_identity") }
    })
}

/// Releases an identity handle; the private key is zeroized. NULL is a no-op.
///
/// # Safety
/// `identity` must be NULL or a live handle not in use by another thread,
/// freed only once.
#[no_mangle]
pub unsafe extern "C" fn azmx_device_identity_free(identity: *mut AzmxDeviceIdentity) {
    // SAFETY (extern "C"): see `# Safety`; NULL-checked; panic boundary.
    call_value((), || {
        if !identity.is_null() {
            // SAFETY: the handle came from Box::into_raw and is freed once.
            drop(unsafe { Box::from_raw(identity) });
        }
    })
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
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_device_identity_public_key", || {
        // SAFETY: writable per the contract.
        unsafe { reset_out(out_public_key, "out_public_key") }?;
        // SAFETY: live handle per the contract.
        let id = unsafe { id_ref(identity) }?;
        // SAFETY: checked by reset_out.
        unsafe { set_out(out_public_key, AzmxBuffer::from_text(id.public_key())) };
        Ok(())
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
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_device_identity_fingerprint", || {
        // SAFETY: writable per the contract.
        unsafe { reset_out(out_fingerprint, "out_fingerprint") }?;
        // SAFETY: live handle per the contract.
        let id = unsafe { id_ref(identity) }?;
        let fp = id.device_fingerprint();
        // SAFETY: checked by reset_out.
        unsafe { set_out(out_fingerprint, AzmxBuffer::from_text(fp)) };
        Ok(())
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
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_device_identity_sign_canonical", || {
        // SAFETY: writable per the contract.
        unsafe { reset_out(out_signature, "out_signature") }?;
        // SAFETY: live handle per the contract.
        let id = unsafe { id_ref(identity) }?;
        // SAFETY: NUL-terminated per the contract.
        let canonical = unsafe { text(canonical, "canonical") }?;
        let sig = id.sign_canonical(canonical)?;
        // SAFETY: checked by reset_out.
        unsafe { set_out(out_signature, AzmxBuffer::from_text(sig)) };
        Ok(())
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
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_verify", || {
        // SAFETY: NUL-terminated per the contract (all three).
        let (pk, c, sig) = unsafe {
            (
                text(public_key, "public_key")?,
                text(canonical, "canonical")?,
                text(signature, "signature")?,
            )
        };
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
