//! The built-in HTTP transport on `ureq`, for scripts and the CLI. Apps
//! (Electron, iOS, Android) pass their own [`HttpTransport`].

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use super::error::SyncError;
use super::host::{HostError, HttpRequest, HttpResponse, HttpTransport};
use super::tls::TlsOptions;

/// Largest response body accepted (the relay's blob limit plus headroom).
const MAX_RESPONSE_BYTES: u64 = 64 << 20;

pub struct UreqTransport {
    agent: ureq::Agent,
    /// The trust store is empty (see `tls::client_config`).
    no_roots: bool,
}

impl UreqTransport {
    /// Trusts the operating system's store (`engine/tls.rs`).
    pub fn new(timeout: Duration) -> Self {
        Self::with_tls(timeout, &TlsOptions::default())
            .expect("the system trust store needs no file and cannot fail")
    }

    /// Trusts what `tls` says: a CA file instead of the system's store.
    /// `Config` when the CA file cannot be read or holds no certificate.
    pub fn with_tls(timeout: Duration, tls: &TlsOptions) -> Result<Self, SyncError> {
        let (config, no_roots) = super::tls::client_config(tls)?;
        Ok(Self {
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(5).min(timeout))
                .timeout(timeout)
                .tls_config(config)
                .build(),
            no_roots,
        })
    }
}

impl Default for UreqTransport {
    fn default() -> Self {
        Self::new(Duration::from_secs(30))
    }
}

impl HttpTransport for UreqTransport {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HostError> {
        let mut req = self.agent.request(&request.method, &request.url);
        for (k, v) in &request.headers {
            req = req.set(k, v);
        }
        let result = if request.body.is_empty() && request.method == "GET" {
            req.call()
        } else {
            req.send_bytes(&request.body)
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            // The error text names the host and the failure, never a body.
            Err(ureq::Error::Transport(t)) => {
                return Err(match super::tls::certificate_problem(&t, self.no_roots) {
                    Some(problem) => HostError::certificate(problem, t.to_string()),
                    None => HostError::new(t.to_string()),
                })
            }
        };
        let status = resp.status();
        let mut headers = BTreeMap::new();
        for name in resp.headers_names() {
            if let Some(v) = resp.header(&name) {
                headers.insert(name.to_ascii_lowercase(), v.to_string());
            }
        }
        let mut body = Vec::new();
        resp.into_reader()
            .take(MAX_RESPONSE_BYTES)
            .read_to_end(&mut body)
            .map_err(|e| HostError::new(format!("reading the response failed: {e}")))?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}
