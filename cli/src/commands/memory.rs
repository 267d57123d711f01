//! `memory put | get | rm | list`: global facts that follow you, kept as
//! files in the memory folder (`memory_folder.rs`). The commands are a
//! convenience: any editor writing a file there does the same as `put`.

use azmx_sync_core::merge::{Record, RecordKey};
use clap::Subcommand;
use serde_json::{json, Value};

use super::read_text_arg;
use crate::device::Device;
use crate::error::{CliError, CliResult};
use crate::memory_folder::MemoryFolder;
use crate::render::{self, print_json, Style};
use crate::store::{body_text, next_time, next_version, LocalWrite, Stores};
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
    /// Print the memory folder's path.
    Dir,
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
            let rec = match readable(ctx)? {
                Reading::Device(dev) => dev.stores.memory.get(&key)?,
                Reading::Folder(folder) => peeked(&folder, Some(&key)).pop(),
            };
            match rec {
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
        MemoryCmd::Dir => {
            let stores = Stores::open_for_reading(&ctx.state_dir)?;
            if ctx.json {
                print_json(&json!({ "memoryDir": stores.memory.dir() }));
            } else {
                println!("{}", stores.memory.dir().display());
            }
            Ok(())
        }
        MemoryCmd::List => {
            let rows = match readable(ctx)? {
                Reading::Device(dev) => dev.stores.memory.live()?,
                Reading::Folder(folder) => peeked(&folder, None),
            };
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

/// Where `get` and `list` read: the device's folder with its bookkeeping,
/// or, before `init`, the folder's files alone (nothing is written).
enum Reading {
    Device(Box<Device>),
    Folder(MemoryFolder),
}

fn readable(ctx: &Ctx) -> CliResult<Reading> {
    match Device::open(&ctx.state_dir) {
        Ok(dev) => Ok(Reading::Device(Box::new(dev))),
        Err(e) if e.code == crate::error::exit::NOT_INITIALISED => Ok(Reading::Folder(
            Stores::open_for_reading(&ctx.state_dir)?.memory,
        )),
        Err(e) => Err(e),
    }
}

/// The folder's facts as unversioned records (no device has counted them yet).
fn peeked(folder: &MemoryFolder, only: Option<&str>) -> Vec<Record> {
    folder
        .peek()
        .into_iter()
        .filter(|(k, _)| only.is_none_or(|o| o == k))
        .map(|(k, text)| Record::new(k, None, 0, None, "-", json!({ "fact": text })))
        .collect()
}
