//! The license's derived key in the operating system's secret store, so that
//! `sync`, `sync --watch`, `export` and a service run with no receipt
//! (`init --remember`, `login`; `logout` forgets it).
//!
//! What is kept is the envelope key's 32 bytes (PROTOCOL §1), never the
//! receipt: the receipt works for every license it was issued for and is
//! what a person types; the key opens this license only. The license
//! authority key is HKDF of the same bytes (§11.1), so it is not kept
//! separately: whoever reads the entry has both (docs/SECURITY.md).
//!
//! The entry is named by service `azmx-sync` and account
//! `<license id>/<device id>`. A small marker beside the engine state
//! (`secret-store.json`, 0600, no secret in it) says that this device keeps
//! one, so a device that never asked for it never touches the store, and
//! one that did says so when the store cannot be read and asks for the
//! receipt instead.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use azmx_sync_core::kdf::KEY_LEN;
use azmx_sync_core::EnvelopeKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The service (Secret Service attribute, Keychain service) of every entry.
pub const SERVICE: &str = "azmx-sync";
/// The marker's file name in the state directory.
pub const MARKER_FILE: &str = "secret-store.json";
/// A store that does not answer (a locked keyring waiting for a prompt no
/// one will see, a hung D-Bus) must not hang a background sync forever.
const STORE_TIMEOUT: Duration = Duration::from_secs(30);

/// Which entry: one per license and device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Slot {
    pub license_id: String,
    pub device_id: String,
}

impl Slot {
    pub fn account(&self) -> String {
        format!("{}/{}", self.license_id, self.device_id)
    }
}

/// The store could not be used; the text names the store and the cause
/// (from the platform), never a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The platform's store, for messages.
pub fn store_name() -> &'static str {
    if cfg!(target_os = "linux") {
        "the Secret Service (e.g. GNOME Keyring)"
    } else if cfg!(target_os = "macos") {
        "the macOS Keychain"
    } else if cfg!(windows) {
        "the Windows Credential Manager"
    } else {
        "the OS secret store"
    }
}

/// Keeps `key` under `slot`, replacing what was there.
pub fn store(slot: &Slot, key: &EnvelopeKey) -> Result<(), StoreError> {
    let bytes = key.to_keystore_bytes();
    let account = slot.account();
    on_store_thread(move || backend::set(&account, &bytes[..]))
}

/// The key kept under `slot`: `None` when there is no entry.
pub fn load(slot: &Slot) -> Result<Option<EnvelopeKey>, StoreError> {
    let account = slot.account();
    let Some(raw) = on_store_thread(move || backend::get(&account))? else {
        return Ok(None);
    };
    let bytes: Zeroizing<[u8; KEY_LEN]> = Zeroizing::new(raw[..].try_into().map_err(|_| {
        StoreError(format!(
            "the entry {SERVICE} {} in {} is not an azmx-sync key ({} bytes)",
            slot.account(),
            store_name(),
            raw.len()
        ))
    })?);
    Ok(Some(EnvelopeKey::from_keystore_bytes(&bytes)))
}

/// Deletes the entry under `slot`: `true` if there was one.
pub fn delete(slot: &Slot) -> Result<bool, StoreError> {
    let account = slot.account();
    on_store_thread(move || backend::delete(&account))
}

/// Runs a store call on its own thread, bounded by [`STORE_TIMEOUT`]: the
/// keyring crate's Secret Service backend runs its own async runtime and
/// must not run on a thread that may already be inside one, and a store
/// that never answers is reported, not waited for.
fn on_store_thread<T: Send + 'static>(
    op: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("azmx-secret-store".into())
        .spawn(move || {
            let _ = tx.send(op());
        })
        .map_err(|e| StoreError(format!("cannot start the secret store thread: {e}")))?;
    match rx.recv_timeout(STORE_TIMEOUT) {
        Ok(r) => r,
        Err(_) => Err(StoreError(format!(
            "{} did not answer within {} s (a locked keyring waiting for an unlock prompt?)",
            store_name(),
            STORE_TIMEOUT.as_secs()
        ))),
    }
}

#[cfg(any(target_os = "linux", target_os = "macos", windows))]
mod backend {
    use super::{store_name, StoreError, SERVICE};
    use zeroize::Zeroizing;

    fn entry(account: &str) -> Result<keyring::Entry, StoreError> {
        keyring::Entry::new(SERVICE, account).map_err(fail)
    }

    fn fail(e: keyring::Error) -> StoreError {
        StoreError(format!("{} is not available: {e}", store_name()))
    }

    pub fn set(account: &str, secret: &[u8]) -> Result<(), StoreError> {
        entry(account)?.set_secret(secret).map_err(fail)
    }

    pub fn get(account: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        match entry(account)?.get_secret() {
            Ok(v) => Ok(Some(Zeroizing::new(v))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(fail(e)),
        }
    }

    pub fn delete(account: &str) -> Result<bool, StoreError> {
        match entry(account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(fail(e)),
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod backend {
    use super::StoreError;
    use zeroize::Zeroizing;

    fn none() -> StoreError {
        StoreError("this platform has no supported OS secret store".into())
    }

    pub fn set(_: &str, _: &[u8]) -> Result<(), StoreError> {
        Err(none())
    }

    pub fn get(_: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        Err(none())
    }

    pub fn delete(_: &str) -> Result<bool, StoreError> {
        Err(none())
    }
}

pub fn marker_path(state_dir: &Path) -> PathBuf {
    state_dir.join(MARKER_FILE)
}

/// The slot this device said it keeps a key under, if any. A corrupt
/// marker reads as none (the receipt is then asked for, as without one).
pub fn marker(state_dir: &Path) -> Option<Slot> {
    serde_json::from_str(&crate::state_file::read_small(&marker_path(state_dir))?).ok()
}

/// Writes the marker (0600, atomically: a temporary file renamed).
pub fn write_marker(state_dir: &Path, slot: &Slot) -> std::io::Result<()> {
    let text = serde_json::to_vec(slot).map_err(std::io::Error::other)?;
    let mut tmp = tempfile::NamedTempFile::new_in(state_dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(&text)?;
    tmp.as_file().sync_all()?;
    tmp.persist(marker_path(state_dir)).map_err(|e| e.error)?;
    Ok(())
}

pub fn remove_marker(state_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(marker_path(state_dir)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_round_trips_is_private_and_holds_no_key() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(marker(d.path()), None);
        let slot = Slot {
            license_id: "lic_team".into(),
            device_id: "dev_1".into(),
        };
        write_marker(d.path(), &slot).unwrap();
        assert_eq!(marker(d.path()), Some(slot.clone()));
        assert_eq!(slot.account(), "lic_team/dev_1");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(marker_path(d.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let text = std::fs::read_to_string(marker_path(d.path())).unwrap();
        assert_eq!(text, r#"{"licenseId":"lic_team","deviceId":"dev_1"}"#);
        remove_marker(d.path()).unwrap();
        remove_marker(d.path()).unwrap();
        assert_eq!(marker(d.path()), None);
    }

    #[test]
    fn a_corrupt_marker_reads_as_none() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(marker_path(d.path()), b"{not json").unwrap();
        assert_eq!(marker(d.path()), None);
    }
}
