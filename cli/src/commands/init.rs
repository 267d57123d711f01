//! `init`: register this device with a relay and check the recovery receipt.

use std::sync::Arc;

use azmx_sync_core::engine::{check_relay_url, AuthorityMismatch, SyncError};
use azmx_sync_core::{EnvelopeKey, ReceiptKeys};
use clap::Args;
use serde_json::json;

use crate::device::Device;
use crate::error::{exit, CliError, CliResult};
use crate::key_source;
use crate::receipt::{self, ReceiptArgs};
use crate::relay_tls::{self, RelayTls};
use crate::render::{print_json, Style};
use crate::secret_store;
use crate::Ctx;

#[derive(Args)]
pub struct InitArgs {
    /// Relay URL, e.g. https://relay.example:8787 (plain http:// only to
    /// this machine, unless --allow-insecure-http).
    #[arg(long, env = "AZMX_RELAY_URL", value_name = "URL")]
    relay: String,
    /// License id (from the relay operator).
    #[arg(long, env = "AZMX_LICENSE_ID", value_name = "LID")]
    license_id: String,
    /// License key (from the relay operator); it only lets a device register
    /// and cannot decrypt anything. $AZMX_LICENSE_KEY keeps it out of the
    /// process list.
    #[arg(
        long,
        env = "AZMX_LICENSE_KEY",
        hide_env_values = true,
        // Keys are base64url and may start with '-'.
        allow_hyphen_values = true,
        value_name = "KEY"
    )]
    license_key: String,
    /// This device's name, shown in `devices` (default: the host name).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Keep the derived key (never the receipt) in the OS secret store, so
    /// that sync, sync --watch, export and `service` need no receipt.
    /// `logout` forgets it.
    #[arg(long)]
    remember: bool,
    #[command(flatten)]
    receipt: ReceiptArgs,
}

fn default_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "azmx-device".into())
}

pub fn init(ctx: &Ctx, a: InitArgs) -> CliResult {
    if !(a.relay.starts_with("http://") || a.relay.starts_with("https://")) {
        return Err(CliError::usage(format!(
            "--relay must be an http:// or https:// URL, got `{}`",
            a.relay
        )));
    }
    let relay = a.relay.trim_end_matches('/').to_string();
    // Plain HTTP to another machine is refused before the receipt prompt
    // and before any network use (the engine refuses it again itself).
    let allow = RelayTls::effective(&ctx.state_dir).allow_insecure_http;
    check_relay_url(&relay, allow).map_err(|e| CliError::from_sync(e, Some(&relay)))?;
    let name = a.name.unwrap_or_else(default_name);
    // The receipt first: a prompt should come before any network wait, and
    // a typo in an AZR1 receipt is refused before anything is registered.
    let receipt = receipt::read_checked(&a.receipt)?;
    receipt::warn_if_weak(&receipt, ctx.json);
    let dev = Device::create(&ctx.state_dir)?;
    // The receipt's keys before `register`: on a license with an authority
    // key (PROTOCOL §11) the engine compares the receipt's key with the
    // license's and refuses a wrong receipt before registering anything.
    // Derived here for the license being joined (one PBKDF2), not by
    // `set_receipt`, which derives for the license the state directory is
    // registered with, if any: a directory moving to another license
    // would get the old license's keys.
    let keys = ReceiptKeys::derive_secret(receipt, &a.license_id)
        .map_err(|e| CliError::new(exit::RECEIPT, e.to_string()))?;
    let envelope = Arc::new(keys.envelope);
    dev.engine.set_receipt_keys(
        &a.license_id,
        Arc::clone(&envelope),
        Arc::new(keys.authority),
    );
    let device_id = match dev
        .engine
        .register(&relay, &a.license_id, &a.license_key, &name)
    {
        Ok(id) => id,
        Err(SyncError::WrongReceipt { authority: Some(m) }) => {
            return Err(CliError::new(
                exit::RECEIPT,
                format!(
                    "wrong recovery receipt: its license authority key is not the one license \
                     {} has on the relay{}. Nothing was registered and nothing was changed",
                    a.license_id,
                    AuthorityMismatch::suffix(Some(&m))
                ),
            )
            .hint(
                "run `azmx-sync init` again with the receipt from your activation email; if it \
                 is the right one, the license's key is someone else's (a claim by another \
                 license-key holder, or a relay that changed it: `azmx-sync status` says so): \
                 ask the relay's operator to set yours (`azmx-sync authority-key` prints it)",
            ));
        }
        Err(e) => return Err(CliError::from_sync(e, Some(&relay))),
    };
    // Registered with this relay: later commands reach it the same way.
    relay_tls::remember(&ctx.state_dir)?;
    let authority = dev.engine.license_authority_found();
    if authority == Some(false) {
        warn_no_authority(&a.license_id, ctx.json);
    }
    match dev.engine.verify_receipt() {
        Ok(()) => {}
        Err(SyncError::WrongReceipt { .. }) => {
            return Err(CliError::new(
                exit::RECEIPT,
                format!(
                    "wrong recovery receipt: it does not match the one license {} was set up \
                     with. The device is registered ({device_id}) but will not sync with this \
                     receipt; no data was changed",
                    a.license_id
                ),
            )
            .hint("run `azmx-sync init` again with the receipt from your activation email"));
        }
        Err(e) => return Err(dev.sync_err(e)),
    }
    let remembered = keep_key(ctx, &dev, a.remember, &envelope);
    if ctx.json {
        print_json(&json!({
            "deviceId": device_id,
            "name": name,
            "relay": relay,
            "licenseId": a.license_id,
            "stateDir": ctx.state_dir,
            "receiptChecked": true,
            // true: the license has an authority key and this receipt's
            // matched; false: it has none (PROTOCOL §11.6).
            "licenseAuthority": authority,
            "keyRemembered": remembered,
        }));
        return Ok(());
    }
    let s = Style::stdout();
    println!(
        "{} registered {} as {} with {} (license {})",
        s.green("ok"),
        s.bold(&name),
        s.cyan(&device_id),
        relay,
        a.license_id
    );
    println!(
        "{} recovery receipt matches this license's key check",
        s.green("ok")
    );
    println!("state    {}", ctx.state_dir.display());
    if remembered {
        println!(
            "{} key kept in {} (the receipt itself is never stored)",
            s.green("ok"),
            secret_store::store_name()
        );
        println!(
            "next     azmx-sync sync   {}",
            s.dim("(no receipt needed; `azmx-sync service install` syncs in the background)")
        );
    } else {
        println!(
            "next     azmx-sync sync   {}",
            s.dim("(the receipt is never stored: sync, export and import ask for it again)")
        );
    }
    Ok(())
}

