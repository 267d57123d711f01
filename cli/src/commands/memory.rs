//! `memory put | get | rm | list`: global facts that follow you.

use azmx_sync_core::merge::{Record, RecordKey};
use clap::Subcommand;
use serde_json::{json, Value};

use super::read_text_arg;
use crate::device::Device;
use crate::error::{CliError, CliResult};
use crate::render::{self, print_json, Style};
use crate::store::{body_text, next_time, next_version, Stores};
use crate::Ctx;

#[derive(Subcommand)]
pub enum MemoryCmd {
    /// Store a fact under KEY (bumps its version).
    Put { key: String, text: String },
    /// Print the fact stored under KEY.
    Get { key: String },
    /// Delete the fact under KEY (bumps its version).
    Rm { key: String },
    /// List facts.
    List,
}

fn memory_json(r: &Record) -> Value {
    json!({
        "key": r.id,
        "text": r.body.as_ref().and_then(|b| b.to_value().get("fact").cloned()),
        "version": r.version,
        "updatedAt": r.updated_at,
        "deviceId": r.device_id,
        "deleted": r.deleted,
    })
}

pub fn memory(ctx: &Ctx, cmd: MemoryCmd) -> CliResult {
    let s = Style::stdout();
    match cmd {
        MemoryCmd::Put { key, text } => {
            let text = read_text_arg(text)?;
            let dev = Device::open(&ctx.state_dir)?;
            let device_id = dev.require_id()?;
            let rec = dev
                .stores
                .memory
                .write(&RecordKey::new(None, key.clone()), |cur| {
                    let version = next_version(cur);
                    Ok(Record::new(
                        &key,
                        None,
                        next_time(cur),
                        Some(version),
                        &device_id,
                        json!({ "fact": text }),
                    ))
                })?;
            if ctx.json {
                print_json(&memory_json(&rec));
            } else {
                println!(
                    "stored {} (version {})",
                    s.cyan(&key),
                    rec.version.unwrap_or(0)
                );
            }
            Ok(())
        }
        MemoryCmd::Get { key } => {
            let stores = Stores::open_for_reading(&ctx.state_dir)?;
            match stores.memory.get(None, &key)? {
                Some(r) if !r.deleted => {
                    if ctx.json {
                        print_json(&memory_json(&r));
                    } else {
                        println!("{}", body_text(&r));
                    }
                    Ok(())
                }
                _ => Err(CliError::generic(format!("no memory under `{key}`"))
                    .hint("`azmx-sync memory list` shows the keys")),
            }
        }
        MemoryCmd::Rm { key } => {
            let dev = Device::open(&ctx.state_dir)?;
            let device_id = dev.require_id()?;
            let rec =
                dev.stores
                    .memory
                    .write(&RecordKey::new(None, key.clone()), |cur| match cur {
                        Some(c) if !c.deleted => Ok(Record::tombstone(
                            &key,
                            None,
                            next_time(cur),
                            Some(next_version(Some(c))),
                            &device_id,
                        )),
                        _ => Err(CliError::generic(format!("no memory under `{key}`"))),
                    })?;
            if ctx.json {
                print_json(&memory_json(&rec));
            } else {
                println!(
                    "deleted {} (version {}); the delete reaches your other devices on sync",
                    s.cyan(&key),
                    rec.version.unwrap_or(0)
                );
            }
            Ok(())
        }
        MemoryCmd::List => {
            let stores = Stores::open_for_reading(&ctx.state_dir)?;
            let rows = stores.memory.live()?;
            if ctx.json {
                print_json(&Value::Array(rows.iter().map(memory_json).collect()));
                return Ok(());
            }
            if rows.is_empty() {
                println!("no memory");
                return Ok(());
            }
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.id.clone(),
                        r.version.unwrap_or(0).to_string(),
                        render::ago(r.updated_at),
                        render::one_line(&body_text(r), 60),
                    ]
                })
                .collect();
            render::table(&["KEY", "VERSION", "UPDATED", "TEXT"], &table);
            Ok(())
        }
    }
}
