//! Where a command gets the license's keys: a receipt given on purpose
//! (`--receipt-file`, `$AZMX_RECEIPT`) first, then the key `init --remember`
//! or `login` kept in the OS secret store (`secret_store`), then the
//! receipt from stdin or a prompt. A remembered key that cannot be read is
//! said on stderr, and the receipt is asked for as without one.

use std::path::Path;
use std::sync::Arc;

use azmx_sync_core::{AuthorityKey, EnvelopeKey};
use serde_json::json;

use crate::device::Device;
use crate::error::{exit, CliError, CliResult};
use crate::receipt::{ReceiptArgs, RECEIPT_ENV};
use crate::render::Style;
use crate::secret_store::{self, Slot, StoreError};

/// A receipt the user pointed at for this command.
pub fn explicit_receipt(args: &ReceiptArgs) -> bool {
    args.receipt_file.is_some() || std::env::var_os(RECEIPT_ENV).is_some()
}

/// For `sync`, `export`, `import`: the engine gets the keys from the first
/// source that has them.
pub fn give_key(dev: &Device, state_dir: &Path, args: &ReceiptArgs, json: bool) -> CliResult {
    if !explicit_receipt(args) && give_remembered(dev, state_dir, json)? {
        return Ok(());
    }
    dev.give_receipt(args)
}

/// The remembered key, if this device keeps one and the store gives it:
/// `Ok(true)` when the engine has it now.
pub fn give_remembered(dev: &Device, state_dir: &Path, json: bool) -> CliResult<bool> {
    let Some(slot) = secret_store::marker(state_dir) else {
        return Ok(false);
    };
    if this_device(dev).as_ref() != Some(&slot) {
        warn(
            json,
            "secret_store_other_device",
            &format!(
                "the key remembered in {} is for {} (not this device's registration); asking \
                 for the receipt. `azmx-sync login` keeps this device's key",
                secret_store::store_name(),
                slot.account()
            ),
        );
        return Ok(false);
    }
    match secret_store::load(&slot) {
        Ok(Some(envelope)) => {
            let authority = AuthorityKey::from_envelope_key(&envelope, &slot.license_id)
                .map_err(|e| CliError::new(exit::RECEIPT, e.to_string()))?;
            dev.engine
                .set_receipt_keys(&slot.license_id, Arc::new(envelope), Arc::new(authority));
            Ok(true)
        }
        Ok(None) => {
            warn(
                json,
                "secret_store_entry_missing",
                &format!(
                    "this device's key is no longer in {} (removed outside azmx-sync?); asking \
                     for the receipt. `azmx-sync login` keeps it again",
                    secret_store::store_name()
                ),
            );
            Ok(false)
        }
        Err(e) => {
            warn(
                json,
                "secret_store_unavailable",
                &format!("cannot read the remembered key: {e}; asking for the receipt instead"),
            );
            Ok(false)
        }
    }
}

/// The slot of this device's registration, once it has one.
pub fn this_device(dev: &Device) -> Option<Slot> {
    let st = dev.engine.status();
    Some(Slot {
        license_id: st.license_id?,
        device_id: st.device_id?,
    })
}

/// Keeps `key` for `slot` and marks the state directory as keeping one.
pub fn remember(state_dir: &Path, slot: &Slot, key: &EnvelopeKey) -> Result<(), StoreError> {
    secret_store::store(slot, key)?;
    secret_store::write_marker(state_dir, slot).map_err(|e| {
        // A key the device does not know it keeps would stay behind after
        // `logout`: take it out again.
        let _ = secret_store::delete(slot);
        StoreError(format!("cannot write {}: {e}", secret_store::MARKER_FILE))
    })
}

/// Deletes the entry of each slot, then the marker: `true` if an entry was
/// there. On a store error the marker stays, so `logout` can be retried.
pub fn forget(state_dir: &Path, slots: &[Slot]) -> Result<bool, StoreError> {
    let mut found = false;
    for s in slots {
        found |= secret_store::delete(s)?;
    }
    secret_store::remove_marker(state_dir)
        .map_err(|e| StoreError(format!("cannot remove {}: {e}", secret_store::MARKER_FILE)))?;
    Ok(found)
}

/// A note on stderr (a JSON object with `--json`), as the other warnings.
pub fn warn(json: bool, code: &str, message: &str) {
    if json {
        let v = json!({ "warning": { "code": code, "message": message } });
        eprintln!("{v}");
        return;
    }
    eprintln!("{} {message}", Style::stderr().yellow("note:"));
}
