//! Aligned tables.

use azmx_sync_core::engine::DeviceInfo;
use serde_json::Value;

use super::{ago, bytes, Style};

/// Prints rows with every column padded to its widest cell (the last
/// column is not padded). The header is dimmed on a terminal.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let style = Style::stdout();
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(c);
                let pad = widths[i].saturating_sub(c.chars().count()) + 2;
                out.push_str(&" ".repeat(pad));
            }
        }
        out.trim_end().to_string()
    };
    println!(
        "{}",
        style.dim(&line(header.iter().map(|h| h.to_string()).collect()))
    );
    for r in rows {
        println!("{}", line(r.clone()));
    }
}

/// The license's devices as a table. With `me` (the engine's view), a first
/// column marks this device; without it (the relay operator's view), none.
pub fn devices(list: &[DeviceInfo], me: Option<&str>) {
    let s = Style::stdout();
    let secs = |t: Option<i64>| t.map(|t| ago(t * 1000)).unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            let mark = me.map(|me| if d.device_id == me { "*" } else { " " });
            let status = if d.revoked {
                s.red("revoked")
            } else {
                s.green("active")
            };
            (mark.map(String::from).into_iter())
                .chain([
                    d.device_id.clone(),
                    d.name.clone(),
                    secs(d.created_at.into()),
                    secs(d.last_push_at),
                    secs(d.last_pull_at),
                    d.blob_count.to_string(),
                    bytes(d.sealed_bytes),
                    status,
                ])
                .collect()
        })
        .collect();
    let header = ["DEVICE", "NAME", "ADDED", "LAST PUSH", "LAST PULL"];
    let header = (me.map(|_| "").into_iter())
        .chain(header)
        .chain(["BLOBS", "SEALED", "STATUS"])
        .collect::<Vec<_>>();
    table(&header, &rows);
}

/// Pretty JSON on stdout, for `--json`.
pub fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}
