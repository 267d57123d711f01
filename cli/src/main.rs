//! `azmx-sync`: a sync device for people who live in a terminal, the relay
//! operator's tool, and the two-device demo.
//!
//! See `azmx-sync --help`, the README ("Five-minute setup", "Exit codes")
//! and `docs/PROTOCOL.md`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod commands;
#[cfg(feature = "relay")]
mod demo;
mod device;
mod error;
mod key_source;
mod memory_folder;
mod receipt;
#[cfg(feature = "relay")]
mod relay_cmd;
mod relay_tls;
mod render;
mod secret_store;
mod service_unit;
mod state_file;
mod store;
mod store_changes;

use error::{exit, CliError, CliResult};
use receipt::ReceiptArgs;

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  ok
  1  other error (local I/O, a failed demo check, ...)
  2  usage error or invalid input
  3  recovery receipt missing, mistyped or wrong (nothing was changed)
  4  relay unreachable (nothing was lost; local changes stay queued)
  5  this device was revoked
  6  this state directory is not initialised (run `azmx-sync init`)
  7  the relay refused the request (license, rate limit, clock, server error)
  8  the relay's TLS certificate was refused (a private CA: pass --ca-file)

The recovery receipt is never accepted as an argument and never stored. Commands
that need it (init, sync, export, import, receipt check) read it from
--receipt-file FILE, $AZMX_RECEIPT, the key `init --remember` or `login` kept in
the OS secret store, stdin when piped, or a prompt without echo.
`azmx-sync receipt new` prints a strong one.";

#[derive(Parser)]
#[command(
    name = "azmx-sync",
    version,
    about = "End-to-end encrypted sync of snippets, todos and memory across your machines",
    after_help = EXIT_CODES_HELP
)]
struct Cli {
    /// This device's state directory (engine state, device key, local stores).
    /// Default: a per-user data directory, e.g. ~/.local/share/azmx-sync.
    #[arg(long, global = true, env = "AZMX_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The global memory folder: one file per memory key, synced.
    /// Default: the one this state directory was last used with, else
    /// ~/.azmx/memory-global/. A workspace's .azmx/memory/ is refused.
    #[arg(long, global = true, env = "AZMX_MEMORY_DIR", value_name = "DIR")]
    memory_dir: Option<PathBuf>,
    /// Machine-readable JSON on stdout (every listing, status, sync...).
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    tls: relay_tls::TlsArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Register this device with a relay and check the recovery receipt.
    Init(commands::init::InitArgs),
    /// Device id, relay, last sync, unsynced changes, quarantined bundles.
    Status,
    /// Run one sync cycle now, or keep syncing in the background (--watch).
    Sync(commands::sync::SyncArgs),
    /// Check the receipt and keep this device's derived key (never the
    /// receipt) in the OS secret store: sync and export then need no receipt.
    Login(commands::login::LoginArgs),
    /// Remove this device's key from the OS secret store.
    Logout,
    /// The background sync as a systemd user unit or a launchd agent.
    #[command(subcommand)]
    Service(commands::service::ServiceCmd),
    /// Saved prompts, scoped to a handle.
    #[command(subcommand)]
    Snippet(commands::snippet::SnippetCmd),
    /// Per-session todo lists.
    #[command(subcommand)]
    Todo(commands::todo::TodoCmd),
    /// Global memory: facts that follow you.
    #[command(subcommand)]
    Memory(commands::memory::MemoryCmd),
    /// The activity log (pushes, pulls, integrity errors, ...).
    Activity(commands::activity::ActivityArgs),
    /// Write every store to an encrypted export file.
    Export {
        file: PathBuf,
        #[command(flatten)]
        receipt: ReceiptArgs,
    },
    /// Merge an export file into the local stores.
    Import {
        file: PathBuf,
        #[command(flatten)]
        receipt: ReceiptArgs,
    },
    /// Make a strong recovery receipt, or check one for typos and weakness.
    #[command(subcommand)]
    Receipt(commands::receipt::ReceiptCmd),
    /// Print the license authority public key this receipt derives, for
    /// the operator's `relay license add --authority-key` (nothing is sent).
    AuthorityKey(commands::authority::AuthorityKeyArgs),
    /// The license's devices, as the relay sees them (metadata only).
    Devices,
    /// Revoke a device of this license (a lost laptop): it can no longer sync.
    Revoke {
        #[arg(value_name = "DEVICE_ID")]
        device_id: String,
        /// On a license with an authority key the receipt signs the
        /// revocation: read from --receipt-file or $AZMX_RECEIPT only.
        #[command(flatten)]
        receipt: ReceiptArgs,
    },
    /// Run and administer a relay (the same flags, environment variables
    /// and config file as `azmx-sync-relay`).
    #[cfg(feature = "relay")]
    Relay(relay_cmd::RelayArgs),
    /// Two devices, one local relay, the whole story in a few seconds.
    #[cfg(feature = "relay")]
    Demo(DemoArgs),
}

