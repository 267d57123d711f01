//! `sync`: one cycle now, or the background scheduler (`--watch`).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azmx_sync_core::engine::{
    ActivityEvent, ActivityListener, CycleReport, EngineConfig, EventKind, SyncError,
};
use clap::Args;
use serde_json::json;

use crate::device::Device;
use crate::error::{CliError, CliResult};
use crate::receipt::ReceiptArgs;
use crate::render::{self, print_json, print_notices, Progress, Style};
use crate::Ctx;

#[derive(Args)]
pub struct SyncArgs {
    /// Keep syncing in the background (every --interval, and now) until Ctrl-C.
    #[arg(long)]
    watch: bool,
    /// Seconds between background cycles with --watch (clamped to 30–3600).
    #[arg(long, value_name = "SECS", default_value_t = 300, requires = "watch")]
    interval: u64,
    #[command(flatten)]
    receipt: ReceiptArgs,
}

/// Collects the events of one command and drives the progress line.
struct Collector {
    events: Mutex<Vec<ActivityEvent>>,
    progress: render::ProgressHandle,
    pulled: Mutex<(u64, u64)>,
}

impl ActivityListener for Collector {
    fn on_event(&self, e: &ActivityEvent) {
        if let Ok(mut v) = self.events.lock() {
            v.push(e.clone());
        }
        if let Ok(mut p) = self.pulled.lock() {
            match &e.kind {
                EventKind::Pulled { blobs } => p.0 += blobs,
                EventKind::Applied {
                    inserted,
                    updated,
                    deleted,
                    ..
                } => p.1 += inserted + updated + deleted,
                _ => {}
            }
            self.progress.set(format!(
                "syncing: {} pulled, {} applied",
                render::plural(p.0, "bundle", "bundles"),
                render::plural(p.1, "change", "changes")
            ));
        }
    }
}

fn report_lines(r: &CycleReport) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(seq) = r.pushed_seq {
        out.push((
            "pushed".into(),
            format!(
                "{} (seq {seq}, {} sealed{})",
                render::plural(r.pushed_records, "record", "records"),
                render::bytes(r.sealed_bytes),
                if r.checkpoint { ", checkpoint" } else { "" }
            ),
        ));
    }
    if r.pulled_blobs > 0 || r.applied_changes > 0 {
        out.push((
            "pulled".into(),
            format!(
                "{}, {} applied",
                render::plural(r.pulled_blobs, "bundle", "bundles"),
                render::plural(r.applied_changes, "change", "changes")
            ),
        ));
    }
    if r.quarantined > 0 {
        out.push((
            "quarantined".into(),
            render::plural(r.quarantined, "bundle", "bundles"),
        ));
    }
    if r.rejected_records > 0 {
        out.push((
            "rejected".into(),
            render::plural(r.rejected_records, "record", "records"),
        ));
    }
    out
}

pub fn sync(ctx: &Ctx, a: SyncArgs) -> CliResult {
    let mut config = EngineConfig::new(&ctx.state_dir);
    config.interval = Duration::from_secs(a.interval);
    let dev = Device::open_with(config)?;
    dev.require_id()?;
    crate::key_source::give_key(&dev, &ctx.state_dir, &a.receipt, ctx.json)?;
    if a.watch {
        return watch(ctx, &dev, a.interval);
    }
    let progress = Progress::start("syncing", !ctx.json);
    let collector = Arc::new(Collector {
        events: Mutex::new(Vec::new()),
        progress: progress.handle(),
        pulled: Mutex::new((0, 0)),
    });
    dev.engine.add_listener(collector.clone());
    let result = dev.engine.sync_now();
    progress.finish();
    let events = collector
        .events
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            if !ctx.json {
                print_notices(&events);
            }
            return Err(dev.sync_err(e));
        }
    };
    if ctx.json {
        print_json(&json!({ "ok": true, "report": report, "events": events }));
        return Ok(());
    }
    let s = Style::stdout();
    println!(
        "{} synced with {} in {} ms",
        s.green("ok"),
        dev.relay_url().unwrap_or_default(),
        report.duration_ms
    );
    let lines = report_lines(&report);
    if lines.is_empty() {
        println!("   up to date: nothing to push, nothing new on the relay");
    }
    let w = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in lines {
        println!("   {}  {v}", s.dim(&format!("{k:<w$}")));
    }
    print_notices(&events);
    Ok(())
}

