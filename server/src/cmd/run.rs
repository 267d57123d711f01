//! Running a parsed relay command: `serve` until a signal, license and
//! device administration straight on the store.

use std::io::IsTerminal;

use serde::Serialize;

use azmx_sync_core::authority::AuthorityPublicKey;

use super::args::{
    AdminCmd, DeviceCmd, LicenseAddArgs, LicenseArgs, LicenseCmd, LogFormat, RelayArgs, RelayCmd,
    ServeArgs, SetAuthorityKeyArgs, StoreArgs,
};
use super::backup_cmd::{self, summary_line};
use super::config::Store;
use super::error::CmdError;
use super::operator_cmd::{
    self, claim_window_line, device_revoked_line, key_rotated_line, max_devices_line,
};
use crate::storage::sqlite::backup::BackupSummary;
use crate::{
    add_license_with_rules, admin_devices, admin_devices_postgres, licenses, licenses_postgres,
    set_authority_key, set_authority_key_postgres, DeviceInfo, LicenseInfo, LicenseRules, Relay,
};

/// What a command did, for the front end to print.
#[derive(Debug)]
pub enum Outcome {
    /// `serve` stopped cleanly after SIGINT/SIGTERM.
    Stopped,
    /// `license add`: the key, to be shown once.
    LicenseAdded { license_id: String, key: String },
    /// `license set-authority-key`: the key now set; `changed` is false
    /// when the license already had it.
    AuthorityKeySet {
        license_id: String,
        authority_key: String,
        fingerprint: String,
        changed: bool,
    },
    /// `license list`: every license.
    Licenses { licenses: Vec<LicenseInfo> },
    /// `devices`: per-device metadata of a license.
    Devices {
        license_id: String,
        devices: Vec<DeviceInfo>,
    },
    /// `license open-claim-window`: the window's end, unix seconds.
    ClaimWindowOpened { license_id: String, until: i64 },
    /// `license set-max-devices`.
    MaxDevicesSet {
        license_id: String,
        max: Option<u32>,
    },
    /// `license rotate-key`: the new key, to be shown once.
    LicenseKeyRotated { license_id: String, key: String },
    /// `device revoke`.
    DeviceRevoked {
        license_id: String,
        device_id: String,
    },
    /// `serve --check-config`: what the settings amount to.
    ConfigChecked { summary: String },
    /// `backup`: the file written and what it holds.
    BackedUp {
        file: std::path::PathBuf,
        summary: BackupSummary,
    },
    /// `restore`: the data directory filled and what it holds.
    Restored {
        dir: std::path::PathBuf,
        summary: BackupSummary,
    },
}

#[derive(Serialize)]
struct DevicesBody<'a> {
    devices: &'a [DeviceInfo],
}

impl Outcome {
    /// The `azmx-sync-relay` binary's output: a sentence ending with the
    /// license key (scripts take the last word), or devices as one JSON
    /// object.
    pub fn plain(&self) -> Option<String> {
        match self {
            Self::Stopped => None,
            Self::LicenseAdded { license_id, key } => Some(license_added_line(license_id, key)),
            Self::AuthorityKeySet {
                license_id,
                authority_key,
                fingerprint,
                changed,
            } => Some(authority_key_set_line(
                license_id,
                authority_key,
                fingerprint,
                *changed,
            )),
            Self::Licenses { licenses } => Some(license_lines(licenses)),
            Self::Devices { devices, .. } => {
                // Through a `Value`, so keys come out sorted as they always have.
                serde_json::to_value(DevicesBody { devices })
                    .ok()
                    .map(|v| v.to_string())
            }
            Self::ClaimWindowOpened { license_id, until } => {
                Some(claim_window_line(license_id, *until))
            }
            Self::MaxDevicesSet { license_id, max } => Some(max_devices_line(license_id, *max)),
            Self::LicenseKeyRotated { license_id, key } => Some(key_rotated_line(license_id, key)),
            Self::DeviceRevoked {
                license_id,
                device_id,
            } => Some(device_revoked_line(license_id, device_id)),
            Self::ConfigChecked { summary } => Some(summary.clone()),
            Self::BackedUp { file, summary } => Some(summary_line(
                &format!("backup written to {}", file.display()),
                summary,
            )),
            Self::Restored { dir, summary } => Some(summary_line(
                &format!("restored into {}; start the relay on it", dir.display()),
                summary,
            )),
        }
    }

