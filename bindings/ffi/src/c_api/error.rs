//! Status codes and the thread-local last-error message.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use azmx_sync_bridge::error::C_STATUSES;
use azmx_sync_bridge::ApiError;

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
    /// Every status, in number order. Numbers and names are the shared
    /// table's (`azmx_sync_bridge::error::C_STATUSES`; tested below).
    const ALL: [AzmxStatus; 31] = [
        Self::Ok,
        Self::InvalidArgument,
        Self::NullPointer,
        Self::BufferTooSmall,
        Self::EmptyReceipt,
        Self::EmptyLicenseId,
        Self::InvalidBase64,
        Self::EnvelopeTooShort,
        Self::UnsupportedVersion,
        Self::DecryptFailed,
        Self::BlobIntegrity,
        Self::KeyFile,
        Self::MalformedField,
        Self::BadSignature,
        Self::ClockSkew,
        Self::InvalidJson,
        Self::InvalidRecord,
        Self::InvalidStoreName,
        Self::UnknownStore,
        Self::WrongReceipt,
        Self::NoReceipt,
        Self::NotRegistered,
        Self::Revoked,
        Self::RelayUnreachable,
        Self::RateLimited,
        Self::RelayError,
        Self::HostCallbackFailed,
        Self::StateDir,
        Self::ExportFormat,
        Self::Internal,
        Self::Panic,
    ];

    /// The status of a failed call: its error's C number in the shared table.
    pub(crate) fn of(e: &ApiError) -> Self {
        Self::from_raw(e.c_status()).unwrap_or(Self::Internal)
    }

    fn from_raw(raw: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as i32 == raw)
    }
}

/// The status names as C strings, made once from the shared table (the
/// pointers `azmx_status_name` returns stay valid for the program's life).
fn c_names() -> &'static [(i32, CString)] {
    static NAMES: OnceLock<Vec<(i32, CString)>> = OnceLock::new();
    NAMES.get_or_init(|| {
        C_STATUSES
            .iter()
            .map(|(n, name)| (*n, CString::new(*name).expect("ASCII names")))
            .collect()
    })
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
    call_value(c"UNKNOWN".as_ptr(), || {
        c_names()
            .iter()
            .find(|(n, _)| *n == status)
            .map_or(c"UNKNOWN".as_ptr(), |(_, name)| name.as_ptr())
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use azmx_sync_bridge::ErrorKind;

    use azmx_sync_bridge::error::c_status_name;

    use super::*;

    impl AzmxStatus {
        /// The stable upper-case name, without the `AzmxStatus_` prefix.
        fn name(self) -> &'static str {
            c_status_name(self as i32).unwrap_or("UNKNOWN")
        }
    }

    fn status_name(raw: i32) -> &'static str {
        // SAFETY: `azmx_status_name` returns a static NUL-terminated string.
        unsafe { CStr::from_ptr(azmx_status_name(raw)) }
            .to_str()
            .unwrap()
    }

    #[test]
    fn statuses_are_the_shared_table_both_ways() {
        assert_eq!(AzmxStatus::ALL.len(), C_STATUSES.len());
        for s in AzmxStatus::ALL {
            let row = C_STATUSES.iter().find(|(n, _)| *n == s as i32);
            assert_eq!(row.map(|(_, name)| *name), Some(status_name(s as i32)));
            assert_eq!(s.name(), status_name(s as i32));
        }
        for (n, name) in C_STATUSES {
            assert_eq!(AzmxStatus::from_raw(*n).map(AzmxStatus::name), Some(*name));
            assert_eq!(status_name(*n), *name);
        }
        for kind in ErrorKind::ALL {
            let status = AzmxStatus::from_raw(kind.c_status()).expect("a C status");
            assert_eq!(status.name(), kind.c_name(), "{kind:?}");
        }
        assert_eq!(AzmxStatus::from_raw(-1), None);
        assert_eq!(AzmxStatus::from_raw(4), None);
        assert_eq!(status_name(4), "UNKNOWN");
    }

    #[test]
    fn core_and_engine_errors_keep_their_c_status() {
        use azmx_sync_core::engine::SyncError as E;
        let core = |e| ApiError::from(E::Core(e));
        let cases = [
            (
                E::WrongReceipt { authority: None }.into(),
                AzmxStatus::WrongReceipt,
            ),
            (E::Revoked.into(), AzmxStatus::Revoked),
            (
                E::ClockSkew { skew_secs: 400 }.into(),
                AzmxStatus::ClockSkew,
            ),
            (
                E::Config("twice".into()).into(),
                AzmxStatus::InvalidArgument,
            ),
            (
                E::Network {
                    message: "x".into(),
                }
                .into(),
                AzmxStatus::RelayUnreachable,
            ),
            (
                E::Store {
                    store: "notes".into(),
                    message: "x".into(),
                }
                .into(),
                AzmxStatus::HostCallbackFailed,
            ),
            (E::ExportFormat("x".into()).into(), AzmxStatus::ExportFormat),
            (
                core(azmx_sync_core::Error::DecryptFailed),
                AzmxStatus::DecryptFailed,
            ),
            (
                core(azmx_sync_core::Error::InvalidBase64),
                AzmxStatus::InvalidBase64,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(AzmxStatus::of(&e), want, "{e:?}");
        }
    }
}
