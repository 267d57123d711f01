//! `receipt new` and `receipt check`: make a strong recovery receipt, and
//! check one for typos and obvious weakness without touching any state.

use azmx_sync_core::receipt::{self as core_receipt, Format};
use clap::Subcommand;
use secrecy::ExposeSecret;
use serde_json::json;

use crate::error::CliResult;
use crate::receipt::{self, ReceiptArgs};
use crate::render::{print_json, Style};
use crate::Ctx;

#[derive(Subcommand)]
pub enum ReceiptCmd {
    /// Print a new recovery receipt: 140 random bits, typable groups and a
    /// checksum group (AZR1-XXXX-…-CCCC). Only the receipt goes to stdout.
    New,
    /// Check a receipt (read as `init` reads it): ok, a typo in group N
    /// (exit 3), or weak and why. Nothing is stored or sent.
    Check(ReceiptArgs),
}

pub fn receipt(ctx: &Ctx, cmd: ReceiptCmd) -> CliResult {
    match cmd {
        ReceiptCmd::New => {
            let r = core_receipt::generate();
            if ctx.json {
                print_json(&json!({ "receipt": r.expose_secret() }));
            } else {
                println!("{}", r.expose_secret());
            }
            Ok(())
        }
        ReceiptCmd::Check(args) => check(ctx, &args),
    }
}

fn check(ctx: &Ctx, args: &ReceiptArgs) -> CliResult {
    // A typo is an error (exit 3), as `init` would refuse the receipt.
    let r = receipt::read_checked(args)?;
    let r = r.expose_secret();
    let azr1 = core_receipt::check_format(r) == Ok(Format::Azr1);
    let strength = core_receipt::assess(r);
    if ctx.json {
        print_json(&json!({
            "format": if azr1 { "azr1" } else { "other" },
            "verdict": if strength.is_weak() { "weak" } else { "ok" },
            "weakness": strength.weakness.map(|w| w.code()),
            "estimatedBits": strength.estimated_bits,
        }));
        return Ok(());
    }
    let s = Style::stdout();
    match strength.weakness {
        Some(w) => {
            println!("{} {w}", s.yellow("weak:"));
            println!(
                "{}",
                s.dim(
                    "a relay operator or a database thief can test guesses offline; for a new \
                       license, `azmx-sync receipt new` makes a strong one"
                )
            );
        }
        None if azr1 => println!(
            "{} AZR1 receipt, checksum matches ({} random bits)",
            s.green("ok"),
            strength.estimated_bits
        ),
        None => println!(
            "{} not an AZR1 receipt, taken as given; nothing obviously weak (about {} bits)",
            s.green("ok"),
            strength.estimated_bits
        ),
    }
    Ok(())
}
