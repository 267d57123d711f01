//! How a device reaches its relay: whom TLS trusts (`--ca-file` /
//! `AZMX_CA_FILE`, else the operating system's trust store; see the core's
//! `engine/tls.rs`) and whether plain `http://` may leave this machine
//! (`--allow-insecure-http` / `AZMX_ALLOW_INSECURE_HTTP`; the rule itself
//! is the core's, `engine/relay_url.rs`).
//!
//! `init` keeps what it was given in the state directory
//! (`relay-tls.json`, 0600: a path and a flag, nothing secret), so later
//! commands and the background service reach the same relay the same way
//! without flags. A flag or variable given to a later command wins for
//! that command.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use azmx_sync_core::engine::{EngineConfig, SyncEngine, TlsOptions, UreqTransport};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::error::{CliError, CliResult};

/// Where `init` keeps the choice, in the state directory.
pub const FILE: &str = "relay-tls.json";
/// The built-in transport's timeout per request (the core's default).
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Args, Clone, Default)]
pub struct TlsArgs {
    /// PEM file of the CA that signed the relay's certificate (a private
    /// CA): only it is trusted for the relay. Default: the system's trust
    /// store. `init` remembers it for this state directory.
    #[arg(long, global = true, env = "AZMX_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Allow plain http:// to a relay on another machine: the license key
    /// and every request's metadata then cross the network unencrypted
    /// (http:// to this machine is always allowed). `init` remembers it.
    #[arg(long, global = true, env = "AZMX_ALLOW_INSECURE_HTTP")]
    pub allow_insecure_http: bool,
}

static GIVEN: OnceLock<TlsArgs> = OnceLock::new();

/// The command line's flags, once at start-up.
pub fn set_given(args: TlsArgs) {
    let _ = GIVEN.set(args);
}

fn given() -> TlsArgs {
    GIVEN.get().cloned().unwrap_or_default()
}

/// What a device uses: the flags given now over what `init` saved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayTls {
    /// `None`: the system's trust store.
    pub ca_file: Option<PathBuf>,
    pub allow_insecure_http: bool,
}

impl RelayTls {
    /// The flags given to this command over the state directory's saved choice.
    pub fn effective(state_dir: &Path) -> Self {
        let saved = saved(state_dir);
        let now = given();
        Self {
            ca_file: now.ca_file.or(saved.ca_file),
            allow_insecure_http: now.allow_insecure_http || saved.allow_insecure_http,
        }
    }
}

fn saved(state_dir: &Path) -> RelayTls {
    crate::state_file::read_small(&state_dir.join(FILE))
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// The engine with the built-in transport set up as [`RelayTls::effective`] says.
pub fn engine(mut config: EngineConfig) -> CliResult<SyncEngine> {
    let tls = RelayTls::effective(&config.state_dir);
    config.allow_insecure_http = tls.allow_insecure_http;
    let options = TlsOptions {
        ca_file: tls.ca_file.clone(),
    };
    let transport = UreqTransport::with_tls(TIMEOUT, &options).map_err(|e| {
        CliError::usage(e.to_string())
            .hint("give --ca-file (or AZMX_CA_FILE) a PEM file with the CA's certificate")
    })?;
    SyncEngine::new(config, Arc::new(transport)).map_err(|e| CliError::from_sync(e, None))
}

/// `init`: keeps the flags it was given (the CA file as an absolute path)
/// for this state directory; none given removes an earlier choice.
pub fn remember(state_dir: &Path) -> CliResult {
    let now = given();
    let path = state_dir.join(FILE);
    let ca_file = match now.ca_file {
        Some(p) => Some(
            std::fs::canonicalize(&p)
                .map_err(|e| CliError::usage(format!("--ca-file {}: {e}", p.display())))?,
        ),
        None => None,
    };
    let choice = RelayTls {
        ca_file,
        allow_insecure_http: now.allow_insecure_http,
    };
    if choice == RelayTls::default() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        };
    }
    let text = serde_json::to_vec_pretty(&choice).expect("plain struct");
    write_private(&path, &text)
        .map_err(|e| CliError::generic(format!("cannot write {}: {e}", path.display())))
}

/// 0600, whole or not at all (a temporary file renamed over it).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
