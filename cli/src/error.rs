//! CLI errors: what happened, what to do, and a documented exit code.
//!
//! Messages never contain the receipt, key bytes or record bodies: they are
//! built from engine error codes and ids only.

use azmx_sync_core::engine::{AuthorityMismatch, CertificateProblem, SyncError};

/// Documented exit codes (README, "Exit codes").
pub mod exit {
    pub const OK: u8 = 0;
    /// Anything not listed below (local I/O, a failed demo check...).
    pub const GENERIC: u8 = 1;
    /// Bad command line or invalid input (clap also exits 2).
    pub const USAGE: u8 = 2;
    /// The recovery receipt is missing, has a typo (an AZR1 receipt whose
    /// checksum group does not match) or does not match the license.
    pub const RECEIPT: u8 = 3;
    /// The relay could not be reached.
    pub const UNREACHABLE: u8 = 4;
    /// This device was revoked.
    pub const REVOKED: u8 = 5;
    /// This state directory has no registered device yet (`init`).
    pub const NOT_INITIALISED: u8 = 6;
    /// The relay refused the request (license, rate limit, clock, server error).
    pub const RELAY_REFUSED: u8 = 7;
    /// The relay's TLS certificate was refused (unknown authority: a
    /// private CA not given with --ca-file; wrong name; expired...).
    pub const TLS_CERTIFICATE: u8 = 8;
}

#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
    pub hint: Option<String>,
}

