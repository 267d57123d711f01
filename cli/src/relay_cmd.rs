//! `azmx-sync relay serve | license add | devices`: the same functions as
//! the relay's own binary (`azmx_sync_relay`), for operators.
//!
//! `serve` settings come from flags, then environment variables, then an
//! optional TOML config file (`--config FILE` / `AZMX_RELAY_CONFIG`), then
//! the defaults:
//!
//! ```toml
//! data-dir = "/var/lib/azmx-relay"
//! listen = "0.0.0.0:8787"
//! admin-token = "..."          # enables /admin/*; prefer AZMX_ADMIN_TOKEN
//! max-body-bytes = 8388608
//! request-timeout-secs = 30
//! rate-per-sec = 100.0
//! rate-burst = 200.0
//! workers = 0
//! ```

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use azmx_sync_relay::{add_license, admin_devices, Limits, Relay, RelayConfig, RelayError};
use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::json;

use crate::error::{CliError, CliResult};
use crate::ui::{self, Style};
use crate::Ctx;

#[derive(Subcommand)]
pub enum RelayCmd {
    /// Serve the relay HTTP API until Ctrl-C / SIGTERM.
    Serve(ServeArgs),
    /// License administration.
    #[command(subcommand)]
    License(LicenseCmd),
    /// Per-device metadata of a license, read from the data directory.
    Devices {
        #[arg(value_name = "LID")]
        license_id: String,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
pub enum LicenseCmd {
    /// Create a license; prints its key once, as the last word.
    Add {
        #[arg(value_name = "LID")]
        license_id: String,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Args)]
pub struct DataDir {
    /// Directory holding the relay's SQLite database.
    #[arg(long, env = "AZMX_RELAY_DATA_DIR", value_name = "DIR")]
    data_dir: PathBuf,
}

#[derive(Args)]
pub struct ServeArgs {
    /// TOML config file (keys as the long flags: data-dir, listen, ...).
    #[arg(long, env = "AZMX_RELAY_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory holding the relay's SQLite database (created 0700).
    #[arg(long, env = "AZMX_RELAY_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8787]; port 0 picks a free one.
    #[arg(long, env = "AZMX_RELAY_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Bearer token enabling /admin/* (prefer the environment variable).
    #[arg(long, env = "AZMX_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Largest push body in bytes [default: 8 MiB].
    #[arg(long, env = "AZMX_RELAY_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Whole-request deadline in seconds [default: 30].
    #[arg(long, env = "AZMX_RELAY_REQUEST_TIMEOUT_SECS")]
    request_timeout_secs: Option<u64>,
    /// Per-device rate limit, requests per second; 0 disables [default: 100].
    #[arg(long, env = "AZMX_RELAY_RATE_PER_SEC")]
    rate_per_sec: Option<f64>,
    /// Per-device burst size [default: 200].
    #[arg(long, env = "AZMX_RELAY_RATE_BURST")]
    rate_burst: Option<f64>,
    /// Tokio worker threads; 0 = one per core [default: 0].
    #[arg(long, env = "AZMX_RELAY_WORKERS")]
    workers: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ConfigFile {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    admin_token: Option<String>,
    max_body_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
    rate_per_sec: Option<f64>,
    rate_burst: Option<f64>,
    workers: Option<usize>,
}

fn relay_err(e: RelayError) -> CliError {
    match e {
        RelayError::LicenseExists(lid) => {
            CliError::usage(format!("license `{lid}` already exists"))
                .hint("license keys are shown once; to hand out a new key, create a new license id")
        }
        RelayError::UnknownLicense(lid) => CliError::usage(format!("unknown license `{lid}`")),
        RelayError::InvalidLicenseId(m) => CliError::usage(format!("invalid license id: {m}")),
        RelayError::Io(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            CliError::generic(format!("cannot listen: {e}"))
                .hint("another process uses that address; pick another --listen port")
        }
        other => CliError::generic(other.to_string()),
    }
}

pub fn run(ctx: &Ctx, cmd: RelayCmd) -> CliResult {
    match cmd {
        RelayCmd::Serve(a) => serve(a),
        RelayCmd::License(LicenseCmd::Add { license_id, data }) => {
            let key = add_license(&data.data_dir, &license_id).map_err(relay_err)?;
            if ctx.json {
                println!("{}", json!({ "licenseId": license_id, "licenseKey": key }));
            } else {
                println!(
                    "license {license_id} created; store this key now, it is not shown again: {key}"
                );
            }
            Ok(())
        }
        RelayCmd::Devices { license_id, data } => {
            let list = admin_devices(&data.data_dir, &license_id).map_err(relay_err)?;
            if ctx.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
                return Ok(());
            }
            if list.is_empty() {
                println!("license {license_id} has no devices yet");
                return Ok(());
            }
            let s = Style::stdout();
            let secs = |t: Option<i64>| t.map(|t| ui::ago(t * 1000)).unwrap_or_else(|| "-".into());
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|d| {
                    vec![
                        d.device_id.clone(),
                        d.name.clone(),
                        secs(Some(d.created_at)),
                        secs(d.last_push_at),
                        secs(d.last_pull_at),
                        d.blob_count.to_string(),
                        ui::bytes(d.sealed_bytes),
                        if d.revoked {
                            s.red("revoked")
                        } else {
                            s.green("active")
                        },
                    ]
                })
                .collect();
            ui::table(
                &[
                    "DEVICE",
                    "NAME",
                    "ADDED",
                    "LAST PUSH",
                    "LAST PULL",
                    "BLOBS",
                    "SEALED",
                    "STATUS",
                ],
                &rows,
            );
            Ok(())
        }
    }
}

fn serve(a: ServeArgs) -> CliResult {
    let file: ConfigFile = match &a.config {
        None => ConfigFile::default(),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                CliError::usage(format!("cannot read the config file {}: {e}", p.display()))
            })?;
            toml::from_str(&text)
                .map_err(|e| CliError::usage(format!("config file {}: {e}", p.display())))?
        }
    };
    let data_dir = a.data_dir.or(file.data_dir).ok_or_else(|| {
        CliError::usage("no data directory").hint(
            "pass --data-dir DIR, set AZMX_RELAY_DATA_DIR, or put data-dir in the config file",
        )
    })?;
    let mut config = RelayConfig::new(&data_dir);
    config.listen = a
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8787)));
    config.admin_token = a.admin_token.or(file.admin_token).filter(|t| !t.is_empty());
    config.worker_threads = a.workers.or(file.workers).unwrap_or(0);
    let defaults = Limits::default();
    config.limits = Limits {
        max_body_bytes: a
            .max_body_bytes
            .or(file.max_body_bytes)
            .unwrap_or(defaults.max_body_bytes),
        request_timeout: a
            .request_timeout_secs
            .or(file.request_timeout_secs)
            .map(|s| Duration::from_secs(s.max(1)))
            .unwrap_or(defaults.request_timeout),
        rate_per_sec: a
            .rate_per_sec
            .or(file.rate_per_sec)
            .unwrap_or(defaults.rate_per_sec),
        rate_burst: a
            .rate_burst
            .or(file.rate_burst)
            .unwrap_or(defaults.rate_burst),
        ..defaults
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .try_init();
    let (tx, rx) = mpsc::channel::<()>();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .map_err(|e| CliError::generic(format!("cannot install the signal handler: {e}")))?;
    let relay = Relay::start(config).map_err(relay_err)?;
    // First line, machine-readable, for wrappers that asked for port 0.
    println!("listening on {}", relay.url());
    eprintln!("data in {}; Ctrl-C or SIGTERM stops", data_dir.display());
    let _ = rx.recv();
    eprintln!("shutting down");
    relay.shutdown();
    // stdout may be gone by now (a closed pipe): not worth a failure.
    let _ = writeln!(std::io::stdout(), "stopped");
    Ok(())
}
