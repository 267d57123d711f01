//! The relay's command line, written once for both front ends: the
//! `azmx-sync-relay` binary parses [`RelayCli`]; `azmx-sync relay` flattens
//! [`RelayArgs`]. Same flags, same environment variables, same config file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

/// The `azmx-sync-relay` binary's command line.
#[derive(Parser)]
#[command(
    name = "azmx-sync-relay",
    version,
    about = "azmx-sync relay: stores sealed blobs it cannot read"
)]
pub struct RelayCli {
    #[command(flatten)]
    pub args: RelayArgs,
}

// No doc comment here: on a flattened `Args` it would replace the `about`
// of the command that embeds it.
#[derive(Args)]
pub struct RelayArgs {
    /// Log format on stderr (filter with RUST_LOG, default `info`).
    #[arg(
        long,
        value_enum,
        default_value = "text",
        env = "AZMX_RELAY_LOG_FORMAT",
        global = true
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub cmd: RelayCmd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum RelayCmd {
    /// Serve the relay HTTP API until Ctrl-C / SIGTERM.
    Serve(Box<ServeArgs>),
    /// License administration.
    #[command(subcommand)]
    License(LicenseCmd),
    /// Per-device metadata of a license, read from the relay's store.
    Devices(LicenseArgs),
    /// Device administration: list, revoke (the operator needs no receipt).
    #[command(subcommand)]
    Device(DeviceCmd),
    /// Copy the SQLite store to a new file while the relay serves: a
    /// consistent snapshot, created 0600, never overwriting (PostgreSQL:
    /// use pg_dump).
    Backup(BackupArgs),
    /// Put a backup in place as the store of a data directory that holds
    /// none (stop the relay, move the old directory aside), after checking
    /// its integrity and schema version.
    Restore(RestoreArgs),
    /// `admin devices`: the older spelling of `devices`.
    #[command(subcommand, hide = true)]
    Admin(AdminCmd),
}

#[derive(Subcommand)]
pub enum LicenseCmd {
    /// Create a license; prints its key once, as the last word (only a hash
    /// is stored).
    Add(LicenseAddArgs),
    /// Set or replace a license's authority public key (PROTOCOL §11.4);
    /// a changed key deletes the license's key-check blob.
    SetAuthorityKey(SetAuthorityKeyArgs),
    /// Every license, marking those without an authority key.
    List(StoreArgs),
    /// Open (or move the end of) a first-device claim window on a license
    /// without an authority key: the first `init` that claims it with a
    /// receipt's authority key sets the key (PROTOCOL §11.4).
    OpenClaimWindow(ClaimWindowArgs),
    /// Cap a license's live (non-revoked) devices; `none` removes the cap.
    SetMaxDevices(MaxDevicesArgs),
    /// Give a license a new license key, printed once as the last word; the
    /// old key stops working at once. Registered devices keep syncing.
    RotateKey(LicenseArgs),
}

#[derive(Subcommand)]
pub enum DeviceCmd {
    /// Per-device metadata of a license (same as `relay devices`).
    List(LicenseArgs),
    /// Revoke a device: it can no longer push, pull or register again.
    Revoke(DeviceRevokeArgs),
}

#[derive(Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The backup file to create (it must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The backup file (`backup --out`) to restore.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
}

#[derive(Args)]
pub struct DeviceRevokeArgs {
    #[command(flatten)]
    pub license: LicenseArgs,
    /// The device id (`relay device list LID` shows them).
    #[arg(value_name = "DEVICE")]
    pub device_id: String,
}

#[derive(Args)]
pub struct ClaimWindowArgs {
    #[command(flatten)]
    pub license: LicenseArgs,
    /// How long the window stays open, in seconds (1 to 30 days).
    #[arg(value_name = "SECS")]
    pub secs: u64,
}

#[derive(Args)]
pub struct MaxDevicesArgs {
    #[command(flatten)]
    pub license: LicenseArgs,
    /// The cap (1 to 100000), or `none`.
    #[arg(value_name = "N|none", value_parser = parse_cap)]
    pub max: DeviceCap,
}

/// A device cap as typed: a number or `none`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceCap(pub Option<u32>);

fn parse_cap(s: &str) -> Result<DeviceCap, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(DeviceCap(None));
    }
    s.parse::<u32>()
        .map(|n| DeviceCap(Some(n)))
        .map_err(|_| format!("`{s}` is not a device count or `none`"))
}