#[derive(Args)]
struct DemoArgs {}

impl Cmd {
    /// Long-running network commands keep Rust's default (ignore SIGPIPE)
    /// so a vanished peer is an error, not a kill.
    fn long_running(&self) -> bool {
        match self {
            Cmd::Sync(_) => true,
            #[cfg(feature = "relay")]
            Cmd::Demo(_) => true,
            #[cfg(feature = "relay")]
            Cmd::Relay(a) => relay_cmd::is_serve(a),
            _ => false,
        }
    }
}

/// What every device command gets.
pub struct Ctx {
    pub state_dir: PathBuf,
    pub json: bool,
}

fn default_state_dir() -> PathBuf {
    dirs::data_local_dir()
        .or_else(dirs::home_dir)
        .unwrap_or_else(|| PathBuf::from("."))
        .join("azmx-sync")
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help/--version exit 0, usage errors 2.
            e.exit();
        }
    };
    // `azmx-sync snippet list | head -1` should end quietly, as other
    // tools do.
    let long_running = cli.cmd.long_running();
    #[cfg(unix)]
    if !long_running {
        // SAFETY: called once at start-up, before any thread exists.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    #[cfg(not(unix))]
    let _ = long_running;
    let json = cli.json;
    relay_tls::set_given(cli.tls);
    memory_folder::location::set_given(cli.memory_dir);
    let ctx = Ctx {
        state_dir: cli.state_dir.unwrap_or_else(default_state_dir),
        json,
    };
    match run(cli.cmd, &ctx) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            report_error(&e, json);
            ExitCode::from(e.code)
        }
    }
}

fn report_error(e: &CliError, json: bool) {
    if json {
        let v = serde_json::json!({
            "error": { "exitCode": e.code, "message": e.message, "hint": e.hint }
        });
        eprintln!("{v}");
        return;
    }
    let s = render::Style::stderr();
    eprintln!("{} {}", s.red(&s.bold("error:")), e.message);
    if let Some(h) = &e.hint {
        eprintln!("  {} {h}", s.yellow("what to do:"));
    }
}

fn run(cmd: Cmd, ctx: &Ctx) -> CliResult {
    use commands::*;
    match cmd {
        Cmd::Init(a) => init::init(ctx, a),
        Cmd::Status => status::status(ctx),
        Cmd::Sync(a) => sync::sync(ctx, a),
        Cmd::Login(a) => login::login(ctx, a),
        Cmd::Logout => login::logout(ctx),
        Cmd::Service(c) => service::service(ctx, c),
        Cmd::Snippet(c) => snippet::snippet(ctx, c),
        Cmd::Todo(c) => todo::todo(ctx, c),
        Cmd::Memory(c) => memory::memory(ctx, c),
        Cmd::Activity(a) => activity::activity(ctx, a),
        Cmd::Export { file, receipt } => backup::export(ctx, &file, &receipt),
        Cmd::Import { file, receipt } => backup::import(ctx, &file, &receipt),
        Cmd::Receipt(c) => commands::receipt::receipt(ctx, c),
        Cmd::AuthorityKey(a) => authority::authority_key(ctx, a),
        Cmd::Devices => devices::devices(ctx),
        Cmd::Revoke { device_id, receipt } => devices::revoke(ctx, &device_id, &receipt),
        #[cfg(feature = "relay")]
        Cmd::Relay(a) => relay_cmd::run(ctx, a),
        #[cfg(feature = "relay")]
        Cmd::Demo(DemoArgs {}) => demo::run(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn license_keys_may_start_with_a_hyphen() {
        let args = [
            "azmx-sync",
            "init",
            "--relay",
            "http://127.0.0.1:1",
            "--license-id",
            "lic",
            "--license-key",
            "-Bq9x",
        ];
        assert!(Cli::try_parse_from(args).is_ok());
    }

    #[test]
    fn the_receipt_is_not_an_argument() {
        let args = ["azmx-sync", "sync", "--receipt", "RCPT"];
        assert!(Cli::try_parse_from(args).is_err());
    }
}
