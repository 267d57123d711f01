//! From flags, environment and the TOML config file to a [`RelayConfig`].
//!
//! A setting comes from its flag, else its environment variable (clap reads
//! both), else the config file (`--config FILE` / `AZMX_RELAY_CONFIG`), else
//! the default. The file's keys are the long flags:
//!
//! ```toml
//! data-dir = "/var/lib/azmx-relay"   # or database-url = "postgres://…"
//! listen = "0.0.0.0:8787"
//! admin-token = "..."                # enables /admin/* and /metrics; prefer AZMX_ADMIN_TOKEN
//! metrics-listen = "10.0.0.5:9187"   # /metrics without a token: a private interface only
//! max-body-bytes = 8388608
//! request-timeout-secs = 30
//! rate-per-sec = 100.0
//! rate-burst = 200.0
//! max-inflight-body-bytes = 134217728
//! max-connections = 1024
//! unauth-rate-per-sec = 1.0
//! unauth-rate-burst = 30.0
//! license-max-bytes = 1073741824     # 0 = no limit
//! license-max-blobs = 100000         # 0 = no limit
//! workers = 0
//! durability = "pipelined"           # or "full"
//! drain-timeout-secs = 30            # on SIGTERM; at most 3600
//! tls-cert = "/etc/azmx-relay/cert.pem"  # both, or neither (plain HTTP)
//! tls-key = "/etc/azmx-relay/key.pem"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::args::{DurabilityArg, ServeArgs, StoreArgs};
use super::error::CmdError;
use crate::storage::postgres::is_postgres_url;
use crate::{Durability, Limits, Quota, RelayConfig};

/// The address `serve` listens on when none is configured.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8787);

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ConfigFile {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    listen: Option<SocketAddr>,
    admin_token: Option<String>,
    metrics_listen: Option<SocketAddr>,
    max_body_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
    rate_per_sec: Option<f64>,
    rate_burst: Option<f64>,
    max_inflight_body_bytes: Option<usize>,
    max_connections: Option<usize>,
    unauth_rate_per_sec: Option<f64>,
    unauth_rate_burst: Option<f64>,
    license_max_bytes: Option<u64>,
    license_max_blobs: Option<u64>,
    workers: Option<usize>,
    durability: Option<DurabilityArg>,
    drain_timeout_secs: Option<u64>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

impl ConfigFile {
    fn load(path: Option<&Path>) -> Result<Self, CmdError> {
        let Some(p) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(p).map_err(|e| {
            CmdError::usage(format!("cannot read the config file {}: {e}", p.display()))
        })?;
        toml::from_str(&text).map_err(|e| {
            // toml's Display quotes the offending line, which may hold the
            // admin token or a database password: say where, not what.
            let line = e.span().map_or(0, |s| {
                1 + text.as_bytes()[..s.start.min(text.len())]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
            });
            CmdError::usage(format!(
                "config file {}: line {line}: {}",
                p.display(),
                e.message().trim_end()
            ))
        })
    }
}

/// Where the relay keeps its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Store {
    /// The shared PostgreSQL backend (the URL may hold a password).
    Postgres(String),
    /// The embedded SQLite database in this directory.
    Sqlite(PathBuf),
}

impl Store {
    /// Says where the data is, without the database URL (it may hold a
    /// password).
    pub fn describe(&self) -> String {
        match self {
            Self::Postgres(_) => "data in PostgreSQL".into(),
            Self::Sqlite(dir) => format!("data in {}", dir.display()),
        }
    }
}

impl StoreArgs {
    /// The store these arguments (and their config file) name.
    pub fn store(&self) -> Result<Store, CmdError> {
        self.store_with(&ConfigFile::load(self.config.as_deref())?)
    }

    fn store_with(&self, file: &ConfigFile) -> Result<Store, CmdError> {
        // A database URL, wherever it comes from, selects PostgreSQL.
        let url = (self.database_url.clone())
            .filter(|u| !u.is_empty())
            .or_else(|| file.database_url.clone().filter(|u| !u.is_empty()));
        if let Some(url) = url {
            if !is_postgres_url(&url) {
                return Err(CmdError::usage(
                    "--database-url must start with postgres:// or postgresql://",
                ));
            }
            return Ok(Store::Postgres(url));
        }
        let dir = self.data_dir.clone().or_else(|| file.data_dir.clone());
        dir.map(Store::Sqlite).ok_or_else(|| {
            CmdError::usage("no data directory").hint(
                "pass --data-dir DIR, set AZMX_RELAY_DATA_DIR, or put data-dir in the config \
                 file (or a PostgreSQL database-url)",
            )
        })
    }
}

