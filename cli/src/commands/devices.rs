//! `devices` and `revoke DEVICE_ID`: the license's devices as the relay
//! sees them, and cutting one off.

use serde_json::{json, Value};

use crate::device::Device;
use crate::error::CliResult;
use crate::receipt::ReceiptArgs;
use crate::render::{self, print_json, Style};
use crate::Ctx;

pub fn devices(ctx: &Ctx) -> CliResult {
    let dev = Device::open(&ctx.state_dir)?;
    let me = dev.require_id()?;
    let list = dev.engine.devices().map_err(|e| dev.sync_err(e))?;
    if ctx.json {
        let v: Vec<Value> = list
            .iter()
            .map(|d| {
                let mut v = serde_json::to_value(d).unwrap_or_default();
                v["thisDevice"] = json!(d.device_id == me);
                v
            })
            .collect();
        print_json(&Value::Array(v));
        return Ok(());
    }
    render::devices(&list, Some(&me));
    println!("{}", Style::stdout().dim("* this device"));
    Ok(())
}

/// With a receipt (`--receipt-file` or `$AZMX_RECEIPT`; never a prompt or
/// stdin, so scripts without one keep working on licenses without an
/// authority key), the revocation is signed by the license authority too
/// (PROTOCOL §11.3), which a license with an authority key requires. Without
/// one, the key `init --remember`/`login` kept signs it.
pub fn revoke(ctx: &Ctx, target: &str, receipt_args: &ReceiptArgs) -> CliResult {
    let dev = Device::open(&ctx.state_dir)?;
    let me = dev.require_id()?;
    if crate::key_source::explicit_receipt(receipt_args) {
        dev.give_receipt(receipt_args)?;
    } else {
        crate::key_source::give_remembered(&dev, &ctx.state_dir, ctx.json)?;
    }
    dev.engine.revoke(target).map_err(|e| dev.sync_err(e))?;
    if ctx.json {
        print_json(&json!({ "revoked": target, "thisDevice": target == me }));
    } else if target == me {
        println!("revoked {target}: this device can no longer sync");
    } else {
        println!(
            "revoked {target}: it can no longer push or pull; what it pushed before stays readable to the others"
        );
    }
    Ok(())
}