enum WatchMsg {
    Stop,
    Event(ActivityEvent),
}

struct Forward(Mutex<mpsc::Sender<WatchMsg>>);

impl ActivityListener for Forward {
    fn on_event(&self, e: &ActivityEvent) {
        if let Ok(tx) = self.0.lock() {
            let _ = tx.send(WatchMsg::Event(e.clone()));
        }
    }
}

fn watch(ctx: &Ctx, dev: &Device, interval: u64) -> CliResult {
    let s = Style::stdout();
    // A wrong receipt is the one thing a background loop cannot get past.
    match dev.engine.verify_receipt() {
        Ok(()) => {}
        Err(SyncError::Network { message }) => eprintln!(
            "{} relay unreachable ({message}); will keep trying",
            Style::stderr().yellow("note:")
        ),
        Err(e) => return Err(dev.sync_err(e)),
    }
    let (tx, rx) = mpsc::channel();
    let stop_tx = tx.clone();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(WatchMsg::Stop);
    })
    .map_err(|e| CliError::generic(format!("cannot install the Ctrl-C handler: {e}")))?;
    dev.engine.add_listener(Arc::new(Forward(Mutex::new(tx))));
    dev.engine.start();
    dev.engine.trigger();
    let every = azmx_sync_core::engine::clamp_interval(Duration::from_secs(interval));
    if !ctx.json {
        println!(
            "watching {}: a sync now and every {} s; Ctrl-C stops",
            dev.relay_url().unwrap_or_default(),
            every.as_secs()
        );
    }
    let mut revoked = false;
    let mut last_error: Option<String> = None;
    while let Ok(msg) = rx.recv() {
        let e = match msg {
            WatchMsg::Stop => break,
            WatchMsg::Event(e) => e,
        };
        if ctx.json {
            println!("{}", serde_json::to_string(&e).unwrap_or_default());
        }
        match &e.kind {
            EventKind::NetworkError { message } => last_error = Some(message.clone()),
            EventKind::RelayError { status, code } => {
                last_error = Some(format!("relay refused: {status} {code}"))
            }
            EventKind::WrongReceipt => last_error = Some("wrong receipt".into()),
            EventKind::Revoked => revoked = true,
            EventKind::CycleFinished {
                duration_ms,
                pushed,
                pulled_blobs,
                ok,
            } if !ctx.json => {
                let what = match (pushed, *pulled_blobs) {
                    (false, 0) => "up to date".to_string(),
                    (true, 0) => "pushed".to_string(),
                    (false, n) => format!("pulled {}", render::plural(n, "bundle", "bundles")),
                    (true, n) => {
                        format!("pushed, pulled {}", render::plural(n, "bundle", "bundles"))
                    }
                };
                if *ok {
                    println!(
                        "{}  {} {what} ({duration_ms} ms)",
                        render::utc(e.at_ms),
                        s.green("sync ok:")
                    );
                } else {
                    println!(
                        "{}  {} {}; retrying with backoff, nothing is lost",
                        render::utc(e.at_ms),
                        s.red("sync failed:"),
                        last_error.take().unwrap_or_else(|| "error".into())
                    );
                }
            }
            _ if !ctx.json => print_notices(std::slice::from_ref(&e)),
            _ => {}
        }
        if revoked {
            break;
        }
    }
    dev.engine.stop();
    if revoked {
        return Err(CliError::revoked());
    }
    if !ctx.json {
        println!("stopped cleanly");
    }
    Ok(())
}
