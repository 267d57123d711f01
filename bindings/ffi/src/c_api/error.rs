//! Status codes and the thread-local last-error message.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};

use super::guard::call_value;

/// The result of every fallible C entry point. The numeric values are
/// stable; new codes may be added. [`azmx_status_name`] gives the name
/// (`"DECRYPT_FAILED"`, ...), which equals the core's `Error::code()` in
/// upper case for the core errors.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AzmxStatus {
    /// Success.
    Ok = 0,
    /// An argument has an invalid value (bad UTF-8, unknown enum value, ...).
    InvalidArgument = 1,
    /// A required pointer argument is NULL.
    NullPointer = 2,
    /// A caller-owned output buffer is too small; `*out_len` holds the size needed.
    BufferTooSmall = 3,
    /// The recovery receipt is empty (after trimming ASCII whitespace).
    EmptyReceipt = 10,
    /// The license id is empty.
    EmptyLicenseId = 11,
    /// Envelope text is not canonical unpadded base64url.
    InvalidBase64 = 12,
    /// The envelope is shorter than `AZMX_ENVELOPE_OVERHEAD` bytes.
    EnvelopeTooShort = 13,
    /// The envelope's version byte is not 0x01.
    UnsupportedVersion = 14,
    /// AES-GCM authentication failed: wrong key (receipt) or tampered ciphertext.
    DecryptFailed = 15,
    /// A blob does not hash to its expected SHA-256 (storage corruption).
    BlobIntegrity = 16,
    /// The device key file is missing its directory, insecure (not 0600), corrupt or unreadable.
    KeyFile = 17,
    /// A signed-request canonical or a public key is malformed.
    MalformedField = 18,
    /// An ed25519 signature does not verify.
    BadSignature = 19,
    /// A signed request's timestamp is outside the allowed skew.
    ClockSkew = 20,
    /// A JSON argument does not parse or does not have the expected shape.
    InvalidJson = 30,
    /// A record or todo list breaks the store's invariants.
    InvalidRecord = 31,
    /// A store name is not valid (or names a built-in store where a custom one is expected).
    InvalidStoreName = 32,
    /// No built-in store has this name.
    UnknownStore = 33,
    /// Sync engine: the recovery receipt does not match the one this
    /// license was set up with (its key-check blob on the relay). Nothing
    /// was pushed, pulled or applied.
    WrongReceipt = 40,
    /// Sync engine: no recovery receipt has been given yet
    /// (`azmx_engine_set_receipt`).
    NoReceipt = 41,
    /// Sync engine: the device is not registered with a relay yet
    /// (`azmx_engine_register`).
    NotRegistered = 42,
    /// Sync engine: the relay refused this device for good: it was revoked.
    /// Export here, then set up a new device (fresh state directory).
    Revoked = 43,
    /// Sync engine: the relay could not be reached (DNS, connect, timeout,
    /// TLS), or the host HTTP transport callback returned nonzero. Nothing
    /// was lost: local changes stay queued for the next cycle.
    RelayUnreachable = 44,
    /// Sync engine: the relay asked this device to slow down; retry later.
    RateLimited = 45,
    /// Sync engine: the relay answered with an error the engine cannot act
    /// on (bad license key, server error...); the message names its code.
    RelayError = 46,
    /// Sync engine: a host store callback failed: it returned nonzero, or
    /// its snapshot was not a JSON array of records. The message names the
    /// store and the callback, never record contents.
    HostCallbackFailed = 47,
    /// Sync engine: the state directory could not be created, read or written.
    StateDir = 48,
    /// Sync engine: an export file is not a valid azmx-sync export.
    ExportFormat = 49,
    /// An error this version of the C ABI does not know how to classify.
    Internal = 98,
    /// A Rust panic was caught at the boundary (a bug; please report it).
    Panic = 99,
}

impl AzmxStatus {
    pub(crate) fn from_core(e: &azmx_sync_core::Error) -> Self {
        use azmx_sync_core::Error as E;
        match e {
            E::EmptyReceipt => Self::EmptyReceipt,
            E::EmptyLicenseId => Self::EmptyLicenseId,
            E::InvalidBase64 => Self::InvalidBase64,
            E::EnvelopeTooShort { .. } => Self::EnvelopeTooShort,
            E::UnsupportedVersion(_) => Self::UnsupportedVersion,
            E::DecryptFailed => Self::DecryptFailed,
            E::BlobIntegrity { .. } => Self::BlobIntegrity,
            E::KeyFile { .. } => Self::KeyFile,
            E::MalformedField { .. } => Self::MalformedField,
            E::BadSignature => Self::BadSignature,
            E::ClockSkew { .. } => Self::ClockSkew,
            _ => Self::Internal,
        }
    }

    /// The status of a sync-engine error (core errors keep their own codes).
    pub(crate) fn from_sync(e: &azmx_sync_core::engine::SyncError) -> Self {
        use azmx_sync_core::engine::SyncError as E;
        match e {
            E::WrongReceipt => Self::WrongReceipt,
            E::NoReceipt => Self::NoReceipt,
            E::NotRegistered => Self::NotRegistered,
            E::Revoked => Self::Revoked,
            E::ClockSkew { .. } => Self::ClockSkew,
            E::RateLimited { .. } => Self::RateLimited,
            E::Network { .. } => Self::RelayUnreachable,
            E::Relay { .. } => Self::RelayError,
            E::Store { .. } => Self::HostCallbackFailed,
            E::Config(_) => Self::InvalidArgument,
            E::State { .. } => Self::StateDir,
            E::ExportFormat(_) => Self::ExportFormat,
            E::Core(c) => Self::from_core(c),
            // `SyncError` is non-exhaustive; the message keeps its code.
            _ => Self::Internal,
        }
    }

