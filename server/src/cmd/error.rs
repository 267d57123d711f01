//! What a relay command can fail with, and what the operator can do.

use crate::RelayError;

/// A failed relay command: a message, maybe a way forward, and whether the
/// operator's input was at fault (front ends exit 2 then, else 1).
#[derive(Debug)]
pub struct CmdError {
    usage: bool,
    pub message: String,
    pub hint: Option<String>,
}

impl CmdError {
    /// Bad flags, config file or license id.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            usage: true,
            message: message.into(),
            hint: None,
        }
    }

    /// Anything else (I/O, storage, a taken address).
    pub fn failure(message: impl Into<String>) -> Self {
        Self {
            usage: false,
            ..Self::usage(message)
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_usage(&self) -> bool {
        self.usage
    }

    /// The process exit status: 2 for usage errors (as clap), else 1.
    pub fn exit_code(&self) -> u8 {
        if self.usage {
            2
        } else {
            1
        }
    }
}

impl std::fmt::Display for CmdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CmdError {}

impl From<RelayError> for CmdError {
    fn from(e: RelayError) -> Self {
        match e {
            RelayError::LicenseExists(_) => Self::usage(e.to_string()).hint(
                "license keys are shown once; to hand out a new key, run `license rotate-key`",
            ),
            RelayError::UnknownLicense(_)
            | RelayError::InvalidLicenseId(_)
            | RelayError::UnknownDevice(_)
            | RelayError::InvalidRule(_) => Self::usage(e.to_string()),
            RelayError::HasAuthority(_) => Self::usage(e.to_string())
                .hint("to replace its key, use `license set-authority-key`"),
            RelayError::Io(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                Self::failure(format!("cannot listen: {e}"))
                    .hint("another process uses that address; pick another --listen port")
            }
            other => Self::failure(other.to_string()),
        }
    }
}

impl From<std::io::Error> for CmdError {
    fn from(e: std::io::Error) -> Self {
        Self::failure(e.to_string())
    }
}
