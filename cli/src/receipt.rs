//! Reading the recovery receipt. Never from a command-line argument (other
//! users can read those in the process list); never written anywhere.
//!
//! Sources, first that applies: `--receipt-file FILE`, the `AZMX_RECEIPT`
//! environment variable, standard input when it is not a terminal, and a
//! prompt without echo on the terminal. The engine keeps only the derived
//! key, in memory, so every command that needs the key (`init`, `sync`,
//! `export`, `import`) reads the receipt again the same way, and refuses an
//! AZR1 receipt with a typo before deriving anything (`read_checked`).

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use azmx_sync_core::kdf::trim_receipt;
use azmx_sync_core::receipt;
use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::error::{CliError, CliResult};

pub const RECEIPT_ENV: &str = "AZMX_RECEIPT";

#[derive(Args, Debug, Clone, Default)]
pub struct ReceiptArgs {
    /// Read the recovery receipt from this file (first non-blank line;
    /// surrounding ASCII whitespace ignored). Otherwise: $AZMX_RECEIPT, stdin when piped, or a
    /// prompt without echo.
    #[arg(long, value_name = "FILE")]
    pub receipt_file: Option<PathBuf>,
}

/// Longest receipt accepted (they are short codes; this bounds stdin reads).
const MAX_RECEIPT_BYTES: u64 = 4096;

pub fn read(args: &ReceiptArgs) -> CliResult<SecretString> {
    let raw: Zeroizing<String> = if let Some(path) = &args.receipt_file {
        let mut s = Zeroizing::new(String::new());
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_RECEIPT_BYTES).read_to_string(&mut s))
            .map_err(|e| {
                CliError::new(
                    crate::error::exit::RECEIPT,
                    format!("cannot read the receipt file {}: {e}", path.display()),
                )
            })?;
        first_line(&s)
    } else if let Some(v) = std::env::var_os(RECEIPT_ENV) {
        Zeroizing::new(v.to_string_lossy().into_owned())
    } else if !std::io::stdin().is_terminal() {
        let mut s = Zeroizing::new(String::new());
        std::io::stdin()
            .take(MAX_RECEIPT_BYTES)
            .read_to_string(&mut s)
            .map_err(|e| {
                CliError::new(
                    crate::error::exit::RECEIPT,
                    format!("cannot read the receipt from stdin: {e}"),
                )
            })?;
        first_line(&s)
    } else {
        Zeroizing::new(
            rpassword::prompt_password("Recovery receipt (not shown, never stored): ").map_err(
                |e| {
                    CliError::new(
                        crate::error::exit::RECEIPT,
                        format!("cannot prompt for the receipt: {e}"),
                    )
                },
            )?,
        )
    };
    // The core's rule (PROTOCOL §1), not `str::trim`: trimming Unicode
    // whitespace too would give this device a different key than the apps.
    let trimmed = trim_receipt(&raw);
    if trimmed.is_empty() {
        return Err(CliError::no_receipt());
    }
    Ok(SecretString::from(trimmed.to_string()))
}

/// [`read`], then refuses an AZR1 receipt with a typo (exit 3) before the
/// 600,000-round KDF and before anything is created or registered. Any
/// other receipt (a vendor's own) passes unchanged: core `receipt` module.
pub fn read_checked(args: &ReceiptArgs) -> CliResult<SecretString> {
    let r = read(args)?;
    if let Err(e) = receipt::check_format(r.expose_secret()) {
        // The error names a group and a kind of mistake, never the text.
        return Err(CliError::new(
            crate::error::exit::RECEIPT,
            format!("typo in the recovery receipt: {e}; nothing was changed"),
        )
        .hint("compare it with the receipt as printed (groups are counted from AZR1, group 1)"));
    }
    Ok(r)
}

/// Warns on stderr when the receipt is obviously weak (core
/// `receipt::assess`); the receipt is still used: it may be a vendor's.
pub fn warn_if_weak(r: &SecretString, json: bool) {
    let Some(w) = receipt::assess(r.expose_secret()).weakness else {
        return;
    };
    if json {
        let v = serde_json::json!({ "warning": { "code": "weak_receipt", "weakness": w.code() } });
        eprintln!("{v}");
        return;
    }
    let s = crate::render::Style::stderr();
    eprintln!(
        "{} the recovery receipt is weak: {w}. Anyone holding the relay's data can test guesses \
         offline; for a new license, `azmx-sync receipt new` makes a strong one",
        s.yellow("warning:")
    );
}

fn first_line(s: &str) -> Zeroizing<String> {
    Zeroizing::new(
        s.lines()
            .map(trim_receipt)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use azmx_sync_core::EnvelopeKey;

    /// Issue 11 defect 9: what the CLI hands the engine must derive the same
    /// key as the raw text given to the core directly (the apps' path), for
    /// receipts pasted with Unicode whitespace around them.
    #[test]
    fn the_cli_reads_a_receipt_as_the_core_trims_it() {
        let d = tempfile::tempdir().unwrap();
        for raw in [
            "RCPT-7F3A-99C2\u{a0}",
            "\u{2003}RCPT-7F3A-99C2",
            "  RCPT-7F3A-99C2\u{a0}\r\n",
            "\u{feff}RCPT-7F3A-99C2\n",
        ] {
            let file = d.path().join("receipt.txt");
            std::fs::write(&file, raw).unwrap();
            let args = ReceiptArgs {
                receipt_file: Some(file),
            };
            let read = read(&args).unwrap();
            assert_eq!(
                read.expose_secret(),
                azmx_sync_core::kdf::trim_receipt(raw),
                "{raw:?}"
            );
        }
        // One derivation end to end: the CLI's and the apps' keys are equal.
        let raw = "RCPT-7F3A-99C2\u{a0}\n";
        let file = d.path().join("one.txt");
        std::fs::write(&file, raw).unwrap();
        let cli = read(&ReceiptArgs {
            receipt_file: Some(file),
        })
        .unwrap();
        assert_eq!(
            EnvelopeKey::derive_secret(cli, "lic").unwrap(),
            EnvelopeKey::derive(raw, "lic").unwrap()
        );
    }
}