    /// Every status with its stable name: the one list `azmx_status_name`
    /// and the round-trip test read.
    const TABLE: [(AzmxStatus, &'static CStr); 31] = [
        (Self::Ok, c"OK"),
        (Self::InvalidArgument, c"INVALID_ARGUMENT"),
        (Self::NullPointer, c"NULL_POINTER"),
        (Self::BufferTooSmall, c"BUFFER_TOO_SMALL"),
        (Self::EmptyReceipt, c"EMPTY_RECEIPT"),
        (Self::EmptyLicenseId, c"EMPTY_LICENSE_ID"),
        (Self::InvalidBase64, c"INVALID_BASE64"),
        (Self::EnvelopeTooShort, c"ENVELOPE_TOO_SHORT"),
        (Self::UnsupportedVersion, c"UNSUPPORTED_VERSION"),
        (Self::DecryptFailed, c"DECRYPT_FAILED"),
        (Self::BlobIntegrity, c"BLOB_INTEGRITY"),
        (Self::KeyFile, c"KEY_FILE"),
        (Self::MalformedField, c"MALFORMED_FIELD"),
        (Self::BadSignature, c"BAD_SIGNATURE"),
        (Self::ClockSkew, c"CLOCK_SKEW"),
        (Self::InvalidJson, c"INVALID_JSON"),
        (Self::InvalidRecord, c"INVALID_RECORD"),
        (Self::InvalidStoreName, c"INVALID_STORE_NAME"),
        (Self::UnknownStore, c"UNKNOWN_STORE"),
        (Self::WrongReceipt, c"WRONG_RECEIPT"),
        (Self::NoReceipt, c"NO_RECEIPT"),
        (Self::NotRegistered, c"NOT_REGISTERED"),
        (Self::Revoked, c"REVOKED"),
        (Self::RelayUnreachable, c"RELAY_UNREACHABLE"),
        (Self::RateLimited, c"RATE_LIMITED"),
        (Self::RelayError, c"RELAY_ERROR"),
        (Self::HostCallbackFailed, c"HOST_CALLBACK_FAILED"),
        (Self::StateDir, c"STATE_DIR"),
        (Self::ExportFormat, c"EXPORT_FORMAT"),
        (Self::Internal, c"INTERNAL"),
        (Self::Panic, c"PANIC"),
    ];

    /// The stable upper-case name, without the `AzmxStatus_` prefix.
    pub fn name(self) -> &'static str {
        self.c_name().to_str().expect("status names are ASCII")
    }

    fn c_name(self) -> &'static CStr {
        Self::TABLE
            .iter()
            .find(|(s, _)| *s == self)
            .map_or(c"UNKNOWN", |(_, n)| n)
    }

    fn from_raw(raw: i32) -> Option<Self> {
        Self::TABLE
            .iter()
            .map(|(s, _)| *s)
            .find(|s| *s as i32 == raw)
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', "\u{fffd}")).unwrap_or_default();
    LAST_ERROR.with(|slot| *slot.borrow_mut() = c);
}

pub(crate) fn clear_last_error() {
    // Only when set: the fast path calls this per seal/open, and an empty
    // CString is still an allocation.
    LAST_ERROR.with(|slot| {
        if !slot.borrow().is_empty() {
            *slot.borrow_mut() = CString::default();
        }
    });
}

/// The message of the last failed call on this thread, or `""` after a
/// successful one. Never NULL. The string is owned by the library and
/// stays valid until the next `azmx_*` call on the same thread; copy it
/// to keep it. It never contains a receipt, key bytes, a private key or
/// record contents.
#[no_mangle]
pub extern "C" fn azmx_last_error_message() -> *const c_char {
    // SAFETY (extern "C"): takes nothing; returns a pointer into this
    // thread's message, whose lifetime is documented above. Panic-free
    // fallback: a static empty string.
    call_value(c"".as_ptr(), || {
        LAST_ERROR.with(|slot| slot.borrow().as_ptr())
    })
}

/// The stable name of a status code (`"OK"`, `"DECRYPT_FAILED"`, ...), or
/// `"UNKNOWN"` for a value that is not an `AzmxStatus`. A static string;
/// never NULL. Takes an `int32_t` so any integer is safe to pass.
#[no_mangle]
pub extern "C" fn azmx_status_name(status: i32) -> *const c_char {
    // SAFETY (extern "C"): takes a plain integer (no invalid enum values
    // can reach Rust) and returns a pointer to a static string.
    call_value(c"UNKNOWN".as_ptr(), || match AzmxStatus::from_raw(status) {
        Some(s) => s.c_name().as_ptr(),
        None => c"UNKNOWN".as_ptr(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_core_codes() {
        use azmx_sync_core::Error as E;
        for e in [
            E::EmptyReceipt,
            E::EmptyLicenseId,
            E::InvalidBase64,
            E::EnvelopeTooShort { len: 1 },
            E::UnsupportedVersion(2),
            E::DecryptFailed,
            E::BlobIntegrity {
                expected: String::new(),
                actual: String::new(),
            },
            E::BadSignature,
            E::ClockSkew {
                skew_secs: 1,
                max_secs: 0,
            },
            E::MalformedField {
                field: "f",
                reason: "r",
            },
        ] {
            assert_eq!(
                AzmxStatus::from_core(&e).name(),
                e.code().to_ascii_uppercase()
            );
        }
    }

    #[test]
    fn every_status_round_trips_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for (s, _) in AzmxStatus::TABLE {
            assert_eq!(AzmxStatus::from_raw(s as i32), Some(s));
            assert!(names.insert(s.name()));
        }
        assert_eq!(AzmxStatus::from_raw(-1), None);
        assert_eq!(AzmxStatus::from_raw(4), None);
    }
}
