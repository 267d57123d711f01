//! Errors of the sync engine. Messages never carry the receipt, key bytes
//! or record bodies.

use crate::error::Error as CoreError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The receipt does not match the license: its authority key is not
    /// the license's (PROTOCOL §11.5, then `authority` names both), or it
    /// does not open the license's key-check blob (§7, `authority` is
    /// `None`). Nothing was changed locally or on the relay.
    #[error(
        "wrong recovery receipt: it does not match the one this license was set up with{}",
        AuthorityMismatch::suffix(authority.as_ref())
    )]
    WrongReceipt {
        authority: Option<AuthorityMismatch>,
    },
    /// No receipt has been given yet (`set_receipt`).
    #[error("no recovery receipt set")]
    NoReceipt,
    /// The device has not been registered with a relay yet (`register`).
    #[error("this device is not registered with a relay")]
    NotRegistered,
    /// The relay refused this device: it was revoked. Sync stops.
    #[error("this device was revoked: its key is refused for good; set up a new device (fresh state directory) and import an export if needed")]
    Revoked,
    /// The device clock is too far from the relay's even after correction.
    #[error("clock skew of {skew_secs} s against the relay")]
    ClockSkew { skew_secs: i64 },
    /// The relay asked us to slow down.
    #[error("relay rate limit; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The relay could not be reached.
    #[error("relay unreachable: {message}")]
    Network { message: String },
    /// The relay URL is plain `http://` to a host that is not this machine
    /// and the host did not allow insecure HTTP (engine/relay_url.rs).
    /// Nothing was sent.
    #[error(
        "refusing plain http:// to {host}: the license key and every request's metadata would \
         cross the network unencrypted; use an https:// relay URL, or allow insecure HTTP \
         explicitly"
    )]
    InsecureRelayUrl { host: String },
    /// The relay's TLS certificate was refused (not retried: the same
    /// certificate fails the same way). `detail` is the TLS library's
    /// description; neither carries anything secret.
    #[error("the relay's TLS certificate was refused: {problem} ({detail})")]
    Certificate {
        problem: CertificateProblem,
        detail: String,
    },
    /// The relay answered with an error we cannot act on.
    #[error("relay error {status} `{code}`: {message}")]
    Relay {
        status: u16,
        code: String,
        message: String,
    },
    /// A host store adapter failed.
    #[error("store `{store}` failed: {message}")]
    Store { store: String, message: String },
    /// Engine configuration problem (unknown store, bad name...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Reading or writing the engine's state directory failed.
    #[error("state directory {path}: {message}")]
    State { path: String, message: String },
    /// Export/import file problem.
    #[error("export file: {0}")]
    ExportFormat(String),
    /// The engine's own code failed unexpectedly (a panic inside a cycle).
    /// Nothing was lost: the next cycle resumes from the saved state.
    #[error("internal error: {message}")]
    Internal { message: String },
    /// A crypto or protocol error from the core.
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// Why a relay's TLS certificate was refused, in the words a person can
/// act on (the CLI's message and its hint come from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateProblem {
    /// No trusted root vouches for it: a private CA not given to the
    /// transport (`--ca-file`), or a self-signed certificate.
    UnknownAuthority,
    /// Valid, but for another name than the relay URL's host.
    WrongName,
    Expired,
    NotYetValid,
    Revoked,
    /// The operating system's trust store had no certificates and no CA
    /// file was given: nothing can be trusted.
    NoTrustedRoots,
    /// Any other certificate or handshake failure.
    Other,
}

impl CertificateProblem {
    /// A stable machine-readable name (`unknown_authority`...).
    pub fn code(self) -> &'static str {
        match self {
            Self::UnknownAuthority => "unknown_authority",
            Self::WrongName => "wrong_name",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Revoked => "revoked",
            Self::NoTrustedRoots => "no_trusted_roots",
            Self::Other => "other",
        }
    }
}

impl std::fmt::Display for CertificateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::UnknownAuthority => "certificate signed by an unknown authority",
            Self::WrongName => "certificate is not valid for the relay URL's host name",
            Self::Expired => "certificate has expired",
            Self::NotYetValid => "certificate is not valid yet",
            Self::Revoked => "certificate was revoked",
            Self::NoTrustedRoots => "no trusted root certificates (empty system trust store)",
            Self::Other => "TLS handshake failed",
        })
    }
}

/// The two license authority keys a wrong receipt was told apart by, as
/// fingerprints (16 hex digits of SHA-256 of the public key, §4): enough
/// for a person to see that a claim went to someone else's key
/// (PROTOCOL §11.4), never the receipt or a private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityMismatch {
    /// The authority key derived from the receipt given.
    pub receipt: String,
    /// The authority key the relay has for the license.
    pub license: String,
}

impl std::fmt::Display for AuthorityMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "this receipt's license authority key is {}, the license's is {}",
            self.receipt, self.license
        )
    }
}

impl AuthorityMismatch {
    /// ` (<self>)`, or nothing: what the `WrongReceipt` message appends.
    pub fn suffix(m: Option<&Self>) -> String {
        m.map(|m| format!(" ({m})")).unwrap_or_default()
    }
}

impl SyncError {
    /// `WrongReceipt` without fingerprints (the key-check blob's verdict).
    pub(crate) const fn wrong_receipt() -> Self {
        Self::WrongReceipt { authority: None }
    }

    /// Stable machine-readable code (activity log, FFI, CLI exit codes).
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongReceipt { .. } => "wrong_receipt",
            Self::NoReceipt => "no_receipt",
            Self::NotRegistered => "not_registered",
            Self::Revoked => "revoked",
            Self::ClockSkew { .. } => "clock_skew",
            Self::RateLimited { .. } => "rate_limited",
            Self::Network { .. } => "network",
            Self::InsecureRelayUrl { .. } => "insecure_http",
            Self::Certificate { .. } => "tls_certificate",
            Self::Relay { .. } => "relay_error",
            Self::Store { .. } => "store_error",
            Self::Config(_) => "config",
            Self::State { .. } => "state_io",
            Self::ExportFormat(_) => "export_format",
            Self::Internal { .. } => "internal",
            Self::Core(e) => e.code(),
        }
    }
}
