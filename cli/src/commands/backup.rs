//! `export FILE` and `import FILE`: the encrypted backup of every store.

use std::path::Path;

use azmx_sync_core::engine::SyncError;
use serde_json::json;

use crate::device::Device;
use crate::error::{CliError, CliResult};
use crate::receipt::ReceiptArgs;
use crate::render::{self, print_json, Progress, Style};
use crate::Ctx;

pub fn export(ctx: &Ctx, file: &Path, receipt: &ReceiptArgs) -> CliResult {
    let dev = Device::open(&ctx.state_dir)?;
    dev.require_id()?;
    crate::key_source::give_key(&dev, &ctx.state_dir, receipt, ctx.json)?;
    // A file sealed with a mistyped receipt would be useless: check it first
    // when the relay is there (export also works offline).
    let mut checked = true;
    match dev.engine.verify_receipt() {
        Ok(()) => {}
        Err(SyncError::Network { .. }) => {
            checked = false;
            if !ctx.json {
                eprintln!(
                    "{} relay unreachable: the receipt could not be checked; the file is \
                     sealed with the receipt you gave",
                    Style::stderr().yellow("note:")
                );
            }
        }
        Err(e) => return Err(dev.sync_err(e)),
    }
    let progress = Progress::start("exporting", !ctx.json);
    let n = dev.engine.export(file).map_err(|e| dev.sync_err(e));
    progress.finish();
    let n = n?;
    if ctx.json {
        print_json(&json!({ "records": n, "file": file, "receiptChecked": checked }));
    } else {
        println!(
            "{} exported {} to {} (encrypted with your receipt's key; 0600)",
            Style::stdout().green("ok"),
            render::plural(n, "record", "records"),
            file.display()
        );
    }
    Ok(())
}

pub fn import(ctx: &Ctx, file: &Path, receipt: &ReceiptArgs) -> CliResult {
    let dev = Device::open(&ctx.state_dir)?;
    dev.require_id()?;
    if !file.is_file() {
        return Err(CliError::usage(format!("no such file: {}", file.display())));
    }
    crate::key_source::give_key(&dev, &ctx.state_dir, receipt, ctx.json)?;
    let progress = Progress::start("importing", !ctx.json);
    let n = dev.engine.import(file).map_err(|e| dev.sync_err(e));
    progress.finish();
    let n = n?;
    if ctx.json {
        print_json(&json!({ "applied": n, "file": file }));
    } else {
        println!(
            "{} imported {}: {} applied (merged with each store's rules; importing again changes nothing)",
            Style::stdout().green("ok"),
            file.display(),
            render::plural(n, "change", "changes")
        );
    }
    Ok(())
}
