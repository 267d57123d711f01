//! `login`: check the receipt of an initialised device and keep its derived
//! key in the OS secret store, so that `sync`, `sync --watch`, `export` and
//! the service need no receipt. `logout`: take it out again.

use std::sync::Arc;

use azmx_sync_core::engine::SyncError;
use azmx_sync_core::ReceiptKeys;
use clap::Args;
use serde_json::json;

use crate::device::Device;
use crate::error::{exit, CliError, CliResult};
use crate::key_source::{self, this_device};
use crate::receipt::{self, ReceiptArgs};
use crate::render::{print_json, Style};
use crate::secret_store::{self, StoreError};
use crate::Ctx;

#[derive(Args)]
pub struct LoginArgs {
    #[command(flatten)]
    receipt: ReceiptArgs,
}

pub fn login(ctx: &Ctx, a: LoginArgs) -> CliResult {
    let dev = Device::open(&ctx.state_dir)?;
    dev.require_id()?;
    let slot = this_device(&dev).ok_or_else(CliError::not_initialised)?;
    let r = receipt::read_checked(&a.receipt)?;
    let keys = ReceiptKeys::derive_secret(r, &slot.license_id)
        .map_err(|e| CliError::new(exit::RECEIPT, e.to_string()))?;
    let envelope = Arc::new(keys.envelope);
    dev.engine.set_receipt_keys(
        &slot.license_id,
        Arc::clone(&envelope),
        Arc::new(keys.authority),
    );
    // Only a key that passes the license's key check is kept: a wrong one
    // would make every unattended run fail.
    match dev.engine.verify_receipt() {
        Ok(()) => {}
        Err(SyncError::Network { message }) => {
            return Err(CliError::new(
                exit::UNREACHABLE,
                format!(
                    "relay unreachable ({message}): the receipt could not be checked, so its \
                     key was not kept"
                ),
            )
            .hint("run `azmx-sync login` again when the relay is reachable"));
        }
        Err(e) => return Err(dev.sync_err(e)),
    }
    key_source::remember(&ctx.state_dir, &slot, &envelope).map_err(store_error)?;
    if ctx.json {
        print_json(&json!({
            "remembered": true,
            "store": secret_store::store_name(),
            "service": secret_store::SERVICE,
            "account": slot.account(),
        }));
        return Ok(());
    }
    let s = Style::stdout();
    println!(
        "{} receipt checked; this device's key is kept in {} ({} {})",
        s.green("ok"),
        secret_store::store_name(),
        secret_store::SERVICE,
        slot.account()
    );
    println!(
        "next     azmx-sync sync   {}",
        s.dim("(no receipt needed now; `azmx-sync logout` forgets the key)")
    );
    Ok(())
}

pub fn logout(ctx: &Ctx) -> CliResult {
    let dev = Device::open(&ctx.state_dir)?;
    // The marker's slot and this registration's: a key kept before a
    // re-registration is forgotten too.
    let mut slots: Vec<_> = secret_store::marker(&ctx.state_dir).into_iter().collect();
    if let Some(s) = this_device(&dev) {
        if !slots.contains(&s) {
            slots.push(s);
        }
    }
    let found = key_source::forget(&ctx.state_dir, &slots).map_err(store_error)?;
    if ctx.json {
        print_json(&json!({ "forgotten": found, "store": secret_store::store_name() }));
    } else if found {
        println!(
            "{} this device's key is no longer in {}; sync asks for the receipt again",
            Style::stdout().green("ok"),
            secret_store::store_name()
        );
    } else {
        println!(
            "no key of this device was in {}; nothing to forget",
            secret_store::store_name()
        );
    }
    Ok(())
}

fn store_error(e: StoreError) -> CliError {
    CliError::generic(e.to_string()).hint(
        "on Linux a Secret Service must be running and unlocked (GNOME Keyring, KeePassXC's \
         or KWallet's); without one, give the receipt to each command instead",
    )
}