#[derive(Args)]
pub struct LicenseAddArgs {
    #[command(flatten)]
    pub license: LicenseArgs,
    /// The license authority's public key (base64url, printed by
    /// `azmx-sync authority-key`): registering, revoking and setting the
    /// key check then need the receipt holder's signature. Without it,
    /// anyone with the license key can do all three.
    #[arg(long, value_name = "KEY", conflicts_with_all = ["authority_claim_window", "no_authority"])]
    pub authority_key: Option<String>,
    /// Open a first-device claim window of SECS seconds: the first device
    /// that gives the receipt sets the license's authority key (whoever
    /// holds the license key may claim meanwhile, so keep it short).
    #[arg(long, value_name = "SECS", conflicts_with = "no_authority")]
    pub authority_claim_window: Option<u64>,
    /// Keep the v1 rules on purpose (no key, no window: the license key
    /// alone may register and revoke devices); silences the warning.
    #[arg(long)]
    pub no_authority: bool,
    /// Cap the license's live devices (1 to 100000).
    #[arg(long, value_name = "N")]
    pub max_devices: Option<u32>,
}

#[derive(Args)]
pub struct SetAuthorityKeyArgs {
    #[command(flatten)]
    pub license: LicenseArgs,
    /// The license authority's public key (base64url).
    #[arg(value_name = "KEY")]
    pub authority_key: String,
}

#[derive(Subcommand)]
pub enum AdminCmd {
    /// Per-device metadata of a license (same as `devices`).
    Devices(LicenseArgs),
}

#[derive(Args)]
pub struct LicenseArgs {
    #[arg(value_name = "LID")]
    pub license_id: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Where the relay's data is: an embedded SQLite directory or a PostgreSQL
/// database, from flags, environment or the config file.
#[derive(Args, Clone, Default)]
pub struct StoreArgs {
    /// TOML config file; its keys are the long flags (data-dir, listen, ...).
    /// Flags and environment variables take precedence over it.
    #[arg(long, env = "AZMX_RELAY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory holding the relay's embedded SQLite database (the default
    /// backend; created 0700).
    #[arg(long, env = "AZMX_RELAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `postgres://user[:password]@host[:port]/db`: use the shared
    /// PostgreSQL backend instead of SQLite (prefer the environment variable).
    #[arg(
        long,
        env = "AZMX_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,
}

#[derive(Args, Clone, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on [default: 127.0.0.1:8787]; port 0 picks a free one.
    #[arg(long, env = "AZMX_RELAY_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Bearer token enabling /admin/* and /metrics (prefer the environment
    /// variable).
    #[arg(long, env = "AZMX_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Also serve /metrics on this address WITHOUT a token: bind it to a
    /// private interface only your Prometheus server reaches.
    #[arg(long, env = "AZMX_RELAY_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Largest push body in bytes [default: 8 MiB].
    #[arg(long, env = "AZMX_RELAY_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Whole-request deadline in seconds [default: 30].
    #[arg(long, env = "AZMX_RELAY_REQUEST_TIMEOUT_SECS")]
    pub request_timeout_secs: Option<u64>,
    /// Per-device rate limit, requests per second; 0 disables [default: 100].
    #[arg(long, env = "AZMX_RELAY_RATE_PER_SEC")]
    pub rate_per_sec: Option<f64>,
    /// Per-device burst size [default: 200].
    #[arg(long, env = "AZMX_RELAY_RATE_BURST")]
    pub rate_burst: Option<f64>,
    /// Request-body bytes in flight across all requests, reserved from
    /// Content-Length before a body is read; past it `503 busy`
    /// [default: 128 MiB].
    #[arg(long, env = "AZMX_RELAY_MAX_INFLIGHT_BODY_BYTES")]
    pub max_inflight_body_bytes: Option<usize>,
    /// Open client connections; more wait in the listen backlog
    /// [default: 1024].
    #[arg(long, env = "AZMX_RELAY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Per-address limit on failed authentication (bad license key, unknown
    /// device, bad signature, bad admin token), per second; 0 disables
    /// [default: 1].
    #[arg(long, env = "AZMX_RELAY_UNAUTH_RATE_PER_SEC")]
    pub unauth_rate_per_sec: Option<f64>,
    /// Per-address burst of failed authentications [default: 30].
    #[arg(long, env = "AZMX_RELAY_UNAUTH_RATE_BURST")]
    pub unauth_rate_burst: Option<f64>,
    /// Sealed bytes stored per license; 0 = no limit; past it `507
    /// quota_exceeded` [default: 1 GiB].
    #[arg(long, env = "AZMX_RELAY_LICENSE_MAX_BYTES")]
    pub license_max_bytes: Option<u64>,
    /// Blobs stored per license; 0 = no limit [default: 100000].
    #[arg(long, env = "AZMX_RELAY_LICENSE_MAX_BLOBS")]
    pub license_max_blobs: Option<u64>,
    /// Tokio worker threads; 0 = one per core [default: 0].
    #[arg(long, env = "AZMX_RELAY_WORKERS")]
    pub workers: Option<usize>,
    /// How SQLite writes become durable before they are acknowledged:
    /// `pipelined` (group commit, WAL fsync overlapped with the next batch)
    /// or `full` (synchronous=FULL inside each commit). Both fsync before
    /// acknowledging [default: pipelined].
    #[arg(long, value_enum, env = "AZMX_RELAY_DURABILITY")]
    pub durability: Option<DurabilityArg>,
    /// On SIGTERM/SIGINT, seconds the requests already taken may run on
    /// while new ones get `503 shutting_down`; then the relay exits
    /// [default: 30; at most 3600].
    #[arg(long, env = "AZMX_RELAY_DRAIN_TIMEOUT_SECS")]
    pub drain_timeout_secs: Option<u64>,
    /// Check the settings (flags, environment, config file, TLS files),
    /// print what they amount to, and exit without opening the store.
    #[arg(long)]
    pub check_config: bool,
    /// Serve HTTPS: the PEM certificate chain (leaf first). Needs --tls-key.
    /// Without both the relay serves plain HTTP (put a TLS proxy in front
    /// of a relay other machines reach).
    #[arg(
        long,
        env = "AZMX_RELAY_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (keep it 0600).
    #[arg(
        long,
        env = "AZMX_RELAY_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DurabilityArg {
    Pipelined,
    Full,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_valid_and_keeps_both_spellings() {
        RelayCli::command().debug_assert();
        // One command line a row, split on spaces.
        for line in [
            "r devices lic --data-dir d",
            "r admin devices lic --data-dir d",
            "r serve --config f.toml --durability full",
            "r serve --max-connections 8 --license-max-bytes 0",
            "r --log-format json license add lic",
            "r license add lic --authority-key k",
            "r license set-authority-key lic k --data-dir d",
            "r license list --data-dir d",
            "r serve --tls-cert c.pem --tls-key k.pem",
            "r serve --metrics-listen 127.0.0.1:9187",
            "r serve --config f.toml --check-config --drain-timeout-secs 5",
            "r backup --data-dir d --out f",
            "r restore --from f --config c.toml",
        ] {
            let parsed = RelayCli::try_parse_from(line.split_whitespace());
            assert!(parsed.is_ok(), "{line}");
        }
        // One of the pair alone is a usage error.
        for line in ["r serve --tls-cert c.pem", "r serve --tls-key k.pem"] {
            assert!(
                RelayCli::try_parse_from(line.split_whitespace()).is_err(),
                "{line}"
            );
        }
    }

