//! The operator's license rules and device tools as commands: `license
//! open-claim-window | set-max-devices | rotate-key`, `device revoke`.

use super::args::{ClaimWindowArgs, DeviceRevokeArgs, LicenseArgs, MaxDevicesArgs};
use super::config::Store;
use super::error::CmdError;
use super::run::Outcome;
use crate::{open_claim_window, revoke_device, rotate_license_key, set_max_devices, StoreRef};

impl Store {
    /// The store as the library's operator functions take it.
    pub fn as_ref(&self) -> StoreRef<'_> {
        match self {
            Self::Postgres(url) => StoreRef::Postgres(url),
            Self::Sqlite(dir) => StoreRef::Sqlite(dir),
        }
    }
}

pub(super) fn open_window(a: ClaimWindowArgs) -> Result<Outcome, CmdError> {
    let lid = a.license.license_id;
    let until = open_claim_window(a.license.store.store()?.as_ref(), &lid, a.secs)?;
    Ok(Outcome::ClaimWindowOpened {
        license_id: lid,
        until,
    })
}

pub(super) fn max_devices(a: MaxDevicesArgs) -> Result<Outcome, CmdError> {
    let lid = a.license.license_id;
    set_max_devices(a.license.store.store()?.as_ref(), &lid, a.max.0)?;
    Ok(Outcome::MaxDevicesSet {
        license_id: lid,
        max: a.max.0,
    })
}

pub(super) fn rotate_key(a: LicenseArgs) -> Result<Outcome, CmdError> {
    let key = rotate_license_key(a.store.store()?.as_ref(), &a.license_id)?;
    Ok(Outcome::LicenseKeyRotated {
        license_id: a.license_id,
        key,
    })
}

pub(super) fn revoke(a: DeviceRevokeArgs) -> Result<Outcome, CmdError> {
    let lid = a.license.license_id;
    revoke_device(a.license.store.store()?.as_ref(), &lid, &a.device_id)?;
    Ok(Outcome::DeviceRevoked {
        license_id: lid,
        device_id: a.device_id,
    })
}

/// What `license open-claim-window` prints.
pub fn claim_window_line(license_id: &str, until: i64) -> String {
    format!(
        "license {license_id}: claim window open until {until} (unix seconds); the first device \
         that gives the receipt sets its authority key"
    )
}

/// What `license set-max-devices` prints.
pub fn max_devices_line(license_id: &str, max: Option<u32>) -> String {
    match max {
        Some(n) => format!("license {license_id}: at most {n} live devices"),
        None => format!("license {license_id}: no device cap"),
    }
}

/// What `license rotate-key` prints; the key is its last word.
pub fn key_rotated_line(license_id: &str, key: &str) -> String {
    format!(
        "license {license_id}: new license key (the old one no longer works; store this one \
         now, it is not shown again): {key}"
    )
}

/// What `device revoke` prints.
pub fn device_revoked_line(license_id: &str, device_id: &str) -> String {
    format!("license {license_id}: device {device_id} revoked")
}
