//! `serve --tls-cert/--tls-key`: the relay terminates TLS itself (rustls,
//! ring), for an operator without a TLS proxy in front of it. A proxy
//! (nginx, HAProxy, Caddy) in front of a loopback relay works as well.
//!
//! The key file is read once at start-up; the relay never logs or prints
//! it, and a problem with it names the file, never its contents.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::RelayError;

/// PEM files larger than this are refused before they are read.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// The server configuration for a PEM certificate chain (leaf first) and
/// its PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, RelayError> {
    let chain_pem = read_pem(cert, "--tls-cert")?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            bad(
                cert,
                "--tls-cert",
                &format!("not a PEM certificate chain: {e}"),
            )
        })?;
    if chain.is_empty() {
        return Err(bad(
            cert,
            "--tls-cert",
            "holds no -----BEGIN CERTIFICATE----- block",
        ));
    }
    let key_pem = read_pem(key, "--tls-key")?;
    // The error of the PEM reader could quote nothing of the key, but a
    // fixed message is certain not to.
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| bad(key, "--tls-key", "holds no PEM private key"))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| RelayError::Config(format!("TLS setup failed: {e}")))?
    .with_no_client_auth()
    .with_single_cert(chain, private)
    .map_err(|e| {
        RelayError::Config(format!(
            "--tls-cert {} and --tls-key {} do not make a usable pair: {e}",
            cert.display(),
            key.display()
        ))
    })?;
    Ok(Arc::new(config))
}

fn read_pem(path: &Path, flag: &str) -> Result<Vec<u8>, RelayError> {
    let meta = std::fs::metadata(path).map_err(|e| bad(path, flag, &e.to_string()))?;
    if meta.len() > MAX_PEM_BYTES {
        return Err(bad(path, flag, "larger than 1 MiB"));
    }
    std::fs::read(path).map_err(|e| bad(path, flag, &e.to_string()))
}

fn bad(path: &Path, flag: &str, why: &str) -> RelayError {
    RelayError::Config(format!("{flag} {}: {why}", path.display()))
}
