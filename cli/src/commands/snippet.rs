//! `snippet add | edit | rm | list`: saved prompts, scoped to a handle.

use azmx_sync_core::merge::{Record, RecordKey};
use clap::Subcommand;
use serde_json::{json, Value};

use super::read_text_arg;
use crate::device::Device;
use crate::error::{CliError, CliResult};
use crate::render::{self, print_json, Style};
use crate::store::{body_text, next_time, Stores, DEFAULT_HANDLE};
use crate::Ctx;

#[derive(Subcommand)]
pub enum SnippetCmd {
    /// Save a snippet (TEXT `-` reads it from stdin).
    Add {
        /// Snippet id (default: a new random id).
        #[arg(long)]
        id: Option<String>,
        /// Handle the snippet is scoped to.
        #[arg(long, default_value = DEFAULT_HANDLE)]
        handle: String,
        text: String,
    },
    /// Replace a snippet's text (TEXT `-` reads it from stdin).
    Edit {
        id: String,
        text: String,
        /// Needed only when the id exists under several handles.
        #[arg(long)]
        handle: Option<String>,
    },
    /// Delete a snippet (on every device, after sync).
    Rm {
        id: String,
        /// Needed only when the id exists under several handles.
        #[arg(long)]
        handle: Option<String>,
    },
    /// List snippets.
    List {
        /// Only this handle.
        #[arg(long)]
        handle: Option<String>,
        /// Include deleted snippets (tombstones).
        #[arg(long)]
        deleted: bool,
    },
}

fn new_id(prefix: &str) -> String {
    use rand_core::{OsRng, RngCore};
    let mut b = [0u8; 5];
    OsRng.fill_bytes(&mut b);
    format!("{prefix}{}", hex::encode(b))
}

fn snippet_json(r: &Record) -> Value {
    json!({
        "handle": r.scope,
        "id": r.id,
        "text": r.body.as_ref().and_then(|b| b.to_value().get("text").cloned()),
        "updatedAt": r.updated_at,
        "deviceId": r.device_id,
        "deleted": r.deleted,
    })
}

/// The handle of snippet `id`: the given one, or the only handle holding a
/// live snippet with that id.
fn find_handle(stores: &Stores, id: &str, handle: Option<String>) -> CliResult<String> {
    if let Some(h) = handle {
        return Ok(h);
    }
    let hits: Vec<String> = stores
        .snippets
        .live()?
        .into_iter()
        .filter(|r| r.id == id)
        .filter_map(|r| r.scope)
        .collect();
    match hits.len() {
        0 => Err(CliError::generic(format!("no snippet `{id}`"))
            .hint("`azmx-sync snippet list` shows the ids")),
        1 => Ok(hits[0].clone()),
        _ => Err(CliError::usage(format!(
            "snippet `{id}` exists under several handles ({}); pass --handle",
            hits.join(", ")
        ))),
    }
}

pub fn snippet(ctx: &Ctx, cmd: SnippetCmd) -> CliResult {
    let s = Style::stdout();
    match cmd {
        SnippetCmd::List { handle, deleted } => {
            let stores = Stores::open_for_reading(&ctx.state_dir)?;
            let rows: Vec<Record> = stores
                .snippets
                .all()?
                .into_iter()
                .filter(|r| deleted || !r.deleted)
                .filter(|r| handle.is_none() || r.scope == handle)
                .collect();
            if ctx.json {
                print_json(&Value::Array(rows.iter().map(snippet_json).collect()));
                return Ok(());
            }
            if rows.is_empty() {
                println!("no snippets");
                return Ok(());
            }
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.scope.clone().unwrap_or_default(),
                        r.id.clone(),
                        render::ago(r.updated_at),
                        if r.deleted {
                            s.dim("(deleted)")
                        } else {
                            render::one_line(&body_text(r), 60)
                        },
                    ]
                })
                .collect();
            render::table(&["HANDLE", "ID", "UPDATED", "TEXT"], &table);
            Ok(())
        }
        SnippetCmd::Add { id, handle, text } => {
            let text = read_text_arg(text)?;
            let dev = Device::open(&ctx.state_dir)?;
            let device_id = dev.require_id()?;
            let id = id.unwrap_or_else(|| new_id("s_"));
            let key = RecordKey::new(Some(handle.clone()), id.clone());
            let rec = dev.stores.snippets.write(&key, |cur| {
                if cur.is_some_and(|c| !c.deleted) {
                    return Err(CliError::usage(format!(
                        "snippet `{id}` already exists under handle `{handle}`"
                    ))
                    .hint(format!("use `azmx-sync snippet edit {id} TEXT`")));
                }
                Ok(Record::new(
                    &id,
                    Some(handle.clone()),
                    next_time(cur),
                    None,
                    &device_id,
                    json!({ "text": text }),
                ))
            })?;
            if ctx.json {
                print_json(&snippet_json(&rec));
            } else {
                println!("added snippet {} (handle {})", s.cyan(&rec.id), handle);
            }
            Ok(())
        }
        SnippetCmd::Edit { id, text, handle } => {
            let text = read_text_arg(text)?;
            change(ctx, &id, handle, Some(text))
        }
        SnippetCmd::Rm { id, handle } => change(ctx, &id, handle, None),
    }
}

/// `edit` (with the new text) or `rm` (without) of a live snippet.
fn change(ctx: &Ctx, id: &str, handle: Option<String>, text: Option<String>) -> CliResult {
    let dev = Device::open(&ctx.state_dir)?;
    let device_id = dev.require_id()?;
    let handle = find_handle(&dev.stores, id, handle)?;
    let key = RecordKey::new(Some(handle.clone()), id.to_string());
    let rec = dev.stores.snippets.write(&key, |cur| {
        if cur.is_none_or(|c| c.deleted) {
            let e = CliError::generic(format!("no snippet `{id}` under handle `{handle}`"));
            return Err(match text {
                Some(_) => e.hint("`azmx-sync snippet list` shows the ids"),
                None => e,
            });
        }
        let (scope, at) = (Some(handle.clone()), next_time(cur));
        Ok(match &text {
            Some(t) => Record::new(id, scope, at, None, &device_id, json!({ "text": t })),
            None => Record::tombstone(id, scope, at, None, &device_id),
        })
    })?;
    if ctx.json {
        print_json(&snippet_json(&rec));
        return Ok(());
    }
    let s = Style::stdout();
    match text {
        Some(_) => println!("edited snippet {} (handle {})", s.cyan(&rec.id), handle),
        None => println!(
            "deleted snippet {} (handle {}); the delete reaches your other devices on sync",
            s.cyan(&rec.id),
            handle
        ),
    }
    Ok(())
}