    /// The operator commands' JSON (for `azmx-sync --json relay ...`);
    /// `None` for the outcomes a front end prints its own way.
    pub fn json(&self) -> Option<serde_json::Value> {
        let body = match self {
            Self::BackedUp { file, summary } => {
                return serde_json::to_value(backup_cmd::SummaryBody {
                    file: Some(file.display().to_string()),
                    data_dir: None,
                    summary,
                })
                .ok()
            }
            Self::Restored { dir, summary } => {
                return serde_json::to_value(backup_cmd::SummaryBody {
                    file: None,
                    data_dir: Some(dir.display().to_string()),
                    summary,
                })
                .ok()
            }
            Self::ClaimWindowOpened { license_id, until } => OperatorBody {
                claim_until: Some(*until),
                ..OperatorBody::new(license_id)
            },
            Self::MaxDevicesSet { license_id, max } => OperatorBody {
                max_devices: Some(*max),
                ..OperatorBody::new(license_id)
            },
            Self::LicenseKeyRotated { license_id, key } => OperatorBody {
                license_key: Some(key),
                ..OperatorBody::new(license_id)
            },
            Self::DeviceRevoked {
                license_id,
                device_id,
            } => OperatorBody {
                revoked: Some(device_id),
                ..OperatorBody::new(license_id)
            },
            _ => return None,
        };
        serde_json::to_value(body).ok()
    }
}

/// An operator command's JSON answer: the license and what changed.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OperatorBody<'a> {
    license_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    claim_until: Option<i64>,
    /// `Some(None)` is a cap removed: `"maxDevices": null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_devices: Option<Option<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    license_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked: Option<&'a str>,
}

impl<'a> OperatorBody<'a> {
    fn new(license_id: &'a str) -> Self {
        Self {
            license_id,
            claim_until: None,
            max_devices: None,
            license_key: None,
            revoked: None,
        }
    }
}

/// The line `license add` prints; the key is its last word.
pub fn license_added_line(license_id: &str, key: &str) -> String {
    format!("license {license_id} created; store this key now, it is not shown again: {key}")
}

/// What `license set-authority-key` prints.
pub fn authority_key_set_line(
    license_id: &str,
    authority_key: &str,
    fingerprint: &str,
    changed: bool,
) -> String {
    if changed {
        format!(
            "license {license_id}: authority key set to {authority_key} (fingerprint \
             {fingerprint}); its key-check blob was deleted, the next device with the receipt \
             sets it again"
        )
    } else {
        format!("license {license_id} already has authority key {authority_key}; nothing changed")
    }
}