impl ServeArgs {
    /// The relay configuration, and where its data is.
    pub fn relay_config(&self) -> Result<(RelayConfig, Store), CmdError> {
        let file = ConfigFile::load(self.store.config.as_deref())?;
        let store = self.store.store_with(&file)?;
        let mut config = match &store {
            Store::Postgres(url) => {
                let mut c = RelayConfig::new(PathBuf::new());
                c.database_url = Some(url.clone());
                c
            }
            Store::Sqlite(dir) => RelayConfig::new(dir),
        };
        config.listen = self.listen.or(file.listen).unwrap_or(DEFAULT_LISTEN);
        config.admin_token = (self.admin_token.clone())
            .or(file.admin_token)
            .filter(|t| !t.is_empty());
        config.metrics_listen = self.metrics_listen.or(file.metrics_listen);
        config.worker_threads = self.workers.or(file.workers).unwrap_or(0);
        config.durability = match self.durability.or(file.durability) {
            None => Durability::default(),
            Some(DurabilityArg::Pipelined) => Durability::PipelinedFsync,
            Some(DurabilityArg::Full) => Durability::Full,
        };
        let defaults = Limits::default();
        config.limits = Limits {
            max_body_bytes: (self.max_body_bytes.or(file.max_body_bytes))
                .unwrap_or(defaults.max_body_bytes),
            request_timeout: (self.request_timeout_secs.or(file.request_timeout_secs))
                .map(|s| Duration::from_secs(s.max(1)))
                .unwrap_or(defaults.request_timeout),
            rate_per_sec: (self.rate_per_sec.or(file.rate_per_sec))
                .unwrap_or(defaults.rate_per_sec),
            rate_burst: (self.rate_burst.or(file.rate_burst)).unwrap_or(defaults.rate_burst),
            max_inflight_body_bytes: (self.max_inflight_body_bytes)
                .or(file.max_inflight_body_bytes)
                .unwrap_or(defaults.max_inflight_body_bytes),
            max_connections: (self.max_connections.or(file.max_connections))
                .unwrap_or(defaults.max_connections),
            unauth_rate_per_sec: (self.unauth_rate_per_sec.or(file.unauth_rate_per_sec))
                .unwrap_or(defaults.unauth_rate_per_sec),
            unauth_rate_burst: (self.unauth_rate_burst.or(file.unauth_rate_burst))
                .unwrap_or(defaults.unauth_rate_burst),
            quota: Quota {
                max_bytes: (self.license_max_bytes.or(file.license_max_bytes))
                    .unwrap_or(defaults.quota.max_bytes),
                max_blobs: (self.license_max_blobs.or(file.license_max_blobs))
                    .unwrap_or(defaults.quota.max_blobs),
            },
            drain_timeout: (self.drain_timeout_secs.or(file.drain_timeout_secs))
                .map(Duration::from_secs)
                .unwrap_or(defaults.drain_timeout),
            ..defaults
        };
        // Refused here, as a usage error, rather than when serving starts.
        config
            .limits
            .check()
            .map_err(|e| CmdError::usage(e.to_string()))?;
        let cert = self.tls_cert.clone().or(file.tls_cert);
        let key = self.tls_key.clone().or(file.tls_key);
        config.tls = match (cert, key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(crate::tls::server_config(&cert, &key)?),
            _ => {
                return Err(CmdError::usage(
                    "TLS needs both a certificate and its key (--tls-cert and --tls-key)",
                ))
            }
        };
        Ok((config, store))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(text: &str) -> (tempfile::TempDir, ServeArgs) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.toml");
        std::fs::write(&path, text).unwrap();
        let mut a = ServeArgs::default();
        a.store.config = Some(path);
        (dir, a)
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let (_d, mut a) = with_file(
            "data-dir = \"/srv/relay\"\nlisten = \"0.0.0.0:9000\"\nrate-burst = 5.0\n\
             durability = \"full\"\nrequest-timeout-secs = 0\nlicense-max-blobs = 0\n\
             max-connections = 64\nunauth-rate-burst = 3.0\nmetrics-listen = \"127.0.0.1:9187\"\n",
        );
        a.license_max_bytes = Some(5000);
        a.max_connections = Some(16);
        a.listen = Some("127.0.0.1:0".parse().unwrap());
        let (c, store) = a.relay_config().unwrap();
        assert_eq!(store, Store::Sqlite("/srv/relay".into()));
        assert_eq!(c.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(c.limits.rate_burst, 5.0);
        assert_eq!(c.limits.rate_per_sec, Limits::default().rate_per_sec);
        assert_eq!(c.limits.request_timeout, Duration::from_secs(1));
        assert_eq!(c.durability, Durability::Full);
        assert_eq!(
            c.limits.quota,
            Quota {
                max_bytes: 5000,
                max_blobs: 0
            }
        );
        assert_eq!(c.limits.max_connections, 16);
        assert_eq!(c.limits.unauth_rate_burst, 3.0);
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9187".parse().unwrap()));
        assert_eq!(
            c.limits.max_inflight_body_bytes,
            Limits::default().max_inflight_body_bytes
        );
    }

    #[test]
    fn a_database_url_selects_postgres_and_is_checked() {
        let (_d, mut a) = with_file("database-url = \"postgres://h/db\"\n");
        a.store.data_dir = Some("/ignored".into());
        let (c, store) = a.relay_config().unwrap();
        assert_eq!(store, Store::Postgres("postgres://h/db".into()));
        assert_eq!(c.database_url.as_deref(), Some("postgres://h/db"));
        assert!(!store.describe().contains("postgres://"));
        a.store.database_url = Some("mysql://h/db".into());
        assert!(a.relay_config().unwrap_err().is_usage());
    }

    #[test]
    fn a_malformed_file_is_reported_without_echoing_its_lines() {
        // The file may hold the admin token or a database password.
        let (_d, a) = with_file("database-url = \"postgres://u:s3cret@h/db\nlisten = 1\n");
        let e = a.relay_config().unwrap_err();
        assert!(e.is_usage());
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn unknown_keys_and_a_missing_store_are_usage_errors() {
        let (_d, a) = with_file("listen = \"127.0.0.1:0\"\nunknown-key = 1\n");
        assert!(a.relay_config().unwrap_err().is_usage());
        let e = ServeArgs::default().relay_config().unwrap_err();
        assert!(e.is_usage() && e.hint.is_some(), "{e}");
        assert_eq!(
            ServeArgs {
                store: StoreArgs {
                    data_dir: Some("/d".into()),
                    ..StoreArgs::default()
                },
                ..ServeArgs::default()
            }
            .relay_config()
            .unwrap()
            .0
            .listen,
            DEFAULT_LISTEN
        );
    }
}
