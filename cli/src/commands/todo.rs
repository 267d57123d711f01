//! `todo set | list`: per-session todo lists.

use azmx_sync_core::merge::{Record, RecordKey};
use clap::Subcommand;
use serde_json::{json, Value};

use super::read_text_arg;
use crate::device::Device;
use crate::error::{CliError, CliResult};
use crate::render::{self, print_json, Style};
use crate::store::{next_time, Stores};
use crate::Ctx;

#[derive(Subcommand)]
pub enum TodoCmd {
    /// Replace a session's todo list. JSON_ITEMS is a JSON array of items
    /// ({"id","content","status"}) or of strings (`-` reads stdin);
    /// missing ids are numbered, missing statuses are "pending".
    Set {
        session: String,
        #[arg(value_name = "JSON_ITEMS")]
        items: String,
    },
    /// List todo lists (all sessions, or one).
    List { session: Option<String> },
}

/// Accepts an array of items (objects or strings) or `{"items": [...]}`;
/// numbers missing ids and defaults missing statuses to "pending".
fn todo_body(raw: &str) -> CliResult<Value> {
    let v: Value = serde_json::from_str(raw).map_err(|e| {
        CliError::usage(format!("JSON_ITEMS is not valid JSON ({e})")).hint(
            r#"e.g. '[{"id":"1","content":"write tests","status":"in_progress"}]' or '["a","b"]'"#,
        )
    })?;
    let items = match v {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("items") {
            Some(Value::Array(a)) => a,
            _ => return Err(CliError::usage("JSON_ITEMS object has no `items` array")),
        },
        _ => return Err(CliError::usage("JSON_ITEMS must be a JSON array of items")),
    };
    let items: Vec<Value> = items
        .into_iter()
        .enumerate()
        .map(|(i, it)| match it {
            Value::String(content) => {
                json!({ "id": (i + 1).to_string(), "content": content, "status": "pending" })
            }
            Value::Object(mut o) => {
                o.entry("id").or_insert_with(|| json!((i + 1).to_string()));
                o.entry("status").or_insert_with(|| json!("pending"));
                Value::Object(o)
            }
            other => other,
        })
        .collect();
    let body = json!({ "items": items });
    azmx_sync_core::merge::validate_todos(&body)
        .map_err(|e| CliError::usage(format!("invalid todo list: {e}")))?;
    Ok(body)
}

fn todo_json(r: &Record) -> Value {
    json!({
        "session": r.id,
        "items": r.body.as_ref().and_then(|b| b.to_value().get("items").cloned()).unwrap_or(json!([])),
        "updatedAt": r.updated_at,
        "deviceId": r.device_id,
    })
}

pub fn todo(ctx: &Ctx, cmd: TodoCmd) -> CliResult {
    let s = Style::stdout();
    match cmd {
        TodoCmd::Set { session, items } => {
            let items = read_text_arg(items)?;
            let body = todo_body(&items)?;
            let dev = Device::open(&ctx.state_dir)?;
            let device_id = dev.require_id()?;
            let key = RecordKey::new(None, session.clone());
            let rec = dev.stores.todos.write(&key, |cur| {
                Ok(Record::new(
                    &session,
                    None,
                    next_time(cur),
                    None,
                    &device_id,
                    body,
                ))
            })?;
            if ctx.json {
                print_json(&todo_json(&rec));
            } else {
                let n = rec
                    .body
                    .as_ref()
                    .and_then(|b| b.to_value()["items"].as_array().map(Vec::len))
                    .unwrap_or(0);
                println!(
                    "set todo list {} ({})",
                    s.cyan(&session),
                    render::plural(n as u64, "item", "items")
                );
            }
            Ok(())
        }
        TodoCmd::List { session } => {
            let stores = Stores::open_for_reading(&ctx.state_dir)?;
            let lists: Vec<Record> = stores
                .todos
                .live()?
                .into_iter()
                .filter(|r| session.as_ref().is_none_or(|sid| &r.id == sid))
                .collect();
            if ctx.json {
                print_json(&Value::Array(lists.iter().map(todo_json).collect()));
                return Ok(());
            }
            if lists.is_empty() {
                println!("no todo lists");
                return Ok(());
            }
            for r in &lists {
                let items = r
                    .body
                    .as_ref()
                    .and_then(|b| b.to_value()["items"].as_array().cloned())
                    .unwrap_or_default();
                println!(
                    "{}  {}",
                    s.bold(&r.id),
                    s.dim(&format!(
                        "{} · updated {}",
                        render::plural(items.len() as u64, "item", "items"),
                        render::ago(r.updated_at)
                    ))
                );
                for it in items {
                    let mark = match it["status"].as_str() {
                        Some("completed") => s.green("[x]"),
                        Some("in_progress") => s.yellow("[>]"),
                        _ => "[ ]".to_string(),
                    };
                    println!(
                        "  {mark} {}",
                        render::one_line(it["content"].as_str().unwrap_or(""), 100)
                    );
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn todo_items_are_completed_and_validated() {
        let b = todo_body(r#"["a", {"content":"b","status":"in_progress"}]"#).unwrap();
        assert_eq!(b["items"][0]["id"], "1");
        assert_eq!(b["items"][0]["status"], "pending");
        assert_eq!(b["items"][1]["id"], "2");
        assert!(todo_body("not json").is_err());
        assert!(todo_body(
            r#"[{"content":"a","status":"in_progress"},{"content":"b","status":"in_progress"}]"#
        )
        .is_err());
        assert!(todo_body(r#"{"items":[]}"#).is_ok());
    }
}
