//! `azmx-sync relay serve | license ... | device ... | devices`: the relay's own command
//! line (`azmx_sync_relay::cmd`, the same flags, environment variables and
//! config file as `azmx-sync-relay`), printed the CLI's way: `--json`,
//! tables and documented exit codes.

use std::io::Write;

use azmx_sync_relay::cmd::{self, CmdError, Outcome, RelayCmd};
use serde_json::json;

use crate::error::{exit, CliError, CliResult};
use crate::render;
use crate::Ctx;

pub use azmx_sync_relay::cmd::RelayArgs;

/// `relay serve` runs until a signal (it keeps Rust's SIGPIPE handling).
pub fn is_serve(a: &RelayArgs) -> bool {
    matches!(a.cmd, RelayCmd::Serve(_))
}

impl From<CmdError> for CliError {
    fn from(e: CmdError) -> Self {
        let code = if e.is_usage() {
            exit::USAGE
        } else {
            exit::GENERIC
        };
        let mut out = CliError::new(code, e.message);
        out.hint = e.hint;
        out
    }
}

pub fn run(ctx: &Ctx, args: RelayArgs) -> CliResult {
    match cmd::execute(args)? {
        // stdout may be gone by now (a closed pipe): not worth a failure.
        Outcome::Stopped => drop(writeln!(std::io::stdout(), "stopped")),
        Outcome::LicenseAdded { license_id, key } => {
            if ctx.json {
                println!("{}", json!({ "licenseId": license_id, "licenseKey": key }));
            } else {
                println!("{}", cmd::license_added_line(&license_id, &key));
            }
        }
        Outcome::AuthorityKeySet {
            license_id,
            authority_key,
            fingerprint,
            changed,
        } => {
            if ctx.json {
                println!(
                    "{}",
                    json!({ "licenseId": license_id, "authorityKey": authority_key,
                            "fingerprint": fingerprint, "changed": changed })
                );
            } else {
                let line =
                    cmd::authority_key_set_line(&license_id, &authority_key, &fingerprint, changed);
                println!("{line}");
            }
        }
        Outcome::Licenses { licenses } => {
            if ctx.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&licenses).unwrap_or_default()
                );
            } else {
                println!("{}", cmd::license_lines(&licenses));
            }
        }
        Outcome::Devices {
            license_id,
            devices: list,
        } => {
            if ctx.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
                return Ok(());
            }
            if list.is_empty() {
                println!("license {license_id} has no devices yet");
                return Ok(());
            }
            render::devices(&list, None);
        }
        // The operator's license rules and device tools: one line, or
        // their JSON.
        other => {
            let text = match ctx.json {
                true => other.json().map(|v| v.to_string()),
                false => other.plain(),
            };
            if let Some(text) = text {
                println!("{text}");
            }
        }
    }
    Ok(())
}
