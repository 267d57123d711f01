//! `authority-key`: print the license authority public key that a recovery
//! receipt derives (PROTOCOL §11), for the operator's
//! `relay license add --authority-key`. Nothing is sent or stored: the
//! receipt is read as `init` reads it, the key is derived locally (one
//! PBKDF2, ~100 ms) and only the public half is printed.

use azmx_sync_core::authority::authority_public_key;
use clap::Args;
use serde_json::json;

use crate::error::{exit, CliError, CliResult};
use crate::receipt::{self, ReceiptArgs};
use crate::render::{print_json, Style};
use crate::Ctx;

#[derive(Args)]
pub struct AuthorityKeyArgs {
    /// License id (the authority key is bound to it).
    #[arg(long, env = "AZMX_LICENSE_ID", value_name = "LID")]
    license_id: String,
    #[command(flatten)]
    receipt: ReceiptArgs,
}

pub fn authority_key(ctx: &Ctx, a: AuthorityKeyArgs) -> CliResult {
    azmx_sync_core::canonical::check_id("licenseId", &a.license_id)
        .map_err(|e| CliError::usage(format!("--license-id: {e}")))?;
    let receipt = receipt::read(&a.receipt)?;
    let key = authority_public_key(receipt, &a.license_id).map_err(|e| {
        // Only the empty-receipt case reaches here (the id was checked);
        // the message is the core's, which never carries the receipt.
        CliError::new(exit::RECEIPT, e.to_string())
    })?;
    if ctx.json {
        print_json(&json!({
            "licenseId": a.license_id,
            "authorityKey": key.to_string(),
            "fingerprint": key.fingerprint(),
        }));
        return Ok(());
    }
    // The key alone on stdout, so `$(azmx-sync authority-key …)` works;
    // what to do with it on stderr.
    println!("{key}");
    let s = Style::stderr();
    eprintln!(
        "{} the authority key of license {} (fingerprint {})",
        s.dim("above:"),
        a.license_id,
        key.fingerprint()
    );
    eprintln!(
        "  {} azmx-sync relay license add {} --authority-key {key}",
        s.dim("operator:"),
        a.license_id
    );
    Ok(())
}