    /// server/README.md's settings table names every flag of `serve` with
    /// its environment variable (the TLS pair has its own section), and
    /// its list of the CLI's `relay` commands names every subcommand.
    #[test]
    fn server_readme_documents_every_serve_flag_and_command() {
        let readme = include_str!("../../README.md");
        let table: Vec<&str> = readme.lines().filter(|l| l.starts_with("| `--")).collect();
        let cmd = RelayCli::command();
        let serve = cmd.find_subcommand("serve").expect("serve");
        for arg in serve.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if matches!(long, "help" | "tls-cert" | "tls-key") {
                continue;
            }
            let flag = format!("`--{long}");
            let row = table.iter().find(|r| r.contains(&flag));
            assert!(row.is_some(), "server/README.md's table lacks --{long}");
            if let Some(env) = arg.get_env() {
                let env = env.to_str().unwrap();
                assert!(
                    row.is_some_and(|r| r.contains(env)),
                    "server/README.md's row of --{long} lacks {env}"
                );
            }
        }
        assert!(readme.contains("--tls-cert FILE --tls-key FILE"));
        let list = readme
            .split("`azmx-sync relay ")
            .nth(1)
            .and_then(|s| s.split("` (the CLI)").next())
            .expect("server/README.md lists the CLI's relay commands");
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = sub.get_name();
            assert!(
                list.split('|').any(|c| c.trim().starts_with(name)),
                "server/README.md's list of the CLI's relay commands lacks {name}"
            );
        }
    }
}
