//! `azmx-sync-relay`: run the relay, manage licenses. The command line and
//! what each command does live in `azmx_sync_relay::cmd`, shared with
//! `azmx-sync relay`.
//!
//! ```text
//! azmx-sync-relay serve --data-dir DIR --listen 127.0.0.1:8787
//! azmx-sync-relay license add <lid> --data-dir DIR     # prints the key once, last word
//! azmx-sync-relay devices <lid> --data-dir DIR         # JSON, metadata only
//! ```

use std::process::ExitCode;

use azmx_sync_relay::cmd::{self, RelayCli};
use clap::Parser;

fn main() -> ExitCode {
    match cmd::run(RelayCli::parse().args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(h) = &e.hint {
                eprintln!("  what to do: {h}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