/// `--remember`: keeps the checked key in the OS secret store; without a
/// store, says so and the device works as without `--remember`. Without
/// it, a key an earlier `init --remember` kept here is forgotten: the
/// device starts over. `true` when the key is kept.
fn keep_key(ctx: &Ctx, dev: &Device, remember: bool, envelope: &EnvelopeKey) -> bool {
    let earlier: Vec<_> = secret_store::marker(&ctx.state_dir).into_iter().collect();
    let slot = key_source::this_device(dev);
    if remember {
        if let Some(slot) = slot {
            let stale: Vec<_> = earlier.into_iter().filter(|s| *s != slot).collect();
            let _ = stale
                .iter()
                .try_for_each(|s| secret_store::delete(s).map(|_| ()));
            match key_source::remember(&ctx.state_dir, &slot, envelope) {
                Ok(()) => return true,
                Err(e) => key_source::warn(
                    ctx.json,
                    "secret_store_unavailable",
                    &format!(
                        "the key was not kept: {e}. sync, export and import will ask for the \
                         receipt"
                    ),
                ),
            }
        }
        return false;
    }
    if !earlier.is_empty() {
        if let Err(e) = key_source::forget(&ctx.state_dir, &earlier) {
            key_source::warn(
                ctx.json,
                "secret_store_unavailable",
                &format!("the key an earlier `init --remember` kept could not be removed: {e}"),
            );
        }
    }
    false
}

/// PROTOCOL §11.5: a license without an authority key lets anyone holding
/// the license key register and revoke devices.
fn warn_no_authority(license_id: &str, json: bool) {
    if json {
        let v = json!({ "warning": { "code": "no_license_authority", "licenseId": license_id } });
        eprintln!("{v}");
        return;
    }
    eprintln!(
        "{} license {license_id} has no authority key on the relay: anyone with the license \
         key can register and revoke its devices. Ask the relay operator to set one: \
         `azmx-sync authority-key --license-id {license_id}` prints it",
        Style::stderr().yellow("warning:")
    );
}
