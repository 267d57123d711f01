//! The core's typed errors. Messages never carry secrets or user plaintext:
//! no receipt, no key bytes, no record bodies.

use std::path::PathBuf;

/// What is wrong with a device key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFileProblem {
    /// The directory that should hold the key file does not exist.
    MissingDirectory,
    /// The file grants read/write/execute to group or others.
    InsecurePermissions { mode: u32 },
    /// The file is shorter or longer than a key file, or has a bad header/checksum.
    Corrupt,
    /// The file could not be read or written.
    Io,
}

impl std::fmt::Display for KeyFileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingDirectory => f.write_str("its directory does not exist"),
            Self::InsecurePermissions { mode } => write!(
                f,
                "its mode {mode:04o} lets group or others access it (expected 0600; run `chmod 600`)"
            ),
            Self::Corrupt => f.write_str("it is truncated or corrupt"),
            Self::Io => f.write_str("it could not be read or written"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("the recovery receipt is empty")]
    EmptyReceipt,
    #[error("the license id is empty")]
    EmptyLicenseId,
    #[error("text is not canonical unpadded base64url")]
    InvalidBase64,
    #[error("envelope is {len} bytes, shorter than the 29-byte minimum")]
    EnvelopeTooShort { len: usize },
    #[error("unsupported envelope version 0x{0:02x} (expected 0x01)")]
    UnsupportedVersion(u8),
    #[error("envelope failed authentication: wrong key or tampered ciphertext")]
    DecryptFailed,
    #[error("blob integrity check failed: expected sha256 {expected}, got {actual}")]
    BlobIntegrity { expected: String, actual: String },
    #[error("key file {path}: {problem}")]
    KeyFile {
        path: PathBuf,
        problem: KeyFileProblem,
    },
    #[error("malformed field `{field}`: {reason}")]
    MalformedField {
        field: &'static str,
        reason: &'static str,
    },
    #[error("signature does not verify")]
    BadSignature,
    #[error("clock skew of {skew_secs} s exceeds the allowed ±{max_secs} s")]
    ClockSkew { skew_secs: i64, max_secs: i64 },
}

impl Error {
    /// Stable machine-readable code, shared by the relay's JSON errors,
    /// the activity log and the FFI error codes.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyReceipt => "empty_receipt",
            Self::EmptyLicenseId => "empty_license_id",
            Self::InvalidBase64 => "invalid_base64",
            Self::EnvelopeTooShort { .. } => "envelope_too_short",
            Self::UnsupportedVersion(_) => "unsupported_version",
            Self::DecryptFailed => "decrypt_failed",
            Self::BlobIntegrity { .. } => "blob_integrity",
            Self::KeyFile { .. } => "key_file",
            Self::MalformedField { .. } => "malformed_field",
            Self::BadSignature => "bad_signature",
            Self::ClockSkew { .. } => "clock_skew",
        }
    }
}