pub type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn generic(message: impl Into<String>) -> Self {
        Self::new(exit::GENERIC, message)
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(exit::USAGE, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn not_initialised() -> Self {
        Self::new(
            exit::NOT_INITIALISED,
            "this device is not initialised (no relay registration in its state directory)",
        )
        .hint(
            "run `azmx-sync init --relay URL --license-id LID --license-key KEY --name NAME`, \
             or point --state-dir / AZMX_STATE_DIR at an initialised device",
        )
    }

    /// Maps an engine error to a message with a way forward.
    pub fn from_sync(e: SyncError, relay_url: Option<&str>) -> Self {
        let relay = relay_url.unwrap_or("the relay");
        match e {
            SyncError::WrongReceipt { authority } => Self::new(
                exit::RECEIPT,
                format!(
                    "wrong recovery receipt: it does not match the one this license was set up \
                     with{}; nothing was changed, locally or on the relay",
                    AuthorityMismatch::suffix(authority.as_ref())
                ),
            )
            .hint(
                "check the receipt from your activation email and give it again \
                 (AZMX_RECEIPT, --receipt-file FILE, stdin, or the prompt)",
            ),
            SyncError::NoReceipt => Self::no_receipt(),
            SyncError::NotRegistered => Self::not_initialised(),
            SyncError::Revoked => Self::revoked(),
            // Before the 403 arm: `authority_required` is a 403 that is not
            // a revocation (PROTOCOL §11.4).
            SyncError::Relay { code, .. }
                if code == "authority_required" || code == "bad_authority_signature" =>
            {
                Self::new(
                    exit::RECEIPT,
                    "the relay needs this license's authority signature, which only the right \
                     recovery receipt gives (the license has an authority key); nothing was changed",
                )
                .hint("give the receipt from your activation email (AZMX_RECEIPT or --receipt-file FILE)")
            }
            SyncError::Relay { status, code, .. } if status == 403 || code == "revoked" => {
                Self::revoked()
            }
            SyncError::ClockSkew { skew_secs } => Self::new(
                exit::RELAY_REFUSED,
                format!(
                    "this machine's clock is {skew_secs} s away from the relay's, \
                     even after the automatic correction"
                ),
            )
            .hint("fix the system clock (enable NTP), then sync again; nothing was lost"),
            SyncError::RateLimited { retry_after_secs } => Self::new(
                exit::RELAY_REFUSED,
                format!(
                    "the relay asked this device to slow down (retry after {retry_after_secs} s)"
                ),
            )
            .hint("wait and sync again; local changes stay queued"),
            SyncError::Network { message } => Self::new(
                exit::UNREACHABLE,
                format!("cannot reach the relay at {relay}: {message}"),
            )
            .hint(
                "check that the relay is running and the URL is right (`azmx-sync status`); \
                 nothing was lost: local changes stay queued and go out on the next sync",
            ),
            SyncError::InsecureRelayUrl { host } => Self::usage(format!(
                "refusing plain http:// to {host}: the license key and every request's metadata \
                 would cross the network unencrypted"
            ))
            .hint(
                "use the relay's https:// URL (`azmx-sync init --relay https://…`; a relay serves \
                 TLS with `relay serve --tls-cert/--tls-key` or behind a TLS proxy), or accept the \
                 risk with --allow-insecure-http (AZMX_ALLOW_INSECURE_HTTP=1)",
            ),
            SyncError::Certificate { problem, detail } => Self::new(
                exit::TLS_CERTIFICATE,
                format!("the TLS connection to {relay} was refused: {problem} ({detail})"),
            )
            .hint(certificate_hint(problem)),
            SyncError::Relay { code, .. } if code == "bad_license" => Self::new(
                exit::RELAY_REFUSED,
                "the relay refused the license: unknown license id or wrong license key",
            )
            .hint(
                "check --license-id and --license-key (the operator gets the key from \
                 `azmx-sync relay license add LID`)",
            ),
            SyncError::Relay {
                status,
                code,
                message,
            } => Self::new(
                exit::RELAY_REFUSED,
                format!("the relay refused the request ({status} {code}): {message}"),
            )
            .hint("try again later; if it persists, tell the relay operator the code above"),
            SyncError::Core(azmx_sync_core::Error::EmptyReceipt) => Self::no_receipt(),
            SyncError::State { path, message } => Self::generic(format!(
                "cannot read or write the state directory ({path}): {message}"
            ))
            .hint("check the directory's permissions and free disk space"),
            SyncError::Store { store, message } => {
                Self::generic(format!("local store `{store}` failed: {message}"))
            }
            SyncError::ExportFormat(m) => Self::generic(format!("export file: {m}"))
                .hint("give a file written by `azmx-sync export` for this license"),
            other => Self::generic(other.to_string()),
        }
    }

    pub fn no_receipt() -> Self {
        Self::new(exit::RECEIPT, "no recovery receipt was given").hint(
            "set AZMX_RECEIPT, pass --receipt-file FILE, pipe it on stdin, or run in a terminal \
             to be prompted; it is never accepted as an argument and never stored",
        )
    }

    pub fn revoked() -> Self {
        Self::new(
            exit::REVOKED,
            "this device was revoked (by another device of the license or the operator); \
             it can no longer sync",
        )
        .hint(
            "its local data is still here: `azmx-sync export FILE`, then set up a new state \
             directory with `init` and `import FILE` there",
        )
    }
}

/// What to do about a refused certificate: names the flag for the common
/// case (a private CA), never guesses the operator's setup.
fn certificate_hint(problem: CertificateProblem) -> &'static str {
    match problem {
        CertificateProblem::UnknownAuthority => {
            "if the relay uses a private CA, pass its certificate: --ca-file FILE (or \
             AZMX_CA_FILE; `init` remembers it). If you gave one, it is not the CA that signed \
             this relay's certificate. Nothing was sent"
        }
        CertificateProblem::NoTrustedRoots => {
            "this system has no trusted CA certificates: install them (Debian: ca-certificates) \
             or pass --ca-file FILE"
        }
        CertificateProblem::WrongName => {
            "use the host name the relay's certificate was issued for in the relay URL"
        }
        CertificateProblem::Expired | CertificateProblem::NotYetValid => {
            "check this machine's clock; if it is right, the relay operator must renew the \
             certificate"
        }
        _ => "tell the relay operator; nothing was sent",
    }
}

impl From<rusqlite::Error> for CliError {
    fn from(e: rusqlite::Error) -> Self {
        CliError::generic(format!("local database: {e}"))
            .hint("check the state directory's permissions and free disk space")
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::generic(format!("I/O error: {e}"))
    }
}
