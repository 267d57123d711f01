//! `azmx-sync-relay`: run the relay, manage licenses.
//!
//! ```text
//! azmx-sync-relay serve --data-dir DIR --listen 127.0.0.1:8787
//! azmx-sync-relay license add <lid> --data-dir DIR     # prints the key once, last word
//! azmx-sync-relay admin devices <lid> --data-dir DIR   # JSON, metadata only
//! ```
//!
//! `--database-url postgres://…` (or `AZMX_DATABASE_URL`) in place of
//! `--data-dir` selects the shared PostgreSQL backend.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use azmx_sync_relay::{
    add_license, add_license_postgres, admin_devices, admin_devices_postgres, Durability, Limits,
    Relay, RelayConfig,
};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "azmx-sync-relay",
    version,
    about = "azmx-sync relay: stores sealed blobs it cannot read"
)]
struct Cli {
    /// Log format on stderr (filter with RUST_LOG, default `info`).
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "AZMX_RELAY_LOG_FORMAT",
        global = true
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the relay HTTP API until SIGINT/SIGTERM.
    Serve(ServeArgs),
    /// License administration.
    #[command(subcommand)]
    License(LicenseCmd),
    /// Read-only admin views, straight from the data directory.
    #[command(subcommand)]
    Admin(AdminCmd),
}

#[derive(Args)]
struct DataDir {
    /// Directory holding the relay's embedded SQLite database (the default
    /// backend).
    #[arg(
        long,
        env = "AZMX_RELAY_DATA_DIR",
        required_unless_present = "database_url"
    )]
    data_dir: Option<PathBuf>,
    /// `postgres://user[:password]@host[:port]/db`: use the shared
    /// PostgreSQL backend instead of SQLite (prefer the environment variable).
    #[arg(long, env = "AZMX_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

/// Where the store is: PostgreSQL when a database URL is given, else the
/// SQLite data directory.
enum Store {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DataDir {
    fn store(self) -> Result<Store, Box<dyn std::error::Error>> {
        match (self.database_url.filter(|u| !u.is_empty()), self.data_dir) {
            (Some(url), _) => {
                if !azmx_sync_relay::storage::postgres::is_postgres_url(&url) {
                    return Err(
                        "--database-url must start with postgres:// or postgresql://".into(),
                    );
                }
                Ok(Store::Postgres(url))
            }
            (None, Some(dir)) => Ok(Store::Sqlite(dir)),
            (None, None) => Err("--data-dir or --database-url is required".into()),
        }
    }
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    data: DataDir,
    /// Address to listen on.
    #[arg(long, env = "AZMX_RELAY_LISTEN", default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Bearer token enabling /admin/* (prefer the environment variable).
    #[arg(long, env = "AZMX_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Largest push body in bytes.
    #[arg(long, env = "AZMX_RELAY_MAX_BODY_BYTES", default_value_t = azmx_sync_relay::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Whole-request deadline in seconds.
    #[arg(long, env = "AZMX_RELAY_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    request_timeout_secs: u64,
    /// Per-device rate limit, requests per second (0 disables).
    #[arg(long, env = "AZMX_RELAY_RATE_PER_SEC", default_value_t = 100.0)]
    rate_per_sec: f64,
    /// Per-device burst size.
    #[arg(long, env = "AZMX_RELAY_RATE_BURST", default_value_t = 200.0)]
    rate_burst: f64,
    /// Tokio worker threads (0 = one per core).
    #[arg(long, env = "AZMX_RELAY_WORKERS", default_value_t = 0)]
    workers: usize,
    /// How writes become durable before they are acknowledged: `pipelined`
    /// (group commit, WAL fsync overlapped with the next batch) or `full`
    /// (synchronous=FULL inside each commit). Both fsync before acknowledging.
    #[arg(
        long,
        value_enum,
        env = "AZMX_RELAY_DURABILITY",
        default_value = "pipelined"
    )]
    durability: DurabilityArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum DurabilityArg {
    Pipelined,
    Full,
}

#[derive(Subcommand)]
enum LicenseCmd {
    /// Create a license and print its key (shown once; only a hash is stored).
    Add {
        license_id: String,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Per-device metadata of a license, as JSON.
    Devices {
        license_id: String,
        #[command(flatten)]
        data: DataDir,
    },
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => b.init(),
        LogFormat::Json => b.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli.cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: Cmd) -> Result<(), Box<dyn std::error::Error>> {
    match cmd {
        Cmd::Serve(a) => serve(a),
        Cmd::License(LicenseCmd::Add { license_id, data }) => {
            let key = match data.store()? {
                Store::Postgres(url) => add_license_postgres(&url, &license_id)?,
                Store::Sqlite(dir) => add_license(&dir, &license_id)?,
            };
            println!(
                "license {license_id} created; store this key now, it is not shown again: {key}"
            );
            Ok(())
        }
        Cmd::Admin(AdminCmd::Devices { license_id, data }) => {
            let devices = match data.store()? {
                Store::Postgres(url) => admin_devices_postgres(&url, &license_id)?,
                Store::Sqlite(dir) => admin_devices(&dir, &license_id)?,
            };
            println!("{}", serde_json::json!({ "devices": devices }));
            Ok(())
        }
    }
}

fn serve(a: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = match a.data.store()? {
        Store::Postgres(url) => {
            let mut c = RelayConfig::new(PathBuf::new());
            c.database_url = Some(url);
            c
        }
        Store::Sqlite(dir) => RelayConfig::new(dir),
    };
    config.listen = a.listen;
    config.admin_token = a.admin_token.filter(|t| !t.is_empty());
    config.worker_threads = a.workers;
    config.durability = match a.durability {
        DurabilityArg::Pipelined => Durability::PipelinedFsync,
        DurabilityArg::Full => Durability::Full,
    };
    config.limits = Limits {
        max_body_bytes: a.max_body_bytes,
        request_timeout: Duration::from_secs(a.request_timeout_secs.max(1)),
        rate_per_sec: a.rate_per_sec,
        rate_burst: a.rate_burst,
        ..Limits::default()
    };
    let relay = Relay::start(config)?;
    // Machine-readable line for wrappers that asked for port 0.
    println!("listening on {}", relay.url());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                r = tokio::signal::ctrl_c() => r?,
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await?;
        Ok::<(), std::io::Error>(())
    })?;
    tracing::info!("shutting down");
    relay.shutdown();
    Ok(())
}
