//! `activity [--follow]`: the activity log, one line per event.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use azmx_sync_core::engine::{read_log_file, ActivityEvent, ACTIVITY_FILE};
use clap::Args;

use crate::error::{CliError, CliResult};
use crate::render::event_line;
use crate::Ctx;

#[derive(Args)]
pub struct ActivityArgs {
    /// Keep printing new events until Ctrl-C.
    #[arg(long, short)]
    follow: bool,
    /// How many recent events to show.
    #[arg(long, short = 'n', default_value_t = 50)]
    limit: usize,
}

pub fn activity(ctx: &Ctx, a: ActivityArgs) -> CliResult {
    let path = ctx.state_dir.join(ACTIVITY_FILE);
    let print = |events: &[ActivityEvent]| {
        for e in events {
            if ctx.json {
                println!("{}", serde_json::to_string(e).unwrap_or_default());
            } else {
                println!("{}", event_line(e));
            }
        }
    };
    let all = read_log_file(&path);
    let start = all.len().saturating_sub(a.limit);
    if all.is_empty() && !a.follow && !ctx.json {
        println!("no activity yet");
    }
    print(&all[start..]);
    if !a.follow {
        return Ok(());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .map_err(|e| CliError::generic(format!("cannot install the Ctrl-C handler: {e}")))?;
    let mut last: Option<ActivityEvent> = all.last().cloned();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(300));
        let now = read_log_file(&path);
        let from = match &last {
            None => 0,
            Some(l) => now.iter().rposition(|e| e == l).map(|i| i + 1).unwrap_or(0),
        };
        if from < now.len() {
            print(&now[from..]);
            last = now.last().cloned();
        }
    }
    Ok(())
}
