//! TLS of the built-in transport: whom it trusts, and how a refused
//! certificate is told apart from a network failure.
//!
//! By default the relay's certificate must chain to the operating system's
//! trust store (`rustls-native-certs`: the system CA bundle on Linux, the
//! keychain on macOS, the certificate store on Windows), as a browser or
//! `curl` would check it. A private CA is given as a PEM file
//! ([`TlsOptions::ca_file`], `--ca-file`, `AZMX_CA_FILE`); then *only* that
//! file's certificates are trusted for the relay, like `curl --cacert`:
//! an operator who runs their own CA does not want any public CA able to
//! vouch for their relay.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{CertificateError, ClientConfig, RootCertStore};

use super::error::{CertificateProblem, SyncError};

/// A PEM file of CA certificates the built-in transport trusts instead of
/// the system's (read by the CLI and by every binding's built-in transport).
pub const ENV_CA_FILE: &str = "AZMX_CA_FILE";
/// `1` (or `true`, `yes`): let plain `http://` reach a non-loopback relay
/// (`EngineConfig::allow_insecure_http`).
pub const ENV_ALLOW_INSECURE_HTTP: &str = "AZMX_ALLOW_INSECURE_HTTP";

/// A CA file larger than this is refused (a bundle of a few hundred
/// certificates is well under it).
const MAX_CA_FILE_BYTES: u64 = 4 << 20;

/// Whom the built-in transport trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM CA certificates that alone vouch for the relay; `None`: the
    /// operating system's trust store.
    pub ca_file: Option<PathBuf>,
}

impl TlsOptions {
    /// [`ENV_CA_FILE`] when set and not empty.
    pub fn from_env() -> Self {
        Self {
            ca_file: std::env::var_os(ENV_CA_FILE)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }
}

/// [`ENV_ALLOW_INSECURE_HTTP`] is `1`, `true` or `yes` (any case).
pub fn allow_insecure_http_from_env() -> bool {
    std::env::var(ENV_ALLOW_INSECURE_HTTP)
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
        .unwrap_or(false)
}

/// The client configuration for `opts`, and whether it trusts nothing at
/// all (an empty system store: every `https://` relay is then refused as
/// [`CertificateProblem::NoTrustedRoots`], a plain-HTTP loopback relay
/// still works).
pub(crate) fn client_config(opts: &TlsOptions) -> Result<(Arc<ClientConfig>, bool), SyncError> {
    let roots = match &opts.ca_file {
        Some(path) => ca_file_roots(path)?,
        None => system_roots().clone(),
    };
    let empty = roots.is_empty();
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| SyncError::Config(format!("TLS setup failed: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok((Arc::new(config), empty))
}

/// The system's trust store, read once per process (unreadable entries
/// are skipped, as `curl` skips them).
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        roots
    })
}

/// Every certificate of a PEM file; a `Config` error naming the file (never
/// its contents) when it cannot be read or holds no usable CA certificate.
fn ca_file_roots(path: &Path) -> Result<RootCertStore, SyncError> {
    let bad = |why: String| SyncError::Config(format!("CA file {}: {why}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    if meta.len() > MAX_CA_FILE_BYTES {
        return Err(bad(format!("larger than {MAX_CA_FILE_BYTES} bytes")));
    }
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let mut roots = RootCertStore::empty();
    for (i, cert) in CertificateDer::pem_slice_iter(&pem).enumerate() {
        let cert = cert.map_err(|e| bad(format!("certificate {} is not valid PEM: {e}", i + 1)))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("certificate {} is not usable as a CA: {e}", i + 1)))?;
    }
    if roots.is_empty() {
        return Err(bad(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(roots)
}

/// The certificate problem behind a failed connection, if it was one.
pub(crate) fn certificate_problem(
    err: &(dyn std::error::Error + 'static),
    no_roots: bool,
) -> Option<CertificateProblem> {
    let CertificateErrorRef(c) = find_certificate_error(err)?;
    Some(match c {
        CertificateError::UnknownIssuer if no_roots => CertificateProblem::NoTrustedRoots,
        CertificateError::UnknownIssuer => CertificateProblem::UnknownAuthority,
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            CertificateProblem::WrongName
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            CertificateProblem::Expired
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            CertificateProblem::NotYetValid
        }
        CertificateError::Revoked => CertificateProblem::Revoked,
        _ => CertificateProblem::Other,
    })
}

struct CertificateErrorRef<'a>(&'a CertificateError);

/// rustls's certificate error anywhere in the chain: ureq wraps it in an
/// `io::Error`, whose `source()` skips the error it holds, so each
/// `io::Error`'s own inner error is looked at too.
fn find_certificate_error<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<CertificateErrorRef<'a>> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        let tls = e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::InvalidCertificate(c)) = tls {
            return Some(CertificateErrorRef(c));
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_error_is_found_inside_an_io_error() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        );
        assert_eq!(
            certificate_problem(&io, false),
            Some(CertificateProblem::UnknownAuthority)
        );
        assert_eq!(
            certificate_problem(&io, true),
            Some(CertificateProblem::NoTrustedRoots)
        );
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(certificate_problem(&plain, false), None);
    }

    #[test]
    fn a_ca_file_without_certificates_is_a_config_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let opts = TlsOptions {
            ca_file: Some(path.clone()),
        };
        match client_config(&opts) {
            Err(SyncError::Config(m)) => {
                assert!(
                    m.contains("ca.pem") && m.contains("no PEM certificate"),
                    "{m}"
                )
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        let missing = TlsOptions {
            ca_file: Some(dir.path().join("missing.pem")),
        };
        assert!(matches!(client_config(&missing), Err(SyncError::Config(_))));
    }
}