/// What `license list` prints: one line per license, its id and its
/// authority key or `no authority` (PROTOCOL §11.6).
pub fn license_lines(licenses: &[LicenseInfo]) -> String {
    if licenses.is_empty() {
        return "no licenses".into();
    }
    licenses
        .iter()
        .map(|l| {
            let rules = match (&l.authority_key, l.claim_until) {
                (Some(k), _) => format!("authority {k}"),
                (None, Some(until)) => format!("no authority yet, claim window until {until}"),
                (None, None) => {
                    "no authority (the license key alone may register and revoke devices)".into()
                }
            };
            match l.max_devices {
                Some(n) => format!("{}\t{rules}\tmax {n} devices", l.license_id),
                None => format!("{}\t{rules}", l.license_id),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs a command and prints its outcome as the relay binary does.
pub fn run(args: RelayArgs) -> Result<(), CmdError> {
    if let Some(text) = execute(args)?.plain() {
        println!("{text}");
    }
    Ok(())
}

/// Runs a command (`serve` returns after SIGINT/SIGTERM) and returns what
/// it did; logs go to stderr in the chosen format.
pub fn execute(args: RelayArgs) -> Result<Outcome, CmdError> {
    init_logging(args.log_format);
    match args.cmd {
        RelayCmd::Serve(a) => serve(&a),
        RelayCmd::License(LicenseCmd::Add(a)) => license_add(a),
        RelayCmd::License(LicenseCmd::SetAuthorityKey(a)) => license_set_authority_key(a),
        RelayCmd::License(LicenseCmd::List(store)) => license_list(&store),
        RelayCmd::License(LicenseCmd::OpenClaimWindow(a)) => operator_cmd::open_window(a),
        RelayCmd::License(LicenseCmd::SetMaxDevices(a)) => operator_cmd::max_devices(a),
        RelayCmd::License(LicenseCmd::RotateKey(a)) => operator_cmd::rotate_key(a),
        RelayCmd::Device(DeviceCmd::Revoke(a)) => operator_cmd::revoke(a),
        RelayCmd::Backup(a) => backup_cmd::backup(a),
        RelayCmd::Restore(a) => backup_cmd::restore(a),
        RelayCmd::Devices(a)
        | RelayCmd::Device(DeviceCmd::List(a))
        | RelayCmd::Admin(AdminCmd::Devices(a)) => devices(a),
    }
}

/// An operator-typed authority key, refused with the reason when it is not
/// one (PROTOCOL §11.1: canonical base64url of a 32-byte point that is not
/// small-order).
fn authority_key_arg(text: &str) -> Result<AuthorityPublicKey, CmdError> {
    AuthorityPublicKey::parse(text.trim()).map_err(|e| {
        CmdError::usage(format!("invalid authority key: {e}"))
            .hint("use the key `azmx-sync authority-key --license-id LID` prints")
    })
}

fn license_add(a: LicenseAddArgs) -> Result<Outcome, CmdError> {
    let rules = LicenseRules {
        authority_key: a
            .authority_key
            .as_deref()
            .map(authority_key_arg)
            .transpose()?,
        claim_window_secs: a.authority_claim_window,
        max_devices: a.max_devices,
    };
    let lid = a.license.license_id;
    let key = add_license_with_rules(a.license.store.store()?.as_ref(), &lid, &rules)?;
    if rules.authority_key.is_none() && rules.claim_window_secs.is_none() && !a.no_authority {
        eprintln!(
            "warning: license {lid} has no authority key: anyone with its license key can \
             register and revoke devices and set its key check; set one with `license \
             set-authority-key {lid} KEY`, or let the first device with the receipt claim it \
             (`license open-claim-window {lid} SECS`; PROTOCOL §11)"
        );
    }
    Ok(Outcome::LicenseAdded {
        license_id: lid,
        key,
    })
}

fn license_set_authority_key(a: SetAuthorityKeyArgs) -> Result<Outcome, CmdError> {
    let key = authority_key_arg(&a.authority_key)?;
    let lid = a.license.license_id;
    let changed = match a.license.store.store()? {
        Store::Postgres(url) => set_authority_key_postgres(&url, &lid, &key)?,
        Store::Sqlite(dir) => set_authority_key(&dir, &lid, &key)?,
    };
    Ok(Outcome::AuthorityKeySet {
        license_id: lid,
        authority_key: key.to_string(),
        fingerprint: key.fingerprint(),
        changed,
    })
}

fn license_list(store: &StoreArgs) -> Result<Outcome, CmdError> {
    let licenses = match store.store()? {
        Store::Postgres(url) => licenses_postgres(&url)?,
        Store::Sqlite(dir) => licenses(&dir)?,
    };
    Ok(Outcome::Licenses { licenses })
}

fn devices(a: LicenseArgs) -> Result<Outcome, CmdError> {
    let devices = match a.store.store()? {
        Store::Postgres(url) => admin_devices_postgres(&url, &a.license_id)?,
        Store::Sqlite(dir) => admin_devices(&dir, &a.license_id)?,
    };
    Ok(Outcome::Devices {
        license_id: a.license_id,
        devices,
    })
}

/// Logs on stderr, filtered by `RUST_LOG` (default `info`); colour only on
/// a terminal and without `NO_COLOR`. A second call changes nothing.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    let _ = match format {
        LogFormat::Text => b.try_init(),
        LogFormat::Json => b.json().try_init(),
    };
}

fn serve(a: &ServeArgs) -> Result<Outcome, CmdError> {
    let (config, store) = a.relay_config()?;
    if a.check_config {
        return Ok(Outcome::ConfigChecked {
            summary: config_summary(&config, &store),
        });
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Before the relay announces itself: a wrapper that signals as soon as
    // it reads the URL gets a clean stop, not a kill.
    let signals = rt.block_on(async { StopSignals::install() })?;
    let relay = Relay::start(config)?;
    // First line on stdout, machine-readable, for wrappers that asked for port 0.
    println!("listening on {}", relay.url());
    tracing::info!("{}; Ctrl-C or SIGTERM stops", store.describe());
    rt.block_on(signals.wait())?;
    tracing::info!("shutting down");
    relay.shutdown();
    Ok(Outcome::Stopped)
}

/// `serve --check-config`'s line: where, how, and what is on; never the
/// admin token or a database URL.
fn config_summary(c: &crate::RelayConfig, store: &Store) -> String {
    format!(
        "config OK: {}; listen {} ({}); admin API {}; durability {}; drain deadline {} s",
        store.describe(),
        c.listen,
        if c.tls.is_some() { "https" } else { "http" },
        if c.admin_token.is_some() { "on" } else { "off" },
        match c.durability {
            crate::Durability::Full => "full",
            crate::Durability::PipelinedFsync => "pipelined",
        },
        c.limits.drain_timeout.as_secs()
    )
}

/// SIGINT and SIGTERM (Ctrl-C elsewhere).
struct StopSignals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Installs the handlers now; call inside a tokio runtime.
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn wait(mut self) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => {}
                _ = self.term.recv() => {}
            }
            Ok(())
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await
    }
}
